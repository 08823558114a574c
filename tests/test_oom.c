/*
 * test_oom.c — allocation-failure sweeps over the parsers and loaders:
 * the decoders (every source and Sysmon shape, on real records), the
 * decoder constructor, the rule loader and the configuration loader; and
 * the facts the decoder's budget for yajl rests on.
 *
 * A sweep runs the code once per allocation it makes, making allocation
 * N (N = 0, 1, ...) fail, until a run reaches no allocation N: every run
 * must end cleanly (a no_memory rejection, NULL, or -1 with a message; or
 * the normal result when the failure was absorbed), free every block it
 * took, and the other records of the run must decode exactly as without a
 * failure. The wrappers of tests/sweep.h need the C library's allocator:
 * under ASan (make asan) the sweeps skip themselves (cr_skip_test) and
 * LeakSanitizer checks the error paths in the other suites instead; the
 * tests that need no wrapper (reason names, yajl's requests) run in both.
 *
 * The repository root comes from C2W_ROOT (default ".").
 */
#define _GNU_SOURCE /* RTLD_NEXT, getline */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2watch/config.h"
#include "c2watch/decode.h"
#include "c2watch/record.h"
#include "c2watch/rule.h"
#include "c2watch/util.h"

#include <yajl/yajl_parse.h>

#include "sweep.h"
#include "record_summary.h"

#define SWEEP_MAX_STEPS 100000L

/* Names every reject reason, no_memory last (runs under ASan too). */
Test(oom, no_memory_reason)
{
    cr_assert_eq(C2W_REJ_NO_MEMORY + 1, C2W_REJ_COUNT);
    cr_assert_str_eq(c2w_reject_name(C2W_REJ_NO_MEMORY), "no_memory");
    cr_assert_str_eq(c2w_reject_name(C2W_REJ_TOO_BIG), "too_big");
}

/* ------------------------------------------------------------------ */
/* yajl's budget (consumer/decode.c, "yajl's allocator") rests on what
 * yajl 2.1 asks its allocator for. Worst-case records: each makes one of
 * yajl's buffers as large as a record of its size allows.            */

typedef struct worst {
    const char *what;
    int reason; /* expected rejection */
} worst_t;

/* Record i of the worst cases, of about len bytes, into buf. */
static size_t worst_record(int i, size_t len, char *buf)
{
    size_t k = 0, body = len > 16 ? len - 16 : 1;
#define PUT(s) (memcpy(buf + k, (s), strlen(s)), k += strlen(s))
    switch (i) {
    case 0: /* unterminated string: the lexer keeps it all */
        PUT("{\"a\":\"");
        memset(buf + k, 'x', body), k += body;
        break;
    case 1: /* one long escaped string: the decode buffer holds it */
        PUT("{\"a\":\"\\n");
        memset(buf + k, 'x', body), k += body;
        PUT("\"}");
        break;
    case 2: /* one long escaped key */
        PUT("{\"\\n");
        memset(buf + k, 'k', body), k += body;
        PUT("\":1}");
        break;
    case 3: /* escaped string, then an unterminated escaped one: both buffers */
        PUT("{\"a\":\"\\n");
        memset(buf + k, 'x', body / 2), k += body / 2;
        PUT("\",\"b\":\"\\n");
        memset(buf + k, 'y', body / 2), k += body / 2;
        break;
    case 4: /* a number cut by the end of the record */
        PUT("{\"a\":1");
        memset(buf + k, '7', body), k += body;
        break;
    case 5: /* nesting as deep as max_depth allows (set high by the caller) */
        PUT("{\"a\":");
        memset(buf + k, '[', body), k += body;
        break;
    case 6: /* a lexical error at the end: yajl renders an error message */
        PUT("{\"a\":\"");
        memset(buf + k, 'x', body), k += body;
        PUT("\"\x01");
        break;
    }
#undef PUT
    return k;
}

static const worst_t worst_cases[] = {
    { "unterminated string", C2W_REJ_BAD_JSON },  { "long escaped string", C2W_REJ_MISSING_FIELD },
    { "long escaped key", C2W_REJ_MISSING_FIELD }, { "two escaped strings", C2W_REJ_BAD_JSON },
    { "cut number", C2W_REJ_BAD_JSON },           { "deep nesting", C2W_REJ_BAD_JSON },
    { "lexical error", C2W_REJ_BAD_JSON },
};

/* What the budget assumes, checked against the libyajl we link with: a
 * recording allocator under yajl itself, driven as decode.c drives it. */

enum { YK_SMALL, YK_BUF, YK_STACK };

typedef struct yrec {
    struct {
        void *p;
        int kind;
        size_t size;
    } blk[64];
    size_t nblk;
    size_t smalls, max_small, max_buf, max_stack;
    char why[256];
} yrec_t;

static size_t yrec_find(yrec_t *y, void *p)
{
    for (size_t i = 0; i < y->nblk; i++)
        if (y->blk[i].p == p)
            return i;
    snprintf(y->why, sizeof(y->why), "unknown block %p", p);
    return SIZE_MAX;
}

