//! The driver of one TCP connection: reads PDUs, runs the login and
//! session state machines, executes SCSI commands as concurrent tasks, and
//! writes every outgoing PDU through one writer task in the order the
//! session emitted them.

use super::login::{self, Login, SessionKind, Step};
use super::pdu::{self, Layout, OutPdu, Request, BHS_LEN, DIGEST_LEN};
use super::server::Shared;
use super::session::{Action, Exec, Session, CMD_WINDOW};
use super::text::Limits;
use super::TPGT;
use crate::scsi::{self, LogicalUnit, Nexus, PortIdentity};
use bytes::{Buf, Bytes, BytesMut};
use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::AbortHandle;

/// What we declare as MaxRecvDataSegmentLength and accept as bursts.
pub(super) const LIMITS: Limits = Limits {
    max_recv_data_segment: 256 * 1024,
    max_burst: 1 << 20,
    first_burst: 256 * 1024,
    digests: true,
};
/// How long a login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest login PDU data segment we read.
const LOGIN_DATA_MAX: usize = 64 * 1024;
/// Bytes queued for the writer before the reader stops taking PDUs.
const WRITE_BACKLOG_MAX: usize = 64 << 20;
/// PDUs the writer gathers into one vectored write.
const WRITE_BATCH_MAX: usize = 64;
/// Data segments up to this size are copied next to their header.
const INLINE_DATA_MAX: usize = 4096;

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Pdu(#[from] pdu::PduError),
}

/// Digest settings of the connection.
#[derive(Debug, Clone, Copy, Default)]
struct Digests {
    header: bool,
    data: bool,
}

/// Bytes waiting for the writer, so the reader can wait when too many do.
#[derive(Default)]
struct Backlog {
    bytes: AtomicUsize,
    drained: Notify,
    /// The writer has stopped (the socket failed): stop reading too.
    writer_gone: AtomicBool,
}

/// The sending side shared by the reader and the command tasks.
struct Output {
    session: Mutex<Session>,
    tx: mpsc::UnboundedSender<OutPdu>,
    backlog: Arc<Backlog>,
}

impl Output {
    /// Runs `f` on the session and queues the PDUs it emits in order,
    /// under the lock so StatSN order is wire order. Returns the other
    /// actions.
    fn with_session(&self, f: impl FnOnce(&mut Session) -> Vec<Action>) -> Vec<Action> {
        let mut s = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let mut rest = Vec::new();
        for a in f(&mut s) {
            match a {
                Action::Send(p) => {
                    self.backlog
                        .bytes
                        .fetch_add(BHS_LEN + p.data.len(), Ordering::Relaxed);
                    // A closed channel means the writer is gone; the reader stops soon.
                    let _ = self.tx.send(p);
                }
                other => rest.push(other),
            }
        }
        rest
    }
}

async fn read_pdu(
    r: &mut BufReader<OwnedReadHalf>,
    d: Digests,
    max_data: usize,
) -> Result<Request, ConnError> {
    let mut bhs = [0u8; BHS_LEN];
    r.read_exact(&mut bhs).await?;
    let layout = Layout::of(&bhs, max_data)?;
    let mut ahs = vec![0u8; layout.ahs_len];
    r.read_exact(&mut ahs).await?;
    if d.header {
        let mut got = [0u8; DIGEST_LEN];
        r.read_exact(&mut got).await?;
        if pdu::digest(&[&bhs, &ahs]) != got {
            return Err(pdu::PduError::HeaderDigest.into());
        }
    }
    let padded = layout.data_len + pdu::pad_len(layout.data_len);
    let mut data = BytesMut::zeroed(padded);
    r.read_exact(&mut data).await?;
    if d.data && layout.data_len > 0 {
        let mut got = [0u8; DIGEST_LEN];
        r.read_exact(&mut got).await?;
        if pdu::digest(&[&data]) != got {
            return Err(pdu::PduError::DataDigest.into());
        }
    }
    data.truncate(layout.data_len);
    Ok(pdu::decode(&bhs, &ahs, data.freeze())?)
}

/// Appends `p` to the pending wire segments.
fn frame(p: &OutPdu, d: Digests, scratch: &mut BytesMut, segs: &mut VecDeque<Bytes>) {
    scratch.extend_from_slice(&p.header);
    if d.header {
        scratch.extend_from_slice(&pdu::digest(&[&p.header]));
    }
    if p.data.is_empty() {
        return;
    }
    if p.data.len() <= INLINE_DATA_MAX {
        scratch.extend_from_slice(&p.data);
    } else {
        segs.push_back(scratch.split().freeze());
        segs.push_back(p.data.clone());
    }
    let pad = [0u8; 3];
    let pad = &pad[..pdu::pad_len(p.data.len())];
    scratch.extend_from_slice(pad);
    if d.data {
        scratch.extend_from_slice(&pdu::digest(&[&p.data, pad]));
    }
}

