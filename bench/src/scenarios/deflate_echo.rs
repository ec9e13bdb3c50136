//! `ws-deflate-echo`: `ws-echo` with permessage-deflate (RFC 7692) agreed:
//! C connections, W text messages of S bytes in flight on each, every one
//! compressed on the way out and every echo inflated and compared with
//! what was sent, byte for byte.
//!
//! The payloads are JSON-like text — `[{"id":N,"time":T,"user":"…","text":"…"},…]`
//! cut to S bytes — in enough variants per size that a connection's cycle
//! of them spans more than DEFLATE's 32 KiB window (at least `inflight`
//! and 64 KiB in all, at most 4096), sent in turn: a compressor that keeps
//! its window finds the same words and keys in earlier messages, as a
//! chat's would, but never the whole message it is compressing.
//!
//! **The offer.** By default the tool offers
//! `permessage-deflate; client_no_context_takeover; client_max_window_bits`:
//! it resets its own compressor per message, the server keeps its
//! compression context (neither rtweb's `/echo` nor uWebSockets' dedicated
//! compressor is asked to reset). With the client's window reset every
//! compressed frame of a payload is the same bytes, so the frames are
//! built once and replies are slices of them, as in `ws-echo` — the load
//! tool spends its time inflating, not deflating, and stays ahead of the
//! server. `--client-takeover 1` offers what Chromium sends,
//! `permessage-deflate; client_max_window_bits`: then the tool compresses
//! each message with its connection's streaming compressor (zlib level 6,
//! like both servers), which costs it about what it costs the server.
//!
//! The agreed `Sec-WebSocket-Extensions` answer is in the result line
//! (spaces removed), and how the tool built its frames (`client_frames=
//! prebuilt|streaming`). The tool inflates with context takeover unless
//! the server agreed `server_no_context_takeover`; a frame without RSV1 is
//! taken as it is. Any echo that differs from what was sent stops the run.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, Decompress};
use rtweb::ws::frame::FrameHeader;
use rtweb::ws::OpCode;

use crate::cpu::Window;
use crate::net::{head_end, header, Net};
use crate::pmd::{compressed_frame, inflate, payloads, Agreed};
use crate::stats::{report, Samples};
use crate::target::{ws_upgrade, Target};

/// zlib's default, as both servers compress.
const LEVEL: u32 = 6;
/// A connection's cycle of payloads spans at least this many bytes…
const CYCLE_BYTES: usize = 64 * 1024;
/// …in at most this many variants.
const MAX_VARIANTS: usize = 4096;

pub struct Params {
    pub conns: usize,
    pub inflight: usize,
    pub size: usize,
    pub seconds: u64,
    /// Offer without `client_no_context_takeover` (what browsers send).
    pub client_takeover: bool,
}

struct Conn {
    /// (sent at, payload index), oldest first: echoes come back in order.
    in_flight: VecDeque<(Instant, usize)>,
    next: usize,
    inflater: Decompress,
    /// With client context takeover: this connection's own compressor.
    compressor: Option<Compress>,
}

