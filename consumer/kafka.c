/*
 * kafka.c — the streaming service (SPEC §8).
 *
 * One thread: consume a batch, feed the pipeline, produce what it emits,
 * commit. Three rules keep it at-least-once without losing an alert:
 *
 *  1. Commit after delivery. Every produced message belongs to an epoch; a
 *     snapshot of the consumer positions closes an epoch, and is committed
 *     only when every message of it and of the epochs before it has been
 *     acknowledged (acks=all, idempotent producer).
 *  2. State is rebuilt by replay. Each commit carries, in the partition's
 *     offset metadata, the earliest offset that still contributes to live
 *     state (join waits, window contributions, suppressing alerts; see
 *     offsets.h). On assignment the partition is read from there, silently,
 *     up to the committed offset.
 *  3. Replay is global. A partition that has caught up, or had nothing to
 *     replay, is held (and paused) until all have caught up, so that no
 *     live record is processed while alerts are muted. The sources that
 *     were idle at the commit (and whether waiting flows had been settled)
 *     are recorded with it and restored, still muted, once the replay is
 *     done: the decisions they caused are not taken again live.
 *  4. Records are fed in event-time order across partitions (and topics):
 *     each partition's fetched records wait in a queue of their own, and
 *     the oldest head goes first, once every partition has a head, is at
 *     its end, or has kept the others waiting for C2W_MERGE_WAIT_MS. So
 *     the order does not depend on how fetches interleave the partitions,
 *     and neither do the join's decisions nor the threshold alert ids.
 *
 * An alert that is produced again after a crash carries the same alert_id
 * (alert.h), so consumers can drop the duplicate.
 */
#include "c2watch/kafka.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "c2watch/offsets.h"
#include "c2watch/pipeline.h"
#include "c2watch/rule.h"
#include "c2watch/source.h"

#define C2W_EPOCHS 64 /* snapshots awaiting delivery at most */
#define C2W_DEADLETTER_MAX (512 * 1024) /* bytes of a rejected record kept in its dead letter */
#define C2W_META_PREFIX "c2w1 " /* "c2w1 EARLIEST" (older commits) */
#define C2W_META_PREFIX2 "c2w2 " /* "c2w2 EARLIEST FLAGS": FLAGS as in snapshot.flags */
#define C2W_FLAG_SETTLED 0x80u
/* How long a partition with nothing queued may hold back the records of
 * the others (its next record may be the oldest): since its queue ran dry
 * when it is not at its end; since the waiting record arrived when it
 * reached its end before that record arrived (records produced together
 * reach the partitions at slightly different times). */
#define C2W_MERGE_WAIT_MS 500
/* The same for a partition that has delivered nothing since it was
 * assigned or resumed (its first fetch is not done). */
#define C2W_MERGE_START_WAIT_MS 10000
/* Records queued over all partitions beyond which nothing waits. */
#define C2W_MERGE_MAX_QUEUED 1000000
/* Messages of a consumed batch whose payload is prefetched ahead of the
 * decoder (the message struct twice as far), and how much of a payload. */
#define C2W_PREFETCH_AHEAD 8
#define C2W_PREFETCH_BYTES 4096
/* Nothing received for this long: the fetch of the partitions with
 * nothing queued is restarted (wake_fetcher). */
#define C2W_FETCH_WAKE_MS 200
/* How long the request that wakes the fetchers once their prefetch has
 * drained (watch_prefetch) may take: it is only a wake-up call. */
#define C2W_PREFETCH_WAKE_TIMEOUT_MS 100
/* At start-up the cluster must answer a metadata request within this
 * time; TLS handshake or SASL authentication failures end the wait after
 * C2W_AUTH_FAILURES of them: they are configuration errors, not outages. */
#define C2W_CONNECT_TIMEOUT_MS 15000
#define C2W_AUTH_FAILURES 2

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static c2w_time_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (c2w_time_t)ts.tv_sec * C2W_USEC + ts.tv_nsec / 1000;
}

/* ---- configuration ---- */

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errbuf, size_t errlen)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        /* librdkafka's message names the property; it never echoes values
         * except for enumerations, and our own text names only the key. */
        snprintf(errbuf, errlen, "kafka property %s: %s", k, err);
        return -1;
    }
    return 0;
}

static int conf_props(rd_kafka_conf_t *conf, const c2w_props_t *p, char *errbuf, size_t errlen)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (conf_set(conf, p->keys[i], p->vals[i], errbuf, errlen))
            return -1;
    return 0;
}

rd_kafka_conf_t *c2w_kafka_conf(const c2w_config_t *cfg, const c2w_props_t *extra, char *errbuf, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (cfg->brokers && *cfg->brokers && conf_set(conf, "bootstrap.servers", cfg->brokers, errbuf, errlen))
        goto out_destroy;
    if (cfg->client_id && *cfg->client_id && conf_set(conf, "client.id", cfg->client_id, errbuf, errlen))
        goto out_destroy;
    if (conf_props(conf, &cfg->props, errbuf, errlen) || conf_props(conf, extra, errbuf, errlen))
        goto out_destroy;
    return conf;
out_destroy:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- the service ---- */

/* A fetched message waiting for its turn, decoded when fetched (only
 * messages with a record wait: pass_unqueued). Its record is either lean
 * (c2w_pipeline_lean: a flow or event 3 no rule can use, whose push needs
 * only the kind, own time and host id kept here) or the next record of the
 * partition's ring of records (tpart.r): 40 bytes per message where a
 * whole record takes 176, for the ~70 % of the bench's records that are
 * lean and wait in the merge with the others (docs/performance.md,
 * "Seventh round"). */
typedef struct qitem {
    int64_t offset;
    int64_t arrived; /* mono ms */
    c2w_time_t t; /* event time, sensor clock; INT64_MIN: first (host clock unknown) */
    c2w_time_t own; /* lean: the record's own time (c2w_pipeline_lean) */
    uint32_t host_id; /* the record's host in the join's host table, or C2W_HOST_NONE (not known yet) */
    uint8_t kind; /* lean: the record's kind */
    bool timed; /* t is known (else looked up again at the head) */
    bool lean; /* the record is kept here, not in the ring of records */
} qitem;

typedef struct tpart {
    char *topic;
    int32_t partition;
    c2w_source_kind_t kind;
    int64_t position; /* next offset to read; -1 before the first message */
    int64_t received; /* 1 + the offset of the latest message handled (or the latest end); -1 before the first */
    int64_t start; /* the offset assigned (RD_KAFKA_OFFSET_BEGINNING when nothing was committed) */
    int64_t replay_until; /* committed offset at assignment; -1: nothing to replay */
    int64_t eof_at; /* offset of the last end-of-partition event, -1 */
    bool replaying, paused;
    bool throttled; /* paused by throttle(): its records queued are plenty */
    bool primed; /* delivered a record or its end since assigned or resumed */
    bool woken; /* its fetch was restarted (wake_fetcher) and it has delivered nothing since */
    int64_t passed; /* 1 + the offset of the latest message not queued behind queued ones (pass_unqueued) */
    qitem *q; /* ring of fetched messages not fed yet */
    size_t q_head, q_n, q_cap; /* q_cap: 0 or a power of two */
    c2w_record_t *r; /* ring of their records that are not lean, in the same order */
    size_t r_head, r_n, r_cap; /* r_cap: 0 or a power of two */
    int64_t empty_since; /* mono ms: the queue ran dry (not at the end) */
    int64_t eof_ms; /* mono ms of the last end-of-partition event */
} tpart;

typedef struct snapshot {
    uint64_t epoch;
    int64_t *pos, *earliest; /* per partition */
    unsigned flags; /* bit k: source kind k idle; C2W_FLAG_SETTLED */
} snapshot;

typedef struct svc {
    const c2w_service_opts_t *o;
    const c2w_config_t *cfg;
    rd_kafka_t *rkc, *rkp;
    rd_kafka_queue_t *q;
    rd_kafka_queue_t *commit_q; /* results of the asynchronous commits */
    int commits_pending; /* asynchronous commits without a result yet */
    c2w_ruleset_t *rules;
    c2w_pipeline_t *pipe;
    c2w_offsets_t *offs;
    tpart *tps;
    size_t n_tps;
    size_t n_replaying;
    size_t queued; /* records queued over all partitions */
    struct merge_ent {
        c2w_time_t t; /* the head's time (a copy: the heap stays in cache) */
        size_t idx; /* the partition */
    } *heap; /* merge(): partitions with a queued head, oldest head first */
    size_t n_heap;
    size_t last_tp; /* the partition of the last message (find_tp's first guess) */
    size_t n_throttled; /* partitions paused because too much is queued */
    uint64_t fetch_wakes; /* partitions whose fetch wake_fetcher restarted */
    uint64_t redelivered; /* messages and ends older than one handled before, dropped (handle) */
    /* watch_prefetch: librdkafka's prefetch limits (queued.min.messages,
     * queued.max.messages.kbytes in bytes), the payload bytes and
     * messages consumed (their mean estimates the queue's bytes), whether
     * the queue came near a limit since the last wake, and the wakes */
    uint64_t pf_max_msgs, pf_max_bytes, pf_len_sum, pf_len_n;
    bool pf_full;
    uint64_t prefetch_wakes;
    int64_t last_msg_ms; /* mono ms of the latest message or end-of-partition event */
    size_t throttle_high; /* records queued that pause a partition (set at assignment) */
    int64_t now_ms; /* mono_ms() read once per batch of messages or of records fed */
    bool mute_decode; /* the record being decoded was processed before the restart */
    int restore_flags; /* snapshot.flags of the commit replayed to; -1: none */
    /* delivery accounting */
    uint64_t epoch;
    int64_t outstanding[C2W_EPOCHS];
    snapshot snaps[C2W_EPOCHS];
    size_t snap_head, n_snaps;
    bool fatal;
    char fatal_msg[640];
    char last_err[512]; /* the latest client error (librdkafka's text: never a secret) */
    char auth_err[512]; /* the latest TLS or SASL failure */
    int auth_errors; /* TLS or SASL failures seen */
    /* per source kind */
    int64_t last_record_ms[C2W_SRC_COUNT];
    bool kind_assigned[C2W_SRC_COUNT], kind_idle[C2W_SRC_COUNT];
    bool settled; /* every source idle and waiting flows decided */
    /* counters */
    uint64_t alerts_produced, alerts_muted, deadletters, flows_out, delivered, delivery_failed, commits;
    c2w_buf_t buf;
    char errbuf[512];
} svc;

static void svc_fail(svc *s, const char *fmt, const char *arg)
{
    if (!s->fatal) {
        snprintf(s->fatal_msg, sizeof(s->fatal_msg), fmt, arg);
        s->fatal = true;
    }
}

/* Client errors (librdkafka's own text, which names brokers and states but
 * never property values). Also counts TLS and SASL failures for the
 * start-up check, and stops the service on a fatal error. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    svc *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof(why));
        svc_fail(s, "fatal Kafka client error: %s", why);
        return;
    }
    fprintf(stderr, "c2watch: %s: %s\n", rd_kafka_name(rk), reason);
    if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || !s->last_err[0])
        snprintf(s->last_err, sizeof(s->last_err), "%s", reason);
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL ||
        (err == RD_KAFKA_RESP_ERR__TRANSPORT && strstr(reason, "SSL handshake failed"))) {
        snprintf(s->auth_err, sizeof(s->auth_err), "%s", reason);
        s->auth_errors++;
    }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    svc *s = opaque;
    uint64_t epoch = (uint64_t)(uintptr_t)rkm->_private;
    s->outstanding[epoch % C2W_EPOCHS]--;
    if (rkm->err) {
        s->delivery_failed++;
        svc_fail(s, "delivery failed for good: %s", rd_kafka_err2str(rkm->err));
    } else {
        s->delivered++;
    }
}

/* Produces one message in the current epoch. */
static void produce(svc *s, const char *topic, const char *key, size_t klen, const char *val, size_t vlen,
                    rd_kafka_headers_t *hdrs)
{
    for (;;) {
        /* the RD_KAFKA_V_* macros are comma expressions: no ?: between them */
        rd_kafka_resp_err_t err;
        if (hdrs)
            err = rd_kafka_producev(s->rkp, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
                                    RD_KAFKA_V_OPAQUE((void *)(uintptr_t)s->epoch), RD_KAFKA_V_HEADERS(hdrs),
                                    RD_KAFKA_V_END);
        else
            err = rd_kafka_producev(s->rkp, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
                                    RD_KAFKA_V_OPAQUE((void *)(uintptr_t)s->epoch), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(s->rkp, 100);
            continue;
        }
        if (err) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            svc_fail(s, "produce failed: %s", rd_kafka_err2str(err));
            return;
        }
        s->outstanding[s->epoch % C2W_EPOCHS]++;
        return;
    }
}

