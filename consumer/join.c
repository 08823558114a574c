/*
 * join.c — flow-to-process attribution (SPEC §3).
 *
 * Both sides wait in hash tables keyed by the 5-tuple (protocol, source IP
 * and port, destination IP and port), with a FIFO per table for expiry and
 * eviction. Sysmon logs a connection when it starts and Zeek when it ends,
 * so either side may come first; each arrival looks for its partners.
 *
 * Host clocks: an exact 5-tuple match whose source port is ephemeral is
 * practically unique, so the time difference of such a pair is a sample of
 * that host's clock offset (sensor minus host). The estimate is the median
 * of the densest cluster of the last C2W_SAMPLES samples: a few pairs made
 * wrong by port reuse cannot move it. Matching then compares corrected
 * times and takes the nearest event within max_skew.
 */
#include "c2watch/join.h"

#include <stdlib.h>
#include <string.h>

#include "c2watch/util.h"

#define C2W_SAMPLES 64
#define C2W_CLUSTER_WIDTH (1 * C2W_USEC) /* samples within ±1 s agree */

/* ---- a chained hash map of byte keys with an insertion-order FIFO ---- */

typedef struct kent {
    struct kent *bnext; /* bucket chain */
    struct kent *prev, *next; /* FIFO */
    uint64_t hash;
    c2w_time_t t; /* flow ts, event host time, uid ts */
    uint32_t host; /* events: index into hosts, else UINT32_MAX */
    size_t hidx; /* flows: 1 + position in the resolution heap, 0 when not in it */
    uint64_t seq; /* flows: arrival number, orders equal times */
    void *val; /* pending flow / event, owned */
    char *a, *b; /* enrichment strings, owned */
    uint32_t klen;
    char key[];
} kent;

typedef struct kmap {
    kent **b;
    size_t nb, n;
    kent *head, *tail;
} kmap;

static int kmap_init(kmap *m)
{
    m->nb = 1024;
    m->b = calloc(m->nb, sizeof(*m->b));
    m->n = 0;
    m->head = m->tail = NULL;
    return m->b ? 0 : -1;
}

