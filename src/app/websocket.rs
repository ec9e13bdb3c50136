//! A connection after a successful WebSocket handshake: the echo endpoint
//! (what Autobahn tests) and channel subscribers (`/ch/{name}/ws`).
//!
//! The protocol itself is `ws::WsConnection`; this module decides what
//! messages mean (echo them; or publish them to the channel), sends channel
//! messages as shared text frames, and keeps two timers: the idle ping
//! (`--ws-ping`: ping a quiet connection, close it if the next period passes
//! with nothing from the peer) and the close timeout (after our Close, wait
//! this long for the peer's).
//!
//! # Bounded, whatever the client sends
//!
//! - **Echoes** answer by backpressure: while the output holds more than
//!   [`ECHO_MAX_PENDING`] (or `--max-pending`, if lower), no more frames
//!   are decoded, and no more bytes read: [`WebSocket::input_paused`]
//!   tells the loop, so the client's frames wait in the kernel, TCP's
//!   window closes, and the client's sends block. A client that echoes
//!   without reading holds the server to that plus one message, and
//!   nothing is dropped.
//! - **Pongs**: a channel subscriber's frames are publishes that need no
//!   answer, so it is read on while its output is full — but its pongs are
//!   then held, only the latest kept (RFC 6455 §5.5.3). An echo client's
//!   pings simply wait, with the rest of its input.
//! - **Unfinished messages** count against `--max-buffered` (all
//!   connections together): one that does not fit closes the connection
//!   with `1009`.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::delivery::{Delivery, Transport};
use super::guard::{self, Ending};
use super::routes::store_refusal;
use super::subscription::{self, Subscription};
use super::App;
use crate::access::{Access, Credentials};
use crate::budget::Held;
use crate::buffers;
use crate::http::Response;
use crate::output::OutputQueue;
use crate::server::Close;
use crate::stats::{Count, Stats};
use crate::store::StoreError;
use crate::ws::frame::{write_frame, write_header, OpCode};
use crate::ws::{close_code, handshake, Received, WsConnection, WsEvent, WsState};

/// Echoed payloads this large are queued as chunks of their own: without
/// copying when assembled, copied once into a pooled buffer when they lie
/// in the input.
const ZERO_COPY_FROM: usize = 16 * 1024;

/// An echo stops reading while this much of its replies is unsent: a few
/// reads' worth. Replies that are not leaving should leave the client's
/// next frames in the kernel's receive buffer, not pile up in ours — at
/// 64 KiB messages, queueing up to `--max-pending` (1 MiB) per connection
/// made the heap grow and shrink under the load (brk, page faults: ~9% of
/// the server's time) and cost 30% of the echo rate (`bench/notes.md`).
pub const ECHO_MAX_PENDING: usize = 256 * 1024;

/// How long to wait for the peer's Close after sending ours.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the client asked for.
#[derive(Debug)]
pub enum Endpoint {
    Echo,
    /// A channel subscriber, allowed with `access` (it is closed when that
    /// ends); `credentials` are asked for every frame it publishes.
    Channel {
        channel: String,
        after: Option<u64>,
        credentials: Credentials,
        access: Access,
    },
}

#[derive(Debug)]
enum Role {
    Echo,
    Channel {
        subscription: Subscription,
        credentials: Credentials,
    },
}

#[derive(Debug)]
pub struct WebSocket {
    token: usize,
    conn: WsConnection,
    role: Role,
    /// A ping is out and nothing has come back since.
    awaiting_pong: bool,
    /// When to ping, give up on the pong, or give up on the close.
    next_check: Instant,
    /// When a channel subscriber is sent away, and why: whichever of
    /// `--ws-max-duration` and its token's expiry comes first.
    ends_at: Option<(Instant, Ending)>,
    /// The unfinished message's share of `--max-buffered`.
    held: Held,
}

