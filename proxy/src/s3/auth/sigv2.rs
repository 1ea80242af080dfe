//! AWS Signature Version 2 for S3 ("Signing and authenticating REST
//! requests"): reading `Authorization: AWS AKID:signature` or a presigned
//! URL's `AWSAccessKeyId`, `Expires` and `Signature` into a [`SigV2Request`],
//! and verifying it into a [`Verified`]. The signature is
//! base64(HMAC-SHA1(secret, StringToSign)), compared in constant time, where
//!
//! ```text
//! StringToSign = verb \n Content-MD5 \n Content-Type \n Date \n
//!                CanonicalizedAmzHeaders CanonicalizedResource
//! ```
//!
//! `Date` is `Expires` for a presigned URL, and empty when `x-amz-date` is
//! sent. As in S3, what SigV2 does not sign is not protected: the body, the
//! query parameters other than [`SUBRESOURCES`] (`prefix`, `max-keys`…), and
//! the headers other than `Content-MD5`, `Content-Type`, `Date` and `x-amz-*`.
//! Headers are read from the headers only: a presigned URL whose `x-amz-*` or
//! `content-type` travel in its query (as botocore writes them) does not
//! verify, since the handlers, which read headers, would not see them.

use super::canonical::{self, query_pairs};
use super::error::AuthError;
use super::signed::{header_str, Payload, Verified};
use super::sigv4::CLOCK_SKEW_SECS_MAX;
use super::timestamp::AmzDate;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Uri};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The scheme of a SigV2 `Authorization` header: `AWS AKID:signature`.
pub(super) const SCHEME: &str = "AWS";

/// The query parameters signed as sub-resources, sorted: AWS's documented
/// list (with `delete`, the `response-*` overrides, `cors`, `restore` and
/// `tagging`) and the rest of botocore's S3 list, so that boto3's SigV2
/// signatures match ours. A client that signs one we do not (or the reverse)
/// fails with `SignatureDoesNotMatch`, never passes.
const SUBRESOURCES: [&str; 33] = [
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// When a SigV2 request is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Timing {
    /// Header auth: the time of `x-amz-date`, else of `Date`, which must be
    /// within [`CLOCK_SKEW_SECS_MAX`] of ours.
    Dated { unix_secs: u64 },
    /// Query auth: `Expires` in seconds since the epoch, and as sent (the
    /// text is what is signed). Valid up to and including that second.
    Expires { text: String, unix_secs: u64 },
}

/// A request's SigV2 credentials, well-formed but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV2Request {
    /// Anything before the signature's `:`, so Swift-style `account:user` keys work.
    pub access_key: String,
    pub signature: [u8; 20],
    pub timing: V2Timing,
    /// From `x-amz-content-sha256`, which SigV2 signs as it signs every
    /// `x-amz-*` header; `Unsigned` without it (the usual case).
    pub payload: Payload,
    /// The bucket of a virtual-hosted-style request: the resource's prefix.
    pub virtual_bucket: Option<String>,
}

/// `AKID:base64-signature` after `AWS `.
pub(super) fn parse_header_auth(
    rest: &str,
    headers: &HeaderMap,
    virtual_bucket: Option<&str>,
) -> Result<SigV2Request, AuthError> {
    let (access_key, signature) = rest
        .trim()
        .rsplit_once(':')
        .filter(|(key, sig)| !key.is_empty() && !sig.is_empty())
        .ok_or(AuthError::MalformedV2Authorization)?;
    // The time checked must be the time signed: with x-amz-date, Date is not.
    let date_header = if headers.contains_key("x-amz-date") {
        "x-amz-date"
    } else {
        "date"
    };
    let unix_secs = header_str(headers, date_header)
        .and_then(AmzDate::parse_date_header)
        .ok_or(AuthError::MissingDate)?
        .unix_secs;
    Ok(SigV2Request {
        access_key: access_key.to_owned(),
        signature: parse_signature(signature)?,
        timing: V2Timing::Dated { unix_secs },
        payload: parse_payload(headers),
        virtual_bucket: virtual_bucket.map(str::to_owned),
    })
}

/// `AWSAccessKeyId`, `Signature` and `Expires`: each exactly once, non-empty.
pub(super) fn parse_presigned(
    pairs: &[(Vec<u8>, Vec<u8>)],
    headers: &HeaderMap,
    virtual_bucket: Option<&str>,
) -> Result<SigV2Request, AuthError> {
    let param = |name: &str| -> Result<&str, AuthError> {
        let mut found = pairs.iter().filter(|(n, _)| n == name.as_bytes());
        match (found.next(), found.next()) {
            (Some((_, value)), None) if !value.is_empty() => {
                std::str::from_utf8(value).map_err(|_| AuthError::MissingQueryAuthParameters)
            }
            _ => Err(AuthError::MissingQueryAuthParameters),
        }
    };
    let (access_key, signature) = (param("AWSAccessKeyId")?, param("Signature")?);
    let expires = param("Expires")?;
    Ok(SigV2Request {
        access_key: access_key.to_owned(),
        signature: parse_signature(signature)?,
        timing: V2Timing::Expires {
            text: expires.to_owned(),
            unix_secs: parse_expires(expires)?,
        },
        payload: parse_payload(headers),
        virtual_bucket: virtual_bucket.map(str::to_owned),
    })
}