static void on_alert(void *ctx, const c2w_alert_t *a)
{
    svc *s = ctx;
    if (s->n_replaying) {
        s->alerts_muted++; /* already delivered before the restart */
        return;
    }
    c2w_buf_reset(&s->buf);
    if (c2w_alert_to_json(a, wall_us(), &s->buf) != 0) {
        svc_fail(s, "%s", "out of memory encoding an alert");
        return;
    }
    produce(s, s->cfg->topic_alerts, a->group_key, strlen(a->group_key), s->buf.data, s->buf.len - 1, NULL);
    s->alerts_produced++;
}

static void on_flow(void *ctx, const c2w_attributed_t *a)
{
    svc *s = ctx;
    if (s->n_replaying || !s->cfg->topic_flows || !*s->cfg->topic_flows)
        return;
    c2w_buf_reset(&s->buf);
    if (c2w_attributed_to_json(a, &s->buf) != 0)
        return;
    const char *key = a->device ? a->device : "";
    produce(s, s->cfg->topic_flows, key, strlen(key), s->buf.data, s->buf.len - 1, NULL);
    s->flows_out++;
}

static void on_reject(void *ctx, c2w_source_kind_t src, const char *buf, size_t len, const c2w_dec_result_t *res)
{
    svc *s = ctx;
    if (s->mute_decode || !s->cfg->topic_deadletter || !*s->cfg->topic_deadletter)
        return;
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    const char *reason = c2w_reject_name((c2w_reject_t)res->reason);
    rd_kafka_header_add(h, "c2watch.reason", -1, reason, -1);
    rd_kafka_header_add(h, "c2watch.detail", -1, res->detail, -1);
    rd_kafka_header_add(h, "c2watch.source", -1, c2w_source_name(src), -1);
    /* A record over the broker's message size (too_big ones are) could not
     * be dead-lettered whole, and a refused produce would stop the service:
     * its first C2W_DEADLETTER_MAX bytes go instead, with the original
     * length in a header. */
    if (len > C2W_DEADLETTER_MAX) {
        char orig[32];
        snprintf(orig, sizeof(orig), "%zu", len);
        rd_kafka_header_add(h, "c2watch.truncated_from", -1, orig, -1);
        len = C2W_DEADLETTER_MAX;
    }
    produce(s, s->cfg->topic_deadletter, NULL, 0, buf, len, h);
    s->deadletters++;
}

static c2w_source_kind_t topic_kind(const c2w_config_t *cfg, const char *topic, bool *ok)
{
    *ok = true;
    if (cfg->topic_zeek && strcmp(topic, cfg->topic_zeek) == 0)
        return C2W_SRC_ZEEK;
    if (cfg->topic_sysmon && strcmp(topic, cfg->topic_sysmon) == 0)
        return C2W_SRC_SYSMON;
    if (cfg->topic_eve && strcmp(topic, cfg->topic_eve) == 0)
        return C2W_SRC_EVE;
    *ok = false;
    return C2W_SRC_ZEEK;
}

static void snapshots_clear(svc *s)
{
    for (size_t i = 0; i < C2W_EPOCHS; i++) {
        free(s->snaps[i].pos);
        free(s->snaps[i].earliest);
        s->snaps[i].pos = s->snaps[i].earliest = NULL;
    }
    s->snap_head = s->n_snaps = 0;
}

static void state_free(svc *s)
{
    c2w_pipeline_free(s->pipe);
    s->pipe = NULL;
    c2w_offsets_free(s->offs);
    s->offs = NULL;
    for (size_t i = 0; i < s->n_tps; i++) {
        tpart *t = &s->tps[i];
        for (size_t k = 0; k < t->r_n; k++)
            c2w_record_clear(&t->r[(t->r_head + k) & (t->r_cap - 1)]);
        free(t->q);
        free(t->r);
        free(t->topic);
    }
    free(s->tps);
    free(s->heap);
    s->heap = NULL;
    s->n_heap = 0;
    s->n_throttled = 0;
    s->last_tp = 0;
    s->queued = 0;
    s->tps = NULL;
    s->n_tps = s->n_replaying = 0;
    snapshots_clear(s);
}

/* The earliest live offset of a commit's metadata, or -1; *flags gets
 * the snapshot flags, or -1 when the commit has none. */
static int64_t parse_meta(const rd_kafka_topic_partition_t *p, int *flags)
{
    char tmp[64];
    size_t plen = strlen(C2W_META_PREFIX);
    *flags = -1;
    if (!p->metadata || p->metadata_size <= plen || p->metadata_size >= sizeof(tmp))
        return -1;
    memcpy(tmp, p->metadata, p->metadata_size);
    tmp[p->metadata_size] = '\0';
    bool v2 = strncmp(tmp, C2W_META_PREFIX2, plen) == 0;
    if (!v2 && strncmp(tmp, C2W_META_PREFIX, plen) != 0)
        return -1;
    char *end;
    long long v = strtoll(tmp + plen, &end, 10);
    if (v2) {
        if (*end != ' ')
            return -1;
        char *fend;
        long f = strtol(end + 1, &fend, 10);
        if (*fend != '\0' || f < 0 || f > 255)
            return -1;
        *flags = (int)f;
        end = fend;
    }
    return *end == '\0' && v >= 0 ? v : -1;
}

