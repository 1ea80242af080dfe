//! `Endpoint`: a process's one QUIC socket. It serves the services
//! registered on it and opens streams to peers over connections it caches
//! (one per peer, re-made when it breaks).
//!
//! A stream starts with one byte, the [`ServiceId`]; the service then
//! owns the stream. A caller that presented no cluster certificate reaches
//! only services that say they are open to anonymous callers; any other
//! stream of its is reset with [`FORBIDDEN`] before its request is read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use quinn::{RecvStream, SendStream, VarInt};

use crate::udp::{self, Datagrams};
use crate::{tls, Identity, TransportError};

/// Stream reset code: the caller has no cluster certificate.
pub const FORBIDDEN: u64 = 0x403;
/// Stream reset code: no such service here.
pub const UNKNOWN_SERVICE: u64 = 0x404;

/// How long a connection attempt may take (nodes share a LAN or a machine).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a caller may take to name the service of its stream.
const SERVICE_TAG_TIMEOUT: Duration = Duration::from_secs(10);
/// A client-only endpoint binds every interface, so it may reach other
/// machines.
const CLIENT_DATAGRAMS: Datagrams = Datagrams::Batched;

/// The services a stream can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ServiceId {
    /// Object storage on a node's devices (`ObjectNode`).
    Object = 1,
    /// Volume extents on a node's devices (`ExtentNode`).
    Extent = 2,
    /// The metadata group's Raft messages.
    Raft = 3,
    /// Metadata requests forwarded to the Raft leader.
    Meta = 4,
    /// A new node asking to join (the only service open to anonymous callers).
    Join = 5,
    /// The operator's questions to a node (`cairn cluster status`).
    Admin = 6,
}

impl ServiceId {
    fn from_byte(b: u8) -> Option<ServiceId> {
        [
            ServiceId::Object,
            ServiceId::Extent,
            ServiceId::Raft,
            ServiceId::Meta,
            ServiceId::Join,
            ServiceId::Admin,
        ]
        .into_iter()
        .find(|s| *s as u8 == b)
    }
}

/// Who opened a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A holder of a certificate from the cluster CA.
    Member,
    /// A caller without one (a node that is joining).
    Anonymous,
}

/// Both halves of one request's stream.
pub struct Stream {
    pub send: SendStream,
    pub recv: RecvStream,
}

/// A peer to connect to: its address, and the TLS name its certificate
/// must carry (see [`crate::pki::member_dns_name`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    pub name: String,
}

/// Something served on an endpoint.
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// Whether callers without a cluster certificate may open it.
    fn open_to_anonymous(&self) -> bool {
        false
    }

    /// Serves one stream; the service owns it until it returns.
    async fn serve(&self, caller: Caller, stream: Stream);
}

/// What is known of one peer. Once a connection attempt failed, the peer
/// is down: calls to it fail at once (so no request waits out a connect
/// timeout against a dead node) while one background attempt at a time
/// tries to reach it again; the first that succeeds brings it back.
#[derive(Default)]
struct PeerState {
    conn: Option<quinn::Connection>,
    down: bool,
    probing: bool,
}

impl PeerState {
    /// The cached connection, if it is still open.
    fn live(&self) -> Option<quinn::Connection> {
        self.conn
            .as_ref()
            .filter(|c| c.close_reason().is_none())
            .cloned()
    }
}

type Slot = Arc<tokio::sync::Mutex<PeerState>>;

/// A process's QUIC endpoint.
pub struct Endpoint {
    quic: quinn::Endpoint,
    services: RwLock<HashMap<u8, Arc<dyn Service>>>,
    connections: Mutex<HashMap<Peer, Slot>>,
}

impl Endpoint {
    /// A member's endpoint on `addr`: it serves, and connects with the
    /// member's certificate.
    pub fn member(addr: SocketAddr, id: &Identity) -> Result<Arc<Endpoint>, TransportError> {
        Self::member_sized(addr, id, Datagrams::for_local(addr))
    }

    /// A member's endpoint whose datagrams are sized as `datagrams` says.
    fn member_sized(
        addr: SocketAddr,
        id: &Identity,
        datagrams: Datagrams,
    ) -> Result<Arc<Endpoint>, TransportError> {
        let mut quic = bound(addr, datagrams, Some(tls::server_config(id, datagrams)?))?;
        quic.set_default_client_config(tls::member_client_config(id, datagrams)?);
        Ok(Self::new(quic))
    }

    /// A client-only endpoint with a member's certificate: an operator's
    /// tool, which asks nodes questions and serves nothing.
    pub fn member_client(id: &Identity) -> Result<Arc<Endpoint>, TransportError> {
        Self::client(tls::member_client_config(id, CLIENT_DATAGRAMS)?)
    }

    /// A client-only endpoint for a node that is joining: it has no
    /// certificate and accepts only servers whose CA has `ca_fingerprint`.
    pub fn joiner(ca_fingerprint: [u8; 32]) -> Result<Arc<Endpoint>, TransportError> {
        Self::client(tls::joiner_client_config(ca_fingerprint, CLIENT_DATAGRAMS)?)
    }

