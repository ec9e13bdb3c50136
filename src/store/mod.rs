//! The retained log of every channel, behind one small contract: the store.
//!
//! The hub keeps what is live (subscribers, a window of recent messages);
//! a store keeps what must outlive a connection, and with the durable store a
//! process: every channel's messages with their ids, its last id, and what
//! retention has trimmed. Implementations:
//!
//! - [`memory::MemoryStore`]: a `VecDeque` per channel, gone with the
//!   process (`--memory`: tests, throwaway demos);
//! - [`sqlite::SqliteStore`]: SQLite in WAL mode in the data directory, the
//!   default: an acknowledged message survives `kill -9`, and with
//!   `--sync full` a power loss;
//! - [`redis::RedisStore`]: Redis Streams, shared by several nodes
//!   (`--redis URL`); ids are assigned by Redis.
//!
//! This module does no I/O of its own and knows no protocol: its bytes come
//! from the hub (text already checked to be UTF-8) and go back to it.
//!
//! # The contract every store keeps
//!
//! 1. **Ids.** Per channel, ids are assigned by the store, strictly
//!    increasing, starting at 1 on a channel the store has never seen, and
//!    never reused — with a durable store, not across restarts either. They
//!    stay at or below [`MAX_ID`] (2^53 − 1) so JavaScript reads them exactly.
//!    One store, one writer: ids of one channel are contiguous. A shared
//!    store (Redis) may interleave other nodes' messages, so a caller must
//!    take the ids [`Store::append`] returns, never compute `last + 1`.
//! 2. **Commit before anyone sees it.** [`Store::append`] commits the whole
//!    batch — every message published in one pass of the event loop — as one
//!    transaction, or none of it. Only after it returns `Ok` may a publisher
//!    be answered or a subscriber be sent the message: a subscriber never
//!    sees a message a crash could take back. On `Err` nothing of the batch
//!    was kept, and no id was used up.
//! 3. **Time.** A channel's publish times never go backwards: a message's time
//!    is at least its predecessor's (the store raises it if the wall clock
//!    stepped back — as Redis Stream ids do). So trimming by age trims a
//!    prefix of ids, and the retained ids stay contiguous.
//! 4. **Retention.** After an append, a channel keeps at most
//!    [`Retention::count`] messages (the oldest leave). [`Store::trim_expired`]
//!    removes messages older than [`Retention::age`]; the caller runs it
//!    from a timer, with `now` as an argument. Trimmed messages leave the
//!    storage (a durable store deletes them), and [`ChannelState`] reports
//!    the oldest id still retained, so a resuming client's gap is exact.
//! 5. **Reads** return what is committed. [`Store::read_after`] returns the
//!    messages and the channel's state from one snapshot, so the gap decision
//!    and the messages can't disagree even when another writer trims between
//!    two calls (Redis).
//! 6. **No scan at open.** Opening costs the same with 10 messages or 10
//!    million: a channel's state is read when it is first asked for.
//! 7. **Calls may block** (a disk write, an `fsync`, a network round trip):
//!    the caller chooses the thread that pays. Stores are `Send` so they can
//!    live on a thread of their own.

pub mod memory;
pub mod redis;
pub mod sqlite;

#[cfg(test)]
mod contract_tests;
#[cfg(test)]
mod sqlite_tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use memory::MemoryStore;
pub use sqlite::{Durability, SqliteStore};

/// The largest id a store hands out: 2^53 − 1, JavaScript's
/// `Number.MAX_SAFE_INTEGER`, so a browser reads every id exactly.
pub const MAX_ID: u64 = (1 << 53) - 1;

/// A message to append: the hub has checked the channel name and the text.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: String,
    /// Publish time, ms since the Unix epoch (the caller's clock).
    pub time_ms: u64,
    /// Shared, so the hub's window and the memory store hold one copy.
    pub data: Arc<str>,
}

/// What the store gave one appended message, in the order of the batch.
/// (The caller already has the channel and the text: nothing is copied back.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assigned {
    pub id: u64,
    /// The time kept: the one asked for, or the channel's previous time if
    /// the clock stepped back (contract rule 3).
    pub time_ms: u64,
}

/// One retained message of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: u64,
    pub time_ms: u64,
    pub data: Arc<str>,
}

/// Where a channel's log stands: the retained ids are `oldest_id..=last_id`
/// (empty when `oldest_id > last_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelState {
    /// The oldest retained id; `last_id + 1` when nothing is retained.
    pub oldest_id: u64,
    /// The newest id ever given in this channel; 0 before the first message.
    pub last_id: u64,
}

impl ChannelState {
    /// A channel the store has never seen.
    pub const NEW: ChannelState = ChannelState {
        oldest_id: 1,
        last_id: 0,
    };

