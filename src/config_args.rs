//! The command line: `rtweb`'s flags in, a [`Config`] out — or a request
//! for `--help`, whose text is [`USAGE`]. The arguments come from `main.rs`
//! (after the program name), the JWT secret from `--jwt-secret-file` or
//! `RTWEB_JWT_SECRET`; the `Config` goes back to `main.rs`, which binds the
//! server with it, and an `Err` is the message `main.rs` prints before
//! exiting with status 2.
//!
//! The binary's defaults live here, beside the help text that states them:
//! one event loop per core, the ticker on, channels in `./rtweb-data`, the
//! connection caps from the fd limit. What each setting means, and
//! `Config::default` (for tests and embedding), is in `config.rs`.
//!
//! What this module does not do: read a configuration file or any other
//! environment variable, or open what the settings name — the store is
//! opened and Redis connected to when the server binds (`check_url` reads
//! only the URL).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Config;
use crate::access::{AllowedOrigins, Secret};
use crate::store::{Durability, StoreKind};

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

/// The data directory when neither `--data` nor `--memory` is given.
pub const DEFAULT_DATA_DIR: &str = "rtweb-data";

/// What every Redis key starts with, when `--redis-prefix` is not given.
pub const DEFAULT_REDIS_PREFIX: &str = "rtweb:";

pub const USAGE: &str = "\
rtweb — a real-time web server: short polling, long polling, SSE and WebSocket

USAGE: rtweb [OPTIONS]

OPTIONS:
  --addr ADDR              listen address            [default: 127.0.0.1:8080]
  --threads N              event loops               [default: number of cores]
  --data DIR               keep channels in DIR (SQLite; created if missing)
                                                     [default: ./rtweb-data]
  --memory                 keep channels in memory only: lost on exit
  --sync normal|full       normal: an acknowledged message survives a crash;
                           full: a power loss too (fsync per commit) [default: normal]
  --redis URL              share channels with other nodes through Redis
                           (redis://HOST:PORT[/DB]); ids are assigned there
  --redis-prefix PREFIX    prefix of every Redis key rtweb uses [default: rtweb:]
  --retain N               messages kept per channel [default: 1000]
  --retain-for SECONDS     trim messages older than this, 0 = off [default: 0]
  --cache-bytes BYTES      recent messages kept in memory, all channels [default: 67108864]
  --max-message BYTES      largest published message [default: 65536]
  --head-timeout SECONDS   time to send a request head [default: 10]
  --idle-timeout SECONDS   keep-alive idle timeout   [default: 60]
  --max-pending BYTES      unsent bytes before a slow client is closed [default: 1048576]
  --sse-retry MS           retry: sent to EventSource [default: 2000]
  --sse-heartbeat SECONDS  comment line on quiet streams [default: 15]
  --sse-max-duration SECONDS  end streams after this long [default: off]
  --ws-ping SECONDS        ping idle WebSockets      [default: 30]
  --ws-max-duration SECONDS  close channel WebSockets after this long [default: off]
  --max-ws-message BYTES   largest WebSocket message, once inflated [default: 16777216]
  --ws-deflate on|off      accept permessage-deflate compression [default: on]
  --ticker SECONDS         publish the clock to channel `clock`, 0 = off [default: 1]
  --shutdown-timeout SECONDS  longest drain on SIGTERM/SIGINT [default: 10]
  --jwt-secret-file PATH   HS256 secret (at least 32 bytes) for access tokens;
                           publishing then needs a token [default: env
                           RTWEB_JWT_SECRET, else none: anyone may publish]
  --subscribe-needs-token  subscribing needs a token too
  --allow-origin ORIGIN[,ORIGIN...] | *
                           browser origins besides our own that may connect
                           (CORS for them) [default: none]
  --allow-host HOST[:PORT][,...]
                           Host names served besides 127.0.0.1, localhost, [::1]
                           [default: those only on loopback, any beyond it]
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

/// Parses the arguments after the program name, with the secret from
/// `RTWEB_JWT_SECRET` when no `--jwt-secret-file` is given.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    parse_args_with_env(args, std::env::var("RTWEB_JWT_SECRET").ok())
}