static void pause_one(svc *s, tpart *t, bool pause);
static void restore_idle(svc *s);

/* New state for a new assignment: fetch committed offsets and their
 * metadata, start each partition at its earliest live offset. */
static int svc_assign(svc *s, rd_kafka_topic_partition_list_t *parts)
{
    state_free(s);
    rd_kafka_resp_err_t err = rd_kafka_committed(s->rkc, parts, 10000);
    if (err) {
        svc_fail(s, "fetching committed offsets: %s", rd_kafka_err2str(err));
        return -1;
    }
    s->tps = calloc(parts->cnt ? (size_t)parts->cnt : 1, sizeof(*s->tps));
    s->heap = calloc(parts->cnt ? (size_t)parts->cnt : 1, sizeof(*s->heap));
    /* half of C2W_MERGE_MAX_QUEUED over the partitions, 256..8192 each */
    s->throttle_high = C2W_MERGE_MAX_QUEUED / 2 / (parts->cnt ? (size_t)parts->cnt : 1);
    s->throttle_high = s->throttle_high < 256 ? 256 : s->throttle_high > 8192 ? 8192 : s->throttle_high;
    s->offs = c2w_offsets_new((size_t)parts->cnt);
    if (!s->tps || !s->heap || !s->offs) {
        svc_fail(s, "%s", "out of memory");
        return -1;
    }
    memset(s->kind_assigned, 0, sizeof(s->kind_assigned));
    s->restore_flags = -1;
    int64_t now = mono_ms();
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        tpart *t = &s->tps[s->n_tps++];
        bool ok;
        t->topic = strdup(p->topic);
        t->partition = p->partition;
        t->kind = topic_kind(s->cfg, p->topic, &ok);
        t->position = -1;
        t->received = -1;
        t->eof_at = -1;
        t->replay_until = -1;
        t->empty_since = now;
        int64_t committed = p->offset >= 0 ? p->offset : -1;
        int flags;
        int64_t earliest = parse_meta(p, &flags);
        if (committed >= 0 && flags >= 0 && s->restore_flags < 0)
            s->restore_flags = flags;
        if (committed >= 0) {
            t->replay_until = committed;
            if (earliest >= 0 && earliest < committed) {
                p->offset = earliest;
                t->replaying = true;
                s->n_replaying++;
            }
        } else {
            p->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        t->start = p->offset;
        s->kind_assigned[t->kind] = true;
    }
    c2w_pipeline_opts_t po = { 0 };
    po.decode = s->cfg->decode;
    po.join = s->cfg->join;
    po.engine = s->cfg->engine;
    po.engine.emit_default = C2W_EMIT_THRESHOLD;
    po.rules = s->rules;
    po.on_alert = on_alert;
    po.alert_ctx = s;
    po.on_flow = on_flow;
    po.flow_ctx = s;
    po.on_reject = on_reject;
    po.reject_ctx = s;
    po.refs = c2w_offsets_ops(s->offs);
    s->pipe = c2w_pipeline_new(&po);
    if (!s->pipe) {
        svc_fail(s, "%s", "out of memory");
        return -1;
    }
    s->last_msg_ms = now;
    for (int k = 0; k < C2W_SRC_COUNT; k++) {
        s->last_record_ms[k] = now;
        s->kind_idle[k] = false;
        if (s->kind_assigned[k])
            c2w_pipeline_source_open(s->pipe, (c2w_source_kind_t)k);
    }
    err = rd_kafka_assign(s->rkc, parts);
    if (err) {
        svc_fail(s, "assign: %s", rd_kafka_err2str(err));
        return -1;
    }
    /* Nothing live while alerts are muted: the partitions with nothing to
     * replay wait (paused) for the others. */
    for (size_t i = 0; s->n_replaying && i < s->n_tps; i++)
        if (!s->tps[i].replaying)
            pause_one(s, &s->tps[i], true);
    if (!s->n_replaying)
        restore_idle(s);
    fprintf(stderr, "c2watch: assigned %d partition%s, %zu replaying to rebuild state\n", parts->cnt,
            parts->cnt == 1 ? "" : "s", s->n_replaying);
    return 0;
}

/* ---- snapshots and commits ---- */

static void take_snapshot(svc *s)
{
    if (s->n_replaying || !s->pipe || s->n_snaps == C2W_EPOCHS)
        return;
    snapshot *sn = &s->snaps[(s->snap_head + s->n_snaps) % C2W_EPOCHS];
    free(sn->pos);
    free(sn->earliest);
    sn->pos = malloc((s->n_tps ? s->n_tps : 1) * sizeof(*sn->pos));
    sn->earliest = malloc((s->n_tps ? s->n_tps : 1) * sizeof(*sn->earliest));
    if (!sn->pos || !sn->earliest)
        return;
    for (size_t i = 0; i < s->n_tps; i++) {
        sn->pos[i] = s->tps[i].position;
        sn->earliest[i] = c2w_offsets_earliest(s->offs, (uint32_t)i + 1);
    }
    sn->flags = s->settled ? C2W_FLAG_SETTLED : 0;
    for (int k = 0; k < C2W_SRC_COUNT; k++)
        if (s->kind_assigned[k] && s->kind_idle[k])
            sn->flags |= 1u << k;
    sn->epoch = s->epoch++;
    s->outstanding[s->epoch % C2W_EPOCHS] = 0;
    s->n_snaps++;
}

static bool snapshot_delivered(const svc *s, const snapshot *sn)
{
    for (uint64_t e = sn->epoch + 1 > C2W_EPOCHS ? sn->epoch + 1 - C2W_EPOCHS : 0; e <= sn->epoch; e++)
        if (s->outstanding[e % C2W_EPOCHS] > 0)
            return false;
    return true;
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets, void *opaque);

/* The result of an asynchronous commit (served from commit_q). */
static void commit_done(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    svc *s = opaque;
    if (s->commits_pending > 0)
        s->commits_pending--;
    commit_cb(rk, err, offsets, opaque);
}

static int commit_snapshot(svc *s, const snapshot *sn, bool sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->n_tps);
    for (size_t i = 0; i < s->n_tps; i++) {
        if (sn->pos[i] < 0)
            continue;
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_add(l, s->tps[i].topic, s->tps[i].partition);
        p->offset = sn->pos[i];
        char meta[48];
        int64_t early = sn->earliest[i] >= 0 && sn->earliest[i] < sn->pos[i] ? sn->earliest[i] : sn->pos[i];
        int n = snprintf(meta, sizeof(meta), C2W_META_PREFIX2 "%" PRId64 " %u", early, sn->flags);
        p->metadata = malloc((size_t)n);
        if (p->metadata) {
            memcpy(p->metadata, meta, (size_t)n);
            p->metadata_size = (size_t)n;
        }
    }
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (l->cnt && sync) {
        err = rd_kafka_commit(s->rkc, l, 0);
    } else if (l->cnt) {
        err = rd_kafka_commit_queue(s->rkc, l, s->commit_q, commit_done, s);
        if (!err)
            s->commits_pending++;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        fprintf(stderr, "c2watch: commit failed: %s (retried at the next interval)\n", rd_kafka_err2str(err));
        return -1;
    }
    s->commits++;
    return 0;
}

/* Commits the newest snapshot whose messages are all delivered; -1 when
 * that commit failed. */
static int try_commit(svc *s, bool sync)
{
    const snapshot *ready = NULL;
    while (s->n_snaps && !s->fatal) {
        const snapshot *sn = &s->snaps[s->snap_head];
        if (!snapshot_delivered(s, sn))
            break;
        ready = sn;
        s->snap_head = (s->snap_head + 1) % C2W_EPOCHS;
        s->n_snaps--;
    }
    return ready ? commit_snapshot(s, ready, sync) : 0;
}

/* Flushes the producer (bounded), then commits what is delivered. */
static void drain_and_commit(svc *s, int timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    take_snapshot(s);
    rd_kafka_flush(s->rkp, timeout_ms);
    /* librdkafka retries a failed commit by itself (a retriable error:
     * after retry.backoff.ms; no coordinator: once one is found again),
     * and nothing orders a retried commit after a later one: an older
     * asynchronous commit could land after the final one and put back
     * older state (librdkafka 2.0.2, rdkafka_request.c
     * rd_kafka_handle_OffsetCommit, rdkafka_cgrp.c
     * rd_kafka_cgrp_defer_offset_commit). So they finish first. */
    while (s->commits_pending > 0 && mono_ms() < end)
        rd_kafka_queue_poll_callback(s->commit_q, 100);
    /* The last commit carries the final state (positions, idle sources,
     * settled flows): a retriable failure (request errors, a coordinator
     * moving) is tried again, with the same state, within the timeout. */
    while (try_commit(s, true) < 0 && !s->fatal && mono_ms() < end) {
        struct timespec pause = { 0, 200 * 1000000L };
        nanosleep(&pause, NULL);
        take_snapshot(s);
    }
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    (void)opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        fprintf(stderr, "c2watch: commit failed: %s\n", rd_kafka_err2str(err));
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    svc *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        svc_assign(s, parts);
        return;
    }
    if (s->pipe)
        drain_and_commit(s, 5000);
    state_free(s);
    rd_kafka_assign(rk, NULL);
}

