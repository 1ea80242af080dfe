//! Latency histograms: an HDR histogram of microseconds (3 significant
//! digits, 1 µs to 1 hour), one per worker and operation, merged at the end
//! of a phase; read out as percentiles in milliseconds.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// The longest latency recorded as itself; longer ones are recorded as this.
const LATENCY_US_MAX: u64 = 3_600_000_000;

/// A latency histogram.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

/// The latency summary of the results, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

/// The percentiles the latency chart draws.
pub const SPECTRUM: [f64; 14] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
];

impl Default for Latency {
    fn default() -> Self {
        // Bounds 1..=1 h with 3 digits are valid by construction.
        Latency(Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds"))
    }
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(us.clamp(1, LATENCY_US_MAX));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: adding cannot fail.
        self.0.add(&other.0).expect("histograms share their bounds");
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The percentile `p` (0–100) in milliseconds; 0 when empty.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        us_to_ms(self.0.value_at_percentile(p))
    }

    pub fn percentiles(&self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: self.percentile_ms(50.0),
            p90: self.percentile_ms(90.0),
            p99: self.percentile_ms(99.0),
            p999: self.percentile_ms(99.9),
            mean: self.0.mean() / 1000.0,
            min: us_to_ms(self.0.min()),
            max: us_to_ms(self.0.max()),
        }
    }

    /// `(percentile, ms)` at each of [`SPECTRUM`].
    pub fn spectrum(&self) -> Vec<(f64, f64)> {
        SPECTRUM
            .iter()
            .map(|&p| (p, self.percentile_ms(p)))
            .collect()
    }
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        // 1..=1000 ms, once each: p50 ≈ 500, p90 ≈ 900, p99 ≈ 990, p99.9 ≈ 999 ms (3 digits).
        let mut l = Latency::default();
        for ms in 1..=1000 {
            l.record(Duration::from_millis(ms));
        }
        let p = l.percentiles();
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.002;
        assert!(near(p.p50, 500.0), "{p:?}");
        assert!(near(p.p90, 900.0), "{p:?}");
        assert!(near(p.p99, 990.0), "{p:?}");
        assert!(near(p.p999, 999.0), "{p:?}");
        assert!(near(p.mean, 500.5), "{p:?}");
        assert!(near(p.min, 1.0) && near(p.max, 1000.0), "{p:?}");
    }

    #[test]
    fn merged_histograms_count_both_sides() {
        // Two workers' histograms merge into one whose median lies between theirs.
        let (mut a, mut b) = (Latency::default(), Latency::default());
        for _ in 0..100 {
            a.record(Duration::from_millis(1));
            b.record(Duration::from_millis(3));
        }
        b.record(Duration::from_millis(3));
        a.merge(&b);
        assert_eq!(a.count(), 201);
        assert!((a.percentile_ms(50.0) - 3.0).abs() < 0.01);
    }

    #[test]
    fn empty_and_extreme_values_do_not_panic() {
        // An empty histogram reads as zeros; zero and huge latencies are clamped into range.
        let mut l = Latency::default();
        assert_eq!(l.percentiles(), Percentiles::default());
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(10 * 3600));
        assert_eq!(l.count(), 2);
        assert!(l.percentile_ms(100.0) >= 3_599_000.0);
    }
}
