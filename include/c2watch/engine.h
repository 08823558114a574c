/*
 * engine.h — per rule: where, extend, group by, exact sliding windows,
 * having, and emission (SPEC §5).
 *
 * Ownership: the engine borrows the ruleset (it must outlive the engine)
 * and copies what it keeps of each attributed flow. Alerts are lent to the
 * callback for the duration of the call. One thread.
 */
#ifndef C2WATCH_ENGINE_H
#define C2WATCH_ENGINE_H

#include "c2watch/alert.h"
#include "c2watch/rule.h"

typedef struct c2w_engine_opts {
    c2w_emit_t emit_default; /* for rules that do not say: FINAL (replay) or THRESHOLD (run) */
    c2w_emit_t emit_override; /* --emit: applies to every rule; DEFAULT = none */
    c2w_time_t now; /* --now: the end of the final window; 0 = the input's latest time */
    size_t max_groups; /* live groups over all rules; default 1 000 000 */
    size_t max_contribs; /* contributions kept per group; default 100 000 */
    size_t max_evidence; /* uids / community ids per alert; default 10 */
    c2w_refs_ops_t refs; /* told of the sources of every live contribution and
                            of each suppressing alert's trigger */
} c2w_engine_opts_t;

typedef struct c2w_engine_stats {
    uint64_t flows; /* attributed flows offered */
    uint64_t matched; /* (flow, rule) pairs that passed where */
    uint64_t late; /* contributions already outside the window on arrival */
    uint64_t groups; /* groups created */
    uint64_t evicted_groups; /* groups pushed out by max_groups */
    uint64_t evicted_contribs; /* contributions pushed out by max_contribs */
    uint64_t alerts; /* alerts emitted */
    uint64_t suppressed; /* threshold crossings silenced by suppress */
} c2w_engine_stats_t;

typedef void (*c2w_alert_fn)(void *ctx, const c2w_alert_t *alert);

typedef struct c2w_engine c2w_engine_t;

c2w_engine_t *c2w_engine_new(const c2w_ruleset_t *rs, const c2w_engine_opts_t *opts, c2w_alert_fn fn,
                             void *ctx);
void c2w_engine_free(c2w_engine_t *e);

/* One flow leaving the join. Threshold rules may alert from here. */
void c2w_engine_add(c2w_engine_t *e, const c2w_attributed_t *a);
/* Moves the stream clock (event time) forward: expires window state. */
void c2w_engine_advance(c2w_engine_t *e, c2w_time_t clock);
/* End of input: final rules emit one alert per group satisfying having
 * over (now - window, now], sorted by the first aggregate descending.
 * now = opts.now when set, else the argument. */
void c2w_engine_finish(c2w_engine_t *e, c2w_time_t now);

const c2w_engine_stats_t *c2w_engine_stats(const c2w_engine_t *e);
size_t c2w_engine_group_count(const c2w_engine_t *e);

#endif
