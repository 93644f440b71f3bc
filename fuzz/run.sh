#!/usr/bin/env bash
# Runs every cargo-fuzz target of cfsign for N seconds each (default 60).
#
#   bash fuzz/run.sh [seconds]
#
# cargo-fuzz needs a nightly compiler; RUSTC_BOOTSTRAP=1 lets the stable one
# accept the -Z flags it passes. cargo-fuzz itself is installed when missing.
# The first build compiles every dependency (OpenSSL included) with
# coverage instrumentation: about 12 minutes on 2 cores; later runs reuse
# fuzz/target/. Seeds are read from fuzz/corpus/<target>/ (committed, small); what the
# fuzzer discovers goes to fuzz/target/corpus/<target>/ (not committed), and
# a crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
# Reproduce one with:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> fuzz/artifacts/<target>/crash-...   (from the repo root)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

seconds="${1:-60}"
targets=(url_parse policy_verify config_parse request_json)
# Rust code only (no unsafe in cfsign); overflow checks and debug assertions
# stay on. FUZZ_SANITIZER=address for ASan.
sanitizer="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

# Same dependency versions as the service: start from its lock file.
cp ../Cargo.lock Cargo.lock
cargo fuzz build -s "$sanitizer"

status=0
for target in "${targets[@]}"; do
    work="target/corpus/$target"
    log="target/fuzz-$target.log"
    mkdir -p "$work" "artifacts/$target"
    printf '\n=== fuzz %s for %ss ===\n' "$target" "$seconds"
    if cargo fuzz run -s "$sanitizer" "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^(INFO: seed corpus|stat::number_of_executed_units|stat::average_exec_per_sec|Done)' "$log" || true
        grep -E '^#[0-9]+' "$log" | tail -n 1
    else
        tail -n 60 "$log"
        echo "fuzz target $target FAILED: the input is in fuzz/artifacts/$target/ (full log: fuzz/$log)" >&2
        status=1
    fi
done
exit "$status"
