//! The Redis store (`--redis URL`): channels shared by several rtweb nodes,
//! each channel a Redis Stream, ids assigned by Redis.
//!
//! # Keys (the prefix is `--redis-prefix`, default `rtweb:`)
//!
//! - `rtweb:meta:{channel}`, a hash: `last`, the newest id ever given in
//!   the channel, and `time`, its publish time. It never expires, so ids
//!   go on where they stopped, whichever node publishes next.
//! - `rtweb:log:{channel}`, a stream: the retained messages, entry id
//!   `{id}-0` (so XRANGE/XREAD positions *are* rtweb ids), fields `t` (ms
//!   since the epoch) and `d` (the text). Count retention is the stream's
//!   exact `MAXLEN`.
//! - `rtweb:expiry`, a sorted set (only with `--retain-for`): each channel
//!   scored by its oldest retained message's time, so a trim finds the
//!   channels with something to expire without scanning the others.
//!
//! # Why Lua
//!
//! An append is a read-modify-write (next id, time never backwards, add,
//! trim) that several nodes do at once. A script runs atomically in Redis:
//! the whole batch — every message one event loop pass published — gets
//! its ids and is added in one step, as one transaction does in SQLite
//! (`store/mod.rs`, contract rule 2). Reads are scripts too, so a page and
//! the channel's state come from one snapshot (rule 5).
//!
//! This module is synchronous: every call is a round trip on the caller's
//! thread, with short timeouts ([`CALL_TIMEOUT`]). Which thread pays is the
//! relay's choice (`relay.rs`): publishes never run on an event loop.
//! [`Link`] holds the connection: it reconnects by itself with backoff, and
//! while Redis is down calls fail at once rather than wait.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{Script, Value};

use super::{
    expiry_cutoff, Assigned, ChannelState, NewMessage, OpenError, Page, Retention, Store,
    StoreError, Stored, MAX_ID,
};

