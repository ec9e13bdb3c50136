//! What one commit of the durable store costs, without the network: the
//! SQLite store alone, fed batches like the ones the publish-rate benchmark
//! makes, in a fresh data directory under `/tmp`.
//!
//! Each batch has `BATCH` messages spread round-robin over `CHANNELS`
//! channels (64 over 64: one message per channel per commit, what 64
//! publishers on 64 channels give one pass of the loop), and is committed
//! with `Store::append` as the event loop does, with the default retention
//! (1000 per channel) and `--sync normal`. Printed: CPU time per message
//! (this thread, user + kernel), messages per second, and per commit the
//! bytes and the calls the process wrote (`/proc/self/io`: the WAL frames,
//! and the checkpoints' copies into the database file); then the database's
//! size per retained message.
//!
//! ```sh
//! cargo run --release --example store_append -- 64 64 400000
//! SIZE=1024 cargo run --release --example store_append -- 1 64 400000
//! ```
//!
//! CPU time is steadier than the rate on a shared machine: it does not
//! count the time spent waiting for another process, though it does count
//! the kernel's work of writing the files.

use std::sync::Arc;
use std::time::Instant;

use rtweb::store::{Durability, NewMessage, Retention, SqliteStore, Store};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("CHANNELS BATCH MESSAGES"))
        .collect();
    let usage =
        "usage: store_append CHANNELS BATCH MESSAGES (all above 0; SIZE=bytes in the environment)";
    let [channels, batch, total] = args[..] else {
        panic!("{usage}");
    };
    assert!(channels > 0 && batch > 0 && total > 0, "{usage}");
    let size: usize = std::env::var("SIZE").map_or(64, |s| s.parse().expect("SIZE"));
    let retain = 1000;

    let tmp = tempfile::tempdir_in("/tmp").expect("a temporary directory");
    let dir = tmp.path().join("data");
    let retention = Retention {
        count: retain,
        age: None,
    };
    let mut store: Box<dyn Store> =
        Box::new(SqliteStore::open(&dir, Durability::Normal, retention).expect("open"));
    let data: Arc<str> = "x".repeat(size).into();
    let names: Vec<String> = (0..channels).map(|c| format!("bench-{c}")).collect();

    let (bytes_before, calls_before) = written();
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let (mut sent, mut commits) = (0, 0);
    while sent < total {
        let messages = (sent..sent + batch)
            .map(|n| NewMessage {
                channel: names[(n % channels) as usize].clone(),
                time_ms: 1,
                data: Arc::clone(&data),
            })
            .collect::<Vec<_>>();
        store.append(&messages).expect("append");
        sent += batch;
        commits += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let (bytes_after, calls_after) = written();
    store.close().expect("close");

    let commits = f64::from(commits);
    let kept = (retain as u64 * channels).min(sent);
    let db_bytes = std::fs::metadata(dir.join("rtweb.db")).map_or(0, |m| m.len());
    println!(
        "channels={channels} batch={batch} messages={total} size={size} \
         cpu_us_per_message={:.2} messages_per_s={:.0} \
         written_kib_per_commit={:.1} write_calls_per_commit={:.1} db_bytes_per_message={:.0}",
        cpu * 1e6 / sent as f64,
        sent as f64 / elapsed,
        (bytes_after - bytes_before) as f64 / 1024.0 / commits,
        (calls_after - calls_before) as f64 / commits,
        db_bytes as f64 / kept as f64,
    );
}

/// Bytes and calls this process has written so far (`wchar`, `syscw`).
fn written() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    let field = |name: &str| {
        io.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("wchar:"), field("syscw:"))
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / 100.0
}
