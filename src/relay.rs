//! The relay: how a node shares its channels with other nodes through
//! Redis (`--redis URL`), without an event loop ever waiting on Redis.
//!
//! ```text
//!  event loops ──batch──▶ writer thread ──EVAL append──▶ Redis ◀──XREAD BLOCK── reader thread
//!       ▲                      │ ids (or 503)              (streams)                 │
//!       └──── mailboxes ◀──────┴──────────────────────────────────── every message ──┘
//! ```
//!
//! - **Writer.** At the end of each pass a loop hands its publishes to
//!   the writer ([`Relay::publish`]) and goes on. The writer appends
//!   everything waiting — several loops' batches together — with one script
//!   call (`store/redis.rs`: Redis assigns the ids, atomically), then tells
//!   each publisher its id, or why not (`503` while Redis is down), through
//!   the loops' mailboxes.
//! - **Reader.** One `XREAD BLOCK` follows every channel in this node's
//!   hub, each from the last id the hub has of it. Every other node's
//!   message reaches this node's subscribers this way, and so does this
//!   node's own when it was not the channel's next id (another node's
//!   came in between): deliveries follow Redis' id order, the same order
//!   on every node, and only once committed. (The writer hands over this
//!   node's message itself when it is next in line, before answering the
//!   publisher: whoever publishes and then reads here sees it.) A node that lost Redis for a while
//!   resumes from the same ids and misses nothing still retained; what was
//!   trimmed meanwhile reaches subscribers as a gap.
//! - **Loading.** A request on a channel the hub does not hold waits
//!   (`exchange.rs`) while the writer reads the channel's whole retained
//!   log into the hub ([`Relay::load`]) and mails the connection; then it
//!   is served from memory. Replays never go to Redis from a loop.
//! - **Following a new channel.** When a channel enters the hub, the reader
//!   must add it to its `XREAD`: the hub calls a hook that wakes the
//!   reader (asleep, or blocked in Redis: then the writer sends
//!   `CLIENT UNBLOCK` for it).
//! - **Retention by age** (`--retain-for`) is trimmed by the writer too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Value;

use crate::app::{trim_interval, Arrival, Delivery, Mail, Shared};
use crate::hub::Published;
use crate::server::{Address, Control, Outgoing};
use crate::stats::Stats;
use crate::store::redis::{parse_entries, Health, RedisStore, CALL_TIMEOUT};
use crate::store::{NewMessage, OpenError, Retention, Store, Stored};

/// How long the reader's `XREAD` blocks before it looks again at which
/// channels to follow (it is woken at once when one is added).
const BLOCK: Duration = Duration::from_millis(1000);
/// Entries one `XREAD` returns at most, over all channels.
const READ_COUNT: usize = 1000;
/// Messages in one append script: a script blocks Redis while it runs.
const MAX_APPEND: usize = 512;

enum Command {
    /// A loop's publishes, with whom to tell each id.
    Publish {
        batch: Vec<NewMessage>,
        publishers: Vec<Option<Address>>,
    },
    /// The reader must follow a new channel (generation `.0`).
    Follow(u64),
    /// Bring a channel into the hub, then tell the connection `to`.
    Load { channel: String, to: Address },
}

/// The node's side of the relay: what the loops and the hub call.
pub struct Relay {
    commands: Mutex<Sender<Command>>,
    /// Taken by [`Relay::start`], with the two stores.
    parts: Mutex<Option<Parts>>,
    following: Arc<Following>,
    pub health: Arc<Health>,
    stop: Arc<AtomicBool>,
}

struct Parts {
    commands: Receiver<Command>,
    writer: RedisStore,
    reader: RedisStore,
}

/// The hand-off between the hub's hook and the reader thread.
#[derive(Default)]
struct Following {
    /// Bumped when a channel gets its first subscriber here.
    wanted: AtomicU64,
    /// The generation the reader's current `XREAD` was built from.
    seen: AtomicU64,
    /// The reader's Redis client id, for `CLIENT UNBLOCK`.
    client_id: AtomicU64,
    reader: OnceLock<Thread>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("redis", &self.health.state())
            .finish()
    }
}

impl Relay {
    /// Connects the writer's and the reader's links (failing early, with
    /// the address and the problem, if Redis cannot be reached).
    pub fn open(
        url: &str,
        prefix: &str,
        retention: Retention,
        health: Arc<Health>,
    ) -> Result<Relay, OpenError> {
        let writer = RedisStore::open(url, prefix, retention, Arc::clone(&health))?;
        let reader = RedisStore::with_read_timeout(
            url,
            prefix,
            retention,
            Arc::clone(&health),
            BLOCK + CALL_TIMEOUT,
        )?;
        let (sender, commands) = mpsc::channel();
        Ok(Relay {
            commands: Mutex::new(sender),
            parts: Mutex::new(Some(Parts {
                commands,
                writer,
                reader,
            })),
            following: Arc::default(),
            health,
            stop: Arc::default(),
        })
    }

