/* util.c — see util.h. */
#include "c2watch/util.h"

#include <stdlib.h>
#include <string.h>

uint64_t c2w_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t c2w_hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t c2w_hash_table(const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL), w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, c + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    if (i < n) {
        w = 0;
        memcpy(&w, c + i, n - i);
        h = (h ^ w) * 0x100000001b3ULL;
    }
    return c2w_hash_mix(h);
}

char *c2w_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *c2w_strdup_opt(const char *s)
{
    return s ? c2w_strndup(s, strlen(s)) : NULL;
}

bool c2w_parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    if (len <= 19) { /* under 10^19: cannot overflow */
        for (size_t k = 0; k < len; k++) {
            if (s[k] < '0' || s[k] > '9')
                return false;
            v = v * 10 + (uint64_t)(s[k] - '0');
        }
        *out = v;
        return true;
    }
    for (size_t k = 0; k < len; k++) {
        if (s[k] < '0' || s[k] > '9')
            return false;
        unsigned digit = (unsigned)(s[k] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    *out = v;
    return true;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

bool c2w_eq_ci(const char *a, const char *b)
{
    for (; *a && *a == *b; a++, b++) /* the usual case: same spelling */
        ;
    for (; *a && *b; a++, b++)
        if (lower((unsigned char)*a) != lower((unsigned char)*b))
            return false;
    return *a == *b;
}

bool c2w_eq_ci_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

bool c2w_startswith_ci(const char *s, const char *prefix)
{
    size_t ls = strlen(s), lp = strlen(prefix);
    return lp <= ls && c2w_eq_ci_n(s, prefix, lp);
}

bool c2w_endswith_ci(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return lx <= ls && c2w_eq_ci_n(s + ls - lx, suffix, lx);
}

bool c2w_contains_ci(const char *s, const char *needle)
{
    size_t ls = strlen(s), ln = strlen(needle);
    if (ln == 0)
        return true;
    for (size_t i = 0; i + ln <= ls; i++)
        if (c2w_eq_ci_n(s + i, needle, ln))
            return true;
    return false;
}

int c2w_buf_append(c2w_buf_t *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int c2w_buf_puts(c2w_buf_t *b, const char *s)
{
    return c2w_buf_append(b, s, strlen(s));
}

void c2w_buf_reset(c2w_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void c2w_buf_free(c2w_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
