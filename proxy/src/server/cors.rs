//! Cross-origin requests, as Swift's proxy answers them: a container's
//! `X-Container-Meta-Access-Control-Allow-Origin` (space-separated origins
//! or `*`), `…-Max-Age` and `…-Expose-Headers` govern browsers calling its
//! objects.
//!
//! - A preflight (`OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method`) needs no token: 200 with the
//!   `Access-Control-Allow-*` headers when the origin and method are allowed,
//!   401 otherwise. `OPTIONS` without `Origin` answers 200 with `Allow`.
//! - An actual request with `Origin` runs as usual; its answer then gains
//!   `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers` when
//!   the origin is allowed (strict CORS mode, Swift's default, which `/info`
//!   advertises).

use super::respond::{empty, set};
use super::{Ctx, Shared};
use crate::path::Route;
use axum::body::Body;
use cairn_meta_api::MetaMap;
use http::{HeaderMap, Response, StatusCode};

const ALLOW_ORIGIN: &str = "x-container-meta-access-control-allow-origin";
const MAX_AGE: &str = "x-container-meta-access-control-max-age";
const EXPOSE_HEADERS: &str = "x-container-meta-access-control-expose-headers";

/// Headers always exposed to a cross-origin caller (Swift's list).
const ALWAYS_EXPOSED: [&str; 10] = [
    "cache-control",
    "content-language",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
    "etag",
    "x-timestamp",
    "x-trans-id",
    "x-openstack-request-id",
];

/// The methods a resource answers (`Allow`, and what a preflight may ask for).
fn allowed_methods(route: &Route) -> &'static [&'static str] {
    match route {
        Route::Object { .. } => &["COPY", "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"],
        Route::Account { .. } | Route::Container { .. } => {
            &["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]
        }
        Route::Info | Route::Healthcheck | Route::Auth => &["GET", "HEAD", "OPTIONS"],
    }
}

/// The container a CORS rule comes from: that of a container or object path.
pub fn container_of(route: &Route) -> Option<(&str, &str)> {
    match route {
        Route::Container { account, container }
        | Route::Object {
            account, container, ..
        } => Some((account, container)),
        _ => None,
    }
}

/// The container's CORS settings (empty when it has none or is missing).
async fn rules(sh: &Shared, account: &str, container: &str) -> MetaMap {
    sh.container_info(account, container)
        .await
        .map(|c| c.meta.clone())
        .unwrap_or_default()
}

/// Whether the container's rules let `origin` in.
fn origin_allowed(rules: &MetaMap, origin: &str) -> bool {
    rules.get(ALLOW_ORIGIN).is_some_and(|v| {
        v.split(' ')
            .map(str::trim)
            .any(|o| !o.is_empty() && (o == "*" || o == origin))
    })
}

fn allows_any(rules: &MetaMap) -> bool {
    rules.get(ALLOW_ORIGIN).is_some_and(|v| v.trim() == "*")
}

/// Adds `Origin` to `Vary`.
fn vary(h: &mut HeaderMap, what: &str) {
    let v = match h.get("vary").and_then(|v| v.to_str().ok()) {
        Some(existing) => format!("{existing}, {what}"),
        None => what.to_owned(),
    };
    set(h, "vary", &v);
}

/// Answers an `OPTIONS` request.
pub async fn preflight(sh: &Shared, ctx: &Ctx, route: &Route) -> Response<Body> {
    let methods = allowed_methods(route);
    let mut h = HeaderMap::new();
    set(&mut h, "allow", &methods.join(", "));
    let (Some(origin), Some((account, container))) = (ctx.header("origin"), container_of(route))
    else {
        return empty(StatusCode::OK, h);
    };
    let rules = rules(sh, account, container).await;
    let method_ok = ctx
        .header("access-control-request-method")
        .is_some_and(|m| methods.contains(&m));
    if !origin_allowed(&rules, origin) || !method_ok {
        return empty(StatusCode::UNAUTHORIZED, h);
    }
    let allow = if allows_any(&rules) { "*" } else { origin };
    set(&mut h, "access-control-allow-origin", allow);
    vary(&mut h, "Origin");
    if let Some(age) = rules.get(MAX_AGE) {
        set(&mut h, "access-control-max-age", age);
    }
    set(&mut h, "access-control-allow-methods", &methods.join(", "));
    let mut asked: Vec<&str> = ctx
        .header("access-control-request-headers")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    asked.dedup();
    if !asked.is_empty() {
        set(&mut h, "access-control-allow-headers", &asked.join(", "));
        vary(&mut h, "Access-Control-Request-Headers");
    }
    empty(StatusCode::OK, h)
}

/// Adds the CORS headers to the answer of a request from `origin`.
pub async fn decorate(
    sh: &Shared,
    account: &str,
    container: &str,
    origin: &str,
    resp: &mut Response<Body>,
) {
    let rules = rules(sh, account, container).await;
    if !origin_allowed(&rules, origin) {
        return;
    }
    let h = resp.headers_mut();
    if !h.contains_key("access-control-expose-headers") {
        let mut exposed: Vec<&str> = ALWAYS_EXPOSED.to_vec();
        let meta = h
            .keys()
            .map(|k| k.as_str())
            .filter(|k| k.starts_with("x-container-meta-") || k.starts_with("x-object-meta-"));
        let extra = rules
            .get(EXPOSE_HEADERS)
            .map(String::as_str)
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty());
        for name in meta.chain(extra) {
            if !exposed.contains(&name) {
                exposed.push(name);
            }
        }
        let value = exposed.join(", ");
        set(h, "access-control-expose-headers", &value);
    }
    if !h.contains_key("access-control-allow-origin") {
        if allows_any(&rules) {
            set(h, "access-control-allow-origin", "*");
        } else {
            set(h, "access-control-allow-origin", origin);
            vary(h, "Origin");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &str) -> MetaMap {
        let mut m = MetaMap::new();
        m.insert(ALLOW_ORIGIN.into(), allow.into());
        m
    }

    #[test]
    fn origins_match_exactly_or_by_star() {
        assert!(origin_allowed(&rules("*"), "http://a.com"));
        assert!(origin_allowed(
            &rules("http://a.com http://b.com"),
            "http://b.com"
        ));
        assert!(!origin_allowed(&rules("http://a.com"), "http://a.com.evil"));
        assert!(!origin_allowed(&MetaMap::new(), "http://a.com"));
        assert!(!origin_allowed(&rules(""), ""));
    }
}
