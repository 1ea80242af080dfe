//! The quota arithmetic on its own: Cinder's defaults, overrides, the
//! order and wording of the over-limit refusals, unlimited (-1) limits,
//! the checks of an update, and the ledger's seal under a race.

use std::collections::BTreeMap;

use cairn_meta_api::records::{MemoryRecords, Records, Txn};
use serde_json::json;

use super::*;

fn limits(pairs: &[(&str, i64)]) -> Limits {
    let o: BTreeMap<String, i64> = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Limits::with(&o)
}

fn usage(volumes: u64, snapshots: u64, gigabytes: u64) -> Usage {
    Usage {
        volumes,
        snapshots,
        gigabytes,
    }
}

/// The message of an over-limit refusal, or a panic.
fn refused(r: Result<(), CinderError>) -> String {
    match r {
        Err(CinderError::OverLimit(m)) => m,
        other => panic!("expected an over-limit refusal, got {other:?}"),
    }
}

#[test]
fn defaults_are_cinders_and_overrides_replace_them() {
    let d = Limits::defaults();
    let got: Vec<(&str, i64)> = d.iter().collect();
    assert_eq!(
        got,
        [
            ("backup_gigabytes", 1000),
            ("backups", 10),
            ("gigabytes", 1000),
            ("groups", 10),
            ("per_volume_gigabytes", -1),
            ("snapshots", 10),
            ("volumes", 10),
        ]
    );
    let l = limits(&[("volumes", 2), ("not-a-resource", 7)]);
    assert_eq!((l.get("volumes"), l.get("snapshots")), (2, 10));
    assert_eq!(l.iter().count(), 7, "unknown overrides are not resources");
}

#[test]
fn a_volume_over_its_count_or_size_is_refused_with_cinders_words() {
    let l = limits(&[
        ("volumes", 2),
        ("gigabytes", 10),
        ("per_volume_gigabytes", 5),
    ]);
    check(&l, &usage(1, 0, 3), Charge::Volume { gib: 5 }).unwrap();
    assert_eq!(
        refused(check(&l, &usage(2, 0, 3), Charge::Volume { gib: 1 })),
        "VolumeLimitExceeded: Maximum number of volumes allowed (2) exceeded for quota 'volumes'."
    );
    assert_eq!(
        refused(check(&l, &usage(1, 0, 8), Charge::Volume { gib: 3 })),
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed \
         gigabytes quota. Requested 3G, quota is 10G and 8G has been consumed."
    );
    // The per-volume size comes first, then GiB, then the count.
    assert_eq!(
        refused(check(&l, &usage(2, 0, 10), Charge::Volume { gib: 6 })),
        "VolumeSizeExceedsLimit: Requested volume size 6G is larger than maximum allowed \
         limit 5G."
    );
    assert!(
        refused(check(&l, &usage(2, 0, 10), Charge::Volume { gib: 1 }))
            .starts_with("VolumeSizeExceedsAvailableQuota")
    );
}

#[test]
fn snapshots_and_extends_count_gigabytes_too() {
    let l = limits(&[
        ("snapshots", 1),
        ("gigabytes", 10),
        ("per_volume_gigabytes", 8),
    ]);
    check(&l, &usage(1, 0, 5), Charge::Snapshot { gib: 5 }).unwrap();
    assert_eq!(
        refused(check(&l, &usage(1, 1, 5), Charge::Snapshot { gib: 1 })),
        "SnapshotLimitExceeded: Maximum number of snapshots allowed (1) exceeded"
    );
    assert!(
        refused(check(&l, &usage(1, 0, 6), Charge::Snapshot { gib: 5 }))
            .contains("Requested 5G, quota is 10G and 6G has been consumed.")
    );
    // A snapshot is not a volume: no per-volume limit.
    check(&l, &usage(0, 0, 0), Charge::Snapshot { gib: 9 }).unwrap();
    // Extending charges the growth, and the new size against per-volume.
    let grow = |from_gib, to_gib| Charge::Extend { from_gib, to_gib };
    check(&l, &usage(1, 0, 6), grow(4, 8)).unwrap();
    assert!(refused(check(&l, &usage(1, 0, 7), grow(4, 8)))
        .contains("Requested 4G, quota is 10G and 7G has been consumed."));
    assert!(refused(check(&l, &usage(1, 0, 1), grow(1, 9))).starts_with("VolumeSizeExceedsLimit"));
}