static void kmap_grow(kmap *m)
{
    size_t nb = m->nb * 2;
    kent **b = calloc(nb, sizeof(*b));
    if (!b)
        return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < m->nb; i++) {
        kent *e = m->b[i];
        while (e) {
            kent *nx = e->bnext;
            size_t k = e->hash & (nb - 1);
            e->bnext = b[k];
            b[k] = e;
            e = nx;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

static uint64_t key_hash(const void *key, size_t klen)
{
    return c2w_hash_table(key, klen);
}

/* First entry with this key, or the next one after e (pass e = NULL first). */
static kent *kmap_find(const kmap *m, const void *key, size_t klen, uint64_t h, kent *e)
{
    e = e ? e->bnext : m->b[h & (m->nb - 1)];
    for (; e; e = e->bnext)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

static kent *kmap_insert(kmap *m, const void *key, size_t klen, uint64_t h)
{
    kent *e = calloc(1, sizeof(*e) + klen);
    if (!e)
        return NULL;
    memcpy(e->key, key, klen);
    e->klen = (uint32_t)klen;
    e->hash = h;
    e->host = UINT32_MAX;
    if (m->n * 2 >= m->nb) /* at most half full: short chains */
        kmap_grow(m);
    size_t k = h & (m->nb - 1);
    e->bnext = m->b[k];
    m->b[k] = e;
    e->prev = m->tail;
    if (m->tail)
        m->tail->next = e;
    else
        m->head = e;
    m->tail = e;
    m->n++;
    return e;
}

/* Unlinks e; the caller frees what it holds and then e. */
static void kmap_unlink(kmap *m, kent *e)
{
    kent **pp = &m->b[e->hash & (m->nb - 1)];
    while (*pp != e)
        pp = &(*pp)->bnext;
    *pp = e->bnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        m->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        m->tail = e->prev;
    m->n--;
}

/* ---- the join ---- */

typedef struct tuple_key {
    uint8_t proto, family;
    uint16_t sport, dport;
    uint8_t src[16], dst[16];
} tuple_key;

typedef struct host {
    char *name;
    unsigned n, pos; /* samples taken (at most C2W_SAMPLES), next to overwrite */
    c2w_time_t offset;
    c2w_time_t max_raw; /* latest host time seen */
    bool seen;
} host;

struct c2w_join {
    c2w_join_opts_t o;
    c2w_join_emit_fn emit;
    void *ctx;
    kmap flows, events, uids, procs, dns;
    /* hosts by name: open addressing over (hash, index into hosts) */
    struct host_slot {
        uint64_t hash;
        uint32_t idx; /* UINT32_MAX: empty */
        uint32_t len; /* of the name */
        char name[48]; /* the name when shorter, so a lookup touches one line */
    } *htab;
    size_t htab_cap;
    c2w_time_t (*samples)[C2W_SAMPLES]; /* per host, beside hosts: the hot fields stay dense */
    kent **heap; /* unresolved flows, earliest Timestamp first */
    size_t n_heap, cap_heap;
    uint64_t flow_seq;
    c2w_time_t wm; /* last watermark seen */
    bool has_wm;
    host *hosts;
    size_t n_hosts, cap_hosts;
    c2w_join_stats_t st;
};

static void make_key(tuple_key *k, uint8_t proto, const c2w_ip_t *src, uint16_t sport, const c2w_ip_t *dst,
                     uint16_t dport)
{
    memset(k, 0, sizeof(*k));
    k->proto = proto;
    k->family = src->family;
    k->sport = sport;
    k->dport = dport;
    memcpy(k->src, src->addr, 16);
    memcpy(k->dst, dst->addr, 16);
}

c2w_join_t *c2w_join_new(const c2w_join_opts_t *opts, c2w_join_emit_fn emit, void *ctx)
{
    c2w_join_t *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    if (opts)
        j->o = *opts;
    if (!j->o.max_skew)
        j->o.max_skew = 120 * C2W_USEC;
    if (!j->o.ttl)
        j->o.ttl = 2 * 3600 * C2W_USEC;
    if (!j->o.uid_ttl)
        j->o.uid_ttl = 26 * 3600 * C2W_USEC;
    if (!j->o.max_offset)
        j->o.max_offset = 7 * 86400 * C2W_USEC;
    if (!j->o.max_pending)
        j->o.max_pending = 1000000;
    if (!j->o.max_uids)
        j->o.max_uids = 2000000;
    if (!j->o.max_procs)
        j->o.max_procs = 200000;
    if (!j->o.max_hosts)
        j->o.max_hosts = 100000;
    if (!j->o.ephemeral_min)
        j->o.ephemeral_min = 49152;
    j->emit = emit;
    j->ctx = ctx;
    if (kmap_init(&j->flows) || kmap_init(&j->events) || kmap_init(&j->uids) || kmap_init(&j->procs) ||
        kmap_init(&j->dns)) {
        c2w_join_free(j);
        return NULL;
    }
    return j;
}

static void free_netconn(c2w_netconn_t *ev)
{
    c2w_record_t r = { .kind = C2W_REC_NETCONN };
    r.u.net = *ev;
    c2w_record_clear(&r);
    free(ev);
}

static void free_flow(c2w_flow_t *f)
{
    c2w_flow_clear(f);
    free(f);
}

static void kmap_destroy(kmap *m, void (*free_val)(void *))
{
    kent *e = m->head;
    while (e) {
        kent *nx = e->next;
        if (e->val && free_val)
            free_val(e->val);
        free(e->a);
        free(e->b);
        free(e);
        e = nx;
    }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

static void free_flow_v(void *p)
{
    free_flow(p);
}

static void free_netconn_v(void *p)
{
    free_netconn(p);
}

void c2w_join_free(c2w_join_t *j)
{
    if (!j)
        return;
    kmap_destroy(&j->flows, free_flow_v);
    kmap_destroy(&j->events, free_netconn_v);
    kmap_destroy(&j->uids, NULL);
    kmap_destroy(&j->procs, NULL);
    kmap_destroy(&j->dns, NULL);
    free(j->htab);
    free(j->samples);
    for (size_t i = 0; i < j->n_hosts; i++)
        free(j->hosts[i].name);
    free(j->hosts);
    free(j->heap);
    free(j);
}

/* ---- hosts and their clock offsets ---- */

/* Index of host `name` in hosts, or UINT32_MAX. */
static uint32_t host_find(const c2w_join_t *j, const char *name, size_t len, uint64_t h)
{
    if (!j->htab_cap)
        return UINT32_MAX;
    for (size_t k = h & (j->htab_cap - 1);; k = (k + 1) & (j->htab_cap - 1)) {
        const struct host_slot *sl = &j->htab[k];
        if (sl->idx == UINT32_MAX)
            return UINT32_MAX;
        if (sl->hash == h && sl->len == len &&
            memcmp(len < sizeof(sl->name) ? sl->name : j->hosts[sl->idx].name, name, len) == 0)
            return sl->idx;
    }
}

static size_t htab_free_slot(const struct host_slot *tab, size_t cap, uint64_t h)
{
    size_t k = h & (cap - 1);
    while (tab[k].idx != UINT32_MAX)
        k = (k + 1) & (cap - 1);
    return k;
}

static void htab_put(struct host_slot *tab, size_t cap, uint64_t h, uint32_t idx, const char *name, size_t len)
{
    size_t k = htab_free_slot(tab, cap, h);
    tab[k].hash = h;
    tab[k].idx = idx;
    tab[k].len = (uint32_t)len;
    if (len < sizeof(tab[k].name))
        memcpy(tab[k].name, name, len);
}

/* Room for one more host: the table at most half full, the arrays with a
 * free entry. -1 on OOM (nothing changed). */
static int host_room(c2w_join_t *j)
{
    if ((j->n_hosts + 1) * 4 > j->htab_cap * 3) { /* at most three quarters full */
        size_t cap = j->htab_cap ? j->htab_cap * 2 : 64;
        struct host_slot *tab = malloc(cap * sizeof(*tab));
        if (!tab)
            return -1;
        for (size_t k = 0; k < cap; k++)
            tab[k].idx = UINT32_MAX;
        for (size_t k = 0; k < j->htab_cap; k++)
            if (j->htab[k].idx != UINT32_MAX)
                tab[htab_free_slot(tab, cap, j->htab[k].hash)] = j->htab[k];
        free(j->htab);
        j->htab = tab;
        j->htab_cap = cap;
    }
    if (j->n_hosts == j->cap_hosts) {
        size_t cap = j->cap_hosts ? j->cap_hosts * 2 : 16;
        host *nh = realloc(j->hosts, cap * sizeof(*nh));
        if (!nh)
            return -1;
        j->hosts = nh;
        c2w_time_t(*ns)[C2W_SAMPLES] = realloc(j->samples, cap * sizeof(*ns));
        if (!ns)
            return -1;
        j->samples = ns;
        j->cap_hosts = cap;
    }
    return 0;
}

static uint32_t host_index(c2w_join_t *j, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = key_hash(name, len);
    uint32_t idx = host_find(j, name, len, h);
    if (idx != UINT32_MAX)
        return idx;
    if (j->n_hosts >= j->o.max_hosts) {
        j->st.hosts_over_limit++;
        return UINT32_MAX;
    }
    if (host_room(j) < 0)
        return UINT32_MAX;
    host *ho = &j->hosts[j->n_hosts];
    memset(ho, 0, sizeof(*ho));
    ho->name = c2w_strndup(name, len);
    if (!ho->name)
        return UINT32_MAX;
    htab_put(j->htab, j->htab_cap, h, (uint32_t)j->n_hosts, name, len);
    return (uint32_t)j->n_hosts++;
}

static c2w_time_t host_offset(const c2w_join_t *j, uint32_t idx)
{
    return idx < j->n_hosts ? j->hosts[idx].offset : 0;
}

static void host_saw(c2w_join_t *j, uint32_t idx, c2w_time_t t)
{
    if (idx >= j->n_hosts)
        return;
    host *ho = &j->hosts[idx];
    if (!ho->seen || t > ho->max_raw)
        ho->max_raw = t;
    ho->seen = true;
}

static int cmp_time(const void *a, const void *b)
{
    c2w_time_t x = *(const c2w_time_t *)a, y = *(const c2w_time_t *)b;
    return x < y ? -1 : x > y;
}

/* Median of the densest cluster of samples (ties: the smallest offset). */
static void host_estimate(host *ho, const c2w_time_t *samples)
{
    c2w_time_t s[C2W_SAMPLES];
    unsigned n = ho->n;
    memcpy(s, samples, n * sizeof(s[0]));
    qsort(s, n, sizeof(s[0]), cmp_time);
    unsigned best_lo = 0, best_hi = 0, lo = 0;
    for (unsigned hi = 0; hi < n; hi++) {
        while (s[hi] - s[lo] > 2 * C2W_CLUSTER_WIDTH)
            lo++;
        if (hi - lo > best_hi - best_lo) {
            best_lo = lo;
            best_hi = hi;
        }
    }
    ho->offset = s[best_lo + (best_hi - best_lo) / 2];
}

static void host_sample(c2w_join_t *j, uint32_t idx, c2w_time_t sample)
{
    if (idx >= j->n_hosts)
        return;
    host *ho = &j->hosts[idx];
    j->samples[idx][ho->pos] = sample;
    ho->pos = (ho->pos + 1) % C2W_SAMPLES;
    if (ho->n < C2W_SAMPLES)
        ho->n++;
    host_estimate(ho, j->samples[idx]);
    j->st.offset_samples++;
}

/* The host of a record: id when the caller has it (this join gave it for
 * the record's host), else looked up by name. */
static uint32_t host_of(c2w_join_t *j, uint32_t id, const char *name)
{
    return id < j->n_hosts ? id : host_index(j, name);
}

bool c2w_join_host_note(c2w_join_t *j, const char *name, c2w_time_t host_time, c2w_time_t *out)
{
    uint32_t id = C2W_HOST_NONE;
    return c2w_join_host_note_id(j, &id, name, host_time, out);
}

bool c2w_join_host_note_id(c2w_join_t *j, uint32_t *id, const char *name, c2w_time_t host_time, c2w_time_t *out)
{
    uint32_t idx = host_of(j, *id, name);
    *id = idx < j->n_hosts ? idx : C2W_HOST_NONE;
    host_saw(j, idx, host_time);
    *out = host_time;
    if (idx >= j->n_hosts || j->hosts[idx].n == 0)
        return false;
    *out = host_time + j->hosts[idx].offset;
    return true;
}

void c2w_join_host_prefetch(const c2w_join_t *j, const char *name)
{
#if defined(__GNUC__)
    if (j->htab_cap) {
        size_t len = strlen(name);
        __builtin_prefetch(&j->htab[key_hash(name, len) & (j->htab_cap - 1)]);
    }
#else
    (void)j;
    (void)name;
#endif
}

bool c2w_join_sensor_time(const c2w_join_t *j, const char *name, c2w_time_t host_time, c2w_time_t *out)
{
    uint32_t id;
    return c2w_join_sensor_time_id(j, name, host_time, out, &id);
}

bool c2w_join_sensor_time_id(const c2w_join_t *j, const char *name, c2w_time_t host_time, c2w_time_t *out,
                             uint32_t *id)
{
    size_t len = strlen(name);
    uint32_t idx = host_find(j, name, len, key_hash(name, len));
    *id = idx;
    *out = host_time;
    if (idx >= j->n_hosts || j->hosts[idx].n == 0)
        return false;
    *out = host_time + j->hosts[idx].offset;
    return true;
}

/* ---- matching ---- */

static c2w_time_t tabs(c2w_time_t x)
{
    return x < 0 ? -x : x;
}

static c2w_time_t corrected(const c2w_join_t *j, const kent *ev)
{
    return ev->t + host_offset(j, ev->host);
}

/* The latest sensor time an event can stand for: its corrected time, or
 * for a host with no clock sample yet, its time plus the largest offset. */
static c2w_time_t expiry_time(const c2w_join_t *j, const kent *ev)
{
    if (ev->host < j->n_hosts && j->hosts[ev->host].n > 0)
        return ev->t + j->hosts[ev->host].offset;
    return ev->t + j->o.max_offset;
}

/* Takes a clock sample from flow f and the event of its 5-tuple nearest
 * in corrected time, when f's source port is ephemeral. */
static void take_sample(c2w_join_t *j, const c2w_flow_t *f, const tuple_key *k, uint64_t h)
{
    if (f->orig_p < j->o.ephemeral_min)
        return;
    kent *e, *best = NULL;
    c2w_time_t bd = 0;
    for (e = kmap_find(&j->events, k, sizeof(*k), h, NULL); e; e = kmap_find(&j->events, k, sizeof(*k), h, e)) {
        c2w_time_t d = tabs(f->ts - corrected(j, e));
        if (tabs(f->ts - e->t) <= j->o.max_offset && (!best || d < bd)) {
            best = e;
            bd = d;
        }
    }
    if (best)
        host_sample(j, best->host, f->ts - best->t);
}

/* The event nearest to flow f in corrected time within max_skew, or NULL. */
static kent *pick_event(const c2w_join_t *j, const c2w_flow_t *f, const tuple_key *k, uint64_t h)
{
    kent *e, *best = NULL;
    c2w_time_t bd = 0;
    for (e = kmap_find(&j->events, k, sizeof(*k), h, NULL); e; e = kmap_find(&j->events, k, sizeof(*k), h, e)) {
        c2w_time_t d = tabs(f->ts - corrected(j, e));
        if (d <= j->o.max_skew && (!best || d < bd)) {
            best = e;
            bd = d;
        }
    }
    return best;
}

/* ---- the resolution heap ----
 * A flow is decided only once the watermark has passed its Timestamp plus
 * max_skew: every event that could be nearer has arrived by then, so the
 * choice does not depend on how the inputs interleave. */

static bool heap_less(const kent *a, const kent *b)
{
    return a->t != b->t ? a->t < b->t : a->seq < b->seq;
}

static void heap_set(c2w_join_t *j, size_t i, kent *e)
{
    j->heap[i] = e;
    e->hidx = i + 1;
}

static void heap_up(c2w_join_t *j, size_t i)
{
    kent *e = j->heap[i];
    while (i > 0 && heap_less(e, j->heap[(i - 1) / 2])) {
        heap_set(j, i, j->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(j, i, e);
}

static void heap_down(c2w_join_t *j, size_t i)
{
    kent *e = j->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= j->n_heap)
            break;
        if (c + 1 < j->n_heap && heap_less(j->heap[c + 1], j->heap[c]))
            c++;
        if (!heap_less(j->heap[c], e))
            break;
        heap_set(j, i, j->heap[c]);
        i = c;
    }
    heap_set(j, i, e);
}

static int heap_push(c2w_join_t *j, kent *e)
{
    if (j->n_heap == j->cap_heap) {
        size_t cap = j->cap_heap ? j->cap_heap * 2 : 1024;
        kent **h = realloc(j->heap, cap * sizeof(*h));
        if (!h)
            return -1;
        j->heap = h;
        j->cap_heap = cap;
    }
    j->heap[j->n_heap++] = e;
    heap_up(j, j->n_heap - 1);
    return 0;
}

static void heap_remove(c2w_join_t *j, kent *e)
{
    if (!e->hidx)
        return;
    size_t i = e->hidx - 1;
    e->hidx = 0;
    kent *last = j->heap[--j->n_heap];
    if (i == j->n_heap)
        return;
    heap_set(j, i, last);
    heap_up(j, i);
    heap_down(j, last->hidx - 1);
}

/* The key of an enrichment: host NUL guid NUL, then `extra` (an address
 * for the DNS answers); on the stack when short. */
typedef struct ekey {
    char *data;
    size_t len;
    char small[192];
} ekey;

static bool ekey_make(ekey *k, const char *host_name, const char *guid, const void *extra, size_t elen)
{
    size_t hl = strlen(host_name) + 1, gl = strlen(guid) + 1;
    k->len = hl + gl + elen;
    k->data = k->len <= sizeof(k->small) ? k->small : malloc(k->len);
    if (!k->data)
        return false;
    memcpy(k->data, host_name, hl);
    memcpy(k->data + hl, guid, gl);
    if (elen)
        memcpy(k->data + hl + gl, extra, elen);
    return true;
}

static void ekey_free(ekey *k)
{
    if (k->data != k->small)
        free(k->data);
    k->data = NULL;
}

static void ref_hold(const c2w_join_t *j, c2w_srcref_t r)
{
    if (r.part && j->o.refs.hold)
        j->o.refs.hold(j->o.refs.ctx, r);
}

static void ref_drop(const c2w_join_t *j, c2w_srcref_t r)
{
    if (r.part && j->o.refs.drop)
        j->o.refs.drop(j->o.refs.ctx, r);
}

/* Emits f attributed to ev (ev NULL: unattributed), then frees f; held: f
 * was waiting in the join, which releases its source reference now. */
static void emit_flow(c2w_join_t *j, c2w_flow_t *f, const kent *evk, bool held)
{
    c2w_attributed_t a;
    memset(&a, 0, sizeof(a));
    a.flow = f;
    if (evk) {
        const c2w_netconn_t *ev = evk->val;
        a.attributed = true;
        a.clock_offset = host_offset(j, evk->host);
        a.device = ev->host;
        a.account = ev->user;
        a.image = ev->image;
        a.file_name = c2w_path_basename(ev->image);
        a.guid = ev->guid;
        a.pid = ev->pid;
        a.remote_url = ev->dst_hostname;
        a.ev_src = ev->src;
        ekey kb;
        if (ekey_make(&kb, ev->host, ev->guid, &f->resp_h, sizeof(f->resp_h))) {
            size_t plen = kb.len - sizeof(f->resp_h); /* the process's key: without the address */
            kent *p = kmap_find(&j->procs, kb.data, plen, key_hash(kb.data, plen), NULL);
            if (p) {
                a.command_line = p->a;
                a.parent_image = p->b;
            }
            if (!a.remote_url) {
                kent *d = kmap_find(&j->dns, kb.data, kb.len, key_hash(kb.data, kb.len), NULL);
                if (d)
                    a.remote_url = d->a;
            }
            ekey_free(&kb);
        }
        j->st.attributed++;
    } else {
        j->st.unattributed++;
    }
    if (j->emit)
        j->emit(j->ctx, &a);
    if (held)
        ref_drop(j, f->src);
    free_flow(f);
}

/* Frees a pending event and releases its source reference. */
static void drop_event(c2w_join_t *j, c2w_netconn_t *ev)
{
    ref_drop(j, ev->src);
    free_netconn(ev);
}

static void evict_one(c2w_join_t *j)
{
    if (j->flows.n >= j->events.n && j->flows.head) {
        kent *e = j->flows.head;
        kmap_unlink(&j->flows, e);
        heap_remove(j, e);
        j->st.evicted_flows++;
        emit_flow(j, e->val, NULL, true);
        free(e);
    } else if (j->events.head) {
        kent *e = j->events.head;
        kmap_unlink(&j->events, e);
        j->st.evicted_events++;
        drop_event(j, e->val);
        free(e);
    }
}

/* Moves a record's contents into a heap copy; zeroes the caller's struct. */
static void *take(void *rec, size_t size)
{
    void *p = malloc(size);
    if (p)
        memcpy(p, rec, size);
    return p;
}

void c2w_join_add_flow(c2w_join_t *j, c2w_flow_t *flow)
{
    c2w_flow_t *f = take(flow, sizeof(*flow));
    if (!f) {
        c2w_flow_clear(flow);
        return;
    }
    memset(flow, 0, sizeof(*flow));
    if (f->uid) {
        size_t len = strlen(f->uid);
        uint64_t h = key_hash(f->uid, len);
        if (kmap_find(&j->uids, f->uid, len, h, NULL)) {
            j->st.duplicates++;
            free_flow(f);
            return;
        }
        kent *u = kmap_insert(&j->uids, f->uid, len, h);
        if (u)
            u->t = f->ts;
        if (j->uids.n > j->o.max_uids) {
            kent *old = j->uids.head;
            kmap_unlink(&j->uids, old);
            free(old);
            j->st.evicted_uids++;
        }
    }
    j->st.flows++;
    tuple_key k;
    make_key(&k, f->proto, &f->orig_h, f->orig_p, &f->resp_h, f->resp_p);
    uint64_t h = key_hash(&k, sizeof(k));
    take_sample(j, f, &k, h);
    bool due = j->has_wm && j->wm - f->ts > j->o.max_skew;
    if (due) {
        kent *ev = pick_event(j, f, &k, h);
        if (ev) {
            emit_flow(j, f, ev, false);
            return;
        }
    }
    if (j->flows.n + j->events.n >= j->o.max_pending)
        evict_one(j);
    kent *e = kmap_insert(&j->flows, &k, sizeof(k), h);
    if (!e) {
        emit_flow(j, f, NULL, false);
        return;
    }
    e->t = f->ts;
    e->val = f;
    e->seq = j->flow_seq++;
    if (!due && heap_push(j, e) != 0) {
        kmap_unlink(&j->flows, e);
        emit_flow(j, f, NULL, false);
        free(e);
        return;
    }
    ref_hold(j, f->src);
}

void c2w_join_add_netconn(c2w_join_t *j, c2w_netconn_t *evrec)
{
    c2w_join_add_netconn_id(j, evrec, C2W_HOST_NONE);
}

void c2w_join_add_netconn_id(c2w_join_t *j, c2w_netconn_t *evrec, uint32_t host_id)
{
    if (!evrec->initiated) {
        /* Source is the initiator, not this process: an accepting server
         * logs the same 5-tuple and must never be credited with the flow. */
        j->st.inbound++;
        uint32_t hi = host_of(j, host_id, evrec->host);
        host_saw(j, hi, evrec->utc);
        c2w_record_t r = { .kind = C2W_REC_NETCONN };
        r.u.net = *evrec;
        c2w_record_clear(&r);
        memset(evrec, 0, sizeof(*evrec));
        return;
    }
    c2w_netconn_t *ev = take(evrec, sizeof(*evrec));
    if (!ev) {
        c2w_record_t r = { .kind = C2W_REC_NETCONN };
        r.u.net = *evrec;
        c2w_record_clear(&r);
        memset(evrec, 0, sizeof(*evrec));
        return;
    }
    memset(evrec, 0, sizeof(*evrec));
    j->st.netconns++;
    uint32_t hi = host_of(j, host_id, ev->host);
    host_saw(j, hi, ev->utc);
    if (j->flows.n + j->events.n >= j->o.max_pending)
        evict_one(j);
    tuple_key k;
    make_key(&k, ev->proto, &ev->src_ip, ev->src_port, &ev->dst_ip, ev->dst_port);
    uint64_t h = key_hash(&k, sizeof(k));
    kent *e = kmap_insert(&j->events, &k, sizeof(k), h);
    if (!e) {
        free_netconn(ev);
        return;
    }
    e->t = ev->utc;
    e->host = hi;
    e->val = ev;
    ref_hold(j, ev->src);
    /* Pending flows of this 5-tuple: each pair is a clock sample; a flow
     * already past its decision time takes this event now if it fits. */
    kent *fk = kmap_find(&j->flows, &k, sizeof(k), h, NULL);
    while (fk) {
        kent *next = kmap_find(&j->flows, &k, sizeof(k), h, fk);
        const c2w_flow_t *f = fk->val;
        if (f->orig_p >= j->o.ephemeral_min && tabs(f->ts - ev->utc) <= j->o.max_offset)
            host_sample(j, hi, f->ts - ev->utc);
        if (!fk->hidx) {
            kent *best = pick_event(j, f, &k, h);
            if (best) {
                kmap_unlink(&j->flows, fk);
                emit_flow(j, fk->val, best, true);
                free(fk);
            }
        }
        fk = next;
    }
}

static void enrich_put(c2w_join_t *j, kmap *m, const ekey *kb, char *a, char *b)
{
    uint64_t h = key_hash(kb->data, kb->len);
    kent *e = kmap_find(m, kb->data, kb->len, h, NULL);
    if (!e) {
        if (m->n >= j->o.max_procs) {
            kent *old = m->head;
            kmap_unlink(m, old);
            free(old->a);
            free(old->b);
            free(old);
            j->st.evicted_procs++;
        }
        e = kmap_insert(m, kb->data, kb->len, h);
    }
    if (!e) {
        free(a);
        free(b);
        return;
    }
    free(e->a);
    free(e->b);
    e->a = a;
    e->b = b;
}

void c2w_join_add_proc(c2w_join_t *j, c2w_procinfo_t *p)
{
    c2w_join_add_proc_id(j, p, C2W_HOST_NONE);
}

void c2w_join_add_proc_id(c2w_join_t *j, c2w_procinfo_t *p, uint32_t host_id)
{
    host_saw(j, host_of(j, host_id, p->host), p->utc);
    if (p->command_line || p->parent_image) {
        ekey kb;
        if (ekey_make(&kb, p->host, p->guid, NULL, 0)) {
            char *cl = c2w_take_string(p->strings, &p->command_line);
            enrich_put(j, &j->procs, &kb, cl, c2w_take_string(p->strings, &p->parent_image));
            ekey_free(&kb);
        }
    }
    c2w_record_t r = { .kind = C2W_REC_PROC };
    r.u.proc = *p;
    c2w_record_clear(&r);
    memset(p, 0, sizeof(*p));
}

/* QueryResults: "a;b;type:  5 cname;::ffff:192.168.1.4;" — addresses map
 * (host, process, address) to the name asked for. */
void c2w_join_add_dns(c2w_join_t *j, c2w_dnsinfo_t *d)
{
    c2w_join_add_dns_id(j, d, C2W_HOST_NONE);
}

void c2w_join_add_dns_id(c2w_join_t *j, c2w_dnsinfo_t *d, uint32_t host_id)
{
    host_saw(j, host_of(j, host_id, d->host), d->utc);
    const char *s = d->query_results;
    while (s && *s) {
        const char *end = strchr(s, ';');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len && *s == ' ') {
            s++;
            len--;
        }
        c2w_ip_t ip;
        ekey kb;
        if (len && c2w_ip_parse(s, len, &ip) && ekey_make(&kb, d->host, d->guid, &ip, sizeof(ip))) {
            /* the last answer takes the record's copy of the name */
            bool last = !end || !end[1];
            char *name = last ? c2w_take_string(d->strings, &d->query_name) : c2w_strdup_opt(d->query_name);
            enrich_put(j, &j->dns, &kb, name, NULL);
            ekey_free(&kb);
        }
        s = end ? end + 1 : NULL;
    }
    c2w_record_t r = { .kind = C2W_REC_DNS };
    r.u.dns = *d;
    c2w_record_clear(&r);
    memset(d, 0, sizeof(*d));
}

/* Decides the flow at the top of the heap: attributed now, or left to
 * wait (without a decision time) for a late event until ttl. */
static void resolve_top(c2w_join_t *j)
{
    kent *fe = j->heap[0];
    heap_remove(j, fe);
    tuple_key k;
    memcpy(&k, fe->key, sizeof(k));
    kent *ev = pick_event(j, fe->val, &k, fe->hash);
    if (ev) {
        kmap_unlink(&j->flows, fe);
        emit_flow(j, fe->val, ev, true);
        free(fe);
    }
}

void c2w_join_advance(c2w_join_t *j, c2w_time_t watermark)
{
    kent *e;
    if (!j->has_wm || watermark > j->wm) {
        j->wm = watermark;
        j->has_wm = true;
    }
    while (j->n_heap && watermark - j->heap[0]->t > j->o.max_skew)
        resolve_top(j);
    while ((e = j->flows.head) && watermark - e->t > j->o.ttl) {
        kmap_unlink(&j->flows, e);
        heap_remove(j, e);
        emit_flow(j, e->val, NULL, true);
        free(e);
    }
    while ((e = j->events.head) && watermark - expiry_time(j, e) > j->o.ttl) {
        kmap_unlink(&j->events, e);
        drop_event(j, e->val);
        free(e);
    }
    while ((e = j->uids.head) && watermark - e->t > j->o.uid_ttl) {
        kmap_unlink(&j->uids, e);
        free(e);
    }
}

void c2w_join_settle(c2w_join_t *j)
{
    while (j->n_heap)
        resolve_top(j);
}

void c2w_join_flush(c2w_join_t *j)
{
    kent *e;
    while (j->n_heap)
        resolve_top(j);
    while ((e = j->flows.head)) {
        kmap_unlink(&j->flows, e);
        emit_flow(j, e->val, NULL, true);
        free(e);
    }
    while ((e = j->events.head)) {
        kmap_unlink(&j->events, e);
        drop_event(j, e->val);
        free(e);
    }
}

const c2w_join_stats_t *c2w_join_stats(const c2w_join_t *j)
{
    return &j->st;
}

size_t c2w_join_pending(const c2w_join_t *j)
{
    return j->flows.n + j->events.n;
}

size_t c2w_join_host_count(const c2w_join_t *j)
{
    return j->n_hosts;
}

void c2w_join_host_info(const c2w_join_t *j, size_t i, const char **name, c2w_time_t *offset, size_t *samples,
                        c2w_time_t *latest)
{
    const host *ho = &j->hosts[i];
    *name = ho->name;
    *offset = ho->offset;
    *samples = ho->n;
    *latest = ho->seen && ho->n > 0 ? ho->max_raw + ho->offset : 0;
}
