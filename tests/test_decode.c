/*
 * test_decode.c — the record decoders (SPEC §2): every accepted shape gives
 * the same values, every reject reason has a concrete input, skips are
 * skips, and the real dataset lines decode without a single rejection.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "c2watch/decode.h"

/* ---- building blocks ---- */

/* Zeek conn fields, one macro per field so a case can drop or replace one. */
#define Z_TS "\"ts\":1692146028.495991"
#define Z_UID "\"uid\":\"CcDO6P1tntZGxYTFn6\""
#define Z_OH "\"id.orig_h\":\"192.168.1.43\""
#define Z_OP "\"id.orig_p\":49873"
#define Z_RH "\"id.resp_h\":\"10.0.5.13\""
#define Z_RP "\"id.resp_p\":4433"
#define Z_PR "\"proto\":\"tcp\""
#define Z_CS "\"conn_state\":\"SF\""
#define Z_PAD "\"pad\":0" /* stands in for a dropped field */
#define ZREC(ts, uid, oh, op, rh, rp, pr, cs, extra) \
    "{" ts "," uid "," oh "," op "," rh "," rp "," pr "," cs extra "}"
#define ZOK ZREC(Z_TS, Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, "")
#define ZX(extra) ZREC(Z_TS, Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, extra)

/* Sysmon event 3, flat OTRF shape (all values strings). */
#define S_HDR                                                                                     \
    "\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\"," \
    "\"Hostname\":\"ACCT01.pandalab.com\",\"TimeCreated\":\"2023-08-15T05:35:13.000Z\","           \
    "\"@timestamp\":\"2023-08-15T05:35:13.000Z\",\"EventID\":3"
#define S_UTC "\"UtcTime\":\"2023-08-16 00:38:07.948\""
#define S_GUID "\"ProcessGuid\":\"{19de6d3b-a7ef-64dc-7a01-000000000c00}\""
#define S_PID "\"ProcessId\":\"6064\""
#define S_IMG "\"Image\":\"C:\\\\Users\\\\NORA~1.QUE\\\\winx64_payload.exe\""
#define S_USER "\"User\":\"PANDALAB\\\\nora.quest\""
#define S_PROTO "\"Protocol\":\"tcp\""
#define S_INIT "\"Initiated\":\"true\""
#define S_SIP "\"SourceIp\":\"192.168.1.43\""
#define S_SPORT "\"SourcePort\":\"49722\""
#define S_DIP "\"DestinationIp\":\"10.0.5.13\""
#define S_DPORT "\"DestinationPort\":\"4433\""
#define S_DHOST "\"DestinationHostname\":\"-\""
#define SREC(hdr, utc, guid, pid, img, user, proto, init, sip, sport, dip, dport, dhost) \
    "{" hdr "," utc "," guid "," pid "," img "," user "," proto "," init "," sip "," sport "," dip "," dport "," dhost "}"
#define SOK SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP, S_DPORT, S_DHOST)

/* Suricata eve flow, as in the Slips capture. */
#define EREC(et, fid, proto, dport, start, flags_tc, extra)                                                   \
    "{\"timestamp\":\"2021-06-06T15:57:37.272281+0200\",\"flow_id\":" fid ",\"event_type\":\"" et             \
    "\",\"src_ip\":\"91.218.113.83\",\"src_port\":48520,\"dest_ip\":\"192.168.1.129\",\"dest_port\":" dport \
    ",\"proto\":\"" proto "\",\"flow\":{\"pkts_toserver\":2,\"pkts_toclient\":2,\"bytes_toserver\":120,"     \
    "\"bytes_toclient\":60," start "\"end\":\"2021-06-06T19:41:49.234860+0200\",\"age\":0,"                   \
    "\"state\":\"closed\",\"reason\":\"shutdown\",\"alerted\":true},\"tcp\":{\"tcp_flags\":\"16\","          \
    "\"tcp_flags_ts\":\"02\",\"tcp_flags_tc\":\"" flags_tc "\"}" extra ",\"host\":\"stratosphere.org\"}"
#define E_START "\"start\":\"2021-06-06T19:41:49.234606+0200\","
#define EOK EREC("flow", "1003106940589166", "TCP", "587", E_START, "14", "")

/* 1692146028.495991 s; 2021-06-06T19:41:49.234606+0200 = 17:41:49.234606Z. */
#define ZEEK_TS 1692146028495991LL
#define EVE_START 1623001309234606LL
#define SYSMON_UTC 1692146287948000LL /* 2023-08-16 00:38:07.948 */

/* Decodes one NUL-free C string with a fresh decoder. */
static c2w_dec_status_t decode_str(c2w_source_kind_t k, const c2w_decode_opts_t *opts, const char *json,
                                   c2w_record_t *rec, c2w_dec_result_t *res)
{
    c2w_decoder_t *d = c2w_decoder_new(k, opts);
    cr_assert_not_null(d);
    c2w_dec_status_t st = c2w_decode(d, json, strlen(json), rec, res);
    c2w_decoder_free(d);
    return st;
}

/* Decodes json and asserts C2W_DEC_OK. */
static void decode_ok(c2w_source_kind_t k, const char *json, c2w_record_t *rec)
{
    c2w_dec_result_t res;
    c2w_dec_status_t st = decode_str(k, NULL, json, rec, &res);
    cr_assert_eq(st, C2W_DEC_OK, "status %d reason %d (%s) for %s", st, res.reason, res.detail, json);
    cr_assert_str_empty(res.detail);
}

