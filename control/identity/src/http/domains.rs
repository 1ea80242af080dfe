//! `/v3/domains`: list (filters `name`, `enabled`), create, show, update,
//! delete (only once disabled, and only when empty; never `default`).

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
use crate::store::model::{Domain, Group, Project, Target, User, DEFAULT_DOMAIN_ID};

#[derive(Debug, Deserialize)]
struct Body {
    domain: Fields,
}

#[derive(Debug, Default, Deserialize)]
struct Fields {
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
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
        .list::<Domain>()
        .await?
        .iter()
        .filter(|d| q.keeps(&d.name, None, Some(d.enabled)))
        .map(|d| views::domain(base, d))
        .collect();
    Ok(ok(&collection(base, "/v3/domains", "domains", items)))
}

pub async fn create(
    State(svc): Svc,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let Body { domain: f } = parse_json(&body)?;
    let name = f
        .name
        .ok_or_else(|| IdentityError::bad_request("A domain needs a name."))?;
    check_name("domain", &name)?;
    let d = Domain {
        id: new_id(),
        name,
        description: f.description.unwrap_or_default(),
        enabled: f.enabled.unwrap_or(true),
    };
    svc.store().create(&d).await?;
    Ok(created(&views::one(&svc, &d)))
}

pub async fn show(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    if who.user_domain_id != id {
        who.authorize(Action::Read)?;
    }
    let d = svc.store().must::<Domain>(&id).await?;
    Ok(ok(&views::one(&svc, &d)))
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
    let Body { domain: f } = parse_json(&body)?;
    let d = svc
        .store()
        .update::<Domain>(&id, |d| {
            if let Some(n) = f.name {
                check_name("domain", &n)?;
                d.name = n;
            }
            if let Some(desc) = f.description {
                d.description = desc;
            }
            if let Some(e) = f.enabled {
                d.enabled = e;
            }
            Ok(())
        })
        .await?;
    Ok(ok(&views::one(&svc, &d)))
}

pub async fn delete(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let d = svc.store().must::<Domain>(&id).await?;
    if d.id == DEFAULT_DOMAIN_ID {
        return Err(IdentityError::Forbidden(
            "The default domain cannot be deleted.".into(),
        ));
    }
    if d.enabled {
        return Err(IdentityError::Forbidden(
            "Cannot delete a domain that is enabled, please disable it first.".into(),
        ));
    }
    let s = svc.store();
    let holds = s.list::<Project>().await?.iter().any(|p| p.domain_id == id)
        || s.list::<User>().await?.iter().any(|u| u.domain_id == id)
        || s.list::<Group>().await?.iter().any(|g| g.domain_id == id);
    if holds {
        return Err(IdentityError::Conflict {
            kind: "domain",
            detail: "the domain still holds projects, users or groups.".into(),
        });
    }
    let target = Target::Domain(id.clone());
    let cascade = s.assignment_deletes(|a| a.target == target).await?;
    s.delete(&d, cascade).await?;
    Ok(no_content())
}
