//! Volumes over NBD with the real clients: qemu-img (convert, compare, map,
//! qcow2 import), qemu-io at odd offsets, nbdinfo, nbdcopy, fio with
//! verification, snapshots and clones, and a kill -9 under a fio write load
//! with flushes (every flushed block, and every block fio saw acknowledged,
//! reads back as written; no block is unreadable); and with
//! `nbd_tls = "require"`, the same clients (and `cairn bench block`) over
//! TLS with the data directory's client certificates, plain and
//! foreign-CA clients refused.

use anyhow::Result;
use cairn_tests::{random_bytes, run_tool, seeded_rng, Cairn};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[test]
fn qemu_img_nbdinfo_nbdcopy_and_qemu_io() -> Result<()> {
    let c = Cairn::start()?;
    let scratch = tempfile::tempdir()?;
    c.volume(&["create", "img", "--size", "256M"])?;
    let url = c.nbd_url("img");

    // A 256 MiB random raw file in, compared back.
    let raw = scratch.path().join("random.raw");
    std::fs::write(&raw, random_bytes(&mut seeded_rng("nbd-raw"), 256 * MIB))?;
    run_tool(
        "qemu-img",
        &["convert", "-n", "-f", "raw", "-O", "raw", path(&raw), &url],
    )?;
    run_tool(
        "qemu-img",
        &["compare", "-f", "raw", "-F", "raw", path(&raw), &url],
    )?;

    // nbdinfo lists every export; nbdcopy streams one out.
    c.volume(&["create", "sparse", "--size", "64M"])?;
    let list = run_tool("nbdinfo", &["--list", &format!("nbd://{}", c.nbd_listen)])?;
    assert!(list.contains("img") && list.contains("sparse"), "{list}");
    // Asking about an export does not attach it (no lease is taken).
    let shown = c.volume(&["show", "sparse"])?;
    assert!(shown.contains("attached     no"), "{shown}");
    let copy = scratch.path().join("copy.raw");
    run_tool("nbdcopy", &[&url, path(&copy)])?;
    assert!(
        std::fs::read(&copy)? == std::fs::read(&raw)?,
        "nbdcopy differs"
    );

    // qemu-io at odd offsets and lengths, zeroing and discard.
    let sparse = c.nbd_url("sparse");
    run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            "write -P 0xab 1000 3333",
            "-c",
            "read -P 0xab 1000 3333",
            "-c",
            "read -P 0 0 1000",
            "-c",
            "read -P 0 4333 5000",
            "-c",
            "write -P 0xcd 5000000 1048577",
            "-c",
            "write -z 5000001 7",
            "-c",
            "read -P 0 5000001 7",
            "-c",
            "read -P 0xcd 5000008 100",
            "-c",
            "discard 0 4096",
            "-c",
            "read -P 0 0 4096",
            "-c",
            "flush",
            &sparse,
        ],
    )?;
    // qemu-img map sees the holes: most of the 64 MiB volume is unallocated.
    let map = run_tool("qemu-img", &["map", "--output=json", "-f", "raw", &sparse])?;
    let map: serde_json::Value = serde_json::from_str(&map)?;
    let data: u64 = map
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"].as_bool() == Some(true))
        .map(|e| e["length"].as_u64().unwrap())
        .sum();
    assert!(
        data > 0 && data < 4 * MIB as u64,
        "allocated {data} bytes: {map}"
    );

    // A qcow2 image imported, and the volume exported back to a raw file.
    let qcow = scratch.path().join("image.qcow2");
    run_tool("qemu-img", &["create", "-f", "qcow2", path(&qcow), "48M"])?;
    run_tool(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -P 0x5a 1M 3M", path(&qcow)],
    )?;
    c.volume(&["import", "fromqcow", path(&qcow)])?;
    run_tool(
        "qemu-img",
        &[
            "compare",
            "-f",
            "qcow2",
            "-F",
            "raw",
            path(&qcow),
            &c.nbd_url("fromqcow"),
        ],
    )?;
    let out = scratch.path().join("exported.raw");
    c.volume(&["export", "img", path(&out)])?;
    assert!(
        std::fs::read(&out)? == std::fs::read(&raw)?,
        "export differs"
    );
    Ok(())
}

