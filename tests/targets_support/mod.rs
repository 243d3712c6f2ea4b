//! Shared helpers of the remote-target suites (tests/targets_ftp.rs,
//! tests/targets_minio.rs): the servers' env vars, deterministic set bytes,
//! and a driver that feeds a [`Target`] the way the download pipeline does
//! (open, read back and hash on resume, write, commit; reopen after a
//! retryable failure).

#![allow(dead_code)]

use std::net::TcpListener;
use std::time::Duration;

use bytes::Bytes;
use dbs_gateway::api::layout::RelPath;
use dbs_gateway::transfer::sinks::{SinkError, SinkWriter, Target};
use futures::StreamExt;
use sha2::{Digest, Sha256};

/// An env var exported by scripts/test.sh; fails the test when missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh, which starts the test servers")
    })
}

/// `len` deterministic pseudo-random bytes (xorshift), different per `seed`.
pub fn set_bytes(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The documented layout: `{dir}/{plan}/{full|increment}/{name}`.
pub fn layout(dir: &str, plan: &str, kind: &str, name: &str) -> RelPath {
    RelPath::parse("test", &format!("{dir}/{plan}/{kind}/{name}")).expect("valid test path")
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits until 127.0.0.1:`port` accepts connections.
pub fn wait_for_port(port: u16) {
    for _ in 0..150 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// Writes `data[from..]` in `chunk`-sized pieces.
pub async fn write_from(
    w: &mut Box<dyn SinkWriter>,
    data: &Bytes,
    from: usize,
    chunk: usize,
) -> Result<(), SinkError> {
    let mut at = from;
    while at < data.len() {
        let end = (at + chunk).min(data.len());
        w.write(data.slice(at..end)).await?;
        at = end;
    }
    Ok(())
}

/// Hashes what `read_back` gives and checks it is exactly `data[..offset]`.
pub async fn check_read_back(w: &mut Box<dyn SinkWriter>, data: &Bytes) -> bool {
    let offset = w.offset() as usize;
    let Some(mut stream) = w.read_back().await.expect("read_back") else {
        return false;
    };
    let mut hasher = Sha256::new();
    let mut n = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("read back chunk");
        n += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(n, offset, "read_back gives exactly offset() bytes");
    assert_eq!(
        hex::encode(hasher.finalize()),
        sha256(&data[..offset]),
        "the resumed partial holds the set's first bytes"
    );
    true
}

/// Uploads `data` to `path` as the pipeline does, resuming after retryable
/// failures (up to `attempts`). Returns the offsets each attempt resumed from.
pub async fn upload(
    target: &dyn Target,
    path: &RelPath,
    data: &Bytes,
    chunk: usize,
    attempts: usize,
) -> Result<Vec<u64>, SinkError> {
    let mut resumed = Vec::new();
    let mut last = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 * attempt as u64)).await;
        }
        let mut w = match target.open(path, Some(data.len() as u64)).await {
            Ok(w) => w,
            Err(e) if e.is_retryable() => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        if w.offset() > 0 && !check_read_back(&mut w, data).await {
            w.restart().await?;
        }
        resumed.push(w.offset());
        let from = w.offset() as usize;
        match write_from(&mut w, data, from, chunk).await {
            Ok(()) => match w.commit().await {
                Ok(()) => return Ok(resumed),
                Err(e) if e.is_retryable() => last = Some(e),
                Err(e) => return Err(e),
            },
            Err(e) if e.is_retryable() => {
                let _ = w.abort(true).await;
                last = Some(e);
            }
            Err(e) => {
                let _ = w.abort(false).await;
                return Err(e);
            }
        }
    }
    Err(last.expect("at least one attempt"))
}
