//! Snapshots: a full dump of the state machine's data families in one
//! self-describing, checksummed byte string, and the file that keeps the
//! current one.
//!
//! Format (all integers big-endian):
//! `MAGIC | meta_len u32 | meta JSON | { tag u8 | klen u32 | key | vlen u32 | value }* | END_TAG | crc32c u32`
//! where the crc covers everything before it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use openraft::SnapshotMeta;
use rocksdb::{IteratorMode, DB};

use crate::db;
use crate::error::StoreError;
use crate::keys::{self, Cf};
use crate::types::{LogId, Node, NodeId};

/// First bytes of every snapshot.
pub const MAGIC: &[u8; 8] = b"CAIRNSN1";
/// Tag after the last record.
pub const END_TAG: u8 = 0xFF;

/// The metadata of a snapshot of our group.
pub type Meta = SnapshotMeta<NodeId, Node>;

/// Dumps the state machine as of one rocksdb snapshot.
pub fn build(db: &DB) -> Result<(Meta, Vec<u8>), StoreError> {
    let snap = db.snapshot();
    let sm = db::cf(db, Cf::SmMeta)?;
    let applied: Option<LogId> = match snap.get_cf(sm, keys::META_APPLIED)? {
        Some(b) => db::decode("applied log id", &b)?,
        None => None,
    };
    let membership = match snap.get_cf(sm, keys::META_MEMBERSHIP)? {
        Some(b) => db::decode("membership", &b)?,
        None => Default::default(),
    };
    let meta = Meta {
        last_log_id: applied,
        last_membership: membership,
        snapshot_id: snapshot_id(applied),
    };
    let mut out = header(&meta)?;
    for cf in Cf::DATA {
        for item in snap.iterator_cf(db::cf(db, cf)?, IteratorMode::Start) {
            let (k, v) = item?;
            push_record(&mut out, cf, &k, &v)?;
        }
    }
    finish(&mut out);
    Ok((meta, out))
}

fn snapshot_id(applied: Option<LogId>) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    match applied {
        Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, nanos),
        None => format!("none-{nanos}"),
    }
}

fn header(meta: &Meta) -> Result<Vec<u8>, StoreError> {
    let json = db::encode("snapshot meta", meta)?;
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&len32(json.len())?.to_be_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

fn len32(n: usize) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Encode {
        what: "snapshot record",
        detail: format!("{n} bytes"),
    })
}

fn push_record(out: &mut Vec<u8>, cf: Cf, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    out.push(cf.tag());
    out.extend_from_slice(&len32(key.len())?.to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&len32(value.len())?.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

fn finish(out: &mut Vec<u8>) {
    out.push(END_TAG);
    let crc = cairn_base::crc32c(out);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A parsed snapshot: its metadata and its records.
pub struct Parsed<'a> {
    pub meta: Meta,
    pub records: Vec<(Cf, &'a [u8], &'a [u8])>,
}

/// Checks and parses snapshot bytes; never trusts a length or tag.
pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>, StoreError> {
    let bad = |d: &str| StoreError::corrupt("snapshot", d);
    let (body, crc) = bytes
        .split_at_checked(bytes.len().saturating_sub(4))
        .ok_or_else(|| bad("short"))?;
    let crc: [u8; 4] = crc.try_into().map_err(|_| bad("short"))?;
    if cairn_base::crc32c(body) != u32::from_be_bytes(crc) {
        return Err(bad("checksum mismatch"));
    }
    let mut r = Reader { buf: body };
    if r.take(MAGIC.len())? != MAGIC {
        return Err(bad("bad magic"));
    }
    let meta_len = r.u32()? as usize;
    let meta: Meta = db::decode("snapshot meta", r.take(meta_len)?)?;
    let mut records = Vec::new();
    loop {
        let tag = r.take(1)?[0];
        if tag == END_TAG {
            break;
        }
        let cf = Cf::from_tag(tag).ok_or_else(|| bad("unknown record tag"))?;
        let klen = r.u32()? as usize;
        let key = r.take(klen)?;
        let vlen = r.u32()? as usize;
        records.push((cf, key, r.take(vlen)?));
    }
    if !r.buf.is_empty() {
        return Err(bad("bytes after end tag"));
    }
    Ok(Parsed { meta, records })
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let (head, tail) = self
            .buf
            .split_at_checked(n)
            .ok_or_else(|| StoreError::corrupt("snapshot", "truncated record"))?;
        self.buf = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| StoreError::corrupt("snapshot", "truncated"))?;
        Ok(u32::from_be_bytes(b))
    }
}

/// The file holding the current snapshot (`<dir>/snapshot.bin`).
pub struct SnapshotFile {
    dir: PathBuf,
    /// Serialises replace-if-newer.
    lock: Mutex<()>,
}

impl SnapshotFile {
    /// The snapshot file in `dir` (created on first save).
    pub fn new(dir: &Path) -> Self {
        SnapshotFile {
            dir: dir.to_path_buf(),
            lock: Mutex::new(()),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("snapshot.bin")
    }

    /// The current snapshot's bytes, if any (checked by `parse` on use).
    pub fn load(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match fs::read(self.path()) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes `bytes` (a snapshot up to `last`) the current snapshot unless
    /// the current one is newer: write a temp file, fsync, rename, fsync dir.
    pub fn save(&self, last: Option<LogId>, bytes: &[u8]) -> Result<(), StoreError> {
        let _guard = self
            .lock
            .lock()
            .map_err(|_| StoreError::Invariant("snapshot lock poisoned".into()))?;
        if let Some(cur) = self.load()? {
            if parse(&cur).is_ok_and(|p| p.meta.last_log_id > last) {
                return Ok(());
            }
        }
        fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join("snapshot.bin.tmp");
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, self.path())?;
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Checks that every single-byte corruption or truncation of a snapshot
    // is refused rather than trusted.
    #[test]
    fn parse_rejects_any_flipped_or_missing_byte() {
        let meta = Meta::default();
        let mut out = header(&meta).unwrap();
        push_record(&mut out, Cf::Objects, b"a\0c\0x", b"{}").unwrap();
        finish(&mut out);
        let parsed = parse(&out).unwrap();
        assert_eq!(
            parsed.records,
            vec![(Cf::Objects, &b"a\0c\0x"[..], &b"{}"[..])]
        );
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x40;
            assert!(parse(&bad).is_err(), "flip at {i} accepted");
            assert!(parse(&out[..i]).is_err(), "truncation at {i} accepted");
        }
    }
}
