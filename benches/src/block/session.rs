//! Opening an NBD connection: TCP, the fixed-newstyle handshake, with
//! `nbds://` `NBD_OPT_STARTTLS` and a TLS handshake presenting the client
//! certificate, then `NBD_OPT_GO`, leaving the stream in the transmission
//! phase.

use super::nbd::{self, ExportInfo, GoStep, NbdError};
use crate::error::BenchError;
use cairn_block::nbd::tls::{ClientStream, ClientTls};
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where the NBD server is and which export to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbdAddress {
    /// `host:port`.
    pub authority: String,
    pub export: String,
    /// With `nbds://`: the client certificate directory (qemu's
    /// `tls-creds-x509` layout, libnbd's `tls-certificates=`).
    pub tls_dir: Option<PathBuf>,
}

/// NBD's registered port.
const DEFAULT_PORT: u16 = 10809;
/// The query parameter naming the client certificate directory (libnbd's).
const TLS_CERTIFICATES: &str = "tls-certificates=";

impl NbdAddress {
    /// `host:port`, `host`, `nbd://host[:port][/export]` or
    /// `nbds://host[:port][/export]?tls-certificates=DIR`; `export`
    /// overrides the URI's.
    pub fn parse(text: &str, export: Option<&str>) -> Result<NbdAddress, BenchError> {
        let invalid = |why: &str| BenchError::invalid("NBD address", format!("{text:?}: {why}"));
        let (tls, rest) = match text.strip_prefix("nbds://") {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix("nbd://").unwrap_or(text)),
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let tls_dir = query
            .split('&')
            .find_map(|kv| kv.strip_prefix(TLS_CERTIFICATES))
            .map(PathBuf::from);
        match (tls, &tls_dir) {
            (true, None) => return Err(invalid("nbds:// needs ?tls-certificates=DIR")),
            (false, Some(_)) => return Err(invalid("tls-certificates needs nbds://")),
            _ => {}
        }
        let (host_port, uri_export) = rest.split_once('/').unwrap_or((rest, ""));
        if host_port.is_empty() {
            return Err(invalid("no host"));
        }
        let authority = if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:{DEFAULT_PORT}")
        };
        Ok(NbdAddress {
            authority,
            export: export.unwrap_or(uri_export).to_owned(),
            tls_dir,
        })
    }

    pub fn uri(&self) -> String {
        match &self.tls_dir {
            None => format!("nbd://{}/{}", self.authority, self.export),
            Some(dir) => format!(
                "nbds://{}/{}?{TLS_CERTIFICATES}{}",
                self.authority,
                self.export,
                dir.display()
            ),
        }
    }

    /// The host the server's certificate must name (`[::1]` → `::1`).
    fn host(&self) -> &str {
        let host = self
            .authority
            .rsplit_once(':')
            .map_or(self.authority.as_str(), |(h, _)| h);
        host.trim_start_matches('[').trim_end_matches(']')
    }
}

/// A connection in the transmission phase.
pub enum NbdStream {
    Plain(TcpStream),
    Tls(Box<ClientStream>),
}

/// Connects and negotiates; the stream is ready for requests.
pub async fn open(addr: &NbdAddress) -> Result<(NbdStream, ExportInfo), BenchError> {
    let step = "NBD handshake";
    let tls = match &addr.tls_dir {
        Some(dir) => Some(
            ClientTls::load(dir)
                .map_err(|e| BenchError::setup("loading NBD TLS certificates", e))?,
        ),
        None => None,
    };
    let mut stream = TcpStream::connect(&addr.authority).await.map_err(|e| {
        BenchError::setup(
            "connecting to the NBD server",
            format!("{}: {e}", addr.authority),
        )
    })?;
    let _ = stream.set_nodelay(true);
    greet(&mut stream)
        .await
        .map_err(|e| BenchError::setup(step, e))?;
    let Some(tls) = tls else {
        let info = go(&mut stream, &addr.export)
            .await
            .map_err(|e| BenchError::setup(step, e))?;
        return Ok((NbdStream::Plain(stream), info));
    };
    starttls(&mut stream)
        .await
        .map_err(|e| BenchError::setup(step, e))?;
    let mut stream = tls
        .connect(addr.host(), stream)
        .await
        .map_err(|e| BenchError::setup("NBD TLS handshake", e))?;
    let info = go(&mut stream, &addr.export)
        .await
        .map_err(|e| BenchError::setup(step, e))?;
    Ok((NbdStream::Tls(Box::new(stream)), info))
}

