//! Arbitrary bytes as a handshake request: decoded as HTTP, then validated
//! as a WebSocket upgrade. Never panics; an accepted handshake has a key
//! that is base64 of 16 bytes and an accept value of 28 base64 characters.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtweb::http::{Limits, RequestDecoder, RequestEvent};
use rtweb::ws::handshake;

fuzz_target!(|data: &[u8]| {
    let mut decoder = RequestDecoder::new(Limits::default());
    let Ok(decoded) = decoder.decode(data, Instant::now()) else { return };
    let Some(RequestEvent::Head(head)) = decoded.event else { return };
    if let Ok(accept) = handshake::validate(&head) {
        assert_eq!(accept.len(), 28);
        assert_eq!(accept, handshake::accept_key(head.header("sec-websocket-key").unwrap()));
    }
});
