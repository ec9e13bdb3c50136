//! The contract between the event loop and what it serves — written once.
//!
//! The loop owns sockets, buffers, readiness and deadlines. A [`Service`]
//! owns what the bytes mean. Neither reaches into the other: the loop calls
//! the service with bytes, mail and due deadlines; the service answers by
//! writing into the connection's [`OutputQueue`] and by what the loop reads
//! back afterwards. This is the whole border (quinn-proto's `Connection`
//! documents its driver's duties the same way).
//!
//! # What the loop calls, per connection
//!
//! 1. [`Service::open`] once, when the connection is accepted: it returns
//!    the connection's session, the service's state for it. A connection
//!    over `--max-connections` (or the per-IP cap) is opened too, and then
//!    [`Service::refuse`]d at once: the service writes its short answer,
//!    asks to close after the flush, and sees nothing else of it.
//! 2. [`Service::input`] with bytes read from the socket (or buffered from
//!    an earlier read). It returns how many it used, and may have changed
//!    those (a WebSocket payload is unmasked where it lies); the loop keeps
//!    the rest, unchanged (at most [`Limits::max_input`]), and offers them
//!    again after the next event on this connection, and — by construction,
//!    since no event may ever announce them — after every flush that empties
//!    the output: a session that stopped decoding because its output was
//!    full (past `--max-pending`) resumes when the output drains.
//! 3. [`Service::drained`] after a flush emptied the output queue (before
//!    buffered input is offered again): a session that holds back output to
//!    keep its queue within budget — a long replay — writes its next piece.
//! 4. [`Service::deliver`] with mail addressed to the connection (from this
//!    loop or, through its mailbox, from another).
//! 5. [`Service::timer`] when the deadline the session last asked for has
//!    come (possibly a little late, never early).
//! 6. [`Service::peer_closed`] when the peer's end of the stream arrives.
//! 7. [`Service::closed`] exactly once, when the connection is gone — for
//!    whatever reason, including errors the service never saw.
//!
//! And once, when the server shuts down gracefully: [`Service::drain`] for
//! every connection. The loop stops accepting, keeps serving until every
//! connection has closed or the drain deadline passes, then returns.
//!
//! # What the loop reads back, after every call above
//!
//! - [`Service::close`]: keep the connection open, close it after its
//!   output is flushed, or close it now;
//! - [`Service::wants_input`]: whether more input would be used now (the
//!   loop offers buffered input again only when it would);
//! - [`Service::input_paused`]: whether the session holds its input back
//!   until its output drains (an echo whose replies are not leaving). The
//!   loop then stops reading: what the peer sends next waits in the
//!   kernel, where TCP's window pushes back on the sender, not in the
//!   connection's buffer (where each byte would be copied in, and moved
//!   again when the front is used). It reads on, with no new event, after
//!   a flush that empties the output;
//! - [`Service::deadline`]: when to call `timer` next. It must be in the
//!   future, or `None`: a deadline in the past is fired once and then
//!   ignored until the session asks for a new one (the loop never re-arms
//!   a deadline that was already due when it last fired — a session
//!   answering the same past instant cannot make it spin).
//!
//! # What the loop enforces on its own
//!
//! Whatever the service says, output that makes no progress for
//! [`Limits::send_timeout`] closes the connection: a peer that stopped
//! reading cannot hold its queue (up to `--max-pending` and a response)
//! forever.
//!
//! # Per loop
//!
//! - [`Service::next_mail`] after every pass, until `None`: what sessions
//!   asked to send to other connections (a published message for its
//!   subscribers). The loop delivers mail for its own connections at once
//!   and hands the rest to the owning loops.
//! - [`Service::own_deadline`] / [`Service::own_timer`]: timers that belong
//!   to no connection (the clock ticker).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::output::OutputQueue;
use crate::stats::Stats;

/// Whether and how a connection should end. Ordered: a decision to close
/// is only ever escalated (`Open` < `AfterFlush` < `Now`), never undone by
/// a later event in the same pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Close {
    Open,
    /// Flush what is queued, then close (gracefully: shut down the write
    /// side first so the client reads the response, not a reset).
    AfterFlush,
    /// Close at once: the peer is gone or cannot keep up.
    Now,
}

/// Why a new connection is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-connections` are open.
    TooManyConnections,
    /// `--max-connections-per-ip` are open from the client's address.
    TooManyFromAddress,
}

/// What the loop enforces per connection, from the service's settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most unused input the loop buffers for one connection.
    pub max_input: usize,
    /// Output stuck this long closes the connection.
    pub send_timeout: Duration,
    /// Open connections, all loops together.
    pub max_connections: usize,
    /// Open connections from one IP address.
    pub max_connections_per_ip: usize,
}

/// A connection on some loop: the loop's index and the connection's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    pub event_loop: usize,
    pub token: usize,
}

/// Mail for some connections, possibly on other loops.
#[derive(Debug)]
pub struct Outgoing<M> {
    pub mail: Arc<M>,
    pub to: Vec<Address>,
}

/// What an event loop serves. One value per loop: the service's per-loop
/// state. `Session` is its state for one connection.
pub trait Service {
    type Session;
    /// What connections send each other (shared: one value, many readers).
    type Mail: Send + Sync + 'static;

    fn open(&mut self, token: usize, now: Instant) -> Self::Session;
    /// Right after `open`: this connection is not served (write the
    /// refusal into `out`; `close` should then say `AfterFlush`).
    fn refuse(
        &mut self,
        session: &mut Self::Session,
        refusal: Refusal,
        out: &mut OutputQueue,
        now: Instant,
    );
    fn input(
        &mut self,
        session: &mut Self::Session,
        input: &mut [u8],
        out: &mut OutputQueue,
        now: Instant,
    ) -> usize;
    fn deliver(
        &mut self,
        session: &mut Self::Session,
        mail: &Arc<Self::Mail>,
        out: &mut OutputQueue,
        now: Instant,
    );
    fn timer(&mut self, session: &mut Self::Session, out: &mut OutputQueue, now: Instant);
    /// A flush emptied `out`: room for output held back.
    fn drained(&mut self, session: &mut Self::Session, out: &mut OutputQueue, now: Instant);
    fn peer_closed(&mut self, session: &mut Self::Session);
    /// The server is shutting down: end the connection the way its
    /// protocol says (a close frame, the stream's last chunk, an answer).
    fn drain(&mut self, session: &mut Self::Session, out: &mut OutputQueue, now: Instant);
    fn closed(&mut self, session: &mut Self::Session, now: Instant);

    fn close(&self, session: &Self::Session) -> Close;
    fn wants_input(&self, session: &Self::Session) -> bool;
    fn input_paused(&self, session: &Self::Session, out: &OutputQueue) -> bool;
    fn deadline(&self, session: &Self::Session) -> Option<Instant>;

    fn next_mail(&mut self) -> Option<Outgoing<Self::Mail>>;
    fn own_deadline(&self) -> Option<Instant>;
    fn own_timer(&mut self, now: Instant);

    /// What the loop enforces per connection.
    fn limits(&self) -> Limits;
    /// Where the loop counts connections and bytes.
    fn stats(&self) -> &Stats;
}
