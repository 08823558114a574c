/* test_pipeline.c — wiring, watermark and input-order independence. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2watch/pipeline.h"
#include "c2watch/rule.h"

typedef struct lines {
    char **v;
    size_t n;
} lines;

static const char *root(void)
{
    const char *r = getenv("C2W_ROOT");
    return r ? r : ".";
}

static lines read_lines(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", root(), rel);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    lines l = { 0 };
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&buf, &cap, f)) > 0) {
        l.v = realloc(l.v, (l.n + 1) * sizeof(*l.v));
        l.v[l.n++] = strndup(buf, (size_t)n);
    }
    free(buf);
    fclose(f);
    return l;
}

static void free_lines(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* uid -> guid ("-" when unattributed), as one sorted text for comparison */
typedef struct result {
    char rows[256][128];
    size_t n, attributed;
} result;

static result res;

static void on_flow(void *ctx, const c2w_attributed_t *a)
{
    (void)ctx;
    cr_assert(res.n < 256);
    snprintf(res.rows[res.n++], 128, "%s %s", a->flow->uid, a->attributed ? a->guid : "-");
    if (a->attributed)
        res.attributed++;
}

static int cmp_row(const void *a, const void *b)
{
    return strcmp(a, b);
}

enum order { ZEEK_FIRST, SYSMON_FIRST, ALTERNATE };

static void run(enum order o, const lines *z, const lines *s)
{
    memset(&res, 0, sizeof(res));
    c2w_pipeline_opts_t po = { 0 };
    po.on_flow = on_flow;
    c2w_pipeline_t *p = c2w_pipeline_new(&po);
    cr_assert_not_null(p);
    c2w_pipeline_source_open(p, C2W_SRC_ZEEK);
    c2w_pipeline_source_open(p, C2W_SRC_SYSMON);
    size_t iz = 0, is = 0;
    while (iz < z->n || is < s->n) {
        bool take_zeek = o == ZEEK_FIRST ? iz < z->n : o == SYSMON_FIRST ? is == s->n : (iz <= is && iz < z->n) || is == s->n;
        if (take_zeek) {
            c2w_pipeline_feed(p, C2W_SRC_ZEEK, z->v[iz], strlen(z->v[iz]));
            if (++iz == z->n)
                c2w_pipeline_source_done(p, C2W_SRC_ZEEK);
        } else {
            c2w_pipeline_feed(p, C2W_SRC_SYSMON, s->v[is], strlen(s->v[is]));
            if (++is == s->n)
                c2w_pipeline_source_done(p, C2W_SRC_SYSMON);
        }
    }
    c2w_pipeline_finish(p);
    c2w_pipeline_free(p);
    qsort(res.rows, res.n, sizeof(res.rows[0]), cmp_row);
}

Test(pipeline, attribution_independent_of_interleaving)
{
    lines z = read_lines("fixtures/otrf-lsass-procdump-join/zeek_conn.ndjson");
    lines s = read_lines("fixtures/otrf-lsass-procdump-join/sysmon.ndjson");
    run(ZEEK_FIRST, &z, &s);
    result ref = res;
    cr_assert_eq(ref.n, 119, "one record per flow");
    cr_assert_eq(ref.attributed, 114);
    run(SYSMON_FIRST, &z, &s);
    cr_assert_eq(res.n, ref.n);
    for (size_t i = 0; i < ref.n; i++)
        cr_assert_str_eq(res.rows[i], ref.rows[i], "sysmon first, row %zu: %s vs %s", i, res.rows[i], ref.rows[i]);
    run(ALTERNATE, &z, &s);
    for (size_t i = 0; i < ref.n; i++)
        cr_assert_str_eq(res.rows[i], ref.rows[i], "alternating, row %zu", i);
    free_lines(&z);
    free_lines(&s);
}

Test(pipeline, bad_records_change_nothing_and_are_counted)
{
    lines z = read_lines("fixtures/otrf-lsass-procdump-join/zeek_conn.ndjson");
    lines s = read_lines("fixtures/otrf-lsass-procdump-join/sysmon.ndjson");
    run(ALTERNATE, &z, &s);
    result ref = res;
    static const char *bad[] = { "{\"ts\":", "[1,2]", "{\"ts\":1692146028.1,\"uid\":\"X\"}", "null", "",
                                 "{\"EventID\":3,\"Hostname\":\"h\",\"UtcTime\":\"1970-01-01 00:00:00.000\"}" };
    lines z2 = { 0 }, s2 = { 0 };
    size_t nb = sizeof(bad) / sizeof(bad[0]);
    z2.v = calloc(z.n * 2, sizeof(char *));
    s2.v = calloc(s.n * 2, sizeof(char *));
    for (size_t i = 0; i < z.n; i++) {
        z2.v[z2.n++] = strdup(z.v[i]);
        if (i % 10 == 0)
            z2.v[z2.n++] = strdup(bad[i / 10 % nb]);
    }
    for (size_t i = 0; i < s.n; i++) {
        s2.v[s2.n++] = strdup(s.v[i]);
        if (i % 10 == 0)
            s2.v[s2.n++] = strdup(bad[i / 10 % nb]);
    }
    run(ALTERNATE, &z2, &s2);
    cr_assert_eq(res.n, ref.n);
    for (size_t i = 0; i < ref.n; i++)
        cr_assert_str_eq(res.rows[i], ref.rows[i]);
    free_lines(&z);
    free_lines(&s);
    free_lines(&z2);
    free_lines(&s2);
}

