//! Arbitrary bytes, in arbitrary pieces, through the WebSocket frame
//! decoder and message assembler.
//!
//! Never panics; never uses more than it was given, nor changes what it did
//! not use; a text message that
//! comes out is valid UTF-8 and no message exceeds the size limit; after
//! the connection is closed it takes everything and emits nothing more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtweb::ws::{OpCode, WsConnection, WsEvent, WsState};

#[path = "../common/ws_reads.rs"]
mod ws_reads;

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    let mut ws = WsConnection::new(MAX);
    let (mut out, mut buffered) = (Vec::new(), Vec::new());
    let mut closed = false;
    for part in stream.chunks(piece) {
        buffered.extend_from_slice(part);
        ws_reads::receive_all(&mut ws, &mut buffered, &mut out, |_, event, _| {
            assert!(!closed, "event after close");
            match event {
                WsEvent::Message(m) => {
                    assert!(m.data.len() <= MAX);
                    if m.opcode == OpCode::Text {
                        assert!(std::str::from_utf8(&m.data).is_ok());
                    }
                }
                WsEvent::Closed { .. } => closed = true,
                WsEvent::Pong => {}
            }
        });
        assert_eq!(closed, ws.state() == WsState::Closed);
    }
});
