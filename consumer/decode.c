/*
 * decode.c — one JSON record to a normalized record (SPEC §2).
 *
 * Two phases. While yajl parses (callback API, numbers as raw text), the
 * callbacks only collect: every value whose key path names a field of the
 * source's table is copied into a slot (type + text in the decoder's scratch
 * area). Structural faults — bad JSON or UTF-8, a non-object top level, too
 * deep, a known field seen twice — cancel the parse at once. Only after the
 * whole record parsed does the second phase decide whether the record is
 * for us (skip reasons) and then validate and convert the slots the event
 * needs, in a fixed order. So a record with invalid JSON is rejected as
 * such and never skipped, and the reason never depends on key order.
 *
 * Key paths: nested keys are joined with '.', so `"id": {"orig_h": ..}` and
 * `"id.orig_h"` are the same path. Values inside arrays never match a field.
 * JSON null counts as absent (but still as "seen" for duplicate detection).
 *
 * Reason mapping, where a choice had to be made:
 *   - wrong JSON type (string port in Zeek/eve, object IP, ...) -> bad_type;
 *   - a port that is a number but not an integer in 0..65535 (70000, 80.5,
 *     8e1, -1) or a Sysmon port string that is not decimal -> bad_port;
 *   - counters, flow ids, event ids, durations that are not a fitting
 *     non-negative integer (or finite non-negative number) -> bad_value;
 *   - a string holding a NUL byte (\u0000) in a field we read -> bad_value;
 *   - a UTF-8 BOM before the object -> bad_json (JSON text must not start
 *     with one, RFC 8259 §8.1, and producers that write it are broken);
 *   - yajl accepts overlong forms and encoded surrogates in strings; we check
 *     every string and key strictly and reject those as bad_utf8 too (an
 *     escaped lone low surrogate "\udc00" therefore is bad_utf8). yajl
 *     turns an escaped high surrogate not followed by a \u escape into '?'
 *     and pairs one followed by any \u escape ("\ud800\u0041" becomes
 *     U+10041): after the parse the escapes are checked in the text itself,
 *     and a high surrogate escape without a low one is bad_utf8 as well.
 *   - memory exhaustion -> no_memory, with what was being allocated in the
 *     detail ("no_memory: parser", "no_memory: Image"); the decoder stays
 *     usable and the same record may decode once memory is back.
 *
 * yajl's memory: see "yajl's allocator" below for why yajl is never handed
 * a NULL.
 *
 * Speed (docs/performance.md): phase 1 first tries a fast path (dec_scan)
 * for the common shape, one object of scalars; it fills the slots exactly
 * as yajl and the callbacks would, or declines and yajl parses the record.
 * Slots then point into the record itself where no unescaping is needed.
 * Phase 2 borrows its strings from there, and the record gets its own
 * copies last (dec_own): none at all, but the host, for a flow or event 3
 * to a port no rule can match (c2w_decoder_set_ports).
 */
#include "c2watch/decode.h"
#include "c2watch/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define DEC_DEFAULT_MAX_BYTES ((size_t)1024 * 1024)
#define DEC_DEFAULT_MAX_DEPTH 64u
#define DEC_PATH_MAX 128 /* longer key paths cannot be a field we read */
#define DEC_SLOT_MAX 32

/* JSON type of a collected value; JT_NONE = not seen. */
enum dec_jtype { JT_NONE = 0, JT_NULL, JT_BOOL, JT_NUM, JT_STR, JT_MAP, JT_ARRAY };

typedef struct dec_slot {
    uint8_t type; /* enum dec_jtype */
    bool b; /* JT_BOOL */
    const char *text; /* JT_STR, JT_NUM: len bytes, in scratch (yajl, or an unescaped
                       * string) or in the record itself (fast path); not NUL-terminated */
    size_t len;
} dec_slot_t;

typedef struct dec_frame {
    size_t base_len; /* path length at which this map's keys start */
    bool base_over; /* the path already overflowed DEC_PATH_MAX */
    bool rooted; /* keys start the path (top level, or a Zeek "conn" wrapper) */
    bool in_array; /* this container is, or lies inside, an array */
} dec_frame_t;

/*
 * A source's field table: slot i is named names[i], which is also its key
 * path. Slots from data_from on are Sysmon event data and match under any of
 * the data prefixes too ("", "event_data.", "winlog.event_data.").
 */
typedef struct dec_source {
    const char *const *names;
    unsigned nslots;
    unsigned data_from;
} dec_source_t;

/* ---- Zeek conn ---- */
enum {
    Z_TS,
    Z_UID,
    Z_ORIG_H,
    Z_ORIG_P,
    Z_RESP_H,
    Z_RESP_P,
    Z_PROTO,
    Z_CONN_STATE,
    Z_ORIG_BYTES,
    Z_RESP_BYTES,
    Z_DURATION,
    Z_SERVICE,
    Z_COMMUNITY_ID,
    Z_HISTORY,
    Z_PATH,
    Z_COUNT
};
static const char *const zeek_names[Z_COUNT] = {
    [Z_TS] = "ts",
    [Z_UID] = "uid",
    [Z_ORIG_H] = "id.orig_h",
    [Z_ORIG_P] = "id.orig_p",
    [Z_RESP_H] = "id.resp_h",
    [Z_RESP_P] = "id.resp_p",
    [Z_PROTO] = "proto",
    [Z_CONN_STATE] = "conn_state",
    [Z_ORIG_BYTES] = "orig_bytes",
    [Z_RESP_BYTES] = "resp_bytes",
    [Z_DURATION] = "duration",
    [Z_SERVICE] = "service",
    [Z_COMMUNITY_ID] = "community_id",
    [Z_HISTORY] = "history",
    [Z_PATH] = "_path",
};

/* ---- Sysmon ---- */
enum {
    /* header fields, one slot per shape's spelling */
    S_EVENT_ID_WLB7,
    S_EVENT_ID_WLB6,
    S_EVENT_ID_FLAT,
    S_HOST_WLB7,
    S_HOST_WLB6,
    S_HOST_HOSTNAME,
    S_HOST_COMPUTER,
    S_CHAN_WLB7,
    S_PROV_WLB7,
    S_CHAN_WLB6,
    S_PROV_WLB6,
    S_CHAN_FLAT,
    S_PROV_FLAT,
    /* event data */
    S_UTCTIME,
    S_GUID,
    S_PID,
    S_IMAGE,
    S_USER,
    S_PROTOCOL,
    S_INITIATED,
    S_SRC_IP,
    S_SRC_PORT,
    S_DST_IP,
    S_DST_PORT,
    S_DST_HOSTNAME,
    S_CMDLINE,
    S_PARENT_IMAGE,
    S_HASHES,
    S_QUERY_NAME,
    S_QUERY_RESULTS,
    S_COUNT
};
static const char *const sysmon_names[S_COUNT] = {
    [S_EVENT_ID_WLB7] = "winlog.event_id",
    [S_EVENT_ID_WLB6] = "event_id",
    [S_EVENT_ID_FLAT] = "EventID",
    [S_HOST_WLB7] = "winlog.computer_name",
    [S_HOST_WLB6] = "computer_name",
    [S_HOST_HOSTNAME] = "Hostname",
    [S_HOST_COMPUTER] = "Computer",
    [S_CHAN_WLB7] = "winlog.channel",
    [S_PROV_WLB7] = "winlog.provider_name",
    [S_CHAN_WLB6] = "log_name",
    [S_PROV_WLB6] = "source_name",
    [S_CHAN_FLAT] = "Channel",
    [S_PROV_FLAT] = "SourceName",
    [S_UTCTIME] = "UtcTime",
    [S_GUID] = "ProcessGuid",
    [S_PID] = "ProcessId",
    [S_IMAGE] = "Image",
    [S_USER] = "User",
    [S_PROTOCOL] = "Protocol",
    [S_INITIATED] = "Initiated",
    [S_SRC_IP] = "SourceIp",
    [S_SRC_PORT] = "SourcePort",
    [S_DST_IP] = "DestinationIp",
    [S_DST_PORT] = "DestinationPort",
    [S_DST_HOSTNAME] = "DestinationHostname",
    [S_CMDLINE] = "CommandLine",
    [S_PARENT_IMAGE] = "ParentImage",
    [S_HASHES] = "Hashes",
    [S_QUERY_NAME] = "QueryName",
    [S_QUERY_RESULTS] = "QueryResults",
};

/* ---- Suricata eve ---- */
enum {
    E_EVENT_TYPE,
    E_FLOW_ID,
    E_SRC_IP,
    E_SRC_PORT,
    E_DEST_IP,
    E_DEST_PORT,
    E_PROTO,
    E_START,
    E_END,
    E_BYTES_TS,
    E_BYTES_TC,
    E_PKTS_TC,
    E_TCP_FLAGS_TC,
    E_COMMUNITY_ID,
    E_ICMP_TYPE,
    E_ICMP_CODE,
    E_COUNT
};
static const char *const eve_names[E_COUNT] = {
    [E_EVENT_TYPE] = "event_type",
    [E_FLOW_ID] = "flow_id",
    [E_SRC_IP] = "src_ip",
    [E_SRC_PORT] = "src_port",
    [E_DEST_IP] = "dest_ip",
    [E_DEST_PORT] = "dest_port",
    [E_PROTO] = "proto",
    [E_START] = "flow.start",
    [E_END] = "flow.end",
    [E_BYTES_TS] = "flow.bytes_toserver",
    [E_BYTES_TC] = "flow.bytes_toclient",
    [E_PKTS_TC] = "flow.pkts_toclient",
    [E_TCP_FLAGS_TC] = "tcp.tcp_flags_tc",
    [E_COMMUNITY_ID] = "community_id",
    [E_ICMP_TYPE] = "icmp_type",
    [E_ICMP_CODE] = "icmp_code",
};

