//! The windows' memory budget (`--cache-bytes`): every use of a channel
//! marks it most recently used; when all windows together hold more than
//! the budget, the least recently used channel's window goes first, and a
//! channel with neither subscribers nor a window leaves memory (its log
//! stays in the store). The rest of the hub is `hub.rs`.
//!
//! Recency is a counter, not a clock: `touch` gives the channel the next
//! number and files its name under it in `recently_used` (a `BTreeMap`),
//! so the least recently used channel is that map's first entry.

use std::collections::VecDeque;

use super::Hub;

impl Hub {
    /// Marks `name` the most recently used channel.
    pub(super) fn touch(&mut self, name: &str) {
        let Some(channel) = self.channels.get_mut(name) else {
            return;
        };
        self.clock += 1;
        self.recently_used.remove(&channel.used);
        channel.used = self.clock;
        self.recently_used.insert(self.clock, name.to_owned());
    }

    /// Keeps the windows within their budget: least recently used first.
    /// With a shared store a window is its channel's whole log, so a
    /// channel leaves whole — and not while someone here subscribes to it.
    pub(super) fn evict(&mut self) {
        let mut kept = Vec::new();
        while self.cache_bytes > self.cache_budget {
            let Some((used, name)) = self.recently_used.pop_first() else {
                break;
            };
            let subscribed = self
                .channels
                .get(&name)
                .is_some_and(|c| !c.subscribers.is_empty());
            if self.shared_log {
                if subscribed {
                    kept.push((used, name));
                } else {
                    self.forget(&name);
                }
                continue;
            }
            if let Some(channel) = self.channels.get_mut(&name) {
                channel.used = 0;
            }
            self.drop_window(&name);
            if !subscribed {
                self.channels.remove(&name);
            }
        }
        self.recently_used.extend(kept);
    }

    /// Frees a channel's window; the channel itself stays.
    pub(super) fn drop_window(&mut self, name: &str) {
        if let Some(channel) = self.channels.get_mut(name) {
            self.cache_bytes -= channel.window_bytes;
            channel.window_bytes = 0;
            channel.window = VecDeque::new();
        }
    }

    /// Removes a channel from memory altogether.
    pub(super) fn forget(&mut self, name: &str) {
        if let Some(channel) = self.channels.remove(name) {
            self.cache_bytes -= channel.window_bytes;
            self.recently_used.remove(&channel.used);
        }
    }
}
