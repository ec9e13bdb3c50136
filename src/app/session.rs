//! One connection's protocol state: what it is doing and what comes next.
//!
//! # How it works
//!
//! Every connection starts as HTTP: requests are decoded and answered in
//! order. A request may turn the connection into something longer-lived:
//!
//! ```text
//!            ┌──────────── publish or timeout: answer ─────────┐
//!            ▼                                                 │
//!   ┌──────► Http ── /longpoll with nothing new ──► LongPoll ───┘
//!   │          │
//!   │          ├── /sse ──────► EventStream  (event_stream.rs)
//!   │          └── /ws, /echo ► WebSocket    (websocket.rs)
//!   │
//!   └ after an error response: Closing (no more input is decoded)
//! ```
//!
//! A session never touches the socket: it is handed the bytes read
//! (`on_input`, returning how many it used), deliveries (`on_deliver`) and
//! due deadlines (`on_timer`), and writes into the connection's
//! [`OutputQueue`]. `deadline()` tells the loop when to call back; `close()`
//! tells it whether to close after flushing.
//!
//! Requests pipelined behind a parked long poll are not decoded until it is
//! answered: `on_input` uses none of them, and the loop keeps them buffered.

use std::sync::Arc;
use std::time::Instant;

use super::event_stream::EventStream;
use super::routes::{self, Action};
use super::websocket::WebSocket;
use super::{Context, Delivery};
use crate::http::{
    Decoded, HttpError, Method, Persistence, RequestDecoder, RequestEvent, RequestHead, Response,
    Status,
};
use crate::hub::{Replay, Subscriber};
use crate::output::OutputQueue;
use crate::stats::{ConnKind, Stats};

/// Whether and how the connection should end. Ordered: a decision to
/// close is only ever escalated (`Open` < `AfterFlush` < `Now`), never
/// undone by a later event in the same pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Close {
    Open,
    /// Flush what is queued, then close (gracefully: shut down the write
    /// side first so the client reads the response, not a reset).
    AfterFlush,
    /// Close at once: the peer is gone or cannot keep up.
    Now,
}

/// A request parked until its channel has news.
#[derive(Debug)]
struct LongPoll {
    channel: String,
    after: u64,
    deadline: Instant,
    head_only: bool,
    keep_alive: Persistence,
}

#[derive(Debug)]
enum Mode {
    Http,
    LongPoll(LongPoll),
    EventStream(Box<EventStream>),
    WebSocket(Box<WebSocket>),
    /// An error response is queued; input is ignored until the close.
    Closing,
}

#[derive(Debug)]
pub struct Session {
    token: usize,
    decoder: RequestDecoder,
    /// The request being received: its head and the body so far.
    request: Option<(RequestHead, Vec<u8>)>,
    mode: Mode,
    close: Close,
    /// When input last arrived (the keep-alive idle timeout runs from here).
    last_input: Instant,
}

impl Session {
    pub fn new(token: usize, cx: &Context) -> Session {
        cx.stats().switch(None, Some(ConnKind::Http));
        Session {
            token,
            decoder: RequestDecoder::new(cx.config().limits),
            request: None,
            mode: Mode::Http,
            close: Close::Open,
            last_input: cx.now,
        }
    }

    pub fn close(&self) -> Close {
        self.close
    }

    /// Records a decision to close; an earlier, stronger one stands (a
    /// delivery answering `Open` must not cancel a close handshake that
    /// completed in the same pass).
    fn escalate(&mut self, close: Close) {
        self.close = self.close.max(close);
    }

    fn kind(&self) -> ConnKind {
        match self.mode {
            Mode::Http | Mode::Closing => ConnKind::Http,
            Mode::LongPoll(_) => ConnKind::LongPoll,
            Mode::EventStream(_) => ConnKind::Sse,
            Mode::WebSocket(_) => ConnKind::WebSocket,
        }
    }

    fn set_mode(&mut self, mode: Mode, cx: &Context) {
        let before = self.kind();
        self.mode = mode;
        if before != self.kind() {
            cx.stats().switch(Some(before), Some(self.kind()));
        }
    }

    fn subscriber(&self, cx: &Context, once: bool) -> Subscriber {
        Subscriber {
            worker: cx.worker,
            token: self.token,
            once,
        }
    }

