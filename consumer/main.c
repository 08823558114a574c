/*
 * main.c — the command line (SPEC §7). The only place that prints to stdout
 * or decides the exit status: 0 done, 1 runtime failure, 2 bad usage,
 * configuration or rule.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <signal.h>
#include <yajl/yajl_tree.h>

#include "c2watch/alert.h"
#include "c2watch/config.h"
#include "c2watch/kafka.h"
#include "c2watch/pipeline.h"
#include "c2watch/rule.h"
#include "c2watch/source.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define MAX_FILES 256

static void usage(FILE *f)
{
    fputs("usage:\n"
          "  c2watch replay --zeek F... [--sysmon F...] [--eve F...] [--rules PATH]\n"
          "                 [--emit final|threshold] [--now T] [--format ndjson|table] [--stats-json]\n"
          "                 [--config FILE]\n"
          "  c2watch join   --zeek F... --sysmon F... [--eve F...] [--config FILE]\n"
          "  c2watch run    [--config FILE] [--brokers B] [--group G] [--rules PATH] [--exit-at-end]\n"
          "                 [--assign] [--embedded] [--stats-json]\n"
          "  c2watch demo   [--data DIR] [--rules PATH]\n"
          "  c2watch rules check PATH\n"
          "  c2watch config dump [--config FILE] [--brokers B] [--group G] [--rules PATH]\n"
          "Files may be '-' (stdin) or gzip-compressed. Alerts go to stdout, statistics to stderr.\n",
          f);
}

typedef struct cli {
    const char *files[C2W_SRC_COUNT][MAX_FILES];
    size_t n_files[C2W_SRC_COUNT];
    const char *rules;
    c2w_emit_t emit;
    c2w_time_t now;
    bool table, stats_json;
    const char *config; /* --config: bounds and limits for replay and join */
} cli;

static c2w_time_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (c2w_time_t)ts.tv_sec * C2W_USEC + ts.tv_nsec / 1000;
}

static int parse_time_arg(const char *s, c2w_time_t *out)
{
    size_t len = strlen(s);
    if (c2w_time_parse_text(s, len, out) || c2w_time_parse_epoch(s, len, out))
        return c2w_time_valid(*out) ? 0 : -1;
    return -1;
}