/* ---- replay gating ---- */

/* Pauses or resumes fetching one partition (librdkafka). */
static void fetch_pause(svc *s, const tpart *t, bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t->topic, t->partition);
    if (pause)
        rd_kafka_pause_partitions(s->rkc, l);
    else
        rd_kafka_resume_partitions(s->rkc, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static void pause_one(svc *s, tpart *t, bool pause)
{
    if (pause || !t->throttled) /* a throttled partition stays paused */
        fetch_pause(s, t, pause);
    t->paused = pause;
    if (!pause) {
        t->primed = false;
        t->empty_since = mono_ms();
    }
}

/* The sources idle at the commit replayed to are idle again, and the
 * flows then settled are settled again (muted while replaying). */
static void restore_idle(svc *s)
{
    if (s->restore_flags < 0 || !s->pipe)
        return;
    for (int k = 0; k < C2W_SRC_COUNT; k++)
        if (s->kind_assigned[k] && !s->kind_idle[k] && (s->restore_flags & (1 << k))) {
            s->kind_idle[k] = true;
            c2w_pipeline_source_done(s->pipe, (c2w_source_kind_t)k);
        }
    if (s->restore_flags & C2W_FLAG_SETTLED) {
        c2w_pipeline_settle(s->pipe);
        s->settled = true;
    }
    s->restore_flags = -1;
}

static void replay_done(svc *s, tpart *t)
{
    t->replaying = false;
    if (s->n_replaying == 1)
        restore_idle(s); /* still muted */
    s->n_replaying--;
    if (s->n_replaying) {
        pause_one(s, t, true); /* wait for the others to catch up */
        return;
    }
    for (size_t i = 0; i < s->n_tps; i++)
        if (s->tps[i].paused)
            pause_one(s, &s->tps[i], false);
    fprintf(stderr, "c2watch: state rebuilt, live from the committed offsets\n");
}

/* ---- messages ---- */

static tpart *find_tp(svc *s, const char *topic, int32_t partition, size_t *idx)
{
    /* a fetch answers partition by partition: most messages are of the
     * partition of the one before */
    size_t g = s->last_tp;
    if (g < s->n_tps && s->tps[g].partition == partition && strcmp(s->tps[g].topic, topic) == 0) {
        *idx = g;
        return &s->tps[g];
    }
    for (size_t i = 0; i < s->n_tps; i++)
        if (s->tps[i].partition == partition && strcmp(s->tps[i].topic, topic) == 0) {
            *idx = s->last_tp = i;
            return &s->tps[i];
        }
    return NULL;
}

/* ---- throttling ----
 * The merge waits for partitions with nothing queued (their next record
 * may be the oldest), so a partition far ahead of the others would queue
 * without bound. A partition holding throttle_high records is paused; it
 * resumes at half that, while it still has records to feed, so its next
 * fetch is normally back before it runs dry. The queues hold at most about
 * C2W_MERGE_MAX_QUEUED / 2 records; C2W_MERGE_MAX_QUEUED stays the last
 * resort (the merge then stops waiting). */
static void throttle_set(svc *s, tpart *t, bool on)
{
    if (t->throttled == on)
        return;
    t->throttled = on;
    s->n_throttled += on ? 1 : (size_t)-1;
    if (!t->paused) /* else the replay gating holds it anyway */
        fetch_pause(s, t, on);
}

static bool at_eof(const tpart *t)
{
    return t->q_n == 0 && t->eof_at >= 0 && t->position >= t->eof_at;
}

/* Makes room for one more element in a ring of n elements of size esz
 * (*cap doubles; the elements move to the front). false on OOM. */
static bool ring_room(void **v, size_t *head, size_t n, size_t *cap, size_t esz)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 64;
    char *nv = malloc(ncap * esz);
    if (!nv)
        return false;
    for (size_t k = 0; k < n; k++)
        memcpy(nv + k * esz, (char *)*v + ((*head + k) & (*cap - 1)) * esz, esz);
    free(*v);
    *v = nv;
    *cap = ncap;
    *head = 0;
    return true;
}

/* Queues a fetched message, decoded (rejects go to the dead letters now). */
static bool enqueue(svc *s, tpart *t, rd_kafka_message_t *rkm, int64_t now)
{
    if (!ring_room((void **)&t->q, &t->q_head, t->q_n, &t->q_cap, sizeof(*t->q)) ||
        !ring_room((void **)&t->r, &t->r_head, t->r_n, &t->r_cap, sizeof(*t->r))) {
        svc_fail(s, "%s", "out of memory queueing a record");
        return false;
    }
    qitem *it = &t->q[(t->q_head + t->q_n) & (t->q_cap - 1)];
    c2w_record_t *rec = &t->r[(t->r_head + t->r_n) & (t->r_cap - 1)]; /* kept only if not lean */
    it->offset = rkm->offset;
    it->arrived = now;
    it->t = INT64_MIN;
    s->mute_decode = t->replaying && rkm->offset < t->replay_until;
    const char *buf = rkm->payload ? rkm->payload : "";
    bool has_rec = c2w_pipeline_decode(s->pipe, t->kind, buf, rkm->len, rec);
    s->mute_decode = false;
    if (!has_rec)
        return false; /* rejected or skipped: counted, nothing to feed */
    it->host_id = C2W_HOST_NONE;
    it->timed = c2w_pipeline_record_time_id(s->pipe, rec, &it->t, &it->host_id);
    if (!it->timed)
        it->t = INT64_MIN; /* a host not calibrated (yet): its events wait in the join */
    /* lean: a timed flow, or a timed event 3 whose host has an id (a lean
     * record holds no string: nothing to free) */
    it->lean = it->timed && c2w_pipeline_lean(s->pipe, rec, &it->own) &&
               (rec->kind == C2W_REC_FLOW || it->host_id != C2W_HOST_NONE);
    if (it->lean)
        it->kind = (uint8_t)rec->kind;
    else
        t->r_n++;
    t->q_n++;
    s->queued++;
    return true;
}

/* A record of t's partition is fed, or its message passed: its source
 * kind is live again. */
static void source_live(svc *s, const tpart *t)
{
    s->settled = false;
    if (s->kind_idle[t->kind]) {
        s->kind_idle[t->kind] = false;
        c2w_pipeline_source_open(s->pipe, t->kind);
    }
}

/* A message without a record to feed (rejected or skipped, and counted, at
 * its decode) is not queued for the merge: ~300 000 of the bench's 1.66
 * million messages (docs/performance.md, "Eighth round"). With records
 * queued before it, its offset is passed when they are fed (t->passed:
 * an emptied queue leaves the position at the next offset not received,
 * where wake_fetcher may seek); with none, at once, as if it had been fed. */
static void pass_unqueued(svc *s, tpart *t, int64_t offset)
{
    if (t->q_n) {
        t->passed = offset + 1;
        return;
    }
    if (t->position < offset + 1)
        t->position = offset + 1;
    t->empty_since = s->now_ms;
    if (s->n_replaying && !t->replaying)
        return; /* held while others replay: nothing reaches the pipeline yet */
    source_live(s, t);
    if (t->replaying && t->position >= t->replay_until)
        replay_done(s, t);
}

/* Asks the cache for a message's payload some messages before it is
 * decoded (the loop asks for the message struct before that). librdkafka
 * received the payload with its whole fetch response (~31 MB in the
 * bench), up to its prefetch limit (256 MiB) earlier, so it is in memory,
 * not in cache: without this, the first read of each payload's lines
 * stalled the decoder (c2w_decode took 2x its time in a replay;
 * docs/performance.md, "Seventh round"). At most C2W_PREFETCH_BYTES of a
 * payload. */
static void prefetch_payload(const rd_kafka_message_t *m)
{
    const char *p = m->payload;
    if (!p)
        return;
    size_t len = m->len < C2W_PREFETCH_BYTES ? m->len : C2W_PREFETCH_BYTES;
    for (size_t at = 0; at < len; at += 64)
        __builtin_prefetch(p + at);
    if (len)
        __builtin_prefetch(p + len - 1); /* the line end is read first */
}