/// Whole seconds since the epoch, digits only.
fn parse_expires(value: &str) -> Result<u64, AuthError> {
    let invalid = || AuthError::InvalidExpires(value.to_owned());
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    value.parse().map_err(|_| invalid())
}

/// A signature that is not base64 of 20 bytes is not the one we compute.
fn parse_signature(value: &str) -> Result<[u8; 20], AuthError> {
    BASE64
        .decode(value)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(AuthError::SignatureDoesNotMatch)
}

fn parse_payload(headers: &HeaderMap) -> Payload {
    header_str(headers, "x-amz-content-sha256").map_or(Payload::Unsigned, Payload::parse_claimed)
}

impl SigV2Request {
    /// Checks the request against `secret` at `now_secs`: timing, then the
    /// signature (constant time). Pass the same `uri` and `headers` that
    /// `parse` read. SigV2 signs no chunks: the result has no chunk signing.
    pub fn verify(
        &self,
        secret: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        now_secs: u64,
    ) -> Result<Verified, AuthError> {
        self.check_time(now_secs)?;
        let expected = hmac_sha1(
            secret.as_bytes(),
            &self.string_to_sign(method, uri, headers),
        );
        if !bool::from(expected.ct_eq(&self.signature)) {
            return Err(AuthError::SignatureDoesNotMatch);
        }
        Ok(Verified {
            chunk_signing: None,
            payload: self.payload,
        })
    }

    fn check_time(&self, now_secs: u64) -> Result<(), AuthError> {
        match self.timing {
            V2Timing::Dated { unix_secs } if now_secs.abs_diff(unix_secs) > CLOCK_SKEW_SECS_MAX => {
                Err(AuthError::RequestTimeTooSkewed)
            }
            V2Timing::Expires { unix_secs, .. } if now_secs > unix_secs => {
                Err(AuthError::RequestExpired)
            }
            _ => Ok(()),
        }
    }

    /// The StringToSign of the module doc, as bytes (header values and the
    /// decoded sub-resource values need not be UTF-8).
    fn string_to_sign(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b'\n');
        for name in ["content-md5", "content-type"] {
            out.extend_from_slice(header_bytes(headers, name));
            out.push(b'\n');
        }
        match &self.timing {
            V2Timing::Expires { text, .. } => out.extend_from_slice(text.as_bytes()),
            // x-amz-date is signed among the x-amz headers instead.
            V2Timing::Dated { .. } if headers.contains_key("x-amz-date") => {}
            V2Timing::Dated { .. } => out.extend_from_slice(header_bytes(headers, "date")),
        }
        out.push(b'\n');
        canonical_amz_headers(headers, &mut out);
        self.canonical_resource(uri, &mut out);
        out
    }

    /// `/bucket` for a virtual-hosted-style request, the path as sent (with
    /// a `/` after a path-style bucket alone), then
    /// the sub-resources present, sorted by name, values decoded, `name`
    /// alone when the value is empty: `/b/k?acl&versionId=3`.
    fn canonical_resource(&self, uri: &Uri, out: &mut Vec<u8>) {
        if let Some(bucket) = &self.virtual_bucket {
            out.push(b'/');
            out.extend_from_slice(bucket.as_bytes());
        }
        let path = canonical::uri_as_sent(uri);
        out.extend_from_slice(path.as_bytes());
        // A path-style bucket request (`/bucket`) is signed as `/bucket/`,
        // as clients (botocore's HmacV1) sign it.
        let bucket_only = path.len() > 1 && !path[1..].contains('/');
        if self.virtual_bucket.is_none() && bucket_only {
            out.push(b'/');
        }
        let mut subresources: Vec<(Vec<u8>, Vec<u8>)> = query_pairs(uri.query().unwrap_or(""))
            .into_iter()
            .filter(|(name, _)| SUBRESOURCES.iter().any(|s| name == s.as_bytes()))
            .collect();
        // Stable: a repeated sub-resource keeps the order it was sent in.
        subresources.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (name, value)) in subresources.iter().enumerate() {
            out.push(if i == 0 { b'?' } else { b'&' });
            out.extend_from_slice(name);
            if !value.is_empty() {
                out.push(b'=');
                out.extend_from_slice(value);
            }
        }
    }
}

/// Every `x-amz-*` header as `name:value\n`, sorted by name, values
/// trimmed, a repeated header's values joined by `,`.
fn canonical_amz_headers(headers: &HeaderMap, out: &mut Vec<u8>) {
    let mut names: Vec<&str> = headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("x-amz-"))
        .collect();
    names.sort_unstable();
    for name in names {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, value) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(value.as_bytes().trim_ascii());
        }
        out.push(b'\n');
    }
}

/// A header's first value, trimmed; empty when absent.
fn header_bytes<'h>(headers: &'h HeaderMap, name: &str) -> &'h [u8] {
    headers
        .get(name)
        .map_or(&[][..], |v| v.as_bytes().trim_ascii())
}

pub(super) fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("hmac accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests;