pub fn run(target: &Target, p: &Params) {
    let offer = if p.client_takeover {
        "permessage-deflate; client_max_window_bits"
    } else {
        "permessage-deflate; client_no_context_takeover; client_max_window_bits"
    };
    let mut upgrade = ws_upgrade(target.echo());
    let at = upgrade.len() - 2;
    upgrade.splice(
        at..at,
        format!("Sec-WebSocket-Extensions: {offer}\r\n").into_bytes(),
    );
    let mut net = Net::new();
    for _ in 0..p.conns {
        let id = net.connect(target.addr);
        net.send(id, &upgrade);
    }
    // Handshakes first, untimed; every connection must agree the same.
    let mut agreed: Vec<Option<Agreed>> = vec![None; p.conns];
    let all_open = net.run_until(Duration::from_secs(10), |net, ready| {
        for &id in ready {
            if agreed[id].is_none() {
                if let Some(end) = head_end(&net.conns[id].input) {
                    let head = &net.conns[id].input[..end];
                    assert!(head.starts_with(b"HTTP/1.1 101"), "handshake refused");
                    let answer = header(head, "sec-websocket-extensions")
                        .expect("permessage-deflate was not agreed");
                    agreed[id] = Some(Agreed::parse(answer));
                    net.conns[id].input.drain(..end);
                }
            }
        }
        agreed.iter().all(Option::is_some)
    });
    assert!(all_open, "handshakes did not complete");
    let agreed = agreed[0].clone().expect("open");
    let prebuilt = agreed.client_no_context_takeover;

    let variants =
        (CYCLE_BYTES.div_ceil(p.size.max(1))).clamp(p.inflight, MAX_VARIANTS.max(p.inflight));
    let payloads = payloads(p.size, variants);
    let bits = agreed.client_max_window_bits.clamp(9, 15);
    let new_compressor = || Compress::new_with_window_bits(Compression::new(LEVEL), false, bits);
    // Pre-built: every payload's frame, then the first `inflight` again, so
    // that any `n <= inflight` consecutive messages are one slice.
    let (mut ring, mut offsets, mut body) = (Vec::new(), vec![0], Vec::new());
    if prebuilt {
        let mut compressor = new_compressor();
        for k in 0..variants + p.inflight {
            compressed_frame(
                &mut compressor,
                &payloads[k % variants],
                &mut body,
                &mut ring,
            );
            compressor.reset();
            offsets.push(ring.len());
        }
    }
    let mut conns: Vec<Conn> = (0..p.conns)
        .map(|_| Conn {
            in_flight: VecDeque::with_capacity(p.inflight),
            next: 0,
            inflater: Decompress::new(false),
            compressor: (!prebuilt).then(new_compressor),
        })
        .collect();
    let mut out = Vec::new();
    // Queues `n` messages on `conn`, in payload order; returns their wire bytes.
    let mut send = |net: &mut Net, id: usize, conn: &mut Conn, n: usize, now: Instant| -> usize {
        let first = conn.next;
        for k in 0..n {
            conn.in_flight.push_back((now, (first + k) % variants));
        }
        conn.next = (first + n) % variants;
        let bytes = match &mut conn.compressor {
            None => &ring[offsets[first]..offsets[first + n]],
            Some(compressor) => {
                out.clear();
                for k in 0..n {
                    compressed_frame(
                        compressor,
                        &payloads[(first + k) % variants],
                        &mut body,
                        &mut out,
                    );
                }
                &out[..]
            }
        };
        net.send(id, bytes);
        bytes.len()
    };

    let start = Instant::now();
    for (id, conn) in conns.iter_mut().enumerate() {
        send(&mut net, id, conn, p.inflight, start);
    }
    let warmup_end = start + Duration::from_secs(1);
    let end = warmup_end + Duration::from_secs(p.seconds);
    let (mut counted, mut total, mut rtt) = (0u64, 0u64, Samples::default());
    let (mut wire_out, mut wire_in) = (0u64, 0u64);
    let mut window: Option<Window> = None;
    let mut inflated = Vec::new();
    loop {
        let ready = net.poll_once(Duration::from_millis(5)).to_vec();
        let now = Instant::now();
        if now >= end {
            break;
        }
        if window.is_none() && now >= warmup_end {
            window = Some(Window::start(&target.pids));
        }
        let measuring = now >= warmup_end;
        for id in ready {
            let conn = &mut conns[id];
            let input = &net.conns[id].input;
            assert!(!net.conns[id].closed, "the server closed a connection");
            let (mut at, mut complete) = (0, 0);
            while let Some((h, n)) = FrameHeader::parse(&input[at..]).expect("valid frame") {
                let frame_end = at + n + h.payload_len as usize;
                if frame_end > input.len() {
                    break;
                }
                let payload = &input[at + n..frame_end];
                at = frame_end;
                if h.opcode.is_control() {
                    assert!(h.opcode != OpCode::Close, "the server closed: {payload:?}");
                    continue; // a ping or pong: not an echo
                }
                assert!(
                    h.fin && h.opcode == OpCode::Text,
                    "echoes come back as whole text frames"
                );
                let (sent, index) = conn.in_flight.pop_front().expect("a message was in flight");
                let expected = &payloads[index];
                let echoed: &[u8] = if h.rsv1 {
                    inflate(&mut conn.inflater, payload, &mut inflated, expected.len());
                    if agreed.server_no_context_takeover {
                        conn.inflater.reset(false);
                    }
                    &inflated
                } else {
                    payload
                };
                assert!(
                    echoed == &expected[..],
                    "echo {index} differs from what was sent ({} bytes vs {})",
                    echoed.len(),
                    expected.len()
                );
                complete += 1;
                if measuring {
                    counted += 1;
                    wire_in += payload.len() as u64;
                    rtt.push(now.duration_since(sent).as_micros() as u64);
                }
            }
            net.conns[id].input.drain(..at);
            total += complete as u64;
            if complete > 0 {
                let bytes = send(&mut net, id, conn, complete, now);
                if measuring {
                    wire_out += bytes as u64;
                }
            }
        }
    }
    let usage = window.expect("the run outlasts its warm-up").finish();
    let rate = counted as f64 / usage.seconds;
    let per = |bytes: u64| format!("{:.1}", bytes as f64 / counted.max(1) as f64);
    let mut fields = vec![
        ("scenario", "ws-deflate-echo".into()),
        ("target", target.name().into()),
        ("conns", p.conns.to_string()),
        ("inflight", p.inflight.to_string()),
        ("size", p.size.to_string()),
        ("msgs_per_s", format!("{rate:.0}")),
        ("mb_per_s", format!("{:.1}", rate * p.size as f64 / 1e6)),
        ("rtt_p50_us", rtt.percentile(50.0).to_string()),
        ("rtt_p99_us", rtt.percentile(99.0).to_string()),
        ("total_msgs", total.to_string()),
        ("agreed", agreed.answer.clone()),
        (
            "client_frames",
            if prebuilt { "prebuilt" } else { "streaming" }.into(),
        ),
        ("variants", variants.to_string()),
        // Bytes per message on the wire, frame headers included (out) and
        // compressed payload only (in).
        ("wire_out_b", per(wire_out)),
        ("wire_in_b", per(wire_in)),
    ];
    fields.extend(usage.fields(counted));
    report(&fields);
}
