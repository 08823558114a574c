/*
 * config.c — the service configuration: one settings table drives the
 * defaults, the loader, c2w_config_set, the dump and the documentation.
 * See config.h and docs/configuration.md.
 *
 * Every value, the defaults included, goes through the same text parser
 * (apply_text), so a default can never be something a file could not say.
 * The file is read with ydoc (positions, limits); each refusal names the
 * file, line and column of the offending node and the dotted key.
 */
#include "c2watch/config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2watch/record.h"
#include "c2watch/ydoc.h"

#define CFG_MSG_MAX 80 /* user text quoted in a message */
#define CFG_PROP_NAME_MAX 128 /* librdkafka property names are short */
#define CFG_TOPIC_MAX 249 /* Kafka's limit on topic names */

/* The configuration file is small and at most three levels deep (root,
 * section, property map); the limits leave room for a PEM certificate
 * bundle in ssl.ca.pem and refuse anything absurd early. */
static const c2w_ydoc_limits_t cfg_limits = {
    .max_depth = 8,
    .max_file_bytes = (size_t)4 << 20,
    .max_nodes = 65536,
    .max_scalar = (size_t)1 << 20,
    .max_map_keys = 1024,
    .what = "configuration file",
};

/* ------------------------------------------------------------------ */
/* The settings table.                                                */

typedef enum ctype {
    CT_STRING, /* char *, heap */
    CT_SIZE, /* size_t or unsigned (by width), decimal, within [min, max] */
    CT_DURATION, /* c2w_time_t microseconds, c2w_duration_parse, within [min, max] */
    CT_PORT, /* uint16_t, within [min, max] */
    CT_EMIT, /* c2w_emit_t: final | threshold */
    CT_PROPS /* c2w_props_t: property name -> text */
} ctype_t;

enum {
    S_NONEMPTY = 1 << 0, /* string: "" refused */
    S_TOPIC = 1 << 1, /* string: a Kafka topic name (or "" where allowed) */
    S_ZERO_OK = 1 << 2 /* duration: "0" allowed (its meaning is documented) */
};

typedef struct setting {
    const char *name; /* dotted: "join.ttl"; no dot for a top-level key */
    ctype_t type;
    const char *def; /* default, as the text a file would hold */
    size_t offset, width; /* of the field in c2w_config_t */
    int64_t min, max; /* size, port: bounds; duration: bounds in microseconds */
    unsigned flags;
    const char *doc; /* one line for c2w_config_doc */
} setting_t;

#define FIELD(m) offsetof(c2w_config_t, m), sizeof(((c2w_config_t *)0)->m)
#define MS ((int64_t)1000)
#define SEC C2W_USEC
#define MIN (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY (86400 * SEC)

