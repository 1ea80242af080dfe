//! Tests of SigV2 parsing and verification: AWS's documented examples (the
//! `johnsmith` ones, whose signatures match the documented secret), timing,
//! tampering, every refusal, and garbage that must not panic.

use super::*;
use crate::s3::auth::signed::{parse, SignedRequest};
use crate::s3::auth::testkit::{request, seeded_runner, sign_v2, ACCESS_KEY, SECRET};
use crate::s3::auth::timestamp::http_date_secs;
use crate::s3::auth::ChunkMode;
use proptest::prelude::*;

const GET_DATE: &str = "Tue, 27 Mar 2007 19:36:42 +0000";
const GET_SIG: &str = "bWq2s1WEIj+Ydj0vQ697zp+IXMU=";

/// The SigV2 request `parse` reads, or its error.
fn parse_v2(uri: &Uri, h: &HeaderMap, bucket: Option<&str>) -> Result<SigV2Request, AuthError> {
    match parse(uri, h, bucket)? {
        Some(SignedRequest::V2(r)) => Ok(r),
        other => panic!("not SigV2: {other:?}"),
    }
}

/// Parses and verifies with the examples' secret at `now`.
fn check(
    method: &str,
    target: &str,
    bucket: Option<&str>,
    headers: &[(&str, &str)],
    now: u64,
) -> Result<Verified, AuthError> {
    let (m, uri, h) = request(method, target, headers);
    parse_v2(&uri, &h, bucket)?.verify(SECRET, &m, &uri, &h, now)
}

fn authorization(signature: &str) -> String {
    format!("AWS {ACCESS_KEY}:{signature}")
}

fn secs(date: &str) -> u64 {
    http_date_secs(date).unwrap()
}

/// A GET of `target` (virtual-hosted `johnsmith` when `bucket`) signed over
/// the written-out `string_to_sign`, dated `GET_DATE`.
fn signed_get(target: &str, string_to_sign: &str) -> (Method, Uri, HeaderMap) {
    let a = authorization(&sign_v2(string_to_sign));
    request("GET", target, &[("date", GET_DATE), ("authorization", &a)])
}

fn verify_at(
    req: &(Method, Uri, HeaderMap),
    bucket: Option<&str>,
    now: u64,
) -> Result<Verified, AuthError> {
    let (m, uri, h) = req;
    parse_v2(uri, h, bucket)?.verify(SECRET, m, uri, h, now)
}

#[test]
fn aws_example_object_get_signs_the_virtual_host_bucket() {
    // "Object GET": /johnsmith/photos/puppy.jpg is signed; the same path-style request verifies too.
    let a = authorization(GET_SIG);
    let headers = [
        ("host", "johnsmith.s3.amazonaws.com"),
        ("date", GET_DATE),
        ("authorization", a.as_str()),
    ];
    let now = secs(GET_DATE);
    let v = check("GET", "/photos/puppy.jpg", Some("johnsmith"), &headers, now).unwrap();
    assert_eq!((v.chunk_signing, v.payload), (None, Payload::Unsigned));
    for path_style in [None, Some("")] {
        check(
            "GET",
            "/johnsmith/photos/puppy.jpg",
            path_style,
            &headers,
            now,
        )
        .unwrap();
    }
    for (target, bucket) in [
        ("/photos/puppy.jpg", None),
        ("/photos/puppy.jpg", Some("janesmith")),
        ("/photos/kitten.jpg", Some("johnsmith")),
    ] {
        let e = check("GET", target, bucket, &headers, now).unwrap_err();
        assert_eq!(e, AuthError::SignatureDoesNotMatch, "{target} {bucket:?}");
        assert_eq!(e.status().as_u16(), 403);
    }
    let (_, uri, h) = request("GET", "/photos/puppy.jpg", &headers);
    let parsed = parse_v2(&uri, &h, Some("johnsmith")).unwrap();
    assert_eq!(parsed.access_key, ACCESS_KEY);
    assert_eq!(parsed.timing, V2Timing::Dated { unix_secs: now });
}

