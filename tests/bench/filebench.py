#!/usr/bin/env python3
"""filebench.py - the file-side baselines of `make bench`, for run.py.

Three baselines over the same two NDJSON files that `c2watch replay` reads,
each a separate process pinned to one core (taskset -c 0):

  * DuckDB, one thread, running the reference hunting query
    (tests/bench/duckdb_query.mjs, npm package @duckdb/node-api installed in
    a scratch folder outside the project);
  * the I/O floor: read() the files and count newlines (floors io);
  * the naive parse floor: every line fully parsed by yajl 2.1, one handle
    per record (floors yajl).

Functions for run.py:

    build_floors(build_dir)                 -> path of the floors binary
    duckdb_install(scratch_dir)             -> scratch_dir (raises DuckDBUnavailable)
    run_duckdb(scratch, zeek, sysmon)       -> {"seconds", "cpu_seconds", "rows", "bytes"}
    run_floor(floors_bin, mode, files)      -> {"seconds", "cpu_seconds", "bytes", "records", ...}

Every figure's "seconds" is measured inside the process (the query or the
pass alone, not process start-up). Standalone, it measures all three:

    python3 tests/bench/filebench.py --zeek Z --sysmon S [--scratch DIR] [--runs 3]
"""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DUCKDB_SCRIPT = os.path.join(HERE, "duckdb_query.mjs")
FLOORS_SRC = os.path.join(HERE, "floors.c")
DUCKDB_PACKAGE = "@duckdb/node-api"
PIN = ["taskset", "-c", "0"]  # every measured process runs on core 0


class DuckDBUnavailable(RuntimeError):
    """node/npm missing, or the package could not be installed or loaded."""


def _last_json_line(text, what):
    """The last line of `text` that parses as a JSON object."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("%s printed no JSON result:\n%s" % (what, text[-2000:]))


def _run_pinned(argv, what):
    """Run argv on core 0; return its stdout's JSON line as a dict."""
    if shutil.which("taskset") is None:
        raise RuntimeError("taskset not found (Debian package util-linux)")
    p = subprocess.run(PIN + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s failed (exit %d):\n%s" % (what, p.returncode, p.stderr[-2000:]))
    return _last_json_line(p.stdout, what)


# --------------------------------------------------------------------------
# floors


def build_floors(build_dir):
    """Compile tests/bench/floors.c into BUILD/bench/floors (if out of date)."""
    out = os.path.join(build_dir, "bench", "floors")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(FLOORS_SRC):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    try:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "yajl"], check=True,
                               stdout=subprocess.PIPE, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        raise RuntimeError("pkg-config cannot find yajl: install libyajl-dev and pkg-config")
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-std=c11", "-o", out, FLOORS_SRC] + flags, check=True)
    return out


def run_floor(floors_bin, mode, files):
    """One pass of `floors MODE FILE...` on core 0 (mode: "io" or "yajl")."""
    if mode not in ("io", "yajl"):
        raise ValueError("mode must be io or yajl, not %r" % (mode,))
    return _run_pinned([floors_bin, mode] + list(files), "floors " + mode)


# --------------------------------------------------------------------------
# DuckDB


def _duckdb_entry(scratch_dir):
    return os.path.join(scratch_dir, "node_modules", "@duckdb", "node-api", "lib", "index.js")


def _duckdb_loads(scratch_dir):
    """True when node can import the package from the scratch folder."""
    entry = _duckdb_entry(scratch_dir)
    if not os.path.exists(entry):
        return False
    probe = ("const m = await import(process.argv[1]);"
             "const i = await m.DuckDBInstance.create(':memory:', {threads: '1'});"
             "const c = await i.connect();"
             "await c.run('select 1');")
    p = subprocess.run(["node", "--input-type=module", "-e", probe, pathlib.Path(entry).as_uri()],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode == 0


def duckdb_install(scratch_dir):
    """Install @duckdb/node-api with npm into scratch_dir (outside the
    project: nothing of npm is committed) unless it is there already.
    Returns scratch_dir, to pass to run_duckdb; raises DuckDBUnavailable
    with the reason when node or npm is missing or the install fails."""
    scratch_dir = os.path.abspath(scratch_dir)
    if os.path.commonpath([scratch_dir, ROOT]) == ROOT:
        raise DuckDBUnavailable("scratch folder %s is inside the project %s; use one outside it "
                                "(e.g. /tmp/c2watch-duckdb)" % (scratch_dir, ROOT))
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise DuckDBUnavailable("%s not found: the DuckDB baseline needs Node.js and npm" % tool)
    if _duckdb_loads(scratch_dir):
        return scratch_dir
    os.makedirs(scratch_dir, exist_ok=True)
    p = subprocess.run(["npm", "install", "--prefix", scratch_dir, "--no-audit", "--no-fund",
                        "--no-save", DUCKDB_PACKAGE],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise DuckDBUnavailable("npm install %s into %s failed (is the npm registry reachable?):\n%s"
                                % (DUCKDB_PACKAGE, scratch_dir, p.stdout[-2000:]))
    if not _duckdb_loads(scratch_dir):
        raise DuckDBUnavailable("%s installed into %s but node cannot load it" % (DUCKDB_PACKAGE, scratch_dir))
    return scratch_dir


def run_duckdb(scratch, zeek, sysmon, offsets=False):
    """The reference query in DuckDB, one thread, on core 0. offsets=True
    adds refquery.py's per-host clock-offset estimation (see the script)."""
    argv = ["node", DUCKDB_SCRIPT, "--zeek", zeek, "--sysmon", sysmon, "--modules", scratch]
    if offsets:
        argv.append("--offsets")
    return _run_pinned(argv, "duckdb_query.mjs")


# --------------------------------------------------------------------------
# standalone: median of N runs of each


def _median_run(fn, runs):
    """Call fn() `runs` times; the result of the run with the median seconds,
    plus every run's seconds."""
    results = [fn() for _ in range(runs)]
    med = statistics.median(r["seconds"] for r in results)
    best = min(results, key=lambda r: abs(r["seconds"] - med))
    out = dict(best)
    out["seconds"] = med
    out["all_seconds"] = [r["seconds"] for r in results]
    return out


def main():
    ap = argparse.ArgumentParser(description="file-side baselines: DuckDB, io floor, yajl floor")
    ap.add_argument("--zeek", required=True)
    ap.add_argument("--sysmon", required=True)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--scratch", default=os.environ.get("DUCKDB_SCRATCH", "/tmp/c2watch-duckdb"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--offsets", action="store_true", help="DuckDB with clock-offset estimation")
    a = ap.parse_args()

    files = [a.zeek, a.sysmon]
    floors = build_floors(a.build)
    rows = []
    for mode in ("io", "yajl"):
        rows.append(("floor " + mode, _median_run(lambda: run_floor(floors, mode, files), a.runs)))
    try:
        scratch = duckdb_install(a.scratch)
        rows.append(("duckdb" + (" --offsets" if a.offsets else ""),
                     _median_run(lambda: run_duckdb(scratch, a.zeek, a.sysmon, a.offsets), a.runs)))
    except DuckDBUnavailable as e:
        print("duckdb: skipped: %s" % e)
    for name, r in rows:
        mbs = r["bytes"] / 1e6 / r["seconds"] if r["seconds"] > 0 else float("inf")
        print("%-18s %7.3f s median of %s  %8.1f MB/s  %s" % (
            name, r["seconds"], r["all_seconds"], mbs,
            json.dumps({k: v for k, v in r.items() if k not in ("seconds", "all_seconds")})))


if __name__ == "__main__":
    main()
