//! `/v3/{project}/volumes`: list (brief and detail, filters `name` and
//! `status`), create (empty, from a snapshot, from a volume; of a volume
//! type, by default the source's or the default type), show, update
//! (name, description), delete, and the actions `os-extend`,
//! `os-initialize_connection` and `os-terminate_connection`. Creating and
//! extending are checked against the project's quota ([`crate::quota`]).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use cairn_block::gateway::{CreateVolume, Source};
use cairn_meta_api::records::{Check, Txn};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{caller, new_id, now_secs, parse, writer, Svc};
use crate::quota::{Charge, Ledger, Retry};
use crate::store::{self, block_volume, AttachmentMeta, SnapshotMeta, VolumeMeta};
use crate::types::{self, VolumeType, Written, DEFAULT_TYPE_ID};
use crate::views::{self, VolumeParts, GIB};
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
    /// A type's name or id.
    volume_type: Option<String>,
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

/// The id of volume `m`'s type.
fn type_id(m: &VolumeMeta) -> &str {
    m.volume_type_id.as_deref().unwrap_or(DEFAULT_TYPE_ID)
}

/// A type that is gone shows as its id.
fn gone_type(id: &str) -> VolumeType {
    VolumeType {
        id: id.to_owned(),
        name: id.to_owned(),
        ..VolumeType::default_type()
    }
}

/// Volume `m`'s type, for its view.
async fn type_of(c: &Cinder, m: &VolumeMeta) -> Result<VolumeType, CinderError> {
    match types::by_id(c.records.as_ref(), type_id(m)).await {
        Ok(s) => Ok(s.t),
        Err(CinderError::NotFound(_)) => Ok(gone_type(type_id(m))),
        Err(e) => Err(e),
    }
}

/// Volume `m`'s full view.
async fn view(c: &Cinder, m: &VolumeMeta) -> Result<Value, CinderError> {
    let rec = c.gateway.show(&m.block_name()).await?;
    let atts = store::attachments_of(c.records.as_ref(), &m.project_id, &m.id).await?;
    let t = type_of(c, m).await?;
    Ok(views::volume(
        &c.public_url,
        VolumeParts {
            meta: m,
            rec: &rec,
            attachments: &atts,
            volume_type: &t,
        },
    ))
}

