//! A small WebSocket client for the tests: handshake, masked frames out,
//! frames in (header parsed by rtweb's codec, which the unit tests check
//! against the RFC's examples).

use std::net::SocketAddr;

use rtweb::ws::frame::{write_client_frame, FrameHeader};
use rtweb::ws::OpCode;

use super::{Client, Reply};

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A frame as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    /// Set on a compressed message's first frame (permessage-deflate).
    pub rsv1: bool,
    pub opcode: OpCode,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.payload).expect("UTF-8 frame")
    }

    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == OpCode::Close && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("JSON frame")
    }
}

pub struct WsClient {
    pub client: Client,
    /// A channel socket's first frame: `{"ready":true,"last_id":N}`.
    pub opening: Option<serde_json::Value>,
}

/// The handshake request for `target`, with `extra` header lines.
pub fn handshake_request(target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

impl WsClient {
    /// Connects and completes the handshake, asserting the `101`.
    pub fn connect(addr: SocketAddr, target: &str) -> WsClient {
        WsClient::connect_with(addr, target, "").0
    }

    /// Connects with `extra` header lines; returns the `101` too.
    pub fn connect_with(addr: SocketAddr, target: &str, extra: &str) -> (WsClient, Reply) {
        let mut client = Client::connect(addr);
        client.send(handshake_request(target, extra));
        let reply: Reply = client.head();
        assert_eq!(reply.status, 101, "handshake refused");
        assert_eq!(
            reply.header("sec-websocket-accept"),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        let mut ws = WsClient {
            client,
            opening: None,
        };
        if target.starts_with("/ch/") {
            // A channel socket opens by saying where the channel stands.
            let opening = ws.frame().json();
            assert_eq!(opening["ready"], true, "first frame: {opening}");
            assert!(opening["last_id"].is_u64(), "first frame: {opening}");
            ws.opening = Some(opening);
        }
        (ws, reply)
    }

    pub fn send_frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) {
        let mut out = Vec::new();
        write_client_frame(&mut out, fin, opcode, payload, [0xA1, 0xB2, 0xC3, 0xD4]);
        self.client.send(out);
    }

    pub fn send_text(&mut self, text: &str) {
        self.send_frame(true, OpCode::Text, text.as_bytes());
    }

    /// Reads one frame.
    pub fn frame(&mut self) -> Frame {
        let header = self.client.take(2);
        let extra = match header[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mut bytes = header;
        bytes.extend(self.client.take(extra));
        let (h, _) = FrameHeader::parse(&bytes)
            .expect("valid server frame")
            .expect("complete header");
        assert!(h.mask.is_none(), "server frames are never masked");
        let payload = self.client.take(h.payload_len as usize);
        Frame {
            fin: h.fin,
            rsv1: h.rsv1,
            opcode: h.opcode,
            payload,
        }
    }
}
