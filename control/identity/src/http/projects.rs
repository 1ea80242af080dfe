//! `/v3/projects`: list (filters `name`, `domain_id`, `enabled`), create,
//! show (404 for a name: clients then list with `?name=`), update, delete
//! (with the role assignments on it). Projects are flat: the parent is the
//! domain.

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
use crate::store::model::{Domain, Project, Target};

#[derive(Debug, Deserialize)]
struct Body {
    project: Fields,
}

#[derive(Debug, Default, Deserialize)]
struct Fields {
    name: Option<String>,
    domain_id: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    parent_id: Option<String>,
    is_domain: Option<bool>,
    tags: Option<Vec<String>>,
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
        .list::<Project>()
        .await?
        .iter()
        .filter(|p| q.keeps(&p.name, Some(&p.domain_id), Some(p.enabled)))
        .map(|p| views::project(base, p))
        .collect();
    Ok(ok(&collection(base, "/v3/projects", "projects", items)))
}

pub async fn create(
    State(svc): Svc,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    who.authorize(Action::Administer)?;
    let Body { project: f } = parse_json(&body)?;
    let name = f
        .name
        .ok_or_else(|| IdentityError::bad_request("A project needs a name."))?;
    check_name("project", &name)?;
    let domain_id = f.domain_id.unwrap_or(who.user_domain_id);
    if f.is_domain == Some(true) {
        return Err(IdentityError::bad_request(
            "Projects acting as domains are not supported.",
        ));
    }
    if f.parent_id.as_ref().is_some_and(|p| *p != domain_id) {
        return Err(IdentityError::bad_request(
            "Nested projects are not supported.",
        ));
    }
    svc.store().must::<Domain>(&domain_id).await?;
    let p = Project {
        id: new_id(),
        name,
        domain_id,
        description: f.description.unwrap_or_default(),
        enabled: f.enabled.unwrap_or(true),
        tags: super::tags::tag_list(f.tags.unwrap_or_default())?,
    };
    svc.store().create(&p).await?;
    Ok(created(&views::one(&svc, &p)))
}

pub async fn show(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    if who.project_id.as_deref() != Some(id.as_str()) {
        who.authorize(Action::Read)?;
    }
    let p = svc.store().must::<Project>(&id).await?;
    Ok(ok(&views::one(&svc, &p)))
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
    let Body { project: f } = parse_json(&body)?;
    let tags = f.tags.map(super::tags::tag_list).transpose()?;
    let p = svc
        .store()
        .update::<Project>(&id, |p| {
            if f.domain_id.as_ref().is_some_and(|d| *d != p.domain_id) {
                return Err(IdentityError::bad_request(
                    "A project cannot change domain.",
                ));
            }
            if let Some(n) = f.name {
                check_name("project", &n)?;
                p.name = n;
            }
            if let Some(d) = f.description {
                p.description = d;
            }
            if let Some(e) = f.enabled {
                p.enabled = e;
            }
            if let Some(t) = tags {
                p.tags = t;
            }
            Ok(())
        })
        .await?;
    Ok(ok(&views::one(&svc, &p)))
}

pub async fn delete(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let p = svc.store().must::<Project>(&id).await?;
    let target = Target::Project(id.clone());
    let cascade = svc
        .store()
        .assignment_deletes(|a| a.target == target)
        .await?;
    svc.store().delete(&p, cascade).await?;
    Ok(no_content())
}