#[test]
fn aws_example_object_put_signs_the_content_type() {
    // "Object PUT": Content-Type is signed in its position, Content-MD5's is empty.
    let a = authorization("MyyxeRY7whkBe+bq8fHCL/2kKUg=");
    let date = "Tue, 27 Mar 2007 21:15:45 +0000";
    let mut headers = vec![
        ("content-type", "image/jpeg"),
        ("content-length", "94328"),
        ("host", "johnsmith.s3.amazonaws.com"),
        ("date", date),
        ("authorization", a.as_str()),
    ];
    check(
        "PUT",
        "/photos/puppy.jpg",
        Some("johnsmith"),
        &headers,
        secs(date),
    )
    .unwrap();
    headers[0].1 = "image/png";
    let e = check(
        "PUT",
        "/photos/puppy.jpg",
        Some("johnsmith"),
        &headers,
        secs(date),
    );
    assert_eq!(e.unwrap_err(), AuthError::SignatureDoesNotMatch);
    headers[0].1 = "image/jpeg";
    let e = check(
        "POST",
        "/photos/puppy.jpg",
        Some("johnsmith"),
        &headers,
        secs(date),
    );
    assert_eq!(e.unwrap_err(), AuthError::SignatureDoesNotMatch);
}

#[test]
fn aws_example_list_leaves_listing_parameters_unsigned() {
    // "List": /johnsmith/ is signed without prefix, max-keys or marker, so changing them still verifies.
    let a = authorization("htDYFYduRNen8P9ZfE/s9SuKy0U=");
    let date = "Tue, 27 Mar 2007 19:42:41 +0000";
    let headers = [
        ("user-agent", "Mozilla/5.0"),
        ("host", "johnsmith.s3.amazonaws.com"),
        ("date", date),
        ("authorization", a.as_str()),
    ];
    for target in [
        "/?prefix=photos&max-keys=50&marker=puppy",
        "/?prefix=other",
        "/",
    ] {
        check("GET", target, Some("johnsmith"), &headers, secs(date))
            .unwrap_or_else(|e| panic!("{target}: {e}"));
    }
}

#[test]
fn aws_example_fetch_signs_the_acl_subresource() {
    // "Fetch": /johnsmith/?acl; `?acl=` is the same sub-resource, `?policy` or none is another request.
    let a = authorization("c2WLPFtWHVgbEmeEG93a4cG37dM=");
    let date = "Tue, 27 Mar 2007 19:44:46 +0000";
    let headers = [
        ("host", "johnsmith.s3.amazonaws.com"),
        ("date", date),
        ("authorization", a.as_str()),
    ];
    for target in ["/?acl", "/?acl=", "/?acl&prefix=x"] {
        check("GET", target, Some("johnsmith"), &headers, secs(date))
            .unwrap_or_else(|e| panic!("{target}: {e}"));
    }
    for target in ["/", "/?policy", "/?acl&policy", "/?acl=private"] {
        let e = check("GET", target, Some("johnsmith"), &headers, secs(date));
        assert_eq!(e.unwrap_err(), AuthError::SignatureDoesNotMatch, "{target}");
    }
}