#[test]
fn minus_one_is_unlimited_and_zero_allows_nothing() {
    let l = limits(&[("volumes", -1), ("gigabytes", -1)]);
    check(
        &l,
        &usage(u64::MAX, 0, u64::MAX),
        Charge::Volume { gib: 1 << 40 },
    )
    .unwrap();
    let none = limits(&[("volumes", 0)]);
    assert!(
        refused(check(&none, &usage(0, 0, 0), Charge::Volume { gib: 1 })).contains("allowed (0)")
    );
}

#[test]
fn updates_take_known_integer_limits_not_below_usage() {
    let body = json!({"quota_set": {"volumes": 2, "gigabytes": "20", "id": "p"}});
    let got = parse_update(&body).unwrap();
    assert_eq!(got.get("volumes"), Some(&2));
    assert_eq!(got.get("gigabytes"), Some(&20));
    assert!(!got.contains_key("id"));
    let bad = |b: serde_json::Value| match parse_update(&b) {
        Err(CinderError::BadRequest(m)) => m,
        other => panic!("{b} was accepted: {other:?}"),
    };
    assert_eq!(
        bad(json!({"quota_set": {"volumes": 1, "cores": 4}})),
        "Invalid input received: Bad key(s) in quota set: cores"
    );
    bad(json!({"quota_set": {"volumes": -2}}));
    bad(json!({"quota_set": {"volumes": "many"}}));
    bad(json!({"quota_set": {}}));
    bad(json!({"volumes": 1}));

    let new: BTreeMap<String, i64> = [("volumes".to_string(), 1)].into();
    check_update(&new, &usage(1, 0, 0)).unwrap();
    match check_update(&new, &usage(2, 0, 0)) {
        Err(CinderError::BadRequest(m)) => assert_eq!(
            m,
            "Quota volumes limit must be equal or greater than existing resources. Current \
             usage is 2 and the requested limit is 1."
        ),
        other => panic!("{other:?}"),
    }
    let unlimited: BTreeMap<String, i64> = [("volumes".to_string(), -1)].into();
    check_update(&unlimited, &usage(50, 0, 0)).unwrap();
}

#[test]
fn the_view_gives_limits_or_limits_with_usage() {
    let l = limits(&[("volumes", 3)]);
    let plain = view(&l, None);
    assert_eq!(plain["volumes"], json!(3));
    let detailed = view(&l, Some(&usage(2, 1, 7)));
    assert_eq!(
        detailed["volumes"],
        json!({"limit": 3, "in_use": 2, "reserved": 0})
    );
    assert_eq!(detailed["gigabytes"]["in_use"], json!(7));
    assert_eq!(detailed["backups"]["in_use"], json!(0));
}

/// Two changes counted from the same ledger revision: the first to commit
/// lands, the second's check fails and nothing of it is stored.
#[tokio::test]
async fn a_sealed_change_loses_to_one_committed_since_its_read() {
    let records = MemoryRecords::new();
    let sealed = |revision| Ledger {
        project: "p".into(),
        revision,
        overrides: BTreeMap::new(),
        limits: Limits::defaults(),
        usage: Usage::default(),
    };
    let put = |k: &str| Txn::new().put(RecordKey::new("t", k), b"x".to_vec());
    let (first, second) = (sealed(0), sealed(0));
    assert!(store::try_commit(&records, first.seal(put("a")))
        .await
        .unwrap());
    assert!(!store::try_commit(&records, second.seal(put("b")))
        .await
        .unwrap());
    assert!(records
        .record(&RecordKey::new("t", "b"))
        .await
        .unwrap()
        .is_none());
    // Read again, it commits.
    assert!(store::try_commit(&records, sealed(1).seal(put("b")))
        .await
        .unwrap());
}

#[test]
fn retries_are_bounded() {
    let mut r = Retry::default();
    let tries = std::iter::from_fn(|| r.again().ok()).count();
    assert_eq!(tries, ATTEMPTS_MAX as usize - 1);
}
