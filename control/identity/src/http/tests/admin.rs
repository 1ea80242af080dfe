//! The admin API as the CLI drives it: name-or-id lookups, create with
//! 409 on duplicates, role assignments and their listing, groups, policy.

use http::StatusCode;
use serde_json::json;

use super::harness;

#[tokio::test]
async fn project_create_lookup_and_duplicates() {
    // `project create` then the CLI's lookup: GET by name is 404, the list
    // filtered by name finds it; the same name again is 409.
    let h = harness().await;
    let r = h.as_admin("GET", "/v3/domains/default", None).await;
    assert_eq!(r.json["domain"]["name"], "Default");
    let body = json!({"project": {"name": "p1", "domain_id": "default", "enabled": true, "description": "x"}});
    let r = h.as_admin("POST", "/v3/projects", Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json["project"]["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(r.json["project"]["parent_id"], "default");
    assert_eq!(
        h.as_admin("GET", "/v3/projects/p1", None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = h.as_admin("GET", "/v3/projects?name=p1", None).await;
    assert_eq!(r.json["projects"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["projects"][0]["id"], id.as_str());
    assert!(r.json["links"]["next"].is_null());
    let r = h.as_admin("GET", &format!("/v3/projects/{id}"), None).await;
    assert_eq!(r.json["project"]["description"], "x");
    let r = h.as_admin("POST", "/v3/projects", Some(body)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json["error"]["code"], 409);
    let r = h.as_admin("GET", "/v3/projects?enabled=false", None).await;
    assert!(r.json["projects"].as_array().unwrap().is_empty());
    let r = h.as_admin("GET", "/v3/domains?name=Default", None).await;
    assert_eq!(r.json["domains"][0]["id"], "default");
    let rename = json!({"project": {"name": "demo"}});
    let r = h
        .as_admin("PATCH", &format!("/v3/projects/{id}"), Some(rename))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let rename = json!({"project": {"name": "p2"}});
    let r = h
        .as_admin("PATCH", &format!("/v3/projects/{id}"), Some(rename))
        .await;
    assert_eq!(r.json["project"]["name"], "p2");
    let again = json!({"project": {"name": "p1", "domain_id": "default"}});
    assert_eq!(
        h.as_admin("POST", "/v3/projects", Some(again)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.as_admin("DELETE", &format!("/v3/projects/{id}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.as_admin("GET", &format!("/v3/projects/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn user_create_role_add_and_assignment_listing() {
    // `user create --project`, `role add` by ids found by name, and
    // `role assignment list --names` with the names it needs.
    let h = harness().await;
    let pid = &h.ids.admin_project_id;
    let body = json!({"user": {"name": "alice", "password": "pw", "default_project_id": pid, "enabled": true}});
    let r = h.as_admin("POST", "/v3/users", Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let uid = r.json["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["user"]["domain_id"], "default");
    assert_eq!(r.json["user"]["default_project_id"], pid.as_str());
    assert!(r.json["user"].get("password").is_none());
    assert_eq!(
        h.as_admin("POST", "/v3/users", Some(body)).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        h.as_admin("GET", "/v3/roles/member", None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = h.as_admin("GET", "/v3/roles?name=member", None).await;
    let rid = r.json["roles"][0]["id"].as_str().unwrap().to_string();
    let r = h.as_admin("GET", "/v3/users?name=alice", None).await;
    assert_eq!(r.json["users"][0]["id"], uid.as_str());
    // No role yet: the user cannot scope to the project.
    let login = super::password_auth("alice", "pw", Some("admin"));
    assert_eq!(
        h.issue(login.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let grant = format!("/v3/projects/{pid}/users/{uid}/roles/{rid}");
    assert_eq!(
        h.as_admin("HEAD", &grant, None).await.status,
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
        .as_admin(
            "GET",
            &format!("/v3/projects/{pid}/users/{uid}/roles"),
            None,
        )
        .await;
    assert_eq!(r.json["roles"][0]["name"], "member");
    let q = format!("/v3/role_assignments?scope.project.id={pid}&user.id={uid}&include_names=True");
    let r = h.as_admin("GET", &q, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let a = &r.json["role_assignments"];
    assert_eq!(a.as_array().unwrap().len(), 1);
    assert_eq!(a[0]["role"]["name"], "member");
    assert_eq!(a[0]["user"]["name"], "alice");
    assert_eq!(a[0]["user"]["domain"]["name"], "Default");
    assert_eq!(a[0]["scope"]["project"]["name"], "admin");
    assert!(a[0]["links"]["assignment"]
        .as_str()
        .unwrap()
        .ends_with(&grant));
    let r = h
        .as_admin(
            "GET",
            &format!("/v3/role_assignments?user.id={uid}&effective"),
            None,
        )
        .await;
    let names: Vec<&str> = r.json["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "member implies reader");
    let t = h.login("alice", "pw", Some("admin")).await;
    assert!(h.valid(&t).await);
    assert_eq!(
        h.as_admin("DELETE", &grant, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(
        !h.valid(&t).await,
        "a token without roles on its project is void"
    );
    assert_eq!(
        h.as_admin("DELETE", &grant, None).await.status,
        StatusCode::NOT_FOUND
    );
    let bad = format!("/v3/projects/{pid}/users/nobody/roles/{rid}");
    assert_eq!(
        h.as_admin("PUT", &bad, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn members_read_but_cannot_administer() {
    // A member reads (reader is implied) but gets 403 on every change; it
    // reads itself; a user without roles reads nothing.
    let h = harness().await;
    let demo = h.login("demo", "demopw", Some("demo")).await;
    let user = json!({"user": {"name": "mallory", "password": "pw"}});
    let r = h
        .call("POST", "/v3/users", Some(&demo), Some(user.clone()))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["error"]["title"], "Forbidden");
    assert_eq!(
        h.as_admin("POST", "/v3/users", Some(user)).await.status,
        StatusCode::CREATED
    );
    let project = json!({"project": {"name": "px"}});
    assert_eq!(
        h.call("POST", "/v3/projects", Some(&demo), Some(project))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let grant = format!(
        "/v3/projects/{}/users/{}/roles/{}",
        h.ids.demo_project_id, h.ids.demo_user_id, h.ids.admin_role_id
    );
    assert_eq!(
        h.call("PUT", &grant, Some(&demo), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.call("GET", "/v3/users", Some(&demo), None).await.status,
        StatusCode::OK
    );
    let me = format!("/v3/users/{}", h.ids.demo_user_id);
    assert_eq!(
        h.call("GET", &me, Some(&demo), None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.call("DELETE", &me, Some(&demo), None).await.status,
        StatusCode::FORBIDDEN
    );
    let mut unscoped = super::password_auth("demo", "demopw", None);
    unscoped["auth"]["scope"] = json!("unscoped");
    let t = h
        .issue(unscoped)
        .await
        .header("x-subject-token")
        .to_string();
    assert_eq!(
        h.call("GET", "/v3/users", Some(&t), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.call("GET", &me, Some(&t), None).await.status,
        StatusCode::OK
    );
    let projects = format!("/v3/users/{}/projects", h.ids.demo_user_id);
    let r = h.call("GET", &projects, Some(&t), None).await;
    assert_eq!(r.json["projects"][0]["name"], "demo");
}

#[tokio::test]
async fn groups_carry_roles_to_their_members() {
    // A role granted to a group reaches its member (token roles, effective
    // listing); leaving the group or deleting it takes the role away.
    let h = harness().await;
    let r = h
        .as_admin(
            "POST",
            "/v3/groups",
            Some(json!({"group": {"name": "ops"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let gid = r.json["group"]["id"].as_str().unwrap().to_string();
    let dup = h
        .as_admin(
            "POST",
            "/v3/groups",
            Some(json!({"group": {"name": "ops"}})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let r = h
        .as_admin(
            "POST",
            "/v3/users",
            Some(json!({"user": {"name": "bob", "password": "pw"}})),
        )
        .await;
    let uid = r.json["user"]["id"].as_str().unwrap().to_string();
    let member = format!("/v3/groups/{gid}/users/{uid}");
    assert_eq!(
        h.as_admin("HEAD", &member, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.as_admin("PUT", &member, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.as_admin("HEAD", &member, None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = h
        .as_admin("GET", &format!("/v3/users/{uid}/groups"), None)
        .await;
    assert_eq!(r.json["groups"][0]["name"], "ops");
    let r = h
        .as_admin("GET", &format!("/v3/groups/{gid}/users"), None)
        .await;
    assert_eq!(r.json["users"][0]["name"], "bob");
    let grant = format!(
        "/v3/projects/{}/groups/{gid}/roles/{}",
        h.ids.demo_project_id, h.ids.reader_role_id
    );
    assert_eq!(
        h.as_admin("PUT", &grant, None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = h
        .issue(super::password_auth("bob", "pw", Some("demo")))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json["token"]["roles"][0]["name"], "reader");
    let t = r.header("x-subject-token").to_string();
    let q = format!("/v3/role_assignments?user.id={uid}&effective=true");
    let r = h.as_admin("GET", &q, None).await;
    assert_eq!(r.json["role_assignments"][0]["user"]["id"], uid.as_str());
    let q = format!("/v3/role_assignments?group.id={gid}");
    let r = h.as_admin("GET", &q, None).await;
    assert_eq!(r.json["role_assignments"][0]["group"]["id"], gid.as_str());
    assert_eq!(
        h.as_admin("DELETE", &member, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(!h.valid(&t).await);
    assert_eq!(
        h.as_admin("PUT", &member, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(h.valid(&t).await);
    assert_eq!(
        h.as_admin("DELETE", &format!("/v3/groups/{gid}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(!h.valid(&t).await);
    let r = h
        .as_admin("GET", &format!("/v3/users/{uid}/groups"), None)
        .await;
    assert!(r.json["groups"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn domains_roles_and_cascades() {
    // A domain is deleted only disabled and empty; a role deleted takes its
    // assignments along; bootstrap again changes nothing.
    let h = harness().await;
    let r = h
        .as_admin(
            "POST",
            "/v3/domains",
            Some(json!({"domain": {"name": "Other"}})),
        )
        .await;
    let did = r.json["domain"]["id"].as_str().unwrap().to_string();
    let dup = h
        .as_admin(
            "POST",
            "/v3/domains",
            Some(json!({"domain": {"name": "other"}})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "domain names ignore case");
    let p = json!({"project": {"name": "demo", "domain_id": did}});
    assert_eq!(
        h.as_admin("POST", "/v3/projects", Some(p)).await.status,
        StatusCode::CREATED,
        "names are per domain"
    );
    let path = format!("/v3/domains/{did}");
    assert_eq!(
        h.as_admin("DELETE", &path, None).await.status,
        StatusCode::FORBIDDEN
    );
    h.as_admin("PATCH", &path, Some(json!({"domain": {"enabled": false}})))
        .await;
    assert_eq!(
        h.as_admin("DELETE", &path, None).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        h.as_admin("DELETE", "/v3/domains/default", None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = h
        .as_admin(
            "POST",
            "/v3/roles",
            Some(json!({"role": {"name": "swiftoperator"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.json["role"]["domain_id"].is_null());
    let rid = r.json["role"]["id"].as_str().unwrap().to_string();
    let grant = format!(
        "/v3/projects/{}/users/{}/roles/{rid}",
        h.ids.demo_project_id, h.ids.demo_user_id
    );
    h.as_admin("PUT", &grant, None).await;
    assert_eq!(
        h.as_admin("DELETE", &format!("/v3/roles/{rid}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let q = format!("/v3/role_assignments?role.id={rid}");
    assert!(h.as_admin("GET", &q, None).await.json["role_assignments"]
        .as_array()
        .unwrap()
        .is_empty());
    let again = h.svc.bootstrap(&super::spec()).await.unwrap();
    assert_eq!(again, h.ids);
    assert!(
        h.valid(&h.admin).await,
        "bootstrap again leaves passwords alone"
    );
}
