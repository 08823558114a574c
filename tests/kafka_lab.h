/*
 * kafka_lab.h — helpers shared by the mock-cluster suites (test_kafka,
 * test_bad, test_faults, test_crash): paths of the tree and the binary,
 * clocks, string sets, the embedded cluster (`lab`), producing given byte
 * strings (produce_msgs) and, for the suites that define PARTITIONS before
 * including this, input lines, producing files, alert collection and the
 * committed-at-end check.
 *
 * Each suite is one translation unit: everything here is static, and marked
 * unused so that a suite that needs only part of it still builds with -Werror.
 * The including file defines _GNU_SOURCE first.
 */
#ifndef C2W_TESTS_KAFKA_LAB_H
#define C2W_TESTS_KAFKA_LAB_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "c2watch/kafka.h"

#define KL_UNUSED __attribute__((unused))
/* The number of elements of array a. */
#define KL_COUNT(a) (sizeof(a) / sizeof((a)[0]))

KL_UNUSED static const char *root(void)
{
    const char *r = getenv("C2W_ROOT");
    return r ? r : ".";
}

KL_UNUSED static const char *bin(void)
{
    const char *b = getenv("C2W_BIN");
    return b ? b : "build/c2watch";
}

KL_UNUSED static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

KL_UNUSED static int64_t now_ms(void)
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

KL_UNUSED static void set_add(strset *s, const char *x, size_t len)
{
    s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
    cr_assert_not_null(s->v);
    s->v[s->n++] = strndup(x, len);
}

KL_UNUSED static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

KL_UNUSED static void set_free(strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

KL_UNUSED static void set_sort(strset *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), cmp_str);
}

/* ---- scenarios ---- */

typedef struct scenario {
    char dir[900];
    char rules[1024];
    char args[256];
} scenario;

KL_UNUSED static void scenario_load(scenario *sc, const char *rel)
{
    snprintf(sc->dir, sizeof(sc->dir), "%s/%s", root(), rel);
    snprintf(sc->rules, sizeof(sc->rules), "%s/rules.yaml", sc->dir);
    if (access(sc->rules, R_OK) != 0)
        snprintf(sc->rules, sizeof(sc->rules), "%s/rules/mail-protocols.yaml", root());
    sc->args[0] = '\0';
    char p[1200];
    snprintf(p, sizeof(p), "%s/args", sc->dir);
    FILE *f = fopen(p, "r");
    if (f) {
        if (!fgets(sc->args, sizeof(sc->args), f))
            sc->args[0] = '\0';
        sc->args[strcspn(sc->args, "\n")] = '\0';
        fclose(f);
    }
}

/* ---- the cluster ---- */

typedef struct lab {
    c2w_config_t cfg;
    c2w_embedded_t *emb;
    rd_kafka_mock_cluster_t *mc;
    int brokers;
} lab;

#ifndef PARTITIONS

/* one broker, 4 partitions, the given rules */
KL_UNUSED static void lab_start(lab *l, const char *rules)
{
    char err[512];
    memset(l, 0, sizeof(*l));
    cr_assert_eq(c2w_config_defaults(&l->cfg), 0);
    cr_assert_eq(c2w_config_set(&l->cfg, "rules", rules, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c2w_config_set(&l->cfg, "run.commit_interval", "100ms", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c2w_config_set(&l->cfg, "stats.interval", "0", err, sizeof(err)), 0, "%s", err);
    l->emb = c2w_embedded_start(&l->cfg, 4, err, sizeof(err));
    cr_assert_not_null(l->emb, "%s", err);
    cr_assert_eq(c2w_config_set(&l->cfg, "kafka.brokers", c2w_embedded_bootstraps(l->emb), err, sizeof(err)), 0);
}

#else /* PARTITIONS */

KL_UNUSED static void lab_start(lab *l, int brokers)
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

#endif /* PARTITIONS */

KL_UNUSED static void lab_stop(lab *l)
{
    c2w_embedded_stop(l->emb);
    c2w_config_free(&l->cfg);
}

/* ---- producing ---- */

typedef struct dr_state {
    long failed;
} dr_state;

KL_UNUSED static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    if (rkm->err)
        ((dr_state *)opaque)->failed++;
}

#ifndef PARTITIONS

/* One message's exact bytes (KL_MSG: of a string literal). */
typedef struct kl_msg {
    const char *p;
    size_t n;
} kl_msg;
#define KL_MSG(s) { (s), sizeof(s) - 1 }

/* Produces each of v's byte strings as one message of topic, unchanged
 * (c2w_kafka_produce_file would drop an empty record and cut at newlines),
 * to partition part, or with part < 0 message i to partition i % 4 (the
 * lab's partitions); waits for every delivery. */
KL_UNUSED static void produce_msgs(lab *l, const char *topic, int32_t part, const kl_msg *v, size_t n)
{
    char err[512];
    rd_kafka_conf_t *conf = c2w_kafka_conf(&l->cfg, NULL, err, sizeof(err));
    cr_assert_not_null(conf, "%s", err);
    /* room for the oversized records of the bad-input corpus */
    cr_assert_eq(rd_kafka_conf_set(conf, "message.max.bytes", "16000000", err, sizeof(err)), RD_KAFKA_CONF_OK, "%s",
                 err);
    dr_state st = { 0 };
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    cr_assert_not_null(rk, "%s", err);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                      RD_KAFKA_V_PARTITION(part >= 0 ? part : (int32_t)(i % 4)),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_VALUE((void *)v[i].p, v[i].n), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 100);
        cr_assert_eq(e, RD_KAFKA_RESP_ERR_NO_ERROR, "produce: %s", rd_kafka_err2str(e));
    }
    cr_assert_eq(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(st.failed, 0, "%ld message(s) not delivered", st.failed);
    rd_kafka_destroy(rk);
}

