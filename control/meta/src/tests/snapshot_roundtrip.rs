//! A snapshot carries the whole state machine: data, tombstones, applied id.

use cairn_meta_api::{ListQuery, ObjectListItem};
use openraft::storage::RaftStateMachine;
use openraft::RaftSnapshotBuilder;

use super::fixture::Fixture;

// Checks that a snapshot built on one state machine and installed on another
// (which had different data) reproduces accounts, containers, listings,
// tombstones and the applied log id, replacing what was there.
#[tokio::test]
async fn snapshot_reproduces_state_machine() {
    let mut src = Fixture::new();
    src.put_container("a", "c", 1);
    for i in 0..30 {
        src.put_object("a", "c", &format!("o{i:02}"), 10, i);
    }
    src.delete_object("a", "c", "o05", 20);
    src.delete_object("a", "c", "never-existed", 20);
    let snap = src
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();

    let mut dst = Fixture::new();
    dst.put_container("other", "junk", 1);
    let mut data = dst.sm.begin_receiving_snapshot().await.unwrap();
    *data = *snap.snapshot;
    dst.sm.install_snapshot(&snap.meta, data).await.unwrap();

    assert_eq!(
        dst.sm.applied_state().await.unwrap(),
        src.sm.applied_state().await.unwrap()
    );
    assert_eq!(dst.account("a"), src.account("a"));
    assert_eq!(dst.container("a", "c"), src.container("a", "c"));
    assert!(
        crate::reads::account(&dst.db, "other").is_err(),
        "old data survived install"
    );
    let q = ListQuery {
        limit: 100,
        ..Default::default()
    };
    let list = |f: &Fixture| crate::reads::list_objects(&f.db, "a", "c", &q).unwrap();
    assert_eq!(list(&dst), list(&src));
    assert!(!list(&dst)
        .iter()
        .any(|r| matches!(r, ObjectListItem::Object(e) if e.name == "o05")));
    // The tombstones came along: old PUTs of deleted names stay dead.
    dst.put_object("a", "c", "never-existed", 15, 1);
    dst.put_object("a", "c", "o05", 15, 1);
    assert_eq!(dst.container("a", "c").object_count, 29);
    let cur = dst
        .sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("installed snapshot kept");
    assert_eq!(cur.meta, snap.meta);
}
