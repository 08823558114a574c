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

static const char *root(void)
{
    const char *r = getenv("C2W_ROOT");
    return r ? r : ".";
}

static const char *bin(void)
{
    const char *b = getenv("C2W_BIN");
    return b ? b : "build/c2watch";
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- string sets ---- */

typedef struct strset {
    char **v;
    size_t n;
} strset;

static void set_add(strset *s, const char *x, size_t len)
{
    s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
    cr_assert_not_null(s->v);
    s->v[s->n++] = strndup(x, len);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_free(strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static void set_sort(strset *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), cmp_str);
}

/* ---- the input: copies of the demo data ---- */

typedef struct lines {
    char **v;
    size_t n;
} lines;

static void lines_read(lines *l, const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
        l->v[l->n++] = strndup(line, (size_t)n);
    }
    free(line);
    fclose(f);
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

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

/* The event time of a generated line, in seconds (sort key). */
static double line_time(const char *s)
{
    const char *p = strstr(s, "\"ts\":");
    if (p)
        return strtod(p + 5, NULL);
    p = strstr(s, "\"UtcTime\":\"");
    cr_assert_not_null(p, "no time in %s", s);
    struct tm tm = { 0 };
    double sec = 0;
    cr_assert(sscanf(p + 11, "%d-%d-%d %d:%d:%lf", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                     &sec) == 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + sec;
}

typedef struct gline {
    double t;
    size_t seq;
    char *text;
} gline;

static int cmp_gline(const void *a, const void *b)
{
    const gline *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

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

static void add_alert_id(strset *s, const char *json, size_t len)
{
    const char *k = "\"alert_id\":\"";
    const char *p = memmem(json, len, k, strlen(k));
    cr_assert_not_null(p, "no alert_id in %.*s", (int)len, json);
    p += strlen(k);
    const char *e = memchr(p, '"', len - (size_t)(p - json));
    cr_assert_not_null(e);
    set_add(s, p, (size_t)(e - p));
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

/* ---- the cluster ---- */

typedef struct lab {
    c2w_config_t cfg;
    c2w_embedded_t *emb;
    rd_kafka_mock_cluster_t *mc;
    int brokers;
} lab;

static void lab_start(lab *l, int brokers)
{
    char err[512], rules[1024];
    memset(l, 0, sizeof(*l));
    snprintf(rules, sizeof(rules), "%s/rules/mail-protocols.yaml", root());
    cr_assert_eq(c2w_config_defaults(&l->cfg), 0);
    const char *set[][2] = {
        { "rules", rules },
        { "run.commit_interval", "100ms" },
        { "stats.interval", "0" },
        /* the last flows are decided 1 s after the data stops */
        { "run.idle_timeout", "1s" },
        /* notice a moved leader or coordinator sooner */
        { "kafka.properties.topic.metadata.refresh.interval.ms", "1000" },
        /* reconnect to a broker that is back within a second */
        { "kafka.properties.reconnect.backoff.max.ms", "1000" },
        /* The mock cluster keeps an empty group rebalancing for the session
         * timeout after its last member left (a real broker empties it at
         * once): keep that short for the second run in group mode. */
        { "kafka.consumer_properties.session.timeout.ms", "6000" },
        { "kafka.consumer_properties.heartbeat.interval.ms", "1000" },
    };
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
        cr_assert_eq(c2w_config_set(&l->cfg, set[i][0], set[i][1], err, sizeof(err)), 0, "%s: %s", set[i][0], err);
    l->emb = c2w_embedded_start_n(&l->cfg, brokers, PARTITIONS, err, sizeof(err));
    cr_assert_not_null(l->emb, "%s", err);
    l->mc = c2w_embedded_cluster(l->emb);
    l->brokers = brokers;
    cr_assert_eq(c2w_config_set(&l->cfg, "kafka.brokers", c2w_embedded_bootstraps(l->emb), err, sizeof(err)), 0);
}

static void lab_stop(lab *l)
{
    c2w_embedded_stop(l->emb);
    c2w_config_free(&l->cfg);
}

typedef struct dr_state {
    long failed;
} dr_state;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    if (rkm->err)
        ((dr_state *)opaque)->failed++;
}

/* Produces the Zeek and Sysmon files as the sensors would: one stream
 * merged by event time, each record to its topic, the partitions in turn
 * (evenly: the mock cluster drops the oldest records of a partition past
 * about 5 MB), then waits for delivery. Returns the number of records, or
 * -1 with a message. */
static long produce_merged(lab *l, const char *zpath, const char *spath, char *err, size_t errlen)
{
    lines ls[2] = { { 0 }, { 0 } };
    lines_read(&ls[0], zpath);
    lines_read(&ls[1], spath);
    const char *topic[2] = { l->cfg.topic_zeek, l->cfg.topic_sysmon };
    rd_kafka_conf_t *conf = c2w_kafka_conf(&l->cfg, NULL, err, errlen);
    if (!conf)
        return -1;
    dr_state st = { 0 };
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    size_t at[2] = { 0, 0 };
    long n = 0;
    while (at[0] < ls[0].n || at[1] < ls[1].n) {
        int w = at[0] == ls[0].n ? 1
                : at[1] == ls[1].n ? 0
                : line_time(ls[1].v[at[1]]) < line_time(ls[0].v[at[0]]) ? 1 : 0;
        const char *line = ls[w].v[at[w]++];
        rd_kafka_resp_err_t e;
        int32_t part = (int32_t)(at[w] % PARTITIONS);
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic[w]), RD_KAFKA_V_PARTITION(part),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_VALUE((void *)line, strlen(line)), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 50);
        if (e) {
            snprintf(err, errlen, "produce: %s", rd_kafka_err2str(e));
            n = -1;
            break;
        }
        n++;
        rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR || st.failed) {
        snprintf(err, errlen, "%ld message(s) not delivered", st.failed ? st.failed : 1);
        n = -1;
    }
    rd_kafka_destroy(rk);
    lines_free(&ls[0]);
    lines_free(&ls[1]);
    return n;
}

/* ---- alerts ---- */

typedef struct alert_rec {
    char *id, *body; /* body without emitted_at */
} alert_rec;

typedef struct alerts {
    alert_rec *v;
    size_t n;
} alerts;

static void collect_alert(void *ctx, const rd_kafka_message_t *rkm)
{
    alerts *a = ctx;
    strset one = { 0 };
    add_alert_id(&one, rkm->payload, rkm->len);
    char *body = strndup(rkm->payload, rkm->len);
    /* The content compared: all but the wall clock (emitted_at) and the
     * window, which ends at the engine's clock when the alert is raised:
     * that clock also follows the watermark every 256 records since the
     * pipeline started, so a restarted service can report a later end for
     * the same alert (same id, same figures). */
    const char *drop[] = { "\"emitted_at\":\"", "\"window_start\":\"", "\"window_end\":\"" };
    for (size_t k = 0; k < 3; k++) {
        char *e = strstr(body, drop[k]);
        char *q = e ? strchr(e + strlen(drop[k]), '"') : NULL;
        if (q)
            memmove(e, q + 1, strlen(q + 1) + 1);
    }
    a->v = realloc(a->v, (a->n + 1) * sizeof(*a->v));
    a->v[a->n].id = one.v[0];
    a->v[a->n].body = body;
    a->n++;
    free(one.v);
}

static void alerts_free(alerts *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].id);
        free(a->v[i].body);
    }
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

