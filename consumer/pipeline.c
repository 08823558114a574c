/*
 * pipeline.c — decode → join → engine, with the watermark (SPEC §5).
 *
 * Each source kind keeps its own clock: the latest event time it delivered,
 * in sensor time. State expires by the slowest active source's clock, so
 * reading one input far ahead of the other loses no join. A source that was
 * opened but has delivered nothing yet holds everything back; a finished
 * (or idle) one no longer counts.
 */
#include "c2watch/pipeline.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C2W_TICK_RECORDS 256 /* engine housekeeping every so many records */

typedef struct src_state {
    c2w_decoder_t *dec;
    c2w_source_stats_t st;
    bool open, done, has_clock;
} src_state;

struct c2w_pipeline {
    c2w_pipeline_opts_t o;
    src_state src[C2W_SRC_COUNT];
    c2w_join_t *join;
    c2w_engine_t *engine;
    uint8_t ports[8192];
    bool all_ports;
    c2w_time_t latest_flow;
    bool has_latest;
    uint64_t ticks;
    bool finished;
    uint64_t reported[7]; /* eviction counters at the last bounds report */
};

static void on_join_emit(void *ctx, const c2w_attributed_t *a)
{
    c2w_pipeline_t *p = ctx;
    if (p->o.on_flow)
        p->o.on_flow(p->o.flow_ctx, a);
    if (p->engine)
        c2w_engine_add(p->engine, a);
}

c2w_pipeline_t *c2w_pipeline_new(const c2w_pipeline_opts_t *opts)
{
    c2w_pipeline_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->o = *opts;
    p->o.join.refs = p->o.refs;
    p->o.engine.refs = p->o.refs;
    for (int k = 0; k < C2W_SRC_COUNT; k++) {
        p->src[k].dec = c2w_decoder_new((c2w_source_kind_t)k, &p->o.decode);
        if (!p->src[k].dec)
            goto out_free;
    }
    p->join = c2w_join_new(&p->o.join, on_join_emit, p);
    if (!p->join)
        goto out_free;
    p->all_ports = true;
    if (p->o.rules) {
        p->engine = c2w_engine_new(p->o.rules, &p->o.engine, p->o.on_alert, p->o.alert_ctx);
        if (!p->engine)
            goto out_free;
        if (!p->o.no_port_filter)
            c2w_ruleset_port_filter(p->o.rules, p->ports, &p->all_ports);
    }
    for (int k = 0; k < C2W_SRC_COUNT; k++)
        c2w_decoder_set_ports(p->src[k].dec, p->all_ports ? NULL : p->ports);
    return p;
out_free:
    c2w_pipeline_free(p);
    return NULL;
}

void c2w_pipeline_free(c2w_pipeline_t *p)
{
    if (!p)
        return;
    for (int k = 0; k < C2W_SRC_COUNT; k++)
        c2w_decoder_free(p->src[k].dec);
    c2w_join_free(p->join);
    c2w_engine_free(p->engine);
    free(p);
}

void c2w_pipeline_source_open(c2w_pipeline_t *p, c2w_source_kind_t src)
{
    p->src[src].open = true;
    p->src[src].done = false;
}

c2w_time_t c2w_pipeline_watermark(const c2w_pipeline_t *p)
{
    c2w_time_t wm = 0;
    bool any = false;
    for (int k = 0; k < C2W_SRC_COUNT; k++) {
        const src_state *s = &p->src[k];
        if (s->done || (!s->open && !s->has_clock))
            continue;
        if (!s->has_clock)
            return 0; /* an opened source with nothing yet: hold everything */
        if (!any || s->st.clock < wm)
            wm = s->st.clock;
        any = true;
    }
    return any ? wm : 0;
}

static void advance(c2w_pipeline_t *p)
{
    c2w_time_t wm = c2w_pipeline_watermark(p);
    if (wm == 0)
        return;
    c2w_join_advance(p->join, wm);
    if (p->engine && ++p->ticks % C2W_TICK_RECORDS == 0)
        c2w_engine_advance(p->engine, wm);
}

void c2w_pipeline_source_done(c2w_pipeline_t *p, c2w_source_kind_t src)
{
    p->src[src].done = true;
    advance(p);
}

