//! `S3Error`: every way an S3 request fails, with the code, HTTP status and
//! default message Amazon S3 gives it, the XML error body S3 sends, and the
//! translation of the Swift layer's errors underneath (as s3api does it).

use crate::errors::SwiftError;
use crate::s3::auth::AuthError;
use crate::s3::xml::XmlDoc;
use axum::body::Body;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use std::fmt;

/// Declares [`S3ErrorCode`] from one table, so that a code, its status and
/// its message cannot drift apart.
macro_rules! error_codes {
    ($($code:ident => $status:ident, $message:literal;)*) => {
        /// An S3 error code (`<Code>`), as Amazon S3 spells it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum S3ErrorCode {
            $($code,)*
        }

        impl S3ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [S3ErrorCode] = &[$(S3ErrorCode::$code,)*];

            /// The code as it appears in `<Code>`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(S3ErrorCode::$code => stringify!($code),)*
                }
            }

            /// The HTTP status Amazon S3 answers this code with.
            pub fn status(self) -> StatusCode {
                match self {
                    $(S3ErrorCode::$code => StatusCode::$status,)*
                }
            }

            /// The message Amazon S3 sends when it has nothing more specific.
            pub fn default_message(self) -> &'static str {
                match self {
                    $(S3ErrorCode::$code => $message,)*
                }
            }
        }
    };
}

error_codes! {
    AccessDenied => FORBIDDEN, "Access Denied";
    AccountProblem => FORBIDDEN, "There is a problem with your AWS account that prevents the operation from completing successfully.";
    AuthorizationHeaderMalformed => BAD_REQUEST, "The authorization header that you provided is not valid.";
    AuthorizationQueryParametersError => BAD_REQUEST, "The authorization query parameters that you provided are not valid.";
    BadDigest => BAD_REQUEST, "The Content-MD5 you specified did not match what we received.";
    BucketAlreadyExists => CONFLICT, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.";
    BucketAlreadyOwnedByYou => CONFLICT, "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty => CONFLICT, "The bucket you tried to delete is not empty";
    EntityTooLarge => BAD_REQUEST, "Your proposed upload exceeds the maximum allowed object size.";
    EntityTooSmall => BAD_REQUEST, "Your proposed upload is smaller than the minimum allowed object size.";
    IllegalLocationConstraintException => BAD_REQUEST, "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.";
    IncompleteBody => BAD_REQUEST, "You did not provide the number of bytes specified by the Content-Length HTTP header";
    InternalError => INTERNAL_SERVER_ERROR, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId => FORBIDDEN, "The AWS Access Key Id you provided does not exist in our records.";
    InvalidArgument => BAD_REQUEST, "Invalid Argument";
    InvalidBucketName => BAD_REQUEST, "The specified bucket is not valid.";
    InvalidChunkSizeError => FORBIDDEN, "Only the last chunk is allowed to have a size less than 8192 bytes";
    InvalidDigest => BAD_REQUEST, "The Content-MD5 you specified was invalid.";
    InvalidLocationConstraint => BAD_REQUEST, "The specified location constraint is not valid.";
    InvalidObjectState => FORBIDDEN, "The operation is not valid for the current state of the object.";
    InvalidPart => BAD_REQUEST, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
    InvalidPartNumber => RANGE_NOT_SATISFIABLE, "The requested partnumber is not satisfiable";
    InvalidPartOrder => BAD_REQUEST, "The list of parts was not in ascending order. The parts list must be specified in order by part number.";
    InvalidRange => RANGE_NOT_SATISFIABLE, "The requested range is not satisfiable";
    InvalidRequest => BAD_REQUEST, "Invalid Request";
    InvalidStorageClass => BAD_REQUEST, "The storage class you specified is not valid";
    InvalidURI => BAD_REQUEST, "Couldn't parse the specified URI.";
    KeyTooLongError => BAD_REQUEST, "Your key is too long";
    MalformedACLError => BAD_REQUEST, "The XML you provided was not well-formed or did not validate against our published schema";
    MaxMessageLengthExceeded => BAD_REQUEST, "Your request was too big.";
    MalformedTrailerError => BAD_REQUEST, "The request contained trailing data that was not well-formed or did not conform to our published schema.";
    MalformedXML => BAD_REQUEST, "The XML you provided was not well-formed or did not validate against our published schema";
    MetadataTooLarge => BAD_REQUEST, "Your metadata headers exceed the maximum allowed metadata size.";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "The specified method is not allowed against this resource.";
    MissingContentLength => LENGTH_REQUIRED, "You must provide the Content-Length HTTP header.";
    MissingRequestBodyError => BAD_REQUEST, "Request Body is empty";
    NoSuchBucket => NOT_FOUND, "The specified bucket does not exist";
    NoSuchBucketPolicy => NOT_FOUND, "The bucket policy does not exist";
    NoSuchCORSConfiguration => NOT_FOUND, "The CORS configuration does not exist";
    NoSuchKey => NOT_FOUND, "The specified key does not exist.";
    NoSuchLifecycleConfiguration => NOT_FOUND, "The lifecycle configuration does not exist";
    NoSuchTagSet => NOT_FOUND, "The TagSet does not exist";
    NoSuchVersion => NOT_FOUND, "The specified version does not exist.";
    NoSuchWebsiteConfiguration => NOT_FOUND, "The specified bucket does not have a website configuration";
    NoSuchUpload => NOT_FOUND, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    NotImplemented => NOT_IMPLEMENTED, "A header you provided implies functionality that is not implemented";
    NotModified => NOT_MODIFIED, "Not Modified";
    ObjectLockConfigurationNotFoundError => NOT_FOUND, "Object Lock configuration does not exist for this bucket";
    PreconditionFailed => PRECONDITION_FAILED, "At least one of the pre-conditions you specified did not hold";
    RequestTimeTooSkewed => FORBIDDEN, "The difference between the request time and the current time is too large.";
    RequestTimeout => BAD_REQUEST, "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.";
    ServiceUnavailable => SERVICE_UNAVAILABLE, "Service is unable to handle request.";
    SignatureDoesNotMatch => FORBIDDEN, "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    SlowDown => SERVICE_UNAVAILABLE, "Please reduce your request rate.";
    TooManyBuckets => BAD_REQUEST, "You have attempted to create more buckets than allowed";
    UnexpectedContent => BAD_REQUEST, "This request does not support content";
    UserKeyMustBeSpecified => BAD_REQUEST, "The bucket POST must contain the specified field name. If it is specified, please check the order of the fields.";
    XAmzContentSHA256Mismatch => BAD_REQUEST, "The provided 'x-amz-content-sha256' header does not match what was computed.";
}

