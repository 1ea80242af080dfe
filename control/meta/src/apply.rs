//! The state machine's semantics: what each command does to accounts,
//! containers, object entries and tombstones (volumes: `volumes`). Pure logic over an `Overlay`;
//! the same log yields the same state on every replica.

use cairn_base::Timestamp;
use cairn_meta_api::{AccountInfo, ContainerInfo, ContainerPut, MetaMap, ObjectEntry};

use crate::error::StoreError;
use crate::keys::{self, Cf};
use crate::overlay::Overlay;
use crate::types::{Rejection, Reply, Request, StoredObject};
use crate::volumes;

/// Applies one command.
pub fn apply(ov: &mut Overlay<'_>, req: &Request) -> Result<Reply, StoreError> {
    match req {
        Request::EnsureAccount { account, ts } => {
            ensure_account(ov, account, *ts).map(Reply::Account)
        }
        Request::UpdateAccountMeta { account, meta, .. } => update_account_meta(ov, account, meta),
        Request::PutContainer {
            account,
            container,
            meta,
            ts,
            containers_max,
        } => put_container(ov, account, container, meta, *ts, *containers_max),
        Request::UpdateContainerMeta {
            account,
            container,
            meta,
            ts,
        } => update_container_meta(ov, account, container, meta, *ts),
        Request::DeleteContainer {
            account, container, ..
        } => delete_container(ov, account, container),
        Request::PutObject {
            account,
            container,
            entry,
        } => put_object(ov, account, container, entry),
        Request::DeleteObject {
            account,
            container,
            name,
            ts,
        } => delete_object(ov, account, container, name, *ts),
        Request::ReclaimTombstones { older_than, keys } => {
            reclaim_tombstones(ov, *older_than, keys)
        }
        Request::CreateVolume(new) => volumes::create(ov, new),
        Request::ResizeVolume { id, size } => volumes::resize(ov, id, *size),
        Request::DeleteVolume { id } => volumes::delete(ov, id),
        Request::CreateSnapshot {
            id,
            name,
            internal,
            created,
        } => volumes::snapshot(ov, id, name, *internal, *created),
        Request::DeleteSnapshot { id, name } => volumes::delete_snapshot(ov, id, name),
        Request::AcquireLease { id, holder } => volumes::acquire(ov, id, holder),
        Request::ReleaseLease { id, holder, epoch } => volumes::release(ov, id, holder, *epoch),
        Request::Records(txn) => crate::records::apply(ov, txn),
        Request::Batch(reqs) => reqs
            .iter()
            .map(|r| apply(ov, r))
            .collect::<Result<_, _>>()
            .map(Reply::Batch),
    }
}

/// Merges `changes` into `meta`: an empty value removes the key.
pub fn merge_meta(meta: &mut MetaMap, changes: &MetaMap) {
    for (k, v) in changes {
        if v.is_empty() {
            meta.remove(k);
        } else {
            meta.insert(k.clone(), v.clone());
        }
    }
}

fn load_account(ov: &Overlay<'_>, account: &str) -> Result<Option<AccountInfo>, StoreError> {
    ov.get_json(Cf::Accounts, &keys::account(account), "account")
}

fn save_account(ov: &mut Overlay<'_>, info: &AccountInfo) -> Result<(), StoreError> {
    ov.put_json(Cf::Accounts, keys::account(&info.name), "account", info)
}

fn load_container(
    ov: &Overlay<'_>,
    account: &str,
    container: &str,
) -> Result<Option<ContainerInfo>, StoreError> {
    ov.get_json(
        Cf::Containers,
        &keys::container(account, container),
        "container",
    )
}

fn save_container(ov: &mut Overlay<'_>, info: &ContainerInfo) -> Result<(), StoreError> {
    ov.put_json(
        Cf::Containers,
        keys::container(&info.account, &info.name),
        "container",
        info,
    )
}

fn ensure_account(
    ov: &mut Overlay<'_>,
    account: &str,
    ts: Timestamp,
) -> Result<AccountInfo, StoreError> {
    if let Some(info) = load_account(ov, account)? {
        return Ok(info);
    }
    let info = AccountInfo {
        name: account.to_owned(),
        created: ts,
        meta: MetaMap::new(),
        container_count: 0,
        object_count: 0,
        bytes_used: 0,
    };
    save_account(ov, &info)?;
    Ok(info)
}