static const setting_t settings[] = {
    /* kafka */
    { "kafka.brokers", CT_STRING, "", FIELD(brokers), 0, 0, 0,
      "Bootstrap servers (librdkafka `bootstrap.servers`), `host:port[,host:port...]`. Empty: no cluster "
      "(`run --embedded` and `demo` start librdkafka's in-process mock cluster)." },
    { "kafka.group", CT_STRING, "c2watch", FIELD(group), 0, 0, S_NONEMPTY,
      "Consumer group (`group.id`). Instances in one group share the partitions; offsets are committed "
      "only after the alerts they caused are acknowledged." },
    { "kafka.client_id", CT_STRING, "c2watch", FIELD(client_id), 0, 0, S_NONEMPTY,
      "`client.id` of the consumer and the producer, as shown in broker logs and quotas." },
    { "kafka.properties", CT_PROPS, "", FIELD(props), 0, 0, 0,
      "librdkafka properties for both the consumer and the producer (TLS, SASL, timeouts), name: value. "
      "Values are passed as text; secrets are redacted in dumps." },
    { "kafka.consumer_properties", CT_PROPS, "", FIELD(consumer_props), 0, 0, 0,
      "librdkafka properties for the consumer only (fetch tuning); they override `kafka.properties`." },
    { "kafka.producer_properties", CT_PROPS, "", FIELD(producer_props), 0, 0, 0,
      "librdkafka properties for the producer only (batching, compression); they override "
      "`kafka.properties`." },
    /* topics */
    { "topics.zeek", CT_STRING, "zeek.conn", FIELD(topic_zeek), 0, 0, S_TOPIC,
      "Input: Zeek `conn.log` JSON records. Empty: not consumed." },
    { "topics.sysmon", CT_STRING, "sysmon", FIELD(topic_sysmon), 0, 0, S_TOPIC,
      "Input: Sysmon JSON events (flat or Winlogbeat). Empty: not consumed." },
    { "topics.eve", CT_STRING, "suricata.eve", FIELD(topic_eve), 0, 0, S_TOPIC,
      "Input: Suricata `eve.json` flow events. Empty: not consumed." },
    { "topics.alerts", CT_STRING, "c2watch.alerts", FIELD(topic_alerts), 0, 0, S_TOPIC | S_NONEMPTY,
      "Output: alerts (idempotent producer, at-least-once)." },
    { "topics.deadletter", CT_STRING, "c2watch.deadletter", FIELD(topic_deadletter), 0, 0, S_TOPIC,
      "Output: rejected records with the reason in a header. Empty: off." },
    { "topics.flows", CT_STRING, "", FIELD(topic_flows), 0, 0, S_TOPIC,
      "Output: every attributed flow, for other consumers (a SIEM, a lake). Empty: off." },
    /* rules */
    { "rules", CT_STRING, "rules", FIELD(rules), 0, 0, S_NONEMPTY,
      "Rule file, or directory of `*.yaml` / `*.yml` rule files loaded together." },
    /* input */
    { "input.max_record_bytes", CT_SIZE, "1048576", FIELD(decode.max_record_bytes), 1024, 64 << 20, 0,
      "Largest record accepted, in bytes; larger ones are rejected as `too_big`." },
    { "input.max_depth", CT_SIZE, "64", FIELD(decode.max_depth), 2, 1024, 0,
      "Deepest JSON nesting accepted; deeper records are rejected as `too_deep`." },
    /* join */
    { "join.max_skew", CT_DURATION, "120s", FIELD(join.max_skew), 1 * MS, DAY, 0,
      "How far a flow and a Sysmon event 3 may lie apart, after clock-offset correction, and still match." },
    { "join.ttl", CT_DURATION, "2h", FIELD(join.ttl), 1 * SEC, 30 * DAY, 0,
      "How long an unmatched flow or event waits for its other half." },
    { "join.uid_ttl", CT_DURATION, "26h", FIELD(join.uid_ttl), 1 * SEC, 30 * DAY, 0,
      "How long a Zeek uid is remembered, to drop redelivered flows." },
    { "join.max_offset", CT_DURATION, "7d", FIELD(join.max_offset), 1 * SEC, 365 * DAY, 0,
      "Largest host clock offset learnt from samples." },
    { "join.max_pending", CT_SIZE, "1000000", FIELD(join.max_pending), 1, 100000000, 0,
      "Pending flows and events kept; beyond it the oldest are evicted (flows emitted unattributed)." },
    { "join.max_uids", CT_SIZE, "2000000", FIELD(join.max_uids), 1, 100000000, 0,
      "Remembered Zeek uids; beyond it the oldest are forgotten early." },
    { "join.max_procs", CT_SIZE, "200000", FIELD(join.max_procs), 1, 10000000, 0,
      "Process enrichment entries (Sysmon events 1 and 22) kept." },
    { "join.max_hosts", CT_SIZE, "100000", FIELD(join.max_hosts), 1, 10000000, 0,
      "Hosts with a clock-offset estimate; events of further hosts use offset 0." },
    { "join.ephemeral_min", CT_PORT, "49152", FIELD(join.ephemeral_min), 1, 65535, 0,
      "Source ports at or above this give clock-offset samples (the IANA ephemeral range starts at 49152)." },
    /* engine */
    { "engine.emit", CT_EMIT, "threshold", FIELD(engine.emit_default), 0, 0, 0,
      "Emission for rules that do not say: `threshold` (alert when a window crosses its having) or `final` "
      "(one alert per group at the end)." },
    { "engine.max_groups", CT_SIZE, "1000000", FIELD(engine.max_groups), 1, 100000000, 0,
      "Live groups over all rules; beyond it the least recently used are evicted." },
    { "engine.max_contribs", CT_SIZE, "100000", FIELD(engine.max_contribs), 1, 10000000, 0,
      "Contributions kept per group window; beyond it the oldest are dropped." },
    { "engine.max_evidence", CT_SIZE, "10", FIELD(engine.max_evidence), 1, 1000, 0,
      "Zeek uids / community ids listed as evidence in one alert." },
    /* run */
    { "run.batch_size", CT_SIZE, "16000", FIELD(batch_size), 1, 100000, 0,
      "Messages taken per consume call, and records fed per turn of the loop (docs/performance.md, \"Tenth round\")." },
    { "run.commit_interval", CT_DURATION, "1s", FIELD(commit_interval), 10 * MS, HOUR, 0,
      "How often acknowledged offsets are committed." },
    { "run.idle_timeout", CT_DURATION, "30s", FIELD(idle_timeout), 1 * SEC, DAY, 0,
      "A source silent this long stops holding the event-time watermark back." },
    { "run.shutdown_timeout", CT_DURATION, "10s", FIELD(shutdown_timeout), 100 * MS, HOUR, 0,
      "Bound on the drain (flush alerts, commit) at SIGINT/SIGTERM." },
    /* stats */
    { "stats.interval", CT_DURATION, "60s", FIELD(stats_interval), 1 * SEC, DAY, S_ZERO_OK,
      "Statistics to stderr every interval; `0`: only at exit." },
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static const char *type_name(ctype_t t)
{
    switch (t) {
    case CT_STRING:
        return "string";
    case CT_SIZE:
        return "size";
    case CT_DURATION:
        return "duration";
    case CT_PORT:
        return "port";
    case CT_EMIT:
        return "emit";
    case CT_PROPS:
        return "properties";
    }
    return "?";
}

static const setting_t *setting_find(const char *name)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

/* True when some setting lives in section sec (len bytes). */
static bool is_section(const char *sec, size_t len)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strncmp(settings[i].name, sec, len) == 0 && settings[i].name[len] == '.')
            return true;
    return false;
}

