#!/usr/bin/env bash
# Runs rtweb.js's Node tests (node --test) against a release build of rtweb.
# Each test file starts its own servers on free loopback ports. Installs the
# test-only npm packages (ws, eventsource: Node 20 has neither a WebSocket
# nor an EventSource built in) from the lockfile if they are missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v node >/dev/null; then
    echo "== installing node (Debian package)"
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d "$here/node_modules/ws" ] || [ ! -d "$here/node_modules/eventsource" ]; then
    echo "== installing ws and eventsource (npm ci)"
    (cd "$here" && npm ci --no-audit --no-fund --silent)
fi

(cd "$root" && cargo build --release -q)
cd "$here"
# One file at a time: the machine is shared, and the chaos run wants the CPU.
node --test --test-concurrency=1 .
