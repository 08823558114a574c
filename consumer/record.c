/*
 * record.c — value types of normalized records: IPs, times, durations, and
 * the field catalog that rules and outputs share.
 */
#include "c2watch/record.h"
#include "c2watch/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void c2w_flow_clear(c2w_flow_t *flow)
{
    if (flow->strings) {
        free(flow->strings);
    } else {
        free(flow->uid);
        free(flow->conn_state);
        free(flow->service);
        free(flow->community_id);
        free(flow->history);
        free(flow->path);
    }
    memset(flow, 0, sizeof(*flow));
}

char **c2w_record_strings(c2w_record_t *rec)
{
    switch (rec->kind) {
    case C2W_REC_FLOW:
        return &rec->u.flow.strings;
    case C2W_REC_NETCONN:
        return &rec->u.net.strings;
    case C2W_REC_PROC:
    case C2W_REC_PROCEND:
        return &rec->u.proc.strings;
    case C2W_REC_DNS:
        return &rec->u.dns.strings;
    case C2W_REC_NONE:
        break;
    }
    return NULL;
}

char *c2w_take_string(const char *strings, char **field)
{
    char *s = *field;
    if (strings)
        return c2w_strdup_opt(s);
    *field = NULL;
    return s;
}

void c2w_record_clear(c2w_record_t *rec)
{
    char **strings = c2w_record_strings(rec);
    if (strings && *strings) {
        free(*strings);
        memset(rec, 0, sizeof(*rec));
        return;
    }
    switch (rec->kind) {
    case C2W_REC_FLOW:
        c2w_flow_clear(&rec->u.flow);
        break;
    case C2W_REC_NETCONN:
        free(rec->u.net.host);
        free(rec->u.net.guid);
        free(rec->u.net.image);
        free(rec->u.net.user);
        free(rec->u.net.dst_hostname);
        break;
    case C2W_REC_PROC:
    case C2W_REC_PROCEND:
        free(rec->u.proc.host);
        free(rec->u.proc.guid);
        free(rec->u.proc.image);
        free(rec->u.proc.command_line);
        free(rec->u.proc.parent_image);
        free(rec->u.proc.hashes);
        free(rec->u.proc.user);
        break;
    case C2W_REC_DNS:
        free(rec->u.dns.host);
        free(rec->u.dns.guid);
        free(rec->u.dns.image);
        free(rec->u.dns.query_name);
        free(rec->u.dns.query_results);
        break;
    case C2W_REC_NONE:
        break;
    }
    memset(rec, 0, sizeof(*rec));
}

/* ---- IP addresses ---- */

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Dotted-quad IPv4 as glibc's inet_pton accepts it: four decimal parts of
 * 0..255 without leading zeros, nothing else. False sends the text on to
 * inet_pton (which then refuses it as IPv4 as well). */
static bool ip4_parse_fast(const char *s, size_t len, uint8_t addr[4])
{
    size_t i = 0;
    for (int p = 0; p < 4; p++) {
        if (p && (i >= len || s[i++] != '.'))
            return false;
        if (i >= len || (unsigned char)(s[i] - '0') > 9)
            return false;
        unsigned v = (unsigned)(s[i++] - '0');
        if (i < len && (unsigned char)(s[i] - '0') <= 9) {
            if (v == 0)
                return false; /* a leading zero */
            v = v * 10 + (unsigned)(s[i++] - '0');
            if (i < len && (unsigned char)(s[i] - '0') <= 9) {
                v = v * 10 + (unsigned)(s[i++] - '0');
                if (v > 255)
                    return false;
            }
        }
        addr[p] = (uint8_t)v;
    }
    return i == len;
}

bool c2w_ip_parse(const char *s, size_t len, c2w_ip_t *out)
{
    uint8_t a4[4];
    /* dotted quads, and the same after "::ffff:" (an IPv4-mapped IPv6
     * address: stored as the IPv4 one, as below) */
    if (ip4_parse_fast(s, len, a4) ||
        (len > 7 && c2w_eq_ci_n(s, "::ffff:", 7) && ip4_parse_fast(s + 7, len - 7, a4))) {
        memset(out, 0, sizeof(*out));
        memcpy(out->addr, a4, 4);
        out->family = 4;
        return true;
    }
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (memchr(s, '\0', len))
        return false;
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, tmp, out->addr) == 1) {
        out->family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, tmp, out->addr) == 1) {
        if (memcmp(out->addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
            memmove(out->addr, out->addr + 12, 4);
            memset(out->addr + 4, 0, 12);
            out->family = 4;
        } else {
            out->family = 6;
        }
        return true;
    }
    memset(out, 0, sizeof(*out));
    return false;
}

