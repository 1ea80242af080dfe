//! The Raft log in rocksdb: entries keyed by big-endian index, plus the
//! vote, committed and last-purged log ids.
//!
//! Durability: the vote, truncation and purge are synced writes; appended
//! entries are written unsynced and acknowledged by the `Flusher` after one
//! shared fsync (group commit).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{RaftLogId, StorageIOError, Vote};
use rocksdb::{Direction, IteratorMode, WriteBatch};

use crate::db::{self, Db};
use crate::error::StoreError;
use crate::flusher::Flusher;
use crate::keys::{self, Cf};
use crate::types::{LogEntry, LogId, NodeId, StorageError, TypeConfig};

/// Openraft's log storage over the shared database.
pub struct LogStore {
    db: Db,
    flusher: Arc<Flusher>,
}

/// A reader of log entries for replication tasks.
#[derive(Clone)]
pub struct LogReader {
    db: Db,
}

impl LogStore {
    /// The log store over `db`, with its WAL-sync thread.
    pub fn new(db: Db) -> Result<Self, StoreError> {
        let flusher = Flusher::start(db.clone())?;
        Ok(LogStore {
            db,
            flusher: Arc::new(flusher),
        })
    }

    fn meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        db::get_json(&self.db, Cf::LogMeta, key, what)
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StoreError> {
        let cf = db::cf(&self.db, Cf::Log)?;
        match self.db.iterator_cf(cf, IteratorMode::End).next() {
            Some(item) => {
                let (_, value) = item?;
                let entry: LogEntry = db::decode("log entry", &value)?;
                Ok(Some(*entry.get_log_id()))
            }
            None => Ok(None),
        }
    }
}

/// Reads the entries with index in `range`, stopping at the first gap.
fn read_entries<RB: RangeBounds<u64>>(db: &Db, range: RB) -> Result<Vec<LogEntry>, StoreError> {
    let start = match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let cf = db::cf(db, Cf::Log)?;
    let key = keys::log_index(start);
    let mut out = Vec::new();
    for item in db.iterator_cf(cf, IteratorMode::From(&key, Direction::Forward)) {
        let (k, v) = item?;
        let index = keys::parse_log_index(&k)
            .ok_or_else(|| StoreError::corrupt("log key", format!("{k:?}")))?;
        if !range.contains(&index) {
            break;
        }
        let entry: LogEntry = db::decode("log entry", &v)?;
        if entry.get_log_id().index != index {
            return Err(StoreError::corrupt(
                "log entry",
                format!("index {} under key {index}", entry.get_log_id().index),
            ));
        }
        out.push(entry);
    }
    Ok(out)
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<LogEntry>, StorageError> {
        read_entries(&self.db, range).map_err(StoreError::read)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<LogEntry>, StorageError> {
        read_entries(&self.db, range).map_err(StoreError::read)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self
            .meta(keys::META_PURGED, "purged log id")
            .map_err(StoreError::read)?;
        let last = self
            .last_entry_id()
            .map_err(StoreError::read)?
            .or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> LogReader {
        LogReader {
            db: self.db.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let put = || -> Result<(), StoreError> {
            let bytes = db::encode("vote", vote)?;
            let cf = db::cf(&self.db, Cf::LogMeta)?;
            Ok(self
                .db
                .put_cf_opt(cf, keys::META_VOTE, bytes, &db::synced())?)
        };
        put().map_err(|e| StorageIOError::write_vote(openraft::AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.meta(keys::META_VOTE, "vote").map_err(StoreError::read)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Unsynced: losing it only means re-applying from the state machine's
        // last applied id after a crash.
        let put = || -> Result<(), StoreError> {
            let bytes = db::encode("committed log id", &committed)?;
            Ok(self
                .db
                .put_cf(db::cf(&self.db, Cf::LogMeta)?, keys::META_COMMITTED, bytes)?)
        };
        put().map_err(StoreError::write)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<Option<LogId>> = self
            .meta(keys::META_COMMITTED, "committed log id")
            .map_err(StoreError::read)?;
        Ok(committed.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = LogEntry> + Send,
        I::IntoIter: Send,
    {
        // 1. write the entries (readable at once)   2. queue the callback
        // 3. the flusher fsyncs the WAL              4. only then the callback acks
        let write = || -> Result<(), StoreError> {
            let cf = db::cf(&self.db, Cf::Log)?;
            let mut batch = WriteBatch::default();
            for entry in entries {
                batch.put_cf(
                    cf,
                    keys::log_index(entry.get_log_id().index),
                    db::encode("log entry", &entry)?,
                );
            }
            Ok(self.db.write(batch)?)
        };
        write().map_err(StoreError::write)?;
        self.flusher
            .submit(callback)
            .await
            .map_err(|e| StoreError::Io(e).write())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let del = || -> Result<(), StoreError> {
            let cf = db::cf(&self.db, Cf::Log)?;
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(cf, keys::log_index(log_id.index), keys::log_index(u64::MAX));
            batch.delete_cf(cf, keys::log_index(u64::MAX));
            Ok(self.db.write_opt(batch, &db::synced())?)
        };
        del().map_err(StoreError::write)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Synced: it also makes every state-machine write before it durable
        // (shared WAL), which the purged entries can no longer replay.
        let del = || -> Result<(), StoreError> {
            let mut batch = WriteBatch::default();
            batch.put_cf(
                db::cf(&self.db, Cf::LogMeta)?,
                keys::META_PURGED,
                db::encode("purged log id", &log_id)?,
            );
            let end = log_id.index.checked_add(1).map(keys::log_index);
            let cf = db::cf(&self.db, Cf::Log)?;
            match end {
                Some(end) => batch.delete_range_cf(cf, keys::log_index(0), end),
                None => {
                    batch.delete_range_cf(cf, keys::log_index(0), keys::log_index(u64::MAX));
                    batch.delete_cf(cf, keys::log_index(u64::MAX));
                }
            }
            Ok(self.db.write_opt(batch, &db::synced())?)
        };
        del().map_err(StoreError::write)
    }
}
