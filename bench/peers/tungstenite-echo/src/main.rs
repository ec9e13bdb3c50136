//! tokio-tungstenite's echo server, written the way its own example does:
//! accept, handshake, forward every data message back (`forward` feeds the
//! sink and flushes when the stream has nothing ready, so replies to one
//! read leave together). Single-threaded runtime, so it is compared with
//! one rtweb event loop.
//!
//! `tungstenite-echo 127.0.0.1:PORT`

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args().nth(1).expect("usage: tungstenite-echo IP:PORT");
    let listener = TcpListener::bind(&addr).await.expect("bind");
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else { return };
            let (write, read) = ws.split();
            let _ = read.try_filter(|m| future::ready(m.is_text() || m.is_binary())).forward(write).await;
        });
    }
}
