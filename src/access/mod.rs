//! Access control: who may publish and subscribe, from which pages, to
//! which host — decided from a request head and `now`, with no socket and
//! no clock, so every rule is a table test.
//!
//! # The questions, in the order a request meets them
//!
//! 1. **Is this host served?** (`Host`; DNS rebinding) → `421`.
//! 2. **Is the page allowed?** (`Origin`; cross-site WebSocket hijacking,
//!    cross-site `POST`) → `403`. Allowed cross origins get CORS headers.
//! 3. **Who is asking?** The token from `Authorization: Bearer`, the
//!    `rtweb_token` cookie, or `?access_token=` — a JWT, verified (HS256).
//!    None where one is needed, or a bad one → `401` with
//!    `WWW-Authenticate: Bearer`.
//! 4. **May they?** The token's `rtweb.publish` / `rtweb.subscribe`
//!    patterns against the channel → `403`. A stream allowed by a token ends
//!    when the token does ([`Access::expires`]).
//!
//! Without a secret (`--jwt-secret-file` or `RTWEB_JWT_SECRET`), questions
//! 3 and 4 are not asked: the open demo. Questions 1 and 2 always are.
//!
//! | file        | what it knows                                            |
//! |-------------|----------------------------------------------------------|
//! | [`token`]   | JWT verification, claim patterns, the secret             |
//! | [`source`]  | where a token travels, and which place wins              |
//! | [`origin`]  | the `Host` and `Origin` rules                            |
//! | [`cors`]    | the CORS response and preflight headers                  |
//! | [`policy`]  | the configuration applied: decisions and their answers   |
//!
//! What this module does not do: send anything, or end streams. The routes
//! ask it, then answer with [`Refusal::response`] or go on; the session
//! keeps [`Credentials`] for a WebSocket's frames and arms a deadline at
//! [`Access::expires`]. `docs/security.md` tells the story with the bytes.

pub mod cors;
pub mod origin;
pub mod policy;
pub mod source;
pub mod token;

pub use origin::{AllowedOrigins, HostName};
pub use policy::{open_warning, Access, Credentials, Headers, Policy, Refusal};
pub use token::{Grant, Right, Secret, TokenError};