static const dec_source_t dec_sources[C2W_SRC_COUNT] = {
    [C2W_SRC_ZEEK] = { zeek_names, Z_COUNT, Z_COUNT },
    [C2W_SRC_SYSMON] = { sysmon_names, S_COUNT, S_UTCTIME },
    [C2W_SRC_EVE] = { eve_names, E_COUNT, E_COUNT },
};

/* One spelling of a field name in the decoder's lookup table. */
#define DEC_NAME_MAX 48 /* longest spelling ("winlog.event_data." + a name) + 1 */
typedef struct dec_name_ent {
    uint32_t len; /* 0: empty entry */
    int slot;
    char text[DEC_NAME_MAX];
} dec_name_ent_t;
#define DEC_NAMES_CAP 256 /* power of two, over twice the spellings of any source */

/* A string field of the record being built, borrowed from scratch. */
typedef struct dec_take {
    char **dst;
    size_t len;
    int slot;
} dec_take_t;

/* A key token seen before: `"name":` as written, and its slot. */
#define DEC_KEYTOK_MAX 40
#define DEC_KEYTOK_POS 48
typedef struct dec_keytok {
    uint8_t len; /* 0: empty */
    int8_t slot;
    uint16_t last_mask; /* the bytes of the last 16-byte block that count */
    char text[48]; /* DEC_KEYTOK_MAX bytes, zero-padded to whole 16-byte blocks */
} dec_keytok_t;

struct c2w_decoder {
    c2w_source_kind_t kind;
    const dec_source_t *src;
    size_t max_bytes;
    unsigned max_depth;
    bool full_parse;
    bool fast_record; /* this record's slots came from dec_scan (no \u escapes, so no NUL) */
    dec_frame_t *frames; /* max_depth entries, one per open container */
    char *scratch; /* collected texts; scratch_cap covers any record we parse */
    size_t scratch_cap;
    unsigned char *ya_base; /* yajl's budget (see dec_ya_reserve), ya_cap bytes */
    size_t ya_cap;
    size_t ya_used; /* bytes of the budget handed out during this parse */

    /* per-record state, reset by c2w_decode */
    c2w_dec_result_t *res;
    bool failed; /* res holds a reject reason set by a callback */
    unsigned depth;
    char path[DEC_PATH_MAX];
    size_t path_len;
    bool path_over; /* the current path is longer than DEC_PATH_MAX */
    size_t scratch_len;
    unsigned top_keys; /* keys seen in the top-level object */
    char first_key[48]; /* the first top-level key, for other_log details */
    size_t first_key_len; /* its full length (may exceed the copy) */
    bool first_is_map; /* the first top-level key holds an object */
    dec_slot_t slots[DEC_SLOT_MAX];
    uint32_t filled; /* the slots holding a value of this record (bit i: slot i); the
                      * others are empty, whatever their type says (dec_type) */

    /* field names -> slots (every spelling, see dec_lookup) */
    dec_name_ent_t names[DEC_NAMES_CAP];
    /* strings phase 2 took, still pointing into scratch (dec_own copies) */
    dec_take_t takes[DEC_SLOT_MAX];
    unsigned n_takes;
    char uid_text[24]; /* Suricata "F<flow_id>" */
    const uint8_t *ports; /* wanted remote ports (bitmap), NULL = all */
    /* the fast path's memory of key tokens ("name": exactly as written) by
     * position in the record, two per position (see dec_scan) */
    dec_keytok_t keytoks[DEC_KEYTOK_POS][2];
    uint8_t keytok_next[DEC_KEYTOK_POS];
    uint64_t scanned, fallbacks; /* records the fast path took / handed on */
};

_Static_assert(Z_COUNT <= DEC_SLOT_MAX && S_COUNT <= DEC_SLOT_MAX && E_COUNT <= DEC_SLOT_MAX && DEC_SLOT_MAX <= 32,
               "slots are tracked in a 32-bit mask");

/* Empties the slots the last record filled: a slot holds a value only
 * while its bit in filled is set (dec_type), whatever its type says, so
 * nothing else needs clearing (one store per record, where clearing each
 * filled slot's type took ~7 % of c2w_decode: docs/performance.md, "Ninth
 * round"). */
static void dec_slots_reset(c2w_decoder_t *d)
{
    d->filled = 0;
}

/* Slot i holds a value of this record. */
static inline bool dec_filled(const c2w_decoder_t *d, int i)
{
    return (d->filled >> i) & 1u;
}

/* The JSON type of slot i's value in this record, JT_NONE when unset. */
static inline uint8_t dec_type(const c2w_decoder_t *d, int i)
{
    return dec_filled(d, i) ? d->slots[i].type : (uint8_t)JT_NONE;
}

/* ---- names ---- */

static const char *const source_names[C2W_SRC_COUNT] = { "zeek", "sysmon", "eve" };
static const char *const reject_names[C2W_REJ_COUNT] = {
    [C2W_REJ_EMPTY] = "empty",
    [C2W_REJ_TOO_BIG] = "too_big",
    [C2W_REJ_BAD_JSON] = "bad_json",
    [C2W_REJ_BAD_UTF8] = "bad_utf8",
    [C2W_REJ_NOT_OBJECT] = "not_object",
    [C2W_REJ_TOO_DEEP] = "too_deep",
    [C2W_REJ_DUPLICATE_KEY] = "duplicate_key",
    [C2W_REJ_MISSING_FIELD] = "missing_field",
    [C2W_REJ_BAD_TYPE] = "bad_type",
    [C2W_REJ_BAD_VALUE] = "bad_value",
    [C2W_REJ_BAD_IP] = "bad_ip",
    [C2W_REJ_BAD_PORT] = "bad_port",
    [C2W_REJ_BAD_TIME] = "bad_time",
    [C2W_REJ_BAD_PROTO] = "bad_proto",
    [C2W_REJ_NO_MEMORY] = "no_memory",
};
static const char *const skip_names[C2W_SKIP_COUNT] = {
    [C2W_SKIP_EVENT_ID] = "event_id",
    [C2W_SKIP_CHANNEL] = "channel",
    [C2W_SKIP_EVENT_TYPE] = "event_type",
    [C2W_SKIP_OTHER_LOG] = "other_log",
};

const char *c2w_source_name(c2w_source_kind_t k)
{
    return (unsigned)k < C2W_SRC_COUNT ? source_names[k] : "unknown";
}

const char *c2w_reject_name(c2w_reject_t r)
{
    return (unsigned)r < C2W_REJ_COUNT ? reject_names[r] : "unknown";
}

const char *c2w_skip_name(c2w_skip_t s)
{
    return (unsigned)s < C2W_SKIP_COUNT ? skip_names[s] : "unknown";
}

/* ---- results ---- */

/* "name: value" into res->detail, value cut to 64 printable ASCII bytes. */
static void dec_detail(c2w_dec_result_t *res, const char *name, const char *v, size_t len)
{
    /* "name: value", the value cut to 64 bytes and made printable */
    size_t n = strlen(name);
    if (n > sizeof(res->detail) - 68)
        n = sizeof(res->detail) - 68;
    memcpy(res->detail, name, n);
    res->detail[n++] = ':';
    res->detail[n++] = ' ';
    for (size_t i = 0; i < len && i < 64; i++)
        res->detail[n++] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
    res->detail[n] = '\0';
}

/* Records a rejection (the first one wins); returns -1. */
static int dec_reject(c2w_decoder_t *d, c2w_reject_t r, const char *what)
{
    if (d->failed)
        return -1;
    d->failed = true;
    d->res->status = C2W_DEC_REJECT;
    d->res->reason = (int)r;
    if (what)
        dec_detail(d->res, c2w_reject_name(r), what, strlen(what));
    else
        snprintf(d->res->detail, sizeof(d->res->detail), "%s", c2w_reject_name(r));
    return -1;
}

/* Out of memory while allocating for what (a field name, "parser"). */
static int dec_oom(c2w_decoder_t *d, const char *what)
{
    return dec_reject(d, C2W_REJ_NO_MEMORY, what);
}

/* Records a skip; returns -1 (the record is not produced). */
static int dec_skip(c2w_decoder_t *d, c2w_skip_t s, const char *v, size_t len)
{
    d->failed = true;
    d->res->status = C2W_DEC_SKIP;
    d->res->reason = (int)s;
    dec_detail(d->res, c2w_skip_name(s), v, len);
    return -1;
}

/* ---- phase 1: collecting (yajl callbacks) ---- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool dec_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

static unsigned dec_hex4(const char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Every \u escape of a surrogate is a high one followed by a low one. Only
 * on text yajl parsed: each backslash then starts a well-formed escape. */
static bool dec_escapes_valid(const char *s, size_t n)
{
    const char *p = memchr(s, '\\', n), *end = s + n;
    while (p) {
        size_t step = 2;
        if (p[1] == 'u') {
            unsigned cp = dec_hex4(p + 2);
            step = 6;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return false;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
                    return false;
                unsigned lo = dec_hex4(p + 8);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return false;
                step = 12;
            }
        }
        p += step;
        p = p < end ? memchr(p, '\\', (size_t)(end - p)) : NULL;
    }
    return true;
}

static bool dec_name_eq(const char *name, const char *p, size_t len)
{
    return strlen(name) == len && memcmp(name, p, len) == 0;
}

