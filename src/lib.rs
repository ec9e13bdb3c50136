//! # rtweb — a real-time web server, from scratch
//!
//! This page is the map. rtweb is built in layers, each knowing only the one
//! below it:
//!
//! ```text
//!  sockets ─► server/     mio event loops: accept, read, write, deadlines,
//!                │        mailboxes between loops (bytes in, bytes out —
//!                │        it knows no protocol). service.rs is the whole
//!                │        contract with the layer above.
//!                ▼
//!  node        binds the listener and gives every loop its own app::App
//!                │
//!             app/        the Service: a Session per connection, dispatching
//!                │        to its mode — exchange (HTTP requests), long_poll,
//!                │        event_stream, websocket; routes decide; subscription
//!                │        is the one door to the hub; delivery encodes each
//!                │        message once per transport
//!                ▼
//!  protocols: http/       request decoder, chunked coding, responses, Date
//!             ws/         handshake, frame codec, masking, UTF-8, messages,
//!                         the close handshake
//!             sse         the event-stream format
//!             json        string escaping
//!             access      who may publish and subscribe: JWTs, Origin, Host,
//!                         CORS (asked through app/guard.rs)
//!                │        (pure: no sockets, no clocks — `now` is an argument)
//!                ▼
//!             hub         channels: subscribers, and a window of each
//!                │        channel's newest messages in memory
//!                ▼
//!             store       the retained log with ids: SQLite in a data
//!                         directory (durable), memory (`--memory`), or
//!                         Redis Streams shared by several nodes (`--redis`)
//!
//!  relay       with `--redis`: two threads between the loops and Redis —
//!              a writer that commits publishes, a reader that brings every
//!              node's messages back to this node's subscribers
//!
//!  beside them: output (a connection's queue of bytes to send), buffers (a
//!  per-loop pool of byte buffers), budget (bytes held across connections),
//!  stats (counters, /metrics), config (every setting)
//! ```
//!
//! ## One message, from `POST` to every subscriber
//!
//! 1. **Bytes arrive.** `poll` reports the publisher's socket readable;
//!    [`server`]'s loop reads until `WouldBlock` into its one scratch buffer
//!    and offers each piece to the [`server::Service`] it drives — the
//!    loop's [`app::App`], which hands it to the connection's
//!    [`app::Session`].
//! 2. **A request is decoded.** The session is in HTTP mode
//!    ([`app::exchange`]), which feeds the bytes to [`http::RequestDecoder`]:
//!    the head is found and parsed (`httparse`), checked (limits, `Host`, the
//!    RFC 9112 §6.3 framing rules), then the body is handed out in pieces
//!    until `End` — the same for any split of the stream.
//! 3. **It is routed.** [`app::routes`] sees `POST /ch/demo`, checks the name
//!    and that the body is UTF-8, and calls [`app::subscription::publish`],
//!    which adds it to this loop pass's batch; the request waits.
//! 4. **The store commits it.** When the pass has read everything ready, the
//!    loop asks for mail and [`app::subscription::commit`] hands the batch
//!    to [`hub::Hub::publish`]: one [`store::Store::append`] transaction
//!    gives each message its channel's next id and makes it durable; the hub
//!    keeps it in the channel's window and returns the subscribers to wake
//!    (parked long polls are removed as they are woken). The app wraps each
//!    message in one [`app::Delivery`] and queues it as mail for them.
//! 5. **The publisher is answered** `{"id":N}` — only now, once the message
//!    is stored (or `507`/`503` if the store refused it).
//! 6. **The loop delivers.** At the end of the pass the loop takes the mail
//!    ([`server::Service::next_mail`]) and hands the one shared delivery to
//!    every subscriber's session (subscribers on other loops get it through
//!    their mailbox and `mio::Waker`):
//!    - a parked **long poll** ([`app::long_poll`]) answers with the message
//!      and goes back to reading requests;
//!    - an **event stream** ([`app::event_stream`]) queues the message's SSE
//!      event — encoded once, as one HTTP/1.1 chunk shared by every
//!      subscriber as `Arc<[u8]>`;
//!    - a **WebSocket** subscriber ([`app::websocket`]) queues one text frame
//!      holding the message's JSON — also encoded once: server frames are
//!      not masked, so every subscriber is sent the same bytes;
//!    - a **short poll** gets it on its next request, from the log.
//! 7. **Bytes leave.** Every touched connection is flushed with one vectored
//!    write; a subscriber too slow to take its bytes is closed and resumes by
//!    id, so it loses nothing.
//!
//! **With `--redis`**, step 4 goes through [`relay`] instead: the batch goes
//! to the relay's writer thread, which appends it in Redis (Redis assigns
//! the ids), hands each message to the hub when it is its channel's next
//! id, and mails each publisher its id; on every node, the relay's reader,
//! following the channel's stream with `XREAD BLOCK`, brings the messages
//! of other nodes — and steps 6 and 7 go on as above. A request on a
//! channel the hub does not hold waits while the relay loads it: no event
//! loop ever waits on Redis.
//!
//! A WebSocket client publishes the same way: its text frame is decoded by
//! [`ws::WsConnection`] and handed to `subscription::publish` from step 3 on.
//!
//! Start reading at [`server`] for the loop, [`http::request`] or
//! [`ws::connection`] for the protocols; `docs/` explains each with real
//! bytes from the wire.

#![forbid(unsafe_code)]

pub mod access;
pub mod app;
pub mod budget;
pub mod buffers;
pub mod config;
pub mod http;
pub mod hub;
pub mod json;
pub mod node;
pub mod output;
pub mod relay;
pub mod server;
pub mod sse;
pub mod stats;
pub mod store;
pub mod ws;

pub use config::Config;
pub use node::{Server, ServerHandle};
