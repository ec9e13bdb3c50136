//! Counters for `GET /stats` (JSON) and `GET /metrics` (the Prometheus
//! text exposition format, version 0.0.4): connections by kind, requests by
//! status, messages, bytes, and every refusal and close by reason.
//!
//! Atomics, so every event loop adds to the same numbers without a lock;
//! `Relaxed` is enough because each counter is read on its own.
//!
//! # Adding a counter
//!
//! Everything `/metrics` shows beyond the named fields is one table: a
//! variant of [`Count`] and its row in [`ROWS`] (its metric family and
//! labels). A new family is one more [`Family`] constant. Count with
//! `stats.count(Count::…)`; the exposition, `# HELP` and `# TYPE` lines
//! included, follows from the table.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// What a connection is doing, for the per-kind gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    Http,
    LongPoll,
    Sse,
    WebSocket,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub connections_http: AtomicU64,
    pub connections_longpoll: AtomicU64,
    pub connections_sse: AtomicU64,
    pub connections_websocket: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub requests: AtomicU64,
    pub messages_published: AtomicU64,
    pub messages_delivered: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// A graceful shutdown is under way.
    pub draining: AtomicBool,
    /// Responses by status, indexed like [`STATUSES`] (the last: others).
    responses: [AtomicU64; STATUSES.len() + 1],
    /// The table: one counter per [`Count`].
    counts: [AtomicU64; ROWS.len()],
    /// permessage-deflate: message payloads we compressed, before and after.
    pub ws_deflate_payload_bytes_out: AtomicU64,
    pub ws_deflate_compressed_bytes_out: AtomicU64,
    /// Compressed messages received, before and after inflating.
    pub ws_deflate_compressed_bytes_in: AtomicU64,
    pub ws_deflate_payload_bytes_in: AtomicU64,
    /// With `--redis`: whether this node reaches Redis now.
    pub redis: std::sync::OnceLock<std::sync::Arc<crate::store::redis::Health>>,
}

/// A metric family: its name, type and help line.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: &'static str,
    pub help: &'static str,
}

pub const REFUSALS: Family = Family {
    name: "rtweb_refusals_total",
    kind: "counter",
    help: "Requests, connections and messages refused by a limit, by reason.",
};
pub const CLOSES: Family = Family {
    name: "rtweb_closes_total",
    kind: "counter",
    help: "Connections closed by the server before the client was done, by reason.",
};

/// What the table counts. The order is `ROWS`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// `--max-connections`: `503` at accept.
    RefusedMaxConnections,
    /// `--max-connections-per-ip`: `503` at accept.
    RefusedMaxConnectionsPerIp,
    /// `--max-buffered`: a body (`503`) or a WebSocket message (`1009`).
    RefusedMaxBuffered,
    /// `--max-channels`: `507`.
    RefusedMaxChannels,
    /// `408`: the head did not arrive within `--head-timeout`.
    ClosedHeadTimeout,
    /// `408`: the body paused longer than `--body-timeout` or took longer
    /// than `--body-total-timeout`.
    ClosedBodyTimeout,
    /// A keep-alive connection idle for `--idle-timeout`.
    ClosedIdle,
    /// Output made no progress for `--send-timeout`.
    ClosedSendTimeout,
    /// A stream subscriber more than `--max-pending` behind.
    ClosedSlowSubscriber,
    /// A WebSocket that answered no ping within `--ws-ping`.
    ClosedNoPong,
    /// `401`: a token was needed and none was sent.
    RefusedNoToken,
    /// `401`: a token that is malformed, badly signed or expired.
    RefusedBadToken,
    /// `403`: a token without the right for the channel.
    RefusedForbiddenChannel,
    /// `403`: a page from an origin not allowed (`--allow-origin`).
    RefusedOrigin,
    /// `421`: a `Host` not served (`--allow-host`).
    RefusedHost,
}

/// One row of the table: a counter's family and labels.
#[derive(Debug)]
pub struct Row {
    pub count: Count,
    pub family: &'static Family,
    pub labels: &'static str,
}

