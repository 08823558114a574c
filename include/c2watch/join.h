/*
 * join.h — attributes each sensor flow to the Windows process that opened it
 * (SPEC §3).
 *
 * Ownership: every add function takes ownership of the record it is given
 * (its strings move into the join; the struct itself stays the caller's and
 * is zeroed). Attributed flows are lent to the emit callback for the
 * duration of the call; the join frees them afterwards. One thread.
 */
#ifndef C2WATCH_JOIN_H
#define C2WATCH_JOIN_H

#include "c2watch/record.h"

typedef struct c2w_join_opts {
    c2w_time_t max_skew; /* match tolerance after offset correction; default 120 s */
    c2w_time_t ttl; /* how long either side waits; default 2 h */
    c2w_time_t uid_ttl; /* how long a Zeek uid is remembered; default 26 h */
    c2w_time_t max_offset; /* largest host clock offset learnt; default 7 d */
    size_t max_pending; /* pending flows + events; default 1 000 000 */
    size_t max_uids; /* remembered uids; default 2 000 000 */
    size_t max_procs; /* event 1 and event 22 enrichment entries; default 200 000 */
    size_t max_hosts; /* hosts with a clock estimate; default 100 000 */
    uint16_t ephemeral_min; /* source ports >= this give clock samples; default 49152 */
    c2w_refs_ops_t refs; /* told of every flow and event the join keeps waiting */
} c2w_join_opts_t;

typedef struct c2w_join_stats {
    uint64_t flows; /* flows offered (after de-duplication) */
    uint64_t duplicates; /* flows dropped as redelivered (uid seen) */
    uint64_t netconns; /* initiated event 3 offered */
    uint64_t inbound; /* event 3 with Initiated=false (never attribute) */
    uint64_t attributed; /* flows emitted with a process */
    uint64_t unattributed; /* flows emitted without one (wait expired or end) */
    uint64_t evicted_flows; /* pending flows pushed out by max_pending (emitted unattributed) */
    uint64_t evicted_events; /* pending events pushed out by max_pending */
    uint64_t evicted_uids; /* uids forgotten early because of max_uids */
    uint64_t evicted_procs; /* enrichment entries pushed out by max_procs */
    uint64_t hosts_over_limit; /* events of hosts beyond max_hosts (offset 0) */
    uint64_t offset_samples; /* clock samples taken */
} c2w_join_stats_t;

/* Called once per flow leaving the join, attributed or not. */
typedef void (*c2w_join_emit_fn)(void *ctx, const c2w_attributed_t *a);

typedef struct c2w_join c2w_join_t;

/* opts may be NULL (defaults); zero fields take their defaults. */
c2w_join_t *c2w_join_new(const c2w_join_opts_t *opts, c2w_join_emit_fn emit, void *ctx);
/* Frees all pending state without emitting it. */
void c2w_join_free(c2w_join_t *j);

/* A flow from the sensor. Emits it now when its process is known. */
void c2w_join_add_flow(c2w_join_t *j, c2w_flow_t *flow);
/* A Sysmon event 3. Emits the pending flows it attributes. */
void c2w_join_add_netconn(c2w_join_t *j, c2w_netconn_t *ev);
/* Sysmon event 1 (command line, parent) and event 22 (DNS answers). */
void c2w_join_add_proc(c2w_join_t *j, c2w_procinfo_t *p);
void c2w_join_add_dns(c2w_join_t *j, c2w_dnsinfo_t *d);
/* The same for a record whose host's id the caller has (given by
 * c2w_join_host_note_id for that record's host): no second lookup by
 * name. C2W_HOST_NONE: looked up by name. */
void c2w_join_add_netconn_id(c2w_join_t *j, c2w_netconn_t *ev, uint32_t host_id);
void c2w_join_add_proc_id(c2w_join_t *j, c2w_procinfo_t *p, uint32_t host_id);
void c2w_join_add_dns_id(c2w_join_t *j, c2w_dnsinfo_t *d, uint32_t host_id);

/* Notes that host logged an event at host_time (events that never reach
 * the join still count for the host's latest time), and converts that
 * time to sensor time as c2w_join_sensor_time does, with one lookup. */
bool c2w_join_host_note(c2w_join_t *j, const char *host, c2w_time_t host_time, c2w_time_t *out);

/* Asks the processor for the host table's slot of `host` ahead of
 * c2w_join_host_note (a hint: nothing changes). A batch of records decoded
 * together would otherwise meet that slot out of cache, one miss each. */
void c2w_join_host_prefetch(const c2w_join_t *j, const char *host);

/* Host time of `host` converted to sensor time with its current offset.
 * Returns false (and host_time unchanged in *out) while the host has no
 * clock sample yet: its sensor time is then unknown. */
bool c2w_join_sensor_time(const c2w_join_t *j, const char *host, c2w_time_t host_time, c2w_time_t *out);

/* A host's place in the join's host table: the same for the life of the
 * join (hosts are never moved or removed). C2W_HOST_NONE: not known. */
#define C2W_HOST_NONE UINT32_MAX
/* c2w_join_sensor_time that also gives the host's id (C2W_HOST_NONE while
 * the host has never been noted). */
bool c2w_join_sensor_time_id(const c2w_join_t *j, const char *host, c2w_time_t host_time, c2w_time_t *out,
                             uint32_t *id);
/* c2w_join_host_note for a host whose id this join gave (by
 * c2w_join_sensor_time_id) for the same name: no lookup by name.
 * *id C2W_HOST_NONE: looked up by name, as c2w_join_host_note does. On
 * return *id is the host's id (C2W_HOST_NONE: the host is not kept, over
 * max_hosts or out of memory), for the c2w_join_add_*_id of the record. */
bool c2w_join_host_note_id(c2w_join_t *j, uint32_t *id, const char *host, c2w_time_t host_time, c2w_time_t *out);

/* Expires state older than watermark - ttl: pending flows are emitted
 * unattributed, pending events and uids are dropped. An event of a host
 * without a clock sample may be up to max_offset late in sensor time, so
 * it waits that much longer. */
void c2w_join_advance(c2w_join_t *j, c2w_time_t watermark);
/* Quiet input: decides every waiting flow now, as if the watermark had
 * passed its decision time (a flow with no fitting event keeps waiting for
 * one until ttl). Used when every source has been idle for a while: with
 * nothing arriving, no nearer event can come. */
void c2w_join_settle(c2w_join_t *j);
/* End of input: every pending flow is emitted unattributed. */
void c2w_join_flush(c2w_join_t *j);

const c2w_join_stats_t *c2w_join_stats(const c2w_join_t *j);
/* Number of pending flows and events (for memory accounting). */
size_t c2w_join_pending(const c2w_join_t *j);

/* Hosts with clock estimates, in first-seen order: i < count. */
size_t c2w_join_host_count(const c2w_join_t *j);
/* latest_sensor_time: the host's latest event in sensor time (0 while the
 * host has no clock sample). */
void c2w_join_host_info(const c2w_join_t *j, size_t i, const char **host, c2w_time_t *offset,
                        size_t *samples, c2w_time_t *latest_sensor_time);

#endif
