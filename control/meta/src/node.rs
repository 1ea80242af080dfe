//! `MetaNode`: one voter of the metadata group — the rocksdb store, the
//! openraft instance over it, and the request paths (writes through
//! `client_write`, reads after `ensure_linearizable`), each bounded by a
//! timeout that turns into `MetaError::Unavailable`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cairn_base::Timestamp;
use cairn_meta_api::MetaError;
use openraft::error::{Fatal, RaftError};
use openraft::network::RaftNetworkFactory;
use openraft::{Config, SnapshotPolicy};
use rocksdb::DB;

use crate::batcher::Batcher;
use crate::db::{self, Db};
use crate::error::{MetaOpenError, MetaShutdownError};
use crate::log_store::LogStore;
use crate::network::{LeaderLink, SoloNetwork};
use crate::reads;
use crate::state_machine::StateMachine;
use crate::types::{MetaRaft, Node, NodeId, Reply, Request, TypeConfig};

/// Tombstones reclaimed per Raft command, at most.
pub const RECLAIM_BATCH_MAX: usize = 1_000;

/// The pause before a request that found no leader is sent again.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How long `shutdown` waits for openraft's tasks to release the store.
pub const SHUTDOWN_WAIT_MS: u64 = 5_000;

/// Tunables of a metadata voter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaOptions {
    /// Bound on one write or read (leader check, commit, apply).
    pub request_timeout_ms: u64,
    /// How long `open_single` waits to become leader.
    pub leader_wait_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot (and purge the log before it) every this many entries.
    pub snapshot_every_entries: u64,
    /// Log entries kept behind a snapshot (lagging followers beyond them get
    /// the snapshot instead).
    pub logs_kept_after_snapshot: u64,
    /// Refuse `put_container` beyond this many containers per account.
    pub containers_per_account_max: Option<u64>,
}

impl Default for MetaOptions {
    fn default() -> Self {
        MetaOptions {
            request_timeout_ms: 5_000,
            leader_wait_ms: 10_000,
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 300,
            election_timeout_max_ms: 600,
            snapshot_every_entries: 50_000,
            logs_kept_after_snapshot: 1_000,
            containers_per_account_max: None,
        }
    }
}

/// One voter of the metadata Raft group; implements `Metadata`.
pub struct MetaNode {
    pub(crate) id: NodeId,
    pub(crate) raft: MetaRaft,
    pub(crate) db: Db,
    pub(crate) opts: MetaOptions,
    batcher: Batcher,
    /// How requests reach the leader when this voter is not it.
    link: std::sync::OnceLock<Arc<dyn LeaderLink>>,
}

/// Who leads the group, as this voter sees it.
pub(crate) enum Leader {
    Me,
    Other(NodeId, Node),
}

impl MetaNode {
    /// Opens (or creates) the store in `dir` as a one-voter group: on first
    /// start it initialises the membership to `{node_id}`; then waits until
    /// this node is leader.
    pub async fn open_single(dir: &Path, node_id: NodeId) -> Result<Arc<MetaNode>, MetaOpenError> {
        Self::open_single_with(dir, node_id, MetaOptions::default()).await
    }

    /// `open_single` with explicit options.
    pub async fn open_single_with(
        dir: &Path,
        node_id: NodeId,
        opts: MetaOptions,
    ) -> Result<Arc<MetaNode>, MetaOpenError> {
        let node = Self::open(dir, node_id, opts, SoloNetwork).await?;
        let is_init = node
            .raft
            .is_initialized()
            .await
            .map_err(|e| MetaOpenError::Raft(e.to_string()))?;
        if !is_init {
            node.initialize(BTreeMap::from([(node_id, Node::default())]))
                .await?;
        }
        node.wait_leader(node_id).await?;
        Ok(node)
    }

