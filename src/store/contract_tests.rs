//! The store contract (see `store/mod.rs`), checked against every store:
//! each test is one function taking a store, run once per implementation.

use std::sync::Arc;
use std::time::Duration;

use super::*;

/// Runs each listed test against a fresh memory store, a fresh SQLite
/// store (in its own temporary directory) and a fresh Redis store (its own
/// `redis-server`, when the machine has one), with the retention given.
macro_rules! for_every_store {
    ($($test:ident($retention:expr);)*) => {
        mod memory {
            use super::*;
            $(#[test]
            fn $test() {
                super::$test(&mut MemoryStore::new($retention));
            })*
        }
        mod sqlite {
            use super::*;
            $(#[test]
            fn $test() {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("data");
                let mut store = SqliteStore::open(&path, Durability::Normal, $retention).unwrap();
                super::$test(&mut store);
            })*
        }
        mod redis {
            use super::*;
            $(#[test]
            fn $test() {
                let Some(server) = TestRedis::start() else {
                    return;
                };
                let url = server.url();
                let mut store =
                    crate::store::redis::RedisStore::open(&url, "test:", $retention, Arc::default())
                        .unwrap();
                super::$test(&mut store);
            })*
        }
    };
}

/// A `redis-server` of the test's own on a free loopback port, killed on
/// drop; `None` (with the reason printed) on a machine without one, unless
/// `RTWEB_REQUIRE_REDIS=1` (CI) makes that a failure.
struct TestRedis {
    child: std::process::Child,
    port: u16,
}

