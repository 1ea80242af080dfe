//! S3 requests through the whole proxy over the fakes: what only a fake
//! clock can show (abandoned multipart uploads expiring), what a fault
//! must never do (a body failing its digest is never stored), and the
//! answers Swift's s3api functional suite pins down that the real clients
//! do not exercise (part reads, repeated completions, version listings,
//! refused encryption). The real clients cover the rest
//! (tests/tests/s3_clients.rs).

use super::*;
use crate::s3::auth::testkit::{Signer, ACCESS_KEY, SECRET};

/// `NOW_SECS` as an `X-Amz-Date`.
const NOW_AMZ: &str = "20231114T221320Z";

impl Harness {
    /// An S3 request signed (SigV4, signed payload) with the S3 key of test:tester.
    async fn s3(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        self.s3_as((ACCESS_KEY, SECRET), method, target, headers, body)
            .await
    }

    /// The same, signed with `key`'s (access key, secret).
    async fn s3_as(
        &self,
        key: (&str, &str),
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
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
            access_key: key.0,
            secret: key.1,
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

/// Starts an upload of `key` in `bkt`, uploads `parts` and completes it
/// with them; returns the upload id, the parts' ETags and the completion.
async fn multipart(h: &Harness, key: &str, parts: &[&[u8]]) -> (String, Vec<String>, Resp) {
    let created = h.s3("POST", &format!("/bkt/{key}?uploads"), &[], b"").await;
    let upload = element(&created.text(), "UploadId");
    let mut etags = Vec::new();
    for (i, body) in parts.iter().enumerate() {
        let target = format!("/bkt/{key}?partNumber={}&uploadId={upload}", i + 1);
        etags.push(
            h.s3("PUT", &target, &[], body)
                .await
                .header("etag")
                .to_owned(),
        );
    }
    let done = complete(h, key, &upload, &etags, &[]).await;
    (upload, etags, done)
}

/// CompleteMultipartUpload choosing parts 1.. with `etags`.
async fn complete(
    h: &Harness,
    key: &str,
    upload: &str,
    etags: &[String],
    headers: &[(&str, &str)],
) -> Resp {
    let parts: String = etags
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{e}</ETag></Part>",
                i + 1
            )
        })
        .collect();
    let doc = format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
    let target = format!("/bkt/{key}?uploadId={upload}");
    h.s3("POST", &target, headers, doc.as_bytes()).await
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
async fn parts_of_a_replaced_upload_are_reclaimed_and_live_uploads_kept() {
    // Key k is completed from upload A, then again from upload B (A's parts
    // go, B's stay), then overwritten by a plain PUT (B's go). An upload in
    // progress for k and the parts of key "k/x" are never touched.
    let h = harness().await;
    h.s3("PUT", "/bkt", &[], b"").await;
    let segments = || async {
        h.req("GET", "/v1/AUTH_test/bkt+segments", &[], b"")
            .await
            .text()
    };
    let (a, _, done) = multipart(&h, "k", &[b"first"]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    let (other, _, _) = multipart(&h, "k/x", &[b"other key"]).await;
    let open = element(
        &h.s3("POST", "/bkt/k?uploads", &[], b"").await.text(),
        "UploadId",
    );
    h.s3(
        "PUT",
        &format!("/bkt/k?partNumber=1&uploadId={open}"),
        &[],
        b"in progress",
    )
    .await;
    // Each write is a second later (the fake clock stands still otherwise).
    let tick = || h.clock.0.fetch_add(1_000_000, Ordering::SeqCst);
    tick();
    let (b, _, done) = multipart(&h, "k", &[b"second"]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    let listed = segments().await;
    assert!(!listed.contains(&format!("k/{a}/")), "{listed}");
    assert!(listed.contains(&format!("k/{b}/00001")), "{listed}");

    tick();
    let put = h.s3("PUT", "/bkt/k", &[], b"plain").await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text());
    let mut want = [
        format!("k/x/{other}/00001"),
        format!("k/{open}"),
        format!("k/{open}/00001"),
    ];
    want.sort();
    assert_eq!(segments().await, want.join("\n") + "\n");
    let got = h.s3("GET", "/bkt/k/x", &[], b"").await;
    assert_eq!(&got.body[..], b"other key");
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

#[tokio::test]
async fn a_part_number_reads_one_part() {
    // partNumber reads one part of a multipart object (206, its range, the
    // parts count); an object in one piece is its own part 1; a part past
    // the last is InvalidPartNumber (416); with a Range it is refused.
    let h = harness().await;
    h.s3("PUT", "/bkt", &[], b"").await;
    let (_, _, done) = multipart(&h, "mpu", &[b"only part"]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    let part = h.s3("GET", "/bkt/mpu?partNumber=1", &[], b"").await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT, "{}", part.text());
    assert_eq!(&part.body[..], b"only part");
    assert_eq!(part.header("content-range"), "bytes 0-8/9");
    assert_eq!(part.header("x-amz-mp-parts-count"), "1");
    let past = h.s3("GET", "/bkt/mpu?partNumber=2", &[], b"").await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(element(&past.text(), "Code"), "InvalidPartNumber");

    h.s3("PUT", "/bkt/plain", &[], b"non-mpu-object").await;
    let whole = h.s3("HEAD", "/bkt/plain?partNumber=1", &[], b"").await;
    assert_eq!(whole.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(whole.header("content-range"), "bytes 0-13/14");
    assert_eq!(whole.header("content-length"), "14");
    let past = h.s3("GET", "/bkt/plain?partNumber=4", &[], b"").await;
    assert_eq!(element(&past.text(), "Code"), "InvalidPartNumber");
    for bad in ["0", "10001"] {
        let r = h
            .s3("GET", &format!("/bkt/plain?partNumber={bad}"), &[], b"")
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(element(&r.text(), "ArgumentName"), "partNumber");
    }
    let ranged = h
        .s3(
            "GET",
            "/bkt/plain?partNumber=1",
            &[("range", "bytes=1-2")],
            b"",
        )
        .await;
    assert_eq!(ranged.status, StatusCode::BAD_REQUEST);
    assert!(ranged
        .text()
        .contains("Cannot specify both Range header and partNumber"));
}

#[tokio::test]
async fn completing_an_upload_again_answers_as_the_first_time() {
    // A repeated completion with the same parts is a 200 with the same ETag;
    // with other parts the upload is gone; If-None-Match: * refuses to
    // complete over an existing object.
    let h = harness().await;
    h.s3("PUT", "/bkt", &[], b"").await;
    let (upload, etags, first) = multipart(&h, "k", &[b"one"]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let again = complete(&h, "k", &upload, &etags, &[("if-none-match", "*")]).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(
        element(&again.text(), "ETag"),
        element(&first.text(), "ETag")
    );
    let other = [etags[0].clone(), etags[0].clone()];
    let gone = complete(&h, "k", &upload, &other, &[]).await;
    assert_eq!(element(&gone.text(), "Code"), "NoSuchUpload");

    let created = h.s3("POST", "/bkt/k?uploads", &[], b"").await;
    let second = element(&created.text(), "UploadId");
    let target = format!("/bkt/k?partNumber=1&uploadId={second}");
    let etag = h
        .s3("PUT", &target, &[], b"two")
        .await
        .header("etag")
        .to_owned();
    let refused = complete(&h, "k", &second, &[etag], &[("if-none-match", "*")]).await;
    assert_eq!(
        refused.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        refused.text()
    );
    let kept = h.s3("GET", "/bkt/k", &[], b"").await;
    assert_eq!(&kept.body[..], b"one");
}

#[tokio::test]
async fn versions_list_every_object_as_its_null_version() {
    // ListObjectVersions on a bucket without versioning: each object once,
    // version `null`, latest; DeleteObjects naming version `null` deletes it.
    let h = harness().await;
    h.s3("PUT", "/bkt", &[], b"").await;
    h.s3("PUT", "/bkt/a", &[], b"1").await;
    h.s3("PUT", "/bkt/b", &[], b"22").await;
    let listed = h.s3("GET", "/bkt?versions&max-keys=1", &[], b"").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    let xml = listed.text();
    assert_eq!(element(&xml, "Key"), "a");
    assert_eq!(element(&xml, "VersionId"), "null");
    assert_eq!(element(&xml, "IsLatest"), "true");
    assert_eq!(element(&xml, "NextKeyMarker"), "a");
    let rest = h
        .s3(
            "GET",
            "/bkt?versions&key-marker=a&version-id-marker=null",
            &[],
            b"",
        )
        .await;
    assert_eq!(element(&rest.text(), "Key"), "b");
    let bogus = h
        .s3("GET", "/bkt?versions&version-id-marker=null", &[], b"")
        .await;
    assert_eq!(bogus.status, StatusCode::BAD_REQUEST);

    let doc = b"<Delete><Object><Key>a</Key><VersionId>null</VersionId></Object></Delete>";
    let md5 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        <md5::Md5 as md5::Digest>::digest(doc),
    );
    let deleted = h
        .s3("POST", "/bkt?delete", &[("content-md5", &md5)], doc)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text());
    assert_eq!(
        h.s3("HEAD", "/bkt/a", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
    let unverified = h.s3("POST", "/bkt?delete", &[], doc).await;
    assert_eq!(unverified.status, StatusCode::BAD_REQUEST);
    assert!(unverified
        .text()
        .contains("Content-MD5 OR x-amz-checksum-*"));
}

#[tokio::test]
async fn listing_buckets_is_the_account_owners() {
    // As a Swift GET of the account: a user without the account's admin
    // rights cannot list its buckets through S3 either.
    let h = harness().await;
    h.s3("PUT", "/bkt", &[], b"").await;
    let owner = h
        .s3_as(("test:tester", "testing"), "GET", "/", &[], b"")
        .await;
    assert_eq!(owner.status, StatusCode::OK);
    assert_eq!(element(&owner.text(), "Name"), "bkt");
    let user = h
        .s3_as(("test:tester3", "testing3"), "GET", "/", &[], b"")
        .await;
    assert_eq!(user.status, StatusCode::FORBIDDEN, "{}", user.text());
    assert_eq!(element(&user.text(), "Code"), "AccessDenied");
}

#[tokio::test]
async fn writes_asking_for_encryption_are_refused() {
    // Objects are stored unencrypted: SSE is NotImplemented (an unknown
    // method InvalidArgument), and nothing is stored; the refusal closes
    // the connection, whose body is unread.
    let h = harness().await;
    h.s3("PUT", "/bkt", &[], b"").await;
    let sse = [("x-amz-server-side-encryption", "AES256")];
    let r = h.s3("PUT", "/bkt/o", &sse, b"secret").await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    // Refused before its body was read, the request ends its connection.
    assert_eq!(r.header("connection"), "close");
    let bogus = [("x-amz-server-side-encryption", "rot13")];
    let r = h.s3("PUT", "/bkt/o", &bogus, b"secret").await;
    assert_eq!(element(&r.text(), "Code"), "InvalidArgument");
    assert_eq!(
        h.s3("HEAD", "/bkt/o", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
}
