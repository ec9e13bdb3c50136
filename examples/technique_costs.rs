//! What each technique costs per delivered message, measured on rtweb itself.
//!
//! Starts rtweb in-process on a free loopback port, publishes messages on a
//! schedule, and receives them with one client per technique — short polls,
//! a long poll, an event stream and a WebSocket — counting every request and
//! every byte each client sends and receives, and the delay from publish to
//! arrival. Each message's text is the publisher's clock in microseconds when
//! it sent it, so the delay is measured in microseconds, not the server's
//! millisecond `time`.
//!
//! Four measurements:
//!
//! - **Rare events at random times** (gaps uniform in 0.85–2.55 s): the
//!   arrival falls anywhere in a poll's cycle, as it does for real events.
//! - **Regular events** (exactly every 1.7 s): the poll timers are now
//!   phase-locked to the events — 1.7 s is exactly 17 × 100 ms, so every
//!   message lands at the same point of the 100 ms cycle. A poller that
//!   knows the period polls just after each event.
//! - **Frequent events** (every 10 ms), which also gives the push latency
//!   of SSE and WebSocket side by side.
//! - **Publishing**: one HTTP request and response against one WebSocket
//!   frame, per message.
//!
//! ```sh
//! cargo run --release --example technique_costs
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtweb::{Config, Server};

/// A client socket that counts the bytes it sends and receives.
struct Counted {
    stream: BufReader<TcpStream>,
    sent: u64,
    received: u64,
}

