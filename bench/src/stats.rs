//! Percentiles of latency samples, and the one-line result format.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch: the clock publishers stamp messages
/// with, and subscribers compare against (same machine, same clock).
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
}

/// Latency samples in microseconds.
#[derive(Default)]
pub struct Samples(pub Vec<u64>);

impl Samples {
    pub fn push(&mut self, micros: u64) {
        self.0.push(micros);
    }

    /// The p-th percentile (0..=100), or 0 with no samples.
    pub fn percentile(&mut self, p: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[rank]
    }
}

/// Prints `scenario=… key=value …` on one line: what compare.sh parses.
pub fn report(fields: &[(&str, String)]) {
    let line: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{}", line.join(" "));
}