impl WebSocket {
    /// Answers `101`, and for a channel replays and subscribes. `Err`: the
    /// store failed before the upgrade; answer this instead (§4.2.2: a
    /// refused handshake gets its status, never a 101 first).
    pub fn start(
        token: usize,
        endpoint: Endpoint,
        accept: &handshake::Accepted,
        out: &mut OutputQueue,
        app: &mut App,
    ) -> Result<WebSocket, Response> {
        let transport = match accept.deflate {
            Some(deflate) => Transport::WebSocketDeflate {
                window_bits: deflate.server_max_window_bits,
            },
            None => Transport::WebSocket,
        };
        let mut opened = match endpoint {
            Endpoint::Echo => None,
            Endpoint::Channel {
                channel,
                after,
                credentials,
                access,
            } => {
                let (subscription, replay) =
                    Subscription::open(channel, after, transport, token, app)
                        .map_err(|e| store_refusal(&e))?;
                Some((subscription, replay, credentials, access))
            }
        };
        let date = app.date();
        out.with_owned(|buf| {
            handshake::write_accept(buf, accept, &date);
            if let Some((subscription, replay, ..)) = &mut opened {
                subscription.write_opening(replay, buf, app);
            }
        });
        let (role, ends_at) = match opened {
            None => (Role::Echo, None),
            Some((subscription, _, credentials, access)) => {
                let ends_at = guard::stream_end(&access, app.config().ws_max_duration, app);
                let role = Role::Channel {
                    subscription,
                    credentials,
                };
                (role, ends_at)
            }
        };
        Ok(WebSocket {
            token,
            conn: WsConnection::with_deflate(app.config().max_ws_message, accept.deflate),
            role,
            awaiting_pong: false,
            next_check: app.now + app.config().ws_ping,
            ends_at,
            held: Held::new(&app.shared.buffered),
        })
    }

    /// Frames from the client; returns the bytes used and whether to close.
    pub fn on_input(
        &mut self,
        input: &mut [u8],
        out: &mut OutputQueue,
        app: &mut App,
    ) -> (usize, Close) {
        if self.conn.state() == WsState::Open {
            self.awaiting_pong = false;
            self.next_check = app.now + app.config().ws_ping;
        }
        // A message that must be assembled (fragments, a frame split across
        // reads) is assembled in a buffer from the loop's pool, which goes
        // back when the read is done.
        if let Some(unused) = self.conn.recycle(buffers::take()) {
            buffers::give_back(unused);
        }
        let mut used = 0;
        let max_pending = self.max_pending(app);
        loop {
            let full = out.pending() > max_pending;
            if self.holds_input(full) {
                break; // backpressure: the rest waits until the output drains
            }
            let (conn, rest) = (&mut self.conn, &mut input[used..]);
            let Received { used: n, event } = out.with_owned(|buf| {
                conn.hold_pongs(full, buf);
                conn.receive(rest, buf)
            });
            used += n;
            if let Some(event) = event {
                self.on_event(event, out, app);
            }
            if !self.held.set(self.conn.message_in_progress()) {
                app.stats().count(Count::RefusedMaxBuffered);
                // §7.4.1: 1009, a message too big to process — now.
                self.close(
                    close_code::TOO_BIG,
                    "server busy: message does not fit",
                    out,
                    app,
                );
                used = input.len();
                break;
            }
            if n == 0 || used == input.len() || self.conn.state() == WsState::Closed {
                break;
            }
        }
        if let Some(idle) = self.conn.release_buffers() {
            buffers::give_back(idle);
        }
        (used, self.close_state())
    }

    /// Output past which input is held back (echo) or pongs are (channel).
    fn max_pending(&self, app: &App) -> usize {
        match self.role {
            Role::Echo => app.config().max_pending.min(ECHO_MAX_PENDING),
            Role::Channel { .. } => app.config().max_pending,
        }
    }

    /// An echo whose replies are not leaving reads no more: the client's
    /// next frames wait in the kernel until the output drains.
    pub fn input_paused(&self, out: &OutputQueue, app: &App) -> bool {
        self.holds_input(out.pending() > self.max_pending(app))
    }

    /// Whether input waits while the output is `full`: an echo's does
    /// (its replies are its output); a channel subscriber's publishes go
    /// on, and only its pongs are held.
    fn holds_input(&self, full: bool) -> bool {
        full && matches!(self.role, Role::Echo)
    }