    /// Opens the store in `dir` and starts a voter that talks to its peers
    /// through `network`. Does not initialise membership (see `initialize`).
    pub async fn open<N>(
        dir: &Path,
        node_id: NodeId,
        opts: MetaOptions,
        network: N,
    ) -> Result<Arc<MetaNode>, MetaOpenError>
    where
        N: RaftNetworkFactory<TypeConfig>,
    {
        std::fs::create_dir_all(dir).map_err(|e| MetaOpenError::Store(e.into()))?;
        let db = db::open(&dir.join("db"))?;
        let log = LogStore::new(db.clone())?;
        let sm = StateMachine::new(db.clone(), &dir.join("snapshots"));
        let config = raft_config(&opts)?;
        let raft = MetaRaft::new(node_id, Arc::new(config), network, log, sm)
            .await
            .map_err(|e| MetaOpenError::Raft(e.to_string()))?;
        tracing::info!(node_id, dir = %dir.display(), ?opts, "metadata voter started");
        let batcher = Batcher::start(raft.clone(), Duration::from_millis(opts.request_timeout_ms));
        Ok(Arc::new(MetaNode {
            id: node_id,
            raft,
            db,
            opts,
            batcher,
            link: std::sync::OnceLock::new(),
        }))
    }

    /// Lets this voter (or learner) pass requests on to the leader: writes
    /// are committed there, and reads wait here until this node has applied
    /// what the leader had committed when asked (follower reads, still
    /// linearizable). Without a link, a follower refuses as `Unavailable`.
    /// Set once; later calls are ignored.
    pub fn set_leader_link(&self, link: Arc<dyn LeaderLink>) {
        let _ = self.link.set(link);
    }

    /// Sets the initial membership of a new group (call on one voter only).
    pub async fn initialize(&self, members: BTreeMap<NodeId, Node>) -> Result<(), MetaOpenError> {
        self.raft
            .initialize(members)
            .await
            .map_err(|e| MetaOpenError::Raft(e.to_string()))
    }

    /// Waits until `leader` is this node's known leader.
    pub async fn wait_leader(&self, leader: NodeId) -> Result<(), MetaOpenError> {
        let wait = Duration::from_millis(self.opts.leader_wait_ms);
        self.raft
            .wait(Some(wait))
            .current_leader(leader, "metadata leader")
            .await
            .map(|_| ())
            .map_err(|_| MetaOpenError::NoLeader(self.opts.leader_wait_ms))
    }

    /// This voter's id.
    pub fn node_id(&self) -> NodeId {
        self.id
    }

