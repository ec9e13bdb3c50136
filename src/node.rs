//! An rtweb node: the configuration, the state every event loop shares,
//! and the loops serving it.
//!
//! [`Server::bind`] opens the listener; [`Server::run`] blocks serving it
//! (what the binary does); [`Server::spawn`] serves it on background threads
//! and returns a handle that stops them when dropped (what the tests do).
//! This is where the application (`app/`) meets the loops (`server/`):
//! one [`App`] per loop, driven through the loop's contract.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpListener;

use crate::app::{App, Delivery, Shared};
use crate::config::Config;
use crate::server::{self, Loops};

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    pub fn bind(config: Config) -> io::Result<Server> {
        server::raise_fd_limit();
        let listener = TcpListener::bind(config.addr)?;
        server::set_backlog(&listener, config.backlog)?;
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

    /// One application state per event loop.
    fn apps(&self) -> Vec<App> {
        let now = Instant::now();
        (0..self.shared.config.threads.max(1))
            .map(|event_loop| App::new(Arc::clone(&self.shared), event_loop, now))
            .collect()
    }

    /// Serves on this thread (and `threads - 1` more) until an error.
    pub fn run(self) -> io::Result<()> {
        let apps = self.apps();
        Loops::run_here(self.listener, apps)
    }

    /// Serves on background threads until the handle is dropped.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let addr = self.local_addr()?;
        let apps = self.apps();
        let loops = Loops::start(self.listener, apps)?;
        Ok(ServerHandle {
            addr,
            shared: self.shared,
            _loops: loops,
        })
    }
}

/// A running server; dropping it stops every loop and waits for them.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    _loops: Loops<Delivery>,
}
