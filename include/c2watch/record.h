/*
 * record.h — normalized records, value types and the field catalog.
 *
 * Ownership: every char * in a record is NUL-terminated and owned by the
 * record; NULL means "absent". Either each is a heap allocation of its own
 * (`strings` NULL), or all of them live in the one heap block `strings`
 * (the decoder's records: one allocation per record instead of one per
 * field). c2w_record_clear() frees whichever it is; a stage that keeps one
 * string of a record after the record is cleared takes it with
 * c2w_take_string(). Nothing here knows about JSON or Kafka.
 */
#ifndef C2WATCH_RECORD_H
#define C2WATCH_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Event time: microseconds since the Unix epoch, UTC. Integers keep window
 * boundaries exact (a float would put a flow exactly `window` old on either
 * side of the boundary depending on rounding). */
typedef int64_t c2w_time_t;
#define C2W_USEC 1000000LL
/* Valid event times: [2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z). */
#define C2W_TIME_MIN (946684800LL * C2W_USEC)
#define C2W_TIME_MAX (4102444800LL * C2W_USEC)

/* An IP address in binary form. IPv4-mapped IPv6 (::ffff:a.b.c.d) is stored
 * as IPv4, so that a dual-stack socket logged either way compares equal. */
typedef struct c2w_ip {
    uint8_t family; /* 4, 6, or 0 when unset */
    uint8_t addr[16]; /* network order; IPv4 uses the first 4 bytes */
} c2w_ip_t;

#define C2W_IP_STRLEN 46 /* INET6_ADDRSTRLEN */

enum { C2W_PROTO_ICMP = 1, C2W_PROTO_TCP = 6, C2W_PROTO_UDP = 17 };

/* Where a record came from: an input partition (1-based index into the
 * caller's table; 0 = none, e.g. a file) and its offset there. Stateful
 * stages hold the references of what they keep, so that the earliest
 * offset still contributing to live state is known and can be replayed
 * after a restart. */
typedef struct c2w_srcref {
    uint32_t part;
    int64_t off;
} c2w_srcref_t;

/* Hold / release callbacks for source references; NULL functions = none. */
typedef struct c2w_refs_ops {
    void (*hold)(void *ctx, c2w_srcref_t ref);
    void (*drop)(void *ctx, c2w_srcref_t ref);
    void *ctx;
} c2w_refs_ops_t;

/* One connection seen by the sensor (Zeek conn or Suricata flow). */
typedef struct c2w_flow {
    c2w_time_t ts; /* connection start, sensor clock */
    char *uid; /* Zeek uid, or "F<flow_id>" for Suricata */
    c2w_ip_t orig_h, resp_h; /* originator (local side) and responder */
    uint16_t orig_p, resp_p;
    uint8_t proto; /* C2W_PROTO_* */
    bool established; /* conn_state S1 S2 S3 SF RSTO RSTR (Suricata: SYN+ACK seen) */
    char *conn_state; /* as written, may be NULL (Suricata) */
    uint64_t orig_bytes, resp_bytes; /* absent = 0 */
    double duration; /* seconds, absent = 0 */
    char *service, *community_id, *history, *path; /* optional evidence */
    c2w_srcref_t src; /* where it was read; zero = not tracked */
    char *strings; /* the block holding every string above, or NULL (see the top) */
} c2w_flow_t;

/* Sysmon event 3: a network connection seen on the host. */
typedef struct c2w_netconn {
    c2w_time_t utc; /* UtcTime, host clock */
    char *host; /* Hostname / Computer / computer_name */
    char *guid; /* ProcessGuid as written (braces, case kept) */
    char *image; /* Image, full path as written */
    char *user; /* User as written, may be NULL */
    uint64_t pid;
    uint8_t proto; /* C2W_PROTO_TCP or C2W_PROTO_UDP */
    bool initiated;
    c2w_ip_t src_ip, dst_ip;
    uint16_t src_port, dst_port;
    char *dst_hostname; /* DestinationHostname, NULL when "-" or absent */
    c2w_srcref_t src; /* where it was read; zero = not tracked */
    char *strings; /* the block holding every string here, or NULL (see the top) */
    /* A lean event's host (the decoder's port filter: no string is kept
     * but the host) when it is short: then host is NULL. Read the host
     * with c2w_netconn_host. */
    char host_short[48];
} c2w_netconn_t;

