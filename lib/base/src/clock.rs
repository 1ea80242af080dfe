//! The `Clock` trait: the only way Cairn's cores learn the time.

use crate::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, injected so tests and simulations can control it.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> Timestamp;
}

/// The real system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_micros(since.as_micros() as u64)
    }
}