static void yrec_add(yrec_t *y, void *p, int kind, size_t size)
{
    if (y->nblk == sizeof(y->blk) / sizeof(y->blk[0])) {
        snprintf(y->why, sizeof(y->why), "more than %zu live blocks", y->nblk);
        return;
    }
    y->blk[y->nblk].p = p;
    y->blk[y->nblk].kind = kind;
    y->blk[y->nblk].size = size;
    y->nblk++;
}

static bool pow2_times(size_t n, size_t unit)
{
    return n >= unit && n % unit == 0 && ((n / unit) & (n / unit - 1)) == 0;
}

static void *yrec_malloc(void *ctx, size_t n)
{
    yrec_t *y = ctx;
    void *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    if (n == 2048) {
        yrec_add(y, p, YK_BUF, n); /* a yajl_buf's first block */
        if (n > y->max_buf)
            y->max_buf = n;
    } else {
        y->smalls++;
        if (n > y->max_small)
            y->max_small = n;
        yrec_add(y, p, YK_SMALL, n);
    }
    return p;
}

static void *yrec_realloc(void *ctx, void *old, size_t n)
{
    yrec_t *y = ctx;
    size_t i = SIZE_MAX;
    if (old && (i = yrec_find(y, old)) == SIZE_MAX)
        return NULL; /* reported in why; yajl crashes: the test fails */
    void *p = realloc(old, n);
    cr_assert_not_null(p);
    if (!old) {
        /* only yajl_bs_push reallocs from NULL: the state stack */
        if (n != 128)
            snprintf(y->why, sizeof(y->why), "first stack block of %zu bytes", n);
        yrec_add(y, p, YK_STACK, n);
        if (n > y->max_stack)
            y->max_stack = n;
        return p;
    }
    size_t prev = y->blk[i].size;
    if (y->blk[i].kind == YK_BUF) {
        if (!pow2_times(n, 2048) || n < 2 * prev)
            snprintf(y->why, sizeof(y->why), "buffer of %zu grown to %zu", prev, n);
        if (n > y->max_buf)
            y->max_buf = n;
    } else if (y->blk[i].kind == YK_STACK) {
        if (n != prev + 128)
            snprintf(y->why, sizeof(y->why), "stack of %zu grown to %zu", prev, n);
        if (n > y->max_stack)
            y->max_stack = n;
    } else {
        snprintf(y->why, sizeof(y->why), "small block of %zu grown to %zu", prev, n);
    }
    y->blk[i].p = p;
    y->blk[i].size = n;
    return p;
}

static void yrec_free(void *ctx, void *p)
{
    yrec_t *y = ctx;
    if (!p)
        return;
    size_t i = yrec_find(y, p);
    if (i != SIZE_MAX)
        y->blk[i] = y->blk[--y->nblk];
    free(p);
}

typedef struct ydepth {
    unsigned depth, max_depth;
} ydepth_t;

static int yd_open(void *ctx)
{
    ydepth_t *yd = ctx;
    if (yd->depth >= yd->max_depth)
        return 0; /* as dec_open: the container past max_depth is refused */
    yd->depth++;
    return 1;
}

static int yd_close(void *ctx)
{
    ((ydepth_t *)ctx)->depth--;
    return 1;
}

static int yd_null(void *ctx)
{
    (void)ctx;
    return 1;
}

static int yd_bool(void *ctx, int b)
{
    (void)ctx, (void)b;
    return 1;
}

static int yd_text(void *ctx, const char *s, size_t n)
{
    (void)ctx, (void)s, (void)n;
    return 1;
}

static int yd_str(void *ctx, const unsigned char *s, size_t n)
{
    (void)ctx, (void)s, (void)n;
    return 1;
}

static const yajl_callbacks yd_callbacks = {
    .yajl_null = yd_null,
    .yajl_boolean = yd_bool,
    .yajl_number = yd_text,
    .yajl_string = yd_str,
    .yajl_start_map = yd_open,
    .yajl_map_key = yd_str,
    .yajl_end_map = yd_close,
    .yajl_start_array = yd_open,
    .yajl_end_array = yd_close,
};

