//! Where a cluster node's block gateway finds each volume's extents: by
//! the ring version its record names (the object ring in force when it
//! was made, kept in Raft as `cluster/ring/<version>`), or, for a volume
//! made before placements had versions, by the cluster's first ring.
//! Rings are read from the metadata group once and kept; each one read
//! is shown to the cluster (`Cluster::learn`) so every device it names
//! has a route, even a device no ring in force names any more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cairn_block::volume::{ExtentPlacement, Placements};
use cairn_block::BlockError;
use cairn_meta::MetaNode;
use cairn_ring::Ring;

use super::ring_sync;

/// The placements of a cluster's volumes.
pub struct RingPlacements {
    meta: Arc<MetaNode>,
    /// The cluster's first ring: volumes whose record names no version.
    first: Arc<Ring>,
    /// Ring versions read so far.
    versions: Mutex<HashMap<u64, Arc<Ring>>>,
    /// Gives the cluster the devices of each ring read.
    learn: Box<dyn Fn(&Ring) + Send + Sync>,
}

impl RingPlacements {
    pub fn new(
        meta: Arc<MetaNode>,
        first: Ring,
        learn: Box<dyn Fn(&Ring) + Send + Sync>,
    ) -> RingPlacements {
        learn(&first);
        RingPlacements {
            meta,
            first: Arc::new(first),
            versions: Mutex::new(HashMap::new()),
            learn,
        }
    }

    fn known(&self, version: u64) -> Option<Arc<Ring>> {
        let versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        versions.get(&version).cloned()
    }

    fn keep(&self, ring: Ring) -> Arc<Ring> {
        (self.learn)(&ring);
        let ring = Arc::new(ring);
        let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        versions.insert(ring.version(), ring.clone());
        ring
    }
}

fn unavailable(e: anyhow::Error) -> BlockError {
    BlockError::Io(format!("reading the volume's ring: {e:#}"))
}

#[async_trait]
impl Placements for RingPlacements {
    async fn placement(
        &self,
        version: Option<u64>,
    ) -> Result<Arc<dyn ExtentPlacement>, BlockError> {
        let Some(version) = version else {
            return Ok(self.first.clone());
        };
        if let Some(ring) = self.known(version) {
            return Ok(ring);
        }
        let ring = ring_sync::ring_version(&self.meta, version)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                BlockError::Io(format!(
                    "the cluster keeps no ring version {version}, which the volume is placed by"
                ))
            })?;
        Ok(self.keep(ring))
    }

    async fn newest(&self) -> Result<Option<u64>, BlockError> {
        let ring = ring_sync::newest_ring(&self.meta)
            .await
            .map_err(unavailable)?;
        let version = ring.version();
        if self.known(version).is_none() {
            self.keep(ring);
        }
        Ok(Some(version))
    }

    fn replica_count(&self) -> usize {
        // A published ring keeps the first one's replica count.
        self.first.replica_count()
    }
}
