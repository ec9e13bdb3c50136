//! The memory store (`--memory`): each channel's retained log is a
//! `VecDeque` in this process, gone when it exits. It is today's behaviour
//! behind the [`Store`] contract, for tests and throwaway demos.
//!
//! It never fails to store (short of exhausting [`super::MAX_ID`]), never
//! blocks, and keeps every channel it has seen, each with up to
//! `retention.count` messages: memory grows with the number of channels.

use std::collections::{HashMap, VecDeque};

use super::{
    next_id, Assigned, ChannelState, NewMessage, Page, Retention, Store, StoreError, Stored,
};

#[derive(Debug, Default)]
struct Channel {
    /// The retained messages, ids contiguous, oldest first.
    log: VecDeque<Stored>,
    last_id: u64,
    last_time_ms: u64,
}

impl Channel {
    fn state(&self) -> ChannelState {
        ChannelState {
            oldest_id: self
                .log
                .front()
                .map_or(self.last_id.saturating_add(1), |m| m.id),
            last_id: self.last_id,
        }
    }
}

#[derive(Debug)]
pub struct MemoryStore {
    channels: HashMap<String, Channel>,
    retention: Retention,
}

impl MemoryStore {
    pub fn new(retention: Retention) -> MemoryStore {
        MemoryStore {
            channels: HashMap::new(),
            retention: Retention {
                count: retention.count.max(1),
                ..retention
            },
        }
    }
}

impl Store for MemoryStore {
    fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Assigned>, StoreError> {
        // First assign every id and time without touching a channel, so an
        // error (ids exhausted) leaves the store as it was: all or nothing.
        let mut heads: HashMap<&str, (u64, u64)> = HashMap::new();
        let mut assigned = Vec::with_capacity(batch.len());
        for message in batch {
            let channel = message.channel.as_str();
            let head = match heads.get_mut(channel) {
                Some(head) => head,
                None => {
                    let known = self.channels.get(channel);
                    let head = known.map_or((0, 0), |c| (c.last_id, c.last_time_ms));
                    heads.entry(channel).or_insert(head)
                }
            };
            let id = next_id(channel, head.0)?;
            let time_ms = message.time_ms.max(head.1);
            *head = (id, time_ms);
            assigned.push(Assigned { id, time_ms });
        }
        for (message, given) in batch.iter().zip(&assigned) {
            let channel = self.channels.entry(message.channel.clone()).or_default();
            channel.log.push_back(Stored {
                id: given.id,
                time_ms: given.time_ms,
                data: message.data.clone(),
            });
            channel.last_id = given.id;
            channel.last_time_ms = given.time_ms;
            if channel.log.len() > self.retention.count {
                channel.log.pop_front();
            }
        }
        Ok(assigned)
    }

    fn read_after(&mut self, channel: &str, after: u64, limit: usize) -> Result<Page, StoreError> {
        let Some(channel) = self.channels.get(channel) else {
            return Ok(Page {
                state: ChannelState::NEW,
                messages: Vec::new(),
            });
        };
        let state = channel.state();
        // Ids are contiguous, so the first wanted message sits at
        // `after + 1 - oldest`; checked, since `after` may be anything.
        let skip = after.checked_add(1).map_or(usize::MAX, |first| {
            usize::try_from(first.saturating_sub(state.oldest_id)).unwrap_or(usize::MAX)
        });
        let messages = channel.log.iter().skip(skip).take(limit).cloned().collect();
        Ok(Page { state, messages })
    }

    fn channel_state(&mut self, channel: &str) -> Result<ChannelState, StoreError> {
        Ok(self
            .channels
            .get(channel)
            .map_or(ChannelState::NEW, Channel::state))
    }

    fn trim_expired(&mut self, now_ms: u64) -> Result<u64, StoreError> {
        let Some(cutoff) = super::expiry_cutoff(self.retention, now_ms) else {
            return Ok(0);
        };
        let mut removed = 0;
        for channel in self.channels.values_mut() {
            // Times never decrease within a channel, so the expired messages
            // are a prefix of the log.
            while channel.log.front().is_some_and(|m| m.time_ms < cutoff) {
                channel.log.pop_front();
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn close(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "memory (lost on exit)".to_owned()
    }
}
