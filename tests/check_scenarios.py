#!/usr/bin/env python3
"""check_scenarios.py - run the c2watch binary on every fixture scenario and
compare its alerts with the scenario's expected.ndjson.

    python3 tests/check_scenarios.py --bin build/c2watch [--root DIR] [NAME ...]

For every directory under fixtures/scenarios/ (and fixtures/demo/) holding a
zeek.ndjson:

    BIN replay --zeek zeek.ndjson [--sysmon sysmon.ndjson]
               --rules <rules.yaml or rules/mail-protocols.yaml> <args...>

must exit 0 and print NDJSON alerts on stdout (stderr is free for statistics).
Each alert is cut down to the keys that appear in the expected objects and the
two multisets must be equal; the output order must be non-increasing in
ConnectionCount.  Every alert must carry a non-empty string `alert_id`
(distinct alerts, distinct ids) and an `emitted_at`.  The scenario is run a
second time and the ids must be identical, and a third time with one source
read from stdin (`--zeek -` for even-numbered scenarios, `--sysmon -` for odd
ones) written in small, irregular chunks: same alerts, same ids.

expected.ndjson comes from tests/tools/refquery.py (or is written by hand);
this script never writes it.  Exit status: 0 all passed, 1 a scenario failed,
2 usage error (e.g. the binary is missing).
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ROOT = os.path.dirname(HERE)
DEFAULT_RULES = os.path.join("rules", "mail-protocols.yaml")
MISSING = "<missing>"


class Failure(Exception):
    pass


# --------------------------------------------------------------------------
# process helpers


def chunks(data):
    """Split data into irregular pieces (1, 7, 61, 509, 4093 bytes...)."""
    sizes = [1, 7, 61, 2, 509, 13, 4093, 3]
    i = k = 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        yield data[i:i + n]
        i += n
        k += 1


def run_proc(cmd, cwd, timeout, stdin_data=None):
    """-> (returncode, stdout bytes, stderr bytes).  stdin_data is written in
    irregular chunks with short pauses, so the reader sees partial lines."""
    try:
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.PIPE if stdin_data is not None
                             else subprocess.DEVNULL)
    except OSError as e:
        raise Failure("cannot start %s: %s" % (cmd[0], e))
    out, err = [], []

    def reader(stream, sink):
        for block in iter(lambda: stream.read(65536), b""):
            sink.append(block)

    threads = [threading.Thread(target=reader, args=(p.stdout, out), daemon=True),
               threading.Thread(target=reader, args=(p.stderr, err), daemon=True)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    if stdin_data is not None:
        try:
            for n, piece in enumerate(chunks(stdin_data)):
                p.stdin.write(piece)
                p.stdin.flush()
                if n % 5 == 0:
                    time.sleep(0.001)
                if time.monotonic() > deadline:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            p.stdin.close()
        except (BrokenPipeError, OSError):
            pass
    try:
        p.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        for t in threads:
            t.join(5)
        raise Failure("timed out after %ds: %s" % (timeout, " ".join(cmd)))
    for t in threads:
        t.join(10)
    return p.returncode, b"".join(out), b"".join(err)


# --------------------------------------------------------------------------
# comparison helpers


def norm(v):
    """Canonical value: integral floats become ints (3.0 == 3), bools stay bools."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v


def canon(obj):
    return json.dumps(norm(obj), sort_keys=True, ensure_ascii=False)


def parse_ndjson(data, what):
    objs = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Failure("%s is not UTF-8" % what)
    for n, ln in enumerate(text.splitlines(), 1):
        if not ln.strip():
            continue
        try:
            o = json.loads(ln)
        except ValueError as e:
            raise Failure("%s line %d is not JSON (%s): %.200s" % (what, n, e, ln))
        if not isinstance(o, dict):
            raise Failure("%s line %d is not a JSON object: %.200s" % (what, n, ln))
        objs.append(o)
    return objs


def project(alert, keys):
    return {k: alert.get(k, MISSING) for k in keys}


def tail(b, n=12):
    lines = b.decode("utf-8", "replace").rstrip().splitlines()
    return "\n".join("    stderr: " + x for x in lines[-n:])


# --------------------------------------------------------------------------


class Scenario:
    def __init__(self, root, path):
        self.root, self.path = root, path
        self.name = os.path.relpath(path, os.path.join(root, "fixtures"))
        if self.name.startswith("scenarios" + os.sep):
            self.name = self.name[len("scenarios") + 1:]
        self.zeek = os.path.join(path, "zeek.ndjson")
        s = os.path.join(path, "sysmon.ndjson")
        self.sysmon = s if os.path.exists(s) else None
        r = os.path.join(path, "rules.yaml")
        self.rules = r if os.path.exists(r) else os.path.join(root, DEFAULT_RULES)
        self.args = []
        a = os.path.join(path, "args")
        if os.path.exists(a):
            with open(a) as f:
                self.args = shlex.split(f.read())
        self.expected_path = os.path.join(path, "expected.ndjson")

    def cmd(self, binary, zeek=None, sysmon=None):
        c = [binary, "replay", "--zeek", zeek or self.zeek]
        if self.sysmon:
            c += ["--sysmon", sysmon or self.sysmon]
        return c + ["--rules", self.rules] + self.args


def run_once(sc, binary, timeout, stdin_source=None):
    """-> list of alert objects; raises Failure."""
    stdin_data = None
    zeek = sysmon = None
    if stdin_source == "zeek":
        zeek = "-"
        with open(sc.zeek, "rb") as f:
            stdin_data = f.read()
    elif stdin_source == "sysmon":
        sysmon = "-"
        with open(sc.sysmon, "rb") as f:
            stdin_data = f.read()
    cmd = sc.cmd(binary, zeek, sysmon)
    rc, out, err = run_proc(cmd, sc.root, timeout, stdin_data)
    label = "run" if not stdin_source else "run with --%s -" % stdin_source
    if rc != 0:
        raise Failure("%s: exit status %d (expected 0)\n    cmd: %s\n%s"
                      % (label, rc, " ".join(shlex.quote(x) for x in cmd), tail(err)))
    return parse_ndjson(out, "stdout of " + label)


