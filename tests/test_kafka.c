#define _GNU_SOURCE
/*
 * test_kafka.c — the service over librdkafka's mock cluster: the same
 * alerts as replay, restart, dead letters, commit after delivery, shutdown.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "c2watch/decode.h"
#include "c2watch/kafka.h"
#include "c2watch/pipeline.h"

#define APIKEY_PRODUCE 0 /* Kafka protocol ApiKey of Produce (rdkafka_protocol.h is not installed) */

#include "kafka_lab.h"

/* distinct values, sorted */
static void set_uniq(strset *s)
{
    set_sort(s);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k && strcmp(s->v[k - 1], s->v[i]) == 0) {
            free(s->v[i]);
            continue;
        }
        s->v[k++] = s->v[i];
    }
    s->n = k;
}

static void assert_same(strset *a, strset *b, const char *what)
{
    set_sort(a);
    set_sort(b);
    cr_assert_eq(a->n, b->n, "%s: %zu vs %zu alerts", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        cr_assert_str_eq(a->v[i], b->v[i], "%s", what);
}

/* Adds the alert_id of an alert JSON text. */
static void add_alert_id(strset *s, const char *json, size_t len)
{
    const char *k = "\"alert_id\":\"";
    const char *p = memmem(json, len, k, strlen(k));
    cr_assert_not_null(p, "no alert_id in %.*s", (int)len, json);
    p += strlen(k);
    set_add(s, p, 32);
}

static void collect_ids(void *ctx, const rd_kafka_message_t *rkm)
{
    add_alert_id(ctx, rkm->payload, rkm->len);
}

/* Alert ids of `c2watch replay --emit threshold` on the scenario. */
static void replay_ids(const scenario *sc, strset *ids)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "%s replay --zeek %s/zeek.ndjson --sysmon %s/sysmon.ndjson --rules %s %s --emit threshold 2>/dev/null",
             bin(), sc->dir, sc->dir, sc->rules, sc->args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, p)) > 0)
        add_alert_id(ids, line, (size_t)n);
    free(line);
    cr_assert_eq(pclose(p), 0, "replay failed: %s", cmd);
}

static void produce(lab *l, const char *topic, const char *path)
{
    char err[512];
    long n = c2w_kafka_produce_file(&l->cfg, topic, path, err, sizeof(err));
    cr_assert(n >= 0, "%s", err);
}

static void produce_scenario(lab *l, const scenario *sc)
{
    char p[1200];
    snprintf(p, sizeof(p), "%s/zeek.ndjson", sc->dir);
    produce(l, l->cfg.topic_zeek, p);
    snprintf(p, sizeof(p), "%s/sysmon.ndjson", sc->dir);
    produce(l, l->cfg.topic_sysmon, p);
}

static volatile sig_atomic_t never;

static int run_service(lab *l, bool exit_at_end, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    c2w_service_opts_t so = { .cfg = &l->cfg, .exit_at_end = exit_at_end, .assign = true, .stop = stop ? stop : &never };
    return c2w_service_run(&so, err, errlen);
}

static void alerts_of(lab *l, strset *ids)
{
    char err[512];
    long n = c2w_kafka_read_all(&l->cfg, l->cfg.topic_alerts, collect_ids, ids, 20000, err, sizeof(err));
    cr_assert(n >= 0, "%s", err);
}

