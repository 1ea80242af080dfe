//! AWS Signature Version 4 for S3: reading a request's credentials (the
//! `Authorization` header or a presigned URL's `X-Amz-*` parameters) into a
//! [`SigV4Request`], and verifying it against the secret key into a
//! [`Verified`] that the streaming body decoder continues from.
//!
//! Parsing refuses every malformed piece with the error AWS gives it;
//! verification checks timing first (clock skew, expiry), then that every
//! `x-amz-*` header is signed, then the signature, compared in constant time.

use super::canonical::{self, RequestParts, ALGORITHM, SCOPE_TERMINAL, UNSIGNED_PAYLOAD};
use super::chunked::ChunkSigning;
use super::error::AuthError;
use super::signed::{header_str, Payload, Verified};
use super::timestamp::AmzDate;
use http::{HeaderMap, Method, Uri};
use subtle::ConstantTimeEq;

/// Largest clock difference accepted for header auth, and how far in the
/// future a presigned URL may be dated (AWS: 15 minutes).
pub const CLOCK_SKEW_SECS_MAX: u64 = 15 * 60;
/// Longest validity of a presigned URL (AWS: one week).
pub const PRESIGNED_EXPIRES_SECS_MAX: u64 = 7 * 24 * 3600;
/// Most signed headers accepted, so a hostile list costs bounded work.
pub const SIGNED_HEADERS_MAX: usize = 64;

const SERVICE: &str = "s3";
const CREDENTIAL_FORM: &str =
    "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".";
const QUERY_REQUIRED: &str = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";
/// `x-amz-*` headers exempt from "every x-amz header is signed": the payload
/// hash is bound by the canonical request's last line, or (presigned) only
/// selects a check of the body.
const UNSIGNED_AMZ_HEADERS_ALLOWED: [&str; 1] = ["x-amz-content-sha256"];

/// The credential scope: `date/region/service/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// `yyyymmdd`, equal to the request timestamp's date.
    pub date: String,
    /// Any region string; the caller checks it if it cares.
    pub region: String,
    /// Always `s3`.
    pub service: String,
}

impl std::fmt::Display for CredentialScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for part in [&self.date, &self.region, &self.service] {
            f.write_str(part)?;
            f.write_str("/")?;
        }
        f.write_str(SCOPE_TERMINAL)
    }
}

/// A request's SigV4 credentials, well-formed but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Request {
    pub access_key: String,
    pub scope: CredentialScope,
    /// `X-Amz-Date` (header or query) or, for header auth without it, `Date`.
    pub timestamp: AmzDate,
    /// Lower-case names, in the order they were signed, joined by `;`
    /// as the canonical request lists them.
    pub signed_headers: String,
    pub signature: [u8; 32],
    /// `X-Amz-Expires` of a presigned URL; `None` for header auth.
    pub expires: Option<u64>,
    pub payload: Payload,
    /// `x-amz-security-token` / `X-Amz-Security-Token`, if any.
    pub security_token: Option<String>,
    /// The canonical request's last line, exactly as the client may have
    /// signed it: one line, but for a presigned URL sent with an
    /// `x-amz-content-sha256` header, its value (as AWS signs it) and then
    /// `UNSIGNED-PAYLOAD` (as a URL signed without the header is).
    payload_lines: Vec<String>,
}

fn header_malformed(why: impl Into<String>) -> AuthError {
    AuthError::AuthorizationHeaderMalformed(why.into())
}

fn query_error(why: impl Into<String>) -> AuthError {
    AuthError::AuthorizationQueryParametersError(why.into())
}

/// `Credential=…, SignedHeaders=…, Signature=…` (any spacing after the
/// commas), each exactly once.
pub(super) fn parse_header_auth(
    rest: &str,
    headers: &HeaderMap,
) -> Result<SigV4Request, AuthError> {
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or_else(|| {
            header_malformed(format!("the component \"{}\" is malformed.", part.trim()))
        })?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            other => return Err(header_malformed(format!("unknown component \"{other}\"."))),
        };
        if slot.replace(value).is_some() {
            return Err(header_malformed(format!(
                "the component \"{key}\" appears twice."
            )));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(header_malformed(
            "it requires the components Credential, SignedHeaders and Signature.",
        ));
    };
    let (access_key, scope) = parse_credential(credential).map_err(header_malformed)?;
    let signed_headers = parse_signed_headers(signed).map_err(header_malformed)?;
    let signature = parse_signature(signature)
        .ok_or_else(|| header_malformed("the Signature is not 64 hex digits."))?;
    let timestamp = header_timestamp(headers)?;
    check_scope(&scope, &timestamp).map_err(header_malformed)?;
    let payload_line = header_str(headers, "x-amz-content-sha256")
        .ok_or(AuthError::MissingContentSha256)?
        .to_owned();
    Ok(SigV4Request {
        access_key,
        scope,
        timestamp,
        signed_headers,
        signature,
        expires: None,
        payload: Payload::parse(&payload_line)?,
        security_token: header_str(headers, "x-amz-security-token").map(str::to_owned),
        payload_lines: vec![payload_line],
    })
}

