//! The policy: from the configuration and a request, who may do what — and
//! when not, the answer that says why.
//!
//! Every request passes [`Policy::admit`] first (the `Host` rule, then the
//! `Origin` rule); a request that publishes or subscribes then passes
//! [`Policy::authorize`] with the [`Credentials`] it carries. Without a
//! secret configured, `authorize` always allows: the open demo.

use std::net::SocketAddr;
use std::time::Duration;

use super::cors::{cors_headers, preflight_headers, ALLOW_METHODS};
use super::origin::{host_allowed, judge_origin, AllowedOrigins, HostName, OriginVerdict};
use super::source::find_token;
use super::token::{Grant, Right, TokenError, Verifier};
use crate::config::Config;
use crate::http::{RequestHead, Response, Status};
use crate::stats::Count;

/// Response headers to add to an answer (CORS).
pub type Headers = Vec<(&'static str, String)>;

/// The access rules of one server, built once from its [`Config`].
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `None`: no secret, everything open.
    verifier: Option<Verifier>,
    subscribe_needs_token: bool,
    origins: AllowedOrigins,
    hosts: Option<Vec<HostName>>,
    listening_on_loopback: bool,
}

/// The token a request or connection presented, verified once — at the
/// request, or at a WebSocket's handshake for all of its frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No secret is configured: nothing is looked at.
    Open,
    /// A secret is configured and the request carries no token.
    Missing,
    Invalid(TokenError),
    Valid(Grant),
}

/// What an allowed request may rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// When the right ends (seconds since the Unix epoch): a stream started
    /// with it ends then (SSE `event: expired`, WebSocket close 1008).
    /// `None`: it rests on no token, or on one without `exp`.
    pub expires: Option<u64>,
}

impl Access {
    /// Time left at `now`; `Some(ZERO)` once expired, `None` if it never ends.
    pub fn remaining(&self, now: u64) -> Option<Duration> {
        self.expires
            .map(|exp| Duration::from_secs(exp.saturating_sub(now)))
    }
}

/// Why a request is refused; each carries what its answer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A token is needed and none was sent → `401`.
    NoToken { right: Right, channel: String },
    /// The token sent is not valid → `401`, `error="invalid_token"`.
    BadToken(TokenError),
    /// A valid token without the right → `403`, `error="insufficient_scope"`.
    ForbiddenChannel { right: Right, channel: String },
    /// A browser page from an origin not allowed → `403`.
    Origin(String),
    /// A `Host` this server does not serve → `421`.
    Host(String),
}

impl Refusal {
    pub fn status(&self) -> Status {
        match self {
            Refusal::NoToken { .. } | Refusal::BadToken(_) => Status::UNAUTHORIZED,
            Refusal::ForbiddenChannel { .. } | Refusal::Origin(_) => Status::FORBIDDEN,
            Refusal::Host(_) => Status::MISDIRECTED_REQUEST,
        }
    }

    /// The plain-text body; also the reason of a WebSocket close 1008.
    pub fn reason(&self) -> String {
        match self {
            Refusal::NoToken { right, channel } => format!(
                "{} {channel} needs a token (Authorization: Bearer, cookie rtweb_token, \
                 or ?access_token=)",
                right.verb()
            ),
            Refusal::BadToken(error) => error.reason(),
            Refusal::ForbiddenChannel { right, channel } => {
                format!("this token may not {} to {channel}", right.as_str())
            }
            Refusal::Origin(origin) => {
                format!("origin {origin} is not allowed here (see --allow-origin)")
            }
            Refusal::Host(host) => format!("host {host} is not served here (see --allow-host)"),
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3): a bare one when no
    /// token was sent (§3.1: no error code then), else with the error code.
    pub fn challenge(&self) -> Option<String> {
        let realm = "Bearer realm=\"rtweb\"";
        match self {
            Refusal::NoToken { .. } => Some(realm.into()),
            Refusal::BadToken(error) => Some(format!(
                "{realm}, error=\"invalid_token\", error_description=\"{}\"",
                quotable(&error.reason())
            )),
            Refusal::ForbiddenChannel { .. } => {
                Some(format!("{realm}, error=\"insufficient_scope\""))
            }
            Refusal::Origin(_) | Refusal::Host(_) => None,
        }
    }

    /// The complete answer.
    pub fn response(&self) -> Response {
        let response = Response::text(self.status(), self.reason());
        match self.challenge() {
            Some(challenge) => response.header("WWW-Authenticate", challenge),
            None => response,
        }
    }

    /// The `/metrics` counter this refusal adds to
    /// (`rtweb_refusals_total{reason=…}`).
    pub fn counter(&self) -> Count {
        match self {
            Refusal::NoToken { .. } => Count::RefusedNoToken,
            Refusal::BadToken(_) => Count::RefusedBadToken,
            Refusal::ForbiddenChannel { .. } => Count::RefusedForbiddenChannel,
            Refusal::Origin(_) => Count::RefusedOrigin,
            Refusal::Host(_) => Count::RefusedHost,
        }
    }
}

impl Right {
    fn verb(self) -> &'static str {
        match self {
            Right::Publish => "publishing to",
            Right::Subscribe => "subscribing to",
        }
    }
}

