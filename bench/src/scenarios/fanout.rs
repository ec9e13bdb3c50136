//! `sse-fanout` and `ws-fanout`: N subscribers to one channel, M messages
//! published at rate R, each carrying its sequence number and publish time
//! as `#SEQ:NANOS#`; deliveries/s, publish→arrival percentiles, and the
//! count of lost and duplicated messages (which must be 0).
//!
//! The marker is found in the raw byte stream, so the same scanner reads
//! rtweb's JSON frames and SSE events and Nchan's raw ones.
//!
//! The measurement window opens with the first publish (subscribers are
//! connected by then) and closes when the last delivery has arrived; the
//! result line carries both sides' CPU time over it, the server's per
//! delivery, and `bound=client` when the client's core was saturated
//! (see `cpu.rs`).

use std::time::{Duration, Instant};

use crate::cpu::Window;
use crate::net::{head_end, take_response, Net};
use crate::stats::{report, unix_nanos, Samples};
use crate::target::{get, post, ws_upgrade, Kind, Target};
use flate2::{Decompress, FlushDecompress};
use rtweb::ws::frame::{write_client_frame, FrameHeader};
use rtweb::ws::OpCode;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Sse,
    WebSocket,
    /// WebSocket offering permessage-deflate: compressed frames are parsed
    /// and inflated (each from an empty window: channel sockets agree
    /// `server_no_context_takeover`) before the markers are read.
    WebSocketDeflate,
}

pub struct Params {
    pub subscribers: usize,
    pub messages: u64,
    pub rate: u64,
    pub size: usize,
}

#[derive(Default, Clone)]
struct Subscriber {
    open: bool,
    next: u64,
    lost: u64,
    duplicated: u64,
}

/// Finds complete `#SEQ:NANOS#` markers, calling `found` for each; drops
/// the bytes scanned, keeping a marker cut off at the end.
pub fn scan_markers(input: &mut Vec<u8>, mut found: impl FnMut(u64, u64)) {
    let mut at = 0;
    let mut keep_from = input.len();
    while let Some(offset) = input[at..].iter().position(|&b| b == b'#') {
        let start = at + offset;
        match parse_marker(&input[start + 1..]) {
            Marker::Found(seq, nanos, len) => {
                found(seq, nanos);
                at = start + 1 + len;
            }
            Marker::Incomplete => {
                keep_from = start;
                break;
            }
            Marker::NotOne => at = start + 1,
        }
    }
    input.drain(..keep_from.min(input.len()));
}

enum Marker {
    Found(u64, u64, usize),
    Incomplete,
    NotOne,
}

fn parse_marker(bytes: &[u8]) -> Marker {
    let mut numbers = [0u64; 2];
    let mut which = 0;
    let mut digits = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                numbers[which] = numbers[which] * 10 + u64::from(b - b'0');
                digits += 1;
            }
            b':' if which == 0 && digits > 0 => {
                which = 1;
                digits = 0;
            }
            b'#' if which == 1 && digits > 0 => {
                return Marker::Found(numbers[0], numbers[1], i + 1)
            }
            _ => return Marker::NotOne,
        }
        if i > 40 {
            return Marker::NotOne;
        }
    }
    Marker::Incomplete
}

