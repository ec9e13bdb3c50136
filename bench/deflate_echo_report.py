"""Tables (markdown) from bench/deflate-echo.sh's result lines.

Usage: python3 bench/deflate_echo_report.py target/bench-deflate-echo/results.txt

Per round: both servers' messages/s, server CPU per message, the load
tool's CPU and its core's busy share; a round where either run was
client-bound (load core >= 95% busy) gives no ratio. Then medians [min–max]
over the rounds and the median of the per-round ratios rtweb/uWS.
"""
import statistics
import sys
from collections import defaultdict

SERVERS = ["rtweb", "uws", "uws-shared"]
NAMES = {"uws": "uWS", "uws-shared": "uWS shared"}

rows, failed = [], []
for line in open(sys.argv[1]):
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    (failed if "failed" in fields else rows).append(fields)

by = defaultdict(dict)  # (size, round) -> server -> fields
for r in rows:
    by[(int(r["size"]), int(r["round"]))][r["target"]] = r
sizes = sorted({s for s, _ in by})
rounds = sorted({n for _, n in by})


def num(r, key):
    return float(r[key]) if r and key in r else None


def spread(vs, digits=0):
    vs = [v for v in vs if v is not None]
    if not vs:
        return "–"
    f = f"{{:,.{digits}f}}"
    m = statistics.median(vs)
    return f.format(m) if len(vs) == 1 else f"{f.format(m)} [{f.format(min(vs))}–{f.format(max(vs))}]"


def server_pct(r):
    """The server's CPU over the window, as a share of one core."""
    window = num(r, "client_cpu_s") / num(r, "client_cpu_pct") * 100 if num(r, "client_cpu_pct") else None
    return 100 * num(r, "server_cpu_s") / window if window else float("nan")


def bound(r):
    return r is not None and r.get("bound") == "client"


out = []
p = out.append
p("Per run (`server µs/msg`: the server's CPU per echoed message; `client`: the load")
p("tool's CPU over the measured window; `load core`: how busy its core was, with anything):")
p("")
p("| size | round | server | messages/s | server µs/msg | server CPU % | client CPU % | load core % | bound | rtweb / this |")
p("|---|---|---|---|---|---|---|---|---|---|")
ratios = defaultdict(lambda: defaultdict(list))
excluded = defaultdict(lambda: defaultdict(int))
for size in sizes:
    for n in rounds:
        runs = by[(size, n)]
        a = runs.get("rtweb")
        for server in SERVERS:
            r = runs.get(server)
            if r is None:
                continue
            ratio = ""
            if server != "rtweb":
                ra, rb = num(a, "msgs_per_s"), num(r, "msgs_per_s")
                if ra and rb and not bound(a) and not bound(r):
                    ratios[server][size].append(ra / rb)
                    ratio = f"{ra / rb:.2f}×"
                else:
                    excluded[server][size] += 1
                    ratio = "(client-bound)" if bound(a) or bound(r) else "–"
            p(f"| {size} B | {n} | {NAMES.get(server, server)} | {num(r, 'msgs_per_s'):,.0f} | "
              f"{num(r, 'server_us_per_op'):.2f} | {server_pct(r):.0f} | {num(r, 'client_cpu_pct'):.0f} | "
              f"{num(r, 'load_core_busy_pct'):.0f} | "
              f"{r.get('bound')} | {ratio} |")
p("")
p("Medians [min–max] over the rounds:")
p("")
p("| size | server | messages/s | server µs/msg | server CPU % | client CPU % | RTT p50 µs | wire B/msg out→in | agreed |")
p("|---|---|---|---|---|---|---|---|---|")
for size in sizes:
    for server in SERVERS:
        rs = [by[(size, n)][server] for n in rounds if server in by[(size, n)]]
        if not rs:
            continue
        secs = [server_pct(r) for r in rs if num(r, "client_cpu_pct")]
        wire = f"{statistics.median(num(r, 'wire_out_b') for r in rs):,.0f}→{statistics.median(num(r, 'wire_in_b') for r in rs):,.0f}"
        agreed = sorted({r.get("agreed", "?") for r in rs})
        frames = sorted({r.get("client_frames", "?") for r in rs})
        p(f"| {size} B | {NAMES.get(server, server)} | {spread([num(r, 'msgs_per_s') for r in rs])} | "
          f"{spread([num(r, 'server_us_per_op') for r in rs], 2)} | {spread(secs)} | "
          f"{spread([num(r, 'client_cpu_pct') for r in rs])} | {spread([num(r, 'rtt_p50_us') for r in rs])} | {wire} | "
          f"`{', '.join(agreed)}` ({', '.join(frames)}) |")
p("")
for server in SERVERS[1:]:
    for size in sizes:
        rs = ratios[server][size]
        if not rs and not excluded[server][size]:
            continue
        text = f"{statistics.median(rs):.2f}× [{min(rs):.2f}–{max(rs):.2f}] over {len(rs)} rounds" if rs else "no round to quote"
        skipped = f"; {excluded[server][size]} round(s) without a ratio (client-bound or failed)" if excluded[server][size] else ""
        p(f"- {size} B: rtweb / {NAMES[server]} messages/s, median of per-round ratios: {text}{skipped}.")
p("")
p("Server CPU per message (all rounds, client-bound or not: a per-message cost):")
p("")
for server in SERVERS[1:]:
    for size in sizes:
        mine = [num(by[(size, n)]["rtweb"], "server_us_per_op") for n in rounds if "rtweb" in by[(size, n)]]
        theirs = [num(by[(size, n)][server], "server_us_per_op") for n in rounds if server in by[(size, n)]]
        if mine and theirs:
            m, t = statistics.median(mine), statistics.median(theirs)
            p(f"- {size} B: rtweb {m:.2f} µs vs {NAMES[server]} {t:.2f} µs: rtweb spends {m / t:.2f}× its CPU per message.")
if failed:
    p("")
    p("Failed runs: " + "; ".join(f"round {f.get('round')} {f.get('target')} {f.get('size')} B" for f in failed))
print("\n".join(out))