/* The lookup table's hash: length, first, middle and last byte. Cheap,
 * and the field names of a source differ in them often enough that most
 * lookups probe once; a key we do not read usually finds an empty entry
 * at once. */
static uint32_t dec_name_hash(const char *p, size_t len)
{
    if (len == 0)
        return 0;
    uint32_t h = (uint32_t)len * 0x9e3779b1u;
    h ^= (uint32_t)(unsigned char)p[0] * 0x85ebca6bu;
    h ^= (uint32_t)(unsigned char)p[len / 2] * 0xc2b2ae35u;
    h ^= (uint32_t)(unsigned char)p[len - 1] * 0x27d4eb2fu;
    return h ^ (h >> 15);
}

/* Data field spellings: flat, Winlogbeat 6, Winlogbeat 7. */
static const char *const dec_data_prefixes[] = { "", "event_data.", "winlog.event_data." };
#define DEC_PREFIXES (sizeof(dec_data_prefixes) / sizeof(dec_data_prefixes[0]))

/* Fills the lookup table with every spelling of the source's fields:
 * slot i as names[i]; from data_from on also under each data prefix. A
 * spelling already present keeps its first slot (none repeats today). */
static void dec_names_init(c2w_decoder_t *d)
{
    const dec_source_t *src = d->src;
    for (unsigned i = 0; i < src->nslots; i++) {
        bool data = i >= src->data_from;
        for (size_t k = 0; k < (data ? DEC_PREFIXES : 1); k++) {
            char full[DEC_NAME_MAX];
            int len = snprintf(full, sizeof(full), "%s%s", dec_data_prefixes[k], src->names[i]);
            if (len <= 0 || (size_t)len >= sizeof(full))
                abort(); /* a name table entry too long for DEC_NAME_MAX */
            uint32_t h = dec_name_hash(full, (size_t)len);
            for (uint32_t probe = 0;; probe++) {
                dec_name_ent_t *e = &d->names[(h + probe) & (DEC_NAMES_CAP - 1)];
                if (e->len == 0) {
                    e->len = (uint32_t)len;
                    e->slot = (int)i;
                    memcpy(e->text, full, (size_t)len);
                    break;
                }
                if (e->len == (uint32_t)len && memcmp(e->text, full, (size_t)len) == 0)
                    break;
            }
        }
    }
}

/* Slot of a key path, or -1 for a field we do not read. A data field
 * (Sysmon event data) matches with or without a data prefix. */
static int dec_lookup(const c2w_decoder_t *d, const char *p, size_t len)
{
    uint32_t h = dec_name_hash(p, len);
    for (uint32_t k = 0;; k++) {
        const dec_name_ent_t *e = &d->names[(h + k) & (DEC_NAMES_CAP - 1)];
        if (e->len == 0)
            return -1;
        if (e->len == len && memcmp(e->text, p, len) == 0)
            return e->slot;
    }
}

/* Stores one value in slot i; a second value for a slot is a duplicate key. */
static int dec_store(c2w_decoder_t *d, int i, uint8_t type, bool b, const char *s, size_t len)
{
    dec_slot_t *slot = &d->slots[i];
    if (dec_filled(d, i))
        return dec_reject(d, C2W_REJ_DUPLICATE_KEY, d->src->names[i]);
    slot->type = type;
    d->filled |= 1u << i;
    slot->b = b;
    if (type == JT_STR || type == JT_NUM) {
        /* Cannot trigger: decoded text is never longer than its JSON form
         * and each slot is filled once; kept as a guard. */
        if (len >= d->scratch_cap - d->scratch_len)
            return dec_reject(d, C2W_REJ_TOO_BIG, d->src->names[i]);
        slot->text = d->scratch + d->scratch_len;
        slot->len = len;
        memcpy(d->scratch + d->scratch_len, s, len);
        d->scratch[d->scratch_len + len] = '\0';
        d->scratch_len += len + 1;
    }
    return 0;
}

/* A scalar at the current path. Returns the yajl verdict (1 go on, 0 stop). */
static int dec_value(c2w_decoder_t *d, uint8_t type, bool b, const char *s, size_t len)
{
    if (d->depth == 0) {
        dec_reject(d, C2W_REJ_NOT_OBJECT, NULL);
        return 0;
    }
    if (d->frames[d->depth - 1].in_array || d->path_over)
        return 1;
    int i = dec_lookup(d, d->path, d->path_len);
    if (i < 0)
        return 1;
    return dec_store(d, i, type, b, s, len) == 0;
}

static int dec_open(c2w_decoder_t *d, bool is_array)
{
    if (d->depth == 0 && is_array) {
        dec_reject(d, C2W_REJ_NOT_OBJECT, NULL);
        return 0;
    }
    if (d->depth >= d->max_depth) {
        char what[48];
        snprintf(what, sizeof(what), "deeper than %u", d->max_depth);
        dec_reject(d, C2W_REJ_TOO_DEEP, what);
        return 0;
    }
    dec_frame_t *f = &d->frames[d->depth];
    f->base_len = d->path_len;
    f->base_over = d->path_over;
    f->rooted = d->depth == 0;
    f->in_array = is_array;
    if (d->depth > 0) {
        const dec_frame_t *parent = &d->frames[d->depth - 1];
        f->in_array = is_array || parent->in_array;
        if (d->depth == 1 && !is_array && d->top_keys == 1)
            d->first_is_map = true;
        if (!parent->in_array && !d->path_over) {
            if (d->kind == C2W_SRC_ZEEK && d->depth == 1 && !is_array &&
                dec_name_eq("conn", d->path, d->path_len)) {
                /* {"conn": {...}}: the Zeek Kafka writer's log-name wrapper */
                f->base_len = 0;
                f->rooted = true;
            } else {
                int i = dec_lookup(d, d->path, d->path_len);
                if (i >= 0 && dec_store(d, i, is_array ? JT_ARRAY : JT_MAP, false, NULL, 0) < 0)
                    return 0;
            }
        }
    }
    d->depth++;
    return 1;
}

static int dec_cb_null(void *ctx)
{
    return dec_value(ctx, JT_NULL, false, NULL, 0);
}

static int dec_cb_boolean(void *ctx, int b)
{
    return dec_value(ctx, JT_BOOL, b != 0, NULL, 0);
}

static int dec_cb_number(void *ctx, const char *s, size_t len)
{
    return dec_value(ctx, JT_NUM, false, s, len);
}

static int dec_cb_string(void *ctx, const unsigned char *s, size_t len)
{
    c2w_decoder_t *d = ctx;
    if (!dec_utf8_valid(s, len)) {
        dec_reject(d, C2W_REJ_BAD_UTF8, NULL);
        return 0;
    }
    return dec_value(d, JT_STR, false, (const char *)s, len);
}

static int dec_cb_start_map(void *ctx)
{
    return dec_open(ctx, false);
}

static int dec_cb_start_array(void *ctx)
{
    return dec_open(ctx, true);
}

static int dec_cb_end(void *ctx)
{
    c2w_decoder_t *d = ctx;
    d->depth--;
    return 1;
}

static int dec_cb_map_key(void *ctx, const unsigned char *k, size_t len)
{
    c2w_decoder_t *d = ctx;
    if (!dec_utf8_valid(k, len)) {
        dec_reject(d, C2W_REJ_BAD_UTF8, NULL);
        return 0;
    }
    const dec_frame_t *f = &d->frames[d->depth - 1];
    if (d->depth == 1 && ++d->top_keys == 1) {
        d->first_key_len = len;
        size_t n = len < sizeof(d->first_key) ? len : sizeof(d->first_key);
        memcpy(d->first_key, k, n);
    }
    d->path_len = f->base_len;
    d->path_over = f->base_over;
    if (f->in_array || d->path_over)
        return 1;
    size_t need = len + (f->rooted ? 0 : 1);
    if (need >= DEC_PATH_MAX - d->path_len) {
        d->path_over = true;
        return 1;
    }
    if (!f->rooted)
        d->path[d->path_len++] = '.';
    memcpy(d->path + d->path_len, k, len);
    d->path_len += len;
    return 1;
}

static const yajl_callbacks dec_callbacks = {
    .yajl_null = dec_cb_null,
    .yajl_boolean = dec_cb_boolean,
    .yajl_number = dec_cb_number,
    .yajl_string = dec_cb_string,
    .yajl_start_map = dec_cb_start_map,
    .yajl_map_key = dec_cb_map_key,
    .yajl_end_map = dec_cb_end,
    .yajl_start_array = dec_cb_start_array,
    .yajl_end_array = dec_cb_end,
};

/* ---- phase 1, fast path: flat records without yajl ----
 *
 * Most records are one object of scalar values with plain keys (Zeek's
 * JSON writer, flat Sysmon). dec_scan parses exactly that shape and fills
 * the slots as yajl and the callbacks above would; on anything else — a
 * nested value, an escape in a key, a \u escape, a byte that is not plain
 * JSON, a duplicate field, any syntax error — it declines, the state is
 * reset and yajl parses the record (which then also decides how to reject
 * it). So the fast path only ever answers for records yajl accepts the
 * same way; tests/test_fastpath.c and the decode fuzz targets compare the
 * two on adversarial records. */

#if defined(__GNUC__)
#define DEC_INLINE static inline __attribute__((always_inline))
#else
#define DEC_INLINE static inline
#endif

/* First byte of s[i..n) that is '"', '\\', a control character or not
 * ASCII; n when none. */
DEC_INLINE size_t dec_scan_plain(const unsigned char *s, size_t i, size_t n)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (n - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* signed compare: bytes >= 0x80 are negative, so below 0x20 too */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return i + (unsigned)__builtin_ctz(bits);
        i += 16;
    }
