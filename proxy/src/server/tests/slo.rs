//! Router-level tests of Static Large Objects: manifest PUT and its
//! validation, GET/HEAD with ranges, part numbers and conditions, nested
//! manifests, the manifest views, multipart delete, copies, POST, and the
//! crate-internal `put_manifest`.

use super::*;
use crate::server::slo::{put_manifest, SegmentRef};
use serde_json::Value;

const A: &[u8] = b"aaaa";
const B: &[u8] = b"bbbbbb";
const C: &[u8] = b"cc";

/// Containers `c` (manifests) and `s` (segments `a`, `b`, `c`).
async fn segments(h: &Harness) {
    h.req("PUT", "/v1/AUTH_test/c", &[], b"").await;
    h.req("PUT", "/v1/AUTH_test/s", &[], b"").await;
    for (name, body) in [("a", A), ("b", B), ("c", C)] {
        let r = h
            .req("PUT", &format!("/v1/AUTH_test/s/{name}"), &[], body)
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
}

async fn put_slo(h: &Harness, path: &str, manifest: &str) -> Resp {
    let url = format!("/v1/AUTH_test/{path}?multipart-manifest=put");
    h.req("PUT", &url, &[], manifest.as_bytes()).await
}

fn quoted_md5(s: &str) -> String {
    format!("\"{}\"", md5_hex(s.as_bytes()))
}

fn json(r: &Resp) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// The listing row of `name` in container `c`.
async fn listed(h: &Harness, container: &str, name: &str) -> Value {
    let r = h
        .req(
            "GET",
            &format!("/v1/AUTH_test/{container}?format=json"),
            &[],
            b"",
        )
        .await;
    let rows = json(&r);
    rows.as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} not listed: {rows}"))
}

/// `[a, b[1-3], data "xy", c]`; returns its SLO ETag (quoted) and content.
async fn mixed_manifest(h: &Harness) -> (String, Vec<u8>) {
    segments(h).await;
    let manifest = format!(
        r#"[{{"path": "/s/a", "etag": "{}", "size_bytes": 4}},
            {{"path": "s/b", "range": "1-3"}},
            {{"data": "eHk="}},
            {{"path": "/s/c", "etag": null, "size_bytes": null}}]"#,
        md5_hex(A)
    );
    let r = put_slo(h, "c/m", &manifest).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let parts = format!(
        "{}{}:1-3;{}{}",
        md5_hex(A),
        md5_hex(B),
        md5_hex(b"xy"),
        md5_hex(C)
    );
    (quoted_md5(&parts), b"aaaabbbxycc".to_vec())
}

#[tokio::test]
async fn slo_put_stores_the_resolved_manifest_and_get_serves_the_concatenation() {
    // The PUT answers the SLO ETag; GET/HEAD serve the segments with it and
    // the total length; sysmeta stays hidden; /info advertises slo.
    let h = harness().await;
    let (etag, whole) = mixed_manifest(&h).await;
    let r = h.req("GET", "/v1/AUTH_test/c/m", &[], b"").await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &whole[..]));
    assert_eq!(r.header("etag"), etag);
    assert_eq!(r.header("content-length"), "11");
    assert_eq!(r.header("x-static-large-object"), "True");
    assert!(r
        .headers
        .keys()
        .all(|k| !k.as_str().starts_with("x-object-sysmeta")));
    let stored = h
        .req("GET", "/v1/AUTH_test/c/m?multipart-manifest=get", &[], b"")
        .await;
    assert_eq!(r.header("x-manifest-etag"), md5_hex(&stored.body));
    let head = h.req("HEAD", "/v1/AUTH_test/c/m", &[], b"").await;
    assert_eq!(
        (
            head.status,
            head.header("etag"),
            head.header("content-length")
        ),
        (StatusCode::OK, &*etag, "11")
    );
    let info = h.req("GET", "/info", &[], b"").await;
    let slo = &json(&info)["slo"];
    assert_eq!(
        (
            slo["max_manifest_segments"].as_u64(),
            slo["min_segment_size"].as_u64()
        ),
        (Some(1000), Some(1))
    );
    assert_eq!(slo["max_manifest_size"].as_u64(), Some(8 * 1024 * 1024));
}

