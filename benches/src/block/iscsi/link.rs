//! The driver of one iSCSI session (one TCP connection): the login over
//! the socket, then the full feature phase — PDUs read one at a time and
//! handed to the [`Session`] state machine (a Data-In's data read straight
//! into its command's buffer), the PDUs it wants sent handed to the writer
//! task; setup commands (READ CAPACITY, MODE SENSE) run to completion
//! before the workers start; a Logout at the end.

use super::login::{Login, LoginConfig, LoginDone, Step, LOGIN_TEXT_MAX};
use super::pdu::{self, Kind, Pdu, BHS_BYTES};
use super::scsi::{self, Capacity};
use super::session::{Done, Failure, Session, Transfer};
use crate::block::link::{spawn_writer, Frame, Op, OpenSpec, Reply, Request, SOCKET_BUFFER_BYTES};
use crate::stats::ErrorKind;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How long the login and each setup command may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a Logout waits for its response.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most PDUs read while waiting for the Logout Response.
const LOGOUT_PDUS_MAX: u32 = 1024;
/// Times a setup command is retried after a UNIT ATTENTION (which a
/// target may report once per new session, e.g. "power on or reset").
const UNIT_ATTENTION_RETRIES_MAX: u32 = 4;
/// Lines one connection prints about failed commands (the rest are only counted).
const NOTES_MAX: u32 = 8;
/// Tags of setup commands (the workers' start at 1).
const SETUP_TAG: u64 = u64::MAX;
/// The CmdSN of the first command.
const FIRST_CMD_SN: u32 = 1;

/// Logs in on `stream`; the session is then in the full feature phase.
pub async fn login(stream: &mut TcpStream, cfg: LoginConfig) -> Result<LoginDone, String> {
    let mut login = Login::new(cfg, FIRST_CMD_SN);
    let (mut header, mut text) = login.start();
    loop {
        write_pdu(stream, &header, &text)
            .await
            .map_err(|e| format!("sending a login request: {e}"))?;
        let (p, data) = read_login_response(stream)
            .await
            .map_err(|e| format!("reading a login response: {e}"))?;
        match login.on_response(&p, &data).map_err(|e| e.to_string())? {
            Step::Send(h, t) => (header, text) = (h, t),
            Step::Done(done) => return Ok(done),
        }
    }
}

async fn write_pdu(stream: &mut TcpStream, header: &[u8], data: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(header.len() + data.len() + 3);
    out.extend_from_slice(header);
    out.extend_from_slice(data);
    out.resize(out.len() + pdu::pad_len(data.len()), 0);
    stream.write_all(&out).await
}

async fn read_login_response(stream: &mut TcpStream) -> Result<(Pdu, Vec<u8>), String> {
    let mut bhs = [0u8; BHS_BYTES];
    stream
        .read_exact(&mut bhs)
        .await
        .map_err(|e| e.to_string())?;
    let p = pdu::decode(&bhs, LOGIN_TEXT_MAX).map_err(|e| e.to_string())?;
    skip(stream, p.ahs_len).await.map_err(|e| e.to_string())?;
    let mut data = vec![0u8; p.data_len];
    stream
        .read_exact(&mut data)
        .await
        .map_err(|e| e.to_string())?;
    skip(stream, pdu::pad_len(p.data_len))
        .await
        .map_err(|e| e.to_string())?;
    Ok((p, data))
}

/// Reads and drops `n` bytes (an AHS or padding; at most [`pdu::AHS_BYTES_MAX`]).
async fn skip<R: AsyncRead + Unpin>(r: &mut R, n: usize) -> std::io::Result<()> {
    let mut sink = [0u8; pdu::AHS_BYTES_MAX];
    r.read_exact(&mut sink[..n]).await.map(|_| ())
}

