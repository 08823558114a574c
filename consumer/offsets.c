/*
 * offsets.c — reference counts on input offsets, per partition.
 *
 * Records of a partition arrive in offset order, so new offsets are
 * appended; a partition's entries stay sorted, and the ones whose count
 * falls to zero at the front are dropped. The earliest held offset is the
 * first entry.
 */
#include "c2watch/offsets.h"

#include <stdlib.h>
#include <string.h>

typedef struct part {
    int64_t *off;
    uint32_t *cnt;
    size_t head, n, cap;
} part;

struct c2w_offsets {
    part *parts;
    size_t n_parts;
    uint64_t held;
};

c2w_offsets_t *c2w_offsets_new(size_t n_parts)
{
    c2w_offsets_t *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->parts = calloc(n_parts ? n_parts : 1, sizeof(*o->parts));
    if (!o->parts) {
        free(o);
        return NULL;
    }
    o->n_parts = n_parts;
    return o;
}

void c2w_offsets_free(c2w_offsets_t *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n_parts; i++) {
        free(o->parts[i].off);
        free(o->parts[i].cnt);
    }
    free(o->parts);
    free(o);
}

static part *part_of(const c2w_offsets_t *o, c2w_srcref_t r)
{
    return r.part >= 1 && r.part <= o->n_parts ? &o->parts[r.part - 1] : NULL;
}

/* Index of off in p[head .. n), or where it would go. */
static size_t find(const part *p, int64_t off)
{
    size_t lo = p->head, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->off[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int reserve(part *p)
{
    if (p->head > 0 && p->head >= p->n / 2) {
        memmove(p->off, p->off + p->head, (p->n - p->head) * sizeof(*p->off));
        memmove(p->cnt, p->cnt + p->head, (p->n - p->head) * sizeof(*p->cnt));
        p->n -= p->head;
        p->head = 0;
    }
    if (p->n < p->cap)
        return 0;
    size_t cap = p->cap ? p->cap * 2 : 64;
    int64_t *off = realloc(p->off, cap * sizeof(*off));
    if (!off)
        return -1;
    p->off = off;
    uint32_t *cnt = realloc(p->cnt, cap * sizeof(*cnt));
    if (!cnt)
        return -1;
    p->cnt = cnt;
    p->cap = cap;
    return 0;
}

void c2w_offsets_hold(c2w_offsets_t *o, c2w_srcref_t r)
{
    part *p = part_of(o, r);
    if (!p)
        return;
    size_t i = p->n > p->head && p->off[p->n - 1] < r.off ? p->n : find(p, r.off);
    if (i < p->n && p->off[i] == r.off) {
        p->cnt[i]++;
        o->held++;
        return;
    }
    size_t rel = i - p->head;
    if (reserve(p))
        return; /* out of memory: this reference is not tracked */
    i = p->head + rel;
    memmove(p->off + i + 1, p->off + i, (p->n - i) * sizeof(*p->off));
    memmove(p->cnt + i + 1, p->cnt + i, (p->n - i) * sizeof(*p->cnt));
    p->off[i] = r.off;
    p->cnt[i] = 1;
    p->n++;
    o->held++;
}

void c2w_offsets_drop(c2w_offsets_t *o, c2w_srcref_t r)
{
    part *p = part_of(o, r);
    if (!p)
        return;
    size_t i = find(p, r.off);
    if (i >= p->n || p->off[i] != r.off || p->cnt[i] == 0)
        return;
    p->cnt[i]--;
    o->held--;
    while (p->head < p->n && p->cnt[p->head] == 0)
        p->head++;
    if (p->head == p->n)
        p->head = p->n = 0;
}

int64_t c2w_offsets_earliest(const c2w_offsets_t *o, uint32_t part_no)
{
    if (part_no < 1 || part_no > o->n_parts)
        return -1;
    const part *p = &o->parts[part_no - 1];
    return p->head < p->n ? p->off[p->head] : -1;
}

uint64_t c2w_offsets_held(const c2w_offsets_t *o)
{
    return o->held;
}

static void ops_hold(void *ctx, c2w_srcref_t r)
{
    c2w_offsets_hold(ctx, r);
}

static void ops_drop(void *ctx, c2w_srcref_t r)
{
    c2w_offsets_drop(ctx, r);
}

c2w_refs_ops_t c2w_offsets_ops(c2w_offsets_t *o)
{
    c2w_refs_ops_t ops = { ops_hold, ops_drop, o };
    return ops;
}
