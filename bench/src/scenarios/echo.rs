//! `ws-echo`: C connections, W messages of S bytes in flight on each;
//! messages/s, MB/s and round-trip percentiles.
//!
//! Against the raw TCP floor the same frame bytes are sent and the same
//! number of bytes awaited per message, with no handshake: what no
//! WebSocket server can beat on this machine.
//!
//! The client copies no message bytes: frames are built once, and what a
//! connection owes its socket is a slice of `burst` (its masked frames
//! back to back), written straight from there, one `write` per connection
//! per wake-up; replies are counted as they are read, straight from the
//! read buffer (`Replies`), never kept; from `SKIP_PAYLOADS_FROM` bytes
//! only their headers are read, and their payloads are dropped in the
//! kernel, unread (`Net::read_heads`). The result line carries the
//! client's and the server's CPU time over the measurement window, and
//! `bound=client` when the client's core was saturated (see `cpu.rs`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtweb::ws::frame::{write_client_frame, FrameHeader};
use rtweb::ws::OpCode;

use crate::cpu::Window;
use crate::net::{head_end, Net, Ready};
use crate::stats::{report, Samples};
use crate::target::{ws_upgrade, Kind, Target};

/// The longest frame header (RFC 6455 §5.2): 2 bytes, an 8-byte length
/// and a 4-byte mask key.
const MAX_HEADER: usize = 14;

/// From this size on, a reply's payload is dropped in the kernel, unread:
/// the client then makes two reads per reply (its header, the rest
/// dropped), but copies no payload. At 64 KiB that took the client's CPU
/// per message from 24.8–29.8 to 18.6–26.7 µs (bench/notes.md). Below,
/// a reply's copy is small beside the extra read: at 1 KiB replies come
/// 250 to a 256 KiB read, and skipping each would take 250 more reads.
/// 16 KiB lies between the sizes `compare.sh` runs; only 64 KiB was
/// measured.
const SKIP_PAYLOADS_FROM: usize = 16 * 1024;

pub struct Params {
    pub conns: usize,
    pub inflight: usize,
    pub size: usize,
    pub seconds: u64,
}

