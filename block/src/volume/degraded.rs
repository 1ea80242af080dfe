//! Degraded extent replicas: a replica of an extent (one generation of it,
//! on one device) that missed a write, discard, copy or flush the volume
//! acknowledged, and so must not be read until it is repaired (decision
//! 0015).
//!
//! A mark lives in two places: in memory on the [`Layer`](super::Layer)
//! that reads the extent, which reads consult, and as a record in the
//! metadata group's table [`TABLE`], committed through Raft *before* the
//! write that made it is acknowledged, so a gateway that attaches the
//! volume after a crash knows it too. Marks are the rare path: a write
//! whose every replica answers touches neither.
//!
//! A mark is cleared only at the record revision the repairer saw when it
//! started: a replica that misses another write during the repair is
//! marked again (a new revision), and that mark survives the repair.

use super::marks::{clear_record, meta_error, scan_volume, volume_prefix, MarkSet};
use crate::device::BlockError;
use cairn_base::VolumeId;
use cairn_meta_api::records::{RecordKey, Records, Txn, TxnOutcome};
use cairn_nodeapi::DeviceId;

/// The record table of degraded extent replicas, keyed
/// `<volume hex>/<index, 16 hex>/<generation, 8 hex>/<device>`.
pub const TABLE: &str = "volume-degraded";

/// One degraded extent replica of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mark {
    pub index: u64,
    pub generation: u32,
    pub device: DeviceId,
}

/// The record key of `mark` of `volume`.
fn record_key(volume: VolumeId, m: Mark) -> RecordKey {
    RecordKey::new(
        TABLE,
        format!(
            "{}{:016x}/{:08x}/{}",
            volume_prefix(volume),
            m.index,
            m.generation,
            m.device.0
        ),
    )
}

/// The mark a record key (after the volume's prefix) names.
fn parse_key(rest: &str) -> Option<Mark> {
    let mut parts = rest.split('/');
    let index = u64::from_str_radix(parts.next()?, 16).ok()?;
    let generation = u32::from_str_radix(parts.next()?, 16).ok()?;
    let device = DeviceId(parts.next()?.parse().ok()?);
    parts.next().is_none().then_some(Mark {
        index,
        generation,
        device,
    })
}

/// The degraded replicas of one volume's extents, with the revision of
/// each mark's record (0 while its commit is in flight).
#[derive(Debug, Default)]
pub struct Degraded {
    marks: MarkSet<Mark>,
}

impl Degraded {
    /// The devices among `devices` whose copy of extent `index` at
    /// `generation` is degraded.
    pub fn stale(&self, index: u64, generation: u32, devices: &[DeviceId]) -> Vec<DeviceId> {
        self.marks.marked(devices, |device| Mark {
            index,
            generation,
            device,
        })
    }

    /// Whether `mark` is recorded durably (not just noted while its
    /// commit is in flight: a write that misses the same replica then must
    /// wait for a commit of its own before it is acknowledged).
    pub fn recorded(&self, mark: &Mark) -> bool {
        self.marks.revision(mark).is_some_and(|r| r > 0)
    }

    /// Every mark with its record revision.
    pub fn marks(&self) -> Vec<(Mark, u64)> {
        self.marks.marks()
    }

    pub fn len(&self) -> usize {
        self.marks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads the marks recorded for `volume`.
    pub async fn load(&self, records: &dyn Records, volume: VolumeId) -> Result<(), BlockError> {
        for (key, revision) in scan_volume(records, TABLE, volume).await? {
            match parse_key(&key) {
                Some(m) => self.marks.note(m, revision),
                None => tracing::warn!(key, "unreadable degraded-replica record"),
            }
        }
        Ok(())
    }

    /// Marks `new` degraded: at once for readers, then durably (one Raft
    /// commit). The caller acknowledges its write only after this returns.
    pub async fn record(
        &self,
        records: &dyn Records,
        volume: VolumeId,
        new: &[Mark],
    ) -> Result<(), BlockError> {
        for &m in new {
            self.marks.note(m, 0);
        }
        let txn = new.iter().fold(Txn::new(), |t, &m| {
            t.put(record_key(volume, m), b"degraded".to_vec())
        });
        match records.commit(txn).await.map_err(meta_error)? {
            TxnOutcome::Committed(revisions) => {
                for (&m, r) in new.iter().zip(revisions) {
                    self.marks.note(m, r);
                }
                tracing::warn!(volume = %volume, marks = ?new, "extent replicas marked degraded");
                Ok(())
            }
            TxnOutcome::Conflict { key, .. } => Err(BlockError::Io(format!(
                "recording a degraded replica: unexpected conflict on {key:?}"
            ))),
        }
    }

    /// Clears `mark` if its record is still at `revision` (nothing marked
    /// it again since the repair started). Returns whether it was cleared.
    pub async fn clear(
        &self,
        records: &dyn Records,
        volume: VolumeId,
        mark: Mark,
        revision: u64,
    ) -> Result<bool, BlockError> {
        let cleared = clear_record(records, record_key(volume, mark), revision).await?;
        if cleared {
            self.marks.forget(mark, revision);
        }
        Ok(cleared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let m = Mark {
            index: 0x1234,
            generation: 7,
            device: DeviceId(42),
        };
        let v = VolumeId([3; 16]);
        let k = record_key(v, m);
        let rest = k.key.strip_prefix(&format!("{}/", v.hex())).unwrap();
        assert_eq!(parse_key(rest), Some(m));
        assert_eq!(parse_key("12/7"), None);
        assert_eq!(parse_key("12/7/1/2"), None);
    }
}
