/* test_engine.c — windows, aggregates, emission modes (SPEC §5). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "c2watch/engine.h"

#define S(x) ((c2w_time_t)(x) * C2W_USEC)
#define T0 S(1764324000)

typedef struct got {
    char id[33];
    int mode;
    char json[2048];
} got;

static got alerts[64];
static size_t n_alerts;

static void on_alert(void *ctx, const c2w_alert_t *a)
{
    (void)ctx;
    cr_assert(n_alerts < 64);
    got *g = &alerts[n_alerts++];
    memcpy(g->id, a->alert_id, 33);
    g->mode = a->mode;
    c2w_buf_t b = { 0 };
    cr_assert_eq(c2w_alert_to_json(a, S(1800000000), &b), 0);
    snprintf(g->json, sizeof(g->json), "%s", b.data);
    c2w_buf_free(&b);
}

static c2w_ruleset_t *load(const char *yaml)
{
    char path[] = "/tmp/c2w_engine_XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    c2w_ruleset_t *rs = NULL;
    char err[512];
    int rc = c2w_ruleset_load(path, &rs, err, sizeof(err));
    unlink(path);
    cr_assert_eq(rc, 0, "load: %s", err);
    return rs;
}

static const char *RULE = "rules:\n"
                          "  - id: R\n"
                          "    title: t\n"
                          "    severity: low\n"
                          "    window: 1h\n"
                          "    %s\n"
                          "    where:\n"
                          "      - RemotePort: {in: [25, 587]}\n"
                          "    summarize:\n"
                          "      N: count()\n"
                          "      IPs: dcount(RemoteIP)\n"
                          "      Bytes: sum(SentBytes)\n"
                          "      First: min(Timestamp)\n"
                          "      Last: max(Timestamp)\n"
                          "      Ports: make_set(RemotePort, 5)\n"
                          "    by: [DeviceName]\n"
                          "    having: {N: {gt: 2}}\n"
                          "    project: [Last, DeviceName, N, IPs, Bytes, First, Ports]\n";

static c2w_ruleset_t *load_rule(const char *extra)
{
    char text[2048];
    snprintf(text, sizeof(text), RULE, extra);
    return load(text);
}

static int seq; /* uids C0, C1, ... restart with each engine */

static void feed(c2w_engine_t *e, c2w_time_t ts, const char *dev, const char *rip, uint16_t port, uint64_t bytes,
                 bool attributed)
{
    char uid[16];
    snprintf(uid, sizeof(uid), "C%d", seq++);
    c2w_flow_t f = { 0 };
    f.ts = ts;
    f.uid = uid;
    cr_assert(c2w_ip_parse("10.0.0.5", 8, &f.orig_h));
    cr_assert(c2w_ip_parse(rip, strlen(rip), &f.resp_h));
    f.orig_p = 50000;
    f.resp_p = port;
    f.proto = C2W_PROTO_TCP;
    f.established = true;
    f.orig_bytes = bytes;
    c2w_attributed_t a = { 0 };
    a.flow = &f;
    a.attributed = attributed;
    if (attributed) {
        a.device = dev;
        a.image = "C:\\x\\evil.exe";
        a.file_name = "evil.exe";
        a.guid = "{G}";
    }
    c2w_engine_add(e, &a);
}

static c2w_engine_t *mk(const c2w_ruleset_t *rs, c2w_emit_t mode, c2w_time_t now)
{
    n_alerts = 0;
    seq = 0;
    c2w_engine_opts_t o = { .emit_default = mode, .now = now };
    c2w_engine_t *e = c2w_engine_new(rs, &o, on_alert, NULL);
    cr_assert_not_null(e);
    return e;
}

Test(engine, threshold_two_silent_three_alert)
{
    c2w_ruleset_t *rs = load_rule("");
    c2w_engine_t *e = mk(rs, C2W_EMIT_THRESHOLD, 0);
    feed(e, T0, "WS1", "203.0.113.9", 25, 100, true);
    feed(e, T0 + S(60), "WS1", "203.0.113.9", 25, 200, true);
    cr_assert_eq(n_alerts, 0, "two connections are silent");
    feed(e, T0 + S(120), "WS1", "203.0.113.10", 587, 300, true);
    cr_assert_eq(n_alerts, 1, "the third alerts");
    cr_assert_eq(alerts[0].mode, C2W_EMIT_THRESHOLD);
    cr_assert(strstr(alerts[0].json, "\"N\":3,\"IPs\":2,\"Bytes\":600,"), "%s", alerts[0].json);
    cr_assert(strstr(alerts[0].json, "\"Last\":\"2025-11-28T10:02:00.000000Z\""), "%s", alerts[0].json);
    cr_assert(strstr(alerts[0].json, "\"First\":\"2025-11-28T10:00:00.000000Z\""), "%s", alerts[0].json);
    cr_assert(strstr(alerts[0].json, "\"Ports\":[25,587]"), "%s", alerts[0].json);
    feed(e, T0 + S(180), "WS1", "203.0.113.9", 25, 1, true);
    cr_assert_eq(n_alerts, 1, "suppressed for the window");
    cr_assert_eq(c2w_engine_stats(e)->suppressed, 1);
    c2w_engine_free(e);
    c2w_ruleset_free(rs);
}

