//! HTTP/1.1 over real sockets: each rule of the server core, end to end.

mod common;

use std::time::{Duration, Instant};

use common::{start, start_with, Client};

#[test]
fn keep_alive_connection_is_reused() {
    let server = start();
    let mut client = Client::connect(server.addr);
    for _ in 0..3 {
        let reply = client.get("/stats");
        assert_eq!(reply.status, 200);
        assert!(reply.header("connection").is_none());
        assert!(reply.header("date").is_some_and(|d| d.ends_with(" GMT")));
    }
    assert_eq!(common::stats(server.addr)["connections_accepted"], 2);
}

#[test]
fn ten_pipelined_requests_are_answered_in_order() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let mut batch = String::new();
    for i in 1..=10 {
        let body = format!("message {i}");
        batch += &format!(
            "POST /ch/pipe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    }
    client.send(batch);
    for i in 1..=10 {
        assert_eq!(client.response().json()["id"], i);
    }
}

#[test]
fn chunked_post_is_decoded() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send("POST /ch/c HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    assert_eq!(client.response().json()["id"], 1);
    let poll = client.get("/ch/c/poll?after=0").json();
    assert_eq!(poll["messages"][0]["data"], "hello world");
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send(
        "POST /ch/e HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(client.response().status, 100);
    client.send("hi");
    assert_eq!(client.response().json()["id"], 1);
}

#[test]
fn http10_expect_100_continue_gets_no_interim_response() {
    // RFC 9110 §10.1.1: ignore the expectation from an HTTP/1.0 client;
    // §15.2: never send it a 1xx. The first thing it reads is the answer.
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send("POST /ch/e10 HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi");
    let reply = client.response();
    assert_eq!((reply.status, reply.json()["id"].as_u64()), (200, Some(1)));
}

#[test]
fn absolute_form_request_target_is_served() {
    // RFC 9112 §3.2.2: a server MUST accept the absolute form.
    let server = start();
    let mut client = Client::connect(server.addr);
    client.post("/ch/abs", "x");
    client.send(format!(
        "GET http://{}/ch/abs/poll?after=0 HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr, server.addr
    ));
    let reply = client.response();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["messages"][0]["data"], "x");
}

#[test]
fn favicon_is_no_content_not_an_error() {
    let server = start();
    let reply = Client::connect(server.addr).get("/favicon.ico");
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("content-length"), None, "RFC 9110 §8.6");
}

#[test]
fn oversized_body_with_expect_gets_413_without_continue() {
    let server = start_with(|c| c.max_message = 10);
    let mut client = Client::connect(server.addr);
    client.send(
        "POST /ch/e HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
    );
    let reply = client.response();
    assert_eq!(reply.status, 413);
    assert_eq!(reply.header("connection"), Some("close"));
}

#[test]
fn head_is_get_without_the_body() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let get = client.get("/");
    client.send("HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let head = client.head_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), get.header("content-length"));
    // Nothing but the head was sent: the next response starts right after it.
    assert_eq!(client.get("/stats").status, 200);
}

#[test]
fn http10_closes_unless_keep_alive() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send("GET /stats HTTP/1.0\r\n\r\n");
    assert_eq!(client.response().header("connection"), Some("close"));
    assert!(client.closed_within(Duration::from_secs(5)));

    let mut client = Client::connect(server.addr);
    client.send("GET /stats HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    // RFC 9112 §9.3 / Appendix C.2.2: an HTTP/1.0 client keeps the connection
    // only if the answer says `keep-alive` too (ApacheBench -k waits for it).
    assert_eq!(client.response().header("connection"), Some("keep-alive"));
    client.send("GET /stats HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(client.response().header("connection"), Some("keep-alive"));
    // An HTTP/1.1 answer needs no such field: persistence is its default.
    assert!(client.get("/stats").header("connection").is_none());
}

#[test]
fn connection_close_is_honoured() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send("GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assert_eq!(client.response().header("connection"), Some("close"));
    assert!(client.closed_within(Duration::from_secs(5)));
}

/// Sends `request`, expects `status` with `Connection: close`, then EOF.
fn assert_rejected(request: &str, status: u16) {
    let server = start_with(|c| c.max_message = 1000);
    let mut client = Client::connect(server.addr);
    client.send(request);
    let reply = client.response();
    assert_eq!(reply.status, status, "for {request:?}: {}", reply.text());
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(reply
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));
    assert!(
        client.closed_within(Duration::from_secs(5)),
        "not closed after {status}"
    );
}

#[test]
fn error_statuses() {
    assert_rejected("GET / HTTP/1.1\r\n\r\n", 400);
    assert_rejected(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n",
        400,
    );
    assert_rejected(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\r\n  folded\r\n\r\n",
        400,
    );
    assert_rejected("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    assert_rejected("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\0b\r\n\r\n", 400);
    assert_rejected("GET / HTTP/3.0\r\nHost: 127.0.0.1\r\n\r\n", 505);
    assert_rejected(
        &format!(
            "GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            "x".repeat(9000)
        ),
        414,
    );
    assert_rejected(
        &format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: {}\r\n\r\n",
            "x".repeat(17000)
        ),
        431,
    );
    let many: String = (0..70).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_rejected(
        &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{many}\r\n"),
        431,
    );
    assert_rejected(
        "POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1001\r\n\r\n",
        413,
    );
    assert_rejected(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: something\r\n\r\n",
        417,
    );
}

