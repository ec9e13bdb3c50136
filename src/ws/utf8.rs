//! Incremental UTF-8 validation for text messages (RFC 6455 §8.1).
//!
//! A text message may arrive in many frames, each in many reads, and a
//! multi-byte character may be split anywhere. Validating only the whole
//! message would accept megabytes of a message whose third byte was already
//! invalid; Autobahn's section 6.4 checks that the connection fails *as soon
//! as* the invalid byte arrives. So each piece is checked on arrival, and an
//! incomplete sequence at its end (at most 3 bytes) is carried to the next.
//!
//! `std::str::from_utf8` does the work: its error tells apart "invalid here"
//! (`error_len() == Some(_)`) from "valid so far but cut off at the end"
//! (`error_len() == None`).

#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// The start of a character whose remaining bytes have not arrived.
    tail: [u8; 4],
    tail_len: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// Checks the next piece; fails at the first byte that cannot be UTF-8.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        // First complete the character left over from the last piece.
        while self.tail_len > 0 {
            let Some((&byte, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.tail[self.tail_len] = byte;
            self.tail_len += 1;
            bytes = rest;
            match std::str::from_utf8(&self.tail[..self.tail_len]) {
                Ok(_) => self.tail_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let rest = &bytes[e.valid_up_to()..];
                self.tail[..rest.len()].copy_from_slice(rest);
                self.tail_len = rest.len();
                Ok(())
            }
        }
    }

    /// The message ended: a character left incomplete is invalid.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.tail_len == 0;
        self.tail_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fails_at_the_first_impossible_byte() {
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed("κόσμε".as_bytes()), Ok(()));
        // 0xED 0xA0 0x80 is a UTF-16 surrogate: invalid at its second byte,
        // before the message (or even the character) is complete.
        assert_eq!(v.feed(&[0xED]), Ok(()));
        assert_eq!(v.feed(&[0xA0]), Err(InvalidUtf8));
    }

    #[test]
    fn incomplete_end_is_invalid() {
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[0xE2, 0x82]), Ok(()));
        assert_eq!(v.finish(), Err(InvalidUtf8));
    }

    proptest! {
        #[test]
        fn agrees_with_std_for_every_split(bytes in proptest::collection::vec(any::<u8>(), 0..40), cuts in proptest::collection::vec(0usize..40, 0..6)) {
            let mut v = Utf8Validator::default();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            points.push(bytes.len());
            points.sort_unstable();
            let mut from = 0;
            let mut ok = true;
            for to in points {
                ok &= v.feed(&bytes[from..to]).is_ok();
                from = to;
                if !ok { break; }
            }
            let ok = ok && v.finish().is_ok();
            prop_assert_eq!(ok, std::str::from_utf8(&bytes).is_ok());
        }
    }
}
