//! The policy applied: decisions for each configuration, and the bytes of
//! each refusal (rendered here with `Response::write` and a fixed date; the
//! same bytes appear in docs/security.md until they are captured from the
//! running server).

use serde_json::json;

use super::*;
use crate::access::source::tests::head;
use crate::access::token::tests::{mint, NOW, SECRET};
use crate::access::token::Secret;
use crate::stats::Stats;

fn config(f: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    f(&mut config);
    config
}

fn secured() -> Config {
    config(|c| c.jwt_secret = Some(Secret::new(SECRET.to_vec(), "test").unwrap()))
}

fn chat_token(exp: u64) -> String {
    mint(&json!({"rtweb": {"publish": ["chat.*"], "subscribe": ["chat.*"]}, "exp": exp}))
}

fn bearer(token: &str) -> RequestHead {
    head(
        "/ch/chat.a",
        &[("authorization", &format!("Bearer {token}"))],
    )
}

fn decide(
    policy: &Policy,
    head: &RequestHead,
    right: Right,
    channel: &str,
) -> Result<Access, Refusal> {
    policy.authorize(&policy.credentials(head, NOW), right, channel, NOW)
}

#[test]
fn without_a_secret_everything_is_open() {
    let policy = Policy::new(&Config::default());
    let anonymous = head("/ch/x", &[]);
    assert_eq!(policy.credentials(&anonymous, NOW), Credentials::Open);
    for right in [Right::Publish, Right::Subscribe] {
        assert_eq!(
            decide(&policy, &anonymous, right, "x"),
            Ok(Access { expires: None })
        );
        // A token sent anyway is not even looked at.
        let junk = head("/ch/x?access_token=junk", &[]);
        assert_eq!(
            decide(&policy, &junk, right, "x"),
            Ok(Access { expires: None })
        );
    }
}

#[test]
fn with_a_secret_publishing_needs_a_token_with_the_right() {
    let policy = Policy::new(&secured());
    let anonymous = head("/ch/chat.a", &[]);
    let good = bearer(&chat_token(NOW + 60));
    assert_eq!(
        decide(&policy, &anonymous, Right::Publish, "chat.a"),
        Err(Refusal::NoToken {
            right: Right::Publish,
            channel: "chat.a".into()
        })
    );
    // Subscribing stays open without --subscribe-needs-token.
    assert_eq!(
        decide(&policy, &anonymous, Right::Subscribe, "news"),
        Ok(Access { expires: None })
    );
    assert_eq!(
        decide(&policy, &good, Right::Publish, "chat.a"),
        Ok(Access {
            expires: Some(NOW + 60)
        })
    );
    assert_eq!(
        decide(&policy, &good, Right::Publish, "news"),
        Err(Refusal::ForbiddenChannel {
            right: Right::Publish,
            channel: "news".into()
        })
    );
    let expired = bearer(&chat_token(NOW - 1));
    assert_eq!(
        decide(&policy, &expired, Right::Publish, "chat.a"),
        Err(Refusal::BadToken(TokenError::Expired { exp: NOW - 1 }))
    );
}

#[test]
fn subscribe_needs_token_guards_streams_and_they_carry_the_expiry() {
    let policy = Policy::new(&config(|c| {
        *c = secured();
        c.subscribe_needs_token = true;
    }));
    let cookie = head(
        "/ch/chat.a/sse",
        &[("cookie", &format!("rtweb_token={}", chat_token(NOW + 90)))],
    );
    let access = decide(&policy, &cookie, Right::Subscribe, "chat.a").unwrap();
    assert_eq!(access.expires, Some(NOW + 90));
    assert_eq!(access.remaining(NOW + 30), Some(Duration::from_secs(60)));
    assert_eq!(access.remaining(NOW + 100), Some(Duration::ZERO));
    assert!(matches!(
        decide(
            &policy,
            &head("/ch/chat.a/sse", &[]),
            Right::Subscribe,
            "chat.a"
        ),
        Err(Refusal::NoToken { .. })
    ));
}

