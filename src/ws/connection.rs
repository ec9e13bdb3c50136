//! A WebSocket connection after the handshake, as a sans-IO state machine.
//!
//! # How it works
//!
//! Bytes from the peer go into [`WsConnection::receive`], which returns how
//! many it used, appends any frames the protocol itself must send (pong,
//! close) to `out`, and reports the next complete message, pong or close as
//! a [`WsEvent`]. Frames are read in two steps, without buffering a whole
//! frame: the header (waiting until all of it is here), then the payload.
//! A data frame that is a whole message and arrived whole — nearly every
//! message — is unmasked where it lies in the input, and its event is a
//! view of it: like `httparse`, the decoder borrows the caller's bytes
//! instead of copying them. Otherwise the payload is taken piece by piece as
//! it arrives — into the message assembler for data frames, into a small
//! buffer for control frames (at most 125 bytes).
//!
//! The close handshake (§7) is a state:
//!
//! ```text
//!  Open ── peer's Close ──► reply Close (same code) ──► Closed
//!   │
//!   ├── we close (`close`) ──► CloseSent ── peer's Close ──► Closed
//!   │                          (messages still arrive; nothing is sent)
//!   └── protocol error ──► send Close (1002/1007/1009) ──► Closed
//! ```
//!
//! In `Closed` the server closes TCP once the output is flushed (§7.1.1:
//! the server should close the TCP connection first). Pongs and closes are
//! appended to the same output queue as everything else, so they can never
//! be lost to a `WouldBlock` or overtake data already queued.
//!
//! Pongs are bounded too. While the caller says its output is full
//! ([`WsConnection::hold_pongs`]) a ping's pong is held instead of written,
//! and a later ping replaces it: §5.5.3 lets an endpoint that received
//! several pings answer only the most recent one. A client that pings
//! without reading costs one pong, not every byte it sends.

use std::borrow::Cow;
use std::ops::Range;

use super::deflate::{Deflater, Inflater};
use super::frame::{close_code, write_close, write_frame, FrameHeader, OpCode, ProtocolError};
use super::mask::extend_masked;
use super::message::{MessageAssembler, WsMessage};
use super::negotiation::DeflateParams;

/// What the peer did.
#[derive(Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    Message(WsMessage<'a>),
    /// A pong arrived (the idle check is satisfied).
    Pong,
    /// The connection is closed: the handshake completed or failed.
    Closed {
        code: Option<u16>,
    },
}

impl WsEvent<'_> {
    /// The event with its message copied out of the input, if borrowed.
    pub fn into_owned(self) -> WsEvent<'static> {
        match self {
            WsEvent::Message(message) => WsEvent::Message(message.into_owned()),
            WsEvent::Pong => WsEvent::Pong,
            WsEvent::Closed { code } => WsEvent::Closed { code },
        }
    }
}

/// What [`WsConnection::receive`] did with its input.
#[derive(Debug)]
pub struct Received<'a> {
    /// Bytes used. With an event, offer the rest again at once; without
    /// one, the rest waits for more input. Once closed, all is used.
    pub used: usize,
    /// What the used bytes completed, if anything.
    pub event: Option<WsEvent<'a>>,
}

