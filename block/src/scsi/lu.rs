//! The logical unit: its shared state (reservations, mode settings), the
//! dispatch of a decoded CDB, reservation checks, and the SPC commands
//! (INQUIRY, MODE SENSE/SELECT, REPORT LUNS, PR IN/OUT, ...). Medium
//! access commands are in `sbc`.

use super::cdb::{self, Command};
use super::inquiry::{self, PortIdentity};
use super::limits::BLOCK;
use super::mode::{self, ModeState};
use super::opcodes;
use super::reservation::{Access, PrOutParams, Reservations};
use super::sense::{Sense, Status};
use crate::{BlockDevice, DeviceIdentity};
use bytes::Bytes;
use std::sync::{Arc, Mutex, MutexGuard};

/// Who sends a command: the I_T nexus.
#[derive(Debug, Clone)]
pub struct Nexus {
    /// SCSI initiator port name, e.g. `iqn.1994-05.com.example:host,i,0x00023d000001`.
    pub initiator_port: String,
    /// The target port the command arrived on.
    pub port: PortIdentity,
}

/// One command for the logical unit.
#[derive(Debug)]
pub struct Request<'a> {
    /// The logical unit number addressed.
    pub lun: u64,
    /// The CDB (iSCSI pads it to 16 bytes).
    pub cdb: &'a [u8],
    /// The data-out buffer the transport collected (empty if none).
    pub data_out: Bytes,
    /// The most data-in the transport can carry (its expected length).
    pub data_in_max: u32,
    pub nexus: &'a Nexus,
}

/// The outcome of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub sense: Option<Sense>,
    /// Data-in, already cut to the allocation length.
    pub data: Bytes,
    /// Bytes the command would transfer (data-in it produced, or data-out
    /// its CDB asked for): the transport's residuals compare against it.
    pub transfer_len: u32,
}

impl Response {
    /// GOOD with `data` cut to `alloc` bytes.
    pub fn data(mut data: Vec<u8>, alloc: u32) -> Response {
        data.truncate(alloc as usize);
        let transfer_len = data.len() as u32;
        Response {
            status: Status::Good,
            sense: None,
            data: data.into(),
            transfer_len,
        }
    }

    /// GOOD without data, for a command that asked for `transfer_len` bytes.
    pub fn good(transfer_len: u32) -> Response {
        Response {
            status: Status::Good,
            sense: None,
            data: Bytes::new(),
            transfer_len,
        }
    }

    /// CHECK CONDITION with `sense`.
    pub fn check(sense: Sense, transfer_len: u32) -> Response {
        Response {
            status: Status::CheckCondition,
            sense: Some(sense),
            data: Bytes::new(),
            transfer_len,
        }
    }

