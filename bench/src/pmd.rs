//! The client's half of permessage-deflate (RFC 7692) for the load tool:
//! what the server agreed, the JSON-like payloads, and compressing and
//! inflating whole messages with flate2 — the same library as the server,
//! but none of its code, so a bug in the server's framing cannot hide in a
//! bug shared with its client.

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress};
use rtweb::ws::frame::write_client_frame;
use rtweb::ws::OpCode;

/// RFC 7692 §7.2.1: every sync-flushed message ends with these four bytes,
/// which the sender removes and the receiver puts back.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
const MASK: [u8; 4] = [1, 2, 3, 4];

/// What the server agreed (RFC 7692 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreed {
    pub answer: String,
    pub client_no_context_takeover: bool,
    pub server_no_context_takeover: bool,
    pub client_max_window_bits: u8,
}

impl Agreed {
    pub fn parse(answer: &str) -> Agreed {
        let mut params = answer.split(';').map(str::trim);
        assert_eq!(
            params.next(),
            Some("permessage-deflate"),
            "agreed an extension other than permessage-deflate: {answer}"
        );
        let mut agreed = Agreed {
            answer: answer.replace(' ', ""),
            client_no_context_takeover: false,
            server_no_context_takeover: false,
            client_max_window_bits: 15,
        };
        for param in params {
            let (name, value) = param.split_once('=').map_or((param, None), |(n, v)| {
                (n.trim(), Some(v.trim().trim_matches('"')))
            });
            match name {
                "client_no_context_takeover" => agreed.client_no_context_takeover = true,
                "server_no_context_takeover" => agreed.server_no_context_takeover = true,
                "client_max_window_bits" => {
                    agreed.client_max_window_bits = value
                        .and_then(|v| v.parse().ok())
                        .expect("client_max_window_bits=N")
                }
                // Limits the server's window; the tool inflates with 15 bits, which reads any.
                "server_max_window_bits" => {}
                other => panic!("unknown parameter {other} in {answer}"),
            }
        }
        agreed
    }
}

/// `count` different JSON-like texts of exactly `size` bytes (ASCII): chat
/// messages much like the demo's, `{"id":N,"time":MS,"user":"…","text":"…"}`,
/// with ids and times rising, words drawn from a 64-word vocabulary.
pub fn payloads(size: usize, count: usize) -> Vec<Vec<u8>> {
    const USERS: [&str; 16] = [
        "ada", "grace", "linus", "barbara", "ken", "dennis", "margaret", "alan", "edsger",
        "donald", "frances", "john", "radia", "tim", "sophie", "niklaus",
    ];
    const WORDS: [&str; 64] = [
        "the",
        "build",
        "is",
        "green",
        "again",
        "after",
        "merging",
        "deflate",
        "and",
        "echo",
        "works",
        "now",
        "who",
        "broke",
        "staging",
        "last",
        "night",
        "I",
        "think",
        "it",
        "was",
        "cache",
        "invalidation",
        "not",
        "me",
        "lunch",
        "at",
        "noon",
        "deploy",
        "friday",
        "never",
        "ship",
        "review",
        "my",
        "pull",
        "request",
        "please",
        "tests",
        "are",
        "flaky",
        "on",
        "arm",
        "benchmark",
        "numbers",
        "look",
        "good",
        "latency",
        "p99",
        "dropped",
        "by",
        "half",
        "we",
        "should",
        "write",
        "docs",
        "for",
        "this",
        "tomorrow",
        "morning",
        "coffee",
        "first",
        "then",
        "rollback",
        "done",
    ];
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as usize
    };
    let (mut id, mut time) = (1usize, 1_795_558_339_889usize);
    (0..count)
        .map(|_| {
            let mut text = String::from("[");
            while text.len() < size {
                let words: Vec<&str> = (0..3 + next() % 10)
                    .map(|_| WORDS[next() % WORDS.len()])
                    .collect();
                let user = USERS[next() % USERS.len()];
                text.push_str(&format!(
                    "{{\"id\":{id},\"time\":{time},\"user\":\"{user}\",\"text\":\"{}\"}},",
                    words.join(" ")
                ));
                id += 1;
                time += next() % 5000;
            }
            text.truncate(size);
            text.into_bytes()
        })
        .collect()
}

/// Appends `payload` compressed and sync-flushed, without the tail.
pub fn compress(compressor: &mut Compress, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.reserve(payload.len() + 64);
    let first_in = compressor.total_in();
    loop {
        let consumed = (compressor.total_in() - first_in) as usize;
        compressor
            .compress_vec(&payload[consumed..], out, FlushCompress::Sync)
            .expect("deflate");
        let consumed = (compressor.total_in() - first_in) as usize;
        if consumed == payload.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    assert!(
        out[start..].ends_with(&TAIL),
        "a sync flush ends 00 00 ff ff"
    );
    out.truncate(out.len() - TAIL.len());
}

/// Inflates one message's payload (with the tail put back) into `out`.
pub fn inflate(inflater: &mut Decompress, payload: &[u8], out: &mut Vec<u8>, hint: usize) {
    out.clear();
    out.reserve(hint + 64);
    for part in [payload, &TAIL[..]] {
        let mut at = 0;
        loop {
            let (before_in, before_out) = (inflater.total_in(), out.len());
            inflater
                .decompress_vec(&part[at..], out, FlushDecompress::Sync)
                .expect("a valid compressed echo");
            at += (inflater.total_in() - before_in) as usize;
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            } else if at == part.len()
                || (inflater.total_in() == before_in && out.len() == before_out)
            {
                break;
            }
        }
    }
}

/// A masked text frame of `payload` compressed by `compressor` (RSV1 set).
pub fn compressed_frame(
    compressor: &mut Compress,
    payload: &[u8],
    body: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    body.clear();
    compress(compressor, payload, body);
    let start = out.len();
    write_client_frame(out, true, OpCode::Text, body, MASK);
    out[start] |= 0x40;
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;

    const LEVEL: u32 = 6;

    #[test]
    fn payloads_are_json_like_distinct_and_exact() {
        for size in [16, 1024, 16384] {
            let all = payloads(size, 16);
            assert!(all
                .iter()
                .all(|p| p.len() == size && p.starts_with(b"[{\"id\":")));
            assert!(all.windows(2).all(|w| w[0] != w[1]));
        }
    }

    #[test]
    fn compressed_messages_inflate_back_with_and_without_takeover() {
        let all = payloads(1024, 4);
        let (mut compressor, mut inflater) = (
            Compress::new(Compression::new(LEVEL), false),
            Decompress::new(false),
        );
        let (mut body, mut out) = (Vec::new(), Vec::new());
        for payload in all.iter().chain(all.iter()) {
            body.clear();
            compress(&mut compressor, payload, &mut body);
            inflate(&mut inflater, &body, &mut out, payload.len());
            assert_eq!(&out, payload);
        }
        // From an empty window each time: readable by an inflater that keeps its window.
        for payload in &all {
            body.clear();
            compress(
                &mut Compress::new(Compression::new(LEVEL), false),
                payload,
                &mut body,
            );
            inflate(&mut inflater, &body, &mut out, payload.len());
            assert_eq!(&out, payload);
        }
    }

    #[test]
    fn agreed_parameters_are_read() {
        let a = Agreed::parse(
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=12",
        );
        assert!(a.client_no_context_takeover && !a.server_no_context_takeover);
        assert_eq!(a.client_max_window_bits, 12);
        assert_eq!(
            a.answer,
            "permessage-deflate;client_no_context_takeover;client_max_window_bits=12"
        );
    }
}
