#!/usr/bin/env python3
"""refquery.py - independent reference implementation of c2watch's replay
(final mode) for the reference rule T1071.003-mail-protocols.

Written from /work/shared/SPEC.md only (never from the C code), Python 3
standard library only.  It is deliberately simple and non-streaming: it reads
every input line, keeps the valid records, estimates each host's clock offset
over the whole input, joins, and evaluates the reference query of SPEC §1.

    python3 tests/tools/refquery.py fixtures/scenarios/<name>    > expected.ndjson
    python3 tests/tools/refquery.py --zeek F --sysmon F [--now T]

A scenario directory holds zeek.ndjson, sysmon.ndjson (optional), args
(optional, one line of extra CLI args; only --now and --emit final are
understood) and must not hold a rules.yaml (only the reference rule is
hard-coded here).

Ambiguities that would make the expected output depend on a choice the SPEC
does not pin down (ties between join candidates, an event attributing two
flows, an even number of widely spread offset samples, a Sysmon event 1/22
defining `now`, events after --now) are reported on stderr as "warning:";
fixtures are designed so that none are printed.
"""

import argparse
import datetime as _dt
import decimal
import json
import os
import re
import shlex
import socket
import statistics
import sys
from collections import defaultdict

USEC = 1_000_000
# Valid times: years 2000..2099 certainly valid; the SPEC says "outside
# 2000..2100" is a reason.  Fixtures never use the year 2100 itself.
TIME_MIN = int(_dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc).timestamp()) * USEC
TIME_MAX = int(_dt.datetime(2101, 1, 1, tzinfo=_dt.timezone.utc).timestamp()) * USEC
MAX_RECORD_BYTES = 1 << 20
MAX_DEPTH = 64
EPHEMERAL_MIN = 49152
MAX_SKEW_US = 120 * USEC
WINDOW_US = 24 * 3600 * USEC

ESTABLISHED = {"S1", "S2", "S3", "SF", "RSTO", "RSTR"}
RULE_ID = "T1071.003-mail-protocols"
MAIL_PORTS = {25: "SMTP", 465: "SMTP", 587: "SMTP",
              110: "POP3", 995: "POP3",
              143: "IMAP", 993: "IMAP"}
MAIL_CLIENTS = ["outlook.exe", "thunderbird.exe", "OUTLOOK.EXE", "MailClient.exe",
                "eM Client.exe", "msedge.exe", "chrome.exe"]
MAIL_CLIENTS_CI = {n.lower() for n in MAIL_CLIENTS}
OUTPUT_KEYS = ["rule_id", "LastSeen", "DeviceName", "AccountName",
               "InitiatingProcessFileName", "RemoteIP", "Protocol", "RemotePort",
               "ConnectionCount", "UniqueRemoteIPs", "BytesSent"]


def warn(msg):
    print("warning: " + msg, file=sys.stderr)


class Reject(Exception):
    """A record that fails validation (SPEC §2); the text is the reason."""


class Skip(Exception):
    """A valid record that is not used (other channel / event id)."""


# --------------------------------------------------------------------------
# primitive validation


def _no_constant(name):
    raise ValueError("non-JSON constant " + name)


def parse_line(raw):
    """bytes (without line ending) -> dict, or raise Reject."""
    if len(raw) > MAX_RECORD_BYTES:
        raise Reject("too_large")
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Reject("bad_utf8")
    try:
        obj = json.loads(text, parse_float=decimal.Decimal,
                         parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise Reject("bad_json")
    if not isinstance(obj, dict):
        raise Reject("not_object")
    if depth(obj) > MAX_DEPTH:
        raise Reject("too_deep")
    return obj


def depth(v):
    """Nesting depth: a scalar is 0, {} / [] is 1, {"a": {}} is 2."""
    best, stack = 0, [(v, 1)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, dict):
            best = max(best, d)
            stack.extend((c, d + 1) for c in x.values())
        elif isinstance(x, list):
            best = max(best, d)
            stack.extend((c, d + 1) for c in x)
    return best


def is_number(v):
    return isinstance(v, (int, decimal.Decimal)) and not isinstance(v, bool)


def canon_ip(v):
    """IP text -> canonical text (inet_pton + inet_ntop), or raise Reject."""
    if not isinstance(v, str):
        raise Reject("bad_type_ip")
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(fam, socket.inet_pton(fam, v))
        except OSError:
            pass
    raise Reject("bad_ip")


def port_value(v, allow_string):
    if isinstance(v, str) and allow_string and re.fullmatch(r"[0-9]{1,10}", v):
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, decimal.Decimal) and v == v.to_integral_value():
            v = int(v)
        else:
            raise Reject("bad_type_port")
    if not 0 <= v <= 65535:
        raise Reject("bad_port")
    return v


