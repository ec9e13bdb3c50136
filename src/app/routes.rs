//! The HTTP interface: which request gets which answer.
//!
//! | route                         | methods    | answer                         |
//! |-------------------------------|------------|--------------------------------|
//! | `/`                           | GET, HEAD  | the demo page                  |
//! | `/stats`                      | GET, HEAD  | counters as JSON               |
//! | `/ch/{name}`                  | POST       | publish → `{"id":N}`           |
//! | `/ch/{name}/poll?after=N`     | GET, HEAD  | retained messages after N      |
//! | `/ch/{name}/longpoll?after=N&timeout=S` | GET, HEAD | the same, waiting for one |
//! | `/ch/{name}/sse?after=N`      | GET        | an event stream                |
//! | `/ch/{name}/ws?after=N`       | GET        | a WebSocket subscriber         |
//! | `/echo`                       | GET + upgrade | the WebSocket echo (Autobahn) |
//! | `/echo`                       | any        | `200` echoing the request body |
//! | `/favicon.ico`                | GET, HEAD  | `204`: the demo has no icon    |
//! | `/rtweb.js`                   | GET, HEAD  | the client library             |
//!
//! Routing decides; it does not hold connections. Anything that outlives
//! the request (parking, streaming, upgrading) is returned as an [`Action`]
//! for the session to carry out.

use std::fmt::Write;
use std::time::Duration;

use super::guard;
use super::subscription;
use super::websocket::Endpoint;
use super::App;
use crate::access::{Access, Right};
use crate::http::{HttpError, Method, RequestHead, Response, Status};
use crate::hub::{valid_channel_name, Replay};
use crate::stats::Stats;
use crate::store::StoreError;
use crate::ws::{handshake, DeflatePolicy};

/// The demo page, compiled into the binary.
const INDEX_HTML: &str = include_str!("../../static/index.html");
/// The client library (`docs/client.md`), served as an ES module.
const RTWEB_JS: &str = include_str!("../../static/rtweb.js");

/// Long-poll timeouts: the default, and the most a client may ask for.
pub const LONGPOLL_DEFAULT: Duration = Duration::from_secs(30);
pub const LONGPOLL_MAX: Duration = Duration::from_secs(120);

/// A stream asked for: replay `channel` after `after` (`None`: from now),
/// then follow it until `access` ends.
#[derive(Debug)]
pub struct StreamRequest {
    pub channel: String,
    pub after: Option<u64>,
    pub access: Access,
}

/// What a request asks the session to do.
#[derive(Debug)]
pub enum Action {
    Respond(Response),
    /// With `--redis`: the channel must be brought into the hub first (by
    /// the relay, off the loop); the request is served again once it is.
    Load {
        channel: String,
    },
    /// Answer now if there is anything after `after` (`None`: after the
    /// newest), else park until a publish or `timeout`.
    LongPoll {
        channel: String,
        after: Option<u64>,
        timeout: Duration,
    },
    /// Start an event stream.
    EventStream(StreamRequest),
    /// Publish `text`: answered once the store has committed it.
    Publish {
        channel: String,
        text: String,
    },
    /// Switch to WebSocket (the handshake was valid; `accept` is its answer).
    WebSocket {
        endpoint: Endpoint,
        accept: handshake::Accepted,
    },
}

/// Routes a request; `loads` is how many times its channel was loaded for
/// it already (`--redis`: it is being served again).
pub fn route(head: &RequestHead, body: Vec<u8>, loads: u8, app: &mut App) -> Action {
    match route_checked(head, body, loads, app) {
        Ok(action) => action,
        Err(response) => Action::Respond(response),
    }
}

/// The plain-text answer to a request the decoder refused.
pub fn error_response(error: HttpError) -> Response {
    Response::text(error.status, error.reason)
}

