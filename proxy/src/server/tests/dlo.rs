//! Router-level tests of Dynamic Large Objects and of the Swift header and
//! status details matched to the functional suite.

use super::*;

/// Puts three segments `seg/a`, `seg/b`, `seg/c` in container `s` and a
/// manifest `c/man` over them; returns the concatenation.
async fn manifest_over_three_segments(h: &Harness) -> Vec<u8> {
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req("PUT", "/v1/AUTH_test/s", &[], b"").await;
    for (name, body) in [("c", b"cccc"), ("a", b"aaaa"), ("b", b"bbbb")] {
        let r = h
            .req("PUT", &format!("/v1/AUTH_test/s/seg/{name}"), &[], body)
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/man",
            &[("x-object-manifest", "s/seg/")],
            b"manifest-body",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    b"aaaabbbbcccc".to_vec()
}

fn dlo_etag(parts: &[&[u8]]) -> String {
    let joined: String = parts.iter().map(|p| md5_hex(p)).collect();
    format!("\"{}\"", md5_hex(joined.as_bytes()))
}

#[tokio::test]
async fn dlo_get_and_head_serve_the_segments_in_name_order() {
    // A manifest GET concatenates the listed segments with Swift's ETag; HEAD
    // agrees; multipart-manifest=get returns the manifest object itself.
    let h = harness().await;
    let whole = manifest_over_three_segments(&h).await;
    let etag = dlo_etag(&[b"aaaa", b"bbbb", b"cccc"]);
    let r = h.req("GET", "/v1/AUTH_test/c/man", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], &whole[..]);
    assert_eq!(r.header("etag"), etag);
    assert_eq!(r.header("content-length"), "12");
    let r = h.req("HEAD", "/v1/AUTH_test/c/man", &[], b"").await;
    assert_eq!(
        (r.header("etag"), r.header("content-length")),
        (&*etag, "12")
    );
    assert_eq!(r.header("x-object-manifest"), "s/seg/");
    let r = h
        .req(
            "GET",
            "/v1/AUTH_test/c/man?multipart-manifest=get",
            &[],
            b"",
        )
        .await;
    assert_eq!(&r.body[..], b"manifest-body");
    assert_eq!(r.header("etag"), md5_hex(b"manifest-body"));
}

#[tokio::test]
async fn dlo_ranges_and_conditions_apply_to_the_concatenation() {
    // One range spans segments (206), several are ignored (200), a range past
    // the end is a 416 naming the total, and If-Match uses the manifest ETag.
    let h = harness().await;
    let whole = manifest_over_three_segments(&h).await;
    let r = h
        .req("GET", "/v1/AUTH_test/c/man", &[("range", "bytes=2-9")], b"")
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &whole[2..10]);
    assert_eq!(r.header("content-range"), "bytes 2-9/12");
    let r = h
        .req(
            "GET",
            "/v1/AUTH_test/c/man",
            &[("range", "bytes=0-1,5-6")],
            b"",
        )
        .await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &whole[..]));
    let r = h
        .req("GET", "/v1/AUTH_test/c/man", &[("range", "bytes=20-")], b"")
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), "bytes */12");
    let etag = dlo_etag(&[b"aaaa", b"bbbb", b"cccc"]);
    let ok = h
        .req("GET", "/v1/AUTH_test/c/man", &[("if-match", &etag)], b"")
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let failed = h
        .req("GET", "/v1/AUTH_test/c/man", &[("if-match", "bogus")], b"")
        .await;
    assert_eq!(failed.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(failed.header("etag"), etag);
}

