//! Devices an attach could not fence (decision 0016): the volume was
//! attached at a new epoch while the device did not answer, so the device
//! may hold bytes this lease never wrote (writes it missed before and
//! during its absence) and, until it is fenced, may still take writes from
//! a gateway with an older lease. None of the volume's extents is read
//! from it, and a write it takes does not count towards a quorum, until
//! the repairer has fenced it at the current epoch, copied back every
//! extent of the volume it holds a replica of, and cleared the mark.
//!
//! One mark per (volume, device), not one per extent: the attach cannot
//! list the extents of a device that does not answer, and marking every
//! extent of a large volume would cost as many records. A mark is
//! committed through Raft in the metadata group's table [`TABLE`] before
//! the attach completes, so a gateway attaching the volume after a crash
//! knows it too, and is cleared only at the record revision the repairer
//! saw (an attach that could not fence the device again re-marks it, a
//! new revision, and that mark survives the older repair).

use super::marks::{clear_record, meta_error, scan_volume, volume_prefix, MarkSet};
use crate::device::BlockError;
use cairn_base::VolumeId;
use cairn_meta_api::records::{RecordKey, Records, Txn, TxnOutcome};
use cairn_nodeapi::{DeviceId, Epoch};

/// The record table of unfenced devices, keyed `<volume hex>/<device>`;
/// the value names the epoch of the attach that could not fence it.
pub const TABLE: &str = "volume-unfenced";

fn record_key(volume: VolumeId, device: DeviceId) -> RecordKey {
    RecordKey::new(TABLE, format!("{}{}", volume_prefix(volume), device.0))
}

/// The devices of one volume that were not fenced at an attach and are
/// not repaired yet, with the revision of each one's record.
#[derive(Debug, Default)]
pub struct Unfenced {
    devices: MarkSet<DeviceId>,
}

impl Unfenced {
    /// The devices among `devices` that are marked.
    pub fn among(&self, devices: &[DeviceId]) -> Vec<DeviceId> {
        self.devices.marked(devices, |d| d)
    }

    /// Every marked device with its record revision.
    pub fn marks(&self) -> Vec<(DeviceId, u64)> {
        self.devices.marks()
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads the marks recorded for `volume`.
    pub async fn load(&self, records: &dyn Records, volume: VolumeId) -> Result<(), BlockError> {
        for (key, revision) in scan_volume(records, TABLE, volume).await? {
            match key.parse() {
                Ok(d) => self.devices.note(DeviceId(d), revision),
                Err(_) => tracing::warn!(key, "unreadable unfenced-device record"),
            }
        }
        Ok(())
    }

    /// Marks `devices` (not fenced by the attach at `epoch`), durably, in
    /// one Raft commit; a device marked before is marked again (a new
    /// revision). The attach completes only after this returns.
    pub async fn record(
        &self,
        records: &dyn Records,
        volume: VolumeId,
        devices: &[DeviceId],
        epoch: Epoch,
    ) -> Result<(), BlockError> {
        let value = format!("epoch {}", epoch.0).into_bytes();
        let txn = devices.iter().fold(Txn::new(), |t, &d| {
            t.put(record_key(volume, d), value.clone())
        });
        match records.commit(txn).await.map_err(meta_error)? {
            TxnOutcome::Committed(revisions) => {
                for (&d, r) in devices.iter().zip(revisions) {
                    self.devices.note(d, r);
                }
                tracing::warn!(volume = %volume, epoch = epoch.0, ?devices,
                    "volume attached without fencing these devices; they are not read until repaired");
                Ok(())
            }
            TxnOutcome::Conflict { key, .. } => Err(BlockError::Io(format!(
                "recording an unfenced device: unexpected conflict on {key:?}"
            ))),
        }
    }

    /// Clears `device`'s mark if its record is still at `revision`.
    /// Returns whether it was cleared.
    pub async fn clear(
        &self,
        records: &dyn Records,
        volume: VolumeId,
        device: DeviceId,
        revision: u64,
    ) -> Result<bool, BlockError> {
        let cleared = clear_record(records, record_key(volume, device), revision).await?;
        if cleared {
            self.devices.forget(device, revision);
        }
        Ok(cleared)
    }
}
