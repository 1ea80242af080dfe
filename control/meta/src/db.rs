//! The one rocksdb instance behind the log and the state machine: opening it
//! with its column families, and typed (JSON) get/put helpers.
//!
//! Log and state machine share a database on purpose: they share one WAL, so
//! a synced log write also makes every earlier state-machine write durable.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteOptions, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;
use crate::keys::Cf;

/// The shared database handle.
pub type Db = Arc<DB>;

/// Opens (creating if missing) the metadata database in `dir`.
pub fn open(dir: &Path) -> Result<Db, StoreError> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    // The metadata fits in memory for a long time; keep the footprint small.
    opts.set_max_background_jobs(2);
    let cfs = Cf::ALL
        .iter()
        .map(|cf| ColumnFamilyDescriptor::new(cf.name(), Options::default()));
    let db = DB::open_cf_descriptors(&opts, dir, cfs)?;
    Ok(Arc::new(db))
}

/// The handle of a column family (all are created at open).
pub fn cf(db: &DB, cf: Cf) -> Result<&ColumnFamily, StoreError> {
    db.cf_handle(cf.name())
        .ok_or_else(|| StoreError::corrupt("column family", format!("{} missing", cf.name())))
}

/// Write options that fsync the WAL before returning.
pub fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

/// Decodes a JSON value read from disk.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(what, e))
}

/// Encodes a value as JSON.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Encode {
        what,
        detail: e.to_string(),
    })
}

/// Reads and decodes one value.
pub fn get_json<T: DeserializeOwned>(
    db: &DB,
    family: Cf,
    key: &[u8],
    what: &'static str,
) -> Result<Option<T>, StoreError> {
    match db.get_pinned_cf(cf(db, family)?, key)? {
        Some(bytes) => decode(what, &bytes).map(Some),
        None => Ok(None),
    }
}
