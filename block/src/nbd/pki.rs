//! The certificates of NBD over TLS, in the layout of qemu's
//! `tls-creds-x509` directories: a CA made once per data directory, the
//! server's certificate (naming the addresses it listens on, which GnuTLS
//! clients check) and one client certificate, whose possession is what
//! lets a client in.
//!
//! [`TlsDirs::files_to_write`] decides what to (re)write and returns it;
//! storing the files is the caller's job (it owns the data directory's
//! file helpers). Keys are ECDSA P-256.

use super::tls::TlsError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The CA certificate, in both directories (qemu's name).
pub const CA_CERT_FILE: &str = "ca-cert.pem";
/// The CA's key, in the server directory only: it re-issues the server
/// certificate when the listen address changes. qemu ignores it.
pub const CA_KEY_FILE: &str = "ca-key.pem";
pub const SERVER_CERT_FILE: &str = "server-cert.pem";
pub const SERVER_KEY_FILE: &str = "server-key.pem";
pub const CLIENT_CERT_FILE: &str = "client-cert.pem";
pub const CLIENT_KEY_FILE: &str = "client-key.pem";

/// The DNS name the server certificate carries besides its addresses.
const SERVER_DNS_NAME: &str = "localhost";
/// The common name of the client certificate.
const CLIENT_NAME: &str = "cairn-nbd-client";
/// How long the server and client certificates are valid.
const LEAF_VALIDITY_DAYS: i64 = 5 * 365;
/// How long the CA is valid.
const CA_VALIDITY_DAYS: i64 = 20 * 365;

/// Where a data directory keeps its NBD certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDirs {
    /// What the server reads (qemu's `endpoint=server` layout, plus the
    /// CA key).
    pub server: PathBuf,
    /// What clients are given (qemu's `endpoint=client` layout).
    pub client: PathBuf,
}

impl TlsDirs {
    /// `root/nbd-tls` and `root/nbd-tls-client`.
    pub fn under(root: &Path) -> TlsDirs {
        TlsDirs {
            server: root.join("nbd-tls"),
            client: root.join("nbd-tls-client"),
        }
    }

    /// The files to write so that both directories are complete and the
    /// server certificate names `addrs`: the CA, its certificate and the
    /// client certificate when missing (a new CA also means a new client
    /// certificate), and always a fresh server certificate. Existing
    /// files are read, never changed here.
    pub fn files_to_write(&self, addrs: &[IpAddr]) -> Result<Vec<(PathBuf, String)>, TlsError> {
        let mut files = Vec::new();
        let ca_key = self.server.join(CA_KEY_FILE);
        let (ca, new_ca) = match std::fs::read_to_string(&ca_key) {
            Ok(pem) => (NbdCa::from_key_pem(&pem)?, false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let ca = NbdCa::generate()?;
                files.push((ca_key, ca.key.serialize_pem()));
                (ca, true)
            }
            Err(e) => return Err(TlsError::Read(ca_key, e)),
        };
        let ca_cert = self.ca_cert(&ca, new_ca)?;
        if new_ca || !self.server.join(CA_CERT_FILE).exists() {
            files.push((self.server.join(CA_CERT_FILE), ca_cert.clone()));
        }
        let client_complete = [CA_CERT_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE]
            .iter()
            .all(|f| self.client.join(f).exists());
        if new_ca || !client_complete {
            let client = ca.issue_client()?;
            files.push((self.client.join(CA_CERT_FILE), ca_cert));
            files.push((self.client.join(CLIENT_CERT_FILE), client.cert_pem));
            files.push((self.client.join(CLIENT_KEY_FILE), client.key_pem));
        }
        let server = ca.issue_server(addrs)?;
        files.push((self.server.join(SERVER_CERT_FILE), server.cert_pem));
        files.push((self.server.join(SERVER_KEY_FILE), server.key_pem));
        Ok(files)
    }

    /// The CA certificate clients should trust: the one on disk when
    /// there is one (a re-made certificate has the same name and key, but
    /// the file clients already hold is the original).
    fn ca_cert(&self, ca: &NbdCa, new_ca: bool) -> Result<String, TlsError> {
        if new_ca {
            return Ok(ca.cert_pem());
        }
        let path = self.server.join(CA_CERT_FILE);
        match std::fs::read_to_string(&path) {
            Ok(pem) => Ok(pem),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ca.cert_pem()),
            Err(e) => Err(TlsError::Read(path, e)),
        }
    }
}

