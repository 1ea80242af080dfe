//! The control plane's own records: small named tables of opaque values
//! in the metadata group (the identity service's users and projects, the
//! cluster's ring), changed by transactions with preconditions.
//!
//! A record carries a revision: 1 when first written, one more on each
//! later write. A transaction's checks name the revision each key must
//! have (0: absent); it applies all its operations or, if any check fails,
//! none. That is enough for uniqueness (a name index written with
//! `Check::absent`) and for read-modify-write without lost updates.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::MetaError;

/// A table name and a key within it. Neither may contain NUL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordKey {
    pub table: String,
    pub key: String,
}

impl RecordKey {
    pub fn new(table: impl Into<String>, key: impl Into<String>) -> Self {
        RecordKey {
            table: table.into(),
            key: key.into(),
        }
    }

    /// Tables and keys are separated by NUL in the store.
    pub fn is_valid(&self) -> bool {
        !self.table.is_empty() && !self.table.contains('\0') && !self.key.contains('\0')
    }
}

/// A stored value and its revision (never 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub revision: u64,
    pub value: Vec<u8>,
}

/// A precondition of a transaction: `key` is at `revision` (0: absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub key: RecordKey,
    pub revision: u64,
}

impl Check {
    pub fn absent(key: RecordKey) -> Self {
        Check { key, revision: 0 }
    }

    pub fn at(key: RecordKey, revision: u64) -> Self {
        Check { key, revision }
    }
}

/// One change of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Put(RecordKey, Vec<u8>),
    /// Deleting an absent key is not an error.
    Delete(RecordKey),
}

/// Checks, then changes, applied atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub checks: Vec<Check>,
    pub ops: Vec<Op>,
}

impl Txn {
    pub fn new() -> Self {
        Txn::default()
    }

    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    pub fn put(mut self, key: RecordKey, value: Vec<u8>) -> Self {
        self.ops.push(Op::Put(key, value));
        self
    }

    pub fn delete(mut self, key: RecordKey) -> Self {
        self.ops.push(Op::Delete(key));
        self
    }

    /// Every key the transaction checks or changes.
    pub fn keys(&self) -> impl Iterator<Item = &RecordKey> {
        self.checks
            .iter()
            .map(|c| &c.key)
            .chain(self.ops.iter().map(|o| match o {
                Op::Put(k, _) | Op::Delete(k) => k,
            }))
    }

    /// Refuses keys the store cannot hold.
    pub fn validate(&self) -> Result<(), MetaError> {
        match self.keys().find(|k| !k.is_valid()) {
            Some(k) => Err(MetaError::InvalidRecordKey(format!("{k:?}"))),
            None => Ok(()),
        }
    }
}

/// What a transaction did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOutcome {
    /// Every check held; every operation applied. The revisions of the
    /// keys put, in the order of the operations.
    Committed(Vec<u64>),
    /// This check failed (the key is at `found`); nothing changed.
    Conflict { key: RecordKey, found: u64 },
}

/// The record tables.
#[async_trait]
pub trait Records: Send + Sync + 'static {
    /// The record, if present (linearizable).
    async fn record(&self, key: &RecordKey) -> Result<Option<Record>, MetaError>;

    /// Up to `limit` records of `table` whose keys start with `prefix`, in
    /// key order, starting after `after` (linearizable).
    async fn scan(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Record)>, MetaError>;

    /// Applies `txn` if every check holds (one Raft commit).
    async fn commit(&self, txn: Txn) -> Result<TxnOutcome, MetaError>;
}

/// Applies `txn` to a table held as a map: the one definition of the
/// semantics, shared by the Raft state machine and [`MemoryRecords`].
pub fn apply_txn(
    get: impl Fn(&RecordKey) -> Option<u64>,
    txn: &Txn,
) -> (TxnOutcome, Vec<(RecordKey, Option<Record>)>) {
    for c in &txn.checks {
        let found = get(&c.key).unwrap_or(0);
        if found != c.revision {
            let outcome = TxnOutcome::Conflict {
                key: c.key.clone(),
                found,
            };
            return (outcome, Vec::new());
        }
    }
    // Later operations on a key see the revisions of earlier ones.
    let mut pending: BTreeMap<&RecordKey, Option<u64>> = BTreeMap::new();
    let mut writes = Vec::new();
    let mut revisions = Vec::new();
    for op in &txn.ops {
        match op {
            Op::Put(k, v) => {
                let before = pending.get(k).copied().unwrap_or_else(|| get(k));
                let revision = before.unwrap_or(0) + 1;
                pending.insert(k, Some(revision));
                revisions.push(revision);
                let record = Record {
                    revision,
                    value: v.clone(),
                };
                writes.push((k.clone(), Some(record)));
            }
            Op::Delete(k) => {
                pending.insert(k, None);
                writes.push((k.clone(), None));
            }
        }
    }
    (TxnOutcome::Committed(revisions), writes)
}

