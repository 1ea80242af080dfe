//! Quotas: each project's limits on volumes, snapshots and GiB (and the
//! backup and group limits clients show, which nothing here consumes), the
//! usage counted from the project's records, and the check of a change
//! against both.
//!
//! A project's limits are Cinder's defaults ([`RESOURCES`]) overlaid with
//! what an admin set (`cinder-quotas/<project>`, JSON). Usage is counted
//! from the project's volume and snapshot records, not kept as a counter,
//! so it cannot drift from them.
//!
//! Concurrency: every change that can raise usage (a volume or snapshot
//! created, a volume extended) or lower a limit commits together with the
//! project's ledger record (`cinder-quota-ledger/<project>`), checking the
//! ledger's revision it read before it counted. Two such changes racing
//! cannot both commit from the same count: the loser reads and counts
//! again ([`Retry`]). A delete only lowers usage and needs no ledger.

use std::collections::BTreeMap;

use cairn_meta_api::records::{Check, RecordKey, Txn};
use serde_json::{json, Map, Value};

use crate::store::{self, block_volume, SnapshotMeta, VolumeMeta};
use crate::views::GIB;
use crate::{Cinder, CinderError};

const QUOTAS: &str = "cinder-quotas";
const LEDGER: &str = "cinder-quota-ledger";
/// Times a quota-checked change is read, counted and committed before it
/// gives up (each lost race is another change that committed).
const ATTEMPTS_MAX: u32 = 32;
/// The largest limit (Cinder's database integer).
const LIMIT_MAX: i64 = 0x7FFF_FFFF;
/// Keys of a quota set that are not resources.
const NON_QUOTA_KEYS: [&str; 2] = ["id", "tenant_id"];

/// The resources and Cinder's default limits; -1 is unlimited.
pub const RESOURCES: [(&str, i64); 7] = [
    ("volumes", 10),
    ("snapshots", 10),
    ("gigabytes", 1000),
    ("backups", 10),
    ("backup_gigabytes", 1000),
    ("per_volume_gigabytes", -1),
    ("groups", 10),
];

/// A project's limits, one per resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits(BTreeMap<&'static str, i64>);

impl Limits {
    pub fn defaults() -> Self {
        Limits(RESOURCES.into_iter().collect())
    }

    /// The defaults with `overrides` (resource → limit) applied.
    pub fn with(overrides: &BTreeMap<String, i64>) -> Self {
        let mut l = Self::defaults();
        for (name, limit) in l.0.iter_mut() {
            if let Some(v) = overrides.get(*name) {
                *limit = *v;
            }
        }
        l
    }

    pub fn get(&self, resource: &str) -> i64 {
        self.0.get(resource).copied().unwrap_or(-1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, i64)> + '_ {
        self.0.iter().map(|(k, v)| (*k, *v))
    }
}

/// What a project uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub volumes: u64,
    pub snapshots: u64,
    /// Volumes' and snapshots' GiB together, as Cinder counts them.
    pub gigabytes: u64,
}

impl Usage {
    /// The usage of `resource` (0 for what nothing here consumes).
    pub fn in_use(&self, resource: &str) -> u64 {
        match resource {
            "volumes" => self.volumes,
            "snapshots" => self.snapshots,
            "gigabytes" => self.gigabytes,
            _ => 0,
        }
    }
}

/// A change that raises usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    Volume { gib: u64 },
    Snapshot { gib: u64 },
    Extend { from_gib: u64, to_gib: u64 },
}

/// Whether `limit` (-1: none) allows `used + more`.
fn allows(limit: i64, used: u64, more: u64) -> bool {
    limit < 0 || used.saturating_add(more) <= limit.unsigned_abs()
}

fn over(message: String) -> CinderError {
    CinderError::OverLimit(message)
}

