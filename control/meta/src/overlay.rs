//! Pending state-machine writes of one apply batch, layered over the
//! database: later commands of the batch read what earlier ones wrote, and
//! the whole batch becomes one atomic `WriteBatch`.

use std::collections::BTreeMap;

use rocksdb::{WriteBatch, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::db;
use crate::error::StoreError;
use crate::keys::Cf;

/// Writes not yet in the database, readable as if they were.
pub struct Overlay<'a> {
    db: &'a DB,
    /// `None` is a deletion.
    writes: BTreeMap<(Cf, Vec<u8>), Option<Vec<u8>>>,
    /// Range deletions `[start, end)`, applied before `writes`.
    ranges: Vec<(Cf, Vec<u8>, Vec<u8>)>,
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `db`.
    pub fn new(db: &'a DB) -> Self {
        Overlay {
            db,
            writes: BTreeMap::new(),
            ranges: Vec::new(),
        }
    }

    /// The current bytes of `key`: pending write, else pending range
    /// deletion, else the database.
    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.writes.get(&(cf, key.to_vec())) {
            return Ok(v.clone());
        }
        let deleted = self
            .ranges
            .iter()
            .any(|(c, s, e)| *c == cf && s.as_slice() <= key && key < e.as_slice());
        if deleted {
            return Ok(None);
        }
        Ok(self.db.get_cf(db::cf(self.db, cf)?, key)?)
    }

    /// Reads and decodes a JSON value.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        cf: Cf,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match self.get(cf, key)? {
            Some(bytes) => db::decode(what, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, cf: Cf, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert((cf, key), Some(value));
    }

    /// Encodes and sets a JSON value.
    pub fn put_json<T: Serialize>(
        &mut self,
        cf: Cf,
        key: Vec<u8>,
        what: &'static str,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = db::encode(what, value)?;
        self.put(cf, key, bytes);
        Ok(())
    }

    /// Deletes `key`.
    pub fn delete(&mut self, cf: Cf, key: Vec<u8>) {
        self.writes.insert((cf, key), None);
    }

    /// Deletes every key in `[start, end)`, including pending writes there.
    pub fn delete_range(&mut self, cf: Cf, start: Vec<u8>, end: Vec<u8>) {
        self.writes.retain(|(c, k), _| {
            !(*c == cf && start.as_slice() <= k.as_slice() && k.as_slice() < end.as_slice())
        });
        self.ranges.push((cf, start, end));
    }

    /// The batch that makes every pending change, ranges first.
    pub fn into_batch(self) -> Result<WriteBatch, StoreError> {
        let mut batch = WriteBatch::default();
        for (cf, start, end) in &self.ranges {
            batch.delete_range_cf(db::cf(self.db, *cf)?, start, end);
        }
        for ((cf, key), value) in &self.writes {
            let handle = db::cf(self.db, *cf)?;
            match value {
                Some(v) => batch.put_cf(handle, key, v),
                None => batch.delete_cf(handle, key),
            }
        }
        Ok(batch)
    }
}