static bool str_eq_opt(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

#define expect_str_opt(a, b) cr_expect(str_eq_opt((a), (b)), "%s: \"%s\" != \"%s\"", #a, (a) ? (a) : "(null)", (b) ? (b) : "(null)")

static void expect_ip(const c2w_ip_t *ip, const char *text)
{
    char buf[C2W_IP_STRLEN];
    c2w_ip_t want;
    cr_assert(c2w_ip_parse(text, strlen(text), &want), "test bug: %s", text);
    cr_expect(c2w_ip_equal(ip, &want), "ip %s != %s", c2w_ip_format(ip, buf), text);
}

static void expect_flow_eq(const c2w_flow_t *a, const c2w_flow_t *b)
{
    cr_expect_eq(a->ts, b->ts);
    expect_str_opt(a->uid, b->uid);
    cr_expect(c2w_ip_equal(&a->orig_h, &b->orig_h));
    cr_expect(c2w_ip_equal(&a->resp_h, &b->resp_h));
    cr_expect_eq(a->orig_p, b->orig_p);
    cr_expect_eq(a->resp_p, b->resp_p);
    cr_expect_eq(a->proto, b->proto);
    cr_expect_eq(a->established, b->established);
    expect_str_opt(a->conn_state, b->conn_state);
    cr_expect_eq(a->orig_bytes, b->orig_bytes);
    cr_expect_eq(a->resp_bytes, b->resp_bytes);
    cr_expect_eq(a->duration, b->duration);
    expect_str_opt(a->service, b->service);
    expect_str_opt(a->community_id, b->community_id);
    expect_str_opt(a->history, b->history);
    expect_str_opt(a->path, b->path);
}

static void expect_netconn_eq(const c2w_netconn_t *a, const c2w_netconn_t *b)
{
    cr_expect_eq(a->utc, b->utc);
    expect_str_opt(a->host, b->host);
    expect_str_opt(a->guid, b->guid);
    expect_str_opt(a->image, b->image);
    expect_str_opt(a->user, b->user);
    cr_expect_eq(a->pid, b->pid);
    cr_expect_eq(a->proto, b->proto);
    cr_expect_eq(a->initiated, b->initiated);
    cr_expect(c2w_ip_equal(&a->src_ip, &b->src_ip));
    cr_expect(c2w_ip_equal(&a->dst_ip, &b->dst_ip));
    cr_expect_eq(a->src_port, b->src_port);
    cr_expect_eq(a->dst_port, b->dst_port);
    expect_str_opt(a->dst_hostname, b->dst_hostname);
}

/* ---- rejections: one concrete input per reason (and per variant) ---- */

struct rej_case {
    char name[48];
    int src; /* c2w_source_kind_t */
    size_t max_bytes; /* 0 = default */
    unsigned max_depth; /* 0 = default */
    char json[1200];
    int reason; /* c2w_reject_t */
    char detail[64]; /* expected prefix of res.detail */
};

ParameterizedTestParameters(decode, rejects)
{
    static struct rej_case cases[] = {
        { "empty", C2W_SRC_ZEEK, 0, 0, "", C2W_REJ_EMPTY, "empty" },
        { "blank", C2W_SRC_ZEEK, 0, 0, " \t \r\n", C2W_REJ_EMPTY, "empty" },
        { "crlf only", C2W_SRC_SYSMON, 0, 0, "\r\n", C2W_REJ_EMPTY, "empty" },
        { "over max bytes", C2W_SRC_ZEEK, 64, 0, ZOK, C2W_REJ_TOO_BIG, "too_big" },
        { "over max bytes even if invalid", C2W_SRC_EVE, 8, 0, "{{{{{{{{{{", C2W_REJ_TOO_BIG, "too_big" },
        { "truncated", C2W_SRC_ZEEK, 0, 0, "{\"ts\":", C2W_REJ_BAD_JSON, "bad_json" },
        { "unclosed object", C2W_SRC_ZEEK, 0, 0, "{" Z_TS, C2W_REJ_BAD_JSON, "bad_json" },
        { "trailing garbage", C2W_SRC_ZEEK, 0, 0, ZOK " x", C2W_REJ_BAD_JSON, "bad_json" },
        { "second object", C2W_SRC_ZEEK, 0, 0, ZOK "{}", C2W_REJ_BAD_JSON, "bad_json" },
        { "second object after newline", C2W_SRC_ZEEK, 0, 0, ZOK "\n{}", C2W_REJ_BAD_JSON, "bad_json" },
        { "byte order mark", C2W_SRC_ZEEK, 0, 0, "\xef\xbb\xbf" ZOK, C2W_REJ_BAD_JSON, "bad_json: byte order mark" },
        { "single quotes", C2W_SRC_ZEEK, 0, 0, "{'ts':1}", C2W_REJ_BAD_JSON, "bad_json" },
        { "raw control char", C2W_SRC_ZEEK, 0, 0, ZX(",\"note\":\"a\x01\""), C2W_REJ_BAD_JSON, "bad_json" },
        { "leading zero", C2W_SRC_ZEEK, 0, 0, ZX(",\"orig_bytes\":01"), C2W_REJ_BAD_JSON, "bad_json" },
        { "invalid json in skipped event", C2W_SRC_SYSMON, 0, 0, "{\"EventID\":4,", C2W_REJ_BAD_JSON, "bad_json" },
        { "invalid json in non-flow eve", C2W_SRC_EVE, 0, 0, "{\"event_type\":\"alert\",]", C2W_REJ_BAD_JSON, "bad_json" },
        { "utf8 bad byte in value", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, "\"uid\":\"C\xff\"", Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_UTF8, "bad_utf8" },
        { "utf8 bad in unknown field", C2W_SRC_ZEEK, 0, 0, ZX(",\"note\":\"\xc3\x28\""), C2W_REJ_BAD_UTF8, "bad_utf8" },
        { "utf8 truncated sequence", C2W_SRC_SYSMON, 0, 0, "{\"EventID\":3,\"Image\":\"\xe2\x82\"}", C2W_REJ_BAD_UTF8,
          "bad_utf8" },
        { "utf8 overlong", C2W_SRC_ZEEK, 0, 0, ZX(",\"note\":\"\xc0\xaf\""), C2W_REJ_BAD_UTF8, "bad_utf8" },
        { "utf8 encoded surrogate", C2W_SRC_ZEEK, 0, 0, ZX(",\"note\":\"\xed\xa0\x80\""), C2W_REJ_BAD_UTF8,
          "bad_utf8" },
        { "utf8 past U+10FFFF", C2W_SRC_EVE, 0, 0, "{\"event_type\":\"\xf4\x90\x80\x80\"}", C2W_REJ_BAD_UTF8,
          "bad_utf8" },
        { "utf8 bad in key", C2W_SRC_ZEEK, 0, 0, ZX(",\"\xff\":1"), C2W_REJ_BAD_UTF8, "bad_utf8" },
        { "escaped lone low surrogate", C2W_SRC_ZEEK, 0, 0, ZX(",\"note\":\"\\udc00\""), C2W_REJ_BAD_UTF8,
          "bad_utf8" },
        { "top-level array", C2W_SRC_ZEEK, 0, 0, "[" ZOK "]", C2W_REJ_NOT_OBJECT, "not_object" },
        { "top-level null", C2W_SRC_ZEEK, 0, 0, "null", C2W_REJ_NOT_OBJECT, "not_object" },
        { "top-level number", C2W_SRC_SYSMON, 0, 0, "42", C2W_REJ_NOT_OBJECT, "not_object" },
        { "top-level string", C2W_SRC_EVE, 0, 0, "\"flow\"", C2W_REJ_NOT_OBJECT, "not_object" },
        { "top-level bool", C2W_SRC_EVE, 0, 0, " true\n", C2W_REJ_NOT_OBJECT, "not_object" },
        { "deeper than max_depth", C2W_SRC_ZEEK, 0, 3, ZX(",\"a\":{\"b\":{\"c\":{}}}"), C2W_REJ_TOO_DEEP,
          "too_deep" },
        { "deep array in unknown field", C2W_SRC_EVE, 0, 2, "{\"x\":[[]],\"event_type\":\"flow\"}", C2W_REJ_TOO_DEEP,
          "too_deep" },
        { "duplicate uid", C2W_SRC_ZEEK, 0, 0, ZX(",\"uid\":\"C2\""), C2W_REJ_DUPLICATE_KEY, "duplicate_key: uid" },
        { "duplicate dotted and nested", C2W_SRC_ZEEK, 0, 0, ZX(",\"id\":{\"orig_h\":\"192.168.1.43\"}"),
          C2W_REJ_DUPLICATE_KEY, "duplicate_key: id.orig_h" },
        { "duplicate wrapper and top", C2W_SRC_ZEEK, 0, 0, "{\"conn\":" ZOK ",\"ts\":1692146028}",
          C2W_REJ_DUPLICATE_KEY, "duplicate_key: ts" },
        { "duplicate null then value", C2W_SRC_ZEEK, 0, 0, ZX(",\"service\":null,\"service\":\"dns\""),
          C2W_REJ_DUPLICATE_KEY, "duplicate_key: service" },
        { "duplicate flat and event_data", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP, S_DPORT,
               "\"event_data\":{\"Image\":\"x.exe\"}"),
          C2W_REJ_DUPLICATE_KEY, "duplicate_key: Image" },
        { "duplicate eve flow.start", C2W_SRC_EVE, 0, 0,
          EREC("flow", "1", "TCP", "587", E_START, "14", ",\"flow.start\":\"2021-06-06T19:41:49Z\""),
          C2W_REJ_DUPLICATE_KEY, "duplicate_key: flow.start" },
        { "missing ts", C2W_SRC_ZEEK, 0, 0, ZREC(Z_PAD, Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_MISSING_FIELD, "missing_field: ts" },
        { "missing uid", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_PAD, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_MISSING_FIELD, "missing_field: uid" },
        { "missing id.orig_h", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_PAD, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_MISSING_FIELD, "missing_field: id.orig_h" },
        { "missing id.orig_p", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, Z_PAD, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_MISSING_FIELD, "missing_field: id.orig_p" },
        { "missing id.resp_h", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, Z_OP, Z_PAD, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_MISSING_FIELD, "missing_field: id.resp_h" },
        { "missing id.resp_p", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, Z_OP, Z_RH, Z_PAD, Z_PR, Z_CS, ""),
          C2W_REJ_MISSING_FIELD, "missing_field: id.resp_p" },
        { "missing proto", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PAD, Z_CS, ""),
          C2W_REJ_MISSING_FIELD, "missing_field: proto" },
        { "missing conn_state", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_PAD, ""),
          C2W_REJ_MISSING_FIELD, "missing_field: conn_state" },
        { "null required ts", C2W_SRC_ZEEK, 0, 0, ZREC("\"ts\":null", Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_MISSING_FIELD, "missing_field: ts" },
        { "required field only inside an array", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, Z_UID, "\"x\":[{\"id.orig_h\":\"1.2.3.4\"}]", Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_MISSING_FIELD, "missing_field: id.orig_h" },
        { "port as string", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, Z_UID, Z_OH, "\"id.orig_p\":\"49873\"", Z_RH, Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_TYPE,
          "bad_type: id.orig_p" },
        { "port as non-numeric string", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, Z_UID, Z_OH, Z_OP, Z_RH, "\"id.resp_p\":\"abc\"", Z_PR, Z_CS, ""), C2W_REJ_BAD_TYPE,
          "bad_type: id.resp_p" },
        { "port as bool", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, Z_UID, Z_OH, "\"id.orig_p\":true", Z_RH, Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_TYPE,
          "bad_type: id.orig_p" },
        { "uid as number", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, "\"uid\":5", Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_TYPE, "bad_type: uid" },
        { "ts as bool", C2W_SRC_ZEEK, 0, 0, ZREC("\"ts\":true", Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_TYPE, "bad_type: ts" },
        { "service as array", C2W_SRC_ZEEK, 0, 0, ZX(",\"service\":[\"dns\"]"), C2W_REJ_BAD_TYPE,
          "bad_type: service" },
        { "ip as object", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, Z_UID, Z_OH, Z_OP, "\"id.resp_h\":{\"v\":4}", Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_TYPE,
          "bad_type: id.resp_h" },
        { "bytes as string", C2W_SRC_ZEEK, 0, 0, ZX(",\"orig_bytes\":\"5\""), C2W_REJ_BAD_TYPE,
          "bad_type: orig_bytes" },
        { "duration as string", C2W_SRC_ZEEK, 0, 0, ZX(",\"duration\":\"0.5\""), C2W_REJ_BAD_TYPE,
          "bad_type: duration" },
        { "_path as number", C2W_SRC_ZEEK, 0, 0, ZX(",\"_path\":5"), C2W_REJ_BAD_TYPE, "bad_type: _path" },
        { "uid with NUL", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, "\"uid\":\"C1\\u0000x\"", Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_VALUE,
          "bad_value: uid" },
        { "history with NUL", C2W_SRC_ZEEK, 0, 0, ZX(",\"history\":\"ShADad\\u0000\""), C2W_REJ_BAD_VALUE,
          "bad_value: history" },
        { "empty uid", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, "\"uid\":\"\"", Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_VALUE, "bad_value: uid" },
        { "negative bytes", C2W_SRC_ZEEK, 0, 0, ZX(",\"orig_bytes\":-1"), C2W_REJ_BAD_VALUE,
          "bad_value: orig_bytes" },
        { "fractional bytes", C2W_SRC_ZEEK, 0, 0, ZX(",\"resp_bytes\":1.5"), C2W_REJ_BAD_VALUE,
          "bad_value: resp_bytes" },
        { "bytes past uint64", C2W_SRC_ZEEK, 0, 0, ZX(",\"resp_bytes\":18446744073709551616"), C2W_REJ_BAD_VALUE,
          "bad_value: resp_bytes" },
        { "negative duration", C2W_SRC_ZEEK, 0, 0, ZX(",\"duration\":-0.5"), C2W_REJ_BAD_VALUE,
          "bad_value: duration" },
        { "infinite duration", C2W_SRC_ZEEK, 0, 0, ZX(",\"duration\":1e400"), C2W_REJ_BAD_VALUE,
          "bad_value: duration" },
        { "ip octet 300", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, Z_UID, "\"id.orig_h\":\"192.168.1.300\"", Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_IP,
          "bad_ip: id.orig_h" },
        { "ipv6 two ::", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, Z_UID, Z_OH, Z_OP, "\"id.resp_h\":\"fe80::1::2\"", Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_IP,
          "bad_ip: id.resp_h" },
        { "ip empty", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, "\"id.orig_h\":\"\"", Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_IP, "bad_ip: id.orig_h" },
        { "ip with space", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, Z_UID, "\"id.orig_h\":\" 10.0.0.1\"", Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_IP,
          "bad_ip: id.orig_h" },
        { "port 70000", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, "\"id.orig_p\":70000", Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_PORT, "bad_port: id.orig_p" },
        { "port 65536", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, Z_OP, Z_RH, "\"id.resp_p\":65536", Z_PR, Z_CS, ""),
          C2W_REJ_BAD_PORT, "bad_port: id.resp_p" },
        { "port fractional", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, "\"id.orig_p\":80.5", Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_PORT, "bad_port: id.orig_p" },
        { "port negative", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, "\"id.orig_p\":-1", Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_PORT, "bad_port: id.orig_p" },
        { "port exponent", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, "\"id.orig_p\":8e1", Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_PORT, "bad_port: id.orig_p" },
        { "port past uint64", C2W_SRC_ZEEK, 0, 0,
          ZREC(Z_TS, Z_UID, Z_OH, "\"id.orig_p\":99999999999999999999999", Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_PORT, "bad_port: id.orig_p" },
        { "ts 1e400", C2W_SRC_ZEEK, 0, 0, ZREC("\"ts\":1e400", Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_TIME, "bad_time: ts" },
        { "ts before 2000", C2W_SRC_ZEEK, 0, 0,
          ZREC("\"ts\":946684799.999999", Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_TIME,
          "bad_time: ts" },
        { "ts at 2100", C2W_SRC_ZEEK, 0, 0, ZREC("\"ts\":4102444800", Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_TIME, "bad_time: ts" },
        { "ts negative", C2W_SRC_ZEEK, 0, 0, ZREC("\"ts\":-1", Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""),
          C2W_REJ_BAD_TIME, "bad_time: ts" },
        { "ts Feb 30", C2W_SRC_ZEEK, 0, 0,
          ZREC("\"ts\":\"2023-02-30T00:00:00Z\"", Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_TIME,
          "bad_time: ts" },
        { "ts text garbage", C2W_SRC_ZEEK, 0, 0,
          ZREC("\"ts\":\"yesterday\"", Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""), C2W_REJ_BAD_TIME,
          "bad_time: ts" },
        { "proto sctp", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, "\"proto\":\"sctp\"", Z_CS, ""),
          C2W_REJ_BAD_PROTO, "bad_proto: proto" },
        { "proto empty", C2W_SRC_ZEEK, 0, 0, ZREC(Z_TS, Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, "\"proto\":\"\"", Z_CS, ""),
          C2W_REJ_BAD_PROTO, "bad_proto: proto" },
        /* Sysmon */
        { "sysmon missing ProcessId", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, "\"x\":0", S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP, S_DPORT, S_DHOST),
          C2W_REJ_MISSING_FIELD, "missing_field: ProcessId" },
        { "sysmon dash ProcessId", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, "\"ProcessId\":\"-\"", S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP,
               S_DPORT, S_DHOST),
          C2W_REJ_MISSING_FIELD, "missing_field: ProcessId" },
        { "sysmon missing host", C2W_SRC_SYSMON, 0, 0,
          SREC("\"EventID\":3", S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP, S_DPORT,
               S_DHOST),
          C2W_REJ_MISSING_FIELD, "missing_field: Hostname" },
        { "sysmon missing event id", C2W_SRC_SYSMON, 0, 0,
          SREC("\"Hostname\":\"h\"", S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP,
               S_DPORT, S_DHOST),
          C2W_REJ_MISSING_FIELD, "missing_field: EventID" },
        { "sysmon missing UtcTime", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, "\"x\":0", S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP, S_DPORT, S_DHOST),
          C2W_REJ_MISSING_FIELD, "missing_field: UtcTime" },
        { "sysmon missing Initiated", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, "\"x\":0", S_SIP, S_SPORT, S_DIP, S_DPORT, S_DHOST),
          C2W_REJ_MISSING_FIELD, "missing_field: Initiated" },
        { "sysmon event 22 missing QueryName", C2W_SRC_SYSMON, 0, 0,
          "{\"EventID\":22,\"Hostname\":\"h\"," S_UTC "," S_GUID "," S_IMG ",\"QueryResults\":\"-\"}",
          C2W_REJ_MISSING_FIELD, "missing_field: QueryName" },
        { "sysmon event id text", C2W_SRC_SYSMON, 0, 0, "{\"EventID\":\"abc\",\"Hostname\":\"h\"}", C2W_REJ_BAD_VALUE,
          "bad_value: EventID" },
        { "sysmon event id fractional", C2W_SRC_SYSMON, 0, 0, "{\"event_id\":3.5,\"computer_name\":\"h\"}",
          C2W_REJ_BAD_VALUE, "bad_value: event_id" },
        { "sysmon Initiated yes", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, "\"Initiated\":\"yes\"", S_SIP, S_SPORT, S_DIP,
               S_DPORT, S_DHOST),
          C2W_REJ_BAD_VALUE, "bad_value: Initiated" },
        { "sysmon Initiated number", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, "\"Initiated\":1", S_SIP, S_SPORT, S_DIP, S_DPORT,
               S_DHOST),
          C2W_REJ_BAD_TYPE, "bad_type: Initiated" },
        { "sysmon ProcessId text", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, "\"ProcessId\":\"12a\"", S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP,
               S_DPORT, S_DHOST),
          C2W_REJ_BAD_VALUE, "bad_value: ProcessId" },
        { "sysmon Image number", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, S_PID, "\"Image\":5", S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP, S_DPORT,
               S_DHOST),
          C2W_REJ_BAD_TYPE, "bad_type: Image" },
        { "sysmon Channel number", C2W_SRC_SYSMON, 0, 0, "{\"Channel\":5,\"EventID\":3}", C2W_REJ_BAD_TYPE,
          "bad_type: Channel" },
        { "sysmon protocol icmp", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, S_USER, "\"Protocol\":\"icmp\"", S_INIT, S_SIP, S_SPORT, S_DIP,
               S_DPORT, S_DHOST),
          C2W_REJ_BAD_PROTO, "bad_proto: Protocol" },
        { "sysmon port text", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, "\"SourcePort\":\"abc\"", S_DIP,
               S_DPORT, S_DHOST),
          C2W_REJ_BAD_PORT, "bad_port: SourcePort" },
        { "sysmon port 70000", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP,
               "\"DestinationPort\":\"70000\"", S_DHOST),
          C2W_REJ_BAD_PORT, "bad_port: DestinationPort" },
        { "sysmon port leading space", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT, S_DIP,
               "\"DestinationPort\":\" 25\"", S_DHOST),
          C2W_REJ_BAD_PORT, "bad_port: DestinationPort" },
        { "sysmon ip with zone", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, "\"SourceIp\":\"fe80::1%12\"", S_SPORT,
               S_DIP, S_DPORT, S_DHOST),
          C2W_REJ_BAD_IP, "bad_ip: SourceIp" },
        { "sysmon UtcTime date only", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, "\"UtcTime\":\"2023-08-16\"", S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT,
               S_DIP, S_DPORT, S_DHOST),
          C2W_REJ_BAD_TIME, "bad_time: UtcTime" },
        { "sysmon UtcTime 1999", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, "\"UtcTime\":\"1999-12-31 23:59:59.999\"", S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT,
               S_SIP, S_SPORT, S_DIP, S_DPORT, S_DHOST),
          C2W_REJ_BAD_TIME, "bad_time: UtcTime" },
        { "sysmon UtcTime number", C2W_SRC_SYSMON, 0, 0,
          SREC(S_HDR, "\"UtcTime\":1692146287.948", S_GUID, S_PID, S_IMG, S_USER, S_PROTO, S_INIT, S_SIP, S_SPORT,
               S_DIP, S_DPORT, S_DHOST),
          C2W_REJ_BAD_TYPE, "bad_type: UtcTime" },
        /* Suricata eve */
        { "eve missing event_type", C2W_SRC_EVE, 0, 0, "{\"flow_id\":1}", C2W_REJ_MISSING_FIELD,
          "missing_field: event_type" },
        { "eve missing flow.start", C2W_SRC_EVE, 0, 0, EREC("flow", "1", "TCP", "587", "", "14", ""),
          C2W_REJ_MISSING_FIELD, "missing_field: flow.start" },
        { "eve missing dest_port", C2W_SRC_EVE, 0, 0,
          "{\"flow_id\":1,\"event_type\":\"flow\",\"src_ip\":\"1.2.3.4\",\"src_port\":1,\"dest_ip\":\"5.6.7.8\","
          "\"proto\":\"UDP\",\"flow\":{\"start\":\"2021-06-06T19:41:49.234606+0200\"}}",
          C2W_REJ_MISSING_FIELD, "missing_field: dest_port" },
        { "eve flow_id string", C2W_SRC_EVE, 0, 0, EREC("flow", "\"1\"", "TCP", "587", E_START, "14", ""),
          C2W_REJ_BAD_TYPE, "bad_type: flow_id" },
        { "eve flow_id past uint64", C2W_SRC_EVE, 0, 0,
          EREC("flow", "18446744073709551616", "TCP", "587", E_START, "14", ""), C2W_REJ_BAD_VALUE,
          "bad_value: flow_id" },
        { "eve dest_port string", C2W_SRC_EVE, 0, 0, EREC("flow", "1", "TCP", "\"587\"", E_START, "14", ""),
          C2W_REJ_BAD_TYPE, "bad_type: dest_port" },
        { "eve dest_port 65536", C2W_SRC_EVE, 0, 0, EREC("flow", "1", "TCP", "65536", E_START, "14", ""),
          C2W_REJ_BAD_PORT, "bad_port: dest_port" },
        { "eve proto SCTP", C2W_SRC_EVE, 0, 0, EREC("flow", "1", "SCTP", "587", E_START, "14", ""), C2W_REJ_BAD_PROTO,
          "bad_proto: proto" },
        { "eve tcp flags not hex", C2W_SRC_EVE, 0, 0, EREC("flow", "1", "TCP", "587", E_START, "zz", ""),
          C2W_REJ_BAD_VALUE, "bad_value: tcp.tcp_flags_tc" },
        { "eve start bad offset", C2W_SRC_EVE, 0, 0,
          EREC("flow", "1", "TCP", "587", "\"start\":\"2021-06-06T19:41:49.234606+02\",", "14", ""), C2W_REJ_BAD_TIME,
          "bad_time: flow.start" },
        { "eve end before start", C2W_SRC_EVE, 0, 0,
          EREC("flow", "1", "TCP", "587", "\"start\":\"2021-06-06T19:41:50.000000+0200\",", "14", ""),
          C2W_REJ_BAD_TIME, "bad_time: flow.end" },
    };
    return cr_make_param_array(struct rej_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct rej_case *c, decode, rejects)
{
    c2w_decode_opts_t opts = { .max_record_bytes = c->max_bytes, .max_depth = c->max_depth };
    c2w_record_t rec;
    c2w_dec_result_t res;
    memset(&rec, 0xa5, sizeof(rec)); /* must be reset, not left as garbage */
    c2w_dec_status_t st = decode_str(c->src, &opts, c->json, &rec, &res);
    cr_assert_eq(st, C2W_DEC_REJECT, "%s: status %d (%s)", c->name, st, res.detail);
    cr_expect_eq(res.status, C2W_DEC_REJECT);
    cr_expect_eq(res.reason, c->reason, "%s: reason %s, want %s (%s)", c->name,
                 c2w_reject_name((c2w_reject_t)res.reason), c2w_reject_name((c2w_reject_t)c->reason), res.detail);
    cr_expect(strncmp(res.detail, c->detail, strlen(c->detail)) == 0, "%s: detail \"%s\", want \"%s...\"", c->name,
              res.detail, c->detail);
    cr_expect_eq(rec.kind, C2W_REC_NONE, "%s: record not reset", c->name);
    c2w_record_clear(&rec);
}

