//! An event-stream parser that follows the WHATWG HTML standard's algorithm
//! ("Server-sent events", §9.2.6 "Interpreting an event stream"), written
//! for the tests and the fuzz target so that everything rtweb sends is read
//! the way a browser's EventSource reads it. Standalone: no dependencies.

#![allow(dead_code)]

/// A dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type (`message` unless an `event:` field said otherwise).
    pub kind: String,
    pub data: String,
    /// The last event ID at dispatch time.
    pub last_event_id: String,
}

#[derive(Debug, Default)]
pub struct EventStreamParser {
    /// Bytes of an incomplete line (and of an incomplete UTF-8 sequence).
    pending: Vec<u8>,
    /// The previous line ended in CR: a following LF belongs to it.
    after_cr: bool,
    started: bool,
    data: String,
    event_type: String,
    last_event_id_buffer: String,
    last_event_id: String,
    /// The reconnection time from the last valid `retry:` field.
    pub retry: Option<u64>,
    /// Comment lines seen (heartbeats).
    pub comments: usize,
}

impl EventStreamParser {
    /// Feeds bytes; returns the events dispatched by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in bytes {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue; // the LF of a CRLF
                }
            }
            match byte {
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    let raw = std::mem::take(&mut self.pending);
                    // The stream is decoded as UTF-8 with replacement.
                    let mut line = String::from_utf8_lossy(&raw).into_owned();
                    if !self.started {
                        self.started = true;
                        if let Some(rest) = line.strip_prefix('\u{feff}') {
                            line = rest.to_owned();
                        }
                    }
                    if let Some(event) = self.process_line(&line) {
                        events.push(event);
                    }
                }
                _ => self.pending.push(byte),
            }
        }
        events
    }

    fn process_line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            self.comments += 1;
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event_type = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_event_id_buffer = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        self.last_event_id = self.last_event_id_buffer.clone();
        if self.data.is_empty() {
            self.event_type.clear();
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        let kind = match std::mem::take(&mut self.event_type) {
            t if t.is_empty() => "message".to_owned(),
            t => t,
        };
        Some(Event {
            kind,
            data,
            last_event_id: self.last_event_id.clone(),
        })
    }
}

/// What a text looks like after a trip through an event stream: every line
/// break (CRLF, LF or CR) becomes LF — the format cannot say which it was.
pub fn normalize_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}
