/*
 * test_config.c — the service configuration (consumer/config.c) and the
 * YAML document tree it reads with (consumer/ydoc.c).
 *
 * The repository root comes from C2W_ROOT (default "."). Config texts are
 * written to temporary files; every bad text must be refused with the exact
 * "file:line:column: " prefix. Leaks show up in the sanitizer build (the
 * loop test runs every bad text in one process); outside it, an
 * allocation-failure sweep checks every error path frees what it took.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "c2watch/config.h"
#include "c2watch/record.h"
#include "c2watch/ydoc.h"

/* ------------------------------------------------------------------ */
/* Allocation-failure sweep support: tests/sweep.h.                   */

#include "sweep.h"

/* ------------------------------------------------------------------ */
/* Helpers.                                                           */

static const char *root_dir(void)
{
    const char *r = getenv("C2W_ROOT");
    return r && *r ? r : ".";
}

/* Writes text to a fresh temporary *.yaml file; path receives its name. */
static void write_temp(const char *text, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "/tmp/c2w_cfg_XXXXXX.yaml");
    int fd = mkstemps(path, 5);
    cr_assert(fd >= 0, "mkstemps failed");
    FILE *fp = fdopen(fd, "w");
    cr_assert_not_null(fp);
    size_t len = strlen(text);
    cr_assert_eq(fwrite(text, 1, len, fp), len);
    fclose(fp);
}

/* Defaults, then text loaded over them (the file is removed again). */
static int load_text(c2w_config_t *cfg, const char *text, char *err, size_t errlen, char *path, size_t pathlen)
{
    cr_assert_eq(c2w_config_defaults(cfg), 0);
    write_temp(text, path, pathlen);
    int rc = c2w_config_load(cfg, path, err, errlen);
    unlink(path);
    return rc;
}

static const char *prop(const c2w_props_t *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->keys[i], key) == 0)
            return p->vals[i];
    return NULL;
}

/* The dump as a NUL-terminated string the caller frees. */
static char *dump(const c2w_config_t *cfg)
{
    c2w_buf_t b = { 0 };
    cr_assert_eq(c2w_config_dump(cfg, &b), 0);
    cr_assert_gt(b.len, 0);
    return b.data;
}

#define SEC ((c2w_time_t)C2W_USEC)
#define HOUR (3600 * SEC)
#define DAY (86400 * SEC)

/* Every field against the documented defaults (SPEC §8, config.h). */
static void assert_defaults(const c2w_config_t *c)
{
    cr_assert_str_eq(c->brokers, "");
    cr_assert_str_eq(c->group, "c2watch");
    cr_assert_str_eq(c->client_id, "c2watch");
    cr_assert_eq(c->props.n, 0);
    cr_assert_eq(c->producer_props.n, 0);
    cr_assert_str_eq(c->topic_zeek, "zeek.conn");
    cr_assert_str_eq(c->topic_sysmon, "sysmon");
    cr_assert_str_eq(c->topic_eve, "suricata.eve");
    cr_assert_str_eq(c->topic_alerts, "c2watch.alerts");
    cr_assert_str_eq(c->topic_deadletter, "c2watch.deadletter");
    cr_assert_str_eq(c->topic_flows, "");
    cr_assert_str_eq(c->rules, "rules");
    cr_assert_eq(c->decode.max_record_bytes, 1048576);
    cr_assert_eq(c->decode.max_depth, 64);
    cr_assert_eq(c->join.max_skew, 120 * SEC);
    cr_assert_eq(c->join.ttl, 2 * HOUR);
    cr_assert_eq(c->join.uid_ttl, 26 * HOUR);
    cr_assert_eq(c->join.max_offset, 7 * DAY);
    cr_assert_eq(c->join.max_pending, 1000000);
    cr_assert_eq(c->join.max_uids, 2000000);
    cr_assert_eq(c->join.max_procs, 200000);
    cr_assert_eq(c->join.max_hosts, 100000);
    cr_assert_eq(c->join.ephemeral_min, 49152);
    cr_assert_eq(c->engine.emit_default, C2W_EMIT_THRESHOLD);
    cr_assert_eq(c->engine.emit_override, C2W_EMIT_DEFAULT);
    cr_assert_eq(c->engine.now, 0);
    cr_assert_eq(c->engine.max_groups, 1000000);
    cr_assert_eq(c->engine.max_contribs, 100000);
    cr_assert_eq(c->engine.max_evidence, 10);
    cr_assert_eq(c->batch_size, 16000);
    cr_assert_eq(c->commit_interval, 1 * SEC);
    cr_assert_eq(c->idle_timeout, 30 * SEC);
    cr_assert_eq(c->shutdown_timeout, 10 * SEC);
    cr_assert_eq(c->stats_interval, 60 * SEC);
}

/* ------------------------------------------------------------------ */
/* Defaults and a full file.                                          */

Test(defaults, documented_values)
{
    c2w_config_t c;
    cr_assert_eq(c2w_config_defaults(&c), 0);
    assert_defaults(&c);
    cr_assert_eq(c.consumer_props.n, 0);
    c2w_config_free(&c);
    cr_assert_null(c.group);
    c2w_config_free(&c); /* twice is harmless */
}

