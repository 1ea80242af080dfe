//! The extent store against both disk interfaces: round trips, holes,
//! fencing, checksums (a flipped byte, a torn write), copy-on-write,
//! listing and removal.

use super::ExtentStore;
use bytes::Bytes;
use cairn_diskio::{DiskIo, StdDiskIo, UringDiskIo};
use cairn_nodeapi::{DeviceId, Epoch, ExtentKey, ExtentWrite, NodeError, VolumeId};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

const SIZE: u32 = 64 * 1024;
const VOL: VolumeId = VolumeId([7; 16]);

fn key(index: u64, generation: u32) -> ExtentKey {
    ExtentKey {
        volume: VOL,
        index,
        generation,
    }
}

fn w(epoch: Epoch, offset: u32, data: Bytes, fua: bool) -> ExtentWrite {
    ExtentWrite {
        extent_size: SIZE,
        epoch,
        offset,
        data,
        fua,
    }
}

fn store<D: DiskIo>(root: &Path, io: Arc<D>) -> ExtentStore<D> {
    ExtentStore::new(DeviceId(1), root, io)
}

fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

async fn round_trips_and_holes<D: DiskIo>(io: Arc<D>) {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), io);
    let e = Epoch(1);
    assert_eq!(s.read(key(0, 0), 0, 10).await.unwrap(), None);
    s.write(key(0, 0), w(e, 8192, pattern(4096, 1), false))
        .await
        .unwrap();
    // Unaligned, across block boundaries.
    s.write(key(0, 0), w(e, 1000, pattern(5000, 2), false))
        .await
        .unwrap();
    let got = s.read(key(0, 0), 0, SIZE).await.unwrap().unwrap();
    let mut want = vec![0u8; SIZE as usize];
    want[8192..12288].copy_from_slice(&pattern(4096, 1));
    want[1000..6000].copy_from_slice(&pattern(5000, 2));
    assert_eq!(&got[..], &want[..]);
    assert_eq!(
        s.allocation(key(0, 0), 0, SIZE).await.unwrap().unwrap(),
        vec![(0, 12288)]
    );
    s.discard(key(0, 0), e, 4096, 8192, true).await.unwrap();
    want[4096..12288].fill(0);
    assert_eq!(
        &s.read(key(0, 0), 0, SIZE).await.unwrap().unwrap()[..],
        &want[..]
    );
    assert_eq!(
        s.allocation(key(0, 0), 0, SIZE).await.unwrap().unwrap(),
        vec![(0, 4096)]
    );
    s.flush(VOL, e).await.unwrap();
    // Reopened (a restart): the same bytes, verified from the on-disk table.
    let s = store(dir.path(), Arc::new(StdDiskIo::new()));
    assert_eq!(
        &s.read(key(0, 0), 0, SIZE).await.unwrap().unwrap()[..],
        &want[..]
    );
    assert!(s.read(key(0, 0), SIZE - 1, 2).await.is_err());
}

async fn fencing<D: DiskIo>(io: Arc<D>) {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), io);
    s.write(key(1, 0), w(Epoch(3), 0, pattern(4096, 1), false))
        .await
        .unwrap();
    s.fence(VOL, Epoch(5)).await.unwrap();
    let stale = s
        .write(key(1, 0), w(Epoch(3), 0, pattern(4096, 9), false))
        .await;
    assert_eq!(stale, Err(NodeError::Fenced { current: 5 }));
    assert_eq!(
        s.flush(VOL, Epoch(4)).await,
        Err(NodeError::Fenced { current: 5 })
    );
    assert_eq!(
        s.fence(VOL, Epoch(4)).await,
        Err(NodeError::Fenced { current: 5 })
    );
    // A newer epoch raises the fence by itself; the fence survives a restart.
    s.write(key(1, 0), w(Epoch(6), 0, pattern(4096, 2), true))
        .await
        .unwrap();
    let s = store(dir.path(), Arc::new(StdDiskIo::new()));
    let stale = s.discard(key(1, 0), Epoch(5), 0, 4096, false).await;
    assert_eq!(stale, Err(NodeError::Fenced { current: 6 }));
    assert_eq!(
        s.read(key(1, 0), 0, 4096).await.unwrap().unwrap(),
        pattern(4096, 2)
    );
}

fn extent_file(root: &Path, k: &ExtentKey) -> std::fs::File {
    let p = root
        .join("extents")
        .join(k.volume.hex())
        .join(format!("{:016x}.{:08x}", k.index, k.generation));
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap()
}