#[test]
fn a_websocket_token_is_checked_again_for_each_frame() {
    let policy = Policy::new(&secured());
    let credentials = policy.credentials(&bearer(&chat_token(NOW + 10)), NOW);
    let frame_at = |now| policy.authorize(&credentials, Right::Publish, "chat.a", now);
    assert!(frame_at(NOW + 9).is_ok());
    assert_eq!(
        frame_at(NOW + 10),
        Err(Refusal::BadToken(TokenError::Expired { exp: NOW + 10 }))
    );
}

#[test]
fn admit_applies_host_then_origin() {
    let policy = Policy::new(&config(|c| {
        c.allow_origin = AllowedOrigins::parse("http://127.0.0.1:9000").unwrap();
    }));
    let at = |headers: &[(&str, &str)]| policy.admit(&head("/ch/a", headers));
    assert_eq!(at(&[("host", "127.0.0.1:8080")]), Ok(vec![]));
    assert_eq!(
        at(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ]),
        Ok(vec![])
    );
    assert_eq!(
        at(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:9000")
        ]),
        Ok(crate::access::cors::cors_headers("http://127.0.0.1:9000"))
    );
    assert_eq!(
        at(&[("host", "127.0.0.1:8080"), ("origin", "null")]),
        Err(Refusal::Origin("null".into()))
    );
    assert_eq!(
        at(&[
            ("host", "attacker-rebound.example:8080"),
            ("origin", "http://attacker-rebound.example:8080")
        ]),
        Err(Refusal::Host("attacker-rebound.example:8080".into()))
    );
}

#[test]
fn preflight_answers_204_with_cors_for_allowed_origins_only() {
    let policy = Policy::new(&config(|c| c.allow_origin = AllowedOrigins::Any));
    let preflight = head(
        "/ch/a",
        &[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ],
    );
    let response = policy.preflight(&preflight).unwrap();
    assert_eq!(response.status, Status::NO_CONTENT);
    assert!(response
        .headers
        .contains(&("Access-Control-Max-Age", "600".into())));
    assert!(response
        .headers
        .contains(&("Access-Control-Allow-Origin", "https://app.example".into())));
    let plain = Policy::new(&Config::default()).preflight(&head("/ch/a", &[("host", "localhost")]));
    assert_eq!(
        plain.unwrap().headers,
        vec![("Allow", "GET, POST, OPTIONS".to_string())]
    );
    let refused = Policy::new(&Config::default()).preflight(&preflight);
    assert_eq!(refused, Err(Refusal::Origin("https://app.example".into())));
}

#[test]
fn each_refusal_counts_under_its_reason() {
    let stats = Stats::default();
    let refusals = [
        Refusal::NoToken {
            right: Right::Publish,
            channel: "a".into(),
        },
        Refusal::BadToken(TokenError::Signature),
        Refusal::BadToken(TokenError::Signature),
        Refusal::ForbiddenChannel {
            right: Right::Subscribe,
            channel: "a".into(),
        },
        Refusal::Origin("null".into()),
        Refusal::Host("x".into()),
    ];
    for refusal in &refusals {
        stats.count(refusal.counter());
    }
    assert_eq!(stats.get(Count::RefusedNoToken), 1);
    assert_eq!(stats.get(Count::RefusedBadToken), 2);
    assert_eq!(stats.get(Count::RefusedForbiddenChannel), 1);
    assert_eq!(stats.get(Count::RefusedOrigin), 1);
    assert_eq!(stats.get(Count::RefusedHost), 1);
}

#[test]
fn open_warning_only_beyond_loopback_without_a_secret() {
    assert_eq!(
        open_warning(&Config::default(), Config::default().addr),
        None
    );
    let public = config(|c| c.addr = "0.0.0.0:8080".parse().unwrap());
    assert_eq!(
        open_warning(&public, public.addr).unwrap(),
        "rtweb: warning: listening on 0.0.0.0:8080 without --jwt-secret-file or \
         RTWEB_JWT_SECRET: anyone who can reach it may publish and subscribe"
    );
    let mut secured_public = secured();
    secured_public.addr = public.addr;
    assert_eq!(open_warning(&secured_public, public.addr), None);
}