static void *field(c2w_config_t *cfg, const setting_t *s)
{
    return (char *)cfg + s->offset;
}

static const void *cfield(const c2w_config_t *cfg, const setting_t *s)
{
    return (const char *)cfg + s->offset;
}

/* ------------------------------------------------------------------ */
/* Property maps.                                                     */

static void props_free(c2w_props_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->keys[i]);
        free(p->vals[i]);
    }
    free(p->keys);
    free(p->vals);
    *p = (c2w_props_t){ 0 };
}

/* Adds key = val, or replaces the value of key. 0, or -1 on OOM (p unchanged). */
static int props_set(c2w_props_t *p, const char *key, const char *val)
{
    char *v = c2w_strndup(val, strlen(val));
    if (!v)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->keys[i], key) == 0) {
            free(p->vals[i]);
            p->vals[i] = v;
            return 0;
        }
    }
    char *k = c2w_strndup(key, strlen(key));
    char **nk = k ? realloc(p->keys, (p->n + 1) * sizeof(*nk)) : NULL;
    if (nk)
        p->keys = nk;
    char **nv = nk ? realloc(p->vals, (p->n + 1) * sizeof(*nv)) : NULL;
    if (!nv) {
        free(k);
        free(v);
        return -1;
    }
    p->vals = nv;
    p->keys[p->n] = k;
    p->vals[p->n] = v;
    p->n++;
    return 0;
}

/* A librdkafka property name: letters, digits, '.', '_', '-'. */
static bool prop_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CFG_PROP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
              || c == '-'))
            return false;
    }
    return true;
}

/* The dedicated keys for the properties c2watch sets itself. */
static const char *prop_owner(const char *name)
{
    if (c2w_eq_ci(name, "bootstrap.servers") || c2w_eq_ci(name, "metadata.broker.list"))
        return "kafka.brokers";
    if (c2w_eq_ci(name, "group.id"))
        return "kafka.group";
    if (c2w_eq_ci(name, "client.id"))
        return "kafka.client_id";
    return NULL;
}