/* ---- skips ---- */

struct skip_case {
    char name[48];
    int src;
    char json[1200];
    int reason; /* c2w_skip_t */
    char detail[64]; /* exact */
};

ParameterizedTestParameters(decode, skips)
{
    static struct skip_case cases[] = {
        { "zeek _path dns", C2W_SRC_ZEEK, "{\"_path\":\"dns\",\"ts\":1692146028.5,\"uid\":\"C1\",\"query\":\"x\"}",
          C2W_SKIP_OTHER_LOG, "other_log: dns" },
        { "zeek _path smtp, full conn fields", C2W_SRC_ZEEK, ZX(",\"_path\":\"smtp\""), C2W_SKIP_OTHER_LOG,
          "other_log: smtp" },
        { "zeek wrapped other log", C2W_SRC_ZEEK,
          "{\"dns\":{\"ts\":1692146028.5,\"uid\":\"C1\",\"id.orig_h\":\"1.2.3.4\",\"query\":\"x\"}}",
          C2W_SKIP_OTHER_LOG, "other_log: dns" },
        { "sysmon event 4", C2W_SRC_SYSMON,
          "{\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"Hostname\":\"h\",\"EventID\":4,"
          "\"UtcTime\":\"2023-08-16 00:38:07.948\",\"State\":\"Started\"}",
          C2W_SKIP_EVENT_ID, "event_id: 4" },
        { "sysmon event 4 with nothing else", C2W_SRC_SYSMON, "{\"EventID\":4}", C2W_SKIP_EVENT_ID, "event_id: 4" },
        { "sysmon event 10 as string, WLB6", C2W_SRC_SYSMON,
          "{\"event_id\":\"10\",\"computer_name\":\"h\",\"log_name\":\"Microsoft-Windows-Sysmon/Operational\","
          "\"event_data\":{\"UtcTime\":\"x\"}}",
          C2W_SKIP_EVENT_ID, "event_id: 10" },
        { "sysmon event 7, WLB7", C2W_SRC_SYSMON,
          "{\"winlog\":{\"event_id\":7,\"channel\":\"Microsoft-Windows-Sysmon/Operational\","
          "\"provider_name\":\"Microsoft-Windows-Sysmon\",\"computer_name\":\"h\"}}",
          C2W_SKIP_EVENT_ID, "event_id: 7" },
        { "security channel, flat", C2W_SRC_SYSMON,
          "{\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"Channel\":\"Security\",\"Hostname\":\"h\","
          "\"EventID\":4624}",
          C2W_SKIP_CHANNEL, "channel: Security" },
        { "security provider, WLB6", C2W_SRC_SYSMON,
          "{\"source_name\":\"Microsoft-Windows-Security-Auditing\",\"computer_name\":\"h\",\"event_id\":3}",
          C2W_SKIP_CHANNEL, "channel: Microsoft-Windows-Security-Auditing" },
        { "powershell channel, WLB7", C2W_SRC_SYSMON,
          "{\"winlog\":{\"channel\":\"Microsoft-Windows-PowerShell/Operational\",\"event_id\":3}}", C2W_SKIP_CHANNEL,
          "channel: Microsoft-Windows-PowerShell/Operational" },
        { "channel decides before a bad event id", C2W_SRC_SYSMON, "{\"Channel\":\"System\",\"EventID\":\"x\"}",
          C2W_SKIP_CHANNEL, "channel: System" },
        { "eve alert", C2W_SRC_EVE, EREC("alert", "1", "TCP", "587", E_START, "14", ""), C2W_SKIP_EVENT_TYPE,
          "event_type: alert" },
        { "eve dns without flow fields", C2W_SRC_EVE, "{\"event_type\":\"dns\",\"dns\":{\"rrname\":\"x\"}}",
          C2W_SKIP_EVENT_TYPE, "event_type: dns" },
    };
    return cr_make_param_array(struct skip_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct skip_case *c, decode, skips)
{
    c2w_record_t rec;
    c2w_dec_result_t res;
    c2w_dec_status_t st = decode_str(c->src, NULL, c->json, &rec, &res);
    cr_assert_eq(st, C2W_DEC_SKIP, "%s: status %d (%s)", c->name, st, res.detail);
    cr_expect_eq(res.reason, c->reason, "%s: reason %s", c->name, c2w_skip_name((c2w_skip_t)res.reason));
    cr_expect_str_eq(res.detail, c->detail, "%s", c->name);
    cr_expect_eq(rec.kind, C2W_REC_NONE);
}

/* ---- Zeek ---- */

/* The reference flow of ZOK. */
static void expect_zok(const c2w_record_t *rec)
{
    cr_assert_eq(rec->kind, C2W_REC_FLOW);
    const c2w_flow_t *f = &rec->u.flow;
    cr_expect_eq(f->ts, ZEEK_TS);
    cr_expect_str_eq(f->uid, "CcDO6P1tntZGxYTFn6");
    expect_ip(&f->orig_h, "192.168.1.43");
    expect_ip(&f->resp_h, "10.0.5.13");
    cr_expect_eq(f->orig_p, 49873);
    cr_expect_eq(f->resp_p, 4433);
    cr_expect_eq(f->proto, C2W_PROTO_TCP);
    cr_expect_str_eq(f->conn_state, "SF");
    cr_expect(f->established);
}

Test(decode, zeek_shapes_give_the_same_flow)
{
    static const char *const shapes[] = {
        ZOK,
        "{\"ts\":1692146028.495991,\"uid\":\"CcDO6P1tntZGxYTFn6\",\"id\":{\"orig_h\":\"192.168.1.43\","
        "\"orig_p\":49873,\"resp_h\":\"10.0.5.13\",\"resp_p\":4433},\"proto\":\"tcp\",\"conn_state\":\"SF\"}",
        "{\"conn\":" ZOK "}",
        "{\"conn\":{\"id\":{\"resp_p\":4433,\"resp_h\":\"10.0.5.13\",\"orig_p\":49873,\"orig_h\":\"192.168.1.43\"},"
        "\"conn_state\":\"SF\",\"proto\":\"tcp\",\"uid\":\"CcDO6P1tntZGxYTFn6\",\"ts\":1692146028.495991}}",
        /* mixed: one nested, one dotted, unknown fields of every type around */
        "{\"x\":[{\"ts\":1},[],{}],\"ts\":1692146028.495991,\"uid\":\"CcDO6P1tntZGxYTFn6\",\"id\":{\"orig_h\":"
        "\"192.168.1.43\",\"orig_p\":49873},\"id.resp_h\":\"10.0.5.13\",\"id.resp_p\":4433,\"proto\":\"tcp\","
        "\"conn_state\":\"SF\",\"local_orig\":true,\"tunnel_parents\":[],\"deep\":{\"a\":{\"uid\":1}},\"n\":null}",
    };
    c2w_record_t first;
    decode_ok(C2W_SRC_ZEEK, shapes[0], &first);
    expect_zok(&first);
    for (size_t i = 1; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        c2w_record_t rec;
        decode_ok(C2W_SRC_ZEEK, shapes[i], &rec);
        expect_zok(&rec);
        expect_flow_eq(&rec.u.flow, &first.u.flow);
        c2w_record_clear(&rec);
    }
    c2w_record_clear(&first);
}

Test(decode, zeek_epoch_and_rfc3339_ts_are_equal)
{
    static const char *const ts[] = {
        "\"ts\":1692146028.495991",
        "\"ts\":\"2023-08-16T00:33:48.495991Z\"",
        "\"ts\":\"2023-08-16T02:33:48.495991+02:00\"",
        "\"ts\":\"2023-08-15T19:33:48.495991-0500\"",
    };
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        char json[600];
        snprintf(json, sizeof(json), "{%s," Z_UID "," Z_OH "," Z_OP "," Z_RH "," Z_RP "," Z_PR "," Z_CS "}", ts[i]);
        c2w_record_t rec;
        decode_ok(C2W_SRC_ZEEK, json, &rec);
        cr_expect_eq(rec.u.flow.ts, ZEEK_TS, "%s: %lld", ts[i], (long long)rec.u.flow.ts);
        c2w_record_clear(&rec);
    }
    c2w_record_t rec;
    decode_ok(C2W_SRC_ZEEK, ZREC("\"ts\":1.6921460285e9", Z_UID, Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""), &rec);
    cr_expect_eq(rec.u.flow.ts, 1692146028500000LL);
    c2w_record_clear(&rec);
}

