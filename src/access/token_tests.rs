//! The verification table: one row per way a token can be right or wrong.
//! Tokens are minted here with the same crate (`encode`), or assembled by
//! hand where the crate would refuse to make them (`alg: none`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm as Alg, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

pub(crate) const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
pub(crate) const NOW: u64 = 1_700_000_000;

pub(crate) fn mint_with(alg: Alg, secret: &[u8], claims: &Value) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

pub(crate) fn mint(claims: &Value) -> String {
    mint_with(Alg::HS256, SECRET, claims)
}

fn b64(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

fn verifier() -> Verifier {
    Verifier::new(&Secret::new(SECRET.to_vec(), "test").unwrap())
}

fn rights() -> Value {
    json!({"publish": ["chat.*"], "subscribe": ["*"]})
}

#[test]
fn verification_table() {
    use TokenError::*;
    let claims = json!({"rtweb": rights(), "exp": NOW + 60});
    let good = mint(&claims);
    let [header, payload, _] = good.split('.').collect::<Vec<_>>()[..] else {
        panic!()
    };
    let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    let rs256 = format!("{}.{payload}.c2ln", b64(r#"{"alg":"RS256","typ":"JWT"}"#));
    let tampered = format!("{header}.{}.{}", b64(r#"{"rtweb":{"publish":["*"]}}"#), {
        good.rsplit('.').next().unwrap()
    });
    let crit = {
        let mut h = Header::new(Alg::HS256);
        h.crit = Some(vec!["exp".into()]);
        encode(&h, &claims, &EncodingKey::from_secret(SECRET)).unwrap()
    };
    let table: Vec<(&str, String, Result<(), TokenError>)> = vec![
        ("good", good.clone(), Ok(())),
        (
            "good without exp",
            mint(&json!({"rtweb": rights()})),
            Ok(()),
        ),
        (
            "expired one second ago",
            mint(&json!({"rtweb": rights(), "exp": NOW - 1})),
            Err(Expired { exp: NOW - 1 }),
        ),
        (
            "expires this very second (exp is exclusive)",
            mint(&json!({"rtweb": rights(), "exp": NOW})),
            Err(Expired { exp: NOW }),
        ),
        (
            "nbf within the leeway",
            mint(&json!({"rtweb": rights(), "nbf": NOW + NBF_LEEWAY})),
            Ok(()),
        ),
        (
            "not yet valid",
            mint(&json!({"rtweb": rights(), "nbf": NOW + NBF_LEEWAY + 1})),
            Err(NotYetValid {
                nbf: NOW + NBF_LEEWAY + 1,
            }),
        ),
        (
            "wrong secret",
            mint_with(Alg::HS256, b"another secret of thirty-two bytes!", &claims),
            Err(Signature),
        ),
        ("claims altered after signing", tampered, Err(Signature)),
        ("alg none", none, Err(Algorithm("none".into()))),
        (
            "HS512 when HS256 is expected",
            mint_with(Alg::HS512, SECRET, &claims),
            Err(Algorithm("HS512".into())),
        ),
        ("RS256", rs256, Err(Algorithm("RS256".into()))),
        ("crit header", crit, Err(Critical)),
    ];
    for (name, token, expected) in table {
        let got = verifier().verify(&token, NOW).map(|_| ());
        assert_eq!(got, expected, "{name}");
    }
}

/// Rows whose reason text comes from serde or base64: only the variant is checked.
#[test]
fn malformed_tokens_and_wrong_claim_shapes() {
    let signed_header = b64(r#"{"alg":"HS256","typ":"JWT"}"#);
    let malformed = [
        "",
        "abc",
        "a.b",
        "!!!.e30.e30",
        &format!("{}.e30.sig", b64("not json")),
        &format!("{}.e30.sig", b64(r#"{"typ":"JWT"}"#)),
        &format!("{signed_header}.e30.not*base64"),
    ];
    for token in malformed {
        let got = verifier().verify(token, NOW);
        assert!(
            matches!(got, Err(TokenError::Malformed(_) | TokenError::Signature)),
            "{token:?}: {got:?}"
        );
    }
    let shapes = [
        json!({}),
        json!({"rtweb": 5}),
        json!({"rtweb": {"publish": "chat"}}),
        json!({"rtweb": {"publish": [1]}}),
        json!({"rtweb": {}, "exp": "soon"}),
        json!({"rtweb": {}, "exp": -5}),
        json!({"rtweb": {}, "aud": "someone"}),
        json!({"rtweb": {"publish": ["*.chat"]}}),
        json!({"rtweb": {"subscribe": ["a*b*"]}}),
        json!(["not", "an", "object"]),
    ];
    for claims in shapes {
        let got = verifier().verify(&mint(&claims), NOW);
        assert!(
            matches!(got, Err(TokenError::Claims(_))),
            "{claims}: {got:?}"
        );
    }
}

#[test]
fn a_verified_token_carries_its_rights_and_expiry() {
    let token = mint(&json!({"rtweb": rights(), "exp": NOW as f64 + 60.9}));
    let grant = verifier().verify(&token, NOW).unwrap();
    assert_eq!(grant.expires, Some(NOW + 60));
    assert!(grant.allows(Right::Publish, "chat.x"));
    assert!(!grant.allows(Right::Publish, "news"));
    assert!(grant.allows(Right::Subscribe, "news"));
    assert!(!grant.expired(NOW + 59));
    assert!(grant.expired(NOW + 60));
    // Missing lists grant nothing.
    let token = mint(&json!({"rtweb": {"subscribe": ["a"]}}));
    let grant = verifier().verify(&token, NOW).unwrap();
    assert!(!grant.allows(Right::Publish, "a"));
    assert_eq!(grant.expires, None);
}

#[test]
fn wildcards_are_trailing_only() {
    let cases = [
        ("chat.*", "chat.x", true),
        ("chat.*", "chat.", true),
        ("chat.*", "chat.a.b", true),
        ("chat.*", "chatx", false),
        ("chat.*", "chat", false),
        ("*", "anything", true),
        ("chat", "chat", true),
        ("chat", "chat.x", false),
        ("chat", "Chat", false),
        ("chat*", "chatroom", true),
    ];
    for (pattern, channel, expected) in cases {
        let p = Pattern::parse(pattern).unwrap();
        assert_eq!(p.matches(channel), expected, "{pattern} vs {channel}");
    }
    for bad in ["*.chat", "a*b", "**", "a*b*"] {
        assert!(Pattern::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn secrets_are_trimmed_and_must_be_long_enough() {
    let s = Secret::new(b"0123456789abcdef0123456789abcdef\r\n".to_vec(), "x").unwrap();
    assert_eq!(s.as_bytes().len(), 32);
    assert_eq!(format!("{s:?}"), "Secret(32 bytes)");
    let err = Secret::new(b"short\n".to_vec(), "--jwt-secret-file s").unwrap_err();
    assert!(
        err.starts_with("--jwt-secret-file s: the secret is 5 bytes"),
        "{err}"
    );
    assert!(Secret::new(Vec::new(), "x").is_err());
    let missing = Secret::from_file(Path::new("/nonexistent/rtweb-secret")).unwrap_err();
    assert!(missing.starts_with("--jwt-secret-file /nonexistent/rtweb-secret: "));
}

#[test]
fn reasons_are_plain_sentences() {
    assert_eq!(
        TokenError::Algorithm("none".into()).reason(),
        "token algorithm none refused: only HS256 is accepted"
    );
    assert_eq!(
        TokenError::Expired { exp: 5 }.reason(),
        "token expired (exp 5)"
    );
}
