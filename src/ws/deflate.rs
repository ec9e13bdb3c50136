//! Per-message compression (RFC 7692 §6, §7.2): a message's payload
//! deflated on the way out, inflated on the way in.
//!
//! ```text
//! "Hello" as a text frame:             81 05 48 65 6c 6c 6f
//! "Hello", compressed (§7.2.3.1):      c1 07 f2 48 cd c9 c9 07 00
//!                                      ││ ││ └───── DEFLATE ─────┘
//!                                      ││ │└ 7 bytes of payload
//!                                      │└ text    (0x4_ = RSV1: "compressed", §6)
//!                                      └ FIN
//! ```
//!
//! Sending (§7.2.1): the payload goes through DEFLATE and is flushed with
//! an empty stored block, which always ends `00 00 ff ff`; those four bytes
//! are then removed, since the receiver knows to put them back. Receiving
//! (§7.2.2): the payload, then `00 00 ff ff`, go into the inflater.
//!
//! **Context takeover.** DEFLATE finds repeats within a 32 KiB window of
//! what came before. With context takeover the window carries over from
//! one message to the next, so a message much like the previous one costs
//! a few bytes (§7.2.3.2: a second "Hello" is `c1 05 f2 00 11 00 00`). The
//! price is a compressor per connection, kept for its whole life. Without
//! it (`server_no_context_takeover`) every message is compressed from an
//! empty window — the same bytes for every receiver, which is what lets a
//! channel compress a message once for all its subscribers
//! ([`compressed_frame`]).
//!
//! **Window bits.** `server_max_window_bits=N` limits how far back we may
//! point. zlib (and zlib-rs after it) cannot compress with N = 8; it is run
//! with 9 instead, which is still safe: a 512-byte window's matches reach at
//! most 512 - 262 = 250 bytes back (the deflater keeps 262 bytes of
//! lookahead), inside the 256 bytes the peer keeps. We inflate with the full
//! 15 bits whatever the client uses: a larger window reads any stream.
//!
//! **The bomb.** A few kilobytes of DEFLATE can inflate to gigabytes. The
//! inflater writes into a buffer allowed to grow only to the message limit
//! plus one byte: past it the message is refused (1009) having cost no more
//! than the limit.
//!
//! Framing and limits are ours; the DEFLATE algorithm is `flate2` (zlib-rs).

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::frame::{close_code, write_compressed_header, write_header, OpCode, ProtocolError};
use super::negotiation::DeflateParams;

/// §7.2.1: the end of an empty stored block, cut from every message.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// zlib's default level: most of level 9's ratio on JSON for a fraction of
/// its time.
const LEVEL: u32 = 6;

fn new_compressor(window_bits: u8) -> Compress {
    // zlib cannot make a raw stream with an 8-bit window; see the module doc.
    Compress::new_with_window_bits(Compression::new(LEVEL), false, window_bits.clamp(9, 15))
}

/// Compresses one whole message's payload onto `out` (§7.2.1), the
/// trailing `00 00 ff ff` removed.
fn compress_message(compressor: &mut Compress, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let mut input = payload;
    loop {
        // Incompressible data grows by a few bytes per 16 KiB block.
        out.reserve(input.len() + input.len() / 64 + 64);
        let before = compressor.total_in();
        compressor
            .compress_vec(input, out, FlushCompress::Sync)
            .expect("DEFLATE into a buffer with room cannot fail");
        input = &input[(compressor.total_in() - before) as usize..];
        // Done when all input is in and the flush left room to spare.
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    if out[start..].ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    } else {
        // Nothing came out (an empty message right after a flush): the
        // payload is then an empty stored block without its tail (§7.2.3.6).
        debug_assert_eq!(out.len(), start, "a sync flush ends with the tail");
        out.push(0x00);
    }
}

thread_local! {
    /// Compressors for messages compressed from an empty window, one per
    /// window size, reused (reset) on each event loop: building one
    /// allocates and clears a few hundred KiB.
    static FRESH: RefCell<[Option<Compress>; 7]> = const { RefCell::new([None, None, None, None, None, None, None]) };
}

/// One whole frame holding `payload` compressed from an empty window, as
/// every receiver that agreed `server_no_context_takeover` and a window of
/// `window_bits` can read it — so the same bytes can go to all of them.
/// When compression would not make the message smaller it is sent as it
/// is (RSV1 clear): with no context to keep in step, either is allowed.
/// Returns the frame's payload length.
pub fn compressed_frame(
    opcode: OpCode,
    payload: &[u8],
    window_bits: u8,
    out: &mut Vec<u8>,
) -> usize {
    let mut body = crate::buffers::take();
    FRESH.with(|fresh| {
        let slot = &mut fresh.borrow_mut()[usize::from(window_bits.clamp(9, 15) - 9)];
        let compressor = slot.get_or_insert_with(|| new_compressor(window_bits));
        compress_message(compressor, payload, &mut body);
        compressor.reset();
    });
    let sent = if body.len() < payload.len() {
        write_compressed_header(out, opcode, body.len());
        out.extend_from_slice(&body);
        body.len()
    } else {
        write_header(out, true, opcode, payload.len());
        out.extend_from_slice(payload);
        payload.len()
    };
    crate::buffers::give_back(body);
    sent
}

