//! What each technique costs per delivered message, measured on rtweb itself.
//!
//! Starts rtweb in-process on a free loopback port, publishes `COUNT`
//! messages at a fixed interval, and receives them with one client per
//! technique, counting every request and every byte each client sends and
//! receives, and the delay from publish time to arrival.
//!
//! ```sh
//! cargo run --release --example technique_costs
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rtweb::{Config, Server};

/// A socket that counts the bytes through it.
struct Counted {
    stream: BufReader<TcpStream>,
    bytes: Arc<AtomicU64>,
}

impl Counted {
    fn connect(addr: SocketAddr, bytes: Arc<AtomicU64>) -> Counted {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Counted {
            stream: BufReader::new(stream),
            bytes,
        }
    }

    fn send(&mut self, text: &str) {
        self.bytes.fetch_add(text.len() as u64, Relaxed);
        self.stream.get_mut().write_all(text.as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stream.read_line(&mut line).unwrap();
        self.bytes.fetch_add(line.len() as u64, Relaxed);
        line
    }

    /// Reads one Content-Length response; returns its body.
    fn response(&mut self) -> String {
        let mut length = 0;
        loop {
            let line = self.line();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).unwrap();
        self.bytes.fetch_add(length as u64, Relaxed);
        String::from_utf8(body).unwrap()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[derive(Clone, Copy, Debug)]
enum Technique {
    Poll(Duration),
    LongPoll,
    Sse,
}

struct Outcome {
    requests: u64,
    bytes: u64,
    latencies: Vec<u64>,
}

/// Receives `count` messages of channel `ch` with `technique`.
fn receive(addr: SocketAddr, ch: &str, technique: Technique, count: u64) -> Outcome {
    let bytes = Arc::new(AtomicU64::new(0));
    let mut client = Counted::connect(addr, Arc::clone(&bytes));
    let (mut requests, mut last, mut latencies) = (0u64, 0u64, Vec::new());
    fn record(id: u64, time: u64, last: &mut u64, latencies: &mut Vec<u64>) {
        assert_eq!(id, *last + 1, "lost or repeated message");
        *last = id;
        latencies.push(now_ms().saturating_sub(time));
    }
    match technique {
        Technique::Poll(_) | Technique::LongPoll => {
            while last < count {
                requests += 1;
                let path = match technique {
                    Technique::Poll(_) => format!("/ch/{ch}/poll?after={last}"),
                    _ => format!("/ch/{ch}/longpoll?after={last}&timeout=60"),
                };
                client.send(&format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
                let body = client.response();
                for m in body.split("{\"id\":").skip(1) {
                    let id = m.split(',').next().unwrap().parse().unwrap();
                    let time = m
                        .split("\"time\":")
                        .nth(1)
                        .unwrap()
                        .split(',')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    record(id, time, &mut last, &mut latencies);
                }
                if let Technique::Poll(interval) = technique {
                    std::thread::sleep(interval);
                }
            }
        }
        Technique::Sse => {
            requests = 1;
            client.send(&format!(
                "GET /ch/{ch}/sse?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            ));
            let mut id = 0;
            while last < count {
                let line = client.line();
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.trim().parse().unwrap();
                } else if let Some(data) = line.strip_prefix("data: ") {
                    // The test publisher's text is its publish time.
                    record(id, data.trim().parse().unwrap(), &mut last, &mut latencies);
                }
            }
        }
    }
    Outcome {
        requests,
        bytes: bytes.load(Relaxed),
        latencies,
    }
}

fn run(name: &str, every: Duration, count: u64) {
    let config = Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    let server = Server::bind(config).unwrap().spawn().unwrap();
    let addr = server.addr;
    let techniques = [
        (
            "short poll, every 1 s",
            Technique::Poll(Duration::from_secs(1)),
        ),
        (
            "short poll, every 100 ms",
            Technique::Poll(Duration::from_millis(100)),
        ),
        ("long poll", Technique::LongPoll),
        ("SSE", Technique::Sse),
    ];
    let receivers: Vec<_> = techniques
        .iter()
        .map(|&(label, technique)| {
            (
                label,
                std::thread::spawn(move || receive(addr, "cost", technique, count)),
            )
        })
        .collect();
    let mut publisher = Counted::connect(addr, Arc::new(AtomicU64::new(0)));
    for _ in 0..count {
        std::thread::sleep(every);
        let body = now_ms().to_string();
        publisher.send(&format!(
            "POST /ch/cost HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        publisher.response();
    }
    println!("\n{name}: {count} messages, one every {every:?}\n");
    println!(
        "| technique | requests per message | bytes per message | latency p50 | latency max |"
    );
    println!("|---|---|---|---|---|");
    for (label, handle) in receivers {
        let mut o = handle.join().unwrap();
        o.latencies.sort_unstable();
        println!(
            "| {label} | {:.2} | {:.0} | {} ms | {} ms |",
            o.requests as f64 / count as f64,
            o.bytes as f64 / count as f64,
            o.latencies[o.latencies.len() / 2],
            o.latencies.last().unwrap()
        );
    }
}

fn main() {
    // 1.7 s is not a multiple of either poll interval, so arrivals fall at
    // every phase of the polling cycle, as real events do.
    run("Rare events", Duration::from_millis(1700), 6);
    run("Frequent events", Duration::from_millis(10), 500);
}
