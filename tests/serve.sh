# Shell helpers for the scripts that start servers on loopback
# (tests/autobahn/run.sh, tests/browser/run.sh, bench/compare.sh).
# Source it; it defines functions only.

# Prints a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (at most 5 s) until something accepts connections on 127.0.0.1:PORT.
wait_port() {
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1',$1))" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}
