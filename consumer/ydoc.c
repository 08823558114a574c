/*
 * ydoc.c — YAML documents as position-keeping trees (libyaml). See ydoc.h.
 *
 * The file is read whole (bounded), then parsed event by event into nodes
 * allocated from the document's arena. Each event is deleted as soon as it
 * is handled, on every path, and the parser is deleted before returning:
 * the only thing an error leaves behind is the document, which is freed.
 */
#include "c2watch/ydoc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

/* Defaults of c2w_ydoc_limits_t. A hostile or broken file must not make a
 * loader recurse, allocate or loop without bound. */
#define YDOC_MAX_DEPTH 32u
#define YDOC_MAX_FILE_BYTES ((size_t)4 << 20)
#define YDOC_MAX_NODES ((size_t)262144)
#define YDOC_MAX_SCALAR ((size_t)65536)
#define YDOC_MAX_MAP_KEYS ((size_t)4096)
#define YDOC_MSG_MAX 80 /* user text quoted in a message */

/* ------------------------------------------------------------------ */
/* Arena.                                                             */

struct c2w_arena_chunk {
    struct c2w_arena_chunk *next;
    size_t used, cap;
};

#define ARENA_ALIGN ((size_t)16)
#define ARENA_HDR ((sizeof(c2w_arena_chunk_t) + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1))
#define ARENA_CHUNK ((size_t)16384)

