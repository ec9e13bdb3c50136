//! Channels: the retained message log and who is listening. No I/O here.
//!
//! Every technique serves the same channels with the same ids. A channel
//! exists from its first use; each message gets the next id (1, 2, 3, …), a
//! publish time in milliseconds since the Unix epoch, and its text. The last
//! `retain` messages are kept, so a client that reconnects with the last id it
//! saw — `?after=N`, `Last-Event-ID` — gets exactly what it missed; when what it
//! missed is older than the log, the answer says so (`gap`), never nothing.
//!
//! Subscribers are (event loop, connection token) pairs: a publish returns
//! exactly whom to wake. A long poll subscribes `once` and is dropped from the
//! list by the publish that wakes it; streams (SSE, WebSocket) stay until
//! they unsubscribe on close.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::sync::Arc;

use crate::json;

/// One published message, immutable once made and shared by every reader.
#[derive(Debug)]
pub struct Message {
    pub id: u64,
    /// Publish time, ms since the Unix epoch.
    pub time: u64,
    pub data: String,
    /// `{"id":N,"time":T,"data":"…"}`, made once: the poll answers and the
    /// WebSocket frames all carry it.
    pub json: String,
}

impl Message {
    pub fn new(id: u64, time: u64, data: String) -> Message {
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
}

/// Someone to wake on publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    /// The event loop that owns the connection.
    pub worker: usize,
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
    /// Messages after the requested id were dropped from the log.
    pub gap: bool,
}

#[derive(Debug, Default)]
struct Channel {
    /// The newest `retain` messages, ids contiguous.
    log: VecDeque<Arc<Message>>,
    last_id: u64,
    subscribers: Vec<Subscriber>,
}

/// All channels.
#[derive(Debug)]
pub struct Hub {
    channels: HashMap<String, Channel>,
    retain: usize,
}

/// True for `[A-Za-z0-9_.-]{1,64}`.
pub fn valid_channel_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Hub {
    pub fn new(retain: usize) -> Hub {
        Hub {
            channels: HashMap::new(),
            retain: retain.max(1),
        }
    }

    fn channel(&mut self, name: &str) -> &mut Channel {
        if !self.channels.contains_key(name) {
            self.channels.insert(name.to_owned(), Channel::default());
        }
        self.channels.get_mut(name).expect("just inserted")
    }

    /// Appends a message; returns it and the subscribers to wake (once-only
    /// subscribers are removed from the channel as they are returned).
    pub fn publish(
        &mut self,
        name: &str,
        data: String,
        time: u64,
    ) -> (Arc<Message>, Vec<Subscriber>) {
        let retain = self.retain;
        let channel = self.channel(name);
        channel.last_id += 1;
        let message = Arc::new(Message::new(channel.last_id, time, data));
        if channel.log.len() == retain {
            channel.log.pop_front();
        }
        channel.log.push_back(Arc::clone(&message));
        let woken = channel.subscribers.clone();
        channel.subscribers.retain(|s| !s.once);
        (message, woken)
    }

    /// The retained messages with id > `after`. `after: None` means "from
    /// now": no messages, only `last_id`.
    pub fn replay(&self, name: &str, after: Option<u64>) -> Replay {
        let Some(channel) = self.channels.get(name) else {
            return Replay::default();
        };
        let mut replay = Replay {
            last_id: channel.last_id,
            ..Replay::default()
        };
        let Some(after) = after else { return replay };
        let Some(oldest) = channel.log.front().map(|m| m.id) else {
            return replay;
        };
        replay.gap = after + 1 < oldest;
        let skip = (after + 1).saturating_sub(oldest) as usize;
        replay.messages = channel.log.iter().skip(skip).cloned().collect();
        replay
    }

    /// The newest id of a channel (0 when nothing was ever published).
    pub fn last_id(&self, name: &str) -> u64 {
        self.channels.get(name).map_or(0, |c| c.last_id)
    }

    pub fn subscribe(&mut self, name: &str, subscriber: Subscriber) {
        self.channel(name).subscribers.push(subscriber);
    }

    /// Removes a connection from a channel's subscribers.
    pub fn unsubscribe(&mut self, name: &str, worker: usize, token: usize) {
        if let Some(channel) = self.channels.get_mut(name) {
            if let Some(i) = channel
                .subscribers
                .iter()
                .position(|s| s.worker == worker && s.token == token)
            {
                channel.subscribers.swap_remove(i);
            }
        }
    }

    /// Subscribers across all channels (for tests and `/stats`).
    pub fn subscriber_count(&self) -> usize {
        self.channels.values().map(|c| c.subscribers.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn channel_names() {
        assert!(valid_channel_name("demo.v1_A-z"));
        assert!(valid_channel_name(&"a".repeat(64)));
        for bad in ["", "a b", "a/b", "é", "%41", &"a".repeat(65)] {
            assert!(!valid_channel_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn replay_from_now_from_start_and_with_gap() {
        let mut hub = Hub::new(3);
        for i in 0..5 {
            hub.publish("c", format!("m{i}"), 1000 + i);
        }
        let now = hub.replay("c", None);
        assert_eq!((now.messages.len(), now.last_id, now.gap), (0, 5, false));
        let ids = |r: Replay| (r.messages.iter().map(|m| m.id).collect::<Vec<_>>(), r.gap);
        assert_eq!(ids(hub.replay("c", Some(0))), (vec![3, 4, 5], true));
        assert_eq!(ids(hub.replay("c", Some(2))), (vec![3, 4, 5], false));
        assert_eq!(ids(hub.replay("c", Some(4))), (vec![5], false));
        assert_eq!(ids(hub.replay("c", Some(9))), (vec![], false));
        assert_eq!(ids(hub.replay("unknown", Some(0))), (vec![], false));
    }

    #[test]
    fn once_subscribers_are_woken_once() {
        let mut hub = Hub::new(10);
        hub.subscribe(
            "c",
            Subscriber {
                worker: 0,
                token: 1,
                once: true,
            },
        );
        hub.subscribe(
            "c",
            Subscriber {
                worker: 0,
                token: 2,
                once: false,
            },
        );
        assert_eq!(hub.publish("c", "a".into(), 0).1.len(), 2);
        assert_eq!(
            hub.publish("c", "b".into(), 0).1,
            vec![Subscriber {
                worker: 0,
                token: 2,
                once: false
            }]
        );
        hub.unsubscribe("c", 0, 2);
        assert_eq!(hub.subscriber_count(), 0);
    }

    #[test]
    fn message_json_is_escaped() {
        let m = Message::new(7, 42, "say \"hi\"\n".into());
        assert_eq!(m.json, r#"{"id":7,"time":42,"data":"say \"hi\"\n"}"#);
    }

    proptest! {
        #[test]
        fn ids_increase_and_retention_keeps_the_newest(retain in 1usize..20, count in 0usize..60, after in 0u64..70) {
            let mut hub = Hub::new(retain);
            let mut last = 0;
            for i in 0..count {
                let (m, _) = hub.publish("p", i.to_string(), 0);
                prop_assert!(m.id > last);
                last = m.id;
            }
            let all = hub.replay("p", Some(0));
            let kept: Vec<u64> = all.messages.iter().map(|m| m.id).collect();
            let expected: Vec<u64> = ((count.saturating_sub(retain) + 1) as u64..=count as u64).collect();
            prop_assert_eq!(kept, expected);
            let r = hub.replay("p", Some(after));
            prop_assert!(r.messages.iter().all(|m| m.id > after));
            prop_assert_eq!(r.gap, !r.messages.is_empty() && r.messages[0].id > after + 1);
        }
    }
}
