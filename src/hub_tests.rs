use super::*;
use crate::store::{MemoryStore, Retention};
use proptest::prelude::*;

fn publish(hub: &mut Hub, channel: &str, data: &str) -> Published {
    let batch = [NewMessage {
        channel: channel.into(),
        time_ms: 1000,
        data: data.into(),
    }];
    hub.publish(&batch).expect("stored").pop().unwrap()
}

fn ids(replay: Replay) -> (Vec<u64>, bool) {
    (replay.messages.iter().map(|m| m.id).collect(), replay.gap)
}

const STREAM: Subscriber = Subscriber {
    event_loop: 0,
    token: 2,
    once: false,
};
const PARKED: Subscriber = Subscriber {
    event_loop: 0,
    token: 1,
    once: true,
};

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
    let mut hub = Hub::in_memory(3);
    for i in 0..5 {
        publish(&mut hub, "c", &format!("m{i}"));
    }
    let now = hub.replay("c", None).unwrap();
    assert_eq!((now.messages.len(), now.last_id, now.gap), (0, 5, false));
    let mut at = |after| ids(hub.replay("c", Some(after)).unwrap());
    assert_eq!(at(0), (vec![3, 4, 5], true));
    assert_eq!(at(2), (vec![3, 4, 5], false));
    assert_eq!(at(4), (vec![5], false));
    assert_eq!(at(5), (vec![], false));
    // An id never given out (another life of the channel) is a gap.
    assert_eq!(at(9), (vec![3, 4, 5], true));
    assert_eq!(at(u64::MAX), (vec![3, 4, 5], true));
    assert_eq!(
        ids(hub.replay("unknown", Some(0)).unwrap()),
        (vec![], false)
    );
    assert_eq!(ids(hub.replay("unknown", Some(1)).unwrap()), (vec![], true));
}

#[test]
fn once_subscribers_are_woken_once() {
    let mut hub = Hub::in_memory(10);
    assert!(matches!(
        hub.replay_or_park("c", None, PARKED).unwrap(),
        PollOutcome::Parked { after: 0 }
    ));
    assert!(hub
        .replay_and_subscribe("c", Some(0), STREAM)
        .unwrap()
        .messages
        .is_empty());
    assert_eq!(publish(&mut hub, "c", "a").subscribers.len(), 2);
    assert_eq!(publish(&mut hub, "c", "b").subscribers, vec![STREAM]);
    hub.unsubscribe("c", 0, 2);
    assert_eq!(hub.subscriber_count(), 0);
}

