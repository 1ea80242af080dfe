//! The identity store: the records of [`model`] in the metadata group's
//! record tables, one table per kind plus name indexes. Unique names are
//! enforced by writing the name's index record with `Check::absent` in the
//! same transaction as the record; updates check the revision they read.
//!
//! Tables (keys in brackets):
//! `identity/domains` [id], `identity/domain-names` [lowercased name];
//! `identity/projects` [id], `identity/project-names` [domain id/name];
//! `identity/users` [id], `identity/user-names` [domain id/name];
//! `identity/groups` [id], `identity/group-names` [domain id/name];
//! `identity/roles` [id], `identity/role-names` [name];
//! `identity/group-members` [group id/user id], `identity/user-groups`
//! [user id/group id]; `identity/assignments` [`u|g`/actor id/`p|d`/target
//! id/role id]; `identity/app-creds` [id], `identity/app-cred-names`
//! [user id/name]; `identity/ec2` [access], `identity/ec2-by-user`
//! [user id/access]; `identity/revocations` [audit id]; the created
//! catalog: `identity/implied-roles` [prior id/implied id];
//! `identity/regions`, `identity/services`, `identity/endpoints`
//! [id], each with an id index (`…-ids` [id]: they have no unique name).

mod assignments;
mod credentials;
mod entities;
mod groups;
pub mod model;

pub use assignments::{with_implied, with_implied_by};
pub use entities::{scoped, Entity};

use cairn_meta_api::records::{RecordKey, Records, Txn, TxnOutcome};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

use crate::error::IdentityError;

pub(crate) const DOMAINS: &str = "identity/domains";
pub(crate) const DOMAIN_NAMES: &str = "identity/domain-names";
pub(crate) const PROJECTS: &str = "identity/projects";
pub(crate) const PROJECT_NAMES: &str = "identity/project-names";
pub(crate) const USERS: &str = "identity/users";
pub(crate) const USER_NAMES: &str = "identity/user-names";
pub(crate) const GROUPS: &str = "identity/groups";
pub(crate) const GROUP_NAMES: &str = "identity/group-names";
pub(crate) const ROLES: &str = "identity/roles";
pub(crate) const ROLE_NAMES: &str = "identity/role-names";
pub(crate) const GROUP_MEMBERS: &str = "identity/group-members";
pub(crate) const USER_GROUPS: &str = "identity/user-groups";
pub(crate) const ASSIGNMENTS: &str = "identity/assignments";
pub(crate) const APP_CREDS: &str = "identity/app-creds";
pub(crate) const APP_CRED_NAMES: &str = "identity/app-cred-names";
pub(crate) const EC2: &str = "identity/ec2";
pub(crate) const EC2_BY_USER: &str = "identity/ec2-by-user";
pub(crate) const REVOCATIONS: &str = "identity/revocations";
pub(crate) const IMPLIED_ROLES: &str = "identity/implied-roles";
pub(crate) const REGIONS: &str = "identity/regions";
pub(crate) const REGION_IDS: &str = "identity/region-ids";
pub(crate) const SERVICES: &str = "identity/services";
pub(crate) const SERVICE_IDS: &str = "identity/service-ids";
pub(crate) const ENDPOINTS: &str = "identity/endpoints";
pub(crate) const ENDPOINT_IDS: &str = "identity/endpoint-ids";

/// Records read per scan request.
const SCAN_PAGE_MAX: usize = 1000;
/// Records one listing may return: the identity tables are small; past
/// this a listing is refused rather than made unbounded.
pub const SCAN_RECORDS_MAX: usize = 100_000;
/// Longest name accepted (Keystone's column width).
pub const NAME_CHARS_MAX: usize = 255;
/// The longest domain, project or group name.
pub const SCOPE_NAME_CHARS_MAX: usize = 64;

/// The identity records over a [`Records`] store.
#[derive(Clone)]
pub struct Store {
    records: Arc<dyn Records>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store(..)")
    }
}

/// A decoded record and the revision it was read at.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub revision: u64,
}

pub(crate) fn rkey(table: &str, key: &str) -> RecordKey {
    RecordKey::new(table, key)
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("identity records always serialize")
}

/// Refuses names the tables cannot hold or Keystone would not take.
pub fn check_name(kind: &str, name: &str) -> Result<(), IdentityError> {
    // Keystone's schemas: domain, project and group names are at most 64
    // characters, the others 255.
    let max = match kind {
        "domain" | "project" | "group" => SCOPE_NAME_CHARS_MAX,
        _ => NAME_CHARS_MAX,
    };
    if name.trim().is_empty() || name.chars().count() > max || name.contains('\0') {
        return Err(IdentityError::bad_request(format!(
            "Invalid {kind} name: it must be 1 to {max} characters, not blank."
        )));
    }
    Ok(())
}

impl Store {
    pub fn new(records: Arc<dyn Records>) -> Self {
        Store { records }
    }

    /// The record at `table`/`key`, decoded.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Option<Versioned<T>>, IdentityError> {
        if key.contains('\0') {
            return Ok(None);
        }
        let Some(r) = self.records.record(&rkey(table, key)).await? else {
            return Ok(None);
        };
        let value = decode(table, key, &r.value)?;
        Ok(Some(Versioned {
            value,
            revision: r.revision,
        }))
    }

    /// Every record of `table` under `prefix`, in key order, with its key.
    pub(crate) async fn scan<T: DeserializeOwned>(
        &self,
        table: &str,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, IdentityError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .records
                .scan(table, prefix, after.as_deref(), SCAN_PAGE_MAX)
                .await?;
            let full = page.len() == SCAN_PAGE_MAX;
            for (k, r) in page {
                out.push((k.clone(), decode(table, &k, &r.value)?));
                after = Some(k);
            }
            if out.len() > SCAN_RECORDS_MAX {
                return Err(IdentityError::Internal(format!(
                    "{table} holds more than {SCAN_RECORDS_MAX} records"
                )));
            }
            if !full {
                return Ok(out);
            }
        }
    }

    /// Applies `txn`; `Some(key)` names the check that failed (nothing
    /// changed then).
    pub(crate) async fn commit(&self, txn: Txn) -> Result<Option<RecordKey>, IdentityError> {
        match self.records.commit(txn).await? {
            TxnOutcome::Committed(_) => Ok(None),
            TxnOutcome::Conflict { key, .. } => Ok(Some(key)),
        }
    }
}

fn decode<T: DeserializeOwned>(table: &str, key: &str, bytes: &[u8]) -> Result<T, IdentityError> {
    serde_json::from_slice(bytes).map_err(|e| IdentityError::Corrupt {
        key: format!("{table}/{key}"),
        detail: e.to_string(),
    })
}

/// The error for a failed check on `key` when storing a `kind`.
pub(crate) fn conflict(kind: &'static str, key: &RecordKey) -> IdentityError {
    let detail = if key.table.ends_with("-names") {
        format!("Duplicate entry found with name {}.", last_segment(key))
    } else if key.table == GROUP_MEMBERS || key.table == ASSIGNMENTS {
        "Duplicate entry.".to_string()
    } else {
        "The record changed during the update; retry.".to_string()
    };
    IdentityError::Conflict { kind, detail }
}

/// The name in a name index key: after the scope, where there is one.
fn last_segment(key: &RecordKey) -> &str {
    if key.table == DOMAIN_NAMES || key.table == ROLE_NAMES {
        return &key.key;
    }
    key.key.split_once('/').map_or(&key.key, |(_, rest)| rest)
}

#[cfg(test)]
pub(crate) mod tests;
