//! Who may publish and subscribe, over real sockets (issue 13): tokens on
//! all four techniques and both publishing paths (POST and a WebSocket
//! frame), streams ending when their token expires, the Host and Origin
//! rules, CORS, and the refusals counted in /metrics. After each refusal a
//! client that does things right is served as if nothing happened.

mod common;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use common::ws::{handshake_request, WsClient};
use common::{start_with, Client, SseClient};
use jsonwebtoken::{encode, EncodingKey, Header};
use rtweb::access::{AllowedOrigins, Secret};
use rtweb::ws::OpCode;
use rtweb::{Config, ServerHandle};
use serde_json::json;

const SECRET: &[u8] = b"a test secret of at least 32 bytes!!";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token with these patterns, valid for `seconds` from now.
fn token(publish: &[&str], subscribe: &[&str], seconds: i64) -> String {
    let claims = json!({
        "rtweb": {"publish": publish, "subscribe": subscribe},
        "exp": now() as i64 + seconds,
    });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn secured(adjust: impl FnOnce(&mut Config)) -> ServerHandle {
    start_with(|c| {
        c.jwt_secret = Some(Secret::new(SECRET.to_vec(), "test").unwrap());
        adjust(c);
    })
}

/// Sends `method target` with extra header lines and a body; the response.
fn request(addr: SocketAddr, method: &str, target: &str, extra: &str, body: &str) -> common::Reply {
    let mut client = Client::connect(addr);
    client.send(format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    client.response()
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

/// A publisher with the right token is served: the well-behaved client.
fn served(addr: SocketAddr, channel: &str) -> u64 {
    let good = token(&["*"], &["*"], 600);
    let reply = request(
        addr,
        "POST",
        &format!("/ch/{channel}"),
        &bearer(&good),
        "fine",
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["id"].as_u64().unwrap()
}

#[test]
fn open_by_default_but_only_for_loopback_host_names() {
    let server = start_with(|_| {});
    let addr = server.addr;
    assert_eq!(request(addr, "POST", "/ch/open", "", "hi").status, 200);
    for host in ["localhost", &format!("127.0.0.1:{}", addr.port()), "[::1]"] {
        let mut client = Client::connect(addr);
        client.send(format!(
            "GET /ch/open/poll HTTP/1.1\r\nHost: {host}\r\n\r\n"
        ));
        assert_eq!(client.response().status, 200, "Host: {host}");
    }
    // DNS rebinding: a page on attacker.example resolved to 127.0.0.1.
    let mut client = Client::connect(addr);
    client.send("GET /ch/open/poll HTTP/1.1\r\nHost: attacker.example\r\n\r\n");
    let reply = client.response();
    assert_eq!(reply.status, 421, "{}", reply.text());
    assert!(reply.text().contains("attacker.example"));
}

#[test]
fn publishing_needs_a_token_by_post_and_by_websocket_frame() {
    let server = secured(|_| {});
    let addr = server.addr;
    // POST without a token: 401 and the challenge (RFC 6750 §3).
    let reply = request(addr, "POST", "/ch/chat.room", "", "x");
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"rtweb\"")
    );
    // A bad signature: invalid_token.
    let forged = format!("{}x", token(&["*"], &[], 600));
    let reply = request(addr, "POST", "/ch/chat.room", &bearer(&forged), "x");
    assert_eq!(reply.status, 401);
    assert!(reply
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    // A valid token for other channels: 403.
    let chat = token(&["chat.*"], &[], 600);
    let reply = request(addr, "POST", "/ch/news", &bearer(&chat), "x");
    assert_eq!(reply.status, 403, "{}", reply.text());
    // The right token, three ways it may travel.
    let reply = request(addr, "POST", "/ch/chat.room", &bearer(&chat), "one");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let cookie = format!("Cookie: theme=dark; rtweb_token={chat}\r\n");
    assert_eq!(
        request(addr, "POST", "/ch/chat.room", &cookie, "two").status,
        200
    );
    let query = format!("/ch/chat.room?access_token={chat}");
    assert_eq!(request(addr, "POST", &query, "", "three").status, 200);

    // A WebSocket publishes with its handshake's token, checked per frame.
    let mut ws = WsClient::connect(addr, &format!("/ch/chat.room/ws?access_token={chat}"));
    ws.send_text("four");
    assert_eq!(ws.frame().json()["data"], "four");
    // Without a token it may subscribe (open here) but not publish: 1008.
    let mut ws = WsClient::connect(addr, "/ch/chat.room/ws");
    ws.send_text("five");
    let close = ws.frame();
    assert_eq!(close.opcode, OpCode::Close);
    assert_eq!(close.close_code(), Some(1008));
    // A token that has expired since the handshake: 1008 at the frame.
    let expired = token(&["chat.*"], &[], -5);
    let mut ws = WsClient::connect(addr, &format!("/ch/chat.room/ws?access_token={expired}"));
    ws.send_text("six");
    let close = ws.frame();
    assert_eq!(close.close_code(), Some(1008));
    assert!(String::from_utf8_lossy(&close.payload[2..]).contains("expired"));

    let poll = Client::connect(addr)
        .get("/ch/chat.room/poll?after=0")
        .json();
    let data: Vec<&str> = poll["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["data"].as_str().unwrap())
        .collect();
    assert_eq!(
        data,
        ["one", "two", "three", "four"],
        "nothing refused was kept"
    );
    assert_eq!(served(addr, "chat.room"), 5);
}

#[test]
fn subscribing_needs_a_token_on_all_four_techniques_when_asked() {
    let server = secured(|c| c.subscribe_needs_token = true);
    let addr = server.addr;
    served(addr, "feed");
    let targets = [
        "/ch/feed/poll",
        "/ch/feed/longpoll?timeout=1",
        "/ch/feed/sse",
    ];
    for target in targets {
        assert_eq!(request(addr, "GET", target, "", "").status, 401, "{target}");
    }
    // A refused WebSocket handshake gets its status, never a 101 first.
    let mut client = Client::connect(addr);
    client.send(handshake_request("/ch/feed/ws", ""));
    assert_eq!(client.response().status, 401);

    let other = token(&[], &["other"], 600);
    for target in targets {
        let reply = request(addr, "GET", target, &bearer(&other), "");
        assert_eq!(reply.status, 403, "{target}");
    }
    let mut client = Client::connect(addr);
    client.send(handshake_request("/ch/feed/ws", &bearer(&other)));
    assert_eq!(client.response().status, 403);

    let reader = token(&[], &["fe*"], 600);
    let poll = request(addr, "GET", "/ch/feed/poll?after=0", &bearer(&reader), "");
    assert_eq!(poll.json()["messages"][0]["data"], "fine");
    let long = request(
        addr,
        "GET",
        "/ch/feed/longpoll?after=0",
        &bearer(&reader),
        "",
    );
    assert_eq!(long.json()["messages"][0]["data"], "fine");
    // Browsers' EventSource and WebSocket cannot set headers: a cookie.
    let cookie = format!("Cookie: rtweb_token={reader}\r\n");
    let mut sse = SseClient::open(addr, "/ch/feed/sse?after=0", &cookie);
    assert_eq!(sse.next_event().unwrap().data, "fine");
    let (mut ws, _) = WsClient::connect_with(addr, "/ch/feed/ws?after=0", &cookie);
    assert_eq!(ws.frame().json()["data"], "fine");
    served(addr, "feed");
    assert_eq!(sse.next_event().unwrap().data, "fine");
    assert_eq!(ws.frame().json()["data"], "fine");
}

#[test]
fn streams_end_when_their_token_expires() {
    let server = secured(|c| c.subscribe_needs_token = true);
    let addr = server.addr;
    let brief = token(&[], &["clock"], 2);
    let mut sse = SseClient::open(addr, "/ch/clock/sse", &bearer(&brief));
    let (mut ws, _) = WsClient::connect_with(addr, "/ch/clock/ws", &bearer(&brief));
    served(addr, "clock");
    assert_eq!(sse.next_event().unwrap().data, "fine");
    assert_eq!(ws.frame().json()["data"], "fine");
    // Within a few seconds (the reads' own timeout bounds the wait):
    let expired = sse.next_event().expect("an event before the end");
    assert_eq!(expired.kind, "expired");
    assert!(sse.next_event().is_none(), "the stream ends after it");
    let close = ws.frame();
    assert_eq!(close.opcode, OpCode::Close);
    assert_eq!(close.close_code(), Some(1008));
    // Meanwhile, a long-lived token's stream goes on.
    let lasting = token(&[], &["clock"], 600);
    let mut sse = SseClient::open(addr, "/ch/clock/sse", &bearer(&lasting));
    served(addr, "clock");
    assert_eq!(sse.next_event().unwrap().data, "fine");
}

#[test]
fn origins_decide_which_pages_may_connect_and_get_cors() {
    let page = "http://127.0.0.1:5555";
    let server = start_with(|c| c.allow_origin = AllowedOrigins::parse(page).unwrap());
    let addr = server.addr;
    // A page not allowed: its WebSocket is refused (RFC 6455 §10.2) and
    // so is its publish, `Origin: null` (sandboxed, file://) included.
    let mut client = Client::connect(addr);
    client.send(handshake_request(
        "/ch/x/ws",
        "Origin: http://evil.example\r\n",
    ));
    assert_eq!(client.response().status, 403);
    for origin in ["http://evil.example", "null"] {
        let extra = format!("Origin: {origin}\r\n");
        assert_eq!(request(addr, "POST", "/ch/x", &extra, "no").status, 403);
    }
    // The allowed page: served, with CORS headers and Vary: Origin.
    let extra = format!("Origin: {page}\r\n");
    let reply = request(addr, "POST", "/ch/x", &extra, "yes");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), Some(page));
    assert_eq!(reply.header("vary"), Some("Origin"));
    let poll = request(addr, "GET", "/ch/x/longpoll?after=0", &extra, "");
    assert_eq!(poll.header("access-control-allow-origin"), Some(page));
    let mut sse = Client::connect(addr);
    sse.send(format!(
        "GET /ch/x/sse HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {page}\r\n\r\n"
    ));
    let head = sse.head();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("access-control-allow-origin"), Some(page));
    // Its preflight.
    let reply = request(
        addr,
        "OPTIONS",
        "/ch/x",
        &format!("{extra}Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization\r\n"),
        "",
    );
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("access-control-allow-origin"), Some(page));
    assert!(reply
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert!(reply
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase()
        .contains("authorization"));
    // The server's own origin, and clients that send none, need no CORS.
    // (A browser's Host carries the port, as its Origin does.)
    let mut client = Client::connect(addr);
    client.send(format!(
        "POST /ch/x HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nContent-Length: 3\r\n\r\nown"
    ));
    let reply = client.response();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("access-control-allow-origin"), None);
    assert_eq!(request(addr, "POST", "/ch/x", "", "curl").status, 200);
}

#[test]
fn refusals_are_counted_by_reason() {
    let server = secured(|c| c.subscribe_needs_token = true);
    let addr = server.addr;
    request(addr, "POST", "/ch/m", "", "x");
    let forged = format!("{}x", token(&["*"], &[], 600));
    request(addr, "POST", "/ch/m", &bearer(&forged), "x");
    request(
        addr,
        "POST",
        "/ch/m",
        &bearer(&token(&["z"], &[], 600)),
        "x",
    );
    request(addr, "POST", "/ch/m", "Origin: null\r\n", "x");
    let mut client = Client::connect(addr);
    client.send("GET /ch/m/poll HTTP/1.1\r\nHost: rebinding.example\r\n\r\n");
    assert_eq!(client.response().status, 421);
    let metrics = request(addr, "GET", "/metrics", "", "").text();
    for reason in [
        "no_token",
        "bad_token",
        "forbidden_channel",
        "origin",
        "host",
    ] {
        let line = format!("rtweb_refusals_total{{reason=\"{reason}\"}} 1\n");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    served(addr, "m");
}
