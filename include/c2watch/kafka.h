/*
 * kafka.h — the streaming service (SPEC §8): consume Zeek/Sysmon/Suricata
 * topics, run the pipeline, publish alerts, dead letters and (optionally)
 * attributed flows, and commit offsets only after delivery. Also the
 * embedded cluster (librdkafka's mock cluster) and small client helpers.
 *
 * Ownership: the service borrows the configuration for the duration of
 * c2w_service_run. One thread calls the service; librdkafka's own threads
 * do the I/O.
 */
#ifndef C2WATCH_KAFKA_H
#define C2WATCH_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include "c2watch/config.h"

typedef struct c2w_service_opts {
    const c2w_config_t *cfg;
    bool exit_at_end; /* stop when every assigned partition is at its end and all is delivered */
    bool assign; /* read every partition of the input topics without a group rebalance */
    bool stats_json; /* statistics as one JSON object per interval */
    volatile sig_atomic_t *stop; /* set (by a signal handler) to drain and stop */
    /* Non-NULL: at the end the pipeline is left here, not freed. For a
     * process that exits next: freeing the join's tables entry by entry
     * takes ~0.17 s on the bench's 774 MB, which the exit does at once.
     * The caller frees it (c2w_pipeline_free) or keeps it reachable. */
    struct c2w_pipeline **keep_pipeline;
    /* Non-NULL: set at the end to the number of partition fetches restarted
     * because librdkafka's fetcher slept with records wanted (the
     * statistics' "fetch wakes"; docs/performance.md, "Seventh round"). */
    uint64_t *fetch_wakes;
    /* Non-NULL: set at the end to the number of times librdkafka's
     * fetchers were woken once their full prefetch had drained to half
     * (the statistics' "prefetch wakes"; consumer/kafka.c watch_prefetch). */
    uint64_t *prefetch_wakes;
    /* Tests: no such wakes, the stall is left to the restarted fetches. */
    bool prefetch_watch_off;
} c2w_service_opts_t;

/* Runs the service until *stop is set or, with exit_at_end, the inputs end.
 * Returns 0, or -1 with a message in errbuf (configuration refused by
 * librdkafka, rules that do not load, a cluster that does not answer within
 * 15 s of the start or refuses the TLS handshake or SASL authentication,
 * delivery that failed for good). */
int c2w_service_run(const c2w_service_opts_t *opts, char *errbuf, size_t errlen);

/* ---- embedded cluster ---- */

typedef struct c2w_embedded c2w_embedded_t;

/* Starts a one-broker mock cluster on loopback and creates the configured
 * topics (inputs, alerts and flows with `partitions` partitions, dead
 * letters with one). NULL with a message on failure. */
c2w_embedded_t *c2w_embedded_start(const c2w_config_t *cfg, int partitions, char *errbuf, size_t errlen);
/* The same with `brokers` mock brokers (ids 1..brokers); topics are
 * replicated on min(brokers, 3) of them, so that tests can move partition
 * leaders and the group coordinator (rd_kafka_mock_partition_set_leader,
 * rd_kafka_mock_coordinator_set) or take a broker down. */
c2w_embedded_t *c2w_embedded_start_n(const c2w_config_t *cfg, int brokers, int partitions, char *errbuf,
                                     size_t errlen);
/* "127.0.0.1:PORT": the bootstrap address any Kafka client can use. */
const char *c2w_embedded_bootstraps(const c2w_embedded_t *e);
/* The mock cluster, for fault injection in tests. */
rd_kafka_mock_cluster_t *c2w_embedded_cluster(c2w_embedded_t *e);
void c2w_embedded_stop(c2w_embedded_t *e);

/* ---- client helpers (demo, tests) ---- */

/* Builds a librdkafka configuration from cfg (brokers, client id, the
 * pass-through properties, then extra). NULL with a message naming the
 * refused property (never its value). */
rd_kafka_conf_t *c2w_kafka_conf(const c2w_config_t *cfg, const c2w_props_t *extra, char *errbuf, size_t errlen);

/* Produces every non-empty line of path to topic (no key) and waits for
 * delivery. Returns the number of messages, or -1 with a message. */
long c2w_kafka_produce_file(const c2w_config_t *cfg, const char *topic, const char *path, char *errbuf,
                            size_t errlen);

/* Called for each message read by c2w_kafka_read_all; the message is lent. */
typedef void (*c2w_kafka_msg_fn)(void *ctx, const rd_kafka_message_t *rkm);

/* Reads every message of every partition of topic from the beginning to
 * its current end. Returns the number read, or -1 on error / timeout. */
long c2w_kafka_read_all(const c2w_config_t *cfg, const char *topic, c2w_kafka_msg_fn fn, void *ctx,
                        int timeout_ms, char *errbuf, size_t errlen);

#endif
