/*
 * mockhold.c — holds a librdkafka mock cluster loaded with benchmark data.
 *
 *   mockhold --zeek-topic T --zeek FILE --sysmon-topic T --sysmon FILE
 *            [--zeek-partitions N] [--sysmon-partitions M] [--partition-mib X]
 *            [--zeek-key FIELD] [--sysmon-key FIELD] [--topic NAME[:N]]...
 *            [--batch-bytes B] [--compression CODEC]
 *
 * Starts a one-broker mock cluster, creates the two input topics (and any
 * --topic, e.g. the alerts and dead-letter topics c2watch produces to),
 * produces every non-empty line of each file to its topic (value = the line
 * without its newline), waits for delivery, checks that every partition
 * holds exactly the records sent to it from offset 0 (nothing dropped), then
 * prints one JSON line to stdout and keeps the cluster up until stdin is
 * closed or SIGTERM/SIGINT arrives.
 *
 * Partitions. The 2.0.2 mock keeps only about 5 MiB of record batches per
 * partition and silently drops the oldest beyond that, so each topic gets
 * ceil(bytes / X MiB) partitions (X = --partition-mib, default 3), unless
 * given. Each partition's load is checked after placement: if the fullest
 * one would pass SAFE_BYTES the count is raised until it does not.
 *
 * Keys. Every record is keyed by its host (Zeek: id.orig_h, Sysmon:
 * Hostname; --zeek-key / --sysmon-key change the field), and all records of
 * one host go to one partition, as a keyed shipper would send them. Hosts
 * are placed largest first on the least loaded partition (not key hash
 * modulo N): with ~2000 hosts over ~250 partitions a hash leaves some
 * partitions 1.5x the mean, too close to the mock's 5 MiB; the greedy
 * placement keeps them within one host of the mean. Because every partition
 * holds whole hosts and each host spans the whole time range, every
 * partition spans the whole time range too, so a consumer that merges
 * partitions by event time (c2watch does) advances through all of them
 * evenly, as it would on a real cluster. (Contiguous chunks of the file
 * would give each partition one time slice instead, and such a consumer
 * would then have to buffer nearly everything.) A record without the field
 * gets no key and is placed on the least loaded partition.
 *
 * Batches (--batch-bytes, default 131072). The 2.0.2 mock answers a Fetch
 * with at most one record batch per partition, so the producer's batch size
 * is what a consumer gets per partition per round trip (a real broker sends
 * up to max.partition.fetch.bytes, 1 MiB, whatever the batches). With 1 MB
 * batches one round over ~250 partitions is ~540 000 records, more than
 * c2watch's event-time merge holds before it stops waiting for the
 * partitions not fetched yet (C2W_MERGE_MAX_QUEUED, 200 000): it then fed
 * records out of order (thousands of flows left unattributed, fewer
 * alerts), so the work differed from run to run. 128 KiB batches make a
 * round ~31 MB, ~70 000 records, and the fetch rate of the bare consumer is
 * the same within noise (~3.5-4.5 s for the full bench data either way).
 *
 * Compression (--compression lz4|zstd|gzip|snappy, default none). The
 * mock's limit applies to the stored (compressed) batches, so fewer
 * partitions suffice; --partition-mib then counts uncompressed bytes, may
 * go past 4, and the placement check is skipped (the check of the offsets
 * after loading still catches a partition the mock trimmed). Consumers
 * then decompress every batch.
 *
 * Payloads are produced straight from the mmap'ed files (no copy); the mock
 * keeps its own copy, and the files are unmapped once everything is
 * delivered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Payload bytes plus per-record overhead a partition may hold: kept well
 * under the mock's 5 MiB (1024 * 1024 * 5 of record-batch bytes). */
#define SAFE_BYTES (4 * 1024 * 1024)
/* Record-batch bytes per record beyond value and key (varints, attributes,
 * header count), an upper estimate used for the placement check. */
#define REC_OVERHEAD 24
#define MAX_EXTRA_TOPICS 16

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "mockhold: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

