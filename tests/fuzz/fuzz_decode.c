/*
 * fuzz_decode.c — libFuzzer target for one decoder (c2w_decode).
 *
 * Built once per source kind with -DFUZZ_KIND=C2W_SRC_ZEEK (or _SYSMON,
 * _EVE): decode_zeek, decode_sysmon, decode_eve. The input is one record,
 * as a line of an NDJSON file or a Kafka message value.
 *
 * Besides the sanitizers (memory errors, leaks, UB) it checks what
 * decode.h promises: the status is the result's status, a record exists
 * exactly on OK and has a valid time and addresses, the reason is in range,
 * the detail is a terminated string ("" on OK). And properties:
 *   - a decoder keeps nothing between records: decoding the same input a
 *     second time with the same decoder gives the same result;
 *   - a trailing "\n" changes nothing;
 *   - tighter limits (max_record_bytes, max_depth) only ever refuse more;
 *   - the fast path (flat records parsed without yajl) answers exactly as
 *     yajl does (full_parse): same status, reason and detail, every field
 *     of the record the same, with and without a port filter (lean
 *     records).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2watch/decode.h"
#include "c2watch/record.h"
#include "../record_summary.h"

#ifndef FUZZ_KIND
#error "build with -DFUZZ_KIND=C2W_SRC_ZEEK, C2W_SRC_SYSMON or C2W_SRC_EVE"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                   \
    do {                                                                                              \
        if (!(cond)) {                                                                                \
            fprintf(stderr, "fuzz_decode(%s): check failed at %s:%d: %s\n", c2w_source_name(FUZZ_KIND), \
                    __FILE__, __LINE__, #cond);                                                       \
            abort();                                                                                  \
        }                                                                                             \
    } while (0)

static volatile size_t sink; /* keeps reads of record strings from being optimized away */

static void touch_str(const char *s)
{
    if (s)
        sink += strlen(s);
}

static void touch_ip(const c2w_ip_t *ip)
{
    char buf[C2W_IP_STRLEN];
    CHECK(ip->family == 4 || ip->family == 6);
    c2w_ip_format(ip, buf);
    sink += strlen(buf);
}

static void touch_time(c2w_time_t t)
{
    char buf[40];
    CHECK(c2w_time_valid(t));
    c2w_time_format(t, buf);
    sink += strlen(buf);
}

/* Reads every part of a decoded record, and every catalog field of a flow
 * as the join would lend it to the rules. */
static void touch_record(const c2w_record_t *r)
{
    switch (r->kind) {
    case C2W_REC_FLOW: {
        const c2w_flow_t *f = &r->u.flow;
        touch_time(f->ts);
        touch_ip(&f->orig_h);
        touch_ip(&f->resp_h);
        CHECK(f->proto == C2W_PROTO_TCP || f->proto == C2W_PROTO_UDP || f->proto == C2W_PROTO_ICMP);
        CHECK(f->duration >= 0 && f->duration == f->duration);
        touch_str(f->uid);
        touch_str(f->conn_state);
        touch_str(f->service);
        touch_str(f->community_id);
        touch_str(f->history);
        touch_str(f->path);
        c2w_attributed_t a = { .flow = f };
        for (int i = 0; i < C2W_F_COUNT; i++) {
            c2w_value_t v;
            c2w_field_get(&a, (c2w_field_t)i, &v);
            CHECK(v.type == c2w_field_type((c2w_field_t)i));
            if (v.present && v.type == C2W_T_STR)
                touch_str(v.s);
        }
        return;
    }
    case C2W_REC_NETCONN: {
        const c2w_netconn_t *n = &r->u.net;
        touch_time(n->utc);
        touch_ip(&n->src_ip);
        touch_ip(&n->dst_ip);
        CHECK(n->proto == C2W_PROTO_TCP || n->proto == C2W_PROTO_UDP);
        touch_str(c2w_netconn_host(n));
        touch_str(n->guid);
        touch_str(n->image);
        touch_str(n->user);
        touch_str(n->dst_hostname);
        return;
    }
    case C2W_REC_PROC:
    case C2W_REC_PROCEND: {
        const c2w_procinfo_t *p = &r->u.proc;
        touch_time(p->utc);
        touch_str(p->host);
        touch_str(p->guid);
        touch_str(p->image);
        touch_str(p->command_line);
        touch_str(p->parent_image);
        touch_str(p->hashes);
        touch_str(p->user);
        if (p->image)
            touch_str(c2w_path_basename(p->image));
        return;
    }
    case C2W_REC_DNS: {
        const c2w_dnsinfo_t *d = &r->u.dns;
        touch_time(d->utc);
        touch_str(d->host);
        touch_str(d->guid);
        touch_str(d->image);
        touch_str(d->query_name);
        touch_str(d->query_results);
        return;
    }
    case C2W_REC_NONE: /* not decoded (check_result saw to that) */
        return;
    }
    CHECK(!"record of an unknown kind");
}

