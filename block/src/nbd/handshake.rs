//! The handshake driver: greets the client, reads its options, looks
//! exports up and writes the replies that [`options`](super::options)
//! builds, until the client picks an export (or leaves). With TLS
//! required, [`starttls`](super::starttls) vets each option first, and
//! after `NBD_OPT_STARTTLS` the haggling starts over inside TLS.

use super::options::{self, ExportInfo, Negotiation, OptionRequest, Session, OPTION_BYTES_MAX};
use super::proto::*;
use super::starttls::{TlsGate, TlsMode, Verdict};
use super::tls::ServerTls;
use crate::device::{BlockDevice, BlockError, Exports};
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Why a handshake ended without an export.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    #[error("protocol: {0}")]
    Proto(#[from] ProtoError),
    /// `NBD_OPT_EXPORT_NAME` cannot be refused politely: the spec has the
    /// server close the connection.
    #[error("NBD_OPT_EXPORT_NAME refused: {0}")]
    ExportNameRefused(String),
    /// The TLS handshake failed: no client certificate, one from another
    /// CA, or no common TLS version.
    #[error("TLS handshake: {0}")]
    Tls(io::Error),
}

/// The export a client chose, ready for transmission.
pub struct Attached {
    pub name: String,
    pub device: Arc<dyn BlockDevice>,
    pub session: Session,
}

/// The connection transmission runs on.
pub enum Link {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Runs the handshake on `stream`, upgrading it to TLS when the client
/// asks (required when `tls` is set). `Ok(None)`: the client aborted.
pub async fn negotiate(
    mut stream: TcpStream,
    exports: &dyn Exports,
    tls: Option<&ServerTls>,
) -> Result<Option<(Attached, Link)>, HandshakeError> {
    let client = greet(&mut stream).await?;
    let mode = match tls {
        Some(_) => TlsMode::Require,
        None => TlsMode::Off,
    };
    let mut gate = TlsGate::new(mode);
    let plain = haggle(&mut stream, client, &gate, exports).await?;
    let tls = match (plain, tls) {
        (Haggled::Attached(a), _) => return Ok(Some((a, Link::Plain(stream)))),
        (Haggled::Aborted, _) => return Ok(None),
        (Haggled::StartTls, Some(tls)) => tls,
        // The gate asks for TLS only in `Require` mode, that is with `tls`.
        (Haggled::StartTls, None) => return Err(HandshakeError::Tls(io::Error::other("no TLS"))),
    };
    let mut stream = tls
        .acceptor()
        .accept(stream)
        .await
        .map_err(HandshakeError::Tls)?;
    gate.started();
    match haggle(&mut stream, client, &gate, exports).await? {
        Haggled::Attached(a) => Ok(Some((a, Link::Tls(Box::new(stream))))),
        Haggled::Aborted => Ok(None),
        // The gate refuses a second STARTTLS.
        Haggled::StartTls => Err(HandshakeError::Tls(io::Error::other("STARTTLS twice"))),
    }
}

/// Sends the greeting and reads the client's flags.
async fn greet<S>(io: &mut S) -> Result<ClientFlags, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(&greeting()).await?;
    io.flush().await?;
    let mut flags = [0u8; 4];
    io.read_exact(&mut flags).await?;
    Ok(decode_client_flags(&flags)?)
}

/// How option haggling ended.
enum Haggled {
    Attached(Attached),
    Aborted,
    /// `NBD_OPT_STARTTLS` was acknowledged: the TLS handshake is next.
    StartTls,
}

