/* test_join.c — attribution (SPEC §3): matching, skew, ttl, bounds. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2watch/join.h"
#include "c2watch/util.h"

#define S(x) ((c2w_time_t)(x) * C2W_USEC)
#define T0 S(1764324000) /* 2025-11-28T10:00:00Z */

typedef struct seen {
    char uid[32];
    bool attributed;
    char guid[64];
    char file_name[64];
    char cmd[128];
    char url[128];
    c2w_time_t offset;
} seen;

static seen out[64];
static size_t n_out;

static void collect(void *ctx, const c2w_attributed_t *a)
{
    (void)ctx;
    cr_assert(n_out < 64);
    seen *s = &out[n_out++];
    memset(s, 0, sizeof(*s));
    snprintf(s->uid, sizeof(s->uid), "%s", a->flow->uid);
    s->attributed = a->attributed;
    s->offset = a->clock_offset;
    if (a->guid)
        snprintf(s->guid, sizeof(s->guid), "%s", a->guid);
    if (a->file_name)
        snprintf(s->file_name, sizeof(s->file_name), "%s", a->file_name);
    if (a->command_line)
        snprintf(s->cmd, sizeof(s->cmd), "%s", a->command_line);
    if (a->remote_url)
        snprintf(s->url, sizeof(s->url), "%s", a->remote_url);
}

static void ip(const char *s, c2w_ip_t *o)
{
    cr_assert(c2w_ip_parse(s, strlen(s), o), "ip %s", s);
}

static void add_flow(c2w_join_t *j, c2w_time_t ts, const char *uid, const char *src, uint16_t sp, const char *dst,
                     uint16_t dp)
{
    c2w_flow_t f = { 0 };
    f.ts = ts;
    f.uid = c2w_strdup_opt(uid);
    ip(src, &f.orig_h);
    ip(dst, &f.resp_h);
    f.orig_p = sp;
    f.resp_p = dp;
    f.proto = C2W_PROTO_TCP;
    f.established = true;
    c2w_join_add_flow(j, &f);
}

static void add_ev(c2w_join_t *j, c2w_time_t utc, const char *host, const char *guid, const char *image, bool initiated,
                   const char *src, uint16_t sp, const char *dst, uint16_t dp)
{
    c2w_netconn_t e = { 0 };
    e.utc = utc;
    e.host = c2w_strdup_opt(host);
    e.guid = c2w_strdup_opt(guid);
    e.image = c2w_strdup_opt(image);
    e.user = c2w_strdup_opt("CORP\\alice");
    e.pid = 4242;
    e.proto = C2W_PROTO_TCP;
    e.initiated = initiated;
    ip(src, &e.src_ip);
    ip(dst, &e.dst_ip);
    e.src_port = sp;
    e.dst_port = dp;
    c2w_join_add_netconn(j, &e);
}

static c2w_join_t *mk(const c2w_join_opts_t *o)
{
    n_out = 0;
    c2w_join_t *j = c2w_join_new(o, collect, NULL);
    cr_assert_not_null(j);
    return j;
}

Test(join, flow_then_event_attributes)
{
    c2w_join_t *j = mk(NULL);
    add_flow(j, T0, "C1", "10.0.0.5", 50000, "203.0.113.9", 587);
    cr_assert_eq(n_out, 0, "flow waits for its event");
    add_ev(j, T0 + 300000, "WS1", "{AAAA-1}", "C:\\Temp\\evil.exe", true, "10.0.0.5", 50000, "203.0.113.9", 587);
    c2w_join_advance(j, T0 + S(120));
    cr_assert_eq(n_out, 0, "decided only once the watermark passes ts + max_skew");
    c2w_join_advance(j, T0 + S(120) + 1);
    cr_assert_eq(n_out, 1);
    cr_assert(out[0].attributed);
    cr_assert_str_eq(out[0].guid, "{AAAA-1}");
    cr_assert_str_eq(out[0].file_name, "evil.exe");
    cr_assert_eq(c2w_join_stats(j)->attributed, 1);
    c2w_join_free(j);
}