/// RFC 6750 §3: `error_description` values are printable ASCII without `"`
/// or `\`; anything else becomes `?`.
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}

impl Policy {
    pub fn new(config: &Config) -> Policy {
        Policy {
            verifier: config.jwt_secret.as_ref().map(Verifier::new),
            subscribe_needs_token: config.subscribe_needs_token,
            origins: config.allow_origin.clone(),
            hosts: config.allow_host.clone(),
            listening_on_loopback: config.addr.ip().is_loopback(),
        }
    }

    /// True when `right` needs a token under this policy.
    pub fn needs_token(&self, right: Right) -> bool {
        self.verifier.is_some() && (right == Right::Publish || self.subscribe_needs_token)
    }

    /// The `Host` rule, then the `Origin` rule, for any request. `Ok` holds
    /// the CORS headers to add to its answer (none when same-origin or
    /// without `Origin`).
    pub fn admit(&self, head: &RequestHead) -> Result<Headers, Refusal> {
        let host = head.header("host");
        if !host_allowed(host, self.hosts.as_deref(), self.listening_on_loopback) {
            let host = String::from_utf8_lossy(host.unwrap_or_default());
            return Err(Refusal::Host(host.into_owned()));
        }
        match judge_origin(head.header("origin"), host, &self.origins) {
            OriginVerdict::Absent | OriginVerdict::SameOrigin => Ok(Vec::new()),
            OriginVerdict::Allowed(origin) => Ok(cors_headers(&origin)),
            OriginVerdict::Refused(origin) => Err(Refusal::Origin(origin)),
        }
    }

    /// The answer to `OPTIONS` (a CORS preflight when it has an allowed
    /// `Origin`): `204` with the preflight headers, or the refusal.
    pub fn preflight(&self, head: &RequestHead) -> Result<Response, Refusal> {
        let cors = self.admit(head)?;
        let mut headers = vec![("Allow", ALLOW_METHODS.to_owned())];
        if let Some((_, origin)) = cors.first() {
            headers.extend(preflight_headers(origin));
        }
        Ok(Response {
            status: Status::NO_CONTENT,
            headers,
            body: Vec::new(),
        })
    }

    /// Finds and verifies the request's token at `now` (seconds since the
    /// Unix epoch). Without a secret, looks at nothing.
    pub fn credentials(&self, head: &RequestHead, now: u64) -> Credentials {
        let Some(verifier) = &self.verifier else {
            return Credentials::Open;
        };
        match find_token(head) {
            None => Credentials::Missing,
            Some((_, token)) => match verifier.verify(&token, now) {
                Ok(grant) => Credentials::Valid(grant),
                Err(error) => Credentials::Invalid(error),
            },
        }
    }

    /// May `credentials` exercise `right` on `channel` at `now`? A WebSocket
    /// asks this for every frame it publishes, with the credentials of its
    /// handshake: a token that has expired since is refused then.
    pub fn authorize(
        &self,
        credentials: &Credentials,
        right: Right,
        channel: &str,
        now: u64,
    ) -> Result<Access, Refusal> {
        if !self.needs_token(right) {
            return Ok(Access { expires: None });
        }
        let grant = match credentials {
            Credentials::Open => return Ok(Access { expires: None }),
            Credentials::Missing => {
                return Err(Refusal::NoToken {
                    right,
                    channel: channel.into(),
                })
            }
            Credentials::Invalid(error) => return Err(Refusal::BadToken(error.clone())),
            Credentials::Valid(grant) => grant,
        };
        if let Some(exp) = grant.expires.filter(|_| grant.expired(now)) {
            return Err(Refusal::BadToken(TokenError::Expired { exp }));
        }
        if !grant.allows(right, channel) {
            return Err(Refusal::ForbiddenChannel {
                right,
                channel: channel.into(),
            });
        }
        Ok(Access {
            expires: grant.expires,
        })
    }
}

/// The line `main` prints at start-up when anyone who can reach the server
/// may publish: listening (on the bound address `listening`) beyond
/// loopback without a secret.
pub fn open_warning(config: &Config, listening: SocketAddr) -> Option<String> {
    (config.jwt_secret.is_none() && !listening.ip().is_loopback()).then(|| {
        format!(
            "rtweb: warning: listening on {listening} without --jwt-secret-file or \
             RTWEB_JWT_SECRET: anyone who can reach it may publish and subscribe"
        )
    })
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
