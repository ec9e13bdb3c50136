//! `poll-rate`: K keep-alive connections each asking `/poll` again as soon
//! as the last answer arrives; requests/s and latency percentiles.

use std::time::{Duration, Instant};

use crate::net::{take_response, Net};
use crate::stats::{report, Samples};
use crate::target::{get, Target};

pub struct Params {
    pub conns: usize,
    pub seconds: u64,
}

pub fn run(target: &Target, p: &Params) {
    let mut net = Net::new();
    let request = get(&target.poll("pollrate"), "");
    let start = Instant::now();
    let mut sent_at = vec![start; p.conns];
    for (id, at) in sent_at.iter_mut().enumerate() {
        assert_eq!(net.connect(target.addr), id);
        net.send(id, &request);
        *at = Instant::now();
    }
    let warmup_end = start + Duration::from_secs(1);
    let end = warmup_end + Duration::from_secs(p.seconds);
    let (mut answered, mut latency, mut statuses_ok) = (0u64, Samples::default(), true);
    while Instant::now() < end {
        let ready = net.poll_once(Duration::from_millis(5)).to_vec();
        let now = Instant::now();
        for id in ready {
            while let Some((head, _)) = take_response(&mut net.conns[id].input) {
                statuses_ok &= head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.1 304");
                if now >= warmup_end {
                    answered += 1;
                    latency.push(now.duration_since(sent_at[id]).as_micros() as u64);
                }
                net.send(id, &request);
                sent_at[id] = now;
            }
        }
    }
    assert!(statuses_ok, "a poll was not answered 200 or 304");
    report(&[
        ("scenario", "poll-rate".into()),
        ("target", target.name().into()),
        ("conns", p.conns.to_string()),
        ("requests_per_s", format!("{:.0}", answered as f64 / p.seconds as f64)),
        ("p50_us", latency.percentile(50.0).to_string()),
        ("p99_us", latency.percentile(99.0).to_string()),
    ]);
}
