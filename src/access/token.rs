//! JSON Web Tokens (RFC 7519) signed with HS256 (RFC 7515, RFC 7518 §3.2):
//! a token in, the channels it may publish and subscribe to out.
//!
//! # What a token looks like
//!
//! ```text
//! eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9            base64url({"alg":"HS256","typ":"JWT"})
//! .eyJydHdlYiI6eyJwdWJsaXNoIjpbImNoYXQuKiJdfX0    base64url(claims)
//! .<43 characters>                               base64url(HMAC-SHA256(secret, first two parts))
//! ```
//!
//! with the claims
//!
//! ```json
//! {"rtweb": {"publish": ["chat.*"], "subscribe": ["*"]}, "exp": 1800000000}
//! ```
//!
//! # The rules, in the order they are checked
//!
//! 1. Three base64url parts, a JSON header (RFC 7515 §5.2) — else `Malformed`.
//! 2. `alg` is `HS256` and nothing else (RFC 8725 §3.1: the verifier, not
//!    the token, chooses the algorithm). `none`, `HS512`, `RS256`… are
//!    refused before any signature is looked at — else `Algorithm`.
//! 3. The HMAC over the first two parts matches (compared in constant time
//!    by the `hmac` crate) — else `Signature`.
//! 4. No `crit` header: RFC 7515 §4.1.11 says a recipient that does not
//!    understand a listed extension MUST reject the token, and we understand none.
//! 5. The claims have the shape above — else `Claims`. A token with an
//!    `aud` claim is refused: RFC 7519 §4.1.3 says a recipient that does not
//!    identify itself with a value in `aud` MUST reject it, and rtweb has no
//!    audience name.
//! 6. Time (RFC 7519 §4.1.4, §4.1.5), with `now` in seconds since the Unix
//!    epoch passed in — this module reads no clock:
//!    - `exp`: refused from the second `now >= exp`, with **no leeway**. A
//!      stream ends at `exp` exactly, so verification and the end of a stream
//!      agree; an issuer whose clock is behind only makes tokens shorter-lived.
//!    - `nbf`: refused while `now + 30 < nbf` ([`NBF_LEEWAY`]): an issuer
//!      whose clock runs up to 30 s ahead of ours (it sets `nbf` to its
//!      "now") must not see its fresh tokens refused.
//!    - A token without `exp` never expires. Mint tokens with one.
//!
//! # Channel patterns
//!
//! `*` is a trailing wildcard only: `chat.*` matches `chat.x` and `chat.`
//! but not `chatx` or `chat`; `*` alone matches every channel. A pattern
//! with a `*` anywhere else (`*.chat`, `a*b`) makes the whole token invalid
//! (`Claims`), rather than matching nothing in silence: channel names
//! cannot contain `*`, so such a pattern is a mistake in the minting code,
//! and saying so at once is kinder than a `403` later.
//!
//! The signature arithmetic is the `jsonwebtoken` crate's (with its
//! pure-Rust RustCrypto backend); the choices above are ours.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// How far in the future `nbf` may be and the token still be accepted, in
/// seconds: the clock skew we tolerate between the token's issuer and us.
pub const NBF_LEEWAY: u64 = 30;

/// The shortest secret accepted, in bytes. RFC 7518 §3.2: "A key of the
/// same size as the hash output (for instance, 256 bits for "HS256") or
/// larger MUST be used with this algorithm."
pub const MIN_SECRET_LEN: usize = 32;

