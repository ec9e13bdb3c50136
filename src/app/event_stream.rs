//! A connection streaming a channel as Server-Sent Events.
//!
//! The format is `sse.rs`; the replay, subscription and in-order delivery
//! are `feed.rs`. This module writes the response head and the opening
//! `retry:`, frames the stream (chunked for HTTP/1.1, until close for
//! HTTP/1.0), and keeps two timers: the heartbeat comment on a quiet stream
//! (`--sse-heartbeat`) and the end of the stream (`--sse-max-duration`).

use std::time::Instant;

use super::feed::{Feed, Transport};
use super::session::Close;
use super::{Context, Delivery};
use crate::http::chunked::{self, LAST_CHUNK};
use crate::http::response::{write_head, Framing, HeadFields, Persistence};
use crate::http::{RequestHead, Status, Version};
use crate::output::OutputQueue;
use crate::sse;

#[derive(Debug)]
pub struct EventStream {
    feed: Feed,
    /// HTTP/1.1 frames events as chunks; HTTP/1.0 streams until close.
    chunked: bool,
    next_heartbeat: Instant,
    ends_at: Option<Instant>,
}

impl EventStream {
    /// Answers `200` with the stream's head and opening, replays after
    /// `after` (`None`: from now) and subscribes.
    pub fn start(
        channel: String,
        after: Option<u64>,
        head: &RequestHead,
        token: usize,
        out: &mut OutputQueue,
        cx: &mut Context,
    ) -> EventStream {
        let chunked = head.version == Version::Http11;
        let headers = [
            ("Content-Type", "text/event-stream".to_owned()),
            ("Cache-Control", "no-store".to_owned()),
            // Tells nginx-style proxies not to buffer the stream.
            ("X-Accel-Buffering", "no".to_owned()),
        ];
        let date = cx.date();
        let framing = if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        };
        let fields = HeadFields {
            date: &date,
            framing,
            connection: if chunked {
                Persistence::Persist
            } else {
                Persistence::Close
            },
            headers: &headers,
        };
        let transport = if chunked {
            Transport::SseChunked
        } else {
            Transport::SsePlain
        };
        let retry = cx.config().sse_retry;
        let feed = out.with_owned(|buf| {
            write_head(buf, Status::OK, &fields);
            let mut opening = Vec::new();
            sse::encode_retry(&mut opening, retry.as_millis());
            write_stream_bytes(buf, chunked, &opening);
            Feed::start(channel, after, transport, token, buf, cx)
        });
        EventStream {
            feed,
            chunked,
            next_heartbeat: cx.now + cx.config().sse_heartbeat,
            ends_at: cx.config().sse_max_duration.map(|d| cx.now + d),
        }
    }

    pub fn on_deliver(
        &mut self,
        delivery: &Delivery,
        out: &mut OutputQueue,
        cx: &Context,
    ) -> Close {
        self.next_heartbeat = cx.now + cx.config().sse_heartbeat;
        if self.feed.deliver(delivery, out, cx) {
            Close::Open
        } else {
            // Too slow: closing it protects everyone else, and the client
            // loses nothing — Last-Event-ID resumes it.
            Close::Now
        }
    }

    pub fn deadline(&self) -> Instant {
        self.ends_at
            .map_or(self.next_heartbeat, |end| end.min(self.next_heartbeat))
    }

    pub fn on_timer(&mut self, out: &mut OutputQueue, cx: &Context) -> Close {
        if self.ends_at.is_some_and(|end| cx.now >= end) {
            // Like a proxy's cut-off: the client reconnects with
            // Last-Event-ID and loses nothing.
            if self.chunked {
                out.push_static(LAST_CHUNK);
            }
            return Close::AfterFlush;
        }
        if cx.now >= self.next_heartbeat {
            out.with_owned(|buf| write_stream_bytes(buf, self.chunked, sse::HEARTBEAT));
            self.next_heartbeat = cx.now + cx.config().sse_heartbeat;
        }
        Close::Open
    }

    pub fn on_closed(&self, token: usize, cx: &Context) {
        self.feed.stop(token, cx);
    }
}

fn write_stream_bytes(buf: &mut Vec<u8>, chunked: bool, bytes: &[u8]) {
    if chunked {
        chunked::encode_chunk(bytes, buf);
    } else {
        buf.extend_from_slice(bytes);
    }
}
