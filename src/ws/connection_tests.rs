//! The connection state machine, driven with client frames.

use super::*;
use crate::ws::frame::write_client_frame;
use crate::ws::mask::apply_mask;
use proptest::prelude::*;

const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_client_frame(&mut out, fin, opcode, payload, MASK);
    out
}

/// Offers `input` once, as one read would bring it: calls `receive` until
/// it needs more input; returns the bytes used (events are copied out).
pub(crate) fn receive_all(
    ws: &mut WsConnection,
    input: &[u8],
    out: &mut Vec<u8>,
    events: &mut Vec<WsEvent<'static>>,
) -> usize {
    let mut input = input.to_vec();
    let mut used = 0;
    // Bounded: every event uses at least a frame header.
    loop {
        let Received { used: n, event } = ws.receive(&mut input[used..], out);
        used += n;
        match event {
            Some(event) => events.push(event.into_owned()),
            None => return used,
        }
    }
}

/// Feeds `input` in pieces of `piece` bytes; returns events and output.
fn run(input: &[u8], piece: usize) -> (Vec<WsEvent<'static>>, Vec<u8>) {
    feed(WsConnection::new(1 << 20), input, piece)
}

/// Feeds `input` to `ws` in pieces of `piece` bytes, as reads would bring
/// it; returns events and output.
pub(crate) fn feed(
    mut ws: WsConnection,
    input: &[u8],
    piece: usize,
) -> (Vec<WsEvent<'static>>, Vec<u8>) {
    let (mut events, mut out, mut buffered) = (Vec::new(), Vec::new(), Vec::new());
    for part in input.chunks(piece.max(1)) {
        buffered.extend_from_slice(part);
        loop {
            let used = receive_all(&mut ws, &buffered, &mut out, &mut events);
            buffered.drain(..used);
            if used == 0 || buffered.is_empty() {
                break;
            }
        }
    }
    (events, out)
}

fn run_both(input: &[u8]) -> (Vec<WsEvent<'static>>, Vec<u8>) {
    let whole = run(input, input.len());
    assert_eq!(whole, run(input, 1), "byte-by-byte differs");
    whole
}

fn text(s: &str) -> WsEvent<'static> {
    WsEvent::Message(WsMessage {
        opcode: OpCode::Text,
        data: Cow::Owned(s.as_bytes().to_vec()),
        compressed_len: None,
    })
}

/// The close code the server sent in `out`, if its last frame is a Close.
fn sent_close_code(out: &[u8]) -> Option<u16> {
    let mut at = 0;
    let mut last = None;
    while at < out.len() {
        let (h, n) = FrameHeader::parse(&out[at..]).unwrap().unwrap();
        let payload = &out[at + n..at + n + h.payload_len as usize];
        last = (h.opcode == OpCode::Close)
            .then(|| payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])))
            .flatten();
        at += n + h.payload_len as usize;
    }
    last
}

#[test]
fn fragments_with_a_ping_between() {
    let mut input = frame(false, OpCode::Text, b"hel");
    input.extend(frame(true, OpCode::Ping, b"p!"));
    input.extend(frame(false, OpCode::Continuation, b""));
    input.extend(frame(true, OpCode::Continuation, b"lo"));
    let (events, out) = run_both(&input);
    assert_eq!(events, vec![text("hello")]);
    assert_eq!(out, [0x8A, 2, b'p', b'!'], "pong with the ping's payload");
}

#[test]
fn a_whole_frame_is_a_view_of_the_input_unmasked_in_place() {
    let mut input = frame(true, OpCode::Binary, b"whole");
    let first = input.len();
    // The next frame's header is cut off inside its masking key.
    input.extend(&frame(true, OpCode::Text, b"next")[..4]);
    let unused = input[first..].to_vec();
    let mut ws = WsConnection::new(1 << 20);
    let mut out = Vec::new();
    let Received { used, event } = ws.receive(&mut input, &mut out);
    assert_eq!(used, first, "stops after the message");
    match event {
        Some(WsEvent::Message(WsMessage {
            data: Cow::Borrowed(data),
            ..
        })) => assert_eq!(data, b"whole"),
        other => panic!("expected a borrowed message, got {other:?}"),
    }
    assert_eq!(&input[first - 5..first], b"whole", "unmasked where it lay");
    let Received { used, event } = ws.receive(&mut input[first..], &mut out);
    assert_eq!((used, event), (0, None), "the cut-off header waits");
    assert_eq!(input[first..], unused, "bytes not used are untouched");
}