/// The project's volumes (every project's with `all_tenants` for an
/// admin) that pass the `name` and `status` filters, newest first, each
/// as `view` shows it.
async fn listed(
    c: &Cinder,
    headers: &HeaderMap,
    project: &str,
    q: &HashMap<String, String>,
    view: impl Fn(VolumeParts<'_>) -> Value,
) -> Result<Json<Value>, CinderError> {
    let who = caller(c, headers, project).await?;
    let everyone = who.is_admin() && q.get("all_tenants").is_some_and(|v| v != "0");
    let scope = (!everyone).then_some(project);
    let mut attached: HashMap<String, Vec<AttachmentMeta>> = HashMap::new();
    for a in store::all::<AttachmentMeta>(c.records.as_ref(), scope).await? {
        attached.entry(a.volume_id.clone()).or_default().push(a);
    }
    let kinds: HashMap<String, VolumeType> = types::all(c.records.as_ref())
        .await?
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
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
        let t = kinds
            .get(type_id(&m))
            .cloned()
            .unwrap_or_else(|| gone_type(type_id(&m)));
        out.push((m, rec, atts, t));
    }
    out.sort_by_key(|(m, ..)| std::cmp::Reverse(m.created_secs));
    let items: Vec<Value> = out
        .iter()
        .map(|(m, rec, atts, t)| {
            view(VolumeParts {
                meta: m,
                rec,
                attachments: atts,
                volume_type: t,
            })
        })
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
    listed(&c, &headers, &project, &q, |p| {
        views::volume_brief(&c.public_url, p.meta)
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
    listed(&c, &headers, &project, &q, |p| {
        views::volume(&c.public_url, p)
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
    Ok(Json(json!({"volume": view(&c, &m).await?})))
}

/// Where a new volume's contents come from, and what it takes from there.
struct Origin {
    source: Source,
    /// The source's size in GiB (rounded up).
    source_gib: Option<u64>,
    /// The source volume's type.
    source_type: Option<String>,
}

async fn origin(c: &Cinder, project: &str, v: &NewVolume) -> Result<Origin, CinderError> {
    let gib = |bytes: u64| bytes.div_ceil(GIB);
    match (&v.snapshot_id, &v.source_volid) {
        (Some(_), Some(_)) => Err(CinderError::BadRequest(
            "Give snapshot_id or source_volid, not both.".into(),
        )),
        (Some(sid), None) => {
            let s: SnapshotMeta = store::owned(c.records.as_ref(), project, sid).await?;
            let volume = find(c, project, &s.volume_id).await?;
            let rec = c.gateway.show(&volume.block_name()).await?;
            let size = rec.snapshot(&s.block_name()).map_or(rec.size, |x| x.size);
            Ok(Origin {
                source: Source::Snapshot {
                    volume: block_volume(&s.volume_id),
                    snapshot: s.block_name(),
                },
                source_gib: Some(gib(size)),
                source_type: Some(type_id(&volume).to_owned()),
            })
        }
        (None, Some(vid)) => {
            let volume = find(c, project, vid).await?;
            let rec = c.gateway.show(&volume.block_name()).await?;
            Ok(Origin {
                source: Source::Volume(volume.block_name()),
                source_gib: Some(gib(rec.size)),
                source_type: Some(type_id(&volume).to_owned()),
            })
        }
        (None, None) => Ok(Origin {
            source: Source::Empty,
            source_gib: None,
            source_type: None,
        }),
    }
}

/// Stores volume `m`'s record if the project's quota allows it and its
/// type still exists; the type it was created with.
async fn create_charged(c: &Cinder, m: &VolumeMeta) -> Result<VolumeType, CinderError> {
    let gib = m.size_gib.unwrap_or(0);
    let key = store::key_of(m);
    let mut retry = Retry::default();
    loop {
        let ledger = Ledger::read(c, &m.project_id).await?;
        ledger.check(Charge::Volume { gib })?;
        let t = types::by_id(c.records.as_ref(), type_id(m)).await?;
        // The type is rewritten as it is: see `types` for why.
        let txn = Txn::new()
            .check(Check::absent(key.clone()))
            .put(key.clone(), store::encode(m)?);
        let txn = ledger.seal(types::write(txn, Some(&t), &t.t)?);
        match types::commit(c.records.as_ref(), txn).await? {
            Written::Done => return Ok(t.t),
            Written::NameTaken | Written::Raced => retry.again()?,
        }
    }
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
    let Origin {
        source,
        source_gib,
        source_type,
    } = origin(&c, &project, &v).await?;
    let size_gib = match (v.size, source_gib) {
        (Some(0), _) => {
            return Err(CinderError::BadRequest(
                "Invalid input: size must be > 0.".into(),
            ))
        }
        (Some(gib), _) => gib,
        (None, Some(src)) => src,
        (None, None) => {
            return Err(CinderError::BadRequest(
                "Invalid input: a volume needs a size.".into(),
            ))
        }
    };
    let size = v.size.map(bytes_of).transpose()?;
    // A type given by name or id, else the source's, else the default.
    let volume_type_id = match v.volume_type.as_deref() {
        Some(name_or_id) => {
            let found = types::find(c.records.as_ref(), name_or_id).await?;
            if !found.t.is_public && !who.is_admin() {
                return Err(CinderError::NotFound(format!(
                    "Volume type with name {name_or_id} could not be found."
                )));
            }
            found.t.id
        }
        None => source_type.unwrap_or_else(|| DEFAULT_TYPE_ID.to_owned()),
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
        volume_type_id: Some(volume_type_id),
        size_gib: Some(size_gib),
    };
    // The record first: a volume without one would be invisible to Cinder
    // (and uncounted by its quota).
    let t = create_charged(&c, &m).await?;
    let made = match t.replica_count(c.gateway.replica_count_max()) {
        Ok(n) => c
            .gateway
            .create(CreateVolume {
                name: m.block_name(),
                account: format!("AUTH_{}", m.project_id),
                size,
                source,
                replica_count: Some(n),
            })
            .await
            .map_err(CinderError::from),
        Err(e) => Err(e),
    };
    let rec = match made {
        Ok(rec) => rec,
        Err(e) => {
            store::remove(c.records.as_ref(), &m).await?;
            return Err(e);
        }
    };
    let body = json!({"volume": views::volume(
        &c.public_url,
        VolumeParts { meta: &m, rec: &rec, attachments: &[], volume_type: &t },
    )});
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
    Ok(Json(json!({"volume": view(&c, &m).await?})))
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

/// Grows volume `m` to `gib` GiB: its record's size first, with the
/// quota's check, then the block volume (the record is put back if that
/// fails).
async fn grow(c: &Cinder, m: &VolumeMeta, gib: u64) -> Result<(), CinderError> {
    let bytes = bytes_of(gib)?;
    let rec = c.gateway.show(&m.block_name()).await?;
    if bytes <= rec.size {
        return Err(CinderError::BadRequest(format!(
            "New size for extend must be greater than current size. (current: {}, extended: {gib}).",
            rec.size / GIB
        )));
    }
    let mut retry = Retry::default();
    let before = loop {
        let (now, revision) =
            store::owned_at::<VolumeMeta>(c.records.as_ref(), &m.project_id, &m.id).await?;
        let from_gib = now.size_gib.unwrap_or(rec.size.div_ceil(GIB));
        let ledger = Ledger::read(c, &m.project_id).await?;
        ledger.check(Charge::Extend {
            from_gib,
            to_gib: gib,
        })?;
        let grown = VolumeMeta {
            size_gib: Some(gib),
            ..now.clone()
        };
        let key = store::key_of(&now);
        let txn = Txn::new()
            .check(Check::at(key.clone(), revision))
            .put(key, store::encode(&grown)?);
        if store::try_commit(c.records.as_ref(), ledger.seal(txn)).await? {
            break now;
        }
        retry.again()?;
    };
    if let Err(e) = c.gateway.resize(&before.block_name(), bytes).await {
        store::put(c.records.as_ref(), &before).await?;
        return Err(e.into());
    }
    Ok(())
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
        grow(&c, &m, gib).await?;
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
