//! Channels: who is listening, and a window of what was said recently.
//! No I/O of its own: the log itself is the store's (`store/`).
//!
//! Every technique serves the same channels with the same ids. A channel
//! exists from its first use; each message gets the next id (1, 2, 3, …)
//! from the store, a publish time in milliseconds since the Unix epoch, and
//! its text. The store keeps the last `--retain` messages (and, with
//! `--retain-for`, none older), so a client that reconnects with the last id
//! it saw — `?after=N`, `Last-Event-ID` — gets exactly what it missed; when
//! what it missed is gone, or its id is one this store never gave out, the
//! answer says so (`gap`), never nothing.
//!
//! The hub keeps only what is live, in memory:
//!
//! - **subscribers**, as (event loop, connection token) pairs: a publish
//!   returns exactly whom to wake. A long poll subscribes `once` and is
//!   dropped by the publish that wakes it; streams stay until they leave;
//! - **a window** of each active channel's newest messages, so replays and
//!   fan-out don't touch the disk. All windows together hold at most
//!   `--cache-bytes`; the least recently used channel's window goes first,
//!   and a channel with neither subscribers nor a window leaves memory
//!   altogether (its log stays in the store).
//!
//! Channels live in a `BTreeMap`: it grows a node at a time, so a burst of
//! new channel names never rehashes millions of entries under the lock that
//! every publish needs.
//!
//! The hub is shared by every event loop behind one lock, so each operation
//! that must not be split by a publish is one method: publish a batch (the
//! store commits it, then subscribers are collected), replay and subscribe
//! ([`Hub::replay_and_subscribe`]), replay or park ([`Hub::replay_or_park`]).
//! `app/subscription.rs` is the one module that calls them.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::Arc;

use crate::json;
use crate::store::{ChannelState, NewMessage, Page, Retention, Store, StoreError, Stored};

/// One published message, immutable once made and shared by every reader.
#[derive(Debug)]
pub struct Message {
    pub id: u64,
    /// Publish time, ms since the Unix epoch.
    pub time: u64,
    /// The text, shared with the store's copy where the store keeps one.
    pub data: Arc<str>,
    /// `{"id":N,"time":T,"data":"…"}`, made once: the poll answers and the
    /// WebSocket frames all carry it.
    pub json: String,
}

impl Message {
    pub fn new(id: u64, time: u64, data: Arc<str>) -> Message {
        let mut json = String::with_capacity(data.len() + 48);
        let _ = write!(json, "{{\"id\":{id},\"time\":{time},\"data\":");
        json::write_string(&mut json, &data);
        json.push('}');
        Message {
            id,
            time,
            data,
            json,
        }
    }

    fn from_stored(stored: Stored) -> Message {
        Message::new(stored.id, stored.time_ms, stored.data)
    }

    /// Bytes this message holds in memory (for the window's budget).
    fn size(&self) -> usize {
        self.data.len() + self.json.len() + std::mem::size_of::<Message>()
    }
}

/// Someone to wake on publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    /// The event loop that owns the connection.
    pub event_loop: usize,
    /// The connection's token in that loop.
    pub token: usize,
    /// Removed by the first publish (a parked long poll).
    pub once: bool,
}

/// What a client resuming after some id gets.
#[derive(Debug, Default)]
pub struct Replay {
    /// Retained messages with id greater than the one asked for, in order.
    pub messages: Vec<Arc<Message>>,
    /// The newest id in the channel (0 before the first publish).
    pub last_id: u64,
    /// Messages after the requested id are not all here: trimmed from the
    /// log, or the id was never given out by this store.
    pub gap: bool,
}

/// What a long poll finds when it starts ([`Hub::replay_or_park`]).
#[derive(Debug)]
pub enum PollOutcome {
    /// Something to answer with at once: messages, or a gap.
    Ready(Replay),
    /// Nothing after `after`: parked until the channel's next message.
    Parked { after: u64 },
}

/// A message committed by [`Hub::publish`], with whom to wake.
#[derive(Debug)]
pub struct Published {
    pub message: Arc<Message>,
    pub subscribers: Vec<Subscriber>,
}

