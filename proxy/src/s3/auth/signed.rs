//! The entry point of S3 authentication: which mechanism a request uses
//! (SigV4 or SigV2, header or query string, or none), the [`SignedRequest`]
//! it reads into, and the [`Verified`] that verification yields, with the
//! [`Payload`] mode that says how the body is protected.

use super::canonical::{query_pairs, ALGORITHM, UNSIGNED_PAYLOAD};
use super::chunked::ChunkSigning;
use super::error::AuthError;
use super::sigv2::{self, SigV2Request};
use super::sigv4::{self, SigV4Request};
use http::{HeaderMap, Method, Uri};

/// The query parameters that make a URL a presigned one, by version.
const V4_QUERY_PARAMS: [&str; 3] = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"];
const V2_QUERY_PARAMS: [&str; 2] = ["AWSAccessKeyId", "Signature"];

/// The `x-amz-content-sha256` values that announce an `aws-chunked` body.
const STREAMING_MODES: [(&str, Payload); 3] = [
    (
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        Payload::StreamingSigned,
    ),
    (
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        Payload::StreamingSignedTrailer,
    ),
    (
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        Payload::StreamingUnsignedTrailer,
    ),
];

/// How the body is protected, from `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// `UNSIGNED-PAYLOAD`, every presigned URL unless it says otherwise, and
    /// every SigV2 request without `x-amz-content-sha256`.
    Unsigned,
    /// The body's sha256: the body must hash to it.
    Sha256([u8; 32]),
    /// A claimed hash that no body has. A presigned or SigV2 request may send
    /// any `x-amz-content-sha256`, and S3 compares the body with it rather
    /// than refusing the request; `streaming` when the value names a
    /// streaming mode, whose chunks only a SigV4 `Authorization` header signs.
    Unmatchable { streaming: bool },
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: `aws-chunked`, each chunk signed.
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `aws-chunked` without signatures, with a trailer.
    StreamingUnsignedTrailer,
}

impl Payload {
    /// Reads the `x-amz-content-sha256` of a SigV4 header-signed request,
    /// which must be a mode or a sha256 (hex, any case).
    pub fn parse(value: &str) -> Result<Payload, AuthError> {
        if value == UNSIGNED_PAYLOAD {
            return Ok(Payload::Unsigned);
        }
        if let Some((_, mode)) = STREAMING_MODES.iter().find(|(name, _)| *name == value) {
            return Ok(*mode);
        }
        let mut digest = [0u8; 32];
        hex::decode_to_slice(value, &mut digest)
            .map_err(|_| AuthError::InvalidContentSha256(value.to_owned()))?;
        Ok(Payload::Sha256(digest))
    }

    /// Reads the `x-amz-content-sha256` of a presigned or SigV2 request:
    /// `UNSIGNED-PAYLOAD` and a sha256 as [`parse`](Self::parse) reads them,
    /// anything else a claim the body cannot match.
    pub fn parse_claimed(value: &str) -> Payload {
        match Payload::parse(value) {
            Ok(p @ (Payload::Unsigned | Payload::Sha256(_))) => p,
            Ok(_) => Payload::Unmatchable { streaming: true },
            Err(_) => Payload::Unmatchable { streaming: false },
        }
    }
}

/// A verified request: how its body is protected, and what its chunk
/// signatures (if any) chain from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signing key, scope, timestamp and seed signature of a SigV4
    /// request; `None` for SigV2, which can sign no chunks.
    pub chunk_signing: Option<ChunkSigning>,
    pub payload: Payload,
}

/// A request's credentials, well-formed but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedRequest {
    V4(SigV4Request),
    V2(SigV2Request),
}

impl SignedRequest {
    /// The access key the request claims: look its secret up, then [`verify`](Self::verify).
    pub fn access_key(&self) -> &str {
        match self {
            SignedRequest::V4(r) => &r.access_key,
            SignedRequest::V2(r) => &r.access_key,
        }
    }

    /// Checks the request against `secret` at `now_secs` (timing, then the
    /// signature, compared in constant time). Pass the same `uri` and
    /// `headers` that [`parse`] read.
    pub fn verify(
        &self,
        secret: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        now_secs: u64,
    ) -> Result<Verified, AuthError> {
        match self {
            SignedRequest::V4(r) => r.verify(secret, method, uri, headers, now_secs),
            SignedRequest::V2(r) => r.verify(secret, method, uri, headers, now_secs),
        }
    }
}

/// Reads a request's S3 credentials: `Ok(None)` when it carries none (an
/// anonymous request), an error for two mechanisms at once or anything but
/// well-formed SigV4 or SigV2. `virtual_bucket` is the bucket a
/// virtual-hosted-style request names in its `Host`, as sent (`None`, or
/// empty, for path-style): SigV2 signs it as a path prefix, SigV4 ignores it.
pub fn parse(
    uri: &Uri,
    headers: &HeaderMap,
    virtual_bucket: Option<&str>,
) -> Result<Option<SignedRequest>, AuthError> {
    let virtual_bucket = virtual_bucket.filter(|b| !b.is_empty());
    let pairs = query_pairs(uri.query().unwrap_or(""));
    let has_any = |names: &[&str]| {
        pairs
            .iter()
            .any(|(n, _)| names.iter().any(|name| n == name.as_bytes()))
    };
    let (v4_query, v2_query) = (has_any(&V4_QUERY_PARAMS), has_any(&V2_QUERY_PARAMS));
    let mut auth_headers = headers.get_all(http::header::AUTHORIZATION).iter();
    let auth = auth_headers.next();
    if auth_headers.next().is_some() {
        return Err(AuthError::AuthorizationHeaderMalformed(
            "more than one Authorization header".to_owned(),
        ));
    }
    Ok(Some(match (auth, v4_query, v2_query) {
        (None, false, false) => return Ok(None),
        (Some(_), true, _) | (Some(_), _, true) | (None, true, true) => {
            return Err(AuthError::MultipleAuthMechanisms)
        }
        (None, true, false) => SignedRequest::V4(sigv4::parse_presigned(&pairs, headers)?),
        (None, false, true) => {
            SignedRequest::V2(sigv2::parse_presigned(&pairs, headers, virtual_bucket)?)
        }
        (Some(value), false, false) => {
            let value = value
                .to_str()
                .map_err(|_| AuthError::UnsupportedAuthorizationType)?;
            match value.split_once(' ') {
                Some((ALGORITHM, rest)) => {
                    SignedRequest::V4(sigv4::parse_header_auth(rest, headers)?)
                }
                Some((sigv2::SCHEME, rest)) => {
                    SignedRequest::V2(sigv2::parse_header_auth(rest, headers, virtual_bucket)?)
                }
                _ => return Err(AuthError::UnsupportedAuthorizationType),
            }
        }
    }))
}

/// A header's first value, trimmed, if it is text.
pub(super) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

#[cfg(test)]
mod tests;