Test(decode, zeek_absent_optionals_are_zero_or_null)
{
    c2w_record_t rec;
    decode_ok(C2W_SRC_ZEEK, ZX(",\"service\":null,\"duration\":null"), &rec);
    const c2w_flow_t *f = &rec.u.flow;
    cr_expect_eq(f->orig_bytes, 0);
    cr_expect_eq(f->resp_bytes, 0);
    cr_expect_eq(f->duration, 0.0);
    cr_expect_null(f->service);
    cr_expect_null(f->community_id);
    cr_expect_null(f->history);
    cr_expect_null(f->path);
    c2w_record_clear(&rec);
}

Test(decode, zeek_optionals_kept)
{
    c2w_record_t rec;
    decode_ok(C2W_SRC_ZEEK,
              ZX(",\"_path\":\"conn\",\"orig_bytes\":18446744073709551615,\"resp_bytes\":0,"
                 "\"duration\":7.200241088867188e-05,\"service\":\"smtp\",\"community_id\":\"1:abc=\","
                 "\"history\":\"ShADadFf\",\"_write_ts\":\"2018-03-24T17:15:26.808734Z\""),
              &rec);
    const c2w_flow_t *f = &rec.u.flow;
    cr_expect_eq(f->orig_bytes, UINT64_MAX);
    cr_expect_eq(f->resp_bytes, 0);
    cr_expect_eq(f->duration, 7.200241088867188e-05);
    cr_expect_str_eq(f->service, "smtp");
    cr_expect_str_eq(f->community_id, "1:abc=");
    cr_expect_str_eq(f->history, "ShADadFf");
    cr_expect_str_eq(f->path, "conn");
    c2w_record_clear(&rec);
}

