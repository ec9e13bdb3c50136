//! An rtweb node: the configuration, the state every event loop shares,
//! and the loops serving it.
//!
//! [`Server::bind`] opens the listener; [`Server::run`] blocks serving it
//! (what the binary does); [`Server::spawn`] serves it on background threads
//! and returns a handle that stops them when dropped (what the tests do).
//! This is where the application (`app/`) meets the loops (`server/`):
//! one [`App`] per loop, driven through the loop's contract.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpListener;

use crate::app::{App, Mail, Shared};
use crate::config::Config;
use crate::server::{self, Loops};
use crate::store::OpenError;

/// Why a server could not start, as one line for stderr.
#[derive(Debug)]
pub enum StartError {
    /// The store could not be opened (names the path and the problem).
    Store(OpenError),
    /// The address could not be listened on.
    Listen { addr: SocketAddr, error: io::Error },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Store(error) => write!(f, "cannot open the store: {error}"),
            StartError::Listen { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    /// Opens the store, then the listener.
    pub fn bind(config: Config) -> Result<Server, StartError> {
        server::raise_fd_limit();
        let addr = config.addr;
        let backlog = config.backlog;
        let shared = Shared::new(config).map_err(StartError::Store)?;
        let listener =
            TcpListener::bind(addr).map_err(|error| StartError::Listen { addr, error })?;
        server::set_backlog(&listener, backlog)
            .map_err(|error| StartError::Listen { addr, error })?;
        Ok(Server {
            listener,
            shared: Arc::new(shared),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// What the loops share: config, hub, stats.
    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// One application state per event loop.
    fn apps(&self) -> Vec<App> {
        let now = Instant::now();
        (0..self.shared.config.threads.max(1))
            .map(|event_loop| App::new(Arc::clone(&self.shared), event_loop, now))
            .collect()
    }

    /// Serves on this thread (and `threads - 1` more) until an error or a
    /// signal. `SIGTERM` or `SIGINT` drains gracefully: no new connections;
    /// WebSockets get Close 1001, event streams end with their last chunk,
    /// parked long polls are answered; returns `Ok` once every connection
    /// has closed, or after `--shutdown-timeout`. A second signal exits at once.
    pub fn run(self) -> io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
        let apps = self.apps();
        let shared = Arc::clone(&self.shared);
        Loops::run_here(self.listener, apps, move |control| {
            if let Some(relay) = &shared.relay {
                relay.start(&shared, control.clone());
            }
            let shutdown = control;
            std::thread::spawn(move || {
                let mut received = signals.forever();
                if let Some(signal) = received.next() {
                    eprintln!("rtweb: signal {signal}: draining (a second signal exits at once)");
                    shared.stats.draining.store(true, Ordering::Relaxed);
                    shutdown.drain(shared.config.shutdown_timeout);
                }
                if received.next().is_some() {
                    eprintln!("rtweb: second signal: exiting now");
                    std::process::exit(1);
                }
            });
        })
    }

    /// Serves on background threads until the handle is dropped.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let addr = self.local_addr()?;
        let apps = self.apps();
        let loops = Loops::start(self.listener, apps)?;
        if let Some(relay) = &self.shared.relay {
            relay.start(&self.shared, loops.control());
        }
        Ok(ServerHandle {
            addr,
            shared: self.shared,
            _loops: loops,
        })
    }
}

/// A running server; dropping it stops every loop and waits for them
/// (and asks the relay's threads, if any, to end).
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    _loops: Loops<Mail>,
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(relay) = &self.shared.relay {
            relay.stop();
        }
    }
}
