//! Account requests: HEAD/GET (totals, metadata, container listing) and POST
//! (metadata). Accounts are created on first use (Swift's autocreate).

use super::respond::{empty, set, with_body};
use super::{denied, Ctx, Shared};
use crate::auth::{authorize, AccessRequest, Decision};
use crate::constraints::{check_merged_metadata, check_metadata, check_names, MetaTarget};
use crate::errors::SwiftError;
use crate::listing::{choose_format, list_query, render_containers};
use axum::body::Body;
use cairn_meta_api::{AccountInfo, MetaError, MetaMap};
use http::{HeaderMap, Method, Response, StatusCode};

pub async fn handle(sh: &Shared, ctx: &Ctx, account: &str) -> Result<Response<Body>, SwiftError> {
    let put_or_delete = ctx.method == Method::PUT || ctx.method == Method::DELETE;
    let is_read = ctx.method == Method::GET || ctx.method == Method::HEAD;
    let access = AccessRequest {
        account,
        has_container: false,
        has_object: false,
        is_account_put_or_delete: put_or_delete,
        is_read,
        acl: None,
        referer: ctx.header("referer"),
    };
    match authorize(ctx.id.as_ref(), &access) {
        Decision::Owner => {}
        // No ACL applies to an account: only its readers are `Allowed`.
        Decision::Allowed if is_read => {}
        d => return Err(denied(d)),
    }
    check_names(&sh.cfg.constraints, account, None, None)?;
    match ctx.method.as_str() {
        "HEAD" | "GET" => get_or_head(sh, ctx, account).await,
        "POST" => post(sh, ctx, account).await,
        _ => Err(SwiftError::MethodNotAllowed),
    }
}

/// The account, or an empty one when it was never used (autocreate).
async fn account_or_empty(sh: &Shared, account: &str) -> Result<AccountInfo, SwiftError> {
    match sh.meta.account(account).await {
        Ok(a) => Ok(a),
        Err(MetaError::AccountNotFound) => Ok(AccountInfo {
            name: account.to_owned(),
            created: cairn_base::Timestamp::ZERO,
            meta: MetaMap::new(),
            container_count: 0,
            object_count: 0,
            bytes_used: 0,
        }),
        Err(e) => Err(e.into()),
    }
}

fn account_headers(a: &AccountInfo, now: cairn_base::Timestamp) -> HeaderMap {
    let mut h = HeaderMap::new();
    let created = if a.created == cairn_base::Timestamp::ZERO {
        now
    } else {
        a.created
    };
    set(
        &mut h,
        "x-account-container-count",
        &a.container_count.to_string(),
    );
    set(
        &mut h,
        "x-account-object-count",
        &a.object_count.to_string(),
    );
    set(&mut h, "x-account-bytes-used", &a.bytes_used.to_string());
    set(
        &mut h,
        "x-account-storage-policy-policy-0-container-count",
        &a.container_count.to_string(),
    );
    set(
        &mut h,
        "x-account-storage-policy-policy-0-object-count",
        &a.object_count.to_string(),
    );
    set(
        &mut h,
        "x-account-storage-policy-policy-0-bytes-used",
        &a.bytes_used.to_string(),
    );
    set(&mut h, "x-timestamp", &created.to_string());
    set(&mut h, "x-put-timestamp", &created.to_string());
    for (k, v) in &a.meta {
        set(&mut h, k, v);
    }
    h
}

async fn get_or_head(sh: &Shared, ctx: &Ctx, account: &str) -> Result<Response<Body>, SwiftError> {
    let fmt = choose_format(
        crate::path::param(&ctx.params, "format"),
        ctx.header("accept"),
    )
    .ok_or(SwiftError::NotAcceptable)?;
    let info = account_or_empty(sh, account).await?;
    let mut h = account_headers(&info, ctx.now);
    if ctx.is_head() {
        set(&mut h, "content-type", fmt.content_type());
        return Ok(empty(StatusCode::NO_CONTENT, h));
    }
    let q = list_query(&ctx.params, sh.cfg.constraints.account_listing_limit)?;
    let items = match sh.meta.list_containers(account, &q).await {
        Ok(items) => items,
        Err(MetaError::AccountNotFound) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    match render_containers(fmt, account, &items) {
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

/// `X-Account-Meta-*` sets, `X-Remove-Account-Meta-*` (or an empty value) removes.
pub fn meta_updates(headers: &HeaderMap, prefix: &str, remove_prefix: &str) -> MetaMap {
    let mut m = MetaMap::new();
    for (name, value) in headers {
        let n = name.as_str();
        if n.starts_with(prefix) {
            m.insert(
                n.to_owned(),
                super::respond::header_text(value).trim().to_owned(),
            );
        } else if let Some(rest) = n.strip_prefix(remove_prefix) {
            m.insert(format!("{prefix}{rest}"), String::new());
        }
    }
    m
}

async fn post(sh: &Shared, ctx: &Ctx, account: &str) -> Result<Response<Body>, SwiftError> {
    check_metadata(&ctx.headers, MetaTarget::Account, &sh.cfg.constraints)?;
    let ts = ctx.timestamp()?;
    let updates = meta_updates(&ctx.headers, "x-account-meta-", "x-remove-account-meta-");
    sh.meta.ensure_account(account, ts).await?;
    if !updates.is_empty() {
        let existing = account_or_empty(sh, account).await?.meta;
        check_merged_metadata(
            &existing,
            &updates,
            MetaTarget::Account,
            &sh.cfg.constraints,
        )?;
    }
    let info = if updates.is_empty() {
        account_or_empty(sh, account).await?
    } else {
        sh.meta.update_account_meta(account, updates, ts).await?
    };
    Ok(empty(
        StatusCode::NO_CONTENT,
        account_headers(&info, ctx.now),
    ))
}
