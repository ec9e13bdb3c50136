#!/usr/bin/env bash
# Runs every scenario against rtweb and the servers a user would pick
# instead, interleaved (A B A B …) over ROUNDS rounds on this machine in one
# run; then counts syscalls per message/request; then writes
# docs/benchmarks.md (medians, spreads, per-round ratios).
#
#   bash bench/compare.sh                                  # ROUNDS=5, ~35 min
#   UWS_DIR=~/src/uWebSockets bash bench/compare.sh        # + uWebSockets
#   ONLY="echo poll syscalls" ROUNDS=1 SECS=1 bash bench/compare.sh   # smoke run
#
# Environment:
#   ROUNDS    rounds of every scenario (default 5)
#   SECS      measured seconds per ws-echo / poll-rate run, after a 1 s
#             warm-up (default 3)
#   ONLY      groups to run: echo fanout longpoll poll idle syscalls
#             (default: all)
#   UWS_DIR   a checkout of github.com/uNetworking/uWebSockets with its
#             uSockets submodule (`git clone --recursive`); its EchoServer
#             example is built from a copy under target/bench/uws (the port
#             made an argument, the listener bound to 127.0.0.1) and joins
#             ws-echo. Needs g++ and zlib headers (zlib1g-dev).
#   SYSCALLS  strace (default) | perf | off: how syscalls are counted
#   SERVER_CORE, LOAD_CORE   cores for `taskset -c` (default 0 and 1)
#
# rtweb runs with --memory: these scenarios measure the protocol path;
# the SQLite store's cost is the store's, measured by its own issue.
#
# The server under test runs on SERVER_CORE, the load tool on LOAD_CORE.
# Each load run reports both sides' CPU time and how busy the load core was;
# a run whose load core was >= 95% busy is client-bound, and report.py
# quotes no ratio from it. Every server listens on 127.0.0.1 only and is
# started fresh for each measurement. Installs nginx, Nchan and strace
# (Debian packages) if missing. Run it on a quiet machine: the numbers of
# a machine busy with other work are noise, and the busy column says so.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/target/bench"
results="$out/results.txt"
rounds="${ROUNDS:-5}"
secs="${SECS:-3}"
only="${ONLY:-echo fanout longpoll poll idle syscalls}"
syscalls="${SYSCALLS:-strace}"
server_core="${SERVER_CORE:-0}"
load_core="${LOAD_CORE:-1}"
mkdir -p "$out"
# nginx prefixes (config, pid, logs) are kept for a look after a run, until
# the next one starts.
rm -rf "$out"/nginx.*
: > "$results"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
wants() { [[ " $only " == *" $1 "* ]]; }

