//! Every replay path, from the client's side: `?after=` on a short poll, a
//! long poll, an event stream and a WebSocket, and `Last-Event-ID` — fed
//! `0`, `u64::MAX` and random ids, with publishes arriving while a replay
//! larger than `--max-pending` is still being sent in pieces.
//!
//! What must hold is what a client relies on to lose nothing: messages
//! arrive in id order, each once; without a gap marker each is the next id
//! after the last one (or after the client's id); a gap marker comes before
//! any jump; and in the end the client has the channel's newest message.

use proptest::prelude::*;

use super::sim::{written_bytes, Clock};
use super::subscription;
use crate::server::{Close, Service};

/// What a client saw, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Gap,
    Message(u64),
}

#[derive(Debug, Clone, Copy)]
enum Technique {
    Poll,
    LongPoll,
    EventStream,
    /// An EventSource reconnecting: the id in `Last-Event-ID`.
    LastEventId,
    WebSocket,
}

const TECHNIQUES: [Technique; 5] = [
    Technique::Poll,
    Technique::LongPoll,
    Technique::EventStream,
    Technique::LastEventId,
    Technique::WebSocket,
];

const CHANNEL: &str = "r";

fn request(technique: Technique, after: &str) -> String {
    let target = match technique {
        Technique::Poll => format!("/ch/{CHANNEL}/poll?after={after}"),
        Technique::LongPoll => format!("/ch/{CHANNEL}/longpoll?after={after}&timeout=5"),
        Technique::EventStream => format!("/ch/{CHANNEL}/sse?after={after}"),
        Technique::LastEventId => format!("/ch/{CHANNEL}/sse"),
        Technique::WebSocket => format!("/ch/{CHANNEL}/ws?after={after}"),
    };
    let extra = match technique {
        Technique::LastEventId => format!("Last-Event-ID: {after}\r\n"),
        Technique::WebSocket => "Upgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            .to_owned(),
        _ => String::new(),
    };
    format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n")
}

/// Publishes through the app, as a POST would, and hands the mail to the
/// one session under test (token 1), as the loop would.
fn publish(clock: &mut Clock, session: &mut super::Session, out: &mut crate::output::OutputQueue) {
    subscription::publish(&mut clock.app, CHANNEL, "late".to_owned(), None);
    while let Some(outgoing) = clock.app.next_mail() {
        if outgoing.to.iter().any(|a| a.token == 1) {
            session.on_mail(&outgoing.mail, out, &mut clock.app);
        }
    }
}

/// The body of a response: after the head; de-chunked when chunked.
fn body(bytes: &[u8]) -> (&str, Vec<u8>) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = std::str::from_utf8(&bytes[..end]).expect("UTF-8 head");
    let mut rest = &bytes[end..];
    if !head.contains("Transfer-Encoding: chunked") {
        return (head, rest.to_vec());
    }
    let mut data = Vec::new();
    while !rest.is_empty() {
        let line = rest.windows(2).position(|w| w == b"\r\n").expect("size");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line]).unwrap(), 16)
            .expect("chunk size");
        data.extend_from_slice(&rest[line + 2..line + 2 + size]);
        rest = &rest[line + 2 + size + 2..];
    }
    (head, data)
}

fn seen_in_json(json: &serde_json::Value, seen: &mut Vec<Seen>) {
    if json["gap"] == true {
        seen.push(Seen::Gap);
    }
    if let Some(id) = json["id"].as_u64() {
        seen.push(Seen::Message(id));
    }
    for message in json["messages"].as_array().into_iter().flatten() {
        seen.push(Seen::Message(message["id"].as_u64().expect("an id")));
    }
}