static void handle(svc *s, rd_kafka_message_t *rkm)
{
    if (!rkm->rkt) {
        if (rkm->err)
            fprintf(stderr, "c2watch: consumer: %s\n", rd_kafka_message_errstr(rkm));
        return;
    }
    size_t idx;
    tpart *t = find_tp(s, rd_kafka_topic_name(rkm->rkt), rkm->partition, &idx);
    if (!t || !s->pipe)
        return;
    s->last_msg_ms = s->now_ms;
    bool eof = rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
    if ((eof || !rkm->err) && rkm->offset < t->received) {
        /* Delivered again: c2watch reads a partition forward only, but
         * librdkafka 2.0.2 can fetch one again from its logical start
         * (wake_fetcher says when). Decoded again, its messages would be
         * counted and fed twice, and an older end would put the partition
         * at its end too early. */
        s->redelivered++;
        return;
    }
    if (eof) {
        t->received = rkm->offset; /* not below it: checked above */
        t->eof_at = rkm->offset;
        t->eof_ms = mono_ms();
        t->primed = true;
        t->woken = false;
        if (t->q_n == 0 && t->position < rkm->offset)
            t->position = rkm->offset;
        if (t->q_n == 0 && t->replaying && t->position >= t->replay_until)
            replay_done(s, t);
        return;
    }
    if (rkm->err) {
        fprintf(stderr, "c2watch: %s [%d]: %s\n", t->topic, t->partition, rd_kafka_message_errstr(rkm));
        return;
    }
    t->received = rkm->offset + 1;
    if (!enqueue(s, t, rkm, s->now_ms) && !s->fatal)
        pass_unqueued(s, t, rkm->offset);
    if (t->q_n >= s->throttle_high)
        throttle_set(s, t, true);
    t->eof_at = -1;
    t->primed = true;
    t->woken = false;
    s->last_record_ms[t->kind] = s->now_ms;
}

/* Feeds the head of partition idx's queue to the pipeline. */
static void feed_one(svc *s, size_t idx)
{
    tpart *t = &s->tps[idx];
    qitem *it = &t->q[t->q_head]; /* stays put: nothing is queued while records are fed */
    /* for the partition's next turns, ~a turn of every partition later:
     * read now, they would be the next misses (docs/performance.md,
     * "Eighth round") */
    __builtin_prefetch(&t->q[(t->q_head + 3) & (t->q_cap - 1)]);
    if (t->r_n > 2) {
        const char *r2 = (const char *)&t->r[(t->r_head + 2) & (t->r_cap - 1)];
        for (size_t at = 0; at < sizeof(*t->r); at += 64)
            __builtin_prefetch(r2 + at);
    }
    t->q_head = (t->q_head + 1) & (t->q_cap - 1);
    t->q_n--;
    s->queued--;
    t->position = it->offset + 1;
    if (t->throttled && t->q_n <= s->throttle_high / 2)
        throttle_set(s, t, false);
    source_live(s, t);
    if (it->lean) {
        c2w_pipeline_push_lean(s->pipe, t->kind, (c2w_rec_kind_t)it->kind, it->own, it->host_id);
    } else {
        c2w_record_t *rec = &t->r[t->r_head]; /* stays put, as *it does */
        t->r_head = (t->r_head + 1) & (t->r_cap - 1);
        t->r_n--;
        c2w_srcref_t ref = { (uint32_t)idx + 1, it->offset };
        if (rec->kind == C2W_REC_FLOW)
            rec->u.flow.src = ref;
        else if (rec->kind == C2W_REC_NETCONN)
            rec->u.net.src = ref;
        c2w_pipeline_push_id(s->pipe, t->kind, rec, it->host_id);
    }
    if (t->q_n == 0) {
        t->empty_since = s->now_ms;
        if (t->passed > t->position)
            t->position = t->passed;
        if (t->eof_at > t->position)
            t->position = t->eof_at;
    }
    if (t->replaying && t->position >= t->replay_until)
        replay_done(s, t);
}

/* ---- the merge ----
 * A binary heap of the partitions whose head may be fed, by (head time,
 * partition index): a head whose host has no clock offset yet has time
 * INT64_MIN and goes first, as before it is timed. */

/* The merge key of partition t's head: its sensor time, or while its host
 * has no clock offset, its host time (looked at again each time the head
 * comes to the top). */
static c2w_time_t head_key(svc *s, tpart *t)
{
    qitem *h = &t->q[t->q_head];
    /* not timed: not lean, so its record is the head of the ring of records */
    if (!h->timed && c2w_pipeline_record_time_id(s->pipe, &t->r[t->r_head], &h->t, &h->host_id))
        h->timed = true;
    return h->t;
}

static bool heap_before(const struct merge_ent *a, const struct merge_ent *b)
{
    return a->t != b->t ? a->t < b->t : a->idx < b->idx;
}

static void merge_sift_down(svc *s, size_t k)
{
    for (;;) {
        size_t l = 2 * k + 1, r = l + 1, m = k;
        if (l < s->n_heap && heap_before(&s->heap[l], &s->heap[m]))
            m = l;
        if (r < s->n_heap && heap_before(&s->heap[r], &s->heap[m]))
            m = r;
        if (m == k)
            return;
        struct merge_ent x = s->heap[k];
        s->heap[k] = s->heap[m];
        s->heap[m] = x;
        k = m;
    }
}

/* When partitions with nothing queued stop holding the oldest head back:
 * one not at its end until *until (its queue ran dry, or it was assigned or
 * resumed, that long ago); one at its end holds back the heads that
 * arrived after its end-of-partition event (*eof_min: the earliest such
 * event) for C2W_MERGE_WAIT_MS after their arrival. */
static void merge_note_empty(const tpart *t, int64_t *until, int64_t *eof_min)
{
    if (t->eof_at < 0) {
        int64_t u = t->empty_since + (t->primed ? C2W_MERGE_WAIT_MS : C2W_MERGE_START_WAIT_MS);
        if (u > *until)
            *until = u;
    } else if (t->eof_ms < *eof_min) {
        *eof_min = t->eof_ms;
    }
}

/* Feeds queued records oldest first, across partitions; while replaying,
 * only the replaying partitions. The oldest head waits while a partition
 * with nothing queued may still deliver an older record (C2W_MERGE_WAIT_MS),
 * except with exit_at_end once every partition has reported its end: the
 * input is then complete (all of it is queued), and waiting for records
 * produced after the ends would only delay the exit (0.1-0.3 s at the end
 * of the bench's run, docs/performance.md "Sixth round").
 * At most max records per call, so that the loop keeps taking snapshots
 * and serving delivery reports; returns true when it stopped there. */
static bool merge(svc *s, size_t max)
{
    size_t fed = 0;
rebuild:
    if (!s->pipe || s->fatal)
        return false;
    size_t replaying = s->n_replaying;
    int64_t until = INT64_MIN, eof_min = INT64_MAX;
    size_t ended = 0; /* partitions whose latest event is their end */
    s->n_heap = 0;
    for (size_t i = 0; i < s->n_tps; i++) {
        tpart *t = &s->tps[i];
        ended += t->eof_at >= 0;
        if (replaying && !t->replaying)
            continue; /* held until every replay is done */
        if (t->q_n == 0) {
            merge_note_empty(t, &until, &eof_min);
            continue;
        }
        if (t->replaying && t->q[t->q_head].offset >= t->replay_until) {
            /* the log was shorter than the commit said: live from here */
            replay_done(s, t);
            goto rebuild;
        }
        s->heap[s->n_heap++] = (struct merge_ent){ head_key(s, t), i };
    }
    for (size_t k = s->n_heap / 2; k-- > 0;)
        merge_sift_down(s, k);
    /* nothing arrives while records are fed: this holds for the whole call */
    bool complete = s->o->exit_at_end && !replaying && ended == s->n_tps;
    while (s->n_heap && s->pipe && !s->fatal) {
        if (fed == max)
            return true;
        size_t best = s->heap[0].idx;
        tpart *t = &s->tps[best];
        qitem *h = &t->q[t->q_head];
        if (!h->timed && head_key(s, t) != s->heap[0].t) {
            s->heap[0].t = h->t; /* its host was calibrated meanwhile */
            merge_sift_down(s, 0);
            continue;
        }
        if (t->replaying && h->offset >= t->replay_until) {
            replay_done(s, t);
            goto rebuild;
        }
        if (fed % 256 == 0)
            s->now_ms = mono_ms(); /* once per 256 records: they take well under a millisecond */
        if (s->queued < C2W_MERGE_MAX_QUEUED && !complete) {
            int64_t now = s->now_ms;
            if (now < until || (eof_min < h->arrived && now - h->arrived < C2W_MERGE_WAIT_MS))
                return false; /* a partition with nothing queued may deliver an older record */
        }
        feed_one(s, best);
        fed++;
        if (s->n_replaying != replaying)
            goto rebuild;
        if (t->q_n) {
            s->heap[0].t = head_key(s, t);
            merge_sift_down(s, 0);
        } else {
            s->heap[0] = s->heap[--s->n_heap];
            merge_sift_down(s, 0);
            merge_note_empty(t, &until, &eof_min);
        }
    }
    return false;
}