/// `x-amz-date`, else `Date`: a header-signed request must carry one.
fn header_timestamp(headers: &HeaderMap) -> Result<AmzDate, AuthError> {
    match header_str(headers, "x-amz-date") {
        Some(v) => AmzDate::parse(v),
        None => header_str(headers, "date").and_then(AmzDate::parse_date_header),
    }
    .ok_or(AuthError::MissingDate)
}

/// A presigned URL's parameters: all six required, each at most once.
pub(super) fn parse_presigned(
    pairs: &[(Vec<u8>, Vec<u8>)],
    headers: &HeaderMap,
) -> Result<SigV4Request, AuthError> {
    let param = |name: &str| -> Result<Option<&str>, AuthError> {
        let mut found = pairs.iter().filter(|(n, _)| n == name.as_bytes());
        let value = found.next();
        if found.next().is_some() {
            return Err(query_error(format!("{name} appears more than once.")));
        }
        value
            .map(|(_, v)| {
                std::str::from_utf8(v)
                    .map_err(|_| query_error(format!("{name} is not valid text.")))
            })
            .transpose()
    };
    let required = |name: &str| param(name)?.ok_or_else(|| query_error(QUERY_REQUIRED));
    let (algorithm, credential) = (required("X-Amz-Algorithm")?, required("X-Amz-Credential")?);
    let (signature, date) = (required("X-Amz-Signature")?, required("X-Amz-Date")?);
    let (signed, expires) = (required("X-Amz-SignedHeaders")?, required("X-Amz-Expires")?);
    if algorithm != ALGORITHM {
        return Err(query_error(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let (access_key, scope) = parse_credential(credential).map_err(|why| {
        query_error(format!(
            "Error parsing the X-Amz-Credential parameter; {why}"
        ))
    })?;
    let timestamp = AmzDate::parse(date).ok_or_else(|| {
        query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    })?;
    let expires = parse_expires(expires)?;
    let signed_headers = parse_signed_headers(signed).map_err(query_error)?;
    let signature = parse_signature(signature)
        .ok_or_else(|| query_error("X-Amz-Signature is not 64 hex digits."))?;
    check_scope(&scope, &timestamp).map_err(query_error)?;
    // The payload line is the hash the URL itself signs, else the header's
    // (as AWS and s3api sign it) or UNSIGNED-PAYLOAD. The body is checked
    // against the header's value when there is one, whatever it is.
    let header_sha = header_str(headers, "x-amz-content-sha256");
    let payload_lines: Vec<String> = match (param("X-Amz-Content-Sha256")?, header_sha) {
        (Some(query), _) => vec![query.to_owned()],
        (None, Some(header)) => vec![header.to_owned(), UNSIGNED_PAYLOAD.to_owned()],
        (None, None) => vec![UNSIGNED_PAYLOAD.to_owned()],
    };
    let payload_value = header_sha.unwrap_or(&payload_lines[0]);
    Ok(SigV4Request {
        access_key,
        scope,
        timestamp,
        signed_headers,
        signature,
        expires: Some(expires),
        payload: Payload::parse_claimed(payload_value),
        security_token: param("X-Amz-Security-Token")?.map(str::to_owned),
        payload_lines,
    })
}

/// `X-Amz-Expires`: whole seconds, 1 to a week.
fn parse_expires(value: &str) -> Result<u64, AuthError> {
    if value.starts_with('-') {
        return Err(query_error("X-Amz-Expires must be non-negative"));
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(query_error("X-Amz-Expires should be a number"));
    }
    match value.parse::<u64>() {
        Ok(secs @ 1..=PRESIGNED_EXPIRES_SECS_MAX) => Ok(secs),
        Ok(0) => Err(query_error("X-Amz-Expires must be at least one second")),
        _ => Err(query_error(format!("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than {PRESIGNED_EXPIRES_SECS_MAX} seconds"))),
    }
}

/// `AKID/yyyymmdd/region/service/aws4_request`; the date is checked
/// against the timestamp by `check_scope`.
fn parse_credential(value: &str) -> Result<(String, CredentialScope), String> {
    let mut parts = value.split('/');
    let mut next = || parts.next().ok_or_else(|| CREDENTIAL_FORM.to_owned());
    let (access_key, date, region, service, terminal) =
        (next()?, next()?, next()?, next()?, next()?);
    if parts.next().is_some() || access_key.is_empty() || region.is_empty() || date.len() != 8 {
        return Err(CREDENTIAL_FORM.to_owned());
    }
    if service != SERVICE {
        return Err(format!(
            "incorrect service \"{service}\". This endpoint belongs to \"{SERVICE}\"."
        ));
    }
    if terminal != SCOPE_TERMINAL {
        return Err(format!(
            "incorrect terminal \"{terminal}\". This endpoint uses \"{SCOPE_TERMINAL}\"."
        ));
    }
    let scope = CredentialScope {
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    };
    Ok((access_key.to_owned(), scope))
}

/// The scope's date must be the timestamp's.
fn check_scope(scope: &CredentialScope, timestamp: &AmzDate) -> Result<(), String> {
    if scope.date != timestamp.date() {
        return Err(format!(
            "Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{}\".",
            scope.date,
            timestamp.date()
        ));
    }
    Ok(())
}

/// `host;range;x-amz-date`: lower-case header names, no repeats, `host` among them.
fn parse_signed_headers(value: &str) -> Result<String, String> {
    if value.split(';').nth(SIGNED_HEADERS_MAX).is_some() {
        return Err(format!("more than {SIGNED_HEADERS_MAX} SignedHeaders."));
    }
    for (i, name) in value.split(';').enumerate() {
        let valid = !name.is_empty()
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.!#$%&'*+^`|~".contains(&b)
            });
        if !valid || value.split(';').take(i).any(|earlier| earlier == name) {
            return Err(format!("the SignedHeaders entry \"{name}\" is invalid."));
        }
    }
    if !value.split(';').any(|n| n == "host") {
        return Err("the SignedHeaders must include host.".to_owned());
    }
    Ok(value.to_owned())
}

fn parse_signature(value: &str) -> Option<[u8; 32]> {
    let mut signature = [0u8; 32];
    hex::decode_to_slice(value, &mut signature).ok()?;
    Some(signature)
}

impl SigV4Request {
    /// Checks the request against `secret` at `now_secs`: timing, that every
    /// `x-amz-*` header is signed, and the signature (constant time). Pass
    /// the same `uri` and `headers` that `parse` read.
    pub fn verify(
        &self,
        secret: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        now_secs: u64,
    ) -> Result<Verified, AuthError> {
        self.check_time(now_secs)?;
        self.check_all_amz_headers_signed(headers)?;
        let scope = self.scope.to_string();
        let signing_key = canonical::signing_key(
            secret,
            &self.scope.date,
            &self.scope.region,
            &self.scope.service,
        );
        let req = RequestParts {
            method: method.as_str(),
            uri,
            headers,
        };
        // A client that sent characters raw (or lower-case hex) signed
        // AWS's canonical form of the same path, which is only built when
        // the path as sent does not verify.
        let sent = canonical::uri_as_sent(uri);
        let try_uri = |u: &str| {
            self.payload_lines
                .iter()
                .find_map(|p| self.signed_request(req, u, p, &scope, &signing_key))
        };
        let canonical_request = try_uri(sent)
            .or_else(|| {
                let reencoded = canonical::uri_reencoded(uri);
                (reencoded != sent).then(|| try_uri(&reencoded)).flatten()
            })
            .ok_or(AuthError::SignatureDoesNotMatch)?;
        // Only a streaming body chains chunk signatures from this one; the
        // material is not copied for every other request.
        let streaming = matches!(
            self.payload,
            Payload::StreamingSigned
                | Payload::StreamingSignedTrailer
                | Payload::Unmatchable { streaming: true }
        );
        let chunk_signing = streaming.then(|| ChunkSigning {
            key: signing_key,
            scope,
            timestamp: self.timestamp.text.clone(),
            seed: self.signature,
            access_key: self.access_key.clone(),
            canonical_request: String::from_utf8_lossy(&canonical_request).into_owned(),
        });
        Ok(Verified {
            chunk_signing,
            payload: self.payload,
        })
    }

    fn check_time(&self, now_secs: u64) -> Result<(), AuthError> {
        let at = self.timestamp.unix_secs;
        match self.expires {
            None if now_secs.abs_diff(at) > CLOCK_SKEW_SECS_MAX => {
                Err(AuthError::RequestTimeTooSkewed)
            }
            Some(_) if now_secs.saturating_add(CLOCK_SKEW_SECS_MAX) < at => {
                Err(AuthError::RequestNotYetValid)
            }
            Some(expires) if now_secs > at.saturating_add(expires) => {
                Err(AuthError::RequestExpired)
            }
            _ => Ok(()),
        }
    }

    /// A header the signature does not cover could change what the request
    /// does (an unsigned `x-amz-copy-source` on a presigned PUT copies another
    /// object), so every `x-amz-*` header must be signed, as AWS requires.
    fn check_all_amz_headers_signed(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let mut unsigned: Vec<&str> = headers
            .keys()
            .map(|n| n.as_str())
            .filter(|n| n.starts_with("x-amz-") && !UNSIGNED_AMZ_HEADERS_ALLOWED.contains(n))
            .filter(|n| !self.signed_headers.split(';').any(|s| s == *n))
            .collect();
        if unsigned.is_empty() {
            return Ok(());
        }
        unsigned.sort_unstable();
        Err(AuthError::HeadersNotSigned(unsigned.join(",")))
    }

    /// The canonical request with `canonical_uri` and `payload_line`, if
    /// the signature signs it.
    fn signed_request(
        &self,
        req: RequestParts<'_>,
        canonical_uri: &str,
        payload_line: &str,
        scope: &str,
        key: &[u8; 32],
    ) -> Option<Vec<u8>> {
        let creq =
            canonical::canonical_request(req, canonical_uri, &self.signed_headers, payload_line);
        let expected = canonical::signature(key, &self.timestamp.text, scope, &creq);
        bool::from(expected.ct_eq(&self.signature)).then_some(creq)
    }
}

#[cfg(test)]
mod tests;
