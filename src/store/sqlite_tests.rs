//! What only the durable store promises: its data outlives the process,
//! trimmed rows leave the file, bad storage is a one-line error naming the
//! path, and a full disk is [`StoreError::Full`] until space is freed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rusqlite::Connection;

use super::contract_tests::{message, publish, retained};
use super::sqlite::FILE_NAME;
use super::*;

const KEEP: Retention = Retention {
    count: 1000,
    age: None,
};

fn open_store(dir: &Path, retention: Retention) -> Box<dyn Store> {
    Box::new(SqliteStore::open(dir, Durability::Normal, retention).unwrap())
}

fn open_error(dir: &Path) -> String {
    let error = SqliteStore::open(dir, Durability::Normal, KEEP)
        .err()
        .expect("open should fail")
        .to_string();
    assert!(!error.contains('\n'), "one line: {error:?}");
    error
}

fn everything(store: &mut dyn Store, channel: &str) -> Page {
    store.read_after(channel, 0, usize::MAX).unwrap()
}

fn rows(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

#[test]
fn reopened_store_has_the_same_messages_and_ids_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut store = open_store(&dir, KEEP);
    for n in 1..=3 {
        publish(
            &mut *store,
            "a",
            n,
            &format!("line {n}\nwith \"quotes\" and ü"),
        );
    }
    let batch: Vec<_> = (0..64).map(|n| message("b", 100 + n, "batch")).collect();
    store.append(&batch).unwrap();
    let (a, b) = (everything(&mut *store, "a"), everything(&mut *store, "b"));
    store.close().unwrap();

    let mut store = open_store(&dir, KEEP);
    assert_eq!(everything(&mut *store, "a"), a);
    assert_eq!(everything(&mut *store, "b"), b);
    assert_eq!(publish(&mut *store, "a", 4, "after restart"), 4);
    // Dropped without `close` (the WAL is left behind): nothing is lost.
    drop(store);
    let mut store = open_store(&dir, KEEP);
    assert_eq!(store.channel_state("a").unwrap().last_id, 4);
    assert_eq!(publish(&mut *store, "b", 200, "x"), 65);
}

#[test]
fn last_id_survives_a_restart_even_when_every_message_expired() {
    let tmp = tempfile::tempdir().unwrap();
    let ten_seconds = Retention {
        count: 1000,
        age: Some(Duration::from_secs(10)),
    };
    let mut store = open_store(tmp.path(), ten_seconds);
    for n in 1..=3 {
        publish(&mut *store, "e", n * 1000, "x");
    }
    assert_eq!(store.trim_expired(60_000).unwrap(), 3);
    store.close().unwrap();
    let mut store = open_store(tmp.path(), ten_seconds);
    let state = store.channel_state("e").unwrap();
    assert_eq!(state, retained(4, 3));
    assert!(state.gap_after(2));
    assert_eq!(publish(&mut *store, "e", 70_000, "y"), 4);
}

#[test]
fn trimmed_messages_leave_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join(FILE_NAME);
    let retention = Retention {
        count: 3,
        age: Some(Duration::from_secs(1)),
    };
    let mut store = open_store(tmp.path(), retention);
    for n in 0..10 {
        publish(&mut *store, "count", 1000, &format!("{n}"));
    }
    for t in [1000, 2000, 3000] {
        publish(&mut *store, "age", t, "x");
    }
    // The rows are counted by another connection: what is in the file.
    assert_eq!(rows(&db, "SELECT count(*) FROM messages"), 3 + 3);
    // At 3000 with 1 s of retention, whatever is from before 2000 goes: the
    // three `count` messages (time 1000) and `age` 1.
    assert_eq!(store.trim_expired(3000).unwrap(), 4);
    assert_eq!(rows(&db, "SELECT count(*) FROM messages"), 2);
    assert_eq!(rows(&db, "SELECT min(id) FROM messages"), 2);
    store.close().unwrap();
    assert_eq!(rows(&db, "SELECT count(*) FROM messages"), 2);
    assert_eq!(
        rows(&db, "SELECT last_id FROM channels WHERE name = 'count'"),
        10
    );
}