def check_time(us):
    if not TIME_MIN <= us < TIME_MAX:
        raise Reject("bad_time")
    return us


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"([Zz]|[+-]\d{2}:?\d{2})")


def frac_us(frac):
    """'.123456789' -> microseconds, rounded half-even."""
    if not frac:
        return 0
    return int((decimal.Decimal("0" + frac) * USEC).to_integral_value(
        rounding=decimal.ROUND_HALF_EVEN))


def parse_rfc3339(s):
    if not isinstance(s, str):
        raise Reject("bad_type_time")
    m = _RFC3339.fullmatch(s)
    if not m:
        raise Reject("bad_time")
    y, mo, d, h, mi, se = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    try:
        base = _dt.datetime(y, mo, d, h, mi, se, tzinfo=_dt.timezone.utc)
    except ValueError:
        raise Reject("bad_time")
    z = m.group(8)
    off = 0
    if z not in ("Z", "z"):
        zz = z.replace(":", "")
        off = (int(zz[1:3]) * 3600 + int(zz[3:5]) * 60) * (1 if zz[0] == "+" else -1)
    us = (int(base.timestamp()) - off) * USEC + frac_us(m.group(7))
    return check_time(us)


def parse_epoch(v):
    if not is_number(v):
        raise Reject("bad_type_time")
    d = decimal.Decimal(v)
    if not d.is_finite():
        raise Reject("bad_time")
    if abs(d) > 10 ** 12:   # far outside the range; avoid huge integers
        raise Reject("bad_time")
    us = int((d * USEC).to_integral_value(rounding=decimal.ROUND_HALF_EVEN))
    return check_time(us)


_UTCTIME = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?")


def parse_utctime(s):
    if not isinstance(s, str):
        raise Reject("bad_type_time")
    m = _UTCTIME.fullmatch(s)
    if not m:
        raise Reject("bad_time")
    y, mo, d, h, mi, se = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    try:
        base = _dt.datetime(y, mo, d, h, mi, se, tzinfo=_dt.timezone.utc)
    except ValueError:
        raise Reject("bad_time")
    return check_time(int(base.timestamp()) * USEC + frac_us(m.group(7)))