static long read_alerts(lab *l, alerts *a)
{
    char err[512];
    alerts_free(a);
    long n = c2w_kafka_read_all(&l->cfg, l->cfg.topic_alerts, collect_alert, a, 20000, err, sizeof(err));
    cr_assert(n >= 0, "reading alerts: %s", err);
    return n;
}

static int cmp_rec(const void *a, const void *b)
{
    return strcmp(((const alert_rec *)a)->id, ((const alert_rec *)b)->id);
}

static size_t distinct(alerts *a)
{
    if (a->n)
        qsort(a->v, a->n, sizeof(*a->v), cmp_rec);
    size_t d = 0;
    for (size_t i = 0; i < a->n; i++)
        if (i == 0 || strcmp(a->v[i].id, a->v[i - 1].id) != 0)
            d++;
    return d;
}

/* Logs the ids that are missing or extra (for the failure message). */
static void diff_ids(alerts *a, const strset *want, const char *what)
{
    size_t i = 0, k = 0, missing = 0, extra = 0;
    while (i < a->n || k < want->n) {
        int c = i == a->n ? 1 : k == want->n ? -1 : strcmp(a->v[i].id, want->v[k]);
        if (c < 0) {
            if (extra++ < 5)
                cr_log_error("%s: extra alert %s", what, a->v[i].body);
            const char *id = a->v[i].id;
            while (i < a->n && strcmp(a->v[i].id, id) == 0)
                i++;
        } else if (c > 0) {
            if (missing++ < 5)
                cr_log_error("%s: missing alert %s", what, want->v[k]);
            k++;
        } else {
            const char *id = a->v[i].id;
            while (i < a->n && strcmp(a->v[i].id, id) == 0)
                i++;
            k++;
        }
    }
    cr_log_error("%s: %zu missing, %zu extra, %zu messages", what, missing, extra, a->n);
}

