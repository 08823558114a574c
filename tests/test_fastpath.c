/*
 * test_fastpath.c — the decoder's fast path (flat records parsed without
 * yajl, unwanted flows kept lean) against yajl's full parse.
 *
 * The fast path may only ever answer the way the full parse would: same
 * status, reason and detail, same record field by field. Each check here
 * decodes an input twice — with a decoder that takes the fast path where
 * it can, and with one set to full_parse — and compares. The adversarial
 * records (keys inside strings, escaped quotes, reordered keys,
 * whitespace, escaped key names, duplicates, learnt-key-token poisoning)
 * also assert the values SPEC §2 gives them and whether the fast path was
 * the one that answered, so the comparison cannot pass by never taking
 * it. The mutation sweep then edits real records byte by byte.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2watch/decode.h"
#include "record_summary.h"

static uint8_t mail_ports[8192];

static void init_ports(void)
{
    static const unsigned ports[] = { 25, 465, 587, 110, 995, 143, 993 };
    memset(mail_ports, 0, sizeof(mail_ports));
    for (size_t k = 0; k < sizeof(ports) / sizeof(ports[0]); k++)
        mail_ports[ports[k] >> 3] |= (uint8_t)(1u << (ports[k] & 7));
}

typedef struct pair {
    c2w_decoder_t *fast, *full;
} pair_t;

static pair_t pair_new(c2w_source_kind_t kind, bool filter)
{
    c2w_decode_opts_t yajl_only = { .full_parse = true };
    pair_t p = { c2w_decoder_new(kind, NULL), c2w_decoder_new(kind, &yajl_only) };
    cr_assert(p.fast && p.full);
    if (filter) {
        c2w_decoder_set_ports(p.fast, mail_ports);
        c2w_decoder_set_ports(p.full, mail_ports);
    }
    return p;
}

static void pair_free(pair_t *p)
{
    c2w_decoder_free(p->fast);
    c2w_decoder_free(p->full);
}

static uint64_t fast_count(const c2w_decoder_t *d)
{
    uint64_t fast, full;
    c2w_decoder_counts(d, &fast, &full);
    return fast;
}

/* One decode's outcome, as text. */
typedef struct outcome {
    c2w_dec_status_t st;
    int reason;
    char detail[160];
    char sum[2048];
    c2w_record_t rec;
} outcome_t;

static void decode_into(c2w_decoder_t *d, const char *buf, size_t len, outcome_t *o)
{
    c2w_dec_result_t res;
    o->st = c2w_decode(d, buf, len, &o->rec, &res);
    o->reason = res.reason;
    snprintf(o->detail, sizeof(o->detail), "%s", res.detail);
    summary(&o->rec, o->sum, sizeof(o->sum));
}

/* Decodes buf both ways; fails the test when they differ. Returns whether
 * the fast path answered. *out keeps the fast decoder's record (the
 * caller clears it) when out is not NULL. */
static bool same_both_ways(pair_t *p, const char *buf, size_t len, outcome_t *out, const char *what)
{
    outcome_t a, b;
    uint64_t before = fast_count(p->fast);
    decode_into(p->fast, buf, len, &a);
    bool took = fast_count(p->fast) > before;
    decode_into(p->full, buf, len, &b);
    if (a.st != b.st || a.reason != b.reason || strcmp(a.detail, b.detail) != 0 || strcmp(a.sum, b.sum) != 0)
        cr_assert_fail("%s: fast path and yajl differ on [%.*s]\n  fast: %d %d '%s' %s\n  yajl: %d %d '%s' %s", what, (int)len,
                 buf, a.st, a.reason, a.detail, a.sum, b.st, b.reason, b.detail, b.sum);
    c2w_record_clear(&b.rec);
    if (out)
        *out = a;
    else
        c2w_record_clear(&a.rec);
    return took;
}

/* ---- adversarial records with their expected outcome ---- */

#define ZBASE_HEAD "{\"ts\":1795852800.428519,\"uid\":\"C05cc1\",\"id.orig_h\":\"10.10.1.216\",\"id.orig_p\":63448,"
#define ZBASE_TAIL ",\"proto\":\"tcp\",\"conn_state\":\"SF\",\"history\":\"ShADadFf\"}"

