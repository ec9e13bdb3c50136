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

def round_pairs(scenario, target, base, **match):
    """The runs of `target` and `base` in each round that ran both, in round
    order."""
    by_round = defaultdict(dict)
    for r in rows:
        if r.get("scenario") == scenario and all(r.get(k) == str(v) for k, v in match.items()):
            by_round[r["round"]][r["target"]] = r
    for _, runs in sorted(by_round.items(), key=lambda kv: int(kv[0])):
        a, b = runs.get(target), runs.get(base)
        if a and b:
            yield a, b

def round_ratios(scenario, target, base, metric, **match):
    """target/base per round, in round order; None for a round where either
    run was client-bound (its number is the client's, not the server's)."""
    return [None if client_bound(a) or client_bound(b) or not float(b[metric])
            else float(a[metric]) / float(b[metric])
            for a, b in round_pairs(scenario, target, base, **match)]

def round_bounds(scenario, target, base, metric, **match):
    """Per round, for a rate: "≤" and target/base when only `base` was
    client-bound (its capacity is at least what it did, so the ratio is at
    most this), "≥" when only `target` was, None when both or neither."""
    return [None if client_bound(a) == client_bound(b) or not float(b[metric])
            else ("≥" if client_bound(a) else "≤", float(a[metric]) / float(b[metric]))
            for a, b in round_pairs(scenario, target, base, **match)]

def upper_bounds(scenario, target, base, metric, **match):
    """The rounds' upper bounds on target/base (see round_bounds)."""
    return [ratio for sign, ratio in filter(None, round_bounds(scenario, target, base, metric, **match))
            if sign == "≤"]

def paired(scenario, target, base, metric, **match):
    """The median over rounds of target/base measured in the same round:
    each round runs the two back to back, so machine drift between rounds
    cancels out. Client-bound rounds are left out; None if none is left."""
    return med([v for v in round_ratios(scenario, target, base, metric, **match) if v is not None])

def ratio_text(scenario, target, base, metric, digits=2, **match):
    """paired() as text: "–" with no round that ran both, "client-bound" when
    every such round was (never a ratio computed from a client-bound run)."""
    per_round = round_ratios(scenario, target, base, metric, **match)
    if not per_round:
        return "–"
    m = paired(scenario, target, base, metric, **match)
    return f"{m:.{digits}f}×" if m else "client-bound"

def ratio_cells(scenario, target, base, metric, **match):
    """The median ratio and each round's, client-bound rounds marked."""
    per_round = round_ratios(scenario, target, base, metric, **match)
    if not per_round:
        return None
    bounds = round_bounds(scenario, target, base, metric, **match)
    rounds_text = " ".join(
        f"{v:.2f}" if v is not None else (f"{bound[0]}{bound[1]:.2f}" if bound else "cb")
        for v, bound in zip(per_round, bounds))
    return ratio_text(scenario, target, base, metric, 3, **match), rounds_text

def rate_cell(scenario, target, metric, digits=0, lower_is_better=False, **match):
    """Server-bound runs' median [min–max]; with none, a bound on the
    server's figure: a client-bound rate is a lower bound ("≥"), a
    client-bound time an upper bound ("≤")."""
    v = values(scenario, target, metric, **match)
    if v:
        return fmt(v, digits)
    every = values(scenario, target, metric, include_client_bound=True, **match)
    if not every:
        return "–"
    sign, best = ("≤", min(every)) if lower_is_better else ("≥", max(every))
    return f"{sign} {best:,.{digits}f} (client-bound)"

def median_text(scenario, target, metric, digits=1, **match):
    """The median of the server-bound runs and its text, for a comparison
    between servers: "–" without runs, "client-bound" when every run was."""
    v = values(scenario, target, metric, **match)
    if v:
        return med(v), f"{med(v):,.{digits}f}"
    return None, "client-bound" if matching(scenario, target, **match) else "–"

def cpu_columns(op=None):
    """The header cells cpu_cells fills: the server's CPU per `op` (none for
    a scenario that counts no operations), then who set the figure."""
    return ([f"server CPU µs/{op}"] if op else []) + ["client CPU %", "load core busy %", "client-bound runs"]

