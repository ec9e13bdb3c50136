//! The request decoder: bytes from the socket in, [`RequestEvent`]s out.
//!
//! # How it works
//!
//! A connection carries a sequence of requests, each a head and a body:
//!
//! ```text
//! POST /ch/demo HTTP/1.1\r\n       request line
//! Host: 127.0.0.1\r\n              header fields
//! Content-Length: 5\r\n
//! \r\n                             the empty line ends the head
//! hello                            the body, framed as the head says
//! GET /ch/demo/poll HTTP/1.1\r\n   the next request may already follow
//! ```
//!
//! The decoder alternates between two states: `Head` (looking for the empty
//! line, then handing the head's bytes to [`super::head`], which parses them
//! with `httparse` and applies every rule `httparse` leaves to its caller)
//! and `Body` (handing out exactly the bytes the framing allows, then
//! `End`). The caller owns the buffer: it passes the unconsumed bytes,
//! removes the `consumed` prefix it is told about, and calls again while
//! there is progress. The result is the same for every split of the stream —
//! one byte at a time or ten pipelined requests at once.
//!
//! A head that trickles in costs linear time: `searched` remembers how far the
//! search for the empty line got, so no byte is scanned twice.
//!
//! Time is an argument: the decoder records when a head began (`now`), and
//! [`RequestDecoder::head_started`] lets the event loop set a deadline.
//!
//! What this module does not do: the rules of one head (request line,
//! fields, body length: `head.rs`), routing, responses, or anything after an
//! upgrade — once a `101` is sent the bytes belong to the WebSocket layer.

use std::time::Instant;

use super::chunked::{Chunk, ChunkedDecoder};
use super::head::parse_head;
use super::{HttpError, Status};

// The head's types keep their paths here (`http::request::BodyLength` is
// named by the app and the fuzz targets); they are defined in `head.rs`.
pub use super::head::{BodyLength, Method, RequestHead, Version};

/// Limits on what one request may make the server hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request head (request line and fields) in bytes → `431`.
    pub max_head: usize,
    /// Most header fields → `431`; at most [`MAX_HEADERS`](super::head::MAX_HEADERS).
    pub max_headers: usize,
    /// Longest request-target → `414`.
    pub max_target: usize,
    /// Largest body → `413`.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 16 * 1024,
            max_headers: 64,
            max_target: 8 * 1024,
            max_body: 64 * 1024,
        }
    }
}

/// What the decoder found.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestEvent<'a> {
    Head(RequestHead),
    /// A piece of the body, borrowed from the input.
    Body(&'a [u8]),
    /// The body (possibly empty) is complete; the next request may follow.
    End,
}

/// The result of one [`RequestDecoder::decode`] call.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Bytes of the input used up; the caller removes them.
    pub consumed: usize,
    /// `None` when more input is needed (and `consumed` says what was skipped).
    pub event: Option<RequestEvent<'a>>,
}

#[derive(Debug, Clone)]
enum State {
    Head,
    FixedBody {
        remaining: u64,
    },
    ChunkedBody {
        decoder: ChunkedDecoder,
        received: u64,
    },
}

/// Decodes a connection's stream of requests.
#[derive(Debug, Clone)]
pub struct RequestDecoder {
    limits: Limits,
    state: State,
    /// Bytes of the current head already scanned for its end.
    searched: usize,
    /// Whether the scan has seen the end of the request line.
    saw_line_end: bool,
    /// When the first byte of the current head arrived.
    head_started: Option<Instant>,
}

pub(super) const fn error(status: Status, reason: &'static str) -> HttpError {
    HttpError::new(status, reason)
}

impl RequestDecoder {
    pub fn new(limits: Limits) -> Self {
        RequestDecoder {
            limits,
            state: State::Head,
            searched: 0,
            saw_line_end: false,
            head_started: None,
        }
    }

    /// When the head now being received began, if one is.
    pub fn head_started(&self) -> Option<Instant> {
        self.head_started
    }

