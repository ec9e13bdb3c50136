//! Negotiating permessage-deflate (RFC 7692 §5, §7.1): which offer in the
//! client's `Sec-WebSocket-Extensions` the server accepts, and the answer.
//!
//! ```text
//! Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits,
//!                           permessage-deflate
//!            ─► Sec-WebSocket-Extensions: permessage-deflate
//! ```
//!
//! The client lists offers in the order it prefers them (§5.1); each is an
//! extension name and its parameters (RFC 6455 §9.1 grammar, a header that
//! may appear several times). The server takes the *first* permessage-deflate
//! offer it can honour and declines the rest by not naming them (§5.1);
//! other extensions are ignored — we speak none. The answer names exactly
//! the parameters agreed.
//!
//! The four parameters (§7.1), seen from this server:
//!
//! | parameter | in an offer means | what we answer |
//! |---|---|---|
//! | `server_no_context_takeover` | "reset your compressor per message" | echo it (we must, §7.1.1.1); channel sockets send it unasked |
//! | `client_no_context_takeover` | "I will reset mine" | echo it: we may then reset our inflater (§7.1.1.2) |
//! | `server_max_window_bits=N` | "use at most 2^N bytes of window" | echo it, and compress with that window (§7.1.2.1) |
//! | `client_max_window_bits[=N]` | "I can limit my window if asked" | never named: we inflate with the full 32 KiB window, which reads any client's output (§7.1.2.2) |
//!
//! Pure: header bytes in, a decision out. Nothing here compresses; see
//! `deflate.rs` for that.

/// What an endpoint lets permessage-deflate do (the server's side of the deal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeflatePolicy {
    /// `--ws-deflate off`: every offer is declined.
    Off,
    /// Context takeover both ways when the client allows it (`/echo`).
    ContextTakeover,
    /// The server compresses every message from scratch, so one compressed
    /// frame can be shared by every subscriber of a channel.
    NoServerContextTakeover,
}

/// `client_max_window_bits` in an offer (§7.1.2.2): it may carry no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientWindow {
    NotOffered,
    /// Named without a value: the client can limit its window if told to.
    Any,
    /// The client will use at most 2^N bytes.
    AtMost(u8),
}

/// One permessage-deflate offer, every parameter read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateOffer {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: ClientWindow,
}

/// Why an offer is declined (§7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decline {
    /// Not RFC 6455 §9.1 syntax (an empty name, a character outside a token).
    Malformed,
    /// §7.1: "an extension parameter not defined for use in an offer".
    UnknownParameter,
    /// §7.1: "an extension parameter with an invalid value".
    InvalidValue,
    /// §7.1: "multiple extension parameters with the same name".
    Duplicate,
}

/// What was agreed: how each side compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// We compress each message from an empty window.
    pub server_no_context_takeover: bool,
    /// The client does the same, so our inflater may start over per message.
    pub client_no_context_takeover: bool,
    /// Our compressor's window, 8 to 15 (15 unless the client asked less).
    pub server_max_window_bits: u8,
    /// Whether `server_max_window_bits` is named in the answer (only when
    /// the client offered it).
    pub name_server_window: bool,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value of the answer: exactly what was agreed.
    pub fn response(&self) -> String {
        let mut answer = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        if self.name_server_window {
            answer.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        answer
    }
}

/// The accepted parameters, or `None` when every offer is declined (the
/// connection then runs uncompressed). `values` are the request's
/// `Sec-WebSocket-Extensions` fields, in order.
pub fn negotiate<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    policy: DeflatePolicy,
) -> Option<DeflateParams> {
    if policy == DeflatePolicy::Off {
        return None;
    }
    // §5.1: the first offer the server supports; the rest are declined.
    let offer = parse_offers(values).into_iter().find_map(Result::ok)?;
    Some(DeflateParams {
        // §7.1.1.1: an offered server_no_context_takeover must be answered;
        // the server may also add it unasked.
        server_no_context_takeover: offer.server_no_context_takeover
            || policy == DeflatePolicy::NoServerContextTakeover,
        // §7.1.1.2: the server may answer it; doing so when offered lets us
        // drop the inflater between messages.
        client_no_context_takeover: offer.client_no_context_takeover,
        // §7.1.2.1: accepted by answering the same or a smaller value.
        server_max_window_bits: offer.server_max_window_bits.unwrap_or(15),
        name_server_window: offer.server_max_window_bits.is_some(),
    })
}

