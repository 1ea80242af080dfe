//! One client connection: read a head, call the application, write its
//! response, take the reader back from the body, drain what the
//! application left unread, and go again while keep-alive allows.

use crate::body::{Reader, Remaining, RequestBody, Returned};
use crate::head::{self, Framing, Limits};
use crate::response::{self, HeaderCase, RequestInfo};
use crate::Config;
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use std::convert::Infallible;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::time::{timeout, Instant};
use tower::{Service, ServiceExt};

/// Bytes buffered on the write side before they go out in one write.
const WRITE_BUFFER: usize = 64 * 1024;

/// Serves requests on `stream` until the client closes, keep-alive ends, an
/// error breaks framing, or `stop` turns true between two requests.
pub async fn serve<S, B>(stream: TcpStream, app: S, config: Config, mut stop: watch::Receiver<bool>)
where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible> + Clone,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let (rd, wr) = stream.into_split();
    let mut reader = Reader::new(rd);
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, wr);
    loop {
        let head = tokio::select! {
            head = read_head(&mut reader, &config) => head,
            _ = stop.wait_for(|s| *s) => return,
        };
        let head = match head {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(refused) => {
                if let Some(status) = refused {
                    let _ = out.write_all(&response::refusal(status)).await;
                    let _ = out.flush().await;
                }
                return;
            }
        };
        let Some(next) = exchange(reader, &mut out, app.clone(), head, &stop, config.case).await
        else {
            return;
        };
        reader = next;
    }
}

/// Waits for a whole head: `Ok(None)` if the client closed (or went idle)
/// between requests, `Err(Some(status))` to refuse it, `Err(None)` to just
/// close.
async fn read_head(
    reader: &mut Reader,
    config: &Config,
) -> Result<Option<head::Head>, Option<http::StatusCode>> {
    let limits = Limits {
        max_headers: config.max_headers,
        max_head_bytes: config.max_head_bytes,
        max_uri_bytes: config.max_head_bytes,
    };
    let mut deadline = None;
    loop {
        // Leading blank lines before a request are ignored (RFC 9112 §2.2).
        while reader.buf.starts_with(b"\r\n") {
            let _ = reader.buf.split_to(2);
        }
        if !reader.buf.is_empty() {
            match head::parse(&reader.buf, &limits) {
                Ok(Some((head, len))) => {
                    let _ = reader.buf.split_to(len);
                    return Ok(Some(head));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "refusing a request head");
                    return Err(Some(e.status()));
                }
            }
        }
        // Idle between requests: up to the keep-alive limit. Once a head has
        // begun it must arrive whole within the head timeout.
        let limit = if reader.buf.is_empty() {
            Instant::now() + config.idle_timeout
        } else {
            *deadline.get_or_insert(Instant::now() + config.head_timeout)
        };
        match tokio::time::timeout_at(limit, reader.fill(0)).await {
            Ok(Ok(0)) if reader.buf.is_empty() => return Ok(None),
            Ok(Ok(0)) | Ok(Err(_)) => return Err(None),
            Ok(Ok(_)) => {}
            Err(_) if reader.buf.is_empty() => return Ok(None),
            Err(_) => return Err(Some(http::StatusCode::REQUEST_TIMEOUT)),
        }
    }
}

/// One request and its response; gives the reader back if the connection
/// can carry another request.
async fn exchange<S, B>(
    reader: Reader,
    out: &mut BufWriter<OwnedWriteHalf>,
    app: S,
    head: head::Head,
    stop: &watch::Receiver<bool>,
    case: HeaderCase,
) -> Option<Reader>
where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let remaining = match head.framing {
        Framing::Length(0) => Remaining::Done,
        Framing::Length(n) => Remaining::Length(n),
        Framing::Chunked => Remaining::Chunked(Default::default()),
    };
    let (back_tx, back_rx) = oneshot::channel();
    let (go_tx, mut go_rx) = if head.expect_continue && remaining != Remaining::Done {
        let (tx, rx) = oneshot::channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let mut info = RequestInfo {
        method: head.method.clone(),
        version: head.version,
        keep_alive: head.keep_alive,
    };
    let mut parts = Request::new(()).into_parts().0;
    parts.method = head.method;
    parts.uri = head.uri;
    parts.version = head.version;
    parts.headers = head.headers;
    // A request without a body keeps the reader here: nothing to hand back.
    let (body, mut kept) = if remaining == Remaining::Done {
        (RequestBody::empty(), Some(reader))
    } else {
        (RequestBody::new(reader, remaining, back_tx, go_tx), None)
    };
    let call = app.oneshot(Request::from_parts(parts, body));
    tokio::pin!(call);
    let resp = loop {
        tokio::select! {
            resp = &mut call => break resp,
            Ok(()) = async { go_rx.as_mut().expect("guarded").await }, if go_rx.is_some() => {
                go_rx = None;
                if out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
                    || out.flush().await.is_err()
                {
                    return None;
                }
            }
        }
    };
    let resp = match resp {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    // Answered without "100 Continue": the client may or may not send the
    // body, so this connection's framing is lost after the response. And
    // a server shutting down closes after the request in flight.
    info.keep_alive &= go_rx.is_none() && !*stop.borrow();
    let keep_alive = match response::write(out, resp, &info, case).await {
        Ok(keep) => keep,
        Err(e) => {
            tracing::debug!(error = %e, "writing a response failed");
            return None;
        }
    };
    if !keep_alive {
        return None;
    }
    match kept.take() {
        Some(reader) => Some(reader),
        None => reclaim(back_rx).await,
    }
}

/// How long the connection waits for the application to let go of a body
/// after its response has been written.
const RECLAIM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Most unread body bytes drained so that the connection can be reused.
const DRAIN_MAX: u64 = 1024 * 1024;

/// Takes the reader back from the request body and drains what the
/// application left of it; `None` if that is not possible in reason.
async fn reclaim(back: oneshot::Receiver<Returned>) -> Option<Reader> {
    let Returned {
        mut reader,
        mut remaining,
    } = timeout(RECLAIM_TIMEOUT, back).await.ok()?.ok()?;
    let drain = async {
        let mut drained = 0u64;
        while remaining != Remaining::Done {
            let data = remaining.next(&mut reader).await.ok()?;
            drained += data.len() as u64;
            if drained > DRAIN_MAX {
                return None;
            }
        }
        Some(reader)
    };
    timeout(RECLAIM_TIMEOUT, drain).await.ok()?
}
