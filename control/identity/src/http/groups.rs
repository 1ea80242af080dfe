//! `/v3/groups`: list (filters `name`, `domain_id`), create, show, update,
//! delete (with memberships and assignments); members listed, added,
//! checked (`HEAD`) and removed.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;

use super::request::{caller, parse_json, Query};
use super::respond::{created, no_content, ok};
use super::views::{self, collection};
use super::Svc;
use crate::error::IdentityError;
use crate::ids::new_id;
use crate::policy::Action;
use crate::store::check_name;
use crate::store::model::{Actor, Domain, Group, User};

#[derive(Debug, Deserialize)]
struct Body {
    group: Fields,
}

#[derive(Debug, Default, Deserialize)]
struct Fields {
    name: Option<String>,
    domain_id: Option<String>,
    description: Option<String>,
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
        .list::<Group>()
        .await?
        .iter()
        .filter(|g| q.keeps(&g.name, Some(&g.domain_id), None))
        .map(|g| views::group(base, g))
        .collect();
    Ok(ok(&collection(base, "/v3/groups", "groups", items)))
}

pub async fn create(
    State(svc): Svc,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    who.authorize(Action::Administer)?;
    let Body { group: f } = parse_json(&body)?;
    let name = f
        .name
        .ok_or_else(|| IdentityError::bad_request("A group needs a name."))?;
    check_name("group", &name)?;
    let domain_id = f.domain_id.unwrap_or(who.user_domain_id);
    svc.store().must::<Domain>(&domain_id).await?;
    let g = Group {
        id: new_id(),
        name,
        domain_id,
        description: f.description.unwrap_or_default(),
    };
    svc.store().create(&g).await?;
    Ok(created(&views::one(&svc, &g)))
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
    let Body { group: f } = parse_json(&body)?;
    let g = svc
        .store()
        .update::<Group>(&id, |g| {
            if let Some(n) = f.name {
                check_name("group", &n)?;
                g.name = n;
            }
            if let Some(d) = f.description {
                g.description = d;
            }
            Ok(())
        })
        .await?;
    Ok(ok(&views::one(&svc, &g)))
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
    let g = s.must::<Group>(&id).await?;
    let actor = Actor::Group(id.clone());
    let mut cascade = s.assignment_deletes(|a| a.actor == actor).await?;
    cascade.extend(s.group_membership_deletes(&id).await?);
    s.delete(&g, cascade).await?;
    Ok(no_content())
}

pub async fn members(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    svc.store().must::<Group>(&id).await?;
    let base = &svc.settings().public_url;
    let mut items = Vec::new();
    for uid in svc.store().members(&id).await? {
        if let Some(u) = svc.store().entity::<User>(&uid).await? {
            items.push(views::user(base, &u));
        }
    }
    let path = format!("/v3/groups/{id}/users");
    Ok(ok(&collection(base, &path, "users", items)))
}

pub async fn add_member(
    State(svc): Svc,
    headers: HeaderMap,
    Path((gid, uid)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    svc.store().must::<Group>(&gid).await?;
    svc.store().must::<User>(&uid).await?;
    svc.store().add_member(&gid, &uid).await?;
    Ok(no_content())
}

pub async fn check_member(
    State(svc): Svc,
    headers: HeaderMap,
    Path((gid, uid)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    if svc.store().is_member(&gid, &uid).await? {
        Ok(no_content())
    } else {
        Err(IdentityError::not_found("group membership", uid))
    }
}

pub async fn remove_member(
    State(svc): Svc,
    headers: HeaderMap,
    Path((gid, uid)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    svc.store().remove_member(&gid, &uid).await?;
    Ok(no_content())
}
