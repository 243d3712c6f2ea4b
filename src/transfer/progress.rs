//! Progress of a running download: what is reported, and when.
//!
//! The pipeline feeds a [`ProgressMeter`] with every chunk; the meter calls
//! the caller's [`ProgressFn`] at the start, every `interval`, and at the
//! end, with bytes done, total, percent and the recent rate.

use std::time::{Duration, Instant};

/// One progress report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Bytes of the set that are in the target (resumed prefix included).
    pub done: u64,
    /// Size of the set.
    pub total: u64,
    /// `done / total` in percent (100 for an empty set).
    pub percent: f64,
    /// Bytes per second since the previous report.
    pub rate_bytes_per_sec: u64,
    /// Time since the download started.
    pub elapsed: Duration,
}

/// Receives progress reports; called on the download's own task, so it
/// must not block (send to a channel, update a bar).
pub type ProgressFn = Box<dyn FnMut(&Progress) + Send>;

/// Turns a stream of byte counts into reports at a fixed interval.
pub struct ProgressMeter {
    report: ProgressFn,
    interval: Duration,
    total: u64,
    done: u64,
    started: Instant,
    last_at: Instant,
    last_done: u64,
}

impl ProgressMeter {
    /// A meter for a set of `total` bytes, reporting every `interval`.
    pub fn new(report: ProgressFn, interval: Duration, total: u64) -> Self {
        let now = Instant::now();
        ProgressMeter {
            report,
            interval,
            total,
            done: 0,
            started: now,
            last_at: now,
            last_done: 0,
        }
    }

    /// Sets the bytes done (after resuming or restarting) and reports.
    pub fn reset_to(&mut self, done: u64) {
        self.done = done;
        self.last_done = done;
        self.emit(Instant::now());
    }

    /// Adds `bytes` and reports when the interval has passed.
    pub fn add(&mut self, bytes: u64) {
        self.done += bytes;
        let now = Instant::now();
        if now.duration_since(self.last_at) >= self.interval {
            self.emit(now);
        }
    }

    /// Reports the final state.
    pub fn finish(&mut self) {
        self.emit(Instant::now());
    }

    fn emit(&mut self, now: Instant) {
        let span = now.duration_since(self.last_at).as_secs_f64();
        let gained = self.done.saturating_sub(self.last_done);
        let rate = if span > 0.0 {
            (gained as f64 / span) as u64
        } else {
            0
        };
        let percent = if self.total == 0 {
            100.0
        } else {
            self.done as f64 * 100.0 / self.total as f64
        };
        (self.report)(&Progress {
            done: self.done,
            total: self.total,
            percent,
            rate_bytes_per_sec: rate,
            elapsed: now.duration_since(self.started),
        });
        self.last_at = now;
        self.last_done = self.done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn reports_start_interval_and_end() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let mut m = ProgressMeter::new(
            Box::new(move |p: &Progress| sink.lock().unwrap().push(*p)),
            Duration::from_secs(3600),
            200,
        );
        m.reset_to(50);
        m.add(50); // within the interval: no report
        m.finish();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[0].done, seen[0].percent), (50, 25.0));
        assert_eq!((seen[1].done, seen[1].percent), (100, 50.0));
    }
}
