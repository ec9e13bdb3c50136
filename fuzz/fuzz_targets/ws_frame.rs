//! Arbitrary bytes, in arbitrary pieces, through the WebSocket frame
//! decoder and message assembler.
//!
//! Never panics; never uses more than it was given, nor changes what it did
//! not use; a text message that comes out is valid UTF-8 and no message
//! exceeds the size limit; after the connection is closed it takes
//! everything and emits nothing more. And the pieces make no difference:
//! the same bytes offered one at a time (every payload assembled) give the
//! same events and the same output as in the fuzzer's pieces (where most
//! frames are whole and handed over in place).
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
    let in_pieces = run(stream, usize::from(piece).max(1));
    assert_eq!(in_pieces, run(stream, 1), "pieces changed the outcome");
});

/// Offers `stream` in reads of `piece` bytes; returns the events (copied
/// out) and everything the connection wrote.
fn run(stream: &[u8], piece: usize) -> (Vec<WsEvent<'static>>, Vec<u8>) {
    let mut ws = WsConnection::new(MAX);
    let (mut out, mut buffered, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let mut closed = false;
    for part in stream.chunks(piece) {
        buffered.extend_from_slice(part);
        ws_reads::receive_all(&mut ws, &mut buffered, &mut out, |_, event, _| {
            assert!(!closed, "event after close");
            match &event {
                WsEvent::Message(m) => {
                    assert!(m.data.len() <= MAX);
                    if m.opcode == OpCode::Text {
                        assert!(std::str::from_utf8(&m.data).is_ok());
                    }
                }
                WsEvent::Closed { .. } => closed = true,
                WsEvent::Pong => {}
            }
            events.push(event.into_owned());
        });
        assert_eq!(closed, ws.state() == WsState::Closed);
    }
    (events, out)
}
