//! The application: what the bytes mean, per connection and per loop.
//!
//! [`App`] is one event loop's application state and implements the loop's
//! contract, [`crate::server::Service`]. Each connection's state is a
//! [`Session`], which dispatches to the mode the connection is in:
//!
//! - [`exchange`]: HTTP requests read and answered in order (the start);
//! - [`long_poll`]: a request parked until its channel has news;
//! - [`event_stream`]: a Server-Sent Events stream;
//! - [`websocket`]: the echo endpoint or a channel subscriber.
//!
//! [`routes`] decides what each request asks for; [`subscription`] is the
//! one module that talks to the hub; [`guard`] the one that asks the access
//! policy; [`delivery`] holds each transport's encoding of a message, made
//! once per publish and shared.

pub mod delivery;
pub mod event_stream;
pub mod exchange;
pub mod guard;
pub mod long_poll;
pub mod routes;
pub mod session;
pub mod subscription;
pub mod websocket;

#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod sim;

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::access::Policy;
use crate::budget::Budget;
use crate::config::Config;
use crate::http::date::{DateCache, DATE_LEN};
use crate::hub::{Hub, Subscriber};
use crate::output::OutputQueue;
use crate::relay::Relay;
use crate::server::{Address, Close, Limits, Outgoing, Refusal, Service};
use crate::stats::Stats;
use crate::store::redis::RedisStore;
use crate::store::{self, NewMessage, OpenError, Retention, StoreError, StoreKind};

pub use delivery::Delivery;
pub use session::Session;

/// What a connection is sent by the app (through the loop's mail).
// Mail always travels as `Arc<Mail>`, made once and shared by every
// recipient: the size of the small variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Mail {
    /// A committed message, for its subscribers.
    Deliver(Delivery),
    /// What became of a publish, for the connection that made it: its id,
    /// or why it could not be stored.
    Published(Result<u64, StoreError>),
    /// With `--redis`: the channel a request waits for is in the hub now
    /// (or could not be read), for the connection that asked.
    Loaded(Result<Arrival, StoreError>),
}

/// How the channel a request waited for came to be in the hub
/// ([`Mail::Loaded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The relay read it in for this request: the request lets it go
    /// again when done, unless it subscribed.
    Read,
    /// It was here already: the request only waited for this node's
    /// publishes ahead of it. Whoever read it in lets it go.
    Present,
}

/// What every event loop shares.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    hub: Mutex<Hub>,
    pub stats: Stats,
    /// `--max-buffered`: bytes held in request bodies and unfinished
    /// WebSocket messages, all connections together.
    pub buffered: Arc<Budget>,
    /// Who may publish and subscribe, from which origins and hosts.
    pub policy: Policy,
    /// With `--redis`: the threads that publish to Redis and bring every
    /// node's messages back (`relay.rs`).
    pub relay: Option<Relay>,
}

impl Shared {
    /// Opens the configured store (`--data`, `--memory`, `--redis`) behind
    /// a new hub; with Redis, the relay too (its threads start with the loops).
    pub fn new(config: Config) -> Result<Shared, OpenError> {
        let retention = Retention {
            count: config.retain,
            age: config.retain_for,
        };
        let stats = Stats::default();
        let (hub, relay) = match &config.store {
            StoreKind::Redis { url, prefix } => {
                let health = Arc::clone(stats.redis.get_or_init(Arc::default));
                let store = RedisStore::open(url, prefix, retention, Arc::clone(&health))?;
                let relay = Relay::open(url, prefix, retention, health)?;
                let mut hub = Hub::over(Box::new(store), retention, config.cache_bytes, true);
                hub.on_new_channel(relay.follow_hook());
                (hub, Some(relay))
            }
            kind => {
                let store = store::open(kind, retention)?;
                (Hub::new(store, config.retain, config.cache_bytes), None)
            }
        };
        let buffered = Budget::new(config.max_buffered);
        let policy = Policy::new(&config);
        Ok(Shared {
            config,
            hub: Mutex::new(hub),
            stats,
            buffered,
            policy,
            relay,
        })
    }

