//! One request head, parsed and checked: the bytes of a complete head in
//! (request line, fields, the empty line), a [`RequestHead`] out.
//!
//! ```text
//! POST /ch/demo HTTP/1.1\r\n       request line (RFC 9112 §3)
//! Host: 127.0.0.1\r\n              header fields (§5)
//! Content-Length: 5\r\n            → BodyLength::Fixed(5) (§6.3)
//! \r\n
//! ```
//!
//! The bytes come from the decoder in [`super::request`], which found where
//! the head ends; the `RequestHead` goes back to it, to be handed out as
//! `RequestEvent::Head`, and its [`BodyLength`] tells the decoder how the body
//! that follows is framed.
//!
//! `httparse` reads the request line and the fields; here are the rules it
//! leaves to its caller, each beside the RFC sentence it follows: the
//! version in a request line it refused (400, 505, or HTTP/1.2 read as 1.1),
//! the absolute form and its authority, exactly one `Host`, the message body
//! length from `Transfer-Encoding` and `Content-Length`, and `Expect`. The
//! `RequestHead` then answers what later layers ask of it: a field, the
//! path, a query value, whether the connection persists (RFC 9112 §9.3).
//!
//! What this module does not do: find the end of the head or enforce
//! `max_head` (the decoder does both, as bytes arrive), or read the body.

use std::mem::MaybeUninit;

use super::fields::Fields;
use super::request::{error, Limits};
use super::response::Persistence;
use super::{has_token, HttpError, Status};

/// The most header fields a head may have, whatever `Limits::max_headers`
/// says: the size of the array httparse fills, which lives on the stack.
pub const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    /// A CORS preflight, or a client asking what a resource allows.
    Options,
    /// Any other method: parsed, then answered `405` by the routes.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    Fixed(u64),
    Chunked,
}

/// A parsed, validated request head. Owns its data: the input buffer moves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// The request-target as sent: path and optional query.
    pub target: String,
    pub version: Version,
    /// The header fields: names as sent, found in any case.
    pub fields: Fields,
    pub body: BodyLength,
    /// `Expect: 100-continue` was sent.
    pub expects_continue: bool,
}

impl RequestHead {
    /// The first value of the field `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.fields.get(name)
    }

    /// True when any `name` field lists `token` (comma-separated, any case).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.fields.values(name).any(|v| has_token(v, token))
    }

    /// RFC 9112 §9.3: HTTP/1.1 persists unless `Connection: close`;
    /// HTTP/1.0 closes unless `Connection: keep-alive` — which the answer
    /// must then confirm.
    pub fn persistence(&self) -> Persistence {
        match self.version {
            Version::Http11 if self.header_has_token("connection", "close") => Persistence::Close,
            Version::Http11 => Persistence::Persist,
            Version::Http10 if self.header_has_token("connection", "keep-alive") => {
                Persistence::ConfirmKeepAlive
            }
            Version::Http10 => Persistence::Close,
        }
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(&self.target, |(path, _)| path)
    }

    /// The value of `key` in the query string, if present.
    pub fn query(&self, key: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then_some(v)
        })
    }
}

