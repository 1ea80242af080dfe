//! `PUT ?multipart-manifest=put`: reads and checks the client's list, HEADs
//! every segment as the requester, and stores the resolved manifest — or
//! answers Swift's 400 with the `Errors` list, or 422 when the client's
//! ETag is not the SLO ETag. With `heartbeat=on` it answers 202 at once and
//! sends whitespace until the report. A COPY of a manifest itself
//! (`multipart-manifest=get`) goes through the same validation.

use super::access;
use super::input::{self, InputObject, InputSegment, Problem, SegmentHead};
use super::manifest::{self, Segment};
use super::report::{self, Field, Report, ReportFormat};
use super::store::{store_manifest, ManifestObject, StoredManifest};
use super::{MAX_MANIFEST_BYTES, MAX_MANIFEST_SEGMENTS};
use crate::conditional::http_date;
use crate::constraints::{check_metadata, check_names, delete_at, MetaTarget};
use crate::errors::SwiftError;
use crate::mime;
use crate::server::object_put::{
    body_length, content_type, created, if_none_match, request_headers,
};
use crate::server::reader::{self, Replicas};
use crate::server::respond::{empty, last_modified_secs, response, set, with_body};
use crate::server::{is_true, Ctx, ObjectPath, Shared};
use axum::body::Body;
use bytes::Bytes;
use cairn_nodeapi::ObjectMeta;
use futures::future::BoxFuture;
use futures::StreamExt;
use http::{HeaderMap, Method, Response, StatusCode};
use std::collections::HashMap;

/// Segment HEADs in flight for one manifest PUT (Swift's `concurrency`: 2).
pub const SEGMENT_HEADS_IN_FLIGHT_MAX: usize = 4;

/// A manifest PUT once its body is parsed: what to check and to write.
pub struct ManifestPut {
    pub obj: ObjectPath,
    pub segments: Vec<InputSegment>,
    pub object: ManifestObject,
    /// The client's `Etag`, unquoted: it must be the SLO ETag.
    pub client_etag: Option<String>,
}

/// How a manifest PUT ended.
pub enum Outcome {
    Created(StoredManifest),
    /// A quorum held a newer version of the name (202).
    Superseded,
    /// Segments that failed validation (400).
    Problems(Vec<Problem>),
    Failed(SwiftError),
}

pub async fn put(
    sh: &Shared,
    ctx: &Ctx,
    obj: &ObjectPath,
    body: Body,
) -> Result<Response<Body>, SwiftError> {
    let c = &sh.cfg.constraints;
    check_names(c, &obj.account, Some(&obj.container), Some(&obj.object))?;
    if ctx.headers.contains_key("x-copy-from") {
        // Swift: "Multipart Manifest PUTs cannot be COPY requests".
        return Err(SwiftError::MethodNotAllowed);
    }
    sh.authorize_in_container(ctx, &obj.account, &obj.container, true, "x-container-write")
        .await?;
    body_length(ctx, MAX_MANIFEST_BYTES as u64)?;
    check_metadata(&ctx.headers, MetaTarget::Object, c)?;
    let at = delete_at(&ctx.headers, ctx.now.secs())?;
    if_none_match(sh, ctx, obj).await?;
    let body = read_body(sh, body).await?;
    let segments = input::parse(&body, &obj.container, &obj.object)?;
    let objects = segments
        .iter()
        .filter(|s| matches!(s, InputSegment::Object(_)))
        .count();
    if objects > MAX_MANIFEST_SEGMENTS {
        return Err(SwiftError::TooLarge);
    }
    let fmt = ReportFormat::negotiate(ctx.header("accept")).unwrap_or(ReportFormat::Text);
    let ctype =
        content_type(ctx, &obj.object).unwrap_or_else(|| mime::guess(&obj.object).to_owned());
    let job = ManifestPut {
        obj: obj.clone(),
        segments,
        object: ManifestObject {
            headers: request_headers(ctx, at),
            content_type: ctype,
            ts: ctx.timestamp()?,
        },
        client_etag: ctx
            .header("etag")
            .map(|e| e.trim().trim_matches('"').to_owned()),
    };
    let head_ctx = ctx.subrequest(Method::HEAD);
    if is_true(crate::path::param(&ctx.params, "heartbeat")) {
        let sh = sh.arc();
        let body = reader::body_when_ready(|tx| {
            tokio::spawn(async move {
                let work = async {
                    let outcome = complete(&sh, &head_ctx, job).await;
                    outcome_report(outcome).render(Some(fmt), "upload")
                };
                report::with_heartbeat(tx, true, " ", work).await;
            });
        })
        .await;
        let mut h = HeaderMap::new();
        set(&mut h, "content-type", fmt.content_type());
        return Ok(response(StatusCode::ACCEPTED, h, body));
    }
    respond(complete(sh, &head_ctx, job).await, fmt, HeaderMap::new())
}