#[test]
fn a_frame_split_across_reads_is_assembled() {
    let input = frame(true, OpCode::Text, b"split");
    let mut ws = WsConnection::new(1 << 20);
    let (mut out, mut events) = (Vec::new(), Vec::new());
    assert_eq!(receive_all(&mut ws, &input[..8], &mut out, &mut events), 8);
    assert!(events.is_empty());
    let mut rest = input[8..].to_vec();
    let Received { used, event } = ws.receive(&mut rest, &mut out);
    assert_eq!(used, 3);
    match event {
        Some(WsEvent::Message(WsMessage {
            data: Cow::Owned(data),
            ..
        })) => assert_eq!(data, b"split"),
        other => panic!("expected an assembled message, got {other:?}"),
    }
}

#[test]
fn a_whole_frame_is_held_to_the_size_limit() {
    for (size, code) in [(10, None), (11, Some(1009))] {
        let (events, out) = feed(
            WsConnection::new(10),
            &frame(true, OpCode::Binary, &vec![7; size]),
            usize::MAX,
        );
        assert_eq!(sent_close_code(&out), code, "{size} bytes");
        assert_eq!(matches!(events[..], [WsEvent::Message(_)]), code.is_none());
    }
}

#[test]
fn each_protocol_error_has_its_close_code() {
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (vec![0x81, 0x00], 1002),                        // unmasked
        (frame(true, OpCode::Continuation, b"x"), 1002), // nothing to continue
        (
            [
                frame(false, OpCode::Text, b"a"),
                frame(true, OpCode::Text, b"b"),
            ]
            .concat(),
            1002,
        ),
        (
            frame(true, OpCode::Text, &[0xCE, 0xBA, 0xED, 0xA0, 0x80]),
            1007,
        ),
        (frame(true, OpCode::Close, &[0x03]), 1002), // 1-byte close
        (frame(true, OpCode::Close, &[0x03, 0xED]), 1002), // code 1005
        (frame(true, OpCode::Close, &[0x03, 0xE8, 0xFF]), 1007), // reason not UTF-8
    ];
    for (input, code) in cases {
        let (events, out) = run_both(&input);
        assert!(
            matches!(events.last(), Some(WsEvent::Closed { .. })),
            "{input:?}"
        );
        assert_eq!(sent_close_code(&out), Some(code), "{input:?}");
    }
}

#[test]
fn invalid_utf8_fails_before_the_message_ends() {
    // The first fragment is already invalid; the message never finishes.
    let mut ws = WsConnection::new(1 << 20);
    let (mut events, mut out) = (Vec::new(), Vec::new());
    receive_all(
        &mut ws,
        &frame(false, OpCode::Text, &[b'a', 0xFF]),
        &mut out,
        &mut events,
    );
    assert_eq!(sent_close_code(&out), Some(1007));
    assert_eq!(ws.state(), WsState::Closed);
}

#[test]
fn oversized_message_is_1009_without_reserving_memory() {
    let mut ws = WsConnection::new(1000);
    let (mut events, mut out) = (Vec::new(), Vec::new());
    // A header claiming 2^40 bytes: refused from the header alone.
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&MASK);
    receive_all(&mut ws, &header, &mut out, &mut events);
    assert_eq!(sent_close_code(&out), Some(1009));
}

#[test]
fn close_is_echoed_and_nothing_follows() {
    let mut input = frame(true, OpCode::Close, &[0x0F, 0xA0, b'b', b'y', b'e']); // 4000
    input.extend(frame(true, OpCode::Ping, b"late"));
    let (events, out) = run_both(&input);
    assert_eq!(events, vec![WsEvent::Closed { code: Some(4000) }]);
    assert_eq!(out, [0x88, 2, 0x0F, 0xA0]);
}

#[test]
fn after_our_close_messages_arrive_but_nothing_is_sent() {
    let mut ws = WsConnection::new(1 << 20);
    let (mut events, mut out) = (Vec::new(), Vec::new());
    ws.close(close_code::GOING_AWAY, "bye", &mut out);
    out.clear();
    // Sent by the peer before it saw our Close: still delivered, not lost.
    let in_flight = frame(true, OpCode::Text, b"in flight");
    receive_all(&mut ws, &in_flight, &mut out, &mut events);
    assert_eq!(events, vec![text("in flight")]);
    events.clear();
    receive_all(
        &mut ws,
        &frame(true, OpCode::Ping, b"no pong"),
        &mut out,
        &mut events,
    );
    assert!(
        events.is_empty() && out.is_empty(),
        "no pong after our Close"
    );
    receive_all(
        &mut ws,
        &frame(true, OpCode::Close, &[0x03, 0xE9]),
        &mut out,
        &mut events,
    );
    assert_eq!(events, vec![WsEvent::Closed { code: Some(1001) }]);
    assert!(out.is_empty(), "no second close");
    assert_eq!(ws.state(), WsState::Closed);
}

