//! `NodeConfig`: the storage node's devices and engine tunables, validated once.

use crate::EngineError;
use cairn_nodeapi::DeviceId;
use std::path::PathBuf;

/// One local device: its ring id and the directory it is mounted at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    pub id: DeviceId,
    pub path: PathBuf,
}

/// The storage node's configuration. Build with [`NodeConfig::new`] (defaults)
/// and adjust fields; [`crate::StorageNode::open`] validates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub devices: Vec<DeviceConfig>,
    /// Most writes committed by one fdatasync + one index write.
    pub group_commit_max: usize,
    /// Bodies up to this size are appended to the segment log; larger ones
    /// spill to a blob file of their own.
    pub inline_object_max_bytes: u64,
    /// Size at which a segment is sealed and a new one started (preallocated).
    pub segment_size_bytes: u64,
    /// Writes fail with `DeviceFull` when free space would drop below this.
    pub fallocate_reserve_bytes: u64,
    /// Period of the background compaction pass; 0 disables it.
    pub compaction_interval_ms: u64,
    /// A sealed segment is compacted once this share of it (percent) is dead.
    pub compaction_dead_percent: u8,
    /// Pause between the end of one audit pass and the start of the next;
    /// 0 disables the background auditor (`StorageNode::audit` still runs a pass).
    pub audit_interval_ms: u64,
    /// Most bytes per second an audit pass reads.
    pub audit_bytes_per_sec: u64,
    /// Most objects per second an audit pass reads.
    pub audit_files_per_sec: u64,
}

/// Body bytes covered by one stored blake3 digest, and the largest GET frame.
pub use cairn_nodeapi::CHUNK_BYTES;

impl NodeConfig {
    /// Defaults for `devices`: 1 MiB inline objects, 64 MiB segments, 1 GiB
    /// reserve; an audit pass every 30 s at 10 MiB/s and 20 objects/s (Swift's).
    pub fn new(devices: Vec<DeviceConfig>) -> Self {
        NodeConfig {
            devices,
            group_commit_max: 256,
            inline_object_max_bytes: 1 << 20,
            segment_size_bytes: 64 << 20,
            fallocate_reserve_bytes: 1 << 30,
            compaction_interval_ms: 60_000,
            compaction_dead_percent: 50,
            audit_interval_ms: 30_000,
            audit_bytes_per_sec: 10 << 20,
            audit_files_per_sec: 20,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), EngineError> {
        let NodeConfig {
            devices,
            group_commit_max,
            inline_object_max_bytes,
            segment_size_bytes,
            fallocate_reserve_bytes: _,
            compaction_interval_ms: _,
            compaction_dead_percent,
            audit_interval_ms: _,
            audit_bytes_per_sec,
            audit_files_per_sec,
        } = self;
        let bad = |m: &str| Err(EngineError::Config(m.to_owned()));
        if devices.is_empty() {
            return bad("no devices");
        }
        let mut ids: Vec<_> = devices.iter().map(|d| d.id).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != devices.len() {
            return bad("duplicate device id");
        }
        if *group_commit_max == 0 {
            return bad("group_commit_max must be at least 1");
        }
        let record_max = inline_object_max_bytes + crate::record::META_BYTES_MAX as u64 + 64;
        if *segment_size_bytes < record_max {
            return bad("segment_size_bytes must exceed inline_object_max_bytes + 64 KiB");
        }
        if *compaction_dead_percent == 0 || *compaction_dead_percent > 100 {
            return bad("compaction_dead_percent must be in 1..=100");
        }
        if *audit_bytes_per_sec == 0 || *audit_files_per_sec == 0 {
            return bad("audit_bytes_per_sec and audit_files_per_sec must be at least 1");
        }
        Ok(())
    }
}
