//! Volume types: one record per type (`cinder-types/<id>`, JSON) and a
//! name index (`cinder-type-names/<name>` → id) written in the same
//! transaction with `Check::absent`, so names stay unique. Types are the
//! cloud's, not a project's.
//!
//! The built-in default type (`__DEFAULT__`) reads as [`VolumeType::default`]
//! until something writes it (its extra specs, or a volume of it); from
//! then on it is a record like the others, and it cannot be deleted.
//!
//! The extra spec `replicas` (an integer from 1 to the ring's replica
//! count) is how many copies a volume of the type keeps; a type without it
//! keeps every replica. A type's extra specs cannot change while a volume
//! has it (Cinder's rule, and what keeps a volume's count its type's).
//!
//! Every volume create rewrites its type's record (same bytes, next
//! revision) in the transaction that creates the volume, checking the
//! revision it read: a type deleted or changed meanwhile makes the create
//! retry, and a delete or change that scanned for volumes of the type
//! fails its own check if a create committed after its scan.

use std::collections::BTreeMap;

use cairn_meta_api::records::{Check, RecordKey, Records, Txn, TxnOutcome};
use serde::{Deserialize, Serialize};

use crate::store::{self, VolumeMeta};
use crate::CinderError;

const TYPES: &str = "cinder-types";
const TYPE_NAMES: &str = "cinder-type-names";
/// Records read per scan.
const SCAN_BATCH: usize = 1000;
/// The extra spec that chooses a volume's replica count.
pub const REPLICAS_SPEC: &str = "replicas";
/// The built-in type's name and id.
pub const DEFAULT_TYPE: &str = "__DEFAULT__";
pub const DEFAULT_TYPE_ID: &str = "5f0a7c9e-0d3b-4c1e-9a57-3c2f0e6b1d01";
/// Extra specs a non-admin sees: Cinder's user-visible ones, and ours.
const USER_VISIBLE_SPECS: [&str; 4] = [
    "RESKEY:availability_zones",
    "multiattach",
    "replication_enabled",
    REPLICAS_SPEC,
];
/// Longest name, description, extra spec key or value.
const TEXT_MAX: usize = 255;

/// A volume type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: BTreeMap<String, String>,
}

impl VolumeType {
    /// The built-in type, as it is before anything changes it.
    pub fn default_type() -> Self {
        VolumeType {
            id: DEFAULT_TYPE_ID.into(),
            name: DEFAULT_TYPE.into(),
            description: Some("Default Volume Type".into()),
            is_public: true,
            extra_specs: BTreeMap::new(),
        }
    }

    pub fn is_default(&self) -> bool {
        self.id == DEFAULT_TYPE_ID
    }

    /// How many copies a volume of this type keeps on a ring of
    /// `replica_count_max` replicas: its `replicas` spec, else all.
    pub fn replica_count(&self, replica_count_max: usize) -> Result<u8, CinderError> {
        match self.extra_specs.get(REPLICAS_SPEC) {
            Some(v) => parse_replicas(v, replica_count_max),
            None => Ok(clamp_u8(replica_count_max)),
        }
    }

    /// The extra specs `admin` or not may see.
    pub fn visible_specs(&self, admin: bool) -> BTreeMap<String, String> {
        let mut specs = self.extra_specs.clone();
        if !admin {
            specs.retain(|k, _| USER_VISIBLE_SPECS.contains(&k.as_str()));
        }
        specs
    }
}

fn clamp_u8(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

/// A `replicas` value: an integer from 1 to `replica_count_max`.
pub fn parse_replicas(value: &str, replica_count_max: usize) -> Result<u8, CinderError> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=replica_count_max).contains(&n) => Ok(clamp_u8(n)),
        _ => Err(CinderError::BadRequest(format!(
            "Invalid input received: extra spec {REPLICAS_SPEC} must be an integer \
             from 1 to {replica_count_max}, not {value:?}."
        ))),
    }
}

/// Checks extra specs as Cinder's schema does (keys of letters, digits and
/// `-_:.`, at most 255 characters each side), and `replicas`.
pub fn check_specs(
    specs: &BTreeMap<String, String>,
    replica_count_max: usize,
) -> Result<(), CinderError> {
    for (k, v) in specs {
        let key_ok = !k.is_empty()
            && k.len() <= TEXT_MAX
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
        if !key_ok || v.len() > TEXT_MAX {
            return Err(CinderError::BadRequest(format!(
                "Invalid input for field/attribute extra_specs: {k:?} is not a valid \
                 extra spec key or its value is longer than {TEXT_MAX} characters."
            )));
        }
        if k == REPLICAS_SPEC {
            parse_replicas(v, replica_count_max)?;
        }
    }
    Ok(())
}

/// Checks a type name as Cinder does.
pub fn check_name(name: &str) -> Result<(), CinderError> {
    if name.trim().is_empty() || name.len() > TEXT_MAX {
        return Err(CinderError::BadRequest(
            "Invalid input received: a volume type name must be 1 to 255 characters \
             and not blank."
                .into(),
        ));
    }
    Ok(())
}

