//! The little JSON rtweb writes: strings escaped per RFC 8259 §7.
//!
//! Quotes, backslashes and control characters are escaped; everything else,
//! including all non-ASCII text, passes through as UTF-8.

use std::fmt::Write;

/// Appends `text` as a JSON string literal, quotes included.
pub fn write_string(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_rfc_8259_requires() {
        let mut out = String::new();
        write_string(&mut out, "a\"b\\c\nd\u{1}e\u{7f}é😀");
        assert_eq!(out, r#""a\"b\\c\nd\u0001e"#.to_owned() + "\u{7f}é😀\"");
    }
}
