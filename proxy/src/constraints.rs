//! Swift's request constraints (swift/common/constraints.py): name lengths,
//! metadata limits, `X-Delete-At`. Violations are 400s with Swift's wording.

use crate::config::Constraints;
use crate::errors::SwiftError;
use http::HeaderMap;
use std::collections::BTreeMap;

/// Which resource's metadata a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaTarget {
    Account,
    Container,
    Object,
}

impl MetaTarget {
    /// `x-<target>-meta-`.
    pub fn prefix(self) -> &'static str {
        match self {
            MetaTarget::Account => "x-account-meta-",
            MetaTarget::Container => "x-container-meta-",
            MetaTarget::Object => "x-object-meta-",
        }
    }
}

/// Swift's `check_metadata`: header sizes and the user-metadata limits.
pub fn check_metadata(
    headers: &HeaderMap,
    target: MetaTarget,
    c: &Constraints,
) -> Result<(), SwiftError> {
    let prefix = target.prefix();
    let (mut count, mut size) = (0usize, 0usize);
    for (name, value) in headers {
        let key = name.as_str();
        if value.len() > c.max_header_size {
            let shown: String = key.chars().take(c.max_meta_name_length).collect();
            return Err(SwiftError::BadRequest(format!(
                "Header value too long: {shown}"
            )));
        }
        let Some(meta) = key.strip_prefix(prefix) else {
            continue;
        };
        if meta.is_empty() {
            return Err(SwiftError::BadRequest(
                "Metadata name cannot be empty".into(),
            ));
        }
        if target != MetaTarget::Object && std::str::from_utf8(value.as_bytes()).is_err() {
            return Err(SwiftError::BadRequest(
                "Metadata must be valid UTF-8".into(),
            ));
        }
        count += 1;
        size += meta.len() + value.len();
        if meta.len() > c.max_meta_name_length {
            return Err(SwiftError::BadRequest(format!(
                "Metadata name too long: {prefix}{meta}"
            )));
        }
        if value.len() > c.max_meta_value_length {
            let max = c.max_meta_value_length;
            return Err(SwiftError::BadRequest(format!(
                "Metadata value longer than {max}: {prefix}{meta}"
            )));
        }
        if count > c.max_meta_count {
            return Err(SwiftError::BadRequest(format!(
                "Too many metadata items; max {}",
                c.max_meta_count
            )));
        }
        if size > c.max_meta_overall_size {
            let max = c.max_meta_overall_size;
            return Err(SwiftError::BadRequest(format!(
                "Total metadata too large; max {max}"
            )));
        }
    }
    Ok(())
}

/// Swift's check of the metadata a POST leaves behind (db.py's
/// `validate_metadata`): `existing` with `updates` applied (an empty value
/// removes) must stay within the count and overall-size limits.
pub fn check_merged_metadata(
    existing: &BTreeMap<String, String>,
    updates: &BTreeMap<String, String>,
    target: MetaTarget,
    c: &Constraints,
) -> Result<(), SwiftError> {
    let prefix = target.prefix();
    let mut merged: BTreeMap<&str, &str> = existing
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (k, v) in updates {
        merged.insert(k, v);
    }
    let (mut count, mut size) = (0usize, 0usize);
    for (k, v) in merged {
        let Some(name) = k.strip_prefix(prefix) else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        count += 1;
        size += name.len() + v.len();
    }
    if count > c.max_meta_count || size > c.max_meta_overall_size {
        return Err(SwiftError::BadRequest(format!(
            "Too many metadata items or total metadata too large; max {} items, {} bytes",
            c.max_meta_count, c.max_meta_overall_size
        )));
    }
    Ok(())
}

/// Account, container and object name checks.
pub fn check_names(
    c: &Constraints,
    account: &str,
    container: Option<&str>,
    object: Option<&str>,
) -> Result<(), SwiftError> {
    if account.len() > c.max_account_name_length {
        return Err(SwiftError::BadName(format!(
            "Account name length of {} longer than {}",
            account.len(),
            c.max_account_name_length
        )));
    }
    if let Some(cn) = container {
        if cn.len() > c.max_container_name_length {
            return Err(SwiftError::BadName(format!(
                "Container name length of {} longer than {}",
                cn.len(),
                c.max_container_name_length
            )));
        }
    }
    if let Some(o) = object {
        if o.len() > c.max_object_name_length {
            return Err(SwiftError::BadRequest(format!(
                "Object name length of {} longer than {}",
                o.len(),
                c.max_object_name_length
            )));
        }
    }
    Ok(())
}