fn route_checked(
    head: &RequestHead,
    body: Vec<u8>,
    loads: u8,
    app: &mut App,
) -> Result<Action, Response> {
    let path = head.path();
    let readable = || allow(head, &[Method::Get, Method::Head]);
    if path == "/" {
        readable()?;
        return Ok(Action::Respond(Response::with_body(
            Status::OK,
            "text/html; charset=utf-8",
            INDEX_HTML,
        )));
    }
    if path == "/rtweb.js" {
        readable()?;
        return Ok(Action::Respond(Response::with_body(
            Status::OK,
            "text/javascript; charset=utf-8",
            RTWEB_JS,
        )));
    }
    if path == "/stats" {
        readable()?;
        return Ok(Action::Respond(Response::json(app.stats().to_json())));
    }
    if path == "/metrics" {
        readable()?;
        return Ok(Action::Respond(metrics(app)));
    }
    if path == "/favicon.ico" {
        // The demo has no icon; `204` keeps the browser's console clean.
        readable()?;
        return Ok(Action::Respond(Response {
            status: Status::NO_CONTENT,
            headers: Vec::new(),
            body: Vec::new(),
        }));
    }
    if path == "/echo" {
        return echo(head, body, app);
    }
    let Some(rest) = path.strip_prefix("/ch/") else {
        return Err(Response::text(Status::NOT_FOUND, "no such path"));
    };
    let (channel, operation) = rest.split_once('/').unwrap_or((rest, ""));
    let known = matches!(operation, "" | "poll" | "longpoll" | "sse" | "ws");
    if !known {
        return Err(Response::text(Status::NOT_FOUND, "no such path"));
    }
    if !valid_channel_name(channel) {
        return Err(Response::text(
            Status::BAD_REQUEST,
            "channel names are 1 to 64 of A-Z a-z 0-9 _ . -",
        ));
    }
    // Who may: a publish needs the publish right, everything else the
    // subscribe right (each only when the policy asks for a token).
    let right = match operation {
        "" => Right::Publish,
        _ => Right::Subscribe,
    };
    let credentials = guard::credentials(head, app);
    let access = guard::authorize(&credentials, right, channel, app)?;
    // Everything but a short poll may create the channel.
    if operation != "poll" {
        subscription::room_for(app, channel).map_err(|_| too_many_channels())?;
    }
    let channel = channel.to_owned();
    match operation {
        "" => {
            allow(head, &[Method::Post])?;
            publish(&channel, body, app)
        }
        "poll" => {
            readable()?;
            let after = number(head, "after")?;
            if subscription::must_load(app, &channel, loads) {
                return Ok(Action::Load { channel });
            }
            let replay =
                subscription::replay(app, &channel, after).map_err(|e| store_refusal(&e))?;
            Stats::add(
                &app.stats().messages_delivered,
                replay.messages.len() as u64,
            );
            Ok(Action::Respond(messages_response(&replay)))
        }
        "longpoll" => {
            readable()?;
            // Without `after`, wait for the next message from now on.
            let after = number(head, "after")?;
            let timeout = match number(head, "timeout")? {
                Some(seconds) => Duration::from_secs(seconds).min(LONGPOLL_MAX),
                None => LONGPOLL_DEFAULT,
            };
            if subscription::must_load(app, &channel, loads) {
                return Ok(Action::Load { channel });
            }
            Ok(Action::LongPoll {
                channel,
                after,
                timeout,
            })
        }
        "ws" => {
            // Broadcast compresses each message once for every subscriber:
            // only possible when none keeps a compression context.
            let policy = deflate_policy(app, DeflatePolicy::NoServerContextTakeover);
            let accept = handshake::validate(head, policy)?;
            let after = number(head, "after")?;
            if subscription::must_load(app, &channel, loads) {
                return Ok(Action::Load { channel });
            }
            let endpoint = Endpoint::Channel {
                channel,
                after,
                credentials,
                access,
            };
            Ok(Action::WebSocket { endpoint, accept })
        }
        _ => {
            allow(head, &[Method::Get])?;
            // The WHATWG standard's reconnection sends Last-Event-ID; it wins
            // over the query, which only the first connection carries.
            let after = match last_event_id(head) {
                Some(id) => Some(id),
                None => number(head, "after")?,
            };
            if subscription::must_load(app, &channel, loads) {
                return Ok(Action::Load { channel });
            }
            Ok(Action::EventStream(StreamRequest {
                channel,
                after,
                access,
            }))
        }
    }
}

/// permessage-deflate as `--ws-deflate` allows.
fn deflate_policy(app: &App, wanted: DeflatePolicy) -> DeflatePolicy {
    if app.config().ws_deflate {
        wanted
    } else {
        DeflatePolicy::Off
    }
}

/// The resume point an EventSource sends on reconnection. Empty means none
/// (the standard sends it empty when the last event set no id). Anything
/// else that is not an id cannot be one this server gave out: it is answered
/// as a gap — a `400` would end the EventSource for good, since the
/// standard fails the connection on any status but `200`.
fn last_event_id(head: &RequestHead) -> Option<u64> {
    let value = std::str::from_utf8(head.header("last-event-id")?).unwrap_or("?");
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some(value.parse().unwrap_or(u64::MAX))
}