/// Runs option haggling on `io` (from a fresh negotiation state: after
/// STARTTLS, nothing said before it counts).
async fn haggle<S>(
    io: &mut S,
    client: ClientFlags,
    gate: &TlsGate,
    exports: &dyn Exports,
) -> Result<Haggled, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut negotiation = Negotiation::default();
    let mut out = Vec::new();
    loop {
        let mut h = [0u8; OPTION_HEADER_BYTES];
        io.read_exact(&mut h).await?;
        let header = decode_option_header(&h)?;
        out.clear();
        if header.len > OPTION_BYTES_MAX {
            if header.option == OPT_EXPORT_NAME {
                return Err(HandshakeError::ExportNameRefused("name too long".into()));
            }
            skip(io, header.len.into()).await?;
            options::error(
                header.option,
                REP_ERR_TOO_BIG,
                "option data too long",
                &mut out,
            );
        } else {
            let mut payload = vec![0u8; header.len as usize];
            io.read_exact(&mut payload).await?;
            let request = options::parse_option(header.option, &payload);
            let step = match gate.check(header.option, &request) {
                Verdict::Pass => {
                    handle(&mut negotiation, header.option, request, exports, &mut out).await?
                }
                Verdict::Refuse {
                    reply_type,
                    message,
                } => {
                    options::error(header.option, reply_type, message, &mut out);
                    Step::Continue
                }
                Verdict::StartTls => {
                    put_option_reply(&mut out, header.option, REP_ACK, &[]);
                    Step::StartTls
                }
                Verdict::Close => {
                    let why = "TLS is required: send NBD_OPT_STARTTLS first";
                    return Err(HandshakeError::ExportNameRefused(why.into()));
                }
            };
            match step {
                Step::Continue => {}
                Step::StartTls => {
                    io.write_all(&out).await?;
                    io.flush().await?;
                    return Ok(Haggled::StartTls);
                }
                Step::Abort => {
                    // The client may already be gone: its ack is a courtesy.
                    let _ = io.write_all(&out).await;
                    return Ok(Haggled::Aborted);
                }
                Step::Go(attached) if header.option == OPT_EXPORT_NAME => {
                    let flags = options::transmission_flags(
                        attached.session.structured,
                        attached.device.read_only(),
                    );
                    io.write_all(&attached.device.size().to_be_bytes()).await?;
                    io.write_all(&flags.to_be_bytes()).await?;
                    if !client.no_zeroes {
                        io.write_all(&[0u8; EXPORT_NAME_PADDING_BYTES]).await?;
                    }
                    io.flush().await?;
                    return Ok(Haggled::Attached(attached));
                }
                Step::Go(attached) => {
                    io.write_all(&out).await?;
                    io.flush().await?;
                    return Ok(Haggled::Attached(attached));
                }
            }
        }
        io.write_all(&out).await?;
        io.flush().await?;
    }
}

/// What follows an option.
enum Step {
    Continue,
    Abort,
    StartTls,
    Go(Attached),
}

/// Carries out one option, appending its replies to `out`.
async fn handle(
    n: &mut Negotiation,
    option: u32,
    request: OptionRequest,
    exports: &dyn Exports,
    out: &mut Vec<u8>,
) -> Result<Step, HandshakeError> {
    match request {
        OptionRequest::ExportName(name) => match open(exports, &name).await {
            Ok((name, device)) => Ok(Step::Go(attach(n, name, device))),
            Err(e) => Err(HandshakeError::ExportNameRefused(e.to_string())),
        },
        OptionRequest::Invalid(why) if option == OPT_EXPORT_NAME => {
            Err(HandshakeError::ExportNameRefused(why.into()))
        }
        OptionRequest::Abort => {
            put_option_reply(out, option, REP_ACK, &[]);
            Ok(Step::Abort)
        }
        OptionRequest::List => {
            match exports.list().await {
                Ok(names) => options::list(&names, out),
                Err(e) => options::error(option, REP_ERR_UNKNOWN, &e.to_string(), out),
            }
            Ok(Step::Continue)
        }
        OptionRequest::Info {
            go: true,
            name,
            wanted,
        } => match open(exports, &name).await {
            Ok((name, device)) => {
                let info = ExportInfo {
                    name,
                    size: device.size(),
                    read_only: device.read_only(),
                };
                n.info(option, &info, wanted, out);
                Ok(Step::Go(attach(n, info.name, device)))
            }
            Err(e) => {
                options::error(option, REP_ERR_UNKNOWN, &e.to_string(), out);
                Ok(Step::Continue)
            }
        },
        // INFO alone does not attach the export (a volume stays unleased).
        OptionRequest::Info {
            go: false,
            name,
            wanted,
        } => {
            let described = async {
                let name = resolve(exports, &name).await?;
                let summary = exports.describe(&name).await?;
                Ok::<_, BlockError>((name, summary))
            };
            match described.await {
                Ok((name, summary)) => {
                    let info = ExportInfo {
                        name,
                        size: summary.size,
                        read_only: summary.read_only,
                    };
                    n.info(option, &info, wanted, out);
                }
                Err(e) => options::error(option, REP_ERR_UNKNOWN, &e.to_string(), out),
            }
            Ok(Step::Continue)
        }
        OptionRequest::StructuredReply => {
            n.structured_reply(out);
            Ok(Step::Continue)
        }
        OptionRequest::MetaContext { set, name, queries } => {
            let found = resolve(exports, &name).await.ok();
            n.meta_context(set, found.as_deref(), queries, out);
            Ok(Step::Continue)
        }
        // STARTTLS reaches here only if the gate let it through, which it
        // does not: the gate answers it in every mode.
        OptionRequest::Unsupported | OptionRequest::StartTls => {
            options::error(option, REP_ERR_UNSUP, "option not supported", out);
            Ok(Step::Continue)
        }
        OptionRequest::Invalid(why) => {
            options::error(option, REP_ERR_INVALID, why, out);
            Ok(Step::Continue)
        }
    }
}

