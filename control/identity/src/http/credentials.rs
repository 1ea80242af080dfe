//! A user's credentials: application credentials
//! (`/v3/users/{id}/application_credentials`: create shows the secret
//! once; list with `?name=`, show, delete) and EC2 credentials
//! (`/v3/users/{id}/credentials/OS-EC2`: create for a project, list,
//! show, delete). Only the user itself (or an admin, except for creating
//! an application credential) manages them.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::request::{caller, parse_json, Query};
use super::respond::{created, no_content, ok};
use super::views::{self, collection};
use super::Svc;
use crate::error::IdentityError;
use crate::policy::Action;
use crate::service::{NameOrId, NewAppCredential};
use crate::store::model::{AppCredential, Role, User};
use crate::store::scoped;
use crate::time::parse_iso8601_micros;
use crate::Identity;

#[derive(Debug, Deserialize)]
struct AppCredBody {
    application_credential: AppCredFields,
}

#[derive(Debug, Deserialize)]
struct AppCredFields {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    roles: Option<Vec<NameOrId>>,
    #[serde(default)]
    unrestricted: Option<bool>,
}

async fn roles_of(svc: &Identity, a: &AppCredential) -> Result<Vec<Role>, IdentityError> {
    let mut out = Vec::new();
    for id in &a.role_ids {
        out.extend(svc.store().entity::<Role>(id).await?);
    }
    Ok(out)
}

/// The user's application credential `id` (404 if another user's).
async fn own_app_cred(
    svc: &Identity,
    user_id: &str,
    id: &str,
) -> Result<AppCredential, IdentityError> {
    svc.store()
        .entity::<AppCredential>(id)
        .await?
        .filter(|a| a.user_id == user_id)
        .ok_or_else(|| IdentityError::not_found("application credential", id))
}

pub async fn create_app_cred(
    State(svc): Svc,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Bytes,
) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    let AppCredBody {
        application_credential: f,
    } = parse_json(&body)?;
    let expires_at_micros = match f.expires_at.as_deref() {
        Some(s) => Some(
            parse_iso8601_micros(s)
                .ok_or_else(|| IdentityError::bad_request("expires_at is not an ISO 8601 time."))?,
        ),
        None => None,
    };
    let new = NewAppCredential {
        name: f.name,
        description: f.description.unwrap_or_default(),
        secret: f.secret,
        expires_at_micros,
        roles: f.roles,
        unrestricted: f.unrestricted.unwrap_or(false),
    };
    let (cred, secret, roles) = svc.create_app_credential(&who, &uid, new).await?;
    let mut v = views::app_cred(&svc.settings().public_url, &cred, &roles);
    v["secret"] = json!(secret);
    Ok(created(&json!({ "application_credential": v })))
}

pub async fn list_app_creds(
    State(svc): Svc,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::ManageCredentials(&uid))?;
    svc.store().must::<User>(&uid).await?;
    let q = Query::parse(q.as_deref());
    let base = &svc.settings().public_url;
    let creds = match q.get("name") {
        Some(n) => svc
            .store()
            .by_name::<AppCredential>(&scoped(&uid, n))
            .await?
            .into_iter()
            .collect(),
        None => {
            let prefix = format!("{uid}/");
            svc.store()
                .list_by_name_prefix::<AppCredential>(&prefix)
                .await?
        }
    };
    let mut items = Vec::new();
    for a in &creds {
        items.push(views::app_cred(base, a, &roles_of(&svc, a).await?));
    }
    let path = format!("/v3/users/{uid}/application_credentials");
    Ok(ok(&collection(
        base,
        &path,
        "application_credentials",
        items,
    )))
}

pub async fn show_app_cred(
    State(svc): Svc,
    headers: HeaderMap,
    Path((uid, id)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::ManageCredentials(&uid))?;
    let a = own_app_cred(&svc, &uid, &id).await?;
    let v = views::app_cred(&svc.settings().public_url, &a, &roles_of(&svc, &a).await?);
    Ok(ok(&json!({ "application_credential": v })))
}

pub async fn delete_app_cred(
    State(svc): Svc,
    headers: HeaderMap,
    Path((uid, id)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::ManageCredentials(&uid))?;
    let a = own_app_cred(&svc, &uid, &id).await?;
    svc.store().delete(&a, Vec::new()).await?;
    Ok(no_content())
}

#[derive(Debug, Deserialize)]
struct Ec2Body {
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
}

pub async fn create_ec2(
    State(svc): Svc,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Bytes,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::ManageCredentials(&uid))?;
    let b: Ec2Body = parse_json(&body)?;
    let pid = b
        .tenant_id
        .or(b.project_id)
        .ok_or_else(|| IdentityError::bad_request("An EC2 credential needs a tenant_id."))?;
    let c = svc.create_ec2_credential(&uid, &pid).await?;
    Ok(created(
        &json!({"credential": views::ec2(&svc.settings().public_url, &c)}),
    ))
}

pub async fn list_ec2(
    State(svc): Svc,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::ManageCredentials(&uid))?;
    svc.store().must::<User>(&uid).await?;
    let base = &svc.settings().public_url;
    let items = svc
        .store()
        .ec2_of_user(&uid)
        .await?
        .iter()
        .map(|c| views::ec2(base, c))
        .collect();
    let path = format!("/v3/users/{uid}/credentials/OS-EC2");
    Ok(ok(&collection(base, &path, "credentials", items)))
}

pub async fn show_ec2(
    State(svc): Svc,
    headers: HeaderMap,
    Path((uid, access)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::ManageCredentials(&uid))?;
    let c = svc
        .store()
        .ec2(&access)
        .await?
        .filter(|c| c.user_id == uid)
        .ok_or_else(|| IdentityError::not_found("credential", &access))?;
    Ok(ok(
        &json!({"credential": views::ec2(&svc.settings().public_url, &c)}),
    ))
}

pub async fn delete_ec2(
    State(svc): Svc,
    headers: HeaderMap,
    Path((uid, access)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::ManageCredentials(&uid))?;
    let c = svc
        .store()
        .ec2(&access)
        .await?
        .filter(|c| c.user_id == uid)
        .ok_or_else(|| IdentityError::not_found("credential", &access))?;
    svc.store().delete_ec2(&c).await?;
    Ok(no_content())
}
