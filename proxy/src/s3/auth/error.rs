//! `AuthError`: every way S3 authentication and body integrity checks refuse
//! a request, with the S3 error code and HTTP status AWS answers with. The
//! messages are AWS's own wording where AWS documents or answers one.

use super::checksum::ChecksumAlgorithm;
use http::StatusCode;
use std::any::Any;
use std::fmt::Display;

/// Why a request's authentication or body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header is not SigV4 in the form AWS documents.
    #[error("The authorization header is malformed; {0}")]
    AuthorizationHeaderMalformed(String),
    /// A presigned URL's `X-Amz-*` parameters are missing or malformed.
    #[error("{0}")]
    AuthorizationQueryParametersError(String),
    /// An `Authorization` header of a scheme S3 does not know (`Bearer …`, SigV4a).
    #[error("Unsupported Authorization Type")]
    UnsupportedAuthorizationType,
    /// An `Authorization: AWS …` (SigV2) header that is not `AWS AKID:signature`.
    #[error("AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")]
    MalformedV2Authorization,
    /// A SigV2 presigned URL whose `AWSAccessKeyId`, `Signature` or
    /// `Expires` is missing, empty, repeated or not text.
    #[error(
        "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
    )]
    MissingQueryAuthParameters,
    /// A SigV2 presigned URL's `Expires` that is not seconds since the epoch (as sent).
    #[error("Invalid date (should be seconds since epoch): {0}")]
    InvalidExpires(String),
    /// A signed-chunk `aws-chunked` upload whose verified request carries no
    /// signing key for the chunk signatures to chain from.
    #[error("x-amz-content-sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD requires a request signed with AWS4-HMAC-SHA256")]
    StreamingNeedsSigV4,
    /// Both an `Authorization` header and a query-string signature.
    #[error("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")]
    MultipleAuthMechanisms,
    /// A header-signed request without `x-amz-content-sha256`.
    #[error("Missing required header for this request: x-amz-content-sha256")]
    MissingContentSha256,
    /// `x-amz-content-sha256` of a SigV4 header-signed request that is
    /// neither a sha256 nor a payload mode we know (the value as sent).
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")]
    InvalidContentSha256(String),
    /// A header-signed request with neither a valid `x-amz-date` nor `Date`.
    #[error("AWS authentication requires a valid Date or x-amz-date header")]
    MissingDate,
    /// `x-amz-*` headers the signature does not cover (named, comma-separated).
    #[error("There were headers present in the request which were not signed: {0}")]
    HeadersNotSigned(String),
    #[error("The request signature we calculated does not match the signature you provided. Check your key and signing method.")]
    SignatureDoesNotMatch,
    /// A chunk's or the trailer's signature does not chain from the
    /// request's: the same answer, with what the client should have signed.
    #[error("The request signature we calculated does not match the signature you provided. Check your key and signing method.")]
    ChunkSignatureDoesNotMatch(Box<SignatureMismatch>),
    /// Header auth more than 15 minutes away from our clock.
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed,
    /// A presigned URL past `X-Amz-Date + X-Amz-Expires`.
    #[error("Request has expired")]
    RequestExpired,
    /// A presigned URL dated more than 15 minutes in the future.
    #[error("Request is not valid yet")]
    RequestNotYetValid,
    /// The body's sha256 is not the `x-amz-content-sha256` the client sent.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch {
        /// The header's value, as sent.
        client: String,
        /// The body's sha256, lower-case hex.
        computed: String,
    },
    /// The body's checksum is not the one the client sent (header or trailer).
    #[error("The {} you specified did not match the calculated checksum.", .0.label())]
    ChecksumMismatch(ChecksumAlgorithm),
    /// A checksum header that is not base64 of a digest of the right length.
    #[error("Value for {0} header is invalid.")]
    InvalidChecksum(&'static str),
    /// The same, of a checksum trailer.
    #[error("Value for {0} trailing header is invalid.")]
    InvalidTrailerChecksum(&'static str),
    /// An `x-amz-checksum-*` header of an algorithm S3 does not have.
    #[error("The algorithm type you specified in x-amz-checksum- header is invalid.")]
    UnknownChecksumAlgorithm,
    /// More than one `x-amz-checksum-*` header, or more than one trailer announced.
    #[error("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")]
    MultipleChecksums,
    /// A checksum header and a checksum trailer both.
    #[error("Expecting a single x-amz-checksum- header")]
    ChecksumInHeaderAndTrailer,
    /// `x-amz-sdk-checksum-algorithm` without the checksum it announces.
    #[error("x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.")]
    SdkChecksumWithoutChecksum,
    /// `x-amz-sdk-checksum-algorithm` naming another algorithm than the checksum sent.
    #[error("Value for x-amz-sdk-checksum-algorithm header is invalid.")]
    SdkChecksumMismatch,
    /// `x-amz-trailer` names something other than one checksum we compute.
    #[error("The value specified in the x-amz-trailer header is not supported")]
    UnsupportedTrailer,
    /// Trailers that were not announced, or an announced one missing (or
    /// announced for a body that cannot have trailers).
    #[error("The request contained trailing data that was not well-formed or did not conform to our published schema.")]
    MalformedTrailer,
    /// A streaming upload without a numeric `x-amz-decoded-content-length`.
    #[error("You must provide the Content-Length HTTP header.")]
    MissingDecodedContentLength,
    /// A negative `x-amz-decoded-content-length`.
    #[error("x-amz-decoded-content-length must be a non-negative integer")]
    InvalidDecodedContentLength,
    /// A chunk larger than we buffer, or a chunk line longer than we read.
    #[error("Malformed aws-chunked body: {0}")]
    MalformedChunk(&'static str),
    /// A chunk other than the last two smaller than AWS's minimum; `chunk`
    /// counts from 1 and is the chunk after the small one, as AWS reports it.
    #[error("Only the last chunk is allowed to have a size less than 8192 bytes")]
    ChunkTooSmall { chunk: u64, size: u64 },
    /// The `aws-chunked` body is cut short or its framing is broken.
    #[error("The request body terminated unexpectedly")]
    IncompleteBody,
    /// The chunks hold more or fewer bytes than `x-amz-decoded-content-length`
    /// (or a streaming body that cannot be decoded is longer than it says).
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header")]
    DecodedLengthMismatch { expected: u64, provided: u64 },
    /// Reading the body from the client failed: the client went away.
    #[error("client disconnected: {0}")]
    ClientDisconnect(String),
}

/// What a SignatureDoesNotMatch answer shows, as AWS's does, so that a
/// client can see where its signing went astray: none of it is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureMismatch {
    pub access_key: String,
    /// What the signature should have signed.
    pub string_to_sign: String,
    /// The signature sent, as sent.
    pub signature_provided: String,
    pub canonical_request: String,
}

impl SignatureMismatch {
    /// The elements AWS adds to the error, in its order.
    pub fn elements(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWSAccessKeyId", self.access_key.clone()),
            ("StringToSign", self.string_to_sign.clone()),
            ("SignatureProvided", self.signature_provided.clone()),
            ("StringToSignBytes", spaced_hex(&self.string_to_sign)),
            ("CanonicalRequest", self.canonical_request.clone()),
            ("CanonicalRequestBytes", spaced_hex(&self.canonical_request)),
        ]
    }
}

