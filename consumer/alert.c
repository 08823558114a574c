/*
 * alert.c — alert ids and encodings (SPEC §6).
 *
 * JSON is written directly into a growable buffer rather than through
 * yajl_gen: the alert's shape is fixed, and one buffer reused across alerts
 * costs no allocation per alert. Strings are escaped per RFC 8259 (quote,
 * backslash, every control character); input strings were validated as
 * UTF-8 by the decoder, so other bytes pass through unchanged.
 */
#include "c2watch/alert.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void c2w_alert_make_id(const char *rule_id, const char *group_key, c2w_time_t anchor, const char *uid,
                       char out[33])
{
    static const char zero = 0;
    uint64_t h[2] = { C2W_FNV_SEED, 0x84222325cbf29ce4ULL };
    for (int i = 0; i < 2; i++) {
        h[i] = c2w_hash(h[i], rule_id, strlen(rule_id));
        h[i] = c2w_hash(h[i], &zero, 1);
        h[i] = c2w_hash(h[i], group_key, strlen(group_key));
        h[i] = c2w_hash(h[i], &zero, 1);
        uint8_t t[8];
        for (int k = 0; k < 8; k++)
            t[k] = (uint8_t)((uint64_t)anchor >> (8 * k));
        h[i] = c2w_hash(h[i], t, sizeof(t));
        if (uid)
            h[i] = c2w_hash(h[i], uid, strlen(uid));
        h[i] = c2w_hash_mix(h[i]);
    }
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, h[0], h[1]);
}

int c2w_json_string(c2w_buf_t *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int err = c2w_buf_append(out, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        err |= c2w_buf_append(out, run, (size_t)(s - run));
        char esc[7] = { '\\', 0 };
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        err |= c2w_buf_append(out, esc, n);
        run = s + 1;
    }
    err |= c2w_buf_append(out, run, (size_t)(s - run));
    err |= c2w_buf_append(out, "\"", 1);
    return err ? -1 : 0;
}

int c2w_value_to_text(const c2w_value_t *v, c2w_buf_t *out)
{
    char tmp[64];
    if (!v->present)
        return c2w_buf_puts(out, "");
    switch (v->type) {
    case C2W_T_STR:
        return c2w_buf_puts(out, v->s);
    case C2W_T_INT:
        snprintf(tmp, sizeof(tmp), "%" PRIu64, v->u);
        break;
    case C2W_T_NUM:
        if (!isfinite(v->d)) {
            snprintf(tmp, sizeof(tmp), "0");
            break;
        }
        /* shortest text that reads back as the same double */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, v->d);
            if (strtod(tmp, NULL) == v->d)
                break;
        }
        break;
    case C2W_T_TIME:
        c2w_time_format(v->t, tmp);
        break;
    case C2W_T_IP:
        c2w_ip_format(&v->ip, tmp);
        break;
    }
    return c2w_buf_puts(out, tmp);
}

/* A value as JSON: numbers bare, absent as null, the rest as strings. */
int c2w_value_json(c2w_buf_t *out, const c2w_value_t *v)
{
    if (!v->present)
        return c2w_buf_puts(out, "null");
    if (v->type == C2W_T_INT || v->type == C2W_T_NUM)
        return c2w_value_to_text(v, out);
    if (v->type == C2W_T_STR)
        return c2w_json_string(out, v->s);
    c2w_buf_t t = { 0 };
    int err = c2w_value_to_text(v, &t);
    err |= c2w_json_string(out, t.data ? t.data : "");
    c2w_buf_free(&t);
    return err;
}

static int key(c2w_buf_t *out, const char *k, bool first)
{
    int err = first ? 0 : c2w_buf_puts(out, ",");
    err |= c2w_json_string(out, k);
    err |= c2w_buf_puts(out, ":");
    return err;
}

static int str_or_null(c2w_buf_t *out, const char *s)
{
    return s ? c2w_json_string(out, s) : c2w_buf_puts(out, "null");
}

static int str_array(c2w_buf_t *out, const char *const *v, size_t n)
{
    int err = c2w_buf_puts(out, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            err |= c2w_buf_puts(out, ",");
        err |= c2w_json_string(out, v[i]);
    }
    return err | c2w_buf_puts(out, "]");
}

int c2w_alert_to_json(const c2w_alert_t *a, c2w_time_t emitted_at, c2w_buf_t *out)
{
    char tbuf[40];
    int err = c2w_buf_puts(out, "{");
    for (size_t i = 0; i < a->n_cols; i++) {
        err |= key(out, a->cols[i].name, i == 0);
        if (a->cols[i].raw_json)
            err |= c2w_buf_puts(out, a->cols[i].raw_json);
        else
            err |= c2w_value_json(out, &a->cols[i].v);
    }
    err |= key(out, "alert_id", a->n_cols == 0);
    err |= c2w_json_string(out, a->alert_id);
    err |= key(out, "rule_id", false);
    err |= c2w_json_string(out, a->rule->id);
    err |= key(out, "title", false);
    err |= c2w_json_string(out, a->rule->title);
    err |= key(out, "severity", false);
    err |= c2w_json_string(out, a->rule->severity);
    err |= key(out, "attack", false);
    err |= str_array(out, (const char *const *)a->rule->attack, a->rule->n_attack);
    err |= key(out, "mode", false);
    err |= c2w_json_string(out, a->mode == C2W_EMIT_THRESHOLD ? "threshold" : "final");
    err |= key(out, "window_start", false);
    err |= c2w_json_string(out, c2w_time_format(a->window_start, tbuf));
    err |= key(out, "window_end", false);
    err |= c2w_json_string(out, c2w_time_format(a->window_end, tbuf));
    err |= key(out, "group_key", false);
    err |= c2w_json_string(out, a->group_key);
    err |= key(out, "emitted_at", false);
    err |= c2w_json_string(out, c2w_time_format(emitted_at, tbuf));
    err |= key(out, "evidence", false);
    err |= c2w_buf_puts(out, "{");
    err |= key(out, "zeek_uids", true);
    err |= str_array(out, a->uids, a->n_uids);
    err |= key(out, "community_ids", false);
    err |= str_array(out, a->community_ids, a->n_community_ids);
    err |= key(out, "process_guid", false);
    err |= str_or_null(out, a->process_guid);
    err |= key(out, "command_line", false);
    err |= str_or_null(out, a->command_line);
    err |= key(out, "remote_url", false);
    err |= str_or_null(out, a->remote_url);
    err |= c2w_buf_puts(out, "}}\n");
    return err ? -1 : 0;
}

int c2w_attributed_to_json(const c2w_attributed_t *a, c2w_buf_t *out)
{
    int err = c2w_buf_puts(out, "{");
    for (int f = 0; f < C2W_F_COUNT; f++) {
        c2w_value_t v;
        c2w_field_get(a, (c2w_field_t)f, &v);
        err |= key(out, c2w_field_name((c2w_field_t)f), f == 0);
        err |= c2w_value_json(out, &v);
    }
    err |= key(out, "Attributed", false);
    err |= c2w_buf_puts(out, a->attributed ? "true" : "false");
    err |= c2w_buf_puts(out, "}\n");
    return err ? -1 : 0;
}
