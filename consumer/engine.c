/*
 * engine.c — grouping, exact sliding windows and emission (SPEC §5).
 *
 * Per group, the contributions (one per flow that passed where) are kept in
 * an array sorted by Timestamp; flows arrive roughly in time order, so an
 * insertion is usually an append. count and sum are kept up to date on
 * every insertion and expiry; dcount, min, max and make_set are computed
 * from the live contributions when an alert needs them (or when having
 * tests them), which keeps them exact without per-aggregate structures.
 *
 * Window membership is exact on integer microseconds: a contribution is
 * live while Timestamp > clock - window, so a flow exactly `window` old is
 * out. The clock is the latest flow Timestamp offered to the engine (never
 * past --now when one is given).
 */
#include "c2watch/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2watch/util.h"

typedef struct contrib {
    c2w_time_t ts;
    c2w_srcref_t src[2]; /* the flow's and the Sysmon event's sources */
    uint64_t seq; /* insertion number within the group */
    char *uid, *community_id;
    c2w_value_t *args; /* one per aggregate; STR values own their string */
} contrib;

typedef struct group {
    struct group *bnext;
    struct group *prev, *next; /* LRU: least recently updated first */
    uint64_t hash;
    size_t rule; /* index of the rule */
    size_t klen;
    contrib *c; /* sorted by ts; live ones are c[head .. n) */
    size_t head, n, cap;
    c2w_time_t suppressed_until; /* threshold: silent while clock < this */
    c2w_srcref_t trig[2]; /* sources of the last alert's trigger, held while it suppresses */
    uint64_t next_seq; /* insertion counter */
    uint64_t alerted_seq; /* contributions inserted before this took part in the last alert */
    bool alerted;
    char *guid, *command_line, *remote_url; /* latest evidence */
    char key[]; /* the rule index, then the serialized by-values (klen bytes):
                   the by-values are read back from it (key_decode) */
} group;

typedef struct rule_state {
    const c2w_rule_t *r;
    c2w_emit_t mode;
    c2w_value_t *ext; /* scratch for extend values */
} rule_state;

struct c2w_engine {
    const c2w_ruleset_t *rs;
    c2w_engine_opts_t o;
    c2w_alert_fn fn;
    void *ctx;
    rule_state *rules;
    size_t n_rules;
    group **b;
    size_t nb, n_groups;
    group *lru_head, *lru_tail;
    c2w_time_t clock;
    bool clock_set;
    c2w_buf_t kbuf, tbuf;
    c2w_engine_stats_t st;
};

static void value_free(c2w_value_t *v)
{
    if (v->type == C2W_T_STR && v->present)
        free((char *)v->s);
}

/* Deep copy: a STR value gets its own string. Returns 0 or -1 on OOM. */
static int value_copy(c2w_value_t *dst, const c2w_value_t *src)
{
    *dst = *src;
    if (src->type == C2W_T_STR) {
        if (!src->present) {
            dst->s = "";
            return 0;
        }
        dst->s = c2w_strdup_opt(src->s);
        if (!dst->s) {
            dst->present = false;
            dst->s = "";
            return -1;
        }
    }
    return 0;
}

static int value_cmp(const c2w_value_t *a, const c2w_value_t *b)
{
    if (a->present != b->present)
        return a->present ? 1 : -1;
    if (!a->present)
        return 0;
    switch (a->type) {
    case C2W_T_STR:
        return strcmp(a->s, b->s);
    case C2W_T_INT:
        return a->u < b->u ? -1 : a->u > b->u;
    case C2W_T_NUM:
        return a->d < b->d ? -1 : a->d > b->d;
    case C2W_T_TIME:
        return a->t < b->t ? -1 : a->t > b->t;
    case C2W_T_IP:
        if (a->ip.family != b->ip.family)
            return a->ip.family < b->ip.family ? -1 : 1;
        return memcmp(a->ip.addr, b->ip.addr, 16);
    }
    return 0;
}