/// Checks `charge` against `limits` given `usage`, in Cinder's order and
/// with its messages: the per-volume size, then GiB, then the count.
pub fn check(limits: &Limits, usage: &Usage, charge: Charge) -> Result<(), CinderError> {
    let (size_gib, more_gib, count) = match charge {
        Charge::Volume { gib } => (Some(gib), gib, Some(("volumes", usage.volumes))),
        Charge::Snapshot { gib } => (None, gib, Some(("snapshots", usage.snapshots))),
        Charge::Extend { from_gib, to_gib } => {
            (Some(to_gib), to_gib.saturating_sub(from_gib), None)
        }
    };
    let per_volume = limits.get("per_volume_gigabytes");
    if let Some(size) = size_gib.filter(|&s| !allows(per_volume, 0, s)) {
        return Err(over(format!(
            "VolumeSizeExceedsLimit: Requested volume size {size}G is larger than \
             maximum allowed limit {per_volume}G."
        )));
    }
    let gigabytes = limits.get("gigabytes");
    if !allows(gigabytes, usage.gigabytes, more_gib) {
        return Err(over(format!(
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed \
             gigabytes quota. Requested {more_gib}G, quota is {gigabytes}G and {}G has been \
             consumed.",
            usage.gigabytes
        )));
    }
    match count {
        Some((name, used)) if !allows(limits.get(name), used, 1) => {
            let allowed = limits.get(name);
            Err(over(if name == "volumes" {
                format!(
                    "VolumeLimitExceeded: Maximum number of volumes allowed ({allowed}) \
                     exceeded for quota 'volumes'."
                )
            } else {
                format!(
                    "SnapshotLimitExceeded: Maximum number of snapshots allowed ({allowed}) \
                     exceeded"
                )
            }))
        }
        _ => Ok(()),
    }
}

/// The limits of a quota update body's `quota_set`, checked as Cinder
/// checks them: known resources only, integers (or their text) from -1.
pub fn parse_update(body: &Value) -> Result<BTreeMap<String, i64>, CinderError> {
    let set = body
        .get("quota_set")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CinderError::BadRequest("Invalid input: quota_set is required.".into()))?;
    let bad: Vec<&str> = set
        .keys()
        .map(String::as_str)
        .filter(|k| !NON_QUOTA_KEYS.contains(k) && !RESOURCES.iter().any(|(r, _)| r == k))
        .collect();
    if !bad.is_empty() {
        return Err(CinderError::BadRequest(format!(
            "Invalid input received: Bad key(s) in quota set: {}",
            bad.join(", ")
        )));
    }
    let mut out = BTreeMap::new();
    for (k, v) in set
        .iter()
        .filter(|(k, _)| !NON_QUOTA_KEYS.contains(&k.as_str()))
    {
        let n = v
            .as_i64()
            .or_else(|| v.as_str()?.trim().parse().ok())
            .ok_or_else(|| CinderError::BadRequest(format!("{k} must be an integer.")))?;
        if !(-1..=LIMIT_MAX).contains(&n) {
            return Err(CinderError::BadRequest(format!(
                "{k} must be >= -1 and <= {LIMIT_MAX}"
            )));
        }
        out.insert(k.clone(), n);
    }
    Ok(out)
}

/// Refuses new limits below what the project already uses.
pub fn check_update(new: &BTreeMap<String, i64>, usage: &Usage) -> Result<(), CinderError> {
    for (k, &limit) in new {
        let used = usage.in_use(k);
        if k != "per_volume_gigabytes" && limit != -1 && !allows(limit, 0, used) {
            return Err(CinderError::BadRequest(format!(
                "Quota {k} limit must be equal or greater than existing resources. Current \
                 usage is {used} and the requested limit is {limit}."
            )));
        }
    }
    Ok(())
}

/// A quota set's JSON: limits, or with `usage` each as
/// `{limit, in_use, reserved}`.
pub fn view(limits: &Limits, usage: Option<&Usage>) -> Map<String, Value> {
    limits
        .iter()
        .map(|(k, limit)| {
            let v = match usage {
                None => json!(limit),
                Some(u) => json!({"limit": limit, "in_use": u.in_use(k), "reserved": 0}),
            };
            (k.to_owned(), v)
        })
        .collect()
}