#[derive(Debug)]
struct Channel {
    state: ChannelState,
    /// The newest retained messages, ids contiguous, ending at
    /// `state.last_id` (possibly empty: then everything is in the store).
    window: VecDeque<Arc<Message>>,
    window_bytes: usize,
    subscribers: Vec<Subscriber>,
    /// Its key in the hub's least-recently-used order.
    used: u64,
}

/// All live channels, in front of the store.
pub struct Hub {
    store: Box<dyn Store>,
    channels: BTreeMap<String, Channel>,
    /// Channel names by last use, oldest first.
    recently_used: BTreeMap<u64, String>,
    clock: u64,
    retain: usize,
    cache_budget: usize,
    cache_bytes: usize,
    /// Other nodes write to the store too (Redis). Then the hub never reads
    /// the store itself (that would be a network round trip on an event
    /// loop): every channel in it holds its whole retained log, loaded by
    /// the relay and kept current by the relay's reader, and a channel is
    /// either here whole or not at all.
    shared_log: bool,
    /// `--retain-for`, for the windows of a shared store.
    retain_for: Option<std::time::Duration>,
    /// Shared store: messages handed to the relay's writer and not yet
    /// through it, by channel (see `Hub::has_publishes_in_flight`).
    in_flight: std::collections::HashMap<String, usize>,
    new_channel: Option<Box<dyn Fn() + Send>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("store", &self.store.describe())
            .field("live_channels", &self.channels.len())
            .field("cache_bytes", &self.cache_bytes)
            .finish()
    }
}

