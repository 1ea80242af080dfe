//! The index entry: what the rocksdb index maps an `ObjectKey` to, and the
//! index key encodings.
//!
//! Keys: `o ++ partition(be) ++ hash` → live object or tombstone;
//! `q ++ partition(be) ++ hash ++ data_ts(be)` → a quarantined replica.

use cairn_base::Timestamp;
use cairn_nodeapi::{EntryVersion, ObjectKey, ObjectMeta};
use serde::{Deserialize, Serialize};

/// Where an object's body is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Location {
    /// No body (tombstone).
    None,
    /// A record in a segment log: `offset` is the record start, `body_offset`
    /// the absolute offset of the body in the segment file.
    Segment {
        id: u64,
        offset: u64,
        record_len: u64,
        body_offset: u64,
    },
    /// A blob file of its own, `blobs/<id>.blob`, holding exactly the body.
    Blob { id: u64 },
}

/// The index value for one key: an object or a tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub meta: ObjectMeta,
    pub tombstone: bool,
    pub loc: Location,
    /// blake3 of each `CHUNK_BYTES` chunk of the body, hex, concatenated.
    pub digests: String,
}

impl Entry {
    pub fn tombstone(name: &str, ts: Timestamp) -> Self {
        Entry {
            meta: ObjectMeta {
                name: name.to_owned(),
                data_ts: ts,
                meta_ts: ts,
                content_length: 0,
                etag: String::new(),
                content_type: String::new(),
                headers: Vec::new(),
            },
            tombstone: true,
            loc: Location::None,
            digests: String::new(),
        }
    }

    /// The digest of chunk `i`, if well formed.
    pub fn digest(&self, i: usize) -> Option<[u8; 32]> {
        let hex_digest = self.digests.get(i * 64..(i + 1) * 64)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut out).ok()?;
        Some(out)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("entry serializes")
    }

    pub fn decode(b: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(b)
    }

    /// Whether this is a live (not deleted) object.
    pub fn is_live(&self) -> bool {
        !self.tombstone
    }

    /// The version replicas compare (`key` is where the entry is indexed).
    pub fn version(&self, key: ObjectKey) -> EntryVersion {
        EntryVersion {
            key,
            name: self.meta.name.clone(),
            data_ts: self.meta.data_ts,
            meta_ts: self.meta.meta_ts,
            tombstone: self.tombstone,
        }
    }
}

/// Hex-encodes per-chunk digests for [`Entry::digests`].
pub(crate) fn digests_hex(d: &[[u8; 32]]) -> String {
    let mut s = String::with_capacity(d.len() * 64);
    for x in d {
        s.push_str(&hex::encode(x));
    }
    s
}

pub(crate) const OBJECT_PREFIX: u8 = b'o';
pub(crate) const QUARANTINE_PREFIX: u8 = b'q';

pub(crate) fn object_key(k: &ObjectKey) -> [u8; 21] {
    let mut out = [0u8; 21];
    out[0] = OBJECT_PREFIX;
    out[1..5].copy_from_slice(&k.partition.to_be_bytes());
    out[5..].copy_from_slice(&k.hash);
    out
}

pub(crate) fn quarantine_key(k: &ObjectKey, ts: Timestamp) -> [u8; 29] {
    let mut out = [0u8; 29];
    out[0] = QUARANTINE_PREFIX;
    out[1..21].copy_from_slice(&object_key(k)[1..]);
    out[21..].copy_from_slice(&ts.ticks().to_be_bytes());
    out
}