/// [`parse_args`] with the environment's secret passed in. The binary's
/// defaults differ from [`Config::default`] (one loop, no ticker, memory
/// store, no connection caps to speak of: the simple path the tests and a
/// reader take) in five places: one event loop per core, the ticker on,
/// channels kept in `./rtweb-data`, `--max-connections` from the fd limit
/// and `--max-connections-per-ip` 1000.
pub fn parse_args_with_env(
    args: impl IntoIterator<Item = String>,
    env_secret: Option<String>,
) -> Result<Command, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut config = Config {
        threads: cores,
        ticker: Some(Duration::from_secs(1)),
        max_connections: default_max_connections(),
        max_connections_per_ip: 1000,
        ..Config::default()
    };
    let mut data: Option<PathBuf> = None;
    let mut durability: Option<Durability> = None;
    let mut memory = false;
    let mut redis: Option<String> = None;
    let mut redis_prefix: Option<String> = None;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--memory" => {
                memory = true;
                continue;
            }
            _ => {}
        }
        if flag == "--subscribe-needs-token" {
            config.subscribe_needs_token = true;
            continue;
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
            "--data" => data = Some(PathBuf::from(&value)),
            "--sync" => {
                durability = Some(match value.as_str() {
                    "normal" => Durability::Normal,
                    "full" => Durability::Full,
                    _ => return Err(format!("--sync: `{value}` is not normal or full")),
                })
            }
            "--redis" => redis = Some(crate::store::redis::check_url(&value)?),
            "--redis-prefix" => redis_prefix = Some(value),
            "--retain" => config.retain = (number()? as usize).max(1),
            "--retain-for" => config.retain_for = Some(seconds()?).filter(|d| !d.is_zero()),
            "--cache-bytes" => config.cache_bytes = number()? as usize,
            "--shutdown-timeout" => config.shutdown_timeout = seconds()?,
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
            "--ws-deflate" => {
                config.ws_deflate = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--ws-deflate: `{value}` is not on or off")),
                }
            }
            "--ticker" => config.ticker = Some(seconds()?).filter(|d| !d.is_zero()),
            "--jwt-secret-file" => config.jwt_secret = Some(Secret::from_file(Path::new(&value))?),
            "--allow-origin" => config.allow_origin = AllowedOrigins::parse(&value)?,
            "--allow-host" => config.allow_host = Some(crate::access::origin::parse_hosts(&value)?),
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
    if redis.is_none() && redis_prefix.is_some() {
        return Err("--redis-prefix needs --redis URL".into());
    }
    config.store = match (memory, data, durability, redis) {
        (false, None, None, Some(url)) => StoreKind::Redis {
            url,
            prefix: redis_prefix.unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_owned()),
        },
        (_, _, _, Some(_)) => {
            return Err("--redis keeps channels in Redis: drop --memory, --data and --sync".into())
        }
        (true, None, None, None) => StoreKind::Memory,
        (true, _, _, None) => {
            return Err("--memory keeps nothing on disk: drop --data and --sync".into())
        }
        (false, dir, durability, None) => StoreKind::Sqlite {
            dir: dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            durability: durability.unwrap_or_default(),
        },
    };
    if config.jwt_secret.is_none() {
        config.jwt_secret = Secret::from_env(env_secret)?;
    }
    if config.subscribe_needs_token && config.jwt_secret.is_none() {
        return Err("--subscribe-needs-token needs a secret \
                    (--jwt-secret-file PATH or RTWEB_JWT_SECRET)"
            .into());
    }
    Ok(Command::Run(Box::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_with_env(args, None)
    }

    fn parse_with_env(args: &[&str], env: Option<&str>) -> Result<Command, String> {
        parse_args_with_env(args.iter().map(|s| s.to_string()), env.map(String::from))
    }

    fn run(args: &[&str], env: Option<&str>) -> Config {
        match parse_with_env(args, env) {
            Ok(Command::Run(config)) => *config,
            other => panic!("{other:?}"),
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn access_flags_set_fields() {
        let dir = std::env::temp_dir().join(format!("rtweb-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, format!("{SECRET}\n")).unwrap();
        let path = file.to_str().unwrap();
        let c = run(
            &[
                "--jwt-secret-file",
                path,
                "--subscribe-needs-token",
                "--allow-origin",
                "https://app.example,http://127.0.0.1:9000",
                "--allow-host",
                "rtweb.example",
            ],
            Some("another secret, from the environment"),
        );
        assert_eq!(c.jwt_secret.unwrap().as_bytes(), SECRET.as_bytes());
        assert!(c.subscribe_needs_token);
        assert!(matches!(c.allow_origin, AllowedOrigins::List(ref l) if l.len() == 2));
        assert_eq!(c.allow_host.unwrap()[0].host, "rtweb.example");
        std::fs::write(&file, "too short\n").unwrap();
        let err = parse(&["--jwt-secret-file", path]).unwrap_err();
        assert!(
            err.contains("the secret is 9 bytes; HS256 needs at least 32"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn access_defaults_are_open_and_the_environment_supplies_a_secret() {
        let c = run(&[], None);
        assert!(c.jwt_secret.is_none() && !c.subscribe_needs_token);
        assert_eq!(c.allow_origin, AllowedOrigins::OwnOnly);
        assert!(c.allow_host.is_none());
        let c = run(&["--allow-origin", "*"], Some(SECRET));
        assert_eq!(c.jwt_secret.unwrap().as_bytes(), SECRET.as_bytes());
        assert_eq!(c.allow_origin, AllowedOrigins::Any);
        assert!(parse_with_env(&[], Some("short"))
            .unwrap_err()
            .starts_with("RTWEB_JWT_SECRET:"));
        assert!(parse(&["--subscribe-needs-token"])
            .unwrap_err()
            .contains("needs a secret"));
        assert!(parse(&["--allow-origin", "evil"]).is_err());
        assert!(parse(&["--jwt-secret-file", "/nonexistent/rtweb"]).is_err());
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
    fn the_binary_keeps_channels_in_rtweb_data_by_default() {
        let Ok(Command::Run(c)) = parse(&[]) else {
            panic!()
        };
        let want = StoreKind::Sqlite {
            dir: PathBuf::from("rtweb-data"),
            durability: Durability::Normal,
        };
        assert_eq!(c.store, want);
        assert_eq!(c.retain_for, None);
        assert_eq!(c.cache_bytes, 64 * 1024 * 1024);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(Config::default().store, StoreKind::Memory);
    }

    #[test]
    fn storage_flags_set_fields() {
        let Ok(Command::Run(c)) = parse(&[
            "--data",
            "/srv/rt",
            "--sync",
            "full",
            "--retain-for",
            "3600",
            "--retain",
            "7",
            "--cache-bytes",
            "1000",
            "--shutdown-timeout",
            "2",
        ]) else {
            panic!()
        };
        let want = StoreKind::Sqlite {
            dir: PathBuf::from("/srv/rt"),
            durability: Durability::Full,
        };
        assert_eq!(c.store, want);
        let retention = c.retention();
        assert_eq!(retention.count, 7);
        assert_eq!(retention.age, Some(Duration::from_secs(3600)));
        assert_eq!(c.cache_bytes, 1000);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(2));

        // `--memory` takes no value; 0 turns retention by age off.
        let Ok(Command::Run(c)) = parse(&["--memory", "--retain-for", "0", "--retain", "3"]) else {
            panic!()
        };
        assert_eq!(c.store, StoreKind::Memory);
        assert_eq!(c.retain_for, None);
        assert_eq!(c.retain, 3);
    }

    #[test]
    fn redis_flags_choose_the_shared_store() {
        let Ok(Command::Run(c)) = parse(&["--redis", "redis://127.0.0.1:6379/2"]) else {
            panic!()
        };
        let want = StoreKind::Redis {
            url: "redis://127.0.0.1:6379/2".into(),
            prefix: DEFAULT_REDIS_PREFIX.into(),
        };
        assert_eq!(c.store, want);
        let Ok(Command::Run(c)) = parse(&["--redis-prefix", "a:", "--redis", "redis://h:1"]) else {
            panic!()
        };
        let want = StoreKind::Redis {
            url: "redis://h:1".into(),
            prefix: "a:".into(),
        };
        assert_eq!(c.store, want);
        let shared_and_local = "--redis keeps channels in Redis: drop --memory, --data and --sync";
        for flags in [
            &["--redis", "redis://h:1", "--memory"][..],
            &["--data", "d", "--redis", "redis://h:1"],
            &["--redis", "redis://h:1", "--sync", "full"],
        ] {
            assert_eq!(parse(flags).unwrap_err(), shared_and_local, "{flags:?}");
        }
        assert_eq!(
            parse(&["--redis-prefix", "x:"]).unwrap_err(),
            "--redis-prefix needs --redis URL"
        );
        assert!(parse(&["--redis", "http://h:1"])
            .unwrap_err()
            .starts_with("--redis: `http://h:1`"));
    }

    #[test]
    fn conflicting_storage_flags_are_explained() {
        let memory_and_disk = "--memory keeps nothing on disk: drop --data and --sync";
        assert_eq!(
            parse(&["--memory", "--data", "d"]).unwrap_err(),
            memory_and_disk
        );
        assert_eq!(
            parse(&["--sync", "full", "--memory"]).unwrap_err(),
            memory_and_disk
        );
        assert_eq!(
            parse(&["--sync", "always"]).unwrap_err(),
            "--sync: `always` is not normal or full"
        );
        assert_eq!(parse(&["--data"]).unwrap_err(), "--data needs a value");
    }

    #[test]
    fn ws_deflate_is_on_unless_turned_off() {
        let deflate = |args: &[&str]| match parse(args) {
            Ok(Command::Run(c)) => Ok(c.ws_deflate),
            Ok(Command::Help) => panic!(),
            Err(e) => Err(e),
        };
        assert_eq!(deflate(&[]), Ok(true));
        assert_eq!(deflate(&["--ws-deflate", "off"]), Ok(false));
        assert_eq!(deflate(&["--ws-deflate", "on"]), Ok(true));
        assert_eq!(
            deflate(&["--ws-deflate", "yes"]),
            Err("--ws-deflate: `yes` is not on or off".to_owned())
        );
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
