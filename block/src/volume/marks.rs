//! What both kinds of repair marks share (degraded extent replicas,
//! `degraded`; devices an attach could not fence, `unfenced`): the
//! in-memory set of one volume's marks with their record revisions
//! ([`MarkSet`]), and the record-table plumbing — reading one volume's
//! records page by page, clearing a record only at the revision a repair
//! saw, the error a failed metadata call becomes, and deleting a deleted
//! volume's marks.

use super::{degraded, unfenced};
use crate::device::BlockError;
use cairn_base::VolumeId;
use cairn_meta_api::records::{Check, RecordKey, Records, Txn, TxnOutcome};
use cairn_meta_api::MetaError;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

/// One volume's marks of one kind, each with the revision of its record
/// (0 while its commit is in flight).
#[derive(Debug)]
pub struct MarkSet<K> {
    marks: RwLock<BTreeMap<K, u64>>,
    /// Whether `marks` may be non-empty: reads of a volume with no mark
    /// skip the lock.
    any: AtomicBool,
}

impl<K> Default for MarkSet<K> {
    fn default() -> Self {
        MarkSet {
            marks: RwLock::new(BTreeMap::new()),
            any: AtomicBool::new(false),
        }
    }
}

impl<K: Ord + Copy> MarkSet<K> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<K, u64>> {
        self.marks.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<K, u64>> {
        self.marks.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The items whose mark (`key` of the item) is set.
    pub fn marked<T: Copy>(&self, items: &[T], key: impl Fn(T) -> K) -> Vec<T> {
        if !self.any.load(Ordering::Acquire) {
            return Vec::new();
        }
        let marks = self.read();
        items
            .iter()
            .copied()
            .filter(|&t| marks.contains_key(&key(t)))
            .collect()
    }

    /// The revision of `k`'s record, if marked.
    pub fn revision(&self, k: &K) -> Option<u64> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.read().get(k).copied()
    }

    /// Every mark with its record revision.
    pub fn marks(&self) -> Vec<(K, u64)> {
        self.read().iter().map(|(k, r)| (*k, *r)).collect()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Notes `k` at `revision` (keeping a newer one already noted).
    pub fn note(&self, k: K, revision: u64) {
        let mut marks = self.write();
        let r = marks.entry(k).or_insert(revision);
        *r = (*r).max(revision);
        self.any.store(true, Ordering::Release);
    }

    /// Forgets `k` if it is still at `revision`.
    pub fn forget(&self, k: K, revision: u64) {
        let mut marks = self.write();
        if marks.get(&k) == Some(&revision) {
            marks.remove(&k);
        }
    }
}

/// Deletes the record `key` if it is still at `revision` (nothing marked
/// it again since the repair started). Returns whether it was deleted.
pub async fn clear_record(
    records: &dyn Records,
    key: RecordKey,
    revision: u64,
) -> Result<bool, BlockError> {
    let txn = Txn::new()
        .check(Check::at(key.clone(), revision))
        .delete(key);
    match records.commit(txn).await.map_err(meta_error)? {
        TxnOutcome::Committed(_) => Ok(true),
        TxnOutcome::Conflict { .. } => Ok(false),
    }
}

/// Records read at once when loading or deleting a volume's marks.
const SCAN_PAGE_MAX: usize = 1000;

pub fn meta_error(e: MetaError) -> BlockError {
    BlockError::Io(format!("recording a replica mark: {e}"))
}

/// The key prefix of `volume`'s records in a mark table.
pub fn volume_prefix(volume: VolumeId) -> String {
    format!("{}/", volume.hex())
}

/// Every record of `volume` in `table`, as (key after the volume's
/// prefix, revision).
pub async fn scan_volume(
    records: &dyn Records,
    table: &str,
    volume: VolumeId,
) -> Result<Vec<(String, u64)>, BlockError> {
    let prefix = volume_prefix(volume);
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = records
            .scan(table, &prefix, after.as_deref(), SCAN_PAGE_MAX)
            .await
            .map_err(meta_error)?;
        for (key, rec) in &page {
            if let Some(rest) = key.strip_prefix(&prefix) {
                out.push((rest.to_owned(), rec.revision));
            }
        }
        match page.last() {
            Some((k, _)) if page.len() == SCAN_PAGE_MAX => after = Some(k.clone()),
            _ => return Ok(out),
        }
    }
}

/// Deletes every mark recorded for `volume` (it is being deleted).
pub async fn forget_volume(records: &dyn Records, volume: VolumeId) -> Result<(), BlockError> {
    let prefix = volume_prefix(volume);
    for table in [degraded::TABLE, unfenced::TABLE] {
        loop {
            let page = records
                .scan(table, &prefix, None, SCAN_PAGE_MAX)
                .await
                .map_err(meta_error)?;
            if page.is_empty() {
                break;
            }
            let txn = page.iter().fold(Txn::new(), |t, (k, _)| {
                t.delete(RecordKey::new(table, k.clone()))
            });
            records.commit(txn).await.map_err(meta_error)?;
        }
    }
    Ok(())
}