static int key_append(c2w_buf_t *b, const c2w_value_t *v)
{
    uint8_t tag = v->present ? (uint8_t)v->type : 0xff;
    if (c2w_buf_append(b, (const char *)&tag, 1))
        return -1;
    if (!v->present)
        return 0;
    switch (v->type) {
    case C2W_T_STR:
        return c2w_buf_append(b, v->s, strlen(v->s) + 1);
    case C2W_T_INT:
        return c2w_buf_append(b, (const char *)&v->u, sizeof(v->u));
    case C2W_T_NUM:
        return c2w_buf_append(b, (const char *)&v->d, sizeof(v->d));
    case C2W_T_TIME:
        return c2w_buf_append(b, (const char *)&v->t, sizeof(v->t));
    case C2W_T_IP:
        return c2w_buf_append(b, (const char *)&v->ip, sizeof(v->ip));
    }
    return 0;
}

c2w_engine_t *c2w_engine_new(const c2w_ruleset_t *rs, const c2w_engine_opts_t *opts, c2w_alert_fn fn, void *ctx)
{
    c2w_engine_t *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->rs = rs;
    if (opts)
        e->o = *opts;
    if (e->o.emit_default == C2W_EMIT_DEFAULT)
        e->o.emit_default = C2W_EMIT_FINAL;
    if (!e->o.max_groups)
        e->o.max_groups = 1000000;
    if (!e->o.max_contribs)
        e->o.max_contribs = 100000;
    if (!e->o.max_evidence)
        e->o.max_evidence = 10;
    e->fn = fn;
    e->ctx = ctx;
    e->n_rules = c2w_ruleset_count(rs);
    e->rules = calloc(e->n_rules ? e->n_rules : 1, sizeof(*e->rules));
    e->nb = 1024;
    e->b = calloc(e->nb, sizeof(*e->b));
    if (!e->rules || !e->b)
        goto out_free;
    for (size_t i = 0; i < e->n_rules; i++) {
        rule_state *s = &e->rules[i];
        s->r = c2w_ruleset_rule(rs, i);
        s->mode = e->o.emit_override != C2W_EMIT_DEFAULT ? e->o.emit_override
                  : s->r->emit != C2W_EMIT_DEFAULT      ? s->r->emit
                                                        : e->o.emit_default;
        s->ext = calloc(s->r->n_ext ? s->r->n_ext : 1, sizeof(*s->ext));
        if (!s->ext)
            goto out_free;
    }
    return e;
out_free:
    c2w_engine_free(e);
    return NULL;
}

static void refs_apply(const c2w_engine_t *e, const c2w_srcref_t *r, size_t n, bool hold)
{
    void (*fn)(void *, c2w_srcref_t) = hold ? e->o.refs.hold : e->o.refs.drop;
    for (size_t i = 0; i < n && fn; i++)
        if (r[i].part)
            fn(e->o.refs.ctx, r[i]);
}

static void contrib_free(const c2w_engine_t *e, contrib *c, size_t n_args)
{
    refs_apply(e, c->src, 2, false);
    free(c->uid);
    free(c->community_id);
    if (c->args) {
        for (size_t i = 0; i < n_args; i++)
            value_free(&c->args[i]);
        free(c->args);
    }
}

static void group_free(c2w_engine_t *e, group *g)
{
    const c2w_rule_t *r = e->rules[g->rule].r;
    for (size_t i = g->head; i < g->n; i++)
        contrib_free(e, &g->c[i], r->n_aggs);
    refs_apply(e, g->trig, 2, false);
    free(g->c);
    free(g->guid);
    free(g->command_line);
    free(g->remote_url);
    free(g);
}

void c2w_engine_free(c2w_engine_t *e)
{
    if (!e)
        return;
    group *g = e->lru_head;
    while (g) {
        group *nx = g->next;
        group_free(e, g);
        g = nx;
    }
    if (e->rules)
        for (size_t i = 0; i < e->n_rules; i++)
            free(e->rules[i].ext);
    free(e->rules);
    free(e->b);
    c2w_buf_free(&e->kbuf);
    c2w_buf_free(&e->tbuf);
    free(e);
}

/* ---- group table ---- */

static void lru_unlink(c2w_engine_t *e, group *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else
        e->lru_head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    else
        e->lru_tail = g->prev;
    g->prev = g->next = NULL;
}

static void lru_append(c2w_engine_t *e, group *g)
{
    g->prev = e->lru_tail;
    g->next = NULL;
    if (e->lru_tail)
        e->lru_tail->next = g;
    else
        e->lru_head = g;
    e->lru_tail = g;
}

