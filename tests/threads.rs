//! Several event loops: connections are spread round-robin over the loops,
//! and a publish on any loop reaches every subscriber on every loop, in id
//! order per channel.

mod common;

use std::time::Duration;

use common::ws::WsClient;
use common::{start_with, wait_for_stats, Client, SseClient};

#[test]
fn subscribers_on_four_loops_get_a_burst_from_four_publishers_in_order() {
    const PER_PUBLISHER: u64 = 250;
    let server = start_with(|c| c.threads = 4);
    // 8 of each kind: with round-robin hand-out, every loop owns some.
    let mut sse: Vec<SseClient> = (0..8)
        .map(|_| SseClient::open(server.addr, "/ch/spread/sse", ""))
        .collect();
    let mut ws: Vec<WsClient> = (0..8)
        .map(|_| WsClient::connect(server.addr, "/ch/spread/ws"))
        .collect();
    wait_for_stats(server.addr, Duration::from_secs(5), |s| {
        s["connections"]["sse"] == 8 && s["connections"]["websocket"] == 8
    });

    // Four publishers on four connections (and so on different loops)
    // race each other: ids interleave, and deliveries cross loops.
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut batch = String::new();
                for i in 0..PER_PUBLISHER {
                    let body = format!("p{p}-{i}");
                    batch += &format!(
                        "POST /ch/spread HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                }
                client.send(batch);
                (0..PER_PUBLISHER)
                    .map(|_| client.response().json()["id"].as_u64().unwrap())
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut ids: Vec<u64> = publishers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=4 * PER_PUBLISHER).collect::<Vec<_>>(),
        "every publish got its own id"
    );

    for subscriber in &mut sse {
        for id in 1..=4 * PER_PUBLISHER {
            assert_eq!(
                subscriber.next_event().unwrap().last_event_id,
                id.to_string()
            );
        }
    }
    for subscriber in &mut ws {
        for id in 1..=4 * PER_PUBLISHER {
            assert_eq!(subscriber.frame().json()["id"], id);
        }
    }
}

#[test]
fn long_polls_on_every_loop_are_woken_by_one_publish() {
    let server = start_with(|c| c.threads = 4);
    let mut waiters: Vec<Client> = (0..40).map(|_| Client::connect(server.addr)).collect();
    for waiter in &mut waiters {
        waiter.send("GET /ch/wake/longpoll HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    }
    wait_for_stats(server.addr, Duration::from_secs(5), |s| {
        s["connections"]["longpoll"] == 40
    });
    Client::connect(server.addr).post("/ch/wake", "all loops");
    for waiter in &mut waiters {
        assert_eq!(waiter.response().json()["messages"][0]["data"], "all loops");
    }
}
