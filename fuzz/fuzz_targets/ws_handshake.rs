//! Arbitrary bytes as a handshake request: decoded as HTTP, then validated
//! as a WebSocket upgrade. Never panics; an accepted handshake has a key
//! that is base64 of 16 bytes and an accept value of 28 base64 characters,
//! and an agreed permessage-deflate names only what an offer held.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtweb::http::{Limits, RequestDecoder, RequestEvent};
use rtweb::ws::{handshake, DeflatePolicy};

fuzz_target!(|data: &[u8]| {
    let mut decoder = RequestDecoder::new(Limits::default());
    let Ok(decoded) = decoder.decode(data, Instant::now()) else {
        return;
    };
    let Some(RequestEvent::Head(head)) = decoded.event else {
        return;
    };
    if let Ok(accepted) = handshake::validate(&head, DeflatePolicy::ContextTakeover) {
        assert_eq!(accepted.accept.len(), 28);
        assert_eq!(
            accepted.accept,
            handshake::accept_key(head.header("sec-websocket-key").unwrap())
        );
        if let Some(deflate) = accepted.deflate {
            assert!((8..=15).contains(&deflate.server_max_window_bits));
            assert!(head.header("sec-websocket-extensions").is_some());
            assert!(deflate.response().starts_with("permessage-deflate"));
        }
    }
});
