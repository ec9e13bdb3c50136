//! Message assembly (RFC 6455 §5.4): data frames in, whole messages out.
//!
//! A message is a Text or Binary frame followed by zero or more
//! Continuation frames, the last with FIN set. Control frames may come in
//! between (the connection handles those); a new data frame may not.
//!
//! Most messages are one frame that is all there in the bytes the
//! connection is offered (one read, or what the loop kept of earlier ones).
//! Those are not assembled at all: [`MessageAssembler::whole_frame`] unmasks
//! the payload where it lies in that input and checks it there, and the
//! message borrows it — no copy, no buffer. Everything else (fragments, a
//! frame split across reads, a compressed message) is assembled: payload is
//! taken as it arrives, appended to the message buffer unmasked, and — for
//! text — checked as UTF-8 right away. Nothing is reserved from what a
//! header *announces*: a 14-byte header claiming 16 MiB costs 14 bytes until
//! the 16 MiB actually arrive.
//!
//! With permessage-deflate agreed (RFC 7692), a message whose first frame
//! has RSV1 set is compressed: its payload goes through the inflater as it
//! arrives, and what comes out is appended, size-checked and — for text —
//! UTF-8-checked exactly as an uncompressed payload would be. The limit is
//! on the inflated size, checked while inflating (see `deflate.rs`).

use std::borrow::Cow;

use super::deflate::Inflater;
use super::frame::{close_code, FrameHeader, OpCode, ProtocolError};
use super::mask::{apply_mask, extend_masked};
use super::utf8::Utf8Validator;

/// A complete message. `data` is valid UTF-8 when `opcode` is `Text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsMessage<'a> {
    pub opcode: OpCode,
    /// Borrowed from the input when the message came whole in one frame
    /// (unmasked where it lay); owned when it was assembled.
    pub data: Cow<'a, [u8]>,
    /// For a compressed message, its payload's size on the wire.
    pub compressed_len: Option<u64>,
}

impl WsMessage<'_> {
    /// The message with its data copied out of the input, if borrowed.
    pub fn into_owned(self) -> WsMessage<'static> {
        WsMessage {
            opcode: self.opcode,
            data: Cow::Owned(self.data.into_owned()),
            compressed_len: self.compressed_len,
        }
    }
}

/// The message being received.
#[derive(Debug, Clone, Copy)]
struct Current {
    opcode: OpCode,
    /// `Some(bytes so far)` when the first frame had RSV1 set.
    compressed: Option<u64>,
}

#[derive(Debug, Default)]
pub struct MessageAssembler {
    current: Option<Current>,
    buffer: Vec<u8>,
    utf8: Utf8Validator,
    max_size: usize,
    /// Present when permessage-deflate was agreed.
    inflater: Option<Inflater>,
}

const fn error(code: u16, reason: &'static str) -> ProtocolError {
    ProtocolError { code, reason }
}

/// The errors both paths — a whole frame checked in place, a message
/// assembled — can end in, so that either sends the same Close.
const TOO_BIG: ProtocolError = error(close_code::TOO_BIG, "message too big");
/// §8.1: a byte that cannot be UTF-8.
const INVALID_UTF8: ProtocolError = error(
    close_code::INVALID_PAYLOAD,
    "invalid UTF-8 in a text message",
);
/// §8.1: the message ended before its last character did.
const CUT_CHARACTER: ProtocolError = error(
    close_code::INVALID_PAYLOAD,
    "text message ends inside a character",
);

impl MessageAssembler {
    pub fn new(max_size: usize, inflater: Option<Inflater>) -> Self {
        MessageAssembler {
            max_size,
            inflater,
            ..Self::default()
        }
    }

    /// A data frame's header arrived with all of its `payload`, still
    /// masked. If the frame is a whole message by itself (FIN, not a
    /// continuation, not compressed, nothing being assembled), unmasks and
    /// checks it where it lies: `Ok(true)`, and `payload` is the message.
    /// `Ok(false)`: assemble it instead (`begin_frame`), `payload` untouched.
    /// `Err`: the payload may have been unmasked already; the caller fails
    /// the connection and must count all of it as used.
    #[inline]
    pub fn whole_frame(
        &self,
        header: &FrameHeader,
        payload: &mut [u8],
    ) -> Result<bool, ProtocolError> {
        if !header.fin
            || header.rsv1
            || header.opcode == OpCode::Continuation
            || self.current.is_some()
        {
            return Ok(false);
        }
        if payload.len() > self.max_size {
            return Err(TOO_BIG);
        }
        apply_mask(payload, header.mask.expect("checked at the header"), 0);
        // §8.1: all of the message is here, so "fail at the first invalid
        // byte" is the same as checking the whole of it.
        if header.opcode == OpCode::Text {
            if let Err(e) = std::str::from_utf8(payload) {
                return Err(match e.error_len() {
                    Some(_) => INVALID_UTF8,
                    None => CUT_CHARACTER,
                });
            }
        }
        Ok(true)
    }

