//! The server with TLS required: libnbd's tools over `nbds://` with the
//! client certificate directory, refused without TLS or with a
//! certificate from another CA; and a raw client (with [`ClientTls`])
//! through STARTTLS.

use super::tools::{run, tool};
use super::*;
use crate::nbd::pki::{TlsDirs, CA_CERT_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE};
use crate::nbd::tls::ClientTls;
use crate::nbd::ServerTls;
use std::path::Path;
use tokio::io::{AsyncRead, AsyncWrite};

/// Writes a fresh certificate set for 127.0.0.1 under `root`.
fn certificates(root: &Path) -> TlsDirs {
    let dirs = TlsDirs::under(root);
    for (path, text) in dirs
        .files_to_write(&["127.0.0.1".parse().unwrap()])
        .unwrap()
    {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dirs
}

async fn tls_server(dirs: &TlsDirs) -> Running {
    let tls = ServerTls::load(&dirs.server).unwrap();
    let exports = MemExports::new([MemDevice::new("a", 1 << 20), MemDevice::new("b", 3 << 20)]);
    Running::start_with(NbdServer::new(exports).with_tls(Some(tls))).await
}

fn nbds(server: &Running, name: &str, certs: &Path) -> String {
    format!(
        "nbds://{}/{name}?tls-certificates={}",
        server.addr,
        certs.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nbdinfo_needs_tls_and_a_certificate_from_the_ca() {
    // Checks that nbdinfo reaches an export over nbds:// with the client
    // directory, and is refused over plain nbd:// and with a client
    // certificate from another CA (the server's CA still trusted).
    let tmp = tempfile::tempdir().unwrap();
    let dirs = certificates(&tmp.path().join("ours"));
    let server = tls_server(&dirs).await;
    let size = tool("nbdinfo", &["--size", &nbds(&server, "b", &dirs.client)]).await;
    assert_eq!(size.trim(), (3u64 << 20).to_string());
    let listing = tool("nbdinfo", &["--list", &nbds(&server, "", &dirs.client)]).await;
    assert!(listing.contains("export=\"a\""), "{listing}");

    let plain = run("nbdinfo", &["--size", &server.uri("b")]).await;
    assert!(!plain.status.success());
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(err.contains("TLS"), "{err}");

    let theirs = certificates(&tmp.path().join("theirs"));
    let mixed = tmp.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::copy(dirs.client.join(CA_CERT_FILE), mixed.join(CA_CERT_FILE)).unwrap();
    for f in [CLIENT_CERT_FILE, CLIENT_KEY_FILE] {
        std::fs::copy(theirs.client.join(f), mixed.join(f)).unwrap();
    }
    let foreign = run("nbdinfo", &["--size", &nbds(&server, "b", &mixed)]).await;
    assert!(!foreign.status.success());
    // The server refuses the certificate with a TLS alert.
    let err = String::from_utf8_lossy(&foreign.stderr);
    assert!(err.contains("alert"), "{err}");
    server.stop().await;
}

async fn send_option<S: AsyncWrite + Unpin>(s: &mut S, code: u32, data: &[u8]) {
    let mut b = Vec::new();
    b.put_u64(IHAVEOPT);
    b.put_u32(code);
    b.put_u32(data.len() as u32);
    b.put_slice(data);
    within(s.write_all(&b)).await.unwrap();
}

/// The next option reply's (option, type).
async fn reply_type<S: AsyncRead + Unpin>(s: &mut S) -> (u32, u32) {
    let mut h = [0u8; 20];
    within(s.read_exact(&mut h)).await.unwrap();
    let len = u32::from_be_bytes(h[16..20].try_into().unwrap());
    let mut data = vec![0u8; len as usize];
    within(s.read_exact(&mut data)).await.unwrap();
    let opt = u32::from_be_bytes(h[8..12].try_into().unwrap());
    (opt, u32::from_be_bytes(h[12..16].try_into().unwrap()))
}

#[tokio::test]
async fn raw_client_through_starttls_reaches_an_export() {
    // Checks the protocol step by step: TLS_REQD before TLS, ACK to
    // STARTTLS, the handshake on the same socket, INVALID to a second
    // STARTTLS, then GO and a READ inside TLS.
    let tmp = tempfile::tempdir().unwrap();
    let dirs = certificates(tmp.path());
    let server = tls_server(&dirs).await;
    let mut c = RawClient::connect(server.addr).await;
    c.write(&FLAG_C_FIXED_NEWSTYLE.to_be_bytes()).await;
    c.option(OPT_LIST, &[]).await;
    assert_eq!(c.option_reply().await.1, REP_ERR_TLS_REQD);
    c.option(OPT_STARTTLS, &[]).await;
    assert_eq!(c.option_reply().await.1, REP_ACK);
    let client = ClientTls::load(&dirs.client).unwrap();
    let host = server.addr.ip().to_string();
    let mut s = within(client.connect(&host, c.s)).await.unwrap();
    send_option(&mut s, OPT_STARTTLS, &[]).await;
    assert_eq!(reply_type(&mut s).await, (OPT_STARTTLS, REP_ERR_INVALID));
    let mut go = name_payload("a");
    go.put_u16(0);
    send_option(&mut s, OPT_GO, &go).await;
    assert_eq!(reply_type(&mut s).await, (OPT_GO, REP_INFO));
    assert_eq!(reply_type(&mut s).await, (OPT_GO, REP_ACK));
    let read = RequestHeader {
        flags: 0,
        kind: CMD_READ,
        cookie: 7,
        offset: 4096,
        len: 512,
    };
    within(s.write_all(&encode_request_header(&read)))
        .await
        .unwrap();
    let mut reply = vec![0u8; SIMPLE_REPLY_BYTES + 512];
    within(s.read_exact(&mut reply)).await.unwrap();
    assert_eq!(reply[..4], SIMPLE_REPLY_MAGIC.to_be_bytes());
    assert_eq!(reply[4..8], [0; 4]);
    assert_eq!(reply[8..16], 7u64.to_be_bytes());
    server.stop().await;
}
