//! Server-Sent Events over real sockets, read through a parser that follows
//! the WHATWG algorithm (tests/common/event_stream.rs).

mod common;

use std::time::Duration;

use common::event_stream::{normalize_line_breaks, EventStreamParser};
use common::{start, start_with, wait_for_stats, Client, SseClient};
use proptest::prelude::*;

#[test]
fn live_events_arrive_with_ids_and_the_right_head() {
    let server = start();
    let mut sse = SseClient::open(server.addr, "/ch/live/sse", "");
    for (name, value) in [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-store"),
        ("x-accel-buffering", "no"),
        ("transfer-encoding", "chunked"),
    ] {
        assert_eq!(sse.head.header(name), Some(value), "{name}");
    }
    let mut publisher = Client::connect(server.addr);
    for text in ["one", "two\nlines", ""] {
        publisher.post("/ch/live", text);
    }
    for (id, text) in [(1, "one"), (2, "two\nlines"), (3, "")] {
        let event = sse.next_event().expect("event");
        assert_eq!(
            (
                event.kind.as_str(),
                event.data.as_str(),
                event.last_event_id.as_str()
            ),
            ("message", text, &*id.to_string())
        );
    }
    assert_eq!(sse.parser.retry, Some(2000), "the stream opens with retry:");
}

#[test]
fn replays_after_the_query_id_and_last_event_id_wins() {
    let server = start();
    let mut publisher = Client::connect(server.addr);
    for i in 1..=5 {
        publisher.post("/ch/r", &format!("m{i}"));
    }
    let mut from_query = SseClient::open(server.addr, "/ch/r/sse?after=3", "");
    assert_eq!(from_query.next_event().unwrap().data, "m4");
    let mut from_header = SseClient::open(server.addr, "/ch/r/sse?after=0", "Last-Event-ID: 4\r\n");
    assert_eq!(from_header.next_event().unwrap().data, "m5");
}

#[test]
fn gap_event_comes_before_the_oldest_retained_message() {
    let server = start_with(|c| c.retain = 3);
    let mut publisher = Client::connect(server.addr);
    for i in 1..=10 {
        publisher.post("/ch/g", &format!("m{i}"));
    }
    let mut sse = SseClient::open(server.addr, "/ch/g/sse?after=2", "");
    let gap = sse.next_event().unwrap();
    assert_eq!(gap.kind, "gap");
    let ids: Vec<String> = (0..3)
        .map(|_| sse.next_event().unwrap().last_event_id)
        .collect();
    assert_eq!(ids, ["8", "9", "10"]);
}

#[test]
fn stream_from_now_ended_before_any_message_resumes_without_loss() {
    // The stream opens with `event: ready` and `id: 3`; EventSource keeps
    // that id and sends it back when it reconnects after the server ends
    // the stream, so what was published in between is not lost.
    let server = start_with(|c| c.sse_max_duration = Some(Duration::from_millis(200)));
    let mut publisher = Client::connect(server.addr);
    for i in 1..=3 {
        publisher.post("/ch/now", &format!("old{i}"));
    }
    let mut sse = SseClient::open(server.addr, "/ch/now/sse", "");
    let standing = sse.opening.clone().unwrap().last_event_id;
    assert_eq!(standing, "3");
    assert!(sse.next_event().is_none(), "the server ends the stream");
    publisher.post("/ch/now", "published while reconnecting");
    let mut again = SseClient::open(
        server.addr,
        "/ch/now/sse",
        &format!("Last-Event-ID: {standing}\r\n"),
    );
    let event = again.next_event().unwrap();
    assert_eq!(
        (event.data.as_str(), event.last_event_id.as_str()),
        ("published while reconnecting", "4")
    );
}

#[test]
fn malformed_last_event_id_is_a_gap_not_an_error() {
    // A 400 would end a browser's EventSource for good; an id this server
    // never gave out is answered like one older than the log.
    let server = start_with(|c| c.retain = 3);
    let mut publisher = Client::connect(server.addr);
    for i in 1..=4 {
        publisher.post("/ch/bad", &format!("m{i}"));
    }
    for header in ["Last-Event-ID: banana\r\n", "Last-Event-ID: 99\r\n"] {
        let mut sse = SseClient::open(server.addr, "/ch/bad/sse", header);
        assert_eq!(sse.next_event().unwrap().kind, "gap", "{header:?}");
        let ids: Vec<String> = (0..3)
            .map(|_| sse.next_event().unwrap().last_event_id)
            .collect();
        assert_eq!(ids, ["2", "3", "4"], "{header:?}");
    }
}

#[test]
fn resume_with_last_event_id_loses_and_repeats_nothing() {
    const COUNT: u64 = 10_000;
    let server = start_with(|c| c.retain = 20_000);
    let addr = server.addr;
    let publisher = common::spawn_publisher(addr, "resume", COUNT);
    let mut last = 0u64;
    let mut connections = 0;
    while last < COUNT {
        connections += 1;
        assert!(connections < 100, "too many reconnections");
        let header = if last == 0 {
            String::new()
        } else {
            format!("Last-Event-ID: {last}\r\n")
        };
        let mut sse = SseClient::open(addr, "/ch/resume/sse?after=0", &header);
        // Read a stretch, then drop the connection mid-stream.
        for _ in 0..1500 {
            if last == COUNT {
                break;
            }
            let event = sse.next_event().expect("stream ended");
            let id: u64 = event.last_event_id.parse().unwrap();
            assert_eq!(id, last + 1, "every id once, in order");
            assert_eq!(event.data, format!("m{id}"));
            last = id;
        }
    }
    publisher.join().unwrap();
    assert!(connections >= 7, "the test dropped and resumed the stream");
}

