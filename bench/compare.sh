#!/usr/bin/env bash
# Runs every scenario against rtweb and the servers a user would pick
# instead, alternating A B A B over ROUNDS rounds, on this machine, in one
# run; then writes docs/benchmarks.md (medians, spreads, ratios).
#
#   bash bench/compare.sh            # ROUNDS=3
#   ROUNDS=5 bash bench/compare.sh
#
# Every server listens on 127.0.0.1 only and is started fresh for each
# measurement. Installs nginx + Nchan (Debian packages) if missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/target/bench"
results="$out/results.txt"
rounds="${ROUNDS:-3}"
mkdir -p "$out"
: > "$results"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "== building"
(cd "$root" && cargo build --release -q)
(cd "$root/bench" && cargo build --release -q)
(cd "$root/bench/peers/tcp-echo" && cargo build --release -q)
(cd "$root/bench/peers/tungstenite-echo" && cargo build --release -q)
if [ ! -f /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
    apt-get update -qq && apt-get install -y -qq nginx libnginx-mod-nchan >/dev/null
fi
bench="$root/bench/target/release/rtweb-bench"

# shellcheck source=../tests/serve.sh
source "$root/tests/serve.sh"

# start NAME: starts a fresh server; sets PORT, PIDS (comma list), STOP.
start() {
    PORT="$(free_port)"
    case "$1" in
        rtweb|rtweb-2t)
            local threads=1; [ "$1" = rtweb-2t ] && threads=2
            "$root/target/release/rtweb" --addr "127.0.0.1:$PORT" --threads "$threads" --ticker 0 --memory >/dev/null 2>&1 &
            PIDS=$!; STOP="kill $PIDS" ;;
        floor)
            "$root/bench/peers/tcp-echo/target/release/tcp-echo" "127.0.0.1:$PORT" &
            PIDS=$!; STOP="kill $PIDS" ;;
        tungstenite)
            "$root/bench/peers/tungstenite-echo/target/release/tungstenite-echo" "127.0.0.1:$PORT" &
            PIDS=$!; STOP="kill $PIDS" ;;
        nchan)
            local dir; dir="$(mktemp -d)"
            sed "s|DIR|$dir|g; s|PORT|$PORT|g" "$root/bench/nchan/nginx.conf.in" > "$dir/nginx.conf"
            nginx -c "$dir/nginx.conf" -p "$dir" 2>/dev/null
            sleep 0.2
            PIDS="$(cat "$dir/nginx.pid"),$(pgrep -P "$(cat "$dir/nginx.pid")" | paste -sd,)"
            STOP="kill $(cat "$dir/nginx.pid")" ;;
    esac
    wait_port "$PORT"
}

# run SERVER SCENARIO [ARGS...]: one measurement on a fresh server.
run() {
    local server="$1" scenario="$2"; shift 2
    local kind="$server"; [ "$server" = rtweb-2t ] && kind=rtweb
    start "$server"
    local extra=()
    [ "$scenario" = idle-memory ] && extra=(--pid "$PIDS")
    if line="$(timeout 300 "$bench" "$scenario" --target "$kind" --label "$server" --addr "127.0.0.1:$PORT" "$@" "${extra[@]}")"; then
        echo "round=$round $line" | tee -a "$results"
    else
        echo "round=$round scenario=$scenario target=$server failed=1" | tee -a "$results"
    fi
    $STOP; sleep 0.3
}

for round in $(seq "$rounds"); do
    echo "== round $round of $rounds"
    for size in 16 1024 65536; do
        for server in floor rtweb tungstenite rtweb-2t; do
            run "$server" ws-echo --conns 100 --inflight 16 --size "$size" --seconds 3
        done
    done
    for server in rtweb nchan rtweb-2t; do
        run "$server" sse-fanout --subscribers 10000 --messages 100 --rate 100
    done
    for server in rtweb nchan tungstenite rtweb-2t; do
        run "$server" ws-fanout --subscribers 10000 --messages 100 --rate 100
    done
    for server in rtweb nchan; do
        run "$server" longpoll-wake --waiters 10000 --messages 1000
    done
    for server in rtweb nchan rtweb-2t; do
        run "$server" poll-rate --conns 50 --seconds 3
    done
    for kind in http sse longpoll ws; do
        for server in rtweb nchan; do
            run "$server" idle-memory --kind "$kind" --conns 10000
        done
    done
done

echo "== microbenchmarks"
(cd "$root" && cargo bench -q --bench micro 2>/dev/null | grep -E " ns" > "$out/micro.txt") || true

python3 "$root/bench/report.py" "$results" "$out/micro.txt" > "$root/docs/benchmarks.md"
echo "== wrote docs/benchmarks.md"
