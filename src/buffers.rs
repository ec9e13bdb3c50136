//! A small pool of byte buffers per event loop.
//!
//! Replies and incoming WebSocket messages need a buffer for a moment: it
//! fills, gets written or used, and is done. Allocating one each time costs
//! malloc and free per message (perf showed ~12% of a WebSocket echo's
//! cycles there); keeping one per connection would make every idle
//! connection hold memory it is not using. So finished buffers go back to a
//! pool owned by the thread — each event loop is one thread, so this is a
//! per-loop pool with no locking — and the next user on that loop takes one.
//!
//! Bounded twice: buffers larger than `MAX_KEPT` are freed (one 16 MiB
//! message must not pin 16 MiB), and the pool holds at most `POOL_SIZE`.

use std::cell::RefCell;

/// Buffers up to this capacity are kept for reuse.
pub const MAX_KEPT: usize = 128 * 1024;
/// At most this many buffers wait in a loop's pool.
const POOL_SIZE: usize = 64;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer, reused when the pool has one.
pub fn take() -> Vec<u8> {
    POOL.with(|pool| pool.borrow_mut().pop())
        .unwrap_or_default()
}

/// Returns a buffer whose contents are no longer needed.
pub fn give_back(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > MAX_KEPT {
        return;
    }
    buffer.clear();
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_SIZE {
            pool.push(buffer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_bounded() {
        let mut first = take();
        first.extend_from_slice(b"reply");
        let capacity = first.capacity();
        give_back(first);
        let again = take();
        assert!(
            again.is_empty() && again.capacity() == capacity,
            "the same buffer, emptied"
        );
        give_back(vec![0; MAX_KEPT + 1]);
        assert_eq!(take().capacity(), 0, "a large buffer is not kept");
    }
}
