//! Accepting connections, a part of the event loop (its `impl` continues
//! here): new sockets are accepted until `WouldBlock`, admitted or refused
//! against `--max-connections` and the per-IP cap (`admission.rs`), and
//! handed round-robin to the loops. A connection over a limit is answered
//! `503` and closed, never left in the backlog to time out.

use std::io;
use std::net::IpAddr;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::EventLoop;
use crate::server::connection::Connection;
use crate::server::service::{Refusal, Service};
use crate::server::Mail;
use crate::stats::{Count, Stats};

/// After `EMFILE`/`ENFILE` on accept, wait this long before trying again:
/// the pending connection keeps the listener ready, so retrying at once
/// would spin.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
/// Refused connections a loop keeps at once while their `503` is sent;
/// beyond this a refused connection is closed without a word (a flood must
/// not turn refusals into the next thing that exhausts descriptors).
const MAX_REFUSING: usize = 256;

impl<S: Service> EventLoop<S> {
    pub(super) fn accept(&mut self, now: Instant) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((socket, peer)) => {
                    Stats::add(&self.service.stats().connections_accepted, 1);
                    if let Err(refusal) = self.admission.admit(peer.ip()) {
                        self.refuse(socket, refusal, now);
                        continue;
                    }
                    // Round-robin over the loops; the first is this one.
                    let target = self.next_loop % self.mailboxes.len();
                    self.next_loop += 1;
                    if target == self.index {
                        self.add_connection(socket, Ok(peer.ip()), now);
                    } else {
                        self.mailboxes[target].send(Mail::Connection(socket, peer.ip()));
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

    /// A connection over a limit: answered and closed like any other
    /// connection that must close, unless too many are being refused.
    fn refuse(&mut self, socket: TcpStream, refusal: Refusal, now: Instant) {
        self.service.stats().count(match refusal {
            Refusal::TooManyConnections => Count::RefusedMaxConnections,
            Refusal::TooManyFromAddress => Count::RefusedMaxConnectionsPerIp,
        });
        if self.refusing < MAX_REFUSING {
            self.add_connection(socket, Err(refusal), now);
        }
    }

    /// Takes a connection on: admitted from an address, or to be refused.
    pub(super) fn add_connection(
        &mut self,
        mut socket: TcpStream,
        admitted: Result<IpAddr, Refusal>,
        now: Instant,
    ) {
        if self.draining_until.is_some() {
            // Accepted just before the drain began: closed unserved.
            if let Ok(ip) = admitted {
                self.admission.release(ip);
            }
            return;
        }
        let _ = socket.set_nodelay(true);
        let token = self.free.pop().unwrap_or_else(|| {
            self.connections.push(None);
            self.connections.len() - 1
        });
        if self
            .poll
            .registry()
            .register(&mut socket, Token(token), Interest::READABLE)
            .is_err()
        {
            self.free.push(token);
            if let Ok(ip) = admitted {
                self.admission.release(ip);
            }
            return;
        }
        self.next_serial += 1;
        let session = self.service.open(token, now);
        let mut conn = Box::new(Connection::new(
            socket,
            self.next_serial,
            session,
            admitted.ok(),
        ));
        if let Err(refusal) = admitted {
            self.refusing += 1;
            self.service
                .refuse(&mut conn.session, refusal, &mut conn.output, now);
        }
        self.connections[token] = Some(conn);
        // Bytes may have arrived before registration; an edge was possibly missed.
        self.read(token, now);
        self.mark_dirty(token);
    }
}
