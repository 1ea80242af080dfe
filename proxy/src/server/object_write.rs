//! Object POST (replace metadata, 202) and DELETE (tombstones on a quorum,
//! then the listing removal).

use super::object_read::expired;
use super::reader::{self, Replicas};
use super::respond::{empty, header_text};
use super::{Ctx, ObjectPath, Shared};
use crate::constraints::{check_metadata, check_names, delete_at, MetaTarget};
use crate::errors::SwiftError;
use crate::placement::Target;
use axum::body::Body;
use cairn_nodeapi::{NodeError, PostRequest};
use http::{HeaderMap, Response, StatusCode};
use std::time::Duration;
use tokio::time::timeout;

async fn bounded<T>(
    d: Duration,
    f: impl std::future::Future<Output = Result<T, NodeError>>,
) -> Result<T, NodeError> {
    timeout(d, f)
        .await
        .unwrap_or_else(|_| Err(NodeError::Unreachable("timed out".into())))
}

/// Runs `op` on every primary at once; a primary that fails (not with
/// NotFound) is retried on the next handoff. Returns every final answer.
async fn on_replicas<T, F, Fut>(sh: &Shared, obj: &ObjectPath, op: F) -> Vec<Result<T, NodeError>>
where
    F: Fn(Target) -> Option<Fut>,
    Fut: std::future::Future<Output = Result<T, NodeError>>,
{
    let loc = sh
        .placement
        .locate(&obj.account, &obj.container, &obj.object);
    let unreachable = || Err(NodeError::Unreachable("no client for node".into()));
    let calls = loc.primaries.iter().map(|t| {
        let fut = op(*t);
        async move {
            match fut {
                Some(f) => bounded(sh.cfg.node_timeout, f).await,
                None => unreachable(),
            }
        }
    });
    let mut results = futures::future::join_all(calls).await;
    let mut spares = loc.handoffs.iter();
    for r in results.iter_mut() {
        while matches!(r, Err(e) if !matches!(e, NodeError::NotFound { .. } | NodeError::Conflict { .. }))
        {
            let Some(t) = spares.next() else { break };
            *r = match op(*t) {
                Some(f) => bounded(sh.cfg.node_timeout, f).await,
                None => unreachable(),
            };
        }
    }
    results
}

pub async fn post(sh: &Shared, ctx: &Ctx, obj: &ObjectPath) -> Result<Response<Body>, SwiftError> {
    let c = &sh.cfg.constraints;
    check_names(c, &obj.account, Some(&obj.container), Some(&obj.object))?;
    sh.authorize_in_container(ctx, &obj.account, &obj.container, true, "x-container-write")
        .await?;
    check_metadata(&ctx.headers, MetaTarget::Object, c)?;
    let at = delete_at(&ctx.headers, ctx.now.secs())?;
    // An expired object stays gone: a POST must not lift its X-Delete-At.
    let loc = sh
        .placement
        .locate(&obj.account, &obj.container, &obj.object);
    let mut reps = Replicas::new(sh, &loc);
    if let Ok(m) = reader::head(&mut reps, false).await {
        if expired(&m, ctx.now.secs()) {
            return Err(SwiftError::NotFound);
        }
    }
    let ts = ctx.timestamp()?;
    let mut headers: Vec<(String, String)> = ctx
        .headers
        .iter()
        .filter(|(n, _)| {
            let n = n.as_str();
            n.starts_with("x-object-meta-") || super::object_put::KEPT_HEADERS.contains(&n)
        })
        .map(|(n, v)| (n.as_str().to_owned(), header_text(v)))
        .collect();
    if let Some(at) = at {
        headers.push(("x-delete-at".into(), at.to_string()));
    }
    let req = PostRequest {
        meta_ts: ts,
        headers,
        content_type: ctx
            .headers
            .get("content-type")
            .map(header_text)
            .filter(|s| !s.is_empty()),
    };
    let key = sh
        .placement
        .locate(&obj.account, &obj.container, &obj.object)
        .key;
    let results = on_replicas(sh, obj, |t| {
        let node = sh.nodes.get(&t.node)?;
        let req = req.clone();
        Some(async move { node.post(t.device, key, req).await })
    })
    .await;
    let quorum = results.len() / 2 + 1;
    let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let not_found = results
        .iter()
        .filter(|r| matches!(r, Err(NodeError::NotFound { .. })))
        .count();
    if ok.len() >= quorum || (!ok.is_empty() && not_found < quorum) {
        crate::expirer::note_write(sh, obj, &req.headers, ts).await;
        if req.content_type.is_some() {
            // As Swift's object server, a new Content-Type is also sent to the
            // listing, stamped with the POST's time.
            if let Some(m) = ok.iter().max_by_key(|m| (m.data_ts, m.meta_ts)) {
                let entry = super::object_put::listing_entry(&obj.object, ts, m);
                sh.meta
                    .put_object_entry(&obj.account, &obj.container, entry)
                    .await?;
            }
        }
        return Ok(empty(StatusCode::ACCEPTED, HeaderMap::new()));
    }
    if not_found > 0 {
        return Err(SwiftError::NotFound);
    }
    Err(SwiftError::Unavailable(format!("object POST: {results:?}")))
}

