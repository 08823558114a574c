#define _GNU_SOURCE
/*
 * test_faults.c — the service under Kafka faults on librdkafka's mock
 * cluster: retriable Produce, Fetch and OffsetCommit errors, a broker down
 * and up again, partition leaders moving, the group coordinator moving.
 *
 * Every test runs the same story: the input is 40 copies of the demo data
 * (each copy with its own hosts, client IPs, Zeek uids and process guids,
 * so each gives the demo's 3 alerts under ids of its own). Half is in the
 * topics when the service starts (in a thread, without --exit-at-end);
 * once it has produced an alert the fault is injected and the other half
 * is produced while the fault lasts; then the fault is lifted. After
 * recovery:
 *   - the alert ids in the alerts topic are exactly those of
 *     `replay --emit threshold` over the same input, and an id that occurs
 *     twice carries the same alert (only emitted_at may differ);
 *   - the committed offsets are the end offsets of every input partition;
 *   - a second run over the same group (--exit-at-end) produces nothing.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "c2watch/kafka.h"

/* Kafka protocol ApiKeys (rdkafka_protocol.h is not installed) */
#define APIKEY_PRODUCE 0
#define APIKEY_FETCH 1
#define APIKEY_OFFSET_COMMIT 8

#define PARTITIONS 4
#define COPIES 40 /* of the demo: 3 alerts each */

#include "kafka_lab.h"

/* ---- the input: copies of the demo data ---- */

/* Writes copy k of one demo line: client and server addresses 10.20.C.D
 * become 10.(21 + k/16).(16*(k%16) + C).D, host names get "-cK", Zeek uids
 * and process guids a part of their own, and every event time (Zeek ts,
 * Sysmon UtcTime) moves by shift seconds. Nothing else changes, so each
 * copy gives the demo's alerts, for hosts of its own. */
