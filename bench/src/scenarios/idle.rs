//! `idle-memory`: N idle connections of one kind; the server's resident
//! memory growth divided by N.
//!
//! The measurement window runs from the first resident-memory reading
//! (after the warm-up) to the second: N connections opened, then a second
//! idle. The result line carries both sides' CPU time over it and `bound`
//! (see `cpu.rs`); it counts no operations, so no per-op figure.

use std::time::Duration;

use crate::cpu::Window;
use crate::net::{head_end, Net};
use crate::stats::report;
use crate::target::{get, ws_upgrade, Target};

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A keep-alive connection that made one request.
    Http,
    Sse,
    LongPoll,
    WebSocket,
}

pub struct Params {
    pub conns: usize,
    pub kind: Kind,
}

/// Resident set size of `pids`, in bytes (from /proc/PID/status).
pub fn rss(pids: &[u32]) -> u64 {
    pids.iter()
        .map(|pid| {
            let status =
                std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server pid");
            let line = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .expect("VmRSS");
            line.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<u64>().ok())
                .expect("kB")
                * 1024
        })
        .sum()
}

pub fn run(target: &Target, p: &Params) {
    let channel = format!("idle{}", crate::stats::unix_nanos() % 1_000_000_000);
    let request = match p.kind {
        Kind::Http => get(target.plain(), ""),
        Kind::Sse => get(&target.sse(&channel), "Accept: text/event-stream\r\n"),
        Kind::LongPoll => get(&target.longpoll(&channel), ""),
        Kind::WebSocket => ws_upgrade(&target.ws(&channel)),
    };
    // A parked long poll sends nothing back: established is all we can see.
    let expect_head = !matches!(p.kind, Kind::LongPoll);
    // Warm the server up (first-connection allocations are not per-connection cost).
    let mut warm = Net::new();
    for _ in 0..100 {
        let id = warm.connect(target.addr);
        warm.send(id, &request);
    }
    warm.run_until(Duration::from_millis(500), |_, _| false);
    drop(warm);
    std::thread::sleep(Duration::from_millis(500));

    // The server's processes (`target.pids`; nginx: master and worker).
    let before = rss(&target.pids);
    let window = Window::start(&target.pids);
    let mut net = Net::new();
    let mut answered = vec![!expect_head; p.conns];
    for batch in (0..p.conns).step_by(500) {
        for _ in batch..(batch + 500).min(p.conns) {
            let id = net.connect(target.addr);
            net.send(id, &request);
        }
        let end = (batch + 500).min(p.conns);
        net.run_until(Duration::from_secs(20), |net, ready| {
            for &id in ready {
                if head_end(&net.conns[id].input).is_some() {
                    answered[id] = true;
                    net.conns[id].input = Vec::new();
                }
            }
            answered[batch..end].iter().all(|&a| a)
        });
    }
    net.run_until(Duration::from_secs(1), |_, _| false);
    let usage = window.finish();
    let after = rss(&target.pids);
    let open = net.conns.iter().filter(|c| !c.closed).count();
    assert_eq!(open, p.conns, "the server closed idle connections");
    let mut fields = vec![
        ("scenario", "idle-memory".into()),
        ("target", target.name().into()),
        ("kind", format!("{:?}", p.kind).to_lowercase()),
        ("conns", p.conns.to_string()),
        ("rss_before_kib", (before / 1024).to_string()),
        ("rss_after_kib", (after / 1024).to_string()),
        (
            "bytes_per_conn",
            ((after.saturating_sub(before)) / p.conns as u64).to_string(),
        ),
    ];
    fields.extend(usage.fields(0));
    report(&fields);
}
