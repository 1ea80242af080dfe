//! The Keystone behaviours Tempest's identity suite relies on that the
//! OpenStack CLI does not exercise: system role grants, Keystone's name
//! limits, project tags.

use http::StatusCode;
use serde_json::json;

use super::harness;

#[tokio::test]
async fn system_role_grants_are_stored_checked_listed_and_revoked() {
    // Tempest gives its dynamic users roles on the system: PUT, HEAD, list, DELETE.
    let h = harness().await;
    let uid = h.member("sysreader", &h.ids.demo_project_id).await;
    let role = &h.ids.member_role_id;
    let grant = format!("/v3/system/users/{uid}/roles/{role}");
    assert_eq!(
        h.as_admin("GET", &grant, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.as_admin("PUT", &grant, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.as_admin("HEAD", &grant, None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = h
        .as_admin("GET", &format!("/v3/system/users/{uid}/roles"), None)
        .await;
    assert_eq!(r.json["roles"][0]["id"], json!(role), "{}", r.json);
    let r = h
        .as_admin("GET", "/v3/role_assignments?scope.system=all", None)
        .await;
    let listed = r.json["role_assignments"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{}", r.json);
    assert_eq!(listed[0]["scope"], json!({"system": {"all": true}}));
    let r = h
        .as_admin("GET", &format!("/v3/role_assignments?user.id={uid}"), None)
        .await;
    assert_eq!(r.json["role_assignments"].as_array().unwrap().len(), 2);
    // The user now signs in to the system scope, with the role it holds there.
    let system = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": uid, "password": "pw"}}}, "scope": {"system": {"all": true}}}});
    let r = h.issue(system).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["token"]["system"], json!({"all": true}));
    assert!(r.json["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == json!(role)));
    let token = r.header("x-subject-token").to_string();
    assert!(h.valid(&token).await);
    let bad = format!("/v3/system/users/nobody/roles/{role}");
    assert_eq!(
        h.as_admin("PUT", &bad, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.as_admin("DELETE", &grant, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.as_admin("DELETE", &grant, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!h.valid(&token).await, "a system token outlives its role");
}

#[tokio::test]
async fn domain_project_and_group_names_stop_at_64_characters() {
    // Keystone's schema: 64 characters for these, 255 for a user.
    let h = harness().await;
    let long = "a".repeat(65);
    for (path, key) in [
        ("/v3/domains", "domain"),
        ("/v3/projects", "project"),
        ("/v3/groups", "group"),
    ] {
        let r = h
            .as_admin("POST", path, Some(json!({ key: {"name": long} })))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        let r = h
            .as_admin("POST", path, Some(json!({ key: {"name": &long[1..]} })))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.json);
    }
    let r = h
        .as_admin("POST", "/v3/users", Some(json!({"user": {"name": long}})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
}

#[tokio::test]
async fn project_tags_are_added_checked_replaced_and_removed() {
    // Tempest's tag walk: add one, replace all, remove one, clear.
    let h = harness().await;
    let tags = format!("/v3/projects/{}/tags", h.ids.demo_project_id);
    let r = h.as_admin("PUT", &format!("{tags}/t1"), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(
        h.as_admin("GET", &format!("{tags}/t1"), None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = h
        .as_admin("PUT", &tags, Some(json!({"tags": ["a", "b", "c"]})))
        .await;
    assert_eq!(r.json["tags"], json!(["a", "b", "c"]), "{}", r.json);
    assert_eq!(
        h.as_admin("GET", &format!("{tags}/t1"), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.as_admin("DELETE", &format!("{tags}/a"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.as_admin("DELETE", &format!("{tags}/a"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.as_admin("GET", &tags, None).await.json["tags"],
        json!(["b", "c"])
    );
    let r = h.as_admin("PUT", &format!("{tags}/x%2Cy"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.as_admin("DELETE", &tags, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.as_admin("GET", &tags, None).await.json["tags"], json!([]));
}

#[tokio::test]
async fn inference_rules_add_implied_roles_until_removed() {
    // A rule prior ⇒ implied shows in the effective assignments and the
    // token's roles, and is gone with the rule (and with either role).
    let h = harness().await;
    let mut ids = Vec::new();
    for name in ["prior", "implied"] {
        let r = h
            .as_admin("POST", "/v3/roles", Some(json!({"role": {"name": name}})))
            .await;
        ids.push(r.json["role"]["id"].as_str().unwrap().to_string());
    }
    let (prior, implied) = (&ids[0], &ids[1]);
    let p = &h.ids.demo_project_id;
    let uid = h.member("inferred", p).await;
    let grant = format!("/v3/projects/{p}/users/{uid}/roles/{prior}");
    assert_eq!(
        h.as_admin("PUT", &grant, None).await.status,
        StatusCode::NO_CONTENT
    );
    let rule = format!("/v3/roles/{prior}/implies/{implied}");
    assert_eq!(
        h.as_admin("HEAD", &rule, None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = h.as_admin("PUT", &rule, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["role_inference"]["implies"]["id"], json!(implied));
    assert_eq!(
        h.as_admin("HEAD", &rule, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.as_admin("GET", &rule, None).await.status, StatusCode::OK);
    let r = h
        .as_admin("GET", &format!("/v3/roles/{prior}/implies"), None)
        .await;
    assert_eq!(r.json["role_inference"]["implies"][0]["id"], json!(implied));
    let r = h.as_admin("GET", "/v3/role_inferences", None).await;
    assert_eq!(
        r.json["role_inferences"].as_array().unwrap().len(),
        1,
        "{}",
        r.json
    );
    let effective = format!("/v3/role_assignments?effective&user.id={uid}&scope.project.id={p}");
    let has = |r: &super::Resp, id: &str| {
        r.json["role_assignments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["role"]["id"] == json!(id))
    };
    let r = h.as_admin("GET", &effective, None).await;
    assert!(has(&r, implied), "{}", r.json);
    let token = h.login("inferred", "pw", Some("demo")).await;
    let r = h
        .call_with(
            "GET",
            "/v3/auth/tokens",
            Some(&h.admin),
            &[("x-subject-token", &token)],
            None,
        )
        .await;
    let roles = r.json["token"]["roles"].as_array().unwrap();
    assert!(
        roles.iter().any(|x| x["id"] == json!(implied)),
        "{}",
        r.json
    );
    assert_eq!(
        h.as_admin("DELETE", &rule, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.as_admin("DELETE", &rule, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!has(&h.as_admin("GET", &effective, None).await, implied));
    assert_eq!(
        h.as_admin("PUT", &rule, None).await.status,
        StatusCode::CREATED
    );
    let role = format!("/v3/roles/{implied}");
    assert_eq!(
        h.as_admin("DELETE", &role, None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = h.as_admin("GET", "/v3/role_inferences", None).await;
    assert_eq!(
        r.json["role_inferences"],
        json!([]),
        "deleting a role drops its rules"
    );
}

#[tokio::test]
async fn created_regions_services_and_endpoints_beside_the_configured_catalog() {
    // CRUD of the created catalog; the configured entries list first and
    // refuse changes; `region` creates its region; a service takes its
    // endpoints with it.
    let h = harness().await;
    let r = h.as_admin("GET", "/v3/regions", None).await;
    assert_eq!(r.json["regions"][0]["id"], "RegionOne", "{}", r.json);
    let r = h
        .as_admin(
            "PUT",
            "/v3/regions/east",
            Some(json!({"region": {"description": "e"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let again = h
        .as_admin("PUT", "/v3/regions/east", Some(json!({"region": {}})))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let child = json!({"region": {"parent_region_id": "east"}});
    let r = h.as_admin("POST", "/v3/regions", Some(child)).await;
    let child_id = r.json["region"]["id"].as_str().unwrap().to_string();
    let r = h
        .as_admin("GET", "/v3/regions?parent_region_id=east", None)
        .await;
    assert_eq!(r.json["regions"].as_array().unwrap().len(), 1);
    let r = h.as_admin("DELETE", "/v3/regions/RegionOne", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let s = json!({"service": {"type": "compute", "name": "nova"}});
    let r = h.as_admin("POST", "/v3/services", Some(s)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let sid = r.json["service"]["id"].as_str().unwrap().to_string();
    let r = h.as_admin("GET", "/v3/services?type=compute", None).await;
    assert_eq!(r.json["services"].as_array().unwrap().len(), 1);
    let patch = json!({"service": {"description": "vms"}});
    let r = h
        .as_admin("PATCH", &format!("/v3/services/{sid}"), Some(patch))
        .await;
    assert_eq!(r.json["service"]["description"], "vms");

    let e = json!({"endpoint": {"service_id": sid, "interface": "public",
                                "url": "http://nova", "region": "west"}});
    let r = h.as_admin("POST", "/v3/endpoints", Some(e)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["endpoint"]["region"], "west");
    let eid = r.json["endpoint"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        h.as_admin("GET", "/v3/regions/west", None).await.status,
        StatusCode::OK
    );
    for bad in [
        json!({"endpoint": {"service_id": sid, "interface": "weird", "url": "http://x"}}),
        json!({"endpoint": {"service_id": "nope", "interface": "public", "url": "http://x"}}),
        json!({"endpoint": {"service_id": sid, "interface": "public", "url": "http://x",
                            "enabled": "True"}}),
    ] {
        let r = h.as_admin("POST", "/v3/endpoints", Some(bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
    }
    let r = h
        .as_admin("GET", &format!("/v3/endpoints?service_id={sid}"), None)
        .await;
    assert_eq!(r.json["endpoints"].as_array().unwrap().len(), 1);
    let configured = h.as_admin("GET", "/v3/endpoints", None).await.json["endpoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h
        .as_admin("DELETE", &format!("/v3/endpoints/{configured}"), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .as_admin("DELETE", &format!("/v3/services/{sid}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = h
        .as_admin("GET", &format!("/v3/endpoints/{eid}"), None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "the endpoint went with its service"
    );
    let r = h.as_admin("DELETE", "/v3/regions/east", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a parent region stays");
    let child = format!("/v3/regions/{child_id}");
    assert_eq!(
        h.as_admin("DELETE", &child, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.as_admin("DELETE", "/v3/regions/east", None).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn users_keep_attributes_keystone_does_not_define() {
    // Keystone's "extra": `project_id` from older clients is kept and shown.
    let h = harness().await;
    let body = json!({"user": {"name": "old", "project_id": "p9"}});
    let r = h.as_admin("POST", "/v3/users", Some(body)).await;
    assert_eq!(r.json["user"]["project_id"], "p9", "{}", r.json);
    let uid = r.json["user"]["id"].as_str().unwrap().to_string();
    let patch = json!({"user": {"project_id": "p10", "id": "forged"}});
    let r = h
        .as_admin("PATCH", &format!("/v3/users/{uid}"), Some(patch))
        .await;
    assert_eq!(r.json["user"]["project_id"], "p10");
    assert_eq!(r.json["user"]["id"], json!(uid));
    let r = h.as_admin("GET", &format!("/v3/users/{uid}"), None).await;
    assert_eq!(r.json["user"]["project_id"], "p10");
    assert!(r.json["user"].get("password").is_none());
}
