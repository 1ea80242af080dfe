//! The attached gateway's repair of what a volume's marks name: devices
//! the attach could not fence (fenced at the lease's epoch, then every
//! extent of the volume they keep a replica of copied back; decision
//! 0016), and degraded extent replicas (each copied back whole; decision
//! 0015). A mark is cleared only after its copy is durable, and only at
//! the record revision the repair started from.

use super::replicas::{block_error, copy_extent};
use super::{Mark, Volume};
use crate::device::BlockError;
use cairn_nodeapi::{DeviceId, Epoch, ExtentKey};
use std::collections::HashSet;

impl Volume {
    /// Repairs what this volume's marks name and clears them: first each
    /// device the attach could not fence, then each degraded extent
    /// replica, copied back whole from a good one. Returns how many marks
    /// remain. A read-only view repairs nothing.
    pub async fn repair_degraded(&self) -> usize {
        let remaining = || self.layer.degraded.len() + self.layer.unfenced.len();
        let Some(epoch) = self.epoch else {
            return remaining();
        };
        // A device that cannot take one repair is not tried again this pass.
        let mut unreachable = HashSet::new();
        for (device, revision) in self.layer.unfenced.marks() {
            if let Err(e) = self.repair_unfenced(device, revision, epoch).await {
                tracing::warn!(volume = %self.layer.volume, device = device.0, error = %e,
                    "repairing an unfenced device failed; will retry");
                unreachable.insert(device);
            }
        }
        for (mark, revision) in self.layer.degraded.marks() {
            if revision == 0 || unreachable.contains(&mark.device) {
                continue; // its record is still being committed, or its device down
            }
            if let Err(e) = self.repair_one(mark, revision, epoch).await {
                tracing::warn!(volume = %self.layer.volume, ?mark, error = %e,
                    "repairing a degraded extent replica failed; will retry");
                unreachable.insert(mark.device);
            }
        }
        remaining()
    }

    /// Brings back `device`, which the attach could not fence: it may hold
    /// anything older than this lease, and may still take an older
    /// gateway's writes until it is fenced.
    async fn repair_unfenced(
        &self,
        device: DeviceId,
        revision: u64,
        epoch: Epoch,
    ) -> Result<(), BlockError> {
        let volume = self.layer.volume;
        // 1. Fence it: from now on no write of an older lease lands there.
        self.backend
            .nodes
            .fence(device, volume, epoch)
            .await
            .map_err(block_error)?;
        // 2. Wait out the writes in flight: one issued before the fence may
        //    still create an extent, which enters the map when it is done.
        //    Every write after this point reaches the device at this epoch
        //    or marks it degraded for that extent.
        drop(self.head.write().await);
        // 3. Copy back every extent (every generation) it keeps a replica
        //    of, each under its repair lock so no change lands between the
        //    read of the good copy and the write of this one.
        let extents: Vec<(u64, u32)> = self
            .layer
            .snapshot_map()
            .pairs()
            .filter(|&(index, _)| self.own_replicas(index).contains(&device))
            .collect();
        for &(index, generation) in &extents {
            let _quiet = self.repair_lock(index).write().await;
            self.copy_back(device, index, generation, epoch).await?;
        }
        // 4. Only now may it be read, unless an attach marked it again.
        let records = &*self.backend.records;
        if self
            .layer
            .unfenced
            .clear(records, volume, device, revision)
            .await?
        {
            tracing::info!(volume = %volume, device = device.0, extents = extents.len(),
                "unfenced device fenced and repaired");
        }
        Ok(())
    }

    async fn repair_one(&self, mark: Mark, revision: u64, epoch: Epoch) -> Result<(), BlockError> {
        let _quiet = self.repair_lock(mark.index).write().await;
        let exists = self.layer.map().visible(mark.index, mark.generation) == Some(mark.generation);
        // Whether the device answers at all (cheap, before reading a whole
        // extent), and holds this lease's fence.
        self.backend
            .nodes
            .fence(mark.device, self.layer.volume, epoch)
            .await
            .map_err(block_error)?;
        if exists {
            self.copy_back(mark.device, mark.index, mark.generation, epoch)
                .await?;
        }
        let records = &*self.backend.records;
        if self
            .layer
            .degraded
            .clear(records, self.layer.volume, mark, revision)
            .await?
        {
            tracing::info!(volume = %self.layer.volume, ?mark, exists,
                "degraded extent replica repaired");
        }
        Ok(())
    }

    /// Copies extent `index` at `generation` whole from a good replica to
    /// `device`, durably. The caller holds the extent's repair lock.
    async fn copy_back(
        &self,
        device: DeviceId,
        index: u64,
        generation: u32,
        epoch: Epoch,
    ) -> Result<(), BlockError> {
        let key = ExtentKey {
            volume: self.layer.volume,
            index,
            generation,
        };
        let mut good = self.own_fanout(index, generation).good();
        good.retain(|&d| d != device);
        copy_extent(
            &self.backend.nodes,
            &good,
            device,
            key,
            (epoch, self.extent_size),
        )
        .await
    }
}