/* Parses buf as dec_parse does and checks every request yajl made. */
static void check_yajl_requests(const char *what, const char *buf, size_t len, unsigned max_depth)
{
    yrec_t y = { .nblk = 0 };
    ydepth_t yd = { 0, max_depth };
    yajl_alloc_funcs afs = { .malloc = yrec_malloc, .realloc = yrec_realloc, .free = yrec_free, .ctx = &y };
    yajl_handle h = yajl_alloc(&yd_callbacks, &afs, &yd);
    cr_assert_not_null(h);
    yajl_status st = yajl_parse(h, (const unsigned char *)buf, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (st != yajl_status_ok) {
        unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
        cr_assert_not_null(msg);
        yajl_free_error(h, msg);
    }
    yajl_free(h);
    cr_assert_eq(y.why[0], '\0', "%s, %zu bytes: %s", what, len, y.why);
    cr_assert_eq(y.nblk, 0, "%s, %zu bytes: %zu blocks not freed", what, len, y.nblk);
    cr_assert_leq(y.smalls, 5, "%s, %zu bytes: %zu fixed-size blocks", what, len, y.smalls);
    cr_assert_leq(y.max_small, 512, "%s, %zu bytes: a fixed-size block of %zu", what, len, y.max_small);
    size_t bufsize = 2048; /* decode.c's dec_ya_bufsize(len + 1) */
    while (bufsize <= len + 1)
        bufsize <<= 1;
    cr_assert_leq(y.max_buf, bufsize, "%s, %zu bytes: a buffer of %zu", what, len, y.max_buf);
    size_t depth = max_depth < len ? max_depth : len;
    cr_assert_leq(y.max_stack, (depth + 1 + 127) / 128 * 128, "%s, %zu bytes: a stack of %zu", what, len,
                  y.max_stack);
}

Test(oom, yajl_requests_as_budgeted)
{
    static const size_t sizes[] = { 40, 2030, 2046, 2047, 2048, 2049, 4094, 4095, 4096, 8190, 65536, 300000 };
    char *buf = malloc(300000 + 64);
    cr_assert_not_null(buf);
    for (size_t w = 0; w < sizeof(worst_cases) / sizeof(worst_cases[0]); w++)
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            size_t len = worst_record((int)w, sizes[s], buf);
            check_yajl_requests(worst_cases[w].what, buf, len, w == 5 ? 400000 : 64);
            if (w == 5)
                check_yajl_requests("deep nesting, max_depth 64", buf, len, 64);
        }
    free(buf);
}

#ifdef SWEEP

static const char *root_dir(void)
{
    const char *r = getenv("C2W_ROOT");
    return r && *r ? r : ".";
}


/* ------------------------------------------------------------------ */
/* Records.                                                           */

#define MAX_RECS 32

typedef struct recs {
    char *line[MAX_RECS];
    size_t len[MAX_RECS];
    size_t n;
} recs_t;

/* Appends to r the first count lines of root/file that contain has (and
 * not hasnt, when given). */
static void pick(recs_t *r, const char *file, const char *has, const char *hasnt, int count)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root_dir(), file);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp, "cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t k;
    int got = 0;
    while (got < count && (k = getline(&line, &cap, fp)) > 0) {
        if (!strstr(line, has) || (hasnt && strstr(line, hasnt)))
            continue;
        cr_assert_lt(r->n, MAX_RECS);
        r->line[r->n] = line;
        r->len[r->n] = (size_t)k;
        r->n++;
        got++;
        line = NULL;
        cap = 0;
    }
    free(line);
    fclose(fp);
    cr_assert_eq(got, count, "%s: %d lines with '%s', wanted %d", file, got, has, count);
}

static void add(recs_t *r, const char *text)
{
    cr_assert_lt(r->n, MAX_RECS);
    r->line[r->n] = strdup(text);
    r->len[r->n] = strlen(text);
    r->n++;
}

static void recs_free(recs_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->line[i]);
    r->n = 0;
}

/* ------------------------------------------------------------------ */
/* Decoder sweeps. One run: c2w_decoder_new, decode every record in
 * order (a record rejected as no_memory is decoded again at once, and
 * must then come out as without failures), clear each, free the
 * decoder. Returns the number of steps.                              */

typedef struct baseline {
    c2w_dec_status_t status[MAX_RECS];
    int reason[MAX_RECS];
    char sum[MAX_RECS][1024];
} baseline_t;

/* The baseline is yajl's (full_parse): the sweeps of the fast path are
 * held to it too. */
static void decode_baseline(c2w_source_kind_t kind, const recs_t *r, baseline_t *base)
{
    c2w_decode_opts_t yajl_only = { .full_parse = true };
    c2w_decoder_t *d = c2w_decoder_new(kind, &yajl_only);
    cr_assert_not_null(d);
    size_t ok = 0;
    for (size_t i = 0; i < r->n; i++) {
        c2w_record_t rec;
        c2w_dec_result_t res;
        base->status[i] = c2w_decode(d, r->line[i], r->len[i], &rec, &res);
        base->reason[i] = res.reason;
        summary(&rec, base->sum[i], sizeof(base->sum[i]));
        ok += base->status[i] == C2W_DEC_OK;
        c2w_record_clear(&rec);
    }
    c2w_decoder_free(d);
    cr_assert_geq(ok, 3, "only %zu of %zu records decode: the sweep would test little", ok, r->n);
}

/* Decodes record i and compares with the baseline; a no_memory rejection
 * counts in *fails. Nothing here asserts (the sweep is on): problems go
 * to why. */
