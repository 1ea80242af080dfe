//! ListObjects (v1), ListObjectsV2 and ListObjectVersions over the metadata
//! service's listing: prefix, delimiter, marker / continuation-token /
//! start-after / key-marker, max-keys, encoding-type=url and fetch-owner.
//! Listings are strongly consistent: they read the Raft-replicated listing,
//! as Swift's container listings do. Cairn keeps one version per key, so a
//! version listing lists each object once, as its `null` version.

use super::bucket::check_readable;
use super::error::S3Error;
use super::multipart::key_encoding;
use super::{xml, S3Req};
use crate::listing::ShownEntry;
use crate::server::Shared;
use axum::body::Body;
use base64::Engine;
use cairn_meta_api::{ListQuery, ObjectListItem};
use http::Response;

/// S3's default and largest page.
const MAX_KEYS: usize = 1000;

/// One page of a bucket listing.
struct Page {
    rows: Vec<ObjectListItem>,
    truncated: bool,
}

fn max_keys(r: &S3Req) -> Result<usize, S3Error> {
    match r.param("max-keys") {
        None => Ok(MAX_KEYS),
        Some(v) => v.parse::<usize>().map(|n| n.min(MAX_KEYS)).map_err(|_| {
            S3Error::invalid_argument(
                "max-keys",
                v,
                "Provided max-keys not an integer or within integer range",
            )
        }),
    }
}

fn nonempty(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Reads up to `max` rows after `marker`.
async fn fetch(
    sh: &Shared,
    r: &S3Req,
    bucket: &str,
    marker: Option<String>,
    max: usize,
) -> Result<Page, S3Error> {
    check_readable(sh, r, bucket).await?;
    if max == 0 {
        return Ok(Page {
            rows: Vec::new(),
            truncated: false,
        });
    }
    let query = ListQuery {
        prefix: nonempty(r.param("prefix")),
        delimiter: nonempty(r.param("delimiter")),
        marker,
        limit: max + 1,
        ..ListQuery::default()
    };
    let account = r.account()?;
    let mut rows = sh
        .meta
        .list_objects(&account, bucket, &query)
        .await
        .map_err(|e| super::bucket::no_such_bucket(e.into(), bucket))?;
    let truncated = rows.len() > max;
    rows.truncate(max);
    Ok(Page { rows, truncated })
}

/// The name a row continues a listing after.
fn row_name(row: &ObjectListItem) -> &str {
    match row {
        ObjectListItem::Object(o) => &o.name,
        ObjectListItem::Subdir(p) => p,
    }
}

/// The page's objects and common prefixes, as S3 lists them.
fn contents(page: &Page) -> (Vec<xml::ObjectEntry>, Vec<String>) {
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    for row in &page.rows {
        match row {
            ObjectListItem::Object(o) => {
                let shown = ShownEntry::of(o);
                objects.push(xml::ObjectEntry {
                    key: o.name.clone(),
                    last_modified: o.ts,
                    // As s3api: a multipart upload's ETag, else an SLO's, else the md5.
                    etag: shown
                        .s3_etag
                        .or(shown.slo_etag)
                        .unwrap_or(shown.hash)
                        .to_owned(),
                    size: shown.bytes,
                })
            }
            ObjectListItem::Subdir(p) => prefixes.push(p.clone()),
        }
    }
    (objects, prefixes)
}

/// ListObjects (v1).
pub async fn v1(sh: &Shared, r: &S3Req, bucket: &str) -> Result<Response<Body>, S3Error> {
    let max = max_keys(r)?;
    let encoding = key_encoding(r)?;
    let marker = nonempty(r.param("marker"));
    let page = fetch(sh, r, bucket, marker.clone(), max).await?;
    let version = xml::ListVersion::V1 { marker };
    Ok(xml::ok(
        bucket_result(r, bucket, max, encoding, &page, version).to_xml(),
    ))
}

/// The ListBucketResult of a page, for either version of ListObjects.
fn bucket_result(
    r: &S3Req,
    bucket: &str,
    max: usize,
    encoding: xml::KeyEncoding,
    page: &Page,
    version: xml::ListVersion,
) -> xml::ListBucketResult {
    let (contents, common_prefixes) = contents(page);
    xml::ListBucketResult {
        bucket: bucket.to_owned(),
        prefix: nonempty(r.param("prefix")),
        delimiter: nonempty(r.param("delimiter")),
        max_keys: max as u32,
        encoding,
        is_truncated: page.truncated,
        owner: super::bucket::owner(r),
        contents,
        common_prefixes,
        version,
    }
}

/// ListObjectVersions: every object as its only version, `null`.
pub async fn versions(sh: &Shared, r: &S3Req, bucket: &str) -> Result<Response<Body>, S3Error> {
    let max = max_keys(r)?;
    let encoding = key_encoding(r)?;
    let key_marker = nonempty(r.param("key-marker"));
    let version_id_marker = r.param("version-id-marker").map(str::to_owned);
    check_version_id_marker(key_marker.as_deref(), version_id_marker.as_deref())?;
    // The only version of a key is `null`, so a listing after (key, null)
    // and one after the key alone both start at the next key.
    let page = fetch(sh, r, bucket, key_marker.clone(), max).await?;
    let (versions, common_prefixes) = contents(&page);
    let doc = xml::ListVersionsResult {
        bucket: bucket.to_owned(),
        prefix: nonempty(r.param("prefix")),
        delimiter: nonempty(r.param("delimiter")),
        key_marker,
        version_id_marker,
        max_keys: max as u32,
        encoding,
        is_truncated: page.truncated,
        owner: super::bucket::owner(r),
        versions,
        common_prefixes,
    };
    Ok(xml::ok(doc.to_xml()))
}

/// A `version-id-marker` needs a `key-marker`, and names a version there
/// is: `null`, the only one Cairn keeps.
fn check_version_id_marker(key_marker: Option<&str>, marker: Option<&str>) -> Result<(), S3Error> {
    match (key_marker, marker) {
        (_, None) => Ok(()),
        (None, Some(v)) => Err(S3Error::invalid_argument(
            "version-id-marker",
            v,
            "A version-id marker cannot be specified without a key marker.",
        )),
        (Some(_), Some(v)) if v == xml::NULL_VERSION_ID => Ok(()),
        (Some(_), Some(v)) => Err(S3Error::invalid_argument(
            "version-id-marker",
            v,
            "Invalid version id specified",
        )),
    }
}

/// A continuation token: the name the next page starts after, opaque.
fn token_for(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

fn name_of_token(token: &str) -> Result<String, S3Error> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "continuation-token",
                token,
                "The continuation token provided is incorrect",
            )
        })
}

