//! python-swiftclient's `swift` CLI against `cairn up`: upload a tree of
//! several hundred files (0 bytes to 50 MiB), list it with prefix and
//! delimiter, stat, post metadata, download and compare every byte, delete.

use cairn_tests::{random_bytes, seeded_rng, Cairn};
use std::collections::BTreeSet;
use std::path::Path;

/// Builds the tree: 300 small files in nested folders, a few large ones.
fn make_tree(root: &Path) -> anyhow::Result<Vec<(String, usize)>> {
    let mut rng = seeded_rng("swift_cli");
    let mut files = Vec::new();
    for i in 0..300usize {
        let dir = format!("d{}/s{}", i % 5, i % 3);
        let size = match i % 10 {
            0 => 0,
            1..=6 => rand::Rng::gen_range(&mut rng, 1..8 * 1024),
            7 | 8 => rand::Rng::gen_range(&mut rng, 8 * 1024..300 * 1024),
            _ => rand::Rng::gen_range(&mut rng, 300 * 1024..3 * 1024 * 1024),
        };
        files.push((format!("{dir}/f{i:03}.bin"), size));
    }
    files.push(("big/fifty.bin".into(), 50 * 1024 * 1024));
    files.push(("big/seven.bin".into(), 7 * 1024 * 1024 + 3));
    for (name, size) in &files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().expect("file has a parent"))?;
        std::fs::write(&p, random_bytes(&mut rng, *size))?;
    }
    Ok(files)
}

#[test]
fn swift_cli_round_trip() -> anyhow::Result<()> {
    // Checks the whole CLI cycle: every uploaded byte comes back, listings
    // honour prefix/delimiter, metadata posted is shown by stat.
    let cairn = Cairn::start()?;
    let tmp = tempfile::tempdir()?;
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src)?;
    let files = make_tree(&src)?;

    let out = std::process::Command::new("swift")
        .current_dir(&src)
        .env("ST_AUTH", &cairn.openrc["ST_AUTH"])
        .env("ST_USER", &cairn.openrc["ST_USER"])
        .env("ST_KEY", &cairn.openrc["ST_KEY"])
        .args(["upload", "tree", "d0", "d1", "d2", "d3", "d4", "big"])
        .output()?;
    assert!(
        out.status.success(),
        "upload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let listed: BTreeSet<String> = cairn
        .swift(&["list", "tree"])?
        .lines()
        .map(String::from)
        .collect();
    let expected: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        listed, expected,
        "listing must show exactly the uploaded files"
    );

    let prefixed: BTreeSet<String> = cairn
        .swift(&["list", "tree", "--prefix", "d1/s0/"])?
        .lines()
        .map(String::from)
        .collect();
    let expected_prefixed: BTreeSet<String> = expected
        .iter()
        .filter(|n| n.starts_with("d1/s0/"))
        .cloned()
        .collect();
    assert_eq!(prefixed, expected_prefixed);

    let dirs: Vec<String> = cairn
        .swift(&["list", "tree", "--delimiter", "/"])?
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(dirs, ["big/", "d0/", "d1/", "d2/", "d3/", "d4/"]);
    let subdirs: Vec<String> = cairn
        .swift(&["list", "tree", "--prefix", "d2/", "--delimiter", "/"])?
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(subdirs, ["d2/s0/", "d2/s1/", "d2/s2/"]);

    let stat = cairn.swift(&["stat", "tree"])?;
    let total: usize = files.iter().map(|(_, s)| s).sum();
    assert!(
        stat.contains(&format!("Objects: {}", files.len())),
        "{stat}"
    );
    assert!(stat.contains(&format!("Bytes: {total}")), "{stat}");

    cairn.swift(&["post", "tree", "d0/s0/f000.bin", "-m", "color:blue"])?;
    let ostat = cairn.swift(&["stat", "tree", "d0/s0/f000.bin"])?;
    assert!(ostat.contains("Meta Color: blue"), "{ostat}");

    let dst = tmp.path().join("dst");
    cairn.swift(&["download", "tree", "-D", dst.to_str().expect("utf-8 path")])?;
    for (name, _) in &files {
        let a = std::fs::read(src.join(name))?;
        let b = std::fs::read(dst.join(name))?;
        assert!(a == b, "{name} differs after download");
    }

    cairn.swift(&["delete", "tree"])?;
    let containers = cairn.swift(&["list"])?;
    assert!(!containers.lines().any(|l| l == "tree"), "{containers}");
    Ok(())
}