#[tokio::test]
async fn slo_manifest_views_and_listing_row() {
    // multipart-manifest=get shows the stored JSON, format=raw the PUT input;
    // the listing row shows the total, the manifest's md5 and the SLO ETag.
    let h = harness().await;
    let (etag, _) = mixed_manifest(&h).await;
    let r = h
        .req("GET", "/v1/AUTH_test/c/m?multipart-manifest=get", &[], b"")
        .await;
    assert_eq!(r.header("content-type"), "application/json; charset=utf-8");
    assert_eq!(r.header("etag"), md5_hex(&r.body));
    let m = json(&r);
    assert_eq!(m[0]["name"], "/s/a");
    assert_eq!(m[0]["bytes"], 4);
    assert_eq!(m[0]["hash"], md5_hex(A));
    assert_eq!(m[0]["content_type"], "application/octet-stream");
    assert_eq!(m[0]["last_modified"], "2023-11-14T22:13:20.000000");
    assert_eq!(
        (m[1]["name"].as_str(), m[1]["range"].as_str()),
        (Some("/s/b"), Some("1-3"))
    );
    assert_eq!(m[2]["data"], "eHk=");
    let manifest_md5 = md5_hex(&r.body);
    let manifest_len = r.body.len() as u64;
    let raw = h
        .req(
            "GET",
            "/v1/AUTH_test/c/m?multipart-manifest=get&format=raw",
            &[],
            b"",
        )
        .await;
    assert_eq!(raw.header("etag"), md5_hex(&raw.body));
    assert_eq!(raw.header("content-type"), "application/octet-stream");
    let raw = json(&raw);
    assert_eq!(
        raw[1],
        serde_json::json!({"etag": md5_hex(B), "path": "/s/b", "range": "1-3", "size_bytes": 6})
    );
    let row = listed(&h, "c", "m").await;
    assert_eq!(row["bytes"], 11);
    assert_eq!(row["hash"], manifest_md5);
    assert_eq!(row["slo_etag"], etag);
    assert_eq!(row["content_type"], "application/octet-stream");
    let c = h.req("HEAD", "/v1/AUTH_test/c", &[], b"").await;
    assert_eq!(c.header("x-container-bytes-used"), manifest_len.to_string());
}