static void decode_one(c2w_decoder_t *d, const recs_t *r, const baseline_t *base, size_t i, int *fails,
                       char *why, size_t whylen)
{
    c2w_record_t rec;
    c2w_dec_result_t res;
    char sum[1024];
    c2w_dec_status_t st = c2w_decode(d, r->line[i], r->len[i], &rec, &res);
    if (st == C2W_DEC_REJECT && res.reason == C2W_REJ_NO_MEMORY) {
        (*fails)++;
        if (rec.kind != C2W_REC_NONE || strncmp(res.detail, "no_memory", 9) != 0)
            snprintf(why, whylen, "record %zu: no_memory with kind %d, detail '%s'", i, rec.kind, res.detail);
        return;
    }
    summary(&rec, sum, sizeof(sum));
    if (st != base->status[i] || res.reason != base->reason[i] || strcmp(sum, base->sum[i]) != 0)
        snprintf(why, whylen, "record %zu: status %d reason %d (%s) '%s', expected %d %d '%s'", i, st, res.reason,
                 res.detail, sum, base->status[i], base->reason[i], base->sum[i]);
    c2w_record_clear(&rec);
}

static long sweep_decoder_mode(const char *name, c2w_source_kind_t kind, const recs_t *r, const baseline_t *base,
                               bool full_parse)
{
    c2w_decode_opts_t opts = { .full_parse = full_parse };
    long n;
    for (n = 0; n < SWEEP_MAX_STEPS; n++) {
        char why[2600] = "";
        int fails = 0;
        sweep_start(n);
        c2w_decoder_t *d = c2w_decoder_new(kind, &opts);
        if (!d) {
            fails++;
        } else {
            for (size_t i = 0; i < r->n; i++) {
                int before = fails;
                decode_one(d, r, base, i, &fails, why, sizeof(why));
                if (fails > before && !why[0])
                    decode_one(d, r, base, i, &fails, why, sizeof(why)); /* the retry must succeed */
            }
            c2w_decoder_free(d);
        }
        sweep_stop();
        cr_assert_eq(why[0], '\0', "%s: allocation %ld failed: %s", name, n, why);
        cr_assert_eq(sweep_live, 0, "%s: allocation %ld failed: %ld blocks leaked", name, n, sweep_live);
        if (!sweep_reached(n)) {
            cr_assert_eq(fails, 0);
            break; /* allocation n was never reached: swept them all */
        }
        /* Every allocation of the decoder is needed: its failure shows. */
        cr_assert_eq(fails, 1, "%s: allocation %ld failed, %d results show it", name, n, fails);
    }
    /* a sweep that saw (almost) nothing is not working: the decoder makes
     * its tables, then one block of strings per record (record.h) */
    cr_assert_gt(n, 5, "%s: the sweep saw too few allocations (%ld)", name, n);
    cr_log_info("sweep %s (%s): %zu records, %ld steps", name, full_parse ? "yajl" : "fast path", r->n, n);
    return n;
}

/* Sweeps the records through a decoder that takes its fast path where it
 * can, and through one that always parses with yajl. */
static void sweep_decoder(const char *name, c2w_source_kind_t kind, const recs_t *r)
{
    baseline_t *base = calloc(1, sizeof(*base));
    cr_assert_not_null(base);
    decode_baseline(kind, r, base);
    sweep_decoder_mode(name, kind, r, base, false);
    sweep_decoder_mode(name, kind, r, base, true);
    free(base);
}

Test(oom, decode_zeek)
{
    recs_t r = { 0 };
    pick(&r, "fixtures/otrf-lsass-procdump-join/zeek_conn.ndjson", "\"uid\"", NULL, 4);
    pick(&r, "fixtures/scenarios/input-shapes/zeek.ndjson", "\"id.orig_h\"", NULL, 1); /* dotted */
    pick(&r, "fixtures/scenarios/input-shapes/zeek.ndjson", "\"id\":{", "\"conn\":{", 1); /* nested */
    pick(&r, "fixtures/scenarios/input-shapes/zeek.ndjson", "\"conn\":{", NULL, 1); /* Kafka wrapper */
    pick(&r, "fixtures/scenarios/ipv6-canonical/zeek.ndjson", "\"uid\"", NULL, 2);
    sweep_decoder("zeek", C2W_SRC_ZEEK, &r);
    recs_free(&r);
}

Test(oom, decode_sysmon_flat)
{
    recs_t r = { 0 };
    pick(&r, "fixtures/otrf-lsass-procdump-join/sysmon.ndjson", "\"EventID\":1,", NULL, 1);
    pick(&r, "fixtures/otrf-lsass-procdump-join/sysmon.ndjson", "\"EventID\":3,", NULL, 2);
    pick(&r, "fixtures/otrf-lsass-procdump-join/sysmon.ndjson", "\"EventID\":5,", NULL, 1);
    pick(&r, "fixtures/otrf-lsass-procdump-join/sysmon.ndjson", "\"EventID\":22,", NULL, 1);
    pick(&r, "fixtures/otrf-proxylogon-exchange-sysmon/sysmon_eid3.ndjson", "\"EventID\":3,", NULL, 2);
    pick(&r, "fixtures/scenarios/input-shapes/sysmon.ndjson", "\"Computer\"", "event_data", 1);
    pick(&r, "fixtures/scenarios/ipv6-canonical/sysmon.ndjson", "\"EventID\":3", NULL, 1);
    sweep_decoder("sysmon flat", C2W_SRC_SYSMON, &r);
    recs_free(&r);
}

