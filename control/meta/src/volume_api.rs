//! `VolumeMetadata` for `MetaNode`: each change one Raft command, each read
//! a linearizable read of the `Volumes` family.

use async_trait::async_trait;
use cairn_base::{Timestamp, VolumeId};
use cairn_meta_api::{MetaError, NewVolume, VolumeMetadata, VolumeRecord};
use rocksdb::DB;

use crate::db;
use crate::keys::{self, Cf};
use crate::node::MetaNode;
use crate::types::{Reply, Request};

fn record(reply: Reply) -> Result<VolumeRecord, MetaError> {
    match reply {
        Reply::Volume(v) => Ok(*v),
        other => Err(MetaError::Storage(format!(
            "state machine gave an unexpected reply: {other:?}"
        ))),
    }
}

fn by_id(db: &DB, id: &VolumeId) -> Result<Option<VolumeRecord>, MetaError> {
    Ok(db::get_json(db, Cf::Volumes, &keys::volume(id), "volume")?)
}

fn lookup(db: &DB, name_or_id: &str) -> Result<VolumeRecord, MetaError> {
    let cf = db::cf(db, Cf::Volumes)?;
    let by_name = db
        .get_cf(cf, keys::volume_name(name_or_id))
        .map_err(|e| MetaError::Storage(format!("reading a volume name: {e}")))?;
    let id = match by_name {
        Some(raw) => VolumeId(
            raw.try_into()
                .map_err(|_| MetaError::Storage("a volume name entry is damaged".into()))?,
        ),
        None => VolumeId::parse(name_or_id).ok_or(MetaError::VolumeNotFound)?,
    };
    by_id(db, &id)?.ok_or(MetaError::VolumeNotFound)
}

fn list(db: &DB) -> Result<Vec<VolumeRecord>, MetaError> {
    let cf = db::cf(db, Cf::Volumes)?;
    let mut out = Vec::new();
    let mut it = db.raw_iterator_cf(cf);
    it.seek(keys::VOLUME_RECORDS);
    while let (true, Some(k), Some(v)) = (it.valid(), it.key(), it.value()) {
        if !k.starts_with(keys::VOLUME_RECORDS) {
            break;
        }
        out.push(db::decode::<VolumeRecord>("volume", v)?);
        it.next();
    }
    it.status()
        .map_err(|e| MetaError::Storage(format!("listing volumes: {e}")))?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `lookup` for the state machine tests, which have a database but no node.
#[cfg(test)]
pub(crate) fn tests_lookup(db: &DB, name_or_id: &str) -> VolumeRecord {
    lookup(db, name_or_id).expect("volume")
}

#[async_trait]
impl VolumeMetadata for MetaNode {
    async fn create_volume(&self, new: NewVolume) -> Result<VolumeRecord, MetaError> {
        if new.name.is_empty() {
            return Err(MetaError::Storage("a volume needs a name".into()));
        }
        record(self.write(Request::CreateVolume(new)).await?)
    }

    async fn volume(&self, name_or_id: &str) -> Result<VolumeRecord, MetaError> {
        self.read(|db| lookup(db, name_or_id)).await
    }

    async fn list_volumes(&self) -> Result<Vec<VolumeRecord>, MetaError> {
        self.read(list).await
    }

    async fn resize_volume(&self, id: VolumeId, size: u64) -> Result<VolumeRecord, MetaError> {
        record(self.write(Request::ResizeVolume { id, size }).await?)
    }

    async fn delete_volume(&self, id: VolumeId) -> Result<VolumeRecord, MetaError> {
        record(self.write(Request::DeleteVolume { id }).await?)
    }

    async fn create_snapshot(
        &self,
        id: VolumeId,
        name: &str,
        internal: bool,
        created: Timestamp,
    ) -> Result<VolumeRecord, MetaError> {
        record(
            self.write(Request::CreateSnapshot {
                id,
                name: name.to_owned(),
                internal,
                created,
            })
            .await?,
        )
    }

    async fn delete_snapshot(&self, id: VolumeId, name: &str) -> Result<VolumeRecord, MetaError> {
        record(
            self.write(Request::DeleteSnapshot {
                id,
                name: name.to_owned(),
            })
            .await?,
        )
    }

    async fn acquire_lease(&self, id: VolumeId, holder: &str) -> Result<VolumeRecord, MetaError> {
        record(
            self.write(Request::AcquireLease {
                id,
                holder: holder.to_owned(),
            })
            .await?,
        )
    }

    async fn release_lease(&self, id: VolumeId, holder: &str, epoch: u64) -> Result<(), MetaError> {
        self.write(Request::ReleaseLease {
            id,
            holder: holder.to_owned(),
            epoch,
        })
        .await
        .map(|_| ())
    }
}