    /// The hook for [`crate::hub::Hub::on_new_channel`]: a channel new to
    /// this node is one the reader must start following.
    pub fn follow_hook(&self) -> Box<dyn Fn() + Send> {
        let following = Arc::clone(&self.following);
        let commands = self.sender();
        Box::new(move || {
            let generation = following.wanted.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(reader) = following.reader.get() {
                reader.unpark();
            }
            let _ = commands.send(Command::Follow(generation));
        })
    }

    /// Hands one loop pass's publishes to the writer; each publisher is
    /// told its id (or the error) by mail.
    pub fn publish(&self, batch: Vec<NewMessage>, publishers: Vec<Option<Address>>) {
        let _ = self.sender().send(Command::Publish { batch, publishers });
    }

    /// Has the writer read `channel`'s retained log into the hub, then
    /// mail the connection `to` [`Mail::Loaded`]: its request can then be
    /// served from memory.
    pub fn load(&self, channel: String, to: Address) {
        let _ = self.sender().send(Command::Load { channel, to });
    }

    fn sender(&self) -> Sender<Command> {
        self.commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts the writer and the reader (once; later calls do nothing).
    pub fn start(&self, shared: &Arc<Shared>, control: Control<Mail>) {
        let Some(parts) = self.parts.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let worker = || Worker {
            shared: Arc::clone(shared),
            control: control.clone(),
            following: Arc::clone(&self.following),
            stop: Arc::clone(&self.stop),
        };
        let (writer, reader) = (worker(), worker());
        let thread = std::thread::Builder::new()
            .name("rtweb-redis-reader".into())
            .spawn(move || reader.read(parts.reader))
            .expect("spawn the relay's reader");
        let _ = self.following.reader.set(thread.thread().clone());
        std::thread::Builder::new()
            .name("rtweb-redis-writer".into())
            .spawn(move || writer.write(parts.writer, parts.commands))
            .expect("spawn the relay's writer");
    }
}

impl Relay {
    /// Asks both threads to end (each within `BLOCK`, one second).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.following.reader.get() {
            reader.unpark();
        }
    }
}

/// What each relay thread works with.
struct Worker {
    shared: Arc<Shared>,
    control: Control<Mail>,
    following: Arc<Following>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn write(self, mut store: RedisStore, commands: Receiver<Command>) {
        let trim_every = self.shared.config.retain_for.map(trim_interval);
        let mut next_trim = trim_every.map(|every| Instant::now() + every);
        while !self.stop.load(Ordering::Relaxed) {
            let wait = next_trim.map_or(BLOCK, |at| {
                at.saturating_duration_since(Instant::now()).min(BLOCK)
            });
            let first = match commands.recv_timeout(wait) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if let (Some(at), Some(every)) = (next_trim, trim_every) {
                if Instant::now() >= at {
                    self.trim(&mut store);
                    next_trim = Some(Instant::now() + every);
                }
            }
            // Publishes waiting together are appended together; a load
            // waits for the publishes queued before it (a request that
            // follows its own publish must see it).
            let mut batch = Vec::new();
            let mut publishers = Vec::new();
            let mut follow = None;
            for command in first.into_iter().chain(commands.try_iter()) {
                match command {
                    Command::Publish {
                        batch: more,
                        publishers: theirs,
                    } => {
                        batch.extend(more);
                        publishers.extend(theirs);
                    }
                    Command::Follow(generation) => follow = Some(generation),
                    Command::Load { channel, to } => {
                        self.append_all(&mut store, &mut batch, &mut publishers);
                        self.load(&mut store, &channel, to);
                    }
                }
            }
            if let Some(generation) = follow {
                self.wake_reader(&mut store, generation);
            }
            self.append_all(&mut store, &mut batch, &mut publishers);
        }
    }

    /// Appends what is waiting, [`MAX_APPEND`] messages per script call.
    fn append_all(
        &self,
        store: &mut RedisStore,
        batch: &mut Vec<NewMessage>,
        publishers: &mut Vec<Option<Address>>,
    ) {
        let mut start = 0;
        while start < batch.len() {
            let end = (start + MAX_APPEND).min(batch.len());
            self.append(store, &batch[start..end], &publishers[start..end]);
            start = end;
        }
        batch.clear();
        publishers.clear();
    }

    /// Reads a channel's whole retained log into the hub (the read without
    /// the hub's lock: the loops go on meanwhile), then tells `to`.
    fn load(&self, store: &mut RedisStore, channel: &str, to: Address) {
        let retain = self.shared.config.retain;
        // Here already (kept current by the reader): then the request only
        // waited for the publishes queued before it, which are through.
        let here = self.shared.hub().is_loaded(channel);
        let outcome = if here {
            Ok(Arrival::Present)
        } else {
            store.read_after(channel, 0, retain).map(|page| {
                self.shared.hub().load(channel, page);
                Arrival::Read
            })
        };
        self.control.post(Outgoing {
            mail: Arc::new(Mail::Loaded(outcome)),
            to: vec![to],
        });
    }