impl TestRedis {
    fn start() -> Option<TestRedis> {
        use std::io::BufRead;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spawned = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = spawned else {
            let required = std::env::var("RTWEB_REQUIRE_REDIS").as_deref() == Ok("1");
            assert!(!required, "RTWEB_REQUIRE_REDIS=1 but no redis-server");
            eprintln!("SKIPPED: no redis-server on the PATH");
            return None;
        };
        let mut log = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("Ready to accept connections") {
            line.clear();
            assert!(log.read_line(&mut line).unwrap() > 0, "redis-server exited");
        }
        std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
        Some(TestRedis { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

for_every_store! {
    ids_start_at_one_and_are_contiguous(KEEP_ALL);
    one_batch_assigns_ids_in_order_across_channels(KEEP_ALL);
    read_after_any_id(KEEP_ALL);
    retention_by_count_keeps_the_newest(keep(3));
    retention_by_age_follows_the_clock_given(keep_for(10));
    times_never_go_backwards(KEEP_ALL);
}

const KEEP_ALL: Retention = Retention {
    count: 1000,
    age: None,
};

fn keep(count: usize) -> Retention {
    Retention { count, age: None }
}

fn keep_for(seconds: u64) -> Retention {
    Retention {
        count: 1000,
        age: Some(Duration::from_secs(seconds)),
    }
}

pub(super) fn message(channel: &str, time_ms: u64, data: &str) -> NewMessage {
    NewMessage {
        channel: channel.to_owned(),
        time_ms,
        data: Arc::from(data),
    }
}

/// Appends one message and returns its id.
pub(super) fn publish(store: &mut dyn Store, channel: &str, time_ms: u64, data: &str) -> u64 {
    store.append(&[message(channel, time_ms, data)]).unwrap()[0].id
}

/// The state of a channel retaining `oldest_id..=last_id`.
pub(super) fn retained(oldest_id: u64, last_id: u64) -> ChannelState {
    ChannelState { oldest_id, last_id }
}

fn ids(page: &Page) -> Vec<u64> {
    page.messages.iter().map(|m| m.id).collect()
}

fn ids_start_at_one_and_are_contiguous(store: &mut dyn Store) {
    assert_eq!(store.channel_state("a").unwrap(), ChannelState::NEW);
    assert_eq!(publish(store, "a", 1, "one"), 1);
    assert_eq!(publish(store, "a", 2, "two"), 2);
    assert_eq!(publish(store, "b", 3, "other channel"), 1);
    assert_eq!(publish(store, "a", 4, "three"), 3);
    let state = store.channel_state("a").unwrap();
    assert_eq!(state, retained(1, 3));
}

fn one_batch_assigns_ids_in_order_across_channels(store: &mut dyn Store) {
    publish(store, "b", 1, "b1");
    let batch = [
        message("a", 10, "a1"),
        message("b", 11, "b2"),
        message("a", 12, "a2"),
        message("a", 13, "a3"),
        message("b", 14, "b3"),
    ];
    let assigned = store.append(&batch).unwrap();
    let got: Vec<(u64, u64)> = assigned.iter().map(|a| (a.id, a.time_ms)).collect();
    assert_eq!(got, [(1, 10), (2, 11), (2, 12), (3, 13), (3, 14)]);
    let page = store.read_after("a", 0, 100).unwrap();
    let texts: Vec<&str> = page.messages.iter().map(|m| &*m.data).collect();
    assert_eq!(texts, ["a1", "a2", "a3"]);
    assert_eq!(page.messages[2].time_ms, 13);
    assert_eq!(store.read_after("b", 1, 100).unwrap().messages.len(), 2);
    assert!(store.append(&[]).unwrap().is_empty());
}

fn read_after_any_id(store: &mut dyn Store) {
    for n in 1..=5 {
        publish(store, "c", n, &format!("m{n}"));
    }
    let whole = retained(1, 5);
    for (after, want) in [
        (0, vec![1, 2, 3, 4, 5]),
        (2, vec![3, 4, 5]),
        (5, vec![]),
        (6, vec![]),
        (i64::MAX as u64, vec![]),
        (u64::MAX, vec![]),
    ] {
        let page = store.read_after("c", after, 100).unwrap();
        assert_eq!(ids(&page), want, "after {after}");
        assert_eq!(page.state, whole, "after {after}");
    }
    assert_eq!(ids(&store.read_after("c", 1, 2).unwrap()), [2, 3]);
    assert_eq!(
        ids(&store.read_after("c", 0, 0).unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(
        store.read_after("c", 1, 1).unwrap().messages[0].data,
        Arc::<str>::from("m2")
    );
    let unknown = store
        .read_after("never-used", u64::MAX, usize::MAX)
        .unwrap();
    assert_eq!(unknown.state, ChannelState::NEW);
    assert!(unknown.messages.is_empty());
}

fn retention_by_count_keeps_the_newest(store: &mut dyn Store) {
    for n in 1..=4 {
        publish(store, "r", n, "x");
    }
    // A batch larger than the retention keeps only its newest.
    let batch: Vec<_> = (5..=9).map(|n| message("r", n, "y")).collect();
    store.append(&batch).unwrap();
    let state = store.channel_state("r").unwrap();
    assert_eq!(state, retained(7, 9));
    assert_eq!(ids(&store.read_after("r", 0, 100).unwrap()), [7, 8, 9]);
    assert_eq!(ids(&store.read_after("r", 7, 100).unwrap()), [8, 9]);
    // The gap signal: 6 was seen, 7.. retained: no gap; 5 seen, 6 lost: gap.
    assert!(!state.gap_after(6));
    assert!(state.gap_after(5));
    assert!(!state.gap_after(9));
    // An id beyond the last belongs to another life of the channel.
    assert!(state.gap_after(10));
    assert!(state.gap_after(u64::MAX));
}

fn retention_by_age_follows_the_clock_given(store: &mut dyn Store) {
    const T: u64 = 1_700_000_000_000;
    for n in 0..5 {
        publish(store, "old", T + n * 1000, "x"); // ids 1..=5 at T+0s..T+4s
    }
    publish(store, "new", T + 20_000, "y");
    // Nothing is older than 10 s yet, nor with a clock near zero.
    assert_eq!(store.trim_expired(T + 10_000).unwrap(), 0);
    assert_eq!(store.trim_expired(5).unwrap(), 0);
    // At T+12.5s, the messages from before T+2.5s (ids 1..=3) are too old.
    assert_eq!(store.trim_expired(T + 12_500).unwrap(), 3);
    let state = store.channel_state("old").unwrap();
    assert_eq!(state, retained(4, 5));
    assert!(state.gap_after(2));
    assert!(!state.gap_after(3));
    // Everything of `old` expires; its ids go on.
    assert_eq!(store.trim_expired(T + 29_999).unwrap(), 2);
    let state = store.channel_state("old").unwrap();
    assert_eq!(state, retained(6, 5));
    assert!(state.gap_after(4));
    assert!(!state.gap_after(5));
    assert_eq!(publish(store, "old", T + 30_000, "z"), 6);
    assert_eq!(ids(&store.read_after("old", 0, 10).unwrap()), [6]);
    assert_eq!(ids(&store.read_after("new", 0, 10).unwrap()), [1]);
    assert_eq!(store.trim_expired(u64::MAX).unwrap(), 2);
}

fn times_never_go_backwards(store: &mut dyn Store) {
    publish(store, "t", 5_000, "a");
    // The clock steps back: the message keeps its predecessor's time.
    let assigned = store.append(&[message("t", 4_000, "b")]).unwrap();
    assert_eq!(assigned[0].time_ms, 5_000);
    let page = store.read_after("t", 0, 10).unwrap();
    let times: Vec<u64> = page.messages.iter().map(|m| m.time_ms).collect();
    assert_eq!(times, [5_000, 5_000]);
}
