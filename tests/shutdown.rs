//! Graceful shutdown of a real process: SIGTERM drains every technique the
//! way its protocol says, and the process exits 0.

mod common;

use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::ws::WsClient;
use common::{Client, SseClient};

#[test]
fn sigterm_drains_every_technique_and_exits_zero() {
    let mut server = ServerProcess::start(&["--threads", "2"]);
    let addr = server.addr;
    let mut streams: Vec<SseClient> = (0..100)
        .map(|_| SseClient::open(addr, "/ch/bye/sse", ""))
        .collect();
    let mut sockets: Vec<WsClient> = (0..100)
        .map(|_| WsClient::connect(addr, "/ch/bye/ws"))
        .collect();
    let mut polls: Vec<Client> = (0..100)
        .map(|_| {
            let mut client = Client::connect(addr);
            client.send("GET /ch/bye/longpoll HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            client
        })
        .collect();
    // Every long poll is parked before the signal (the stats say so).
    let stats = common::wait_for_stats(addr, Duration::from_secs(10), |s| {
        s["connections"]["longpoll"] == 100
    });
    assert_eq!(stats["connections"]["longpoll"], 100);

    let signalled = Instant::now();
    server.signal("TERM");
    for ws in &mut sockets {
        let close = ws.frame();
        assert_eq!(close.close_code(), Some(1001), "going away");
        ws.send_frame(true, rtweb::ws::OpCode::Close, &close.payload[..2]);
    }
    for sse in &mut streams {
        // The stream ends with the chunked terminator, not a reset.
        assert!(sse.next_event().is_none());
    }
    for poll in &mut polls {
        let reply = poll.response();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["messages"], serde_json::json!([]));
        assert_eq!(reply.header("connection"), Some("close"));
    }
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("exited after draining");
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "{:?}",
        signalled.elapsed()
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut server = ServerProcess::start(&["--shutdown-timeout", "60"]);
    // A WebSocket that never answers the Close keeps the drain waiting.
    let _silent = WsClient::connect(server.addr, "/ch/stuck/ws");
    server.signal("TERM");
    assert!(
        server.wait_exit(Duration::from_millis(300)).is_none(),
        "still draining"
    );
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(2)).expect("exited");
    assert!(!status.success());
}
