//! In-memory fakes of the storage nodes (with per-device fault injection),
//! the metadata service and the ring, for the router-level tests.

use super::super::*;
use crate::placement::{Locations, Target};
use async_trait::async_trait;
use bytes::Bytes;
use cairn_meta_api::*;
use cairn_nodeapi::*;
use md5::{Digest, Md5};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::mpsc;

pub(super) enum Entry {
    Obj { meta: ObjectMeta, data: Bytes },
    Tomb { ts: Timestamp, name: String },
}

impl Entry {
    fn version(&self, key: ObjectKey) -> EntryVersion {
        let (name, data_ts, meta_ts, tombstone) = match self {
            Entry::Obj { meta, .. } => (meta.name.clone(), meta.data_ts, meta.meta_ts, false),
            Entry::Tomb { ts, name } => (name.clone(), *ts, *ts, true),
        };
        EntryVersion {
            key,
            name,
            data_ts,
            meta_ts,
            tombstone,
        }
    }
}

/// Every device of every node, in one map; faults are injected per device.
#[derive(Default)]
pub(super) struct FakeNode {
    pub(super) store: Mutex<HashMap<(DeviceId, ObjectKey), Entry>>,
    pub(super) down: Mutex<HashSet<DeviceId>>,
    pub(super) full: Mutex<HashSet<DeviceId>>,
    /// GET streams from these devices fail (Corrupt) after this many frames.
    pub(super) break_after: Mutex<HashMap<DeviceId, usize>>,
}

pub(super) const GET_FRAME_BYTES: usize = 7;

impl FakeNode {
    fn check(&self, d: DeviceId) -> Result<(), NodeError> {
        if self.down.lock().unwrap().contains(&d) {
            return Err(NodeError::Unreachable("down".into()));
        }
        Ok(())
    }
    pub(super) fn devices_holding(&self, key: ObjectKey) -> Vec<u32> {
        let s = self.store.lock().unwrap();
        let mut v: Vec<u32> = s
            .iter()
            .filter(|((_, k), e)| *k == key && matches!(e, Entry::Obj { .. }))
            .map(|((d, _), _)| d.0)
            .collect();
        v.sort();
        v
    }
    fn newest_ts(&self, d: DeviceId, key: ObjectKey) -> Option<Timestamp> {
        match self.store.lock().unwrap().get(&(d, key)) {
            Some(Entry::Obj { meta, .. }) => Some(meta.data_ts),
            Some(Entry::Tomb { ts, .. }) => Some(*ts),
            None => None,
        }
    }
}

#[async_trait]
impl ObjectNode for FakeNode {
    async fn put(
        &self,
        device: DeviceId,
        key: ObjectKey,
        mut body: mpsc::Receiver<PutChunk>,
    ) -> Result<PutAck, NodeError> {
        self.check(device)?;
        if self.full.lock().unwrap().contains(&device) {
            return Err(NodeError::DeviceFull);
        }
        let mut data = Vec::new();
        while let Some(c) = body.recv().await {
            match c {
                PutChunk::Data(f) => data.extend_from_slice(&f.verify()?),
                PutChunk::End(meta, digests) => {
                    assert_eq!(
                        meta.content_length,
                        data.len() as u64,
                        "End carries the length sent"
                    );
                    assert_eq!(
                        digests,
                        ChunkDigests::of(&data),
                        "End carries the body's digests"
                    );
                    if let Some(t) = self.newest_ts(device, key) {
                        if t >= meta.data_ts {
                            return Err(NodeError::Conflict { existing: t });
                        }
                    }
                    let ts = meta.data_ts;
                    self.store.lock().unwrap().insert(
                        (device, key),
                        Entry::Obj {
                            meta,
                            data: data.into(),
                        },
                    );
                    return Ok(PutAck {
                        device,
                        data_ts: ts,
                    });
                }
            }
        }
        Err(NodeError::BodyIncomplete)
    }