static void group_remove(c2w_engine_t *e, group *g)
{
    group **pp = &e->b[g->hash & (e->nb - 1)];
    while (*pp != g)
        pp = &(*pp)->bnext;
    *pp = g->bnext;
    lru_unlink(e, g);
    e->n_groups--;
    group_free(e, g);
}

static void table_grow(c2w_engine_t *e)
{
    size_t nb = e->nb * 2;
    group **b = calloc(nb, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < e->nb; i++) {
        group *g = e->b[i];
        while (g) {
            group *nx = g->bnext;
            g->bnext = b[g->hash & (nb - 1)];
            b[g->hash & (nb - 1)] = g;
            g = nx;
        }
    }
    free(e->b);
    e->b = b;
    e->nb = nb;
}

static group *group_get(c2w_engine_t *e, size_t ri, const c2w_attributed_t *a)
{
    rule_state *s = &e->rules[ri];
    const c2w_rule_t *r = s->r;
    c2w_buf_reset(&e->kbuf);
    if (c2w_buf_append(&e->kbuf, (const char *)&ri, sizeof(ri)))
        return NULL;
    c2w_value_t vals[64];
    size_t nby = r->n_by < 64 ? r->n_by : 64;
    for (size_t i = 0; i < nby; i++) {
        c2w_rule_field_get(r, a, s->ext, r->by[i], &vals[i]);
        if (key_append(&e->kbuf, &vals[i]))
            return NULL;
    }
    uint64_t h = c2w_hash_mix(c2w_hash(C2W_FNV_SEED, e->kbuf.data, e->kbuf.len));
    for (group *g = e->b[h & (e->nb - 1)]; g; g = g->bnext)
        if (g->hash == h && g->klen == e->kbuf.len && memcmp(g->key, e->kbuf.data, g->klen) == 0) {
            lru_unlink(e, g);
            lru_append(e, g);
            return g;
        }
    if (e->n_groups >= e->o.max_groups && e->lru_head) {
        group_remove(e, e->lru_head);
        e->st.evicted_groups++;
    }
    /* one allocation per group: the key is the by-values */
    group *g = calloc(1, sizeof(*g) + e->kbuf.len);
    if (!g)
        return NULL;
    g->hash = h;
    g->rule = ri;
    g->klen = e->kbuf.len;
    memcpy(g->key, e->kbuf.data, g->klen);
    if (e->n_groups >= e->nb)
        table_grow(e);
    g->bnext = e->b[h & (e->nb - 1)];
    e->b[h & (e->nb - 1)] = g;
    lru_append(e, g);
    e->n_groups++;
    e->st.groups++;
    return g;
}

/* ---- contributions ---- */

static void drop_front(c2w_engine_t *e, group *g)
{
    const c2w_rule_t *r = e->rules[g->rule].r;
    contrib_free(e, &g->c[g->head], r->n_aggs);
    g->head++;
    if (g->head == g->n)
        g->head = g->n = 0;
}

/* Drops contributions with ts <= limit. */
static void group_expire(c2w_engine_t *e, group *g, c2w_time_t limit)
{
    while (g->head < g->n && g->c[g->head].ts <= limit)
        drop_front(e, g);
}

static int group_insert(c2w_engine_t *e, group *g, contrib *nc)
{
    if (g->n - g->head >= e->o.max_contribs) {
        drop_front(e, g);
        e->st.evicted_contribs++;
    }
    if (g->n == g->cap) {
        if (g->head > 0) {
            memmove(g->c, g->c + g->head, (g->n - g->head) * sizeof(*g->c));
            g->n -= g->head;
            g->head = 0;
        }
        if (g->n == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 2;
            contrib *c = realloc(g->c, cap * sizeof(*c));
            if (!c)
                return -1;
            g->c = c;
            g->cap = cap;
        }
    }
    size_t pos = g->n;
    while (pos > g->head && g->c[pos - 1].ts > nc->ts)
        pos--;
    memmove(&g->c[pos + 1], &g->c[pos], (g->n - pos) * sizeof(*g->c));
    g->c[pos] = *nc;
    g->n++;
    return 0;
}

