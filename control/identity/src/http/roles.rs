//! `/v3/roles`: list (filter `name`), create, show, update, delete (with
//! its assignments and inference rules). Roles are global; `domain_id` is
//! always null. Inference rules: `PUT`/`GET`/`HEAD`/`DELETE
//! /v3/roles/{prior}/implies/{implied}`, `GET /v3/roles/{prior}/implies`,
//! `GET /v3/role_inferences`.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};

use super::request::{caller, parse_json, Query};
use super::respond::{created, no_content, ok};
use super::views::{self, collection};
use super::Svc;
use crate::error::IdentityError;
use crate::ids::new_id;
use crate::policy::Action;
use crate::store::check_name;
use crate::store::model::{ImpliedRole, Role};
use crate::Identity;

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
    let mut cascade = svc.store().assignment_deletes(|a| a.role_id == id).await?;
    cascade.extend(svc.store().implied_role_deletes(&id).await?);
    svc.store().delete(&r, cascade).await?;
    Ok(no_content())
}

/// `{id, name, links}` of a role in an inference rule.
fn brief(base: &str, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name,
           "links": {"self": format!("{base}/v3/roles/{}", r.id)}})
}

/// The rule `prior` ⇒ `implied`, both roles checked (404 if unknown).
async fn rule(
    svc: &Identity,
    prior: &str,
    implied: &str,
) -> Result<(ImpliedRole, Value), IdentityError> {
    let base = &svc.settings().public_url;
    let p = svc.store().must::<Role>(prior).await?;
    let i = svc.store().must::<Role>(implied).await?;
    let body = json!({"role_inference": {"prior_role": brief(base, &p),
                                         "implies": brief(base, &i)}});
    let rule = ImpliedRole {
        prior_id: p.id,
        implied_id: i.id,
    };
    Ok((rule, body))
}

pub async fn imply(
    State(svc): Svc,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let (r, body) = rule(&svc, &prior, &implied).await?;
    if r.prior_id == r.implied_id {
        return Err(IdentityError::bad_request("A role cannot imply itself."));
    }
    svc.store().imply(&r).await?;
    Ok(created(&body))
}

/// The rule if stored, else 404.
async fn stored_rule(svc: &Identity, prior: &str, implied: &str) -> Result<Value, IdentityError> {
    let (r, body) = rule(svc, prior, implied).await?;
    if svc.store().implied_roles().await?.contains(&r) {
        Ok(body)
    } else {
        Err(IdentityError::not_found("implied role", implied))
    }
}

pub async fn show_rule(
    State(svc): Svc,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    Ok(ok(&stored_rule(&svc, &prior, &implied).await?))
}

/// `HEAD`: 204 if the rule exists.
pub async fn check_rule(
    State(svc): Svc,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    stored_rule(&svc, &prior, &implied).await?;
    Ok(no_content())
}

pub async fn unimply(
    State(svc): Svc,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let (r, _) = rule(&svc, &prior, &implied).await?;
    svc.store().unimply(&r).await?;
    Ok(no_content())
}

/// `{prior_role, implies: [..]}` of the rules from `prior` (among `rules`).
fn inference(base: &str, prior: &Role, rules: &[ImpliedRole], roles: &[Role]) -> Value {
    let implies: Vec<Value> = rules
        .iter()
        .filter(|r| r.prior_id == prior.id)
        .filter_map(|r| roles.iter().find(|x| x.id == r.implied_id))
        .map(|x| brief(base, x))
        .collect();
    json!({"prior_role": brief(base, prior), "implies": implies})
}

/// `GET /v3/roles/{prior}/implies`.
pub async fn implied_by(
    State(svc): Svc,
    headers: HeaderMap,
    Path(prior): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    let p = svc.store().must::<Role>(&prior).await?;
    let roles = svc.store().list::<Role>().await?;
    let rules = svc.store().implied_roles().await?;
    let base = &svc.settings().public_url;
    Ok(ok(
        &json!({"role_inference": inference(base, &p, &rules, &roles)}),
    ))
}

/// `GET /v3/role_inferences`: every stored rule, grouped by prior role.
pub async fn inferences(State(svc): Svc, headers: HeaderMap) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    let roles = svc.store().list::<Role>().await?;
    let rules = svc.store().implied_roles().await?;
    let base = &svc.settings().public_url;
    let items: Vec<Value> = roles
        .iter()
        .filter(|p| rules.iter().any(|r| r.prior_id == p.id))
        .map(|p| inference(base, p, &rules, &roles))
        .collect();
    Ok(ok(&json!({"role_inferences": items,
                  "links": {"self": format!("{base}/v3/role_inferences"),
                            "next": null, "previous": null}})))
}
