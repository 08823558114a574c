#!/usr/bin/env python3
"""The Kafka side of `make bench`: c2watch run against a bare librdkafka consumer.

Pieces (imported by tests/bench/run.py, or run this file on its own):

  build(build_dir)                   -> (mockhold_bin, bare_bin)
  start_mock(mockhold_bin, zeek_file, sysmon_file, zeek_topic, sysmon_topic,
             extra_topics=...)      -> (process, info)
  stop_mock(process)
  write_config(dir, zeek_topic, sysmon_topic, alerts_topic, deadletter_topic) -> path
  run_bare(bare_bin, bootstrap, topics)                      -> Run(wall, rss_mib, stats, cpu)
  run_c2watch(c2watch_bin, bootstrap, config_path, rules)    -> Run(wall, rss_mib, stats, cpu)
  run_replay(c2watch_bin, zeek_file, sysmon_file, rules)     -> Run(...): the same work from files
  run_shared(c2watch_bin, bare_bin, bootstrap, topics, zeek, sysmon, rules)
                                                             -> (wall, cpu): bare and replay on one core
  count_topic(bare_bin, bootstrap, topic)                    -> messages in the topic
  check_c2watch(stats, info, alerts_in_topic, expected)      -> list of problems ([] = fine)

The mock cluster lives in its own process (tests/bench/mockhold.c) pinned to
core 1; every measured process is pinned to core 0 (`taskset -c 0`), so the
broker's work is not charged to the consumer. Wall time is the whole
process lifetime (start to exit, librdkafka's connection and shutdown
included) and peak RSS comes from os.wait4 on that process alone.

Each c2watch run uses a consumer group of its own: its offsets are committed
as it goes, and a second run in the same group would start from them (and
replay state) instead of from the beginning.
"""
import collections
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "bench")

# wall s, peak RSS MiB, the program's JSON statistics, CPU s (user + system;
# wall - cpu is time spent waiting).
Run = collections.namedtuple("Run", "wall rss_mib stats cpu")

MEASURED_CPU = "0"  # the consumer measured
MOCK_CPU = "1"  # the mock cluster


def _pkg(flag):
    return subprocess.check_output(["pkg-config", flag, "rdkafka"], text=True).split()


def build(build_dir):
    """Compiles mockhold and bare into BUILD/bench/ (when their source is newer)."""
    out = os.path.join(build_dir, "bench")
    os.makedirs(out, exist_ok=True)
    bins = []
    for name in ("mockhold", "bare"):
        src = os.path.join(HERE, name + ".c")
        dst = os.path.join(out, name)
        if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
            subprocess.check_call(["cc", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-O2", "-Wall", "-Wextra",
                                   "-o", dst, src] + _pkg("--cflags") + _pkg("--libs"))
        bins.append(dst)
    return tuple(bins)


def start_mock(mockhold_bin, zeek_file, sysmon_file, zeek_topic="zeek.conn", sysmon_topic="sysmon",
               extra_topics=("c2watch.alerts", "c2watch.deadletter"), partition_mib=3.0, batch_bytes=None,
               compression=None, timeout=900):
    """Starts the loaded mock cluster; returns (process, info) once it is ready.

    info is mockhold's JSON line (bootstrap, zeek_partitions,
    sysmon_partitions, zeek_records, sysmon_records, records, bytes,
    load_seconds, ...) plus wall_load_seconds, as seen from here. The
    cluster stays up until stop_mock(process) closes its stdin.
    """
    cmd = ["taskset", "-c", MOCK_CPU, mockhold_bin, "--zeek-topic", zeek_topic, "--zeek", zeek_file,
           "--sysmon-topic", sysmon_topic, "--sysmon", sysmon_file, "--partition-mib", str(partition_mib)]
    for t in extra_topics:
        cmd += ["--topic", t]
    if batch_bytes:
        cmd += ["--batch-bytes", str(batch_bytes)]  # default: mockhold.c, "Batches"
    if compression:
        cmd += ["--compression", compression]  # mockhold.c, "Compression"
    err = tempfile.TemporaryFile()
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    p._c2w_err = err  # kept open for the error message
    # mockhold prints its line only when loaded and checked; on failure it
    # exits, which closes stdout.
    line = b""
    if select.select([p.stdout], [], [], timeout)[0]:
        line = p.stdout.readline()
    if not line.startswith(b"{"):
        p.kill()
        p.wait()
        err.seek(0)
        raise RuntimeError("mockhold failed: " + err.read().decode("utf-8", "replace").strip())
    info = json.loads(line)
    info["wall_load_seconds"] = time.monotonic() - t0
    return p, info


