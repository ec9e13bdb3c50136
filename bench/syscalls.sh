#!/usr/bin/env bash
# Syscalls per message (issue 15): each echo server under the same ws-echo
# load, its system calls counted by the kernel's tracepoints for a few
# seconds in the middle of the run (`perf stat -e syscalls:sys_enter_*
# -p PID`: a count per call, no stop per call as strace makes), divided by
# the messages echoed in that time.
#
#   bash bench/syscalls.sh                 # rtweb and the raw TCP floor
#   UWS_BIN=path/to/uws-echo bash bench/syscalls.sh   # + uWebSockets
#
# (compare.sh builds uws-echo from UWS_DIR under target/bench/uws.)
# Server on core 0, load on core 1. Loopback only.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup bench-syscalls
(cd "$root/bench/peers/tcp-echo" && cargo build --release -q)
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }

# BENCH_BIN: another build of the load tool (default: this checkout's).
bench="${BENCH_BIN:-$bench}"
SIZE="${SIZE:-16}"
WINDOW=3
events="raw_syscalls:sys_enter"
calls="read recvfrom write writev sendto sendmsg epoll_wait epoll_pwait epoll_ctl"
for call in $calls; do events="$events,syscalls:sys_enter_$call"; done

servers="floor rtweb"
[ -n "${UWS_BIN:-}" ] && servers="floor rtweb uws"

printf '| server | messages/s | load core busy | syscalls/message |'
for call in $calls; do printf ' %s |' "$call"; done
printf '\n|---|---|---|---|'
for _ in $calls; do printf -- '---|'; done
printf '\n'
for server in $servers; do
    port="$(free_port)"
    target=rtweb
    case "$server" in
        floor) taskset -c 0 "$root/bench/peers/tcp-echo/target/release/tcp-echo" "127.0.0.1:$port" & target=floor ;;
        rtweb) taskset -c 0 "$root/target/release/rtweb" --addr "127.0.0.1:$port" --threads 1 --ticker 0 --memory >/dev/null 2>&1 & ;;
        uws) taskset -c 0 "$UWS_BIN" "$port" >/dev/null & ;;
    esac
    pid=$!
    wait_port "$port"
    taskset -c 1 "$bench" ws-echo --target "$target" --addr "127.0.0.1:$port" \
        --label "$server" --conns 100 --inflight 16 --size "$SIZE" --seconds 8 > "$out/load-$server.txt" &
    load=$!
    sleep 3
    perf stat -x, -e "$events" -p "$pid" -- sleep "$WINDOW" 2> "$out/perf-$server.txt" >/dev/null
    wait "$load"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rate="$(grep -o 'msgs_per_s=[0-9]*' "$out/load-$server.txt" | cut -d= -f2)"
    messages=$((rate * WINDOW))
    count() { awk -F, -v e="$1" '$3 == e { print $1 }' "$out/perf-$server.txt"; }
    total="$(count raw_syscalls:sys_enter)"
    busy="$(grep -o 'load_core_busy_pct=[0-9.]*' "$out/load-$server.txt" | cut -d= -f2)"
    printf '| %s | %s | %s%% |' "$server" "$rate" "${busy:-?}"
    printf ' %s |' "$(awk -v t="$total" -v m="$messages" 'BEGIN { printf "%.3f", t / m }')"
    for call in $calls; do
        printf ' %s |' "$(awk -v t="$(count "syscalls:sys_enter_$call")" -v m="$messages" 'BEGIN { printf "%.3f", t / m }')"
    done
    printf '\n'
done
