/*
 * ydoc.h — a YAML document as a small read-only tree that keeps the line
 * and column of every node, for loaders that must refuse bad input with
 * "file:line:column: message" (rules, the service configuration).
 *
 * libyaml 0.2.5 has no limits of its own: the loader enforces nesting
 * depth, file size, node count, scalar length and keys per map, refuses
 * aliases, several documents, non-scalar and duplicate keys, and NUL
 * characters in values.
 *
 * Ownership: a document owns every node and string in it, in one arena;
 * c2w_ydoc_free releases them all at once, so node pointers and scalar
 * texts are valid until then. A document is read by one thread at a time.
 * The arena is public too: loaders use it for what they build from a
 * document (the rule loader keeps a whole ruleset in one).
 */
#ifndef C2WATCH_YDOC_H
#define C2WATCH_YDOC_H

#include <stdbool.h>
#include <stddef.h>

/* ---- arena: bump allocation in 16 KiB chunks, freed all at once ---- */

typedef struct c2w_arena_chunk c2w_arena_chunk_t;
typedef struct c2w_arena {
    c2w_arena_chunk_t *head; /* { 0 } is an empty arena */
} c2w_arena_t;

/* n zeroed bytes aligned to 16, or NULL on OOM (or absurd n). */
void *c2w_arena_alloc(c2w_arena_t *a, size_t n);
/* count * size zeroed bytes, or NULL on OOM or overflow. */
void *c2w_arena_array(c2w_arena_t *a, size_t count, size_t size);
/* Copy of n bytes of s plus a NUL, or NULL on OOM. */
char *c2w_arena_strndup(c2w_arena_t *a, const char *s, size_t n);
/* Releases every block; the arena is empty (and reusable) afterwards. */
void c2w_arena_free(c2w_arena_t *a);

/* ---- documents ---- */

typedef enum c2w_ykind { C2W_Y_SCALAR, C2W_Y_SEQ, C2W_Y_MAP } c2w_ykind_t;

typedef struct c2w_ydoc c2w_ydoc_t;
typedef struct c2w_ynode c2w_ynode_t;

/* Limits of one load; a zero field takes the default in brackets. */
typedef struct c2w_ydoc_limits {
    unsigned max_depth; /* nested collections [32], at most 4096; the next one is refused */
    size_t max_file_bytes; /* [4 MiB] */
    size_t max_nodes; /* YAML nodes in one file [262144] */
    size_t max_scalar; /* bytes in one scalar [65536] */
    size_t max_map_keys; /* keys in one mapping [4096] */
    const char *what; /* what a file is, in messages ["YAML file"]: "only one
                         YAML document per rule file" */
} c2w_ydoc_limits_t;

/* Reads and parses the file at path (lim may be NULL: defaults). Returns
 * the document, or NULL with "path:line:column: message" in errbuf (1:1
 * when the problem has no position: cannot open, too large, out of
 * memory). An empty file gives a document whose root is NULL. */
c2w_ydoc_t *c2w_ydoc_load(const char *path, const c2w_ydoc_limits_t *lim, char *errbuf, size_t errlen);
/* The same for len bytes of text; name stands for the path in messages.
 * The text is copied where needed; the caller keeps it. */
c2w_ydoc_t *c2w_ydoc_parse(const char *name, const char *text, size_t len, const c2w_ydoc_limits_t *lim,
                           char *errbuf, size_t errlen);
void c2w_ydoc_free(c2w_ydoc_t *doc);

/* The top node, NULL for an empty document. */
const c2w_ynode_t *c2w_ydoc_root(const c2w_ydoc_t *doc);
/* The path (or name) the document was loaded from. */
const char *c2w_ydoc_path(const c2w_ydoc_t *doc);

/* ---- nodes (n must not be NULL unless said) ---- */

c2w_ykind_t c2w_ynode_kind(const c2w_ynode_t *n);
/* 1-based position of the node's first character. */
unsigned c2w_ynode_line(const c2w_ynode_t *n);
unsigned c2w_ynode_col(const c2w_ynode_t *n);
/* Scalar text, NUL-terminated (never contains a NUL); "" for a collection. */
const char *c2w_ynode_str(const c2w_ynode_t *n);
/* Length of the scalar text; 0 for a collection. */
size_t c2w_ynode_len(const c2w_ynode_t *n);
/* True for a plain (unquoted, not block) scalar. */
bool c2w_ynode_plain(const c2w_ynode_t *n);
/* True for NULL, or a plain scalar "", "~", "null", "Null", "NULL". */
bool c2w_ynode_is_null(const c2w_ynode_t *n);
/* True when n is a scalar whose text is exactly s (n may be NULL). */
bool c2w_ynode_is(const c2w_ynode_t *n, const char *s);
/* "a map", "a list" or "a scalar", for messages. */
const char *c2w_ynode_kind_name(const c2w_ynode_t *n);
/* Entries of a map (key-value pairs) or items of a list; 0 for a scalar. */
size_t c2w_ynode_count(const c2w_ynode_t *n);

/* Maps: keys (always scalars) in document order. for (k = first(m); k;
 * k = next(k)) v = value(k). first() is NULL for an empty map or a
 * non-map. */
const c2w_ynode_t *c2w_ymap_first(const c2w_ynode_t *m);
const c2w_ynode_t *c2w_ymap_next(const c2w_ynode_t *key);
const c2w_ynode_t *c2w_ymap_value(const c2w_ynode_t *key);
/* The value of key in map m, or NULL (m may be NULL or not a map). */
const c2w_ynode_t *c2w_ymap_get(const c2w_ynode_t *m, const char *key);

/* Lists: items in order. first() is NULL for an empty list or a non-list. */
const c2w_ynode_t *c2w_yseq_first(const c2w_ynode_t *s);
const c2w_ynode_t *c2w_yseq_next(const c2w_ynode_t *item);

#endif
