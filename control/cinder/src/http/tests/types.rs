//! Volume types through the API: only an admin creates, changes and
//! deletes them (Cinder's 403 otherwise); anyone reads the public ones by
//! id, name or `default`; `replicas` must be a count the ring keeps; and a
//! volume of a type keeps that many copies, as do its clones, while the
//! type cannot change or go.

use http::StatusCode;
use serde_json::{json, Value};

use super::{harness, message, Harness};

/// Creates type `name` as the admin with `specs`; its id.
async fn new_type(h: &Harness, name: &str, specs: Value) -> String {
    let body = json!({"volume_type": {"name": name, "description": null,
                                       "os-volume-type-access:is_public": true}});
    let r = h.as_admin("POST", "/types", Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let id = r.json["volume_type"]["id"].as_str().unwrap().to_owned();
    if specs.as_object().is_some_and(|s| !s.is_empty()) {
        let path = format!("/types/{id}/extra_specs");
        let r = h
            .as_admin("POST", &path, Some(json!({ "extra_specs": specs })))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    }
    id
}

fn names(r: &Value) -> Vec<&str> {
    r["volume_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_are_an_admins_to_change_and_anyones_to_read() {
    let h = harness().await;
    let demo = h.ids.demo_project_id.clone();
    let body = json!({"volume_type": {"name": "mine"}});
    for token in [&h.demo, &h.reader] {
        let r = h
            .call(token, &demo, "POST", "/types", Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(
            message(&r, "forbidden"),
            "Policy doesn't allow volume_extension:type_create to be performed."
        );
    }
    let id = new_type(&h, "two", json!({"replicas": "2"})).await;

    // Everyone reads it: listed, by name, by id; and the default type.
    let listed = h.as_demo("GET", "/types?is_public=None", None).await;
    assert_eq!(names(&listed.json), ["__DEFAULT__", "two"]);
    for key in ["two", id.as_str()] {
        let r = h.as_demo("GET", &format!("/types/{key}"), None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json["volume_type"]["id"], json!(id));
        assert_eq!(
            r.json["volume_type"]["extra_specs"],
            json!({"replicas": "2"})
        );
    }
    let d = h.as_demo("GET", "/types/default", None).await;
    assert_eq!(d.json["volume_type"]["name"], "__DEFAULT__");
    let r = h.as_demo("GET", "/types/nope", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let spec = h
        .as_demo("GET", &format!("/types/{id}/extra_specs/replicas"), None)
        .await;
    assert_eq!(spec.json, json!({"replicas": "2"}));
    let r = h
        .as_demo("GET", &format!("/types/{id}/extra_specs/other"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A member may change none of it.
    let specs = format!("/types/{id}/extra_specs");
    let r = h
        .as_demo(
            "POST",
            &specs,
            Some(json!({"extra_specs": {"replicas": "1"}})),
        )
        .await;
    assert_eq!(
        message(&r, "forbidden"),
        "Policy doesn't allow volume_extension:types_extra_specs:create to be performed."
    );
    let r = h.as_demo("DELETE", &format!("/types/{id}"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Counts the ring cannot keep, and names taken, are refused.
    for bad in ["0", "4", "x"] {
        let r = h
            .as_admin(
                "POST",
                &specs,
                Some(json!({"extra_specs": {"replicas": bad}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "replicas={bad}");
        assert!(message(&r, "badRequest").contains("from 1 to 3"));
    }
    let body = json!({"volume_type": {"name": "five", "extra_specs": {"replicas": "5"}}});
    let r = h.as_admin("POST", "/types", Some(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for taken in ["two", "__DEFAULT__"] {
        let body = json!({"volume_type": {"name": taken}});
        let r = h.as_admin("POST", "/types", Some(body)).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{taken}");
    }

    // The admin changes a spec, renames, and keeps a type private.
    let one = format!("/types/{id}/extra_specs/replicas");
    let r = h
        .as_admin("PUT", &one, Some(json!({"replicas": "1"})))
        .await;
    assert_eq!(r.json, json!({"replicas": "1"}));
    let r = h.as_admin("PUT", &one, Some(json!({"other": "1"}))).await;
    assert_eq!(message(&r, "badRequest"), "Request body and URI mismatch");
    let rename = json!({"volume_type": {"name": "pair", "description": "two copies"}});
    let r = h
        .as_admin("PUT", &format!("/types/{id}"), Some(rename))
        .await;
    assert_eq!(r.json["volume_type"]["name"], "pair");
    assert_eq!(
        h.as_demo("GET", "/types/pair", None).await.json["volume_type"]["extra_specs"],
        json!({"replicas": "1"})
    );
    let hidden = json!({"volume_type": {"name": "hidden",
                                         "os-volume-type-access:is_public": false}});
    assert_eq!(
        h.as_admin("POST", "/types", Some(hidden)).await.status,
        StatusCode::OK
    );
    let mine = h.as_demo("GET", "/types?is_public=None", None).await;
    assert_eq!(names(&mine.json), ["__DEFAULT__", "pair"]);
    assert_eq!(
        h.as_demo("GET", "/types/hidden", None).await.status,
        StatusCode::NOT_FOUND
    );
    let all = h.as_admin("GET", "/types?is_public=None", None).await;
    assert_eq!(names(&all.json), ["__DEFAULT__", "hidden", "pair"]);
    let public = h.as_admin("GET", "/types", None).await;
    assert_eq!(names(&public.json), ["__DEFAULT__", "pair"]);

    // Specs go one by one; the default type stays.
    let r = h.as_admin("DELETE", &one, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        h.as_admin("DELETE", &one, None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = h.as_admin("DELETE", "/types/default", None).await;
    assert!(message(&r, "badRequest").contains("is a default volume type"));
    let r = h.as_admin("DELETE", &format!("/types/{id}"), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        h.as_admin("GET", &format!("/types/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_of_a_type_keeps_its_count_and_pins_the_type() {
    let h = harness().await;
    let id = new_type(&h, "two", json!({"replicas": "2"})).await;

    let r = h.volume("v", 1, json!({"volume_type": "two"})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    let v = r.json["volume"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["volume"]["volume_type"], "two");
    assert_eq!(h.block(&v).await.replica_count, Some(2));
    let shown = h.as_demo("GET", &format!("/volumes/{v}"), None).await;
    assert_eq!(shown.json["volume"]["volume_type"], "two");
    assert_eq!(shown.json["volume"]["volume_type_id"], json!(id));
    let listed = h.as_demo("GET", "/volumes/detail", None).await;
    assert_eq!(listed.json["volumes"][0]["volume_type"], "two");

    // By id too; without a type, the default keeps every replica.
    let r = h.volume("by-id", 1, json!({"volume_type": id})).await;
    assert_eq!(r.json["volume"]["volume_type"], "two");
    let plain = h.volume("plain", 1, json!({"volume_type": null})).await;
    assert_eq!(plain.json["volume"]["volume_type"], "__DEFAULT__");
    let plain_id = plain.json["volume"]["id"].as_str().unwrap();
    assert_eq!(h.block(plain_id).await.replica_count, Some(3));
    let r = h.volume("x", 1, json!({"volume_type": "nope"})).await;
    assert_eq!(
        message(&r, "itemNotFound"),
        "Volume type with name nope could not be found."
    );

    // Clones take the source's type, or the one they name.
    let snap = h
        .as_demo(
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": v, "name": "s"}})),
        )
        .await;
    let snap_id = snap.json["snapshot"]["id"].as_str().unwrap().to_owned();
    let from_snap = h
        .volume("from-snap", 1, json!({"snapshot_id": snap_id}))
        .await;
    let from_vol = h.volume("from-vol", 1, json!({"source_volid": v})).await;
    let three = h
        .volume(
            "three",
            1,
            json!({"source_volid": v, "volume_type": "__DEFAULT__"}),
        )
        .await;
    for (r, kind, count) in [
        (&from_snap, "two", 2),
        (&from_vol, "two", 2),
        (&three, "__DEFAULT__", 3),
    ] {
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
        assert_eq!(r.json["volume"]["volume_type"], kind);
        let vid = r.json["volume"]["id"].as_str().unwrap();
        assert_eq!(h.block(vid).await.replica_count, Some(count));
    }

    // While volumes have it, the type neither changes nor goes.
    let r = h.as_admin("DELETE", &format!("/types/{id}"), None).await;
    assert_eq!(
        message(&r, "badRequest"),
        "Target volume type is still in use."
    );
    let specs = format!("/types/{id}/extra_specs");
    let r = h
        .as_admin(
            "POST",
            &specs,
            Some(json!({"extra_specs": {"replicas": "1"}})),
        )
        .await;
    assert_eq!(
        message(&r, "badRequest"),
        "Volume Type is currently in use."
    );
    // A rename is allowed, and the volumes show it.
    let rename = json!({"volume_type": {"name": "pair"}});
    h.as_admin("PUT", &format!("/types/{id}"), Some(rename))
        .await;
    let shown = h.as_demo("GET", &format!("/volumes/{v}"), None).await;
    assert_eq!(shown.json["volume"]["volume_type"], "pair");

    // Once its volumes are gone, it can go.
    for r in [&from_snap, &from_vol, &three] {
        let vid = r.json["volume"]["id"].as_str().unwrap();
        let d = h.as_demo("DELETE", &format!("/volumes/{vid}"), None).await;
        assert_eq!(d.status, StatusCode::ACCEPTED, "{}", d.json);
    }
    h.as_demo("DELETE", &format!("/snapshots/{snap_id}"), None)
        .await;
    for name in ["v", "by-id"] {
        let listed = h
            .as_demo("GET", &format!("/volumes/detail?name={name}"), None)
            .await;
        let vid = listed.json["volumes"][0]["id"].as_str().unwrap().to_owned();
        let d = h.as_demo("DELETE", &format!("/volumes/{vid}"), None).await;
        assert_eq!(d.status, StatusCode::ACCEPTED, "{}", d.json);
    }
    let r = h.as_admin("DELETE", &format!("/types/{id}"), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
}
