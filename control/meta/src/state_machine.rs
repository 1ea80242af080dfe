//! Openraft's state machine over the shared database: applies committed
//! entries (one atomic `WriteBatch` per batch, including the last applied
//! log id and membership), builds and installs snapshots.
//!
//! Applied writes are not synced themselves: the log entries they come from
//! are durable, and every synced log write (append, purge) also syncs them
//! through the shared WAL. After a crash openraft re-applies from the last
//! applied id that survived.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, RaftSnapshotBuilder, StoredMembership};
use rocksdb::WriteBatch;

use crate::apply;
use crate::db::{self, Db};
use crate::error::StoreError;
use crate::keys::{self, Cf};
use crate::overlay::Overlay;
use crate::snapshot::{self, Meta, SnapshotFile};
use crate::types::{LogEntry, LogId, Node, NodeId, Reply, StorageError, TypeConfig};

/// The metadata state machine.
pub struct StateMachine {
    db: Db,
    snapshots: Arc<SnapshotFile>,
}

/// Builds a snapshot from the database as it is when `build_snapshot` runs.
pub struct SnapshotBuilder {
    db: Db,
    snapshots: Arc<SnapshotFile>,
}

impl StateMachine {
    /// The state machine over `db`, keeping snapshots in `snapshot_dir`.
    pub fn new(db: Db, snapshot_dir: &Path) -> Self {
        StateMachine {
            db,
            snapshots: Arc::new(SnapshotFile::new(snapshot_dir)),
        }
    }

    pub(crate) fn apply_batch(
        &self,
        entries: impl Iterator<Item = LogEntry>,
    ) -> Result<Vec<Reply>, StoreError> {
        let mut ov = Overlay::new(&self.db);
        let mut replies = Vec::new();
        let mut last = None;
        for entry in entries {
            last = Some(entry.log_id);
            let reply = match &entry.payload {
                EntryPayload::Blank => Reply::Done,
                EntryPayload::Normal(req) => apply::apply(&mut ov, req)?,
                EntryPayload::Membership(m) => {
                    let stored = StoredMembership::new(Some(entry.log_id), m.clone());
                    ov.put_json(
                        Cf::SmMeta,
                        keys::META_MEMBERSHIP.to_vec(),
                        "membership",
                        &stored,
                    )?;
                    Reply::Done
                }
            };
            replies.push(reply);
        }
        if last.is_some() {
            ov.put_json(
                Cf::SmMeta,
                keys::META_APPLIED.to_vec(),
                "applied log id",
                &last,
            )?;
            self.db.write(ov.into_batch()?)?;
        }
        Ok(replies)
    }

    fn install(&self, meta: &Meta, bytes: &[u8]) -> Result<(), StoreError> {
        // 1. check the whole snapshot   2. one synced batch: clear the data
        //    families, load the records, set applied/membership
        // 3. keep the bytes as the current snapshot
        let parsed = snapshot::parse(bytes)?;
        if parsed.meta.last_log_id != meta.last_log_id
            || parsed.meta.last_membership != meta.last_membership
        {
            return Err(StoreError::corrupt(
                "snapshot",
                "header disagrees with its metadata",
            ));
        }
        let mut batch = WriteBatch::default();
        for cf in Cf::DATA {
            let handle = db::cf(&self.db, cf)?;
            batch.delete_range_cf(handle, &[][..], keys::KEY_END);
        }
        for (cf, k, v) in &parsed.records {
            batch.put_cf(db::cf(&self.db, *cf)?, k, v);
        }
        let sm = db::cf(&self.db, Cf::SmMeta)?;
        batch.put_cf(
            sm,
            keys::META_APPLIED,
            db::encode("applied log id", &meta.last_log_id)?,
        );
        batch.put_cf(
            sm,
            keys::META_MEMBERSHIP,
            db::encode("membership", &meta.last_membership)?,
        );
        self.db.write_opt(batch, &db::synced())?;
        self.snapshots.save(meta.last_log_id, bytes)
    }
}

/// Reads the last applied log id and membership.
pub fn applied_state(
    db: &Db,
) -> Result<(Option<LogId>, StoredMembership<NodeId, Node>), StoreError> {
    let applied: Option<Option<LogId>> =
        db::get_json(db, Cf::SmMeta, keys::META_APPLIED, "applied log id")?;
    let membership = db::get_json(db, Cf::SmMeta, keys::META_MEMBERSHIP, "membership")?;
    Ok((applied.flatten(), membership.unwrap_or_default()))
}

fn current_snapshot(file: &SnapshotFile) -> Result<Option<Snapshot<TypeConfig>>, StoreError> {
    let Some(bytes) = file.load()? else {
        return Ok(None);
    };
    let meta = snapshot::parse(&bytes)?.meta;
    Ok(Some(Snapshot {
        meta,
        snapshot: Box::new(Cursor::new(bytes)),
    }))
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let db = self.db.clone();
        let file = self.snapshots.clone();
        let built = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let (meta, bytes) = snapshot::build(&db)?;
            file.save(meta.last_log_id, &bytes)?;
            Ok((meta, bytes))
        })
        .await
        .map_err(|e| StoreError::Invariant(format!("snapshot task: {e}")).read_sm())?;
        let (meta, bytes) = built.map_err(StoreError::read_sm)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<NodeId, Node>), StorageError> {
        applied_state(&self.db).map_err(StoreError::read_sm)
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Reply>, StorageError>
    where
        I: IntoIterator<Item = LogEntry> + Send,
        I::IntoIter: Send,
    {
        self.apply_batch(entries.into_iter())
            .map_err(StoreError::write_sm)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        self.install(meta, &bytes).map_err(StoreError::write_sm)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        current_snapshot(&self.snapshots).map_err(StoreError::read_sm)
    }
}