#[tokio::test]
async fn slo_put_lists_every_bad_segment_in_swifts_errors_body() {
    // Missing and mismatched segments are a 400 listing each (text or JSON);
    // nothing is stored; a wrong client ETag is a 422.
    let h = harness().await;
    segments(&h).await;
    let manifest = r#"[{"path": "/s/missing"}, {"path": "/s/a", "etag": "nope", "size_bytes": 5},
                       {"path": "/s/b", "range": "10-"}, {"path": "/nope/x"}]"#;
    let r = put_slo(&h, "c/bad", manifest).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text(),
        "Errors:\n/s/missing, 404 Not Found\n/s/a, Size Mismatch\n/s/a, Etag Mismatch\n\
         /s/b, Unsatisfiable Range\n/nope/x, 404 Not Found\n"
    );
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/bad?multipart-manifest=put",
            &[("accept", "application/json")],
            manifest.as_bytes(),
        )
        .await;
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(
        json(&r)["Errors"][0],
        serde_json::json!(["/s/missing", "404 Not Found"])
    );
    let r = h.req("GET", "/v1/AUTH_test/c/bad", &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/bad?multipart-manifest=put",
            &[("etag", "\"0123\"")],
            br#"[{"path": "/s/a"}]"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = put_slo(&h, "c/bad", r#"[{"path": "/s/a", "siz_bytes": 1}]"#).await;
    assert_eq!(
        (r.status, r.text()),
        (
            StatusCode::BAD_REQUEST,
            "Index 0: extraneous keys \"siz_bytes\"\n".into()
        )
    );
    let r = put_slo(&h, "s/a", r#"[{"path": "/s/b"}, {"path": "/s/a"}]"#).await;
    assert_eq!(
        r.text(),
        "Index 1: manifest must not include itself as a segment\n"
    );
}

#[tokio::test]
async fn slo_put_limits_and_reserved_header() {
    // Over 1000 segments is a 413, a copy a 405, and X-Static-Large-Object
    // outside a manifest PUT a 400.
    let h = harness().await;
    segments(&h).await;
    let many = format!("[{}]", vec![r#"{"path": "/s/a"}"#; 1001].join(","));
    let r = put_slo(&h, "c/m", &many).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/m?multipart-manifest=put",
            &[("x-copy-from", "s/a"), ("content-length", "0")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    for method in ["PUT", "POST"] {
        let r = h
            .req(
                method,
                "/v1/AUTH_test/s/a",
                &[("x-static-large-object", "True")],
                b"x",
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method}");
        assert!(r
            .text()
            .starts_with("X-Static-Large-Object is a reserved header"));
    }
    let r = h.req("GET", "/v1/AUTH_test/s/a", &[], b"").await;
    assert_eq!(&r.body[..], A);
}

#[tokio::test]
async fn slo_ranges_and_conditions_apply_to_the_concatenation() {
    // One range spans segments, several come as multipart/byteranges, a range
    // past the end is a 416, and conditions use the SLO ETag.
    let h = harness().await;
    let (etag, whole) = mixed_manifest(&h).await;
    let r = h
        .req("GET", "/v1/AUTH_test/c/m", &[("range", "bytes=2-8")], b"")
        .await;
    assert_eq!(
        (r.status, &r.body[..]),
        (StatusCode::PARTIAL_CONTENT, &whole[2..9])
    );
    assert_eq!(r.header("content-range"), "bytes 2-8/11");
    let r = h
        .req(
            "GET",
            "/v1/AUTH_test/c/m",
            &[("range", "bytes=0-1,-2")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert!(r
        .header("content-type")
        .starts_with("multipart/byteranges;boundary="));
    let text = r.text();
    assert!(
        text.contains("Content-Range: bytes 0-1/11\r\n\r\naa\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 9-10/11\r\n\r\ncc\r\n"),
        "{text}"
    );
    assert_eq!(r.header("content-length"), r.body.len().to_string());
    let r = h
        .req("GET", "/v1/AUTH_test/c/m", &[("range", "bytes=11-")], b"")
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        (r.header("content-range"), r.header("etag")),
        ("bytes */11", &*etag)
    );
    for (cond, value, status) in [
        ("if-match", etag.as_str(), StatusCode::OK),
        ("if-match", "\"other\"", StatusCode::PRECONDITION_FAILED),
        ("if-none-match", etag.as_str(), StatusCode::NOT_MODIFIED),
    ] {
        for method in ["GET", "HEAD"] {
            let r = h
                .req(method, "/v1/AUTH_test/c/m", &[(cond, value)], b"")
                .await;
            assert_eq!(r.status, status, "{method} {cond}: {value}");
            assert_eq!(r.header("etag"), etag);
        }
    }
}

#[tokio::test]
async fn slo_part_numbers_serve_one_entry() {
    // part-number serves one entry with a 206; past the last part is a 416,
    // zero or a Range with it a 400.
    let h = harness().await;
    mixed_manifest(&h).await;
    let r = h
        .req("GET", "/v1/AUTH_test/c/m?part-number=2", &[], b"")
        .await;
    assert_eq!(
        (r.status, &r.body[..]),
        (StatusCode::PARTIAL_CONTENT, &b"bbb"[..])
    );
    assert_eq!(
        (r.header("content-range"), r.header("x-parts-count")),
        ("bytes 4-6/11", "4")
    );
    let r = h
        .req("HEAD", "/v1/AUTH_test/c/m?part-number=4", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        (r.header("content-length"), r.header("content-range")),
        ("2", "bytes 9-10/11")
    );
    let r = h
        .req("GET", "/v1/AUTH_test/c/m?part-number=5", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.text(), "The requested part number is not satisfiable");
    assert_eq!(
        (r.header("content-range"), r.header("x-parts-count")),
        ("bytes */11", "4")
    );
    let r = h
        .req("GET", "/v1/AUTH_test/c/m?part-number=0", &[], b"")
        .await;
    assert_eq!(
        (r.status, r.text()),
        (
            StatusCode::BAD_REQUEST,
            "Part number must be an integer greater than 0".into()
        )
    );
    let r = h
        .req(
            "GET",
            "/v1/AUTH_test/c/m?part-number=1",
            &[("range", "bytes=0-1")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn nested_slos_are_expanded_to_their_recursion_limit() {
    // A ranged sub-SLO contributes its bytes and `etag:range;`; nesting past
    // ten levels makes the GET a 409.
    let h = harness().await;
    segments(&h).await;
    let r = put_slo(&h, "c/inner", r#"[{"path": "/s/a"}, {"path": "/s/b"}]"#).await;
    let inner_etag = r.header("etag").trim_matches('"').to_owned();
    let r = put_slo(
        &h,
        "c/outer",
        r#"[{"path": "/c/inner", "range": "2-7"}, {"path": "/s/c"}]"#,
    )
    .await;
    assert_eq!(
        r.header("etag"),
        quoted_md5(&format!("{inner_etag}:2-7;{}", md5_hex(C)))
    );
    let r = h.req("GET", "/v1/AUTH_test/c/outer", &[], b"").await;
    assert_eq!(&r.body[..], b"aabbbbcc");
    let r = h
        .req(
            "GET",
            "/v1/AUTH_test/c/outer",
            &[("range", "bytes=1-2")],
            b"",
        )
        .await;
    assert_eq!(&r.body[..], b"ab");
    let m = json(
        &h.req(
            "GET",
            "/v1/AUTH_test/c/outer?multipart-manifest=get",
            &[],
            b"",
        )
        .await,
    );
    assert_eq!(
        (m[0]["sub_slo"].as_bool(), m[0]["bytes"].as_u64()),
        (Some(true), Some(10))
    );
    assert_eq!(m[0]["hash"], inner_etag);
    put_slo(&h, "c/n0", r#"[{"path": "/s/a"}]"#).await;
    for i in 1..=10 {
        let r = put_slo(
            &h,
            &format!("c/n{i}"),
            &format!(r#"[{{"path": "/c/n{}"}}]"#, i - 1),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = h.req("GET", "/v1/AUTH_test/c/n9", &[], b"").await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, A));
    let r = h.req("GET", "/v1/AUTH_test/c/n10", &[], b"").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn changed_segments_conflict_first_and_cut_the_body_later() {
    // A missing first segment is a 409; a later segment that changed since
    // the PUT cuts the body after the status went out.
    let h = harness().await;
    segments(&h).await;
    put_slo(&h, "c/m", r#"[{"path": "/s/a"}, {"path": "/s/b"}]"#).await;
    h.req("DELETE", "/v1/AUTH_test/s/a", &[], b"").await;
    let r = h.req("GET", "/v1/AUTH_test/c/m", &[], b"").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    h.clock.0.fetch_add(1_000_000, Ordering::SeqCst);
    h.req("PUT", "/v1/AUTH_test/s/a", &[], A).await;
    h.req("PUT", "/v1/AUTH_test/s/b", &[], b"BBBBBB").await;
    let r = h.req("GET", "/v1/AUTH_test/c/m", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), "10");
    assert!(r.body.len() < 10, "a cut body, not {:?}", r.body);
}

#[tokio::test]
async fn slo_segments_are_read_with_the_requesters_rights() {
    // A reader of the manifest's container who may not read the segments'
    // container gets a 409; once allowed there too, the content.
    let h = harness().await;
    segments(&h).await;
    put_slo(&h, "c/m", r#"[{"path": "/s/a"}]"#).await;
    h.req(
        "POST",
        "/v1/AUTH_test/c",
        &[("x-container-read", "test:tester3")],
        b"",
    )
    .await;
    let t3 = h.login("test:tester3", "testing3").await;
    let r = h.as_token(&t3, "GET", "/v1/AUTH_test/c/m", &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    h.req(
        "POST",
        "/v1/AUTH_test/s",
        &[("x-container-read", "test:tester3")],
        b"",
    )
    .await;
    let r = h.as_token(&t3, "GET", "/v1/AUTH_test/c/m", &[]).await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, A));
}

#[tokio::test]
async fn multipart_delete_removes_segments_then_the_manifest() {
    // Every segment, sub-manifest and the manifest go, with a bulk-delete
    // report; a missing manifest counts as not found, a plain object is refused.
    let h = harness().await;
    segments(&h).await;
    put_slo(&h, "c/inner", r#"[{"path": "/s/a"}, {"path": "/s/b"}]"#).await;
    put_slo(
        &h,
        "c/outer",
        r#"[{"path": "/c/inner"}, {"data": "eHk="}, {"path": "/s/c"}]"#,
    )
    .await;
    let accept = [("accept", "application/json")];
    let r = h
        .req(
            "DELETE",
            "/v1/AUTH_test/c/outer?multipart-manifest=delete",
            &accept,
            b"",
        )
        .await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (StatusCode::OK, "application/json")
    );
    assert_eq!(
        json(&r),
        serde_json::json!({"Response Status": "200 OK", "Response Body": "", "Number Deleted": 5,
                           "Number Not Found": 0, "Errors": []})
    );
    for c in ["c", "s"] {
        let r = h.req("GET", &format!("/v1/AUTH_test/{c}"), &[], b"").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{c}: {}", r.text());
    }
    let r = h
        .req(
            "DELETE",
            "/v1/AUTH_test/c/outer?multipart-manifest=delete",
            &[],
            b"",
        )
        .await;
    assert_eq!(
        r.text(),
        "Number Deleted: 0\nNumber Not Found: 1\nResponse Body: \nResponse Status: 200 OK\nErrors:\n"
    );
    h.req("PUT", "/v1/AUTH_test/c/plain", &[], b"x").await;
    let r = h
        .req(
            "DELETE",
            "/v1/AUTH_test/c/plain?multipart-manifest=delete",
            &accept,
            b"",
        )
        .await;
    let report = json(&r);
    assert_eq!(report["Response Status"], "400 Bad Request");
    assert_eq!(
        report["Errors"],
        serde_json::json!([["/c/plain", "Not an SLO manifest"]])
    );
}

#[tokio::test]
async fn slo_copies_take_the_concatenation_a_part_or_the_manifest() {
    // COPY stores the content (or one part); with multipart-manifest=get it
    // writes a manifest again, validated in the destination.
    let h = harness().await;
    let (etag, whole) = mixed_manifest(&h).await;
    let r = h
        .req(
            "COPY",
            "/v1/AUTH_test/c/m",
            &[("destination", "c/flat")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = h.req("GET", "/v1/AUTH_test/c/flat", &[], b"").await;
    assert_eq!(
        (&r.body[..], r.header("x-static-large-object")),
        (&whole[..], "")
    );
    assert_eq!(r.header("etag"), md5_hex(&whole));
    let r = h
        .req(
            "COPY",
            "/v1/AUTH_test/c/m?part-number=2",
            &[("destination", "c/part")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        &h.req("GET", "/v1/AUTH_test/c/part", &[], b"").await.body[..],
        b"bbb"
    );
    let r = h
        .req(
            "PUT",
            "/v1/AUTH_test/c/m2?multipart-manifest=get",
            &[("x-copy-from", "c/m"), ("content-length", "0")],
            b"",
        )
        .await;
    assert_eq!((r.status, r.header("etag")), (StatusCode::CREATED, &*etag));
    assert_eq!(r.header("x-copied-from"), "c/m");
    let get = |p: &'static str| h.req("GET", p, &[], b"");
    assert_eq!(
        get("/v1/AUTH_test/c/m2?multipart-manifest=get").await.body,
        get("/v1/AUTH_test/c/m?multipart-manifest=get").await.body
    );
    assert_eq!(&get("/v1/AUTH_test/c/m2").await.body[..], &whole[..]);
}

#[tokio::test]
async fn post_keeps_the_manifest_and_its_listing_row() {
    // A POST replaces user metadata and content type but the object stays an
    // SLO, and its listing row keeps the total and the SLO ETag.
    let h = harness().await;
    let (etag, whole) = mixed_manifest(&h).await;
    h.clock.0.fetch_add(1_000_000, Ordering::SeqCst);
    let r = h
        .req(
            "POST",
            "/v1/AUTH_test/c/m",
            &[("content-type", "image/jpeg"), ("x-object-meta-k", "v")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = h.req("GET", "/v1/AUTH_test/c/m", &[], b"").await;
    assert_eq!(
        (&r.body[..], r.header("etag"), r.header("x-object-meta-k")),
        (&whole[..], &*etag, "v")
    );
    let row = listed(&h, "c", "m").await;
    assert_eq!(
        (row["bytes"].as_u64(), row["content_type"].as_str()),
        (Some(11), Some("image/jpeg"))
    );
    assert_eq!(row["slo_etag"], etag);
}

#[tokio::test]
async fn heartbeat_put_answers_202_then_the_report() {
    // With heartbeat=on the answer is a 202 whose body is whitespace, a
    // blank line and the report of the real outcome.
    let h = harness().await;
    segments(&h).await;
    let put = |body: &'static [u8]| {
        h.req(
            "PUT",
            "/v1/AUTH_test/c/hb?multipart-manifest=put&heartbeat=on",
            &[("accept", "application/json")],
            body,
        )
    };
    let r = put(br#"[{"path": "/s/a"}]"#).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let (beat, report) = r
        .text()
        .split_once("\r\n\r\n")
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    assert_eq!(beat, " ");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["Response Status"], "201 Created");
    assert_eq!(report["Etag"], quoted_md5(&md5_hex(A)));
    let r = put(br#"[{"path": "/s/none"}]"#).await;
    let report: Value = serde_json::from_str(r.text().split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(report["Response Status"], "400 Bad Request");
    assert_eq!(
        report["Errors"],
        serde_json::json!([["/s/none", "404 Not Found"]])
    );
}

#[tokio::test]
async fn put_manifest_writes_a_manifest_swift_serves_whole() {
    // The crate-internal writer stores the segments as given, keeps the extra
    // headers (sysmeta hidden, surviving a POST) and GET serves the concatenation.
    let h = harness().await;
    segments(&h).await;
    let ctx = Ctx {
        method: http::Method::PUT,
        headers: HeaderMap::new(),
        params: Vec::new(),
        now: h.shared.clock.now(),
        id: None,
        etag_is_at: None,
    };
    let obj = ObjectPath {
        account: "AUTH_test".into(),
        container: "c".into(),
        object: "mpu".into(),
    };
    let seg = |o: &str, body: &[u8]| SegmentRef {
        container: "s".into(),
        object: o.into(),
        etag: md5_hex(body),
        size: body.len() as u64,
    };
    let extra = vec![
        ("x-object-sysmeta-s3api-etag".to_owned(), "abc-2".to_owned()),
        ("x-object-meta-k".to_owned(), "v".to_owned()),
    ];
    let meta = put_manifest(
        &h.shared,
        &ctx,
        &obj,
        vec![seg("b", B), seg("a", A)],
        extra,
        "text/plain".into(),
    )
    .await
    .unwrap()
    .expect("nothing newer was there");
    assert_eq!(meta.header("x-object-sysmeta-s3api-etag"), Some("abc-2"));
    assert_eq!(meta.data_ts, ctx.now);
    let etag = quoted_md5(&format!("{}{}", md5_hex(B), md5_hex(A)));
    let r = h.req("GET", "/v1/AUTH_test/c/mpu", &[], b"").await;
    assert_eq!(
        (&r.body[..], r.header("etag")),
        (&b"bbbbbbaaaa"[..], &*etag)
    );
    assert_eq!(
        (
            r.header("x-object-meta-k"),
            r.header("x-object-sysmeta-s3api-etag")
        ),
        ("v", "")
    );
    assert_eq!(listed(&h, "c", "mpu").await["slo_etag"], etag);
    h.clock.0.fetch_add(1_000_000, Ordering::SeqCst);
    h.req("POST", "/v1/AUTH_test/c/mpu", &[], b"").await;
    let stored = h
        .node
        .head(DeviceId(1), h.key("AUTH_test/c/mpu"))
        .await
        .unwrap();
    assert_eq!(stored.header("x-object-sysmeta-s3api-etag"), Some("abc-2"));
    assert_eq!(stored.header("x-object-meta-k"), None);
    let r = h.req("GET", "/v1/AUTH_test/c/mpu", &[], b"").await;
    assert_eq!(&r.body[..], b"bbbbbbaaaa");
}