/// A certificate and its key, PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The certificate authority of one data directory's NBD server.
pub struct NbdCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl NbdCa {
    /// A new CA with a fresh key.
    pub fn generate() -> Result<NbdCa, TlsError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(pki)?;
        NbdCa::with_key(key)
    }

    /// The CA whose key is `key_pem`, its certificate re-made from the
    /// same name, dates and key, so what it signs verifies against the
    /// original.
    pub fn from_key_pem(key_pem: &str) -> Result<NbdCa, TlsError> {
        NbdCa::with_key(KeyPair::from_pem(key_pem).map_err(pki)?)
    }

    fn with_key(key: KeyPair) -> Result<NbdCa, TlsError> {
        let cert = ca_params()?.self_signed(&key).map_err(pki)?;
        Ok(NbdCa { cert, key })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate naming `addrs` and `localhost`.
    pub fn issue_server(&self, addrs: &[IpAddr]) -> Result<Issued, TlsError> {
        let mut params = leaf_params("cairn-nbd-server", ExtendedKeyUsagePurpose::ServerAuth)?;
        params.subject_alt_names = addrs.iter().map(|ip| SanType::IpAddress(*ip)).collect();
        let dns = SERVER_DNS_NAME.try_into().map_err(pki)?;
        params.subject_alt_names.push(SanType::DnsName(dns));
        self.sign(params)
    }

    /// A client certificate: what a client presents to be let in.
    pub fn issue_client(&self) -> Result<Issued, TlsError> {
        self.sign(leaf_params(
            CLIENT_NAME,
            ExtendedKeyUsagePurpose::ClientAuth,
        )?)
    }

    fn sign(&self, params: CertificateParams) -> Result<Issued, TlsError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(pki)?;
        let cert = params.signed_by(&key, &self.cert, &self.key).map_err(pki)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn ca_params() -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "Cairn NBD CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // Fixed dates, so the certificate re-made from the key is the same one.
    params.not_before = rcgen::date_time_ymd(2026, 1, 1);
    params.not_after = rcgen::date_time_ymd(2026, 1, 1) + time::Duration::days(CA_VALIDITY_DAYS);
    Ok(params)
}

/// A leaf certificate for `purpose`. GnuTLS (qemu, libnbd) insists on
/// digital signature and key encipherment in a critical key usage.
fn leaf_params(
    name: &str,
    purpose: ExtendedKeyUsagePurpose,
) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![purpose];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.use_authority_key_identifier_extension = true;
    let now = time::OffsetDateTime::now_utc();
    // A day of slack for clocks that are a little behind.
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(LEAF_VALIDITY_DAYS);
    Ok(params)
}

fn pki(e: rcgen::Error) -> TlsError {
    TlsError::Pki(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(files: &[(PathBuf, String)], dirs: &TlsDirs) -> Vec<String> {
        files
            .iter()
            .map(|(p, _)| {
                let dir = if p.starts_with(&dirs.server) {
                    "server"
                } else {
                    "client"
                };
                format!("{dir}/{}", p.file_name().unwrap().to_string_lossy())
            })
            .collect()
    }

    fn write(files: &[(PathBuf, String)]) {
        for (path, text) in files {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    #[test]
    fn first_start_writes_everything_and_later_ones_only_the_server_cert() {
        // Checks what is (re)written on a fresh directory, on a restart,
        // and after the client directory was removed: the CA stays.
        let tmp = tempfile::tempdir().unwrap();
        let dirs = TlsDirs::under(tmp.path());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let first = dirs.files_to_write(&[ip]).unwrap();
        assert_eq!(
            names(&first, &dirs),
            [
                "server/ca-key.pem",
                "server/ca-cert.pem",
                "client/ca-cert.pem",
                "client/client-cert.pem",
                "client/client-key.pem",
                "server/server-cert.pem",
                "server/server-key.pem",
            ]
        );
        write(&first);
        let again = dirs.files_to_write(&[ip]).unwrap();
        assert_eq!(
            names(&again, &dirs),
            ["server/server-cert.pem", "server/server-key.pem"]
        );
        std::fs::remove_dir_all(&dirs.client).unwrap();
        let client = dirs.files_to_write(&[ip]).unwrap();
        assert_eq!(client.len(), 5);
        let ca = std::fs::read_to_string(dirs.server.join(CA_CERT_FILE)).unwrap();
        assert_eq!(client[0].1, ca);
        write(&client);
        // A lost server copy of the CA certificate is written again.
        std::fs::remove_file(dirs.server.join(CA_CERT_FILE)).unwrap();
        let again = dirs.files_to_write(&[ip]).unwrap();
        assert_eq!(names(&again, &dirs)[0], "server/ca-cert.pem");
        assert_eq!(again.len(), 3);
    }
}