    fn on_event(&mut self, event: WsEvent<'_>, out: &mut OutputQueue, app: &mut App) {
        if let WsEvent::Message(message) = &event {
            if let Some(compressed) = message.compressed_len {
                let stats = app.stats();
                Stats::add(&stats.ws_deflate_compressed_bytes_in, compressed);
                Stats::add(
                    &stats.ws_deflate_payload_bytes_in,
                    message.data.len() as u64,
                );
            }
        }
        match (event, &self.role) {
            (WsEvent::Message(message), Role::Echo) => {
                // After our Close nothing more may be sent (§5.5.1).
                if self.conn.state() != WsState::Open {
                    return;
                }
                let opcode = message.opcode;
                match message.data {
                    data if self.conn.deflate().is_some() => {
                        // Compressed with this connection's own context.
                        let sent =
                            out.with_owned(|buf| self.conn.write_message(opcode, &data, buf));
                        count_deflated(app, data.len(), sent);
                        self.recycle(data);
                    }
                    data if data.len() >= ZERO_COPY_FROM => {
                        // A large payload is queued as a chunk of its own:
                        // an assembled one as it is, one that lies in the
                        // input copied once into a buffer from the pool —
                        // not appended to the output's tail, which would
                        // grow (and move) to hold it.
                        out.with_owned(|buf| write_header(buf, true, opcode, data.len()));
                        out.push_owned(match data {
                            Cow::Owned(assembled) => assembled,
                            Cow::Borrowed(in_place) => {
                                let mut copy = buffers::take();
                                copy.extend_from_slice(in_place);
                                copy
                            }
                        });
                    }
                    data => {
                        // Anything else is copied next to its header: from
                        // the input it lies in, or from an assembled buffer
                        // that is then reused.
                        out.with_owned(|buf| write_frame(buf, opcode, &data));
                        self.recycle(data);
                    }
                }
            }
            (
                WsEvent::Message(message),
                Role::Channel {
                    subscription,
                    credentials,
                },
            ) => {
                // Published even after our Close: the client sent it before
                // it saw the Close, and will resume from its last id.
                if message.opcode != OpCode::Text {
                    // §7.4.1: 1003, a type of data the endpoint cannot accept.
                    out.with_owned(|buf| {
                        self.conn.close(
                            close_code::UNSUPPORTED_DATA,
                            "only text messages are published",
                            buf,
                        )
                    });
                    self.next_check = app.now + CLOSE_TIMEOUT;
                    return;
                }
                let text = String::from_utf8(message.data.into_owned())
                    .expect("validated as UTF-8 by the decoder");
                if text.len() > app.config().max_message {
                    out.with_owned(|buf| {
                        self.conn
                            .close(close_code::TOO_BIG, "message too large", buf)
                    });
                    self.next_check = app.now + CLOSE_TIMEOUT;
                    return;
                }
                let channel = subscription.channel.clone();
                // The publish right is asked for every frame, with the
                // handshake's token: one that expired since is refused now.
                if let Err(reason) = guard::may_publish(credentials, &channel, app) {
                    out.with_owned(|buf| {
                        self.conn.close(close_code::POLICY_VIOLATION, &reason, buf)
                    });
                    self.next_check = app.now + CLOSE_TIMEOUT;
                    return;
                }
                subscription::publish(app, &channel, text, Some(self.token));
            }
            (WsEvent::Pong, _) | (WsEvent::Closed { .. }, _) => {}
        }
    }

    /// An assembled message's buffer goes back for the next message.
    fn recycle(&mut self, data: Cow<'_, [u8]>) {
        if let Cow::Owned(data) = data {
            if let Some(unused) = self.conn.recycle(data) {
                buffers::give_back(unused);
            }
        }
    }