#[test]
fn fio_verifies_random_and_sequential_writes() -> Result<()> {
    let c = Cairn::start()?;
    c.volume(&["create", "fio", "--size", "128M"])?;
    let uri = format!("--uri={}", c.nbd_url("fio"));
    for (rw, bs, depth) in [("randwrite", "4k", "16"), ("write", "1M", "8")] {
        let out = run_tool(
            "fio",
            &[
                "--name=verify",
                "--ioengine=nbd",
                &uri,
                "--size=64M",
                &format!("--rw={rw}"),
                &format!("--bs={bs}"),
                &format!("--iodepth={depth}"),
                "--verify=crc32c",
                "--do_verify=1",
                "--verify_fatal=1",
                "--randrepeat=0",
                "--output-format=json",
                // No state file left in the working directory.
                "--verify_state_save=0",
            ],
        )?;
        let json: serde_json::Value = serde_json::from_str(&out[out.find('{').unwrap_or(0)..])?;
        let job = &json["jobs"][0];
        assert_eq!(job["error"], 0, "{rw}: {job}");
        assert!(
            job["write"]["io_bytes"].as_u64().unwrap() >= 64 << 20,
            "{rw}: {job}"
        );
        assert!(
            job["read"]["io_bytes"].as_u64().unwrap() >= 64 << 20,
            "{rw} verify: {job}"
        );
    }
    Ok(())
}

#[test]
fn snapshots_and_instant_clones() -> Result<()> {
    let c = Cairn::start()?;
    c.volume(&["create", "v", "--size", "1G"])?;
    let v = c.nbd_url("v");
    run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            "write -P 0x11 0 8M",
            "-c",
            "write -P 0x12 900M 4M",
            &v,
        ],
    )?;
    c.volume(&["snapshot", "create", "v", "s1"])?;
    run_tool("qemu-io", &["-f", "raw", "-c", "write -P 0x22 4M 8M", &v])?;
    // The snapshot has the old data, the volume the new.
    let s1 = c.nbd_url("v@s1");
    run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-r",
            "-c",
            "read -P 0x11 0 8M",
            "-c",
            "read -P 0 8M 4M",
            &s1,
        ],
    )?;
    run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            "read -P 0x11 0 4M",
            "-c",
            "read -P 0x22 4M 8M",
            &v,
        ],
    )?;
    // A write to the snapshot is refused.
    let refused = run_tool("qemu-io", &["-f", "raw", "-c", "write -P 1 0 4k", &s1]);
    assert!(
        refused.is_err() || refused.as_ref().is_ok_and(|o| o.contains("failed")),
        "{refused:?}"
    );

    // A clone of a 1 GiB volume is instant and usable.
    let t = Instant::now();
    c.volume(&["create", "clone", "--from-volume", "v"])?;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "clone took {:?}",
        t.elapsed()
    );
    let clone = c.nbd_url("clone");
    run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            "read -P 0x12 900M 4M",
            "-c",
            "write -P 0x33 900M 1M",
            &clone,
        ],
    )?;
    run_tool("qemu-io", &["-f", "raw", "-c", "read -P 0x12 900M 4M", &v])?;
    // Clones of a snapshot, and the refusals while they exist.
    c.volume(&["create", "c2", "--from-snapshot", "v@s1"])?;
    run_tool(
        "qemu-io",
        &["-f", "raw", "-c", "read -P 0x11 0 8M", &c.nbd_url("c2")],
    )?;
    assert!(c.volume(&["snapshot", "delete", "v", "s1"]).is_err());
    c.volume(&["delete", "c2"])?;
    c.volume(&["snapshot", "delete", "v", "s1"])?;
    run_tool("qemu-io", &["-f", "raw", "-c", "read -P 0x22 4M 8M", &v])?;
    // Online resize: the new size shows on a new connection.
    c.volume(&["resize", "v", "--size", "2G"])?;
    let info = run_tool("qemu-img", &["info", "--output=json", "-f", "raw", &v])?;
    assert!(info.contains("2147483648"), "{info}");
    Ok(())
}

