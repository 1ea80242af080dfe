//! The `DiskIo` conformance suite, run against every implementation.

use crate::{AlignedBuf, DiskIo, OpenMode, StdDiskIo, UringDiskIo, DIRECT_ALIGN};
use std::io::ErrorKind;
use std::sync::Arc;

async fn write_read_roundtrip<D: DiskIo>(io: &D) {
    // A buffer written at an offset reads back byte-exact and is handed back.
    let dir = tempfile::tempdir().unwrap();
    let f = io
        .open(&dir.path().join("a"), OpenMode::CreateNew)
        .await
        .unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    let back = io.write_at(&f, 4096, data.clone()).await.unwrap();
    assert_eq!(back, data);
    assert_eq!(io.size(&f).await.unwrap(), 4096 + 100_000);
    let got = io.read_at(&f, 4096, 100_000).await.unwrap();
    assert_eq!(got, data);
    let hole = io.read_at(&f, 0, 4096).await.unwrap();
    assert!(hole.iter().all(|&b| b == 0));
}

async fn short_read_at_eof<D: DiskIo>(io: &D) {
    // Reading across the end of file returns only the bytes that exist; past it, nothing.
    let dir = tempfile::tempdir().unwrap();
    let f = io
        .open(&dir.path().join("a"), OpenMode::Create)
        .await
        .unwrap();
    io.write_at(&f, 0, b"hello".to_vec()).await.unwrap();
    assert_eq!(io.read_at(&f, 2, 100).await.unwrap(), b"llo");
    assert!(io.read_at(&f, 10, 100).await.unwrap().is_empty());
    assert!(io.read_at(&f, 0, 0).await.unwrap().is_empty());
    assert!(io.write_at(&f, 0, Vec::new()).await.unwrap().is_empty());
}

async fn open_modes<D: DiskIo>(io: &D) {
    // CreateNew refuses an existing file, ReadWrite/Read refuse a missing one.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    let e = io.open(&p, OpenMode::ReadWrite).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    io.open(&p, OpenMode::CreateNew).await.unwrap();
    let e = io.open(&p, OpenMode::CreateNew).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    io.open(&p, OpenMode::Read).await.unwrap();
    io.open(&p, OpenMode::Create).await.unwrap();
}

async fn sync_allocate_truncate_remove<D: DiskIo>(io: &D) {
    // Syncs succeed, fallocate grows the file, set_len shrinks it, remove and list agree.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    let f = io.open(&p, OpenMode::CreateNew).await.unwrap();
    io.allocate(&f, 0, 1 << 20).await.unwrap();
    assert_eq!(io.size(&f).await.unwrap(), 1 << 20);
    io.write_at(&f, 10, vec![1; 10]).await.unwrap();
    io.sync_data(&f).await.unwrap();
    io.sync_all(&f).await.unwrap();
    io.sync_dir(dir.path()).await.unwrap();
    io.set_len(&f, 20).await.unwrap();
    assert_eq!(io.size(&f).await.unwrap(), 20);
    assert_eq!(io.list_dir(dir.path()).await.unwrap(), vec![p.clone()]);
    assert!(io.free_space(dir.path()).await.unwrap() > 0);
    io.sync_filesystem(dir.path()).await.unwrap();
    assert!(io
        .sync_filesystem(&dir.path().join("missing"))
        .await
        .is_err());
    io.remove_file(&p).await.unwrap();
    assert!(io.list_dir(dir.path()).await.unwrap().is_empty());
    // The open handle still reads the unlinked file.
    assert_eq!(io.read_at(&f, 10, 10).await.unwrap(), vec![1; 10]);
}

