#!/usr/bin/env bash
# Several rtweb nodes sharing channels through one Redis (issue 14), on
# this machine, in one run, alternating over ROUNDS rounds:
#
#   latency   1,000 messages/s for 5 s to 100 WebSocket subscribers on node
#             B: published on node A (cross-node) and on node B (same node,
#             still through Redis); one node with --memory beside them;
#   publish   64 keep-alive publishers spread over 3 nodes, 64 channels:
#             acknowledged messages/s;
#   fan-out   10,000 SSE subscribers spread over 3 nodes, 100 messages at
#             50/s: deliveries/s;
#   and the same publish and fan-out against three Nchan servers sharing
#   one Redis (nchan_redis_url), the peer at what it was built for.
#
#   bash bench/cluster.sh            # ROUNDS=3
#
# Redis and the nodes share core 0, the load tool has core 1; the result
# line carries the CPU seconds of all the server side (nodes + Redis) and
# of the load tool. Loopback only.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bench_setup bench-cluster
rtweb="$root/target/release/rtweb"
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || { apt-get update -qq && apt-get install -y -qq nginx libnginx-mod-nchan >/dev/null; }

PIDS=()
NGINX_DIRS=()

# redis_start: a fresh redis-server on core 0 (no persistence: what is
# measured is the relay, not Redis' disk); sets REDIS_PORT.
redis_start() {
    REDIS_PORT="$(free_port)"
    taskset -c 0 redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        >"$out/redis.log" 2>&1 &
    PIDS+=("$!")
    wait_port "$REDIS_PORT"
}

# nodes KIND N: N nodes of rtweb (KIND=rtweb) or Nchan (KIND=nchan) on the
# Redis; sets NODES (comma-separated addresses) and NODE_1..N.
nodes() {
    local kind="$1" n="$2" i port
    NODES=""
    for i in $(seq "$n"); do
        port="$(free_port)"
        if [ "$kind" = rtweb ]; then
            taskset -c 0 "$rtweb" --addr "127.0.0.1:$port" --threads 1 --ticker 0 \
                --redis "redis://127.0.0.1:$REDIS_PORT" \
                --max-connections 100000 --max-connections-per-ip 100000 >"$out/node-$port.log" 2>&1 &
            PIDS+=("$!")
        else
            local dir="$out/nchan-$port"
            mkdir -p "$dir"
            sed "s|DIR|$dir|g; s|PORT|$port|g" "$root/bench/nchan/nginx.conf.in" |
                sed "s|nchan_message_timeout 1h;|nchan_message_timeout 1h;\n    nchan_redis_url \"redis://127.0.0.1:$REDIS_PORT\";\n    nchan_use_redis on;|" \
                > "$dir/nginx.conf"
            taskset -c 0 nginx -c "$dir/nginx.conf" -p "$dir" -g "error_log $dir/error.log warn;" 2>/dev/null
            NGINX_DIRS+=("$dir")
        fi
        wait_port "$port"
        NODES="${NODES:+$NODES,}127.0.0.1:$port"
        eval "NODE_$i=127.0.0.1:$port"
    done
}

# server_cpu: CPU seconds of every server-side process so far.
server_cpu() {
    local total=0 pid
    for pid in "${PIDS[@]}" $(for d in "${NGINX_DIRS[@]}"; do pgrep -P "$(cat "$d/nginx.pid")"; cat "$d/nginx.pid"; done 2>/dev/null); do
        [ -r "/proc/$pid/stat" ] && total="$(awk -v t="$total" '{ printf "%.2f", t + ($14 + $15) / 100 }' "/proc/$pid/stat")"
    done
    echo "$total"
}

# load LABEL TARGET ARGS...: the load tool on core 1, with both sides' CPU
# seconds over the whole run, set-up included (`*_cpu_run_s`; the line's
# own `client_cpu_s` and `client_cpu_pct` cover its measurement window only).
load() {
    local label="$1" target="$2"; shift 2
    local before; before="$(server_cpu)"
    local line
    line="$(/usr/bin/time -f '%U %S' -o "$out/time.txt" taskset -c 1 "$bench" "$@" --target "$target" --label "$label")"
    local client; client="$(awk '{ printf "%.2f", $1 + $2 }' "$out/time.txt")"
    local server; server="$(awk -v a="$before" -v b="$(server_cpu)" 'BEGIN { printf "%.2f", b - a }')"
    echo "$line server_cpu_run_s=$server client_cpu_run_s=$client" | tee -a "$out/results.txt"
}

stop_all() {
    local d
    for d in "${NGINX_DIRS[@]}"; do
        [ -f "$d/nginx.pid" ] && kill "$(cat "$d/nginx.pid")" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    NGINX_DIRS=()
}
trap stop_all EXIT

: > "$out/results.txt"
for round in $(seq "$rounds"); do
    echo "== round $round"
    # Latency: subscribers on B; published on A, then on B.
    redis_start; nodes rtweb 2
    load cross-node rtweb ws-fanout --addr "$NODE_2" --publish-addr "$NODE_1" \
        --subscribers 100 --messages 5000 --rate 1000 --size 64
    load same-node rtweb ws-fanout --addr "$NODE_2" \
        --subscribers 100 --messages 5000 --rate 1000 --size 64
    stop_all
    port="$(free_port)"
    taskset -c 0 "$rtweb" --addr "127.0.0.1:$port" --threads 1 --ticker 0 --memory >"$out/memory.log" 2>&1 &
    PIDS+=("$!"); wait_port "$port"
    load one-node-memory rtweb ws-fanout --addr "127.0.0.1:$port" \
        --subscribers 100 --messages 5000 --rate 1000 --size 64
    stop_all

    for kind in rtweb nchan; do
        redis_start; nodes "$kind" 3
        load "$kind-3-nodes" "$kind" publish-rate --addr "$NODE_1" --nodes "$NODES" \
            --conns 64 --channels 64 --seconds 5 --size 64
        load "$kind-3-nodes" "$kind" sse-fanout --addr "$NODE_1" --nodes "$NODES" --publish-addr "$NODE_1" \
            --subscribers 10000 --messages 100 --rate 50 --size 64
        stop_all
    done
done
echo "results: $out/results.txt"
