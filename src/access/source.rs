//! Where a token travels in a request, and which place wins.
//!
//! Three places, tried in this order; the first that holds a token is the
//! one used, and the others are not looked at:
//!
//! 1. `Authorization: Bearer <token>` (RFC 6750 §2.1) — any client that can
//!    set a header: `curl`, servers, `fetch()`.
//! 2. The cookie `rtweb_token` (RFC 6265) — what a browser's `EventSource`
//!    and `WebSocket` carry, since neither can set a header.
//! 3. The query parameter `?access_token=` (RFC 6750 §2.3) — the last
//!    resort: URLs end up in logs and `Referer` headers.
//!
//! RFC 6750 §3.1 would answer `400 invalid_request` to a request carrying a
//! token in more than one of its methods; we take the first by the order
//! above instead, because a browser sends its cookie whether or not the
//! page also set a header, and the page's explicit choice should win.
//!
//! An `Authorization` header with another scheme (`Basic …`) is not ours
//! and is passed over. `Bearer` with nothing after it is a token — an empty
//! one, which then fails verification (`invalid_token`) rather than being
//! treated as no token at all.
//!
//! What this module does not do: verify anything (see `token`).

use std::borrow::Cow;

use crate::http::RequestHead;

/// The cookie that carries a token for browsers.
pub const COOKIE_NAME: &str = "rtweb_token";
/// The query parameter of RFC 6750 §2.3.
pub const QUERY_NAME: &str = "access_token";

/// Which of the three places a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Authorization,
    Cookie,
    Query,
}

/// The token a request carries, and where it was found.
pub fn find_token(head: &RequestHead) -> Option<(Source, Cow<'_, str>)> {
    if let Some(token) = head.header("authorization").and_then(bearer) {
        return Some((Source::Authorization, Cow::Borrowed(token)));
    }
    let cookies = head
        .fields
        .values("cookie")
        .filter_map(|value| std::str::from_utf8(value).ok());
    for header in cookies {
        if let Some(token) = cookie(header, COOKIE_NAME) {
            return Some((Source::Cookie, Cow::Borrowed(token)));
        }
    }
    let query = head.query(QUERY_NAME)?;
    Some((Source::Query, percent_decode(query)))
}

/// The token of `Bearer <token>`: the scheme is case-insensitive (RFC 9110
/// §11.1), followed by one or more spaces.
fn bearer(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_matches(' '))
}

/// The value of cookie `name` in a `Cookie` header, read as RFC 6265 §5.4
/// serialises it (`a=1; b=2`) but loosely: pairs split on `;`, whitespace
/// around names and values ignored, a value in double quotes unquoted
/// (§4.1.1), pairs without `=` skipped. The first pair named `name` wins.
fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if key.trim() != name {
            return None;
        }
        let value = value.trim();
        Some(
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value),
        )
    })
}

/// Decodes `%XX` escapes (RFC 3986 §2.1) and `+` as a space (form
/// encoding). A JWT needs neither, but a client's URL builder may escape
/// anyway. A broken escape is kept as it is; it then fails verification.
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::http::{request::BodyLength, Method, Version};

    /// A GET head with these fields.
    pub(crate) fn head(target: &str, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: Method::Get,
            target: target.into(),
            version: Version::Http11,
            fields: headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect(),
            body: BodyLength::Fixed(0),
            expects_continue: false,
        }
    }

    fn found(target: &str, headers: &[(&str, &str)]) -> Option<(Source, String)> {
        find_token(&head(target, headers)).map(|(s, t)| (s, t.into_owned()))
    }

    #[test]
    fn precedence_is_header_then_cookie_then_query() {
        let all = [("authorization", "Bearer H"), ("cookie", "rtweb_token=C")];
        let q = "/ch/a/sse?access_token=Q";
        assert_eq!(found(q, &all), Some((Source::Authorization, "H".into())));
        assert_eq!(found(q, &all[1..]), Some((Source::Cookie, "C".into())));
        assert_eq!(found(q, &[]), Some((Source::Query, "Q".into())));
        assert_eq!(found("/ch/a/sse", &[]), None);
        // Another scheme is not ours: the cookie is used.
        let basic = [("authorization", "Basic dTpw"), ("cookie", "rtweb_token=C")];
        assert_eq!(found("/", &basic), Some((Source::Cookie, "C".into())));
    }

    #[test]
    fn bearer_forms() {
        let cases = [
            ("Bearer abc.def.ghi", Some("abc.def.ghi")),
            ("bearer abc", Some("abc")),
            ("BEARER   abc  ", Some("abc")),
            ("Bearer", Some("")),
            ("Bearer ", Some("")),
            ("Bearerabc", None),
            ("Basic abc", None),
        ];
        for (value, expected) in cases {
            assert_eq!(bearer(value.as_bytes()), expected, "{value:?}");
        }
    }

    #[test]
    fn cookie_header_is_read_loosely() {
        let cases = [
            ("rtweb_token=t", Some("t")),
            ("a=1; rtweb_token=t; b=2", Some("t")),
            ("a=1;rtweb_token = t ;b=2", Some("t")),
            ("rtweb_token=\"t\"", Some("t")),
            ("flag; rtweb_token=t", Some("t")),
            ("rtweb_token=first; rtweb_token=second", Some("first")),
            ("xrtweb_token=t; rtweb_tokenx=u", None),
            ("", None),
        ];
        for (header, expected) in cases {
            assert_eq!(cookie(header, COOKIE_NAME), expected, "{header:?}");
        }
        // Several Cookie fields: each is searched.
        let two = [("cookie", "a=1"), ("cookie", "rtweb_token=t")];
        assert_eq!(found("/", &two), Some((Source::Cookie, "t".into())));
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(percent_decode("a.b.c"), "a.b.c");
        assert_eq!(percent_decode("a%2Eb%2ec"), "a.b.c");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
        assert_eq!(
            found("/x?after=3&access_token=a%2Eb", &[]),
            Some((Source::Query, "a.b".into()))
        );
    }
}
