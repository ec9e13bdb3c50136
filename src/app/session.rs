//! One connection's state: which mode it is in, and the dispatch to it.
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
//!   │  (exchange.rs)                               (long_poll.rs)
//!   │          ├── /sse ──────► EventStream  (event_stream.rs)
//!   │          └── /ws, /echo ► WebSocket    (websocket.rs)
//!   │
//!   └ after an error answer or the idle timeout: Closing (nothing more is read)
//! ```
//!
//! This file only dispatches: each callback of the loop's contract
//! (`server/service.rs`) goes to the current mode's file, and what the mode
//! answers — a close decision, a new mode — is recorded here.

use std::time::Instant;

use super::delivery::Delivery;
use super::event_stream::EventStream;
use super::exchange::{Exchange, Exchanged, Turn};
use super::long_poll::LongPoll;
use super::websocket::WebSocket;
use super::{App, Mail};
use crate::output::OutputQueue;
use crate::server::{Close, Refusal};
use crate::stats::ConnKind;
use crate::store::StoreError;

#[derive(Debug)]
enum Mode {
    Http,
    LongPoll(Box<LongPoll>),
    EventStream(Box<EventStream>),
    WebSocket(Box<WebSocket>),
    /// An error answer is queued, or the connection idled out; input is
    /// ignored until the close.
    Closing,
}

#[derive(Debug)]
pub struct Session {
    /// Reads requests in `Http` mode; idle between them.
    exchange: Exchange,
    mode: Mode,
    close: Close,
}

