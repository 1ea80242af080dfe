//! Request bodies as the client meant them: `aws-chunked` decoded with every
//! chunk signature checked, and the payload hash and `x-amz-checksum-*`
//! digests verified when the stream ends. A body that fails a check ends
//! with an error, so the write underneath never commits it; the S3 error
//! (BadDigest, SignatureDoesNotMatch …) is kept in a [`Failure`] slot for the
//! answer, since the Swift layer only sees a broken stream. Also the
//! length and digest headers some operations require.

use super::auth::{self, verify_body, Announced, AuthError, BodyChecks, ChunkMode, Payload};
use super::error::{S3Error, S3ErrorCode};
use super::S3Req;
use axum::body::Body;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use std::sync::{Arc, Mutex};

/// The S3 error that broke a body stream, if one did.
#[derive(Clone, Default)]
pub struct Failure(Arc<Mutex<Option<S3Error>>>);

impl Failure {
    fn record(&self, e: S3Error) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(e);
        }
    }

    /// The recorded error, else `fallback`.
    pub fn or(&self, fallback: S3Error) -> S3Error {
        self.0
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .unwrap_or(fallback)
    }
}

/// What a request's `x-amz-checksum-*` header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumOf {
    /// The body, which must match it.
    Body,
    /// Something else: the object CompleteMultipartUpload assembles, or
    /// the upload CreateMultipartUpload begins. The body is not checked
    /// against it (the headers are still validated).
    Other,
}

/// A request body ready for the Swift layer.
pub struct Prepared {
    pub body: Body,
    /// The decoded length, when the client announced one.
    pub len: Option<u64>,
    /// Whether the body is `aws-chunked`, decoded here.
    pub aws_chunked: bool,
    pub failure: Failure,
}

/// Wraps the body with the decoding and checks the request asks for.
pub fn prepare(body: Body, r: &S3Req, checksum_of: ChecksumOf) -> Result<Prepared, S3Error> {
    let failure = Failure::default();
    let payload = r.verified.as_ref().map_or(Payload::Unsigned, |v| v.payload);
    let announced = Announced::from_headers(&r.headers)?;
    let mut checks = BodyChecks::new(&r.headers, &payload, &announced);
    if checksum_of == ChecksumOf::Other {
        checks = checks.without_checksum();
    }
    let mode = match &r.verified {
        Some(v) => ChunkMode::for_request(v, announced.trailer())?,
        None => None,
    };
    if payload == (Payload::Unmatchable { streaming: true }) {
        check_undecodable_length(r)?;
    }
    let aws_chunked = mode.is_some();
    if !aws_chunked && checks.is_empty() {
        // Nothing to decode or verify: the body goes through untouched.
        return Ok(Prepared {
            body,
            len: content_length(r)?,
            aws_chunked,
            failure,
        });
    }
    let raw = body.into_data_stream();
    let (checked, len): (AuthStream, Option<u64>) = match mode {
        Some(mode) => {
            let len = auth::decoded_content_length(&r.headers)?;
            let decoded = auth::decode(raw, mode, len);
            (Box::pin(verify_body(decoded, checks)), Some(len))
        }
        None => (Box::pin(verify_body(raw, checks)), content_length(r)?),
    };
    let slot = failure.clone();
    let mapped = checked.map(move |item| {
        item.map_err(|e| {
            if !e.is_client_disconnect() {
                slot.record(S3Error::from(e));
            }
            std::io::Error::other("S3 request body rejected")
        })
    });
    Ok(Prepared {
        body: Body::from_stream(mapped),
        len,
        aws_chunked,
        failure,
    })
}

/// A streaming body that only a SigV4 `Authorization` header could have
/// signed, sent otherwise: S3 still wants its decoded length, no shorter
/// than what is sent, before the body fails its claimed hash.
fn check_undecodable_length(r: &S3Req) -> Result<(), S3Error> {
    let decoded = auth::decoded_content_length(&r.headers)?;
    match content_length(r)? {
        Some(sent) if decoded < sent => Err(AuthError::DecodedLengthMismatch {
            expected: decoded,
            provided: sent,
        }
        .into()),
        _ => Ok(()),
    }
}

/// PutObject and UploadPart need a body length: `Content-Length`, or a
/// chunked transfer (S3 answers 411 to neither).
pub fn require_length(r: &S3Req) -> Result<(), S3Error> {
    let sized = r.headers.contains_key(http::header::CONTENT_LENGTH)
        || r.headers.contains_key(http::header::TRANSFER_ENCODING);
    if sized {
        Ok(())
    } else {
        Err(S3Error::new(S3ErrorCode::MissingContentLength))
    }
}

fn content_length(r: &S3Req) -> Result<Option<u64>, S3Error> {
    match r.header("content-length") {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            S3Error::new(S3ErrorCode::InvalidArgument)
                .with("ArgumentName", "Content-Length")
                .with("ArgumentValue", v)
        }),
    }
}

/// `Content-MD5` as the hex ETag Swift checks the body against.
pub fn content_md5_hex(r: &S3Req) -> Result<Option<String>, S3Error> {
    let Some(v) = r.header("content-md5") else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()
        .filter(|d| d.len() == 16)
        .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidDigest))?;
    Ok(Some(hex::encode(raw)))
}

/// Reads a small body (an XML document) whole, through the same checks,
/// refusing more than `max` bytes; verifies `Content-MD5` when given.
pub async fn read_small(
    body: Body,
    max: usize,
    r: &S3Req,
    checksum_of: ChecksumOf,
) -> Result<Bytes, S3Error> {
    let p = prepare(body, r, checksum_of)?;
    let mut stream = p.body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| p.failure.or(S3Error::new(S3ErrorCode::IncompleteBody)))?;
        if buf.len() + chunk.len() > max {
            return Err(S3Error::new(S3ErrorCode::MaxMessageLengthExceeded));
        }
        buf.extend_from_slice(&chunk);
    }
    if let Some(want) = content_md5_hex(r)? {
        use md5::{Digest, Md5};
        if hex::encode(Md5::digest(&buf)) != want {
            // Here S3 names the digest as sent, in base64.
            let sent = r.header("content-md5").unwrap_or_default().trim();
            return Err(S3Error::new(S3ErrorCode::BadDigest).with("ExpectedDigest", sent));
        }
    }
    Ok(buf.freeze())
}

/// DeleteObjects must carry `Content-MD5` or an `x-amz-checksum-*` header.
pub fn require_digest(r: &S3Req) -> Result<(), S3Error> {
    let has_checksum = Announced::from_headers(&r.headers)?.algorithm().is_some();
    if has_checksum || r.headers.contains_key("content-md5") {
        Ok(())
    } else {
        Err(S3Error::new(S3ErrorCode::InvalidRequest).with_message(
            "Missing required header for this request: Content-MD5 OR x-amz-checksum-*",
        ))
    }
}

/// A body stream of the auth layer's item type.
pub type AuthStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, AuthError>> + Send>>;