#[test]
fn kill_9_keeps_every_acknowledged_block() -> Result<()> {
    let mut c = Cairn::start()?;
    c.volume(&["create", "crash", "--size", "256M"])?;
    let url = c.nbd_url("crash");
    // 64 MiB written and flushed before the load.
    run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            "write -P 0xa5 0 64M",
            "-c",
            "flush",
            &url,
        ],
    )?;
    // fio writes verifiable blocks (with a flush every 32 writes), logging
    // every write it issues and saving which completed; the process dies
    // under it.
    let state = tempfile::tempdir()?;
    let job = |extra: &[&str]| {
        let mut cmd = Command::new("fio");
        cmd.current_dir(state.path()).args([
            "--name=crash",
            "--ioengine=nbd",
            &format!("--uri={url}"),
            "--offset=128M",
            "--size=128M",
            "--rw=randwrite",
            "--bs=4k",
            "--verify=crc32c",
            "--randseed=42",
        ]);
        cmd.args(extra);
        cmd
    };
    let mut writer = job(&[
        "--iodepth=16",
        "--write_iolog=issued.log",
        "--fsync=32",
        "--do_verify=0",
        "--verify_state_save=1",
        "--time_based",
        "--runtime=60",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()?;
    std::thread::sleep(Duration::from_secs(4));
    c.kill9()?;
    let _ = writer.wait();
    c.spawn()?;
    // The flushed region is intact, and so is every block fio saw
    // acknowledged (a process crash loses nothing the kernel has).
    run_tool("qemu-io", &["-f", "raw", "-c", "read -P 0xa5 0 64M", &url])?;
    let verify = job(&[
        "--iodepth=1",
        "--verify_only",
        "--verify_state_load=1",
        "--continue_on_error=verify",
    ])
    .output()?;
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(out.contains("READ:"), "fio verified nothing: {out}");
    // fio's saved state counts a write that failed when the connection
    // dropped as done once it is no longer in flight, though it was never
    // acknowledged; and writes are logged as issued, a little ahead of the
    // queue. So a block may differ only if it was among the last writes
    // issued (twice the queue depth), and never more than a queue's worth.
    let issued: Vec<u64> = std::fs::read_to_string(state.path().join("issued.log"))?
        .lines()
        .filter_map(|l| l.split(" write ").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    let bad: Vec<u64> = out
        .match_indices("verify: ")
        .filter_map(|(at, _)| {
            let rest = &out[at..];
            let n = rest.split("offset ").nth(1)?.split(',').next()?;
            n.trim().parse().ok()
        })
        .collect();
    assert!(bad.len() <= 16, "{} blocks lost: {out}", bad.len());
    for offset in &bad {
        let last = issued.iter().rposition(|o| o == offset);
        assert!(
            last.is_some_and(|i| i + 32 >= issued.len()),
            "block at {offset} was acknowledged (write {last:?} of {}) and lost",
            issued.len()
        );
    }
    // Every block of the volume reads: nothing fails its checksum.
    let all = tempfile::NamedTempFile::new()?;
    run_tool(
        "qemu-img",
        &["convert", "-f", "raw", "-O", "raw", &url, path(all.path())],
    )?;
    Ok(())
}

/// `cairn up` restarted with `[block] nbd_tls = "require"`.
fn start_with_tls() -> Result<Cairn> {
    let mut c = Cairn::start()?;
    c.stop()?;
    let config = c.data.join("cairn.toml");
    let text = std::fs::read_to_string(&config)?;
    let edited = cairn_tests::cluster::set_key(&text, "block", "nbd_tls", "\"require\"")?;
    std::fs::write(&config, edited)?;
    c.spawn()?;
    Ok(c)
}

/// A client directory holding the server's CA but a client certificate
/// from another CA (made with openssl, not by Cairn).
fn foreign_client_dir(ours: &std::path::Path, dir: &std::path::Path) -> Result<()> {
    let p = |f: &str| dir.join(f).to_str().expect("UTF-8 temp path").to_owned();
    std::fs::copy(ours.join("ca-cert.pem"), dir.join("ca-cert.pem"))?;
    std::fs::write(dir.join("ext.cnf"), "extendedKeyUsage=clientAuth\n")?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"],
        &ec[..],
        &["-subj", "/CN=other CA", "-days", "2"],
    ]
    .concat();
    let (ca_key, ca_cert) = (p("other-ca-key.pem"), p("other-ca.pem"));
    run_tool(
        "openssl",
        &[&ca[..], &["-keyout", &ca_key, "-out", &ca_cert]].concat(),
    )?;
    let (key, csr) = (p("client-key.pem"), p("client.csr"));
    let req = [&["req"], &ec[..], &["-subj", "/CN=intruder"]].concat();
    run_tool(
        "openssl",
        &[&req[..], &["-keyout", &key, "-out", &csr]].concat(),
    )?;
    run_tool(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_cert,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
            "-out",
            &p("client-cert.pem"),
        ],
    )?;
    Ok(())
}

