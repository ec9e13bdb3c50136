//! Every setting of the server, documented field by field with its default,
//! and the command line that sets them (`rtweb --help`).

use std::net::SocketAddr;
use std::time::Duration;

use crate::http::Limits;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen. Default `127.0.0.1:8080`; tests use port 0.
    pub addr: SocketAddr,
    /// Event loops (threads), each owning its connections. Default 1: the
    /// simple path a reader follows first.
    pub threads: usize,
    /// Messages each channel retains for resuming clients. Default 1000.
    pub retain: usize,
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
    /// Largest WebSocket message (close `1009` above). Default 16 MiB.
    pub max_ws_message: usize,
    /// Publish the server's clock to channel `clock` this often. Default off
    /// (the binary turns it on at 1 s).
    pub ticker: Option<Duration>,
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

/// The default for `--max-connections`: 80% of the soft fd limit the
/// server will have (it raises the soft limit to the hard one at start),
/// so that at the limit there are descriptors left to accept and refuse.
pub fn default_max_connections() -> usize {
    use rustix::process::{getrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let fds = limit.maximum.or(limit.current).unwrap_or(1024);
    let fds = usize::try_from(fds).unwrap_or(usize::MAX).min(1 << 24);
    (fds / 10 * 8).max(16)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            threads: 1,
            retain: 1000,
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
            ticker: None,
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

pub const USAGE: &str = "\
rtweb — a real-time web server: short polling, long polling, SSE and WebSocket

USAGE: rtweb [OPTIONS]

OPTIONS:
  --addr ADDR              listen address            [default: 127.0.0.1:8080]
  --threads N              event loops               [default: number of cores]
  --retain N               messages kept per channel [default: 1000]
  --max-message BYTES      largest published message [default: 65536]
  --head-timeout SECONDS   time to send a request head [default: 10]
  --idle-timeout SECONDS   keep-alive idle timeout   [default: 60]
  --max-pending BYTES      unsent bytes before a slow client is closed [default: 1048576]
  --sse-retry MS           retry: sent to EventSource [default: 2000]
  --sse-heartbeat SECONDS  comment line on quiet streams [default: 15]
  --sse-max-duration SECONDS  end streams after this long [default: off]
  --ws-ping SECONDS        ping idle WebSockets      [default: 30]
  --ws-max-duration SECONDS  close channel WebSockets after this long [default: off]
  --max-ws-message BYTES   largest WebSocket message [default: 16777216]
  --ticker SECONDS         publish the clock to channel `clock`, 0 = off [default: 1]
  --send-timeout SECONDS   close a connection whose output makes no progress [default: 60]
  --body-timeout SECONDS   longest pause between request body bytes [default: 10]
  --body-total-timeout SECONDS  time for a whole request body [default: 60]
  --max-connections N      open connections, beyond: 503 [default: 80% of the fd limit]
  --max-connections-per-ip N  open connections per client IP [default: 1000]
  --backlog N              listen backlog              [default: 4096]
  --max-buffered BYTES     unfinished WebSocket messages and request bodies,
                           all connections together [default: 268435456]
  --max-channels N         channels that may exist, beyond: 507 [default: 1000000]
  -h, --help               print this help
";

/// The longest timeout a flag may set: one year.
const MAX_SECONDS: u64 = 365 * 24 * 3600;

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Config>),
    Help,
}

/// Parses the arguments after the program name. The binary's defaults
/// differ from [`Config::default`] (one loop, no ticker, no connection
/// caps to speak of: the simple path the tests and a reader take) in four
/// places: one event loop per core, the ticker on, `--max-connections`
/// from the fd limit and `--max-connections-per-ip` 1000.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut config = Config {
        threads: cores,
        ticker: Some(Duration::from_secs(1)),
        max_connections: default_max_connections(),
        max_connections_per_ip: 1000,
        ..Config::default()
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(Command::Help);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: `{value}` is not a whole number"))
        };
        // Checked: `now + timeout` must not overflow an Instant.
        let seconds = || match number()? {
            s if s <= MAX_SECONDS => Ok(Duration::from_secs(s)),
            _ => Err(format!("{flag}: at most {MAX_SECONDS} seconds")),
        };
        match flag.as_str() {
            "--addr" => {
                config.addr = value
                    .parse()
                    .map_err(|_| format!("--addr: `{value}` is not ip:port"))?
            }
            "--threads" => config.threads = (number()? as usize).max(1),
            "--retain" => config.retain = (number()? as usize).max(1),
            "--max-message" => config.max_message = number()? as usize,
            "--head-timeout" => config.head_timeout = seconds()?,
            "--idle-timeout" => config.idle_timeout = seconds()?,
            "--max-pending" => config.max_pending = number()? as usize,
            "--sse-retry" => config.sse_retry = Duration::from_millis(number()?),
            "--sse-heartbeat" => config.sse_heartbeat = seconds()?,
            "--sse-max-duration" => {
                config.sse_max_duration = Some(seconds()?).filter(|d| !d.is_zero())
            }
            "--ws-ping" => config.ws_ping = seconds()?,
            "--ws-max-duration" => {
                config.ws_max_duration = Some(seconds()?).filter(|d| !d.is_zero())
            }
            "--max-ws-message" => config.max_ws_message = number()? as usize,
            "--ticker" => config.ticker = Some(seconds()?).filter(|d| !d.is_zero()),
            "--send-timeout" => config.send_timeout = seconds()?,
            "--body-timeout" => config.body_timeout = seconds()?,
            "--body-total-timeout" => config.body_total_timeout = seconds()?,
            "--max-connections" => config.max_connections = number()? as usize,
            "--max-connections-per-ip" => config.max_connections_per_ip = number()? as usize,
            "--backlog" => {
                config.backlog = u32::try_from(number()?)
                    .map_err(|_| format!("--backlog: `{value}` is too large"))?
            }
            "--max-buffered" => config.max_buffered = number()? as usize,
            "--max-channels" => config.max_channels = number()? as usize,
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }
    config.limits.max_body = config.max_message;
    Ok(Command::Run(Box::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_set_fields() {
        let Ok(Command::Run(c)) = parse(&[
            "--addr",
            "127.0.0.1:0",
            "--retain",
            "5",
            "--ticker",
            "0",
            "--max-message",
            "10",
        ]) else {
            panic!()
        };
        assert_eq!(c.addr.port(), 0);
        assert_eq!(c.retain, 5);
        assert_eq!(c.ticker, None);
        assert_eq!(c.limits.max_body, 10);
    }

    #[test]
    fn bad_input_is_explained() {
        assert_eq!(
            parse(&["--retain", "x"]).unwrap_err(),
            "--retain: `x` is not a whole number"
        );
        assert_eq!(
            parse(&["--bogus", "1"]).unwrap_err(),
            "unknown option --bogus (see --help)"
        );
        assert_eq!(parse(&["--addr"]).unwrap_err(), "--addr needs a value");
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
    }
}
