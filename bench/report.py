"""Writes docs/benchmarks.md from compare.sh's result lines.

Usage: python3 bench/report.py target/bench/results.txt target/bench/micro.txt
Each measurement is the median of the rounds, with the spread [min–max].
"""
import datetime
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict

results_path, micro_path = sys.argv[1], sys.argv[2]
rows, syscall_rows = [], []
for line in open(results_path):
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    if "failed" in fields:
        continue
    (syscall_rows if fields.get("round") == "syscalls" else rows).append(fields)
failed = [l.strip() for l in open(results_path) if "failed=1" in l]

def client_bound(r):
    """The load core was saturated: the run measured the client."""
    return r.get("bound") == "client"

def matching(scenario, target, **match):
    return [r for r in rows if r.get("scenario") == scenario and r.get("target") == target
            and all(r.get(k) == str(v) for k, v in match.items())]

def values(scenario, target, metric, include_client_bound=False, **match):
    """A metric over the rounds, from server-bound runs only unless asked."""
    return [float(r[metric]) for r in matching(scenario, target, **match)
            if metric in r and (include_client_bound or not client_bound(r))]

def bound_count(scenario, target, **match):
    runs = matching(scenario, target, **match)
    return sum(client_bound(r) for r in runs), len(runs)

def med(vs):
    return statistics.median(vs) if vs else None

def fmt(vs, digits=0):
    if not vs:
        return "–"
    m = med(vs)
    f = f"{{:,.{digits}f}}"
    if len(vs) == 1:
        return f.format(m)
    return f"{f.format(m)} [{f.format(min(vs))}–{f.format(max(vs))}]"

def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"

def round_ratios(scenario, target, base, metric, **match):
    """target/base per round, in round order; None for a round where either
    run was client-bound (its number is the client's, not the server's)."""
    by_round = defaultdict(dict)
    for r in rows:
        if r.get("scenario") == scenario and all(r.get(k) == str(v) for k, v in match.items()):
            by_round[r["round"]][r["target"]] = r
    out = []
    for _, runs in sorted(by_round.items(), key=lambda kv: int(kv[0])):
        a, b = runs.get(target), runs.get(base)
        if not a or not b:
            continue
        if client_bound(a) or client_bound(b) or not float(b[metric]):
            out.append(None)
        else:
            out.append(float(a[metric]) / float(b[metric]))
    return out

def paired(scenario, target, base, metric, **match):
    """The median over rounds of target/base measured in the same round:
    each round runs the two back to back, so machine drift between rounds
    cancels out. Client-bound rounds are left out; None if none is left."""
    return med([v for v in round_ratios(scenario, target, base, metric, **match) if v is not None])

def ratio_cells(scenario, target, base, metric, **match):
    """The median ratio and each round's, client-bound rounds marked."""
    per_round = round_ratios(scenario, target, base, metric, **match)
    if not per_round:
        return None
    m = paired(scenario, target, base, metric, **match)
    rounds_text = " ".join("cb" if v is None else f"{v:.2f}" for v in per_round)
    return f"{m:.3f}×" if m else "– (all client-bound)", rounds_text

def x(v, digits=2):
    return f"{v:.{digits}f}×" if v else "–"