bool c2w_pipeline_decode(c2w_pipeline_t *p, c2w_source_kind_t src, const char *buf, size_t len, c2w_record_t *out)
{
    src_state *s = &p->src[src];
    c2w_dec_result_t res;
    s->st.read++;
    c2w_dec_status_t st = c2w_decode(s->dec, buf, len, out, &res);
    if (st == C2W_DEC_REJECT) {
        if ((unsigned)res.reason < C2W_REJ_COUNT)
            s->st.rejected[res.reason]++;
        if (p->o.on_reject)
            p->o.on_reject(p->o.reject_ctx, src, buf, len, &res);
        return false;
    }
    if (st == C2W_DEC_SKIP) {
        if ((unsigned)res.reason < C2W_SKIP_COUNT)
            s->st.skipped[res.reason]++;
        return false;
    }
    s->st.accepted++;
    return true;
}

static const char *record_host(const c2w_record_t *rec, c2w_time_t *t)
{
    switch (rec->kind) {
    case C2W_REC_NETCONN:
        *t = rec->u.net.utc;
        return c2w_netconn_host(&rec->u.net);
    case C2W_REC_PROC:
    case C2W_REC_PROCEND:
        *t = rec->u.proc.utc;
        return rec->u.proc.host;
    case C2W_REC_DNS:
        *t = rec->u.dns.utc;
        return rec->u.dns.host;
    default:
        *t = rec->kind == C2W_REC_FLOW ? rec->u.flow.ts : 0;
        return NULL;
    }
}

bool c2w_pipeline_record_time(const c2w_pipeline_t *p, const c2w_record_t *rec, c2w_time_t *t)
{
    uint32_t id;
    return c2w_pipeline_record_time_id(p, rec, t, &id);
}

bool c2w_pipeline_record_time_id(const c2w_pipeline_t *p, const c2w_record_t *rec, c2w_time_t *t, uint32_t *host_id)
{
    c2w_time_t ht;
    const char *host = record_host(rec, &ht);
    *host_id = C2W_HOST_NONE;
    if (!host) {
        *t = ht;
        return true;
    }
    return c2w_join_sensor_time_id(p->join, host, ht, t, host_id);
}

void c2w_pipeline_prefetch(const c2w_pipeline_t *p, const c2w_record_t *rec)
{
    c2w_time_t t;
    const char *host = record_host(rec, &t);
    if (host)
        c2w_join_host_prefetch(p->join, host);
}

static bool port_wanted(const c2w_pipeline_t *p, uint16_t port)
{
    return p->all_ports || (p->ports[port >> 3] & (1u << (port & 7)));
}

void c2w_pipeline_push(c2w_pipeline_t *p, c2w_source_kind_t src, c2w_record_t *rec)
{
    c2w_pipeline_push_id(p, src, rec, C2W_HOST_NONE);
}

/* Moves src's clock to a record's sensor time: host_t is its own time
 * (host clock when host is not NULL). A host whose clock offset is unknown
 * cannot move its source's clock: its times may be hours off the
 * sensor's. */
static uint32_t note_time(c2w_pipeline_t *p, src_state *s, const char *host, uint32_t host_id, c2w_time_t host_t)
{
    c2w_time_t t = host_t;
    bool known = true;
    if (host || host_id != C2W_HOST_NONE)
        known = c2w_join_host_note_id(p->join, &host_id, host, host_t, &t);
    if (known && (!s->has_clock || t > s->st.clock)) {
        s->st.clock = t;
        s->has_clock = true;
    }
    return host_id; /* the host's id, for the join's add: no second lookup */
}

static void note_flow_time(c2w_pipeline_t *p, c2w_time_t ts)
{
    if (!p->has_latest || ts > p->latest_flow) {
        p->latest_flow = ts;
        p->has_latest = true;
    }
}

void c2w_pipeline_push_id(c2w_pipeline_t *p, c2w_source_kind_t src, c2w_record_t *rec, uint32_t host_id)
{
    src_state *s = &p->src[src];
    c2w_time_t host_t;
    const char *host = record_host(rec, &host_t);
    host_id = note_time(p, s, host, host ? host_id : C2W_HOST_NONE, host_t);
    switch (rec->kind) {
    case C2W_REC_FLOW:
        note_flow_time(p, rec->u.flow.ts);
        if (!port_wanted(p, rec->u.flow.resp_p)) {
            s->st.filtered++;
            break;
        }
        c2w_join_add_flow(p->join, &rec->u.flow);
        break;
    case C2W_REC_NETCONN:
        if (!port_wanted(p, rec->u.net.dst_port)) {
            s->st.filtered++;
            break;
        }
        c2w_join_add_netconn_id(p->join, &rec->u.net, host_id);
        break;
    case C2W_REC_PROC:
        c2w_join_add_proc_id(p->join, &rec->u.proc, host_id);
        break;
    case C2W_REC_DNS:
        c2w_join_add_dns_id(p->join, &rec->u.dns, host_id);
        break;
    default:
        break;
    }
    c2w_record_clear(rec);
    advance(p);
}