Test(oom, decode_sysmon_winlogbeat6)
{
    recs_t r = { 0 };
    /* event 3 (1.7 KB) first, then event 1 (13.5 KB, 2.7 KB): the budget grows */
    pick(&r, "fixtures/otrf-winlogbeat6-sysmon/winlogbeat654_sysmon.ndjson", "\"event_id\":3,", NULL, 3);
    pick(&r, "fixtures/otrf-winlogbeat6-sysmon/winlogbeat654_sysmon.ndjson", "\"event_id\":1,", NULL, 2);
    pick(&r, "fixtures/scenarios/input-shapes/sysmon.ndjson", "\"event_data\"", "\"winlog\"", 2);
    sweep_decoder("sysmon winlogbeat6", C2W_SRC_SYSMON, &r);
    recs_free(&r);
}

Test(oom, decode_sysmon_winlogbeat7)
{
    recs_t r = { 0 };
    pick(&r, "fixtures/scenarios/input-shapes/sysmon.ndjson", "\"winlog\"", NULL, 3);
    sweep_decoder("sysmon winlogbeat7", C2W_SRC_SYSMON, &r);
    recs_free(&r);
}

/* Suricata flow records of the sessions that suricata-verify's own tests
 * describe (fixtures/suricata-verify-smtp-pop3-expectations: the classic
 * 10.10.1.4:1470 -> 74.53.140.153:25 SMTP capture and its counters),
 * completed into whole eve lines; the repository has no raw eve.json. */
Test(oom, decode_eve)
{
    recs_t r = { 0 };
    add(&r, "{\"timestamp\":\"2009-10-05T06:06:16.000000+0000\",\"flow_id\":1131579546154462,"
            "\"event_type\":\"flow\",\"src_ip\":\"10.10.1.4\",\"src_port\":1470,\"dest_ip\":\"74.53.140.153\","
            "\"dest_port\":25,\"proto\":\"TCP\",\"app_proto\":\"smtp\",\"flow\":{\"pkts_toserver\":28,"
            "\"pkts_toclient\":29,\"bytes_toserver\":22065,\"bytes_toclient\":4340,"
            "\"start\":\"2009-10-05T06:06:07.492000+0000\",\"end\":\"2009-10-05T06:06:15.000000+0000\","
            "\"age\":8,\"state\":\"closed\",\"reason\":\"shutdown\",\"alerted\":true},\"tcp\":{"
            "\"tcp_flags\":\"1b\",\"tcp_flags_ts\":\"1b\",\"tcp_flags_tc\":\"1b\",\"syn\":true,\"fin\":true,"
            "\"psh\":true,\"ack\":true,\"state\":\"closed\"},"
            "\"community_id\":\"1:7Vi+e\\/2bZx2kS7ZfZPm2EJGnP0w=\"}\n");
    add(&r, "{\"timestamp\":\"2021-06-06T19:41:57.000000+0200\",\"flow_id\":1003106940589166,"
            "\"event_type\":\"flow\",\"src_ip\":\"10.20.4.37\",\"src_port\":59578,\"dest_ip\":\"192.0.2.80\","
            "\"dest_port\":110,\"proto\":\"TCP\",\"app_proto\":\"pop3\",\"flow\":{\"pkts_toserver\":6,"
            "\"pkts_toclient\":16,\"bytes_toserver\":2043,\"bytes_toclient\":18890,"
            "\"start\":\"2021-06-06T19:41:49.234606+0200\",\"end\":\"2021-06-06T19:41:56.591364+0200\","
            "\"age\":7,\"state\":\"closed\",\"reason\":\"shutdown\",\"alerted\":false},"
            "\"tcp\":{\"tcp_flags\":\"1b\",\"tcp_flags_ts\":\"1b\",\"tcp_flags_tc\":\"1b\"}}\n");
    add(&r, "{\"timestamp\":\"2021-06-06T19:42:00.000000+0200\",\"flow_id\":7,\"event_type\":\"flow\","
            "\"src_ip\":\"2001:db8::10\",\"src_port\":5353,\"dest_ip\":\"2001:db8::53\",\"dest_port\":53,"
            "\"proto\":\"UDP\",\"app_proto\":\"dns\",\"flow\":{\"pkts_toserver\":1,\"pkts_toclient\":1,"
            "\"bytes_toserver\":80,\"bytes_toclient\":120,\"start\":\"2021-06-06T19:41:59.100000+0200\"}}\n");
    add(&r, "{\"timestamp\":\"2021-06-06T19:42:01.000000+0200\",\"flow_id\":8,\"event_type\":\"flow\","
            "\"src_ip\":\"10.20.4.37\",\"src_port\":59590,\"dest_ip\":\"192.0.2.81\",\"dest_port\":993,"
            "\"proto\":\"TCP\",\"flow\":{\"pkts_toserver\":2,\"pkts_toclient\":0,\"bytes_toserver\":120,"
            "\"bytes_toclient\":0,\"start\":\"2021-06-06T19:42:00.000000+0200\",\"state\":\"new\"},"
            "\"tcp\":{\"tcp_flags\":\"02\",\"tcp_flags_ts\":\"02\",\"tcp_flags_tc\":\"00\"}}\n");
    add(&r, "{\"timestamp\":\"2021-06-06T19:43:10.000000+0200\",\"flow_id\":2207754468232713,"
            "\"in_iface\":\"eth0\",\"event_type\":\"flow\",\"src_ip\":\"10.20.4.38\",\"src_port\":50211,"
            "\"dest_ip\":\"198.51.100.25\",\"dest_port\":110,\"proto\":\"TCP\",\"app_proto\":\"pop3\","
            "\"flow\":{\"pkts_toserver\":9,\"pkts_toclient\":11,\"bytes_toserver\":734,\"bytes_toclient\":2381,"
            "\"start\":\"2021-06-06T19:43:01.500000+0200\",\"end\":\"2021-06-06T19:43:09.900000+0200\","
            "\"age\":8,\"state\":\"closed\",\"reason\":\"timeout\",\"alerted\":false},"
            "\"tcp\":{\"tcp_flags\":\"1f\",\"tcp_flags_ts\":\"1f\",\"tcp_flags_tc\":\"1b\"},"
            "\"community_id\":\"1:LQU9qZlK+B5F3KDmev6m5PMibrg=\"}\n");
    add(&r, "{\"timestamp\":\"2021-06-06T19:44:00.000000+0200\",\"flow_id\":2207754468232714,"
            "\"event_type\":\"flow\",\"src_ip\":\"::ffff:10.20.4.39\",\"src_port\":50300,"
            "\"dest_ip\":\"203.0.113.40\",\"dest_port\":993,\"proto\":\"TCP\",\"app_proto\":\"tls\","
            "\"flow\":{\"pkts_toserver\":14,\"pkts_toclient\":12,\"bytes_toserver\":2876,\"bytes_toclient\":6120,"
            "\"start\":\"2021-06-06T19:43:50.000000+0200\",\"end\":\"2021-06-06T19:43:59.000000+0200\","
            "\"age\":9,\"state\":\"closed\",\"reason\":\"shutdown\",\"alerted\":false},"
            "\"tcp\":{\"tcp_flags\":\"1b\",\"tcp_flags_ts\":\"1b\",\"tcp_flags_tc\":\"1b\"},"
            "\"community_id\":\"1:9tRc2bHQ0p\\/0hRkmGfr8XzJtQ2Y=\"}\n");
    sweep_decoder("eve", C2W_SRC_EVE, &r);
    recs_free(&r);
}

