//! The real S3 clients against `cairn up`: boto3 (every operation, in
//! tests/s3/boto3_suite.py), the aws CLI, s3cmd and rclone's s3 backend, and
//! objects crossing between the S3 and Swift APIs.

use anyhow::{ensure, Context, Result};
use cairn_tests::{random_bytes, seeded_rng, Cairn};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A command with the openrc's S3 variables in its environment.
fn with_aws_env(cairn: &Cairn, program: &str) -> Command {
    let mut c = Command::new(program);
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
    ] {
        c.env(k, &cairn.openrc[k]);
    }
    // Nothing from the developer's own ~/.aws may leak in.
    c.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    c
}

fn check(out: Output, what: &str) -> Result<String> {
    ensure!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn suite_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("s3").join(name)
}

#[test]
fn boto3_covers_every_operation() -> Result<()> {
    // Buckets, objects, listings, multipart, presigned URLs and auth errors.
    let cairn = Cairn::start()?;
    let out = with_aws_env(&cairn, "python3")
        .arg(suite_path("boto3_suite.py"))
        .output()
        .context("running python3 (boto3)")?;
    let log = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "boto3 suite failed:\n{log}\nserver log:\n{}",
        cairn.log_tail()
    );
    Ok(())
}

/// A tree of files of assorted sizes (a few above the CLIs' multipart threshold).
fn make_tree(root: &Path, seed_name: &str) -> Result<()> {
    let mut rng = seeded_rng(seed_name);
    for i in 0..40usize {
        let p = root.join(format!("d{}/sub{}/f {i}.bin", i % 3, i % 2));
        std::fs::create_dir_all(p.parent().context("parent")?)?;
        let size = match i {
            0 => 20 * 1024 * 1024 + 3,
            1 => 9 * 1024 * 1024,
            _ => i * 1013,
        };
        std::fs::write(p, random_bytes(&mut rng, size))?;
    }
    Ok(())
}

fn same_trees(a: &Path, b: &Path) -> Result<()> {
    let out = Command::new("diff").arg("-r").arg(a).arg(b).output()?;
    check(out, "diff -r").map(|_| ())
}

#[test]
fn aws_cli_sync_up_and_back() -> Result<()> {
    // `aws s3 sync` a tree (with multipart files) up and back; s3api calls.
    let cairn = Cairn::start()?;
    let tmp = tempfile::tempdir()?;
    let (up, down) = (tmp.path().join("up"), tmp.path().join("down"));
    make_tree(&up, "aws-cli")?;
    let aws = |args: &[&str]| check(with_aws_env(&cairn, "aws").args(args).output()?, "aws");
    aws(&["s3", "mb", "s3://cli-bucket"])?;
    aws(&[
        "s3",
        "sync",
        up.to_str().context("utf-8")?,
        "s3://cli-bucket/tree",
    ])?;
    aws(&[
        "s3",
        "sync",
        "s3://cli-bucket/tree",
        down.to_str().context("utf-8")?,
    ])?;
    same_trees(&up, &down)?;
    let ls = aws(&["s3", "ls", "--recursive", "s3://cli-bucket/tree/d0/"])?;
    ensure!(ls.contains("f 0.bin"), "aws s3 ls: {ls}");
    // A second sync transfers nothing.
    let again = aws(&[
        "s3",
        "sync",
        up.to_str().context("utf-8")?,
        "s3://cli-bucket/tree",
    ])?;
    ensure!(again.trim().is_empty(), "second sync uploaded: {again}");

    aws(&[
        "s3api",
        "put-object",
        "--bucket",
        "cli-bucket",
        "--key",
        "api/obj",
        "--body",
        up.join("d1/sub1/f 1.bin").to_str().context("utf-8")?,
        "--metadata",
        "origin=s3api",
    ])?;
    let head = aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "cli-bucket",
        "--key",
        "api/obj",
    ])?;
    ensure!(
        head.contains("\"origin\": \"s3api\""),
        "head-object: {head}"
    );
    let listed = aws(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        "cli-bucket",
        "--prefix",
        "tree/d2/",
        "--delimiter",
        "/",
    ])?;
    ensure!(
        listed.contains("tree/d2/sub0/"),
        "list-objects-v2: {listed}"
    );
    aws(&["s3", "rm", "--recursive", "s3://cli-bucket"])?;
    aws(&["s3", "rb", "s3://cli-bucket"])?;
    Ok(())
}

