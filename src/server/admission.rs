//! Who may connect: `--max-connections` and `--max-connections-per-ip`.
//!
//! At the file-descriptor limit `accept` fails, the connection stays in the
//! kernel's backlog, and the client times out — for as long as a flood
//! lasts, well-behaved clients included. So the server stops *below* the
//! fd limit: over `max_connections` (all loops together) or over
//! `max_per_ip` from one address, a new connection is still accepted, told
//! `503` at once and closed — never left to time out. The descriptors
//! between `max_connections` and the fd limit are what those refusals use.
//!
//! One `Admission` is shared by every loop: the accepting loop admits, the
//! loop owning a connection releases it when the connection is gone.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::service::Refusal;

#[derive(Debug)]
pub struct Admission {
    max_connections: usize,
    max_per_ip: usize,
    open: AtomicUsize,
    /// Open connections per address; an address leaves when its count is 0.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Admission {
    pub fn new(max_connections: usize, max_per_ip: usize) -> Admission {
        Admission {
            max_connections,
            max_per_ip,
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a new connection from `ip` in, or says why not. Every `Ok`
    /// must be matched by one [`Admission::release`].
    pub fn admit(&self, ip: IpAddr) -> Result<(), Refusal> {
        // Only the accepting loop admits, so check-then-add cannot race
        // with another admit; releases only make room.
        if self.open.load(Ordering::Relaxed) >= self.max_connections {
            return Err(Refusal::TooManyConnections);
        }
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            if *count == 0 {
                per_ip.remove(&ip);
            }
            return Err(Refusal::TooManyFromAddress);
        }
        *count += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn release(&self, ip: IpAddr) {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&ip);
            }
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Connections admitted and not yet released.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_caps_refuse_and_releases_make_room() {
        let admission = Admission::new(3, 2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        assert_eq!(admission.admit(a), Ok(()));
        assert_eq!(admission.admit(a), Ok(()));
        assert_eq!(admission.admit(a), Err(Refusal::TooManyFromAddress));
        assert_eq!(admission.admit(b), Ok(()));
        assert_eq!(admission.admit(b), Err(Refusal::TooManyConnections));
        admission.release(a);
        assert_eq!(admission.admit(b), Ok(()));
        assert_eq!(admission.open(), 3);
        for ip in [a, b, b] {
            admission.release(ip);
        }
        assert_eq!(admission.open(), 0);
        assert!(admission.per_ip.lock().unwrap().is_empty());
    }
}
