//! `/v3/{project}/attachments` (microversion 3.27 on), the attach flow a
//! hypervisor's volume driver runs: create (reserve the volume for an
//! instance; with a connector, also hand out connection info), update
//! (give the connector, get connection info), the `os-complete` action
//! (the host attached it: the volume is `in-use`), show, list, delete (the
//! volume is `available` again).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{caller, new_id, now_secs, parse, writer, Svc};
use crate::store::{self, AttachMode, AttachState, AttachmentMeta, VolumeMeta};
use crate::{views, Cinder, CinderError};

#[derive(Deserialize)]
struct CreateBody {
    attachment: NewAttachment,
}

#[derive(Deserialize)]
struct NewAttachment {
    volume_uuid: String,
    instance_uuid: Option<String>,
    connector: Option<Value>,
    mode: Option<String>,
}

#[derive(Deserialize)]
struct UpdateBody {
    attachment: ConnectorOnly,
}

#[derive(Deserialize)]
struct ConnectorOnly {
    connector: Value,
}

fn mode_of(text: Option<&str>) -> Result<AttachMode, CinderError> {
    match text {
        None | Some("rw") => Ok(AttachMode::Rw),
        Some("ro") => Ok(AttachMode::Ro),
        Some(other) => Err(CinderError::BadRequest(format!(
            "Invalid attach mode {other:?}: use rw or ro."
        ))),
    }
}

/// A connector must be a JSON object (os-brick's connector properties).
fn connector_of(v: Option<Value>) -> Result<Option<Value>, CinderError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(c @ Value::Object(_)) => Ok(Some(c)),
        Some(_) => Err(CinderError::BadRequest(
            "Invalid input: the connector must be an object.".into(),
        )),
    }
}

/// The attachment as answered, with connection info once a connector is known.
fn view(c: &Cinder, a: &AttachmentMeta) -> Value {
    let info = a
        .connector
        .as_ref()
        .map(|conn| views::connection_info(&c.exports, &a.volume_id, conn, a.mode.as_str()));
    views::attachment(a, info)
}

pub async fn create(
    State(c): Svc,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, CinderError> {
    writer(&c, &headers, &project).await?;
    let CreateBody { attachment: n } = parse(&body)?;
    // The volume must be the project's; it is also what makes it exist.
    let volume: VolumeMeta = store::owned(c.records.as_ref(), &project, &n.volume_uuid).await?;
    let connector = connector_of(n.connector)?;
    let a = AttachmentMeta {
        id: new_id(),
        volume_id: volume.id,
        project_id: project,
        instance: n.instance_uuid,
        state: if connector.is_some() {
            AttachState::Attaching
        } else {
            AttachState::Reserved
        },
        connector,
        mode: mode_of(n.mode.as_deref())?,
        created_secs: now_secs(),
        attached_secs: None,
    };
    store::attach(c.records.as_ref(), &a).await?;
    Ok(Json(json!({ "attachment": view(&c, &a) })))
}

pub async fn update(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, CinderError> {
    writer(&c, &headers, &project).await?;
    let UpdateBody { attachment: u } = parse(&body)?;
    let mut a: AttachmentMeta = store::owned(c.records.as_ref(), &project, &id).await?;
    a.connector = Some(connector_of(Some(u.connector))?.ok_or_else(|| {
        CinderError::BadRequest("Invalid input: an update needs a connector.".into())
    })?);
    if a.state == AttachState::Reserved {
        a.state = AttachState::Attaching;
    }
    store::put(c.records.as_ref(), &a).await?;
    Ok(Json(json!({ "attachment": view(&c, &a) })))
}

/// `os-complete`: the host has attached the volume.
pub async fn action(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, CinderError> {
    writer(&c, &headers, &project).await?;
    let action: HashMap<String, Value> = parse(&body)?;
    if !action.contains_key("os-complete") {
        return Err(CinderError::BadRequest(format!(
            "Unsupported attachment action: {:?}",
            action.keys().collect::<Vec<_>>()
        )));
    }
    let mut a: AttachmentMeta = store::owned(c.records.as_ref(), &project, &id).await?;
    if a.connector.is_none() {
        return Err(CinderError::BadRequest(
            "Invalid attachment: it has no connector yet; update it with one first.".into(),
        ));
    }
    if a.state != AttachState::Attached {
        a.state = AttachState::Attached;
        a.attached_secs = Some(now_secs());
        store::put(c.records.as_ref(), &a).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn show(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<Json<Value>, CinderError> {
    caller(&c, &headers, &project).await?;
    let a: AttachmentMeta = store::owned(c.records.as_ref(), &project, &id).await?;
    Ok(Json(json!({ "attachment": view(&c, &a) })))
}

/// `GET …/attachments` and `…/attachments/detail`, filtered by
/// `volume_id`, `instance_id` and `status` as the SDK sends them.
pub async fn list(
    State(c): Svc,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, CinderError> {
    caller(&c, &headers, &project).await?;
    let items: Vec<Value> = store::all::<AttachmentMeta>(c.records.as_ref(), Some(&project))
        .await?
        .iter()
        .filter(|a| q.get("volume_id").is_none_or(|v| *v == a.volume_id))
        .filter(|a| {
            q.get("instance_id")
                .is_none_or(|i| a.instance.as_deref() == Some(i.as_str()))
        })
        .filter(|a| q.get("status").is_none_or(|s| s == a.state.as_str()))
        .map(|a| view(&c, a))
        .collect();
    Ok(Json(json!({ "attachments": items })))
}

/// Detaches: the volume is free for another attachment.
pub async fn delete(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, CinderError> {
    writer(&c, &headers, &project).await?;
    let a: AttachmentMeta = store::owned(c.records.as_ref(), &project, &id).await?;
    store::detach(c.records.as_ref(), &a).await?;
    Ok((StatusCode::OK, Json(json!({ "attachments": [] }))).into_response())
}
