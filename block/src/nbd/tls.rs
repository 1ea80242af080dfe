//! NBD's TLS configurations (TLS 1.3, the ring provider), read from
//! directories in qemu's `tls-creds-x509` layout: the server's, which
//! demands a client certificate signed by its directory's CA (the
//! certificate is the client's authentication: without one, no export is
//! reachable), and a client's, which presents its certificate and checks
//! the server's against the same CA (for `cairn bench` and tests).

use super::pki::{
    CA_CERT_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

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
        let provider = provider();
        let verifier = WebPkiClientVerifier::builder_with_provider(roots(dir)?, provider.clone())
            .build()
            .map_err(pki)?;
        let (certs, key) = identity(dir, SERVER_CERT_FILE, SERVER_KEY_FILE)?;
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

/// A client's side of NBD over TLS, once `NBD_OPT_STARTTLS` was
/// acknowledged.
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
}

/// A connection to an NBD server, inside TLS.
pub type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Reads `ca-cert.pem`, `client-cert.pem` and `client-key.pem` from
    /// `dir` (what `nbdinfo`'s `tls-certificates=` names).
    pub fn load(dir: &Path) -> Result<ClientTls, TlsError> {
        let (certs, key) = identity(dir, CLIENT_CERT_FILE, CLIENT_KEY_FILE)?;
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(pki)?
            .with_root_certificates(roots(dir)?)
            .with_client_auth_cert(certs, key)
            .map_err(pki)?;
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Runs the TLS handshake on `stream` with the server at `host` (an
    /// IP address or a DNS name its certificate must carry).
    pub async fn connect(&self, host: &str, stream: TcpStream) -> std::io::Result<ClientStream> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.connector.connect(name, stream).await
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The CA of `dir`, as the only root.
fn roots(dir: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let ca = CertificateDer::from_pem_slice(&read(dir, CA_CERT_FILE)?).map_err(pki)?;
    let mut roots = RootCertStore::empty();
    roots.add(ca).map_err(pki)?;
    Ok(Arc::new(roots))
}

/// A certificate chain and its key, from two files of `dir`.
fn identity(
    dir: &Path,
    cert_file: &str,
    key_file: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certs = CertificateDer::pem_slice_iter(&read(dir, cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pki)?;
    let key = PrivateKeyDer::from_pem_slice(&read(dir, key_file)?).map_err(pki)?;
    Ok((certs, key))
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, TlsError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| TlsError::Read(path, e))
}

fn pki(e: impl std::fmt::Display) -> TlsError {
    TlsError::Pki(e.to_string())
}