Test(engine, suppress_ends_then_alerts_again)
{
    c2w_ruleset_t *rs = load_rule("suppress: 10m");
    c2w_engine_t *e = mk(rs, C2W_EMIT_THRESHOLD, 0);
    for (int i = 0; i < 3; i++)
        feed(e, T0 + S(i), "WS1", "203.0.113.9", 25, 1, true);
    cr_assert_eq(n_alerts, 1);
    feed(e, T0 + S(599), "WS1", "203.0.113.9", 25, 1, true);
    cr_assert_eq(n_alerts, 1, "still within suppress");
    feed(e, T0 + S(602), "WS1", "203.0.113.9", 25, 1, true);
    cr_assert_eq(n_alerts, 2, "suppress over: a new crossing alerts");
    cr_assert_str_neq(alerts[0].id, alerts[1].id);
    c2w_engine_free(e);
    c2w_ruleset_free(rs);
}

Test(engine, window_boundary_is_exclusive)
{
    c2w_ruleset_t *rs = load_rule("");
    /* now = T0 + 1h: a flow at exactly T0 is `window` old and out */
    c2w_engine_t *e = mk(rs, C2W_EMIT_FINAL, T0 + S(3600));
    feed(e, T0, "WS1", "203.0.113.9", 25, 1, true);
    feed(e, T0 + 1, "WS1", "203.0.113.9", 25, 1, true);
    feed(e, T0 + S(10), "WS1", "203.0.113.9", 25, 1, true);
    c2w_engine_finish(e, 0);
    cr_assert_eq(n_alerts, 0, "only two flows are inside (T0, T0+1h]");
    c2w_engine_free(e);
    e = mk(rs, C2W_EMIT_FINAL, T0 + S(3600) - 1);
    feed(e, T0, "WS1", "203.0.113.9", 25, 1, true);
    feed(e, T0 + 1, "WS1", "203.0.113.9", 25, 1, true);
    feed(e, T0 + S(10), "WS1", "203.0.113.9", 25, 1, true);
    c2w_engine_finish(e, 0);
    cr_assert_eq(n_alerts, 1, "one microsecond earlier, all three count");
    cr_assert(strstr(alerts[0].json, "\"N\":3"));
    c2w_engine_free(e);
    c2w_ruleset_free(rs);
}

Test(engine, final_sorted_by_first_figure_desc)
{
    c2w_ruleset_t *rs = load_rule("");
    c2w_engine_t *e = mk(rs, C2W_EMIT_FINAL, 0);
    for (int i = 0; i < 3; i++)
        feed(e, T0 + S(i), "A", "203.0.113.9", 25, 1, true);
    for (int i = 0; i < 5; i++)
        feed(e, T0 + S(i), "B", "203.0.113.9", 25, 1, true);
    for (int i = 0; i < 4; i++)
        feed(e, T0 + S(i), "C", "203.0.113.9", 25, 1, true);
    feed(e, T0, "D", "203.0.113.9", 110, 1, true); /* port not in where */
    c2w_engine_finish(e, T0 + S(10));
    cr_assert_eq(n_alerts, 3);
    cr_assert(strstr(alerts[0].json, "\"DeviceName\":\"B\""));
    cr_assert(strstr(alerts[1].json, "\"DeviceName\":\"C\""));
    cr_assert(strstr(alerts[2].json, "\"DeviceName\":\"A\""));
    cr_assert_eq(alerts[0].mode, C2W_EMIT_FINAL);
    c2w_engine_free(e);
    c2w_ruleset_free(rs);
}

