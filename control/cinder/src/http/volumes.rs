//! `/v3/{project}/volumes`: list (brief and detail, filters `name` and
//! `status`), create (empty, from a snapshot, from a volume), show, update
//! (name, description), delete, and the actions `os-extend`,
//! `os-initialize_connection` and `os-terminate_connection`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use cairn_block::gateway::{CreateVolume, Source};
use cairn_meta_api::VolumeRecord;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{caller, new_id, now_secs, parse, writer, Svc};
use crate::store::{self, block_volume, AttachmentMeta, SnapshotMeta, VolumeMeta};
use crate::views::{self, GIB};
use crate::{Cinder, CinderError};

#[derive(Deserialize)]
struct CreateBody {
    volume: NewVolume,
}

#[derive(Deserialize)]
struct NewVolume {
    size: Option<u64>,
    /// cinderclient still sends the v1 names `display_name` and
    /// `display_description`, which Cinder accepts too.
    #[serde(alias = "display_name")]
    name: Option<String>,
    #[serde(alias = "display_description")]
    description: Option<String>,
    snapshot_id: Option<String>,
    source_volid: Option<String>,
    #[serde(rename = "imageRef")]
    image_ref: Option<String>,
}

#[derive(Deserialize)]
struct UpdateBody {
    volume: Changes,
}

#[derive(Deserialize)]
struct Changes {
    #[serde(alias = "display_name")]
    name: Option<String>,
    #[serde(alias = "display_description")]
    description: Option<String>,
}

/// The project's volume `id` (another project's is not found).
async fn find(c: &Cinder, project: &str, id: &str) -> Result<VolumeMeta, CinderError> {
    store::owned(c.records.as_ref(), project, id).await
}

/// The project's volumes (every project's with `all_tenants` for an
/// admin) that pass the `name` and `status` filters, newest first, each
/// as `view` shows it.
async fn listed(
    c: &Cinder,
    headers: &HeaderMap,
    project: &str,
    q: &HashMap<String, String>,
    view: impl Fn(&VolumeMeta, &VolumeRecord, &[AttachmentMeta]) -> Value,
) -> Result<Json<Value>, CinderError> {
    let who = caller(c, headers, project).await?;
    let everyone = who.is_admin() && q.get("all_tenants").is_some_and(|v| v != "0");
    let scope = (!everyone).then_some(project);
    let mut attached: HashMap<String, Vec<AttachmentMeta>> = HashMap::new();
    for a in store::all::<AttachmentMeta>(c.records.as_ref(), scope).await? {
        attached.entry(a.volume_id.clone()).or_default().push(a);
    }
    let none = Vec::new();
    let mut out = Vec::new();
    for m in store::all::<VolumeMeta>(c.records.as_ref(), scope).await? {
        if q.get("name")
            .is_some_and(|n| m.name.as_deref() != Some(n.as_str()))
        {
            continue;
        }
        // A record whose block volume is gone (a delete cut short) is not listed.
        let Ok(rec) = c.gateway.show(&m.block_name()).await else {
            continue;
        };
        let atts = attached.get(&m.id).unwrap_or(&none);
        if q.get("status").is_some_and(|s| s != views::status(atts)) {
            continue;
        }
        out.push((m, rec, atts));
    }
    out.sort_by_key(|(m, ..)| std::cmp::Reverse(m.created_secs));
    let items: Vec<Value> = out
        .iter()
        .map(|(m, rec, atts)| view(m, rec, atts))
        .collect();
    Ok(Json(json!({ "volumes": items })))
}