/// The object's expiry from `X-Delete-At` / `X-Delete-After`, in whole
/// seconds; `X-Delete-After` wins when both are given (Swift converts it).
pub fn delete_at(headers: &HeaderMap, now_secs: u64) -> Result<Option<u64>, SwiftError> {
    if let Some(v) = headers.get("x-delete-after") {
        let after: i64 = v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| SwiftError::BadRequest("Non-integer X-Delete-After".into()))?;
        if after < 0 {
            return Err(SwiftError::BadRequest("X-Delete-After in past".into()));
        }
        return Ok(Some((now_secs + after as u64).min(DELETE_AT_MAX)));
    }
    let Some(v) = headers.get("x-delete-at") else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| SwiftError::BadRequest("Non-integer X-Delete-At".into()))?;
    let at: f64 = s
        .trim()
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite())
        .ok_or_else(|| SwiftError::BadRequest("Non-integer X-Delete-At".into()))?;
    if at < 0.0 || (at as u64) <= now_secs {
        return Err(SwiftError::BadRequest("X-Delete-At in past".into()));
    }
    Ok(Some((at as u64).min(DELETE_AT_MAX)))
}

/// Swift caps expiry times at 9999999999 (Nov 2286) so that they keep ten
/// digits (`normalize_delete_at_timestamp`).
pub const DELETE_AT_MAX: u64 = 9_999_999_999;

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn hm(pairs: &[(String, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn bad(h: &HeaderMap) -> String {
        match check_metadata(h, MetaTarget::Object, &Constraints::default()) {
            Err(SwiftError::BadRequest(m)) => m,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn metadata_limits_at_the_edges() {
        // Exactly at each limit passes; one past it is a 400 naming the limit.
        let c = Constraints::default();
        let ok = hm(&[(
            "x-object-meta-".to_owned() + &"n".repeat(128),
            "v".repeat(256),
        )]);
        assert!(check_metadata(&ok, MetaTarget::Object, &c).is_ok());
        assert!(bad(&hm(&[(
            "x-object-meta-".to_owned() + &"n".repeat(129),
            "v".into()
        )]))
        .contains("name too long"));
        assert!(
            bad(&hm(&[("x-object-meta-a".into(), "v".repeat(257))])).contains("longer than 256")
        );
        assert!(bad(&hm(&[("x-object-meta-".into(), "v".into())])).contains("cannot be empty"));
        let mut h = HeaderMap::new();
        for i in 0..91 {
            h.insert(
                http::HeaderName::from_bytes(format!("x-object-meta-{i}").as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        assert!(bad(&h).contains("Too many"));
        let mut h = HeaderMap::new();
        for i in 0..17 {
            let name = format!("x-object-meta-{i:03}");
            h.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&"v".repeat(250)).unwrap(),
            );
        }
        assert!(bad(&h).contains("Total metadata too large"));
        // Container metadata does not count against object limits.
        let h = hm(&[("x-container-meta-a".into(), "v".repeat(300))]);
        assert!(check_metadata(&h, MetaTarget::Object, &c).is_ok());
    }

    #[test]
    fn name_lengths() {
        // Names one past the limit are refused.
        let c = Constraints::default();
        assert!(check_names(
            &c,
            "AUTH_a",
            Some(&"c".repeat(256)),
            Some(&"o".repeat(1024))
        )
        .is_ok());
        assert!(check_names(&c, "AUTH_a", Some(&"c".repeat(257)), None).is_err());
        assert!(check_names(&c, "AUTH_a", None, Some(&"o".repeat(1025))).is_err());
        assert!(check_names(&c, &"a".repeat(257), None, None).is_err());
    }

    #[test]
    fn delete_at_parsing() {
        // Past, junk and negative values are 400s; X-Delete-After adds to now.
        let now = 1000;
        assert_eq!(
            delete_at(&hm(&[("x-delete-at".into(), "2000".into())]), now),
            Ok(Some(2000))
        );
        assert_eq!(
            delete_at(&hm(&[("x-delete-after".into(), "5".into())]), now),
            Ok(Some(1005))
        );
        assert_eq!(delete_at(&HeaderMap::new(), now), Ok(None));
        for (k, v) in [
            ("x-delete-at", "999"),
            ("x-delete-at", "abc"),
            ("x-delete-after", "-1"),
            ("x-delete-after", "1.5"),
            ("x-delete-at", "nan"),
        ] {
            assert!(
                delete_at(&hm(&[(k.to_owned(), v.to_owned())]), now).is_err(),
                "{k}: {v}"
            );
        }
    }
}
