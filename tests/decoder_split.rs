//! The request decoder gives the same requests for every split of the stream.

use std::time::Instant;

use proptest::prelude::*;
use rtweb::http::{Decoded, Limits, RequestDecoder, RequestEvent};

#[derive(Debug, Clone)]
struct Request {
    target: String,
    body: Vec<u8>,
    chunked: Option<Vec<usize>>, // chunk sizes when sent chunked
}

fn request() -> impl Strategy<Value = Request> {
    (
        "[a-z0-9/]{0,20}",
        proptest::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
        proptest::collection::vec(1usize..50, 1..8),
    )
        .prop_map(|(path, body, chunked, cuts)| Request {
            target: format!("/{path}"),
            body,
            chunked: chunked.then_some(cuts),
        })
}

fn encode(request: &Request) -> Vec<u8> {
    let mut out = format!("POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\n", request.target).into_bytes();
    match &request.chunked {
        None => {
            out.extend_from_slice(
                format!("Content-Length: {}\r\n\r\n", request.body.len()).as_bytes(),
            );
            out.extend_from_slice(&request.body);
        }
        Some(sizes) => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = &request.body[..];
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                out.extend_from_slice(format!("{:x};e=1\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
                rest = tail;
            }
            out.extend_from_slice(b"0\r\nT: v\r\n\r\n");
        }
    }
    out
}

/// Feeds `stream` cut at `cuts` and returns (target, body) per request.
fn decode(stream: &[u8], cuts: &[usize]) -> Vec<(String, Vec<u8>)> {
    let mut decoder = RequestDecoder::new(Limits {
        max_body: 1 << 20,
        ..Limits::default()
    });
    let mut buffered = Vec::new();
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(stream.len());
    points.sort_unstable();
    let mut from = 0;
    for to in points {
        buffered.extend_from_slice(&stream[from..to]);
        from = to;
        loop {
            let Decoded { consumed, event } = decoder
                .decode(&buffered, Instant::now())
                .expect("valid stream");
            assert!(consumed <= buffered.len(), "consumed more than given");
            let progressed = consumed > 0 || event.is_some();
            match event {
                Some(RequestEvent::Head(head)) => out.push((head.target, Vec::new())),
                Some(RequestEvent::Body(data)) => out
                    .last_mut()
                    .expect("body after head")
                    .1
                    .extend_from_slice(data),
                Some(RequestEvent::End) | None => {}
            }
            buffered.drain(..consumed);
            if !progressed {
                break;
            }
        }
    }
    assert!(buffered.is_empty(), "bytes left over");
    out
}

proptest! {
    #[test]
    fn every_split_decodes_the_same(requests in proptest::collection::vec(request(), 1..6), cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        let stream: Vec<u8> = requests.iter().flat_map(encode).collect();
        let expected: Vec<(String, Vec<u8>)> = requests.iter().map(|r| (r.target.clone(), r.body.clone())).collect();
        prop_assert_eq!(&decode(&stream, &[]), &expected);
        prop_assert_eq!(&decode(&stream, &cuts), &expected);
        let every_byte: Vec<usize> = (0..stream.len()).collect();
        prop_assert_eq!(&decode(&stream, &every_byte), &expected);
    }
}
