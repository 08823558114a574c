#!/usr/bin/env python3
"""selftest.py - checks of the test tooling itself (no c2watch binary needed).

    python3 tests/tools/selftest.py

1. refquery.py reproduces every fixtures/scenarios/*/expected.ndjson and
   fixtures/demo/expected.ndjson byte for byte, without any ambiguity warning
   (so an edited input or an edited refquery cannot silently drift);
2. a few primitives of refquery.py (canonical IPs, times, rejects);
3. mutation matrix: refquery.py with one deliberate SPEC violation at a time
   must change the result of the scenario written for that rule - i.e. every
   scenario really discriminates the behaviour its README claims.
"""

import contextlib
import glob
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import refquery as R  # noqa: E402

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL " + what)


def scenario_dirs():
    d = sorted(glob.glob(os.path.join(ROOT, "fixtures", "scenarios", "*")))
    demo = os.path.join(ROOT, "fixtures", "demo")
    return [x for x in d + [demo] if os.path.isfile(os.path.join(x, "zeek.ndjson"))]


def run_dir(d):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        z, s, now = R.scenario_inputs(d)
        alerts, _ = R.run(z, s, now)
    out = io.StringIO()
    R.dump_alerts(alerts, out)
    return out.getvalue(), err.getvalue()


def expected_matches():
    for d in scenario_dirs():
        name = os.path.basename(d)
        got, err = run_dir(d)
        with open(os.path.join(d, "expected.ndjson")) as f:
            exp = f.read()
        check(got == exp, "%s: refquery output differs from expected.ndjson" % name)
        check("warning" not in err, "%s: refquery warnings: %s" % (name, err.strip()))
        readme = os.path.join(d, "README.md")
        check(os.path.isfile(readme), "%s: no README.md" % name)
        for fn in ("zeek.ndjson", "sysmon.ndjson"):
            p = os.path.join(d, fn)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    n = f.read().count(b"\n")
                check(n <= 30, "%s/%s: %d lines (> 30)" % (name, fn, n))


def primitives():
    check(R.canon_ip("fe80:0:0:0:2132:4b2b:8c64:b7fc") == "fe80::2132:4b2b:8c64:b7fc",
          "canon_ip ipv6")
    check(R.canon_ip("2001:DB8:0:0:0:0:0:25") == "2001:db8::25", "canon_ip upper case")
    for bad in ("10.20.6.311", "fe80::1%eth0", "", "-", "1.2.3"):
        try:
            R.canon_ip(bad)
            check(False, "canon_ip accepted %r" % bad)
        except R.Reject:
            pass
    t = R.parse_rfc3339("2026-11-28T12:00:00Z")
    check(R.fmt_time(t) == "2026-11-28T12:00:00.000000Z", "rfc3339 round trip")
    check(R.parse_rfc3339("2026-11-28T14:00:00.5+02:00") == t + 500000, "rfc3339 offset")
    check(R.parse_utctime("2026-11-28 12:00:00.123") == t + 123000, "UtcTime")
    check(R.parse_epoch(R.decimal.Decimal("1795867200.123456")) == t + 123456, "epoch exact")
    for bad in ("1970-01-02 00:00:00.000", "2150-01-01 00:00:00.000", "2026-13-01 00:00:00.000"):
        try:
            R.parse_utctime(bad)
            check(False, "UtcTime accepted %r" % bad)
        except R.Reject:
            pass
    for bad in (b'{"a":NaN}', b'[1]', b'\xff{}', b'{"a":' * 70 + b'1' + b'}' * 70):
        try:
            R.parse_line(bad)
            check(False, "parse_line accepted %r" % bad[:20])
        except R.Reject:
            pass
    check(R.basename("C:\\Users\\Public\\outlook.exe") == "outlook.exe", "basename \\")
    check(R.basename("/usr/bin/python3") == "python3", "basename /")


# --------------------------------------------------------------------------
# mutation matrix


def _all_results():
    res = {}
    for d in scenario_dirs():
        res[os.path.basename(d)] = run_dir(d)[0]
    return res


