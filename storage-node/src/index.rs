//! `Index`: the per-device rocksdb that maps keys to entries. It is the
//! truth about what is stored: a segment byte or blob file it does not
//! reference was never acked. Besides point lookups it walks key ranges in
//! order (a device, a partition, a suffix bucket) for replication and audit.

use crate::entry::{object_key, Entry, OBJECT_PREFIX, QUARANTINE_PREFIX};
use crate::EngineError;
use cairn_nodeapi::{NodeError, ObjectKey};
use rocksdb::{BlockBasedOptions, Cache, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// Bloom filter bits per key (about 1 % false positives): a lookup of a key
/// the device does not hold, as every new object's PUT makes, reads no data
/// block of any table file that lacks it.
const BLOOM_BITS_PER_KEY: f64 = 10.0;
/// Each device index's cache of uncompressed table blocks.
const BLOCK_CACHE_BYTES: usize = 32 << 20;

/// One device's index. Closed explicitly at shutdown (tasks that still hold
/// the device then get `DeviceUnavailable`), so the device can be reopened
/// in the same process at once.
#[derive(Clone)]
pub(crate) struct Index {
    db: Arc<RwLock<Option<DB>>>,
}

fn closed() -> NodeError {
    NodeError::DeviceUnavailable("index closed".into())
}

impl Index {
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_max_background_jobs(2);
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES)
            .map_err(|e| EngineError::Index(e.to_string()))?;
        table.set_block_cache(&cache);
        opts.set_block_based_table_factory(&table);
        let db = DB::open(&opts, path).map_err(|e| EngineError::Index(e.to_string()))?;
        Ok(Index {
            db: Arc::new(RwLock::new(Some(db))),
        })
    }

    fn db(&self) -> RwLockReadGuard<'_, Option<DB>> {
        self.db.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the database; waits for operations in progress.
    pub fn close(&self) {
        let mut g = self.db.write().unwrap_or_else(|p| p.into_inner());
        g.take();
    }

    /// The entry for `key`. A stored entry that does not decode is reported
    /// as an I/O error (the index is damaged; the proxy tries another replica).
    pub fn get(&self, key: &ObjectKey) -> Result<Option<Entry>, NodeError> {
        let guard = self.db();
        let db = guard.as_ref().ok_or_else(closed)?;
        let raw = db
            .get_pinned(object_key(key))
            .map_err(|e| NodeError::Io(format!("index read: {e}")))?;
        match raw {
            None => Ok(None),
            Some(b) => Entry::decode(&b)
                .map(Some)
                .map_err(|e| NodeError::Io(format!("index entry undecodable: {e}"))),
        }
    }

    /// Writes `batch` with `sync`: on stable storage when this returns `Ok`.
    /// Runs on the blocking pool so the fsync does not stall a runtime worker.
    pub async fn write_synced(&self, batch: WriteBatch) -> Result<(), String> {
        let db = self.db.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut wo = WriteOptions::default();
            wo.set_sync(true);
            let guard = db.read().unwrap_or_else(|p| p.into_inner());
            match guard.as_ref() {
                Some(db) => db.write_opt(batch, &wo).map_err(|e| e.to_string()),
                None => Err("index closed".to_owned()),
            }
        })
        .await;
        match r {
            Ok(r) => r,
            Err(e) => Err(format!("index writer task failed: {e}")),
        }
    }

    /// Calls `f` on every object entry and every quarantine record, in key
    /// order, for recovery.
    pub fn scan(&self, mut f: impl FnMut(ScanItem)) -> Result<(), EngineError> {
        let guard = self.db();
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError::Index("index closed".into()))?;
        for item in db.iterator(IteratorMode::Start) {
            let (k, v) = item.map_err(|e| EngineError::Index(e.to_string()))?;
            let e = Entry::decode(&v).map_err(|e| EngineError::CorruptEntry(e.to_string()))?;
            match k.first() {
                Some(&OBJECT_PREFIX) => {
                    decode_object_key(&k)?;
                    f(ScanItem::Object(e))
                }
                Some(&QUARANTINE_PREFIX) => f(ScanItem::Quarantined(e)),
                _ => return Err(EngineError::CorruptEntry("unknown index key".into())),
            }
        }
        Ok(())
    }

    /// Calls `f` on each object entry (live or tombstone) in `scope`, in key
    /// order, from just after `after` (or from the scope's start), until `f`
    /// returns `false`. Blocking: call it from the blocking pool.
    pub fn visit(
        &self,
        scope: Scope,
        after: Option<&ObjectKey>,
        mut f: impl FnMut(ObjectKey, Entry) -> bool,
    ) -> Result<(), NodeError> {
        let guard = self.db();
        let db = guard.as_ref().ok_or_else(closed)?;
        let prefix = scope.prefix();
        let mut it = db.raw_iterator();
        match after {
            Some(k) => {
                let start = object_key(k);
                it.seek(start);
                if it.key() == Some(&start[..]) {
                    it.next();
                }
            }
            None => it.seek(&prefix),
        }
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(&prefix) {
                break;
            }
            let key = decode_object_key(k).map_err(|e| NodeError::Io(e.to_string()))?;
            let e = Entry::decode(v)
                .map_err(|e| NodeError::Io(format!("index entry undecodable: {e}")))?;
            if !f(key, e) {
                return Ok(());
            }
            it.next();
        }
        it.status()
            .map_err(|e| NodeError::Io(format!("index scan: {e}")))
    }

    /// The partitions holding at least one object entry, ascending: one seek
    /// per partition, whatever it holds. Blocking.
    pub fn partitions(&self) -> Result<Vec<u32>, NodeError> {
        let guard = self.db();
        let db = guard.as_ref().ok_or_else(closed)?;
        let mut it = db.raw_iterator();
        let mut out = Vec::new();
        it.seek([OBJECT_PREFIX]);
        while let Some(k) = it.key() {
            if k.first() != Some(&OBJECT_PREFIX) {
                break;
            }
            let p = decode_object_key(k)
                .map_err(|e| NodeError::Io(e.to_string()))?
                .partition;
            out.push(p);
            let Some(next) = p.checked_add(1) else { break };
            it.seek(Scope::Partition(next).prefix());
        }
        it.status()
            .map_err(|e| NodeError::Io(format!("index scan: {e}")))?;
        Ok(out)
    }
}

/// Which object entries an [`Index::visit`] walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Device,
    Partition(u32),
    /// One suffix bucket (first hash byte) of a partition.
    Bucket(u32, u8),
}

impl Scope {
    fn prefix(self) -> Vec<u8> {
        let mut p = vec![OBJECT_PREFIX];
        match self {
            Scope::Device => {}
            Scope::Partition(part) => p.extend_from_slice(&part.to_be_bytes()),
            Scope::Bucket(part, b) => {
                p.extend_from_slice(&part.to_be_bytes());
                p.push(b);
            }
        }
        p
    }
}

/// One item of [`Index::scan`].
pub(crate) enum ScanItem {
    Object(Entry),
    Quarantined(Entry),
}

fn decode_object_key(k: &[u8]) -> Result<ObjectKey, EngineError> {
    if k.len() != 21 {
        return Err(EngineError::CorruptEntry("object key length".into()));
    }
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&k[5..]);
    Ok(ObjectKey {
        partition: u32::from_be_bytes([k[1], k[2], k[3], k[4]]),
        hash,
    })
}
