//! What a benchmark measures: latency histograms, counts of requests and
//! errors, the live per-second counters behind the progress line and the
//! time series, and the load generator's own CPU time.

mod cpu;
mod latency;
mod live;
mod tally;

pub use cpu::{CpuReport, CpuTimes};
pub use latency::{Latency, Percentiles};
pub use live::{Live, Progress, Sampler, SecondSample};
/// `a / b`, or 0 when `b` is not positive (an empty phase has no rate).
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

pub use tally::{status_class, ErrorCounts, ErrorKind, OpStats, RequestCounts};