typedef struct zcase {
    const char *what, *json;
    bool fast; /* the fast path must answer (false: it must hand it to yajl) */
    c2w_dec_status_t st;
    int reason; /* for rejects */
    unsigned resp_p; /* for OK records */
    bool lean; /* OK and unwanted: strings not kept */
} zcase_t;

static const zcase_t zeek_cases[] = {
    { "plain, wanted port", ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":25" ZBASE_TAIL, true, C2W_DEC_OK,
      0, 25, false },
    { "plain, unwanted port", ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":443" ZBASE_TAIL, true,
      C2W_DEC_OK, 0, 443, true },
    { "key inside a string, real port unwanted",
      ZBASE_HEAD "\"note\":\"\\\"id.resp_p\\\":25,\",\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":443" ZBASE_TAIL, true,
      C2W_DEC_OK, 0, 443, true },
    { "key inside a string, real port wanted",
      ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":587,\"note\":\"{\\\"id.resp_p\\\":443}\"" ZBASE_TAIL,
      true, C2W_DEC_OK, 0, 587, false },
    { "key text as a value", ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"x\":\"id.resp_p\",\"id.resp_p\":110" ZBASE_TAIL,
      true, C2W_DEC_OK, 0, 110, false },
    { "escaped quotes and backslashes in a read value",
      ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":25,\"service\":\"s\\\"m\\\\t\\/p\\n\"" ZBASE_TAIL, true,
      C2W_DEC_OK, 0, 25, false },
    { "reordered keys",
      "{\"id.resp_p\":993,\"history\":\"Sh\",\"conn_state\":\"SF\",\"proto\":\"tcp\",\"id.resp_h\":\"198.51.100.2\","
      "\"id.orig_p\":50000,\"id.orig_h\":\"10.0.0.1\",\"uid\":\"Cx\",\"ts\":1795852801}",
      true, C2W_DEC_OK, 0, 993, false },
    { "whitespace everywhere",
      " \t{ \"ts\" :\t1795852800.5 ,\r\n \"uid\" : \"C1\" , \"id.orig_h\" : \"10.0.0.1\" , \"id.orig_p\" : 50000 ,"
      " \"id.resp_h\" : \"198.51.100.1\" , \"id.resp_p\" : 143 , \"proto\" : \"tcp\" , \"conn_state\" : \"SF\" }\t ",
      true, C2W_DEC_OK, 0, 143, false },
    { "whitespace, unwanted",
      "{ \"ts\" : 1795852800.5 , \"uid\" : \"C1\" , \"id.orig_h\" : \"10.0.0.1\" , \"id.orig_p\" : 50000 ,"
      " \"id.resp_h\" : \"203.0.113.9\" , \"id.resp_p\" : 8080 , \"proto\" : \"tcp\" , \"conn_state\" : \"S0\" }",
      true, C2W_DEC_OK, 0, 8080, true },
    { "escaped key spelling a read field", ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp\\u005fp\":25" ZBASE_TAIL,
      false, C2W_DEC_OK, 0, 25, false },
    { "escaped key, the plain one unwanted",
      ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":443,\"id.resp\\u005fp\":25" ZBASE_TAIL, false,
      C2W_DEC_REJECT, C2W_REJ_DUPLICATE_KEY, 0, false },
    { "duplicate read key", ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":443,\"id.resp_p\":25" ZBASE_TAIL,
      false, C2W_DEC_REJECT, C2W_REJ_DUPLICATE_KEY, 0, false },
    { "duplicate unread key", ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"x\":1,\"x\":2,\"id.resp_p\":443" ZBASE_TAIL,
      true, C2W_DEC_OK, 0, 443, true },
    { "nested id object", "{\"ts\":1795852800,\"uid\":\"C2\",\"id\":{\"orig_h\":\"10.0.0.1\",\"orig_p\":50000,"
                          "\"resp_h\":\"198.51.100.1\",\"resp_p\":25},\"proto\":\"tcp\",\"conn_state\":\"SF\"}",
      false, C2W_DEC_OK, 0, 25, false },
    { "port as a string", ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":\"443\"" ZBASE_TAIL, true,
      C2W_DEC_REJECT, C2W_REJ_BAD_TYPE, 0, false },
    { "port as a fraction", ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":2.5e1" ZBASE_TAIL, true,
      C2W_DEC_REJECT, C2W_REJ_BAD_PORT, 0, false },
    { "port with a leading zero", ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":025" ZBASE_TAIL, false,
      C2W_DEC_REJECT, C2W_REJ_BAD_JSON, 0, false },
    { "bad IP in an unwanted flow", ZBASE_HEAD "\"id.resp_h\":\"198.51.100.300\",\"id.resp_p\":443" ZBASE_TAIL, true,
      C2W_DEC_REJECT, C2W_REJ_BAD_IP, 0, false },
    { "missing uid in an unwanted flow",
      "{\"ts\":1795852800,\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":50000,\"id.resp_h\":\"203.0.113.1\","
      "\"id.resp_p\":443,\"proto\":\"tcp\",\"conn_state\":\"SF\"}",
      true, C2W_DEC_REJECT, C2W_REJ_MISSING_FIELD, 0, false },
    { "null uid", ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":443,\"uid\":null" ZBASE_TAIL, false,
      C2W_DEC_REJECT, C2W_REJ_DUPLICATE_KEY, 0, false },
    { "trailing garbage", ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":443" ZBASE_TAIL "x", false,
      C2W_DEC_REJECT, C2W_REJ_BAD_JSON, 0, false },
    { "trailing comma", ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":443,}", false, C2W_DEC_REJECT,
      C2W_REJ_BAD_JSON, 0, false },
    { "truncated", ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":44", false, C2W_DEC_REJECT,
      C2W_REJ_BAD_JSON, 0, false },
    { "raw tab inside a string", ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":443,\"n\":\"a\tb\"" ZBASE_TAIL,
      false, C2W_DEC_REJECT, C2W_REJ_BAD_JSON, 0, false },
    { "valid UTF-8 in an unread value",
      ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":443,\"n\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\"" ZBASE_TAIL,
      true, C2W_DEC_OK, 0, 443, true },
    { "invalid UTF-8 in an unread value",
      ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":443,\"n\":\"caf\xc3(\"" ZBASE_TAIL, false, C2W_DEC_REJECT,
      C2W_REJ_BAD_UTF8, 0, false },
    { "overlong UTF-8 in an unread key",
      ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":443,\"\xc0\xaf\":1" ZBASE_TAIL, false, C2W_DEC_REJECT,
      C2W_REJ_BAD_UTF8, 0, false },
    { "lone surrogate escape in an unread value",
      ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":443,\"n\":\"\\ud800\"" ZBASE_TAIL, false, C2W_DEC_REJECT,
      C2W_REJ_BAD_UTF8, 0, false },
    { "array value", ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":443,\"tunnel_parents\":[]" ZBASE_TAIL,
      false, C2W_DEC_OK, 0, 443, true },
    { "Kafka writer wrapper", "{\"conn\":{\"ts\":1795852800,\"uid\":\"C3\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":50000,"
                              "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":465,\"proto\":\"tcp\",\"conn_state\":\"SF\"}}",
      false, C2W_DEC_OK, 0, 465, false },
    { "other log by _path", "{\"_path\":\"dns\",\"ts\":1795852800,\"uid\":\"C4\",\"query\":\"example.com\"}", true,
      C2W_DEC_SKIP, C2W_SKIP_OTHER_LOG, 0, false },
    { "empty object", "{}", true, C2W_DEC_REJECT, C2W_REJ_MISSING_FIELD, 0, false },
    { "a long unread key that starts like a read one",
      ZBASE_HEAD "\"id.resp_h\":\"203.0.113.1\",\"id.resp_p\":443,\"id.resp_p_"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\":25" ZBASE_TAIL,
      true, C2W_DEC_OK, 0, 443, true },
};

