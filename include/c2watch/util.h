/*
 * util.h — small helpers shared by the modules: hashing, bounded string
 * copies, ASCII case-insensitive comparisons, a growable byte buffer.
 * Nothing here allocates except the functions that say so.
 */
#ifndef C2WATCH_UTIL_H
#define C2WATCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a of n bytes, continuing from h (start with C2W_FNV_SEED). */
#define C2W_FNV_SEED 0xcbf29ce484222325ULL
uint64_t c2w_hash(uint64_t h, const void *p, size_t n);
/* Final avalanche so that low bits are usable as a bucket index. */
uint64_t c2w_hash_mix(uint64_t h);
/* A bucket hash of n bytes for in-memory tables, eight bytes at a time
 * (already mixed). Not stable across versions: never store or send it;
 * alert ids use c2w_hash. */
uint64_t c2w_hash_table(const void *p, size_t n);

/* Heap copy of n bytes plus a NUL; NULL on OOM. */
char *c2w_strndup(const char *s, size_t n);
/* Heap copy of s, or NULL when s is NULL (or on OOM). */
char *c2w_strdup_opt(const char *s);

/* Parses exactly len bytes of decimal digits (no sign, no blanks) into a
 * uint64; false on anything else or on overflow. */
bool c2w_parse_u64(const char *s, size_t len, uint64_t *out);

/* ASCII case-insensitive equality / prefix / suffix / substring. */
bool c2w_eq_ci(const char *a, const char *b);
/* The first n bytes of a and b are equal, ASCII case-insensitively (no
 * NUL needed in either). */
bool c2w_eq_ci_n(const char *a, const char *b, size_t n);
bool c2w_startswith_ci(const char *s, const char *prefix);
bool c2w_endswith_ci(const char *s, const char *suffix);
bool c2w_contains_ci(const char *s, const char *needle);

/* A growable byte buffer; data is always NUL-terminated when len > 0. */
typedef struct c2w_buf {
    char *data;
    size_t len, cap;
} c2w_buf_t;

/* Appends n bytes; returns 0 or -1 on OOM (the buffer is unchanged). */
int c2w_buf_append(c2w_buf_t *b, const char *p, size_t n);
int c2w_buf_puts(c2w_buf_t *b, const char *s);
void c2w_buf_reset(c2w_buf_t *b);
void c2w_buf_free(c2w_buf_t *b);

#endif