#[test]
fn s3cmd_round_trip() -> Result<()> {
    // mb, put (multipart too), ls, get, info, del, rb.
    let cairn = Cairn::start()?;
    let tmp = tempfile::tempdir()?;
    let host = cairn.openrc["AWS_ENDPOINT_URL"]
        .trim_start_matches("http://")
        .to_string();
    let cfg = tmp.path().join("s3cfg");
    std::fs::write(
        &cfg,
        format!(
            "[default]\naccess_key = {}\nsecret_key = {}\nhost_base = {host}\nhost_bucket = {host}\n\
             bucket_location = {}\nuse_https = False\nsignature_v2 = False\nmultipart_chunk_size_mb = 5\n",
            cairn.openrc["AWS_ACCESS_KEY_ID"],
            cairn.openrc["AWS_SECRET_ACCESS_KEY"],
            cairn.openrc["AWS_DEFAULT_REGION"],
        ),
    )?;
    let s3cmd = |args: &[&str]| {
        check(
            Command::new("s3cmd")
                .arg("-c")
                .arg(&cfg)
                .args(args)
                .output()?,
            "s3cmd",
        )
    };
    let mut rng = seeded_rng("s3cmd");
    let small = tmp.path().join("small.bin");
    let big = tmp.path().join("big.bin");
    std::fs::write(&small, random_bytes(&mut rng, 12_345))?;
    std::fs::write(&big, random_bytes(&mut rng, 11 * 1024 * 1024 + 5))?;
    s3cmd(&["mb", "s3://s3cmd-bucket"])?;
    for f in [&small, &big] {
        s3cmd(&[
            "put",
            f.to_str().context("utf-8")?,
            "s3://s3cmd-bucket/dir/",
        ])?;
    }
    let ls = s3cmd(&["ls", "s3://s3cmd-bucket/dir/"])?;
    ensure!(
        ls.contains("small.bin") && ls.contains("big.bin"),
        "s3cmd ls: {ls}"
    );
    for name in ["small.bin", "big.bin"] {
        let back = tmp.path().join(format!("back-{name}"));
        s3cmd(&[
            "get",
            &format!("s3://s3cmd-bucket/dir/{name}"),
            back.to_str().context("utf-8")?,
        ])?;
        ensure!(
            std::fs::read(&back)? == std::fs::read(tmp.path().join(name))?,
            "{name} differs"
        );
    }
    s3cmd(&["info", "s3://s3cmd-bucket/dir/small.bin"])?;
    s3cmd(&["del", "--recursive", "--force", "s3://s3cmd-bucket/dir/"])?;
    s3cmd(&["rb", "s3://s3cmd-bucket"])?;
    Ok(())
}

