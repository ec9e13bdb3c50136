//! A connection streaming a channel as Server-Sent Events.
//!
//! The format is `sse.rs`; the replay, subscription and in-order delivery
//! are `subscription.rs`; each message's bytes are `delivery.rs`. This
//! module writes the response head and the opening `retry:`, chooses the
//! stream's framing once (chunked for HTTP/1.1, until close for HTTP/1.0),
//! and keeps two timers: the heartbeat comment on a quiet stream
//! (`--sse-heartbeat`) and the end of the stream (`--sse-max-duration`, or
//! the expiry of the token it was allowed with: `event: expired` first).

use std::time::Instant;

use super::delivery::{Delivery, Transport};
use super::guard::{self, Ending};
use super::routes::{store_refusal, StreamRequest};
use super::subscription::Subscription;
use super::App;
use crate::access::Headers;
use crate::http::chunked::LAST_CHUNK;
use crate::http::response::{write_head, Framing, HeadFields, Persistence};
use crate::http::{RequestHead, Response, Status, Version};
use crate::output::OutputQueue;
use crate::server::Close;
use crate::sse;
use crate::stats::Count;

/// The event that ends a stream whose token expired.
const EXPIRED: &[u8] = b"event: expired\ndata: token expired\n\n";

#[derive(Debug)]
pub struct EventStream {
    token: usize,
    subscription: Subscription,
    /// `SseChunked` for HTTP/1.1, `SsePlain` (until close) for HTTP/1.0.
    transport: Transport,
    next_heartbeat: Instant,
    /// When the server ends the stream, and why (`--sse-max-duration`, or
    /// the token it was allowed with expiring).
    ends_at: Option<(Instant, Ending)>,
}

impl EventStream {
    /// Answers `200` with the stream's head and opening, replays after
    /// `after` (`None`: from now) and subscribes.
    /// Answers `200` with the stream's head and opening, replays after
    /// `after` (`None`: from now) and subscribes. `Err`: the store failed
    /// before anything was sent; answer this instead.
    pub fn start(
        token: usize,
        request: StreamRequest,
        head: &RequestHead,
        cors: &Headers,
        out: &mut OutputQueue,
        app: &mut App,
    ) -> Result<EventStream, Response> {
        let (transport, framing) = match head.version {
            Version::Http11 => (Transport::SseChunked, Framing::Chunked),
            Version::Http10 => (Transport::SsePlain, Framing::UntilClose),
        };
        let StreamRequest {
            channel,
            after,
            access,
        } = request;
        let (mut subscription, replay) = Subscription::open(channel, after, transport, token, app)
            .map_err(|e| store_refusal(&e))?;
        let mut headers = vec![
            ("Content-Type", "text/event-stream".to_owned()),
            ("Cache-Control", "no-store".to_owned()),
            // Tells nginx-style proxies not to buffer the stream.
            ("X-Accel-Buffering", "no".to_owned()),
        ];
        headers.extend(cors.iter().cloned());
        let date = app.date();
        let fields = HeadFields {
            date: &date,
            framing,
            // HTTP/1.0: the stream ends with the connection.
            connection: if framing == Framing::UntilClose {
                Persistence::Close
            } else {
                Persistence::Persist
            },
            headers: &headers,
        };
        let retry = app.config().sse_retry;
        out.with_owned(|buf| {
            write_head(buf, Status::OK, &fields);
            let mut opening = Vec::new();
            sse::encode_retry(&mut opening, retry.as_millis());
            transport.write_stream(buf, &opening);
            subscription.write_opening(&replay, buf, app);
        });
        Ok(EventStream {
            token,
            subscription,
            transport,
            next_heartbeat: app.now + app.config().sse_heartbeat,
            ends_at: guard::stream_end(&access, app.config().sse_max_duration, app),
        })
    }

    pub fn on_deliver(&mut self, delivery: &Delivery, out: &mut OutputQueue, app: &App) -> Close {
        self.next_heartbeat = app.now + app.config().sse_heartbeat;
        if self.subscription.deliver(delivery, out, app) {
            Close::Open
        } else {
            // Too slow: closing it protects everyone else, and the client
            // loses nothing — Last-Event-ID resumes it.
            app.stats().count(Count::ClosedSlowSubscriber);
            Close::Now
        }
    }

    /// The output drained: the next piece of the replay, if one is owed.
    pub fn on_drained(&mut self, out: &mut OutputQueue, app: &App) -> Close {
        self.subscription.on_drained(out, app)
    }

    pub fn deadline(&self) -> Instant {
        self.ends_at
            .map_or(self.next_heartbeat, |(end, _)| end.min(self.next_heartbeat))
    }

    pub fn on_timer(&mut self, out: &mut OutputQueue, app: &App) -> Close {
        if let Some((_, ending)) = self.ends_at.filter(|(end, _)| app.now >= *end) {
            // Once: the stream is over, and its end no deadline to ask for
            // again (the loop would not re-arm it, but need not be trusted to).
            self.ends_at = None;
            if ending == Ending::TokenExpired {
                // Said before the end, so the page knows not to just
                // reconnect with the same token (that would get 401).
                out.with_owned(|buf| self.transport.write_stream(buf, EXPIRED));
            }
            // Like a proxy's cut-off: the client reconnects with
            // Last-Event-ID and loses nothing.
            return self.end(out);
        }
        if app.now >= self.next_heartbeat {
            out.with_owned(|buf| self.transport.write_stream(buf, sse::HEARTBEAT));
            self.next_heartbeat = app.now + app.config().sse_heartbeat;
        }
        Close::Open
    }

    /// Ends the stream cleanly (max duration, shutdown): the chunked
    /// terminator on HTTP/1.1, so EventSource sees an end, not an error,
    /// and reconnects with Last-Event-ID.
    pub fn end(&mut self, out: &mut OutputQueue) -> Close {
        if self.transport == Transport::SseChunked {
            out.push_static(LAST_CHUNK);
        }
        Close::AfterFlush
    }

    pub fn on_closed(&self, app: &App) {
        self.subscription.stop(self.token, app);
    }
}
