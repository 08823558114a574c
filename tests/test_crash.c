#define _GNU_SOURCE
/*
 * test_crash.c — `c2watch run` killed with SIGKILL in the middle of its
 * input, then restarted with --exit-at-end: the union of the alerts of the
 * two runs is the alert set of one clean run (`replay --emit threshold`
 * over the same input), and an alert produced twice has the same alert_id
 * and content (only emitted_at differs). The test owns the cluster (the
 * mock cluster, in this process); c2watch is the binary of C2W_BIN,
 * started with --brokers.
 *
 * The input is COPIES copies of the demo data: SLOT host sets (each the
 * demo's three hosts, under names and addresses of their own) that repeat
 * the demo's morning every 2 h with new servers, one time-ordered stream of
 * Zeek and Sysmon records over two days (see copy_line). Join state and
 * windows expire while it runs, so the restart has to rebuild its state
 * from the committed offset metadata.
 *
 * Debugging: C2W_KEEP=1 keeps the scratch directory (input, c2watch's
 * stdout and stderr of both runs); C2W_STATS=1s makes c2watch print its
 * statistics every second.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "c2watch/kafka.h"

#define PARTITIONS 8
#define COPIES 600 /* of the demo: 3 alerts each */
#define SLOT 50 /* copies per 2 h slot */

#include "kafka_lab.h"

/* ---- the input: copies of the demo data ---- */

/* Writes copy k of one demo line. Copy k belongs to host set h = k % SLOT
 * and time slot k / SLOT: the slot moves every event time (Zeek ts,
 * Sysmon UtcTime) by 2 h per slot; the host set gives the client addresses
 * (10.20.C.D with C >= 2 becomes 10.(21 + h/16).(16*(h%16) + C).D) and host
 * names ("-cH"), so a host lives on from slot to slot and keeps its clock
 * estimate, as in a real network; the servers (10.20.0.x, 10.20.1.x and
 * 198.51.100.x) move to other addresses every slot, so each slot's alerts
 * are new groups rather than suppressed repeats. Zeek uids and process
 * guids are unique to the copy. */