Test(join, event_then_flow_attributes)
{
    c2w_join_t *j = mk(NULL);
    add_ev(j, T0, "WS1", "{AAAA-2}", "C:/x/y/mailer.exe", true, "10.0.0.5", 50001, "203.0.113.9", 25);
    add_flow(j, T0 + 1000, "C2", "10.0.0.5", 50001, "203.0.113.9", 25);
    c2w_join_flush(j);
    cr_assert_eq(n_out, 1);
    cr_assert(out[0].attributed);
    cr_assert_str_eq(out[0].file_name, "mailer.exe");
    c2w_join_free(j);
}

Test(join, inbound_event_never_attributes)
{
    c2w_join_t *j = mk(NULL);
    add_ev(j, T0, "MAIL1", "{SRV}", "C:\\Exchange\\MSExchangeFrontendTransport.exe", false, "10.0.0.5", 50002,
           "10.0.0.25", 25);
    add_flow(j, T0, "C3", "10.0.0.5", 50002, "10.0.0.25", 25);
    cr_assert_eq(n_out, 0);
    c2w_join_flush(j);
    cr_assert_eq(n_out, 1);
    cr_assert_not(out[0].attributed);
    cr_assert_eq(c2w_join_stats(j)->inbound, 1);
    cr_assert_eq(c2w_join_stats(j)->unattributed, 1);
    c2w_join_free(j);
}

Test(join, redelivered_uid_dropped)
{
    c2w_join_t *j = mk(NULL);
    add_ev(j, T0, "WS1", "{G}", "a.exe", true, "10.0.0.5", 50003, "203.0.113.9", 25);
    add_flow(j, T0, "CDUP", "10.0.0.5", 50003, "203.0.113.9", 25);
    add_flow(j, T0, "CDUP", "10.0.0.5", 50003, "203.0.113.9", 25);
    c2w_join_flush(j);
    cr_assert_eq(n_out, 1);
    cr_assert_eq(c2w_join_stats(j)->duplicates, 1);
    c2w_join_free(j);
}

Test(join, ipv6_spellings_match)
{
    c2w_join_t *j = mk(NULL);
    add_ev(j, T0, "WS6", "{V6}", "b.exe", true, "fe80:0:0:0:2132:4b2b:8c64:b7fc", 50004, "2001:db8:0:0:0:0:0:25",
           993);
    add_flow(j, T0, "C6", "fe80::2132:4b2b:8c64:b7fc", 50004, "2001:db8::25", 993);
    c2w_join_flush(j);
    cr_assert_eq(n_out, 1);
    cr_assert(out[0].attributed);
    c2w_join_free(j);
}

Test(join, host_clock_offset_learnt)
{
    c2w_join_t *j = mk(NULL);
    /* host clock 176.5 s ahead of the sensor: offset = sensor - host = -176.5 s */
    for (int i = 0; i < 5; i++) {
        char uid[16];
        snprintf(uid, sizeof(uid), "CK%d", i);
        add_ev(j, T0 + S(60 * i) + S(176) + 500000, "ACCT01", "{P}", "p.exe", true, "192.168.1.43",
               (uint16_t)(50010 + i), "10.0.5.13", 4433);
        add_flow(j, T0 + S(60 * i), uid, "192.168.1.43", (uint16_t)(50010 + i), "10.0.5.13", 4433);
    }
    c2w_join_flush(j);
    cr_assert_eq(n_out, 5);
    for (size_t i = 0; i < 5; i++) {
        cr_assert(out[i].attributed, "flow %zu", i);
        cr_assert_eq(out[i].offset, -S(176) - 500000);
    }
    c2w_time_t st;
    cr_assert(c2w_join_sensor_time(j, "ACCT01", T0, &st));
    cr_assert_eq(st, T0 - S(176) - 500000);
    cr_assert_not(c2w_join_sensor_time(j, "UNKNOWN", T0, &st));
    cr_assert_eq(st, T0);
    c2w_join_free(j);
}

/* The host id of c2w_join_sensor_time_id stands for the host's name in
 * c2w_join_host_note_id: the same times as by name; ids stay put as
 * hosts are added. */