/* The event's host: host, or the lean event's host_short; NULL when none. */
static inline const char *c2w_netconn_host(const c2w_netconn_t *n)
{
    return n->host ? n->host : n->host_short[0] ? n->host_short : NULL;
}

/* Sysmon event 1 (process create) and 5 (process terminated). */
typedef struct c2w_procinfo {
    c2w_time_t utc;
    char *host, *guid, *image;
    char *command_line, *parent_image, *hashes, *user; /* event 1 only, may be NULL */
    uint64_t pid;
    char *strings; /* the block holding every string above, or NULL (see the top) */
} c2w_procinfo_t;

/* Sysmon event 22: DNS query by a process. */
typedef struct c2w_dnsinfo {
    c2w_time_t utc;
    char *host, *guid, *image;
    char *query_name;
    char *query_results; /* raw "a;b;type:  5 c;" text, may be NULL */
    char *strings; /* the block holding every string above, or NULL (see the top) */
} c2w_dnsinfo_t;

typedef enum c2w_rec_kind {
    C2W_REC_NONE = 0,
    C2W_REC_FLOW,
    C2W_REC_NETCONN,
    C2W_REC_PROC, /* event 1 */
    C2W_REC_PROCEND, /* event 5 */
    C2W_REC_DNS /* event 22 */
} c2w_rec_kind_t;

typedef struct c2w_record {
    c2w_rec_kind_t kind;
    union {
        c2w_flow_t flow;
        c2w_netconn_t net;
        c2w_procinfo_t proc;
        c2w_dnsinfo_t dns;
    } u;
} c2w_record_t;

/* Frees every string of the record and resets it to C2W_REC_NONE. */
void c2w_record_clear(c2w_record_t *rec);
/* The block field of rec's kind (NULL for C2W_REC_NONE). */
char **c2w_record_strings(c2w_record_t *rec);
/* Takes *field (a string of a record whose block is `strings`) for a stage
 * that keeps it past the record: the pointer itself when the record's
 * strings are allocated one by one (*field becomes NULL), else a copy.
 * NULL when *field is NULL or the copy fails. */
char *c2w_take_string(const char *strings, char **field);
/* Frees the strings of a flow and zeroes it. */
void c2w_flow_clear(c2w_flow_t *flow);

/* Parses IPv4/IPv6 text of exactly len bytes (inet_pton). */
bool c2w_ip_parse(const char *s, size_t len, c2w_ip_t *out);
/* Canonical text (inet_ntop) into buf of at least C2W_IP_STRLEN; returns buf. */
char *c2w_ip_format(const c2w_ip_t *ip, char *buf);
bool c2w_ip_equal(const c2w_ip_t *a, const c2w_ip_t *b);

/* Epoch seconds as decimal JSON number text ("1692146028.495991",
 * "1.692146028e9"); exact to the microsecond (truncating further digits). */
bool c2w_time_parse_epoch(const char *s, size_t len, c2w_time_t *out);
/* RFC 3339 / ISO 8601 text: "2018-03-24T17:15:21.789543Z", "+02:00",
 * "+0200", or Sysmon's "2023-08-16 00:36:50.070" (no zone = UTC). */
bool c2w_time_parse_text(const char *s, size_t len, c2w_time_t *out);
/* True when t lies in [C2W_TIME_MIN, C2W_TIME_MAX). */
bool c2w_time_valid(c2w_time_t t);
/* "2026-11-28T10:00:00.123456Z" into buf (at least 32 bytes); returns buf. */
char *c2w_time_format(c2w_time_t t, char *buf);
/* Durations "24h", "30m", "90s", "1d", "500ms" (one integer and a unit).
 * Returns false on anything else, zero or negative. */