def cpu_cells(scenario, target, per_op=True, **match):
    """Both sides' CPU over the measurement window, every run's (cpu.rs):
    the cells beside each figure that say whether it is the server's."""
    every = lambda metric, digits=0: fmt(values(scenario, target, metric, True, **match), digits)
    cb, n = bound_count(scenario, target, **match)
    return ([every("server_us_per_op", 3)] if per_op else []) + [
        every("client_cpu_pct"), every("load_core_busy_pct"), f"{cb} of {n}"]

def table(*columns):
    """A markdown table's header; returns a function printing one row."""
    p("| " + " | ".join(columns) + " |")
    p("|" + "---|" * len(columns))
    return lambda *cells: p("| " + " | ".join(cells) + " |")

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
if os.environ.get("UWS_VERSION"):
    p(f"- uWebSockets: {os.environ['UWS_VERSION']} (`EchoServer` built by `bench/lib.sh`)")
p("- the server under test is pinned to one core and the load tool to the other (`taskset -c`)")
p("")
p("## How to read these numbers")
p("")
p("Every run (ws-echo, the fan-outs, longpoll-wake, poll-rate, idle-memory) reports, over its")
p("measurement window, the server's CPU time (`/proc/PID/stat`, all its threads), the load")
p("tool's (`/proc/self/stat`, as \"client CPU %\" of the window) and how busy the load tool's")
p("core was (`/proc/stat`); every table shows them beside its figures. A run whose load core")
p("(or the load tool itself) was ≥ 95% busy is **client-bound**: it measured the load tool,")
p("not the server. Its rate is shown only as a bound on the server's (\"≥\" a rate, \"≤\" a")
p("time), and no ratio or comparison between servers is ever computed from it (\"cb\" in the")
p("per-round columns, \"client-bound\" where a ratio would be). Ratios are per round (the")
p("servers run back to back in each round), then the median of the server-bound rounds.")
p("")

p("## ws-echo: WebSocket echo, 100 connections, 16 messages in flight each")
p("")
p("`rtweb-bench ws-echo --conns 100 --inflight 16 --size S` against `/echo` (rtweb),")
p("uWebSockets' `EchoServer` example (when `UWS_DIR` was given), the tokio-tungstenite")
p("peer's echo (`bench/peers/tungstenite-echo`, one flush per batch) and the raw TCP echo")
p("floor (`bench/peers/tcp-echo`: same bytes, no protocol). The load tool copies no")
p("message bytes: it writes frames built once, straight from that buffer, and counts")
p("replies straight from its read buffer; the floor's replies, all of one length, are")
p("counted without being copied out of the kernel (`recv` with `MSG_TRUNC`), and from")
p("16 KiB on a WebSocket reply's payload is too, once its header has been read.")
p("")
add = table("size", "server", "messages/s", "MB/s", "RTT p50 µs", "RTT p99 µs", *cpu_columns("msg"))
echo_servers = ["floor", "rtweb", "uws", "rtweb-2t", "tungstenite"]
for size in ["16", "1024", "65536"]:
    for target in echo_servers:
        if not matching("ws-echo", target, size=size):
            continue
        add(f"{size} B", target, rate_cell("ws-echo", target, "msgs_per_s", size=size),
            rate_cell("ws-echo", target, "mb_per_s", 1, size=size),
            fmt(values("ws-echo", target, "rtt_p50_us", True, size=size)),
            fmt(values("ws-echo", target, "rtt_p99_us", True, size=size)),
            *cpu_cells("ws-echo", target, size=size))
