//! Counts: requests sent by method (or NBD command) and outcome class,
//! errors by kind, and per operation the successes, failures, bytes and
//! latencies. Keys are static strings so counting allocates nothing.

use super::latency::Latency;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Why one operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The server answered with this HTTP status (not 2xx).
    Status(u16),
    /// An NBD reply carried this errno.
    Nbd(u32),
    /// No answer within the timeout.
    Timeout,
    /// Connecting failed or the connection broke.
    Connection,
    /// The data read back is not what was written (or not as long).
    Verification,
    /// An answer we could not make sense of (no upload id, an S3 error document).
    Protocol,
}

impl ErrorKind {
    /// The outcome class a request that ended this way is counted under
    /// (beside `2xx`… and `ok`): its status class, `timeout`,
    /// `connection`, or `error`.
    pub fn request_class(self) -> &'static str {
        match self {
            ErrorKind::Status(code) => status_class(code),
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::Nbd(_) | ErrorKind::Verification | ErrorKind::Protocol => "error",
        }
    }

    /// The key it is counted under: `http_503`, `nbd_EIO`, `timeout`, …
    pub fn key(self) -> String {
        match self {
            ErrorKind::Status(code) => format!("http_{code}"),
            ErrorKind::Nbd(errno) => format!("nbd_{}", nbd_errno_name(errno)),
            ErrorKind::Timeout => "timeout".to_owned(),
            ErrorKind::Connection => "connection".to_owned(),
            ErrorKind::Verification => "verification".to_owned(),
            ErrorKind::Protocol => "protocol".to_owned(),
        }
    }
}

/// The names of the errno values the NBD protocol defines.
fn nbd_errno_name(errno: u32) -> String {
    match errno {
        1 => "EPERM".to_owned(),
        5 => "EIO".to_owned(),
        12 => "ENOMEM".to_owned(),
        22 => "EINVAL".to_owned(),
        28 => "ENOSPC".to_owned(),
        75 => "EOVERFLOW".to_owned(),
        95 => "ENOTSUP".to_owned(),
        108 => "ESHUTDOWN".to_owned(),
        n => format!("errno{n}"),
    }
}

/// Requests by method then outcome class (`2xx`…, or `ok`/`error` for NBD).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RequestCounts(BTreeMap<&'static str, BTreeMap<&'static str, u64>>);

impl RequestCounts {
    pub fn record(&mut self, method: &'static str, class: &'static str) {
        self.add(method, class, 1);
    }

    fn add(&mut self, method: &'static str, class: &'static str, n: u64) {
        *self.0.entry(method).or_default().entry(class).or_default() += n;
    }

    pub fn merge(&mut self, other: &RequestCounts) {
        for (method, classes) in &other.0 {
            for (class, n) in classes {
                self.add(method, class, *n);
            }
        }
    }

    pub fn get(&self, method: &str, class: &str) -> u64 {
        self.0
            .get(method)
            .and_then(|c| c.get(class))
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().flat_map(|c| c.values()).sum()
    }
}

/// The status class of an HTTP status: `1xx` … `5xx`.
pub fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Errors by kind.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ErrorCounts(BTreeMap<String, u64>);

impl ErrorCounts {
    pub fn record(&mut self, kind: ErrorKind) {
        *self.0.entry(kind.key()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &ErrorCounts) {
        for (k, n) in &other.0 {
            *self.0.entry(k.clone()).or_default() += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// `(kind, count)` in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, n)| (k.as_str(), *n))
    }
}

/// One operation's results in one phase: successes (with their latencies
/// and bytes moved) and failures.
#[derive(Debug, Clone, Default)]
pub struct OpStats {
    pub ok: u64,
    pub failed: u64,
    pub bytes: u64,
    pub latency: Latency,
}

impl OpStats {
    pub fn success(&mut self, bytes: u64, took: Duration) {
        self.ok += 1;
        self.bytes += bytes;
        self.latency.record(took);
    }

    pub fn merge(&mut self, other: &OpStats) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.bytes += other.bytes;
        self.latency.merge(&other.latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_counts_merge_by_method_and_class() {
        // Two tallies merge cell by cell; absent cells read as zero.
        let mut a = RequestCounts::default();
        a.record("PUT", "2xx");
        a.record("PUT", "2xx");
        let mut b = RequestCounts::default();
        b.record("PUT", "2xx");
        b.record("GET", "4xx");
        a.merge(&b);
        assert_eq!(a.get("PUT", "2xx"), 3);
        assert_eq!(a.get("GET", "4xx"), 1);
        assert_eq!(a.get("DELETE", "2xx"), 0);
        assert_eq!(a.total(), 4);
    }

    #[test]
    fn error_kinds_have_stable_keys() {
        // The JSON keys users and tests match on.
        assert_eq!(ErrorKind::Status(503).key(), "http_503");
        assert_eq!(ErrorKind::Nbd(5).key(), "nbd_EIO");
        assert_eq!(ErrorKind::Nbd(1234).key(), "nbd_errno1234");
        assert_eq!(ErrorKind::Timeout.key(), "timeout");
        assert_eq!(ErrorKind::Verification.key(), "verification");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(503), "5xx");
    }
}
