/*
 * rule.c — the rule loader (libyaml) and predicate evaluation. See rule.h.
 *
 * Loading happens in three steps:
 *   1. every file is parsed into a YAML document (ydoc.h) that keeps the
 *      line and column of every node, with the depth and size limits
 *      libyaml 0.2.5 does not have;
 *   2. the `lists:` of every file are collected (lists are shared by all
 *      files of one load, so a rule may use a list defined in another file);
 *   3. each rule is compiled into c2w_rule_t, checking every name and type.
 *
 * Memory: the documents, file names and list table live until the end of
 * the load; everything a ruleset owns lives in the ruleset's own arena,
 * except the compiled regexes, which are registered with the ruleset so
 * that they can be regfree()d. Either way an error path only has to drop
 * the documents, one arena and the ruleset.
 */
#include "c2watch/rule.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "c2watch/util.h"
#include "c2watch/ydoc.h"

/* Limits. libyaml has none of its own: a hostile or broken file must not
 * make the loader recurse, allocate or loop without bound. */
#define RULE_MAX_DEPTH 32 /* nested collections */
#define RULE_MAX_FILE_BYTES (4u << 20) /* one rule file */
#define RULE_MAX_NODES 262144 /* YAML nodes in one file */
#define RULE_MAX_SCALAR 65536 /* bytes in one scalar */
#define RULE_MAX_MAP_KEYS 4096 /* keys in one mapping */
#define RULE_MAX_FILES 1024 /* files in one directory load */
#define RULE_MAX_RULES 4096 /* rules in one load */
#define RULE_MAX_LISTS 4096 /* lists in one load */
#define RULE_SET_DEFAULT 10 /* make_set(F) */
#define RULE_SET_MAX 1000 /* make_set(F, N): N at most */
#define RULE_MSG_MAX 80 /* user text quoted in a message */
#define RULE_MAX_REGEX_SIZE 1000 /* elements of one regex, repetitions expanded */
#define RULE_MAX_REGEX_TOTAL 20000 /* the same over every regex of one load */
#define RULE_MAX_REGEX_NEST 64 /* parentheses nested in one regex */

static const c2w_ydoc_limits_t rule_limits = {
    .max_depth = RULE_MAX_DEPTH,
    .max_file_bytes = RULE_MAX_FILE_BYTES,
    .max_nodes = RULE_MAX_NODES,
    .max_scalar = RULE_MAX_SCALAR,
    .max_map_keys = RULE_MAX_MAP_KEYS,
    .what = "rule file",
};

/* ------------------------------------------------------------------ */
/* The ruleset.                                                       */

struct c2w_ruleset {
    c2w_arena_t arena; /* rules, conditions, strings */
    c2w_rule_t *rules;
    size_t n_rules;
    regex_t **res; /* compiled regexes (memory in arena), for regfree */
    size_t n_res, cap_res;
};

void c2w_ruleset_free(c2w_ruleset_t *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n_res; i++)
        regfree(rs->res[i]);
    free(rs->res);
    c2w_arena_free(&rs->arena);
    free(rs);
}

size_t c2w_ruleset_count(const c2w_ruleset_t *rs)
{
    return rs ? rs->n_rules : 0;
}

const c2w_rule_t *c2w_ruleset_rule(const c2w_ruleset_t *rs, size_t i)
{
    return rs && i < rs->n_rules ? &rs->rules[i] : NULL;
}

/* ------------------------------------------------------------------ */
/* Load state.                                                        */

typedef struct list_def {
    const char *name;
    const char *file; /* where it is defined */
    const c2w_ynode_t *key; /* the name node, for messages */
    const c2w_ynode_t *seq; /* a list, or a null scalar for an empty list */
} list_def_t;

typedef struct rule_file {
    const char *path;
    c2w_ydoc_t *doc; /* owned by the load */
    const c2w_ynode_t *root;
} rule_file_t;

typedef struct load {
    c2w_arena_t tmp; /* file names, file and list tables: freed after the load */
    c2w_ruleset_t *rs;
    char *errbuf;
    size_t errlen;
    bool failed;
    const char *file; /* file being compiled, for messages */
    rule_file_t *files;
    size_t n_files;
    list_def_t *lists;
    size_t n_lists;
    size_t regex_total; /* regex_size() of the regexes compiled so far */
} load_t;

