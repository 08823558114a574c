#!/bin/sh
# A third-party client against `c2watch run --embedded`: kcat produces the
# demo data to the embedded cluster and reads the alerts back; SIGTERM then
# stops c2watch, which must exit 0.
set -u
bin=${1:-build/c2watch}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v kcat >/dev/null || { echo "kcat is missing (make deps installs it)"; echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
pass=0 fail=0
check() { if [ "$1" = 0 ]; then echo "ok $2"; pass=$((pass + 1)); else echo "FAIL $2"; fail=$((fail + 1)); fi; }

# a short idle timeout: the last flows are decided 2 s after the data stops
printf 'run:\n  idle_timeout: 2s\nstats:\n  interval: 0\n' >"$work/c2watch.yaml"
"$bin" run --embedded --config "$work/c2watch.yaml" --rules "$root/rules/mail-protocols.yaml" >"$work/out" 2>"$work/err" &
pid=$!
boot=""
for _ in $(seq 1 100); do
    boot=$(sed -n 's/^embedded Kafka cluster: //p' "$work/out")
    [ -n "$boot" ] && break
    sleep 0.1
done
[ -n "$boot" ]; check $? "run --embedded prints its bootstrap address ($boot)"
kcat -P -b "$boot" -t zeek.conn -l "$root/fixtures/demo/zeek.ndjson" 2>"$work/kcat.err"; check $? "kcat produces Zeek records"
kcat -P -b "$boot" -t sysmon -l "$root/fixtures/demo/sysmon.ndjson" 2>>"$work/kcat.err"; check $? "kcat produces Sysmon records"
want=$(wc -l < "$root/fixtures/demo/expected.ndjson")
got=0
for _ in $(seq 1 60); do
    got=$(kcat -C -b "$boot" -t c2watch.alerts -e -q 2>/dev/null | grep -c '"alert_id"')
    [ "$got" -ge "$want" ] && break
    sleep 1
done
[ "$got" -eq "$want" ]; check $? "kcat reads $got alerts (expected $want) from c2watch.alerts"
kcat -C -b "$boot" -t c2watch.alerts -e -q -f '%k\n' 2>/dev/null | grep -q 'rundll32.exe'; check $? "alerts are keyed by their group key"
kill -TERM $pid
wait $pid; rc=$?
[ $rc -eq 0 ]; check $? "SIGTERM: drained and exited 0 (status $rc)"
[ $fail -ne 0 ] && { echo "--- c2watch stderr"; tail -20 "$work/err"; }
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
