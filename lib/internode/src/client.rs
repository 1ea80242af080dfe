//! `RemoteNode`: a storage node on another machine, reached through the
//! local [`Endpoint`]. It implements `ObjectNode` (in `object`) and
//! `ExtentNode` (in `extent`), so callers cannot tell it from a local node.

use std::sync::Arc;
use std::time::Duration;

use cairn_nodeapi::NodeError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::wire::{finish, recv_msg, send_msg};
use crate::{Endpoint, Peer, ServiceId, Stream, TransportError};

/// How long a request without a body may wait for its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A storage node reached over QUIC.
#[derive(Clone)]
pub struct RemoteNode {
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) peer: Peer,
}

impl RemoteNode {
    /// The node at `peer`, reached through `endpoint`.
    pub fn new(endpoint: Arc<Endpoint>, peer: Peer) -> RemoteNode {
        RemoteNode { endpoint, peer }
    }

    /// The peer this client talks to.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// A transport failure as the storage API reports it.
    pub(crate) fn unreachable(&self, e: TransportError) -> NodeError {
        NodeError::Unreachable(format!("{}: {e}", self.peer.addr))
    }

    /// Opens a stream to `service` and sends `request`.
    pub(crate) async fn start<Q: Serialize>(
        &self,
        service: ServiceId,
        request: &Q,
    ) -> Result<Stream, NodeError> {
        let mut stream = self
            .endpoint
            .open(&self.peer, service)
            .await
            .map_err(|e| self.unreachable(e))?;
        send_msg(&mut stream.send, request)
            .await
            .map_err(|e| self.unreachable(e))?;
        Ok(stream)
    }

    /// One request, one answer (`Result<A, NodeError>` on the wire), within
    /// [`REQUEST_TIMEOUT`].
    pub(crate) async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        service: ServiceId,
        request: &Q,
    ) -> Result<A, NodeError> {
        self.within(async {
            let mut stream = self.start(service, request).await?;
            finish(&mut stream.send);
            self.answer(&mut stream).await
        })
        .await
    }

    /// Reads a `Result<A, NodeError>` answer.
    pub(crate) async fn answer<A: DeserializeOwned>(
        &self,
        stream: &mut Stream,
    ) -> Result<A, NodeError> {
        recv_msg::<Result<A, NodeError>>(&mut stream.recv)
            .await
            .map_err(|e| self.unreachable(e))?
    }

    /// Runs an exchange, failing it as unreachable after [`REQUEST_TIMEOUT`].
    pub(crate) async fn within<T>(
        &self,
        exchange: impl std::future::Future<Output = Result<T, NodeError>>,
    ) -> Result<T, NodeError> {
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| self.unreachable(TransportError::Timeout(REQUEST_TIMEOUT)))?
    }
}

/// Sends a service's answer and ends the stream.
pub(crate) async fn reply<A: Serialize>(stream: &mut Stream, answer: &Result<A, NodeError>) {
    if let Err(e) = send_msg(&mut stream.send, answer).await {
        tracing::debug!(error = %e, "internode answer not delivered");
    }
    finish(&mut stream.send);
}
