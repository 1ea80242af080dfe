//! Volume semantics: names are unique, snapshots advance the generation and
//! count their clones, leases bump the epoch, and the refusals a user sees.

use cairn_base::{Timestamp, VolumeId};
use cairn_meta_api::{NewVolume, ParentRef, VolumeRecord};

use super::fixture::Fixture;
use crate::types::{Rejection, Reply, Request};
use crate::volume_api;

fn new(id: u8, name: &str, parent: Option<ParentRef>) -> Request {
    Request::CreateVolume(NewVolume {
        id: VolumeId([id; 16]),
        name: name.into(),
        account: "AUTH_demo".into(),
        size: 1 << 30,
        extent_size: 4 << 20,
        created: Timestamp::from_ticks(1),
        parent,
        replica_count: None,
        placement: None,
    })
}

fn vol(r: Reply) -> VolumeRecord {
    match r {
        Reply::Volume(v) => *v,
        other => panic!("expected a volume, got {other:?}"),
    }
}

fn snap(id: u8, name: &str) -> Request {
    Request::CreateSnapshot {
        id: VolumeId([id; 16]),
        name: name.into(),
        internal: false,
        created: Timestamp::from_ticks(2),
    }
}

#[test]
fn volume_lifecycle_snapshots_clones_and_leases() {
    let mut f = Fixture::new();
    let a = vol(f.apply(new(1, "a", None)));
    assert_eq!((a.generation, a.epoch, a.lease.clone()), (0, 0, None));
    assert_eq!(
        f.apply(new(2, "a", None)),
        Reply::Rejected(Rejection::VolumeExists)
    );

    let a = vol(f.apply(snap(1, "s1")));
    assert_eq!(a.generation, 1);
    assert_eq!(a.snapshot("s1").unwrap().generation, 0);
    assert_eq!(
        f.apply(snap(1, "s1")),
        Reply::Rejected(Rejection::SnapshotExists)
    );

    let parent = ParentRef {
        volume: a.id,
        generation: 0,
    };
    vol(f.apply(new(3, "clone", Some(parent))));
    let orphan = ParentRef {
        volume: a.id,
        generation: 7,
    };
    assert_eq!(
        f.apply(new(4, "orphan", Some(orphan))),
        Reply::Rejected(Rejection::SnapshotNotFound)
    );
    let del_snap = Request::DeleteSnapshot {
        id: a.id,
        name: "s1".into(),
    };
    assert_eq!(
        f.apply(del_snap.clone()),
        Reply::Rejected(Rejection::SnapshotHasClones)
    );
    assert_eq!(
        f.apply(Request::DeleteVolume { id: a.id }),
        Reply::Rejected(Rejection::VolumeHasSnapshots)
    );

    // Leases: each acquire is a new epoch; an attached volume cannot go.
    let clone_id = VolumeId([3; 16]);
    let l1 = vol(f.apply(Request::AcquireLease {
        id: clone_id,
        holder: "gw1".into(),
    }));
    let l2 = vol(f.apply(Request::AcquireLease {
        id: clone_id,
        holder: "gw2".into(),
    }));
    assert_eq!((l1.epoch, l2.epoch), (1, 2));
    assert_eq!(l2.lease.as_ref().unwrap().holder, "gw2");
    assert_eq!(
        f.apply(Request::DeleteVolume { id: clone_id }),
        Reply::Rejected(Rejection::VolumeAttached)
    );
    // The old holder's release is ignored; the current one's ends the lease.
    f.apply(Request::ReleaseLease {
        id: clone_id,
        holder: "gw1".into(),
        epoch: 1,
    });
    assert!(volume_api::tests_lookup(&f.db, "clone").lease.is_some());
    f.apply(Request::ReleaseLease {
        id: clone_id,
        holder: "gw2".into(),
        epoch: 2,
    });
    vol(f.apply(Request::DeleteVolume { id: clone_id }));
    // With its clone gone the snapshot can go, then the volume.
    vol(f.apply(del_snap));
    assert_eq!(
        f.apply(Request::ResizeVolume { id: a.id, size: 1 }),
        Reply::Rejected(Rejection::VolumeWouldShrink)
    );
    assert_eq!(
        vol(f.apply(Request::ResizeVolume {
            id: a.id,
            size: 2 << 30
        }))
        .size,
        2 << 30
    );
    vol(f.apply(Request::DeleteVolume { id: a.id }));
    assert_eq!(
        f.apply(Request::DeleteVolume { id: a.id }),
        Reply::Rejected(Rejection::VolumeNotFound)
    );
    // The name is free again.
    vol(f.apply(new(5, "a", None)));
    assert_eq!(
        volume_api::tests_lookup(&f.db, &VolumeId([5; 16]).to_string()).name,
        "a"
    );
}

/// A volume keeps the replica count it was created with, and a record
/// written before volumes had one (no `replica_count` in its JSON) reads
/// as keeping every replica.
#[test]
fn the_replica_count_is_kept_and_old_records_read_as_all() {
    let mut f = Fixture::new();
    let mut two = new(1, "two", None);
    if let Request::CreateVolume(n) = &mut two {
        n.replica_count = Some(2);
    }
    assert_eq!(vol(f.apply(two)).replica_count, Some(2));
    assert_eq!(
        volume_api::tests_lookup(&f.db, "two").replica_count,
        Some(2)
    );

    let mut old = serde_json::to_value(volume_api::tests_lookup(&f.db, "two")).unwrap();
    old.as_object_mut().unwrap().remove("replica_count");
    let old: VolumeRecord = serde_json::from_value(old).unwrap();
    assert_eq!(old.replica_count, None);
}