/// `/echo`: a WebSocket handshake (what Autobahn tests), or, without an
/// upgrade, any method answered `200` with the request body — an echoing
/// origin for HTTP conformance suites.
fn echo(head: &RequestHead, body: Vec<u8>, app: &App) -> Result<Action, Response> {
    let upgrading = head.header("upgrade").is_some()
        || head.header("sec-websocket-key").is_some()
        || head.header_has_token("connection", "upgrade");
    if upgrading {
        // One connection, one compressor: it may keep its context.
        let accept =
            handshake::validate(head, deflate_policy(app, DeflatePolicy::ContextTakeover))?;
        return Ok(Action::WebSocket {
            endpoint: Endpoint::Echo,
            accept,
        });
    }
    let content_type = head
        .header("content-type")
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    Ok(Action::Respond(Response {
        status: Status::OK,
        headers: vec![("Content-Type", content_type)],
        body,
    }))
}

fn publish(channel: &str, body: Vec<u8>, app: &App) -> Result<Action, Response> {
    // The body limit is enforced by the decoder (413); this is the same
    // limit for a body that arrived whole.
    if body.len() > app.config().max_message {
        return Err(Response::text(
            Status::CONTENT_TOO_LARGE,
            "message too large",
        ));
    }
    let text = String::from_utf8(body)
        .map_err(|_| Response::text(Status::BAD_REQUEST, "a message must be UTF-8 text"))?;
    Ok(Action::Publish {
        channel: channel.to_owned(),
        text,
    })
}

/// The answer to a publish, once the store has had its say.
pub fn published_response(outcome: &Result<u64, StoreError>) -> Response {
    match outcome {
        Ok(id) => Response::json(format!("{{\"id\":{id}}}")),
        Err(error) => store_refusal(error),
    }
}

/// A store that cannot take or give a message: `507` when it is full (it
/// works again once space is freed), `503` for anything else.
pub fn store_refusal(error: &StoreError) -> Response {
    match error {
        StoreError::Full(why) => Response::text(
            Status::INSUFFICIENT_STORAGE,
            format!("the message could not be stored: {why}"),
        ),
        StoreError::Failed(why) => Response::text(
            Status::SERVICE_UNAVAILABLE,
            format!("the message store is unavailable: {why}"),
        ),
    }
}

/// `507`: a new channel beyond `--max-channels`.
fn too_many_channels() -> Response {
    Response::text(
        Status::INSUFFICIENT_STORAGE,
        "too many channels: the server's --max-channels is reached",
    )
}

/// `405` with `Allow` unless the method is one of `methods`.
fn allow(head: &RequestHead, methods: &[Method]) -> Result<(), Response> {
    if methods.contains(&head.method) {
        return Ok(());
    }
    let names: Vec<&str> = methods
        .iter()
        .map(|m| match m {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Options => "OPTIONS",
            Method::Other => "",
        })
        .collect();
    Err(
        Response::text(Status::METHOD_NOT_ALLOWED, "method not allowed")
            .header("Allow", names.join(", ")),
    )
}

/// A numeric query parameter: absent is `None`, malformed is `400`.
fn number(head: &RequestHead, key: &str) -> Result<Option<u64>, Response> {
    match head.query(key) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            Response::text(
                Status::BAD_REQUEST,
                format!("`{key}` must be a whole number"),
            )
        }),
    }
}

/// `{"messages":[…],"last_id":M,"gap":false}` — the poll and long-poll answer.
pub fn messages_response(replay: &Replay) -> Response {
    let size: usize = replay.messages.iter().map(|m| m.json.len() + 1).sum();
    let mut json = String::with_capacity(size + 48);
    json.push_str("{\"messages\":[");
    for (i, message) in replay.messages.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&message.json);
    }
    let _ = write!(
        json,
        "],\"last_id\":{},\"gap\":{}}}",
        replay.last_id, replay.gap
    );
    Response::json(json)
}

/// `GET /metrics`: the counters in the Prometheus text format 0.0.4.
fn metrics(app: &App) -> Response {
    let channels = app.shared.hub().channel_count() as u64;
    let redis_up = app.stats().redis.get().map(|health| {
        (
            "rtweb_redis_up",
            "1 while this node reaches Redis (--redis), else 0.",
            u64::from(health.is_up()),
        )
    });
    let gauges: Vec<_> = [
        (
            "rtweb_buffered_bytes",
            "Bytes held in request bodies and unfinished WebSocket messages (--max-buffered).",
            app.shared.buffered.used() as u64,
        ),
        (
            "rtweb_channels",
            "Channels that exist (--max-channels).",
            channels,
        ),
    ]
    .into_iter()
    .chain(redis_up)
    .collect();
    Response::with_body(
        Status::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        app.stats().to_prometheus(&gauges),
    )
    .header("Cache-Control", "no-store")
}

/// Counts a served request.
pub fn count_request(app: &App) {
    Stats::add(&app.stats().requests, 1);
}