/// The sending side of one connection.
#[derive(Debug)]
pub struct Deflater {
    params: DeflateParams,
    /// With context takeover: the connection's own compressor, made on the
    /// first message and kept, since its window is part of the stream.
    compressor: Option<Compress>,
}

impl Deflater {
    pub fn new(params: DeflateParams) -> Deflater {
        Deflater {
            params,
            compressor: None,
        }
    }

    /// Appends `payload` as one compressed frame; returns the compressed
    /// payload's length.
    pub fn write_frame(&mut self, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) -> usize {
        if self.params.server_no_context_takeover {
            compressed_frame(opcode, payload, self.params.server_max_window_bits, out)
        } else {
            let bits = self.params.server_max_window_bits;
            let compressor = self.compressor.get_or_insert_with(|| new_compressor(bits));
            // Every message must go through this compressor, even one that
            // does not shrink: the peer's window has to stay in step.
            let mut body = crate::buffers::take();
            compress_message(compressor, payload, &mut body);
            write_compressed_header(out, opcode, body.len());
            out.extend_from_slice(&body);
            let sent = body.len();
            crate::buffers::give_back(body);
            sent
        }
    }
}

/// Why an inflate stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The message inflates past the limit (close 1009).
    TooBig,
    /// Not a DEFLATE stream (close 1007).
    Corrupt,
}

impl From<InflateError> for ProtocolError {
    fn from(error: InflateError) -> ProtocolError {
        match error {
            InflateError::TooBig => ProtocolError {
                code: close_code::TOO_BIG,
                reason: "message too big once inflated",
            },
            InflateError::Corrupt => ProtocolError {
                code: close_code::INVALID_PAYLOAD,
                reason: "invalid compressed data",
            },
        }
    }
}

/// The receiving side of one connection: payload in as it arrives,
/// inflated bytes appended to the message.
#[derive(Debug)]
pub struct Inflater {
    /// Made on the first compressed message; dropped after each message
    /// when the client resets its window too, so that an idle connection
    /// holds none.
    decompressor: Option<Decompress>,
    client_no_context_takeover: bool,
    /// The stream ended with a final block (BFINAL): the rest of the
    /// message is ignored, and the next one starts a new stream.
    ended: bool,
}

impl Inflater {
    pub fn new(params: &DeflateParams) -> Inflater {
        Inflater {
            decompressor: None,
            client_no_context_takeover: params.client_no_context_takeover,
            ended: false,
        }
    }

    /// Inflates a piece of a compressed message's payload onto `out`,
    /// which may not grow past `limit` bytes.
    pub fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        if self.ended {
            return Ok(());
        }
        let decompressor = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
        loop {
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            // Room to inflate into: doubling as the message grows, but
            // never past limit + 1 — one byte over proves it too big.
            if out.len() == out.capacity() {
                out.reserve_exact(out.len().clamp(4096, 1 << 20).min(limit + 1 - out.len()));
            }
            let (before_in, before_out) = (decompressor.total_in(), decompressor.total_out());
            let status = decompressor
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(|_| InflateError::Corrupt)?;
            let used = (decompressor.total_in() - before_in) as usize;
            let produced = decompressor.total_out() - before_out;
            input = &input[used..];
            if status == Status::StreamEnd {
                self.ended = true;
                break;
            }
            // Stop when the input is used up and the output was not what
            // stopped the inflater, or when nothing moved at all.
            if (input.is_empty() && out.len() < out.capacity()) || (used == 0 && produced == 0) {
                break;
            }
        }
        if out.len() > limit {
            return Err(InflateError::TooBig);
        }
        Ok(())
    }

    /// The message's last frame ended: put back the `00 00 ff ff` the
    /// sender removed (§7.2.2) and inflate what it releases.
    pub fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let result = self.inflate(&TAIL, out, limit);
        // Without client context takeover, or after a final block, the
        // next message starts a new stream.
        if self.client_no_context_takeover || self.ended || result.is_err() {
            self.decompressor = None;
        }
        self.ended = false;
        result
    }
}

#[cfg(test)]
#[path = "deflate_tests.rs"]
mod tests;