#endif
    while (i < n && s[i] != '"' && s[i] != '\\' && s[i] >= 0x20 && s[i] < 0x80)
        i++;
    return i;
}

/* What a one-character escape \c stands for, or 0 when c is not one
 * (\u included: the fast path leaves those to yajl). */
DEC_INLINE char dec_simple_escape(unsigned char c)
{
    switch (c) {
    case '"':
    case '\\':
    case '/':
        return (char)c;
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    default:
        return 0;
    }
}

/* A string whose text starts at i (after the quote): the index of its
 * closing quote, or 0 to decline. *esc: it holds escapes (all of the
 * one-character kind); *wide: it holds bytes over 0x7f. */
DEC_INLINE size_t dec_scan_string(const unsigned char *s, size_t i, size_t n, bool *esc, bool *wide)
{
    *esc = *wide = false;
    for (;;) {
        i = dec_scan_plain(s, i, n);
        if (i >= n)
            return 0;
        unsigned c = s[i];
        if (c == '"')
            return i;
        if (c == '\\') {
            if (n - i < 2 || !dec_simple_escape(s[i + 1]))
                return 0; /* \u (surrogates, NUL) and bad escapes: yajl's */
            *esc = true;
            i += 2;
        } else if (c < 0x20) {
            return 0;
        } else {
            *wide = true;
            i++;
        }
    }
}

/* End of the number starting at i (RFC 8259 grammar), or 0 to decline. */
DEC_INLINE size_t dec_scan_number(const unsigned char *s, size_t i, size_t n)
{
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        size_t from = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == from)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t from = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == from)
            return 0;
    }
    return i;
}

DEC_INLINE size_t dec_scan_ws(const unsigned char *s, size_t i, size_t n)
{
    if (i < n && s[i] > ' ')
        return i; /* compact JSON: the usual case */
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Stores a scalar into slot i as dec_store does (unescaping a string with
 * one-character escapes). false: decline (a second value for the slot). */
DEC_INLINE bool dec_scan_store(c2w_decoder_t *d, int i, uint8_t type, bool b, const unsigned char *s, size_t len,
                           bool esc)
{
    dec_slot_t *slot = &d->slots[i];
    if (dec_filled(d, i) || len >= d->scratch_cap - d->scratch_len)
        return false;
    slot->type = type;
    d->filled |= 1u << i;
    slot->b = b;
    if (type != JT_STR && type != JT_NUM)
        return true;
    if (!esc) { /* the text as written: no copy */
        slot->text = (const char *)s;
        slot->len = len;
        return true;
    }
    char *to = d->scratch + d->scratch_len;
    size_t n = 0, k = 0;
#if defined(__SSE2__)
    /* 16 bytes at a time up to the next backslash; a block is stored
     * whole, so only while 16 more bytes fit in scratch */
    const __m128i bslash = _mm_set1_epi8('\\');
    size_t room = d->scratch_cap - d->scratch_len;
    while (len - k >= 16 && n + 16 < room) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + k));
        unsigned bits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bslash));
        _mm_storeu_si128((__m128i *)(void *)(to + n), v);
        if (!bits) {
            n += 16;
            k += 16;
            continue;
        }
        unsigned z = (unsigned)__builtin_ctz(bits);
        n += z;
        k += z; /* s[k] is a backslash; the scan saw its escape whole */
        to[n++] = dec_simple_escape(s[k + 1]);
        k += 2;
    }
#endif
    for (; k < len; k++) {
        char c = (char)s[k];
        if (c == '\\')
            c = dec_simple_escape(s[++k]);
        to[n++] = c;
    }
    to[n] = '\0';
    slot->text = to;
    slot->len = n;
    d->scratch_len += n + 1;
    return true;
}

/* a[0..len) == b[0..len) for a short len, with word compares. */
DEC_INLINE bool dec_eq_short(const unsigned char *a, const char *b, size_t len)
{
    uint64_t x, y;
    if (len >= 8) {
        size_t k = 0;
        for (; k + 8 <= len; k += 8) {
            memcpy(&x, a + k, 8);
            memcpy(&y, b + k, 8);
            if (x != y)
                return false;
        }
        if (k == len)
            return true;
        memcpy(&x, a + len - 8, 8);
        memcpy(&y, b + len - 8, 8);
        return x == y;
    }
    return memcmp(a, b, len) == 0;
}

/*
 * Records of one producer repeat their keys in the same order. The key
 * token at position k of the last records (`"name":`, no escapes, plain
 * ASCII or valid UTF-8: it passed the full checks when it was learnt) is
 * remembered with its slot; a record whose bytes at a key position equal
 * a remembered token takes its slot without scanning and looking the key
 * up again. Two tokens per position cover streams that mix two shapes.
 */
DEC_INLINE bool dec_keytok_eq(const dec_keytok_t *t, const unsigned char *a, size_t avail)
{
    size_t len = t->len;
    if (!len || avail < len)
        return false;
#if defined(__SSE2__)
    if (avail >= 48) { /* whole blocks can be read: compare 16 bytes at a time */
        for (size_t k = 0;; k += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + k));
            __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(t->text + k));
            unsigned eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, y));
            if (len - k <= 16)
                return (eq & t->last_mask) == t->last_mask;
            if (eq != 0xffffu)
                return false;
        }
    }
#endif
    return dec_eq_short(a, t->text, len);
}

DEC_INLINE int dec_keytok_match(const c2w_decoder_t *d, unsigned k, const unsigned char *s, size_t i, size_t n)
{
    if (k >= DEC_KEYTOK_POS)
        return -1;
    if (dec_keytok_eq(&d->keytoks[k][0], s + i, n - i))
        return 0;
    if (dec_keytok_eq(&d->keytoks[k][1], s + i, n - i))
        return 1;
    return -1;
}

static void dec_keytok_learn(c2w_decoder_t *d, unsigned k, const unsigned char *tok, size_t len, int slot)
{
    if (k >= DEC_KEYTOK_POS || len > DEC_KEYTOK_MAX)
        return;
    dec_keytok_t *t = &d->keytoks[k][d->keytok_next[k]];
    d->keytok_next[k] ^= 1;
    t->len = (uint8_t)len;
    t->slot = (int8_t)slot;
    size_t tail = len - (len - 1) / 16 * 16; /* 1..16 bytes in the last block */
    t->last_mask = (uint16_t)(tail == 16 ? 0xffffu : (1u << tail) - 1u);
    memset(t->text, 0, sizeof(t->text));
    memcpy(t->text, tok, len);
}

/* Phase 1 for a flat record: true when the slots are filled, false when
 * the record must go to yajl (the caller resets the per-record state). */
static bool dec_scan(c2w_decoder_t *d, const char *buf, size_t n)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = dec_scan_ws(s, 0, n);
    if (i >= n || s[i] != '{' || d->max_depth < 1)
        return false;
    i = dec_scan_ws(s, i + 1, n);
    if (i < n && s[i] == '}')
        return dec_scan_ws(s, i + 1, n) == n;
    for (unsigned k = 0;; k++) {
        bool esc, wide;
        if (i >= n || s[i] != '"')
            return false;
        size_t ks = i + 1, klen;
        int slot, w = dec_keytok_match(d, k, s, i, n);
        if (w >= 0) {
            const dec_keytok_t *t = &d->keytoks[k][w];
            klen = t->len - 3u; /* the quotes and the colon */
            slot = t->slot;
            i += t->len;
        } else {
            size_t ke = dec_scan_string(s, ks, n, &esc, &wide);
            if (!ke || esc || (wide && !dec_utf8_valid(s + ks, ke - ks)))
                return false;
            klen = ke - ks;
            slot = klen < DEC_PATH_MAX ? dec_lookup(d, buf + ks, klen) : -1;
            if (ke + 1 < n && s[ke + 1] == ':')
                dec_keytok_learn(d, k, s + i, klen + 3, slot);
            i = dec_scan_ws(s, ke + 1, n);
            if (i >= n || s[i] != ':')
                return false;
            i++;
        }
        if (k == 0) {
            d->first_key_len = klen;
            memcpy(d->first_key, buf + ks, klen < sizeof(d->first_key) ? klen : sizeof(d->first_key));
        }
        i = dec_scan_ws(s, i, n);
        if (i >= n)
            return false;
        uint8_t type;
        bool b = false;
        size_t vs = i, ve;
        esc = false;
        if (s[i] == '"') {
            vs = i + 1;
            ve = dec_scan_string(s, vs, n, &esc, &wide);
            if (!ve || (wide && !dec_utf8_valid(s + vs, ve - vs)))
                return false;
            type = JT_STR;
            i = ve + 1;
        } else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
            ve = dec_scan_number(s, i, n);
            if (!ve)
                return false;
            type = JT_NUM;
            i = ve;
        } else if (n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
            type = JT_BOOL;
            b = true;
            i += 4;
            ve = i;
        } else if (n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
            type = JT_BOOL;
            i += 5;
            ve = i;
        } else if (n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
            type = JT_NULL;
            i += 4;
            ve = i;
        } else {
            return false; /* a nested value, or not JSON */
        }
        if (slot >= 0 && !dec_scan_store(d, slot, type, b, s + vs, ve - vs, esc))
            return false;
        if (n - i >= 2 && s[i] == ',' && s[i + 1] == '"') { /* compact JSON: the next key */
            i++;
            continue;
        }
        i = dec_scan_ws(s, i, n);
        if (i >= n)
            return false;
        if (s[i] == '}') {
            d->top_keys = k + 1;
            return dec_scan_ws(s, i + 1, n) == n;
        }
        if (s[i] != ',')
            return false;
        i = dec_scan_ws(s, i + 1, n);
    }
}