/// The manifest body, at most [`MAX_MANIFEST_BYTES`].
async fn read_body(sh: &Shared, body: Body) -> Result<Bytes, SwiftError> {
    let read = tokio::time::timeout(
        sh.cfg.client_timeout,
        axum::body::to_bytes(body, MAX_MANIFEST_BYTES),
    )
    .await
    .map_err(|_| SwiftError::RequestTimeout)?;
    read.map_err(|e| {
        let too_long = e
            .into_inner()
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some();
        if too_long {
            SwiftError::TooLarge
        } else {
            SwiftError::ClientDisconnect
        }
    })
}

/// Checks every segment with a HEAD as the requester (`ctx`), then writes
/// the manifest if all is well.
pub async fn complete(sh: &Shared, ctx: &Ctx, job: ManifestPut) -> Outcome {
    let heads = head_all(sh, ctx, &job.obj.account, &job.segments).await;
    let last = job.segments.len().saturating_sub(1);
    let mut problems = Vec::new();
    let mut stored = Vec::with_capacity(job.segments.len());
    for (i, seg) in job.segments.iter().enumerate() {
        match seg {
            InputSegment::Data(d) => stored.push(Segment::Data(d.clone())),
            InputSegment::Object(o) => {
                let head = heads
                    .get(&o.path)
                    .map(|r| r.as_ref().map_err(String::as_str))
                    .unwrap_or(Err("404 Not Found"));
                if let Some(s) = input::resolve(o, head, i == last, &mut problems) {
                    stored.push(Segment::Object(s));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Outcome::Problems(problems);
    }
    let slo_etag = manifest::slo_etag(&stored);
    if job.client_etag.as_ref().is_some_and(|e| *e != slo_etag) {
        return Outcome::Failed(SwiftError::Unprocessable);
    }
    match store_manifest(sh, &job.obj, &stored, job.object).await {
        Ok(Some(s)) => Outcome::Created(s),
        Ok(None) => Outcome::Superseded,
        Err(e) => Outcome::Failed(e),
    }
}

/// HEADs each distinct segment path once: its head, or its failure's status line.
async fn head_all(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    segments: &[InputSegment],
) -> HashMap<String, Result<SegmentHead, String>> {
    let mut paths: Vec<&InputObject> = Vec::new();
    for s in segments {
        if let InputSegment::Object(o) = s {
            if !paths.iter().any(|p| p.path == o.path) {
                paths.push(o);
            }
        }
    }
    // Boxed: a stream of plain `async` blocks borrowing `sh` trips the
    // compiler's `Send` inference for the spawned heartbeat task.
    let heads: Vec<BoxFuture<'_, (String, Result<SegmentHead, String>)>> = paths
        .into_iter()
        .map(|o| Box::pin(head_one(sh, ctx, account, o)) as BoxFuture<'_, _>)
        .collect();
    futures::stream::iter(heads)
        .buffered(SEGMENT_HEADS_IN_FLIGHT_MAX)
        .collect()
        .await
}

async fn head_one(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    o: &InputObject,
) -> (String, Result<SegmentHead, String>) {
    let head = match o.container_object() {
        Some((c, ob)) => access::head_segment(sh, ctx, account, c, ob).await,
        None => Err(SwiftError::NotFound),
    };
    let head = head.map_err(|e| report::status_line(e.http_status()));
    (o.path.clone(), head)
}

/// The report a heartbeat PUT ends with.
fn outcome_report(outcome: Outcome) -> Report {
    let text = |s: &str| Field::Text(s.to_owned());
    let fields = match &outcome {
        Outcome::Created(s) => vec![
            ("Response Status", text("201 Created")),
            ("Etag", Field::Text(format!("\"{}\"", s.slo_etag))),
            ("Last Modified", Field::Text(last_modified(&s.meta))),
            ("Response Body", text("")),
        ],
        Outcome::Superseded => vec![
            ("Response Status", text("202 Accepted")),
            ("Response Body", text("")),
        ],
        Outcome::Problems(_) => vec![
            ("Response Status", text("400 Bad Request")),
            ("Response Body", text(report::BAD_REQUEST_TEXT)),
        ],
        Outcome::Failed(SwiftError::Unprocessable) => vec![
            ("Response Status", text("422 Unprocessable Entity")),
            ("Response Body", text(report::UNPROCESSABLE_TEXT)),
        ],
        Outcome::Failed(e) => vec![
            (
                "Response Status",
                Field::Text(report::status_line(e.http_status())),
            ),
            ("Response Body", Field::Text(e.body().0)),
        ],
    };
    let errors = match outcome {
        Outcome::Problems(p) => p,
        _ => Vec::new(),
    };
    Report { fields, errors }
}

fn last_modified(meta: &ObjectMeta) -> String {
    http_date(last_modified_secs(meta.meta_ts))
}

/// The answer of a PUT (or manifest COPY) without heartbeat; `extra`
/// headers go on a success.
pub fn respond(
    outcome: Outcome,
    fmt: ReportFormat,
    extra: HeaderMap,
) -> Result<Response<Body>, SwiftError> {
    match outcome {
        Outcome::Created(s) => {
            let mut r = created(&s.meta, extra);
            set(r.headers_mut(), "etag", &format!("\"{}\"", s.slo_etag));
            Ok(r)
        }
        Outcome::Superseded => Ok(empty(StatusCode::ACCEPTED, HeaderMap::new())),
        Outcome::Problems(errors) => {
            let body = Report {
                fields: Vec::new(),
                errors,
            }
            .render(Some(fmt), "upload");
            Ok(with_body(
                StatusCode::BAD_REQUEST,
                HeaderMap::new(),
                fmt.content_type(),
                body,
                false,
            ))
        }
        Outcome::Failed(e) => Err(e),
    }
}

/// COPY of a manifest itself: the source's list, in the PUT input format,
/// validated and written at `dst` as the requester (`ctx`), as Swift's copy
/// middleware does with `multipart-manifest=get`.
pub async fn copy_manifest(
    sh: &Shared,
    ctx: &Ctx,
    source: (Replicas, &ObjectMeta),
    dst: &ObjectPath,
    object: ManifestObject,
    copied_from: HeaderMap,
) -> Result<Response<Body>, SwiftError> {
    let (reps, meta) = source;
    let stored = super::serve::load(reps, None, meta).await?;
    let raw = manifest::to_raw_json(&stored);
    let job = ManifestPut {
        obj: dst.clone(),
        segments: input::parse(raw.as_bytes(), &dst.container, &dst.object)?,
        object,
        client_etag: None,
    };
    let fmt = ReportFormat::negotiate(ctx.header("accept")).unwrap_or(ReportFormat::Text);
    let outcome = complete(sh, &ctx.subrequest(Method::HEAD), job).await;
    respond(outcome, fmt, copied_from)
}
