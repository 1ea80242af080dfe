//! Request counters: how many requests the proxy answered, by API (Swift or
//! S3), method and status class. Lock-free (one relaxed atomic add per
//! request); read by `/metrics` and by `cairn bench`'s whole-system tests.

use http::{Method, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};

/// Which front end answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Swift,
    S3,
}

impl Api {
    const ALL: [Api; 2] = [Api::Swift, Api::S3];

    pub fn as_str(self) -> &'static str {
        match self {
            Api::Swift => "swift",
            Api::S3 => "s3",
        }
    }
}

/// The methods counted by name; anything else is `OTHER`.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS", "OTHER",
];
/// `1xx` … `5xx`; a status outside 100–599 cannot be built by `http`.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

const CELLS: usize = METHODS.len() * STATUS_CLASSES.len();

/// One counter per (API, method, status class).
#[derive(Debug, Default)]
pub struct RequestStats {
    swift: Counters,
    s3: Counters,
}

#[derive(Debug)]
struct Counters([AtomicU64; CELLS]);

impl Default for Counters {
    fn default() -> Self {
        Counters(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// One non-zero counter, as `/metrics` renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCount {
    pub api: Api,
    pub method: &'static str,
    pub status_class: &'static str,
    pub count: u64,
}

impl RequestStats {
    /// Counts one answered request.
    pub fn record(&self, api: Api, method: &Method, status: StatusCode) {
        let m = METHODS
            .iter()
            .position(|name| *name == method.as_str())
            .unwrap_or(METHODS.len() - 1);
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.counters(api).0[m * STATUS_CLASSES.len() + class].fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter that is not zero, by API, method and status class.
    pub fn snapshot(&self) -> Vec<RequestCount> {
        let mut out = Vec::new();
        for api in Api::ALL {
            for (i, cell) in self.counters(api).0.iter().enumerate() {
                let count = cell.load(Ordering::Relaxed);
                if count > 0 {
                    out.push(RequestCount {
                        api,
                        method: METHODS[i / STATUS_CLASSES.len()],
                        status_class: STATUS_CLASSES[i % STATUS_CLASSES.len()],
                        count,
                    });
                }
            }
        }
        out
    }

    fn counters(&self, api: Api) -> &Counters {
        match api {
            Api::Swift => &self.swift,
            Api::S3 => &self.s3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_api_method_and_class() {
        // Two Swift PUT 201s, one S3 GET 404 and an odd method: each in its own cell, zeros omitted.
        let s = RequestStats::default();
        s.record(Api::Swift, &Method::PUT, StatusCode::CREATED);
        s.record(Api::Swift, &Method::PUT, StatusCode::ACCEPTED);
        s.record(Api::S3, &Method::GET, StatusCode::NOT_FOUND);
        s.record(
            Api::S3,
            &Method::from_bytes(b"PROPFIND").unwrap(),
            StatusCode::OK,
        );
        let count = |api, method: &str, class: &str| {
            s.snapshot()
                .iter()
                .find(|c| c.api == api && c.method == method && c.status_class == class)
                .map_or(0, |c| c.count)
        };
        assert_eq!(count(Api::Swift, "PUT", "2xx"), 2);
        assert_eq!(count(Api::S3, "GET", "4xx"), 1);
        assert_eq!(count(Api::S3, "OTHER", "2xx"), 1);
        assert_eq!(count(Api::S3, "PUT", "2xx"), 0);
        assert_eq!(s.snapshot().len(), 3);
    }
}