Test(decode, zeek_established_states)
{
    static const struct {
        char state[8];
        bool est;
    } states[] = {
        { "S0", false }, { "S1", true },   { "S2", true },   { "S3", true },     { "SF", true },
        { "REJ", false }, { "RSTO", true }, { "RSTR", true }, { "RSTOS0", false }, { "RSTRH", false },
        { "SH", false }, { "SHR", false },  { "OTH", false }, { "sf", false },
    };
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        char json[600];
        snprintf(json, sizeof(json), "{" Z_TS "," Z_UID "," Z_OH "," Z_OP "," Z_RH "," Z_RP "," Z_PR ",\"conn_state\":\"%s\"}",
                 states[i].state);
        c2w_record_t rec;
        decode_ok(C2W_SRC_ZEEK, json, &rec);
        cr_expect_eq(rec.u.flow.established, states[i].est, "%s", states[i].state);
        cr_expect_str_eq(rec.u.flow.conn_state, states[i].state);
        c2w_record_clear(&rec);
    }
}

Test(decode, zeek_protocols_and_icmp_ports)
{
    c2w_record_t rec;
    decode_ok(C2W_SRC_ZEEK,
              ZREC(Z_TS, Z_UID, "\"id.orig_h\":\"fe80::2132:4b2b:8c64:b7fc\"", "\"id.orig_p\":134",
                   "\"id.resp_h\":\"ff02::1\"", "\"id.resp_p\":0", "\"proto\":\"icmp\"", "\"conn_state\":\"OTH\"", ""),
              &rec);
    cr_expect_eq(rec.u.flow.proto, C2W_PROTO_ICMP);
    cr_expect_eq(rec.u.flow.orig_p, 134);
    cr_expect_eq(rec.u.flow.resp_p, 0);
    cr_expect_eq(rec.u.flow.orig_h.family, 6);
    c2w_record_clear(&rec);
    decode_ok(C2W_SRC_ZEEK, ZREC(Z_TS, Z_UID, Z_OH, "\"id.orig_p\":65535", Z_RH, "\"id.resp_p\":0", "\"proto\":\"udp\"", Z_CS, ""),
              &rec);
    cr_expect_eq(rec.u.flow.proto, C2W_PROTO_UDP);
    cr_expect_eq(rec.u.flow.orig_p, 65535);
    c2w_record_clear(&rec);
}

Test(decode, zeek_ipv6_spellings_compare_equal)
{
    c2w_record_t a, b;
    decode_ok(C2W_SRC_ZEEK,
              ZREC(Z_TS, Z_UID, "\"id.orig_h\":\"fe80:0:0:0:2132:4b2b:8c64:b7fc\"", Z_OP,
                   "\"id.resp_h\":\"::ffff:10.0.5.13\"", Z_RP, Z_PR, Z_CS, ""),
              &a);
    decode_ok(C2W_SRC_ZEEK,
              ZREC(Z_TS, Z_UID, "\"id.orig_h\":\"FE80::2132:4B2B:8C64:B7FC\"", Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""), &b);
    cr_expect(c2w_ip_equal(&a.u.flow.orig_h, &b.u.flow.orig_h));
    cr_expect(c2w_ip_equal(&a.u.flow.resp_h, &b.u.flow.resp_h));
    cr_expect_eq(a.u.flow.resp_h.family, 4);
    c2w_record_clear(&a);
    c2w_record_clear(&b);
}

Test(decode, zeek_escapes_decoded_and_copied)
{
    c2w_record_t rec;
    decode_ok(C2W_SRC_ZEEK,
              ZREC(Z_TS, "\"uid\":\"C\\u00e9\\\"\\\\x\\ud83d\\ude00\"", Z_OH, Z_OP, Z_RH, Z_RP, Z_PR, Z_CS, ""), &rec);
    cr_expect_str_eq(rec.u.flow.uid, "C\xc3\xa9\"\\x\xf0\x9f\x98\x80");
    c2w_record_clear(&rec);
}

Test(decode, depth_limit_is_exact)
{
    /* {"a": + n arrays: depth 1 + n. Default limit 64. */
    for (int n = 62; n <= 64; n++) {
        char json[1024];
        size_t k = 0;
        k += (size_t)snprintf(json + k, sizeof(json) - k, "{\"a\":");
        for (int i = 0; i < n; i++)
            json[k++] = '[';
        for (int i = 0; i < n; i++)
            json[k++] = ']';
        snprintf(json + k, sizeof(json) - k, ",%s}", Z_TS "," Z_UID "," Z_OH "," Z_OP "," Z_RH "," Z_RP "," Z_PR "," Z_CS);
        c2w_record_t rec;
        c2w_dec_result_t res;
        c2w_dec_status_t st = decode_str(C2W_SRC_ZEEK, NULL, json, &rec, &res);
        if (n + 1 <= 64) {
            cr_expect_eq(st, C2W_DEC_OK, "depth %d: %s", n + 1, res.detail);
        } else {
            cr_expect_eq(st, C2W_DEC_REJECT);
            cr_expect_eq(res.reason, C2W_REJ_TOO_DEEP, "depth %d: %s", n + 1, res.detail);
        }
        c2w_record_clear(&rec);
    }
}

Test(decode, very_deep_nesting_is_rejected_quickly)
{
    size_t n = 200000;
    char *json = malloc(n + 8);
    cr_assert_not_null(json);
    memcpy(json, "{\"a\":", 5);
    memset(json + 5, '[', n);
    json[n + 5] = '\0';
    c2w_record_t rec;
    c2w_dec_result_t res;
    c2w_dec_status_t st = decode_str(C2W_SRC_SYSMON, NULL, json, &rec, &res);
    cr_expect_eq(st, C2W_DEC_REJECT);
    cr_expect_eq(res.reason, C2W_REJ_TOO_DEEP);
    free(json);
}

