//! One connection to the WebSocket echo, driven through the loop's contract
//! (`rtweb::server::Service`, as `rtweb::app::App` implements it) the way
//! `server/connection.rs` and `server/event_loop.rs` drive it — with no
//! socket: the reads and the socket's room for output are the fuzzer's.
//!
//! The stream is a valid upgrade to `/echo` followed by the fuzzer's bytes,
//! so the fuzzer spends its time on frames, right behind the handshake and
//! after it. The input's first byte picks the upgrade's permessage-deflate
//! offer (none, or one of three); the next eight are the schedule, cycled,
//! each byte one pass for the connection: how much a read brings, and how
//! much the socket takes. A pass reads the next piece (unless the session
//! paused its input, or the buffer is full), appends it to what is buffered
//! and offers it all; then settles as the loop does: buffered input offered
//! again, the output flushed into a socket that takes only so much, and
//! while a flush empties the output, `drained` and the input offered again.
//! The echo's output budget is small (`MAX_PENDING`), so the backpressure
//! path — an echo that stops decoding and pauses the reads until its output
//! drains — is taken often. Time stands still (one `now` for the whole
//! run), so no timer fires: the idle ping and the close timeout are not
//! what this target is about.
//!
//! Checked on every `input`: it never uses more than it was offered, and
//! leaves the bytes it did not use as they were (it may unmask only what it
//! used). Nothing panics. Once closed, the connection holds no share of
//! `--max-buffered` and is counted nowhere.
//!
//! And neither the reads nor the drains make a difference: the same stream
//! read one byte at a time, into a socket that takes everything after every
//! pass (so the echo never waits), writes the same frames as in the
//! fuzzer's pieces and drains. Both runs drain everything in the end, so
//! "the frames written" is all the session queued; they must be whole,
//! valid, unmasked frames. The comparison starts after the `101`
//! response's head, which carries a `Date` from the wall clock that may
//! tick between the runs. One difference is allowed: with
//! permessage-deflate, a message that breaks two rules at once may fail
//! the connection with either's code and reason (1007 or 1009), since
//! which is found first depends on how much is inflated at a time.
#![no_main]

use std::io::IoSlice;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtweb::app::{App, Session, Shared};
use rtweb::output::{OutputQueue, MAX_SLICES};
use rtweb::server::{Close, Service};
use rtweb::ws::close_code;
use rtweb::ws::frame::FrameHeader;
use rtweb::Config;

/// The echo stops decoding past this much unsent output (`--max-pending`):
/// small, so that an input of a few KiB reaches it.
const MAX_PENDING: usize = 2048;
/// `--max-ws-message`: small, so that a compressed message cannot keep one
/// run busy inflating and compressing megabytes.
const MAX_WS_MESSAGE: usize = 64 * 1024;
/// How many schedule bytes follow the choice byte.
const SCHEDULE_LEN: usize = 8;

/// The `Sec-WebSocket-Extensions` offers the fuzzer chooses among.
const OFFERS: [&str; 4] = [
    "",
    "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
     client_no_context_takeover\r\n",
    "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 1 + SCHEDULE_LEN {
        return;
    }
    let (head, frames_in) = data.split_at(1 + SCHEDULE_LEN);
    let offer = usize::from(head[0] & 3);
    let stream = [upgrade(OFFERS[offer]), frames_in.to_vec()].concat();
    let schedule: Vec<Step> = head[1..].iter().map(|&byte| Step::from(byte)).collect();
    let in_pieces = run(&stream, &schedule);
    let one_at_a_time = run(&stream, &[ONE_BYTE_ALL_TAKEN]);
    let (mut in_pieces, mut one_at_a_time) = (frames(&in_pieces), frames(&one_at_a_time));
    // A compressed message can break two rules at once (corrupt, not
    // UTF-8, too big once inflated), and which one is found first depends
    // on how much of it is inflated at a time: a 4 KiB piece of a read, or
    // a byte. Both fail the connection; only the close's code and reason
    // may differ.
    let both_failed = |a: &[&[u8]], b: &[&[u8]]| {
        a.last()
            .zip(b.last())
            .is_some_and(|(a, b)| fails_a_compressed_message(a) && fails_a_compressed_message(b))
    };
    if offer != 0
        && in_pieces.len() == one_at_a_time.len()
        && both_failed(&in_pieces, &one_at_a_time)
    {
        in_pieces.pop();
        one_at_a_time.pop();
    }
    if in_pieces != one_at_a_time {
        let same = in_pieces
            .iter()
            .zip(&one_at_a_time)
            .take_while(|(a, b)| a == b)
            .count();
        let start = |frames: &[&[u8]]| frames.get(same).map(|f| f[..f.len().min(64)].to_vec());
        panic!(
            "the reads or drains changed the output: {} frames in pieces, {} one at a time, \
             the same up to frame {same}: {:02x?} vs {:02x?}",
            in_pieces.len(),
            one_at_a_time.len(),
            start(&in_pieces),
            start(&one_at_a_time),
        );
    }
});

