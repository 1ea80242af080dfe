//! What handlers read from a request: the caller behind `X-Auth-Token`,
//! a JSON body (malformed: 400, never a panic), and query filters.

use bytes::Bytes;
use http::HeaderMap;
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;

use crate::error::IdentityError;
use crate::policy::{Action, Caller};
use crate::Identity;

/// Query pairs kept at most, so a hostile query costs bounded work.
const QUERY_PAIRS_MAX: usize = 64;

/// A header's value as text, if present and visible ASCII.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The caller of `X-Auth-Token`, or 401.
pub async fn caller(svc: &Identity, headers: &HeaderMap) -> Result<Caller, IdentityError> {
    let token = header(headers, "x-auth-token")
        .ok_or_else(|| IdentityError::unauthorized("no X-Auth-Token"))?;
    svc.validate(token).await
}

/// 401 without a valid caller, 403 unless the caller may do `action`.
pub async fn authorize(
    svc: &Identity,
    headers: &HeaderMap,
    action: Action<'_>,
) -> Result<(), IdentityError> {
    caller(svc, headers).await?.authorize(action)
}

/// The body as `T`; 400 with the parser's reason if it is not.
pub fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, IdentityError> {
    serde_json::from_slice(body)
        .map_err(|e| IdentityError::bad_request(format!("Malformed request body: {e}")))
}

/// A request's query parameters, decoded (`+` is a space).
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .take(QUERY_PAIRS_MAX)
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode(k), decode(v)),
                None => (decode(p), String::new()),
            })
            .collect();
        Query(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A flag: present and not `false`/`0`/`no` (`?effective`, `?include_names=True`).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !is_false(v))
    }

    /// Whether a record passes the `name`, `domain_id` and `enabled` filters.
    pub fn keeps(&self, name: &str, domain_id: Option<&str>, enabled: Option<bool>) -> bool {
        self.get("name").is_none_or(|n| n == name)
            && self
                .get("domain_id")
                .is_none_or(|d| domain_id.is_none_or(|x| x == d))
            && self
                .get("enabled")
                .is_none_or(|e| enabled.is_none_or(|x| x != is_false(e)))
    }
}

fn is_false(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "false" | "0" | "no" | "off"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_filters() {
        // Percent-escapes and `+` decode; filters match name, domain and enabled.
        let q = Query::parse(Some(
            "name=a%20b+c&enabled=False&effective&domain_id=default",
        ));
        assert_eq!(q.get("name"), Some("a b c"));
        assert!(q.flag("effective") && !q.flag("enabled") && !q.flag("missing"));
        assert!(q.keeps("a b c", Some("default"), Some(false)));
        assert!(!q.keeps("a b c", Some("default"), Some(true)));
        assert!(!q.keeps("x", Some("default"), Some(false)));
        assert!(Query::parse(None).keeps("x", None, None));
    }
}