    /// Whether a client that saw every message up to `after` cannot be
    /// given exactly what it missed, and must be told `gap`:
    /// - messages after `after` were trimmed (`after + 1 < oldest_id`);
    /// - or `after` is beyond `last_id`: no message of this store's life of
    ///   the channel carries that id, so the client's id belongs to another
    ///   life (data deleted, a `--memory` restart). Handing it the new ids as
    ///   if they followed would lose messages silently. The limit: once this
    ///   life's ids pass the client's, they can no longer be told apart.
    pub fn gap_after(&self, after: u64) -> bool {
        after > self.last_id || after.saturating_add(1) < self.oldest_id
    }
}

/// A read: the messages after some id, and the state from the same snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub state: ChannelState,
    /// Ids greater than the one asked for, ascending, at most `limit`.
    pub messages: Vec<Stored>,
}

/// How much each channel keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Newest messages kept per channel (`--retain`, at least 1).
    pub count: usize,
    /// Messages older than this are trimmed (`--retain-for`); `None` = off.
    pub age: Option<Duration>,
}

/// Which store to open, with what it needs (`--memory`, `--data`, `--sync`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Sqlite {
        dir: PathBuf,
        durability: Durability,
    },
    /// `--redis URL` (`--redis-prefix PREFIX` before every key).
    Redis {
        url: String,
        prefix: String,
    },
}

/// Opens the store the configuration names.
pub fn open(kind: &StoreKind, retention: Retention) -> Result<Box<dyn Store>, OpenError> {
    Ok(match kind {
        StoreKind::Memory => Box::new(MemoryStore::new(retention)),
        StoreKind::Sqlite { dir, durability } => {
            Box::new(SqliteStore::open(dir, *durability, retention)?)
        }
        StoreKind::Redis { url, prefix } => Box::new(redis::RedisStore::open(
            url,
            prefix,
            retention,
            Arc::default(),
        )?),
    })
}

/// The store contract; see the module documentation for the rules.
pub trait Store: Send {
    /// Assigns ids and commits the whole batch as one transaction, then
    /// applies count retention to the channels it touched. Returns one
    /// [`Assigned`] per message, in batch order. On `Err`, nothing was kept.
    fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Assigned>, StoreError>;

    /// The retained messages of `channel` with id > `after`, ascending, at
    /// most `limit` of them, with the channel's state from the same snapshot.
    /// Any `after` is valid (0, beyond the last id, `u64::MAX`).
    fn read_after(&mut self, channel: &str, after: u64, limit: usize) -> Result<Page, StoreError>;

    /// The channel's oldest retained and last ids ([`ChannelState::NEW`] for
    /// a channel never appended to).
    fn channel_state(&mut self, channel: &str) -> Result<ChannelState, StoreError>;

    /// Removes every message older than the retention age at `now_ms` (ms
    /// since the Unix epoch); returns how many left. A no-op when the age is off.
    fn trim_expired(&mut self, now_ms: u64) -> Result<u64, StoreError>;

    /// Flushes and closes (the durable store checkpoints its WAL into the
    /// database file). Dropping a store without it loses nothing committed.
    fn close(self: Box<Self>) -> Result<(), StoreError>;

    /// One line for logs and `/metrics`, e.g. `sqlite rtweb-data/rtweb.db (synchronous=NORMAL)`.
    fn describe(&self) -> String;
}

/// Why an operation failed. Either way nothing of the operation was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The storage is full (disk, quota). Publishing answers
    /// `507 Insufficient Storage` with this text; it works again once space
    /// is freed, with nothing to reset.
    Full(String),
    /// Any other failure (I/O error, corruption, ids exhausted); the text says which.
    Failed(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Full(why) | StoreError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StoreError {}

/// Why a store could not be opened: where, and what is wrong, as one line
/// for stderr (`rtweb-data/rtweb.db: not an SQLite database`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenError {
    /// The path (or, for a network store, the address) that failed.
    pub place: String,
    pub problem: String,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.problem)
    }
}

impl std::error::Error for OpenError {}

/// Messages with a time before this are expired at `now_ms`; `None` when
/// retention by age is off, or when nothing can be that old yet.
fn expiry_cutoff(retention: Retention, now_ms: u64) -> Option<u64> {
    let age = u64::try_from(retention.age?.as_millis()).unwrap_or(u64::MAX);
    now_ms.checked_sub(age)
}

/// The next id after `last`, or an error once [`MAX_ID`] is reached
/// (checked: no id ever wraps around).
fn next_id(channel: &str, last: u64) -> Result<u64, StoreError> {
    last.checked_add(1)
        .filter(|&id| id <= MAX_ID)
        .ok_or_else(|| StoreError::Failed(format!("channel {channel} has used every id")))
}