/// The handshake every run starts with.
fn upgrade(offer: &str) -> Vec<u8> {
    format!(
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{offer}\r\n"
    )
    .into_bytes()
}

/// One pass for the connection: how much a read brings, and how much the
/// socket takes of the output (`None`: all of it).
#[derive(Clone, Copy)]
struct Step {
    read: usize,
    room: Option<usize>,
}

/// The reference run's only step: a byte read, every byte written.
const ONE_BYTE_ALL_TAKEN: Step = Step {
    read: 1,
    room: None,
};

impl From<u8> for Step {
    /// Sizes from 1 byte (a frame header split everywhere) to 4 KiB (many
    /// frames in one read); never a socket that takes nothing, so a paused
    /// echo always gets going again.
    fn from(byte: u8) -> Step {
        let cube = |n: u8| usize::from(n + 1).pow(3);
        let room = byte >> 4;
        Step {
            read: cube(byte & 15),
            room: (room != 0).then(|| cube(room)),
        }
    }
}

/// Feeds `stream` to a fresh session, pass by pass as `schedule` (cycled)
/// says; returns what was written after the `101` response's head.
fn run(stream: &[u8], schedule: &[Step]) -> Vec<u8> {
    let config = Config {
        max_pending: MAX_PENDING,
        max_ws_message: MAX_WS_MESSAGE,
        ..Config::default()
    };
    let now = Instant::now();
    let shared = Arc::new(Shared::new(config).expect("the memory store opens"));
    let mut app = App::new(Arc::clone(&shared), 0, now);
    let mut conn = Conn {
        session: app.open(1, now),
        input: Vec::new(),
        output: OutputQueue::default(),
        written: Vec::new(),
        closing: false,
        now,
    };
    let mut unread = stream;
    for step in schedule.iter().cycle() {
        if unread.is_empty() || conn.closing {
            break;
        }
        // `Connection::read` stops reading when the session pauses or the
        // buffer is full: the rest waits in the kernel.
        if !app.input_paused(&conn.session, &conn.output)
            && conn.input.len() < app.limits().max_input
        {
            let (read, rest) = unread.split_at(step.read.min(unread.len()));
            unread = rest;
            conn.input.extend_from_slice(read);
            conn.offer(&mut app);
        }
        conn.settle(&mut app, step.room);
    }
    // The peer has sent everything and reads everything: what it sent last
    // is taken, then its EOF comes, and the loop lets the connection go.
    conn.settle(&mut app, None);
    app.peer_closed(&mut conn.session);
    app.closed(&mut conn.session, now);
    drop(conn.session);
    assert_eq!(shared.buffered.used(), 0, "a closed session holds bytes");
    let stats = &shared.stats;
    let counted = [
        &stats.connections_http,
        &stats.connections_longpoll,
        &stats.connections_sse,
        &stats.connections_websocket,
    ];
    assert!(
        counted
            .iter()
            .all(|gauge| gauge.load(Ordering::Relaxed) == 0),
        "a closed session is still counted"
    );
    after_response_head(conn.written)
}