#[test]
fn malformed_request_line_is_400_and_unsupported_version_505() {
    // RFC 9112 §3: no version, or a fourth word, is an invalid request-line.
    assert_rejected("GET /\r\nHost: 127.0.0.1\r\n\r\n", 400);
    assert_rejected("GET / \r\nHost: 127.0.0.1\r\n\r\n", 400);
    assert_rejected("GET / x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400);
    assert_rejected("GET / http/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400);
    // Well-formed, but a major version we do not speak (RFC 9110 §15.6.6).
    assert_rejected("GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 505);
}

#[test]
fn later_http1_minor_version_is_served_as_http11() {
    // RFC 9110 §2.5: HTTP/1.2 is processed as HTTP/1.1 (and so persists).
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send("GET /stats HTTP/1.2\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(client.response().status, 200);
    assert_eq!(client.get("/stats").status, 200);
}

#[test]
fn request_smuggling_vectors_are_refused() {
    // Each of these frames a body two ways; a proxy in front may pick the other.
    assert_rejected("POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    assert_rejected(
        "POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        400,
    );
    assert_rejected(
        "POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -4\r\n\r\n",
        400,
    );
    assert_rejected(
        "POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4 \r\nContent-Length: 4x\r\n\r\n",
        400,
    );
    assert_rejected(
        "POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    );
    assert_rejected(
        "POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        400,
    );
    assert_rejected(
        "POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
        400,
    );
    assert_rejected(
        "POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n\r\n",
        400,
    );
    assert_rejected(
        "POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
        400,
    );
    assert_rejected(
        "POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
        400,
    );
}

#[test]
fn unknown_path_and_wrong_method() {
    let server = start();
    let mut client = Client::connect(server.addr);
    assert_eq!(client.get("/nowhere").status, 404);
    let reply = client.post("/stats", "x");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    let reply = client.get("/ch/demo");
    assert_eq!((reply.status, reply.header("allow")), (405, Some("POST")));
}

#[test]
fn trickled_head_past_the_head_timeout_gets_408() {
    let server = start_with(|c| c.head_timeout = Duration::from_millis(300));
    let mut client = Client::connect(server.addr);
    let start = Instant::now();
    let head = b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    let mut sent = 0;
    // One byte every 20 ms: the head is never finished within 300 ms.
    while start.elapsed() < Duration::from_millis(600) && sent < head.len() {
        if client.stream.write(&head[sent..sent + 1]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let reply = client.response();
    assert_eq!(reply.status, 408);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(290) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let server = start_with(|c| c.idle_timeout = Duration::from_millis(200));
    let mut client = Client::connect(server.addr);
    assert_eq!(client.get("/stats").status, 200);
    assert!(client.closed_within(Duration::from_secs(5)));
}

#[test]
fn reset_peer_leaves_no_trace() {
    let server = start();
    {
        let mut client = Client::connect(server.addr);
        client.send("GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ");
        // Dropping the socket with unread data makes the kernel send a reset.
    }
    let stats = common::wait_for_stats(server.addr, Duration::from_secs(5), |s| {
        s["connections"]["http"] == 1
    });
    assert_eq!(
        stats["connections"]["http"], 1,
        "only the stats connection remains: {stats}"
    );
}

#[test]
fn half_closed_peer_still_gets_its_answer() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send("GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    client.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(client.response().status, 200);
    assert!(client.closed_within(Duration::from_secs(5)));
}

#[test]
fn half_closed_peer_behind_a_full_input_buffer_gets_every_answer_and_the_close() {
    // A parked long poll leaves the requests pipelined behind it unread:
    // the server stops reading once its input buffer is full, with ~120 KB
    // still in the socket, and the FIN arrives meanwhile. Once the poll is
    // answered the server must read the rest, answer it, and still see the
    // EOF: its readiness event was used while reading was paused, the read
    // that follows comes back short, and the few small answers leave no
    // write pending that would bring an edge.
    let server = start_with(|c| c.max_message = 1024);
    let mut client = Client::connect(server.addr);
    client.send("GET /ch/held/longpoll?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    common::wait_for_stats(server.addr, Duration::from_secs(5), |s| {
        s["connections"]["longpoll"] == 1
    });
    let count = 10;
    let padded = format!(
        "GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {}\r\n\r\n",
        "x".repeat(12 * 1024)
    );
    client.send(padded.repeat(count));
    client.stream.shutdown(std::net::Shutdown::Write).unwrap();
    Client::connect(server.addr).post("/ch/held", "wake");
    let poll = client.response();
    assert_eq!(poll.status, 200);
    assert_eq!(poll.json()["messages"][0]["data"], "wake");
    for i in 0..count {
        assert_eq!(client.response().status, 404, "answer {i}");
    }
    assert!(client.closed_within(Duration::from_secs(5)));
}

use std::io::Write;

#[test]
fn large_response_with_connection_close_ends_promptly_after_its_last_byte() {
    // About 6 MB: more than the socket buffers hold, so the response takes
    // several flushes; the close must still be graceful and prompt.
    let server = start_with(|c| {
        c.retain = 100;
        c.max_message = 64 * 1024;
    });
    let mut client = Client::connect(server.addr);
    let chunk = "x".repeat(60 * 1024);
    for _ in 0..100 {
        client.post("/ch/big", &chunk);
    }
    client
        .send("GET /ch/big/poll?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let reply = client.response();
    let finished = Instant::now();
    assert_eq!(reply.json()["messages"].as_array().unwrap().len(), 100);
    assert!(client.closed_within(Duration::from_secs(5)));
    let eof_after = finished.elapsed();
    assert!(
        eof_after < Duration::from_millis(1000),
        "EOF {eof_after:?} after the last byte"
    );
}
