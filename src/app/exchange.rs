//! A connection's HTTP mode: requests read in order, each answered or
//! turned into something longer-lived.
//!
//! Bytes go to [`RequestDecoder`] (`http/request.rs`): a head, body pieces,
//! the end. A whole request goes to `routes.rs`, whose [`Action`] is carried
//! out here: answer now, or turn the connection into a parked long poll, an
//! event stream or a WebSocket — the [`Turn`] the session then takes.
//!
//! Three timers while in this mode, one for each thing the connection can
//! be waiting for — so there is always exactly one, and always in the future
//! until it fires:
//!
//! - a **head** in progress must be complete within `--head-timeout` of its
//!   first byte (`408`, then close);
//! - a **body** in progress may pause at most `--body-timeout` between two
//!   of its bytes, and must be complete within `--body-total-timeout` of
//!   its head (`408`, then close) — nginx's `client_body_timeout` is the
//!   first; the second stops a body trickled one byte at a time just under
//!   it (64 KiB at one byte per 9 s would take a week);
//! - with **nothing** in progress the connection is closed after
//!   `--idle-timeout`, without a word.
//!
//! A body being received is charged to the process-wide `--max-buffered`
//! budget (`budget.rs`) as it grows; a body that does not fit is refused
//! `503` and the connection closed.

use std::time::Instant;

use super::event_stream::EventStream;
use super::guard;
use super::long_poll::{self, LongPoll};
use super::routes::{self, Action};
use super::subscription;
use super::websocket::WebSocket;
use super::{App, Arrival};
use crate::access::Headers;
use crate::budget::Held;
use crate::http::request::BodyLength;
use crate::http::response::{write_interim, Persistence, Status};
use crate::http::{Decoded, HttpError, Method, RequestDecoder, RequestEvent, RequestHead, Version};
use crate::output::OutputQueue;
use crate::server::Close;
use crate::stats::Count;
use crate::store::StoreError;

/// What a request turned the connection into.
#[derive(Debug)]
pub enum Turn {
    LongPoll(LongPoll),
    EventStream(Box<EventStream>),
    WebSocket(Box<WebSocket>),
    /// An error answer is queued; nothing more is read.
    Closing,
}

/// What one `on_input` did.
#[derive(Debug)]
pub struct Exchanged {
    pub used: usize,
    pub close: Close,
    pub turn: Option<Turn>,
}

/// A request between its head and the end of its body.
#[derive(Debug)]
struct Receiving {
    head: RequestHead,
    body: Vec<u8>,
    /// The body's share of `--max-buffered`.
    held: Held,
    /// When the head was complete: the whole-body timeout runs from here.
    head_done: Instant,
    /// When the last body byte arrived: the between-bytes timeout.
    last_byte: Instant,
}

#[derive(Debug)]
pub struct Exchange {
    /// The connection's token: what long polls and streams subscribe with.
    token: usize,
    decoder: RequestDecoder,
    /// The request whose body is being received. Boxed, like `loading`:
    /// every idle connection carries these fields, few use them.
    request: Option<Box<Receiving>>,
    /// When the connection last had something to do: input arrived, or a
    /// parked request was answered (the idle timeout runs from here).
    last_input: Instant,
    /// A publish waits for its commit: how to write its answer. Requests
    /// behind it are not read until it is answered (answers go in order).
    awaiting: Option<Reply>,
    /// A request waits for its channel to be loaded (`--redis`); it is
    /// served again when the relay's mail comes. Requests behind it wait.
    loading: Option<Box<Loading>>,
}

/// A request set aside until its channel is in the hub.
#[derive(Debug)]
struct Loading {
    head: RequestHead,
    channel: String,
    /// Loads asked for this request: another connection's request may
    /// release the channel before this one is served, so it may take two.
    attempts: u8,
}

/// Loads one request may ask for before it is refused `503`.
const MAX_LOADS: u8 = 3;

impl Exchange {
    pub fn new(token: usize, app: &App) -> Exchange {
        Exchange {
            token,
            decoder: RequestDecoder::new(app.config().limits),
            request: None,
            last_input: app.now,
            awaiting: None,
            loading: None,
        }
    }

