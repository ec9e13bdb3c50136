//! The event-stream format (WHATWG HTML, "Server-sent events", §9.2.5–9.2.6).
//!
//! ```text
//! retry: 2000          how long EventSource waits before reconnecting
//!
//! id: 7                the id EventSource sends back as Last-Event-ID
//! data: first line     one data line per line of the text
//! data: second line
//!                      a blank line dispatches the event
//! : keep-alive         a comment: ignored by the client, keeps proxies awake
//! ```
//!
//! The receiver treats CRLF, LF and a lone CR each as a line break, and joins
//! the `data:` lines with LF. So a message's text is split at every kind of
//! line break and sent as one `data:` line per line; what arrives is the text
//! with its line breaks normalised to LF — the one thing the format cannot
//! carry is which kind of break it was. After `data:` we always write one
//! space, which the parser strips, so text that starts with a space or a
//! colon survives. This module only produces bytes; the chunked framing
//! around them (HTTP/1.1) is added by the caller.

use std::io::Write;

/// Appends one event.
pub fn encode_event(out: &mut Vec<u8>, id: Option<u64>, event: Option<&str>, data: &str) {
    if let Some(event) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    if let Some(id) = id {
        // Writing to a Vec cannot fail.
        let _ = writeln!(out, "id: {id}");
    }
    for line in lines(data) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Appends the `retry:` field that opens a stream.
pub fn encode_retry(out: &mut Vec<u8>, millis: u128) {
    let _ = write!(out, "retry: {millis}\n\n");
}

/// A comment line: ignored by EventSource, but bytes on the wire.
pub const HEARTBEAT: &[u8] = b": keep-alive\n\n";

/// Splits at CRLF, LF or CR, as the event-stream parser does. Always at
/// least one line (an empty text is one empty line).
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(current)
            }
            Some(at) => {
                let skip = if current[at..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[at + skip..]);
                Some(&current[..at])
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(data: &str) -> String {
        let mut out = Vec::new();
        encode_event(&mut out, Some(3), None, data);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_data_line_per_line() {
        assert_eq!(
            encode("a\r\nb\rc\nd"),
            "id: 3\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(encode(""), "id: 3\ndata: \n\n");
        assert_eq!(encode("x\n"), "id: 3\ndata: x\ndata: \n\n");
        assert_eq!(encode(" :lead"), "id: 3\ndata:  :lead\n\n");
    }
}