#[test]
fn quiet_stream_gets_heartbeat_comments() {
    let server = start_with(|c| c.sse_heartbeat = Duration::from_millis(100));
    let mut sse = SseClient::open(server.addr, "/ch/hb/sse", "");
    sse.wait_for_comments(3);
    // The heartbeats are comments: no event was dispatched.
    Client::connect(server.addr).post("/ch/hb", "real");
    assert_eq!(sse.next_event().unwrap().data, "real");
}

#[test]
fn http10_stream_ends_with_the_connection() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send("GET /ch/old/sse HTTP/1.0\r\n\r\n");
    let mut sse = SseClient::from_response(client);
    assert_eq!(sse.head.header("transfer-encoding"), None);
    assert_eq!(sse.head.header("connection"), Some("close"));
    Client::connect(server.addr).post("/ch/old", "for 1.0");
    assert_eq!(sse.next_event().unwrap().data, "for 1.0");
}

#[test]
fn max_duration_ends_streams_and_the_client_resumes_without_loss() {
    let server = start_with(|c| c.sse_max_duration = Some(Duration::from_millis(300)));
    let addr = server.addr;
    let publisher = std::thread::spawn(move || {
        let mut client = Client::connect(addr);
        for i in 1..=200 {
            client.post("/ch/cut", &format!("m{i}"));
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let (mut last, mut streams) = (0u64, 0);
    while last < 200 {
        streams += 1;
        assert!(streams < 50);
        let header = format!("Last-Event-ID: {last}\r\n");
        let mut sse = SseClient::open(addr, "/ch/cut/sse?after=0", &header);
        // Read until the server ends the stream (the last chunk).
        while let Some(event) = sse.next_event() {
            let id: u64 = event.last_event_id.parse().unwrap();
            assert_eq!(id, last + 1);
            last = id;
            if last == 200 {
                break;
            }
        }
    }
    publisher.join().unwrap();
    assert!(streams >= 2, "the server ended at least one stream");
}

#[test]
fn subscriber_that_never_reads_is_closed_and_the_rest_get_everything() {
    let server = start_with(|c| c.max_pending = 64 * 1024);
    let addr = server.addr;
    let stalled = SseClient::open(addr, "/ch/fan/sse", "");
    let readers: Vec<_> = (0..100)
        .map(|_| {
            let mut sse = SseClient::open(addr, "/ch/fan/sse", "");
            std::thread::spawn(move || {
                let mut count = 0u64;
                loop {
                    let event = sse.next_event().expect("reader's stream ended");
                    if event.data == "end" {
                        return count;
                    }
                    count += 1;
                    assert_eq!(event.last_event_id, count.to_string());
                }
            })
        })
        .collect();
    wait_for_stats(addr, Duration::from_secs(10), |s| {
        s["connections"]["sse"] == 101
    });
    let mut publisher = Client::connect(addr);
    let payload = "x".repeat(4096);
    let mut published = 0u64;
    // Kernel buffers absorb a few MB before the stalled client backs up.
    while common::stats(addr)["connections"]["sse"] == 101 {
        assert!(published < 4000, "the stalled subscriber was never closed");
        for _ in 0..50 {
            publisher.post("/ch/fan", &payload);
            published += 1;
        }
    }
    publisher.post("/ch/fan", "end");
    for reader in readers {
        assert_eq!(reader.join().unwrap(), published);
    }
    drop(stalled);
}

#[test]
fn broadcast_is_encoded_once() {
    let message = std::sync::Arc::new(rtweb::hub::Message::new(1, 0, "shared".into()));
    let delivery = rtweb::app::Delivery::new(message);
    assert!(std::sync::Arc::ptr_eq(
        &delivery.sse_chunk(),
        &delivery.sse_chunk()
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any text — every kind of line break, empty lines, leading spaces,
    /// colons — survives the encoder and the standard's parser.
    #[test]
    fn any_text_survives_encoding(text in "(\r\n|\r|\n|:| |a|é|data: x|id: 1|\u{0}){0,40}") {
        let mut bytes = Vec::new();
        rtweb::sse::encode_event(&mut bytes, Some(9), None, &text);
        let events = EventStreamParser::default().feed(&bytes);
        prop_assert_eq!(events.len(), 1);
        prop_assert_eq!(&events[0].data, &normalize_line_breaks(&text));
    }
}

#[test]
fn texts_survive_a_real_publish_and_stream() {
    let server = start();
    // The runner takes a `Fn`: the publisher and the case counter are cells.
    let publisher = std::cell::RefCell::new(Client::connect(server.addr));
    let case = std::cell::Cell::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 32,
        ..ProptestConfig::default()
    });
    runner
        .run(&"(\r\n|\r|\n|:| |x|ü|\t){0,30}", |text| {
            case.set(case.get() + 1);
            let channel = format!("/ch/p{}", case.get());
            publisher.borrow_mut().post(&channel, &text);
            let mut sse = SseClient::open(server.addr, &format!("{channel}/sse?after=0"), "");
            prop_assert_eq!(sse.next_event().unwrap().data, normalize_line_breaks(&text));
            Ok(())
        })
        .unwrap();
}