#[test]
fn new_databases_have_small_pages_and_old_ones_keep_theirs() {
    let tmp = tempfile::tempdir().unwrap();
    let (new, old) = (tmp.path().join("new"), tmp.path().join("old"));
    open_store(&new, KEEP).close().unwrap();
    assert_eq!(rows(&new.join(FILE_NAME), "PRAGMA page_size"), 1024);
    // A database made before: SQLite's default 4 KiB pages, in WAL mode.
    std::fs::create_dir(&old).unwrap();
    Connection::open(old.join(FILE_NAME))
        .unwrap()
        .execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;")
        .unwrap();
    let mut store = open_store(&old, KEEP);
    publish(&mut *store, "a", 1, "kept");
    store.close().unwrap();
    let mut store = open_store(&old, KEEP);
    let page = everything(&mut *store, "a");
    assert_eq!(page.state, retained(1, 1));
    assert_eq!(&*page.messages[0].data, "kept");
    store.close().unwrap();
    assert_eq!(rows(&old.join(FILE_NAME), "PRAGMA page_size"), 4096);
}

/// Runs `sql` on `dir/rtweb.db` from another connection, as another
/// program (or another version of rtweb) would have left the file.
fn run_sql(dir: &Path, sql: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let db = Connection::open(dir.join(FILE_NAME)).unwrap();
    db.execute_batch(sql).unwrap();
}

#[test]
fn open_errors_are_one_line_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let db = |name: &str| dir(name).join(FILE_NAME);

    std::fs::write(dir("a-file"), "x").unwrap();
    std::fs::create_dir(dir("garbage")).unwrap();
    std::fs::write(db("garbage"), "not a database\n".repeat(300)).unwrap();
    run_sql(&dir("foreign"), "CREATE TABLE t (x)");
    open_store(&dir("future"), KEEP).close().unwrap();
    run_sql(&dir("future"), "PRAGMA user_version = 99");

    let missing = dir("no-such-parent").join("data");
    for (data, place, problem) in [
        (
            missing.clone(),
            missing,
            "cannot create the data directory: its parent directory does not exist",
        ),
        (
            dir("a-file"),
            dir("a-file"),
            "exists and is not a directory",
        ),
        (dir("garbage"), db("garbage"), "not an SQLite database"),
        (
            dir("foreign"),
            db("foreign"),
            "an SQLite database, but not rtweb's",
        ),
        (
            dir("future"),
            db("future"),
            "written by a newer rtweb (schema version 99; this build reads up to 1)",
        ),
    ] {
        assert_eq!(open_error(&data), format!("{}: {problem}", place.display()));
    }
}

/// A small tmpfs, mounted for one test and unmounted when dropped; `None`
/// (with the reason printed) where the machine does not allow it.
struct Tmpfs {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Option<Tmpfs> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&path)
            .status();
        match mounted {
            Ok(status) if status.success() => Some(Tmpfs {
                path,
                _parent: parent,
            }),
            other => {
                eprintln!("skipped: `mount -t tmpfs` failed ({other:?})");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn unwritable_parent_is_a_clear_error() {
    let Some(readonly) = Tmpfs::mount("size=64k,ro") else {
        return;
    };
    let dir = readonly.path.join("data");
    let error = open_error(&dir);
    assert!(
        error.starts_with(&format!(
            "{}: cannot create the data directory: ",
            dir.display()
        )),
        "{error}"
    );
}

#[test]
fn full_disk_is_storage_full_until_space_is_freed() {
    let Some(disk) = Tmpfs::mount("size=1m") else {
        return;
    };
    let mut store = open_store(&disk.path.join("data"), KEEP);
    let kilobyte = "k".repeat(1024);
    for n in 1..=8 {
        publish(&mut *store, "full", n, &kilobyte);
    }
    // Fill what is left of the disk with a file we can delete.
    let filler = disk.path.join("filler");
    let mut bytes = Vec::new();
    for _ in 0..256 {
        bytes.extend_from_slice(&[0u8; 4096]);
        if std::fs::write(&filler, &bytes).is_err() {
            break;
        }
    }
    let batch: Vec<_> = (0..64)
        .map(|n| message("full", 100 + n, &kilobyte))
        .collect();
    let mut refused = None;
    for _ in 0..64 {
        match store.append(&batch) {
            Ok(_) => continue,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("a 1 MiB disk must fill up");
    let StoreError::Full(reason) = &refused else {
        panic!("expected Full, got {refused:?}")
    };
    assert!(reason.contains("no space left"), "{reason}");
    // Readers are still served while the disk is full.
    let state = store.channel_state("full").unwrap();
    let last = state.last_id;
    assert_eq!(everything(&mut *store, "full").messages.len() as u64, last);

    std::fs::remove_file(&filler).unwrap();
    // The refused batch used up no id: the next one follows the last kept.
    assert_eq!(publish(&mut *store, "full", 500, "space again"), last + 1);
    store.close().unwrap();
}