/// `41 42 0a`: each byte in hex, space-separated, as AWS writes `…Bytes`.
fn spaced_hex(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for (i, b) in text.bytes().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl AuthError {
    /// The S3 error code (`<Code>` of the XML error body).
    pub fn code(&self) -> &'static str {
        use AuthError::*;
        match self {
            AuthorizationHeaderMalformed(_) => "AuthorizationHeaderMalformed",
            AuthorizationQueryParametersError(_) => "AuthorizationQueryParametersError",
            UnsupportedAuthorizationType | MultipleAuthMechanisms | InvalidContentSha256(_) => {
                "InvalidArgument"
            }
            InvalidDecodedContentLength | MalformedV2Authorization => "InvalidArgument",
            MissingContentSha256 | StreamingNeedsSigV4 | MalformedChunk(_) => "InvalidRequest",
            InvalidChecksum(_) | InvalidTrailerChecksum(_) | UnknownChecksumAlgorithm => {
                "InvalidRequest"
            }
            MultipleChecksums | ChecksumInHeaderAndTrailer | UnsupportedTrailer => "InvalidRequest",
            SdkChecksumWithoutChecksum | SdkChecksumMismatch => "InvalidRequest",
            MalformedTrailer => "MalformedTrailerError",
            MissingDecodedContentLength => "MissingContentLength",
            ChunkTooSmall { .. } => "InvalidChunkSizeError",
            MissingDate | HeadersNotSigned(_) | RequestExpired | RequestNotYetValid => {
                "AccessDenied"
            }
            MissingQueryAuthParameters | InvalidExpires(_) => "AccessDenied",
            SignatureDoesNotMatch | ChunkSignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            RequestTimeTooSkewed => "RequestTimeTooSkewed",
            ContentSha256Mismatch { .. } => "XAmzContentSHA256Mismatch",
            ChecksumMismatch(_) => "BadDigest",
            IncompleteBody | DecodedLengthMismatch { .. } | ClientDisconnect(_) => "IncompleteBody",
        }
    }

    /// The HTTP status: 403 when the credentials or their timing are refused
    /// (and, as AWS answers it, for a chunk too small), 411 for a missing
    /// decoded length, 400 when the request is malformed.
    pub fn status(&self) -> StatusCode {
        use AuthError::*;
        match self {
            MissingDate
            | MissingQueryAuthParameters
            | InvalidExpires(_)
            | HeadersNotSigned(_)
            | SignatureDoesNotMatch
            | ChunkSignatureDoesNotMatch(_)
            | RequestTimeTooSkewed
            | RequestExpired
            | RequestNotYetValid
            | ChunkTooSmall { .. } => StatusCode::FORBIDDEN,
            MissingDecodedContentLength => StatusCode::LENGTH_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The elements S3 adds after `<RequestId>` for this error.
    pub fn elements(&self) -> Vec<(&'static str, String)> {
        use AuthError::*;
        match self {
            InvalidContentSha256(value) => vec![
                ("ArgumentName", "x-amz-content-sha256".to_owned()),
                ("ArgumentValue", value.clone()),
            ],
            ContentSha256Mismatch { client, computed } => vec![
                ("ClientComputedContentSHA256", client.clone()),
                ("S3ComputedContentSHA256", computed.clone()),
            ],
            DecodedLengthMismatch { expected, provided } => vec![
                ("NumberBytesExpected", expected.to_string()),
                ("NumberBytesProvided", provided.to_string()),
            ],
            ChunkTooSmall { chunk, size } => vec![
                ("Chunk", chunk.to_string()),
                ("BadChunkSize", size.to_string()),
            ],
            ChunkSignatureDoesNotMatch(details) => details.elements(),
            _ => Vec::new(),
        }
    }

    /// Whether the body stream failed underneath us (nobody is left to answer).
    pub fn is_client_disconnect(&self) -> bool {
        matches!(self, AuthError::ClientDisconnect(_))
    }
}

/// An error of the body stream under one of our adapters: an `AuthError`
/// from an adapter below passes through unchanged (so `decode` can feed
/// `verify_body`), anything else is the client going away.
pub(super) fn from_body_error<E: Display + 'static>(e: E) -> AuthError {
    match (&e as &dyn Any).downcast_ref::<AuthError>() {
        Some(auth) => auth.clone(),
        None => AuthError::ClientDisconnect(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_and_timing_refusals_are_403_malformed_requests_400() {
        // The status follows the kind: who you are (403) versus what you sent (400).
        assert_eq!(AuthError::SignatureDoesNotMatch.status(), 403);
        assert_eq!(AuthError::RequestTimeTooSkewed.status(), 403);
        assert_eq!(AuthError::RequestExpired.status(), 403);
        assert_eq!(AuthError::RequestExpired.code(), "AccessDenied");
        let expires = AuthError::InvalidExpires("soon".into());
        assert_eq!(
            (expires.code(), expires.status().as_u16()),
            ("AccessDenied", 403)
        );
        let v2 = AuthError::MalformedV2Authorization;
        assert_eq!((v2.code(), v2.status().as_u16()), ("InvalidArgument", 400));
        let malformed = AuthError::AuthorizationHeaderMalformed("x".into());
        assert_eq!(malformed.status(), 400);
        assert_eq!(malformed.code(), "AuthorizationHeaderMalformed");
        let sha = AuthError::ContentSha256Mismatch {
            client: "invalid".into(),
            computed: "e3b0".into(),
        };
        assert_eq!(sha.code(), "XAmzContentSHA256Mismatch");
        let missing = AuthError::MissingDecodedContentLength;
        assert_eq!(
            (missing.code(), missing.status().as_u16()),
            ("MissingContentLength", 411)
        );
        let small = AuthError::ChunkTooSmall {
            chunk: 2,
            size: 1024,
        };
        assert_eq!(
            (small.code(), small.status().as_u16()),
            ("InvalidChunkSizeError", 403)
        );
        let bad = AuthError::ChecksumMismatch(ChecksumAlgorithm::Crc32c);
        assert_eq!(bad.code(), "BadDigest");
        assert_eq!(
            bad.to_string(),
            "The CRC32C you specified did not match the calculated checksum."
        );
    }

    #[test]
    fn errors_carry_the_elements_aws_adds() {
        // The refused value, both hashes, both lengths, the chunk: each as AWS names it.
        let invalid = AuthError::InvalidContentSha256("INVALID".into());
        assert_eq!(
            invalid.elements(),
            [
                ("ArgumentName", "x-amz-content-sha256".to_owned()),
                ("ArgumentValue", "INVALID".to_owned())
            ]
        );
        let sha = AuthError::ContentSha256Mismatch {
            client: "a".into(),
            computed: "b".into(),
        };
        assert_eq!(
            sha.elements()[1],
            ("S3ComputedContentSHA256", "b".to_owned())
        );
        let length = AuthError::DecodedLengthMismatch {
            expected: 32,
            provided: 64,
        };
        assert_eq!(
            length.elements(),
            [
                ("NumberBytesExpected", "32".to_owned()),
                ("NumberBytesProvided", "64".to_owned())
            ]
        );
        assert!(AuthError::IncompleteBody.elements().is_empty());
        assert_eq!(
            AuthError::IncompleteBody.to_string(),
            "The request body terminated unexpectedly"
        );
    }

    #[test]
    fn signature_mismatch_details_spell_their_bytes_in_hex() {
        // StringToSignBytes and CanonicalRequestBytes are space-separated hex, as AWS sends them.
        let details = SignatureMismatch {
            access_key: "test:tester".into(),
            string_to_sign: "AB\n".into(),
            signature_provided: "sig".into(),
            canonical_request: "".into(),
        };
        let e = AuthError::ChunkSignatureDoesNotMatch(Box::new(details));
        assert_eq!(
            (e.code(), e.status().as_u16()),
            ("SignatureDoesNotMatch", 403)
        );
        let elements = e.elements();
        let names: Vec<&str> = elements.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "AWSAccessKeyId",
                "StringToSign",
                "SignatureProvided",
                "StringToSignBytes",
                "CanonicalRequest",
                "CanonicalRequestBytes"
            ]
        );
        assert_eq!(elements[3].1, "41 42 0a");
        assert_eq!(elements[5].1, "");
    }

    #[test]
    fn body_errors_keep_auth_errors_and_wrap_the_rest_as_disconnects() {
        // An AuthError from a lower adapter keeps its code; an io error becomes a disconnect.
        assert_eq!(
            from_body_error(AuthError::IncompleteBody),
            AuthError::IncompleteBody
        );
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let e = from_body_error(io);
        assert!(e.is_client_disconnect(), "{e:?}");
        assert!(!AuthError::IncompleteBody.is_client_disconnect());
    }
}