/* librdkafka 2.0.2's fetcher stops fetching while its prefetch
 * (queued.max.messages.kbytes) is full, and looks again only when its
 * broker thread wakes, up to a second later: draining the queue does not
 * wake it (later versions have fetch.queue.backoff.ms). Meanwhile the merge
 * holds records back for partitions with nothing queued, or everything is
 * fed and c2watch waits. So when nothing at all has arrived for
 * C2W_FETCH_WAKE_MS and the last consume call returned nothing
 * (librdkafka's queue is empty too), each partition that has nothing
 * queued and has not reported its end has its fetch restarted at the next
 * offset c2watch has not received (the offset it was assigned at, before
 * its first message): a seek there, which wakes its broker thread.
 * Nothing is lost or read twice: nothing of the partition is queued, and a
 * fetch response still on its way is dropped by librdkafka (the seek's
 * version barrier) and fetched again. Once per partition until it delivers
 * a message or its end, so that a slow fetch is not restarted over and
 * over; the first wake comes C2W_FETCH_WAKE_MS after the assignment at the
 * earliest (docs/performance.md, "Seventh round").
 * Not a partition assigned at a logical offset (the beginning, with no
 * commit) that has delivered nothing yet: librdkafka may still be looking
 * that offset up, and a seek makes the lookup's answer outdated, which
 * librdkafka 2.0.2 answers by arming its offset query timer
 * (rd_kafka_toppar_handle_Offset: "outdated offset response"); no later
 * seek stops it once the partition fetches again, and 500 ms later the
 * partition was fetched again from its beginning: messages read twice
 * (docs/configuration.md, "The stall"). Such a partition is served by
 * watch_prefetch's wake, which seeks nothing. */
