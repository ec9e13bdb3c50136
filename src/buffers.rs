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
//! The pool must hold what one pass of the loop hands back: 100 echo
//! connections each writing a 16 KiB batch return 100 buffers at once.
//! Keeping fewer than that is worse than keeping none: the surplus is freed
//! at the top of the heap, glibc gives those pages back to the kernel
//! (`brk`, past its 128 KiB trim threshold), and the next pass faults them
//! in again, zeroed: at 1 KiB messages, ~2,600 `brk` calls a second and
//! 3–4% of the server's time in page faults, before the pool was bounded
//! by bytes instead of a count of 64.
//!
//! Bounded twice: buffers larger than `MAX_KEPT` are freed (one 16 MiB
//! message must not pin 16 MiB), and the pool holds at most `POOL_BYTES`
//! of capacity — memory a loop keeps after a burst, in exchange for not
//! asking the kernel for it again.

use std::cell::RefCell;

/// Buffers up to this capacity are kept for reuse.
pub const MAX_KEPT: usize = 128 * 1024;
/// At most this much capacity waits in a loop's pool.
pub const POOL_BYTES: usize = 8 * 1024 * 1024;

struct Pool {
    buffers: Vec<Vec<u8>>,
    /// The sum of the kept buffers' capacities.
    bytes: usize,
}

thread_local! {
    // `const`: no lazy-initialisation check on this per-message path.
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            buffers: Vec::new(),
            bytes: 0,
        })
    };
}

/// An empty buffer, reused when the pool has one.
pub fn take() -> Vec<u8> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let buffer = pool.buffers.pop()?;
        pool.bytes -= buffer.capacity();
        Some(buffer)
    })
    .unwrap_or_default()
}

/// Returns a buffer whose contents are no longer needed.
pub fn give_back(mut buffer: Vec<u8>) {
    let capacity = buffer.capacity();
    if capacity == 0 || capacity > MAX_KEPT {
        return;
    }
    buffer.clear();
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.bytes + capacity <= POOL_BYTES {
            pool.bytes += capacity;
            pool.buffers.push(buffer);
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

    /// What 200 connections hand back in one pass is all kept (a pool of
    /// 64 buffers freed the rest, and the heap shrank and grew every pass);
    /// beyond `POOL_BYTES`, buffers are freed.
    #[test]
    fn one_pass_worth_is_kept_and_no_more_than_the_byte_bound() {
        let batch: Vec<Vec<u8>> = (0..200).map(|_| Vec::with_capacity(16 * 1024)).collect();
        let kept_capacity: usize = batch.iter().map(Vec::capacity).sum();
        batch.into_iter().for_each(give_back);
        let taken: Vec<Vec<u8>> = (0..200).map(|_| take()).collect();
        assert!(
            taken.iter().all(|b| b.capacity() >= 16 * 1024),
            "all 200 reused"
        );
        assert_eq!(
            taken.iter().map(Vec::capacity).sum::<usize>(),
            kept_capacity
        );
        assert_eq!(take().capacity(), 0, "the pool is empty again");

        let over = POOL_BYTES / MAX_KEPT + 10;
        (0..over).for_each(|_| give_back(Vec::with_capacity(MAX_KEPT)));
        let mut kept = 0;
        while take().capacity() > 0 {
            kept += 1;
            assert!(kept <= over, "bounded loop");
        }
        assert!(
            kept * MAX_KEPT <= POOL_BYTES,
            "{kept} buffers of {MAX_KEPT} B kept"
        );
        assert!(
            kept >= POOL_BYTES / MAX_KEPT - 1,
            "but the pool was used to its bound"
        );
    }
}
