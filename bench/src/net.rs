//! Many client connections on one mio event loop.
//!
//! `poll_once` reads everything available into each connection's `input`,
//! flushes pending output, and returns the connections that received
//! bytes; scenarios parse `input` and queue more output with `send`. One
//! thread, no allocation per message on the hot path beyond buffer growth:
//! the load tool must not be the bottleneck.
//!
//! The same syscall economy as the servers at their best: `send` writes
//! straight from the caller's (pre-built) bytes and copies only what the
//! socket did not take; a read shorter than the buffer has drained the
//! socket (epoll(7) Q&A 9), so no second read waits for `EAGAIN` — unless
//! the event announced the peer's FIN, which brings no further edge.
//!
//! Every syscall here goes through `retry`: a signal (`strace -p` or
//! `perf` attaching, a stop and continue) interrupts it with `EINTR`, which
//! is no failure of the connection; the call is simply made again.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustix::net::RecvFlags;

pub struct Conn {
    stream: TcpStream,
    pub input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    pub closed: bool,
    /// Bytes arriving next that the scenario need not see
    /// (`Reading::Heads`): dropped in the kernel.
    skip: usize,
}

/// How `poll_streaming` takes what arrives.
#[derive(Clone, Copy)]
enum Reading {
    /// Every byte is read into the scratch buffer and handed over.
    All,
    /// No byte is read: TCP with `MSG_TRUNC` drops them in the kernel and
    /// says how many (tcp(7)); nothing is copied.
    Nothing,
    /// Heads only: reads of at most `head` bytes, and what the scenario
    /// says it need not see (its answer to each read) dropped in the
    /// kernel as with `Nothing`.
    Heads { head: usize },
}

/// What `poll_streaming` reports for a connection.
pub enum Ready<'a> {
    /// Bytes just read (valid only during the call).
    Read(&'a [u8]),
    /// This many bytes arrived and were dropped unread (`read_nothing`,
    /// `read_heads`).
    Discarded(usize),
    /// The socket has room for more output.
    Writable,
    /// EOF or an error: nothing more will arrive.
    Closed,
}

pub struct Net {
    poll: Poll,
    events: Events,
    pub conns: Vec<Conn>,
    scratch: Vec<u8>,
    reading: Reading,
    ready: Vec<usize>,
    pub bytes_in: u64,
}

impl Net {
    pub fn new() -> Net {
        Net {
            poll: retry(Poll::new).expect("poll"),
            events: Events::with_capacity(4096),
            conns: Vec::new(),
            scratch: vec![0; 256 * 1024],
            reading: Reading::All,
            ready: Vec::new(),
            bytes_in: 0,
        }
    }

    /// Opens a connection (completing in the background); returns its id.
    pub fn connect(&mut self, addr: SocketAddr) -> usize {
        // An interrupted connect has closed its socket: a fresh one is made.
        let mut stream = retry(|| TcpStream::connect(addr)).expect("connect");
        let id = self.conns.len();
        let registry = self.poll.registry();
        retry(|| {
            registry.register(
                &mut stream,
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            )
        })
        .expect("register");
        self.conns.push(Conn {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            closed: false,
            skip: 0,
        });
        id
    }

    /// Writes `bytes` now, from the caller's buffer; keeps what the socket
    /// did not take (or all of it, behind earlier output) for later.
    pub fn send(&mut self, id: usize, bytes: &[u8]) {
        if !self.conns[id].output.is_empty() {
            let conn = &mut self.conns[id];
            conn.output.extend_from_slice(bytes);
            return flush(conn);
        }
        let at = self.write_now(id, bytes);
        let conn = &mut self.conns[id];
        if !conn.closed {
            conn.output.extend_from_slice(&bytes[at..]);
        }
    }

    /// Waits up to `timeout` for readiness; returns the ids that got input.
    pub fn poll_once(&mut self, timeout: Duration) -> &[usize] {
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        self.pass(timeout, |conn, id, event| {
            match event {
                Ready::Writable => return flush(conn),
                Ready::Read(bytes) => conn.input.extend_from_slice(bytes),
                Ready::Discarded(_) | Ready::Closed => {}
            }
            // Once per connection, however many reads it took.
            if ready.last() != Some(&id) {
                ready.push(id);
            }
        });
        self.ready = ready;
        &self.ready
    }

