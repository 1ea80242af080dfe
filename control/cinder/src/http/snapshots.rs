//! `/v3/{project}/snapshots`: create (of a volume, attached or not: the
//! gateway's snapshots are crash-consistent; checked against the project's
//! quota of snapshots and GiB), list (detail, filters `name`
//! and `volume_id`), show, delete (refused while a volume is cloned from
//! it).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use cairn_meta_api::records::{Check, Txn};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{caller, new_id, now_secs, parse, writer, Svc};
use crate::quota::{Charge, Ledger, Retry};
use crate::store::{self, block_volume, SnapshotMeta, VolumeMeta};
use crate::views::GIB;
use crate::{views, Cinder, CinderError};

#[derive(Deserialize)]
struct CreateBody {
    snapshot: NewSnapshot,
}

#[derive(Deserialize)]
struct NewSnapshot {
    volume_id: String,
    #[serde(alias = "display_name")]
    name: Option<String>,
    #[serde(alias = "display_description")]
    description: Option<String>,
}

/// The project's snapshot `id` (another project's is not found).
async fn find(c: &Cinder, project: &str, id: &str) -> Result<SnapshotMeta, CinderError> {
    store::owned(c.records.as_ref(), project, id).await
}

/// The snapshot's view: its size is the volume's when it was taken.
async fn view(c: &Cinder, s: &SnapshotMeta) -> Result<Value, CinderError> {
    let rec = c.gateway.show(&block_volume(&s.volume_id)).await?;
    let size = rec.snapshot(&s.block_name()).map_or(rec.size, |r| r.size);
    Ok(views::snapshot(s, size))
}

pub async fn detail(
    State(c): Svc,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, CinderError> {
    caller(&c, &headers, &project).await?;
    let mut items = Vec::new();
    for s in store::all::<SnapshotMeta>(c.records.as_ref(), Some(&project)).await? {
        let keep = q
            .get("name")
            .is_none_or(|n| s.name.as_deref() == Some(n.as_str()))
            && q.get("volume_id").is_none_or(|v| *v == s.volume_id);
        if keep {
            items.push(view(&c, &s).await?);
        }
    }
    Ok(Json(json!({ "snapshots": items })))
}

pub async fn show(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<Json<Value>, CinderError> {
    caller(&c, &headers, &project).await?;
    let s = find(&c, &project, &id).await?;
    Ok(Json(json!({"snapshot": view(&c, &s).await?})))
}

pub async fn create(
    State(c): Svc,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Response, CinderError> {
    let who = writer(&c, &headers, &project).await?;
    let CreateBody { snapshot: n } = parse(&body)?;
    store::owned::<VolumeMeta>(c.records.as_ref(), &project, &n.volume_id).await?;
    let volume = block_volume(&n.volume_id);
    let size_gib = c.gateway.show(&volume).await?.size.div_ceil(GIB);
    let s = SnapshotMeta {
        id: new_id(),
        volume_id: n.volume_id,
        name: n.name,
        description: n.description,
        project_id: project,
        user_id: who.user_id,
        created_secs: now_secs(),
        size_gib: Some(size_gib),
    };
    create_charged(&c, &s).await?;
    if let Err(e) = c.gateway.snapshot(&volume, &s.block_name(), false).await {
        store::remove(c.records.as_ref(), &s).await?;
        return Err(e.into());
    }
    let body = json!({"snapshot": view(&c, &s).await?});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Stores snapshot `s`'s record if the project's quota allows it.
async fn create_charged(c: &Cinder, s: &SnapshotMeta) -> Result<(), CinderError> {
    let key = store::key_of(s);
    let mut retry = Retry::default();
    loop {
        let ledger = Ledger::read(c, &s.project_id).await?;
        ledger.check(Charge::Snapshot {
            gib: s.size_gib.unwrap_or(0),
        })?;
        let txn = Txn::new()
            .check(Check::absent(key.clone()))
            .put(key.clone(), store::encode(s)?);
        if store::try_commit(c.records.as_ref(), ledger.seal(txn)).await? {
            return Ok(());
        }
        retry.again()?;
    }
}

pub async fn delete(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<StatusCode, CinderError> {
    writer(&c, &headers, &project).await?;
    let s = find(&c, &project, &id).await?;
    c.gateway
        .delete_snapshot(&block_volume(&s.volume_id), &s.block_name())
        .await?;
    store::remove(c.records.as_ref(), &s).await?;
    Ok(StatusCode::ACCEPTED)
}
