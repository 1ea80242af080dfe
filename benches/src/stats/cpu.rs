//! The load generator's own CPU time (getrusage: user + system, every
//! thread of the process), so a result can show the client was not the
//! bottleneck.

use serde::Serialize;
use std::time::Duration;

/// CPU time used by this process so far.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    user: Duration,
    sys: Duration,
}

/// CPU used over a phase.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct CpuReport {
    pub user_secs: f64,
    pub sys_secs: f64,
    /// (user + sys) per second of the phase: 1.0 is one core busy.
    pub cores: f64,
    /// (user + sys) seconds per 1000 operations.
    pub cpu_secs_per_1000_ops: f64,
}

impl CpuTimes {
    /// Now; zero if the kernel will not say (it always does on Linux).
    pub fn now() -> CpuTimes {
        use nix::sys::resource::{getrusage, UsageWho};
        match getrusage(UsageWho::RUSAGE_SELF) {
            Ok(u) => CpuTimes {
                user: timeval(u.user_time()),
                sys: timeval(u.system_time()),
            },
            Err(_) => CpuTimes {
                user: Duration::ZERO,
                sys: Duration::ZERO,
            },
        }
    }

    /// What was used between `earlier` and `self`, over `wall` and `ops` operations.
    pub fn since(&self, earlier: &CpuTimes, wall: Duration, ops: u64) -> CpuReport {
        let user = self.user.saturating_sub(earlier.user).as_secs_f64();
        let sys = self.sys.saturating_sub(earlier.sys).as_secs_f64();
        CpuReport {
            user_secs: user,
            sys_secs: sys,
            cores: super::ratio(user + sys, wall.as_secs_f64()),
            cpu_secs_per_1000_ops: super::ratio((user + sys) * 1000.0, ops as f64),
        }
    }
}

fn timeval(t: nix::sys::time::TimeVal) -> Duration {
    let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
    let micros = u64::try_from(t.tv_usec()).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_up_as_cpu_time() {
        // Spinning ~50 ms of CPU makes user+sys grow; per-1000-ops divides by the count.
        let before = CpuTimes::now();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert_ne!(x, 42);
        let r = CpuTimes::now().since(&before, start.elapsed(), 1000);
        assert!(r.user_secs + r.sys_secs >= 0.02, "{r:?}");
        assert!((r.cpu_secs_per_1000_ops - (r.user_secs + r.sys_secs)).abs() < 1e-9);
    }
}
