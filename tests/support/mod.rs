//! Helpers shared by the integration tests: real processes and servers, an
//! HTTP server with Range support and fault injection, a small tmpfs, the
//! sinks' fixtures and the one adapter to the download pipeline.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod control;
pub mod discovery_env;
pub mod files;
pub mod fixtures;
pub mod gateway;
pub mod http_range_server;
pub mod servers;
pub mod sinks;
pub mod tmpfs;

use std::process::Child;
use std::time::{Duration, Instant};

/// Polls `check` every 100 ms until it answers Some, failing after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `what` listens on 127.0.0.1:`port`.
pub fn wait_for_port(what: &str, port: u16) {
    wait_for(what, Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(drop)
    });
}

/// SIGKILLs the process in `child`, if any, and reaps it.
pub fn kill(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