/* committed offset of every input partition equals its end */
static void assert_committed_to_end(lab *l)
{
    char err[512];
    rd_kafka_conf_t *conf = c2w_kafka_conf(&l->cfg, NULL, err, sizeof(err));
    cr_assert_not_null(conf);
    rd_kafka_conf_set(conf, "group.id", l->cfg.group, err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    cr_assert_not_null(rk);
    const char *topics[] = { l->cfg.topic_zeek, l->cfg.topic_sysmon };
    for (size_t t = 0; t < 2; t++) {
        rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(4);
        for (int p = 0; p < 4; p++)
            rd_kafka_topic_partition_list_add(pl, topics[t], p);
        cr_assert_eq(rd_kafka_committed(rk, pl, 10000), 0);
        for (int p = 0; p < 4; p++) {
            int64_t lo, hi;
            cr_assert_eq(rd_kafka_query_watermark_offsets(rk, topics[t], p, &lo, &hi, 10000), 0);
            int64_t c = pl->elems[p].offset;
            cr_assert(c == hi || (hi == 0 && c < 0), "%s[%d] committed %lld, end %lld", topics[t], p, (long long)c,
                      (long long)hi);
        }
        rd_kafka_topic_partition_list_destroy(pl);
    }
    rd_kafka_destroy(rk);
}

/* ---- tests ---- */

/* How a run's fetchers were woken (scenario_equals_replay_with). */
typedef struct wakes {
    bool watch_off; /* c2w_service_opts_t.prefetch_watch_off */
    uint64_t fetch, prefetch; /* the run's restarted fetches, and its wakes of drained prefetches */
} wakes_t;

/* The scenario produced to the lab and read by the service to its end
 * gives the replay's alerts and commits every partition to its end. set:
 * n configuration settings (key, value) made before producing; w (when
 * not NULL): how the fetchers were woken. */
static void scenario_equals_replay_with(const char *rel, const char *const (*set)[2], size_t n, wakes_t *w)
{
    scenario sc;
    scenario_load(&sc, rel);
    strset want = { 0 }, got = { 0 };
    replay_ids(&sc, &want);
    lab l;
    lab_start(&l, sc.rules);
    char err[512];
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(c2w_config_set(&l.cfg, set[i][0], set[i][1], err, sizeof(err)), 0, "%s: %s", set[i][0], err);
    produce_scenario(&l, &sc);
    c2w_service_opts_t so = { .cfg = &l.cfg,
                              .exit_at_end = true,
                              .assign = true,
                              .stop = &never,
                              .fetch_wakes = w ? &w->fetch : NULL,
                              .prefetch_wakes = w ? &w->prefetch : NULL,
                              .prefetch_watch_off = w && w->watch_off };
    cr_assert_eq(c2w_service_run(&so, err, sizeof(err)), 0, "%s", err);
    alerts_of(&l, &got);
    assert_same(&got, &want, rel);
    assert_committed_to_end(&l);
    lab_stop(&l);
    set_free(&want);
    set_free(&got);
}

static void scenario_equals_replay(const char *rel)
{
    scenario_equals_replay_with(rel, NULL, 0, NULL);
}

Test(kafka, every_scenario_equals_replay_threshold, .timeout = 300)
{
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/fixtures/scenarios", root());
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char rel[600];
        snprintf(rel, sizeof(rel), "fixtures/scenarios/%s", de->d_name);
        scenario_equals_replay(rel);
        n++;
    }
    closedir(d);
    cr_assert(n >= 10, "scenarios found: %zu", n);
    scenario_equals_replay("fixtures/demo");
}

/* librdkafka 2.0.2 stops fetching while its prefetch is full and looks
 * again only when its broker thread wakes, up to a second later. With a
 * prefetch of 1 KiB and one message per partition and fetch (each its own
 * batch), every fetch round fills it. */
static const char *const tiny_prefetch[][2] = {
    { "kafka.producer_properties.batch.num.messages", "1" },
    { "kafka.consumer_properties.queued.max.messages.kbytes", "1" },
    { "kafka.consumer_properties.queued.min.messages", "1" },
    { "kafka.consumer_properties.max.partition.fetch.bytes", "1" },
};
#define TINY_PREFETCH tiny_prefetch, KL_COUNT(tiny_prefetch)

/* With the drained-queue wake off, the service restarts the fetch of the
 * partitions it waits for (wake_fetcher in kafka.c), and nothing is lost
 * or read twice: the alerts are the replay's, every partition is committed
 * to its end. */
Test(kafka, full_prefetch_woken_loses_nothing, .timeout = 120)
{
    wakes_t w = { .watch_off = true }; /* the stall is left to the restarts */
    scenario_equals_replay_with("fixtures/demo", TINY_PREFETCH, &w);
    cr_assert_gt(w.fetch, 0, "no fetch was restarted: the prefetch never filled");
    cr_assert_eq(w.prefetch, 0);
}

/* The same prefetch, watched: each time c2watch drains the full queue,
 * the fetchers are woken by a request to the partitions' leaders
 * (watch_prefetch in kafka.c), and nothing is lost or read twice. */
Test(kafka, drained_prefetch_woken_loses_nothing, .timeout = 120)
{
    wakes_t w = { 0 };
    scenario_equals_replay_with("fixtures/demo", TINY_PREFETCH, &w);
    cr_assert_gt(w.prefetch, 0, "the drained prefetch never woke the fetchers");
}

typedef struct dl_ctx {
    strset reasons, values;
} dl_ctx;

static void collect_deadletter(void *ctx, const rd_kafka_message_t *rkm)
{
    dl_ctx *d = ctx;
    rd_kafka_headers_t *h = NULL;
    const void *val;
    size_t len;
    cr_assert_eq(rd_kafka_message_headers(rkm, &h), 0, "dead letter without headers");
    cr_assert_eq(rd_kafka_header_get_last(h, "c2watch.reason", &val, &len), 0);
    set_add(&d->reasons, val, len);
    set_add(&d->values, rkm->payload ? rkm->payload : "", rkm->len);
}