/* ---- phase 2: validating and converting slots ----
 * Getters return 0, or -1 with the rejection recorded. A field is absent
 * when not seen or null; for Sysmon also when "" or "-". */

static const char *dec_name(const c2w_decoder_t *d, int i)
{
    return d->src->names[i];
}

static const char *dec_text(const c2w_decoder_t *d, int i)
{
    return d->slots[i].text;
}

static bool dec_present(const c2w_decoder_t *d, int i)
{
    const dec_slot_t *s = &d->slots[i];
    uint8_t type = dec_type(d, i);
    if (type == JT_NONE || type == JT_NULL)
        return false;
    if (d->kind == C2W_SRC_SYSMON && type == JT_STR &&
        (s->len == 0 || (s->len == 1 && dec_text(d, i)[0] == '-')))
        return false;
    return true;
}

/* Borrowed string of slot i (*s NULL when absent and optional). */
static int dec_get_str(c2w_decoder_t *d, int i, bool required, const char **s, size_t *len)
{
    *s = NULL;
    *len = 0;
    if (!dec_present(d, i))
        return required ? dec_reject(d, C2W_REJ_MISSING_FIELD, dec_name(d, i)) : 0;
    if (dec_type(d, i) != JT_STR)
        return dec_reject(d, C2W_REJ_BAD_TYPE, dec_name(d, i));
    if (!d->fast_record && memchr(dec_text(d, i), '\0', d->slots[i].len))
        return dec_reject(d, C2W_REJ_BAD_VALUE, dec_name(d, i));
    *s = dec_text(d, i);
    *len = d->slots[i].len;
    return 0;
}

/* String slot i into *out (NULL when absent and optional), still in
 * scratch: dec_own gives the record its own copies at the end. */
static int dec_take_str(c2w_decoder_t *d, int i, bool required, char **out)
{
    const char *s;
    size_t len;
    *out = NULL;
    if (dec_get_str(d, i, required, &s, &len) < 0)
        return -1;
    if (!s)
        return 0;
    *out = (char *)s;
    d->takes[d->n_takes++] = (dec_take_t){ out, len, i };
    return 0;
}

/*
 * Unsigned integer in 0..max from slot i. A JSON number must be written as
 * an integer; strings are accepted only when strings_ok (Sysmon writes its
 * numbers as strings). Wrong JSON type -> bad_type; anything else unusable
 * -> the caller's reason `bad` (bad_port for ports, bad_value otherwise).
 */
static int dec_get_u64(c2w_decoder_t *d, int i, bool required, bool strings_ok, c2w_reject_t bad,
                       uint64_t max, uint64_t *out)
{
    *out = 0;
    if (!dec_present(d, i))
        return required ? dec_reject(d, C2W_REJ_MISSING_FIELD, dec_name(d, i)) : 0;
    uint8_t type = dec_type(d, i);
    if (type != JT_NUM && !(strings_ok && type == JT_STR))
        return dec_reject(d, C2W_REJ_BAD_TYPE, dec_name(d, i));
    uint64_t v;
    if (!c2w_parse_u64(dec_text(d, i), d->slots[i].len, &v) || v > max)
        return dec_reject(d, bad, dec_name(d, i));
    *out = v;
    return 0;
}

static int dec_get_port(c2w_decoder_t *d, int i, bool required, uint16_t *out)
{
    uint64_t v;
    if (dec_get_u64(d, i, required, d->kind == C2W_SRC_SYSMON, C2W_REJ_BAD_PORT, 65535, &v) < 0)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static int dec_get_ip(c2w_decoder_t *d, int i, c2w_ip_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!dec_present(d, i))
        return dec_reject(d, C2W_REJ_MISSING_FIELD, dec_name(d, i));
    if (dec_type(d, i) != JT_STR)
        return dec_reject(d, C2W_REJ_BAD_TYPE, dec_name(d, i));
    if (!c2w_ip_parse(dec_text(d, i), d->slots[i].len, out))
        return dec_reject(d, C2W_REJ_BAD_IP, dec_name(d, i));
    return 0;
}

/* Time from slot i: RFC 3339 / Sysmon text, or (epoch_ok) epoch seconds. */
static int dec_get_time(c2w_decoder_t *d, int i, bool required, bool epoch_ok, c2w_time_t *out, bool *present)
{
    *out = 0;
    if (present)
        *present = false;
    if (!dec_present(d, i))
        return required ? dec_reject(d, C2W_REJ_MISSING_FIELD, dec_name(d, i)) : 0;
    const dec_slot_t *s = &d->slots[i];
    uint8_t type = dec_type(d, i);
    bool ok;
    if (type == JT_STR)
        ok = c2w_time_parse_text(dec_text(d, i), s->len, out);
    else if (type == JT_NUM && epoch_ok)
        ok = c2w_time_parse_epoch(dec_text(d, i), s->len, out);
    else
        return dec_reject(d, C2W_REJ_BAD_TYPE, dec_name(d, i));
    if (!ok || !c2w_time_valid(*out))
        return dec_reject(d, C2W_REJ_BAD_TIME, dec_name(d, i));
    if (present)
        *present = true;
    return 0;
}

/* Protocol name, ASCII case-insensitive. Zeek and Suricata write ICMPv6 as
 * icmp / IPv6-ICMP; both map to C2W_PROTO_ICMP, as Zeek does. */
static int dec_get_proto(c2w_decoder_t *d, int i, bool icmp_ok, uint8_t *out)
{
    const char *s;
    size_t len;
    if (dec_get_str(d, i, true, &s, &len) < 0)
        return -1;
    if (len == 3 && c2w_eq_ci_n(s, "tcp", 3))
        *out = C2W_PROTO_TCP;
    else if (len == 3 && c2w_eq_ci_n(s, "udp", 3))
        *out = C2W_PROTO_UDP;
    else if (icmp_ok && ((len == 4 && c2w_eq_ci_n(s, "icmp", 4)) || (len == 9 && c2w_eq_ci_n(s, "ipv6-icmp", 9))))
        *out = C2W_PROTO_ICMP;
    else
        return dec_reject(d, C2W_REJ_BAD_PROTO, dec_name(d, i));
    return 0;
}

/* Sysmon boolean: JSON true/false or "true"/"false" in any case. */
static int dec_get_bool(c2w_decoder_t *d, int i, bool *out)
{
    *out = false;
    if (!dec_present(d, i))
        return dec_reject(d, C2W_REJ_MISSING_FIELD, dec_name(d, i));
    const dec_slot_t *s = &d->slots[i];
    uint8_t type = dec_type(d, i);
    if (type == JT_BOOL) {
        *out = s->b;
        return 0;
    }
    if (type != JT_STR)
        return dec_reject(d, C2W_REJ_BAD_TYPE, dec_name(d, i));
    const char *t = dec_text(d, i);
    if (s->len == 4 && c2w_eq_ci_n(t, "true", 4))
        *out = true;
    else if (s->len == 5 && c2w_eq_ci_n(t, "false", 5))
        *out = false;
    else
        return dec_reject(d, C2W_REJ_BAD_VALUE, dec_name(d, i));
    return 0;
}

/*
 * "123.456789" with at most 15 digits in all: the digits as an integer m
 * (exact in a double) over 10^k (k <= 15, exact too). IEEE division
 * rounds the exact quotient correctly, as strtod does, so the result is
 * strtod's to the last bit (Clinger's fast path). false: use strtod.
 */
static bool dec_simple_decimal(const char *s, size_t len, double *out)
{
    static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
                                    1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
    uint64_t m = 0;
    unsigned digits = 0, frac = 0;
    bool dot = false;
    for (size_t k = 0; k < len; k++) {
        char c = s[k];
        if (c >= '0' && c <= '9') {
            m = m * 10 + (uint64_t)(c - '0');
            digits++;
            frac += dot;
        } else if (c == '.' && !dot && digits > 0) {
            dot = true;
        } else {
            return false;
        }
    }
    if (digits == 0 || digits > 15 || (dot && frac == 0))
        return false;
    *out = (double)m / pow10[frac];
    return true;
}

/* Optional non-negative finite number (seconds). Uses strtod, which follows
 * LC_NUMERIC: c2watch never calls setlocale, so that is "C". */
static int dec_get_seconds(c2w_decoder_t *d, int i, double *out)
{
    *out = 0;
    if (!dec_present(d, i))
        return 0;
    if (dec_type(d, i) != JT_NUM)
        return dec_reject(d, C2W_REJ_BAD_TYPE, dec_name(d, i));
    if (dec_simple_decimal(dec_text(d, i), d->slots[i].len, out))
        return 0;
    /* strtod wants a NUL-terminated text: a copy past what scratch holds
     * (it has room for the whole record) */
    char *text = d->scratch + d->scratch_len, *end = NULL;
    memcpy(text, dec_text(d, i), d->slots[i].len);
    text[d->slots[i].len] = '\0';
    double v = strtod(text, &end);
    if (end != text + d->slots[i].len || !isfinite(v) || v < 0)
        return dec_reject(d, C2W_REJ_BAD_VALUE, dec_name(d, i));
    *out = v;
    return 0;
}

/* ---- Zeek ---- */

/*
 * Established states: the responder answered (S1 S2 S3 SF) or the
 * connection was set up and then reset by either side (RSTO RSTR). REJ,
 * S0, SH, SHR, OTH, RSTOS0, RSTRH never saw a handshake completed.
 */
