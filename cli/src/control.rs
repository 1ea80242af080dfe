//! The control socket between `cairn up` and the operator's commands
//! (`cairn volume …`): `DATA/control.sock`, a Unix socket only the data
//! directory's owner can open, carrying one JSON request per line and one
//! JSON reply per line.

use anyhow::{bail, Context, Result};
use cairn_meta_api::VolumeRecord;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The socket's path in a data directory.
pub fn socket_path(data: &Path) -> PathBuf {
    data.join("control.sock")
}

/// What an operator command asks of the running cloud.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    VolumeCreate {
        name: String,
        size: Option<u64>,
        /// `volume@snapshot` to clone.
        from_snapshot: Option<String>,
        from_volume: Option<String>,
    },
    VolumeList,
    VolumeShow {
        name: String,
    },
    VolumeResize {
        name: String,
        size: u64,
    },
    VolumeDelete {
        name: String,
    },
    SnapshotCreate {
        volume: String,
        name: String,
    },
    SnapshotDelete {
        volume: String,
        name: String,
    },
}

/// The answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Volume(Box<VolumeRecord>),
    Volumes(Vec<VolumeRecord>),
    Done,
    Error(String),
}

/// The directory of the process to ask in `data`: `data` itself, or, in a
/// cluster's directory (`cairn up --nodes`), node 1's. Every node's gateway
/// serves the same volumes; node 1 is the one `openrc` points at.
pub fn serving_dir(data: &Path) -> PathBuf {
    let node1 = data.join("node-1");
    if !data.join("cairn.toml").exists() && node1.join("cairn.toml").exists() {
        node1
    } else {
        data.to_path_buf()
    }
}

/// Sends one request to the cloud running on `data`.
pub async fn call(data: &Path, req: &Request) -> Result<Reply> {
    let path = socket_path(&serving_dir(data));
    let stream = tokio::net::UnixStream::connect(&path)
        .await
        .with_context(|| {
            format!(
                "connecting to {} (is `cairn up --data {}` running?)",
                path.display(),
                data.display()
            )
        })?;
    let (rd, mut wr) = stream.into_split();
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    wr.write_all(&line).await?;
    let mut answer = String::new();
    BufReader::new(rd).read_line(&mut answer).await?;
    if answer.is_empty() {
        bail!("the control socket closed without answering");
    }
    serde_json::from_str(&answer).context("decoding the control reply")
}