static void copy_line(FILE *out, const char *s, int k)
{
    int h = k % SLOT, slot = k / SLOT;
    long shift = (long)slot * 2 * 3600;
    cr_assert(slot < 100 && SLOT <= 16 * 200);
    while (*s) {
        unsigned c3;
        int used = 0;
        if (strncmp(s, "\"10.20.", 7) == 0 && sscanf(s + 7, "%u.%n", &c3, &used) == 1 && used > 0) {
            cr_assert(c3 < 16, "demo address 10.20.%u.x", c3);
            if (c3 < 2)
                fprintf(out, "\"10.%d.%u.", 100 + slot, c3);
            else
                fprintf(out, "\"10.%d.%u.", 21 + h / 16, 16u * (unsigned)(h % 16) + c3);
            s += 7 + used;
        } else if (strncmp(s, "198.51.100.", 11) == 0) {
            fprintf(out, "198.51.%d.", 100 + slot);
            s += 11;
        } else if (strncmp(s, ".corp.example.com", 17) == 0) {
            fprintf(out, "-c%d.corp.example.com", h);
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

/* Copies [from, to) of src into path, sorted by event time as a live
 * stream would be (the copies of a slot overlap in time). */
static void write_copies(const char *path, const lines *src, int from, int to)
{
    size_t n = (size_t)(to - from) * src->n, i = 0;
    gline *g = calloc(n ? n : 1, sizeof(*g));
    cr_assert_not_null(g);
    for (int k = from; k < to; k++)
        for (size_t j = 0; j < src->n; j++, i++) {
            size_t len = 0;
            FILE *m = open_memstream(&g[i].text, &len);
            cr_assert_not_null(m);
            copy_line(m, src->v[j], k);
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

/* ---- the input ---- */

typedef struct input {
    char dir[64];
    char z[128], s[128], cfg[128], out[2][128], err[2][128];
    strset want; /* alert ids of replay --emit threshold */
} input;

static void input_make(input *in)
{
    snprintf(in->dir, sizeof(in->dir), "/tmp/c2w_crash_XXXXXX");
    cr_assert_not_null(mkdtemp(in->dir));
    snprintf(in->z, sizeof(in->z), "%s/zeek.ndjson", in->dir);
    snprintf(in->s, sizeof(in->s), "%s/sysmon.ndjson", in->dir);
    snprintf(in->cfg, sizeof(in->cfg), "%s/c2watch.yaml", in->dir);
    char dir[sizeof(in->dir)];
    memcpy(dir, in->dir, sizeof(dir)); /* (gcc -O1 sees an overlap in snprintf(in->x, .., in->dir)) */
    for (int i = 0; i < 2; i++) {
        snprintf(in->out[i], sizeof(in->out[i]), "%s/run%d.out", dir, i + 1);
        snprintf(in->err[i], sizeof(in->err[i]), "%s/run%d.err", dir, i + 1);
    }
    char p[1024];
    lines z = { 0 }, s = { 0 };
    snprintf(p, sizeof(p), "%s/fixtures/demo/zeek.ndjson", root());
    lines_read(&z, p);
    snprintf(p, sizeof(p), "%s/fixtures/demo/sysmon.ndjson", root());
    lines_read(&s, p);
    write_copies(in->z, &z, 0, COPIES);
    write_copies(in->s, &s, 0, COPIES);
    lines_free(&z);
    lines_free(&s);
    FILE *f = fopen(in->cfg, "w");
    cr_assert_not_null(f);
    /* no Suricata here: an eve topic without records would hold the
     * watermark back until it counts as idle */
    fprintf(f, "rules: %s/rules/mail-protocols.yaml\n"
               "topics:\n  eve: \"\"\n"
               "run:\n  commit_interval: 200ms\n"
               "stats:\n  interval: %s\n",
            root(), getenv("C2W_STATS") ? getenv("C2W_STATS") : "0");
    cr_assert_eq(fclose(f), 0);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s replay --zeek %s --sysmon %s --rules %s/rules/mail-protocols.yaml --emit threshold 2>/dev/null",
             bin(), in->z, in->s, root());
    FILE *pp = popen(cmd, "r");
    cr_assert_not_null(pp);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, pp)) > 0)
        add_alert_id(&in->want, line, (size_t)n);
    free(line);
    cr_assert_eq(pclose(pp), 0, "%s", cmd);
    set_sort(&in->want);
    cr_assert_eq(in->want.n, 3 * COPIES, "replay of %d copies: %zu alerts", COPIES, in->want.n);
}

static void input_free(input *in)
{
    if (getenv("C2W_KEEP")) {
        cr_log_info("kept %s", in->dir);
        set_free(&in->want);
        return;
    }
    const char *f[] = { in->z, in->s, in->cfg, in->out[0], in->out[1], in->err[0], in->err[1] };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        unlink(f[i]);
    rmdir(in->dir);
    set_free(&in->want);
}

/* ---- c2watch as a subprocess ---- */

static pid_t spawn(const input *in, int run, const char *brokers, bool exit_at_end)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int o = open(in->out[run], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(in->err[run], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126);
        const char *argv[] = { bin(), "run", "--config", in->cfg, "--brokers", brokers, "--assign",
                               exit_at_end ? "--exit-at-end" : NULL, NULL };
        execv(bin(), (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits for pid at most timeout_ms; returns its wait status, or kills it
 * and fails. */
static int wait_for(pid_t pid, int timeout_ms, const char *errpath)
{
    int64_t deadline = now_ms() + timeout_ms;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        cr_assert(r == 0, "waitpid");
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            cr_assert_fail("c2watch did not finish within %d s (stderr: %s)", timeout_ms / 1000, errpath);
        }
        sleep_ms(50);
    }
}

/* The input produced in CHUNKS pieces PAUSE_MS apart, while c2watch runs. */
#define CHUNKS 30
#define PAUSE_MS 150

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
    p->n = produce_paced(p->l, p->in->z, p->in->s, CHUNKS, PAUSE_MS, p->err, sizeof(p->err));
    return NULL;
}

/* A consumer of the alerts topic that returns as soon as `want` alert
 * messages are there (or the deadline passes). */
static bool wait_alerts(lab *l, pid_t pid, size_t want, int timeout_ms)
{
    char err[512];
    rd_kafka_conf_t *conf = c2w_kafka_conf(&l->cfg, NULL, err, sizeof(err));
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_conf_set(conf, "group.id", "c2w-crash-watch", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(pl, l->cfg.topic_alerts, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(rk, pl), 0);
    rd_kafka_topic_partition_list_destroy(pl);
    size_t seen = 0;
    int64_t deadline = now_ms() + timeout_ms;
    while (seen < want && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 20);
        if (m) {
            seen += !m->err;
            rd_kafka_message_destroy(m);
        }
        int status;
        if (seen < want && waitpid(pid, &status, WNOHANG) == pid)
            cr_assert_fail("c2watch ended after %zu alert(s) (status %d)", seen, status);
    }
    bool got = seen >= want;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got;
}

/* Every input record is in the topics: the mock cluster drops the oldest
 * segments of a partition past a few MB, so the input is sized to stay
 * below that (COPIES, PARTITIONS). */
static void assert_input_whole(lab *l, long produced)
{
    char err[512];
    rd_kafka_conf_t *conf = c2w_kafka_conf(&l->cfg, NULL, err, sizeof(err));
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    cr_assert_not_null(rk, "%s", err);
    const char *topics[] = { l->cfg.topic_zeek, l->cfg.topic_sysmon };
    int64_t sum = 0;
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < PARTITIONS; p++) {
            int64_t lo, hi;
            cr_assert_eq(rd_kafka_query_watermark_offsets(rk, topics[t], p, &lo, &hi, 10000), 0);
            cr_assert_eq(lo, 0, "%s[%d] starts at %lld: the cluster dropped records", topics[t], p, (long long)lo);
            sum += hi;
        }
    rd_kafka_destroy(rk);
    cr_assert_eq(sum, produced, "%lld records in the topics, %ld produced", (long long)sum, produced);
}