async fn write_all(w: &mut OwnedWriteHalf, segs: &mut VecDeque<Bytes>) -> io::Result<()> {
    segs.retain(|b| !b.is_empty());
    while !segs.is_empty() {
        let slices: Vec<IoSlice<'_>> = segs.iter().take(256).map(|b| IoSlice::new(b)).collect();
        let mut n = w.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let Some(front) = segs.front_mut() else { break };
            if n >= front.len() {
                n -= front.len();
                segs.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
    Ok(())
}

async fn write_one(w: &mut OwnedWriteHalf, p: &OutPdu) -> io::Result<()> {
    let mut scratch = BytesMut::new();
    let mut segs = VecDeque::new();
    frame(p, Digests::default(), &mut scratch, &mut segs);
    segs.push_back(scratch.freeze());
    write_all(w, &mut segs).await
}

async fn writer(
    mut w: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<OutPdu>,
    d: Digests,
    backlog: Arc<Backlog>,
) {
    let mut scratch = BytesMut::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        let mut segs = VecDeque::new();
        let mut bytes = 0;
        let mut next = Some(first);
        let mut n = 0;
        while let Some(p) = next.take() {
            bytes += BHS_LEN + p.data.len();
            frame(&p, d, &mut scratch, &mut segs);
            n += 1;
            if n < WRITE_BATCH_MAX {
                next = rx.try_recv().ok();
            }
        }
        segs.push_back(scratch.split().freeze());
        if let Err(e) = write_all(&mut w, &mut segs).await {
            tracing::debug!(error = %e, "iSCSI write failed");
            break;
        }
        backlog.bytes.fetch_sub(bytes, Ordering::Relaxed);
        backlog.drained.notify_one();
    }
    backlog.writer_gone.store(true, Ordering::Relaxed);
    backlog.drained.notify_one();
    let _ = w.shutdown().await;
}

/// Serves one connection until it closes or `stop` is set.
pub(super) async fn run(sock: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let _ = sock.set_nodelay(true);
    let (rd, mut wr) = sock.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let login = tokio::time::timeout(LOGIN_TIMEOUT, do_login(&mut rd, &mut wr, &shared)).await;
    let Ok(Ok(Some((outcome, lu)))) = login else {
        return;
    };
    let params = outcome.params;
    let digests = Digests {
        header: params.header_digest,
        data: params.data_digest,
    };
    let target_name = match &outcome.kind {
        SessionKind::Normal(n) => shared.config.target_name(n),
        SessionKind::Discovery => String::new(),
    };
    let nexus = Nexus {
        initiator_port: format!("{},i,0x{}", outcome.initiator_name, hex(&outcome.isid)),
        port: PortIdentity {
            target_port: format!("{target_name},t,0x{TPGT:04x}"),
            relative_port: 1,
        },
    };
    let span =
        tracing::info_span!("iscsi", initiator = %nexus.initiator_port, target = %target_name);
    let _enter = span.enter();
    tracing::debug!("session in full feature phase");
    let (tx, rx) = mpsc::unbounded_channel();
    let backlog = Arc::new(Backlog::default());
    let session = Session::new(
        outcome.kind.clone(),
        params,
        outcome.stat_sn,
        outcome.exp_cmd_sn,
        shared.config.iqn_prefix.clone(),
        shared.config.portal.clone(),
    );
    let out = Arc::new(Output {
        session: Mutex::new(session),
        tx,
        backlog: backlog.clone(),
    });
    let writer = tokio::spawn(writer(wr, rx, digests, backlog.clone()));
    let nexus = Arc::new(nexus);
    let ctx = Ctx {
        out: out.clone(),
        lu: lu.clone(),
        nexus: nexus.clone(),
        running: HashMap::new(),
    };
    full_feature(
        &mut rd,
        ctx,
        &shared,
        digests,
        params.target_mrdsl as usize,
        &mut stop,
    )
    .await;
    drop(out);
    if let Some(lu) = &lu {
        lu.nexus_lost(&nexus);
    }
    // The writer ends when every sender (command tasks included) is gone.
    let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs the login; `None` when it failed (and the failure was answered).
async fn do_login(
    rd: &mut BufReader<OwnedReadHalf>,
    wr: &mut OwnedWriteHalf,
    shared: &Shared,
) -> Result<Option<(login::Outcome, Option<Arc<LogicalUnit>>)>, ConnError> {
    let exports = shared.exports.list().await.unwrap_or_default();
    let mut login = Login::new(
        shared.config.clone(),
        LIMITS,
        exports,
        shared.next_tsih(),
        CMD_WINDOW,
    );
    loop {
        let req = read_pdu(rd, Digests::default(), LOGIN_DATA_MAX).await?;
        match login.on_request(&req) {
            Step::Reply(p) => write_one(wr, &p).await?,
            Step::Fail(p) => {
                write_one(wr, &p).await?;
                return Ok(None);
            }
            Step::Done(p, outcome) => {
                let lu = match &outcome.kind {
                    SessionKind::Discovery => None,
                    SessionKind::Normal(name) => match shared.logical_unit(name).await {
                        Ok(lu) => Some(lu),
                        Err(e) => {
                            tracing::warn!(export = %name, error = %e, "cannot attach the volume");
                            let pdu::Kind::Login(l) = &req.kind else {
                                return Ok(None);
                            };
                            write_one(wr, &login.fail(l, login::status::TARGET_ERROR)).await?;
                            return Ok(None);
                        }
                    },
                };
                write_one(wr, &p).await?;
                return Ok(Some((outcome, lu)));
            }
        }
    }
}

/// What the full feature phase loop works with.
struct Ctx {
    out: Arc<Output>,
    lu: Option<Arc<LogicalUnit>>,
    nexus: Arc<Nexus>,
    running: HashMap<u32, AbortHandle>,
}

async fn full_feature(
    rd: &mut BufReader<OwnedReadHalf>,
    mut ctx: Ctx,
    shared: &Shared,
    digests: Digests,
    max_data: usize,
    stop: &mut watch::Receiver<bool>,
) {
    let backlog = ctx.out.backlog.clone();
    loop {
        while backlog.bytes.load(Ordering::Relaxed) > WRITE_BACKLOG_MAX
            && !backlog.writer_gone.load(Ordering::Relaxed)
        {
            backlog.drained.notified().await;
        }
        if backlog.writer_gone.load(Ordering::Relaxed) {
            break;
        }
        let req = tokio::select! {
            r = read_pdu(rd, digests, max_data) => r,
            _ = stop.changed() => break,
        };
        let req = match req {
            Ok(r) => r,
            Err(ConnError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => {
                tracing::debug!(error = %e, "closing connection");
                break;
            }
        };
        if matches!(req.kind, pdu::Kind::Text(_)) {
            let names = shared.exports.list().await.unwrap_or_default();
            ctx.out.with_session(|s| {
                s.set_targets(names);
                Vec::new()
            });
        }
        let actions = ctx.out.with_session(|s| s.on_pdu(req));
        if !ctx.act(actions) {
            break;
        }
    }
    for (_, h) in ctx.running.drain() {
        h.abort();
    }
}

impl Ctx {
    /// Carries out the non-send actions; false when the connection must close.
    fn act(&mut self, actions: Vec<Action>) -> bool {
        let mut open = true;
        for a in actions {
            match a {
                Action::Execute(e) => self.execute(e),
                Action::Abort(itt) => {
                    if let Some(h) = self.running.remove(&itt) {
                        h.abort();
                    }
                }
                Action::ResetLu => {
                    if let Some(lu) = &self.lu {
                        lu.reset();
                    }
                }
                Action::Close => open = false,
                Action::Send(_) => {}
            }
        }
        open
    }

    fn execute(&mut self, e: Exec) {
        let out = self.out.clone();
        let nexus = self.nexus.clone();
        let lu = self.lu.clone();
        let itt = e.itt;
        let handle = tokio::spawn(async move {
            let resp = match &lu {
                Some(lu) => {
                    lu.execute(scsi::Request {
                        lun: e.lun,
                        cdb: &e.cdb,
                        data_out: e.data_out,
                        data_in_max: e.data_in_max,
                        nexus: &nexus,
                    })
                    .await
                }
                None => scsi::Response::check(scsi::Sense::LUN_NOT_SUPPORTED, 0),
            };
            out.with_session(|s| s.on_response(itt, resp));
        });
        if self.running.len() >= 4 * CMD_WINDOW as usize {
            self.running.retain(|_, h| !h.is_finished());
        }
        self.running.insert(itt, handle.abort_handle());
    }
}
