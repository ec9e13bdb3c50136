//! The session's timers on a simulated clock: `now` is whatever the
//! test says, so timeouts of seconds are checked without sleeping.

use std::time::Duration;

use super::*;
use crate::app::sim::{written, written_bytes, Clock};

#[test]
fn head_timeout_answers_408_ten_seconds_after_the_first_byte() {
    let mut clock = Clock::new();
    let (mut session, mut out) = clock.open();
    // The head starts arriving at 1 s and never finishes.
    assert_eq!(
        session.on_input(&mut b"GET / HT".to_vec(), &mut out, clock.at(1)),
        0
    );
    assert_eq!(
        session.deadline(clock.at(1)),
        Some(clock.start + Duration::from_secs(11))
    );
    session.on_timer(&mut out, clock.at(10));
    assert!(out.is_empty(), "nothing before the deadline");
    session.on_timer(&mut out, clock.at(11));
    assert!(written(&mut out).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    assert_eq!(session.close(), Close::AfterFlush);
}

#[test]
fn idle_keep_alive_connection_closes_after_sixty_seconds() {
    let mut clock = Clock::new();
    let (mut session, mut out) = clock.open();
    let request = b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    assert_eq!(
        session.on_input(&mut request.to_vec(), &mut out, clock.at(5)),
        request.len()
    );
    assert!(written(&mut out).starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(
        session.deadline(clock.at(5)),
        Some(clock.start + Duration::from_secs(65))
    );
    session.on_timer(&mut out, clock.at(64));
    assert_eq!(session.close(), Close::Open);
    session.on_timer(&mut out, clock.at(65));
    assert_eq!(session.close(), Close::Now, "closed without a response");
}

#[test]
fn parked_long_poll_answers_empty_at_its_timeout() {
    let mut clock = Clock::new();
    let (mut session, mut out) = clock.open();
    let request = b"GET /ch/quiet/longpoll?timeout=45 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    session.on_input(&mut request.to_vec(), &mut out, clock.at(0));
    assert!(out.is_empty(), "parked: no answer yet");
    assert_eq!(clock.app.shared.hub().subscriber_count(), 1);
    session.on_timer(&mut out, clock.at(44));
    assert!(out.is_empty());
    session.on_timer(&mut out, clock.at(45));
    assert!(written(&mut out).ends_with(r#"{"messages":[],"last_id":0,"gap":false}"#));
    assert_eq!(
        clock.app.shared.hub().subscriber_count(),
        0,
        "left the channel"
    );
}

#[test]
fn a_body_that_never_comes_is_closed_at_the_body_timeout() {
    // The issue's spin: a head with `Content-Length: 100` and no body.
    let mut clock = Clock::new();
    let (mut session, mut out) = clock.open();
    let head = b"POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n";
    assert_eq!(
        session.on_input(&mut head.to_vec(), &mut out, clock.at(0)),
        head.len()
    );
    assert_eq!(clock.seconds_after(session.deadline(&clock.app)), Some(10));
    assert_eq!(clock.fire_at_deadline(&mut session, &mut out), None);
    assert!(written(&mut out).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    assert_eq!(session.close(), Close::AfterFlush);
    assert_eq!(
        clock
            .app
            .stats()
            .get(crate::stats::Count::ClosedBodyTimeout),
        1
    );
}

#[test]
fn a_trickled_body_is_closed_at_the_whole_body_timeout() {
    let mut clock = Clock::new();
    let (mut session, mut out) = clock.open();
    let head = b"POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 30000\r\n\r\n";
    session.on_input(&mut head.to_vec(), &mut out, clock.at(0));
    // More than the uncharged allowance at once, so that it is charged.
    let start = vec![b'x'; crate::budget::UNCHARGED + 10];
    assert_eq!(
        session.on_input(&mut start.to_vec(), &mut out, clock.at(0)),
        start.len()
    );
    // One byte every 9 s: always under the 10 s between bytes.
    for t in (9..60).step_by(9) {
        assert_eq!(
            session.on_input(&mut b"x".to_vec(), &mut out, clock.at(t)),
            1
        );
        let next = clock.seconds_after(session.deadline(&clock.app));
        assert_eq!(next, Some((t + 10).min(60)));
    }
    assert!(out.is_empty());
    assert_eq!(
        clock.app.shared.buffered.used(),
        10 + 6,
        "charged to --max-buffered beyond the allowance"
    );
    assert_eq!(clock.fire_at_deadline(&mut session, &mut out), None);
    assert!(written(&mut out).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    assert_eq!(clock.app.shared.buffered.used(), 0, "given back");
}

#[test]
fn every_http_timer_fires_once_and_rearms_in_the_future() {
    let mut clock = Clock::new();
    let mut out = OutputQueue::default();
    // Head timeout.
    let mut session = Session::new(1, clock.at(0));
    session.on_input(&mut b"GET / HT".to_vec(), &mut out, clock.at(1));
    assert_eq!(clock.fire_at_deadline(&mut session, &mut out), None);
    written(&mut out);
    // Idle timeout.
    let mut session = Session::new(2, clock.at(0));
    assert_eq!(clock.seconds_after(session.deadline(&clock.app)), Some(60));
    assert_eq!(clock.fire_at_deadline(&mut session, &mut out), None);
    assert_eq!(session.close(), Close::Now);
    // A timer called late, after the request completed, asks for the
    // idle deadline from the last input — not the passed body deadline.
    let mut session = Session::new(3, clock.at(0));
    let head = b"POST /ch/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\n";
    session.on_input(&mut head.to_vec(), &mut out, clock.at(0));
    session.on_input(&mut b"x".to_vec(), &mut out, clock.at(5));
    session.on_timer(&mut out, clock.at(15));
    assert_eq!(session.close(), Close::Open);
    assert_eq!(clock.seconds_after(session.deadline(&clock.app)), Some(65));
}

#[test]
fn stream_timers_rearm_in_the_future() {
    let mut clock = Clock::new();
    let (mut session, mut out) = clock.open();
    session.on_input(
        &mut b"GET /ch/s/sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
        &mut out,
        clock.at(0),
    );
    for _ in 0..3 {
        assert!(clock.fire_at_deadline(&mut session, &mut out).is_some());
    }
    assert_eq!(written(&mut out).matches(": keep-alive").count(), 3);
}

/// A channel WebSocket's opening handshake (no extension: plain frames).
const UPGRADE: &[u8] = b"GET /ch/w/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The ping the server sends an idle WebSocket: §5.5.2, unmasked, "rtweb".
const PING: &[u8] = b"\x89\x05rtweb";

/// A client's pong (§5.5.3), masked with a zero key (§5.3 allows any key).
const PONG: &[u8] = b"\x8a\x85\0\0\0\0rtweb";

#[test]
fn a_parked_long_poll_times_out_once_and_rearms_the_idle_timeout() {
    let mut clock = Clock::new();
    let (mut session, mut out) = clock.open();
    let request = b"GET /ch/quiet/longpoll?timeout=45 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    session.on_input(&mut request.to_vec(), &mut out, clock.at(0));
    assert_eq!(clock.seconds_after(session.deadline(&clock.app)), Some(45));
    let next = clock.fire_at_deadline(&mut session, &mut out);
    assert!(written(&mut out).starts_with("HTTP/1.1 200 OK\r\n"));
    // Back to reading requests: the keep-alive idle timeout, from the answer.
    assert_eq!(clock.seconds_after(next), Some(45 + 60));
    assert_eq!(session.close(), Close::Open);
}

#[test]
fn an_unanswered_ping_closes_the_websocket_one_period_later() {
    let mut clock = Clock::new();
    let (mut session, mut out) = clock.open();
    assert_eq!(
        session.on_input(&mut UPGRADE.to_vec(), &mut out, clock.at(0)),
        UPGRADE.len()
    );
    assert!(written_bytes(&mut out).starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    assert_eq!(clock.seconds_after(session.deadline(&clock.app)), Some(30));
    // At 30 s of silence: a ping, and the next check one period on.
    let next = clock.fire_at_deadline(&mut session, &mut out);
    assert_eq!(written_bytes(&mut out), PING);
    assert_eq!(clock.seconds_after(next), Some(60));
    // A pong at 40 s: the connection is alive; the next ping is due at 70.
    assert_eq!(
        session.on_input(&mut PONG.to_vec(), &mut out, clock.at(40)),
        PONG.len()
    );
    assert_eq!(clock.seconds_after(session.deadline(&clock.app)), Some(70));
    let next = clock.fire_at_deadline(&mut session, &mut out);
    assert_eq!(written_bytes(&mut out), PING);
    assert_eq!(clock.seconds_after(next), Some(100));
    // No pong this time: closed at 100 s, nothing more sent.
    clock.at(100);
    session.on_timer(&mut out, &mut clock.app);
    assert_eq!(session.close(), Close::Now);
    assert!(out.is_empty());
    assert_eq!(clock.app.stats().get(crate::stats::Count::ClosedNoPong), 1);
}

#[test]
fn ws_max_duration_says_1001_then_gives_the_close_handshake_five_seconds() {
    let mut clock = Clock::with(|c| {
        c.ws_max_duration = Some(Duration::from_secs(100));
        c.ws_ping = Duration::from_secs(1000);
    });
    let (mut session, mut out) = clock.open();
    session.on_input(&mut UPGRADE.to_vec(), &mut out, clock.at(0));
    written_bytes(&mut out);
    assert_eq!(clock.seconds_after(session.deadline(&clock.app)), Some(100));
    let next = clock.fire_at_deadline(&mut session, &mut out);
    // §7.4.1 1001 (0x03e9), going away, with the reason.
    let mut close = b"\x88\x16\x03\xe9".to_vec();
    close.extend_from_slice(b"max duration reached");
    assert_eq!(written_bytes(&mut out), close);
    assert_eq!(
        session.close(),
        Close::Open,
        "waiting for the client's Close"
    );
    assert_eq!(clock.seconds_after(next), Some(105));
    // The client never answers: closed at the close timeout.
    clock.at(105);
    session.on_timer(&mut out, &mut clock.app);
    assert_eq!(session.close(), Close::Now);
}

#[test]
fn sse_max_duration_ends_the_stream_once() {
    let mut clock = Clock::with(|c| c.sse_max_duration = Some(Duration::from_secs(40)));
    let (mut session, mut out) = clock.open();
    session.on_input(
        &mut b"GET /ch/s/sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
        &mut out,
        clock.at(0),
    );
    written(&mut out);
    // Heartbeats at 15 and 30, the end at 40.
    assert_eq!(clock.seconds_after(session.deadline(&clock.app)), Some(15));
    let next = clock.fire_at_deadline(&mut session, &mut out);
    assert_eq!(clock.seconds_after(next), Some(30));
    let next = clock.fire_at_deadline(&mut session, &mut out);
    assert_eq!(clock.seconds_after(next), Some(40));
    assert_eq!(written(&mut out).matches(": keep-alive").count(), 2);
    clock.fire_at_deadline(&mut session, &mut out);
    // The chunked coding's last chunk (RFC 9112 §7.1): an end, not an error.
    assert_eq!(written(&mut out), "0\r\n\r\n");
    assert_eq!(session.close(), Close::AfterFlush);
}

#[test]
fn echo_answers_small_and_large_frames_whole_or_split() {
    use crate::ws::frame::{write_client_frame, write_frame, OpCode};
    let mut clock = Clock::new();
    let (mut session, mut out) = clock.open();
    let upgrade = b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    session.on_input(&mut upgrade.to_vec(), &mut out, clock.at(0));
    assert!(written_bytes(&mut out).starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    // Below and above the size that is queued as a chunk of its own.
    for len in [5, 20_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut frame = Vec::new();
        write_client_frame(&mut frame, true, OpCode::Binary, &payload, [1, 2, 3, 4]);
        let mut reply = Vec::new();
        write_frame(&mut reply, OpCode::Binary, &payload);
        // Whole in one input: answered from where it lies.
        let mut whole = frame.clone();
        assert_eq!(
            session.on_input(&mut whole, &mut out, clock.at(1)),
            frame.len()
        );
        assert_eq!(written_bytes(&mut out), reply, "{len} bytes, whole");
        // In two inputs, the cut inside the payload: assembled.
        let (first, second) = frame.split_at(frame.len() - len / 2);
        for piece in [first, second] {
            assert_eq!(
                session.on_input(&mut piece.to_vec(), &mut out, clock.at(1)),
                piece.len()
            );
        }
        assert_eq!(written_bytes(&mut out), reply, "{len} bytes, split");
    }
}
