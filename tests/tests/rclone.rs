//! rclone's swift backend against `cairn up`: `rclone sync` a tree up, then
//! `rclone check --download` compares every byte.

use cairn_tests::{random_bytes, seeded_rng, Cairn};
use std::process::Command;

#[test]
fn rclone_sync_and_check() -> anyhow::Result<()> {
    // Syncs 120 files, changes and deletes some, syncs again; check must agree.
    let cairn = Cairn::start()?;
    let mut rng = seeded_rng("rclone");
    let tmp = tempfile::tempdir()?;
    let src = tmp.path().join("src");
    for i in 0..120usize {
        let p = src.join(format!("dir{}/file{i}.dat", i % 4));
        std::fs::create_dir_all(p.parent().expect("parent"))?;
        let size = if i % 20 == 0 {
            2 * 1024 * 1024 + i
        } else {
            i * 97
        };
        std::fs::write(p, random_bytes(&mut rng, size))?;
    }
    let rclone = |args: &[&str]| -> anyhow::Result<()> {
        let out = Command::new("rclone")
            .env("RCLONE_CONFIG_CAIRN_TYPE", "swift")
            .env("RCLONE_CONFIG_CAIRN_AUTH", &cairn.openrc["ST_AUTH"])
            .env("RCLONE_CONFIG_CAIRN_USER", &cairn.openrc["ST_USER"])
            .env("RCLONE_CONFIG_CAIRN_KEY", &cairn.openrc["ST_KEY"])
            .env("RCLONE_CONFIG_CAIRN_AUTH_VERSION", "1")
            .args(args)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "rclone {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    let src_s = src.to_str().expect("utf-8 path");
    rclone(&["sync", src_s, "cairn:rc"])?;
    rclone(&["check", "--download", src_s, "cairn:rc"])?;

    std::fs::remove_file(src.join("dir1/file1.dat"))?;
    std::fs::write(src.join("dir2/file2.dat"), random_bytes(&mut rng, 4321))?;
    rclone(&["sync", src_s, "cairn:rc"])?;
    rclone(&["check", "--download", src_s, "cairn:rc"])?;
    Ok(())
}
