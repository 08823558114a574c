#define _GNU_SOURCE
/*
 * test_secrets.c — secrets and output hygiene of the service and the CLI:
 *   - SASL settings of the configuration reach librdkafka (the password
 *     included), as c2w_kafka_conf builds them;
 *   - a TLS client against the plaintext mock cluster, SASL against a
 *     cluster that does not offer it, and no cluster at all each end
 *     `c2watch run` with exit status 1 and a message naming the brokers
 *     and librdkafka's error, in bounded time (it used to retry forever);
 *   - a recognizable password never appears in stdout or stderr: failing
 *     connections, a whole run with librdkafka's conf/security debug
 *     logging and statistics (text and --stats-json), `config dump`;
 *   - alert and flow JSON built from hostile input fields (quotes,
 *     backslashes, control characters, </script>, U+2028, non-ASCII UTF-8,
 *     very long names) is strict JSON and gives the values back exactly
 *     (checked with python3's json module, an encoder and decoder that owe
 *     nothing to c2watch's).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "c2watch/kafka.h"

#define SECRET "hunter2-SECRET"

static const char *root(void)
{
    const char *r = getenv("C2W_ROOT");
    return r ? r : ".";
}

static const char *bin(void)
{
    const char *b = getenv("C2W_BIN");
    return b ? b : "build/c2watch";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a scratch directory ---- */

typedef struct scratch {
    char dir[64];
} scratch;

static void scratch_make(scratch *s)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/c2w_secrets_XXXXXX");
    cr_assert_not_null(mkdtemp(s->dir));
}

static void scratch_path(const scratch *s, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", s->dir, name);
}

static void scratch_free(scratch *s)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", s->dir);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* The whole file (NUL-terminated; binary safe up to the first NUL). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    char tmp[4096];
    size_t r;
    while ((r = fread(tmp, 1, sizeof(tmp), f)) > 0)
        fwrite(tmp, 1, r, m);
    fclose(m);
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

/* ---- running the binary ---- */

typedef struct result {
    int status; /* wait status */
    int64_t ms;
    char *out, *err;
    size_t out_len, err_len;
} result;

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

/* Runs c2watch with argv (NULL-terminated, without the program), stdout
 * and stderr to files of the scratch directory; kills it after timeout_ms. */