impl Session {
    pub fn new(token: usize, app: &App) -> Session {
        app.stats().switch(None, Some(ConnKind::Http));
        Session {
            exchange: Exchange::new(token, app),
            mode: Mode::Http,
            close: Close::Open,
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

    fn set_mode(&mut self, mode: Mode, app: &App) {
        let before = self.kind();
        self.mode = mode;
        if before != self.kind() {
            app.stats().switch(Some(before), Some(self.kind()));
        }
    }

    /// Takes a mode's turn: a new mode, and what it decided about closing.
    fn turn(&mut self, close: Close, turn: Option<Turn>, app: &App) {
        self.escalate(close);
        let mode = match turn {
            None => return,
            Some(Turn::LongPoll(parked)) => Mode::LongPoll(Box::new(parked)),
            Some(Turn::EventStream(stream)) => Mode::EventStream(stream),
            Some(Turn::WebSocket(ws)) => Mode::WebSocket(ws),
            Some(Turn::Closing) => Mode::Closing,
        };
        self.set_mode(mode, app);
    }

    /// A parked long poll was answered (`Some`): back to reading requests.
    fn answered(&mut self, close: Option<Close>, app: &App) {
        if let Some(close) = close {
            self.escalate(close);
            self.exchange.idle_from(app.now);
            self.set_mode(Mode::Http, app);
        }
    }

    /// Bytes arrived; returns how many were used. Unused bytes stay buffered
    /// by the loop and are offered again after the next event.
    pub fn on_input(&mut self, input: &mut [u8], out: &mut OutputQueue, app: &mut App) -> usize {
        let mut used = 0;
        // A request may turn the connection; the rest of the input then
        // belongs to the new mode (frames right behind a WebSocket handshake).
        while self.close == Close::Open && used < input.len() {
            let before = self.kind();
            match &mut self.mode {
                Mode::Http => {
                    let Exchanged {
                        used: n,
                        close,
                        turn,
                    } = self.exchange.on_input(&input[used..], out, app);
                    used += n;
                    let turned = turn.is_some();
                    self.turn(close, turn, app);
                    if !turned || self.kind() == before {
                        break;
                    }
                }
                Mode::WebSocket(ws) => {
                    let (n, close) = ws.on_input(&mut input[used..], out, app);
                    self.escalate(close);
                    return used + n;
                }
                // A parked long poll answers before the next request is read.
                Mode::LongPoll(_) => return used,
                // Nothing a client sends on an event stream means anything.
                Mode::EventStream(_) | Mode::Closing => return input.len(),
            }
        }
        if self.close == Close::Open {
            used
        } else {
            input.len()
        }
    }

    /// Mail: a message published to a channel this session subscribed to,
    /// the outcome of a publish it made, or the channel it waits for loaded.
    pub fn on_mail(&mut self, mail: &Mail, out: &mut OutputQueue, app: &mut App) {
        match mail {
            Mail::Deliver(delivery) => self.on_deliver(delivery, out, app),
            Mail::Published(outcome) => self.on_published(outcome, out, app),
            Mail::Loaded(outcome) => {
                if let Mode::Http = self.mode {
                    let (close, turn) = self.exchange.on_loaded(outcome, out, app);
                    self.turn(close, turn, app);
                }
            }
        }
    }

    fn on_deliver(&mut self, delivery: &Delivery, out: &mut OutputQueue, app: &mut App) {
        match &mut self.mode {
            Mode::LongPoll(parked) => {
                let close = parked.on_deliver(delivery, out, app);
                self.answered(Some(close), app)
            }
            Mode::EventStream(stream) => {
                let close = stream.on_deliver(delivery, out, app);
                self.escalate(close)
            }
            Mode::WebSocket(ws) => {
                let close = ws.on_deliver(delivery, out, app);
                self.escalate(close)
            }
            Mode::Http | Mode::Closing => {}
        }
    }

    fn on_published(
        &mut self,
        outcome: &Result<u64, StoreError>,
        out: &mut OutputQueue,
        app: &mut App,
    ) {
        let close = match &mut self.mode {
            Mode::Http => self.exchange.on_published(outcome, out, app),
            Mode::WebSocket(ws) => ws.on_published(outcome, out, app),
            Mode::LongPoll(_) | Mode::EventStream(_) | Mode::Closing => Close::Open,
        };
        self.escalate(close);
    }

    /// When `on_timer` should next be called.
    pub fn deadline(&self, app: &App) -> Option<Instant> {
        match &self.mode {
            Mode::Http => Some(self.exchange.deadline(app)),
            Mode::LongPoll(parked) => Some(parked.deadline()),
            Mode::EventStream(stream) => Some(stream.deadline()),
            Mode::WebSocket(ws) => Some(ws.deadline()),
            Mode::Closing => None,
        }
    }

    /// A deadline may have passed.
    pub fn on_timer(&mut self, out: &mut OutputQueue, app: &mut App) {
        match &mut self.mode {
            Mode::Http => {
                if let Some((close, turn)) = self.exchange.on_timer(out, app) {
                    self.turn(close, Some(turn), app)
                }
            }
            Mode::LongPoll(parked) => {
                let close = parked.on_timer(out, app);
                self.answered(close, app)
            }
            Mode::EventStream(stream) => {
                let close = stream.on_timer(out, app);
                self.escalate(close)
            }
            Mode::WebSocket(ws) => {
                let close = ws.on_timer(out, app);
                self.escalate(close)
            }
            Mode::Closing => {}
        }
    }

    /// A connection over a limit: answered `503` and closed.
    pub fn refuse(&mut self, refusal: Refusal, out: &mut OutputQueue, app: &mut App) {
        let reason = match refusal {
            Refusal::TooManyConnections => "server busy: too many connections",
            Refusal::TooManyFromAddress => "too many connections from your address",
        };
        self.exchange.refuse(reason, out, app);
        self.turn(Close::AfterFlush, Some(Turn::Closing), app);
    }

    /// The output queue drained: a stream holding back its replay goes on.
    pub fn on_drained(&mut self, out: &mut OutputQueue, app: &mut App) {
        let close = match &mut self.mode {
            Mode::EventStream(stream) => stream.on_drained(out, app),
            Mode::WebSocket(ws) => ws.on_drained(out, app),
            Mode::Http | Mode::LongPoll(_) | Mode::Closing => Close::Open,
        };
        self.escalate(close);
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

    /// The server is shutting down: end the way the mode's protocol says.
    pub fn on_drain(&mut self, out: &mut OutputQueue, app: &mut App) {
        match &mut self.mode {
            Mode::Http => {
                let close = self.exchange.on_drain();
                self.escalate(close)
            }
            Mode::LongPoll(parked) => {
                let close = parked.on_drain(out, app);
                self.answered(Some(close), app)
            }
            Mode::EventStream(stream) => {
                let close = stream.end(out);
                self.escalate(close)
            }
            Mode::WebSocket(ws) => {
                let close = ws.on_drain(out, app);
                self.escalate(close)
            }
            Mode::Closing => {}
        }
    }

    /// The connection is going away: leave every table.
    pub fn on_closed(&mut self, app: &App) {
        match &self.mode {
            Mode::LongPoll(parked) => parked.on_closed(app),
            Mode::EventStream(stream) => stream.on_closed(app),
            Mode::WebSocket(ws) => ws.on_closed(app),
            Mode::Http => self.exchange.on_closed(app),
            Mode::Closing => {}
        }
        app.stats().switch(Some(self.kind()), None);
    }

    /// True while the session would use more input now; the loop stops
    /// reading (and buffering) when it would not.
    pub fn wants_input(&self) -> bool {
        if self.close != Close::Open {
            return false;
        }
        match self.mode {
            Mode::Http => self.exchange.ready(),
            // An echo socket holds input back while its output is full
            // (websocket.rs); what it held must be offered again once the
            // output drains — no read event will come, for the client is
            // waiting for its echoes, not sending.
            Mode::WebSocket(_) => true,
            Mode::LongPoll(_) | Mode::EventStream(_) | Mode::Closing => false,
        }
    }

    /// True while the session holds its input back until `out` drains:
    /// the loop stops reading. Only an echo does (its replies are its
    /// output); the other modes that use no input still let the loop
    /// read, to see the client's EOF.
    pub fn input_paused(&self, out: &OutputQueue, app: &App) -> bool {
        match &self.mode {
            Mode::WebSocket(ws) => ws.input_paused(out, app),
            _ => false,
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
