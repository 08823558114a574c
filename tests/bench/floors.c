/*
 * floors.c — the two floors under any consumer of NDJSON files, for
 * `make bench` (tests/bench/run.py, via tests/bench/filebench.py).
 *
 *   floors io   FILE...   read() every file in 1 MiB chunks and count the
 *                         newlines (memchr): the I/O floor, nothing parsed.
 *   floors yajl FILE...   split every file into lines and fully parse each
 *                         line with yajl 2.1, as a naive consumer would: one
 *                         handle per record (yajl 2.1 has no reset), every
 *                         callback present and returning 1, numbers converted
 *                         (integer/double callbacks, no raw number callback).
 *
 * Either prints one JSON line on stdout:
 *   {"mode":..,"seconds":..,"cpu_seconds":..,"bytes":..,"records":..}
 * (yajl adds "failed": records yajl rejected, and "tokens": callbacks made).
 * `seconds` is wall time of the pass alone (from opening the first file to
 * the end of the last), `cpu_seconds` the process's user+system time. The
 * caller pins the process (taskset -c 0).
 *
 * A record is a line; a final line without '\n' counts; a trailing '\r' is
 * stripped before parsing (CRLF); empty lines are not records.
 *
 * Build: cc -O2 -o build/bench/floors tests/bench/floors.c \
 *            $(pkg-config --cflags --libs yajl)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <yajl_parse.h>

#define CHUNK (1u << 20) /* read() size: 1 MiB */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static int open_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "floors: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    /* Tell the kernel we read front to back (readahead), as any log reader would. */
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return fd;
}

/* read() that retries on EINTR; exits on error. */
static size_t read_some(int fd, const char *path, char *buf, size_t cap)
{
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0)
            return (size_t)n;
        if (errno != EINTR) {
            fprintf(stderr, "floors: %s: %s\n", path, strerror(errno));
            exit(1);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* io: the read-only pass */

static void floor_io(int nfiles, char **files, uint64_t *bytes, uint64_t *records)
{
    char *buf = malloc(CHUNK);
    if (!buf) {
        fprintf(stderr, "floors: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < nfiles; i++) {
        int fd = open_file(files[i]);
        char last = '\n'; /* last byte of the file so far; '\n' = at a line start */
        size_t n;
        while ((n = read_some(fd, files[i], buf, CHUNK)) > 0) {
            *bytes += n;
            const char *p = buf, *end = buf + n;
            while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
                (*records)++;
                p++;
            }
            last = buf[n - 1];
        }
        if (last != '\n')
            (*records)++; /* a final line without newline */
        close(fd);
    }
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* yajl: the naive full parse, one handle per record */

/* Every callback counts one token and says "go on". */
static int cb_null(void *ctx)
{
    (*(uint64_t *)ctx)++;
    return 1;
}
static int cb_boolean(void *ctx, int v)
{
    (void)v;
    (*(uint64_t *)ctx)++;
    return 1;
}
static int cb_integer(void *ctx, long long v)
{
    (void)v;
    (*(uint64_t *)ctx)++;
    return 1;
}
static int cb_double(void *ctx, double v)
{
    (void)v;
    (*(uint64_t *)ctx)++;
    return 1;
}
static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
    (void)s;
    (void)len;
    (*(uint64_t *)ctx)++;
    return 1;
}
static int cb_key(void *ctx, const unsigned char *s, size_t len)
{
    (void)s;
    (void)len;
    (*(uint64_t *)ctx)++;
    return 1;
}
static int cb_plain(void *ctx)
{
    (*(uint64_t *)ctx)++;
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_integer = cb_integer,
    .yajl_double = cb_double,
    .yajl_number = NULL, /* NULL: yajl converts numbers to integer/double */
    .yajl_string = cb_string,
    .yajl_start_map = cb_plain,
    .yajl_map_key = cb_key,
    .yajl_end_map = cb_plain,
    .yajl_start_array = cb_plain,
    .yajl_end_array = cb_plain,
};

struct yajl_counts {
    uint64_t records, failed, tokens;
};

/* Parse one record (a line without its '\n'). */
static void parse_record(const unsigned char *line, size_t len, struct yajl_counts *c)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return; /* empty line: not a record */
    c->records++;
    yajl_handle h = yajl_alloc(&callbacks, NULL, &c->tokens);
    if (!h) {
        fprintf(stderr, "floors: yajl_alloc failed\n");
        exit(1);
    }
    if (yajl_parse(h, line, len) != yajl_status_ok || yajl_complete_parse(h) != yajl_status_ok)
        c->failed++;
    yajl_free(h);
}

static void floor_yajl(int nfiles, char **files, uint64_t *bytes, struct yajl_counts *c)
{
    /* buf holds a carried-over partial line followed by the next chunk. */
    size_t cap = 2 * CHUNK;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "floors: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < nfiles; i++) {
        int fd = open_file(files[i]);
        size_t have = 0; /* bytes of an unfinished line at buf[0..have) */
        for (;;) {
            if (cap - have < CHUNK) { /* a line longer than a chunk: grow */
                cap *= 2;
                unsigned char *nb = realloc(buf, cap);
                if (!nb) {
                    fprintf(stderr, "floors: out of memory\n");
                    exit(1);
                }
                buf = nb;
            }
            size_t n = read_some(fd, files[i], (char *)buf + have, CHUNK);
            if (n == 0)
                break;
            *bytes += n;
            size_t total = have + n, start = 0;
            const unsigned char *nl;
            while ((nl = memchr(buf + start, '\n', total - start)) != NULL) {
                size_t end = (size_t)(nl - buf);
                parse_record(buf + start, end - start, c);
                start = end + 1;
            }
            have = total - start;
            memmove(buf, buf + start, have);
        }
        if (have > 0)
            parse_record(buf, have, c); /* a final line without newline */
        close(fd);
    }
    free(buf);
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "io") != 0 && strcmp(argv[1], "yajl") != 0)) {
        fprintf(stderr, "usage: floors io|yajl FILE...\n");
        return 2;
    }
    uint64_t bytes = 0;
    double c0 = cpu_seconds(), t0 = now_seconds();
    if (strcmp(argv[1], "io") == 0) {
        uint64_t records = 0;
        floor_io(argc - 2, argv + 2, &bytes, &records);
        double secs = now_seconds() - t0, cpu = cpu_seconds() - c0;
        printf("{\"mode\":\"io\",\"seconds\":%.6f,\"cpu_seconds\":%.6f,\"bytes\":%llu,\"records\":%llu}\n", secs, cpu,
               (unsigned long long)bytes, (unsigned long long)records);
    } else {
        struct yajl_counts c = { 0, 0, 0 };
        floor_yajl(argc - 2, argv + 2, &bytes, &c);
        double secs = now_seconds() - t0, cpu = cpu_seconds() - c0;
        printf("{\"mode\":\"yajl\",\"seconds\":%.6f,\"cpu_seconds\":%.6f,\"bytes\":%llu,\"records\":%llu,"
               "\"failed\":%llu,\"tokens\":%llu}\n",
               secs, cpu, (unsigned long long)bytes, (unsigned long long)c.records, (unsigned long long)c.failed,
               (unsigned long long)c.tokens);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