/* Parses the options shared by replay and join. Returns 0 or EXIT_USAGE. */
static int parse_args(int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int kind = strcmp(a, "--zeek") == 0 ? C2W_SRC_ZEEK
                   : strcmp(a, "--sysmon") == 0 ? C2W_SRC_SYSMON
                   : strcmp(a, "--eve") == 0    ? C2W_SRC_EVE
                                                : -1;
        if (kind >= 0) {
            int took = 0;
            while (i + 1 < argc && (strncmp(argv[i + 1], "--", 2) != 0)) {
                if (c->n_files[kind] == MAX_FILES) {
                    fprintf(stderr, "c2watch: too many %s files (at most %d)\n", a, MAX_FILES);
                    return EXIT_USAGE;
                }
                c->files[kind][c->n_files[kind]++] = argv[++i];
                took++;
            }
            if (!took) {
                fprintf(stderr, "c2watch: %s needs a file\n", a);
                return EXIT_USAGE;
            }
            continue;
        }
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--rules") == 0 && val) {
            c->rules = val;
            i++;
        } else if (strcmp(a, "--emit") == 0 && val) {
            if (strcmp(val, "final") == 0)
                c->emit = C2W_EMIT_FINAL;
            else if (strcmp(val, "threshold") == 0)
                c->emit = C2W_EMIT_THRESHOLD;
            else {
                fprintf(stderr, "c2watch: --emit takes final or threshold, not '%s'\n", val);
                return EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--now") == 0 && val) {
            if (parse_time_arg(val, &c->now)) {
                fprintf(stderr, "c2watch: --now: '%s' is not an RFC 3339 time or epoch seconds in 2000..2100\n", val);
                return EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--format") == 0 && val) {
            if (strcmp(val, "table") == 0)
                c->table = true;
            else if (strcmp(val, "ndjson") != 0) {
                fprintf(stderr, "c2watch: --format takes ndjson or table, not '%s'\n", val);
                return EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--stats-json") == 0) {
            c->stats_json = true;
        } else if (strcmp(a, "--config") == 0 && val) {
            c->config = val;
            i++;
        } else {
            fprintf(stderr, "c2watch: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* ---- output ---- */

typedef struct row {
    char **cells;
    double sort; /* first summarized figure */
    size_t seq;
} row;

/* Alerts as NDJSON, or collected into a table printed at the end. */
typedef struct out_ctx {
    bool table;
    c2w_buf_t buf;
    char **header;
    size_t n_cols;
    row *rows;
    size_t n_rows, cap_rows;
    bool failed;
} out_ctx;

/* Adds a row; takes ownership of cells (n strings). The first row's names
 * make the header; later rows are cut or padded to it. */
static void table_add(out_ctx *o, const char *const *names, char **cells, size_t n, double sort)
{
    if (!o->header) {
        o->header = calloc(n ? n : 1, sizeof(*o->header));
        if (!o->header)
            goto out_fail;
        o->n_cols = n;
        for (size_t i = 0; i < n; i++)
            o->header[i] = strdup(names[i]);
    }
    if (o->n_rows == o->cap_rows) {
        size_t cap = o->cap_rows ? o->cap_rows * 2 : 16;
        row *r = realloc(o->rows, cap * sizeof(*r));
        if (!r)
            goto out_fail;
        o->rows = r;
        o->cap_rows = cap;
    }
    row *r = &o->rows[o->n_rows];
    r->cells = calloc(o->n_cols ? o->n_cols : 1, sizeof(*r->cells));
    if (!r->cells)
        goto out_fail;
    for (size_t i = 0; i < n; i++) {
        if (i < o->n_cols)
            r->cells[i] = cells[i];
        else
            free(cells[i]);
    }
    r->sort = sort;
    r->seq = o->n_rows++;
    return;
out_fail:
    for (size_t i = 0; i < n; i++)
        free(cells[i]);
    o->failed = true;
}

static void on_alert(void *ctx, const c2w_alert_t *a)
{
    out_ctx *o = ctx;
    if (!o->table) {
        c2w_buf_reset(&o->buf);
        if (c2w_alert_to_json(a, wall_now(), &o->buf) == 0)
            fwrite(o->buf.data, 1, o->buf.len, stdout);
        else
            o->failed = true;
        return;
    }
    size_t n = a->n_cols + 1;
    const char **names = calloc(n, sizeof(*names));
    char **cells = calloc(n, sizeof(*cells));
    if (!names || !cells) {
        free(names);
        free(cells);
        o->failed = true;
        return;
    }
    const char *first = a->rule->n_aggs ? a->rule->aggs[0].name : NULL;
    double sort = 0;
    for (size_t i = 0; i < a->n_cols; i++) {
        c2w_buf_t t = { 0 };
        const c2w_value_t *v = &a->cols[i].v;
        if (a->cols[i].raw_json)
            c2w_buf_puts(&t, a->cols[i].raw_json);
        else
            c2w_value_to_text(v, &t);
        names[i] = a->cols[i].name;
        cells[i] = t.data ? t.data : strdup("");
        if (first && strcmp(a->cols[i].name, first) == 0 && !a->cols[i].raw_json)
            sort = v->type == C2W_T_INT ? (double)v->u : v->type == C2W_T_NUM ? v->d : (double)v->t;
    }
    names[a->n_cols] = "rule_id";
    cells[a->n_cols] = strdup(a->rule->id);
    table_add(o, names, cells, n, sort);
    free(names);
    free(cells);
}

static int row_cmp(const void *pa, const void *pb)
{
    const row *a = pa, *b = pb;
    if (a->sort != b->sort)
        return a->sort < b->sort ? 1 : -1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void print_table(out_ctx *o)
{
    if (!o->header) {
        puts("(no alerts)");
        return;
    }
    qsort(o->rows, o->n_rows, sizeof(*o->rows), row_cmp);
    size_t *w = calloc(o->n_cols ? o->n_cols : 1, sizeof(*w));
    if (!w)
        return;
    for (size_t c = 0; c < o->n_cols; c++) {
        w[c] = o->header[c] ? strlen(o->header[c]) : 0;
        for (size_t r = 0; r < o->n_rows; r++)
            if (o->rows[r].cells[c] && strlen(o->rows[r].cells[c]) > w[c])
                w[c] = strlen(o->rows[r].cells[c]);
    }
    for (size_t c = 0; c < o->n_cols; c++)
        printf("%-*s%s", (int)w[c], o->header[c] ? o->header[c] : "", c + 1 < o->n_cols ? "  " : "\n");
    for (size_t c = 0; c < o->n_cols; c++) {
        for (size_t k = 0; k < w[c]; k++)
            putchar('-');
        fputs(c + 1 < o->n_cols ? "  " : "\n", stdout);
    }
    for (size_t r = 0; r < o->n_rows; r++)
        for (size_t c = 0; c < o->n_cols; c++)
            printf("%-*s%s", (int)w[c], o->rows[r].cells[c] ? o->rows[r].cells[c] : "",
                   c + 1 < o->n_cols ? "  " : "\n");
    free(w);
}

static void out_free(out_ctx *o)
{
    for (size_t r = 0; r < o->n_rows; r++) {
        for (size_t c = 0; c < o->n_cols; c++)
            free(o->rows[r].cells[c]);
        free(o->rows[r].cells);
    }
    free(o->rows);
    if (o->header)
        for (size_t c = 0; c < o->n_cols; c++)
            free(o->header[c]);
    free(o->header);
    c2w_buf_free(&o->buf);
}

static void on_flow_print(void *ctx, const c2w_attributed_t *a)
{
    c2w_buf_t *b = ctx;
    c2w_buf_reset(b);
    if (c2w_attributed_to_json(a, b) == 0)
        fwrite(b->data, 1, b->len, stdout);
}

/* ---- reading the inputs ----
 *
 * Files are read as they would have arrived: Zeek and Sysmon logs are
 * written in arrival order, so when every input is a plain regular file the
 * kinds advance in step by the fraction of their bytes consumed. That keeps
 * a host whose clock is hours off next to its flows, as a live stream
 * would. When an input is a pipe or compressed (its size unknown), records
 * are merged by event time instead. Either way the join decides by the
 * watermark, so the attribution does not depend on the interleaving.
 */

#define C2W_REPLAY_BATCH 64

typedef struct input {
    c2w_source_kind_t kind;
    const char *const *files;
    size_t n_files, next_file;
    c2w_lines_t *lines;
    uint64_t total, consumed; /* bytes of all this kind's files / of lines read */
    /* Records are decoded a batch at a time, then pushed one by one: the
     * decoder's tables stay in cache through a batch, and the join's and
     * the rules' through the pushes (docs/performance.md, "Third round"). */
    c2w_record_t rec[C2W_REPLAY_BATCH];
    uint64_t pos[C2W_REPLAY_BATCH]; /* consumed after each record */
    size_t head, n;
    size_t batch; /* C2W_REPLAY_BATCH; 1 for stdin or a pipe, whose next
                   * line may be a while coming (each record goes on at once) */
    bool done, ended; /* ended: no more lines */
} input;

/* Refills in's batch once it is empty, with the next usable records of the
 * input. Rejected and skipped lines are counted on the way. The source is
 * done once its last record has been taken. Returns -1 on an I/O error. */
static int input_fill(c2w_pipeline_t *p, input *in, size_t max_line)
{
    char err[256];
    if (in->n || in->done)
        return 0;
    in->head = 0;
    while (in->n < in->batch && !in->ended) {
        if (!in->lines) {
            if (in->next_file == in->n_files) {
                in->ended = true;
                break;
            }
            in->lines = c2w_lines_open(in->files[in->next_file++], max_line, err, sizeof(err));
            if (!in->lines) {
                fprintf(stderr, "c2watch: %s\n", err);
                return -1;
            }
        }
        const char *line;
        size_t len;
        bool too_long;
        int rc = c2w_lines_next(in->lines, &line, &len, &too_long);
        if (rc < 0) {
            fprintf(stderr, "c2watch: %s: read error\n", in->files[in->next_file - 1]);
            return -1;
        }
        if (rc == 0) {
            c2w_lines_close(in->lines);
            in->lines = NULL;
            continue;
        }
        in->consumed += len + 1;
        if (too_long) {
            c2w_pipeline_reject(p, in->kind, C2W_REJ_TOO_BIG, line, 0, "too_big: line over max_record_bytes");
            continue;
        }
        if (c2w_pipeline_decode(p, in->kind, line, len, &in->rec[in->n])) {
            if (in->batch > 1)
                c2w_pipeline_prefetch(p, &in->rec[in->n]);
            in->pos[in->n++] = in->consumed;
        }
    }
    if (!in->n && in->ended) {
        in->done = true;
        c2w_pipeline_source_done(p, in->kind);
    }
    return 0;
}

/* Size of a plain regular file, or -1 (stdin, pipes, gzip); *stream is
 * set for standard input or anything that is not a regular file (a pipe). */
static int64_t plain_size(const char *path, bool *stream)
{
    struct stat st;
    *stream = strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode);
    if (*stream)
        return -1;
    unsigned char magic[2] = { 0, 0 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(magic, 1, 2, f);
    fclose(f);
    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        return -1;
    return (int64_t)st.st_size;
}

static int run_inputs(c2w_pipeline_t *p, const cli *c, size_t max_line)
{
    input in[C2W_SRC_COUNT];
    memset(in, 0, sizeof(in));
    int rc = 0;
    bool by_position = true;
    for (int k = 0; k < C2W_SRC_COUNT; k++) {
        in[k].kind = (c2w_source_kind_t)k;
        in[k].files = c->files[k];
        in[k].n_files = c->n_files[k];
        in[k].batch = C2W_REPLAY_BATCH;
        for (size_t i = 0; i < in[k].n_files; i++) {
            bool stream;
            int64_t sz = plain_size(in[k].files[i], &stream);
            if (stream)
                in[k].batch = 1;
            if (sz < 0)
                by_position = false;
            else
                in[k].total += (uint64_t)sz;
        }
        if (in[k].n_files)
            c2w_pipeline_source_open(p, (c2w_source_kind_t)k);
        else
            in[k].done = true;
    }
    for (;;) {
        int best = -1;
        double bkey = 0;
        for (int k = 0; k < C2W_SRC_COUNT; k++) {
            if (input_fill(p, &in[k], max_line) < 0) {
                rc = -1;
                goto out;
            }
            if (!in[k].n)
                continue;
            double key;
            if (by_position) {
                key = in[k].total ? (double)in[k].pos[in[k].head] / (double)in[k].total : 0;
            } else {
                c2w_time_t t;
                c2w_pipeline_record_time(p, &in[k].rec[in[k].head], &t);
                key = (double)t;
            }
            if (best < 0 || key < bkey) {
                best = k;
                bkey = key;
            }
        }
        if (best < 0)
            break;
        input *b = &in[best];
        c2w_pipeline_push(p, b->kind, &b->rec[b->head]);
        b->head++;
        b->n--;
    }
out:
    for (int k = 0; k < C2W_SRC_COUNT; k++) {
        for (size_t i = 0; i < in[k].n; i++)
            c2w_record_clear(&in[k].rec[in[k].head + i]);
        c2w_lines_close(in[k].lines);
    }
    return rc;
}

/* The pipeline of a replay (or a `run`) that is over. Its tables can hold
 * millions of entries, and freeing them one by one takes ~0.1 s on the
 * bench's 774 MB (docs/performance.md, "Third round"; ~0.17 s after a
 * `run`, "Sixth round"), which the process's exit does at once. The
 * sanitizer build frees everything, so that its leak check keeps its
 * meaning; otherwise the pipeline stays reachable from here to the exit
 * (valgrind: "still reachable", not "lost"). */
#define C2W_FREE_AT_EXIT 0
#if defined(__SANITIZE_ADDRESS__) /* gcc; clang: __has_feature below */
#undef C2W_FREE_AT_EXIT
#define C2W_FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#undef C2W_FREE_AT_EXIT
#define C2W_FREE_AT_EXIT 1
#endif
#endif
static c2w_pipeline_t *exit_keep;

static void finished_pipeline(c2w_pipeline_t *p)
{
    if (C2W_FREE_AT_EXIT || exit_keep)
        c2w_pipeline_free(p);
    else
        exit_keep = p;
}

static void print_stats(c2w_pipeline_t *p, bool json)
{
    c2w_buf_t b = { 0 };
    c2w_pipeline_bounds_report(p, &b);
    int err = json ? c2w_pipeline_stats_json(p, &b) : c2w_pipeline_stats_text(p, &b);
    if (!err && b.data)
        fprintf(stderr, "%s%s", b.data, json ? "\n" : "");
    c2w_buf_free(&b);
}

static int load_rules(const char *path, c2w_ruleset_t **rs)
{
    char err[1024];
    if (c2w_ruleset_load(path, rs, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

static int cmd_replay(int argc, char **argv, bool join_only)
{
    cli c;
    int rc = parse_args(argc, argv, &c);
    if (rc)
        return rc;
    if (!c.n_files[C2W_SRC_ZEEK] && !c.n_files[C2W_SRC_EVE]) {
        fprintf(stderr, "c2watch: %s needs --zeek (or --eve) files\n", join_only ? "join" : "replay");
        return EXIT_USAGE;
    }
    if (join_only && !c.n_files[C2W_SRC_SYSMON]) {
        fprintf(stderr, "c2watch: join needs --sysmon files\n");
        return EXIT_USAGE;
    }
    c2w_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    char err[1024];
    if (c2w_config_defaults(&cfg) != 0) {
        fprintf(stderr, "c2watch: out of memory\n");
        return EXIT_RUNTIME;
    }
    if (c.config && c2w_config_load(&cfg, c.config, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        c2w_config_free(&cfg);
        return EXIT_USAGE;
    }
    c2w_ruleset_t *rs = NULL;
    if (!join_only && (rc = load_rules(c.rules ? c.rules : cfg.rules, &rs))) {
        c2w_config_free(&cfg);
        return rc;
    }
    out_ctx out = { .table = c.table };
    c2w_buf_t flowbuf = { 0 };
    c2w_pipeline_opts_t po = { 0 };
    po.rules = rs;
    po.decode = cfg.decode;
    po.join = cfg.join;
    po.engine = cfg.engine;
    po.engine.emit_default = C2W_EMIT_FINAL;
    po.engine.emit_override = c.emit;
    po.engine.now = c.now;
    po.on_alert = on_alert;
    po.alert_ctx = &out;
    if (join_only) {
        po.on_flow = on_flow_print;
        po.flow_ctx = &flowbuf;
    }
    c2w_pipeline_t *p = c2w_pipeline_new(&po);
    if (!p) {
        fprintf(stderr, "c2watch: out of memory\n");
        c2w_ruleset_free(rs);
        c2w_config_free(&cfg);
        return EXIT_RUNTIME;
    }
    size_t max_line = cfg.decode.max_record_bytes ? cfg.decode.max_record_bytes : (1u << 20);
    rc = run_inputs(p, &c, max_line) ? EXIT_RUNTIME : 0;
    c2w_pipeline_finish(p);
    if (c.table && !join_only)
        print_table(&out);
    if (fflush(stdout) != 0 || out.failed)
        rc = EXIT_RUNTIME;
    print_stats(p, c.stats_json);
    finished_pipeline(p);
    c2w_ruleset_free(rs);
    c2w_config_free(&cfg);
    out_free(&out);
    c2w_buf_free(&flowbuf);
    return rc;
}

/* ---- the service ---- */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

typedef struct run_args {
    const char *config, *brokers, *group, *rules, *data;
    bool exit_at_end, assign, embedded, stats_json;
} run_args;

static int parse_run_args(int argc, char **argv, run_args *ra, bool demo)
{
    memset(ra, 0, sizeof(*ra));
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!demo && strcmp(a, "--exit-at-end") == 0)
            ra->exit_at_end = true;
        else if (!demo && strcmp(a, "--assign") == 0)
            ra->assign = true;
        else if (!demo && strcmp(a, "--embedded") == 0)
            ra->embedded = true;
        else if (strcmp(a, "--stats-json") == 0)
            ra->stats_json = true;
        else if (v && strcmp(a, "--config") == 0)
            ra->config = argv[++i];
        else if (v && !demo && strcmp(a, "--brokers") == 0)
            ra->brokers = argv[++i];
        else if (v && !demo && strcmp(a, "--group") == 0)
            ra->group = argv[++i];
        else if (v && strcmp(a, "--rules") == 0)
            ra->rules = argv[++i];
        else if (v && demo && strcmp(a, "--data") == 0)
            ra->data = argv[++i];
        else {
            fprintf(stderr, "c2watch: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* Defaults, then the file, then the flags. */
static int load_config(const run_args *ra, c2w_config_t *cfg)
{
    char err[1024];
    if (c2w_config_defaults(cfg) != 0) {
        fprintf(stderr, "c2watch: out of memory\n");
        return EXIT_RUNTIME;
    }
    if (ra->config && c2w_config_load(cfg, ra->config, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_USAGE;
    }
    const char *flags[][2] = { { "kafka.brokers", ra->brokers }, { "kafka.group", ra->group }, { "rules", ra->rules } };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (flags[i][1] && c2w_config_set(cfg, flags[i][0], flags[i][1], err, sizeof(err)) != 0) {
            fprintf(stderr, "c2watch: %s\n", err);
            return EXIT_USAGE;
        }
    return 0;
}

/*
 * The heap of the Kafka service (docs/performance.md, "Ninth round"). By
 * default glibc maps each of librdkafka's fetch responses (~31 MB in the
 * bench) afresh and returns it at its free, and gives the broker thread an
 * arena of its own that grows and shrinks beside the main thread's: every
 * response and much of the prefetch was faulted in page by page (130 000
 * to 190 000 faults per bench run, 0.6-0.8 s of system time). One arena,
 * blocks under 32 MiB from the heap, and freed memory kept for reuse
 * instead of trimmed: 69 000-140 000 faults (about one per page of the
 * peak) and 4-12 % less CPU in paired runs; the one arena is most of it
 * (the thresholds alone took more). The cost: the process keeps its peak
 * footprint (the prefetch, queued.max.messages.kbytes, and librdkafka's
 * ~0.9 KB per queued message) instead of returning memory between peaks.
 * GLIBC_TUNABLES in the environment leaves malloc as the user set it.
 */
static void service_malloc_setup(void)
{
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    if (getenv("GLIBC_TUNABLES"))
        return;
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024); /* glibc's largest (64-bit) */
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
#endif
}

static int cmd_run(int argc, char **argv)
{
    run_args ra;
    c2w_config_t cfg;
    int rc = parse_run_args(argc, argv, &ra, false);
    if (rc)
        return rc;
    memset(&cfg, 0, sizeof(cfg));
    if ((rc = load_config(&ra, &cfg)))
        goto out;
    service_malloc_setup(); /* before librdkafka starts its threads */
    char err[1024];
    c2w_embedded_t *emb = NULL;
    if (ra.embedded) {
        emb = c2w_embedded_start(&cfg, 4, err, sizeof(err));
        if (!emb) {
            fprintf(stderr, "c2watch: %s\n", err);
            rc = EXIT_RUNTIME;
            goto out;
        }
        c2w_config_set(&cfg, "kafka.brokers", c2w_embedded_bootstraps(emb), err, sizeof(err));
        printf("embedded Kafka cluster: %s\n", c2w_embedded_bootstraps(emb));
        fflush(stdout);
    } else if (!cfg.brokers || !*cfg.brokers) {
        fprintf(stderr, "c2watch: no brokers: give --brokers, kafka.brokers in --config, or --embedded\n");
        rc = EXIT_USAGE;
        goto out;
    }
    install_signals();
    c2w_service_opts_t so = { .cfg = &cfg,
                              .exit_at_end = ra.exit_at_end,
                              .assign = ra.assign,
                              .stats_json = ra.stats_json,
                              .stop = &stop_flag,
                              /* the process exits next (finished_pipeline) */
                              .keep_pipeline = C2W_FREE_AT_EXIT ? NULL : &exit_keep };
    if (c2w_service_run(&so, err, sizeof(err)) != 0) {
        fprintf(stderr, "c2watch: %s\n", err);
        rc = strstr(err, ":") && (strncmp(err, "kafka property", 14) == 0) ? EXIT_USAGE : EXIT_RUNTIME;
    }
    c2w_embedded_stop(emb);
out:
    c2w_config_free(&cfg);
    return rc;
}

/* demo: reads the alerts back from the alerts topic into the table. */
typedef struct demo_ctx {
    out_ctx *out;
    const c2w_ruleset_t *rs;
    long bad;
} demo_ctx;

static void demo_alert(void *ctx, const rd_kafka_message_t *rkm)
{
    demo_ctx *d = ctx;
    char err[256];
    char *text = c2w_strndup(rkm->payload ? rkm->payload : "", rkm->len);
    yajl_val v = text ? yajl_tree_parse(text, err, sizeof(err)) : NULL;
    free(text);
    if (!v || !YAJL_IS_OBJECT(v)) {
        d->bad++;
        yajl_tree_free(v);
        return;
    }
    size_t n = v->u.object.len;
    const char **names = calloc(n + 1, sizeof(*names));
    char **cells = calloc(n + 1, sizeof(*cells));
    const char *rule_id = NULL, *first = NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v->u.object.keys[i], "rule_id") == 0 && YAJL_IS_STRING(v->u.object.values[i]))
            rule_id = YAJL_GET_STRING(v->u.object.values[i]);
    for (size_t r = 0; rule_id && r < c2w_ruleset_count(d->rs); r++) {
        const c2w_rule_t *rule = c2w_ruleset_rule(d->rs, r);
        if (strcmp(rule->id, rule_id) == 0 && rule->n_aggs)
            first = rule->aggs[0].name;
    }
    double sort = 0;
    for (size_t i = 0; names && cells && i < n; i++) {
        const char *key = v->u.object.keys[i];
        yajl_val x = v->u.object.values[i];
        if (strcmp(key, "alert_id") == 0)
            break; /* the projected columns come first */
        names[k] = key;
        cells[k] = strdup(YAJL_IS_STRING(x) ? YAJL_GET_STRING(x) : YAJL_IS_NUMBER(x) ? YAJL_GET_NUMBER(x) : "");
        if (first && strcmp(key, first) == 0 && YAJL_IS_NUMBER(x))
            sort = YAJL_GET_DOUBLE(x);
        k++;
    }
    if (names && cells) {
        names[k] = "rule_id";
        cells[k] = strdup(rule_id ? rule_id : "");
        table_add(d->out, names, cells, k + 1, sort);
    }
    free(names);
    free(cells);
    yajl_tree_free(v);
}

static int cmd_demo(int argc, char **argv)
{
    run_args ra;
    c2w_config_t cfg;
    int rc = parse_run_args(argc, argv, &ra, true);
    if (rc)
        return rc;
    memset(&cfg, 0, sizeof(cfg));
    out_ctx out = { .table = true };
    c2w_ruleset_t *rs = NULL;
    c2w_embedded_t *emb = NULL;
    if ((rc = load_config(&ra, &cfg)) || (rc = load_rules(cfg.rules, &rs)))
        goto out;
    service_malloc_setup(); /* as run: before librdkafka starts its threads */
    char err[1024];
    emb = c2w_embedded_start(&cfg, 4, err, sizeof(err));
    if (!emb) {
        fprintf(stderr, "c2watch: %s\n", err);
        rc = EXIT_RUNTIME;
        goto out;
    }
    c2w_config_set(&cfg, "kafka.brokers", c2w_embedded_bootstraps(emb), err, sizeof(err));
    fprintf(stderr, "c2watch: embedded Kafka cluster at %s\n", c2w_embedded_bootstraps(emb));
    const char *dir = ra.data ? ra.data : "fixtures/demo";
    const char *inputs[][2] = { { "zeek.ndjson", cfg.topic_zeek }, { "sysmon.ndjson", cfg.topic_sysmon } };
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, inputs[i][0]);
        long n = c2w_kafka_produce_file(&cfg, inputs[i][1], path, err, sizeof(err));
        if (n < 0) {
            fprintf(stderr, "c2watch: %s\n", err);
            rc = EXIT_RUNTIME;
            goto out;
        }
        fprintf(stderr, "c2watch: produced %ld records of %s to %s\n", n, path, inputs[i][1]);
    }
    c2w_service_opts_t so = { .cfg = &cfg, .exit_at_end = true, .assign = true, .stats_json = ra.stats_json,
                              .stop = &stop_flag };
    install_signals();
    if (c2w_service_run(&so, err, sizeof(err)) != 0) {
        fprintf(stderr, "c2watch: %s\n", err);
        rc = EXIT_RUNTIME;
        goto out;
    }
    demo_ctx d = { &out, rs, 0 };
    long n = c2w_kafka_read_all(&cfg, cfg.topic_alerts, demo_alert, &d, 30000, err, sizeof(err));
    if (n < 0) {
        fprintf(stderr, "c2watch: %s\n", err);
        rc = EXIT_RUNTIME;
        goto out;
    }
    fprintf(stderr, "c2watch: read %ld alert%s back from %s\n", n, n == 1 ? "" : "s", cfg.topic_alerts);
    print_table(&out);
    if (d.bad)
        rc = EXIT_RUNTIME;
out:
    c2w_embedded_stop(emb);
    c2w_ruleset_free(rs);
    c2w_config_free(&cfg);
    out_free(&out);
    return rc;
}

/* config dump: the effective configuration of `run` with the same
 * options, as YAML that loads again; secrets shown as "(redacted)". */
static int cmd_config(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "dump") != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    run_args ra;
    c2w_config_t cfg;
    int rc = parse_run_args(argc - 1, argv + 1, &ra, false);
    if (rc)
        return rc;
    if (ra.exit_at_end || ra.assign || ra.embedded || ra.stats_json) {
        fprintf(stderr, "c2watch: config dump takes --config, --brokers, --group and --rules only\n");
        return EXIT_USAGE;
    }
    memset(&cfg, 0, sizeof(cfg));
    if ((rc = load_config(&ra, &cfg)) == 0) {
        c2w_buf_t b = { 0 };
        if (c2w_config_dump(&cfg, &b) != 0 || !b.data || fputs(b.data, stdout) == EOF || fflush(stdout) != 0) {
            fprintf(stderr, "c2watch: config dump failed\n");
            rc = EXIT_RUNTIME;
        }
        c2w_buf_free(&b);
    }
    c2w_config_free(&cfg);
    return rc;
}

static int cmd_rules(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "check") != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    c2w_ruleset_t *rs = NULL;
    int rc = load_rules(argv[1], &rs);
    if (rc)
        return rc;
    size_t n = c2w_ruleset_count(rs);
    for (size_t i = 0; i < n; i++) {
        const c2w_rule_t *r = c2w_ruleset_rule(rs, i);
        printf("ok %s (%s:%u) window %llds\n", r->id, r->file, r->line, (long long)(r->window / C2W_USEC));
    }
    printf("%zu rule%s loaded from %s\n", n, n == 1 ? "" : "s", argv[1]);
    c2w_ruleset_free(rs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "replay") == 0)
        return cmd_replay(argc - 2, argv + 2, false);
    if (strcmp(cmd, "join") == 0)
        return cmd_replay(argc - 2, argv + 2, true);
    if (strcmp(cmd, "rules") == 0)
        return cmd_rules(argc - 2, argv + 2);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(argc - 2, argv + 2);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "demo") == 0)
        return cmd_demo(argc - 2, argv + 2);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "c2watch: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
