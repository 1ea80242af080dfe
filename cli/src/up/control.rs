//! The server side of the control socket (`crate::control`): each request
//! is carried out by the block gateway.

use crate::control::{socket_path, Reply, Request};
use anyhow::{Context, Result};
use cairn_block::gateway::{CreateVolume, Gateway, Source, VolumeError};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Longest request line accepted.
const LINE_MAX: u64 = 64 * 1024;
/// The account volumes made from the command line belong to.
const OPERATOR_ACCOUNT: &str = "AUTH_admin";

/// Binds the socket (mode 0600) and serves it until `stop` resolves.
pub async fn serve(
    data: &Path,
    gateway: Arc<Gateway>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let path = socket_path(data);
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)
        .with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let gw = gateway.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &gw).await {
                        tracing::warn!(error = %e, "control request failed");
                    }
                });
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn answer(stream: tokio::net::UnixStream, gw: &Gateway) -> Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    BufReader::new(rd)
        .take(LINE_MAX)
        .read_line(&mut line)
        .await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(req) => execute(gw, req)
            .await
            .unwrap_or_else(|e| Reply::Error(e.to_string())),
        Err(e) => Reply::Error(format!("bad request: {e}")),
    };
    let mut out = serde_json::to_vec(&reply)?;
    out.push(b'\n');
    wr.write_all(&out).await?;
    Ok(())
}

async fn execute(gw: &Gateway, req: Request) -> Result<Reply, VolumeError> {
    let volume = |v| Reply::Volume(Box::new(v));
    Ok(match req {
        Request::VolumeCreate {
            name,
            size,
            from_snapshot,
            from_volume,
        } => {
            let source = match (from_snapshot, from_volume) {
                (Some(_), Some(_)) => {
                    return Err(VolumeError::Invalid(
                        "give --from-snapshot or --from-volume, not both".into(),
                    ))
                }
                (Some(s), None) => {
                    let (volume, snapshot) = s.split_once('@').ok_or_else(|| {
                        VolumeError::Invalid(format!(
                            "--from-snapshot takes VOLUME@SNAPSHOT, not {s:?}"
                        ))
                    })?;
                    Source::Snapshot {
                        volume: volume.into(),
                        snapshot: snapshot.into(),
                    }
                }
                (None, Some(v)) => Source::Volume(v),
                (None, None) => Source::Empty,
            };
            volume(
                gw.create(CreateVolume {
                    name,
                    account: OPERATOR_ACCOUNT.into(),
                    size,
                    source,
                    replica_count: None,
                })
                .await?,
            )
        }
        Request::VolumeList => Reply::Volumes(gw.list().await?),
        Request::VolumeShow { name } => volume(gw.show(&name).await?),
        Request::VolumeResize { name, size } => volume(gw.resize(&name, size).await?),
        Request::VolumeDelete { name } => {
            gw.delete(&name).await?;
            Reply::Done
        }
        Request::SnapshotCreate { volume: v, name } => volume(gw.snapshot(&v, &name, false).await?),
        Request::SnapshotDelete { volume: v, name } => volume(gw.delete_snapshot(&v, &name).await?),
    })
}
