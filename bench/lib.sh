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

# build_uws SRC WORK: builds uWebSockets' EchoServer example from the
# checkout SRC (github.com/uNetworking/uWebSockets with its uSockets
# submodule) in a copy at WORK, so the checkout stays as it was; needs g++
# and zlib headers (zlib1g-dev). The example listens on 9001 on every
# address; the copies take the port as their first argument and bind
# 127.0.0.1. Two binaries:
#   WORK/uws-echo          the example as written: its compressor is
#                          configured, but it echoes with send(..., false),
#                          uncompressed;
#   WORK/uws-echo-deflate  the same with send(..., true): every echo
#                          compressed when the client agreed
#                          permessage-deflate. The example configures
#                          DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR:
#                          a compressor per socket that keeps its window
#                          (context takeover), as rtweb's /echo does;
#   WORK/uws-echo-shared   the deflate echo with SHARED_COMPRESSOR: one
#                          compressor per loop, reset per message, so it
#                          agrees server_no_context_takeover (what rtweb
#                          does for channel sockets, not for /echo).
build_uws() {
    local src work
    src="$(cd "$1" && pwd)" work="$2"
    [ -f "$src/examples/EchoServer.cpp" ] || { echo "UWS_DIR: no examples/EchoServer.cpp in $src" >&2; exit 1; }
    [ -f "$src/uSockets/src/libusockets.h" ] || { echo "UWS_DIR: uSockets missing (git submodule update --init uSockets)" >&2; exit 1; }
    rm -rf "$work" && mkdir -p "$work" && cp -a "$src/." "$work/"
    echo "== building uWebSockets $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)')"
    # uSockets as its Makefile builds it by default: epoll, LTO, no TLS.
    make -s -C "$work/uSockets" >/dev/null
    sed -e 's/int main() {/int main(int argc, char **argv) {\n    int port = argc > 1 ? atoi(argv[1]) : 9001;/' \
        -e 's/\.listen(9001, \[\]/.listen("127.0.0.1", port, [port]/' \
        -e 's/<< 9001 <</<< port <</' \
        "$work/examples/EchoServer.cpp" > "$work/examples/EchoServerPort.cpp"
    grep -q 'listen("127.0.0.1", port' "$work/examples/EchoServerPort.cpp" ||
        { echo "EchoServer.cpp changed shape: cannot make its port an argument" >&2; exit 1; }
    sed 's/ws->send(message, opCode, false);/ws->send(message, opCode, true);/' \
        "$work/examples/EchoServerPort.cpp" > "$work/examples/EchoServerDeflate.cpp"
    grep -q 'ws->send(message, opCode, true);' "$work/examples/EchoServerDeflate.cpp" &&
        grep -q 'DEDICATED_COMPRESSOR | uWS::DEDICATED_DECOMPRESSOR' "$work/examples/EchoServerDeflate.cpp" ||
        { echo "EchoServer.cpp changed shape: cannot make it compress its echoes" >&2; exit 1; }
    sed 's/uWS::DEDICATED_COMPRESSOR | uWS::DEDICATED_DECOMPRESSOR/uWS::SHARED_COMPRESSOR | uWS::DEDICATED_DECOMPRESSOR/' \
        "$work/examples/EchoServerDeflate.cpp" > "$work/examples/EchoServerShared.cpp"
    # The flags of uWebSockets' own build.c for its examples.
    local example
    for example in EchoServerPort:uws-echo EchoServerDeflate:uws-echo-deflate EchoServerShared:uws-echo-shared; do
        (cd "$work" && ${CXX:-g++} -march=native -O3 -flto=auto -std=c++2b -Isrc -IuSockets/src \
            "examples/${example%%:*}.cpp" uSockets/*.o -lz -o "${example##*:}")
    done
}
