//! The cluster's layout in Raft: the object ring and the extent ring as
//! records of the metadata group, published by the operator, and a watch
//! that installs every newer object ring on this node while it runs —
//! opening first any device the ring gives this node (`cairn ring add` on
//! a live cluster needs no restart).
//!
//! The object ring is what `cairn ring rebalance` makes: proxies and
//! replicators take each new version as it is committed (and save it as
//! `ring/object.ring`, so a restart starts from it), and the replicators
//! move the partitions it reassigns. Every version published is also kept
//! as `ring/<version>`, for the volumes placed by it: a volume keeps the
//! ring in force when it was made (`up::placements`), because a moved
//! extent would need its writer's lease to move safely, which the block
//! layer does not do yet. The extent ring is the object ring as it was
//! when the cluster was made: where volumes made before placements had
//! versions live.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cairn_meta::MetaNode;
use cairn_meta_api::records::{Check, RecordKey, Records, Txn, TxnOutcome};
use cairn_nodeapi::DeviceId;
use cairn_ring::{LiveRing, Ring};
use cairn_storage_node::DeviceConfig;

/// The record table of the cluster's layout.
const TABLE: &str = "cluster";
/// How often a node looks for a newer ring.
const POLL: Duration = Duration::from_secs(1);

fn object_key() -> RecordKey {
    RecordKey::new(TABLE, "object-ring")
}

fn extent_key() -> RecordKey {
    RecordKey::new(TABLE, "extent-ring")
}

fn version_key(version: u64) -> RecordKey {
    RecordKey::new(TABLE, format!("ring/{version}"))
}

fn decode(bytes: &[u8]) -> Result<Ring> {
    serde_json::from_slice(bytes).context("decoding a ring from the metadata group")
}

fn encode(ring: &Ring) -> Result<Vec<u8>> {
    serde_json::to_vec(ring).context("encoding the ring")
}

/// A ring as committed, with its record's revision.
struct Published {
    revision: u64,
    ring: Ring,
}

async fn read(meta: &MetaNode, key: &RecordKey) -> Result<Option<Published>> {
    let Some(record) = meta.record(key).await? else {
        return Ok(None);
    };
    Ok(Some(Published {
        revision: record.revision,
        ring: decode(&record.value)?,
    }))
}

/// Publishes `ring` as both rings unless the cluster has them already
/// (the bootstrap node's start).
pub async fn publish_initial(meta: &MetaNode, ring: &Ring) -> Result<()> {
    let bytes = encode(ring)?;
    let txn = Txn::new()
        .check(Check::absent(object_key()))
        .check(Check::absent(version_key(ring.version())))
        .put(object_key(), bytes.clone())
        .put(version_key(ring.version()), bytes.clone());
    if matches!(meta.commit(txn).await?, TxnOutcome::Committed(_)) {
        tracing::info!(version = ring.version(), "ring published");
    }
    let txn = Txn::new()
        .check(Check::absent(extent_key()))
        .put(extent_key(), bytes);
    meta.commit(txn).await?;
    Ok(())
}

/// Publishes `ring` as the object ring, if it continues the one in force:
/// the same partition power, replica count and hash secrets, and a newer
/// version. Returns the version it replaced.
pub async fn publish(meta: &MetaNode, ring: &Ring) -> Result<u64> {
    let current = read(meta, &object_key())
        .await?
        .context("the cluster has no ring yet (its bootstrap node publishes the first)")?;
    let old = &current.ring;
    if ring.part_power() != old.part_power() || ring.replica_count() != old.replica_count() {
        bail!(
            "the ring has part power {} and {} replicas; the cluster's has {} and {}",
            ring.part_power(),
            ring.replica_count(),
            old.part_power(),
            old.replica_count()
        );
    }
    let probe = |r: &Ring| r.object_hash("a", Some("c"), Some("o"));
    if probe(ring) != probe(old) {
        bail!("the ring hashes names with other secrets than the cluster's: not its builder");
    }
    if ring.version() <= old.version() {
        bail!(
            "the ring's version {} is not newer than the cluster's {}",
            ring.version(),
            old.version()
        );
    }
    let bytes = encode(ring)?;
    let txn = Txn::new()
        .check(Check::at(object_key(), current.revision))
        .put(version_key(ring.version()), bytes.clone())
        .put(object_key(), bytes);
    match meta.commit(txn).await? {
        TxnOutcome::Committed(_) => Ok(old.version()),
        TxnOutcome::Conflict { .. } => bail!("another ring was published meanwhile; try again"),
    }
}