pub async fn delete(
    sh: &Shared,
    ctx: &Ctx,
    obj: &ObjectPath,
) -> Result<Response<Body>, SwiftError> {
    check_names(
        &sh.cfg.constraints,
        &obj.account,
        Some(&obj.container),
        Some(&obj.object),
    )?;
    sh.authorize_in_container(ctx, &obj.account, &obj.container, true, "x-container-write")
        .await?;
    if_delete_at(sh, ctx, obj).await?;
    let ts = ctx.timestamp()?;
    let key = sh
        .placement
        .locate(&obj.account, &obj.container, &obj.object)
        .key;
    let name = obj.full_name();
    let results = on_replicas(sh, obj, |t| {
        let node = sh.nodes.get(&t.node)?;
        let name = name.clone();
        Some(async move { node.delete(t.device, key, &name, ts).await })
    })
    .await;
    let quorum = results.len() / 2 + 1;
    let acked = results
        .iter()
        .filter(|r| r.is_ok() || matches!(r, Err(NodeError::Conflict { .. })))
        .count();
    if acked < quorum {
        let full = results
            .iter()
            .filter(|r| matches!(r, Err(NodeError::DeviceFull)))
            .count();
        if full >= quorum {
            return Err(SwiftError::InsufficientStorage);
        }
        return Err(SwiftError::Unavailable(format!(
            "object DELETE: {results:?}"
        )));
    }
    // The tombstones are durable on a quorum; now the listing forgets the name.
    sh.meta
        .delete_object_entry(&obj.account, &obj.container, &obj.object, ts)
        .await?;
    let existed = results.iter().any(|r| matches!(r, Ok(o) if o.existed));
    if existed {
        Ok(empty(StatusCode::NO_CONTENT, HeaderMap::new()))
    } else {
        Err(SwiftError::NotFound)
    }
}

/// `X-If-Delete-At` on DELETE: the object must exist with that expiry
/// (400 for a malformed value, 404 without the object, 412 on a mismatch).
async fn if_delete_at(sh: &Shared, ctx: &Ctx, obj: &ObjectPath) -> Result<(), SwiftError> {
    let Some(v) = ctx.header("x-if-delete-at") else {
        return Ok(());
    };
    let wanted: u64 = v
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .map(|f| f as u64)
        .ok_or_else(|| SwiftError::BadRequest("Bad X-If-Delete-At header value".into()))?;
    let loc = sh
        .placement
        .locate(&obj.account, &obj.container, &obj.object);
    let mut reps = Replicas::new(sh, &loc);
    let meta = reader::head(&mut reps, true).await?;
    let at = meta
        .header("x-delete-at")
        .and_then(|a| a.parse::<u64>().ok());
    if at != Some(wanted) {
        return Err(SwiftError::PreconditionFailed(Some(
            "X-If-Delete-At and X-Delete-At do not match".into(),
        )));
    }
    Ok(())
}
