#!/bin/sh
# Runs every Criterion suite and the scenario checks on the sanitizer build
# (ASan + UBSan, leaks included). Criterion runs each test in its own
# process and does not fail a test on a sanitizer report by itself, so the
# log is searched: any sanitizer report fails the run.
set -u
dir=${1:-build/asan}
log=$(mktemp)
sum=$(mktemp)
trap 'rm -f "$log" "$sum"' EXIT
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0
export C2W_ROOT=$(pwd) C2W_BIN=$(pwd)/$dir/c2watch
status=0
failed=""
# fail NAME: records a failed part, named once in the last line (CI shows
# only the end of the output).
fail() {
    status=1
    case " $failed " in *" $1 "*) ;; *) failed="$failed $1" ;; esac
}
for t in "$dir"/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== asan $t"
    if ! "$t" --jobs 2 >"$log" 2>&1; then
        fail "$(basename "$t")"
        # Criterion's lines for a failed or crashed test, and the assertion
        grep -E '^\[(----|FAIL|CRASH)' "$log" | head -40 | tee -a "$sum"
    fi
    tail -n 1 "$log"
    if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" >/dev/null; then
        grep -E -A 12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -60
        fail "$(basename "$t")"
    fi
done
# The fuzz targets' stored corpora and crash reproducers (tests/fuzz/),
# replayed without libFuzzer (make fuzz-replay, sanitizer build).
for r in "$dir"/replay/*; do
    [ -x "$r" ] || continue
    t=$(basename "$r")
    echo "== asan fuzz replay $t"
    if [ -d "tests/fuzz/crashes/$t" ]; then
        "$r" "tests/fuzz/corpus/$t" "tests/fuzz/crashes/$t" >"$log" 2>&1
    else
        "$r" "tests/fuzz/corpus/$t" >"$log" 2>&1
    fi || { fail "replay/$t"; tail -n 40 "$log"; }
    tail -n 1 "$log"
    if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|check failed' "$log" >/dev/null; then
        grep -E -A 12 'ERROR: (Address|Leak)Sanitizer|runtime error:|check failed' "$log" | head -60
        fail "replay/$t"
    fi
done
echo "== asan scenarios"
if ! { python3 tests/check_scenarios.py --bin "$dir/c2watch" && \
        python3 tests/check_join_otrf.py --bin "$dir/c2watch" && \
        sh tests/check_kcat.sh "$dir/c2watch"; } >"$log" 2>&1; then
    fail scenarios
fi
tail -n 1 "$log"
if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|FAIL' "$log" >/dev/null; then
    grep -E -A 12 'ERROR: (Address|Leak)Sanitizer|runtime error:|FAIL' "$log" | head -60
    fail scenarios
fi
# the failed tests' lines again, where the end of the output shows them
[ -s "$sum" ] && { echo "== asan failed tests"; cat "$sum"; }
[ $status -eq 0 ] && echo "asan: no sanitizer report" || echo "asan: FAILED:$failed"
exit $status
