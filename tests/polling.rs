//! Short and long polling over real sockets.

mod common;

use std::time::{Duration, Instant};

use common::{start, start_with, wait_for_stats, Client};

#[test]
fn poll_before_and_after_publishes() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let empty = client.get("/ch/news/poll").json();
    assert_eq!(
        empty,
        serde_json::json!({"messages": [], "last_id": 0, "gap": false})
    );
    for text in ["one", "two", "three"] {
        client.post("/ch/news", text);
    }
    // Without `after`: start from now — no messages, just the last id.
    let now = client.get("/ch/news/poll").json();
    assert_eq!(
        (now["messages"].as_array().unwrap().len(), &now["last_id"]),
        (0, &serde_json::json!(3))
    );
    let after1 = client.get("/ch/news/poll?after=1").json();
    let ids: Vec<u64> = after1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [2, 3]);
    assert_eq!(after1["messages"][1]["data"], "three");
    assert!(
        after1["messages"][0]["time"].as_u64().unwrap() > 1_600_000_000_000,
        "time is ms since the epoch"
    );
    assert_eq!(
        client.get("/ch/news/poll?after=3").json()["messages"],
        serde_json::json!([])
    );
}

#[test]
fn json_escaping_round_trips_through_a_real_parser() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let text = "quote \" backslash \\ newline \n tab \t bell \u{7} nul-free ünïcödé 😀 </script>";
    client.post("/ch/esc", text);
    let reply = client.get("/ch/esc/poll?after=0");
    assert_eq!(reply.json()["messages"][0]["data"], text);
}

#[test]
fn publish_rejects_bad_names_bad_text_and_large_bodies() {
    let server = start_with(|c| c.max_message = 16);
    let mut client = Client::connect(server.addr);
    assert_eq!(client.post("/ch/bad%20name", "x").status, 400);
    assert_eq!(
        client.post(&format!("/ch/{}", "a".repeat(65)), "x").status,
        400
    );
    assert_eq!(client.get("/ch/no*pe/poll").status, 400);
    assert_eq!(client.get("/ch/ok/poll?after=minus1").status, 400);
    client.send(b"POST /ch/ok HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n\xff\xfe");
    assert_eq!(client.response().status, 400);
    assert_eq!(client.post("/ch/ok", &"x".repeat(17)).status, 413);
}

#[test]
fn long_poll_is_answered_promptly_by_a_publish() {
    let server = start();
    let mut waiter = Client::connect(server.addr);
    waiter.send("GET /ch/lp/longpoll?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    wait_for_stats(server.addr, Duration::from_secs(5), |s| {
        s["connections"]["longpoll"] == 1
    });
    let published = Instant::now();
    Client::connect(server.addr).post("/ch/lp", "wake");
    let reply = waiter.response();
    let latency = published.elapsed();
    assert_eq!(reply.json()["messages"][0]["data"], "wake");
    assert!(
        latency < Duration::from_millis(50),
        "answered {latency:?} after the publish"
    );
}

#[test]
fn long_poll_with_news_answers_at_once() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.post("/ch/lp", "already here");
    let reply = client.get("/ch/lp/longpoll?after=0&timeout=60");
    assert_eq!(reply.json()["messages"][0]["data"], "already here");
}

#[test]
fn long_poll_timeout_answers_with_an_empty_list() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.post("/ch/quiet", "old");
    let start = Instant::now();
    let reply = client.get("/ch/quiet/longpoll?after=1&timeout=1");
    let waited = start.elapsed();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        serde_json::json!({"messages": [], "last_id": 1, "gap": false})
    );
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn parked_client_that_disconnects_disappears() {
    let server = start();
    {
        let mut client = Client::connect(server.addr);
        client.send("GET /ch/gone/longpoll HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let parked = wait_for_stats(server.addr, Duration::from_secs(5), |s| {
            s["connections"]["longpoll"] == 1
        });
        assert_eq!(parked["connections"]["longpoll"], 1);
    }
    let after = wait_for_stats(server.addr, Duration::from_secs(5), |s| {
        s["connections"]["longpoll"] == 0
    });
    assert_eq!(after["connections"]["longpoll"], 0, "{after}");
    assert_eq!(server.shared.hub().subscriber_count(), 0);
}