static void run_bin(const scratch *s, const char *const *args, int timeout_ms, result *r)
{
    char out[128], err[128];
    scratch_path(s, "stdout", out, sizeof(out));
    scratch_path(s, "stderr", err, sizeof(err));
    const char *argv[32];
    size_t n = 0;
    argv[n++] = bin();
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int64_t t0 = now_ms();
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126);
        execv(bin(), (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (now_ms() - t0 > timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    r->ms = now_ms() - t0;
    r->status = status;
    r->out = read_file(out, &r->out_len);
    r->err = read_file(err, &r->err_len);
}

static bool exited_with(const result *r, int code)
{
    return WIFEXITED(r->status) && WEXITSTATUS(r->status) == code;
}

/* stderr without librdkafka's own log lines ("%3|..."), for messages */
static void show_err(const result *r)
{
    const char *p = r->err;
    int shown = 0;
    while (p && *p && shown < 20) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (*p != '%') {
            cr_log_info("stderr: %.*s", (int)(len > 300 ? 300 : len), p);
            shown++;
        }
        p = e ? e + 1 : p + len;
    }
}

static void assert_no_secret(const result *r, const char *what)
{
    cr_assert_null(memmem(r->out, r->out_len, SECRET, strlen(SECRET)), "%s: the password is on stdout", what);
    cr_assert_null(memmem(r->err, r->err_len, SECRET, strlen(SECRET)), "%s: the password is on stderr", what);
}

/* ---- an embedded cluster in this process ---- */

typedef struct lab {
    c2w_config_t cfg;
    c2w_embedded_t *emb;
} lab;

static void lab_start(lab *l)
{
    char err[512];
    memset(l, 0, sizeof(*l));
    cr_assert_eq(c2w_config_defaults(&l->cfg), 0);
    l->emb = c2w_embedded_start(&l->cfg, 4, err, sizeof(err));
    cr_assert_not_null(l->emb, "%s", err);
    cr_assert_eq(c2w_config_set(&l->cfg, "kafka.brokers", c2w_embedded_bootstraps(l->emb), err, sizeof(err)), 0);
}

static void lab_stop(lab *l)
{
    c2w_embedded_stop(l->emb);
    c2w_config_free(&l->cfg);
}

/* ---- SASL settings reach librdkafka ---- */

static void assert_prop(rd_kafka_conf_t *conf, const char *name, const char *want)
{
    char val[512];
    size_t len = sizeof(val);
    cr_assert_eq(rd_kafka_conf_get(conf, name, val, &len), RD_KAFKA_CONF_OK, "%s not set", name);
    cr_assert_str_eq(val, want, "%s", name);
}

Test(secrets, sasl_settings_reach_librdkafka)
{
    scratch s;
    scratch_make(&s);
    char path[128], err[1024];
    scratch_path(&s, "sasl.yaml", path, sizeof(path));
    write_file(path, "kafka:\n"
                     "  brokers: kafka-1.example:9094\n"
                     "  properties:\n"
                     "    security.protocol: SASL_PLAINTEXT\n"
                     "    sasl.mechanisms: PLAIN\n"
                     "    sasl.username: c2watch\n"
                     "    sasl.password: \"" SECRET "\"\n"
                     "  producer_properties:\n"
                     "    sasl.username: c2watch-producer\n");
    c2w_config_t cfg;
    cr_assert_eq(c2w_config_defaults(&cfg), 0);
    cr_assert_eq(c2w_config_load(&cfg, path, err, sizeof(err)), 0, "%s", err);
    /* as the consumer gets them (kafka.properties, then its own) */
    rd_kafka_conf_t *conf = c2w_kafka_conf(&cfg, &cfg.consumer_props, err, sizeof(err));
    cr_assert_not_null(conf, "%s", err);
    assert_prop(conf, "bootstrap.servers", "kafka-1.example:9094");
    assert_prop(conf, "security.protocol", "sasl_plaintext");
    assert_prop(conf, "sasl.mechanisms", "PLAIN");
    assert_prop(conf, "sasl.username", "c2watch");
    assert_prop(conf, "sasl.password", SECRET);
    rd_kafka_conf_destroy(conf);
    /* the producer's own map overrides */
    conf = c2w_kafka_conf(&cfg, &cfg.producer_props, err, sizeof(err));
    cr_assert_not_null(conf, "%s", err);
    assert_prop(conf, "sasl.username", "c2watch-producer");
    assert_prop(conf, "sasl.password", SECRET);
    rd_kafka_conf_destroy(conf);
    /* set from code, e.g. from a mounted secret */
    cr_assert_eq(c2w_config_set(&cfg, "kafka.properties.sasl.password", "from-a-file", err, sizeof(err)), 0, "%s", err);
    conf = c2w_kafka_conf(&cfg, NULL, err, sizeof(err));
    cr_assert_not_null(conf, "%s", err);
    assert_prop(conf, "sasl.password", "from-a-file");
    rd_kafka_conf_destroy(conf);
    /* and the dump of that configuration hides it */
    c2w_buf_t dump = { 0 };
    cr_assert_eq(c2w_config_dump(&cfg, &dump), 0);
    cr_assert_null(strstr(dump.data, "from-a-file"), "%s", dump.data);
    c2w_buf_free(&dump);
    c2w_config_free(&cfg);
    scratch_free(&s);
}

/* ---- failing connections end, in bounded time, without the password ---- */

static void failing_run(const char *what, const char *props, bool assign, const char *want_msg, int max_ms)
{
    scratch s;
    scratch_make(&s);
    lab l;
    lab_start(&l);
    char cfgpath[128], text[2048];
    scratch_path(&s, "c2watch.yaml", cfgpath, sizeof(cfgpath));
    snprintf(text, sizeof(text), "rules: %s/rules\nkafka:\n  properties:\n%s", root(), props);
    write_file(cfgpath, text);
    const char *brokers = c2w_embedded_bootstraps(l.emb);
    const char *args[] = { "run", "--config", cfgpath, "--brokers", brokers, assign ? "--assign" : NULL, NULL };
    result r;
    run_bin(&s, args, 60000, &r);
    cr_log_info("%s: exit after %.1f s", what, (double)r.ms / 1000.0);
    if (!exited_with(&r, 1))
        show_err(&r);
    cr_assert(exited_with(&r, 1), "%s: exit status %d (wait status %d)", what,
              WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1, r.status);
    cr_assert(r.ms < max_ms, "%s: took %lld ms", what, (long long)r.ms);
    char line[512];
    snprintf(line, sizeof(line), "c2watch: Kafka cluster at %s refused the connection (TLS or SASL): ", brokers);
    cr_assert_not_null(strstr(r.err, line), "%s: no final message naming the brokers", what);
    cr_assert_not_null(strstr(strstr(r.err, line), want_msg), "%s: librdkafka's error (%s) is not in the message", what,
                       want_msg);
    assert_no_secret(&r, what);
    result_free(&r);
    lab_stop(&l);
    scratch_free(&s);
}

Test(secrets, tls_to_a_plaintext_cluster_fails_fast, .timeout = 60)
{
    failing_run("TLS to plaintext (group mode)",
                "    security.protocol: SSL\n"
                "    ssl.key.password: \"" SECRET "\"\n",
                false, "SSL handshake failed", 10000);
}

Test(secrets, tls_to_a_plaintext_cluster_fails_fast_assign, .timeout = 60)
{
    failing_run("TLS to plaintext (--assign)",
                "    security.protocol: SSL\n"
                "    ssl.key.password: \"" SECRET "\"\n",
                true, "SSL handshake failed", 10000);
}

Test(secrets, sasl_refused_fails_fast, .timeout = 60)
{
    /* librdkafka's mock cluster offers no SASL: authentication fails */
    failing_run("SASL/PLAIN against a cluster without SASL",
                "    security.protocol: SASL_PLAINTEXT\n"
                "    sasl.mechanisms: PLAIN\n"
                "    sasl.username: c2watch\n"
                "    sasl.password: \"" SECRET "\"\n",
                false, "SASL", 10000);
}

Test(secrets, no_cluster_fails_after_the_startup_timeout, .timeout = 60)
{
    scratch s;
    scratch_make(&s);
    char cfgpath[128], text[1024];
    scratch_path(&s, "c2watch.yaml", cfgpath, sizeof(cfgpath));
    snprintf(text, sizeof(text), "rules: %s/rules\nkafka:\n  properties:\n    sasl.password: \"" SECRET "\"\n", root());
    write_file(cfgpath, text);
    /* a port nothing listens on: the one of a cluster just stopped */
    lab l;
    lab_start(&l);
    char brokers[64];
    snprintf(brokers, sizeof(brokers), "%s", c2w_embedded_bootstraps(l.emb));
    lab_stop(&l);
    const char *args[] = { "run", "--config", cfgpath, "--brokers", brokers, NULL };
    result r;
    run_bin(&s, args, 60000, &r);
    cr_log_info("no cluster: exit after %.1f s", (double)r.ms / 1000.0);
    if (!exited_with(&r, 1))
        show_err(&r);
    cr_assert(exited_with(&r, 1), "exit status (wait status %d)", r.status);
    cr_assert(r.ms < 25000, "took %lld ms", (long long)r.ms);
    char line[256];
    snprintf(line, sizeof(line), "c2watch: no answer from the Kafka cluster at %s within 15 s: ", brokers);
    cr_assert_not_null(strstr(r.err, line), "no final message naming the brokers");
    cr_assert_not_null(strstr(strstr(r.err, line), "Connection refused"), "librdkafka's error is not in the message");
    assert_no_secret(&r, "no cluster");
    result_free(&r);
    scratch_free(&s);
}

/* ---- a whole run: logs, statistics and dumps hide the password ---- */

Test(secrets, password_absent_from_logs_stats_and_dumps, .timeout = 120)
{
    scratch s;
    scratch_make(&s);
    lab l;
    lab_start(&l);
    char p[1200], err[512];
    snprintf(p, sizeof(p), "%s/fixtures/demo/zeek.ndjson", root());
    cr_assert(c2w_kafka_produce_file(&l.cfg, l.cfg.topic_zeek, p, err, sizeof(err)) > 0, "%s", err);
    snprintf(p, sizeof(p), "%s/fixtures/demo/sysmon.ndjson", root());
    cr_assert(c2w_kafka_produce_file(&l.cfg, l.cfg.topic_sysmon, p, err, sizeof(err)) > 0, "%s", err);
    /* secrets librdkafka accepts on a plaintext connection, and its own
     * logging of the configuration and of security events */
    char cfgpath[128], text[2048];
    scratch_path(&s, "c2watch.yaml", cfgpath, sizeof(cfgpath));
    snprintf(text, sizeof(text),
             "rules: %s/rules\n"
             "kafka:\n"
             "  properties:\n"
             "    sasl.username: c2watch\n"
             "    sasl.password: \"" SECRET "\"\n"
             "    ssl.key.password: \"" SECRET "\"\n"
             "    debug: conf,security\n"
             "  producer_properties:\n"
             "    sasl.oauthbearer.config: \"principal=c2watch extension_pw=" SECRET "\"\n"
             "run:\n"
             "  commit_interval: 100ms\n"
             "stats:\n"
             "  interval: 1s\n",
             root());
    write_file(cfgpath, text);
    const char *brokers = c2w_embedded_bootstraps(l.emb);
    for (int json = 0; json < 2; json++) {
        const char *group = json ? "secrets-json" : "secrets-text";
        const char *args[] = { "run",     "--config", cfgpath,       "--brokers", brokers, "--group",
                               group,     "--assign", "--exit-at-end", json ? "--stats-json" : NULL, NULL };
        result r;
        run_bin(&s, args, 90000, &r);
        if (!exited_with(&r, 0))
            show_err(&r);
        cr_assert(exited_with(&r, 0), "run (stats %s): wait status %d", json ? "json" : "text", r.status);
        /* the checks below saw what they are about */
        cr_assert_not_null(strstr(r.err, json ? "\"kafka\":{\"partitions\":" : "c2watch: kafka  partitions"),
                           "no statistics on stderr");
        cr_assert_not_null(strstr(r.err, "sasl.password = [redacted]"), "librdkafka did not log its configuration");
        assert_no_secret(&r, json ? "run --stats-json" : "run");
        result_free(&r);
    }
    /* config dump */
    const char *args[] = { "config", "dump", "--config", cfgpath, "--brokers", brokers, NULL };
    result r;
    run_bin(&s, args, 30000, &r);
    cr_assert(exited_with(&r, 0), "config dump: wait status %d", r.status);
    cr_assert_not_null(strstr(r.out, "    sasl.password: \"(redacted)\"\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "    sasl.oauthbearer.config: \"(redacted)\"\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "    sasl.username: \"c2watch\"\n"), "%s", r.out);
    assert_no_secret(&r, "config dump");
    /* the dump loads again, as the same configuration */
    char again[128];
    scratch_path(&s, "again.yaml", again, sizeof(again));
    write_file(again, r.out);
    const char *args2[] = { "config", "dump", "--config", again, NULL };
    result r2;
    run_bin(&s, args2, 30000, &r2);
    cr_assert(exited_with(&r2, 0), "config dump of a dump: wait status %d", r2.status);
    cr_assert_str_eq(r2.out, r.out);
    result_free(&r);
    result_free(&r2);
    lab_stop(&l);
    scratch_free(&s);
}

/* ---- hostile names through replay and join, checked by python3 ---- */

static const char *const check_py[] = {
    "# Hostile process names, command lines, hosts, accounts and URLs through\n",
    "# `c2watch replay` and `c2watch join`: every output line must be strict\n",
    "# JSON (UTF-8) and every field must come back exactly as it went in.\n",
    "import json, os, subprocess, sys\n",
    "\n",
    "BS = chr(92)\n",
    "binary, root, work = sys.argv[1], sys.argv[2], sys.argv[3]\n",
    "\n",
    "def path(*parts):\n",
    "    return BS.join(parts)\n",
    "\n",
    "long_dir = 'd' * 3000\n",
    "long_name = 'n' * 4000 + '.exe'\n",
    "cases = [\n",
    "    # device, account, image, command line, url\n",
    "    ('ws-\"quoted\".corp', 'CORP' + BS + '\"bob\"', path('C:', 'Users', '\"q\"', 'we\"ird.exe'),\n",
    "     '\"C:' + BS + 'x' + BS + 'we\"ird.exe\" --arg=\"a' + BS + '\"b\"', 'a\"b.example'),\n",
    "    ('ws-back' + BS + 'slash', 'DOM' + BS + BS + 'user', BS + BS + path('server', 'share', 'dir' + BS, 'x.exe'),\n",
    "     'cmd /c \"C:' + BS + 'a' + BS + 'b' + BS + BS + '\" ' + BS + BS + BS, 'back' + BS + 'slash.example'),\n",
    "    ('ws-ctl' + chr(1) + chr(31) + chr(127), 'CORP' + BS + 'tab' + chr(9) + 'user',\n",
    "     path('C:', 't', 'ctl' + chr(1) + chr(8) + chr(12) + chr(31) + chr(127) + '.exe'),\n",
    "     'a' + chr(10) + 'b' + chr(13) + 'c' + chr(9) + 'd' + chr(27) + '[31mred' + chr(27) + '[0m', 'ctl' + chr(11) + '.example'),\n",
    "    ('</script><script>alert(1)</script>', 'CORP' + BS + '<b>', path('C:', 'x', '</script><script>alert(1)</script>.exe'),\n",
    "     '<!--</script>--><img src=x onerror=alert(1)>', '</script>.example'),\n",
    "    ('ws-ls' + chr(0x2028) + 'ps' + chr(0x2029), 'CORP' + BS + chr(0x2028), path('C:', 'x', 'ls' + chr(0x2028) + 'ps' + chr(0x2029) + '.exe'),\n",
    "     chr(0x2028) + chr(0x2029) + chr(0x85) + chr(0xfeff), 'u2028' + chr(0x2028) + '.example'),\n",
    "    ('PC-ÄÖÜ-進程', 'CORP' + BS + 'müller', path('C:', 'Users', 'José', 'Документы', '进程-🦊.exe'),\n",
    "     'powershell -c \"Write-Host ✓ 🦊 𝄞\"', 'bücher.example'),\n",
    "    ('h' * 1000, 'a' * 1000, path('C:', long_dir, long_name), 'x' * 20000 + ' \"end\"', 'u' * 200 + '.example'),\n",
    "]\n",
    "\n",
    "def basename(p):\n",
    "    i = max(p.rfind(BS), p.rfind('/'))\n",
    "    return p[i + 1:]\n",
    "\n",
    "zeek, sysmon = [], []\n",
    "t0 = 1795854720  # 2026-11-28 08:32:00 UTC\n",
    "def utc(t):\n",
    "    import time\n",
    "    return time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(int(t))) + '.%03d' % int(round((t % 1) * 1000))\n",
    "\n",
    "for i, (dev, acct, image, cmd, url) in enumerate(cases):\n",
    "    src = '10.99.0.%d' % (i + 1)\n",
    "    dst = '203.0.113.%d' % (i + 1)\n",
    "    guid = '{aaaaaaaa-0000-0000-0000-%012d}' % i\n",
    "    common = {'SourceName': 'Microsoft-Windows-Sysmon', 'Channel': 'Microsoft-Windows-Sysmon/Operational',\n",
    "              'Hostname': dev, 'ProcessGuid': guid, 'ProcessId': str(1000 + i), 'Image': image, 'User': acct}\n",
    "    ev1 = dict(common, EventID=1, UtcTime=utc(t0 + i), CommandLine=cmd,\n",
    "               ParentImage=path('C:', 'Windows', 'explorer.exe'), ParentProcessGuid='-')\n",
    "    sysmon.append(ev1)\n",
    "    for k in range(3):\n",
    "        t = t0 + 60 + 60 * k + i\n",
    "        port = 50000 + 10 * i + k\n",
    "        sysmon.append(dict(common, EventID=3, UtcTime=utc(t), Protocol='tcp', Initiated='true', SourceIp=src,\n",
    "                           SourcePort=str(port), DestinationIp=dst, DestinationPort='587', DestinationHostname=url))\n",
    "        zeek.append({'ts': t + 0.25, 'uid': 'CH%dk%d' % (i, k), 'id.orig_h': src, 'id.orig_p': port, 'id.resp_h': dst,\n",
    "                     'id.resp_p': 587, 'proto': 'tcp', 'conn_state': 'SF', 'orig_bytes': 100, 'resp_bytes': 200,\n",
    "                     'duration': 1.0, 'service': 'smtp'})\n",
    "\n",
    "def write(name, recs):\n",
    "    with open(os.path.join(work, name), 'w', encoding='utf-8') as f:\n",
    "        for n, r in enumerate(recs):\n",
    "            # both encodings a producer may use: \\\\u escapes, and raw UTF-8\n",
    "            f.write(json.dumps(r, ensure_ascii=(n % 2 == 0)) + chr(10))\n",
    "\n",
    "write('zeek.ndjson', zeek)\n",
    "write('sysmon.ndjson', sysmon)\n",
    "with open(os.path.join(work, 'rules.yaml'), 'w') as f:\n",
    "    f.write('''rules:\n",
    "  - id: hostile-names\n",
    "    title: any process on 587\n",
    "    severity: low\n",
    "    window: 24h\n",
    "    where:\n",
    "      - RemotePort: {eq: 587}\n",
    "    summarize:\n",
    "      Count: count()\n",
    "      Cmds:\n",
    "        make_set(InitiatingProcessCommandLine, 5)\n",
    "      Urls:\n",
    "        make_set(RemoteUrl, 5)\n",
    "    by: [DeviceName, InitiatingProcessFileName, AccountName, InitiatingProcessFolderPath, InitiatingProcessCommandLine]\n",
    "    having: {Count: {gt: 2}}\n",
    "    project: [DeviceName, AccountName, InitiatingProcessFileName, InitiatingProcessFolderPath, InitiatingProcessCommandLine, Count, Cmds, Urls]\n",
    "''')\n",
    "\n",
    "failures = []\n",
    "def check(cond, what):\n",
    "    if not cond:\n",
    "        failures.append(what)\n",
    "\n",
    "def run(args):\n",
    "    p = subprocess.run([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n",
    "    if p.returncode != 0:\n",
    "        sys.stderr.write(p.stderr.decode('utf-8', 'replace')[-2000:])\n",
    "        failures.append('%s: exit status %d' % (' '.join(args[:1]), p.returncode))\n",
    "    return p.stdout, p.stderr\n",
    "\n",
    "def strict_lines(blob, what):\n",
    "    out = []\n",
    "    try:\n",
    "        text = blob.decode('utf-8', 'strict')\n",
    "    except UnicodeDecodeError as e:\n",
    "        failures.append('%s: not UTF-8: %s' % (what, e))\n",
    "        return out\n",
    "    for n, line in enumerate(text.split(chr(10))):\n",
    "        if not line:\n",
    "            continue\n",
    "        try:\n",
    "            out.append(json.loads(line))  # strict: raw control characters are refused\n",
    "        except ValueError as e:\n",
    "            failures.append('%s line %d: not JSON: %s: %r' % (what, n + 1, e, line[:200]))\n",
    "    return out\n",
    "\n",
    "z, s, r = (os.path.join(work, x) for x in ('zeek.ndjson', 'sysmon.ndjson', 'rules.yaml'))\n",
    "for mode in ('final', 'threshold'):\n",
    "    out, err = run(['replay', '--zeek', z, '--sysmon', s, '--rules', r, '--emit', mode, '--stats-json'])\n",
    "    alerts = strict_lines(out, 'replay --emit ' + mode)\n",
    "    check(len(alerts) == len(cases), '%s: %d alerts, want %d' % (mode, len(alerts), len(cases)))\n",
    "    by_dev = {a.get('DeviceName'): a for a in alerts}\n",
    "    for dev, acct, image, cmd, url in cases:\n",
    "        a = by_dev.get(dev)\n",
    "        check(a is not None, '%s: no alert for device %r' % (mode, dev[:60]))\n",
    "        if a is None:\n",
    "            continue\n",
    "        want = {'DeviceName': dev, 'AccountName': acct, 'InitiatingProcessFileName': basename(image),\n",
    "                'InitiatingProcessFolderPath': image, 'InitiatingProcessCommandLine': cmd, 'Count': 3,\n",
    "                'Cmds': [cmd], 'Urls': [url]}\n",
    "        for k, v in want.items():\n",
    "            check(a.get(k) == v, '%s: %s: %r != %r' % (mode, k, str(a.get(k))[:80], str(v)[:80]))\n",
    "        ev = a.get('evidence', {})\n",
    "        check(ev.get('command_line') == cmd, '%s: evidence.command_line %r' % (mode, str(ev.get('command_line'))[:80]))\n",
    "        check(ev.get('remote_url') == url, '%s: evidence.remote_url %r' % (mode, str(ev.get('remote_url'))[:80]))\n",
    "        check(a.get('group_key') == '|'.join([dev, basename(image), acct, image, cmd]),\n",
    "              '%s: group_key %r' % (mode, str(a.get('group_key'))[:80]))\n",
    "    stats = strict_lines(err, 'replay --stats-json (stderr)')\n",
    "    check(len(stats) == 1, '%s: %d stats objects on stderr' % (mode, len(stats)))\n",
    "\n",
    "out, err = run(['join', '--zeek', z, '--sysmon', s])\n",
    "flows = strict_lines(out, 'join')\n",
    "check(len(flows) == 3 * len(cases), 'join: %d flows, want %d' % (len(flows), 3 * len(cases)))\n",
    "for f in flows:\n",
    "    i = int(f.get('ZeekUid', 'CH-1k')[2:].split('k')[0])\n",
    "    dev, acct, image, cmd, url = cases[i]\n",
    "    want = {'DeviceName': dev, 'AccountName': acct, 'InitiatingProcessFileName': basename(image),\n",
    "            'InitiatingProcessFolderPath': image, 'InitiatingProcessCommandLine': cmd, 'RemoteUrl': url,\n",
    "            'Attributed': True}\n",
    "    for k, v in want.items():\n",
    "        check(f.get(k) == v, 'join %s: %s: %r != %r' % (f.get('ZeekUid'), k, str(f.get(k))[:80], str(v)[:80]))\n",
    "\n",
    "for x in failures[:40]:\n",
    "    print('FAIL ' + x)\n",
    "print('%d failure(s)' % len(failures))\n",
    "sys.exit(1 if failures else 0)\n",
    NULL
};

Test(secrets, hostile_names_are_escaped_json, .timeout = 120)
{
    scratch s;
    scratch_make(&s);
    char py[128];
    scratch_path(&s, "check.py", py, sizeof(py));
    FILE *f = fopen(py, "w");
    cr_assert_not_null(f);
    for (size_t i = 0; check_py[i]; i++)
        fputs(check_py[i], f);
    cr_assert_eq(fclose(f), 0);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "python3 '%s' '%s' '%s' '%s' 2>&1", py, bin(), root(), s.dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[4096];
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\n")] = '\0';
        cr_log_info("%s", line);
    }
    int st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the python3 check failed (status %d): see the lines above", st);
    scratch_free(&s);
}