    /// Bytes arrived; returns how many were used. Unused bytes stay buffered
    /// by the loop and are offered again after the next event.
    pub fn on_input(&mut self, input: &[u8], out: &mut OutputQueue, cx: &mut Context) -> usize {
        self.last_input = cx.now;
        let mut used = 0;
        while self.close == Close::Open {
            match &mut self.mode {
                Mode::Http => {}
                Mode::WebSocket(ws) => {
                    let (n, close) = ws.on_input(&input[used..], out, cx);
                    self.escalate(close);
                    return used + n;
                }
                // A parked long poll answers before the next request is read.
                Mode::LongPoll(_) => return used,
                // Nothing a client sends on an event stream means anything.
                Mode::EventStream(_) | Mode::Closing => return input.len(),
            }
            // Backpressure: a client pipelining requests without reading the
            // answers gets no more answers until it reads.
            if out.pending() > cx.config().max_pending {
                return used;
            }
            match self.decoder.decode(&input[used..], cx.now) {
                Err(error) => {
                    self.fail(error, out, cx);
                    return input.len();
                }
                Ok(Decoded { consumed, event }) => {
                    used += consumed;
                    match event {
                        None if consumed == 0 => return used,
                        None => {}
                        Some(RequestEvent::Head(head)) => self.on_head(head, out),
                        Some(RequestEvent::Body(data)) => {
                            if let Some((_, body)) = &mut self.request {
                                body.extend_from_slice(data);
                            }
                        }
                        Some(RequestEvent::End) => {
                            if let Some((head, body)) = self.request.take() {
                                self.dispatch(head, body, out, cx);
                            }
                        }
                    }
                }
            }
        }
        input.len()
    }

