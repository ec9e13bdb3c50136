//! CORS (the Fetch standard, §3.2 "CORS protocol"): the response headers
//! that let a page on an allowed origin read our answers, and the answer to
//! its preflight.
//!
//! A page may *send* a simple request (`GET`, or a `POST` of `text/plain`)
//! to any origin; CORS only decides whether it may *read* the response. A
//! request that is not simple (a `POST` with `Authorization`, or of
//! `application/json`) is first asked about with a preflight:
//!
//! ```text
//! OPTIONS /ch/demo HTTP/1.1
//! Origin: https://app.example
//! Access-Control-Request-Method: POST
//! Access-Control-Request-Headers: authorization
//! ```
//!
//! Refusing a page is therefore the origin check's job (`origin`), done
//! before any of this; these functions only speak for origins already
//! allowed. They echo the origin rather than answering `*`: the Fetch
//! standard refuses `*` on a request with credentials, and our browser
//! clients send the `rtweb_token` cookie. Echoing makes the answer depend
//! on `Origin`, so `Vary: Origin` tells caches not to hand one page's answer
//! to another.

/// The methods the routes answer.
pub const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
/// The request headers a page may set: a token, a body type, and the id an
/// `EventSource` polyfill resumes from.
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type, Last-Event-ID";
/// How long a browser may remember a preflight's answer, in seconds.
pub const MAX_AGE: &str = "600";

/// Headers to add to any answer to a request from the allowed `origin`
/// (the `Origin` field as sent).
pub fn cors_headers(origin: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Access-Control-Allow-Origin", origin.to_owned()),
        ("Access-Control-Allow-Credentials", "true".into()),
        ("Vary", "Origin".into()),
    ]
}

/// Headers of the `204` answer to a preflight from the allowed `origin`.
pub fn preflight_headers(origin: &str) -> Vec<(&'static str, String)> {
    let mut headers = cors_headers(origin);
    headers.extend([
        ("Access-Control-Allow-Methods", ALLOW_METHODS.into()),
        ("Access-Control-Allow-Headers", ALLOW_HEADERS.into()),
        ("Access-Control-Max-Age", MAX_AGE.into()),
    ]);
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_answer_echoes_the_origin_with_credentials() {
        assert_eq!(
            cors_headers("http://127.0.0.1:9000"),
            vec![
                (
                    "Access-Control-Allow-Origin",
                    "http://127.0.0.1:9000".to_string()
                ),
                ("Access-Control-Allow-Credentials", "true".to_string()),
                ("Vary", "Origin".to_string()),
            ]
        );
    }

    #[test]
    fn preflight_names_methods_headers_and_max_age() {
        let headers = preflight_headers("https://app.example");
        let get = |name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("Access-Control-Allow-Origin"),
            Some("https://app.example")
        );
        assert_eq!(
            get("Access-Control-Allow-Methods"),
            Some("GET, POST, OPTIONS")
        );
        assert_eq!(
            get("Access-Control-Allow-Headers"),
            Some("Authorization, Content-Type, Last-Event-ID")
        );
        assert_eq!(get("Access-Control-Max-Age"), Some("600"));
        assert_eq!(get("Vary"), Some("Origin"));
    }
}
