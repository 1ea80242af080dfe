//! `DELETE ?multipart-manifest=delete`: deletes every segment of the
//! manifest (descending into sub-SLOs), then the manifest, as the requester,
//! and answers 200 with Swift's bulk-delete report (`Number Deleted`,
//! `Number Not Found`, `Errors`, `Response Status`, `Response Body`) in the
//! format the `Accept` header asks for, with heartbeat whitespace while it
//! works.
//!
//! The order is Swift's `get_segments_to_delete_iter`: a queue where a
//! sub-manifest's segments are appended, and the sub-manifest itself after
//! them.

use super::access;
use super::manifest::{split_segment_path, Segment};
use super::report::{self, Field, Report, ReportFormat};
use super::{Attrs, MAX_MANIFEST_SEGMENTS};
use crate::errors::SwiftError;
use crate::server::object_write;
use crate::server::reader;
use crate::server::respond::{response, set, QUOTE};
use crate::server::{Ctx, ObjectPath, Shared};
use axum::body::Body;
use http::{HeaderMap, Method, Response, StatusCode};
use percent_encoding::utf8_percent_encode;
use std::collections::VecDeque;
use std::sync::Arc;

/// Names queued at once before the delete is refused (Swift: ten manifests' worth).
pub const QUEUED_MAX: usize = MAX_MANIFEST_SEGMENTS * 10;
/// Failed deletes after which the rest is abandoned (bulk's `max_failed_deletes`).
pub const FAILED_DELETES_MAX: usize = 1000;

pub async fn delete(
    sh: &Shared,
    ctx: &Ctx,
    obj: &ObjectPath,
) -> Result<Response<Body>, SwiftError> {
    let fmt = ReportFormat::negotiate(ctx.header("accept"));
    let deletion = Deletion {
        sh: sh.arc(),
        read: ctx.subrequest(Method::GET),
        write: ctx.subrequest(Method::DELETE),
        account: obj.account.clone(),
        tally: Tally::default(),
    };
    let top = format!("/{}/{}", obj.container, obj.object);
    let first_beat = match fmt {
        Some(ReportFormat::Xml(_)) => "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        _ => " ",
    };
    let body = reader::body_when_ready(|tx| {
        tokio::spawn(async move {
            let work = async move {
                match fmt {
                    Some(_) => deletion.run(top).await.render(fmt, "delete"),
                    None => not_acceptable().render(fmt, "delete"),
                }
            };
            report::with_heartbeat(tx, false, first_beat, work).await;
        });
    })
    .await;
    let mut h = HeaderMap::new();
    if let Some(f) = fmt {
        set(&mut h, "content-type", f.content_type());
    }
    Ok(response(StatusCode::OK, h, body))
}

fn not_acceptable() -> Report {
    Report {
        fields: vec![
            (
                "Response Status",
                Field::Text(report::status_line(StatusCode::NOT_ACCEPTABLE)),
            ),
            ("Response Body", Field::Text(String::new())),
            ("Number Deleted", Field::Count(0)),
            ("Number Not Found", Field::Count(0)),
        ],
        errors: Vec::new(),
    }
}

/// One name waiting in the queue.
struct Queued {
    /// `/container/object`.
    name: String,
    /// Whether its segments are still to be queued.
    sub_slo: bool,
    /// Why its manifest could not be read: a status code and message.
    error: Option<(StatusCode, String)>,
}

#[derive(Default)]
struct Tally {
    deleted: u64,
    not_found: u64,
    errors: Vec<(String, String)>,
    /// A segment's delete failed with a 5xx: the report says 502.
    bad_gateway: bool,
}

struct Deletion {
    sh: Arc<Shared>,
    read: Ctx,
    write: Ctx,
    account: String,
    tally: Tally,
}

/// Ends a deletion early with this status and message.
struct Abort(StatusCode, String);