Test(decode, max_record_bytes_boundary_excludes_line_end)
{
    const char *rec_text = ZOK;
    size_t n = strlen(rec_text);
    c2w_decode_opts_t opts = { .max_record_bytes = n };
    c2w_decoder_t *d = c2w_decoder_new(C2W_SRC_ZEEK, &opts);
    cr_assert_not_null(d);
    char buf[700];
    snprintf(buf, sizeof(buf), "%s\r\n", rec_text);
    c2w_record_t rec;
    c2w_dec_result_t res;
    cr_expect_eq(c2w_decode(d, buf, n + 2, &rec, &res), C2W_DEC_OK, "%s", res.detail);
    c2w_record_clear(&rec);
    snprintf(buf, sizeof(buf), "%s ", rec_text); /* one byte over */
    cr_expect_eq(c2w_decode(d, buf, n + 1, &rec, &res), C2W_DEC_REJECT);
    cr_expect_eq(res.reason, C2W_REJ_TOO_BIG);
    c2w_decoder_free(d);
}

/* ---- Sysmon ---- */

static void expect_sok(const c2w_record_t *rec)
{
    cr_assert_eq(rec->kind, C2W_REC_NETCONN);
    const c2w_netconn_t *n = &rec->u.net;
    cr_expect_eq(n->utc, SYSMON_UTC, "%lld", (long long)n->utc);
    cr_expect_str_eq(n->host, "ACCT01.pandalab.com");
    cr_expect_str_eq(n->guid, "{19de6d3b-a7ef-64dc-7a01-000000000c00}");
    cr_expect_str_eq(n->image, "C:\\Users\\NORA~1.QUE\\winx64_payload.exe");
    cr_expect_str_eq(n->user, "PANDALAB\\nora.quest");
    cr_expect_eq(n->pid, 6064);
    cr_expect_eq(n->proto, C2W_PROTO_TCP);
    cr_expect(n->initiated);
    expect_ip(&n->src_ip, "192.168.1.43");
    expect_ip(&n->dst_ip, "10.0.5.13");
    cr_expect_eq(n->src_port, 49722);
    cr_expect_eq(n->dst_port, 4433);
    cr_expect_null(n->dst_hostname);
}

Test(decode, sysmon_flat_wlb7_wlb6_give_the_same_netconn)
{
    static const char *const shapes[] = {
        SOK,
        /* Winlogbeat 7+/ECS: numbers and booleans as JSON types, beat host elsewhere */
        "{\"@timestamp\":\"2023-08-15T05:35:13.000Z\",\"host\":{\"name\":\"WECserver\"},\"winlog\":{"
        "\"channel\":\"Microsoft-Windows-Sysmon/Operational\",\"provider_name\":\"Microsoft-Windows-Sysmon\","
        "\"computer_name\":\"ACCT01.pandalab.com\",\"event_id\":3,\"event_data\":{\"UtcTime\":\"2023-08-16 "
        "00:38:07.948\",\"ProcessGuid\":\"{19de6d3b-a7ef-64dc-7a01-000000000c00}\",\"ProcessId\":6064,"
        "\"Image\":\"C:\\\\Users\\\\NORA~1.QUE\\\\winx64_payload.exe\",\"User\":\"PANDALAB\\\\nora.quest\","
        "\"Protocol\":\"TCP\",\"Initiated\":true,\"SourceIp\":\"192.168.1.43\",\"SourcePort\":49722,"
        "\"DestinationIp\":\"10.0.5.13\",\"DestinationPort\":4433}},\"event\":{\"code\":\"3\"}}",
        /* Winlogbeat 6: event_data, string values, empty values dropped, beat.hostname is the forwarder */
        "{\"@timestamp\":\"2023-08-15T05:35:13.000Z\",\"log_name\":\"Microsoft-Windows-Sysmon/Operational\","
        "\"event_data\":{\"DestinationPort\":\"4433\",\"SourceIp\":\"192.168.1.43\",\"Image\":\"C:\\\\Users\\\\"
        "NORA~1.QUE\\\\winx64_payload.exe\",\"DestinationIp\":\"10.0.5.13\",\"Initiated\":\"True\","
        "\"ProcessId\":\"6064\",\"Protocol\":\"tcp\",\"SourcePort\":\"49722\",\"User\":\"PANDALAB\\\\nora.quest\","
        "\"ProcessGuid\":\"{19de6d3b-a7ef-64dc-7a01-000000000c00}\",\"UtcTime\":\"2023-08-16 00:38:07.948\"},"
        "\"computer_name\":\"ACCT01.pandalab.com\",\"event_id\":\"3\",\"beat\":{\"hostname\":\"WECserver\"},"
        "\"process_id\":2612,\"source_name\":\"Microsoft-Windows-Sysmon\",\"host\":{\"name\":\"WECserver\"}}",
        /* flat with Computer instead of Hostname, dotted winlog-free keys */
        "{\"Computer\":\"ACCT01.pandalab.com\",\"EventID\":\"3\"," S_UTC "," S_GUID ",\"ProcessId\":6064," S_IMG
        "," S_USER "," S_PROTO ",\"Initiated\":\"TRUE\"," S_SIP ",\"SourcePort\":49722," S_DIP "," S_DPORT "}",
    };
    c2w_record_t first;
    decode_ok(C2W_SRC_SYSMON, shapes[0], &first);
    expect_sok(&first);
    for (size_t i = 1; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        c2w_record_t rec;
        decode_ok(C2W_SRC_SYSMON, shapes[i], &rec);
        expect_sok(&rec);
        expect_netconn_eq(&rec.u.net, &first.u.net);
        c2w_record_clear(&rec);
    }
    c2w_record_clear(&first);
}

Test(decode, sysmon_string_booleans_and_dash_unset)
{
    static const struct {
        char init[16];
        bool want;
    } bools[] = { { "\"true\"", true }, { "\"FALSE\"", false }, { "\"False\"", false }, { "false", false },
                  { "true", true } };
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        char json[1200], init[128];
        snprintf(init, sizeof(init), "\"Initiated\":%s", bools[i].init);
        snprintf(json, sizeof(json), "{" S_HDR "," S_UTC "," S_GUID "," S_PID "," S_IMG "," S_USER "," S_PROTO ",%s,"
                 S_SIP "," S_SPORT "," S_DIP "," S_DPORT "}", init);
        c2w_record_t rec;
        decode_ok(C2W_SRC_SYSMON, json, &rec);
        cr_expect_eq(rec.u.net.initiated, bools[i].want, "%s", bools[i].init);
        c2w_record_clear(&rec);
    }
    c2w_record_t rec;
    decode_ok(C2W_SRC_SYSMON,
              SREC(S_HDR, S_UTC, S_GUID, S_PID, S_IMG, "\"User\":\"-\"", "\"Protocol\":\"UDP\"", S_INIT, S_SIP, S_SPORT,
                   S_DIP, S_DPORT, "\"DestinationHostname\":\"smtp.example.org\""),
              &rec);
    cr_expect_null(rec.u.net.user);
    cr_expect_eq(rec.u.net.proto, C2W_PROTO_UDP);
    cr_expect_str_eq(rec.u.net.dst_hostname, "smtp.example.org");
    c2w_record_clear(&rec);
}

Test(decode, sysmon_event_1_5_22)
{
    c2w_record_t rec;
    decode_ok(C2W_SRC_SYSMON,
              "{\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"Hostname\":\"ACCT01.pandalab.com\","
              "\"EventID\":1," S_UTC "," S_GUID ",\"ProcessId\":\"6064\"," S_IMG ",\"CommandLine\":\"\\\"C:\\\\x.exe\\\" "
              "-n 1\",\"User\":\"PANDALAB\\\\nora.quest\",\"Hashes\":\"SHA1=AB,MD5=CD\","
              "\"ParentImage\":\"C:\\\\happy_image.jpeg.exe\",\"ParentProcessId\":\"5000\"}",
              &rec);
    cr_assert_eq(rec.kind, C2W_REC_PROC);
    cr_expect_eq(rec.u.proc.utc, SYSMON_UTC);
    cr_expect_str_eq(rec.u.proc.host, "ACCT01.pandalab.com");
    cr_expect_str_eq(rec.u.proc.command_line, "\"C:\\x.exe\" -n 1");
    cr_expect_str_eq(rec.u.proc.parent_image, "C:\\happy_image.jpeg.exe");
    cr_expect_str_eq(rec.u.proc.hashes, "SHA1=AB,MD5=CD");
    cr_expect_str_eq(rec.u.proc.user, "PANDALAB\\nora.quest");
    cr_expect_eq(rec.u.proc.pid, 6064);
    c2w_record_clear(&rec);

    /* event 1 with only the required fields */
    decode_ok(C2W_SRC_SYSMON, "{\"EventID\":1,\"Hostname\":\"h\"," S_UTC "," S_GUID "," S_IMG ",\"CommandLine\":\"-\"}",
              &rec);
    cr_assert_eq(rec.kind, C2W_REC_PROC);
    cr_expect_null(rec.u.proc.command_line);
    cr_expect_null(rec.u.proc.parent_image);
    cr_expect_null(rec.u.proc.hashes);
    cr_expect_null(rec.u.proc.user);
    cr_expect_eq(rec.u.proc.pid, 0);
    c2w_record_clear(&rec);

    decode_ok(C2W_SRC_SYSMON, "{\"EventID\":5,\"Hostname\":\"h\"," S_UTC "," S_GUID "," S_PID "," S_IMG "," S_USER "}",
              &rec);
    cr_assert_eq(rec.kind, C2W_REC_PROCEND);
    cr_expect_str_eq(rec.u.proc.guid, "{19de6d3b-a7ef-64dc-7a01-000000000c00}");
    cr_expect_eq(rec.u.proc.pid, 6064);
    cr_expect_null(rec.u.proc.user); /* event 1 only */
    c2w_record_clear(&rec);

    decode_ok(C2W_SRC_SYSMON,
              "{\"EventID\":22,\"Hostname\":\"h\"," S_UTC "," S_GUID "," S_IMG ",\"QueryName\":\"mail.example.org\","
              "\"QueryStatus\":\"0\",\"QueryResults\":\"::ffff:192.168.1.4;\"}",
              &rec);
    cr_assert_eq(rec.kind, C2W_REC_DNS);
    cr_expect_str_eq(rec.u.dns.query_name, "mail.example.org");
    cr_expect_str_eq(rec.u.dns.query_results, "::ffff:192.168.1.4;");
    cr_expect_str_eq(rec.u.dns.image, "C:\\Users\\NORA~1.QUE\\winx64_payload.exe");
    c2w_record_clear(&rec);

    decode_ok(C2W_SRC_SYSMON,
              "{\"EventID\":22,\"Hostname\":\"h\"," S_UTC ",\"ProcessGuid\":\"{00000000-0000-0000-0000-000000000000}\","
              "\"Image\":\"<unknown process>\",\"QueryName\":\"x\",\"QueryResults\":\"-\"}",
              &rec);
    cr_assert_eq(rec.kind, C2W_REC_DNS);
    cr_expect_null(rec.u.dns.query_results);
    cr_expect_str_eq(rec.u.dns.image, "<unknown process>");
    c2w_record_clear(&rec);
}