    fn from_pr((status, sense): (Status, Option<Sense>)) -> Response {
        Response {
            status,
            sense,
            data: Bytes::new(),
            transfer_len: 0,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct LuState {
    pub(super) reservations: Reservations,
    pub(super) mode: ModeState,
}

/// A logical unit (LUN 0 of a target), shared by every session of the
/// target.
pub struct LogicalUnit {
    pub(super) device: Arc<dyn BlockDevice>,
    pub(super) identity: DeviceIdentity,
    state: Mutex<LuState>,
    /// Held shared by writes and exclusively by COMPARE AND WRITE and
    /// ORWRITE, whose read-modify-write must be atomic.
    pub(super) atomic: tokio::sync::RwLock<()>,
}

impl LogicalUnit {
    pub fn new(device: Arc<dyn BlockDevice>) -> LogicalUnit {
        LogicalUnit {
            identity: device.identity(),
            device,
            state: Mutex::new(LuState::default()),
            atomic: tokio::sync::RwLock::new(()),
        }
    }

    /// The identity of the device behind the unit.
    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }

    pub(super) fn state(&self) -> MutexGuard<'_, LuState> {
        // A poisoned lock means a panic while holding it: the state is
        // plain data that every method leaves consistent, so keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Capacity in logical blocks.
    pub(super) fn blocks(&self) -> u64 {
        self.device.size() / u64::from(BLOCK)
    }

    /// Whether writes are refused (read-only device or SWP set).
    pub(super) fn write_protected(&self) -> bool {
        self.device.read_only() || self.state().mode.swp
    }

    /// Whether a write must be durable before it is acknowledged.
    pub(super) fn write_through(&self, fua: bool) -> bool {
        fua || !self.state().mode.wce
    }

    /// LOGICAL UNIT RESET (or a target reset).
    pub fn reset(&self) {
        self.state().reservations.reset();
    }

    /// The session of `nexus` ended.
    pub fn nexus_lost(&self, nexus: &Nexus) {
        self.state().reservations.nexus_lost(&nexus.initiator_port);
    }

    /// Runs one command to completion.
    pub async fn execute(&self, req: Request<'_>) -> Response {
        if req.lun != 0 {
            return other_lun(&req);
        }
        let cmd = match cdb::decode(req.cdb) {
            Ok(c) => c,
            Err(sense) => return Response::check(sense, 0),
        };
        if let Err(e) = self
            .state()
            .reservations
            .check(&req.nexus.initiator_port, access(&cmd))
        {
            return Response::from_pr(e);
        }
        match cmd {
            Command::TestUnitReady | Command::StartStopUnit | Command::PreventAllow => {
                Response::good(0)
            }
            Command::RequestSense { descriptor, alloc } => {
                request_sense(Sense::NO_SENSE, descriptor, alloc)
            }
            Command::Inquiry { evpd, page, alloc } => self.inquiry(evpd, page, alloc, req.nexus),
            Command::ModeSense(ms) => self.mode_sense(&ms),
            Command::ModeSelect {
                ten,
                save,
                param_len,
            } => self.mode_select(ten, save, param_len, &req.data_out),
            Command::Reserve => self.reserve(req.nexus, true),
            Command::Release => self.reserve(req.nexus, false),
            Command::ReportLuns { alloc } => report_luns(alloc),
            Command::ReportOpcodes(r) => report_opcodes(&r),
            Command::ReportTmfs { alloc } => Response::data(vec![0xda, 0, 0, 0], alloc),
            Command::PersistentReserveIn { action, alloc } => self.pr_in(action, alloc),
            Command::PersistentReserveOut(p) => self.pr_out(req.nexus, p, &req.data_out),
            _ => self.execute_sbc(cmd, req.data_out, req.data_in_max).await,
        }
    }

    fn inquiry(&self, evpd: bool, page: u8, alloc: u32, nexus: &Nexus) -> Response {
        if !evpd {
            if page != 0 {
                return Response::check(Sense::invalid_cdb(2, None), 0);
            }
            return Response::data(inquiry::standard(), alloc);
        }
        match inquiry::vpd(page, &self.identity, &nexus.port) {
            Ok(d) => Response::data(d, alloc),
            Err(s) => Response::check(s, 0),
        }
    }

    fn mode_sense(&self, ms: &cdb::ModeSense) -> Response {
        let st = self.state().mode;
        match mode::sense(ms, st, self.blocks(), BLOCK, self.device.read_only()) {
            Ok(d) => Response::data(d, ms.alloc),
            Err(s) => Response::check(s, 0),
        }
    }

    fn mode_select(&self, ten: bool, save: bool, param_len: u32, data: &Bytes) -> Response {
        if save {
            return Response::check(Sense::invalid_cdb(1, Some(0)), param_len);
        }
        if param_len == 0 {
            return Response::good(0);
        }
        let params = &data[..data.len().min(param_len as usize)];
        let mut state = self.state();
        match mode::select(ten, params, state.mode, BLOCK) {
            Ok(new) => {
                state.mode = new;
                Response::good(param_len)
            }
            Err(s) => Response::check(s, param_len),
        }
    }

    fn reserve(&self, nexus: &Nexus, reserve: bool) -> Response {
        let mut st = self.state();
        let r = if reserve {
            st.reservations.reserve(&nexus.initiator_port)
        } else {
            st.reservations.release(&nexus.initiator_port)
        };
        r.map_or_else(Response::from_pr, |()| Response::good(0))
    }

    fn pr_in(&self, action: u8, alloc: u32) -> Response {
        match self.state().reservations.read(action) {
            Ok(d) => Response::data(d, alloc),
            Err(e) => Response::from_pr(e),
        }
    }

    fn pr_out(&self, nexus: &Nexus, p: cdb::PrOut, data: &Bytes) -> Response {
        let params = &data[..data.len().min(p.param_len as usize)];
        let parsed = match PrOutParams::parse(params) {
            Ok(x) => x,
            Err(e) => return Response::from_pr(e),
        };
        let mut st = self.state();
        match st
            .reservations
            .out(&nexus.initiator_port, p.action, p.scope, p.kind, parsed)
        {
            Ok(()) => Response::good(p.param_len),
            Err(e) => Response::from_pr(e),
        }
    }
}

/// Reservation class of a command.
fn access(cmd: &Command) -> Access {
    match cmd {
        Command::TestUnitReady
        | Command::RequestSense { .. }
        | Command::Inquiry { .. }
        | Command::Reserve
        | Command::Release
        | Command::ReadCapacity10
        | Command::ReadCapacity16 { .. }
        | Command::PersistentReserveIn { .. }
        | Command::PersistentReserveOut(_)
        | Command::ReportLuns { .. }
        | Command::ReportOpcodes(_)
        | Command::ReportTmfs { .. } => Access::Always,
        Command::ModeSense(_)
        | Command::Read(_)
        | Command::Verify { .. }
        | Command::GetLbaStatus { .. }
        | Command::PreFetch { .. }
        | Command::ReadDefectData { .. } => Access::Read,
        _ => Access::Write,
    }
}

/// A command addressed to a LUN other than 0.
fn other_lun(req: &Request<'_>) -> Response {
    match cdb::decode(req.cdb) {
        Ok(Command::Inquiry {
            evpd: false, alloc, ..
        }) => Response::data(inquiry::no_lun(), alloc),
        Ok(Command::ReportLuns { alloc }) => report_luns(alloc),
        Ok(Command::RequestSense { descriptor, alloc }) => {
            request_sense(Sense::LUN_NOT_SUPPORTED, descriptor, alloc)
        }
        _ => Response::check(Sense::LUN_NOT_SUPPORTED, 0),
    }
}

fn request_sense(sense: Sense, descriptor: bool, alloc: u32) -> Response {
    let data = if descriptor {
        sense.to_descriptor()
    } else {
        sense.to_fixed().to_vec()
    };
    Response::data(data, alloc)
}

fn report_luns(alloc: u32) -> Response {
    let mut d = vec![0u8; 16];
    d[3] = 8; // one LUN: 0
    Response::data(d, alloc)
}

fn report_opcodes(r: &cdb::ReportOpcodes) -> Response {
    let data = match r.options {
        0 => opcodes::all_commands(r.rctd),
        o => match opcodes::one_command(o, r.opcode, r.service_action, r.rctd) {
            Some(d) => d,
            None => return Response::check(Sense::invalid_cdb(2, Some(2)), 0),
        },
    };
    Response::data(data, r.alloc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::mem::MemDevice;
    use crate::scsi::{limits, SenseKey};

    fn nexus(name: &str) -> Nexus {
        Nexus {
            initiator_port: format!("{name},i,0x000000000001"),
            port: PortIdentity {
                target_port: "iqn.t,t,0x0001".into(),
                relative_port: 1,
            },
        }
    }

    async fn run(lu: &LogicalUnit, cdb: &[u8], data: &[u8], data_in_max: u32) -> Response {
        let mut c = [0u8; 16];
        c[..cdb.len()].copy_from_slice(cdb);
        lu.execute(Request {
            lun: 0,
            cdb: &c,
            data_out: Bytes::copy_from_slice(data),
            data_in_max,
            nexus: &nexus("a"),
        })
        .await
    }

    fn rw10(op: u8, lba: u32, blocks: u16) -> Vec<u8> {
        let mut c = vec![op, 0];
        c.extend_from_slice(&lba.to_be_bytes());
        c.push(0);
        c.extend_from_slice(&blocks.to_be_bytes());
        c.push(0);
        c
    }

    fn lu(size: u64) -> LogicalUnit {
        LogicalUnit::new(MemDevice::new("v", size))
    }

    #[tokio::test]
    async fn write_and_read_honour_the_transport_length() {
        // The device gets what both the CDB and the data-out allow; the
        // transfer length reported is the CDB's, for residuals.
        let lu = lu(1 << 20);
        let r = run(&lu, &rw10(0x2a, 1, 2), &[7u8; 512], 0).await;
        assert_eq!((r.status, r.transfer_len), (Status::Good, 1024));
        let r = run(&lu, &rw10(0x28, 1, 2), &[], 4096).await;
        assert_eq!(r.transfer_len, 1024);
        assert_eq!(&r.data[..512], &[7u8; 512][..]);
        assert_eq!(&r.data[512..], &[0u8; 512][..]);
        let r = run(&lu, &rw10(0x28, 1, 2), &[], 100).await;
        assert_eq!(r.data.len(), 100);
        let r = run(&lu, &rw10(0x2a, 0, 1), &[1u8; 200], 0).await;
        assert_eq!(r.sense, Some(Sense::INVALID_FIELD_IN_IU));
    }

    #[tokio::test]
    async fn range_and_length_limits() {
        // Past the end is LBA OUT OF RANGE; over the transfer limit is
        // INVALID FIELD IN CDB; an unknown opcode is INVALID OPCODE.
        let lu = lu(1 << 20);
        let r = run(&lu, &rw10(0x28, 2047, 2), &[], 1024).await;
        assert_eq!(r.sense, Some(Sense::LBA_OUT_OF_RANGE));
        let mut c = vec![0x88, 0];
        c.extend_from_slice(&0u64.to_be_bytes());
        c.extend_from_slice(&(limits::MAX_TRANSFER_BLOCKS + 1).to_be_bytes());
        let r = run(&lu, &c, &[], u32::MAX).await;
        assert_eq!(r.sense.map(|s| (s.asc, s.ascq)), Some((0x24, 0)));
        assert_eq!(
            run(&lu, &[0xee], &[], 0).await.sense,
            Some(Sense::INVALID_OPCODE)
        );
    }

    #[tokio::test]
    async fn read_only_and_software_write_protect() {
        // A read-only device refuses writes; so does a writable one after
        // MODE SELECT sets SWP, until it is cleared.
        let ro = LogicalUnit::new(MemDevice::read_only("r", 1 << 20));
        let r = run(&ro, &rw10(0x2a, 0, 1), &[0u8; 512], 0).await;
        assert_eq!(r.sense.map(|s| s.key), Some(SenseKey::DataProtect));
        let lu = lu(1 << 20);
        let sense = run(&lu, &[0x1a, 0x08, 0x0a, 0, 255], &[], 255).await;
        let mut params = vec![0u8, 0, 0, 0];
        params.extend_from_slice(&sense.data[4..]);
        params[4 + 4] |= 0x08;
        let r = run(&lu, &[0x15, 0x10, 0, 0, params.len() as u8], &params, 0).await;
        assert_eq!(r.status, Status::Good, "{r:?}");
        let r = run(&lu, &rw10(0x2a, 0, 1), &[0u8; 512], 0).await;
        assert_eq!(r.sense, Some(Sense::WRITE_PROTECTED));
        params[4 + 4] &= !0x08;
        run(&lu, &[0x15, 0x10, 0, 0, params.len() as u8], &params, 0).await;
        assert_eq!(
            run(&lu, &rw10(0x2a, 0, 1), &[0u8; 512], 0).await.status,
            Status::Good
        );
    }

    #[tokio::test]
    async fn compare_and_write_is_all_or_nothing() {
        // A mismatch reports MISCOMPARE at the first differing byte and
        // writes nothing; a match writes the second half.
        let lu = lu(1 << 20);
        run(&lu, &rw10(0x2a, 4, 1), &[5u8; 512], 0).await;
        let mut c = vec![0x89, 0];
        c.extend_from_slice(&4u64.to_be_bytes());
        c.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
        let mut data = vec![5u8; 1024];
        data[10] = 6;
        let r = run(&lu, &c, &data, 0).await;
        assert_eq!(r.sense, Some(Sense::miscompare(10)));
        data[10] = 5;
        data[512..].fill(9);
        assert_eq!(run(&lu, &c, &data, 0).await.status, Status::Good);
        let r = run(&lu, &rw10(0x28, 4, 1), &[], 512).await;
        assert_eq!(&r.data[..], &[9u8; 512][..]);
        let r = run(&lu, &c, &data[..512], 0).await;
        assert_eq!(r.sense.map(|s| s.key), Some(SenseKey::IllegalRequest));
    }

    #[tokio::test]
    async fn write_same_unmap_shows_in_lba_status() {
        // WRITE SAME(16) with UNMAP and a zero block deallocates whole pages,
        // which GET LBA STATUS then reports; a non-zero pattern is written.
        let lu = lu(1 << 20);
        run(&lu, &rw10(0x2a, 0, 16), &[1u8; 8192], 0).await;
        let mut ws = vec![0x93, 0x08];
        ws.extend_from_slice(&0u64.to_be_bytes());
        ws.extend_from_slice(&8u32.to_be_bytes());
        assert_eq!(run(&lu, &ws, &[0u8; 512], 0).await.status, Status::Good);
        let mut gls = vec![0x9e, 0x12];
        gls.extend_from_slice(&0u64.to_be_bytes());
        gls.extend_from_slice(&64u32.to_be_bytes());
        let r = run(&lu, &gls, &[], 64).await;
        assert_eq!(&r.data[8..16], &0u64.to_be_bytes());
        assert_eq!(&r.data[16..20], &8u32.to_be_bytes());
        assert_eq!(r.data[20], 1, "first 8 blocks deallocated");
        assert_eq!(r.data[36], 0, "next run mapped");
        ws[1] = 0;
        assert_eq!(run(&lu, &ws, &[3u8; 512], 0).await.status, Status::Good);
        let r = run(&lu, &rw10(0x28, 0, 8), &[], 4096).await;
        assert!(r.data.iter().all(|&b| b == 3));
    }

    #[tokio::test]
    async fn reserve6_conflicts_across_nexuses() {
        // RESERVE(6) by a makes b's reads conflict until a releases.
        let lu = lu(1 << 20);
        let as_b = |cdb: Vec<u8>| {
            let lu = &lu;
            async move {
                let mut c = [0u8; 16];
                c[..cdb.len()].copy_from_slice(&cdb);
                lu.execute(Request {
                    lun: 0,
                    cdb: &c,
                    data_out: Bytes::new(),
                    data_in_max: 512,
                    nexus: &nexus("b"),
                })
                .await
            }
        };
        assert_eq!(run(&lu, &[0x16], &[], 0).await.status, Status::Good);
        assert_eq!(
            as_b(rw10(0x28, 0, 1)).await.status,
            Status::ReservationConflict
        );
        assert_eq!(as_b(vec![0x12, 0, 0, 0, 36]).await.status, Status::Good);
        assert_eq!(run(&lu, &[0x17], &[], 0).await.status, Status::Good);
        assert_eq!(as_b(rw10(0x28, 0, 1)).await.status, Status::Good);
    }
}
