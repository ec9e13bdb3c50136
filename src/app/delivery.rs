//! How a message looks on each transport — the one place each encoding is
//! written.
//!
//! A published message travels to subscribers as a [`Delivery`]: the message
//! plus its wire encodings, each made at most once and shared (`Arc<[u8]>`)
//! by every connection that sends it. Server-to-client WebSocket frames are
//! not masked (RFC 6455 §5.1), so one frame serves every subscriber; an SSE
//! event is the same bytes for every stream. A replay (a subscriber catching
//! up from the log) encodes with the same functions into its own buffer.

use std::sync::{Arc, OnceLock};

use crate::http::chunked;
use crate::hub::Message;
use crate::sse;
use crate::ws::deflate::compressed_frame;
use crate::ws::frame::{write_frame, OpCode};

/// How messages are framed for one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// SSE over HTTP/1.1: each event in its own chunk (RFC 9112 §7.1).
    SseChunked,
    /// SSE over HTTP/1.0: events as they are; the stream ends with the connection.
    SsePlain,
    /// A WebSocket text frame holding the message's JSON.
    WebSocket,
    /// The same, compressed (RFC 7692) from an empty window: the client
    /// agreed `server_no_context_takeover`, so the frame is the same for
    /// every such subscriber with this window size (9..=15; 8 is sent as 9).
    WebSocketDeflate { window_bits: u8 },
}

impl Transport {
    const COUNT: usize = 3 + 7;

    fn index(self) -> usize {
        match self {
            Transport::SseChunked => 0,
            Transport::SsePlain => 1,
            Transport::WebSocket => 2,
            Transport::WebSocketDeflate { window_bits } => {
                3 + usize::from(window_bits.clamp(9, 15) - 9)
            }
        }
    }

    /// Appends `message` in this transport's framing.
    pub fn encode(self, message: &Message, out: &mut Vec<u8>) {
        match self {
            Transport::WebSocket => write_frame(out, OpCode::Text, message.json.as_bytes()),
            Transport::WebSocketDeflate { window_bits } => {
                compressed_frame(OpCode::Text, message.json.as_bytes(), window_bits, out);
            }
            sse_transport => sse_transport.frame_stream_bytes(out, |event| {
                sse::encode_event(event, Some(message.id), None, &message.data)
            }),
        }
    }

    /// Appends the marker that says messages after the client's id were
    /// dropped from the log: `event: gap` on a stream, `{"gap":true}` on a
    /// WebSocket (uncompressed even after deflate was agreed: RFC 7692 §6
    /// lets each message choose).
    pub fn encode_gap(self, out: &mut Vec<u8>) {
        match self {
            Transport::WebSocket | Transport::WebSocketDeflate { .. } => {
                write_frame(out, OpCode::Text, br#"{"gap":true}"#)
            }
            sse_transport => sse_transport
                .frame_stream_bytes(out, |event| sse::encode_event(event, None, Some("gap"), "")),
        }
    }

    /// Appends the opening that tells a subscriber where it stands before
    /// any message arrives, so that a reconnection after a quiet stream
    /// resumes instead of starting "from now" again (and losing what was
    /// published in between). SSE: `event: ready`, `id: P` (EventSource
    /// keeps it as its Last-Event-ID) and an empty `data:` line — without
    /// data some clients drop the event, id and all. WebSocket:
    /// `{"ready":true,"last_id":N}` with the channel's newest id.
    pub fn encode_ready(self, position: u64, last_id: u64, out: &mut Vec<u8>) {
        match self {
            Transport::WebSocket | Transport::WebSocketDeflate { .. } => {
                let json = format!("{{\"ready\":true,\"last_id\":{last_id}}}");
                write_frame(out, OpCode::Text, json.as_bytes())
            }
            sse_transport => sse_transport.frame_stream_bytes(out, |event| {
                sse::encode_event(event, Some(position), Some("ready"), "")
            }),
        }
    }

    /// Appends bytes of an event stream — as one chunk when chunked.
    pub fn write_stream(self, out: &mut Vec<u8>, bytes: &[u8]) {
        self.frame_stream_bytes(out, |buf| buf.extend_from_slice(bytes));
    }

    fn frame_stream_bytes(self, out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
        if self == Transport::SseChunked {
            let mut event = Vec::new();
            write(&mut event);
            chunked::encode_chunk(&event, out);
        } else {
            write(out);
        }
    }
}

/// One published message on its way to subscribers.
#[derive(Debug)]
pub struct Delivery {
    pub message: Arc<Message>,
    encoded: [OnceLock<Arc<[u8]>>; Transport::COUNT],
}

impl Delivery {
    pub fn new(message: Arc<Message>) -> Delivery {
        Delivery {
            message,
            encoded: Default::default(),
        }
    }

    /// The message in `transport`'s framing, encoded on first use and shared.
    pub fn bytes(&self, transport: Transport) -> Arc<[u8]> {
        Arc::clone(self.encoded[transport.index()].get_or_init(|| {
            let mut out = Vec::new();
            transport.encode(&self.message, &mut out);
            out.into()
        }))
    }

    /// The SSE event as one HTTP/1.1 chunk.
    pub fn sse_chunk(&self) -> Arc<[u8]> {
        self.bytes(Transport::SseChunked)
    }

    /// The WebSocket text frame holding the message's JSON.
    pub fn ws_frame(&self) -> Arc<[u8]> {
        self.bytes(Transport::WebSocket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_bytes_are_the_replay_encoding() {
        let message = Arc::new(Message::new(3, 7, "a\nb".into()));
        let delivery = Delivery::new(Arc::clone(&message));
        for transport in [
            Transport::SseChunked,
            Transport::SsePlain,
            Transport::WebSocket,
            Transport::WebSocketDeflate { window_bits: 9 },
            Transport::WebSocketDeflate { window_bits: 15 },
        ] {
            let mut replayed = Vec::new();
            transport.encode(&message, &mut replayed);
            assert_eq!(&*delivery.bytes(transport), &replayed[..]);
            assert!(Arc::ptr_eq(
                &delivery.bytes(transport),
                &delivery.bytes(transport)
            ));
        }
        assert_eq!(
            &*delivery.bytes(Transport::SseChunked),
            b"17\r\nid: 3\ndata: a\ndata: b\n\n\r\n"
        );
    }
}