/* A decoded record's strings share one block (record.h): every field
 * points into it, and a string taken past the record (c2w_take_string, as
 * the join takes a DNS name) is a copy that outlives c2w_record_clear. A
 * record whose strings are allocated one by one gives its pointer away. */
Test(decode, record_strings_share_one_block)
{
    c2w_record_t rec;
    decode_ok(C2W_SRC_SYSMON,
              "{\"EventID\":22,\"Hostname\":\"h\"," S_UTC "," S_GUID "," S_IMG ",\"QueryName\":\"mail.example.org\","
              "\"QueryStatus\":\"0\",\"QueryResults\":\"::ffff:192.168.1.4;\"}",
              &rec);
    cr_assert_eq(rec.kind, C2W_REC_DNS);
    const c2w_dnsinfo_t *d = &rec.u.dns;
    cr_assert_not_null(d->strings);
    cr_assert_eq(*c2w_record_strings(&rec), d->strings);
    const char *fields[] = { d->host, d->guid, d->image, d->query_name, d->query_results };
    size_t total = 0;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        total += strlen(fields[i]) + 1;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        cr_expect(fields[i] >= d->strings && fields[i] + strlen(fields[i]) < d->strings + total, "field %zu", i);
    char *name = c2w_take_string(rec.u.dns.strings, &rec.u.dns.query_name);
    cr_assert_not_null(name);
    cr_expect_neq(name, rec.u.dns.query_name, "a block's string is copied, not given away");
    c2w_record_clear(&rec);
    cr_expect_str_eq(name, "mail.example.org");
    free(name);

    c2w_dnsinfo_t own = { .query_name = strdup("x.example.org") };
    char *p = own.query_name;
    cr_expect_eq(c2w_take_string(own.strings, &own.query_name), p, "a string of its own is given away");
    cr_expect_null(own.query_name);
    free(p);

    /* an absent string is NULL either way */
    cr_expect_null(c2w_take_string(NULL, &own.query_name));
    cr_expect_null(c2w_take_string("", &own.query_name));
}

/* ---- Suricata eve ---- */

Test(decode, eve_flow_with_offset)
{
    c2w_record_t rec;
    decode_ok(C2W_SRC_EVE, EOK, &rec);
    cr_assert_eq(rec.kind, C2W_REC_FLOW);
    const c2w_flow_t *f = &rec.u.flow;
    cr_expect_eq(f->ts, EVE_START, "%lld", (long long)f->ts); /* flow.start, never timestamp */
    cr_expect_str_eq(f->uid, "F1003106940589166");
    expect_ip(&f->orig_h, "91.218.113.83");
    expect_ip(&f->resp_h, "192.168.1.129");
    cr_expect_eq(f->orig_p, 48520);
    cr_expect_eq(f->resp_p, 587);
    cr_expect_eq(f->proto, C2W_PROTO_TCP);
    cr_expect_not(f->established); /* tc flags 0x14: RST+ACK, no SYN */
    cr_expect_null(f->conn_state);
    cr_expect_eq(f->orig_bytes, 120);
    cr_expect_eq(f->resp_bytes, 60);
    cr_expect(fabs(f->duration - 0.000254) < 1e-9, "%.9f", f->duration);
    cr_expect_null(f->service);
    cr_expect_null(f->path);
    c2w_record_clear(&rec);
}

Test(decode, eve_established_and_uid)
{
    c2w_record_t rec;
    decode_ok(C2W_SRC_EVE, EREC("flow", "18446744073709551615", "tcp", "25", E_START, "1b", ",\"community_id\":\"1:x=\""),
              &rec);
    cr_expect_str_eq(rec.u.flow.uid, "F18446744073709551615");
    cr_expect(rec.u.flow.established);
    cr_expect_str_eq(rec.u.flow.community_id, "1:x=");
    c2w_record_clear(&rec);

    decode_ok(C2W_SRC_EVE,
              "{\"flow_id\":7,\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\",\"src_port\":5353,\"dest_ip\":"
              "\"10.0.0.2\",\"dest_port\":53,\"proto\":\"UDP\",\"flow\":{\"pkts_toclient\":1,"
              "\"start\":\"2021-06-06T19:41:49.234606+0200\"}}",
              &rec);
    cr_expect_eq(rec.u.flow.proto, C2W_PROTO_UDP);
    cr_expect(rec.u.flow.established);
    cr_expect_eq(rec.u.flow.duration, 0.0);
    c2w_record_clear(&rec);

    decode_ok(C2W_SRC_EVE,
              "{\"flow_id\":7,\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\",\"src_port\":5353,\"dest_ip\":"
              "\"10.0.0.2\",\"dest_port\":53,\"proto\":\"UDP\",\"flow\":{\"pkts_toclient\":0,"
              "\"start\":\"2021-06-06T19:41:49.234606+0200\"}}",
              &rec);
    cr_expect_not(rec.u.flow.established);
    c2w_record_clear(&rec);

    decode_ok(C2W_SRC_EVE,
              "{\"flow_id\":8,\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\",\"dest_ip\":\"10.0.0.2\","
              "\"proto\":\"ICMP\",\"icmp_type\":8,\"icmp_code\":0,\"flow\":{\"pkts_toclient\":1,"
              "\"start\":\"2021-06-06T19:41:49.234606Z\"}}",
              &rec);
    cr_expect_eq(rec.u.flow.proto, C2W_PROTO_ICMP);
    cr_expect_eq(rec.u.flow.orig_p, 8);
    cr_expect_eq(rec.u.flow.resp_p, 0);
    cr_expect_not(rec.u.flow.established);
    c2w_record_clear(&rec);
}

/* ---- buffers, reuse, names ---- */

Test(decode, record_independent_of_surrounding_bytes)
{
    const char *text = ZX(",\"service\":\"smtp\"");
    size_t n = strlen(text);
    c2w_decoder_t *d = c2w_decoder_new(C2W_SRC_ZEEK, NULL);
    cr_assert_not_null(d);
    c2w_record_t ref, rec;
    c2w_dec_result_t res;
    cr_assert_eq(c2w_decode(d, text, n, &ref, &res), C2W_DEC_OK);

    /* the record sliced out of a buffer with garbage on both sides */
    static const char *const tails[] = { "", "garbage", "{\"uid\":\"other\"}", "}", "\n", "\r\n", "\xff\xfe" };
    for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
        size_t cap = n + 64;
        char *buf = malloc(cap);
        cr_assert_not_null(buf);
        memset(buf, 'Q', cap);
        memcpy(buf + 9, text, n);
        memcpy(buf + 9 + n, tails[t], strlen(tails[t]));
        cr_assert_eq(c2w_decode(d, buf + 9, n, &rec, &res), C2W_DEC_OK, "tail %zu: %s", t, res.detail);
        memset(buf, 'Z', cap); /* the record must own its strings */
        free(buf);
        expect_flow_eq(&rec.u.flow, &ref.u.flow);
        c2w_record_clear(&rec);
    }
    /* a trailing LF or CRLF inside len is allowed */
    char buf[700];
    snprintf(buf, sizeof(buf), "%s\r\n", text);
    cr_expect_eq(c2w_decode(d, buf, n + 2, &rec, &res), C2W_DEC_OK);
    expect_flow_eq(&rec.u.flow, &ref.u.flow);
    c2w_record_clear(&rec);
    cr_expect_eq(c2w_decode(d, buf, n + 1, &rec, &res), C2W_DEC_OK); /* trailing \r alone: JSON whitespace */
    c2w_record_clear(&rec);
    c2w_record_clear(&ref);
    c2w_decoder_free(d);
}

Test(decode, decoder_reuse_after_reject_and_skip)
{
    c2w_decoder_t *d = c2w_decoder_new(C2W_SRC_SYSMON, NULL);
    cr_assert_not_null(d);
    static const struct {
        char json[1200];
        int status;
    } seq[] = {
        { SOK, C2W_DEC_OK },
        { "{\"EventID\":3,\"Image\":", C2W_DEC_REJECT },
        { "{\"EventID\":3,\"Image\":\"\xff\"}", C2W_DEC_REJECT },
        { "{\"EventID\":4}", C2W_DEC_SKIP },
        { SOK, C2W_DEC_OK },
        { SOK "x", C2W_DEC_REJECT },
        { SOK, C2W_DEC_OK },
    };
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        c2w_record_t rec;
        c2w_dec_result_t res;
        c2w_dec_status_t st = c2w_decode(d, seq[i].json, strlen(seq[i].json), &rec, &res);
        cr_expect_eq(st, seq[i].status, "step %zu: %d (%s)", i, st, res.detail);
        if (st == C2W_DEC_OK)
            expect_sok(&rec);
        c2w_record_clear(&rec);
    }
    c2w_decoder_free(d);
}

