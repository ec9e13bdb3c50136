//! The durable store, the default: every channel's log in one SQLite
//! database, `rtweb.db` inside the data directory (`--data DIR`, default
//! `./rtweb-data`), in WAL mode.
//!
//! # How a batch becomes durable
//!
//! [`SqliteStore::append`] runs one `BEGIN IMMEDIATE … COMMIT` for the whole
//! batch: per channel it reads the last id, inserts the messages, writes the
//! new last id back and deletes what count retention drops. In WAL mode,
//! `COMMIT` appends the transaction's pages to `rtweb.db-wal` and marks the
//! last one as a commit frame; readers see the transaction from then on.
//! - `synchronous=NORMAL` (the default, [`Durability::Normal`]): the WAL is
//!   written (the kernel has the bytes) but not `fsync`ed at commit. The
//!   transaction survives the process dying (`kill -9`, a panic); a power
//!   loss or kernel crash may lose the last transactions, never corrupt the
//!   database.
//! - `synchronous=FULL` (`--sync full`, [`Durability::Full`]): the WAL is
//!   `fsync`ed before `COMMIT` returns; an acknowledged message survives a
//!   power loss too. It costs one `fsync` per batch, which is why batches
//!   are groups: everything published in one pass of the event loop.
//!
//! The WAL is copied back into the database file by SQLite's automatic
//! checkpoint (here every 32 MiB of WAL, inside a commit) and at
//! [`Store::close`]; after each, the WAL file is cut back to 64 MiB.
//!
//! # What a commit costs
//!
//! A commit appends every page it changed to the WAL, one `pwrite` for each
//! frame's header and one for the page. A batch spread over many channels
//! changes at least one leaf of `messages_by_channel` per channel (the one
//! that holds the channel's newest ids), so the pages, not the messages,
//! set the price: 64 messages over 64 channels write ~74 pages of 4 KiB,
//! over one channel ~14. New databases therefore use 1 KiB pages
//! (`PAGE_SIZE`): a few more of them (~87, as a leaf holds fewer ids),
//! for under a third of the bytes (an existing database keeps its page
//! size; SQLite can change it only by rewriting the file with `VACUUM`).
//!
//! # The schema (version 1, in `PRAGMA user_version`)
//!
//! ```sql
//! CREATE TABLE channels (cid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
//!                        last_id INTEGER NOT NULL, last_time INTEGER NOT NULL);
//! CREATE TABLE messages (cid INTEGER NOT NULL, id INTEGER NOT NULL,
//!                        time INTEGER NOT NULL, data TEXT NOT NULL);
//! CREATE UNIQUE INDEX messages_by_channel ON messages (cid, id);
//! -- only once --retain-for is used:
//! CREATE INDEX messages_by_time ON messages (time);
//! ```
//!
//! `channels.last_id` is what makes ids continue across restarts: it
//! outlives the messages retention deletes. Messages are stored in the
//! order they were committed (rowid order: every insert lands on the last
//! page) and found through `messages_by_channel`, where a channel's log is
//! one contiguous range: `read_after` is one seek, and the oldest retained
//! id is the range's first entry. (A `WITHOUT ROWID` table clustered by
//! (channel, id) would save the index, but keeps rows inline only up to
//! ~1 KB with 4 KiB pages: a 1 KiB message then took 4.5 KiB on disk. With
//! 1 KiB pages it was no faster for 64-byte messages and three times
//! slower for 1 KiB ones, which spill into overflow pages.)
//! `messages_by_time` lets retention by age find old messages without a
//! scan; it is created the first time `--retain-for` is used, since it
//! doubles the cost of every insert.
//! Opening reads only the header and the schema: no channel is loaded until
//! it is asked for, so start-up costs the same at any size.
//!
//! This module does not know the HTTP interface; its bytes go to and from
//! SQLite's files through the `rusqlite` crate (SQLite compiled in).

use std::collections::HashMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::{
    next_id, Assigned, ChannelState, NewMessage, OpenError, Page, Retention, Store, StoreError,
    Stored,
};

/// The database's file name inside the data directory.
pub const FILE_NAME: &str = "rtweb.db";
/// The schema this build writes and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;
/// `PRAGMA application_id`: "rtwb", marks the file as rtweb's.
const APPLICATION_ID: i64 = 0x7274_7762;

