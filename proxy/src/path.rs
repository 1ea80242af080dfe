//! Request-target parsing: which Swift resource a path names, and the query
//! string's parameters. Pure functions of their input, fuzzed by the lead.

use percent_encoding::percent_decode_str;
use std::borrow::Cow;

/// The Swift account name prefix (tempauth's reseller prefix).
pub const RESELLER_PREFIX: &str = "AUTH_";
/// The prefix of a project's service accounts (`SERVICE_<project>`): only a
/// project owner's token together with a service user's `X-Service-Token`
/// reaches them (tempauth's `SERVICE_require_group = service`).
pub const SERVICE_PREFIX: &str = "SERVICE_";

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Info,
    Healthcheck,
    /// tempauth's `/auth/v1.0`.
    Auth,
    Account {
        account: String,
    },
    Container {
        account: String,
        container: String,
    },
    Object {
        account: String,
        container: String,
        object: String,
    },
}

/// Why a path names nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not valid UTF-8 after percent-decoding, or contains NUL (Swift: 412).
    #[error("Invalid UTF8 or contains NULL")]
    InvalidUtf8,
    /// No resource under this path (404).
    #[error("no such resource")]
    NotFound,
    /// A single path segment, such as a version with no account: Swift's
    /// proxy finds no controller for it (412 `Bad URL`).
    #[error("Bad URL")]
    BadUrl,
}

/// Parses a raw request path (no query). Percent-escapes are decoded once,
/// like Swift's PATH_INFO. The object name is everything after the
/// container's `/`, so it may contain `/` and start with one.
pub fn parse_path(raw: &str) -> Result<Route, PathError> {
    let decoded = decode(raw).ok_or(PathError::InvalidUtf8)?;
    match decoded.as_ref() {
        "/info" | "/info/" => return Ok(Route::Info),
        "/healthcheck" | "/healthcheck/" => return Ok(Route::Healthcheck),
        "/auth/v1.0" | "/auth/v1.0/" | "/auth/v1/" | "/v1.0" | "/v1.0/" => return Ok(Route::Auth),
        _ => {}
    }
    let Some(rest) = decoded
        .strip_prefix("/v1/")
        .or_else(|| decoded.strip_prefix("/v1.0/"))
    else {
        let single = decoded
            .strip_prefix('/')
            .map(|s| s.strip_suffix('/').unwrap_or(s));
        return match single {
            Some(seg) if !seg.is_empty() && !seg.contains('/') => Err(PathError::BadUrl),
            _ => Err(PathError::NotFound),
        };
    };
    if rest.is_empty() {
        return Err(PathError::BadUrl);
    }
    split_resource(rest)
}

/// Splits `account[/container[/object]]`.
fn split_resource(rest: &str) -> Result<Route, PathError> {
    let (account, after) = match rest.split_once('/') {
        Some((a, r)) => (a, Some(r)),
        None => (rest, None),
    };
    if account.is_empty() {
        return Err(PathError::NotFound);
    }
    let account = account.to_owned();
    let Some(after) = after.filter(|s| !s.is_empty()) else {
        return Ok(Route::Account { account });
    };
    let (container, object) = match after.split_once('/') {
        Some((c, o)) => (c, o),
        None => (after, ""),
    };
    if container.is_empty() {
        return Err(PathError::NotFound);
    }
    let container = container.to_owned();
    if object.is_empty() {
        return Ok(Route::Container { account, container });
    }
    Ok(Route::Object {
        account,
        container,
        object: object.to_owned(),
    })
}

/// Percent-decodes to UTF-8 without NUL; `None` when that is impossible.
pub fn decode(raw: &str) -> Option<Cow<'_, str>> {
    let s = percent_decode_str(raw).decode_utf8().ok()?;
    if s.contains('\0') {
        return None;
    }
    Some(s)
}

/// The query string's parameters, decoded (`+` is a space), in order.
/// A parameter that is not valid UTF-8 makes the whole query invalid.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, PathError> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode_form(k)?, decode_form(v)?));
    }
    Ok(out)
}

/// One query component: UTF-8 is required, NUL is allowed (Swift's
/// `get_param` accepts it, and markers such as `name\0` use it).
fn decode_form(s: &str) -> Result<String, PathError> {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| PathError::InvalidUtf8)
}