    /// A parked request was answered: the connection is idle from now. From
    /// the request's arrival instead, a long poll longer than the idle
    /// timeout came back to an idle deadline already passed — closed the
    /// moment it was answered, or (if the loop had fired since) never.
    pub fn idle_from(&mut self, now: Instant) {
        self.last_input = now;
    }

    /// False while a publish waits for its commit, or a request for its
    /// channel to be loaded.
    pub fn ready(&self) -> bool {
        self.awaiting.is_none() && self.loading.is_none()
    }

    /// The channel a request waits for is in the hub (or could not be
    /// read): serve the request now, then, if it was read in for this
    /// request, let it go unless the request subscribed to it.
    pub fn on_loaded(
        &mut self,
        outcome: &Result<Arrival, StoreError>,
        out: &mut OutputQueue,
        app: &mut App,
    ) -> (Close, Option<Turn>) {
        let Some(loading) = self.loading.take() else {
            return (Close::Open, None);
        };
        let Loading {
            head,
            channel,
            attempts,
        } = *loading;
        match outcome {
            Ok(arrival) => {
                let served = self.serve(head, Vec::new(), attempts, out, app);
                if *arrival == Arrival::Read {
                    subscription::release(app, &channel);
                }
                served
            }
            Err(error) => {
                let reply = Reply::to(&head);
                let close = respond(&routes::store_refusal(error), &reply, out, app);
                (close, None)
            }
        }
    }

    /// The connection closed: a channel loaded for it is not needed.
    pub fn on_closed(&mut self, app: &App) {
        if let Some(loading) = self.loading.take() {
            subscription::release(app, &loading.channel);
        }
    }

    /// The store committed (or refused) the publish this connection made.
    pub fn on_published(
        &mut self,
        outcome: &Result<u64, StoreError>,
        out: &mut OutputQueue,
        app: &mut App,
    ) -> Close {
        let Some(reply) = self.awaiting.take() else {
            return Close::Open;
        };
        let response = routes::published_response(outcome);
        respond(&response, &reply, out, app)
    }

    /// Decodes and answers requests until the input runs out, one of them
    /// turns the connection, or the connection is to close.
    pub fn on_input(&mut self, input: &[u8], out: &mut OutputQueue, app: &mut App) -> Exchanged {
        self.last_input = app.now;
        let mut done = Exchanged {
            used: 0,
            close: Close::Open,
            turn: None,
        };
        while done.close == Close::Open && done.turn.is_none() && self.ready() {
            // Backpressure: a client pipelining requests without reading the
            // answers gets no more answers until it reads.
            if out.pending() > app.config().max_pending {
                break;
            }
            let failure = match self.decoder.decode(&input[done.used..], app.now) {
                Err(error) => Some(error),
                Ok(Decoded { consumed, event }) => {
                    done.used += consumed;
                    match event {
                        None if consumed == 0 => break,
                        None => None,
                        Some(RequestEvent::Head(head)) => {
                            self.on_head(head, out, app);
                            None
                        }
                        Some(RequestEvent::Body(data)) => self.on_body(data, app).err(),
                        Some(RequestEvent::End) => {
                            if let Some(receiving) = self.request.take() {
                                let Receiving { head, body, .. } = *receiving;
                                (done.close, done.turn) = self.dispatch(head, body, out, app);
                            }
                            None
                        }
                    }
                }
            };
            if let Some(error) = failure {
                self.fail(error, out, app);
                done.used = input.len();
                done.close = Close::AfterFlush;
                done.turn = Some(Turn::Closing);
            }
        }
        done
    }

    fn on_head(&mut self, head: RequestHead, out: &mut OutputQueue, app: &App) {
        // RFC 9110 §10.1.1: a client that sent `Expect: 100-continue` waits
        // for this before sending the body — but a server "MUST ignore" the
        // expectation from an HTTP/1.0 client, and §15.2 forbids sending it
        // a 1xx. Oversized bodies never get here: the decoder answered 413.
        if head.expects_continue
            && head.version == Version::Http11
            && head.body != BodyLength::Fixed(0)
        {
            out.with_owned(|buf| write_interim(buf, Status::CONTINUE));
        }
        self.request = Some(Box::new(Receiving {
            head,
            body: Vec::new(),
            held: Held::new(&app.shared.buffered),
            head_done: app.now,
            last_byte: app.now,
        }));
    }

