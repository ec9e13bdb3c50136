#!/usr/bin/env bash
# Runs the demo page's end-to-end test in headless Chromium against a
# release build of rtweb on a free loopback port. Installs Debian's
# chromium and playwright-core (npm) if they are missing.
set -euo pipefail
# shellcheck source=../serve.sh
source "$(dirname "$0")/../serve.sh"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
    echo "== installing chromium (Debian package)"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
    echo "== installing playwright-core"
    (cd "$here" && npm install --no-audit --no-fund --silent)
fi

(cd "$root" && cargo build --release -q)
port="$(free_port)"
mkdir -p "$root/target/browser"
"$root/target/release/rtweb" --addr "127.0.0.1:$port" --ticker 1 --sse-retry 200 \
    --sse-max-duration 2 --ws-max-duration 2 --memory >"$root/target/browser/rtweb.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
wait_port "$port"
cd "$here"
RTWEB_URL="http://127.0.0.1:$port" SCREENSHOT="$root/target/browser/demo.png" node demo.test.mjs
