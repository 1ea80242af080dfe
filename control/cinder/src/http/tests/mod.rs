//! The volume API driven through its router (at `/volume`, beside
//! Keystone at `/identity`, as the binary mounts them): Keystone over
//! `MemoryRecords` with the cheapest argon2 cost, the block gateway over a
//! real metadata Raft group in a temporary directory, and an extent
//! service that stores nothing (these tests never touch a volume's
//! blocks). Tokens for the bootstrap admin, the demo member, and a reader
//! on the demo project.

mod quotas;
mod types;

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use cairn_base::{SystemClock, VolumeId};
use cairn_block::gateway::Gateway;
use cairn_block::iscsi::TargetConfig;
use cairn_block::volume::{Backend, ExtentPlacement};
use cairn_identity::{
    cairn_catalog, BootstrapIds, BootstrapSpec, HashCost, Identity, IdentityConfig,
};
use cairn_meta_api::records::MemoryRecords;
use cairn_meta_api::VolumeRecord;
use cairn_nodeapi::{DeviceId, Epoch, ExtentKey, ExtentNode, ExtentWrite, NodeError};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::{Cinder, Exports};

/// Three devices; every extent on all of them.
struct ThreeDevices;

impl ExtentPlacement for ThreeDevices {
    fn replicas(&self, _: VolumeId, _: u64) -> Vec<DeviceId> {
        (0..3).map(DeviceId).collect()
    }
    fn devices(&self) -> Vec<DeviceId> {
        (0..3).map(DeviceId).collect()
    }
    fn replica_count(&self) -> usize {
        3
    }
}

/// Devices that hold nothing: every extent reads as absent.
struct NoExtents;

#[async_trait]
impl ExtentNode for NoExtents {
    async fn fence(&self, _: DeviceId, _: VolumeId, _: Epoch) -> Result<(), NodeError> {
        Ok(())
    }
    async fn write(&self, _: DeviceId, _: ExtentKey, _: ExtentWrite) -> Result<(), NodeError> {
        Ok(())
    }
    async fn read(
        &self,
        _: DeviceId,
        _: ExtentKey,
        _: u32,
        _: u32,
    ) -> Result<Option<Bytes>, NodeError> {
        Ok(None)
    }
    async fn discard(
        &self,
        _: DeviceId,
        _: ExtentKey,
        _: Epoch,
        _: u32,
        _: u32,
        _: bool,
    ) -> Result<(), NodeError> {
        Ok(())
    }
    async fn flush(&self, _: DeviceId, _: VolumeId, _: Epoch) -> Result<(), NodeError> {
        Ok(())
    }
    async fn copy(
        &self,
        _: DeviceId,
        _: ExtentKey,
        _: ExtentKey,
        _: u32,
        _: Epoch,
    ) -> Result<(), NodeError> {
        Ok(())
    }
    async fn allocation(
        &self,
        _: DeviceId,
        _: ExtentKey,
        _: u32,
        _: u32,
    ) -> Result<Option<Vec<(u32, u32)>>, NodeError> {
        Ok(None)
    }
    async fn list(&self, _: DeviceId, _: VolumeId) -> Result<Vec<(u64, u32)>, NodeError> {
        Ok(Vec::new())
    }
    async fn remove(
        &self,
        _: DeviceId,
        _: VolumeId,
        _: Option<&[(u64, u32)]>,
    ) -> Result<(), NodeError> {
        Ok(())
    }
}

pub struct Harness {
    router: Router,
    pub gateway: Arc<Gateway>,
    pub ids: BootstrapIds,
    /// Tokens: admin on the admin project, member and reader on demo.
    pub admin: String,
    pub demo: String,
    pub reader: String,
    _dir: tempfile::TempDir,
}

pub struct Resp {
    pub status: StatusCode,
    pub json: Value,
}