fn quota_key(project: &str) -> RecordKey {
    RecordKey::new(QUOTAS, project)
}

fn ledger_key(project: &str) -> RecordKey {
    RecordKey::new(LEDGER, project)
}

/// What an admin set for `project` (resource → limit).
pub async fn overrides(c: &Cinder, project: &str) -> Result<BTreeMap<String, i64>, CinderError> {
    match c.records.record(&quota_key(project)).await? {
        Some(r) => store::decode(&r.value),
        None => Ok(BTreeMap::new()),
    }
}

/// Forgets what an admin set for `project`: the defaults apply again.
pub async fn reset(c: &Cinder, project: &str) -> Result<(), CinderError> {
    c.records
        .commit(Txn::new().delete(quota_key(project)))
        .await?;
    Ok(())
}

/// GiB of `bytes`, rounded up.
fn gib_of(bytes: u64) -> u64 {
    bytes.div_ceil(GIB)
}

/// What `project` uses, counted from its records (a record from before
/// quotas is counted at its block volume's or snapshot's size).
pub async fn usage(c: &Cinder, project: &str) -> Result<Usage, CinderError> {
    let mut u = Usage::default();
    for v in store::all::<VolumeMeta>(c.records.as_ref(), Some(project)).await? {
        u.volumes += 1;
        u.gigabytes += match v.size_gib {
            Some(g) => g,
            None => c
                .gateway
                .show(&v.block_name())
                .await
                .map_or(0, |r| gib_of(r.size)),
        };
    }
    for s in store::all::<SnapshotMeta>(c.records.as_ref(), Some(project)).await? {
        u.snapshots += 1;
        u.gigabytes += match s.size_gib {
            Some(g) => g,
            None => c
                .gateway
                .show(&block_volume(&s.volume_id))
                .await
                .ok()
                .and_then(|r| r.snapshot(&s.block_name()).map(|x| gib_of(x.size)))
                .unwrap_or(0),
        };
    }
    Ok(u)
}

/// A project's limits and usage as of its ledger's revision.
pub struct Ledger {
    project: String,
    revision: u64,
    pub overrides: BTreeMap<String, i64>,
    pub limits: Limits,
    pub usage: Usage,
}

impl Ledger {
    /// Reads the ledger's revision, then the limits and the usage.
    pub async fn read(c: &Cinder, project: &str) -> Result<Ledger, CinderError> {
        let revision = c
            .records
            .record(&ledger_key(project))
            .await?
            .map_or(0, |r| r.revision);
        let overrides = overrides(c, project).await?;
        Ok(Ledger {
            project: project.to_owned(),
            revision,
            limits: Limits::with(&overrides),
            overrides,
            usage: usage(c, project).await?,
        })
    }

    /// Checks `charge` against this count.
    pub fn check(&self, charge: Charge) -> Result<(), CinderError> {
        check(&self.limits, &self.usage, charge)
    }

    /// `txn`, made to commit only if nothing else charged the project
    /// since this was read (and to make a later reader's commit fail).
    pub fn seal(&self, txn: Txn) -> Txn {
        let key = ledger_key(&self.project);
        txn.check(Check::at(key.clone(), self.revision))
            .put(key, Vec::new())
    }

    /// The transaction that stores new overrides, sealed.
    pub fn set(&self, overrides: &BTreeMap<String, i64>) -> Result<Txn, CinderError> {
        let txn = Txn::new().put(quota_key(&self.project), store::encode(overrides)?);
        Ok(self.seal(txn))
    }
}

/// Counts the attempts of a read-check-commit loop.
#[derive(Debug, Default)]
pub struct Retry(u32);

impl Retry {
    /// After a lost race: `Ok` to try again, or the error once
    /// [`ATTEMPTS_MAX`] attempts have failed.
    pub fn again(&mut self) -> Result<(), CinderError> {
        self.0 += 1;
        if self.0 >= ATTEMPTS_MAX {
            return Err(CinderError::Unavailable(
                "Too many concurrent changes to this project's volumes; try again.".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
