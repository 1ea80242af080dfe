//! Client-side SigV4: signs a request with an `Authorization` header the way
//! AWS's SDKs do, on the same canonical-request code the server verifies
//! with, for Cairn's own clients (`cairn bench`). It signs; it sends nothing.

use super::canonical::{self, RequestParts, ALGORITHM, SCOPE_TERMINAL};
use super::timestamp::AmzDate;
use http::header::InvalidHeaderValue;
use http::{HeaderMap, HeaderValue, Method, Uri};

/// The payload hashes a client sends most: no body signed, and the empty body.
pub use super::canonical::{EMPTY_SHA256_HEX, UNSIGNED_PAYLOAD};

/// The service every S3 credential scope names.
const SERVICE: &str = "s3";

/// An access key, its secret and region (the signing key of a day is
/// derived once per thread: see [`canonical::signing_key`]).
#[derive(Clone)]
pub struct SigV4Signer {
    access_key: String,
    secret: String,
    region: String,
}

impl std::fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("SigV4Signer")
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SigV4Signer {
    pub fn new(access_key: &str, secret: &str, region: &str) -> SigV4Signer {
        SigV4Signer {
            access_key: access_key.to_owned(),
            secret: secret.to_owned(),
            region: region.to_owned(),
        }
    }

    /// Signs a request sent at `at`: sets `x-amz-date` and
    /// `x-amz-content-sha256` (`payload_hash`: the hex sha256 of the body, or
    /// [`UNSIGNED_PAYLOAD`]), then an
    /// `Authorization` header signing every header present, which must
    /// include `host`. The path is signed as sent, so it must already be in
    /// AWS's encoded form.
    pub fn sign(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &mut HeaderMap,
        payload_hash: &str,
        at: &AmzDate,
    ) -> Result<(), InvalidHeaderValue> {
        headers.insert("x-amz-date", HeaderValue::from_str(&at.text)?);
        headers.insert("x-amz-content-sha256", HeaderValue::from_str(payload_hash)?);
        headers.remove(http::header::AUTHORIZATION);
        let mut names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        let signed = names.join(";");
        let parts = RequestParts {
            method: method.as_str(),
            uri,
            headers,
        };
        let creq =
            canonical::canonical_request(parts, canonical::uri_as_sent(uri), &signed, payload_hash);
        let scope = format!("{}/{}/{SERVICE}/{SCOPE_TERMINAL}", at.date(), self.region);
        let key = canonical::signing_key(&self.secret, at.date(), &self.region, SERVICE);
        let mut signature = [0u8; 64];
        hex::encode_to_slice(
            canonical::signature(&key, &at.text, &scope, &creq),
            &mut signature,
        )
        .expect("64 hex digits for 32 bytes");
        let signature = std::str::from_utf8(&signature).expect("hex digits are ASCII");
        let value = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            self.access_key, signed
        );
        headers.insert(http::header::AUTHORIZATION, HeaderValue::from_str(&value)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::auth::testkit::{request, Signer, ACCESS_KEY, EXAMPLE_SECS, SECRET};
    use crate::s3::auth::{parse, Payload};

    fn signer() -> SigV4Signer {
        SigV4Signer::new(ACCESS_KEY, SECRET, "us-east-1")
    }

    #[test]
    fn signature_matches_the_test_signer_on_aws_example() {
        // The same request signed by this signer and by the test kit's signer carries one Authorization.
        let at = AmzDate::from_unix_secs(EXAMPLE_SECS);
        let (method, uri, mut ours) = request("GET", "/test.txt?prefix=a%20b", &[("host", "b.s3")]);
        signer()
            .sign(&method, &uri, &mut ours, EMPTY_SHA256_HEX, &at)
            .unwrap();
        let mut theirs = ours.clone();
        theirs.remove(http::header::AUTHORIZATION);
        Signer::EXAMPLE.authorize(&method, &uri, &mut theirs);
        assert_eq!(ours["authorization"], theirs["authorization"]);
    }

    #[test]
    fn signed_requests_verify_on_the_server_side() {
        // Requests this signer signs pass the server's parse + verify, with the payload mode kept.
        let at = AmzDate::from_unix_secs(EXAMPLE_SECS);
        let s = signer();
        for (method, target, payload) in [
            ("PUT", "/bucket/key", UNSIGNED_PAYLOAD),
            ("GET", "/bucket?list-type=2&max-keys=1000", EMPTY_SHA256_HEX),
            ("POST", "/bucket/k?uploads", EMPTY_SHA256_HEX),
        ] {
            let (m, uri, mut h) = request(method, target, &[("host", "127.0.0.1:8091")]);
            s.sign(&m, &uri, &mut h, payload, &at).unwrap();
            let parsed = parse(&uri, &h, None).unwrap().expect("signed");
            let verified = parsed.verify(SECRET, &m, &uri, &h, EXAMPLE_SECS).unwrap();
            assert_eq!(
                verified.payload == Payload::Unsigned,
                payload == UNSIGNED_PAYLOAD
            );
        }
    }

    #[test]
    fn a_wrong_secret_fails_verification() {
        // A request signed with another secret is refused by the server's check.
        let at = AmzDate::from_unix_secs(EXAMPLE_SECS);
        let (m, uri, mut h) = request("GET", "/b/k", &[("host", "h")]);
        SigV4Signer::new(ACCESS_KEY, "not-the-secret", "us-east-1")
            .sign(&m, &uri, &mut h, EMPTY_SHA256_HEX, &at)
            .unwrap();
        let parsed = parse(&uri, &h, None).unwrap().expect("signed");
        assert!(parsed.verify(SECRET, &m, &uri, &h, EXAMPLE_SECS).is_err());
    }
}
