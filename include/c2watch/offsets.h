/*
 * offsets.h — which input offsets still contribute to live state.
 *
 * Stateful stages hold a reference on the source (partition, offset) of
 * every record they keep and drop it when the record leaves; the earliest
 * offset still held per partition is where a restarted instance replays
 * from to rebuild the same state. Partitions are 1-based (c2w_srcref_t).
 * One thread.
 */
#ifndef C2WATCH_OFFSETS_H
#define C2WATCH_OFFSETS_H

#include "c2watch/record.h"

typedef struct c2w_offsets c2w_offsets_t;

/* A tracker for partitions 1..n_parts. NULL on OOM. */
c2w_offsets_t *c2w_offsets_new(size_t n_parts);
void c2w_offsets_free(c2w_offsets_t *o);

/* Holds / drops one reference (references outside 1..n_parts are ignored). */
void c2w_offsets_hold(c2w_offsets_t *o, c2w_srcref_t ref);
void c2w_offsets_drop(c2w_offsets_t *o, c2w_srcref_t ref);

/* Earliest offset of part still held, or -1 when nothing is. */
int64_t c2w_offsets_earliest(const c2w_offsets_t *o, uint32_t part);
/* References held in all partitions. */
uint64_t c2w_offsets_held(const c2w_offsets_t *o);

/* Callbacks that hold/drop on this tracker, for join and engine. */
c2w_refs_ops_t c2w_offsets_ops(c2w_offsets_t *o);

#endif
