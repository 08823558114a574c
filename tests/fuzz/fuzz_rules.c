/*
 * fuzz_rules.c — libFuzzer target for the rule loader (c2w_ruleset_load).
 *
 * The input is a rule file. c2w_ruleset_load takes a path, so the bytes are
 * written to a memfd (fuzz_file.h). An input holding the line "#%file"
 * is cut there into up to four files of one directory, loaded together
 * (lists shared between files, rule ids unique across them).
 *
 * A refused load must leave a message and nothing allocated (the leak
 * checker sees the rest). A loaded ruleset is then used as the engine
 * would: every rule is evaluated on a few fixed flows, attributed or not,
 * its group key and columns are read and its having is tested on values
 * of the aggregates' types. Checked on the way: the references the loader
 * produced are in range, and the port filter admits every flow a rule's
 * where lets through.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "c2watch/rule.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                        \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            fprintf(stderr, "fuzz_rules: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
            abort();                                                                                       \
        }                                                                                                  \
    } while (0)

#define FILE_MARK "#%file\n"
#define MAX_FILES 4

static volatile size_t sink;

/* ---- several files: a directory of its own, emptied for every input ---- */

static char dir_path[64];
static const char *const dir_names[MAX_FILES] = { "a.yaml", "b.yml", "c.yaml", "d.yaml" };

static void dir_cleanup(void)
{
    char p[128];
    for (int i = 0; i < MAX_FILES; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir_path, dir_names[i]);
        unlink(p);
    }
    rmdir(dir_path);
}

/* Writes the pieces of data between FILE_MARK lines as files; returns the
 * directory, or NULL when data has no mark (one file then). */
static const char *fuzz_dir(const uint8_t *data, size_t size)
{
    const uint8_t *mark = memmem(data, size, "\n" FILE_MARK, sizeof(FILE_MARK));
    if (!mark)
        return NULL;
    if (!dir_path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir_path, sizeof(dir_path), "%s/c2w-fuzz-rules-XXXXXX",
                 tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
        if (!mkdtemp(dir_path)) {
            perror("fuzz_rules: mkdtemp");
            abort();
        }
        atexit(dir_cleanup);
    }
    char p[128];
    const uint8_t *cur = data, *end = data + size;
    for (int i = 0; i < MAX_FILES; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir_path, dir_names[i]);
        if (!cur) {
            unlink(p);
            continue;
        }
        const uint8_t *next = i + 1 < MAX_FILES
            ? memmem(cur, (size_t)(end - cur), "\n" FILE_MARK, sizeof(FILE_MARK)) : NULL;
        size_t len = next ? (size_t)(next - cur) + 1 : (size_t)(end - cur);
        FILE *f = fopen(p, "wb");
        if (!f || (len && fwrite(cur, 1, len, f) != len) || fclose(f) != 0) {
            perror("fuzz_rules: write");
            abort();
        }
        cur = next ? next + sizeof(FILE_MARK) : NULL;
    }
    return dir_path;
}

/* ---- the flows a loaded ruleset is evaluated on ---- */

#define N_FLOWS 6

static c2w_flow_t flows[N_FLOWS];
static c2w_attributed_t attributed[N_FLOWS * 2];

