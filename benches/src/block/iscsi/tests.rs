//! The iSCSI benchmark end to end against real targets: Cairn's own (the
//! `cairn-block` target, in process, over a memory disk — honest, or
//! flipping a bit of every read) and, when it is installed, Linux's tgtd
//! serving a file. Every run checks every read and reads back every block
//! written; 1 MiB writes go past FirstBurstLength, so R2Ts are answered.

use crate::block::{run, BlockAddress, BlockConfig, BlockWorkload, IscsiAddress};
use crate::report::Report;
use crate::{Progress, StopAt};
use async_trait::async_trait;
use bytes::Bytes;
use cairn_block::device::check_range;
use cairn_block::iscsi::{Credentials, TargetConfig};
use cairn_block::{AllocRun, BlockDevice, BlockError, DeviceIdentity, Exports};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const DISK_BYTES: u64 = 16 << 20;
const EXPORT: &str = "disk";

/// A RAM disk; `corrupt` flips a bit in the middle of every read.
struct MemDisk {
    bytes: Mutex<Vec<u8>>,
    corrupt: bool,
    flushes: AtomicU64,
}

#[async_trait]
impl BlockDevice for MemDisk {
    fn size(&self) -> u64 {
        DISK_BYTES
    }

    fn identity(&self) -> DeviceIdentity {
        DeviceIdentity {
            name: EXPORT.to_owned(),
            uuid: [7; 16],
        }
    }

    fn read_only(&self) -> bool {
        false
    }

    async fn read(&self, offset: u64, len: u32) -> Result<Bytes, BlockError> {
        check_range(offset, u64::from(len), DISK_BYTES)?;
        let (start, end) = (offset as usize, (offset + u64::from(len)) as usize);
        let mut block = self.bytes.lock().unwrap()[start..end].to_vec();
        if self.corrupt && !block.is_empty() {
            let mid = block.len() / 2;
            block[mid] ^= 0x10;
        }
        Ok(Bytes::from(block))
    }

    async fn write(&self, offset: u64, data: Bytes, _fua: bool) -> Result<(), BlockError> {
        check_range(offset, data.len() as u64, DISK_BYTES)?;
        let start = offset as usize;
        self.bytes.lock().unwrap()[start..start + data.len()].copy_from_slice(&data);
        Ok(())
    }

    async fn flush(&self) -> Result<(), BlockError> {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn write_zeroes(
        &self,
        offset: u64,
        len: u64,
        _may_unmap: bool,
        _fua: bool,
    ) -> Result<(), BlockError> {
        check_range(offset, len, DISK_BYTES)?;
        self.bytes.lock().unwrap()[offset as usize..(offset + len) as usize].fill(0);
        Ok(())
    }

    async fn allocation(&self, offset: u64, len: u64) -> Result<Vec<AllocRun>, BlockError> {
        check_range(offset, len, DISK_BYTES)?;
        Ok(vec![AllocRun {
            len,
            allocated: true,
        }])
    }
}

struct OneDisk(Arc<MemDisk>);

#[async_trait]
impl Exports for OneDisk {
    async fn list(&self) -> Result<Vec<String>, BlockError> {
        Ok(vec![EXPORT.to_owned()])
    }

