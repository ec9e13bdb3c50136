//! The part of both WebSocket targets that plays the event loop: bytes
//! offered to `WsConnection::receive` the way reads bring them, with the
//! loop's side of the contract checked on every call.

use rtweb::ws::{Received, WsConnection, WsEvent};

/// Offers `buffered` to `ws` until it needs more input, handing each event
/// to `on_event`, and drains what was used. Checks that `receive` never
/// uses more than it was given and leaves the bytes it did not use as they
/// were (it may unmask only what it used).
pub fn receive_all(
    ws: &mut WsConnection,
    buffered: &mut Vec<u8>,
    out: &mut Vec<u8>,
    mut on_event: impl FnMut(&mut WsConnection, WsEvent<'_>, &mut Vec<u8>),
) {
    loop {
        let before = buffered.clone();
        let Received { used, event } = ws.receive(buffered, out);
        assert!(used <= before.len());
        let more = event.is_some();
        if let Some(event) = event {
            on_event(ws, event, out);
        }
        assert_eq!(buffered[used..], before[used..], "unused input changed");
        buffered.drain(..used);
        if !more {
            break;
        }
    }
}
