//! An extent's checksum table: one crc32c pair per 4 KiB block, kept after
//! the extent's data in the same file, and the rules that make a torn write
//! detectable but never fatal.
//!
//! Each entry holds two checksums, `(previous, current)`. A write first
//! stores `(old, new)`, then the data; a reader accepts a block matching
//! either. So a process killed between the two writes leaves a block that
//! still verifies (old data, or new), while a flipped bit on disk matches
//! neither and is caught. Checksums are stored XORed with the checksum of a
//! zero block, so a table of zero bytes — a fresh sparse file — says "every
//! block is zeros", which is what a new or discarded extent holds.

use std::sync::OnceLock;

/// Checksum granularity: bytes per block.
pub(crate) const BLOCK: u32 = 4096;
/// Bytes of one table entry.
pub(crate) const ENTRY: u32 = 8;

/// crc32c of a block of zeros.
fn zero_crc() -> u32 {
    static Z: OnceLock<u32> = OnceLock::new();
    *Z.get_or_init(|| cairn_base::crc32c(&[0u8; BLOCK as usize]))
}

/// The stored form of a block's checksum.
pub(crate) fn block_sum(block: &[u8]) -> u32 {
    cairn_base::crc32c(block) ^ zero_crc()
}

/// The stored form of a zero block's checksum.
pub(crate) const ZERO_SUM: u32 = 0;

/// One block's entry: the checksums a reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Entry {
    pub previous: u32,
    pub current: u32,
}

impl Entry {
    pub fn accepts(&self, sum: u32) -> bool {
        sum == self.current || sum == self.previous
    }

    pub fn encode(&self) -> [u8; ENTRY as usize] {
        let mut out = [0u8; ENTRY as usize];
        out[..4].copy_from_slice(&self.previous.to_le_bytes());
        out[4..].copy_from_slice(&self.current.to_le_bytes());
        out
    }

    pub fn decode(b: &[u8]) -> Entry {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Entry {
            previous: word(0),
            current: word(4),
        }
    }
}

/// The table of one extent, as loaded from its file, plus what this process
/// knows about which checksum each block's data matches now.
#[derive(Debug)]
pub(crate) struct SumTable {
    entries: Vec<Entry>,
    /// The checksum the block's data is known to match (set once this
    /// process wrote or verified the block); `None` after a restart.
    known: Vec<Option<u32>>,
}

impl SumTable {
    /// Blocks in an extent of `extent_size` bytes.
    pub fn blocks(extent_size: u32) -> u32 {
        extent_size.div_ceil(BLOCK)
    }

    /// Bytes the table takes in the file.
    pub fn bytes(extent_size: u32) -> u32 {
        Self::blocks(extent_size) * ENTRY
    }

    pub fn decode(raw: &[u8], extent_size: u32) -> SumTable {
        let n = Self::blocks(extent_size) as usize;
        let mut entries = vec![Entry::default(); n];
        for (i, e) in entries.iter_mut().enumerate() {
            let at = i * ENTRY as usize;
            if let Some(b) = raw.get(at..at + ENTRY as usize) {
                *e = Entry::decode(b);
            }
        }
        SumTable {
            known: vec![None; n],
            entries,
        }
    }

    pub fn entry(&self, block: u32) -> Entry {
        self.entries[block as usize]
    }

    /// The checksum the block's data matches, if this process knows it.
    pub fn known(&self, block: u32) -> Option<u32> {
        self.known[block as usize]
    }

    /// Records that the block's data was verified to match `sum`.
    pub fn learn(&mut self, block: u32, sum: u32) {
        self.known[block as usize] = Some(sum);
    }

    /// A copy of the table for a copied extent: same entries, same knowledge.
    pub fn clone_known(&self) -> SumTable {
        SumTable {
            entries: self.entries.clone(),
            known: self.known.clone(),
        }
    }

    /// The entries to store before writing `new` sums over blocks
    /// `first..`, given the sums the blocks hold now (`old`, which the
    /// caller learned or verified). Applies them to the table.
    pub fn stage(&mut self, first: u32, old: &[u32], new: &[u32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(new.len() * ENTRY as usize);
        for (i, (&o, &n)) in old.iter().zip(new).enumerate() {
            let b = first as usize + i;
            let e = Entry {
                previous: o,
                current: n,
            };
            self.entries[b] = e;
            self.known[b] = Some(n);
            out.extend_from_slice(&e.encode());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_table_accepts_zero_blocks_only() {
        let t = SumTable::decode(&[], 16 * 1024);
        assert_eq!(SumTable::blocks(16 * 1024), 4);
        let zero = block_sum(&[0u8; BLOCK as usize]);
        assert_eq!(zero, ZERO_SUM);
        assert!(t.entry(3).accepts(zero));
        assert!(!t.entry(3).accepts(block_sum(&[1u8; BLOCK as usize])));
    }

    #[test]
    fn staged_entries_accept_old_and_new_and_round_trip() {
        let mut t = SumTable::decode(&[], 8 * BLOCK);
        let (a, b) = (
            block_sum(&[1u8; BLOCK as usize]),
            block_sum(&[2u8; BLOCK as usize]),
        );
        let raw = t.stage(2, &[ZERO_SUM, a], &[a, b]);
        assert_eq!(raw.len(), 16);
        assert!(t.entry(2).accepts(ZERO_SUM) && t.entry(2).accepts(a));
        assert!(t.entry(3).accepts(a) && t.entry(3).accepts(b));
        assert_eq!(t.known(3), Some(b));
        let mut file = vec![0u8; SumTable::bytes(8 * BLOCK) as usize];
        file[16..32].copy_from_slice(&raw);
        let back = SumTable::decode(&file, 8 * BLOCK);
        assert_eq!(back.entry(3), t.entry(3));
        assert_eq!(back.known(3), None);
    }
}