fn attach(n: &Negotiation, name: String, device: Arc<dyn BlockDevice>) -> Attached {
    Attached {
        session: n.session(&name),
        name,
        device,
    }
}

/// The canonical name of export `name`, without attaching it: the empty
/// name is the default export; others must be listed.
async fn resolve(exports: &dyn Exports, name: &str) -> Result<String, BlockError> {
    let names = exports.list().await?;
    let found = if name.is_empty() {
        options::default_export(&names)
    } else {
        names.iter().map(String::as_str).find(|n| *n == name)
    };
    found
        .map(str::to_owned)
        .ok_or_else(|| BlockError::NoSuchExport(name.to_owned()))
}

/// Attaches export `name` (the empty name: the default export).
async fn open(
    exports: &dyn Exports,
    name: &str,
) -> Result<(String, Arc<dyn BlockDevice>), BlockError> {
    let name = if name.is_empty() {
        resolve(exports, name).await?
    } else {
        name.to_owned()
    };
    let device = exports.open(&name).await?;
    Ok((name, device))
}

/// Reads and drops `len` bytes.
async fn skip<S: AsyncRead + Unpin>(io: &mut S, len: u64) -> io::Result<()> {
    let copied = tokio::io::copy(&mut (&mut *io).take(len), &mut tokio::io::sink()).await?;
    if copied < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::mem::{MemDevice, MemExports};
    use bytes::BufMut;

    /// Drives the greeting and option haggling over an in-memory pipe
    /// with `gate`: the client half sends `client_bytes` and then closes
    /// its write side.
    async fn run_gated(
        exports: Arc<MemExports>,
        client_bytes: Vec<u8>,
        gate: TlsGate,
    ) -> (Result<Haggled, HandshakeError>, Vec<u8>) {
        let (mut server, client) = tokio::io::duplex(1 << 20);
        let (mut rd, mut wr) = tokio::io::split(client);
        wr.write_all(&client_bytes).await.unwrap();
        wr.shutdown().await.unwrap();
        let result = async {
            let flags = greet(&mut server).await?;
            haggle(&mut server, flags, &gate, &*exports).await
        }
        .await;
        drop(server);
        let mut replies = Vec::new();
        rd.read_to_end(&mut replies).await.unwrap();
        (result, replies)
    }

    /// As [`run_gated`] without TLS: `Ok(None)` when the client aborted.
    async fn run(
        exports: Arc<MemExports>,
        client_bytes: Vec<u8>,
    ) -> (Result<Option<Attached>, HandshakeError>, Vec<u8>) {
        let (r, replies) = run_gated(exports, client_bytes, TlsGate::new(TlsMode::Off)).await;
        let r = r.map(|h| match h {
            Haggled::Attached(a) => Some(a),
            Haggled::Aborted => None,
            Haggled::StartTls => panic!("STARTTLS accepted without TLS"),
        });
        (r, replies)
    }

    fn option(code: u32, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.put_u64(IHAVEOPT);
        b.put_u32(code);
        b.put_u32(data.len() as u32);
        b.put_slice(data);
        b
    }

    fn go(name: &str) -> Vec<u8> {
        let mut p = Vec::new();
        p.put_u32(name.len() as u32);
        p.put_slice(name.as_bytes());
        p.put_u16(0);
        option(OPT_GO, &p)
    }

    fn exports() -> Arc<MemExports> {
        MemExports::new([MemDevice::new("a", 1 << 20), MemDevice::new("b", 2 << 20)])
    }

    /// Reply types in order, after the greeting.
    fn reply_types(mut b: &[u8]) -> Vec<(u32, u32)> {
        b = &b[GREETING_BYTES..];
        let mut out = Vec::new();
        while b.len() >= 20 {
            let opt = u32::from_be_bytes(b[8..12].try_into().unwrap());
            let kind = u32::from_be_bytes(b[12..16].try_into().unwrap());
            let len = u32::from_be_bytes(b[16..20].try_into().unwrap()) as usize;
            out.push((opt, kind));
            b = &b[20 + len..];
        }
        out
    }

    #[tokio::test]
    async fn go_after_unknown_options_attaches_the_export() {
        // Checks that unknown and malformed options get error replies and
        // the haggling goes on to a successful NBD_OPT_GO.
        let mut c = 1u32.to_be_bytes().to_vec();
        c.extend(option(OPT_STARTTLS, b""));
        c.extend(option(OPT_LIST, b"junk"));
        c.extend(go("nope"));
        c.extend(option(OPT_STRUCTURED_REPLY, b""));
        c.extend(go("b"));
        let (r, replies) = run(exports(), c).await;
        let attached = r.unwrap().unwrap();
        assert_eq!(attached.name, "b");
        assert!(attached.session.structured);
        assert_eq!(attached.device.size(), 2 << 20);
        assert_eq!(
            reply_types(&replies),
            vec![
                (OPT_STARTTLS, REP_ERR_UNSUP),
                (OPT_LIST, REP_ERR_INVALID),
                (OPT_GO, REP_ERR_UNKNOWN),
                (OPT_STRUCTURED_REPLY, REP_ACK),
                (OPT_GO, REP_INFO),
                (OPT_GO, REP_ACK),
            ]
        );
    }

    #[tokio::test]
    async fn export_name_replies_size_and_flags_with_or_without_zeroes() {
        // Checks NBD_OPT_EXPORT_NAME's reply, and that NO_ZEROES drops the
        // 124-byte padding.
        for (flags, padding) in [(1u32, EXPORT_NAME_PADDING_BYTES), (3, 0)] {
            let mut c = flags.to_be_bytes().to_vec();
            c.extend(option(OPT_EXPORT_NAME, b"a"));
            let (r, replies) = run(exports(), c).await;
            assert_eq!(r.unwrap().unwrap().name, "a");
            assert_eq!(replies.len(), GREETING_BYTES + 10 + padding);
            assert_eq!(&replies[18..26], &(1u64 << 20).to_be_bytes());
        }
    }

    #[tokio::test]
    async fn unknown_export_name_closes_and_default_needs_one_export() {
        // Checks that NBD_OPT_EXPORT_NAME of an unknown export ends the
        // handshake with an error, and that "" means the only export.
        let mut c = 1u32.to_be_bytes().to_vec();
        c.extend(option(OPT_EXPORT_NAME, b"zzz"));
        let (r, _) = run(exports(), c).await;
        assert!(matches!(r, Err(HandshakeError::ExportNameRefused(_))));

        let mut c = 1u32.to_be_bytes().to_vec();
        c.extend(option(OPT_EXPORT_NAME, b""));
        let (r, _) = run(exports(), c.clone()).await;
        assert!(matches!(r, Err(HandshakeError::ExportNameRefused(_))));
        let one = MemExports::new([MemDevice::new("only", 4096)]);
        let (r, _) = run(one, c).await;
        assert_eq!(r.unwrap().unwrap().name, "only");
    }

    #[tokio::test]
    async fn oversized_option_is_skipped_and_refused() {
        // Checks that an option longer than the cap is skipped (not held
        // in memory) and refused with TOO_BIG, and haggling goes on.
        let mut c = 1u32.to_be_bytes().to_vec();
        c.extend(option(OPT_INFO, &vec![0u8; OPTION_BYTES_MAX as usize + 1]));
        c.extend(option(OPT_ABORT, b""));
        let (r, replies) = run(exports(), c).await;
        assert!(r.unwrap().is_none());
        assert_eq!(
            reply_types(&replies),
            vec![(OPT_INFO, REP_ERR_TOO_BIG), (OPT_ABORT, REP_ACK)]
        );
    }

    #[tokio::test]
    async fn bad_client_flags_magic_or_truncation_fail() {
        // Checks the three ways a handshake breaks: flags, magic, EOF.
        let (r, _) = run(exports(), 0u32.to_be_bytes().to_vec()).await;
        assert!(matches!(r, Err(HandshakeError::Proto(_))));
        let mut c = 1u32.to_be_bytes().to_vec();
        c.extend(b"IHAVEOPX\0\0\0\x03\0\0\0\0");
        let (r, _) = run(exports(), c).await;
        assert!(matches!(r, Err(HandshakeError::Proto(_))));
        let mut c = 1u32.to_be_bytes().to_vec();
        c.extend(&go("a")[..20]);
        let (r, _) = run(exports(), c).await;
        assert!(matches!(r, Err(HandshakeError::Io(_))));
    }

    #[tokio::test]
    async fn tls_required_refuses_options_until_starttls() {
        // Checks FORCEDTLS on the wire: LIST, STRUCTURED_REPLY and GO get
        // TLS_REQD, STARTTLS with data INVALID, then STARTTLS is
        // acknowledged and haggling stops for the TLS handshake.
        let mut c = 1u32.to_be_bytes().to_vec();
        c.extend(option(OPT_LIST, b""));
        c.extend(option(OPT_STRUCTURED_REPLY, b""));
        c.extend(go("a"));
        c.extend(option(OPT_STARTTLS, b"x"));
        c.extend(option(OPT_STARTTLS, b""));
        c.extend(go("a"));
        let gate = TlsGate::new(TlsMode::Require);
        let (r, replies) = run_gated(exports(), c, gate).await;
        assert!(matches!(r, Ok(Haggled::StartTls)));
        assert_eq!(
            reply_types(&replies),
            vec![
                (OPT_LIST, REP_ERR_TLS_REQD),
                (OPT_STRUCTURED_REPLY, REP_ERR_TLS_REQD),
                (OPT_GO, REP_ERR_TLS_REQD),
                (OPT_STARTTLS, REP_ERR_INVALID),
                (OPT_STARTTLS, REP_ACK),
            ]
        );
    }

    #[tokio::test]
    async fn tls_required_closes_on_export_name_and_allows_abort() {
        // Checks that NBD_OPT_EXPORT_NAME before TLS closes the
        // connection (it cannot be refused) and ABORT is acknowledged.
        let mut c = 1u32.to_be_bytes().to_vec();
        c.extend(option(OPT_EXPORT_NAME, b"a"));
        let gate = TlsGate::new(TlsMode::Require);
        let (r, replies) = run_gated(exports(), c, gate).await;
        assert!(matches!(r, Err(HandshakeError::ExportNameRefused(_))));
        assert_eq!(replies.len(), GREETING_BYTES);

        let mut c = 1u32.to_be_bytes().to_vec();
        c.extend(option(OPT_ABORT, b""));
        let (r, replies) = run_gated(exports(), c, gate).await;
        assert!(matches!(r, Ok(Haggled::Aborted)));
        assert_eq!(reply_types(&replies), vec![(OPT_ABORT, REP_ACK)]);
    }

    #[tokio::test]
    async fn inside_tls_starttls_again_is_invalid_and_go_attaches() {
        // Checks haggling after the TLS handshake: a second STARTTLS is
        // INVALID, and the export is reached as usual.
        let mut c = 1u32.to_be_bytes().to_vec();
        c.extend(option(OPT_STARTTLS, b""));
        c.extend(go("b"));
        let mut gate = TlsGate::new(TlsMode::Require);
        gate.started();
        let (r, replies) = run_gated(exports(), c, gate).await;
        let Ok(Haggled::Attached(a)) = r else {
            panic!("not attached")
        };
        assert_eq!(a.name, "b");
        assert_eq!(
            reply_types(&replies),
            vec![
                (OPT_STARTTLS, REP_ERR_INVALID),
                (OPT_GO, REP_INFO),
                (OPT_GO, REP_ACK),
            ]
        );
    }
}
