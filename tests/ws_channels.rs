//! `/ch/{name}/ws`: WebSocket subscribers and publishers of a channel.

mod common;

use std::time::Duration;

use common::ws::WsClient;
use common::{start, start_with, wait_for_stats, Client};
use rtweb::ws::OpCode;

#[test]
fn messages_arrive_as_the_poll_json_from_post_and_from_ws() {
    let server = start();
    let mut subscriber = WsClient::connect(server.addr, "/ch/room/ws");
    let mut publisher = WsClient::connect(server.addr, "/ch/room/ws");
    Client::connect(server.addr).post("/ch/room", "via POST");
    publisher.send_text("via \"WS\"");
    // A WebSocket publish has no answer: it is committed once the
    // subscriber has it (deliveries follow the store's commit).
    let frames = [subscriber.frame(), subscriber.frame()];
    let poll = Client::connect(server.addr)
        .get("/ch/room/poll?after=0")
        .json();
    for (i, expected) in ["via POST", "via \"WS\""].into_iter().enumerate() {
        let frame = &frames[i];
        assert_eq!(frame.opcode, OpCode::Text);
        assert_eq!(frame.json()["data"], expected);
        assert_eq!(
            frame.json(),
            poll["messages"][i],
            "the same object the poll carries"
        );
    }
    // The publisher is a subscriber too.
    assert_eq!(publisher.frame().json()["id"], 1);
}

#[test]
fn resume_after_an_id_and_report_a_gap() {
    let server = start_with(|c| c.retain = 3);
    let mut client = Client::connect(server.addr);
    for i in 1..=5 {
        client.post("/ch/r", &format!("m{i}"));
    }
    let mut resumed = WsClient::connect(server.addr, "/ch/r/ws?after=3");
    assert_eq!(resumed.frame().json()["id"], 4);
    assert_eq!(resumed.frame().json()["id"], 5);
    let mut gapped = WsClient::connect(server.addr, "/ch/r/ws?after=1");
    assert_eq!(gapped.frame().json(), serde_json::json!({"gap": true}));
    assert_eq!(gapped.frame().json()["id"], 3);
}

#[test]
fn binary_frames_are_refused_with_1003_and_the_close_handshake_completes() {
    let server = start();
    let mut ws = WsClient::connect(server.addr, "/ch/b/ws");
    ws.send_frame(true, OpCode::Binary, b"\x00\x01");
    let close = ws.frame();
    assert_eq!(close.close_code(), Some(1003));
    // We answer the server's Close; the server then closes TCP.
    ws.send_frame(true, OpCode::Close, &close.payload[..2]);
    assert!(ws.client.closed_within(Duration::from_secs(5)));
    assert_eq!(
        Client::connect(server.addr)
            .get("/ch/b/poll?after=0")
            .json()["last_id"],
        0,
        "nothing was published"
    );
}

#[test]
fn subscribers_leave_the_hub_when_they_disconnect() {
    let server = start();
    drop(WsClient::connect(server.addr, "/ch/gone/ws"));
    let stats = wait_for_stats(server.addr, Duration::from_secs(5), |s| {
        s["connections"]["websocket"] == 0
    });
    assert_eq!(stats["connections"]["websocket"], 0);
    assert_eq!(server.shared.hub().subscriber_count(), 0);
}

