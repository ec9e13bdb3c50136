#!/usr/bin/env bash
# What the durable store costs (issue 12), on this machine, in one run:
#
#   publish-rate  64 keep-alive publishers spread over 64 channels,
#                 acknowledged messages/s, for --memory, the SQLite default
#                 (--sync normal) and --sync full; then all 64 on one
#                 channel, memory and SQLite; alternating over ROUNDS
#                 rounds (median);
#   fan-out       10,000 SSE subscribers, memory vs SQLite;
#   rss           1,000,000 channels with one 1 KiB message each: the
#                 server's RSS after (SQLite default);
#   start-up      1,000,000 messages across 10,000 channels on disk:
#                 time from exec to the first accepted connection.
#
#   bash bench/storage.sh            # ROUNDS=3
#
# The server runs one event loop pinned to core 0, the load tool on core 1;
# both sides' CPU seconds are printed beside every figure (a load tool at
# 100% of its core measures itself). Loopback only.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup bench-storage
rtweb="$root/target/release/rtweb"

# serve STORE-ARGS...: a fresh server on core 0; sets PORT, PID, DATA.
serve() {
    PORT="$(free_port)"
    DATA="$out/data-$PORT"
    rm -rf "$DATA"
    local store=("$@")
    [ "${store[0]:-}" = "--memory" ] || store=(--data "$DATA" "${store[@]}")
    taskset -c 0 "$rtweb" --addr "127.0.0.1:$PORT" --threads 1 --ticker 0 \
        --max-connections 100000 --max-connections-per-ip 100000 "${store[@]}" >"$out/rtweb.log" 2>&1 &
    PID=$!
    wait_port "$PORT"
}

# load LABEL SCENARIO ARGS...: runs the load tool on core 1 against PORT;
# prints its result line with both sides' CPU seconds over the whole run,
# set-up included (`*_cpu_run_s`; the line's own `client_cpu_s` and
# `client_cpu_pct` cover its measurement window only).
load() {
    local label="$1"; shift
    local server_before; server_before="$(cpu "$PID")"
    local line times
    times="$out/time.txt"
    line="$( { /usr/bin/time -f '%U %S' -o "$times" taskset -c 1 "$bench" "$@" --target rtweb --addr "127.0.0.1:$PORT" --label "$label"; } )"
    local client; client="$(awk '{ printf "%.2f", $1 + $2 }' "$times")"
    local server; server="$(awk -v a="$server_before" -v b="$(cpu "$PID")" 'BEGIN { printf "%.2f", b - a }')"
    echo "$line server_cpu_run_s=$server client_cpu_run_s=$client" | tee -a "$out/results.txt"
}

stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; rm -rf "$DATA"; }

: > "$out/results.txt"
for round in $(seq "$rounds"); do
    echo "== round $round"
    for store in memory normal full; do
        case "$store" in
            memory) serve --memory ;;
            normal) serve ;;
            full) serve --sync full ;;
        esac
        load "$store" publish-rate --conns 64 --seconds 5 --size 64 --channels 64
        stop
    done
    for store in memory normal; do
        if [ "$store" = memory ]; then serve --memory; else serve; fi
        load "$store-1ch" publish-rate --conns 64 --seconds 5 --size 64 --channels 1
        stop
    done
    for store in memory normal; do
        if [ "$store" = memory ]; then serve --memory; else serve; fi
        load "$store" sse-fanout --subscribers 10000 --messages 100 --rate 50 --size 64
        stop
    done
done

echo "== rss: 1,000,000 channels, one 1 KiB message each (SQLite default)"
serve
rss_before="$(awk '/VmRSS/ { print $2 }' "/proc/$PID/status")"
load normal fill --conns 8 --channels 1000000 --per-channel 1 --size 1024
rss_after="$(awk '/VmRSS/ { print $2 }' "/proc/$PID/status")"
echo "rss_kib_before=$rss_before rss_kib_after=$rss_after data_bytes=$(du -sb "$DATA" | cut -f1)" | tee -a "$out/results.txt"
stop

echo "== start-up: 1,000,000 messages across 10,000 channels"
serve --retain 1000
load normal fill --conns 8 --channels 10000 --per-channel 100 --size 64
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
kept="$DATA"
for round in $(seq "$rounds"); do
    PORT="$(free_port)"
    start_ns="$(date +%s%N)"
    taskset -c 0 "$rtweb" --addr "127.0.0.1:$PORT" --threads 1 --ticker 0 --data "$kept" >"$out/rtweb.log" 2>&1 &
    PID=$!
    until python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT))" 2>/dev/null; do :; done
    echo "startup_ms=$(( ($(date +%s%N) - start_ns) / 1000000 )) messages_on_disk=1000000 channels=10000" | tee -a "$out/results.txt"
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
done
rm -rf "$kept"
echo "== results in $out/results.txt"