Test(pipeline, rejects_counted_by_reason)
{
    c2w_pipeline_opts_t po = { 0 };
    c2w_pipeline_t *p = c2w_pipeline_new(&po);
    c2w_pipeline_feed(p, C2W_SRC_ZEEK, "{\"ts\":", 6);
    c2w_pipeline_feed(p, C2W_SRC_ZEEK, "[]", 2);
    c2w_pipeline_feed(p, C2W_SRC_ZEEK, "[]", 2);
    const char *sec = "{\"EventID\":4624,\"Hostname\":\"h\",\"Channel\":\"Security\"}";
    c2w_pipeline_feed(p, C2W_SRC_SYSMON, sec, strlen(sec));
    const c2w_source_stats_t *z = c2w_pipeline_source_stats(p, C2W_SRC_ZEEK);
    cr_assert_eq(z->read, 3);
    cr_assert_eq(z->rejected[C2W_REJ_BAD_JSON], 1);
    cr_assert_eq(z->rejected[C2W_REJ_NOT_OBJECT], 2);
    cr_assert_eq(z->accepted, 0);
    const c2w_source_stats_t *s = c2w_pipeline_source_stats(p, C2W_SRC_SYSMON);
    cr_assert_eq(s->skipped[C2W_SKIP_CHANNEL], 1);
    c2w_buf_t b = { 0 };
    cr_assert_eq(c2w_pipeline_stats_json(p, &b), 0);
    /* all three are yajl's to reject (the fast path declines them) */
    cr_assert(strstr(b.data, "\"zeek\":{\"read\":3,\"accepted\":0,\"filtered\":0,\"fast_path\":0,\"full_parse\":3,"
                             "\"rejected\":{\"bad_json\":1,\"not_object\":2}"),
              "%s", b.data);
    c2w_buf_free(&b);
    c2w_pipeline_free(p);
}

/* A lean record (a flow or event 3 no rule can use) pushed from its kind,
 * own time and host id (c2w_pipeline_push_lean, what `run` keeps while a
 * record waits in its merge) does what pushing the whole record does: the
 * same statistics (clocks, filtered counts, join and engine figures) and
 * the same alerts. */
typedef struct alerts_seen {
    char ids[16][33];
    size_t n;
} alerts_seen;

static void on_alert_id(void *ctx, const c2w_alert_t *a)
{
    alerts_seen *s = ctx;
    cr_assert(s->n < 16);
    memcpy(s->ids[s->n++], a->alert_id, 33);
}

static void push_all(bool lean, const lines *z, const lines *s, const c2w_ruleset_t *rs, c2w_buf_t *stats,
                     alerts_seen *seen, size_t *n_lean)
{
    c2w_pipeline_opts_t po = { 0 };
    po.rules = rs;
    po.on_alert = on_alert_id;
    po.alert_ctx = seen;
    c2w_pipeline_t *p = c2w_pipeline_new(&po);
    cr_assert_not_null(p);
    c2w_pipeline_source_open(p, C2W_SRC_ZEEK);
    c2w_pipeline_source_open(p, C2W_SRC_SYSMON);
    size_t n = z->n > s->n ? z->n : s->n;
    for (size_t i = 0; i < 2 * n; i++) {
        c2w_source_kind_t k = i % 2 ? C2W_SRC_SYSMON : C2W_SRC_ZEEK;
        const lines *l = i % 2 ? s : z;
        if (i / 2 >= l->n)
            continue;
        c2w_record_t rec;
        if (!c2w_pipeline_decode(p, k, l->v[i / 2], strlen(l->v[i / 2]), &rec))
            continue;
        c2w_time_t t, own;
        uint32_t id;
        bool timed = c2w_pipeline_record_time_id(p, &rec, &t, &id);
        if (lean && timed && c2w_pipeline_lean(p, &rec, &own) && (rec.kind == C2W_REC_FLOW || id != C2W_HOST_NONE)) {
            (*n_lean)++;
            c2w_rec_kind_t kind = rec.kind;
            c2w_record_clear(&rec); /* holds no string: this frees nothing */
            c2w_pipeline_push_lean(p, k, kind, own, id);
        } else {
            c2w_pipeline_push_id(p, k, &rec, id);
        }
    }
    c2w_pipeline_source_done(p, C2W_SRC_ZEEK);
    c2w_pipeline_source_done(p, C2W_SRC_SYSMON);
    c2w_pipeline_finish(p);
    cr_assert_eq(c2w_pipeline_stats_json(p, stats), 0);
    c2w_pipeline_free(p);
}

Test(pipeline, lean_push_equals_record_push)
{
    char path[1100], err[512];
    snprintf(path, sizeof(path), "%s/rules/mail-protocols.yaml", root());
    c2w_ruleset_t *rs = NULL;
    cr_assert_eq(c2w_ruleset_load(path, &rs, err, sizeof(err)), 0, "%s", err);
    lines z = read_lines("fixtures/demo/zeek.ndjson");
    lines s = read_lines("fixtures/demo/sysmon.ndjson");
    c2w_buf_t whole = { 0 }, compact = { 0 };
    alerts_seen a = { 0 }, b = { 0 };
    size_t none = 0, n_lean = 0;
    push_all(false, &z, &s, rs, &whole, &a, &none);
    push_all(true, &z, &s, rs, &compact, &b, &n_lean);
    cr_assert_eq(none, 0);
    cr_assert_geq(n_lean, 5, "the demo's flows and events to other ports are lean: %zu", n_lean);
    cr_assert_str_eq(compact.data, whole.data);
    cr_assert(strstr(whole.data, "\"filtered\":6"), "%s", whole.data);
    cr_assert_eq(a.n, 3, "the demo's alerts");
    cr_assert_eq(b.n, a.n);
    for (size_t i = 0; i < a.n; i++)
        cr_assert_str_eq(b.ids[i], a.ids[i]);
    c2w_buf_free(&whole);
    c2w_buf_free(&compact);
    free_lines(&z);
    free_lines(&s);
    c2w_ruleset_free(rs);
}