/* ---- one host (one key) ---- */

typedef struct host {
    const char *key; /* points into the mapped file */
    size_t klen;
    uint64_t bytes; /* payload + key + REC_OVERHEAD over its records */
    int32_t partition;
} host;

/* One input topic and its file. */
typedef struct input {
    const char *topic, *path, *field;
    int partitions; /* 0: computed */
    const char *data; /* mapped file */
    size_t size;
    host *hosts;
    size_t n_hosts, cap_hosts;
    size_t *slots; /* open-addressing table: host index + 1, 0 = empty */
    size_t n_slots;
    uint64_t records, payload; /* lines produced, their bytes */
    uint64_t unkeyed, unkeyed_bytes; /* records without the key field */
    uint64_t *part_load; /* estimated batch bytes per partition */
    int64_t *part_count; /* records per partition */
} input;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The value of "FIELD":"..." in a line, or NULL (no escapes expected in a
 * host name or an address). */
static const char *find_key(const char *line, size_t len, const char *pat, size_t plen, size_t *klen)
{
    const char *p = memmem(line, len, pat, plen);
    if (!p)
        return NULL;
    const char *v = p + plen;
    const char *end = memchr(v, '"', len - (size_t)(v - line));
    if (!end)
        return NULL;
    *klen = (size_t)(end - v);
    return v;
}

static void table_grow(input *in)
{
    size_t n = in->n_slots ? in->n_slots * 2 : 4096;
    size_t *s = calloc(n, sizeof(*s));
    if (!s)
        die("%s", "out of memory");
    for (size_t i = 0; i < in->n_hosts; i++) {
        size_t k = hash_bytes(in->hosts[i].key, in->hosts[i].klen) & (n - 1);
        while (s[k])
            k = (k + 1) & (n - 1);
        s[k] = i + 1;
    }
    free(in->slots);
    in->slots = s;
    in->n_slots = n;
}

/* The index of key's host, added when new. */
static size_t host_index(input *in, const char *key, size_t klen)
{
    if ((in->n_hosts + 1) * 2 > in->n_slots)
        table_grow(in);
    size_t k = hash_bytes(key, klen) & (in->n_slots - 1);
    while (in->slots[k]) {
        host *h = &in->hosts[in->slots[k] - 1];
        if (h->klen == klen && memcmp(h->key, key, klen) == 0)
            return in->slots[k] - 1;
        k = (k + 1) & (in->n_slots - 1);
    }
    if (in->n_hosts == in->cap_hosts) {
        in->cap_hosts = in->cap_hosts ? in->cap_hosts * 2 : 1024;
        in->hosts = realloc(in->hosts, in->cap_hosts * sizeof(*in->hosts));
        if (!in->hosts)
            die("%s", "out of memory");
    }
    host *h = &in->hosts[in->n_hosts];
    memset(h, 0, sizeof(*h));
    h->key = key;
    h->klen = klen;
    h->partition = -1;
    in->slots[k] = ++in->n_hosts;
    return in->n_hosts - 1;
}

/* Walks the non-empty lines of the mapped file (without \n or \r\n). */
typedef struct cursor {
    const char *p, *end;
} cursor;

static bool next_line(cursor *c, const char **line, size_t *len)
{
    while (c->p < c->end) {
        const char *s = c->p;
        const char *nl = memchr(s, '\n', (size_t)(c->end - s));
        const char *e = nl ? nl : c->end;
        c->p = nl ? nl + 1 : c->end;
        if (e > s && e[-1] == '\r')
            e--;
        if (e > s) {
            *line = s;
            *len = (size_t)(e - s);
            return true;
        }
    }
    return false;
}

static void map_file(input *in)
{
    int fd = open(in->path, O_RDONLY);
    if (fd < 0)
        die("cannot open %s", in->path);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size == 0)
        die("empty or unreadable file %s", in->path);
    in->size = (size_t)st.st_size;
    in->data = mmap(NULL, in->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (in->data == MAP_FAILED)
        die("cannot map %s", in->path);
    madvise((void *)in->data, in->size, MADV_SEQUENTIAL);
}