Test(fastpath, zeek_adversarial, .init = init_ports)
{
    pair_t p = pair_new(C2W_SRC_ZEEK, true);
    for (size_t k = 0; k < sizeof(zeek_cases) / sizeof(zeek_cases[0]); k++) {
        const zcase_t *c = &zeek_cases[k];
        outcome_t o;
        bool took = same_both_ways(&p, c->json, strlen(c->json), &o, c->what);
        cr_expect_eq(took, c->fast, "%s: fast path %s", c->what, took ? "answered" : "handed it on");
        cr_expect_eq(o.st, c->st, "%s: status %d (%s)", c->what, o.st, o.detail);
        if (c->st == C2W_DEC_OK) {
            cr_expect_eq(o.rec.u.flow.resp_p, c->resp_p, "%s: port %u", c->what, o.rec.u.flow.resp_p);
            cr_expect_eq(o.rec.u.flow.uid == NULL, c->lean, "%s: lean %d", c->what, o.rec.u.flow.uid == NULL);
        } else {
            cr_expect_eq(o.reason, c->reason, "%s: reason %d (%s)", c->what, o.reason, o.detail);
        }
        c2w_record_clear(&o.rec);
    }
    pair_free(&p);
}

/* Values read from a record with escapes come out decoded, as yajl would. */
Test(fastpath, escapes_decoded, .init = init_ports)
{
    pair_t p = pair_new(C2W_SRC_ZEEK, true);
    const char *json = zeek_cases[5].json;
    outcome_t o;
    cr_assert(same_both_ways(&p, json, strlen(json), &o, "escapes"));
    cr_assert_str_eq(o.rec.u.flow.service, "s\"m\\t/p\n");
    c2w_record_clear(&o.rec);
    pair_free(&p);
}