static void set_evidence(char **slot, const char *s)
{
    if (!s)
        return;
    char *d = c2w_strdup_opt(s);
    if (!d)
        return;
    free(*slot);
    *slot = d;
}

/* ---- by-values, read back from the key ---- */

/* The n by-values of g; strings point into g->key. */
static void key_decode(const group *g, const c2w_rule_t *r, c2w_value_t *out, size_t n)
{
    size_t pos = sizeof(size_t);
    for (size_t i = 0; i < n; i++) {
        c2w_value_t *v = &out[i];
        memset(v, 0, sizeof(*v));
        v->type = c2w_rule_field_type(r, r->by[i]);
        v->s = "";
        uint8_t tag = (uint8_t)g->key[pos++];
        if (tag == 0xff)
            continue; /* absent */
        v->present = true;
        switch (v->type) {
        case C2W_T_STR:
            v->s = g->key + pos;
            pos += strlen(v->s) + 1;
            break;
        case C2W_T_INT:
            memcpy(&v->u, g->key + pos, sizeof(v->u));
            pos += sizeof(v->u);
            break;
        case C2W_T_NUM:
            memcpy(&v->d, g->key + pos, sizeof(v->d));
            pos += sizeof(v->d);
            break;
        case C2W_T_TIME:
            memcpy(&v->t, g->key + pos, sizeof(v->t));
            pos += sizeof(v->t);
            break;
        case C2W_T_IP:
            memcpy(&v->ip, g->key + pos, sizeof(v->ip));
            pos += sizeof(v->ip);
            break;
        }
    }
}

/* The group key as text: by-values joined with '|' (the Kafka message key). */
static int key_text(const c2w_value_t *by, size_t n, c2w_buf_t *out)
{
    int err = c2w_buf_puts(out, "");
    for (size_t i = 0; i < n; i++) {
        if (i)
            err |= c2w_buf_puts(out, "|");
        err |= c2w_value_to_text(&by[i], out);
    }
    return err;
}

/* ---- figures ---- */

typedef struct figures {
    c2w_alert_col_t *cols;
    c2w_value_t *aggs;
    c2w_buf_t *sets; /* make_set JSON per aggregate */
    const char **uids, **cids;
    size_t n_uids, n_cids;
} figures;

static bool value_in(const c2w_value_t *const *seen, size_t n, const c2w_value_t *v)
{
    for (size_t i = 0; i < n; i++)
        if (value_cmp(seen[i], v) == 0)
            return true;
    return false;
}

/* Aggregates over contributions c[lo .. hi). dcount and make_set compare
 * values exactly; a group holds at most max_contribs of them. */
static void compute_aggs(c2w_engine_t *e, group *g, size_t lo, size_t hi, c2w_value_t *out, c2w_buf_t *sets)
{
    const c2w_rule_t *r = e->rules[g->rule].r;
    const c2w_value_t **seen = NULL;
    if (hi > lo)
        seen = malloc((hi - lo) * sizeof(*seen));
    for (size_t i = 0; i < r->n_aggs; i++) {
        const c2w_agg_t *ag = &r->aggs[i];
        c2w_value_t *v = &out[i];
        memset(v, 0, sizeof(*v));
        v->type = ag->type;
        v->present = true;
        switch (ag->kind) {
        case C2W_AGG_COUNT:
            v->u = hi - lo;
            break;
        case C2W_AGG_SUM:
            if (ag->arg_type == C2W_T_INT) {
                uint64_t s = 0;
                for (size_t k = lo; k < hi; k++)
                    if (g->c[k].args[i].present)
                        s += g->c[k].args[i].u;
                v->u = s;
            } else {
                double s = 0;
                for (size_t k = lo; k < hi; k++)
                    if (g->c[k].args[i].present)
                        s += g->c[k].args[i].d;
                v->d = s;
            }
            break;
        case C2W_AGG_MIN:
        case C2W_AGG_MAX: {
            const c2w_value_t *best = NULL;
            for (size_t k = lo; k < hi; k++) {
                const c2w_value_t *x = &g->c[k].args[i];
                if (!x->present)
                    continue;
                int c = best ? value_cmp(x, best) : 0;
                if (!best || (ag->kind == C2W_AGG_MIN ? c < 0 : c > 0))
                    best = x;
            }
            if (best)
                *v = *best; /* borrowed: lives in the contribution */
            else
                v->present = false;
            break;
        }
        case C2W_AGG_DCOUNT:
        case C2W_AGG_MAKE_SET: {
            size_t n = 0;
            c2w_buf_t *sb = &sets[i];
            c2w_buf_reset(sb);
            if (ag->kind == C2W_AGG_MAKE_SET)
                c2w_buf_puts(sb, "[");
            for (size_t k = lo; k < hi && seen; k++) {
                const c2w_value_t *x = &g->c[k].args[i];
                if (!x->present || value_in(seen, n, x))
                    continue;
                if (ag->kind == C2W_AGG_MAKE_SET) {
                    if (n >= ag->max_set)
                        break;
                    if (n)
                        c2w_buf_puts(sb, ",");
                    if (x->type == C2W_T_INT) {
                        char num[24];
                        snprintf(num, sizeof(num), "%llu", (unsigned long long)x->u);
                        c2w_buf_puts(sb, num);
                    } else {
                        c2w_buf_t t = { 0 };
                        c2w_value_to_text(x, &t);
                        c2w_json_string(sb, t.data ? t.data : "");
                        c2w_buf_free(&t);
                    }
                }
                seen[n++] = x;
            }
            if (ag->kind == C2W_AGG_MAKE_SET) {
                c2w_buf_puts(sb, "]");
                v->type = C2W_T_STR;
                v->s = sb->data ? sb->data : "[]";
            } else {
                v->u = n;
            }
            break;
        }
        }
    }
    free(seen);
}