/* Pass 1: hosts and their bytes. */
static void scan(input *in)
{
    char pat[256];
    int plen = snprintf(pat, sizeof(pat), "\"%s\":\"", in->field);
    if (plen <= 0 || (size_t)plen >= sizeof(pat))
        die("key field too long: %s", in->field);
    cursor c = { in->data, in->data + in->size };
    const char *line;
    size_t len;
    while (next_line(&c, &line, &len)) {
        size_t klen;
        const char *key = find_key(line, len, pat, (size_t)plen, &klen);
        in->records++;
        in->payload += len;
        if (!key) {
            in->unkeyed++;
            in->unkeyed_bytes += len + REC_OVERHEAD;
            continue;
        }
        size_t h = host_index(in, key, klen); /* may move in->hosts */
        in->hosts[h].bytes += len + klen + REC_OVERHEAD;
    }
    if (in->records == 0)
        die("no records in %s", in->path);
}

static int cmp_host_desc(const void *a, const void *b)
{
    const host *x = *(host *const *)a, *y = *(host *const *)b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static int32_t least_loaded(const input *in)
{
    int32_t best = 0;
    for (int32_t p = 1; p < in->partitions; p++)
        if (in->part_load[p] < in->part_load[best])
            best = p;
    return best;
}

/* Places hosts on partitions, largest first, each on the least loaded;
 * raises the partition count until the fullest partition fits. The
 * unkeyed records are then spread evenly over the partitions in pass 2
 * (their estimated share is added here). */
static void place(input *in, double mib, bool compressed)
{
    for (size_t i = 0; i < in->n_hosts; i++)
        if (!compressed && in->hosts[i].bytes > SAFE_BYTES)
            die("one host holds more than 4 MiB in %s: cannot keep it in one mock partition", in->path);
    bool fixed = in->partitions > 0;
    if (!fixed) {
        double per = mib * 1024 * 1024;
        in->partitions = (int)((double)in->payload / per);
        if ((double)in->partitions * per < (double)in->payload)
            in->partitions++;
    }
    host **order = malloc((in->n_hosts ? in->n_hosts : 1) * sizeof(*order));
    if (!order)
        die("%s", "out of memory");
    for (size_t i = 0; i < in->n_hosts; i++)
        order[i] = &in->hosts[i];
    qsort(order, in->n_hosts, sizeof(*order), cmp_host_desc);
    for (;;) {
        free(in->part_load);
        free(in->part_count);
        in->part_load = calloc((size_t)in->partitions, sizeof(*in->part_load));
        in->part_count = calloc((size_t)in->partitions, sizeof(*in->part_count));
        if (!in->part_load || !in->part_count)
            die("%s", "out of memory");
        for (size_t i = 0; i < in->n_hosts; i++) {
            int32_t p = least_loaded(in);
            order[i]->partition = p;
            in->part_load[p] += order[i]->bytes;
        }
        uint64_t max = 0, unkeyed_share = in->unkeyed_bytes / (uint64_t)in->partitions + 1;
        for (int32_t p = 0; p < in->partitions; p++) {
            uint64_t l = in->part_load[p] + unkeyed_share;
            if (l > max)
                max = l;
        }
        if (compressed || max <= SAFE_BYTES)
            break;
        if (fixed)
            fprintf(stderr, "mockhold: %s: %d partitions give one of ~%.2f MiB (over the mock's limit): raising\n",
                    in->topic, in->partitions, (double)max / (1024 * 1024));
        if (++in->partitions > 100000)
            die("%s: cannot place the records within the mock's partition limit", in->topic);
    }
    free(order);
}

/* ---- producing ---- */

typedef struct dr_state {
    uint64_t delivered, failed;
    char first_err[256];
} dr_state;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    dr_state *st = opaque;
    if (m->err) {
        if (!st->failed++)
            snprintf(st->first_err, sizeof(st->first_err), "%s", rd_kafka_err2str(m->err));
    } else {
        st->delivered++;
    }
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        die("%s", err);
}

