//! Several rtweb nodes sharing channels through one Redis (issue 14), on
//! real processes and a real `redis-server` (`common/redis.rs`: skipped
//! with a printed reason where there is none, a failure under
//! `RTWEB_REQUIRE_REDIS=1`, which CI sets).
//!
//! The followers here are the clients a deployment has: they read each
//! technique's wire format, and when their node dies they resume on
//! another with the last id they saw, as `rtweb.js` does.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::event_stream::EventStreamParser;
use common::process::ServerProcess;
use common::publisher::Publisher;
use common::redis::RedisServer;
use rtweb::ws::frame::FrameHeader;

/// The longest any follower waits for all it expects.
const PATIENCE: Duration = Duration::from_secs(90);

/// An rtweb node on `redis`, with extra arguments.
fn node(redis: &RedisServer, extra: &[&str]) -> ServerProcess {
    let url = redis.url();
    let mut args = vec!["--redis", url.as_str(), "--threads", "2"];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Technique {
    ShortPoll,
    LongPoll,
    Sse,
    WebSocket,
}

use Technique::*;

const ALL: [Technique; 4] = [ShortPoll, LongPoll, Sse, WebSocket];

/// What a follower received: every message (id, text) in order of arrival,
/// and how often it was told `gap`.
#[derive(Debug, Default)]
struct Received {
    messages: Vec<(u64, String)>,
    gaps: usize,
    /// Connections it made (more than one: it resumed after a failure).
    connections: usize,
    /// Told to stop following (the test is done with it).
    stopped: bool,
}

impl Received {
    fn last_id(&self) -> u64 {
        self.messages.last().map_or(0, |m| m.0)
    }

    fn ids(&self) -> Vec<u64> {
        self.messages.iter().map(|m| m.0).collect()
    }
}

/// Follows `channel` with `technique` from id 0 until `count` messages
/// arrived (or [`PATIENCE`] passed), on `nodes[0]` first; whenever a
/// connection fails it resumes on the next node with its last id.
fn follow(
    technique: Technique,
    nodes: Vec<SocketAddr>,
    channel: &str,
    count: usize,
) -> (Arc<Mutex<Received>>, JoinHandle<()>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let shared = Arc::clone(&received);
    let channel = channel.to_owned();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + PATIENCE;
        let mut node = 0;
        loop {
            {
                let received = shared.lock().unwrap();
                if received.messages.len() >= count || received.stopped || Instant::now() > deadline
                {
                    return;
                }
            }
            let addr = nodes[node % nodes.len()];
            shared.lock().unwrap().connections += 1;
            let after = shared.lock().unwrap().last_id();
            let done = match technique {
                ShortPoll | LongPoll => poll(technique, addr, &channel, after, &shared),
                Sse => event_stream(addr, &channel, after, count, &shared),
                WebSocket => websocket(addr, &channel, after, count, &shared),
            };
            if !done {
                node += 1; // this node failed us: resume on the next, as a
                std::thread::sleep(Duration::from_millis(20)); // client would, after a pause
            }
        }
    });
    (received, thread)
}

/// A connection to `addr` with `request` sent; `None` if the node is gone.
fn send(addr: SocketAddr, request: &str) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    Some(stream)
}

