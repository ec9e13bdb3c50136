#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30), starting from the
# committed seeds. Installs cargo-fuzz if it is missing; uses the stable
# toolchain with RUSTC_BOOTSTRAP=1 when there is no nightly.
set -euo pipefail
seconds="${1:-30}"
cd "$(dirname "$0")"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
if rustup toolchain list 2>/dev/null | grep -q nightly; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
for target in $("${fuzz[@]}" list); do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    echo "== fuzz $target for ${seconds}s"
    log="$(mktemp)"
    if ! "${fuzz[@]}" run "$target" "$corpus" "seeds/$target" -- -max_total_time="$seconds" -max_len=65536 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target FAILED (crash input under fuzz/artifacts/$target)"
        exit 1
    fi
    grep -E "^(#[0-9]+.*DONE|Done)" "$log" | tail -n 1 || tail -n 1 "$log"
    rm -f "$log"
done
