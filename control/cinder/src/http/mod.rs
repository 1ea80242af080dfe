//! The routes of `/volume` (mount with `nest_service`), the caller behind
//! `X-Auth-Token` and what its roles allow, and microversions: a request
//! may ask for any version from 3.0 to [`MAX_VERSION`] in
//! `OpenStack-API-Version: volume 3.x`, and the answer names the version
//! it speaks.

mod attachments;
mod quotas;
mod snapshots;
mod types;
mod volumes;

use std::sync::Arc;

use axum::extract::State;
use axum::middleware::{from_fn, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn_identity::Caller;
use http::{HeaderMap, HeaderValue, Request, StatusCode};

use crate::{views, Cinder, CinderError};

/// The newest microversion served.
pub const MAX_VERSION: &str = "3.71";
const VERSION_HEADER: &str = "openstack-api-version";

type Svc = State<Arc<Cinder>>;

pub fn router(cinder: Arc<Cinder>) -> Router {
    Router::new()
        .route("/", get(versions_choice))
        .route("/v3", get(versions))
        .route("/v3/", get(versions))
        .route(
            "/v3/{project}/volumes",
            get(volumes::list).post(volumes::create),
        )
        .route("/v3/{project}/volumes/detail", get(volumes::detail))
        .route(
            "/v3/{project}/volumes/{id}",
            get(volumes::show)
                .put(volumes::update)
                .delete(volumes::delete),
        )
        .route("/v3/{project}/volumes/{id}/action", post(volumes::action))
        .route(
            "/v3/{project}/snapshots",
            get(snapshots::detail).post(snapshots::create),
        )
        .route("/v3/{project}/snapshots/detail", get(snapshots::detail))
        .route(
            "/v3/{project}/snapshots/{id}",
            get(snapshots::show).delete(snapshots::delete),
        )
        .route("/v3/{project}/types", get(types::list).post(types::create))
        .route(
            "/v3/{project}/types/{id}",
            get(types::show).put(types::update).delete(types::delete),
        )
        .route(
            "/v3/{project}/types/{id}/extra_specs",
            get(types::specs).post(types::set_specs),
        )
        .route(
            "/v3/{project}/types/{id}/extra_specs/{key}",
            get(types::spec)
                .put(types::set_spec)
                .delete(types::delete_spec),
        )
        .route(
            "/v3/{project}/os-quota-sets/{target}",
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route(
            "/v3/{project}/os-quota-sets/{target}/defaults",
            get(quotas::defaults),
        )
        .route("/v3/{project}/limits", get(quotas::limits))
        .route(
            "/v3/{project}/attachments",
            get(attachments::list).post(attachments::create),
        )
        .route("/v3/{project}/attachments/detail", get(attachments::list))
        .route(
            "/v3/{project}/attachments/{id}",
            get(attachments::show)
                .put(attachments::update)
                .delete(attachments::delete),
        )
        .route(
            "/v3/{project}/attachments/{id}/action",
            post(attachments::action),
        )
        .layer(from_fn(microversion))
        .with_state(cinder)
}

async fn versions_choice(State(c): Svc) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(views::versions(&c.public_url)),
    )
        .into_response()
}

async fn versions(State(c): Svc) -> Json<serde_json::Value> {
    Json(views::versions(&c.public_url))
}

/// Checks the requested microversion and names the one answered.
async fn microversion(req: Request<axum::body::Body>, next: Next) -> Response {
    let asked = req
        .headers()
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("volume "))
        .map(|v| v.trim().to_owned());
    let answered = match asked.as_deref() {
        None => "3.0".to_owned(),
        Some("latest") => MAX_VERSION.to_owned(),
        Some(v) if supported(v) => v.to_owned(),
        Some(v) => return CinderError::VersionNotAcceptable(v.to_owned()).into_response(),
    };
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&format!("volume {answered}")) {
        resp.headers_mut().insert(VERSION_HEADER, v);
        resp.headers_mut()
            .insert("vary", HeaderValue::from_static(VERSION_HEADER));
    }
    resp
}

/// `3.x` with 0 <= x <= the maximum's minor.
fn supported(v: &str) -> bool {
    let max: u32 = MAX_VERSION[2..].parse().unwrap_or(0);
    v.split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)))
        .is_some_and(|(major, minor)| major == 3 && minor <= max)
}

/// The minor of the microversion a request asked for (0 if none; the
/// middleware has refused unsupported ones).
fn requested_minor(headers: &HeaderMap) -> u32 {
    let max: u32 = MAX_VERSION[2..].parse().unwrap_or(0);
    match headers
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("volume "))
        .map(str::trim)
    {
        Some("latest") => max,
        Some(v) => v
            .split_once('.')
            .and_then(|(_, minor)| minor.parse().ok())
            .unwrap_or(0),
        None => 0,
    }
}

/// The caller, who must hold a token scoped to `project` (or be an admin);
/// any role on it may read the project's volumes.
async fn caller(c: &Cinder, headers: &HeaderMap, project: &str) -> Result<Caller, CinderError> {
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .ok_or(CinderError::Unauthorized)?;
    let who = c
        .identity
        .validate(token)
        .await
        .map_err(|_| CinderError::Unauthorized)?;
    if !who.may_access_project(project) {
        return Err(CinderError::Forbidden(
            "Policy doesn't allow this operation on another project.".into(),
        ));
    }
    Ok(who)
}

/// A caller that may change them (`member` or `admin`).
async fn writer(c: &Cinder, headers: &HeaderMap, project: &str) -> Result<Caller, CinderError> {
    let who = caller(c, headers, project).await?;
    if who.has_role("member") || who.is_admin() {
        Ok(who)
    } else {
        Err(CinderError::Forbidden(
            "Policy doesn't allow a reader to change volumes.".into(),
        ))
    }
}

/// A caller with the admin role, who alone may do `action` (a Cinder
/// policy name, which the 403 names as Cinder's does).
async fn admin(
    c: &Cinder,
    headers: &HeaderMap,
    project: &str,
    action: &str,
) -> Result<Caller, CinderError> {
    let who = caller(c, headers, project).await?;
    if !who.is_admin() {
        return Err(CinderError::Forbidden(format!(
            "Policy doesn't allow {action} to be performed."
        )));
    }
    Ok(who)
}

/// The body, parsed, or Cinder's 400.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CinderError> {
    serde_json::from_slice(body)
        .map_err(|e| CinderError::BadRequest(format!("Malformed request body: {e}")))
}

/// Now, in Unix seconds.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A new random id in UUID form.
fn new_id() -> String {
    cairn_base::VolumeId(rand::random()).to_string()
}

#[cfg(test)]
mod tests;
