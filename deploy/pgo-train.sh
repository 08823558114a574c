#!/bin/sh
# pgo-train.sh GEN_DIR PROF_DIR — the training run of the profile-guided
# build (Makefile, "Profile-guided build"; docs/performance.md, "Fifth
# round").
#
# GEN_DIR/c2watch is built with -fprofile-generate; it writes its profiles
# into PROF_DIR (one .gcda per source file), where the optimised build's
# compiler (-fprofile-use) reads them. This script empties PROF_DIR, then
# replays a workload with that binary.
#
# The workload, all of it made here or taken from fixtures/ (nothing is
# downloaded):
#   - the bulk: a realistic mix from tests/bench/gen.c, smaller than the
#     benchmark's and with another seed and host count (40 000 connections,
#     400 hosts, ~5 % to mail ports; flat Sysmon with every event ID);
#   - the other input shapes, repeated so that their code is not taken for
#     cold: the real OTRF Sysmon (flat, and Winlogbeat's nested shape), the
#     OTRF Zeek conn, the suricata-verify EVE snippets, every scenario and
#     every bad-input fixture.
# Code the workload never runs (the Kafka service loop) is compiled as
# without a profile (-fprofile-partial-training), not as cold code.
set -eu
gen_dir=$1
prof_dir=$2
cc=${CC:-cc}
bin=$gen_dir/c2watch
data=$gen_dir/data

rm -rf "$prof_dir"
mkdir -p "$prof_dir" "$data"
$cc -O2 -o "$gen_dir/gen" tests/bench/gen.c
for kind in zeek sysmon; do
    "$gen_dir/gen" --only $kind --conns 40000 --hosts 400 --mail-pct 5 --seed 7 --span 5760 >"$data/$kind.ndjson"
done

# Each replay must succeed: a failing one means the binary is broken, and
# its profile would be worth nothing.
train() {
    "$bin" replay --rules rules "$@" >/dev/null 2>"$data/train.log" || {
        echo "pgo-train: replay failed ($*):" >&2
        tail -n 5 "$data/train.log" >&2
        exit 1
    }
}

train --zeek "$data/zeek.ndjson" --sysmon "$data/sysmon.ndjson"
train --zeek "$data/zeek.ndjson" --sysmon "$data/sysmon.ndjson" --emit threshold

otrf=fixtures/otrf-lsass-procdump-join
shapes_z="" shapes_s="" shapes_e=""
i=0
while [ $i -lt 20 ]; do
    shapes_z="$shapes_z $otrf/zeek_conn.ndjson"
    shapes_s="$shapes_s $otrf/sysmon.ndjson fixtures/otrf-proxylogon-exchange-sysmon/sysmon_eid3.ndjson"
    shapes_s="$shapes_s fixtures/otrf-winlogbeat6-sysmon/winlogbeat654_sysmon.ndjson"
    shapes_e="$shapes_e fixtures/suricata-verify-smtp-pop3-expectations/checks.ndjson"
    i=$((i + 1))
done
# shellcheck disable=SC2086 # the lists are of paths without blanks
train --zeek $shapes_z --sysmon $shapes_s --eve $shapes_e
for d in fixtures/scenarios/*/; do
    train --zeek "$d/zeek.ndjson" --sysmon "$d/sysmon.ndjson"
done
train --zeek fixtures/bad/zeek-*.ndjson --sysmon fixtures/bad/sysmon-*.ndjson --eve fixtures/bad/eve-*.ndjson
rm -rf "$data"
