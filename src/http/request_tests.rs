//! Table tests for the request decoder; each case runs whole and byte by byte.

use super::*;
use crate::http::Persistence;
use std::time::Duration;

/// What a stream decodes to, flattened for comparison.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Head(String),
    Body(Vec<u8>),
    Error(u16),
}

fn decode(input: &[u8], piece: usize) -> Vec<Item> {
    let mut decoder = RequestDecoder::new(Limits::default());
    let now = Instant::now();
    let mut items = Vec::new();
    let mut buffered = Vec::new();
    let mut body = Vec::new();
    for part in input.chunks(piece.max(1)) {
        buffered.extend_from_slice(part);
        loop {
            match decoder.decode(&buffered, now) {
                Err(e) => {
                    items.push(Item::Error(e.status.0));
                    return items;
                }
                Ok(Decoded { consumed, event }) => {
                    let progressed = consumed > 0 || event.is_some();
                    match event {
                        Some(RequestEvent::Head(h)) => items.push(Item::Head(h.target)),
                        Some(RequestEvent::Body(b)) => body.extend_from_slice(b),
                        Some(RequestEvent::End) => {
                            items.push(Item::Body(std::mem::take(&mut body)))
                        }
                        None => {}
                    }
                    buffered.drain(..consumed);
                    if !progressed {
                        break;
                    }
                }
            }
        }
    }
    items
}

/// Decodes whole and byte by byte, asserting both agree.
fn items(input: &[u8]) -> Vec<Item> {
    let whole = decode(input, input.len());
    assert_eq!(
        whole,
        decode(input, 1),
        "byte-by-byte differs for {:?}",
        String::from_utf8_lossy(input)
    );
    whole
}

fn status_of(input: &str) -> u16 {
    match items(input.as_bytes()).last() {
        Some(Item::Error(status)) => *status,
        other => panic!("expected an error for {input:?}, got {other:?}"),
    }
}