Test(engine, same_input_same_ids)
{
    c2w_ruleset_t *rs = load_rule("");
    char first[4][33];
    for (int run = 0; run < 2; run++) {
        c2w_engine_t *e = mk(rs, C2W_EMIT_THRESHOLD, 0);
        for (int i = 0; i < 9; i++)
            feed(e, T0 + S(i * 1500), "WS1", "203.0.113.9", 25, 1, true);
        /* crossings at 3000 s, 7500 s and 12000 s: each after the 1 h suppression */
        cr_assert_eq(n_alerts, 3);
        for (size_t k = 0; k < n_alerts; k++) {
            if (run == 0)
                memcpy(first[k], alerts[k].id, 33);
            else
                cr_assert_str_eq(first[k], alerts[k].id);
        }
        c2w_engine_free(e);
    }
    c2w_ruleset_free(rs);
}

Test(engine, unattributed_only_for_optional_rules)
{
    c2w_ruleset_t *req = load_rule("");
    c2w_engine_t *e = mk(req, C2W_EMIT_THRESHOLD, 0);
    for (int i = 0; i < 3; i++)
        feed(e, T0 + S(i), NULL, "203.0.113.9", 25, 1, false);
    cr_assert_eq(n_alerts, 0);
    c2w_engine_free(e);
    c2w_ruleset_free(req);
    c2w_ruleset_t *opt = load_rule("attributed: optional");
    e = mk(opt, C2W_EMIT_THRESHOLD, 0);
    for (int i = 0; i < 3; i++)
        feed(e, T0 + S(i), NULL, "203.0.113.9", 25, 1, false);
    cr_assert_eq(n_alerts, 1);
    cr_assert(strstr(alerts[0].json, "\"DeviceName\":null"), "%s", alerts[0].json);
    c2w_engine_free(e);
    c2w_ruleset_free(opt);
}

Test(engine, late_flow_outside_window_not_counted)
{
    c2w_ruleset_t *rs = load_rule("");
    c2w_engine_t *e = mk(rs, C2W_EMIT_THRESHOLD, 0);
    feed(e, T0 + S(7200), "WS1", "203.0.113.9", 25, 1, true);
    feed(e, T0 + S(3600), "WS1", "203.0.113.9", 25, 1, true); /* exactly window old */
    feed(e, T0 + S(3601), "WS1", "203.0.113.9", 25, 1, true);
    cr_assert_eq(n_alerts, 0);
    cr_assert_eq(c2w_engine_stats(e)->late, 1);
    feed(e, T0 + S(7000), "WS1", "203.0.113.9", 25, 1, true);
    cr_assert_eq(n_alerts, 1, "out-of-order flows inside the window count");
    cr_assert(strstr(alerts[0].json, "\"First\":\"2025-11-28T11:00:01.000000Z\""), "%s", alerts[0].json);
    c2w_engine_free(e);
    c2w_ruleset_free(rs);
}

Test(engine, group_bound_evicts_and_counts)
{
    c2w_ruleset_t *rs = load_rule("");
    n_alerts = 0;
    c2w_engine_opts_t o = { .emit_default = C2W_EMIT_THRESHOLD, .max_groups = 2, .max_contribs = 2 };
    c2w_engine_t *e = c2w_engine_new(rs, &o, on_alert, NULL);
    feed(e, T0, "A", "203.0.113.9", 25, 1, true);
    feed(e, T0, "B", "203.0.113.9", 25, 1, true);
    feed(e, T0, "C", "203.0.113.9", 25, 1, true);
    cr_assert_eq(c2w_engine_group_count(e), 2);
    cr_assert_eq(c2w_engine_stats(e)->evicted_groups, 1);
    for (int i = 0; i < 3; i++)
        feed(e, T0 + S(i), "C", "203.0.113.9", 25, 1, true);
    cr_assert_eq(c2w_engine_stats(e)->evicted_contribs, 2);
    cr_assert_eq(n_alerts, 0, "a group never holds more than 2 contributions");
    c2w_engine_free(e);
    c2w_ruleset_free(rs);
}

Test(engine, advance_frees_idle_groups)
{
    c2w_ruleset_t *rs = load_rule("");
    c2w_engine_t *e = mk(rs, C2W_EMIT_FINAL, 0);
    feed(e, T0, "A", "203.0.113.9", 25, 1, true);
    cr_assert_eq(c2w_engine_group_count(e), 1);
    c2w_engine_advance(e, T0 + S(3600));
    cr_assert_eq(c2w_engine_group_count(e), 0);
    c2w_engine_free(e);
    c2w_ruleset_free(rs);
}
