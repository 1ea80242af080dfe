//! The segment record: a self-describing, checksummed envelope around one
//! object's metadata and body, so a scan of a segment can verify or rebuild it.
//!
//! Layout (little endian):
//! ```text
//!  0 magic u32 "CRN1" | 4 version u8 | 5 flags u8 | 6 reserved u16
//!  8 partition u32 | 12 hash [16] | 28 data_ts u64 | 36 meta_len u32
//! 40 body_len u64 | 48 payload_crc u32 (crc32c of meta ++ body)
//! 52 header_crc u32 (crc32c of bytes 0..52) | 56 meta (JSON ObjectMeta) | body
//! ```
//! Tombstones and POSTs live only in the index (they carry no bytes).

use cairn_base::Timestamp;
use cairn_nodeapi::{ObjectKey, ObjectMeta};

pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"CRN1");
pub(crate) const VERSION: u8 = 1;
pub(crate) const HEADER_BYTES: usize = 56;
/// Largest encoded metadata of one object (name + headers).
pub(crate) const META_BYTES_MAX: usize = 64 << 10;

/// A decoded record header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub key: ObjectKey,
    pub data_ts: Timestamp,
    pub meta_len: u32,
    pub body_len: u64,
    pub payload_crc: u32,
}

impl RecordHeader {
    /// Total record length: header, metadata, body.
    pub fn record_len(&self) -> u64 {
        HEADER_BYTES as u64 + u64::from(self.meta_len) + self.body_len
    }

    /// Offset of the body from the start of the record.
    pub fn body_offset(&self) -> u64 {
        HEADER_BYTES as u64 + u64::from(self.meta_len)
    }
}

/// Why bytes are not a valid record header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("short header")]
    Short,
    #[error("bad magic")]
    Magic,
    #[error("unknown version {0}")]
    Version(u8),
    #[error("header checksum mismatch")]
    HeaderCrc,
    #[error("metadata too large ({0} bytes)")]
    MetaTooLarge(u32),
}

/// Appends the record for (`key`, `meta`, `body`) to `out`; returns the
/// offset of the body relative to the record start. `meta_json` is the
/// encoded metadata (at most `META_BYTES_MAX`).
pub(crate) fn encode(
    out: &mut Vec<u8>,
    key: &ObjectKey,
    meta: &ObjectMeta,
    meta_json: &[u8],
    body: &[u8],
) -> u64 {
    assert!(meta_json.len() <= META_BYTES_MAX, "metadata over bound");
    let start = out.len();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.push(VERSION);
    out.push(0);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&key.partition.to_le_bytes());
    out.extend_from_slice(&key.hash);
    out.extend_from_slice(&meta.data_ts.ticks().to_le_bytes());
    out.extend_from_slice(&(meta_json.len() as u32).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    let payload_crc = cairn_base::crc32c_append(cairn_base::crc32c(meta_json), body);
    out.extend_from_slice(&payload_crc.to_le_bytes());
    let header_crc = cairn_base::crc32c(&out[start..start + 52]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(meta_json);
    out.extend_from_slice(body);
    (HEADER_BYTES + meta_json.len()) as u64
}

/// Decodes and checks a record header.
pub(crate) fn decode_header(b: &[u8]) -> Result<RecordHeader, RecordError> {
    if b.len() < HEADER_BYTES {
        return Err(RecordError::Short);
    }
    let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let u64_at = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[o..o + 8]);
        u64::from_le_bytes(a)
    };
    if u32_at(0) != MAGIC {
        return Err(RecordError::Magic);
    }
    if b[4] != VERSION {
        return Err(RecordError::Version(b[4]));
    }
    if cairn_base::crc32c(&b[0..52]) != u32_at(52) {
        return Err(RecordError::HeaderCrc);
    }
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&b[12..28]);
    let meta_len = u32_at(36);
    if meta_len as usize > META_BYTES_MAX {
        return Err(RecordError::MetaTooLarge(meta_len));
    }
    Ok(RecordHeader {
        key: ObjectKey {
            partition: u32_at(8),
            hash,
        },
        data_ts: Timestamp::from_ticks(u64_at(28)),
        meta_len,
        body_len: u64_at(40),
        payload_crc: u32_at(48),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ObjectMeta {
        ObjectMeta {
            name: "/a/c/o".into(),
            data_ts: Timestamp::from_secs(1_700_000_000),
            meta_ts: Timestamp::from_secs(1_700_000_000),
            content_length: 5,
            etag: "x".into(),
            content_type: "t".into(),
            headers: vec![],
        }
    }

    #[test]
    fn header_roundtrip_and_damage() {
        // A record header decodes to what was encoded; any flipped header byte is refused.
        let key = ObjectKey {
            partition: 7,
            hash: [3; 16],
        };
        let m = meta();
        let mj = serde_json::to_vec(&m).unwrap();
        let mut out = vec![1, 2, 3];
        let body_off = encode(&mut out, &key, &m, &mj, b"hello");
        let h = decode_header(&out[3..]).unwrap();
        assert_eq!(h.key, key);
        assert_eq!(h.data_ts, m.data_ts);
        assert_eq!(h.body_len, 5);
        assert_eq!(h.body_offset(), body_off);
        assert_eq!(&out[3 + body_off as usize..], b"hello");
        assert_eq!(h.record_len() as usize, out.len() - 3);
        for i in 0..HEADER_BYTES {
            let mut bad = out[3..].to_vec();
            bad[i] ^= 0x10;
            assert!(decode_header(&bad).is_err(), "byte {i}");
        }
    }
}