Test(join, host_id_stands_for_the_name)
{
    c2w_join_t *j = mk(NULL);
    for (int i = 0; i < 5; i++) {
        char uid[16];
        snprintf(uid, sizeof(uid), "CI%d", i);
        add_ev(j, T0 + S(60 * i) + S(30), "ACCT02", "{P}", "p.exe", true, "192.168.1.44", (uint16_t)(50020 + i),
               "10.0.5.14", 4433);
        add_flow(j, T0 + S(60 * i), uid, "192.168.1.44", (uint16_t)(50020 + i), "10.0.5.14", 4433);
    }
    add_ev(j, T0 + S(600), "OTHER", "{Q}", "q.exe", true, "192.168.1.45", 50030, "10.0.5.15", 4433);
    c2w_join_flush(j);
    c2w_time_t st, by_name, by_id;
    uint32_t id, other, none;
    cr_assert(c2w_join_sensor_time_id(j, "ACCT02", T0, &st, &id));
    cr_assert_eq(st, T0 - S(30));
    /* known, but no clock sample yet: an id, and no sensor time */
    cr_assert_not(c2w_join_sensor_time_id(j, "OTHER", T0, &st, &other));
    cr_assert_neq(other, C2W_HOST_NONE);
    cr_assert_neq(other, id);
    cr_assert_not(c2w_join_sensor_time_id(j, "UNKNOWN", T0, &st, &none));
    cr_assert_eq(none, C2W_HOST_NONE);
    cr_assert_eq(st, T0);
    cr_assert(c2w_join_host_note(j, "ACCT02", T0 + S(900), &by_name));
    uint32_t used = id;
    cr_assert(c2w_join_host_note_id(j, &used, "ACCT02", T0 + S(900), &by_id));
    cr_assert_eq(used, id);
    cr_assert_eq(by_id, by_name);
    cr_assert_eq(by_id, T0 + S(870));
    used = other;
    cr_assert_not(c2w_join_host_note_id(j, &used, "OTHER", T0 + S(900), &by_id));
    cr_assert_eq(used, other);
    cr_assert_eq(by_id, T0 + S(900));
    /* C2W_HOST_NONE: the name is looked up, and a new host noted */
    used = C2W_HOST_NONE;
    cr_assert_not(c2w_join_host_note_id(j, &used, "NEWHOST", T0, &by_id));
    cr_assert_eq(by_id, T0);
    uint32_t fresh;
    cr_assert_not(c2w_join_sensor_time_id(j, "NEWHOST", T0, &st, &fresh));
    cr_assert_neq(fresh, C2W_HOST_NONE);
    cr_assert_eq(used, fresh); /* the id the note gave is the host's */
    cr_assert_neq(fresh, id);
    cr_assert_neq(fresh, other);
    /* ids do not move as hosts are added */
    cr_assert(c2w_join_sensor_time_id(j, "ACCT02", T0, &st, &none));
    cr_assert_eq(none, id);
    c2w_join_free(j);
}

/* A host past max_hosts has no id: the note says so, and a record added
 * with that answer is counted as its host's again (by name), as one added
 * without an id. */
Test(join, host_over_the_limit_has_no_id)
{
    c2w_join_opts_t o = { .max_hosts = 1 };
    c2w_join_t *j = mk(&o);
    c2w_time_t t;
    uint32_t a = C2W_HOST_NONE, b = C2W_HOST_NONE;
    cr_assert_not(c2w_join_host_note_id(j, &a, "A", T0, &t));
    cr_assert_neq(a, C2W_HOST_NONE);
    cr_assert_not(c2w_join_host_note_id(j, &b, "B", T0, &t));
    cr_assert_eq(b, C2W_HOST_NONE);
    cr_assert_eq(c2w_join_stats(j)->hosts_over_limit, 1);
    c2w_dnsinfo_t d = { .utc = T0, .host = strdup("B"), .guid = strdup("{G}"), .image = strdup("x.exe"),
                        .query_name = strdup("mail.example.com"), .query_results = strdup("10.0.0.9;") };
    c2w_join_add_dns_id(j, &d, b);
    cr_assert_eq(c2w_join_stats(j)->hosts_over_limit, 2);
    c2w_join_free(j);
}