p("")
p("Per-round ratios of messages/s. \"cb\": both sides of that round were client-bound. \"≤\" (\"≥\"):")
p("only the second (first) server was, so its rate is a lower bound and the ratio a bound; the")
p("median counts only rounds where both were server-bound.")
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
    # Paired by round like every other ratio here (the machine drifts
    # between rounds, not within one), and like them only from rounds where
    # both were server-bound.
    each = round_ratios("ws-echo", "rtweb", "uws", "server_us_per_op", size=size)
    if each:
        ratio = paired("ws-echo", "rtweb", "uws", "server_us_per_op", size=size)
        cpu_pairs.append((size, ratio, sum(v is not None for v in each)))
        rounds = " ".join(f"{v:.2f}" if v is not None else "cb" for v in each)
        median = f"{ratio:.3f}×" if ratio else "client-bound"
        p(f"- {size} B: server CPU per message, rtweb / uWebSockets {median} (median of per-round "
          f"ratios; rounds: {rounds}, \"cb\" where either was client-bound, not counted).")
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
    add = table("server", "deliveries/s", "p50 ms", "p99 ms", "max ms", "lost", "duplicated", *cpu_columns("delivery"))
    for target in ["rtweb", "rtweb-2t", "nchan", "tungstenite"]:
        if not matching(scenario, target):
            continue
        every = lambda metric: values(scenario, target, metric, True)
        add(target, rate_cell(scenario, target, "deliveries_per_s"), fmt(every("p50_ms"), 1),
            fmt(every("p99_ms"), 1), fmt(every("max_ms"), 1), str(int(sum(every("lost")))),
            str(int(sum(every("duplicated")))), *cpu_cells(scenario, target))
    # The targets compare server-bound runs only.
    fan[scenario] = (paired(scenario, "rtweb", "nchan", "deliveries_per_s"),
                     ratio_text(scenario, "rtweb", "nchan", "deliveries_per_s"),
                     median_text(scenario, "rtweb", "p99_ms"), median_text(scenario, "nchan", "p99_ms"))
    p("")
    p(f"Deliveries/s, rtweb / Nchan: {fan[scenario][1]} (median of per-round ratios).")
    t = ratio_text(scenario, "rtweb", "tungstenite", "deliveries_per_s")
    if t != "–":
        p("")
        p(f"Deliveries/s, rtweb / the tokio-tungstenite peer: {t} (its channel sockets: a")
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
  p("The CPU columns cover the wake-up alone (tens of milliseconds: the 10 ms clock tick")
  p("makes them coarse).")
  p("")
  add = table("server", "all answered (ms)", "loop requests", "lost", *cpu_columns("wake"))
  for target in ["rtweb", "nchan"]:
      if not matching("longpoll-wake", target):
          continue
      add(target, rate_cell("longpoll-wake", target, "all_answered_ms", 1, lower_is_better=True),
          fmt(values("longpoll-wake", target, "loop_requests", True)),
          str(int(sum(values("longpoll-wake", target, "lost", True)))), *cpu_cells("longpoll-wake", target))
  p("")

p("## poll-rate: 50 keep-alive connections polling as fast as they are answered")
p("")
p("`rtweb-bench poll-rate --conns 50 --pipeline P`: P requests in flight per connection")
p("(1: keep-alive, ask again on each answer; 16: pipelined). rtweb: `/poll?after=0` on an")
p("empty channel, 200 with an empty list; nginx: a static file holding the same 27 bytes,")
p("one worker (`bench/nginx-static/nginx.conf.in`); Nchan: interval-poll, 304.")
p("")
add = table("pipeline", "server", "requests/s", "p50 µs", "p99 µs", *cpu_columns("request"))
for pipeline in ["1", "16"]:
    for target in ["rtweb", "rtweb-2t", "nginx", "nchan"]:
        if not matching("poll-rate", target, pipeline=pipeline):
            continue
        add(pipeline, target, rate_cell("poll-rate", target, "requests_per_s", pipeline=pipeline),
            fmt(values("poll-rate", target, "p50_us", True, pipeline=pipeline)),
            fmt(values("poll-rate", target, "p99_us", True, pipeline=pipeline)),
            *cpu_cells("poll-rate", target, pipeline=pipeline))
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
  p("buffers are not in any process's RSS and are the same for both. The CPU columns cover")
  p("opening the connections and a second idle; memory does not depend on how fast the")
  p("client opened them, so bytes/conn counts client-bound runs too.")
  p("")
  add = table("kind", "server", "bytes/conn", *cpu_columns())
  for kind in ["http", "sse", "longpoll", "websocket"]:
      memory = {target: values("idle-memory", target, "bytes_per_conn", True, kind=kind) for target in ["rtweb", "nchan"]}
      idle[kind] = (med(memory["rtweb"]), med(memory["nchan"]))
      for target, v in memory.items():
          if matching("idle-memory", target, kind=kind):
              add(kind, target, fmt(v), *cpu_cells("idle-memory", target, per_op=False, kind=kind))
  p("")