Test(kafka, dead_letters_carry_reason_and_original_bytes, .timeout = 120)
{
    scenario sc;
    scenario_load(&sc, "fixtures/scenarios/bad-lines");
    /* expected: what the decoder rejects, line by line */
    dl_ctx want = { 0 };
    const char *files[][2] = { { "zeek.ndjson", "zeek" }, { "sysmon.ndjson", "sysmon" } };
    for (size_t i = 0; i < 2; i++) {
        char p[1200];
        snprintf(p, sizeof(p), "%s/%s", sc.dir, files[i][0]);
        FILE *f = fopen(p, "r");
        cr_assert_not_null(f);
        c2w_decoder_t *dec = c2w_decoder_new(i == 0 ? C2W_SRC_ZEEK : C2W_SRC_SYSMON, NULL);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
            size_t len = (size_t)n;
            while (len && (line[len - 1] == '\n'))
                len--;
            if (len == 0)
                continue; /* the producer skips empty lines */
            c2w_record_t rec = { 0 };
            c2w_dec_result_t res;
            if (c2w_decode(dec, line, len, &rec, &res) == C2W_DEC_REJECT) {
                const char *r = c2w_reject_name((c2w_reject_t)res.reason);
                set_add(&want.reasons, r, strlen(r));
                set_add(&want.values, line, len);
            }
            c2w_record_clear(&rec);
        }
        free(line);
        c2w_decoder_free(dec);
        fclose(f);
    }
    cr_assert(want.values.n >= 3, "the scenario has bad lines");
    lab l;
    lab_start(&l, sc.rules);
    produce_scenario(&l, &sc);
    char err[512];
    cr_assert_eq(run_service(&l, true, NULL, err, sizeof(err)), 0, "%s", err);
    dl_ctx got = { 0 };
    long n = c2w_kafka_read_all(&l.cfg, l.cfg.topic_deadletter, collect_deadletter, &got, 20000, err, sizeof(err));
    cr_assert(n >= 0, "%s", err);
    assert_same(&got.reasons, &want.reasons, "reasons");
    assert_same(&got.values, &want.values, "original bytes");
    lab_stop(&l);
    set_free(&want.reasons);
    set_free(&want.values);
    set_free(&got.reasons);
    set_free(&got.values);
}

/* Writes lines [from, to) of src into dst. Returns the line count of src. */
static size_t copy_lines(const char *src, const char *dst, size_t from, size_t to)
{
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    cr_assert(in && out);
    char *line = NULL;
    size_t cap = 0, i = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (i >= from && i < to)
            fwrite(line, 1, (size_t)n, out);
        i++;
    }
    free(line);
    fclose(in);
    fclose(out);
    return i;
}

static void *stop_after(void *arg)
{
    volatile sig_atomic_t *stop = arg;
    sleep(3);
    *stop = 1;
    return NULL;
}

Test(kafka, restart_gives_the_alerts_of_one_run, .timeout = 180)
{
    scenario sc;
    scenario_load(&sc, "fixtures/demo");
    char z[1200], s[1200];
    snprintf(z, sizeof(z), "%s/zeek.ndjson", sc.dir);
    snprintf(s, sizeof(s), "%s/sysmon.ndjson", sc.dir);
    /* one uninterrupted run */
    strset once = { 0 };
    lab l;
    char err[512];
    lab_start(&l, sc.rules);
    produce_scenario(&l, &sc);
    cr_assert_eq(run_service(&l, true, NULL, err, sizeof(err)), 0, "%s", err);
    alerts_of(&l, &once);
    lab_stop(&l);
    cr_assert(once.n >= 2);
    /* the same input in two halves, with a clean stop (signal) between */
    char tz[] = "/tmp/c2w_z_XXXXXX", ts[] = "/tmp/c2w_s_XXXXXX";
    close(mkstemp(tz));
    close(mkstemp(ts));
    size_t nz = copy_lines(z, tz, 0, 0), ns = copy_lines(s, ts, 0, 0);
    lab_start(&l, sc.rules);
    copy_lines(z, tz, 0, nz / 2);
    copy_lines(s, ts, 0, ns / 2);
    produce(&l, l.cfg.topic_zeek, tz);
    produce(&l, l.cfg.topic_sysmon, ts);
    volatile sig_atomic_t stop = 0;
    pthread_t th;
    pthread_create(&th, NULL, stop_after, (void *)&stop);
    cr_assert_eq(run_service(&l, false, &stop, err, sizeof(err)), 0, "%s", err);
    pthread_join(th, NULL);
    assert_committed_to_end(&l);
    copy_lines(z, tz, nz / 2, nz);
    copy_lines(s, ts, ns / 2, ns);
    produce(&l, l.cfg.topic_zeek, tz);
    produce(&l, l.cfg.topic_sysmon, ts);
    cr_assert_eq(run_service(&l, true, NULL, err, sizeof(err)), 0, "%s", err);
    strset got = { 0 };
    alerts_of(&l, &got);
    strset uniq = { 0 };
    for (size_t i = 0; i < got.n; i++)
        set_add(&uniq, got.v[i], strlen(got.v[i]));
    set_uniq(&uniq);
    assert_same(&uniq, &once, "restart vs one run");
    cr_assert_eq(got.n, uniq.n, "a clean restart repeats no alert");
    unlink(tz);
    unlink(ts);
    lab_stop(&l);
    set_free(&once);
    set_free(&got);
    set_free(&uniq);
}