#[test]
fn a_thousand_subscribers_receive_a_burst_of_a_hundred_in_order() {
    let server = start();
    let mut subscribers: Vec<WsClient> = (0..1000)
        .map(|_| WsClient::connect(server.addr, "/ch/burst/ws"))
        .collect();
    let mut publisher = Client::connect(server.addr);
    let mut batch = String::new();
    for i in 1..=100 {
        let body = format!("b{i}");
        batch += &format!(
            "POST /ch/burst HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    }
    publisher.send(batch);
    for subscriber in &mut subscribers {
        for i in 1..=100u64 {
            let message = subscriber.frame().json();
            assert_eq!(
                (message["id"].as_u64(), message["data"].as_str()),
                (Some(i), Some(&*format!("b{i}")))
            );
        }
    }
}

#[test]
fn socket_from_now_closed_before_any_message_resumes_without_loss() {
    let server = start_with(|c| c.ws_max_duration = Some(Duration::from_millis(200)));
    let mut publisher = Client::connect(server.addr);
    publisher.post("/ch/wnow", "old");
    let mut ws = WsClient::connect(server.addr, "/ch/wnow/ws");
    let last_id = ws.opening.clone().unwrap()["last_id"].as_u64().unwrap();
    assert_eq!(last_id, 1);
    assert_eq!(
        ws.frame().close_code(),
        Some(1001),
        "the server sends it away"
    );
    publisher.post("/ch/wnow", "published while reconnecting");
    let mut again = WsClient::connect(server.addr, &format!("/ch/wnow/ws?after={last_id}"));
    let message = again.frame().json();
    assert_eq!(message["id"], 2);
    assert_eq!(message["data"], "published while reconnecting");
}

#[test]
fn broadcast_frame_is_encoded_once() {
    let message = std::sync::Arc::new(rtweb::hub::Message::new(1, 0, "shared".into()));
    let delivery = rtweb::app::Delivery::new(message);
    assert!(std::sync::Arc::ptr_eq(
        &delivery.ws_frame(),
        &delivery.ws_frame()
    ));
}

#[test]
fn max_duration_closes_with_1001_and_the_client_resumes() {
    let server = start_with(|c| c.ws_max_duration = Some(Duration::from_millis(200)));
    let mut ws = WsClient::connect(server.addr, "/ch/md/ws");
    Client::connect(server.addr).post("/ch/md", "before");
    assert_eq!(ws.frame().json()["id"], 1);
    let close = ws.frame();
    assert_eq!(close.close_code(), Some(1001));
    ws.send_frame(true, OpCode::Close, &close.payload[..2]);
    assert!(ws.client.closed_within(Duration::from_secs(5)));
    Client::connect(server.addr).post("/ch/md", "while away");
    let mut resumed = WsClient::connect(server.addr, "/ch/md/ws?after=1");
    assert_eq!(resumed.frame().json()["data"], "while away");
}

#[test]
fn a_message_sent_while_the_server_closes_is_still_published() {
    let server = start_with(|c| c.ws_max_duration = Some(Duration::from_millis(100)));
    let mut ws = WsClient::connect(server.addr, "/ch/inflight/ws");
    let close = ws.frame();
    assert_eq!(close.close_code(), Some(1001));
    // The client had this in flight before it read the server's Close.
    ws.send_text("sent before seeing the close");
    ws.send_frame(true, OpCode::Close, &close.payload[..2]);
    // Well inside the 5 s close timeout, which would end it anyway.
    assert!(ws.client.closed_within(Duration::from_secs(2)));
    let poll = Client::connect(server.addr)
        .get("/ch/inflight/poll?after=0")
        .json();
    assert_eq!(poll["messages"][0]["data"], "sent before seeing the close");
}

#[test]
fn close_handshake_completes_when_the_last_message_and_the_close_arrive_together() {
    // The published message is delivered back to this very subscriber in
    // the same loop pass as its Close: that delivery must not cancel the
    // close (this once left the connection open).
    let server = start_with(|c| c.ws_max_duration = Some(Duration::from_millis(100)));
    let mut ws = WsClient::connect(server.addr, "/ch/together/ws");
    let close = ws.frame();
    assert_eq!(close.close_code(), Some(1001));
    let mut both = Vec::new();
    let mask = [9, 8, 7, 6];
    rtweb::ws::frame::write_client_frame(&mut both, true, OpCode::Text, b"last words", mask);
    rtweb::ws::frame::write_client_frame(&mut both, true, OpCode::Close, &close.payload[..2], mask);
    ws.client.send(both);
    // Well inside the 5 s close timeout, which would end it anyway.
    assert!(
        ws.client.closed_within(Duration::from_secs(2)),
        "TCP closed after the handshake"
    );
    let poll = Client::connect(server.addr)
        .get("/ch/together/poll?after=0")
        .json();
    assert_eq!(poll["messages"][0]["data"], "last words");
}