static void flows_init(void)
{
    static const struct {
        const char *orig, *resp;
        uint16_t port;
        bool est;
    } f[N_FLOWS] = {
        { "10.20.4.37", "203.0.113.10", 587, true },
        { "10.20.4.37", "198.51.100.7", 25, true },
        { "192.168.1.43", "10.0.5.13", 993, false },
        { "fe80::1:2:3:4", "2001:db8::25", 143, true },
        { "172.16.0.9", "8.8.8.8", 0, true },
        { "10.1.2.3", "10.1.2.4", 65535, false },
    };
    static const char *const images[] = {
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
        "C:\\Users\\nora\\winx64_payload.exe",
    };
    for (int i = 0; i < N_FLOWS; i++) {
        c2w_flow_t *fl = &flows[i];
        CHECK(c2w_ip_parse(f[i].orig, strlen(f[i].orig), &fl->orig_h));
        CHECK(c2w_ip_parse(f[i].resp, strlen(f[i].resp), &fl->resp_h));
        fl->ts = 1795854720000000LL + i * 61000000LL; /* 2026-11-28 */
        fl->uid = (char *)"CHhAvVGS1DHFjwGM9";
        fl->orig_p = (uint16_t)(49152 + i);
        fl->resp_p = f[i].port;
        fl->proto = i == 4 ? C2W_PROTO_UDP : C2W_PROTO_TCP;
        fl->established = f[i].est;
        fl->conn_state = (char *)(f[i].est ? "SF" : "S0");
        fl->orig_bytes = (uint64_t)i * 1000;
        fl->resp_bytes = 17;
        fl->duration = 0.25 * i;
        fl->service = i % 2 ? (char *)"smtp" : NULL;
        fl->community_id = (char *)"1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
        c2w_attributed_t *a = &attributed[2 * i];
        a->flow = fl;
        a->attributed = true;
        a->clock_offset = (i - 2) * 3000000LL;
        a->device = "WS-FIN-014.corp.example.com";
        a->account = i % 2 ? "CORP\\alice.nguyen" : "NT AUTHORITY\\SYSTEM";
        a->image = images[i % 3];
        a->file_name = c2w_path_basename(a->image);
        a->guid = "{b4f49961-9108-6b0a-e7cd-004410000c00}";
        a->pid = 1944 + (uint64_t)i;
        a->command_line = i % 3 == 0 ? "powershell.exe -c Send-MailMessage -SmtpServer x" : NULL;
        a->parent_image = i % 3 == 0 ? "C:\\Windows\\explorer.exe" : NULL;
        a->remote_url = i == 0 ? "smtp.example.com" : NULL;
        attributed[2 * i + 1] = (c2w_attributed_t){ .flow = fl }; /* no Sysmon event */
    }
}

static bool valid_fref(const c2w_rule_t *r, c2w_fref_t f)
{
    return f >= 0 && (f < C2W_F_COUNT || (size_t)(f - C2W_F_COUNT) < r->n_ext);
}

static void touch_value(const c2w_value_t *v)
{
    if (v->present && v->type == C2W_T_STR) {
        CHECK(v->s);
        sink += strlen(v->s);
    }
}

/* An aggregate value of type t, made from a seed. */
static c2w_value_t agg_value(c2w_type_t t, unsigned seed)
{
    static const char *const sets[] = { "[]", "[\"a\"]", "[\"10.0.0.1\",\"10.0.0.2\"]" };
    c2w_value_t v = { .type = t, .present = true };
    switch (t) {
    case C2W_T_STR:
        v.s = sets[seed % 3];
        break;
    case C2W_T_INT:
        v.u = seed == 3 ? UINT64_MAX : seed;
        break;
    case C2W_T_NUM:
        v.d = seed * 0.5 - 1;
        break;
    case C2W_T_TIME:
        v.t = flows[seed % N_FLOWS].ts;
        break;
    case C2W_T_IP:
        v.ip = flows[seed % N_FLOWS].resp_h;
        break;
    }
    return v;
}

