#!/usr/bin/env bash
# WebSocket echo with permessage-deflate agreed (issue 16): rtweb's /echo
# beside uWebSockets' EchoServer with its compressor on, the same JSON-like
# text messages of 16 B, 1 KiB and 16 KiB, 100 connections with 16 messages
# in flight each, alternating the servers (rtweb, uWS, …) over ROUNDS
# rounds; rtweb pinned like uWS, `--threads 1 --memory --ticker 0`.
#
#   UWS_DIR=~/src/uWebSockets bash bench/deflate-echo.sh      # ROUNDS=5
#
# Environment:
#   UWS_DIR   a checkout of github.com/uNetworking/uWebSockets with its
#             uSockets submodule; bench/lib.sh's build_uws builds its
#             EchoServer echoing compressed (DEDICATED_COMPRESSOR |
#             DEDICATED_DECOMPRESSOR, as the example configures: a
#             compressor per socket that keeps its window, like /echo).
#   ROUNDS    rounds (default 5); SECS measured seconds per run after a
#             1 s warm-up (default 4)
#   SIZES     message sizes (default "16 1024 16384")
#   SERVERS   default "rtweb uws uws-shared": uws-shared is uWS with
#             SHARED_COMPRESSOR (no server context takeover), a reference
#             beside the comparison, which is rtweb against uws
#   TAKEOVER  0 (default): the load tool offers client_no_context_takeover
#             and writes pre-built frames; 1: the browser's offer, and the
#             tool compresses every message itself (see
#             bench/src/scenarios/deflate_echo.rs)
#   SERVER_CORE, LOAD_CORE   cores for `taskset -c` (default 0 and 1)
#   BENCH_LOCK  a lock file held (flock) over each run, so two people
#             benchmarking one machine never overlap (default
#             /tmp/rtweb-bench.lock)
#
# Each result line carries both sides' CPU time over the measured window,
# how busy the load core was, and bound=client when it was >= 95% busy:
# bench/deflate_echo_report.py quotes no ratio from such a round.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup bench-deflate-echo
rounds="${ROUNDS:-5}"
secs="${SECS:-4}"
sizes="${SIZES:-16 1024 16384}"
takeover="${TAKEOVER:-0}"
server_core="${SERVER_CORE:-0}"
load_core="${LOAD_CORE:-1}"
lock="${BENCH_LOCK:-/tmp/rtweb-bench.lock}"
servers="${SERVERS:-rtweb uws uws-shared}"
[ -n "${UWS_DIR:-}" ] || { echo "set UWS_DIR to a uWebSockets checkout (with uSockets)" >&2; exit 2; }
build_uws "$UWS_DIR" "$out/uws"
results="$out/results.txt"
: > "$results"

# measure SERVER SIZE: one run on a fresh server, under the lock.
measure() {
    local server="$1" size="$2" port pid line
    exec {lockfd}>"$lock"
    flock "$lockfd"
    port="$(free_port)"
    case "$server" in
        rtweb) taskset -c "$server_core" "$root/target/release/rtweb" --addr "127.0.0.1:$port" \
                   --threads 1 --ticker 0 --memory >/dev/null 2>&1 & ;;
        uws) taskset -c "$server_core" "$out/uws/uws-echo-deflate" "$port" >/dev/null & ;;
        uws-shared) taskset -c "$server_core" "$out/uws/uws-echo-shared" "$port" >/dev/null & ;;
    esac
    pid=$!
    wait_port "$port"
    if line="$(timeout 120 taskset -c "$load_core" "$bench" ws-deflate-echo --target "${server%-shared}" --label "$server" \
        --addr "127.0.0.1:$port" --pid "$pid" --conns 100 --inflight 16 --size "$size" \
        --seconds "$secs" --client-takeover "$takeover")"; then
        echo "round=$round loadavg=$(cut -d' ' -f1 /proc/loadavg) $line" | tee -a "$results"
    else
        echo "round=$round scenario=ws-deflate-echo target=$server size=$size failed=1" | tee -a "$results"
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true
    flock -u "$lockfd"
    exec {lockfd}>&-
}

echo "== $(date -u '+%F %T') load average: $(cat /proc/loadavg)"
for round in $(seq "$rounds"); do
    for size in $sizes; do
        for server in $servers; do
            measure "$server" "$size"
        done
    done
done
echo "== $(date -u '+%F %T') load average: $(cat /proc/loadavg)"
python3 "$root/bench/deflate_echo_report.py" "$results" | tee "$out/report.md"