/* The alert ids are exactly want; an id repeated carries the same alert. */
static void assert_alerts(alerts *a, const strset *want, const char *what)
{
    size_t d = distinct(a);
    bool same = d == want->n;
    for (size_t i = 0, k = 0; same && i < a->n; i++) {
        if (i && strcmp(a->v[i].id, a->v[i - 1].id) == 0)
            continue;
        same = strcmp(a->v[i].id, want->v[k++]) == 0;
    }
    if (!same)
        diff_ids(a, want, what);
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (i && strcmp(a->v[i].id, a->v[i - 1].id) == 0) {
            if (strcmp(a->v[i].body, a->v[i - 1].body) != 0) {
                cr_log_error("%s: first: %s", what, a->v[i - 1].body);
                cr_log_error("%s: again: %s", what, a->v[i].body);
                cr_assert_fail("%s: alert %s produced twice with different content", what, a->v[i].id);
            }
            continue;
        }
        cr_assert(k < want->n, "%s: unexpected alert %s", what, a->v[i].id);
        cr_assert_str_eq(a->v[i].id, want->v[k], "%s: alert ids differ from replay's", what);
        k++;
    }
    cr_assert_eq(d, want->n, "%s: %zu distinct alerts, replay gives %zu", what, d, want->n);
}

/* ---- offsets ---- */

/* True when the committed offset of every input partition is its end. */
static bool committed_at_end(lab *l, char *why, size_t whylen)
{
    char err[512];
    rd_kafka_conf_t *conf = c2w_kafka_conf(&l->cfg, NULL, err, sizeof(err));
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_conf_set(conf, "group.id", l->cfg.group, err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    cr_assert_not_null(rk, "%s", err);
    const char *topics[] = { l->cfg.topic_zeek, l->cfg.topic_sysmon };
    bool ok = true;
    snprintf(why, whylen, "ok");
    for (size_t t = 0; t < 2 && ok; t++) {
        rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(PARTITIONS);
        for (int p = 0; p < PARTITIONS; p++)
            rd_kafka_topic_partition_list_add(pl, topics[t], p);
        rd_kafka_resp_err_t e = rd_kafka_committed(rk, pl, 5000);
        if (e) {
            snprintf(why, whylen, "committed(): %s", rd_kafka_err2str(e));
            ok = false;
        }
        for (int p = 0; p < PARTITIONS && ok; p++) {
            int64_t lo, hi;
            e = rd_kafka_query_watermark_offsets(rk, topics[t], p, &lo, &hi, 5000);
            if (e) {
                snprintf(why, whylen, "watermarks: %s", rd_kafka_err2str(e));
                ok = false;
                break;
            }
            int64_t c = pl->elems[p].offset;
            if (!(c == hi || (hi == 0 && c < 0))) {
                snprintf(why, whylen, "%s[%d] committed %lld, end %lld", topics[t], p, (long long)c, (long long)hi);
                ok = false;
            }
        }
        rd_kafka_topic_partition_list_destroy(pl);
    }
    rd_kafka_destroy(rk);
    return ok;
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
    int64_t deadline = now_ms() + 30000;
    while (read_alerts(&l, &got) == 0) {
        cr_assert(now_ms() < deadline, "%s: no alert within 30 s (service: %s)", f->name, svc.err);
        sleep_ms(100);
    }

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
    deadline = now_ms() + 45000;
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
