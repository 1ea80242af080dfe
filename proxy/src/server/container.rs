//! Container requests: PUT/POST (metadata and ACLs), DELETE, and HEAD/GET
//! (totals, metadata, object listing).

use super::account::meta_updates;
use super::respond::{empty, header_text, set, with_body};
use super::{denied, Ctx, Shared};
use crate::auth::{authorize, AccessRequest, Acl, Decision};
use crate::constraints::{check_merged_metadata, check_metadata, check_names, MetaTarget};
use crate::errors::SwiftError;
use crate::listing::STORAGE_POLICY;
use crate::listing::{choose_format, list_query, render_objects};
use axum::body::Body;
use cairn_meta_api::{ContainerInfo, ContainerPut, ListQuery, MetaMap, ObjectListItem};
use http::{HeaderMap, Response, StatusCode};

pub async fn handle(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    container: &str,
) -> Result<Response<Body>, SwiftError> {
    match ctx.method.as_str() {
        "HEAD" | "GET" => get_or_head(sh, ctx, account, container).await,
        "PUT" | "POST" | "DELETE" => {
            require_owner(ctx, account)?;
            check_names(&sh.cfg.constraints, account, Some(container), None)?;
            let r = match ctx.method.as_str() {
                "PUT" => put(sh, ctx, account, container).await,
                "POST" => post(sh, ctx, account, container).await,
                _ => delete(sh, ctx, account, container).await,
            };
            sh.containers.invalidate(account, container);
            r
        }
        _ => Err(SwiftError::MethodNotAllowed),
    }
}

pub(crate) fn require_owner(ctx: &Ctx, account: &str) -> Result<(), SwiftError> {
    match authorize(ctx.id.as_ref(), &account_access(ctx, account, false)) {
        Decision::Owner => Ok(()),
        d => Err(denied(d)),
    }
}

/// The account's owner or one of its readers (listing its buckets, say).
pub(crate) fn require_reader(ctx: &Ctx, account: &str) -> Result<(), SwiftError> {
    match authorize(ctx.id.as_ref(), &account_access(ctx, account, true)) {
        Decision::Owner | Decision::Allowed => Ok(()),
        d => Err(denied(d)),
    }
}

fn account_access<'a>(ctx: &'a Ctx, account: &'a str, is_read: bool) -> AccessRequest<'a> {
    AccessRequest {
        account,
        has_container: true,
        has_object: false,
        is_account_put_or_delete: false,
        is_read,
        acl: None,
        referer: ctx.header("referer"),
    }
}

/// The metadata a PUT or POST sets: user metadata and the two ACLs.
fn container_meta(sh: &Shared, ctx: &Ctx) -> Result<MetaMap, SwiftError> {
    check_metadata(&ctx.headers, MetaTarget::Container, &sh.cfg.constraints)?;
    let mut m = meta_updates(
        &ctx.headers,
        "x-container-meta-",
        "x-remove-container-meta-",
    );
    for acl in ["x-container-read", "x-container-write"] {
        if let Some(v) = ctx.headers.get(acl) {
            let cleaned = Acl::clean(&header_text(v)).map_err(SwiftError::BadRequest)?;
            m.insert(acl.to_owned(), cleaned);
        }
        if ctx
            .headers
            .contains_key(format!("x-remove-{}", &acl[2..]).as_str())
        {
            m.insert(acl.to_owned(), String::new());
        }
    }
    Ok(m)
}

async fn put(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    container: &str,
) -> Result<Response<Body>, SwiftError> {
    if let Some(p) = ctx.headers.get("x-storage-policy") {
        let name = header_text(p);
        // An empty value asks for the default policy.
        let name = name.trim();
        if !name.is_empty() && !name.eq_ignore_ascii_case(STORAGE_POLICY) {
            return Err(SwiftError::BadRequest(format!(
                "Invalid X-Storage-Policy '{name}'"
            )));
        }
    }
    let meta = container_meta(sh, ctx)?;
    let ts = ctx.timestamp()?;
    let status = match sh.meta.put_container(account, container, meta, ts).await? {
        ContainerPut::Created => StatusCode::CREATED,
        ContainerPut::Updated => StatusCode::ACCEPTED,
    };
    Ok(empty(status, HeaderMap::new()))
}

