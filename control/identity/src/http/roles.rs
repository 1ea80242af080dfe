//! `/v3/roles`: list (filter `name`), create, show, update, delete (with
//! its assignments). Roles are global; `domain_id` is always null.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use super::request::{caller, parse_json, Query};
use super::respond::{created, no_content, ok};
use super::views::{self, collection};
use super::Svc;
use crate::error::IdentityError;
use crate::ids::new_id;
use crate::policy::Action;
use crate::store::check_name;
use crate::store::model::Role;

#[derive(Debug, Deserialize)]
struct Body {
    role: Fields,
}

#[derive(Debug, Default, Deserialize)]
struct Fields {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    domain_id: Option<Value>,
}

pub async fn list(
    State(svc): Svc,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    let q = Query::parse(q.as_deref());
    let base = &svc.settings().public_url;
    let items = svc
        .store()
        .list::<Role>()
        .await?
        .iter()
        .filter(|r| q.keeps(&r.name, None, None))
        .map(|r| views::role(base, r))
        .collect();
    Ok(ok(&collection(base, "/v3/roles", "roles", items)))
}

pub async fn create(
    State(svc): Svc,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let Body { role: f } = parse_json(&body)?;
    if f.domain_id.is_some_and(|d| !d.is_null()) {
        return Err(IdentityError::bad_request(
            "Domain-specific roles are not supported.",
        ));
    }
    let name = f
        .name
        .ok_or_else(|| IdentityError::bad_request("A role needs a name."))?;
    check_name("role", &name)?;
    let r = Role {
        id: new_id(),
        name,
        description: f.description.unwrap_or_default(),
    };
    svc.store().create(&r).await?;
    Ok(created(&views::one(&svc, &r)))
}

pub async fn update(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let Body { role: f } = parse_json(&body)?;
    let r = svc
        .store()
        .update::<Role>(&id, |r| {
            if let Some(n) = f.name {
                check_name("role", &n)?;
                r.name = n;
            }
            if let Some(d) = f.description {
                r.description = d;
            }
            Ok(())
        })
        .await?;
    Ok(ok(&views::one(&svc, &r)))
}

pub async fn delete(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let r = svc.store().must::<Role>(&id).await?;
    let cascade = svc.store().assignment_deletes(|a| a.role_id == id).await?;
    svc.store().delete(&r, cascade).await?;
    Ok(no_content())
}
