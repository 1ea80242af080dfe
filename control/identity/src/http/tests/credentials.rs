//! Application credentials (create, authenticate, restrict, delete) and
//! EC2 credentials (create, list, the S3 API's lookup).

use http::StatusCode;
use serde_json::json;

use super::harness;

#[tokio::test]
async fn a_user_creates_an_app_credential_and_authenticates_with_it() {
    // The secret is shown once; auth by id and by name+user gives a token
    // on the credential's project with its roles only; deleting it voids
    // the token.
    let h = harness().await;
    let demo = h.login("demo", "demopw", Some("demo")).await;
    let uid = &h.ids.demo_user_id;
    let path = format!("/v3/users/{uid}/application_credentials");
    let body = json!({"application_credential": {"name": "ci", "roles": [{"name": "reader"}]}});
    let r = h.call("POST", &path, Some(&demo), Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let ac = &r.json["application_credential"];
    let (id, secret) = (
        ac["id"].as_str().unwrap().to_string(),
        ac["secret"].as_str().unwrap().to_string(),
    );
    assert_eq!(ac["project_id"], h.ids.demo_project_id.as_str());
    assert_eq!(ac["roles"][0]["name"], "reader");
    assert_eq!(
        h.call("POST", &path, Some(&demo), Some(body)).await.status,
        StatusCode::CONFLICT
    );
    let r = h
        .call("GET", &format!("{path}/{id}"), Some(&demo), None)
        .await;
    assert!(r.json["application_credential"].get("secret").is_none());
    let r = h
        .call("GET", &format!("{path}?name=ci"), Some(&demo), None)
        .await;
    assert_eq!(r.json["application_credentials"][0]["id"], id.as_str());
    let by_id = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": id, "secret": secret}}}});
    let r = h.issue(by_id).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let t = &r.json["token"];
    assert_eq!(t["project"]["id"], h.ids.demo_project_id.as_str());
    assert_eq!(t["roles"].as_array().unwrap().len(), 1);
    assert_eq!(t["application_credential"]["restricted"], true);
    let token = r.header("x-subject-token").to_string();
    // A restricted credential's token cannot mint another, nor be rescoped.
    let more = json!({"application_credential": {"name": "ci2"}});
    assert_eq!(
        h.call("POST", &path, Some(&token), Some(more)).await.status,
        StatusCode::FORBIDDEN
    );
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}});
    assert_eq!(h.issue(rescope).await.status, StatusCode::FORBIDDEN);
    let by_name = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"name": "ci", "secret": secret,
            "user": {"name": "demo", "domain": {"id": "default"}}}}}});
    assert_eq!(h.issue(by_name).await.status, StatusCode::CREATED);
    let wrong = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": id, "secret": "nope"}}}});
    assert_eq!(h.issue(wrong).await.status, StatusCode::UNAUTHORIZED);
    // Another user cannot see it; admin can delete it.
    let alice = h.member("alice", &h.ids.demo_project_id).await;
    let at = h.login("alice", "pw", Some("demo")).await;
    assert_eq!(
        h.call("GET", &path, Some(&at), None).await.status,
        StatusCode::FORBIDDEN
    );
    let other = format!("/v3/users/{alice}/application_credentials/{id}");
    assert_eq!(
        h.call("GET", &other, Some(&at), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.as_admin("DELETE", &format!("{path}/{id}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(!h.valid(&token).await);
}

#[tokio::test]
async fn app_credentials_expire_and_roles_must_be_held() {
    // An expired credential no longer authenticates; a role the user does
    // not hold cannot be delegated; a past expiry is refused.
    let h = harness().await;
    let demo = h.login("demo", "demopw", Some("demo")).await;
    let path = format!("/v3/users/{}/application_credentials", h.ids.demo_user_id);
    let admin_role = json!({"application_credential": {"name": "x", "roles": [{"name": "admin"}]}});
    assert_eq!(
        h.call("POST", &path, Some(&demo), Some(admin_role))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let past =
        json!({"application_credential": {"name": "x", "expires_at": "2001-01-01T00:00:00Z"}});
    assert_eq!(
        h.call("POST", &path, Some(&demo), Some(past)).await.status,
        StatusCode::BAD_REQUEST
    );
    let soon = json!({"application_credential": {"name": "x", "secret": "s3",
        "expires_at": "2023-11-14T22:20:00.000000Z", "unrestricted": true}});
    let r = h.call("POST", &path, Some(&demo), Some(soon)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["application_credential"]["secret"], "s3");
    // Keystone's (and Tempest's) form: a naive isoformat, no `Z`.
    assert_eq!(
        r.json["application_credential"]["expires_at"],
        "2023-11-14T22:20:00.000000"
    );
    let id = r.json["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let auth = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": id, "secret": "s3"}}}});
    let r = h.issue(auth.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.json["token"]["expires_at"], "2023-11-14T22:20:00.000000Z",
        "capped"
    );
    h.clock.advance_secs(1000);
    assert_eq!(h.issue(auth).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn ec2_credentials_for_the_s3_api() {
    // `ec2 credentials create` for the token's project; the S3 API's lookup
    // finds the secret and the caller; removing the role or the credential
    // ends it.
    let h = harness().await;
    let demo = h.login("demo", "demopw", Some("demo")).await;
    let uid = &h.ids.demo_user_id;
    let path = format!("/v3/users/{uid}/credentials/OS-EC2");
    let r = h
        .call(
            "POST",
            &path,
            Some(&demo),
            Some(json!({"tenant_id": h.ids.demo_project_id})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let c = &r.json["credential"];
    assert_eq!(c["tenant_id"], h.ids.demo_project_id.as_str());
    assert!(c["trust_id"].is_null());
    let (access, secret) = (
        c["access"].as_str().unwrap().to_string(),
        c["secret"].as_str().unwrap().to_string(),
    );
    let r = h.call("GET", &path, Some(&demo), None).await;
    assert_eq!(r.json["credentials"][0]["access"], access.as_str());
    let r = h
        .call("GET", &format!("{path}/{access}"), Some(&demo), None)
        .await;
    assert_eq!(r.json["credential"]["secret"], secret.as_str());
    let grant = h.svc.ec2_credential(&access).await.unwrap().unwrap();
    assert_eq!(grant.secret, secret);
    assert_eq!(
        grant.caller.project_id.as_deref(),
        Some(h.ids.demo_project_id.as_str())
    );
    assert_eq!(grant.caller.roles, ["member", "reader"]);
    assert!(h.svc.ec2_credential("unknown").await.unwrap().is_none());
    let admin_project = json!({"tenant_id": h.ids.admin_project_id});
    assert_eq!(
        h.call("POST", &path, Some(&demo), Some(admin_project))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let role = format!(
        "/v3/projects/{}/users/{uid}/roles/{}",
        h.ids.demo_project_id, h.ids.member_role_id
    );
    h.as_admin("DELETE", &role, None).await;
    assert!(h.svc.ec2_credential(&access).await.unwrap().is_none());
    h.as_admin("PUT", &role, None).await;
    assert!(h.svc.ec2_credential(&access).await.unwrap().is_some());
    let demo = h.login("demo", "demopw", Some("demo")).await;
    assert_eq!(
        h.call("DELETE", &format!("{path}/{access}"), Some(&demo), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(h.svc.ec2_credential(&access).await.unwrap().is_none());
    assert_eq!(
        h.call("GET", &format!("{path}/{access}"), Some(&demo), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