Test(defaults, empty_file_changes_nothing)
{
    c2w_config_t c;
    char err[512], path[64];
    cr_assert_eq(load_text(&c, "", err, sizeof(err), path, sizeof(path)), 0, "%s", err);
    assert_defaults(&c);
    c2w_config_free(&c);
    cr_assert_eq(load_text(&c, "# only a comment\njoin:\nkafka: ~\n", err, sizeof(err), path, sizeof(path)), 0, "%s",
                 err);
    assert_defaults(&c);
    c2w_config_free(&c);
}

#define FULL_FILE                                                                                                    \
    "kafka:\n"                                                                                                       \
    "  brokers: k1:9092,k2:9092\n"                                                                                   \
    "  group: soc-c2\n"                                                                                              \
    "  client_id: c2w-7\n"                                                                                           \
    "  properties:\n"                                                                                                \
    "    security.protocol: SASL_SSL\n"                                                                              \
    "    ssl.ca.location: /etc/ssl/ca.pem\n"                                                                         \
    "    socket.keepalive.enable: true\n"                                                                            \
    "  consumer_properties:\n"                                                                                       \
    "    queued.min.messages: 500000\n"                                                                              \
    "    fetch.wait.max.ms: 100\n"                                                                                   \
    "  producer_properties: {linger.ms: 5, compression.type: lz4}\n"                                                 \
    "topics:\n"                                                                                                      \
    "  zeek: z\n"                                                                                                    \
    "  sysmon: s\n"                                                                                                  \
    "  eve: \"\"\n"                                                                                                  \
    "  alerts: a\n"                                                                                                  \
    "  deadletter: ''\n"                                                                                             \
    "  flows: c2watch.flows\n"                                                                                       \
    "rules: /etc/c2watch/rules\n"                                                                                    \
    "input: {max_record_bytes: 2048, max_depth: 16}\n"                                                               \
    "join:\n"                                                                                                        \
    "  max_skew: 90s\n"                                                                                              \
    "  ttl: 30m\n"                                                                                                   \
    "  uid_ttl: 48h\n"                                                                                               \
    "  max_offset: 1d\n"                                                                                             \
    "  max_pending: 10\n"                                                                                            \
    "  max_uids: 20\n"                                                                                               \
    "  max_procs: 30\n"                                                                                              \
    "  max_hosts: 40\n"                                                                                              \
    "  ephemeral_min: 1024\n"                                                                                        \
    "engine: {emit: final, max_groups: 50, max_contribs: 60, max_evidence: 3}\n"                                     \
    "run: {batch_size: 500, commit_interval: 250ms, idle_timeout: 2m, shutdown_timeout: 3s}\n"                       \
    "stats: {interval: 0}\n"

static void assert_full(const c2w_config_t *c)
{
    cr_assert_str_eq(c->brokers, "k1:9092,k2:9092");
    cr_assert_str_eq(c->group, "soc-c2");
    cr_assert_str_eq(c->client_id, "c2w-7");
    cr_assert_eq(c->props.n, 3);
    cr_assert_str_eq(c->props.keys[0], "security.protocol");
    cr_assert_str_eq(prop(&c->props, "security.protocol"), "SASL_SSL");
    cr_assert_str_eq(prop(&c->props, "ssl.ca.location"), "/etc/ssl/ca.pem");
    cr_assert_str_eq(prop(&c->props, "socket.keepalive.enable"), "true");
    cr_assert_eq(c->consumer_props.n, 2);
    cr_assert_str_eq(prop(&c->consumer_props, "queued.min.messages"), "500000");
    cr_assert_str_eq(prop(&c->consumer_props, "fetch.wait.max.ms"), "100");
    cr_assert_eq(c->producer_props.n, 2);
    cr_assert_str_eq(prop(&c->producer_props, "linger.ms"), "5");
    cr_assert_str_eq(prop(&c->producer_props, "compression.type"), "lz4");
    cr_assert_str_eq(c->topic_zeek, "z");
    cr_assert_str_eq(c->topic_sysmon, "s");
    cr_assert_str_eq(c->topic_eve, "");
    cr_assert_str_eq(c->topic_alerts, "a");
    cr_assert_str_eq(c->topic_deadletter, "");
    cr_assert_str_eq(c->topic_flows, "c2watch.flows");
    cr_assert_str_eq(c->rules, "/etc/c2watch/rules");
    cr_assert_eq(c->decode.max_record_bytes, 2048);
    cr_assert_eq(c->decode.max_depth, 16);
    cr_assert_eq(c->join.max_skew, 90 * SEC);
    cr_assert_eq(c->join.ttl, 1800 * SEC);
    cr_assert_eq(c->join.uid_ttl, 48 * HOUR);
    cr_assert_eq(c->join.max_offset, DAY);
    cr_assert_eq(c->join.max_pending, 10);
    cr_assert_eq(c->join.max_uids, 20);
    cr_assert_eq(c->join.max_procs, 30);
    cr_assert_eq(c->join.max_hosts, 40);
    cr_assert_eq(c->join.ephemeral_min, 1024);
    cr_assert_eq(c->engine.emit_default, C2W_EMIT_FINAL);
    cr_assert_eq(c->engine.emit_override, C2W_EMIT_DEFAULT);
    cr_assert_eq(c->engine.max_groups, 50);
    cr_assert_eq(c->engine.max_contribs, 60);
    cr_assert_eq(c->engine.max_evidence, 3);
    cr_assert_eq(c->batch_size, 500);
    cr_assert_eq(c->commit_interval, 250000);
    cr_assert_eq(c->idle_timeout, 120 * SEC);
    cr_assert_eq(c->shutdown_timeout, 3 * SEC);
    cr_assert_eq(c->stats_interval, 0);
}

