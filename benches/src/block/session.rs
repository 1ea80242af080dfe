//! Opening an NBD connection: TCP, then the fixed-newstyle handshake and
//! `NBD_OPT_GO` over it, leaving the stream in the transmission phase.

use super::nbd::{self, ExportInfo, GoStep, NbdError};
use crate::error::BenchError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where the NBD server is and which export to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbdAddress {
    /// `host:port`.
    pub authority: String,
    pub export: String,
}

/// NBD's registered port.
const DEFAULT_PORT: u16 = 10809;

impl NbdAddress {
    /// `host:port`, `host` or `nbd://host[:port][/export]`; `export`
    /// overrides the URI's.
    pub fn parse(text: &str, export: Option<&str>) -> Result<NbdAddress, BenchError> {
        let rest = text.strip_prefix("nbd://").unwrap_or(text);
        let (host_port, uri_export) = match rest.split_once('/') {
            Some((h, e)) => (h, e),
            None => (rest, ""),
        };
        if host_port.is_empty() {
            return Err(BenchError::invalid(
                "NBD address",
                format!("{text:?}: no host"),
            ));
        }
        let authority = if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:{DEFAULT_PORT}")
        };
        Ok(NbdAddress {
            authority,
            export: export.unwrap_or(uri_export).to_owned(),
        })
    }

    pub fn uri(&self) -> String {
        format!("nbd://{}/{}", self.authority, self.export)
    }
}

/// Connects and negotiates; the stream is ready for requests.
pub async fn open(addr: &NbdAddress) -> Result<(TcpStream, ExportInfo), BenchError> {
    let step = "NBD handshake";
    let mut stream = TcpStream::connect(&addr.authority).await.map_err(|e| {
        BenchError::setup(
            "connecting to the NBD server",
            format!("{}: {e}", addr.authority),
        )
    })?;
    let _ = stream.set_nodelay(true);
    let info = negotiate(&mut stream, &addr.export)
        .await
        .map_err(|e| BenchError::setup(step, e))?;
    Ok((stream, info))
}

/// Why a negotiation failed: the protocol or the socket.
#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error(transparent)]
    Nbd(#[from] NbdError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

async fn negotiate(stream: &mut TcpStream, export: &str) -> Result<ExportInfo, HandshakeError> {
    let mut greeting = [0u8; nbd::GREETING_BYTES];
    stream.read_exact(&mut greeting).await?;
    let server_flags = nbd::parse_greeting(&greeting)?;
    stream.write_all(&nbd::client_flags(server_flags)).await?;
    stream.write_all(&nbd::encode_opt_go(export)).await?;
    let mut info = None;
    loop {
        let mut header = [0u8; nbd::OPTION_REPLY_HEADER_BYTES];
        stream.read_exact(&mut header).await?;
        let reply = nbd::parse_option_reply(&header)?;
        let mut data = vec![0u8; reply.len as usize];
        stream.read_exact(&mut data).await?;
        match nbd::go_step(reply, &data)? {
            GoStep::Export(e) => info = Some(e),
            GoStep::Other => {}
            GoStep::Done => return info.ok_or(HandshakeError::Nbd(NbdError::NoExportInfo)),
        }
    }
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
}
