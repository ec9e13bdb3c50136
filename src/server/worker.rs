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
//! 2. handle events: accept, mailbox (connections and deliveries handed over
//!    by other loops), read sockets (each read goes straight to the session);
//! 3. fire due deadlines;
//! 4. deliver what was published during this pass;
//! 5. *settle* every connection touched: offer buffered input, flush output
//!    (all replies of one wake-up in one vectored write), close, re-arm.

use std::io;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::connection::{max_input, Closing, Connection, ReadOutcome, ReadState, LINGER};
use super::timers::Timers;
use super::{Mail, Mailbox};
use crate::app::{Context, Delivery, Published, Session};
use crate::http::date::DateCache;
use crate::stats::Stats;

pub const LISTENER: Token = Token(usize::MAX - 1);
pub const WAKER: Token = Token(usize::MAX);

/// Size of the per-loop read buffer.
const SCRATCH: usize = 64 * 1024;
/// After `EMFILE`/`ENFILE` on accept, wait this long before trying again:
/// the pending connection keeps the listener ready, so retrying at once
/// would spin.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

pub struct Worker {
    pub index: usize,
    pub poll: Poll,
    pub listener: Option<TcpListener>,
    pub mailboxes: Arc<[Arc<Mailbox>]>,
    pub shared: Arc<crate::app::Shared>,
    /// Connections by token. Boxed, so that a slot costs 8 bytes and the
    /// table's spare capacity (it doubles as it grows) stays small.
    slots: Vec<Option<Box<Connection>>>,
    free: Vec<usize>,
    next_serial: u64,
    timers: Timers,
    scratch: Box<[u8]>,
    dates: DateCache,
    published: Vec<Published>,
    dirty: Vec<usize>,
    accept_paused_until: Option<Instant>,
    next_worker: usize,
    next_tick: Option<Instant>,
}

/// Builds a [`Context`] from the worker's fields, leaving `slots` free to borrow.
macro_rules! context {
    ($self:ident, $now:expr, $wall:expr) => {
        Context {
            now: $now,
            wall: $wall,
            shared: &$self.shared,
            worker: $self.index,
            dates: &mut $self.dates,
            published: &mut $self.published,
        }
    };
}