    async fn get(
        &self,
        device: DeviceId,
        key: ObjectKey,
        range: Option<ByteRange>,
    ) -> Result<GetStream, NodeError> {
        self.check(device)?;
        let (meta, data) = match self.store.lock().unwrap().get(&(device, key)) {
            Some(Entry::Obj { meta, data }) => (meta.clone(), data.clone()),
            Some(Entry::Tomb { ts, .. }) => {
                return Err(NodeError::NotFound {
                    tombstone: Some(*ts),
                })
            }
            None => return Err(NodeError::NotFound { tombstone: None }),
        };
        let len = data.len() as u64;
        let r = range.unwrap_or(ByteRange { start: 0, end: len });
        let r = ByteRange {
            start: r.start,
            end: r.end.min(len),
        };
        if r.start > r.end {
            return Err(NodeError::RangeNotSatisfiable);
        }
        let break_after = self.break_after.lock().unwrap().get(&device).copied();
        let (tx, rx) = mpsc::channel(BODY_CHANNEL_FRAMES_MAX);
        let slice = data.slice(r.start as usize..r.end as usize);
        tokio::spawn(async move {
            for (i, chunk) in slice.chunks(GET_FRAME_BYTES).enumerate() {
                if break_after == Some(i) {
                    let _ = tx.send(Err(NodeError::Corrupt)).await;
                    return;
                }
                if tx
                    .send(Ok(Frame::new(Bytes::copy_from_slice(chunk))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(GetStream {
            meta,
            range: r,
            body: rx,
        })
    }

    async fn head(&self, device: DeviceId, key: ObjectKey) -> Result<ObjectMeta, NodeError> {
        Ok(self.get(device, key, None).await?.meta)
    }

    async fn delete(
        &self,
        device: DeviceId,
        key: ObjectKey,
        name: &str,
        ts: Timestamp,
    ) -> Result<DeleteOutcome, NodeError> {
        self.check(device)?;
        let mut s = self.store.lock().unwrap();
        let existed = matches!(s.get(&(device, key)), Some(Entry::Obj { .. }));
        let name = name.to_owned();
        s.insert((device, key), Entry::Tomb { ts, name });
        Ok(DeleteOutcome { existed })
    }

    async fn post(
        &self,
        device: DeviceId,
        key: ObjectKey,
        req: PostRequest,
    ) -> Result<ObjectMeta, NodeError> {
        self.check(device)?;
        let mut s = self.store.lock().unwrap();
        match s.get_mut(&(device, key)) {
            Some(Entry::Obj { meta, .. }) => {
                meta.apply_post(req);
                Ok(meta.clone())
            }
            Some(Entry::Tomb { ts, .. }) => Err(NodeError::NotFound {
                tombstone: Some(*ts),
            }),
            None => Err(NodeError::NotFound { tombstone: None }),
        }
    }

    async fn partition_digest(
        &self,
        device: DeviceId,
        partition: u32,
    ) -> Result<PartitionDigest, NodeError> {
        let mut b = PartitionDigestBuilder::new();
        for v in self.versions(device, partition, None)? {
            b.add_version(&v);
        }
        Ok(b.digest())
    }

    async fn list_bucket(
        &self,
        device: DeviceId,
        partition: u32,
        bucket: u8,
    ) -> Result<Vec<EntryVersion>, NodeError> {
        self.versions(device, partition, Some(bucket))
    }

    async fn drop_entries(
        &self,
        device: DeviceId,
        _partition: u32,
        entries: Vec<EntryVersion>,
    ) -> Result<u64, NodeError> {
        self.check(device)?;
        let mut s = self.store.lock().unwrap();
        let mut dropped = 0;
        for v in entries {
            if s.get(&(device, v.key))
                .is_some_and(|e| e.version(v.key) == v)
            {
                s.remove(&(device, v.key));
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    async fn partitions(&self, device: DeviceId) -> Result<Vec<u32>, NodeError> {
        self.check(device)?;
        let s = self.store.lock().unwrap();
        let mut v: Vec<u32> = s
            .keys()
            .filter(|(d, _)| *d == device)
            .map(|(_, k)| k.partition)
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }
}

impl FakeNode {
    /// The device's entries of a partition (or of one bucket of it), in key order.
    fn versions(
        &self,
        device: DeviceId,
        partition: u32,
        bucket: Option<u8>,
    ) -> Result<Vec<EntryVersion>, NodeError> {
        self.check(device)?;
        let s = self.store.lock().unwrap();
        let mut v: Vec<EntryVersion> = s
            .iter()
            .filter(|((d, k), _)| {
                *d == device && k.partition == partition && bucket.is_none_or(|b| bucket_of(k) == b)
            })
            .map(|((_, k), e)| e.version(*k))
            .collect();
        v.sort_by_key(|e| e.key);
        Ok(v)
    }
}

pub(super) struct Cont {
    info: ContainerInfo,
    objects: BTreeMap<String, ObjectEntry>,
}

#[derive(Default)]
pub(super) struct FakeMeta {
    accounts: Mutex<BTreeMap<String, AccountInfo>>,
    containers: Mutex<BTreeMap<(String, String), Cont>>,
}

fn merge(into: &mut MetaMap, meta: MetaMap) {
    for (k, v) in meta {
        if v.is_empty() {
            into.remove(&k);
        } else {
            into.insert(k, v);
        }
    }
}

/// Swift's listing filter over sorted names: prefix, markers, delimiter, reverse, limit.
fn list_names<T: Clone>(items: Vec<(String, T)>, q: &ListQuery) -> Vec<Result<T, String>> {
    let mut items = items;
    if q.reverse {
        items.reverse();
    }
    let mut out = Vec::new();
    let mut last_sub: Option<String> = None;
    for (name, item) in items {
        if q.prefix
            .as_ref()
            .is_some_and(|p| !name.starts_with(p.as_str()))
        {
            continue;
        }
        let after_marker = |m: &String| if q.reverse { name < *m } else { name > *m };
        let before_end = |m: &String| if q.reverse { name > *m } else { name < *m };
        if q.marker.as_ref().is_some_and(|m| !after_marker(m))
            || q.end_marker.as_ref().is_some_and(|m| !before_end(m))
        {
            continue;
        }
        let plen = q.prefix.as_ref().map_or(0, |p| p.len());
        if let Some(d) = q.delimiter.as_deref() {
            if let Some(i) = name[plen..].find(d) {
                let sub = name[..plen + i + d.len()].to_owned();
                if last_sub.as_ref() != Some(&sub) {
                    last_sub = Some(sub.clone());
                    out.push(Err(sub));
                }
                continue;
            }
        }
        out.push(Ok(item));
    }
    out.truncate(q.limit);
    out
}

#[async_trait]
impl Metadata for FakeMeta {
    async fn account(&self, account: &str) -> Result<AccountInfo, MetaError> {
        self.accounts
            .lock()
            .unwrap()
            .get(account)
            .cloned()
            .ok_or(MetaError::AccountNotFound)
    }
    async fn ensure_account(&self, account: &str, ts: Timestamp) -> Result<AccountInfo, MetaError> {
        let mut a = self.accounts.lock().unwrap();
        Ok(a.entry(account.into())
            .or_insert(AccountInfo {
                name: account.into(),
                created: ts,
                meta: MetaMap::new(),
                container_count: 0,
                object_count: 0,
                bytes_used: 0,
            })
            .clone())
    }
    async fn update_account_meta(
        &self,
        account: &str,
        meta: MetaMap,
        _ts: Timestamp,
    ) -> Result<AccountInfo, MetaError> {
        let mut a = self.accounts.lock().unwrap();
        let acc = a.get_mut(account).ok_or(MetaError::AccountNotFound)?;
        merge(&mut acc.meta, meta);
        Ok(acc.clone())
    }
    async fn list_containers(
        &self,
        account: &str,
        q: &ListQuery,
    ) -> Result<Vec<ContainerListItem>, MetaError> {
        let c = self.containers.lock().unwrap();
        let items: Vec<(String, ContainerListItem)> = c
            .iter()
            .filter(|((a, _), _)| a == account)
            .map(|((_, n), c)| {
                let item = ContainerListItem::Container {
                    name: n.clone(),
                    object_count: c.info.object_count,
                    bytes_used: c.info.bytes_used,
                    last_modified: c.info.put_ts,
                };
                (n.clone(), item)
            })
            .collect();
        Ok(list_names(items, q)
            .into_iter()
            .map(|r| r.unwrap_or_else(ContainerListItem::Subdir))
            .collect())
    }
    async fn put_container(
        &self,
        account: &str,
        container: &str,
        meta: MetaMap,
        ts: Timestamp,
    ) -> Result<ContainerPut, MetaError> {
        self.ensure_account(account, ts).await?;
        let mut c = self.containers.lock().unwrap();
        let key = (account.to_owned(), container.to_owned());
        if let Some(existing) = c.get_mut(&key) {
            merge(&mut existing.info.meta, meta);
            existing.info.put_ts = ts;
            return Ok(ContainerPut::Updated);
        }
        let mut m = MetaMap::new();
        merge(&mut m, meta);
        let info = ContainerInfo {
            account: account.into(),
            name: container.into(),
            created: ts,
            put_ts: ts,
            meta: m,
            object_count: 0,
            bytes_used: 0,
        };
        c.insert(
            key,
            Cont {
                info,
                objects: BTreeMap::new(),
            },
        );
        self.accounts
            .lock()
            .unwrap()
            .get_mut(account)
            .unwrap()
            .container_count += 1;
        Ok(ContainerPut::Created)
    }
    async fn container(&self, account: &str, container: &str) -> Result<ContainerInfo, MetaError> {
        let c = self.containers.lock().unwrap();
        c.get(&(account.into(), container.into()))
            .map(|c| c.info.clone())
            .ok_or(MetaError::ContainerNotFound)
    }
    async fn update_container_meta(
        &self,
        account: &str,
        container: &str,
        meta: MetaMap,
        _ts: Timestamp,
    ) -> Result<ContainerInfo, MetaError> {
        let mut c = self.containers.lock().unwrap();
        let cont = c
            .get_mut(&(account.into(), container.into()))
            .ok_or(MetaError::ContainerNotFound)?;
        merge(&mut cont.info.meta, meta);
        Ok(cont.info.clone())
    }
    async fn delete_container(
        &self,
        account: &str,
        container: &str,
        _ts: Timestamp,
    ) -> Result<(), MetaError> {
        let mut c = self.containers.lock().unwrap();
        let key = (account.to_owned(), container.to_owned());
        match c.get(&key) {
            None => Err(MetaError::ContainerNotFound),
            Some(cont) if !cont.objects.is_empty() => Err(MetaError::ContainerNotEmpty),
            Some(_) => {
                c.remove(&key);
                self.accounts
                    .lock()
                    .unwrap()
                    .get_mut(account)
                    .unwrap()
                    .container_count -= 1;
                Ok(())
            }
        }
    }
    async fn list_objects(
        &self,
        account: &str,
        container: &str,
        q: &ListQuery,
    ) -> Result<Vec<ObjectListItem>, MetaError> {
        let c = self.containers.lock().unwrap();
        let cont = c
            .get(&(account.into(), container.into()))
            .ok_or(MetaError::ContainerNotFound)?;
        let items: Vec<(String, ObjectEntry)> = cont
            .objects
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(list_names(items, q)
            .into_iter()
            .map(|r| {
                r.map(ObjectListItem::Object)
                    .unwrap_or_else(ObjectListItem::Subdir)
            })
            .collect())
    }
    async fn put_object_entry(
        &self,
        account: &str,
        container: &str,
        entry: ObjectEntry,
    ) -> Result<(), MetaError> {
        let mut c = self.containers.lock().unwrap();
        let cont = c
            .get_mut(&(account.into(), container.into()))
            .ok_or(MetaError::ContainerNotFound)?;
        if let Some(old) = cont.objects.insert(entry.name.clone(), entry.clone()) {
            cont.info.object_count -= 1;
            cont.info.bytes_used -= old.size;
        }
        cont.info.object_count += 1;
        cont.info.bytes_used += entry.size;
        Ok(())
    }
    async fn delete_object_entry(
        &self,
        account: &str,
        container: &str,
        name: &str,
        _ts: Timestamp,
    ) -> Result<(), MetaError> {
        let mut c = self.containers.lock().unwrap();
        let cont = c
            .get_mut(&(account.into(), container.into()))
            .ok_or(MetaError::ContainerNotFound)?;
        if let Some(old) = cont.objects.remove(name) {
            cont.info.object_count -= 1;
            cont.info.bytes_used -= old.size;
        }
        Ok(())
    }
}

/// Three primaries (devices 1-3 on nodes 1-3) and two handoffs (4, 5).
pub(super) struct FakePlacement;

impl Placement for FakePlacement {
    fn locate(&self, account: &str, container: &str, object: &str) -> Locations {
        let hash: [u8; 16] = Md5::digest(format!("/{account}/{container}/{object}")).into();
        let t = |n: u32| Target {
            node: NodeId(n),
            device: DeviceId(n),
        };
        Locations {
            key: ObjectKey { partition: 0, hash },
            primaries: vec![t(1), t(2), t(3)],
            handoffs: vec![t(4), t(5)],
        }
    }
}

pub(super) struct TestClock(pub(super) AtomicU64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.load(Ordering::SeqCst))
    }
}