pub const ROWS: [Row; 15] = [
    row(
        Count::RefusedMaxConnections,
        &REFUSALS,
        r#"reason="max_connections""#,
    ),
    row(
        Count::RefusedMaxConnectionsPerIp,
        &REFUSALS,
        r#"reason="max_connections_per_ip""#,
    ),
    row(
        Count::RefusedMaxBuffered,
        &REFUSALS,
        r#"reason="max_buffered""#,
    ),
    row(
        Count::RefusedMaxChannels,
        &REFUSALS,
        r#"reason="max_channels""#,
    ),
    row(
        Count::ClosedHeadTimeout,
        &CLOSES,
        r#"reason="head_timeout""#,
    ),
    row(
        Count::ClosedBodyTimeout,
        &CLOSES,
        r#"reason="body_timeout""#,
    ),
    row(Count::ClosedIdle, &CLOSES, r#"reason="idle_timeout""#),
    row(
        Count::ClosedSendTimeout,
        &CLOSES,
        r#"reason="send_timeout""#,
    ),
    row(
        Count::ClosedSlowSubscriber,
        &CLOSES,
        r#"reason="max_pending""#,
    ),
    row(Count::ClosedNoPong, &CLOSES, r#"reason="ws_ping_timeout""#),
    row(Count::RefusedNoToken, &REFUSALS, r#"reason="no_token""#),
    row(Count::RefusedBadToken, &REFUSALS, r#"reason="bad_token""#),
    row(
        Count::RefusedForbiddenChannel,
        &REFUSALS,
        r#"reason="forbidden_channel""#,
    ),
    row(Count::RefusedOrigin, &REFUSALS, r#"reason="origin""#),
    row(Count::RefusedHost, &REFUSALS, r#"reason="host""#),
];

const fn row(count: Count, family: &'static Family, labels: &'static str) -> Row {
    Row {
        count,
        family,
        labels,
    }
}

/// Statuses counted each on its own line; any other counts as `other`.
pub const STATUSES: [u16; 19] = [
    101, 200, 204, 400, 401, 403, 404, 405, 408, 413, 414, 421, 429, 431, 500, 501, 503, 505, 507,
];

impl Stats {
    fn gauge(&self, kind: ConnKind) -> &AtomicU64 {
        match kind {
            ConnKind::Http => &self.connections_http,
            ConnKind::LongPoll => &self.connections_longpoll,
            ConnKind::Sse => &self.connections_sse,
            ConnKind::WebSocket => &self.connections_websocket,
        }
    }

    /// A connection changes kind (or appears: `from` is `None`; or goes: `to` is `None`).
    pub fn switch(&self, from: Option<ConnKind>, to: Option<ConnKind>) {
        if let Some(kind) = from {
            self.gauge(kind).fetch_sub(1, Relaxed);
        }
        if let Some(kind) = to {
            self.gauge(kind).fetch_add(1, Relaxed);
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Adds one to a counter of the table.
    pub fn count(&self, count: Count) {
        self.counts[count as usize].fetch_add(1, Relaxed);
    }

    /// A counter of the table, now.
    pub fn get(&self, count: Count) -> u64 {
        self.counts[count as usize].load(Relaxed)
    }

    /// Counts a response (or a stream's opening head) by its status.
    pub fn response(&self, status: u16) {
        let i = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len());
        self.responses[i].fetch_add(1, Relaxed);
    }

    /// Everything, in the Prometheus text exposition format 0.0.4: for each
    /// family a `# HELP` and a `# TYPE` line, then one sample per line,
    /// `name{labels} value`. `gauges` are the caller's extra gauges (name,
    /// help, value), e.g. the bytes held now against `--max-buffered`.
    pub fn to_prometheus(&self, gauges: &[(&str, &str, u64)]) -> String {
        let get = |c: &AtomicU64| c.load(Relaxed);
        let mut text = String::with_capacity(4096);
        let family = |text: &mut String, name: &str, kind: &str, help: &str| {
            let _ = write!(text, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        };
        family(
            &mut text,
            "rtweb_connections",
            "gauge",
            "Open connections by what they are doing.",
        );
        for (kind, counter) in [
            ("http", &self.connections_http),
            ("longpoll", &self.connections_longpoll),
            ("sse", &self.connections_sse),
            ("websocket", &self.connections_websocket),
        ] {
            let _ = writeln!(
                text,
                "rtweb_connections{{kind=\"{kind}\"}} {}",
                get(counter)
            );
        }
        let totals = [
            (
                "rtweb_connections_accepted_total",
                "Connections accepted.",
                &self.connections_accepted,
            ),
            (
                "rtweb_messages_published_total",
                "Messages published.",
                &self.messages_published,
            ),
            (
                "rtweb_messages_delivered_total",
                "Messages sent to subscribers and pollers.",
                &self.messages_delivered,
            ),
            (
                "rtweb_received_bytes_total",
                "Bytes read from clients.",
                &self.bytes_in,
            ),
            (
                "rtweb_sent_bytes_total",
                "Bytes written to clients.",
                &self.bytes_out,
            ),
            (
                "rtweb_ws_deflate_payload_bytes_out_total",
                "WebSocket message payloads compressed (permessage-deflate), before compressing.",
                &self.ws_deflate_payload_bytes_out,
            ),
            (
                "rtweb_ws_deflate_compressed_bytes_out_total",
                "The same payloads after compressing.",
                &self.ws_deflate_compressed_bytes_out,
            ),
            (
                "rtweb_ws_deflate_compressed_bytes_in_total",
                "Compressed WebSocket message payloads received.",
                &self.ws_deflate_compressed_bytes_in,
            ),
            (
                "rtweb_ws_deflate_payload_bytes_in_total",
                "The same payloads after inflating.",
                &self.ws_deflate_payload_bytes_in,
            ),
        ];
        for (name, help, counter) in totals {
            family(&mut text, name, "counter", help);
            let _ = writeln!(text, "{name} {}", get(counter));
        }
        family(
            &mut text,
            "rtweb_responses_total",
            "counter",
            "Responses by status code (a stream counts once, at its head).",
        );
        for (i, counter) in self.responses.iter().enumerate() {
            let status = STATUSES
                .get(i)
                .map_or("other".to_owned(), |s| s.to_string());
            let _ = writeln!(
                text,
                "rtweb_responses_total{{status=\"{status}\"}} {}",
                get(counter)
            );
        }
        let mut seen: Vec<&str> = Vec::new();
        for row in &ROWS {
            if !seen.contains(&row.family.name) {
                seen.push(row.family.name);
                family(&mut text, row.family.name, row.family.kind, row.family.help);
                for member in ROWS.iter().filter(|r| r.family.name == row.family.name) {
                    let _ = writeln!(
                        text,
                        "{}{{{}}} {}",
                        member.family.name,
                        member.labels,
                        self.get(member.count)
                    );
                }
            }
        }
        for (name, help, value) in gauges {
            family(&mut text, name, "gauge", help);
            let _ = writeln!(text, "{name} {value}");
        }
        text
    }

    pub fn to_json(&self) -> String {
        let get = |c: &AtomicU64| c.load(Relaxed);
        let redis = self.redis.get().map_or(String::new(), |health| {
            format!(
                ",\"redis\":{{\"state\":\"{}\",\"reconnects\":{}}}",
                health.state(),
                get(&health.reconnects)
            )
        });
        format!(
            concat!(
                "{{\"connections\":{{\"http\":{},\"longpoll\":{},\"sse\":{},\"websocket\":{}}},",
                "\"connections_accepted\":{},\"requests\":{},",
                "\"messages_published\":{},\"messages_delivered\":{},",
                "\"bytes_in\":{},\"bytes_out\":{},\"draining\":{},",
                "\"ws_deflate\":{{\"payload_bytes_out\":{},\"compressed_bytes_out\":{},",
                "\"compressed_bytes_in\":{},\"payload_bytes_in\":{}}}{}}}"
            ),
            get(&self.connections_http),
            get(&self.connections_longpoll),
            get(&self.connections_sse),
            get(&self.connections_websocket),
            get(&self.connections_accepted),
            get(&self.requests),
            get(&self.messages_published),
            get(&self.messages_delivered),
            get(&self.bytes_in),
            get(&self.bytes_out),
            self.draining.load(Relaxed),
            get(&self.ws_deflate_payload_bytes_out),
            get(&self.ws_deflate_compressed_bytes_out),
            get(&self.ws_deflate_compressed_bytes_in),
            get(&self.ws_deflate_payload_bytes_in),
            redis,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_in_count_order() {
        for (i, row) in ROWS.iter().enumerate() {
            assert_eq!(row.count as usize, i, "{:?}", row.count);
        }
    }

    #[test]
    fn every_sample_follows_its_help_and_type() {
        let stats = Stats::default();
        stats.count(Count::ClosedSendTimeout);
        stats.response(200);
        stats.response(299);
        let text = stats.to_prometheus(&[("rtweb_buffered_bytes", "Held now.", 7)]);
        assert!(text.contains("rtweb_closes_total{reason=\"send_timeout\"} 1\n"));
        assert!(text.contains("rtweb_responses_total{status=\"200\"} 1\n"));
        assert!(text.contains("rtweb_responses_total{status=\"other\"} 1\n"));
        assert!(text.ends_with("rtweb_buffered_bytes 7\n"));
        let mut typed = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.push(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(typed.last().map(String::as_str), Some(name), "{line}");
            }
        }
    }
}
