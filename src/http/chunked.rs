//! The chunked transfer coding (RFC 9112 §7.1), decoded strictly and encoded.
//!
//! ```text
//! 5;name=value\r\n     chunk-size in hex, optional extensions (skipped)
//! hello\r\n            exactly chunk-size bytes, then CRLF
//! 0\r\n                the last chunk
//! Trailer: x\r\n       optional trailer fields (read and discarded)
//! \r\n                 the end
//! ```
//!
//! Why strict: a chunked body is where request smuggling lives. When a front
//! proxy and this server disagree on where a body ends, the bytes after the
//! disputed point are a second request that only one of them sees. So every
//! size line must have at least one hex digit and end in CRLF (never a bare
//! LF), extensions may not hide CR, LF or NUL, a size that overflows `u64` is
//! an error, and each chunk's data must be followed by exactly CRLF.
//! (`httparse::parse_chunk_size` reads an empty size line as the last chunk,
//! which is why this decoder is our own.)
//!
//! The decoder is a byte-at-a-time state machine for the framing and hands
//! out the data as slices of its input, so it never copies a body and gives
//! the same result for every split of the stream.

use super::{HttpError, Status};

/// Longest chunk-size line (with extensions) or trailer line we accept.
const MAX_LINE: usize = 4096;
/// Most trailer bytes we read and discard.
const MAX_TRAILERS: usize = 16 * 1024;

/// A piece of a chunked body.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Body bytes, a slice of the input.
    Data(&'a [u8]),
    /// The last chunk and the trailers have been read.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    Size {
        size: u64,
        digits: usize,
    },
    /// Whitespace after the size; only `;` may follow (the BWS of chunk-ext).
    SizeSpace {
        size: u64,
    },
    /// Inside chunk extensions, which we skip up to the CR.
    Extension {
        size: u64,
    },
    /// Saw the CR ending the size line; the LF must come next.
    SizeLf {
        size: u64,
    },
    /// Inside chunk data.
    Data {
        remaining: u64,
    },
    /// After the data: CR then LF, nothing else.
    DataCr,
    DataLf,
    /// At the start of a trailer line, or of the final empty line.
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    TrailerLf,
    /// Saw the CR of the final empty line.
    EndLf,
    Done,
}

/// Decodes one chunked body; create a new one for every body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    line_len: usize,
    trailer_len: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

const fn bad(reason: &'static str) -> HttpError {
    HttpError::new(Status::BAD_REQUEST, reason)
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// Decodes from `input`: returns how many bytes were consumed and the
    /// next piece, or `None` when `input` ran out first.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Chunk<'a>>), HttpError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => return Ok((pos, Some(Chunk::End))),
                State::Data { remaining } => {
                    let available = &input[pos..];
                    if available.is_empty() {
                        return Ok((pos, None));
                    }
                    let take = available
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining: left }
                    };
                    return Ok((pos + take, Some(Chunk::Data(&available[..take]))));
                }
                _ => {}
            }
            let Some(&byte) = input.get(pos) else {
                return Ok((pos, None));
            };
            pos += 1;
            self.state = self.step(byte)?;
            if self.state == State::Done {
                return Ok((pos, Some(Chunk::End)));
            }
        }
    }

    /// One framing byte: the transition table of the chunked grammar.
    fn step(&mut self, byte: u8) -> Result<State, HttpError> {
        self.line_len += 1;
        if self.line_len > MAX_LINE {
            return Err(bad("chunk line too long"));
        }
        Ok(match (self.state, byte) {
            (State::Size { size, digits }, _) if byte.is_ascii_hexdigit() => {
                let digit = u64::from((byte as char).to_digit(16).unwrap_or(0));
                let size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(bad("chunk size overflows"))?;
                State::Size {
                    size,
                    digits: digits + 1,
                }
            }
            (State::Size { digits: 0, .. }, _) => return Err(bad("chunk size has no hex digit")),
            (State::Size { size, .. }, b';') => State::Extension { size },
            (State::Size { size, .. }, b' ' | b'\t') => State::SizeSpace { size },
            (State::Size { size, .. }, b'\r') => State::SizeLf { size },
            (State::Size { .. }, _) => return Err(bad("invalid byte in chunk size line")),
            (State::SizeSpace { size }, b' ' | b'\t') => State::SizeSpace { size },
            (State::SizeSpace { size }, b';') => State::Extension { size },
            (State::SizeSpace { .. }, _) => {
                return Err(bad("whitespace after chunk size without extension"))
            }
            (State::Extension { size }, b'\r') => State::SizeLf { size },
            (State::Extension { .. }, b'\n' | 0) => {
                return Err(bad("LF or NUL in chunk extension"))
            }
            (State::Extension { size }, _) => State::Extension { size },
            (State::SizeLf { size }, b'\n') => {
                self.line_len = 0;
                if size == 0 {
                    State::TrailerStart
                } else {
                    State::Data { remaining: size }
                }
            }
            (State::SizeLf { .. }, _) => return Err(bad("chunk size line not ended by CRLF")),
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => {
                self.line_len = 0;
                State::Size { size: 0, digits: 0 }
            }
            (State::DataCr | State::DataLf, _) => {
                return Err(bad("chunk data not followed by CRLF"))
            }
            (State::TrailerStart | State::Trailer | State::TrailerLf | State::EndLf, _) => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILERS {
                    return Err(HttpError::new(
                        Status::HEADER_FIELDS_TOO_LARGE,
                        "trailers too large",
                    ));
                }
                match (self.state, byte) {
                    (State::TrailerStart, b'\r') => State::EndLf,
                    (State::EndLf, b'\n') => State::Done,
                    (State::Trailer, b'\r') => State::TrailerLf,
                    (State::TrailerLf, b'\n') => {
                        self.line_len = 0;
                        State::TrailerStart
                    }
                    (State::TrailerStart | State::Trailer, b'\n' | 0) => {
                        return Err(bad("bare LF or NUL in trailer"))
                    }
                    (State::TrailerStart | State::Trailer, _) => State::Trailer,
                    _ => return Err(bad("trailer line not ended by CRLF")),
                }
            }
            (State::Data { .. } | State::Done, _) => unreachable!("handled in decode"),
        })
    }
}