async fn many_concurrent_ops<D: DiskIo>(io: Arc<D>) {
    // Far more concurrent writes than the in-flight bound all land, each at its own offset.
    let dir = tempfile::tempdir().unwrap();
    let f = io
        .open(&dir.path().join("c"), OpenMode::CreateNew)
        .await
        .unwrap();
    let n = 2000u64;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (io, f) = (io.clone(), f.clone());
        tasks.push(tokio::spawn(async move {
            io.write_at(&f, i * 512, vec![(i % 251) as u8; 512])
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    io.sync_data(&f).await.unwrap();
    let all = io.read_at(&f, 0, (n * 512) as usize).await.unwrap();
    for i in 0..n as usize {
        assert!(all[i * 512..(i + 1) * 512]
            .iter()
            .all(|&b| b == (i % 251) as u8));
    }
}

async fn errors_are_reported<D: DiskIo>(io: &D) {
    // Writing through a read-only handle fails with the OS error instead of hanging.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r");
    io.open(&p, OpenMode::CreateNew).await.unwrap();
    let f = io.open(&p, OpenMode::Read).await.unwrap();
    let e = io.write_at(&f, 0, vec![1; 10]).await.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
}

async fn holes_punch_map_and_copy<D: DiskIo>(io: &D) {
    // A punched range reads as zeros and frees its space; a copied range
    // reads back the source's bytes.
    let dir = tempfile::tempdir().unwrap();
    let f = io
        .open(&dir.path().join("sparse"), OpenMode::CreateNew)
        .await
        .unwrap();
    io.set_len(&f, 1 << 20).await.unwrap();
    io.write_at(&f, 64 << 10, vec![7; 128 << 10]).await.unwrap();
    io.sync_data(&f).await.unwrap();
    let blocks = || {
        use std::os::unix::fs::MetadataExt;
        f.as_std().metadata().unwrap().blocks()
    };
    let before = blocks();
    io.punch_hole(&f, 64 << 10, 64 << 10).await.unwrap();
    assert!(blocks() < before, "punching freed nothing");
    assert_eq!(io.size(&f).await.unwrap(), 1 << 20);
    assert!(io
        .read_at(&f, 64 << 10, 64 << 10)
        .await
        .unwrap()
        .iter()
        .all(|&b| b == 0));
    let g = io
        .open(&dir.path().join("copy"), OpenMode::CreateNew)
        .await
        .unwrap();
    io.copy_range(&f, 0, &g, 0, 1 << 20).await.unwrap();
    assert_eq!(
        io.read_at(&g, 128 << 10, 64 << 10).await.unwrap(),
        vec![7; 64 << 10]
    );
    assert!(io
        .read_at(&g, 0, 128 << 10)
        .await
        .unwrap()
        .iter()
        .all(|&b| b == 0));
}

async fn direct_write_then_trim<D: DiskIo>(io: &D) {
    // A direct file takes whole aligned blocks; the padded last block is cut
    // back with set_len, and a buffered read sees exactly the bytes written.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("direct");
    let f = io.open(&p, OpenMode::CreateNewDirect).await.unwrap();
    let data: Vec<u8> = (0..3 * DIRECT_ALIGN as u32 + 100)
        .map(|i| (i % 253) as u8)
        .collect();
    let mut buf = AlignedBuf::with_capacity(2 * DIRECT_ALIGN);
    assert_eq!(buf.fill_from(&data), 2 * DIRECT_ALIGN);
    let mut buf = io.write_aligned_at(&f, 0, buf).await.unwrap();
    assert_eq!(buf.len(), 2 * DIRECT_ALIGN, "the buffer comes back whole");
    buf.clear();
    buf.fill_from(&data[2 * DIRECT_ALIGN..]);
    buf.pad_to_block();
    let buf = io
        .write_aligned_at(&f, 2 * DIRECT_ALIGN as u64, buf)
        .await
        .unwrap();
    io.set_len(&f, data.len() as u64).await.unwrap();
    io.sync_data(&f).await.unwrap();
    let r = io.open(&p, OpenMode::Read).await.unwrap();
    assert_eq!(io.read_at(&r, 0, 1 << 20).await.unwrap(), data);
    if f.is_direct() {
        // Proof that the page cache is bypassed: an unaligned write is refused.
        let mut odd = buf;
        odd.clear();
        odd.fill_from(&[1; 10]);
        let e = io.write_aligned_at(&f, 0, odd).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}

async fn run_all<D: DiskIo>(io: Arc<D>) {
    write_read_roundtrip(&*io).await;
    direct_write_then_trim(&*io).await;
    holes_punch_map_and_copy(&*io).await;
    short_read_at_eof(&*io).await;
    open_modes(&*io).await;
    sync_allocate_truncate_remove(&*io).await;
    errors_are_reported(&*io).await;
    many_concurrent_ops(io).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_std() {
    // The whole DiskIo suite passes on the blocking-pool implementation.
    run_all(Arc::new(StdDiskIo::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_uring() {
    // The whole DiskIo suite passes on the io_uring implementation.
    run_all(Arc::new(UringDiskIo::new().expect("io_uring available"))).await;
}

#[tokio::test(flavor = "current_thread")]
async fn uring_drop_waits_for_thread() {
    // Dropping a UringDiskIo after use stops its thread cleanly (no hang, no abort).
    let io = UringDiskIo::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = io
        .open(&dir.path().join("d"), OpenMode::CreateNew)
        .await
        .unwrap();
    io.write_at(&f, 0, vec![9; 4096]).await.unwrap();
    drop(io);
}