/// The first value of `name` in parsed query parameters.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Parses a `container/object` reference (X-Copy-From, Destination): an
/// optional leading `/`, percent-encoded. `None` when either part is missing.
pub fn parse_copy_ref(value: &str) -> Option<(String, String)> {
    let decoded = decode(value)?;
    let s = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (c, o) = s.split_once('/')?;
    if c.is_empty() || o.is_empty() {
        return None;
    }
    Some((c.to_owned(), o.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(a: &str, c: &str, o: &str) -> Route {
        Route::Object {
            account: a.into(),
            container: c.into(),
            object: o.into(),
        }
    }

    #[test]
    fn splits_resources() {
        // Account, container and object split on the first two slashes only.
        assert_eq!(
            parse_path("/v1/AUTH_a"),
            Ok(Route::Account {
                account: "AUTH_a".into()
            })
        );
        assert_eq!(
            parse_path("/v1/AUTH_a/"),
            Ok(Route::Account {
                account: "AUTH_a".into()
            })
        );
        assert_eq!(
            parse_path("/v1/AUTH_a/c/"),
            Ok(Route::Container {
                account: "AUTH_a".into(),
                container: "c".into()
            })
        );
        assert_eq!(
            parse_path("/v1/AUTH_a/c/o/p/q"),
            Ok(obj("AUTH_a", "c", "o/p/q"))
        );
        assert_eq!(
            parse_path("/v1/AUTH_a/c//tmp/x"),
            Ok(obj("AUTH_a", "c", "/tmp/x"))
        );
        assert_eq!(parse_path("/v1/AUTH_a/c/o/"), Ok(obj("AUTH_a", "c", "o/")));
    }

    #[test]
    fn decodes_percent_escapes() {
        // Escapes decode to UTF-8 once; invalid UTF-8 and NUL are refused.
        assert_eq!(
            parse_path("/v1/AUTH_a/c/%E2%98%83%2Fx"),
            Ok(obj("AUTH_a", "c", "☃/x"))
        );
        assert_eq!(parse_path("/v1/AUTH_a/c/%25"), Ok(obj("AUTH_a", "c", "%")));
        assert_eq!(parse_path("/v1/AUTH_a/c/%ff"), Err(PathError::InvalidUtf8));
        assert_eq!(
            parse_path("/v1/AUTH_a/c/a%00b"),
            Err(PathError::InvalidUtf8)
        );
        // A lone or truncated escape is kept literally, as Python's unquote does.
        assert_eq!(parse_path("/v1/AUTH_a/c/%"), Ok(obj("AUTH_a", "c", "%")));
        assert_eq!(parse_path("/v1/AUTH_a/c/%4"), Ok(obj("AUTH_a", "c", "%4")));
    }

    #[test]
    fn odd_paths_name_nothing() {
        // Empty segments before the object and unknown roots are 404s, never panics.
        for p in ["", "/", "//", "/v1//c", "/v1/a//o", "/v2/a", "v1/a"] {
            assert_eq!(parse_path(p), Err(PathError::NotFound), "{p:?}");
        }
        // A lone segment (a version without an account) is Swift's 412 Bad URL.
        for p in ["/v1", "/v1/", "/info asdf", "/v2/"] {
            assert_eq!(parse_path(p), Err(PathError::BadUrl), "{p:?}");
        }
        assert_eq!(parse_path("/info"), Ok(Route::Info));
        assert_eq!(parse_path("/auth/v1.0"), Ok(Route::Auth));
        assert_eq!(parse_path("/healthcheck"), Ok(Route::Healthcheck));
    }

    #[test]
    fn parses_queries() {
        // Form decoding turns + into space and decodes escapes; bad UTF-8 fails.
        let q = parse_query("format=json&prefix=a+b%2Fc&&limit").unwrap();
        assert_eq!(param(&q, "format"), Some("json"));
        assert_eq!(param(&q, "prefix"), Some("a b/c"));
        assert_eq!(param(&q, "limit"), Some(""));
        assert_eq!(param(&q, "marker"), None);
        assert!(parse_query("prefix=%ff").is_err());
    }

    #[test]
    fn parses_copy_refs() {
        // Copy sources need a container and an object; the leading slash is optional.
        assert_eq!(parse_copy_ref("/c/o/x"), Some(("c".into(), "o/x".into())));
        assert_eq!(
            parse_copy_ref("c/%E2%98%83"),
            Some(("c".into(), "☃".into()))
        );
        assert_eq!(parse_copy_ref("c"), None);
        assert_eq!(parse_copy_ref("/c/"), None);
        assert_eq!(parse_copy_ref("//o"), None);
    }
}
