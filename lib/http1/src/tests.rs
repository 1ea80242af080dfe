//! The server over real sockets, driven with raw bytes.

use super::*;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `/echo` answers with the body it read and the path it saw; `/early`
/// answers 401 without reading the body; `/empty` answers 204 with a
/// length of 0; `/pieces` answers with the sizes of the pieces the body
/// came in, comma-separated.
async fn app(req: Request<RequestBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let resp = match path.as_str() {
        "/pieces" => {
            let mut body = req.into_body();
            let mut sizes = Vec::new();
            while let Some(frame) = body.frame().await {
                let data = frame.expect("a readable body").into_data().expect("data");
                sizes.push(data.len().to_string());
            }
            Response::builder().body(Full::new(Bytes::from(sizes.join(","))))
        }
        "/early" => Response::builder().status(401).body(Full::default()),
        "/empty" => Response::builder()
            .status(204)
            .header("content-length", "0")
            .body(Full::default()),
        _ => match req.into_body().collect().await {
            Ok(body) => Response::builder()
                .header("x-path", path)
                .body(Full::new(body.to_bytes())),
            Err(e) => Response::builder()
                .status(400)
                .body(Full::new(Bytes::from(e.to_string()))),
        },
    };
    Ok(resp.expect("valid response"))
}

struct Server {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut config = Config::new(HeaderCase::Title);
    config.max_headers = 16;
    config.drain_timeout = Duration::from_secs(5);
    let done = tokio::spawn(serve(
        listener,
        tower::service_fn(app),
        config,
        async move {
            let _ = rx.await;
        },
    ));
    Server {
        addr,
        stop: Some(tx),
        done,
    }
}

/// One response off `conn`: its head (lines, no CRLFs) and body. Bodies are
/// framed by Content-Length (chunked answers are not used here).
async fn response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut slots);
        if let Ok(httparse::Status::Complete(n)) = parsed.parse(buf) {
            let len: usize = parsed
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .unwrap_or(0);
            let no_body = parsed.code == Some(204) || parsed.code == Some(100);
            let len = if no_body { 0 } else { len };
            if buf.len() >= n + len {
                let head = String::from_utf8_lossy(&buf[..n]).replace("\r\n", "\n");
                let body = buf[n..n + len].to_vec();
                buf.drain(..n + len);
                return Some((head, body));
            }
        }
        let mut more = [0u8; 4096];
        let got = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut more))
            .await
            .expect("a response within 10 s")
            .unwrap();
        if got == 0 {
            return None;
        }
        buf.extend_from_slice(&more[..got]);
    }
}

