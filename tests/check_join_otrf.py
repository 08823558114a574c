#!/usr/bin/env python3
"""check_join_otrf.py - measure c2watch's attribution (SPEC §3) on real data:
the OTRF LSASS_campaign_02 pair, Sysmon and Zeek of the same host, whose
clocks are about 176.5 s apart.

    python3 tests/check_join_otrf.py --bin build/c2watch [--root DIR]

Runs `BIN join --zeek zeek_conn.ndjson --sysmon sysmon.ndjson` (one JSON object
per Zeek flow: ZeekUid, InitiatingProcessGuid or null, ClockOffset, DeviceName,
RemoteIP, ...) and compares it with a ground truth computed here, independently
of the C code (tests/tools/refquery.py, written from SPEC.md):

  * candidates of a flow = Sysmon event 3 with Initiated=true and the same
    (proto, canonical source IP, source port, canonical destination IP,
    destination port);
  * host offset = median of (Zeek ts - Sysmon UtcTime) over the candidates of
    flows whose source port is >= 49152 (about -176.54 s here);
  * the right ProcessGuid = the candidate nearest in corrected time, if it is
    within join.max_skew (120 s); flows that have one form the denominator.

Checks: every flow is reported exactly once; >= 95 % of the denominator is
attributed to the right guid; flows attributed to a wrong guid (or attributed
at all when the ground truth says unattributed) stay within 5 % of the
denominator; attributed records carry ClockOffset within 2 s of the median,
the Sysmon host as DeviceName and the canonical responder address as RemoteIP.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "tools"))
import refquery as R  # noqa: E402

DATASET = os.path.join("fixtures", "otrf-lsass-procdump-join")
MIN_CORRECT = 0.95
MAX_WRONG = 0.05
OFFSET_TOLERANCE_S = 2.0


def ground_truth(zeek, sysmon):
    stats = R.new_stats()
    flows = R.load_zeek(zeek, stats)
    events = R.load_sysmon(sysmon, stats)
    offsets, samples = R.estimate_offsets(flows, events)
    joined = R.join(flows, events, offsets)
    truth = {f["uid"]: (e["guid"] if e else None) for f, e in joined}
    hosts = {f["uid"]: (e["host"] if e else None) for f, e in joined}
    resp = {f["uid"]: f["resp_h"] for f in flows}
    return flows, truth, hosts, resp, offsets, samples


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check c2watch's join on the OTRF pair.")
    ap.add_argument("--bin", required=True, help="path to the c2watch binary")
    ap.add_argument("--root", default=os.path.dirname(HERE))
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("C2W_TIMEOUT", "120")))
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    a = ap.parse_args(argv)
    root = os.path.abspath(a.root)
    binary = os.path.abspath(a.bin)
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        print("error: c2watch binary not found or not executable: %s\n"
              "       build it first (make), or pass --bin PATH" % binary, file=sys.stderr)
        return 2
    zeek = os.path.join(root, DATASET, "zeek_conn.ndjson")
    sysmon = os.path.join(root, DATASET, "sysmon.ndjson")
    for p in (zeek, sysmon):
        if not os.path.isfile(p):
            print("error: dataset file missing: %s" % p, file=sys.stderr)
            return 2

    flows, truth, hosts, resp, offsets, samples = ground_truth(zeek, sysmon)
    denominator = [u for u, g in truth.items() if g is not None]
    med = {h: o / R.USEC for h, o in offsets.items()}

    results = []   # (ok, name, detail)
    cmd = [binary, "join", "--zeek", zeek, "--sysmon", sysmon]
    try:
        p = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=a.timeout)
    except subprocess.TimeoutExpired:
        print("FAIL run: timed out: %s" % " ".join(shlex.quote(x) for x in cmd))
        print("0 passed, 1 failed")
        return 1
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()[-10:]
        print("FAIL run: exit status %d\n    cmd: %s\n%s" % (
            p.returncode, " ".join(shlex.quote(x) for x in cmd),
            "\n".join("    stderr: " + x for x in err)))
        print("0 passed, 1 failed")
        return 1
    results.append((True, "run", "exit 0"))

    out, bad_lines = {}, []
    dup = []
    for n, ln in enumerate(p.stdout.decode("utf-8", "replace").splitlines(), 1):
        if not ln.strip():
            continue
        try:
            o = json.loads(ln)
        except ValueError:
            bad_lines.append(n)
            continue
        if not isinstance(o, dict) or not isinstance(o.get("ZeekUid"), str):
            bad_lines.append(n)
            continue
        if o["ZeekUid"] in out:
            dup.append(o["ZeekUid"])
        out[o["ZeekUid"]] = o

    missing = [u for u in truth if u not in out]
    unknown = [u for u in out if u not in truth]
    results.append((not bad_lines and not dup and not missing and not unknown,
                    "one record per flow",
                    "%d records for %d flows; not JSON objects with ZeekUid: %s; "
                    "duplicated: %s; missing: %s; unknown uids: %s" % (
                        len(out), len(truth), bad_lines[:5], dup[:5], missing[:5], unknown[:5])))

    correct, wrong, missed, spurious = [], [], [], []
    for u, right in truth.items():
        got = out.get(u, {}).get("InitiatingProcessGuid")
        if got in ("", "-"):
            got = None
        if right is None:
            if got is not None:
                spurious.append((u, got))
        elif got == right:
            correct.append(u)
        elif got is None:
            missed.append(u)
        else:
            wrong.append((u, got, right))
    d = len(denominator)
    n_wrong = len(wrong) + len(spurious)
    pct = 100.0 * len(correct) / d if d else 0.0
    print("otrf join: %d/%d = %.1f%% correct, %d wrong (%d to another guid, %d attributed "
          "where none is within max_skew), %d unattributed; %d flows in all; "
          "median offset %s over %s samples" % (
              len(correct), d, pct, n_wrong, len(wrong), len(spurious), len(missed),
              len(truth), ", ".join("%s %.3f s" % (h, o) for h, o in sorted(med.items())),
              "/".join(str(len(s)) for _, s in sorted(samples.items()))))
    if a.verbose:
        for u in missed:
            print("  unattributed: %s (right %s)" % (u, truth[u]))
        for u, got, right in wrong:
            print("  wrong: %s got %s, right %s" % (u, got, right))
        for u, got in spurious:
            print("  spurious: %s got %s, ground truth: no candidate within 120 s" % (u, got))
    results.append((d > 0 and len(correct) >= MIN_CORRECT * d, "attributed correctly >= 95%",
                    "%d/%d" % (len(correct), d)))
    results.append((n_wrong <= MAX_WRONG * d, "wrong attributions <= 5%",
                    "%d wrong of %d" % (n_wrong, d)))

    off_bad, dev_bad, ip_bad = [], [], []
    for u, o in out.items():
        if u not in truth:
            continue
        if o.get("InitiatingProcessGuid") not in (None, "", "-"):
            co = o.get("ClockOffset")
            h = hosts.get(u)
            ref = med.get(h) if h else (next(iter(med.values())) if len(med) == 1 else None)
            if (not isinstance(co, (int, float)) or isinstance(co, bool) or ref is None
                    or abs(co - ref) > OFFSET_TOLERANCE_S):
                off_bad.append((u, co))
            if h is not None and o.get("DeviceName") != h:
                dev_bad.append((u, o.get("DeviceName")))
        if o.get("RemoteIP") != resp[u]:
            ip_bad.append((u, o.get("RemoteIP"), resp[u]))
    results.append((not off_bad, "ClockOffset of attributed records within 2 s of the median",
                    "bad: %s" % off_bad[:5]))
    results.append((not dev_bad, "DeviceName is the Sysmon host", "bad: %s" % dev_bad[:5]))
    results.append((not ip_bad, "RemoteIP canonical", "bad: %s" % ip_bad[:5]))

    passed = sum(1 for ok, _, _ in results if ok)
    failed = len(results) - passed
    for ok, name, detail in results:
        print("%s %s%s" % ("ok" if ok else "FAIL", name, "" if ok else ": " + detail))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
