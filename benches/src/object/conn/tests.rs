//! The client against a tiny scripted server on 127.0.0.1: what it writes,
//! how it reads answers framed every way (whole or split across reads), when
//! it keeps, drops and redials its connection, and how failures are counted.

use super::*;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One answer, written in these pieces with a pause between them (so the
/// client reads them apart); no pieces: no answer at all.
type Answer = Vec<&'static str>;

fn answer(pieces: &[&'static str]) -> Answer {
    pieces.to_vec()
}

const TIMEOUT: Duration = Duration::from_millis(500);

/// A server that accepts one connection per element of `script`, in
/// order, and on each answers every request it reads with the connection's
/// next answer; after the last one it closes the connection (after an empty
/// answer it waits for the client to close first). Its task returns every
/// request it read.
async fn server(script: Vec<Vec<Answer>>) -> (String, JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut requests = Vec::new();
        for answers in script {
            let (mut s, _) = listener.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            for answer in answers {
                requests.push(read_request(&mut s).await.expect("a request"));
                if answer.is_empty() {
                    let mut rest = Vec::new();
                    let _ = s.read_to_end(&mut rest).await;
                }
                for piece in answer {
                    s.write_all(piece.as_bytes()).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        requests
    });
    (authority, task)
}

/// One request's bytes (head and Content-Length body); `None` at EOF.
async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut req = Vec::new();
    loop {
        if complete_len(&req).is_some_and(|len| req.len() >= len) {
            return Some(req);
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        req.extend_from_slice(&chunk[..n]);
    }
}

/// The whole request's length, once its head is complete.
fn complete_len(req: &[u8]) -> Option<usize> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(head) = parsed.parse(req).expect("a well-formed request") else {
        return None;
    };
    let body = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map_or(0, |h| {
            std::str::from_utf8(h.value)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        });
    Some(head + body)
}

fn get(target: &str) -> Request {
    Request::new(Method::GET, target.to_owned(), Bytes::new())
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[tokio::test]
async fn answers_by_length_share_one_kept_alive_connection() {
    // A PUT goes out as head and body with Host and Content-Length; its ETag and a GET's body come back on the same connection.
    let (authority, srv) = server(vec![vec![
        answer(&["HTTP/1.1 201 Created\r\nEtag: \"abc\"\r\nContent-Length: 0\r\n\r\n"]),
        answer(&["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nworld"]),
    ]])
    .await;
    let mut client = HttpClient::new(&authority, TIMEOUT);
    let mut put = Request::new(Method::PUT, "/c/o".into(), Bytes::from_static(b"hello"));
    put.headers
        .insert("x-auth-token", HeaderValue::from_static("tk"));
    let reply = client.call(put, BodyMode::Discard).await.unwrap();
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header(ReplyHeader::ETag), Some("\"abc\""));
    let reply = client.call(get("/c/o"), BodyMode::Keep).await.unwrap();
    assert_eq!((reply.body_len, &reply.body[..]), (5, &b"world"[..]));
    let requests = srv.await.unwrap();
    assert_eq!(
        text(&requests[0]),
        format!(
            "PUT /c/o HTTP/1.1\r\nx-auth-token: tk\r\nHost: {authority}\r\nContent-Length: 5\r\n\r\nhello"
        )
    );
    assert_eq!(
        text(&requests[1]),
        format!("GET /c/o HTTP/1.1\r\nHost: {authority}\r\n\r\n")
    );
    assert_eq!(client.requests.get("PUT", "2xx"), 1);
    assert_eq!(client.requests.get("GET", "2xx"), 1);
}

#[tokio::test]
async fn chunked_answers_are_kept_or_only_counted() {
    // A chunked body arriving in pieces is reassembled when kept, and only counted (body empty) when discarded.
    let chunked: Answer = answer(&[
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        "lo\r\n6\r\n world\r",
        "\n0\r\n\r\n",
    ]);
    let (authority, srv) = server(vec![vec![chunked.clone(), chunked]]).await;
    let mut client = HttpClient::new(&authority, TIMEOUT);
    let kept = client.call(get("/a"), BodyMode::Keep).await.unwrap();
    assert_eq!((kept.body_len, &kept.body[..]), (11, &b"hello world"[..]));
    let counted = client.call(get("/a"), BodyMode::Discard).await.unwrap();
    assert_eq!((counted.body_len, counted.body.len()), (11, 0));
    assert_eq!(srv.await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_head_answer_has_no_body_whatever_its_length_says() {
    // After a HEAD answered with Content-Length: 100 and no body, the next answer on the connection is read as its own.
    let (authority, srv) = server(vec![vec![
        answer(&["HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"]),
        answer(&["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]),
    ]])
    .await;
    let mut client = HttpClient::new(&authority, TIMEOUT);
    let head = Request::new(Method::HEAD, "/a".into(), Bytes::new());
    let reply = client.call(head, BodyMode::Keep).await.unwrap();
    assert_eq!((reply.status, reply.body_len), (200, 0));
    let reply = client.call(get("/a"), BodyMode::Keep).await.unwrap();
    assert_eq!(&reply.body[..], b"ok");
    assert_eq!(client.requests.get("HEAD", "2xx"), 1);
    srv.await.unwrap();
}

#[tokio::test]
async fn connection_close_ends_the_connection_and_the_next_call_redials() {
    // Connection: close, a close-delimited body and a server closing an idle connection each make the next call dial anew, without an error.
    let (authority, srv) = server(vec![
        vec![answer(&[
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
        ])],
        vec![answer(&["HTTP/1.1 200 OK\r\n\r\nuntil ", "the end"])],
        vec![answer(&["HTTP/1.1 204 No Content\r\n\r\n"])],
        vec![answer(&["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])],
    ])
    .await;
    let mut client = HttpClient::new(&authority, TIMEOUT);
    let reply = client.call(get("/1"), BodyMode::Keep).await.unwrap();
    assert_eq!(&reply.body[..], b"abc");
    let reply = client.call(get("/2"), BodyMode::Keep).await.unwrap();
    assert_eq!(&reply.body[..], b"until the end");
    let reply = client.call(get("/3"), BodyMode::Keep).await.unwrap();
    assert_eq!(reply.status, 204);
    // The server closes its side after that answer, unannounced.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reply = client.call(get("/4"), BodyMode::Keep).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(srv.await.unwrap().len(), 4);
    assert_eq!(client.requests.get("GET", "2xx"), 4);
    assert_eq!(client.requests.total(), 4);
}

#[tokio::test]
async fn an_answer_split_across_reads_is_read_whole() {
    // A head cut mid-name and mid-value, after a 100 Continue, and a body in two reads make one answer.
    let (authority, srv) = server(vec![vec![answer(&[
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nCont",
        "ent-Length: 11\r\nETag: \"e",
        "1\"\r\nX-Auth-Token: AUTH_tk\r\n\r\nhello",
        " world",
    ])]])
    .await;
    let mut client = HttpClient::new(&authority, TIMEOUT);
    let reply = client.call(get("/a"), BodyMode::Keep).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(&reply.body[..], b"hello world");
    assert_eq!(reply.header(ReplyHeader::ETag), Some("\"e1\""));
    assert_eq!(reply.header(ReplyHeader::AuthToken), Some("AUTH_tk"));
    assert_eq!(reply.header(ReplyHeader::StorageUrl), None);
    srv.await.unwrap();
}

#[tokio::test]
async fn failures_are_counted_by_kind_and_the_next_call_redials() {
    // A body cut short, a malformed head and silence are a connection error, a protocol error and a timeout; each next call dials anew and works.
    let (authority, srv) = server(vec![
        vec![answer(&[
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        ])],
        vec![answer(&["HTTX/1.1 200 OK\r\n\r\n"])],
        vec![answer(&[])],
        vec![answer(&["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])],
    ])
    .await;
    let mut client = HttpClient::new(&authority, Duration::from_millis(300));
    let e = client.call(get("/1"), BodyMode::Discard).await.unwrap_err();
    assert_eq!(e, ErrorKind::Connection);
    assert!(
        client.explain(e).contains("middle of the answer's body"),
        "{}",
        client.explain(e)
    );
    let e = client.call(get("/2"), BodyMode::Discard).await.unwrap_err();
    assert_eq!(e, ErrorKind::Protocol);
    let e = client.call(get("/3"), BodyMode::Discard).await.unwrap_err();
    assert_eq!(e, ErrorKind::Timeout);
    let reply = client.call(get("/4"), BodyMode::Discard).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(client.explain(ErrorKind::Status(404)), "http_404");
    assert_eq!(srv.await.unwrap().len(), 4);
    assert_eq!(client.requests.get("GET", "connection"), 1);
    assert_eq!(client.requests.get("GET", "error"), 1);
    assert_eq!(client.requests.get("GET", "timeout"), 1);
    assert_eq!(client.requests.get("GET", "2xx"), 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error_that_names_the_endpoint() {
    // Nothing listens on the port: the call fails as a connection error and says where it tried.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string();
    drop(listener);
    let mut client = HttpClient::new(&authority, TIMEOUT);
    let e = client.call(get("/"), BodyMode::Discard).await.unwrap_err();
    assert_eq!(e, ErrorKind::Connection);
    assert!(
        client.explain(e).contains(&authority),
        "{}",
        client.explain(e)
    );
}

#[test]
fn endpoints_split_into_authority_and_base_path() {
    // Port defaults to 80; a trailing slash is dropped; https and unencoded paths are refused.
    let e = Endpoint::parse("http://127.0.0.1:8090/v1/AUTH_demo/").unwrap();
    assert_eq!(e.authority, "127.0.0.1:8090");
    assert_eq!(e.base_path, "/v1/AUTH_demo");
    let e = Endpoint::parse("http://localhost").unwrap();
    assert_eq!(
        (e.authority.as_str(), e.base_path.as_str()),
        ("localhost:80", "")
    );
    assert!(Endpoint::parse("https://s3.example.com").is_err());
    assert!(Endpoint::parse("http:///x").is_err());
    assert!(Endpoint::parse("http://h:1/v1/a b").is_err());
}