pub fn run(target: &Target, transport: Transport, p: &Params) {
    let channel = format!("fan{}", unix_nanos() % 1_000_000_000);
    let mut net = Net::new();
    let mut subs = vec![
        Subscriber {
            next: 1,
            ..Subscriber::default()
        };
        p.subscribers
    ];
    // Subscribe in batches: a burst of thousands of connects would overflow
    // the listen backlog and cost seconds of SYN retries.
    let request = match transport {
        Transport::Sse => get(&target.sse(&channel), "Accept: text/event-stream\r\n"),
        Transport::WebSocket => ws_upgrade(&target.ws(&channel)),
        Transport::WebSocketDeflate => {
            let mut request = ws_upgrade(&target.ws(&channel));
            let at = request.len() - 2;
            request.splice(
                at..at,
                *b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
            );
            request
        }
    };
    for batch_start in (0..p.subscribers).step_by(500) {
        let batch_end = (batch_start + 500).min(p.subscribers);
        for n in batch_start..batch_end {
            let id = net.connect(target.node(n));
            net.send(id, &request);
        }
        let ok = net.run_until(Duration::from_secs(20), |net, ready| {
            for &id in ready {
                if let Some(end) = head_end(&net.conns[id].input).filter(|_| !subs[id].open) {
                    net.conns[id].input.drain(..end);
                    subs[id].open = true;
                }
            }
            subs[batch_start..batch_end].iter().all(|s| s.open)
        });
        assert!(ok, "subscribers did not connect");
    }
    // Nchan confirms a subscription before it is registered everywhere; a
    // moment's pause keeps the first message from racing it (for both).
    std::thread::sleep(Duration::from_millis(300));

    // The tungstenite peer has no HTTP: its publisher is a member of the
    // channel that sends text frames (and ignores what comes back).
    let publisher = net.connect(target.publish_addr);
    let ws_publisher = target.kind == Kind::Tungstenite;
    if ws_publisher {
        net.send(publisher, &ws_upgrade(&target.ws(&channel)));
        let joined = net.run_until(Duration::from_secs(10), |net, _| {
            let end = head_end(&net.conns[publisher].input);
            end.inspect(|&end| drop(net.conns[publisher].input.drain(..end)))
                .is_some()
        });
        assert!(joined, "the publisher's handshake did not complete");
    }
    let publish_path = target.publish(&channel);
    let mut samples = Samples::default();
    let (mut published, mut delivered) = (0u64, 0u64);
    let interval = Duration::from_secs_f64(1.0 / p.rate as f64);
    let window = Window::start(&target.pids);
    let start = Instant::now();
    let mut last_delivery = start;
    let expected = p.messages * p.subscribers as u64;
    let padding = "p".repeat(p.size.saturating_sub(32));
    let mut inflated = Vec::new();
    net.run_until(
        Duration::from_secs(60 + p.messages / p.rate.max(1)),
        |net, ready| {
            while published < p.messages && start + interval * published as u32 <= Instant::now() {
                published += 1;
                let body = format!("#{published}:{}#{padding}", unix_nanos());
                if ws_publisher {
                    let mut frame = Vec::new();
                    write_client_frame(
                        &mut frame,
                        true,
                        OpCode::Text,
                        body.as_bytes(),
                        [1, 2, 3, 4],
                    );
                    net.send(publisher, &frame);
                } else {
                    net.send(publisher, &post(&publish_path, body.as_bytes()));
                }
            }
            let now_nanos = unix_nanos();
            for &id in ready {
                if id == publisher {
                    if ws_publisher {
                        net.conns[id].input.clear();
                    }
                    while take_response(&mut net.conns[id].input).is_some() {}
                    continue;
                }
                let sub = &mut subs[id];
                let input = &mut net.conns[id].input;
                if transport == Transport::WebSocketDeflate {
                    inflate_frames(input, &mut inflated);
                }
                let scanned = if transport == Transport::WebSocketDeflate {
                    &mut inflated
                } else {
                    input
                };
                scan_markers(scanned, |seq, nanos| {
                    if seq < sub.next {
                        sub.duplicated += 1;
                        return;
                    }
                    sub.lost += seq - sub.next;
                    sub.next = seq + 1;
                    delivered += 1;
                    samples.push(now_nanos.saturating_sub(nanos) / 1000);
                });
                last_delivery = Instant::now();
            }
            delivered >= expected && published == p.messages
        },
    );
    let lost: u64 = subs
        .iter()
        .map(|s| s.lost + (p.messages + 1 - s.next))
        .sum();
    let usage = window.finish();
    let duplicated: u64 = subs.iter().map(|s| s.duplicated).sum();
    let elapsed = last_delivery.duration_since(start).as_secs_f64();
    let mut fields = vec![
        (
            "scenario",
            match transport {
                Transport::Sse => "sse-fanout",
                Transport::WebSocket => "ws-fanout",
                Transport::WebSocketDeflate => "ws-deflate-fanout",
            }
            .into(),
        ),
        ("target", target.name().into()),
        ("subscribers", p.subscribers.to_string()),
        ("messages", p.messages.to_string()),
        ("rate", p.rate.to_string()),
        (
            "deliveries_per_s",
            format!("{:.0}", delivered as f64 / elapsed),
        ),
        (
            "p50_ms",
            format!("{:.2}", samples.percentile(50.0) as f64 / 1000.0),
        ),
        (
            "p99_ms",
            format!("{:.2}", samples.percentile(99.0) as f64 / 1000.0),
        ),
        (
            "max_ms",
            format!("{:.2}", samples.percentile(100.0) as f64 / 1000.0),
        ),
        ("lost", lost.to_string()),
        ("duplicated", duplicated.to_string()),
    ];
    fields.extend(usage.fields(delivered));
    report(&fields);
}

/// Takes the complete frames off `input`, appending each payload to `out`
/// — inflated when RSV1 says it is compressed (RFC 7692 §7.2.2: the
/// `00 00 ff ff` the sender removed is put back first).
fn inflate_frames(input: &mut Vec<u8>, out: &mut Vec<u8>) {
    let mut at = 0;
    while let Ok(Some((header, header_len))) = FrameHeader::parse(&input[at..]) {
        let end = at + header_len + header.payload_len as usize;
        if end > input.len() {
            break;
        }
        let payload = &input[at + header_len..end];
        if header.rsv1 {
            let mut decompress = Decompress::new(false);
            let mut compressed = payload.to_vec();
            compressed.extend_from_slice(&[0, 0, 0xff, 0xff]);
            out.reserve(compressed.len() * 8 + 64);
            decompress
                .decompress_vec(&compressed, out, FlushDecompress::Sync)
                .expect("a valid compressed message");
        } else {
            out.extend_from_slice(payload);
        }
        at = end;
    }
    input.drain(..at);
}
