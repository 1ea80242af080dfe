//! Per-chunk blake3 digests of an object body: computed once, by whoever
//! takes the body in (the proxy from its client, the replicator from a
//! verified local read), carried with the PUT's end, stored by every
//! replica and checked on every read (decision 0026).

use serde::{Deserialize, Serialize};

/// Body bytes covered by one digest (the last chunk may be shorter).
pub const CHUNK_BYTES: u64 = 1 << 20;

/// The blake3 digest of each [`CHUNK_BYTES`] chunk of a body, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDigests(Vec<[u8; 32]>);

impl ChunkDigests {
    /// The digests of `body`, at once.
    pub fn of(body: &[u8]) -> Self {
        let mut h = ChunkHasher::new();
        h.update(body);
        h.finish()
    }

    /// Whether these are as many digests as a body of `len` bytes has.
    pub fn fit(&self, len: u64) -> bool {
        self.0.len() as u64 == len.div_ceil(CHUNK_BYTES)
    }

    pub fn as_slice(&self) -> &[[u8; 32]] {
        &self.0
    }
}

/// Hashes a body as it streams past, [`CHUNK_BYTES`] at a time; the digests
/// depend only on the bytes, not on how they were split.
#[derive(Default)]
pub struct ChunkHasher {
    hasher: blake3::Hasher,
    in_chunk: u64,
    digests: Vec<[u8; 32]>,
}

impl ChunkHasher {
    pub fn new() -> Self {
        Self::default()
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

    pub fn finish(mut self) -> ChunkDigests {
        if self.in_chunk > 0 {
            self.digests.push(*self.hasher.finalize().as_bytes());
        }
        ChunkDigests(self.digests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_is_independent_of_update_sizes() {
        let data: Vec<u8> = (0..(CHUNK_BYTES as usize * 2 + 77))
            .map(|i| i as u8)
            .collect();
        let whole = ChunkDigests::of(&data);
        let mut h = ChunkHasher::new();
        for piece in data.chunks(4093) {
            h.update(piece);
        }
        assert_eq!(h.finish(), whole);
        assert!(whole.fit(data.len() as u64));
        assert!(!whole.fit(2 * CHUNK_BYTES));
        let first = blake3::hash(&data[..CHUNK_BYTES as usize]);
        assert_eq!(whole.as_slice()[0], *first.as_bytes());
        let last = blake3::hash(&data[2 * CHUNK_BYTES as usize..]);
        assert_eq!(whole.as_slice()[2], *last.as_bytes());
    }

    #[test]
    fn an_empty_body_has_no_digests() {
        let none = ChunkDigests::of(b"");
        assert!(none.as_slice().is_empty() && none.fit(0) && !none.fit(1));
    }
}
