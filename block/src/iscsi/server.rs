//! The accept loop: one task per connection, the logical units shared by
//! every session of a target (so reservations are seen by all), TSIH
//! allocation, and shutdown.

use super::conn;
use super::TargetConfig;
use crate::scsi::LogicalUnit;
use crate::{BlockError, Exports};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Most connections served at once; more wait in the listen backlog.
pub const CONNECTIONS_MAX: usize = 1024;
/// How long shutdown waits for connections to end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// State shared by every connection of one server.
pub(super) struct Shared {
    pub(super) exports: Arc<dyn Exports>,
    pub(super) config: TargetConfig,
    /// Held weakly: the sessions own their unit, and a unit no session
    /// uses any more lets its volume go (it can then be deleted, or
    /// attached by another gateway).
    units: Mutex<HashMap<String, Weak<LogicalUnit>>>,
    tsih: AtomicU16,
}

impl Shared {
    /// A TSIH for a new session (never 0).
    pub(super) fn next_tsih(&self) -> u16 {
        loop {
            let t = self.tsih.fetch_add(1, Ordering::Relaxed);
            if t != 0 {
                return t;
            }
        }
    }

    /// The logical unit of export `name`, shared by all its sessions; a new
    /// one if the export now names another volume.
    pub(super) async fn logical_unit(&self, name: &str) -> Result<Arc<LogicalUnit>, BlockError> {
        let device = self.exports.open(name).await?;
        let identity = device.identity();
        let mut units = self.units.lock().unwrap_or_else(|e| e.into_inner());
        units.retain(|_, lu| lu.strong_count() > 0);
        if let Some(lu) = units.get(name).and_then(Weak::upgrade) {
            if *lu.identity() == identity {
                return Ok(lu);
            }
        }
        let lu = Arc::new(LogicalUnit::new(device));
        units.insert(name.to_owned(), Arc::downgrade(&lu));
        Ok(lu)
    }
}

/// Serves iSCSI on `listener` until `shutdown` completes, then closes every
/// connection.
pub async fn serve(
    listener: TcpListener,
    exports: Arc<dyn Exports>,
    config: TargetConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    tracing::info!(portal = %config.portal, prefix = %config.iqn_prefix, chap = config.chap.is_some(), "iSCSI target serving");
    let shared = Arc::new(Shared {
        exports,
        config,
        units: Mutex::new(HashMap::new()),
        tsih: AtomicU16::new(1),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept(), if conns.len() < CONNECTIONS_MAX => match accepted {
                Ok((sock, peer)) => {
                    tracing::debug!(%peer, "iSCSI connection");
                    conns.spawn(conn::run(sock, shared.clone(), stop_rx.clone()));
                }
                Err(e) => {
                    // Out of descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    let _ = stop_tx.send(true);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        conns.abort_all();
    }
    Ok(())
}