/* Checks one property of setting s; msg gets the reason on refusal. */
static int prop_check(const setting_t *s, const char *name, char *msg, size_t msglen)
{
    if (!prop_name_ok(name)) {
        snprintf(msg, msglen, "%s: '%.*s' is not a librdkafka property name (letters, digits, '.', '_', '-')",
                 s->name, CFG_MSG_MAX, name);
        return -1;
    }
    const char *owner = prop_owner(name);
    if (owner) {
        snprintf(msg, msglen, "%s: set '%s' with %s, not as a property", s->name, name, owner);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Values from text.                                                  */

static bool topic_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > CFG_TOPIC_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
              || c == '-'))
            return false;
    }
    return true;
}

/* "90s", "2h", "500ms", "0": the shortest exact text for t. */
static void format_duration(c2w_time_t t, char *buf, size_t len)
{
    static const struct {
        int64_t unit;
        const char *name;
    } units[] = { { DAY, "d" }, { HOUR, "h" }, { MIN, "m" }, { SEC, "s" }, { MS, "ms" } };
    if (t == 0) {
        snprintf(buf, len, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (t % units[i].unit == 0) {
            snprintf(buf, len, "%lld%s", (long long)(t / units[i].unit), units[i].name);
            return;
        }
    }
    snprintf(buf, len, "%lldus", (long long)t); /* not reachable from text */
}

static void format_range(const setting_t *s, char *buf, size_t len)
{
    char lo[32], hi[32];
    switch (s->type) {
    case CT_SIZE:
    case CT_PORT:
        snprintf(buf, len, "%lld..%lld", (long long)s->min, (long long)s->max);
        return;
    case CT_DURATION:
        format_duration(s->min, lo, sizeof(lo));
        format_duration(s->max, hi, sizeof(hi));
        snprintf(buf, len, "%s%s..%s", s->flags & S_ZERO_OK ? "0 or " : "", lo, hi);
        return;
    case CT_EMIT:
        snprintf(buf, len, "final or threshold");
        return;
    case CT_STRING:
    case CT_PROPS:
        break;
    }
    buf[0] = '\0';
}

/* Sets scalar setting s from text. 0, or -1 with the reason in msg (which
 * names the key; the caller adds a position when there is one). */
static int apply_text(c2w_config_t *cfg, const setting_t *s, const char *text, char *msg, size_t msglen)
{
    void *f = field(cfg, s);
    char range[96];
    format_range(s, range, sizeof(range));
    switch (s->type) {
    case CT_STRING: {
        if ((s->flags & S_NONEMPTY) && !*text) {
            snprintf(msg, msglen, "%s must not be empty", s->name);
            return -1;
        }
        if ((s->flags & S_TOPIC) && !topic_ok(text)) {
            snprintf(msg, msglen,
                     "%s: '%.*s' is not a Kafka topic name (letters, digits, '.', '_', '-'; at most %d)", s->name,
                     CFG_MSG_MAX, text, CFG_TOPIC_MAX);
            return -1;
        }
        char *copy = c2w_strndup(text, strlen(text));
        if (!copy) {
            snprintf(msg, msglen, "%s: out of memory", s->name);
            return -1;
        }
        char **slot = f;
        free(*slot);
        *slot = copy;
        return 0;
    }
    case CT_SIZE:
    case CT_PORT: {
        uint64_t v;
        if (!c2w_parse_u64(text, strlen(text), &v)) {
            snprintf(msg, msglen, "%s: expected a whole number %s, got '%.*s'", s->name, range, CFG_MSG_MAX, text);
            return -1;
        }
        if (v < (uint64_t)s->min || v > (uint64_t)s->max) {
            snprintf(msg, msglen, "%s: %s is out of range (%s)", s->name, text, range);
            return -1;
        }
        if (s->type == CT_PORT)
            *(uint16_t *)f = (uint16_t)v;
        else if (s->width == sizeof(unsigned))
            *(unsigned *)f = (unsigned)v;
        else
            *(size_t *)f = (size_t)v;
        return 0;
    }
    case CT_DURATION: {
        c2w_time_t t;
        if ((s->flags & S_ZERO_OK) && strcmp(text, "0") == 0) {
            *(c2w_time_t *)f = 0;
            return 0;
        }
        if (!c2w_duration_parse(text, &t)) {
            snprintf(msg, msglen, "%s: bad duration '%.*s' (expected a number and a unit: 500ms, 90s, 30m, 24h, 1d%s)",
                     s->name, CFG_MSG_MAX, text, s->flags & S_ZERO_OK ? "; or 0" : "");
            return -1;
        }
        if (t < s->min || t > s->max) {
            snprintf(msg, msglen, "%s: %s is out of range (%s)", s->name, text, range);
            return -1;
        }
        *(c2w_time_t *)f = t;
        return 0;
    }
    case CT_EMIT:
        if (strcmp(text, "final") == 0) {
            *(c2w_emit_t *)f = C2W_EMIT_FINAL;
        } else if (strcmp(text, "threshold") == 0) {
            *(c2w_emit_t *)f = C2W_EMIT_THRESHOLD;
        } else {
            snprintf(msg, msglen, "%s must be final or threshold, not '%.*s'", s->name, CFG_MSG_MAX, text);
            return -1;
        }
        return 0;
    case CT_PROPS:
        break;
    }
    snprintf(msg, msglen, "%s is a map: set %s.NAME", s->name, s->name);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Defaults, set, free.                                               */

void c2w_config_free(c2w_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        if (s->type == CT_STRING) {
            char **slot = field(cfg, s);
            free(*slot);
            *slot = NULL;
        } else if (s->type == CT_PROPS) {
            props_free(field(cfg, s));
        }
    }
}

int c2w_config_defaults(c2w_config_t *cfg)
{
    char msg[256];
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        if (s->type == CT_PROPS)
            continue; /* every property map starts empty */
        if (apply_text(cfg, s, s->def, msg, sizeof(msg)) < 0) {
            c2w_config_free(cfg);
            memset(cfg, 0, sizeof(*cfg));
            return -1;
        }
    }
    /* Not file settings: --emit and --now of replay. */
    cfg->engine.emit_override = C2W_EMIT_DEFAULT;
    cfg->engine.now = 0;
    return 0;
}