impl fmt::Display for S3ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An S3 error response: the code, the message, and the extra elements S3
/// adds for some codes (`<BucketName>`, `<Key>`, `<UploadId>`,
/// `<ArgumentName>`/`<ArgumentValue>`, `<HostId>`…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct S3Error {
    pub code: S3ErrorCode,
    pub message: String,
    /// `<Resource>`: the bucket or object the request named.
    pub resource: Option<String>,
    /// Further elements, in order, after `<RequestId>`. The names come from
    /// our code, never from a request, so they need no escaping.
    pub extra: Vec<(&'static str, String)>,
}

impl S3Error {
    /// The error with S3's default message for `code`.
    pub fn new(code: S3ErrorCode) -> Self {
        S3Error {
            code,
            message: code.default_message().to_owned(),
            resource: None,
            extra: Vec::new(),
        }
    }

    /// Replaces the default message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Sets `<Resource>`.
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Adds the element `<name>value</name>` after `<RequestId>`.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()),
            "not an S3 element name: {name:?}"
        );
        self.extra.push((name, value.into()));
        self
    }

    /// `InvalidArgument` naming the argument and the value refused, as S3 does.
    pub fn invalid_argument(name: &str, value: &str, message: impl Into<String>) -> Self {
        S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message(message)
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }

    /// Translates an error of the Swift layer underneath. A 404 means what
    /// the operation looked for (`NoSuchBucket`, `NoSuchKey`, `NoSuchUpload`),
    /// so the caller names it in `not_found`; a 409 is `BucketNotEmpty` for
    /// bucket operations (those whose 404 is `NoSuchBucket`: Swift's only 409
    /// there is a non-empty container) and otherwise an internal error (a
    /// broken large-object manifest). Internal reasons (quorum tallies, disk
    /// errors) are left out of the response: log `e` before translating it.
    pub fn from_swift(e: SwiftError, not_found: S3ErrorCode) -> Self {
        use S3ErrorCode as C;
        let code = match e {
            SwiftError::NotFound => not_found,
            SwiftError::BadRequest(msg) => {
                return S3Error::new(C::InvalidRequest).with_message(msg);
            }
            SwiftError::BadName(msg) => {
                return S3Error::new(C::InvalidBucketName).with_message(msg);
            }
            SwiftError::Unauthorized | SwiftError::Forbidden => C::AccessDenied,
            SwiftError::MethodNotAllowed => C::MethodNotAllowed,
            SwiftError::Conflict if not_found == C::NoSuchBucket => C::BucketNotEmpty,
            SwiftError::Conflict | SwiftError::NotAcceptable | SwiftError::Internal(_) => {
                C::InternalError
            }
            SwiftError::LengthRequired => C::MissingContentLength,
            SwiftError::PreconditionFailed(_) => C::PreconditionFailed,
            SwiftError::TooLarge => C::EntityTooLarge,
            SwiftError::RangeNotSatisfiable => C::InvalidRange,
            SwiftError::Unprocessable => C::BadDigest,
            SwiftError::ClientDisconnect => C::IncompleteBody,
            SwiftError::RequestTimeout => C::RequestTimeout,
            SwiftError::NotImplemented => C::NotImplemented,
            SwiftError::Unavailable(_) => C::ServiceUnavailable,
            SwiftError::InsufficientStorage => {
                return S3Error::new(C::ServiceUnavailable)
                    .with_message("There is not enough space to store the object.");
            }
        };
        S3Error::new(code)
    }

    /// The XML error document S3 sends as the body.
    pub fn body_xml(&self, request_id: &str) -> String {
        let mut doc = XmlDoc::plain("Error");
        doc.text("Code", self.code.as_str())
            .text("Message", &self.message);
        if let Some(resource) = &self.resource {
            doc.text("Resource", resource);
        }
        doc.text("RequestId", request_id);
        for (name, value) in &self.extra {
            doc.text(name, value);
        }
        doc.finish()
    }

    /// The whole response: status, `Content-Type: application/xml`,
    /// `x-amz-request-id`, and the XML body, except that a HEAD response and
    /// a 304 have no body (S3 sends none).
    pub fn into_response(self, request_id: &str, is_head: bool) -> Response<Body> {
        let status = self.code.status();
        let bodiless = is_head || status == StatusCode::NOT_MODIFIED;
        let mut resp = Response::new(if bodiless {
            Body::empty()
        } else {
            Body::from(self.body_xml(request_id))
        });
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        if status != StatusCode::NOT_MODIFIED {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        }
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-amz-request-id", id);
        }
        resp
    }
}

