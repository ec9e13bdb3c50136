//! Compression against RFC 7692's own bytes, and the inflate path driven
//! through a whole connection: round trips, fragments, the bomb, splits.

use super::*;
use crate::ws::frame::{write_client_frame, FrameHeader};
use crate::ws::message::WsMessage;
use crate::ws::{WsConnection, WsEvent};
use proptest::prelude::*;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn params(server_no_context_takeover: bool, client_no_context_takeover: bool) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits: 15,
        name_server_window: false,
    }
}

/// A client frame: `first` is the first header byte as RFC 7692 writes it
/// (FIN, RSV1, opcode), the payload masked.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_client_frame(&mut out, first & 0x80 != 0, OpCode::Text, payload, MASK);
    out[0] = first;
    out
}

/// Everything a connection with `deflate` reports for `input` fed in
/// pieces of `piece` bytes.
fn receive(
    input: &[u8],
    piece: usize,
    deflate: DeflateParams,
    max: usize,
) -> Vec<WsEvent<'static>> {
    let ws = WsConnection::with_deflate(max, Some(deflate));
    crate::ws::connection::tests::feed(ws, input, piece).0
}

fn texts(events: &[WsEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            WsEvent::Message(m) => String::from_utf8(m.data.to_vec()).unwrap(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn rfc_7692_examples_decode_to_hello() {
    let examples: &[(&str, Vec<u8>)] = &[
        // §7.2.3.1: one compressed frame.
        (
            "one frame",
            client_frame(0xc1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
        ),
        // §7.2.3.1: the same, in two fragments (RSV1 on the first only).
        ("fragments", {
            let mut v = client_frame(0x41, &[0xf2, 0x48, 0xcd]);
            let mut rest = Vec::new();
            write_client_frame(
                &mut rest,
                true,
                OpCode::Continuation,
                &[0xc9, 0xc9, 0x07, 0x00],
                MASK,
            );
            v.extend(rest);
            v
        }),
        // §7.2.3.4: a stored (uncompressed) DEFLATE block.
        (
            "stored block",
            client_frame(
                0xc1,
                &[
                    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
                ],
            ),
        ),
        // §7.2.3.5: a final block (BFINAL set).
        (
            "final block",
            client_frame(0xc1, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]),
        ),
    ];
    for (name, input) in examples {
        for piece in [input.len(), 1] {
            let events = receive(input, piece, params(false, false), 1 << 20);
            assert_eq!(texts(&events), ["Hello"], "{name}, pieces of {piece}");
        }
    }
    // §7.2.3.6: an empty message is a single 0x00.
    let events = receive(&client_frame(0xc1, &[0x00]), 1, params(false, false), 10);
    assert_eq!(texts(&events), [""]);
}

#[test]
fn hello_is_compressed_as_in_rfc_7692() {
    // §7.2.3.1 and §7.2.3.2: with context takeover the second "Hello" is
    // a back-reference to the first.
    let mut deflater = Deflater::new(params(false, false));
    let mut out = Vec::new();
    assert_eq!(deflater.write_frame(OpCode::Text, b"Hello", &mut out), 7);
    assert_eq!(out, [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    out.clear();
    deflater.write_frame(OpCode::Text, b"Hello", &mut out);
    assert_eq!(out, [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);

    // §7.2.3.2 without context takeover: the same bytes every time.
    let mut fresh = new_compressor(15);
    for _ in 0..2 {
        let mut payload = Vec::new();
        compress_message(&mut fresh, b"Hello", &mut payload);
        fresh.reset();
        assert_eq!(payload, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    }
    // A shared frame is sent as it is when compressing would not shrink it.
    let mut frame = Vec::new();
    assert_eq!(compressed_frame(OpCode::Text, b"Hello", 15, &mut frame), 5);
    assert_eq!(frame, b"\x81\x05Hello");
}

/// What a client does with a server frame: check RSV1, inflate.
fn client_inflate(frame: &[u8], decompressor: &mut Decompress) -> Vec<u8> {
    let (header, n) = FrameHeader::parse(frame).unwrap().unwrap();
    let payload = &frame[n..];
    assert_eq!(payload.len() as u64, header.payload_len);
    if !header.rsv1 {
        return payload.to_vec();
    }
    let mut input = payload.to_vec();
    input.extend_from_slice(&TAIL);
    let mut out = Vec::with_capacity(1 << 20);
    decompressor
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

#[test]
fn compressed_frames_round_trip_with_and_without_takeover() {
    let messages: Vec<Vec<u8>> = (0..20)
        .map(|i| format!(r#"{{"id":{i},"time":1700000000000,"data":"message number {i}"}}"#).into())
        .chain([Vec::new(), vec![0xAB; 100_000]])
        .collect();
    for takeover in [true, false] {
        let mut deflater = Deflater::new(params(!takeover, false));
        let mut client = Decompress::new_with_window_bits(false, 15);
        let mut sizes = Vec::new();
        for message in &messages {
            let mut frame = Vec::new();
            sizes.push(deflater.write_frame(OpCode::Text, message, &mut frame));
            if !takeover {
                client.reset(false);
            }
            let inflated = client_inflate(&frame, &mut client);
            assert!(&inflated == message, "{} bytes", message.len());
        }
        // Takeover pays: later messages lean on earlier ones.
        let later: usize = sizes[10..20].iter().sum();
        assert_eq!(takeover, later < 200, "{takeover}: {sizes:?}");
    }
}

#[test]
fn server_window_bits_are_honoured() {
    // Bytes that repeat 600 bytes back: a 512-byte window may not use that.
    let mut seed = 12345u32;
    let block: Vec<u8> = (0..600)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 24) as u8
        })
        .collect();
    let message: Vec<u8> = block.iter().chain(&block).copied().collect();
    let compress = |bits: u8| {
        let mut deflater = Deflater::new(DeflateParams {
            server_max_window_bits: bits,
            ..params(false, false)
        });
        let mut frame = Vec::new();
        deflater.write_frame(OpCode::Binary, &message, &mut frame);
        let (_, n) = FrameHeader::parse(&frame).unwrap().unwrap();
        frame.split_off(n)
    };
    // A window of 1 KiB or more reaches the first copy; 512 bytes cannot, and
    // sends the bytes again (zlib-rs inflates with a 32 KiB window whatever
    // it is told, so the limit itself is checked by Autobahn's 13.x cases,
    // whose client inflates with the window it asked for).
    for bits in 10..=15 {
        assert!(compress(bits).len() < 700, "window {bits}");
    }
    assert!(compress(9).len() > 1200);
    for bits in 9..=15 {
        let mut client = Decompress::new_with_window_bits(false, 15);
        let mut frame = vec![0xc2, 0x7e];
        let payload = compress(bits);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        frame.extend_from_slice(&payload);
        assert!(
            client_inflate(&frame, &mut client) == message,
            "window {bits}"
        );
    }
    // 8 bits is compressed as 9, whose matches reach at most 250 bytes back.
    assert_eq!(compress(8), compress(9));
}

#[test]
fn a_bomb_is_refused_at_the_limit_without_inflating_it() {
    // 16 MiB of zeros deflate to about 16 KiB.
    let mut compressor = new_compressor(15);
    let mut payload = Vec::new();
    compress_message(&mut compressor, &vec![0u8; 16 << 20], &mut payload);
    assert!(payload.len() < 20_000, "{}", payload.len());
    let limit = 64 * 1024;

    let mut inflater = Inflater::new(&params(false, false));
    let mut out = Vec::new();
    assert_eq!(
        inflater.inflate(&payload, &mut out, limit),
        Err(InflateError::TooBig)
    );
    assert!(out.capacity() <= limit + 1, "{} bytes held", out.capacity());

    // Through a connection: closed with 1009.
    let events = receive(
        &client_frame(0xc2, &payload),
        4096,
        params(false, false),
        limit,
    );
    assert_eq!(events, [WsEvent::Closed { code: Some(1009) }]);
    // A message just at the limit is fine.
    let mut payload = Vec::new();
    compress_message(&mut new_compressor(15), &vec![0u8; limit], &mut payload);
    let events = receive(
        &client_frame(0xc2, &payload),
        4096,
        params(false, false),
        limit,
    );
    assert!(
        matches!(&events[..], [WsEvent::Message(WsMessage { data, .. })] if data.len() == limit)
    );
}

#[test]
fn broken_compressed_messages_close_the_connection() {
    let cases: &[(&str, Vec<u8>, u16)] = &[
        // Not DEFLATE (block type 3 is reserved).
        ("corrupt", client_frame(0xc1, &[0xff, 0xff, 0xff]), 1007),
        // Inflates to invalid UTF-8: a stored block holding 0xff.
        (
            "invalid UTF-8",
            client_frame(0xc1, &[0x00, 0x01, 0x00, 0xfe, 0xff, 0xff]),
            1007,
        ),
        // RSV1 on a continuation (RFC 7692 §6.1).
        (
            "rsv1 continuation",
            {
                let mut v = client_frame(0x01, b"a");
                v.extend(client_frame(0xc0, &[0x00]));
                v
            },
            1002,
        ),
        // RSV1 on a ping.
        ("rsv1 ping", client_frame(0xc9, b""), 1002),
    ];
    for (name, input, code) in cases {
        let events = receive(input, 1, params(false, false), 1 << 20);
        assert_eq!(events, [WsEvent::Closed { code: Some(*code) }], "{name}");
    }
    // Without deflate agreed, RSV1 is a protocol error (RFC 6455 §5.2).
    let mut ws = WsConnection::new(1 << 20);
    let (mut out, mut events) = (Vec::new(), Vec::new());
    crate::ws::connection::tests::receive_all(
        &mut ws,
        &client_frame(0xc1, &[0x00]),
        &mut out,
        &mut events,
    );
    assert_eq!(events, [WsEvent::Closed { code: Some(1002) }]);
}

#[test]
fn the_inflater_is_dropped_between_messages_without_client_takeover() {
    let mut inflater = Inflater::new(&params(false, true));
    let mut out = Vec::new();
    inflater
        .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
        .unwrap();
    inflater.finish_message(&mut out, 100).unwrap();
    assert_eq!(out, b"Hello");
    assert!(
        inflater.decompressor.is_none(),
        "an idle connection holds none"
    );
}

proptest! {
    /// Messages compressed with context takeover, cut into fragments, fed
    /// whole and one byte at a time: the same messages out.
    #[test]
    fn split_invariance(
        messages in proptest::collection::vec("[a-c ]{0,300}", 1..6),
        cut in 1usize..50,
        client_takeover in any::<bool>(),
    ) {
        let mut compressor = new_compressor(15);
        let mut input = Vec::new();
        for message in &messages {
            let mut payload = Vec::new();
            compress_message(&mut compressor, message.as_bytes(), &mut payload);
            if !client_takeover {
                compressor.reset();
            }
            let pieces: Vec<&[u8]> = payload.chunks(cut).collect();
            for (i, piece) in pieces.iter().enumerate() {
                let fin = i + 1 == pieces.len();
                let opcode = if i == 0 { OpCode::Text } else { OpCode::Continuation };
                let start = input.len();
                write_client_frame(&mut input, fin, opcode, piece, MASK);
                if i == 0 {
                    input[start] |= 0x40;
                }
            }
        }
        let deflate = params(false, !client_takeover);
        let whole = receive(&input, input.len(), deflate, 1 << 20);
        prop_assert_eq!(texts(&whole), messages);
        prop_assert_eq!(whole, receive(&input, 1, deflate, 1 << 20));
    }
}