#[test]
fn tls_required_admits_only_clients_with_the_ca_certificate() -> Result<()> {
    let c = start_with_tls()?;
    let tls_dir = std::path::PathBuf::from(&c.openrc["CAIRN_NBD_TLS_DIR"]);
    assert_eq!(
        c.openrc["CAIRN_NBD_URL"],
        format!("nbds://{}", c.nbd_listen)
    );
    c.volume(&["create", "sealed", "--size", "64M"])?;
    let nbds = |dir: &std::path::Path| {
        format!(
            "nbds://{}/sealed?tls-certificates={}",
            c.nbd_listen,
            path(dir)
        )
    };

    // libnbd over TLS with the client directory.
    let size = run_tool("nbdinfo", &["--size", &nbds(&tls_dir)])?;
    assert_eq!(size.trim(), (64 * MIB).to_string());

    // qemu-img over TLS: convert in, compare back.
    let scratch = tempfile::tempdir()?;
    let raw = scratch.path().join("random.raw");
    std::fs::write(&raw, random_bytes(&mut seeded_rng("nbd-tls"), 64 * MIB))?;
    let (host, port) = c.nbd_listen.rsplit_once(':').expect("host:port");
    let object = format!(
        "tls-creds-x509,id=tls0,endpoint=client,dir={}",
        path(&tls_dir)
    );
    let image = format!(
        "driver=nbd,server.type=inet,server.host={host},server.port={port},\
         export=sealed,tls-creds=tls0"
    );
    run_tool(
        "qemu-img",
        &[
            "convert",
            "--object",
            &object,
            "-n",
            "-f",
            "raw",
            path(&raw),
            "--target-image-opts",
            &image,
        ],
    )?;
    let file = format!("driver=file,filename={}", path(&raw));
    run_tool(
        "qemu-img",
        &[
            "compare",
            "--object",
            &object,
            "--image-opts",
            &file,
            &image,
        ],
    )?;

    // No TLS: refused before any export is named.
    let plain = Command::new("nbdinfo")
        .args(["--size", &c.nbd_url("sealed")])
        .output()?;
    assert!(!plain.status.success());
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(err.contains("TLS"), "{err}");

    // A certificate from another CA: refused in the TLS handshake.
    let foreign = scratch.path().join("foreign");
    std::fs::create_dir(&foreign)?;
    foreign_client_dir(&tls_dir, &foreign)?;
    let refused = Command::new("nbdinfo")
        .args(["--size", &nbds(&foreign)])
        .output()?;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("alert"), "{err}");

    // cairn volume export goes through TLS too.
    let out = scratch.path().join("out.raw");
    c.volume(&["export", "sealed", path(&out)])?;
    assert!(
        std::fs::read(&out)? == std::fs::read(&raw)?,
        "export differs"
    );

    // So does cairn bench block, with nbds:// (every read verified).
    let json = scratch.path().join("bench.json");
    let bench = Command::new(cairn_tests::cairn_bin())
        .args(["bench", "block", "--nbd", &nbds(&tls_dir)])
        .args(["--duration", "2s", "--warmup", "0s", "--json", path(&json)])
        .output()?;
    let said = String::from_utf8_lossy(&bench.stderr);
    assert!(bench.status.success(), "cairn bench block: {said}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json)?)?;
    assert_eq!(report["phases"][0]["errors"], 0, "{report}");
    assert!(report["phases"][0]["ops"].as_u64() > Some(0), "{report}");
    Ok(())
}
