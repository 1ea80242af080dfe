//! The auditor: a background sweep that re-reads every object on the node's
//! devices at a bounded rate, so bit rot is found before a client asks.
//!
//! It reads through the GET path, which verifies each chunk against its
//! blake3 digest and quarantines a replica that fails: the check and the
//! quarantine are not duplicated here. A quarantined replica reads as
//! missing, so the replicator of another primary pushes a good copy back.

use crate::device::Device;
use crate::inventory;
use crate::read;
use cairn_diskio::DiskIo;
use cairn_nodeapi::NodeError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How fast a pass may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuditLimits {
    pub bytes_per_sec: u64,
    pub files_per_sec: u64,
}

/// What the auditor has done since the node opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditorStats {
    /// Objects read to their end or to their first bad chunk.
    pub objects_audited: u64,
    pub bytes_audited: u64,
    /// Replicas that failed their digest (and were quarantined).
    pub corrupt_found: u64,
    pub passes_completed: u64,
}

#[derive(Default)]
pub(crate) struct AuditCounters {
    objects: AtomicU64,
    bytes: AtomicU64,
    corrupt: AtomicU64,
    passes: AtomicU64,
}

impl AuditCounters {
    pub fn snapshot(&self) -> AuditorStats {
        AuditorStats {
            objects_audited: self.objects.load(Ordering::Relaxed),
            bytes_audited: self.bytes.load(Ordering::Relaxed),
            corrupt_found: self.corrupt.load(Ordering::Relaxed),
            passes_completed: self.passes.load(Ordering::Relaxed),
        }
    }
}

/// One pass over every object of every device in `devs`.
pub(crate) async fn audit_pass<D: DiskIo>(
    devs: &[Arc<Device<D>>],
    limits: AuditLimits,
    counters: &AuditCounters,
) {
    let mut pacer = Pacer::new(limits);
    for dev in devs {
        match audit_device(dev, &mut pacer, counters).await {
            Ok(()) | Err(NodeError::DeviceUnavailable(_)) => {}
            Err(e) => tracing::warn!(device = dev.id.0, error = %e, "audit of device stopped"),
        }
    }
    counters.passes.fetch_add(1, Ordering::Relaxed);
}

async fn audit_device<D: DiskIo>(
    dev: &Arc<Device<D>>,
    pacer: &mut Pacer,
    counters: &AuditCounters,
) -> Result<(), NodeError> {
    let mut after = None;
    loop {
        let entries = inventory::page(dev, after).await?;
        let done = entries.len() < inventory::PAGE_ENTRIES_MAX;
        after = entries.last().map(|v| v.key);
        for key in entries.iter().filter(|v| !v.tombstone).map(|v| &v.key) {
            let bytes = match audit_object(dev, *key, counters).await {
                Ok(b) => b,
                Err(e @ NodeError::DeviceUnavailable(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(device = dev.id.0, partition = key.partition, error = %e,
                        "audit read failed");
                    0
                }
            };
            pacer.pace(bytes).await;
        }
        if done {
            return Ok(());
        }
    }
}

/// Reads one object to its end; returns the bytes read. A replica that
/// fails its digest is counted (the GET path has quarantined it).
async fn audit_object<D: DiskIo>(
    dev: &Arc<Device<D>>,
    key: cairn_nodeapi::ObjectKey,
    counters: &AuditCounters,
) -> Result<u64, NodeError> {
    let mut bytes = 0u64;
    let outcome = match read::get(dev, key, None).await {
        Ok(mut s) => loop {
            match s.body.recv().await {
                None => break Ok(()),
                Some(Ok(f)) => bytes += f.len() as u64,
                Some(Err(e)) => break Err(e),
            }
        },
        Err(e) => Err(e),
    };
    counters.bytes.fetch_add(bytes, Ordering::Relaxed);
    match outcome {
        Ok(()) => {}
        // Deleted or overwritten since it was listed: nothing to check.
        Err(NodeError::NotFound { .. }) => return Ok(bytes),
        Err(NodeError::Corrupt) => {
            counters.corrupt.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => return Err(e),
    }
    counters.objects.fetch_add(1, Ordering::Relaxed);
    Ok(bytes)
}

/// Cap on how far ahead of the start a pace can fall due (keeps the
/// arithmetic finite for absurd rates).
const PACE_AHEAD_SECS_MAX: f64 = 1e9;

/// Holds a pass to its byte and file rates: after each object it sleeps
/// until the pass is no further ahead than the slower of the two allows.
struct Pacer {
    limits: AuditLimits,
    start: Instant,
    bytes: u64,
    files: u64,
}

impl Pacer {
    fn new(limits: AuditLimits) -> Self {
        assert!(limits.bytes_per_sec > 0 && limits.files_per_sec > 0);
        Pacer {
            limits,
            start: Instant::now(),
            bytes: 0,
            files: 0,
        }
    }

    async fn pace(&mut self, bytes: u64) {
        self.bytes += bytes;
        self.files += 1;
        let by_bytes = self.bytes as f64 / self.limits.bytes_per_sec as f64;
        let by_files = self.files as f64 / self.limits.files_per_sec as f64;
        let ahead_secs = by_bytes.max(by_files).min(PACE_AHEAD_SECS_MAX);
        let due = self.start + Duration::from_secs_f64(ahead_secs);
        tokio::time::sleep_until(due).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_holds_the_slower_rate() {
        // 10 files of 1 MiB at 4 MiB/s and 100 files/s take 2.5 s (bytes bind);
        // 10 empty files at 4 files/s take 2.5 s (files bind).
        let limits = AuditLimits {
            bytes_per_sec: 4 << 20,
            files_per_sec: 100,
        };
        let t0 = Instant::now();
        let mut p = Pacer::new(limits);
        for _ in 0..10 {
            p.pace(1 << 20).await;
        }
        assert_eq!(t0.elapsed(), Duration::from_millis(2500));
        let t1 = Instant::now();
        let mut p = Pacer::new(AuditLimits {
            bytes_per_sec: 1,
            files_per_sec: 4,
        });
        for _ in 0..10 {
            p.pace(0).await;
        }
        assert_eq!(t1.elapsed(), Duration::from_millis(2500));
    }
}
