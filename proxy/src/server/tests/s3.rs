//! S3 requests through the whole proxy over the fakes: what only a fake
//! clock can show (abandoned multipart uploads expiring) and what a fault
//! must never do (a body failing its digest is never stored). The real
//! clients cover the rest (tests/tests/s3_clients.rs).

use super::*;
use crate::s3::auth::testkit::{Signer, SECRET};

/// `NOW_SECS` as an `X-Amz-Date`.
const NOW_AMZ: &str = "20231114T221320Z";

impl Harness {
    /// An S3 request signed (SigV4, signed payload) as test:tester.
    async fn s3(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let uri: http::Uri = target.parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("s3.test"));
        h.insert("x-amz-date", HeaderValue::from_static(NOW_AMZ));
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
        h.insert("x-amz-content-sha256", sha.parse().unwrap());
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let method: Method = method.parse().unwrap();
        let signer = Signer {
            secret: SECRET,
            region: "us-east-1",
            timestamp: NOW_AMZ,
        };
        signer.authorize(&method, &uri, &mut h);
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in &h {
            b = b.header(k, v);
        }
        b = b.header("content-length", body.len());
        self.send(b.body(Body::from(body.to_vec())).unwrap()).await
    }
}

/// The text of the first `<name>` element of an XML answer.
fn element(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).expect("element present") + open.len();
    let end = xml[start..].find('<').unwrap() + start;
    xml[start..end].to_owned()
}

#[tokio::test]
async fn abandoned_multipart_uploads_expire() {
    // An upload never completed is reclaimed by the expirer after the TTL:
    // its marker and parts leave the segments container.
    let h = harness().await;
    assert_eq!(h.s3("PUT", "/bkt", &[], b"").await.status, StatusCode::OK);
    let created = h.s3("POST", "/bkt/k?uploads", &[], b"").await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let upload = element(&created.text(), "UploadId");
    let part = h
        .s3(
            "PUT",
            &format!("/bkt/k?partNumber=1&uploadId={upload}"),
            &[],
            b"part one",
        )
        .await;
    assert_eq!(part.status, StatusCode::OK, "{}", part.text());
    let listed = h
        .req("GET", "/v1/AUTH_test/bkt+segments", &[], b"")
        .await
        .text();
    assert_eq!(listed, format!("k/{upload}\nk/{upload}/00001\n"));

    let ttl = h.shared.cfg.s3_upload_ttl.as_secs();
    h.clock.0.fetch_add((ttl + 1) * 1_000_000, Ordering::SeqCst);
    let settled = crate::expirer::sweep(&h.shared, h.clock.now())
        .await
        .unwrap();
    assert_eq!(settled, 2);
    let token = h.login("test:tester", "testing").await;
    let after = h
        .as_token(&token, "GET", "/v1/AUTH_test/bkt+segments", &[])
        .await;
    assert_eq!(after.status, StatusCode::NO_CONTENT, "{}", after.text());
}

#[tokio::test]
async fn completed_upload_parts_outlive_the_upload_ttl() {
    // Completing an upload lifts the expiry from the parts it keeps; a sweep
    // after the TTL leaves the object whole.
    let h = harness().await;
    h.s3("PUT", "/bkt", &[], b"").await;
    let upload = element(
        &h.s3("POST", "/bkt/k?uploads", &[], b"").await.text(),
        "UploadId",
    );
    let etag = h
        .s3(
            "PUT",
            &format!("/bkt/k?partNumber=1&uploadId={upload}"),
            &[],
            b"only part",
        )
        .await
        .header("etag")
        .to_owned();
    let doc = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let done = h
        .s3(
            "POST",
            &format!("/bkt/k?uploadId={upload}"),
            &[],
            doc.as_bytes(),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    let want = format!(
        "\"{}-1\"",
        md5_hex(&hex::decode(etag.trim_matches('"')).unwrap())
    );
    assert_eq!(element(&done.text(), "ETag"), want.replace('"', "&quot;"));

    let ttl = h.shared.cfg.s3_upload_ttl.as_secs();
    h.clock.0.fetch_add((ttl + 1) * 1_000_000, Ordering::SeqCst);
    crate::expirer::sweep(&h.shared, h.clock.now())
        .await
        .unwrap();
    let token = h.login("test:tester", "testing").await;
    let got = h.as_token(&token, "GET", "/v1/AUTH_test/bkt/k", &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(&got.body[..], b"only part");
}

#[tokio::test]
async fn body_failing_its_checksum_is_not_stored() {
    // A declared CRC32C that the body does not match: BadDigest, nothing stored.
    let h = harness().await;
    h.s3("PUT", "/bkt", &[], b"").await;
    let wrong = "AAAAAA==";
    let r = h
        .s3(
            "PUT",
            "/bkt/o",
            &[("x-amz-checksum-crc32c", wrong)],
            b"payload",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(element(&r.text(), "Code"), "BadDigest");
    assert_eq!(
        h.s3("HEAD", "/bkt/o", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
}
