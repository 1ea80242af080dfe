//! Checking stored bytes against their per-chunk blake3 digests (which the
//! PUT's sender computed: `cairn_nodeapi::ChunkDigests`), on every chunk a
//! GET, the auditor or compaction reads.

/// Whether `data` hashes to `expected`.
pub(crate) fn matches(data: &[u8], expected: &[u8; 32]) -> bool {
    blake3::hash(data) == blake3::Hash::from(*expected)
}
