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
