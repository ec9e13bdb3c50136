//! `longpoll-wake`: N parked long polls and one publish — the time until
//! all N have their answer; then one client long-polling in a loop while M
//! messages are published, which must lose nothing.
//!
//! rtweb resumes with `after=last_id`; Nchan with the `Last-Modified` and
//! `Etag` of its previous answer (`If-Modified-Since`, `If-None-Match`).
//!
//! The measurement window is the wake-up: from the publish (all N parked)
//! until the last answer. The result line carries both sides' CPU time
//! over it, the server's per wake, and `bound=client` when the client's
//! core was saturated (see `cpu.rs`). Over a wake-up of tens of
//! milliseconds the clock tick (10 ms) makes these coarse.

use std::time::{Duration, Instant};

use crate::cpu::Window;
use crate::net::{header, take_response, Net};
use crate::scenarios::fanout::scan_markers;
use crate::stats::{report, unix_nanos};
use crate::target::{get, post, Kind, Target};

pub struct Params {
    pub waiters: usize,
    pub messages: u64,
}

pub fn run(target: &Target, p: &Params) {
    let channel = format!("lp{}", unix_nanos() % 1_000_000_000);
    let mut net = Net::new();
    let request = get(&target.longpoll(&channel), "");
    for batch in (0..p.waiters).step_by(500) {
        for _ in batch..(batch + 500).min(p.waiters) {
            let id = net.connect(target.addr);
            net.send(id, &request);
        }
        // Let the batch connect before the next (listen backlog).
        net.run_until(Duration::from_millis(100), |_, _| false);
    }
    wait_for_subscribers(&mut net, target, &channel, p.waiters);

    let publisher = net.connect(target.addr);
    let window = Window::start(&target.pids);
    let start = Instant::now();
    net.send(publisher, &post(&target.publish(&channel), b"#1:0#wake"));
    let mut answered = vec![false; p.waiters];
    let mut count = 0u64;
    let all = net.run_until(Duration::from_secs(60), |net, ready| {
        for &id in ready {
            if id < p.waiters && !answered[id] && take_response(&mut net.conns[id].input).is_some()
            {
                answered[id] = true;
                count += 1;
            }
        }
        count == p.waiters as u64
    });
    let wake_ms = start.elapsed().as_secs_f64() * 1000.0;
    let usage = window.finish();
    assert!(
        all,
        "only {count} of {} long polls were answered",
        p.waiters
    );

    let (lost, requests) = resume_loop(target, &channel, p.messages);
    let mut fields = vec![
        ("scenario", "longpoll-wake".into()),
        ("target", target.name().into()),
        ("waiters", p.waiters.to_string()),
        ("all_answered_ms", format!("{wake_ms:.1}")),
        ("loop_messages", p.messages.to_string()),
        ("loop_requests", requests.to_string()),
        ("lost", lost.to_string()),
    ];
    fields.extend(usage.fields(count));
    report(&fields);
}

/// Publishes `messages` while one client long-polls in a loop; returns the
/// messages it missed and the requests it made.
fn resume_loop(target: &Target, channel: &str, messages: u64) -> (u64, u64) {
    let mut net = Net::new();
    let (client, publisher) = (net.connect(target.addr), net.connect(target.addr));
    let publish = target.publish(channel);
    let base = format!(
        "{}?",
        target
            .longpoll(channel)
            .split('?')
            .next()
            .unwrap_or_default()
    );
    // Start after the wake-up message (id 1 on both servers).
    let mut after = 1u64;
    let mut cache_headers = String::new();
    let next_request = |after: u64, cache: &str| match target.kind {
        Kind::Nchan => get(&base[..base.len() - 1], cache),
        _ => get(&format!("{base}timeout=110&after={after}"), ""),
    };
    if target.kind == Kind::Nchan {
        // Nchan's first long poll would return the oldest message: ask the
        // channel for its newest first to get the cache headers.
        cache_headers =
            "If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\nIf-None-Match: 0\r\n".into();
    }
    net.send(client, &next_request(after, &cache_headers));
    let (mut published, mut next_seq, mut lost, mut requests) = (0u64, 2u64, 0u64, 1u64);
    let done = net.run_until(Duration::from_secs(120), |net, ready| {
        if published < messages && net.conns[publisher].input.is_empty() {
            published += 1;
            let body = format!("#{}:0#", published + 1);
            net.send(publisher, &post(&publish, body.as_bytes()));
        }
        for &id in ready {
            if id == publisher {
                while take_response(&mut net.conns[id].input).is_some() {}
                continue;
            }
            while let Some((head, mut body)) = take_response(&mut net.conns[id].input) {
                if target.kind != Kind::Nchan {
                    after = last_id(&String::from_utf8_lossy(&body)).unwrap_or(after);
                }
                scan_markers(&mut body, |seq, _| {
                    if seq > next_seq {
                        lost += seq - next_seq;
                    }
                    next_seq = next_seq.max(seq + 1);
                });
                if target.kind == Kind::Nchan {
                    let modified = header(&head, "last-modified").unwrap_or("").to_owned();
                    let etag = header(&head, "etag").unwrap_or("").to_owned();
                    cache_headers =
                        format!("If-Modified-Since: {modified}\r\nIf-None-Match: {etag}\r\n");
                }
                requests += 1;
                net.send(client, &next_request(after, &cache_headers));
            }
        }
        next_seq > messages + 1
    });
    if !done {
        lost += messages + 2 - next_seq;
    }
    (lost, requests)
}

fn last_id(json: &str) -> Option<u64> {
    let at = json.find("\"last_id\":")? + 10;
    json[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Waits until the server reports `count` long-poll subscribers, driving
/// `waiting` meanwhile (requests queued behind a slow connect go out).
fn wait_for_subscribers(waiting: &mut Net, target: &Target, channel: &str, count: usize) {
    let (path, key) = match target.kind {
        Kind::Nchan => (target.publish(channel), "\"subscribers\": "),
        _ => ("/stats".to_owned(), "\"longpoll\":"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let mut net = Net::new();
        let id = net.connect(target.addr);
        net.send(id, &get(&path, "Accept: text/json\r\n"));
        let mut seen = 0usize;
        net.run_until(Duration::from_secs(5), |net, _| {
            match take_response(&mut net.conns[id].input) {
                Some((_, body)) => {
                    let text = String::from_utf8_lossy(&body);
                    seen = text
                        .find(key)
                        .and_then(|at| {
                            text[at + key.len()..]
                                .split(|c: char| !c.is_ascii_digit())
                                .next()?
                                .parse()
                                .ok()
                        })
                        .unwrap_or(0);
                    true
                }
                None => false,
            }
        });
        if seen >= count {
            return;
        }
        waiting.run_until(Duration::from_millis(50), |_, _| false);
    }
    panic!("the server never reported {count} parked long polls");
}
