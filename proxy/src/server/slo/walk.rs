//! Streaming an SLO's bytes: walks the manifest for the requested byte
//! spans (descending into sub-SLOs, as Swift's `_byterange_listing_iterator`
//! does, at most [`MAX_RECURSION_DEPTH`] deep) and streams each segment
//! piece with failover from its replicas, as the requester.
//!
//! The first piece is opened and checked before the response is answered:
//! a missing, forbidden or changed first segment is a 409 (a 503 when its
//! replicas failed). Later failures cannot change the status any more: the
//! body is cut, so the client sees a short response (Swift drops the
//! connection the same way).

use super::access;
use super::manifest::{ObjectSegment, Segment};
use crate::errors::SwiftError;
use crate::server::large_object::{self, Expected, Pacer};
use crate::server::object_read::expired;
use crate::server::reader::{self, ChunkSender, Piece};
use crate::server::{Ctx, Shared};
use axum::body::Body;
use bytes::Bytes;
use cairn_nodeapi::ByteRange;
use futures::future::BoxFuture;
use http::Method;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Sub-SLO nesting served (Swift's `max_slo_recursion_depth`).
pub const MAX_RECURSION_DEPTH: usize = 10;
/// Sub-manifests kept parsed while one response is served (Swift: 20).
pub const SUB_MANIFESTS_CACHED_MAX: usize = 20;
/// Segments smaller than this count towards rate limiting (`rate_limit_under_size`).
pub const RATE_LIMIT_UNDER_BYTES: u64 = 1024 * 1024;

/// One element of a response body.
pub enum Emit {
    /// Bytes of the response itself (multipart boundaries).
    Literal(Bytes),
    /// The inclusive bytes `first..=last` of the concatenation.
    Span { first: u64, last: u64 },
}

/// Starts streaming `emits` over the manifest `segments` of `account`; the
/// body once its first segment piece is open and checked.
pub async fn spawn(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    segments: Arc<Vec<Segment>>,
    emits: Vec<Emit>,
) -> Result<Body, SwiftError> {
    let (tx, body) = reader::body_channel();
    let (first_tx, first_rx) = oneshot::channel();
    let walker = Walker {
        sh: sh.arc(),
        ctx: ctx.subrequest(Method::GET),
        account: account.to_owned(),
        tx,
        first: Some(first_tx),
        pacer: Pacer::new(),
        subs: Vec::new(),
    };
    tokio::spawn(walker.run(segments, emits));
    match first_rx.await {
        Ok(Ok(())) => Ok(body),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(SwiftError::Internal("SLO body task ended early".into())),
    }
}

/// Why a walk stopped early (the client has been told, or has left).
struct Stopped;

struct Walker {
    sh: Arc<Shared>,
    ctx: Ctx,
    account: String,
    tx: ChunkSender,
    /// Told once the first piece is checked (or failed): the handler waits.
    first: Option<oneshot::Sender<Result<(), SwiftError>>>,
    pacer: Pacer,
    /// Recently used sub-manifests, least recent first.
    subs: Vec<(String, Arc<Vec<Segment>>)>,
}

impl Walker {
    async fn run(mut self, segments: Arc<Vec<Segment>>, emits: Vec<Emit>) {
        for e in emits {
            let done = match e {
                Emit::Literal(b) => self.send(b).await,
                Emit::Span { first, last } => {
                    self.span(segments.clone(), first as i64, last as i64, 1)
                        .await
                }
            };
            if done.is_err() {
                return;
            }
        }
        self.checked();
    }

    /// Streams `first..=last` (relative to `segments`, possibly negative
    /// or past the end) of a manifest at nesting `depth`.
    fn span(
        &mut self,
        segments: Arc<Vec<Segment>>,
        mut first: i64,
        mut last: i64,
        depth: usize,
    ) -> BoxFuture<'_, Result<(), Stopped>> {
        Box::pin(async move {
            for seg in segments.iter() {
                let len = seg.length() as i64;
                if first >= len {
                    first -= len;
                    last -= len;
                    continue;
                }
                if last < 0 {
                    return Ok(());
                }
                let (lo, hi) = (first.max(0), last.min(len - 1));
                match seg {
                    Segment::Data(d) => {
                        self.checked();
                        self.send(Bytes::copy_from_slice(&d[lo as usize..=hi as usize]))
                            .await?;
                    }
                    Segment::Object(o) => {
                        let start = o.range.map_or(0, |(s, _)| s) as i64;
                        if o.sub_slo {
                            self.sub_slo(o, start + lo, start + hi, depth).await?;
                        } else {
                            self.object(o, (start + lo) as u64, (start + hi) as u64)
                                .await?;
                        }
                    }
                }
                first -= len;
                last -= len;
            }
            Ok(())
        })
    }

    async fn sub_slo(
        &mut self,
        o: &ObjectSegment,
        first: i64,
        last: i64,
        depth: usize,
    ) -> Result<(), Stopped> {
        if depth >= MAX_RECURSION_DEPTH {
            let e = SwiftError::Conflict;
            return Err(self.fail(&o.name, "max recursion depth exceeded", e).await);
        }
        let segments = self.sub_manifest(o).await?;
        self.span(segments, first, last, depth + 1).await
    }

    /// A sub-SLO's segments, from the cache or read as the requester.
    async fn sub_manifest(&mut self, o: &ObjectSegment) -> Result<Arc<Vec<Segment>>, Stopped> {
        if let Some(i) = self.subs.iter().position(|(n, _)| *n == o.name) {
            let hit = self.subs.remove(i);
            self.subs.push(hit.clone());
            return Ok(hit.1);
        }
        let read = match o.container_object() {
            Some((c, ob)) => access::read_manifest(&self.sh, &self.ctx, &self.account, c, ob).await,
            None => Err(SwiftError::NotFound),
        };
        let segments = match read {
            Ok((_, Ok(segments))) => Arc::new(segments),
            Ok((_, Err(why))) => {
                return Err(self.fail(&o.name, &why, SwiftError::Conflict).await);
            }
            Err(e) => return Err(self.fail(&o.name, "sub-manifest unreadable", e).await),
        };
        if self.subs.len() == SUB_MANIFESTS_CACHED_MAX {
            self.subs.remove(0);
        }
        self.subs.push((o.name.clone(), segments.clone()));
        Ok(segments)
    }

    /// Streams the bytes `first..=last` of one object segment.
    async fn object(&mut self, o: &ObjectSegment, first: u64, last: u64) -> Result<(), Stopped> {
        let small = o.bytes < RATE_LIMIT_UNDER_BYTES;
        if let Err(e) = self.pacer.next_segment(small).await {
            return Err(self.fail(&o.name, "max_get_time exceeded", e).await);
        }
        let reps = match o.container_object() {
            Some((c, ob)) => access::readable(&self.sh, &self.ctx, &self.account, c, ob).await,
            None => Err(SwiftError::NotFound),
        };
        let reps = match reps {
            Ok(r) => r,
            Err(e) => return Err(self.fail(&o.name, "segment not readable", e).await),
        };
        let range = ByteRange {
            start: first,
            end: last + 1,
        };
        let expected = Expected {
            size: o.bytes,
            etag: Some(&o.hash),
        };
        let (version, opened) = match large_object::open_segment(&reps, range, expected).await {
            Ok((_, (stream, _))) if expired(&stream.meta, self.ctx.now.secs()) => {
                return Err(self
                    .fail(&o.name, "segment expired", SwiftError::NotFound)
                    .await);
            }
            Ok(checked) => checked,
            Err(e) => return Err(self.fail(&o.name, "segment not served", e).await),
        };
        self.checked();
        let piece = vec![Piece::Range(first, last + 1)];
        if reader::stream_pieces(reps, version, Some(opened), piece, self.tx.clone()).await {
            Ok(())
        } else {
            Err(Stopped)
        }
    }

    /// The first piece is good: the handler may answer.
    fn checked(&mut self) {
        if let Some(f) = self.first.take() {
            let _ = f.send(Ok(()));
        }
    }

    /// Reports a segment failure: before the first piece the handler answers
    /// it (409, or 503 for failed replicas); after, the body is cut.
    async fn fail(&mut self, segment: &str, why: &str, e: SwiftError) -> Stopped {
        tracing::warn!(account = %self.account, segment, why, error = %e, "SLO segment failed");
        match self.first.take() {
            Some(f) => {
                let status = match e {
                    SwiftError::Unavailable(_) | SwiftError::Internal(_) => e,
                    _ => SwiftError::Conflict,
                };
                let _ = f.send(Err(status));
            }
            None => {
                let cut = std::io::Error::other(format!("SLO segment {segment}: {why}"));
                let _ = self.tx.send(Err(cut)).await;
            }
        }
        Stopped
    }

    async fn send(&mut self, b: Bytes) -> Result<(), Stopped> {
        self.tx.send(Ok(b)).await.map_err(|_| Stopped)
    }
}