fn update_account_meta(
    ov: &mut Overlay<'_>,
    account: &str,
    meta: &MetaMap,
) -> Result<Reply, StoreError> {
    let Some(mut info) = load_account(ov, account)? else {
        return Ok(Reply::Rejected(Rejection::AccountNotFound));
    };
    merge_meta(&mut info.meta, meta);
    save_account(ov, &info)?;
    Ok(Reply::Account(info))
}

fn put_container(
    ov: &mut Overlay<'_>,
    account: &str,
    container: &str,
    meta: &MetaMap,
    ts: Timestamp,
    containers_max: Option<u64>,
) -> Result<Reply, StoreError> {
    if let Some(mut info) = load_container(ov, account, container)? {
        merge_meta(&mut info.meta, meta);
        info.put_ts = info.put_ts.max(ts);
        save_container(ov, &info)?;
        return Ok(Reply::ContainerPut(ContainerPut::Updated));
    }
    let mut acct = ensure_account(ov, account, ts)?;
    if containers_max.is_some_and(|max| acct.container_count >= max) {
        return Ok(Reply::Rejected(Rejection::TooManyContainers));
    }
    let mut info = ContainerInfo {
        account: account.to_owned(),
        name: container.to_owned(),
        created: ts,
        put_ts: ts,
        meta: MetaMap::new(),
        object_count: 0,
        bytes_used: 0,
    };
    merge_meta(&mut info.meta, meta);
    save_container(ov, &info)?;
    acct.container_count += 1;
    save_account(ov, &acct)?;
    Ok(Reply::ContainerPut(ContainerPut::Created))
}

fn update_container_meta(
    ov: &mut Overlay<'_>,
    account: &str,
    container: &str,
    meta: &MetaMap,
    ts: Timestamp,
) -> Result<Reply, StoreError> {
    let Some(mut info) = load_container(ov, account, container)? else {
        return Ok(Reply::Rejected(Rejection::ContainerNotFound));
    };
    merge_meta(&mut info.meta, meta);
    info.put_ts = info.put_ts.max(ts);
    save_container(ov, &info)?;
    Ok(Reply::Container(info))
}

fn delete_container(
    ov: &mut Overlay<'_>,
    account: &str,
    container: &str,
) -> Result<Reply, StoreError> {
    let Some(info) = load_container(ov, account, container)? else {
        return Ok(Reply::Rejected(Rejection::ContainerNotFound));
    };
    if info.object_count > 0 {
        return Ok(Reply::Rejected(Rejection::ContainerNotEmpty));
    }
    let mut acct = load_account(ov, account)?.ok_or_else(|| {
        StoreError::Invariant(format!("container {account}/{container} without account"))
    })?;
    acct.container_count = acct.container_count.checked_sub(1).ok_or_else(|| {
        StoreError::Invariant(format!("account {account} container_count underflow"))
    })?;
    save_account(ov, &acct)?;
    ov.delete(Cf::Containers, keys::container(account, container));
    // The container's tombstones die with it: a recreated container starts
    // empty, and the proxy checks the container exists before any object PUT.
    let start = keys::objects_prefix(account, container);
    let end = keys::prefix_end(&start).unwrap_or_else(|| keys::KEY_END.to_vec());
    ov.delete_range(Cf::Tombstones, start, end);
    Ok(Reply::Done)
}

/// The change of an object write to its container's and account's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delta {
    objects: i64,
    bytes: i128,
}

fn put_object(
    ov: &mut Overlay<'_>,
    account: &str,
    container: &str,
    entry: &ObjectEntry,
) -> Result<Reply, StoreError> {
    if load_container(ov, account, container)?.is_none() {
        return Ok(Reply::Rejected(Rejection::ContainerNotFound));
    }
    let key = keys::object(account, container, &entry.name);
    let old = current_object(ov, &key)?;
    if newer_recorded(ov, &key, old.as_ref(), entry.ts)? {
        return Ok(Reply::Done);
    }
    let delta = match &old {
        Some(o) => Delta {
            objects: 0,
            bytes: i128::from(entry.size) - i128::from(o.size),
        },
        None => Delta {
            objects: 1,
            bytes: i128::from(entry.size),
        },
    };
    ov.put_json(
        Cf::Objects,
        key.clone(),
        "object",
        &StoredObject::from_entry(entry),
    )?;
    ov.delete(Cf::Tombstones, key);
    adjust_totals(ov, account, container, delta)?;
    Ok(Reply::Done)
}