Test(load, full_file_every_field)
{
    c2w_config_t c;
    char err[512], path[64];
    cr_assert_eq(load_text(&c, FULL_FILE, err, sizeof(err), path, sizeof(path)), 0, "%s", err);
    assert_full(&c);
    c2w_config_free(&c);
}

Test(load, later_files_override_and_props_merge)
{
    c2w_config_t c;
    char err[512], path[64];
    cr_assert_eq(load_text(&c, FULL_FILE, err, sizeof(err), path, sizeof(path)), 0, "%s", err);
    write_temp("join: {ttl: 3h}\nkafka:\n  properties: {ssl.ca.location: /other.pem, sasl.mechanisms: PLAIN}\n", path,
               sizeof(path));
    cr_assert_eq(c2w_config_load(&c, path, err, sizeof(err)), 0, "%s", err);
    unlink(path);
    cr_assert_eq(c.join.ttl, 3 * HOUR);
    cr_assert_eq(c.join.max_skew, 90 * SEC, "untouched keys keep the first file's value");
    cr_assert_eq(c.props.n, 4);
    cr_assert_str_eq(prop(&c.props, "ssl.ca.location"), "/other.pem");
    cr_assert_str_eq(prop(&c.props, "sasl.mechanisms"), "PLAIN");
    cr_assert_str_eq(prop(&c.props, "security.protocol"), "SASL_SSL");
    c2w_config_free(&c);
}

Test(load, dump_round_trips)
{
    c2w_config_t c, d;
    char err[512], path[64];
    cr_assert_eq(load_text(&c, FULL_FILE, err, sizeof(err), path, sizeof(path)), 0, "%s", err);
    /* awkward text survives quoting */
    cr_assert_eq(c2w_config_set(&c, "kafka.brokers", "a\"b\\c\td:1", err, sizeof(err)), 0, "%s", err);
    char *text = dump(&c);
    cr_assert_eq(load_text(&d, text, err, sizeof(err), path, sizeof(path)), 0, "%s\n%s", err, text);
    char *again = dump(&d);
    cr_assert_str_eq(again, text);
    cr_assert_str_eq(d.brokers, "a\"b\\c\td:1");
    free(text);
    free(again);
    c2w_config_free(&c);
    c2w_config_free(&d);
}

/* ------------------------------------------------------------------ */
/* Bad files: exact position and a word of the message.               */

static const struct bad_case {
    const char *text;
    unsigned line, col;
    const char *word;
} bad_cases[] = {
    /* 0 */ { "join:\n  ttl: 2h\n  tll: 3h\n", 3, 3, "unknown key 'tll' in section 'join'" },
    { "kafka:\n  group: g\njion:\n  ttl: 2h\n", 3, 1, "unknown section 'jion'" },
    { "join:\n  ttl: 2x\n", 2, 8, "join.ttl: bad duration '2x'" },
    { "run:\n  batch_size: -5\n", 2, 15, "run.batch_size: expected a whole number" },
    { "join:\n  ephemeral_min: 70000\n", 2, 18, "join.ephemeral_min: 70000 is out of range (1..65535)" },
    /* 5 */ { "engine:\n  emit: sometimes\n", 2, 9, "engine.emit must be final or threshold" },
    { "kafka:\n  brokers: {host: k1}\n", 2, 12, "kafka.brokers must be a single value, not a map" },
    { "kafka:\n  properties:\n    x: [[[[[[[1]]]]]]]\n", 3, 13, "nesting deeper than 8" },
    { "run:\n  batch_size: 0\n", 2, 15, "out of range (1..100000)" },
    { "join:\n  ttl: 0\n", 2, 8, "bad duration" },
    /* 10 */ { "join: 5\n", 1, 7, "section 'join' must be a map" },
    { "- kafka\n", 1, 1, "must be a map of sections" },
    { "kafka:\n  properties:\n    sasl.username: {a: 1}\n", 3, 20,
      "kafka.properties.sasl.username must be a single value, not a map" },
    { "kafka:\n  properties:\n    'bad key': x\n", 3, 5, "not a librdkafka property name" },
    { "kafka:\n  consumer_properties:\n    group.id: x\n", 3, 5, "set 'group.id' with kafka.group" },
    /* 15 */ { "join:\n  ttl: 2h\n  ttl: 3h\n", 3, 3, "duplicate key 'ttl'" },
    { "topics:\n  zeek: 'zeek conn'\n", 2, 9, "not a Kafka topic name" },
    { "topics:\n  alerts: \"\"\n", 2, 11, "topics.alerts must not be empty" },
    { "run:\n  commit_interval: 2h\n", 2, 20, "run.commit_interval: 2h is out of range (10ms..1h)" },
    { "join:\n  max_pending: 99999999999999999999999\n", 2, 16, "expected a whole number" },
    /* 20 */ { "rules: [a, b]\n", 1, 8, "rules must be a single value, not a list" },
    { "kafka:\n  group: ~\n", 2, 10, "kafka.group: missing value" },
    { "kafka: {brokers: a\n", 2, 1, "YAML syntax error" },
    { "a: &x 1\nb: *x\n", 2, 4, "aliases" },
    { "join: {}\n---\njoin: {}\n", 2, 1, "only one YAML document per configuration file" },
    /* 25 */ { "kafka:\n  properties: [a]\n", 2, 15, "kafka.properties must be a map of librdkafka properties" },
    { "stats:\n  interval: 1x\n", 2, 13, "or 0" },
    { "input:\n  max_depth: 1\n", 2, 14, "input.max_depth: 1 is out of range (2..1024)" },
    { "kafka:\n  properties:\n    sasl.password:\n", 3, 19, "missing value" },
    { "rules:\n", 1, 7, "rules: missing value" },
    { "kafka.brokers: b:9092\n", 1, 1, "unknown section 'kafka.brokers' (expected kafka, topics, rules, input, join, "
                                      "engine, run, stats)" },
};