    /// Closes the store (the durable one checkpoints its log into the
    /// database file). Anything after this is kept in memory only.
    pub fn close_store(&self) -> Result<(), StoreError> {
        self.hub().close_store()
    }

    /// The hub, locked — for `subscription.rs` (and tests). A panic
    /// elsewhere cannot leave it half-updated (each operation is a few field
    /// writes), so a poisoned lock is still usable.
    pub fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One event loop's application state.
pub struct App {
    pub shared: Arc<Shared>,
    /// This loop's index: subscribers are (loop, token) pairs.
    pub event_loop: usize,
    /// The time of the loop's current pass (set with [`App::set_now`]).
    pub now: Instant,
    /// The wall clock at `now`, read the first time it is asked for.
    wall: Cell<Option<SystemTime>>,
    dates: DateCache,
    /// Publishes made during this pass, to commit as one batch.
    pending: Pending,
    /// Mail for the loop to deliver: committed messages, publish outcomes.
    outgoing: VecDeque<Outgoing<Mail>>,
    /// `--ticker`: when loop 0 next publishes the clock.
    next_tick: Option<Instant>,
    /// When to trim messages older than `--retain-for` (event loop 0 only).
    next_trim: Option<Instant>,
    /// A graceful shutdown is under way: every answer closes its connection.
    pub draining: bool,
}

/// How often to trim by age: a tenth of the age, between 1 s and 1 min —
/// a message outlives `--retain-for` by at most that.
pub fn trim_interval(age: Duration) -> Duration {
    (age / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

impl App {
    pub fn new(shared: Arc<Shared>, event_loop: usize, now: Instant) -> App {
        let next_tick = match (event_loop, shared.config.ticker) {
            (0, Some(every)) => Some(now + every),
            _ => None,
        };
        // With Redis the relay trims, off the loops.
        let next_trim = match (event_loop, shared.config.retain_for, &shared.relay) {
            (0, Some(age), None) => Some(now + trim_interval(age)),
            _ => None,
        };
        App {
            shared,
            event_loop,
            now,
            wall: Cell::new(None),
            dates: DateCache::default(),
            pending: Pending::default(),
            outgoing: VecDeque::new(),
            next_tick,
            next_trim,
            draining: false,
        }
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Every call from the loop starts here: the time of its pass.
    pub fn set_now(&mut self, now: Instant) {
        self.now = now;
        self.wall.set(None);
    }

    /// The wall clock, read once per call from the loop: everything one
    /// read's requests ask of it (a `Date`, a token's expiry, a publish
    /// time) gets the same instant. `SystemTime::now` is a vDSO call of
    /// ~25 ns, and a poll request asked for it three times (9% of the
    /// server's time at 16 pipelined requests per read).
    fn wall_clock(&self) -> SystemTime {
        if let Some(wall) = self.wall.get() {
            return wall;
        }
        let wall = SystemTime::now();
        self.wall.set(Some(wall));
        wall
    }

    /// The `Date` header value for now.
    pub fn date(&mut self) -> [u8; DATE_LEN] {
        let wall = self.wall_clock();
        *self.dates.get(wall)
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> u64 {
        self.wall_clock()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// Queues mail for the loop to hand to `subscribers`.
    fn send(&mut self, mail: Arc<Mail>, subscribers: &[Subscriber]) {
        if subscribers.is_empty() {
            return;
        }
        let to = subscribers
            .iter()
            .map(|s| Address {
                event_loop: s.event_loop,
                token: s.token,
            })
            .collect();
        self.outgoing.push_back(Outgoing { mail, to });
    }

    /// Queues mail for a connection of this loop.
    fn reply(&mut self, token: usize, mail: Mail) {
        let to = vec![Address {
            event_loop: self.event_loop,
            token,
        }];
        self.outgoing.push_back(Outgoing {
            mail: Arc::new(mail),
            to,
        });
    }
}

/// This pass's publishes: the batch for the store, and who made each.
#[derive(Debug, Default)]
struct Pending {
    batch: Vec<NewMessage>,
    publishers: Vec<Option<usize>>,
}

impl Pending {
    fn push(&mut self, message: NewMessage, publisher: Option<usize>) {
        self.batch.push(message);
        self.publishers.push(publisher);
    }

    fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    fn take(&mut self) -> (Vec<NewMessage>, Vec<Option<usize>>) {
        (
            std::mem::take(&mut self.batch),
            std::mem::take(&mut self.publishers),
        )
    }
}

impl Service for App {
    type Session = Session;
    type Mail = Mail;

    fn open(&mut self, token: usize, now: Instant) -> Session {
        self.set_now(now);
        Session::new(token, self)
    }

    fn input(
        &mut self,
        s: &mut Session,
        input: &mut [u8],
        out: &mut OutputQueue,
        now: Instant,
    ) -> usize {
        self.set_now(now);
        s.on_input(input, out, self)
    }

    fn deliver(&mut self, s: &mut Session, mail: &Arc<Mail>, out: &mut OutputQueue, now: Instant) {
        self.set_now(now);
        s.on_mail(mail, out, self);
    }

    fn refuse(&mut self, s: &mut Session, refusal: Refusal, out: &mut OutputQueue, now: Instant) {
        self.set_now(now);
        s.refuse(refusal, out, self);
    }

    fn timer(&mut self, s: &mut Session, out: &mut OutputQueue, now: Instant) {
        self.set_now(now);
        s.on_timer(out, self);
    }

    fn drained(&mut self, s: &mut Session, out: &mut OutputQueue, now: Instant) {
        self.set_now(now);
        s.on_drained(out, self);
    }

    fn peer_closed(&mut self, s: &mut Session) {
        s.on_peer_closed();
    }

    fn drain(&mut self, s: &mut Session, out: &mut OutputQueue, now: Instant) {
        self.set_now(now);
        self.draining = true;
        s.on_drain(out, self);
    }

    fn closed(&mut self, s: &mut Session, now: Instant) {
        self.set_now(now);
        s.on_closed(self);
    }

    fn close(&self, s: &Session) -> Close {
        s.close()
    }

    fn wants_input(&self, s: &Session) -> bool {
        s.wants_input()
    }

    fn input_paused(&self, s: &Session, out: &OutputQueue) -> bool {
        s.input_paused(out, self)
    }

    fn deadline(&self, s: &Session) -> Option<Instant> {
        s.deadline(self)
    }

    /// First commits this pass's publishes (group commit: one transaction
    /// for everything the pass published); then hands out the mail.
    fn next_mail(&mut self) -> Option<Outgoing<Mail>> {
        if !self.pending.is_empty() {
            subscription::commit(self);
        }
        self.outgoing.pop_front()
    }

    fn own_deadline(&self) -> Option<Instant> {
        match (self.next_tick, self.next_trim) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Publishes the server's clock to channel `clock` (`--ticker`), and
    /// trims messages older than `--retain-for`.
    fn own_timer(&mut self, now: Instant) {
        self.set_now(now);
        if let (Some(at), Some(age)) = (self.next_trim, self.config().retain_for) {
            if now >= at {
                // A failure is the store's to report on the next publish;
                // the next trim tries again.
                let _ = subscription::trim_expired(self);
                self.next_trim = Some(now + trim_interval(age));
            }
        }
        if let (Some(at), Some(every)) = (self.next_tick, self.config().ticker) {
            if now >= at {
                let millis = self.unix_millis();
                // At --max-channels the clock is not a new channel worth refusing
                // anyone over: it simply does not tick.
                if subscription::room_for(self, "clock").is_ok() {
                    subscription::publish(self, "clock", format!("{millis}"), None);
                }
                self.next_tick = Some(now + every);
            }
        }
    }

    fn limits(&self) -> Limits {
        let config = self.config();
        Limits {
            max_input: config.limits.max_head + config.limits.max_body,
            send_timeout: config.send_timeout,
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
        }
    }

    fn stats(&self) -> &Stats {
        &self.shared.stats
    }
}
