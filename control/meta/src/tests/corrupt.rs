//! Bad bytes on disk are errors, never panics or silently trusted values.

use cairn_meta_api::{ListQuery, MetaError};
use openraft::storage::RaftLogStorage;

use super::fixture::Fixture;
use crate::db;
use crate::keys::{self, Cf};
use crate::log_store::LogStore;

// Checks that undecodable account, container and object records surface as
// MetaError::Storage from reads and listings.
#[test]
fn corrupt_records_are_storage_errors() {
    let mut f = Fixture::new();
    f.put_container("a", "c", 1);
    f.put_object("a", "c", "x", 2, 3);
    let put = |cf, key: Vec<u8>| {
        f.db.put_cf(db::cf(&f.db, cf).unwrap(), key, b"\xff{garbage")
            .unwrap()
    };
    put(Cf::Objects, keys::object("a", "c", "x"));
    let q = ListQuery {
        limit: 10,
        ..Default::default()
    };
    assert!(matches!(
        crate::reads::list_objects(&f.db, "a", "c", &q),
        Err(MetaError::Storage(_))
    ));
    put(Cf::Containers, keys::container("a", "c"));
    assert!(matches!(
        crate::reads::container(&f.db, "a", "c"),
        Err(MetaError::Storage(_))
    ));
    put(Cf::Accounts, keys::account("a"));
    assert!(matches!(
        crate::reads::account(&f.db, "a"),
        Err(MetaError::Storage(_))
    ));
}

// Checks that a corrupt log entry or tombstone is reported as an error by the
// log store and the state machine instead of being used.
#[tokio::test]
async fn corrupt_log_and_tombstone_are_errors() {
    let mut f = Fixture::new();
    f.put_container("a", "c", 1);
    let tomb = keys::object("a", "c", "x");
    f.db.put_cf(db::cf(&f.db, Cf::Tombstones).unwrap(), &tomb, b"short")
        .unwrap();
    let req = crate::types::Request::PutObject {
        account: "a".into(),
        container: "c".into(),
        entry: super::fixture::entry("x", 9, 1),
    };
    let entry = crate::types::LogEntry {
        log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), 99),
        payload: openraft::EntryPayload::Normal(req),
    };
    assert!(f.sm.apply_batch(std::iter::once(entry)).is_err());

    let mut log = LogStore::new(f.db.clone()).unwrap();
    f.db.put_cf(
        db::cf(&f.db, Cf::Log).unwrap(),
        keys::log_index(7),
        b"not json",
    )
    .unwrap();
    assert!(log.get_log_state().await.is_err());
}
