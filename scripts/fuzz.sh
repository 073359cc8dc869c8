#!/usr/bin/env bash
# Fuzzes the cargo-fuzz targets in fuzz/ for a bounded time: scripts/fuzz.sh [SECONDS [TARGET...]]
# (per target, default 60; every target when none is named). Installs cargo-fuzz when missing. cargo-fuzz needs a nightly
# compiler (sanitizer coverage flags): the installed nightly toolchain when there is one,
# else the stable one with RUSTC_BOOTSTRAP=1 (what cargo-fuzz users do on stable).
#
# Targets are built without a sanitizer (-s none): the suite forbids unsafe code, so what
# the fuzzer hunts is panics, overflows (debug assertions are on) and broken invariants,
# which the checks in fuzz/src/lib.rs assert; ASan would only slow each run.
#
# The corpus grows between runs in $SLIPWAY_FUZZ_CORPUS (default /var/tmp/slipway-fuzz-
# corpus), seeded from fuzz/seeds. A crash is copied to fuzz/regressions/<target>/, where
# tests/fuzz_regressions.rs replays it in the normal test run (commit it with its fix), and
# the script exits 1. Prints, per target, executions, executions per second and corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS per target, a positive integer [TARGET...]]" >&2
    exit 2
fi
shift $(( $# > 0 ? 1 : 0 ))
export CARGO_TARGET_DIR="${SLIPWAY_FUZZ_TARGET_DIR:-/var/tmp/slipway-fuzz-target}"
corpus_root="${SLIPWAY_FUZZ_CORPUS:-/var/tmp/slipway-fuzz-corpus}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

"${fuzz[@]}" build -s none
mapfile -t known < <("${fuzz[@]}" list)
if [ "$#" -gt 0 ]; then
    for target in "$@"; do
        if ! printf '%s\n' "${known[@]}" | grep -qx "$target"; then
            echo "scripts/fuzz.sh: no fuzz target \`$target\`; there are: ${known[*]}" >&2
            exit 2
        fi
    done
    targets=("$@")
else
    targets=("${known[@]}")
fi

crashed=0
summary=()
for target in "${targets[@]}"; do
    corpus="$corpus_root/$target"
    artifacts="fuzz/artifacts/$target"
    # This run's findings only (earlier ones are kept in fuzz/regressions).
    rm -rf "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    log="$(mktemp)"
    status=0
    # -timeout: one input running longer than 10 s is a hang; -rss_limit_mb bounds memory.
    "${fuzz[@]}" run -s none "$target" "$corpus" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    stat() { grep -m1 "^stat::$1:" "$log" | awk '{print $2}'; }
    runs="$(stat number_of_executed_units)"
    speed="$(stat average_exec_per_sec)"
    units="$(find "$corpus" -type f | wc -l)"
    if [ "$status" -ne 0 ] || compgen -G "$artifacts/crash-*" >/dev/null || compgen -G "$artifacts/timeout-*" >/dev/null; then
        crashed=1
        mkdir -p "fuzz/regressions/$target"
        for found in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
            [ -e "$found" ] && cp "$found" "fuzz/regressions/$target/"
        done
        echo "---- $target failed (exit $status); its inputs are in fuzz/regressions/$target:" >&2
        grep -E "panicked|ERROR|SUMMARY" "$log" | head -20 >&2 || true
        summary+=("$target: FAILED after ${runs:-?} executions")
    else
        summary+=("$target: ${runs:-?} executions in ${seconds}s (${speed:-?}/s), corpus $units inputs, no crash")
    fi
    rm -f "$log"
done

echo "fuzz campaign, ${seconds}s per target:"
printf '  %s\n' "${summary[@]}"
exit "$crashed"
