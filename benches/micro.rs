//! Microbenchmarks of the hot paths: `cargo bench`.
//!
//! Each measurement runs a closure in a timed loop for about 200 ms, seven
//! rounds, and reports the median — a small harness with no dependency;
//! `black_box` keeps the compiler from optimising the work away.
//! `cargo bench --bench micro -- echo` runs only the session-level echo.

use std::hint::black_box;
use std::time::{Duration, Instant};

use std::sync::Arc;

use rtweb::app::session::Session;
use rtweb::app::{App, Shared};
use rtweb::config::Config;
use rtweb::http::{Limits, RequestDecoder};
use rtweb::output::OutputQueue;
use rtweb::ws::frame::{write_client_frame, FrameHeader};
use rtweb::ws::mask::{apply_mask, apply_mask_bytewise, extend_masked};
use rtweb::ws::utf8::Utf8Validator;
use rtweb::ws::OpCode;

/// Median time per call of `f`, in nanoseconds.
fn measure(mut f: impl FnMut()) -> f64 {
    let mut rounds = Vec::new();
    for _ in 0..7 {
        let mut calls = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(200) {
            for _ in 0..64 {
                f();
            }
            calls += 64;
        }
        rounds.push(start.elapsed().as_nanos() as f64 / calls as f64);
    }
    rounds.sort_by(|a, b| a.total_cmp(b));
    rounds[3]
}

fn per_call(name: &str, ns: f64) {
    println!("{name:<44} {ns:>10.1} ns");
}

fn throughput(name: &str, bytes: usize, ns: f64) {
    println!("{name:<44} {ns:>10.1} ns  {:>6.2} GB/s", bytes as f64 / ns);
}

fn main() {
    if !only_echo() {
        protocols();
    }
    echo();
}

fn protocols() {
    let head = b"GET /ch/demo/poll?after=41 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n\
Accept: application/json\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\
Referer: http://127.0.0.1:8080/\r\nSec-Fetch-Mode: cors\r\n\r\n";
    let now = Instant::now();
    per_call(
        "request head parse (9 fields, 290 B)",
        measure(|| {
            let mut decoder = RequestDecoder::new(Limits::default());
            black_box(decoder.decode(black_box(head), now).unwrap());
        }),
    );

    let mut frame = Vec::new();
    write_client_frame(&mut frame, true, OpCode::Text, &[b'x'; 1024], [1, 2, 3, 4]);
    per_call(
        "frame header decode",
        measure(|| {
            black_box(FrameHeader::parse(black_box(&frame)).unwrap());
        }),
    );

    for size in [1024, 64 * 1024] {
        let source = vec![0x5au8; size];
        let mut data = source.clone();
        let key = [0x37, 0xfa, 0x21, 0x3d];
        throughput(
            &format!("unmask {size} B (8 bytes at a time)"),
            size,
            measure(|| apply_mask(black_box(&mut data), key, 0)),
        );
        throughput(
            &format!("unmask {size} B (byte by byte)"),
            size,
            measure(|| apply_mask_bytewise(black_box(&mut data), key, 0)),
        );
        // How an assembled message's piece joins its buffer: one pass
        // (extend_masked) against a copy and then a second pass.
        let mut assembled = Vec::with_capacity(size);
        throughput(
            &format!("append unmasked {size} B (extend_masked)"),
            size,
            measure(|| {
                assembled.clear();
                extend_masked(&mut assembled, black_box(&source), key, 0);
                black_box(&assembled);
            }),
        );
        throughput(
            &format!("append {size} B, then unmask it in place"),
            size,
            measure(|| {
                assembled.clear();
                assembled.extend_from_slice(black_box(&source));
                apply_mask(&mut assembled, key, 0);
                black_box(&assembled);
            }),
        );
        throughput(
            &format!("memcpy {size} B (for comparison)"),
            size,
            measure(|| data.copy_from_slice(black_box(&source))),
        );
    }

    let text = "Grüße, κόσμε — 世界! ".repeat(2000);
    throughput(
        "UTF-8 validation (incremental, 64 KiB)",
        text.len(),
        measure(|| {
            let mut v = Utf8Validator::default();
            for piece in text.as_bytes().chunks(4096) {
                v.feed(black_box(piece)).unwrap();
            }
            v.finish().unwrap();
        }),
    );

    let message = "a line of text\nand another with a: colon\r\nand a third".repeat(4);
    let mut out = Vec::with_capacity(1024);
    per_call(
        "SSE event encoding (3 lines × 4, 212 B)",
        measure(|| {
            out.clear();
            rtweb::sse::encode_event(&mut out, Some(123_456), None, black_box(&message));
            black_box(&out);
        }),
    );
}

/// Names given after `--` (`cargo bench --bench micro -- echo`): only the
/// echo benchmark runs, e.g. under a profiler.
fn only_echo() -> bool {
    std::env::args().skip(1).any(|a| a == "echo")
}

fn echo() {
    per_call(
        "WebSocket echo, 16 frames of 16 B (one read)",
        echo_per_read(16, 16),
    );
    per_call(
        "WebSocket echo, 16 frames of 1 KiB (one read)",
        echo_per_read(16, 1024),
    );
}

/// A session on `/echo` after its handshake, offered one read's worth of
/// frames (`frames` masked frames of `size` bytes) at a time, its output
/// taken as a socket that accepts everything would: the user-space work of
/// one wake-up of `ws-echo`, without the syscalls.
fn echo_per_read(frames: usize, size: usize) -> f64 {
    let shared = Arc::new(Shared::new(Config::default()).expect("memory store"));
    let mut app = App::new(shared, 0, Instant::now());
    let mut session = Session::new(1, &app);
    let mut out = OutputQueue::default();
    let handshake = b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(
        session.on_input(&mut handshake.to_vec(), &mut out, &mut app),
        handshake.len()
    );
    out.advance(out.pending());
    let mut frames_sent = Vec::new();
    for _ in 0..frames {
        write_client_frame(
            &mut frames_sent,
            true,
            OpCode::Binary,
            &vec![b'x'; size],
            [1, 2, 3, 4],
        );
    }
    let reply = frames * (size + if size < 126 { 2 } else { 4 });
    // The session unmasks in place, so each call gets the frames afresh, as
    // the read that copies them into the loop's buffer would.
    let mut read = frames_sent.clone();
    measure(|| {
        read.copy_from_slice(&frames_sent);
        assert_eq!(
            session.on_input(black_box(&mut read), &mut out, &mut app),
            read.len()
        );
        assert_eq!(out.pending(), reply);
        out.advance(reply);
    })
}