/// One request, `Connection: close`: the status and body, or `None` when
/// the node could not be reached or died mid-answer.
fn fetch(addr: SocketAddr, target: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8(answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// One short or long poll after `after`; false when the node failed.
fn poll(
    technique: Technique,
    addr: SocketAddr,
    channel: &str,
    after: u64,
    received: &Mutex<Received>,
) -> bool {
    let target = match technique {
        LongPoll => format!("/ch/{channel}/longpoll?after={after}&timeout=5"),
        _ => format!("/ch/{channel}/poll?after={after}"),
    };
    let Some((200, body)) = fetch(addr, &target) else {
        return false;
    };
    let json: serde_json::Value = serde_json::from_str(&body).expect("poll answer is JSON");
    let mut received = received.lock().unwrap();
    received.gaps += usize::from(json["gap"] == true);
    let messages = json["messages"].as_array().expect("messages");
    for m in messages {
        let id = m["id"].as_u64().expect("id");
        received
            .messages
            .push((id, m["data"].as_str().unwrap().to_owned()));
    }
    if messages.is_empty() && technique == ShortPoll {
        drop(received);
        std::thread::sleep(Duration::from_millis(5)); // a short poll's interval
    }
    true
}

/// An SSE stream (HTTP/1.0: no chunked framing to undo) from `after`,
/// until `count` messages in all or the stream ends; false if it ended.
fn event_stream(
    addr: SocketAddr,
    channel: &str,
    after: u64,
    count: usize,
    received: &Mutex<Received>,
) -> bool {
    let request = format!(
        "GET /ch/{channel}/sse HTTP/1.0\r\nHost: 127.0.0.1\r\nLast-Event-ID: {after}\r\n\r\n"
    );
    let Some(mut stream) = send(addr, &request) else {
        return false;
    };
    let mut parser = EventStreamParser::default();
    let mut head = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let mut bytes = &chunk[..n];
        if !head.ends_with(b"\r\n\r\n") {
            // Still in the head: take bytes up to its blank line.
            let mut taken = 0;
            while taken < bytes.len() && !head.ends_with(b"\r\n\r\n") {
                head.push(bytes[taken]);
                taken += 1;
            }
            bytes = &bytes[taken..];
            if head.ends_with(b"\r\n\r\n") {
                let status = String::from_utf8_lossy(&head[..head.len().min(12)]).into_owned();
                assert!(status.ends_with(" 200"), "SSE answered {status}");
            }
        }
        let mut received = received.lock().unwrap();
        for event in parser.feed(bytes) {
            match event.kind.as_str() {
                "message" => {
                    let id = event
                        .last_event_id
                        .parse()
                        .expect("every message has an id");
                    received.messages.push((id, event.data));
                }
                "gap" => received.gaps += 1,
                _ => {}
            }
        }
        if received.messages.len() >= count {
            return true;
        }
    }
}

/// A channel WebSocket from `after`, until `count` messages in all or the
/// connection ends; false if it ended.
fn websocket(
    addr: SocketAddr,
    channel: &str,
    after: u64,
    count: usize,
    received: &Mutex<Received>,
) -> bool {
    let request = common::ws::handshake_request(&format!("/ch/{channel}/ws?after={after}"), "");
    let Some(mut stream) = send(addr, &request) else {
        return false;
    };
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut upgraded = false;
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if !upgraded {
            let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            assert!(buffer.starts_with(b"HTTP/1.1 101"), "handshake refused");
            buffer.drain(..end + 4);
            upgraded = true;
        }
        let mut received = received.lock().unwrap();
        while let Ok(Some((header, length))) = FrameHeader::parse(&buffer) {
            let total = length + header.payload_len as usize;
            if buffer.len() < total {
                break;
            }
            let payload: Vec<u8> = buffer.drain(..total).skip(length).collect();
            if header.opcode != rtweb::ws::frame::OpCode::Text {
                return false; // a Close: resume elsewhere
            }
            let json: serde_json::Value = serde_json::from_slice(&payload).expect("JSON frame");
            if json["gap"] == true {
                received.gaps += 1;
            } else if let Some(id) = json["id"].as_u64() {
                received
                    .messages
                    .push((id, json["data"].as_str().unwrap().to_owned()));
            }
        }
        if received.messages.len() >= count {
            return true;
        }
    }
}

/// Asserts two message lists are equal, saying where they first differ
/// (thousands of messages make `assert_eq!`'s output unreadable).
fn assert_same(got: &[(u64, String)], want: &[(u64, String)], what: &str) {
    if got == want {
        return;
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: got {} messages, want {}; first difference at {at}: got {:?}, want {:?}",
        got.len(),
        want.len(),
        got.get(at.saturating_sub(1)..(at + 2).min(got.len())),
        want.get(at.saturating_sub(1)..(at + 2).min(want.len())),
    );
}

/// Publishes `count` messages `{tag}-{i}` to `channel` on `addr`, one POST
/// at a time; returns the acknowledged (id, text) pairs.
fn publish(addr: SocketAddr, channel: &str, tag: &str, count: usize) -> Vec<(u64, String)> {
    let mut publisher = Publisher::connect(addr);
    (0..count)
        .map(|i| {
            let text = format!("{tag}-{i}");
            let id = publisher.publish(channel, &text).expect("acknowledged");
            (id, text)
        })
        .collect()
}

#[test]
fn three_nodes_deliver_every_message_once_in_one_order_everywhere() {
    let Some(redis) = RedisServer::start(false) else {
        return;
    };
    let nodes: Vec<ServerProcess> = (0..3)
        .map(|_| node(&redis, &["--retain", "20000"]))
        .collect();
    const EACH: usize = 3_000;
    let total = 3 * EACH;
    let followers: Vec<_> = nodes
        .iter()
        .flat_map(|n| ALL.map(|t| (n.addr, t, follow(t, vec![n.addr], "all", total))))
        .collect();
    // Wait until every stream is subscribed (its node counts it).
    for n in &nodes {
        common::wait_for_stats(n.addr, Duration::from_secs(10), |s| {
            s["connections"]["sse"] == 1 && s["connections"]["websocket"] == 1
        });
    }
    let publishers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let addr = n.addr;
            std::thread::spawn(move || publish(addr, "all", &format!("node{k}"), EACH))
        })
        .collect();
    let mut acknowledged: Vec<(u64, String)> = publishers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    acknowledged.sort();
    let ids: Vec<u64> = acknowledged.iter().map(|a| a.0).collect();
    assert_eq!(
        ids,
        (1..=total as u64).collect::<Vec<_>>(),
        "Redis gave every id once"
    );
    let followers: Vec<_> = followers
        .into_iter()
        .map(|(addr, technique, (received, thread))| {
            thread.join().unwrap();
            (addr, technique, received)
        })
        .collect();
    for (addr, technique, received) in followers {
        let received = received.lock().unwrap();
        assert_same(
            &received.messages,
            &acknowledged,
            &format!("{technique:?} on {addr}: all {total}, once each, in id order, as published"),
        );
        assert_eq!(received.gaps, 0, "{technique:?} on {addr}");
    }
}

