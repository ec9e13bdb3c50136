//! WebSocket over real sockets: the handshake, echo, control frames, the
//! close handshake and each protocol error's close code.

mod common;

use std::time::Duration;

use common::ws::{handshake_request, WsClient};
use common::{start, start_with, Client};
use rtweb::ws::OpCode;

#[test]
fn handshake_rejections() {
    let server = start();
    let cases = [
        ("", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", 426),
        ("", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n", 400),
        ("", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: !!notbase64!!\r\n", 400),
        ("", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400),
        ("", "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", 400),
        // A channel socket asked for without an upgrade: 426, and (RFC 9110
        // §7.8) the `upgrade` connection option beside `Upgrade`.
        ("/ch/t/ws", "", 426),
    ];
    for (path, headers, status) in cases {
        let path = if path.is_empty() { "/echo" } else { path };
        let mut client = Client::connect(server.addr);
        client.send(format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n"
        ));
        let reply = client.response();
        assert_eq!(reply.status, status, "{headers:?}");
        if status == 426 {
            assert_eq!(reply.header("sec-websocket-version"), Some("13"));
        }
        if headers.is_empty() {
            assert_eq!(reply.header("upgrade"), Some("websocket"));
            assert_eq!(reply.header("connection"), Some("upgrade"));
        }
    }
    let mut client = Client::connect(server.addr);
    client.send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    assert_eq!(client.response().status, 400);
}

#[test]
fn plain_http_to_echo_answers_with_the_request_body() {
    let server = start();
    let mut client = Client::connect(server.addr);
    // Any method, any framing the client used: the same bytes come back.
    client.send("PUT /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/x-test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    let reply = client.response();
    assert_eq!((reply.status, reply.text()), (200, "abcde".to_owned()));
    assert_eq!(reply.header("content-type"), Some("text/x-test"));
    assert_eq!(reply.header("content-length"), Some("5"));
    let reply = client.get("/echo");
    assert_eq!((reply.status, reply.body.len()), (200, 0));
}

#[test]
fn token_lists_in_any_case_are_accepted() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    assert_eq!(client.head().status, 101);
}

#[test]
fn bytes_sent_with_the_handshake_are_not_lost() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let mut bytes = handshake_request("/echo", "").into_bytes();
    rtweb::ws::frame::write_client_frame(&mut bytes, true, OpCode::Text, b"early", [1, 2, 3, 4]);
    client.send(bytes);
    assert_eq!(client.head().status, 101);
    let mut ws = WsClient {
        client,
        opening: None,
    };
    assert_eq!(ws.frame().text(), "early");
}

#[test]
fn echo_text_and_binary_in_every_length_class() {
    let server = start();
    let mut ws = WsClient::connect(server.addr, "/echo");
    for len in [0, 1, 125, 126, 65535, 65536, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send_frame(true, OpCode::Binary, &payload);
        let frame = ws.frame();
        assert_eq!((frame.opcode, frame.payload.len()), (OpCode::Binary, len));
        assert_eq!(frame.payload, payload);
        let text = "é".repeat(len / 2);
        ws.send_text(&text);
        assert_eq!(ws.frame().text(), text);
    }
}

#[test]
fn sixteen_mebibyte_message_in_fragments() {
    let server = start();
    let mut ws = WsClient::connect(server.addr, "/echo");
    let chunk = vec![b'z'; 1 << 20];
    for i in 0..16 {
        let opcode = if i == 0 {
            OpCode::Binary
        } else {
            OpCode::Continuation
        };
        ws.send_frame(i == 15, opcode, &chunk);
    }
    let frame = ws.frame();
    assert_eq!(frame.payload.len(), 16 << 20);
    assert!(frame.payload.iter().all(|&b| b == b'z'));
}

#[test]
fn message_over_the_limit_closes_with_1009() {
    let server = start_with(|c| c.max_ws_message = 1000);
    let mut ws = WsClient::connect(server.addr, "/echo");
    ws.send_frame(true, OpCode::Binary, &[0; 1001]);
    assert_eq!(ws.frame().close_code(), Some(1009));
}

#[test]
fn ping_gets_a_pong_with_its_payload_and_pongs_are_ignored() {
    let server = start();
    let mut ws = WsClient::connect(server.addr, "/echo");
    ws.send_frame(true, OpCode::Pong, b"unsolicited");
    ws.send_frame(true, OpCode::Ping, b"are you there");
    let pong = ws.frame();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (OpCode::Pong, &b"are you there"[..])
    );
}

