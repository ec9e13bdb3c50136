# Shared by bench/storage.sh and bench/deflate.sh: source it after
# `set -euo pipefail`; it defines functions only.

# bench_setup NAME: sets root, out (target/NAME), rounds (ROUNDS, default 3)
# and bench (the load tool); raises the fd limit; builds rtweb and the load
# tool in release mode; sources tests/serve.sh (free_port, wait_port).
bench_setup() {
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    out="$root/target/$1"
    rounds="${ROUNDS:-3}"
    mkdir -p "$out"
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    (cd "$root" && cargo build --release -q)
    (cd "$root/bench" && cargo build --release -q)
    bench="$root/bench/target/release/rtweb-bench"
    # shellcheck source=../tests/serve.sh
    source "$root/tests/serve.sh"
}

# cpu PID: the CPU seconds (user + system) the process has used so far.
cpu() {
    awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"
}