/* The learnt key tokens: a record whose keys differ from the last ones in
 * one byte, or only in where the colon sits, gets its own slots. */
Test(fastpath, learnt_keys_not_poisoned, .init = init_ports)
{
    pair_t p = pair_new(C2W_SRC_ZEEK, true);
    static const char *const seq[] = {
        ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":25" ZBASE_TAIL,
        ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_q\":25,\"id.resp_p\":443" ZBASE_TAIL,
        ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\" :443" ZBASE_TAIL,
        ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":25" ZBASE_TAIL,
        ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_P\":25" ZBASE_TAIL,
        ZBASE_HEAD "\"id.resp_h\":\"198.51.100.1\",\"id.resp_p\":587" ZBASE_TAIL,
    };
    static const c2w_dec_status_t want[] = { C2W_DEC_OK, C2W_DEC_OK, C2W_DEC_OK, C2W_DEC_OK, C2W_DEC_REJECT, C2W_DEC_OK };
    static const unsigned port[] = { 25, 443, 443, 25, 0, 587 };
    for (int round = 0; round < 3; round++) {
        for (size_t k = 0; k < sizeof(seq) / sizeof(seq[0]); k++) {
            outcome_t o;
            cr_assert(same_both_ways(&p, seq[k], strlen(seq[k]), &o, "learnt keys"));
            cr_assert_eq(o.st, want[k], "record %zu: %s", k, o.detail);
            if (want[k] == C2W_DEC_OK)
                cr_assert_eq(o.rec.u.flow.resp_p, port[k], "record %zu: port %u", k, o.rec.u.flow.resp_p);
            c2w_record_clear(&o.rec);
        }
    }
    pair_free(&p);
}

#define SBASE "{\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\"," \
              "\"Hostname\":\"WS-00001.corp.example.com\","
#define SEV3 "\"UtcTime\":\"2026-11-28 00:00:01.003\",\"ProcessGuid\":\"{00000001-0002-6b0a-0000-000000000021}\"," \
             "\"ProcessId\":\"1008\",\"Image\":\"C:\\\\Windows\\\\System32\\\\svchost.exe\",\"User\":\"CORP\\\\u\"," \
             "\"Protocol\":\"tcp\",\"Initiated\":\"true\",\"SourceIp\":\"10.10.0.2\",\"SourcePort\":\"50000\"," \
             "\"DestinationIp\":\"198.51.100.1\","