/// What the client was sent, parsed as its technique's client would.
fn parse(technique: Technique, bytes: &[u8]) -> Vec<Seen> {
    let (head, body) = body(bytes);
    let mut seen = Vec::new();
    match technique {
        Technique::Poll | Technique::LongPoll => {
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            let json = serde_json::from_slice(&body).expect("JSON");
            seen_in_json(&json, &mut seen);
        }
        Technique::EventStream | Technique::LastEventId => {
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            let text = String::from_utf8(body).expect("UTF-8 stream");
            for event in text.split("\n\n") {
                let lines: Vec<&str> = event.lines().collect();
                if lines.contains(&"event: gap") {
                    seen.push(Seen::Gap);
                } else if !lines.contains(&"event: ready") {
                    let id = lines.iter().find_map(|l| l.strip_prefix("id: "));
                    seen.extend(id.map(|id| Seen::Message(id.parse().expect("an id"))));
                }
            }
        }
        Technique::WebSocket => {
            assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
            let mut rest = &body[..];
            while !rest.is_empty() {
                // §5.2: server frames are unmasked; these are all text.
                assert_eq!(rest[0], 0x81, "a final text frame");
                let (len, at) = match rest[1] {
                    126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
                    127 => (
                        u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    n => (n as usize, 2),
                };
                let json = serde_json::from_slice(&rest[at..at + len]).expect("JSON frame");
                seen_in_json(&json, &mut seen);
                rest = &rest[at + len..];
            }
        }
    }
    seen
}

/// The client's rules: in order, each once, contiguous unless a gap
/// marker says otherwise. Returns the last id received.
fn check_order(after: u64, seen: &[Seen]) -> Option<u64> {
    let mut last: Option<u64> = None;
    let mut gap = false;
    for item in seen {
        match *item {
            Seen::Gap => gap = true,
            Seen::Message(id) => {
                if gap {
                    assert!(last.is_none_or(|last| id > last), "{seen:?}");
                } else {
                    let previous = last.unwrap_or(after);
                    assert_eq!(Some(id), previous.checked_add(1), "{seen:?}");
                }
                last = Some(id);
                gap = false;
            }
        }
    }
    last
}

/// Runs one client of `technique` asking for what follows `after` while
/// `late` more messages are published during its replay; returns what it
/// saw, and checks each piece of a streamed replay stays near the budget.
fn client(clock: &mut Clock, technique: Technique, after: u64, late: usize) -> Vec<Seen> {
    let (mut session, mut out) = clock.open();
    let request = request(technique, &after.to_string());
    session.on_input(&mut request.as_bytes().to_vec(), &mut out, &mut clock.app);
    let budget = clock.app.config().max_pending;
    let mut bytes = written_bytes(&mut out);
    let mut late = late;
    // Bounded: each round sends a piece or publishes one of `late`.
    for _ in 0..10_000 {
        if late > 0 {
            publish(clock, &mut session, &mut out);
            late -= 1;
        }
        session.on_drained(&mut out, &mut clock.app);
        let piece = written_bytes(&mut out);
        // A stream's replay goes in pieces of the budget — at least one
        // message each, so a budget smaller than a message still makes
        // progress. (A long poll's woken answer is one whole response.)
        let streamed = !matches!(technique, Technique::Poll | Technique::LongPoll);
        assert!(
            !streamed || piece.len() <= budget + 200,
            "{} > {budget}: {technique:?}",
            piece.len()
        );
        bytes.extend_from_slice(&piece);
        if piece.is_empty() && late == 0 {
            break;
        }
    }
    if let Technique::LongPoll = technique {
        if bytes.is_empty() {
            // Parked with nothing to say: the empty answer at the timeout.
            clock.fire_at_deadline(&mut session, &mut out);
            bytes = written_bytes(&mut out);
        }
    }
    assert_eq!(session.close(), Close::Open);
    session.on_closed(&clock.app);
    parse(technique, &bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn every_replay_path_loses_nothing_for_any_id(
        retain in 1usize..12,
        count in 0u64..30,
        late in 0usize..6,
        after in prop_oneof![Just(0), Just(u64::MAX), Just(u64::MAX - 1), 0u64..40, any::<u64>()],
        max_pending in prop_oneof![Just(1usize), 1usize..400, Just(1 << 20)],
    ) {
        let mut clock = Clock::with(|c| {
            c.retain = retain;
            c.max_pending = max_pending;
        });
        let (mut publisher, mut out) = clock.open();
        for _ in 0..count {
            publish(&mut clock, &mut publisher, &mut out);
        }
        for technique in TECHNIQUES {
            let newest_before = clock.app.shared.hub().replay(CHANNEL, None).unwrap().last_id;
            let expected = clock.app.shared.hub().replay(CHANNEL, Some(after)).unwrap();
            let seen = client(&mut clock, technique, after, late);
            let newest = clock.app.shared.hub().replay(CHANNEL, None).unwrap().last_id;
            let last = check_order(after, &seen);
            match technique {
                // One answer: exactly what the hub retains after `after`.
                Technique::Poll => {
                    prop_assert_eq!(seen.first() == Some(&Seen::Gap), expected.gap);
                    prop_assert_eq!(last, expected.messages.last().map(|m| m.id));
                }
                // One answer: the first thing there is to say.
                Technique::LongPoll => {
                    if expected.gap || !expected.messages.is_empty() {
                        prop_assert_eq!(last, expected.messages.last().map(|m| m.id));
                    } else if late > 0 && after <= newest_before {
                        prop_assert_eq!(last, Some(newest_before + 1));
                    }
                }
                // Streams: the gap said first when there is one, and
                // caught up to the newest, live messages included.
                _ => {
                    prop_assert_eq!(seen.first() == Some(&Seen::Gap), expected.gap);
                    if newest > 0 && (expected.gap || after < newest) {
                        prop_assert_eq!(last, Some(newest));
                    } else {
                        prop_assert_eq!(last, None);
                    }
                }
            }
        }
    }
}

#[test]
fn ids_that_are_not_u64_are_refused_or_a_gap() {
    let mut clock = Clock::new();
    for after in ["18446744073709551616", "-1", "1e3", "", "0x10"] {
        for technique in [
            Technique::Poll,
            Technique::LongPoll,
            Technique::EventStream,
            Technique::WebSocket,
        ] {
            let (mut session, mut out) = clock.open();
            let request = request(technique, after);
            session.on_input(&mut request.as_bytes().to_vec(), &mut out, &mut clock.app);
            let text = String::from_utf8(written_bytes(&mut out)).unwrap();
            assert!(
                text.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                "{technique:?} after={after:?}: {text}"
            );
            assert!(text.contains("`after` must be a whole number"), "{text}");
        }
    }
    // An EventSource cannot be told 400 (it would give up for good): an
    // id this server never gave out is a gap, and everything retained.
    let (mut publisher, mut out) = clock.open();
    publish(&mut clock, &mut publisher, &mut out);
    for id in ["18446744073709551616", "-1", "x"] {
        let (mut session, mut out) = clock.open();
        let request = request(Technique::LastEventId, id);
        session.on_input(&mut request.as_bytes().to_vec(), &mut out, &mut clock.app);
        let seen = parse(Technique::LastEventId, &written_bytes(&mut out));
        assert_eq!(seen, [Seen::Gap, Seen::Message(1)], "Last-Event-ID: {id}");
        session.on_closed(&clock.app);
    }
}
