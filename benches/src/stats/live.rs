//! Live counters of the measured phase (relaxed atomics the workers add to)
//! and the sampler that reads them once a second: the per-second series of
//! the results, and the progress line on stderr.

use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Counters every worker adds to as its operations end.
#[derive(Debug, Default)]
pub struct Live {
    ok: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    latency_us: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    ok: u64,
    failed: u64,
    bytes: u64,
    latency_us: u64,
}

impl Live {
    pub fn success(&self, bytes: u64, took: Duration) {
        self.ok.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn failure(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    fn totals(&self) -> Totals {
        Totals {
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            latency_us: self.latency_us.load(Ordering::Relaxed),
        }
    }
}

/// One second of the measured phase (the last one may be shorter).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecondSample {
    /// Seconds since the phase began, at the end of this sample.
    pub t_secs: f64,
    pub ops_per_sec: f64,
    pub bytes_per_sec: f64,
    pub errors: u64,
    /// Mean latency of the operations that ended in this second.
    pub mean_latency_ms: f64,
}

impl SecondSample {
    fn between(a: Totals, b: Totals, dt: f64, t_secs: f64) -> SecondSample {
        let ops = b.ok - a.ok;
        SecondSample {
            t_secs,
            ops_per_sec: ops as f64 / dt,
            bytes_per_sec: (b.bytes - a.bytes) as f64 / dt,
            errors: b.failed - a.failed,
            mean_latency_ms: if ops == 0 {
                0.0
            } else {
                (b.latency_us - a.latency_us) as f64 / ops as f64 / 1000.0
            },
        }
    }
}

/// Whether and how the progress line is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Off,
    /// One line rewritten in place (a terminal).
    Overwrite,
    /// A new line each second (a log file, `--progress` without a terminal).
    Lines,
}

/// Reads [`Live`] each second until stopped.
pub struct Sampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<SecondSample>>,
}

/// A last sample shorter than this is dropped (its rate would be noise).
const TAIL_SECS_MIN: f64 = 0.25;

impl Sampler {
    pub fn start(live: Arc<Live>, label: String, progress: Progress) -> Sampler {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + Duration::from_secs(1),
                Duration::from_secs(1),
            );
            let (mut series, mut last, mut last_t) = (Vec::new(), Totals::default(), 0.0);
            loop {
                let ended = tokio::select! {
                    _ = tick.tick() => false,
                    _ = &mut stopped => true,
                };
                let now = live.totals();
                let t = start.elapsed().as_secs_f64();
                if !ended || t - last_t >= TAIL_SECS_MIN {
                    let s = SecondSample::between(last, now, t - last_t, t);
                    show(&label, &s, progress);
                    series.push(s);
                }
                (last, last_t) = (now, t);
                if ended {
                    if progress == Progress::Overwrite {
                        eprintln!();
                    }
                    return series;
                }
            }
        });
        Sampler { stop, task }
    }

    /// Stops sampling; the series so far.
    pub async fn finish(self) -> Vec<SecondSample> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

fn show(label: &str, s: &SecondSample, progress: Progress) {
    let line = format!(
        "{label} {:>5.0}s {:>10.1} ops/s {:>9.2} MB/s  mean {:>8.2} ms  errors {}",
        s.t_secs,
        s.ops_per_sec,
        s.bytes_per_sec / 1e6,
        s.mean_latency_ms,
        s.errors
    );
    let mut err = std::io::stderr().lock();
    let _ = match progress {
        Progress::Off => Ok(()),
        Progress::Overwrite => write!(err, "\r{line}\x1b[K"),
        Progress::Lines => writeln!(err, "{line}"),
    };
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_the_rate_between_two_readings() {
        // 500 ops, 2 MB, 3 errors, 1 s of summed latency over 0.5 s: 1000 ops/s, 4 MB/s, 2 ms mean.
        let a = Totals::default();
        let b = Totals {
            ok: 500,
            failed: 3,
            bytes: 2_000_000,
            latency_us: 1_000_000,
        };
        let s = SecondSample::between(a, b, 0.5, 3.5);
        assert_eq!(s.ops_per_sec, 1000.0);
        assert_eq!(s.bytes_per_sec, 4_000_000.0);
        assert_eq!(s.errors, 3);
        assert_eq!(s.mean_latency_ms, 2.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_sampler_records_one_sample_per_second() {
        // Paused time: 3 s of 100 successes a second; the samples add up to the 300 operations.
        let live = Arc::new(Live::default());
        let sampler = Sampler::start(live.clone(), "t".into(), Progress::Off);
        for _ in 0..3 {
            for _ in 0..100 {
                live.success(10, Duration::from_millis(1));
            }
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
        let series = sampler.finish().await;
        assert!((2..=4).contains(&series.len()), "{series:?}");
        let mut t = 0.0;
        let mut ops = 0.0;
        for s in &series {
            ops += s.ops_per_sec * (s.t_secs - t);
            t = s.t_secs;
        }
        assert!((ops - 300.0).abs() < 1e-6, "{series:?}");
    }
}