def _patch(**kv):
    saved = {k: getattr(R, k) for k in kv}
    for k, v in kv.items():
        setattr(R, k, v)
    return saved


def mutants():
    orig_join, orig_off, orig_now = R.join, R.estimate_offsets, R.compute_now
    orig_rq = R.reference_query

    def join_any_initiated(flows, events, offsets):
        ev = [dict(e, initiated=True) if e["eid"] == 3 else e for e in events]
        return orig_join(flows, ev, offsets)

    def no_dedup(path, stats):
        out = []
        for ln, raw in R.read_lines(path):
            try:
                f = R.decode_zeek(R.parse_line(raw))
            except R.Reject:
                continue
            f["line"] = ln
            out.append(f)
        return out

    def lenient_canon(v):
        if not isinstance(v, str):
            raise R.Reject("x")
        return v

    table = [
        ("Initiated=false attributes", dict(join=join_any_initiated), ["inbound-not-attributed"]),
        ("no clock offset", dict(estimate_offsets=lambda f, e: ({}, {})),
         ["clock-skew", "window-now-skewed-host"]),
        ("window uses >=", dict(WINDOW_US=R.WINDOW_US + 1), ["window-24h-boundary"]),
        ("now from raw Sysmon time", dict(compute_now=lambda f, e, o: orig_now(f, e, {})),
         ["window-now-skewed-host"]),
        ("no uid dedup", dict(load_zeek=no_dedup), ["zeek-redelivery"]),
        ("failed states count", dict(ESTABLISHED=R.ESTABLISHED | {"S0", "REJ", "RSTOS0", "SH", "OTH"}),
         ["failed-connections"]),
        ("case-sensitive allowlist", dict(MAIL_CLIENTS_CI=set(R.MAIL_CLIENTS)),
         ["allowlist-case-insensitive"]),
        ("allowlist compared to full Image", dict(MAIL_CLIENTS_CI=set()),
         ["masquerade-public-outlook", "allowlist-double-extension"]),
        ("no max_skew", dict(MAX_SKEW_US=10 ** 15), ["clock-skew"]),
        ("threshold >= 2", dict(reference_query=lambda j, now: _having_ge2(orig_rq, j, now)),
         ["threshold-boundary"]),
        ("no time-range check", dict(TIME_MIN=-10 ** 30, TIME_MAX=10 ** 30), ["bad-lines"]),
        ("no nesting limit", dict(MAX_DEPTH=10 ** 6), ["bad-lines"]),
        ("IP not validated / canonicalised", dict(canon_ip=lenient_canon),
         ["bad-lines", "ipv6-canonical"]),
        ("channel not checked", dict(CHANNEL_KEYS_FLAT=()), ["bad-lines"]),
    ]
    base = _all_results()
    for name, patch, must in table:
        saved = _patch(**patch)
        try:
            res = _all_results()
        finally:
            _patch(**saved)
        changed = sorted(k for k in base if res.get(k) != base[k])
        for m in must:
            check(m in changed, "mutant '%s' not caught by %s (changed: %s)" % (name, m, changed))
        print("mutant %-34s caught by %s" % (name, ", ".join(changed) or "NOTHING"))


def _having_ge2(orig_rq, joined, now):
    # emulate `ConnectionCount >= 2`: duplicate each 2-group's flows once more
    from collections import Counter
    keyc = Counter()
    for f, e in joined:
        if e is not None:
            keyc[(e["host"], R.basename(e["image"]), f["resp_h"], f["resp_p"], e["user"])] += 1
    extra = []
    for f, e in joined:
        if e is not None and keyc[(e["host"], R.basename(e["image"]), f["resp_h"], f["resp_p"],
                                   e["user"])] == 2:
            extra.append((dict(f), e))
            keyc[(e["host"], R.basename(e["image"]), f["resp_h"], f["resp_p"], e["user"])] = 0
    return orig_rq(list(joined) + extra, now)


def main():
    expected_matches()
    primitives()
    mutants()
    print("selftest: %s" % ("%d failure(s)" % len(FAILS) if FAILS else "ok"))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
