//! The state machine's rules: autocreate, counts, newest-wins, tombstones,
//! container deletion, metadata merge, and batches that see their own writes.

use std::collections::BTreeMap;

use cairn_base::Timestamp;
use cairn_meta_api::{ContainerPut, ListQuery, MetaMap, ObjectListItem};
use proptest::prelude::*;

use super::fixture::{entry, seeded_runner, Fixture};
use crate::types::{Rejection, Reply, Request};

fn all(f: &Fixture, a: &str, c: &str) -> Vec<(String, u64, u64)> {
    let q = ListQuery {
        limit: usize::MAX,
        ..Default::default()
    };
    crate::reads::list_objects(&f.db, a, c, &q)
        .unwrap()
        .into_iter()
        .map(|row| match row {
            ObjectListItem::Object(e) => (e.name, e.ts.ticks(), e.size),
            ObjectListItem::Subdir(s) => panic!("unexpected subdir {s}"),
        })
        .collect()
}

// Checks that a container PUT autocreates the account, says Created then
// Updated, and counts containers on the account.
#[test]
fn put_container_autocreates_account_and_reports_created_then_updated() {
    let mut f = Fixture::new();
    assert_eq!(
        f.put_container("AUTH_a", "c1", 10),
        Reply::ContainerPut(ContainerPut::Created)
    );
    assert_eq!(
        f.put_container("AUTH_a", "c1", 20),
        Reply::ContainerPut(ContainerPut::Updated)
    );
    assert_eq!(
        f.put_container("AUTH_a", "c2", 30),
        Reply::ContainerPut(ContainerPut::Created)
    );
    let a = f.account("AUTH_a");
    assert_eq!(
        (a.container_count, a.created),
        (2, Timestamp::from_ticks(10))
    );
    let c = f.container("AUTH_a", "c1");
    assert_eq!((c.created.ticks(), c.put_ts.ticks()), (10, 20));
}

// Checks exact object/byte totals on container and account through creates,
// overwrites (bytes change by new-old), deletes, and an ignored older PUT.
#[test]
fn object_writes_keep_container_and_account_totals_exact() {
    let mut f = Fixture::new();
    f.put_container("a", "c", 1);
    f.put_container("a", "d", 1);
    f.put_object("a", "c", "x", 10, 100);
    f.put_object("a", "c", "y", 10, 50);
    f.put_object("a", "d", "z", 10, 7);
    f.put_object("a", "c", "x", 20, 30); // overwrite: -70 bytes
    f.put_object("a", "c", "x", 15, 999); // older: ignored
    let c = f.container("a", "c");
    assert_eq!((c.object_count, c.bytes_used), (2, 80));
    let a = f.account("a");
    assert_eq!((a.object_count, a.bytes_used), (3, 87));
    f.delete_object("a", "c", "y", 30);
    let c = f.container("a", "c");
    assert_eq!((c.object_count, c.bytes_used), (1, 30));
    assert_eq!(f.account("a").bytes_used, 37);
    assert_eq!(all(&f, "a", "c"), vec![("x".into(), 20, 30)]);
}

// Checks that a deletion's tombstone stops an older PUT from reviving the
// name, that a newer PUT wins over it, and that an older DELETE is ignored.
#[test]
fn tombstone_blocks_older_put_and_newer_put_wins() {
    let mut f = Fixture::new();
    f.put_container("a", "c", 1);
    f.delete_object("a", "c", "x", 50); // nothing to delete: tombstone only
    f.put_object("a", "c", "x", 40, 10);
    assert!(all(&f, "a", "c").is_empty());
    assert_eq!(f.container("a", "c").object_count, 0);
    f.put_object("a", "c", "x", 60, 10);
    f.delete_object("a", "c", "x", 55); // older than the entry: ignored
    assert_eq!(all(&f, "a", "c"), vec![("x".into(), 60, 10)]);
    f.delete_object("a", "c", "x", 70);
    f.put_object("a", "c", "x", 60, 10); // replay of the old PUT
    assert!(all(&f, "a", "c").is_empty());
    assert_eq!(f.account("a").object_count, 0);
}

// Checks that object writes to a missing container are refused.
#[test]
fn object_writes_need_the_container() {
    let mut f = Fixture::new();
    assert_eq!(
        f.put_object("a", "c", "x", 1, 1),
        Reply::Rejected(Rejection::ContainerNotFound)
    );
    assert_eq!(
        f.delete_object("a", "c", "x", 1),
        Reply::Rejected(Rejection::ContainerNotFound)
    );
}