Test(fastpath, sysmon_adversarial, .init = init_ports)
{
    pair_t p = pair_new(C2W_SRC_SYSMON, true);
    static const struct {
        const char *what, *json;
        bool fast;
        c2w_dec_status_t st;
        int kind_or_reason;
        bool lean;
    } cases[] = {
        { "event 3 wanted", SBASE "\"EventID\":3," SEV3 "\"DestinationPort\":\"25\"}", true, C2W_DEC_OK,
          C2W_REC_NETCONN, false },
        { "event 3 unwanted", SBASE "\"EventID\":3," SEV3 "\"DestinationPort\":\"443\"}", true, C2W_DEC_OK,
          C2W_REC_NETCONN, true },
        { "event id as a string", SBASE "\"EventID\":\"3\"," SEV3 "\"DestinationPort\":\"443\"}", true, C2W_DEC_OK,
          C2W_REC_NETCONN, true },
        { "channel in another case", "{\"Channel\":\"microsoft-windows-sysmon/operational\",\"Hostname\":\"h\","
                                     "\"EventID\":3," SEV3 "\"DestinationPort\":\"25\"}",
          true, C2W_DEC_OK, C2W_REC_NETCONN, false },
        { "another channel", "{\"Channel\":\"Security\",\"Hostname\":\"h\",\"EventID\":3," SEV3 "\"DestinationPort\":\"25\"}",
          true, C2W_DEC_SKIP, C2W_SKIP_CHANNEL, false },
        { "prefixed flat keys", SBASE "\"EventID\":3,\"event_data.UtcTime\":\"2026-11-28 00:00:01.003\","
                                      "\"event_data.ProcessGuid\":\"{g}\",\"event_data.Image\":\"C:\\\\x.exe\","
                                      "\"event_data.ProcessId\":\"4\",\"event_data.Protocol\":\"tcp\","
                                      "\"event_data.Initiated\":\"true\",\"event_data.SourceIp\":\"10.0.0.1\","
                                      "\"event_data.SourcePort\":\"50001\",\"event_data.DestinationIp\":\"1.2.3.4\","
                                      "\"event_data.DestinationPort\":\"995\"}",
          true, C2W_DEC_OK, C2W_REC_NETCONN, false },
        { "prefixed and plain spelling of one field",
          SBASE "\"EventID\":3," SEV3 "\"DestinationPort\":\"443\",\"event_data.DestinationPort\":\"25\"}", false,
          C2W_DEC_REJECT, C2W_REJ_DUPLICATE_KEY, false },
        { "noise event", SBASE "\"EventID\":13,\"UtcTime\":\"2026-11-28 00:00:01.003\",\"TargetObject\":\"HKLM\\\\x\"}",
          true, C2W_DEC_SKIP, C2W_SKIP_EVENT_ID, false },
        { "noise event with a read field twice",
          SBASE "\"EventID\":10,\"Image\":\"a.exe\",\"Image\":\"b.exe\",\"TargetObject\":\"x\"}", false, C2W_DEC_REJECT,
          C2W_REJ_DUPLICATE_KEY, false },
        { "noise event, event id inside a string",
          SBASE "\"Note\":\"\\\"EventID\\\":3\",\"EventID\":7,\"UtcTime\":\"2026-11-28 00:00:01.003\"}", true,
          C2W_DEC_SKIP, C2W_SKIP_EVENT_ID, false },
        { "event 3 with a bad port, unwanted otherwise",
          SBASE "\"EventID\":3," SEV3 "\"DestinationPort\":\"44x\"}", true, C2W_DEC_REJECT, C2W_REJ_BAD_PORT, false },
        { "Winlogbeat 7 nesting", "{\"winlog\":{\"channel\":\"Microsoft-Windows-Sysmon/Operational\","
                                  "\"event_id\":3,\"computer_name\":\"h\",\"event_data\":{"
                                  "\"UtcTime\":\"2026-11-28 00:00:01.003\",\"ProcessGuid\":\"{g}\",\"ProcessId\":\"4\","
                                  "\"Image\":\"C:\\\\x.exe\",\"Protocol\":\"tcp\",\"Initiated\":\"true\","
                                  "\"SourceIp\":\"10.0.0.1\",\"SourcePort\":\"50001\",\"DestinationIp\":\"1.2.3.4\","
                                  "\"DestinationPort\":\"995\"}}}",
          false, C2W_DEC_OK, C2W_REC_NETCONN, false },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        outcome_t o;
        bool took = same_both_ways(&p, cases[k].json, strlen(cases[k].json), &o, cases[k].what);
        cr_expect_eq(took, cases[k].fast, "%s: fast path %s", cases[k].what, took ? "answered" : "handed it on");
        cr_expect_eq(o.st, cases[k].st, "%s: status %d (%s)", cases[k].what, o.st, o.detail);
        if (o.st == C2W_DEC_OK) {
            cr_expect_eq((int)o.rec.kind, cases[k].kind_or_reason, "%s", cases[k].what);
            cr_expect_eq(o.rec.u.net.guid == NULL, cases[k].lean, "%s: lean", cases[k].what);
            cr_expect_not_null(c2w_netconn_host(&o.rec.u.net), "%s: the host is always kept", cases[k].what);
        } else {
            cr_expect_eq(o.reason, cases[k].kind_or_reason, "%s: reason %d (%s)", cases[k].what, o.reason, o.detail);
        }
        c2w_record_clear(&o.rec);
    }
    pair_free(&p);
}

