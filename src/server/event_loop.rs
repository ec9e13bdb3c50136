//! One event loop: a `mio::Poll`, the connections it owns, their deadlines.
//!
//! # Readiness, the way mio teaches it
//!
//! `poll` sleeps until a socket is ready or the nearest deadline comes due.
//! Registration is edge-triggered: an event says "something changed", not
//! "there is data", so on every event we read until `WouldBlock` (and accept
//! until `WouldBlock`) — stopping early would leave bytes that no new event
//! announces. Spurious events are harmless for the same reason: a read that
//! finds nothing returns `WouldBlock`. `Ok(0)` from a read is the peer's EOF.
//!
//! One pass of the loop:
//!
//! 1. `poll` with the nearest deadline as timeout;
//! 2. handle events: accept, mailbox (connections and mail handed over by
//!    other loops), read sockets (each read goes straight to the service);
//! 3. fire due deadlines (the connections' and the service's own);
//! 4. route the mail the service produced during this pass, and offer the
//!    input that waited for it (a pipelined request behind an answered
//!    one), until neither makes more — before any flush, so that several
//!    messages for one connection leave in one write;
//! 5. *settle* every connection touched: offer buffered input, flush output
//!    (all replies of one wake-up in one vectored write) — and while a flush
//!    empties the output, tell the service (`drained`) and offer the
//!    buffered input again, since no event will announce either — then
//!    close, re-arm.
//!
//! Accepting, with `--max-connections` and the per-IP cap, is in
//! `accept.rs`.
//!
//! The loop is generic over the [`Service`] it drives (see `service.rs`
//! for the contract): it never learns what the bytes mean.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use super::admission::Admission;
use super::connection::{Closing, Connection, ReadOutcome, ReadState, LINGER};
use super::service::{Close, Outgoing, Service};
use super::timers::Timers;
use super::{Mail, Mailboxes};
use crate::stats::Count;

#[path = "accept.rs"]
mod accept;

pub const LISTENER: Token = Token(usize::MAX - 1);
pub const WAKER: Token = Token(usize::MAX);

/// Size of the per-loop read buffer.
const SCRATCH: usize = 64 * 1024;
pub struct EventLoop<S: Service> {
    pub index: usize,
    poll: Poll,
    listener: Option<TcpListener>,
    mailboxes: Mailboxes<S::Mail>,
    admission: Arc<Admission>,
    /// Refused connections still open (sending their `503`).
    refusing: usize,
    service: S,
    /// Connections by token. Boxed, so that a token costs 8 bytes and the
    /// table's spare capacity (it doubles as it grows) stays small.
    connections: Vec<Option<Box<Connection<S>>>>,
    free: Vec<usize>,
    next_serial: u64,
    timers: Timers,
    scratch: Box<[u8]>,
    dirty: Vec<usize>,
    accept_paused_until: Option<Instant>,
    next_loop: usize,
    /// Shutting down gracefully: done by this time at the latest.
    draining_until: Option<Instant>,
}

impl<S: Service> EventLoop<S> {
    pub fn new(
        index: usize,
        poll: Poll,
        listener: Option<TcpListener>,
        mailboxes: Mailboxes<S::Mail>,
        admission: Arc<Admission>,
        service: S,
    ) -> Self {
        EventLoop {
            index,
            poll,
            listener,
            mailboxes,
            admission,
            refusing: 0,
            service,
            connections: Vec::new(),
            free: Vec::new(),
            next_serial: 0,
            timers: Timers::default(),
            scratch: vec![0; SCRATCH].into_boxed_slice(),
            dirty: Vec::new(),
            accept_paused_until: None,
            next_loop: index,
            draining_until: None,
        }
    }