/* The constructor alone: its three blocks (decoder, frames, scratch). */
Test(oom, decoder_new)
{
    for (int kind = 0; kind < C2W_SRC_COUNT; kind++) {
        long n;
        for (n = 0; n < 100; n++) {
            sweep_start(n);
            c2w_decoder_t *d = c2w_decoder_new((c2w_source_kind_t)kind, NULL);
            c2w_decoder_free(d);
            sweep_stop();
            cr_assert_eq(sweep_live, 0, "kind %d: allocation %ld failed: %ld blocks leaked", kind, n, sweep_live);
            if (!sweep_reached(n)) {
                cr_assert_not_null(d);
                break;
            }
            cr_assert_null(d, "kind %d: allocation %ld failed, yet a decoder came back", kind, n);
        }
        cr_assert_eq(n, 3, "kind %d: %ld allocations", kind, n);
    }
}

/* ------------------------------------------------------------------ */
/* yajl's budget (consumer/decode.c, "yajl's allocator"): on records
 * built to make each of yajl's buffers as large as a record of that size
 * allows, a decode allocates at most the budget itself: had yajl asked
 * for more, the heap fallback would show as more allocations.        */

Test(oom, yajl_stays_in_budget)
{
    static const size_t sizes[] = { 40, 2030, 2046, 2047, 2048, 2049, 4094, 4095, 4096, 8190, 65536, 300000 };
    size_t max = 300000 + 64;
    char *buf = malloc(max);
    cr_assert_not_null(buf);
    for (size_t w = 0; w < sizeof(worst_cases) / sizeof(worst_cases[0]); w++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            size_t len = worst_record((int)w, sizes[s], buf);
            /* max_depth past the record's length: the state stack may
             * grow as far as the record allows */
            c2w_decode_opts_t opts = { .max_record_bytes = max, .max_depth = w == 5 ? 400000 : 0, .full_parse = true };
            c2w_decoder_t *d = c2w_decoder_new(C2W_SRC_ZEEK, &opts);
            cr_assert_not_null(d);
            c2w_record_t rec;
            c2w_dec_result_t res;
            long kept = 0;
            for (int pass = 0; pass < 2; pass++) {
                sweep_start(-1); /* count only */
                c2w_dec_status_t st = c2w_decode(d, buf, len, &rec, &res);
                sweep_stop();
                cr_assert_eq(st, C2W_DEC_REJECT, "%s, %zu bytes: status %d", worst_cases[w].what, len, st);
                cr_assert_eq(res.reason, worst_cases[w].reason, "%s, %zu bytes: %s", worst_cases[w].what, len,
                             res.detail);
                /* pass 0 allocates the budget, and keeps it unless it is
                 * past DEC_YA_KEEP; pass 1 reuses a kept one, or allocates
                 * it again. Any other allocation is yajl leaving it. */
                long want = pass == 0 || !kept ? 1 : 0;
                cr_assert_eq(sweep_calls, want, "%s, %zu bytes, pass %d: %ld allocations (yajl left its budget)",
                             worst_cases[w].what, len, pass, sweep_calls);
                if (pass == 0)
                    kept = sweep_live;
                cr_assert(sweep_live == 0 || (pass == 0 && sweep_live == 1), "%s, %zu bytes, pass %d: %ld blocks live",
                          worst_cases[w].what, len, pass, sweep_live);
            }
            c2w_decoder_free(d);
        }
    }
    free(buf);
}