    /// A piece of body: kept, if the process-wide budget has room for it
    /// (else `503`: the server, not the request, is short of room).
    fn on_body(&mut self, data: &[u8], app: &App) -> Result<(), HttpError> {
        let Some(receiving) = &mut self.request else {
            return Ok(());
        };
        receiving.last_byte = app.now;
        let size = receiving.body.len().saturating_add(data.len());
        if !receiving.held.set(size) {
            app.stats().count(Count::RefusedMaxBuffered);
            return Err(HttpError::new(
                Status::SERVICE_UNAVAILABLE,
                "server busy: too many request bodies in progress",
            ));
        }
        receiving.body.extend_from_slice(data);
        Ok(())
    }

    /// Answers a request that cannot be processed; the connection closes.
    fn fail(&mut self, error: HttpError, out: &mut OutputQueue, app: &mut App) {
        self.request = None;
        respond(&routes::error_response(error), &Reply::closing(), out, app);
    }

    /// The server is shutting down: an idle connection closes now; one in
    /// the middle of a request gets its answer (with `Connection: close`).
    pub fn on_drain(&self) -> Close {
        if self.decoder.is_idle() && self.request.is_none() && self.loading.is_none() {
            Close::AfterFlush
        } else {
            Close::Open
        }
    }

    /// When `on_timer` should next be called: the one timeout of what the
    /// connection is waiting for (see the module's header).
    pub fn deadline(&self, app: &App) -> Instant {
        let config = app.config();
        if let Some(started) = self.decoder.head_started() {
            return started + config.head_timeout;
        }
        match &self.request {
            Some(receiving) => (receiving.last_byte + config.body_timeout)
                .min(receiving.head_done + config.body_total_timeout),
            None => self.last_input + config.idle_timeout,
        }
    }

    /// The head or body came too slowly (`408`, then close), or the
    /// connection sat idle (closed without a word). `None` before the
    /// deadline: a timer is never early, but the loop may call late.
    pub fn on_timer(&mut self, out: &mut OutputQueue, app: &mut App) -> Option<(Close, Turn)> {
        if app.now < self.deadline(app) {
            return None;
        }
        let timeout = if self.decoder.head_started().is_some() {
            app.stats().count(Count::ClosedHeadTimeout);
            "request head not received in time"
        } else if self.request.is_some() {
            app.stats().count(Count::ClosedBodyTimeout);
            "request body not received in time"
        } else {
            app.stats().count(Count::ClosedIdle);
            let close = if out.is_empty() {
                Close::Now
            } else {
                Close::AfterFlush
            };
            return Some((close, Turn::Closing));
        };
        self.fail(HttpError::new(Status::REQUEST_TIMEOUT, timeout), out, app);
        Some((Close::AfterFlush, Turn::Closing))
    }

    /// A connection the server will not serve (`--max-connections`):
    /// `503`, and close.
    pub fn refuse(&mut self, reason: &'static str, out: &mut OutputQueue, app: &mut App) {
        let response = routes::error_response(HttpError::new(Status::SERVICE_UNAVAILABLE, reason))
            .header("Retry-After", "1");
        respond(&response, &Reply::closing(), out, app);
    }
}

impl Exchange {
    /// A whole request has arrived: answer it, or turn the connection.
    fn dispatch(
        &mut self,
        head: RequestHead,
        body: Vec<u8>,
        out: &mut OutputQueue,
        app: &mut App,
    ) -> (Close, Option<Turn>) {
        routes::count_request(app);
        self.serve(head, body, 0, out, app)
    }