#[test]
fn aws_example_delete_with_x_amz_date_signs_an_empty_date() {
    // "Delete" (path-style): with x-amz-date, Date's line is empty and x-amz-date is an amz header.
    // AWS's table signs x-amz-date's value in Date's line instead (its published signature), against
    // its own rule; that signature verifies for the request it does sign, one with only that Date.
    let rule =
        "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg";
    assert_eq!(sign_v2(rule), "R4dJ53KECjStyBO5iTBJZ4XVOaI=");
    let signed_date = "Tue, 27 Mar 2007 21:20:26 +0000";
    let by_rule = authorization("R4dJ53KECjStyBO5iTBJZ4XVOaI=");
    let mut headers = vec![
        ("user-agent", "dotnet"),
        ("host", "s3.amazonaws.com"),
        ("date", "Tue, 27 Mar 2007 21:20:27 +0000"),
        ("x-amz-date", signed_date),
        ("authorization", by_rule.as_str()),
    ];
    let target = "/johnsmith/photos/puppy.jpg";
    check("DELETE", target, None, &headers, secs(signed_date)).unwrap();
    let published = authorization("lx3byBScXR6KzyMaifNkardMwNk=");
    headers[4].1 = &published;
    let e = check("DELETE", target, None, &headers, secs(signed_date));
    assert_eq!(e.unwrap_err(), AuthError::SignatureDoesNotMatch);
    let date_only = [("date", signed_date), ("authorization", published.as_str())];
    check("DELETE", target, None, &date_only, secs(signed_date)).unwrap();
}

#[test]
fn aws_example_upload_signs_sorted_lowercased_amz_headers() {
    // "Upload" to a CNAME bucket: x-amz-* lower-cased, sorted, repeats joined; other headers unsigned.
    let a = authorization("ilyl83RwaSoYIEdixDQcA4OnAnc=");
    let date = "Tue, 27 Mar 2007 21:06:08 +0000";
    let headers = vec![
        ("user-agent", "curl/7.15.5"),
        ("host", "static.johnsmith.net:8080"),
        ("date", date),
        ("x-amz-acl", "public-read"),
        ("content-type", "application/x-download"),
        ("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="),
        ("X-Amz-Meta-ReviewedBy", "joe@johnsmith.net"),
        ("X-Amz-Meta-ReviewedBy", "jane@johnsmith.net"),
        ("X-Amz-Meta-FileChecksum", "0x02661779"),
        ("X-Amz-Meta-ChecksumAlgorithm", "crc32"),
        ("Content-Disposition", "attachment; filename=database.dat"),
        ("Content-Encoding", "gzip"),
        ("Content-Length", "5913339"),
        ("authorization", a.as_str()),
    ];
    let bucket = Some("static.johnsmith.net");
    let put =
        |headers: &[(&str, &str)]| check("PUT", "/db-backup.dat.gz", bucket, headers, secs(date));
    put(&headers).unwrap();
    let mut unsigned_changed = headers.clone();
    unsigned_changed[10].1 = "inline";
    put(&unsigned_changed).unwrap();
    let mut padded = headers.clone();
    padded[8].1 = "  0x02661779 ";
    put(&padded).unwrap();
    let mut swapped = headers.clone();
    swapped.swap(6, 7);
    let mut changed_md5 = headers.clone();
    changed_md5[5].1 = "1B2M2Y8AsgTpgAmY7PhCfg==";
    let mut added = headers.clone();
    added.push(("x-amz-meta-extra", "1"));
    for tampered in [swapped, changed_md5, added] {
        assert_eq!(
            put(&tampered).unwrap_err(),
            AuthError::SignatureDoesNotMatch
        );
    }
}

#[test]
fn aws_example_service_list_and_unicode_keys_sign_the_path_as_sent() {
    // "List all my buckets" signs `/`; "Unicode keys" signs the escapes literally, hex case included.
    let date = "Wed, 28 Mar 2007 01:29:59 +0000";
    let a = authorization("qGdzdERIC03wnaRNKh6OqZehG9s=");
    let headers = [
        ("host", "s3.amazonaws.com"),
        ("date", date),
        ("authorization", a.as_str()),
    ];
    check("GET", "/", None, &headers, secs(date)).unwrap();
    let date = "Wed, 28 Mar 2007 01:49:49 +0000";
    let a = authorization("DNEZGsoieTZ92F3bUfSPQcbGmlM=");
    let headers = [
        ("host", "s3.amazonaws.com"),
        ("date", date),
        ("authorization", a.as_str()),
    ];
    let sent = "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re";
    check("GET", sent, None, &headers, secs(date)).unwrap();
    let upper = "/dictionary/fran%C3%A7ais/pr%C3%A9f%C3%A8re";
    let e = check("GET", upper, None, &headers, secs(date));
    assert_eq!(e.unwrap_err(), AuthError::SignatureDoesNotMatch);
}

