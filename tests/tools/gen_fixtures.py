#!/usr/bin/env python3
"""gen_fixtures.py - (re)generate the synthetic inputs of fixtures/scenarios/*
and fixtures/demo: zeek.ndjson, sysmon.ndjson and args.

Deterministic (fixed seeds): running it again rewrites identical files.  It
never writes expected.ndjson (that comes from tests/tools/refquery.py, checked
by hand against each scenario's README.md) nor README.md (hand-written).

    python3 tests/tools/gen_fixtures.py [--root DIR] [name ...]

Conventions (see fixtures/README.md): Zeek conn in the JSON writer shape
(dotted keys, epoch-float ts, unset fields absent, community_id v1 appended);
Sysmon flat like the OTRF exports (EventID a number, every event-data value a
string, "-" for unset, TimeCreated/@timestamp in host-local time mislabelled
"Z" as in the real exports - never the event time); Windows client source
ports >= 49152; addresses from documentation ranges (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) or RFC 1918.
"""

import argparse
import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import random
import socket
import struct
import sys

USEC = 1_000_000
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
PROVIDER_GUID = "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"
TZ_LOCAL_HOURS = -5       # TimeCreated quirk: host-local time written with "Z"


# --------------------------------------------------------------------------
# small helpers


def T(s):
    """'2026-11-28T09:00:00.123456Z' -> microseconds since the epoch."""
    base, frac = s.rstrip("Z"), 0
    if "." in base:
        base, f = base.split(".")
        frac = int((f + "000000")[:6])
    t = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * USEC + frac