bool c2w_pipeline_lean(const c2w_pipeline_t *p, const c2w_record_t *rec, c2w_time_t *own)
{
    if (rec->kind == C2W_REC_FLOW && !rec->u.flow.strings && !rec->u.flow.uid && !port_wanted(p, rec->u.flow.resp_p)) {
        *own = rec->u.flow.ts;
        return true;
    }
    if (rec->kind == C2W_REC_NETCONN && !rec->u.net.strings && !rec->u.net.host &&
        !port_wanted(p, rec->u.net.dst_port)) {
        *own = rec->u.net.utc;
        return true;
    }
    return false;
}

void c2w_pipeline_push_lean(c2w_pipeline_t *p, c2w_source_kind_t src, c2w_rec_kind_t kind, c2w_time_t own,
                            uint32_t host_id)
{
    src_state *s = &p->src[src];
    if (kind == C2W_REC_NETCONN) {
        note_time(p, s, NULL, host_id, own);
    } else {
        note_time(p, s, NULL, C2W_HOST_NONE, own);
        note_flow_time(p, own);
    }
    s->st.filtered++;
    advance(p);
}

void c2w_pipeline_reject(c2w_pipeline_t *p, c2w_source_kind_t src, c2w_reject_t reason, const char *buf, size_t len,
                         const char *detail)
{
    src_state *s = &p->src[src];
    c2w_dec_result_t res = { .status = C2W_DEC_REJECT, .reason = (int)reason };
    snprintf(res.detail, sizeof(res.detail), "%s", detail);
    s->st.read++;
    s->st.rejected[reason]++;
    if (p->o.on_reject)
        p->o.on_reject(p->o.reject_ctx, src, buf, len, &res);
}

void c2w_pipeline_feed_ref(c2w_pipeline_t *p, c2w_source_kind_t src, const char *buf, size_t len, c2w_srcref_t ref)
{
    c2w_record_t rec = { 0 };
    if (!c2w_pipeline_decode(p, src, buf, len, &rec))
        return;
    if (rec.kind == C2W_REC_FLOW)
        rec.u.flow.src = ref;
    else if (rec.kind == C2W_REC_NETCONN)
        rec.u.net.src = ref;
    c2w_pipeline_push(p, src, &rec);
}

void c2w_pipeline_feed(c2w_pipeline_t *p, c2w_source_kind_t src, const char *buf, size_t len)
{
    c2w_srcref_t none = { 0, 0 };
    c2w_pipeline_feed_ref(p, src, buf, len, none);
}

c2w_time_t c2w_pipeline_latest(const c2w_pipeline_t *p)
{
    c2w_time_t now = p->has_latest ? p->latest_flow : 0;
    size_t n = c2w_join_host_count(p->join);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        c2w_time_t off, latest;
        size_t samples;
        c2w_join_host_info(p->join, i, &name, &off, &samples, &latest);
        if (latest > now)
            now = latest;
    }
    return now;
}

void c2w_pipeline_settle(c2w_pipeline_t *p)
{
    c2w_join_settle(p->join);
}

void c2w_pipeline_finish(c2w_pipeline_t *p)
{
    if (p->finished)
        return;
    p->finished = true;
    c2w_join_flush(p->join);
    if (p->engine)
        c2w_engine_finish(p->engine, c2w_pipeline_latest(p));
}

const c2w_source_stats_t *c2w_pipeline_source_stats(const c2w_pipeline_t *p, c2w_source_kind_t src)
{
    return &p->src[src].st;
}

const c2w_join_t *c2w_pipeline_join(const c2w_pipeline_t *p)
{
    return p->join;
}

const c2w_engine_t *c2w_pipeline_engine(const c2w_pipeline_t *p)
{
    return p->engine;
}

/* ---- statistics ---- */