bool c2w_duration_parse(const char *s, c2w_time_t *out);

/* ---- the attributed flow: Defender-style fields (SPEC §3) ----
 * Built by the join and lent to its consumers for the duration of one
 * callback: the flow and every string are borrowed, never freed by them. */

typedef struct c2w_attributed {
    const c2w_flow_t *flow;
    bool attributed; /* false: no Sysmon event matched; process fields NULL */
    c2w_time_t clock_offset; /* sensor minus host clock used for the match */
    const char *device; /* DeviceName */
    const char *account; /* AccountName */
    const char *image; /* InitiatingProcessFolderPath */
    const char *file_name; /* InitiatingProcessFileName: points into image */
    const char *guid; /* InitiatingProcessGuid */
    uint64_t pid; /* InitiatingProcessId */
    const char *command_line; /* from event 1 when seen */
    const char *parent_image; /* from event 1 when seen */
    const char *remote_url; /* DestinationHostname or event 22 query */
    c2w_srcref_t ev_src; /* the Sysmon event's source (the flow's is flow->src) */
} c2w_attributed_t;

/* Basename of a Windows or POSIX path (split on both separators). */
const char *c2w_path_basename(const char *path);

/* Value types a rule can compare. */
typedef enum c2w_type {
    C2W_T_STR = 0,
    C2W_T_INT, /* unsigned 64-bit */
    C2W_T_NUM, /* double */
    C2W_T_TIME, /* c2w_time_t */
    C2W_T_IP
} c2w_type_t;

/* A borrowed view of one field's value. s points into the record (or the
 * rule) and lives as long as it; it is NUL-terminated. */
typedef struct c2w_value {
    c2w_type_t type;
    bool present; /* false: the field is absent (unattributed, not logged) */
    const char *s; /* C2W_T_STR (kept outside the union: "" when not a string) */
    union { /* the member named by type */
        uint64_t u; /* C2W_T_INT */
        double d; /* C2W_T_NUM */
        c2w_time_t t; /* C2W_T_TIME */
        c2w_ip_t ip; /* C2W_T_IP */
    };
} c2w_value_t;

/* The field catalog: every name a rule may use, with its type. */
typedef enum c2w_field {
    C2W_F_TIMESTAMP = 0,
    C2W_F_DEVICE_NAME,
    C2W_F_ACCOUNT_NAME,
    C2W_F_PROC_FILE_NAME,
    C2W_F_PROC_FOLDER_PATH,
    C2W_F_PROC_ID,
    C2W_F_PROC_GUID,
    C2W_F_PROC_COMMAND_LINE,
    C2W_F_PROC_PARENT_FILE_NAME,
    C2W_F_LOCAL_IP,
    C2W_F_LOCAL_PORT,
    C2W_F_REMOTE_IP,
    C2W_F_REMOTE_PORT,
    C2W_F_PROTOCOL,
    C2W_F_ACTION_TYPE,
    C2W_F_SENT_BYTES,
    C2W_F_RECEIVED_BYTES,
    C2W_F_DURATION,
    C2W_F_ZEEK_UID,
    C2W_F_COMMUNITY_ID,
    C2W_F_REMOTE_URL,
    C2W_F_CLOCK_OFFSET,
    C2W_F_SERVICE,
    C2W_F_CONN_STATE,
    C2W_F_COUNT
} c2w_field_t;

/* Name of a field ("RemotePort"). */
const char *c2w_field_name(c2w_field_t f);
/* Type of a field. */
c2w_type_t c2w_field_type(c2w_field_t f);
/* Field by exact (case-sensitive) name; returns -1 when unknown. */
int c2w_field_lookup(const char *name);
/* Reads field f of a into *out (a borrowed view). */
void c2w_field_get(const c2w_attributed_t *a, c2w_field_t f, c2w_value_t *out);

#endif