#[test]
fn aws_query_string_example_verifies_until_it_expires() {
    // The presigned example (Expires=1175139620) verifies up to that second, then is AccessDenied.
    let target = "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620";
    let headers = [("host", "johnsmith.s3.amazonaws.com")];
    let bucket = Some("johnsmith");
    for now in [0, 1_175_139_619, 1_175_139_620] {
        let v = check("GET", target, bucket, &headers, now).unwrap();
        assert_eq!(v.payload, Payload::Unsigned);
    }
    let expired = check("GET", target, bucket, &headers, 1_175_139_621).unwrap_err();
    assert_eq!(expired, AuthError::RequestExpired);
    assert_eq!(
        (
            expired.code(),
            expired.status().as_u16(),
            expired.to_string()
        ),
        ("AccessDenied", 403, "Request has expired".to_owned())
    );
    // A Date header, however old, plays no part in query auth.
    let old = [("host", "johnsmith.s3.amazonaws.com"), ("date", GET_DATE)];
    check("GET", target, bucket, &old, 1_175_139_620).unwrap();
    let tampered = target.replace("/photos/puppy.jpg", "/photos/kitten.jpg");
    let e = check("GET", &tampered, bucket, &headers, 0).unwrap_err();
    assert_eq!(e, AuthError::SignatureDoesNotMatch);
    let longer = target.replace("Expires=1175139620", "Expires=1175139621");
    let e = check("GET", &longer, bucket, &headers, 0).unwrap_err();
    assert_eq!(e, AuthError::SignatureDoesNotMatch);
}

#[test]
fn aws_first_query_string_example_had_expired_before_its_own_date() {
    // `Expires=1141889120` (March 2006) parses, and at the example's Date (March 2007) is expired.
    let target = "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D";
    let date = "Mon, 26 Mar 2007 19:37:58 +0000";
    let headers = [("host", "johnsmith.s3.amazonaws.com"), ("date", date)];
    let (_, uri, h) = request("GET", target, &headers);
    let parsed = parse_v2(&uri, &h, Some("johnsmith")).unwrap();
    assert_eq!(parsed.access_key, ACCESS_KEY);
    assert_eq!(
        parsed.timing,
        V2Timing::Expires {
            text: "1141889120".to_owned(),
            unix_secs: 1_141_889_120
        }
    );
    assert_eq!(
        BASE64.encode(parsed.signature),
        "vjbyPxybdZaNmGa+yT272YEAiv4="
    );
    let e = check("GET", target, Some("johnsmith"), &headers, secs(date));
    assert_eq!(e.unwrap_err(), AuthError::RequestExpired);
}

#[test]
fn header_auth_is_refused_beyond_fifteen_minutes_of_skew() {
    // 900 s either side of Date verify, 901 s is RequestTimeTooSkewed (403).
    let req = signed_get("/b/k", &format!("GET\n\n\n{GET_DATE}\n/b/k"));
    let at = secs(GET_DATE);
    for now in [at - 900, at, at + 900] {
        verify_at(&req, None, now).unwrap();
    }
    for now in [at - 901, at + 901, 0, u64::MAX] {
        let e = verify_at(&req, None, now).unwrap_err();
        assert_eq!(
            (e.code(), e.status().as_u16()),
            ("RequestTimeTooSkewed", 403)
        );
    }
}

