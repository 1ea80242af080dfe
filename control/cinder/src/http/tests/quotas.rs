//! Quotas and limits through the API: Cinder's defaults, usage counted
//! from the project's volumes and snapshots, only an admin sets or resets
//! them (not below usage), and a volume created, extended or snapshotted
//! over a limit is refused with Cinder's 413 body, changing nothing.

use http::StatusCode;
use serde_json::{json, Value};

use super::{harness, message, Harness};

fn quota_path(h: &Harness) -> String {
    format!("/os-quota-sets/{}", h.ids.demo_project_id)
}

/// The admin sets demo's quota; the answer's `quota_set`.
async fn set(h: &Harness, limits: Value) -> Value {
    let r = h
        .as_admin("PUT", &quota_path(h), Some(json!({ "quota_set": limits })))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json["quota_set"].clone()
}

async fn usage(h: &Harness) -> Value {
    let path = format!("{}?usage=True", quota_path(h));
    h.as_demo("GET", &path, None).await.json["quota_set"].clone()
}

/// An over-limit refusal's message.
fn over(r: &super::Resp) -> String {
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.json);
    assert_eq!(r.json["overLimit"]["retryAfter"], "0");
    message(r, "overLimit")
}

fn id(r: &super::Resp) -> String {
    r.json["volume"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_start_at_cinders_defaults_and_only_an_admin_sets_them() {
    let h = harness().await;
    let demo = h.ids.demo_project_id.clone();
    let shown = h.as_demo("GET", &quota_path(&h), None).await;
    assert_eq!(
        shown.json["quota_set"],
        json!({"id": demo, "volumes": 10, "snapshots": 10, "gigabytes": 1000,
               "backups": 10, "backup_gigabytes": 1000, "per_volume_gigabytes": -1,
               "groups": 10})
    );
    let defaults = h
        .as_demo("GET", &format!("{}/defaults", quota_path(&h)), None)
        .await;
    assert_eq!(defaults.json, shown.json);
    // A reader may look; nobody but an admin looks at another project's.
    let r = h.call(&h.reader, &demo, "GET", &quota_path(&h), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let theirs = format!("/os-quota-sets/{}", h.ids.admin_project_id);
    let r = h.as_demo("GET", &theirs, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let body = json!({"quota_set": {"volumes": 1}});
    let r = h.as_demo("PUT", &quota_path(&h), Some(body.clone())).await;
    assert_eq!(
        message(&r, "forbidden"),
        "Policy doesn't allow volume_extension:quotas:update to be performed."
    );
    let r = h.as_demo("DELETE", &quota_path(&h), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .as_admin(
            "PUT",
            &quota_path(&h),
            Some(json!({"quota_set": {"cores": 1}})),
        )
        .await;
    assert_eq!(
        message(&r, "badRequest"),
        "Invalid input received: Bad key(s) in quota set: cores"
    );

    let set_to = set(&h, json!({"volumes": 1, "snapshots": "3"})).await;
    assert_eq!(
        (set_to["volumes"].clone(), set_to["snapshots"].clone()),
        (json!(1), json!(3))
    );
    assert!(set_to.get("id").is_none(), "{set_to}");
    let v = h.volume("v", 2, json!({})).await;
    assert_eq!(v.status, StatusCode::ACCEPTED);
    let u = usage(&h).await;
    assert_eq!(
        u["volumes"],
        json!({"limit": 1, "in_use": 1, "reserved": 0})
    );
    assert_eq!(
        u["gigabytes"],
        json!({"limit": 1000, "in_use": 2, "reserved": 0})
    );
    // Not below what is used.
    let r = h
        .as_admin(
            "PUT",
            &quota_path(&h),
            Some(json!({"quota_set": {"volumes": 0}})),
        )
        .await;
    assert!(message(&r, "badRequest").contains("Current usage is 1"));

    // Reset: the defaults apply again.
    let r = h.as_admin("DELETE", &quota_path(&h), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(usage(&h).await["volumes"]["limit"], json!(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_goes_over_a_limit_is_refused_and_changes_nothing() {
    let h = harness().await;
    set(&h, json!({"volumes": 2})).await;
    let first = h.volume("a", 1, json!({})).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    h.volume("b", 1, json!({})).await;
    let r = h.volume("c", 1, json!({})).await;
    assert_eq!(
        over(&r),
        "VolumeLimitExceeded: Maximum number of volumes allowed (2) exceeded for quota 'volumes'."
    );
    // Clones count as volumes too.
    let r = h.volume("d", 1, json!({"source_volid": id(&first)})).await;
    over(&r);
    let listed = h.as_demo("GET", "/volumes", None).await;
    assert_eq!(listed.json["volumes"].as_array().unwrap().len(), 2);

    // Limits show the same.
    let limits = h.as_demo("GET", "/limits", None).await;
    let abs = &limits.json["limits"]["absolute"];
    assert_eq!(limits.json["limits"]["rate"], json!([]));
    assert_eq!(
        (
            abs["maxTotalVolumes"].clone(),
            abs["totalVolumesUsed"].clone()
        ),
        (json!(2), json!(2))
    );
    assert_eq!(abs["totalGigabytesUsed"], json!(2));
    assert_eq!(abs["maxTotalVolumeGigabytes"], json!(1000));
    assert_eq!(abs["maxTotalSnapshots"], json!(10));
    assert_eq!(abs["maxTotalBackups"], json!(10));

    // GiB: an extend past them is refused and the volume keeps its size.
    set(&h, json!({"volumes": -1, "gigabytes": 3})).await;
    let a = id(&first);
    let extend = |gib: u64| json!({"os-extend": {"new_size": gib}});
    let action = format!("/volumes/{a}/action");
    let r = h.as_demo("POST", &action, Some(extend(2))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    let r = h.as_demo("POST", &action, Some(extend(3))).await;
    assert_eq!(
        over(&r),
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed \
         gigabytes quota. Requested 1G, quota is 3G and 3G has been consumed."
    );
    assert_eq!(h.block(&a).await.size, 2 << 30);
    // A snapshot's GiB count too.
    let snap = json!({"snapshot": {"volume_id": a, "name": "s"}});
    let r = h.as_demo("POST", "/snapshots", Some(snap.clone())).await;
    assert!(over(&r).contains("Requested 2G, quota is 3G and 3G has been consumed."));
    assert!(h.block(&a).await.snapshots.is_empty());

    // Snapshots by count.
    set(&h, json!({"gigabytes": -1, "snapshots": 1})).await;
    let r = h.as_demo("POST", "/snapshots", Some(snap.clone())).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    let r = h.as_demo("POST", "/snapshots", Some(snap)).await;
    assert_eq!(
        over(&r),
        "SnapshotLimitExceeded: Maximum number of snapshots allowed (1) exceeded"
    );
    // a (2 GiB), b (1 GiB) and the snapshot of a (2 GiB).
    assert_eq!(usage(&h).await["gigabytes"]["in_use"], json!(5));

    // The size of one volume.
    set(&h, json!({"per_volume_gigabytes": 4})).await;
    let r = h.volume("big", 5, json!({})).await;
    assert_eq!(
        over(&r),
        "VolumeSizeExceedsLimit: Requested volume size 5G is larger than maximum allowed limit 4G."
    );
    let r = h.as_demo("POST", &action, Some(extend(5))).await;
    over(&r);

    // A create the gateway refuses (a clone smaller than its source)
    // leaves no usage behind; a delete frees what it used.
    let before = usage(&h).await;
    let r = h.volume("small", 1, json!({"source_volid": a})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
    assert_eq!(usage(&h).await, before);
    let b = h.as_demo("GET", "/volumes/detail?name=b", None).await;
    let b = b.json["volumes"][0]["id"].as_str().unwrap().to_owned();
    h.as_demo("DELETE", &format!("/volumes/{b}"), None).await;
    let after = usage(&h).await;
    assert_eq!(after["volumes"]["in_use"], json!(1));
    assert_eq!(after["gigabytes"]["in_use"], json!(4));
}

/// An admin reads another project's limits at microversion 3.39 and
/// later; before, and for anyone else, `project_id` is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_another_projects_limits() {
    let h = harness().await;
    set(&h, json!({"volumes": 4})).await;
    let uri = |p: &str| {
        format!(
            "/volume/v3/{}/limits?project_id={p}",
            h.ids.admin_project_id
        )
    };
    let demo = h.ids.demo_project_id.clone();
    let mv = [("openstack-api-version", "volume 3.39")];
    let r = h
        .raw_with("GET", &uri(&demo), Some(&h.admin), &mv, None)
        .await;
    assert_eq!(r.json["limits"]["absolute"]["maxTotalVolumes"], json!(4));
    let r = h
        .raw_with("GET", &uri(&demo), Some(&h.admin), &[], None)
        .await;
    assert_eq!(r.json["limits"]["absolute"]["maxTotalVolumes"], json!(10));
}