static void check_result(c2w_dec_status_t st, const c2w_dec_result_t *res, const c2w_record_t *rec)
{
    CHECK(st == res->status);
    CHECK(memchr(res->detail, '\0', sizeof(res->detail)) != NULL);
    switch (st) {
    case C2W_DEC_OK:
        CHECK(rec->kind != C2W_REC_NONE);
        CHECK(res->detail[0] == '\0');
        break;
    case C2W_DEC_SKIP:
        CHECK(rec->kind == C2W_REC_NONE);
        CHECK(res->reason >= 0 && res->reason < C2W_SKIP_COUNT);
        CHECK(res->detail[0] != '\0');
        break;
    case C2W_DEC_REJECT:
        CHECK(rec->kind == C2W_REC_NONE);
        CHECK(res->reason >= 0 && res->reason < C2W_REJ_COUNT);
        CHECK(res->detail[0] != '\0');
        break;
    default:
        CHECK(!"unknown status");
    }
}

static bool same_result(const c2w_dec_result_t *a, const c2w_dec_result_t *b)
{
    return a->status == b->status && (a->status == C2W_DEC_OK || a->reason == b->reason)
        && strcmp(a->detail, b->detail) == 0;
}

/* The parts of two records that must agree when they come from one input. */
static bool same_record(const c2w_record_t *a, const c2w_record_t *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case C2W_REC_FLOW:
        return a->u.flow.ts == b->u.flow.ts && c2w_ip_equal(&a->u.flow.orig_h, &b->u.flow.orig_h)
            && c2w_ip_equal(&a->u.flow.resp_h, &b->u.flow.resp_h) && a->u.flow.orig_p == b->u.flow.orig_p
            && a->u.flow.resp_p == b->u.flow.resp_p && a->u.flow.proto == b->u.flow.proto
            && a->u.flow.established == b->u.flow.established && a->u.flow.orig_bytes == b->u.flow.orig_bytes
            && a->u.flow.resp_bytes == b->u.flow.resp_bytes;
    case C2W_REC_NETCONN:
        return a->u.net.utc == b->u.net.utc && c2w_ip_equal(&a->u.net.src_ip, &b->u.net.src_ip)
            && c2w_ip_equal(&a->u.net.dst_ip, &b->u.net.dst_ip) && a->u.net.src_port == b->u.net.src_port
            && a->u.net.dst_port == b->u.net.dst_port && a->u.net.pid == b->u.net.pid
            && a->u.net.initiated == b->u.net.initiated && a->u.net.proto == b->u.net.proto;
    case C2W_REC_PROC:
    case C2W_REC_PROCEND:
        return a->u.proc.utc == b->u.proc.utc && a->u.proc.pid == b->u.proc.pid;
    case C2W_REC_DNS:
        return a->u.dns.utc == b->u.dns.utc;
    case C2W_REC_NONE:
        break;
    }
    return true;
}

