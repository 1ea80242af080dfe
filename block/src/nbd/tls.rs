//! The NBD server's TLS: a rustls configuration (TLS 1.3, the ring
//! provider) read from a server directory in qemu's layout, which demands
//! a client certificate signed by that directory's CA. The certificate is
//! the client's authentication: without one, no export is reachable.

use super::pki::{CA_CERT_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Why the NBD server's certificates could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("NBD TLS certificates: {0}")]
    Pki(String),
}

/// What the server upgrades a connection with after `NBD_OPT_STARTTLS`.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads `ca-cert.pem`, `server-cert.pem` and `server-key.pem` from
    /// `dir`. Clients must present a certificate the CA signed.
    pub fn load(dir: &Path) -> Result<ServerTls, TlsError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| TlsError::Read(path, e))
        };
        let ca = CertificateDer::from_pem_slice(&read(CA_CERT_FILE)?).map_err(pki)?;
        let certs = CertificateDer::pem_slice_iter(&read(SERVER_CERT_FILE)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(pki)?;
        let key = PrivateKeyDer::from_pem_slice(&read(SERVER_KEY_FILE)?).map_err(pki)?;
        let mut roots = RootCertStore::empty();
        roots.add(ca).map_err(pki)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(pki)?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(pki)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .map_err(pki)?;
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub(super) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

fn pki(e: impl std::fmt::Display) -> TlsError {
    TlsError::Pki(e.to_string())
}