static void set_err(char *errbuf, size_t errlen, const char *msg)
{
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s", msg);
}

int c2w_config_set(c2w_config_t *cfg, const char *key, const char *value, char *errbuf, size_t errlen)
{
    char msg[512];
    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!key || !value) {
        set_err(errbuf, errlen, "no key or no value");
        return -1;
    }
    const setting_t *s = setting_find(key);
    if (s) {
        if (apply_text(cfg, s, value, msg, sizeof(msg)) < 0) {
            set_err(errbuf, errlen, msg);
            return -1;
        }
        return 0;
    }
    /* kafka.properties.NAME and the like */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *p = &settings[i];
        size_t n = strlen(p->name);
        if (p->type != CT_PROPS || strncmp(key, p->name, n) != 0 || key[n] != '.')
            continue;
        const char *name = key + n + 1;
        if (prop_check(p, name, msg, sizeof(msg)) < 0) {
            set_err(errbuf, errlen, msg);
            return -1;
        }
        if (props_set(field(cfg, p), name, value) < 0) {
            snprintf(msg, sizeof(msg), "%s: out of memory", key);
            set_err(errbuf, errlen, msg);
            return -1;
        }
        return 0;
    }
    snprintf(msg, sizeof(msg), "unknown configuration key '%.*s'", CFG_MSG_MAX, key);
    set_err(errbuf, errlen, msg);
    return -1;
}

