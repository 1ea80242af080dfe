//! Per-chunk blake3 digests: computed as a PUT's bytes arrive, checked on
//! every chunk a GET (or compaction) reads.

use crate::config::CHUNK_BYTES;
use crate::entry::digests_hex;

/// Hashes a body in `CHUNK_BYTES` chunks, one digest per chunk.
pub(crate) struct ChunkHasher {
    hasher: blake3::Hasher,
    in_chunk: u64,
    digests: Vec<[u8; 32]>,
}

impl ChunkHasher {
    pub fn new() -> Self {
        ChunkHasher {
            hasher: blake3::Hasher::new(),
            in_chunk: 0,
            digests: Vec::new(),
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = ((CHUNK_BYTES - self.in_chunk) as usize).min(data.len());
            self.hasher.update(&data[..take]);
            self.in_chunk += take as u64;
            data = &data[take..];
            if self.in_chunk == CHUNK_BYTES {
                self.digests.push(*self.hasher.finalize().as_bytes());
                self.hasher.reset();
                self.in_chunk = 0;
            }
        }
    }

    /// The digests, hex-concatenated as stored in the index.
    pub fn finish(mut self) -> String {
        if self.in_chunk > 0 {
            self.digests.push(*self.hasher.finalize().as_bytes());
        }
        digests_hex(&self.digests)
    }
}

/// Whether `data` hashes to `expected`.
pub(crate) fn matches(data: &[u8], expected: &[u8; 32]) -> bool {
    blake3::hash(data) == blake3::Hash::from(*expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_is_independent_of_update_sizes() {
        // Digests depend only on the bytes, not on how they were split into updates.
        let data: Vec<u8> = (0..(CHUNK_BYTES as usize * 2 + 77))
            .map(|i| i as u8)
            .collect();
        let mut a = ChunkHasher::new();
        a.update(&data);
        let mut b = ChunkHasher::new();
        for piece in data.chunks(4093) {
            b.update(piece);
        }
        let (a, b) = (a.finish(), b.finish());
        assert_eq!(a, b);
        assert_eq!(a.len(), 3 * 64);
        let first = blake3::hash(&data[..CHUNK_BYTES as usize]);
        assert_eq!(&a[..64], first.to_hex().as_str());
    }
}