    /// Forgets deletions older than `older_than` (Swift's reclaim age:
    /// call it periodically with `now - reclaim_age`); after that an older
    /// PUT of such a name is accepted again. Returns how many were removed.
    /// Runs as bounded commands of at most `RECLAIM_BATCH_MAX` keys.
    pub async fn reclaim_tombstones(&self, older_than: Timestamp) -> Result<u64, MetaError> {
        let mut removed = 0;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let (keys, resume) = self
                .read(|db| {
                    Ok(reads::old_tombstones(
                        db,
                        after.as_deref(),
                        older_than,
                        RECLAIM_BATCH_MAX,
                    )?)
                })
                .await?;
            if !keys.is_empty() {
                match self
                    .write(Request::ReclaimTombstones { older_than, keys })
                    .await?
                {
                    Reply::Reclaimed(n) => removed += n,
                    other => {
                        return Err(MetaError::Storage(format!(
                            "reclaim answered with {other:?}"
                        )))
                    }
                }
            }
            match resume {
                Some(k) => after = Some(k),
                None => return Ok(removed),
            }
        }
    }

    /// The leader this voter knows of (where a refused write should go).
    pub fn current_leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// The openraft handle: a transport delivers incoming RPCs to it, and
    /// tests read its metrics.
    pub fn raft(&self) -> &MetaRaft {
        &self.raft
    }

    /// Stops the Raft node and waits until its tasks have released the
    /// store; the database closes when this `MetaNode` is dropped.
    pub async fn shutdown(&self) -> Result<(), MetaShutdownError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| MetaShutdownError(e.to_string()))?;
        // openraft's state-machine worker and replication tasks end shortly
        // after the core; each holds the database until it does.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(SHUTDOWN_WAIT_MS);
        while Arc::strong_count(&self.db) > 1 {
            if tokio::time::Instant::now() >= deadline {
                return Err(MetaShutdownError(format!(
                    "store still in use after {SHUTDOWN_WAIT_MS} ms"
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Commits `req` (batched with concurrent writes) and returns what
    /// applying it produced; on a follower, through the leader. A request
    /// that reached no leader (leadership was changing) is sent again
    /// until the request timeout: nothing of it was committed.
    pub(crate) async fn write(&self, req: Request) -> Result<Reply, MetaError> {
        self.retrying(|| async {
            match self.leader().await? {
                Leader::Me => self.write_here(req.clone()).await,
                Leader::Other(id, node) => {
                    let link = self.link()?;
                    self.bounded(link.write(id, &node, req.clone())).await?
                }
            }
        })
        .await
    }

    /// Runs `attempt` again while it finds no leader (`NotLeader`: nothing
    /// of it was committed), until the request timeout.
    pub(crate) async fn retrying<T, F>(
        &self,
        mut attempt: impl FnMut() -> F,
    ) -> Result<T, MetaError>
    where
        F: Future<Output = Result<T, MetaError>>,
    {
        let deadline = self.deadline();
        loop {
            match attempt().await {
                Err(MetaError::NotLeader(why)) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(%why, "metadata request found no leader; again");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                other => return other,
            }
        }
    }

    /// Commits `req` as the leader (what a forwarded write runs): a
    /// follower refuses with `Unavailable`.
    pub async fn write_here(&self, req: Request) -> Result<Reply, MetaError> {
        self.ensure_leader()?;
        match self.bounded(self.batcher.submit(req)).await?? {
            Reply::Rejected(r) => Err(r.into()),
            other => Ok(other),
        }
    }

    /// Runs `read` on the state machine once it reflects every commit made
    /// before this call (linearizable). On a follower: ask the leader how
    /// far a read must see (confirming its leadership with a quorum), wait
    /// until this node applied that far, and read locally. Tried again
    /// while leadership changes, until the request timeout.
    pub(crate) async fn read<T>(
        &self,
        read: impl FnOnce(&DB) -> Result<T, MetaError>,
    ) -> Result<T, MetaError> {
        let deadline = self.deadline();
        loop {
            match self.read_barrier().await {
                Ok(()) => return read(&self.db),
                Err(MetaError::NotLeader(why) | MetaError::Unavailable(why))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tracing::debug!(%why, "metadata read found no leader; again");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Returns once this node's state machine holds every commit made
    /// before the call.
    async fn read_barrier(&self) -> Result<(), MetaError> {
        match self.leader().await? {
            Leader::Me => {
                self.bounded(self.raft.ensure_linearizable())
                    .await?
                    .map_err(|e| raft_error(e, "read"))?;
            }
            Leader::Other(id, node) => {
                let link = self.link()?;
                let index = self.bounded(link.read_index(id, &node)).await??;
                if let Some(index) = index {
                    self.raft
                        .wait(Some(Duration::from_millis(self.opts.request_timeout_ms)))
                        .applied_index_at_least(Some(index), "follower read")
                        .await
                        .map_err(|e| MetaError::Unavailable(format!("follower read: {e}")))?;
                }
            }
        }
        Ok(())
    }

    fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_millis(self.opts.request_timeout_ms)
    }

    /// `NotLeader` unless this node believes it leads (a stale belief is
    /// caught by the quorum check or the commit that follows).
    pub(crate) fn ensure_leader(&self) -> Result<(), MetaError> {
        let leader = self.raft.metrics().borrow().current_leader;
        if leader == Some(self.id) {
            Ok(())
        } else {
            Err(MetaError::NotLeader(format!(
                "node {} is not the leader ({leader:?} is)",
                self.id
            )))
        }
    }

    /// The log index a linearizable read must see, as the leader (what a
    /// follower's read asks for): `Unavailable` unless this node is leader
    /// and a quorum confirms it.
    pub async fn read_index_here(&self) -> Result<Option<u64>, MetaError> {
        self.ensure_leader()?;
        let (read_log_id, _applied) = self
            .bounded(self.raft.get_read_log_id())
            .await?
            .map_err(|e| raft_error(e, "read index"))?;
        Ok(read_log_id.map(|l| l.index))
    }

    /// The leader, waiting (within the request timeout) for one to be known.
    pub(crate) async fn leader(&self) -> Result<Leader, MetaError> {
        if let Some(known) = self.known_leader()? {
            return Ok(known);
        }
        let limit = Duration::from_millis(self.opts.request_timeout_ms);
        self.raft
            .wait(Some(limit))
            .metrics(|m| m.current_leader.is_some(), "a known leader")
            .await
            .map_err(|e| MetaError::Unavailable(format!("no leader: {e}")))?;
        self.known_leader()?
            .ok_or_else(|| MetaError::Unavailable("no leader".into()))
    }

    /// The leader as the metrics name it now, without copying them (every
    /// request asks): `None` while none is known.
    fn known_leader(&self) -> Result<Option<Leader>, MetaError> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let Some(leader) = m.current_leader else {
            return Ok(None);
        };
        if leader == self.id {
            return Ok(Some(Leader::Me));
        }
        let node = m
            .membership_config
            .membership()
            .get_node(&leader)
            .cloned()
            .ok_or_else(|| MetaError::Unavailable(format!("leader {leader} has no address")))?;
        Ok(Some(Leader::Other(leader, node)))
    }

    pub(crate) fn link(&self) -> Result<&Arc<dyn LeaderLink>, MetaError> {
        self.link.get().ok_or_else(|| {
            MetaError::Unavailable("not the metadata leader, and no way to reach it".into())
        })
    }

    async fn bounded<T>(&self, fut: impl Future<Output = T>) -> Result<T, MetaError> {
        let limit = Duration::from_millis(self.opts.request_timeout_ms);
        tokio::time::timeout(limit, fut).await.map_err(|_| {
            MetaError::Unavailable(format!(
                "no commit within {} ms",
                self.opts.request_timeout_ms
            ))
        })
    }
}

fn raft_config(opts: &MetaOptions) -> Result<Config, MetaOpenError> {
    let config = Config {
        cluster_name: "cairn-meta".into(),
        heartbeat_interval: opts.heartbeat_interval_ms,
        election_timeout_min: opts.election_timeout_min_ms,
        election_timeout_max: opts.election_timeout_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(opts.snapshot_every_entries),
        max_in_snapshot_log_to_keep: opts.logs_kept_after_snapshot,
        ..Default::default()
    };
    config
        .validate()
        .map_err(|e| MetaOpenError::Config(e.to_string()))
}

/// Maps a failed commit: refused because this node does not lead (after a
/// restart it may briefly believe it does) is `NotLeader` — nothing was
/// appended, so it is sent again; the rest as [`raft_error`].
pub(crate) fn write_error(
    e: RaftError<NodeId, openraft::error::ClientWriteError<NodeId, Node>>,
    what: &str,
) -> MetaError {
    match e {
        RaftError::APIError(openraft::error::ClientWriteError::ForwardToLeader(f)) => {
            MetaError::NotLeader(format!("{what}: {f}"))
        }
        other => raft_error(other, what),
    }
}

/// Maps a Raft failure: storage faults are `Storage`, everything else (not
/// leader, no quorum, stopped) is `Unavailable` and safe to retry.
pub(crate) fn raft_error<E: std::error::Error>(e: RaftError<NodeId, E>, what: &str) -> MetaError {
    tracing::warn!(error = %e, what, "metadata raft request failed");
    match e {
        RaftError::Fatal(Fatal::StorageError(s)) => MetaError::Storage(format!("{what}: {s}")),
        other => MetaError::Unavailable(format!("{what}: {other}")),
    }
}
