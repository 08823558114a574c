/*
 * config.h — the service configuration (`c2watch run --config FILE`).
 *
 * A declarative settings table (name, type, default, offset, description)
 * drives loading, defaults, documentation and dumps; unknown keys are
 * refused with "file:line:column: message". Ownership: the config owns
 * every string in it; c2w_config_free releases them.
 */
#ifndef C2WATCH_CONFIG_H
#define C2WATCH_CONFIG_H

#include "c2watch/decode.h"
#include "c2watch/engine.h"
#include "c2watch/join.h"
#include "c2watch/util.h"

/* librdkafka properties passed through as given (TLS, SASL, tuning). */
typedef struct c2w_props {
    char **keys, **vals;
    size_t n;
} c2w_props_t;

typedef struct c2w_config {
    /* kafka */
    char *brokers; /* bootstrap.servers; "" = none (embedded cluster with --embedded) */
    char *group; /* group.id, default "c2watch" */
    char *client_id; /* client.id, default "c2watch" */
    c2w_props_t props; /* kafka.properties: consumer and producer */
    c2w_props_t consumer_props; /* kafka.consumer_properties */
    c2w_props_t producer_props; /* kafka.producer_properties */
    /* topics */
    char *topic_zeek; /* default "zeek.conn"; "" = not consumed */
    char *topic_sysmon; /* default "sysmon" */
    char *topic_eve; /* default "suricata.eve" */
    char *topic_alerts; /* default "c2watch.alerts" */
    char *topic_deadletter; /* default "c2watch.deadletter"; "" = off */
    char *topic_flows; /* default "" (off): every attributed flow */
    /* rules */
    char *rules; /* file or directory, default "rules" */
    /* pipeline */
    c2w_decode_opts_t decode; /* input.max_record_bytes, input.max_depth */
    c2w_join_opts_t join; /* join.* */
    c2w_engine_opts_t engine; /* engine.* (emit default: threshold) */
    /* run */
    size_t batch_size; /* run.batch_size: messages per consume call, default 16000 */
    c2w_time_t commit_interval; /* run.commit_interval, default 1 s */
    c2w_time_t idle_timeout; /* run.idle_timeout: a silent source stops holding the watermark, default 30 s */
    c2w_time_t shutdown_timeout; /* run.shutdown_timeout: bound on drain at SIGINT/SIGTERM, default 10 s */
    c2w_time_t stats_interval; /* stats.interval, default 60 s; 0 = only at exit */
} c2w_config_t;

/* Fills every field with its default (strings allocated). 0 or -1 on OOM. */
int c2w_config_defaults(c2w_config_t *cfg);
/* Loads FILE over the current values (call c2w_config_defaults first).
 * 0, or -1 with "file:line:column: message" in errbuf; on error the config
 * keeps valid (possibly partly updated) values and must still be freed. */
int c2w_config_load(c2w_config_t *cfg, const char *path, char *errbuf, size_t errlen);
/* Sets one key by its dotted name ("join.ttl", "kafka.properties.ssl.ca.location")
 * from text, as the loader would. 0, or -1 with a message. */
int c2w_config_set(c2w_config_t *cfg, const char *key, const char *value, char *errbuf, size_t errlen);
void c2w_config_free(c2w_config_t *cfg);

/* True for a librdkafka property whose value is a secret (passwords, keys,
 * tokens): such values never appear in logs, stats or dumps. */
bool c2w_config_is_secret(const char *property);
/* Appends the effective configuration as YAML, secrets shown as "(redacted)". */
int c2w_config_dump(const c2w_config_t *cfg, c2w_buf_t *out);
/* Appends the documentation of every key (name, type, default, meaning) as
 * a Markdown table. */
int c2w_config_doc(c2w_buf_t *out);

#endif