pub async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let records = Arc::new(MemoryRecords::new());
    let mut cfg = IdentityConfig::new("http://cairn.test/identity");
    cfg.password_hash = HashCost::minimal();
    cfg.catalog = cairn_catalog("http://cairn.test", "http://cairn.test:9000");
    let identity = Arc::new(
        Identity::new(records.clone(), cfg, &[vec![7; 32]], Arc::new(SystemClock)).unwrap(),
    );
    let spec = BootstrapSpec {
        admin_password: "adminpw".into(),
        demo_password: "demopw".into(),
    };
    let ids = identity.bootstrap(&spec).await.unwrap();
    let meta = cairn_meta::MetaNode::open_single(&dir.path().join("meta"), 1)
        .await
        .unwrap();
    let backend = Backend {
        nodes: Arc::new(NoExtents),
        placements: Arc::new(cairn_block::volume::Fixed(Arc::new(ThreeDevices))),
        records: meta.clone(),
    };
    let gateway = Gateway::start(meta, backend, "gw").await.unwrap();
    let exports = Exports {
        nbd: "127.0.0.1:10809".into(),
        nbd_tls: false,
        iscsi: TargetConfig::new("127.0.0.1:3260"),
    };
    let cinder = Cinder::new(
        identity.clone(),
        gateway.clone(),
        records,
        "http://cairn.test/volume",
        exports,
    );
    let router = Router::new()
        .nest_service("/identity", cairn_identity::router(identity))
        .nest_service("/volume", crate::router(Arc::new(cinder)));
    let mut h = Harness {
        router,
        gateway,
        ids,
        admin: String::new(),
        demo: String::new(),
        reader: String::new(),
        _dir: dir,
    };
    h.admin = h.login("admin", "adminpw", "admin").await;
    h.demo = h.login("demo", "demopw", "demo").await;
    h.reader = h.reader_on_demo().await;
    h
}

impl Harness {
    async fn raw(&self, method: &str, uri: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        self.raw_with(method, uri, token, &[], body).await
    }

    pub async fn raw_with(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            b = b.header("x-auth-token", t);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let body = body.map(|v| Body::from(v.to_string())).unwrap_or_default();
        let r = self
            .router
            .clone()
            .oneshot(b.body(body).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn login(&self, user: &str, password: &str, project: &str) -> String {
        let auth = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
        let r = self
            .router
            .clone()
            .oneshot(
                Request::post("/identity/v3/auth/tokens")
                    .body(Body::from(auth.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.headers()["x-subject-token"].to_str().unwrap().to_owned()
    }

    /// A user with only the reader role on demo; its token.
    async fn reader_on_demo(&self) -> String {
        let user = json!({"user": {"name": "watcher", "password": "pw", "domain_id": "default"}});
        let r = self
            .raw("POST", "/identity/v3/users", Some(&self.admin), Some(user))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let uid = r.json["user"]["id"].as_str().unwrap().to_owned();
        let grant = format!(
            "/identity/v3/projects/{}/users/{uid}/roles/{}",
            self.ids.demo_project_id, self.ids.reader_role_id
        );
        let r = self.raw("PUT", &grant, Some(&self.admin), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        self.login("watcher", "pw", "demo").await
    }

    /// `method /volume/v3/{project}{path}` with `token`.
    pub async fn call(
        &self,
        token: &str,
        project: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let uri = format!("/volume/v3/{project}{path}");
        self.raw(method, &uri, Some(token), body).await
    }

    /// `call` as the admin, on the admin project.
    pub async fn as_admin(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let p = self.ids.admin_project_id.clone();
        self.call(&self.admin, &p, method, path, body).await
    }

    /// `call` as the demo member, on demo.
    pub async fn as_demo(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let p = self.ids.demo_project_id.clone();
        self.call(&self.demo, &p, method, path, body).await
    }

    /// Creates a volume in demo; the answer.
    pub async fn volume(&self, name: &str, size: u64, more: Value) -> Resp {
        let mut v = json!({"name": name, "size": size});
        if let (Some(v), Some(more)) = (v.as_object_mut(), more.as_object()) {
            v.extend(more.clone());
        }
        self.as_demo("POST", "/volumes", Some(json!({ "volume": v })))
            .await
    }

    /// The block record behind Cinder volume `id`.
    pub async fn block(&self, id: &str) -> VolumeRecord {
        self.gateway.show(&format!("volume-{id}")).await.unwrap()
    }
}

/// The message of Cinder's error body `{"<kind>": {"code", "message"}}`.
pub fn message(r: &Resp, kind: &str) -> String {
    assert_eq!(
        r.json[kind]["code"],
        json!(r.status.as_u16()),
        "{kind}: {}",
        r.json
    );
    r.json[kind]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