static bool dec_zeek_established(const char *st, size_t len)
{
    static const char *const states[] = { "S1", "S2", "S3", "SF", "RSTO", "RSTR" };
    for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++)
        if (dec_name_eq(states[k], st, len))
            return true;
    return false;
}

static int dec_zeek(c2w_decoder_t *d, c2w_record_t *out)
{
    const char *s;
    size_t len;

    /* Another log of the Kafka writer, wrapped in its name: {"dns": {...}}. */
    if (d->top_keys == 1 && d->first_is_map && !dec_name_eq("conn", d->first_key, d->first_key_len)) {
        bool any = false;
        for (unsigned i = 0; i < Z_COUNT; i++)
            any = any || dec_type(d, i) != JT_NONE;
        if (!any)
            return dec_skip(d, C2W_SKIP_OTHER_LOG, d->first_key,
                            d->first_key_len < sizeof(d->first_key) ? d->first_key_len : sizeof(d->first_key));
    }
    if (dec_get_str(d, Z_PATH, false, &s, &len) < 0)
        return -1;
    if (s && !dec_name_eq("conn", s, len))
        return dec_skip(d, C2W_SKIP_OTHER_LOG, s, len);

    out->kind = C2W_REC_FLOW;
    c2w_flow_t *f = &out->u.flow;
    if (dec_get_time(d, Z_TS, true, true, &f->ts, NULL) < 0 || dec_take_str(d, Z_UID, true, &f->uid) < 0)
        return -1;
    if (d->slots[Z_UID].len == 0)
        return dec_reject(d, C2W_REJ_BAD_VALUE, "uid");
    if (dec_get_ip(d, Z_ORIG_H, &f->orig_h) < 0 || dec_get_port(d, Z_ORIG_P, true, &f->orig_p) < 0 ||
        dec_get_ip(d, Z_RESP_H, &f->resp_h) < 0 || dec_get_port(d, Z_RESP_P, true, &f->resp_p) < 0 ||
        dec_get_proto(d, Z_PROTO, true, &f->proto) < 0 || dec_take_str(d, Z_CONN_STATE, true, &f->conn_state) < 0)
        return -1;
    f->established = dec_zeek_established(f->conn_state, d->slots[Z_CONN_STATE].len);
    if (dec_get_u64(d, Z_ORIG_BYTES, false, false, C2W_REJ_BAD_VALUE, UINT64_MAX, &f->orig_bytes) < 0 ||
        dec_get_u64(d, Z_RESP_BYTES, false, false, C2W_REJ_BAD_VALUE, UINT64_MAX, &f->resp_bytes) < 0 ||
        dec_get_seconds(d, Z_DURATION, &f->duration) < 0 || dec_take_str(d, Z_SERVICE, false, &f->service) < 0 ||
        dec_take_str(d, Z_COMMUNITY_ID, false, &f->community_id) < 0 ||
        dec_take_str(d, Z_HISTORY, false, &f->history) < 0 || dec_take_str(d, Z_PATH, false, &f->path) < 0)
        return -1;
    return 0;
}

/* ---- Sysmon ---- */

/* First present slot of a list of spellings of one header field, or -1. */
static int dec_first_present(const c2w_decoder_t *d, const int *slots, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (dec_present(d, slots[k]))
            return slots[k];
    return -1;
}

/*
 * Sysmon topics often carry other Windows channels too: any channel or
 * provider field naming something else means the record is not Sysmon.
 * Returns 0 (Sysmon or unknown), -1 skipped or rejected.
 */
static int dec_sysmon_channel(c2w_decoder_t *d)
{
    static const int chans[] = { S_CHAN_WLB7, S_PROV_WLB7, S_CHAN_WLB6, S_PROV_WLB6, S_CHAN_FLAT, S_PROV_FLAT };
    for (size_t k = 0; k < sizeof(chans) / sizeof(chans[0]); k++) {
        const char *s;
        size_t len;
        if (dec_type(d, chans[k]) == JT_NONE)
            continue; /* the usual case: not in the record */
        if (dec_get_str(d, chans[k], false, &s, &len) < 0)
            return -1;
        if (!s)
            continue;
        if (!(len == 36 && (memcmp(s, "Microsoft-Windows-Sysmon/Operational", 36) == 0 ||
                            c2w_eq_ci_n(s, "Microsoft-Windows-Sysmon/Operational", 36))) &&
            !(len == 24 && (memcmp(s, "Microsoft-Windows-Sysmon", 24) == 0 || c2w_eq_ci_n(s, "Microsoft-Windows-Sysmon", 24))))
            return dec_skip(d, C2W_SKIP_CHANNEL, s, len);
    }
    return 0;
}

/* Fields shared by every event we decode: time, host, guid, image. */
static int dec_sysmon_common(c2w_decoder_t *d, c2w_time_t *utc, char **host, char **guid, char **image)
{
    static const int hosts[] = { S_HOST_WLB7, S_HOST_WLB6, S_HOST_HOSTNAME, S_HOST_COMPUTER };
    if (dec_get_time(d, S_UTCTIME, true, false, utc, NULL) < 0)
        return -1;
    int h = dec_first_present(d, hosts, sizeof(hosts) / sizeof(hosts[0]));
    if (dec_take_str(d, h >= 0 ? h : S_HOST_HOSTNAME, true, host) < 0 || dec_take_str(d, S_GUID, true, guid) < 0 ||
        dec_take_str(d, S_IMAGE, true, image) < 0)
        return -1;
    return 0;
}

static int dec_sysmon(c2w_decoder_t *d, c2w_record_t *out)
{
    static const int ids[] = { S_EVENT_ID_WLB7, S_EVENT_ID_WLB6, S_EVENT_ID_FLAT };
    if (dec_sysmon_channel(d) < 0)
        return -1;
    int idslot = dec_first_present(d, ids, sizeof(ids) / sizeof(ids[0]));
    uint64_t id;
    if (dec_get_u64(d, idslot >= 0 ? idslot : S_EVENT_ID_FLAT, true, true, C2W_REJ_BAD_VALUE, UINT64_MAX, &id) < 0)
        return -1;

    switch (id) {
    case 3: {
        /* User is read when present but not required: Sysmon writes "-" for
         * some system connections, and rejecting those would lose their
         * attribution; AccountName is then absent. */
        out->kind = C2W_REC_NETCONN;
        c2w_netconn_t *n = &out->u.net;
        if (dec_sysmon_common(d, &n->utc, &n->host, &n->guid, &n->image) < 0 ||
            dec_get_u64(d, S_PID, true, true, C2W_REJ_BAD_VALUE, UINT64_MAX, &n->pid) < 0 ||
            dec_take_str(d, S_USER, false, &n->user) < 0 || dec_get_proto(d, S_PROTOCOL, false, &n->proto) < 0 ||
            dec_get_bool(d, S_INITIATED, &n->initiated) < 0 || dec_get_ip(d, S_SRC_IP, &n->src_ip) < 0 ||
            dec_get_port(d, S_SRC_PORT, true, &n->src_port) < 0 || dec_get_ip(d, S_DST_IP, &n->dst_ip) < 0 ||
            dec_get_port(d, S_DST_PORT, true, &n->dst_port) < 0 ||
            dec_take_str(d, S_DST_HOSTNAME, false, &n->dst_hostname) < 0)
            return -1;
        return 0;
    }
    case 1:
    case 5: {
        out->kind = id == 1 ? C2W_REC_PROC : C2W_REC_PROCEND;
        c2w_procinfo_t *p = &out->u.proc;
        if (dec_sysmon_common(d, &p->utc, &p->host, &p->guid, &p->image) < 0 ||
            dec_get_u64(d, S_PID, false, true, C2W_REJ_BAD_VALUE, UINT64_MAX, &p->pid) < 0)
            return -1;
        if (id == 1 && (dec_take_str(d, S_CMDLINE, false, &p->command_line) < 0 ||
                        dec_take_str(d, S_PARENT_IMAGE, false, &p->parent_image) < 0 ||
                        dec_take_str(d, S_HASHES, false, &p->hashes) < 0 ||
                        dec_take_str(d, S_USER, false, &p->user) < 0))
            return -1;
        return 0;
    }
    case 22: {
        out->kind = C2W_REC_DNS;
        c2w_dnsinfo_t *q = &out->u.dns;
        if (dec_sysmon_common(d, &q->utc, &q->host, &q->guid, &q->image) < 0 ||
            dec_take_str(d, S_QUERY_NAME, true, &q->query_name) < 0 ||
            dec_take_str(d, S_QUERY_RESULTS, false, &q->query_results) < 0)
            return -1;
        return 0;
    }
    default: {
        char num[24];
        size_t n = sizeof(num);
        do
            num[--n] = (char)('0' + id % 10);
        while ((id /= 10) != 0);
        return dec_skip(d, C2W_SKIP_EVENT_ID, num + n, sizeof(num) - n);
    }
    }
}

/* ---- Suricata eve ---- */

/* 1..16 hex digits (Suricata writes TCP flags as "1b"). */
static bool dec_parse_hex(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 16)
        return false;
    for (size_t k = 0; k < len; k++) {
        char c = s[k];
        unsigned x;
        if (c >= '0' && c <= '9')
            x = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x = (unsigned)(c - 'A' + 10);
        else
            return false;
        v = v << 4 | x;
    }
    *out = v;
    return true;
}

/*
 * Suricata has no connection states like Zeek's: a TCP flow is established
 * when the responder sent SYN and ACK (tcp_flags_tc has 0x12), a UDP flow
 * when the responder sent anything. ICMP flows carry no ports: their type
 * and code go to orig_p/resp_p, as Zeek does.
 */