/// What a step completed: an event, or a message still where it lies in
/// the step's input (`receive` turns it into a view of that input).
enum Found {
    InPlace {
        opcode: OpCode,
        payload: Range<usize>,
    },
    Event(WsEvent<'static>),
}

/// Bytes used by a step, and what they completed.
type Step = (usize, Option<Found>);

/// Where a frame's payload ends in the input, if all of it is there.
#[inline]
fn whole_payload_end(header: &FrameHeader, header_len: usize, available: usize) -> Option<usize> {
    let end = usize::try_from(header.payload_len)
        .ok()?
        .checked_add(header_len)?;
    (end <= available).then_some(end)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsState {
    Open,
    /// We sent a Close and wait for the peer's.
    CloseSent,
    Closed,
}

#[derive(Debug)]
enum Receiving {
    Header,
    Payload { header: FrameHeader, received: u64 },
}

#[derive(Debug)]
pub struct WsConnection {
    receiving: Receiving,
    message: MessageAssembler,
    /// The payload of the control frame being received.
    control: Vec<u8>,
    state: WsState,
    /// The caller's output is full: pongs wait in `held_pong`.
    hold_pongs: bool,
    /// The pong for the latest ping received while holding.
    held_pong: Option<Vec<u8>>,
    /// What permessage-deflate agreed, if it was.
    deflate: Option<DeflateParams>,
    /// Our compressor, when deflate was agreed.
    deflater: Option<Deflater>,
}

impl WsConnection {
    /// A connection without extensions.
    pub fn new(max_message: usize) -> WsConnection {
        WsConnection::with_deflate(max_message, None)
    }

    /// A connection with permessage-deflate, when the handshake agreed it.
    /// `max_message` limits a message's size after inflating.
    pub fn with_deflate(max_message: usize, deflate: Option<DeflateParams>) -> WsConnection {
        WsConnection {
            receiving: Receiving::Header,
            message: MessageAssembler::new(max_message, deflate.as_ref().map(Inflater::new)),
            control: Vec::new(),
            state: WsState::Open,
            hold_pongs: false,
            held_pong: None,
            deflate,
            deflater: deflate.map(Deflater::new),
        }
    }

    /// The permessage-deflate parameters agreed in the handshake.
    pub fn deflate(&self) -> Option<&DeflateParams> {
        self.deflate.as_ref()
    }

    /// Appends a whole message as one frame: compressed when deflate was
    /// agreed. Returns the size of its payload on the wire.
    pub fn write_message(&mut self, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) -> usize {
        match &mut self.deflater {
            Some(deflater) => deflater.write_frame(opcode, payload, out),
            None => {
                write_frame(out, opcode, payload);
                payload.len()
            }
        }
    }

    /// Says whether the caller's output is full. While it is, pongs are
    /// held (only the latest: §5.5.3); when it no longer is, the held pong
    /// is written to `out`.
    #[inline]
    pub fn hold_pongs(&mut self, full: bool, out: &mut Vec<u8>) {
        self.hold_pongs = full;
        // Called before every read's frames: the check that nothing is held
        // is all the common case pays.
        if !full && self.held_pong.is_some() {
            self.write_held_pong(out);
        }
    }

    #[inline(never)]
    fn write_held_pong(&mut self, out: &mut Vec<u8>) {
        if let Some(payload) = self.held_pong.take() {
            if self.state == WsState::Open {
                write_frame(out, OpCode::Pong, &payload);
            }
        }
    }

    /// Bytes held for the message being received (for a process budget).
    pub fn message_in_progress(&self) -> usize {
        self.message.in_progress()
    }

    pub fn state(&self) -> WsState {
        self.state
    }

    /// Offers a buffer for the next message; `Some` when not kept.
    pub fn recycle(&mut self, data: Vec<u8>) -> Option<Vec<u8>> {
        self.message.recycle(data)
    }

    /// Lets go of the buffer kept between messages (call when a read is
    /// done): an idle connection holds none.
    pub fn release_buffers(&mut self) -> Option<Vec<u8>> {
        self.message.release()
    }

    /// Starts the close handshake from our side.
    pub fn close(&mut self, code: u16, reason: &str, out: &mut Vec<u8>) {
        if self.state == WsState::Open {
            write_close(out, code, reason);
            self.state = WsState::CloseSent;
        }
    }

    /// Reads frames from `input` until one completes an event or more input
    /// is needed. Stopping at each message lets a reply the caller writes
    /// for it go out before the pong of a ping that came after it.
    ///
    /// `input` is mutable because a message that arrived whole in one frame
    /// is unmasked where it lies and handed over as a view of it; everything
    /// `receive` reports as used may have been changed.
    pub fn receive<'a>(&mut self, input: &'a mut [u8], out: &mut Vec<u8>) -> Received<'a> {
        let mut used = 0;
        while self.state != WsState::Closed {
            match self.step(&mut input[used..], out) {
                Ok((0, _)) => break,
                Ok((n, None)) => used += n,
                Ok((n, Some(found))) => {
                    let event = match found {
                        Found::InPlace { opcode, payload } => WsEvent::Message(WsMessage {
                            opcode,
                            data: Cow::Borrowed(&input[used + payload.start..used + payload.end]),
                            compressed_len: None,
                        }),
                        Found::Event(event) => event,
                    };
                    used += n;
                    if self.state == WsState::Closed {
                        used = input.len();
                    }
                    return Received {
                        used,
                        event: Some(event),
                    };
                }
                Err(error) => {
                    // §7.1.7: Fail the WebSocket Connection — send a Close
                    // with the reason, then close TCP.
                    if self.state == WsState::Open {
                        write_close(out, error.code, error.reason);
                    }
                    self.state = WsState::Closed;
                    return Received {
                        used: input.len(),
                        event: Some(WsEvent::Closed {
                            code: Some(error.code),
                        }),
                    };
                }
            }
        }
        if self.state == WsState::Closed {
            used = input.len();
        }
        Received { used, event: None }
    }