char *c2w_ip_format(const c2w_ip_t *ip, char *buf)
{
    buf[0] = '\0';
    if (ip->family == 4)
        inet_ntop(AF_INET, ip->addr, buf, C2W_IP_STRLEN);
    else if (ip->family == 6)
        inet_ntop(AF_INET6, ip->addr, buf, C2W_IP_STRLEN);
    return buf;
}

bool c2w_ip_equal(const c2w_ip_t *a, const c2w_ip_t *b)
{
    if (a->family != b->family)
        return false;
    return memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16) == 0;
}

/* ---- times ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), valid for every year we accept. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

bool c2w_time_valid(c2w_time_t t)
{
    return t >= C2W_TIME_MIN && t < C2W_TIME_MAX;
}

static inline bool dec_digit(char c)
{
    return (unsigned char)(c - '0') < 10u;
}

/*
 * Epoch seconds. Parsed from the decimal text itself rather than through a
 * double, so "1692146028.495991" is exactly 1692146028495991 µs. Exponent
 * forms are rare in ts; they go through strtod and are rounded to the µs.
 */
bool c2w_time_parse_epoch(const char *s, size_t len, c2w_time_t *out)
{
    size_t i = 0;
    if (len == 0 || len > 64)
        return false;
    bool neg = false;
    if (s[0] == '-') {
        neg = true;
        i++;
    }
    int64_t secs = 0;
    size_t digits = 0;
    for (; i < len && dec_digit(s[i]); i++, digits++) {
        if (secs > 10000000000LL)
            return false; /* far past 2100 */
        secs = secs * 10 + (s[i] - '0');
    }
    if (digits == 0)
        return false;
    int64_t usec = 0;
    if (i < len && s[i] == '.') {
        i++;
        size_t f = 0;
        for (; i < len && dec_digit(s[i]); i++, f++) {
            if (f < 6)
                usec = usec * 10 + (s[i] - '0');
        }
        if (f == 0)
            return false;
        for (; f < 6; f++)
            usec *= 10;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        char tmp[72];
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        char *end = NULL;
        double v = strtod(tmp, &end);
        if (end != tmp + len || !isfinite(v) || fabs(v) > 1e11)
            return false;
        *out = (c2w_time_t)llround(v * 1e6);
        return true;
    }
    if (i != len)
        return false;
    c2w_time_t t = secs * C2W_USEC + usec;
    *out = neg ? -t : t;
    return true;
}

static bool take_digits(const char *s, size_t len, size_t *i, size_t n, int *val)
{
    int v = 0;
    if (*i + n > len)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = s[*i + k];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *i += n;
    *val = v;
    return true;
}

