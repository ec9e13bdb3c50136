//! The opening handshake (RFC 6455 §4.2): an HTTP/1.1 `GET` that asks to
//! switch protocols, answered `101`.
//!
//! ```text
//! GET /echo HTTP/1.1
//! Host: 127.0.0.1:8080
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! Sec-WebSocket-Version: 13
//!
//! HTTP/1.1 101 Switching Protocols
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! ```
//!
//! The accept value proves the server read this request as WebSocket: it
//! is the base64 SHA-1 of the client's key joined with a fixed GUID. A cache
//! or a server that does not speak WebSocket could not produce it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha1::{Digest, Sha1};

use super::negotiation::{self, DeflateParams, DeflatePolicy};
use crate::http::{Method, RequestHead, Response, Status, Version};

/// A handshake the server will answer `101`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// `Sec-WebSocket-Accept`.
    pub accept: String,
    /// permessage-deflate, when an offer was accepted (RFC 7692 §5).
    pub deflate: Option<DeflateParams>,
}

/// §1.3: the GUID appended to the key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    BASE64.encode(sha1.finalize())
}

/// Checks a handshake request (§4.2.1) and negotiates its extensions under
/// `deflate`; returns what to answer, or the response that refuses it.
pub fn validate(head: &RequestHead, deflate: DeflatePolicy) -> Result<Accepted, Response> {
    let refuse = |reason: &str| Err(Response::text(Status::BAD_REQUEST, reason));
    if head.method != Method::Get || head.version != Version::Http11 {
        return refuse("a WebSocket handshake is an HTTP/1.1 GET");
    }
    if !head.header_has_token("upgrade", "websocket") {
        return Err(
            // RFC 9110 §7.8: a server that sends Upgrade MUST also send the
            // `upgrade` connection option.
            Response::text(Status::UPGRADE_REQUIRED, "this resource speaks WebSocket")
                .header("Upgrade", "websocket")
                .header("Connection", "upgrade")
                .header("Sec-WebSocket-Version", "13"),
        );
    }
    if !head.header_has_token("connection", "upgrade") {
        return refuse("the Connection header must hold the Upgrade token");
    }
    // §4.2.2: a version we do not speak gets 426 and the versions we do.
    if head.header("sec-websocket-version") != Some(b"13") {
        return Err(Response::text(
            Status::UPGRADE_REQUIRED,
            "only WebSocket version 13 is supported",
        )
        .header("Sec-WebSocket-Version", "13"));
    }
    // §4.1: the key is a base64-encoded 16-byte value.
    let key = head.header("sec-websocket-key").unwrap_or_default();
    match BASE64.decode(key) {
        Ok(bytes) if bytes.len() == 16 => Ok(Accepted {
            accept: accept_key(key),
            // §9.1: the header may be sent several times; one list.
            deflate: negotiation::negotiate(
                head.fields.values("sec-websocket-extensions"),
                deflate,
            ),
        }),
        _ => refuse("Sec-WebSocket-Key must be base64 of 16 bytes"),
    }
}

/// Appends the `101` response, naming the extension agreed (§9.1: the
/// answer holds only extensions the client offered).
pub fn write_accept(out: &mut Vec<u8>, accepted: &Accepted, date: &[u8]) {
    use crate::http::response::{write_head, Framing, HeadFields, Persistence};
    let mut headers = vec![
        ("Upgrade", "websocket".to_owned()),
        ("Connection", "Upgrade".to_owned()),
        ("Sec-WebSocket-Accept", accepted.accept.clone()),
    ];
    if let Some(deflate) = &accepted.deflate {
        headers.push(("Sec-WebSocket-Extensions", deflate.response()));
    }
    write_head(
        out,
        Status::SWITCHING_PROTOCOLS,
        &HeadFields {
            date,
            framing: Framing::None,
            connection: Persistence::Persist,
            headers: &headers,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extensions: &[&str]) -> RequestHead {
        let mut raw = String::from(
            "GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        );
        for value in extensions {
            raw.push_str(&format!("Sec-WebSocket-Extensions: {value}\r\n"));
        }
        raw.push_str("\r\n");
        let mut decoder = crate::http::RequestDecoder::new(crate::http::Limits::default());
        match decoder.decode(raw.as_bytes(), std::time::Instant::now()) {
            Ok(crate::http::Decoded {
                event: Some(crate::http::RequestEvent::Head(head)),
                ..
            }) => head,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_answer_carries_the_agreed_extension() {
        let head = request(&["x-other", "permessage-deflate; client_max_window_bits"]);
        let accepted = validate(&head, DeflatePolicy::NoServerContextTakeover).unwrap();
        let mut out = Vec::new();
        write_accept(&mut out, &accepted, b"Thu, 01 Jan 1970 00:00:00 GMT");
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains(
                "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
            ),
            "{out}"
        );
        // Declined (or never offered): no extension header at all.
        for (head, policy) in [
            (request(&[]), DeflatePolicy::ContextTakeover),
            (head, DeflatePolicy::Off),
        ] {
            let accepted = validate(&head, policy).unwrap();
            assert_eq!(accepted.deflate, None);
            let mut out = Vec::new();
            write_accept(&mut out, &accepted, b"Thu, 01 Jan 1970 00:00:00 GMT");
            assert!(!String::from_utf8(out).unwrap().contains("Extensions"));
        }
    }

    #[test]
    fn accept_matches_the_rfc_example() {
        // §1.3's worked example.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
