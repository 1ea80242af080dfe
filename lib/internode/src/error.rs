//! `TransportError`: why a connection, a stream or a message failed.

/// A failure of the internode transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A certificate or key could not be made, read or used.
    #[error("certificates: {0}")]
    Pki(String),
    /// The UDP socket could not be bound.
    #[error("binding {addr}: {reason}")]
    Bind { addr: String, reason: String },
    /// No connection to the peer (unreachable, handshake refused, timed out).
    #[error("connecting to {peer}: {reason}")]
    Connect { peer: String, reason: String },
    /// The stream or its connection broke.
    #[error("stream: {0}")]
    Stream(String),
    /// The peer refused the stream: the caller has no cluster certificate.
    #[error("refused: a cluster certificate is required")]
    Forbidden,
    /// The peer does not serve the service asked for.
    #[error("the peer does not serve this service")]
    UnknownService,
    /// A message did not decode.
    #[error("bad message: {0}")]
    Decode(String),
    /// A message announced more bytes than allowed.
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The peer did not answer in time.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
}