impl Counted {
    fn connect(addr: SocketAddr) -> Counted {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Counted {
            stream: BufReader::new(stream),
            sent: 0,
            received: 0,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.sent += bytes.len() as u64;
        self.stream.get_mut().write_all(bytes).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stream.read_line(&mut line).unwrap();
        self.received += line.len() as u64;
        line
    }

    fn exact(&mut self, n: usize) -> Vec<u8> {
        let mut bytes = vec![0; n];
        self.stream.read_exact(&mut bytes).unwrap();
        self.received += n as u64;
        bytes
    }

    /// Reads one response head; returns its Content-Length (0 if absent).
    fn head(&mut self) -> usize {
        let mut length = 0;
        loop {
            let line = self.line();
            if line == "\r\n" {
                return length;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
    }

    /// Reads one Content-Length response; returns its body.
    fn response(&mut self) -> String {
        let length = self.head();
        String::from_utf8(self.exact(length)).unwrap()
    }

    /// Opens a WebSocket on `path` (RFC 6455 §4.1).
    fn upgrade(&mut self, path: &str) {
        self.send(
            format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
        );
        self.head();
    }

    /// Reads one unmasked server frame; returns its payload (§5.2).
    fn frame(&mut self) -> Vec<u8> {
        let header = self.exact(2);
        let length = match header[1] & 0x7f {
            126 => u16::from_be_bytes(self.exact(2).try_into().unwrap()) as usize,
            127 => u64::from_be_bytes(self.exact(8).try_into().unwrap()) as usize,
            n => n as usize,
        };
        self.exact(length)
    }

    /// Sends one masked text frame, as every client must (§5.3).
    fn send_text(&mut self, text: &str, key: [u8; 4]) {
        assert!(text.len() < 126);
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&key);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.send(&frame);
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// A small xorshift generator: random gaps and mask keys, no dependency.
struct Random(u64);

impl Random {
    fn seeded() -> Random {
        Random(now_us() | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    fn fraction(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, Debug)]
enum Technique {
    /// Polls, then sleeps `interval`: its phase drifts freely.
    Poll(Duration),
    /// Polls `offset` after each scheduled publish: a client that knows
    /// the events' period.
    PollInStep(Duration),
    LongPoll,
    Sse,
    WebSocket,
}

#[derive(Default)]
struct Outcome {
    requests: u64,
    bytes: u64,
    /// Publish to arrival, in microseconds.
    latencies: Vec<u64>,
}

impl Outcome {
    /// Checks ids arrive once and in order; records the message's delay.
    fn record(&mut self, id: u64, sent_us: &str) {
        assert_eq!(id, self.latencies.len() as u64 + 1, "lost or repeated");
        let sent: u64 = sent_us.trim().parse().unwrap();
        self.latencies.push(now_us().saturating_sub(sent));
    }

    fn record_json(&mut self, message: &serde_json::Value) {
        let id = message["id"].as_u64().unwrap();
        self.record(id, message["data"].as_str().unwrap());
    }
}

/// Receives `schedule.len()` messages of channel `ch` with `technique`;
/// `schedule` holds the publish instants.
fn receive(addr: SocketAddr, ch: &str, technique: Technique, schedule: &[Instant]) -> Outcome {
    let count = schedule.len();
    let mut client = Counted::connect(addr);
    let mut o = Outcome::default();
    match technique {
        Technique::Poll(_) | Technique::PollInStep(_) | Technique::LongPoll => {
            while o.latencies.len() < count {
                if let Technique::PollInStep(offset) = technique {
                    let next = schedule[o.latencies.len()] + offset;
                    thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                o.requests += 1;
                let after = o.latencies.len();
                let path = match technique {
                    Technique::LongPoll => format!("/ch/{ch}/longpoll?after={after}&timeout=60"),
                    _ => format!("/ch/{ch}/poll?after={after}"),
                };
                client.send(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes());
                let body: serde_json::Value = serde_json::from_str(&client.response()).unwrap();
                for message in body["messages"].as_array().unwrap() {
                    o.record_json(message);
                }
                if let Technique::Poll(interval) = technique {
                    thread::sleep(interval);
                }
            }
        }
        Technique::Sse => {
            o.requests = 1;
            client.send(
                format!("GET /ch/{ch}/sse?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
            );
            let mut id = 0;
            while o.latencies.len() < count {
                let line = client.line();
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.trim().parse().unwrap();
                } else if let Some(data) = line.strip_prefix("data: ") {
                    o.record(id, data);
                }
            }
        }
        Technique::WebSocket => {
            o.requests = 1;
            client.upgrade(&format!("/ch/{ch}/ws?after=0"));
            while o.latencies.len() < count {
                o.record_json(&serde_json::from_slice(&client.frame()).unwrap());
            }
        }
    }
    o.bytes = client.sent + client.received;
    o
}

fn start_server() -> rtweb::ServerHandle {
    let config = Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    Server::bind(config).unwrap().spawn().unwrap()
}

/// Publishes `body` over HTTP and reads the answer.
fn publish_http(client: &mut Counted, ch: &str, body: &str) {
    client.send(
        format!(
            "POST /ch/{ch} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    client.response();
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Publishes one message at each instant of `schedule` and prints what each
/// technique paid to receive them all. Returns the push outcomes (SSE,
/// WebSocket) for the latency table.
fn run(
    title: &str,
    schedule: Vec<Instant>,
    techniques: &[(&'static str, Technique)],
) -> Vec<(&'static str, Outcome)> {
    let server = start_server();
    let addr = server.addr;
    let schedule = Arc::new(schedule);
    let receivers: Vec<_> = techniques
        .iter()
        .map(|&(label, technique)| {
            let schedule = Arc::clone(&schedule);
            (
                label,
                thread::spawn(move || receive(addr, "cost", technique, &schedule)),
            )
        })
        .collect();
    let mut publisher = Counted::connect(addr);
    for &at in schedule.iter() {
        thread::sleep(at.saturating_duration_since(Instant::now()));
        publish_http(&mut publisher, "cost", &now_us().to_string());
    }
    let count = schedule.len() as f64;
    println!("\n{title}: {} messages\n", schedule.len());
    println!(
        "| technique | requests per message | bytes per message | latency p50 | latency max |"
    );
    println!("|---|---|---|---|---|");
    let mut outcomes = Vec::new();
    for (label, handle) in receivers {
        let mut o = handle.join().unwrap();
        o.latencies.sort_unstable();
        println!(
            "| {label} | {:.2} | {:.0} | {} | {} |",
            o.requests as f64 / count,
            o.bytes as f64 / count,
            ms(percentile(&o.latencies, 0.5)),
            ms(*o.latencies.last().unwrap())
        );
        outcomes.push((label, o));
    }
    outcomes
}

/// Publishing `count` messages one at a time: over HTTP (request, then its
/// `{"id":N}` answer) and over a channel WebSocket (a frame, then the same
/// message coming back to this subscriber — WebSocket has no answer, so
/// that echo is the only sign the publish landed).
fn publishing(count: usize) {
    let server = start_server();
    let mut http = Counted::connect(server.addr);
    let mut http_rtt = Vec::new();
    for _ in 0..count {
        let start = Instant::now();
        publish_http(&mut http, "pub-http", &now_us().to_string());
        http_rtt.push(start.elapsed().as_micros() as u64);
    }
    let mut ws = Counted::connect(server.addr);
    ws.upgrade("/ch/pub-ws/ws");
    let (sent0, received0) = (ws.sent, ws.received);
    let mut random = Random::seeded();
    let mut ws_rtt = Vec::new();
    for _ in 0..count {
        let start = Instant::now();
        ws.send_text(&now_us().to_string(), (random.next() as u32).to_be_bytes());
        ws.frame();
        ws_rtt.push(start.elapsed().as_micros() as u64);
    }
    http_rtt.sort_unstable();
    ws_rtt.sort_unstable();
    let n = count as f64;
    println!("\nPublishing: {count} messages of 16 bytes, one at a time\n");
    println!(
        "| publisher | bytes sent per message | bytes received per message | round trip p50 |"
    );
    println!("|---|---|---|---|");
    println!(
        "| HTTP POST, answer `{{\"id\":N}}` | {:.0} | {:.0} | {} µs |",
        http.sent as f64 / n,
        http.received as f64 / n,
        percentile(&http_rtt, 0.5)
    );
    println!(
        "| WebSocket text frame, its own message back | {:.0} | {:.0} | {} µs |",
        (ws.sent - sent0) as f64 / n,
        (ws.received - received0) as f64 / n,
        percentile(&ws_rtt, 0.5)
    );
}

fn every(gap: Duration, count: u32) -> Vec<Instant> {
    let start = Instant::now();
    (1..=count).map(|k| start + gap * k).collect()
}

fn main() {
    let second = Duration::from_secs(1);
    let tenth = Duration::from_millis(100);
    let polls = [
        ("short poll, every 1 s", Technique::Poll(second)),
        ("short poll, every 100 ms", Technique::Poll(tenth)),
    ];
    let pushes = [
        ("long poll", Technique::LongPoll),
        ("SSE", Technique::Sse),
        ("WebSocket", Technique::WebSocket),
    ];
    let all: Vec<_> = polls.iter().chain(&pushes).copied().collect();

    // Random gaps, 0.85–2.55 s (mean 1.7 s): no poll timer can line up.
    let mut random = Random::seeded();
    let mut at = Instant::now();
    let rare = (0..8)
        .map(|_| {
            at += Duration::from_secs_f64(0.85 + 1.7 * random.fraction());
            at
        })
        .collect();
    run("Rare events at random times (gaps 0.85-2.55 s)", rare, &all);

    // Exactly every 1.7 s = 17 × 100 ms: each message meets the 100 ms
    // poller at the same point of its cycle (it drifts only by its own
    // response time), and a poller that knows the period polls 50 ms after.
    let mut regular = polls.to_vec();
    regular.push((
        "short poll, 50 ms after each scheduled event",
        Technique::PollInStep(Duration::from_millis(50)),
    ));
    run(
        "Regular events, one every 1.7 s",
        every(Duration::from_millis(1700), 6),
        &regular,
    );

    let frequent = run(
        "Frequent events, one every 10 ms",
        every(Duration::from_millis(10), 500),
        &all,
    );
    println!("\nPush latency, frequent events (publish to arrival, same messages)\n");
    println!("| technique | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|");
    for (label, o) in &frequent[2..] {
        let l = &o.latencies;
        println!(
            "| {label} | {} µs | {} µs | {} µs | {} µs |",
            percentile(l, 0.5),
            percentile(l, 0.9),
            percentile(l, 0.99),
            l.last().unwrap()
        );
    }

    publishing(300);
}
