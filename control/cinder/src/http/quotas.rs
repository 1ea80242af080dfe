//! `/v3/{project}/os-quota-sets/{target}`: show (with `usage=true`, each
//! limit with its `in_use` and `reserved`), `…/defaults`, and, for admins,
//! update (refused below what the project uses) and delete (back to the
//! defaults); and `/v3/{project}/limits`, the absolute limits with their
//! usage as `openstack limits show --absolute` prints them.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use bytes::Bytes;
use cairn_identity::Caller;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::{admin, caller, parse, requested_minor, Svc};
use crate::quota::{self, Ledger, Limits, Retry};
use crate::{Cinder, CinderError};

/// From this microversion an admin's `GET /limits?project_id=` reads
/// another project's limits.
const LIMITS_ADMIN_FILTER_MINOR: u32 = 39;

/// A boolean query parameter as Cinder reads one.
fn flag(q: &HashMap<String, String>, name: &str) -> bool {
    q.get(name).is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "1" | "on" | "yes" | "y" | "t"
        )
    })
}

/// The caller, who may read `target`'s quota: its own project's, or any
/// as an admin.
async fn reader(
    c: &Cinder,
    headers: &HeaderMap,
    project: &str,
    target: &str,
) -> Result<Caller, CinderError> {
    let who = caller(c, headers, project).await?;
    if !who.may_access_project(target) {
        return Err(CinderError::Forbidden(
            "Policy doesn't allow volume_extension:quotas:show to be performed.".into(),
        ));
    }
    Ok(who)
}

fn quota_set(id: Option<&str>, mut set: serde_json::Map<String, Value>) -> Json<Value> {
    if let Some(id) = id {
        set.insert("id".into(), json!(id));
    }
    Json(json!({ "quota_set": set }))
}

pub async fn show(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, target)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, CinderError> {
    reader(&c, &headers, &project, &target).await?;
    let limits = Limits::with(&quota::overrides(&c, &target).await?);
    let usage = match flag(&q, "usage") {
        true => Some(quota::usage(&c, &target).await?),
        false => None,
    };
    Ok(quota_set(
        Some(&target),
        quota::view(&limits, usage.as_ref()),
    ))
}

pub async fn defaults(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, target)): Path<(String, String)>,
) -> Result<Json<Value>, CinderError> {
    reader(&c, &headers, &project, &target).await?;
    Ok(quota_set(
        Some(&target),
        quota::view(&Limits::defaults(), None),
    ))
}

pub async fn update(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, target)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, CinderError> {
    admin(&c, &headers, &project, "volume_extension:quotas:update").await?;
    let new = quota::parse_update(&parse(&body)?)?;
    let mut retry = Retry::default();
    loop {
        // Sealed with the ledger: no create counted against the old
        // limits commits after this check of the new ones.
        let ledger = Ledger::read(&c, &target).await?;
        quota::check_update(&new, &ledger.usage)?;
        let mut overrides = ledger.overrides.clone();
        overrides.extend(new.clone());
        if crate::store::try_commit(c.records.as_ref(), ledger.set(&overrides)?).await? {
            return Ok(quota_set(
                None,
                quota::view(&Limits::with(&overrides), None),
            ));
        }
        retry.again()?;
    }
}

pub async fn delete(
    State(c): Svc,
    headers: HeaderMap,
    Path((project, target)): Path<(String, String)>,
) -> Result<StatusCode, CinderError> {
    admin(&c, &headers, &project, "volume_extension:quotas:delete").await?;
    quota::reset(&c, &target).await?;
    Ok(StatusCode::OK)
}

/// `GET …/limits`: no rate limits; the absolute ones with their usage.
pub async fn limits(
    State(c): Svc,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, CinderError> {
    let who = caller(&c, &headers, &project).await?;
    let asked = q.get("project_id").or_else(|| q.get("tenant_id"));
    let target = match asked {
        Some(p) if who.is_admin() && requested_minor(&headers) >= LIMITS_ADMIN_FILTER_MINOR => p,
        _ => &project,
    };
    let limits = Limits::with(&quota::overrides(&c, target).await?);
    let usage = quota::usage(&c, target).await?;
    Ok(Json(json!({"limits": {
        "rate": [],
        "absolute": {
            "maxTotalVolumes": limits.get("volumes"),
            "maxTotalSnapshots": limits.get("snapshots"),
            "maxTotalVolumeGigabytes": limits.get("gigabytes"),
            "maxTotalBackups": limits.get("backups"),
            "maxTotalBackupGigabytes": limits.get("backup_gigabytes"),
            "totalVolumesUsed": usage.volumes,
            "totalSnapshotsUsed": usage.snapshots,
            "totalGigabytesUsed": usage.gigabytes,
            "totalBackupsUsed": 0,
            "totalBackupGigabytesUsed": 0,
        },
    }})))
}
