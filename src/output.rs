//! The bytes a connection has yet to send: a queue of chunks, then an open
//! buffer at the back.
//!
//! A chunk is either owned (a response written for this connection alone) or
//! shared (`Arc<[u8]>`: one SSE event or WebSocket frame encoded once and
//! queued to every subscriber without copying). Writers format owned bytes
//! straight into the open buffer at the back (the *tail*), so all the replies
//! of one wake-up leave in one slice; the tail becomes a chunk of its own
//! only when something else is queued behind it or it has grown large. The
//! event loop writes the front of the queue with one vectored write.
//!
//! No sockets here: `server/` drains the queue, sessions fill it.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;

use crate::buffers;

/// The tail is closed into a chunk once it holds this much, so that one
/// buffer does not grow without end while the socket is slow.
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
    /// Closed chunks, written in order before `tail`.
    chunks: VecDeque<OutChunk>,
    /// Owned bytes after every chunk, still open for appending.
    tail: Vec<u8>,
    /// Bytes already written of the front: the first chunk, or the tail
    /// when there is none.
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

    /// Queues a copy of `bytes`.
    #[inline]
    pub fn extend(&mut self, bytes: &[u8]) {
        self.with_owned(|out| out.extend_from_slice(bytes));
    }

    /// Lets `write` append to the owned buffer at the back of the queue:
    /// response writers format straight into it.
    #[inline]
    pub fn with_owned<R>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        if self.tail.len() >= MERGE_BELOW {
            self.close_tail();
        }
        if self.tail.capacity() == 0 {
            // From the loop's pool: written buffers are reused, and an idle
            // connection holds none.
            self.tail = buffers::take();
        }
        let before = self.tail.len();
        let result = write(&mut self.tail);
        self.pending += self.tail.len() - before;
        if self.tail.is_empty() {
            buffers::give_back(std::mem::take(&mut self.tail));
        }
        result
    }

    /// Queues an owned buffer as it is, without copying (large payloads).
    #[inline]
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        self.push(OutChunk::Owned(bytes));
    }

    /// Queues bytes shared with other connections.
    #[inline]
    pub fn push_shared(&mut self, bytes: Arc<[u8]>) {
        self.push(OutChunk::Shared(bytes));
    }

    #[inline]
    pub fn push_static(&mut self, bytes: &'static [u8]) {
        self.push(OutChunk::Static(bytes));
    }

    fn push(&mut self, chunk: OutChunk) {
        let len = chunk.bytes().len();
        if len > 0 {
            self.close_tail();
            self.pending += len;
            self.chunks.push_back(chunk);
        }
    }

    /// Makes the tail a chunk of its own (what comes next goes behind it).
    fn close_tail(&mut self) {
        if !self.tail.is_empty() {
            self.chunks
                .push_back(OutChunk::Owned(std::mem::take(&mut self.tail)));
        }
    }

    /// Fills `slices` with the front of the queue; returns how many.
    pub fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let all = self
            .chunks
            .iter()
            .map(OutChunk::bytes)
            .chain((!self.tail.is_empty()).then_some(self.tail.as_slice()));
        let mut n = 0;
        for (slot, bytes) in slices.iter_mut().zip(all) {
            let skip = if n == 0 { self.front_written } else { 0 };
            *slot = IoSlice::new(&bytes[skip..]);
            n += 1;
        }
        n
    }

    /// Drops `written` bytes from the front after a successful write.
    pub fn advance(&mut self, mut written: usize) {
        self.pending -= written;
        while written > 0 {
            let Some(front) = self.chunks.front() else {
                // Only the tail is left.
                self.front_written += written;
                break;
            };
            let left = front.bytes().len() - self.front_written;
            if written < left {
                self.front_written += written;
                return;
            }
            written -= left;
            if let Some(OutChunk::Owned(done)) = self.chunks.pop_front() {
                buffers::give_back(done);
            }
            self.front_written = 0;
        }
        if self.chunks.is_empty() {
            // An idle connection should cost little.
            self.chunks = VecDeque::new();
            if self.front_written == self.tail.len() {
                self.front_written = 0;
                buffers::give_back(std::mem::take(&mut self.tail));
            }
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

    fn slice_lens(queue: &OutputQueue) -> Vec<usize> {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let n = queue.slices(&mut slices);
        slices[..n].iter().map(|s| s.len()).collect()
    }

    #[test]
    fn small_owned_pieces_merge() {
        let mut queue = OutputQueue::default();
        queue.extend(b"a");
        queue.extend(b"b");
        assert_eq!(slice_lens(&queue), [2]);
        // A partly written tail is still appended to: offsets stay valid.
        queue.advance(1);
        queue.extend(b"c");
        assert_eq!(slice_lens(&queue), [2]);
        assert_eq!(drain(&mut queue, 100), b"bc");
    }

    #[test]
    fn owned_bytes_after_a_shared_chunk_go_behind_it() {
        let mut queue = OutputQueue::default();
        queue.extend(b"1 ");
        queue.push_shared(Arc::from(&b"2 "[..]));
        queue.extend(b"3");
        assert_eq!(slice_lens(&queue), [2, 2, 1]);
        assert_eq!(drain(&mut queue, 1), b"1 2 3");
    }

    #[test]
    fn a_large_tail_is_closed_into_a_chunk() {
        let mut queue = OutputQueue::default();
        queue.extend(&vec![b'x'; MERGE_BELOW]);
        queue.extend(b"y");
        assert_eq!(slice_lens(&queue), [MERGE_BELOW, 1]);
        // Partly written when it is closed: the offset moves with it.
        queue.advance(MERGE_BELOW - 1);
        queue.extend(&vec![b'z'; MERGE_BELOW]);
        queue.extend(b"!");
        let mut expected = b"xy".to_vec();
        expected.extend(vec![b'z'; MERGE_BELOW]);
        expected.push(b'!');
        assert_eq!(drain(&mut queue, 7), expected);
    }

    #[test]
    fn an_empty_queue_holds_no_memory() {
        let mut queue = OutputQueue::default();
        queue.extend(b"reply");
        queue.push_shared(Arc::from(&b"shared"[..]));
        queue.advance(11);
        assert_eq!(queue.chunks.capacity(), 0);
        assert_eq!(queue.tail.capacity(), 0);
        assert!(queue.chunks.is_empty() && queue.pending() == 0);
    }
}