/// Appends `data` as one chunk. Empty data is skipped: a zero-size chunk
/// would end the body.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    write_chunk_size(data.len(), out);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the size line of a chunk of `len` bytes (`1a\r\n`).
pub fn write_chunk_size(len: usize, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = len;
    loop {
        at -= 1;
        digits[at] = HEX[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk with no trailers: ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` whole and byte by byte; both must agree.
    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), HttpError> {
        let whole = decode_in_pieces(input, input.len().max(1));
        let trickled = decode_in_pieces(input, 1);
        assert_eq!(whole, trickled, "split changed the result");
        whole
    }

    fn decode_in_pieces(input: &[u8], piece: usize) -> Result<(Vec<u8>, usize), HttpError> {
        let mut decoder = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut buffered = Vec::new();
        let mut consumed_total = 0;
        for part in input.chunks(piece) {
            buffered.extend_from_slice(part);
            loop {
                let (used, chunk) = decoder.decode(&buffered)?;
                consumed_total += used;
                match chunk {
                    Some(Chunk::Data(d)) => body.extend_from_slice(d),
                    Some(Chunk::End) => return Ok((body, consumed_total)),
                    None => {
                        buffered.drain(..used);
                        break;
                    }
                }
                buffered.drain(..used);
            }
        }
        Err(bad("incomplete"))
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let input = b"5;a=b\r\nhello\r\n6 ; x\r\n world\r\n0\r\nTrailer: yes\r\n\r\nNEXT";
        let (body, used) = decode_all(input).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(
            &input[used..],
            b"NEXT",
            "stops exactly at the end of the body"
        );
    }

    #[test]
    fn uppercase_hex_and_leading_zeros() {
        assert_eq!(
            decode_all(b"000A\r\n0123456789\r\n0\r\n\r\n").unwrap().0,
            b"0123456789"
        );
    }

    #[test]
    fn rejects_malformed_framing() {
        let cases: &[&[u8]] = &[
            b"\r\n\r\n",                       // empty size line (httparse would read it as the end)
            b";ext\r\n",                       // extension without a size
            b"5\nhello\r\n0\r\n\r\n",          // bare LF after the size
            b"5\r\nhelloXX0\r\n\r\n",          // data not followed by CRLF
            b"5\r\nhello\n0\r\n\r\n",          // bare LF after data
            b"5;a\x00b\r\nhello\r\n0\r\n\r\n", // NUL in extension
            b"5;a\nb\r\nhello\r\n0\r\n\r\n",   // LF in extension
            b"5 \r\nhello\r\n0\r\n\r\n",       // whitespace without extension
            b"-5\r\n",                         // sign
            b"0x5\r\n",                        // prefix
            b"10000000000000000\r\n",          // 2^64: overflows u64
            b"0\r\nBad\nTrailer\r\n\r\n",      // bare LF in trailer
            b"0\r\n\n",                        // bare LF as the final line
        ];
        for case in cases {
            let result = decode_all(case);
            assert!(
                result.is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn largest_size_is_accepted_without_overflow() {
        let mut decoder = ChunkedDecoder::new();
        let (used, chunk) = decoder.decode(b"ffffffffffffffff\r\nab").unwrap();
        assert_eq!((used, chunk), (20, Some(Chunk::Data(b"ab"))));
    }

    #[test]
    fn encoder_output_decodes_to_the_input() {
        let mut out = Vec::new();
        for part in [&b"hello"[..], b"", &[b'x'; 300]] {
            encode_chunk(part, &mut out);
        }
        out.extend_from_slice(LAST_CHUNK);
        assert!(out.starts_with(b"5\r\nhello\r\n12c\r\n"));
        let (body, used) = decode_all(&out).unwrap();
        assert_eq!(body.len(), 305);
        assert_eq!(used, out.len());
    }
}