echo "== building"
(cd "$root" && cargo build --release -q)
(cd "$root/bench" && cargo build --release -q)
(cd "$root/bench/peers/tcp-echo" && cargo build --release -q)
(cd "$root/bench/peers/tungstenite-echo" && cargo build --release -q)
if [ ! -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || ! command -v strace >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nginx libnginx-mod-nchan strace >/dev/null
fi
bench="$root/bench/target/release/rtweb-bench"

# build_uws (bench/lib.sh): uWebSockets' EchoServer from $UWS_DIR, built
# in a copy under target/bench/uws so the checkout stays as it was.
# shellcheck source=lib.sh
source "$root/bench/lib.sh"
uws_bin=""
if [ -n "${UWS_DIR:-}" ]; then
    build_uws "$UWS_DIR" "$out/uws"
    uws_bin="$out/uws/uws-echo"
    # For report.py: which uWebSockets and uSockets the numbers are from.
    UWS_VERSION="$(git -C "$UWS_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown), uSockets $(git -C "$UWS_DIR/uSockets" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    export UWS_VERSION
fi
echo_servers="floor rtweb tungstenite rtweb-2t"
[ -n "$uws_bin" ] && echo_servers="floor rtweb uws tungstenite rtweb-2t"

# shellcheck source=../tests/serve.sh
source "$root/tests/serve.sh"

# nginx_prefix TEMPLATE: a fresh prefix under target/bench/ with the config
# filled in; prints its path.
nginx_prefix() {
    local dir; dir="$(mktemp -d "$out/nginx.XXXXXX")"
    # The worker runs as nobody: it must reach html/ (mktemp made 0700).
    chmod 755 "$dir"
    mkdir -p "$dir/html"
    # The bytes rtweb answers an empty poll with, so both send the same body.
    printf '{"messages":[],"last_id":0}' > "$dir/html/small.json"
    sed "s|DIR|$dir|g; s|PORT|$PORT|g" "$1" > "$dir/nginx.conf"
    echo "$dir"
}

# start NAME: starts a fresh server on SERVER_CORE; sets PORT, PIDS (comma
# list of its processes), STOP.
start() {
    PORT="$(free_port)"
    local pin=(taskset -c "$server_core")
    case "$1" in
        rtweb|rtweb-2t)
            local threads=1; [ "$1" = rtweb-2t ] && threads=2
            "${pin[@]}" "$root/target/release/rtweb" --addr "127.0.0.1:$PORT" --threads "$threads" --ticker 0 --memory \
                --max-connections 100000 --max-connections-per-ip 100000 >/dev/null 2>&1 &
            PIDS=$!; STOP="kill $PIDS" ;;
        floor)
            "${pin[@]}" "$root/bench/peers/tcp-echo/target/release/tcp-echo" "127.0.0.1:$PORT" &
            PIDS=$!; STOP="kill $PIDS" ;;
        tungstenite)
            "${pin[@]}" "$root/bench/peers/tungstenite-echo/target/release/tungstenite-echo" "127.0.0.1:$PORT" &
            PIDS=$!; STOP="kill $PIDS" ;;
        uws)
            # uSockets leaves SIGPIPE to the application, and the example
            # does not ignore it: a peer that closes while an echo is being
            # written kills it (exit 141, seen at 64 KiB). Every deployment
            # ignores SIGPIPE; so does this one (inherited through exec).
            (trap '' PIPE; exec "${pin[@]}" "$uws_bin" "$PORT" >/dev/null) &
            PIDS=$!; STOP="kill $PIDS" ;;
        nchan|nginx)
            local template="$root/bench/nchan/nginx.conf.in"
            [ "$1" = nginx ] && template="$root/bench/nginx-static/nginx.conf.in"
            local dir; dir="$(nginx_prefix "$template")"
            "${pin[@]}" nginx -c "$dir/nginx.conf" -p "$dir" 2>/dev/null
            for _ in $(seq 50); do [ -s "$dir/nginx.pid" ] && break; sleep 0.05; done
            local master; master="$(cat "$dir/nginx.pid")"
            for _ in $(seq 50); do pgrep -P "$master" >/dev/null && break; sleep 0.05; done
            PIDS="$master,$(pgrep -P "$master" | paste -sd,)"
            STOP="kill $master" ;;
    esac
    wait_port "$PORT"
}

# load SERVER SCENARIO [ARGS...]: the load tool on LOAD_CORE against the
# server started last; prints its result line.
load() {
    local server="$1" scenario="$2"; shift 2
    local kind="$server"
    case "$server" in rtweb-2t) kind=rtweb ;; esac
    timeout 300 taskset -c "$load_core" "$bench" "$scenario" --target "$kind" --label "$server" \
        --addr "127.0.0.1:$PORT" --pid "$PIDS" "$@"
}

# run SERVER SCENARIO [ARGS...]: one measurement on a fresh server.
run() {
    local server="$1" scenario="$2"; shift 2
    start "$server"
    if line="$(load "$server" "$scenario" "$@")"; then
        echo "round=$round $line" | tee -a "$results"
    else
        echo "round=$round scenario=$scenario target=$server failed=1" | tee -a "$results"
    fi
    stop "$server"
}

# stop SERVER: stops the server started last; says so if it had died.
stop() {
    $STOP 2>/dev/null || echo "== $1 had exited before it was stopped" >&2
    sleep 0.3
}

