//! The replica fan-out of one extent operation. Writes, discards and
//! copies go to every replica and succeed when a majority acknowledge
//! ([`quorum_of`]: 2 of 3; both of 2) and at least one of those is not
//! degraded; the caller then marks the replicas that missed it degraded
//! (`degraded`) before acknowledging (decision 0015). A device the attach
//! could not fence (`unfenced`) is written too, but its acknowledgement
//! does not count (decision 0016). Reads try the
//! replicas that are not degraded in turn, skip one that fails (or fails
//! its checksums) and repair it from the good copy; [`copy_extent`] brings a
//! degraded replica back whole.

use crate::device::BlockError;
use bytes::Bytes;
use cairn_nodeapi::{DeviceId, Epoch, ExtentKey, ExtentNode, ExtentWrite, NodeError};
use futures::future::join_all;
use std::sync::Arc;

/// Block size the storage nodes checksum by; repairs rewrite whole blocks.
const REPAIR_BLOCK: u32 = 4096;

/// What a block client should hear for a storage error.
pub fn block_error(e: NodeError) -> BlockError {
    match e {
        NodeError::Fenced { current } => BlockError::Fenced(current),
        NodeError::DeviceFull => BlockError::NoSpace,
        other => BlockError::Io(other.to_string()),
    }
}

/// How many replicas of `n` must acknowledge a write: a majority (1 of 1,
/// 2 of 2, 2 of 3).
pub fn quorum_of(n: usize) -> usize {
    n / 2 + 1
}

/// One extent's replicas as an operation on one generation of it sees
/// them.
#[derive(Debug)]
pub struct ReplicaSet {
    /// Every device holding a replica, in replica order.
    pub devices: Vec<DeviceId>,
    /// Those degraded at this generation: they may take a change, but do
    /// not make the extent current.
    pub stale: Vec<DeviceId>,
    /// Those the attach could not fence: they may take a change, but it
    /// does not count (an older writer may still overwrite it).
    pub unfenced: Vec<DeviceId>,
}

impl ReplicaSet {
    /// The replicas a read or a repair may take bytes from: neither
    /// degraded nor unfenced.
    pub fn good(&self) -> Vec<DeviceId> {
        self.devices
            .iter()
            .copied()
            .filter(|d| !self.stale.contains(d) && !self.unfenced.contains(d))
            .collect()
    }
}

/// One extent operation's replicas and the service that reaches them.
pub struct Fanout<'a> {
    pub nodes: &'a Arc<dyn ExtentNode>,
    pub set: &'a ReplicaSet,
}

/// The devices that missed an operation which still reached its quorum:
/// the caller marks them degraded before acknowledging it.
pub type Missed = Vec<DeviceId>;

/// The outcome of a fan-out: a quorum of acknowledgements (an unfenced
/// device's do not count), at least one of them from a replica that is
/// not degraded, or the error (a fence wins over every other failure:
/// this gateway may no longer write).
pub fn tally(
    fanout: &Fanout<'_>,
    results: Vec<Result<(), NodeError>>,
) -> Result<Missed, BlockError> {
    let mut missed = Vec::new();
    let mut failures = Vec::new();
    let (mut succeeded, mut current) = (0, 0);
    let set = fanout.set;
    for (&d, r) in set.devices.iter().zip(results) {
        match r {
            Ok(()) if set.unfenced.contains(&d) => {}
            Ok(()) => {
                succeeded += 1;
                current += usize::from(!set.stale.contains(&d));
            }
            Err(NodeError::Fenced { current: at }) => return Err(BlockError::Fenced(at)),
            Err(e) => {
                missed.push(d);
                failures.push(e);
            }
        }
    }
    let needed = quorum_of(set.devices.len());
    if succeeded >= needed && current > 0 {
        return Ok(missed);
    }
    if failures.iter().any(|e| matches!(e, NodeError::DeviceFull)) {
        return Err(BlockError::NoSpace);
    }
    let why: Vec<String> = failures.iter().map(ToString::to_string).collect();
    Err(BlockError::Io(format!(
        "{succeeded} of {} replicas ({current} current) acknowledged, {needed} needed: {}",
        set.devices.len(),
        why.join("; ")
    )))
}

