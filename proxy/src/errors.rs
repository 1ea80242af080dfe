//! `SwiftError`: every way a Swift request fails, with the status and body
//! Swift itself would answer.

use http::StatusCode;

/// A request that cannot be served, with the HTTP status Swift gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwiftError {
    /// 400 with an explanation (constraints, malformed headers).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 400 for a too-long account or container name: Swift's proxy sends
    /// the explanation with its default HTML content type.
    #[error("bad name: {0}")]
    BadName(String),
    #[error("unauthorized")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 406: no listing format the client accepts.
    #[error("not acceptable")]
    NotAcceptable,
    #[error("conflict")]
    Conflict,
    #[error("length required")]
    LengthRequired,
    /// 412 with Swift's generic body, or a specific explanation.
    #[error("precondition failed")]
    PreconditionFailed(Option<String>),
    #[error("request entity too large")]
    TooLarge,
    #[error("range not satisfiable")]
    RangeNotSatisfiable,
    #[error("unprocessable entity")]
    Unprocessable,
    #[error("client disconnected")]
    ClientDisconnect,
    #[error("request timeout")]
    RequestTimeout,
    #[error("not implemented")]
    NotImplemented,
    /// 503: quorum not reached or the metadata service is unavailable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("insufficient storage")]
    InsufficientStorage,
    #[error("internal error: {0}")]
    Internal(String),
}

impl SwiftError {
    /// The HTTP status Swift answers with.
    pub fn http_status(&self) -> StatusCode {
        match self {
            SwiftError::BadRequest(_) | SwiftError::BadName(_) => StatusCode::BAD_REQUEST,
            SwiftError::Unauthorized => StatusCode::UNAUTHORIZED,
            SwiftError::Forbidden => StatusCode::FORBIDDEN,
            SwiftError::NotFound => StatusCode::NOT_FOUND,
            SwiftError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            SwiftError::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            SwiftError::Conflict => StatusCode::CONFLICT,
            SwiftError::LengthRequired => StatusCode::LENGTH_REQUIRED,
            SwiftError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            SwiftError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            SwiftError::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            SwiftError::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            SwiftError::ClientDisconnect => client_disconnect(),
            SwiftError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            SwiftError::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            SwiftError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            SwiftError::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            SwiftError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body and its content type: Swift's HTML snippets, or plain text
    /// for explained 400s and 412s.
    pub fn body(&self) -> (String, &'static str) {
        const HTML: &str = "text/html; charset=UTF-8";
        const TEXT: &str = "text/plain; charset=UTF-8";
        let html =
            |title: &str, text: &str| (format!("<html><h1>{title}</h1><p>{text}</p></html>"), HTML);
        match self {
            SwiftError::BadRequest(msg) => (msg.clone(), TEXT),
            SwiftError::BadName(msg) => (msg.clone(), HTML),
            SwiftError::PreconditionFailed(Some(msg)) => (msg.clone(), TEXT),
            SwiftError::Unauthorized => html("Unauthorized", "This server could not verify that you are authorized to access the document you requested."),
            SwiftError::Forbidden => html("Forbidden", "Access was denied to this resource."),
            SwiftError::NotFound => html("Not Found", "The resource could not be found."),
            SwiftError::MethodNotAllowed => html("Method Not Allowed", "The method is not allowed for this resource."),
            SwiftError::NotAcceptable => html("Not Acceptable", "The request is not acceptable."),
            SwiftError::Conflict => html("Conflict", "There was a conflict when trying to complete your request."),
            SwiftError::LengthRequired => html("Length Required", "Length Required"),
            SwiftError::PreconditionFailed(None) => html("Precondition Failed", "A precondition for this request was not met."),
            SwiftError::TooLarge => html("Request Entity Too Large", "The body of your request was too large for this server."),
            SwiftError::RangeNotSatisfiable => html("Requested Range Not Satisfiable", "The Range requested is not available."),
            SwiftError::Unprocessable => html("Unprocessable Entity", "Unable to process the contained instructions"),
            SwiftError::ClientDisconnect => html("Client Disconnect", "The client was disconnected during request."),
            SwiftError::RequestTimeout => html("Request Timeout", "The server has waited too long for the request to be sent by the client."),
            SwiftError::NotImplemented => html("Not Implemented", "The server has no support for this request."),
            SwiftError::Unavailable(_) => html("Service Unavailable", "The server is currently unavailable. Please try again at a later time."),
            SwiftError::InsufficientStorage => html("Insufficient Storage", "There was not enough space to save the resource."),
            SwiftError::Internal(_) => html("Internal Error", "The server has either erred or is incapable of performing the requested operation."),
        }
    }
}

fn client_disconnect() -> StatusCode {
    // Swift's non-standard 499; the constant is valid by construction.
    StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST)
}

impl From<cairn_meta_api::MetaError> for SwiftError {
    fn from(e: cairn_meta_api::MetaError) -> Self {
        use cairn_meta_api::MetaError as M;
        match e {
            M::AccountNotFound | M::ContainerNotFound => SwiftError::NotFound,
            M::ContainerNotEmpty => SwiftError::Conflict,
            M::TooManyContainers => SwiftError::Forbidden,
            M::Unavailable(s) | M::Storage(s) | M::NotLeader(s) => SwiftError::Unavailable(s),
            // The object API never asks about volumes or records.
            e @ (M::VolumeNotFound
            | M::InvalidRecordKey(_)
            | M::VolumeExists
            | M::SnapshotNotFound
            | M::SnapshotExists
            | M::VolumeBusy(_)) => SwiftError::Unavailable(e.to_string()),
        }
    }
}
