/*
 * alert.h — the alert (SPEC §6): its fields, its deterministic id, and its
 * encodings (NDJSON line, table).
 *
 * Ownership: an alert handed to a callback is lent for that call; every
 * pointer in it is borrowed from the engine.
 */
#ifndef C2WATCH_ALERT_H
#define C2WATCH_ALERT_H

#include "c2watch/rule.h"
#include "c2watch/util.h"

typedef struct c2w_alert_col {
    const char *name;
    c2w_value_t v;
    const char *raw_json; /* non-NULL: emit this JSON text (make_set) instead of v */
} c2w_alert_col_t;

typedef struct c2w_alert {
    const c2w_rule_t *rule;
    c2w_emit_t mode; /* C2W_EMIT_FINAL or C2W_EMIT_THRESHOLD */
    c2w_time_t window_start, window_end; /* the window the figures cover: (start, end] */
    const c2w_alert_col_t *cols; /* project columns, in order */
    size_t n_cols;
    const char *group_key; /* by-values joined with '|': the Kafka message key */
    char alert_id[33]; /* 32 hex digits */
    /* evidence */
    const char *const *uids; /* most recent Zeek uids of the group */
    size_t n_uids;
    const char *const *community_ids;
    size_t n_community_ids;
    const char *process_guid, *command_line, *remote_url; /* latest, may be NULL */
} c2w_alert_t;

/* Deterministic id: hash of rule id, group key and what the alert is
 * anchored at (threshold: Timestamp and uid of the earliest flow in the
 * window, when the group crossed, that had no part in its previous alert;
 * final: the evaluation time). Writes 32 hex digits and a NUL into out. */
void c2w_alert_make_id(const char *rule_id, const char *group_key, c2w_time_t anchor, const char *uid,
                       char out[33]);

/* Appends the alert as one JSON object plus "\n" to out. emitted_at is the
 * wall-clock time of emission. Returns 0 or -1 on OOM. */
int c2w_alert_to_json(const c2w_alert_t *a, c2w_time_t emitted_at, c2w_buf_t *out);

/* Appends the text of one value (as in a table cell) to out. */
int c2w_value_to_text(const c2w_value_t *v, c2w_buf_t *out);

/* Appends v as JSON: numbers bare, absent as null, others as strings. */
int c2w_value_json(c2w_buf_t *out, const c2w_value_t *v);

/* Appends an attributed flow as one JSON object plus "\n": every catalog
 * field by its Defender-style name, and "Attributed". */
int c2w_attributed_to_json(const c2w_attributed_t *a, c2w_buf_t *out);

/* Appends a JSON string literal of s (quoted, escaped) to out. */
int c2w_json_string(c2w_buf_t *out, const char *s);

#endif
