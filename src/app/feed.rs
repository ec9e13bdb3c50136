//! A channel subscription that delivers every message once, in id order —
//! the part SSE and WebSocket subscribers share.
//!
//! A feed starts by replaying what the channel retains after the client's
//! id (a gap marker first when that id is older than the log), subscribes,
//! and then takes live deliveries. A live delivery is normally the next id
//! and goes out as the bytes shared by every subscriber; if one arrives out
//! of order (publishes on different event loops can race), the hole is
//! filled from the log, and anything already sent is skipped.

use std::sync::Arc;

use super::{Context, Delivery};
use crate::http::chunked;
use crate::hub::{Message, Subscriber};
use crate::output::OutputQueue;
use crate::sse;
use crate::stats::Stats;
use crate::ws::frame::{write_frame, OpCode};

/// How messages are framed for this subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// SSE over HTTP/1.1: each event in its own chunk.
    SseChunked,
    /// SSE over HTTP/1.0: events as they are; the stream ends with the connection.
    SsePlain,
    /// A WebSocket text frame holding the message's JSON.
    WebSocket,
}

#[derive(Debug)]
pub struct Feed {
    pub channel: String,
    /// The last id sent: deliveries at or below it are duplicates.
    pub last_id: u64,
    transport: Transport,
}

impl Feed {
    /// Replays after `after` (`None`: from now) into `out`, and subscribes.
    pub fn start(
        channel: String,
        after: Option<u64>,
        transport: Transport,
        token: usize,
        out: &mut Vec<u8>,
        cx: &Context,
    ) -> Feed {
        let replay = {
            // Replay and subscribe under one lock: no publish falls between.
            let mut hub = cx.shared.hub();
            let replay = hub.replay(&channel, after);
            hub.subscribe(
                &channel,
                Subscriber {
                    worker: cx.worker,
                    token,
                    once: false,
                },
            );
            replay
        };
        if replay.gap {
            encode_gap(transport, out);
        }
        for message in &replay.messages {
            encode(transport, message, out);
        }
        Stats::add(&cx.stats().messages_delivered, replay.messages.len() as u64);
        let last_id = replay.messages.last().map_or(replay.last_id, |m| m.id);
        Feed {
            channel,
            last_id,
            transport,
        }
    }

    /// Queues a live delivery. Returns false when the subscriber has fallen
    /// too far behind (`--max-pending`) and should be closed; it loses
    /// nothing, since it can resume from its last id.
    pub fn deliver(&mut self, delivery: &Delivery, out: &mut OutputQueue, cx: &Context) -> bool {
        let id = delivery.message.id;
        if id <= self.last_id {
            return true;
        }
        if id == self.last_id + 1 {
            out.push_shared(self.shared_bytes(delivery));
            Stats::add(&cx.stats().messages_delivered, 1);
        } else {
            let replay = cx.shared.hub().replay(&self.channel, Some(self.last_id));
            let missing: Vec<&Arc<Message>> =
                replay.messages.iter().take_while(|m| m.id <= id).collect();
            out.with_owned(|buf| missing.iter().for_each(|m| encode(self.transport, m, buf)));
            Stats::add(&cx.stats().messages_delivered, missing.len() as u64);
        }
        self.last_id = id;
        out.pending() <= cx.config().max_pending
    }

    fn shared_bytes(&self, delivery: &Delivery) -> Arc<[u8]> {
        match self.transport {
            Transport::SseChunked => delivery.sse_chunk(),
            Transport::SsePlain => delivery.sse_event(),
            Transport::WebSocket => delivery.ws_frame(),
        }
    }

    /// Leaves the channel.
    pub fn stop(&self, token: usize, cx: &Context) {
        cx.shared.hub().unsubscribe(&self.channel, cx.worker, token);
    }
}

/// One message in this transport's framing (the same bytes as the shared
/// encodings in [`Delivery`]).
fn encode(transport: Transport, message: &Message, out: &mut Vec<u8>) {
    match transport {
        Transport::SseChunked => {
            let mut event = Vec::new();
            sse::encode_event(&mut event, Some(message.id), None, &message.data);
            chunked::encode_chunk(&event, out);
        }
        Transport::SsePlain => sse::encode_event(out, Some(message.id), None, &message.data),
        Transport::WebSocket => write_frame(out, OpCode::Text, message.json.as_bytes()),
    }
}

/// Tells the client that messages after its id were dropped from the log.
fn encode_gap(transport: Transport, out: &mut Vec<u8>) {
    match transport {
        Transport::SseChunked => {
            let mut event = Vec::new();
            sse::encode_event(&mut event, None, Some("gap"), "");
            chunked::encode_chunk(&event, out);
        }
        Transport::SsePlain => sse::encode_event(out, None, Some("gap"), ""),
        Transport::WebSocket => write_frame(out, OpCode::Text, br#"{"gap":true}"#),
    }
}
