//! Responses: status codes and the response head writer (RFC 9112 §4, §6).
//!
//! Every response says how its body ends — `Content-Length`, `Transfer-Encoding:
//! chunked`, or (HTTP/1.0 streams only) the closing of the connection — and
//! carries a `Date`. Bytes are appended to a caller's `Vec<u8>`, so a response
//! head and a small body leave in one write.

use std::io::Write;

/// An HTTP status code with its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u16);

impl Status {
    pub const CONTINUE: Status = Status(100);
    pub const SWITCHING_PROTOCOLS: Status = Status(101);
    pub const OK: Status = Status(200);
    pub const NO_CONTENT: Status = Status(204);
    pub const BAD_REQUEST: Status = Status(400);
    pub const NOT_FOUND: Status = Status(404);
    pub const METHOD_NOT_ALLOWED: Status = Status(405);
    pub const REQUEST_TIMEOUT: Status = Status(408);
    pub const CONTENT_TOO_LARGE: Status = Status(413);
    pub const URI_TOO_LONG: Status = Status(414);
    pub const EXPECTATION_FAILED: Status = Status(417);
    pub const UPGRADE_REQUIRED: Status = Status(426);
    pub const HEADER_FIELDS_TOO_LARGE: Status = Status(431);
    pub const INTERNAL_SERVER_ERROR: Status = Status(500);
    pub const NOT_IMPLEMENTED: Status = Status(501);
    pub const SERVICE_UNAVAILABLE: Status = Status(503);
    pub const HTTP_VERSION_NOT_SUPPORTED: Status = Status(505);
    pub const INSUFFICIENT_STORAGE: Status = Status(507);

    pub fn reason(self) -> &'static str {
        match self.0 {
            100 => "Continue",
            101 => "Switching Protocols",
            200 => "OK",
            204 => "No Content",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            413 => "Content Too Large",
            414 => "URI Too Long",
            417 => "Expectation Failed",
            426 => "Upgrade Required",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            507 => "Insufficient Storage",
            _ => "Unknown",
        }
    }
}

/// How the body after a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked` — a stream of unknown length (HTTP/1.1).
    Chunked,
    /// The body ends when the connection closes — streams to HTTP/1.0 clients.
    UntilClose,
    /// No body and no length header: `1xx` responses.
    None,
}

/// The parts of a response head besides the status.
pub struct HeadFields<'a> {
    pub date: &'a [u8],
    pub framing: Framing,
    pub close: bool,
    pub headers: &'a [(&'static str, String)],
}

/// Appends a status line and header section ending in the empty line.
pub fn write_head(out: &mut Vec<u8>, status: Status, fields: &HeadFields<'_>) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {} ", status.0);
    out.extend_from_slice(status.reason().as_bytes());
    out.extend_from_slice(b"\r\nServer: rtweb\r\nDate: ");
    out.extend_from_slice(fields.date);
    out.extend_from_slice(b"\r\n");
    for (name, value) in fields.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match fields.framing {
        Framing::Length(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::UntilClose | Framing::None => {}
    }
    if fields.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends an interim (1xx) response: a status line and the empty line.
/// RFC 9110 §15.2: a 1xx has no content, and is never sent to HTTP/1.0.
pub fn write_interim(out: &mut Vec<u8>, status: Status) {
    let _ = write!(out, "HTTP/1.1 {} {}\r\n\r\n", status.0, status.reason());
}

/// A complete response with its body in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A plain-text response: what every error carries.
    pub fn text(status: Status, body: impl Into<String>) -> Response {
        let mut body = body.into().into_bytes();
        if !body.ends_with(b"\n") {
            body.push(b'\n');
        }
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body,
        }
    }

    /// A JSON answer carrying live data, which no cache may keep.
    pub fn json(body: String) -> Response {
        Response {
            status: Status::OK,
            headers: vec![
                ("Content-Type", "application/json".into()),
                ("Cache-Control", "no-store".into()),
            ],
            body: body.into_bytes(),
        }
    }

    pub fn with_body(
        status: Status,
        content_type: &'static str,
        body: impl Into<Vec<u8>>,
    ) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.into())],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Appends head and body; for a `HEAD` request the head alone, with the
    /// `Content-Length` the `GET` would have had.
    pub fn write(&self, out: &mut Vec<u8>, date: &[u8], head_only: bool, close: bool) {
        // RFC 9110 §8.6: no Content-Length in a 1xx or 204 response.
        let framing = match self.status.0 {
            100..=199 | 204 => Framing::None,
            _ => Framing::Length(self.body.len()),
        };
        let fields = HeadFields {
            date,
            framing,
            close,
            headers: &self.headers,
        };
        write_head(out, self.status, &fields);
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_head_and_body() {
        let mut out = Vec::new();
        let date = b"Sun, 06 Nov 1994 08:49:37 GMT";
        Response::text(Status::NOT_FOUND, "no such path").write(&mut out, date, false, true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\nServer: rtweb\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\
             Connection: close\r\n\r\nno such path\n"
        );
    }

    #[test]
    fn head_only_keeps_the_length_and_drops_the_body() {
        let mut out = Vec::new();
        Response::json("{}".into()).write(&mut out, b"d", true, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }
}
