/*
 * bare.c — the floor under c2watch run: a bare librdkafka batch consumer.
 *
 *   bare --bootstrap HOST:PORT --topic T [--topic T]... [--batch N] [--timeout S]
 *        [--prop NAME=VALUE]...
 *   bare --bootstrap HOST:PORT --count T
 *
 * First form: assigns every partition of the topics from the beginning
 * (rd_kafka_assign, no group join, as `c2watch run --assign` does), with the
 * consumer properties c2watch sets itself (the values of consumer_defaults
 * in consumer/kafka.c), consumes with rd_kafka_consume_batch_queue in
 * batches of 1000 (--batch; c2watch's run.batch_size is 16000, which does
 * not make this consumer faster: docs/performance.md, "Eleventh round")
 * until every partition has reported its end, touching each message
 * (count, sum of lengths), and prints
 *   {"seconds":S,"close_seconds":C,"records":N,"bytes":B,"partitions":P,"errors":E}
 * where S runs from the start of main (client creation and connection
 * included) to the last end-of-partition event, and C is the consumer close
 * and destroy that follow (part of the process's wall time).
 *
 * Second form: prints {"topic":T,"messages":N}, N = the sum over the
 * topic's partitions of high - low watermark (used to count alerts).
 *
 * --prop sets a further consumer property after c2watch's (experiments:
 * debug=fetch, another queued.max.messages.kbytes, ...).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define MAX_TOPICS 8
#define MAX_PROPS 16

static const char *extra_props[MAX_PROPS];
static int n_extra_props;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bare: %s: %s\n", what, why);
    exit(1);
}

/* The same values as consumer_defaults[] in consumer/kafka.c, so that the
 * fetch path measured is the one c2watch gets. */
static const char *const consumer_props[][2] = {
    { "enable.auto.commit", "false" },
    { "enable.auto.offset.store", "false" },
    { "auto.offset.reset", "earliest" },
    { "enable.partition.eof", "true" },
    { "queued.min.messages", "1000000" },
    { "queued.max.messages.kbytes", "262144" },
};

