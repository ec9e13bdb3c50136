//! The frame codec (RFC 6455 §5.2): headers in and out, nothing more.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! [`FrameHeader::parse`] reads a header from however many bytes have
//! arrived (`Ok(None)`: not enough yet) and checks every rule that the
//! header alone decides. Payloads are not touched here: the connection
//! takes them piece by piece as they arrive (see `connection.rs`).

/// Frame opcodes (§5.2, §11.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, ping and pong (opcodes with the high bit set, §5.5).
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// Close status codes used by this server (§7.4.1).
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message that violates the endpoint's policy (here: no right to
    /// publish, or a token that expired).
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;

    /// May this code appear in a Close frame on the wire (§7.4.1, §7.4.2,
    /// and the IANA registry, which added 1012–1014 after the RFC)?
    pub fn is_valid(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1: with permessage-deflate, "this message is compressed" (RFC
    /// 7692 §6); the connection decides whether it is allowed.
    pub rsv1: bool,
    pub opcode: OpCode,
    /// The masking key; every client frame has one (§5.1).
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

/// A rule broken: the connection is failed with this close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: u16,
    pub reason: &'static str,
}

const fn protocol(reason: &'static str) -> ProtocolError {
    ProtocolError {
        code: close_code::PROTOCOL_ERROR,
        reason,
    }
}

impl FrameHeader {
    /// Parses a header from the start of `input`: `Ok(None)` until all of
    /// it has arrived, else the header and its length in bytes.
    #[inline]
    pub fn parse(input: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let [first, second, ..] = *input else {
            return Ok(None);
        };
        // §5.2: RSV1-3 MUST be 0 unless an extension defining them was
        // negotiated. The only one we negotiate, permessage-deflate, defines
        // RSV1 alone (RFC 7692 §6); whether it was agreed is the
        // connection's to check.
        if first & 0x30 != 0 {
            return Err(protocol("reserved bits set without an extension"));
        }
        let rsv1 = first & 0x40 != 0;
        // §5.2: reserved opcodes fail the connection.
        let opcode = OpCode::from_bits(first & 0x0F).ok_or(protocol("reserved opcode"))?;
        let fin = first & 0x80 != 0;
        let masked = second & 0x80 != 0;
        let (payload_len, mut at) = match second & 0x7F {
            126 => match input.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match input.get(2..10) {
                Some(b) => {
                    let len = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                    // §5.2: the most significant bit MUST be 0.
                    if len >> 63 != 0 {
                        return Err(protocol("64-bit length with the high bit set"));
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        if opcode.is_control() {
            // §5.5: control frames MUST have a payload of 125 bytes or
            // less and MUST NOT be fragmented.
            if payload_len > 125 {
                return Err(protocol("control frame longer than 125 bytes"));
            }
            if !fin {
                return Err(protocol("fragmented control frame"));
            }
        }
        let mask = if masked {
            let Some(key) = input.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some(key.try_into().expect("4 bytes"))
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                rsv1,
                opcode,
                mask,
                payload_len,
            },
            at,
        )))
    }
}

/// Appends an unmasked header (servers never mask, §5.1).
pub fn write_header(out: &mut Vec<u8>, fin: bool, opcode: OpCode, len: usize) {
    write_first_byte_and_length(out, u8::from(fin) << 7 | opcode.bits(), len);
}

/// Appends the header of a whole compressed message: FIN and RSV1 set
/// (RFC 7692 §6: RSV1 on the first frame of a compressed message).
pub fn write_compressed_header(out: &mut Vec<u8>, opcode: OpCode, len: usize) {
    write_first_byte_and_length(out, 0x80 | 0x40 | opcode.bits(), len);
}

/// §5.2: the first byte, then the payload length in the shortest of its
/// three encodings (7 bits; 126 and 16 bits; 127 and 64 bits, network
/// order). Each arm appends a fixed-size array: one capacity check, and a
/// copy the compiler turns into a store.
#[inline]
fn write_first_byte_and_length(out: &mut Vec<u8>, first: u8, len: usize) {
    match len {
        0..=125 => out.extend_from_slice(&[first, len as u8]),
        126..=0xFFFF => {
            let [hi, lo] = (len as u16).to_be_bytes();
            out.extend_from_slice(&[first, 126, hi, lo]);
        }
        _ => {
            let mut head = [first, 127, 0, 0, 0, 0, 0, 0, 0, 0];
            head[2..].copy_from_slice(&(len as u64).to_be_bytes());
            out.extend_from_slice(&head);
        }
    }
}

/// Appends a whole unfragmented frame.
pub fn write_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    write_header(out, true, opcode, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a masked frame, as a client sends it (for tests, fuzzing and
/// the load tool: the server itself never masks).
pub fn write_client_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: [u8; 4],
) {
    let start = out.len();
    write_header(out, fin, opcode, payload.len());
    out[start + 1] |= 0x80;
    out.extend_from_slice(&mask);
    super::mask::extend_masked(out, payload, mask, 0);
}

/// Appends a Close frame with `code` and `reason`.
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    write_frame(out, OpCode::Close, &payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_examples() {
        // §5.7: a single-frame unmasked text message "Hello".
        let (h, n) = FrameHeader::parse(&[0x81, 0x05, 0x48]).unwrap().unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.mask, h.payload_len, n),
            (true, OpCode::Text, None, 5, 2)
        );
        // §5.7: masked "Hello".
        let (h, n) = FrameHeader::parse(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d])
            .unwrap()
            .unwrap();
        assert_eq!((h.mask, n), (Some([0x37, 0xfa, 0x21, 0x3d]), 6));
        // §5.7: 256 bytes binary in a single unmasked frame.
        let (h, n) = FrameHeader::parse(&[0x82, 0x7E, 0x01, 0x00])
            .unwrap()
            .unwrap();
        assert_eq!((h.opcode, h.payload_len, n), (OpCode::Binary, 256, 4));
    }

    #[test]
    fn waits_for_the_whole_header() {
        let full = [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for end in 0..full.len() {
            assert_eq!(FrameHeader::parse(&full[..end]), Ok(None), "{end} bytes");
        }
        let (h, n) = FrameHeader::parse(&full).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (65536, 14));
    }

    #[test]
    fn header_rules() {
        let code = |bytes: &[u8]| FrameHeader::parse(bytes).unwrap_err().code;
        assert_eq!(code(&[0xA1, 0x80, 0, 0, 0, 0]), 1002); // RSV2
        assert_eq!(code(&[0x91, 0x80, 0, 0, 0, 0]), 1002); // RSV3
        let (h, _) = FrameHeader::parse(&[0xC1, 0x80, 0, 0, 0, 0])
            .unwrap()
            .unwrap();
        assert!(h.rsv1, "RSV1 is reported, for the connection to judge");
        assert_eq!(code(&[0x83, 0x80, 0, 0, 0, 0]), 1002); // opcode 3
        assert_eq!(code(&[0x8B, 0x80, 0, 0, 0, 0]), 1002); // opcode 0xB
        assert_eq!(code(&[0x89, 0xFE, 0, 126]), 1002); // 126-byte ping
        assert_eq!(code(&[0x09, 0x80, 0, 0, 0, 0]), 1002); // fragmented ping
        assert_eq!(code(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]), 1002); // 2^63
    }

    #[test]
    fn close_codes() {
        for valid in [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 4999] {
            assert!(close_code::is_valid(valid), "{valid}");
        }
        for invalid in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!close_code::is_valid(invalid), "{invalid}");
        }
    }

    #[test]
    fn encodes_each_length_class() {
        for (len, header_len) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let mut out = Vec::new();
            write_header(&mut out, true, OpCode::Binary, len);
            assert_eq!(out.len(), header_len, "{len}");
            let (h, n) = FrameHeader::parse(&out).unwrap().unwrap();
            assert_eq!((h.payload_len, n), (len as u64, header_len));
        }
    }
}
