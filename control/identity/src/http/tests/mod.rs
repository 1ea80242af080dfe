//! The identity API driven through its router (at `/identity` as the
//! binary mounts it) over `MemoryRecords`, with a clock the tests move
//! and the cheapest argon2 cost.

mod admin;
mod auth;
mod credentials;
mod tempest;

use axum::body::Body;
use axum::Router;
use cairn_base::{Clock, Timestamp};
use cairn_meta_api::records::MemoryRecords;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

use crate::{cairn_catalog, BootstrapIds, BootstrapSpec, HashCost, Identity, IdentityConfig};

pub const BASE: &str = "http://cairn.test/identity";

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct TestClock(AtomicU64);

impl TestClock {
    pub fn at(secs: u64) -> Self {
        TestClock(AtomicU64::new(secs * 1_000_000))
    }

    pub fn advance_secs(&self, secs: u64) {
        self.0.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.load(Ordering::SeqCst))
    }
}

pub struct Harness {
    pub router: Router,
    pub svc: Arc<Identity>,
    pub clock: Arc<TestClock>,
    pub ids: BootstrapIds,
    pub admin: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub fn service(records: Arc<MemoryRecords>, clock: Arc<TestClock>) -> Arc<Identity> {
    let mut cfg = IdentityConfig::new(BASE);
    cfg.password_hash = HashCost::minimal();
    cfg.catalog = cairn_catalog("http://cairn.test", "http://cairn.test:9000");
    Arc::new(Identity::new(records, cfg, &[vec![7; 32]], clock).unwrap())
}

pub fn spec() -> BootstrapSpec {
    BootstrapSpec {
        admin_password: "adminpw".into(),
        demo_password: "demopw".into(),
    }
}

pub async fn harness() -> Harness {
    let clock = Arc::new(TestClock::at(1_700_000_000));
    let svc = service(Arc::new(MemoryRecords::new()), clock.clone());
    let ids = svc.bootstrap(&spec()).await.unwrap();
    // As the binary mounts it: `nest_service` also routes `/identity/`.
    let router = Router::new().nest_service("/identity", crate::router(svc.clone()));
    let mut h = Harness {
        router,
        svc,
        clock,
        ids,
        admin: String::new(),
    };
    h.admin = h.login("admin", "adminpw", Some("admin")).await;
    h
}

/// A password auth body by user and project name in the default domain.
pub fn password_auth(user: &str, password: &str, project: Option<&str>) -> Value {
    let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}}});
    if let Some(p) = project {
        auth["scope"] = json!({"project": {"name": p, "domain": {"name": "Default"}}});
    }
    json!({ "auth": auth })
}

impl Harness {
    pub async fn raw(&self, req: Request<Body>) -> Resp {
        let r = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = r.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status: parts.status,
            headers: parts.headers,
            json,
        }
    }

    /// `method path` with `X-Auth-Token: token` (if any) and a JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.call_with(method, path, token, &[], body).await
    }

    /// `call` with the admin's token.
    pub async fn as_admin(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.call(method, path, Some(&self.admin), body).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/identity{path}"));
        if let Some(t) = token {
            b = b.header("x-auth-token", t);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let body = body.map(|v| Body::from(v.to_string())).unwrap_or_default();
        self.raw(b.body(body).unwrap()).await
    }

    pub async fn issue(&self, body: Value) -> Resp {
        self.call("POST", "/v3/auth/tokens", None, Some(body)).await
    }

    /// A token for the user, scoped to the project if named; panics unless 201.
    pub async fn login(&self, user: &str, password: &str, project: Option<&str>) -> String {
        let r = self.issue(password_auth(user, password, project)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        r.header("x-subject-token").to_string()
    }

    /// Creates a user (as admin) with a member role on the project; its id.
    pub async fn member(&self, name: &str, project_id: &str) -> String {
        let r = self
            .call(
                "POST",
                "/v3/users",
                Some(&self.admin),
                Some(json!({"user": {"name": name, "password": "pw", "domain_id": "default"}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let uid = r.json["user"]["id"].as_str().unwrap().to_string();
        let path = format!(
            "/v3/projects/{project_id}/users/{uid}/roles/{}",
            self.ids.member_role_id
        );
        assert_eq!(
            self.call("PUT", &path, Some(&self.admin), None)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        uid
    }

    /// Whether the token validates (`GET /v3/auth/tokens` as admin).
    pub async fn valid(&self, token: &str) -> bool {
        let r = self
            .call_with(
                "GET",
                "/v3/auth/tokens",
                Some(&self.admin),
                &[("x-subject-token", token)],
                None,
            )
            .await;
        r.status == StatusCode::OK
    }
}
