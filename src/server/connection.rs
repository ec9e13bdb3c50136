//! One socket and its buffers. Bytes only: what they mean is the session's.
//!
//! Input: bytes are read into the event loop's scratch buffer (one per
//! loop, not per socket) and offered to the session straight from there;
//! only what the session does not use yet is copied into `input`. An idle
//! connection therefore holds no input buffer at all.
//!
//! Output: an [`OutputQueue`], written with vectored writes until the queue
//! is empty or the socket says `WouldBlock`; writable readiness is asked for
//! only while output is pending.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::service::Service;
use super::timers::Scheduled;
use crate::output::{OutputQueue, MAX_SLICES};
use crate::stats::Stats;

/// How long a closing connection may take to flush and to see the peer's
/// EOF after our write side is shut down.
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// How far a connection has got in closing, each phase with its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The last response is still being written; gone at `until` even if
    /// the client never reads it.
    Flushing { until: Instant },
    /// Our write side is shut down: read and discard until the peer's EOF
    /// or `until`.
    Draining { until: Instant },
}

impl Closing {
    pub fn until(self) -> Instant {
        match self {
            Closing::Flushing { until } | Closing::Draining { until } => until,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadState {
    /// Read until `WouldBlock`: a new edge is needed before reading again.
    Drained,
    /// Stopped with bytes possibly left (the input buffer is full): under
    /// edge triggering no new event will come, so we must remember.
    Blocked,
    /// EOF or an error: nothing more will arrive.
    Ended,
}

pub struct Connection<S: Service> {
    pub socket: TcpStream,
    /// Distinguishes this connection from earlier users of the same token.
    pub serial: u64,
    pub session: S::Session,
    pub input: Vec<u8>,
    pub output: OutputQueue,
    pub scheduled: Scheduled,
    pub read_state: ReadState,
    writable_interest: bool,
    /// Set once the session has asked to close: input is no longer offered.
    pub closing: Option<Closing>,
    /// Queued in the loop's list of connections to settle.
    pub dirty: bool,
}

/// What a read pass ended with.
pub enum ReadOutcome {
    Ok,
    /// The socket failed (reset): close at once.
    Failed,
}

impl<S: Service> Connection<S> {
    pub fn new(socket: TcpStream, serial: u64, session: S::Session) -> Self {
        Connection {
            socket,
            serial,
            session,
            input: Vec::new(),
            output: OutputQueue::default(),
            scheduled: Scheduled::default(),
            read_state: ReadState::Drained,
            writable_interest: false,
            closing: None,
            dirty: false,
        }
    }

    /// Reads until `WouldBlock`, EOF, or a full input buffer, handing each
    /// piece to the session as it arrives.
    pub fn read(&mut self, scratch: &mut [u8], service: &mut S, now: Instant) -> ReadOutcome {
        loop {
            if self.closing.is_none() && self.input.len() >= service.max_input() {
                self.read_state = ReadState::Blocked;
                return ReadOutcome::Ok;
            }
            match self.socket.read(scratch) {
                Ok(0) => {
                    self.read_state = ReadState::Ended;
                    service.peer_closed(&mut self.session);
                    return ReadOutcome::Ok;
                }
                Ok(n) => {
                    Stats::add(&service.stats().bytes_in, n as u64);
                    if self.closing.is_none() {
                        self.offer(&scratch[..n], service, now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_state = ReadState::Drained;
                    return ReadOutcome::Ok;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.read_state = ReadState::Ended;
                    return ReadOutcome::Failed;
                }
            }
        }
    }

    /// Offers freshly read bytes, zero-copy when nothing is buffered.
    fn offer(&mut self, fresh: &[u8], service: &mut S, now: Instant) {
        if self.input.is_empty() {
            let used = service.input(&mut self.session, fresh, &mut self.output, now);
            self.input.extend_from_slice(&fresh[used..]);
        } else {
            self.input.extend_from_slice(fresh);
            self.offer_buffered(service, now);
        }
    }

    /// Offers what is buffered again (the session may have changed mode).
    pub fn offer_buffered(&mut self, service: &mut S, now: Instant) {
        if self.input.is_empty() {
            return;
        }
        let used = service.input(&mut self.session, &self.input, &mut self.output, now);
        self.input.drain(..used);
        if self.input.is_empty() {
            // Give the memory back: idle connections should cost little.
            self.input = Vec::new();
        }
    }

    /// Writes until the queue is empty or the socket would block.
    pub fn flush(&mut self, stats: &Stats) -> io::Result<()> {
        while !self.output.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = self.output.slices(&mut slices);
            match self.socket.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    self.output.advance(written);
                    Stats::add(&stats.bytes_out, written as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Asks for writable readiness exactly while output is pending.
    pub fn update_interest(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let want = !self.output.is_empty();
        if want != self.writable_interest {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(&mut self.socket, token, interest)?;
            self.writable_interest = want;
        }
        Ok(())
    }

    /// Starts a graceful close: no more writes; the peer sees EOF after the
    /// response and closes its side, and we read and discard until then, so
    /// unread request bytes do not turn our close into a reset that
    /// destroys the response in flight.
    pub fn shut_down_writes(&mut self, now: Instant) {
        let _ = self.socket.shutdown(Shutdown::Write);
        self.closing = Some(Closing::Draining {
            until: now + LINGER,
        });
        self.input = Vec::new();
    }
}