#[test]
fn client_initiated_close_is_echoed_then_tcp_closes() {
    let server = start();
    let mut ws = WsClient::connect(server.addr, "/echo");
    ws.send_frame(true, OpCode::Close, &[0x03, 0xE8, b'o', b'k']);
    let close = ws.frame();
    assert_eq!(close.close_code(), Some(1000));
    assert!(
        ws.client.closed_within(Duration::from_secs(5)),
        "the server closes TCP first"
    );
}

#[test]
fn server_initiated_close_by_ping_timeout() {
    // The server pings an idle connection and closes it when nothing answers.
    let server = start_with(|c| c.ws_ping = Duration::from_millis(100));
    let mut ws = WsClient::connect(server.addr, "/echo");
    let ping = ws.frame();
    assert_eq!(ping.opcode, OpCode::Ping);
    assert!(ws.client.closed_within(Duration::from_secs(5)));
}

#[test]
fn answering_pings_keeps_an_idle_connection_open() {
    let server = start_with(|c| c.ws_ping = Duration::from_millis(100));
    let mut ws = WsClient::connect(server.addr, "/echo");
    for _ in 0..3 {
        let ping = ws.frame();
        assert_eq!(ping.opcode, OpCode::Ping);
        ws.send_frame(true, OpCode::Pong, &ping.payload);
    }
    ws.send_text("still here");
    // Skip pings that raced with the message.
    let reply = std::iter::repeat_with(|| ws.frame())
        .find(|f| f.opcode == OpCode::Text)
        .unwrap();
    assert_eq!(reply.text(), "still here");
}

/// Something a misbehaving client does.
type ClientAction = dyn Fn(&mut WsClient);

#[test]
fn each_protocol_error_closes_with_its_code() {
    let server = start();
    let unmasked = |ws: &mut WsClient| ws.client.send([0x81, 0x02, b'h', b'i']);
    let cases: Vec<(&str, Box<ClientAction>, u16)> = vec![
        ("unmasked frame", Box::new(unmasked), 1002),
        (
            "reserved bit",
            Box::new(|ws: &mut WsClient| ws.client.send([0xC1, 0x80, 0, 0, 0, 0])),
            1002,
        ),
        (
            "reserved opcode",
            Box::new(|ws: &mut WsClient| ws.client.send([0x83, 0x80, 0, 0, 0, 0])),
            1002,
        ),
        (
            "fragmented ping",
            Box::new(|ws: &mut WsClient| ws.send_frame(false, OpCode::Ping, b"x")),
            1002,
        ),
        (
            "126-byte ping",
            Box::new(|ws: &mut WsClient| ws.send_frame(true, OpCode::Ping, &[0; 126])),
            1002,
        ),
        (
            "orphan continuation",
            Box::new(|ws: &mut WsClient| ws.send_frame(true, OpCode::Continuation, b"x")),
            1002,
        ),
        (
            "data inside a fragmented message",
            Box::new(|ws: &mut WsClient| {
                ws.send_frame(false, OpCode::Text, b"a");
                ws.send_frame(true, OpCode::Binary, b"b");
            }),
            1002,
        ),
        (
            "invalid UTF-8",
            Box::new(|ws: &mut WsClient| ws.send_frame(true, OpCode::Text, &[0xF8, 0x88])),
            1007,
        ),
        (
            "invalid UTF-8 in the first fragment",
            Box::new(|ws: &mut WsClient| ws.send_frame(false, OpCode::Text, &[b'o', b'k', 0xC0])),
            1007,
        ),
        (
            "one-byte close",
            Box::new(|ws: &mut WsClient| ws.send_frame(true, OpCode::Close, &[3])),
            1002,
        ),
        (
            "close code 1005",
            Box::new(|ws: &mut WsClient| ws.send_frame(true, OpCode::Close, &[0x03, 0xED])),
            1002,
        ),
        (
            "close code 2999",
            Box::new(|ws: &mut WsClient| ws.send_frame(true, OpCode::Close, &[0x0B, 0xB7])),
            1002,
        ),
        (
            "close reason not UTF-8",
            Box::new(|ws: &mut WsClient| ws.send_frame(true, OpCode::Close, &[0x03, 0xE8, 0xFF])),
            1007,
        ),
    ];
    for (name, send, code) in cases {
        let mut ws = WsClient::connect(server.addr, "/echo");
        send(&mut ws);
        assert_eq!(ws.frame().close_code(), Some(code), "{name}");
        assert!(
            ws.client.closed_within(Duration::from_secs(5)),
            "{name}: TCP closed"
        );
    }
}
