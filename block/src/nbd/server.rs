//! The accept loop: one task per connection, a handshake (upgraded to
//! TLS when required) then transmission, and a graceful shutdown (stop
//! accepting, let requests in flight finish, close).

use super::handshake::{negotiate, Attached, HandshakeError, Link};
use super::tls::ServerTls;
use super::transmission::{transmit, End, TransmitError};
use crate::device::Exports;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, error, field, info, info_span, warn, Instrument, Span};

/// Most connections served at once; past it, new ones wait in the
/// listen backlog.
pub const CONNECTIONS_MAX: usize = 4096;
/// How long a client may take to choose an export.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause after an accept error (such as running out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// An NBD server (fixed newstyle) over a set of exports.
pub struct NbdServer {
    exports: Arc<dyn Exports>,
    tls: Option<ServerTls>,
}

impl NbdServer {
    /// A server that takes plain connections.
    pub fn new(exports: Arc<dyn Exports>) -> NbdServer {
        NbdServer { exports, tls: None }
    }

    /// With `Some`, every client must upgrade to TLS (`NBD_OPT_STARTTLS`)
    /// and present a certificate from the CA before anything else; with
    /// `None`, plain connections as [`NbdServer::new`] takes them.
    pub fn with_tls(self, tls: Option<ServerTls>) -> NbdServer {
        NbdServer { tls, ..self }
    }

    /// Serves clients from `listener` until `shutdown` completes; then
    /// stops accepting, lets every request in flight finish and be
    /// answered, closes the connections and returns. Accept errors are
    /// logged and retried: they are the machine's (descriptors, memory),
    /// not the server's.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut shutdown = pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept(), if connections.len() < CONNECTIONS_MAX => {
                    match accepted {
                        Ok((stream, peer)) => {
                            let span = info_span!("nbd", %peer, export = field::Empty);
                            let conn = connection(
                                stream,
                                self.exports.clone(),
                                self.tls.clone(),
                                stop_rx.clone(),
                            );
                            connections.spawn(conn.instrument(span));
                        }
                        Err(e) => {
                            warn!(error = %e, "accept failed");
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                        }
                    }
                }
                Some(done) = connections.join_next(), if !connections.is_empty() => {
                    log_panic(done);
                }
            }
        }
        drop(listener);
        info!(connections = connections.len(), "NBD server shutting down");
        // Receivers see `true` and finish: a send error means none is left.
        let _ = stop_tx.send(true);
        while let Some(done) = connections.join_next().await {
            log_panic(done);
        }
    }
}

fn log_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        error!(error = %e, "NBD connection task failed");
    }
}

/// Completes when the server begins shutting down.
async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the server is gone: stop as well.
    let _ = stop.wait_for(|&s| s).await;
}

/// One client, from greeting to close.
async fn connection(
    stream: TcpStream,
    exports: Arc<dyn Exports>,
    tls: Option<ServerTls>,
    stop: watch::Receiver<bool>,
) {
    // Replies are whole messages: never hold one back for Nagle.
    if let Err(e) = stream.set_nodelay(true) {
        warn!(error = %e, "TCP_NODELAY not set");
    }
    debug!("connected");
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        negotiate(stream, &*exports, tls.as_ref()),
    );
    let negotiated = tokio::select! {
        biased;
        () = stopped(stop.clone()) => return debug!("closed during handshake: shutting down"),
        negotiated = handshake => negotiated,
    };
    let (attached, link) = match negotiated {
        Ok(Ok(Some(attached))) => attached,
        Ok(Ok(None)) => return debug!("client aborted the handshake"),
        Ok(Err(HandshakeError::Io(e))) => return debug!(error = %e, "handshake cut short"),
        Ok(Err(e)) => return info!(error = %e, "handshake failed"),
        Err(_) => return info!("handshake timed out after {HANDSHAKE_TIMEOUT:?}"),
    };
    Span::current().record("export", attached.name.as_str());
    let tls = matches!(link, Link::Tls(_));
    info!(structured = attached.session.structured, tls, "attached");
    let ended = match link {
        Link::Plain(stream) => {
            let (reader, writer) = stream.into_split();
            serve_export(reader, writer, attached, stop).await
        }
        Link::Tls(stream) => {
            let (reader, writer) = tokio::io::split(*stream);
            serve_export(reader, writer, attached, stop).await
        }
    };
    match ended {
        Ok(End::Disconnect) => debug!("client disconnected"),
        Ok(end) => info!(?end, "connection closed"),
        Err(e) => warn!(error = %e, "connection closed"),
    }
}

/// The transmission phase of `attached` over either kind of link.
async fn serve_export<R, W>(
    reader: R,
    writer: W,
    attached: Attached,
    stop: watch::Receiver<bool>,
) -> Result<End, TransmitError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    transmit(
        reader,
        writer,
        attached.device,
        attached.session,
        stopped(stop),
    )
    .await
}
