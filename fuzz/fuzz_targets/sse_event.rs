//! Arbitrary text → the SSE encoder → the standard's parsing algorithm (the
//! same parser the integration tests use): the text must come back, with
//! its line breaks as LF, in exactly one event carrying the right id.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/event_stream.rs"]
mod event_stream;

fuzz_target!(|input: (u64, &str, u8)| {
    let (id, text, piece) = input;
    let mut bytes = Vec::new();
    rtweb::sse::encode_event(&mut bytes, Some(id), None, text);
    // Fed in pieces: a CRLF split across two reads must stay one break.
    let mut parser = event_stream::EventStreamParser::default();
    let mut events = Vec::new();
    for part in bytes.chunks(usize::from(piece).max(1)) {
        events.extend(parser.feed(part));
    }
    assert_eq!(events.len(), 1, "one message, one event");
    assert_eq!(events[0].data, event_stream::normalize_line_breaks(text));
    assert_eq!(events[0].last_event_id, id.to_string());
});
