//! Swift's listing algorithm over a sorted key range: prefix, delimiter
//! (common prefixes become one `Subdir` row and are skipped with one seek),
//! marker and end_marker (exclusive), limit, reverse.
//!
//! With `reverse`, the listing runs backwards: `marker` is the upper bound
//! and `end_marker` the lower one. A subdir equal to `marker` is not
//! repeated (Swift's paging contract).

use cairn_meta_api::ListQuery;

use crate::error::StoreError;
use crate::keys;

/// A positioned iterator over sorted keys (rocksdb's raw iterator).
pub trait SortedCursor {
    /// Moves to the first key `>= key`.
    fn seek(&mut self, key: &[u8]);
    /// Moves to the last key `<= key`.
    fn seek_for_prev(&mut self, key: &[u8]);
    fn next(&mut self);
    fn prev(&mut self);
    /// The current key and value, or `None` past either end.
    fn current(&self) -> Option<(&[u8], &[u8])>;
    /// The iterator's error, if it stopped on one.
    fn status(&self) -> Result<(), StoreError>;
}

impl SortedCursor for rocksdb::DBRawIterator<'_> {
    fn seek(&mut self, key: &[u8]) {
        rocksdb::DBRawIterator::seek(self, key)
    }
    fn seek_for_prev(&mut self, key: &[u8]) {
        rocksdb::DBRawIterator::seek_for_prev(self, key)
    }
    fn next(&mut self) {
        rocksdb::DBRawIterator::next(self)
    }
    fn prev(&mut self) {
        rocksdb::DBRawIterator::prev(self)
    }
    fn current(&self) -> Option<(&[u8], &[u8])> {
        self.item()
    }
    fn status(&self) -> Result<(), StoreError> {
        Ok(rocksdb::DBRawIterator::status(self)?)
    }
}

/// One listing row before it is turned into the caller's type.
pub enum Row<T> {
    Item(T),
    Subdir(String),
}

/// Lists the names under `base` (each key is `base + name`) per `q`;
/// `item` decodes one entry's value.
pub fn list<C, T, F>(
    cur: &mut C,
    base: &[u8],
    q: &ListQuery,
    item: F,
) -> Result<Vec<Row<T>>, StoreError>
where
    C: SortedCursor,
    F: FnMut(String, &[u8]) -> Result<T, StoreError>,
{
    let mut walk = Walk {
        base,
        q,
        prefix: q.prefix.as_deref().unwrap_or("").as_bytes(),
        rows: Vec::new(),
        item,
    };
    if q.limit == 0 {
        return Ok(Vec::new());
    }
    if q.reverse {
        walk.backward(cur)?;
    } else {
        walk.forward(cur)?;
    }
    cur.status()?;
    Ok(walk.rows)
}

struct Walk<'q, T, F> {
    base: &'q [u8],
    q: &'q ListQuery,
    prefix: &'q [u8],
    rows: Vec<Row<T>>,
    item: F,
}

impl<T, F> Walk<'_, T, F>
where
    F: FnMut(String, &[u8]) -> Result<T, StoreError>,
{
    fn key(&self, name: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.base.len() + name.len());
        k.extend_from_slice(self.base);
        k.extend_from_slice(name);
        k
    }

    fn marker(&self) -> Option<&[u8]> {
        self.q.marker.as_deref().map(str::as_bytes)
    }

    fn end_marker(&self) -> Option<&[u8]> {
        self.q.end_marker.as_deref().map(str::as_bytes)
    }

    /// The common prefix (ending in the delimiter) `name` rolls up into.
    fn subdir<'n>(&self, name: &'n [u8]) -> Option<&'n [u8]> {
        let d = self.q.delimiter.as_deref()?.as_bytes();
        if d.is_empty() {
            return None;
        }
        let rest = &name[self.prefix.len()..];
        let at = rest.windows(d.len()).position(|w| w == d)?;
        Some(&name[..self.prefix.len() + at + d.len()])
    }

    /// Emits the row for `name`; returns the subdir it rolled up into, if any.
    fn emit(&mut self, name: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(dir) = self.subdir(name) {
            let dir = dir.to_vec();
            if Some(dir.as_slice()) != self.marker() {
                self.rows.push(Row::Subdir(utf8(&dir)?));
            }
            return Ok(Some(dir));
        }
        let row = (self.item)(utf8(name)?, value)?;
        self.rows.push(Row::Item(row));
        Ok(None)
    }

    fn forward<C: SortedCursor>(&mut self, cur: &mut C) -> Result<(), StoreError> {
        let start = match self.marker() {
            Some(m) if m >= self.prefix => m,
            _ => self.prefix,
        };
        cur.seek(&self.key(start));
        if self.marker().is_some_and(|m| m == start) && self.name_of(cur) == Some(start) {
            cur.next();
        }
        while self.rows.len() < self.q.limit {
            let Some((k, v)) = cur.current() else { break };
            let Some(name) = k.strip_prefix(self.base) else {
                break;
            };
            if self.end_marker().is_some_and(|e| name >= e) || !name.starts_with(self.prefix) {
                break;
            }
            let (name, v) = (name.to_vec(), v.to_vec());
            match self.emit(&name, &v)? {
                // Skip the whole common prefix with one seek.
                Some(dir) => cur.seek(
                    &self.key(&keys::prefix_end(&dir).unwrap_or_else(|| keys::KEY_END.to_vec())),
                ),
                None => cur.next(),
            }
        }
        Ok(())
    }

    fn backward<C: SortedCursor>(&mut self, cur: &mut C) -> Result<(), StoreError> {
        // Exclusive upper bound: the marker, or the end of the prefix range.
        let prefix_end = keys::prefix_end(&self.key(self.prefix));
        let upper = match (self.marker(), prefix_end) {
            (Some(m), Some(pe)) => std::cmp::min(self.key(m), pe),
            (Some(m), None) => self.key(m),
            (None, Some(pe)) => pe,
            (None, None) => keys::KEY_END.to_vec(),
        };
        self.seek_before(cur, &upper);
        while self.rows.len() < self.q.limit {
            let Some((k, v)) = cur.current() else { break };
            let Some(name) = k.strip_prefix(self.base) else {
                break;
            };
            if self.end_marker().is_some_and(|e| name <= e) || !name.starts_with(self.prefix) {
                break;
            }
            let (name, v) = (name.to_vec(), v.to_vec());
            match self.emit(&name, &v)? {
                Some(dir) => self.seek_before(cur, &self.key(&dir)),
                None => cur.prev(),
            }
        }
        Ok(())
    }

    /// Positions on the last key strictly below `key`.
    fn seek_before<C: SortedCursor>(&self, cur: &mut C, key: &[u8]) {
        cur.seek_for_prev(key);
        if cur.current().is_some_and(|(k, _)| k == key) {
            cur.prev();
        }
    }

    fn name_of<'c, C: SortedCursor>(&self, cur: &'c C) -> Option<&'c [u8]> {
        cur.current().and_then(|(k, _)| k.strip_prefix(self.base))
    }
}

fn utf8(bytes: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| StoreError::corrupt("name", e))
}