#[test]
fn message_json_is_escaped() {
    let m = Message::new(7, 42, "say \"hi\"\n".into());
    assert_eq!(m.json, r#"{"id":7,"time":42,"data":"say \"hi\"\n"}"#);
}

#[test]
fn windows_stay_within_their_budget_and_replays_fall_back_to_the_store() {
    let store = MemoryStore::new(Retention {
        count: 100,
        age: None,
    });
    let mut hub = Hub::new(Box::new(store), 100, 4096);
    for channel in 0..200 {
        for i in 0..3 {
            publish(
                &mut hub,
                &format!("c{channel}"),
                &format!("message {i} of {channel}"),
            );
        }
    }
    let (live, bytes) = hub.memory();
    assert!(bytes <= 4096, "{bytes}");
    assert!(live < 200, "idle channels left memory: {live} live");
    // The oldest channel's window is gone; its log is still whole.
    let replay = hub.replay("c0", Some(0)).unwrap();
    assert_eq!(ids(replay), (vec![1, 2, 3], false));
    let replay = hub.replay("c0", Some(1)).unwrap();
    assert_eq!(replay.messages[0].data.as_ref(), "message 1 of 0");
}

proptest! {
    #[test]
    fn ids_increase_and_retention_keeps_the_newest(
        retain in 1usize..20,
        count in 0usize..60,
        budget in prop_oneof![Just(usize::MAX), 0usize..2000],
        after in prop_oneof![0u64..70, Just(u64::MAX), any::<u64>()],
    ) {
        let store = MemoryStore::new(Retention { count: retain, age: None });
        let mut hub = Hub::new(Box::new(store), retain, budget);
        let mut last = 0;
        for i in 0..count {
            let id = publish(&mut hub, "p", &i.to_string()).message.id;
            prop_assert!(id > last);
            last = id;
        }
        let kept: Vec<u64> = ids(hub.replay("p", Some(0)).unwrap()).0;
        let expected: Vec<u64> = ((count.saturating_sub(retain) + 1) as u64..=count as u64).collect();
        prop_assert_eq!(kept, expected);
        let r = hub.replay("p", Some(after)).unwrap();
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

/// A hub over a shared store (as with `--redis`): the store behind it is
/// never read; channels come in through `load` and stay current through
/// `committed_elsewhere`.
fn shared_hub(retain: usize, age_ms: Option<u64>, budget: usize) -> Hub {
    let retention = Retention {
        count: retain,
        age: age_ms.map(std::time::Duration::from_millis),
    };
    Hub::over(
        Box::new(MemoryStore::new(retention)),
        retention,
        budget,
        true,
    )
}

fn stored(id: u64, time_ms: u64) -> Stored {
    Stored {
        id,
        time_ms,
        data: format!("m{id}").into(),
    }
}

/// The log of a channel retaining `oldest..=last`, at time = id.
fn page(oldest: u64, last: u64) -> Page {
    Page {
        state: ChannelState {
            oldest_id: oldest,
            last_id: last,
        },
        messages: (oldest..=last).map(|id| stored(id, id)).collect(),
    }
}

#[test]
fn a_shared_hub_serves_only_what_it_loaded_and_follows_it() {
    let mut hub = shared_hub(3, None, usize::MAX);
    let followed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&followed);
    hub.on_new_channel(Box::new(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }));
    // Not loaded: no request may reach the store from a loop.
    assert!(!hub.is_loaded("c"));
    assert!(hub.replay("c", Some(0)).is_err());
    hub.load("c", page(3, 5));
    assert!(hub.is_loaded("c"));
    assert_eq!(followed.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(hub.followed(), [("c".to_owned(), 5)]);
    assert_eq!(
        ids(hub.replay("c", Some(0)).unwrap()),
        (vec![3, 4, 5], true)
    );
    assert_eq!(ids(hub.replay("c", Some(3)).unwrap()), (vec![4, 5], false));
    // Loading again changes nothing: the reader keeps it current.
    hub.load("c", page(1, 1));
    assert_eq!(hub.followed(), [("c".to_owned(), 5)]);
    // Messages from any node arrive in id order; repeats are dropped.
    let replay = hub.replay_and_subscribe("c", None, STREAM).unwrap();
    assert_eq!(replay.last_id, 5);
    let published = hub.committed_elsewhere("c", stored(6, 6)).unwrap();
    assert_eq!(
        (published.message.id, published.subscribers),
        (6, vec![STREAM])
    );
    assert!(hub.committed_elsewhere("c", stored(6, 6)).is_none());
    assert!(hub.committed_elsewhere("other", stored(1, 1)).is_none());
    // The window is the whole retained log: 4..=6 with --retain 3.
    assert_eq!(
        ids(hub.replay("c", Some(0)).unwrap()),
        (vec![4, 5, 6], true)
    );
    // Released while subscribed: stays; after the last subscriber, gone.
    hub.release("c");
    assert!(hub.is_loaded("c"));
    hub.unsubscribe("c", STREAM.event_loop, STREAM.token);
    assert!(!hub.is_loaded("c"));
    hub.load("d", page(1, 2));
    hub.release("d");
    assert!(!hub.is_loaded("d"));
    // Publishes on their way to the store are counted until the writer is
    // through with them (requests on the channel first wait for them).
    hub.load("e", page(1, 2));
    let batch = [NewMessage {
        channel: "e".into(),
        time_ms: 3,
        data: "m3".into(),
    }];
    hub.publishing(&batch);
    hub.publishing(&batch);
    assert!(hub.has_publishes_in_flight("e"));
    hub.published(&batch);
    assert!(hub.has_publishes_in_flight("e"));
    hub.published(&batch);
    assert!(!hub.has_publishes_in_flight("e"));
}

#[test]
fn a_shared_hub_evicts_whole_channels_never_subscribed_ones() {
    let mut hub = shared_hub(100, None, 1);
    hub.load("kept", page(1, 3));
    hub.replay_and_subscribe("kept", Some(3), STREAM).unwrap();
    hub.load("gone", page(1, 3));
    // A load never evicts the channel it brings in: its request waits for it.
    assert!(hub.is_loaded("gone"));
    hub.load("next", page(1, 3));
    // Over budget: the unsubscribed channel left whole; the subscribed one
    // stayed whole.
    assert!(!hub.is_loaded("gone"));
    assert!(hub.is_loaded("next"));
    assert_eq!(
        ids(hub.replay("kept", Some(0)).unwrap()),
        (vec![1, 2, 3], false)
    );
}

#[test]
fn a_shared_hub_expires_windows_by_age() {
    let mut hub = shared_hub(100, Some(10), usize::MAX);
    hub.load("c", page(1, 30)); // message n published at n ms
                                // At 25 ms, messages before 15 ms are older than 10 ms.
    assert_eq!(hub.trim_expired(25).unwrap(), 14);
    let replay = hub.replay("c", Some(0)).unwrap();
    assert_eq!(replay.messages.first().map(|m| m.id), Some(15));
    assert!(replay.gap);
    assert!(!hub.replay("c", Some(14)).unwrap().gap);
    assert_eq!(hub.trim_expired(1_000).unwrap(), 16);
    let replay = hub.replay("c", Some(30)).unwrap();
    assert_eq!(
        (replay.messages.len(), replay.last_id, replay.gap),
        (0, 30, false)
    );
}