__attribute__((format(printf, 5, 6))) static int errf(load_t *L, const char *file, unsigned line,
                                                      unsigned col, const char *fmt, ...)
{
    if (L->failed)
        return -1;
    L->failed = true;
    if (L->errbuf && L->errlen) {
        int k = snprintf(L->errbuf, L->errlen, "%s:%u:%u: ", file, line, col);
        if (k >= 0 && (size_t)k < L->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(L->errbuf + k, L->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* Error at node n of the file being compiled, or of file. */
#define NERR(L, n, ...) errf((L), (L)->file, c2w_ynode_line(n), c2w_ynode_col(n), __VA_ARGS__)
#define FERR(L, file, n, ...) errf((L), (file), c2w_ynode_line(n), c2w_ynode_col(n), __VA_ARGS__)
/* printf arguments quoting a scalar node, shortened. */
#define QS(n) (int)(c2w_ynode_len(n) > RULE_MSG_MAX ? RULE_MSG_MAX : c2w_ynode_len(n)), c2w_ynode_str(n)

static int oom(load_t *L, const char *file)
{
    return errf(L, file, 1, 1, "out of memory");
}

/* Parses one file into f->doc; the message of a refusal is the ydoc's. */
static int parse_file(load_t *L, rule_file_t *f)
{
    f->doc = c2w_ydoc_load(f->path, &rule_limits, L->errbuf, L->errlen);
    if (!f->doc) {
        L->failed = true;
        return -1;
    }
    f->root = c2w_ydoc_root(f->doc);
    return 0;
}

static void free_docs(load_t *L)
{
    for (size_t i = 0; i < L->n_files; i++) {
        c2w_ydoc_free(L->files[i].doc);
        L->files[i].doc = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Operators and types.                                               */

static const char *const op_names[C2W_OP_COUNT] = {
    [C2W_OP_EQ] = "eq",
    [C2W_OP_NE] = "ne",
    [C2W_OP_IN] = "in",
    [C2W_OP_NOT_IN] = "not_in",
    [C2W_OP_IN_CI] = "in_ci",
    [C2W_OP_NOT_IN_CI] = "not_in_ci",
    [C2W_OP_GT] = "gt",
    [C2W_OP_GE] = "ge",
    [C2W_OP_LT] = "lt",
    [C2W_OP_LE] = "le",
    [C2W_OP_CONTAINS_CI] = "contains_ci",
    [C2W_OP_STARTSWITH_CI] = "startswith_ci",
    [C2W_OP_ENDSWITH_CI] = "endswith_ci",
    [C2W_OP_MATCHES] = "matches",
    [C2W_OP_IN_CIDR] = "in_cidr",
    [C2W_OP_NOT_IN_CIDR] = "not_in_cidr",
    [C2W_OP_EXISTS] = "exists",
};

const char *c2w_op_name(c2w_op_t op)
{
    return (unsigned)op < C2W_OP_COUNT ? op_names[op] : "?";
}

static int op_lookup(const char *s)
{
    for (int i = 0; i < C2W_OP_COUNT; i++)
        if (strcmp(op_names[i], s) == 0)
            return i;
    return -1;
}

static const char *type_name(c2w_type_t t)
{
    switch (t) {
    case C2W_T_STR:
        return "a string";
    case C2W_T_INT:
        return "an integer";
    case C2W_T_NUM:
        return "a number";
    case C2W_T_TIME:
        return "a time";
    case C2W_T_IP:
        return "an IP address";
    }
    return "?";
}

/* Whether op applies to a value of type t, and what it needs otherwise. */
static const char *op_check(c2w_op_t op, c2w_type_t t)
{
    switch (op) {
    case C2W_OP_EQ:
    case C2W_OP_NE:
    case C2W_OP_IN:
    case C2W_OP_NOT_IN:
    case C2W_OP_EXISTS:
        return NULL;
    case C2W_OP_IN_CI:
    case C2W_OP_NOT_IN_CI:
    case C2W_OP_CONTAINS_CI:
    case C2W_OP_STARTSWITH_CI:
    case C2W_OP_ENDSWITH_CI:
    case C2W_OP_MATCHES:
        return t == C2W_T_STR ? NULL : "a string";
    case C2W_OP_GT:
    case C2W_OP_GE:
    case C2W_OP_LT:
    case C2W_OP_LE:
        return t == C2W_T_INT || t == C2W_T_NUM || t == C2W_T_TIME ? NULL : "an integer, number or time";
    case C2W_OP_IN_CIDR:
    case C2W_OP_NOT_IN_CIDR:
        return t == C2W_T_IP ? NULL : "an IP address";
    case C2W_OP_COUNT:
        break;
    }
    return "?";
}

static bool op_is_list(c2w_op_t op)
{
    return op == C2W_OP_IN || op == C2W_OP_NOT_IN || op == C2W_OP_IN_CI || op == C2W_OP_NOT_IN_CI;
}

static bool op_is_cidr(c2w_op_t op)
{
    return op == C2W_OP_IN_CIDR || op == C2W_OP_NOT_IN_CIDR;
}


static bool parse_num(const char *s, double *out)
{
    if (!*s || *s == ' ' || *s == '\t')
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(d))
        return false;
    *out = d;
    return true;
}

/* "10.0.0.0/8", "fe80::/10", a bare address (/32 or /128). An IPv4-mapped
 * IPv6 network is stored as IPv4 (c2w_ip_parse does the same to values). */
static bool cidr_parse(const char *s, size_t len, c2w_cidr_t *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    c2w_ip_t ip;
    if (!c2w_ip_parse(s, alen, &ip))
        return false;
    bool text_v6 = memchr(s, ':', alen) != NULL;
    unsigned max = text_v6 ? 128 : 32;
    unsigned prefix = max;
    if (slash) {
        const char *p = slash + 1;
        size_t plen = len - alen - 1;
        if (plen == 0 || plen > 3)
            return false;
        prefix = 0;
        for (size_t i = 0; i < plen; i++) {
            if (p[i] < '0' || p[i] > '9')
                return false;
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (prefix > max)
            return false;
    }
    if (text_v6 && ip.family == 4) {
        if (prefix < 96)
            return false;
        prefix -= 96;
    }
    unsigned bytes = ip.family == 4 ? 4 : 16;
    for (unsigned i = 0; i < bytes; i++) {
        unsigned bit = i * 8;
        if (bit >= prefix)
            ip.addr[i] = 0;
        else if (prefix - bit < 8)
            ip.addr[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
    }
    out->net = ip;
    out->prefix = prefix;
    return true;
}

static bool cidr_match(const c2w_cidr_t *c, const c2w_ip_t *ip)
{
    if (c->net.family != ip->family)
        return false;
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->net.addr, ip->addr, full) != 0)
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if ((ip->addr[full] & mask) != c->net.addr[full])
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Compiling.                                                         */

static bool valid_name(const c2w_ynode_t *n)
{
    if (c2w_ynode_kind(n) != C2W_Y_SCALAR || c2w_ynode_len(n) == 0 || c2w_ynode_len(n) > 128)
        return false;
    for (size_t i = 0; i < c2w_ynode_len(n); i++) {
        char c = c2w_ynode_str(n)[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'
            || (i > 0 && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

static int need_scalar(load_t *L, const char *file, const c2w_ynode_t *n, const char *what)
{
    if (c2w_ynode_kind(n) != C2W_Y_SCALAR)
        return FERR(L, file, n, "%s must be a single value, not %s", what, c2w_ynode_kind_name(n));
    return 0;
}

static int need_text(load_t *L, const c2w_ynode_t *n, const char *what)
{
    if (need_scalar(L, L->file, n, what) < 0)
        return -1;
    if (c2w_ynode_is_null(n) || c2w_ynode_len(n) == 0)
        return NERR(L, n, "%s must not be empty", what);
    return 0;
}

static char *keep(load_t *L, const c2w_ynode_t *n)
{
    char *s = c2w_arena_strndup(&L->rs->arena, c2w_ynode_str(n), c2w_ynode_len(n));
    if (!s)
        oom(L, L->file);
    return s;
}

static const list_def_t *list_find(const load_t *L, const char *name)
{
    for (size_t i = 0; i < L->n_lists; i++)
        if (strcmp(L->lists[i].name, name) == 0)
            return &L->lists[i];
    return NULL;
}

/* A value literal of type t from scalar n (in file). */
static int parse_value(load_t *L, const char *file, const c2w_ynode_t *n, c2w_type_t t, c2w_value_t *v)
{
    if (need_scalar(L, file, n, "a value") < 0)
        return -1;
    if (c2w_ynode_is_null(n))
        return FERR(L, file, n, "missing value%s", t == C2W_T_STR ? " (write \"\" for an empty string)" : "");
    v->type = t;
    v->present = true;
    switch (t) {
    case C2W_T_STR:
        if (!(v->s = c2w_arena_strndup(&L->rs->arena, c2w_ynode_str(n), c2w_ynode_len(n))))
            return oom(L, file);
        return 0;
    case C2W_T_INT:
        if (!c2w_parse_u64(c2w_ynode_str(n), strlen(c2w_ynode_str(n)), &v->u))
            return FERR(L, file, n, "expected an integer (0 or more), got '%.*s'", QS(n));
        return 0;
    case C2W_T_NUM:
        if (!parse_num(c2w_ynode_str(n), &v->d))
            return FERR(L, file, n, "expected a number, got '%.*s'", QS(n));
        return 0;
    case C2W_T_TIME:
        if (!c2w_time_parse_text(c2w_ynode_str(n), c2w_ynode_len(n), &v->t))
            return FERR(L, file, n, "expected an RFC 3339 time (2026-11-28T10:00:00Z), got '%.*s'",
                        QS(n));
        return 0;
    case C2W_T_IP:
        if (!c2w_ip_parse(c2w_ynode_str(n), c2w_ynode_len(n), &v->ip))
            return FERR(L, file, n, "expected an IP address, got '%.*s'", QS(n));
        return 0;
    }
    return FERR(L, file, n, "internal: unknown type");
}

/* The items of a list operand: a YAML sequence or a $name reference. On
 * success *items is the first item (may be NULL), *n its count and *file the
 * file the items are in. */
static int list_operand(load_t *L, const c2w_ynode_t *opk, const c2w_ynode_t *v, const c2w_ynode_t **items, size_t *n,
                        const char **file)
{
    if (c2w_ynode_kind(v) == C2W_Y_SEQ) {
        *items = c2w_yseq_first(v);
        *n = c2w_ynode_count(v);
        *file = L->file;
        return 0;
    }
    if (c2w_ynode_kind(v) == C2W_Y_SCALAR && c2w_ynode_len(v) > 0 && c2w_ynode_str(v)[0] == '$') {
        const list_def_t *d = list_find(L, c2w_ynode_str(v) + 1);
        if (!d)
            return NERR(L, v, "undefined list '%.*s'", QS(v));
        *items = c2w_ynode_kind(d->seq) == C2W_Y_SEQ ? c2w_yseq_first(d->seq) : NULL;
        *n = c2w_ynode_kind(d->seq) == C2W_Y_SEQ ? c2w_ynode_count(d->seq) : 0;
        *file = d->file;
        return 0;
    }
    return NERR(L, v, "operator '%s' takes a list ([a, b]) or a $list reference, not %s", c2w_ynode_str(opk),
                c2w_ynode_kind(v) == C2W_Y_SCALAR ? "a single value" : c2w_ynode_kind_name(v));
}

/* Field resolution scopes. */
typedef enum scope_kind {
    SC_WHERE, /* catalog fields only (where runs before extend) */
    SC_CASE, /* catalog fields and the extend fields before this one */
    SC_HAVING /* aggregates */
} scope_kind_t;

typedef struct scope {
    scope_kind_t kind;
    const c2w_rule_t *r;
    size_t n_ext; /* SC_CASE: extend fields visible; SC_WHERE: all names, for messages */
} scope_t;

/* "unknown field" at node n, with a hint when only the case is wrong. */
static int unknown_field(load_t *L, const c2w_ynode_t *n, const char *what, const char *name)
{
    for (int i = 0; i < C2W_F_COUNT; i++)
        if (c2w_eq_ci(c2w_field_name((c2w_field_t)i), name))
            return NERR(L, n, "%s: unknown field '%.*s' (did you mean '%s'? names are case-sensitive)", what,
                        RULE_MSG_MAX, name, c2w_field_name((c2w_field_t)i));
    return NERR(L, n, "%s: unknown field '%.*s'", what, RULE_MSG_MAX, name);
}

static int ext_lookup(const c2w_rule_t *r, size_t n_visible, const char *name)
{
    for (size_t i = n_visible; i-- > 0;)
        if (strcmp(r->ext[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int scope_resolve(load_t *L, const scope_t *sc, const c2w_ynode_t *k, int *ref, c2w_type_t *type)
{
    if (sc->kind == SC_HAVING) {
        for (size_t i = 0; i < sc->r->n_aggs; i++) {
            if (strcmp(sc->r->aggs[i].name, c2w_ynode_str(k)) == 0) {
                *ref = (int)i;
                *type = sc->r->aggs[i].type;
                return 0;
            }
        }
        return NERR(L, k, "having: '%.*s' is not an aggregate of summarize", QS(k));
    }
    if (sc->kind == SC_CASE) {
        int e = ext_lookup(sc->r, sc->n_ext, c2w_ynode_str(k));
        if (e >= 0) {
            *ref = C2W_F_COUNT + e;
            *type = C2W_T_STR;
            return 0;
        }
    }
    int f = c2w_field_lookup(c2w_ynode_str(k));
    if (f < 0) {
        int later = ext_lookup(sc->r, sc->r->n_ext, c2w_ynode_str(k));
        if (later >= 0 && sc->kind == SC_WHERE)
            return NERR(L, k, "where cannot use '%.*s': it is an extend field, and where runs before extend", QS(k));
        if (later >= 0)
            return NERR(L, k, "'%.*s' is not defined yet: a case can only use earlier extend fields", QS(k));
        return unknown_field(L, k, sc->kind == SC_WHERE ? "where" : "when", c2w_ynode_str(k));
    }
    *ref = f;
    *type = c2w_field_type((c2w_field_t)f);
    return 0;
}

static size_t sat_add(size_t a, size_t b, size_t cap)
{
    return a >= cap || b >= cap - a ? cap : a + b;
}

static size_t sat_mul(size_t a, size_t b, size_t cap)
{
    return a && b >= (cap + a - 1) / a ? cap : a * b;
}

/*
 * glibc's regcomp has no limits of its own: it copies the operand of a
 * bounded repetition once per count allowed (x{1,100} is 100 copies, nested
 * repetitions multiply), and its time and memory grow faster than the
 * result: "((a{1,100}){1,100}){1,100}" takes over 1 GB and seconds.
 * Estimates the size of the expanded expression, saturating at cap: every
 * atom counts 1, times the counts of the repetitions around it (*, + and ?
 * count 2). Syntax errors are left to regcomp.
 */
static size_t regex_size(const char *re, size_t cap)
{
    size_t acc[RULE_MAX_REGEX_NEST + 1] = { 0 }, last = 0, atom;
    unsigned depth = 0;
    for (const char *p = re; *p; p++) {
        atom = 1;
        switch (*p) {
        case '\\':
            if (p[1])
                p++;
            break;
        case '[': /* a bracket expression is one atom: []a], [^]a], [[:alpha:]] */
            p += p[1] == '^' ? 2 : 1;
            if (*p == ']')
                p++;
            while (*p && *p != ']') {
                if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                    const char *e = strchr(p + 2, p[1]);
                    while (e && e[1] != ']')
                        e = strchr(e + 1, p[1]);
                    if (!e)
                        return sat_add(acc[0], depth + 1, cap); /* unterminated: regcomp refuses */
                    p = e + 2;
                } else {
                    p++;
                }
            }
            if (!*p)
                return sat_add(acc[0], depth + 1, cap);
            break;
        case '(':
            if (depth == RULE_MAX_REGEX_NEST)
                return cap;
            acc[++depth] = 0;
            last = 0;
            continue;
        case ')':
            if (depth > 0)
                atom = acc[depth--];
            break;
        case '|':
            last = 0;
            continue;
        case '*':
        case '+':
        case '?':
            acc[depth] = sat_add(acc[depth], last, cap);
            last = sat_mul(last, 2, cap);
            continue;
        case '{': {
            size_t lo = 0, hi;
            const char *q = p + 1;
            if (*q < '0' || *q > '9')
                break; /* not a bound */
            while (*q >= '0' && *q <= '9')
                lo = sat_add(sat_mul(lo, 10, cap), (size_t)(*q++ - '0'), cap);
            hi = lo;
            if (*q == ',') {
                q++;
                hi = sat_add(lo, 1, cap); /* {m,}: m copies and a star */
                if (*q >= '0' && *q <= '9')
                    for (hi = 0; *q >= '0' && *q <= '9'; q++)
                        hi = sat_add(sat_mul(hi, 10, cap), (size_t)(*q - '0'), cap);
            }
            if (*q != '}')
                break;
            if (hi < 1)
                hi = 1;
            acc[depth] = sat_add(acc[depth], sat_mul(last, hi - 1, cap), cap);
            last = sat_mul(last, hi, cap);
            p = q;
            continue;
        }
        default:
            break;
        }
        acc[depth] = sat_add(acc[depth], atom, cap);
        last = atom;
    }
    while (depth > 0) /* unclosed: regcomp refuses */
        acc[0] = sat_add(acc[0], acc[depth--], cap);
    return acc[0];
}

static int add_regex(load_t *L, regex_t *re)
{
    c2w_ruleset_t *rs = L->rs;
    if (rs->n_res == rs->cap_res) {
        size_t cap = rs->cap_res ? rs->cap_res * 2 : 8;
        regex_t **nr = realloc(rs->res, cap * sizeof(*nr));
        if (!nr)
            return -1;
        rs->res = nr;
        rs->cap_res = cap;
    }
    rs->res[rs->n_res++] = re;
    return 0;
}

/* One Field: {op: operand} test. */
static int compile_cond(load_t *L, const scope_t *sc, const c2w_ynode_t *fk, const c2w_ynode_t *opk,
                        const c2w_ynode_t *opv, c2w_cond_t *c)
{
    int ref = -1;
    c2w_type_t t = C2W_T_STR;
    if (scope_resolve(L, sc, fk, &ref, &t) < 0)
        return -1;
    int op = op_lookup(c2w_ynode_str(opk));
    if (op < 0)
        return NERR(L, opk, "unknown operator '%.*s'", QS(opk));
    c->field = ref;
    c->op = (c2w_op_t)op;
    c->type = t;
    const char *need = op_check(c->op, t);
    if (need)
        return NERR(L, opk, "operator '%s' needs %s; '%.*s' is %s", c2w_ynode_str(opk), need, QS(fk), type_name(t));

    if (c->op == C2W_OP_EXISTS) {
        if (c2w_ynode_is(opv, "true") || c2w_ynode_is(opv, "True"))
            c->exists = true;
        else if (c2w_ynode_is(opv, "false") || c2w_ynode_is(opv, "False"))
            c->exists = false;
        else
            return NERR(L, opv, "exists takes true or false");
        return 0;
    }

    if (op_is_list(c->op) || (op_is_cidr(c->op) && c2w_ynode_kind(opv) != C2W_Y_SCALAR)
        || (op_is_cidr(c->op) && c2w_ynode_len(opv) > 0 && c2w_ynode_str(opv)[0] == '$')) {
        const c2w_ynode_t *items = NULL;
        size_t n = 0;
        const char *file = L->file;
        if (list_operand(L, opk, opv, &items, &n, &file) < 0)
            return -1;
        if (op_is_cidr(c->op)) {
            c->cidrs = c2w_arena_array(&L->rs->arena, n, sizeof(*c->cidrs));
            if (!c->cidrs)
                return oom(L, L->file);
            for (const c2w_ynode_t *it = items; it; it = c2w_yseq_next(it)) {
                if (need_scalar(L, file, it, "a network") < 0)
                    return -1;
                if (!cidr_parse(c2w_ynode_str(it), c2w_ynode_len(it), &c->cidrs[c->n_cidrs]))
                    return FERR(L, file, it,
                                "expected an IP network (10.0.0.0/8, fe80::/10) or address, got '%.*s'", QS(it));
                c->n_cidrs++;
            }
            return 0;
        }
        c->vals = c2w_arena_array(&L->rs->arena, n, sizeof(*c->vals));
        if (!c->vals)
            return oom(L, L->file);
        for (const c2w_ynode_t *it = items; it; it = c2w_yseq_next(it))
            if (parse_value(L, file, it, t, &c->vals[c->n_vals++]) < 0)
                return -1;
        return 0;
    }

    if (c2w_ynode_kind(opv) != C2W_Y_SCALAR)
        return NERR(L, opv, "operator '%s' takes a single value, not %s", c2w_ynode_str(opk), c2w_ynode_kind_name(opv));
    if (op_is_cidr(c->op)) {
        c->cidrs = c2w_arena_alloc(&L->rs->arena, sizeof(*c->cidrs));
        if (!c->cidrs)
            return oom(L, L->file);
        if (!cidr_parse(c2w_ynode_str(opv), c2w_ynode_len(opv), c->cidrs))
            return NERR(L, opv, "expected an IP network (10.0.0.0/8, fe80::/10) or address, got '%.*s'", QS(opv));
        c->n_cidrs = 1;
        return 0;
    }
    c->vals = c2w_arena_alloc(&L->rs->arena, sizeof(*c->vals));
    if (!c->vals)
        return oom(L, L->file);
    if (parse_value(L, L->file, opv, t, c->vals) < 0)
        return -1;
    c->n_vals = 1;
    if (c->op == C2W_OP_MATCHES) {
        regex_t *re = c2w_arena_alloc(&L->rs->arena, sizeof(*re));
        if (!re)
            return oom(L, L->file);
        size_t size = regex_size(c->vals[0].s, RULE_MAX_REGEX_SIZE + 1);
        if (size > RULE_MAX_REGEX_SIZE)
            return NERR(L, opv, "regular expression '%.*s' is too complex (over %d elements with its repetitions "
                        "expanded)", QS(opv), RULE_MAX_REGEX_SIZE);
        if (size > RULE_MAX_REGEX_TOTAL - L->regex_total)
            return NERR(L, opv, "too many regular expressions (over %d elements in all, repetitions expanded)",
                        RULE_MAX_REGEX_TOTAL);
        L->regex_total += size;
        int rc = regcomp(re, c->vals[0].s, REG_EXTENDED | REG_NOSUB);
        if (rc == REG_ESPACE)
            return NERR(L, opv, "out of memory compiling regular expression '%.*s'", QS(opv));
        if (rc != 0) {
            char msg[128];
            regerror(rc, re, msg, sizeof(msg));
            return NERR(L, opv, "bad regular expression '%.*s': %s", QS(opv), msg);
        }
        if (add_regex(L, re) < 0) {
            regfree(re);
            return oom(L, L->file);
        }
        c->re = re;
    }
    return 0;
}

/* Number of tests in a condition block (an upper bound when malformed). */
static size_t count_conds(const c2w_ynode_t *n)
{
    size_t k = 0;
    if (!n)
        return 0;
    if (c2w_ynode_kind(n) == C2W_Y_SEQ) {
        for (const c2w_ynode_t *it = c2w_yseq_first(n); it; it = c2w_yseq_next(it))
            k += count_conds(it);
        return k;
    }
    if (c2w_ynode_kind(n) == C2W_Y_MAP) {
        for (const c2w_ynode_t *f = c2w_ymap_first(n); f; f = c2w_ymap_next(f))
            k += c2w_ynode_kind(c2w_ymap_value(f)) == C2W_Y_MAP ? c2w_ynode_count(c2w_ymap_value(f)) : 1;
        return k;
    }
    return 0;
}

static int compile_cond_map(load_t *L, const scope_t *sc, const c2w_ynode_t *m, c2w_cond_t *conds, size_t *n,
                            const char *what)
{
    if (c2w_ynode_kind(m) != C2W_Y_MAP)
        return NERR(L, m, "%s: expected Field: {operator: value}, not %s", what, c2w_ynode_kind_name(m));
    if (c2w_ynode_count(m) == 0)
        return NERR(L, m, "%s: empty condition", what);
    for (const c2w_ynode_t *fk = c2w_ymap_first(m); fk; fk = c2w_ymap_next(fk)) {
        const c2w_ynode_t *ops = c2w_ymap_value(fk);
        if (c2w_ynode_kind(ops) != C2W_Y_MAP || c2w_ynode_count(ops) == 0)
            return NERR(L, ops, "%s: expected {operator: value} for '%.*s'", what, QS(fk));
        for (const c2w_ynode_t *ok = c2w_ymap_first(ops); ok; ok = c2w_ymap_next(ok))
            if (compile_cond(L, sc, fk, ok, c2w_ymap_value(ok), &conds[(*n)++]) < 0)
                return -1;
    }
    return 0;
}

/* A condition block: a map of Field: {op: value}, or a list of such maps;
 * all tests are ANDed. */
static int compile_conds(load_t *L, const scope_t *sc, const c2w_ynode_t *n, c2w_cond_t **out, size_t *n_out,
                         const char *what)
{
    *out = NULL;
    *n_out = 0;
    if (c2w_ynode_is_null(n))
        return 0;
    if (c2w_ynode_kind(n) == C2W_Y_SCALAR)
        return NERR(L, n, "%s: expected a list of Field: {operator: value}", what);
    size_t cap = count_conds(n);
    c2w_cond_t *conds = c2w_arena_array(&L->rs->arena, cap ? cap : 1, sizeof(*conds));
    if (!conds)
        return oom(L, L->file);
    size_t k = 0;
    if (c2w_ynode_kind(n) == C2W_Y_MAP) {
        if (compile_cond_map(L, sc, n, conds, &k, what) < 0)
            return -1;
    } else {
        for (const c2w_ynode_t *it = c2w_yseq_first(n); it; it = c2w_yseq_next(it))
            if (compile_cond_map(L, sc, it, conds, &k, what) < 0)
                return -1;
    }
    *out = conds;
    *n_out = k;
    return 0;
}

/* extend: Name: "constant" | {case: [{when: C, then: S}...], else: S}.
 * Names are filled in first (rule->ext) so that where can say it cannot use
 * them; the cases are compiled after where. */
static int extend_names(load_t *L, c2w_rule_t *r, const c2w_ynode_t *ext)
{
    if (c2w_ynode_is_null(ext))
        return 0;
    if (c2w_ynode_kind(ext) != C2W_Y_MAP)
        return NERR(L, ext, "extend must be a map Name: {case: [...], else: value}");
    r->ext = c2w_arena_array(&L->rs->arena, c2w_ynode_count(ext) ? c2w_ynode_count(ext) : 1, sizeof(*r->ext));
    if (!r->ext)
        return oom(L, L->file);
    for (const c2w_ynode_t *k = c2w_ymap_first(ext); k; k = c2w_ymap_next(k)) {
        if (!valid_name(k))
            return NERR(L, k, "extend: bad field name '%.*s'", QS(k));
        if (!(r->ext[r->n_ext++].name = keep(L, k)))
            return -1;
    }
    return 0;
}

static int compile_extend(load_t *L, c2w_rule_t *r, const c2w_ynode_t *ext)
{
    if (c2w_ynode_is_null(ext))
        return 0;
    size_t i = 0;
    for (const c2w_ynode_t *k = c2w_ymap_first(ext); k; k = c2w_ymap_next(k), i++) {
        const c2w_ynode_t *def = c2w_ymap_value(k);
        c2w_extend_t *e = &r->ext[i];
        e->otherwise = "";
        if (c2w_ynode_kind(def) == C2W_Y_SCALAR) {
            if (!(e->otherwise = keep(L, def)))
                return -1;
            continue;
        }
        if (c2w_ynode_kind(def) != C2W_Y_MAP)
            return NERR(L, def, "extend '%s': expected {case: [...], else: value} or a value", e->name);
        const c2w_ynode_t *cases = NULL;
        for (const c2w_ynode_t *dk = c2w_ymap_first(def); dk; dk = c2w_ymap_next(dk)) {
            if (c2w_ynode_is(dk, "case")) {
                cases = c2w_ymap_value(dk);
            } else if (c2w_ynode_is(dk, "else")) {
                if (need_scalar(L, L->file, c2w_ymap_value(dk), "else") < 0)
                    return -1;
                if (!(e->otherwise = keep(L, c2w_ymap_value(dk))))
                    return -1;
            } else {
                return NERR(L, dk, "extend '%s': unknown key '%.*s' (expected case, else)", e->name, QS(dk));
            }
        }
        if (c2w_ynode_is_null(cases))
            continue;
        if (c2w_ynode_kind(cases) != C2W_Y_SEQ)
            return NERR(L, cases, "extend '%s': case must be a list of {when: ..., then: ...}", e->name);
        size_t n_cases = c2w_ynode_count(cases);
        e->cases = c2w_arena_array(&L->rs->arena, n_cases ? n_cases : 1, sizeof(*e->cases));
        if (!e->cases)
            return oom(L, L->file);
        scope_t sc = { .kind = SC_CASE, .r = r, .n_ext = i };
        for (const c2w_ynode_t *br = c2w_yseq_first(cases); br; br = c2w_yseq_next(br)) {
            if (c2w_ynode_kind(br) != C2W_Y_MAP)
                return NERR(L, br, "extend '%s': a case must be {when: ..., then: ...}", e->name);
            const c2w_ynode_t *when = NULL, *then = NULL;
            for (const c2w_ynode_t *bk = c2w_ymap_first(br); bk; bk = c2w_ymap_next(bk)) {
                if (c2w_ynode_is(bk, "when"))
                    when = c2w_ymap_value(bk);
                else if (c2w_ynode_is(bk, "then"))
                    then = c2w_ymap_value(bk);
                else
                    return NERR(L, bk, "extend '%s': unknown key '%.*s' in a case (expected when, then)", e->name,
                                QS(bk));
            }
            if (!when)
                return NERR(L, br, "extend '%s': a case needs 'when'", e->name);
            if (!then)
                return NERR(L, br, "extend '%s': a case needs 'then'", e->name);
            if (need_scalar(L, L->file, then, "then") < 0)
                return -1;
            c2w_case_t *cs = &e->cases[e->n_cases];
            if (compile_conds(L, &sc, when, &cs->conds, &cs->n_conds, "when") < 0)
                return -1;
            if (cs->n_conds == 0)
                return NERR(L, when, "extend '%s': empty 'when'", e->name);
            if (!(cs->then = keep(L, then)))
                return -1;
            e->n_cases++;
        }
    }
    return 0;
}

/* A field named in summarize/by: extend fields (which shadow the catalog,
 * as in KQL) then catalog fields. */
static int resolve_output_field(load_t *L, const c2w_rule_t *r, const c2w_ynode_t *n, const char *name, c2w_fref_t *ref,
                                c2w_type_t *type, const char *what)
{
    int e = ext_lookup(r, r->n_ext, name);
    if (e >= 0) {
        *ref = C2W_F_COUNT + e;
        *type = C2W_T_STR;
        return 0;
    }
    int f = c2w_field_lookup(name);
    if (f < 0)
        return unknown_field(L, n, what, name);
    *ref = f;
    *type = c2w_field_type((c2w_field_t)f);
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* "count()", "dcount(F)", "sum(F)", "min(F)", "max(F)", "make_set(F, N)". */
static int compile_agg(load_t *L, const c2w_rule_t *r, const c2w_ynode_t *k, const c2w_ynode_t *v, c2w_agg_t *a)
{
    if (!valid_name(k))
        return NERR(L, k, "summarize: bad column name '%.*s'", QS(k));
    if (need_text(L, v, "an aggregate") < 0)
        return -1;
    if (!(a->name = keep(L, k)))
        return -1;
    char buf[256];
    if (c2w_ynode_len(v) >= sizeof(buf))
        return NERR(L, v, "summarize: bad aggregate '%.*s'", QS(v));
    memcpy(buf, c2w_ynode_str(v), c2w_ynode_len(v) + 1);
    char *fn = trim(buf);
    char *open = strchr(fn, '(');
    size_t blen = strlen(fn);
    if (!open || blen == 0 || fn[blen - 1] != ')')
        return NERR(L, v, "summarize: expected an aggregate call such as count() or sum(SentBytes), got '%.*s'",
                    QS(v));
    *open = '\0';
    fn[blen - 1] = '\0';
    char *name = trim(fn);
    char *args = trim(open + 1);
    char *arg2 = strchr(args, ',');
    if (arg2) {
        *arg2++ = '\0';
        arg2 = trim(arg2);
        args = trim(args);
    }
    a->field = -1;
    a->max_set = 0;
    if (strcmp(name, "count") == 0) {
        if (*args || arg2)
            return NERR(L, v, "summarize: count() takes no argument");
        a->kind = C2W_AGG_COUNT;
        a->type = C2W_T_INT;
        a->arg_type = C2W_T_INT;
        return 0;
    }
    if (strcmp(name, "dcount") == 0)
        a->kind = C2W_AGG_DCOUNT;
    else if (strcmp(name, "sum") == 0)
        a->kind = C2W_AGG_SUM;
    else if (strcmp(name, "min") == 0)
        a->kind = C2W_AGG_MIN;
    else if (strcmp(name, "max") == 0)
        a->kind = C2W_AGG_MAX;
    else if (strcmp(name, "make_set") == 0)
        a->kind = C2W_AGG_MAKE_SET;
    else
        return NERR(L, v, "summarize: unknown aggregate '%s' (expected count, dcount, sum, min, max, make_set)",
                    name);
    if (!*args)
        return NERR(L, v, "summarize: %s() needs a field", name);
    if (arg2 && a->kind != C2W_AGG_MAKE_SET)
        return NERR(L, v, "summarize: %s() takes one field", name);
    if (resolve_output_field(L, r, v, args, &a->field, &a->arg_type, "summarize") < 0)
        return -1;
    switch (a->kind) {
    case C2W_AGG_DCOUNT:
        a->type = C2W_T_INT;
        break;
    case C2W_AGG_SUM:
        if (a->arg_type != C2W_T_INT && a->arg_type != C2W_T_NUM)
            return NERR(L, v, "summarize: sum() needs an integer or number field; '%s' is %s", args,
                        type_name(a->arg_type));
        a->type = a->arg_type;
        break;
    case C2W_AGG_MIN:
    case C2W_AGG_MAX:
        if (a->arg_type != C2W_T_INT && a->arg_type != C2W_T_NUM && a->arg_type != C2W_T_TIME)
            return NERR(L, v, "summarize: %s() needs an integer, number or time field; '%s' is %s", name, args,
                        type_name(a->arg_type));
        a->type = a->arg_type;
        break;
    case C2W_AGG_MAKE_SET: {
        a->type = C2W_T_STR;
        uint64_t n = RULE_SET_DEFAULT;
        if (arg2 && (!c2w_parse_u64(arg2, strlen(arg2), &n) || n == 0 || n > RULE_SET_MAX))
            return NERR(L, v, "summarize: make_set size must be 1..%d, got '%s'", RULE_SET_MAX, arg2);
        a->max_set = (size_t)n;
        break;
    }
    case C2W_AGG_COUNT:
        break;
    }
    return 0;
}

static int compile_summarize(load_t *L, c2w_rule_t *r, const c2w_ynode_t *s)
{
    if (c2w_ynode_kind(s) != C2W_Y_MAP || c2w_ynode_count(s) == 0)
        return NERR(L, s, "summarize must be a map Name: aggregate(), with at least one aggregate");
    r->aggs = c2w_arena_array(&L->rs->arena, c2w_ynode_count(s), sizeof(*r->aggs));
    if (!r->aggs)
        return oom(L, L->file);
    for (const c2w_ynode_t *k = c2w_ymap_first(s); k; k = c2w_ymap_next(k)) {
        if (compile_agg(L, r, k, c2w_ymap_value(k), &r->aggs[r->n_aggs]) < 0)
            return -1;
        r->n_aggs++;
    }
    return 0;
}

static const char *by_name(const c2w_rule_t *r, size_t i)
{
    return c2w_rule_field_name(r, r->by[i]);
}

/* A column for by field i, its name copied into the ruleset. */
static int by_column(load_t *L, const c2w_rule_t *r, size_t i, c2w_column_t *c)
{
    const char *name = by_name(r, i);
    c->is_agg = false;
    c->index = (int)i;
    if (!(c->name = c2w_arena_strndup(&L->rs->arena, name, strlen(name))))
        return oom(L, L->file);
    return 0;
}

static int compile_by(load_t *L, c2w_rule_t *r, const c2w_ynode_t *b)
{
    if (c2w_ynode_is_null(b))
        return 0;
    const c2w_ynode_t *first = c2w_ynode_kind(b) == C2W_Y_SEQ ? c2w_yseq_first(b) : b;
    size_t n = c2w_ynode_kind(b) == C2W_Y_SEQ ? c2w_ynode_count(b) : 1;
    if (c2w_ynode_kind(b) == C2W_Y_MAP)
        return NERR(L, b, "by must be a list of fields");
    r->by = c2w_arena_array(&L->rs->arena, n ? n : 1, sizeof(*r->by));
    if (!r->by)
        return oom(L, L->file);
    for (const c2w_ynode_t *it = first; it && r->n_by < n; it = c2w_yseq_next(it)) {
        if (need_text(L, it, "a by field") < 0)
            return -1;
        c2w_type_t t;
        if (resolve_output_field(L, r, it, c2w_ynode_str(it), &r->by[r->n_by], &t, "by") < 0)
            return -1;
        for (size_t j = 0; j < r->n_by; j++)
            if (r->by[j] == r->by[r->n_by])
                return NERR(L, it, "by: '%s' is listed twice", c2w_ynode_str(it));
        for (size_t j = 0; j < r->n_aggs; j++)
            if (strcmp(r->aggs[j].name, c2w_ynode_str(it)) == 0)
                return NERR(L, it, "by: '%s' is also the name of an aggregate", c2w_ynode_str(it));
        r->n_by++;
    }
    return 0;
}

static int compile_project(load_t *L, c2w_rule_t *r, const c2w_ynode_t *p)
{
    if (c2w_ynode_is_null(p)) {
        r->n_project = r->n_by + r->n_aggs;
        r->project = c2w_arena_array(&L->rs->arena, r->n_project ? r->n_project : 1, sizeof(*r->project));
        if (!r->project)
            return oom(L, L->file);
        for (size_t i = 0; i < r->n_by; i++)
            if (by_column(L, r, i, &r->project[i]) < 0)
                return -1;
        for (size_t i = 0; i < r->n_aggs; i++)
            r->project[r->n_by + i] = (c2w_column_t){ .name = r->aggs[i].name, .is_agg = true, .index = (int)i };
        return 0;
    }
    if (c2w_ynode_kind(p) != C2W_Y_SEQ || c2w_ynode_count(p) == 0)
        return NERR(L, p, "project must be a non-empty list of by fields and aggregates");
    r->project = c2w_arena_array(&L->rs->arena, c2w_ynode_count(p), sizeof(*r->project));
    if (!r->project)
        return oom(L, L->file);
    for (const c2w_ynode_t *it = c2w_yseq_first(p); it; it = c2w_yseq_next(it)) {
        if (need_text(L, it, "a project column") < 0)
            return -1;
        c2w_column_t *c = &r->project[r->n_project];
        c->index = -1;
        for (size_t i = 0; i < r->n_by && c->index < 0; i++)
            if (strcmp(by_name(r, i), c2w_ynode_str(it)) == 0 && by_column(L, r, i, c) < 0)
                return -1;
        for (size_t i = 0; i < r->n_aggs && c->index < 0; i++) {
            if (strcmp(r->aggs[i].name, c2w_ynode_str(it)) == 0)
                *c = (c2w_column_t){ .name = r->aggs[i].name, .is_agg = true, .index = (int)i };
        }
        if (c->index < 0)
            return NERR(L, it, "project: '%.*s' is neither a by field nor an aggregate", QS(it));
        for (size_t j = 0; j < r->n_project; j++)
            if (strcmp(r->project[j].name, c->name) == 0)
                return NERR(L, it, "project: '%.*s' is listed twice", QS(it));
        r->n_project++;
    }
    return 0;
}

static int compile_strings(load_t *L, const c2w_ynode_t *n, char ***out, size_t *n_out, const char *what)
{
    if (c2w_ynode_is_null(n))
        return 0;
    const c2w_ynode_t *first = c2w_ynode_kind(n) == C2W_Y_SEQ ? c2w_yseq_first(n) : n;
    size_t count = c2w_ynode_kind(n) == C2W_Y_SEQ ? c2w_ynode_count(n) : 1;
    if (c2w_ynode_kind(n) == C2W_Y_MAP)
        return NERR(L, n, "%s must be a list of strings", what);
    char **v = c2w_arena_array(&L->rs->arena, count ? count : 1, sizeof(*v));
    if (!v)
        return oom(L, L->file);
    size_t k = 0;
    for (const c2w_ynode_t *it = first; it && k < count; it = c2w_yseq_next(it)) {
        if (need_text(L, it, what) < 0)
            return -1;
        if (!(v[k++] = keep(L, it)))
            return -1;
    }
    *out = v;
    *n_out = k;
    return 0;
}

static int compile_duration(load_t *L, const c2w_ynode_t *n, c2w_time_t *out, bool zero_ok, const char *what)
{
    if (need_text(L, n, what) < 0)
        return -1;
    if (zero_ok && strcmp(c2w_ynode_str(n), "0") == 0) {
        *out = 0;
        return 0;
    }
    if (!c2w_duration_parse(c2w_ynode_str(n), out))
        return NERR(L, n, "%s: bad duration '%.*s' (expected a number and a unit: 500ms, 90s, 30m, 24h, 1d)", what,
                    QS(n));
    return 0;
}

enum {
    K_ID,
    K_TITLE,
    K_DESCRIPTION,
    K_ATTACK,
    K_SEVERITY,
    K_WINDOW,
    K_SUPPRESS,
    K_EMIT,
    K_ATTRIBUTED,
    K_WHERE,
    K_EXTEND,
    K_SUMMARIZE,
    K_BY,
    K_HAVING,
    K_PROJECT,
    K_COUNT
};

static const char *const rule_keys[K_COUNT] = {
    "id",    "title",  "description", "attack",    "severity", "window", "suppress", "emit",
    "attributed", "where", "extend", "summarize", "by", "having", "project",
};

static const char *const severities[] = { "informational", "low", "medium", "high", "critical" };

static int compile_rule(load_t *L, const c2w_ynode_t *m, c2w_rule_t *r)
{
    if (c2w_ynode_kind(m) != C2W_Y_MAP)
        return NERR(L, m, "a rule must be a map (id:, title:, ...), not %s", c2w_ynode_kind_name(m));
    const c2w_ynode_t *key[K_COUNT] = { 0 };
    for (const c2w_ynode_t *k = c2w_ymap_first(m); k; k = c2w_ymap_next(k)) {
        int i;
        for (i = 0; i < K_COUNT; i++)
            if (strcmp(rule_keys[i], c2w_ynode_str(k)) == 0)
                break;
        if (i == K_COUNT)
            return NERR(L, k, "unknown rule key '%.*s'", QS(k));
        key[i] = c2w_ymap_value(k);
    }
    static const int required[] = { K_ID, K_TITLE, K_SEVERITY, K_WINDOW, K_SUMMARIZE };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!key[required[i]])
            return NERR(L, m, "rule is missing required key '%s'", rule_keys[required[i]]);

    r->line = c2w_ynode_line(m);
    r->attributed_required = true;
    if (!(r->file = c2w_arena_strndup(&L->rs->arena, L->file, strlen(L->file))))
        return oom(L, L->file);

    if (need_text(L, key[K_ID], "id") < 0 || !(r->id = keep(L, key[K_ID])))
        return -1;
    for (size_t i = 0; i < L->rs->n_rules; i++) {
        const c2w_rule_t *o = &L->rs->rules[i];
        if (strcmp(o->id, r->id) == 0)
            return NERR(L, key[K_ID], "duplicate rule id '%s' (first defined at %s:%u)", r->id, o->file, o->line);
    }
    if (need_text(L, key[K_TITLE], "title") < 0 || !(r->title = keep(L, key[K_TITLE])))
        return -1;
    if (key[K_DESCRIPTION] && !c2w_ynode_is_null(key[K_DESCRIPTION])) {
        if (need_scalar(L, L->file, key[K_DESCRIPTION], "description") < 0
            || !(r->description = keep(L, key[K_DESCRIPTION])))
            return -1;
    }
    if (compile_strings(L, key[K_ATTACK], &r->attack, &r->n_attack, "attack") < 0)
        return -1;
    if (need_text(L, key[K_SEVERITY], "severity") < 0)
        return -1;
    bool sev_ok = false;
    for (size_t i = 0; i < sizeof(severities) / sizeof(severities[0]); i++)
        sev_ok = sev_ok || strcmp(severities[i], c2w_ynode_str(key[K_SEVERITY])) == 0;
    if (!sev_ok)
        return NERR(L, key[K_SEVERITY], "severity must be informational, low, medium, high or critical, not '%.*s'",
                    QS(key[K_SEVERITY]));
    if (!(r->severity = keep(L, key[K_SEVERITY])))
        return -1;
    if (compile_duration(L, key[K_WINDOW], &r->window, false, "window") < 0)
        return -1;
    if (key[K_SUPPRESS] && compile_duration(L, key[K_SUPPRESS], &r->suppress, true, "suppress") < 0)
        return -1;
    if (key[K_EMIT]) {
        const c2w_ynode_t *e = key[K_EMIT];
        if (c2w_ynode_is(e, "final"))
            r->emit = C2W_EMIT_FINAL;
        else if (c2w_ynode_is(e, "threshold"))
            r->emit = C2W_EMIT_THRESHOLD;
        else
            return NERR(L, e, "emit must be final or threshold");
    }
    if (key[K_ATTRIBUTED]) {
        const c2w_ynode_t *a = key[K_ATTRIBUTED];
        if (c2w_ynode_is(a, "required"))
            r->attributed_required = true;
        else if (c2w_ynode_is(a, "optional"))
            r->attributed_required = false;
        else
            return NERR(L, a, "attributed must be required or optional");
    }

    /* Semantic order, whatever the order of the keys: extend names (so that
     * where can tell it cannot use them), where, extend cases, summarize,
     * by, having, project. */
    if (extend_names(L, r, key[K_EXTEND]) < 0)
        return -1;
    scope_t where_scope = { .kind = SC_WHERE, .r = r };
    if (compile_conds(L, &where_scope, key[K_WHERE], &r->where, &r->n_where, "where") < 0)
        return -1;
    if (compile_extend(L, r, key[K_EXTEND]) < 0)
        return -1;
    if (compile_summarize(L, r, key[K_SUMMARIZE]) < 0)
        return -1;
    if (compile_by(L, r, key[K_BY]) < 0)
        return -1;
    scope_t having_scope = { .kind = SC_HAVING, .r = r };
    if (compile_conds(L, &having_scope, key[K_HAVING], &r->having, &r->n_having, "having") < 0)
        return -1;
    if (compile_project(L, r, key[K_PROJECT]) < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Files and the load.                                                */

/* Checks a file's top level and registers its lists. */
static int collect_lists(load_t *L, const rule_file_t *f)
{
    L->file = f->path;
    const c2w_ynode_t *root = f->root;
    if (!root || c2w_ynode_is_null(root))
        return errf(L, f->path, 1, 1, "empty rule file (expected lists: and rules:)");
    if (c2w_ynode_kind(root) != C2W_Y_MAP)
        return NERR(L, root, "a rule file must be a map with lists: and rules:, not %s", c2w_ynode_kind_name(root));
    for (const c2w_ynode_t *k = c2w_ymap_first(root); k; k = c2w_ymap_next(k))
        if (!c2w_ynode_is(k, "lists") && !c2w_ynode_is(k, "rules"))
            return NERR(L, k, "unknown top-level key '%.*s' (expected lists, rules)", QS(k));
    const c2w_ynode_t *lists = c2w_ymap_get(root, "lists");
    if (c2w_ynode_is_null(lists))
        return 0;
    if (c2w_ynode_kind(lists) != C2W_Y_MAP)
        return NERR(L, lists, "lists must be a map name: [values]");
    for (const c2w_ynode_t *k = c2w_ymap_first(lists); k; k = c2w_ymap_next(k)) {
        const c2w_ynode_t *v = c2w_ymap_value(k);
        if (!valid_name(k))
            return NERR(L, k, "bad list name '%.*s'", QS(k));
        const list_def_t *prev = list_find(L, c2w_ynode_str(k));
        if (prev)
            return NERR(L, k, "list '%s' is already defined at %s:%u:%u", c2w_ynode_str(k), prev->file,
                        c2w_ynode_line(prev->key), c2w_ynode_col(prev->key));
        if (!c2w_ynode_is_null(v) && c2w_ynode_kind(v) != C2W_Y_SEQ)
            return NERR(L, v, "list '%s' must be a list [a, b, ...], not %s", c2w_ynode_str(k), c2w_ynode_kind_name(v));
        if (c2w_ynode_kind(v) == C2W_Y_SEQ)
            for (const c2w_ynode_t *it = c2w_yseq_first(v); it; it = c2w_yseq_next(it))
                if (c2w_ynode_kind(it) != C2W_Y_SCALAR || c2w_ynode_is_null(it))
                    return NERR(L, it, "list '%s': items must be single values", c2w_ynode_str(k));
        if (L->n_lists >= RULE_MAX_LISTS)
            return NERR(L, k, "too many lists (more than %d)", RULE_MAX_LISTS);
        L->lists[L->n_lists++] = (list_def_t){ .name = c2w_ynode_str(k), .file = f->path, .key = k, .seq = v };
    }
    return 0;
}

static int compile_file(load_t *L, const rule_file_t *f)
{
    L->file = f->path;
    const c2w_ynode_t *rules = c2w_ymap_get(f->root, "rules");
    const c2w_ynode_t *lists = c2w_ymap_get(f->root, "lists");
    bool has_lists = lists && c2w_ynode_kind(lists) == C2W_Y_MAP && c2w_ynode_count(lists) > 0;
    if (!rules || c2w_ynode_is_null(rules) || (c2w_ynode_kind(rules) == C2W_Y_SEQ && c2w_ynode_count(rules) == 0)) {
        if (has_lists)
            return 0;
        const c2w_ynode_t *at = rules ? rules : f->root;
        return NERR(L, at, "no rules (a file without rules must define lists)");
    }
    if (c2w_ynode_kind(rules) != C2W_Y_SEQ)
        return NERR(L, rules, "rules must be a list of rules");
    for (const c2w_ynode_t *it = c2w_yseq_first(rules); it; it = c2w_yseq_next(it)) {
        if (L->rs->n_rules >= RULE_MAX_RULES)
            return NERR(L, it, "too many rules (more than %d)", RULE_MAX_RULES);
        c2w_rule_t *r = &L->rs->rules[L->rs->n_rules];
        if (compile_rule(L, it, r) < 0)
            return -1;
        L->rs->n_rules++;
    }
    return 0;
}

static bool yaml_name(const char *n)
{
    size_t len = strlen(n);
    if (n[0] == '.')
        return false;
    return (len > 5 && strcmp(n + len - 5, ".yaml") == 0) || (len > 4 && strcmp(n + len - 4, ".yml") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fills L->files with path itself, or the *.yaml / *.yml files of a
 * directory sorted by name. */
static int list_files(load_t *L, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errf(L, path, 1, 1, "cannot open: %s", strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        L->files = c2w_arena_alloc(&L->tmp, sizeof(*L->files));
        if (!L->files)
            return oom(L, path);
        L->files[0].path = path;
        L->n_files = 1;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return errf(L, path, 1, 1, "cannot open directory: %s", strerror(errno));
    const char **names = c2w_arena_array(&L->tmp, RULE_MAX_FILES, sizeof(*names));
    if (!names) {
        closedir(d);
        return oom(L, path);
    }
    size_t n = 0;
    size_t plen = strlen(path);
    bool slash = plen > 0 && path[plen - 1] == '/';
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!yaml_name(de->d_name))
            continue;
        if (n >= RULE_MAX_FILES) {
            closedir(d);
            return errf(L, path, 1, 1, "too many rule files (more than %d)", RULE_MAX_FILES);
        }
        size_t nlen = strlen(de->d_name);
        char *full = c2w_arena_alloc(&L->tmp, plen + nlen + 2);
        if (!full) {
            closedir(d);
            return oom(L, path);
        }
        snprintf(full, plen + nlen + 2, "%s%s%s", path, slash ? "" : "/", de->d_name);
        struct stat fst;
        if (stat(full, &fst) != 0 || !S_ISREG(fst.st_mode))
            continue;
        names[n++] = full;
    }
    closedir(d);
    if (n == 0)
        return errf(L, path, 1, 1, "no *.yaml or *.yml rule files in this directory");
    qsort(names, n, sizeof(*names), cmp_str);
    L->files = c2w_arena_array(&L->tmp, n, sizeof(*L->files));
    if (!L->files)
        return oom(L, path);
    for (size_t i = 0; i < n; i++)
        L->files[i].path = names[i];
    L->n_files = n;
    return 0;
}

static size_t count_children(const c2w_ynode_t *root, const char *key)
{
    const c2w_ynode_t *n = c2w_ymap_get(root, key);
    return n ? c2w_ynode_count(n) : 0;
}

int c2w_ruleset_load(const char *path, c2w_ruleset_t **out, char *errbuf, size_t errlen)
{
    load_t L = { .errbuf = errbuf, .errlen = errlen };
    if (errbuf && errlen)
        errbuf[0] = '\0';
    *out = NULL;
    L.rs = calloc(1, sizeof(*L.rs));
    if (!L.rs) {
        oom(&L, path);
        return -1;
    }
    if (list_files(&L, path) < 0)
        goto out_fail;

    size_t n_rules = 0, n_lists = 0;
    for (size_t i = 0; i < L.n_files; i++) {
        if (parse_file(&L, &L.files[i]) < 0)
            goto out_fail;
        n_rules += count_children(L.files[i].root, "rules");
        n_lists += count_children(L.files[i].root, "lists");
    }
    L.lists = c2w_arena_array(&L.tmp, n_lists ? n_lists : 1, sizeof(*L.lists));
    L.rs->rules = c2w_arena_array(&L.rs->arena, n_rules ? n_rules : 1, sizeof(*L.rs->rules));
    if (!L.lists || !L.rs->rules) {
        oom(&L, path);
        goto out_fail;
    }
    for (size_t i = 0; i < L.n_files; i++)
        if (collect_lists(&L, &L.files[i]) < 0)
            goto out_fail;
    for (size_t i = 0; i < L.n_files; i++)
        if (compile_file(&L, &L.files[i]) < 0)
            goto out_fail;
    if (L.rs->n_rules == 0) {
        errf(&L, path, 1, 1, "no rules found");
        goto out_fail;
    }
    free_docs(&L);
    c2w_arena_free(&L.tmp);
    *out = L.rs;
    return 0;

out_fail:
    free_docs(&L);
    c2w_arena_free(&L.tmp);
    c2w_ruleset_free(L.rs);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Evaluation.                                                        */

static bool value_eq(const c2w_value_t *a, const c2w_value_t *b, c2w_type_t t)
{
    switch (t) {
    case C2W_T_STR:
        return strcmp(a->s, b->s) == 0;
    case C2W_T_INT:
        return a->u == b->u;
    case C2W_T_NUM:
        return a->d == b->d;
    case C2W_T_TIME:
        return a->t == b->t;
    case C2W_T_IP:
        return a->ip.family == b->ip.family && a->ip.family != 0
            && memcmp(a->ip.addr, b->ip.addr, a->ip.family == 4 ? 4 : 16) == 0;
    }
    return false;
}

/* <0, 0, >0; only for INT, NUM, TIME. */
static int value_cmp(const c2w_value_t *a, const c2w_value_t *b, c2w_type_t t)
{
    switch (t) {
    case C2W_T_INT:
        return a->u < b->u ? -1 : a->u > b->u;
    case C2W_T_NUM:
        return a->d < b->d ? -1 : a->d > b->d;
    case C2W_T_TIME:
        return a->t < b->t ? -1 : a->t > b->t;
    default:
        return 0;
    }
}

static bool in_list(const c2w_cond_t *c, const c2w_value_t *v, bool ci)
{
    for (size_t i = 0; i < c->n_vals; i++) {
        if (ci ? c2w_eq_ci(v->s, c->vals[i].s) : value_eq(v, &c->vals[i], c->type))
            return true;
    }
    return false;
}

static bool in_cidrs(const c2w_cond_t *c, const c2w_value_t *v)
{
    for (size_t i = 0; i < c->n_cidrs; i++)
        if (cidr_match(&c->cidrs[i], &v->ip))
            return true;
    return false;
}

bool c2w_cond_eval(const c2w_cond_t *c, const c2w_value_t *v)
{
    bool present = v && v->present && !(v->type == C2W_T_STR && !v->s);
    if (present && v->type != c->type)
        present = false; /* not comparable: treated as absent */
    if (!present) {
        switch (c->op) {
        case C2W_OP_NE:
        case C2W_OP_NOT_IN:
        case C2W_OP_NOT_IN_CI:
        case C2W_OP_NOT_IN_CIDR:
            return true;
        case C2W_OP_EXISTS:
            return !c->exists;
        default:
            return false;
        }
    }
    switch (c->op) {
    case C2W_OP_EQ:
        return c->n_vals > 0 && value_eq(v, &c->vals[0], c->type);
    case C2W_OP_NE:
        return !(c->n_vals > 0 && value_eq(v, &c->vals[0], c->type));
    case C2W_OP_IN:
        return in_list(c, v, false);
    case C2W_OP_NOT_IN:
        return !in_list(c, v, false);
    case C2W_OP_IN_CI:
        return in_list(c, v, true);
    case C2W_OP_NOT_IN_CI:
        return !in_list(c, v, true);
    case C2W_OP_GT:
        return c->n_vals > 0 && value_cmp(v, &c->vals[0], c->type) > 0;
    case C2W_OP_GE:
        return c->n_vals > 0 && value_cmp(v, &c->vals[0], c->type) >= 0;
    case C2W_OP_LT:
        return c->n_vals > 0 && value_cmp(v, &c->vals[0], c->type) < 0;
    case C2W_OP_LE:
        return c->n_vals > 0 && value_cmp(v, &c->vals[0], c->type) <= 0;
    case C2W_OP_CONTAINS_CI:
        return c->n_vals > 0 && c2w_contains_ci(v->s, c->vals[0].s);
    case C2W_OP_STARTSWITH_CI:
        return c->n_vals > 0 && c2w_startswith_ci(v->s, c->vals[0].s);
    case C2W_OP_ENDSWITH_CI:
        return c->n_vals > 0 && c2w_endswith_ci(v->s, c->vals[0].s);
    case C2W_OP_MATCHES:
        return c->re && regexec(c->re, v->s, 0, NULL, 0) == 0;
    case C2W_OP_IN_CIDR:
        return in_cidrs(c, v);
    case C2W_OP_NOT_IN_CIDR:
        return !in_cidrs(c, v);
    case C2W_OP_EXISTS:
        return c->exists;
    case C2W_OP_COUNT:
        break;
    }
    return false;
}

const char *c2w_rule_field_name(const c2w_rule_t *r, c2w_fref_t f)
{
    if (f >= 0 && f < C2W_F_COUNT)
        return c2w_field_name((c2w_field_t)f);
    if (r && f >= C2W_F_COUNT && (size_t)(f - C2W_F_COUNT) < r->n_ext)
        return r->ext[f - C2W_F_COUNT].name;
    return "";
}

c2w_type_t c2w_rule_field_type(const c2w_rule_t *r, c2w_fref_t f)
{
    if (f >= 0 && f < C2W_F_COUNT)
        return c2w_field_type((c2w_field_t)f);
    return C2W_T_STR;
}

void c2w_rule_field_get(const c2w_rule_t *r, const c2w_attributed_t *a, const c2w_value_t *ext, c2w_fref_t f,
                        c2w_value_t *out)
{
    if (f >= 0 && f < C2W_F_COUNT) {
        c2w_field_get(a, (c2w_field_t)f, out);
        return;
    }
    memset(out, 0, sizeof(*out));
    out->type = C2W_T_STR;
    out->s = "";
    if (ext && r && f >= C2W_F_COUNT && (size_t)(f - C2W_F_COUNT) < r->n_ext)
        *out = ext[f - C2W_F_COUNT];
}

bool c2w_rule_eval(const c2w_rule_t *r, const c2w_attributed_t *a, c2w_value_t *ext_out)
{
    /* attributed: required means unattributed flows never reach the rule;
     * checking here too keeps a caller from feeding them by mistake (their
     * absent process fields would pass every not_in_* exclusion). */
    if (r->attributed_required && !a->attributed)
        return false;
    c2w_value_t v;
    for (size_t i = 0; i < r->n_where; i++) {
        c2w_field_get(a, (c2w_field_t)r->where[i].field, &v);
        if (!c2w_cond_eval(&r->where[i], &v))
            return false;
    }
    for (size_t i = 0; i < r->n_ext; i++) {
        const c2w_extend_t *e = &r->ext[i];
        const char *res = e->otherwise;
        for (size_t j = 0; j < e->n_cases; j++) {
            const c2w_case_t *cs = &e->cases[j];
            bool all = true;
            for (size_t k = 0; k < cs->n_conds && all; k++) {
                c2w_rule_field_get(r, a, ext_out, cs->conds[k].field, &v);
                all = c2w_cond_eval(&cs->conds[k], &v);
            }
            if (all) {
                res = cs->then;
                break;
            }
        }
        memset(&ext_out[i], 0, sizeof(ext_out[i]));
        ext_out[i].type = C2W_T_STR;
        ext_out[i].present = true;
        ext_out[i].s = res;
    }
    return true;
}

bool c2w_rule_having(const c2w_rule_t *r, const c2w_value_t *aggs)
{
    for (size_t i = 0; i < r->n_having; i++) {
        const c2w_cond_t *c = &r->having[i];
        if (c->field < 0 || (size_t)c->field >= r->n_aggs || !c2w_cond_eval(c, &aggs[c->field]))
            return false;
    }
    return true;
}

/* The ports a rule admits, from its top-level where: the tightest
 * RemotePort in/eq test (every where test must hold, so any one of them is
 * a superset of what the rule can match). */
void c2w_ruleset_port_filter(const c2w_ruleset_t *rs, uint8_t map[8192], bool *all)
{
    memset(map, 0, 8192);
    *all = false;
    for (size_t i = 0; rs && i < rs->n_rules; i++) {
        const c2w_rule_t *r = &rs->rules[i];
        const c2w_cond_t *best = NULL;
        for (size_t j = 0; j < r->n_where; j++) {
            const c2w_cond_t *c = &r->where[j];
            if (c->field != C2W_F_REMOTE_PORT || c->type != C2W_T_INT)
                continue;
            if (c->op != C2W_OP_IN && c->op != C2W_OP_EQ)
                continue;
            if (!best || c->n_vals < best->n_vals)
                best = c;
        }
        if (!best) {
            *all = true;
            continue;
        }
        for (size_t k = 0; k < best->n_vals; k++) {
            uint64_t p = best->vals[k].u;
            if (p <= 65535)
                map[p >> 3] |= (uint8_t)(1u << (p & 7));
        }
    }
}
