//! `cairn volume …`: block volumes of the running cloud, through its control
//! socket; `export` and `import` move bytes over its NBD server with
//! qemu-img (which also reads qcow2), as Cinder does.

use crate::bench_cmd::bytes;
use crate::control::{self, Reply, Request};
use anyhow::{bail, Context, Result};
use cairn_meta_api::VolumeRecord;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, clap::Args)]
pub struct VolumeArgs {
    /// Data directory of the running `cairn up`.
    #[arg(long, default_value = ".cairn", env = "CAIRN_DATA", global = true)]
    pub data: PathBuf,
    #[command(subcommand)]
    pub command: VolumeCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum VolumeCommand {
    /// Create a thin volume, empty or as an instant clone.
    Create {
        name: String,
        /// Size (e.g. 10G, 512MiB); a clone defaults to its source's size.
        #[arg(long, value_parser = bytes)]
        size: Option<u64>,
        /// Clone a snapshot: VOLUME@SNAPSHOT.
        #[arg(long, conflicts_with = "from_volume")]
        from_snapshot: Option<String>,
        /// Clone a volume as it is now.
        #[arg(long)]
        from_volume: Option<String>,
    },
    /// List volumes.
    List,
    /// Show one volume.
    Show { name: String },
    /// Grow a volume (online).
    Resize {
        name: String,
        #[arg(long, value_parser = bytes)]
        size: u64,
    },
    /// Delete a volume (refused while it has snapshots or is in use).
    Delete { name: String },
    /// Snapshots of a volume.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Stream a volume out to a raw file.
    Export { name: String, file: PathBuf },
    /// Create a volume from a raw or qcow2 file.
    Import {
        name: String,
        file: PathBuf,
        /// The file's format (default: what qemu-img detects).
        #[arg(long)]
        format: Option<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum SnapshotCommand {
    /// Snapshot a volume (attached or not; writes before it are in it).
    Create { volume: String, name: String },
    /// List a volume's snapshots.
    List { volume: String },
    /// Delete a snapshot (refused while clones of it exist).
    Delete { volume: String, name: String },
}

pub fn run(args: VolumeArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let data = args.data.as_path();
    let call = |req: Request| runtime.block_on(control::call(data, &req));
    match args.command {
        VolumeCommand::Create {
            name,
            size,
            from_snapshot,
            from_volume,
        } => print_volume(call(Request::VolumeCreate {
            name,
            size,
            from_snapshot,
            from_volume,
        })?),
        VolumeCommand::List => match call(Request::VolumeList)? {
            Reply::Volumes(vs) => {
                println!(
                    "{:<24} {:>14} {:<36} {:>9} attached",
                    "name", "size", "id", "snapshots"
                );
                for v in vs {
                    println!(
                        "{:<24} {:>14} {:<36} {:>9} {}",
                        v.name,
                        v.size,
                        v.id.to_string(),
                        v.snapshots.iter().filter(|s| !s.internal).count(),
                        v.lease.as_ref().map_or("-", |l| l.holder.as_str())
                    );
                }
                Ok(())
            }
            other => unexpected(other),
        },
        VolumeCommand::Show { name } => print_volume(call(Request::VolumeShow { name })?),
        VolumeCommand::Resize { name, size } => {
            print_volume(call(Request::VolumeResize { name, size })?)
        }
        VolumeCommand::Delete { name } => done(call(Request::VolumeDelete { name })?),
        VolumeCommand::Snapshot(SnapshotCommand::Create { volume, name }) => {
            print_volume(call(Request::SnapshotCreate { volume, name })?)
        }
        VolumeCommand::Snapshot(SnapshotCommand::List { volume }) => {
            match call(Request::VolumeShow { name: volume })? {
                Reply::Volume(v) => {
                    println!("{:<24} {:>14} {:>6}", "name", "size", "clones");
                    for s in v.snapshots.iter().filter(|s| !s.internal) {
                        println!("{:<24} {:>14} {:>6}", s.name, s.size, s.clones);
                    }
                    Ok(())
                }
                other => unexpected(other),
            }
        }
        VolumeCommand::Snapshot(SnapshotCommand::Delete { volume, name }) => {
            print_volume(call(Request::SnapshotDelete { volume, name })?)
        }
        VolumeCommand::Export { name, file } => {
            let image = NbdImage::of(data, &name)?;
            let file = file.to_str().context("the file's path is not UTF-8")?;
            let source = image.source_args();
            let source: Vec<&str> = source.iter().map(String::as_str).collect();
            qemu_img(&[&["convert", "-p"], &source[..], &["-O", "raw", file]].concat())
        }
        VolumeCommand::Import { name, file, format } => {
            let (size, detected) = image_info(&file)?;
            let format = format.unwrap_or(detected);
            let size = size.div_ceil(512) * 512;
            print_volume(call(Request::VolumeCreate {
                name: name.clone(),
                size: Some(size),
                from_snapshot: None,
                from_volume: None,
            })?)?;
            let image = NbdImage::of(data, &name)?;
            let file = file.to_str().context("the file's path is not UTF-8")?;
            let args = [
                "convert",
                "-p",
                "-n",
                "--target-is-zero",
                "-f",
                &format,
                file,
            ];
            let target = image.target_args();
            let target: Vec<&str> = target.iter().map(String::as_str).collect();
            qemu_img(&[&args[..], &target[..]].concat())
                .with_context(|| format!("the volume {name} was created, but not filled"))
        }
    }
}

fn unexpected(r: Reply) -> Result<()> {
    match r {
        Reply::Error(e) => bail!("{e}"),
        other => bail!("unexpected reply {other:?}"),
    }
}

fn done(r: Reply) -> Result<()> {
    match r {
        Reply::Done => Ok(()),
        other => unexpected(other),
    }
}

fn print_volume(r: Reply) -> Result<()> {
    let v: VolumeRecord = match r {
        Reply::Volume(v) => *v,
        other => return unexpected(other),
    };
    println!("name         {}", v.name);
    println!("id           {}", v.id);
    println!("size         {}", v.size);
    println!("extent size  {}", v.extent_size);
    if let Some(p) = v.parent {
        println!("parent       {} (generation {})", p.volume, p.generation);
    }
    for s in v.snapshots.iter().filter(|s| !s.internal) {
        println!(
            "snapshot     {} ({} bytes, {} clones)",
            s.name, s.size, s.clones
        );
    }
    match &v.lease {
        Some(l) => println!("attached     by {} (epoch {})", l.holder, l.epoch),
        None => println!("attached     no"),
    }
    Ok(())
}

/// How qemu-img names volume NAME of the running cloud: a plain
/// `nbd://ADDR/NAME` URL, or, with `nbd_tls = "require"`, image options
/// naming the client certificates of the data directory (qemu has no URL
/// for NBD over TLS).
enum NbdImage {
    Url(String),
    Tls {
        /// The `--object` that loads the client certificates.
        object: String,
        /// The `--image-opts` of the export.
        options: String,
    },
}

impl NbdImage {
    fn of(data: &Path, name: &str) -> Result<NbdImage> {
        let dir = crate::control::serving_dir(data);
        let cfg = crate::config::FileConfig::load(&dir.join("cairn.toml"))?;
        let listen = cfg.block.nbd_listen;
        let Some(tls_dir) = cfg.block.nbd_client_tls_dir(&dir) else {
            return Ok(NbdImage::Url(format!("nbd://{listen}/{name}")));
        };
        let host = match listen.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            ip => ip.to_string(),
        };
        let tls_dir = tls_dir
            .to_str()
            .context("the data directory is not UTF-8")?;
        // qemu's option syntax doubles a comma inside a value.
        let (tls_dir, name) = (tls_dir.replace(',', ",,"), name.replace(',', ",,"));
        Ok(NbdImage::Tls {
            object: format!("tls-creds-x509,id=nbdtls,endpoint=client,dir={tls_dir}"),
            options: format!(
                "driver=nbd,server.type=inet,server.host={host},server.port={},\
                 export={name},tls-creds=nbdtls",
                listen.port()
            ),
        })
    }

    /// qemu-img convert's arguments reading from the volume.
    fn source_args(&self) -> Vec<String> {
        match self {
            NbdImage::Url(url) => vec!["-f".into(), "raw".into(), url.clone()],
            NbdImage::Tls { object, options } => {
                let args = ["--object", object, "--image-opts", options];
                args.map(str::to_owned).to_vec()
            }
        }
    }

    /// qemu-img convert's arguments writing to the volume (after the
    /// source).
    fn target_args(&self) -> Vec<String> {
        match self {
            NbdImage::Url(url) => vec!["-O".into(), "raw".into(), url.clone()],
            NbdImage::Tls { object, options } => {
                let args = ["--object", object, "--target-image-opts", options];
                args.map(str::to_owned).to_vec()
            }
        }
    }
}

fn qemu_img(args: &[&str]) -> Result<()> {
    let status = Command::new("qemu-img")
        .args(args)
        .status()
        .context("running qemu-img (install qemu-utils)")?;
    if !status.success() {
        bail!("qemu-img failed ({status})");
    }
    Ok(())
}

/// The image's virtual size and format, as qemu-img sees them.
fn image_info(file: &Path) -> Result<(u64, String)> {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(file)
        .output()
        .context("running qemu-img (install qemu-utils)")?;
    if !out.status.success() {
        bail!(
            "qemu-img info {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let info: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let size = info["virtual-size"]
        .as_u64()
        .context("qemu-img gave no virtual-size")?;
    let format = info["format"].as_str().unwrap_or("raw").to_owned();
    Ok((size, format))
}