def shell(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"

rounds = len({r["round"] for r in rows}) or 1
out = []
p = out.append
p("# Benchmarks")
p("")
p("Measured side by side on one machine in one run: every server started fresh")
p("for every measurement, scenarios alternating between servers (A B A B …),")
p(f"{rounds} rounds. Each cell is the median [min–max] of the rounds. Ratios compare")
p("medians from the same run; on a shared 2-core machine only ratios mean much.")
p("")
p("Produced by `bash bench/compare.sh` (the load tool is `bench/`, one mio loop;")
p("the peers are in `bench/peers/`; Nchan's config is `bench/nchan/nginx.conf.in`).")
p("")
p("## The machine")
p("")
cpu_model = shell("lscpu | sed -n 's/^Model name: *//p'")
memory_gib = shell("free -g | awk '/Mem:/ {print $2}'")
nginx_version = shell("nginx -v 2>&1 | sed 's/.*nginx.//'")
p(f"- date: {datetime.date.today().isoformat()}")
p(f"- cores: {os.cpu_count()} ({cpu_model})")
p(f"- memory: {memory_gib} GiB")
p(f"- kernel: {platform.release()}")
p(f"- rtweb: release build, `--threads 1` unless marked `rtweb-2t` (`--threads 2`); Nchan: "
  f"nginx {nginx_version} with libnginx-mod-nchan, one worker")
p("- the server under test is pinned to one core and the load tool to the other (`taskset -c`)")
p("")
p("## How to read these numbers")
p("")
p("Every ws-echo and poll-rate run reports, over its measurement window, the server's")
p("CPU time (`/proc/PID/stat`, all its threads), the load tool's (`/proc/self/stat`) and how")
p("busy the load tool's core was (`/proc/stat`). A run whose load core was ≥ 95% busy is")
p("**client-bound**: it measured the load tool, not the server. Its rate is shown only as a")
p("lower bound (\"≥\"), and no ratio is ever computed from it (\"cb\" in the per-round")
p("columns). Ratios are per round (the servers run back to back in each round), then the")
p("median of the server-bound rounds.")
p("")

p("## ws-echo: WebSocket echo, 100 connections, 16 messages in flight each")
p("")
p("`rtweb-bench ws-echo --conns 100 --inflight 16 --size S` against `/echo` (rtweb),")
p("uWebSockets' `EchoServer` example (when `UWS_DIR` was given), the tokio-tungstenite")
p("peer's echo (`bench/peers/tungstenite-echo`, one flush per batch) and the raw TCP echo")
p("floor (`bench/peers/tcp-echo`: same bytes, no protocol). The load tool writes frames")
p("built once, from a buffer.")
p("")
p("| size | server | messages/s | MB/s | RTT p50 µs | RTT p99 µs | server CPU µs/msg | load core busy % | client-bound runs |")
p("|---|---|---|---|---|---|---|---|---|")
echo_servers = ["floor", "rtweb", "uws", "rtweb-2t", "tungstenite"]
def rate_cell(scenario, target, metric, digits=0, **match):
    """Server-bound runs' median [min–max]; with none, a lower bound."""
    v = values(scenario, target, metric, **match)
    if v:
        return fmt(v, digits)
    every = values(scenario, target, metric, include_client_bound=True, **match)
    return f"≥ {max(every):,.{digits}f} (client-bound)" if every else "–"
for size in ["16", "1024", "65536"]:
    for target in echo_servers:
        if not matching("ws-echo", target, size=size):
            continue
        cb, n = bound_count("ws-echo", target, size=size)
        p(f"| {size} B | {target} | {rate_cell('ws-echo', target, 'msgs_per_s', size=size)} | "
          f"{rate_cell('ws-echo', target, 'mb_per_s', 1, size=size)} | "
          f"{fmt(values('ws-echo', target, 'rtt_p50_us', True, size=size))} | {fmt(values('ws-echo', target, 'rtt_p99_us', True, size=size))} | "
          f"{fmt(values('ws-echo', target, 'server_us_per_op', True, size=size), 3)} | "
          f"{fmt(values('ws-echo', target, 'load_core_busy_pct', True, size=size), 0)} | {cb} of {n} |")
p("")
p("Per-round ratios of messages/s (\"cb\": that round was client-bound on either side):")
p("")
p("| size | ratio | median | rounds |")
p("|---|---|---|---|")
pairs = [("rtweb", "uws"), ("rtweb", "floor"), ("uws", "floor"), ("rtweb", "tungstenite"), ("rtweb-2t", "rtweb")]
for size in ["16", "1024", "65536"]:
    for a, b in pairs:
        cells = ratio_cells("ws-echo", a, b, "msgs_per_s", size=size)
        if cells:
            p(f"| {size} B | {a} / {b} | {cells[0]} | {cells[1]} |")
p("")
cpu_pairs = []
for size in ["16", "1024"]:
    r, u = med(values("ws-echo", "rtweb", "server_us_per_op", True, size=size)), med(values("ws-echo", "uws", "server_us_per_op", True, size=size))
    if r and u:
        cpu_pairs.append((size, r, u))
        p(f"- {size} B: server CPU per message, rtweb {r:.3f} µs vs uWebSockets {u:.3f} µs (medians over all runs).")
if cpu_pairs:
    p("")

def syscall_table(path):
    """calls and errors by syscall from `strace -c` or `perf trace -s` output."""
    calls, errors = defaultdict(int), defaultdict(int)
    try:
        text = open(path).read()
    except OSError:
        return calls, errors
    for line in text.splitlines():
        t = line.split()
        if not t or t[0].startswith(("-", "%", "syscall")) or "total" in t:
            continue
        if "%" not in line and len(t) >= 3 and t[1].isdigit() and t[2].isdigit() and not t[0][0].isdigit():
            calls[t[0]] += int(t[1]); errors[t[0]] += int(t[2])            # perf trace -s
        elif len(t) in (5, 6) and t[-1].replace("_", "").isalnum() and t[3].isdigit():
            calls[t[-1]] += int(t[3]); errors[t[-1]] += int(t[4]) if len(t) == 6 else 0  # strace -c
    return calls, errors

READS = {"read", "recvfrom", "recvmsg", "readv"}
WRITES = {"write", "writev", "sendto", "sendmsg", "sendfile"}
EPOLL = {"epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl"}
if syscall_rows:
    p("## Syscalls per operation")
    p("")
    tools = {r.get("counted_by", "?") for r in syscall_rows}
    p(f"One run per server, its syscalls counted ({', '.join(sorted(tools))}: `strace -c -f -p PID`")
    p("or `perf trace -s -p PID`) from before the load connected until after it left, divided")
    p("by the messages (ws-echo) or requests (poll-rate) the load tool counted in the same run.")
    p("Tracing slows the server, which can only merge reads, so these are lower bounds on what")
    p("an untraced run makes; the rates of these runs are not reported.")
    p("")
    p("| scenario | server | per op: all | reads | of which EAGAIN | writes | epoll | ops counted |")
    p("|---|---|---|---|---|---|---|---|")
    for r in syscall_rows:
        calls, errors = syscall_table(r.get("syscalls_file", ""))
        ops = float(r.get("total_msgs") or r.get("total_requests") or 0)
        if not ops or not calls:
            continue
        what = f"ws-echo {r['size']} B" if r["scenario"] == "ws-echo" else f"poll-rate pipeline {r.get('pipeline', '1')}"
        per = lambda names, table=calls: sum(v for k, v in table.items() if k in names) / ops
        p(f"| {what} | {r['target']} | {sum(calls.values()) / ops:.2f} | {per(READS):.2f} | {per(READS, errors):.2f} | "
          f"{per(WRITES):.2f} | {per(EPOLL):.2f} | {ops:,.0f} |")
    p("")

fan = {}
for scenario, title in [("sse-fanout", "SSE"), ("ws-fanout", "WebSocket")]:
    if not matching(scenario, "rtweb"):
        continue
    p(f"## {scenario}: one channel to 10,000 {title} subscribers")
    p("")
    p(f"`rtweb-bench {scenario} --subscribers 10000 --messages 100 --rate 100`: 100 messages")
    p("at 100/s, each carrying its publish time; the offered load (1M deliveries/s) is more")
    p("than either server delivers, so deliveries/s is capacity and latency includes queueing.")
    p("")
    p("| server | deliveries/s | p50 ms | p99 ms | max ms | lost | duplicated |")
    p("|---|---|---|---|---|---|---|")
    for target in ["rtweb", "rtweb-2t", "nchan", "tungstenite"]:
        d = values(scenario, target, "deliveries_per_s")
        if not d:
            continue
        lost = int(sum(values(scenario, target, "lost")))
        dup = int(sum(values(scenario, target, "duplicated")))
        p(f"| {target} | {fmt(d)} | {fmt(values(scenario, target, 'p50_ms'), 1)} | {fmt(values(scenario, target, 'p99_ms'), 1)} | "
          f"{fmt(values(scenario, target, 'max_ms'), 1)} | {lost} | {dup} |")
    v = paired(scenario, "rtweb", "nchan", "deliveries_per_s")
    fan[scenario] = (v, med(values(scenario, "rtweb", "p99_ms")), med(values(scenario, "nchan", "p99_ms")))
    p("")
    p(f"rtweb delivers {x(v)} Nchan's rate (median of per-round ratios).")
    t = paired(scenario, "rtweb", "tungstenite", "deliveries_per_s")
    if t:
        p("")
        p(f"rtweb delivers {t:.2f}× the tokio-tungstenite peer's rate (its channel sockets: a")
        p("`tokio::sync::broadcast` per channel; its publisher is a WebSocket member, as it has no HTTP).")
    p("")

has_longpoll = bool(matching("longpoll-wake", "rtweb"))
if has_longpoll:
  p("## longpoll-wake: 10,000 parked long polls, one publish")
  p("")
  p("`rtweb-bench longpoll-wake --waiters 10000 --messages 1000`: the time until all")
  p("10,000 have their answer; then one client long-polls in a loop while 1,000 messages")
  p("are published (rtweb resumes with `after=`, Nchan with `If-Modified-Since`/`If-None-Match`).")
  p("")
  p("| server | all answered (ms) | loop requests | lost |")
  p("|---|---|---|---|")
  for target in ["rtweb", "nchan"]:
      p(f"| {target} | {fmt(values('longpoll-wake', target, 'all_answered_ms'), 1)} | "
        f"{fmt(values('longpoll-wake', target, 'loop_requests'))} | {int(sum(values('longpoll-wake', target, 'lost')))} |")
  p("")

p("## poll-rate: 50 keep-alive connections polling as fast as they are answered")
p("")
p("`rtweb-bench poll-rate --conns 50 --pipeline P`: P requests in flight per connection")
p("(1: keep-alive, ask again on each answer; 16: pipelined). rtweb: `/poll?after=0` on an")
p("empty channel, 200 with an empty list; nginx: a static file holding the same 27 bytes,")
p("one worker (`bench/nginx-static/nginx.conf.in`); Nchan: interval-poll, 304.")
p("")
p("| pipeline | server | requests/s | p50 µs | p99 µs | server CPU µs/request | load core busy % | client-bound runs |")
p("|---|---|---|---|---|---|---|---|")
for pipeline in ["1", "16"]:
    for target in ["rtweb", "rtweb-2t", "nginx", "nchan"]:
        if not matching("poll-rate", target, pipeline=pipeline):
            continue
        cb, n = bound_count("poll-rate", target, pipeline=pipeline)
        p(f"| {pipeline} | {target} | {rate_cell('poll-rate', target, 'requests_per_s', pipeline=pipeline)} | "
          f"{fmt(values('poll-rate', target, 'p50_us', True, pipeline=pipeline))} | {fmt(values('poll-rate', target, 'p99_us', True, pipeline=pipeline))} | "
          f"{fmt(values('poll-rate', target, 'server_us_per_op', True, pipeline=pipeline), 3)} | "
          f"{fmt(values('poll-rate', target, 'load_core_busy_pct', True, pipeline=pipeline), 0)} | {cb} of {n} |")
p("")
for pipeline in ["1", "16"]:
    for b in ["nginx", "nchan"]:
        cells = ratio_cells("poll-rate", "rtweb", b, "requests_per_s", pipeline=pipeline)
        if cells:
            p(f"- pipeline {pipeline}: rtweb / {b} = {cells[0]} (rounds: {cells[1]})")
p("")

idle = {}
if matching("idle-memory", "rtweb", kind="http"):
  p("## idle-memory: what an idle connection costs")
  p("")
  p("`rtweb-bench idle-memory --kind K --conns 10000 --pid PID`: the server's resident memory")
  p("(all its processes) after 10,000 idle connections of one kind, minus before, divided")
  p("by 10,000 — on a freshly started server warmed with 100 connections. Kernel socket")
  p("buffers are not in any process's RSS and are the same for both.")
  p("")
  p("| kind | rtweb bytes/conn | Nchan bytes/conn |")
  p("|---|---|---|")
  for kind in ["http", "sse", "longpoll", "websocket"]:
      r = values("idle-memory", "rtweb", "bytes_per_conn", kind=kind)
      n = values("idle-memory", "nchan", "bytes_per_conn", kind=kind)
      idle[kind] = (med(r), med(n))
      p(f"| {kind} | {fmt(r)} | {fmt(n)} |")
  p("")

p("## Targets")
p("")
p("| target | measured | met |")
p("|---|---|---|")
def row(name, text, ok):
    p(f"| {name} | {text} | {'yes' if ok else '**no**'} |")
for size in ["16", "1024"]:
    v = paired("ws-echo", "rtweb", "uws", "msgs_per_s", size=size)
    row(f"ws-echo {size} B ≥ 1.0× uWebSockets", x(v, 3), bool(v and v >= 1.0))
for size, r, u in cpu_pairs:
    row(f"ws-echo {size} B server CPU/msg ≤ uWebSockets'", f"{r:.3f} vs {u:.3f} µs", r <= u)
for size in ["16", "1024"]:
    v = paired("ws-echo", "rtweb", "floor", "msgs_per_s", size=size)
    row(f"ws-echo {size} B ≥ 0.95× floor", x(v, 3), bool(v and v >= 0.95))
v = paired("ws-echo", "rtweb", "floor", "mb_per_s", size=65536)
row("ws-echo 64 KiB ≥ 0.95× floor bytes/s", x(v, 3), bool(v and v >= 0.95))
for size in ["16", "1024"]:
    v = paired("ws-echo", "rtweb", "tungstenite", "msgs_per_s", size=size)
    row(f"ws-echo {size} B ≥ 1.5× tokio-tungstenite", x(v), bool(v and v >= 1.5))
for scenario, (v, rp, np_) in fan.items():
    row(f"{scenario} ≥ 2× Nchan deliveries/s, p99 no worse", f"{x(v)}; p99 {rp} vs {np_} ms",
        bool(v and v >= 2 and rp is not None and np_ is not None and rp <= np_))
if has_longpoll:
    lr, ln = med(values("longpoll-wake", "rtweb", "all_answered_ms")), med(values("longpoll-wake", "nchan", "all_answered_ms"))
    row("longpoll-wake 10,000 sooner than Nchan", f"{lr} vs {ln} ms", bool(lr and ln and lr < ln))
for pipeline in ["1", "16"]:
    pv = paired("poll-rate", "rtweb", "nginx", "requests_per_s", pipeline=pipeline)
    row(f"poll-rate (pipeline {pipeline}) ≥ nginx static file", x(pv), bool(pv and pv >= 1))
pv = paired("poll-rate", "rtweb", "nchan", "requests_per_s", pipeline=1)
row("poll-rate ≥ Nchan", x(pv), bool(pv and pv >= 1))
for kind, (r, n) in idle.items():
    limit_ok = kind == "http" or (r is not None and r <= 4096)
    row(f"idle {kind} ≤ Nchan" + ("" if kind == "http" else " and ≤ 4 KiB"), f"{r} vs {n} B",
        bool(r is not None and n is not None and r <= n and limit_ok))
p("")
if failed:
    p("Runs that failed: " + "; ".join(f"`{f}`" for f in failed))
    p("")

p("## Microbenchmarks")
p("")
p("`cargo bench --bench micro` (median of 7 rounds of ~200 ms each):")
p("")
p("```text")
p(open(micro_path).read().rstrip() if os.path.exists(micro_path) else "(not run)")
p("```")
p("")
# Sections measured by their own scripts (bench/storage.sh, bench/deflate.sh,
# bench/cluster.sh), kept as their authors wrote them.
for name in ("results-store.md", "results-cluster.md"):
    own = os.path.join(os.path.dirname(__file__), name)
    if os.path.exists(own):
        p(open(own).read().rstrip())
        p("")
notes = os.path.join(os.path.dirname(__file__), "notes.md")
if os.path.exists(notes):
    p(open(notes).read().rstrip())
    p("")
print("\n".join(out))
