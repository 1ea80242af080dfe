//! cairn-bench: `cairn bench`, Cairn's load generator — what warp,
//! `rados bench` and swift-bench are to their systems.
//!
//! - [`object`]: Swift (tempauth or token) and S3 (SigV4) endpoints, any
//!   vendor's: put, get, delete, list, multipart and weighted mixes.
//! - [`block`]: NBD exports and iSCSI LUNs, with its own NBD client (fixed
//!   newstyle, `NBD_OPT_GO`, pipelined READ/WRITE/FLUSH) and its own iSCSI
//!   initiator (RFC 7143: login with optional CHAP, READ(16)/WRITE(16)/
//!   SYNCHRONIZE CACHE(16) within the CmdSN window, R2T), and data
//!   verification.
//! - [`compare`]: the same workload against two endpoints in alternation,
//!   and the ratios of their medians.
//!
//! Results ([`report`]): ops/s, bytes/s, latency percentiles from HDR
//! histograms, errors by kind, a per-second series, the generator's own CPU
//! time, as text, JSON and an SVG chart ([`svg`]).
//!
//! It is not a server and reads no environment: credentials arrive as
//! [`credentials::Vars`] the binary collected. It never sends a request
//! outside the endpoints it is given, and every loop is bounded by the
//! run's duration or operation count.

pub mod block;
pub mod compare;
pub mod credentials;
mod driver;
mod error;
pub mod object;
pub mod report;
pub mod size;
pub mod stats;
pub mod svg;
pub mod units;
mod xml;

pub use driver::StopAt;
pub use error::BenchError;
pub use stats::Progress;

/// Seconds since the Unix epoch, for the report's start time.
fn unix_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A tokio runtime for a run: one thread (like `wrk -t1`), or a pool.
pub fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, BenchError> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    Ok(builder.enable_all().build()?)
}
