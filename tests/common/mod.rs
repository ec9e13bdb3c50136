//! Test helpers: a server on a free loopback port, and a raw HTTP/1.1
//! client that reads responses with a deadline instead of sleeping.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rtweb::{Config, Server, ServerHandle};

/// How long any single read may wait before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a server on 127.0.0.1:0 with `adjust` applied to the test defaults.
pub fn start_with(adjust: impl FnOnce(&mut Config)) -> ServerHandle {
    let mut config = Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    // RTWEB_TEST_STORE=sqlite runs the suite on the durable store (each
    // server in a directory of its own); the default is the memory store.
    if std::env::var("RTWEB_TEST_STORE").as_deref() == Ok("sqlite") {
        config.store = rtweb::store::StoreKind::Sqlite {
            dir: process::fresh_data_dir(),
            durability: rtweb::store::Durability::Normal,
        };
    }
    // RTWEB_TEST_REDIS=redis://… runs it on a Redis (each server under a
    // key prefix of its own, as if alone there).
    if let Ok(url) = std::env::var("RTWEB_TEST_REDIS") {
        config.store = rtweb::store::StoreKind::Redis {
            url,
            prefix: format!("{}:", process::fresh_data_dir().display()),
        };
    }
    adjust(&mut config);
    config.limits.max_body = config.max_message;
    Server::bind(config).expect("bind").spawn().expect("spawn")
}

pub fn start() -> ServerHandle {
    start_with(|_| {})
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("invalid JSON {e}: {}", self.text()))
    }
}

/// A connection that speaks raw bytes and reads whole responses.
pub struct Client {
    pub stream: TcpStream,
    pub buffer: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).expect("write");
    }

    /// Sends a GET and reads its response.
    pub fn get(&mut self, target: &str) -> Reply {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        self.response()
    }

    pub fn post(&mut self, target: &str, body: &str) -> Reply {
        self.send(format!(
            "POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        self.response()
    }

    /// Reads more bytes into the buffer; false at EOF.
    pub fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read failed (timeout is a test failure): {e}"),
        }
    }

    /// Takes `n` bytes, reading as needed.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buffer.len() < n {
            assert!(self.fill(), "EOF with {} of {n} bytes", self.buffer.len());
        }
        self.buffer.drain(..n).collect()
    }

    /// Takes one line including its CRLF.
    pub fn line(&mut self) -> String {
        loop {
            if let Some(at) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line = self.buffer.drain(..at + 2).collect::<Vec<_>>();
                return String::from_utf8(line).expect("UTF-8 line");
            }
            assert!(
                self.fill(),
                "EOF inside a line: {:?}",
                String::from_utf8_lossy(&self.buffer)
            );
        }
    }

    /// Reads a status line and headers.
    pub fn head(&mut self) -> Reply {
        let status_line = self.line();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line == "\r\n" {
                break;
            }
            let (name, value) = line.trim_end().split_once(':').expect("header line");
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        Reply {
            status,
            headers,
            body: Vec::new(),
        }
    }

    /// Reads one whole response, body framed as its head says.
    pub fn response(&mut self) -> Reply {
        let mut reply = self.head();
        if reply.status == 100 {
            return reply;
        }
        if let Some(length) = reply.header("content-length") {
            let length = length.parse().expect("Content-Length");
            reply.body = self.take(length);
        } else if reply.header("transfer-encoding") == Some("chunked") {
            loop {
                let size = usize::from_str_radix(self.line().trim_end(), 16).expect("chunk size");
                let data = self.take(size + 2);
                reply.body.extend_from_slice(&data[..size]);
                if size == 0 {
                    break;
                }
            }
        }
        reply
    }

    /// Reads the response to a HEAD: the head only.
    pub fn head_response(&mut self) -> Reply {
        self.head()
    }

    /// True when the server closes (EOF or reset) before `within` passes,
    /// with no bytes arriving first.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut byte = [0u8; 1];
        let result = loop {
            match self.stream.read(&mut byte) {
                Ok(0) => break self.buffer.is_empty(),
                Ok(_) => break false,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) if Instant::now() < deadline => continue,
                Err(_) => break false,
            }
        };
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        result
    }
}

/// Publishes `m1` … `m{count}` to `channel` from another thread, one POST
/// at a time, checking each gets the next id.
pub fn spawn_publisher(addr: SocketAddr, channel: &str, count: u64) -> std::thread::JoinHandle<()> {
    let path = format!("/ch/{channel}");
    std::thread::spawn(move || {
        let mut client = Client::connect(addr);
        for i in 1..=count {
            assert_eq!(client.post(&path, &format!("m{i}")).json()["id"], i);
        }
    })
}

/// Reads `/stats` on a fresh connection.
pub fn stats(addr: SocketAddr) -> serde_json::Value {
    Client::connect(addr).get("/stats").json()
}

/// Polls `/stats` until `check` holds, at most `within`. For state the
/// server reaches asynchronously (a peer's EOF processed).
pub fn wait_for_stats(
    addr: SocketAddr,
    within: Duration,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let s = stats(addr);
        if check(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub mod event_stream;

/// An SSE subscription read through the standard's parsing algorithm,
/// undoing the chunked framing when the response has it.
pub struct SseClient {
    pub client: Client,
    pub head: Reply,
    pub parser: event_stream::EventStreamParser,
    chunked: bool,
    ready: std::collections::VecDeque<event_stream::Event>,
    /// The `event: ready` the stream opened with.
    pub opening: Option<event_stream::Event>,
}

impl SseClient {
    /// Opens `target` with extra header lines (each ending in CRLF).
    pub fn open(addr: SocketAddr, target: &str, extra: &str) -> SseClient {
        let mut client = Client::connect(addr);
        client.send(format!(
            "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{extra}\r\n"
        ));
        SseClient::from_response(client)
    }

    pub fn from_response(mut client: Client) -> SseClient {
        let head = client.head();
        assert_eq!(head.status, 200, "SSE answered {}", head.status);
        let chunked = head.header("transfer-encoding") == Some("chunked");
        let mut sse = SseClient {
            client,
            head,
            parser: Default::default(),
            chunked,
            ready: Default::default(),
            opening: None,
        };
        // Every stream opens by saying where the client stands.
        let opening = sse.next_event().expect("the stream's opening event");
        assert_eq!(
            (opening.kind.as_str(), opening.data.as_str()),
            ("ready", "")
        );
        assert!(opening.last_event_id.parse::<u64>().is_ok(), "{opening:?}");
        sse.opening = Some(opening);
        sse
    }

    /// Reads more of the stream; false at its end.
    fn pump(&mut self) -> bool {
        let bytes = if self.chunked {
            let size =
                usize::from_str_radix(self.client.line().trim_end(), 16).expect("chunk size");
            let data = self.client.take(size + 2);
            if size == 0 {
                return false;
            }
            data[..size].to_vec()
        } else {
            if self.client.buffer.is_empty() && !self.client.fill() {
                return false;
            }
            std::mem::take(&mut self.client.buffer)
        };
        self.ready.extend(self.parser.feed(&bytes));
        true
    }

    /// The next event, or `None` when the stream ends.
    pub fn next_event(&mut self) -> Option<event_stream::Event> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if !self.pump() {
                return None;
            }
        }
    }

    /// Reads until `count` comment lines have arrived (heartbeats).
    pub fn wait_for_comments(&mut self, count: usize) {
        while self.parser.comments < count {
            assert!(self.pump(), "stream ended before {count} comments");
        }
    }
}

pub mod process;
pub mod publisher;
pub mod redis;
pub mod ws;
