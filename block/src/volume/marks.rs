//! The record-table plumbing both kinds of repair marks share (degraded
//! extent replicas, `degraded`; devices an attach could not fence,
//! `unfenced`): reading one volume's records page by page, the error a
//! failed metadata call becomes, and deleting a deleted volume's marks.

use super::{degraded, unfenced};
use crate::device::BlockError;
use cairn_base::VolumeId;
use cairn_meta_api::records::{RecordKey, Records, Txn};
use cairn_meta_api::MetaError;

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
