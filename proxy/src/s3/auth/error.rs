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
    /// A signed-chunk `aws-chunked` upload not signed with SigV4, whose
    /// signing key the chunk signatures need (a SigV2 request).
    #[error("x-amz-content-sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD requires a request signed with AWS4-HMAC-SHA256")]
    StreamingNeedsSigV4,
    /// Both an `Authorization` header and a query-string signature.
    #[error("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")]
    MultipleAuthMechanisms,
    /// A header-signed request without `x-amz-content-sha256`.
    #[error("Missing required header for this request: x-amz-content-sha256")]
    MissingContentSha256,
    /// `x-amz-content-sha256` is neither a sha256 nor a payload mode we know.
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")]
    InvalidContentSha256,
    /// A header-signed request with neither a valid `x-amz-date` nor `Date`.
    #[error("AWS authentication requires a valid Date or x-amz-date header")]
    MissingDate,
    /// `x-amz-*` headers the signature does not cover (named, comma-separated).
    #[error("There were headers present in the request which were not signed: {0}")]
    HeadersNotSigned(String),
    #[error("The request signature we calculated does not match the signature you provided. Check your key and signing method.")]
    SignatureDoesNotMatch,
    /// Header auth more than 15 minutes away from our clock.
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed,
    /// A presigned URL past `X-Amz-Date + X-Amz-Expires`.
    #[error("Request has expired")]
    RequestExpired,
    /// A presigned URL dated more than 15 minutes in the future.
    #[error("Request is not valid yet")]
    RequestNotYetValid,
    /// The body's sha256 is not the signed `x-amz-content-sha256`.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
    /// The body's checksum is not the one the client sent (header or trailer).
    #[error("The {} you specified did not match the calculated checksum.", .0.label())]
    ChecksumMismatch(ChecksumAlgorithm),
    /// A checksum header or trailer that is not base64 of a digest of the right length.
    #[error("Value for {0} header is invalid.")]
    InvalidChecksum(&'static str),
    #[error("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")]
    MultipleChecksums,
    /// `x-amz-trailer` names something other than one checksum we compute.
    #[error("The value specified in the x-amz-trailer header is not supported")]
    UnsupportedTrailer,
    /// `x-amz-decoded-content-length` is not a number.
    #[error("x-amz-decoded-content-length must be a non-negative integer")]
    InvalidDecodedContentLength,
    /// The `aws-chunked` framing is broken (what is wrong, in words).
    #[error("Malformed aws-chunked body: {0}")]
    MalformedChunk(&'static str),
    /// The body ended early, or its decoded length is not `x-amz-decoded-content-length`.
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header")]
    IncompleteBody,
    /// Reading the body from the client failed: the client went away.
    #[error("client disconnected: {0}")]
    ClientDisconnect(String),
}

impl AuthError {
    /// The S3 error code (`<Code>` of the XML error body).
    pub fn code(&self) -> &'static str {
        use AuthError::*;
        match self {
            AuthorizationHeaderMalformed(_) => "AuthorizationHeaderMalformed",
            AuthorizationQueryParametersError(_) => "AuthorizationQueryParametersError",
            UnsupportedAuthorizationType | MultipleAuthMechanisms | InvalidContentSha256 => {
                "InvalidArgument"
            }
            InvalidDecodedContentLength | MalformedV2Authorization => "InvalidArgument",
            MissingContentSha256 | StreamingNeedsSigV4 => "InvalidRequest",
            InvalidChecksum(_) | MultipleChecksums | UnsupportedTrailer => "InvalidRequest",
            MalformedChunk(_) => "InvalidRequest",
            MissingDate | HeadersNotSigned(_) | RequestExpired | RequestNotYetValid => {
                "AccessDenied"
            }
            MissingQueryAuthParameters | InvalidExpires(_) => "AccessDenied",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            RequestTimeTooSkewed => "RequestTimeTooSkewed",
            ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
            ChecksumMismatch(_) => "BadDigest",
            IncompleteBody | ClientDisconnect(_) => "IncompleteBody",
        }
    }

    /// The HTTP status: 403 when the credentials or their timing are refused,
    /// 400 when the request is malformed.
    pub fn status(&self) -> StatusCode {
        use AuthError::*;
        match self {
            MissingDate
            | MissingQueryAuthParameters
            | InvalidExpires(_)
            | HeadersNotSigned(_)
            | SignatureDoesNotMatch
            | RequestTimeTooSkewed
            | RequestExpired
            | RequestNotYetValid => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
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
        assert_eq!(
            AuthError::ContentSha256Mismatch.code(),
            "XAmzContentSHA256Mismatch"
        );
        let bad = AuthError::ChecksumMismatch(ChecksumAlgorithm::Crc32c);
        assert_eq!(bad.code(), "BadDigest");
        assert_eq!(
            bad.to_string(),
            "The CRC32C you specified did not match the calculated checksum."
        );
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
