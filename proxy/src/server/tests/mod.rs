//! Router-level tests: the whole proxy over in-memory fakes of the storage
//! nodes, the metadata service and the ring, with fault injection.

mod dlo;
mod fakes;
mod s3;
mod slo;

use fakes::*;

use super::*;
use crate::config::TempAuthUser;
use bytes::Bytes;
use cairn_nodeapi::*;
use http::StatusCode;
use http_body_util::BodyExt;
use md5::{Digest, Md5};
use std::sync::atomic::{AtomicU64, Ordering};
use tower::ServiceExt;

// ---------------------------------------------------------------- harness

struct Harness {
    router: Router,
    /// The proxy's state, for tests of crate-internal entry points.
    shared: Arc<Shared>,
    node: Arc<FakeNode>,
    clock: Arc<TestClock>,
    token: String,
}

const NOW_SECS: u64 = 1_700_000_000;

fn user(account: &str, user: &str, key: &str, admin: bool, reseller_admin: bool) -> TempAuthUser {
    TempAuthUser {
        account: account.into(),
        user: user.into(),
        key: key.into(),
        admin,
        reseller_admin,
        service: false,
    }
}

async fn harness() -> Harness {
    let node = Arc::new(FakeNode::default());
    let meta = Arc::new(FakeMeta::default());
    let clock = Arc::new(TestClock(AtomicU64::new(NOW_SECS * 1_000_000)));
    let nodes = NodeMap::new();
    for n in 1..=5 {
        nodes.insert(NodeId(n), node.clone());
    }
    let nodes = Arc::new(nodes);
    let cfg = ProxyConfig {
        tempauth_users: vec![
            user("test", "tester", "testing", true, false),
            user("test", "tester3", "testing3", false, false),
            user("test2", "tester2", "testing2", true, false),
            user("admin", "root", "rootpw", false, true),
        ],
        token_secret: b"test secret".to_vec(),
        node_timeout: std::time::Duration::from_secs(2),
        s3_credentials: vec![crate::S3Credential {
            access_key: crate::s3::auth::testkit::ACCESS_KEY.into(),
            secret: crate::s3::auth::testkit::SECRET.into(),
            account: "test".into(),
            user: "tester".into(),
            admin: true,
        }],
        ..ProxyConfig::default()
    };
    let proxy = Proxy::with_clock(cfg, Arc::new(FakePlacement), nodes, meta, clock.clone());
    let shared = proxy.shared.clone();
    let mut h = Harness {
        router: proxy.router(),
        shared,
        node,
        clock,
        token: String::new(),
    };
    h.token = h.login("test:tester", "testing").await;
    h
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn header(&self, n: &str) -> &str {
        self.headers
            .get(n)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Harness {
    async fn send(&self, req: Request<Body>) -> Resp {
        let r = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = r.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("x-auth-token", &self.token);
        let has_len = headers.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
        });
        if !has_len && matches!(method, "PUT" | "POST") {
            b = b.header("content-length", body.len());
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Body::from(body.to_vec())).unwrap()).await
    }

    async fn as_token(
        &self,
        token: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if !token.is_empty() {
            b = b.header("x-auth-token", token);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    async fn login(&self, u: &str, k: &str) -> String {
        let r = self
            .as_token(
                "",
                "GET",
                "/auth/v1.0",
                &[("x-auth-user", u), ("x-auth-key", k)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {u}");
        r.header("x-auth-token").to_owned()
    }

    fn key(&self, o: &str) -> ObjectKey {
        let (a, rest) = o.split_once('/').unwrap();
        let (c, o) = rest.split_once('/').unwrap();
        FakePlacement.locate(a, c, o).key
    }
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

fn seeded_bytes(len: usize) -> (u64, Vec<u8>) {
    use rand::{Rng, SeedableRng};
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (seed, (0..len).map(|_| rng.gen()).collect())
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn auth_info_and_healthcheck() {
    // tempauth hands out a token and storage URL; bad keys get 401; /info advertises the constraints.
    let h = harness().await;
    let r = h
        .as_token(
            "",
            "GET",
            "/auth/v1.0",
            &[
                ("x-storage-user", "test:tester"),
                ("x-storage-pass", "testing"),
                ("host", "h:8080"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-storage-url"), "http://h:8080/v1/AUTH_test");
    assert!(r.header("x-auth-token").starts_with("AUTH_tk"));
    assert_eq!(r.header("x-auth-token"), r.header("x-storage-token"));
    assert_eq!(r.header("x-auth-token-expires"), "86400");
    assert!(r.header("x-trans-id").starts_with("tx"));
    let bad = h
        .as_token(
            "",
            "GET",
            "/auth/v1.0",
            &[("x-auth-user", "test:tester"), ("x-auth-key", "nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let info = h.as_token("", "GET", "/info", &[]).await;
    let v: serde_json::Value = serde_json::from_slice(&info.body).unwrap();
    assert_eq!(v["swift"]["max_file_size"], 5_368_709_122u64);
    assert_eq!(v["swift"]["container_listing_limit"], 10_000);
    assert_eq!(
        h.as_token("", "GET", "/healthcheck", &[]).await.text(),
        "OK"
    );
}

#[tokio::test]
async fn unauthenticated_and_foreign_requests_are_refused() {
    // No token is 401, a forged token is 401, another account's admin is 403.
    let h = harness().await;
    assert_eq!(
        h.as_token("", "GET", "/v1/AUTH_test", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.as_token("AUTH_tk00ff", "GET", "/v1/AUTH_test", &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let t2 = h.login("test2:tester2", "testing2").await;
    let r = h.as_token(&t2, "HEAD", "/v1/AUTH_test", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let root = h.login("admin:root", "rootpw").await;
    assert_eq!(
        h.as_token(&root, "HEAD", "/v1/AUTH_test", &[]).await.status,
        StatusCode::NO_CONTENT
    );
    let r = h.req("GET", "/v1/AUTH_test/c/%ff", &[], b"").await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        h.req("PUT", "/v1/AUTH_test", &[], b"").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn container_lifecycle() {
    // Create (201), re-create (202), metadata, 409 on a non-empty delete, then 204 and 404.
    let h = harness().await;
    assert_eq!(
        h.req(
            "PUT",
            "/v1/AUTH_test/c",
            &[("x-container-meta-color", "blue")],
            b""
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.req("PUT", "/v1/AUTH_test/c", &[], b"").await.status,
        StatusCode::ACCEPTED
    );
    let r = h.req("HEAD", "/v1/AUTH_test/c", &[], b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("x-container-meta-color"), "blue");
    assert_eq!(r.header("x-container-object-count"), "0");
    assert_eq!(
        h.req(
            "POST",
            "/v1/AUTH_test/c",
            &[("x-remove-container-meta-color", "x")],
            b""
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.req("HEAD", "/v1/AUTH_test/c", &[], b"")
            .await
            .header("x-container-meta-color"),
        ""
    );
    assert_eq!(
        h.req("PUT", "/v1/AUTH_test/c/o", &[], b"x").await.status,
        StatusCode::CREATED
    );
    let r = h.req("DELETE", "/v1/AUTH_test/c", &[], b"").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text().contains("<h1>Conflict</h1>"));
    assert_eq!(
        h.req("DELETE", "/v1/AUTH_test/c/o", &[], b"").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.req("DELETE", "/v1/AUTH_test/c", &[], b"").await.status,
        StatusCode::NO_CONTENT
    );
    let r = h.req("HEAD", "/v1/AUTH_test/c", &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.req("PUT", "/v1/AUTH_test/c/o", &[], b"x").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.req("POST", "/v1/AUTH_test/nope", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
    let long = format!("/v1/AUTH_test/{}", "c".repeat(257));
    assert_eq!(
        h.req("PUT", &long, &[], b"").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn object_roundtrip_on_three_replicas() {
    // A PUT lands on all three primaries and in the listing; GET and HEAD return it with its metadata.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    let body = b"hello, swift";
    let etag = md5_hex(body);
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/dir/o.txt",
            &[
                ("etag", &etag),
                ("x-object-meta-mtime", "123"),
                ("content-disposition", "inline"),
            ],
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.header("etag"), etag);
    assert!(!r.header("last-modified").is_empty());
    assert_eq!(
        h.node.devices_holding(h.key("AUTH_test/c/dir/o.txt")),
        vec![1, 2, 3]
    );
    let g = h.req("GET", "/v1/AUTH_test/c/dir/o.txt", &[], b"").await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(&g.body[..], body);
    assert_eq!(
        g.header("content-type"),
        "text/plain",
        "guessed from the extension"
    );
    assert_eq!(g.header("x-object-meta-mtime"), "123");
    assert_eq!(g.header("content-disposition"), "inline");
    assert_eq!(g.header("etag"), etag);
    assert_eq!(g.header("x-timestamp"), "1700000000.00000");
    let hd = h.req("HEAD", "/v1/AUTH_test/c/dir/o.txt", &[], b"").await;
    assert_eq!(hd.header("content-length"), body.len().to_string());
    assert!(hd.body.is_empty());
    let l = h.req("GET", "/v1/AUTH_test/c?format=json", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&l.body).unwrap();
    assert_eq!(v[0]["name"], "dir/o.txt");
    assert_eq!(v[0]["hash"], etag);
    assert_eq!(v[0]["bytes"], body.len());
    let l = h.req("GET", "/v1/AUTH_test/c?delimiter=/", &[], b"").await;
    assert_eq!(l.text(), "dir/\n");
    let a = h.req("HEAD", "/v1/AUTH_test", &[], b"").await;
    assert_eq!(a.header("x-account-container-count"), "1");
    let a = h.req("GET", "/v1/AUTH_test?format=json", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v[0]["name"], "c");
    assert_eq!(v[0]["count"], 1);
}

#[tokio::test]
async fn bad_puts_store_nothing() {
    // ETag mismatch (422), missing length (411), too large (413) and bad metadata (400) leave no trace.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/o",
            &[("etag", "0123456789abcdef0123456789abcdef")],
            b"data",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(h.node.devices_holding(h.key("AUTH_test/c/o")).is_empty());
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c/o", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
    let req = Request::builder()
        .method("PUT")
        .uri("/v1/AUTH_test/c/o")
        .header("x-auth-token", &h.token)
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.send(req).await.status, StatusCode::LENGTH_REQUIRED);
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/o",
            &[("content-length", "5368709123")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let long_name = "x-object-meta-".to_owned() + &"n".repeat(129);
    assert_eq!(
        h.req("PUT", "/v1/AUTH_test/c/o", &[(&long_name, "v")], b"")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.req("PUT", "/v1/AUTH_test/c/o", &[("x-delete-at", "12")], b"")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let long_obj = format!("/v1/AUTH_test/c/{}", "o".repeat(1025));
    assert_eq!(
        h.req("PUT", &long_obj, &[], b"").await.status,
        StatusCode::BAD_REQUEST
    );
    let l = h.req("GET", "/v1/AUTH_test/c", &[], b"").await;
    assert_eq!(l.status, StatusCode::NO_CONTENT);
    // A client's X-Timestamp is ignored (Swift's gatekeeper shunts it): a
    // far-future one must not make the object undeletable.
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/o",
            &[("x-timestamp", "99999999999.99999")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let d = h.req("DELETE", "/v1/AUTH_test/c/o", &[], b"").await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn chunked_and_large_puts_stream_through() {
    // A chunked body larger than the replay window arrives intact on every replica.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    let (_, data) = seeded_bytes(3 * 1024 * 1024 + 17);
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(100_003)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let req = Request::builder()
        .method("PUT")
        .uri("/v1/AUTH_test/c/big")
        .header("x-auth-token", &h.token)
        .header("transfer-encoding", "chunked")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    let r = h.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("etag"), md5_hex(&data));
    assert_eq!(
        h.node.devices_holding(h.key("AUTH_test/c/big")),
        vec![1, 2, 3]
    );
    let g = h.req("GET", "/v1/AUTH_test/c/big", &[], b"").await;
    assert_eq!(g.body.len(), data.len());
    assert!(g.body[..] == data[..]);
}

#[tokio::test]
async fn ranges_and_conditions() {
    // Single, suffix and multiple ranges, 416, and the four conditional headers.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    let body = b"0123456789abcdefghij";
    h.req(
        "PUT",
        "/v1/AUTH_test/c/o",
        &[("content-type", "text/plain")],
        body,
    )
    .await;
    let r = h
        .req("GET", "/v1/AUTH_test/c/o", &[("range", "bytes=3-12")], b"")
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], b"3456789abc");
    assert_eq!(r.header("content-range"), "bytes 3-12/20");
    let r = h
        .req("GET", "/v1/AUTH_test/c/o", &[("range", "bytes=-4")], b"")
        .await;
    assert_eq!(&r.body[..], b"ghij");
    let r = h
        .req(
            "GET",
            "/v1/AUTH_test/c/o",
            &[("range", "bytes=0-1,15-")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    let ct = r.header("content-type").to_owned();
    let boundary = ct.strip_prefix("multipart/byteranges;boundary=").unwrap();
    let text = r.text();
    assert_eq!(r.header("content-length"), text.len().to_string());
    assert!(text.contains("Content-Range: bytes 0-1/20\r\n\r\n01\r\n"));
    assert!(text.contains("Content-Range: bytes 15-19/20\r\n\r\nfghij\r\n"));
    assert!(text.ends_with(&format!("--{boundary}--")));
    let r = h
        .req("GET", "/v1/AUTH_test/c/o", &[("range", "bytes=50-")], b"")
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), "bytes */20");
    let r = h
        .req("GET", "/v1/AUTH_test/c/o", &[("range", "bytes=5-1")], b"")
        .await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 20));
    let etag = md5_hex(body);
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c/o", &[("if-none-match", &etag)], b"")
            .await
            .status,
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c/o", &[("if-match", "\"nope\"")], b"")
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        h.req("HEAD", "/v1/AUTH_test/c/o", &[("if-match", &etag)], b"")
            .await
            .status,
        StatusCode::OK
    );
    let later = crate::conditional::http_date(NOW_SECS + 100);
    let earlier = crate::conditional::http_date(NOW_SECS - 100);
    assert_eq!(
        h.req(
            "GET",
            "/v1/AUTH_test/c/o",
            &[("if-modified-since", &later)],
            b""
        )
        .await
        .status,
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        h.req(
            "GET",
            "/v1/AUTH_test/c/o",
            &[("if-unmodified-since", &earlier)],
            b""
        )
        .await
        .status,
        StatusCode::PRECONDITION_FAILED
    );
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/o",
            &[("if-none-match", "*")],
            b"new",
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn failed_primary_is_replaced_by_handoff() {
    // With one primary down the PUT lands on the first handoff, and reads still succeed.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.node.down.lock().unwrap().insert(DeviceId(2));
    let r = h.req("PUT", "/v1/AUTH_test/c/o", &[], b"payload").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        h.node.devices_holding(h.key("AUTH_test/c/o")),
        vec![1, 3, 4]
    );
    h.node.down.lock().unwrap().insert(DeviceId(1));
    let g = h.req("GET", "/v1/AUTH_test/c/o", &[], b"").await;
    assert_eq!((g.status, &g.body[..]), (StatusCode::OK, &b"payload"[..]));
}

#[tokio::test]
async fn quorum_failures_are_503_or_507() {
    // Too few reachable devices is a 503; mostly full devices is a 507; nothing is listed.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.node
        .down
        .lock()
        .unwrap()
        .extend([1, 2, 4, 5].map(DeviceId));
    let r = h.req("PUT", "/v1/AUTH_test/c/o", &[], b"payload").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().contains("Service Unavailable"));
    h.node.down.lock().unwrap().clear();
    h.node
        .full
        .lock()
        .unwrap()
        .extend([1, 2, 3, 4, 5].map(DeviceId));
    let r = h.req("PUT", "/v1/AUTH_test/c/o", &[], b"payload").await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c", &[], b"").await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn read_resumes_on_another_replica_mid_stream() {
    // A replica that fails mid-body is replaced at the byte offset reached; the client gets every byte once.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    let (_, data) = seeded_bytes(1000);
    h.req("PUT", "/v1/AUTH_test/c/o", &[], &data).await;
    h.node.break_after.lock().unwrap().insert(DeviceId(1), 3);
    h.node.break_after.lock().unwrap().insert(DeviceId(2), 50);
    let g = h.req("GET", "/v1/AUTH_test/c/o", &[], b"").await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(g.body[..] == data[..], "resumed body differs");
    let r = h
        .req(
            "GET",
            "/v1/AUTH_test/c/o",
            &[("range", "bytes=100-899")],
            b"",
        )
        .await;
    assert!(r.body[..] == data[100..900]);
    // With every replica failing, the body is cut short rather than wrong.
    h.node.break_after.lock().unwrap().insert(DeviceId(3), 10);
    let req = Request::builder()
        .uri("/v1/AUTH_test/c/o")
        .header("x-auth-token", &h.token)
        .body(Body::empty())
        .unwrap();
    let resp = h.router.clone().oneshot(req).await.unwrap();
    assert!(
        resp.into_body().collect().await.is_err(),
        "the stream must end in an error"
    );
}

#[tokio::test]
async fn newest_wins_with_x_newest() {
    // When replicas disagree, X-Newest serves the newest copy; a default read
    // (primaries shuffled) may serve either.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req("PUT", "/v1/AUTH_test/c/o", &[], b"old").await;
    h.clock.0.fetch_add(5_000_000, Ordering::SeqCst);
    h.node.down.lock().unwrap().insert(DeviceId(1));
    assert_eq!(
        h.req("PUT", "/v1/AUTH_test/c/o", &[], b"new!").await.status,
        StatusCode::CREATED
    );
    h.node.down.lock().unwrap().clear();
    let first = h.req("GET", "/v1/AUTH_test/c/o", &[], b"").await;
    assert!(&first.body[..] == b"old" || &first.body[..] == b"new!");
    let newest = h
        .req("GET", "/v1/AUTH_test/c/o", &[("x-newest", "true")], b"")
        .await;
    assert_eq!(&newest.body[..], b"new!");
    let hd = h
        .req("HEAD", "/v1/AUTH_test/c/o", &[("x-newest", "true")], b"")
        .await;
    assert_eq!(hd.header("content-length"), "4");
}

#[tokio::test]
async fn delete_writes_tombstones_and_unlists() {
    // DELETE is 204 then 404; the object is gone from reads and the listing, and tombstones beat old copies.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req("PUT", "/v1/AUTH_test/c/o", &[], b"x").await;
    h.clock.0.fetch_add(1_000_000, Ordering::SeqCst);
    assert_eq!(
        h.req("DELETE", "/v1/AUTH_test/c/o", &[], b"").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.req("DELETE", "/v1/AUTH_test/c/o", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c/o", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.req("HEAD", "/v1/AUTH_test/c/o", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c?format=json", &[], b"")
            .await
            .text(),
        "[]"
    );
    // An old copy on a handoff is shadowed by the primaries' newer tombstones.
    let key = h.key("AUTH_test/c/o");
    let meta = ObjectMeta {
        name: "/AUTH_test/c/o".into(),
        data_ts: Timestamp::from_secs(NOW_SECS),
        meta_ts: Timestamp::from_secs(NOW_SECS),
        content_length: 1,
        etag: md5_hex(b"x"),
        content_type: "a/b".into(),
        headers: vec![],
    };
    h.node.store.lock().unwrap().insert(
        (DeviceId(4), key),
        Entry::Obj {
            meta,
            data: Bytes::from_static(b"x"),
        },
    );
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c/o", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn post_replaces_metadata() {
    // POST is 202 and replaces user metadata and content type; a missing object is 404.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req(
        "PUT",
        "/v1/AUTH_test/c/o",
        &[("x-object-meta-a", "1")],
        b"x",
    )
    .await;
    h.clock.0.fetch_add(1_000_000, Ordering::SeqCst);
    let r = h
        .req(
            "POST",
            "/v1/AUTH_test/c/o",
            &[("x-object-meta-b", "2"), ("content-type", "text/x-new")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let hd = h.req("HEAD", "/v1/AUTH_test/c/o", &[], b"").await;
    assert_eq!(hd.header("x-object-meta-a"), "");
    assert_eq!(hd.header("x-object-meta-b"), "2");
    assert_eq!(hd.header("content-type"), "text/x-new");
    assert_eq!(
        h.req("POST", "/v1/AUTH_test/c/nope", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn copies_carry_data_and_metadata() {
    // X-Copy-From and COPY duplicate bytes and metadata; X-Fresh-Metadata drops the old metadata.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req("PUT", "/v1/AUTH_test/d", &[], b"").await;
    h.req(
        "PUT",
        "/v1/AUTH_test/c/src",
        &[("x-object-meta-k", "v"), ("content-type", "a/b")],
        b"source bytes",
    )
    .await;
    h.clock.0.fetch_add(1_000_000, Ordering::SeqCst);
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/d/dst",
            &[("x-copy-from", "/c/src"), ("x-object-meta-extra", "e")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.header("x-copied-from"), "c/src");
    assert!(!r.header("x-copied-from-last-modified").is_empty());
    let g = h.req("GET", "/v1/AUTH_test/d/dst", &[], b"").await;
    assert_eq!(&g.body[..], b"source bytes");
    assert_eq!(
        (
            g.header("x-object-meta-k"),
            g.header("x-object-meta-extra"),
            g.header("content-type")
        ),
        ("v", "e", "a/b")
    );
    let r = h
        .req(
            "COPY",
            "/v1/AUTH_test/c/src",
            &[("destination", "d/dst2"), ("x-fresh-metadata", "true")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let g = h.req("GET", "/v1/AUTH_test/d/dst2", &[], b"").await;
    assert_eq!(
        (&g.body[..], g.header("x-object-meta-k")),
        (&b"source bytes"[..], "")
    );
    assert_eq!(
        h.req(
            "PUT",
            "/v1/AUTH_test/d/x",
            &[("x-copy-from", "nocontainer")],
            b""
        )
        .await
        .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        h.req(
            "PUT",
            "/v1/AUTH_test/d/x",
            &[("x-copy-from", "c/missing")],
            b""
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.req(
            "PUT",
            "/v1/AUTH_test/d/x",
            &[("x-copy-from", "c/src"), ("content-length", "3")],
            b"abc"
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn container_acls_for_other_users() {
    // A non-admin user needs read/write ACLs; .r:* opens objects but not listings; ACLs stay hidden from non-owners.
    let h = harness().await;
    let t3 = h.login("test:tester3", "testing3").await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req("PUT", "/v1/AUTH_test/c/o", &[], b"secret").await;
    assert_eq!(
        h.as_token(&t3, "GET", "/v1/AUTH_test/c/o", &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.as_token(&t3, "GET", "/v1/AUTH_test/c", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.as_token(&t3, "GET", "/v1/AUTH_test/nocontainer/o", &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    h.req(
        "POST",
        "/v1/AUTH_test/c",
        &[("x-container-read", "test:tester3")],
        b"",
    )
    .await;
    assert_eq!(
        &h.as_token(&t3, "GET", "/v1/AUTH_test/c/o", &[]).await.body[..],
        b"secret"
    );
    let l = h.as_token(&t3, "GET", "/v1/AUTH_test/c", &[]).await;
    assert_eq!(
        (l.status, l.header("x-container-read")),
        (StatusCode::OK, "")
    );
    assert_eq!(
        h.req("HEAD", "/v1/AUTH_test/c", &[], b"")
            .await
            .header("x-container-read"),
        "test:tester3"
    );
    let hr = &h;
    let put = |t: String| async move {
        let req = Request::builder()
            .method("PUT")
            .uri("/v1/AUTH_test/c/o3")
            .header("x-auth-token", t)
            .header("content-length", "1")
            .body(Body::from("z"))
            .unwrap();
        hr.send(req).await.status
    };
    assert_eq!(put(t3.clone()).await, StatusCode::FORBIDDEN);
    h.req(
        "POST",
        "/v1/AUTH_test/c",
        &[("x-container-write", "test:*")],
        b"",
    )
    .await;
    assert_eq!(put(t3.clone()).await, StatusCode::CREATED);
    assert_eq!(
        h.as_token(&t3, "POST", "/v1/AUTH_test/c", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.as_token("", "GET", "/v1/AUTH_test/c/o", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    h.req(
        "POST",
        "/v1/AUTH_test/c",
        &[("x-container-read", ".r:*")],
        b"",
    )
    .await;
    assert_eq!(
        h.as_token("", "GET", "/v1/AUTH_test/c/o", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.as_token("", "GET", "/v1/AUTH_test/c", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    h.req(
        "POST",
        "/v1/AUTH_test/c",
        &[("x-container-read", ".r:*,.rlistings")],
        b"",
    )
    .await;
    assert_eq!(
        h.as_token("", "GET", "/v1/AUTH_test/c", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.req(
            "POST",
            "/v1/AUTH_test/c",
            &[("x-container-read", ".r:")],
            b""
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn expired_objects_read_as_404() {
    // X-Delete-After sets an expiry; once the clock passes it the object is gone.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req(
        "PUT",
        "/v1/AUTH_test/c/o",
        &[("x-delete-after", "10")],
        b"x",
    )
    .await;
    let hd = h.req("HEAD", "/v1/AUTH_test/c/o", &[], b"").await;
    assert_eq!(hd.header("x-delete-at"), (NOW_SECS + 10).to_string());
    h.clock.0.fetch_add(11_000_000, Ordering::SeqCst);
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c/o", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.req("HEAD", "/v1/AUTH_test/c/o", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn expirer_deletes_and_unlists_expired_objects() {
    // A sweep after X-Delete-At deletes the object and its row; an object
    // re-written without an expiry, or expiring later, stays.
    let h = harness().await;
    let tick = |secs: u64| h.clock.0.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    for name in ["gone", "kept"] {
        let path = format!("/v1/AUTH_test/c/{name}");
        let r = h.req("PUT", &path, &[("x-delete-after", "10")], b"x").await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/later",
            &[("x-delete-after", "100")],
            b"x",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    tick(1);
    assert_eq!(
        h.req("PUT", "/v1/AUTH_test/c/kept", &[], b"y").await.status,
        StatusCode::CREATED
    );
    let sweep = || crate::expirer::sweep(&h.shared, h.clock.now());
    assert_eq!(sweep().await.unwrap(), 0, "nothing is due yet");
    tick(10);
    assert_eq!(sweep().await.unwrap(), 2, "gone deleted, kept settled");
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c", &[], b"").await.text(),
        "kept\nlater\n"
    );
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c/kept", &[], b"").await.text(),
        "y"
    );
    assert_eq!(sweep().await.unwrap(), 0, "settled entries are gone");
    tick(100);
    assert_eq!(sweep().await.unwrap(), 1);
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c", &[], b"").await.text(),
        "kept\n"
    );
}

#[tokio::test]
async fn cors_preflight_and_actual_requests() {
    // A container's allowed origin answers preflights without a token and
    // decorates actual requests; other origins get 401 / no CORS headers.
    let h = harness().await;
    h.req(
        "PUT",
        "/v1/AUTH_test/c",
        &[("x-container-meta-access-control-allow-origin", "*")],
        b"",
    )
    .await;
    h.req(
        "PUT",
        "/v1/AUTH_test/c/o",
        &[("x-object-meta-color", "red")],
        b"x",
    )
    .await;
    async fn preflight(h: &Harness, origin: &str, method: Option<&str>) -> Resp {
        let mut hs = vec![("origin", origin)];
        if let Some(m) = method {
            hs.push(("access-control-request-method", m));
        }
        h.as_token("", "OPTIONS", "/v1/AUTH_test/c/o", &hs).await
    }
    assert_eq!(
        preflight(&h, "http://m.com", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let ok = preflight(&h, "http://m.com", Some("GET")).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("access-control-allow-origin"), "*");
    assert!(ok.header("access-control-expose-headers").is_empty());
    let get = h
        .req(
            "GET",
            "/v1/AUTH_test/c/o",
            &[("origin", "http://m.com")],
            b"",
        )
        .await;
    assert_eq!(get.header("access-control-allow-origin"), "*");
    assert!(get
        .header("access-control-expose-headers")
        .split(", ")
        .any(|e| e == "x-object-meta-color"));

    h.req(
        "POST",
        "/v1/AUTH_test/c",
        &[(
            "x-container-meta-access-control-allow-origin",
            "http://secret.com",
        )],
        b"",
    )
    .await;
    h.clock.0.fetch_add(2_000_000, Ordering::SeqCst); // past the container cache
    assert_eq!(
        preflight(&h, "http://m.com", Some("GET")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let other = h
        .req(
            "GET",
            "/v1/AUTH_test/c/o",
            &[("origin", "http://m.com")],
            b"",
        )
        .await;
    assert!(other.header("access-control-allow-origin").is_empty());
    let own = h
        .req(
            "GET",
            "/v1/AUTH_test/c/o",
            &[("origin", "http://secret.com")],
            b"",
        )
        .await;
    assert_eq!(
        own.header("access-control-allow-origin"),
        "http://secret.com"
    );
    let plain = h.as_token("", "OPTIONS", "/v1/AUTH_test/c/o", &[]).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(plain.header("allow").contains("PUT"));
}

#[tokio::test]
async fn listings_paginate_and_format() {
    // Markers, limits, prefixes, reverse and xml work on account and container listings.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    for n in ["a", "b", "c/1", "c/2", "d"] {
        h.req("PUT", &format!("/v1/AUTH_test/c/{n}"), &[], b"x")
            .await;
    }
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c?limit=2", &[], b"")
            .await
            .text(),
        "a\nb\n"
    );
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c?marker=b&limit=2", &[], b"")
            .await
            .text(),
        "c/1\nc/2\n"
    );
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c?prefix=c/", &[], b"")
            .await
            .text(),
        "c/1\nc/2\n"
    );
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c?reverse=true&limit=1", &[], b"")
            .await
            .text(),
        "d\n"
    );
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c?marker=d", &[], b"")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c?limit=10001", &[], b"")
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    let x = h
        .req(
            "GET",
            "/v1/AUTH_test/c",
            &[("accept", "application/xml")],
            b"",
        )
        .await;
    assert!(x.header("content-type").starts_with("application/xml"));
    assert!(x
        .text()
        .contains("<container name=\"c\"><object><name>a</name>"));
    let a = h.req("GET", "/v1/AUTH_test?format=xml", &[], b"").await;
    assert!(a
        .text()
        .contains("<account name=\"AUTH_test\"><container><name>c</name><count>5</count>"));
    let r = h
        .req(
            "POST",
            "/v1/AUTH_test",
            &[("x-account-meta-quota", "5")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.req("HEAD", "/v1/AUTH_test", &[], b"")
            .await
            .header("x-account-meta-quota"),
        "5"
    );
}

/// Sends raw HTTP/1.1 requests over one connection and returns the raw answer.
async fn raw_http(addr: std::net::SocketAddr, request: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn real_socket_head_keeps_content_length() {
    // Over a real HTTP/1.1 connection, HEAD of an object announces its length and sends no body.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req("PUT", "/v1/AUTH_test/c/o", &[], b"twelve bytes")
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = h.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let t = &h.token;
    let head = raw_http(addr, format!("HEAD /v1/AUTH_test/c/o HTTP/1.1\r\nhost: x\r\nx-auth-token: {t}\r\nconnection: close\r\n\r\n")).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 12\r\n"),
        "{head}"
    );
    assert!(
        head.ends_with("\r\n\r\n"),
        "no body after the headers: {head:?}"
    );
    let cont = raw_http(addr, format!("HEAD /v1/AUTH_test/c HTTP/1.1\r\nhost: x\r\nx-auth-token: {t}\r\nconnection: close\r\n\r\n")).await;
    assert!(cont.starts_with("HTTP/1.1 204"), "{cont}");
    assert!(
        cont.to_ascii_lowercase().contains("content-type: "),
        "{cont}"
    );
    let put = raw_http(addr, format!("PUT /v1/AUTH_test/c/p HTTP/1.1\r\nhost: x\r\nx-auth-token: {t}\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc")).await;
    assert!(put.starts_with("HTTP/1.1 201"), "{put}");
    assert!(
        put.to_ascii_lowercase()
            .contains(&format!("etag: {}", md5_hex(b"abc"))),
        "{put}"
    );
}

#[tokio::test]
async fn client_disconnect_mid_body_stores_nothing() {
    // A body that breaks off before its announced length leaves no replica and no listing entry.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"partial")),
        Err(std::io::Error::other("gone")),
    ];
    let req = Request::builder()
        .method("PUT")
        .uri("/v1/AUTH_test/c/o")
        .header("x-auth-token", &h.token)
        .header("content-length", "100")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    assert_eq!(h.send(req).await.status.as_u16(), 499);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(h.node.devices_holding(h.key("AUTH_test/c/o")).is_empty());
    assert_eq!(
        h.req("GET", "/v1/AUTH_test/c", &[], b"").await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn path_listing_shows_direct_children_and_markers() {
    // `?path=a` lists what is directly in `a/`: objects and directory-marker
    // objects, not `a/` itself, nested objects or subdir rows.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    for name in ["a/", "a/b", "a/c/", "a/c/d", "a/e/f", "x"] {
        let r = h
            .req("PUT", &format!("/v1/AUTH_test/c/{name}"), &[], b"1")
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}");
    }
    let l = h.req("GET", "/v1/AUTH_test/c?path=a", &[], b"").await;
    assert_eq!(&l.body[..], b"a/b\na/c/\n");
}