    /// Like `poll_once`, for a scenario that keeps no input and no output
    /// of its own: each read goes to `on(id, Ready::Read(bytes))` straight
    /// from the scratch buffer, never appended to `input`, and a socket
    /// with room again is announced as `Ready::Writable` instead of
    /// flushed (the scenario writes with `write_now`). At large messages
    /// the copies into `input` and out of it were most of the load tool's
    /// own work.
    ///
    /// `on` answers each `Read` and `Discarded` with how many of the bytes
    /// that arrive next it need not see; with `read_heads`, they are
    /// dropped in the kernel. (Its answer to other events is ignored.)
    pub fn poll_streaming(
        &mut self,
        timeout: Duration,
        mut on: impl FnMut(usize, Ready<'_>) -> usize,
    ) {
        self.pass(timeout, |conn, id, event| {
            let input = matches!(event, Ready::Read(_) | Ready::Discarded(_));
            let skip = on(id, event);
            if input {
                conn.skip = skip;
            }
        });
    }

    /// One wait for readiness, up to `timeout`, and what it announced:
    /// every connection with room again, every read (until a short read
    /// has drained the socket, or to the EOF when the event announced
    /// the peer's FIN, which brings no further edge), every end.
    fn pass(&mut self, timeout: Duration, mut on: impl FnMut(&mut Conn, usize, Ready<'_>)) {
        // Interrupted, the wait resumes for what is left of `timeout`.
        let deadline = Instant::now() + timeout;
        retry(|| {
            let left = deadline.saturating_duration_since(Instant::now());
            self.poll.poll(&mut self.events, Some(left))
        })
        .unwrap_or_else(|e| panic!("poll: {e}"));
        for event in self.events.iter() {
            let id = event.token().0;
            let conn = &mut self.conns[id];
            if event.is_writable() {
                on(conn, id, Ready::Writable);
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                let to_the_end = event.is_read_closed() || event.is_error();
                loop {
                    // How much to ask for, and whether to drop it unread.
                    let (drop, asked) = match self.reading {
                        Reading::All => (false, self.scratch.len()),
                        Reading::Nothing => (true, self.scratch.len()),
                        Reading::Heads { .. } if conn.skip > 0 => {
                            (true, conn.skip.min(self.scratch.len()))
                        }
                        Reading::Heads { head } => (false, head),
                    };
                    let buffer = &mut self.scratch[..asked];
                    let read = if drop {
                        retry(|| {
                            rustix::net::recv(&conn.stream, &mut *buffer, RecvFlags::TRUNC)
                                .map(|(_, returned)| returned)
                                .map_err(io::Error::from)
                        })
                    } else {
                        retry(|| conn.stream.read(buffer))
                    };
                    match read {
                        Ok(0) => conn.closed = true,
                        Ok(n) => {
                            self.bytes_in += n as u64;
                            let event = if drop {
                                Ready::Discarded(n)
                            } else {
                                Ready::Read(&self.scratch[..n])
                            };
                            on(conn, id, event);
                            if n == asked || to_the_end {
                                continue;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => conn.closed = true,
                    }
                    break;
                }
                if conn.closed {
                    on(conn, id, Ready::Closed);
                }
            }
        }
    }

    /// From now on `poll_streaming` drops what arrives unread, and
    /// reports only how much (`Ready::Discarded`): for a scenario that
    /// needs the count of bytes, not the bytes, the kernel's copy out to
    /// user space is saved — at large messages a good part of the load
    /// tool's own cost.
    pub fn read_nothing(&mut self) {
        self.reading = Reading::Nothing;
    }

    /// From now on `poll_streaming` reads at most `head` bytes at a time,
    /// and drops unread the bytes the scenario's answer says it need not
    /// see: for replies whose heads say how long they are, only the heads
    /// are copied out of the kernel. Two reads per reply instead of one
    /// per 256 KiB: worth it only where a reply's copy costs more than a
    /// syscall.
    pub fn read_heads(&mut self, head: usize) {
        self.reading = Reading::Heads { head };
    }

    /// Writes what the socket takes of `bytes` now, keeping none of the
    /// rest: returns how much went (0 when it would block, or the
    /// connection failed: then `closed` is set).
    pub fn write_now(&mut self, id: usize, bytes: &[u8]) -> usize {
        let conn = &mut self.conns[id];
        write_some(&mut conn.stream, bytes).unwrap_or_else(|()| {
            conn.closed = true;
            0
        })
    }

    /// Runs `poll_once` until `done` holds or `limit` passes; false on timeout.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut step: impl FnMut(&mut Net, &[usize]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let ready = self.poll_once(Duration::from_millis(10)).to_vec();
            if step(self, &ready) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
        }
    }
}

fn flush(conn: &mut Conn) {
    match write_some(&mut conn.stream, &conn.output[conn.written..]) {
        Ok(n) => conn.written += n,
        Err(()) => conn.closed = true,
    }
    if conn.written == conn.output.len() {
        conn.output.clear();
        conn.written = 0;
    }
}

/// Writes until `bytes` are all gone or the socket would block; how many
/// went, or `Err` if the connection failed.
fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> Result<usize, ()> {
    let mut at = 0;
    while at < bytes.len() {
        match retry(|| stream.write(&bytes[at..])) {
            Ok(n) => at += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                ) =>
            {
                break
            }
            Err(_) => return Err(()),
        }
    }
    Ok(at)
}

/// Makes the call `op` makes until a signal does not interrupt it (`EINTR`):
/// every syscall of the load tool goes through here.
pub fn retry<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            done => return done,
        }
    }
}

/// Where the response head ends in `input`, if it has arrived.
pub fn head_end(input: &[u8]) -> Option<usize> {
    input
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The value of a header in a response head (case-insensitive name).
pub fn header<'a>(head: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Takes one complete `Content-Length` (or body-less) response from the
/// front of `input`: returns (head, body) once it has fully arrived.
pub fn take_response(input: &mut Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)> {
    let (end, length) = response_at(input)?;
    let rest = input.split_off(end + length);
    let body = input.split_off(end);
    let head = std::mem::replace(input, rest);
    Some((head, body))
}

/// Where the first complete `Content-Length` (or body-less) response in
/// `input` ends: (head length, body length), once it has fully arrived.
pub fn response_at(input: &[u8]) -> Option<(usize, usize)> {
    let end = head_end(input)?;
    let length: usize = header(&input[..end], "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (input.len() >= end + length).then_some((end, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_repeats_an_interrupted_call_and_passes_other_results_through() {
        let mut calls = 0;
        let result = retry(|| {
            calls += 1;
            match calls {
                1 | 2 => Err(io::Error::from(io::ErrorKind::Interrupted)),
                _ => Ok(calls),
            }
        });
        assert_eq!(result.unwrap(), 3);
        let failed: io::Result<()> = retry(|| Err(io::ErrorKind::WouldBlock.into()));
        assert_eq!(failed.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }
}