static void wake_fetcher(svc *s)
{
    if (s->n_replaying || !s->pipe || s->now_ms - s->last_msg_ms < C2W_FETCH_WAKE_MS)
        return;
    rd_kafka_topic_partition_list_t *l = NULL;
    for (size_t i = 0; i < s->n_tps; i++) {
        tpart *t = &s->tps[i];
        if (t->q_n || t->eof_at >= 0 || t->paused || t->woken || (t->position < 0 && t->start < 0))
            continue;
        if (!l && !(l = rd_kafka_topic_partition_list_new(16)))
            return;
        rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset =
            t->position >= 0 ? t->position : t->start;
        t->woken = true;
        s->fetch_wakes++;
    }
    if (!l)
        return;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(s->rkc, l, 0);
    if (e) {
        fprintf(stderr, "c2watch: consumer: restarting a fetch: %s\n", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* The other side of the stall wake_fetcher deals with. When librdkafka's
 * queue has come near one of its limits (its fetcher has then taken every
 * partition off its fetch list) and c2watch has drained it to half, a
 * ListOffsets request for the latest offsets of the partitions not at
 * their end is sent to their leaders (rd_kafka_offsets_for_times; the
 * answer is not used). The queue is looked at before and after each
 * consume call. Queueing the request wakes each leader's broker
 * thread, which then finds its partitions under the limits and fetches
 * again, where it would otherwise sleep up to a second: the bench's `run`
 * stopped fetching for 0.4-0.6 s once its queue passed the 256 MiB and
 * finished that much later (docs/performance.md, "Tenth round"). Unlike a
 * seek, it drops nothing and fetches nothing twice. The queue's bytes are
 * estimated from its length and the mean payload consumed so far;
 * librdkafka counts payload bytes. */
static void watch_prefetch(svc *s)
{
    if (s->o->prefetch_watch_off || !s->n_tps)
        return;
    uint64_t n = (uint64_t)rd_kafka_queue_length(s->q);
    uint64_t bytes = s->pf_len_n ? n * (s->pf_len_sum / s->pf_len_n) : 0;
    if (n * 10 >= s->pf_max_msgs * 9 || bytes * 10 >= s->pf_max_bytes * 9) {
        s->pf_full = true;
        return;
    }
    if (!s->pf_full || n * 2 > s->pf_max_msgs || bytes * 2 > s->pf_max_bytes)
        return;
    s->pf_full = false;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->n_tps);
    if (!l)
        return;
    for (size_t i = 0; i < s->n_tps; i++)
        if (s->tps[i].eof_at < 0 && !s->tps[i].paused)
            rd_kafka_topic_partition_list_add(l, s->tps[i].topic, s->tps[i].partition)->offset =
                RD_KAFKA_OFFSET_END; /* as the time: the latest offset */
    if (l->cnt) {
        rd_kafka_offsets_for_times(s->rkc, l, C2W_PREFETCH_WAKE_TIMEOUT_MS);
        s->prefetch_wakes++;
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* A numeric property of the consumer's configuration, or dflt. */
static uint64_t conf_u64(rd_kafka_t *rk, const char *name, uint64_t dflt)
{
    char v[32];
    size_t n = sizeof(v);
    if (rd_kafka_conf_get(rd_kafka_conf(rk), name, v, &n) != RD_KAFKA_CONF_OK)
        return dflt;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    return end != v && *end == '\0' ? (uint64_t)x : dflt;
}

/* A source kind whose partitions are all silent for idle_timeout (or all
 * at their end, with exit_at_end) stops holding the watermark back. Not
 * while replaying: the sources idle at the commit are restored after it. */
static void check_idle(svc *s)
{
    if (s->n_replaying)
        return;
    int64_t now = mono_ms();
    bool all_idle = true;
    for (int k = 0; k < C2W_SRC_COUNT; k++) {
        if (!s->kind_assigned[k] || s->kind_idle[k])
            continue;
        bool all_eof = true, queued = false;
        for (size_t i = 0; i < s->n_tps; i++)
            if (s->tps[i].kind == (c2w_source_kind_t)k) {
                if (!at_eof(&s->tps[i]))
                    all_eof = false;
                if (s->tps[i].q_n)
                    queued = true;
            }
        bool idle = !queued && now - s->last_record_ms[k] > s->cfg->idle_timeout / 1000;
        if ((s->o->exit_at_end && all_eof) || idle) {
            s->kind_idle[k] = true;
            c2w_pipeline_source_done(s->pipe, (c2w_source_kind_t)k);
        } else {
            all_idle = false;
        }
    }
    /* Nothing arrives at all: decide the flows that wait for a nearer
     * event now, rather than when the stream moves on. */
    if (all_idle && !s->settled) {
        c2w_pipeline_settle(s->pipe);
        s->settled = true;
    }
}

static bool at_end(const svc *s)
{
    if (!s->pipe || s->n_replaying || s->n_tps == 0)
        return false;
    for (size_t i = 0; i < s->n_tps; i++)
        if (!at_eof(&s->tps[i]))
            return false;
    return true;
}

/* ---- statistics ---- */

static void print_stats(svc *s)
{
    if (!s->pipe)
        return;
    c2w_buf_t b = { 0 };
    int64_t lag = 0;
    for (size_t i = 0; i < s->n_tps; i++) {
        int64_t lo, hi;
        if (s->tps[i].position >= 0 &&
            rd_kafka_get_watermark_offsets(s->rkc, s->tps[i].topic, s->tps[i].partition, &lo, &hi) == 0 &&
            hi > s->tps[i].position)
            lag += hi - s->tps[i].position;
    }
    char line[1024]; /* the figures line: ~330 characters of text and up to 15 numbers of 20 digits */
    c2w_pipeline_bounds_report(s->pipe, &b); /* plain lines, before the figures */
    if (s->o->stats_json) {
        c2w_pipeline_stats_json(s->pipe, &b);
        if (b.len)
            b.data[--b.len] = '\0'; /* reopen the object */
        snprintf(line, sizeof(line),
                 ",\"kafka\":{\"partitions\":%zu,\"replaying\":%zu,\"lag\":%" PRId64 ",\"alerts_produced\":%" PRIu64
                 ",\"alerts_muted\":%" PRIu64 ",\"deadletters\":%" PRIu64 ",\"flows\":%" PRIu64
                 ",\"delivered\":%" PRIu64 ",\"delivery_failed\":%" PRIu64 ",\"commits\":%" PRIu64
                 ",\"state_refs\":%" PRIu64 ",\"fetch_wakes\":%" PRIu64 ",\"prefetch_wakes\":%" PRIu64
                 ",\"redelivered\":%" PRIu64 ",\"positions\":[",
                 s->n_tps, s->n_replaying, lag, s->alerts_produced, s->alerts_muted, s->deadletters, s->flows_out,
                 s->delivered, s->delivery_failed, s->commits, c2w_offsets_held(s->offs), s->fetch_wakes,
                 s->prefetch_wakes, s->redelivered);
        c2w_buf_puts(&b, line);
        for (size_t i = 0; i < s->n_tps; i++) {
            snprintf(line, sizeof(line), "%s{\"topic\":", i ? "," : "");
            c2w_buf_puts(&b, line);
            c2w_json_string(&b, s->tps[i].topic);
            snprintf(line, sizeof(line), ",\"partition\":%d,\"position\":%" PRId64 ",\"earliest_live\":%" PRId64 "}",
                     s->tps[i].partition, s->tps[i].position, c2w_offsets_earliest(s->offs, (uint32_t)i + 1));
            c2w_buf_puts(&b, line);
        }
        c2w_buf_puts(&b, "]}}\n");
    } else {
        c2w_pipeline_stats_text(s->pipe, &b);
        snprintf(line, sizeof(line),
                 "c2watch: kafka  partitions %zu replaying %zu lag %" PRId64 " alerts produced %" PRIu64
                 " muted %" PRIu64 " deadletters %" PRIu64 " flows %" PRIu64 " delivered %" PRIu64
                 " failed %" PRIu64 " commits %" PRIu64 " state refs %" PRIu64 " fetch wakes %" PRIu64
                 " prefetch wakes %" PRIu64 " redelivered %" PRIu64 "\n",
                 s->n_tps, s->n_replaying, lag, s->alerts_produced, s->alerts_muted, s->deadletters, s->flows_out,
                 s->delivered, s->delivery_failed, s->commits, c2w_offsets_held(s->offs), s->fetch_wakes,
                 s->prefetch_wakes, s->redelivered);
        c2w_buf_puts(&b, line);
        for (size_t i = 0; i < s->n_tps; i++) {
            snprintf(line, sizeof(line), "c2watch: commit %s[%d] position %" PRId64 " earliest live %" PRId64 "\n",
                     s->tps[i].topic, s->tps[i].partition, s->tps[i].position,
                     c2w_offsets_earliest(s->offs, (uint32_t)i + 1));
            c2w_buf_puts(&b, line);
        }
    }
    if (b.data)
        fputs(b.data, stderr);
    fflush(stderr);
    c2w_buf_free(&b);
}

/* ---- setup ---- */

static const char *const consumer_defaults[][2] = {
    { "enable.auto.commit", "false" },
    { "enable.auto.offset.store", "false" },
    { "auto.offset.reset", "earliest" },
    { "enable.partition.eof", "true" },
    /* librdkafka 2.0.2 takes a partition off the fetch list for up to a
     * second once the prefetch queue passes either limit; a queue holding
     * more than a second of what c2watch consumes never runs dry first
     * (docs/configuration.md, "Consumer tuning"). */
    { "queued.min.messages", "1000000" },
    { "queued.max.messages.kbytes", "262144" },
};

static const char *const producer_defaults[][2] = {
    { "enable.idempotence", "true" },
    { "acks", "all" },
    { "linger.ms", "5" },
};

static rd_kafka_t *make_client(svc *s, rd_kafka_type_t type, char *errbuf, size_t errlen)
{
    const c2w_config_t *cfg = s->cfg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *const(*defs)[2] = type == RD_KAFKA_CONSUMER ? consumer_defaults : producer_defaults;
    size_t ndefs = type == RD_KAFKA_CONSUMER ? sizeof(consumer_defaults) / sizeof(consumer_defaults[0])
                                             : sizeof(producer_defaults) / sizeof(producer_defaults[0]);
    for (size_t i = 0; i < ndefs; i++)
        if (conf_set(conf, defs[i][0], defs[i][1], errbuf, errlen))
            goto out_destroy;
    if ((cfg->brokers && *cfg->brokers && conf_set(conf, "bootstrap.servers", cfg->brokers, errbuf, errlen)) ||
        (cfg->client_id && *cfg->client_id && conf_set(conf, "client.id", cfg->client_id, errbuf, errlen)) ||
        conf_props(conf, &cfg->props, errbuf, errlen) ||
        conf_props(conf, type == RD_KAFKA_CONSUMER ? &cfg->consumer_props : &cfg->producer_props, errbuf, errlen))
        goto out_destroy;
    if (type == RD_KAFKA_CONSUMER) {
        if (conf_set(conf, "group.id", cfg->group, errbuf, errlen))
            goto out_destroy;
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    } else {
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    }
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, s);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errbuf, errlen, "%s", err);
        goto out_destroy;
    }
    return rk; /* conf now owned by rk */
out_destroy:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Waits until the cluster answers a metadata request: a wrong address, a
 * TLS client against a plaintext listener or refused credentials end the
 * start with a message naming the brokers and librdkafka's error, rather
 * than retrying forever. Before rd_kafka_poll_set_consumer (it polls the
 * consumer's own queue for the error callbacks). */
static int wait_for_cluster(svc *s, char *errbuf, size_t errlen)
{
    int64_t deadline = mono_ms() + C2W_CONNECT_TIMEOUT_MS;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(s->rkc, 0, NULL, &md, 1000);
        if (!err) {
            rd_kafka_metadata_destroy(md);
            return 0;
        }
        rd_kafka_poll(s->rkp, 0);
        rd_kafka_poll(s->rkc, 0);
        const char *why = s->last_err[0] ? s->last_err : rd_kafka_err2str(err);
        if (s->fatal) {
            snprintf(errbuf, errlen, "%s", s->fatal_msg);
            return -1;
        }
        if (s->auth_errors >= C2W_AUTH_FAILURES) {
            snprintf(errbuf, errlen, "Kafka cluster at %s refused the connection (TLS or SASL): %s", s->cfg->brokers,
                     s->auth_err);
            return -1;
        }
        if (mono_ms() >= deadline) {
            snprintf(errbuf, errlen, "no answer from the Kafka cluster at %s within %d s: %s", s->cfg->brokers,
                     C2W_CONNECT_TIMEOUT_MS / 1000, why);
            return -1;
        }
    }
}

/* The input topics' partitions, from the cluster's metadata. */
static rd_kafka_topic_partition_list_t *all_partitions(svc *s, const char *const *topics, size_t n, char *errbuf,
                                                       size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(s->rkc, 1, NULL, &md, 10000);
    if (err) {
        snprintf(errbuf, errlen, "metadata: %s", rd_kafka_err2str(err));
        return NULL;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (size_t k = 0; k < n; k++) {
        bool found = false;
        for (int i = 0; i < md->topic_cnt; i++) {
            const rd_kafka_metadata_topic_t *t = &md->topics[i];
            if (strcmp(t->topic, topics[k]) != 0 || t->err)
                continue;
            found = true;
            for (int p = 0; p < t->partition_cnt; p++)
                rd_kafka_topic_partition_list_add(l, t->topic, t->partitions[p].id);
        }
        if (!found)
            fprintf(stderr, "c2watch: topic %s does not exist (yet): not read\n", topics[k]);
    }
    rd_kafka_metadata_destroy(md);
    return l;
}

int c2w_service_run(const c2w_service_opts_t *o, char *errbuf, size_t errlen)
{
    svc s;
    memset(&s, 0, sizeof(s));
    s.o = o;
    s.cfg = o->cfg;
    int rc = -1;
    if (c2w_ruleset_load(s.cfg->rules, &s.rules, errbuf, errlen) != 0)
        return -1;
    s.rkp = make_client(&s, RD_KAFKA_PRODUCER, errbuf, errlen);
    if (!s.rkp)
        goto out;
    s.rkc = make_client(&s, RD_KAFKA_CONSUMER, errbuf, errlen);
    if (!s.rkc)
        goto out;
    if (wait_for_cluster(&s, errbuf, errlen))
        goto out;
    rd_kafka_poll_set_consumer(s.rkc);
    s.q = rd_kafka_queue_get_consumer(s.rkc);
    s.pf_max_msgs = conf_u64(s.rkc, "queued.min.messages", 100000);
    s.pf_max_bytes = conf_u64(s.rkc, "queued.max.messages.kbytes", 65536) * 1024;
    s.commit_q = rd_kafka_queue_new(s.rkc);
    const char *topics[C2W_SRC_COUNT];
    size_t n_topics = 0;
    const char *names[] = { s.cfg->topic_zeek, s.cfg->topic_sysmon, s.cfg->topic_eve };
    for (size_t i = 0; i < 3; i++)
        if (names[i] && *names[i])
            topics[n_topics++] = names[i];
    if (o->assign) {
        /* Topic handles first, so that the metadata below gives their
         * partitions a leader before they are assigned. A partition
         * assigned while it has none yet (librdkafka 2.0.2,
         * rd_kafka_toppar_offset_request: still on the internal broker)
         * looks its start offset up again only 500 ms later, and nothing
         * is fetched until then (docs/performance.md, "Third round"). */
        rd_kafka_topic_t *rkts[C2W_SRC_COUNT] = { 0 };
        for (size_t i = 0; i < n_topics; i++)
            rkts[i] = rd_kafka_topic_new(s.rkc, topics[i], NULL);
        rd_kafka_topic_partition_list_t *l = all_partitions(&s, topics, n_topics, errbuf, errlen);
        int r = l ? svc_assign(&s, l) : -1;
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        for (size_t i = 0; i < n_topics; i++)
            if (rkts[i])
                rd_kafka_topic_destroy(rkts[i]);
        if (!l)
            goto out;
        if (r)
            goto out_fatal;
    } else {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n_topics);
        for (size_t i = 0; i < n_topics; i++)
            rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(s.rkc, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err) {
            snprintf(errbuf, errlen, "subscribe: %s", rd_kafka_err2str(err));
            goto out;
        }
    }
    /* run.batch_size is 1..100000 once defaulted or loaded (config.c); the
     * guard only keeps a zeroed configuration from consuming nothing */
    size_t batch = s.cfg->batch_size ? s.cfg->batch_size : 1;
    rd_kafka_message_t **msgs = calloc(batch, sizeof(*msgs));
    if (!msgs) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    int64_t last_commit = mono_ms(), last_stats = mono_ms();
    int64_t commit_ms = s.cfg->commit_interval / 1000, stats_ms = s.cfg->stats_interval / 1000;
    int wait_ms = 100;
    while (!*o->stop && !s.fatal) {
        watch_prefetch(&s); /* full before the batch is taken? */
        ssize_t n = rd_kafka_consume_batch_queue(s.q, wait_ms, msgs, batch);
        s.now_ms = mono_ms();
        for (ssize_t i = 0; i < n; i++) {
            if (i + 2 * C2W_PREFETCH_AHEAD < n)
                __builtin_prefetch(msgs[i + 2 * C2W_PREFETCH_AHEAD]); /* its payload pointer, read next */
            if (i + C2W_PREFETCH_AHEAD < n)
                prefetch_payload(msgs[i + C2W_PREFETCH_AHEAD]);
            s.pf_len_sum += msgs[i]->len;
            s.pf_len_n++;
            handle(&s, msgs[i]);
            rd_kafka_message_destroy(msgs[i]);
        }
        watch_prefetch(&s); /* drained by it? */
        /* records ready to feed: come back at once; records waiting for
         * another partition: soon */
        wait_ms = merge(&s, batch) ? 0 : s.queued ? 10 : 100;
        if (n == 0)
            wake_fetcher(&s);
        rd_kafka_poll(s.rkp, 0);
        rd_kafka_queue_poll_callback(s.commit_q, 0);
        if (s.pipe)
            check_idle(&s);
        int64_t now = mono_ms();
        if (now - last_commit >= commit_ms) {
            take_snapshot(&s);
            last_commit = now;
        }
        try_commit(&s, false);
        if (stats_ms > 0 && now - last_stats >= stats_ms) {
            print_stats(&s);
            last_stats = now;
        }
        if (o->exit_at_end && at_end(&s)) {
            /* Snapshot the live state first: finishing empties it. */
            take_snapshot(&s);
            c2w_pipeline_finish(s.pipe);
            break;
        }
    }
    free(msgs);
    if (s.fatal)
        goto out_fatal;
    /* Drain: deliver everything produced, then commit (bounded time). */
    drain_and_commit(&s, (int)(s.cfg->shutdown_timeout / 1000));
    if (s.fatal)
        goto out_fatal;
    if (rd_kafka_outq_len(s.rkp) > 0) {
        snprintf(errbuf, errlen, "%d message(s) not delivered within run.shutdown_timeout: offsets not committed",
                 rd_kafka_outq_len(s.rkp));
        print_stats(&s);
        goto out;
    }
    print_stats(&s);
    rc = 0;
    goto out;
out_fatal:
    snprintf(errbuf, errlen, "%s", s.fatal_msg);
out:
    if (s.q)
        rd_kafka_queue_destroy(s.q);
    if (s.rkc) {
        rd_kafka_consumer_close(s.rkc);
        if (s.commit_q)
            rd_kafka_queue_destroy(s.commit_q);
        rd_kafka_destroy(s.rkc);
    }
    if (o->keep_pipeline && s.pipe) {
        *o->keep_pipeline = s.pipe;
        s.pipe = NULL;
    }
    if (o->fetch_wakes)
        *o->fetch_wakes = s.fetch_wakes;
    if (o->prefetch_wakes)
        *o->prefetch_wakes = s.prefetch_wakes;
    state_free(&s);
    if (s.rkp) {
        rd_kafka_flush(s.rkp, 1000);
        rd_kafka_destroy(s.rkp);
    }
    c2w_ruleset_free(s.rules);
    c2w_buf_free(&s.buf);
    return rc;
}

/* ---- embedded cluster ---- */

struct c2w_embedded {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char *bootstraps;
};

c2w_embedded_t *c2w_embedded_start(const c2w_config_t *cfg, int partitions, char *errbuf, size_t errlen)
{
    return c2w_embedded_start_n(cfg, 1, partitions, errbuf, errlen);
}

c2w_embedded_t *c2w_embedded_start_n(const c2w_config_t *cfg, int brokers, int partitions, char *errbuf,
                                     size_t errlen)
{
    if (brokers < 1 || partitions < 1) {
        snprintf(errbuf, errlen, "embedded cluster: needs at least one broker and one partition");
        return NULL;
    }
    int replicas = brokers < 3 ? brokers : 3;
    c2w_embedded_t *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    e->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!e->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errlen, "embedded cluster: %s", err);
        free(e);
        return NULL;
    }
    e->mc = rd_kafka_mock_cluster_new(e->rk, brokers);
    if (!e->mc) {
        snprintf(errbuf, errlen, "embedded cluster: could not start the mock cluster");
        c2w_embedded_stop(e);
        return NULL;
    }
    e->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(e->mc));
    const char *in[] = { cfg->topic_zeek, cfg->topic_sysmon, cfg->topic_eve, cfg->topic_alerts, cfg->topic_flows };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        if (in[i] && *in[i])
            rd_kafka_mock_topic_create(e->mc, in[i], partitions, replicas);
    if (cfg->topic_deadletter && *cfg->topic_deadletter)
        rd_kafka_mock_topic_create(e->mc, cfg->topic_deadletter, 1, replicas);
    return e;
}