/* A record that needs more budget than any before it gets it (one more
 * allocation); when that allocation fails the record is no_memory, and
 * the next small record still decodes. */
Test(oom, budget_growth_fails_cleanly)
{
    static const char small[] = "{\"ts\":1692146028.495991,\"uid\":\"C1\",\"id.orig_h\":\"192.168.1.43\","
                                "\"id.orig_p\":49873,\"id.resp_h\":\"192.168.1.1\",\"id.resp_p\":25,"
                                "\"proto\":\"tcp\",\"conn_state\":\"SF\"}";
    size_t big_len = 20000;
    char *big = malloc(big_len + 1);
    cr_assert_not_null(big);
    /* the small record with a long unread field in front */
    int k = snprintf(big, big_len + 1, "{\"note\":\"");
    memset(big + k, 'n', big_len - (size_t)k);
    size_t tail = sizeof(small) - 2; /* without the leading '{' */
    memcpy(big + big_len - tail - 2, "\",", 2);
    memcpy(big + big_len - tail, small + 1, tail);
    c2w_decode_opts_t yajl_only = { .full_parse = true }; /* the budget is yajl's */
    c2w_decoder_t *d = c2w_decoder_new(C2W_SRC_ZEEK, &yajl_only);
    cr_assert_not_null(d);
    c2w_record_t rec;
    c2w_dec_result_t res;
    cr_assert_eq(c2w_decode(d, small, strlen(small), &rec, &res), C2W_DEC_OK, "%s", res.detail);
    c2w_record_clear(&rec);
    cr_assert_eq(c2w_decode(d, big, big_len, &rec, &res), C2W_DEC_OK, "%s", res.detail);
    c2w_record_clear(&rec);
    c2w_decoder_free(d);

    d = c2w_decoder_new(C2W_SRC_ZEEK, &yajl_only);
    cr_assert_not_null(d);
    cr_assert_eq(c2w_decode(d, small, strlen(small), &rec, &res), C2W_DEC_OK, "%s", res.detail);
    c2w_record_clear(&rec);
    sweep_start(0); /* the big record's budget */
    c2w_dec_status_t st = c2w_decode(d, big, big_len, &rec, &res);
    sweep_stop();
    cr_assert_eq(st, C2W_DEC_REJECT);
    cr_assert_eq(res.reason, C2W_REJ_NO_MEMORY);
    cr_assert_str_eq(res.detail, "no_memory: parser");
    cr_assert_eq(sweep_calls, 1);
    cr_assert_eq(sweep_live, -1); /* the small record's budget, from before the sweep, was freed */
    cr_assert_eq(c2w_decode(d, small, strlen(small), &rec, &res), C2W_DEC_OK, "%s", res.detail);
    c2w_record_clear(&rec);
    cr_assert_eq(c2w_decode(d, big, big_len, &rec, &res), C2W_DEC_OK, "%s", res.detail);
    c2w_record_clear(&rec);
    c2w_decoder_free(d);
    free(big);
}

/* ------------------------------------------------------------------ */
/* Loader sweeps.                                                     */

