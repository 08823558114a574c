/*
 * source.c — NDJSON line reader over plain files, gzip files and stdin.
 * zlib's gzread reads uncompressed input unchanged, so one path serves both.
 */
#include "c2watch/source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define C2W_READ_CHUNK (256 * 1024)

struct c2w_lines {
    gzFile gz; /* NULL for a plain regular file, read with read() */
    int fd; /* the plain file's */
    char *buf;
    size_t cap; /* max_line + chunk */
    size_t start, end; /* unread bytes are buf[start .. end) */
    size_t max_line;
    bool eof, skipping;
};

c2w_lines_t *c2w_lines_open(const char *path, size_t max_line, char *errbuf, size_t errlen)
{
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    c2w_lines_t *r = calloc(1, sizeof(*r));
    if (!r)
        goto out_close;
    r->max_line = max_line ? max_line : (1u << 20);
    r->cap = r->max_line + C2W_READ_CHUNK + 1;
    r->buf = malloc(r->cap);
    if (!r->buf)
        goto out_free;
    r->fd = -1;
    struct stat st;
    unsigned char magic[2];
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        !(pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)) {
        /* plain file: straight into our buffer, no copy through zlib */
        r->fd = fd;
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        return r;
    }
    r->gz = gzdopen(fd, "rb");
    if (!r->gz)
        goto out_free;
    gzbuffer(r->gz, C2W_READ_CHUNK);
    return r;
out_free:
    free(r ? r->buf : NULL);
    free(r);
out_close:
    close(fd);
    snprintf(errbuf, errlen, "%s: out of memory", path);
    return NULL;
}

/* Reads more input after compacting; returns bytes read, 0 at EOF, -1. */
static int fill(c2w_lines_t *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    size_t room = r->cap - 1 - r->end;
    if (room == 0)
        return 1;
    size_t want = room < C2W_READ_CHUNK ? room : C2W_READ_CHUNK;
    int n;
    if (r->gz) {
        n = gzread(r->gz, r->buf + r->end, (unsigned)want);
    } else {
        ssize_t got;
        do
            got = read(r->fd, r->buf + r->end, want);
        while (got < 0 && errno == EINTR);
        n = (int)got;
    }
    if (n < 0)
        return -1;
    if (n == 0)
        r->eof = true;
    r->end += (size_t)n;
    return n;
}

int c2w_lines_next(c2w_lines_t *r, const char **line, size_t *len, bool *too_long)
{
    *too_long = false;
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            size_t n = (size_t)(nl - (r->buf + r->start));
            const char *l = r->buf + r->start;
            r->start += n + 1;
            if (r->skipping) {
                r->skipping = false;
                *too_long = true;
                *line = l;
                *len = 0;
                return 1;
            }
            /* the limit is on the record: a CRLF line's "\r" is not counted,
             * as in c2w_decode */
            size_t body = n > 0 && l[n - 1] == '\r' ? n - 1 : n;
            if (body > r->max_line) {
                *too_long = true;
                n = 0;
            }
            *line = l;
            *len = n;
            return 1;
        }
        size_t pending = r->end - r->start;
        if (pending > r->max_line + 1) { /* + 1: the "\r" of a CRLF line */
            /* Too long: drop what we have and skip to the next newline. */
            r->skipping = true;
            r->start = r->end = 0;
        }
        if (r->eof) {
            if (r->skipping) {
                r->skipping = false;
                *too_long = true;
                *line = r->buf;
                *len = 0;
                return 1;
            }
            if (pending == 0)
                return 0;
            *line = r->buf + r->start;
            *len = pending;
            r->start = r->end;
            return 1;
        }
        if (fill(r) < 0)
            return -1;
    }
}

void c2w_lines_close(c2w_lines_t *r)
{
    if (!r)
        return;
    if (r->gz)
        gzclose(r->gz);
    else
        close(r->fd);
    free(r->buf);
    free(r);
}
