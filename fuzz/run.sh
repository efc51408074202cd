#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after another, and fails if any
# target finds a crash, a hang or a leak. Works with the stable toolchain (RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz's nightly-only flags through); installs cargo-fuzz if it is missing.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]      default 20 seconds, all targets
#
# Environment: FUZZ_SANITIZER (address|none; default address when its runtime is installed),
# FUZZ_JOBS (libFuzzer -fork=N: N processes per target; default 1, no fork).
# New corpus entries go to fuzz/corpus-grown/TARGET (git-ignored); the committed seeds in
# fuzz/corpus/TARGET are only read. Crashes are saved to fuzz/artifacts/TARGET/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=${1:-20}
shift || true
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "=== installing cargo-fuzz ==="
    cargo install cargo-fuzz --locked || exit 1
fi

sysroot=$(rustc --print sysroot)
if [[ -z ${FUZZ_SANITIZER:-} ]]; then
    if compgen -G "$sysroot/lib/rustlib/*/lib/librustc-*_rt.asan.a" >/dev/null; then
        FUZZ_SANITIZER=address
    else
        FUZZ_SANITIZER=none
    fi
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

echo "=== cargo fuzz build (sanitizer: $FUZZ_SANITIZER) ==="
cargo fuzz build --fuzz-dir fuzz -s "$FUZZ_SANITIZER" || exit 1

mkdir -p fuzz/logs
declare -a summary
failed=0
for t in "${targets[@]}"; do
    echo "=== $t: ${secs}s ==="
    mkdir -p "fuzz/corpus-grown/$t" "fuzz/corpus/$t"
    args=(-max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048)
    [[ -f fuzz/dict/$t.dict ]] && args+=(-dict="fuzz/dict/$t.dict")
    [[ ${FUZZ_JOBS:-1} -gt 1 ]] && args+=(-fork="$FUZZ_JOBS")
    log=fuzz/logs/$t.log
    cargo fuzz run --fuzz-dir fuzz -s "$FUZZ_SANITIZER" "$t" \
        "fuzz/corpus-grown/$t" "fuzz/corpus/$t" -- "${args[@]}" >"$log" 2>&1
    rc=$?
    execs=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -1)
    rate=$(grep -oP 'stat::average_exec_per_sec:\s*\K[0-9]+' "$log" | tail -1)
    done_line=$(grep -E '^#[0-9]+\s+DONE' "$log" | tail -1)
    execs=${execs:-$(sed -nE 's/^#([0-9]+)\s+DONE.*/\1/p' <<<"$done_line")}
    rate=${rate:-$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$done_line")}
    cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$done_line")
    if [[ -z $done_line ]]; then
        # -fork mode prints progress lines "#N: cov: C ft: F corp: .. exec/s: R ..." instead.
        fork_line=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
        execs=${execs:-$(sed -nE 's/^#([0-9]+):.*/\1/p' <<<"$fork_line")}
        rate=${rate:-$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$fork_line")}
        cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$fork_line")
    fi
    if [[ $rc -eq 0 ]]; then
        status=ok
    else
        status="FAILED (exit $rc)"
        failed=1
        grep -E "panicked at|^SUMMARY|ERROR: libFuzzer|Test unit written|^thread '" "$log" | head -8
        grep -A2 "panicked at" "$log" | sed -n 2,3p
        echo "full log: $log"
    fi
    line=$(printf '%-20s %-16s execs %-12s exec/s %-8s cov %s' "$t" "$status" \
        "${execs:-?}" "${rate:-?}" "${cov:-?}")
    echo "$line"
    summary+=("$line")
done

echo
echo "=== fuzz summary (${secs}s per target, sanitizer $FUZZ_SANITIZER) ==="
printf '%s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
    echo "a fuzz target failed; reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-..."
    exit 1
fi
