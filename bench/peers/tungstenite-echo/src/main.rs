//! The usual async Rust WebSocket stack, as a peer for the benchmarks:
//! tokio + tokio-tungstenite on a single-threaded runtime (compared with
//! one rtweb event loop).
//!
//! - `/` echoes, written the way tokio-tungstenite's own example does:
//!   `forward` feeds the sink and flushes when the stream has nothing ready.
//! - `/ch/{name}/ws` joins a channel: every text frame a member sends is
//!   broadcast to all members through a `tokio::sync::broadcast` channel (the
//!   message is shared, each connection frames it), like rtweb's channel
//!   sockets.
//!
//! `tungstenite-echo 127.0.0.1:PORT`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{future, SinkExt, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

type Channels = Arc<Mutex<HashMap<String, broadcast::Sender<Message>>>>;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args().nth(1).expect("usage: tungstenite-echo IP:PORT");
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
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, record_path).await else { return };
    let (mut write, read) = ws.split();
    let Some(channel) = path.strip_prefix("/ch/").and_then(|rest| rest.strip_suffix("/ws")) else {
        let _ = read.try_filter(|m| future::ready(m.is_text() || m.is_binary())).forward(write).await;
        return;
    };
    let sender = channels
        .lock()
        .expect("lock")
        .entry(channel.to_owned())
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
