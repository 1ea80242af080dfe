//! Discovery, token issue, validation, revocation and expiry, and the
//! events that void a token.

use http::StatusCode;
use serde_json::json;

use super::{harness, password_auth, BASE};

#[tokio::test]
async fn discovery_links_to_the_public_v3() {
    // Both discovery documents link to <public url>/v3/, unauthenticated.
    let h = harness().await;
    let r = h.call("GET", "", None, None).await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
    assert_eq!(
        h.call("GET", "/", None, None).await.status,
        StatusCode::MULTIPLE_CHOICES
    );
    let v = &r.json["versions"]["values"][0];
    assert_eq!(v["id"], "v3.14");
    assert_eq!(v["links"][0]["href"], format!("{BASE}/v3/"));
    assert_eq!(r.header("content-type"), "application/json");
    assert!(r.header("x-openstack-request-id").starts_with("req-"));
    let r = h.call("GET", "/v3", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["version"]["links"][0]["rel"], "self");
}

#[tokio::test]
async fn password_token_by_names_carries_scope_roles_and_catalog() {
    // The OSC request (names everywhere) gets 201, X-Subject-Token and a
    // body whose catalog has the project's Swift account.
    let h = harness().await;
    let r = h
        .issue(password_auth("admin", "adminpw", Some("admin")))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let token = r.header("x-subject-token");
    assert!(
        token.len() > 100
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let t = &r.json["token"];
    let pid = &h.ids.admin_project_id;
    assert_eq!(t["project"]["id"], pid.as_str());
    assert_eq!(t["project"]["domain"]["name"], "Default");
    assert_eq!(t["user"]["id"], h.ids.admin_user_id.as_str());
    assert_eq!(t["methods"], json!(["password"]));
    let roles: Vec<&str> = t["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["admin", "member", "reader"]);
    assert!(t["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        t["audit_ids"].as_array().unwrap()[0]
            .as_str()
            .unwrap()
            .len(),
        22
    );
    let swift = t["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "object-store")
        .unwrap();
    let public = swift["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["interface"] == "public")
        .unwrap();
    assert_eq!(public["url"], format!("http://cairn.test/v1/AUTH_{pid}"));
    let cinder = t["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "volumev3")
        .unwrap();
    assert_eq!(
        cinder["endpoints"][0]["url"],
        format!("http://cairn.test/volume/v3/{pid}")
    );
}

#[tokio::test]
async fn ids_unscoped_default_project_and_domain_scope() {
    // Tempest's id form scopes by id; no scope means the default project;
    // "unscoped" means no catalog; a domain scope needs a role there.
    let h = harness().await;
    let by_id = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": h.ids.demo_user_id, "password": "demopw"}}},
        "scope": {"project": {"id": h.ids.demo_project_id, "domain": {"id": "default"}}}}});
    let r = h.issue(by_id).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["token"]["project"]["name"], "demo");
    let r = h.issue(password_auth("demo", "demopw", None)).await;
    assert_eq!(
        r.json["token"]["project"]["id"],
        h.ids.demo_project_id.as_str()
    );
    let mut unscoped = password_auth("demo", "demopw", None);
    unscoped["auth"]["scope"] = json!("unscoped");
    let r = h.issue(unscoped).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.json["token"].get("catalog").is_none() && r.json["token"].get("project").is_none());
    let mut domain = password_auth("admin", "adminpw", None);
    domain["auth"]["scope"] = json!({"domain": {"id": "default"}});
    assert_eq!(
        h.issue(domain.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let path = format!(
        "/v3/domains/default/users/{}/roles/{}",
        h.ids.admin_user_id, h.ids.admin_role_id
    );
    assert_eq!(
        h.as_admin("PUT", &path, None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = h.issue(domain).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json["token"]["domain"]["id"], "default");
    let r = h
        .call(
            "GET",
            "/v3/auth/domains",
            Some(r.header("x-subject-token")),
            None,
        )
        .await;
    assert_eq!(r.json["domains"][0]["id"], "default");
}

#[tokio::test]
async fn wrong_credentials_bad_tokens_and_bodies() {
    // Wrong password, unknown user, forged or missing token: 401 with the
    // challenge; malformed JSON and missing fields: 400.
    let h = harness().await;
    for body in [
        password_auth("admin", "nope", Some("admin")),
        password_auth("ghost", "adminpw", Some("admin")),
        password_auth("admin", "adminpw", Some("no-such-project")),
        password_auth("demo", "demopw", Some("admin")),
    ] {
        let r = h.issue(body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.json);
        assert_eq!(r.json["error"]["code"], 401);
        assert_eq!(
            r.header("www-authenticate"),
            format!("Keystone uri=\"{BASE}\"")
        );
    }
    for token in [
        "garbage",
        "",
        &"A".repeat(5000),
        &h.admin[..h.admin.len() - 2],
    ] {
        let r = h.call("GET", "/v3/projects", Some(token), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token}");
    }
    assert_eq!(
        h.call("GET", "/v3/projects", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let raw = http::Request::post("/identity/v3/auth/tokens")
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let r = h.raw(raw).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error"]["title"], "Bad Request");
    for body in [
        json!({}),
        json!({"auth": {"identity": {"methods": ["password"]}}}),
        json!([1, 2]),
    ] {
        assert_eq!(h.issue(body).await.status, StatusCode::BAD_REQUEST);
    }
    let r = h
        .as_admin("POST", "/v3/projects", Some(json!({"project": 5})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.call("GET", "/v3/nothing", None, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn validate_head_revoke_and_policy() {
    // The admin validates any token; a user only its own; HEAD answers
    // 200; a revoked token stops working, and so does one rescoped from it.
    let h = harness().await;
    let demo = h.login("demo", "demopw", Some("demo")).await;
    let r = h
        .call_with(
            "GET",
            "/v3/auth/tokens",
            Some(&h.admin),
            &[("x-subject-token", &demo)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["token"]["user"]["name"], "demo");
    assert_eq!(r.header("x-subject-token"), demo);
    let r = h
        .call_with(
            "HEAD",
            "/v3/auth/tokens",
            Some(&demo),
            &[("x-subject-token", &demo)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = h
        .call_with(
            "GET",
            "/v3/auth/tokens",
            Some(&demo),
            &[("x-subject-token", &h.admin)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .call_with(
            "GET",
            "/v3/auth/tokens",
            Some(&h.admin),
            &[("x-subject-token", "forged")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": demo}},
        "scope": {"project": {"id": h.ids.demo_project_id}}}});
    let r = h.issue(rescope).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json["token"]["methods"], json!(["password", "token"]));
    assert_eq!(r.json["token"]["audit_ids"].as_array().unwrap().len(), 2);
    let child = r.header("x-subject-token").to_string();
    let r = h
        .call_with(
            "DELETE",
            "/v3/auth/tokens",
            Some(&demo),
            &[("x-subject-token", &demo)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(!h.valid(&demo).await && !h.valid(&child).await);
    assert_eq!(
        h.call("GET", "/v3/auth/projects", Some(&demo), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert!(h.valid(&h.admin).await);
    assert_eq!(h.svc.purge_revocations().await.unwrap(), 0);
    h.clock.advance_secs(3601);
    assert_eq!(h.svc.purge_revocations().await.unwrap(), 1);
}

#[tokio::test]
async fn tokens_expire() {
    // A token is valid until its expires_at, then 401, with the clock moved.
    let h = harness().await;
    let demo = h.login("demo", "demopw", Some("demo")).await;
    h.clock.advance_secs(3599);
    assert!(h.svc.validate(&demo).await.is_ok());
    h.clock.advance_secs(1);
    assert!(h.svc.validate(&demo).await.is_err());
    let r = h.call("GET", "/v3/auth/catalog", Some(&demo), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn password_change_disable_delete_and_project_disable_void_tokens() {
    // Each event voids the tokens issued before it; a new login works where
    // it should.
    let h = harness().await;
    let pid = &h.ids.demo_project_id;
    let uid = h.member("alice", pid).await;
    let t1 = h.login("alice", "pw", Some("demo")).await;
    let change = json!({"user": {"password": "pw2", "original_password": "pw"}});
    let wrong = json!({"user": {"password": "pw3", "original_password": "bad"}});
    let path = format!("/v3/users/{uid}/password");
    assert_eq!(
        h.call("POST", &path, None, Some(wrong)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(h.valid(&t1).await);
    assert_eq!(
        h.call("POST", &path, None, Some(change)).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(!h.valid(&t1).await);
    let t2 = h.login("alice", "pw2", Some("demo")).await;
    let user = format!("/v3/users/{uid}");
    h.as_admin("PATCH", &user, Some(json!({"user": {"enabled": false}})))
        .await;
    assert!(!h.valid(&t2).await);
    assert_eq!(
        h.issue(password_auth("alice", "pw2", Some("demo")))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    h.as_admin("PATCH", &user, Some(json!({"user": {"enabled": true}})))
        .await;
    assert!(h.valid(&t2).await);
    let project = format!("/v3/projects/{pid}");
    h.as_admin(
        "PATCH",
        &project,
        Some(json!({"project": {"enabled": false}})),
    )
    .await;
    assert!(!h.valid(&t2).await);
    h.as_admin(
        "PATCH",
        &project,
        Some(json!({"project": {"enabled": true}})),
    )
    .await;
    assert!(h.valid(&t2).await);
    let r = h
        .as_admin("PATCH", &user, Some(json!({"user": {"password": "pw4"}})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.json["user"].get("password").is_none() && r.json["user"].get("password_hash").is_none()
    );
    assert!(!h.valid(&t2).await);
    let t3 = h.login("alice", "pw4", Some("demo")).await;
    assert_eq!(
        h.as_admin("DELETE", &user, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(!h.valid(&t3).await);
}

#[tokio::test]
async fn catalog_and_projects_of_the_token() {
    // /v3/auth/catalog renders the scoped project's URLs; /v3/auth/projects
    // lists where the user has roles; an unscoped token gets no catalog.
    let h = harness().await;
    let demo = h.login("demo", "demopw", Some("demo")).await;
    let r = h.call("GET", "/v3/auth/catalog", Some(&demo), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let urls = r.json["catalog"].to_string();
    assert!(urls.contains(&format!("AUTH_{}", h.ids.demo_project_id)));
    let r = h.call("GET", "/v3/auth/projects", Some(&demo), None).await;
    let names: Vec<&str> = r.json["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["demo"]);
    let mut unscoped = password_auth("demo", "demopw", None);
    unscoped["auth"]["scope"] = json!("unscoped");
    let t = h
        .issue(unscoped)
        .await
        .header("x-subject-token")
        .to_string();
    assert_eq!(
        h.call("GET", "/v3/auth/catalog", Some(&t), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = h.as_admin("GET", "/v3/endpoints", None).await;
    assert_eq!(r.json["endpoints"].as_array().unwrap().len(), 18);
    let sid = r.json["endpoints"][0]["service_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h
        .as_admin("GET", &format!("/v3/services/{sid}"), None)
        .await;
    assert_eq!(r.json["service"]["type"], "identity");
}
