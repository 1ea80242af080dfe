//! Tests of the block benchmark as a whole, against a small in-process NBD
//! server (memory-backed, simple replies) that can be told to corrupt
//! every read: verification must catch it, and an honest server must pass.

use super::nbd::{self, OPTION_REPLY_MAGIC, SIMPLE_REPLY_MAGIC, TRANSMIT_SEND_FLUSH};
use super::*;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const DISK_BYTES: u64 = 1 << 20;

#[test]
fn workloads_name_their_access_and_read_share() {
    // randrw takes its read percent; the others are all-read or all-write.
    let w = BlockWorkload::parse("randrw", 70).unwrap();
    assert_eq!((w.access(), w.read_percent()), (Access::Random, 70));
    assert!(w.reads() && w.writes());
    let w = BlockWorkload::parse("seqwrite", 70).unwrap();
    assert_eq!((w.access(), w.read_percent()), (Access::Sequential, 0));
    assert!(BlockWorkload::parse("randrw", 101).is_err());
    assert!(BlockWorkload::parse("trim", 0).is_err());
}

/// Serves one memory disk to every connection; `corrupt` flips a bit of every read.
async fn fake_server(corrupt: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let disk = Arc::new(Mutex::new(vec![0u8; DISK_BYTES as usize]));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, disk.clone(), corrupt));
        }
    });
    addr
}

async fn serve(mut s: TcpStream, disk: Arc<Mutex<Vec<u8>>>, corrupt: bool) -> std::io::Result<()> {
    s.write_all(b"NBDMAGICIHAVEOPT\x00\x03").await?;
    let mut flags = [0u8; 4];
    s.read_exact(&mut flags).await?;
    let mut opt = [0u8; 16];
    s.read_exact(&mut opt).await?;
    let mut data = vec![0u8; u32::from_be_bytes([opt[12], opt[13], opt[14], opt[15]]) as usize];
    s.read_exact(&mut data).await?;
    let mut info = Vec::new();
    info.extend_from_slice(&0u16.to_be_bytes());
    info.extend_from_slice(&DISK_BYTES.to_be_bytes());
    info.extend_from_slice(&(1 | TRANSMIT_SEND_FLUSH).to_be_bytes());
    option_reply(&mut s, 3, &info).await?;
    option_reply(&mut s, 1, &[]).await?;
    loop {
        let mut req = [0u8; nbd::REQUEST_BYTES];
        s.read_exact(&mut req).await?;
        let kind = u16::from_be_bytes([req[6], req[7]]);
        let offset = u64::from_be_bytes(req[16..24].try_into().unwrap()) as usize;
        let len = u32::from_be_bytes(req[24..28].try_into().unwrap()) as usize;
        let mut reply = Vec::with_capacity(16 + len);
        reply.extend_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
        reply.extend_from_slice(&0u32.to_be_bytes());
        reply.extend_from_slice(&req[8..16]);
        match kind {
            0 => {
                let mut block = disk.lock().unwrap()[offset..offset + len].to_vec();
                if corrupt {
                    block[len / 2] ^= 0x10;
                }
                reply.extend_from_slice(&block);
            }
            1 => {
                let mut block = vec![0u8; len];
                s.read_exact(&mut block).await?;
                disk.lock().unwrap()[offset..offset + len].copy_from_slice(&block);
            }
            2 => return Ok(()),
            _ => {}
        }
        s.write_all(&reply).await?;
    }
}

async fn option_reply(s: &mut TcpStream, kind: u32, data: &[u8]) -> std::io::Result<()> {
    let mut out = OPTION_REPLY_MAGIC.to_be_bytes().to_vec();
    out.extend_from_slice(&7u32.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    s.write_all(&out).await
}

fn config(addr: &str, workload: BlockWorkload) -> BlockConfig {
    BlockConfig {
        address: NbdAddress::parse(addr, None).unwrap().into(),
        workload,
        block_bytes: 4096,
        queue_depth: 4,
        connections: 2,
        stop: StopAt::Ops(400),
        warmup: Duration::ZERO,
        span_bytes: None,
        verify: true,
        flush_every: None,
        timeout: Duration::from_secs(10),
        progress: Progress::Off,
        seed: 7,
    }
}

#[tokio::test]
async fn an_honest_server_passes_verification() {
    // randrw over the fake disk: 400 operations, every read checked, the write-back pass clean.
    let addr = fake_server(false).await;
    let report = run(&config(&addr, BlockWorkload::RandRw { read_percent: 50 }))
        .await
        .unwrap();
    let phase = &report.phases[0];
    assert_eq!(phase.errors, 0, "{:?}", phase.errors_by_kind);
    assert_eq!(phase.by_op["read"].ops + phase.by_op["write"].ops, 400);
    assert!(report.unmeasured["verify"].ops > 0);
    assert_eq!(report.unmeasured["verify"].errors, 0);
}

#[tokio::test]
async fn a_server_returning_wrong_data_fails_verification() {
    // The same against a server that flips a bit of every read: reads fail as "verification".
    let addr = fake_server(true).await;
    let report = run(&config(&addr, BlockWorkload::RandRw { read_percent: 50 }))
        .await
        .unwrap();
    let phase = &report.phases[0];
    let caught: u64 = phase
        .errors_by_kind
        .iter()
        .filter(|(k, _)| *k == "verification")
        .map(|(_, n)| n)
        .sum();
    assert!(
        caught > 0 && caught == phase.by_op["read"].failed_ops,
        "{:?}",
        phase.errors_by_kind
    );
    assert_eq!(phase.by_op["read"].ops, 0);
    assert!(report.unmeasured["verify"].errors > 0);
}
