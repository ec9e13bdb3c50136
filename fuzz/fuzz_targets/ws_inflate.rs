//! Message assembly with permessage-deflate: arbitrary frames (RSV1 set or
//! not) in arbitrary pieces, under randomly negotiated parameters, through
//! the frame decoder, the assembler and the inflater.
//!
//! Never panics; never uses more than it was given; no message, once
//! inflated, exceeds the limit; a text message is valid UTF-8; nothing is
//! reported after the close. The first input byte picks the parameters and
//! the read size, so the fuzzer explores them along with the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtweb::ws::{DeflateParams, OpCode, WsConnection, WsEvent, WsState};

#[path = "../common/ws_reads.rs"]
mod ws_reads;

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, stream)) = data.split_first() else {
        return;
    };
    let deflate = DeflateParams {
        server_no_context_takeover: choice & 1 != 0,
        client_no_context_takeover: choice & 2 != 0,
        server_max_window_bits: 8 + (choice >> 2 & 7),
        name_server_window: choice & 0x20 != 0,
    };
    let piece = if choice & 0x40 != 0 {
        1
    } else {
        256 << (choice >> 7)
    };
    let mut ws = WsConnection::with_deflate(MAX, Some(deflate));
    let (mut out, mut buffered) = (Vec::new(), Vec::new());
    let mut closed = false;
    for part in stream.chunks(piece) {
        buffered.extend_from_slice(part);
        ws_reads::receive_all(&mut ws, &mut buffered, &mut out, |ws, event, out| {
            assert!(!closed, "event after close");
            match event {
                WsEvent::Message(m) => {
                    assert!(m.data.len() <= MAX, "inflated past the limit");
                    if m.opcode == OpCode::Text {
                        assert!(std::str::from_utf8(&m.data).is_ok());
                    }
                    // Echo it back compressed: the sending side must cope
                    // with whatever came in.
                    if ws.state() == WsState::Open {
                        ws.write_message(m.opcode, &m.data, out);
                    }
                }
                WsEvent::Closed { .. } => closed = true,
                WsEvent::Pong => {}
            }
        });
        assert_eq!(closed, ws.state() == WsState::Closed);
        out.clear();
    }
});
