//! CPU time over the measurement window, from `/proc`: the client's own
//! (`/proc/self/stat`), the server's (`/proc/PID/stat` of each server
//! process, all threads), and how busy the client's core was
//! (`/proc/stat`, every process on that core).
//!
//! This is what says who set a number: a client whose core was ≥ 95 %
//! busy could not send faster, so that run measured the client, not the
//! server (`compare.sh` then quotes no ratio from it).
//!
//! Resolution is the kernel's clock tick (`USER_HZ`, 10 ms): over a window
//! of seconds, well under 1 %.

use std::time::Instant;

/// Linux reports process times in `USER_HZ` ticks, fixed at 100 for
/// user space on every architecture rtweb runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// A core at or above this share busy is saturated: the run was client-bound.
pub const SATURATED_PERCENT: f64 = 95.0;

/// CPU counters read at the start of the window.
pub struct Window {
    started: Instant,
    client_ticks: u64,
    server_ticks: Option<u64>,
    server_pids: Vec<u32>,
    core: Option<usize>,
    core_start: Option<CoreTicks>,
}

/// What the window measured.
pub struct Usage {
    pub seconds: f64,
    pub client_cpu_s: f64,
    /// None without `--pid` (or once a server process is gone).
    pub server_cpu_s: Option<f64>,
    /// The client's core, busy with anything (the client, other processes,
    /// interrupts), as a percentage of the window.
    pub load_core_busy_pct: Option<f64>,
}

impl Usage {
    pub fn client_cpu_pct(&self) -> f64 {
        100.0 * self.client_cpu_s / self.seconds
    }

    /// The client could not have sent faster: its core was saturated.
    pub fn client_bound(&self) -> bool {
        self.load_core_busy_pct
            .unwrap_or(0.0)
            .max(self.client_cpu_pct())
            >= SATURATED_PERCENT
    }

    /// The result-line fields: `client_cpu_s`, `server_cpu_s`,
    /// `client_cpu_pct`, `load_core`/`load_core_busy_pct`, `bound`, and
    /// `server_us_per_op` (server CPU per counted operation).
    pub fn fields(&self, operations: u64) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("client_cpu_s", format!("{:.3}", self.client_cpu_s)),
            ("client_cpu_pct", format!("{:.1}", self.client_cpu_pct())),
        ];
        if let Some(busy) = self.load_core_busy_pct {
            out.push(("load_core_busy_pct", format!("{busy:.1}")));
        }
        if let Some(server) = self.server_cpu_s {
            out.push(("server_cpu_s", format!("{server:.3}")));
            if operations > 0 {
                out.push((
                    "server_us_per_op",
                    format!("{:.3}", server * 1e6 / operations as f64),
                ));
            }
        }
        out.push((
            "bound",
            if self.client_bound() {
                "client"
            } else {
                "server"
            }
            .into(),
        ));
        out
    }
}

impl Window {
    pub fn start(server_pids: &[u32]) -> Window {
        let core = own_core();
        Window {
            started: Instant::now(),
            client_ticks: process_ticks("self").expect("/proc/self/stat"),
            server_ticks: server_ticks(server_pids),
            server_pids: server_pids.to_vec(),
            core,
            core_start: core.and_then(core_ticks),
        }
    }

    pub fn finish(&self) -> Usage {
        let seconds = self.started.elapsed().as_secs_f64();
        let client = process_ticks("self").expect("/proc/self/stat") - self.client_ticks;
        let server = self
            .server_ticks
            .zip(server_ticks(&self.server_pids))
            .map(|(before, after)| after.saturating_sub(before) as f64 / TICKS_PER_SECOND);
        let busy = self
            .core_start
            .zip(self.core.and_then(core_ticks))
            .and_then(|(before, after)| {
                let total = after.total - before.total;
                (total > 0).then(|| 100.0 * (after.busy - before.busy) as f64 / total as f64)
            });
        Usage {
            seconds,
            client_cpu_s: client as f64 / TICKS_PER_SECOND,
            server_cpu_s: server,
            load_core_busy_pct: busy,
        }
    }
}

/// utime + stime of a process, all its threads, in ticks.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields
    // after the last ')'. There, field 3 (state) is index 0, so utime (14)
    // and stime (15) are 11 and 12.
    let rest: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
}

fn server_ticks(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| process_ticks(&pid.to_string())).sum()
}

/// The core this process last ran on (`processor`, field 39): with the load
/// pinned by `taskset -c`, the one it always runs on.
fn own_core() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    rest.get(36)?.parse().ok()
}

#[derive(Clone, Copy)]
struct CoreTicks {
    busy: u64,
    total: u64,
}

/// One core's line of `/proc/stat`: busy is everything but idle and iowait.
fn core_ticks(core: usize) -> Option<CoreTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{core}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    Some(CoreTicks {
        busy: total - idle,
        total,
    })
}