/// Parses a complete head and applies the rules httparse leaves to us.
pub(super) fn parse_head(bytes: &[u8], limits: &Limits) -> Result<RequestHead, HttpError> {
    // Uninitialised: httparse writes the fields it finds and reads no other.
    let mut parsed = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    // httparse already refuses, for requests: obs-fold (RFC 9112 §5.2),
    // whitespace between a field name and its colon (§5.1), and CR, LF or
    // NUL inside a value (RFC 9110 §5.5).
    let max_headers = limits.max_headers.min(MAX_HEADERS);
    match request.parse_with_uninit_headers(bytes, &mut parsed[..max_headers]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(error(Status::BAD_REQUEST, "malformed request head"))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(error(
                Status::HEADER_FIELDS_TOO_LARGE,
                "too many header fields",
            ))
        }
        // httparse says "Version" for any request line it cannot read past
        // the target, so the line is classified again here.
        Err(httparse::Error::Version) => {
            return match request_line_version(bytes) {
                LineVersion::Malformed => Err(error(
                    Status::BAD_REQUEST,
                    "malformed request line: method SP target SP HTTP/x.y expected",
                )),
                LineVersion::OtherMajor => Err(error(
                    Status::HTTP_VERSION_NOT_SUPPORTED,
                    "only HTTP/1.0 and HTTP/1.1 are supported",
                )),
                // RFC 9110 §2.5: a recipient that receives a major version it
                // implements and a higher minor version SHOULD process the
                // message as if it were in the highest minor version it
                // conforms to — HTTP/1.2 is read as HTTP/1.1.
                LineVersion::LaterMinor { minor_at } => {
                    let mut as_http11 = bytes.to_vec();
                    as_http11[minor_at] = b'1';
                    parse_head(&as_http11, limits)
                }
            };
        }
        Err(_) => return Err(error(Status::BAD_REQUEST, "malformed request head")),
    }
    let target = request.path.unwrap_or("/");
    if target.len() > limits.max_target {
        return Err(error(Status::URI_TOO_LONG, "request-target too long"));
    }
    // RFC 9112 §3.2.2: a server MUST accept the absolute form
    // (`GET http://host/path HTTP/1.1`), and "MUST ignore the received Host
    // header field (if any) and instead use the host information of the
    // request-target".
    let (authority, target) = match split_absolute_form(target) {
        Some((authority, path)) => (Some(authority), path),
        None => (None, target),
    };
    let version = if request.version == Some(0) {
        Version::Http10
    } else {
        Version::Http11
    };
    let method = match request.method.unwrap_or("") {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "OPTIONS" => Method::Options,
        _ => Method::Other,
    };
    // The absolute form's authority replaces every Host field (§3.2.2).
    let replaced = |name: &str| authority.is_some() && name.eq_ignore_ascii_case("host");
    let mut fields = Fields::with_capacity(request.headers.len() + 1, bytes.len());
    for field in request.headers.iter().filter(|h| !replaced(h.name)) {
        fields.push(field.name, field.value);
    }
    if let Some(authority) = authority {
        fields.push("Host", authority.as_bytes());
    }

    // RFC 9112 §3.2: a server MUST respond with 400 to any HTTP/1.1 request
    // message that lacks a Host header field and to any request message that
    // contains more than one Host header field.
    let hosts = fields.count("host");
    if hosts > 1 || (version == Version::Http11 && hosts == 0) {
        return Err(error(
            Status::BAD_REQUEST,
            "an HTTP/1.1 request needs exactly one Host",
        ));
    }
    let body = body_length(&fields, version, limits)?;
    let expects_continue = match fields.get("expect") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case(b"100-continue") => true,
        // RFC 9110 §10.1.1: a server that receives an Expect field value
        // other than 100-continue MAY respond with 417.
        Some(_) => {
            return Err(error(
                Status::EXPECTATION_FAILED,
                "only 100-continue is understood",
            ))
        }
    };
    Ok(RequestHead {
        method,
        target: target.to_owned(),
        version,
        fields,
        body,
        expects_continue,
    })
}

/// `http://authority/path?query` → (`authority`, `/path?query`); `None`
/// for any other form. The path of an absolute URI may be empty (`/` then).
fn split_absolute_form(target: &str) -> Option<(&str, &str)> {
    let scheme_len = ["http://", "https://"].into_iter().find_map(|scheme| {
        let prefix = target.get(..scheme.len())?;
        prefix.eq_ignore_ascii_case(scheme).then_some(scheme.len())
    })?;
    let rest = &target[scheme_len..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return None;
    }
    Some((authority, if path.is_empty() { "/" } else { path }))
}

/// What the version of a request line that httparse refused turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum LineVersion {
    /// Not `method SP request-target SP HTTP-version` — a missing version,
    /// a fourth word, `http/1.1`, `HTTP/11`: malformed, so `400`.
    Malformed,
    /// Well-formed, but a major version other than 1 (`HTTP/2.0`): `505`.
    OtherMajor,
    /// `HTTP/1.y` with y > 1; `minor_at` is the offset of the minor digit.
    LaterMinor { minor_at: usize },
}

