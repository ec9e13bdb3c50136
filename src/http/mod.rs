//! HTTP/1.1 (RFC 9112) as pure state machines: bytes in, typed events out;
//! typed responses in, bytes out. Nothing here touches a socket or a clock —
//! the event loop in `server/` feeds bytes and passes `now` where time matters.
//!
//! - [`request`]: the request decoder — finds each head, applies the size
//!   limits as bytes arrive, and hands out the body as the head frames it.
//! - [`head`]: one request head — parsed by `httparse`, then the RFC 9112 §3
//!   request-line and `Host` rules and the §6.3 body-framing rules.
//! - [`fields`]: the head's header fields, kept in one buffer.
//! - [`chunked`]: the strict chunked transfer coding, decoder and encoder.
//! - [`response`]: status codes, the response head writer.
//! - [`date`]: the `Date` header value, formatted once a second.

pub mod chunked;
pub mod date;
pub mod fields;
pub mod head;
pub mod request;
pub mod response;

pub use fields::Fields;
pub use head::{Method, RequestHead, Version};
pub use request::{Decoded, Limits, RequestDecoder, RequestEvent};
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
