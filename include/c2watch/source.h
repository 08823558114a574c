/*
 * source.h — reading records from files: plain or gzip NDJSON, or stdin.
 *
 * Ownership: a line returned by c2w_lines_next points into the reader's
 * buffer and is valid until the next call on the same reader.
 */
#ifndef C2WATCH_SOURCE_H
#define C2WATCH_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct c2w_lines c2w_lines_t;

/* Opens path ("-" = stdin); gzip is detected from the content. Lines longer
 * than max_line bytes are reported as too long, never buffered whole.
 * NULL with a message in errbuf when the file cannot be opened. */
c2w_lines_t *c2w_lines_open(const char *path, size_t max_line, char *errbuf, size_t errlen);

/* Next line without its "\n" (a "\r" before it is kept: the decoder accepts
 * CRLF). Returns 1 and sets line and len (too_long is set when the line was
 * over max_line: then len is 0); 0 at end of input, -1 on a read error. */
int c2w_lines_next(c2w_lines_t *r, const char **line, size_t *len, bool *too_long);

void c2w_lines_close(c2w_lines_t *r);

#endif
