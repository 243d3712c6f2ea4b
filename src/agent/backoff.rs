//! Exponential backoff with full jitter, capped so that the agent is back
//! within seconds of the control plane's return.

use std::time::Duration;

use rand::Rng;

/// Backoff state: call [`Backoff::next_delay`] after each failure and
/// [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff from `base`, never longer than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            failures: 0,
        }
    }

    /// The delay before the next try: uniform in `[0, ceiling]`, where the
    /// ceiling doubles with each failure from `base` up to `cap`.
    pub fn next_delay(&mut self) -> Duration {
        let millis = self.ceiling().as_millis() as u64;
        self.failures = self.failures.saturating_add(1);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }

    /// The longest the next delay can be: `min(cap, base·2ⁿ)` after n failures.
    fn ceiling(&self) -> Duration {
        self.base
            .saturating_mul(1u32 << self.failures.min(16))
            .min(self.cap)
    }

    /// Forgets past failures.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_millis(1600);

    #[test]
    fn the_ceiling_doubles_up_to_the_cap_and_reset_starts_over() {
        let mut backoff = Backoff::new(BASE, CAP);
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let ceiling = backoff.ceiling();
            ceilings.push(ceiling.as_millis());
            assert!(backoff.next_delay() <= ceiling);
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 1600, 1600, 1600]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), BASE);
        // Many failures neither overflow nor pass the cap.
        for _ in 0..100 {
            assert!(backoff.next_delay() <= CAP);
        }
    }

    /// Delays drawn for the `n`th try (0-based) of `draws` fresh backoffs.
    fn draws_at(n: usize, draws: usize) -> Vec<u128> {
        (0..draws)
            .map(|_| {
                let mut backoff = Backoff::new(BASE, CAP);
                for _ in 0..n {
                    backoff.next_delay();
                }
                let ceiling = backoff.ceiling();
                let delay = backoff.next_delay();
                assert!(delay <= ceiling, "{delay:?} at try {n}");
                delay.as_millis()
            })
            .collect()
    }

    #[test]
    fn drawn_delays_grow_with_each_failure_until_the_cap() {
        // With full jitter a single delay may be shorter than the one
        // before; over many draws the mean and the longest delay of each
        // try exceed those of the try before, until the cap holds them.
        // 2000 draws put the means' noise near 1 % of the ceiling, against
        // a difference of a quarter of it.
        let tries: Vec<Vec<u128>> = (0..6).map(|n| draws_at(n, 2000)).collect();
        let mean = |d: &[u128]| d.iter().sum::<u128>() as f64 / d.len() as f64;
        let max = |d: &[u128]| *d.iter().max().unwrap();
        for n in 0..4 {
            let (this, next) = (&tries[n], &tries[n + 1]);
            assert!(mean(next) > mean(this) * 1.5, "mean at try {}", n + 1);
            assert!(max(next) > max(this), "longest at try {}", n + 1);
            // Draws past the previous ceiling: the range itself moved up.
            let previous_ceiling = (BASE * (1 << n)).as_millis();
            assert!(next.iter().any(|&d| d > previous_ceiling), "try {}", n + 1);
        }
        // Tries 4 and 5 share the cap: same range, none past it.
        assert!(tries[4]
            .iter()
            .chain(&tries[5])
            .all(|&d| d <= CAP.as_millis()));
        assert!((mean(&tries[5]) / mean(&tries[4]) - 1.0).abs() < 0.1);
    }
}