fn type_key(id: &str) -> RecordKey {
    RecordKey::new(TYPES, id)
}

fn name_key(name: &str) -> RecordKey {
    RecordKey::new(TYPE_NAMES, name)
}

/// A type as read, with its revision (0: the default type, not yet written).
#[derive(Debug, Clone)]
pub struct Stored {
    pub t: VolumeType,
    pub revision: u64,
}

fn not_found(what: &str) -> CinderError {
    CinderError::NotFound(format!("Volume type {what} could not be found."))
}

/// The type with id `id`.
pub async fn by_id(records: &dyn Records, id: &str) -> Result<Stored, CinderError> {
    match records.record(&type_key(id)).await? {
        Some(r) => Ok(Stored {
            t: store::decode(&r.value)?,
            revision: r.revision,
        }),
        None if id == DEFAULT_TYPE_ID => Ok(Stored {
            t: VolumeType::default_type(),
            revision: 0,
        }),
        None => Err(not_found(id)),
    }
}

/// The type named or with the id `name_or_id` (an id first, as Cinder
/// looks a volume's type up), or `default`'s type.
pub async fn find(records: &dyn Records, name_or_id: &str) -> Result<Stored, CinderError> {
    if name_or_id == "default" {
        return by_id(records, DEFAULT_TYPE_ID).await;
    }
    match by_id(records, name_or_id).await {
        Err(CinderError::NotFound(_)) => {}
        other => return other,
    }
    match records.record(&name_key(name_or_id)).await? {
        Some(r) => {
            let id = String::from_utf8_lossy(&r.value).into_owned();
            by_id(records, &id).await
        }
        None if name_or_id == DEFAULT_TYPE => by_id(records, DEFAULT_TYPE_ID).await,
        None => Err(CinderError::NotFound(format!(
            "Volume type with name {name_or_id} could not be found."
        ))),
    }
}

/// Every type, the default one included, by name.
pub async fn all(records: &dyn Records) -> Result<Vec<VolumeType>, CinderError> {
    let mut out: Vec<VolumeType> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let batch = records
            .scan(TYPES, "", after.as_deref(), SCAN_BATCH)
            .await?;
        let done = batch.len() < SCAN_BATCH;
        for (key, r) in batch {
            out.push(store::decode(&r.value)?);
            after = Some(key);
        }
        if done {
            break;
        }
    }
    if !out.iter().any(VolumeType::is_default) {
        out.push(VolumeType::default_type());
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Adds to `txn` the writing of `new` over `old` (as read): checks that
/// `old` is unchanged and, when the name is new, that no other type has it.
pub fn write(txn: Txn, old: Option<&Stored>, new: &VolumeType) -> Result<Txn, CinderError> {
    let revision = old.map_or(0, |o| o.revision);
    let mut txn = txn
        .check(Check::at(type_key(&new.id), revision))
        .put(type_key(&new.id), store::encode(new)?);
    // The default type's name is indexed when it is first written.
    let old_name = old.filter(|o| o.revision > 0).map(|o| o.t.name.as_str());
    if old_name != Some(new.name.as_str()) {
        if let Some(n) = old_name {
            txn = txn.delete(name_key(n));
        }
        txn = txn
            .check(Check::absent(name_key(&new.name)))
            .put(name_key(&new.name), new.id.as_bytes().to_vec());
    }
    Ok(txn)
}

/// What a type's commit came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Done,
    /// Another type has the name.
    NameTaken,
    /// Something the transaction checked changed: read again and retry.
    Raced,
}

/// Commits a transaction built with [`write`] or [`remove`].
pub async fn commit(records: &dyn Records, txn: Txn) -> Result<Written, CinderError> {
    Ok(match records.commit(txn).await? {
        TxnOutcome::Committed(_) => Written::Done,
        TxnOutcome::Conflict { key, .. } if key.table == TYPE_NAMES => Written::NameTaken,
        TxnOutcome::Conflict { .. } => Written::Raced,
    })
}

/// The transaction that deletes `old` (as read) and its name.
pub fn remove(old: &Stored) -> Txn {
    Txn::new()
        .check(Check::at(type_key(&old.t.id), old.revision))
        .delete(type_key(&old.t.id))
        .delete(name_key(&old.t.name))
}

/// Whether volume `v` is of type `id`.
pub fn is_of(v: &VolumeMeta, id: &str) -> bool {
    v.volume_type_id.as_deref().unwrap_or(DEFAULT_TYPE_ID) == id
}

/// Whether any volume, of any project, is of type `id`.
pub async fn in_use(records: &dyn Records, id: &str) -> Result<bool, CinderError> {
    Ok(store::all::<VolumeMeta>(records, None)
        .await?
        .iter()
        .any(|v| is_of(v, id)))
}

#[cfg(test)]
mod tests;