int c2w_pipeline_bounds_report(c2w_pipeline_t *p, c2w_buf_t *out)
{
    const c2w_join_stats_t *j = c2w_join_stats(p->join);
    const c2w_engine_stats_t *e = p->engine ? c2w_engine_stats(p->engine) : NULL;
    const struct {
        const char *bound, *what;
        uint64_t now;
    } b[7] = {
        { "join.max_pending", "waiting flows emitted unattributed", j->evicted_flows },
        { "join.max_pending", "waiting Sysmon events dropped", j->evicted_events },
        { "join.max_uids", "Zeek uids forgotten early", j->evicted_uids },
        { "join.max_procs", "process and DNS enrichment entries dropped", j->evicted_procs },
        { "join.max_hosts", "events of hosts without a clock estimate", j->hosts_over_limit },
        { "engine.max_groups", "groups dropped (least recently updated)", e ? e->evicted_groups : 0 },
        { "engine.max_contribs", "oldest contributions dropped from full groups", e ? e->evicted_contribs : 0 },
    };
    int lines = 0;
    for (int i = 0; i < 7; i++) {
        if (b[i].now == p->reported[i])
            continue;
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "c2watch: bound %s reached: %" PRIu64 " %s since the last report\n", b[i].bound,
                 b[i].now - p->reported[i], b[i].what);
        c2w_buf_puts(out, tmp);
        p->reported[i] = b[i].now;
        lines++;
    }
    return lines;
}