#[tokio::test]
async fn dlo_copies_take_the_content_or_the_manifest() {
    // COPY of a manifest stores the concatenation; with
    // multipart-manifest=get it stores another manifest.
    let h = harness().await;
    let whole = manifest_over_three_segments(&h).await;
    let r = h
        .req(
            "COPY",
            "/v1/AUTH_test/c/man",
            &[("destination", "c/flat")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = h
        .req(
            "GET",
            "/v1/AUTH_test/c/flat?multipart-manifest=get",
            &[],
            b"",
        )
        .await;
    assert_eq!(&r.body[..], &whole[..]);
    assert_eq!(r.header("x-object-manifest"), "");
    let r = h
        .req(
            "COPY",
            "/v1/AUTH_test/c/man?multipart-manifest=get",
            &[("destination", "c/man2")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = h.req("HEAD", "/v1/AUTH_test/c/man2", &[], b"").await;
    assert_eq!(r.header("x-object-manifest"), "s/seg/");
    let r = h.req("GET", "/v1/AUTH_test/c/man2", &[], b"").await;
    assert_eq!(&r.body[..], &whole[..]);
}

#[tokio::test]
async fn dlo_manifest_header_is_validated_and_kept_by_post() {
    // A malformed X-Object-Manifest is a 400; POST replaces it or, when
    // absent, turns the manifest back into a plain object.
    let h = harness().await;
    manifest_over_three_segments(&h).await;
    for bad in ["nocontainer", "/s/p", "s/", "s/p?x"] {
        let r = h
            .req(
                "PUT",
                "/v1/AUTH_test/c/m",
                &[("x-object-manifest", bad)],
                b"",
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = h
        .req(
            "POST",
            "/v1/AUTH_test/c/man",
            &[("x-object-manifest", "s/seg/b")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = h.req("GET", "/v1/AUTH_test/c/man", &[], b"").await;
    assert_eq!(&r.body[..], b"bbbb");
    h.req("POST", "/v1/AUTH_test/c/man", &[], b"").await;
    let r = h.req("GET", "/v1/AUTH_test/c/man", &[], b"").await;
    assert_eq!(&r.body[..], b"manifest-body");
}

#[tokio::test]
async fn swift_status_and_header_details() {
    // Failed conditions keep the object's headers, a version-only path is a
    // 412, 401s name the realm, unknown policies and bad X-If-Delete-At are 400s.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req("PUT", "/v1/AUTH_test/c/o", &[], b"body").await;
    let r = h
        .req("GET", "/v1/AUTH_test/c/o", &[("range", "bytes=9-")], b"")
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("etag"), md5_hex(b"body"));
    let r = h.req("PUT", "/v1", &[], b"").await;
    assert_eq!(
        (r.status, r.text()),
        (StatusCode::PRECONDITION_FAILED, "Bad URL".into())
    );
    let r = h.as_token("", "GET", "/v1/AUTH_x%22y/c", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), "Swift realm=\"AUTH_x%22y\"");
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/p",
            &[("x-storage-policy", "gold")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .req(
            "DELETE",
            "/v1/AUTH_test/c/o",
            &[("x-if-delete-at", "bad")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .req(
            "DELETE",
            "/v1/AUTH_test/c/o",
            &[("x-if-delete-at", "12345")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn post_content_type_reaches_the_listing_and_expired_stays_gone() {
    // A POST with Content-Type updates the listing row; a POST to an expired
    // object is a 404 and does not lift its expiry.
    let h = harness().await;
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req(
        "PUT",
        "/v1/AUTH_test/c/o",
        &[("content-type", "text/a")],
        b"x",
    )
    .await;
    h.clock.0.fetch_add(1_000_000, Ordering::SeqCst);
    let r = h
        .req(
            "POST",
            "/v1/AUTH_test/c/o",
            &[("content-type", "image/b")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = h.req("GET", "/v1/AUTH_test/c?format=json", &[], b"").await;
    assert!(
        r.text().contains("\"content_type\": \"image/b\""),
        "{}",
        r.text()
    );
    h.req("PUT", "/v1/AUTH_test/c/e", &[("x-delete-after", "5")], b"x")
        .await;
    h.clock.0.fetch_add(6_000_000, Ordering::SeqCst);
    let r = h.req("POST", "/v1/AUTH_test/c/e", &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h.req("GET", "/v1/AUTH_test/c/e", &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
