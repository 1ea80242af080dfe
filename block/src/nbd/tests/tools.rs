//! The server driven by the real NBD clients: libnbd's nbdinfo and
//! nbdcopy, qemu-img, qemu-io and fio's nbd engine.

use super::*;
use crate::device::BlockDevice;
use bytes::Bytes;
use std::process::Output;

const MIB: u64 = 1 << 20;
/// Longest a client tool may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `program` with `args`, killed if it outlives [`TOOL_TIMEOUT`].
pub(super) async fn run(program: &str, args: &[&str]) -> Output {
    let child = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(TOOL_TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} timed out"))
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Runs a tool that must succeed; returns its stdout.
pub(super) async fn tool(program: &str, args: &[&str]) -> String {
    let out = run(program, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs qemu-io commands against `uri` (opened read-only with
/// `read_only`); none may fail.
async fn qemu_io(uri: &str, read_only: bool, commands: &[&str]) -> String {
    let mut args = vec!["-f", "raw"];
    if read_only {
        args.push("-r");
    }
    for c in commands {
        args.extend(["-c", c]);
    }
    args.push(uri);
    let stdout = tool("qemu-io", &args).await;
    assert!(
        !stdout.contains("failed") && !stdout.contains("error"),
        "qemu-io {commands:?}:\n{stdout}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nbdinfo_lists_every_export_and_shows_sizes() {
    // Checks `nbdinfo --list` names every export and `nbdinfo --size`
    // reports each size, and that the empty name reaches the only export
    // of a one-export server.
    let server = Running::with([
        MemDevice::new("alpha", MIB),
        MemDevice::new("beta", 32 * MIB),
        MemDevice::read_only("snap", 4096),
    ])
    .await;
    let listing = tool("nbdinfo", &["--list", &server.uri("")]).await;
    for name in ["alpha", "beta", "snap"] {
        assert!(listing.contains(&format!("export=\"{name}\"")), "{listing}");
    }
    assert!(listing.contains("base:allocation"), "{listing}");
    let size = tool("nbdinfo", &["--size", &server.uri("beta")]).await;
    assert_eq!(size.trim(), (32 * MIB).to_string());
    let info = tool("nbdinfo", &[&server.uri("snap")]).await;
    assert!(info.contains("is_read_only: true"), "{info}");
    assert!(!run("nbdinfo", &["--size", &server.uri("")])
        .await
        .status
        .success());
    assert!(!run("nbdinfo", &["--size", &server.uri("nope")])
        .await
        .status
        .success());
    server.stop().await;

    let single = Running::with([MemDevice::new("only", 3 * MIB)]).await;
    let size = tool("nbdinfo", &["--size", &single.uri("")]).await;
    assert_eq!(size.trim(), (3 * MIB).to_string());
    single.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_img_convert_compare_and_map() {
    // Checks that `qemu-img convert -n` of 32 MiB of random data into an
    // export compares equal afterwards (and on the device itself), and
    // that `qemu-img map` of a sparse export shows holes where nothing
    // was written.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    let data = random_bytes(0x5eed, 32 << 20);
    std::fs::write(&src, &data).unwrap();
    let vol = MemDevice::new("vol", 32 * MIB);
    let sparse = MemDevice::new("sparse", 8 * MIB);
    let server = Running::with([vol.clone(), sparse.clone()]).await;
    let src = src.to_str().unwrap();
    let uri = server.uri("vol");
    tool(
        "qemu-img",
        &[
            "convert", "-n", "-W", "-m", "16", "-f", "raw", "-O", "raw", src, &uri,
        ],
    )
    .await;
    tool(
        "qemu-img",
        &["compare", "-f", "raw", "-F", "raw", src, &uri],
    )
    .await;
    assert!(vol.read(0, 32 << 20).await.unwrap() == data[..]);

    sparse
        .write(MIB, Bytes::from(vec![1u8; MIB as usize]), false)
        .await
        .unwrap();
    let map = tool(
        "qemu-img",
        &["map", "--output=json", "-f", "raw", &server.uri("sparse")],
    )
    .await;
    let entries: Vec<&str> = map.lines().filter(|l| l.contains("\"start\"")).collect();
    let entry = |start: u64| {
        let key = format!("\"start\": {start},");
        *entries
            .iter()
            .find(|l| l.contains(&key))
            .unwrap_or_else(|| panic!("no extent at {start}:\n{map}"))
    };
    assert!(entry(0).contains("\"data\": false"), "{map}");
    assert!(entry(MIB).contains("\"data\": true"), "{map}");
    assert!(entry(MIB).contains(&format!("\"length\": {MIB},")), "{map}");
    assert!(entry(2 * MIB).contains("\"data\": false"), "{map}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_io_odd_offsets_discard_and_zeroes() {
    // Checks qemu-io's pattern writes and reads at unaligned offsets and
    // lengths, then discard and write -z, against the device's contents.
    let vol = MemDevice::new("vol", 4 * MIB);
    let server = Running::with([vol.clone()]).await;
    let uri = server.uri("vol");
    qemu_io(
        &uri,
        false,
        &[
            "write -P 0xab 1000 3333",
            "read -P 0xab 1000 3333",
            "read -P 0 0 1000",
            "read -P 0 4333 1000",
            "write -P 0xcd 1048575 70001",
            "read -P 0xcd 1048575 70001",
        ],
    )
    .await;
    let d = vol.read(0, 5000).await.unwrap();
    assert!(d[..1000].iter().all(|&b| b == 0));
    assert!(d[1000..4333].iter().all(|&b| b == 0xab));
    assert!(d[4333..].iter().all(|&b| b == 0));
    qemu_io(
        &uri,
        false,
        &[
            "write -P 0x11 65536 131072",
            "discard 65536 65536",
            "read -P 0 65536 65536",
            "write -z 131072 4096",
            "read -P 0 131072 4096",
            "read -P 0x11 135168 61440",
            "write -z -u 139264 8192",
            "read -P 0 139264 8192",
            "flush",
        ],
    )
    .await;
    let d = vol.read(65536, 131072).await.unwrap();
    assert!(d[..69632].iter().all(|&b| b == 0));
    assert!(d[69632..73728].iter().all(|&b| b == 0x11));
    assert!(d[73728..81920].iter().all(|&b| b == 0));
    assert!(d[81920..].iter().all(|&b| b == 0x11));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_io_cannot_write_a_read_only_export() {
    // Checks that qemu-io cannot change a read-only export, and can read
    // it.
    let snap = MemDevice::read_only("snap", MIB);
    let server = Running::with([snap.clone()]).await;
    let uri = server.uri("snap");
    let out = run("qemu-io", &["-f", "raw", "-c", "write -P 1 0 4096", &uri]).await;
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() || text.contains("failed"), "{text}");
    assert!(snap.read(0, 4096).await.unwrap().iter().all(|&b| b == 0));
    qemu_io(&uri, true, &["read -P 0 0 4096"]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nbdcopy_copies_an_export_out() {
    // Checks that nbdcopy (multi-conn, block status, pipelined reads)
    // copies a partly written export to a file byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.raw");
    let vol = MemDevice::new("vol", 16 * MIB);
    let data = random_bytes(77, 3 * MIB as usize + 1234);
    vol.write(5 * MIB + 17, Bytes::from(data.clone()), false)
        .await
        .unwrap();
    let server = Running::with([vol]).await;
    std::fs::File::create(&out).unwrap();
    tool(
        "nbdcopy",
        &["--flush", &server.uri("vol"), out.to_str().unwrap()],
    )
    .await;
    let copy = std::fs::read(&out).unwrap();
    assert_eq!(copy.len() as u64, 16 * MIB);
    let at = 5 * MIB as usize + 17;
    assert!(copy[..at].iter().all(|&b| b == 0));
    assert!(copy[at..at + data.len()] == data[..]);
    assert!(copy[at + data.len()..].iter().all(|&b| b == 0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fio_random_writes_verify() {
    // Checks fio's nbd engine: 4 KiB random writes at queue depth 16 with
    // crc32c verification headers, read back and verified.
    let vol = MemDevice::new("vol", 32 * MIB);
    let server = Running::with([vol]).await;
    let uri = format!("--uri={}", server.uri("vol"));
    let out = tool(
        "fio",
        &[
            "--name=verify",
            "--ioengine=nbd",
            &uri,
            "--rw=randwrite",
            "--bs=4k",
            "--iodepth=16",
            "--size=32M",
            "--verify=crc32c",
            "--do_verify=1",
            "--verify_fatal=1",
            "--randseed=7",
            // No state file left in the working directory.
            "--verify_state_save=0",
        ],
    )
    .await;
    assert!(out.contains("err= 0"), "{out}");
    assert!(
        out.contains("read: IOPS") && out.contains("write: IOPS"),
        "{out}"
    );
    server.stop().await;
}
