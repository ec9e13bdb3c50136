//! The bytes a connection has yet to send: a queue of chunks.
//!
//! A chunk is either owned (a response written for this connection alone) or
//! shared (`Arc<[u8]>`: one SSE event or WebSocket frame encoded once and
//! queued to every subscriber without copying). The event loop writes the
//! front of the queue with one vectored write; small owned pieces are merged
//! so that all the replies of one wake-up leave in as few writes as possible.
//!
//! No sockets here: `server/` drains the queue, sessions fill it.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;

use crate::buffers;

/// Owned pieces are appended to the previous owned chunk while it is shorter
/// than this, so one wake-up's replies leave as one slice.
const MERGE_BELOW: usize = 64 * 1024;
/// Most slices handed to one `writev`.
pub const MAX_SLICES: usize = 64;

#[derive(Debug)]
pub enum OutChunk {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
    Static(&'static [u8]),
}

impl OutChunk {
    fn bytes(&self) -> &[u8] {
        match self {
            OutChunk::Owned(v) => v,
            OutChunk::Shared(a) => a,
            OutChunk::Static(s) => s,
        }
    }
}

/// Pending output, with the count of bytes not yet written.
#[derive(Debug, Default)]
pub struct OutputQueue {
    chunks: VecDeque<OutChunk>,
    /// Bytes of the front chunk already written.
    front_written: usize,
    pending: usize,
}

impl OutputQueue {
    /// Bytes queued and not yet written.
    #[inline]
    pub fn pending(&self) -> usize {
        self.pending
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Queues a copy of `bytes`, merged into the last owned chunk when small.
    #[inline]
    pub fn extend(&mut self, bytes: &[u8]) {
        self.with_owned(|out| out.extend_from_slice(bytes));
    }

    /// Lets `write` append to an owned buffer at the back of the queue:
    /// response writers format straight into it.
    #[inline]
    pub fn with_owned<R>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mergeable = match self.chunks.back() {
            Some(OutChunk::Owned(v)) => {
                v.len() < MERGE_BELOW && (self.chunks.len() > 1 || self.front_written == 0)
            }
            _ => false,
        };
        if !mergeable {
            // From the loop's pool: written buffers are reused, and an idle
            // connection holds none.
            self.chunks.push_back(OutChunk::Owned(buffers::take()));
        }
        let Some(OutChunk::Owned(buf)) = self.chunks.back_mut() else {
            unreachable!()
        };
        let before = buf.len();
        let result = write(buf);
        self.pending += buf.len() - before;
        if buf.is_empty() {
            if let Some(OutChunk::Owned(unused)) = self.chunks.pop_back() {
                buffers::give_back(unused);
            }
        }
        result
    }

    /// Queues an owned buffer as it is, without copying (large payloads).
    #[inline]
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.pending += bytes.len();
            self.chunks.push_back(OutChunk::Owned(bytes));
        }
    }

    /// Queues bytes shared with other connections.
    #[inline]
    pub fn push_shared(&mut self, bytes: Arc<[u8]>) {
        if !bytes.is_empty() {
            self.pending += bytes.len();
            self.chunks.push_back(OutChunk::Shared(bytes));
        }
    }

    #[inline]
    pub fn push_static(&mut self, bytes: &'static [u8]) {
        if !bytes.is_empty() {
            self.pending += bytes.len();
            self.chunks.push_back(OutChunk::Static(bytes));
        }
    }

    /// Fills `slices` with the front of the queue; returns how many.
    pub fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (i, chunk) in self.chunks.iter().enumerate().take(slices.len()) {
            let bytes = if i == 0 {
                &chunk.bytes()[self.front_written..]
            } else {
                chunk.bytes()
            };
            slices[i] = IoSlice::new(bytes);
            n += 1;
        }
        n
    }

    /// Drops `written` bytes from the front after a successful write.
    pub fn advance(&mut self, mut written: usize) {
        self.pending -= written;
        while written > 0 {
            let front_len = self.chunks.front().map_or(0, |c| c.bytes().len()) - self.front_written;
            if written >= front_len {
                written -= front_len;
                if let Some(OutChunk::Owned(done)) = self.chunks.pop_front() {
                    buffers::give_back(done);
                }
                self.front_written = 0;
            } else {
                self.front_written += written;
                written = 0;
            }
        }
        if self.chunks.is_empty() {
            // An idle connection should cost little.
            self.chunks = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(queue: &mut OutputQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = queue.slices(&mut slices);
            let all: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
            let take = all.len().min(step);
            out.extend_from_slice(&all[..take]);
            queue.advance(take);
        }
        out
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut queue = OutputQueue::default();
        queue.extend(b"head ");
        queue.push_shared(Arc::from(&b"shared "[..]));
        queue.push_static(b"static ");
        queue.extend(b"tail");
        assert_eq!(queue.pending(), 23);
        assert_eq!(drain(&mut queue, 3), b"head shared static tail");
        assert_eq!(queue.pending(), 0);
    }

    #[test]
    fn small_owned_pieces_merge() {
        let mut queue = OutputQueue::default();
        queue.extend(b"a");
        queue.extend(b"b");
        assert_eq!(queue.chunks.len(), 1);
        // A partly written front chunk is never appended to.
        queue.advance(1);
        queue.extend(b"c");
        assert_eq!(queue.chunks.len(), 2);
        assert_eq!(drain(&mut queue, 100), b"bc");
    }

    #[test]
    fn an_empty_queue_holds_no_memory() {
        let mut queue = OutputQueue::default();
        queue.extend(b"reply");
        queue.push_shared(Arc::from(&b"shared"[..]));
        queue.advance(11);
        assert_eq!(queue.chunks.capacity(), 0);
        assert!(queue.chunks.is_empty() && queue.pending() == 0);
    }
}
