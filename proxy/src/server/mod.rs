//! The HTTP front end: the [`Proxy`] (shared state) and its axum router,
//! which parses each request once and hands it to the account, container or
//! object handlers.

mod account;
pub(crate) mod container;
mod cors;
mod dlo;
mod fanout;
mod info;
mod large_object;
pub(crate) mod object_put;
pub(crate) mod object_read;
pub(crate) mod object_write;
pub(crate) mod reader;
pub(crate) mod respond;
pub(crate) mod slo;
#[cfg(test)]
mod tests;

pub use fanout::{FRAME_BYTES_MAX, REPLAY_BYTES_MAX};

use crate::auth::{authorize, AccessRequest, Decision, Identity, TempAuth};
use crate::cache::ContainerCache;
use crate::config::ProxyConfig;
use crate::errors::SwiftError;
use crate::path::{parse_path, parse_query, PathError, Route};
use crate::placement::Placement;
use crate::transid::new_trans_id;
use axum::body::Body;
use axum::Router;
use cairn_base::{Clock, SystemClock, Timestamp};
use cairn_meta_api::{ContainerInfo, Metadata};
use cairn_nodeapi::NodeMap;
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use respond::{error_response, set};
use std::sync::{Arc, Weak};
use std::time::Instant;
use tracing::Instrument;

/// The Swift proxy: configuration, placement, storage nodes and metadata.
#[derive(Clone)]
pub struct Proxy {
    shared: Arc<Shared>,
}

/// State shared by every request.
pub(crate) struct Shared {
    pub cfg: ProxyConfig,
    pub placement: Arc<dyn Placement>,
    pub nodes: Arc<NodeMap>,
    pub meta: Arc<dyn Metadata>,
    pub clock: Arc<dyn Clock>,
    pub tempauth: TempAuth,
    pub s3_keys: crate::s3::Keyring,
    pub containers: ContainerCache,
    pub stats: crate::stats::RequestStats,
    /// The hashing thread that computes concurrent uploads' ETags together.
    pub etags: cairn_md5::Batcher,
    /// This state itself, for the tasks a request spawns (large-object
    /// bodies, heartbeats) that outlive the handler's borrow.
    me: Weak<Shared>,
}

/// One request's parsed context.
pub(crate) struct Ctx {
    pub method: Method,
    pub headers: HeaderMap,
    pub params: Vec<(String, String)>,
    pub now: Timestamp,
    pub id: Option<Identity>,
    /// Conditional requests compare with this stored header instead of the
    /// ETag when the object has it (Swift's `X-Backend-Etag-Is-At`; S3 uses
    /// it for multipart objects).
    pub etag_is_at: Option<&'static str>,
}

impl Ctx {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    /// The timestamp that orders this request's change: always the proxy's
    /// clock. A client's `X-Timestamp` is ignored, as Swift's gatekeeper
    /// shunts it (`shunt_inbound_x_timestamp`): a client-chosen future
    /// timestamp would make its object impossible to overwrite or delete.
    pub fn timestamp(&self) -> Result<Timestamp, SwiftError> {
        Ok(self.now)
    }

    /// Whether the client asked every replica for the newest copy.
    pub fn newest(&self) -> bool {
        is_true(self.header("x-newest"))
    }

    /// The context of a subrequest this request makes (Swift's
    /// `make_subrequest`): the same requester (identity, Referer) and
    /// time, no query parameters, no other headers.
    pub fn subrequest(&self, method: Method) -> Ctx {
        let mut headers = HeaderMap::new();
        if let Some(r) = self.headers.get(http::header::REFERER) {
            headers.insert(http::header::REFERER, r.clone());
        }
        Ctx {
            method,
            headers,
            params: Vec::new(),
            now: self.now,
            id: self.id.clone(),
            etag_is_at: None,
        }
    }
}

/// Swift's `config_true_value`.
pub(crate) fn is_true(v: Option<&str>) -> bool {
    v.is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        )
    })
}