    /// Serves a request (again, after `loads` loads of its channel).
    fn serve(
        &mut self,
        head: RequestHead,
        body: Vec<u8>,
        loads: u8,
        out: &mut OutputQueue,
        app: &mut App,
    ) -> (Close, Option<Turn>) {
        let token = self.token;
        let mut reply = Reply::to(&head);
        let refuse = |response, reply: &Reply, out: &mut OutputQueue, app: &mut App| {
            (respond(&response, reply, out, app), None)
        };
        // Every request meets the access policy first: the Host and Origin
        // rules, and the CORS headers its answer will carry.
        if head.method == Method::Options {
            return refuse(guard::preflight(&head, app), &reply, out, app);
        }
        match guard::admit(&head, app) {
            Ok(cors) => reply.cors = cors,
            Err(refusal) => return refuse(refusal, &reply, out, app),
        }
        let turn = match routes::route(&head, body, loads, app) {
            Action::Respond(response) => return refuse(response, &reply, out, app),
            Action::Load { .. } if loads >= MAX_LOADS => {
                let busy = HttpError::new(
                    Status::SERVICE_UNAVAILABLE,
                    "the channel could not be loaded: try again",
                );
                let response = routes::error_response(busy).header("Retry-After", "1");
                return refuse(response, &reply, out, app);
            }
            Action::Load { channel } => {
                subscription::load(app, channel.clone(), token);
                self.loading = Some(Box::new(Loading {
                    head,
                    channel,
                    attempts: loads + 1,
                }));
                return (Close::Open, None);
            }
            Action::Publish { channel, text } => {
                subscription::publish(app, &channel, text, Some(token));
                self.awaiting = Some(reply);
                return (Close::Open, None);
            }
            Action::LongPoll {
                channel,
                after,
                timeout,
            } => match LongPoll::start(token, channel, after, timeout, reply.clone(), out, app) {
                Ok(long_poll::Start::Parked(parked)) => Turn::LongPoll(parked),
                Ok(long_poll::Start::Answered(close)) => return (close, None),
                Err(response) => return refuse(response, &reply, out, app),
            },
            Action::EventStream(request) => {
                match EventStream::start(token, request, &head, &reply.cors, out, app) {
                    Ok(stream) => {
                        app.stats().response(Status::OK.0);
                        Turn::EventStream(Box::new(stream))
                    }
                    Err(response) => return refuse(response, &reply, out, app),
                }
            }
            Action::WebSocket { endpoint, accept } => {
                match WebSocket::start(token, endpoint, &accept, out, app) {
                    Ok(ws) => {
                        app.stats().response(Status::SWITCHING_PROTOCOLS.0);
                        Turn::WebSocket(Box::new(ws))
                    }
                    Err(response) => return refuse(response, &reply, out, app),
                }
            }
        };
        (Close::Open, Some(turn))
    }
}

/// How a request wants its answer written.
#[derive(Debug, Clone)]
pub struct Reply {
    /// A `HEAD` request: the answer's head only.
    pub head_only: bool,
    pub persistence: Persistence,
    /// CORS headers for an allowed cross-origin request (`guard::admit`).
    pub cors: Headers,
}

impl Reply {
    /// How `head` asks to be answered (CORS headers are added once the
    /// access policy has admitted it).
    pub fn to(head: &RequestHead) -> Reply {
        Reply {
            head_only: head.method == Method::Head,
            persistence: head.persistence(),
            cors: Vec::new(),
        }
    }

    /// The answer to a request that cannot go on: the connection's last.
    pub fn closing() -> Reply {
        Reply {
            head_only: false,
            persistence: Persistence::Close,
            cors: Vec::new(),
        }
    }
}

/// Writes a whole response; says whether the connection closes after it.
pub fn respond(
    response: &crate::http::Response,
    reply: &Reply,
    out: &mut OutputQueue,
    app: &mut App,
) -> Close {
    app.stats().response(response.status.0);
    // While draining, every answer is the connection's last.
    let persistence = if app.draining {
        Persistence::Close
    } else {
        reply.persistence
    };
    let date = app.date();
    let head_only = reply.head_only;
    if reply.cors.is_empty() {
        out.with_owned(|buf| response.write(buf, &date, head_only, persistence));
    } else {
        let mut response = response.clone();
        response.headers.extend(reply.cors.iter().cloned());
        out.with_owned(|buf| response.write(buf, &date, head_only, persistence));
    }
    match persistence {
        Persistence::Close => Close::AfterFlush,
        Persistence::Persist | Persistence::ConfirmKeepAlive => Close::Open,
    }
}
