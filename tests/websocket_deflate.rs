//! permessage-deflate (RFC 7692) through the real server: the handshake's
//! answer, compressed echo with context takeover, compressed channel
//! frames shared by subscribers, the bomb limit, and `--ws-deflate off`.
//! The client side compresses and inflates with flate2 on its own, not
//! with rtweb's code.

mod common;

use std::time::Duration;

use common::ws::{Frame, WsClient};
use common::{start, start_with, stats, Client};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use rtweb::ws::OpCode;

const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A client's compressor, as RFC 7692 §7.2.1 says: sync flush, tail removed.
fn compress(compressor: &mut Compress, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    compressor
        .compress_vec(message, &mut out, FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

/// §7.2.2: the tail put back, then inflated.
fn inflate(decompressor: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&TAIL);
    let mut out = Vec::with_capacity(1 << 20);
    decompressor
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

/// Sends a compressed message: RSV1 on its (only) frame.
fn send_compressed(ws: &mut WsClient, opcode: OpCode, payload: &[u8]) {
    let mut out = Vec::new();
    rtweb::ws::frame::write_client_frame(&mut out, true, opcode, payload, [1, 2, 3, 4]);
    out[0] |= 0x40;
    ws.client.send(out);
}

#[test]
fn echo_agrees_deflate_and_keeps_context_across_messages() {
    let server = start();
    let (mut ws, reply) = WsClient::connect_with(server.addr, "/echo", OFFER);
    // §7.1.2.2: client_max_window_bits is an ability, not a request: the
    // answer need not name it.
    assert_eq!(
        reply.header("sec-websocket-extensions"),
        Some("permessage-deflate")
    );

    // RFC 7692 §7.2.3.1: "Hello" compressed; the echo comes back as the
    // same bytes, the first message of the server's stream too.
    send_compressed(
        &mut ws,
        OpCode::Text,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    let echo = ws.frame();
    assert!(echo.rsv1 && echo.fin);
    assert_eq!(echo.payload, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    // §7.2.3.2: the second "Hello", with context takeover, is a reference
    // to the first — both ways.
    send_compressed(&mut ws, OpCode::Text, &[0xf2, 0x00, 0x11, 0x00, 0x00]);
    assert_eq!(ws.frame().payload, [0xf2, 0x00, 0x11, 0x00, 0x00]);

    // Larger messages, text and binary, through independent (de)compressors
    // that carry on from the "Hello"s above.
    let mut client_out = Compress::new(Compression::default(), false);
    compress(&mut client_out, b"Hello");
    compress(&mut client_out, b"Hello");
    let mut client_in = Decompress::new(false);
    inflate(&mut client_in, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    inflate(&mut client_in, &[0xf2, 0x00, 0x11, 0x00, 0x00]);
    for i in 0..5 {
        let message = format!(r#"{{"id":{i},"data":"{}"}}"#, "échoé ".repeat(300));
        for opcode in [OpCode::Text, OpCode::Binary] {
            let payload = compress(&mut client_out, message.as_bytes());
            assert!(payload.len() < message.len() / 10);
            send_compressed(&mut ws, opcode, &payload);
            let echo = ws.frame();
            assert_eq!((echo.opcode, echo.rsv1), (opcode, true));
            assert_eq!(inflate(&mut client_in, &echo.payload), message.as_bytes());
        }
    }
    let counters = &stats(server.addr)["ws_deflate"];
    assert!(counters["payload_bytes_in"].as_u64() > counters["compressed_bytes_in"].as_u64());
    assert!(counters["payload_bytes_out"].as_u64() > counters["compressed_bytes_out"].as_u64());
}

#[test]
fn channel_subscribers_share_one_compressed_frame_without_server_takeover() {
    let server = start();
    let connect = |extra| WsClient::connect_with(server.addr, "/ch/news/ws", extra);
    let (mut first, reply) = connect(OFFER);
    // Channels compress each message once for every subscriber, so they
    // answer server_no_context_takeover though it was not asked for.
    assert_eq!(
        reply.header("sec-websocket-extensions"),
        Some("permessage-deflate; server_no_context_takeover")
    );
    let (mut second, _) = connect(OFFER);
    let (mut plain, reply) = connect("");
    assert_eq!(reply.header("sec-websocket-extensions"), None);

    let mut poster = Client::connect(server.addr);
    let texts: Vec<String> = (0..3)
        .map(|i| format!("price update {i}: {}", "EUR 1.0842, USD 0.9223; ".repeat(8)))
        .collect();
    for text in &texts {
        assert_eq!(poster.post("/ch/news", text).status, 200);
    }
    for text in &texts {
        let json = plain.frame();
        assert!(!json.rsv1);
        assert_eq!(json.json()["data"], text.as_str());
        let (a, b): (Frame, Frame) = (first.frame(), second.frame());
        assert_eq!(a, b, "the same bytes for every deflate subscriber");
        assert!(a.rsv1 && a.payload.len() < json.payload.len() / 2);
        // No server context takeover: each frame inflates on its own.
        let inflated = inflate(&mut Decompress::new(false), &a.payload);
        assert_eq!(inflated, json.payload, "the JSON a plain subscriber gets");
    }

    // A compressed message from a subscriber is published, inflated.
    let mut compressor = Compress::new(Compression::default(), false);
    let text = "from a deflate client, ".repeat(5);
    send_compressed(
        &mut first,
        OpCode::Text,
        &compress(&mut compressor, text.as_bytes()),
    );
    assert_eq!(plain.frame().json()["data"], text.as_str());
}

#[test]
fn a_small_frame_that_inflates_past_the_limit_closes_1009() {
    let server = start_with(|c| c.max_ws_message = 64 * 1024);
    let (mut ws, _) = WsClient::connect_with(server.addr, "/echo", OFFER);
    // 16 MiB of zeros: about 16 KiB on the wire.
    let mut compressor = Compress::new(Compression::default(), false);
    let bomb = compress(&mut compressor, &vec![0; 16 << 20]);
    assert!(bomb.len() < 20_000);
    send_compressed(&mut ws, OpCode::Binary, &bomb);
    assert_eq!(ws.frame().close_code(), Some(1009));
    assert!(ws.client.closed_within(Duration::from_secs(5)));
}

#[test]
fn ws_deflate_off_declines_and_rsv1_is_then_a_protocol_error() {
    let server = start_with(|c| c.ws_deflate = false);
    let (mut ws, reply) = WsClient::connect_with(server.addr, "/echo", OFFER);
    assert_eq!(reply.header("sec-websocket-extensions"), None);
    send_compressed(
        &mut ws,
        OpCode::Text,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    assert_eq!(ws.frame().close_code(), Some(1002));
}
