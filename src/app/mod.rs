//! The application: routes, per-connection sessions, and what they share.
//!
//! `server/` hands each connection's bytes to its [`Session`]; the session
//! decodes requests (`http/`), asks [`routes`] what to do, and either answers
//! at once or turns the connection into a long poll, an event stream or a
//! WebSocket. Publishing goes through [`Context::publish`]: the hub appends
//! the message and returns its subscribers, and the event loop delivers one
//! shared [`Delivery`] to each of them.

pub mod event_stream;
pub mod feed;
pub mod routes;
pub mod session;
pub mod websocket;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::http::chunked;
use crate::http::date::DateCache;
use crate::hub::{Hub, Message, Subscriber};
use crate::sse;
use crate::stats::Stats;

pub use session::Session;

/// What every event loop shares.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub hub: Mutex<Hub>,
    pub stats: Stats,
}

impl Shared {
    pub fn new(config: Config) -> Shared {
        let hub = Mutex::new(Hub::new(config.retain));
        Shared {
            config,
            hub,
            stats: Stats::default(),
        }
    }

    /// The hub, locked. A panic elsewhere cannot leave it half-updated (each
    /// operation is a few field writes), so a poisoned lock is still usable.
    pub fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One published message on its way to subscribers, with its wire encodings
/// made at most once each and shared by every connection that sends it.
#[derive(Debug)]
pub struct Delivery {
    pub message: Arc<Message>,
    sse_event: OnceLock<Arc<[u8]>>,
    sse_chunk: OnceLock<Arc<[u8]>>,
    ws_frame: OnceLock<Arc<[u8]>>,
}

impl Delivery {
    pub fn new(message: Arc<Message>) -> Delivery {
        Delivery {
            message,
            sse_event: OnceLock::new(),
            sse_chunk: OnceLock::new(),
            ws_frame: OnceLock::new(),
        }
    }

    /// The SSE event, for streams without chunked framing (HTTP/1.0).
    pub fn sse_event(&self) -> Arc<[u8]> {
        Arc::clone(self.sse_event.get_or_init(|| {
            let mut out = Vec::new();
            sse::encode_event(&mut out, Some(self.message.id), None, &self.message.data);
            out.into()
        }))
    }

    /// The SSE event as one HTTP/1.1 chunk.
    pub fn sse_chunk(&self) -> Arc<[u8]> {
        Arc::clone(self.sse_chunk.get_or_init(|| {
            let mut out = Vec::new();
            chunked::encode_chunk(&self.sse_event(), &mut out);
            out.into()
        }))
    }
}

impl Delivery {
    /// The WebSocket text frame holding the message's JSON. Server frames
    /// are not masked, so every subscriber can be sent the same bytes.
    pub fn ws_frame(&self) -> Arc<[u8]> {
        Arc::clone(self.ws_frame.get_or_init(|| {
            let mut out = Vec::new();
            crate::ws::frame::write_frame(
                &mut out,
                crate::ws::OpCode::Text,
                self.message.json.as_bytes(),
            );
            out.into()
        }))
    }
}

/// A publish made during one callback, for the event loop to deliver.
#[derive(Debug)]
pub struct Published {
    pub delivery: Arc<Delivery>,
    pub subscribers: Vec<Subscriber>,
}

/// What a session callback may use besides its own connection.
pub struct Context<'a> {
    pub now: Instant,
    pub wall: SystemTime,
    pub shared: &'a Shared,
    /// This event loop's index, for subscriber registration.
    pub worker: usize,
    pub dates: &'a mut DateCache,
    pub published: &'a mut Vec<Published>,
}

impl Context<'_> {
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// The `Date` header value for now.
    pub fn date(&mut self) -> [u8; crate::http::date::DATE_LEN] {
        *self.dates.get(self.wall)
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> u64 {
        self.wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// Publishes `data` to `channel`; returns the new id.
    pub fn publish(&mut self, channel: &str, data: String) -> u64 {
        let time = self.unix_millis();
        let (message, subscribers) = self.shared.hub().publish(channel, data, time);
        Stats::add(&self.shared.stats.messages_published, 1);
        let id = message.id;
        self.published.push(Published {
            delivery: Arc::new(Delivery::new(message)),
            subscribers,
        });
        id
    }
}
