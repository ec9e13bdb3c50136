//! The event loops: sockets in, sockets out, deadlines — and nothing about
//! what the bytes mean. That belongs to the [`Service`] each loop drives;
//! `service.rs` is the whole contract between the two.
//!
//! [`Loops::start`] runs one loop per service on its own thread;
//! [`Loops::run_here`] runs the first on the calling thread. The first loop
//! accepts and hands connections round-robin to all of them through their
//! [`Mailbox`], which also carries mail (a published message) for
//! connections owned by another loop. A mailbox is a locked queue plus a
//! `mio::Waker` that interrupts the owning loop's `poll`.

mod admission;
mod connection;
mod event_loop;
mod service;
mod timers;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Poll, Waker};

pub use admission::Admission;
pub use service::{Address, Close, Limits, Outgoing, Refusal, Service};
pub use timers::Timers;

/// Every loop's mailbox, by loop index.
type Mailboxes<M> = Arc<[Arc<Mailbox<M>>]>;

/// What one loop sends another.
pub enum Mail<M> {
    /// A freshly accepted and admitted connection (from this address) for
    /// the receiving loop to own.
    Connection(TcpStream, std::net::IpAddr),
    /// Mail for these connection tokens of the receiving loop.
    Deliver(Arc<M>, Vec<usize>),
}

/// A loop's inbox.
pub struct Mailbox<M> {
    queue: Mutex<Vec<Mail<M>>>,
    waker: Waker,
    stop: AtomicBool,
    /// A graceful shutdown was asked for, to be done by this time.
    drain_by: Mutex<Option<Instant>>,
}

impl<M> Mailbox<M> {
    fn new(poll: &Poll) -> io::Result<Mailbox<M>> {
        Ok(Mailbox {
            queue: Mutex::new(Vec::new()),
            waker: Waker::new(poll.registry(), event_loop::WAKER)?,
            stop: AtomicBool::new(false),
            drain_by: Mutex::new(None),
        })
    }

    fn send(&self, mail: Mail<M>) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(mail);
        let _ = self.waker.wake();
    }

    fn take(&self) -> Vec<Mail<M>> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    fn drain_by(&self) -> Option<Instant> {
        *self.drain_by.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn request_drain(&self, by: Instant) {
        *self.drain_by.lock().unwrap_or_else(|p| p.into_inner()) = Some(by);
        let _ = self.waker.wake();
    }
}

/// What other threads may ask of the loops: the binary's signal thread a
/// graceful shutdown, the relay's threads (`relay.rs`) to hand mail to
/// connections.
pub struct Control<M> {
    mailboxes: Mailboxes<M>,
}

// Not derived: that would ask `M: Clone`, and the mail is shared, not copied.
impl<M> Clone for Control<M> {
    fn clone(&self) -> Self {
        Control {
            mailboxes: Arc::clone(&self.mailboxes),
        }
    }
}

impl<M> Control<M> {
    /// Hands `outgoing.mail` to every addressed connection, through the
    /// mailbox of the loop that owns it (one wake-up per loop).
    pub fn post(&self, outgoing: Outgoing<M>) {
        let mut by_loop: Vec<Vec<usize>> = vec![Vec::new(); self.mailboxes.len()];
        for to in &outgoing.to {
            if let Some(tokens) = by_loop.get_mut(to.event_loop) {
                tokens.push(to.token);
            }
        }
        for (mailbox, tokens) in self.mailboxes.iter().zip(by_loop) {
            if !tokens.is_empty() {
                mailbox.send(Mail::Deliver(Arc::clone(&outgoing.mail), tokens));
            }
        }
    }

    /// Every loop stops accepting, drains its connections ([`Service::drain`])
    /// and returns once they are closed, or at `timeout` from now.
    pub fn drain(&self, timeout: Duration) {
        let by = Instant::now() + timeout;
        for mailbox in self.mailboxes.iter() {
            mailbox.request_drain(by);
        }
    }
}

