//! The state machine's volume semantics: creating, growing and deleting
//! volumes, snapshots (with their clone counts), and leases with epochs.
//! Pure logic over an `Overlay`, like `apply`.

use cairn_base::{Timestamp, VolumeId};
use cairn_meta_api::{Lease, NewVolume, SnapshotRecord, VolumeRecord};

use crate::error::StoreError;
use crate::keys::{self, Cf};
use crate::overlay::Overlay;
use crate::types::{Rejection, Reply};

fn load(ov: &Overlay<'_>, id: &VolumeId) -> Result<Option<VolumeRecord>, StoreError> {
    ov.get_json(Cf::Volumes, &keys::volume(id), "volume")
}

fn save(ov: &mut Overlay<'_>, v: &VolumeRecord) -> Result<(), StoreError> {
    ov.put_json(Cf::Volumes, keys::volume(&v.id), "volume", v)
}

fn done(v: VolumeRecord) -> Reply {
    Reply::Volume(Box::new(v))
}

/// Runs `f` on the volume `id` and saves it, or rejects when it is missing.
fn update(
    ov: &mut Overlay<'_>,
    id: &VolumeId,
    f: impl FnOnce(&mut VolumeRecord) -> Result<(), Rejection>,
) -> Result<Reply, StoreError> {
    let Some(mut v) = load(ov, id)? else {
        return Ok(Reply::Rejected(Rejection::VolumeNotFound));
    };
    if let Err(r) = f(&mut v) {
        return Ok(Reply::Rejected(r));
    }
    save(ov, &v)?;
    Ok(done(v))
}

pub fn create(ov: &mut Overlay<'_>, new: &NewVolume) -> Result<Reply, StoreError> {
    let name_key = keys::volume_name(&new.name);
    if ov.get(Cf::Volumes, &name_key)?.is_some() || load(ov, &new.id)?.is_some() {
        return Ok(Reply::Rejected(Rejection::VolumeExists));
    }
    if let Some(p) = new.parent {
        let Some(mut parent) = load(ov, &p.volume)? else {
            return Ok(Reply::Rejected(Rejection::VolumeNotFound));
        };
        let Some(snap) = parent
            .snapshots
            .iter_mut()
            .find(|s| s.generation == p.generation)
        else {
            return Ok(Reply::Rejected(Rejection::SnapshotNotFound));
        };
        snap.clones += 1;
        save(ov, &parent)?;
    }
    let v = VolumeRecord {
        id: new.id,
        name: new.name.clone(),
        account: new.account.clone(),
        size: new.size,
        extent_size: new.extent_size,
        created: new.created,
        parent: new.parent,
        generation: 0,
        snapshots: Vec::new(),
        lease: None,
        epoch: 0,
        replica_count: new.replica_count,
        placement: new.placement,
    };
    ov.put(Cf::Volumes, name_key, new.id.0.to_vec());
    save(ov, &v)?;
    Ok(done(v))
}

pub fn resize(ov: &mut Overlay<'_>, id: &VolumeId, size: u64) -> Result<Reply, StoreError> {
    update(ov, id, |v| {
        if size < v.size {
            return Err(Rejection::VolumeWouldShrink);
        }
        v.size = size;
        Ok(())
    })
}

pub fn delete(ov: &mut Overlay<'_>, id: &VolumeId) -> Result<Reply, StoreError> {
    let Some(v) = load(ov, id)? else {
        return Ok(Reply::Rejected(Rejection::VolumeNotFound));
    };
    if v.lease.is_some() {
        return Ok(Reply::Rejected(Rejection::VolumeAttached));
    }
    if !v.snapshots.is_empty() {
        return Ok(Reply::Rejected(Rejection::VolumeHasSnapshots));
    }
    if let Some(p) = v.parent {
        if let Some(mut parent) = load(ov, &p.volume)? {
            if let Some(snap) = parent
                .snapshots
                .iter_mut()
                .find(|s| s.generation == p.generation)
            {
                snap.clones = snap.clones.saturating_sub(1);
            }
            save(ov, &parent)?;
        }
    }
    ov.delete(Cf::Volumes, keys::volume_name(&v.name));
    ov.delete(Cf::Volumes, keys::volume(id));
    Ok(done(v))
}

pub fn snapshot(
    ov: &mut Overlay<'_>,
    id: &VolumeId,
    name: &str,
    internal: bool,
    created: Timestamp,
) -> Result<Reply, StoreError> {
    update(ov, id, |v| {
        if v.snapshot(name).is_some() {
            return Err(Rejection::SnapshotExists);
        }
        v.snapshots.push(SnapshotRecord {
            name: name.to_owned(),
            generation: v.generation,
            size: v.size,
            created,
            clones: 0,
            internal,
        });
        v.generation += 1;
        Ok(())
    })
}

pub fn delete_snapshot(
    ov: &mut Overlay<'_>,
    id: &VolumeId,
    name: &str,
) -> Result<Reply, StoreError> {
    update(ov, id, |v| {
        let Some(i) = v.snapshots.iter().position(|s| s.name == name) else {
            return Err(Rejection::SnapshotNotFound);
        };
        if v.snapshots[i].clones > 0 {
            return Err(Rejection::SnapshotHasClones);
        }
        v.snapshots.remove(i);
        Ok(())
    })
}

pub fn acquire(ov: &mut Overlay<'_>, id: &VolumeId, holder: &str) -> Result<Reply, StoreError> {
    update(ov, id, |v| {
        v.epoch += 1;
        v.lease = Some(Lease {
            holder: holder.to_owned(),
            epoch: v.epoch,
        });
        Ok(())
    })
}

pub fn release(
    ov: &mut Overlay<'_>,
    id: &VolumeId,
    holder: &str,
    epoch: u64,
) -> Result<Reply, StoreError> {
    update(ov, id, |v| {
        if v.lease
            .as_ref()
            .is_some_and(|l| l.holder == holder && l.epoch == epoch)
        {
            v.lease = None;
        }
        Ok(())
    })
}
