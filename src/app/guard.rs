//! The app's one door to the access policy ([`crate::access`]): every
//! request is admitted here (`Host`, `Origin`, CORS), every publish and
//! subscription authorized here, and every refusal counted and turned into
//! its answer here — so the four techniques share one check rather than
//! each writing its own.
//!
//! What the policy decides is pure (a head and `now` in, a verdict out);
//! this module adds the clock and the counters. A stream keeps the
//! [`Access`] it was allowed with and ends at [`Access::expires`]; a
//! WebSocket keeps its handshake's [`Credentials`] and asks
//! [`may_publish`] for every frame it publishes.

use std::time::{Duration, Instant};

use super::App;
use crate::access::{Access, Credentials, Headers, Refusal, Right};
use crate::http::{RequestHead, Response};

/// The `Host` and `Origin` rules for any request: the CORS headers its
/// answer carries, or the refusal to send instead.
pub fn admit(head: &RequestHead, app: &App) -> Result<Headers, Response> {
    app.shared.policy.admit(head).map_err(|r| refuse(r, app))
}

/// The answer to `OPTIONS`: a CORS preflight, or what the resource allows.
pub fn preflight(head: &RequestHead, app: &App) -> Response {
    app.shared
        .policy
        .preflight(head)
        .unwrap_or_else(|r| refuse(r, app))
}

/// The token the request carries, verified now.
pub fn credentials(head: &RequestHead, app: &App) -> Credentials {
    app.shared.policy.credentials(head, unix_seconds(app))
}

/// May `credentials` exercise `right` on `channel` now?
pub fn authorize(
    credentials: &Credentials,
    right: Right,
    channel: &str,
    app: &App,
) -> Result<Access, Response> {
    app.shared
        .policy
        .authorize(credentials, right, channel, unix_seconds(app))
        .map_err(|r| refuse(r, app))
}

/// A WebSocket frame's publish, checked with its handshake's credentials
/// (a token that expired since is refused now). `Err`: the reason for the
/// close frame (RFC 6455 §7.4.1: 1008, policy violation).
pub fn may_publish(credentials: &Credentials, channel: &str, app: &App) -> Result<(), String> {
    app.shared
        .policy
        .authorize(credentials, Right::Publish, channel, unix_seconds(app))
        .map(|_| ())
        .map_err(|refusal| {
            app.stats().count(refusal.counter());
            refusal.reason()
        })
}

/// Why the server ends a stream at its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `--sse-max-duration` / `--ws-max-duration`: the client resumes by id.
    MaxDuration,
    /// The token it was allowed with expired: it needs a new one.
    TokenExpired,
}

/// When a stream allowed by `access` ends, and why: at `max_duration` from
/// now or at its token's expiry, whichever comes first (`None`: never).
pub fn stream_end(
    access: &Access,
    max_duration: Option<Duration>,
    app: &App,
) -> Option<(Instant, Ending)> {
    let by_duration = max_duration.map(|d| (app.now + d, Ending::MaxDuration));
    // Capped, as every deadline is: a token valid for centuries must not
    // overflow an Instant.
    let by_token = access
        .remaining(unix_seconds(app))
        .map(|left| (app.now + left.min(TEN_YEARS), Ending::TokenExpired));
    match (by_duration, by_token) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn refuse(refusal: Refusal, app: &App) -> Response {
    app.stats().count(refusal.counter());
    refusal.response()
}

fn unix_seconds(app: &App) -> u64 {
    app.unix_millis() / 1000
}