Test(decode, names)
{
    static const char *const rej[C2W_REJ_COUNT] = { "empty",       "too_big",       "bad_json", "bad_utf8",
                                                     "not_object",  "too_deep",      "duplicate_key",
                                                     "missing_field", "bad_type",    "bad_value", "bad_ip",
                                                     "bad_port",    "bad_time",      "bad_proto", "no_memory" };
    for (int i = 0; i < C2W_REJ_COUNT; i++)
        cr_expect_str_eq(c2w_reject_name((c2w_reject_t)i), rej[i]);
    cr_expect_str_eq(c2w_skip_name(C2W_SKIP_EVENT_ID), "event_id");
    cr_expect_str_eq(c2w_skip_name(C2W_SKIP_CHANNEL), "channel");
    cr_expect_str_eq(c2w_skip_name(C2W_SKIP_EVENT_TYPE), "event_type");
    cr_expect_str_eq(c2w_skip_name(C2W_SKIP_OTHER_LOG), "other_log");
    cr_expect_str_eq(c2w_source_name(C2W_SRC_ZEEK), "zeek");
    cr_expect_str_eq(c2w_source_name(C2W_SRC_SYSMON), "sysmon");
    cr_expect_str_eq(c2w_source_name(C2W_SRC_EVE), "eve");
    cr_expect_null(c2w_decoder_new(C2W_SRC_COUNT, NULL));
}

/* ---- real dataset lines ---- */

/* The shared datasets folder: $C2W_SHARED (the shared folder or its
 * datasets/), else ../shared/datasets from the repo root ($C2W_ROOT or "."). */
static bool dataset_dir(char *out, size_t n)
{
    struct stat st;
    const char *shared = getenv("C2W_SHARED");
    if (shared && *shared) {
        snprintf(out, n, "%s/datasets", shared);
        if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
            return true;
        snprintf(out, n, "%s", shared);
        return stat(out, &st) == 0 && S_ISDIR(st.st_mode);
    }
    const char *root = getenv("C2W_ROOT");
    snprintf(out, n, "%s/../shared/datasets", root && *root ? root : ".");
    return stat(out, &st) == 0 && S_ISDIR(st.st_mode);
}

struct ds_counts {
    unsigned lines, ok, skip, reject;
    unsigned kind[C2W_REC_DNS + 1];
    unsigned established;
    c2w_record_t first; /* first decoded record, owned */
};

static void ds_run(const char *rel, c2w_source_kind_t k, struct ds_counts *c)
{
    char dir[512], path[1024];
    if (!dataset_dir(dir, sizeof(dir)))
        cr_skip_test("shared datasets folder not found");
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    memset(c, 0, sizeof(*c));
    c2w_decoder_t *d = c2w_decoder_new(k, NULL);
    cr_assert_not_null(d);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, fp)) > 0) {
        c2w_record_t rec;
        c2w_dec_result_t res;
        c->lines++;
        c2w_dec_status_t st = c2w_decode(d, line, (size_t)len, &rec, &res);
        cr_expect_neq(st, C2W_DEC_REJECT, "%s:%u: %s", rel, c->lines, res.detail);
        if (st == C2W_DEC_OK) {
            c->ok++;
            c->kind[rec.kind]++;
            if (rec.kind == C2W_REC_FLOW && rec.u.flow.established)
                c->established++;
            if (c->ok == 1)
                c->first = rec;
            else
                c2w_record_clear(&rec);
        } else if (st == C2W_DEC_SKIP) {
            c->skip++;
        } else {
            c->reject++;
        }
    }
    free(line);
    fclose(fp);
    c2w_decoder_free(d);
}

Test(dataset, otrf_lsass_sysmon)
{
    struct ds_counts c;
    ds_run("otrf-lsass-procdump-join/sysmon.ndjson", C2W_SRC_SYSMON, &c);
    cr_expect_eq(c.lines, 174);
    cr_expect_eq(c.ok, 174);
    cr_expect_eq(c.skip, 0);
    cr_expect_eq(c.kind[C2W_REC_NETCONN], 135);
    cr_expect_eq(c.kind[C2W_REC_DNS], 28);
    cr_expect_eq(c.kind[C2W_REC_PROC], 8);
    cr_expect_eq(c.kind[C2W_REC_PROCEND], 3);
    /* line 1: event 22, QueryResults "-", unknown process */
    cr_assert_eq(c.first.kind, C2W_REC_DNS);
    cr_expect_str_eq(c.first.u.dns.host, "ACCT01.pandalab.com");
    cr_expect_str_eq(c.first.u.dns.query_name, "umwatson.events.data.microsoft.com");
    cr_expect_null(c.first.u.dns.query_results);
    cr_expect_str_eq(c.first.u.dns.image, "<unknown process>");
    cr_expect_eq(c.first.u.dns.utc, 1692146210070000LL); /* 2023-08-16 00:36:50.070, not TimeCreated */
    c2w_record_clear(&c.first);
}

Test(dataset, otrf_lsass_zeek_conn)
{
    struct ds_counts c;
    ds_run("otrf-lsass-procdump-join/zeek_conn.ndjson", C2W_SRC_ZEEK, &c);
    cr_expect_eq(c.lines, 119);
    cr_expect_eq(c.ok, 119);
    cr_expect_eq(c.kind[C2W_REC_FLOW], 119);
    cr_expect_eq(c.established, 0); /* one-sided capture: SHR, S0, OTH ... */
    cr_assert_eq(c.first.kind, C2W_REC_FLOW);
    /* line 1 is the reference record of ZOK, with other evidence */
    const c2w_flow_t *f = &c.first.u.flow;
    cr_expect_eq(f->ts, ZEEK_TS);
    cr_expect_str_eq(f->uid, "CcDO6P1tntZGxYTFn6");
    expect_ip(&f->orig_h, "192.168.1.43");
    expect_ip(&f->resp_h, "192.168.1.1");
    cr_expect_eq(f->orig_p, 49873);
    cr_expect_eq(f->resp_p, 53);
    cr_expect_eq(f->proto, C2W_PROTO_UDP);
    cr_expect_str_eq(f->conn_state, "SHR");
    cr_expect_str_eq(f->service, "dns");
    cr_expect_str_eq(f->history, "^d");
    cr_expect_eq(f->orig_bytes, 0);
    cr_expect_eq(f->duration, 0.0);
    c2w_record_clear(&c.first);
}

Test(dataset, otrf_winlogbeat6_sysmon)
{
    struct ds_counts c;
    ds_run("otrf-winlogbeat6-sysmon/winlogbeat654_sysmon.ndjson", C2W_SRC_SYSMON, &c);
    cr_expect_eq(c.lines, 17);
    cr_expect_eq(c.ok, 17);
    cr_expect_eq(c.kind[C2W_REC_NETCONN], 12);
    cr_expect_eq(c.kind[C2W_REC_PROC], 5);
    cr_assert_eq(c.first.kind, C2W_REC_NETCONN);
    const c2w_netconn_t *n = &c.first.u.net;
    cr_expect_str_eq(n->host, "IT001.shire.com"); /* not beat.hostname WECserver */
    cr_expect_str_eq(n->guid, "{aa6b4a20-1a98-5c91-0000-00105b0f0205}");
    cr_expect_str_eq(n->image, "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe");
    cr_expect_str_eq(n->user, "SHIRE\\pgustavo");
    cr_expect_eq(n->pid, 4312);
    cr_expect(n->initiated);
    expect_ip(&n->src_ip, "172.18.39.105");
    expect_ip(&n->dst_ip, "10.0.10.106");
    cr_expect_eq(n->src_port, 55680);
    cr_expect_eq(n->dst_port, 443);
    cr_expect_null(n->dst_hostname);
    cr_expect_eq(n->utc, 1553015640332000LL); /* 2019-03-19 17:14:00.332 */
    c2w_record_clear(&c.first);
}

Test(dataset, otrf_proxylogon_sysmon)
{
    struct ds_counts c;
    ds_run("otrf-proxylogon-exchange-sysmon/sysmon_eid3.ndjson", C2W_SRC_SYSMON, &c);
    cr_expect_eq(c.lines, 117);
    cr_expect_eq(c.kind[C2W_REC_NETCONN], 117);
    c2w_record_clear(&c.first);
}

Test(dataset, stratosphere_zeek_conn)
{
    struct ds_counts c;
    ds_run("stratosphere-portscan-zeek-json/conn.ndjson", C2W_SRC_ZEEK, &c);
    cr_expect_eq(c.lines, 291);
    cr_expect_eq(c.ok, 291);
    cr_expect_eq(c.established, 19);
    c2w_record_clear(&c.first);
}

Test(dataset, stratosphere_eve)
{
    struct ds_counts c;
    ds_run("stratosphere-slips-suricata-eve/eve.ndjson", C2W_SRC_EVE, &c);
    cr_expect_eq(c.lines, 148);
    cr_expect_eq(c.ok, 122);
    cr_expect_eq(c.skip, 26);
    cr_expect_eq(c.established, 55);
    c2w_record_clear(&c.first);
}
