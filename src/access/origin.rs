//! Which `Host` names are served, and which browser origins may use the server.
//!
//! # Host (DNS rebinding)
//!
//! A page on `http://attacker.example/` can make its own name resolve to
//! 127.0.0.1 once it has loaded; its scripts then reach a server on the
//! visitor's loopback as *same-origin* — but the browser still sends
//! `Host: attacker.example`. So the `Host` a request was sent to is checked
//! (RFC 9110 §7.4: a server answers `421 Misdirected Request` to a request
//! for an authority it does not serve):
//!
//! - the loopback names `127.0.0.1`, `localhost` and `[::1]`, with or without
//!   a port, are always served: a browser only sends them to pages that are
//!   on loopback themselves;
//! - with `--allow-host`, the names listed too (an entry with a port
//!   matches that port only; without, any port);
//! - without it, every name when listening beyond loopback (a server on
//!   `0.0.0.0` is reached by names we cannot guess), and only the loopback
//!   names when listening on loopback — which closes the rebinding door on
//!   a developer's machine.
//!
//! A request without `Host` (HTTP/1.0) is served: no browser sends one.
//!
//! # Origin (cross-site WebSocket hijacking, cross-site POST)
//!
//! A browser names the page that made a request in `Origin` (RFC 6454 §7) —
//! on every WebSocket handshake (RFC 6455 §10.2), every `POST`, every CORS
//! request — and a page cannot forge it. A request is *same-origin* when its
//! `Origin` is `http://` plus the `Host` it was sent to (default port 80
//! filled in on both sides) — or `https://` plus it (default 443): behind a
//! TLS proxy that passes `Host` on, the page's own origin is `https`, and
//! no one else can serve that host and port. Any other origin must be listed in
//! `--allow-origin` (or the list be `*`). `Origin: null` — sandboxed frames,
//! `file:` pages, some redirects — is one opaque value shared by every such
//! page, so it is allowed only by `*`. Requests without `Origin` (curl,
//! servers, load tools) are not browser requests from another page, and
//! pass.

use std::fmt;

/// A serialised origin (RFC 6454 §6.2): scheme, host, port — the port
/// always filled in, so `http://a` and `http://a:80` compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port]`, any case, one trailing `/` tolerated
    /// (people paste URLs). Only `http` and `https`; no path, no user info.
    pub fn parse(text: &str) -> Option<Origin> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '@', '?', '#']) {
            return None;
        }
        let (host, port) = split_host_port(authority)?;
        Some(Origin {
            scheme,
            host,
            port: port.unwrap_or(default_port),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Splits `host[:port]` (`[v6]:port` for IPv6), lower-casing the host.
/// `None` when the port is not a number or the host is empty.
pub fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        let (host, rest) = authority.split_at(end);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

/// Which cross origins `--allow-origin` lets in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// No other origin (the default): same-origin pages only.
    #[default]
    OwnOnly,
    /// These too.
    List(Vec<Origin>),
    /// `*`: any page at all — then the token alone decides.
    Any,
}

impl AllowedOrigins {
    /// Parses the flag's value: `*`, or origins separated by commas.
    pub fn parse(value: &str) -> Result<AllowedOrigins, String> {
        if value.trim() == "*" {
            return Ok(AllowedOrigins::Any);
        }
        let mut origins = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "null" {
                return Err("--allow-origin: `null` is every sandboxed page at once; \
                            use `*` if that is really meant"
                    .into());
            }
            let origin = Origin::parse(item).ok_or_else(|| {
                format!("--allow-origin: `{item}` is not an origin like https://app.example:8443")
            })?;
            origins.push(origin);
        }
        match origins.is_empty() {
            true => Err("--allow-origin needs at least one origin, or `*`".into()),
            false => Ok(AllowedOrigins::List(origins)),
        }
    }
}

/// What the `Origin` of a request means for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginVerdict {
    /// No `Origin`: not a browser request from another page.
    Absent,
    /// The server's own origin.
    SameOrigin,
    /// Another origin, allowed: answer with CORS headers for it (as sent).
    Allowed(String),
    /// Another origin, not allowed (as sent, for the refusal).
    Refused(String),
}

/// Judges `origin` (the `Origin` field) against the `host` the request was
/// sent to and the allowed list.
pub fn judge_origin(
    origin: Option<&[u8]>,
    host: Option<&[u8]>,
    allowed: &AllowedOrigins,
) -> OriginVerdict {
    let Some(origin) = origin else {
        return OriginVerdict::Absent;
    };
    let text = String::from_utf8_lossy(origin).into_owned();
    let parsed = Origin::parse(&text);
    let host = host.and_then(|h| std::str::from_utf8(h).ok());
    let own = |scheme: &str| host.and_then(|h| Origin::parse(&format!("{scheme}://{h}")));
    if parsed.is_some() && (parsed == own("http") || parsed == own("https")) {
        return OriginVerdict::SameOrigin;
    }
    let allowed = match (allowed, &parsed) {
        (AllowedOrigins::Any, _) => true,
        (AllowedOrigins::List(list), Some(origin)) => list.contains(origin),
        _ => false,
    };
    match allowed {
        true => OriginVerdict::Allowed(text),
        false => OriginVerdict::Refused(text),
    }
}

/// One `--allow-host` entry: a name, with or without a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostName {
    pub host: String,
    pub port: Option<u16>,
}

