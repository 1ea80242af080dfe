//! SigV4's canonical request as AWS specifies it for S3, the string to sign
//! and the signing key: pure functions of a request's parts. Everything here
//! works on bytes, since a path, a query or a header value need not be UTF-8.

use hmac::{Hmac, Mac};
use http::{HeaderMap, Uri};
use percent_encoding::percent_decode;
use sha2::{Digest, Sha256};

/// The algorithm name of the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last element of every credential scope.
pub const SCOPE_TERMINAL: &str = "aws4_request";
/// The payload hash line of a request whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Hex sha256 of the empty string: the "headers hash" of every chunk signature.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The query parameter that carries a presigned URL's signature; never signed itself.
const SIGNATURE_PARAM: &[u8] = b"X-Amz-Signature";

/// The parts of a canonical request that come from the request itself.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
}

/// The canonical request:
/// `method \n uri \n query \n headers (each "name:value\n") \n signed;names \n payload`.
/// `signed_headers` is the `;`-separated list of lower-case names.
pub fn canonical_request(
    req: RequestParts<'_>,
    canonical_uri: &str,
    signed_headers: &str,
    payload_line: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri.as_bytes());
    out.push(b'\n');
    if let Some(query) = req.uri.query().filter(|q| !q.is_empty()) {
        out.extend_from_slice(canonical_query(query).as_bytes());
    }
    out.push(b'\n');
    for name in signed_headers.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        canonical_header_value(req, name, &mut out);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_line.as_bytes());
    out
}

/// The path exactly as the client sent it (S3 does not encode it again);
/// `/` when empty.
pub fn uri_as_sent(uri: &Uri) -> &str {
    match uri.path() {
        "" => "/",
        p => p,
    }
}

/// The path decoded and encoded once by AWS's rules (`/` kept): what a client
/// signs when it sends characters raw, or hex in lower case, that the
/// canonical form escapes.
pub fn uri_reencoded(uri: &Uri) -> String {
    let decoded: Vec<u8> = percent_decode(uri_as_sent(uri).as_bytes()).collect();
    let mut out = String::with_capacity(decoded.len() * 3);
    uri_encode(&decoded, false, &mut out);
    out
}

/// AWS's `UriEncode`: `A-Za-z0-9-_.~` stay, `/` stays unless `encode_slash`,
/// every other byte becomes `%XX` in upper-case hex.
pub fn uri_encode(bytes: &[u8], encode_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !encode_slash);
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// The query's parameters, names and values percent-decoded (`+` is a space,
/// as form encoding has it); a parameter without `=` has an empty value.
pub fn query_pairs(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

fn form_decode(s: &str) -> Vec<u8> {
    let spaced: Vec<u8> = s
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced).collect()
}

/// Every parameter but `X-Amz-Signature`, name and value `UriEncode`d (`/`
/// too), sorted by name then value, joined as `a=1&b=2`.
pub fn canonical_query(query: &str) -> String {
    let mut encoded: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .filter(|(name, _)| name != SIGNATURE_PARAM)
        .map(|(name, value)| {
            let (mut n, mut v) = (String::new(), String::new());
            uri_encode(&name, true, &mut n);
            uri_encode(&value, true, &mut v);
            (n, v)
        })
        .collect();
    encoded.sort();
    let parts: Vec<String> = encoded.into_iter().map(|(n, v)| n + "=" + &v).collect();
    parts.join("&")
}

/// A signed header's values, each trimmed with inner runs of white space
/// collapsed to one space, joined by `,`. `host` falls back to the URI's
/// authority (HTTP/2 carries it there); any other absent header is empty.
fn canonical_header_value(req: RequestParts<'_>, name: &str, out: &mut Vec<u8>) {
    let mut values = req.headers.get_all(name).iter().peekable();
    if values.peek().is_none() && name == "host" {
        if let Some(authority) = req.uri.authority() {
            out.extend_from_slice(authority.as_str().as_bytes());
        }
        return;
    }
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let words = value
            .as_bytes()
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty());
        for (j, word) in words.enumerate() {
            if j > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(word);
        }
    }
}