#[test]
fn x_amz_date_is_the_time_checked_when_present() {
    // With x-amz-date, Date is unsigned: the skew is measured from x-amz-date, and a bad one is refused.
    let amz_date = "Tue, 27 Mar 2007 19:36:42 GMT";
    let sts = format!("GET\n\n\n\nx-amz-date:{amz_date}\n/b/k");
    let a = authorization(&sign_v2(&sts));
    let far_date = "Sun, 01 Jan 2012 00:00:00 GMT";
    let headers = [
        ("date", far_date),
        ("x-amz-date", amz_date),
        ("authorization", a.as_str()),
    ];
    check("GET", "/b/k", None, &headers, secs(amz_date)).unwrap();
    let e = check("GET", "/b/k", None, &headers, secs(far_date)).unwrap_err();
    assert_eq!(e, AuthError::RequestTimeTooSkewed);
    let bad = [
        ("date", GET_DATE),
        ("x-amz-date", "yesterday"),
        ("authorization", a.as_str()),
    ];
    assert_eq!(
        check("GET", "/b/k", None, &bad, secs(GET_DATE)).unwrap_err(),
        AuthError::MissingDate
    );
    let none = [("authorization", a.as_str())];
    let e = check("GET", "/b/k", None, &none, secs(GET_DATE)).unwrap_err();
    assert_eq!((e.code(), e), ("AccessDenied", AuthError::MissingDate));
}

#[test]
fn subresources_are_signed_sorted_decoded_and_bare_when_empty() {
    // `?versionId=3&uploads=&response-content-type=text%2Fplain&prefix=p` signs as written below.
    let target =
        "/b/k?versionId=3&uploads=&response-content-type=text%2Fplain&prefix=p&partNumber=2";
    let sts = format!("GET\n\n\n{GET_DATE}\n/b/k?partNumber=2&response-content-type=text/plain&uploads&versionId=3");
    let req = signed_get(target, &sts);
    verify_at(&req, None, secs(GET_DATE)).unwrap();
    for changed in [
        target.replace("versionId=3", "versionId=4"),
        target.replace("partNumber=2", "partNumber=3"),
        target.replace("uploads=", "uploadId=1"),
        format!("{target}&tagging"),
        format!("{target}&versionId=3"),
    ] {
        let (m, _, h) = &req;
        let uri: Uri = changed.parse().unwrap();
        let e = parse_v2(&uri, h, None)
            .unwrap()
            .verify(SECRET, m, &uri, h, secs(GET_DATE));
        assert_eq!(
            e.unwrap_err(),
            AuthError::SignatureDoesNotMatch,
            "{changed}"
        );
    }
}

#[test]
fn subresource_list_is_sorted_and_covers_the_documented_ones() {
    // The list stays sorted, unique, and holds every sub-resource AWS's SigV2 page names.
    assert!(
        SUBRESOURCES.windows(2).all(|w| w[0] < w[1]),
        "{SUBRESOURCES:?}"
    );
    for documented in [
        "acl",
        "delete",
        "lifecycle",
        "location",
        "logging",
        "notification",
        "partNumber",
        "policy",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    ] {
        assert!(SUBRESOURCES.contains(&documented), "{documented}");
    }
}

#[test]
fn access_keys_may_contain_colons() {
    // Swift-style `account:user` keys: the signature follows the last colon, in the header and the query.
    let sts = format!("GET\n\n\n{GET_DATE}\n/b/k");
    let a = format!("AWS test:tester:{}", sign_v2(&sts));
    let headers = [("date", GET_DATE), ("authorization", a.as_str())];
    let (m, uri, h) = request("GET", "/b/k", &headers);
    let parsed = parse_v2(&uri, &h, None).unwrap();
    assert_eq!(parsed.access_key, "test:tester");
    parsed.verify(SECRET, &m, &uri, &h, secs(GET_DATE)).unwrap();
    let (_, uri, h) = request(
        "GET",
        "/b/k?AWSAccessKeyId=test%3Atester&Expires=1&Signature=c2lnbmF0dXJlLW9mLTIwLWJ5dGU%3D",
        &[],
    );
    assert_eq!(parse_v2(&uri, &h, None).unwrap().access_key, "test:tester");
}

