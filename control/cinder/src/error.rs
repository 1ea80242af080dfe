//! Cinder's errors and their JSON form: `{"<kind>": {"code", "message"}}`
//! with kinds `badRequest`, `itemNotFound`, `forbidden` and the rest, as
//! the clients print them. Over a quota is 413 `overLimit` with
//! `retryAfter`, as Cinder answers it.

use axum::response::{IntoResponse, Response};
use cairn_block::gateway::VolumeError;
use cairn_meta_api::MetaError;
use http::StatusCode;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum CinderError {
    #[error("{0}")]
    BadRequest(String),
    #[error("The request you have made requires authentication.")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Over a quota: the message names the limit, as Cinder's does.
    #[error("{0}")]
    OverLimit(String),
    #[error("Version {0} is not supported by the API. Minimum is 3.0 and maximum is 3.71.")]
    VersionNotAcceptable(String),
    #[error("{0}")]
    Unavailable(String),
}

impl CinderError {
    fn status_and_kind(&self) -> (StatusCode, &'static str) {
        match self {
            CinderError::BadRequest(_) => (StatusCode::BAD_REQUEST, "badRequest"),
            CinderError::Unauthorized => (StatusCode::UNAUTHORIZED, "error"),
            CinderError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            CinderError::NotFound(_) => (StatusCode::NOT_FOUND, "itemNotFound"),
            CinderError::Conflict(_) => (StatusCode::CONFLICT, "conflictingRequest"),
            CinderError::OverLimit(_) => (StatusCode::PAYLOAD_TOO_LARGE, "overLimit"),
            CinderError::VersionNotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "computeFault"),
            CinderError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "serviceUnavailable"),
        }
    }
}

impl IntoResponse for CinderError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status_and_kind();
        let mut body = json!({kind: {"code": status.as_u16(), "message": self.to_string()}});
        if let CinderError::OverLimit(_) = self {
            // Cinder's quota errors say a retry may come at once.
            body[kind]["retryAfter"] = json!("0");
            let retry = [(http::header::RETRY_AFTER, "0")];
            return (status, retry, axum::Json(body)).into_response();
        }
        (status, axum::Json(body)).into_response()
    }
}

impl From<MetaError> for CinderError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::VolumeNotFound => CinderError::NotFound("Volume could not be found.".into()),
            MetaError::SnapshotNotFound => {
                CinderError::NotFound("Snapshot could not be found.".into())
            }
            MetaError::VolumeBusy(why) => CinderError::BadRequest(why),
            MetaError::VolumeExists | MetaError::SnapshotExists => {
                CinderError::BadRequest(e.to_string())
            }
            other => CinderError::Unavailable(other.to_string()),
        }
    }
}

impl From<VolumeError> for CinderError {
    fn from(e: VolumeError) -> Self {
        match e {
            VolumeError::Meta(m) => m.into(),
            VolumeError::Invalid(why) => CinderError::BadRequest(why),
            VolumeError::Block(b) => CinderError::Unavailable(b.to_string()),
        }
    }
}
