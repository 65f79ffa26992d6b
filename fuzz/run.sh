#!/usr/bin/env bash
# Runs every cargo-fuzz target for FUZZ_SECONDS (default 60) on the committed corpus and prints the
# executions per target and in total. Exits non-zero at the first crash (libFuzzer leaves the input in
# fuzz/artifacts/<target>/). Usage: fuzz/run.sh [target...]   (see fuzz/README.md)
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(command data_scanner address spool_journal config reply)
fi

if ! command -v cargo-fuzz >/dev/null; then
    echo "cargo-fuzz is missing: installing it (cargo install cargo-fuzz --locked)" >&2
    cargo install cargo-fuzz --locked
fi

# Stable Rust: no sanitizer (ASan needs nightly); coverage-guided fuzzing still works, and Rust's own
# bounds checks and the properties' asserts catch what we look for.
flags=(--sanitizer none -O)
cargo fuzz build "${flags[@]}"

total=0
mkdir -p logs
for target in "${targets[@]}"; do
    log="logs/$target.log"
    mkdir -p "corpus/$target"
    if ! cargo fuzz run "${flags[@]}" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "fuzz target $target: CRASH (see fuzz/$log and fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n 1)
    echo "fuzz target $target: ${runs:-0} executions in ${seconds} s, no crash"
    total=$((total + ${runs:-0}))
done
echo "fuzz total: $total executions over ${#targets[@]} targets, no crash"
