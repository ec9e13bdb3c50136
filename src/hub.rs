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
//!
//! The hub is shared by every event loop behind one lock, so each operation
//! that must not be split by a publish is one method here: replay and
//! subscribe ([`Hub::replay_and_subscribe`]), or replay and park when there
//! is nothing to replay ([`Hub::replay_or_park`]). `app/subscription.rs` is
//! the one module that calls them.

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

    /// Replays after `after` and subscribes, atomically: no publish can fall
    /// between the two.
    pub fn replay_and_subscribe(
        &mut self,
        name: &str,
        after: Option<u64>,
        subscriber: Subscriber,
    ) -> Replay {
        let replay = self.replay(name, after);
        self.subscribe(name, subscriber);
        replay
    }

    /// What a long poll needs, atomically: the messages after `after` (`None`:
    /// after the newest) if there are any; otherwise `None`, and `subscriber`
    /// is parked on the channel until the next publish.
    pub fn replay_or_park(
        &mut self,
        name: &str,
        after: Option<u64>,
        subscriber: Subscriber,
    ) -> Result<Replay, u64> {
        let after = after.unwrap_or_else(|| self.last_id(name));
        let replay = self.replay(name, Some(after));
        if replay.messages.is_empty() && !replay.gap {
            self.subscribe(name, subscriber);
            return Err(after);
        }
        Ok(replay)
    }

    /// The retained messages with id > `after`. `after: None` means "from
    /// now": no messages, only `last_id`.
    pub fn replay(&self, name: &str, after: Option<u64>) -> Replay {
        let channel = self.channels.get(name);
        let retained = || channel.iter().flat_map(|c| c.log.iter()).cloned();
        let mut replay = Replay {
            last_id: channel.map_or(0, |c| c.last_id),
            ..Replay::default()
        };
        let Some(after) = after else { return replay };
        if after > replay.last_id {
            // An id this channel never gave out: it belongs to another life
            // of the channel (a server restarted without its data). Answered
            // as for an id older than the log: say so, send what is retained.
            replay.gap = true;
            replay.messages = retained().collect();
            return replay;
        }
        let Some(oldest) = channel.and_then(|c| c.log.front()).map(|m| m.id) else {
            return replay;
        };
        // Checked arithmetic: `after` comes from a client and may be u64::MAX.
        replay.gap = after < oldest - 1;
        let skip = usize::try_from(after.saturating_sub(oldest - 1)).unwrap_or(usize::MAX);
        replay.messages = retained().skip(skip).collect();
        replay
    }

    /// The newest id of a channel (0 when nothing was ever published).
    pub fn last_id(&self, name: &str) -> u64 {
        self.channels.get(name).map_or(0, |c| c.last_id)
    }

    fn subscribe(&mut self, name: &str, subscriber: Subscriber) {
        self.channel(name).subscribers.push(subscriber);
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
        channel.last_id
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
        assert_eq!(ids(hub.replay("c", Some(5))), (vec![], false));
        // An id never given out (another life of the channel) is a gap.
        assert_eq!(ids(hub.replay("c", Some(9))), (vec![3, 4, 5], true));
        assert_eq!(ids(hub.replay("c", Some(u64::MAX))), (vec![3, 4, 5], true));
        assert_eq!(ids(hub.replay("unknown", Some(0))), (vec![], false));
        assert_eq!(ids(hub.replay("unknown", Some(1))), (vec![], true));
    }

    #[test]
    fn once_subscribers_are_woken_once() {
        let mut hub = Hub::new(10);
        let parked = Subscriber {
            event_loop: 0,
            token: 1,
            once: true,
        };
        assert_eq!(hub.replay_or_park("c", None, parked).unwrap_err(), 0);
        let stream = Subscriber {
            event_loop: 0,
            token: 2,
            once: false,
        };
        assert!(hub
            .replay_and_subscribe("c", Some(0), stream)
            .messages
            .is_empty());
        assert_eq!(hub.publish("c", "a".into(), 0).1.len(), 2);
        assert_eq!(
            hub.publish("c", "b".into(), 0).1,
            vec![Subscriber {
                event_loop: 0,
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
        fn ids_increase_and_retention_keeps_the_newest(retain in 1usize..20, count in 0usize..60, after in prop_oneof![0u64..70, Just(u64::MAX), any::<u64>()]) {
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
            if after > count as u64 {
                // An id never given out: a gap, and everything retained.
                prop_assert!(r.gap);
                prop_assert_eq!(r.messages.len(), count.min(retain));
            } else {
                prop_assert!(r.messages.iter().all(|m| m.id > after));
                prop_assert_eq!(r.gap, !r.messages.is_empty() && r.messages[0].id > after + 1);
            }
        }
    }
}