static rd_kafka_t *new_consumer(const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *base[][2] = {
        { "bootstrap.servers", bootstrap },
        { "client.id", "c2watch-bare" },
        /* c2watch always has a group.id (for its commits); with assign()
         * it is never joined. */
        { "group.id", "c2watch-bare" },
        { "log_level", "3" },
    };
    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
        if (rd_kafka_conf_set(conf, base[i][0], base[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
            die(base[i][0], err);
    for (size_t i = 0; i < sizeof(consumer_props) / sizeof(consumer_props[0]); i++)
        if (rd_kafka_conf_set(conf, consumer_props[i][0], consumer_props[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
            die(consumer_props[i][0], err);
    for (int i = 0; i < n_extra_props; i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s", extra_props[i]);
        char *eq = strchr(name, '=');
        if (!eq)
            die(extra_props[i], "expected NAME=VALUE");
        *eq = '\0';
        if (rd_kafka_conf_set(conf, name, eq + 1, err, sizeof(err)) != RD_KAFKA_CONF_OK)
            die(name, err);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        die("rd_kafka_new", err);
    return rk;
}

/* The partition count of each topic, from one metadata request. */
static void partition_counts(rd_kafka_t *rk, const char **topics, int n, int *counts)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 15000);
    if (e)
        die("metadata", rd_kafka_err2str(e));
    for (int k = 0; k < n; k++) {
        counts[k] = -1;
        for (int i = 0; i < md->topic_cnt; i++)
            if (!strcmp(md->topics[i].topic, topics[k]) && !md->topics[i].err)
                counts[k] = md->topics[i].partition_cnt;
        if (counts[k] < 0)
            die(topics[k], "topic not found");
    }
    rd_kafka_metadata_destroy(md);
}

static int count_topic(const char *bootstrap, const char *topic)
{
    rd_kafka_t *rk = new_consumer(bootstrap);
    int n;
    partition_counts(rk, &topic, 1, &n);
    int64_t sum = 0;
    for (int p = 0; p < n; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (e)
            die("watermarks", rd_kafka_err2str(e));
        sum += hi - lo;
    }
    rd_kafka_destroy(rk);
    printf("{\"topic\":\"%s\",\"messages\":%" PRId64 "}\n", topic, sum);
    return 0;
}

int main(int argc, char **argv)
{
    double t0 = mono_s();
    const char *bootstrap = NULL, *count = NULL;
    const char *topics[MAX_TOPICS];
    int n_topics = 0, batch = 1000;
    double timeout = 900;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bootstrap"))
            bootstrap = argv[i + 1];
        else if (!strcmp(argv[i], "--topic") && n_topics < MAX_TOPICS)
            topics[n_topics++] = argv[i + 1];
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--timeout"))
            timeout = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--count"))
            count = argv[i + 1];
        else if (!strcmp(argv[i], "--prop") && n_extra_props < MAX_PROPS)
            extra_props[n_extra_props++] = argv[i + 1];
        else
            die("bad argument", argv[i]);
    }
    if (!bootstrap || (!count && (n_topics == 0 || batch < 1))) {
        fprintf(stderr, "usage: bare --bootstrap B --topic T [--topic T]... [--batch N] [--timeout S]\n"
                        "            [--prop NAME=VALUE]...\n"
                        "       bare --bootstrap B --count T\n");
        return 2;
    }
    if (count)
        return count_topic(bootstrap, count);

    rd_kafka_t *rk = new_consumer(bootstrap);
    /* Like c2watch: the cluster answers first, then the consumer queue.
     * Topic handles before the metadata, as c2watch does: their
     * partitions then have a leader when assigned (else librdkafka 2.0.2
     * waits 500 ms before it looks their start offsets up again). */
    rd_kafka_topic_t *rkts[MAX_TOPICS];
    for (int k = 0; k < n_topics; k++)
        rkts[k] = rd_kafka_topic_new(rk, topics[k], NULL);
    int counts[MAX_TOPICS];
    partition_counts(rk, topics, n_topics, counts);
    rd_kafka_poll_set_consumer(rk);

    /* One flat list; base[k] is topic k's first index in it. */
    int base[MAX_TOPICS], total = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (int k = 0; k < n_topics; k++) {
        base[k] = total;
        for (int p = 0; p < counts[k]; p++)
            rd_kafka_topic_partition_list_add(l, topics[k], p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        total += counts[k];
    }
    bool *eof = calloc((size_t)total + 1, sizeof(*eof));
    rd_kafka_message_t **msgs = calloc((size_t)batch, sizeof(*msgs));
    if (!eof || !msgs)
        die("calloc", "out of memory");
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    for (int k = 0; k < n_topics; k++)
        if (rkts[k])
            rd_kafka_topic_destroy(rkts[k]);
    if (e)
        die("assign", rd_kafka_err2str(e));
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);

    uint64_t records = 0, bytes = 0, errors = 0;
    int eofs = 0;
    while (eofs < total) {
        if (mono_s() - t0 > timeout)
            die("consume", "timed out before every partition reached its end");
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, (size_t)batch);
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (!m->err) {
                records++;
                bytes += m->len;
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->rkt) {
                /* Topic by name (a handful), partition by number. */
                const char *name = rd_kafka_topic_name(m->rkt);
                for (int k = 0; k < n_topics; k++)
                    if (!strcmp(name, topics[k]) && m->partition >= 0 && m->partition < counts[k] &&
                        !eof[base[k] + m->partition]) {
                        eof[base[k] + m->partition] = true;
                        eofs++;
                    }
            } else {
                if (errors++ < 10)
                    fprintf(stderr, "bare: %s\n", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
    }
    double t_end = mono_s();
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    double t_closed = mono_s();
    free(eof);
    free(msgs);
    printf("{\"seconds\":%.3f,\"close_seconds\":%.3f,\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"partitions\":%d,\"errors\":%" PRIu64 "}\n",
           t_end - t0, t_closed - t_end, records, bytes, total, errors);
    return errors ? 1 : 0;
}