    /// A client-only endpoint with `config`.
    fn client(config: quinn::ClientConfig) -> Result<Arc<Endpoint>, TransportError> {
        let mut quic = bound(SocketAddr::from(([0, 0, 0, 0], 0)), CLIENT_DATAGRAMS, None)?;
        quic.set_default_client_config(config);
        Ok(Self::new(quic))
    }

    fn new(quic: quinn::Endpoint) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            quic,
            services: RwLock::default(),
            connections: Mutex::default(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        self.quic.local_addr().map_err(|e| TransportError::Bind {
            addr: "?".into(),
            reason: e.to_string(),
        })
    }

    /// Serves `service` under `id` (replacing what was there).
    pub fn register(&self, id: ServiceId, service: Arc<dyn Service>) {
        self.services
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id as u8, service);
    }

    /// Accepts connections until [`close`](Self::close).
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(incoming) = me.quic.accept().await {
                let me = me.clone();
                tokio::spawn(async move {
                    match incoming.await {
                        Ok(conn) => me.serve_connection(conn).await,
                        Err(e) => tracing::debug!(error = %e, "internode handshake failed"),
                    }
                });
            }
        })
    }

    async fn serve_connection(self: Arc<Self>, conn: quinn::Connection) {
        // The verifier checked any chain presented; presenting one is membership.
        let caller = match conn
            .peer_identity()
            .and_then(|id| id.downcast::<Vec<rustls::pki_types::CertificateDer>>().ok())
        {
            Some(chain) if !chain.is_empty() => Caller::Member,
            _ => Caller::Anonymous,
        };
        tracing::debug!(peer = %conn.remote_address(), ?caller, "internode connection");
        while let Ok((send, recv)) = conn.accept_bi().await {
            let me = self.clone();
            tokio::spawn(async move { me.serve_stream(caller, send, recv).await });
        }
    }

    async fn serve_stream(&self, caller: Caller, mut send: SendStream, mut recv: RecvStream) {
        let mut tag = [0u8; 1];
        match tokio::time::timeout(SERVICE_TAG_TIMEOUT, recv.read_exact(&mut tag)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
        let service = ServiceId::from_byte(tag[0]).and_then(|_| {
            self.services
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&tag[0])
                .cloned()
        });
        let refuse = |send: &mut SendStream, recv: &mut RecvStream, code: u64| {
            let code = VarInt::from_u64(code).expect("small code");
            let _ = send.reset(code);
            let _ = recv.stop(code);
        };
        match service {
            None => refuse(&mut send, &mut recv, UNKNOWN_SERVICE),
            Some(s) if caller == Caller::Anonymous && !s.open_to_anonymous() => {
                refuse(&mut send, &mut recv, FORBIDDEN)
            }
            Some(s) => s.serve(caller, Stream { send, recv }).await,
        }
    }

    /// Opens a stream to `service` on `peer`, connecting first if need be.
    pub async fn open(&self, peer: &Peer, service: ServiceId) -> Result<Stream, TransportError> {
        let conn = self.connection(peer).await?;
        let (mut send, recv) = match conn.open_bi().await {
            Ok(s) => s,
            // A connection that cannot open streams is broken: the next
            // call makes a new one.
            Err(e) => {
                conn.close(VarInt::from_u32(0), b"stream failed");
                return Err(TransportError::Stream(e.to_string()));
            }
        };
        send.write_all(&[service as u8])
            .await
            .map_err(crate::wire::write_error)?;
        Ok(Stream { send, recv })
    }

    async fn connection(&self, peer: &Peer) -> Result<quinn::Connection, TransportError> {
        let state = self
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(peer.clone())
            .or_default()
            .clone();
        if let Some(conn) = state.lock().await.live() {
            return Ok(conn);
        }
        // The attempt runs in a task of its own. Callers give up early (a
        // Raft heartbeat waits 100 ms, a PUT's last replica 500 ms); had
        // the attempt run in the caller, each would cancel it before its
        // 1 s timeout, so a dead peer was never marked down and every call
        // to it waited out its caller's timeout instead of failing at once
        // (13 s after a kill -9 under a PUT load).
        let (quic, attempt_peer) = (self.quic.clone(), peer.clone());
        tokio::spawn(async move { connect_slot(&quic, &attempt_peer, &state).await })
            .await
            .map_err(|e| connect_failed(peer, e))?
    }

    /// Closes every connection and stops accepting; waits briefly for
    /// peers to learn of it.
    pub async fn close(&self) {
        self.quic.close(VarInt::from_u32(0), b"shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.quic.wait_idle()).await;
    }
}

