//! Reads of the state machine: accounts, containers and the two listings,
//! straight from the database (the caller has made them linearizable).

use cairn_meta_api::{
    AccountInfo, ContainerInfo, ContainerListItem, ListQuery, MetaError, ObjectListItem,
};
use rocksdb::DB;

use crate::db;
use crate::error::StoreError;
use crate::keys::{self, Cf};
use crate::listing::{self, Row};
use crate::types::StoredObject;

/// The account, or `AccountNotFound`.
pub fn account(db: &DB, account: &str) -> Result<AccountInfo, MetaError> {
    if !keys::valid_component(account) {
        return Err(MetaError::AccountNotFound);
    }
    db::get_json(db, Cf::Accounts, &keys::account(account), "account")?
        .ok_or(MetaError::AccountNotFound)
}

/// The container, or `ContainerNotFound`.
pub fn container(db: &DB, account: &str, container: &str) -> Result<ContainerInfo, MetaError> {
    if !keys::valid_component(account) || !keys::valid_component(container) {
        return Err(MetaError::ContainerNotFound);
    }
    db::get_json(
        db,
        Cf::Containers,
        &keys::container(account, container),
        "container",
    )?
    .ok_or(MetaError::ContainerNotFound)
}

/// The account's containers per `query`.
pub fn list_containers(
    db: &DB,
    account_name: &str,
    q: &ListQuery,
) -> Result<Vec<ContainerListItem>, MetaError> {
    account(db, account_name)?;
    let mut it = db.raw_iterator_cf(db::cf(db, Cf::Containers)?);
    let base = keys::containers_prefix(account_name);
    let rows = listing::list(&mut it, &base, q, |_name, value| {
        db::decode::<ContainerInfo>("container", value)
    })?;
    Ok(rows
        .into_iter()
        .map(|row| match row {
            Row::Item(c) => ContainerListItem::Container {
                name: c.name,
                object_count: c.object_count,
                bytes_used: c.bytes_used,
                last_modified: c.put_ts,
            },
            Row::Subdir(s) => ContainerListItem::Subdir(s),
        })
        .collect())
}

/// The container's objects per `query`.
pub fn list_objects(
    db: &DB,
    account: &str,
    container_name: &str,
    q: &ListQuery,
) -> Result<Vec<ObjectListItem>, MetaError> {
    container(db, account, container_name)?;
    let mut it = db.raw_iterator_cf(db::cf(db, Cf::Objects)?);
    let base = keys::objects_prefix(account, container_name);
    let rows = listing::list(&mut it, &base, q, |name, value| {
        let stored: StoredObject = db::decode("object", value)?;
        Ok::<_, StoreError>(stored.into_entry(name))
    })?;
    Ok(rows
        .into_iter()
        .map(|row| match row {
            Row::Item(e) => ObjectListItem::Object(e),
            Row::Subdir(s) => ObjectListItem::Subdir(s),
        })
        .collect())
}

/// Tombstone keys found by `old_tombstones`, and where to resume.
pub type TombstoneScan = (Vec<Vec<u8>>, Option<Vec<u8>>);

/// Up to `max` tombstone keys after `after` whose deletion is older than
/// `older_than`, and the key to resume from (`None`: the scan reached the
/// end). Scans at most `max * 8` keys per call, so a call is bounded even
/// when few tombstones are old.
pub fn old_tombstones(
    db: &DB,
    after: Option<&[u8]>,
    older_than: cairn_base::Timestamp,
    max: usize,
) -> Result<TombstoneScan, StoreError> {
    let mut it = db.raw_iterator_cf(db::cf(db, Cf::Tombstones)?);
    match after {
        Some(k) => {
            it.seek(k);
            if it.key() == Some(k) {
                it.next();
            }
        }
        None => it.seek_to_first(),
    }
    let mut found = Vec::new();
    let mut scanned = 0;
    let mut last = None;
    while let Some((k, v)) = it.item() {
        if found.len() >= max || scanned >= max.saturating_mul(8) {
            return Ok((found, last));
        }
        scanned += 1;
        let raw: [u8; 8] = v
            .try_into()
            .map_err(|_| StoreError::corrupt("tombstone", "not 8 bytes"))?;
        if u64::from_be_bytes(raw) < older_than.ticks() {
            found.push(k.to_vec());
        }
        last = Some(k.to_vec());
        it.next();
    }
    it.status()?;
    Ok((found, None))
}