/// Every permessage-deflate offer in `values`, in order, each read or
/// declined. Offers of other extensions are skipped.
pub fn parse_offers<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<Result<DeflateOffer, Decline>> {
    let mut offers = Vec::new();
    for value in values {
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        // RFC 6455 §9.1: extension-list = 1#extension (commas between).
        for element in split_outside_quotes(value, ',') {
            let mut parts = split_outside_quotes(element, ';').into_iter();
            let name = parts.next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case("permessage-deflate") {
                offers.push(parse_offer(parts));
            }
        }
    }
    offers
}

/// The parameters of one offer (§7.1).
fn parse_offer<'a>(params: impl Iterator<Item = &'a str>) -> Result<DeflateOffer, Decline> {
    let mut offer = DeflateOffer {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: ClientWindow::NotOffered,
    };
    let mut seen: Vec<String> = Vec::new();
    for param in params {
        let (name, value) = parse_param(param)?;
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return Err(Decline::Duplicate);
        }
        match (name.as_str(), value) {
            // §7.1.1.1, §7.1.1.2: these two have no value.
            ("server_no_context_takeover", None) => offer.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => offer.client_no_context_takeover = true,
            // §7.1.2.1: a value is required.
            ("server_max_window_bits", Some(bits)) => {
                offer.server_max_window_bits = Some(window_bits(&bits)?)
            }
            // §7.1.2.2: the value is optional.
            ("client_max_window_bits", None) => offer.client_max_window_bits = ClientWindow::Any,
            ("client_max_window_bits", Some(bits)) => {
                offer.client_max_window_bits = ClientWindow::AtMost(window_bits(&bits)?)
            }
            (
                "server_no_context_takeover"
                | "client_no_context_takeover"
                | "server_max_window_bits",
                _,
            ) => return Err(Decline::InvalidValue),
            _ => return Err(Decline::UnknownParameter),
        }
        seen.push(name);
    }
    Ok(offer)
}

/// `name` or `name=value`, the value a token or a quoted string whose
/// content is a token (RFC 6455 §9.1).
fn parse_param(param: &str) -> Result<(&str, Option<String>), Decline> {
    let (name, value) = match param.split_once('=') {
        Some((name, value)) => (name.trim(), Some(value.trim())),
        None => (param.trim(), None),
    };
    if !is_token(name) {
        return Err(Decline::Malformed);
    }
    let value = match value {
        None => None,
        Some(quoted) if quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"') => {
            let inner = &quoted[1..quoted.len() - 1];
            // RFC 9110 §5.6.4: a backslash quotes the next character.
            let mut unescaped = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                unescaped.push(if c == '\\' {
                    chars.next().ok_or(Decline::Malformed)?
                } else {
                    c
                });
            }
            Some(unescaped)
        }
        Some(token) => Some(token.to_owned()),
    };
    match value {
        Some(value) if !is_token(&value) => Err(Decline::Malformed),
        value => Ok((name, value)),
    }
}

/// §7.1.2.1: "a decimal integer value without leading zeroes between 8 to
/// 15, inclusive".
fn window_bits(value: &str) -> Result<u8, Decline> {
    let digits = value.bytes().all(|b| b.is_ascii_digit()) && !value.starts_with('0');
    match value.parse::<u8>() {
        Ok(bits @ 8..=15) if digits => Ok(bits),
        _ => Err(Decline::InvalidValue),
    }
}

/// RFC 9110 §5.6.2: token = 1*tchar.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Splits at `separator`, except inside a quoted string.
fn split_outside_quotes(s: &str, separator: char) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
#[path = "negotiation_tests.rs"]
mod tests;