    fn on_head(&mut self, head: RequestHead, out: &mut OutputQueue) {
        // RFC 9110 §10.1.1: a client that sent `Expect: 100-continue` waits
        // for this before sending the body. Oversized bodies never get here:
        // the decoder already answered 413.
        if head.expects_continue && head.body != crate::http::request::BodyLength::Fixed(0) {
            out.extend(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.request = Some((head, Vec::new()));
    }

    /// A whole request has arrived: answer it, or change mode.
    fn dispatch(
        &mut self,
        head: RequestHead,
        body: Vec<u8>,
        out: &mut OutputQueue,
        cx: &mut Context,
    ) {
        routes::count_request(cx);
        let head_only = head.method == Method::Head;
        let keep_alive = head.persistence();
        match routes::route(&head, &body, cx) {
            Action::Respond(response) => self.respond(&response, head_only, keep_alive, out, cx),
            Action::LongPoll {
                channel,
                after,
                timeout,
            } => {
                let mut hub = cx.shared.hub();
                let replay = hub.replay(&channel, Some(after));
                if replay.messages.is_empty() {
                    // Checked and subscribed under one lock: no publish can
                    // fall between the two.
                    hub.subscribe(&channel, self.subscriber(cx, true));
                    drop(hub);
                    let parked = LongPoll {
                        channel,
                        after,
                        deadline: cx.now + timeout,
                        head_only,
                        keep_alive,
                    };
                    self.set_mode(Mode::LongPoll(parked), cx);
                } else {
                    drop(hub);
                    self.answer_poll(&replay, head_only, keep_alive, out, cx);
                }
            }
            Action::EventStream { channel, after } => {
                let stream = EventStream::start(channel, after, &head, self.token, out, cx);
                self.set_mode(Mode::EventStream(Box::new(stream)), cx);
            }
            Action::WebSocket { endpoint, accept } => {
                let ws = WebSocket::start(endpoint, &accept, self.token, out, cx);
                self.set_mode(Mode::WebSocket(Box::new(ws)), cx);
            }
        }
    }

    fn respond(
        &mut self,
        response: &Response,
        head_only: bool,
        keep_alive: Persistence,
        out: &mut OutputQueue,
        cx: &mut Context,
    ) {
        let date = cx.date();
        out.with_owned(|buf| response.write(buf, &date, head_only, keep_alive));
        if keep_alive == Persistence::Close {
            self.escalate(Close::AfterFlush);
        }
    }

    /// Answers a long poll with what the log holds after its id.
    fn answer_poll(
        &mut self,
        replay: &Replay,
        head_only: bool,
        keep_alive: Persistence,
        out: &mut OutputQueue,
        cx: &mut Context,
    ) {
        Stats::add(&cx.stats().messages_delivered, replay.messages.len() as u64);
        self.respond(
            &routes::messages_response(replay),
            head_only,
            keep_alive,
            out,
            cx,
        );
    }

    /// Answers a request that cannot be processed and closes the connection.
    fn fail(&mut self, error: HttpError, out: &mut OutputQueue, cx: &mut Context) {
        self.request = None;
        self.respond(
            &Response::text(error.status, error.reason),
            false,
            Persistence::Close,
            out,
            cx,
        );
        self.set_mode(Mode::Closing, cx);
    }

    /// A message was published to a channel this session subscribed to.
    pub fn on_deliver(
        &mut self,
        delivery: &Arc<Delivery>,
        out: &mut OutputQueue,
        cx: &mut Context,
    ) {
        match &mut self.mode {
            Mode::LongPoll(parked) => {
                let replay = cx.shared.hub().replay(&parked.channel, Some(parked.after));
                let (head_only, keep_alive) = (parked.head_only, parked.keep_alive);
                self.set_mode(Mode::Http, cx);
                self.answer_poll(&replay, head_only, keep_alive, out, cx);
            }
            Mode::EventStream(stream) => {
                let close = stream.on_deliver(delivery, out, cx);
                self.escalate(close);
            }
            Mode::WebSocket(ws) => {
                let close = ws.on_deliver(delivery, out, cx);
                self.escalate(close);
            }
            Mode::Http | Mode::Closing => {}
        }
    }

    /// When `on_timer` should next be called.
    pub fn deadline(&self, cx: &Context) -> Option<Instant> {
        let config = cx.config();
        match &self.mode {
            Mode::Http => Some(match self.decoder.head_started() {
                Some(started) => started + config.head_timeout,
                None => self.last_input + config.idle_timeout,
            }),
            Mode::LongPoll(parked) => Some(parked.deadline),
            Mode::EventStream(stream) => Some(stream.deadline()),
            Mode::WebSocket(ws) => Some(ws.deadline()),
            Mode::Closing => None,
        }
    }

    /// A deadline may have passed.
    pub fn on_timer(&mut self, out: &mut OutputQueue, cx: &mut Context) {
        let now = cx.now;
        match &mut self.mode {
            Mode::Http => {
                if self
                    .decoder
                    .head_started()
                    .is_some_and(|t| now >= t + cx.config().head_timeout)
                {
                    self.fail(
                        HttpError::new(
                            Status::REQUEST_TIMEOUT,
                            "request head not received in time",
                        ),
                        out,
                        cx,
                    );
                } else if self.request.is_none()
                    && now >= self.last_input + cx.config().idle_timeout
                {
                    self.close = if out.is_empty() {
                        Close::Now
                    } else {
                        Close::AfterFlush
                    };
                }
            }
            Mode::LongPoll(parked) if now >= parked.deadline => {
                let channel = std::mem::take(&mut parked.channel);
                let (head_only, keep_alive) = (parked.head_only, parked.keep_alive);
                let replay = {
                    let mut hub = cx.shared.hub();
                    hub.unsubscribe(&channel, cx.worker, self.token);
                    hub.replay(&channel, None)
                };
                self.set_mode(Mode::Http, cx);
                self.answer_poll(&replay, head_only, keep_alive, out, cx);
            }
            Mode::EventStream(stream) => {
                let close = stream.on_timer(out, cx);
                self.escalate(close);
            }
            Mode::WebSocket(ws) => {
                let close = ws.on_timer(out, cx);
                self.escalate(close);
            }
            Mode::LongPoll(_) | Mode::Closing => {}
        }
    }

    /// The peer closed its side (EOF). A request already read is still
    /// answered; anything long-lived ends now.
    pub fn on_peer_closed(&mut self) {
        let close = match self.mode {
            Mode::Http | Mode::Closing => Close::AfterFlush,
            _ => Close::Now,
        };
        self.escalate(close);
    }

    /// The connection is going away: leave every table.
    pub fn on_closed(&mut self, cx: &Context) {
        match &self.mode {
            Mode::LongPoll(parked) => {
                cx.shared
                    .hub()
                    .unsubscribe(&parked.channel, cx.worker, self.token)
            }
            Mode::EventStream(stream) => stream.on_closed(self.token, cx),
            Mode::WebSocket(ws) => ws.on_closed(self.token, cx),
            Mode::Http | Mode::Closing => {}
        }
        cx.stats().switch(Some(self.kind()), None);
    }

    /// True while the session would use more input now; the loop stops
    /// reading (and buffering) when it would not.
    pub fn wants_input(&self) -> bool {
        matches!(self.mode, Mode::Http) && self.close == Close::Open
    }
}

#[cfg(test)]
mod tests {
    //! The session's timers on a simulated clock: `now` is whatever the
    //! test says, so timeouts of seconds are checked without sleeping.

    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::app::{Published, Shared};
    use crate::config::Config;
    use crate::http::date::DateCache;

    struct Clock {
        shared: Shared,
        dates: DateCache,
        published: Vec<Published>,
        start: Instant,
    }

    impl Clock {
        fn new() -> Clock {
            let shared = Shared::new(Config::default());
            Clock {
                shared,
                dates: DateCache::default(),
                published: Vec::new(),
                start: Instant::now(),
            }
        }

        /// A context at `seconds` after the start.
        fn at(&mut self, seconds: u64) -> Context<'_> {
            Context {
                now: self.start + Duration::from_secs(seconds),
                wall: SystemTime::now(),
                shared: &self.shared,
                worker: 0,
                dates: &mut self.dates,
                published: &mut self.published,
            }
        }
    }

    /// Everything queued, as text; the queue is emptied.
    fn written(out: &mut OutputQueue) -> String {
        let mut slices = [std::io::IoSlice::new(&[]); crate::output::MAX_SLICES];
        let n = out.slices(&mut slices);
        let text: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        out.advance(text.len());
        String::from_utf8(text).expect("UTF-8 output")
    }

    #[test]
    fn head_timeout_answers_408_ten_seconds_after_the_first_byte() {
        let mut clock = Clock::new();
        let mut out = OutputQueue::default();
        let mut session = Session::new(1, &clock.at(0));
        // The head starts arriving at 1 s and never finishes.
        assert_eq!(session.on_input(b"GET / HT", &mut out, &mut clock.at(1)), 0);
        assert_eq!(
            session.deadline(&clock.at(1)),
            Some(clock.start + Duration::from_secs(11))
        );
        session.on_timer(&mut out, &mut clock.at(10));
        assert!(out.is_empty(), "nothing before the deadline");
        session.on_timer(&mut out, &mut clock.at(11));
        assert!(written(&mut out).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
        assert_eq!(session.close(), Close::AfterFlush);
    }

    #[test]
    fn idle_keep_alive_connection_closes_after_sixty_seconds() {
        let mut clock = Clock::new();
        let mut out = OutputQueue::default();
        let mut session = Session::new(1, &clock.at(0));
        let request = b"GET /stats HTTP/1.1\r\nHost: t\r\n\r\n";
        assert_eq!(
            session.on_input(request, &mut out, &mut clock.at(5)),
            request.len()
        );
        assert!(written(&mut out).starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(
            session.deadline(&clock.at(5)),
            Some(clock.start + Duration::from_secs(65))
        );
        session.on_timer(&mut out, &mut clock.at(64));
        assert_eq!(session.close(), Close::Open);
        session.on_timer(&mut out, &mut clock.at(65));
        assert_eq!(session.close(), Close::Now, "closed without a response");
    }

    #[test]
    fn parked_long_poll_answers_empty_at_its_timeout() {
        let mut clock = Clock::new();
        let mut out = OutputQueue::default();
        let mut session = Session::new(1, &clock.at(0));
        let request = b"GET /ch/quiet/longpoll?timeout=45 HTTP/1.1\r\nHost: t\r\n\r\n";
        session.on_input(request, &mut out, &mut clock.at(0));
        assert!(out.is_empty(), "parked: no answer yet");
        assert_eq!(clock.shared.hub().subscriber_count(), 1);
        session.on_timer(&mut out, &mut clock.at(44));
        assert!(out.is_empty());
        session.on_timer(&mut out, &mut clock.at(45));
        assert!(written(&mut out).ends_with(r#"{"messages":[],"last_id":0,"gap":false}"#));
        assert_eq!(clock.shared.hub().subscriber_count(), 0, "left the channel");
    }
}