    /// The store's answer to a message this socket published: nothing to
    /// say when it was committed; when it could not be, the client is told
    /// with a Close (§7.4.1: 1011, an unexpected condition) and resumes by id.
    pub fn on_published(
        &mut self,
        outcome: &Result<u64, StoreError>,
        out: &mut OutputQueue,
        app: &App,
    ) -> Close {
        if outcome.is_err() {
            self.close(
                close_code::INTERNAL_ERROR,
                "the message could not be stored",
                out,
                app,
            );
        }
        self.close_state()
    }

    /// A message was published to this subscriber's channel.
    pub fn on_deliver(&mut self, delivery: &Delivery, out: &mut OutputQueue, app: &App) -> Close {
        if let Role::Channel { subscription, .. } = &mut self.role {
            // After our Close, nothing more may be sent (§5.5.1).
            if self.conn.state() == WsState::Open && !subscription.deliver(delivery, out, app) {
                app.stats().count(Count::ClosedSlowSubscriber);
                return Close::Now;
            }
        }
        Close::Open
    }

    /// The output drained: a held pong, then the next piece of a replay.
    pub fn on_drained(&mut self, out: &mut OutputQueue, app: &App) -> Close {
        // After our Close nothing more may be sent (§5.5.1).
        if self.conn.state() != WsState::Open {
            return Close::Open;
        }
        out.with_owned(|buf| self.conn.hold_pongs(false, buf));
        match &mut self.role {
            Role::Channel { subscription, .. } => subscription.on_drained(out, app),
            Role::Echo => Close::Open,
        }
    }

    pub fn deadline(&self) -> Instant {
        self.ends_at
            .map_or(self.next_check, |(end, _)| end.min(self.next_check))
    }

    pub fn on_timer(&mut self, out: &mut OutputQueue, app: &App) -> Close {
        if let Some((_, ending)) = self.ends_at.filter(|(end, _)| app.now >= *end) {
            self.ends_at = None;
            let (code, reason) = match ending {
                // §7.4.1: 1001, going away — the client resumes with ?after=.
                Ending::MaxDuration => (close_code::GOING_AWAY, "max duration reached"),
                // 1008, policy violation: it needs a fresh token to resume.
                Ending::TokenExpired => (close_code::POLICY_VIOLATION, "token expired"),
            };
            self.close(code, reason, out, app);
            return self.close_state();
        }
        if app.now < self.next_check {
            return self.close_state();
        }
        match self.conn.state() {
            WsState::Open if self.awaiting_pong => {
                app.stats().count(Count::ClosedNoPong);
                return Close::Now;
            }
            WsState::Open => {
                out.with_owned(|buf| write_frame(buf, OpCode::Ping, b"rtweb"));
                self.awaiting_pong = true;
                self.next_check = app.now + app.config().ws_ping;
            }
            // The peer never answered our Close.
            WsState::CloseSent | WsState::Closed => return Close::Now,
        }
        Close::Open
    }

    /// The server is shutting down: §7.4.1's 1001, going away. Clients
    /// resume by id on the next server.
    pub fn on_drain(&mut self, out: &mut OutputQueue, app: &App) -> Close {
        self.close(close_code::GOING_AWAY, "server shutting down", out, app);
        self.close_state()
    }

    /// Server-side close, e.g. when shutting a subscriber down.
    pub fn close(&mut self, code: u16, reason: &str, out: &mut OutputQueue, app: &App) {
        out.with_owned(|buf| self.conn.close(code, reason, buf));
        self.next_check = app.now + CLOSE_TIMEOUT;
    }

    fn close_state(&self) -> Close {
        match self.conn.state() {
            // §7.1.1: after the close handshake the server closes TCP first.
            WsState::Closed => Close::AfterFlush,
            WsState::Open | WsState::CloseSent => Close::Open,
        }
    }

    pub fn on_closed(&self, app: &App) {
        if let Role::Channel { subscription, .. } = &self.role {
            subscription.stop(self.token, app);
        }
    }
}

/// `/stats`: a payload we compressed, before and after.
pub fn count_deflated(app: &App, payload: usize, compressed: usize) {
    let stats = app.stats();
    Stats::add(&stats.ws_deflate_payload_bytes_out, payload as u64);
    Stats::add(&stats.ws_deflate_compressed_bytes_out, compressed as u64);
}
