//! The HTTP/1.1 server in front of Cairn's proxy (Swift and S3 listeners).
//!
//! Why not hyper: Swift's clients and its functional tests rely on two
//! things hyper will not do (decision 0014). A request target with raw bytes
//! outside ASCII must reach the application, which answers "412 Invalid
//! UTF8" as Swift does; hyper answers 400 before the application sees it.
//! And a `Content-Length: 0` on a 204 must go out as set; hyper drops it.
//!
//! What it does: HTTP/1.1 and 1.0 with keep-alive and pipelining; request
//! bodies by Content-Length or chunked coding, streamed to the application
//! as it reads them (`Expect: 100-continue` answered on the first read);
//! responses written as the application set them, framed by length or
//! chunks; header names in Title-Case (Swift) or lowercase (S3); limits on
//! head size, header count, head and idle time; graceful shutdown that lets
//! requests in flight finish. No upgrades, no HTTP/2.
//!
//! Layout: `head` parses request heads, `chunked` decodes chunked bodies
//! (both without I/O, for tests and fuzzing), `body` streams request bodies
//! off the socket, `response` writes responses, `conn` runs a connection.

mod body;
pub mod chunked;
mod conn;
pub mod head;
mod response;

pub use body::{BodyError, RequestBody};
pub use response::HeaderCase;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::Service;

/// How a listener serves its connections.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub case: HeaderCase,
    /// Most header fields in a request (at most [`head::MAX_HEADERS_CAP`]).
    pub max_headers: usize,
    /// Most bytes in a request head.
    pub max_head_bytes: usize,
    /// How long a started request head may take to arrive.
    pub head_timeout: Duration,
    /// How long a connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
}

impl Config {
    pub fn new(case: HeaderCase) -> Self {
        Config {
            case,
            // Swift's 90 metadata items plus room for the usual headers, so
            // the proxy (not this parser) answers "too many metadata items".
            max_headers: head::MAX_HEADERS_CAP,
            max_head_bytes: 256 * 1024,
            head_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish (bounded by `drain_timeout`) and closes idle
/// connections.
pub async fn serve<S, B>(
    listener: TcpListener,
    app: S,
    config: Config,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            () = &mut shutdown => break,
        };
        // A response's head and body may leave in separate writes; with
        // Nagle on, the body would wait for the client's delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
        conns.spawn(conn::serve(stream, app.clone(), config, stop_rx.clone()));
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(config.drain_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "connections still open after {:?}; closing them",
            config.drain_timeout
        );
        conns.shutdown().await;
    }
}

#[cfg(test)]
mod tests;