impl Proxy {
    /// A proxy over `placement` (the ring), the storage `nodes` and the metadata service.
    pub fn new(
        cfg: ProxyConfig,
        placement: Arc<dyn Placement>,
        nodes: Arc<NodeMap>,
        meta: Arc<dyn Metadata>,
    ) -> Self {
        Self::with_clock(cfg, placement, nodes, meta, Arc::new(SystemClock))
    }

    /// As [`Proxy::new`], with an injected clock (tests, simulation).
    pub fn with_clock(
        cfg: ProxyConfig,
        placement: Arc<dyn Placement>,
        nodes: Arc<NodeMap>,
        meta: Arc<dyn Metadata>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        // An empty key would let anyone mint tokens: refuse to start with one.
        assert!(
            !cfg.token_secret.is_empty(),
            "ProxyConfig::token_secret must not be empty"
        );
        let tempauth = TempAuth::new(&cfg.tempauth_users, &cfg.token_secret, cfg.token_ttl_secs);
        let containers = ContainerCache::new(cfg.container_cache_ttl);
        let s3_keys = crate::s3::Keyring::new(&cfg.s3_credentials, &cfg.tempauth_users);
        // Like the runtime's own threads: a process that cannot start one
        // cannot serve.
        let etags = cairn_md5::Batcher::start().expect("starting the MD5 hashing thread");
        let shared = Arc::new_cyclic(|me| Shared {
            cfg,
            placement,
            nodes,
            meta,
            clock,
            tempauth,
            s3_keys,
            containers,
            stats: crate::stats::RequestStats::default(),
            etags: etags.clone(),
            me: me.clone(),
        });
        Proxy { shared }
    }

    /// A router serving only the S3 API (for a listener of its own).
    pub fn s3_router(self) -> Router {
        let shared = self.shared;
        Router::new().fallback(move |req: Request<Body>| {
            let shared = shared.clone();
            async move { shared.handle_s3(req).await }
        })
    }

    /// The counts of answered requests (by API, method and status class).
    pub fn request_stats(&self) -> &crate::stats::RequestStats {
        &self.shared.stats
    }

    /// Runs the object expirer every `interval` until the task is aborted.
    pub fn spawn_expirer(&self, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match crate::expirer::sweep(&shared, shared.clock.now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "expirer: sweep done"),
                    Err(e) => tracing::warn!(error = %e, "expirer: sweep failed"),
                }
            }
        })
    }

    /// The axum router serving every Swift path (and S3 requests, told
    /// apart by `s3::addressing::is_s3`).
    pub fn router(self) -> Router {
        let shared = self.shared;
        Router::new().fallback(move |req: Request<Body>| {
            let shared = shared.clone();
            async move { shared.handle(req).await }
        })
    }
}

impl Shared {
    /// An owning handle on this state, for a task a request spawns.
    pub fn arc(&self) -> Arc<Shared> {
        // A request runs only while the router holds the state.
        self.me
            .upgrade()
            .expect("the proxy state outlives its requests")
    }

    async fn handle_s3(self: Arc<Self>, req: Request<Body>) -> Response<Body> {
        let now = self.clock.now();
        let request_id = new_trans_id(now.secs());
        let span = tracing::debug_span!("s3", request_id = %request_id, method = %req.method(), path = %req.uri().path());
        let method = req.method().clone();
        let resp = crate::s3::handle(&self, req, now, &request_id)
            .instrument(span)
            .await;
        self.stats
            .record(crate::stats::Api::S3, &method, resp.status());
        resp
    }

