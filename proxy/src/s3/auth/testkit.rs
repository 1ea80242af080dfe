//! Test fixtures shared by the auth tests: AWS's example credentials, a
//! request builder, client-side signers (SigV4, and SigV2 over a written-out
//! StringToSign), an `aws-chunked` encoder, and a proptest runner seeded
//! from `SEED=`.

use super::canonical::{self, RequestParts, ALGORITHM};
use super::chunked::ChunkSigning;
use super::sigv2::hmac_sha1;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sha2::{Digest, Sha256};

/// The secret of every example in AWS's SigV4 documentation.
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
/// 20130524T000000Z, the examples' request time.
pub const EXAMPLE_SECS: u64 = 1_369_353_600;
pub const EXAMPLE_TIME: &str = "20130524T000000Z";
pub const EMPTY_SHA256: &str = canonical::EMPTY_SHA256_HEX;

/// A request: method, target, and `name: value` headers (repeats allowed).
pub fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> (Method, Uri, HeaderMap) {
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    (method.parse().unwrap(), target.parse().unwrap(), map)
}

/// What a client signs a request with.
pub struct Signer<'a> {
    pub access_key: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub timestamp: &'a str,
}

impl Signer<'_> {
    pub const EXAMPLE: Signer<'static> = Signer {
        access_key: ACCESS_KEY,
        secret: SECRET,
        region: "us-east-1",
        timestamp: EXAMPLE_TIME,
    };

    fn scope(&self) -> String {
        format!("{}/{}/s3/aws4_request", &self.timestamp[..8], self.region)
    }

    fn sign(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        signed: &str,
        payload: &str,
    ) -> String {
        let req = RequestParts {
            method: method.as_str(),
            uri,
            headers,
        };
        let creq = canonical::canonical_request(req, canonical::uri_as_sent(uri), signed, payload);
        let sts = canonical::string_to_sign(self.timestamp, &self.scope(), &creq);
        let key = canonical::signing_key(self.secret, &self.timestamp[..8], self.region, "s3");
        hex::encode(canonical::hmac_sha256(&key, sts.as_bytes()))
    }

    /// Adds an `Authorization` header signing every header already present
    /// (which must include `host` and `x-amz-content-sha256`).
    pub fn authorize(&self, method: &Method, uri: &Uri, headers: &mut HeaderMap) {
        let mut names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        let signed = names.join(";");
        let payload = headers["x-amz-content-sha256"].to_str().unwrap().to_owned();
        let signature = self.sign(method, uri, headers, &signed, &payload);
        let value = format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
            self.access_key,
            self.scope(),
            signed
        );
        headers.insert("authorization", value.parse().unwrap());
    }

    /// A presigned form of `uri` (path and query, `host` signed), valid `expires` seconds.
    pub fn presign(&self, method: &Method, uri: &Uri, headers: &HeaderMap, expires: u64) -> Uri {
        self.presign_with_payload(method, uri, headers, expires, canonical::UNSIGNED_PAYLOAD)
    }

    /// The same, with `payload` as the canonical request's last line.
    pub fn presign_with_payload(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        expires: u64,
        payload: &str,
    ) -> Uri {
        let credential = format!(
            "{}%2F{}",
            self.access_key.replace(':', "%3A"),
            self.scope().replace('/', "%2F")
        );
        let mut query = uri.query().map(|q| format!("{q}&")).unwrap_or_default();
        query += &format!(
            "X-Amz-Algorithm={ALGORITHM}&X-Amz-Credential={credential}&X-Amz-Date={}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host",
            self.timestamp
        );
        let unsigned: Uri = format!("{}?{query}", uri.path()).parse().unwrap();
        let signature = self.sign(method, &unsigned, headers, "host", payload);
        format!("{}?{query}&X-Amz-Signature={signature}", uri.path())
            .parse()
            .unwrap()
    }
}

/// The chunk signing state of AWS's streaming examples, seeded with `seed`.
pub fn example_signing(seed: &str) -> ChunkSigning {
    let mut seed_signature = [0u8; 32];
    hex::decode_to_slice(seed, &mut seed_signature).unwrap();
    ChunkSigning {
        key: canonical::signing_key(SECRET, "20130524", "us-east-1", "s3"),
        scope: "20130524/us-east-1/s3/aws4_request".to_owned(),
        timestamp: EXAMPLE_TIME.to_owned(),
        seed: seed_signature,
        access_key: ACCESS_KEY.to_owned(),
        canonical_request: "PUT\n/examplebucket/chunkObject.txt".to_owned(),
    }
}

/// A SigV2 signature of `string_to_sign` with the examples' secret, in base64.
pub fn sign_v2(string_to_sign: &str) -> String {
    BASE64.encode(hmac_sha1(SECRET.as_bytes(), string_to_sign.as_bytes()))
}

/// `data` in `aws-chunked` form, cut at `sizes` (the rest in one chunk),
/// signed when `signing` is given, with an optional `(name, value)` trailer
/// (then signed too, with `x-amz-trailer-signature`, when the chunks are).
pub fn encode_chunked(
    data: &[u8],
    sizes: &[usize],
    signing: Option<&ChunkSigning>,
    trailer: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut pieces: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    for &size in sizes {
        let (a, b) = rest.split_at(size.min(rest.len()));
        if !a.is_empty() {
            pieces.push(a);
        }
        rest = b;
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces.push(&[]);
    let mut previous = signing.map(|s| s.seed);
    let mut out = Vec::new();
    for piece in pieces {
        out.extend_from_slice(format!("{:x}", piece.len()).as_bytes());
        if let (Some(s), Some(prev)) = (signing, &mut previous) {
            let sig = chunk_signature(s, prev, piece);
            out.extend_from_slice(format!(";chunk-signature={}", hex::encode(sig)).as_bytes());
            *prev = sig;
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(piece);
        if !piece.is_empty() {
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some((name, value)) = trailer {
        out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
        if let (Some(s), Some(prev)) = (signing, previous) {
            let hash = hex::encode(Sha256::digest(format!("{name}:{value}\n")));
            let sts = format!(
                "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{hash}",
                s.timestamp,
                s.scope,
                hex::encode(prev)
            );
            let sig = canonical::hmac_sha256(&s.key, sts.as_bytes());
            out.extend_from_slice(
                format!("x-amz-trailer-signature:{}\r\n", hex::encode(sig)).as_bytes(),
            );
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn chunk_signature(s: &ChunkSigning, previous: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let sts = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
        s.timestamp,
        s.scope,
        hex::encode(previous),
        hex::encode(Sha256::digest(data))
    );
    canonical::hmac_sha256(&s.key, sts.as_bytes())
}

/// A proptest runner seeded from `SEED=` or the clock; prints the seed.
pub fn seeded_runner(test: &str, cases: u32) -> TestRunner {
    let seed: u64 = match std::env::var("SEED") {
        Ok(s) => s.parse().expect("SEED must be a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    println!("{test}: SEED={seed}");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}
