//! TLS 1.3 for QUIC: the configurations a member uses to serve and to
//! connect (both ends present a certificate from the cluster CA and check
//! the other's), and the one a joining node uses before it has one (it
//! checks the server against the CA fingerprint in its join token).
//!
//! A server accepts a connection without a client certificate — that is
//! how a node joins — but such a caller is [`Caller::Anonymous`] and may
//! reach only the services open to it (see `endpoint`).
//!
//! [`Caller::Anonymous`]: crate::Caller::Anonymous

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::udp::Datagrams;
use crate::{Identity, TransportError};

/// The ALPN protocol of Cairn's internode traffic.
const ALPN: &[u8] = b"cairn/1";

/// A connection that hears nothing for this long is closed: how long
/// requests to a node that died or froze wait before they fail over.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// Keep-alives keep an idle but healthy connection open.
const KEEP_ALIVE: Duration = Duration::from_millis(500);

/// The ring provider with one cipher suite: TLS_AES_128_GCM_SHA256, the
/// suite every TLS 1.3 and QUIC stack must have, and the cheapest on
/// AES-NI (10 rounds a block against AES-256's 14). Every replica byte
/// that crosses the network is sealed once and opened once (decision 0020).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
        ..rustls::crypto::ring::default_provider()
    })
}

fn tls(e: impl std::fmt::Display) -> TransportError {
    TransportError::Pki(e.to_string())
}

/// The first certificate in `pem`, as DER.
pub(crate) fn cert_der(pem: &str) -> Result<CertificateDer<'static>, TransportError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(tls)
}

fn key_der(pem: &str) -> Result<PrivateKeyDer<'static>, TransportError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(tls)
}

fn roots(ca: CertificateDer<'static>) -> Result<Arc<RootCertStore>, TransportError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca).map_err(tls)?;
    Ok(Arc::new(roots))
}

/// The certificate chain a member presents: its own, then the CA's (so a
/// joining node can find the CA it was told to expect).
fn chain(id: &Identity) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    Ok(vec![cert_der(&id.cert_pem)?, cert_der(&id.ca_pem)?])
}

/// The most bytes a peer may have sent on one connection that this side's
/// application has not read (QUIC flow control). It bounds what can sit
/// unread in the UDP socket's receive buffer, so it must fit there:
/// Linux caps the buffer at `net.core.rmem_max` (4 MiB on the test
/// machine, which the kernel doubles for its per-datagram overhead) and
/// drops what does not fit. With 64 MiB, a node off the CPU for a moment
/// overflowed its buffer: 0.7 % of a 64 MiB PUT load's datagrams were
/// lost, 1.5 % after a 1 MiB PUT load had grown the congestion windows,
/// and that run's throughput fell by a tenth (decision 0024).
pub(crate) const CONNECTION_WINDOW: u32 = 3 << 20;
/// The most unread bytes on one stream: 4 of the proxy's 256 KiB frames,
/// 1 GB/s per stream at a 1 ms round trip.
const STREAM_WINDOW: u32 = 1 << 20;

/// Flow-control windows that fit the socket buffer, packet sizes up to
/// what `datagrams` allows, idle timeout and keep-alive.
fn transport(datagrams: Datagrams) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(4096u32.into())
        .max_concurrent_uni_streams(0u32.into())
        .stream_receive_window(STREAM_WINDOW.into())
        .receive_window(CONNECTION_WINDOW.into())
        .send_window(64 << 20)
        .keep_alive_interval(Some(KEEP_ALIVE));
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(datagrams.payload_max());
    t.mtu_discovery_config(Some(mtu));
    t.max_idle_timeout(Some(
        IDLE_TIMEOUT
            .try_into()
            .expect("seconds fit QUIC's idle timeout"),
    ));
    Arc::new(t)
}

/// What a member serves with: its certificate; client certificates are
/// checked against the CA when presented.
pub(crate) fn server_config(
    id: &Identity,
    datagrams: Datagrams,
) -> Result<quinn::ServerConfig, TransportError> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(
        roots(cert_der(&id.ca_pem)?)?,
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(tls)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain(id)?, key_der(&id.key_pem)?)
        .map_err(tls)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(config).map_err(tls)?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(transport(datagrams));
    Ok(server)
}

/// What a member connects with: its certificate, and only servers with a
/// certificate from the same CA are accepted.
pub(crate) fn member_client_config(
    id: &Identity,
    datagrams: Datagrams,
) -> Result<quinn::ClientConfig, TransportError> {
    let provider = provider();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_root_certificates(roots(cert_der(&id.ca_pem)?)?)
        .with_client_auth_cert(chain(id)?, key_der(&id.key_pem)?)
        .map_err(tls)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    client(config, datagrams)
}

/// What a node that has no certificate yet connects with: no client
/// certificate, and the server must present a chain whose CA has the
/// SHA-256 `ca_fingerprint`.
pub(crate) fn joiner_client_config(
    ca_fingerprint: [u8; 32],
    datagrams: Datagrams,
) -> Result<quinn::ClientConfig, TransportError> {
    let provider = provider();
    let verifier = Arc::new(FingerprintVerifier {
        ca_fingerprint,
        provider: provider.clone(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    client(config, datagrams)
}

fn client(
    config: rustls::ClientConfig,
    datagrams: Datagrams,
) -> Result<quinn::ClientConfig, TransportError> {
    let crypto = QuicClientConfig::try_from(config).map_err(tls)?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    client.transport_config(transport(datagrams));
    Ok(client)
}

/// Accepts a server whose chain holds the CA with the expected
/// fingerprint and whose own certificate that CA signed for the name
/// asked for (always [`crate::pki::MEMBER_NAME`] when joining).
#[derive(Debug)]
struct FingerprintVerifier {
    ca_fingerprint: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| {
                let digest: [u8; 32] = Sha256::digest(c.as_ref()).into();
                subtle::ConstantTimeEq::ct_eq(&digest[..], &self.ca_fingerprint[..]).into()
            })
            .ok_or(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))?;
        let roots =
            roots(ca.clone().into_owned()).map_err(|e| rustls::Error::General(e.to_string()))?;
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is offered.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