/// The HS256 key shared with the application that mints tokens. Its bytes
/// are used as they are (not base64-decoded). `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Secret {
    /// A secret of at least [`MIN_SECRET_LEN`] bytes; trailing newlines
    /// (`\n`, `\r\n`, as `echo` and editors leave them) are not part of it.
    /// `source` names where the bytes came from, for the error.
    pub fn new(mut bytes: Vec<u8>, source: &str) -> Result<Secret, String> {
        while bytes.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            bytes.pop();
        }
        if bytes.len() < MIN_SECRET_LEN {
            return Err(format!(
                "{source}: the secret is {} bytes; HS256 needs at least {MIN_SECRET_LEN} \
                 (RFC 7518 §3.2). Make one with: head -c 32 /dev/urandom | base64 > secret",
                bytes.len()
            ));
        }
        Ok(Secret(bytes))
    }

    /// Reads `--jwt-secret-file PATH`.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        let source = format!("--jwt-secret-file {}", path.display());
        let bytes = std::fs::read(path).map_err(|e| format!("{source}: {e}"))?;
        Secret::new(bytes, &source)
    }

    /// The secret from `RTWEB_JWT_SECRET`'s value, if it is set.
    pub fn from_env(value: Option<String>) -> Result<Option<Secret>, String> {
        value
            .map(|v| Secret::new(v.into_bytes(), "RTWEB_JWT_SECRET"))
            .transpose()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    Publish,
    Subscribe,
}

impl Right {
    pub fn as_str(self) -> &'static str {
        match self {
            Right::Publish => "publish",
            Right::Subscribe => "subscribe",
        }
    }
}

/// One channel pattern from a token's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// No `*`: this channel only.
    Exact(String),
    /// Ended in `*`: every channel starting with this (`""` for `*`).
    Prefix(String),
}

impl Pattern {
    /// Parses a claim entry; `*` before the end is an error (see the module docs).
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let (stem, wildcard) = match text.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (text, false),
        };
        if stem.contains('*') {
            return Err(format!(
                "pattern `{text}` has a `*` before its end; only a trailing `*` is a wildcard"
            ));
        }
        Ok(if wildcard {
            Pattern::Prefix(stem.to_owned())
        } else {
            Pattern::Exact(stem.to_owned())
        })
    }

    pub fn matches(&self, channel: &str) -> bool {
        match self {
            Pattern::Exact(name) => channel == name,
            Pattern::Prefix(stem) => channel.starts_with(stem.as_str()),
        }
    }
}

/// What a verified token grants, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub publish: Vec<Pattern>,
    pub subscribe: Vec<Pattern>,
    /// `exp`, seconds since the Unix epoch: from this second on the token is
    /// refused, and a stream resting on it ends. `None`: no `exp` claim.
    pub expires: Option<u64>,
}

impl Grant {
    /// True when a pattern for `right` matches `channel`.
    pub fn allows(&self, right: Right, channel: &str) -> bool {
        let patterns = match right {
            Right::Publish => &self.publish,
            Right::Subscribe => &self.subscribe,
        };
        patterns.iter().any(|p| p.matches(channel))
    }

    /// True once `now` has reached `exp` (RFC 7519 §4.1.4, no leeway).
    pub fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|exp| now >= exp)
    }
}

/// Why a token was not accepted. Every variant answers `401` with
/// `error="invalid_token"` (RFC 6750 §3.1); [`TokenError::reason`] is the
/// plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts, or a header that is not the JSON of a JWS header.
    Malformed(String),
    /// A well-formed header naming an algorithm other than HS256.
    Algorithm(String),
    /// The HMAC does not match: another secret, or altered bytes.
    Signature,
    /// A `crit` header parameter (RFC 7515 §4.1.11).
    Critical,
    /// Signed, but the claims are not `{"rtweb":{"publish":[…],"subscribe":[…]},…}`.
    Claims(String),
    /// `now >= exp`.
    Expired { exp: u64 },
    /// `now + NBF_LEEWAY < nbf`.
    NotYetValid { nbf: u64 },
}

impl TokenError {
    pub fn reason(&self) -> String {
        match self {
            TokenError::Malformed(why) => format!("malformed token: {why}"),
            TokenError::Algorithm(alg) => {
                format!("token algorithm {alg} refused: only HS256 is accepted")
            }
            TokenError::Signature => "token signature does not match".into(),
            TokenError::Critical => {
                "token has a crit header this server does not understand".into()
            }
            TokenError::Claims(why) => format!("token claims: {why}"),
            TokenError::Expired { exp } => format!("token expired (exp {exp})"),
            TokenError::NotYetValid { nbf } => format!("token not valid yet (nbf {nbf})"),
        }
    }
}