static long sweep_rules(const char *rel)
{
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/%s", root_dir(), rel);
    c2w_ruleset_t *rs = NULL;
    cr_assert_eq(c2w_ruleset_load(path, &rs, err, sizeof(err)), 0, "%s", err);
    size_t want = c2w_ruleset_count(rs);
    c2w_ruleset_free(rs);
    long n;
    for (n = 0; n < SWEEP_MAX_STEPS; n++) {
        rs = NULL;
        err[0] = '\0';
        sweep_start(n);
        int rc = c2w_ruleset_load(path, &rs, err, sizeof(err));
        sweep_stop();
        if (rc == 0) {
            /* A failure absorbed (stdio reads unbuffered when it cannot
             * get a buffer): the ruleset must be whole. */
            cr_assert_eq(c2w_ruleset_count(rs), want, "%s: allocation %ld failed", rel, n);
            sweep_resume();
            c2w_ruleset_free(rs);
            sweep_stop();
            cr_assert_eq(sweep_live, 0, "%s: allocation %ld failed: %ld blocks left after free", rel, n, sweep_live);
            if (!sweep_reached(n))
                break; /* allocation n was never reached: swept them all */
            continue;
        }
        cr_assert_eq(rc, -1);
        cr_assert_null(rs);
        cr_assert_neq(err[0], '\0', "%s: no message when allocation %ld failed", rel, n);
        /* glibc's regcomp leaks a block of its own when one of its
         * allocations fails (as in test_rule.c): not ours. */
        if (strstr(err, "out of memory compiling regular expression"))
            continue;
        cr_assert_eq(sweep_live, 0, "%s: allocation %ld failed: %ld blocks leaked (%s)", rel, n, sweep_live, err);
    }
    cr_assert_gt(n, 10, "%s: the sweep saw too few allocations (%ld)", rel, n);
    cr_log_info("sweep rules %s: %ld steps", rel, n);
    return n;
}

Test(oom, rules_reference_pack)
{
    sweep_rules("rules/mail-protocols.yaml");
}

Test(oom, rules_examples)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/rules/examples", root_dir());
    DIR *dp = opendir(dir);
    cr_assert_not_null(dp);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(dp))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".yaml") != 0)
            continue;
        char rel[512];
        snprintf(rel, sizeof(rel), "rules/examples/%s", de->d_name);
        sweep_rules(rel);
        files++;
    }
    closedir(dp);
    cr_assert_geq(files, 2);
    sweep_rules("rules/examples"); /* the directory: one load, shared lists */
}

/* c2w_config_defaults + c2w_config_load(deploy/c2watch.yaml) +
 * c2w_config_dump, then c2w_config_free. */
Test(oom, config_deploy_file)
{
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/deploy/c2watch.yaml", root_dir());
    c2w_config_t c;
    c2w_buf_t want = { 0 };
    cr_assert_eq(c2w_config_defaults(&c), 0);
    cr_assert_eq(c2w_config_load(&c, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c2w_config_dump(&c, &want), 0);
    c2w_config_free(&c);
    long n;
    for (n = 0; n < SWEEP_MAX_STEPS; n++) {
        c2w_buf_t b = { 0 };
        bool same = false;
        err[0] = '\0';
        sweep_start(n);
        int rc = c2w_config_defaults(&c);
        int load_rc = 0;
        if (rc == 0) {
            rc = load_rc = c2w_config_load(&c, path, err, sizeof(err));
            if (rc == 0)
                rc = c2w_config_dump(&c, &b);
            c2w_config_free(&c);
        }
        same = rc == 0 && b.len == want.len && memcmp(b.data, want.data, want.len) == 0;
        c2w_buf_free(&b);
        sweep_stop();
        cr_assert_eq(sweep_live, 0, "allocation %ld failed: %ld blocks leaked (%s)", n, sweep_live, err);
        if (load_rc < 0)
            cr_assert_neq(err[0], '\0', "allocation %ld failed: no message", n);
        if (rc == 0)
            cr_assert(same, "allocation %ld failed: the dump differs", n);
        if (rc == 0 && !sweep_reached(n))
            break; /* allocation n was never reached: swept them all */
    }
    c2w_buf_free(&want);
    cr_assert_gt(n, 10, "the sweep saw too few allocations (%ld)", n);
    cr_log_info("sweep config deploy/c2watch.yaml: %ld steps", n);
}

#else /* !SWEEP */

#define SKIP_ASAN cr_skip_test("allocation sweep needs the C library allocator (not ASan)")
Test(oom, decode_zeek)
{
    SKIP_ASAN;
}
Test(oom, decode_sysmon_flat)
{
    SKIP_ASAN;
}
Test(oom, decode_sysmon_winlogbeat6)
{
    SKIP_ASAN;
}
Test(oom, decode_sysmon_winlogbeat7)
{
    SKIP_ASAN;
}
Test(oom, decode_eve)
{
    SKIP_ASAN;
}
Test(oom, decoder_new)
{
    SKIP_ASAN;
}
Test(oom, yajl_stays_in_budget)
{
    SKIP_ASAN;
}
Test(oom, budget_growth_fails_cleanly)
{
    SKIP_ASAN;
}
Test(oom, rules_reference_pack)
{
    SKIP_ASAN;
}
Test(oom, rules_examples)
{
    SKIP_ASAN;
}
Test(oom, config_deploy_file)
{
    SKIP_ASAN;
}
#endif
