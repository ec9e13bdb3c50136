//! Every setting of the server, documented field by field with its default.
//! The command line that sets them (`rtweb --help`), with the binary's own
//! defaults, is in `config_args.rs`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::access::{AllowedOrigins, HostName, Secret};
use crate::http::Limits;
use crate::store::{Retention, StoreKind};

#[path = "config_args.rs"]
mod args;

pub use args::{
    default_max_connections, parse_args, parse_args_with_env, Command, DEFAULT_DATA_DIR,
    DEFAULT_REDIS_PREFIX, USAGE,
};

#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen. Default `127.0.0.1:8080`; tests use port 0.
    pub addr: SocketAddr,
    /// Event loops (threads), each owning its connections. Default 1: the
    /// simple path a reader follows first.
    pub threads: usize,
    /// Where channels' logs are kept. Default [`StoreKind::Memory`] (tests,
    /// examples: nothing written to disk); the binary's default is SQLite in
    /// `./rtweb-data` with `synchronous=NORMAL` (`--data`, `--sync`, `--memory`).
    pub store: StoreKind,
    /// Messages each channel retains for resuming clients. Default 1000.
    pub retain: usize,
    /// Messages older than this are trimmed (`--retain-for`). Default off.
    pub retain_for: Option<Duration>,
    /// Byte budget of the hub's in-memory window of recent messages, over
    /// all channels; the least recently used channels leave it first.
    /// Default 64 MiB: the full log (1000 messages of ~1 KiB, with their
    /// JSON) of about 30 busy channels, or the last 100 of about 300 — what
    /// replays and fan-out need — while staying well inside the 200 MiB the
    /// server may use with a million idle channels indexed.
    pub cache_bytes: usize,
    /// On SIGTERM/SIGINT, how long draining may take before the process
    /// exits anyway. Default 10 s.
    pub shutdown_timeout: Duration,
    /// Largest published message in bytes (`413` above). Default 64 KiB.
    pub max_message: usize,
    /// Limits on request heads and bodies (the body limit follows `max_message`).
    pub limits: Limits,
    /// A request head must be complete this long after its first byte
    /// (`408` after). Default 10 s: slow clients must not hold a slot forever.
    pub head_timeout: Duration,
    /// A keep-alive connection with no request in progress is closed after
    /// this long. Default 60 s.
    pub idle_timeout: Duration,
    /// Bytes a connection may have queued and unsent before it is closed as
    /// too slow (streams) or stops being read (requests). Default 1 MiB.
    pub max_pending: usize,
    /// The `retry:` sent at the start of an event stream, in ms. Default 2000.
    pub sse_retry: Duration,
    /// A comment line on a quiet event stream this often. Default 15 s.
    pub sse_heartbeat: Duration,
    /// End event streams after this long, as proxies do. Default off.
    pub sse_max_duration: Option<Duration>,
    /// Close channel WebSockets (1001, going away) after this long, as load
    /// balancers do; clients resume with `?after=`. Default off.
    pub ws_max_duration: Option<Duration>,
    /// Ping an idle WebSocket this often; close it if no pong follows. Default 30 s.
    pub ws_ping: Duration,
    /// Largest WebSocket message (close `1009` above), counted after
    /// inflating a compressed one. Default 16 MiB.
    pub max_ws_message: usize,
    /// Accept permessage-deflate (RFC 7692) when a client offers it.
    /// Default on: every browser offers it, and it cuts JSON several-fold.
    pub ws_deflate: bool,
    /// Publish the server's clock to channel `clock` this often. Default off
    /// (the binary turns it on at 1 s).
    pub ticker: Option<Duration>,
    /// The HS256 secret tokens are signed with (`--jwt-secret-file PATH`,
    /// else `RTWEB_JWT_SECRET`; never a flag's value, which `ps` shows every
    /// local user). With it, publishing needs a token. Default none: open.
    pub jwt_secret: Option<Secret>,
    /// Subscribing needs a token too (needs a secret). Default off.
    pub subscribe_needs_token: bool,
    /// Browser origins besides the server's own that may connect, and get
    /// CORS headers (`--allow-origin`). Default none.
    pub allow_origin: AllowedOrigins,
    /// `Host` names served besides the loopback names (`--allow-host`).
    /// Default `None`: any name when listening beyond loopback, loopback
    /// names only when listening on loopback (DNS rebinding).
    pub allow_host: Option<Vec<HostName>>,
    /// Output that makes no progress for this long closes the connection,
    /// whatever `max_pending` says. Default 60 s (nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// A request body may pause this long between two of its bytes (`408`
    /// after), as nginx's `client_body_timeout`. Default 10 s.
    pub body_timeout: Duration,
    /// The whole body must arrive within this long of its head. Default
    /// 60 s: at the default 64 KiB body that is a floor of ~1 KiB/s.
    pub body_total_timeout: Duration,
    /// Open connections, all loops together; beyond it a new connection is
    /// answered `503` and closed. Default: 80% of the fd limit (see
    /// [`default_max_connections`]), leaving room for the refusals
    /// themselves, the listener and files. (`Config::default()`, for
    /// tests and embedding, leaves both connection caps at 1,000,000.)
    pub max_connections: usize,
    /// Open connections from one IP address (`503` beyond). Default 1000
    /// (nginx has no default; `limit_conn` is opt-in) — enough for a NAT
    /// full of browsers, each holding a stream or two.
    pub max_connections_per_ip: usize,
    /// The listen backlog: connections the kernel completes before we
    /// accept them. Default 4096 (mio's is 128: 2,000 simultaneous connects
    /// then wait a second for SYN retransmits).
    pub backlog: u32,
    /// Bytes held across the process in unfinished WebSocket messages and
    /// request bodies; beyond it new ones are refused (`1009`, `503`).
    /// Default 256 MiB.
    pub max_buffered: usize,
    /// Channels that may exist; a new one beyond gets `507`. Default 1,000,000.
    pub max_channels: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            threads: 1,
            store: StoreKind::Memory,
            retain: 1000,
            retain_for: None,
            cache_bytes: 64 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(10),
            max_message: 64 * 1024,
            limits: Limits::default(),
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_pending: 1024 * 1024,
            sse_retry: Duration::from_millis(2000),
            sse_heartbeat: Duration::from_secs(15),
            sse_max_duration: None,
            ws_max_duration: None,
            ws_ping: Duration::from_secs(30),
            max_ws_message: 16 * 1024 * 1024,
            ws_deflate: true,
            ticker: None,
            jwt_secret: None,
            subscribe_needs_token: false,
            allow_origin: AllowedOrigins::OwnOnly,
            allow_host: None,
            send_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            body_total_timeout: Duration::from_secs(60),
            // Generous for tests, which open thousands from one address;
            // the binary's defaults are in `parse_args`.
            max_connections: 1_000_000,
            max_connections_per_ip: 1_000_000,
            backlog: 4096,
            max_buffered: 256 * 1024 * 1024,
            max_channels: 1_000_000,
        }
    }
}

impl Config {
    /// What each channel keeps, as the store takes it.
    pub fn retention(&self) -> Retention {
        Retention {
            count: self.retain,
            age: self.retain_for,
        }
    }
}