/// Why a negotiation failed: the protocol or the socket.
#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error(transparent)]
    Nbd(#[from] NbdError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the greeting and answers with the client flags.
async fn greet(stream: &mut TcpStream) -> Result<(), HandshakeError> {
    let mut greeting = [0u8; nbd::GREETING_BYTES];
    stream.read_exact(&mut greeting).await?;
    let server_flags = nbd::parse_greeting(&greeting)?;
    stream.write_all(&nbd::client_flags(server_flags)).await?;
    Ok(())
}

/// `NBD_OPT_STARTTLS`, acknowledged: the TLS handshake is next.
async fn starttls(stream: &mut TcpStream) -> Result<(), HandshakeError> {
    stream.write_all(&nbd::encode_opt_starttls()).await?;
    let (reply, data) = option_reply(stream).await?;
    Ok(nbd::starttls_reply(reply, &data)?)
}

/// `NBD_OPT_GO` for `export`, until the server acknowledges it.
async fn go<S>(stream: &mut S, export: &str) -> Result<ExportInfo, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&nbd::encode_opt_go(export)).await?;
    let mut info = None;
    loop {
        let (reply, data) = option_reply(stream).await?;
        match nbd::go_step(reply, &data)? {
            GoStep::Export(e) => info = Some(e),
            GoStep::Other => {}
            GoStep::Done => return info.ok_or(HandshakeError::Nbd(NbdError::NoExportInfo)),
        }
    }
}

/// One option reply with its data.
async fn option_reply<S>(stream: &mut S) -> Result<(nbd::OptionReply, Vec<u8>), HandshakeError>
where
    S: AsyncRead + Unpin,
{
    let mut header = [0u8; nbd::OPTION_REPLY_HEADER_BYTES];
    stream.read_exact(&mut header).await?;
    let reply = nbd::parse_option_reply(&header)?;
    let mut data = vec![0u8; reply.len as usize];
    stream.read_exact(&mut data).await?;
    Ok((reply, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_a_default_port_and_an_export_from_the_uri() {
        // host alone gets 10809; nbd:// URIs name the export; --export wins.
        let a = NbdAddress::parse("127.0.0.1", None).unwrap();
        assert_eq!(
            (a.authority.as_str(), a.export.as_str()),
            ("127.0.0.1:10809", "")
        );
        let a = NbdAddress::parse("nbd://h:1234/disk", None).unwrap();
        assert_eq!(
            (a.authority.as_str(), a.export.as_str()),
            ("h:1234", "disk")
        );
        let a = NbdAddress::parse("nbd://h:1234/disk", Some("other")).unwrap();
        assert_eq!(a.export, "other");
        assert_eq!(a.uri(), "nbd://h:1234/other");
        assert!(NbdAddress::parse("nbd:///x", None).is_err());
    }

    #[test]
    fn nbds_addresses_name_the_client_certificate_directory() {
        // nbds:// needs tls-certificates (and only nbds:// takes it); the
        // certificate is checked against the host without the port.
        let a = NbdAddress::parse("nbds://127.0.0.1:99/vol?tls-certificates=/c", None).unwrap();
        assert_eq!(a.tls_dir, Some(PathBuf::from("/c")));
        assert_eq!(
            (a.authority.as_str(), a.export.as_str()),
            ("127.0.0.1:99", "vol")
        );
        assert_eq!(a.host(), "127.0.0.1");
        assert_eq!(a.uri(), "nbds://127.0.0.1:99/vol?tls-certificates=/c");
        let v6 = NbdAddress::parse("nbds://[::1]:99/v?x=1&tls-certificates=d", None).unwrap();
        assert_eq!(v6.host(), "::1");
        assert!(NbdAddress::parse("nbds://h/vol", None).is_err());
        assert!(NbdAddress::parse("nbd://h/vol?tls-certificates=/c", None).is_err());
        assert_eq!(
            NbdAddress::parse("nbd://h/vol", None).unwrap().tls_dir,
            None
        );
    }
}
