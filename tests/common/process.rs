//! A real `rtweb` process, for tests where restarts, signals or the whole
//! process's memory matter. It listens on a free loopback port and says
//! where on its first line of output; dropping the handle kills it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    /// Kept open: a closed pipe would make a later line fail to print.
    _stdout: BufReader<ChildStdout>,
}

impl ServerProcess {
    /// Starts `rtweb --addr 127.0.0.1:0 --ticker 0 ARGS…` and waits for its
    /// "listening on" line. Without `--data`, `--memory` or `--redis` in
    /// `args`, the store is a fresh directory of its own (never `./rtweb-data`).
    pub fn start(args: &[&str]) -> ServerProcess {
        let own_data = !args
            .iter()
            .any(|a| matches!(*a, "--data" | "--memory" | "--redis"));
        let data = fresh_data_dir();
        // RTWEB_BIN runs another build (e.g. target/release/rtweb, for
        // measurements that should not be a debug build's).
        let binary = std::env::var("RTWEB_BIN").unwrap_or(env!("CARGO_BIN_EXE_rtweb").to_owned());
        let mut command = Command::new(binary);
        command.args(["--addr", "127.0.0.1:0", "--ticker", "0"]);
        if own_data {
            command.arg("--data").arg(&data);
        }
        let mut child = command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rtweb");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        ServerProcess {
            child,
            addr,
            _stdout: stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`"TERM"`, `"INT"`, `"KILL"`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resident memory in KiB, from /proc/PID/status.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// A directory no other test uses, under cargo's temporary directory for
/// integration tests (`target/tmp`).
pub fn fresh_data_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("rtweb-data-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// CPU time the process has used (user + system), in clock ticks
    /// (`/proc/PID/stat` fields 14 and 15; 100 per second on Linux).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("read /proc/PID/stat");
        // The command name (field 2) is in parentheses and may hold spaces.
        let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        // after_name starts at field 3; utime is field 14, stime 15.
        let ticks = |i: usize| fields[i - 3].parse::<u64>().expect("tick count");
        ticks(14) + ticks(15)
    }
}