/// The claims we read; any others are ignored.
#[derive(Deserialize)]
struct Claims {
    rtweb: RightsClaim,
    exp: Option<f64>,
    nbf: Option<f64>,
}

#[derive(Deserialize)]
struct RightsClaim {
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    subscribe: Vec<String>,
}

/// Checks tokens against one secret.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier(HS256)")
    }
}

impl Verifier {
    pub fn new(secret: &Secret) -> Verifier {
        let mut validation = Validation::new(Algorithm::HS256);
        // Time is ours to check, against the `now` we are given (the
        // crate would read the system clock); `exp` is optional.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        Verifier {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Verifies `token` at `now` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now: u64) -> Result<Grant, TokenError> {
        // Rule 2 before anything else: the algorithm is ours to choose.
        let alg = header_alg(token)?;
        if alg != "HS256" {
            return Err(TokenError::Algorithm(alg));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| classify(e.into_kind(), token))?;
        if data.header.crit.is_some() {
            return Err(TokenError::Critical);
        }
        let claims = data.claims;
        let expires = numeric_date(claims.exp, "exp")?;
        let not_before = numeric_date(claims.nbf, "nbf")?;
        let patterns = |list: Vec<String>| {
            list.iter()
                .map(|p| Pattern::parse(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(TokenError::Claims)
        };
        let grant = Grant {
            publish: patterns(claims.rtweb.publish)?,
            subscribe: patterns(claims.rtweb.subscribe)?,
            expires,
        };
        if let Some(exp) = expires.filter(|_| grant.expired(now)) {
            return Err(TokenError::Expired { exp });
        }
        if let Some(nbf) = not_before.filter(|&nbf| now.saturating_add(NBF_LEEWAY) < nbf) {
            return Err(TokenError::NotYetValid { nbf });
        }
        Ok(grant)
    }
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch, possibly with a
/// fraction, which is dropped.
fn numeric_date(value: Option<f64>, name: &str) -> Result<Option<u64>, TokenError> {
    match value {
        None => Ok(None),
        Some(v) if v >= 0.0 && v < u64::MAX as f64 => Ok(Some(v as u64)),
        Some(v) => Err(TokenError::Claims(format!("{name} {v} is not a date"))),
    }
}

/// The `alg` of a token's header (RFC 7515 §4.1.1), read before the crate
/// sees the token so that `none` is named as what it is.
fn header_alg(token: &str) -> Result<String, TokenError> {
    #[derive(Deserialize)]
    struct Header {
        alg: String,
    }
    let encoded = token.split('.').next().unwrap_or_default();
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| TokenError::Malformed(format!("header base64url: {e}")))?;
    let header: Header =
        serde_json::from_slice(&json).map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    Ok(header.alg)
}

/// Sorts the crate's errors into ours. The order of its checks (header,
/// algorithm, signature, then claims) tells which part was wrong.
fn classify(kind: ErrorKind, token: &str) -> TokenError {
    match kind {
        ErrorKind::InvalidAlgorithm => TokenError::Algorithm("?".into()),
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::InvalidAudience => {
            TokenError::Claims("an aud claim, and this server has no audience name".into())
        }
        // A JSON error after a good signature is the claims' shape; before
        // it, the header's. The crate decodes the header first, so a token
        // whose signature verified has a good header.
        ErrorKind::Json(e) if signature_checked(token) => TokenError::Claims(e.to_string()),
        ErrorKind::Json(e) => TokenError::Malformed(format!("header: {e}")),
        ErrorKind::Base64(e) => TokenError::Malformed(format!("base64url: {e}")),
        ErrorKind::Utf8(e) => TokenError::Malformed(e.to_string()),
        ErrorKind::InvalidToken => TokenError::Malformed("not three dot-separated parts".into()),
        other => TokenError::Malformed(format!("{other:?}")),
    }
}

/// True when the header of `token` decodes: then a JSON error came from the claims.
fn signature_checked(token: &str) -> bool {
    jsonwebtoken::decode_header(token).is_ok()
}

#[cfg(test)]
#[path = "token_tests.rs"]
pub(crate) mod tests;
