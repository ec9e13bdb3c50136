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
//! | `/echo`                       | GET        | the WebSocket echo (Autobahn)  |
//!
//! Routing decides; it does not hold connections. Anything that outlives
//! the request (parking, streaming, upgrading) is returned as an [`Action`]
//! for the session to carry out.

use std::fmt::Write;
use std::time::Duration;

use super::websocket::Endpoint;
use super::Context;
use crate::http::{Method, RequestHead, Response, Status};
use crate::hub::{valid_channel_name, Replay};
use crate::stats::Stats;
use crate::ws::handshake;

/// The demo page, compiled into the binary.
const INDEX_HTML: &str = include_str!("../../static/index.html");

/// Long-poll timeouts: the default, and the most a client may ask for.
pub const LONGPOLL_DEFAULT: Duration = Duration::from_secs(30);
pub const LONGPOLL_MAX: Duration = Duration::from_secs(120);

/// What a request asks the session to do.
#[derive(Debug)]
pub enum Action {
    Respond(Response),
    /// Answer now if there is anything after `after`, else park until a
    /// publish or `timeout`.
    LongPoll {
        channel: String,
        after: u64,
        timeout: Duration,
    },
    /// Start an event stream, replaying after `after` (`None`: from now).
    EventStream {
        channel: String,
        after: Option<u64>,
    },
    /// Switch to WebSocket (the handshake was valid; `accept` is its answer).
    WebSocket {
        endpoint: Endpoint,
        accept: String,
    },
}

pub fn route(head: &RequestHead, body: &[u8], cx: &mut Context) -> Action {
    match route_checked(head, body, cx) {
        Ok(action) => action,
        Err(response) => Action::Respond(response),
    }
}

fn route_checked(head: &RequestHead, body: &[u8], cx: &mut Context) -> Result<Action, Response> {
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
    if path == "/stats" {
        readable()?;
        return Ok(Action::Respond(Response::json(cx.stats().to_json())));
    }
    if path == "/echo" {
        let accept = handshake::validate(head)?;
        return Ok(Action::WebSocket {
            endpoint: Endpoint::Echo,
            accept,
        });
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
    let channel = channel.to_owned();
    match operation {
        "" => {
            allow(head, &[Method::Post])?;
            publish(&channel, body, cx)
        }
        "poll" => {
            readable()?;
            let after = number(head, "after")?;
            let replay = cx.shared.hub().replay(&channel, after);
            Stats::add(&cx.stats().messages_delivered, replay.messages.len() as u64);
            Ok(Action::Respond(messages_response(&replay)))
        }
        "longpoll" => {
            readable()?;
            let after = number(head, "after")?;
            let timeout = match number(head, "timeout")? {
                Some(seconds) => Duration::from_secs(seconds).min(LONGPOLL_MAX),
                None => LONGPOLL_DEFAULT,
            };
            // Without `after`, wait for the next message from now on.
            let after = after.unwrap_or_else(|| cx.shared.hub().last_id(&channel));
            Ok(Action::LongPoll {
                channel,
                after,
                timeout,
            })
        }
        "ws" => {
            let accept = handshake::validate(head)?;
            let after = number(head, "after")?;
            let endpoint = Endpoint::Channel { channel, after };
            Ok(Action::WebSocket { endpoint, accept })
        }
        _ => {
            allow(head, &[Method::Get])?;
            // The WHATWG standard's reconnection sends Last-Event-ID; it wins
            // over the query, which only the first connection carries.
            let after = match head.header("last-event-id") {
                Some(value) => Some(
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or_else(|| {
                            Response::text(
                                Status::BAD_REQUEST,
                                "Last-Event-ID must be a message id",
                            )
                        })?,
                ),
                None => number(head, "after")?,
            };
            Ok(Action::EventStream { channel, after })
        }
    }
}

fn publish(channel: &str, body: &[u8], cx: &mut Context) -> Result<Action, Response> {
    // The body limit is enforced by the decoder (413); this is the same
    // limit for a body that arrived whole.
    if body.len() > cx.config().max_message {
        return Err(Response::text(
            Status::CONTENT_TOO_LARGE,
            "message too large",
        ));
    }
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| Response::text(Status::BAD_REQUEST, "a message must be UTF-8 text"))?;
    let id = cx.publish(channel, text);
    Ok(Action::Respond(Response::json(format!("{{\"id\":{id}}}"))))
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

/// Counts a served request.
pub fn count_request(cx: &Context) {
    Stats::add(&cx.stats().requests, 1);
}
