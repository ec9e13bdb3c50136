//! Counters for `GET /stats`: connections by kind, messages, bytes, requests,
//! refusals by reason.
//!
//! Atomics, so every event loop adds to the same numbers without a lock;
//! `Relaxed` is enough because each counter is read on its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// What a connection is doing, for the per-kind gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    Http,
    LongPoll,
    Sse,
    WebSocket,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub connections_http: AtomicU64,
    pub connections_longpoll: AtomicU64,
    pub connections_sse: AtomicU64,
    pub connections_websocket: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub requests: AtomicU64,
    pub messages_published: AtomicU64,
    pub messages_delivered: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// A graceful shutdown is under way.
    pub draining: AtomicBool,
    /// Refusals by reason (`access::Refusal::counter`): a token needed and
    /// none sent; a bad token; a token without the channel's right; a page
    /// from an origin not allowed; a `Host` not served.
    pub refused_no_token: AtomicU64,
    pub refused_bad_token: AtomicU64,
    pub refused_forbidden_channel: AtomicU64,
    pub refused_origin: AtomicU64,
    pub refused_host: AtomicU64,
}

impl Stats {
    fn gauge(&self, kind: ConnKind) -> &AtomicU64 {
        match kind {
            ConnKind::Http => &self.connections_http,
            ConnKind::LongPoll => &self.connections_longpoll,
            ConnKind::Sse => &self.connections_sse,
            ConnKind::WebSocket => &self.connections_websocket,
        }
    }

    /// A connection changes kind (or appears: `from` is `None`; or goes: `to` is `None`).
    pub fn switch(&self, from: Option<ConnKind>, to: Option<ConnKind>) {
        if let Some(kind) = from {
            self.gauge(kind).fetch_sub(1, Relaxed);
        }
        if let Some(kind) = to {
            self.gauge(kind).fetch_add(1, Relaxed);
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn to_json(&self) -> String {
        let get = |c: &AtomicU64| c.load(Relaxed);
        format!(
            concat!(
                "{{\"connections\":{{\"http\":{},\"longpoll\":{},\"sse\":{},\"websocket\":{}}},",
                "\"connections_accepted\":{},\"requests\":{},",
                "\"messages_published\":{},\"messages_delivered\":{},",
                "\"bytes_in\":{},\"bytes_out\":{},\"draining\":{}}}"
            ),
            get(&self.connections_http),
            get(&self.connections_longpoll),
            get(&self.connections_sse),
            get(&self.connections_websocket),
            get(&self.connections_accepted),
            get(&self.requests),
            get(&self.messages_published),
            get(&self.messages_delivered),
            get(&self.bytes_in),
            get(&self.bytes_out),
            self.draining.load(Relaxed),
        )
    }
}