bool c2w_config_is_secret(const char *property)
{
    /* Substrings of librdkafka property names whose values are secrets.
     * Matching is by substring and ignores case, so that variants
     * (ssl.key.password, ssl.keystore.password, sasl.password,
     * sasl.oauthbearer.client.secret) are caught; a few harmless names are
     * redacted too (ssl.keystore.location, token endpoint URLs). */
    static const char *const secret[] = {
        "password", "secret", "sasl.jaas.config", "ssl.key.pem", "ssl.keystore", "ssl_key", "token",
        "sasl.oauthbearer.config",
    };
    if (!property)
        return false;
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        if (c2w_contains_ci(property, secret[i]))
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* Loading.                                                           */

typedef struct cload {
    c2w_config_t *cfg;
    const char *path;
    char *errbuf;
    size_t errlen;
} cload_t;

__attribute__((format(printf, 3, 4))) static int nerr(cload_t *C, const c2w_ynode_t *n, const char *fmt, ...)
{
    if (C->errbuf && C->errlen) {
        int k = snprintf(C->errbuf, C->errlen, "%s:%u:%u: ", C->path, c2w_ynode_line(n), c2w_ynode_col(n));
        if (k >= 0 && (size_t)k < C->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(C->errbuf + k, C->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

#define QS(n) (int)(c2w_ynode_len(n) > CFG_MSG_MAX ? CFG_MSG_MAX : c2w_ynode_len(n)), c2w_ynode_str(n)

/* A scalar that holds a value: not a collection, not null. */
static int need_value(cload_t *C, const c2w_ynode_t *v, const char *name)
{
    if (c2w_ynode_kind(v) != C2W_Y_SCALAR)
        return nerr(C, v, "%s must be a single value, not %s", name, c2w_ynode_kind_name(v));
    if (c2w_ynode_is_null(v))
        return nerr(C, v, "%s: missing value (write \"\" for an empty string)", name);
    return 0;
}

static int load_props(cload_t *C, const setting_t *s, const c2w_ynode_t *v)
{
    char msg[512], name[CFG_PROP_NAME_MAX + 160];
    if (c2w_ynode_is_null(v))
        return 0;
    if (c2w_ynode_kind(v) != C2W_Y_MAP)
        return nerr(C, v, "%s must be a map of librdkafka properties (name: value), not %s", s->name,
                    c2w_ynode_kind_name(v));
    for (const c2w_ynode_t *k = c2w_ymap_first(v); k; k = c2w_ymap_next(k)) {
        const c2w_ynode_t *pv = c2w_ymap_value(k);
        if (prop_check(s, c2w_ynode_str(k), msg, sizeof(msg)) < 0)
            return nerr(C, k, "%s", msg);
        snprintf(name, sizeof(name), "%s.%s", s->name, c2w_ynode_str(k));
        if (need_value(C, pv, name) < 0)
            return -1;
        if (props_set(field(C->cfg, s), c2w_ynode_str(k), c2w_ynode_str(pv)) < 0)
            return nerr(C, pv, "out of memory");
    }
    return 0;
}

static int load_value(cload_t *C, const setting_t *s, const c2w_ynode_t *v)
{
    char msg[512];
    if (s->type == CT_PROPS)
        return load_props(C, s, v);
    if (need_value(C, v, s->name) < 0)
        return -1;
    if (apply_text(C->cfg, s, c2w_ynode_str(v), msg, sizeof(msg)) < 0)
        return nerr(C, v, "%s", msg);
    return 0;
}

/* The keys of section sec, for "expected ..." in messages. */
static void section_keys(const char *sec, size_t len, char *buf, size_t buflen)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *name = settings[i].name;
        if (strncmp(name, sec, len) != 0 || name[len] != '.')
            continue;
        int k = snprintf(buf + used, buflen - used, "%s%s", used ? ", " : "", name + len + 1);
        if (k < 0 || (size_t)k >= buflen - used)
            return;
        used += (size_t)k;
    }
}

static void top_keys(char *buf, size_t buflen)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *name = settings[i].name;
        const char *dot = strchr(name, '.');
        size_t n = dot ? (size_t)(dot - name) : strlen(name);
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(settings[j].name, name, n) == 0 && (settings[j].name[n] == '.' || !settings[j].name[n]);
        if (seen)
            continue;
        int k = snprintf(buf + used, buflen - used, "%s%.*s", used ? ", " : "", (int)n, name);
        if (k < 0 || (size_t)k >= buflen - used)
            return;
        used += (size_t)k;
    }
}

static int load_section(cload_t *C, const c2w_ynode_t *sk, const c2w_ynode_t *sv)
{
    const char *sec = c2w_ynode_str(sk);
    size_t len = c2w_ynode_len(sk);
    char name[256], expected[512];
    if (c2w_ynode_is_null(sv))
        return 0;
    if (c2w_ynode_kind(sv) != C2W_Y_MAP)
        return nerr(C, sv, "section '%s' must be a map (key: value), not %s", sec, c2w_ynode_kind_name(sv));
    for (const c2w_ynode_t *k = c2w_ymap_first(sv); k; k = c2w_ymap_next(k)) {
        snprintf(name, sizeof(name), "%.*s.%.*s", (int)len, sec, CFG_MSG_MAX, c2w_ynode_str(k));
        const setting_t *s = setting_find(name);
        if (!s) {
            section_keys(sec, len, expected, sizeof(expected));
            return nerr(C, k, "unknown key '%.*s' in section '%s' (expected %s)", QS(k), sec, expected);
        }
        if (load_value(C, s, c2w_ymap_value(k)) < 0)
            return -1;
    }
    return 0;
}

int c2w_config_load(c2w_config_t *cfg, const char *path, char *errbuf, size_t errlen)
{
    cload_t C = { .cfg = cfg, .path = path, .errbuf = errbuf, .errlen = errlen };
    char expected[512];
    c2w_ydoc_t *doc = c2w_ydoc_load(path, &cfg_limits, errbuf, errlen);
    if (!doc)
        return -1;
    int rc = 0;
    const c2w_ynode_t *root = c2w_ydoc_root(doc);
    if (c2w_ynode_is_null(root))
        goto out_free_doc; /* an empty file: nothing changes */
    if (c2w_ynode_kind(root) != C2W_Y_MAP) {
        rc = nerr(&C, root, "a configuration file must be a map of sections (kafka:, topics:, ...), not %s",
                  c2w_ynode_kind_name(root));
        goto out_free_doc;
    }
    for (const c2w_ynode_t *k = c2w_ymap_first(root); k && rc == 0; k = c2w_ymap_next(k)) {
        const c2w_ynode_t *v = c2w_ymap_value(k);
        const setting_t *s = setting_find(c2w_ynode_str(k));
        if (s && !strchr(s->name, '.')) { /* "rules"; dotted keys belong in their section */
            rc = load_value(&C, s, v);
        } else if (is_section(c2w_ynode_str(k), c2w_ynode_len(k))) {
            rc = load_section(&C, k, v);
        } else {
            top_keys(expected, sizeof(expected));
            rc = nerr(&C, k, "unknown section '%.*s' (expected %s)", QS(k), expected);
        }
    }

out_free_doc:
    c2w_ydoc_free(doc);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Dump and documentation.                                            */

/* Length (2..4) and code point of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
    size_t n = *p >= 0xc2 && *p <= 0xdf ? 2 : *p >= 0xe0 && *p <= 0xef ? 3 : *p >= 0xf0 && *p <= 0xf4 ? 4 : 0;
    uint32_t c = *p & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (n == 0 || (n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
        return 0;
    *cp = c;
    return n;
}

/* s as a YAML double-quoted scalar that loads back as s: everything YAML
 * does not allow raw (controls, C1 controls, U+FFFE, U+FFFF) or would fold
 * (NEL, U+2028, U+2029) is escaped. A byte that is not UTF-8 (possible
 * from c2w_config_set only) is written as \xHH, so the dump stays YAML. */
static int put_quoted(c2w_buf_t *out, const char *s)
{
    if (c2w_buf_puts(out, "\"") < 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        const char *e = NULL;
        size_t n = 1;
        uint32_t cp;
        if (*p == '"')
            e = "\\\"";
        else if (*p == '\\')
            e = "\\\\";
        else if (*p == '\n')
            e = "\\n";
        else if (*p == '\t')
            e = "\\t";
        else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", *p);
            e = esc;
        } else if (*p >= 0x80) {
            n = utf8_seq(p, &cp);
            if (n == 0) {
                snprintf(esc, sizeof(esc), "\\x%02x", *p);
                e = esc;
                n = 1;
            } else if (cp < 0xa0 || cp == 0x2028 || cp == 0x2029 || cp == 0xfffe || cp == 0xffff) {
                snprintf(esc, sizeof(esc), cp < 0x100 ? "\\x%02x" : "\\u%04x", (unsigned)cp);
                e = esc;
            }
        }
        if (e ? c2w_buf_puts(out, e) < 0 : c2w_buf_append(out, (const char *)p, n) < 0)
            return -1;
        p += n - 1;
    }
    return c2w_buf_puts(out, "\"");
}

/* The value of scalar setting s as text (not quoted). */
static void value_text(const c2w_config_t *cfg, const setting_t *s, char *buf, size_t len)
{
    const void *f = cfield(cfg, s);
    switch (s->type) {
    case CT_SIZE:
        if (s->width == sizeof(unsigned))
            snprintf(buf, len, "%u", *(const unsigned *)f);
        else
            snprintf(buf, len, "%zu", *(const size_t *)f);
        return;
    case CT_PORT:
        snprintf(buf, len, "%u", (unsigned)*(const uint16_t *)f);
        return;
    case CT_DURATION: {
        /* The default's own text when the value is the default ("120s",
         * not "2m"), else the shortest exact text. */
        c2w_time_t t = *(const c2w_time_t *)f, d;
        if (c2w_duration_parse(s->def, &d) && d == t)
            snprintf(buf, len, "%s", s->def);
        else
            format_duration(t, buf, len);
        return;
    }
    case CT_EMIT:
        snprintf(buf, len, "%s", *(const c2w_emit_t *)f == C2W_EMIT_FINAL ? "final" : "threshold");
        return;
    case CT_STRING:
    case CT_PROPS:
        break;
    }
    buf[0] = '\0';
}

static int dump_props(const c2w_props_t *p, const char *indent, c2w_buf_t *out)
{
    if (p->n == 0)
        return c2w_buf_puts(out, " {}\n");
    if (c2w_buf_puts(out, "\n") < 0)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        if (c2w_buf_puts(out, indent) < 0 || c2w_buf_puts(out, p->keys[i]) < 0 || c2w_buf_puts(out, ": ") < 0
            || put_quoted(out, c2w_config_is_secret(p->keys[i]) ? "(redacted)" : p->vals[i]) < 0
            || c2w_buf_puts(out, "\n") < 0)
            return -1;
    }
    return 0;
}

