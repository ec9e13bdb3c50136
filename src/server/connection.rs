//! One socket and its buffers. Bytes only: what they mean is the session's.
//!
//! Input: bytes are read into the event loop's scratch buffer (one per
//! loop, not per socket) and offered to the session straight from there;
//! only what the session does not use yet is copied into `input`. An idle
//! connection therefore holds no input buffer at all.
//!
//! A read that returns less than the scratch buffer holds has drained the
//! socket (epoll(7), Q&A 9: on a stream socket a short read means the
//! receive buffer is empty), so reading stops there instead of paying one
//! more `read` to hear `WouldBlock`: new bytes bring a new edge. The
//! exception is a hang-up already announced (`EPOLLRDHUP`): the FIN behind
//! those bytes brings no new edge, so then we read on to the EOF.
//!
//! Output: an [`OutputQueue`], written with vectored writes (a plain `write`
//! when it is one slice) until the queue is empty or the socket says
//! `WouldBlock`; writable readiness is asked for only while output is
//! pending. [`SendProgress`] remembers since when the
//! queue has been waiting without a byte leaving: the send timeout.

use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, Shutdown};
use std::time::{Duration, Instant};

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

/// Since when output has waited with no byte written: the send timeout
/// runs from there (nginx's `send_timeout` is the same idea: time between
/// two successful writes, not for the whole response).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendProgress(Option<Instant>);

impl SendProgress {
    /// After a flush at `now` that wrote `wrote` bytes and left `pending`.
    pub fn after_flush(&mut self, wrote: usize, pending: usize, now: Instant) {
        self.0 = match (pending, self.0) {
            (0, _) => None,
            (_, Some(since)) if wrote == 0 => Some(since),
            _ => Some(now),
        };
    }

    /// When the connection is to be closed if no byte leaves before.
    pub fn deadline(self, timeout: Duration) -> Option<Instant> {
        self.0.map(|since| since + timeout)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadState {
    /// Read until `WouldBlock` or a short read: a new edge is needed
    /// before reading again.
    Drained,
    /// Stopped with bytes possibly left (the input buffer is full, or the
    /// session paused its input): under edge triggering no new event will
    /// come, so we must remember.
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
    /// An event said the peer shut down its writing side: read to the EOF,
    /// because no further edge will announce it.
    pub hang_up_announced: bool,
    writable_interest: bool,
    /// Set once the session has asked to close: input is no longer offered.
    pub closing: Option<Closing>,
    /// Queued in the loop's list of connections to settle.
    pub dirty: bool,
    /// The address admitted for it (released on close); `None` for a
    /// connection that is only being refused.
    pub admitted: Option<IpAddr>,
    pub send: SendProgress,
    /// When its deadline last fired: a deadline at or before this was
    /// already handled and is never armed again.
    pub fired_at: Option<Instant>,
}

/// What a read pass ended with.
pub enum ReadOutcome {
    Ok,
    /// The socket failed (reset): close at once.
    Failed,
}

impl<S: Service> Connection<S> {
    pub fn new(
        socket: TcpStream,
        serial: u64,
        session: S::Session,
        admitted: Option<IpAddr>,
    ) -> Self {
        Connection {
            socket,
            serial,
            session,
            input: Vec::new(),
            output: OutputQueue::default(),
            scheduled: Scheduled::default(),
            read_state: ReadState::Drained,
            hang_up_announced: false,
            writable_interest: false,
            closing: None,
            dirty: false,
            admitted,
            send: SendProgress::default(),
            fired_at: None,
        }
    }

    /// Reads until a short read, `WouldBlock`, EOF, a full input buffer or
    /// a session that paused its input, handing each piece to the session
    /// as it arrives.
    pub fn read(&mut self, scratch: &mut [u8], service: &mut S, now: Instant) -> ReadOutcome {
        loop {
            if self.closing.is_none()
                && (self.input.len() >= service.limits().max_input
                    || service.input_paused(&self.session, &self.output))
            {
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
                        self.offer(&mut scratch[..n], service, now);
                    }
                    if n < scratch.len() && !self.hang_up_announced {
                        self.read_state = ReadState::Drained;
                        return ReadOutcome::Ok;
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
    fn offer(&mut self, fresh: &mut [u8], service: &mut S, now: Instant) {
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
        let used = service.input(&mut self.session, &mut self.input, &mut self.output, now);
        self.input.drain(..used);
        if self.input.is_empty() {
            // Give the memory back: idle connections should cost little.
            self.input = Vec::new();
        }
    }

    /// Writes until the queue is empty or the socket would block.
    pub fn flush(&mut self, stats: &Stats, now: Instant) -> io::Result<()> {
        let mut wrote = 0;
        let result = self.write_out(stats, &mut wrote);
        self.send.after_flush(wrote, self.output.pending(), now);
        result
    }

    fn write_out(&mut self, stats: &Stats, wrote: &mut usize) -> io::Result<()> {
        while !self.output.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let written = match self.output.slices(&mut slices) {
                // One slice (the common echo reply): `write` is the cheaper
                // syscall (no iovec to copy in).
                1 => self.socket.write(&slices[0]),
                n => self.socket.write_vectored(&slices[..n]),
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    *wrote += written;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_timeout_runs_from_the_last_progress() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let timeout = Duration::from_secs(60);
        let mut send = SendProgress::default();
        send.after_flush(0, 0, s(0));
        assert_eq!(send.deadline(timeout), None, "nothing waiting");
        send.after_flush(10, 5, s(1));
        assert_eq!(send.deadline(timeout), Some(s(61)));
        // A flush that moves nothing does not push the deadline...
        send.after_flush(0, 5, s(30));
        assert_eq!(send.deadline(timeout), Some(s(61)));
        // ...one that moves a byte does.
        send.after_flush(1, 4, s(40));
        assert_eq!(send.deadline(timeout), Some(s(100)));
        send.after_flush(4, 0, s(41));
        assert_eq!(send.deadline(timeout), None);
    }
}