# count_syscalls SERVER SCENARIO [ARGS...]: one run with the server's
# syscalls counted from before the load connects until after it exits.
# Tracing slows the server, so this run's rates are not reported; only
# syscalls per operation (the load's total_msgs / total_requests).
count_syscalls() {
    local server="$1" scenario="$2"; shift 2
    local dir="$out/syscalls"; mkdir -p "$dir"
    local file tracer
    start "$server"
    file="$dir/$server-$scenario-$(echo "$*" | tr -c 'A-Za-z0-9' _).txt"
    case "$syscalls" in
        strace)
            local attach=(); IFS=, read -ra pids <<< "$PIDS"
            for pid in "${pids[@]}"; do attach+=(-p "$pid"); done
            strace -c -f -o "$file" "${attach[@]}" 2>/dev/null & tracer=$! ;;
        perf)
            perf trace -s -p "$PIDS" -o "$file" 2>/dev/null & tracer=$! ;;
    esac
    sleep 1  # attached before the first connection
    if line="$(load "$server" "$scenario" "$@")"; then
        kill -INT "$tracer" 2>/dev/null; wait "$tracer" || true
        echo "round=syscalls $line counted_by=$syscalls syscalls_file=$file" | tee -a "$results"
    else
        kill -INT "$tracer" 2>/dev/null; wait "$tracer" || true
    fi
    stop "$server"
}

for round in $(seq "$rounds"); do
    echo "== round $round of $rounds (server on core $server_core, load on core $load_core)"
    if wants echo; then
        for size in 16 1024 65536; do
            for server in $echo_servers; do
                run "$server" ws-echo --conns 100 --inflight 16 --size "$size" --seconds "$secs"
            done
        done
    fi
    if wants fanout; then
        for server in rtweb nchan rtweb-2t; do
            run "$server" sse-fanout --subscribers 10000 --messages 100 --rate 100
        done
        for server in rtweb nchan tungstenite rtweb-2t; do
            run "$server" ws-fanout --subscribers 10000 --messages 100 --rate 100
        done
    fi
    if wants longpoll; then
        for server in rtweb nchan; do
            run "$server" longpoll-wake --waiters 10000 --messages 1000
        done
    fi
    if wants poll; then
        for server in rtweb nginx nchan rtweb-2t; do
            run "$server" poll-rate --conns 50 --seconds "$secs" --pipeline 1
        done
        for server in rtweb nginx; do
            run "$server" poll-rate --conns 50 --seconds "$secs" --pipeline 16
        done
    fi
    if wants idle; then
        for kind in http sse longpoll ws; do
            for server in rtweb nchan; do
                run "$server" idle-memory --kind "$kind" --conns 10000
            done
        done
    fi
done

if wants syscalls && [ "$syscalls" != off ]; then
    echo "== syscalls per operation ($syscalls)"
    round=syscalls
    for size in 16 1024; do
        for server in $echo_servers; do
            [ "$server" = rtweb-2t ] && continue
            count_syscalls "$server" ws-echo --conns 100 --inflight 16 --size "$size" --seconds "$secs"
        done
    done
    for pipeline in 1 16; do
        for server in rtweb nginx; do
            count_syscalls "$server" poll-rate --conns 50 --seconds "$secs" --pipeline "$pipeline"
        done
    done
fi

if [ -z "${ONLY:-}" ]; then
    echo "== microbenchmarks"
    (cd "$root" && cargo bench -q --bench micro 2>/dev/null | grep -E " ns" > "$out/micro.txt") || true
fi

python3 "$root/bench/report.py" "$results" "$out/micro.txt" > "$out/benchmarks.md"
if [ -z "${ONLY:-}" ]; then
    cp "$out/benchmarks.md" "$root/docs/benchmarks.md"
    echo "== wrote docs/benchmarks.md"
else
    echo "== partial run (ONLY=$only): wrote $out/benchmarks.md, docs/ untouched"
fi