Test(join, estimator_ignores_outlier)
{
    c2w_join_t *j = mk(NULL);
    for (int i = 0; i < 5; i++) {
        char uid[16];
        snprintf(uid, sizeof(uid), "CO%d", i);
        add_ev(j, T0 + S(10 * i) + S(180), "H", "{P}", "p.exe", true, "10.1.1.1", (uint16_t)(50100 + i), "10.2.2.2",
               443);
        add_flow(j, T0 + S(10 * i), uid, "10.1.1.1", (uint16_t)(50100 + i), "10.2.2.2", 443);
    }
    /* one pair 7.5 s off (port reuse, a lagging UDP event): an outlier */
    add_ev(j, T0 + S(100) + S(7) + 500000, "H", "{Q}", "q.exe", true, "10.1.1.1", 50200, "10.2.2.2", 443);
    add_flow(j, T0 + S(100), "COUT", "10.1.1.1", 50200, "10.2.2.2", 443);
    const char *name;
    c2w_time_t off, latest;
    size_t samples;
    c2w_join_host_info(j, 0, &name, &off, &samples, &latest);
    cr_assert_str_eq(name, "H");
    cr_assert_eq(samples, 6);
    cr_assert_eq(off, -S(180), "offset %lld", (long long)off);
    c2w_join_free(j);
}

Test(join, nearest_event_wins)
{
    c2w_join_t *j = mk(NULL);
    /* port 1000 is not ephemeral: no clock sample, offset stays 0 */
    add_ev(j, T0 - S(10), "H", "{FAR}", "far.exe", true, "10.1.1.1", 1000, "10.2.2.2", 25);
    add_ev(j, T0 + S(5), "H", "{NEAR}", "near.exe", true, "10.1.1.1", 1000, "10.2.2.2", 25);
    add_flow(j, T0, "CN", "10.1.1.1", 1000, "10.2.2.2", 25);
    c2w_join_flush(j);
    cr_assert_eq(n_out, 1);
    cr_assert_str_eq(out[0].guid, "{NEAR}");
    c2w_join_free(j);
}

Test(join, nearest_wins_whatever_the_arrival_order)
{
    /* a farther event that fits arrives first; the nearer one later */
    for (int order = 0; order < 2; order++) {
        c2w_join_t *j = mk(NULL);
        add_flow(j, T0, "CO", "10.1.1.1", 5353, "10.2.2.2", 5353);
        if (order == 0) {
            add_ev(j, T0 - S(24), "H", "{SVCHOST}", "svchost.exe", true, "10.1.1.1", 5353, "10.2.2.2", 5353);
            add_ev(j, T0 + 2356, "H", "{MSEDGE}", "msedge.exe", true, "10.1.1.1", 5353, "10.2.2.2", 5353);
        } else {
            add_ev(j, T0 + 2356, "H", "{MSEDGE}", "msedge.exe", true, "10.1.1.1", 5353, "10.2.2.2", 5353);
            add_ev(j, T0 - S(24), "H", "{SVCHOST}", "svchost.exe", true, "10.1.1.1", 5353, "10.2.2.2", 5353);
        }
        c2w_join_advance(j, T0 + S(121));
        cr_assert_eq(n_out, 1);
        cr_assert_str_eq(out[0].guid, "{MSEDGE}", "order %d", order);
        c2w_join_free(j);
    }
}

Test(join, late_event_attributes_waiting_flow)
{
    c2w_join_t *j = mk(NULL);
    add_flow(j, T0, "CW", "10.1.1.1", 1000, "10.2.2.2", 25);
    c2w_join_advance(j, T0 + S(600));
    cr_assert_eq(n_out, 0, "no event yet: the flow keeps waiting for ttl");
    add_ev(j, T0 + S(30), "H", "{LATE}", "late.exe", true, "10.1.1.1", 1000, "10.2.2.2", 25);
    cr_assert_eq(n_out, 1, "past its decision time, a fitting event attributes at once");
    cr_assert_str_eq(out[0].guid, "{LATE}");
    c2w_join_free(j);
}

Test(join, beyond_max_skew_not_attributed)
{
    c2w_join_opts_t o = { .max_skew = S(120) };
    c2w_join_t *j = mk(&o);
    add_ev(j, T0 + S(121), "H", "{X}", "x.exe", true, "10.1.1.1", 1000, "10.2.2.2", 25);
    add_flow(j, T0, "CS", "10.1.1.1", 1000, "10.2.2.2", 25);
    add_ev(j, T0 + S(120), "H", "{Y}", "y.exe", true, "10.1.1.1", 1001, "10.2.2.2", 25);
    add_flow(j, T0, "CT", "10.1.1.1", 1001, "10.2.2.2", 25);
    c2w_join_flush(j);
    cr_assert_eq(n_out, 2);
    cr_assert_str_eq(out[0].uid, "CT", "exactly max_skew still matches");
    cr_assert(out[0].attributed);
    cr_assert_str_eq(out[1].uid, "CS");
    cr_assert_not(out[1].attributed);
    c2w_join_free(j);
}