/// Classifies the request line (RFC 9112 §3):
///
/// ```text
/// request-line = method SP request-target SP HTTP-version
/// HTTP-version = HTTP-name "/" DIGIT "." DIGIT        (§2.3)
/// HTTP-name    = %s"HTTP"                             (case-sensitive)
/// ```
///
/// §3: "Recipients of an invalid request-line SHOULD respond with either a 400
/// (Bad Request) error or a 301 (Moved Permanently) redirect". `505` is for a
/// line that is valid but names a major version the server does not support
/// (RFC 9110 §15.6.6) — it says "use another version", which is no answer to
/// a line that names none.
fn request_line_version(head: &[u8]) -> LineVersion {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [_method, _target, version] = words.as_slice() else {
        return LineVersion::Malformed;
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'2'..=b'9') => LineVersion::LaterMinor {
                    minor_at: line.len() - 1,
                },
                // HTTP/1.0 and 1.1 are never refused for their version.
                (b'1', _) => LineVersion::Malformed,
                _ => LineVersion::OtherMajor,
            }
        }
        _ => LineVersion::Malformed,
    }
}

/// RFC 9112 §6.3, "Message Body Length", the request cases in the RFC's order.
fn body_length(
    fields: &Fields,
    version: Version,
    limits: &Limits,
) -> Result<BodyLength, HttpError> {
    let has_te = fields.get("transfer-encoding").is_some();
    let has_cl = fields.get("content-length").is_some();

    // §6.3 item 3: "If a message is received with both a Transfer-Encoding
    // and a Content-Length header field, the Transfer-Encoding overrides the
    // Content-Length. Such a message might indicate an attempt to perform
    // request smuggling ... and ought to be handled as an error." We refuse.
    if has_te && has_cl {
        return Err(error(
            Status::BAD_REQUEST,
            "both Transfer-Encoding and Content-Length",
        ));
    }
    if has_te {
        // §6.1: a server that receives a request with Transfer-Encoding in an
        // HTTP/1.0 message MUST treat it as faulty framing.
        if version == Version::Http10 {
            return Err(error(
                Status::BAD_REQUEST,
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        let codings: Vec<&[u8]> = fields
            .values("transfer-encoding")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(|c| c.trim_ascii())
            .filter(|c| !c.is_empty())
            .collect();
        let chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
        return match codings.as_slice() {
            [] => Err(error(Status::BAD_REQUEST, "empty Transfer-Encoding")),
            [only] if chunked(only) => Ok(BodyLength::Chunked),
            // §7.1: a sender MUST NOT apply chunked more than once.
            [.., last] if chunked(last) && codings.iter().filter(|c| chunked(c)).count() > 1 => {
                Err(error(Status::BAD_REQUEST, "chunked applied more than once"))
            }
            // §6.1: the message is framable (chunked is last), but a coding
            // before it is one we do not understand: 501.
            [.., last] if chunked(last) => Err(error(
                Status::NOT_IMPLEMENTED,
                "only the chunked transfer coding is supported",
            )),
            // §6.3 item 4: "If a Transfer-Encoding header field is present in
            // a request and the chunked transfer coding is not the final
            // encoding, the message body length cannot be determined
            // reliably; the server MUST respond with the 400 (Bad Request)
            // status code and then close the connection."
            _ => Err(error(
                Status::BAD_REQUEST,
                "chunked must be the final transfer coding",
            )),
        };
    }
    // §6.3 item 5: an invalid Content-Length (not plain digits, or several
    // that differ) is an unrecoverable error.
    let mut length: Option<u64> = None;
    for value in fields.values("content-length") {
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(error(
                Status::BAD_REQUEST,
                "Content-Length is not a decimal number",
            ));
        }
        let n = std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(error(Status::BAD_REQUEST, "Content-Length overflows"))?;
        if length.is_some_and(|previous| previous != n) {
            return Err(error(
                Status::BAD_REQUEST,
                "differing Content-Length values",
            ));
        }
        length = Some(n);
    }
    // §6.3 item 6 (a valid Content-Length) or item 7 (a request with neither: no body).
    let length = length.unwrap_or(0);
    if length > limits.max_body as u64 {
        return Err(error(Status::CONTENT_TOO_LARGE, "request body too large"));
    }
    Ok(BodyLength::Fixed(length))
}
