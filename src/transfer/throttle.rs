//! A bandwidth limit shared by all downloads: a token bucket refilled at
//! `rate` bytes per second, holding at most one second of tokens.
//!
//! [`Throttle::acquire`] takes tokens for a chunk and sleeps while the
//! bucket is in debt, so a chunk larger than the bucket still passes and
//! the long-run rate stays at `rate`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A shared token bucket.
#[derive(Debug)]
pub struct Throttle {
    rate: f64,
    burst: f64,
    // A std mutex: held only for arithmetic, never across an await.
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Throttle {
    /// A bucket refilled at `bytes_per_sec` (at least 1), starting full.
    pub fn new(bytes_per_sec: u64) -> Self {
        let rate = bytes_per_sec.max(1) as f64;
        Throttle {
            rate,
            burst: rate,
            state: Mutex::new(Bucket {
                tokens: rate,
                last: Instant::now(),
            }),
        }
    }

    /// The configured rate, bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate as u64
    }

    /// Waits until `bytes` may pass.
    pub async fn acquire(&self, bytes: usize) {
        let wait = self.reserve(bytes, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes `bytes` tokens at time `now` and returns how long the caller
    /// must wait before sending them.
    fn reserve(&self, bytes: usize, now: Instant) -> Duration {
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = b.last.max(now);
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.tokens -= bytes as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debt_turns_into_waiting_at_the_rate() {
        let t = Throttle::new(1000);
        let start = Instant::now();
        // A full bucket lets one second's worth through at once.
        assert_eq!(t.reserve(1000, start), Duration::ZERO);
        // The next 500 bytes must wait half a second.
        assert_eq!(t.reserve(500, start), Duration::from_millis(500));
        // One second later 1000 tokens came back: debt 500 → +500, so 500 pass.
        let later = start + Duration::from_secs(1);
        assert_eq!(t.reserve(500, later), Duration::ZERO);
        // An idle hour refills only to the burst (one second's worth).
        let much_later = later + Duration::from_secs(3600);
        assert_eq!(t.reserve(1000, much_later), Duration::ZERO);
        assert_eq!(t.reserve(2000, much_later), Duration::from_secs(2));
    }
}
