//! Publishing, acknowledged: what the store costs.
//!
//! `publish-rate`: K keep-alive publishers, each POSTing again as soon as
//! its last message is acknowledged (`200 {"id":N}`: committed), spread
//! over `--channels` channels; acknowledged messages/s and latency
//! percentiles. `fill`: as fast as the server takes them, pipelined, one
//! message to each of `--channels` channels `--per-channel` times (for the
//! memory a million channels cost, and for start-up on a full store).
//!
//! `publish-rate` measures after a one-second warm-up, and its result line
//! carries both sides' CPU time over that window, the server's per
//! acknowledged message, and `bound=client` when the client's core was
//! saturated, as in `ws-echo` (see `cpu.rs`). `fill` times the whole run,
//! connections included, and reports no CPU.

use std::time::{Duration, Instant};

use crate::cpu::Window;
use crate::net::{take_response, Net};
use crate::stats::{report, Samples};
use crate::target::{post, Target};

pub struct Params {
    pub conns: usize,
    pub seconds: u64,
    pub size: usize,
    pub channels: usize,
}

pub fn rate(target: &Target, p: &Params) {
    let mut net = Net::new();
    let body = vec![b'p'; p.size];
    let requests: Vec<Vec<u8>> = (0..p.channels.max(1))
        .map(|c| post(&target.publish(&format!("rate{c}")), &body))
        .collect();
    let request_of = |id: usize| &requests[id % requests.len()];
    let start = Instant::now();
    let mut sent_at = vec![start; p.conns];
    for (id, at) in sent_at.iter_mut().enumerate() {
        assert_eq!(net.connect(target.node(id)), id);
        net.send(id, request_of(id));
        *at = Instant::now();
    }
    let warmup_end = start + Duration::from_secs(1);
    let end = warmup_end + Duration::from_secs(p.seconds);
    let (mut acknowledged, mut latency, mut refused) = (0u64, Samples::default(), 0u64);
    let mut window: Option<Window> = None;
    while Instant::now() < end {
        let ready = net.poll_once(Duration::from_millis(5)).to_vec();
        let now = Instant::now();
        if window.is_none() && now >= warmup_end {
            window = Some(Window::start(&target.pids));
        }
        for id in ready {
            while let Some((head, _)) = take_response(&mut net.conns[id].input) {
                // Any 2xx: Nchan answers 201 (delivered) or 202 (stored, no subscriber).
                if !head.starts_with(b"HTTP/1.1 2") {
                    refused += 1;
                } else if now >= warmup_end {
                    acknowledged += 1;
                    latency.push(now.duration_since(sent_at[id]).as_micros() as u64);
                }
                net.send(id, request_of(id));
                sent_at[id] = now;
            }
        }
    }
    assert_eq!(refused, 0, "publishes were refused");
    let usage = window.expect("the run outlasts its warm-up").finish();
    let mut fields = vec![
        ("scenario", "publish-rate".into()),
        ("target", target.name().into()),
        ("conns", p.conns.to_string()),
        ("channels", p.channels.to_string()),
        (
            "acknowledged_per_s",
            format!("{:.0}", acknowledged as f64 / usage.seconds),
        ),
        ("p50_us", latency.percentile(50.0).to_string()),
        ("p99_us", latency.percentile(99.0).to_string()),
    ];
    fields.extend(usage.fields(acknowledged));
    report(&fields);
}

pub struct FillParams {
    pub conns: usize,
    pub channels: usize,
    pub per_channel: usize,
    pub size: usize,
}

/// Publishes `per_channel` messages to each of `channels` channels named
/// `fill0`…, at most 64 requests in flight per connection.
pub fn fill(target: &Target, p: &FillParams) {
    const WINDOW: usize = 64;
    let mut net = Net::new();
    let body = vec![b'f'; p.size];
    let total = p.channels * p.per_channel;
    let mut next = 0usize;
    let mut in_flight = vec![0usize; p.conns];
    let start = Instant::now();
    for id in 0..p.conns {
        assert_eq!(net.connect(target.addr), id);
    }
    let send_more = |net: &mut Net, id: usize, in_flight: &mut [usize], next: &mut usize| {
        let mut batch = Vec::new();
        while in_flight[id] < WINDOW && *next < total {
            let channel = *next % p.channels;
            batch.extend_from_slice(&post(&target.publish(&format!("fill{channel}")), &body));
            in_flight[id] += 1;
            *next += 1;
        }
        if !batch.is_empty() {
            net.send(id, &batch);
        }
    };
    for id in 0..p.conns {
        send_more(&mut net, id, &mut in_flight, &mut next);
    }
    let mut done = 0usize;
    while done < total {
        let ready = net.poll_once(Duration::from_millis(50)).to_vec();
        for id in ready {
            while let Some((head, _)) = take_response(&mut net.conns[id].input) {
                assert!(
                    head.starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&head)
                );
                in_flight[id] -= 1;
                done += 1;
            }
            send_more(&mut net, id, &mut in_flight, &mut next);
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "fill took over 10 minutes"
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    report(&[
        ("scenario", "fill".into()),
        ("target", target.name().into()),
        ("channels", p.channels.to_string()),
        ("messages", total.to_string()),
        ("seconds", format!("{seconds:.1}")),
        (
            "acknowledged_per_s",
            format!("{:.0}", total as f64 / seconds),
        ),
    ]);
}
