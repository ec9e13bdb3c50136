//! Timeouts that begin when a wait ends, over real sockets: after a long
//! poll is answered the connection is idle *from the answer*, so a client
//! that asks again at once is served, and one that goes quiet is closed
//! one idle timeout later — never at once, never never.

mod common;

use std::time::{Duration, Instant};

use common::{spawn_publisher, Client};

const IDLE: Duration = Duration::from_millis(500);

fn start() -> rtweb::ServerHandle {
    common::start_with(|c| c.idle_timeout = IDLE)
}

/// A long poll parked on `channel`, woken by a publish made three idle
/// timeouts after it asked: returns its connection, the answer read.
fn woken_long_poll(addr: std::net::SocketAddr, channel: &str) -> Client {
    let mut client = Client::connect(addr);
    client.send(format!(
        "GET /ch/{channel}/longpoll?after=0&timeout=30 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    ));
    common::wait_for_stats(addr, Duration::from_secs(10), |s| {
        s["connections"]["longpoll"] == 1
    });
    std::thread::sleep(IDLE * 3);
    spawn_publisher(addr, channel, 1).join().unwrap();
    assert_eq!(client.response().json()["messages"][0]["data"], "m1");
    client
}

/// Asserts the server closes `client` about one idle timeout after `since`.
fn closed_one_idle_timeout_after(client: &mut Client, since: Instant) {
    assert!(
        client.closed_within(Duration::from_secs(10)),
        "never closed"
    );
    let idled = since.elapsed();
    assert!(idled >= IDLE / 2, "closed {idled:?} after the answer");
}

#[test]
fn a_long_poll_longer_than_the_idle_timeout_times_out_then_idles_once() {
    let server = start();
    let mut client = Client::connect(server.addr);
    // Parked for 1 s, twice the idle timeout; answered empty at its end.
    let asked = Instant::now();
    let reply = client.get("/ch/lp1/longpoll?after=0&timeout=1");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["messages"], serde_json::json!([]));
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "{:?}",
        asked.elapsed()
    );
    // Idle from the answer on: closed one idle timeout later (not left
    // open forever because the idle deadline had passed while parked).
    closed_one_idle_timeout_after(&mut client, Instant::now());
}

#[test]
fn a_long_poll_woken_after_the_idle_timeout_keeps_its_connection() {
    let server = start();
    let mut client = woken_long_poll(server.addr, "lp2");
    let answered = Instant::now();
    // The same connection serves the next request at once...
    assert_eq!(client.get("/ch/lp2/poll?after=0").json()["last_id"], 1);
    // ...and is closed one idle timeout after going quiet.
    closed_one_idle_timeout_after(&mut client, answered);
}

#[test]
fn a_long_poll_woken_after_the_idle_timeout_then_quiet_is_closed_later() {
    let server = start();
    let mut client = woken_long_poll(server.addr, "lp3");
    closed_one_idle_timeout_after(&mut client, Instant::now());
}