/// Parses `--allow-host HOST[:PORT][,…]`.
pub fn parse_hosts(value: &str) -> Result<Vec<HostName>, String> {
    let hosts = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            split_host_port(item)
                .map(|(host, port)| HostName { host, port })
                .ok_or_else(|| format!("--allow-host: `{item}` is not a host[:port]"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match hosts.is_empty() {
        true => Err("--allow-host needs at least one host".into()),
        false => Ok(hosts),
    }
}

const LOOPBACK_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// True when a request sent to `host` (the `Host` field) is served.
pub fn host_allowed(
    host: Option<&[u8]>,
    allowed: Option<&[HostName]>,
    listening_on_loopback: bool,
) -> bool {
    let Some(host) = host else {
        return true;
    };
    let Some((name, port)) = std::str::from_utf8(host).ok().and_then(split_host_port) else {
        return false;
    };
    if LOOPBACK_NAMES.contains(&name.as_str()) {
        return true;
    }
    match allowed {
        Some(list) => list
            .iter()
            .any(|h| h.host == name && (h.port.is_none() || h.port == port)),
        None => !listening_on_loopback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_table() {
        let listed = parse_hosts("rtweb.example, other.example:8443").unwrap();
        // (Host, --allow-host given, listening on loopback, served)
        let cases: [(Option<&str>, bool, bool, bool); 16] = [
            (Some("127.0.0.1"), false, true, true),
            (Some("127.0.0.1:8080"), false, true, true),
            (Some("LOCALHOST:8080"), false, true, true),
            (Some("[::1]:8080"), false, true, true),
            (Some("[::1]"), false, true, true),
            (Some("attacker-rebound.example"), false, true, false),
            (Some("attacker-rebound.example:8080"), false, true, false),
            (Some("127.0.0.2"), false, true, false),
            (Some("attacker-rebound.example"), false, false, true),
            (Some("attacker-rebound.example"), true, false, false),
            (Some("rtweb.example:1234"), true, true, true),
            (Some("other.example:8443"), true, false, true),
            (Some("other.example:80"), true, false, false),
            (Some("localhost"), true, false, true),
            (Some("bad:port"), false, false, false),
            (None, false, true, true),
        ];
        for (host, flag, loopback, served) in cases {
            let allowed = flag.then_some(listed.as_slice());
            assert_eq!(
                host_allowed(host.map(str::as_bytes), allowed, loopback),
                served,
                "{host:?} flag={flag} loopback={loopback}"
            );
        }
    }

    #[test]
    fn origins_table() {
        use OriginVerdict::*;
        let list = AllowedOrigins::parse("https://app.example, http://localhost:3000/").unwrap();
        let host = Some("127.0.0.1:8080");
        let cases: [(Option<&str>, Option<&str>, &AllowedOrigins, OriginVerdict); 14] = [
            (None, host, &list, Absent),
            (Some("http://127.0.0.1:8080"), host, &list, SameOrigin),
            (Some("HTTP://127.0.0.1:8080"), host, &list, SameOrigin),
            (
                Some("http://example.com"),
                Some("example.com:80"),
                &list,
                SameOrigin,
            ),
            (Some("https://127.0.0.1:8080"), host, &list, SameOrigin),
            (
                Some("https://rtweb.example"),
                Some("rtweb.example"),
                &list,
                SameOrigin,
            ),
            (
                Some("http://rtweb.example"),
                Some("rtweb.example:443"),
                &list,
                Refused("http://rtweb.example".into()),
            ),
            (
                Some("http://127.0.0.1:9090"),
                host,
                &list,
                Refused("http://127.0.0.1:9090".into()),
            ),
            (
                Some("https://evil.example"),
                host,
                &list,
                Refused("https://evil.example".into()),
            ),
            (Some("null"), host, &list, Refused("null".into())),
            (
                Some("https://app.example"),
                host,
                &list,
                Allowed("https://app.example".into()),
            ),
            (
                Some("https://app.example:443"),
                host,
                &list,
                Allowed("https://app.example:443".into()),
            ),
            (
                Some("null"),
                host,
                &AllowedOrigins::Any,
                Allowed("null".into()),
            ),
            (
                Some("https://evil.example"),
                host,
                &AllowedOrigins::OwnOnly,
                Refused("https://evil.example".into()),
            ),
        ];
        for (origin, host, allowed, expected) in cases {
            let got = judge_origin(origin.map(str::as_bytes), host.map(str::as_bytes), allowed);
            assert_eq!(got, expected, "{origin:?} to {host:?}");
        }
        assert_eq!(
            judge_origin(
                Some(b"http://localhost:3000"),
                host.map(str::as_bytes),
                &list
            ),
            Allowed("http://localhost:3000".into())
        );
    }

    #[test]
    fn flag_values_are_checked() {
        assert_eq!(AllowedOrigins::parse("*"), Ok(AllowedOrigins::Any));
        assert!(AllowedOrigins::parse("null")
            .unwrap_err()
            .contains("sandboxed"));
        assert!(AllowedOrigins::parse("app.example").is_err());
        assert!(AllowedOrigins::parse("https://app.example/path").is_err());
        assert!(AllowedOrigins::parse("ftp://app.example").is_err());
        assert!(AllowedOrigins::parse(",").is_err());
        assert!(parse_hosts("a:b").is_err());
        assert_eq!(
            parse_hosts("[::1]:80").unwrap(),
            vec![HostName {
                host: "[::1]".into(),
                port: Some(80)
            }]
        );
        assert_eq!(
            Origin::parse("https://A.example").unwrap().to_string(),
            "https://a.example:443"
        );
    }
}
