//! Project tooling behind the README's two commands:
//!
//! - `cargo xtask up [ARGS]`: install what the build needs, build `cairn`
//!   (release), and run `cairn up ARGS` in the foreground;
//! - `cargo xtask test`: install the build prerequisites and the real clients
//!   the tests drive (python-swiftclient, rclone, Swift's functional suite,
//!   Tempest's identity tests), build, run the whole test suite, and
//!   type-check the fuzz targets.
//!
//! Everything it installs comes from Debian's packages and PyPI; it is
//! idempotent, so a second run installs nothing.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

mod functests;
mod tempest;

/// Debian packages the build needs (rocksdb's bindings need libclang).
const BUILD_PACKAGES: &[&str] = &["libclang-dev", "clang", "librocksdb-dev", "pkg-config"];
/// Debian packages the tests drive (qemu-nbd and nbdkit serve `cairn bench
/// block`; qemu-img, qemu-io, nbdinfo, nbdcopy, fio and libiscsi's tools
/// drive the volumes).
const TEST_PACKAGES: &[&str] = &[
    "rclone",
    "python3-venv",
    "curl",
    "iproute2",
    "qemu-utils",
    "nbdkit",
    "libnbd-bin",
    "fio",
    "libiscsi-bin",
];
/// Python packages the tests drive: python-swiftclient pinned to what the
/// Swift anchor uses, the S3 clients, and the OpenStack CLI. boto3 computes
/// CRC32C checksums only with awscrt installed.
const PY_PACKAGES: &[&str] = &[
    "python-swiftclient==4.11.0",
    "boto3==1.44.8",
    "awscrt==0.38.1",
    "awscli==1.46.3",
    "s3cmd==2.4.0",
    "python-openstackclient==8.2.0",
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = args
        .split_first()
        .map_or(("", &[][..]), |(c, r)| (c.as_str(), r));
    let root = workspace_root();
    match cmd {
        "up" => up(&root, rest),
        "test" => test(&root, rest),
        "functests" => {
            build_cairn(&root)?;
            functests::run_suite(&root)
        }
        "tempest" => {
            build_cairn(&root)?;
            tempest::run_suite(&root)
        }
        "deps" => install_packages(&[BUILD_PACKAGES, TEST_PACKAGES].concat()),
        _ => bail!(
            "usage: cargo xtask up [cairn up args] | test [--no-functests] | functests | tempest | deps"
        ),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `cargo xtask up`: prerequisites, release build, then `cairn up` in the foreground.
fn up(root: &Path, args: &[String]) -> Result<()> {
    install_packages(BUILD_PACKAGES)?;
    build_cairn(root)?;
    let bin = root.join("target/release/cairn");
    let status = Command::new(bin)
        .current_dir(root)
        .arg("up")
        .args(args)
        .status()
        .context("starting cairn up")?;
    if !status.success() {
        bail!("cairn up exited with {status}");
    }
    Ok(())
}

/// `cargo xtask test`: every prerequisite, then unit + whole-system tests,
/// then Swift's own functional suite and Tempest's identity tests, each
/// against a fresh `cairn up`.
fn test(root: &Path, args: &[String]) -> Result<()> {
    let skip_functests = args.iter().any(|a| a == "--no-functests");
    install_packages(&[BUILD_PACKAGES, TEST_PACKAGES].concat())?;
    let venv = python_venv(root, PY_PACKAGES)?;
    build_cairn(root)?;
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new("cargo")
        .current_dir(root)
        .env("PATH", &path)
        .env("CAIRN_BIN", root.join("target/release/cairn"))
        .args(["test", "--release", "--workspace", "--no-fail-fast"]))?;
    check_fuzz_targets(root)?;
    if !skip_functests {
        // Both suites run, whatever the first says; either failing fails the run.
        let swift = functests::run_suite(root);
        let tempest = tempest::run_suite(root);
        swift?;
        tempest?;
    }
    Ok(())
}

/// `cargo check` of the fuzz targets (their own workspace, `fuzz/`), so a
/// change to a parser's API cannot leave them broken until someone fuzzes.
/// Type-checking needs no sanitizer flags, so the stable toolchain does it.
fn check_fuzz_targets(root: &Path) -> Result<()> {
    run(Command::new("cargo")
        .current_dir(root.join("fuzz"))
        .env("CARGO_TARGET_DIR", root.join("fuzz/target"))
        .args(["check", "--bins", "--locked"]))
}

/// `cargo build --release -p cairn`: the binary every suite drives.
fn build_cairn(root: &Path) -> Result<()> {
    run(Command::new("cargo")
        .current_dir(root)
        .args(["build", "--release", "-p", "cairn"]))
}

/// Creates (once) a venv under `target/` with `packages` installed; returns its path.
pub(crate) fn python_venv(root: &Path, packages: &[&str]) -> Result<PathBuf> {
    python_venv_at(&root.join("target/test-venv"), packages)
}

/// Creates (once) the venv `venv` with `packages` installed; returns its path.
pub(crate) fn python_venv_at(venv: &Path, packages: &[&str]) -> Result<PathBuf> {
    let venv = venv.to_path_buf();
    if !venv.join("bin/python").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            let name = p.split("==").next().unwrap_or(p);
            !Command::new(venv.join("bin/pip"))
                .args(["show", "-q", name])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .collect();
    if !missing.is_empty() {
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "-q"])
            .args(&missing))?;
    }
    Ok(venv)
}

/// Installs the Debian packages that are not installed yet.
fn install_packages(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let apt = |args: &[&str]| {
        let mut c = Command::new(sudo.first().copied().unwrap_or("apt-get"));
        if !sudo.is_empty() {
            c.arg("apt-get");
        }
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        c
    };
    run(&mut apt(&["update", "-qq"]))?;
    run(apt(&["install", "-y", "-qq"]).args(&missing))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a command, failing with its command line when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}