#[tokio::test]
async fn pipelined_requests_with_both_framings_and_raw_bytes() {
    let server = start().await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(
        b"PUT /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
          PUT /echo/\xff\xfe HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n\
          GET /empty HTTP/1.1\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let (head, body) = response(&mut conn, &mut buf).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\n"), "{head}");
    assert!(
        head.contains("X-Path: /echo\n") && head.contains("Date: "),
        "{head}"
    );
    assert_eq!(body, b"hello");
    let (head, body) = response(&mut conn, &mut buf).await.unwrap();
    assert!(head.contains("X-Path: /echo/%FF%FE\n"), "{head}");
    assert_eq!(body, b"abcde");
    let (head, _) = response(&mut conn, &mut buf).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 204 No Content\n"), "{head}");
    assert!(head.contains("Content-Length: 0\n"), "{head}");
}

#[tokio::test]
async fn an_unread_body_is_drained_and_the_connection_reused() {
    let server = start().await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    let body = vec![b'x'; 300_000];
    conn.write_all(b"PUT /early HTTP/1.1\r\nContent-Length: 300000\r\n\r\n")
        .await
        .unwrap();
    conn.write_all(&body).await.unwrap();
    conn.write_all(b"PUT /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nok")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let (head, _) = response(&mut conn, &mut buf).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let (_, body) = response(&mut conn, &mut buf).await.unwrap();
    assert_eq!(body, b"ok");
}

/// The pieces `/pieces` reported.
fn piece_sizes(body: &[u8]) -> Vec<usize> {
    std::str::from_utf8(body)
        .unwrap()
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_length_body_sent_in_small_writes_is_read_in_large_pieces() {
    // The socket hands over what it has, 32 KiB at a time here; the body
    // gathers them into pieces of 256 KiB without copying them together.
    // A stall of the test machine longer than the gathering window can cut
    // one piece short, not both.
    let server = start().await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    let len = 600 * 1024;
    conn.write_all(format!("PUT /pieces HTTP/1.1\r\nContent-Length: {len}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    for i in 1..=len / 4096 {
        conn.write_all(&[7; 4096]).await.unwrap();
        if i % 8 == 0 {
            // Let the server read what has come.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let (_, body) = response(&mut conn, &mut Vec::new()).await.unwrap();
    let sizes = piece_sizes(&body);
    assert_eq!(sizes.iter().sum::<usize>(), len, "{sizes:?}");
    assert!(sizes.iter().all(|&n| n <= 256 * 1024), "{sizes:?}");
    assert!(sizes.contains(&(256 * 1024)), "{sizes:?}");
}

#[tokio::test]
async fn a_client_that_pauses_mid_body_has_its_bytes_passed_on() {
    // The first 10 bytes reach the application while the client waits,
    // not together with the rest.
    let server = start().await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(b"PUT /pieces HTTP/1.1\r\nContent-Length: 20\r\n\r\n0123456789")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    conn.write_all(b"abcdefghij").await.unwrap();
    let (_, body) = response(&mut conn, &mut Vec::new()).await.unwrap();
    assert_eq!(piece_sizes(&body), [10, 10]);
}

#[tokio::test]
async fn expect_continue_is_answered_when_the_body_is_read() {
    let server = start().await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(b"PUT /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let (head, _) = response(&mut conn, &mut buf).await.unwrap();
    assert_eq!(head, "HTTP/1.1 100 Continue\n\n");
    conn.write_all(b"abc").await.unwrap();
    let (_, body) = response(&mut conn, &mut buf).await.unwrap();
    assert_eq!(body, b"abc");

    // Refused before the body was asked for: the client may or may not
    // send it, so the connection closes after the answer.
    conn.write_all(b"PUT /early HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = response(&mut conn, &mut buf).await.unwrap();
    assert!(
        head.starts_with("HTTP/1.1 401") && head.contains("Connection: close"),
        "{head}"
    );
    assert!(response(&mut conn, &mut buf).await.is_none());
}

#[tokio::test]
async fn bad_heads_and_bodies_get_an_error_and_a_close() {
    let server = start().await;
    for (raw, status) in [
        (&b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"[..], "400"),
        (b"G\x01T / HTTP/1.1\r\n\r\n", "400"),
        (
            &b"GET / HTTP/1.1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\n\r\n"[..],
            "431",
        ),
        (b"PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400"),
    ] {
        let mut conn = TcpStream::connect(server.addr).await.unwrap();
        conn.write_all(raw).await.unwrap();
        let mut buf = Vec::new();
        let (head, _) = response(&mut conn, &mut buf).await.unwrap();
        assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{head}");
        assert!(response(&mut conn, &mut buf).await.is_none(), "closed after {head}");
    }
}

#[tokio::test]
async fn http_1_0_closes_unless_asked_to_keep_alive() {
    let server = start().await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(
        b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /echo HTTP/1.0\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let (head, _) = response(&mut conn, &mut buf).await.unwrap();
    assert!(head.contains("Connection: keep-alive\n"), "{head}");
    let (head, _) = response(&mut conn, &mut buf).await.unwrap();
    assert!(head.contains("Connection: close\n"), "{head}");
    assert!(response(&mut conn, &mut buf).await.is_none());
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_closes_idle_connections() {
    let mut server = start().await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(b"PUT /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nab")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = server.stop.take().unwrap().send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    busy.write_all(b"cd").await.unwrap();
    let mut buf = Vec::new();
    let (head, body) = response(&mut busy, &mut buf).await.unwrap();
    assert!(head.contains("Connection: close\n"), "{head}");
    assert_eq!(body, b"abcd");
    assert!(response(&mut idle, &mut Vec::new()).await.is_none());
    tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .expect("serve returns once drained")
        .unwrap();
}
