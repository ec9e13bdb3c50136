//! `ws-echo`: C connections, W messages of S bytes in flight on each;
//! messages/s, MB/s and round-trip percentiles.
//!
//! Against the raw TCP floor the same frame bytes are sent and the same
//! number of bytes awaited per message, with no handshake: what no
//! WebSocket server can beat on this machine.
//!
//! The frames are built once: `burst` holds `inflight` masked frames back
//! to back, and every reply is a prefix of it, written straight from there
//! (one `write` per connection per wake-up). The result line carries the
//! client's and the server's CPU time over the measurement window, and
//! `bound=client` when the client's core was saturated (see `cpu.rs`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtweb::ws::frame::{write_client_frame, FrameHeader};
use rtweb::ws::OpCode;

use crate::cpu::Window;
use crate::net::{head_end, Net};
use crate::stats::{report, Samples};
use crate::target::{ws_upgrade, Kind, Target};

pub struct Params {
    pub conns: usize,
    pub inflight: usize,
    pub size: usize,
    pub seconds: u64,
}

pub fn run(target: &Target, p: &Params) {
    let mut frame = Vec::new();
    write_client_frame(
        &mut frame,
        true,
        OpCode::Binary,
        &vec![b'x'; p.size],
        [1, 2, 3, 4],
    );
    let floor = target.kind == Kind::Floor;
    let mut net = Net::new();
    for _ in 0..p.conns {
        let id = net.connect(target.addr);
        if !floor {
            net.send(id, &ws_upgrade(target.echo()));
        }
    }
    // Handshakes first, untimed.
    let mut open = vec![floor; p.conns];
    let all_open = net.run_until(Duration::from_secs(10), |net, ready| {
        for &id in ready {
            if !open[id] {
                if let Some(end) = head_end(&net.conns[id].input) {
                    assert!(
                        net.conns[id].input.starts_with(b"HTTP/1.1 101"),
                        "handshake refused"
                    );
                    net.conns[id].input.drain(..end);
                    open[id] = true;
                }
            }
        }
        open.iter().all(|&o| o)
    });
    assert!(all_open, "handshakes did not complete");

    let mut sent_at: Vec<VecDeque<Instant>> = vec![VecDeque::with_capacity(p.inflight); p.conns];
    let burst: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * p.inflight)
        .collect();
    let start = Instant::now();
    for (id, in_flight) in sent_at.iter_mut().enumerate() {
        net.send(id, &burst);
        in_flight.extend(std::iter::repeat_n(start, p.inflight));
    }
    // Measure after a one-second warm-up.
    let warmup_end = start + Duration::from_secs(1);
    let end = warmup_end + Duration::from_secs(p.seconds);
    let (mut counted, mut total, mut rtt) = (0u64, 0u64, Samples::default());
    let mut window: Option<Window> = None;
    let echo_len = if floor { frame.len() } else { frame.len() - 4 };
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
            let mut at = 0;
            let mut complete = 0;
            loop {
                let len = if floor {
                    (input.len() - at >= echo_len).then_some(echo_len)
                } else {
                    match FrameHeader::parse(&input[at..]).expect("valid frame") {
                        Some((h, n)) if input.len() - at >= n + h.payload_len as usize => {
                            Some(n + h.payload_len as usize)
                        }
                        _ => None,
                    }
                };
                let Some(len) = len else { break };
                at += len;
                complete += 1;
            }
            input.drain(..at);
            total += complete as u64;
            for _ in 0..complete {
                let sent = sent_at[id].pop_front().expect("a message was in flight");
                if now >= warmup_end {
                    counted += 1;
                    rtt.push(now.duration_since(sent).as_micros() as u64);
                }
                sent_at[id].push_back(now);
            }
            // All replies of one wake-up in one write, from the pre-built
            // frames: at most `inflight` were in flight, so `burst` holds them.
            net.send(id, &burst[..complete * frame.len()]);
        }
    }
    let usage = window.expect("the run outlasts its warm-up").finish();
    let rate = counted as f64 / usage.seconds;
    let mut fields = vec![
        ("scenario", "ws-echo".into()),
        ("target", target.name().into()),
        ("conns", p.conns.to_string()),
        ("inflight", p.inflight.to_string()),
        ("size", p.size.to_string()),
        ("msgs_per_s", format!("{rate:.0}")),
        ("mb_per_s", format!("{:.1}", rate * p.size as f64 / 1e6)),
        ("rtt_p50_us", rtt.percentile(50.0).to_string()),
        ("rtt_p99_us", rtt.percentile(99.0).to_string()),
        ("total_msgs", total.to_string()),
    ];
    fields.extend(usage.fields(counted));
    report(&fields);
}