#[test]
fn pipelined_requests_wait_behind_a_parked_long_poll() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send("GET /ch/q/longpoll HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /ch/q/poll?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    wait_for_stats(server.addr, Duration::from_secs(5), |s| {
        s["connections"]["longpoll"] == 1
    });
    Client::connect(server.addr).post("/ch/q", "first");
    let first = client.response().json();
    let second = client.response().json();
    assert_eq!(first["messages"][0]["data"], "first");
    assert_eq!(
        second["last_id"], 1,
        "answered after the long poll, in order"
    );
}

#[test]
fn one_publish_answers_a_thousand_parked_long_polls() {
    let server = start();
    let mut waiters: Vec<Client> = (0..1000).map(|_| Client::connect(server.addr)).collect();
    for waiter in &mut waiters {
        waiter.send("GET /ch/many/longpoll?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    }
    let parked = wait_for_stats(server.addr, Duration::from_secs(10), |s| {
        s["connections"]["longpoll"] == 1000
    });
    assert_eq!(parked["connections"]["longpoll"], 1000);
    Client::connect(server.addr).post("/ch/many", "everyone");
    for waiter in &mut waiters {
        assert_eq!(waiter.response().json()["messages"][0]["id"], 1);
    }
}

#[test]
fn looping_long_poller_receives_every_id_once_in_order() {
    const COUNT: u64 = 10_000;
    let server = start_with(|c| c.retain = 20_000);
    let addr = server.addr;
    let publisher = common::spawn_publisher(addr, "stream", COUNT);
    let mut client = Client::connect(addr);
    let mut last = 0u64;
    let mut requests = 0;
    while last < COUNT {
        requests += 1;
        assert!(requests <= COUNT + 10, "more requests than messages");
        let reply = client
            .get(&format!("/ch/stream/longpoll?after={last}&timeout=10"))
            .json();
        assert_eq!(reply["gap"], false);
        for message in reply["messages"].as_array().unwrap() {
            let id = message["id"].as_u64().unwrap();
            assert_eq!(id, last + 1, "ids arrive once each, in order");
            assert_eq!(message["data"], format!("m{id}"));
            last = id;
        }
    }
    publisher.join().unwrap();
}

#[test]
fn resuming_after_an_evicted_id_reports_the_gap() {
    let server = start_with(|c| c.retain = 5);
    let mut client = Client::connect(server.addr);
    for i in 1..=12 {
        client.post("/ch/g", &format!("m{i}"));
    }
    for path in ["/ch/g/poll?after=2", "/ch/g/longpoll?after=2"] {
        let reply = client.get(path).json();
        assert_eq!(reply["gap"], true, "{path}");
        let ids: Vec<u64> = reply["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [8, 9, 10, 11, 12], "{path}");
    }
    // Resuming from inside the window is no gap.
    assert_eq!(client.get("/ch/g/poll?after=7").json()["gap"], false);
}

#[test]
fn stats_count_publishes_deliveries_requests_and_bytes() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.post("/ch/s", "a");
    client.post("/ch/s", "b");
    assert_eq!(
        client.get("/ch/s/poll?after=0").json()["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        client.get("/ch/s/longpoll?after=1").json()["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let stats = client.get("/stats").json();
    assert_eq!(stats["messages_published"], 2);
    assert_eq!(
        stats["messages_delivered"], 3,
        "two by the poll, one by the long poll"
    );
    assert_eq!(stats["requests"], 5, "the /stats request counts itself");
    assert_eq!(stats["connections"]["http"], 1);
    assert!(stats["bytes_in"].as_u64().unwrap() > 100);
    assert!(
        stats["bytes_out"].as_u64().unwrap() > 400,
        "four answers were written before this one"
    );
}
