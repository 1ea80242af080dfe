//! What Cinder keeps besides the block layer's volume records: one record
//! per volume (`cinder-volumes/<project>/<id>`), per snapshot
//! (`cinder-snapshots/<project>/<id>`) and per attachment
//! (`cinder-attachments/<project>/<id>`), JSON, written with
//! `Check::absent` on create so an id is never reused. The project leads
//! the key, so a lookup can only find the caller's project's records and a
//! listing reads only them.
//!
//! A volume attaches to one host at a time: an attachment is created
//! together with the volume's claim (`cinder-volume-claims/<project>/<volume>`)
//! in one transaction that requires the claim absent, so two concurrent
//! attachments of one volume cannot both succeed.
//!
//! Volume types ([`crate::types`]) and quotas ([`crate::quota`]) keep their
//! own tables; a volume or snapshot record is created in one transaction
//! with the quota's and the type's checks.

use cairn_meta_api::records::{Check, RecordKey, Records, Txn, TxnOutcome};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::CinderError;

const VOLUMES: &str = "cinder-volumes";
const SNAPSHOTS: &str = "cinder-snapshots";
const ATTACHMENTS: &str = "cinder-attachments";
const CLAIMS: &str = "cinder-volume-claims";
/// Records read per scan.
const SCAN_BATCH: usize = 1000;

/// A Cinder volume's own fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: String,
    pub user_id: String,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    /// Unix seconds.
    pub created_secs: u64,
    /// Its volume type; `None` (records from before types): the default.
    #[serde(default)]
    pub volume_type_id: Option<String>,
    /// The GiB the project's quota counts for it, changed with the quota's
    /// check; `None` (records from before quotas): the block volume's size.
    #[serde(default)]
    pub size_gib: Option<u64>,
}

impl VolumeMeta {
    /// The Cairn volume (export name) behind it.
    pub fn block_name(&self) -> String {
        block_volume(&self.id)
    }
}

/// A Cinder snapshot's own fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub id: String,
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: String,
    pub user_id: String,
    pub created_secs: u64,
    /// The GiB the project's quota counts for it (the volume's size when
    /// it was taken); `None` (records from before quotas): look it up.
    #[serde(default)]
    pub size_gib: Option<u64>,
}

impl SnapshotMeta {
    /// The Cairn snapshot name on its volume.
    pub fn block_name(&self) -> String {
        format!("snapshot-{}", self.id)
    }
}

/// Where an attachment stands (Cinder's `attach_status`): reserved for an
/// instance, connection info handed out, or in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachState {
    Reserved,
    Attaching,
    Attached,
}

impl AttachState {
    /// The name Cinder gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachState::Reserved => "reserved",
            AttachState::Attaching => "attaching",
            AttachState::Attached => "attached",
        }
    }
}

/// Read-write or read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    Rw,
    Ro,
}

impl AttachMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachMode::Rw => "rw",
            AttachMode::Ro => "ro",
        }
    }
}

/// A volume's attachment to a host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentMeta {
    pub id: String,
    pub volume_id: String,
    pub project_id: String,
    /// The instance (server) it is for, as its caller named it.
    pub instance: Option<String>,
    /// What the host said of itself (os-brick's connector properties):
    /// `None` until it asks for connection info.
    pub connector: Option<serde_json::Value>,
    pub mode: AttachMode,
    pub state: AttachState,
    pub created_secs: u64,
    pub attached_secs: Option<u64>,
}

/// The Cairn volume of Cinder volume `id`.
pub fn block_volume(id: &str) -> String {
    format!("volume-{id}")
}

/// A record kind kept in one table, owned by a project.
pub trait Kept: Serialize + DeserializeOwned {
    const TABLE: &'static str;
    /// Its noun in messages: "Volume".
    const KIND: &'static str;
    fn id(&self) -> &str;
    fn project_id(&self) -> &str;
}

impl Kept for VolumeMeta {
    const TABLE: &'static str = VOLUMES;
    const KIND: &'static str = "Volume";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
}

impl Kept for SnapshotMeta {
    const TABLE: &'static str = SNAPSHOTS;
    const KIND: &'static str = "Snapshot";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
}

impl Kept for AttachmentMeta {
    const TABLE: &'static str = ATTACHMENTS;
    const KIND: &'static str = "Attachment";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
}