static int dec_eve(c2w_decoder_t *d, c2w_record_t *out)
{
    const char *s;
    size_t len;
    if (dec_get_str(d, E_EVENT_TYPE, true, &s, &len) < 0)
        return -1;
    if (!dec_name_eq("flow", s, len))
        return dec_skip(d, C2W_SKIP_EVENT_TYPE, s, len);

    out->kind = C2W_REC_FLOW;
    c2w_flow_t *f = &out->u.flow;
    uint64_t flow_id, pkts_tc, flags_tc = 0;
    c2w_time_t end;
    bool has_end;
    if (dec_get_time(d, E_START, true, false, &f->ts, NULL) < 0 ||
        dec_get_u64(d, E_FLOW_ID, true, false, C2W_REJ_BAD_VALUE, UINT64_MAX, &flow_id) < 0 ||
        dec_get_ip(d, E_SRC_IP, &f->orig_h) < 0 || dec_get_ip(d, E_DEST_IP, &f->resp_h) < 0 ||
        dec_get_proto(d, E_PROTO, true, &f->proto) < 0)
        return -1;
    bool icmp = f->proto == C2W_PROTO_ICMP;
    if (dec_get_port(d, E_SRC_PORT, !icmp, &f->orig_p) < 0 || dec_get_port(d, E_DEST_PORT, !icmp, &f->resp_p) < 0)
        return -1;
    if (icmp && !dec_present(d, E_SRC_PORT) && !dec_present(d, E_DEST_PORT) &&
        (dec_get_port(d, E_ICMP_TYPE, false, &f->orig_p) < 0 || dec_get_port(d, E_ICMP_CODE, false, &f->resp_p) < 0))
        return -1;
    if (dec_get_time(d, E_END, false, false, &end, &has_end) < 0 ||
        dec_get_u64(d, E_BYTES_TS, false, false, C2W_REJ_BAD_VALUE, UINT64_MAX, &f->orig_bytes) < 0 ||
        dec_get_u64(d, E_BYTES_TC, false, false, C2W_REJ_BAD_VALUE, UINT64_MAX, &f->resp_bytes) < 0 ||
        dec_get_u64(d, E_PKTS_TC, false, false, C2W_REJ_BAD_VALUE, UINT64_MAX, &pkts_tc) < 0 ||
        dec_get_str(d, E_TCP_FLAGS_TC, false, &s, &len) < 0)
        return -1;
    if (s && !dec_parse_hex(s, len, &flags_tc))
        return dec_reject(d, C2W_REJ_BAD_VALUE, dec_name(d, E_TCP_FLAGS_TC));
    if (has_end) {
        if (end < f->ts)
            return dec_reject(d, C2W_REJ_BAD_TIME, dec_name(d, E_END));
        f->duration = (double)(end - f->ts) / (double)C2W_USEC;
    }
    if (f->proto == C2W_PROTO_TCP)
        f->established = (flags_tc & 0x12) == 0x12;
    else if (f->proto == C2W_PROTO_UDP)
        f->established = pkts_tc > 0;
    if (dec_take_str(d, E_COMMUNITY_ID, false, &f->community_id) < 0)
        return -1;
    snprintf(d->uid_text, sizeof(d->uid_text), "F%" PRIu64, flow_id);
    f->uid = d->uid_text;
    d->takes[d->n_takes++] = (dec_take_t){ &f->uid, strlen(d->uid_text), E_FLOW_ID };
    return 0;
}

/* ---- phase 3: the record's own strings ---- */

/* A flow or event 3 to a remote port no rule can match: the pipeline
 * counts it and moves its source's clock, nothing else. */
static bool dec_unwanted(const c2w_decoder_t *d, const c2w_record_t *out)
{
    uint16_t port;
    if (out->kind == C2W_REC_FLOW)
        port = out->u.flow.resp_p;
    else if (out->kind == C2W_REC_NETCONN)
        port = out->u.net.dst_port;
    else
        return false;
    return d->ports && !(d->ports[port >> 3] & (1u << (port & 7)));
}

/* Copies the taken strings out of scratch, all into one block (the
 * record's `strings`, record.h): one allocation per record, where the
 * record may wait in the service's merge for ~100 000 others before it is
 * freed. An unwanted record keeps only its host (the pipeline keeps
 * per-host clocks); its other strings stay NULL. On OOM the record is
 * cleared. */
static int dec_own(c2w_decoder_t *d, c2w_record_t *out)
{
    bool lean = dec_unwanted(d, out);
    char **keep = out->kind == C2W_REC_NETCONN ? &out->u.net.host : NULL;
    size_t total = 0;
    for (unsigned k = 0; k < d->n_takes; k++) {
        char **dst = d->takes[k].dst;
        if (lean && dst != keep) {
            *dst = NULL;
            continue;
        }
        if (lean && d->takes[k].len < sizeof(out->u.net.host_short)) { /* dst == keep: no allocation */
            memcpy(out->u.net.host_short, *dst, d->takes[k].len);
            out->u.net.host_short[d->takes[k].len] = '\0';
            *dst = NULL;
            continue;
        }
        total += d->takes[k].len + 1;
    }
    if (!total)
        return 0;
    char **slot = c2w_record_strings(out); /* NULL only without a kind: never with strings taken */
    char *block = slot ? malloc(total) : NULL;
    if (!block) {
        for (unsigned k = 0; k < d->n_takes; k++)
            *d->takes[k].dst = NULL;
        c2w_record_clear(out);
        return dec_oom(d, "strings");
    }
    char *at = block;
    for (unsigned k = 0; k < d->n_takes; k++) {
        char **dst = d->takes[k].dst;
        if (!*dst)
            continue;
        memcpy(at, *dst, d->takes[k].len);
        at[d->takes[k].len] = '\0';
        *dst = at;
        at += d->takes[k].len + 1;
    }
    *slot = block;
    return 0;
}

/* ---- yajl's allocator ----
 *
 * yajl 2.1 never checks what its allocator returns, except for an error
 * message: yajl_alloc copies into the handle it was just given
 * (src/yajl.c:64-67), yajl_buf_alloc and yajl_lex_alloc memset theirs
 * (src/yajl_buf.c:58-59, src/yajl_lex.c:107-108), a buffer's first block
 * gets a NUL and a grown one gets the bytes (yajl_buf.c:42-43, 51, 76),
 * yajl_bs_push stores the new state through the realloc'd stack
 * (src/yajl_bytestack.h:56-60). Only yajl_render_error_string tests its
 * block (yajl_parser.c). So yajl's allocator must never return NULL, and a
 * failing malloc cannot be passed on to it.
 *
 * Instead, before yajl sees a record, the decoder reserves every byte yajl
 * can ask for while parsing it (dec_ya_reserve: an ordinary malloc; when
 * it fails, the record is rejected as no_memory and yajl is not called),
 * and yajl's allocator cuts its blocks from that budget; frees are no-ops
 * and the next record reuses the budget. What yajl 2.1 asks for, for one
 * record of len bytes fed in one chunk and then yajl_complete_parse:
 *   - fixed-size blocks: the handle, the lexer, two yajl_buf_t (the
 *     decode buffer's and the lexer's) and at most one error message (we
 *     ask once, not verbose: under 100 bytes); DEC_YA_SMALLS blocks of at
 *     most DEC_YA_SMALL bytes;
 *   - the lexer buffer's data: it holds only a token cut by the end of a
 *     chunk (yajl_lex_lex, at "lexed:"), so at most len + 1 bytes (the
 *     record's tail, then the " " yajl_complete_parse feeds);
 *   - the decode buffer's data: one unescaped string or key, never longer
 *     than its JSON text, so at most len bytes;
 *     both buffers start at 2048 bytes and double until the content and a
 *     NUL fit (yajl_buf.c:41-52): every request is 2048 * 2^k, the last one
 *     at most dec_ya_bufsize(len + 1);
 *   - the state stack: one byte per open container plus one, grown 128
 *     bytes at a time; yajl_do_parse pushes a container only after our
 *     start_map / start_array callback accepted it, and dec_open refuses
 *     the one past max_depth, so at most min(max_depth, len) + 1 bytes.
 * A block that must grow moves to a new one of twice its capacity, or of
 * the request when that is more (dec_ya_realloc): yajl's buffers then have
 * the capacities 2048 * 2^k they ask for, and the stack (128 bytes more
 * each time) 128 * 2^k. dec_ya_chain counts every capacity such a block
 * can pass through, so dec_ya_budget is more than yajl can take.
 * tests/test_oom.c checks these facts against the libyajl it is linked
 * with, and that no parse of a worst-case record leaves its budget. Were
 * a yajl of another version to ask for more anyway, the heap stands in;
 * only if that malloc failed as well would the decoder abort() rather than
 * let yajl write through NULL.
 */

#define DEC_YA_ALIGN ((size_t)16)
#define DEC_YA_HDR ((size_t)16) /* before each block: its capacity */
#define DEC_YA_SMALL ((size_t)512) /* bound on one fixed-size yajl block */
#define DEC_YA_SMALLS 5
#define DEC_YA_KEEP ((size_t)256 * 1024) /* a larger budget is freed after its record */

/* The capacity of a block being asked n bytes, 0 on overflow. */
static size_t dec_ya_round(size_t n)
{
    if (n > SIZE_MAX / 4)
        return 0;
    return n ? (n + DEC_YA_ALIGN - 1) & ~(DEC_YA_ALIGN - 1) : DEC_YA_ALIGN;
}