/// The wire bytes of every refusal, as docs/security.md shows them.
#[test]
fn refusal_wire_bytes() {
    let render = |refusal: Refusal| {
        let mut out = Vec::new();
        refusal.response().write(
            &mut out,
            b"Wed, 25 Nov 2026 06:30:00 GMT",
            false,
            crate::http::response::Persistence::Persist,
        );
        String::from_utf8(out).unwrap()
    };
    let head = |status: &str, extra: &str, length: usize| {
        format!(
            "HTTP/1.1 {status}\r\nServer: rtweb\r\nDate: Wed, 25 Nov 2026 06:30:00 GMT\r\n\
             Content-Type: text/plain; charset=utf-8\r\n{extra}Content-Length: {length}\r\n\r\n"
        )
    };
    let body = "publishing to demo needs a token (Authorization: Bearer, cookie rtweb_token, or ?access_token=)\n";
    assert_eq!(
        render(Refusal::NoToken {
            right: Right::Publish,
            channel: "demo".into()
        }),
        head(
            "401 Unauthorized",
            "WWW-Authenticate: Bearer realm=\"rtweb\"\r\n",
            body.len()
        ) + body
    );
    let body = "token expired (exp 1800000000)\n";
    assert_eq!(
        render(Refusal::BadToken(TokenError::Expired {
            exp: 1_800_000_000
        })),
        head(
            "401 Unauthorized",
            "WWW-Authenticate: Bearer realm=\"rtweb\", error=\"invalid_token\", \
             error_description=\"token expired (exp 1800000000)\"\r\n",
            body.len()
        ) + body
    );
    let body = "this token may not publish to demo\n";
    assert_eq!(
        render(Refusal::ForbiddenChannel {
            right: Right::Publish,
            channel: "demo".into()
        }),
        head(
            "403 Forbidden",
            "WWW-Authenticate: Bearer realm=\"rtweb\", error=\"insufficient_scope\"\r\n",
            body.len()
        ) + body
    );
    let body = "origin https://evil.example is not allowed here (see --allow-origin)\n";
    assert_eq!(
        render(Refusal::Origin("https://evil.example".into())),
        head("403 Forbidden", "", body.len()) + body
    );
    let body = "host attacker-rebound.example is not served here (see --allow-host)\n";
    assert_eq!(
        render(Refusal::Host("attacker-rebound.example".into())),
        head("421 Misdirected Request", "", body.len()) + body
    );
}

#[test]
fn error_descriptions_stay_quotable() {
    assert_eq!(quotable("a \"b\" \\ é"), "a ?b? ? ?");
}

/// The preflight answer's bytes, as docs/security.md shows them.
#[test]
fn preflight_wire_bytes() {
    let policy = Policy::new(&config(|c| {
        c.allow_origin = AllowedOrigins::parse("http://127.0.0.1:9000").unwrap();
    }));
    let request = head(
        "/ch/demo",
        &[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:9000"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization"),
        ],
    );
    let mut out = Vec::new();
    let date = b"Wed, 25 Nov 2026 06:30:00 GMT";
    policy.preflight(&request).unwrap().write(
        &mut out,
        date,
        false,
        crate::http::response::Persistence::Persist,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 204 No Content\r\nServer: rtweb\r\nDate: Wed, 25 Nov 2026 06:30:00 GMT\r\n\
         Allow: GET, POST, OPTIONS\r\n\
         Access-Control-Allow-Origin: http://127.0.0.1:9000\r\n\
         Access-Control-Allow-Credentials: true\r\n\
         Vary: Origin\r\n\
         Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n\
         Access-Control-Allow-Headers: Authorization, Content-Type, Last-Event-ID\r\n\
         Access-Control-Max-Age: 600\r\n\r\n"
    );
}
