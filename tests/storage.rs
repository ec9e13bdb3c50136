//! Channels that survive a restart (issue 12), on real server processes,
//! real files and real signals: a `kill -9` in the middle of heavy
//! publishing loses nothing that was acknowledged; a store that lost its
//! past (a `--memory` restart, a deleted data directory) tells resuming
//! clients of all four techniques `gap`; a full disk answers `507` and
//! recovers; retention by age trims the log.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{fresh_data_dir, ServerProcess};
use common::publisher::Publisher;
use common::ws::WsClient;
use common::{Client, SseClient};

fn data_arg(dir: &Path) -> String {
    dir.to_str().unwrap().to_owned()
}

/// Every message of `channel` after `after`, by short poll.
fn poll(addr: SocketAddr, channel: &str, after: u64) -> serde_json::Value {
    Client::connect(addr)
        .get(&format!("/ch/{channel}/poll?after={after}"))
        .json()
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let dir = fresh_data_dir();
    let data = data_arg(&dir);
    let args = ["--threads", "2", "--retain", "20000", "--data", &data];
    let server = ServerProcess::start(&args);
    let addr = server.addr;
    let acknowledged = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    // Killed somewhere between a tenth and nine tenths of the way.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let kill_at = 1_000 + (nanos % 8_000) as usize;
    let publishers: Vec<_> = (0..4)
        .map(|k| {
            let acknowledged = Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                let mut publisher = Publisher::connect(addr);
                for i in 0..2_500 {
                    let text = format!("p{k}-{i}");
                    let Some(id) = publisher.publish("crash", &text) else {
                        return;
                    };
                    acknowledged.lock().unwrap().push((id, text));
                }
            })
        })
        .collect();
    // Wait (bounded: the publishers finish on their own) for the kill point.
    while acknowledged.lock().unwrap().len() < kill_at
        && publishers.iter().any(|p| !p.is_finished())
    {
        std::thread::yield_now();
    }
    server.signal("KILL");
    for publisher in publishers {
        publisher.join().unwrap();
    }
    drop(server);

    let server = ServerProcess::start(&args);
    let addr = server.addr;
    let stored = poll(addr, "crash", 0);
    let messages = stored["messages"].as_array().unwrap();
    let ids: Vec<u64> = messages.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    let last = *ids.last().expect("messages survived");
    assert_eq!(
        ids,
        (1..=last).collect::<Vec<_>>(),
        "dense, in order, none twice"
    );
    let acknowledged = acknowledged.lock().unwrap();
    eprintln!(
        "kill -9 after {} acknowledged (aimed at {kill_at}); {last} stored",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() >= kill_at.min(10_000) - 4,
        "killed mid-run"
    );
    for (id, text) in acknowledged.iter() {
        let kept = &messages[(*id - 1) as usize];
        assert_eq!(kept["data"], text.as_str(), "message {id} as acknowledged");
    }
    // Ids continue above the last, never reused.
    let next = Client::connect(addr).post("/ch/crash", "after").json();
    assert_eq!(next["id"], last + 1);

    // Subscribers resuming with an id from before the crash get everything
    // after it, once, in order — on each technique.
    let from = last / 2;
    let expect: Vec<u64> = (from + 1..=last + 1).collect();
    let mut sse = SseClient::open(addr, "/ch/crash/sse", &format!("Last-Event-ID: {from}\r\n"));
    let got: Vec<u64> = (0..expect.len())
        .map(|_| sse.next_event().unwrap().last_event_id.parse().unwrap())
        .collect();
    assert_eq!(got, expect, "SSE");
    let mut ws = WsClient::connect(addr, &format!("/ch/crash/ws?after={from}"));
    let got: Vec<u64> = (0..expect.len())
        .map(|_| ws.frame().json()["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, expect, "WebSocket");
    let long = Client::connect(addr)
        .get(&format!("/ch/crash/longpoll?after={from}"))
        .json();
    let got: Vec<u64> = long["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, expect, "long poll");
}

/// Publishes 3 messages, restarts the server with `restart_args` (after
/// `between` has run), and resumes from id 3 on all four techniques: each
/// must be told `gap`, never silently nothing.
fn resuming_after_a_lost_past_is_a_gap(first: &[&str], restart: &[&str], between: impl FnOnce()) {
    let mut server = ServerProcess::start(first);
    let mut client = Client::connect(server.addr);
    for text in ["a", "b", "c"] {
        assert_eq!(client.post("/ch/life", text).status, 200);
    }
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(5)).is_some());
    between();
    let server = ServerProcess::start(restart);
    let addr = server.addr;
    assert_eq!(poll(addr, "life", 3)["gap"], true, "short poll");
    let long = Client::connect(addr)
        .get("/ch/life/longpoll?after=3&timeout=5")
        .json();
    assert_eq!(long["gap"], true, "long poll: {long}");
    let mut sse = SseClient::open(addr, "/ch/life/sse", "Last-Event-ID: 3\r\n");
    assert_eq!(sse.next_event().unwrap().kind, "gap", "SSE");
    let mut ws = WsClient::connect(addr, "/ch/life/ws?after=3");
    assert_eq!(ws.frame().json()["gap"], true, "WebSocket");
    // And the channel goes on from a fresh start, told as such.
    assert_eq!(Client::connect(addr).post("/ch/life", "d").json()["id"], 1);
}