fn delete_object(
    ov: &mut Overlay<'_>,
    account: &str,
    container: &str,
    name: &str,
    ts: Timestamp,
) -> Result<Reply, StoreError> {
    if load_container(ov, account, container)?.is_none() {
        return Ok(Reply::Rejected(Rejection::ContainerNotFound));
    }
    let key = keys::object(account, container, name);
    let old = current_object(ov, &key)?;
    if newer_recorded(ov, &key, old.as_ref(), ts)? {
        return Ok(Reply::Done);
    }
    ov.put(
        Cf::Tombstones,
        key.clone(),
        ts.ticks().to_be_bytes().to_vec(),
    );
    if let Some(o) = old {
        ov.delete(Cf::Objects, key);
        adjust_totals(
            ov,
            account,
            container,
            Delta {
                objects: -1,
                bytes: -i128::from(o.size),
            },
        )?;
    }
    Ok(Reply::Done)
}

fn current_object(ov: &Overlay<'_>, key: &[u8]) -> Result<Option<StoredObject>, StoreError> {
    ov.get_json(Cf::Objects, key, "object")
}

/// Whether an entry or a deletion at least as new as `ts` is recorded for
/// the name (ties keep what is recorded: replays are no-ops).
fn newer_recorded(
    ov: &Overlay<'_>,
    key: &[u8],
    old: Option<&StoredObject>,
    ts: Timestamp,
) -> Result<bool, StoreError> {
    if old.is_some_and(|o| o.ts >= ts) {
        return Ok(true);
    }
    Ok(tombstone(ov, key)?.is_some_and(|t| t >= ts))
}

/// The deletion timestamp recorded for an object key.
pub fn tombstone(ov: &Overlay<'_>, key: &[u8]) -> Result<Option<Timestamp>, StoreError> {
    match ov.get(Cf::Tombstones, key)? {
        Some(bytes) => {
            let raw: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::corrupt("tombstone", "not 8 bytes"))?;
            Ok(Some(Timestamp::from_ticks(u64::from_be_bytes(raw))))
        }
        None => Ok(None),
    }
}

fn adjust_totals(
    ov: &mut Overlay<'_>,
    account: &str,
    container: &str,
    d: Delta,
) -> Result<(), StoreError> {
    let mut c = load_container(ov, account, container)?.ok_or_else(|| {
        StoreError::Invariant(format!("container {account}/{container} vanished"))
    })?;
    let mut a = load_account(ov, account)?.ok_or_else(|| {
        StoreError::Invariant(format!("container {account}/{container} without account"))
    })?;
    c.object_count = shifted(
        c.object_count,
        i128::from(d.objects),
        "container object_count",
    )?;
    c.bytes_used = shifted(c.bytes_used, d.bytes, "container bytes_used")?;
    a.object_count = shifted(
        a.object_count,
        i128::from(d.objects),
        "account object_count",
    )?;
    a.bytes_used = shifted(a.bytes_used, d.bytes, "account bytes_used")?;
    save_container(ov, &c)?;
    save_account(ov, &a)
}

fn shifted(value: u64, delta: i128, what: &str) -> Result<u64, StoreError> {
    u64::try_from(i128::from(value) + delta).map_err(|_| {
        StoreError::Invariant(format!("{what} {value} shifted by {delta} out of range"))
    })
}

fn reclaim_tombstones(
    ov: &mut Overlay<'_>,
    older_than: Timestamp,
    keys: &[Vec<u8>],
) -> Result<Reply, StoreError> {
    let mut removed = 0;
    for key in keys {
        if tombstone(ov, key)?.is_some_and(|t| t < older_than) {
            ov.delete(Cf::Tombstones, key.clone());
            removed += 1;
        }
    }
    Ok(Reply::Reclaimed(removed))
}