/// The ring volumes made before placements had versions are placed by,
/// if the cluster has published one.
pub async fn extent_ring(meta: &MetaNode) -> Result<Option<Ring>> {
    Ok(read(meta, &extent_key()).await?.map(|p| p.ring))
}

/// The object ring version `version` as it was published.
pub async fn ring_version(meta: &MetaNode, version: u64) -> Result<Option<Ring>> {
    Ok(read(meta, &version_key(version)).await?.map(|p| p.ring))
}

/// The object ring in force, kept as its version too (a cluster made
/// before versions were kept gets the record now): what a volume made now
/// is placed by.
pub async fn newest_ring(meta: &MetaNode) -> Result<Ring> {
    let current = read(meta, &object_key())
        .await?
        .context("the cluster has no ring yet (its bootstrap node publishes the first)")?;
    let version = current.ring.version();
    if meta.record(&version_key(version)).await?.is_none() {
        let txn = Txn::new()
            .check(Check::absent(version_key(version)))
            .put(version_key(version), encode(&current.ring)?);
        // A conflict means another node kept it first: the same ring.
        meta.commit(txn).await?;
    }
    Ok(current.ring)
}

/// This node's storage, and where its devices' directories are.
pub struct LocalDevices {
    pub storage: Arc<super::Storage>,
    /// This node's number in the ring.
    pub node: u32,
    pub dir: PathBuf,
}

impl LocalDevices {
    /// Opens every device `ring` gives this node that it does not serve yet.
    async fn open_new(&self, ring: &Ring) -> Result<()> {
        for d in ring.devices().iter().filter(|d| d.node == self.node) {
            let cfg = DeviceConfig {
                id: DeviceId(d.id),
                path: self.dir.join(&d.name),
            };
            let added =
                self.storage.add_device(&cfg).await.with_context(|| {
                    format!("opening device {} ({})", d.name, cfg.path.display())
                })?;
            if added {
                tracing::info!(device = %d.name, id = d.id, "the new ring gives this node a device");
            }
        }
        Ok(())
    }
}

/// Installs the published object ring when its record changed since
/// revision `seen` and the ring is newer than `live`'s, saving it to `path`
/// and opening the devices it gives this node first; calls `learn` with
/// each ring installed. Returns the record's revision, so an unchanged
/// ring is not decoded again.
pub async fn follow_once(
    meta: &MetaNode,
    live: &LiveRing,
    path: &Path,
    local: &LocalDevices,
    learn: &(dyn Fn(&Ring) + Send + Sync),
    seen: u64,
) -> Result<u64> {
    let Some(record) = meta.record(&object_key()).await? else {
        return Ok(seen);
    };
    if record.revision == seen {
        return Ok(seen);
    }
    let ring = decode(&record.value)?;
    if ring.version() > live.current().version() {
        local.open_new(&ring).await?;
        ring.save(path)
            .with_context(|| format!("saving the new ring to {}", path.display()))?;
        learn(&ring);
        tracing::info!(
            version = ring.version(),
            devices = ring.devices().len(),
            "new ring in force"
        );
        live.replace(ring);
    }
    Ok(record.revision)
}

/// Follows the published ring until `stop` resolves.
pub fn spawn_watch(
    meta: Arc<MetaNode>,
    live: Arc<LiveRing>,
    path: PathBuf,
    local: LocalDevices,
    learn: Box<dyn Fn(&Ring) + Send + Sync>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stop = std::pin::pin!(stop);
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = 0;
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = ticker.tick() => {
                    match follow_once(&meta, &live, &path, &local, learn.as_ref(), seen).await {
                        Ok(revision) => seen = revision,
                        Err(e) => tracing::warn!(error = %format!("{e:#}"), "following the ring"),
                    }
                }
            }
        }
    })
}