impl From<S3ErrorCode> for S3Error {
    fn from(code: S3ErrorCode) -> Self {
        S3Error::new(code)
    }
}

/// The object-level translation: a Swift 404 is `NoSuchKey`. Bucket and
/// upload operations use [`S3Error::from_swift`] to name their own 404.
impl From<SwiftError> for S3Error {
    fn from(e: SwiftError) -> Self {
        S3Error::from_swift(e, S3ErrorCode::NoSuchKey)
    }
}

/// An authentication or body-check failure, under the code it names, with
/// the elements S3 adds for it.
impl From<AuthError> for S3Error {
    fn from(e: AuthError) -> Self {
        let code = S3ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == e.code())
            .unwrap_or(S3ErrorCode::AccessDenied);
        let mut err = S3Error::new(code).with_message(e.to_string());
        err.extra = e.elements();
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::xml::testutil::{leaves, root_namespace};
    use http_body_util::BodyExt;

    #[test]
    fn every_code_has_an_error_status_and_a_message() {
        // Each code spells itself as declared, answers 3xx-5xx and has a message.
        assert_eq!(S3ErrorCode::ALL.len(), 58);
        for code in S3ErrorCode::ALL {
            assert_eq!(format!("{code:?}"), code.as_str());
            let s = code.status().as_u16();
            assert!((300..600).contains(&s), "{code}: {s}");
            assert!(!code.default_message().is_empty(), "{code}");
        }
    }