/// A QUIC endpoint on a UDP socket bound to `addr`, serving with `server`
/// if given; it accepts datagrams up to what `datagrams` allows, so peers
/// may discover their way up to that size.
fn bound(
    addr: SocketAddr,
    datagrams: Datagrams,
    server: Option<quinn::ServerConfig>,
) -> Result<quinn::Endpoint, TransportError> {
    let bind = |e: std::io::Error| TransportError::Bind {
        addr: addr.to_string(),
        reason: e.to_string(),
    };
    let mut config = quinn::EndpointConfig::default();
    config
        .max_udp_payload_size(datagrams.payload_max())
        .expect("the payload bound is within QUIC's");
    let runtime = Arc::new(quinn::TokioRuntime);
    let socket = udp::bind(addr, datagrams, &*runtime).map_err(bind)?;
    quinn::Endpoint::new_with_abstract_socket(config, server, socket, runtime).map_err(bind)
}

/// The live connection in `state`, or one attempt at making it: at once
/// an error while the peer is down (starting a background probe if none
/// runs), else a connection attempt whose failure marks the peer down.
async fn connect_slot(
    quic: &quinn::Endpoint,
    peer: &Peer,
    state: &Slot,
) -> Result<quinn::Connection, TransportError> {
    let mut slot = state.lock().await;
    // Another caller's attempt may have finished while this one waited.
    if let Some(conn) = slot.live() {
        return Ok(conn);
    }
    if slot.down {
        if !slot.probing {
            slot.probing = true;
            let (quic, peer, state) = (quic.clone(), peer.clone(), state.clone());
            tokio::spawn(async move {
                let conn = connect(&quic, &peer).await.ok();
                let mut state = state.lock().await;
                state.probing = false;
                if let Some(conn) = conn {
                    tracing::info!(peer = %peer.addr, "internode peer reachable again");
                    state.conn = Some(conn);
                    state.down = false;
                }
            });
        }
        return Err(connect_failed(
            peer,
            "down (it did not answer the last attempt)",
        ));
    }
    match connect(quic, peer).await {
        Ok(conn) => {
            slot.conn = Some(conn.clone());
            Ok(conn)
        }
        Err(e) => {
            tracing::warn!(peer = %peer.addr, error = %e, "internode peer down");
            slot.conn = None;
            slot.down = true;
            Err(e)
        }
    }
}

/// One connection attempt, within [`CONNECT_TIMEOUT`].
async fn connect(quic: &quinn::Endpoint, peer: &Peer) -> Result<quinn::Connection, TransportError> {
    let connecting = quic
        .connect(peer.addr, &peer.name)
        .map_err(|e| connect_failed(peer, e))?;
    tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| connect_failed(peer, format!("no answer in {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| connect_failed(peer, e))
}

fn connect_failed(peer: &Peer, reason: impl std::fmt::Display) -> TransportError {
    TransportError::Connect {
        peer: format!("{} ({})", peer.addr, peer.name),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::member_dns_name;
    use crate::ClusterCa;
    use bytes::Bytes;

    /// Reads and drops whatever a stream carries.
    struct Sink;

    #[async_trait]
    impl Service for Sink {
        async fn serve(&self, _: Caller, mut stream: Stream) {
            while let Ok(Some(_)) = stream.recv.read_chunk(1 << 20, true).await {}
        }
    }

    /// An endpoint of `name` on loopback with the given sizing.
    fn on_loopback(ca: &ClusterCa, name: &str, datagrams: Datagrams) -> Arc<Endpoint> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Endpoint::member_sized(addr, &ca.issue(name).unwrap(), datagrams).unwrap()
    }

    /// The path MTU a connection settles on while it streams bytes.
    async fn discovered_payload(datagrams: Datagrams) -> u16 {
        let ca = ClusterCa::generate().unwrap();
        let server = on_loopback(&ca, "node-1", datagrams);
        server.register(ServiceId::Object, Arc::new(Sink));
        server.start();
        let client = on_loopback(&ca, "node-2", datagrams);
        let peer = Peer {
            addr: server.local_addr().unwrap(),
            name: member_dns_name("node-1"),
        };
        let mut stream = client.open(&peer, ServiceId::Object).await.unwrap();
        let conn = client.connection(&peer).await.unwrap();
        let chunk = Bytes::from(vec![7u8; 256 << 10]);
        // MTU discovery probes while data flows (well under a second on
        // loopback); a loaded CI machine gets 20 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut mtu = 0;
        while tokio::time::Instant::now() < deadline {
            stream.send.write_chunk(chunk.clone()).await.unwrap();
            mtu = conn.stats().path.current_mtu;
            if mtu >= datagrams.payload_max() - 64 {
                break;
            }
        }
        client.close().await;
        server.close().await;
        mtu
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_sizing_reaches_its_bound_on_loopback() {
        // Batched: 10 packets of 6,500 bytes still fit one GSO send, so
        // discovery is not thrown back to 1,200 (decision 0020).
        // Whole: one datagram of about 64 KiB per send (decision 0027).
        for datagrams in [Datagrams::Batched, Datagrams::Whole] {
            let mtu = discovered_payload(datagrams).await;
            assert!(
                (datagrams.payload_max() - 64..=datagrams.payload_max()).contains(&mtu),
                "{datagrams:?}: the path settled at {mtu} bytes"
            );
        }
    }
}