async fn post(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    container: &str,
) -> Result<Response<Body>, SwiftError> {
    let meta = container_meta(sh, ctx)?;
    let existing = sh.meta.container(account, container).await?.meta;
    check_merged_metadata(&existing, &meta, MetaTarget::Container, &sh.cfg.constraints)?;
    let ts = ctx.timestamp()?;
    sh.meta
        .update_container_meta(account, container, meta, ts)
        .await?;
    Ok(empty(StatusCode::NO_CONTENT, HeaderMap::new()))
}

async fn delete(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    container: &str,
) -> Result<Response<Body>, SwiftError> {
    let ts = ctx.timestamp()?;
    sh.meta.delete_container(account, container, ts).await?;
    Ok(empty(StatusCode::NO_CONTENT, HeaderMap::new()))
}

fn container_headers(c: &ContainerInfo, owner: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    set(
        &mut h,
        "x-container-object-count",
        &c.object_count.to_string(),
    );
    set(&mut h, "x-container-bytes-used", &c.bytes_used.to_string());
    set(&mut h, "x-timestamp", &c.created.to_string());
    set(&mut h, "x-put-timestamp", &c.put_ts.to_string());
    set(&mut h, "x-storage-policy", STORAGE_POLICY);
    set(
        &mut h,
        "last-modified",
        &crate::conditional::http_date(super::respond::last_modified_secs(c.put_ts)),
    );
    for (k, v) in &c.meta {
        let is_acl = k == "x-container-read" || k == "x-container-write";
        if !v.is_empty() && (owner || !is_acl) {
            set(&mut h, k, v);
        }
    }
    h
}

async fn get_or_head(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    container: &str,
) -> Result<Response<Body>, SwiftError> {
    check_names(&sh.cfg.constraints, account, Some(container), None)?;
    let (decision, info) = sh
        .authorize_in_container(ctx, account, container, false, "x-container-read")
        .await?;
    let fmt = choose_format(
        crate::path::param(&ctx.params, "format"),
        ctx.header("accept"),
    )
    .ok_or(SwiftError::NotAcceptable)?;
    if ctx.is_head() {
        // HEAD asks the metadata service directly: the counts must be current.
        let fresh = sh.meta.container(account, container).await?;
        let mut h = container_headers(&fresh, decision == Decision::Owner);
        set(&mut h, "content-type", fmt.content_type());
        return Ok(empty(StatusCode::NO_CONTENT, h));
    }
    let q = list_query(&ctx.params, sh.cfg.constraints.container_listing_limit)?;
    let items = match crate::path::param(&ctx.params, "path") {
        Some(path) => list_path(sh, account, container, path, q).await?,
        None => sh.meta.list_objects(account, container, &q).await?,
    };
    let fresh = sh
        .meta
        .container(account, container)
        .await
        .unwrap_or_else(|_| (*info).clone());
    let mut h = container_headers(&fresh, decision == Decision::Owner);
    match render_objects(fmt, container, &items) {
        None => {
            set(&mut h, "content-type", fmt.content_type());
            Ok(empty(StatusCode::NO_CONTENT, h))
        }
        Some(body) => Ok(with_body(
            StatusCode::OK,
            h,
            fmt.content_type(),
            body,
            false,
        )),
    }
}

/// Swift's `path=` listing: the objects directly inside the pseudo-directory
/// `path` (prefix `path/`, delimiter `/`), including directory-marker objects
/// named `path/sub/`, but neither `path/` itself nor subdir rows.
async fn list_path(
    sh: &Shared,
    account: &str,
    container: &str,
    path: &str,
    mut q: ListQuery,
) -> Result<Vec<ObjectListItem>, SwiftError> {
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{}/", path.trim_end_matches('/'))
    };
    q.prefix = Some(prefix.clone()).filter(|p| !p.is_empty());
    q.delimiter = Some("/".into());
    let mut out = Vec::new();
    for row in sh.meta.list_objects(account, container, &q).await? {
        match row {
            ObjectListItem::Object(e) if e.name != prefix => out.push(ObjectListItem::Object(e)),
            ObjectListItem::Object(_) => {}
            ObjectListItem::Subdir(dir) => {
                // The roll-up hides a marker object named exactly `dir`.
                let probe = ListQuery {
                    prefix: Some(dir.clone()),
                    limit: 1,
                    ..ListQuery::default()
                };
                let first = sh.meta.list_objects(account, container, &probe).await?;
                if let Some(ObjectListItem::Object(e)) = first.into_iter().next() {
                    if e.name == dir {
                        out.push(ObjectListItem::Object(e));
                    }
                }
            }
        }
    }
    Ok(out)
}