/// Running event loops; dropping this stops them and waits for them.
pub struct Loops<M> {
    mailboxes: Mailboxes<M>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl<M: Send + Sync + 'static> Loops<M> {
    /// One loop per service, each on its own thread; the first accepts.
    pub fn start<S>(listener: TcpListener, services: Vec<S>) -> io::Result<Loops<M>>
    where
        S: Service<Mail = M> + Send + 'static,
        S::Session: Send,
    {
        let (loops, mailboxes) = event_loops(listener, services)?;
        let threads = loops
            .into_iter()
            .map(|l| {
                std::thread::Builder::new()
                    .name(format!("rtweb-{}", l.index))
                    .spawn(move || l.run())
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Loops { mailboxes, threads })
    }

    /// The first loop on this thread, the others on their own, until an
    /// error or a graceful shutdown. `ready` is handed the means to ask for
    /// the shutdown before serving starts.
    pub fn run_here<S>(
        listener: TcpListener,
        services: Vec<S>,
        ready: impl FnOnce(Control<M>),
    ) -> io::Result<()>
    where
        S: Service<Mail = M> + Send + 'static,
        S::Session: Send,
    {
        let (mut loops, mailboxes) = event_loops(listener, services)?;
        ready(Control {
            mailboxes: Arc::clone(&mailboxes),
        });
        let first = loops.remove(0);
        let others = loops
            .into_iter()
            .map(|l| std::thread::spawn(move || l.run()))
            .collect();
        let mut loops = Loops {
            mailboxes,
            threads: others,
        };
        let result = first.run();
        if result.is_ok() {
            // Drained: let the others finish their own drain.
            for thread in loops.threads.drain(..) {
                let _ = thread.join();
            }
        }
        result
    }

    /// The means to shut these loops down gracefully, or post them mail.
    pub fn control(&self) -> Control<M> {
        Control {
            mailboxes: Arc::clone(&self.mailboxes),
        }
    }
}

impl<M> Drop for Loops<M> {
    fn drop(&mut self) {
        for mailbox in self.mailboxes.iter() {
            mailbox.request_stop();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

type EventLoops<S> = Vec<event_loop::EventLoop<S>>;

fn event_loops<S: Service>(
    listener: TcpListener,
    services: Vec<S>,
) -> io::Result<(EventLoops<S>, Mailboxes<S::Mail>)> {
    let polls = services
        .iter()
        .map(|_| Poll::new())
        .collect::<io::Result<Vec<_>>>()?;
    let mailboxes: Mailboxes<S::Mail> = polls
        .iter()
        .map(|p| Mailbox::new(p).map(Arc::new))
        .collect::<io::Result<Vec<_>>>()?
        .into();
    let limits = services.first().map(Service::limits);
    let admission = Arc::new(Admission::new(
        limits.map_or(usize::MAX, |l| l.max_connections),
        limits.map_or(usize::MAX, |l| l.max_connections_per_ip),
    ));
    let mut listener = Some(listener);
    let loops = polls
        .into_iter()
        .zip(services)
        .enumerate()
        .map(|(i, (poll, service))| {
            event_loop::EventLoop::new(
                i,
                poll,
                listener.take(),
                Arc::clone(&mailboxes),
                Arc::clone(&admission),
                service,
            )
        })
        .collect();
    Ok((loops, mailboxes))
}

/// Raises the soft limit on open files to the hard limit: a push server
/// holds one descriptor per client, and the usual soft limit of 1024 would
/// cap it at about a thousand.
pub fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// Sets the listen backlog: how many connections the kernel completes and
/// holds for us before refusing SYNs. mio's `TcpListener::bind` listens
/// with 128 (std's value), which made 2,000 simultaneous connects wait a
/// second for SYN retransmits; a reconnect storm after a restart is exactly
/// that. Calling `listen` again on a listening socket only changes the
/// backlog (Linux caps it at `net.core.somaxconn`). `rustix` (already here
/// for `setrlimit`) is the safe wrapper: no new dependency, no `unsafe`.
pub fn set_backlog(listener: &TcpListener, backlog: u32) -> io::Result<()> {
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    rustix::net::listen(listener, backlog).map_err(io::Error::from)
}
