//! Tests of the mechanism dispatch: anonymous requests, each version in
//! each form, two mechanisms at once, unknown schemes, and what each
//! version's verification hands on.

use super::*;
use crate::s3::auth::testkit::{request, Signer, ACCESS_KEY, EMPTY_SHA256, EXAMPLE_SECS, SECRET};

const V2_HEADER: &str = "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=";
const V2_QUERY: &str = "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620";
const V4_QUERY: &str = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
const V4_HEADER: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
const DATE_2007: (&str, &str) = ("date", "Tue, 27 Mar 2007 19:36:42 +0000");
const DATE_2013: (&str, &str) = ("x-amz-date", "20130524T000000Z");

fn parse_err(target: &str, headers: &[(&str, &str)]) -> AuthError {
    let (_, uri, h) = request("GET", target, headers);
    parse(&uri, &h, None).expect_err("must be refused")
}

#[test]
fn anonymous_requests_parse_to_none() {
    // No Authorization header and no signature parameter (Expires alone is none): anonymous.
    for target in ["/bucket/key?prefix=a&X-Amz-Date=x", "/b/k?Expires=1", "/"] {
        let (_, uri, h) = request("GET", target, &[("host", "h")]);
        assert_eq!(parse(&uri, &h, Some("b")), Ok(None), "{target}");
    }
}

#[test]
fn each_version_and_form_parses_to_its_variant() {
    // AWS4-HMAC-SHA256 and X-Amz-* are V4; `AWS ` and AWSAccessKeyId are V2; both name the key.
    let cases = [
        ("/test.txt", Some(V4_HEADER), true),
        (V4_QUERY, None, true),
        ("/photos/puppy.jpg", Some(V2_HEADER), false),
        (V2_QUERY, None, false),
    ];
    for (target, authorization, v4) in cases {
        let mut headers = vec![DATE_2007, DATE_2013, ("x-amz-content-sha256", EMPTY_SHA256)];
        headers.extend(authorization.map(|a| ("authorization", a)));
        let (_, uri, h) = request("GET", target, &headers);
        let parsed = parse(&uri, &h, Some("johnsmith")).unwrap().unwrap();
        assert_eq!(matches!(parsed, SignedRequest::V4(_)), v4, "{target}");
        assert_eq!(parsed.access_key(), ACCESS_KEY);
    }
}

#[test]
fn two_mechanisms_at_once_are_refused() {
    // Any two of a header and either version's query signature is InvalidArgument, as in S3.
    let cases = [
        (V4_QUERY, V4_HEADER),
        (V4_QUERY, V2_HEADER),
        (V2_QUERY, V2_HEADER),
        (V2_QUERY, V4_HEADER),
        ("/b/k?Signature=x", V2_HEADER),
    ];
    for (target, authorization) in cases {
        let e = parse_err(target, &[("authorization", authorization), DATE_2007]);
        assert_eq!(
            e,
            AuthError::MultipleAuthMechanisms,
            "{target} {authorization}"
        );
        assert_eq!(e.code(), "InvalidArgument");
    }
    let both_queries = format!("{V4_QUERY}&AWSAccessKeyId=AK&Expires=1&Signature=x");
    assert_eq!(
        parse_err(&both_queries, &[]),
        AuthError::MultipleAuthMechanisms
    );
}

#[test]
fn unknown_schemes_and_repeated_headers_are_refused() {
    // Bearer, SigV4a, a bare scheme name and an empty header are unsupported; two headers are malformed.
    for value in [
        "Bearer abc",
        "AWS4-ECDSA-P256-SHA256 Credential=x",
        "AWS4-HMAC-SHA256",
        "AWS",
        "aws AK:sig",
        "",
    ] {
        assert_eq!(
            parse_err("/b/k", &[("authorization", value)]),
            AuthError::UnsupportedAuthorizationType,
            "{value}"
        );
    }
    let e = parse_err(
        "/b/k",
        &[("authorization", V2_HEADER), ("authorization", V2_HEADER)],
    );
    assert_eq!(e.code(), "AuthorizationHeaderMalformed");
}

#[test]
fn only_streaming_sigv4_hands_on_chunk_signing_material() {
    // A verified V4 request with a streaming body carries what its chunk
    // signatures chain from; one with a plain body or a V2 one carries none.
    for (payload, chained) in [
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", true),
        (EMPTY_SHA256, false),
    ] {
        let (m, uri, mut h) = request("PUT", "/b/k", &[("host", "h"), DATE_2013]);
        h.insert("x-amz-content-sha256", payload.parse().unwrap());
        Signer::EXAMPLE.authorize(&m, &uri, &mut h);
        let v4 = parse(&uri, &h, None).unwrap().unwrap();
        let verified = v4.verify(SECRET, &m, &uri, &h, EXAMPLE_SECS).unwrap();
        assert_eq!(verified.chunk_signing.is_some(), chained, "{payload}");
    }
    let (m, uri, h) = request(
        "GET",
        "/photos/puppy.jpg",
        &[DATE_2007, ("authorization", V2_HEADER)],
    );
    let v2 = parse(&uri, &h, Some("johnsmith")).unwrap().unwrap();
    let verified = v2.verify(SECRET, &m, &uri, &h, 1_175_024_202).unwrap();
    assert_eq!(
        verified,
        Verified {
            chunk_signing: None,
            payload: Payload::Unsigned
        }
    );
}