// Checks that only an empty container can be deleted, that deleting it
// updates the account and drops its tombstones, and that a second delete is
// ContainerNotFound.
#[test]
fn delete_container_refuses_non_empty_and_drops_tombstones() {
    let mut f = Fixture::new();
    f.put_container("a", "c", 1);
    f.put_object("a", "c", "x", 10, 5);
    let del = |ts| Request::DeleteContainer {
        account: "a".into(),
        container: "c".into(),
        ts: Timestamp::from_ticks(ts),
    };
    assert_eq!(
        f.apply(del(20)),
        Reply::Rejected(Rejection::ContainerNotEmpty)
    );
    f.delete_object("a", "c", "x", 30);
    assert_eq!(f.apply(del(40)), Reply::Done);
    assert_eq!(
        f.apply(del(41)),
        Reply::Rejected(Rejection::ContainerNotFound)
    );
    assert_eq!(f.account("a").container_count, 0);
    // Recreated, the container has no memory of the old deletion.
    f.put_container("a", "c", 50);
    f.put_object("a", "c", "x", 10, 5);
    assert_eq!(all(&f, "a", "c"), vec![("x".into(), 10, 5)]);
}

// Checks metadata merge on account and container: new keys added, changed
// keys replaced, empty values remove keys; unknown account is refused.
#[test]
fn metadata_updates_merge_and_empty_value_deletes() {
    let mut f = Fixture::new();
    let meta = |kv: &[(&str, &str)]| {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<MetaMap>()
    };
    f.apply(Request::PutContainer {
        account: "a".into(),
        container: "c".into(),
        meta: meta(&[("x-container-meta-a", "1"), ("x-container-meta-b", "2")]),
        ts: Timestamp::from_ticks(1),
        containers_max: None,
    });
    let r = f.apply(Request::UpdateContainerMeta {
        account: "a".into(),
        container: "c".into(),
        meta: meta(&[("x-container-meta-a", ""), ("x-container-meta-c", "3")]),
        ts: Timestamp::from_ticks(5),
    });
    let Reply::Container(c) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        c.meta,
        meta(&[("x-container-meta-b", "2"), ("x-container-meta-c", "3")])
    );
    assert_eq!(c.put_ts.ticks(), 5);
    let r = f.apply(Request::UpdateAccountMeta {
        account: "a".into(),
        meta: meta(&[("x-account-meta-q", "v")]),
        ts: Timestamp::from_ticks(6),
    });
    assert_eq!(f.account("a").meta, meta(&[("x-account-meta-q", "v")]));
    assert!(matches!(r, Reply::Account(_)));
    let r = f.apply(Request::UpdateAccountMeta {
        account: "zz".into(),
        meta: MetaMap::new(),
        ts: Timestamp::ZERO,
    });
    assert_eq!(r, Reply::Rejected(Rejection::AccountNotFound));
}

// Checks ensure_account creates once and then returns the existing record,
// and the container limit is enforced.
#[test]
fn ensure_account_is_idempotent_and_container_limit_holds() {
    let mut f = Fixture::new();
    let ensure = |ts| Request::EnsureAccount {
        account: "a".into(),
        ts: Timestamp::from_ticks(ts),
    };
    let Reply::Account(first) = f.apply(ensure(5)) else {
        panic!()
    };
    let Reply::Account(again) = f.apply(ensure(9)) else {
        panic!()
    };
    assert_eq!(first, again);
    let put = |c: &str| Request::PutContainer {
        account: "a".into(),
        container: c.into(),
        meta: MetaMap::new(),
        ts: Timestamp::from_ticks(10),
        containers_max: Some(1),
    };
    assert_eq!(
        f.apply(put("c1")),
        Reply::ContainerPut(ContainerPut::Created)
    );
    assert_eq!(
        f.apply(put("c2")),
        Reply::Rejected(Rejection::TooManyContainers)
    );
    assert_eq!(
        f.apply(put("c1")),
        Reply::ContainerPut(ContainerPut::Updated)
    );
}

// Checks that commands later in one batch see the writes of earlier ones
// (container created, objects written and overwritten, all in one batch).
#[test]
fn one_batch_sees_its_own_writes() {
    let mut f = Fixture::new();
    let put = |name: &str, ts, size| Request::PutObject {
        account: "a".into(),
        container: "c".into(),
        entry: entry(name, ts, size),
    };
    let replies = f.apply_batch(vec![
        Request::PutContainer {
            account: "a".into(),
            container: "c".into(),
            meta: MetaMap::new(),
            ts: Timestamp::from_ticks(1),
            containers_max: None,
        },
        put("x", 10, 10),
        put("x", 11, 25),
        put("y", 10, 1),
        Request::DeleteObject {
            account: "a".into(),
            container: "c".into(),
            name: "y".into(),
            ts: Timestamp::from_ticks(12),
        },
        put("y", 11, 1),
    ]);
    assert_eq!(replies.len(), 6);
    assert_eq!(all(&f, "a", "c"), vec![("x".into(), 11, 25)]);
    let c = f.container("a", "c");
    assert_eq!((c.object_count, c.bytes_used), (1, 25));
    let (applied, _) = crate::state_machine::applied_state(&f.db).unwrap();
    assert_eq!(applied.map(|l| l.index), Some(6));
}