/// Records in memory, for tests of the services built on them.
#[derive(Debug, Default)]
pub struct MemoryRecords {
    tables: Mutex<BTreeMap<RecordKey, Record>>,
}

impl MemoryRecords {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Records for MemoryRecords {
    async fn record(&self, key: &RecordKey) -> Result<Option<Record>, MetaError> {
        let tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        Ok(tables.get(key).cloned())
    }

    async fn scan(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Record)>, MetaError> {
        let tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let start = RecordKey::new(table, prefix);
        Ok(tables
            .range(start..)
            .take_while(|(k, _)| k.table == table && k.key.starts_with(prefix))
            .filter(|(k, _)| after.is_none_or(|a| k.key.as_str() > a))
            .take(limit)
            .map(|(k, r)| (k.key.clone(), r.clone()))
            .collect())
    }

    async fn commit(&self, txn: Txn) -> Result<TxnOutcome, MetaError> {
        txn.validate()?;
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let (outcome, writes) = apply_txn(|k| tables.get(k).map(|r| r.revision), &txn);
        for (k, r) in writes {
            match r {
                Some(r) => tables.insert(k, r),
                None => tables.remove(&k),
            };
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> RecordKey {
        RecordKey::new("users", k)
    }

    #[tokio::test]
    async fn checks_guard_every_operation() {
        let r = MemoryRecords::new();
        let create = Txn::new()
            .check(Check::absent(key("alice")))
            .put(key("alice"), b"1".to_vec());
        assert_eq!(
            r.commit(create.clone()).await.unwrap(),
            TxnOutcome::Committed(vec![1])
        );
        // The same name again conflicts and changes nothing.
        let again = create.put(key("bob"), b"2".to_vec());
        assert_eq!(
            r.commit(again).await.unwrap(),
            TxnOutcome::Conflict {
                key: key("alice"),
                found: 1
            }
        );
        assert_eq!(r.record(&key("bob")).await.unwrap(), None);
        // Read-modify-write at the revision read.
        let update = Txn::new()
            .check(Check::at(key("alice"), 1))
            .put(key("alice"), b"3".to_vec())
            .put(key("alice"), b"4".to_vec());
        assert_eq!(
            r.commit(update).await.unwrap(),
            TxnOutcome::Committed(vec![2, 3])
        );
        let got = r.record(&key("alice")).await.unwrap().unwrap();
        assert_eq!((got.revision, got.value), (3, b"4".to_vec()));
        r.commit(Txn::new().delete(key("alice"))).await.unwrap();
        assert_eq!(r.record(&key("alice")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn scans_stay_in_their_table_and_prefix() {
        let r = MemoryRecords::new();
        let mut t = Txn::new();
        for k in ["a/1", "a/2", "a/3", "b/1"] {
            t = t.put(key(k), k.as_bytes().to_vec());
        }
        t = t.put(RecordKey::new("usersx", "a/9"), vec![]);
        r.commit(t).await.unwrap();
        let keys = |v: Vec<(String, Record)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(r.scan("users", "a/", None, 10).await.unwrap()),
            ["a/1", "a/2", "a/3"]
        );
        assert_eq!(
            keys(r.scan("users", "a/", Some("a/1"), 1).await.unwrap()),
            ["a/2"]
        );
        assert_eq!(keys(r.scan("users", "", None, 10).await.unwrap()).len(), 4);
        let bad = Txn::new().put(RecordKey::new("t", "a\0b"), vec![]);
        assert!(matches!(
            r.commit(bad).await,
            Err(MetaError::InvalidRecordKey(_))
        ));
    }
}
