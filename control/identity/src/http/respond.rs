//! Responses: Keystone's JSON error body for every [`IdentityError`], JSON
//! and empty answers, and the headers every response carries
//! (`X-Openstack-Request-Id`; `WWW-Authenticate` on a 401).

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

use crate::error::IdentityError;
use crate::ids::random_bytes;
use crate::Identity;

/// A JSON answer.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

pub fn created(body: &Value) -> Response {
    json_response(StatusCode::CREATED, body)
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

impl IntoResponse for IdentityError {
    fn into_response(self) -> Response {
        let code = self.http_status();
        match &self {
            IdentityError::Unauthorized { reason } => tracing::debug!(reason, "unauthorized"),
            e if code >= 500 => tracing::warn!(error = %e, "identity request failed"),
            _ => {}
        }
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            json!({"error": {"code": code, "title": self.title(), "message": self.to_string()}});
        json_response(status, &body)
    }
}

/// `req-` and a random UUID, as OpenStack services name requests.
fn request_id() -> String {
    let h = hex::encode(random_bytes::<16>());
    format!(
        "req-{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Adds the request id, and on a 401 the `WWW-Authenticate` challenge
/// naming this service.
pub async fn decorate(State(svc): State<Arc<Identity>>, mut r: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        r.headers_mut().insert("x-openstack-request-id", v);
    }
    if r.status() == StatusCode::UNAUTHORIZED {
        let challenge = format!("Keystone uri=\"{}\"", svc.settings().public_url);
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
    }
    r
}

/// Unknown paths: Keystone's 404 body.
pub async fn not_found() -> Response {
    IdentityError::not_found("resource", "the requested path").into_response()
}