/* Pass 2: every line to its host's partition, straight from the mapping. */
static void produce_all(rd_kafka_t *rk, input *in)
{
    char pat[256];
    int plen = snprintf(pat, sizeof(pat), "\"%s\":\"", in->field);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, in->topic, NULL);
    if (!rkt)
        die("cannot create topic handle %s", in->topic);
    cursor c = { in->data, in->data + in->size };
    const char *line;
    size_t len;
    int32_t rr = 0; /* next partition for an unkeyed record */
    while (next_line(&c, &line, &len)) {
        size_t klen = 0;
        const char *key = find_key(line, len, pat, (size_t)plen, &klen);
        int32_t p;
        if (key) {
            p = in->hosts[host_index(in, key, klen)].partition;
        } else {
            p = rr;
            rr = (rr + 1) % in->partitions;
        }
        in->part_count[p]++;
        /* msgflags 0: librdkafka neither copies nor frees the payload,
         * which stays mapped until everything is delivered. */
        while (rd_kafka_produce(rkt, p, 0, (void *)line, len, key, key ? klen : 0, NULL) != 0) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
            rd_kafka_poll(rk, 50);
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_topic_destroy(rkt);
}

/* Every partition holds exactly the records sent to it, from offset 0. */
static void verify(rd_kafka_t *rk, const input *in)
{
    int64_t sum = 0;
    for (int32_t p = 0; p < in->partitions; p++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, in->topic, p, &lo, &hi, 10000);
        if (e)
            die("watermarks: %s", rd_kafka_err2str(e));
        if (lo != 0 || hi != in->part_count[p]) {
            fprintf(stderr, "mockhold: %s [%d]: offsets %" PRId64 "..%" PRId64 ", expected 0..%" PRId64 "\n",
                    in->topic, p, lo, hi, in->part_count[p]);
            die("%s", "the mock cluster does not hold every record (partition over its size limit?)");
        }
        sum += hi;
    }
    if ((uint64_t)sum != in->records)
        die("%s: end offsets do not add up to the line count", in->topic);
}