/// `GET …/volumes`: ids, names and links.
pub async fn list(
    State(c): Svc,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, CinderError> {
    listed(&c, &headers, &project, &q, |m, _, _| {
        views::volume_brief(&c.public_url, m)
    })
    .await
}

/// `GET …/volumes/detail`: every field.
pub async fn detail(
    State(c): Svc,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, CinderError> {
    listed(&c, &headers, &project, &q, |m, rec, atts| {
        views::volume(&c.public_url, m, rec, atts)
    })
    .await
}

pub async fn show(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<Json<Value>, CinderError> {
    caller(&c, &headers, &project).await?;
    let m = find(&c, &project, &id).await?;
    let rec = c.gateway.show(&m.block_name()).await?;
    let atts = store::attachments_of(c.records.as_ref(), &project, &m.id).await?;
    Ok(Json(
        json!({"volume": views::volume(&c.public_url, &m, &rec, &atts)}),
    ))
}

pub async fn create(
    State(c): Svc,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Response, CinderError> {
    let who = writer(&c, &headers, &project).await?;
    let CreateBody { volume: v } = parse(&body)?;
    if v.image_ref.is_some() {
        return Err(CinderError::BadRequest(
            "Creating a volume from an image is not supported (no image service).".into(),
        ));
    }
    let source = match (&v.snapshot_id, &v.source_volid) {
        (Some(_), Some(_)) => {
            return Err(CinderError::BadRequest(
                "Give snapshot_id or source_volid, not both.".into(),
            ))
        }
        (Some(sid), None) => {
            let s: SnapshotMeta = store::owned(c.records.as_ref(), &project, sid).await?;
            Source::Snapshot {
                volume: block_volume(&s.volume_id),
                snapshot: s.block_name(),
            }
        }
        (None, Some(vid)) => Source::Volume(find(&c, &project, vid).await?.block_name()),
        (None, None) => Source::Empty,
    };
    let size = match v.size {
        Some(0) => {
            return Err(CinderError::BadRequest(
                "Invalid input: size must be > 0.".into(),
            ))
        }
        Some(gib) => Some(bytes_of(gib)?),
        None if source == Source::Empty => {
            return Err(CinderError::BadRequest(
                "Invalid input: a volume needs a size.".into(),
            ))
        }
        None => None,
    };
    let m = VolumeMeta {
        id: new_id(),
        name: v.name,
        description: v.description,
        project_id: project,
        user_id: who.user_id,
        snapshot_id: v.snapshot_id,
        source_volid: v.source_volid,
        created_secs: now_secs(),
    };
    // The record first: a volume without one would be invisible to Cinder.
    store::create(c.records.as_ref(), &m).await?;
    let made = c
        .gateway
        .create(CreateVolume {
            name: m.block_name(),
            account: format!("AUTH_{}", m.project_id),
            size,
            source,
        })
        .await;
    let rec = match made {
        Ok(rec) => rec,
        Err(e) => {
            store::remove(c.records.as_ref(), &m).await?;
            return Err(e.into());
        }
    };
    let body = json!({"volume": views::volume(&c.public_url, &m, &rec, &[])});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

pub async fn update(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, CinderError> {
    writer(&c, &headers, &project).await?;
    let UpdateBody { volume: ch } = parse(&body)?;
    let mut m = find(&c, &project, &id).await?;
    if let Some(n) = ch.name {
        m.name = Some(n);
    }
    if let Some(d) = ch.description {
        m.description = Some(d);
    }
    store::put(c.records.as_ref(), &m).await?;
    let rec = c.gateway.show(&m.block_name()).await?;
    let atts = store::attachments_of(c.records.as_ref(), &project, &m.id).await?;
    Ok(Json(
        json!({"volume": views::volume(&c.public_url, &m, &rec, &atts)}),
    ))
}

pub async fn delete(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<StatusCode, CinderError> {
    writer(&c, &headers, &project).await?;
    let m = find(&c, &project, &id).await?;
    let atts = store::attachments_of(c.records.as_ref(), &project, &m.id).await?;
    if !atts.is_empty() {
        return Err(CinderError::BadRequest(format!(
            "Invalid volume: Volume status must be available or error, but current status is: {}.",
            views::status(&atts)
        )));
    }
    c.gateway.delete(&m.block_name()).await?;
    store::remove(c.records.as_ref(), &m).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `gib` GiB in bytes, or Cinder's 400 for a size beyond any disk.
fn bytes_of(gib: u64) -> Result<u64, CinderError> {
    gib.checked_mul(GIB)
        .ok_or_else(|| CinderError::BadRequest("Invalid input: size is too large.".into()))
}

/// `POST …/volumes/{id}/action`: `os-extend` (grow, attached or not);
/// `os-initialize_connection` (the connection info for the host its
/// connector describes, as the pre-3.27 attach flow asks for it) and
/// `os-terminate_connection` (nothing to undo: exports serve any host).
pub async fn action(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, CinderError> {
    writer(&c, &headers, &project).await?;
    let m = find(&c, &project, &id).await?;
    let action: HashMap<String, Value> = parse(&body)?;
    if let Some(extend) = action.get("os-extend") {
        let gib = extend
            .get("new_size")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .ok_or_else(|| CinderError::BadRequest("os-extend needs new_size.".into()))?;
        let bytes = bytes_of(gib)?;
        let rec = c.gateway.show(&m.block_name()).await?;
        if bytes <= rec.size {
            return Err(CinderError::BadRequest(format!(
                "New size for extend must be greater than current size. (current: {}, extended: {gib}).",
                rec.size / GIB
            )));
        }
        c.gateway.resize(&m.block_name(), bytes).await?;
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    if let Some(init) = action.get("os-initialize_connection") {
        let connector = init
            .get("connector")
            .filter(|c| c.is_object())
            .ok_or_else(|| {
                CinderError::BadRequest("os-initialize_connection needs a connector.".into())
            })?;
        let info = views::connection_info(&c.exports, &m.id, connector, "rw");
        return Ok(Json(json!({ "connection_info": info })).into_response());
    }
    if action.contains_key("os-terminate_connection") {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    Err(CinderError::BadRequest(format!(
        "Unsupported volume action: {:?}",
        action.keys().collect::<Vec<_>>()
    )))
}