int c2w_config_dump(const c2w_config_t *cfg, c2w_buf_t *out)
{
    const char *open = NULL; /* current section */
    size_t open_len = 0;
    char text[64];
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        const char *dot = strchr(s->name, '.');
        const char *key = s->name;
        const char *indent = "";
        if (dot) {
            size_t n = (size_t)(dot - s->name);
            if (!open || open_len != n || strncmp(open, s->name, n) != 0) {
                if (c2w_buf_append(out, s->name, n) < 0 || c2w_buf_puts(out, ":\n") < 0)
                    return -1;
                open = s->name;
                open_len = n;
            }
            key = dot + 1;
            indent = "  ";
        } else {
            open = NULL;
        }
        if (c2w_buf_puts(out, indent) < 0 || c2w_buf_puts(out, key) < 0 || c2w_buf_puts(out, ":") < 0)
            return -1;
        int rc;
        if (s->type == CT_PROPS) {
            rc = dump_props(cfield(cfg, s), dot ? "    " : "  ", out);
        } else if (s->type == CT_STRING) {
            const char *v = *(char *const *)cfield(cfg, s);
            rc = c2w_buf_puts(out, " ") < 0 || put_quoted(out, v ? v : "") < 0 || c2w_buf_puts(out, "\n") < 0 ? -1 : 0;
        } else {
            value_text(cfg, s, text, sizeof(text));
            rc = c2w_buf_puts(out, " ") < 0 || c2w_buf_puts(out, text) < 0 || c2w_buf_puts(out, "\n") < 0 ? -1 : 0;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

int c2w_config_doc(c2w_buf_t *out)
{
    char range[96], line[1024];
    if (c2w_buf_puts(out, "| Key | Type | Default | Description |\n| --- | --- | --- | --- |\n") < 0)
        return -1;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        format_range(s, range, sizeof(range));
        const char *def = s->type == CT_PROPS ? "{}" : *s->def ? s->def : "\"\"";
        int k = snprintf(line, sizeof(line), "| `%s` | %s%s%s%s | `%s` | %s |\n", s->name, type_name(s->type),
                         *range ? " (" : "", range, *range ? ")" : "", def, s->doc);
        if (k < 0 || (size_t)k >= sizeof(line) || c2w_buf_puts(out, line) < 0)
            return -1;
    }
    return 0;
}