/// The longest a call waits for Redis (connect, send, answer). A publish
/// during an outage is refused within about this, never left hanging.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failure, wait this long before connecting again, doubling up to
/// [`MAX_BACKOFF`]; in between, calls fail at once.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Removes the messages of stream `log` older than `cutoff`; a prefix,
/// since times never go backwards in a channel. Returns how many went.
const TRIM_OLD: &str = r"
local function trim_old(log, cutoff)
  local removed = 0
  while true do
    local head = redis.call('XRANGE', log, '-', '+', 'COUNT', 100)
    local old = {}
    for _, entry in ipairs(head) do
      if tonumber(entry[2][2]) >= cutoff then break end
      old[#old + 1] = entry[1]
    end
    if #old > 0 then redis.call('XDEL', log, unpack(old)) end
    removed = removed + #old
    if #old < 100 then return removed end
  end
end
local function oldest_time(log)
  local head = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
  if #head == 0 then return nil end
  return head[1][2][2]
end
";

/// KEYS: the expiry set, then (meta, log) per message.
/// ARGV: retain, track expiry (0/1), max id, then (time, text) per message.
/// Returns (id, time) per message, flattened.
const APPEND: &str = r"
local retain, track, max_id = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
local n = (#KEYS - 1) / 2
for i = 1, n do
  local last = tonumber(redis.call('HGET', KEYS[2 * i], 'last') or 0)
  if last + n > max_id then
    return redis.error_reply('ERR ' .. KEYS[2 * i] .. ' has used every id')
  end
end
local out = {}
for i = 1, n do
  local meta, log = KEYS[2 * i], KEYS[2 * i + 1]
  local time = tonumber(ARGV[2 + 2 * i])
  local id = redis.call('HINCRBY', meta, 'last', 1)
  local previous = tonumber(redis.call('HGET', meta, 'time') or 0)
  if time < previous then time = previous end
  redis.call('HSET', meta, 'time', string.format('%d', time))
  redis.call('XADD', log, 'MAXLEN', '=', retain, string.format('%d-0', id),
    't', string.format('%d', time), 'd', ARGV[3 + 2 * i])
  if track then
    redis.call('ZADD', KEYS[1], oldest_time(log), string.sub(log, #ARGV[4 + 2 * n] + 1))
  end
  out[#out + 1] = id
  out[#out + 1] = time
end
return out
";

/// KEYS: meta, log. ARGV: after, limit. Returns {last, oldest, entries}.
const READ: &str = r"
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or 0)
local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local oldest = last + 1
if #head > 0 then oldest = tonumber(string.match(head[1][1], '^%d+')) end
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
end
return {last, oldest, entries}
";

/// KEYS: the expiry set. ARGV: cutoff, log key prefix.
/// Returns {messages removed, channels looked at} (at most 1000 per call).
const TRIM: &str = r"
local cutoff = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, 1000)
local removed = 0
for _, channel in ipairs(due) do
  local log = ARGV[2] .. channel
  removed = removed + trim_old(log, cutoff)
  local time = oldest_time(log)
  if time then redis.call('ZADD', KEYS[1], time, channel)
  else redis.call('ZREM', KEYS[1], channel) end
end
return {removed, #due}
";

/// Whether this node reaches Redis, for `/stats` and `/metrics`: shared
/// by every [`Link`] of the node, it says how the latest call went (the
/// relay's reader makes one at least every second).
#[derive(Debug)]
pub struct Health {
    up: AtomicBool,
    /// Connections made again after a failure.
    pub reconnects: AtomicU64,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            up: AtomicBool::new(true),
            reconnects: AtomicU64::new(0),
        }
    }
}

impl Health {
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// `"up"` or `"down"`.
    pub fn state(&self) -> &'static str {
        if self.is_up() {
            "up"
        } else {
            "down"
        }
    }
}

/// One connection to Redis that reconnects by itself.
pub struct Link {
    client: redis::Client,
    address: String,
    connection: Option<redis::Connection>,
    /// While down: not before this instant, and the next wait after that.
    retry: Option<(Instant, Duration)>,
    /// Read timeout: [`CALL_TIMEOUT`], plus the block time for the reader.
    read_timeout: Duration,
    health: Arc<Health>,
}

impl Link {
    /// A link to `url` (not connected until first used).
    pub fn new(url: &str, read_timeout: Duration, health: Arc<Health>) -> Result<Link, OpenError> {
        let client = redis::Client::open(url).map_err(|e| OpenError {
            place: url.to_owned(),
            problem: e.to_string(),
        })?;
        Ok(Link {
            client,
            address: url.to_owned(),
            connection: None,
            retry: None,
            read_timeout,
            health,
        })
    }

    /// Runs `call` on the connection, connecting first if needed. A
    /// connection-level failure drops the connection and marks Redis down
    /// until a reconnect succeeds; an error Redis answered keeps it.
    pub fn call<T>(
        &mut self,
        call: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let connection = self.connect()?;
        let outcome = call(connection);
        self.health.up.store(
            outcome.is_ok() || outcome.as_ref().is_err_and(|e| e.code().is_some()),
            Ordering::Relaxed,
        );
        match outcome {
            Ok(value) => Ok(value),
            Err(error) if error.code().is_some() => Err(refusal(&error)),
            Err(error) => {
                self.fail();
                Err(StoreError::Failed(format!(
                    "redis at {}: {error}",
                    self.address
                )))
            }
        }
    }

    fn connect(&mut self) -> Result<&mut redis::Connection, StoreError> {
        if self.connection.is_none() {
            if let Some((at, _)) = self.retry {
                if Instant::now() < at {
                    return Err(StoreError::Failed(format!(
                        "redis at {}: not connected (reconnecting)",
                        self.address
                    )));
                }
            }
            let connected = self
                .client
                .get_connection_with_timeout(CALL_TIMEOUT)
                .and_then(|c| {
                    c.set_write_timeout(Some(CALL_TIMEOUT))?;
                    c.set_read_timeout(Some(self.read_timeout))?;
                    Ok(c)
                });
            match connected {
                Ok(connection) => {
                    if self.retry.take().is_some() {
                        self.health.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    self.connection = Some(connection);
                }
                Err(error) => {
                    self.fail();
                    return Err(StoreError::Failed(format!(
                        "redis at {}: {error}",
                        self.address
                    )));
                }
            }
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }

    /// Drops the connection; the next attempt waits a backoff.
    fn fail(&mut self) {
        self.connection = None;
        self.health.up.store(false, Ordering::Relaxed);
        let wait = match self.retry {
            Some((_, wait)) => (wait * 2).min(MAX_BACKOFF),
            None => FIRST_BACKOFF,
        };
        self.retry = Some((Instant::now() + wait, wait));
    }
}

/// An error Redis answered: out of memory is [`StoreError::Full`] (507).
fn refusal(error: &redis::RedisError) -> StoreError {
    match error.code() {
        Some("OOM") => StoreError::Full(format!("redis is out of memory: {error}")),
        _ => StoreError::Failed(format!("redis refused: {error}")),
    }
}

/// Checks a `--redis` URL without connecting; returns it.
pub fn check_url(url: &str) -> Result<String, String> {
    match redis::Client::open(url) {
        Ok(_) if url.starts_with("redis://") => Ok(url.to_owned()),
        Ok(_) => Err(format!("--redis: `{url}` is not redis://HOST:PORT[/DB]")),
        Err(e) => Err(format!("--redis: `{url}`: {e}")),
    }
}

/// The store; see the module documentation.
pub struct RedisStore {
    link: Link,
    prefix: String,
    retention: Retention,
    append: Script,
    read: Script,
    trim: Script,
}

impl RedisStore {
    /// Connects (once, to fail early with a clear error) and checks the
    /// server is Redis 6.2 or newer (exclusive XRANGE bounds, `XADD MAXLEN =`).
    pub fn open(
        url: &str,
        prefix: &str,
        retention: Retention,
        health: Arc<Health>,
    ) -> Result<RedisStore, OpenError> {
        RedisStore::with_read_timeout(url, prefix, retention, health, CALL_TIMEOUT)
    }

    /// As [`RedisStore::open`], waiting up to `read_timeout` for answers
    /// (the relay's reader blocks in `XREAD` for a while).
    pub fn with_read_timeout(
        url: &str,
        prefix: &str,
        retention: Retention,
        health: Arc<Health>,
        read_timeout: Duration,
    ) -> Result<RedisStore, OpenError> {
        let mut link = Link::new(url, read_timeout, health)?;
        let problem = |problem: String| OpenError {
            place: url.to_owned(),
            problem,
        };
        let info: String = link
            .call(|c| redis::cmd("INFO").arg("server").query(c))
            .map_err(|e| {
                let why = e.to_string();
                let prefix = format!("redis at {url}: ");
                problem(why.strip_prefix(&prefix).unwrap_or(&why).to_owned())
            })?;
        let version = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("0");
        let numbers: Vec<u32> = version
            .trim()
            .split('.')
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        if (numbers.first().copied(), numbers.get(1).copied()) < (Some(6), Some(2)) {
            return Err(problem(format!("Redis {version}: 6.2 or newer needed")));
        }
        Ok(RedisStore {
            link,
            prefix: prefix.to_owned(),
            retention: Retention {
                count: retention.count.max(1),
                ..retention
            },
            append: Script::new(&format!("{TRIM_OLD}{APPEND}")),
            read: Script::new(READ),
            trim: Script::new(&format!("{TRIM_OLD}{TRIM}")),
        })
    }

    fn meta_key(&self, channel: &str) -> String {
        format!("{}meta:{channel}", self.prefix)
    }

    /// The stream key of `channel`.
    pub fn log_key(&self, channel: &str) -> String {
        format!("{}log:{channel}", self.prefix)
    }

    /// The channel a stream key belongs to.
    pub fn channel_of<'k>(&self, log_key: &'k str) -> Option<&'k str> {
        log_key.strip_prefix(&self.prefix)?.strip_prefix("log:")
    }

    /// The link, for the relay's own commands (`XREAD`, `CLIENT`).
    pub fn link(&mut self) -> &mut Link {
        &mut self.link
    }
}

impl Store for RedisStore {
    fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Assigned>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = self.append.prepare_invoke();
        call.key(format!("{}expiry", self.prefix));
        call.arg(self.retention.count)
            .arg(if self.retention.age.is_some() { 1 } else { 0 })
            .arg(MAX_ID);
        for message in batch {
            call.key(self.meta_key(&message.channel))
                .key(self.log_key(&message.channel))
                .arg(message.time_ms)
                .arg(message.data.as_bytes());
        }
        call.arg(format!("{}log:", self.prefix));
        let flat: Vec<u64> = self.link.call(|c| call.invoke(c))?;
        Ok(flat
            .chunks_exact(2)
            .map(|pair| Assigned {
                id: pair[0],
                time_ms: pair[1],
            })
            .collect())
    }

    fn read_after(&mut self, channel: &str, after: u64, limit: usize) -> Result<Page, StoreError> {
        // Past MAX_ID nothing can follow; Lua's numbers stop being exact there.
        let limit = if after >= MAX_ID {
            0
        } else {
            limit.min(1 << 20)
        };
        let mut call = self.read.prepare_invoke();
        call.key(self.meta_key(channel))
            .key(self.log_key(channel))
            .arg(after.min(MAX_ID))
            .arg(limit);
        let (last_id, oldest_id, entries): (u64, u64, Value) =
            self.link.call(|c| call.invoke(c))?;
        Ok(Page {
            state: ChannelState { oldest_id, last_id },
            messages: parse_entries(&entries)?,
        })
    }

    fn channel_state(&mut self, channel: &str) -> Result<ChannelState, StoreError> {
        Ok(self.read_after(channel, 0, 0)?.state)
    }

    fn trim_expired(&mut self, now_ms: u64) -> Result<u64, StoreError> {
        let Some(cutoff) = expiry_cutoff(self.retention, now_ms) else {
            return Ok(0);
        };
        let mut removed = 0;
        loop {
            let mut call = self.trim.prepare_invoke();
            call.key(format!("{}expiry", self.prefix))
                .arg(cutoff)
                .arg(format!("{}log:", self.prefix));
            let (gone, looked_at): (u64, u64) = self.link.call(|c| call.invoke(c))?;
            removed += gone;
            if looked_at < 1000 {
                return Ok(removed);
            }
        }
    }

    fn close(self: Box<Self>) -> Result<(), StoreError> {
        Ok(()) // Redis keeps everything; the connection closes on drop.
    }

    fn describe(&self) -> String {
        format!("redis {} (keys {}*)", self.link.address, self.prefix)
    }
}

/// Stream entries (`[["7-0", ["t", "…", "d", "…"]], …]`) as stored messages.
pub fn parse_entries(entries: &Value) -> Result<Vec<Stored>, StoreError> {
    let bad = || StoreError::Failed("redis: a stream entry rtweb did not write".into());
    let Value::Array(entries) = entries else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .map(|entry| {
            let Value::Array(parts) = entry else {
                return Err(bad());
            };
            let [Value::BulkString(id), Value::Array(fields)] = parts.as_slice() else {
                return Err(bad());
            };
            let [_, Value::BulkString(time), _, Value::BulkString(data)] = fields.as_slice() else {
                return Err(bad());
            };
            let id = std::str::from_utf8(id)
                .ok()
                .and_then(|id| id.strip_suffix("-0"))
                .and_then(|id| id.parse().ok())
                .ok_or_else(bad)?;
            let time_ms = std::str::from_utf8(time)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(bad)?;
            let data = std::str::from_utf8(data).map_err(|_| bad())?;
            Ok(Stored {
                id,
                time_ms,
                data: data.into(),
            })
        })
        .collect()
}
