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
rows = []
for line in open(results_path):
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    if "failed" not in fields:
        rows.append(fields)
failed = [l.strip() for l in open(results_path) if "failed=1" in l]

def values(scenario, target, metric, **match):
    out = []
    for r in rows:
        if r.get("scenario") == scenario and r.get("target") == target and all(r.get(k) == str(v) for k, v in match.items()):
            out.append(float(r[metric]))
    return out

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

def paired(scenario, target, base, metric, **match):
    """The median over rounds of target/base measured in the same round:
    each round runs the two back to back, so machine drift between rounds
    cancels out."""
    by_round = defaultdict(dict)
    for r in rows:
        if r.get("scenario") == scenario and all(r.get(k) == str(v) for k, v in match.items()):
            by_round[r["round"]][r["target"]] = float(r[metric])
    ratios = [v[target] / v[base] for v in by_round.values() if v.get(target) and v.get(base)]
    return med(ratios)

def shell(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"

rounds = len({r["round"] for r in rows})
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
p("- the load tool shares the same two cores with the server under test")
p("")

p("## ws-echo: WebSocket echo, 100 connections, 16 messages in flight each")
p("")
p("`rtweb-bench ws-echo --conns 100 --inflight 16 --size S --seconds 3` against `/echo`")
p("(rtweb), the tokio-tungstenite peer's echo (`bench/peers/tungstenite-echo`) and the raw")
p("TCP echo floor (`bench/peers/tcp-echo`: same bytes, no protocol).")
p("")
p("\"vs floor\" is the median of the per-round ratios (each round runs the servers back to back).")
p("")
p("| size | server | messages/s | MB/s | RTT p50 µs | RTT p99 µs | vs floor |")
p("|---|---|---|---|---|---|---|")
echo_ratios = {}
for size in ["16", "1024", "65536"]:
    for target in ["floor", "rtweb", "rtweb-2t", "tungstenite"]:
        rate = values("ws-echo", target, "msgs_per_s", size=size)
        if not rate:
            continue
        vs_floor = paired("ws-echo", target, "floor", "msgs_per_s", size=size)
        echo_ratios[(size, target)] = vs_floor
        p(f"| {size} B | {target} | {fmt(rate)} | {fmt(values('ws-echo', target, 'mb_per_s', size=size), 1)} | "
          f"{fmt(values('ws-echo', target, 'rtt_p50_us', size=size))} | {fmt(values('ws-echo', target, 'rtt_p99_us', size=size))} | "
          f"{vs_floor:.3f}× |")
p("")
for size in ["16", "1024", "65536"]:
    v = paired("ws-echo", "rtweb", "tungstenite", "msgs_per_s", size=size)
    p(f"- {size} B: rtweb is {v:.2f}× tokio-tungstenite (median of per-round ratios).")
p("")

fan = {}
for scenario, title in [("sse-fanout", "SSE"), ("ws-fanout", "WebSocket")]:
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
    p(f"rtweb delivers {v:.2f}× Nchan's rate (median of per-round ratios).")
    t = paired(scenario, "rtweb", "tungstenite", "deliveries_per_s")
    if t:
        p("")
        p(f"rtweb delivers {t:.2f}× the tokio-tungstenite peer's rate (its channel sockets: a")
        p("`tokio::sync::broadcast` per channel; its publisher is a WebSocket member, as it has no HTTP).")
    p("")

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
p("`rtweb-bench poll-rate --conns 50 --seconds 3` (rtweb: `/poll?after=0` on an empty")
p("channel, 200 with an empty list; Nchan: interval-poll, 304).")
p("")
p("| server | requests/s | p50 µs | p99 µs |")
p("|---|---|---|---|")
for target in ["rtweb", "rtweb-2t", "nchan"]:
    v = values("poll-rate", target, "requests_per_s")
    if v:
        p(f"| {target} | {fmt(v)} | {fmt(values('poll-rate', target, 'p50_us'))} | {fmt(values('poll-rate', target, 'p99_us'))} |")
p("")

p("## idle-memory: what an idle connection costs")
p("")
p("`rtweb-bench idle-memory --kind K --conns 10000 --pid PID`: the server's resident memory")
p("(all its processes) after 10,000 idle connections of one kind, minus before, divided")
p("by 10,000 — on a freshly started server warmed with 100 connections. Kernel socket")
p("buffers are not in any process's RSS and are the same for both.")
p("")
p("| kind | rtweb bytes/conn | Nchan bytes/conn |")
p("|---|---|---|")
idle = {}
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
    v = echo_ratios.get((size, "rtweb"))
    row(f"ws-echo {size} B ≥ 0.9× floor", f"{v:.3f}×" if v else "–", bool(v and v >= 0.9))
v = echo_ratios.get(("65536", "rtweb"))
row("ws-echo 64 KiB ≥ 0.9× floor bytes/s", f"{v:.3f}×" if v else "–", bool(v and v >= 0.9))
for size in ["16", "1024"]:
    v = paired("ws-echo", "rtweb", "tungstenite", "msgs_per_s", size=size)
    row(f"ws-echo {size} B ≥ 1.5× tokio-tungstenite", f"{v:.2f}×", bool(v and v >= 1.5))
for scenario, (v, rp, np_) in fan.items():
    row(f"{scenario} ≥ 2× Nchan deliveries/s, p99 no worse", f"{v:.2f}×; p99 {rp:.0f} vs {np_:.0f} ms",
        bool(v and v >= 2 and rp is not None and np_ is not None and rp <= np_))
lr, ln = med(values("longpoll-wake", "rtweb", "all_answered_ms")), med(values("longpoll-wake", "nchan", "all_answered_ms"))
row("longpoll-wake 10,000 sooner than Nchan", f"{lr} vs {ln} ms", bool(lr and ln and lr < ln))
pr, pn = med(values("poll-rate", "rtweb", "requests_per_s")), med(values("poll-rate", "nchan", "requests_per_s"))
pv = paired("poll-rate", "rtweb", "nchan", "requests_per_s")
row("poll-rate ≥ Nchan", f"{pv:.2f}×", bool(pv and pv >= 1))
for kind, (r, n) in idle.items():
    limit_ok = kind == "http" or (r is not None and r <= 4096)
    row(f"idle {kind} ≤ Nchan" + ("" if kind == "http" else " and ≤ 4 KiB"), f"{r:.0f} vs {n:.0f} B",
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