#[test]
fn rclone_s3_sync_and_check() -> Result<()> {
    // rclone's s3 backend: sync a tree, check every byte, change, sync again.
    let cairn = Cairn::start()?;
    let tmp = tempfile::tempdir()?;
    let src = tmp.path().join("src");
    make_tree(&src, "rclone-s3")?;
    let rclone = |args: &[&str]| {
        check(
            Command::new("rclone")
                // rclone's AWS SDK cannot load a CA bundle into its own HTTP
                // transport, and the endpoint is plain HTTP anyway.
                .env_remove("AWS_CA_BUNDLE")
                .env("RCLONE_CONFIG_CS3_TYPE", "s3")
                .env("RCLONE_CONFIG_CS3_PROVIDER", "Other")
                .env(
                    "RCLONE_CONFIG_CS3_ACCESS_KEY_ID",
                    &cairn.openrc["AWS_ACCESS_KEY_ID"],
                )
                .env(
                    "RCLONE_CONFIG_CS3_SECRET_ACCESS_KEY",
                    &cairn.openrc["AWS_SECRET_ACCESS_KEY"],
                )
                .env(
                    "RCLONE_CONFIG_CS3_ENDPOINT",
                    &cairn.openrc["AWS_ENDPOINT_URL"],
                )
                .env(
                    "RCLONE_CONFIG_CS3_REGION",
                    &cairn.openrc["AWS_DEFAULT_REGION"],
                )
                .env("RCLONE_CONFIG_CS3_FORCE_PATH_STYLE", "true")
                .args(args)
                .output()?,
            "rclone",
        )
    };
    let src_s = src.to_str().context("utf-8")?;
    rclone(&["mkdir", "cs3:rc-bucket"])?;
    rclone(&["sync", src_s, "cs3:rc-bucket"])?;
    rclone(&["check", "--download", src_s, "cs3:rc-bucket"])?;
    std::fs::remove_file(src.join("d1/sub1/f 1.bin"))?;
    std::fs::write(src.join("d2/sub0/f 2.bin"), b"changed")?;
    rclone(&["sync", src_s, "cs3:rc-bucket"])?;
    rclone(&["check", "--download", src_s, "cs3:rc-bucket"])?;
    Ok(())
}

#[test]
fn objects_cross_between_s3_and_swift() -> Result<()> {
    // PUT with S3, read with the swift CLI; upload with swift, GET with S3.
    let cairn = Cairn::start()?;
    let tmp = tempfile::tempdir()?;
    let mut rng = seeded_rng("cross-api");
    let a = tmp.path().join("a.bin");
    std::fs::write(&a, random_bytes(&mut rng, 300_000))?;
    let aws = |args: &[&str]| check(with_aws_env(&cairn, "aws").args(args).output()?, "aws");
    aws(&["s3", "mb", "s3://crossing"])?;
    aws(&[
        "s3",
        "cp",
        a.to_str().context("utf-8")?,
        "s3://crossing/from-s3.bin",
    ])?;
    let got = tmp.path().join("via-swift.bin");
    cairn.swift(&[
        "download",
        "crossing",
        "from-s3.bin",
        "-o",
        got.to_str().context("utf-8")?,
    ])?;
    ensure!(
        std::fs::read(&got)? == std::fs::read(&a)?,
        "swift read differs"
    );

    let b = tmp.path().join("b.bin");
    std::fs::write(&b, random_bytes(&mut rng, 70_000))?;
    cairn.swift(&[
        "upload",
        "crossing",
        b.to_str().context("utf-8")?,
        "--object-name",
        "from-swift.bin",
    ])?;
    let back = tmp.path().join("via-s3.bin");
    aws(&[
        "s3",
        "cp",
        "s3://crossing/from-swift.bin",
        back.to_str().context("utf-8")?,
    ])?;
    ensure!(
        std::fs::read(&back)? == std::fs::read(&b)?,
        "S3 read differs"
    );

    // A multipart upload is a Static Large Object to Swift.
    let big = tmp.path().join("big.bin");
    std::fs::write(&big, random_bytes(&mut rng, 17 * 1024 * 1024))?;
    aws(&[
        "s3",
        "cp",
        big.to_str().context("utf-8")?,
        "s3://crossing/big.bin",
    ])?;
    let big_back = tmp.path().join("big-swift.bin");
    cairn.swift(&[
        "download",
        "crossing",
        "big.bin",
        "-o",
        big_back.to_str().context("utf-8")?,
    ])?;
    ensure!(
        std::fs::read(&big_back)? == std::fs::read(&big)?,
        "SLO read differs"
    );
    let stat = cairn.swift(&["stat", "crossing", "big.bin"])?;
    ensure!(
        stat.contains("Manifest") || stat.contains("Static"),
        "swift stat: {stat}"
    );
    Ok(())
}