void *c2w_arena_alloc(c2w_arena_t *a, size_t n)
{
    if (n > SIZE_MAX / 4)
        return NULL;
    n = n ? (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1) : ARENA_ALIGN;
    c2w_arena_chunk_t *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(ARENA_HDR + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        if (a->head && n > ARENA_CHUNK) {
            /* A big block gets a chunk of its own behind the current one,
             * so the current chunk's free space is not wasted. */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = (char *)c + ARENA_HDR + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void *c2w_arena_array(c2w_arena_t *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / 8 / size)
        return NULL;
    return c2w_arena_alloc(a, count * size);
}

char *c2w_arena_strndup(c2w_arena_t *a, const char *s, size_t n)
{
    char *d = c2w_arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void c2w_arena_free(c2w_arena_t *a)
{
    c2w_arena_chunk_t *c = a->head;
    while (c) {
        c2w_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ------------------------------------------------------------------ */
/* Nodes.                                                             */

struct c2w_ynode {
    c2w_ykind_t kind;
    unsigned line, col; /* 1-based */
    bool plain; /* plain (unquoted) scalar */
    const char *s; /* scalar text, NUL-terminated; "" for collections */
    size_t len;
    struct c2w_ynode *first, *last, *next; /* children; a map alternates key, value */
    size_t n; /* number of children (a map has 2 per entry) */
};

struct c2w_ydoc {
    c2w_arena_t arena; /* every node and string */
    const char *path;
    c2w_ynode_t *root;
};

c2w_ykind_t c2w_ynode_kind(const c2w_ynode_t *n)
{
    return n->kind;
}

unsigned c2w_ynode_line(const c2w_ynode_t *n)
{
    return n->line;
}

unsigned c2w_ynode_col(const c2w_ynode_t *n)
{
    return n->col;
}

const char *c2w_ynode_str(const c2w_ynode_t *n)
{
    return n->s;
}

size_t c2w_ynode_len(const c2w_ynode_t *n)
{
    return n->len;
}

bool c2w_ynode_plain(const c2w_ynode_t *n)
{
    return n->plain;
}

bool c2w_ynode_is_null(const c2w_ynode_t *n)
{
    if (!n)
        return true;
    if (n->kind != C2W_Y_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 || strcmp(n->s, "Null") == 0
        || strcmp(n->s, "NULL") == 0;
}

bool c2w_ynode_is(const c2w_ynode_t *n, const char *s)
{
    return n && n->kind == C2W_Y_SCALAR && strcmp(n->s, s) == 0;
}

const char *c2w_ynode_kind_name(const c2w_ynode_t *n)
{
    return n->kind == C2W_Y_MAP ? "a map" : n->kind == C2W_Y_SEQ ? "a list" : "a scalar";
}

size_t c2w_ynode_count(const c2w_ynode_t *n)
{
    return n->kind == C2W_Y_MAP ? n->n / 2 : n->kind == C2W_Y_SEQ ? n->n : 0;
}

/* A finished map always has an even number of children (libyaml pairs
 * every key with a value), so key->next is never NULL for a key. */
const c2w_ynode_t *c2w_ymap_first(const c2w_ynode_t *m)
{
    return m && m->kind == C2W_Y_MAP && m->first && m->first->next ? m->first : NULL;
}

const c2w_ynode_t *c2w_ymap_next(const c2w_ynode_t *key)
{
    const c2w_ynode_t *k = key->next ? key->next->next : NULL;
    return k && k->next ? k : NULL;
}

const c2w_ynode_t *c2w_ymap_value(const c2w_ynode_t *key)
{
    return key->next;
}

const c2w_ynode_t *c2w_ymap_get(const c2w_ynode_t *m, const char *key)
{
    for (const c2w_ynode_t *k = c2w_ymap_first(m); k; k = c2w_ymap_next(k))
        if (strcmp(k->s, key) == 0)
            return k->next;
    return NULL;
}

const c2w_ynode_t *c2w_yseq_first(const c2w_ynode_t *s)
{
    return s && s->kind == C2W_Y_SEQ ? s->first : NULL;
}

const c2w_ynode_t *c2w_yseq_next(const c2w_ynode_t *item)
{
    return item->next;
}

const c2w_ynode_t *c2w_ydoc_root(const c2w_ydoc_t *doc)
{
    return doc->root;
}

const char *c2w_ydoc_path(const c2w_ydoc_t *doc)
{
    return doc->path;
}

void c2w_ydoc_free(c2w_ydoc_t *doc)
{
    if (!doc)
        return;
    c2w_arena_free(&doc->arena);
    free(doc);
}

/* ------------------------------------------------------------------ */
/* Loading.                                                           */

typedef struct yparse {
    c2w_ydoc_t *doc;
    const char *path; /* for messages (the caller's string) */
    c2w_ydoc_limits_t lim; /* defaults filled in */
    char *errbuf;
    size_t errlen;
    c2w_ynode_t **stack; /* open collections, lim.max_depth of them */
    unsigned depth;
    size_t nodes;
    int docs;
} yparse_t;

__attribute__((format(printf, 4, 5))) static int yerr(yparse_t *P, unsigned line, unsigned col, const char *fmt,
                                                      ...)
{
    if (P->errbuf && P->errlen) {
        int k = snprintf(P->errbuf, P->errlen, "%s:%u:%u: ", P->path, line, col);
        if (k >= 0 && (size_t)k < P->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(P->errbuf + k, P->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int yoom(yparse_t *P)
{
    return yerr(P, 1, 1, "out of memory");
}

/* Error at a libyaml mark (0-based). */
#define MERR(P, m, ...) yerr((P), (unsigned)(m)->line + 1, (unsigned)(m)->column + 1, __VA_ARGS__)

static c2w_ynode_t *ynew(yparse_t *P, c2w_ykind_t kind, const yaml_mark_t *m)
{
    if (++P->nodes > P->lim.max_nodes) {
        MERR(P, m, "too many YAML nodes (more than %zu in one file)", P->lim.max_nodes);
        return NULL;
    }
    c2w_ynode_t *n = c2w_arena_alloc(&P->doc->arena, sizeof(*n));
    if (!n) {
        yoom(P);
        return NULL;
    }
    n->kind = kind;
    n->line = (unsigned)m->line + 1;
    n->col = (unsigned)m->column + 1;
    n->s = "";
    return n;
}

static int yattach(yparse_t *P, c2w_ynode_t *n)
{
    if (P->depth == 0) {
        P->doc->root = n;
        return 0;
    }
    c2w_ynode_t *parent = P->stack[P->depth - 1];
    if (parent->kind == C2W_Y_MAP && parent->n % 2 == 0) {
        /* A key. */
        if (n->kind != C2W_Y_SCALAR)
            return yerr(P, n->line, n->col, "a key must be a plain name, not %s", c2w_ynode_kind_name(n));
        if (parent->n / 2 >= P->lim.max_map_keys)
            return yerr(P, n->line, n->col, "too many keys in one map (more than %zu)", P->lim.max_map_keys);
        for (const c2w_ynode_t *k = parent->first; k; k = k->next ? k->next->next : NULL)
            if (k->len == n->len && memcmp(k->s, n->s, n->len) == 0)
                return yerr(P, n->line, n->col, "duplicate key '%.*s' (first at line %u)",
                            (int)(n->len > YDOC_MSG_MAX ? YDOC_MSG_MAX : n->len), n->s, k->line);
    }
    if (parent->last)
        parent->last->next = n;
    else
        parent->first = n;
    parent->last = n;
    parent->n++;
    return 0;
}

/* Handles one event; returns 0, 1 at the end of the stream, -1 on error. */
static int yevent(yparse_t *P, const yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    c2w_ynode_t *n;
    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_NO_EVENT:
        return 0;
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (P->docs++ > 0)
            return MERR(P, m, "only one YAML document per %s", P->lim.what);
        return 0;
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    case YAML_ALIAS_EVENT:
        return MERR(P, m, "YAML aliases (*name) are not supported in %ss", P->lim.what);
    case YAML_SCALAR_EVENT: {
        size_t len = ev->data.scalar.length;
        if (len > P->lim.max_scalar)
            return MERR(P, m, "value too long (%zu bytes, at most %zu)", len, P->lim.max_scalar);
        if (memchr(ev->data.scalar.value, '\0', len))
            return MERR(P, m, "NUL character in a value");
        if (!(n = ynew(P, C2W_Y_SCALAR, m)))
            return -1;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->len = len;
        if (!(n->s = c2w_arena_strndup(&P->doc->arena, (const char *)ev->data.scalar.value, len)))
            return yoom(P);
        return yattach(P, n);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (P->depth >= P->lim.max_depth)
            return MERR(P, m, "nesting deeper than %u levels", P->lim.max_depth);
        if (!(n = ynew(P, ev->type == YAML_MAPPING_START_EVENT ? C2W_Y_MAP : C2W_Y_SEQ, m)))
            return -1;
        if (yattach(P, n) < 0)
            return -1;
        P->stack[P->depth++] = n;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (P->depth > 0)
            P->depth--;
        return 0;
    }
    return 0;
}

/* Line and column (1-based) of byte offset off in buf. */
static void offset_pos(const unsigned char *buf, size_t len, size_t off, unsigned *line, unsigned *col)
{
    unsigned l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (buf[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int read_all(yparse_t *P, const char *path, unsigned char **out, size_t *out_len)
{
    size_t max = P->lim.max_file_bytes;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return yerr(P, 1, 1, "cannot open: %s", strerror(errno));
    size_t cap = 8192, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        return yoom(P);
    }
    for (;;) {
        if (len == cap) {
            if (cap > max) {
                free(buf);
                fclose(fp);
                return yerr(P, 1, 1, "file too large (more than %zu bytes)", max);
            }
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(fp);
                return yoom(P);
            }
            buf = nb;
            cap *= 2;
        }
        size_t k = fread(buf + len, 1, cap - len, fp);
        len += k;
        if (k == 0) {
            if (ferror(fp)) {
                int e = errno;
                free(buf);
                fclose(fp);
                return yerr(P, 1, 1, "cannot read: %s", strerror(e));
            }
            break;
        }
    }
    fclose(fp);
    if (len > max) {
        free(buf);
        return yerr(P, 1, 1, "file too large (more than %zu bytes)", max);
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* Parses len bytes of buf into P->doc. */
static int parse_buf(yparse_t *P, const unsigned char *buf, size_t len)
{
    P->stack = c2w_arena_array(&P->doc->arena, P->lim.max_depth + 1, sizeof(*P->stack));
    if (!P->stack)
        return yoom(P);

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return yoom(P);
    yaml_parser_set_input_string(&parser, buf, len);

    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            unsigned line, col;
            if (parser.error == YAML_MEMORY_ERROR) {
                rc = yoom(P);
                break;
            }
            if (parser.error == YAML_READER_ERROR) {
                offset_pos(buf, len, parser.problem_offset, &line, &col);
            } else {
                line = (unsigned)parser.problem_mark.line + 1;
                col = (unsigned)parser.problem_mark.column + 1;
            }
            if (parser.context)
                rc = yerr(P, line, col, "YAML syntax error: %s (%s)", parser.problem ? parser.problem : "unknown",
                          parser.context);
            else
                rc = yerr(P, line, col, "YAML syntax error: %s", parser.problem ? parser.problem : "unknown");
            break;
        }
        int r = yevent(P, &ev);
        yaml_event_delete(&ev);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r > 0)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* A parse context and an empty document; NULL (message set) on OOM. */
static c2w_ydoc_t *begin(yparse_t *P, const char *path, const c2w_ydoc_limits_t *lim, char *errbuf,
                         size_t errlen)
{
    *P = (yparse_t){ .path = path, .errbuf = errbuf, .errlen = errlen };
    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (lim)
        P->lim = *lim;
    if (!P->lim.max_depth)
        P->lim.max_depth = YDOC_MAX_DEPTH;
    if (!P->lim.max_file_bytes)
        P->lim.max_file_bytes = YDOC_MAX_FILE_BYTES;
    if (!P->lim.max_nodes)
        P->lim.max_nodes = YDOC_MAX_NODES;
    if (!P->lim.max_scalar)
        P->lim.max_scalar = YDOC_MAX_SCALAR;
    if (!P->lim.max_map_keys)
        P->lim.max_map_keys = YDOC_MAX_MAP_KEYS;
    if (!P->lim.what)
        P->lim.what = "YAML file";
    if (P->lim.max_depth > 4096)
        P->lim.max_depth = 4096;

    c2w_ydoc_t *doc = calloc(1, sizeof(*doc));
    if (!doc) {
        yoom(P);
        return NULL;
    }
    if (!(doc->path = c2w_arena_strndup(&doc->arena, path, strlen(path)))) {
        free(doc);
        yoom(P);
        return NULL;
    }
    P->doc = doc;
    return doc;
}

c2w_ydoc_t *c2w_ydoc_parse(const char *name, const char *text, size_t len, const c2w_ydoc_limits_t *lim,
                           char *errbuf, size_t errlen)
{
    yparse_t P;
    c2w_ydoc_t *doc = begin(&P, name, lim, errbuf, errlen);
    if (!doc)
        return NULL;
    if (len > P.lim.max_file_bytes) {
        yerr(&P, 1, 1, "file too large (more than %zu bytes)", P.lim.max_file_bytes);
        goto out_free_doc;
    }
    if (parse_buf(&P, (const unsigned char *)text, len) < 0)
        goto out_free_doc;
    return doc;

out_free_doc:
    c2w_ydoc_free(doc);
    return NULL;
}

c2w_ydoc_t *c2w_ydoc_load(const char *path, const c2w_ydoc_limits_t *lim, char *errbuf, size_t errlen)
{
    yparse_t P;
    c2w_ydoc_t *doc = begin(&P, path, lim, errbuf, errlen);
    if (!doc)
        return NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    if (read_all(&P, path, &buf, &len) < 0)
        goto out_free_doc;
    int rc = parse_buf(&P, buf, len);
    free(buf);
    if (rc < 0)
        goto out_free_doc;
    return doc;

out_free_doc:
    c2w_ydoc_free(doc);
    return NULL;
}