/* ---- mutation sweep over real records ---- */

typedef struct lines {
    char **v;
    size_t n;
} lines_t;

static void load_lines(lines_t *l, const char *rel, size_t max)
{
    char path[1024];
    const char *root = getenv("C2W_ROOT");
    snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t taken = 0;
    while (taken < max && (len = getline(&line, &cap, f)) > 0) {
        if (line[0] == '#' || len > 4000)
            continue;
        l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
        cr_assert_not_null(l->v);
        l->v[l->n++] = strndup(line, (size_t)len);
        taken++;
    }
    free(line);
    fclose(f);
}

static void lines_free(lines_t *l)
{
    for (size_t k = 0; k < l->n; k++)
        free(l->v[k]);
    free(l->v);
}

/* Every record, then every one-byte deletion, replacement (by bytes that
 * matter to a JSON scanner) and insertion of it, both ways. */
static void mutate_all(c2w_source_kind_t kind, const lines_t *l, bool filter, uint64_t *fast_answers)
{
    static const char subs[] = { '"', '\\', ' ', ',', ':', '{', '}', '[', '0', '9', 'e', '-', '.', 'u', 'a', '\t',
                                 '\n', (char)0x01, (char)0xc3, (char)0xe2, (char)0xff, (char)0x80, '\0' };
    pair_t p = pair_new(kind, filter);
    uint64_t before = fast_count(p.fast);
    char *buf = malloc(8192);
    cr_assert_not_null(buf);
    for (size_t r = 0; r < l->n; r++) {
        const char *src = l->v[r];
        size_t len = strlen(src);
        same_both_ways(&p, src, len, NULL, "original");
        for (size_t i = 0; i < len; i++) {
            memcpy(buf, src, i);
            memcpy(buf + i, src + i + 1, len - i - 1);
            same_both_ways(&p, buf, len - 1, NULL, "deletion");
            for (size_t s = 0; s < sizeof(subs); s++) {
                memcpy(buf, src, len);
                buf[i] = subs[s];
                same_both_ways(&p, buf, len, NULL, "replacement");
                memcpy(buf, src, i);
                buf[i] = subs[s];
                memcpy(buf + i + 1, src + i, len - i);
                same_both_ways(&p, buf, len + 1, NULL, "insertion");
            }
        }
    }
    *fast_answers += fast_count(p.fast) - before;
    free(buf);
    pair_free(&p);
}

Test(fastpath, mutations_zeek, .init = init_ports, .timeout = 600)
{
    lines_t l = { 0 };
    load_lines(&l, "fixtures/scenarios/threshold-boundary/zeek.ndjson", 3);
    load_lines(&l, "fixtures/scenarios/input-shapes/zeek.ndjson", 4);
    load_lines(&l, "fixtures/scenarios/ipv6-canonical/zeek.ndjson", 2);
    load_lines(&l, "fixtures/bad/zeek-crlf.ndjson", 1);
    uint64_t fast = 0;
    mutate_all(C2W_SRC_ZEEK, &l, true, &fast);
    mutate_all(C2W_SRC_ZEEK, &l, false, &fast);
    cr_log_info("zeek mutations: %" PRIu64 " answered by the fast path", fast);
    cr_assert_gt(fast, 10000, "the fast path answered only %" PRIu64 " mutants", fast);
    lines_free(&l);
}

Test(fastpath, mutations_sysmon, .init = init_ports, .timeout = 600)
{
    lines_t l = { 0 };
    load_lines(&l, "fixtures/scenarios/threshold-boundary/sysmon.ndjson", 3);
    load_lines(&l, "fixtures/scenarios/input-shapes/sysmon.ndjson", 3);
    load_lines(&l, "fixtures/otrf-lsass-procdump-join/sysmon.ndjson", 2);
    uint64_t fast = 0;
    mutate_all(C2W_SRC_SYSMON, &l, true, &fast);
    cr_log_info("sysmon mutations: %" PRIu64 " answered by the fast path", fast);
    cr_assert_gt(fast, 10000, "the fast path answered only %" PRIu64 " mutants", fast);
    lines_free(&l);
}
