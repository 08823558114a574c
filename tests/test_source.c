/* test_source.c — the line reader: chunked input, gzip, long lines. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "c2watch/source.h"
#include "c2watch/util.h"

static const char *root(void)
{
    const char *r = getenv("C2W_ROOT");
    return r ? r : ".";
}

/* All lines of path joined with '\n' into out (one '\n' after each). */
static size_t read_all(const char *path, size_t max_line, c2w_buf_t *out, size_t *too_long)
{
    char err[256];
    c2w_lines_t *r = c2w_lines_open(path, max_line, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    const char *line;
    size_t len, n = 0;
    bool tl;
    *too_long = 0;
    int rc;
    while ((rc = c2w_lines_next(r, &line, &len, &tl)) == 1) {
        if (tl)
            (*too_long)++;
        c2w_buf_append(out, line, len);
        c2w_buf_append(out, "\n", 1);
        n++;
    }
    cr_assert_eq(rc, 0);
    c2w_lines_close(r);
    return n;
}

static void fixture(char *path, size_t n)
{
    snprintf(path, n, "%s/fixtures/otrf-lsass-procdump-join/zeek_conn.ndjson", root());
}

Test(source, chunked_pipe_reads_same_lines)
{
    char path[1024];
    fixture(path, sizeof(path));
    c2w_buf_t ref = { 0 };
    size_t tl;
    size_t nref = read_all(path, 1 << 20, &ref, &tl);
    cr_assert_eq(nref, 119);
    for (size_t chunk = 1; chunk <= 7; chunk++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            for (size_t off = 0; off < ref.len; off += chunk) {
                size_t n = ref.len - off < chunk ? ref.len - off : chunk;
                if (write(fds[1], ref.data + off, n) != (ssize_t)n)
                    _exit(1);
            }
            _exit(0);
        }
        close(fds[1]);
        char dev[64];
        snprintf(dev, sizeof(dev), "/dev/fd/%d", fds[0]);
        c2w_buf_t got = { 0 };
        size_t n = read_all(dev, 1 << 20, &got, &tl);
        close(fds[0]);
        waitpid(pid, NULL, 0);
        cr_assert_eq(n, nref, "chunk %zu", chunk);
        cr_assert_eq(got.len, ref.len);
        cr_assert_eq(memcmp(got.data, ref.data, ref.len), 0, "chunk %zu", chunk);
        c2w_buf_free(&got);
    }
    c2w_buf_free(&ref);
}

Test(source, gzip_reads_same_lines)
{
    char path[1024];
    fixture(path, sizeof(path));
    c2w_buf_t ref = { 0 };
    size_t tl;
    read_all(path, 1 << 20, &ref, &tl);
    char gzpath[] = "/tmp/c2w_src_XXXXXX";
    int fd = mkstemp(gzpath);
    cr_assert(fd >= 0);
    gzFile gz = gzdopen(fd, "wb");
    cr_assert_eq(gzwrite(gz, ref.data, (unsigned)ref.len), (int)ref.len);
    gzclose(gz);
    c2w_buf_t got = { 0 };
    read_all(gzpath, 1 << 20, &got, &tl);
    unlink(gzpath);
    cr_assert_eq(got.len, ref.len);
    cr_assert_eq(memcmp(got.data, ref.data, ref.len), 0);
    c2w_buf_free(&ref);
    c2w_buf_free(&got);
}

Test(source, long_line_reported_not_buffered)
{
    char path[] = "/tmp/c2w_src_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"a\":1}\r\n", f);
    for (int i = 0; i < 5000; i++)
        fputc('x', f);
    fputs("\n{\"b\":2}\n{\"c\":3}", f); /* no newline at the end */
    fclose(f);
    c2w_buf_t got = { 0 };
    size_t tl;
    size_t n = read_all(path, 100, &got, &tl);
    unlink(path);
    cr_assert_eq(n, 4);
    cr_assert_eq(tl, 1);
    cr_assert_str_eq(got.data, "{\"a\":1}\r\n\n{\"b\":2}\n{\"c\":3}\n", "CR kept, long line empty, last line kept");
    c2w_buf_free(&got);
}

Test(source, missing_file_is_an_error)
{
    char err[256];
    cr_assert_null(c2w_lines_open("/nonexistent/c2w", 100, err, sizeof(err)));
    cr_assert(strstr(err, "/nonexistent/c2w"));
}
