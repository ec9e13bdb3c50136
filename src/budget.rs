//! A byte budget shared by every connection of the process (`--max-buffered`).
//!
//! Per-connection caps bound one peer; they do not bound many. 184
//! connections each holding 15.9 MiB of an unfinished WebSocket message are
//! 2.9 GB although each is under its 16 MiB cap. So bytes a client makes
//! the server hold *for later* — a request body being received, a
//! WebSocket message being assembled — are also charged here, and a charge
//! that would go over the budget is refused: the client gets `503` (a body)
//! or close `1009` (a message), and the bytes are never held.
//!
//! The first [`UNCHARGED`] bytes of each holder are not charged: a small
//! request or message — what a well-behaved client sends — is never refused
//! because others have spent the budget. The bound is still hard:
//! `--max-buffered` plus `UNCHARGED` per connection, and connections are
//! capped by `--max-connections`.
//!
//! A [`Held`] is one holder's share: it grows as the bytes arrive and gives
//! everything back when dropped — so a connection that goes away for any
//! reason releases its share without anyone having to remember.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes each holder may hold before it is charged (16 KiB: a small POST
/// or a chat-sized WebSocket message, partial or not).
pub const UNCHARGED: usize = 16 * 1024;

#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    max: usize,
}

impl Budget {
    pub fn new(max: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            max,
        })
    }

    /// Bytes charged now, all holders together.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Charges `bytes` if they fit; false (and nothing charged) if not.
    fn charge(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.max)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// One holder's share of a [`Budget`]; released when dropped.
#[derive(Debug)]
pub struct Held {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Held {
    pub fn new(budget: &Arc<Budget>) -> Held {
        Held {
            budget: Arc::clone(budget),
            bytes: 0,
        }
    }

    /// Makes the holder's bytes `bytes` (charged beyond [`UNCHARGED`]):
    /// false when growing the charge would exceed the budget (the share
    /// stays as it was).
    pub fn set(&mut self, bytes: usize) -> bool {
        let (was, now) = (self.charged(), bytes.saturating_sub(UNCHARGED));
        // Equal is the common case (a small message, charged nothing before
        // or after): no atomic operation on a budget other threads share.
        if now > was {
            if !self.budget.charge(now - was) {
                return false;
            }
        } else if now < was {
            self.budget.release(was - now);
        }
        self.bytes = bytes;
        true
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn charged(&self) -> usize {
        self.bytes.saturating_sub(UNCHARGED)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.release(self.charged());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FREE: usize = UNCHARGED;

    #[test]
    fn shares_add_up_and_are_given_back() {
        let budget = Budget::new(100);
        let mut a = Held::new(&budget);
        let mut b = Held::new(&budget);
        assert!(a.set(FREE + 60));
        assert!(!b.set(FREE + 41), "over the budget: refused");
        assert_eq!(b.bytes(), 0);
        assert!(b.set(FREE + 40));
        assert!(a.set(FREE + 10));
        assert_eq!(budget.used(), 50);
        drop(b);
        assert_eq!(budget.used(), 10);
        assert!(!a.set(usize::MAX), "never wraps");
        assert!(a.set(5));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn small_holders_are_served_when_the_budget_is_spent() {
        let budget = Budget::new(100);
        let mut big = Held::new(&budget);
        assert!(big.set(FREE + 100));
        let mut small = Held::new(&budget);
        assert!(small.set(FREE), "the uncharged allowance is always there");
        assert!(!small.set(FREE + 1));
        assert_eq!(budget.used(), 100);
    }
}
