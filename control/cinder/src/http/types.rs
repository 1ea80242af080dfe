//! `/v3/{project}/types`: list (public ones; an admin may ask for
//! `is_public=none` or `false`), show (by id or name, or `default`), and,
//! for admins only, create, update (name, description, is_public), delete
//! (refused for the default type and while a volume has the type) and the
//! extra specs (refused while a volume has the type; `replicas` must be a
//! count the ring can keep).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use cairn_identity::Caller;
use cairn_meta_api::records::Txn;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{admin, caller, new_id, parse, Svc};
use crate::quota::Retry;
use crate::types::{self, Stored, VolumeType, Written};
use crate::{views, Cinder, CinderError};

#[derive(Deserialize)]
struct CreateBody {
    volume_type: NewType,
}

#[derive(Deserialize)]
struct NewType {
    name: String,
    description: Option<String>,
    #[serde(default)]
    extra_specs: Option<BTreeMap<String, Option<String>>>,
    #[serde(rename = "os-volume-type-access:is_public")]
    is_public: Option<Value>,
}

#[derive(Deserialize)]
struct UpdateBody {
    volume_type: TypeChanges,
}

#[derive(Deserialize)]
struct TypeChanges {
    name: Option<String>,
    description: Option<String>,
    is_public: Option<Value>,
}

#[derive(Deserialize)]
struct SpecsBody {
    extra_specs: BTreeMap<String, Option<String>>,
}

/// A boolean as Cinder's schema takes one: `true`, `"True"`, `"yes"`, `"0"`…
fn boolean(v: &Value) -> Result<bool, CinderError> {
    let text = match v {
        Value::Bool(b) => return Ok(*b),
        Value::String(s) => s.to_ascii_lowercase(),
        _ => String::new(),
    };
    match text.as_str() {
        "true" | "1" | "on" | "yes" | "y" | "t" => Ok(true),
        "false" | "0" | "off" | "no" | "n" | "f" => Ok(false),
        _ => Err(CinderError::BadRequest(format!(
            "Invalid input received: {v} is not a boolean."
        ))),
    }
}

/// Extra specs with a `null` value stored as empty text, checked.
fn specs_of(
    c: &Cinder,
    given: BTreeMap<String, Option<String>>,
) -> Result<BTreeMap<String, String>, CinderError> {
    let specs = given
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    types::check_specs(&specs, c.gateway.replica_count_max())?;
    Ok(specs)
}

/// The type `id` (or name) as `who` may see it: a private type is an
/// admin's only.
async fn visible(c: &Cinder, who: &Caller, id: &str) -> Result<Stored, CinderError> {
    let found = types::find(c.records.as_ref(), id).await?;
    if !found.t.is_public && !who.is_admin() {
        return Err(CinderError::NotFound(format!(
            "Volume type {id} could not be found."
        )));
    }
    Ok(found)
}

fn one(c: &Cinder, project: &str, t: &VolumeType, admin: bool) -> Json<Value> {
    Json(json!({"volume_type": views::volume_type(&c.public_url, project, t, admin)}))
}