#[test]
fn a_killed_nodes_clients_resume_on_another_and_lose_nothing() {
    let Some(redis) = RedisServer::start(false) else {
        return;
    };
    let doomed = node(&redis, &["--retain", "20000"]);
    let survivor = node(&redis, &["--retain", "20000"]);
    const COUNT: usize = 3_000;
    let followers: Vec<_> = [LongPoll, Sse, WebSocket]
        .map(|t| {
            (
                t,
                follow(t, vec![doomed.addr, survivor.addr], "kill", COUNT),
            )
        })
        .into_iter()
        .collect();
    common::wait_for_stats(doomed.addr, Duration::from_secs(10), |s| {
        s["connections"]["sse"] == 1 && s["connections"]["websocket"] == 1
    });
    let addr = survivor.addr;
    let publisher = std::thread::spawn(move || publish(addr, "kill", "m", COUNT));
    // Kill the followers' node once each has had part of the stream.
    let deadline = Instant::now() + PATIENCE;
    while followers
        .iter()
        .any(|(_, (r, _))| r.lock().unwrap().messages.len() < COUNT / 5)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    doomed.signal("KILL");
    let acknowledged = publisher.join().unwrap();
    for (technique, (received, thread)) in followers {
        thread.join().unwrap();
        let received = received.lock().unwrap();
        assert!(
            received.connections >= 2,
            "{technique:?} resumed on the survivor"
        );
        assert_eq!(
            received.ids(),
            (1..=COUNT as u64).collect::<Vec<_>>(),
            "{technique:?}"
        );
        assert_same(
            &received.messages,
            &acknowledged,
            &format!("{technique:?}: the texts too"),
        );
        assert_eq!(received.gaps, 0, "{technique:?}");
    }
    drop(doomed);
}

