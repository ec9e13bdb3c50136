#!/usr/bin/env bash
# Runs the Autobahn WebSocket testsuite (wstest -m fuzzingclient), all 517
# cases including the compression sections 12 and 13, against a release
# build of rtweb's /echo on a free loopback port; prints a table per section
# and fails when any case is not OK or INFORMATIONAL, or when any case's
# result differs from the committed tests/autobahn/expected.json.
#
#   run.sh                  every case, compared with expected.json
#   run.sh --cases '13.*'   only these cases (comma-separated patterns)
#   run.sh --update         every case; rewrites expected.json
#
# The suite is Python 2.7 only and Debian 12 has none, so this script builds
# a private Python 2.7 from Debian 11's packages under target/autobahn (kept
# between runs) and installs the suite there. Nothing is installed
# system-wide. `run.sh --install-only` prepares the environment and stops.
set -euo pipefail
# shellcheck source=../serve.sh
source "$(dirname "$0")/../serve.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$root/target/autobahn"
prefix="$cache/py27"
env="$cache/env"
site="$env/lib/python2.7/site-packages"
suite_version="25.10.1"

py27() {
    PYTHONHOME="$prefix/usr" \
    LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:$prefix/lib/x86_64-linux-gnu" \
    "$prefix/usr/bin/python2.7" "$@"
}

install_python27() {
    [ -x "$prefix/usr/bin/python2.7" ] && return
    echo "== fetching Python 2.7 from Debian 11 into $prefix"
    mkdir -p "$cache/apt/lists/partial" "$cache/apt/archives/partial" "$cache/debs"
    echo "deb http://deb.debian.org/debian bullseye main" > "$cache/apt/sources.list"
    local apt=(apt-get -q -oDir::State::Lists="$cache/apt/lists" -oDir::Etc::SourceList="$cache/apt/sources.list"
               -oDir::Etc::SourceParts=/nonexistent -oDir::Cache::Archives="$cache/apt/archives"
               -oAPT::Sandbox::User=root)
    "${apt[@]}" update >/dev/null
    (cd "$cache/debs" && "${apt[@]}" download python2.7 python2.7-minimal libpython2.7-stdlib \
        libpython2.7-minimal libpython2.7 libpython2.7-dev python2.7-dev libssl1.1 libffi7 >/dev/null)
    for deb in "$cache"/debs/*.deb; do dpkg -x "$deb" "$prefix"; done
}

install_suite() {
    [ -f "$site/autobahntestsuite/wstest.py" ] && return
    echo "== installing autobahntestsuite $suite_version into $env"
    mkdir -p "$cache/wheels" "$site"
    python3 -m pip download -q --no-deps -d "$cache/wheels" pip==20.3.4 setuptools==44.1.1 wheel==0.37.1
    PYTHONPATH="$site" py27 "$cache/wheels/pip-20.3.4-py2.py3-none-any.whl/pip" install -q --no-warn-script-location \
        --prefix "$env" "$cache"/wheels/*.whl
    PYTHONPATH="$site" CFLAGS="-I$prefix/usr/include/python2.7 -I$prefix/usr/include" \
        py27 -m pip install -q --no-warn-script-location --prefix "$env" "autobahntestsuite==$suite_version"
}

install_python27
install_suite
cases='"*"'
update=()
case "${1:-}" in
    --install-only) exit 0 ;;
    --cases) cases="$(printf '%s' "${2:?--cases needs patterns}" | sed 's/[^,][^,]*/"&"/g')" ;;
    --update) update=(--update) ;;
esac

echo "== building rtweb (release)"
(cd "$root" && cargo build --release -q)
port="$(free_port)"
"$root/target/release/rtweb" --addr "127.0.0.1:$port" --ticker 0 --memory >"$cache/rtweb.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
wait_port "$port"

work="$cache/run"
rm -rf "$work" && mkdir -p "$work"
cat > "$work/fuzzingclient.json" <<JSON
{
  "outdir": "$work/reports/servers",
  "servers": [{"agent": "rtweb", "url": "ws://127.0.0.1:$port/echo"}],
  "cases": [$cases],
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
echo "== wstest -m fuzzingclient (autobahntestsuite $suite_version), cases: $cases"
(cd "$work" && py27 -c "
import site, sys
site.addsitedir('$site')
sys.argv = ['wstest', '-m', 'fuzzingclient', '-s', 'fuzzingclient.json']
from autobahntestsuite import wstest
wstest.run()
" >"$work/wstest.log" 2>&1) || { tail -n 30 "$work/wstest.log"; exit 1; }

python3 "$root/tests/autobahn/summarize.py" "$work/reports/servers/index.json" \
    "$root/tests/autobahn/expected.json" "${update[@]}"
