//! `/v3/auth/*`: issue (`POST /v3/auth/tokens`, the token in
//! `X-Subject-Token`), validate (`GET`/`HEAD`), revoke (`DELETE`), and the
//! token holder's catalog, projects and domains.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use std::collections::BTreeSet;

use super::request::{caller, header, parse_json, Query};
use super::respond::{json_response, no_content, ok};
use super::views::{self, collection};
use super::Svc;
use crate::error::IdentityError;
use crate::policy::Action;
use crate::service::{AuthBody, TokenInfo};
use crate::store::model::{Domain, Project, Target};
use crate::Identity;

pub async fn issue(
    State(svc): Svc,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, IdentityError> {
    let req: AuthBody = parse_json(&body)?;
    let issued = svc.authenticate(&req.auth).await?;
    let with_catalog = !Query::parse(q.as_deref()).flag("nocatalog");
    let body = views::token(&svc, &issued.info, with_catalog);
    let mut r = json_response(StatusCode::CREATED, &body);
    let v = HeaderValue::from_str(&issued.token)
        .map_err(|e| IdentityError::Internal(format!("token header: {e}")))?;
    r.headers_mut().insert("x-subject-token", v);
    Ok(r)
}

/// The subject token, once the caller may see it; an invalid subject is 404.
async fn subject(
    svc: &Identity,
    headers: &HeaderMap,
) -> Result<(String, TokenInfo), IdentityError> {
    let who = caller(svc, headers).await?;
    let token = header(headers, "x-subject-token")
        .ok_or_else(|| IdentityError::bad_request("X-Subject-Token is required."))?;
    let info = match svc.validate_token(token).await {
        Ok(info) => info,
        Err(IdentityError::Unauthorized { .. }) => {
            return Err(IdentityError::not_found("token", "X-Subject-Token"))
        }
        Err(e) => return Err(e),
    };
    who.authorize(Action::CheckToken(&info.user.id))?;
    Ok((token.to_string(), info))
}

pub async fn check(
    State(svc): Svc,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, IdentityError> {
    let (token, info) = subject(&svc, &headers).await?;
    let with_catalog = !Query::parse(q.as_deref()).flag("nocatalog");
    let mut r = ok(&views::token(&svc, &info, with_catalog));
    if let Ok(v) = HeaderValue::from_str(&token) {
        r.headers_mut().insert("x-subject-token", v);
    }
    Ok(r)
}

pub async fn revoke(State(svc): Svc, headers: HeaderMap) -> Result<Response, IdentityError> {
    let (_, info) = subject(&svc, &headers).await?;
    svc.revoke(&info).await?;
    Ok(no_content())
}

pub async fn catalog(State(svc): Svc, headers: HeaderMap) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    if who.project_id.is_none() && who.domain_id.is_none() {
        return Err(IdentityError::Forbidden(
            "The catalog needs a scoped token.".into(),
        ));
    }
    let base = &svc.settings().public_url;
    let items = svc.catalog().for_token(who.project_id.as_deref());
    Ok(ok(&collection(base, "/v3/auth/catalog", "catalog", items)))
}

/// The targets the user holds a role on, directly or through a group.
async fn targets(svc: &Identity, user_id: &str) -> Result<BTreeSet<Target>, IdentityError> {
    let all = svc.store().user_assignments_on(user_id, None).await?;
    Ok(all.into_iter().map(|a| a.target).collect())
}

/// The enabled projects the user holds a role on.
pub async fn user_projects(svc: &Identity, user_id: &str) -> Result<Vec<Project>, IdentityError> {
    let mut out = Vec::new();
    for t in targets(svc, user_id).await? {
        if let Target::Project(pid) = t {
            out.extend(svc.store().entity::<Project>(&pid).await?);
        }
    }
    Ok(out)
}

pub async fn projects(State(svc): Svc, headers: HeaderMap) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    let base = &svc.settings().public_url;
    let items = user_projects(&svc, &who.user_id)
        .await?
        .iter()
        .filter(|p| p.enabled)
        .map(|p| views::project(base, p))
        .collect();
    Ok(ok(&collection(
        base,
        "/v3/auth/projects",
        "projects",
        items,
    )))
}

pub async fn domains(State(svc): Svc, headers: HeaderMap) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    let base = &svc.settings().public_url;
    let mut items = Vec::new();
    for t in targets(&svc, &who.user_id).await? {
        if let Target::Domain(did) = t {
            if let Some(d) = svc.store().entity::<Domain>(&did).await? {
                items.extend(d.enabled.then(|| views::domain(base, &d)));
            }
        }
    }
    Ok(ok(&collection(base, "/v3/auth/domains", "domains", items)))
}