    /// Runs until the mailbox says stop.
    pub fn run(mut self) -> io::Result<()> {
        if let Some(listener) = &mut self.listener {
            self.poll
                .registry()
                .register(listener, LISTENER, Interest::READABLE)?;
        }
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = [
                self.timers.next(),
                self.accept_paused_until,
                self.service.own_deadline(),
                self.draining_until,
            ]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    WAKER => {
                        if self.read_mailbox(now) {
                            return Ok(());
                        }
                    }
                    Token(token) => self.on_ready(token, event, now),
                }
            }
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                self.accept(now);
            }
            self.fire_timers(now);
            if self.service.own_deadline().is_some_and(|t| now >= t) {
                self.service.own_timer(now);
            }
            self.settle_all(now);
            if let Some(until) = self.draining_until {
                if now >= until || self.drained() {
                    return Ok(());
                }
            }
        }
    }

    /// Every connection has said its last word: all its output is written
    /// and its write side shut down (the peer has seen the end).
    fn drained(&self) -> bool {
        self.connections
            .iter()
            .flatten()
            .all(|conn| matches!(conn.closing, Some(Closing::Draining { .. })))
    }

    /// A graceful shutdown: stop accepting, and ask every connection to end
    /// the way its protocol says; the loop returns once they have closed.
    fn start_drain(&mut self, until: Instant, now: Instant) {
        self.draining_until = Some(until);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for token in 0..self.connections.len() {
            if let Some(Some(conn)) = self.connections.get_mut(token) {
                self.service.drain(&mut conn.session, &mut conn.output, now);
                self.mark_dirty(token);
            }
        }
    }

    /// Returns true when asked to stop.
    fn read_mailbox(&mut self, now: Instant) -> bool {
        let mailbox = Arc::clone(&self.mailboxes[self.index]);
        for mail in mailbox.take() {
            match mail {
                Mail::Connection(socket, ip) => self.add_connection(socket, Ok(ip), now),
                Mail::Deliver(mail, tokens) => {
                    for token in tokens {
                        self.deliver(token, &mail, now);
                    }
                }
            }
        }
        if let (None, Some(until)) = (self.draining_until, mailbox.drain_by()) {
            self.start_drain(until, now);
        }
        mailbox.stopping()
    }

    fn on_ready(&mut self, token: usize, event: &Event, now: Instant) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            if event.is_read_closed() || event.is_error() {
                // The FIN behind any bytes will bring no new edge: the read
                // must go on to the EOF (see connection.rs).
                if let Some(Some(conn)) = self.connections.get_mut(token) {
                    conn.hang_up_announced = true;
                }
            }
            self.read(token, now);
        }
        self.mark_dirty(token);
    }

    fn read(&mut self, token: usize, now: Instant) {
        let Some(Some(conn)) = self.connections.get_mut(token) else {
            return;
        };
        if conn.read_state == ReadState::Ended {
            return;
        }
        if let ReadOutcome::Failed = conn.read(&mut self.scratch, &mut self.service, now) {
            self.close(token, now);
        }
    }

    fn deliver(&mut self, token: usize, mail: &Arc<S::Mail>, now: Instant) {
        let Some(Some(conn)) = self.connections.get_mut(token) else {
            return;
        };
        self.service
            .deliver(&mut conn.session, mail, &mut conn.output, now);
        self.mark_dirty(token);
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some((token, serial, at)) = self.timers.pop_due(now) {
            let Some(Some(conn)) = self.connections.get_mut(token) else {
                continue;
            };
            if conn.serial != serial || !Timers::claim(&mut conn.scheduled, at) {
                continue; // stale: the token was reused, or the deadline moved
            }
            conn.fired_at = Some(now);
            if conn.closing.is_some_and(|c| now >= c.until()) {
                self.close(token, now);
                continue;
            }
            let send_timeout = self.service.limits().send_timeout;
            if conn.send.deadline(send_timeout).is_some_and(|at| now >= at) {
                // No byte left for `--send-timeout`: the peer stopped reading.
                self.service.stats().count(Count::ClosedSendTimeout);
                self.close(token, now);
                continue;
            }
            // The session's own deadline (never called early).
            if self
                .service
                .deadline(&conn.session)
                .is_some_and(|at| now >= at)
            {
                self.service.timer(&mut conn.session, &mut conn.output, now);
            }
            self.mark_dirty(token);
        }
    }

    fn mark_dirty(&mut self, token: usize) {
        if let Some(Some(conn)) = self.connections.get_mut(token) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(token);
            }
        }
    }

    /// Routes this pass's mail, then settles every touched connection.
    fn settle_all(&mut self, now: Instant) {
        loop {
            let mut idle = !self.route_all(now);
            for token in std::mem::take(&mut self.dirty) {
                self.settle(token, now);
                idle = false;
            }
            if idle {
                return;
            }
        }
    }

    /// Routes mail, and offers the input that waited for it, until neither
    /// makes more (at most `MAX_ROUNDS` times); false if there was no mail.
    /// Flushing waits until then: a client's pipelined publishes, each
    /// answered by mail, reach every subscriber in one write, not one
    /// write per message.
    fn route_all(&mut self, now: Instant) -> bool {
        const MAX_ROUNDS: usize = 64;
        let mut routed = false;
        for _ in 0..MAX_ROUNDS {
            let mut more = false;
            while let Some(outgoing) = self.service.next_mail() {
                self.route(outgoing, now);
                more = true;
            }
            if !more {
                break;
            }
            routed = true;
            for &token in &self.dirty {
                if let Some(Some(conn)) = self.connections.get_mut(token) {
                    if conn.closing.is_none() && self.service.wants_input(&conn.session) {
                        conn.offer_buffered(&mut self.service, now);
                    }
                }
            }
        }
        routed
    }

    /// Local connections get the mail now; other loops through their mailbox.
    fn route(&mut self, outgoing: Outgoing<S::Mail>, now: Instant) {
        let mut remote: Vec<Vec<usize>> = vec![Vec::new(); self.mailboxes.len()];
        for address in &outgoing.to {
            if address.event_loop == self.index {
                self.deliver(address.token, &outgoing.mail, now);
            } else if let Some(tokens) = remote.get_mut(address.event_loop) {
                tokens.push(address.token);
            }
        }
        for (event_loop, tokens) in remote.into_iter().enumerate() {
            if !tokens.is_empty() {
                self.mailboxes[event_loop].send(Mail::Deliver(Arc::clone(&outgoing.mail), tokens));
            }
        }
    }

    /// Brings one connection up to date: buffered input, output, close, deadline.
    fn settle(&mut self, token: usize, now: Instant) {
        let Some(Some(conn)) = self.connections.get_mut(token) else {
            return;
        };
        conn.dirty = false;
        // Each round needs a flush that emptied the output, so the rounds
        // are bounded by what the socket takes and the input holds; past
        // `MAX_ROUNDS` the connection waits for the next pass, so one
        // client cannot hold the loop.
        const MAX_ROUNDS: usize = 64;
        for round in 0.. {
            if conn.closing.is_none() && self.service.wants_input(&conn.session) {
                conn.offer_buffered(&mut self.service, now);
                // Room again after a full buffer or a paused input: resume
                // the read we stopped.
                if conn.read_state == ReadState::Blocked
                    && conn.input.len() < self.service.limits().max_input
                {
                    if let ReadOutcome::Failed =
                        conn.read(&mut self.scratch, &mut self.service, now)
                    {
                        return self.close(token, now);
                    }
                }
            }
            let had_output = !conn.output.is_empty();
            if conn.flush(self.service.stats(), now).is_err() {
                return self.close(token, now);
            }
            if !had_output || !conn.output.is_empty() || conn.closing.is_some() {
                break;
            }
            // The output drained: what waited for room may go on, and no
            // readiness event will say so (the socket is writable, and the
            // buffered input was read long ago).
            self.service
                .drained(&mut conn.session, &mut conn.output, now);
            // Input waits in the buffer, or in the kernel since a read
            // stopped (`Blocked`): either way the next round takes it.
            let more_input = (!conn.input.is_empty() || conn.read_state == ReadState::Blocked)
                && self.service.wants_input(&conn.session);
            if conn.output.is_empty() && !more_input {
                break;
            }
            if round == MAX_ROUNDS {
                conn.dirty = true;
                self.dirty.push(token);
                break;
            }
        }
        match self.service.close(&conn.session) {
            Close::Now => return self.close(token, now),
            Close::AfterFlush if conn.output.is_empty() => {
                if conn.read_state == ReadState::Ended {
                    return self.close(token, now);
                }
                if !matches!(conn.closing, Some(Closing::Draining { .. })) {
                    conn.shut_down_writes(now);
                }
            }
            Close::AfterFlush if conn.closing.is_none() => {
                // A client that will not read its last response cannot hold
                // the connection open forever.
                conn.closing = Some(Closing::Flushing {
                    until: now + LINGER,
                });
            }
            Close::AfterFlush | Close::Open => {}
        }
        if conn
            .update_interest(self.poll.registry(), Token(token))
            .is_err()
        {
            return self.close(token, now);
        }
        let deadline = match conn.closing {
            Some(closing) => Some(closing.until()),
            None => self.service.deadline(&conn.session),
        };
        let send_timeout = self.service.limits().send_timeout;
        let deadline = [deadline, conn.send.deadline(send_timeout)]
            .into_iter()
            .filter_map(|at| Timers::to_arm(at, conn.fired_at))
            .min();
        self.timers
            .schedule(&mut conn.scheduled, deadline, token, conn.serial);
    }

    /// Closes at once and forgets the connection everywhere.
    fn close(&mut self, token: usize, now: Instant) {
        let Some(mut conn) = self.connections.get_mut(token).and_then(Option::take) else {
            return;
        };
        self.service.closed(&mut conn.session, now);
        let _ = self.poll.registry().deregister(&mut conn.socket);
        self.free.push(token);
        match conn.admitted {
            Some(ip) => self.admission.release(ip),
            None => self.refusing -= 1,
        }
    }
}
