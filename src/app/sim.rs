//! For the app's unit tests: an [`App`] on a simulated clock, so timeouts of
//! seconds are checked without sleeping, and the output a session queued,
//! taken as the loop would write it.
//!
//! The loop's side of the contract is played by hand: a test calls
//! `on_input`, `on_timer` and `on_drained` as `server/event_loop.rs` would,
//! at the instants it chooses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{App, Session, Shared};
use crate::config::Config;
use crate::output::OutputQueue;

pub struct Clock {
    pub app: App,
    pub start: Instant,
}

impl Clock {
    /// The test defaults ([`Config::default`]: memory store, one loop).
    pub fn new() -> Clock {
        Clock::with(|_| {})
    }

    /// The defaults with `adjust` applied.
    pub fn with(adjust: impl FnOnce(&mut Config)) -> Clock {
        let mut config = Config::default();
        adjust(&mut config);
        let start = Instant::now();
        let shared = Arc::new(Shared::new(config).expect("memory store"));
        Clock {
            app: App::new(shared, 0, start),
            start,
        }
    }

    /// The application at `seconds` after the start.
    pub fn at(&mut self, seconds: u64) -> &mut App {
        self.app.set_now(self.start + Duration::from_secs(seconds));
        &mut self.app
    }

    /// A new connection's session at the start, and its output queue.
    pub fn open(&mut self) -> (Session, OutputQueue) {
        (Session::new(1, self.at(0)), OutputQueue::default())
    }

    /// Whole seconds from the start to `at`.
    pub fn seconds_after(&self, at: Option<Instant>) -> Option<u64> {
        at.map(|at| (at - self.start).as_secs())
    }

    /// Fires the session's timer at its own deadline, as the loop does, and
    /// checks that what it asks for next is in the future (or nothing): the
    /// loop must never be re-woken for a deadline that has passed. Returns
    /// that next deadline.
    pub fn fire_at_deadline(
        &mut self,
        session: &mut Session,
        out: &mut OutputQueue,
    ) -> Option<Instant> {
        let at = session.deadline(&self.app).expect("a deadline");
        self.app.set_now(at);
        session.on_timer(out, &mut self.app);
        let next = session.deadline(&self.app);
        assert!(
            next.is_none_or(|next| next > at),
            "re-armed in the past: {next:?} after {at:?}"
        );
        next
    }
}

/// Everything queued, as bytes; the queue is emptied (as a socket that
/// takes all would).
pub fn written_bytes(out: &mut OutputQueue) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Each pass takes up to MAX_SLICES slices; a queue is finite.
    while !out.is_empty() {
        let mut slices = [std::io::IoSlice::new(&[]); crate::output::MAX_SLICES];
        let n = out.slices(&mut slices);
        let taken: usize = slices[..n].iter().map(|s| s.len()).sum();
        for slice in &slices[..n] {
            bytes.extend_from_slice(slice);
        }
        out.advance(taken);
    }
    bytes
}

/// Everything queued, as text; the queue is emptied.
pub fn written(out: &mut OutputQueue) -> String {
    String::from_utf8(written_bytes(out)).expect("UTF-8 output")
}