#[test]
fn a_redis_restart_refuses_publishes_fast_and_loses_nothing_acknowledged() {
    let Some(mut redis) = RedisServer::start(true) else {
        return;
    };
    let nodes: Vec<ServerProcess> = (0..2).map(|_| node(&redis, &[])).collect();
    let mut followers: Vec<_> = nodes
        .iter()
        .flat_map(|n| ALL.map(|t| (t, follow(t, vec![n.addr], "outage", usize::MAX))))
        .collect();
    let mut publisher = Publisher::connect(nodes[0].addr);
    let mut acknowledged = Vec::new();
    let mut publish_some = |n: usize, acknowledged: &mut Vec<u64>| {
        for i in 0..n {
            if let Some(id) = publisher.publish("outage", &format!("m{i}")) {
                acknowledged.push(id);
            }
        }
    };
    publish_some(200, &mut acknowledged);
    redis.stop();
    // During the outage: 503 with a plain-text reason, well within a second.
    let mut during = Publisher::connect(nodes[1].addr);
    for _ in 0..5 {
        let started = Instant::now();
        let (status, body) = during
            .send("outage", "lost")
            .expect("an answer, not a hang");
        assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("redis"), "says why");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    let stats = common::stats(nodes[1].addr);
    assert_eq!(stats["redis"]["state"], "down", "{stats}");
    redis.start_again();
    // The node reconnects by itself (with backoff) and publishing works again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while common::stats(nodes[0].addr)["redis"]["state"] != "up" || acknowledged.len() < 201 {
        assert!(Instant::now() < deadline, "publishing never recovered");
        publish_some(1, &mut acknowledged);
    }
    publish_some(200, &mut acknowledged);
    let last = *acknowledged.last().unwrap();
    // Every follower, on either node, ends with every acknowledged message, once.
    for (technique, (received, _)) in &followers {
        let deadline = Instant::now() + Duration::from_secs(20);
        while received.lock().unwrap().last_id() < last && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let received = received.lock().unwrap();
        let ids = received.ids();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{technique:?}: once each, in order"
        );
        for id in &acknowledged {
            assert!(
                ids.contains(id),
                "{technique:?} lost acknowledged message {id}"
            );
        }
        assert_eq!(received.gaps, 0, "{technique:?}");
    }
    let stats = common::stats(nodes[1].addr);
    assert_eq!(stats["redis"]["state"], "up", "{stats}");
    assert!(
        stats["redis"]["reconnects"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    for (_, (received, _)) in &followers {
        received.lock().unwrap().stopped = true;
    }
    drop(nodes); // the followers' connections end with them
    for (_, (_, thread)) in followers.drain(..) {
        thread.join().unwrap();
    }
}

#[test]
fn resuming_on_another_node_replays_exactly_what_the_first_would() {
    let Some(redis) = RedisServer::start(false) else {
        return;
    };
    let a = node(&redis, &["--retain", "30"]);
    let b = node(&redis, &["--retain", "30"]);
    publish(a.addr, "resume", "m", 50);
    // From id 25: the 25 after it; from id 10: a gap (11..20 are trimmed), then 21..50.
    for after in [25, 10] {
        for technique in ALL {
            let on = |addr: SocketAddr| resume(technique, addr, "resume", after);
            let (from_a, from_b) = (on(a.addr), on(b.addr));
            assert_eq!(
                from_a, from_b,
                "{technique:?} after {after}: the same on both nodes"
            );
            let first = if after < 20 { 21 } else { after + 1 };
            assert_eq!(
                from_a.0.first().map(|m| m.0),
                Some(first),
                "{technique:?} after {after}"
            );
            assert_eq!(
                from_a.0.len() as u64,
                51 - first,
                "{technique:?} after {after}"
            );
            assert_eq!(
                from_a.1,
                usize::from(after < 20),
                "{technique:?} after {after}: gap"
            );
        }
    }
}

/// What a client resuming after `after` on `addr` is sent: the messages
/// up to the newest, and how many gap signals.
fn resume(
    technique: Technique,
    addr: SocketAddr,
    channel: &str,
    after: u64,
) -> (Vec<(u64, String)>, usize) {
    let received = Mutex::new(Received::default());
    let newest = 50;
    let remaining = |r: &Mutex<Received>| r.lock().unwrap().last_id() < newest;
    match technique {
        ShortPoll | LongPoll => {
            let mut from = after;
            while remaining(&received) {
                assert!(poll(technique, addr, channel, from, &received));
                from = received.lock().unwrap().last_id();
            }
        }
        Sse => {
            let wanted = (newest - after.max(20)) as usize;
            assert!(event_stream(addr, channel, after, wanted, &received));
        }
        WebSocket => {
            let wanted = (newest - after.max(20)) as usize;
            assert!(websocket(addr, channel, after, wanted, &received));
        }
    }
    let received = received.into_inner().unwrap();
    (received.messages, received.gaps)
}

/// While Redis hangs (`CLIENT PAUSE`: it answers no client for 2 s),
/// requests that need it wait or are refused, but the event loop goes on
/// serving everything else: nothing Redis does ever runs on a loop.
#[test]
fn a_hanging_redis_never_stalls_the_event_loop() {
    let Some(redis) = RedisServer::start(false) else {
        return;
    };
    let single = node(&redis, &["--threads", "1"]);
    let addr = single.addr;
    publish(addr, "busy", "m", 3);
    assert_eq!(redis.command(&["CLIENT", "PAUSE", "2000", "ALL"]), "+OK");
    // Each of these needs Redis: a publish, and a poll of a channel this
    // node has not loaded. Sent, not awaited.
    let mut waiting_publish = Publisher::connect(addr);
    let publish_thread = std::thread::spawn(move || {
        let started = Instant::now();
        let answer = waiting_publish.send("busy", "during");
        (answer.map(|a| a.0), started.elapsed())
    });
    let poll_thread = std::thread::spawn(move || {
        let started = Instant::now();
        (fetch(addr, "/ch/elsewhere/poll?after=0"), started.elapsed())
    });
    // Meanwhile — for as long as those two wait — the one loop answers
    // what needs no Redis, at once.
    let mut checks = 0;
    while !(publish_thread.is_finished() && poll_thread.is_finished()) {
        let started = Instant::now();
        let stats = common::stats(addr);
        assert!(stats["connections"].is_object());
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(100),
            "/stats took {took:?} while Redis hung"
        );
        checks += 1;
        assert!(checks < 100_000, "bounded");
    }
    assert!(checks > 1, "checked while they waited");
    let (published, took) = publish_thread.join().unwrap();
    eprintln!("publish while Redis hung: {published:?} after {took:?}");
    assert!(matches!(published, Some(200) | Some(503)), "{published:?}");
    assert!(
        took < Duration::from_millis(2_500),
        "answered within the call timeout: {took:?}"
    );
    let (polled, took) = poll_thread.join().unwrap();
    eprintln!(
        "poll of an unloaded channel while Redis hung: {:?} after {took:?}",
        polled.as_ref().map(|p| p.0)
    );
    assert!(matches!(polled, Some((200 | 503, _))), "{polled:?}");
}