async fn checksums<D: DiskIo>(io: Arc<D>) {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), io);
    let e = Epoch(1);
    s.write(key(2, 0), w(e, 0, pattern(8192, 1), false))
        .await
        .unwrap();
    // A torn write: the new checksums are stored, the data is not (the
    // process died in between). The old data still verifies.
    {
        let f = extent_file(dir.path(), &key(2, 0));
        let mut entry = [0u8; 8];
        f.read_exact_at(&mut entry, u64::from(SIZE)).unwrap();
        let old_current = &entry[4..8].to_vec();
        let new = super::sums::block_sum(&pattern(4096, 9));
        entry[..4].copy_from_slice(old_current);
        entry[4..].copy_from_slice(&new.to_le_bytes());
        f.write_all_at(&entry, u64::from(SIZE)).unwrap();
    }
    let s = store(dir.path(), Arc::new(StdDiskIo::new()));
    assert_eq!(
        s.read(key(2, 0), 0, 8192).await.unwrap().unwrap(),
        pattern(8192, 1)
    );
    // Writing the block after the restart learns what it holds first.
    s.write(key(2, 0), w(e, 0, pattern(4096, 3), false))
        .await
        .unwrap();
    assert_eq!(
        s.read(key(2, 0), 0, 4096).await.unwrap().unwrap(),
        pattern(4096, 3)
    );
    // A flipped byte on disk matches neither checksum.
    extent_file(dir.path(), &key(2, 0))
        .write_all_at(&[0xff], 5000)
        .unwrap();
    let s = store(dir.path(), Arc::new(StdDiskIo::new()));
    assert_eq!(s.read(key(2, 0), 4096, 10).await, Err(NodeError::Corrupt));
    assert_eq!(
        s.read(key(2, 0), 0, 4096).await.unwrap().unwrap(),
        pattern(4096, 3)
    );
    // A partial write cannot merge into a damaged block; a whole one replaces it.
    assert_eq!(
        s.write(key(2, 0), w(e, 4100, pattern(10, 1), false)).await,
        Err(NodeError::Corrupt)
    );
    s.write(key(2, 0), w(e, 4096, pattern(4096, 4), false))
        .await
        .unwrap();
    assert_eq!(
        s.read(key(2, 0), 4096, 4096).await.unwrap().unwrap(),
        pattern(4096, 4)
    );
}

async fn copy_list_remove<D: DiskIo>(io: Arc<D>) {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), io);
    let e = Epoch(1);
    s.write(key(3, 0), w(e, 0, pattern(SIZE as usize, 1), false))
        .await
        .unwrap();
    s.copy(key(3, 0), key(3, 1), SIZE, e).await.unwrap();
    s.write(key(3, 1), w(e, 0, pattern(4096, 2), false))
        .await
        .unwrap();
    assert_eq!(
        s.read(key(3, 0), 0, 4096).await.unwrap().unwrap(),
        pattern(4096, 1)
    );
    let copied = s.read(key(3, 1), 0, SIZE).await.unwrap().unwrap();
    assert_eq!(&copied[..4096], &pattern(4096, 2)[..]);
    assert_eq!(&copied[4096..], &pattern(SIZE as usize, 1)[4096..]);
    s.write(key(9, 1), w(e, 0, pattern(10, 1), false))
        .await
        .unwrap();
    assert_eq!(s.list(VOL).await.unwrap(), vec![(3, 0), (3, 1), (9, 1)]);
    s.remove(VOL, Some(&[(3, 0)])).await.unwrap();
    assert_eq!(s.list(VOL).await.unwrap(), vec![(3, 1), (9, 1)]);
    assert_eq!(s.read(key(3, 0), 0, 1).await.unwrap(), None);
    s.remove(VOL, None).await.unwrap();
    assert!(s.list(VOL).await.unwrap().is_empty());
    assert!(!dir.path().join("extents").join(VOL.hex()).exists());
}

async fn run_all<D: DiskIo>(io: Arc<D>) {
    round_trips_and_holes(io.clone()).await;
    fencing(io.clone()).await;
    checksums(io.clone()).await;
    copy_list_remove(io).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extent_store_on_std_io() {
    run_all(Arc::new(StdDiskIo::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extent_store_on_io_uring() {
    run_all(Arc::new(UringDiskIo::new().unwrap())).await;
}