static void use_rule(const c2w_rule_t *r, const uint8_t *port_map, bool all_ports)
{
    CHECK(r->id && r->title && r->severity && r->file);
    sink += strlen(r->id) + strlen(r->title) + strlen(r->severity) + strlen(r->file);
    if (r->description)
        sink += strlen(r->description);
    for (size_t i = 0; i < r->n_attack; i++)
        sink += strlen(r->attack[i]);
    CHECK(r->window > 0 && r->suppress >= 0);
    for (size_t i = 0; i < r->n_where; i++)
        CHECK(r->where[i].field >= 0 && r->where[i].field < C2W_F_COUNT);
    for (size_t i = 0; i < r->n_ext; i++) {
        CHECK(r->ext[i].name && r->ext[i].otherwise);
        for (size_t j = 0; j < r->ext[i].n_cases; j++) {
            CHECK(r->ext[i].cases[j].then);
            for (size_t k = 0; k < r->ext[i].cases[j].n_conds; k++)
                CHECK(valid_fref(r, r->ext[i].cases[j].conds[k].field));
        }
    }
    for (size_t i = 0; i < r->n_by; i++) {
        CHECK(valid_fref(r, r->by[i]));
        CHECK(c2w_rule_field_name(r, r->by[i]) != NULL);
    }
    for (size_t i = 0; i < r->n_aggs; i++) {
        CHECK(r->aggs[i].name);
        CHECK(r->aggs[i].field == -1 || valid_fref(r, r->aggs[i].field));
    }
    for (size_t i = 0; i < r->n_having; i++)
        CHECK(r->having[i].field >= 0 && (size_t)r->having[i].field < r->n_aggs);
    for (size_t i = 0; i < r->n_project; i++) {
        const c2w_column_t *c = &r->project[i];
        CHECK(c->name && c->index >= 0);
        CHECK((size_t)c->index < (c->is_agg ? r->n_aggs : r->n_by));
    }

    c2w_value_t *ext = calloc(r->n_ext + 1, sizeof(*ext));
    c2w_value_t *aggs = calloc(r->n_aggs + 1, sizeof(*aggs));
    CHECK(ext && aggs);
    for (int i = 0; i < N_FLOWS * 2; i++) {
        const c2w_attributed_t *a = &attributed[i];
        if (!c2w_rule_eval(r, a, ext))
            continue;
        unsigned port = a->flow->resp_p;
        CHECK(all_ports || (port_map[port >> 3] & (1u << (port & 7))));
        for (size_t k = 0; k < r->n_ext; k++) {
            CHECK(ext[k].present && ext[k].s);
            touch_value(&ext[k]);
        }
        c2w_value_t v;
        for (size_t k = 0; k < r->n_by; k++) {
            c2w_rule_field_get(r, a, ext, r->by[k], &v);
            CHECK(v.type == c2w_rule_field_type(r, r->by[k]));
            touch_value(&v);
        }
        for (size_t k = 0; k < r->n_aggs; k++) {
            if (r->aggs[k].field >= 0) {
                c2w_rule_field_get(r, a, ext, r->aggs[k].field, &v);
                touch_value(&v);
            }
        }
    }
    for (unsigned seed = 0; seed < 4; seed++) {
        for (size_t k = 0; k < r->n_aggs; k++)
            aggs[k] = agg_value(r->aggs[k].type, seed + (unsigned)k);
        sink += c2w_rule_having(r, aggs);
    }
    free(ext);
    free(aggs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        flows_init();
        ready = true;
    }
    const char *path = fuzz_dir(data, size);
    if (!path)
        path = fuzz_file(data, size);

    char err[512];
    memset(err, 0x5a, sizeof(err));
    c2w_ruleset_t *rs = (c2w_ruleset_t *)(uintptr_t)1;
    if (c2w_ruleset_load(path, &rs, err, sizeof(err)) != 0) {
        CHECK(rs == NULL);
        CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        return 0;
    }
    CHECK(rs != NULL);
    size_t n = c2w_ruleset_count(rs);
    CHECK(n > 0);
    CHECK(c2w_ruleset_rule(rs, n) == NULL);
    static uint8_t port_map[8192];
    bool all_ports;
    c2w_ruleset_port_filter(rs, port_map, &all_ports);
    for (size_t i = 0; i < n; i++) {
        const c2w_rule_t *r = c2w_ruleset_rule(rs, i);
        CHECK(r);
        use_rule(r, port_map, all_ports);
    }
    c2w_ruleset_free(rs);
    return 0;
}
