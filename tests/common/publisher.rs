//! A publisher that survives the server (or its store) failing under it:
//! it reports what became of each POST instead of panicking, so a test can
//! count what was acknowledged before a `kill -9` or during an outage.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Publisher {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Publisher {
    pub fn connect(addr: SocketAddr) -> Publisher {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Publisher {
            stream,
            buffer: Vec::new(),
        }
    }

    /// POSTs `text`; the id it was acknowledged with, or `None` when it was
    /// refused or the connection failed.
    pub fn publish(&mut self, channel: &str, text: &str) -> Option<u64> {
        match self.send(channel, text)? {
            (200, body) => serde_json::from_slice::<serde_json::Value>(&body).ok()?["id"].as_u64(),
            _ => None,
        }
    }

    /// POSTs `text`; the status and body of the answer, or `None` when the
    /// connection failed first.
    pub fn send(&mut self, channel: &str, text: &str) -> Option<(u16, Vec<u8>)> {
        let request = format!(
            "POST /ch/{channel} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        self.stream.write_all(request.as_bytes()).ok()?;
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))?
                    .parse()
                    .ok()?;
                if self.buffer.len() >= end + 4 + length {
                    let body: Vec<u8> = self
                        .buffer
                        .drain(..end + 4 + length)
                        .skip(end + 4)
                        .collect();
                    let status = head.get(9..12)?.parse().ok()?;
                    return Some((status, body));
                }
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