Test(join, uncalibrated_event_waits_max_offset)
{
    c2w_join_opts_t o = { .ttl = S(3600), .max_offset = S(86400) };
    c2w_join_t *j = mk(&o);
    /* host far behind the sensor, no sample yet: its event must survive a
     * watermark well past its own time + ttl */
    add_ev(j, T0, "LATE", "{L}", "l.exe", true, "10.1.1.1", 50000, "10.2.2.2", 25);
    c2w_join_advance(j, T0 + S(10800));
    cr_assert_eq(c2w_join_pending(j), 1);
    add_flow(j, T0 + S(7200), "CL", "10.1.1.1", 50000, "10.2.2.2", 25);
    cr_assert_eq(n_out, 1, "watermark long past: decided at once");
    cr_assert(out[0].attributed);
    cr_assert_eq(out[0].offset, S(7200));
    c2w_join_advance(j, T0 + S(86400) + S(3600) + 1);
    cr_assert_eq(c2w_join_pending(j), 0, "calibrated now: expires by its corrected time");
    c2w_join_free(j);
}

Test(join, ttl_expiry_emits_unattributed)
{
    c2w_join_opts_t o = { .ttl = S(3600) };
    c2w_join_t *j = mk(&o);
    add_flow(j, T0, "CTTL", "10.1.1.1", 50000, "10.2.2.2", 25);
    c2w_join_advance(j, T0 + S(3600));
    cr_assert_eq(n_out, 0, "exactly ttl old: still waiting");
    c2w_join_advance(j, T0 + S(3600) + 1);
    cr_assert_eq(n_out, 1);
    cr_assert_not(out[0].attributed);
    cr_assert_eq(c2w_join_pending(j), 0);
    c2w_join_free(j);
}

Test(join, max_pending_evicts_oldest)
{
    c2w_join_opts_t o = { .max_pending = 2 };
    c2w_join_t *j = mk(&o);
    add_flow(j, T0, "E1", "10.1.1.1", 50001, "10.2.2.2", 25);
    add_flow(j, T0 + 1, "E2", "10.1.1.1", 50002, "10.2.2.2", 25);
    add_flow(j, T0 + 2, "E3", "10.1.1.1", 50003, "10.2.2.2", 25);
    cr_assert_eq(n_out, 1);
    cr_assert_str_eq(out[0].uid, "E1");
    cr_assert_eq(c2w_join_stats(j)->evicted_flows, 1);
    cr_assert_eq(c2w_join_pending(j), 2);
    c2w_join_free(j);
}

Test(join, enrichment_from_event1_and_22)
{
    c2w_join_t *j = mk(NULL);
    c2w_procinfo_t p = { 0 };
    p.utc = T0 - S(5);
    p.host = c2w_strdup_opt("WS1");
    p.guid = c2w_strdup_opt("{E}");
    p.image = c2w_strdup_opt("C:\\w\\rundll32.exe");
    p.command_line = c2w_strdup_opt("rundll32.exe payload.dll,Start");
    c2w_join_add_proc(j, &p);
    c2w_dnsinfo_t d = { 0 };
    d.utc = T0 - S(1);
    d.host = c2w_strdup_opt("WS1");
    d.guid = c2w_strdup_opt("{E}");
    d.image = c2w_strdup_opt("C:\\w\\rundll32.exe");
    d.query_name = c2w_strdup_opt("mail.evil.example");
    d.query_results = c2w_strdup_opt("type:  5 cdn.example;::ffff:203.0.113.9;");
    c2w_join_add_dns(j, &d);
    add_ev(j, T0, "WS1", "{E}", "C:\\w\\rundll32.exe", true, "10.0.0.5", 50005, "203.0.113.9", 587);
    add_flow(j, T0, "CE", "10.0.0.5", 50005, "203.0.113.9", 587);
    c2w_join_flush(j);
    cr_assert_eq(n_out, 1);
    cr_assert_str_eq(out[0].cmd, "rundll32.exe payload.dll,Start");
    cr_assert_str_eq(out[0].url, "mail.evil.example");
    c2w_join_free(j);
}
