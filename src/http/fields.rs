//! The header fields of one request head, as the head parser keeps them.
//!
//! ```text
//! Host: 127.0.0.1:8080\r\n          bytes: Host127.0.0.1:8080Cookiea=1
//! Cookie: a=1\r\n                   spans: (4, 18) (24, 27)
//! ```
//!
//! Every name and value is copied once, side by side, into one buffer, and
//! each field is the pair of offsets where its name and its value end (a
//! name starts where the previous value ended). A head costs two
//! allocations however many fields it has — one `String` and one `Vec` per
//! field cost a poll request ~20 `malloc`/`free` pairs, a tenth of the
//! server's time at 16 pipelined requests per read.
//!
//! Names are kept as sent. RFC 9110 §5.1: "Field names are
//! case-insensitive", so every lookup compares ignoring ASCII case.
//! Values are kept as httparse gives them: without the surrounding
//! whitespace (§5.5), otherwise as sent. No rule of HTTP is checked here;
//! `head.rs` does that.

/// Header fields in the order they came; see the module comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    bytes: Vec<u8>,
    /// Per field: where its name ends and where its value ends, in `bytes`.
    spans: Vec<(usize, usize)>,
}

impl Fields {
    /// Room for `fields` fields of `bytes` bytes in all, names and values.
    pub fn with_capacity(fields: usize, bytes: usize) -> Fields {
        Fields {
            bytes: Vec::with_capacity(bytes),
            spans: Vec::with_capacity(fields),
        }
    }

    /// Appends a field.
    pub fn push(&mut self, name: &str, value: &[u8]) {
        self.bytes.extend_from_slice(name.as_bytes());
        let name_end = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.spans.push((name_end, self.bytes.len()));
    }

    /// Every field, in order: its name as sent, and its value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.raw().map(|(name, value)| {
            // Names only ever come from `push`, as `&str`.
            let name = std::str::from_utf8(name).expect("a field name is a &str");
            (name, value)
        })
    }

    /// The values of every field called `name` (any case), in order.
    pub fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.raw()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value)
    }

    /// The value of the first field called `name` (any case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// Every field's name and value as bytes: what lookups compare.
    fn raw(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let mut start = 0;
        self.spans.iter().map(move |&(name_end, value_end)| {
            let name = &self.bytes[start..name_end];
            start = value_end;
            (name, &self.bytes[name_end..value_end])
        })
    }

    /// How many fields are called `name` (any case).
    pub fn count(&self, name: &str) -> usize {
        self.values(name).count()
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl<'a> FromIterator<(&'a str, &'a [u8])> for Fields {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a [u8])>>(fields: I) -> Fields {
        let mut all = Fields::default();
        for (name, value) in fields {
            all.push(name, value);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_back_in_order_and_are_found_in_any_case() {
        let fields: Fields = [
            ("Host", &b"127.0.0.1:8080"[..]),
            ("Cookie", b"a=1"),
            ("X-Empty", b""),
            ("cookie", b"b=2"),
        ]
        .into_iter()
        .collect();
        assert_eq!(fields.len(), 4);
        assert_eq!(
            fields.iter().collect::<Vec<_>>(),
            [
                ("Host", &b"127.0.0.1:8080"[..]),
                ("Cookie", b"a=1"),
                ("X-Empty", b""),
                ("cookie", b"b=2"),
            ]
        );
        assert_eq!(fields.get("host"), Some(&b"127.0.0.1:8080"[..]));
        assert_eq!(fields.get("HOST"), Some(&b"127.0.0.1:8080"[..]));
        assert_eq!(fields.get("x-empty"), Some(&b""[..]));
        assert_eq!(fields.get("origin"), None);
        assert_eq!(
            fields.values("COOKIE").collect::<Vec<_>>(),
            [&b"a=1"[..], b"b=2"]
        );
        assert_eq!(fields.count("cookie"), 2);
    }

    #[test]
    fn no_fields() {
        let fields = Fields::default();
        assert!(fields.is_empty());
        assert_eq!(fields.iter().count(), 0);
        assert_eq!(fields.get("host"), None);
    }
}