/// The key of project `project`'s record `id` of kind `T`.
fn key<T: Kept>(project: &str, id: &str) -> RecordKey {
    RecordKey::new(T::TABLE, format!("{project}/{id}"))
}

pub fn key_of<T: Kept>(v: &T) -> RecordKey {
    key::<T>(v.project_id(), v.id())
}

/// Project `project`'s record `id`: another project's is not found.
pub async fn owned<T: Kept>(
    records: &dyn Records,
    project: &str,
    id: &str,
) -> Result<T, CinderError> {
    Ok(owned_at(records, project, id).await?.0)
}

/// [`owned`], with the record's revision (for a transaction's check).
pub async fn owned_at<T: Kept>(
    records: &dyn Records,
    project: &str,
    id: &str,
) -> Result<(T, u64), CinderError> {
    match records.record(&key::<T>(project, id)).await? {
        Some(r) => Ok((decode(&r.value)?, r.revision)),
        None => Err(CinderError::NotFound(format!(
            "{} {id} could not be found.",
            T::KIND
        ))),
    }
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CinderError> {
    serde_json::from_slice(bytes)
        .map_err(|e| CinderError::Unavailable(format!("a Cinder record is damaged: {e}")))
}

pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, CinderError> {
    serde_json::to_vec(v).map_err(|e| CinderError::Unavailable(format!("encoding a record: {e}")))
}

/// Commits `txn`: `false` if one of its checks failed (nothing changed).
pub async fn try_commit(records: &dyn Records, txn: Txn) -> Result<bool, CinderError> {
    Ok(matches!(
        records.commit(txn).await?,
        TxnOutcome::Committed(_)
    ))
}

/// Every record of kind `T` of `project`, or of every project (`None`).
pub async fn all<T: Kept>(
    records: &dyn Records,
    project: Option<&str>,
) -> Result<Vec<T>, CinderError> {
    let prefix = project.map_or_else(String::new, |p| format!("{p}/"));
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let batch = records
            .scan(T::TABLE, &prefix, after.as_deref(), SCAN_BATCH)
            .await?;
        let done = batch.len() < SCAN_BATCH;
        for (key, r) in batch {
            out.push(decode(&r.value)?);
            after = Some(key);
        }
        if done {
            return Ok(out);
        }
    }
}

/// Replaces a record.
pub async fn put<T: Kept>(records: &dyn Records, v: &T) -> Result<(), CinderError> {
    records
        .commit(Txn::new().put(key_of(v), encode(v)?))
        .await?;
    Ok(())
}

/// Removes a record.
pub async fn remove<T: Kept>(records: &dyn Records, v: &T) -> Result<(), CinderError> {
    records.commit(Txn::new().delete(key_of(v))).await?;
    Ok(())
}

fn claim_key(project: &str, volume_id: &str) -> RecordKey {
    RecordKey::new(CLAIMS, format!("{project}/{volume_id}"))
}

/// Stores a new attachment with its volume's claim; refused while the
/// volume has another attachment.
pub async fn attach(records: &dyn Records, a: &AttachmentMeta) -> Result<(), CinderError> {
    let claim = claim_key(&a.project_id, &a.volume_id);
    let txn = Txn::new()
        .check(Check::absent(claim.clone()))
        .check(Check::absent(key_of(a)))
        .put(claim, a.id.as_bytes().to_vec())
        .put(key_of(a), encode(a)?);
    match records.commit(txn).await? {
        TxnOutcome::Committed(_) => Ok(()),
        TxnOutcome::Conflict { .. } => Err(CinderError::BadRequest(format!(
            "Invalid volume: volume {} is already attached (multiattach is not enabled).",
            a.volume_id
        ))),
    }
}

/// Removes an attachment and its volume's claim.
pub async fn detach(records: &dyn Records, a: &AttachmentMeta) -> Result<(), CinderError> {
    let txn = Txn::new()
        .delete(claim_key(&a.project_id, &a.volume_id))
        .delete(key_of(a));
    records.commit(txn).await?;
    Ok(())
}

/// The attachments of project `project`'s volume `volume_id`.
pub async fn attachments_of(
    records: &dyn Records,
    project: &str,
    volume_id: &str,
) -> Result<Vec<AttachmentMeta>, CinderError> {
    let mut all = all::<AttachmentMeta>(records, Some(project)).await?;
    all.retain(|a| a.volume_id == volume_id);
    Ok(all)
}
