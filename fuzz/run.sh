#!/usr/bin/env bash
# Runs every fuzz target for SECONDS_PER_TARGET seconds (default 60), one after the other, on
# stable Rust (`-s none`: no sanitizer, which needs nightly). Seeds the corpora first, replays
# fuzz/regressions/<target>/ before fuzzing, and exits non-zero if any target crashes, hangs
# (one input over 30 s) or runs out of memory. Artifacts land in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh            # the smoke run: 60 s per target
#   fuzz/run.sh 3600       # a long run: an hour per target
#   FUZZ_TARGETS="eval differential" fuzz/run.sh 300
#   FUZZ_KEEP_GOING=1 fuzz/run.sh 3600   # fork mode: record every crash, don't stop at the first
#   FUZZ_SEED=1 fuzz/run.sh 30           # a fixed libFuzzer seed: the same inputs every run (CI)
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-60}"
targets="${FUZZ_TARGETS:-compile eval differential engine_ops event_json}"
mode=()
if [ -n "${FUZZ_SEED:-}" ]; then
    mode+=(-seed="$FUZZ_SEED")
fi
if [ -n "${FUZZ_KEEP_GOING:-}" ]; then
    mode+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

./seed.sh

echo "run.sh: building the fuzz targets"
build_start=$SECONDS
cargo fuzz build -s none
echo "run.sh: built in $((SECONDS - build_start)) s"

mkdir -p logs
failed=()
summary=()
for t in $targets; do
    dirs=("corpus/$t")
    if [ -d "regressions/$t" ] && compgen -G "regressions/$t/*" >/dev/null; then
        # A second corpus directory: replayed at start-up, never written to.
        dirs+=("regressions/$t")
    fi
    log="logs/$t.log"
    echo "run.sh: $t for $secs s (log: fuzz/$log)"
    rc=0
    mkdir -p "artifacts/$t"
    marker=$(mktemp)
    # CPU seconds (user + sys) of the run: this shell's reaped children, before and after.
    cpu_before=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
    cargo fuzz run -s none "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 ${mode[@]+"${mode[@]}"} \
        >"$log" 2>&1 || rc=$?
    cpu_after=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
    cpu=$(awk -v a="$cpu_before" -v b="$cpu_after" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (b-a)/hz}')
    # Executions: libFuzzer's final statistics, or in fork mode its last status line.
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
    # Crashes, hangs and OOMs leave artifacts (in fork mode the exit code stays 0).
    # (Written or rewritten during this run: a known crash rewrites its old file.)
    new=$(find "artifacts/$t" -type f -newer "$marker" -printf '%f\n' | grep -E '^(crash|timeout|oom|leak)-' || true)
    rm -f "$marker"
    if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
        failed+=("$t")
        echo "run.sh: $t FAILED (exit $rc); from its log:" >&2
        grep -E -A12 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -40 >&2 || tail -40 "$log" >&2
        for a in $new; do
            echo "run.sh: new artifact fuzz/artifacts/$t/$a; replayed:" >&2
            "target/$(rustc -vV | sed -n 's/^host: //p')/release/$t" "artifacts/$t/$a" 2>&1 | grep -E -A2 'panicked at|ERROR: libFuzzer' | head -6 >&2 || true
        done
    fi
    n_new=$(printf '%s' "$new" | grep -c . || true)
    status=$([ "$rc" -eq 0 ] && [ "$n_new" -eq 0 ] && echo ok || echo CRASH)
    summary+=("$(printf '%-13s %-6s cpu %7s s  execs %10s  new artifacts %s' "$t" "$status" "$cpu" "${execs:-?}" "$n_new")")
done

echo "run.sh: summary ($secs s per target)"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "run.sh: crashed: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
echo "run.sh: no crashes"