def stop_mock(p, timeout=60):
    """Closes the holder's stdin (its signal to stop) and waits for it."""
    try:
        p.stdin.close()
    except OSError:
        pass
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.terminate()
        p.wait(10)


def write_config(directory, zeek_topic="zeek.conn", sysmon_topic="sysmon", alerts_topic="c2watch.alerts",
                 deadletter_topic="c2watch.deadletter"):
    """A c2watch config for the mock: its topics, no Suricata, no flows
    topic, statistics at exit only. The brokers, the group and the rules
    are given on the command line (run_c2watch)."""
    path = os.path.join(directory, "c2watch-bench.yaml")
    with open(path, "w") as f:
        f.write("# written by tests/bench/kafkabench.py\n"
                "topics:\n"
                f"  zeek: {json.dumps(zeek_topic)}\n"
                f"  sysmon: {json.dumps(sysmon_topic)}\n"
                "  eve: \"\"\n"
                f"  alerts: {json.dumps(alerts_topic)}\n"
                f"  deadletter: {json.dumps(deadletter_topic)}\n"
                "  flows: \"\"\n"
                "stats:\n"
                "  interval: 0\n")
    return path


def _measure(cmd):
    """Runs cmd pinned to the measured core; returns (wall s, peak RSS MiB,
    CPU s, exit code, stdout, stderr). stdout and stderr go to files, not pipes, so
    that the process never blocks on us while we wait4 for it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        p = subprocess.Popen(["taskset", "-c", MEASURED_CPU] + cmd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return (wall, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime, p.returncode, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace"))


def run_bare(bare_bin, bootstrap, topics):
    """The bare consumer over every partition of topics; Run.stats is its
    JSON (seconds, close_seconds, records, bytes, partitions, errors)."""
    cmd = [bare_bin, "--bootstrap", bootstrap]
    for t in topics:
        cmd += ["--topic", t]
    wall, rss, cpu, rc, out, err = _measure(cmd)
    if rc != 0:
        raise RuntimeError(f"bare consumer failed (exit {rc}): {err.strip()}")
    return Run(wall, rss, json.loads(out.strip().splitlines()[-1]), cpu)


_group_seq = 0


def run_c2watch(c2watch_bin, bootstrap, config_path, rules, group=None):
    """`c2watch run --assign --exit-at-end --stats-json` on the mock; Run.stats
    is its final --stats-json object (the last JSON line on stderr)."""
    global _group_seq
    if group is None:
        _group_seq += 1
        group = f"c2watch-bench-{os.getpid()}-{_group_seq}"
    cmd = [c2watch_bin, "run", "--config", config_path, "--brokers", bootstrap, "--group", group, "--rules", rules,
           "--assign", "--exit-at-end", "--stats-json"]
    wall, rss, cpu, rc, out, err = _measure(cmd)
    stats = None
    for line in err.splitlines():
        if line.startswith("{"):
            stats = json.loads(line)
    if rc != 0 or stats is None:
        tail = "\n".join(l for l in err.splitlines() if not l.startswith("{"))[-2000:]
        raise RuntimeError(f"c2watch run failed (exit {rc}): {tail}")
    return Run(wall, rss, stats, cpu)


def run_replay(c2watch_bin, zeek_file, sysmon_file, rules):
    """`c2watch replay --emit threshold` of the same files (the emission
    `run` uses): the same work without Kafka, and the reference that
    check_c2watch compares the join and the alerts with."""
    wall, rss, cpu, rc, out, err = _measure([c2watch_bin, "replay", "--zeek", zeek_file, "--sysmon", sysmon_file,
                                             "--rules", rules, "--emit", "threshold", "--stats-json"])
    stats = None
    for line in err.splitlines():
        if line.startswith("{"):
            stats = json.loads(line)
    if rc != 0 or stats is None:
        raise RuntimeError(f"c2watch replay failed (exit {rc})")
    return Run(wall, rss, stats, cpu)


def run_shared(c2watch_bin, bare_bin, bootstrap, topics, zeek_file, sysmon_file, rules):
    """The bare consumer and a replay of the same data started together,
    both pinned to the measured core (the mock stays on its own): the work
    `run` does, with c2watch's own Kafka costs left out. Returns (wall s
    until both have exited, CPU s of the two). Its time is what `run` could
    reach if decoding, joining and matching records cost no more than in
    a replay and overlapped the reading perfectly."""
    outs = [tempfile.TemporaryFile() for _ in range(4)]
    try:
        t0 = time.monotonic()
        procs = [subprocess.Popen(["taskset", "-c", MEASURED_CPU] + cmd, stdin=subprocess.DEVNULL, stdout=outs[2 * k],
                                  stderr=outs[2 * k + 1])
                 for k, cmd in enumerate((
                     [bare_bin, "--bootstrap", bootstrap] + [x for t in topics for x in ("--topic", t)],
                     [c2watch_bin, "replay", "--zeek", zeek_file, "--sysmon", sysmon_file, "--rules", rules,
                      "--emit", "threshold"]))]
        cpu = 0.0
        for p in procs:
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            cpu += ru.ru_utime + ru.ru_stime
            if p.returncode != 0:
                raise RuntimeError(f"shared-core run: {p.args[3]} exited {p.returncode}")
        return time.monotonic() - t0, cpu
    finally:
        for f in outs:
            f.close()


def count_topic(bare_bin, bootstrap, topic):
    """Messages held by topic (sum over its partitions of high - low)."""
    out = subprocess.check_output([bare_bin, "--bootstrap", bootstrap, "--count", topic], text=True)
    return json.loads(out)["messages"]


def check_c2watch(stats, info, alerts_in_topic=None, expected=None):
    """What is wrong with a c2watch run's statistics, given mockhold's info:
    every record read, nothing left behind, every alert delivered (and, when
    given, as many new messages in the alerts topic, and the same join
    figures and alert count as `expected`, a replay's statistics)."""
    problems = []
    src, k = stats["sources"], stats["kafka"]
    for s in ("zeek", "sysmon"):
        if src[s]["read"] != info[s + "_records"]:
            problems.append(f"{s}: read {src[s]['read']} of {info[s + '_records']} records")
    if k["lag"] != 0:
        problems.append(f"lag {k['lag']} at exit")
    if k.get("redelivered"):
        problems.append(f"{k['redelivered']} message(s) delivered again by librdkafka (dropped, but fetched twice)")
    if k["delivery_failed"] or k["delivered"] != k["alerts_produced"] + k["deadletters"] + k["flows"]:
        problems.append(f"delivered {k['delivered']} of {k['alerts_produced']} alerts"
                        f" + {k['deadletters']} dead letters + {k['flows']} flows")
    if alerts_in_topic is not None and alerts_in_topic != k["alerts_produced"]:
        problems.append(f"alerts topic grew by {alerts_in_topic}, c2watch produced {k['alerts_produced']}")
    if expected is not None:
        for sec, key in (("join", "joined"), ("join", "unattributed"), ("engine", "matched"), ("engine", "alerts")):
            got, want = stats[sec][key], expected[sec][key]
            if got != want:
                problems.append(f"{sec}.{key} {got:,}, replay gives {want:,}")
    return problems


def compare(c2watch_bin, build_dir, zeek_file, sysmon_file, rules, runs=3, log=print, mock_opts=None):
    """The whole comparison: load the mock, one replay of the files (the
    reference), then runs x (bare, c2watch), interleaved; returns a dict of
    the figures. mock_opts: more start_mock arguments (partition_mib,
    batch_bytes, compression)."""
    mockhold_bin, bare_bin = build(build_dir)
    tmp = tempfile.mkdtemp(prefix="c2w-kbench-")
    mock = None
    try:
        # A copy of the binary: a rebuild during the runs must not mix two.
        snap = os.path.join(tmp, "c2watch")
        shutil.copy2(c2watch_bin, snap)
        c2watch_bin = snap
        log(f"loading the mock cluster ({os.path.getsize(zeek_file) + os.path.getsize(sysmon_file):,} bytes)...")
        mock, info = start_mock(mockhold_bin, zeek_file, sysmon_file, **(mock_opts or {}))
        log(f"  {info['records']:,} records in {info['zeek_partitions']} + {info['sysmon_partitions']} partitions"
            f" ({info['compression']}),"
            f" loaded in {info['wall_load_seconds']:.1f} s (largest partition {info['max_partition_bytes'] / 2**20:.2f} MiB)")
        cfg = write_config(tmp)
        topics = ["zeek.conn", "sysmon"]
        ref = run_replay(c2watch_bin, zeek_file, sysmon_file, rules)
        log(f"  replay  {ref.wall:7.2f} s  CPU {ref.cpu:6.2f} s  RSS {ref.rss_mib:7.1f} MiB  (same work from the files,"
            f" alerts {ref.stats['engine']['alerts']}, joined {ref.stats['join']['joined']:,})")
        bare, c2w, mismatches = [], [], []
        for i in range(runs):
            b = run_bare(bare_bin, info["bootstrap"], topics)
            if b.stats["records"] != info["records"] or b.stats["bytes"] != info["bytes"]:
                raise RuntimeError(f"bare consumer read {b.stats['records']} records, expected {info['records']}")
            bare.append(b)
            log(f"  run {i + 1}: bare    {b.wall:7.2f} s  CPU {b.cpu:6.2f} s  RSS {b.rss_mib:7.1f} MiB"
                f"  (internal {b.stats['seconds']:.2f} s to the last EOF)")
            before = count_topic(bare_bin, info["bootstrap"], "c2watch.alerts")
            c = run_c2watch(c2watch_bin, info["bootstrap"], cfg, rules)
            grown = count_topic(bare_bin, info["bootstrap"], "c2watch.alerts") - before
            problems = check_c2watch(c.stats, info, grown)
            if problems:
                raise RuntimeError("c2watch run: " + "; ".join(problems))
            # Different results from the replay's: the run did other work
            # (records fed out of event-time order); its time is kept but
            # flagged.
            differs = check_c2watch(c.stats, info, None, ref.stats)
            if differs:
                mismatches.append(differs)
                log("  WARNING: c2watch run differs from replay: " + "; ".join(differs))
            c2w.append(c)
            j = c.stats["join"]
            log(f"  run {i + 1}: c2watch {c.wall:7.2f} s  CPU {c.cpu:6.2f} s  RSS {c.rss_mib:7.1f} MiB  alerts {grown}"
                f"  joined {j['joined']:,} unattributed {j['unattributed']:,}")
        shared = []
        for i in range(runs):
            shared.append(run_shared(c2watch_bin, bare_bin, info["bootstrap"], topics, zeek_file, sysmon_file, rules))
            log(f"  shared core {i + 1}: bare and replay together {shared[-1][0]:7.2f} s  CPU {shared[-1][1]:6.2f} s")
        bw = statistics.median(r.wall for r in bare)
        cw = statistics.median(r.wall for r in c2w)
        sw = statistics.median(w for w, _ in shared)
        res = {
            "partitions": info["zeek_partitions"] + info["sysmon_partitions"], "compression": info["compression"],
            "records": info["records"], "bytes": info["bytes"], "load_seconds": info["wall_load_seconds"],
            "bare_seconds": bw, "c2watch_seconds": cw, "ratio": cw / bw,
            "bare_rss_mib": max(r.rss_mib for r in bare), "c2watch_rss_mib": max(r.rss_mib for r in c2w),
            "alerts": [r.stats["kafka"]["alerts_produced"] for r in c2w],
            "replay_seconds": ref.wall, "same_as_replay": not mismatches,
            "shared_seconds": sw, "shared_ratio": sw / bw,
        }
        log(f"  median  bare {bw:.2f} s, c2watch {cw:.2f} s: {res['ratio']:.2f}x (target 1.25x)"
            f"  ({info['records'] / cw:,.0f} records/s; replay {ref.wall:.2f} s)")
        log(f"  shared-core floor: bare and replay together {sw:.2f} s = {res['shared_ratio']:.2f}x the bare consumer;"
            f" c2watch run is {cw / sw:.2f}x that")
        return res
    finally:
        if mock:
            stop_mock(mock)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "c2watch"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--zeek", required=True)
    ap.add_argument("--sysmon", required=True)
    ap.add_argument("--rules", default=os.path.join(ROOT, "rules", "mail-protocols.yaml"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-bytes", type=int, help="mockhold --batch-bytes")
    ap.add_argument("--compression", help="mockhold --compression (lz4, zstd, ...)")
    ap.add_argument("--partition-mib", type=float, help="mockhold --partition-mib")
    a = ap.parse_args()
    opts = {k: v for k, v in (("batch_bytes", a.batch_bytes), ("compression", a.compression),
                              ("partition_mib", a.partition_mib)) if v is not None}
    res = compare(a.bin, a.build, a.zeek, a.sysmon, a.rules, a.runs, mock_opts=opts)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
