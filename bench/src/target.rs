//! What each server under test calls its endpoints.

use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rtweb,
    Nchan,
    /// The tokio-tungstenite peer (`/` echoes; `/ch/{name}/ws` is a channel
    /// whose members' text frames are broadcast: it publishes over WebSocket).
    Tungstenite,
    /// The raw TCP echo floor: no HTTP, no WebSocket.
    Floor,
    /// uWebSockets' `EchoServer` example (echo on every path).
    Uws,
    /// nginx serving a small static file (`bench/nginx-static/`), one worker:
    /// the HTTP request-rate reference for `poll-rate`.
    NginxStatic,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// What the result line calls it (default: the kind's name).
    pub label: Option<String>,
    /// Several nodes of one cluster (`--nodes A,B,C`): subscribers and
    /// publishers are spread over them in turn. Default: `addr` alone.
    pub nodes: Vec<SocketAddr>,
    /// Where a fan-out's publisher posts (`--publish-addr`; default `addr`).
    pub publish_addr: SocketAddr,
    /// The server's processes (`--pid`), for its CPU time and memory.
    pub pids: Vec<u32>,
}

impl Target {
    /// The node the `n`th connection goes to.
    pub fn node(&self, n: usize) -> SocketAddr {
        self.nodes[n % self.nodes.len()]
    }

    pub fn name(&self) -> &str {
        if let Some(label) = &self.label {
            return label;
        }
        match self.kind {
            Kind::Rtweb => "rtweb",
            Kind::Nchan => "nchan",
            Kind::Tungstenite => "tungstenite",
            Kind::Floor => "floor",
            Kind::Uws => "uws",
            Kind::NginxStatic => "nginx",
        }
    }

    pub fn publish(&self, ch: &str) -> String {
        match self.kind {
            Kind::Nchan => format!("/pub/{ch}"),
            _ => format!("/ch/{ch}"),
        }
    }

    pub fn sse(&self, ch: &str) -> String {
        match self.kind {
            Kind::Nchan => format!("/sub/{ch}"),
            _ => format!("/ch/{ch}/sse"),
        }
    }

    pub fn ws(&self, ch: &str) -> String {
        match self.kind {
            Kind::Nchan => format!("/sub/{ch}"),
            _ => format!("/ch/{ch}/ws"),
        }
    }

    pub fn longpoll(&self, ch: &str) -> String {
        match self.kind {
            Kind::Nchan => format!("/lp/{ch}"),
            _ => format!("/ch/{ch}/longpoll?timeout=110"),
        }
    }

    pub fn poll(&self, ch: &str) -> String {
        match self.kind {
            Kind::Nchan => format!("/poll/{ch}"),
            Kind::NginxStatic => "/small.json".into(),
            _ => format!("/ch/{ch}/poll?after=0"),
        }
    }

    pub fn echo(&self) -> &'static str {
        match self.kind {
            Kind::Tungstenite | Kind::Uws => "/",
            _ => "/echo",
        }
    }

    /// A cheap plain GET, for idle keep-alive connections.
    pub fn plain(&self) -> &'static str {
        match self.kind {
            Kind::Nchan => "/health",
            _ => "/stats",
        }
    }
}

pub fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n").into_bytes()
}

pub fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

pub fn ws_upgrade(path: &str) -> Vec<u8> {
    get(
        path,
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    )
}