#define N_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

ParameterizedTestParameters(bad, rejected)
{
    static int idx[N_BAD];
    for (size_t i = 0; i < N_BAD; i++)
        idx[i] = (int)i;
    return cr_make_param_array(int, idx, N_BAD);
}

ParameterizedTest(int *i, bad, rejected)
{
    const struct bad_case *bc = &bad_cases[*i];
    char err[512], path[64], expect[128];
    c2w_config_t c;
    int rc = load_text(&c, bc->text, err, sizeof(err), path, sizeof(path));
    cr_assert_eq(rc, -1, "case %d was accepted", *i);
    snprintf(expect, sizeof(expect), "%s:%u:%u: ", path, bc->line, bc->col);
    cr_assert_eq(strncmp(err, expect, strlen(expect)), 0, "case %d: expected prefix '%s', got '%s'", *i, expect,
                 err);
    cr_assert_not_null(strstr(err, bc->word), "case %d: expected '%s' in '%s'", *i, bc->word, err);
    c2w_config_free(&c);
}

/* All the bad texts in one process, so that LeakSanitizer sees every error
 * path of the loader in the sanitizer build. */
Test(bad, loop_no_leak)
{
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < N_BAD; i++) {
            char err[512], path[64];
            c2w_config_t c;
            cr_assert_eq(load_text(&c, bad_cases[i].text, err, sizeof(err), path, sizeof(path)), -1, "case %zu", i);
            c2w_config_free(&c);
        }
    }
    /* a short error buffer is never overrun and always terminated */
    char small[8], path[64];
    c2w_config_t c;
    cr_assert_eq(load_text(&c, bad_cases[0].text, small, sizeof(small), path, sizeof(path)), -1);
    cr_assert_eq(strlen(small), 7);
    cr_assert_eq(c2w_config_load(&c, "/nonexistent/c2watch.yaml", NULL, 0), -1);
    c2w_config_free(&c);
}

Test(bad, missing_file)
{
    c2w_config_t c;
    char err[512];
    cr_assert_eq(c2w_config_defaults(&c), 0);
    cr_assert_eq(c2w_config_load(&c, "/nonexistent/c2watch.yaml", err, sizeof(err)), -1);
    cr_assert_eq(strncmp(err, "/nonexistent/c2watch.yaml:1:1: cannot open", 42), 0, "%s", err);
    assert_defaults(&c);
    c2w_config_free(&c);
}

Test(bad, refused_file_keeps_valid_values)
{
    c2w_config_t c;
    char err[512], path[64];
    cr_assert_eq(load_text(&c, "join:\n  ttl: 3h\n  max_skew: never\n", err, sizeof(err), path, sizeof(path)), -1);
    cr_assert_eq(c.join.ttl, 3 * HOUR, "keys before the error are applied");
    cr_assert_eq(c.join.max_skew, 120 * SEC, "the bad key keeps its value");
    c2w_config_free(&c);
}

/* ------------------------------------------------------------------ */
/* c2w_config_set.                                                    */

