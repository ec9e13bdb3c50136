//! The usual async Rust WebSocket stack, as a peer for the benchmarks:
//! tokio + tokio-tungstenite on a single-threaded runtime (compared with
//! one rtweb event loop).
//!
//! - `/` echoes at the library's best: every message already decoded is fed
//!   to the sink, and the sink is flushed once per batch — when the stream
//!   has nothing more ready — so one read's worth of echoes leaves in one
//!   write (a naive `send` per message flushes, and writes, per message).
//! - `/ch/{name}/ws` joins a channel: every text frame a member sends is
//!   broadcast to all members through a `tokio::sync::broadcast` channel (the
//!   message is shared, each connection frames it), like rtweb's channel
//!   sockets.
//!
//! `tungstenite-echo 127.0.0.1:PORT`

// The handshake callback's error type is tungstenite's, not ours.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{future, FutureExt, SinkExt, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

type Channels = Arc<Mutex<HashMap<String, broadcast::Sender<Message>>>>;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .expect("usage: tungstenite-echo IP:PORT");
    let listener = TcpListener::bind(&addr).await.expect("bind");
    let channels: Channels = Arc::default();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, Arc::clone(&channels)));
    }
}

async fn serve(stream: TcpStream, channels: Channels) {
    let mut path = String::new();
    let record_path = |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record_path).await else {
        return;
    };
    let Some(channel) = path
        .strip_prefix("/ch/")
        .and_then(|rest| rest.strip_suffix("/ws"))
        .map(str::to_owned)
    else {
        let _ = echo(&mut ws).await;
        return;
    };
    let (mut write, read) = ws.split();
    let sender = channels
        .lock()
        .expect("lock")
        .entry(channel)
        .or_insert_with(|| broadcast::channel(4096).0)
        .clone();
    let mut receiver = sender.subscribe();
    let forward = tokio::spawn(async move {
        while let Ok(message) = receiver.recv().await {
            if write.send(message).await.is_err() {
                return;
            }
        }
    });
    let _ = read
        .try_for_each(|message| {
            if message.is_text() {
                let _ = sender.send(message);
            }
            future::ready(Ok(()))
        })
        .await;
    forward.abort();
}

/// Echoes text and binary messages: feeds each one decoded, flushes once
/// the stream has nothing more ready (`now_or_never` polls it once without
/// waiting; `next` is cancel-safe, so nothing is lost when it is pending).
async fn echo(
    ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    while let Some(message) = ws.next().await {
        let mut message = message?;
        loop {
            if message.is_text() || message.is_binary() {
                ws.feed(message).await?;
            }
            match ws.next().now_or_never() {
                Some(Some(next)) => message = next?,
                Some(None) => return ws.flush().await,
                None => break,
            }
        }
        ws.flush().await?;
    }
    Ok(())
}
