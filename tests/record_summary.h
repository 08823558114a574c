/*
 * record_summary.h — every field of a decoded record as one line of text,
 * so that tests can compare two decodes of the same input field by field.
 * Header-only, for the test suites.
 */
#ifndef C2WATCH_TESTS_RECORD_SUMMARY_H
#define C2WATCH_TESTS_RECORD_SUMMARY_H

#include <inttypes.h>
#include <stdio.h>

#include "c2watch/record.h"

static inline const char *s_or(const char *s)
{
    return s ? s : "(null)";
}

/* Every field of a record, as text, to compare runs. */
static inline void summary(const c2w_record_t *rec, char *buf, size_t n)
{
    char a[C2W_IP_STRLEN], b[C2W_IP_STRLEN];
    switch (rec->kind) {
    case C2W_REC_FLOW: {
        const c2w_flow_t *f = &rec->u.flow;
        snprintf(buf, n, "flow %" PRId64 " %s %s:%u %s:%u p%u e%d %s %" PRIu64 " %" PRIu64 " %.17g %s %s %s %s",
                 f->ts, s_or(f->uid), c2w_ip_format(&f->orig_h, a), f->orig_p, c2w_ip_format(&f->resp_h, b),
                 f->resp_p, f->proto, f->established, s_or(f->conn_state), f->orig_bytes, f->resp_bytes,
                 f->duration, s_or(f->service), s_or(f->community_id), s_or(f->history), s_or(f->path));
        break;
    }
    case C2W_REC_NETCONN: {
        const c2w_netconn_t *c = &rec->u.net;
        snprintf(buf, n, "net %" PRId64 " %s %s %s %s %" PRIu64 " p%u i%d %s:%u %s:%u %s", c->utc, s_or(c2w_netconn_host(c)),
                 s_or(c->guid), s_or(c->image), s_or(c->user), c->pid, c->proto, c->initiated,
                 c2w_ip_format(&c->src_ip, a), c->src_port, c2w_ip_format(&c->dst_ip, b), c->dst_port,
                 s_or(c->dst_hostname));
        break;
    }
    case C2W_REC_PROC:
    case C2W_REC_PROCEND: {
        const c2w_procinfo_t *p = &rec->u.proc;
        snprintf(buf, n, "proc%d %" PRId64 " %s %s %s %s %s %s %s %" PRIu64, rec->kind, p->utc, s_or(p->host),
                 s_or(p->guid), s_or(p->image), s_or(p->command_line), s_or(p->parent_image), s_or(p->hashes),
                 s_or(p->user), p->pid);
        break;
    }
    case C2W_REC_DNS: {
        const c2w_dnsinfo_t *q = &rec->u.dns;
        snprintf(buf, n, "dns %" PRId64 " %s %s %s %s %s", q->utc, s_or(q->host), s_or(q->guid), s_or(q->image),
                 s_or(q->query_name), s_or(q->query_results));
        break;
    }
    default:
        snprintf(buf, n, "none");
        break;
    }
}

#endif