    /// Retention by age (`--retain-for`): Redis first, then the windows.
    fn trim(&self, store: &mut RedisStore) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // A failure is retried at the next interval.
        if store.trim_expired(now_ms).is_ok() {
            let _ = self.shared.hub().trim_expired(now_ms);
        }
    }

    /// Appends one batch and tells each publisher what became of its message.
    fn append(&self, store: &mut RedisStore, batch: &[NewMessage], publishers: &[Option<Address>]) {
        let outcomes: Vec<_> = match store.append(batch) {
            Ok(assigned) => {
                Stats::add(&self.shared.stats.messages_published, assigned.len() as u64);
                // Delivered before the publishers are answered (when next
                // in line): read-your-writes on this node.
                // Under the same lock as the delivery: a request must not
                // see them through the writer before they are in the hub.
                let published: Vec<_> = {
                    let mut hub = self.shared.hub();
                    hub.published(batch);
                    batch
                        .iter()
                        .zip(&assigned)
                        .filter_map(|(new, given)| {
                            let stored = Stored {
                                id: given.id,
                                time_ms: given.time_ms,
                                data: Arc::clone(&new.data),
                            };
                            hub.committed_here(&new.channel, stored)
                        })
                        .collect()
                };
                self.deliver(published);
                assigned.into_iter().map(|a| Ok(a.id)).collect()
            }
            Err(error) => {
                self.shared.hub().published(batch);
                vec![Err(error); batch.len()]
            }
        };
        for (outcome, publisher) in outcomes.into_iter().zip(publishers) {
            if let Some(to) = publisher {
                self.control.post(Outgoing {
                    mail: Arc::new(Mail::Published(outcome)),
                    to: vec![*to],
                });
            }
        }
    }

    /// Gets the reader to rebuild its `XREAD` for generation `wanted`: if
    /// it is blocked in Redis, `CLIENT UNBLOCK` it. It may be just about to
    /// block with the old list, so try again, briefly, until it has seen
    /// the new generation.
    fn wake_reader(&self, store: &mut RedisStore, wanted: u64) {
        for _ in 0..200 {
            if self.following.seen.load(Ordering::SeqCst) >= wanted {
                return;
            }
            let id = self.following.client_id.load(Ordering::SeqCst);
            if id != 0 {
                let unblocked: Result<u64, _> = store
                    .link()
                    .call(|c| redis::cmd("CLIENT").arg("UNBLOCK").arg(id).query(c));
                if matches!(unblocked, Ok(1) | Err(_)) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn read(self, mut store: RedisStore) {
        while !self.stop.load(Ordering::Relaxed) {
            let generation = self.following.wanted.load(Ordering::SeqCst);
            self.following.seen.store(generation, Ordering::SeqCst);
            let followed = self.shared.hub().followed();
            if followed.is_empty() {
                // Nothing to follow: still look at Redis every so often,
                // so that `/stats` says whether it can be reached.
                let _ = store.link().call(|c| redis::cmd("PING").query::<String>(c));
                std::thread::park_timeout(BLOCK);
                continue;
            }
            let mut xread = redis::cmd("XREAD");
            xread
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS");
            for (channel, _) in &followed {
                xread.arg(store.log_key(channel));
            }
            for (_, last_id) in &followed {
                xread.arg(format!("{last_id}-0"));
            }
            // One round trip: who we are (for CLIENT UNBLOCK), then the wait.
            let mut pipe = redis::pipe();
            pipe.cmd("CLIENT").arg("ID").add_command(xread);
            let answer: Result<(u64, Value), _> = store.link().call(|c| pipe.query(c));
            match answer {
                Ok((client_id, streams)) => {
                    self.following.client_id.store(client_id, Ordering::SeqCst);
                    self.hand_over(&store, &streams);
                }
                Err(_) => {
                    // Down: the link waits out its backoff; so do we.
                    self.following.client_id.store(0, Ordering::SeqCst);
                    std::thread::park_timeout(Duration::from_millis(50));
                }
            }
        }
    }

    /// `XREAD`'s answer (`[[key, entries], …]`, or nil: nothing new) to
    /// the hub, then to the subscribers.
    fn hand_over(&self, store: &RedisStore, streams: &Value) {
        let Value::Array(streams) = streams else {
            return;
        };
        let mut published = Vec::new();
        {
            let mut hub = self.shared.hub();
            for stream in streams {
                let Value::Array(parts) = stream else {
                    continue;
                };
                let [Value::BulkString(key), entries] = parts.as_slice() else {
                    continue;
                };
                let Some(channel) = std::str::from_utf8(key)
                    .ok()
                    .and_then(|k| store.channel_of(k))
                else {
                    continue;
                };
                let Ok(entries) = parse_entries(entries) else {
                    continue;
                };
                for stored in entries {
                    published.extend(hub.committed_elsewhere(channel, stored));
                }
            }
        }
        self.deliver(published);
    }

    /// Hands each message to its subscribers on this node, through the
    /// mailboxes of the loops that own them.
    fn deliver(&self, published: Vec<Published>) {
        for one in published {
            let to = one
                .subscribers
                .iter()
                .map(|s| Address {
                    event_loop: s.event_loop,
                    token: s.token,
                })
                .collect::<Vec<_>>();
            if !to.is_empty() {
                self.control.post(Outgoing {
                    mail: Arc::new(Mail::Deliver(Delivery::new(one.message))),
                    to,
                });
            }
        }
    }
}