static int appendf(c2w_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int appendf(c2w_buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    return c2w_buf_append(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

int c2w_pipeline_stats_text(const c2w_pipeline_t *p, c2w_buf_t *out)
{
    int err = 0;
    for (int k = 0; k < C2W_SRC_COUNT; k++) {
        const c2w_source_stats_t *s = &p->src[k].st;
        if (!s->read)
            continue;
        uint64_t rej = 0, skip = 0;
        for (int r = 0; r < C2W_REJ_COUNT; r++)
            rej += s->rejected[r];
        for (int r = 0; r < C2W_SKIP_COUNT; r++)
            skip += s->skipped[r];
        err |= appendf(out,
                       "c2watch: %-6s read %" PRIu64 " accepted %" PRIu64 " rejected %" PRIu64 " skipped %" PRIu64
                       " filtered %" PRIu64,
                       c2w_source_name((c2w_source_kind_t)k), s->read, s->accepted, rej, skip, s->filtered);
        const char *sep = " (";
        for (int r = 0; r < C2W_REJ_COUNT; r++)
            if (s->rejected[r]) {
                err |= appendf(out, "%srejected %s %" PRIu64, sep, c2w_reject_name((c2w_reject_t)r), s->rejected[r]);
                sep = ", ";
            }
        for (int r = 0; r < C2W_SKIP_COUNT; r++)
            if (s->skipped[r]) {
                err |= appendf(out, "%sskipped %s %" PRIu64, sep, c2w_skip_name((c2w_skip_t)r), s->skipped[r]);
                sep = ", ";
            }
        err |= c2w_buf_puts(out, sep[0] == ',' ? ")\n" : "\n");
    }
    const c2w_join_stats_t *j = c2w_join_stats(p->join);
    err |= appendf(out,
                   "c2watch: join   flows %" PRIu64 " duplicates %" PRIu64 " joined %" PRIu64 " unattributed %" PRIu64
                   " inbound %" PRIu64 " evictions %" PRIu64 " (flows %" PRIu64 ", events %" PRIu64 ", uids %" PRIu64
                   ", procs %" PRIu64 ") pending %zu\n",
                   j->flows, j->duplicates, j->attributed, j->unattributed, j->inbound,
                   j->evicted_flows + j->evicted_events + j->evicted_uids + j->evicted_procs, j->evicted_flows,
                   j->evicted_events, j->evicted_uids, j->evicted_procs, c2w_join_pending(p->join));
    size_t nh = c2w_join_host_count(p->join);
    for (size_t i = 0; i < nh; i++) {
        const char *name;
        c2w_time_t off, latest;
        size_t samples;
        c2w_join_host_info(p->join, i, &name, &off, &samples, &latest);
        if (i == 20) {
            err |= appendf(out, "c2watch: host   ... %zu more hosts\n", nh - 20);
            break;
        }
        /* host names come from the input: quoted and escaped, so that a
         * name with a newline cannot forge a log line */
        err |= c2w_buf_puts(out, "c2watch: host   ");
        err |= c2w_json_string(out, name);
        err |= appendf(out, " clock offset %+.3f s (%zu samples)\n", (double)off / C2W_USEC, samples);
    }
    if (p->engine) {
        const c2w_engine_stats_t *e = c2w_engine_stats(p->engine);
        err |= appendf(out,
                       "c2watch: engine matched %" PRIu64 " late %" PRIu64 " groups %zu evictions %" PRIu64
                       " (groups %" PRIu64 ", contributions %" PRIu64 ") suppressed %" PRIu64 " alerts %" PRIu64 "\n",
                       e->matched, e->late, c2w_engine_group_count(p->engine),
                       e->evicted_groups + e->evicted_contribs, e->evicted_groups, e->evicted_contribs, e->suppressed,
                       e->alerts);
    }
    return err ? -1 : 0;
}

int c2w_pipeline_stats_json(const c2w_pipeline_t *p, c2w_buf_t *out)
{
    int err = c2w_buf_puts(out, "{\"sources\":{");
    bool first = true;
    for (int k = 0; k < C2W_SRC_COUNT; k++) {
        const c2w_source_stats_t *s = &p->src[k].st;
        uint64_t fast, full;
        c2w_decoder_counts(p->src[k].dec, &fast, &full);
        err |= appendf(out,
                       "%s\"%s\":{\"read\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"filtered\":%" PRIu64
                       ",\"fast_path\":%" PRIu64 ",\"full_parse\":%" PRIu64 ",\"rejected\":{",
                       first ? "" : ",", c2w_source_name((c2w_source_kind_t)k), s->read, s->accepted, s->filtered,
                       fast, full);
        first = false;
        bool f2 = true;
        for (int r = 0; r < C2W_REJ_COUNT; r++)
            if (s->rejected[r]) {
                err |= appendf(out, "%s\"%s\":%" PRIu64, f2 ? "" : ",", c2w_reject_name((c2w_reject_t)r),
                               s->rejected[r]);
                f2 = false;
            }
        err |= c2w_buf_puts(out, "},\"skipped\":{");
        f2 = true;
        for (int r = 0; r < C2W_SKIP_COUNT; r++)
            if (s->skipped[r]) {
                err |= appendf(out, "%s\"%s\":%" PRIu64, f2 ? "" : ",", c2w_skip_name((c2w_skip_t)r), s->skipped[r]);
                f2 = false;
            }
        err |= c2w_buf_puts(out, "}}");
    }
    const c2w_join_stats_t *j = c2w_join_stats(p->join);
    err |= appendf(out,
                   "},\"join\":{\"flows\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"joined\":%" PRIu64
                   ",\"unattributed\":%" PRIu64 ",\"inbound\":%" PRIu64 ",\"evicted_flows\":%" PRIu64
                   ",\"evicted_events\":%" PRIu64 ",\"evicted_uids\":%" PRIu64 ",\"evicted_procs\":%" PRIu64
                   ",\"pending\":%zu,\"offset_samples\":%" PRIu64 "},\"hosts\":[",
                   j->flows, j->duplicates, j->attributed, j->unattributed, j->inbound, j->evicted_flows,
                   j->evicted_events, j->evicted_uids, j->evicted_procs, c2w_join_pending(p->join), j->offset_samples);
    size_t nh = c2w_join_host_count(p->join);
    for (size_t i = 0; i < nh; i++) {
        const char *name;
        c2w_time_t off, latest;
        size_t samples;
        c2w_join_host_info(p->join, i, &name, &off, &samples, &latest);
        err |= c2w_buf_puts(out, i ? ",{\"host\":" : "{\"host\":");
        err |= c2w_json_string(out, name);
        err |= appendf(out, ",\"clock_offset\":%.6f,\"samples\":%zu}", (double)off / C2W_USEC, samples);
    }
    err |= c2w_buf_puts(out, "]");
    if (p->engine) {
        const c2w_engine_stats_t *e = c2w_engine_stats(p->engine);
        err |= appendf(out,
                       ",\"engine\":{\"matched\":%" PRIu64 ",\"late\":%" PRIu64 ",\"groups\":%zu,\"evicted_groups\":%" PRIu64
                       ",\"evicted_contributions\":%" PRIu64 ",\"suppressed\":%" PRIu64 ",\"alerts\":%" PRIu64 "}",
                       e->matched, e->late, c2w_engine_group_count(p->engine), e->evicted_groups, e->evicted_contribs,
                       e->suppressed, e->alerts);
    }
    err |= c2w_buf_puts(out, "}");
    return err ? -1 : 0;
}