/// `AWS4-HMAC-SHA256 \n timestamp \n scope \n hex(sha256(canonical request))`:
/// the string [`signature`] signs, written out for the tests that check it.
#[cfg(test)]
pub fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

/// The signature of a canonical request: HMAC of its string to sign with
/// `key`, computed piece by piece (the same bytes as
/// [`string_to_sign`], without building them).
pub fn signature(
    key: &[u8; 32],
    timestamp: &str,
    scope: &str,
    canonical_request: &[u8],
) -> [u8; 32] {
    let hash = Sha256::digest(canonical_request);
    let mut hex_hash = [0u8; 64];
    hex::encode_to_slice(hash, &mut hex_hash).expect("64 hex digits for 32 bytes");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac accepts any key length");
    for piece in [
        ALGORITHM.as_bytes(),
        b"\n",
        timestamp.as_bytes(),
        b"\n",
        scope.as_bytes(),
        b"\n",
        &hex_hash,
    ] {
        mac.update(piece);
    }
    mac.finalize().into_bytes().into()
}

/// The signing key: HMAC chained over `"AWS4" + secret`, date, region,
/// service and `aws4_request`. Each thread remembers the last few it
/// derived: a client signs every request of a day with the same key, and
/// the derivation is four HMACs.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    RECENT_KEYS.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some(k) = recent
            .iter()
            .find(|k| k.derives(secret, date, region, service))
        {
            return k.key;
        }
        let key = derive_signing_key(secret, date, region, service);
        if recent.len() == RECENT_KEYS_MAX {
            recent.remove(0);
        }
        recent.push(DerivedKey {
            inputs: [secret, date, region, service].map(str::to_owned),
            key,
        });
        key
    })
}

/// Signing keys each thread keeps.
const RECENT_KEYS_MAX: usize = 16;

