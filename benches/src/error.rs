//! The crate's error type: what can stop a benchmark before or while it
//! runs (bad arguments, missing credentials, a failed setup step). Errors of
//! single operations are not errors here: they are counted by kind
//! ([`crate::stats::ErrorKind`]) and reported.

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An argument that does not parse or does not make sense.
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// Not enough credentials for the chosen API.
    #[error("no credentials for {api}: {detail}")]
    Credentials { api: &'static str, detail: String },
    /// A step before or after the measurement failed (auth, creating a
    /// container, the NBD handshake, preparing objects).
    #[error("{step}: {detail}")]
    Setup { step: &'static str, detail: String },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the results: {0}")]
    Json(#[from] serde_json::Error),
}

impl BenchError {
    pub fn invalid(what: &'static str, detail: impl Into<String>) -> BenchError {
        BenchError::Invalid {
            what,
            detail: detail.into(),
        }
    }

    pub fn setup(step: &'static str, detail: impl std::fmt::Display) -> BenchError {
        BenchError::Setup {
            step,
            detail: detail.to_string(),
        }
    }
}