pub fn run(target: &Target, p: &Params) {
    let mut frame = Vec::new();
    write_client_frame(
        &mut frame,
        true,
        OpCode::Binary,
        &vec![b'x'; p.size],
        [1, 2, 3, 4],
    );
    let floor = target.kind == Kind::Floor;
    let mut net = Net::new();
    for _ in 0..p.conns {
        let id = net.connect(target.addr);
        if !floor {
            net.send(id, &ws_upgrade(target.echo()));
        }
    }
    // Handshakes first, untimed.
    let mut open = vec![floor; p.conns];
    let all_open = net.run_until(Duration::from_secs(10), |net, ready| {
        for &id in ready {
            if !open[id] {
                if let Some(end) = head_end(&net.conns[id].input) {
                    assert!(
                        net.conns[id].input.starts_with(b"HTTP/1.1 101"),
                        "handshake refused"
                    );
                    net.conns[id].input.drain(..end);
                    open[id] = true;
                }
            }
        }
        open.iter().all(|&o| o)
    });
    assert!(all_open, "handshakes did not complete");

    // Every connection owes the socket its frames: `burst` holds
    // `inflight + 1` of them back to back, so the bytes owed (at most
    // `inflight` frames, the first possibly begun) are one slice of it.
    let burst = frame.repeat(p.inflight + 1);
    let echo_len = if floor { frame.len() } else { frame.len() - 4 };
    let mut flows: Vec<Flow> = (0..p.conns)
        .map(|_| Flow {
            sent_at: VecDeque::with_capacity(p.inflight),
            owed: 0,
            replies: Replies::new(floor.then_some(echo_len)),
        })
        .collect();
    if floor {
        // The floor's replies are counted by length: they need not leave
        // the kernel. (A WebSocket server's headers are read: they are
        // checked and give the lengths.)
        net.read_nothing();
    } else if p.size >= SKIP_PAYLOADS_FROM {
        // A server's header is at most 10 bytes (no mask key): a read of
        // `MAX_HEADER` takes one and a few payload bytes.
        net.read_heads(MAX_HEADER);
    }
    let start = Instant::now();
    for (id, flow) in flows.iter_mut().enumerate() {
        flow.sent_at.extend(std::iter::repeat_n(start, p.inflight));
        flow.owed = p.inflight * frame.len();
        flow.write(&mut net, id, &burst, frame.len());
    }
    // Measure after a one-second warm-up.
    let warmup_end = start + Duration::from_secs(1);
    let end = warmup_end + Duration::from_secs(p.seconds);
    let (mut counted, mut total, mut rtt) = (0u64, 0u64, Samples::default());
    let mut window: Option<Window> = None;
    let mut to_write = Vec::new();
    loop {
        net.poll_streaming(Duration::from_millis(5), |id, ready| {
            let flow = &mut flows[id];
            let complete = match ready {
                Ready::Read(bytes) => flow.replies.count(bytes),
                Ready::Discarded(len) => flow.replies.count_unread(len),
                Ready::Writable => {
                    to_write.push(id);
                    return 0;
                }
                Ready::Closed => panic!("the server closed connection {id}"),
            };
            if complete == 0 {
                return flow.replies.unseen();
            }
            let now = Instant::now();
            total += complete as u64;
            for _ in 0..complete {
                let sent = flow.sent_at.pop_front().expect("a message was in flight");
                if now >= warmup_end {
                    counted += 1;
                    rtt.push(now.duration_since(sent).as_micros() as u64);
                }
                flow.sent_at.push_back(now);
            }
            flow.owed += complete * frame.len();
            to_write.push(id);
            flow.replies.unseen()
        });
        // All replies of one wake-up in one write, from the pre-built frames.
        for id in to_write.drain(..) {
            flows[id].write(&mut net, id, &burst, frame.len());
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        if window.is_none() && now >= warmup_end {
            window = Some(Window::start(&target.pids));
        }
    }
    let usage = window.expect("the run outlasts its warm-up").finish();
    let rate = counted as f64 / usage.seconds;
    let mut fields = vec![
        ("scenario", "ws-echo".into()),
        ("target", target.name().into()),
        ("conns", p.conns.to_string()),
        ("inflight", p.inflight.to_string()),
        ("size", p.size.to_string()),
        ("msgs_per_s", format!("{rate:.0}")),
        ("mb_per_s", format!("{:.1}", rate * p.size as f64 / 1e6)),
        ("rtt_p50_us", rtt.percentile(50.0).to_string()),
        ("rtt_p99_us", rtt.percentile(99.0).to_string()),
        ("total_msgs", total.to_string()),
    ];
    fields.extend(usage.fields(counted));
    report(&fields);
}

/// One connection's messages: when each in flight was sent, the frame
/// bytes not yet taken by its socket, and the replies being counted.
struct Flow {
    sent_at: VecDeque<Instant>,
    owed: usize,
    replies: Replies,
}

impl Flow {
    /// Writes what the socket takes of the `owed` bytes, from `burst`.
    /// They are the end of whole frames, so they start where a frame's
    /// last `owed % frame_len` bytes do.
    fn write(&mut self, net: &mut Net, id: usize, burst: &[u8], frame_len: usize) {
        if self.owed == 0 {
            return;
        }
        let from = (frame_len - self.owed % frame_len) % frame_len;
        self.owed -= net.write_now(id, &burst[from..from + self.owed]);
    }
}

/// Counts whole replies in bytes that arrive in pieces of any size,
/// keeping at most a header cut by a read: a WebSocket frame's header
/// gives its length; against the raw TCP floor every reply is the
/// same `fixed` bytes, counted by length alone (its bytes are not even
/// read: `Net::read_nothing`). A WebSocket reply's payload may go unread
/// too, once its header has given its length (`Net::read_heads`).
struct Replies {
    fixed: Option<usize>,
    /// Bytes of the current reply still to come.
    left: u64,
    /// A WebSocket header cut by the end of a read.
    cut: Vec<u8>,
}

impl Replies {
    fn new(fixed: Option<usize>) -> Replies {
        Replies {
            fixed,
            left: 0,
            cut: Vec::with_capacity(MAX_HEADER),
        }
    }

    /// The replies `bytes` complete.
    fn count(&mut self, mut bytes: &[u8]) -> usize {
        if self.fixed.is_some() {
            return self.count_unread(bytes.len());
        }
        let mut complete = 0;
        loop {
            if self.left > 0 {
                let take = self.left.min(bytes.len() as u64);
                self.left -= take;
                bytes = &bytes[take as usize..];
                if self.left > 0 {
                    return complete;
                }
                complete += 1;
            }
            if bytes.is_empty() {
                return complete;
            }
            match self.begin(bytes) {
                Some((used, 0)) => {
                    complete += 1;
                    bytes = &bytes[used..];
                }
                Some((used, len)) => {
                    self.left = len;
                    bytes = &bytes[used..];
                }
                None => return complete, // a cut header, kept in `cut`
            }
        }
    }

    /// Bytes of the current reply still to come, which need not be seen:
    /// its header has been read and counted.
    fn unseen(&self) -> usize {
        if self.fixed.is_some() {
            return 0; // everything goes unseen already
        }
        self.left as usize
    }

    /// The replies `len` more bytes complete, unseen: replies of a fixed
    /// length, or the rest of the current reply (at most `unseen()`).
    fn count_unread(&mut self, len: usize) -> usize {
        let len = len as u64;
        let Some(fixed) = self.fixed else {
            assert!(
                len <= self.left,
                "only the current reply's payload is dropped unread"
            );
            self.left -= len;
            return usize::from(self.left == 0);
        };
        let fixed = fixed as u64;
        if len < self.left {
            self.left -= len;
            return 0;
        }
        // The current reply (if one was begun) ends; then whole replies,
        // and the start of one more.
        let after = len - self.left;
        let complete = u64::from(self.left > 0) + after / fixed;
        self.left = (fixed - after % fixed) % fixed;
        complete as usize
    }

    /// The next reply's start: (bytes of `bytes` its header used, its
    /// length after the header); `None` if the header is cut.
    fn begin(&mut self, bytes: &[u8]) -> Option<(usize, u64)> {
        if self.cut.is_empty() {
            return match FrameHeader::parse(bytes).expect("valid frame") {
                Some((header, used)) => Some((used, header.payload_len)),
                None => {
                    self.cut.extend_from_slice(bytes);
                    None
                }
            };
        }
        let before = self.cut.len();
        let more = bytes.len().min(MAX_HEADER - before);
        self.cut.extend_from_slice(&bytes[..more]);
        match FrameHeader::parse(&self.cut).expect("valid frame") {
            Some((header, used)) => {
                self.cut.clear();
                Some((used - before, header.payload_len))
            }
            // Still cut (so all of `bytes` went into `cut`: a full
            // `MAX_HEADER` always parses).
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replies of 0, 5, 200 and 70,000 bytes, as a server sends them.
    fn replies() -> Vec<u8> {
        let mut bytes = Vec::new();
        for len in [0, 5, 200, 70_000] {
            rtweb::ws::frame::write_frame(&mut bytes, OpCode::Binary, &vec![7; len]);
        }
        bytes
    }

    #[test]
    fn counts_replies_whatever_the_reads_cut() {
        let bytes = replies();
        for piece in [1, 2, 3, 13, 100, 4096, bytes.len()] {
            let mut replies = Replies::new(None);
            let counts: Vec<usize> = bytes.chunks(piece).map(|c| replies.count(c)).collect();
            assert_eq!(counts.iter().sum::<usize>(), 4, "pieces of {piece}");
            assert_eq!(
                (replies.left, replies.cut.len()),
                (0, 0),
                "pieces of {piece}"
            );
            // Each reply is counted by the read that brings its last byte.
            let last = counts.iter().rposition(|&c| c > 0).unwrap();
            assert_eq!(last, (bytes.len() - 1) / piece, "pieces of {piece}");
        }
    }

    #[test]
    fn counts_fixed_replies_by_length_whatever_the_reads_cut() {
        for piece in 1..=35 {
            let mut replies = Replies::new(Some(10));
            let mut seen = 0;
            for (at, len) in (0..100).step_by(piece).map(|at| (at, piece.min(100 - at))) {
                seen += replies.count_unread(len);
                assert_eq!(seen, (at + len) / 10, "pieces of {piece}, at {at}");
            }
            assert_eq!(replies.left, 0);
        }
        assert_eq!(Replies::new(Some(10)).count(&[0; 25]), 2);
    }

    #[test]
    fn counts_replies_read_by_their_heads_whatever_the_reads_cut() {
        let bytes = replies();
        for head in [1, 2, 3, 13, MAX_HEADER] {
            for most_dropped in [1, 7, 4096, 1 << 20] {
                let mut replies = Replies::new(None);
                let (mut at, mut complete) = (0, 0);
                while at < bytes.len() {
                    // What `Net` does with `read_heads(head)`.
                    let unseen = replies.unseen().min(most_dropped);
                    let len = if unseen > 0 { unseen } else { head };
                    let len = len.min(bytes.len() - at);
                    complete += if unseen > 0 {
                        replies.count_unread(len)
                    } else {
                        replies.count(&bytes[at..at + len])
                    };
                    at += len;
                }
                let case = format!("heads of {head}, drops of at most {most_dropped}");
                assert_eq!(complete, 4, "{case}");
                assert_eq!((replies.left, replies.cut.len()), (0, 0), "{case}");
            }
        }
    }
}