#[test]
fn a_memory_restart_tells_resuming_clients_gap() {
    resuming_after_a_lost_past_is_a_gap(&["--memory"], &["--memory"], || {});
}

#[test]
fn a_deleted_data_directory_tells_resuming_clients_gap() {
    let dir = fresh_data_dir();
    let data = data_arg(&dir);
    let args = ["--data", data.as_str()];
    resuming_after_a_lost_past_is_a_gap(&args, &args, || {
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn ids_and_retention_by_count_continue_across_restarts() {
    let dir = fresh_data_dir();
    let data = data_arg(&dir);
    let args = ["--retain", "5", "--data", data.as_str()];
    for round in 0..3u64 {
        let mut server = ServerProcess::start(&args);
        let mut client = Client::connect(server.addr);
        for i in 1..=4 {
            let id = client.post("/ch/kept", &format!("r{round}-{i}")).json()["id"]
                .as_u64()
                .unwrap();
            assert_eq!(id, round * 4 + i);
        }
        let log = poll(server.addr, "kept", 0);
        let ids: Vec<u64> = log["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        let newest = round * 4 + 4;
        let oldest = newest.saturating_sub(4).max(1);
        assert_eq!(ids, (oldest..=newest).collect::<Vec<_>>(), "round {round}");
        assert_eq!(log["gap"], round > 0, "after=0 is older than the log");
        server.signal("TERM");
        assert!(server.wait_exit(Duration::from_secs(5)).unwrap().success());
    }
}

#[test]
fn retention_by_age_trims_the_log() {
    let server = ServerProcess::start(&["--retain-for", "1"]);
    let addr = server.addr;
    let mut client = Client::connect(addr);
    assert_eq!(client.post("/ch/aged", "old").json()["id"], 1);
    // A long poll on a quiet channel is the test's clock: it answers after
    // its timeout, 2 s, by which time the trim (every second) has run.
    let quiet = client.get("/ch/quiet/longpoll?timeout=2").json();
    assert_eq!(quiet["messages"], serde_json::json!([]));
    let log = poll(addr, "aged", 0);
    assert_eq!(log["messages"], serde_json::json!([]), "{log}");
    assert_eq!(log["last_id"], 1, "the id is not forgotten");
    assert_eq!(client.post("/ch/aged", "new").json()["id"], 2);
}

/// A full disk: publishes get 507 with a reason, subscribers keep being
/// served, and publishing works again once space is freed. Needs a small
/// tmpfs, so root; elsewhere it says why and skips.
#[test]
fn a_full_disk_answers_507_and_recovers() {
    let mount = fresh_data_dir();
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mount)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mount);
    // Room to free later: a filler file taking most of the 2 MiB.
    let filler = mount.join("filler");
    std::fs::write(&filler, vec![0u8; 1024 * 1024]).unwrap();
    let data = mount.join("data");
    let server = ServerProcess::start(&["--data", data.to_str().unwrap()]);
    let addr = server.addr;
    let mut sse = SseClient::open(addr, "/ch/disk/sse", "");
    let mut publisher = Client::connect(addr);
    let text = "f".repeat(32 * 1024);
    let mut accepted = 0;
    let refusal = loop {
        let reply = publisher.post("/ch/disk", &text);
        match reply.status {
            200 => accepted += 1,
            507 => break reply.text(),
            other => panic!("unexpected {other}: {}", reply.text()),
        }
        assert!(accepted < 200, "2 MiB never filled up");
    };
    assert!(accepted > 0);
    assert!(!refusal.is_empty(), "a plain-text reason");
    eprintln!("disk full after {accepted} messages: 507 {refusal}");
    // The subscriber got every accepted message, and is still served.
    for i in 1..=accepted {
        assert_eq!(sse.next_event().unwrap().last_event_id, i.to_string());
    }
    assert_eq!(poll(addr, "disk", 0)["last_id"], accepted);
    std::fs::remove_file(&filler).unwrap();
    let reply = publisher.post("/ch/disk", "space again");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["id"], accepted + 1);
    assert_eq!(sse.next_event().unwrap().data, "space again");
}