/// True for `[A-Za-z0-9_.-]{1,64}`.
pub fn valid_channel_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Hub {
    pub fn new(store: Box<dyn Store>, retain: usize, cache_budget: usize) -> Hub {
        let retention = Retention {
            count: retain,
            age: None,
        };
        Hub::over(store, retention, cache_budget, false)
    }

    /// A hub over a store other nodes write to as well (`shared_log`),
    /// which keeps `retention` (the age is applied to the windows too).
    pub fn over(
        store: Box<dyn Store>,
        retention: Retention,
        cache_budget: usize,
        shared_log: bool,
    ) -> Hub {
        let retain = retention.count;
        Hub {
            store,
            channels: BTreeMap::new(),
            recently_used: BTreeMap::new(),
            clock: 0,
            retain: retain.max(1),
            cache_budget,
            cache_bytes: 0,
            shared_log,
            retain_for: retention.age,
            in_flight: Default::default(),
            new_channel: None,
        }
    }

    /// A hub over a fresh memory store (tests, examples).
    pub fn in_memory(retain: usize) -> Hub {
        let retention = crate::store::Retention {
            count: retain,
            age: None,
        };
        Hub::new(
            Box::new(crate::store::MemoryStore::new(retention)),
            retain,
            usize::MAX,
        )
    }

    /// Commits a batch — everything one event loop's pass published — as
    /// one store transaction, then keeps each message in its channel's
    /// window and collects its subscribers (once-only ones are removed as
    /// they are returned). On `Err`, nothing was kept and nobody is woken.
    pub fn publish(&mut self, batch: &[NewMessage]) -> Result<Vec<Published>, StoreError> {
        // Every channel is in memory before the commit: nothing after it
        // can fail, so an acknowledged message is always delivered.
        for new in batch {
            self.channel(&new.channel)?;
        }
        let assigned = self.store.append(batch)?;
        let mut published = Vec::with_capacity(batch.len());
        for (new, given) in batch.iter().zip(assigned) {
            let message = Arc::new(Message::new(given.id, given.time_ms, Arc::clone(&new.data)));
            if let Some(one) = self.keep(&new.channel, message) {
                published.push(one);
            }
        }
        self.evict();
        Ok(published)
    }

    /// Keeps a committed message in its channel's window and collects its
    /// subscribers (once-only ones are removed as they are returned).
    fn keep(&mut self, name: &str, message: Arc<Message>) -> Option<Published> {
        let retain = self.retain;
        let id = message.id;
        self.touch(name);
        let channel = self.channels.get_mut(name)?;
        let before = channel.window_bytes;
        channel.state.last_id = id;
        channel.state.oldest_id = channel
            .state
            .oldest_id
            .max((id + 1).saturating_sub(retain as u64));
        // The window stays contiguous with the log's newest end.
        let contiguous = channel.window.back().is_none_or(|m| m.id + 1 == id);
        if !contiguous {
            channel.window.clear();
            channel.window_bytes = 0;
        }
        channel.window_bytes += message.size();
        channel.window.push_back(Arc::clone(&message));
        while channel.window.len() > retain
            || channel
                .window
                .front()
                .is_some_and(|m| m.id < channel.state.oldest_id)
        {
            let dropped = channel.window.pop_front().expect("not empty");
            channel.window_bytes -= dropped.size();
        }
        let subscribers = channel.subscribers.clone();
        channel.subscribers.retain(|s| !s.once);
        let after = channel.window_bytes;
        self.cache_bytes = self.cache_bytes + after - before;
        Some(Published {
            message,
            subscribers,
        })
    }

    /// Replays after `after` and subscribes, atomically: no publish can fall
    /// between the two.
    pub fn replay_and_subscribe(
        &mut self,
        name: &str,
        after: Option<u64>,
        subscriber: Subscriber,
    ) -> Result<Replay, StoreError> {
        // Into memory first: the channel's state is read from the store
        // once (a round trip, with Redis), then served from here.
        self.channel(name)?;
        let replay = self.replay(name, after)?;
        self.subscribe(name, subscriber)?;
        Ok(replay)
    }

    /// What a long poll needs, atomically: the messages after `after`
    /// (`None`: after the newest) if there are any, or a gap to report;
    /// otherwise `subscriber` is parked on the channel until its next
    /// publish, and the answer says after which id it waits.
    pub fn replay_or_park(
        &mut self,
        name: &str,
        after: Option<u64>,
        subscriber: Subscriber,
    ) -> Result<PollOutcome, StoreError> {
        let after = match after {
            Some(after) => after,
            None => self.state(name)?.last_id,
        };
        let replay = self.replay(name, Some(after))?;
        if replay.messages.is_empty() && !replay.gap {
            self.subscribe(name, subscriber)?;
            return Ok(PollOutcome::Parked { after });
        }
        Ok(PollOutcome::Ready(replay))
    }

    /// The retained messages with id > `after`. `after: None` means "from
    /// now": no messages, only `last_id`.
    pub fn replay(&mut self, name: &str, after: Option<u64>) -> Result<Replay, StoreError> {
        let state = self.state(name)?;
        let mut replay = Replay {
            last_id: state.last_id,
            ..Replay::default()
        };
        let Some(after) = after else {
            return Ok(replay);
        };
        // An id beyond the last belongs to another life of the channel (a
        // restart without its data): answered as a gap, then all that is
        // retained. Checked arithmetic: `after` may be u64::MAX.
        replay.gap = state.gap_after(after);
        let from = if after > state.last_id {
            state.oldest_id
        } else {
            after.saturating_add(1).max(state.oldest_id)
        };
        if from > state.last_id {
            return Ok(replay);
        }
        self.touch(name);
        let window = self.channels.get(name).map(|c| &c.window);
        if let Some(window) = window.filter(|w| w.front().is_some_and(|m| m.id <= from)) {
            let skip = usize::try_from(from - window[0].id).unwrap_or(usize::MAX);
            replay.messages = window.iter().skip(skip).cloned().collect();
        } else {
            let page = self.read_page(name, from - 1)?;
            replay.gap |= page.state.gap_after(after);
            replay.last_id = page.state.last_id;
            replay.messages = page
                .messages
                .into_iter()
                .map(|m| Arc::new(Message::from_stored(m)))
                .collect();
        }
        Ok(replay)
    }

    fn subscribe(&mut self, name: &str, subscriber: Subscriber) -> Result<(), StoreError> {
        self.channel(name)?.subscribers.push(subscriber);
        Ok(())
    }

    /// Removes a connection from a channel's subscribers; returns the
    /// channel's newest id.
    pub fn unsubscribe(&mut self, name: &str, event_loop: usize, token: usize) -> u64 {
        let Some(channel) = self.channels.get_mut(name) else {
            return 0;
        };
        if let Some(i) = channel
            .subscribers
            .iter()
            .position(|s| s.event_loop == event_loop && s.token == token)
        {
            channel.subscribers.swap_remove(i);
        }
        let last_id = channel.state.last_id;
        if channel.subscribers.is_empty() && (channel.window.is_empty() || self.shared_log) {
            self.forget(name);
        }
        last_id
    }

    /// Trims messages past `--retain-for` from the store; cached windows and
    /// states are dropped, to be read again as they are needed.
    pub fn trim_expired(&mut self, now_ms: u64) -> Result<u64, StoreError> {
        if self.shared_log {
            // The relay trims Redis; every window here is its channel's
            // whole log, so the same cut keeps it exact.
            return Ok(self.expire_windows(now_ms));
        }
        let trimmed = self.store.trim_expired(now_ms)?;
        if trimmed > 0 {
            let names: Vec<String> = self.channels.keys().cloned().collect();
            for name in names {
                self.drop_window(&name);
            }
            for channel in self.channels.values_mut() {
                channel.state.oldest_id = 0; // unknown: read again
            }
        }
        Ok(trimmed)
    }

    /// Closes the store (the durable one checkpoints its log). The hub is
    /// left with an empty memory store: a late caller is served, not failed.
    pub fn close_store(&mut self) -> Result<(), StoreError> {
        let retention = crate::store::Retention {
            count: self.retain,
            age: None,
        };
        let closed = std::mem::replace(
            &mut self.store,
            Box::new(crate::store::MemoryStore::new(retention)),
        );
        closed.close()
    }

    /// One line saying which store this is.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// Whether `name` exists, and how many do: `--max-channels`.
    pub fn has_channel(&self, name: &str) -> bool {
        self.channels.contains_key(name)
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Subscribers across all channels (for tests).
    pub fn subscriber_count(&self) -> usize {
        self.channels.values().map(|c| c.subscribers.len()).sum()
    }

    /// Channels held in memory, and the bytes their windows hold.
    pub fn memory(&self) -> (usize, usize) {
        (self.channels.len(), self.cache_bytes)
    }

    /// A channel's state: from memory when it is live, else from the store
    /// (without bringing the channel into memory).
    fn state(&mut self, name: &str) -> Result<ChannelState, StoreError> {
        match self.channels.get(name) {
            Some(channel) if channel.state.oldest_id != 0 => Ok(channel.state),
            _ => {
                let state = self.read_state(name)?;
                if let Some(channel) = self.channels.get_mut(name) {
                    channel.state = state;
                }
                Ok(state)
            }
        }
    }

    /// The live channel `name`, brought into memory (and marked used).
    fn channel(&mut self, name: &str) -> Result<&mut Channel, StoreError> {
        if let Some(channel) = self.channels.get_mut(name) {
            if channel.state.oldest_id == 0 {
                channel.state = self.store.channel_state(name)?;
            }
        } else {
            let state = self.read_state(name)?;
            self.channels.insert(
                name.to_owned(),
                Channel {
                    state,
                    window: VecDeque::new(),
                    window_bytes: 0,
                    subscribers: Vec::new(),
                    used: 0,
                },
            );
        }
        self.touch(name);
        Ok(self.channels.get_mut(name).expect("just inserted"))
    }

    /// A channel's state from the store — never with a shared store: see
    /// `shared_log` (a channel that is here has its state in memory).
    fn read_state(&mut self, name: &str) -> Result<ChannelState, StoreError> {
        if self.shared_log {
            return Err(not_loaded(name));
        }
        self.store.channel_state(name)
    }

    /// The retained messages after `after`, from the store — never with a
    /// shared store, whose channels hold their whole log in memory.
    fn read_page(&mut self, name: &str, after: u64) -> Result<Page, StoreError> {
        if self.shared_log {
            return Err(not_loaded(name));
        }
        self.store.read_after(name, after, self.retain)
    }
}

/// What a hub over a shared store answers for a channel no one loaded:
/// the request should have waited for the relay (`Hub::is_loaded`).
fn not_loaded(name: &str) -> StoreError {
    StoreError::Failed(format!("channel {name} is not loaded yet: try again"))
}

#[path = "hub_cache.rs"]
mod cache;
#[path = "hub_shared.rs"]
mod shared;

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
