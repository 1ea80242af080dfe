//! Object sizes: one size, or a distribution between two bounds (uniform,
//! or log-normal, which puts most objects near the geometric mean of the
//! bounds and a few near either end, as real object stores see).

use crate::error::BenchError;
use crate::units::{format_bytes, parse_bytes};
use rand::Rng;

/// How sizes between two bounds are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeShape {
    Uniform,
    /// Median at the geometric mean of the bounds; the bounds sit at ±3σ
    /// (draws beyond them are clamped).
    LogNormal,
}

/// The sizes of the objects a workload writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeDist {
    Fixed(u64),
    Uniform { min: u64, max: u64 },
    LogNormal { min: u64, max: u64 },
}

impl SizeDist {
    /// `4KiB` (fixed) or `1KiB-1MiB` (drawn with `shape`).
    pub fn parse(spec: &str, shape: SizeShape) -> Result<SizeDist, BenchError> {
        let Some((lo, hi)) = spec.split_once('-') else {
            return Ok(SizeDist::Fixed(parse_bytes(spec)?));
        };
        let (min, max) = (parse_bytes(lo)?, parse_bytes(hi)?);
        if min == 0 || min >= max {
            return Err(BenchError::invalid(
                "size range",
                format!("{spec:?}: need 0 < min < max"),
            ));
        }
        Ok(match shape {
            SizeShape::Uniform => SizeDist::Uniform { min, max },
            SizeShape::LogNormal => SizeDist::LogNormal { min, max },
        })
    }

    /// The largest size it can draw (the pre-generated body is this long).
    pub fn max(&self) -> u64 {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { max, .. } | SizeDist::LogNormal { max, .. } => max,
        }
    }

    /// The typical size: the mean of a uniform draw, the median of a log-normal one.
    pub fn typical(&self) -> u64 {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { min, max } => min + (max - min) / 2,
            SizeDist::LogNormal { min, max } => ((min as f64) * (max as f64)).sqrt() as u64,
        }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> u64 {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { min, max } => rng.gen_range(min..=max),
            SizeDist::LogNormal { min, max } => {
                let (ln_min, ln_max) = ((min as f64).ln(), (max as f64).ln());
                let mu = (ln_min + ln_max) / 2.0;
                let sigma = (ln_max - ln_min) / 6.0;
                let drawn = (mu + sigma * standard_normal(rng)).exp();
                (drawn.round() as u64).clamp(min, max)
            }
        }
    }
}

impl std::fmt::Display for SizeDist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            SizeDist::Fixed(n) => write!(f, "{}", format_bytes(n)),
            SizeDist::Uniform { min, max } => {
                write!(f, "{}-{} uniform", format_bytes(min), format_bytes(max))
            }
            SizeDist::LogNormal { min, max } => {
                write!(f, "{}-{} log-normal", format_bytes(min), format_bytes(max))
            }
        }
    }
}

/// One draw of N(0, 1) (Box–Muller).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_single_size_is_fixed_and_a_range_takes_the_shape() {
        // `4KiB` is Fixed whatever the shape; `1KiB-1MiB` is uniform or log-normal as asked.
        assert_eq!(
            SizeDist::parse("4KiB", SizeShape::LogNormal).unwrap(),
            SizeDist::Fixed(4096)
        );
        assert_eq!(
            SizeDist::parse("1KiB-1MiB", SizeShape::Uniform).unwrap(),
            SizeDist::Uniform {
                min: 1024,
                max: 1 << 20
            }
        );
        assert!(matches!(
            SizeDist::parse("1KiB-1MiB", SizeShape::LogNormal).unwrap(),
            SizeDist::LogNormal { .. }
        ));
    }

    #[test]
    fn empty_or_inverted_ranges_are_refused() {
        // min must be above zero and below max.
        for bad in ["0-1KiB", "1MiB-1KiB", "4KiB-4KiB", "4KiB-", "x-1KiB"] {
            assert!(SizeDist::parse(bad, SizeShape::Uniform).is_err(), "{bad}");
        }
    }

    #[test]
    fn draws_stay_within_bounds_and_log_normal_centres_on_the_geometric_mean() {
        // 20,000 draws: all within [min, max]; the log-normal median is near sqrt(min*max).
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for dist in [
            SizeDist::Uniform { min: 10, max: 1000 },
            SizeDist::LogNormal {
                min: 1024,
                max: 1 << 20,
            },
        ] {
            let mut draws: Vec<u64> = (0..20_000).map(|_| dist.sample(&mut rng)).collect();
            let (min, max) = match dist {
                SizeDist::Uniform { min, max } | SizeDist::LogNormal { min, max } => (min, max),
                SizeDist::Fixed(_) => unreachable!(),
            };
            assert!(draws.iter().all(|d| (min..=max).contains(d)));
            draws.sort_unstable();
            let median = draws[draws.len() / 2] as f64;
            let typical = dist.typical() as f64;
            assert!(
                (median / typical - 1.0).abs() < 0.1,
                "{dist}: median {median}"
            );
        }
    }
}