    async fn open(&self, name: &str) -> Result<Arc<dyn BlockDevice>, BlockError> {
        if name != EXPORT {
            return Err(BlockError::NoSuchExport(name.to_owned()));
        }
        Ok(self.0.clone())
    }
}

/// Cairn's target over one memory disk, served until the sender is dropped.
struct CairnTarget {
    url: String,
    disk: Arc<MemDisk>,
    _stop: oneshot::Sender<()>,
}

async fn cairn_target(corrupt: bool, chap: Option<Credentials>) -> CairnTarget {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let portal = listener.local_addr().unwrap().to_string();
    let disk = Arc::new(MemDisk {
        bytes: Mutex::new(vec![0; DISK_BYTES as usize]),
        corrupt,
        flushes: AtomicU64::new(0),
    });
    let mut cfg = TargetConfig::new(portal.clone());
    cfg.chap = chap;
    let url = format!("iscsi://{portal}/{}/0", cfg.target_name(EXPORT));
    let (stop, stopped) = oneshot::channel::<()>();
    let exports = Arc::new(OneDisk(disk.clone()));
    tokio::spawn(cairn_block::iscsi::serve(
        listener,
        exports,
        cfg,
        async move {
            let _ = stopped.await;
        },
    ));
    CairnTarget {
        url,
        disk,
        _stop: stop,
    }
}

struct Shape {
    workload: BlockWorkload,
    block_bytes: u64,
    queue_depth: usize,
    connections: usize,
    ops: u64,
    flush_every: Option<u32>,
}

const RANDRW_4K: Shape = Shape {
    workload: BlockWorkload::RandRw { read_percent: 50 },
    block_bytes: 4096,
    queue_depth: 8,
    connections: 2,
    ops: 400,
    flush_every: None,
};

const SEQWRITE_1M: Shape = Shape {
    workload: BlockWorkload::SeqWrite,
    block_bytes: 1 << 20,
    queue_depth: 4,
    connections: 1,
    ops: 40,
    flush_every: Some(8),
};

fn config(address: IscsiAddress, shape: &Shape) -> BlockConfig {
    BlockConfig {
        address: BlockAddress::Iscsi(address),
        workload: shape.workload,
        block_bytes: shape.block_bytes,
        queue_depth: shape.queue_depth,
        connections: shape.connections,
        stop: StopAt::Ops(shape.ops),
        warmup: Duration::ZERO,
        span_bytes: None,
        verify: true,
        flush_every: shape.flush_every,
        timeout: Duration::from_secs(20),
        progress: Progress::Off,
        seed: 11,
    }
}

/// Runs `shape` and checks it had no error anywhere and verified something.
async fn clean_run(address: IscsiAddress, shape: &Shape) -> Report {
    let report = run(&config(address, shape)).await.unwrap();
    let phase = &report.phases[0];
    assert_eq!(phase.errors, 0, "{:?}", phase.errors_by_kind);
    for (stage, s) in &report.unmeasured {
        assert_eq!(s.errors, 0, "{stage}");
    }
    assert!(report.unmeasured["verify"].ops > 0, "nothing verified");
    report
}

#[tokio::test]
async fn random_reads_and_writes_verify_against_cairns_target() {
    // 4 KiB randrw over 2 sessions × 8 in flight: every read matches, the read-back is clean,
    // the requests are counted under iSCSI's names, and the target saw the final flushes.
    let t = cairn_target(false, None).await;
    let report = clean_run(IscsiAddress::parse(&t.url).unwrap(), &RANDRW_4K).await;
    let phase = &report.phases[0];
    assert_eq!(phase.by_op["read"].ops + phase.by_op["write"].ops, 400);
    assert!(phase.by_op["read"].ops > 0 && phase.by_op["write"].ops > 0);
    assert_eq!(report.target.api, "iscsi");
    assert!(report.settings["iscsi"]["lba_bytes"] == 512);
    assert!(t.disk.flushes.load(Ordering::Relaxed) >= 2);
}

#[tokio::test]
async fn megabyte_writes_answer_r2ts_and_flush_against_cairns_target() {
    // 1 MiB sequential writes (immediate data, then R2Ts for the rest), a flush every 8:
    // all acknowledged, all read back intact, the flushes counted.
    let t = cairn_target(false, None).await;
    let report = clean_run(IscsiAddress::parse(&t.url).unwrap(), &SEQWRITE_1M).await;
    let phase = &report.phases[0];
    assert_eq!(phase.by_op["write"].ops, 40);
    assert!(phase.by_op["flush"].ops >= 5, "{:?}", phase.by_op.keys());
}

#[tokio::test]
async fn a_target_returning_wrong_data_fails_verification() {
    // Cairn's target over a disk that flips a bit of every read: the reads fail as "verification".
    let t = cairn_target(true, None).await;
    let report = run(&config(IscsiAddress::parse(&t.url).unwrap(), &RANDRW_4K))
        .await
        .unwrap();
    let phase = &report.phases[0];
    let caught: u64 = phase
        .errors_by_kind
        .iter()
        .filter(|(k, _)| *k == "verification")
        .map(|(_, n)| n)
        .sum();
    assert!(caught > 0 && caught == phase.by_op["read"].failed_ops);
    assert_eq!(phase.by_op["read"].ops, 0);
}

#[tokio::test]
async fn chap_logs_in_with_the_secret_and_is_refused_without_it() {
    // A target that requires CHAP: no credentials and a wrong secret fail the login with
    // reasons; the right secret runs clean.
    let creds = Credentials {
        user: "bench".into(),
        secret: "bench-secret-12".into(),
    };
    let t = cairn_target(false, Some(creds)).await;
    let plain = IscsiAddress::parse(&t.url).unwrap();
    let e = run(&config(plain.clone(), &RANDRW_4K)).await.unwrap_err();
    assert!(e.to_string().contains("authentication"), "{e}");
    let wrong = plain.clone().with_chap("bench", "not-the-secret");
    let e = run(&config(wrong, &RANDRW_4K)).await.unwrap_err();
    assert!(e.to_string().contains("authentication failed"), "{e}");
    clean_run(plain.with_chap("bench", "bench-secret-12"), &RANDRW_4K).await;
}

/// Where `program` is on the PATH, if anywhere.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// tgtd and its control socket; killed and cleaned up on drop.
struct Tgtd {
    child: Child,
    dir: PathBuf,
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tgtadm(socket: &Path, args: &[&str]) {
    let out = Command::new("tgtadm")
        .env("TGT_IPC_SOCKET", socket)
        .args(["--lld", "iscsi"])
        .args(args)
        .output()
        .expect("running tgtadm");
    assert!(
        out.status.success(),
        "tgtadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts tgtd serving a `size`-byte file as LUN 1 of `target`; its portal.
fn start_tgtd(target: &str, size: u64) -> (Tgtd, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("cairn-bench-tgtd-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("disk.raw");
    std::fs::File::create(&file).unwrap().set_len(size).unwrap();
    let socket = dir.join("tgtd.socket");
    let portal = format!("127.0.0.1:{port}");
    let child = Command::new("tgtd")
        .args(["-f", "--iscsi", &format!("portal={portal}")])
        .env("TGT_IPC_SOCKET", &socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting tgtd");
    let mut tgtd = Tgtd { child, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&portal).is_err() {
        if let Ok(Some(status)) = tgtd.child.try_wait() {
            panic!("tgtd exited early: {status} (it needs root)");
        }
        assert!(Instant::now() < deadline, "tgtd did not listen on {portal}");
        std::thread::sleep(Duration::from_millis(50));
    }
    tgtadm(
        &socket,
        &[
            "--mode",
            "target",
            "--op",
            "new",
            "--tid",
            "1",
            "--targetname",
            target,
        ],
    );
    let backing = file.to_string_lossy().into_owned();
    tgtadm(
        &socket,
        &[
            "--mode",
            "logicalunit",
            "--op",
            "new",
            "--tid",
            "1",
            "--lun",
            "1",
            "--backing-store",
            &backing,
        ],
    );
    tgtadm(
        &socket,
        &[
            "--mode",
            "target",
            "--op",
            "bind",
            "--tid",
            "1",
            "--initiator-address",
            "ALL",
        ],
    );
    (tgtd, portal)
}

#[tokio::test]
async fn random_and_megabyte_workloads_verify_against_tgtd() {
    // Linux's tgtd serving a 16 MiB file as LUN 1 (skipped when tgt is not installed): 4 KiB
    // randrw, then 1 MiB sequential writes through its R2Ts, every block read back intact.
    if which("tgtd").is_none() || which("tgtadm").is_none() {
        eprintln!("tgtd is not installed (package tgt): skipping the tgtd case");
        return;
    }
    let target = "iqn.2025-01.bench:test";
    let (_tgtd, portal) = start_tgtd(target, DISK_BYTES);
    let address = IscsiAddress::parse(&format!("iscsi://{portal}/{target}/1")).unwrap();
    clean_run(address.clone(), &RANDRW_4K).await;
    let report = clean_run(address, &SEQWRITE_1M).await;
    assert_eq!(report.phases[0].by_op["write"].ops, 40);
}
