//! What Dynamic and Static Large Objects share when they serve a
//! concatenation of segments: the Range answer over the total length,
//! opening one segment and checking it is still the one the manifest named,
//! and Swift's limits on a long GET (`max_get_time`, segment rate limiting).

use super::reader::{self, Version};
use super::respond::{error_response, set};
use super::Ctx;
use crate::errors::SwiftError;
use crate::range::{self, RangePlan};
use axum::body::Body;
use cairn_nodeapi::{ByteRange, GetStream};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Response};
use std::time::{Duration, Instant};

/// A GET of a large object is cut after this long (Swift's `max_get_time`).
pub const MAX_GET_TIME_SECS: u64 = 86_400;
/// Rate-limited segments served before the limit starts (`rate_limit_after_segment`).
pub const RATE_LIMIT_AFTER_SEGMENT: usize = 10;
/// Rate-limited segments per second after that (`rate_limit_segments_per_sec`).
pub const RATE_LIMIT_SEGMENTS_PER_SEC: u64 = 1;

/// The ranges a GET of a concatenation of `total` bytes serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// No usable Range header: the whole concatenation (200).
    Whole,
    /// Half-open `[start, end)` ranges (206); several only when allowed.
    Ranges(Vec<(u64, u64)>),
    /// A Range that nothing satisfies (416).
    Unsatisfiable,
}

/// The request's Range against `total` bytes. With `several_allowed`
/// false (DLO), a header naming several ranges is ignored, as in Swift.
pub fn requested(ctx: &Ctx, total: u64, several_allowed: bool) -> Requested {
    let specs = ctx
        .header("range")
        .and_then(range::parse_range)
        .filter(|s| several_allowed || s.len() == 1);
    match specs.map(|s| range::plan(&s, total)) {
        None | Some(RangePlan::Whole) => Requested::Whole,
        Some(RangePlan::Unsatisfiable) => Requested::Unsatisfiable,
        Some(RangePlan::Ranges(r)) => Requested::Ranges(r),
    }
}

/// Sets `Content-Range` for the one range `[start, end)` of `total` bytes.
pub fn set_content_range(h: &mut HeaderMap, (start, end): (u64, u64), total: u64) {
    set(
        h,
        "content-range",
        &format!("bytes {start}-{}/{total}", end - 1),
    );
}

/// Swift's 416 for a large object with headers `h`: its error body,
/// `Content-Range: bytes */total`.
pub fn unsatisfiable(h: &HeaderMap, total: u64, is_head: bool) -> Response<Body> {
    let mut r = error_response(&SwiftError::RangeNotSatisfiable, is_head);
    for (k, v) in h {
        if k != CONTENT_TYPE && k != CONTENT_LENGTH {
            r.headers_mut().insert(k.clone(), v.clone());
        }
    }
    set(
        r.headers_mut(),
        "content-range",
        &format!("bytes */{total}"),
    );
    set(r.headers_mut(), "accept-ranges", "bytes");
    r
}

/// What a manifest says of a segment, checked when it is opened.
pub struct Expected<'a> {
    /// The whole segment's length in bytes.
    pub size: u64,
    /// Its ETag, when the manifest records one (SLO does, DLO does not).
    pub etag: Option<&'a str>,
}

/// An open segment stream and the replica it comes from.
pub type Opened = (GetStream, usize);

/// Opens `range` of a segment on the first good replica and checks it is
/// still the object the manifest named: a changed size or ETag is a 409,
/// as Swift answers for a segment that is no longer valid.
pub async fn open_segment(
    reps: &reader::Replicas,
    range: ByteRange,
    expected: Expected<'_>,
) -> Result<(Version, Opened), SwiftError> {
    let opened = reader::open_at(reps, None, Some(range)).await?;
    let meta = &opened.0.meta;
    let etag_changed = expected.etag.is_some_and(|e| e != meta.etag);
    if meta.content_length != expected.size || etag_changed {
        tracing::warn!(segment = %meta.name, "segment changed since the manifest named it");
        return Err(SwiftError::Conflict);
    }
    Ok((Version::of(meta), opened))
}

/// Paces the segments of one large-object GET: cuts it after
/// [`MAX_GET_TIME_SECS`], and after the first [`RATE_LIMIT_AFTER_SEGMENT`]
/// rate-limited segments serves at most [`RATE_LIMIT_SEGMENTS_PER_SEC`]
/// of them per second (Swift's `RateLimitedIterator`).
pub struct Pacer {
    began: Instant,
    limited: usize,
}

impl Pacer {
    pub fn new() -> Self {
        Pacer {
            began: Instant::now(),
            limited: 0,
        }
    }

    /// Waits until the next segment may be served; `Err` once the GET has
    /// taken too long. `rate_limited` says whether this segment counts.
    pub async fn next_segment(&mut self, rate_limited: bool) -> Result<(), SwiftError> {
        if self.began.elapsed() > Duration::from_secs(MAX_GET_TIME_SECS) {
            return Err(SwiftError::RequestTimeout);
        }
        if !rate_limited {
            return Ok(());
        }
        self.limited += 1;
        let Some(over) = (self.limited - 1).checked_sub(RATE_LIMIT_AFTER_SEGMENT) else {
            return Ok(());
        };
        let due = self.began + Duration::from_secs(over as u64 / RATE_LIMIT_SEGMENTS_PER_SEC);
        tokio::time::sleep_until(due.into()).await;
        Ok(())
    }
}