pub async fn list(
    State(c): Svc,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, CinderError> {
    let who = caller(&c, &headers, &project).await?;
    // Cinder: public only, unless an admin asks (`none`: all).
    let public: Option<bool> = match q.get("is_public") {
        Some(v) if who.is_admin() && v.eq_ignore_ascii_case("none") => None,
        Some(v) if who.is_admin() => Some(
            boolean(&json!(v))
                .map_err(|_| CinderError::BadRequest(format!("Invalid is_public filter [{v}]")))?,
        ),
        _ => Some(true),
    };
    let items: Vec<Value> = types::all(c.records.as_ref())
        .await?
        .iter()
        .filter(|t| public.is_none_or(|p| t.is_public == p))
        .map(|t| views::volume_type(&c.public_url, &project, t, who.is_admin()))
        .collect();
    Ok(Json(json!({ "volume_types": items })))
}

pub async fn show(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<Json<Value>, CinderError> {
    let who = caller(&c, &headers, &project).await?;
    let found = visible(&c, &who, &id).await?;
    Ok(one(&c, &project, &found.t, who.is_admin()))
}

pub async fn create(
    State(c): Svc,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, CinderError> {
    admin(&c, &headers, &project, "volume_extension:type_create").await?;
    let CreateBody { volume_type: n } = parse(&body)?;
    types::check_name(&n.name)?;
    let t = VolumeType {
        id: new_id(),
        is_public: n
            .is_public
            .as_ref()
            .map(boolean)
            .transpose()?
            .unwrap_or(true),
        extra_specs: specs_of(&c, n.extra_specs.unwrap_or_default())?,
        name: n.name,
        description: n.description,
    };
    let exists = || CinderError::Conflict(format!("Volume Type {} already exists.", t.name));
    // The built-in type's name is taken even before it is written.
    if types::find(c.records.as_ref(), &t.name).await.is_ok() {
        return Err(exists());
    }
    let txn = types::write(Txn::new(), None, &t)?;
    match types::commit(c.records.as_ref(), txn).await? {
        Written::Done => Ok(one(&c, &project, &t, true)),
        Written::NameTaken | Written::Raced => Err(exists()),
    }
}

/// Whether a change is refused while a volume has the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhileInUse {
    Allowed,
    Refused,
}

/// Reads the type, applies `change` and writes it back, again from the
/// read while another change races it. With [`WhileInUse::Refused`] the
/// volumes are scanned after the read: a volume created after the scan
/// rewrote the type, so the write's check fails and the scan runs again.
async fn change(
    c: &Cinder,
    id: &str,
    in_use: WhileInUse,
    change: impl Fn(&mut VolumeType) -> Result<(), CinderError>,
) -> Result<VolumeType, CinderError> {
    let mut retry = Retry::default();
    loop {
        let old = types::find(c.records.as_ref(), id).await?;
        let mut new = old.t.clone();
        change(&mut new)?;
        if in_use == WhileInUse::Refused && types::in_use(c.records.as_ref(), &old.t.id).await? {
            return Err(CinderError::BadRequest(
                "Volume Type is currently in use.".into(),
            ));
        }
        let txn = types::write(Txn::new(), Some(&old), &new)?;
        match types::commit(c.records.as_ref(), txn).await? {
            Written::Done => return Ok(new),
            Written::NameTaken => {
                return Err(CinderError::Conflict(format!(
                    "Volume Type {} already exists.",
                    new.name
                )))
            }
            Written::Raced => retry.again()?,
        }
    }
}

pub async fn update(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, CinderError> {
    admin(&c, &headers, &project, "volume_extension:type_update").await?;
    let UpdateBody { volume_type: ch } = parse(&body)?;
    if ch.name.is_none() && ch.description.is_none() && ch.is_public.is_none() {
        return Err(CinderError::BadRequest(
            "Specify volume type name, description, is_public or a combination thereof.".into(),
        ));
    }
    if let Some(n) = &ch.name {
        if n.trim().is_empty() {
            return Err(CinderError::BadRequest(
                "Volume type name can not be empty.".into(),
            ));
        }
        types::check_name(n)?;
    }
    let is_public = ch.is_public.as_ref().map(boolean).transpose()?;
    let t = change(&c, &id, WhileInUse::Allowed, |t| {
        if let Some(n) = &ch.name {
            t.name = n.clone();
        }
        if let Some(d) = &ch.description {
            t.description = Some(d.clone());
        }
        if let Some(p) = is_public {
            t.is_public = p;
        }
        Ok(())
    })
    .await?;
    Ok(one(&c, &project, &t, true))
}

pub async fn delete(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<StatusCode, CinderError> {
    admin(&c, &headers, &project, "volume_extension:type_delete").await?;
    let mut retry = Retry::default();
    loop {
        let old = types::find(c.records.as_ref(), &id).await?;
        if old.t.is_default() {
            return Err(CinderError::BadRequest(format!(
                "The volume type {} is a default volume type and cannot be deleted.",
                old.t.id
            )));
        }
        // Scanned after the read: a volume created since fails the check.
        if types::in_use(c.records.as_ref(), &old.t.id).await? {
            return Err(CinderError::BadRequest(
                "Target volume type is still in use.".into(),
            ));
        }
        match types::commit(c.records.as_ref(), types::remove(&old)).await? {
            Written::Done => return Ok(StatusCode::ACCEPTED),
            Written::NameTaken | Written::Raced => retry.again()?,
        }
    }
}

/// Changes a type's extra specs with `edit`, as Cinder allows it: only
/// while no volume has the type (so a volume's replica count stays its
/// type's).
async fn edit_specs(
    c: &Cinder,
    id: &str,
    edit: impl Fn(&mut BTreeMap<String, String>) -> Result<(), CinderError>,
) -> Result<(), CinderError> {
    let max = c.gateway.replica_count_max();
    change(c, id, WhileInUse::Refused, |t| {
        edit(&mut t.extra_specs)?;
        types::check_specs(&t.extra_specs, max)
    })
    .await?;
    Ok(())
}

pub async fn specs(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<Json<Value>, CinderError> {
    let who = caller(&c, &headers, &project).await?;
    let found = visible(&c, &who, &id).await?;
    Ok(Json(
        json!({"extra_specs": found.t.visible_specs(who.is_admin())}),
    ))
}

pub async fn set_specs(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, CinderError> {
    admin(
        &c,
        &headers,
        &project,
        "volume_extension:types_extra_specs:create",
    )
    .await?;
    let SpecsBody { extra_specs } = parse(&body)?;
    let given = specs_of(&c, extra_specs)?;
    edit_specs(&c, &id, |specs| {
        specs.extend(given.clone());
        Ok(())
    })
    .await?;
    Ok(Json(json!({ "extra_specs": given })))
}

pub async fn spec(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id, key)): Path<(String, String, String)>,
) -> Result<Json<Value>, CinderError> {
    let who = caller(&c, &headers, &project).await?;
    let found = visible(&c, &who, &id).await?;
    match found.t.visible_specs(who.is_admin()).get(&key) {
        Some(v) => Ok(Json(json!({ key: v }))),
        None => Err(no_spec(&found.t.id, &key)),
    }
}

fn no_spec(id: &str, key: &str) -> CinderError {
    CinderError::NotFound(format!(
        "Volume Type {id} has no extra specs with key {key}."
    ))
}

pub async fn set_spec(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id, key)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<Value>, CinderError> {
    admin(
        &c,
        &headers,
        &project,
        "volume_extension:types_extra_specs:update",
    )
    .await?;
    let given: BTreeMap<String, Option<String>> = parse(&body)?;
    if given.len() != 1 || !given.contains_key(&key) {
        return Err(CinderError::BadRequest(
            "Request body and URI mismatch".into(),
        ));
    }
    let given = specs_of(&c, given)?;
    edit_specs(&c, &id, |specs| {
        specs.extend(given.clone());
        Ok(())
    })
    .await?;
    Ok(Json(json!(given)))
}

pub async fn delete_spec(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id, key)): Path<(String, String, String)>,
) -> Result<Response, CinderError> {
    admin(
        &c,
        &headers,
        &project,
        "volume_extension:types_extra_specs:delete",
    )
    .await?;
    edit_specs(&c, &id, |specs| match specs.remove(&key) {
        Some(_) => Ok(()),
        None => Err(no_spec(&id, &key)),
    })
    .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