fn any_opcode() -> impl Strategy<Value = OpCode> {
    prop_oneof![
        Just(OpCode::Text),
        Just(OpCode::Binary),
        Just(OpCode::Ping),
        Just(OpCode::Pong)
    ]
}

proptest! {
    /// Encode then decode is the identity, for every opcode, length class
    /// (7-bit, 16-bit, 64-bit) and mask.
    #[test]
    fn header_round_trip(opcode in any_opcode(), len_class in 0usize..3, extra in 0usize..200, mask: [u8; 4], fin: bool) {
        let len = [extra % 126, 126 + extra, 65536 + extra][len_class];
        let len = if opcode.is_control() { len % 126 } else { len };
        let fin = fin || opcode.is_control();
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut out = Vec::new();
        write_client_frame(&mut out, fin, opcode, &payload, mask);
        let (header, n) = FrameHeader::parse(&out).unwrap().unwrap();
        prop_assert_eq!(header, FrameHeader { fin, rsv1: false, opcode, mask: Some(mask), payload_len: len as u64 });
        let mut body = out[n..].to_vec();
        apply_mask(&mut body, mask, 0);
        prop_assert_eq!(body, payload);
    }

    /// A stream of frames cut at random points decodes to the same messages.
    #[test]
    fn any_split_gives_the_same_messages(
        messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
        cuts in proptest::collection::vec(1usize..64, 1..20),
    ) {
        let input: Vec<u8> = messages.iter().flat_map(|m| frame(true, OpCode::Binary, m)).collect();
        let mut ws = WsConnection::new(1 << 20);
        let (mut events, mut out, mut buffered) = (Vec::new(), Vec::new(), Vec::new());
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at >= input.len() { break; }
            let end = (at + cut).min(input.len());
            buffered.extend_from_slice(&input[at..end]);
            at = end;
            loop {
                let used = receive_all(&mut ws, &buffered, &mut out, &mut events);
                buffered.drain(..used);
                if used == 0 || buffered.is_empty() {
                    break;
                }
            }
        }
        let expected: Vec<WsEvent<'static>> = messages.into_iter().map(|data| WsEvent::Message(WsMessage { opcode: OpCode::Binary, data: Cow::Owned(data), compressed_len: None })).collect();
        prop_assert_eq!(events, expected);
    }

    /// A message fragmented at random points assembles to the original.
    #[test]
    fn fragmented_text_assembles(original in "\\PC{0,60}", cuts in proptest::collection::vec(0usize..240, 0..6)) {
        let bytes = original.as_bytes();
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        points.sort_unstable();
        points.dedup();
        points.retain(|&p| p > 0 && p < bytes.len());
        let mut input = Vec::new();
        let mut from = 0;
        for (i, to) in points.iter().copied().chain([bytes.len()]).enumerate() {
            let opcode = if i == 0 { OpCode::Text } else { OpCode::Continuation };
            input.extend(frame(to == bytes.len(), opcode, &bytes[from..to]));
            from = to;
        }
        let (events, _) = run_both(&input);
        prop_assert_eq!(events, vec![text(&original)]);
    }
}

#[test]
fn while_output_is_full_only_the_latest_ping_is_answered() {
    let mut ws = WsConnection::new(1 << 20);
    let (mut out, mut events) = (Vec::new(), Vec::new());
    ws.hold_pongs(true, &mut out);
    let mut pings = Vec::new();
    for i in 0..100u8 {
        pings.extend(frame(true, OpCode::Ping, &[i]));
    }
    assert_eq!(
        receive_all(&mut ws, &pings, &mut out, &mut events),
        pings.len()
    );
    assert!(out.is_empty(), "nothing written while full");
    ws.hold_pongs(false, &mut out);
    assert_eq!(out, [0x8a, 1, 99], "one pong, for the last ping");
    ws.hold_pongs(false, &mut out);
    assert_eq!(out.len(), 3, "and only once");
}