impl Fanout<'_> {
    /// Writes to every replica.
    pub async fn write(&self, key: ExtentKey, w: ExtentWrite) -> Result<Missed, BlockError> {
        let results = join_all(
            self.set
                .devices
                .iter()
                .map(|&d| self.nodes.write(d, key, w.clone())),
        )
        .await;
        tally(self, results)
    }

    /// Discards on every replica.
    pub async fn discard(
        &self,
        key: ExtentKey,
        epoch: Epoch,
        (offset, len): (u32, u32),
        fua: bool,
    ) -> Result<Missed, BlockError> {
        let results = join_all(
            self.set
                .devices
                .iter()
                .map(|&d| self.nodes.discard(d, key, epoch, offset, len, fua)),
        )
        .await;
        tally(self, results)
    }

    /// Copies an extent forward on every replica.
    pub async fn copy(
        &self,
        (from, to): (ExtentKey, ExtentKey),
        extent_size: u32,
        epoch: Epoch,
    ) -> Result<Missed, BlockError> {
        let results = join_all(
            self.set
                .devices
                .iter()
                .map(|&d| self.nodes.copy(d, from, to, extent_size, epoch)),
        )
        .await;
        tally(self, results)
    }
}

/// Reads from the first replica that answers with verified bytes, starting
/// at `start` (spreading reads over the replicas). Replicas that failed
/// their checksums are repaired from the good copy when `repair` holds the
/// writer's epoch.
pub async fn read_any(
    nodes: &Arc<dyn ExtentNode>,
    devices: &[DeviceId],
    start: usize,
    key: ExtentKey,
    (offset, len): (u32, u32),
    repair: Option<(Epoch, u32)>,
) -> Result<Bytes, BlockError> {
    let mut last = None;
    let mut corrupt = Vec::new();
    for k in 0..devices.len() {
        let d = devices[(start + k) % devices.len()];
        match nodes.read(d, key, offset, len).await {
            Ok(Some(bytes)) => {
                if let Some((epoch, extent_size)) = repair {
                    for bad in corrupt {
                        repair_blocks(nodes, d, bad, key, (offset, len), epoch, extent_size).await;
                    }
                }
                return Ok(bytes);
            }
            Ok(None) => {
                last = Some(NodeError::Io(format!(
                    "device {} is missing extent {} of {}",
                    d.0, key.index, key.volume
                )))
            }
            Err(NodeError::Corrupt) => {
                tracing::warn!(device = d.0, volume = %key.volume, index = key.index,
                    "extent replica failed its checksum; reading another");
                corrupt.push(d);
                last = Some(NodeError::Corrupt);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(block_error(last.unwrap_or_else(|| {
        NodeError::Io("the extent has no replicas".into())
    })))
}

/// Rewrites the whole blocks around `range` on `bad` with `good`'s bytes.
async fn repair_blocks(
    nodes: &Arc<dyn ExtentNode>,
    good: DeviceId,
    bad: DeviceId,
    key: ExtentKey,
    (offset, len): (u32, u32),
    epoch: Epoch,
    extent_size: u32,
) {
    let start = offset / REPAIR_BLOCK * REPAIR_BLOCK;
    let end = (offset + len).div_ceil(REPAIR_BLOCK) * REPAIR_BLOCK;
    let fixed = match nodes.read(good, key, start, end - start).await {
        Ok(Some(data)) => {
            let w = ExtentWrite {
                extent_size,
                epoch,
                offset: start,
                data,
                fua: true,
            };
            nodes.write(bad, key, w).await
        }
        Ok(None) => Err(NodeError::Io("the good replica vanished".into())),
        Err(e) => Err(e),
    };
    match fixed {
        Ok(()) => tracing::info!(device = bad.0, volume = %key.volume, index = key.index,
            start, end, "repaired extent blocks from another replica"),
        Err(e) => tracing::warn!(device = bad.0, error = %e, "extent repair failed"),
    }
}

/// Copies the whole extent `key` from the first of `good` that has it to
/// `bad`, durably: the repair of a degraded replica.
pub async fn copy_extent(
    nodes: &Arc<dyn ExtentNode>,
    good: &[DeviceId],
    bad: DeviceId,
    key: ExtentKey,
    (epoch, extent_size): (Epoch, u32),
) -> Result<(), BlockError> {
    let data = read_any(nodes, good, 0, key, (0, extent_size), None).await?;
    let w = ExtentWrite {
        extent_size,
        epoch,
        offset: 0,
        data,
        fua: true,
    };
    nodes.write(bad, key, w).await.map_err(block_error)
}
