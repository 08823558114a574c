/*
 * decode.h — one JSON record (an NDJSON line or a Kafka message) to a
 * normalized record, with strict validation (SPEC §2).
 *
 * Ownership: the decoder borrows the input buffer for the duration of the
 * call; on C2W_DEC_OK the caller owns *out and frees it with
 * c2w_record_clear(). A decoder is used by one thread at a time.
 */
#ifndef C2WATCH_DECODE_H
#define C2WATCH_DECODE_H

#include "c2watch/record.h"

typedef enum c2w_source_kind {
    C2W_SRC_ZEEK = 0, /* Zeek conn.log JSON: dotted, nested, or {"conn":{...}} */
    C2W_SRC_SYSMON, /* Sysmon: flat, Winlogbeat 7+, Winlogbeat 6 */
    C2W_SRC_EVE, /* Suricata eve.json, event_type flow */
    C2W_SRC_COUNT
} c2w_source_kind_t;

/* Name of a source kind: "zeek", "sysmon", "eve". */
const char *c2w_source_name(c2w_source_kind_t k);

typedef enum c2w_dec_status {
    C2W_DEC_OK = 0, /* *out holds a record */
    C2W_DEC_SKIP, /* valid, but not for us (counted by skip reason) */
    C2W_DEC_REJECT /* invalid, rejected whole (counted by reject reason) */
} c2w_dec_status_t;

/* Why a record was rejected. Names (c2w_reject_name) are stable: they are
 * the statistics keys and the dead-letter reason header. */
typedef enum c2w_reject {
    C2W_REJ_EMPTY = 0, /* empty or whitespace-only line */
    C2W_REJ_TOO_BIG, /* over max_record_bytes */
    C2W_REJ_BAD_JSON, /* not valid JSON (or trailing garbage) */
    C2W_REJ_BAD_UTF8, /* invalid UTF-8 */
    C2W_REJ_NOT_OBJECT, /* top-level value not an object */
    C2W_REJ_TOO_DEEP, /* nesting deeper than max_depth */
    C2W_REJ_DUPLICATE_KEY, /* a field the decoder reads appears twice */
    C2W_REJ_MISSING_FIELD, /* a required field is absent */
    C2W_REJ_BAD_TYPE, /* a field has the wrong JSON type */
    C2W_REJ_BAD_VALUE, /* right type, unusable value (NUL byte, bad bool, bad number) */
    C2W_REJ_BAD_IP, /* not an IPv4/IPv6 address */
    C2W_REJ_BAD_PORT, /* not an integer in 0..65535 */
    C2W_REJ_BAD_TIME, /* unparsable, not finite, or outside 2000..2100 */
    C2W_REJ_BAD_PROTO, /* unknown protocol */
    C2W_REJ_NO_MEMORY, /* out of memory decoding it (a good record may decode later) */
    C2W_REJ_COUNT
} c2w_reject_t;

typedef enum c2w_skip {
    C2W_SKIP_EVENT_ID = 0, /* Sysmon event other than 1, 3, 5, 22 */
    C2W_SKIP_CHANNEL, /* a Windows event that is not Sysmon */
    C2W_SKIP_EVENT_TYPE, /* Suricata event other than flow */
    C2W_SKIP_OTHER_LOG, /* a Zeek record of another log (_path not conn) */
    C2W_SKIP_COUNT
} c2w_skip_t;

const char *c2w_reject_name(c2w_reject_t r);
const char *c2w_skip_name(c2w_skip_t s);

typedef struct c2w_decode_opts {
    size_t max_record_bytes; /* 0 = default 1 MiB */
    unsigned max_depth; /* 0 = default 64 */
    bool full_parse; /* always parse with yajl, never the fast path (tests, comparisons) */
} c2w_decode_opts_t;

/* What happened to one record. */
typedef struct c2w_dec_result {
    c2w_dec_status_t status;
    int reason; /* c2w_reject_t or c2w_skip_t, by status */
    char detail[160]; /* e.g. "missing_field: id.orig_h"; "" on OK */
} c2w_dec_result_t;

typedef struct c2w_decoder c2w_decoder_t;

/* New decoder for one source kind; opts may be NULL. NULL on OOM. */
c2w_decoder_t *c2w_decoder_new(c2w_source_kind_t kind, const c2w_decode_opts_t *opts);
void c2w_decoder_free(c2w_decoder_t *d);

/* Remote ports some rule can match, as a bitmap of 65536 bits (NULL: all;
 * the default). A flow or event 3 to any other port is still validated
 * and counted as usual, but comes back lean: only its times, ports and
 * (event 3) host are filled, its other strings are NULL. The bitmap is
 * borrowed and must outlive the decoder. */
void c2w_decoder_set_ports(c2w_decoder_t *d, const uint8_t *ports);

/* Records phase 1 parsed on the fast path (flat objects of scalars) and
 * records handed to yajl, since the decoder was made. */
void c2w_decoder_counts(const c2w_decoder_t *d, uint64_t *fast, uint64_t *full);

/* Decodes one record of len bytes (a trailing "\n" or "\r\n" is allowed).
 * Returns res->status; on C2W_DEC_OK *out is filled and owned by the
 * caller, otherwise *out is left as C2W_REC_NONE. */
c2w_dec_status_t c2w_decode(c2w_decoder_t *d, const char *buf, size_t len, c2w_record_t *out,
                            c2w_dec_result_t *res);

#endif
