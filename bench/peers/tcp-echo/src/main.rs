//! The floor for `ws-echo`: echoes bytes on one mio event loop, doing no
//! protocol work at all. No WebSocket server can be faster on this machine,
//! so rtweb's echo rate divided by this one says how close to the limit it is.
//!
//! It spends no syscall it can avoid, or it would not be a floor: a read
//! shorter than the buffer has drained the socket (epoll(7) Q&A 9), so it
//! does not read again to hear `EAGAIN` — unless the event announced the
//! peer's FIN, which no further edge would. One `write` per read, straight
//! from the read buffer.
//!
//! `tcp-echo 127.0.0.1:PORT`

use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .expect("usage: tcp-echo IP:PORT")
        .parse()
        .expect("IP:PORT");
    let mut listener = TcpListener::bind(addr)?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        // A signal (strace or perf attaching to count syscalls) interrupts
        // the wait: no failure, just wait again.
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => result?,
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    let mut stream = match listener.accept() {
                        Ok((stream, _)) => stream,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break, // WouldBlock: accepted them all
                    };
                    stream.set_nodelay(true)?;
                    let token = Token(conns.len());
                    poll.registry().register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    conns.push(Some(Conn {
                        stream,
                        pending: Vec::new(),
                    }));
                }
                continue;
            }
            let Some(Some(conn)) = conns.get_mut(event.token().0) else {
                continue;
            };
            let mut alive = true;
            let to_the_end = event.is_read_closed() || event.is_error();
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        alive = false;
                        break;
                    }
                    Ok(n) => {
                        // Straight from the read buffer; only what the socket
                        // does not take is copied (and written on the next event).
                        let mut sent = 0;
                        if conn.pending.is_empty() {
                            while sent < n {
                                match conn.stream.write(&buf[sent..n]) {
                                    Ok(w) => sent += w,
                                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                    Err(_) => {
                                        alive = false;
                                        break;
                                    }
                                }
                            }
                        }
                        conn.pending.extend_from_slice(&buf[sent..n]);
                        if !alive || (n < buf.len() && !to_the_end) {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        alive = false;
                        break;
                    }
                }
            }
            while !conn.pending.is_empty() {
                match conn.stream.write(&conn.pending) {
                    Ok(n) => {
                        conn.pending.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        alive = false;
                        break;
                    }
                }
            }
            if !alive {
                conns[event.token().0] = None;
            }
        }
    }
}