def iso(us, digits=6):
    sec, frac = divmod(us, USEC)
    t = dt.datetime.fromtimestamp(sec, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 0:
        return t + "Z"
    return t + "." + ("%06d" % frac)[:digits] + "Z"


def utctime(us):
    """Sysmon UtcTime, milliseconds (truncated, as Windows does)."""
    sec, frac = divmod(us, USEC)
    t = dt.datetime.fromtimestamp(sec, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return "%s.%03d" % (t, frac // 1000)


class Num:
    """A JSON number written with exactly this text."""

    def __init__(self, text):
        self.text = text


def epoch_text(us):
    return "%d.%06d" % divmod(us, USEC)


def enc(v):
    if isinstance(v, Num):
        return v.text
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + enc(x)
                              for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(enc(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def line(v):
    return enc(v).encode("utf-8") if not isinstance(v, bytes) else v


def community_id(proto, saddr, sport, daddr, dport, seed=0):
    pnum = {"tcp": 6, "udp": 17, "icmp": 1}[proto]
    s = ipaddress.ip_address(saddr).packed
    d = ipaddress.ip_address(daddr).packed
    if (s, sport) > (d, dport):
        s, d, sport, dport = d, s, dport, sport
    data = struct.pack("!H", seed) + s + d + struct.pack("!BB", pnum, 0) + \
        struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def sysmon_ip(ip):
    """Sysmon writes IPv6 uncompressed without zero padding."""
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return str(a)
    return ":".join("%x" % int(g, 16) for g in a.exploded.split(":"))


HISTORY = {"SF": "ShADadFf", "S1": "ShADad", "S2": "ShADadF", "S3": "ShADadf",
           "RSTO": "ShADadR", "RSTR": "ShADadr", "S0": "S", "REJ": "Sr",
           "RSTOS0": "SR", "SH": "SF", "OTH": "CC", "SHR": "^d"}
ESTABLISHED = {"S1", "S2", "S3", "SF", "RSTO", "RSTR"}


class Host:
    def __init__(self, name, ip, skew_s=0.0, ip6=None):
        self.name, self.ip, self.ip6 = name, ip, ip6
        self.skew_us = int(round(skew_s * USEC))   # host clock - sensor clock
        self.next_port = None


class Proc:
    def __init__(self, host, image, user, pid, guid):
        self.host, self.image, self.user, self.pid, self.guid = host, image, user, pid, guid


class Scenario:
    def __init__(self, name, seed):
        self.name = name
        self.rnd = random.Random(seed)
        self.zeek = []       # (sort_key, record-or-bytes)
        self.sysmon = []     # (sort_key, record-or-bytes)
        self.nuid = 0
        self.args = None
        self.crlf_sysmon = False

    # identities -----------------------------------------------------------
    def uid(self):
        self.nuid += 1
        h = hashlib.sha256(("%s/%d" % (self.name, self.nuid)).encode()).digest()
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        n = int.from_bytes(h, "big")
        s = ""
        for _ in range(17):
            n, r = divmod(n, 62)
            s += alphabet[r]
        return "C" + s

    def proc(self, host, image, user, pid=None, start_us=None):
        r = self.rnd
        pid = pid if pid is not None else r.randrange(1200, 14000, 4)
        machine = hashlib.md5(host.name.encode()).hexdigest()[:8]
        t = (start_us or 0) // USEC
        guid = "{%s-%04x-%04x-%04x-%012x}" % (machine, t & 0xffff, (t >> 16) & 0xffff,
                                               r.randrange(0x100, 0xffff), r.randrange(0x100, 0xfff) << 28 | 0xc00)
        return Proc(host, image, user, pid, guid)

    def port(self, host):
        if host.next_port is None:
            host.next_port = self.rnd.randrange(49700, 60000)
        host.next_port += self.rnd.randrange(1, 37)
        return host.next_port

    # records --------------------------------------------------------------
    def conn(self, proc, ts, dst, dport, *, proto="tcp", state="SF", ob=None, rb=None,
             dur=None, service=None, delay_ms=None, sysmon=True, initiated=True,
             src=None, sport=None, ts_fmt="epoch", extra_zeek=None, v6=False,
             zeek=True, cid=True):
        """One connection: a Zeek record (sensor time ts) and, when the
        originating host is monitored (proc given and sysmon=True), the Sysmon
        event 3 on that host (host clock = ts + skew + delay)."""
        r = self.rnd
        host = proc.host if proc else None
        if src is None:
            src = (host.ip6 if v6 else host.ip)
        if sport is None:
            sport = self.port(host) if host else r.randrange(32768, 60999)
        est = state in ESTABLISHED
        if ob is None:
            ob = r.randrange(600, 4000) if est else 0
        if rb is None:
            rb = r.randrange(1500, 9000) if est else 0
        if dur is None:
            dur = r.uniform(0.2, 8.0) if est else r.uniform(0.0, 3.0)
        dur_us = int(dur * USEC)
        uid = self.uid()
        z = {}
        if ts_fmt == "epoch":
            z["ts"] = Num(epoch_text(ts))
        else:
            z["ts"] = iso(ts)
        z.update({"uid": uid, "id.orig_h": src, "id.orig_p": sport, "id.resp_h": dst,
                  "id.resp_p": dport, "proto": proto})
        if service:
            z["service"] = service
        z["duration"] = Num("%.6f" % (dur_us / USEC))
        z["orig_bytes"] = ob
        z["resp_bytes"] = rb
        z["conn_state"] = state
        z["local_orig"] = True
        z["local_resp"] = ipaddress.ip_address(dst).is_private
        z["missed_bytes"] = 0
        z["history"] = HISTORY[state] if proto == "tcp" else "Dd"
        opk = ob // 1400 + (5 if proto == "tcp" else 1)
        rpk = (rb // 1400 + 4) if (est or proto != "tcp") else (1 if state == "REJ" else 0)
        hdr = 52 if ":" not in src else 72
        if proto == "udp":
            hdr = 28 if ":" not in src else 48
        z["orig_pkts"] = opk
        z["orig_ip_bytes"] = ob + opk * hdr
        z["resp_pkts"] = rpk
        z["resp_ip_bytes"] = rb + rpk * hdr
        if cid:
            z["community_id"] = community_id(proto, src, sport, dst, dport)
        if extra_zeek:
            z.update(extra_zeek)
        if zeek:
            self.zeek.append((ts + dur_us, z))
        ev = None
        if proc is not None and sysmon:
            if delay_ms is None:
                delay_ms = r.uniform(40, 400)
            hts = ts + host.skew_us + int(delay_ms * 1000)
            # Sysmon's Source is always the initiator, whichever side logs it
            ev = self.eid3(proc, hts, proto, initiated, src, sport, dst, dport)
            self.sysmon.append((hts, ev))
        return z, ev

    def header(self, host, hts, eid):
        tc = iso(hts + TZ_LOCAL_HOURS * 3600 * USEC + 1_665_000, 3)
        return {"SourceName": "Microsoft-Windows-Sysmon", "ProviderGuid": PROVIDER_GUID,
                "Level": "4", "Keywords": "0x8000000000000000", "Channel": SYSMON_CHANNEL,
                "Hostname": host.name, "TimeCreated": tc, "@timestamp": tc,
                "EventID": eid, "Task": str(eid), "RuleName": "-", "UtcTime": utctime(hts)}

    def eid3(self, proc, hts, proto, initiated, s_ip, s_port, d_ip, d_port, dhost="-"):
        e = self.header(proc.host, hts, 3)
        v6 = ":" in s_ip
        e.update({"ProcessGuid": proc.guid, "ProcessId": str(proc.pid), "Image": proc.image,
                  "User": proc.user, "Protocol": proto,
                  "Initiated": "true" if initiated else "false",
                  "SourceIsIpv6": "true" if v6 else "false", "SourceIp": sysmon_ip(s_ip),
                  "SourceHostname": "-", "SourcePort": str(s_port), "SourcePortName": "-",
                  "DestinationIsIpv6": "true" if v6 else "false",
                  "DestinationIp": sysmon_ip(d_ip), "DestinationHostname": dhost,
                  "DestinationPort": str(d_port), "DestinationPortName": "-"})
        return e

    def eid1(self, proc, hts, cmdline, parent_image, parent_cmd, hashes):
        e = self.header(proc.host, hts, 1)
        e.update({"ProcessGuid": proc.guid, "ProcessId": str(proc.pid), "Image": proc.image,
                  "FileVersion": "-", "Description": "-", "Product": "-", "Company": "-",
                  "OriginalFileName": proc.image.split("\\")[-1], "CommandLine": cmdline,
                  "CurrentDirectory": "C:\\Windows\\system32\\", "User": proc.user,
                  "LogonGuid": "{%s-0000-0000-0000-000000000000}" % proc.guid[1:9],
                  "LogonId": "0x1a274e4", "TerminalSessionId": "1", "IntegrityLevel": "Medium",
                  "Hashes": hashes, "ParentProcessGuid": "-", "ParentProcessId": "-",
                  "ParentImage": parent_image, "ParentCommandLine": parent_cmd})
        self.sysmon.append((hts, e))
        return e

    def eid22(self, proc, hts, qname, results):
        e = self.header(proc.host, hts, 22)
        e.update({"ProcessGuid": proc.guid, "ProcessId": str(proc.pid), "QueryName": qname,
                  "QueryStatus": "0", "QueryResults": results, "Image": proc.image,
                  "User": proc.user})
        self.sysmon.append((hts, e))
        return e

    # output ---------------------------------------------------------------
    def write(self, root, sub="scenarios"):
        d = os.path.join(root, "fixtures", sub, self.name) if sub else \
            os.path.join(root, "fixtures", self.name)
        os.makedirs(d, exist_ok=True)
        zl = [line(v) for _, v in sorted(self.zeek, key=lambda kv: kv[0])] \
            if not getattr(self, "zeek_lines", None) else self.zeek_lines
        sl = [line(v) for _, v in sorted(self.sysmon, key=lambda kv: kv[0])] \
            if not getattr(self, "sysmon_lines", None) else self.sysmon_lines
        nl = b"\r\n" if self.crlf_sysmon else b"\n"
        with open(os.path.join(d, "zeek.ndjson"), "wb") as f:
            f.write(b"".join(x + b"\n" for x in zl))
        with open(os.path.join(d, "sysmon.ndjson"), "wb") as f:
            f.write(b"".join(x + nl for x in sl))
        ap = os.path.join(d, "args")
        if self.args:
            with open(ap, "w") as f:
                f.write(self.args + "\n")
        elif os.path.exists(ap):
            os.remove(ap)
        for fn, n in (("zeek.ndjson", len(zl)), ("sysmon.ndjson", len(sl))):
            if n > 30:
                print("warning: %s/%s has %d lines (> 30)" % (self.name, fn, n),
                      file=sys.stderr)
        return d


# common cast ----------------------------------------------------------------
DNS = "10.20.0.53"
RELAY = "10.20.1.25"                # internal SMTP relay / Exchange
O365 = "203.0.113.10"               # a cloud mail service (doc range)
WEB = ["192.0.2.80", "192.0.2.143", "203.0.113.200"]
C2_SMTP = "198.51.100.77"
C2_SMTP_B = "198.51.100.25"
C2_IMAP = "203.0.113.40"

IMG_OUTLOOK = "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"
IMG_CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
IMG_SVCHOST = "C:\\Windows\\System32\\svchost.exe"
IMG_PS = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
IMG_RUNDLL = "C:\\Windows\\System32\\rundll32.exe"


def browse(s, proc, t, n=2, gap_s=40):
    for i in range(n):
        s.conn(proc, t + i * gap_s * USEC, WEB[i % len(WEB)], 443, service="ssl",
               ob=s.rnd.randrange(700, 2500), rb=s.rnd.randrange(4000, 60000))


# --------------------------------------------------------------------------
# scenarios


def sc_threshold_boundary():
    s = Scenario("threshold-boundary", 101)
    h = Host("WS-FIN-014.corp.example.com", "10.20.4.37")
    t0 = T("2026-11-28T08:12:05.118204Z")
    alice = s.proc(h, "C:\\Users\\alice.nguyen\\AppData\\Local\\Temp\\svcupdate.exe",
                   "CORP\\alice.nguyen", start_us=t0)
    backup = s.proc(h, "C:\\Users\\alice.nguyen\\AppData\\Local\\Temp\\svcupdate.exe",
                    "CORP\\svc-backup", start_us=t0)
    chrome = s.proc(h, IMG_CHROME, "CORP\\alice.nguyen", start_us=t0)
    browse(s, chrome, t0 - 300 * USEC)
    m = 60 * USEC
    # group A: 3 x 587 -> alert
    for i, k in enumerate((0, 17, 41)):
        s.conn(alice, t0 + k * m + i * 731_337, C2_SMTP_B, 587, service="smtp,ssl")
    # group B: 2 x 465 to another IP -> silent
    for k in (5, 29):
        s.conn(alice, t0 + k * m + 402_911, C2_IMAP, 465, service="ssl")
    # group C: 1 x 465 to the IP of group A (other port) -> silent
    s.conn(alice, t0 + 52 * m + 88_001, C2_SMTP_B, 465, service="ssl")
    # group D: same file, same host, other account: 2 x 587 -> silent
    for k in (11, 35):
        s.conn(backup, t0 + k * m + 250_400, C2_SMTP_B, 587, service="smtp,ssl")
    browse(s, chrome, t0 + 60 * m, n=1)
    return s


def sc_allowlist_ci():
    s = Scenario("allowlist-case-insensitive", 102)
    h = Host("WS-HR-005.corp.example.com", "10.20.5.19")
    u = "CORP\\erin.walsh"
    t0 = T("2026-11-28T07:45:12.004410Z")
    outlook = s.proc(h, "C:\\Program Files\\Microsoft Office\\root\\Office16\\Outlook.exe", u,
                     start_us=t0)
    tb = s.proc(h, "C:\\Program Files\\Mozilla Thunderbird\\THUNDERBIRD.EXE", u, start_us=t0)
    em = s.proc(h, "C:\\Program Files (x86)\\eM Client\\EM CLIENT.EXE", u, start_us=t0)
    sync = s.proc(h, "C:\\Users\\erin.walsh\\AppData\\Roaming\\OutlookSync\\OutlookSync.exe", u,
                  start_us=t0)
    m = 60 * USEC
    for k in (0, 9, 18, 27, 36):
        s.conn(outlook, t0 + k * m + 120_113, O365, 993, service="ssl",
               ob=s.rnd.randrange(900, 3000), rb=s.rnd.randrange(20000, 90000))
    s.conn(outlook, t0 + 14 * m + 5_220, O365, 587, service="smtp,ssl")
    for k in (3, 21, 39):
        s.conn(tb, t0 + k * m + 330_907, "203.0.113.11", 143, service="imap")
    for k in (6, 24, 42):
        s.conn(em, t0 + k * m + 771_002, "203.0.113.12", 993, service="ssl")
    for k in (12, 30, 48):
        s.conn(sync, t0 + k * m + 15_634, C2_SMTP, 587, service="smtp,ssl")
    return s


def sc_double_ext():
    s = Scenario("allowlist-double-extension", 103)
    h = Host("WS-OPS-021.corp.example.com", "10.20.3.61")
    u = "CORP\\bob.martin"
    t0 = T("2026-11-28T10:03:44.615020Z")
    fake = s.proc(h, "C:\\Users\\bob.martin\\AppData\\Roaming\\Microsoft\\Outlook\\outlook.exe.exe",
                  u, start_us=t0)
    real = s.proc(h, IMG_OUTLOOK, u, start_us=t0)
    m = 60 * USEC
    for k in (0, 12, 24, 36):
        s.conn(real, t0 + k * m + 51_003, O365, 993, service="ssl")
    for k in (4, 16, 28):
        s.conn(real, t0 + k * m + 911_120, O365, 587, service="smtp,ssl")
    for k in (7, 19, 31):
        s.conn(fake, t0 + k * m + 404_404, C2_SMTP, 25, service="smtp")
    return s


def sc_masquerade():
    s = Scenario("masquerade-public-outlook", 104)
    h = Host("WS-LEG-002.corp.example.com", "10.20.8.14")
    u = "CORP\\carol.diaz"
    t0 = T("2026-11-28T11:20:31.250113Z")
    masq = s.proc(h, "C:\\Users\\Public\\outlook.exe", u, start_us=t0)
    homo = s.proc(h, "C:\\Users\\Public\\0utlook.exe", u, start_us=t0)
    m = 60 * USEC
    for k in (0, 10, 20, 30):
        s.conn(masq, t0 + k * m + 67_890, C2_SMTP, 587, service="smtp,ssl")
    for k in (5, 15, 25):
        s.conn(homo, t0 + k * m + 123_321, C2_SMTP, 587, service="smtp,ssl")
    return s


def sc_ipv6():
    s = Scenario("ipv6-canonical", 105)
    h = Host("WS-DEV-003.corp.example.com", "10.20.6.3",
             ip6="2001:db8:20:6::3")
    u = "CORP\\dev.ops"
    t0 = T("2026-11-28T06:58:09.330478Z")
    p = s.proc(h, "C:\\ProgramData\\SystemHelper\\mshelper.exe", u, start_us=t0)
    m = 60 * USEC
    for k in (0, 8, 16):
        s.conn(p, t0 + k * m + 1_101, "2001:db8:feed::25", 993, v6=True, service="ssl")
    # link-local, the OTRF-style address on the Sysmon side
    for k in (3, 11, 19):
        s.conn(p, t0 + k * m + 77_777, "fe80::a00:27ff:fe4e:66a1", 25,
               src="fe80::2132:4b2b:8c64:b7fc", service="smtp")
    # IPv4 traffic of the same process elsewhere (1 x 993): its own group
    s.conn(p, t0 + 21 * m, C2_IMAP, 993, service="ssl")
    return s


def sc_inbound():
    s = Scenario("inbound-not-attributed", 106)
    mail = Host("MAIL01.corp.example.com", RELAY)
    ws = Host("WS-FIN-022.corp.example.com", "10.20.4.52")
    t0 = T("2026-11-28T09:31:00.481516Z")
    fet = s.proc(mail, "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Bin\\"
                 "MSExchangeFrontendTransport.exe", "NT AUTHORITY\\SYSTEM", start_us=t0)
    outlook = s.proc(ws, IMG_OUTLOOK, "CORP\\frank.ito", start_us=t0)
    m = 60 * USEC
    # an unmonitored Linux app server / MFP sends mail to MAIL01:25.  Zeek sees
    # the flow; MAIL01's Sysmon logs the accept (Initiated=false, Source = the
    # initiator), nobody logs Initiated=true.
    printer = "10.20.9.50"
    for k in (0, 6, 12, 18, 24):
        ts = t0 + k * m + 300_000
        z, _ = s.conn(None, ts, RELAY, 25, src=printer, service="smtp")
        # inbound event on the server, 80 ms after the first packet
        ev = s.eid3(fet, ts + 80_000, "tcp", False, printer, z["id.orig_p"], RELAY, 25)
        s.sysmon.append((ts + 80_000, ev))
    # a monitored workstation's OUTLOOK.EXE submits to MAIL01:587.  Both ends
    # log the same 5-tuple; the server's Initiated=false event is *nearer* in
    # time to the flow than the client's Initiated=true one.
    for k in (2, 9, 16):
        ts = t0 + k * m + 654_321
        z, ev = s.conn(outlook, ts, RELAY, 587, service="smtp", delay_ms=350)
        ev2 = s.eid3(fet, ts + 20_000, "tcp", False, ws.ip, z["id.orig_p"], RELAY, 587)
        s.sysmon.append((ts + 20_000, ev2))
    return s


def sc_redelivery():
    s = Scenario("zeek-redelivery", 107)
    h = Host("WS-ENG-031.corp.example.com", "10.20.6.31")
    u = "CORP\\gina.park"
    t0 = T("2026-11-28T05:10:40.900001Z")
    p = s.proc(h, "C:\\Users\\gina.park\\AppData\\Local\\Temp\\RarSFX0\\notifier.exe", u,
               start_us=t0)
    m = 60 * USEC
    a = [s.conn(p, t0 + k * m + 2_500, C2_IMAP, 993, service="ssl", ts_fmt="iso",
                extra_zeek=None)[0] for k in (0, 20)]
    b = [s.conn(p, t0 + k * m + 7_777, C2_SMTP, 587, service="smtp,ssl", ts_fmt="iso")[0]
         for k in (5, 25, 45)]
    zl = [line(v) for _, v in sorted(s.zeek, key=lambda kv: kv[0])]
    # redelivery: group A's two records arrive three times each, group B's
    # first record twice (once verbatim, once re-serialised with a later
    # _write_ts as a replaying shipper would do)
    redo = [line(a[0]), line(a[1]), line(a[0]), line(a[1])]
    b0 = dict(b[0])
    b0 = {"_path": "conn", "_write_ts": iso(T("2026-11-28T06:02:00.000000Z")), **b0}
    s.zeek_lines = zl[:3] + [redo[0]] + zl[3:] + [redo[1], line(b0), redo[2], redo[3]]
    return s


def sc_failed():
    s = Scenario("failed-connections", 108)
    h = Host("WS-SUP-017.corp.example.com", "10.20.2.17")
    u = "CORP\\hank.obi"
    t0 = T("2026-11-28T04:00:13.375000Z")
    p = s.proc(h, "C:\\Users\\hank.obi\\AppData\\Roaming\\Zoom\\bin\\zupdate.exe", u,
               start_us=t0)
    m = 60 * USEC
    # group A -> 198.51.100.25:465: 2 established + 5 failed -> 2 -> silent
    for k, st in ((0, "SF"), (3, "S0"), (6, "REJ"), (9, "SF"), (12, "RSTOS0"),
                  (15, "SH"), (18, "OTH")):
        s.conn(p, t0 + k * m + 1_000, C2_SMTP_B, 465, state=st,
               service="ssl" if st == "SF" else None)
    # group B -> 203.0.113.40:995: the six established states -> 6 -> alert
    for k, st in ((1, "SF"), (4, "S1"), (7, "S2"), (10, "S3"), (13, "RSTO"), (16, "RSTR")):
        s.conn(p, t0 + k * m + 2_000, C2_IMAP, 995, state=st, service="ssl")
    # group C -> 198.51.100.77:110: 3 failed only -> 0 -> silent
    for k, st in ((2, "S0"), (5, "REJ"), (8, "RSTOS0")):
        s.conn(p, t0 + k * m + 3_000, C2_SMTP, 110, state=st)
    return s


def sc_skew():
    s = Scenario("clock-skew", 109)
    fast = Host("WS-SALES-022.corp.example.com", "10.20.7.22", skew_s=3 * 3600 + 17 * 60)
    slow = Host("WS-HR-009.corp.example.com", "10.20.5.9", skew_s=-300)
    sync = Host("WS-IT-001.corp.example.com", "10.20.2.1")
    t0 = T("2026-11-28T13:02:17.500000Z")
    m = 60 * USEC
    c_f = s.proc(fast, IMG_CHROME, "CORP\\ivan.reyes", start_us=t0)
    x_f = s.proc(fast, "C:\\ProgramData\\Intel\\igfxsvc.exe", "CORP\\ivan.reyes", start_us=t0)
    c_s = s.proc(slow, IMG_CHROME, "CORP\\judy.lang", start_us=t0)
    x_s = s.proc(slow, "C:\\Users\\judy.lang\\AppData\\Local\\Programs\\Python\\Python312\\"
                 "python.exe", "CORP\\judy.lang", start_us=t0)
    c_y = s.proc(sync, IMG_CHROME, "CORP\\kim.adm", start_us=t0)
    # offset samples first (browsing), then the mail-port traffic
    browse(s, c_f, t0, n=2)
    browse(s, c_s, t0 + 30 * USEC, n=3)
    browse(s, c_y, t0 + 45 * USEC, n=2)
    # fast host: 3 x SMTPS 465 -> alert once the -3h17m offset is removed
    for k in (5, 15, 25):
        s.conn(x_f, t0 + k * m + 123_456, C2_SMTP_B, 465, service="ssl")
    # slow host: 4 x IMAPS 993; after removing +300 s the 3rd event is 90 s
    # late (still within max_skew 120 s), the 4th 150 s late (unattributed)
    for k, late in ((8, 0), (18, 0), (28, 90_000), (38, 150_000)):
        s.conn(x_s, t0 + k * m + 654_321, C2_IMAP, 993, service="ssl",
               delay_ms=s.rnd.uniform(40, 400) + late)
    # more offset samples after the mail traffic for the slow host (keeps the
    # clean samples a clear majority: 5 clean + 2 late of 7)
    browse(s, c_s, t0 + 45 * m, n=1)
    # the last record: unmonitored DNS, defines now
    s.conn(None, t0 + 50 * m, DNS, 53, proto="udp", src="10.20.9.77", service="dns",
           state="SF", ob=38, rb=98, dur=0.01)
    return s


def sc_window():
    s = Scenario("window-24h-boundary", 110)
    h = Host("WS-FAC-004.corp.example.com", "10.20.10.4", skew_s=-0.012)
    u = "CORP\\leo.brandt"
    now = T("2026-11-28T12:00:00Z")
    a = s.proc(h, "C:\\Users\\leo.brandt\\AppData\\Local\\Temp\\reporter.exe", u, start_us=now)
    b = s.proc(h, "C:\\Users\\leo.brandt\\AppData\\Local\\Temp\\sync64.exe", u, start_us=now)
    c = s.proc(h, "C:\\Users\\leo.brandt\\AppData\\Local\\Temp\\mailer32.exe", u, start_us=now)
    H = 3600 * USEC
    # sysmon logs 12 ms *before* the sensor's first packet here (delay 0):
    # every Sysmon time <= --now
    for t in (now - 24 * H, now - 12 * H, now - 1 * H):           # A: 2 in window
        s.conn(a, t, C2_SMTP, 587, service="smtp,ssl", delay_ms=0)
    for t in (now - 24 * H + 1000, now - 6 * H, now):              # B: 3 in window
        s.conn(b, t, C2_IMAP, 993, service="ssl", delay_ms=0)
    for t in (now - 30 * H, now - 25 * H, now - 3 * H, now - 2 * H):   # C: 2 in window
        s.conn(c, t, C2_SMTP_B, 25, service="smtp", delay_ms=0)
    s.args = "--now 2026-11-28T12:00:00Z"
    return s


def sc_now_skew():
    s = Scenario("window-now-skewed-host", 111)
    fast = Host("WS-MKT-009.corp.example.com", "10.20.11.9", skew_s=5400)
    u = "CORP\\mia.fox"
    T_end = T("2026-11-28T18:00:00.250000Z")
    H, m = 3600 * USEC, 60 * USEC
    chrome = s.proc(fast, IMG_CHROME, u, start_us=T_end)
    svch = s.proc(fast, IMG_SVCHOST, "NT AUTHORITY\\SYSTEM", start_us=T_end)
    acro = s.proc(fast, "C:\\Users\\mia.fox\\AppData\\Roaming\\Adobe\\acrotray.exe", u,
                  start_us=T_end)
    browse(s, chrome, T_end - 24 * H + 2 * m + 3 * USEC, n=2, gap_s=60)   # samples first
    for k in (10, 15, 20):
        s.conn(acro, T_end - 24 * H + k * m + 501_000, C2_SMTP, 25, service="smtp")
    # late activity on the skewed host: raw Sysmon time ~ T_end + 1h25m
    s.conn(svch, T_end - 5 * m, "192.0.2.143", 443, service="ssl")
    # the latest event of the input: an unmonitored host's DNS query
    s.conn(None, T_end, DNS, 53, proto="udp", src="10.20.9.77", service="dns",
           ob=40, rb=120, dur=0.004)
    return s


def _bad(zrec, **changes):
    z = dict(zrec)
    for k, v in changes.items():
        z[k] = v
    return z


def sc_bad_lines():
    s = Scenario("bad-lines", 112)
    h = Host("WS-ENG-011.corp.example.com", "10.20.6.11")
    u = "CORP\\nina.sato"
    t0 = T("2026-11-28T14:40:00.125000Z")
    m = 60 * USEC
    p = s.proc(h, "C:\\ProgramData\\WinSAT\\winsat-upd.exe", u, start_us=t0)
    # valid: group A 3 x 587 (alert), group B 2 x 993 (silent)
    A = [s.conn(p, t0 + k * m + 10_101, C2_SMTP, 587, service="smtp,ssl") for k in (0, 10, 20)]
    s.conn(p, t0 + 2 * m + 20_202, C2_IMAP, 993, service="ssl")
    s.conn(p, t0 + 12 * m + 20_202, C2_IMAP, 993, service="ssl")
    good_z = list(s.zeek)
    good_s = list(s.sysmon)
    # Bu: valid Zeek flows of group B whose only Sysmon event is a bad line
    s.zeek, s.sysmon = [], []
    Bu = [s.conn(p, t0 + k * m + 30_303, C2_IMAP, 993, service="ssl") for k in (4, 6, 8, 14, 16)]
    good_z += s.zeek
    bu_events = [dict(ev) for _, ev in Bu]
    # Bz: valid Sysmon events of group B whose only Zeek record is a bad line
    s.zeek, s.sysmon = [], []
    Bz = [s.conn(p, t0 + k * m + 40_404, C2_IMAP, 993, service="ssl") for k in (1, 3, 5, 7, 9, 11)]
    good_s += s.sysmon
    # pairs, bad on both sides
    s.zeek, s.sysmon = [], []
    P = [s.conn(p, t0 + k * m + 50_505, C2_IMAP, 993, service="ssl") for k in (13, 15, 17)]
    s.zeek, s.sysmon = good_z, good_s
    zl = [line(v) for _, v in sorted(s.zeek, key=lambda kv: kv[0])]
    sl = [line(v) for _, v in sorted(s.sysmon, key=lambda kv: kv[0])]

    # ---- bad Sysmon lines: each would attribute one Bu flow to group B ----
    e0, e1, e2, e3, e4 = bu_events
    e0["Initiated"] = "maybe"                              # ill-typed
    del e1["ProcessGuid"]                                  # missing required field
    e2["UtcTime"] = "2026-13-45 99:00:00.000"              # unparsable time
    e3["Channel"] = "Security"                             # another log: skipped
    e3["SourceName"] = "Microsoft-Windows-Security-Auditing"
    e4["EventID"] = "three"                                # ill-typed
    bad_s = [line(e0), line(e1), line(e2), line(e3), line(e4)]

    # ---- bad Zeek lines: each would be a group-B flow (valid Sysmon event) ----
    deep = dict(Bz[5][0])
    nest = "x"
    for _ in range(70):
        nest = [nest]
    deep["tags"] = nest
    utf = line(_bad(Bz[3][0], service="smtp")).replace(b'"smtp"', b'"smtp\xff\xfe"')
    nan = line(Bz[4][0])
    i = nan.index(b'"ts":') + 5
    nan = nan[:i] + b"NaN" + nan[nan.index(b",", i):]
    bad_z = [
        line(_bad(Bz[0][0], ts=True)),                                # ill-typed ts
        line(_bad(Bz[1][0], uid=[Bz[1][0]["uid"]])),                  # ill-typed uid
        line(_bad(Bz[2][0], ts=Num("1e999"))),                        # not finite
        utf,                                                           # invalid UTF-8
        nan,                                                           # NaN: not JSON
        line(deep),                                                    # nesting > 64
    ]
    # ---- pairs: port 70000 / bad IP / 1970 on both sides ----
    (z0, v0), (z1, v1), (z2, v2) = [(dict(z), dict(e)) for z, e in P]
    z0["id.orig_p"] = 70000
    v0["SourcePort"] = "70000"
    z1["id.orig_h"] = "10.20.6.311"
    v1["SourceIp"] = "10.20.6.311"
    z2["ts"] = Num("86400.500000")                                     # 1970-01-02
    v2["UtcTime"] = "1970-01-02 00:00:00.650"
    bad_z += [line(z0), line(z1), line(z2)]
    bad_s += [line(v0), line(v1), line(v2)]
    # ---- a year-2150 record on each side: accepted, it would move `now`
    # 123 years ahead and empty the window ----
    z2150 = {"ts": Num("5680281600.000000"), "uid": s.uid(), "id.orig_h": h.ip,
             "id.orig_p": s.port(h), "id.resp_h": WEB[0], "id.resp_p": 443, "proto": "tcp",
             "conn_state": "SF"}
    e2150 = s.eid3(p, t0, "tcp", True, h.ip, z2150["id.orig_p"], WEB[0], 443)
    e2150["UtcTime"] = "2150-01-01 00:00:00.000"
    bad_z.append(line(z2150))
    bad_s.append(line(e2150))
    # ---- not JSON / not an object / blank ----
    bad_z += [b'{"ts":' + epoch_text(t0 + 3 * m).encode() +
              b',"uid":"CtrUnC4t3dL1n3xx","id.orig_h":"10.20.6.11","id.orig_p":5',
              b'[1,2,3]', b'"conn"', b'null', b'', b'   ']
    bad_s += [b'{"EventID":3,"Hostname":', b'42', b'{}']
    # ---- a rejected Zeek line carrying the uid of group A's third flow, just
    # before the valid one: rejected whole, so that uid is not yet "seen" ----
    a3 = A[2][0]
    early_dup = line(_bad(a3, **{"id.resp_p": 70000}))

    out, bz = [], list(bad_z)
    for x in zl:
        if a3["uid"].encode() in x:
            out.append(early_dup)
        out.append(x)
        for _ in range(2):
            if bz:
                out.append(bz.pop(0))
    out.extend(bz)
    s.zeek_lines = out
    so, bs = [], list(bad_s)
    for x in sl:
        so.append(x)
        if bs:
            so.append(bs.pop(0))
    so.extend(bs)
    s.sysmon_lines = so
    s.crlf_sysmon = True
    return s


def sc_shapes():
    """Input shapes of SPEC §2.1/§2.2: Zeek dotted / nested id / {"conn":...}
    wrapper, ISO ts; Sysmon flat with Computer, Winlogbeat 7 and 6."""
    s = Scenario("input-shapes", 113)
    ha = Host("WS-ACC-041.corp.example.com", "10.20.4.41")
    hb = Host("WS-ACC-042.corp.example.com", "10.20.4.42")
    hc = Host("WS-ACC-043.corp.example.com", "10.20.4.43")
    t0 = T("2026-11-28T16:05:09.009009Z")
    m = 60 * USEC
    pa = s.proc(ha, "C:\\Users\\Public\\Libraries\\mshta-helper.exe", "CORP\\olga.b", start_us=t0)
    pb = s.proc(hb, "C:\\Users\\paul.c\\AppData\\Local\\Temp\\wsc_proxy.exe", "CORP\\paul.c",
                start_us=t0)
    pc = s.proc(hc, "C:\\Windows\\Temp\\svc32.exe", "NT AUTHORITY\\SYSTEM", start_us=t0)
    groups = []
    for proc, port, dst in ((pa, 587, C2_SMTP), (pb, 993, C2_IMAP), (pc, 110, C2_SMTP_B)):
        groups.append([s.conn(proc, t0 + k * m + proc.pid, dst, port,
                              service="ssl" if port != 110 else "pop3")
                       for k in (0, 7, 14)])
    # Zeek shapes: for every group one dotted (epoch), one nested id (ISO ts),
    # one wrapped {"conn": ...}
    zl = []
    for g in groups:
        for i, (z, _) in enumerate(g):
            if i == 1:
                n = {"ts": iso(int(z["ts"].text.replace(".", ""))), "uid": z["uid"],
                     "id": {"orig_h": z["id.orig_h"], "orig_p": z["id.orig_p"],
                            "resp_h": z["id.resp_h"], "resp_p": z["id.resp_p"]}}
                n.update({k: v for k, v in z.items() if not k.startswith("id.") and
                          k not in ("ts", "uid")})
                z = n
            elif i == 2:
                z = {"conn": z}
            zl.append((i, z))
    s.zeek_lines = [line(z) for _, z in sorted(zl, key=lambda iz: iz[0])]
    # Sysmon shapes: group a flat with "Computer"; b Winlogbeat 7; c Winlogbeat 6
    sl = []
    for _, ev in groups[0]:
        e = dict(ev)
        e["Computer"] = e.pop("Hostname")
        sl.append(e)
    for _, ev in groups[1]:
        data = {k: ev[k] for k in ("RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image",
                                    "User", "Protocol", "Initiated", "SourceIsIpv6",
                                    "SourceIp", "SourceHostname", "SourcePort",
                                    "SourcePortName", "DestinationIsIpv6", "DestinationIp",
                                    "DestinationHostname", "DestinationPort",
                                    "DestinationPortName")}
        sl.append({"@timestamp": ev["@timestamp"],
                   "agent": {"type": "winlogbeat", "version": "7.17.9",
                             "hostname": "WEC01"},
                   "event": {"code": "3", "kind": "event", "module": "sysmon",
                             "provider": "Microsoft-Windows-Sysmon",
                             "action": "Network connection detected (rule: NetworkConnect)"},
                   "host": {"name": "WEC01.corp.example.com"},
                   "winlog": {"channel": SYSMON_CHANNEL,
                              "computer_name": ev["Hostname"], "event_id": "3",
                              "provider_name": "Microsoft-Windows-Sysmon",
                              "provider_guid": PROVIDER_GUID, "record_id": 884213,
                              "event_data": data}})
    for _, ev in groups[2]:
        data = {k: ev[k] for k in ("DestinationPort", "SourceIp", "SourceIsIpv6", "Image",
                                    "DestinationIp", "Initiated", "ProcessId", "Protocol",
                                    "SourcePort", "DestinationIsIpv6", "UtcTime",
                                    "ProcessGuid", "User")}
        sl.append({"@timestamp": ev["@timestamp"],
                   "@metadata": {"beat": "winlogbeat", "type": "doc", "version": "6.5.4",
                                 "topic": "winlogbeat"},
                   "log_name": SYSMON_CHANNEL, "event_id": 3,
                   "computer_name": ev["Hostname"], "source_name": "Microsoft-Windows-Sysmon",
                   "provider_guid": PROVIDER_GUID, "record_number": "1773402",
                   "event_data": data, "beat": {"name": "WECserver", "hostname": "WECserver",
                                                "version": "6.5.4"},
                   "host": {"name": "WECserver"}, "type": "wineventlog"})
    s.sysmon_lines = [line(e) for e in sl]
    s.crlf_sysmon = True
    return s


def demo():
    s = Scenario("demo", 200)
    fin = Host("WS-FIN-014.corp.example.com", "10.20.4.37")
    it = Host("SRV-IT-REPORTS.corp.example.com", "10.20.2.15")
    eng = Host("WS-ENG-007.corp.example.com", "10.20.6.58", skew_s=-41.7)
    t0 = T("2026-11-28T08:30:00.000000Z")
    m = 60 * USEC
    outlook = s.proc(fin, IMG_OUTLOOK, "CORP\\alice.nguyen", start_us=t0)
    chrome = s.proc(fin, IMG_CHROME, "CORP\\alice.nguyen", start_us=t0)
    dnsc = s.proc(fin, IMG_SVCHOST, "NT AUTHORITY\\NETWORK SERVICE", start_us=t0)
    ps = s.proc(it, IMG_PS, "CORP\\svc-reports", start_us=t0)
    rd = s.proc(eng, IMG_RUNDLL, "CORP\\marcus.lee", start_us=t0)
    # mail client traffic (allowed)
    for k in (2, 31, 64):
        s.conn(outlook, t0 + k * m + 118_000, O365, 993, service="ssl",
               ob=s.rnd.randrange(1200, 3000), rb=s.rnd.randrange(30000, 120000))
    for k in (12, 47, 80):
        s.conn(outlook, t0 + k * m + 406_000, O365, 587, service="smtp,ssl",
               ob=s.rnd.randrange(4000, 90000), rb=s.rnd.randrange(900, 2000))
    browse(s, chrome, t0 + 5 * m, n=2, gap_s=300)
    for k in (4, 51):
        s.conn(dnsc, t0 + k * m + 9_000, DNS, 53, proto="udp", service="dns", ob=41, rb=129,
               dur=0.0021)
    # scheduled report mailer (the known FP): PowerShell Send-MailMessage
    s.eid1(ps, t0 + 59 * m + 700_000,
           "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\Scripts\\Send-DailyReport.ps1",
           "C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
           "SHA256=9F914D42706FE215501044ACD85A32D58AAEF1419D404FDDFA5D3B48F66CCD9F")
    for k in (60, 61, 62):
        s.conn(ps, t0 + k * m + 1_400_000 + k * 37_000, RELAY, 25, service="smtp",
               ob=s.rnd.randrange(30000, 60000), rb=900)
    # the C2: rundll32 loading a payload DLL, beaconing over SMTP submission and IMAPS
    s.eid1(rd, t0 + 14 * m + 2_200_000 + eng.skew_us,
           "\"C:\\Windows\\System32\\rundll32.exe\" C:\\Users\\marcus.lee\\AppData\\Local\\Temp\\msupd.dll,DllRegisterServer",
           "C:\\Users\\marcus.lee\\Downloads\\Invoice_2026-11.exe",
           "\"C:\\Users\\marcus.lee\\Downloads\\Invoice_2026-11.exe\"",
           "SHA256=D4B7B4E7A3C2B6A9E9F3A4C1B6D2E8F0A1B3C5D7E9F1A2B4C6D8E0F2A4B6C8D0")
    s.eid22(rd, t0 + 15 * m + eng.skew_us, "mail.relay-kontakt.example",
            "::ffff:" + C2_SMTP + ";")
    for k in (15, 30, 45, 60):
        s.conn(rd, t0 + k * m + 1_500_000, C2_SMTP, 587, service="smtp,ssl",
               ob=s.rnd.randrange(2000, 9000), rb=s.rnd.randrange(700, 1500))
    for k in (22, 52, 82):
        s.conn(rd, t0 + k * m + 3_100_000, C2_SMTP, 993, service="ssl",
               ob=s.rnd.randrange(500, 1100), rb=s.rnd.randrange(3000, 40000))
    # non-mail traffic from the payload (443) and an unmonitored Linux box
    s.conn(rd, t0 + 16 * m, C2_SMTP, 443, service="ssl")
    s.conn(None, t0 + 85 * m + 777_000, "192.0.2.143", 443, src="10.20.9.77", service="ssl")
    return s


ALL = [sc_threshold_boundary, sc_allowlist_ci, sc_double_ext, sc_masquerade, sc_ipv6,
       sc_inbound, sc_redelivery, sc_failed, sc_skew, sc_window, sc_now_skew, sc_bad_lines,
       sc_shapes]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "..", ".."))
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    for fn in ALL + [demo]:
        s = fn()
        if a.names and s.name not in a.names:
            continue
        d = s.write(a.root, sub="" if s.name == "demo" else "scenarios")
        print("wrote", os.path.relpath(d, a.root))


if __name__ == "__main__":
    main()