/// An object operation in the randomized model test.
#[derive(Debug, Clone)]
enum Op {
    Put { name: u8, ts: u64, size: u64 },
    Delete { name: u8, ts: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 1u64..40, 0u64..1000).prop_map(|(name, ts, size)| Op::Put { name, ts, size }),
        (0u8..6, 1u64..40).prop_map(|(name, ts)| Op::Delete { name, ts }),
    ]
}

// Checks, on random sequences of PUTs and DELETEs with random timestamps
// applied in random batch sizes, that the listing and the totals equal a
// naive model where the newest operation on each name wins (ties: first).
#[test]
fn random_object_ops_match_newest_wins_model() {
    let mut runner = seeded_runner("random_object_ops_match_newest_wins_model", 64);
    let strategy = (proptest::collection::vec(op(), 1..40), 1usize..8);
    runner
        .run(&strategy, |(ops, batch)| {
            let mut f = Fixture::new();
            f.put_container("a", "c", 0);
            // Model: name -> (ts, Some(size) for a live object).
            let mut model: BTreeMap<String, (u64, Option<u64>)> = BTreeMap::new();
            let mut reqs = Vec::new();
            for op in &ops {
                let (name, ts, size) = match *op {
                    Op::Put { name, ts, size } => (format!("n{name}"), ts, Some(size)),
                    Op::Delete { name, ts } => (format!("n{name}"), ts, None),
                };
                if model.get(&name).is_none_or(|(cur, _)| *cur < ts) {
                    model.insert(name.clone(), (ts, size));
                }
                reqs.push(match size {
                    Some(size) => Request::PutObject {
                        account: "a".into(),
                        container: "c".into(),
                        entry: entry(&name, ts, size),
                    },
                    None => Request::DeleteObject {
                        account: "a".into(),
                        container: "c".into(),
                        name,
                        ts: Timestamp::from_ticks(ts),
                    },
                });
            }
            for chunk in reqs.chunks(batch) {
                f.apply_batch(chunk.to_vec());
            }
            let want: Vec<(String, u64, u64)> = model
                .iter()
                .filter_map(|(n, (ts, size))| size.map(|s| (n.clone(), *ts, s)))
                .collect();
            prop_assert_eq!(all(&f, "a", "c"), want.clone());
            let c = f.container("a", "c");
            let bytes: u64 = want.iter().map(|w| w.2).sum();
            prop_assert_eq!((c.object_count, c.bytes_used), (want.len() as u64, bytes));
            let a = f.account("a");
            prop_assert_eq!((a.object_count, a.bytes_used), (want.len() as u64, bytes));
            Ok(())
        })
        .unwrap();
}

// Checks that a batch entry applies its commands in order and answers each
// one, a refused command in the middle not affecting the others.
#[test]
fn batch_entry_answers_each_command() {
    let mut f = Fixture::new();
    f.put_container("a", "c", 1);
    let put = |c: &str, name: &str| Request::PutObject {
        account: "a".into(),
        container: c.into(),
        entry: entry(name, 5, 4),
    };
    let reply = f.apply(Request::Batch(vec![
        put("c", "x"),
        put("missing", "y"),
        put("c", "z"),
    ]));
    let want = Reply::Batch(vec![
        Reply::Done,
        Reply::Rejected(Rejection::ContainerNotFound),
        Reply::Done,
    ]);
    assert_eq!(reply, want);
    assert_eq!(all(&f, "a", "c").len(), 2);
    assert_eq!(f.account("a").bytes_used, 8);
}

// Checks that reclaiming removes only the listed tombstones older than the
// reclaim age, after which an older PUT of such a name is accepted again.
#[test]
fn reclaim_removes_only_old_tombstones() {
    let mut f = Fixture::new();
    f.put_container("a", "c", 1);
    f.delete_object("a", "c", "old", 10);
    f.delete_object("a", "c", "new", 30);
    let keys = vec![
        crate::keys::object("a", "c", "old"),
        crate::keys::object("a", "c", "new"),
    ];
    let old_tombs =
        crate::reads::old_tombstones(&f.db, None, Timestamp::from_ticks(25), 10).unwrap();
    assert_eq!(old_tombs, (vec![keys[0].clone()], None));
    let reply = f.apply(Request::ReclaimTombstones {
        older_than: Timestamp::from_ticks(25),
        keys,
    });
    assert_eq!(reply, Reply::Reclaimed(1));
    f.put_object("a", "c", "old", 5, 1);
    f.put_object("a", "c", "new", 5, 1);
    assert_eq!(all(&f, "a", "c"), vec![("old".into(), 5, 1)]);
}
