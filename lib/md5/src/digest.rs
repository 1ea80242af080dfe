//! One MD5 stream: the chaining state, the partial block, the length.

use crate::lanes::BLOCK;

/// RFC 1321's initial chaining state.
pub(crate) const INIT: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

/// A streaming MD5. Whole blocks go through the single-stream assembly;
/// the batcher advances [`Md5::state`] over whole blocks with the lanes
/// kernel instead, so both keep the same partial block and length here.
#[derive(Clone)]
pub struct Md5 {
    state: [u32; 4],
    partial: [u8; BLOCK],
    partial_len: usize,
    len: u64,
}

impl Default for Md5 {
    fn default() -> Self {
        Md5 {
            state: INIT,
            partial: [0; BLOCK],
            partial_len: 0,
            len: 0,
        }
    }
}

impl Md5 {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        let rest = self.top_up(data);
        let (blocks, tail) = rest.as_chunks::<BLOCK>();
        self.compressed(blocks.len());
        md5_asm::compress(&mut self.state, blocks);
        self.top_up(tail);
    }

    /// The 16-byte digest.
    pub fn finalize(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        let mut last = [0u8; BLOCK];
        last[..self.partial_len].copy_from_slice(&self.partial[..self.partial_len]);
        last[self.partial_len] = 0x80;
        if self.partial_len >= BLOCK - 8 {
            md5_asm::compress(&mut self.state, &[last]);
            last = [0; BLOCK];
        }
        last[BLOCK - 8..].copy_from_slice(&bits.to_le_bytes());
        md5_asm::compress(&mut self.state, &[last]);
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Moves bytes from the front of `data` into the partial block,
    /// compressing it once full. What it returns starts on a block boundary
    /// of the stream (or is empty).
    pub(crate) fn top_up<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        if self.partial_len == 0 && data.len() >= BLOCK {
            return data;
        }
        let take = data.len().min(BLOCK - self.partial_len);
        self.partial[self.partial_len..self.partial_len + take].copy_from_slice(&data[..take]);
        self.partial_len += take;
        self.len += take as u64;
        if self.partial_len == BLOCK {
            md5_asm::compress(&mut self.state, &[self.partial]);
            self.partial_len = 0;
        }
        &data[take..]
    }

    /// The chaining state, for the lanes kernel to advance.
    pub(crate) fn state(&self) -> [u32; 4] {
        self.state
    }

    /// Takes the state the lanes kernel reached after `blocks` whole
    /// blocks (the partial block must be empty).
    pub(crate) fn advanced(&mut self, blocks: usize, state: [u32; 4]) {
        self.compressed(blocks);
        self.state = state;
    }

    fn compressed(&mut self, blocks: usize) {
        debug_assert!(
            blocks == 0 || self.partial_len == 0,
            "whole blocks start on a block boundary"
        );
        self.len += (blocks * BLOCK) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn any_chunking_gives_the_reference_digest() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1992);
        for _ in 0..2000 {
            let len = rng.gen_range(0..700);
            let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let mut md5 = Md5::new();
            let mut rest = &data[..];
            while !rest.is_empty() {
                let (now, later) = rest.split_at(rng.gen_range(0..=rest.len()));
                md5.update(now);
                rest = later;
            }
            let want: [u8; 16] = <md5::Md5 as md5::Digest>::digest(&data).into();
            assert_eq!(md5.finalize(), want, "{len} bytes");
        }
    }

    #[test]
    fn known_answers() {
        let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(Md5::new().finalize()),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        let mut m = Md5::new();
        m.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(hex(m.finalize()), "9e107d9d372bb6826bd81d3542a419d6");
    }
}