#[test]
fn malformed_authorization_headers_are_refused() {
    // No colon, an empty key or signature is InvalidArgument; a signature not base64 of 20 bytes never matches.
    for value in [
        "AWS ",
        "AWS AKIAIOSFODNN7EXAMPLE",
        "AWS :c2ln",
        "AWS AKIAIOSFODNN7EXAMPLE:",
    ] {
        let (_, uri, h) = request(
            "GET",
            "/b/k",
            &[("authorization", value), ("date", GET_DATE)],
        );
        let e = parse(&uri, &h, None).unwrap_err();
        assert_eq!(e, AuthError::MalformedV2Authorization, "{value}");
        assert_eq!((e.code(), e.status().as_u16()), ("InvalidArgument", 400));
        assert!(e.to_string().contains("Expected AwsAccessKeyId:signature"));
    }
    for signature in [
        "not base64!",
        "c2hvcnQ=",
        "bWq2s1WEIj+Ydj0vQ697zp+IXMU",
        "bWq2s1WEIj+Ydj0vQ697zp+IXMV=",
    ] {
        let a = authorization(signature);
        let (_, uri, h) = request("GET", "/b/k", &[("authorization", &a), ("date", GET_DATE)]);
        assert_eq!(
            parse(&uri, &h, None).unwrap_err(),
            AuthError::SignatureDoesNotMatch,
            "{signature}"
        );
    }
}

#[test]
fn malformed_presigned_parameters_are_refused() {
    // Missing, empty or repeated parameters and a non-numeric Expires are AccessDenied, as in S3.
    let ok = "AWSAccessKeyId=AK&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620";
    let missing = [
        "AWSAccessKeyId=AK&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D".to_owned(),
        "AWSAccessKeyId=AK&Expires=1175139620".to_owned(),
        "Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620".to_owned(),
        ok.replace("Expires=1175139620", "Expires="),
        ok.replace("AWSAccessKeyId=AK", "AWSAccessKeyId"),
        format!("{ok}&Expires=1175139620"),
        format!("{ok}&AWSAccessKeyId=AK"),
        ok.replace("AWSAccessKeyId=AK", "AWSAccessKeyId=%FF"),
    ];
    for query in missing {
        let (_, uri, h) = request("GET", &format!("/b/k?{query}"), &[]);
        let e = parse(&uri, &h, None).unwrap_err();
        assert_eq!(e, AuthError::MissingQueryAuthParameters, "{query}");
        assert_eq!((e.code(), e.status().as_u16()), ("AccessDenied", 403));
    }
    for (sent, expires) in [
        ("soon", "soon"),
        ("-1", "-1"),
        ("1e3", "1e3"),
        ("%2B5", "+5"),
        ("+5", " 5"),
        ("99999999999999999999999", "99999999999999999999999"),
    ] {
        let query = ok.replace("1175139620", sent);
        let (_, uri, h) = request("GET", &format!("/b/k?{query}"), &[]);
        let e = parse(&uri, &h, None).unwrap_err();
        assert_eq!(e, AuthError::InvalidExpires(expires.to_owned()));
        assert_eq!((e.code(), e.status().as_u16()), ("AccessDenied", 403));
        assert!(e.to_string().contains("seconds since epoch"));
    }
}