/* Emits one alert for group g over contributions c[lo .. hi). */
static void emit_alert(c2w_engine_t *e, group *g, size_t lo, size_t hi, c2w_emit_t mode, c2w_time_t wstart,
                       c2w_time_t wend, c2w_time_t anchor, const char *anchor_uid)
{
    const c2w_rule_t *r = e->rules[g->rule].r;
    size_t na = r->n_aggs ? r->n_aggs : 1;
    c2w_value_t *aggs = calloc(na, sizeof(*aggs));
    c2w_buf_t *sets = calloc(na, sizeof(*sets));
    c2w_alert_col_t *cols = calloc(r->n_project ? r->n_project : 1, sizeof(*cols));
    size_t ne = e->o.max_evidence;
    const char **uids = calloc(ne, sizeof(*uids));
    const char **cids = calloc(ne, sizeof(*cids));
    c2w_value_t *by = calloc(r->n_by ? r->n_by : 1, sizeof(*by));
    c2w_buf_t ktext = { 0 };
    if (!aggs || !sets || !cols || !uids || !cids || !by)
        goto out_free;
    key_decode(g, r, by, r->n_by);
    if (key_text(by, r->n_by, &ktext) || !ktext.data)
        goto out_free;
    compute_aggs(e, g, lo, hi, aggs, sets);
    for (size_t i = 0; i < r->n_project; i++) {
        const c2w_column_t *pc = &r->project[i];
        cols[i].name = pc->name;
        if (pc->is_agg) {
            cols[i].v = aggs[pc->index];
            if (r->aggs[pc->index].kind == C2W_AGG_MAKE_SET)
                cols[i].raw_json = cols[i].v.s;
        } else {
            cols[i].v = by[pc->index];
        }
    }
    size_t nu = 0, nc = 0;
    for (size_t k = hi; k > lo && (nu < ne || nc < ne); k--) {
        const contrib *c = &g->c[k - 1];
        if (c->uid && nu < ne)
            uids[nu++] = c->uid;
        if (c->community_id && nc < ne)
            cids[nc++] = c->community_id;
    }
    c2w_alert_t al = {
        .rule = r,
        .mode = mode,
        .window_start = wstart,
        .window_end = wend,
        .cols = cols,
        .n_cols = r->n_project,
        .group_key = ktext.data,
        .uids = uids,
        .n_uids = nu,
        .community_ids = cids,
        .n_community_ids = nc,
        .process_guid = g->guid,
        .command_line = g->command_line,
        .remote_url = g->remote_url,
    };
    c2w_alert_make_id(r->id, ktext.data, anchor, anchor_uid, al.alert_id);
    e->st.alerts++;
    if (e->fn)
        e->fn(e->ctx, &al);
out_free:
    if (sets)
        for (size_t i = 0; i < na; i++)
            c2w_buf_free(&sets[i]);
    free(sets);
    free(aggs);
    free(cols);
    free(uids);
    free(cids);
    free(by);
    c2w_buf_free(&ktext);
}