static const unsigned char days_in_month[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

/* "YYYY-MM-DD?HH:MM:SS", '?' one of 'T', 't', ' ': the 19 bytes every
 * accepted spelling starts with, read at their fixed positions. */
static bool time_text_prefix(const char *s, size_t len, int *y, int *mo, int *d, int *h, int *mi, int *sec)
{
    if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return false;
    static const unsigned char pos[14] = { 0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18 };
    int v[14];
    unsigned bad = 0;
    for (int k = 0; k < 14; k++) {
        v[k] = s[pos[k]] - '0';
        bad |= (unsigned)v[k] > 9u; /* not a digit (below '0' wraps round) */
    }
    if (bad)
        return false;
    *y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
    *mo = v[4] * 10 + v[5];
    *d = v[6] * 10 + v[7];
    *h = v[8] * 10 + v[9];
    *mi = v[10] * 10 + v[11];
    *sec = v[12] * 10 + v[13];
    return true;
}

bool c2w_time_parse_text(const char *s, size_t len, c2w_time_t *out)
{
    size_t i = 19;
    int y, mo, d, h, mi, sec;
    if (!time_text_prefix(s, len, &y, &mo, &d, &h, &mi, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return false;
    int64_t usec = 0;
    if (i < len && (s[i] == '.' || s[i] == ',')) {
        i++;
        size_t f = 0;
        for (; i < len && dec_digit(s[i]); i++, f++) {
            if (f < 6)
                usec = usec * 10 + (s[i] - '0');
        }
        if (f == 0)
            return false;
        for (; f < 6; f++)
            usec *= 10;
    }
    int64_t offset = 0; /* seconds east of UTC */
    if (i < len) {
        if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
            i++;
        } else if (s[i] == '+' || s[i] == '-') {
            int sign = s[i] == '-' ? -1 : 1;
            int oh, om;
            i++;
            if (!take_digits(s, len, &i, 2, &oh))
                return false;
            if (i < len && s[i] == ':')
                i++;
            if (!take_digits(s, len, &i, 2, &om))
                return false;
            if (oh > 23 || om > 59)
                return false;
            offset = sign * (oh * 3600 + om * 60);
        } else {
            return false;
        }
    }
    if (i != len)
        return false;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
    *out = secs * C2W_USEC + usec;
    return true;
}

char *c2w_time_format(c2w_time_t t, char *buf)
{
    int64_t secs = t / C2W_USEC;
    int64_t usec = t % C2W_USEC;
    if (usec < 0) {
        usec += C2W_USEC;
        secs -= 1;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) /* outside what the decoders accept; keep the width */
        y = y < 0 ? 0 : 9999;
    snprintf(buf, 32, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", y, m % 13, d % 32, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), (int)usec);
    return buf;
}

bool c2w_duration_parse(const char *s, c2w_time_t *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return false;
    int64_t n = 0;
    size_t i = 0;
    for (; isdigit((unsigned char)s[i]); i++) {
        if (n > 100000000LL)
            return false;
        n = n * 10 + (s[i] - '0');
    }
    const char *u = s + i;
    int64_t mult;
    if (strcmp(u, "ms") == 0)
        mult = 1000;
    else if (strcmp(u, "s") == 0)
        mult = C2W_USEC;
    else if (strcmp(u, "m") == 0)
        mult = 60 * C2W_USEC;
    else if (strcmp(u, "h") == 0)
        mult = 3600 * C2W_USEC;
    else if (strcmp(u, "d") == 0)
        mult = 86400 * C2W_USEC;
    else
        return false;
    if (n == 0 || n * (mult / 1000) > 3650LL * 86400 * 1000) /* at most ten years */
        return false;
    *out = n * mult;
    return true;
}

/* ---- field catalog ---- */

static const struct {
    const char *name;
    c2w_type_t type;
} field_table[C2W_F_COUNT] = {
    [C2W_F_TIMESTAMP] = { "Timestamp", C2W_T_TIME },
    [C2W_F_DEVICE_NAME] = { "DeviceName", C2W_T_STR },
    [C2W_F_ACCOUNT_NAME] = { "AccountName", C2W_T_STR },
    [C2W_F_PROC_FILE_NAME] = { "InitiatingProcessFileName", C2W_T_STR },
    [C2W_F_PROC_FOLDER_PATH] = { "InitiatingProcessFolderPath", C2W_T_STR },
    [C2W_F_PROC_ID] = { "InitiatingProcessId", C2W_T_INT },
    [C2W_F_PROC_GUID] = { "InitiatingProcessGuid", C2W_T_STR },
    [C2W_F_PROC_COMMAND_LINE] = { "InitiatingProcessCommandLine", C2W_T_STR },
    [C2W_F_PROC_PARENT_FILE_NAME] = { "InitiatingProcessParentFileName", C2W_T_STR },
    [C2W_F_LOCAL_IP] = { "LocalIP", C2W_T_IP },
    [C2W_F_LOCAL_PORT] = { "LocalPort", C2W_T_INT },
    [C2W_F_REMOTE_IP] = { "RemoteIP", C2W_T_IP },
    [C2W_F_REMOTE_PORT] = { "RemotePort", C2W_T_INT },
    [C2W_F_PROTOCOL] = { "Protocol", C2W_T_STR },
    [C2W_F_ACTION_TYPE] = { "ActionType", C2W_T_STR },
    [C2W_F_SENT_BYTES] = { "SentBytes", C2W_T_INT },
    [C2W_F_RECEIVED_BYTES] = { "ReceivedBytes", C2W_T_INT },
    [C2W_F_DURATION] = { "Duration", C2W_T_NUM },
    [C2W_F_ZEEK_UID] = { "ZeekUid", C2W_T_STR },
    [C2W_F_COMMUNITY_ID] = { "CommunityId", C2W_T_STR },
    [C2W_F_REMOTE_URL] = { "RemoteUrl", C2W_T_STR },
    [C2W_F_CLOCK_OFFSET] = { "ClockOffset", C2W_T_NUM },
    [C2W_F_SERVICE] = { "Service", C2W_T_STR },
    [C2W_F_CONN_STATE] = { "ConnState", C2W_T_STR },
};

const char *c2w_field_name(c2w_field_t f)
{
    return (unsigned)f < C2W_F_COUNT ? field_table[f].name : "?";
}

c2w_type_t c2w_field_type(c2w_field_t f)
{
    return (unsigned)f < C2W_F_COUNT ? field_table[f].type : C2W_T_STR;
}

int c2w_field_lookup(const char *name)
{
    for (int f = 0; f < C2W_F_COUNT; f++)
        if (strcmp(field_table[f].name, name) == 0)
            return f;
    return -1;
}

const char *c2w_path_basename(const char *p)
{
    const char *b = p;
    for (const char *c = p; *c; c++)
        if (*c == '\\' || *c == '/')
            b = c + 1;
    return b;
}

static void set_str(c2w_value_t *v, const char *s)
{
    v->type = C2W_T_STR;
    v->present = s != NULL;
    v->s = s ? s : "";
}

static void set_int(c2w_value_t *v, uint64_t u, bool present)
{
    v->type = C2W_T_INT;
    v->present = present;
    v->u = u;
}

void c2w_field_get(const c2w_attributed_t *a, c2w_field_t f, c2w_value_t *out)
{
    const c2w_flow_t *fl = a->flow;
    memset(out, 0, sizeof(*out));
    switch (f) {
    case C2W_F_TIMESTAMP:
        out->type = C2W_T_TIME;
        out->present = true;
        out->t = fl->ts;
        break;
    case C2W_F_DEVICE_NAME:
        set_str(out, a->device);
        break;
    case C2W_F_ACCOUNT_NAME:
        set_str(out, a->account);
        break;
    case C2W_F_PROC_FILE_NAME:
        set_str(out, a->file_name);
        break;
    case C2W_F_PROC_FOLDER_PATH:
        set_str(out, a->image);
        break;
    case C2W_F_PROC_ID:
        set_int(out, a->pid, a->attributed);
        break;
    case C2W_F_PROC_GUID:
        set_str(out, a->guid);
        break;
    case C2W_F_PROC_COMMAND_LINE:
        set_str(out, a->command_line);
        break;
    case C2W_F_PROC_PARENT_FILE_NAME:
        set_str(out, a->parent_image ? c2w_path_basename(a->parent_image) : NULL);
        break;
    case C2W_F_LOCAL_IP:
        out->type = C2W_T_IP;
        out->present = true;
        out->ip = fl->orig_h;
        break;
    case C2W_F_LOCAL_PORT:
        set_int(out, fl->orig_p, true);
        break;
    case C2W_F_REMOTE_IP:
        out->type = C2W_T_IP;
        out->present = true;
        out->ip = fl->resp_h;
        break;
    case C2W_F_REMOTE_PORT:
        set_int(out, fl->resp_p, true);
        break;
    case C2W_F_PROTOCOL:
        set_str(out, fl->proto == C2W_PROTO_TCP ? "tcp" : fl->proto == C2W_PROTO_UDP ? "udp" : "icmp");
        break;
    case C2W_F_ACTION_TYPE:
        set_str(out, fl->established ? "ConnectionSuccess" : "ConnectionFailed");
        break;
    case C2W_F_SENT_BYTES:
        set_int(out, fl->orig_bytes, true);
        break;
    case C2W_F_RECEIVED_BYTES:
        set_int(out, fl->resp_bytes, true);
        break;
    case C2W_F_DURATION:
        out->type = C2W_T_NUM;
        out->present = true;
        out->d = fl->duration;
        break;
    case C2W_F_ZEEK_UID:
        set_str(out, fl->uid);
        break;
    case C2W_F_COMMUNITY_ID:
        set_str(out, fl->community_id);
        break;
    case C2W_F_REMOTE_URL:
        set_str(out, a->remote_url);
        break;
    case C2W_F_CLOCK_OFFSET:
        out->type = C2W_T_NUM;
        out->present = a->attributed;
        out->d = (double)a->clock_offset / C2W_USEC;
        break;
    case C2W_F_SERVICE:
        set_str(out, fl->service);
        break;
    case C2W_F_CONN_STATE:
        set_str(out, fl->conn_state);
        break;
    case C2W_F_COUNT:
        break;
    }
}