thread_local! {
    /// The signing keys this thread derived last, oldest first.
    static RECENT_KEYS: std::cell::RefCell<Vec<DerivedKey>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A signing key and the secret, date, region and service it is derived from.
struct DerivedKey {
    inputs: [String; 4],
    key: [u8; 32],
}

impl DerivedKey {
    fn derives(&self, secret: &str, date: &str, region: &str, service: &str) -> bool {
        self.inputs == [secret, date, region, service]
    }
}

fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, SCOPE_TERMINAL.as_bytes())
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encode_keeps_only_unreserved_characters() {
        // Reserved characters, spaces, `+` and UTF-8 become upper-case %XX; `/` is optional.
        let enc = |s: &str, slash| {
            let mut out = String::new();
            uri_encode(s.as_bytes(), slash, &mut out);
            out
        };
        assert_eq!(enc("A-z_0.9~", true), "A-z_0.9~");
        assert_eq!(enc("a b+c", true), "a%20b%2Bc");
        assert_eq!(enc("a/b", false), "a/b");
        assert_eq!(enc("a/b", true), "a%2Fb");
        assert_eq!(enc("=&?#$!*'()", true), "%3D%26%3F%23%24%21%2A%27%28%29");
        assert_eq!(enc("\u{e9}", true), "%C3%A9");
    }

    #[test]
    fn canonical_query_sorts_encodes_and_drops_the_signature() {
        // Names then values sort by their encoded bytes; bare names get `=`; X-Amz-Signature goes.
        assert_eq!(canonical_query(""), "");
        assert_eq!(
            canonical_query("prefix=J&max-keys=2"),
            "max-keys=2&prefix=J"
        );
        assert_eq!(canonical_query("lifecycle"), "lifecycle=");
        assert_eq!(canonical_query("uploads&acl="), "acl=&uploads=");
        assert_eq!(canonical_query("a=2&a=1&b"), "a=1&a=2&b=");
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&X-Amz-Date=1"),
            "X-Amz-Date=1"
        );
    }

    #[test]
    fn canonical_query_encodes_reserved_characters_once() {
        // Already-encoded input is decoded first, so %2F stays %2F (not %252F); `+` is a space.
        assert_eq!(canonical_query("prefix=a/b"), "prefix=a%2Fb");
        assert_eq!(canonical_query("prefix=a%2fb"), "prefix=a%2Fb");
        assert_eq!(canonical_query("k=a%20b"), "k=a%20b");
        assert_eq!(canonical_query("k=a+b"), "k=a%20b");
        assert_eq!(canonical_query("k=a%2Bb"), "k=a%2Bb");
        assert_eq!(canonical_query("k=%E2%82%AC&j=~._-"), "j=~._-&k=%E2%82%AC");
        assert_eq!(canonical_query("k=%zz"), "k=%25zz");
        assert_eq!(canonical_query("a%3Db=c%26d"), "a%3Db=c%26d");
    }

    #[test]
    fn header_values_are_trimmed_collapsed_and_joined() {
        // Runs of white space become one space; repeated headers join with commas.
        let mut headers = HeaderMap::new();
        headers.append("x-amz-meta-a", "  one   two \t three ".parse().unwrap());
        headers.append("x-amz-meta-a", "four".parse().unwrap());
        let uri: Uri = "http://h.example:8080/b/k".parse().unwrap();
        let req = RequestParts {
            method: "GET",
            uri: &uri,
            headers: &headers,
        };
        let mut out = Vec::new();
        canonical_header_value(req, "x-amz-meta-a", &mut out);
        assert_eq!(out, b"one two three,four");
        out.clear();
        canonical_header_value(req, "host", &mut out);
        assert_eq!(out, b"h.example:8080");
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_string_to_sign() {
        // Computed piece by piece, it equals the HMAC of the written-out string.
        let key = signing_key("secret", "20130524", "us-east-1", "s3");
        let creq = b"GET\n/\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD";
        let scope = "20130524/us-east-1/s3/aws4_request";
        let sts = string_to_sign("20130524T000000Z", scope, creq);
        assert_eq!(
            signature(&key, "20130524T000000Z", scope, creq),
            hmac_sha256(&key, sts.as_bytes())
        );
    }

    #[test]
    fn remembered_signing_keys_are_the_derived_ones() {
        // AWS's documented example key; every input takes part in the lookup.
        let inputs = [
            (
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "20120215",
                "us-east-1",
                "iam",
            ),
            ("other", "20120215", "us-east-1", "iam"),
            ("other", "20120216", "us-east-1", "iam"),
            ("other", "20120216", "eu-west-1", "iam"),
            ("other", "20120216", "eu-west-1", "s3"),
        ];
        for _ in 0..2 {
            for (secret, date, region, service) in inputs {
                assert_eq!(
                    signing_key(secret, date, region, service),
                    derive_signing_key(secret, date, region, service)
                );
            }
        }
        assert_eq!(
            hex::encode(signing_key(inputs[0].0, "20120215", "us-east-1", "iam")),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        // More keys than a thread keeps: the oldest are derived again.
        for day in 0..2 * RECENT_KEYS_MAX {
            let date = format!("201201{:02}", day + 1);
            assert_eq!(
                signing_key("s", &date, "r", "s3"),
                derive_signing_key("s", &date, "r", "s3")
            );
        }
    }

    #[test]
    fn reencoded_uri_escapes_what_was_sent_raw() {
        // `$` sent raw and `%2a` in lower case both come out as AWS's canonical form.
        let uri: Uri = "/test$file.text".parse().unwrap();
        assert_eq!(uri_as_sent(&uri), "/test$file.text");
        assert_eq!(uri_reencoded(&uri), "/test%24file.text");
        let uri: Uri = "/b/a%2ab%20c".parse().unwrap();
        assert_eq!(uri_reencoded(&uri), "/b/a%2Ab%20c");
        let uri: Uri = "http://h.example".parse().unwrap();
        assert_eq!(uri_as_sent(&uri), "/");
    }
}