/// One session in the full feature phase.
pub struct IscsiLink {
    session: Session,
    reader: BufReader<OwnedReadHalf>,
    tx: mpsc::Sender<Frame>,
    /// The logical block length; requests are whole blocks.
    lba_bytes: u64,
    /// Our MaxRecvDataSegmentLength: the bound of every data segment read.
    max_data: usize,
    /// The data of the last READ completed.
    last_read: Option<Vec<u8>>,
    /// Data segments other than Data-In's (sense data, ping data).
    scratch: Vec<u8>,
    index: u16,
    notes: u32,
}

impl IscsiLink {
    /// Takes over a logged-in stream.
    pub fn new(stream: TcpStream, done: &LoginDone, lun: [u8; 8], spec: OpenSpec) -> IscsiLink {
        let (read_half, write_half) = stream.into_split();
        let session = Session::new(done, lun);
        IscsiLink {
            max_data: session.negotiated().our_mrdsl as usize,
            session,
            reader: BufReader::with_capacity(SOCKET_BUFFER_BYTES, read_half),
            // A write may become a command and several Data-Out PDUs.
            tx: spawn_writer(write_half, 4 * spec.queue_depth + 16),
            lba_bytes: 512,
            last_read: None,
            scratch: Vec::new(),
            index: spec.index,
            notes: 0,
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// READ CAPACITY(16), retried after UNIT ATTENTION; then the block
    /// length is that of requests.
    pub async fn read_capacity(&mut self) -> Result<Capacity, String> {
        let mut attempt = 0;
        loop {
            let done = self
                .setup_command(
                    scsi::read_capacity16(),
                    Transfer::Read(scsi::READ_CAPACITY_BYTES),
                )
                .await?;
            match done.result {
                Ok(()) => {
                    let data = done.data.unwrap_or_default();
                    let cap = scsi::parse_capacity(&data)
                        .ok_or_else(|| "READ CAPACITY(16) returned unusable data".to_owned())?;
                    self.session.recycle(data);
                    self.lba_bytes = u64::from(cap.lba_bytes);
                    return Ok(cap);
                }
                Err(Failure::CheckCondition(s))
                    if s.key == scsi::UNIT_ATTENTION && attempt < UNIT_ATTENTION_RETRIES_MAX =>
                {
                    attempt += 1;
                }
                Err(f) => return Err(format!("READ CAPACITY(16): {f}")),
            }
        }
    }

    /// Whether MODE SENSE(6) says the medium is write-protected (false
    /// when the target does not answer it).
    pub async fn write_protected(&mut self) -> Result<bool, String> {
        let done = self
            .setup_command(scsi::mode_sense6(), Transfer::Read(scsi::MODE_SENSE_BYTES))
            .await?;
        Ok(done.data.is_some_and(|d| scsi::write_protected(&d)))
    }

    /// Runs one command to its end, within [`SETUP_TIMEOUT`].
    async fn setup_command(&mut self, cdb: scsi::Cdb, t: Transfer) -> Result<Done, String> {
        match tokio::time::timeout(SETUP_TIMEOUT, self.run_command(cdb, t)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("no answer within the setup timeout".to_owned()),
        }
    }

    async fn run_command(&mut self, cdb: scsi::Cdb, t: Transfer) -> Result<Done, LinkError> {
        while !self.session.window_open() {
            self.step().await?;
        }
        self.session.command(SETUP_TAG, cdb, t);
        self.send_frames().await?;
        loop {
            if let Some(done) = self.step().await? {
                return Ok(done);
            }
        }
    }

    pub fn window_open(&self) -> bool {
        self.session.window_open()
    }

    pub async fn send(&mut self, req: Request) -> Result<(), ErrorKind> {
        let lba = req.offset / self.lba_bytes;
        let blocks = (u64::from(req.len) / self.lba_bytes) as u32;
        let (cdb, transfer) = match req.op {
            Op::Read => (scsi::read16(lba, blocks), Transfer::Read(req.len)),
            Op::Write => (
                scsi::write16(lba, blocks),
                Transfer::Write(req.payload.unwrap_or_default()),
            ),
            Op::Flush => (scsi::synchronize_cache16(), Transfer::None),
        };
        self.session.command(req.tag, cdb, transfer);
        self.send_frames().await.map_err(|e| self.kind_of(e))
    }

    /// PDUs until a command ends, or until nothing is outstanding.
    pub async fn receive(&mut self) -> Result<Option<Reply>, ErrorKind> {
        loop {
            match self.step().await {
                Ok(Some(done)) => return Ok(Some(self.reply(done))),
                Ok(None) if self.session.outstanding() == 0 => return Ok(None),
                Ok(None) => {}
                Err(e) => return Err(self.kind_of(e)),
            }
        }
    }

    pub fn read_data(&self) -> &[u8] {
        self.last_read.as_deref().unwrap_or(&[])
    }

    /// Logs out and waits (briefly) for the answer.
    pub async fn disconnect(mut self) {
        let logout = self.session.logout();
        if self
            .tx
            .send(Frame::new(&logout.header, None, 0))
            .await
            .is_err()
        {
            return;
        }
        let wait = async {
            for _ in 0..LOGOUT_PDUS_MAX {
                if self.step().await.is_err() || self.session.logged_out() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(LOGOUT_TIMEOUT, wait).await;
    }

    /// Reads one PDU and lets the session handle it; a command it ended.
    async fn step(&mut self) -> Result<Option<Done>, LinkError> {
        let mut bhs = [0u8; BHS_BYTES];
        self.reader.read_exact(&mut bhs).await?;
        let p = pdu::decode(&bhs, self.max_data).map_err(|e| LinkError::Protocol(e.to_string()))?;
        skip(&mut self.reader, p.ahs_len).await?;
        let pad = pdu::pad_len(p.data_len);
        let handled = if let Kind::DataIn(d) = p.kind {
            let slot = self
                .session
                .data_in_slot(&p, &d)
                .map_err(|e| LinkError::Protocol(e.to_string()))?;
            self.reader.read_exact(slot).await?;
            skip(&mut self.reader, pad).await?;
            self.session.on_pdu(&p, &[])
        } else {
            self.scratch.resize(p.data_len, 0);
            self.reader.read_exact(&mut self.scratch).await?;
            skip(&mut self.reader, pad).await?;
            self.session.on_pdu(&p, &self.scratch)
        };
        handled.map_err(|e| LinkError::Protocol(e.to_string()))?;
        self.send_frames().await?;
        Ok(self.session.next_done())
    }

    async fn send_frames(&mut self) -> Result<(), LinkError> {
        while let Some(f) = self.session.next_frame() {
            let pad = f.data.as_ref().map_or(0, |d| pdu::pad_len(d.len()));
            self.tx
                .send(Frame::new(&f.header, f.data, pad))
                .await
                .map_err(|_| LinkError::Closed)?;
        }
        Ok(())
    }

    fn reply(&mut self, done: Done) -> Reply {
        if let Some(old) = self.last_read.take() {
            self.session.recycle(old);
        }
        self.last_read = done.data;
        let result = done.result.map_err(|f| {
            self.note(&f);
            match f {
                Failure::Short { .. } => ErrorKind::Verification,
                _ => ErrorKind::Protocol,
            }
        });
        Reply {
            tag: done.tag,
            result,
        }
    }

    fn kind_of(&mut self, e: LinkError) -> ErrorKind {
        self.note(&e);
        match e {
            LinkError::Io(_) | LinkError::Closed => ErrorKind::Connection,
            LinkError::Protocol(_) => ErrorKind::Protocol,
        }
    }

    /// Says on stderr why a command or the connection failed (the report
    /// only counts them), at most [`NOTES_MAX`] times per connection.
    fn note(&mut self, what: &dyn std::fmt::Display) {
        if self.notes < NOTES_MAX {
            self.notes += 1;
            eprintln!("iSCSI connection {}: {what}", self.index);
        }
    }
}

/// Why a connection became unusable.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the connection's writer is gone")]
    Closed,
    #[error("protocol: {0}")]
    Protocol(String),
}