#else /* PARTITIONS */

/* ---- input lines ---- */

typedef struct lines {
    char **v;
    size_t n;
} lines;

KL_UNUSED static void lines_read(lines *l, const char *path)
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

KL_UNUSED static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* The event time of a generated line, in seconds (sort key). */
KL_UNUSED static double line_time(const char *s)
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

KL_UNUSED static int cmp_gline(const void *a, const void *b)
{
    const gline *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- producing, continued ---- */

/* Produces the Zeek and Sysmon files as the sensors would: one stream
 * merged by event time, each record to its topic, the partitions in turn
 * (evenly: the mock cluster drops the oldest records of a partition past
 * about 5 MB), then waits for delivery. Returns the number of records, or
 * -1 with a message. */
KL_UNUSED static long produce_paced(lab *l, const char *zpath, const char *spath, int chunks, int pause_ms,
                                   char *err, size_t errlen)
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
    size_t total = ls[0].n + ls[1].n, chunk = chunks > 0 ? total / (size_t)chunks + 1 : total + 1;
    while (at[0] < ls[0].n || at[1] < ls[1].n) {
        if (n > 0 && (size_t)n % chunk == 0) {
            /* a live stream: the rest comes later */
            rd_kafka_flush(rk, 10000);
            sleep_ms(pause_ms);
        }
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

KL_UNUSED static long produce_merged(lab *l, const char *zpath, const char *spath, char *err, size_t errlen)
{
    return produce_paced(l, zpath, spath, 0, 0, err, errlen);
}

/* ---- alerts ---- */

KL_UNUSED static void add_alert_id(strset *s, const char *json, size_t len)
{
    const char *k = "\"alert_id\":\"";
    const char *p = memmem(json, len, k, strlen(k));
    cr_assert_not_null(p, "no alert_id in %.*s", (int)len, json);
    p += strlen(k);
    const char *e = memchr(p, '"', len - (size_t)(p - json));
    cr_assert_not_null(e);
    set_add(s, p, (size_t)(e - p));
}

typedef struct alert_rec {
    char *id, *body; /* body without emitted_at */
} alert_rec;

typedef struct alerts {
    alert_rec *v;
    size_t n;
} alerts;

KL_UNUSED static void collect_alert(void *ctx, const rd_kafka_message_t *rkm)
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

KL_UNUSED static void alerts_free(alerts *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].id);
        free(a->v[i].body);
    }
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

KL_UNUSED static long read_alerts(lab *l, alerts *a)
{
    char err[512];
    alerts_free(a);
    long n = c2w_kafka_read_all(&l->cfg, l->cfg.topic_alerts, collect_alert, a, 20000, err, sizeof(err));
    cr_assert(n >= 0, "reading alerts: %s", err);
    return n;
}

KL_UNUSED static int cmp_rec(const void *a, const void *b)
{
    return strcmp(((const alert_rec *)a)->id, ((const alert_rec *)b)->id);
}

KL_UNUSED static size_t distinct(alerts *a)
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
KL_UNUSED static void diff_ids(alerts *a, const strset *want, const char *what)
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
KL_UNUSED static void assert_alerts(alerts *a, const strset *want, const char *what)
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
KL_UNUSED static bool committed_at_end(lab *l, char *why, size_t whylen)
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


#endif /* PARTITIONS */

#endif
