#!/usr/bin/env bash
# Runs the demo page's end-to-end test, then the cross-origin test, in
# headless Chromium against release builds of rtweb on free loopback ports. Installs Debian's
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
pids=("$server")
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
wait_port "$port"
cd "$here"
RTWEB_URL="http://127.0.0.1:$port" SCREENSHOT="$root/target/browser/demo.png" node demo.test.mjs

echo "== cross-origin: a page on another loopback port"
secret="$(head -c 32 /dev/urandom | base64)"
printf '%s' "$secret" > "$root/target/browser/jwt-secret"
allowed="$(free_port)"
other="$(free_port)"
cross="$(free_port)"
for page_port in "$allowed" "$other"; do
    python3 -m http.server "$page_port" --bind 127.0.0.1 --directory "$here/cross" \
        >"$root/target/browser/page-$page_port.log" 2>&1 &
    pids+=("$!")
done
"$root/target/release/rtweb" --addr "127.0.0.1:$cross" --ticker 0 --memory \
    --jwt-secret-file "$root/target/browser/jwt-secret" --subscribe-needs-token \
    --allow-origin "http://127.0.0.1:$allowed" >"$root/target/browser/rtweb-cross.log" 2>&1 &
pids+=("$!")
wait_port "$allowed"; wait_port "$other"; wait_port "$cross"
RTWEB_URL="http://127.0.0.1:$cross" ALLOWED_PAGE="http://127.0.0.1:$allowed" \
    OTHER_PAGE="http://127.0.0.1:$other" JWT_SECRET="$secret" node cross_origin.test.mjs
