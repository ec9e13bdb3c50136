//! A real `redis-server` for the cluster tests (issue 14): on a free
//! loopback port, in a temporary directory of its own, stopped by PID.
//!
//! Without `redis-server` on the PATH the tests that need it print that they
//! were skipped and why; with `RTWEB_REQUIRE_REDIS=1` (set by `.ci/run`) a
//! missing `redis-server` fails them, so CI never skips them silently.
//! [`RedisServer::command`] speaks RESP by hand (no client crate), so a test
//! can look at Redis without trusting the code under test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

use super::READ_TIMEOUT;

pub struct RedisServer {
    child: Child,
    port: u16,
    aof: bool,
    /// Kept across [`RedisServer::restart`]: the AOF file lives here.
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one, or `None` (with the reason on stderr) when the machine
    /// has no `redis-server` and CI did not require it.
    pub fn start(aof: bool) -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            let required = std::env::var("RTWEB_REQUIRE_REDIS").as_deref() == Ok("1");
            assert!(
                !required,
                "RTWEB_REQUIRE_REDIS=1 but no redis-server on the PATH"
            );
            eprintln!("SKIPPED: no redis-server on the PATH (apt-get install -y redis-server)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let port = free_port();
        let child = spawn(port, aof, &dir);
        Some(RedisServer {
            child,
            port,
            aof,
            dir,
        })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it by PID (SIGKILL: what a crash looks like), then starts it
    /// again on the same port from the same directory.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Starts it again after [`RedisServer::stop`]: same port, same directory.
    pub fn start_again(&mut self) {
        self.child = spawn(self.port, self.aof, &self.dir);
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends one command as a RESP array of bulk strings and returns the
    /// reply's first line (enough for `+OK`, `:N`, `$N` headers) followed by
    /// a bulk string's payload, if any.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("redis reply");
        let line = line.trim_end().to_string();
        match line
            .strip_prefix('$')
            .map(|n| n.parse::<i64>().expect("bulk length"))
        {
            Some(len) if len >= 0 => {
                let mut payload = vec![0; len as usize + 2];
                reader.read_exact(&mut payload).expect("bulk payload");
                payload.truncate(len as usize);
                String::from_utf8(payload).expect("UTF-8 bulk")
            }
            _ => line,
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("free port");
    listener.local_addr().unwrap().port()
}

/// Starts `redis-server` in the foreground and returns once it logs that it
/// accepts connections (a read of its stdout, which ends if it exits).
fn spawn(port: u16, aof: bool, dir: &tempfile::TempDir) -> Child {
    let mut child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
        ])
        .args(["--appendonly", if aof { "yes" } else { "no" }])
        .args(["--appendfsync", "always", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let mut log = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let read = log.read_line(&mut line).expect("redis-server log");
        assert!(
            read > 0,
            "redis-server on port {port} exited before it was ready"
        );
        if line.contains("Ready to accept connections") {
            break;
        }
    }
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    child
}