static void usage(void)
{
    fprintf(stderr, "usage: mockhold --zeek-topic T --zeek FILE --sysmon-topic T --sysmon FILE\n"
                    "                [--zeek-partitions N] [--sysmon-partitions M] [--partition-mib X]\n"
                    "                [--zeek-key FIELD] [--sysmon-key FIELD] [--topic NAME[:N]]...\n"
                    "                [--batch-bytes B] [--compression CODEC]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    input in[2];
    memset(in, 0, sizeof(in));
    in[0].field = "id.orig_h";
    in[1].field = "Hostname";
    double mib = 3.0;
    const char *batch_bytes = "131072"; /* see "Batches" above */
    const char *codec = "none";
    const char *extra[MAX_EXTRA_TOPICS];
    int n_extra = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--zeek-topic"))
            in[0].topic = v;
        else if (!strcmp(a, "--zeek"))
            in[0].path = v;
        else if (!strcmp(a, "--sysmon-topic"))
            in[1].topic = v;
        else if (!strcmp(a, "--sysmon"))
            in[1].path = v;
        else if (!strcmp(a, "--zeek-partitions"))
            in[0].partitions = atoi(v);
        else if (!strcmp(a, "--sysmon-partitions"))
            in[1].partitions = atoi(v);
        else if (!strcmp(a, "--zeek-key"))
            in[0].field = v;
        else if (!strcmp(a, "--sysmon-key"))
            in[1].field = v;
        else if (!strcmp(a, "--partition-mib"))
            mib = atof(v);
        else if (!strcmp(a, "--compression"))
            codec = v;
        else if (!strcmp(a, "--batch-bytes"))
            batch_bytes = v;
        else if (!strcmp(a, "--topic") && n_extra < MAX_EXTRA_TOPICS)
            extra[n_extra++] = v;
        else
            usage();
    }
    if (!in[0].topic || !in[0].path || !in[1].topic || !in[1].path || mib <= 0)
        usage();

    bool compressed = strcmp(codec, "none") != 0;
    if (!compressed && mib > 4)
        usage(); /* uncompressed: a partition must stay under the mock's 5 MiB */
    double t0 = mono_s();
    for (int k = 0; k < 2; k++) {
        map_file(&in[k]);
        scan(&in[k]);
        place(&in[k], mib, compressed);
    }

    /* The cluster lives on its own handle, which stays up to the end. */
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "log_level", "3");
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!owner)
        die("%s", err);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(owner, 1);
    if (!mc)
        die("%s", "could not start the mock cluster");
    char *bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(mc));
    for (int k = 0; k < 2; k++)
        if (rd_kafka_mock_topic_create(mc, in[k].topic, in[k].partitions, 1))
            die("cannot create topic %s", in[k].topic);
    for (int i = 0; i < n_extra; i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s", extra[i]);
        char *colon = strrchr(name, ':');
        int n = 1;
        if (colon) {
            *colon = '\0';
            n = atoi(colon + 1);
        }
        if (n < 1 || rd_kafka_mock_topic_create(mc, name, n, 1))
            die("cannot create topic %s", extra[i]);
    }

    /* The loader: batches of --batch-bytes (see "Batches" above), a queue
     * that never blocks, no compression (consumers get the bytes as they
     * are in the files). */
    dr_state st = { 0 };
    conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "log_level", "3");
    set(conf, "acks", "1");
    set(conf, "linger.ms", "200");
    set(conf, "batch.num.messages", "100000");
    set(conf, "batch.size", batch_bytes);
    set(conf, "queue.buffering.max.messages", "10000000");
    set(conf, "queue.buffering.max.kbytes", "4194304");
    set(conf, "compression.codec", codec);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        die("%s", err);
    for (int k = 0; k < 2; k++)
        produce_all(rk, &in[k]);
    while (rd_kafka_outq_len(rk) > 0)
        rd_kafka_flush(rk, 1000);
    if (st.failed)
        die("delivery failed: %s", st.first_err);
    for (int k = 0; k < 2; k++)
        verify(rk, &in[k]);
    rd_kafka_destroy(rk);
    double load_s = mono_s() - t0;

    uint64_t maxload = 0;
    for (int k = 0; k < 2; k++) {
        for (int32_t p = 0; p < in[k].partitions; p++)
            if (in[k].part_load[p] > maxload)
                maxload = in[k].part_load[p];
        munmap((void *)in[k].data, in[k].size);
        free(in[k].hosts);
        free(in[k].slots);
    }
    printf("{\"bootstrap\":\"%s\",\"zeek_topic\":\"%s\",\"sysmon_topic\":\"%s\","
           "\"zeek_partitions\":%d,\"sysmon_partitions\":%d,"
           "\"zeek_records\":%" PRIu64 ",\"sysmon_records\":%" PRIu64 ",\"records\":%" PRIu64 ","
           "\"zeek_bytes\":%" PRIu64 ",\"sysmon_bytes\":%" PRIu64 ",\"bytes\":%" PRIu64 ","
           "\"zeek_hosts\":%zu,\"sysmon_hosts\":%zu,\"unkeyed\":%" PRIu64 ","
           "\"max_partition_bytes\":%" PRIu64 ",\"compression\":\"%s\",\"load_seconds\":%.3f}\n",
           bootstrap, in[0].topic, in[1].topic, in[0].partitions, in[1].partitions, in[0].records, in[1].records,
           in[0].records + in[1].records, in[0].payload, in[1].payload, in[0].payload + in[1].payload, in[0].n_hosts,
           in[1].n_hosts, in[0].unkeyed + in[1].unkeyed, maxload, codec, load_s);
    fflush(stdout);

    /* Hold until stdin closes or a signal; no SA_RESTART so read() returns. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    char buf[256];
    while (!stop_flag) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    for (int k = 0; k < 2; k++) {
        free(in[k].part_load);
        free(in[k].part_count);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(owner);
    free(bootstrap);
    return 0;
}