const SCHEMA: &str = "
    CREATE TABLE channels (cid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                           last_id INTEGER NOT NULL, last_time INTEGER NOT NULL);
    CREATE TABLE messages (cid INTEGER NOT NULL, id INTEGER NOT NULL,
                           time INTEGER NOT NULL, data TEXT NOT NULL);
    CREATE UNIQUE INDEX messages_by_channel ON messages (cid, id);
    PRAGMA user_version = 1;
    PRAGMA application_id = 0x72747762;
";

/// The page size of a new database. Measured (docs/benchmarks.md, the
/// store): against SQLite's default 4096, 1024 made a commit of 64 messages
/// over 64 channels write a third of the bytes and cost ~20% less CPU, and
/// a 1 KiB message takes less disk (a 103-byte head in the table page, the
/// rest in one overflow page: 1.2 KiB instead of 1.4); 512 cost more (more
/// pages per commit), and 2048 stored a 1 KiB message in 2 KiB.
const PAGE_SIZE: i64 = 1024;
/// WAL bytes between two automatic checkpoints (`wal_autocheckpoint`
/// counts pages, and an older database may have another page size).
const CHECKPOINT_BYTES: i64 = 32 * 1024 * 1024;

/// Made when retention by age is on (and kept from then on).
const TIME_INDEX: &str = "CREATE INDEX IF NOT EXISTS messages_by_time ON messages (time);";

/// What a commit survives (`--sync normal|full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL`: survives the process being killed.
    #[default]
    Normal,
    /// `synchronous=FULL`: survives a power loss (an `fsync` per commit).
    Full,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    durability: Durability,
    retention: Retention,
    /// The committed state of recently written channels, so that a busy
    /// channel's batch does not read its row again. Bounded (cleared past
    /// [`HEADS_CACHED`]): a million channels must not cost a million entries.
    heads: HashMap<String, Head>,
}

/// Channels whose state [`SqliteStore`] keeps between batches.
const HEADS_CACHED: usize = 4096;

