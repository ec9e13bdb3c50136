//! The token parser (src/access/token.rs) on arbitrary bytes, two ways:
//!
//! 1. the bytes as a token, as a client could send them: never panics,
//!    and never verifies (the fuzzer cannot forge an HMAC);
//! 2. the bytes as `header JSON` 0xFF `claims JSON`, encoded and signed
//!    with the server's secret — so the header and claims rules run on
//!    arbitrary JSON past the signature check. A token accepted this way
//!    named HS256, and its patterns keep `*` only as a trailing wildcard.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use rtweb::access::token::{Pattern, Secret, Verifier};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let verifier = Verifier::new(&Secret::new(SECRET.to_vec(), "fuzz").unwrap());
    let as_sent = String::from_utf8_lossy(data);
    assert!(verifier.verify(&as_sent, NOW).is_err());

    let (header, claims) = match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"{\"alg\":\"HS256\"}"[..], data),
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = EncodingKey::from_secret(SECRET);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
    let token = format!("{message}.{signature}");
    if let Ok(grant) = verifier.verify(&token, NOW) {
        let header: serde_json::Value = serde_json::from_slice(header).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert!(!grant.expired(NOW));
        for pattern in grant.publish.iter().chain(&grant.subscribe) {
            let (Pattern::Exact(stem) | Pattern::Prefix(stem)) = pattern;
            assert!(!stem.contains('*'));
        }
    }
});