/// One connection as the loop holds it, with a socket that only counts.
struct Conn {
    session: Session,
    /// Read and not yet used (`Connection::input`).
    input: Vec<u8>,
    output: OutputQueue,
    /// Everything the socket took, in order.
    written: Vec<u8>,
    /// The session asked to close (`Connection::closing`): it is offered
    /// no more input, and its output is only flushed.
    closing: bool,
    /// One instant for the whole run: no timer is due, so none fires.
    now: Instant,
}

impl Conn {
    /// `Connection::offer_buffered`, with the contract checked.
    fn offer(&mut self, app: &mut App) {
        if self.input.is_empty() {
            return;
        }
        let before = self.input.clone();
        let used = app.input(
            &mut self.session,
            &mut self.input,
            &mut self.output,
            self.now,
        );
        assert!(
            used <= before.len(),
            "used {used} of {} bytes",
            before.len()
        );
        assert!(self.input[used..] == before[used..], "unused input changed");
        self.input.drain(..used);
    }

    /// `EventLoop::settle`: offer what is buffered, flush, and while a
    /// flush empties the output, tell the session and go round again; then
    /// read back its close decision. The socket takes at most `room` bytes
    /// in all during this pass.
    fn settle(&mut self, app: &mut App, mut room: Option<usize>) {
        loop {
            if !self.closing && app.wants_input(&self.session) {
                self.offer(app);
            }
            let had_output = !self.output.is_empty();
            self.flush(&mut room);
            if !had_output || !self.output.is_empty() || self.closing {
                break;
            }
            app.drained(&mut self.session, &mut self.output, self.now);
            let more_input = !self.input.is_empty() && app.wants_input(&self.session);
            if self.output.is_empty() && !more_input {
                break;
            }
        }
        self.closing = app.close(&self.session) != Close::Open;
    }

    /// `Connection::flush` into a socket with `room` bytes of space (`None`:
    /// unlimited): the front of the queue, slices as `writev` gets them.
    fn flush(&mut self, room: &mut Option<usize>) {
        while !self.output.is_empty() && *room != Some(0) {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = self.output.slices(&mut slices);
            let mut taken = 0;
            for slice in &slices[..n] {
                let take = room.map_or(slice.len(), |room| slice.len().min(room - taken));
                self.written.extend_from_slice(&slice[..take]);
                taken += take;
                if take < slice.len() {
                    break;
                }
            }
            self.output.advance(taken);
            if let Some(room) = room {
                *room -= taken;
            }
        }
    }
}

/// The server's frames in what it wrote after the `101`: each whole,
/// unmasked and valid — a write never leaves a frame unfinished, and the
/// echo writes nothing but frames.
fn frames(mut written: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while !written.is_empty() {
        let (header, at) = FrameHeader::parse(written)
            .expect("a valid frame header")
            .expect("a whole frame header");
        assert!(header.mask.is_none(), "a masked frame from the server");
        let end = usize::try_from(header.payload_len).expect("a length that fits") + at;
        let (frame, rest) = written.split_at_checked(end).expect("a whole frame");
        frames.push(frame);
        written = rest;
    }
    frames
}

/// A close that fails the connection over a compressed message: 1007
/// (corrupt, or not UTF-8) or 1009 (too big once inflated).
fn fails_a_compressed_message(frame: &[u8]) -> bool {
    let code = |code: u16| code.to_be_bytes();
    frame[0] == 0x88
        && [code(close_code::INVALID_PAYLOAD), code(close_code::TOO_BIG)]
            .iter()
            .any(|code| frame.get(2..4) == Some(code))
}

/// The output after the `101` response's head (the upgrade must succeed:
/// the request is valid, whatever follows it).
fn after_response_head(mut written: Vec<u8>) -> Vec<u8> {
    assert!(
        written.starts_with(b"HTTP/1.1 101 "),
        "upgrade refused: {:?}",
        String::from_utf8_lossy(&written[..written.len().min(200)])
    );
    let end = written
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole head")
        + 4;
    written.drain(..end);
    written
}
