//! Arbitrary bytes, cut into arbitrary pieces, through the request decoder.
//!
//! The first byte picks the piece size; the decoder must never panic, never
//! consume more than it was given, never yield a body longer than its
//! framing allows, and never yield body bytes without a head.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtweb::http::request::BodyLength;
use rtweb::http::{Decoded, Limits, RequestDecoder, RequestEvent};

fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    let limits = Limits {
        max_head: 2048,
        max_headers: 16,
        max_target: 512,
        max_body: 4096,
    };
    let mut decoder = RequestDecoder::new(limits);
    let now = Instant::now();
    let mut buffered: Vec<u8> = Vec::new();
    let mut body: Option<(BodyLength, u64)> = None;
    for part in stream.chunks(piece) {
        buffered.extend_from_slice(part);
        loop {
            let Ok(Decoded { consumed, event }) = decoder.decode(&buffered, now) else {
                return;
            };
            assert!(
                consumed <= buffered.len(),
                "consumed {consumed} of {}",
                buffered.len()
            );
            let progressed = consumed > 0 || event.is_some();
            match event {
                Some(RequestEvent::Head(head)) => {
                    assert!(body.is_none(), "head inside a body");
                    assert!(head.target.len() <= limits.max_target);
                    body = Some((head.body, 0));
                }
                Some(RequestEvent::Body(data)) => {
                    let (framing, received) = body.as_mut().expect("body without head");
                    *received += data.len() as u64;
                    match framing {
                        BodyLength::Fixed(n) => {
                            assert!(*received <= *n, "body longer than Content-Length")
                        }
                        BodyLength::Chunked => {
                            assert!(*received <= limits.max_body as u64, "body over the limit")
                        }
                    }
                }
                Some(RequestEvent::End) => {
                    let (framing, received) = body.take().expect("end without head");
                    if let BodyLength::Fixed(n) = framing {
                        assert_eq!(received, n, "body shorter than Content-Length");
                    }
                }
                None => {}
            }
            buffered.drain(..consumed);
            if !progressed {
                break;
            }
        }
        assert!(
            buffered.len() <= limits.max_head + 1 + piece,
            "buffered past the head limit"
        );
    }
});
