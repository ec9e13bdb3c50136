//! The event loops: sockets in, sockets out, deadlines — and nothing about
//! what the bytes mean (that is `app::Session`'s business).
//!
//! [`Server::bind`] opens the listener; [`Server::run`] blocks serving it;
//! [`Server::spawn`] serves it on background threads and returns a handle
//! that stops them when dropped (what the tests use). With `threads = N`
//! there are N loops: the first accepts and hands connections round-robin to
//! all of them through their [`Mailbox`], which also carries deliveries of
//! messages published on another loop. A mailbox is a locked queue plus a
//! `mio::Waker` that interrupts the owning loop's `poll`.

mod connection;
mod timers;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mio::net::{TcpListener, TcpStream};
use mio::{Poll, Waker};

use crate::app::{Delivery, Shared};
use crate::config::Config;

pub use timers::Timers;

/// Every loop's mailbox, by loop index.
type Mailboxes = Arc<[Arc<Mailbox>]>;

/// What one loop sends another.
pub enum Mail {
    /// A freshly accepted connection for the receiving loop to own.
    Connection(TcpStream),
    /// A publish, for these connection tokens of the receiving loop.
    Deliver(Arc<Delivery>, Vec<usize>),
}

/// A loop's inbox.
pub struct Mailbox {
    queue: Mutex<Vec<Mail>>,
    waker: Waker,
    stop: AtomicBool,
}

impl Mailbox {
    fn new(poll: &Poll) -> io::Result<Mailbox> {
        Ok(Mailbox {
            queue: Mutex::new(Vec::new()),
            waker: Waker::new(poll.registry(), worker::WAKER)?,
            stop: AtomicBool::new(false),
        })
    }

    pub fn send(&self, mail: Mail) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(mail);
        let _ = self.waker.wake();
    }

    fn take(&self) -> Vec<Mail> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    pub fn bind(config: Config) -> io::Result<Server> {
        raise_fd_limit();
        let listener = TcpListener::bind(config.addr)?;
        Ok(Server {
            listener,
            shared: Arc::new(Shared::new(config)),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// What the loops share: config, hub, stats.
    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    fn workers(self) -> io::Result<(Vec<worker::Worker>, Mailboxes)> {
        let count = self.shared.config.threads.max(1);
        let polls = (0..count)
            .map(|_| Poll::new())
            .collect::<io::Result<Vec<_>>>()?;
        let mailboxes: Mailboxes = polls
            .iter()
            .map(|p| Mailbox::new(p).map(Arc::new))
            .collect::<io::Result<Vec<_>>>()?
            .into();
        let mut listener = Some(self.listener);
        let workers = polls
            .into_iter()
            .enumerate()
            .map(|(i, poll)| {
                worker::Worker::new(
                    i,
                    poll,
                    listener.take(),
                    Arc::clone(&mailboxes),
                    Arc::clone(&self.shared),
                )
            })
            .collect();
        Ok((workers, mailboxes))
    }

    /// Serves on this thread (and `threads - 1` more) until an error.
    pub fn run(self) -> io::Result<()> {
        let (mut workers, _mailboxes) = self.workers()?;
        let first = workers.remove(0);
        let others: Vec<_> = workers
            .into_iter()
            .map(|w| std::thread::spawn(move || w.run()))
            .collect();
        let result = first.run();
        drop(others);
        result
    }

    /// Serves on background threads until the handle is dropped.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let addr = self.local_addr()?;
        let shared = self.shared();
        let (workers, mailboxes) = self.workers()?;
        let threads = workers
            .into_iter()
            .map(|w| {
                std::thread::Builder::new()
                    .name(format!("rtweb-{}", w.index))
                    .spawn(move || w.run())
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(ServerHandle {
            addr,
            shared,
            mailboxes,
            threads,
        })
    }
}

/// A running server; dropping it stops every loop and waits for them.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    mailboxes: Mailboxes,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        for mailbox in self.mailboxes.iter() {
            mailbox.request_stop();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Raises the soft limit on open files to the hard limit: a push server
/// holds one descriptor per client, and the usual soft limit of 1024 would
/// cap it at about a thousand.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}