static int count_lines_with(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0)
        if (strstr(line, needle))
            n++;
    free(line);
    fclose(f);
    return n;
}

static void show(const char *path)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "grep -v '^%%' %s | tail -n 15 >&2", path);
    if (system(cmd) != 0)
        cr_log_warn("could not show %s", path);
}

Test(crash, sigkill_mid_run_then_restart_gives_one_runs_alerts, .timeout = 240)
{
    int64_t t0 = now_ms();
    input in = { 0 };
    input_make(&in);
    lab l;
    lab_start(&l, 1);
    int64_t t1 = now_ms();
    cr_log_info("crash: input made in %.1f s, %zu alerts expected", (double)(t1 - t0) / 1000.0, in.want.n);

    /* run 1: the input arrives while it runs; killed once a quarter of
     * the alerts are out */
    const char *brokers = c2w_embedded_bootstraps(l.emb);
    pid_t pid = spawn(&in, 0, brokers, false);
    prod_thread prod = { .l = &l, .in = &in };
    cr_assert_eq(pthread_create(&prod.th, NULL, prod_main, &prod), 0);
    bool first = wait_alerts(&l, pid, in.want.n / 4, 60000);
    kill(pid, SIGKILL);
    int status = wait_for(pid, 10000, in.err[0]);
    pthread_join(prod.th, NULL);
    if (!first)
        show(in.err[0]);
    cr_assert(first, "not a quarter of the alerts within 60 s");
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "run 1 was not killed (status %d)", status);
    cr_assert(prod.n > 0, "producing: %s", prod.err);
    assert_input_whole(&l, prod.n);
    alerts got = { 0 };
    read_alerts(&l, &got);
    size_t at_kill = distinct(&got);
    char why[256];
    bool done = committed_at_end(&l, why, sizeof(why));
    cr_log_info("crash: killed after %.1f s with %zu of %zu alerts out; committed: %s", (double)(now_ms() - t1) / 1000.0,
                at_kill, in.want.n, why);
    cr_assert(at_kill < in.want.n && !done, "the run ended before the kill: the input is too small to test a crash");

    /* run 2: the restart, to the end of the input */
    int64_t t2 = now_ms();
    pid = spawn(&in, 1, brokers, true);
    status = wait_for(pid, 150000, in.err[1]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        show(in.err[1]);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the restart failed (status %d)", status);
    cr_log_info("crash: restart took %.1f s; %d line(s) say it rebuilt state", (double)(now_ms() - t2) / 1000.0,
                count_lines_with(in.err[1], "state rebuilt"));

    read_alerts(&l, &got);
    size_t d = distinct(&got);
    cr_log_info("crash: %zu alert messages, %zu distinct, %zu produced again", got.n, d, got.n - d);
    assert_alerts(&got, &in.want, "killed and restarted");
    cr_assert(committed_at_end(&l, why, sizeof(why)), "after the restart: %s", why);

    alerts_free(&got);
    lab_stop(&l);
    input_free(&in);
}

/* The control: the same input and configuration, one run to the end. */
Test(crash, one_clean_run_gives_replays_alerts, .timeout = 240)
{
    input in = { 0 };
    input_make(&in);
    lab l;
    lab_start(&l, 1);
    char err[512];
    long n = produce_merged(&l, in.z, in.s, err, sizeof(err));
    cr_assert(n > 0, "%s", err);
    assert_input_whole(&l, n);
    int64_t t0 = now_ms();
    pid_t pid = spawn(&in, 0, c2w_embedded_bootstraps(l.emb), true);
    int status = wait_for(pid, 150000, in.err[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        show(in.err[0]);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the run failed (status %d)", status);
    cr_log_info("crash control: one run took %.1f s", (double)(now_ms() - t0) / 1000.0);
    alerts got = { 0 };
    read_alerts(&l, &got);
    assert_alerts(&got, &in.want, "one clean run");
    cr_assert_eq(got.n, in.want.n, "one clean run repeats no alert");
    char why[256];
    cr_assert(committed_at_end(&l, why, sizeof(why)), "%s", why);
    alerts_free(&got);
    lab_stop(&l);
    input_free(&in);
}
