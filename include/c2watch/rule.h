/*
 * rule.h — the rule model, its libyaml loader, and predicate evaluation.
 *
 * A ruleset owns everything reachable from it (rules, conditions, strings,
 * compiled regexes); the engine only reads it. Loading either returns a
 * complete, checked ruleset or refuses with "file:line:column: message".
 */
#ifndef C2WATCH_RULE_H
#define C2WATCH_RULE_H

#include <regex.h>

#include "c2watch/record.h"

typedef enum c2w_op {
    C2W_OP_EQ = 0,
    C2W_OP_NE,
    C2W_OP_IN,
    C2W_OP_NOT_IN,
    C2W_OP_IN_CI,
    C2W_OP_NOT_IN_CI,
    C2W_OP_GT,
    C2W_OP_GE,
    C2W_OP_LT,
    C2W_OP_LE,
    C2W_OP_CONTAINS_CI,
    C2W_OP_STARTSWITH_CI,
    C2W_OP_ENDSWITH_CI,
    C2W_OP_MATCHES,
    C2W_OP_IN_CIDR,
    C2W_OP_NOT_IN_CIDR,
    C2W_OP_EXISTS,
    C2W_OP_COUNT
} c2w_op_t;

/* Name of an operator as written in YAML ("not_in_ci"). */
const char *c2w_op_name(c2w_op_t op);

typedef struct c2w_cidr {
    c2w_ip_t net; /* host bits cleared */
    unsigned prefix; /* 0..32 or 0..128 */
} c2w_cidr_t;

/* Field references. A rule sees the catalog fields (0 .. C2W_F_COUNT-1) and
 * its own extend fields (C2W_F_COUNT + index into rule->ext). An extend field
 * may shadow a catalog field of the same name (KQL's extend Protocol = ...):
 * after `extend`, the name resolves to the extend field. */
typedef int c2w_fref_t;

/* One test on one value: Field: {op: operand}. */
typedef struct c2w_cond {
    c2w_fref_t field; /* in where/case: a field ref; in having: an aggregate index */
    c2w_op_t op;
    c2w_type_t type; /* type of the tested value */
    c2w_value_t *vals; /* operand(s): 1 for scalar ops, n for list ops; owned */
    size_t n_vals;
    c2w_cidr_t *cidrs; /* in_cidr / not_in_cidr; owned */
    size_t n_cidrs;
    regex_t *re; /* matches (REG_EXTENDED|REG_NOSUB); owned */
    bool exists; /* exists: true|false */
} c2w_cond_t;

/* One `case` branch of an extend: all conds true -> then. */
typedef struct c2w_case {
    c2w_cond_t *conds;
    size_t n_conds;
    char *then;
} c2w_case_t;

/* extend: Name: {case: [...], else: X} or Name: "constant". Result is a string. */
typedef struct c2w_extend {
    char *name;
    c2w_case_t *cases;
    size_t n_cases;
    char *otherwise; /* `else`, "" when absent */
} c2w_extend_t;

typedef enum c2w_agg_kind {
    C2W_AGG_COUNT = 0,
    C2W_AGG_DCOUNT,
    C2W_AGG_SUM,
    C2W_AGG_MIN,
    C2W_AGG_MAX,
    C2W_AGG_MAKE_SET
} c2w_agg_kind_t;

typedef struct c2w_agg {
    char *name; /* output column, e.g. "ConnectionCount" */
    c2w_agg_kind_t kind;
    c2w_fref_t field; /* argument; -1 for count() */
    c2w_type_t arg_type; /* type of the argument field */
    c2w_type_t type; /* result: INT for count/dcount, arg type for min/max,
                        INT or NUM for sum, STR (a JSON array) for make_set */
    size_t max_set; /* make_set(F, N): N (default 10, at most 1000) */
} c2w_agg_t;

/* A projected column: a `by` field or an aggregate. */
typedef struct c2w_column {
    char *name;
    bool is_agg;
    int index; /* into rule->by or rule->aggs */
} c2w_column_t;

typedef enum c2w_emit { C2W_EMIT_DEFAULT = 0, C2W_EMIT_FINAL, C2W_EMIT_THRESHOLD } c2w_emit_t;

typedef struct c2w_rule {
    char *id, *title, *severity; /* severity: informational|low|medium|high|critical */
    char *description; /* may be NULL */
    char **attack; /* ATT&CK technique ids */
    size_t n_attack;
    char *file; /* where it was defined, for messages */
    unsigned line;
    c2w_time_t window; /* required, > 0 */
    c2w_time_t suppress; /* 0 = the window */
    c2w_emit_t emit; /* C2W_EMIT_DEFAULT: the command's default */
    bool attributed_required; /* attributed: required (default) | optional */
    c2w_cond_t *where; /* all must hold; fields are catalog fields only */
    size_t n_where;
    c2w_extend_t *ext;
    size_t n_ext;
    c2w_fref_t *by; /* group key */
    size_t n_by;
    c2w_agg_t *aggs; /* in summarize order */
    size_t n_aggs;
    c2w_cond_t *having; /* cond.field = aggregate index */
    size_t n_having;
    c2w_column_t *project; /* output columns; default: by then aggregates */
    size_t n_project;
} c2w_rule_t;

typedef struct c2w_ruleset c2w_ruleset_t;

/* Loads a YAML file, or every *.yaml / *.yml file of a directory (sorted by
 * name; lists are shared by the files of one load). Returns 0 and *out, or
 * -1 with "file:line:column: message" in errbuf (nothing allocated). */
int c2w_ruleset_load(const char *path, c2w_ruleset_t **out, char *errbuf, size_t errlen);
void c2w_ruleset_free(c2w_ruleset_t *rs);
size_t c2w_ruleset_count(const c2w_ruleset_t *rs);
const c2w_rule_t *c2w_ruleset_rule(const c2w_ruleset_t *rs, size_t i);

/* Remote ports any rule can match: sets bit p of map (65536 bits) for each
 * port a rule's RemotePort in/eq condition admits; *all = true when some
 * rule does not constrain RemotePort that way (then every port matters). */
void c2w_ruleset_port_filter(const c2w_ruleset_t *rs, uint8_t map[8192], bool *all);

/* Name and type of a field reference in this rule. */
const char *c2w_rule_field_name(const c2w_rule_t *r, c2w_fref_t f);
c2w_type_t c2w_rule_field_type(const c2w_rule_t *r, c2w_fref_t f);

/* Evaluates one condition on a value (absent values fail every operator
 * except ne/not_in/not_in_ci/not_in_cidr and exists: false). */
bool c2w_cond_eval(const c2w_cond_t *c, const c2w_value_t *v);

/* Applies where and computes the extend fields of a: returns false when a
 * where condition fails. On true, ext_out[i] (n_ext entries, caller's
 * array) holds extend field i as a borrowed string value. */
bool c2w_rule_eval(const c2w_rule_t *r, const c2w_attributed_t *a, c2w_value_t *ext_out);

/* Value of field reference f for a, with ext the values from c2w_rule_eval. */
void c2w_rule_field_get(const c2w_rule_t *r, const c2w_attributed_t *a, const c2w_value_t *ext,
                        c2w_fref_t f, c2w_value_t *out);

/* True when every having condition holds; aggs[i] is aggregate i's value. */
bool c2w_rule_having(const c2w_rule_t *r, const c2w_value_t *aggs);

#endif