Test(set, values_as_the_loader_would)
{
    c2w_config_t c;
    char err[512];
    cr_assert_eq(c2w_config_defaults(&c), 0);
    cr_assert_eq(c2w_config_set(&c, "join.ttl", "3h", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.join.ttl, 3 * HOUR);
    cr_assert_eq(c2w_config_set(&c, "kafka.brokers", "b1:9092", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.brokers, "b1:9092");
    cr_assert_eq(c2w_config_set(&c, "kafka.group", "other", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.group, "other");
    cr_assert_eq(c2w_config_set(&c, "engine.emit", "final", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.engine.emit_default, C2W_EMIT_FINAL);
    cr_assert_eq(c2w_config_set(&c, "rules", "rules/mail-protocols.yaml", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.rules, "rules/mail-protocols.yaml");
    cr_assert_eq(c2w_config_set(&c, "stats.interval", "0", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.stats_interval, 0);
    cr_assert_eq(c2w_config_set(&c, "input.max_depth", "32", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.decode.max_depth, 32);
    cr_assert_eq(c2w_config_set(&c, "join.ephemeral_min", "32768", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.join.ephemeral_min, 32768);

    /* properties: add, then override */
    cr_assert_eq(c2w_config_set(&c, "kafka.properties.ssl.ca.location", "/a.pem", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c2w_config_set(&c, "kafka.properties.security.protocol", "SSL", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c2w_config_set(&c, "kafka.properties.ssl.ca.location", "/b.pem", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.props.n, 2);
    cr_assert_str_eq(prop(&c.props, "ssl.ca.location"), "/b.pem");
    cr_assert_eq(c2w_config_set(&c, "kafka.consumer_properties.fetch.wait.max.ms", "100", err, sizeof(err)), 0);
    cr_assert_str_eq(prop(&c.consumer_props, "fetch.wait.max.ms"), "100");
    cr_assert_eq(c2w_config_set(&c, "kafka.producer_properties.linger.ms", "5", err, sizeof(err)), 0);
    cr_assert_str_eq(prop(&c.producer_props, "linger.ms"), "5");
    c2w_config_free(&c);
}

Test(set, refusals_name_the_key)
{
    static const struct {
        const char *key, *value, *word;
    } cases[] = {
        { "join.tll", "3h", "unknown configuration key 'join.tll'" },
        { "jion.ttl", "3h", "unknown configuration key" },
        { "join.ttl", "3x", "join.ttl: bad duration '3x'" },
        { "run.batch_size", "-1", "run.batch_size: expected a whole number" },
        { "join.ephemeral_min", "70000", "out of range" },
        { "engine.emit", "sometimes", "engine.emit must be final or threshold" },
        { "kafka.properties", "x", "kafka.properties is a map: set kafka.properties.NAME" },
        { "kafka.properties.bootstrap.servers", "b:1", "set 'bootstrap.servers' with kafka.brokers" },
        { "kafka.properties.", "x", "not a librdkafka property name" },
        { "kafka.group", "", "kafka.group must not be empty" },
        { "topics.alerts", "a b", "not a Kafka topic name" },
    };
    c2w_config_t c;
    char err[512];
    cr_assert_eq(c2w_config_defaults(&c), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(c2w_config_set(&c, cases[i].key, cases[i].value, err, sizeof(err)), -1, "%s", cases[i].key);
        cr_assert_not_null(strstr(err, cases[i].word), "%s: expected '%s' in '%s'", cases[i].key, cases[i].word, err);
    }
    assert_defaults(&c); /* nothing changed */
    c2w_config_free(&c);
}

/* ------------------------------------------------------------------ */
/* Secrets.                                                           */

Test(secret, names)
{
    static const char *const secret[] = {
        "sasl.password", "ssl.key.password", "SSL.KEYSTORE.PASSWORD", "ssl.keystore.location",
        "ssl.key.pem", "sasl.jaas.config", "sasl.oauthbearer.config", "sasl.oauthbearer.client.secret",
        "ssl_key", "sasl.oauthbearer.token.endpoint.url",
    };
    static const char *const plain[] = {
        "security.protocol", "ssl.ca.location", "sasl.mechanisms", "sasl.username", "ssl.certificate.location",
        "fetch.wait.max.ms", "queued.min.messages", "ssl.key.location", "",
    };
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        cr_assert(c2w_config_is_secret(secret[i]), "%s", secret[i]);
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        cr_assert_not(c2w_config_is_secret(plain[i]), "%s", plain[i]);
    cr_assert_not(c2w_config_is_secret(NULL));
}

Test(secret, redacted_in_dump)
{
    c2w_config_t c;
    char err[512], path[64];
    cr_assert_eq(load_text(&c,
                           "kafka:\n"
                           "  properties:\n"
                           "    security.protocol: SASL_SSL\n"
                           "    sasl.mechanisms: SCRAM-SHA-512\n"
                           "    sasl.username: c2watch\n"
                           "    sasl.password: Hunter2-pw-Zq9\n"
                           "  consumer_properties:\n"
                           "    ssl.key.password: Kp-7731-secret\n"
                           "  producer_properties:\n"
                           "    sasl.oauthbearer.config: principal=x token=Tk-0042\n",
                           err, sizeof(err), path, sizeof(path)),
                 0, "%s", err);
    cr_assert_str_eq(prop(&c.props, "sasl.password"), "Hunter2-pw-Zq9", "the config itself keeps the value");
    char *text = dump(&c);
    cr_assert_null(strstr(text, "Hunter2"), "%s", text);
    cr_assert_null(strstr(text, "Kp-7731"), "%s", text);
    cr_assert_null(strstr(text, "Tk-0042"), "%s", text);
    cr_assert_not_null(strstr(text, "    sasl.password: \"(redacted)\"\n"), "%s", text);
    cr_assert_not_null(strstr(text, "    ssl.key.password: \"(redacted)\"\n"), "%s", text);
    cr_assert_not_null(strstr(text, "    sasl.oauthbearer.config: \"(redacted)\"\n"), "%s", text);
    cr_assert_not_null(strstr(text, "    sasl.username: \"c2watch\"\n"), "%s", text);
    cr_assert_not_null(strstr(text, "    security.protocol: \"SASL_SSL\"\n"), "%s", text);
    free(text);
    c2w_config_free(&c);
}

/* ------------------------------------------------------------------ */
/* Dump and documentation.                                            */

Test(dump, defaults_text)
{
    c2w_config_t c;
    cr_assert_eq(c2w_config_defaults(&c), 0);
    char *text = dump(&c);
    static const char *const lines[] = {
        "kafka:\n  brokers: \"\"\n  group: \"c2watch\"\n",
        "  properties: {}\n  consumer_properties: {}\n  producer_properties: {}\ntopics:\n",
        "\nrules: \"rules\"\ninput:\n  max_record_bytes: 1048576\n",
        "  max_skew: 120s\n  ttl: 2h\n  uid_ttl: 26h\n  max_offset: 7d\n",
        "  ephemeral_min: 49152\nengine:\n  emit: threshold\n",
        "stats:\n  interval: 60s\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        cr_assert_not_null(strstr(text, lines[i]), "missing:\n%s\nin:\n%s", lines[i], text);
    free(text);
    c2w_config_free(&c);
}

Test(doc, one_row_per_key)
{
    c2w_buf_t b = { 0 };
    cr_assert_eq(c2w_config_doc(&b), 0);
    cr_assert_not_null(strstr(b.data, "| Key | Type | Default | Description |\n| --- | --- | --- | --- |\n"));
    static const char *const rows[] = {
        "| `kafka.brokers` | string | `\"\"` | ",
        "| `kafka.consumer_properties` | properties | `{}` | ",
        "| `rules` | string | `rules` | ",
        "| `join.ttl` | duration (1s..30d) | `2h` | ",
        "| `join.ephemeral_min` | port (1..65535) | `49152` | ",
        "| `engine.emit` | emit (final or threshold) | `threshold` | ",
        "| `run.batch_size` | size (1..100000) | `16000` | ",
        "| `stats.interval` | duration (0 or 1s..1d) | `60s` | ",
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        cr_assert_not_null(strstr(b.data, rows[i]), "missing row %s", rows[i]);
    /* 2 header lines + 33 keys, each row with 5 column bars */
    size_t lines = 0, bars = 0;
    for (const char *p = b.data; *p; p++) {
        lines += *p == '\n';
        bars += *p == '|';
    }
    cr_assert_eq(lines, 2 + 33);
    cr_assert_eq(bars, (2 + 33) * 5, "a '|' inside a cell breaks the table");
    c2w_buf_free(&b);
}

/* docs/configuration.md carries the generated table verbatim. */
Test(doc, reference_is_current)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/docs/configuration.md", root_dir());
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "%s", path);
    static char text[1 << 17];
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    c2w_buf_t b = { 0 };
    cr_assert_eq(c2w_config_doc(&b), 0);
    cr_assert_not_null(strstr(text, b.data),
                       "docs/configuration.md is out of date: paste the output of c2w_config_doc():\n%s", b.data);
    c2w_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* The example file (deploy/c2watch.yaml).                            */

Test(deploy, example_loads_and_equals_defaults_but_tuning)
{
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/deploy/c2watch.yaml", root_dir());
    c2w_config_t c, d;
    cr_assert_eq(c2w_config_defaults(&c), 0);
    cr_assert_eq(c2w_config_load(&c, path, err, sizeof(err)), 0, "%s", err);
    /* what the file documents as different from the defaults: the
     * librdkafka 2.0.2 consumer tuning (docs/configuration.md) */
    cr_assert_eq(c.consumer_props.n, 2);
    cr_assert_str_eq(prop(&c.consumer_props, "queued.min.messages"), "1000000");
    cr_assert_str_eq(prop(&c.consumer_props, "queued.max.messages.kbytes"), "262144");
    /* everything else is the default */
    assert_defaults(&c);
    /* and the dump equals that of the defaults plus the same tuning */
    char *dc = dump(&c);
    cr_assert_eq(c2w_config_defaults(&d), 0);
    for (size_t i = 0; i < c.consumer_props.n; i++) {
        char key[256];
        snprintf(key, sizeof(key), "kafka.consumer_properties.%s", c.consumer_props.keys[i]);
        cr_assert_eq(c2w_config_set(&d, key, c.consumer_props.vals[i], err, sizeof(err)), 0, "%s", err);
    }
    char *dd = dump(&d);
    cr_assert_str_eq(dc, dd);
    free(dc);
    free(dd);
    c2w_config_free(&c);
    c2w_config_free(&d);
}

/* The tuning is what the linked librdkafka accepts: every property of the
 * example is a valid name and value for it, and fetch.queue.backoff.ms
 * (the 2.2.0 fix the example works around) is unknown before 2.2.0. */
Test(deploy, tuning_accepted_by_librdkafka)
{
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/deploy/c2watch.yaml", root_dir());
    c2w_config_t c;
    cr_assert_eq(c2w_config_defaults(&c), 0);
    cr_assert_eq(c2w_config_load(&c, path, err, sizeof(err)), 0, "%s", err);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const c2w_props_t *sets[] = { &c.props, &c.consumer_props, &c.producer_props };
    for (size_t s = 0; s < 3; s++)
        for (size_t i = 0; i < sets[s]->n; i++)
            cr_assert_eq(rd_kafka_conf_set(conf, sets[s]->keys[i], sets[s]->vals[i], err, sizeof(err)),
                         RD_KAFKA_CONF_OK, "%s: %s", sets[s]->keys[i], err);
    if (rd_kafka_version() < 0x020200ff)
        cr_assert_eq(rd_kafka_conf_set(conf, "fetch.queue.backoff.ms", "10", err, sizeof(err)), RD_KAFKA_CONF_UNKNOWN);
    rd_kafka_conf_destroy(conf);
    c2w_config_free(&c);
}

/* ------------------------------------------------------------------ */
/* Allocation failures: every failing allocation of defaults + load +
 * dump gives -1 and leaves no block behind once the config is freed.  */

Test(oom, sweep_full_file)
{
#ifdef SWEEP
    char path[64], err[512];
    write_temp(FULL_FILE, path, sizeof(path));
    long n;
    for (n = 0; n < 100000; n++) {
        c2w_config_t c;
        c2w_buf_t b = { 0 };
        sweep_start(n);
        int rc = c2w_config_defaults(&c);
        if (rc == 0) {
            rc = c2w_config_load(&c, path, err, sizeof(err));
            if (rc == 0)
                rc = c2w_config_dump(&c, &b);
            c2w_config_free(&c);
        }
        c2w_buf_free(&b);
        sweep_stop();
        cr_assert_eq(sweep_live, 0, "allocation %ld failed: %ld blocks leaked", n, sweep_live);
        if (rc == 0 && !sweep_reached(n))
            break; /* allocation n was never reached: swept them all */
    }
    unlink(path);
    cr_assert_gt(n, 20, "the sweep saw too few allocations");
#else
    cr_skip_test("allocation sweep needs the C library allocator (not ASan)");
#endif
}

/* ------------------------------------------------------------------ */
/* ydoc: the tree the loaders read.                                   */

Test(ydoc, tree_positions_and_accessors)
{
    static const char text[] = "a: 1\n"
                               "b:\n"
                               "  - x\n"
                               "  - 'y'\n"
                               "c: {d: ~, e: [], f: \"\"}\n";
    char err[256];
    c2w_ydoc_t *doc = c2w_ydoc_parse("mem", text, sizeof(text) - 1, NULL, err, sizeof(err));
    cr_assert_not_null(doc, "%s", err);
    cr_assert_str_eq(c2w_ydoc_path(doc), "mem");
    const c2w_ynode_t *root = c2w_ydoc_root(doc);
    cr_assert_eq(c2w_ynode_kind(root), C2W_Y_MAP);
    cr_assert_eq(c2w_ynode_count(root), 3);
    cr_assert_str_eq(c2w_ynode_kind_name(root), "a map");

    const c2w_ynode_t *k = c2w_ymap_first(root);
    cr_assert(c2w_ynode_is(k, "a"));
    cr_assert_eq(c2w_ynode_line(k), 1);
    cr_assert_eq(c2w_ynode_col(k), 1);
    const c2w_ynode_t *v = c2w_ymap_value(k);
    cr_assert_str_eq(c2w_ynode_str(v), "1");
    cr_assert_eq(c2w_ynode_len(v), 1);
    cr_assert(c2w_ynode_plain(v));
    cr_assert_eq(c2w_ynode_col(v), 4);

    const c2w_ynode_t *b = c2w_ymap_get(root, "b");
    cr_assert_eq(c2w_ynode_kind(b), C2W_Y_SEQ);
    cr_assert_eq(c2w_ynode_count(b), 2);
    cr_assert_str_eq(c2w_ynode_str(b), "");
    const c2w_ynode_t *it = c2w_yseq_first(b);
    cr_assert(c2w_ynode_is(it, "x"));
    cr_assert_eq(c2w_ynode_line(it), 3);
    cr_assert_eq(c2w_ynode_col(it), 5);
    it = c2w_yseq_next(it);
    cr_assert(c2w_ynode_is(it, "y"));
    cr_assert_not(c2w_ynode_plain(it));
    cr_assert_null(c2w_yseq_next(it));

    const c2w_ynode_t *c = c2w_ymap_get(root, "c");
    cr_assert(c2w_ynode_is_null(c2w_ymap_get(c, "d")));
    cr_assert_eq(c2w_ynode_count(c2w_ymap_get(c, "e")), 0);
    cr_assert_null(c2w_yseq_first(c2w_ymap_get(c, "e")));
    cr_assert_not(c2w_ynode_is_null(c2w_ymap_get(c, "f")), "a quoted \"\" is a value, not null");
    cr_assert_null(c2w_ymap_get(c, "zz"));
    cr_assert_null(c2w_ymap_get(b, "x"), "not a map");
    cr_assert(c2w_ynode_is_null(NULL));
    cr_assert_not(c2w_ynode_is(NULL, "x"));

    /* iteration visits every key once, in order */
    const char *order[3];
    size_t n = 0;
    for (const c2w_ynode_t *key = c2w_ymap_first(root); key; key = c2w_ymap_next(key))
        order[n++] = c2w_ynode_str(key);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(order[2], "c");
    c2w_ydoc_free(doc);

    doc = c2w_ydoc_parse("empty", "", 0, NULL, err, sizeof(err));
    cr_assert_not_null(doc, "%s", err);
    cr_assert_null(c2w_ydoc_root(doc));
    c2w_ydoc_free(doc);
    c2w_ydoc_free(NULL);
}

Test(ydoc, limits_and_refusals)
{
    char err[256];
    c2w_ydoc_limits_t lim = { .max_depth = 2, .max_nodes = 6, .max_scalar = 4, .max_map_keys = 2, .what = "thing" };
    static const struct {
        const char *text, *expect;
    } cases[] = {
        { "[[[1]]]", "t:1:3: nesting deeper than 2 levels" },
        { "[1, 2, 3, 4, 5, 6]", "t:1:17: too many YAML nodes (more than 6 in one file)" },
        { "abcde", "t:1:1: value too long (5 bytes, at most 4)" },
        { "{a: 1, b: 2, c: 3}", "t:1:14: too many keys in one map (more than 2)" },
        { "{a: 1, a: 2}", "t:1:8: duplicate key 'a' (first at line 1)" },
        { "{[a]: 1}", "t:1:2: a key must be a plain name, not a list" },
        { "a\n---\nb\n", "t:2:1: only one YAML document per thing" },
        { "[&x a, *x]", "t:1:8: YAML aliases (*name) are not supported in things" },
        { "\"a\\0b\"", "t:1:1: NUL character in a value" },
        { "{a: [}", "t:1:6: YAML syntax error" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        c2w_ydoc_t *doc = c2w_ydoc_parse("t", cases[i].text, strlen(cases[i].text), &lim, err, sizeof(err));
        cr_assert_null(doc, "case %zu accepted", i);
        cr_assert_eq(strncmp(err, cases[i].expect, strlen(cases[i].expect)), 0, "case %zu: expected '%s', got '%s'",
                     i, cases[i].expect, err);
    }
    /* two levels are allowed */
    c2w_ydoc_t *doc = c2w_ydoc_parse("t", "[[1]]", 5, &lim, err, sizeof(err));
    cr_assert_not_null(doc, "%s", err);
    c2w_ydoc_free(doc);
    /* file size, for files and text alike */
    lim = (c2w_ydoc_limits_t){ .max_file_bytes = 8 };
    cr_assert_null(c2w_ydoc_parse("t", "a: 123456789", 12, &lim, err, sizeof(err)));
    cr_assert_str_eq(err, "t:1:1: file too large (more than 8 bytes)");
    char path[64];
    write_temp("a: 123456789\n", path, sizeof(path));
    cr_assert_null(c2w_ydoc_load(path, &lim, err, sizeof(err)));
    cr_assert_not_null(strstr(err, ":1:1: file too large (more than 8 bytes)"), "%s", err);
    doc = c2w_ydoc_load(path, NULL, err, sizeof(err));
    cr_assert_not_null(doc, "%s", err);
    cr_assert_str_eq(c2w_ydoc_path(doc), path);
    cr_assert_str_eq(c2w_ynode_str(c2w_ymap_get(c2w_ydoc_root(doc), "a")), "123456789");
    c2w_ydoc_free(doc);
    unlink(path);
    cr_assert_null(c2w_ydoc_load("/nonexistent/x.yaml", NULL, err, sizeof(err)));
    cr_assert_eq(strncmp(err, "/nonexistent/x.yaml:1:1: cannot open", 36), 0, "%s", err);
}

Test(ydoc, arena)
{
    c2w_arena_t a = { 0 };
    char *s = c2w_arena_strndup(&a, "hello", 3);
    cr_assert_str_eq(s, "hel");
    unsigned char *z = c2w_arena_alloc(&a, 100);
    cr_assert_not_null(z);
    cr_assert_eq((uintptr_t)z % 16, 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(z[i], 0);
    void *big = c2w_arena_alloc(&a, 100000); /* a chunk of its own */
    cr_assert_not_null(big);
    memset(big, 1, 100000);
    char *after = c2w_arena_strndup(&a, "x", 1); /* still fits the first chunk */
    cr_assert_str_eq(after, "x");
    cr_assert_str_eq(s, "hel");
    cr_assert_null(c2w_arena_array(&a, SIZE_MAX / 2, 16));
    cr_assert_null(c2w_arena_alloc(&a, SIZE_MAX / 2));
    c2w_arena_free(&a);
    cr_assert_null(a.head);
    c2w_arena_free(&a);
}
