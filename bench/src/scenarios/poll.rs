//! `poll-rate`: K keep-alive connections, each keeping P requests in flight
//! (`--pipeline P`, default 1: ask again as soon as the answer arrives);
//! requests/s and latency percentiles.
//!
//! rtweb answers `/poll` on an empty channel (200, an empty list); nginx
//! serves a static file of about the same size (`bench/nginx-static/`).
//! Requests are built once and written from that buffer, and the result
//! line carries both sides' CPU time, as in `ws-echo` (see `cpu.rs`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::cpu::Window;
use crate::net::{response_at, Net};
use crate::stats::{report, Samples};
use crate::target::{get, Target};

pub struct Params {
    pub conns: usize,
    pub seconds: u64,
    pub pipeline: usize,
}

pub fn run(target: &Target, p: &Params) {
    let mut net = Net::new();
    let request = get(&target.poll("pollrate"), "");
    let burst = request.repeat(p.pipeline);
    let start = Instant::now();
    let mut sent_at: Vec<VecDeque<Instant>> = vec![VecDeque::with_capacity(p.pipeline); p.conns];
    for (id, at) in sent_at.iter_mut().enumerate() {
        assert_eq!(net.connect(target.addr), id);
        net.send(id, &burst);
        at.extend(std::iter::repeat_n(Instant::now(), p.pipeline));
    }
    let warmup_end = start + Duration::from_secs(1);
    let end = warmup_end + Duration::from_secs(p.seconds);
    let (mut answered, mut total, mut latency, mut statuses_ok) =
        (0u64, 0u64, Samples::default(), true);
    let mut window: Option<Window> = None;
    loop {
        let ready = net.poll_once(Duration::from_millis(5)).to_vec();
        let now = Instant::now();
        if now >= end {
            break;
        }
        if window.is_none() && now >= warmup_end {
            window = Some(Window::start(&target.pids));
        }
        for id in ready {
            let input = &mut net.conns[id].input;
            let (mut at, mut complete) = (0, 0);
            while let Some((head, body)) = response_at(&input[at..]) {
                let status = &input[at..at + head];
                statuses_ok &=
                    status.starts_with(b"HTTP/1.1 200") || status.starts_with(b"HTTP/1.1 304");
                at += head + body;
                complete += 1;
            }
            input.drain(..at);
            total += complete as u64;
            for _ in 0..complete {
                let sent = sent_at[id].pop_front().expect("a request was in flight");
                if now >= warmup_end {
                    answered += 1;
                    latency.push(now.duration_since(sent).as_micros() as u64);
                }
                sent_at[id].push_back(now);
            }
            net.send(id, &burst[..complete * request.len()]);
        }
    }
    assert!(statuses_ok, "a poll was not answered 200 or 304");
    let usage = window.expect("the run outlasts its warm-up").finish();
    let mut fields = vec![
        ("scenario", "poll-rate".into()),
        ("target", target.name().into()),
        ("conns", p.conns.to_string()),
        ("pipeline", p.pipeline.to_string()),
        (
            "requests_per_s",
            format!("{:.0}", answered as f64 / usage.seconds),
        ),
        ("p50_us", latency.percentile(50.0).to_string()),
        ("p99_us", latency.percentile(99.0).to_string()),
        ("total_requests", total.to_string()),
    ];
    fields.extend(usage.fields(answered));
    report(&fields);
}