    #[test]
    fn statuses_match_amazon_s3() {
        // A sample of S3's documented statuses, including the unusual ones.
        use S3ErrorCode as C;
        let want = [
            (C::AccessDenied, 403),
            (C::BucketNotEmpty, 409),
            (C::EntityTooLarge, 400),
            (C::InvalidRange, 416),
            (C::MethodNotAllowed, 405),
            (C::MissingContentLength, 411),
            (C::NoSuchBucket, 404),
            (C::NoSuchUpload, 404),
            (C::NotImplemented, 501),
            (C::NotModified, 304),
            (C::PreconditionFailed, 412),
            (C::RequestTimeTooSkewed, 403),
            (C::RequestTimeout, 400),
            (C::SlowDown, 503),
            (C::InternalError, 500),
            (C::InvalidObjectState, 403),
        ];
        for (code, status) in want {
            assert_eq!(code.status().as_u16(), status, "{code}");
        }
        assert_eq!(
            C::NoSuchBucket.default_message(),
            "The specified bucket does not exist"
        );
    }

    #[test]
    fn body_has_code_message_resource_request_id_then_extras() {
        // The literal document, in S3's order, with no namespace on <Error>.
        let e = S3Error::new(S3ErrorCode::NoSuchKey)
            .with_resource("/b/k")
            .with("Key", "k");
        assert_eq!(
            e.body_xml("tx1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message><Resource>/b/k</Resource>\
             <RequestId>tx1</RequestId><Key>k</Key></Error>"
        );
        assert_eq!(root_namespace(&e.body_xml("tx1")), None);
    }

    #[test]
    fn body_escapes_markup_and_control_characters() {
        // A key with markup and a carriage return comes back intact when parsed.
        let key = "a<b>&\"c'\r\n\u{1}";
        let e = S3Error::invalid_argument("x-amz-meta", key, "bad <value>");
        let got = leaves(&e.body_xml("id&1"));
        assert_eq!(
            got,
            vec![
                ("Error/Code".to_owned(), "InvalidArgument".to_owned()),
                ("Error/Message".to_owned(), "bad <value>".to_owned()),
                ("Error/RequestId".to_owned(), "id&1".to_owned()),
                ("Error/ArgumentName".to_owned(), "x-amz-meta".to_owned()),
                ("Error/ArgumentValue".to_owned(), key.to_owned()),
            ]
        );
    }

    #[test]
    #[should_panic(expected = "not an S3 element name")]
    fn extra_element_names_must_be_plain() {
        // An element name with markup is a programming error, caught at once.
        let _ = S3Error::new(S3ErrorCode::InvalidRequest).with("A><B", "v");
    }

    async fn parts(resp: Response<Body>) -> (StatusCode, http::HeaderMap, Vec<u8>) {
        let (head, body) = resp.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes().to_vec());
        (head.status, head.headers, bytes.unwrap_or_default())
    }

    #[tokio::test]
    async fn response_carries_status_type_request_id_and_body() {
        // A GET error: status from the code, XML content type, id header, body.
        let e = S3Error::new(S3ErrorCode::NoSuchBucket).with("BucketName", "b");
        let want_body = e.body_xml("tx9");
        let (status, headers, body) = parts(e.into_response("tx9", false)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers["content-type"], "application/xml");
        assert_eq!(headers["x-amz-request-id"], "tx9");
        assert_eq!(body, want_body.into_bytes());
    }