static c2w_time_t drop_clock(const c2w_engine_t *e)
{
    if (e->o.now && e->o.now < e->clock)
        return e->o.now;
    return e->clock;
}

/* Threshold: evaluate having over the live window after an insertion. */
static void threshold_check(c2w_engine_t *e, group *g, const contrib *trigger)
{
    const c2w_rule_t *r = e->rules[g->rule].r;
    size_t na = r->n_aggs ? r->n_aggs : 1;
    c2w_value_t *aggs = calloc(na, sizeof(*aggs));
    c2w_buf_t *sets = calloc(na, sizeof(*sets));
    bool hit = false;
    if (aggs && sets) {
        compute_aggs(e, g, g->head, g->n, aggs, sets);
        hit = c2w_rule_having(r, aggs);
    }
    if (sets)
        for (size_t i = 0; i < na; i++)
            c2w_buf_free(&sets[i]);
    free(sets);
    free(aggs);
    if (!hit)
        return;
    if (g->alerted && e->clock < g->suppressed_until) {
        e->st.suppressed++;
        return;
    }
    c2w_time_t sup = r->suppress ? r->suppress : r->window;
    /* The id is anchored on the earliest flow in the window that had no
     * part in the group's previous alert, not on the one that crossed:
     * flows of several partitions arrive in varying order, and the earliest
     * one is the same whichever came last. */
    const contrib *first = trigger;
    for (size_t k = g->head; k < g->n; k++)
        if (g->c[k].seq >= g->alerted_seq) {
            first = &g->c[k];
            break;
        }
    emit_alert(e, g, g->head, g->n, C2W_EMIT_THRESHOLD, e->clock - r->window, e->clock, first->ts, first->uid);
    g->alerted_seq = g->next_seq;
    /* Replaying from the trigger's sources after a restart raises the same
     * alert again (silently), which restores the suppression. */
    refs_apply(e, g->trig, 2, false);
    memcpy(g->trig, trigger->src, sizeof(g->trig));
    refs_apply(e, g->trig, 2, true);
    g->alerted = true;
    g->suppressed_until = e->clock + sup;
}

void c2w_engine_add(c2w_engine_t *e, const c2w_attributed_t *a)
{
    e->st.flows++;
    if (!e->clock_set || a->flow->ts > e->clock) {
        e->clock = a->flow->ts;
        e->clock_set = true;
    }
    c2w_time_t clk = drop_clock(e);
    for (size_t ri = 0; ri < e->n_rules; ri++) {
        rule_state *s = &e->rules[ri];
        const c2w_rule_t *r = s->r;
        if (!a->attributed && r->attributed_required)
            continue;
        if (!c2w_rule_eval(r, a, s->ext))
            continue;
        e->st.matched++;
        if (a->flow->ts <= clk - r->window) {
            e->st.late++;
            continue;
        }
        if (e->o.now && a->flow->ts > e->o.now && s->mode == C2W_EMIT_FINAL)
            continue; /* after the final window's end: never counted */
        group *g = group_get(e, ri, a);
        if (!g)
            continue;
        contrib nc = { .ts = a->flow->ts, .src = { a->flow->src, a->ev_src }, .seq = g->next_seq++ };
        refs_apply(e, nc.src, 2, true);
        nc.uid = c2w_strdup_opt(a->flow->uid);
        nc.community_id = c2w_strdup_opt(a->flow->community_id);
        nc.args = calloc(r->n_aggs ? r->n_aggs : 1, sizeof(*nc.args));
        if (!nc.args) {
            contrib_free(e, &nc, 0);
            continue;
        }
        for (size_t i = 0; i < r->n_aggs; i++) {
            c2w_value_t v;
            if (r->aggs[i].field < 0)
                continue;
            c2w_rule_field_get(r, a, s->ext, r->aggs[i].field, &v);
            value_copy(&nc.args[i], &v);
        }
        if (group_insert(e, g, &nc)) {
            contrib_free(e, &nc, r->n_aggs);
            continue;
        }
        group_expire(e, g, clk - r->window);
        set_evidence(&g->guid, a->guid);
        set_evidence(&g->command_line, a->command_line);
        set_evidence(&g->remote_url, a->remote_url);
        if (s->mode == C2W_EMIT_THRESHOLD && g->n > g->head) {
            /* find the trigger again: insertion may have moved it */
            const contrib *t = NULL;
            for (size_t k = g->n; k > g->head; k--)
                if (g->c[k - 1].ts == nc.ts && g->c[k - 1].uid == nc.uid) {
                    t = &g->c[k - 1];
                    break;
                }
            if (t)
                threshold_check(e, g, t);
        }
    }
}

