//! What a device holds, as replication sees it: partition digests (cached),
//! bucket listings, the partitions held, pages of entries for sweeps; and the
//! removals replication asks for: dropping handoff entries that every primary
//! now has, and reclaiming old tombstones.
//!
//! Every query is a rocksdb scan of index entries on the blocking pool; no
//! object body is read. Removals go through the writer, which removes an
//! entry only if it is still the version asked for, so a write that raced
//! the listing is never lost.

use crate::device::Device;
use crate::digest_cache::{add_entry, Lookup};
use crate::index::Scope;
use crate::writer::{Outcome, WriteOp};
use cairn_base::Timestamp;
use cairn_diskio::DiskIo;
use cairn_nodeapi::{EntryVersion, NodeError, ObjectKey, PartitionDigest, PartitionDigestBuilder};

/// Entries one index read of a sweep returns at most (reclaim, audit).
pub(crate) const PAGE_ENTRIES_MAX: usize = 1024;

/// Runs a blocking index query on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NodeError::Io(format!("index task failed: {e}")))?
}

pub(crate) async fn partition_digest<D: DiskIo>(
    dev: &Device<D>,
    partition: u32,
) -> Result<PartitionDigest, NodeError> {
    dev.check_usable()?;
    let token = match dev.digests.lookup(partition) {
        Lookup::Hit(d) => return Ok(d),
        Lookup::Miss(token) => token,
    };
    let index = dev.index.clone();
    let sums = blocking(move || {
        let mut sums = PartitionDigestBuilder::new();
        index.visit(Scope::Partition(partition), None, |key, e| {
            add_entry(&mut sums, &key, &e);
            true
        })?;
        Ok(sums)
    })
    .await?;
    let digest = sums.digest();
    dev.digests.fill(partition, token, sums);
    Ok(digest)
}

pub(crate) async fn list_bucket<D: DiskIo>(
    dev: &Device<D>,
    partition: u32,
    bucket: u8,
) -> Result<Vec<EntryVersion>, NodeError> {
    dev.check_usable()?;
    let index = dev.index.clone();
    blocking(move || {
        let mut out = Vec::new();
        index.visit(Scope::Bucket(partition, bucket), None, |key, e| {
            out.push(e.version(key));
            true
        })?;
        Ok(out)
    })
    .await
}

pub(crate) async fn partitions<D: DiskIo>(dev: &Device<D>) -> Result<Vec<u32>, NodeError> {
    dev.check_usable()?;
    let index = dev.index.clone();
    blocking(move || index.partitions()).await
}

/// The versions of up to [`PAGE_ENTRIES_MAX`] entries of the device after
/// `after`, in key order; fewer means the end was reached. (Versions, not
/// entries: an entry's chunk digests run to 320 KiB for a 5 GiB object.)
pub(crate) async fn page<D: DiskIo>(
    dev: &Device<D>,
    after: Option<ObjectKey>,
) -> Result<Vec<EntryVersion>, NodeError> {
    dev.check_usable()?;
    let index = dev.index.clone();
    blocking(move || {
        let mut out = Vec::new();
        index.visit(Scope::Device, after.as_ref(), |key, e| {
            out.push(e.version(key));
            out.len() < PAGE_ENTRIES_MAX
        })?;
        Ok(out)
    })
    .await
}

/// Removes each entry that is still exactly its listed version; returns how
/// many went. Entries of another partition are refused whole.
pub(crate) async fn drop_entries<D: DiskIo>(
    dev: &Device<D>,
    partition: u32,
    entries: Vec<EntryVersion>,
) -> Result<u64, NodeError> {
    dev.check_usable()?;
    if let Some(e) = entries.iter().find(|e| e.key.partition != partition) {
        return Err(NodeError::Io(format!(
            "drop of {} (partition {}) asked for partition {partition}",
            e.name, e.key.partition
        )));
    }
    let ops = entries
        .into_iter()
        .map(|version| WriteOp::Drop {
            key: version.key,
            version,
        })
        .collect();
    let mut dropped = 0;
    for r in dev.submit_all(ops).await {
        if let Outcome::Dropped(true) = r? {
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// Removes every tombstone older than `before` (Swift's `reclaim_age`): by
/// then every replica has long had it, and an older write can no longer
/// arrive. One page of the index at a time.
pub(crate) async fn reclaim_tombstones<D: DiskIo>(
    dev: &Device<D>,
    before: Timestamp,
) -> Result<u64, NodeError> {
    let mut after = None;
    let mut reclaimed = 0;
    loop {
        let entries = page(dev, after).await?;
        let done = entries.len() < PAGE_ENTRIES_MAX;
        after = entries.last().map(|v| v.key);
        let ops: Vec<WriteOp> = entries
            .into_iter()
            .filter(|v| v.tombstone && v.data_ts < before)
            .map(|version| WriteOp::Drop {
                key: version.key,
                version,
            })
            .collect();
        for r in dev.submit_all(ops).await {
            if let Outcome::Dropped(true) = r? {
                reclaimed += 1;
            }
        }
        if done {
            return Ok(reclaimed);
        }
    }
}