def fmt_time(us):
    """microseconds -> 2026-11-28T10:00:00.123456Z"""
    sec, frac = divmod(us, USEC)
    t = _dt.datetime.fromtimestamp(sec, tz=_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % frac


# --------------------------------------------------------------------------
# Zeek conn (SPEC §2.1)


def zeek_get(rec, name):
    if name in rec:
        return rec[name]
    if "." in name:
        a, b = name.split(".", 1)
        sub = rec.get(a)
        if isinstance(sub, dict) and b in sub:
            return sub[b]
    return None


def decode_zeek(rec):
    if "uid" not in rec and len(rec) == 1 and isinstance(rec.get("conn"), dict):
        rec = rec["conn"]                      # Zeek Kafka writer wrapper

    def req(name):
        v = zeek_get(rec, name)
        if v is None:
            raise Reject("missing_" + name)
        return v

    ts = req("ts")
    ts_us = parse_rfc3339(ts) if isinstance(ts, str) else parse_epoch(ts)
    uid = req("uid")
    if not isinstance(uid, str) or not uid:
        raise Reject("bad_type_uid")
    proto = req("proto")
    if not isinstance(proto, str):
        raise Reject("bad_type_proto")
    state = req("conn_state")
    if not isinstance(state, str):
        raise Reject("bad_type_conn_state")
    flow = {
        "ts": ts_us, "uid": uid, "proto": proto.lower(), "conn_state": state,
        "orig_h": canon_ip(req("id.orig_h")),
        "orig_p": port_value(req("id.orig_p"), False),
        "resp_h": canon_ip(req("id.resp_h")),
        "resp_p": port_value(req("id.resp_p"), False),
    }
    for k in ("orig_bytes", "resp_bytes"):
        v = zeek_get(rec, k)
        if v is None:
            flow[k] = 0
        elif is_number(v) and decimal.Decimal(v).is_finite() and v >= 0:
            flow[k] = int(v)
        else:
            raise Reject("bad_type_" + k)
    return flow


# --------------------------------------------------------------------------
# Sysmon (SPEC §2.2)

CHANNEL_KEYS_FLAT = ("Channel", "SourceName")


def sysmon_shape(rec):
    """-> (event_id, host, data, [channel-ish values])"""
    wl = rec.get("winlog")
    if isinstance(wl, dict):
        data = wl.get("event_data")
        return (wl.get("event_id"), wl.get("computer_name"),
                data if isinstance(data, dict) else {},
                [wl.get("channel"), wl.get("provider_name")])
    if isinstance(rec.get("event_data"), dict) or "event_id" in rec:
        data = rec.get("event_data")
        return (rec.get("event_id"), rec.get("computer_name"),
                data if isinstance(data, dict) else {},
                [rec.get("log_name"), rec.get("source_name")])
    host = rec.get("Hostname")
    if host is None:
        host = rec.get("Computer")
    return (rec.get("EventID"), host, rec,
            [rec.get(k) for k in CHANNEL_KEYS_FLAT])


def unset(v):
    return v is None or v == "-"


def decode_sysmon(rec):
    """-> dict for event 3 / 1 / 22, raise Skip or Reject."""
    eid, host, data, chans = sysmon_shape(rec)
    for c in chans:
        if isinstance(c, str) and c and "sysmon" not in c.lower():
            raise Skip("other_channel")
    if isinstance(eid, str) and re.fullmatch(r"[0-9]{1,9}", eid):
        eid = int(eid)
    if isinstance(eid, decimal.Decimal) and eid == eid.to_integral_value():
        eid = int(eid)
    if isinstance(eid, bool) or not isinstance(eid, int):
        raise Reject("missing_or_bad_event_id")
    if eid not in (1, 3, 22):
        raise Skip("other_event_id")
    if not isinstance(host, str) or unset(host) or not host:
        raise Reject("missing_host")

    def req(name):
        v = data.get(name)
        if unset(v):
            raise Reject("missing_" + name)
        return v

    ev = {"eid": eid, "host": host, "utc": parse_utctime(req("UtcTime"))}
    if eid != 3:
        return ev
    guid = req("ProcessGuid")
    image = req("Image")
    user = req("User")
    proto = req("Protocol")
    for name, v in (("ProcessGuid", guid), ("Image", image), ("User", user),
                    ("Protocol", proto)):
        if not isinstance(v, str):
            raise Reject("bad_type_" + name)
    pid = req("ProcessId")
    if isinstance(pid, str) and re.fullmatch(r"[0-9]{1,10}", pid):
        pid = int(pid)
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise Reject("bad_type_ProcessId")
    ini = req("Initiated")
    if isinstance(ini, str) and ini.lower() in ("true", "false"):
        ini = ini.lower() == "true"
    if not isinstance(ini, bool):
        raise Reject("bad_type_Initiated")
    ev.update({
        "guid": guid, "pid": pid, "image": image, "user": user,
        "proto": proto.lower(), "initiated": ini,
        "src_ip": canon_ip(req("SourceIp")),
        "src_port": port_value(req("SourcePort"), True),
        "dst_ip": canon_ip(req("DestinationIp")),
        "dst_port": port_value(req("DestinationPort"), True),
    })
    return ev


# --------------------------------------------------------------------------
# reading


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for i, raw in enumerate(lines, 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        yield i, raw


def load_zeek(path, stats):
    flows, seen = [], set()
    for lineno, raw in read_lines(path):
        try:
            f = decode_zeek(parse_line(raw))
        except Reject as r:
            stats["zeek_rejected"][str(r)].append(lineno)
            continue
        if f["uid"] in seen:
            stats["zeek_duplicate"].append(lineno)
            continue
        seen.add(f["uid"])
        f["line"] = lineno
        flows.append(f)
    return flows


def load_sysmon(path, stats):
    events = []
    for lineno, raw in read_lines(path):
        try:
            e = decode_sysmon(parse_line(raw))
        except Reject as r:
            stats["sysmon_rejected"][str(r)].append(lineno)
            continue
        except Skip as s:
            stats["sysmon_skipped"][str(s)].append(lineno)
            continue
        e["line"] = lineno
        events.append(e)
    return events


# --------------------------------------------------------------------------
# join (SPEC §3)


def flow_key(f):
    return (f["proto"], f["orig_h"], f["orig_p"], f["resp_h"], f["resp_p"])


def event_key(e):
    return (e["proto"], e["src_ip"], e["src_port"], e["dst_ip"], e["dst_port"])


def estimate_offsets(flows, events):
    """host -> median(zeek ts - sysmon UtcTime) in microseconds, over exact
    5-tuple matches (Initiated=true events) whose source port is ephemeral."""
    by_key = defaultdict(list)
    for e in events:
        if e["eid"] == 3 and e["initiated"]:
            by_key[event_key(e)].append(e)
    samples = defaultdict(list)
    for f in flows:
        if f["orig_p"] < EPHEMERAL_MIN:
            continue
        for e in by_key.get(flow_key(f), ()):
            samples[e["host"]].append(f["ts"] - e["utc"])
    offsets = {}
    for host, s in samples.items():
        offsets[host] = statistics.median(s)
        if len(s) % 2 == 0:
            ss = sorted(s)
            lo, hi = ss[len(s) // 2 - 1], ss[len(s) // 2]
            if hi - lo > 1 * USEC:
                warn("host %s: even number of offset samples, middle two differ "
                     "by %.3f s (median definition matters)" % (host, (hi - lo) / USEC))
    return offsets, samples


def join(flows, events, offsets):
    """Attribute each flow: nearest Initiated=true event with the same 5-tuple
    within MAX_SKEW after offset correction.  Returns list of (flow, event|None)."""
    by_key = defaultdict(list)
    for e in events:
        if e["eid"] == 3 and e["initiated"]:
            by_key[event_key(e)].append(e)
    out, used = [], defaultdict(list)
    for f in flows:
        best, best_d, tie = None, None, False
        for e in by_key.get(flow_key(f), ()):
            d = abs(f["ts"] - (e["utc"] + offsets.get(e["host"], 0)))
            if d > MAX_SKEW_US:
                continue
            if best is None or d < best_d:
                best, best_d, tie = e, d, False
            elif d == best_d and e["guid"] != best["guid"]:
                tie = True
        if tie:
            warn("flow %s (line %d): tie between join candidates" % (f["uid"], f["line"]))
        if best is not None:
            used[id(best)].append(f["uid"])
        out.append((f, best))
    for uids in used.values():
        if len(uids) > 1:
            warn("one Sysmon event attributes several flows: %s" % ", ".join(uids))
    return out


# --------------------------------------------------------------------------
# the reference query (SPEC §1)


def basename(image):
    return re.split(r"[\\/]", image)[-1]


def compute_now(flows, events, offsets):
    best, best_src = None, None
    for f in flows:
        if best is None or f["ts"] > best:
            best, best_src = f["ts"], "zeek"
    for e in events:
        t = e["utc"] + offsets.get(e["host"], 0)
        if best is None or t > best:
            best, best_src = t, "sysmon eid %d" % e["eid"]
    if best_src not in (None, "zeek", "sysmon eid 3"):
        warn("`now` is defined by a %s event" % best_src)
    return best


def reference_query(joined, now):
    lo = now - WINDOW_US
    groups = {}
    for f, e in joined:
        if e is None:                          # attributed: required (default)
            continue
        if not lo < f["ts"] <= now:
            continue
        port = f["resp_p"]
        if port not in MAIL_PORTS:
            continue
        if f["conn_state"] not in ESTABLISHED:   # ActionType == ConnectionSuccess
            continue
        fname = basename(e["image"])
        if fname.lower() in MAIL_CLIENTS_CI:     # !in~
            continue
        key = (e["host"], fname, f["resp_h"], port, MAIL_PORTS[port], e["user"])
        g = groups.setdefault(key, {"n": 0, "ips": set(), "bytes": 0,
                                    "first": f["ts"], "last": f["ts"]})
        g["n"] += 1
        g["ips"].add(f["resp_h"])
        g["bytes"] += f["orig_bytes"]
        g["first"] = min(g["first"], f["ts"])
        g["last"] = max(g["last"], f["ts"])
    alerts = []
    for (host, fname, rip, port, proto, user), g in groups.items():
        if g["n"] <= 2:
            continue
        alerts.append({
            "rule_id": RULE_ID, "LastSeen": fmt_time(g["last"]),
            "DeviceName": host, "AccountName": user,
            "InitiatingProcessFileName": fname, "RemoteIP": rip,
            "Protocol": proto, "RemotePort": port,
            "ConnectionCount": g["n"], "UniqueRemoteIPs": len(g["ips"]),
            "BytesSent": g["bytes"],
        })
    alerts.sort(key=lambda a: (-a["ConnectionCount"], a["DeviceName"],
                               a["InitiatingProcessFileName"], a["RemoteIP"],
                               a["RemotePort"], a["AccountName"]))
    return alerts


def new_stats():
    return {"zeek_rejected": defaultdict(list), "zeek_duplicate": [],
            "sysmon_rejected": defaultdict(list), "sysmon_skipped": defaultdict(list)}


def run(zeek_path, sysmon_path=None, now_arg=None):
    """Full pipeline; returns (alerts, context dict)."""
    stats = new_stats()
    flows = load_zeek(zeek_path, stats)
    events = load_sysmon(sysmon_path, stats) if sysmon_path else []
    offsets, samples = estimate_offsets(flows, events)
    joined = join(flows, events, offsets)
    if now_arg is not None:
        now = parse_rfc3339(now_arg)
        later = [f["uid"] for f in flows if f["ts"] > now]
        if later:
            warn("flows after --now: %s" % ", ".join(later))
    else:
        now = compute_now(flows, events, offsets)
    alerts = reference_query(joined, now) if now is not None else []
    ctx = {"stats": stats, "flows": flows, "events": events, "offsets": offsets,
           "samples": samples, "joined": joined, "now": now}
    return alerts, ctx


def scenario_inputs(d):
    zeek = os.path.join(d, "zeek.ndjson")
    sysmon = os.path.join(d, "sysmon.ndjson")
    if not os.path.exists(sysmon):
        sysmon = None
    if os.path.exists(os.path.join(d, "rules.yaml")):
        raise SystemExit("refquery: %s has its own rules.yaml; only the reference "
                         "rule is implemented here - write expected.ndjson by hand" % d)
    args = []
    ap = os.path.join(d, "args")
    if os.path.exists(ap):
        with open(ap) as f:
            args = shlex.split(f.read())
    now, i = None, 0
    while i < len(args):
        a = args[i]
        if a == "--now" and i + 1 < len(args):
            now, i = args[i + 1], i + 2
        elif a.startswith("--now="):
            now, i = a.split("=", 1)[1], i + 1
        elif a == "--emit" and i + 1 < len(args) and args[i + 1] == "final":
            i += 2
        else:
            raise SystemExit("refquery: unsupported arg in %s: %s" % (ap, a))
    return zeek, sysmon, now


def dump_alerts(alerts, out=sys.stdout):
    for a in alerts:
        out.write(json.dumps({k: a[k] for k in OUTPUT_KEYS}) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", nargs="?", help="scenario directory")
    ap.add_argument("--zeek")
    ap.add_argument("--sysmon")
    ap.add_argument("--now")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="explain rejects, offsets and the join on stderr")
    a = ap.parse_args(argv)
    if a.scenario:
        zeek, sysmon, now = scenario_inputs(a.scenario)
        if a.now:
            now = a.now
    elif a.zeek:
        zeek, sysmon, now = a.zeek, a.sysmon, a.now
    else:
        ap.error("give a scenario directory or --zeek")
    alerts, ctx = run(zeek, sysmon, now)
    if a.verbose:
        explain(ctx)
    dump_alerts(alerts)
    return 0


def explain(ctx):
    e = sys.stderr
    st = ctx["stats"]
    for k in ("zeek_rejected", "sysmon_rejected", "sysmon_skipped"):
        for reason, lines in sorted(st[k].items()):
            print("%s %s: lines %s" % (k, reason, lines), file=e)
    if st["zeek_duplicate"]:
        print("zeek_duplicate (uid seen): lines %s" % st["zeek_duplicate"], file=e)
    for h, o in sorted(ctx["offsets"].items()):
        print("offset %s = %.3f s over %d samples" % (h, o / USEC, len(ctx["samples"][h])),
              file=e)
    print("now = %s" % (fmt_time(ctx["now"]) if ctx["now"] is not None else None), file=e)
    for f, ev in ctx["joined"]:
        who = "%s %s" % (ev["host"], basename(ev["image"])) if ev else "-"
        print("  %s %s %s:%d -> %s:%d %s => %s" % (
            fmt_time(f["ts"]), f["uid"], f["orig_h"], f["orig_p"], f["resp_h"],
            f["resp_p"], f["conn_state"], who), file=e)


if __name__ == "__main__":
    sys.exit(main())