static void copy_line(FILE *out, const char *s, int k, long shift)
{
    cr_assert(k >= 0 && k < 16 * 200);
    while (*s) {
        unsigned c3;
        int used = 0;
        if (strncmp(s, "\"10.20.", 7) == 0 && sscanf(s + 7, "%u.%n", &c3, &used) == 1 && used > 0) {
            cr_assert(c3 < 16, "demo address 10.20.%u.x", c3);
            fprintf(out, "\"10.%d.%u.", 21 + k / 16, 16u * (unsigned)(k % 16) + c3);
            s += 7 + used;
        } else if (strncmp(s, ".corp.example.com", 17) == 0) {
            fprintf(out, "-c%d.corp.example.com", k);
            s += 17;
        } else if (strncmp(s, "\"uid\":\"C", 8) == 0) {
            fprintf(out, "\"uid\":\"C%dk", k);
            s += 8;
        } else if (strncmp(s, "-9108-6b0a-", 11) == 0) {
            fprintf(out, "-%04x-6b0a-", k);
            s += 11;
        } else if (strncmp(s, "\"ts\":", 5) == 0) {
            char *end;
            long long sec = strtoll(s + 5, &end, 10);
            cr_assert(end > s + 5);
            fprintf(out, "\"ts\":%lld", sec + shift); /* the fraction follows as it is */
            s = end;
        } else if (strncmp(s, "\"UtcTime\":\"", 11) == 0) {
            struct tm tm = { 0 };
            used = 0;
            cr_assert(sscanf(s + 11, "%d-%d-%d %d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                             &tm.tm_min, &tm.tm_sec, &used) == 6);
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            time_t t = timegm(&tm) + shift;
            gmtime_r(&t, &tm);
            fprintf(out, "\"UtcTime\":\"%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                    tm.tm_hour, tm.tm_min, tm.tm_sec);
            s += 11 + used; /* the milliseconds follow as they are */
        } else {
            fputc(*s++, out);
        }
    }
    fputc('\n', out);
}

typedef struct input {
    char dir[64];
    char all_z[128], all_s[128]; /* every copy */
    char a_z[128], a_s[128]; /* copies [0, COPIES/2) */
    char b_z[128], b_s[128]; /* copies [COPIES/2, COPIES) */
    strset want; /* alert ids of replay --emit threshold over all */
} input;

/* Copies [from, to) of src into path, sorted by event time as a live
 * stream would be (the copies overlap in time). shift(k) gives the time
 * shift of copy k, in seconds. */
static void write_copies(const char *path, const lines *src, int from, int to, long (*shift)(int k))
{
    size_t n = (size_t)(to - from) * src->n, i = 0;
    gline *g = calloc(n ? n : 1, sizeof(*g));
    cr_assert_not_null(g);
    for (int k = from; k < to; k++)
        for (size_t j = 0; j < src->n; j++, i++) {
            size_t len = 0;
            FILE *m = open_memstream(&g[i].text, &len);
            cr_assert_not_null(m);
            copy_line(m, src->v[j], k, shift(k));
            fclose(m);
            g[i].t = line_time(g[i].text);
            g[i].seq = i;
        }
    qsort(g, n, sizeof(*g), cmp_gline);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    for (i = 0; i < n; i++) {
        fputs(g[i].text, f);
        free(g[i].text);
    }
    free(g);
    cr_assert_eq(fclose(f), 0);
}

/* The second half of the copies is 3 h later than the first: it arrives
 * after the first half in event time too. */
static long halves(int k)
{
    return k >= COPIES / 2 ? 3 * 3600 : 0;
}

static void input_make(input *in)
{
    snprintf(in->dir, sizeof(in->dir), "/tmp/c2w_faults_XXXXXX");
    cr_assert_not_null(mkdtemp(in->dir));
    snprintf(in->all_z, sizeof(in->all_z), "%s/all.zeek", in->dir);
    snprintf(in->all_s, sizeof(in->all_s), "%s/all.sysmon", in->dir);
    snprintf(in->a_z, sizeof(in->a_z), "%s/a.zeek", in->dir);
    snprintf(in->a_s, sizeof(in->a_s), "%s/a.sysmon", in->dir);
    snprintf(in->b_z, sizeof(in->b_z), "%s/b.zeek", in->dir);
    snprintf(in->b_s, sizeof(in->b_s), "%s/b.sysmon", in->dir);
    char p[1024];
    lines z = { 0 }, s = { 0 };
    snprintf(p, sizeof(p), "%s/fixtures/demo/zeek.ndjson", root());
    lines_read(&z, p);
    snprintf(p, sizeof(p), "%s/fixtures/demo/sysmon.ndjson", root());
    lines_read(&s, p);
    write_copies(in->all_z, &z, 0, COPIES, halves);
    write_copies(in->all_s, &s, 0, COPIES, halves);
    write_copies(in->a_z, &z, 0, COPIES / 2, halves);
    write_copies(in->a_s, &s, 0, COPIES / 2, halves);
    write_copies(in->b_z, &z, COPIES / 2, COPIES, halves);
    write_copies(in->b_s, &s, COPIES / 2, COPIES, halves);
    lines_free(&z);
    lines_free(&s);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s replay --zeek %s --sysmon %s --rules %s/rules/mail-protocols.yaml --emit threshold 2>/dev/null",
             bin(), in->all_z, in->all_s, root());
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0)
        add_alert_id(&in->want, line, (size_t)n);
    free(line);
    cr_assert_eq(pclose(f), 0, "%s", cmd);
    set_sort(&in->want);
    /* the demo gives 3 alerts, and so does each copy */
    cr_assert_eq(in->want.n, 3 * COPIES, "replay of %d copies: %zu alerts", COPIES, in->want.n);
}

static void input_free(input *in)
{
    const char *f[] = { in->all_z, in->all_s, in->a_z, in->a_s, in->b_z, in->b_s };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        unlink(f[i]);
    rmdir(in->dir);
    set_free(&in->want);
}

/* ---- the service in a thread ---- */

typedef struct svc_thread {
    lab *l;
    bool assign, exit_at_end;
    volatile sig_atomic_t stop;
    int rc;
    char err[512];
    pthread_t th;
} svc_thread;

static void *svc_main(void *arg)
{
    svc_thread *t = arg;
    c2w_service_opts_t so = { .cfg = &t->l->cfg, .exit_at_end = t->exit_at_end, .assign = t->assign,
                              .stop = &t->stop };
    t->rc = c2w_service_run(&so, t->err, sizeof(t->err));
    return NULL;
}

static void svc_start(svc_thread *t, lab *l, bool assign, bool exit_at_end)
{
    memset(t, 0, sizeof(*t));
    t->l = l;
    t->assign = assign;
    t->exit_at_end = exit_at_end;
    cr_assert_eq(pthread_create(&t->th, NULL, svc_main, t), 0);
}

static int svc_join(svc_thread *t)
{
    pthread_join(t->th, NULL);
    return t->rc;
}

/* Reads the alerts topic into got until the service's first alert is there. */
static void wait_first_alert(lab *l, alerts *got, const svc_thread *svc, const char *what)
{
    int64_t deadline = now_ms() + 30000;
    while (read_alerts(l, got) == 0) {
        cr_assert(now_ms() < deadline, "%s: no alert within 30 s (service: %s)", what, svc->err);
        sleep_ms(100);
    }
}

/* ---- producing the second half while the fault lasts ---- */

typedef struct prod_thread {
    lab *l;
    const input *in;
    long n;
    char err[512];
    pthread_t th;
} prod_thread;

static void *prod_main(void *arg)
{
    prod_thread *p = arg;
    p->n = produce_merged(p->l, p->in->b_z, p->in->b_s, p->err, sizeof(p->err));
    return NULL;
}

/* ---- the story ---- */

typedef struct fault {
    const char *name;
    int brokers;
    bool group; /* subscribe (group rebalance) rather than --assign */
    int fault_ms; /* how long the fault lasts */
    void (*setup)(lab *l); /* before the service starts; may be NULL */
    void (*inject)(lab *l);
    void (*restore)(lab *l); /* may be NULL */
} fault;

static void run_story(const fault *f)
{
    input in = { 0 };
    input_make(&in);
    lab l;
    lab_start(&l, f->brokers);
    if (f->setup)
        f->setup(&l);
    char err[512];
    cr_assert(produce_merged(&l, in.a_z, in.a_s, err, sizeof(err)) > 0, "%s", err);

    int64_t start = now_ms();
    svc_thread svc;
    svc_start(&svc, &l, !f->group, false);
    alerts got = { 0 };
    wait_first_alert(&l, &got, &svc, f->name);

    /* the fault, while the second half arrives */
    int64_t t0 = now_ms();
    cr_log_info("%s: first alert %.1f s after the start", f->name, (double)(t0 - start) / 1000.0);
    f->inject(&l);
    prod_thread prod = { .l = &l, .in = &in };
    cr_assert_eq(pthread_create(&prod.th, NULL, prod_main, &prod), 0);
    sleep_ms(f->fault_ms);
    if (f->restore)
        f->restore(&l);
    pthread_join(prod.th, NULL);
    cr_assert(prod.n > 0, "%s: producing the second half: %s", f->name, prod.err);

    /* recovery: every alert out, every offset committed */
    char why[256] = "";
    size_t d = 0;
    int64_t deadline = now_ms() + 45000;
    for (;;) {
        read_alerts(&l, &got);
        d = distinct(&got);
        if (d >= in.want.n && committed_at_end(&l, why, sizeof(why)))
            break;
        if (now_ms() > deadline)
            break;
        sleep_ms(250);
    }
    int64_t recovered = now_ms();
    svc.stop = 1;
    cr_assert_eq(svc_join(&svc), 0, "%s: the service failed: %s", f->name, svc.err);
    cr_log_info("%s: recovered %.1f s after the fault began", f->name, (double)(recovered - t0) / 1000.0);

    read_alerts(&l, &got);
    assert_alerts(&got, &in.want, f->name);
    cr_assert(committed_at_end(&l, why, sizeof(why)), "%s: after the run: %s", f->name, why);

    /* a second run over the same group: state rebuilt, nothing new */
    size_t before = got.n;
    int64_t t2 = now_ms();
    svc_start(&svc, &l, !f->group, true);
    cr_assert_eq(svc_join(&svc), 0, "%s: second run: %s", f->name, svc.err);
    cr_log_info("%s: second run %.1f s", f->name, (double)(now_ms() - t2) / 1000.0);
    read_alerts(&l, &got);
    cr_assert_eq(got.n, before, "%s: the second run produced %zu alert(s)", f->name, got.n - before);
    assert_alerts(&got, &in.want, f->name);
    cr_assert(committed_at_end(&l, why, sizeof(why)), "%s: after the second run: %s", f->name, why);

    alerts_free(&got);
    lab_stop(&l);
    input_free(&in);
}

/* ---- the faults ---- */

static void produce_errors(lab *l)
{
    rd_kafka_mock_push_request_errors(l->mc, APIKEY_PRODUCE, 8, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
}

static void fetch_errors(lab *l)
{
    rd_kafka_mock_push_request_errors(l->mc, APIKEY_FETCH, 5, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
                                      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
}

static void commit_errors(lab *l)
{
    rd_kafka_mock_push_request_errors(l->mc, APIKEY_OFFSET_COMMIT, 6, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
}

static void nothing(lab *l)
{
    (void)l;
}

static void broker_down(lab *l)
{
    cr_assert_eq(rd_kafka_mock_broker_set_down(l->mc, 1), 0);
}

static void broker_up(lab *l)
{
    cr_assert_eq(rd_kafka_mock_broker_set_up(l->mc, 1), 0);
}

/* Every partition of every topic gets the next broker as its leader. */
static void move_leaders(lab *l)
{
    char err[512];
    rd_kafka_conf_t *conf = c2w_kafka_conf(&l->cfg, NULL, err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    cr_assert_not_null(rk, "%s", err);
    const struct rd_kafka_metadata *md = NULL;
    cr_assert_eq(rd_kafka_metadata(rk, 1, NULL, &md, 10000), 0);
    int moved = 0;
    for (int t = 0; t < md->topic_cnt; t++)
        for (int p = 0; p < md->topics[t].partition_cnt; p++) {
            int32_t leader = md->topics[t].partitions[p].leader;
            int32_t next = leader % l->brokers + 1;
            cr_assert_eq(rd_kafka_mock_partition_set_leader(l->mc, md->topics[t].topic, md->topics[t].partitions[p].id,
                                                            next),
                         0);
            moved++;
        }
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    cr_assert(moved >= 4 * PARTITIONS, "leaders moved: %d", moved);
}

static void coordinator_on_1(lab *l)
{
    cr_assert_eq(rd_kafka_mock_coordinator_set(l->mc, "group", l->cfg.group, 1), 0);
}

static void coordinator_to_2(lab *l)
{
    cr_assert_eq(rd_kafka_mock_coordinator_set(l->mc, "group", l->cfg.group, 2), 0);
}

static void coordinator_to_3(lab *l)
{
    cr_assert_eq(rd_kafka_mock_coordinator_set(l->mc, "group", l->cfg.group, 3), 0);
}

Test(faults, no_fault_control, .timeout = 120)
{
    fault f = { "no fault", 1, false, 1000, NULL, nothing, NULL };
    run_story(&f);
}

Test(faults, retriable_produce_errors, .timeout = 120)
{
    fault f = { "produce errors", 1, false, 1500, NULL, produce_errors, NULL };
    run_story(&f);
}

Test(faults, retriable_fetch_errors, .timeout = 120)
{
    fault f = { "fetch errors", 1, false, 1500, NULL, fetch_errors, NULL };
    run_story(&f);
}

Test(faults, retriable_offset_commit_errors, .timeout = 120)
{
    fault f = { "offset commit errors", 1, false, 1500, NULL, commit_errors, NULL };
    run_story(&f);
}

/*
 * librdkafka sends a commit that failed with a retriable error again by
 * itself, and nothing orders it after a later commit. Here the commit of
 * the first half's positions is answered with an error after 8 s, so its
 * retry lands well after the service has stopped and made its final
 * commit; the committed offsets must still be the final ones.
 */
Test(faults, late_retried_commit_never_overwrites_the_final_one, .timeout = 120)
{
    input in = { 0 };
    input_make(&in);
    lab l;
    lab_start(&l, 1);
    char err[512], why[256] = "";
    cr_assert(produce_merged(&l, in.a_z, in.a_s, err, sizeof(err)) > 0, "%s", err);
    svc_thread svc;
    svc_start(&svc, &l, true, false);
    alerts got = { 0 };
    wait_first_alert(&l, &got, &svc, "late retried commit");
    /* the next commit (one every 100 ms) carries the first half's
     * positions and is answered, after 8 s, with a retriable error */
    int64_t t_err = now_ms();
    cr_assert_eq(rd_kafka_mock_broker_push_request_error_rtts(l.mc, 1, APIKEY_OFFSET_COMMIT, 1,
                                                              RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, 8000),
                 0);
    sleep_ms(300);
    cr_assert(produce_merged(&l, in.b_z, in.b_s, err, sizeof(err)) > 0, "%s", err);
    int64_t deadline = now_ms() + 30000;
    while (distinct(&got) < in.want.n || !committed_at_end(&l, why, sizeof(why))) {
        cr_assert(now_ms() < deadline, "second half not done within 30 s: %zu of %zu alerts, %s", distinct(&got),
                  in.want.n, why);
        sleep_ms(100);
        read_alerts(&l, &got);
    }
    cr_assert(now_ms() - t_err < 7500, "the service finished after the delayed answer: the story proves nothing");
    svc.stop = 1;
    cr_assert_eq(svc_join(&svc), 0, "the service failed: %s", svc.err);
    /* the delayed commit and its retry have landed by now */
    int64_t left = t_err + 8000 + 1500 - now_ms();
    if (left > 0)
        sleep_ms((int)left);
    cr_assert(committed_at_end(&l, why, sizeof(why)), "after the stop: %s", why);
    read_alerts(&l, &got);
    assert_alerts(&got, &in.want, "late retried commit");
    alerts_free(&got);
    lab_stop(&l);
    input_free(&in);
}

Test(faults, broker_down_and_up, .timeout = 120)
{
    fault f = { "broker down/up", 1, false, 3000, NULL, broker_down, broker_up };
    run_story(&f);
}

Test(faults, leader_change, .timeout = 120)
{
    fault f = { "leader change", 3, false, 2000, NULL, move_leaders, move_leaders };
    run_story(&f);
}

Test(faults, coordinator_move, .timeout = 120)
{
    fault f = { "coordinator move", 3, true, 2000, coordinator_on_1, coordinator_to_2, coordinator_to_3 };
    run_story(&f);
}