p("## Targets")
p("")
p("| target | measured | met |")
p("|---|---|---|")
def row(name, text, ok):
    # A ratio no server-bound round could give is unknown, not missed.
    met = "not measured here" if text == "client-bound" else ("yes" if ok else "**no**")
    p(f"| {name} | {text} | {met} |")
def ratio_row(name, scenario, base, metric, least, **match):
    """A "rtweb ≥ least × base" target, from every round that says
    something: rounds server-bound on both sides give the ratio; rounds
    where only `base` was client-bound bound it from above (`base` could
    have done more). If those bounds put the ratio below `least`, the target
    is missed, whatever the server-bound rounds say."""
    v = paired(scenario, "rtweb", base, metric, **match)
    text = ratio_text(scenario, "rtweb", base, metric, 3, **match)
    bounds = upper_bounds(scenario, "rtweb", base, metric, **match)
    bound = med(bounds)
    if bound is None or bound >= least:
        row(name, text, bool(v and v >= least))
        return
    exact = [r for r in round_ratios(scenario, "rtweb", base, metric, **match) if r is not None]
    def rounds(n):
        return f"{n} round" + ("" if n == 1 else "s")
    parts = ([f"{v:.3f}× ({rounds(len(exact))})"] if v else []) + \
        [f"≤ {bound:.3f}× ({rounds(len(bounds))}, {base} client-bound)"]
    p(f"| {name} | {'; '.join(parts)} | **no** |")

for size in ["16", "1024"]:
    ratio_row(f"ws-echo {size} B ≥ 1.0× uWebSockets", "ws-echo", "uws", "msgs_per_s", 1.0, size=size)
for size, ratio, n in cpu_pairs:
    text = f"{ratio:.3f}× ({n} round{'' if n == 1 else 's'})" if ratio else "client-bound"
    row(f"ws-echo {size} B server CPU/msg ≤ uWebSockets'", text, bool(ratio and ratio <= 1.0))
for size in ["16", "1024"]:
    ratio_row(f"ws-echo {size} B ≥ 0.95× floor", "ws-echo", "floor", "msgs_per_s", 0.95, size=size)
ratio_row("ws-echo 64 KiB ≥ 0.95× floor bytes/s", "ws-echo", "floor", "mb_per_s", 0.95, size=65536)
for size in ["16", "1024"]:
    v = paired("ws-echo", "rtweb", "tungstenite", "msgs_per_s", size=size)
    row(f"ws-echo {size} B ≥ 1.5× tokio-tungstenite", ratio_text("ws-echo", "rtweb", "tungstenite", "msgs_per_s", size=size), bool(v and v >= 1.5))
for scenario, (v, text, (rp, rp_text), (np_, np_text)) in fan.items():
    row(f"{scenario} ≥ 2× Nchan deliveries/s, p99 no worse", f"{text}; p99 {rp_text} vs {np_text} ms",
        bool(v and v >= 2 and rp is not None and np_ is not None and rp <= np_))
if has_longpoll:
    (lr, lr_text), (ln, ln_text) = (median_text("longpoll-wake", target, "all_answered_ms") for target in ["rtweb", "nchan"])
    row("longpoll-wake 10,000 sooner than Nchan", f"{lr_text} vs {ln_text} ms", bool(lr and ln and lr < ln))
for pipeline in ["1", "16"]:
    pv = paired("poll-rate", "rtweb", "nginx", "requests_per_s", pipeline=pipeline)
    row(f"poll-rate (pipeline {pipeline}) ≥ nginx static file", ratio_text("poll-rate", "rtweb", "nginx", "requests_per_s", pipeline=pipeline), bool(pv and pv >= 1))
pv = paired("poll-rate", "rtweb", "nchan", "requests_per_s", pipeline=1)
row("poll-rate ≥ Nchan", ratio_text("poll-rate", "rtweb", "nchan", "requests_per_s", pipeline=1), bool(pv and pv >= 1))
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