    /// True between requests: no byte of a new head has arrived.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head) && self.head_started.is_none()
    }

    /// Decodes the next event from `input`, the bytes not yet consumed.
    pub fn decode<'a>(&mut self, input: &'a [u8], now: Instant) -> Result<Decoded<'a>, HttpError> {
        match &mut self.state {
            State::Head => self.decode_head(input, now),
            State::FixedBody { remaining } => {
                if *remaining == 0 {
                    self.state = State::Head;
                    return Ok(Decoded {
                        consumed: 0,
                        event: Some(RequestEvent::End),
                    });
                }
                if input.is_empty() {
                    return Ok(Decoded {
                        consumed: 0,
                        event: None,
                    });
                }
                let take = input
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= take as u64;
                Ok(Decoded {
                    consumed: take,
                    event: Some(RequestEvent::Body(&input[..take])),
                })
            }
            State::ChunkedBody { decoder, received } => {
                let (consumed, chunk) = decoder.decode(input)?;
                let event = match chunk {
                    None => None,
                    Some(Chunk::Data(data)) => {
                        *received += data.len() as u64;
                        if *received > self.limits.max_body as u64 {
                            return Err(error(Status::CONTENT_TOO_LARGE, "request body too large"));
                        }
                        Some(RequestEvent::Body(data))
                    }
                    Some(Chunk::End) => {
                        self.state = State::Head;
                        Some(RequestEvent::End)
                    }
                };
                Ok(Decoded { consumed, event })
            }
        }
    }

    fn decode_head<'a>(&mut self, input: &'a [u8], now: Instant) -> Result<Decoded<'a>, HttpError> {
        if input.is_empty() {
            return Ok(Decoded {
                consumed: 0,
                event: None,
            });
        }
        self.head_started.get_or_insert(now);
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line
        // received before the request-line (some clients send a CRLF after a
        // POST body).
        let blank = empty_line_len(input);
        if blank > 0 {
            return Ok(Decoded {
                consumed: blank,
                event: None,
            });
        }
        let Some(head_len) = self.find_head_end(input) else {
            if input.len() > self.limits.max_head {
                return Err(if self.saw_line_end {
                    error(Status::HEADER_FIELDS_TOO_LARGE, "request head too large")
                } else {
                    error(Status::URI_TOO_LONG, "request line too long")
                });
            }
            if !self.saw_line_end && input.len() > self.limits.max_target + 32 {
                return Err(error(Status::URI_TOO_LONG, "request-target too long"));
            }
            return Ok(Decoded {
                consumed: 0,
                event: None,
            });
        };
        if head_len > self.limits.max_head {
            return Err(error(
                Status::HEADER_FIELDS_TOO_LARGE,
                "request head too large",
            ));
        }
        let head = parse_head(&input[..head_len], &self.limits)?;
        self.searched = 0;
        self.saw_line_end = false;
        self.head_started = None;
        self.state = match head.body {
            BodyLength::Fixed(n) => State::FixedBody { remaining: n },
            BodyLength::Chunked => State::ChunkedBody {
                decoder: ChunkedDecoder::new(),
                received: 0,
            },
        };
        Ok(Decoded {
            consumed: head_len,
            event: Some(RequestEvent::Head(head)),
        })
    }

    /// Finds the end of the head (the empty line), resuming where the last
    /// search stopped. Returns the head's length including the empty line.
    fn find_head_end(&mut self, input: &[u8]) -> Option<usize> {
        let mut at = self.searched;
        while let Some(offset) = input[at..].iter().position(|&b| b == b'\n') {
            let lf = at + offset;
            self.saw_line_end = true;
            match (input.get(lf + 1), input.get(lf + 2)) {
                (Some(b'\n'), _) => return Some(lf + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
                // The bytes that decide are not here yet: look again from this LF.
                (None, _) | (Some(b'\r'), None) => {
                    self.searched = lf;
                    return None;
                }
                _ => at = lf + 1,
            }
        }
        self.searched = input.len();
        None
    }
}

/// Length of a leading empty line (CRLF or LF), or 0.
fn empty_line_len(input: &[u8]) -> usize {
    match input {
        [b'\n', ..] => 1,
        [b'\r', b'\n', ..] => 2,
        _ => 0,
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
