#!/usr/bin/env bash
# Fuzz smoke run (fuzz/README.md): builds every cargo-fuzz target once, then runs each one over its
# checked-in corpus for a few seconds, and fails if any of them crashes. Seconds of fuzzing, not a
# campaign: it proves the targets build and that no known input (the seeds and the crash
# regressions kept in fuzz/corpus/) breaks the code again.
#
#   bash scripts/fuzz-smoke.sh              # every target, 10 s each
#   FUZZ_SECONDS=60 bash scripts/fuzz-smoke.sh json_body
#
# cargo-fuzz writes new inputs into the corpus directory it is given, so each target runs on a
# temporary copy and the tree stays clean; a crash input is kept under fuzz/artifacts/<target>/
# (ignored by git). Needs a nightly toolchain; without one, the default toolchain is used with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz only needs nightly for its -Z flags).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_PER_TARGET=${FUZZ_SECONDS:-10}
RSS_LIMIT_MB=${FUZZ_RSS_LIMIT_MB:-2048}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null; then
    fuzz() { cargo +nightly fuzz "$@"; }
    echo "== toolchain: $(cargo +nightly --version)"
else
    fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
    echo "== toolchain: $(cargo --version) with RUSTC_BOOTSTRAP=1 (no nightly installed)"
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(fuzz list)
fi

echo "== building ${#targets[@]} fuzz targets"
start=$SECONDS
fuzz build
echo "== built in $((SECONDS - start)) s"

# Known leaks in dependencies, each explained in the file; any other leak still fails the run.
export LSAN_OPTIONS="suppressions=$PWD/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=()
summary=()
for target in "${targets[@]}"; do
    echo "== $target: ${SECONDS_PER_TARGET} s over fuzz/corpus/$target"
    mkdir -p "$work/$target"
    cp -R "corpus/$target/." "$work/$target/"
    dict=()
    if [ -f "dict/$target.dict" ]; then
        dict=("-dict=dict/$target.dict")
    fi
    log="$work/$target.log"
    status=0
    started=$SECONDS
    fuzz run "$target" "$work/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="$RSS_LIMIT_MB" -timeout=60 \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(sed -En 's/^#[0-9]+[[:space:]]+(DONE|INITED)[[:space:]]+(cov: [0-9]+ ft: [0-9]+).*/\2/p' "$log" | tail -n 1)
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        # The report: libFuzzer's and the sanitizer's lines, the panic message and the stack.
        { grep -E -A60 '^(==[0-9]+==|thread .* panicked|SUMMARY|ERROR: libFuzzer|.*deadly signal)' "$log" ||
            tail -n 80 "$log"; } | head -n 120
        grep -E 'Test unit written to' "$log" || true
        summary+=("$target: FAILED (exit $status) after ${execs:-?} executions")
    else
        summary+=("$target: ${execs:-?} executions in $((SECONDS - started)) s, ${cov:-no coverage line}")
    fi
done

echo "== fuzz smoke summary (${SECONDS_PER_TARGET} s per target)"
printf '   %s\n' "${summary[@]}"
echo "$((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}: reproduce with 'cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>'" >&2
    exit 1
fi