impl Worker {
    pub fn new(
        index: usize,
        poll: Poll,
        listener: Option<TcpListener>,
        mailboxes: Arc<[Arc<Mailbox>]>,
        shared: Arc<crate::app::Shared>,
    ) -> Worker {
        let next_tick = (index == 0)
            .then_some(())
            .and(shared.config.ticker)
            .map(|t| Instant::now() + t);
        Worker {
            index,
            poll,
            listener,
            mailboxes,
            shared,
            slots: Vec::new(),
            free: Vec::new(),
            next_serial: 0,
            timers: Timers::default(),
            scratch: vec![0; SCRATCH].into_boxed_slice(),
            dates: DateCache::default(),
            published: Vec::new(),
            dirty: Vec::new(),
            accept_paused_until: None,
            next_worker: index,
            next_tick,
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
            let timeout = [self.timers.next(), self.accept_paused_until, self.next_tick]
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
            let (now, wall) = (Instant::now(), SystemTime::now());
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now, wall),
                    WAKER => {
                        if self.read_mailbox(now, wall) {
                            return Ok(());
                        }
                    }
                    Token(slot) => self.on_ready(slot, event, now, wall),
                }
            }
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                self.accept(now, wall);
            }
            self.fire_timers(now, wall);
            self.tick(now, wall);
            self.settle_all(now, wall);
        }
    }

    fn accept(&mut self, now: Instant, wall: SystemTime) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((socket, _)) => {
                    Stats::add(&self.shared.stats.connections_accepted, 1);
                    // Round-robin over the loops; the first is this one.
                    let target = self.next_worker % self.mailboxes.len();
                    self.next_worker += 1;
                    if target == self.index {
                        self.add_connection(socket, now, wall);
                    } else {
                        self.mailboxes[target].send(Mail::Connection(socket));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.raw_os_error(), Some(23 | 24)) => {
                    // ENFILE / EMFILE: out of descriptors. Try again later.
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
                // ECONNABORTED and friends concern one connection only.
                Err(_) => {}
            }
        }
    }

    fn add_connection(&mut self, mut socket: TcpStream, now: Instant, wall: SystemTime) {
        let _ = socket.set_nodelay(true);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        if self
            .poll
            .registry()
            .register(&mut socket, Token(slot), Interest::READABLE)
            .is_err()
        {
            self.free.push(slot);
            return;
        }
        self.next_serial += 1;
        let session = Session::new(slot, &context!(self, now, wall));
        self.slots[slot] = Some(Box::new(Connection::new(socket, self.next_serial, session)));
        // Bytes may have arrived before registration; an edge was possibly missed.
        self.read(slot, now, wall);
        self.mark_dirty(slot);
    }

    /// Returns true when asked to stop.
    fn read_mailbox(&mut self, now: Instant, wall: SystemTime) -> bool {
        let mailbox = Arc::clone(&self.mailboxes[self.index]);
        for mail in mailbox.take() {
            match mail {
                Mail::Connection(socket) => self.add_connection(socket, now, wall),
                Mail::Deliver(delivery, tokens) => {
                    for token in tokens {
                        self.deliver(token, &delivery, now, wall);
                    }
                }
            }
        }
        mailbox.stopping()
    }

    fn on_ready(&mut self, slot: usize, event: &Event, now: Instant, wall: SystemTime) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read(slot, now, wall);
        }
        self.mark_dirty(slot);
    }

    fn read(&mut self, slot: usize, now: Instant, wall: SystemTime) {
        let Some(Some(conn)) = self.slots.get_mut(slot) else {
            return;
        };
        if conn.read_state == ReadState::Ended {
            return;
        }
        let mut cx = context!(self, now, wall);
        if let ReadOutcome::Failed = conn.read(&mut self.scratch, &mut cx) {
            self.close(slot, now, wall);
        }
    }

    fn deliver(&mut self, slot: usize, delivery: &Arc<Delivery>, now: Instant, wall: SystemTime) {
        let Some(Some(conn)) = self.slots.get_mut(slot) else {
            return;
        };
        conn.session
            .on_deliver(delivery, &mut conn.output, &mut context!(self, now, wall));
        self.mark_dirty(slot);
    }

    fn fire_timers(&mut self, now: Instant, wall: SystemTime) {
        while let Some((slot, serial, at)) = self.timers.pop_due(now) {
            let Some(Some(conn)) = self.slots.get_mut(slot) else {
                continue;
            };
            if conn.serial != serial || !Timers::claim(&mut conn.scheduled, at) {
                continue; // stale: the slot was reused, or the deadline moved
            }
            if conn.closing.is_some_and(|c| now >= c.until()) {
                self.close(slot, now, wall);
                continue;
            }
            conn.session
                .on_timer(&mut conn.output, &mut context!(self, now, wall));
            self.mark_dirty(slot);
        }
    }

    /// Publishes the server's clock to channel `clock` (`--ticker`).
    fn tick(&mut self, now: Instant, wall: SystemTime) {
        let (Some(at), Some(every)) = (self.next_tick, self.shared.config.ticker) else {
            return;
        };
        if now >= at {
            let mut cx = context!(self, now, wall);
            let millis = cx.unix_millis();
            cx.publish("clock", format!("{millis}"));
            self.next_tick = Some(now + every);
        }
    }

    fn mark_dirty(&mut self, slot: usize) {
        if let Some(Some(conn)) = self.slots.get_mut(slot) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// Delivers this pass's publishes, then settles every touched connection.
    fn settle_all(&mut self, now: Instant, wall: SystemTime) {
        while !self.dirty.is_empty() || !self.published.is_empty() {
            for published in std::mem::take(&mut self.published) {
                self.route_delivery(published, now, wall);
            }
            for slot in std::mem::take(&mut self.dirty) {
                self.settle(slot, now, wall);
            }
        }
    }

    /// Local subscribers get the delivery now; other loops through their mailbox.
    fn route_delivery(&mut self, published: Published, now: Instant, wall: SystemTime) {
        let mut remote: Vec<Vec<usize>> = vec![Vec::new(); self.mailboxes.len()];
        for subscriber in &published.subscribers {
            if subscriber.worker == self.index {
                self.deliver(subscriber.token, &published.delivery, now, wall);
            } else if let Some(tokens) = remote.get_mut(subscriber.worker) {
                tokens.push(subscriber.token);
            }
        }
        for (worker, tokens) in remote.into_iter().enumerate() {
            if !tokens.is_empty() {
                self.mailboxes[worker].send(Mail::Deliver(Arc::clone(&published.delivery), tokens));
            }
        }
    }

    /// Brings one connection up to date: buffered input, output, close, deadline.
    fn settle(&mut self, slot: usize, now: Instant, wall: SystemTime) {
        let Some(Some(conn)) = self.slots.get_mut(slot) else {
            return;
        };
        conn.dirty = false;
        let mut cx = context!(self, now, wall);
        if conn.closing.is_none() && conn.session.wants_input() {
            conn.offer_buffered(&mut cx);
            // Room again after a full buffer: resume the read we stopped.
            if conn.read_state == ReadState::Blocked && conn.input.len() < max_input(&cx) {
                if let ReadOutcome::Failed = conn.read(&mut self.scratch, &mut cx) {
                    return self.close(slot, now, wall);
                }
            }
        }
        if conn.flush(&self.shared.stats).is_err() {
            return self.close(slot, now, wall);
        }
        use crate::app::session::Close;
        match conn.session.close() {
            Close::Now => return self.close(slot, now, wall),
            Close::AfterFlush if conn.output.is_empty() => {
                if conn.read_state == ReadState::Ended {
                    return self.close(slot, now, wall);
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
            .update_interest(self.poll.registry(), Token(slot))
            .is_err()
        {
            return self.close(slot, now, wall);
        }
        let cx = context!(self, now, wall);
        let deadline = match conn.closing {
            Some(closing) => Some(closing.until()),
            None => conn.session.deadline(&cx),
        };
        self.timers
            .schedule(&mut conn.scheduled, deadline, slot, conn.serial);
    }

    /// Closes at once and forgets the connection everywhere.
    fn close(&mut self, slot: usize, now: Instant, wall: SystemTime) {
        let Some(mut conn) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        conn.session.on_closed(&context!(self, now, wall));
        let _ = self.poll.registry().deregister(&mut conn.socket);
        self.free.push(slot);
    }
}
