//! Fuzzes the proxy's parsers of Swift request input. The whole input is
//! read as a path, a query string, `Range`, `X-Copy-From`/`Destination`, a
//! container ACL, an `Accept` list, an ETag list and an auth token; its lines
//! (`name: value`) are read as request headers for the conditional headers,
//! `X-Delete-At`/`X-Delete-After` and the metadata limits. None may panic,
//! whatever the bytes; a range plan stays inside the object and an expiry
//! stays under Swift's cap.
#![no_main]

use cairn_proxy::auth::{Acl, Identity, TokenSigner};
use cairn_proxy::constraints::{self, MetaTarget, DELETE_AT_MAX};
use cairn_proxy::path::param;
use cairn_proxy::range::{self, RangePlan};
use cairn_proxy::{conditional, listing, parse_path, parse_query, Constraints};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// A fixed "now" (Nov 2023), so a crash replays the same way.
const NOW_SECS: u64 = 1_700_000_000;
/// Swift's default `max_file_size` (5 GiB): the largest object a plan sees.
const OBJECT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    whole_value(text, data.len() as u64);
    headers(&header_map(text));
});

/// Every parser that takes one header value or the request target.
fn whole_value(text: &str, len: u64) {
    let _ = parse_path(text);
    if let Ok(params) = parse_query(text) {
        let _ = listing::list_query(&params, 10_000);
        let _ = listing::choose_format(param(&params, "format"), None);
    }
    let _ = cairn_proxy::path::parse_copy_ref(text);
    let _ = Acl::parse(text).referrer_allowed(Some(text));
    let _ = Acl::clean(text);
    let _ = listing::choose_format(None, Some(text));
    let _ = conditional::etag_list_matches(text, "d41d8cd98f00b204e9800998ecf8427e");
    token(text);
    if let Some(specs) = range::parse_range(text) {
        for length in [0, 1, len * 7919, OBJECT_BYTES_MAX] {
            check_plan(&range::plan(&specs, length), length);
        }
    }
}

/// A planned range is non-empty and inside the object; its body length is computable.
fn check_plan(plan: &RangePlan, length: u64) {
    if let RangePlan::Ranges(r) = plan {
        assert!(!r.is_empty() && r.len() <= range::RANGES_MAX);
        assert!(
            r.iter().all(|&(s, e)| s < e && e <= length),
            "{r:?} of {length}"
        );
        let _ = range::multipart_length("b0undary", "text/plain", r, length);
    }
}

/// Forged tokens fail; a signed identity verifies as itself.
fn token(text: &str) {
    let signer = TokenSigner::new(b"fuzz secret");
    assert!(signer.verify(text, NOW_SECS).is_err());
    let (account, user) = text.split_once(':').unwrap_or((text, ""));
    // Short enough for the token to stay under `TOKEN_CHARS_MAX` (tempauth users are config).
    if account.len() <= usize::from(u8::MAX) && account.len() + user.len() <= 400 {
        let id = Identity {
            account: account.to_owned(),
            user: user.to_owned(),
            admin: text.len() % 2 == 0,
            reseller_admin: text.len() % 3 == 0,
            service: text.len() % 5 == 0,
            expires_secs: NOW_SECS + 1,
            // Properties of a request or of Keystone roles, never carried by a token.
            with_service_token: false,
            reader: false,
        };
        assert_eq!(signer.verify(&signer.sign(&id), NOW_SECS), Ok(id));
    }
}

/// Each `name: value` line that is a valid header becomes one.
fn header_map(text: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in text.split('\n') {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_bytes(value.trim().as_bytes()),
        ) else {
            continue;
        };
        map.append(n, v);
    }
    map
}

/// Every parser that reads request headers.
fn headers(map: &HeaderMap) {
    let _ = conditional::evaluate(map, "d41d8cd98f00b204e9800998ecf8427e", NOW_SECS);
    if let Ok(Some(at)) = constraints::delete_at(map, NOW_SECS) {
        assert!(at > NOW_SECS && at <= DELETE_AT_MAX, "{at}");
    }
    let c = Constraints::default();
    for target in [
        MetaTarget::Account,
        MetaTarget::Container,
        MetaTarget::Object,
    ] {
        let _ = constraints::check_metadata(map, target, &c);
    }
    let accept = map.get("accept").and_then(|v| v.to_str().ok());
    let _ = listing::choose_format(None, accept);
    let referer = map.get("referer").and_then(|v| v.to_str().ok());
    if let Some(acl) = map.get("x-container-read").and_then(|v| v.to_str().ok()) {
        let _ = Acl::parse(acl).referrer_allowed(referer);
    }
}
