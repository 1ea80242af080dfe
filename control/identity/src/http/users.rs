//! `/v3/users`: list (filters `name`, `domain_id`, `enabled`), create,
//! show, update (a new password voids the user's tokens), delete (with its
//! assignments, memberships and credentials); a user's own password change,
//! groups and projects.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

use super::request::{caller, parse_json, Query};
use super::respond::{created, no_content, ok};
use super::tokens::user_projects;
use super::views::{self, collection};
use super::Svc;
use crate::error::IdentityError;
use crate::policy::Action;
use crate::service::NewUser;
use crate::store::check_name;
use crate::store::model::{Actor, Group, Project, User};

#[derive(Debug, Deserialize)]
struct Body {
    user: Fields,
}

#[derive(Debug, Default, Deserialize)]
struct Fields {
    name: Option<String>,
    domain_id: Option<String>,
    password: Option<String>,
    enabled: Option<bool>,
    description: Option<String>,
    email: Option<String>,
    /// Absent: unchanged; `null`: cleared.
    #[serde(default)]
    default_project_id: Option<Value>,
    /// Any other attribute: Keystone's "extra", kept and echoed.
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

/// Most extra attributes a user keeps, and their largest JSON size.
const EXTRA_KEYS_MAX: usize = 32;
const EXTRA_BYTES_MAX: usize = 4096;

/// The extra attributes of a body, bounded; `id`, `links` and
/// `password_expires_at` are Keystone's own and never extra.
fn extra(mut extra: BTreeMap<String, Value>) -> Result<BTreeMap<String, Value>, IdentityError> {
    for own in ["id", "links", "password_expires_at", "options"] {
        extra.remove(own);
    }
    let bytes = serde_json::to_vec(&extra).map_or(usize::MAX, |b| b.len());
    if extra.len() > EXTRA_KEYS_MAX || bytes > EXTRA_BYTES_MAX {
        return Err(IdentityError::bad_request(
            "Too many or too large extra user attributes.",
        ));
    }
    Ok(extra)
}

/// `default_project_id` as sent: `None` absent, `Some(None)` null.
fn project_field(v: Option<Value>) -> Result<Option<Option<String>>, IdentityError> {
    match v {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s))),
        Some(_) => Err(IdentityError::bad_request(
            "default_project_id must be a string or null.",
        )),
    }
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
        .list::<User>()
        .await?
        .iter()
        .filter(|u| q.keeps(&u.name, Some(&u.domain_id), Some(u.enabled)))
        .map(|u| views::user(base, u))
        .collect();
    Ok(ok(&collection(base, "/v3/users", "users", items)))
}

pub async fn create(
    State(svc): Svc,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    who.authorize(Action::Administer)?;
    let Body { user: f } = parse_json(&body)?;
    let new = NewUser {
        name: f
            .name
            .ok_or_else(|| IdentityError::bad_request("A user needs a name."))?,
        domain_id: f.domain_id.unwrap_or(who.user_domain_id),
        password: f.password,
        enabled: f.enabled.unwrap_or(true),
        description: f.description.unwrap_or_default(),
        email: f.email,
        default_project_id: project_field(f.default_project_id)?.flatten(),
        extra: extra(f.extra)?,
    };
    let u = svc.create_user(new).await?;
    Ok(created(&views::one(&svc, &u)))
}

pub async fn show(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::ReadUser(&id))?;
    let u = svc.store().must::<User>(&id).await?;
    Ok(ok(&views::one(&svc, &u)))
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
    let Body { user: f } = parse_json(&body)?;
    let default_project = project_field(f.default_project_id)?;
    let more = extra(f.extra)?;
    if let Some(Some(pid)) = &default_project {
        svc.store().must::<Project>(pid).await?;
    }
    let mut u = svc
        .store()
        .update::<User>(&id, |u| {
            if f.domain_id.as_ref().is_some_and(|d| *d != u.domain_id) {
                return Err(IdentityError::bad_request("A user cannot change domain."));
            }
            if let Some(n) = f.name {
                check_name("user", &n)?;
                u.name = n;
            }
            if let Some(e) = f.enabled {
                u.enabled = e;
            }
            if let Some(d) = f.description {
                u.description = d;
            }
            if let Some(e) = f.email {
                u.email = Some(e);
            }
            u.extra.extend(more);
            if u.extra.len() > EXTRA_KEYS_MAX {
                return Err(IdentityError::bad_request(
                    "Too many extra user attributes.",
                ));
            }
            if let Some(p) = default_project {
                u.default_project_id = p;
            }
            Ok(())
        })
        .await?;
    if let Some(p) = &f.password {
        u = svc.set_password(&id, p).await?;
    }
    Ok(ok(&views::one(&svc, &u)))
}

pub async fn delete(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let s = svc.store();
    let u = s.must::<User>(&id).await?;
    let actor = Actor::User(id.clone());
    let mut cascade = s.assignment_deletes(|a| a.actor == actor).await?;
    cascade.extend(s.user_membership_deletes(&id).await?);
    cascade.extend(s.user_credential_deletes(&id).await?);
    s.delete(&u, cascade).await?;
    Ok(no_content())
}

#[derive(Debug, Deserialize)]
struct PasswordBody {
    user: PasswordFields,
}

#[derive(Debug, Deserialize)]
struct PasswordFields {
    password: String,
    original_password: String,
}

/// `POST /v3/users/{id}/password`: the original password authenticates
/// the change, so no token is needed (as in Keystone).
pub async fn change_password(
    State(svc): Svc,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, IdentityError> {
    let PasswordBody { user: f } = parse_json(&body)?;
    svc.change_password(&id, &f.original_password, &f.password)
        .await?;
    Ok(no_content())
}

pub async fn groups(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::ReadUser(&id))?;
    svc.store().must::<User>(&id).await?;
    let base = &svc.settings().public_url;
    let mut items = Vec::new();
    for gid in svc.store().groups_of(&id).await? {
        if let Some(g) = svc.store().entity::<Group>(&gid).await? {
            items.push(views::group(base, &g));
        }
    }
    let path = format!("/v3/users/{id}/groups");
    Ok(ok(&collection(base, &path, "groups", items)))
}

pub async fn projects(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::ReadUser(&id))?;
    svc.store().must::<User>(&id).await?;
    let base = &svc.settings().public_url;
    let items = user_projects(&svc, &id)
        .await?
        .iter()
        .map(|p| views::project(base, p))
        .collect();
    let path = format!("/v3/users/{id}/projects");
    Ok(ok(&collection(base, &path, "projects", items)))
}