Test(kafka, retriable_produce_errors_delay_but_lose_nothing, .timeout = 120)
{
    scenario sc;
    scenario_load(&sc, "fixtures/demo");
    strset want = { 0 }, got = { 0 };
    replay_ids(&sc, &want);
    lab l;
    lab_start(&l, sc.rules);
    produce_scenario(&l, &sc);
    rd_kafka_mock_push_request_errors(c2w_embedded_cluster(l.emb), APIKEY_PRODUCE, 6,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    char err[512];
    cr_assert_eq(run_service(&l, true, NULL, err, sizeof(err)), 0, "%s", err);
    alerts_of(&l, &got);
    set_uniq(&got);
    assert_same(&got, &want, "after retried produce errors");
    assert_committed_to_end(&l);
    lab_stop(&l);
    set_free(&want);
    set_free(&got);
}

Test(kafka, failed_delivery_commits_nothing_and_restart_recovers, .timeout = 180)
{
    scenario sc;
    scenario_load(&sc, "fixtures/demo");
    strset want = { 0 }, got = { 0 };
    replay_ids(&sc, &want);
    lab l;
    lab_start(&l, sc.rules);
    char err[512];
    cr_assert_eq(c2w_config_set(&l.cfg, "kafka.producer_properties.message.timeout.ms", "3000", err, sizeof(err)), 0,
                 "%s", err);
    produce_scenario(&l, &sc);
    /* the alerts topic refuses every write: delivery fails for good */
    rd_kafka_mock_topic_set_error(c2w_embedded_cluster(l.emb), l.cfg.topic_alerts,
                                  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    cr_assert_neq(run_service(&l, true, NULL, err, sizeof(err)), 0, "a lost alert must fail the run");
    /* nothing was committed past the records whose alerts were lost */
    rd_kafka_conf_t *conf = c2w_kafka_conf(&l.cfg, NULL, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", l.cfg.group, err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(8);
    for (int p = 0; p < 4; p++) {
        rd_kafka_topic_partition_list_add(pl, l.cfg.topic_zeek, p);
        rd_kafka_topic_partition_list_add(pl, l.cfg.topic_sysmon, p);
    }
    cr_assert_eq(rd_kafka_committed(rk, pl, 10000), 0);
    /* A partition may be committed as far as records that raised nothing
     * (an empty one at 0); the ones whose alerts were lost are not: the
     * failed run left some partition with data committed short of its end. */
    int short_of_end = 0;
    for (int i = 0; i < pl->cnt; i++) {
        int64_t lo, hi;
        cr_assert_eq(rd_kafka_query_watermark_offsets(rk, pl->elems[i].topic, pl->elems[i].partition, &lo, &hi, 10000), 0);
        if (hi > 0 && pl->elems[i].offset < hi)
            short_of_end++;
    }
    cr_assert(short_of_end > 0, "the failed run committed every partition to its end");
    rd_kafka_topic_partition_list_destroy(pl);
    rd_kafka_destroy(rk);
    rd_kafka_mock_topic_set_error(c2w_embedded_cluster(l.emb), l.cfg.topic_alerts, RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(run_service(&l, true, NULL, err, sizeof(err)), 0, "%s", err);
    alerts_of(&l, &got);
    set_uniq(&got);
    assert_same(&got, &want, "after restart");
    assert_committed_to_end(&l);
    lab_stop(&l);
    set_free(&want);
    set_free(&got);
}

Test(kafka, signal_drains_commits_and_returns, .timeout = 60)
{
    scenario sc;
    scenario_load(&sc, "fixtures/demo");
    lab l;
    lab_start(&l, sc.rules);
    produce_scenario(&l, &sc);
    volatile sig_atomic_t stop = 0;
    pthread_t th;
    pthread_create(&th, NULL, stop_after, (void *)&stop);
    char err[512];
    cr_assert_eq(run_service(&l, false, &stop, err, sizeof(err)), 0, "%s", err);
    pthread_join(th, NULL);
    assert_committed_to_end(&l);
    lab_stop(&l);
}

#define SYSMON_HEAD "{\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\","
#define SYSMON_HOST_AT(id, t)                                                                                          \
    SYSMON_HEAD "\"Hostname\":\"WS-1.corp.example.com\",\"EventID\":" id ",\"UtcTime\":\"2026-11-28 07:45:" t "\""
#define NETCONN(port, t)                                                                                               \
    SYSMON_HOST_AT("3", t) ",\"ProcessGuid\":\"{82e7e33a-8688-6b0a-ae21-00ada0000c00}\",\"ProcessId\":\"3624\","       \
                           "\"Image\":\"C:\\\\Windows\\\\System32\\\\rundll32.exe\",\"Protocol\":\"tcp\","             \
                           "\"Initiated\":\"true\",\"SourceIp\":\"10.20.5.19\",\"SourcePort\":\"58420\","              \
                           "\"DestinationIp\":\"203.0.113.10\",\"DestinationPort\":\"" port "\"}"
#define IMAGE_LOAD(t) SYSMON_HOST_AT("7", t) "}"
#define BAD_LINE "{\"EventID\":3,"

/* Messages with nothing to feed (skipped or rejected at their decode) are
 * not queued for the merge (consumer/kafka.c, pass_unqueued): behind
 * queued records, with none queued, and on a partition that holds nothing
 * else, they are still counted once, and every partition is committed to
 * its end. */
Test(kafka, unqueued_messages_are_counted_and_committed, .timeout = 120)
{
    char rules[1100];
    snprintf(rules, sizeof(rules), "%s/rules/mail-protocols.yaml", root());
    lab l;
    lab_start(&l, rules);
    /* a record to a mail port (not lean), skipped events and a bad line behind it */
    const kl_msg p0[] = { KL_MSG(NETCONN("993", "10.000")), KL_MSG(IMAGE_LOAD("10.500")), KL_MSG(IMAGE_LOAD("11.000")),
                          KL_MSG(BAD_LINE) };
    /* nothing but skipped events and bad lines */
    const kl_msg p1[] = { KL_MSG(IMAGE_LOAD("10.100")), KL_MSG(BAD_LINE), KL_MSG(IMAGE_LOAD("10.200")) };
    /* skipped events around a lean record (another port) */
    const kl_msg p2[] = { KL_MSG(IMAGE_LOAD("09.000")), KL_MSG(NETCONN("443", "10.300")), KL_MSG(IMAGE_LOAD("10.400")),
                          KL_MSG(IMAGE_LOAD("10.600")) };
    produce_msgs(&l, l.cfg.topic_sysmon, 0, p0, KL_COUNT(p0));
    produce_msgs(&l, l.cfg.topic_sysmon, 1, p1, KL_COUNT(p1));
    produce_msgs(&l, l.cfg.topic_sysmon, 2, p2, KL_COUNT(p2));
    c2w_pipeline_t *p = NULL;
    c2w_service_opts_t so = { .cfg = &l.cfg, .exit_at_end = true, .assign = true, .stop = &never, .keep_pipeline = &p };
    char err[512];
    cr_assert_eq(c2w_service_run(&so, err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(p);
    const c2w_source_stats_t *st = c2w_pipeline_source_stats(p, C2W_SRC_SYSMON);
    cr_assert_eq(st->read, 11, "read %llu (accepted %llu, skipped %llu, rejected %llu): a message read twice or lost",
                 (unsigned long long)st->read, (unsigned long long)st->accepted,
                 (unsigned long long)st->skipped[C2W_SKIP_EVENT_ID], (unsigned long long)st->rejected[C2W_REJ_BAD_JSON]);
    cr_assert_eq(st->accepted, 2);
    cr_assert_eq(st->skipped[C2W_SKIP_EVENT_ID], 7);
    cr_assert_eq(st->rejected[C2W_REJ_BAD_JSON], 2);
    cr_assert_eq(st->filtered, 1, "the record to port 443");
    c2w_pipeline_free(p);
    assert_committed_to_end(&l);
    lab_stop(&l);
}
