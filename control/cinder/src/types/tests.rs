//! Volume types over `MemoryRecords`: the `replicas` spec and the checks
//! of extra specs, what a non-admin sees, lookups by id, name and
//! `default`, unique names through renames, the built-in type written on
//! first use, and a write that lost a race.

use cairn_meta_api::records::MemoryRecords;

use super::*;

fn kind(name: &str, specs: &[(&str, &str)]) -> VolumeType {
    VolumeType {
        id: format!("id-{name}"),
        name: name.into(),
        description: None,
        is_public: true,
        extra_specs: specs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn bad_request<T: std::fmt::Debug>(r: Result<T, CinderError>) -> String {
    match r {
        Err(CinderError::BadRequest(m)) => m,
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn replicas_is_a_count_the_ring_can_keep() {
    assert_eq!(kind("t", &[]).replica_count(3).unwrap(), 3);
    assert_eq!(kind("t", &[("replicas", "2")]).replica_count(3).unwrap(), 2);
    assert_eq!(
        kind("t", &[("replicas", " 1 ")]).replica_count(3).unwrap(),
        1
    );
    for bad in ["0", "4", "-1", "two", "", "2.5"] {
        let m = bad_request(parse_replicas(bad, 3));
        assert!(m.contains("from 1 to 3"), "{m}");
    }
    // A ring of one replica allows only 1.
    assert!(parse_replicas("2", 1).is_err());
}

#[test]
fn extra_specs_are_checked_like_cinders_schema() {
    let specs = |pairs: &[(&str, &str)]| kind("t", pairs).extra_specs;
    check_specs(&specs(&[("replicas", "2"), ("RESKEY:az", "nova")]), 3).unwrap();
    bad_request(check_specs(&specs(&[("replicas", "9")]), 3));
    bad_request(check_specs(&specs(&[("has space", "x")]), 3));
    bad_request(check_specs(&specs(&[("", "x")]), 3));
    let long = "v".repeat(256);
    bad_request(check_specs(&specs(&[("k", &long)]), 3));
    bad_request(check_name("   "));
    check_name("two").unwrap();
}

#[test]
fn a_non_admin_sees_only_user_visible_specs() {
    let t = kind(
        "t",
        &[
            ("replicas", "2"),
            ("multiattach", "<is> True"),
            ("secret", "x"),
        ],
    );
    assert_eq!(t.visible_specs(true).len(), 3);
    let seen: Vec<String> = t.visible_specs(false).into_keys().collect();
    assert_eq!(seen, ["multiattach", "replicas"]);
}

async fn create(records: &MemoryRecords, t: &VolumeType) -> Written {
    commit(records, write(Txn::new(), None, t).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn names_are_unique_and_lookups_take_id_name_or_default() {
    let r = MemoryRecords::new();
    let two = kind("two", &[("replicas", "2")]);
    assert_eq!(create(&r, &two).await, Written::Done);
    let mut again = kind("two", &[]);
    again.id = "other".into();
    assert_eq!(create(&r, &again).await, Written::NameTaken);

    assert_eq!(find(&r, "two").await.unwrap().t, two);
    assert_eq!(find(&r, "id-two").await.unwrap().t, two);
    let d = find(&r, "default").await.unwrap();
    assert_eq!((d.t.name.as_str(), d.revision), (DEFAULT_TYPE, 0));
    assert_eq!(find(&r, DEFAULT_TYPE).await.unwrap().t.id, DEFAULT_TYPE_ID);
    assert!(matches!(
        find(&r, "three").await,
        Err(CinderError::NotFound(m)) if m == "Volume type with name three could not be found."
    ));
    let names: Vec<String> = all(&r).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, [DEFAULT_TYPE, "two"]);

    // A rename frees the old name and takes the new one.
    let old = find(&r, "two").await.unwrap();
    let renamed = VolumeType {
        name: "pair".into(),
        ..old.t.clone()
    };
    let txn = write(Txn::new(), Some(&old), &renamed).unwrap();
    assert_eq!(commit(&r, txn).await.unwrap(), Written::Done);
    assert!(find(&r, "two").await.is_err());
    assert_eq!(find(&r, "pair").await.unwrap().t.id, "id-two");
    assert_eq!(create(&r, &again).await, Written::Done);

    // A write from a stale read loses; so does a delete.
    let txn = write(Txn::new(), Some(&old), &old.t).unwrap();
    assert_eq!(commit(&r, txn).await.unwrap(), Written::Raced);
    assert_eq!(commit(&r, remove(&old)).await.unwrap(), Written::Raced);
    let now = find(&r, "pair").await.unwrap();
    assert_eq!(commit(&r, remove(&now)).await.unwrap(), Written::Done);
    assert!(find(&r, "id-two").await.is_err());
}

/// The built-in type is a record once written, found by its name after.
#[tokio::test]
async fn the_default_type_is_written_on_first_use() {
    let r = MemoryRecords::new();
    let d = by_id(&r, DEFAULT_TYPE_ID).await.unwrap();
    assert_eq!(d.revision, 0);
    let txn = write(Txn::new(), Some(&d), &d.t).unwrap();
    assert_eq!(commit(&r, txn).await.unwrap(), Written::Done);
    let stored = find(&r, DEFAULT_TYPE).await.unwrap();
    assert_eq!(
        (stored.revision, &stored.t),
        (1, &VolumeType::default_type())
    );
    // Rewriting it as it is (what a volume create does) moves its revision.
    let txn = write(Txn::new(), Some(&stored), &stored.t).unwrap();
    assert_eq!(commit(&r, txn).await.unwrap(), Written::Done);
    assert_eq!(by_id(&r, DEFAULT_TYPE_ID).await.unwrap().revision, 2);
    assert_eq!(all(&r).await.unwrap().len(), 1);
}