static c2w_dec_status_t decode(c2w_decoder_t *d, const char *buf, size_t len, c2w_record_t *rec,
                               c2w_dec_result_t *res)
{
    memset(rec, 0, sizeof(*rec));
    memset(res, 0xa5, sizeof(*res)); /* the decoder must fill it */
    c2w_dec_status_t st = c2w_decode(d, buf, len, rec, res);
    check_result(st, res, rec);
    touch_record(rec);
    return st;
}

/* Decodes with a and with b; both answers must be the same to the last
 * field. */
static void same_both(c2w_decoder_t *a, c2w_decoder_t *b, const char *buf, size_t len)
{
    static char sa[8192], sb[8192];
    c2w_record_t ra, rb;
    c2w_dec_result_t ea, eb;
    decode(a, buf, len, &ra, &ea);
    decode(b, buf, len, &rb, &eb);
    CHECK(same_result(&ea, &eb));
    summary(&ra, sa, sizeof(sa));
    summary(&rb, sb, sizeof(sb));
    CHECK(strcmp(sa, sb) == 0);
    c2w_record_clear(&ra);
    c2w_record_clear(&rb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static c2w_decoder_t *dec, *tight, *full, *lean, *lean_full;
    static uint8_t mail_ports[8192];
    if (!dec) {
        /* One decoder for the whole run, as a source uses one for all its
         * records: state left behind by one input shows up in the next. */
        const c2w_decode_opts_t tight_opts = { .max_record_bytes = 96, .max_depth = 2 };
        const c2w_decode_opts_t full_opts = { .full_parse = true };
        static const unsigned ports[] = { 25, 465, 587, 110, 995, 143, 993 };
        for (size_t k = 0; k < sizeof(ports) / sizeof(ports[0]); k++)
            mail_ports[ports[k] >> 3] |= (uint8_t)(1u << (ports[k] & 7));
        dec = c2w_decoder_new(FUZZ_KIND, NULL);
        tight = c2w_decoder_new(FUZZ_KIND, &tight_opts);
        full = c2w_decoder_new(FUZZ_KIND, &full_opts);
        lean = c2w_decoder_new(FUZZ_KIND, NULL);
        lean_full = c2w_decoder_new(FUZZ_KIND, &full_opts);
        CHECK(dec && tight && full && lean && lean_full);
        c2w_decoder_set_ports(lean, mail_ports);
        c2w_decoder_set_ports(lean_full, mail_ports);
    }
    same_both(dec, full, (const char *)data, size);
    same_both(lean, lean_full, (const char *)data, size);
    const char *buf = (const char *)data;
    c2w_record_t rec, again;
    c2w_dec_result_t res, res2;

    c2w_dec_status_t st = decode(dec, buf, size, &rec, &res);

    /* Same decoder, same input: same answer. */
    decode(dec, buf, size, &again, &res2);
    CHECK(same_result(&res, &res2));
    CHECK(same_record(&rec, &again));
    c2w_record_clear(&again);

    /* A trailing newline is allowed and changes nothing. */
    if (size == 0 || (buf[size - 1] != '\n' && buf[size - 1] != '\r')) {
        char *nl = malloc(size + 1);
        CHECK(nl);
        if (size)
            memcpy(nl, buf, size);
        nl[size] = '\n';
        decode(dec, nl, size + 1, &again, &res2);
        free(nl);
        CHECK(same_result(&res, &res2));
        CHECK(same_record(&rec, &again));
        c2w_record_clear(&again);
    }

    /* Tighter limits refuse more, never less, and never change a record. */
    if (decode(tight, buf, size, &again, &res2) == C2W_DEC_OK) {
        CHECK(st == C2W_DEC_OK);
        CHECK(same_record(&rec, &again));
    } else if (res2.status == C2W_DEC_REJECT && res2.reason != C2W_REJ_TOO_BIG && res2.reason != C2W_REJ_TOO_DEEP) {
        CHECK(same_result(&res, &res2));
    }
    c2w_record_clear(&again);

    c2w_record_clear(&rec);
    CHECK(rec.kind == C2W_REC_NONE);
    return 0;
}
