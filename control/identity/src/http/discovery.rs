//! Version discovery (`GET /` → 300 with the version list, `GET /v3` →
//! 200 with v3), which every client fetches first, and the read-only
//! `/v3/services` and `/v3/endpoints` views of the catalog.

use axum::extract::{Path, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::request::caller;
use super::respond::{json_response, ok};
use super::views::collection;
use super::Svc;
use crate::error::IdentityError;
use crate::policy::Action;

fn v3(base: &str) -> Value {
    json!({"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
           "links": [{"rel": "self", "href": format!("{base}/v3/")}],
           "media-types": [{"base": "application/json",
                            "type": "application/vnd.openstack.identity-v3+json"}]})
}

pub async fn versions(State(svc): Svc) -> Response {
    let base = &svc.settings().public_url;
    json_response(
        StatusCode::MULTIPLE_CHOICES,
        &json!({"versions": {"values": [v3(base)]}}),
    )
}

pub async fn version(State(svc): Svc) -> Response {
    ok(&json!({"version": v3(&svc.settings().public_url)}))
}

pub async fn services(State(svc): Svc, headers: HeaderMap) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    let base = &svc.settings().public_url;
    let items = svc.catalog().services(base);
    Ok(ok(&collection(base, "/v3/services", "services", items)))
}

pub async fn service(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    let found = svc
        .catalog()
        .services(&svc.settings().public_url)
        .into_iter()
        .find(|s| s["id"] == id.as_str())
        .ok_or_else(|| IdentityError::not_found("service", &id))?;
    Ok(ok(&json!({ "service": found })))
}

pub async fn endpoints(State(svc): Svc, headers: HeaderMap) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    let base = &svc.settings().public_url;
    let items = svc.catalog().endpoints(base);
    Ok(ok(&collection(base, "/v3/endpoints", "endpoints", items)))
}

pub async fn endpoint(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    let found = svc
        .catalog()
        .endpoints(&svc.settings().public_url)
        .into_iter()
        .find(|s| s["id"] == id.as_str())
        .ok_or_else(|| IdentityError::not_found("endpoint", &id))?;
    Ok(ok(&json!({ "endpoint": found })))
}
