//! rtweb-bench: the load generator. One scenario per run, one result line.
//!
//! ```text
//! rtweb-bench SCENARIO --target rtweb|nchan|tungstenite|floor|uws|nginx --addr IP:PORT [options]
//!
//!   ws-echo        --conns 100 --inflight 16 --size 16 --seconds 5
//!   ws-deflate-echo  (same options) --client-takeover 0|1   (permessage-deflate)
//!   sse-fanout     --subscribers 10000 --messages 100 --rate 50 --size 64
//!   ws-fanout      (same options)
//!   ws-deflate-fanout  (same options; offers permessage-deflate)
//!   longpoll-wake  --waiters 10000 --messages 1000
//!   poll-rate      --conns 50 --seconds 5 --pipeline 1
//!   publish-rate   --conns 64 --seconds 5 --size 64 --channels 64
//!   fill           --conns 8 --channels 1000000 --per-channel 1 --size 1024
//!   idle-memory    --kind http|sse|longpoll|ws --conns 10000 --pid PID[,PID]
//! ```
//!
//! `--label NAME` names the target in the result line (e.g. `rtweb-2t`).
//! A cluster: `--nodes A,B,C` spreads the fan-out's subscribers and the
//! publish-rate's publishers over those nodes in turn, and
//! `--publish-addr IP:PORT` says where the fan-out publishes (default
//! `--addr`).
//! `--pid PID[,PID]` names the server's processes: every scenario but `fill`
//! then reports its CPU time over the measurement window beside the
//! client's (`cpu.rs`; without `--pid`, the client's alone).
//! Loopback only: every address must be 127.0.0.1 or ::1.

mod cpu;
mod net;
mod pmd;
mod scenarios;
mod stats;
mod target;

use std::collections::HashMap;
use std::net::SocketAddr;

use scenarios::{deflate_echo, echo, fanout, idle, longpoll, poll, publish};
use target::{Kind, Target};

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| usage("no scenario"));
    let mut options: HashMap<String, String> = HashMap::new();
    while let Some(flag) = args.next() {
        let key = flag
            .strip_prefix("--")
            .unwrap_or_else(|| usage(&format!("unexpected {flag}")))
            .to_owned();
        options.insert(
            key,
            args.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value"))),
        );
    }
    let number = |key: &str, default: u64| -> u64 {
        options.get(key).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("--{key} takes a number")))
        })
    };
    let addr: SocketAddr = options
        .get("addr")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage("--addr IP:PORT"));
    assert!(addr.ip().is_loopback(), "load goes to loopback only");
    let kind = match options.get("target").map(String::as_str) {
        Some("rtweb") => Kind::Rtweb,
        Some("nchan") => Kind::Nchan,
        Some("tungstenite") => Kind::Tungstenite,
        Some("floor") => Kind::Floor,
        Some("uws") => Kind::Uws,
        Some("nginx") => Kind::NginxStatic,
        _ => usage("--target rtweb|nchan|tungstenite|floor|uws|nginx"),
    };
    let label = options.get("label").cloned();
    let parse_addr = |a: &str| -> SocketAddr {
        let addr: SocketAddr = a
            .parse()
            .unwrap_or_else(|_| usage(&format!("`{a}` is not IP:PORT")));
        assert!(addr.ip().is_loopback(), "load goes to loopback only");
        addr
    };
    let nodes = options
        .get("nodes")
        .map_or(vec![addr], |list| list.split(',').map(parse_addr).collect());
    let publish_addr = options.get("publish-addr").map_or(addr, |a| parse_addr(a));
    let pids: Vec<u32> = options
        .get("pid")
        .map(|list| {
            list.split(',')
                .map(|p| {
                    p.parse()
                        .unwrap_or_else(|_| usage("--pid takes process ids"))
                })
                .collect()
        })
        .unwrap_or_default();
    let target = Target {
        kind,
        addr,
        label,
        nodes,
        publish_addr,
        pids,
    };
    match scenario.as_str() {
        "ws-echo" => echo::run(
            &target,
            &echo::Params {
                conns: number("conns", 100) as usize,
                inflight: number("inflight", 16) as usize,
                size: number("size", 16) as usize,
                seconds: number("seconds", 5),
            },
        ),
        "ws-deflate-echo" => deflate_echo::run(
            &target,
            &deflate_echo::Params {
                conns: number("conns", 100) as usize,
                inflight: number("inflight", 16).max(1) as usize,
                size: number("size", 16) as usize,
                seconds: number("seconds", 5),
                client_takeover: number("client-takeover", 0) != 0,
            },
        ),
        "sse-fanout" | "ws-fanout" | "ws-deflate-fanout" => {
            let transport = match scenario.as_str() {
                "sse-fanout" => fanout::Transport::Sse,
                "ws-fanout" => fanout::Transport::WebSocket,
                _ => fanout::Transport::WebSocketDeflate,
            };
            let params = fanout::Params {
                subscribers: number("subscribers", 10_000) as usize,
                messages: number("messages", 100),
                rate: number("rate", 50),
                size: number("size", 64) as usize,
            };
            fanout::run(&target, transport, &params);
        }
        "longpoll-wake" => longpoll::run(
            &target,
            &longpoll::Params {
                waiters: number("waiters", 10_000) as usize,
                messages: number("messages", 1000),
            },
        ),
        "poll-rate" => poll::run(
            &target,
            &poll::Params {
                conns: number("conns", 50) as usize,
                seconds: number("seconds", 5),
                pipeline: number("pipeline", 1).max(1) as usize,
            },
        ),
        "publish-rate" => publish::rate(
            &target,
            &publish::Params {
                conns: number("conns", 64) as usize,
                seconds: number("seconds", 5),
                size: number("size", 64) as usize,
                channels: number("channels", 64) as usize,
            },
        ),
        "fill" => publish::fill(
            &target,
            &publish::FillParams {
                conns: number("conns", 8) as usize,
                channels: number("channels", 1_000_000) as usize,
                per_channel: number("per-channel", 1) as usize,
                size: number("size", 1024) as usize,
            },
        ),
        "idle-memory" => {
            let kind = match options.get("kind").map(String::as_str) {
                Some("http") => idle::Kind::Http,
                Some("sse") => idle::Kind::Sse,
                Some("longpoll") => idle::Kind::LongPoll,
                Some("ws") => idle::Kind::WebSocket,
                _ => usage("--kind http|sse|longpoll|ws"),
            };
            if target.pids.is_empty() {
                usage("--pid PID[,PID]");
            }
            idle::run(
                &target,
                &idle::Params {
                    conns: number("conns", 10_000) as usize,
                    kind,
                },
            );
        }
        other => usage(&format!("unknown scenario {other}")),
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "rtweb-bench: {problem}\n(see the top of bench/src/main.rs for scenarios and options)"
    );
    std::process::exit(2);
}
