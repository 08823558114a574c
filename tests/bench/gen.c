/*
 * gen.c — synthetic Zeek conn + Sysmon NDJSON for benchmarks.
 *
 *   gen --only zeek|sysmon [--conns N] [--hosts H] [--mail-pct P] [--seed S]
 *       [--start EPOCH] [--span SECONDS] [--distinct]
 *
 * The same arguments give the same connections on both streams, so the two
 * halves can be written by two processes into two pipes. Each connection:
 * a host (10.x.y.z, its own clock offset), a process of that host, a remote
 * address and port (about P% to mail ports, to a small pool of servers so
 * that groups form), epoch `ts` with microseconds, byte counts. Sysmon
 * carries, per connection, event 3 (Initiated=true), and, as a real
 * collector would, events the pipeline skips or uses for enrichment: 1
 * (process create, once per process), 22 (DNS), 5, and 7/10/11/13 noise.
 * --distinct makes every connection its own group (unique remote address)
 * to stress the bounded tables.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng;

static uint64_t next(void)
{
    /* splitmix64: fast, seedable, good enough for synthetic data */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static const int mail_ports[] = { 25, 465, 587, 110, 995, 143, 993 };
static const int other_ports[] = { 443, 443, 443, 80, 53, 8080, 445, 3389 };
static const char *const procs[] = { "C:\\\\Program Files\\\\Google\\\\Chrome\\\\Application\\\\chrome.exe",
                                     "C:\\\\Program Files\\\\Microsoft Office\\\\root\\\\Office16\\\\OUTLOOK.EXE",
                                     "C:\\\\Windows\\\\System32\\\\svchost.exe",
                                     "C:\\\\Windows\\\\System32\\\\WindowsPowerShell\\\\v1.0\\\\powershell.exe",
                                     "C:\\\\Users\\\\Public\\\\rundll32.exe",
                                     "C:\\\\Python311\\\\python.exe" };
#define NPROCS (sizeof(procs) / sizeof(procs[0]))
static const int noise_ids[] = { 7, 10, 11, 13, 12, 17 };

static void utc(char *buf, size_t n, int64_t usec)
{
    int64_t s = usec / 1000000;
    int ms = (int)(usec % 1000000 / 1000);
    int64_t days = s / 86400, rem = s % 86400;
    /* civil from days (Howard Hinnant) */
    int64_t z = days + 719468, era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    snprintf(buf, n, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d.%03d", y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60),
             (int)(rem % 60), ms);
}

