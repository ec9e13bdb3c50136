//! WebSocket (RFC 6455), in layers that each do one thing:
//!
//! - [`handshake`]: the HTTP/1.1 upgrade — validation and `Sec-WebSocket-Accept`;
//! - [`frame`]: the frame header codec, opcodes, close codes;
//! - [`mask`]: client-to-server masking, eight bytes at a time;
//! - [`utf8`]: incremental UTF-8 validation across fragments;
//! - [`message`]: fragments assembled into messages;
//! - [`negotiation`]: which permessage-deflate offer is accepted (RFC 7692);
//! - [`deflate`]: compressing and inflating messages (RFC 7692);
//! - [`connection`]: the connection state machine — control frames and
//!   the close handshake.
//!
//! Like `http/`, nothing here touches a socket, a clock or any state beyond
//! the connection's own (buffers to reuse are handed in): bytes in, events
//! and bytes out. `app/websocket.rs` connects it to the loop.

pub mod connection;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod negotiation;
pub mod utf8;

pub use connection::{Received, WsConnection, WsEvent, WsState};
pub use frame::{close_code, OpCode};
pub use negotiation::{DeflateParams, DeflatePolicy};
