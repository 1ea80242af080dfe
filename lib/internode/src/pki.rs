//! The cluster's certificates: the CA made once per cluster, the
//! certificate each member (a node, or an operator's tool) holds, and the
//! files they live in.
//!
//! A member certificate names the member twice: `<name>.cairn` (so a
//! client can insist on reaching one particular node) and `member.cairn`
//! (so a joining node, which knows no node by name yet, can check it
//! reached *some* member of the right cluster). Keys are ECDSA P-256.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

use crate::TransportError;

/// The DNS name every member certificate carries.
pub const MEMBER_NAME: &str = "member.cairn";

/// How long a member certificate is valid.
const MEMBER_VALIDITY_DAYS: i64 = 5 * 365;
/// How long the CA is valid.
const CA_VALIDITY_DAYS: i64 = 20 * 365;

/// The member name of the cluster node with id `id`.
pub fn node_name(id: u64) -> String {
    format!("node-{id}")
}

/// The TLS name of the member called `name` (`node-2` → `node-2.cairn`).
pub fn member_dns_name(name: &str) -> String {
    format!("{name}.cairn")
}

/// The cluster's certificate authority: it signs every member certificate.
/// Only the node that creates or admits members needs its key.
pub struct ClusterCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl ClusterCa {
    /// A new CA with a fresh key.
    pub fn generate() -> Result<ClusterCa, TransportError> {
        let key = KeyPair::generate().map_err(pki)?;
        let cert = ca_params()?.self_signed(&key).map_err(pki)?;
        Ok(ClusterCa { cert, key })
    }

    /// The CA whose key is `key_pem`. The certificate is re-made from the
    /// same name and key, so what it signs verifies against the original.
    pub fn from_key_pem(key_pem: &str) -> Result<ClusterCa, TransportError> {
        let key = KeyPair::from_pem(key_pem).map_err(pki)?;
        let cert = ca_params()?.self_signed(&key).map_err(pki)?;
        Ok(ClusterCa { cert, key })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA's private key, PEM.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// Issues a certificate for the member called `name` (`node-3`,
    /// `operator`): a fresh key, signed by this CA, good for both ends of
    /// a connection.
    pub fn issue(&self, name: &str) -> Result<Identity, TransportError> {
        let key = MemberKey::generate()?;
        let cert_pem = self.certify(name, &key.public_raw())?;
        Ok(key.into_identity(self.cert_pem(), cert_pem))
    }

    /// Signs a certificate (PEM) for the member called `name` over the
    /// P-256 public key `public_raw` (SEC1 uncompressed, as
    /// [`MemberKey::public_raw`] gives it): how a joining node gets its
    /// certificate without its key ever leaving it.
    pub fn certify(&self, name: &str, public_raw: &[u8]) -> Result<String, TransportError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(TransportError::Pki(format!(
                "member name {name:?} must be letters, digits and '-'"
            )));
        }
        // SEC1 uncompressed: 0x04, then X and Y of 32 bytes each.
        if public_raw.len() != 65 || public_raw[0] != 0x04 {
            return Err(TransportError::Pki(
                "a member's public key must be an uncompressed P-256 point".into(),
            ));
        }
        let mut params =
            CertificateParams::new(vec![member_dns_name(name), MEMBER_NAME.to_owned()])
                .map_err(pki)?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, MEMBER_VALIDITY_DAYS);
        let public = RawP256(public_raw);
        let cert = params
            .signed_by(&public, &self.cert, &self.key)
            .map_err(pki)?;
        Ok(cert.pem())
    }
}

/// A P-256 public key as raw SEC1 bytes, for rcgen to sign over.
struct RawP256<'a>(&'a [u8]);

impl rcgen::PublicKeyData for RawP256<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0
    }

    fn algorithm(&self) -> &rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// A member's key pair, made where it will be used: only its public half
/// travels (to the CA's holder, which certifies it).
pub struct MemberKey(KeyPair);

impl MemberKey {
    /// A fresh P-256 key.
    pub fn generate() -> Result<MemberKey, TransportError> {
        Ok(MemberKey(
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(pki)?,
        ))
    }

    /// The public key, SEC1 uncompressed (65 bytes).
    pub fn public_raw(&self) -> Vec<u8> {
        self.0.public_key_raw().to_vec()
    }

    /// The identity made of this key, the certificate issued for it and
    /// the CA that issued it.
    pub fn into_identity(self, ca_pem: String, cert_pem: String) -> Identity {
        Identity {
            ca_pem,
            cert_pem,
            key_pem: self.0.serialize_pem(),
        }
    }
}

fn ca_params() -> Result<CertificateParams, TransportError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "Cairn cluster CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // Fixed dates, so the certificate re-made from the key is the same one.
    params.not_before = rcgen::date_time_ymd(2026, 1, 1);
    params.not_after = rcgen::date_time_ymd(2026, 1, 1) + time::Duration::days(CA_VALIDITY_DAYS);
    Ok(params)
}

fn set_validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    // A day of slack for clocks that are a little behind.
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
}

fn pki(e: rcgen::Error) -> TransportError {
    TransportError::Pki(e.to_string())
}

/// What a member holds: the CA certificate it trusts, and its own
/// certificate and key. PEM throughout.
#[derive(Clone)]
pub struct Identity {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

/// File names inside a member's TLS directory.
const CA_FILE: &str = "ca.pem";
const CERT_FILE: &str = "member.pem";
const KEY_FILE: &str = "member.key";

impl Identity {
    /// Reads `dir/ca.pem`, `dir/member.pem` and `dir/member.key`.
    pub fn load(dir: &Path) -> Result<Identity, TransportError> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| {
                TransportError::Pki(format!("reading {}: {e}", dir.join(name).display()))
            })
        };
        Ok(Identity {
            ca_pem: read(CA_FILE)?,
            cert_pem: read(CERT_FILE)?,
            key_pem: read(KEY_FILE)?,
        })
    }

    /// Writes the three files into `dir` (created if missing); the key is
    /// readable by its owner only.
    pub fn save(&self, dir: &Path) -> Result<(), TransportError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| TransportError::Pki(format!("creating {}: {e}", dir.display())))?;
        write_file(&dir.join(CA_FILE), &self.ca_pem, 0o644)?;
        write_file(&dir.join(CERT_FILE), &self.cert_pem, 0o644)?;
        write_file(&dir.join(KEY_FILE), &self.key_pem, 0o600)
    }

    /// The SHA-256 of the CA certificate (DER), lowercase hex: what a join
    /// token carries so that the joining node can recognise its cluster.
    pub fn ca_fingerprint(&self) -> Result<String, TransportError> {
        ca_fingerprint(&self.ca_pem)
    }
}

/// The SHA-256 of a PEM certificate's DER bytes, lowercase hex.
pub fn ca_fingerprint(ca_pem: &str) -> Result<String, TransportError> {
    let der = crate::tls::cert_der(ca_pem)?;
    Ok(hex::encode(Sha256::digest(der.as_ref())))
}

/// Writes `text` to `path` with `mode`, replacing what was there.
pub fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), TransportError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| TransportError::Pki(format!("writing {}: {e}", path.display())))
}