def compare(expected, got, keys, label):
    """-> list of problems (strings)."""
    probs = []
    exp_c = Counter(canon(e) for e in expected)
    got_c = Counter(canon(project(g, keys)) for g in got)
    if len(got) != len(expected):
        probs.append("%s: %d alerts, expected %d" % (label, len(got), len(expected)))
    missing = exp_c - got_c
    extra = got_c - exp_c
    for k, n in sorted(missing.items()):
        probs.append("%s: missing%s %s" % (label, "" if n == 1 else " %dx" % n, k))
    for k, n in sorted(extra.items()):
        probs.append("%s: unexpected%s %s" % (label, "" if n == 1 else " %dx" % n, k))
    counts = [g.get("ConnectionCount") for g in got]
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in counts):
        for i in range(1, len(counts)):
            if counts[i] > counts[i - 1]:
                probs.append("%s: output not sorted by ConnectionCount desc: %s"
                             % (label, counts))
                break
    else:
        probs.append("%s: ConnectionCount not a number in every alert: %s" % (label, counts))
    for i, g in enumerate(got):
        aid = g.get("alert_id")
        if not isinstance(aid, str) or not aid:
            probs.append("%s: alert %d has no non-empty string alert_id (%r)" % (label, i, aid))
        if "emitted_at" not in g:
            probs.append("%s: alert %d has no emitted_at" % (label, i))
    ids = [g.get("alert_id") for g in got if isinstance(g.get("alert_id"), str)]
    dup = [i for i, n in Counter(ids).items() if n > 1]
    if dup:
        probs.append("%s: distinct alerts share an alert_id: %s" % (label, dup))
    return probs


def id_map(got, keys):
    return sorted((canon(project(g, keys)), str(g.get("alert_id"))) for g in got)


def check(sc, binary, timeout, index):
    if not os.path.exists(sc.expected_path):
        raise Failure("no expected.ndjson (generate it with tests/tools/refquery.py)")
    if not os.path.exists(sc.rules):
        raise Failure("rules file not found: %s" % sc.rules)
    with open(sc.expected_path, "rb") as f:
        expected = parse_ndjson(f.read(), "expected.ndjson")
    keys = []
    for e in expected:
        keys += [k for k in e if k not in keys]
    if not keys:
        keys = ["rule_id", "DeviceName", "InitiatingProcessFileName", "RemoteIP",
                "RemotePort", "ConnectionCount"]
    probs = []
    got1 = run_once(sc, binary, timeout)
    probs += compare(expected, got1, keys, "run 1")
    got2 = run_once(sc, binary, timeout)
    probs += compare(expected, got2, keys, "run 2")
    if not probs and id_map(got1, keys) != id_map(got2, keys):
        probs.append("alert_id differs between two runs on the same input: %s vs %s"
                     % ([g.get("alert_id") for g in got1], [g.get("alert_id") for g in got2]))
    src = "zeek" if (index % 2 == 0 or not sc.sysmon) else "sysmon"
    got3 = run_once(sc, binary, timeout, stdin_source=src)
    p3 = compare(expected, got3, keys, "stdin --%s -" % src)
    probs += p3
    if not p3 and not probs and id_map(got1, keys) != id_map(got3, keys):
        probs.append("alert_id differs when --%s is read from stdin (same input bytes)" % src)
    if probs:
        raise Failure("\n  ".join(probs))


def find_scenarios(root, names):
    base = os.path.join(root, "fixtures", "scenarios")
    dirs = []
    if os.path.isdir(base):
        dirs = [os.path.join(base, d) for d in sorted(os.listdir(base))
                if os.path.isfile(os.path.join(base, d, "zeek.ndjson"))]
    demo = os.path.join(root, "fixtures", "demo")
    if os.path.isfile(os.path.join(demo, "zeek.ndjson")):
        dirs.append(demo)
    scs = [Scenario(root, d) for d in dirs]
    if names:
        unknown = set(names) - {s.name for s in scs}
        if unknown:
            sys.exit("error: unknown scenario(s): %s" % ", ".join(sorted(unknown)))
        scs = [s for s in scs if s.name in names]
    return scs


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run c2watch on the fixture scenarios.")
    ap.add_argument("--bin", required=True, help="path to the c2watch binary")
    ap.add_argument("--root", default=DEFAULT_ROOT, help="project root (default: %(default)s)")
    ap.add_argument("--timeout", type=float,
                    default=float(os.environ.get("C2W_TIMEOUT", "120")),
                    help="seconds per run (default 120, env C2W_TIMEOUT)")
    ap.add_argument("names", nargs="*", help="only these scenarios")
    a = ap.parse_args(argv)
    root = os.path.abspath(a.root)
    binary = os.path.abspath(a.bin)
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        print("error: c2watch binary not found or not executable: %s\n"
              "       build it first (make), or pass --bin PATH" % binary, file=sys.stderr)
        return 2
    scs = find_scenarios(root, a.names)
    if not scs:
        print("error: no scenarios under %s/fixtures" % root, file=sys.stderr)
        return 2
    passed = failed = 0
    for i, sc in enumerate(scs):
        try:
            check(sc, binary, a.timeout, i)
        except Failure as f:
            failed += 1
            print("FAIL %s: %s" % (sc.name, f), flush=True)
        else:
            passed += 1
            print("ok %s" % sc.name, flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