impl SqliteStore {
    /// Opens (creating if needed) `dir/rtweb.db`. `dir` is created if
    /// missing; its parent must exist. Errors name the path and the problem.
    pub fn open(
        dir: &Path,
        durability: Durability,
        retention: Retention,
    ) -> Result<SqliteStore, OpenError> {
        create_data_dir(dir)?;
        let path = dir.join(FILE_NAME);
        let fail = |e: rusqlite::Error| open_error(&path, e);
        let mut conn = Connection::open(&path).map_err(fail)?;
        // Another process holding the write lock (a second rtweb on the
        // same data) is waited for briefly, then reported.
        conn.busy_timeout(Duration::from_secs(1)).map_err(fail)?;
        // The first read of the file: "not a database" shows here.
        let (application_id, version, tables) = conn
            .query_row(
                "SELECT (SELECT application_id FROM pragma_application_id),
                        (SELECT user_version FROM pragma_user_version),
                        (SELECT count(*) FROM sqlite_master)",
                [],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                },
            )
            .map_err(fail)?;
        let problem = |problem: String| OpenError {
            place: path.display().to_string(),
            problem,
        };
        if application_id != APPLICATION_ID && (application_id != 0 || tables != 0) {
            return Err(problem("an SQLite database, but not rtweb's".into()));
        }
        if version > SCHEMA_VERSION {
            return Err(problem(format!(
                "written by a newer rtweb (schema version {version}; this build reads up to {SCHEMA_VERSION})"
            )));
        }
        if version == 0 && tables == 0 {
            // A new file: small pages, set before anything is written (an
            // existing database keeps the size it was made with). A commit
            // writes every page it changed to the WAL, and a batch spread
            // over 64 channels changes one index page per channel: with
            // 1 KiB pages that is a quarter of the bytes to write, checksum
            // and later copy back, for the same number of pages.
            conn.pragma_update(None, "page_size", PAGE_SIZE)
                .map_err(fail)?;
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(problem(format!(
                "cannot use WAL mode (journal_mode is {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", durability.pragma())
            .map_err(fail)?;
        if version == 0 {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(fail)?;
            tx.execute_batch(SCHEMA).map_err(fail)?;
            tx.commit().map_err(fail)?;
        }
        if retention.age.is_some() {
            // Only retention by age looks messages up by time; without it
            // the index would double the cost of every insert for nothing.
            conn.execute_batch(TIME_INDEX).map_err(fail)?;
        }
        // Checkpoints copy the WAL into the database and fsync it, inside
        // a commit: fewer, larger ones (every 32 MiB of WAL rather than
        // SQLite's 1000 pages) copy each hot page once per many commits. The
        // WAL file is cut back to 64 MiB after each, so it cannot grow for ever.
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .map_err(fail)?;
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            CHECKPOINT_BYTES / page_size.max(512),
        )
        .map_err(fail)?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
            .map_err(fail)?;
        conn.set_prepared_statement_cache_capacity(16);
        Ok(SqliteStore {
            conn,
            path,
            durability,
            retention: Retention {
                count: retention.count.max(1),
                ..retention
            },
            heads: HashMap::new(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates the data directory (not its parents: a mistyped path should be
/// an error, not a new tree).
fn create_data_dir(dir: &Path) -> Result<(), OpenError> {
    let problem = match fs::create_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => "exists and is not a directory".into(),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            "cannot create the data directory: its parent directory does not exist".into()
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            "cannot create the data directory: permission denied".into()
        }
        Err(e) => format!("cannot create the data directory: {e}"),
    };
    Err(OpenError {
        place: dir.display().to_string(),
        problem,
    })
}

fn open_error(path: &Path, e: rusqlite::Error) -> OpenError {
    let problem = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => "not an SQLite database".to_owned(),
        Some(ErrorCode::CannotOpen) => {
            "cannot open or create the database file (is the directory writable?)".to_owned()
        }
        Some(ErrorCode::ReadOnly) => "read-only: rtweb needs to write here".to_owned(),
        Some(ErrorCode::DatabaseBusy) => "in use: another process holds its lock".to_owned(),
        Some(ErrorCode::DiskFull) => "no space left on the device".to_owned(),
        _ => e.to_string(),
    };
    OpenError {
        place: path.display().to_string(),
        problem: problem.replace('\n', " "),
    }
}

/// A failure at run time: `SQLITE_FULL` (the kernel said `ENOSPC`) is
/// [`StoreError::Full`]; the rest are [`StoreError::Failed`].
fn run_error(path: &Path, e: rusqlite::Error) -> StoreError {
    let text = e.to_string().replace('\n', " ");
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => {
            StoreError::Full(format!("{}: no space left on the device", path.display()))
        }
        _ => StoreError::Failed(format!("{}: {text}", path.display())),
    }
}

/// A channel touched by the batch being appended.
#[derive(Debug, Clone, Copy)]
struct Head {
    cid: i64,
    last_id: u64,
    last_time_ms: u64,
}

impl Store for SqliteStore {
    fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Assigned>, StoreError> {
        let path = &self.path;
        let sql = |e| run_error(path, e);
        // IMMEDIATE: take the write lock before reading the last ids, so
        // ids stay right even if another process writes the same file.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let mut heads: HashMap<&str, Head> = HashMap::new();
        let mut assigned = Vec::with_capacity(batch.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO messages (cid, id, time, data) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sql)?;
            for message in batch {
                let channel = message.channel.as_str();
                if !heads.contains_key(channel) {
                    let head = match self.heads.get(channel) {
                        Some(&head) => head,
                        None => load_head(&tx, channel).map_err(sql)?,
                    };
                    heads.insert(channel, head);
                }
                let head = heads.get_mut(channel).expect("just loaded");
                let id = next_id(channel, head.last_id)?;
                let time_ms = message.time_ms.max(head.last_time_ms);
                insert
                    .execute(params![head.cid, id, time_ms, &*message.data])
                    .map_err(sql)?;
                head.last_id = id;
                head.last_time_ms = time_ms;
                assigned.push(Assigned { id, time_ms });
            }
            let mut update = tx
                .prepare_cached("UPDATE channels SET last_id = ?2, last_time = ?3 WHERE cid = ?1")
                .map_err(sql)?;
            let mut trim = tx
                .prepare_cached("DELETE FROM messages WHERE cid = ?1 AND id <= ?2")
                .map_err(sql)?;
            for head in heads.values() {
                update
                    .execute(params![head.cid, head.last_id, head.last_time_ms])
                    .map_err(sql)?;
                let count = self.retention.count as u64;
                if let Some(newest_dropped) = head.last_id.checked_sub(count) {
                    trim.execute(params![head.cid, newest_dropped])
                        .map_err(sql)?;
                }
            }
        }
        // Dropping `tx` on an error above rolls the whole batch back (and
        // the cache keeps the committed state it had).
        tx.commit().map_err(sql)?;
        if self.heads.len() + heads.len() > HEADS_CACHED {
            self.heads.clear();
        }
        for (channel, head) in heads {
            // A channel already cached keeps its key: no new String per commit.
            match self.heads.get_mut(channel) {
                Some(cached) => *cached = head,
                None => {
                    self.heads.insert(channel.to_owned(), head);
                }
            }
        }
        Ok(assigned)
    }

    fn read_after(&mut self, channel: &str, after: u64, limit: usize) -> Result<Page, StoreError> {
        let path = &self.path;
        let sql = |e| run_error(path, e);
        // One read transaction: the state and the messages from one snapshot.
        let tx = self.conn.unchecked_transaction().map_err(sql)?;
        let Some((cid, state)) = load_state(&tx, channel).map_err(sql)? else {
            return Ok(Page {
                state: ChannelState::NEW,
                messages: Vec::new(),
            });
        };
        // Ids live below 2^53, so clamping keeps the meaning of any `after`.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut select = tx
            .prepare_cached(
                "SELECT id, time, data FROM messages WHERE cid = ?1 AND id > ?2
                 ORDER BY id LIMIT ?3",
            )
            .map_err(sql)?;
        let messages = select
            .query_map(params![cid, after, limit], |row| {
                Ok(Stored {
                    id: row.get(0)?,
                    time_ms: row.get(1)?,
                    data: row.get::<_, String>(2)?.into(),
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(sql)?;
        Ok(Page { state, messages })
    }

    fn channel_state(&mut self, channel: &str) -> Result<ChannelState, StoreError> {
        let state = load_state(&self.conn, channel).map_err(|e| run_error(&self.path, e))?;
        Ok(state.map_or(ChannelState::NEW, |(_, state)| state))
    }

    fn trim_expired(&mut self, now_ms: u64) -> Result<u64, StoreError> {
        let Some(cutoff) = super::expiry_cutoff(self.retention, now_ms) else {
            return Ok(0);
        };
        let cutoff = i64::try_from(cutoff).unwrap_or(i64::MAX);
        // Times never decrease within a channel (contract rule 3), so this
        // deletes a prefix of each channel's ids.
        let removed = self
            .conn
            .prepare_cached("DELETE FROM messages WHERE time < ?1")
            .and_then(|mut delete| delete.execute([cutoff]))
            .map_err(|e| run_error(&self.path, e))?;
        Ok(removed as u64)
    }

    fn close(self: Box<Self>) -> Result<(), StoreError> {
        let SqliteStore { conn, path, .. } = *self;
        // Copy the WAL into the database and empty it: the data directory is
        // then one self-contained file.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| run_error(&path, e))?;
        conn.close().map_err(|(_, e)| run_error(&path, e))
    }

    fn describe(&self) -> String {
        format!(
            "sqlite {} (synchronous={})",
            self.path.display(),
            self.durability.pragma()
        )
    }
}

/// The channel's row, inserted (last id 0) if this is its first message.
fn load_head(conn: &Connection, channel: &str) -> rusqlite::Result<Head> {
    let known = conn
        .prepare_cached("SELECT cid, last_id, last_time FROM channels WHERE name = ?1")?
        .query_row([channel], |row| {
            Ok(Head {
                cid: row.get(0)?,
                last_id: row.get(1)?,
                last_time_ms: row.get(2)?,
            })
        })
        .optional()?;
    if let Some(head) = known {
        return Ok(head);
    }
    conn.prepare_cached("INSERT INTO channels (name, last_id, last_time) VALUES (?1, 0, 0)")?
        .execute([channel])?;
    Ok(Head {
        cid: conn.last_insert_rowid(),
        last_id: 0,
        last_time_ms: 0,
    })
}

/// The channel's row id and state; `None` if it has no row yet.
fn load_state(conn: &Connection, channel: &str) -> rusqlite::Result<Option<(i64, ChannelState)>> {
    conn.prepare_cached(
        "SELECT cid, last_id, (SELECT min(id) FROM messages WHERE cid = channels.cid)
         FROM channels WHERE name = ?1",
    )?
    .query_row([channel], |row| {
        let last_id: u64 = row.get(1)?;
        let oldest: Option<u64> = row.get(2)?;
        Ok((
            row.get(0)?,
            ChannelState {
                oldest_id: oldest.unwrap_or(last_id.saturating_add(1)),
                last_id,
            },
        ))
    })
    .optional()
}
