//! Which requests speak S3, and which bucket and key they name: path-style
//! (`/bucket/key`) or virtual-host-style (`Host: bucket.<s3 domain>`).
//!
//! S3 has a listener of its own, where every request is S3's. On the Swift
//! listener, as with Swift's s3api middleware, a request is S3's when it
//! carries S3 authentication (an `Authorization: AWS…` header or a
//! presigned query) or when its `Host` names a bucket under the configured
//! S3 domain; everything else is Swift's.

use http::{HeaderMap, Uri};

/// The bucket and key a request names (both percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// Why a path names no target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// Not valid UTF-8 after decoding, or contains NUL.
    InvalidUri,
}

/// Whether the request is an S3 one (see the module doc).
pub fn is_s3(uri: &Uri, headers: &HeaderMap, domain: Option<&str>) -> bool {
    if headers
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(b"AWS"))
    {
        return true;
    }
    if let Some(q) = uri.query() {
        if q.split('&').any(|p| {
            let name = p.split('=').next().unwrap_or("");
            name == "X-Amz-Algorithm" || name == "X-Amz-Signature" || name == "AWSAccessKeyId"
        }) {
            return true;
        }
    }
    virtual_bucket(headers, domain).is_some()
}

/// The bucket named by `Host: <bucket>.<domain>[:port]`, if any.
pub fn virtual_bucket<'a>(headers: &'a HeaderMap, domain: Option<&str>) -> Option<&'a str> {
    let domain = domain?;
    let host = headers.get(http::header::HOST)?.to_str().ok()?;
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let bucket = host.strip_suffix(domain)?.strip_suffix('.')?;
    (!bucket.is_empty()).then_some(bucket)
}

/// The bucket and key of an S3 request.
pub fn target(uri: &Uri, headers: &HeaderMap, domain: Option<&str>) -> Result<Target, TargetError> {
    let path = crate::path::decode(uri.path()).ok_or(TargetError::InvalidUri)?;
    let rest = path.strip_prefix('/').unwrap_or(&path);
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    if let Some(bucket) = virtual_bucket(headers, domain) {
        return Ok(Target {
            bucket: Some(bucket.to_ascii_lowercase()),
            key: nonempty(rest),
        });
    }
    Ok(match rest.split_once('/') {
        None => Target {
            bucket: nonempty(rest),
            key: None,
        },
        Some((b, k)) => Target {
            bucket: nonempty(b),
            key: nonempty(k),
        },
    })
}

/// S3's bucket naming rules (DNS-compatible names, as s3api's
/// `dns_compliant_bucket_names`): 3–63 characters of lowercase letters,
/// digits, `.` and `-`, starting and ending with a letter or digit, no `..`,
/// and not shaped like an IPv4 address.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&b.len())
        && edge(b[0])
        && edge(b[b.len() - 1])
        && b.iter().all(|&c| edge(c) || c == b'.' || c == b'-')
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(host: &str, auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(a) = auth {
            h.insert(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(a).unwrap(),
            );
        }
        h
    }

    #[test]
    fn swift_paths_stay_swift_unless_s3_signed() {
        let h = headers("127.0.0.1:8090", None);
        for p in ["/v1/AUTH_a/c/o", "/auth/v1.0", "/info", "/healthcheck"] {
            assert!(!is_s3(&p.parse().unwrap(), &h, None), "{p}");
        }
        let signed = headers("127.0.0.1:8090", Some("AWS4-HMAC-SHA256 Credential=x"));
        assert!(is_s3(&"/info".parse().unwrap(), &signed, None));
        let presigned: Uri = "/info/k?X-Amz-Algorithm=AWS4-HMAC-SHA256".parse().unwrap();
        assert!(is_s3(&presigned, &h, None));
        // Anonymous path-style requests stay Swift's (it answers them).
        assert!(!is_s3(&"/".parse().unwrap(), &h, None));
        assert!(!is_s3(&"/info%20asdf".parse().unwrap(), &h, None));
    }

    #[test]
    fn path_style_and_virtual_host_targets() {
        let h = headers("127.0.0.1:8090", None);
        let t = target(&"/b1/a/b%20c".parse().unwrap(), &h, Some("s3.local")).unwrap();
        assert_eq!(t.bucket.as_deref(), Some("b1"));
        assert_eq!(t.key.as_deref(), Some("a/b c"));
        let t = target(&"/".parse().unwrap(), &h, None).unwrap();
        assert_eq!(
            t,
            Target {
                bucket: None,
                key: None
            }
        );
        let t = target(&"/b1/".parse().unwrap(), &h, None).unwrap();
        assert_eq!((t.bucket.as_deref(), t.key), (Some("b1"), None));

        let vh = headers("my-bucket.s3.local:8090", None);
        assert!(is_s3(&"/v1/k".parse().unwrap(), &vh, Some("s3.local")));
        let t = target(&"/v1/k".parse().unwrap(), &vh, Some("s3.local")).unwrap();
        assert_eq!(t.bucket.as_deref(), Some("my-bucket"));
        assert_eq!(t.key.as_deref(), Some("v1/k"));
        // The bare domain is path-style.
        let bare = headers("s3.local", None);
        let t = target(&"/b2/k".parse().unwrap(), &bare, Some("s3.local")).unwrap();
        assert_eq!(t.bucket.as_deref(), Some("b2"));
        assert!(target(&"/b/%FF".parse().unwrap(), &h, None).is_err());
    }

    #[test]
    fn bucket_names_follow_dns_rules() {
        for ok in ["abc", "my-bucket.1", "a".repeat(63).as_str(), "1bucket"] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            &"a".repeat(64),
            "b+segments",
            "",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
