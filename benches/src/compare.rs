//! `--compare`: the same object workload against endpoints A and B in
//! alternation (A B A B …, so a noisy machine hurts both alike), then the
//! median of each figure across rounds and the ratios B/A.

use crate::error::BenchError;
use crate::object::ObjectConfig;
use crate::report::{PhaseReport, Report};
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

/// What A and B are called in the output.
#[derive(Debug, Clone, Serialize)]
pub struct Labels {
    pub a: String,
    pub b: String,
}

/// One round: A's run, then B's.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub a: Report,
    pub b: Report,
}

/// The figures compared, each a median across rounds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Figures {
    pub ops_per_sec: f64,
    pub bytes_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: f64,
    pub client_cpu_secs_per_1000_ops: f64,
}

/// B's figures over A's (`None` where A's is zero).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Ratios {
    pub ops_per_sec: Option<f64>,
    pub bytes_per_sec: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
}

/// A comparison's results.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub labels: Labels,
    pub rounds: Vec<Round>,
    pub median_a: Figures,
    pub median_b: Figures,
    /// B / A of the medians.
    pub ratios_b_over_a: Ratios,
}

/// The median (the mean of the middle two for an even count; 0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

fn ratio(b: f64, a: f64) -> Option<f64> {
    (a > 0.0).then(|| b / a)
}

impl Figures {
    /// Medians of the first measured phase of each report.
    pub fn median_of(reports: &[&Report]) -> Figures {
        let phases: Vec<&PhaseReport> = reports.iter().filter_map(|r| r.phases.first()).collect();
        let m =
            |f: fn(&PhaseReport) -> f64| median(&phases.iter().map(|p| f(p)).collect::<Vec<_>>());
        Figures {
            ops_per_sec: m(|p| p.ops_per_sec),
            bytes_per_sec: m(|p| p.bytes_per_sec),
            p50_ms: m(|p| p.latency_ms.p50),
            p90_ms: m(|p| p.latency_ms.p90),
            p99_ms: m(|p| p.latency_ms.p99),
            p999_ms: m(|p| p.latency_ms.p999),
            errors: m(|p| p.errors as f64),
            client_cpu_secs_per_1000_ops: m(|p| p.client_cpu.cpu_secs_per_1000_ops),
        }
    }

    pub fn ratios(b: &Figures, a: &Figures) -> Ratios {
        Ratios {
            ops_per_sec: ratio(b.ops_per_sec, a.ops_per_sec),
            bytes_per_sec: ratio(b.bytes_per_sec, a.bytes_per_sec),
            p50_ms: ratio(b.p50_ms, a.p50_ms),
            p90_ms: ratio(b.p90_ms, a.p90_ms),
            p99_ms: ratio(b.p99_ms, a.p99_ms),
            p999_ms: ratio(b.p999_ms, a.p999_ms),
        }
    }
}

/// Runs `rounds` rounds of A then B.
pub async fn run(
    a: &ObjectConfig,
    b: &ObjectConfig,
    rounds: usize,
    labels: Labels,
) -> Result<Comparison, BenchError> {
    if rounds == 0 {
        return Err(BenchError::invalid("rounds", "at least 1"));
    }
    let mut done = Vec::with_capacity(rounds);
    for r in 1..=rounds {
        eprintln!("round {r}/{rounds}: {}", labels.a);
        let ra = crate::object::run(a).await?;
        eprintln!("round {r}/{rounds}: {}", labels.b);
        let rb = crate::object::run(b).await?;
        done.push(Round { a: ra, b: rb });
    }
    Ok(Comparison::from_rounds(labels, done))
}

impl Comparison {
    pub fn from_rounds(labels: Labels, rounds: Vec<Round>) -> Comparison {
        let median_a = Figures::median_of(&rounds.iter().map(|r| &r.a).collect::<Vec<_>>());
        let median_b = Figures::median_of(&rounds.iter().map(|r| &r.b).collect::<Vec<_>>());
        Comparison {
            ratios_b_over_a: Figures::ratios(&median_b, &median_a),
            labels,
            rounds,
            median_a,
            median_b,
        }
    }

