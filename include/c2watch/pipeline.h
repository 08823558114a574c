/*
 * pipeline.h — wiring of decode, join and engine; the stream clocks and
 * watermark; statistics (SPEC §5, §9). The same pipeline serves files
 * (replay, join) and Kafka (run, demo).
 *
 * Ownership: the pipeline borrows the ruleset (it must outlive it) and the
 * input bytes of each call. Callbacks get lent data for the call only.
 * One thread.
 */
#ifndef C2WATCH_PIPELINE_H
#define C2WATCH_PIPELINE_H

#include "c2watch/decode.h"
#include "c2watch/engine.h"
#include "c2watch/join.h"
#include "c2watch/util.h"

/* Called for each rejected record: the original bytes and why. */
typedef void (*c2w_reject_fn)(void *ctx, c2w_source_kind_t src, const char *buf, size_t len,
                              const c2w_dec_result_t *res);

typedef struct c2w_pipeline_opts {
    c2w_decode_opts_t decode;
    c2w_join_opts_t join;
    c2w_engine_opts_t engine;
    const c2w_ruleset_t *rules; /* NULL: no engine (the join command) */
    bool no_port_filter; /* keep flows whose remote port no rule can match */
    c2w_alert_fn on_alert;
    void *alert_ctx;
    c2w_join_emit_fn on_flow; /* every flow leaving the join; may be NULL */
    void *flow_ctx;
    c2w_reject_fn on_reject; /* may be NULL */
    void *reject_ctx;
    c2w_refs_ops_t refs; /* source references held by join and engine */
} c2w_pipeline_opts_t;

typedef struct c2w_source_stats {
    uint64_t read, accepted, filtered;
    uint64_t rejected[C2W_REJ_COUNT];
    uint64_t skipped[C2W_SKIP_COUNT];
    c2w_time_t clock; /* latest event time (sensor time), 0 before the first */
} c2w_source_stats_t;

typedef struct c2w_pipeline c2w_pipeline_t;

/* NULL on OOM. */
c2w_pipeline_t *c2w_pipeline_new(const c2w_pipeline_opts_t *opts);
void c2w_pipeline_free(c2w_pipeline_t *p);

/* Declares that a source will deliver records: until it has delivered one,
 * or is done, it holds the watermark back (nothing expires). */
void c2w_pipeline_source_open(c2w_pipeline_t *p, c2w_source_kind_t src);
/* The source has ended (end of file) or gone idle: it stops holding the
 * watermark back. */
void c2w_pipeline_source_done(c2w_pipeline_t *p, c2w_source_kind_t src);

/* Decodes one record, counting it. Returns true with *out filled (the
 * caller passes it to c2w_pipeline_push or clears it) when it is usable. */
bool c2w_pipeline_decode(c2w_pipeline_t *p, c2w_source_kind_t src, const char *buf, size_t len,
                         c2w_record_t *out);
/* Sensor time of a decoded record (a Sysmon time corrected by its host's
 * current clock offset). Returns false for a Sysmon record of a host whose
 * offset is not known yet (*t is then its host time). */
bool c2w_pipeline_record_time(const c2w_pipeline_t *p, const c2w_record_t *rec, c2w_time_t *t);
/* The same, with the id of the record's host in the join's host table
 * (C2W_HOST_NONE when the record has no host or the host is not known
 * yet), for c2w_pipeline_push_id. */
bool c2w_pipeline_record_time_id(const c2w_pipeline_t *p, const c2w_record_t *rec, c2w_time_t *t, uint32_t *host_id);
/* A hint before a decoded record is pushed, a batch later: brings what its
 * push will look up first (its host's slot) into cache. */
void c2w_pipeline_prefetch(const c2w_pipeline_t *p, const c2w_record_t *rec);
/* Routes a decoded record through join and engine; takes ownership. */
void c2w_pipeline_push(c2w_pipeline_t *p, c2w_source_kind_t src, c2w_record_t *rec);
/* c2w_pipeline_push of a record whose host id c2w_pipeline_record_time_id
 * of this pipeline gave: its host is not looked up again by name. */
void c2w_pipeline_push_id(c2w_pipeline_t *p, c2w_source_kind_t src, c2w_record_t *rec, uint32_t host_id);
/* A record that the pipeline only counts and uses for its source's clock:
 * a flow or event 3 to a remote port no rule can match, holding no string
 * (the decoder's lean records). Then *own is its own time (for event 3, on
 * its host's clock), and pushing it needs only its kind, that time and its
 * host's id (c2w_pipeline_push_lean), so a caller that holds records back
 * can keep those three instead of the record. */
bool c2w_pipeline_lean(const c2w_pipeline_t *p, const c2w_record_t *rec, c2w_time_t *own);
/* c2w_pipeline_push_id of such a record, from its kind, own time and host
 * id (for event 3, an id c2w_pipeline_record_time_id gave, not
 * C2W_HOST_NONE). */
void c2w_pipeline_push_lean(c2w_pipeline_t *p, c2w_source_kind_t src, c2w_rec_kind_t kind, c2w_time_t own,
                            uint32_t host_id);
/* Counts a record rejected before decoding (a line over the size limit
 * that was never buffered whole): buf holds what is kept of it. */
void c2w_pipeline_reject(c2w_pipeline_t *p, c2w_source_kind_t src, c2w_reject_t reason, const char *buf, size_t len,
                         const char *detail);
/* decode + push. */
void c2w_pipeline_feed(c2w_pipeline_t *p, c2w_source_kind_t src, const char *buf, size_t len);
/* decode + push of a record read at ref (partition and offset). */
void c2w_pipeline_feed_ref(c2w_pipeline_t *p, c2w_source_kind_t src, const char *buf, size_t len, c2w_srcref_t ref);

/* Every source is quiet: waiting flows are decided now (c2w_join_settle). */
void c2w_pipeline_settle(c2w_pipeline_t *p);
/* End of input: pending flows leave the join unattributed, final rules
 * emit. Call once. */
void c2w_pipeline_finish(c2w_pipeline_t *p);

/* The current watermark (slowest active source's clock); 0 when none. */
c2w_time_t c2w_pipeline_watermark(const c2w_pipeline_t *p);
/* Latest valid event time of the input, any source (sensor time). */
c2w_time_t c2w_pipeline_latest(const c2w_pipeline_t *p);

const c2w_source_stats_t *c2w_pipeline_source_stats(const c2w_pipeline_t *p, c2w_source_kind_t src);
const c2w_join_t *c2w_pipeline_join(const c2w_pipeline_t *p);
const c2w_engine_t *c2w_pipeline_engine(const c2w_pipeline_t *p);

/* Appends one line per bound that evicted since the last call ("c2watch:
 * bound join.max_pending reached: ..."), so that hitting a bound is
 * logged once per interval however often it happens. Returns the number of
 * lines appended. */
int c2w_pipeline_bounds_report(c2w_pipeline_t *p, c2w_buf_t *out);

/* Statistics as text lines (for stderr) or one JSON object (no newline). */
int c2w_pipeline_stats_text(const c2w_pipeline_t *p, c2w_buf_t *out);
int c2w_pipeline_stats_json(const c2w_pipeline_t *p, c2w_buf_t *out);

#endif