#[test]
fn get_then_pipelined_post() {
    let got = items(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.0\r\n\r\n");
    assert_eq!(
        got,
        vec![
            Item::Head("/a".into()),
            Item::Body(vec![]),
            Item::Head("/b".into()),
            Item::Body(b"abc".to_vec()),
            Item::Head("/c".into()),
            Item::Body(vec![]),
        ]
    );
}

#[test]
fn chunked_body_is_decoded() {
    let got = items(
        b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert_eq!(
        got,
        vec![Item::Head("/p".into()), Item::Body(b"abc".to_vec())]
    );
}

#[test]
fn leading_empty_lines_are_skipped() {
    assert_eq!(
        items(b"\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")[0],
        Item::Head("/".into())
    );
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    assert_eq!(
        items(b"GET /lf HTTP/1.1\nHost: x\n\n")[0],
        Item::Head("/lf".into())
    );
}

#[test]
fn smuggling_vectors_are_refused() {
    let cases = [
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
        // RFC 9112 §6.3 item 4: chunked not final → 400; §6.1: an unknown
        // coding in an otherwise framable message → 501.
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
    ];
    for (request, status) in cases {
        assert_eq!(status_of(request), status, "{request:?}");
    }
}

#[test]
fn identical_repeated_content_length_is_accepted() {
    let got =
        items(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(got[1], Item::Body(b"ok".to_vec()));
}

#[test]
fn malformed_heads_are_refused() {
    let cases = [
        ("GET / HTTP/1.1\r\n\r\n", 400),                       // no Host
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400), // two Hosts
        (
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
            400,
        ), // obs-fold
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),           // space before colon
        ("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400), // CR in value
        ("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 400), // NUL in value
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417),
        ("GET /\r\n\r\n", 400),
        // RFC 9112 §3: a request line without a version, with a fourth word,
        // or with a version that is not `HTTP/DIGIT.DIGIT` is malformed: 400.
        ("GET / \r\nHost: x\r\n\r\n", 400),
        ("GET / x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET / HTTP/1.1 x\r\nHost: x\r\n\r\n", 400),
        ("GET / http/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET / HTTP/11\r\nHost: x\r\n\r\n", 400),
        ("GET / HTTP/1\r\nHost: x\r\n\r\n", 400),
        ("GET / FOO/1.1\r\nHost: x\r\n\r\n", 400),
        // Well-formed, unsupported major version: 505 (RFC 9110 §15.6.6).
        ("GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    ];
    for (request, status) in cases {
        assert_eq!(status_of(request), status, "{request:?}");
    }
}

#[test]
fn size_limits_answer_431_414_413() {
    let many = (0..65).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    assert_eq!(
        status_of(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
        431
    );
    let big = "a".repeat(17 * 1024);
    assert_eq!(
        status_of(&format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"
        )),
        431
    );
    let long = "a".repeat(9 * 1024);
    assert_eq!(
        status_of(&format!("GET /{long} HTTP/1.1\r\nHost: x\r\n\r\n")),
        414
    );
    assert_eq!(
        status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n"),
        413
    );
    let chunks = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10001\r\n{}",
        "a".repeat(65537)
    );
    assert_eq!(status_of(&chunks), 413);
}

#[test]
fn head_timing_uses_the_callers_clock() {
    let mut decoder = RequestDecoder::new(Limits::default());
    let t0 = Instant::now();
    assert!(decoder.is_idle());
    decoder.decode(b"GE", t0).unwrap();
    assert_eq!(decoder.head_started(), Some(t0));
    // Later bytes do not move the start: a trickling client cannot extend it.
    decoder
        .decode(b"GET / HT", t0 + Duration::from_secs(5))
        .unwrap();
    assert_eq!(decoder.head_started(), Some(t0));
    let done = decoder
        .decode(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            t0 + Duration::from_secs(6),
        )
        .unwrap();
    assert!(matches!(done.event, Some(RequestEvent::Head(_))));
    assert_eq!(decoder.head_started(), None);
}

#[test]
fn trickled_head_is_scanned_once() {
    // With rescanning, 16 KiB fed a byte at a time would cost ~134M byte
    // comparisons; remembering `searched` keeps each call O(new bytes).
    let mut decoder = RequestDecoder::new(Limits::default());
    let head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(16_000)
    );
    let now = Instant::now();
    for end in 1..head.len() {
        let decoded = decoder.decode(&head.as_bytes()[..end], now).unwrap();
        assert_eq!(decoded.event, None);
        assert!(
            decoder.searched + 3 >= end,
            "search restarted at {} of {end}",
            decoder.searched
        );
    }
    let decoded = decoder.decode(head.as_bytes(), now).unwrap();
    assert!(matches!(decoded.event, Some(RequestEvent::Head(_))));
}

#[test]
fn keep_alive_rules() {
    let head = |text: &str| match decode(text.as_bytes(), text.len()).into_iter().next() {
        Some(Item::Head(_)) => {
            let mut d = RequestDecoder::new(Limits::default());
            match d.decode(text.as_bytes(), Instant::now()).unwrap().event {
                Some(RequestEvent::Head(h)) => h.persistence(),
                _ => unreachable!(),
            }
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        head("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        Persistence::Persist
    );
    assert_eq!(
        head("GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n"),
        Persistence::Close
    );
    assert_eq!(head("GET / HTTP/1.0\r\n\r\n"), Persistence::Close);
    assert_eq!(
        head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
        Persistence::ConfirmKeepAlive
    );
}

#[test]
fn query_values() {
    let mut d = RequestDecoder::new(Limits::default());
    let Some(RequestEvent::Head(h)) = d
        .decode(
            b"GET /p?after=5&x&timeout=2 HTTP/1.1\r\nHost: x\r\n\r\n",
            Instant::now(),
        )
        .unwrap()
        .event
    else {
        panic!()
    };
    assert_eq!(
        (
            h.path(),
            h.query("after"),
            h.query("x"),
            h.query("timeout"),
            h.query("no")
        ),
        ("/p", Some("5"), Some(""), Some("2"), None)
    );
}

#[test]
fn field_names_are_matched_in_any_case() {
    // RFC 9110 §5.1: field names are case-insensitive — for the rules
    // (one Host, the body's length) as for every lookup after them.
    assert_eq!(
        status_of("GET / HTTP/1.1\r\nHOST: a\r\nhost: b\r\n\r\n"),
        400
    );
    assert_eq!(
        status_of(
            "POST / HTTP/1.1\r\nhost: x\r\ncontent-LENGTH: 3\r\nTRANSFER-encoding: chunked\r\n\r\n"
        ),
        400
    );
    let mut decoder = RequestDecoder::new(Limits::default());
    let input =
        b"POST /p HTTP/1.1\r\nhOsT: x\r\nCONTENT-length: 2\r\nX-Twice: 1\r\nx-twice: 2\r\n\r\nok";
    let head = match decoder.decode(input, Instant::now()).unwrap().event {
        Some(RequestEvent::Head(head)) => head,
        other => panic!("expected a head, got {other:?}"),
    };
    assert_eq!(head.body, BodyLength::Fixed(2));
    assert_eq!(head.header("Host"), Some(&b"x"[..]));
    assert_eq!(
        head.fields.values("X-TWICE").collect::<Vec<_>>(),
        [&b"1"[..], b"2"]
    );
    // Names are kept as sent.
    assert_eq!(
        head.fields.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        ["hOsT", "CONTENT-length", "X-Twice", "x-twice"]
    );
}

#[test]
fn absolute_form_target_is_accepted_and_its_authority_wins() {
    // RFC 9112 §3.2.2: accept the absolute form; its authority replaces Host.
    let head = |input: &str| {
        let mut decoder = RequestDecoder::new(Limits::default());
        match decoder
            .decode(input.as_bytes(), Instant::now())
            .unwrap()
            .event
        {
            Some(RequestEvent::Head(head)) => head,
            other => panic!("expected a head, got {other:?}"),
        }
    };
    let abs =
        head("GET http://example.test:8080/ch/x/poll?after=3 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!((abs.path(), abs.query("after")), ("/ch/x/poll", Some("3")));
    assert_eq!(abs.header("host"), Some(&b"example.test:8080"[..]));
    assert_eq!(head("GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n").target, "/");
    assert_eq!(
        head("GET /http://x HTTP/1.1\r\nHost: h\r\n\r\n").target,
        "/http://x"
    );
}

#[test]
fn a_later_http1_minor_version_is_read_as_http11() {
    // RFC 9110 §2.5: process it as the highest minor version we conform to.
    let input = b"GET /a HTTP/1.2\r\nHost: x\r\n\r\n";
    assert_eq!(
        items(input),
        vec![Item::Head("/a".into()), Item::Body(vec![])]
    );
    let head = parse_head(input, &Limits::default()).expect("accepted");
    assert_eq!(head.version, Version::Http11);
}