/* Bytes taken by a block of first bytes grown by doubling until it holds
 * f: every capacity it passes through, each with its header. */
static size_t dec_ya_chain(size_t first, size_t f)
{
    size_t cap = first, sum = DEC_YA_HDR + cap;
    while (cap < f) {
        cap <<= 1;
        sum += DEC_YA_HDR + cap;
    }
    return sum;
}

/* yajl_buf's last request for n bytes of content (plus its NUL). */
static size_t dec_ya_bufsize(size_t n)
{
    size_t need = 2048;
    while (need <= n)
        need <<= 1;
    return need;
}

/* Bytes yajl may take parsing a record of len bytes (len <= max_bytes). */
static size_t dec_ya_budget(const c2w_decoder_t *d, size_t len)
{
    size_t depth = d->max_depth < len ? d->max_depth : len;
    size_t stack = (depth + 1 + 127) / 128 * 128;
    return 2 * dec_ya_chain(2048, dec_ya_bufsize(len + 1)) + dec_ya_chain(128, stack) +
           DEC_YA_SMALLS * (DEC_YA_HDR + DEC_YA_SMALL);
}

/* Makes the budget cover a record of len bytes; 0, or -1 on OOM. */
static int dec_ya_reserve(c2w_decoder_t *d, size_t len)
{
    d->ya_used = 0;
    if (len > SIZE_MAX / 64)
        return -1;
    size_t need = dec_ya_budget(d, len);
    if (d->ya_cap >= need)
        return 0;
    free(d->ya_base);
    d->ya_cap = 0;
    d->ya_base = malloc(need);
    if (!d->ya_base)
        return -1;
    d->ya_cap = need;
    return 0;
}

/* After a parse: a large budget is given back rather than kept. */
static void dec_ya_release(c2w_decoder_t *d)
{
    d->ya_used = 0;
    if (d->ya_cap > DEC_YA_KEEP) {
        free(d->ya_base);
        d->ya_base = NULL;
        d->ya_cap = 0;
    }
}

static bool dec_ya_in_budget(const c2w_decoder_t *d, const void *p)
{
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)d->ya_base;
    return d->ya_base && a >= base && a - base < d->ya_cap;
}

/* A block of cap bytes (dec_ya_round'ed, not 0); never NULL. */
static void *dec_ya_block(c2w_decoder_t *d, size_t cap)
{
    unsigned char *b;
    if (cap && d->ya_cap - d->ya_used >= DEC_YA_HDR + cap) {
        b = d->ya_base + d->ya_used;
        d->ya_used += DEC_YA_HDR + cap;
    } else {
        /* Past the budget: not with yajl 2.1 (see above). */
        b = cap ? malloc(DEC_YA_HDR + cap) : NULL;
        if (!b)
            abort(); /* yajl would write through NULL */
    }
    memcpy(b, &cap, sizeof(cap));
    return b + DEC_YA_HDR;
}

static size_t dec_ya_cap(const void *p)
{
    size_t cap;
    memcpy(&cap, (const unsigned char *)p - DEC_YA_HDR, sizeof(cap));
    return cap;
}

static void *dec_ya_malloc(void *ctx, size_t n)
{
    return dec_ya_block(ctx, dec_ya_round(n));
}

static void dec_ya_free(void *ctx, void *p)
{
    if (p && !dec_ya_in_budget(ctx, p))
        free((unsigned char *)p - DEC_YA_HDR);
}

static void *dec_ya_realloc(void *ctx, void *p, size_t n)
{
    if (!p)
        return dec_ya_malloc(ctx, n);
    size_t cap = dec_ya_cap(p);
    if (n <= cap)
        return p;
    size_t grown = dec_ya_round(n);
    if (grown && grown < 2 * cap)
        grown = dec_ya_round(2 * cap);
    void *q = dec_ya_block(ctx, grown);
    memcpy(q, p, cap);
    dec_ya_free(ctx, p);
    return q;
}

/* ---- public ---- */

c2w_decoder_t *c2w_decoder_new(c2w_source_kind_t kind, const c2w_decode_opts_t *opts)
{
    if ((unsigned)kind >= C2W_SRC_COUNT)
        return NULL;
    c2w_decoder_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->kind = kind;
    d->src = &dec_sources[kind];
    d->max_bytes = opts && opts->max_record_bytes ? opts->max_record_bytes : DEC_DEFAULT_MAX_BYTES;
    d->max_depth = opts && opts->max_depth ? opts->max_depth : DEC_DEFAULT_MAX_DEPTH;
    d->full_parse = opts && opts->full_parse;
    if (d->max_bytes > SIZE_MAX / 2)
        goto out_free_d;
    d->frames = calloc(d->max_depth, sizeof(*d->frames));
    if (!d->frames)
        goto out_free_d;
    /* Every collected text is a distinct part of the record, no longer
     * decoded than written, plus a NUL per slot. */
    d->scratch_cap = d->max_bytes + DEC_SLOT_MAX + 1;
    d->scratch = malloc(d->scratch_cap);
    if (!d->scratch)
        goto out_free_frames;
    dec_names_init(d);
    return d;

out_free_frames:
    free(d->frames);
out_free_d:
    free(d);
    return NULL;
}

void c2w_decoder_free(c2w_decoder_t *d)
{
    if (!d)
        return;
    free(d->ya_base);
    free(d->scratch);
    free(d->frames);
    free(d);
}

static bool dec_blank(const char *buf, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (buf[k] != ' ' && buf[k] != '\t' && buf[k] != '\r' && buf[k] != '\n')
            return false;
    return true;
}

/* Parses the record into the slots; 0, or -1 with the rejection recorded. */
static int dec_parse(c2w_decoder_t *d, const char *buf, size_t len)
{
    /* yajl 2.1 has no reset: one handle per record, in the budget. */
    if (dec_ya_reserve(d, len) < 0)
        return dec_oom(d, "parser");
    yajl_alloc_funcs afs = { .malloc = dec_ya_malloc, .realloc = dec_ya_realloc, .free = dec_ya_free, .ctx = d };
    yajl_handle h = yajl_alloc(&dec_callbacks, &afs, d);
    if (!h) {
        dec_ya_release(d);
        return dec_oom(d, "parser");
    }
    yajl_status st = yajl_parse(h, (const unsigned char *)buf, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (st != yajl_status_ok && !d->failed) {
        unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
        const char *m = msg ? (const char *)msg : "parse error";
        char what[96];
        size_t n = strcspn(m, "\n");
        snprintf(what, sizeof(what), "%.*s", (int)(n < sizeof(what) ? n : sizeof(what) - 1), m);
        dec_reject(d, strstr(m, "UTF8") ? C2W_REJ_BAD_UTF8 : C2W_REJ_BAD_JSON, what);
        if (msg)
            yajl_free_error(h, msg);
    }
    yajl_free(h);
    dec_ya_release(d);
    if (st == yajl_status_ok && !d->failed && memchr(buf, '\\', len) && !dec_escapes_valid(buf, len))
        dec_reject(d, C2W_REJ_BAD_UTF8, "lone surrogate escape");
    return d->failed ? -1 : 0;
}

void c2w_decoder_set_ports(c2w_decoder_t *d, const uint8_t *ports)
{
    d->ports = ports;
}

void c2w_decoder_counts(const c2w_decoder_t *d, uint64_t *fast, uint64_t *full)
{
    *fast = d->scanned;
    *full = d->fallbacks;
}

c2w_dec_status_t c2w_decode(c2w_decoder_t *d, const char *buf, size_t len, c2w_record_t *out,
                            c2w_dec_result_t *res)
{
    memset(out, 0, sizeof(*out));
    res->status = C2W_DEC_OK;
    res->reason = 0;
    res->detail[0] = '\0';
    d->res = res;
    d->failed = false;

    /* The line end is not part of the record (nor of its size): "\n",
     * "\r\n", or the "\r" a line reader leaves of a CRLF line. */
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    if (dec_blank(buf, len)) {
        dec_reject(d, C2W_REJ_EMPTY, NULL);
        goto out;
    }
    if (len > d->max_bytes) {
        char what[64];
        snprintf(what, sizeof(what), "%zu bytes > %zu", len, d->max_bytes);
        dec_reject(d, C2W_REJ_TOO_BIG, what);
        goto out;
    }
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        dec_reject(d, C2W_REJ_BAD_JSON, "byte order mark");
        goto out;
    }

    d->depth = 0;
    d->path_len = 0;
    d->path_over = false;
    d->scratch_len = 0;
    d->top_keys = 0;
    d->first_key_len = 0;
    d->first_is_map = false;
    dec_slots_reset(d);
    d->fast_record = !d->full_parse && dec_scan(d, buf, len);
    if (d->fast_record) {
        d->scanned++;
    } else {
        d->fallbacks++;
        d->top_keys = 0;
        d->first_key_len = 0;
        d->scratch_len = 0;
        dec_slots_reset(d);
        if (dec_parse(d, buf, len) < 0)
            goto out;
    }

    int rc;
    d->n_takes = 0;
    switch (d->kind) {
    case C2W_SRC_ZEEK:
        rc = dec_zeek(d, out);
        break;
    case C2W_SRC_SYSMON:
        rc = dec_sysmon(d, out);
        break;
    default:
        rc = dec_eve(d, out);
        break;
    }
    if (rc < 0) {
        for (unsigned k = 0; k < d->n_takes; k++)
            *d->takes[k].dst = NULL; /* borrowed, nothing to free */
        c2w_record_clear(out);
    } else {
        dec_own(d, out);
    }
out:
    d->res = NULL;
    return res->status;
}
