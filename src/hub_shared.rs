//! The hub over a store other nodes write to (`--redis`): how channels
//! come in (the relay loads them whole), stay current (the relay hands over
//! every committed message, in id order) and leave — so that no request on
//! an event loop ever needs the store. The rest of the hub (`hub.rs`) is
//! the same for every store.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Channel, Hub, Message, Published};
use crate::store::{NewMessage, Page, Stored};

impl Hub {
    /// A message committed to the shared store (Redis) by any node, this
    /// one included, as the relay's reader hands it over in id order: kept
    /// in the window and handed to this node's subscribers. `None` when
    /// the channel is not in this hub, or it was handed over already.
    pub fn committed_elsewhere(&mut self, name: &str, stored: Stored) -> Option<Published> {
        let channel = self.channels.get(name)?;
        if stored.id <= channel.state.last_id {
            return None;
        }
        self.take_committed(name, stored)
    }

    /// A message this node just committed to the shared store, as the
    /// relay's writer hands it over: taken now only if it is the channel's
    /// next id — so a publisher that reads right after its answer sees its
    /// message — and otherwise left to the reader, which brings every
    /// message in id order.
    pub fn committed_here(&mut self, name: &str, stored: Stored) -> Option<Published> {
        let channel = self.channels.get(name)?;
        if Some(stored.id) != channel.state.last_id.checked_add(1) {
            return None;
        }
        self.take_committed(name, stored)
    }

    fn take_committed(&mut self, name: &str, stored: Stored) -> Option<Published> {
        let published = self.keep(name, Arc::new(Message::from_stored(stored)));
        self.evict();
        published
    }

    /// Every channel in this hub and the last id it has of each: what the
    /// relay's reader follows, and from where (shared store).
    pub fn followed(&self) -> Vec<(String, u64)> {
        self.channels
            .iter()
            .map(|(name, c)| (name.clone(), c.state.last_id))
            .collect()
    }

    /// Called (under the hub's lock, so it must not block) whenever a
    /// channel enters the hub of a shared store: the relay's reader must
    /// start following it.
    pub fn on_new_channel(&mut self, hook: Box<dyn Fn() + Send>) {
        self.new_channel = Some(hook);
    }

    /// Whether requests on `name` can be served from memory. With a shared
    /// store, a channel must be loaded first ([`Hub::load`], by the relay,
    /// off the event loops); with a local store, always.
    pub fn is_loaded(&self, name: &str) -> bool {
        !self.shared_log || self.channels.contains_key(name)
    }

    /// Whether this node handed messages of `name` to the relay's writer
    /// that it is not through with yet.
    pub fn has_publishes_in_flight(&self, name: &str) -> bool {
        self.in_flight.contains_key(name)
    }

    /// A loop handed these messages to the relay's writer.
    pub fn publishing(&mut self, batch: &[NewMessage]) {
        for message in batch {
            *self.in_flight.entry(message.channel.clone()).or_default() += 1;
        }
    }

    /// The relay's writer is through with these messages (stored or not).
    pub fn published(&mut self, batch: &[NewMessage]) {
        for message in batch {
            if let Some(count) = self.in_flight.get_mut(&message.channel) {
                *count -= 1;
                if *count == 0 {
                    self.in_flight.remove(&message.channel);
                }
            }
        }
    }

    /// Brings a channel into the hub of a shared store with its whole
    /// retained log (`page`, read by the relay): from now on the relay's
    /// reader keeps it current, and every request on it is served from
    /// memory. Nothing happens if it is here already (then it is current).
    pub fn load(&mut self, name: &str, page: Page) {
        if self.channels.contains_key(name) {
            return;
        }
        let window: VecDeque<Arc<Message>> = page
            .messages
            .into_iter()
            .map(|m| Arc::new(Message::from_stored(m)))
            .collect();
        let window_bytes = window.iter().map(|m| m.size()).sum();
        // Room is made before it comes in: a load must not evict the very
        // channel its request is waiting for.
        self.cache_bytes += window_bytes;
        self.evict();
        self.channels.insert(
            name.to_owned(),
            Channel {
                state: page.state,
                window,
                window_bytes,
                subscribers: Vec::new(),
                used: 0,
            },
        );
        self.touch(name);
        if let Some(hook) = &self.new_channel {
            hook();
        }
    }

    /// A request that loaded `name` is done with it: with a shared store, a
    /// channel nobody here subscribes to leaves (the reader stops
    /// following it).
    pub fn release(&mut self, name: &str) {
        if self.shared_log
            && self
                .channels
                .get(name)
                .is_some_and(|c| c.subscribers.is_empty())
        {
            self.forget(name);
        }
    }

    /// Drops window messages older than the retention age at `now_ms`.
    pub(super) fn expire_windows(&mut self, now_ms: u64) -> u64 {
        let Some(age) = self.retain_for else {
            return 0;
        };
        let Some(cutoff) = now_ms.checked_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX))
        else {
            return 0;
        };
        let mut removed = 0;
        for channel in self.channels.values_mut() {
            while channel.window.front().is_some_and(|m| m.time < cutoff) {
                let gone = channel.window.pop_front().expect("not empty");
                channel.window_bytes -= gone.size();
                self.cache_bytes -= gone.size();
                removed += 1;
            }
            channel.state.oldest_id = channel
                .window
                .front()
                .map_or(channel.state.last_id + 1, |m| m.id);
        }
        removed
    }
}
