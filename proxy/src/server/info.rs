//! `/info` (capabilities), `/healthcheck` and tempauth's `/auth/v1.0`.

use super::respond::{empty, set, with_body};
use super::{Ctx, Shared};
use crate::errors::SwiftError;
use axum::body::Body;
use http::{HeaderMap, Response, StatusCode};
use serde_json::json;

/// Swift's capabilities, advertising only what this proxy implements.
pub fn info(sh: &Shared, ctx: &Ctx) -> Result<Response<Body>, SwiftError> {
    if ctx.method != http::Method::GET && ctx.method != http::Method::HEAD {
        return Err(SwiftError::MethodNotAllowed);
    }
    let c = &sh.cfg.constraints;
    let doc = json!({
        "swift": {
            "version": "2.38.3",
            "max_file_size": c.max_file_size,
            "max_meta_name_length": c.max_meta_name_length,
            "max_meta_value_length": c.max_meta_value_length,
            "max_meta_count": c.max_meta_count,
            "max_meta_overall_size": c.max_meta_overall_size,
            "max_header_size": c.max_header_size,
            "max_object_name_length": c.max_object_name_length,
            "container_listing_limit": c.container_listing_limit,
            "account_listing_limit": c.account_listing_limit,
            "max_account_name_length": c.max_account_name_length,
            "max_container_name_length": c.max_container_name_length,
            "extra_header_count": 0,
            "valid_api_versions": ["v1", "v1.0"],
            "strict_cors_mode": true,
            "allow_account_management": false,
            "account_autocreate": true,
            "policies": [{"name": "Policy-0", "default": true, "aliases": "Policy-0"}],
        },
        "tempauth": {"account_acls": false},
        "slo": super::slo::capabilities(),
    });
    let body = doc.to_string();
    Ok(with_body(
        StatusCode::OK,
        HeaderMap::new(),
        "application/json; charset=UTF-8",
        body,
        ctx.is_head(),
    ))
}

pub fn healthcheck() -> Response<Body> {
    with_body(
        StatusCode::OK,
        HeaderMap::new(),
        "text/plain",
        "OK".into(),
        false,
    )
}

/// tempauth v1.0: `X-Auth-User: acct:user` + `X-Auth-Key` (or the
/// `X-Storage-*` aliases) in, token and storage URL out.
pub fn auth(sh: &Shared, ctx: &Ctx) -> Result<Response<Body>, SwiftError> {
    let user = ctx
        .header("x-auth-user")
        .or_else(|| ctx.header("x-storage-user"));
    let key = ctx
        .header("x-auth-key")
        .or_else(|| ctx.header("x-storage-pass"));
    let (Some(user), Some(key)) = (user, key) else {
        return Err(SwiftError::Unauthorized);
    };
    let grant = sh
        .tempauth
        .login(user, key, ctx.now.secs())
        .ok_or(SwiftError::Unauthorized)?;
    let base = match &sh.cfg.storage_url_base {
        Some(b) => b.trim_end_matches('/').to_owned(),
        None => format!("http://{}", ctx.header("host").unwrap_or("127.0.0.1")),
    };
    let url = format!("{base}/v1/{}", grant.swift_account);
    let mut h = HeaderMap::new();
    set(&mut h, "x-storage-url", &url);
    set(&mut h, "x-auth-token", &grant.token);
    set(&mut h, "x-storage-token", &grant.token);
    set(
        &mut h,
        "x-auth-token-expires",
        &grant.expires_in_secs.to_string(),
    );
    if ctx.is_head() {
        return Ok(empty(StatusCode::OK, h));
    }
    let body = json!({"storage": {"default": "local", "local": url}}).to_string();
    Ok(with_body(
        StatusCode::OK,
        h,
        "application/json; charset=UTF-8",
        body,
        false,
    ))
}
