#!/usr/bin/env python3
"""make bench: figures, each next to a baseline measured in the same run.

Bounded-state stress (issue "Hardening" 4): STRESS_CONNS distinct flows (each
its own group, all to mail ports, all attributed) streamed through `c2watch
replay` from two pipes, with the bounds of tests/bench/bounded.yaml. Prints
the time, the records per second, the peak resident memory (wait4 rusage of
the c2watch process alone) against the budget, and the evictions c2watch
counted; the baseline is the generator alone writing the same bytes.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_gen(build):
    gen = os.path.join(build, "bench", "gen")
    os.makedirs(os.path.dirname(gen), exist_ok=True)
    src = os.path.join(ROOT, "tests", "bench", "gen.c")
    if not os.path.exists(gen) or os.path.getmtime(gen) < os.path.getmtime(src):
        subprocess.check_call(["cc", "-O2", "-Wall", "-Wextra", "-o", gen, src])
    return gen


def gen_args(gen, kind, conns, distinct):
    a = [gen, "--only", kind, "--conns", str(conns), "--hosts", "20000", "--seed", "7"]
    if distinct:
        a += ["--distinct", "--mail-pct", "100", "--span", "172800"]
    return a


def baseline(gen, conns, distinct):
    """The generators alone, into /dev/null: the floor under any consumer."""
    t0 = time.monotonic()
    procs = [subprocess.Popen(gen_args(gen, k, conns, distinct), stdout=subprocess.DEVNULL) for k in ("zeek", "sysmon")]
    for p in procs:
        p.wait()
    return time.monotonic() - t0


def stress(bin_, gen, conns, budget_mb):
    with tempfile.TemporaryDirectory() as tmp:
        fz, fs = os.path.join(tmp, "zeek"), os.path.join(tmp, "sysmon")
        os.mkfifo(fz)
        os.mkfifo(fs)
        t0 = time.monotonic()
        c2w = subprocess.Popen([bin_, "replay", "--zeek", fz, "--sysmon", fs, "--config",
                                os.path.join(ROOT, "tests", "bench", "bounded.yaml"), "--rules",
                                os.path.join(ROOT, "rules", "mail-protocols.yaml"), "--stats-json"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        gens = [subprocess.Popen(gen_args(gen, k, conns, True), stdout=open(p, "wb"))
                for k, p in (("zeek", fz), ("sysmon", fs))]
        err = c2w.stderr.read().decode("utf-8", "replace")
        _, status, ru = os.wait4(c2w.pid, 0)
        for g in gens:
            g.wait()
        elapsed = time.monotonic() - t0
    stats = None
    for line in err.splitlines():
        if line.startswith("{"):
            stats = json.loads(line)
    bounds = [l for l in err.splitlines() if "bound " in l]
    return elapsed, ru.ru_maxrss / 1024.0, os.waitstatus_to_exitcode(status), stats, bounds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "c2watch"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--stress-conns", type=int, default=int(os.environ.get("STRESS_CONNS", "10000000")))
    ap.add_argument("--budget-mb", type=float, default=float(os.environ.get("RSS_BUDGET_MB", "256")))
    a = ap.parse_args()
    gen = build_gen(a.build)
    n = a.stress_conns
    print(f"== bounded-state stress: {n:,} distinct flows (bounds: tests/bench/bounded.yaml)")
    floor = baseline(gen, n, True)
    elapsed, rss, rc, stats, bounds = stress(a.bin, gen, n, a.budget_mb)
    if rc != 0 or not stats:
        print(f"c2watch failed (exit {rc})")
        return 1
    src = stats["sources"]
    records = src["zeek"]["read"] + src["sysmon"]["read"]
    j, e = stats["join"], stats.get("engine", {})
    print(f"  baseline  generators alone          {floor:8.1f} s")
    print(f"  c2watch   replay from two pipes     {elapsed:8.1f} s  ({records / elapsed:,.0f} records/s,"
          f" {elapsed / floor:.2f}x the baseline)")
    print(f"  peak RSS  {rss:8.1f} MiB   budget {a.budget_mb:.0f} MiB   -> {'within' if rss <= a.budget_mb else 'OVER'}")
    print(f"  evictions join flows {j['evicted_flows']:,} events {j['evicted_events']:,} uids {j['evicted_uids']:,}"
          f" procs {j['evicted_procs']:,}; engine groups {e.get('evicted_groups', 0):,}"
          f" contributions {e.get('evicted_contributions', 0):,}; groups live at the end {e.get('groups', 0):,}")
    for b in bounds:
        print("  " + b)
    return 0 if rss <= a.budget_mb else 1


if __name__ == "__main__":
    sys.exit(main())
