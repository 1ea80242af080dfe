//! Reaching another object as the requester, the way Swift's `slo`
//! subrequests do: the container's read ACL is checked with the client's
//! own identity (and Referer), and an expired object is not there.

use super::input::SegmentHead;
use super::manifest::{self, Segment};
use super::{Attrs, MANIFEST_READ_BYTES_MAX};
use crate::constraints::check_names;
use crate::errors::SwiftError;
use crate::listing::iso_timestamp;
use crate::server::object_read::expired;
use crate::server::reader::{self, Replicas};
use crate::server::respond::last_modified_secs;
use crate::server::{Ctx, Shared};
use cairn_base::Timestamp;
use cairn_nodeapi::ObjectMeta;

/// The replicas of `container/object` in `account`, once `ctx` may read it.
pub async fn readable(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    container: &str,
    object: &str,
) -> Result<Replicas, SwiftError> {
    check_names(&sh.cfg.constraints, account, Some(container), Some(object))?;
    sh.authorize_in_container(ctx, account, container, true, "x-container-read")
        .await?;
    let loc = sh.placement.locate(account, container, object);
    Ok(Replicas::new(sh, &loc))
}

/// A segment's HEAD: an SLO answers with its SLO ETag and total size.
pub async fn head_segment(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    container: &str,
    object: &str,
) -> Result<SegmentHead, SwiftError> {
    let mut reps = readable(sh, ctx, account, container, object).await?;
    let meta = reader::head(&mut reps, false).await?;
    if expired(&meta, ctx.now.secs()) {
        return Err(SwiftError::NotFound);
    }
    let (etag, size, is_slo) = match Attrs::of(&meta)? {
        Some(a) => (a.etag, a.size, true),
        None => (meta.etag.clone(), meta.content_length, false),
    };
    let lm = last_modified_secs(meta.meta_ts);
    Ok(SegmentHead {
        etag,
        size,
        content_type: meta.content_type,
        last_modified: iso_timestamp(Timestamp::from_secs(lm)),
        is_slo,
    })
}

/// An object read whole as a manifest: its metadata and its parsed body
/// (`Err` of the parse when the body is not a manifest).
pub async fn read_manifest(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    container: &str,
    object: &str,
) -> Result<(ObjectMeta, Result<Vec<Segment>, String>), SwiftError> {
    let reps = readable(sh, ctx, account, container, object).await?;
    let opened = reader::open(&reps, None).await?;
    let meta = opened.0.meta.clone();
    if expired(&meta, ctx.now.secs()) {
        return Err(SwiftError::NotFound);
    }
    let body = reader::read_all(reps, opened, MANIFEST_READ_BYTES_MAX).await?;
    Ok((meta, manifest::parse(&body)))
}