    async fn handle(self: Arc<Self>, req: Request<Body>) -> Response<Body> {
        if crate::s3::addressing::is_s3(req.uri(), req.headers(), self.cfg.s3_domain.as_deref()) {
            return self.handle_s3(req).await;
        }
        let now = self.clock.now();
        let trans_id = new_trans_id(now.secs());
        let is_head = req.method() == Method::HEAD;
        let method = req.method().clone();
        let raw_path = req.uri().path().to_owned();
        let keep_alive = req
            .headers()
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"keep-alive"));
        let span = tracing::debug_span!("swift", trans_id = %trans_id, method = %req.method(), path = %req.uri().path());
        let mut resp = match self.dispatch(req, now).instrument(span).await {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, SwiftError::Unavailable(_) | SwiftError::Internal(_)) {
                    tracing::warn!(trans_id, error = %e, "request failed");
                }
                error_response(&e, is_head)
            }
        };
        let unauthorized = resp.status() == http::StatusCode::UNAUTHORIZED;
        let h = resp.headers_mut();
        strip_sysmeta(h);
        if let Ok(v) = HeaderValue::from_str(&trans_id) {
            h.insert("x-trans-id", v.clone());
            h.insert("x-openstack-request-id", v);
        }
        if unauthorized && !h.contains_key("www-authenticate") {
            set(h, "www-authenticate", &respond::www_authenticate(&raw_path));
        }
        if keep_alive {
            // Swift (eventlet) echoes a client's `Connection: keep-alive`.
            h.insert(
                http::header::CONNECTION,
                HeaderValue::from_static("keep-alive"),
            );
        }
        if !h.contains_key(http::header::CONTENT_TYPE) {
            h.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=UTF-8"),
            );
        }
        self.stats
            .record(crate::stats::Api::Swift, &method, resp.status());
        resp
    }

    async fn dispatch(
        &self,
        req: Request<Body>,
        now: Timestamp,
    ) -> Result<Response<Body>, SwiftError> {
        let (parts, body) = req.into_parts();
        let route = match parse_path(parts.uri.path()) {
            Ok(r) => r,
            Err(PathError::InvalidUtf8) => {
                return Err(SwiftError::PreconditionFailed(Some(
                    "Invalid UTF8 or contains NULL".into(),
                )))
            }
            Err(PathError::NotFound) => return Err(SwiftError::NotFound),
            Err(PathError::BadUrl) => {
                return Err(SwiftError::PreconditionFailed(Some("Bad URL".into())))
            }
        };
        let params = parse_query(parts.uri.query().unwrap_or(""))
            .map_err(|_| SwiftError::BadRequest("Invalid UTF8 or contains NULL".into()))?;
        let id = self.identity(&parts.headers, now).await;
        let ctx = Ctx {
            method: parts.method,
            headers: parts.headers,
            params,
            now,
            id,
            etag_is_at: None,
        };
        if ctx.method == Method::OPTIONS {
            return Ok(cors::preflight(self, &ctx, &route).await);
        }
        let cors_origin = ctx.header("origin").map(str::to_owned);
        let cors_container = cors::container_of(&route).map(|(a, c)| (a.to_owned(), c.to_owned()));
        let result = self.route(&ctx, route, body).await;
        match (cors_origin, cors_container) {
            (Some(origin), Some((account, container))) => {
                let mut resp = result.unwrap_or_else(|e| error_response(&e, ctx.is_head()));
                cors::decorate(self, &account, &container, &origin, &mut resp).await;
                Ok(resp)
            }
            _ => result,
        }
    }

    /// Serves a parsed request on the handler of its resource.
    async fn route(
        &self,
        ctx: &Ctx,
        route: Route,
        body: Body,
    ) -> Result<Response<Body>, SwiftError> {
        match route {
            Route::Info => info::info(self, ctx),
            Route::Healthcheck => Ok(info::healthcheck()),
            Route::Auth => info::auth(self, ctx),
            Route::Account { account } => account::handle(self, ctx, &account).await,
            Route::Container { account, container } => {
                container::handle(self, ctx, &account, &container).await
            }
            Route::Object {
                account,
                container,
                object,
            } => {
                let obj = ObjectPath {
                    account,
                    container,
                    object,
                };
                match ctx.method.as_str() {
                    "GET" | "HEAD" => object_read::get_or_head(self, ctx, &obj).await,
                    _ if slo::is_manifest_put(ctx) => slo::put(self, ctx, &obj, body).await,
                    _ if slo::is_manifest_delete(ctx) => slo::delete(self, ctx, &obj).await,
                    _ if slo::has_reserved_header(ctx) => Err(slo::reserved_header()),
                    "PUT" => object_put::put(self, ctx, &obj, body).await,
                    "COPY" => object_put::copy(self, ctx, &obj).await,
                    "POST" => object_write::post(self, ctx, &obj).await,
                    "DELETE" => object_write::delete(self, ctx, &obj).await,
                    _ => Err(SwiftError::MethodNotAllowed),
                }
            }
        }
    }

    /// The identity behind X-Auth-Token / X-Storage-Token, if it verifies,
    /// noting whether a service user's X-Service-Token came with it.
    async fn identity(&self, headers: &HeaderMap, now: Timestamp) -> Option<Identity> {
        let mut id = match self.verify_token(headers, "x-auth-token", now).await {
            Some(id) => id,
            None => self.verify_token(headers, "x-storage-token", now).await?,
        };
        id.with_service_token = self
            .verify_token(headers, "x-service-token", now)
            .await
            .is_some_and(|s| s.service);
        Some(id)
    }

    /// The identity of the token in header `name`: a tempauth token, or
    /// (when the identity service is wired in) a Keystone token.
    async fn verify_token(
        &self,
        headers: &HeaderMap,
        name: &str,
        now: Timestamp,
    ) -> Option<Identity> {
        let token = headers.get(name)?.to_str().ok()?;
        if token.starts_with(crate::auth::TOKEN_PREFIX) {
            return self.tempauth.signer().verify(token, now.secs()).ok();
        }
        let keystone = self.cfg.keystone.as_ref()?;
        keystone.identity(token, now.secs()).await
    }

    /// The container's record, from the cache or the metadata service.
    pub async fn container_info(
        &self,
        account: &str,
        container: &str,
    ) -> Result<Arc<ContainerInfo>, SwiftError> {
        let now = Instant::now();
        if let Some(c) = self.containers.get(account, container, now) {
            return Ok(c);
        }
        let info = Arc::new(self.meta.container(account, container).await?);
        self.containers.put(info.clone(), now);
        Ok(info)
    }

    /// Authorizes an object-or-container request: owners need no container
    /// record; others are judged by the container's `acl_header` ACL. Returns
    /// the decision and the container record (which the caller needs anyway).
    pub async fn authorize_in_container(
        &self,
        ctx: &Ctx,
        account: &str,
        container: &str,
        has_object: bool,
        acl_header: &str,
    ) -> Result<(Decision, Arc<ContainerInfo>), SwiftError> {
        let mut access = AccessRequest {
            account,
            has_container: true,
            has_object,
            is_account_put_or_delete: false,
            is_read: ctx.method == Method::GET || ctx.method == Method::HEAD,
            acl: None,
            referer: ctx.header("referer"),
        };
        let first = authorize(ctx.id.as_ref(), &access);
        if first == Decision::Owner {
            return Ok((first, self.container_info(account, container).await?));
        }
        let info = match self.container_info(account, container).await {
            Ok(i) => i,
            Err(SwiftError::NotFound) => return Err(denied(first)),
            Err(e) => return Err(e),
        };
        access.acl = info.meta.get(acl_header).map(String::as_str);
        match authorize(ctx.id.as_ref(), &access) {
            d @ (Decision::Owner | Decision::Allowed) => Ok((d, info)),
            d => Err(denied(d)),
        }
    }
}

/// System metadata is kept with objects and never shown to Swift clients
/// (Swift's gatekeeper).
const SYSMETA_PREFIX: &str = "x-object-sysmeta-";

fn strip_sysmeta(h: &mut HeaderMap) {
    let names: Vec<http::HeaderName> = h
        .keys()
        .filter(|k| k.as_str().starts_with(SYSMETA_PREFIX))
        .cloned()
        .collect();
    for n in names {
        h.remove(n);
    }
}

/// The error of a refusal.
pub(crate) fn denied(d: Decision) -> SwiftError {
    match d {
        Decision::Unauthorized => SwiftError::Unauthorized,
        _ => SwiftError::Forbidden,
    }
}

/// An object's full name.
#[derive(Debug, Clone)]
pub(crate) struct ObjectPath {
    pub account: String,
    pub container: String,
    pub object: String,
}

impl ObjectPath {
    /// `/account/container/object`, the name storage nodes keep.
    pub fn full_name(&self) -> String {
        format!("/{}/{}/{}", self.account, self.container, self.object)
    }
}
