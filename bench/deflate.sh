#!/usr/bin/env bash
# What permessage-deflate costs a channel's fan-out (issue 16): 10,000
# WebSocket subscribers of one channel, with and without deflate agreed,
# alternating over ROUNDS rounds in one run. Channel sockets agree
# server_no_context_takeover, so each message is compressed once and the
# same frame goes to every subscriber; the load tool inflates every frame
# it receives (its CPU is printed beside each figure: `*_cpu_run_s` over
# the whole run, subscribers' set-up included; the load line's own
# `client_cpu_s` and `client_cpu_pct` over its measurement window only).
#
#   bash bench/deflate.sh            # ROUNDS=3
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup bench-deflate

: > "$out/results.txt"
for round in $(seq "$rounds"); do
    for scenario in ws-fanout ws-deflate-fanout; do
        port="$(free_port)"
        taskset -c 0 "$root/target/release/rtweb" --addr "127.0.0.1:$port" --threads 1 --ticker 0 --memory \
            --max-connections 100000 --max-connections-per-ip 100000 >/dev/null 2>&1 &
        pid=$!
        wait_port "$port"
        before="$(cpu "$pid")"
        line="$(/usr/bin/time -f '%U %S' -o "$out/time.txt" taskset -c 1 "$bench" "$scenario" \
            --subscribers 10000 --messages 100 --rate 50 --size 200 --target rtweb --addr "127.0.0.1:$port")"
        server="$(awk -v a="$before" -v b="$(cpu "$pid")" 'BEGIN { printf "%.2f", b - a }')"
        client="$(awk '{ printf "%.2f", $1 + $2 }' "$out/time.txt")"
        echo "round=$round $line server_cpu_run_s=$server client_cpu_run_s=$client" | tee -a "$out/results.txt"
        kill "$pid"; wait "$pid" 2>/dev/null || true
    done
done
