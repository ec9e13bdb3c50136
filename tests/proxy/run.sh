#!/usr/bin/env bash
# Runs the four techniques through a real nginx configured exactly as
# docs/deployment.md says: the config is cut from that file (between its
# nginx-config markers), so the doc cannot drift from what is tested.
# Installs Debian's nginx if missing; runs rtweb (release) and nginx on free
# loopback ports, nginx in the foreground with everything under
# target/proxy/; stops both by PID. See docs/deployment.md, "The test".
set -euo pipefail
# shellcheck source=../serve.sh
source "$(dirname "$0")/../serve.sh"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="$root/target/proxy"

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    echo "== installing nginx (Debian package)"
    apt-get update -qq && apt-get install -y -qq nginx >/dev/null
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

(cd "$root" && cargo build --release -q)
rm -rf "$dir"
mkdir -p "$dir/tmp" "$dir/tls"

# A throwaway certificate for localhost: TLS ends at the proxy, as in the doc.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost \
    -keyout "$dir/tls/rtweb.key" -out "$dir/tls/rtweb.crt" 2>/dev/null

rtweb_port="$(free_port)"
proxy_port="$(free_port)"
while [ "$proxy_port" = "$rtweb_port" ]; do proxy_port="$(free_port)"; done

# The doc's block, with its four deployment-specific values replaced. Each
# must be found exactly where the doc has it, or the test says so.
awk '/<!-- nginx-config:begin -->/{on=1; next} /<!-- nginx-config:end -->/{on=0} on && !/^```/' \
    "$root/docs/deployment.md" >"$dir/rtweb.conf.in"
substitute() { # PATTERN REPLACEMENT
    grep -qF -- "$1" "$dir/rtweb.conf.in" || { echo "docs/deployment.md config has no '$1'" >&2; exit 1; }
    python3 -c 'import sys; p=sys.argv[1]; s=open(p).read(); open(p,"w").write(s.replace(sys.argv[2], sys.argv[3]))' \
        "$dir/rtweb.conf.in" "$1" "$2"
}
substitute "server 127.0.0.1:8080;" "server 127.0.0.1:$rtweb_port;"
substitute "listen 443 ssl http2;" "listen 127.0.0.1:$proxy_port ssl http2;"
substitute "/etc/nginx/tls/rtweb.crt" "$dir/tls/rtweb.crt"
substitute "/etc/nginx/tls/rtweb.key" "$dir/tls/rtweb.key"
mv "$dir/rtweb.conf.in" "$dir/rtweb.conf"

# What a distribution's nginx.conf around conf.d/ provides, kept under $dir.
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 256; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $dir/rtweb.conf;
}
CONF

server="" proxy=""
stop() {
    [ -n "$proxy" ] && kill "$proxy" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop EXIT

"$root/target/release/rtweb" --addr "127.0.0.1:$rtweb_port" --ticker 0 --memory >"$dir/rtweb.log" 2>&1 &
server=$!
"$nginx_bin" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
proxy=$!
wait_port "$rtweb_port"
wait_port "$proxy_port" || { cat "$dir/error.log" >&2; exit 1; }

echo "== rtweb on 127.0.0.1:$rtweb_port, nginx $("$nginx_bin" -v 2>&1 | sed 's|.*/||') on 127.0.0.1:$proxy_port"
timeout 60 python3 "$here/check.py" "$proxy_port" "$dir/tls/rtweb.crt" || {
    echo "== nginx error log (target/proxy/error.log):" >&2
    tail -20 "$dir/error.log" >&2
    exit 1
}

# The same configuration, but a proxy that refuses every WebSocket upgrade
# (as some corporate proxies do): Chromium's rtweb.js must fall back to SSE
# and lose nothing.
echo "== Chromium through nginx with WebSocket blocked"
blocked_port="$(free_port)"
sed -e "s|listen 127.0.0.1:$proxy_port ssl http2;|listen 127.0.0.1:$blocked_port ssl http2;\n    if (\$http_upgrade) { return 403; }|" \
    "$dir/rtweb.conf" >"$dir/blocked.conf"
sed -e "s|$dir/rtweb.conf|$dir/blocked.conf|; s|$dir/nginx.pid|$dir/blocked.pid|" \
    "$dir/nginx.conf" >"$dir/nginx-blocked.conf"
"$nginx_bin" -p "$dir" -e "$dir/error.log" -c "$dir/nginx-blocked.conf" &
blocked=$!
trap 'kill "$blocked" 2>/dev/null || true; stop' EXIT
wait_port "$blocked_port" || { cat "$dir/error.log" >&2; exit 1; }
browser="$root/tests/browser"
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d "$browser/node_modules/playwright-core" ]; then
    (cd "$browser" && npm install --no-audit --no-fund --silent)
fi
(cd "$browser" && PROXY_URL="https://localhost:$blocked_port" timeout 120 node through_nginx.test.mjs)