    /// A table of the medians and the ratios.
    pub fn summary(&self) -> String {
        let (a, b) = (&self.labels.a, &self.labels.b);
        let (ma, mb, r) = (&self.median_a, &self.median_b, &self.ratios_b_over_a);
        let mut out = String::new();
        for (i, round) in self.rounds.iter().enumerate() {
            for (label, rep) in [(a, &round.a), (b, &round.b)] {
                if let Some(p) = rep.phases.first() {
                    let _ = writeln!(
                        out,
                        "round {} {label:<10} {:>10.1} ops/s {:>10.2} MB/s  p50 {:>8.2}  p99 {:>8.2} ms  errors {}",
                        i + 1, p.ops_per_sec, p.bytes_per_sec / 1e6, p.latency_ms.p50, p.latency_ms.p99, p.errors
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "\nmedian of {} rounds | {a} | {b} | {b}/{a}",
            self.rounds.len()
        );
        let rows = [
            ("ops/s", ma.ops_per_sec, mb.ops_per_sec, r.ops_per_sec),
            (
                "MB/s",
                ma.bytes_per_sec / 1e6,
                mb.bytes_per_sec / 1e6,
                r.bytes_per_sec,
            ),
            ("p50 ms", ma.p50_ms, mb.p50_ms, r.p50_ms),
            ("p90 ms", ma.p90_ms, mb.p90_ms, r.p90_ms),
            ("p99 ms", ma.p99_ms, mb.p99_ms, r.p99_ms),
            ("p99.9 ms", ma.p999_ms, mb.p999_ms, r.p999_ms),
        ];
        for (name, va, vb, ratio) in rows {
            let ratio = ratio.map_or("-".to_owned(), |x| format!("{x:.3}"));
            let _ = writeln!(out, "{name:<10} | {va:>10.2} | {vb:>10.2} | {ratio}");
        }
        let _ = writeln!(out, "errors     | {:>10} | {:>10} |", ma.errors, mb.errors);
        out
    }

    pub fn write_json(&self, path: &Path) -> Result<(), BenchError> {
        let file = std::fs::File::create(path)?;
        serde_json::to_writer_pretty(std::io::BufWriter::new(file), self)?;
        Ok(())
    }

    /// Every round's throughput and latency, A's and B's in one chart.
    pub fn chart(&self) -> String {
        let mut runs = Vec::new();
        for (i, round) in self.rounds.iter().enumerate() {
            for (label, rep) in [(&self.labels.a, &round.a), (&self.labels.b, &round.b)] {
                if let Some(p) = rep.phases.first() {
                    runs.push((format!("{label} round {}", i + 1), p));
                }
            }
        }
        crate::svg::chart(
            &format!(
                "cairn bench --compare: {} vs {}",
                self.labels.a, self.labels.b
            ),
            &runs,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        // The middle value, or the mean of the middle two; nothing is zero.
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
    }

    #[test]
    fn ratios_are_b_over_a_and_absent_when_a_is_zero() {
        // B twice as fast with half the latency: ops ratio 2, p50 ratio 0.5; a zero A gives None.
        let a = Figures {
            ops_per_sec: 100.0,
            bytes_per_sec: 0.0,
            p50_ms: 4.0,
            p90_ms: 8.0,
            p99_ms: 10.0,
            p999_ms: 20.0,
            errors: 0.0,
            client_cpu_secs_per_1000_ops: 0.1,
        };
        let b = Figures {
            ops_per_sec: 200.0,
            bytes_per_sec: 5.0,
            p50_ms: 2.0,
            ..a
        };
        let r = Figures::ratios(&b, &a);
        assert_eq!(r.ops_per_sec, Some(2.0));
        assert_eq!(r.p50_ms, Some(0.5));
        assert_eq!(r.p99_ms, Some(1.0));
        assert_eq!(r.bytes_per_sec, None);
    }
}
