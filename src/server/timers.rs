//! Deadlines of every connection in one min-heap; the nearest is the poll timeout.
//!
//! A connection has at most one *live* entry here. Its real deadline moves
//! often (every request pushes the idle timeout forward), so moving it later
//! does not touch the heap: when the old entry comes due, the loop asks the
//! connection for its real deadline and re-arms. Only a deadline moving
//! *earlier* adds an entry; the one it supersedes is recognised as stale when
//! popped (its time no longer matches what the connection has scheduled).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// One entry: when, for which token, for which incarnation of that token.
type Entry = Reverse<(Instant, usize, u64)>;

#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Entry>,
}

/// What a connection keeps about its place in [`Timers`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Scheduled(Option<Instant>);

impl Timers {
    /// Makes sure `deadline` will be reported no later than it is due.
    pub fn schedule(
        &mut self,
        scheduled: &mut Scheduled,
        deadline: Option<Instant>,
        token: usize,
        serial: u64,
    ) {
        if let Some(at) = deadline {
            if scheduled.0.is_none_or(|s| at < s) {
                scheduled.0 = Some(at);
                self.heap.push(Reverse((at, token, serial)));
            }
        }
    }

    /// The nearest entry's time.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Pops the next entry due at `now`: its token, serial and time.
    pub fn pop_due(&mut self, now: Instant) -> Option<(usize, u64, Instant)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self
                .heap
                .pop()
                .map(|Reverse((at, token, serial))| (token, serial, at)),
            _ => None,
        }
    }

    /// Called with a popped entry: true when it is the one the connection
    /// has scheduled (and so now has nothing in the heap), false if stale.
    pub fn claim(scheduled: &mut Scheduled, at: Instant) -> bool {
        if scheduled.0 == Some(at) {
            scheduled.0 = None;
            true
        } else {
            false
        }
    }

    /// The deadline to arm after a connection last fired at `fired_at`:
    /// `None` for one that was already due then. A session that keeps
    /// answering the same past instant (a request stuck waiting for a body
    /// that never comes) would otherwise be fired again at once, forever —
    /// a zero poll timeout, a core at 100%.
    pub fn to_arm(deadline: Option<Instant>, fired_at: Option<Instant>) -> Option<Instant> {
        deadline.filter(|&at| fired_at.is_none_or(|fired| at > fired))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn later_deadlines_do_not_grow_the_heap() {
        let mut timers = Timers::default();
        let mut s = Scheduled::default();
        let t0 = Instant::now();
        for i in 1..100 {
            timers.schedule(&mut s, Some(t0 + Duration::from_secs(i)), 3, 7);
        }
        assert_eq!(timers.len(), 1);
        let (token, serial, at) = timers.pop_due(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!((token, serial), (3, 7));
        assert!(Timers::claim(&mut s, at));
    }

    #[test]
    fn a_deadline_already_handled_is_never_armed_again() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        assert_eq!(Timers::to_arm(Some(s(5)), None), Some(s(5)));
        // Fired at 10 for a deadline of 5 that the session still reports.
        assert_eq!(Timers::to_arm(Some(s(5)), Some(s(10))), None);
        assert_eq!(Timers::to_arm(Some(s(10)), Some(s(10))), None);
        assert_eq!(Timers::to_arm(Some(s(11)), Some(s(10))), Some(s(11)));
        assert_eq!(Timers::to_arm(None, Some(s(10))), None);
    }

    #[test]
    fn an_earlier_deadline_makes_the_old_entry_stale() {
        let mut timers = Timers::default();
        let mut s = Scheduled::default();
        let t0 = Instant::now();
        timers.schedule(&mut s, Some(t0 + Duration::from_secs(10)), 1, 1);
        timers.schedule(&mut s, Some(t0 + Duration::from_secs(5)), 1, 1);
        let (_, _, at) = timers.pop_due(t0 + Duration::from_secs(5)).unwrap();
        assert!(Timers::claim(&mut s, at));
        assert!(timers.pop_due(t0 + Duration::from_secs(9)).is_none());
        let (_, _, stale) = timers.pop_due(t0 + Duration::from_secs(10)).unwrap();
        assert!(!Timers::claim(&mut s, stale));
    }
}