/// ListObjectsV2.
pub async fn v2(sh: &Shared, r: &S3Req, bucket: &str) -> Result<Response<Body>, S3Error> {
    let max = max_keys(r)?;
    let encoding = key_encoding(r)?;
    let token = r.param("continuation-token").map(str::to_owned);
    let start_after = nonempty(r.param("start-after"));
    let marker = match &token {
        Some(t) => Some(name_of_token(t)?),
        None => start_after.clone(),
    };
    let page = fetch(sh, r, bucket, marker, max).await?;
    let next = page
        .truncated
        .then(|| page.rows.last().map(|row| token_for(row_name(row))))
        .flatten();
    let version = xml::ListVersion::V2 {
        continuation_token: token,
        next_continuation_token: next,
        start_after,
        fetch_owner: r.param("fetch-owner") == Some("true"),
    };
    Ok(xml::ok(
        bucket_result(r, bucket, max, encoding, &page, version).to_xml(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_tokens_round_trip_any_name() {
        for name in ["a", "dir/", "ünï/ \u{1}x", ""] {
            assert_eq!(name_of_token(&token_for(name)).unwrap(), name);
        }
        assert!(name_of_token("!!not base64").is_err());
    }

    #[test]
    fn version_id_marker_needs_a_key_marker_and_the_null_version() {
        // Only `null` exists; a marker without a key marker is refused, as S3 does.
        assert!(check_version_id_marker(None, None).is_ok());
        assert!(check_version_id_marker(Some("k"), None).is_ok());
        assert!(check_version_id_marker(Some("k"), Some("null")).is_ok());
        let alone = check_version_id_marker(None, Some("null")).unwrap_err();
        assert_eq!(alone.code, crate::s3::error::S3ErrorCode::InvalidArgument);
        assert!(alone.message.contains("without a key marker"));
        let bogus = check_version_id_marker(Some("k"), Some("v1")).unwrap_err();
        assert_eq!(bogus.message, "Invalid version id specified");
    }
}