impl Deletion {
    async fn run(mut self, top: String) -> Report {
        let aborted = self.walk(top).await.err();
        let t = &self.tally;
        let (status, body) = match aborted {
            Some(Abort(s, m)) => (s, m),
            None if !t.errors.is_empty() && t.bad_gateway => {
                (StatusCode::BAD_GATEWAY, String::new())
            }
            None if !t.errors.is_empty() => (StatusCode::BAD_REQUEST, String::new()),
            None if t.deleted + t.not_found == 0 => {
                (StatusCode::BAD_REQUEST, "Invalid bulk delete.".to_owned())
            }
            None => (StatusCode::OK, String::new()),
        };
        Report {
            fields: vec![
                ("Response Status", Field::Text(report::status_line(status))),
                ("Response Body", Field::Text(body)),
                ("Number Deleted", Field::Count(t.deleted)),
                ("Number Not Found", Field::Count(t.not_found)),
            ],
            errors: self.tally.errors,
        }
    }

    async fn walk(&mut self, top: String) -> Result<(), Abort> {
        let mut queue = VecDeque::from([Queued {
            name: top,
            sub_slo: true,
            error: None,
        }]);
        while let Some(mut q) = queue.pop_front() {
            if queue.len() >= QUEUED_MAX {
                let m = "Too many buffered slo segments to delete.";
                return Err(Abort(StatusCode::BAD_REQUEST, m.into()));
            }
            if !q.sub_slo {
                self.delete_one(q).await?;
                continue;
            }
            match self.segments(&q.name).await {
                Ok(segments) => queue.extend(segments.into_iter().filter_map(|s| match s {
                    Segment::Data(_) => None,
                    Segment::Object(o) => Some(Queued {
                        name: o.name,
                        sub_slo: o.sub_slo,
                        error: None,
                    }),
                })),
                Err(e) => q.error = Some(e),
            }
            q.sub_slo = false;
            queue.push_back(q);
        }
        Ok(())
    }

    /// A manifest's segments, read as the requester (Swift's `get_slo_segments`).
    async fn segments(&self, name: &str) -> Result<Vec<Segment>, (StatusCode, String)> {
        let server_error = |m: &str| (StatusCode::INTERNAL_SERVER_ERROR, m.to_owned());
        let Some((c, o)) = split_segment_path(name) else {
            return Err((StatusCode::BAD_REQUEST, "Invalid SLO manifest path".into()));
        };
        match access::read_manifest(&self.sh, &self.read, &self.account, c, o).await {
            Ok((meta, parsed)) => match (Attrs::of(&meta), parsed) {
                (Ok(Some(_)), Ok(segments)) => Ok(segments),
                (Ok(Some(_)), Err(_)) | (Err(_), _) => {
                    Err(server_error("Unable to load SLO manifest"))
                }
                (Ok(None), _) => Err((StatusCode::BAD_REQUEST, "Not an SLO manifest".into())),
            },
            Err(SwiftError::NotFound) => {
                Err((StatusCode::NOT_FOUND, "SLO manifest not found".into()))
            }
            Err(SwiftError::Unauthorized) => {
                Err((StatusCode::UNAUTHORIZED, "401 Unauthorized".into()))
            }
            Err(_) => Err(server_error("Unable to load SLO manifest or segment.")),
        }
    }

    async fn delete_one(&mut self, q: Queued) -> Result<(), Abort> {
        let quoted = utf8_percent_encode(&q.name, QUOTE).to_string();
        let t = &mut self.tally;
        match q.error {
            Some((StatusCode::NOT_FOUND, _)) => t.not_found += 1,
            Some((_, message)) => t.errors.push((quoted, message)),
            None => {
                let result = match split_segment_path(&q.name) {
                    Some((c, o)) => {
                        let obj = ObjectPath {
                            account: self.account.clone(),
                            container: c.to_owned(),
                            object: o.to_owned(),
                        };
                        object_write::delete(&self.sh, &self.write, &obj)
                            .await
                            .map(|_| ())
                    }
                    None => Err(SwiftError::NotFound),
                };
                match result {
                    Ok(()) => t.deleted += 1,
                    Err(SwiftError::NotFound) => t.not_found += 1,
                    Err(e) => {
                        let status = e.http_status();
                        t.bad_gateway |= status.is_server_error();
                        t.errors.push((quoted, report::status_line(status)));
                    }
                }
            }
        }
        if t.errors.len() >= FAILED_DELETES_MAX {
            let m = "Max delete failures exceeded";
            return Err(Abort(StatusCode::BAD_REQUEST, m.into()));
        }
        Ok(())
    }
}
