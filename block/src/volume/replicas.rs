//! The replica fan-out of one extent operation: writes go to every replica
//! and succeed only if all do; reads try the replicas in turn, skip a
//! replica that fails (or fails its checksums) and repair it from the good
//! copy.

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

/// The first failure of a fan-out, if any.
fn all_ok(results: Vec<Result<(), NodeError>>) -> Result<(), BlockError> {
    match results.into_iter().find_map(Result::err) {
        None => Ok(()),
        Some(e) => Err(block_error(e)),
    }
}

/// Writes to every replica.
pub async fn write_all(
    nodes: &Arc<dyn ExtentNode>,
    devices: &[DeviceId],
    key: ExtentKey,
    w: ExtentWrite,
) -> Result<(), BlockError> {
    all_ok(join_all(devices.iter().map(|&d| nodes.write(d, key, w.clone()))).await)
}

/// Discards on every replica.
pub async fn discard_all(
    nodes: &Arc<dyn ExtentNode>,
    devices: &[DeviceId],
    key: ExtentKey,
    epoch: Epoch,
    (offset, len): (u32, u32),
    fua: bool,
) -> Result<(), BlockError> {
    all_ok(
        join_all(
            devices
                .iter()
                .map(|&d| nodes.discard(d, key, epoch, offset, len, fua)),
        )
        .await,
    )
}

/// Copies an extent forward on every replica.
pub async fn copy_all(
    nodes: &Arc<dyn ExtentNode>,
    devices: &[DeviceId],
    (from, to): (ExtentKey, ExtentKey),
    extent_size: u32,
    epoch: Epoch,
) -> Result<(), BlockError> {
    all_ok(
        join_all(
            devices
                .iter()
                .map(|&d| nodes.copy(d, from, to, extent_size, epoch)),
        )
        .await,
    )
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
