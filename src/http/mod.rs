//! HTTP/1.1 (RFC 9112) as pure state machines: bytes in, typed events out;
//! typed responses in, bytes out. Nothing here touches a socket or a clock —
//! the event loop in `server/` feeds bytes and passes `now` where time matters.
//!
//! - [`request`]: the request decoder — head (parsed by `httparse`), limits,
//!   the RFC 9112 §6.3 body-framing rules, and the body itself.
//! - [`chunked`]: the strict chunked transfer coding, decoder and encoder.
//! - [`response`]: status codes, the response head writer.
//! - [`date`]: the `Date` header value, formatted once a second.

pub mod chunked;
pub mod date;
pub mod request;
pub mod response;

pub use request::{Decoded, Limits, Method, RequestDecoder, RequestEvent, RequestHead, Version};
pub use response::{Persistence, Response, Status};

/// A request the server cannot accept. The connection answers with `status`
/// (the reason as a plain-text body) and closes: after a framing error the
/// rest of the byte stream cannot be trusted to start a new request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    pub status: Status,
    pub reason: &'static str,
}

impl HttpError {
    pub const fn new(status: Status, reason: &'static str) -> Self {
        HttpError { status, reason }
    }
}

/// True when a comma-separated header value (RFC 9110 §5.6.1 list) holds
/// `token`, compared case-insensitively: `Connection: keep-alive, Upgrade`.
pub fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}