const char *c2w_embedded_bootstraps(const c2w_embedded_t *e)
{
    return e->bootstraps;
}

rd_kafka_mock_cluster_t *c2w_embedded_cluster(c2w_embedded_t *e)
{
    return e->mc;
}

void c2w_embedded_stop(c2w_embedded_t *e)
{
    if (!e)
        return;
    if (e->mc)
        rd_kafka_mock_cluster_destroy(e->mc);
    if (e->rk)
        rd_kafka_destroy(e->rk);
    free(e->bootstraps);
    free(e);
}

/* ---- client helpers ---- */

typedef struct prod_state {
    long failed;
} prod_state;

static void helper_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    if (rkm->err)
        ((prod_state *)opaque)->failed++;
}

long c2w_kafka_produce_file(const c2w_config_t *cfg, const char *topic, const char *path, char *errbuf, size_t errlen)
{
    rd_kafka_conf_t *conf = c2w_kafka_conf(cfg, &cfg->producer_props, errbuf, errlen);
    if (!conf)
        return -1;
    prod_state st = { 0 };
    char err[512];
    rd_kafka_conf_set_dr_msg_cb(conf, helper_dr);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errlen, "%s", err);
        return -1;
    }
    c2w_lines_t *lines = c2w_lines_open(path, 1u << 24, errbuf, errlen);
    long n = -1;
    if (!lines)
        goto out;
    const char *line;
    size_t len;
    bool too_long;
    int rc;
    n = 0;
    while ((rc = c2w_lines_next(lines, &line, &len, &too_long)) == 1) {
        if (len == 0)
            continue;
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                      RD_KAFKA_V_VALUE((void *)line, len), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 100);
                continue;
            }
            if (e) {
                snprintf(errbuf, errlen, "produce to %s: %s", topic, rd_kafka_err2str(e));
                n = -1;
            }
            break;
        }
        if (n < 0)
            break;
        n++;
    }
    c2w_lines_close(lines);
    if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR || st.failed) {
        snprintf(errbuf, errlen, "produce to %s: %ld message(s) not delivered", topic, st.failed ? st.failed : 1);
        n = -1;
    }
out:
    rd_kafka_destroy(rk);
    return n;
}

long c2w_kafka_read_all(const c2w_config_t *cfg, const char *topic, c2w_kafka_msg_fn fn, void *ctx, int timeout_ms,
                        char *errbuf, size_t errlen)
{
    c2w_props_t none = { 0 };
    rd_kafka_conf_t *conf = c2w_kafka_conf(cfg, &none, errbuf, errlen);
    if (!conf)
        return -1;
    char err[512];
    rd_kafka_conf_set(conf, "group.id", "c2watch-reader", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errlen, "%s", err);
        return -1;
    }
    long n = -1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (e) {
        snprintf(errbuf, errlen, "metadata: %s", rd_kafka_err2str(e));
        goto out;
    }
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            for (int p = 0; p < md->topics[i].partition_cnt; p++)
                rd_kafka_topic_partition_list_add(l, topic, md->topics[i].partitions[p].id)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    if (l->cnt == 0) {
        snprintf(errbuf, errlen, "topic %s not found", topic);
        goto out;
    }
    rd_kafka_assign(rk, l);
    int eofs = 0;
    n = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    while (eofs < l->cnt) {
        if (mono_ms() > deadline) {
            snprintf(errbuf, errlen, "reading %s: timed out", topic);
            n = -1;
            break;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
        if (!rkm)
            continue;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!rkm->err) {
            fn(ctx, rkm);
            n++;
        }
        rd_kafka_message_destroy(rkm);
    }
out:
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}