    /// One step: a header, or a piece of payload. Returns the bytes used
    /// (0: more input is needed) and what the step completed, if anything.
    fn step(&mut self, input: &mut [u8], out: &mut Vec<u8>) -> Result<Step, ProtocolError> {
        match self.receiving {
            Receiving::Header => {
                let Some((header, len)) = FrameHeader::parse(input)? else {
                    return Ok((0, None));
                };
                // §5.1: a server MUST close the connection upon receiving a
                // frame that is not masked.
                if header.mask.is_none() {
                    return Err(ProtocolError {
                        code: close_code::PROTOCOL_ERROR,
                        reason: "client frames must be masked",
                    });
                }
                if header.opcode.is_control() {
                    // RFC 7692 §6.1: never RSV1 on a control frame.
                    if header.rsv1 {
                        return Err(ProtocolError {
                            code: close_code::PROTOCOL_ERROR,
                            reason: "RSV1 set on a control frame",
                        });
                    }
                } else {
                    // The common case: a message in one frame, all of it
                    // here. It is reported where it lies.
                    if let Some(end) = whole_payload_end(&header, len, input.len()) {
                        if self.message.whole_frame(&header, &mut input[len..end])? {
                            let found = Found::InPlace {
                                opcode: header.opcode,
                                payload: len..end,
                            };
                            return Ok((end, Some(found)));
                        }
                    }
                    self.message.begin_frame(&header)?;
                }
                self.receiving = Receiving::Payload {
                    header,
                    received: 0,
                };
                if header.payload_len == 0 {
                    // An empty payload completes the frame at once.
                    return Ok((len, self.finish_frame_if_done(out)?));
                }
                // The payload that came with the header (usually all of
                // it: a small frame arrives whole) is taken in the same step.
                let (n, found) = self.take_payload(header, 0, &input[len..], out)?;
                Ok((len + n, found))
            }
            Receiving::Payload { header, received } => {
                self.take_payload(header, received, input, out)
            }
        }
    }

    /// Takes what `input` holds of the current frame's payload, `received`
    /// bytes of which came before; returns the bytes used and what they
    /// completed.
    #[inline]
    fn take_payload(
        &mut self,
        header: FrameHeader,
        received: u64,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Step, ProtocolError> {
        if input.is_empty() {
            return Ok((0, None));
        }
        let left = header.payload_len - received;
        let take = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let mask = header.mask.expect("checked at the header");
        let piece = &input[..take];
        if header.opcode.is_control() {
            extend_masked(&mut self.control, piece, mask, received as usize);
        } else {
            self.message.payload(piece, mask, received as usize)?;
        }
        self.receiving = Receiving::Payload {
            header,
            received: received + take as u64,
        };
        Ok((take, self.finish_frame_if_done(out)?))
    }

    #[inline]
    fn finish_frame_if_done(&mut self, out: &mut Vec<u8>) -> Result<Option<Found>, ProtocolError> {
        let Receiving::Payload { header, received } = self.receiving else {
            return Ok(None);
        };
        if received < header.payload_len {
            return Ok(None);
        }
        self.receiving = Receiving::Header;
        if header.opcode.is_control() {
            return Ok(self
                .finish_control_frame(header.opcode, out)?
                .map(Found::Event));
        }
        // A data frame. Still reported in CloseSent: the peer may have sent
        // it before our Close reached it, and dropping it would lose a
        // message the peer believes delivered. The caller must not answer
        // it (§5.5.1: no data after a Close).
        let message = self.message.end_frame(header.fin)?;
        Ok(message.map(|message| Found::Event(WsEvent::Message(message))))
    }

    /// A ping, pong or close has fully arrived (its payload in `control`).
    #[inline(never)]
    fn finish_control_frame(
        &mut self,
        opcode: OpCode,
        out: &mut Vec<u8>,
    ) -> Result<Option<WsEvent<'static>>, ProtocolError> {
        let event = match opcode {
            OpCode::Ping => {
                // §5.5.2: answer with a Pong carrying the same payload (not
                // once we have sent a Close: nothing may follow it).
                if self.state == WsState::Open && self.hold_pongs {
                    // §5.5.3: only the most recent ping needs its pong.
                    self.held_pong = Some(self.control.clone());
                } else if self.state == WsState::Open {
                    write_frame(out, OpCode::Pong, &self.control);
                }
                None
            }
            OpCode::Pong => Some(WsEvent::Pong),
            OpCode::Close => {
                let code = parse_close(&self.control)?;
                if self.state == WsState::Open {
                    // §5.5.1: reply with a Close, echoing the status code.
                    match code {
                        Some(code) => write_close(out, code, ""),
                        None => write_frame(out, OpCode::Close, &[]),
                    }
                }
                self.state = WsState::Closed;
                Some(WsEvent::Closed { code })
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                unreachable!("data frames are finished by finish_frame_if_done")
            }
        };
        self.control.clear();
        Ok(event)
    }
}

/// Validates a Close payload (§5.5.1, §7.4): empty, or a valid code and a
/// UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<u16>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError {
            code: close_code::PROTOCOL_ERROR,
            reason: "close payload of one byte",
        }),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !close_code::is_valid(code) {
                return Err(ProtocolError {
                    code: close_code::PROTOCOL_ERROR,
                    reason: "invalid close code",
                });
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(ProtocolError {
                    code: close_code::INVALID_PAYLOAD,
                    reason: "close reason is not UTF-8",
                });
            }
            Ok(Some(code))
        }
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
pub(crate) mod tests;