void c2w_engine_advance(c2w_engine_t *e, c2w_time_t clock)
{
    if (!e->clock_set || clock > e->clock) {
        e->clock = clock;
        e->clock_set = true;
    }
    c2w_time_t clk = drop_clock(e);
    /* Groups idle longest come first; stop at the first one still live. */
    group *g = e->lru_head;
    while (g) {
        group *nx = g->next;
        const c2w_rule_t *r = e->rules[g->rule].r;
        group_expire(e, g, clk - r->window);
        bool empty = g->head == g->n;
        bool quiet = !g->alerted || e->clock >= g->suppressed_until;
        if (empty && quiet)
            group_remove(e, g);
        else if (!empty)
            break;
        g = nx;
    }
}

typedef struct final_item {
    group *g;
    size_t lo, hi;
    c2w_value_t first; /* first aggregate, for sorting */
} final_item;

static int final_cmp(const void *pa, const void *pb)
{
    const final_item *a = pa, *b = pb;
    if (a->g->rule != b->g->rule)
        return a->g->rule < b->g->rule ? -1 : 1;
    int c = value_cmp(&b->first, &a->first); /* descending */
    if (c)
        return c;
    size_t n = a->g->klen < b->g->klen ? a->g->klen : b->g->klen;
    c = memcmp(a->g->key, b->g->key, n);
    return c ? c : (a->g->klen > b->g->klen) - (a->g->klen < b->g->klen);
}

void c2w_engine_finish(c2w_engine_t *e, c2w_time_t now)
{
    if (e->o.now)
        now = e->o.now;
    size_t n = 0, cap = 0;
    final_item *items = NULL;
    for (group *g = e->lru_head; g; g = g->next) {
        rule_state *s = &e->rules[g->rule];
        if (s->mode != C2W_EMIT_FINAL)
            continue;
        const c2w_rule_t *r = s->r;
        size_t lo = g->head, hi = g->n;
        while (lo < hi && g->c[lo].ts <= now - r->window)
            lo++;
        while (hi > lo && g->c[hi - 1].ts > now)
            hi--;
        if (lo == hi)
            continue;
        size_t na = r->n_aggs ? r->n_aggs : 1;
        c2w_value_t *aggs = calloc(na, sizeof(*aggs));
        c2w_buf_t *sets = calloc(na, sizeof(*sets));
        bool hit = false;
        c2w_value_t first = { 0 };
        if (aggs && sets) {
            compute_aggs(e, g, lo, hi, aggs, sets);
            hit = c2w_rule_having(r, aggs);
            if (r->n_aggs && aggs[0].type != C2W_T_STR)
                first = aggs[0];
        }
        if (sets)
            for (size_t i = 0; i < na; i++)
                c2w_buf_free(&sets[i]);
        free(sets);
        free(aggs);
        if (!hit)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            final_item *ni = realloc(items, cap * sizeof(*ni));
            if (!ni)
                break;
            items = ni;
        }
        items[n++] = (final_item){ g, lo, hi, first };
    }
    if (n)
        qsort(items, n, sizeof(*items), final_cmp);
    for (size_t i = 0; i < n; i++) {
        const c2w_rule_t *r = e->rules[items[i].g->rule].r;
        emit_alert(e, items[i].g, items[i].lo, items[i].hi, C2W_EMIT_FINAL, now - r->window, now, now, NULL);
    }
    free(items);
}

const c2w_engine_stats_t *c2w_engine_stats(const c2w_engine_t *e)
{
    return &e->st;
}

size_t c2w_engine_group_count(const c2w_engine_t *e)
{
    return e->n_groups;
}