    /// A data frame's header arrived: check it continues what it must.
    pub fn begin_frame(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        if header.rsv1 && (header.opcode == OpCode::Continuation || self.inflater.is_none()) {
            // RFC 7692 §6.1: RSV1 only on a message's first frame; RFC 6455
            // §5.2: and only once an extension gave it a meaning.
            return Err(error(
                close_code::PROTOCOL_ERROR,
                "RSV1 set where no compressed message may start",
            ));
        }
        match (header.opcode, self.current.map(|c| c.opcode)) {
            // §5.4: a continuation needs a message to continue...
            (OpCode::Continuation, None) => {
                return Err(error(
                    close_code::PROTOCOL_ERROR,
                    "continuation without a message",
                ))
            }
            (OpCode::Continuation, Some(_)) => {}
            // ...and a new message may not start inside another.
            (_, Some(_)) => {
                return Err(error(
                    close_code::PROTOCOL_ERROR,
                    "new message inside a fragmented one",
                ))
            }
            (opcode, None) => {
                self.current = Some(Current {
                    opcode,
                    compressed: header.rsv1.then_some(0),
                })
            }
        }
        if let Some(Current {
            compressed: Some(so_far),
            ..
        }) = &mut self.current
        {
            // The limit is on the inflated size, checked as it inflates.
            *so_far = so_far.saturating_add(header.payload_len);
            return Ok(());
        }
        if self.buffer.len() as u64 + header.payload_len > self.max_size as u64 {
            return Err(TOO_BIG);
        }
        // Room for the payload, but never more than a bounded amount on the
        // word of a header: past that, memory grows as bytes arrive.
        const TRUST_HEADER_UP_TO: u64 = 64 * 1024;
        self.buffer
            .reserve(header.payload_len.min(TRUST_HEADER_UP_TO) as usize);
        Ok(())
    }

    /// Payload bytes of the current frame, still masked; `offset` is where
    /// they start within the frame's payload.
    #[inline]
    pub fn payload(
        &mut self,
        masked: &[u8],
        mask: [u8; 4],
        offset: usize,
    ) -> Result<(), ProtocolError> {
        let current = self.current.expect("a frame was begun");
        let is_text = current.opcode == OpCode::Text;
        if current.compressed.is_some() {
            return self.inflate(masked, mask, offset, is_text);
        }
        let start = self.buffer.len();
        extend_masked(&mut self.buffer, masked, mask, offset);
        check_text(&mut self.utf8, is_text, &self.buffer[start..])
    }

    /// A compressed message's payload: unmasked a piece at a time on the
    /// stack, and inflated.
    #[inline(never)]
    fn inflate(
        &mut self,
        masked: &[u8],
        mask: [u8; 4],
        offset: usize,
        is_text: bool,
    ) -> Result<(), ProtocolError> {
        let inflater = self
            .inflater
            .as_mut()
            .expect("only a connection with deflate agreed begins a compressed message");
        let mut plain = [0u8; 4096];
        for (i, piece) in masked.chunks(plain.len()).enumerate() {
            let plain = &mut plain[..piece.len()];
            plain.copy_from_slice(piece);
            apply_mask(plain, mask, offset + i * 4096);
            let start = self.buffer.len();
            inflater.inflate(plain, &mut self.buffer, self.max_size)?;
            check_text(&mut self.utf8, is_text, &self.buffer[start..])?;
        }
        Ok(())
    }

    /// Memory held for the message in progress (its buffer's capacity: what
    /// it costs, not just what arrived); 0 between messages.
    pub fn in_progress(&self) -> usize {
        match self.current {
            Some(_) => self.buffer.capacity(),
            None => 0,
        }
    }

    /// Offers a buffer for the next message (a finished message's, or one
    /// from the caller's pool). Kept when there is no message in progress and
    /// no buffer yet; otherwise handed back.
    pub fn recycle(&mut self, mut data: Vec<u8>) -> Option<Vec<u8>> {
        if self.current.is_none() && self.buffer.capacity() == 0 {
            data.clear();
            self.buffer = data;
            return None;
        }
        Some(data)
    }

    /// Between messages, gives up the buffer kept for the next one, so that
    /// an idle connection holds none. Buffer reuse is the caller's business.
    pub fn release(&mut self) -> Option<Vec<u8>> {
        if self.current.is_none() && self.buffer.capacity() > 0 {
            return Some(std::mem::take(&mut self.buffer));
        }
        None
    }

    /// The current frame is complete; with FIN, so is the message.
    #[inline]
    pub fn end_frame(&mut self, fin: bool) -> Result<Option<WsMessage<'static>>, ProtocolError> {
        if !fin {
            return Ok(None);
        }
        let current = self.current.expect("a frame was begun");
        let opcode = current.opcode;
        if current.compressed.is_some() {
            self.finish_inflating(opcode == OpCode::Text)?;
        }
        self.current = None;
        if opcode == OpCode::Text && self.utf8.finish().is_err() {
            return Err(CUT_CHARACTER);
        }
        Ok(Some(WsMessage {
            opcode,
            data: Cow::Owned(std::mem::take(&mut self.buffer)),
            compressed_len: current.compressed,
        }))
    }

    /// RFC 7692 §7.2.2: the sender removed the deflate block's empty tail;
    /// the inflater puts it back and drains what is left.
    #[inline(never)]
    fn finish_inflating(&mut self, is_text: bool) -> Result<(), ProtocolError> {
        let inflater = self
            .inflater
            .as_mut()
            .expect("only a connection with deflate agreed begins a compressed message");
        let start = self.buffer.len();
        inflater.finish_message(&mut self.buffer, self.max_size)?;
        check_text(&mut self.utf8, is_text, &self.buffer[start..])
    }
}

/// Checks the next piece of a message when it is text.
fn check_text(utf8: &mut Utf8Validator, is_text: bool, piece: &[u8]) -> Result<(), ProtocolError> {
    if is_text && utf8.feed(piece).is_err() {
        // §8.1: fail as soon as the invalid byte arrives.
        return Err(INVALID_UTF8);
    }
    Ok(())
}
