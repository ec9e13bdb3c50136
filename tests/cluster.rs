//! Several rtweb nodes sharing channels through one Redis (issue 14).
//!
//! So far: the real `redis-server` fixture every cluster test stands on.

mod common;

use common::redis::RedisServer;

/// The outage tests kill Redis and expect what it acknowledged to be there
/// when it returns: the fixture's AOF must keep a write across a SIGKILL,
/// and the restarted server must answer on the same port.
#[test]
fn redis_fixture_keeps_acknowledged_writes_across_a_kill() {
    let Some(mut redis) = RedisServer::start(true) else {
        return;
    };
    assert_eq!(redis.command(&["PING"]), "+PONG");
    assert_eq!(
        redis.command(&["XADD", "rtweb:ch:demo", "1-0", "data", "hello"]),
        "1-0"
    );
    redis.restart();
    assert_eq!(redis.command(&["XLEN", "rtweb:ch:demo"]), ":1");
    assert!(redis.url().starts_with("redis://127.0.0.1:"));
}
