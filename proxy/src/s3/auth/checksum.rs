//! Body integrity checks that S3 clients ask for: `x-amz-checksum-*` (CRC32,
//! CRC32C, CRC64NVME, SHA1, SHA256; base64 of the big-endian digest) and a
//! signed `x-amz-content-sha256`. `verify_body` passes a body through and
//! ends it with an error, never cleanly, when a digest does not match; the
//! caller never commits a body stream that ended with an error.
//!
//! Content-MD5 is not handled here: the proxy computes every body's MD5.

use super::announce::Announced;
use super::error::{from_body_error, AuthError};
use super::signed::{header_str, Payload};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fmt::Display;
use std::pin::Pin;
use subtle::ConstantTimeEq;

/// A checksum algorithm of S3's `x-amz-checksum-*` family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The header (or trailer) that carries this checksum.
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm a header name (any case) stands for.
    pub fn from_header_name(name: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(name))
    }

    /// The name S3's messages use (`CRC32C`).
    pub fn label(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    fn digest_bytes(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// The digest a header or trailer value states: base64 of exactly the
    /// digest's length.
    pub fn parse_value(self, value: &[u8]) -> Result<Vec<u8>, AuthError> {
        let invalid = AuthError::InvalidChecksum(self.header_name());
        let digest = BASE64
            .decode(value.trim_ascii())
            .map_err(|_| invalid.clone())?;
        if digest.len() != self.digest_bytes() {
            return Err(invalid);
        }
        Ok(digest)
    }
}

/// A running checksum of one algorithm.
#[derive(Clone)]
pub enum ChecksumHasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(u64),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl ChecksumHasher {
    pub fn new(algorithm: ChecksumAlgorithm) -> ChecksumHasher {
        match algorithm {
            ChecksumAlgorithm::Crc32 => ChecksumHasher::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => ChecksumHasher::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => ChecksumHasher::Crc64Nvme(0),
            ChecksumAlgorithm::Sha1 => ChecksumHasher::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => ChecksumHasher::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            ChecksumHasher::Crc32(h) => h.update(data),
            ChecksumHasher::Crc32c(crc) => *crc = cairn_base::crc32c_append(*crc, data),
            ChecksumHasher::Crc64Nvme(crc) => *crc = crc64nvme_append(*crc, data),
            ChecksumHasher::Sha1(h) => h.update(data),
            ChecksumHasher::Sha256(h) => h.update(data),
        }
    }

    /// The digest, big-endian, as S3 base64-encodes it.
    pub fn finish(self) -> Vec<u8> {
        match self {
            ChecksumHasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            ChecksumHasher::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            ChecksumHasher::Crc64Nvme(crc) => crc.to_be_bytes().to_vec(),
            ChecksumHasher::Sha1(h) => h.finalize().to_vec(),
            ChecksumHasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// CRC-64/NVME (reflected polynomial 0x9a6c9329ac4bc9b5, initial and final
/// xor all ones), the newest SDKs' default; no crate we use computes it.
const CRC64NVME_TABLE: [u64; 256] = crc64nvme_table();

const fn crc64nvme_table() -> [u64; 256] {
    const POLY: u64 = 0x9a6c_9329_ac4b_c9b5;
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// Continues the CRC-64/NVME `crc` (0 for none yet) over `data`.
fn crc64nvme_append(crc: u64, data: &[u8]) -> u64 {
    let mut c = !crc;
    for &b in data {
        c = CRC64NVME_TABLE[usize::from((c as u8) ^ b)] ^ (c >> 8);
    }
    !c
}

/// The digests a body must match, from the request's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyChecks {
    /// The `x-amz-content-sha256` the body must hash to.
    content_sha256: Option<ClaimedSha256>,
    /// The checksum header's algorithm and digest.
    checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
}

/// A payload hash the client claims: its digest (`None`: a value no sha256
/// is), and the value as sent, for the error.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClaimedSha256 {
    digest: Option<[u8; 32]>,
    sent: String,
}

impl BodyChecks {
    /// The checks a request asks for: the payload hash when `payload` claims
    /// one, and the checksum when `announced` carries it in a header.
    pub fn new(headers: &HeaderMap, payload: &Payload, announced: &Announced) -> BodyChecks {
        let digest = match payload {
            Payload::Sha256(digest) => Some(Some(*digest)),
            Payload::Unmatchable { .. } => Some(None),
            _ => None,
        };
        let content_sha256 = digest.map(|digest| ClaimedSha256 {
            digest,
            sent: header_str(headers, "x-amz-content-sha256")
                .map(str::to_owned)
                .or_else(|| digest.map(hex::encode))
                .unwrap_or_default(),
        });
        let checksum = match announced {
            Announced::Header(algorithm, digest) => Some((*algorithm, digest.clone())),
            _ => None,
        };
        BodyChecks {
            content_sha256,
            checksum,
        }
    }

    /// The same checks but the checksum: for a body the checksum headers do
    /// not describe (CompleteMultipartUpload's describe the whole object).
    pub fn without_checksum(self) -> BodyChecks {
        BodyChecks {
            checksum: None,
            ..self
        }
    }

    /// Whether there is nothing to check.
    pub fn is_empty(&self) -> bool {
        self.content_sha256.is_none() && self.checksum.is_none()
    }
}

/// Hashes the body as it passes and checks it at its end.
struct Checker {
    checks: BodyChecks,
    sha256: Option<Sha256>,
    hasher: Option<ChecksumHasher>,
}

impl Checker {
    fn new(checks: BodyChecks) -> Checker {
        let sha256 = checks.content_sha256.as_ref().map(|_| Sha256::new());
        let hasher = checks
            .checksum
            .as_ref()
            .map(|(a, _)| ChecksumHasher::new(*a));
        Checker {
            checks,
            sha256,
            hasher,
        }
    }

    fn update(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
    }

    fn finish(&mut self) -> Result<(), AuthError> {
        if let (Some(claim), Some(h)) = (&self.checks.content_sha256, self.sha256.take()) {
            let computed: [u8; 32] = h.finalize().into();
            let matches = claim
                .digest
                .is_some_and(|want| bool::from(computed.ct_eq(&want)));
            if !matches {
                return Err(AuthError::ContentSha256Mismatch {
                    client: claim.sent.clone(),
                    computed: hex::encode(computed),
                });
            }
        }
        if let (Some((algorithm, want)), Some(h)) = (&self.checks.checksum, self.hasher.take()) {
            if !bool::from(h.finish().ct_eq(want)) {
                return Err(AuthError::ChecksumMismatch(*algorithm));
            }
        }
        Ok(())
    }
}

/// Passes `body` through unchanged and, where it ends, yields an error
/// instead of ending cleanly if a digest of `checks` does not match. Errors
/// of `body` end the stream: an `AuthError` passes through as it is, any
/// other error becomes [`AuthError::ClientDisconnect`].
pub fn verify_body<S, E>(
    body: S,
    checks: BodyChecks,
) -> impl Stream<Item = Result<Bytes, AuthError>>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Display + 'static,
{
    struct State<S> {
        body: Pin<Box<S>>,
        checker: Checker,
        done: bool,
    }
    let state = State {
        body: Box::pin(body),
        checker: Checker::new(checks),
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let item = match st.body.next().await {
            Some(Ok(data)) => {
                st.checker.update(&data);
                return Some((Ok(data), st));
            }
            Some(Err(e)) => Err(from_body_error(e)),
            None => st.checker.finish().map(|()| Bytes::new()),
        };
        st.done = true;
        match item {
            Ok(_) => None,
            Err(e) => Some((Err(e), st)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::TryStreamExt;
    use std::convert::Infallible;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn run(parts: &[&'static [u8]], checks: BodyChecks) -> Result<Vec<u8>, AuthError> {
        let body = futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok::<_, Infallible>(Bytes::from_static(p))),
        );
        let chunks: Vec<Bytes> = block_on(verify_body(body, checks).try_collect())?;
        Ok(chunks.concat())
    }

    fn checks(h: &HeaderMap, payload: Payload) -> BodyChecks {
        BodyChecks::new(h, &payload, &Announced::from_headers(h).unwrap())
    }

    fn digest_b64(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut h = ChecksumHasher::new(algorithm);
        h.update(data);
        BASE64.encode(h.finish())
    }

    #[test]
    fn checksums_match_published_check_values() {
        // Each algorithm's digest of "123456789" is its catalogued check value.
        let check = |a| {
            let mut h = ChecksumHasher::new(a);
            h.update(b"1234");
            h.update(b"56789");
            hex::encode(h.finish())
        };
        assert_eq!(check(ChecksumAlgorithm::Crc32), "cbf43926");
        assert_eq!(check(ChecksumAlgorithm::Crc32c), "e3069283");
        assert_eq!(check(ChecksumAlgorithm::Crc64Nvme), "ae8b14860a799888");
        assert_eq!(
            check(ChecksumAlgorithm::Sha1),
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441"
        );
        assert_eq!(
            check(ChecksumAlgorithm::Sha256),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
    }

    #[test]
    fn matching_digests_pass_the_body_through() {
        // A body whose header checksum and payload hash both match streams out whole.
        let data: &'static [u8] = b"Welcome to Amazon S3.";
        for algorithm in ChecksumAlgorithm::ALL {
            let b64 = digest_b64(algorithm, data);
            let h = headers(&[(algorithm.header_name(), &b64)]);
            let sha: [u8; 32] = Sha256::digest(data).into();
            let checks = checks(&h, Payload::Sha256(sha));
            assert!(!checks.is_empty());
            assert_eq!(run(&[&data[..7], &data[7..]], checks).unwrap(), data);
        }
    }

    #[test]
    fn a_checksum_mismatch_ends_the_stream_with_bad_digest() {
        // A body that differs from its x-amz-checksum-crc32c ends with BadDigest, not cleanly.
        let b64 = digest_b64(ChecksumAlgorithm::Crc32c, b"hello");
        let h = headers(&[("x-amz-checksum-crc32c", &b64)]);
        assert_eq!(
            run(&[b"hellO"], checks(&h, Payload::Unsigned)),
            Err(AuthError::ChecksumMismatch(ChecksumAlgorithm::Crc32c))
        );
        // A body whose checksum headers describe something else is not checked against them.
        let unchecked = checks(&h, Payload::Unsigned).without_checksum();
        assert!(unchecked.is_empty());
        assert_eq!(run(&[b"hellO"], unchecked).unwrap(), b"hellO");
    }

    #[test]
    fn a_payload_hash_mismatch_ends_the_stream_with_content_sha256_mismatch() {
        // The x-amz-content-sha256 of another body is XAmzContentSHA256Mismatch at the end,
        // naming the value as sent and the body's own hash.
        let other = hex::encode_upper(Sha256::digest(b"other"));
        let h = headers(&[("x-amz-content-sha256", &other)]);
        let e = run(&[b"body"], checks(&h, Payload::parse(&other).unwrap())).unwrap_err();
        let computed = hex::encode(Sha256::digest(b"body"));
        assert_eq!(
            e,
            AuthError::ContentSha256Mismatch {
                client: other,
                computed
            }
        );
        assert_eq!(e.code(), "XAmzContentSHA256Mismatch");
    }

    #[test]
    fn a_claimed_hash_that_is_no_sha256_never_matches() {
        // A presigned or SigV2 request's `invalid` payload hash fails at the body's end, even empty.
        let h = headers(&[("x-amz-content-sha256", "invalid")]);
        let payload = Payload::parse_claimed("invalid");
        assert_eq!(payload, Payload::Unmatchable { streaming: false });
        let e = run(&[], checks(&h, payload)).unwrap_err();
        assert_eq!(
            e,
            AuthError::ContentSha256Mismatch {
                client: "invalid".into(),
                computed: crate::s3::auth::testkit::EMPTY_SHA256.into()
            }
        );
    }

    #[test]
    fn no_checks_is_a_plain_pass_through() {
        // Without checksum headers or a payload hash the body passes as it is.
        let checks = checks(&HeaderMap::new(), Payload::Unsigned);
        assert!(checks.is_empty());
        assert_eq!(run(&[b"a", b"", b"b"], checks).unwrap(), b"ab");
    }

    #[test]
    fn a_body_error_ends_the_stream_as_a_client_disconnect() {
        // An error of the underlying body is the last item, and it reads as a disconnect.
        let body = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("reset")),
            Ok(Bytes::from_static(b"never")),
        ]);
        let items: Vec<_> = block_on(verify_body(body, BodyChecks::default()).collect());
        assert_eq!(items.len(), 2);
        assert!(items[1].as_ref().unwrap_err().is_client_disconnect());
    }
}
