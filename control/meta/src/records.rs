//! The control plane's record tables (`cairn_meta_api::records`) in the
//! `Records` family: the state machine's half (a transaction applied to
//! the overlay) and `Records` for `MetaNode` (each transaction one Raft
//! command, each read linearizable).
//!
//! Key: `table 0 key`. Value: the revision (8 bytes, big-endian), then the
//! record's bytes.

use std::collections::HashMap;

use async_trait::async_trait;
use cairn_meta_api::records::{apply_txn, Record, RecordKey, Records, Txn, TxnOutcome};
use cairn_meta_api::MetaError;
use rocksdb::DB;

use crate::db;
use crate::error::StoreError;
use crate::keys::{self, Cf};
use crate::node::MetaNode;
use crate::overlay::Overlay;
use crate::types::{Reply, Request};

fn key_bytes(k: &RecordKey) -> Vec<u8> {
    let mut out = table_prefix(&k.table);
    out.extend_from_slice(k.key.as_bytes());
    out
}

fn table_prefix(table: &str) -> Vec<u8> {
    let mut out = table.as_bytes().to_vec();
    out.push(keys::SEP);
    out
}

fn encode(r: &Record) -> Vec<u8> {
    let mut out = r.revision.to_be_bytes().to_vec();
    out.extend_from_slice(&r.value);
    out
}

fn decode(raw: &[u8]) -> Result<Record, MetaError> {
    let (revision, value) = raw.split_first_chunk::<8>().ok_or_else(|| {
        MetaError::Storage("a record is damaged (shorter than its revision)".into())
    })?;
    Ok(Record {
        revision: u64::from_be_bytes(*revision),
        value: value.to_vec(),
    })
}

/// Applies a transaction (`Request::Records`). An invalid key was refused
/// before it reached the log; one found here conflicts, changing nothing.
pub fn apply(ov: &mut Overlay<'_>, txn: &Txn) -> Result<Reply, StoreError> {
    let mut revisions = HashMap::new();
    for k in txn.keys() {
        let current = match ov.get(Cf::Records, &key_bytes(k))? {
            Some(raw) => Some(
                decode(&raw)
                    .map_err(|e| StoreError::corrupt("record", e))?
                    .revision,
            ),
            None => None,
        };
        revisions.insert(k.clone(), current);
    }
    let (outcome, writes) = apply_txn(|k| revisions.get(k).copied().flatten(), txn);
    for (k, r) in writes {
        match r {
            Some(r) => ov.put(Cf::Records, key_bytes(&k), encode(&r)),
            None => ov.delete(Cf::Records, key_bytes(&k)),
        }
    }
    Ok(Reply::Txn(outcome))
}

fn read_one(db: &DB, k: &RecordKey) -> Result<Option<Record>, MetaError> {
    let raw = db
        .get_cf(db::cf(db, Cf::Records)?, key_bytes(k))
        .map_err(|e| MetaError::Storage(format!("reading record {k:?}: {e}")))?;
    raw.map(|r| decode(&r)).transpose()
}

fn scan(
    db: &DB,
    table: &str,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, Record)>, MetaError> {
    let table_start = table_prefix(table);
    let mut start = table_start.clone();
    start.extend_from_slice(prefix.as_bytes());
    let mut it = db.raw_iterator_cf(db::cf(db, Cf::Records)?);
    it.seek(&start);
    let mut out = Vec::new();
    while let (true, Some(k), Some(v)) = (it.valid(), it.key(), it.value()) {
        if out.len() >= limit || !k.starts_with(&start) {
            break;
        }
        let key = std::str::from_utf8(&k[table_start.len()..])
            .map_err(|_| MetaError::Storage("a record key is not UTF-8".into()))?;
        if after.is_none_or(|a| key > a) {
            out.push((key.to_owned(), decode(v)?));
        }
        it.next();
    }
    it.status()
        .map_err(|e| MetaError::Storage(format!("scanning records of {table}: {e}")))?;
    Ok(out)
}

#[async_trait]
impl Records for MetaNode {
    async fn record(&self, key: &RecordKey) -> Result<Option<Record>, MetaError> {
        self.read(|db| read_one(db, key)).await
    }

    async fn scan(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Record)>, MetaError> {
        self.read(|db| scan(db, table, prefix, after, limit)).await
    }

    async fn commit(&self, txn: Txn) -> Result<TxnOutcome, MetaError> {
        txn.validate()?;
        match self.write(Request::Records(txn)).await? {
            Reply::Txn(outcome) => Ok(outcome),
            other => Err(MetaError::Storage(format!(
                "state machine gave an unexpected reply: {other:?}"
            ))),
        }
    }
}
