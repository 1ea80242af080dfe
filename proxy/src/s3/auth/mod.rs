//! S3 authentication: AWS Signature Version 4 (the `Authorization` header
//! and presigned URLs) and Version 2 (the same two, older form), the
//! `aws-chunked` bodies of streaming uploads with their chunk signatures and
//! trailers, and the body checksums S3 clients send. It decides whether a
//! request is genuine and its body intact; what an access key may do is the
//! caller's business.
//!
//! The flow: [`parse`] a request into a [`SignedRequest`] (or `None`:
//! anonymous), look up the secret of its [`access_key`](SignedRequest::access_key),
//! [`verify`](SignedRequest::verify) it into a [`Verified`]; read the
//! checksum its headers [`Announced`]; then wrap the body in [`decode`] when
//! [`ChunkMode::for_request`] says it is `aws-chunked`, and in
//! [`verify_body`] with the request's [`BodyChecks`].
//! A body stream that ends with an error must not be committed. SigV2 signs
//! no body: `Content-MD5`, when sent, is the caller's to check.

mod announce;
mod canonical;
mod checksum;
mod chunked;
mod client;
mod error;
mod signed;
mod sigv2;
mod sigv4;
#[cfg(test)]
pub(crate) mod testkit;
mod timestamp;

pub use announce::Announced;
pub use checksum::{verify_body, BodyChecks, ChecksumAlgorithm, ChecksumHasher};
pub use chunked::{
    decode, decoded_content_length, ChunkDecoder, ChunkMode, ChunkSigning, CHUNK_BYTES_MAX,
    CHUNK_BYTES_MIN, CHUNK_LINE_BYTES_MAX, TRAILER_BYTES_MAX,
};
pub use client::{SigV4Signer, EMPTY_SHA256_HEX, UNSIGNED_PAYLOAD};
pub use error::{AuthError, SignatureMismatch};
pub use signed::{parse, Payload, SignedRequest, Verified};
pub use sigv2::{SigV2Request, V2Timing};
pub use sigv4::{
    CredentialScope, SigV4Request, CLOCK_SKEW_SECS_MAX, PRESIGNED_EXPIRES_SECS_MAX,
    SIGNED_HEADERS_MAX,
};
pub use timestamp::AmzDate;
