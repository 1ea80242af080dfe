//! The HTTP/1.1 server in front of the proxy's router: hyper configured the
//! way Swift's clients expect, with graceful shutdown.
//!
//! `axum::serve` offers none of hyper's connection settings; Swift's clients
//! and functional tests need three of them: headers written in Title-Case
//! (as Swift's eventlet server does; the S3 listener keeps S3's lowercase,
//! since clients read user metadata names off the header names), room for Swift's 90 metadata headers
//! plus the usual ones (hyper's default is 100 headers in all), and
//! TCP_NODELAY (a response's headers and body leave in separate writes; with
//! Nagle on, the body would wait ~40 ms for the client's delayed ACK).

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// Most request headers: Swift's 90 metadata items plus room for the rest,
/// so the proxy (not the HTTP parser) answers "too many metadata items".
const REQUEST_HEADERS_MAX: usize = 256;
/// How long shutdown waits for in-flight requests to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How response header names are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderCase {
    /// `Content-Type`, as Swift's eventlet server writes them.
    Title,
    /// `content-type`, as S3 writes them.
    Lower,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains the
/// open connections (bounded by [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    case: HeaderCase,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .title_case_headers(case == HeaderCase::Title)
        .max_headers(REQUEST_HEADERS_MAX)
        .keep_alive(true);
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
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}