#[test]
fn signed_x_amz_content_sha256_sets_the_payload_and_cannot_ask_for_chunks() {
    // SigV2 signs x-amz-content-sha256 like any x-amz header: a hash is checked; a streaming mode,
    // or anything else, is a claim the body cannot match (as S3 answers it), never a decoded body.
    let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    for (value, payload) in [
        (
            hash,
            Payload::Sha256(hex::decode(hash).unwrap().try_into().unwrap()),
        ),
        (
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            Payload::Unmatchable { streaming: true },
        ),
        ("abc", Payload::Unmatchable { streaming: false }),
    ] {
        let sts = format!("PUT\n\n\n{GET_DATE}\nx-amz-content-sha256:{value}\n/b/k");
        let a = authorization(&sign_v2(&sts));
        let headers = [
            ("date", GET_DATE),
            ("x-amz-content-sha256", value),
            ("authorization", &a),
        ];
        let v = check("PUT", "/b/k", None, &headers, secs(GET_DATE)).unwrap();
        assert_eq!(v.payload, payload);
        assert_eq!(ChunkMode::for_request(&v, None), Ok(None));
    }
}

#[test]
fn signatures_are_compared_in_constant_time() {
    // The only comparison of signatures in this module goes through subtle's ct_eq.
    let source = include_str!("../sigv2.rs");
    assert!(source.contains("expected.ct_eq(&self.signature)"));
    assert!(!source.contains("expected == self.signature"));
    assert!(!source.contains("self.signature =="));
}

#[test]
fn garbage_headers_and_queries_never_panic() {
    // Random SigV2 headers, dates, amz headers and queries only ever produce errors or results.
    let mut runner = seeded_runner("sigv2_garbage_headers_and_queries_never_panic", 512);
    let piece = prop_oneof![
        Just("AWS ".to_owned()),
        Just(format!("{ACCESS_KEY}:")),
        Just(GET_SIG.to_owned()),
        Just(GET_DATE.to_owned()),
        Just("AWSAccessKeyId=AK&".to_owned()),
        Just("Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&".to_owned()),
        Just("Expires=".to_owned()),
        Just("acl&versionId=".to_owned()),
        Just("%".to_owned()),
        Just("+".to_owned()),
        "[0-9]{1,12}",
        "[ -~]{0,12}",
        "\\PC{0,4}",
    ];
    let text = prop::collection::vec(piece, 0..8).prop_map(|v| v.concat());
    let strategy = (text.clone(), text.clone(), text.clone(), text, any::<u64>());
    runner
        .run(&strategy, |(authz, date, amz, query, now)| {
            let mut h = HeaderMap::new();
            for (name, value) in [
                ("authorization", &authz),
                ("date", &date),
                ("x-amz-date", &amz),
                ("x-amz-meta-a", &amz),
                ("content-md5", &date),
            ] {
                if let Ok(v) = http::HeaderValue::from_str(value) {
                    h.append(name, v);
                }
            }
            let target = format!("/b/{}?{}", amz.replace(['?', '#', ' '], "_"), query);
            let Ok(uri) = target.parse::<Uri>() else {
                return Ok(());
            };
            for headers in [&h, &HeaderMap::new()] {
                for bucket in [None, Some("b")] {
                    if let Ok(Some(req)) = parse(&uri, headers, bucket) {
                        let _ = req.verify(SECRET, &Method::PUT, &uri, headers, now);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn path_style_bucket_requests_sign_a_trailing_slash() {
    // botocore signs `GET /bucket?encoding-type=url` over `/bucket/`: the
    // same request verifies with or without the slash in the path.
    let (req_bare, req_slash) = (
        signed_get(
            "/johnsmith?encoding-type=url",
            &format!("GET\n\n\n{GET_DATE}\n/johnsmith/"),
        ),
        signed_get("/johnsmith/", &format!("GET\n\n\n{GET_DATE}\n/johnsmith/")),
    );
    for req in [&req_bare, &req_slash] {
        verify_at(req, None, secs(GET_DATE)).unwrap();
    }
    // A key is never given a slash.
    let key = signed_get(
        "/johnsmith/photo",
        &format!("GET\n\n\n{GET_DATE}\n/johnsmith/photo/"),
    );
    assert_eq!(
        verify_at(&key, None, secs(GET_DATE)).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}