    #[tokio::test]
    async fn head_and_not_modified_responses_have_no_body() {
        // HEAD keeps the status and headers but drops the body; 304 drops both.
        let (status, headers, body) =
            parts(S3Error::new(S3ErrorCode::AccessDenied).into_response("t", true)).await;
        assert_eq!((status, body.len()), (StatusCode::FORBIDDEN, 0));
        assert_eq!(headers["content-type"], "application/xml");
        let (status, headers, body) =
            parts(S3Error::new(S3ErrorCode::NotModified).into_response("t", false)).await;
        assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));
        assert!(headers.get("content-type").is_none());
        assert_eq!(headers["x-amz-request-id"], "t");
    }

    #[tokio::test]
    async fn request_id_that_is_no_header_value_is_left_out() {
        // A request id with a newline cannot be a header; the body still has it.
        let (_, headers, body) =
            parts(S3Error::new(S3ErrorCode::InternalError).into_response("a\nb", false)).await;
        assert!(headers.get("x-amz-request-id").is_none());
        assert!(String::from_utf8_lossy(&body).contains("<RequestId>a\nb</RequestId>"));
    }

    #[test]
    fn swift_errors_map_as_s3api_maps_them() {
        // Each Swift error becomes the S3 code s3api answers for that status.
        use S3ErrorCode as C;
        let obj = |e: SwiftError| S3Error::from(e).code;
        assert_eq!(obj(SwiftError::NotFound), C::NoSuchKey);
        assert_eq!(obj(SwiftError::Unauthorized), C::AccessDenied);
        assert_eq!(obj(SwiftError::Forbidden), C::AccessDenied);
        assert_eq!(
            obj(SwiftError::PreconditionFailed(None)),
            C::PreconditionFailed
        );
        assert_eq!(obj(SwiftError::RangeNotSatisfiable), C::InvalidRange);
        assert_eq!(obj(SwiftError::Unprocessable), C::BadDigest);
        assert_eq!(obj(SwiftError::TooLarge), C::EntityTooLarge);
        assert_eq!(obj(SwiftError::LengthRequired), C::MissingContentLength);
        assert_eq!(obj(SwiftError::ClientDisconnect), C::IncompleteBody);
        assert_eq!(obj(SwiftError::RequestTimeout), C::RequestTimeout);
        assert_eq!(obj(SwiftError::NotImplemented), C::NotImplemented);
        assert_eq!(obj(SwiftError::MethodNotAllowed), C::MethodNotAllowed);
        assert_eq!(obj(SwiftError::NotAcceptable), C::InternalError);
        assert_eq!(obj(SwiftError::Conflict), C::InternalError);
        assert_eq!(obj(SwiftError::InsufficientStorage), C::ServiceUnavailable);
        let unavailable = S3Error::from(SwiftError::Unavailable("quorum 1 of 2".into()));
        assert_eq!(unavailable.code.status().as_u16(), 503);
        assert!(!unavailable.message.contains("quorum"));
        let internal = S3Error::from(SwiftError::Internal("disk d1".into()));
        assert_eq!(internal.code, C::InternalError);
        assert!(!internal.message.contains("d1"));
    }

    #[test]
    fn swift_not_found_and_conflict_follow_the_callers_context() {
        // The caller names the 404; a bucket operation's 409 is BucketNotEmpty.
        use S3ErrorCode as C;
        let bucket = |e| S3Error::from_swift(e, C::NoSuchBucket).code;
        assert_eq!(bucket(SwiftError::NotFound), C::NoSuchBucket);
        assert_eq!(bucket(SwiftError::Conflict), C::BucketNotEmpty);
        let upload = S3Error::from_swift(SwiftError::NotFound, C::NoSuchUpload);
        assert_eq!(upload.code, C::NoSuchUpload);
        assert_eq!(upload.message, C::NoSuchUpload.default_message());
    }

    #[test]
    fn auth_errors_keep_their_code_message_and_elements() {
        // A decoded-length mismatch is IncompleteBody with both byte counts, as S3 writes it.
        let e = S3Error::from(AuthError::DecodedLengthMismatch {
            expected: 32,
            provided: 4,
        });
        assert_eq!(e.code, S3ErrorCode::IncompleteBody);
        assert_eq!(e.message, S3ErrorCode::IncompleteBody.default_message());
        let xml = e.body_xml("tx");
        assert!(xml.contains("<NumberBytesExpected>32</NumberBytesExpected><NumberBytesProvided>4</NumberBytesProvided>"), "{xml}");
        let trailer = S3Error::from(AuthError::MalformedTrailer);
        assert_eq!(trailer.code, S3ErrorCode::MalformedTrailerError);
        assert_eq!(trailer.message, trailer.code.default_message());
        let small = S3Error::from(AuthError::ChunkTooSmall {
            chunk: 2,
            size: 1024,
        });
        assert_eq!(small.code.status().as_u16(), 403);
    }

    #[test]
    fn swift_bad_request_keeps_its_explanation() {
        // Swift's 400 text (a constraint) reaches the client as InvalidRequest.
        let e = S3Error::from(SwiftError::BadRequest("Metadata value too long".into()));
        assert_eq!(e.code, S3ErrorCode::InvalidRequest);
        assert_eq!(e.message, "Metadata value too long");
        assert_eq!(e.to_string(), "InvalidRequest: Metadata value too long");
    }
}