int main(int argc, char **argv)
{
    const char *only = "zeek";
    long long conns = 600000, hosts = 2000, seed = 1;
    double mail_pct = 5;
    int64_t start = 1795852800; /* 2026-11-28T00:00:00Z */
    int64_t span = 86400;
    int distinct = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : "0";
        if (!strcmp(argv[i], "--only"))
            only = argv[++i];
        else if (!strcmp(argv[i], "--conns"))
            conns = atoll(v), i++;
        else if (!strcmp(argv[i], "--hosts"))
            hosts = atoll(v), i++;
        else if (!strcmp(argv[i], "--mail-pct"))
            mail_pct = atof(v), i++;
        else if (!strcmp(argv[i], "--seed"))
            seed = atoll(v), i++;
        else if (!strcmp(argv[i], "--start"))
            start = atoll(v), i++;
        else if (!strcmp(argv[i], "--span"))
            span = atoll(v), i++;
        else if (!strcmp(argv[i], "--distinct"))
            distinct = 1;
        else {
            fprintf(stderr, "gen: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (hosts < 1 || conns < 0 || hosts > 60000)
        return 2;
    int zeek = strcmp(only, "zeek") == 0;
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof(out));
    char *seen = calloc((size_t)hosts * NPROCS, 1);
    rng = (uint64_t)seed;
    for (long long c = 0; c < conns; c++) {
        uint64_t r = next();
        int h = (int)(r % (uint64_t)hosts);
        int p = (int)((r >> 20) % NPROCS);
        int mail = (double)((r >> 32) % 10000) < mail_pct * 100;
        int port = mail ? mail_ports[(r >> 40) % 7] : other_ports[(r >> 40) % 8];
        uint64_t r2 = next();
        int64_t ts = (start * 1000000) + (int64_t)((double)c / (double)(conns ? conns : 1) * (double)span * 1e6) +
                     (int64_t)(r2 % 1000000);
        int sport = 49152 + (int)((r2 >> 20) % 16000);
        char rip[48];
        if (distinct)
            snprintf(rip, sizeof(rip), "100.%d.%d.%d", (int)(c >> 16 & 63), (int)(c >> 8 & 255), (int)(c & 255));
        else if (mail)
            snprintf(rip, sizeof(rip), "198.51.100.%d", (int)((r2 >> 40) % 8) + 1);
        else
            snprintf(rip, sizeof(rip), "203.0.%d.%d", (int)((r2 >> 40) % 256), (int)((r2 >> 48) % 256));
        char lip[32];
        snprintf(lip, sizeof(lip), "10.%d.%d.%d", 10 + h / 62500, h / 250 % 250, h % 250 + 1);
        uint64_t ob = 200 + (r2 >> 8) % 20000, rb = 500 + (r2 >> 16) % 60000;
        const char *state = (r2 >> 56) % 20 == 0 ? "S0" : "SF";
        if (zeek) {
            printf("{\"ts\":%" PRId64 ".%06" PRId64 ",\"uid\":\"C%llx%x\",\"id.orig_h\":\"%s\",\"id.orig_p\":%d,"
                   "\"id.resp_h\":\"%s\",\"id.resp_p\":%d,\"proto\":\"tcp\",\"service\":\"%s\",\"duration\":%.6f,"
                   "\"orig_bytes\":%" PRIu64 ",\"resp_bytes\":%" PRIu64 ",\"conn_state\":\"%s\",\"local_orig\":true,"
                   "\"local_resp\":false,\"missed_bytes\":0,\"history\":\"ShADadFf\",\"orig_pkts\":%d,"
                   "\"orig_ip_bytes\":%" PRIu64 ",\"resp_pkts\":%d,\"resp_ip_bytes\":%" PRIu64 "}\n",
                   ts / 1000000, ts % 1000000, (long long)c, (unsigned)(r & 0xffff), lip, sport, rip, port,
                   port == 443 ? "ssl" : mail ? "smtp" : "http", (double)(r2 % 5000) / 1000.0, ob, rb, state,
                   (int)(ob / 500 + 2), ob + 200, (int)(rb / 1000 + 2), rb + 300);
            continue;
        }
        /* Sysmon: the host clock is off by a per-host offset (-3 s .. +3 s) */
        int64_t off = ((int64_t)(h * 7919 % 6001) - 3000) * 1000;
        int64_t ht = ts + off + 3000; /* Sysmon logs a few ms after the first packet */
        char when[40], img[160];
        utc(when, sizeof(when), ht);
        snprintf(img, sizeof(img), "%s", procs[p]);
        char guid[64];
        snprintf(guid, sizeof(guid), "{%08x-%04x-6b0a-0000-%012x}", (unsigned)h, (unsigned)p, (unsigned)(h * 31 + p));
        const char *name = strrchr(img, '\\') ? strrchr(img, '\\') + 1 : img;
        if (!seen[(size_t)h * NPROCS + (size_t)p]) {
            seen[(size_t)h * NPROCS + (size_t)p] = 1;
            char w1[40];
            utc(w1, sizeof(w1), ht - 5000000);
            printf("{\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\","
                   "\"Hostname\":\"WS-%05d.corp.example.com\",\"EventID\":1,\"UtcTime\":\"%s\",\"ProcessGuid\":\"%s\","
                   "\"ProcessId\":\"%d\",\"Image\":\"%s\",\"CommandLine\":\"\\\"%s\\\" --task %d\","
                   "\"User\":\"CORP\\\\user%05d\",\"ParentImage\":\"C:\\\\Windows\\\\explorer.exe\","
                   "\"Hashes\":\"SHA256=%064x\"}\n",
                   h, w1, guid, 1000 + p * 4, img, img, p, h, (unsigned)(h * 131 + p));
        }
        if ((r >> 56) % 4 == 0)
            printf("{\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\","
                   "\"Hostname\":\"WS-%05d.corp.example.com\",\"EventID\":22,\"UtcTime\":\"%s\",\"ProcessGuid\":\"%s\","
                   "\"ProcessId\":\"%d\",\"QueryName\":\"host%d.example.net\",\"QueryStatus\":\"0\","
                   "\"QueryResults\":\"::ffff:%s;\",\"Image\":\"%s\",\"User\":\"CORP\\\\user%05d\"}\n",
                   h, when, guid, 1000 + p * 4, (int)(r2 % 1000), rip, img, h);
        printf("{\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\","
               "\"Hostname\":\"WS-%05d.corp.example.com\",\"EventID\":3,\"UtcTime\":\"%s\",\"ProcessGuid\":\"%s\","
               "\"ProcessId\":\"%d\",\"Image\":\"%s\",\"User\":\"CORP\\\\user%05d\",\"Protocol\":\"tcp\","
               "\"Initiated\":\"true\",\"SourceIsIpv6\":\"false\",\"SourceIp\":\"%s\",\"SourceHostname\":\"-\","
               "\"SourcePort\":\"%d\",\"SourcePortName\":\"-\",\"DestinationIsIpv6\":\"false\",\"DestinationIp\":\"%s\","
               "\"DestinationHostname\":\"-\",\"DestinationPort\":\"%d\",\"DestinationPortName\":\"-\"}\n",
               h, when, guid, 1000 + p * 4, img, h, lip, sport, rip, port);
        (void)name;
        if ((r >> 52) % 2 == 0)
            printf("{\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\","
                   "\"Hostname\":\"WS-%05d.corp.example.com\",\"EventID\":%d,\"UtcTime\":\"%s\",\"ProcessGuid\":\"%s\","
                   "\"ProcessId\":\"%d\",\"Image\":\"%s\",\"TargetObject\":\"HKLM\\\\Software\\\\x%d\"}\n",
                   h, noise_ids[(r >> 44) % 6], when, guid, 1000 + p * 4, img, (int)(r2 % 100));
    }
    free(seen);
    return fflush(stdout) == 0 ? 0 : 1;
}
