//! One extent file: `extent_size` bytes of sparse data followed by its
//! checksum table, and the verified read, the torn-write-safe write and the
//! discard over it.
//!
//! Writers of one extent are serialized by the table's lock (held across
//! the checksum write and the data write); readers share it, so a reader
//! never sees data and table from two different writes.

use super::sums::{block_sum, SumTable, BLOCK, ZERO_SUM};
use crate::error::io_to_node;
use bytes::Bytes;
use cairn_diskio::{DiskFile, DiskIo};
use cairn_nodeapi::NodeError;
use tokio::sync::RwLock;

pub(crate) struct ExtentFile {
    pub file: DiskFile,
    pub extent_size: u32,
    sums: RwLock<SumTable>,
}

/// Blocks `[first, end)` covering the byte range.
fn blocks_of(offset: u32, len: u32) -> (u32, u32) {
    (offset / BLOCK, (offset + len).div_ceil(BLOCK))
}

impl ExtentFile {
    /// The file length for an extent of `extent_size` bytes.
    pub fn file_len(extent_size: u32) -> u64 {
        u64::from(extent_size) + u64::from(SumTable::bytes(extent_size))
    }

    /// The extent size a file of `len` bytes holds, if `len` is a valid length.
    pub fn extent_size_of(len: u64) -> Option<u32> {
        let size =
            u32::try_from(len * u64::from(BLOCK) / u64::from(BLOCK + super::sums::ENTRY)).ok()?;
        (size.is_multiple_of(BLOCK) && Self::file_len(size) == len).then_some(size)
    }

    /// Wraps an open file, loading its checksum table.
    pub async fn load<D: DiskIo>(
        io: &D,
        file: DiskFile,
        extent_size: u32,
    ) -> Result<Self, NodeError> {
        let raw = io
            .read_at(
                &file,
                u64::from(extent_size),
                SumTable::bytes(extent_size) as usize,
            )
            .await
            .map_err(|e| io_to_node("reading an extent's checksums", &e))?;
        Ok(ExtentFile {
            file,
            extent_size,
            sums: RwLock::new(SumTable::decode(&raw, extent_size)),
        })
    }

    /// A new file for `to` holding a copy of this one (data and checksums),
    /// made while no write can change this one.
    pub async fn copy_into<D: DiskIo>(&self, io: &D, to: DiskFile) -> Result<Self, NodeError> {
        let sums = self.sums.read().await;
        io.copy_range(&self.file, 0, &to, 0, Self::file_len(self.extent_size))
            .await
            .map_err(|e| io_to_node("copying an extent", &e))?;
        Ok(ExtentFile {
            file: to,
            extent_size: self.extent_size,
            sums: RwLock::new(sums.clone_known()),
        })
    }

    fn check(&self, offset: u32, len: u32) -> Result<(), NodeError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.extent_size => Ok(()),
            _ => Err(NodeError::Io(format!(
                "[{offset}, +{len}) is outside the {}-byte extent",
                self.extent_size
            ))),
        }
    }

    /// The bytes of blocks `[first, end)` as stored (short at end of file).
    async fn raw_blocks<D: DiskIo>(
        &self,
        io: &D,
        first: u32,
        end: u32,
    ) -> Result<Vec<u8>, NodeError> {
        io.read_at(
            &self.file,
            u64::from(first * BLOCK),
            ((end - first) * BLOCK) as usize,
        )
        .await
        .map_err(|e| io_to_node("reading an extent", &e))
    }

    /// Reads whole blocks `[first, end)` and checks each against the table.
    async fn read_blocks<D: DiskIo>(
        &self,
        io: &D,
        sums: &SumTable,
        first: u32,
        end: u32,
    ) -> Result<Vec<u8>, NodeError> {
        let mut buf = self.raw_blocks(io, first, end).await?;
        buf.resize(((end - first) * BLOCK) as usize, 0);
        for (i, block) in buf.chunks(BLOCK as usize).enumerate() {
            let b = first + i as u32;
            if !sums.entry(b).accepts(block_sum(block)) {
                tracing::error!(block = b, "extent block failed its checksum");
                return Err(NodeError::Corrupt);
            }
        }
        Ok(buf)
    }

    /// Reads `len` bytes at `offset`, every block verified.
    pub async fn read<D: DiskIo>(&self, io: &D, offset: u32, len: u32) -> Result<Bytes, NodeError> {
        self.check(offset, len)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let (first, end) = blocks_of(offset, len);
        let sums = self.sums.read().await;
        let buf = self.read_blocks(io, &sums, first, end).await?;
        let at = (offset - first * BLOCK) as usize;
        Ok(Bytes::from(buf).slice(at..at + len as usize))
    }

    /// The sums blocks `[first, end)` hold now: known ones from memory, the
    /// rest by reading the blocks (a block matching neither entry — damaged —
    /// counts as holding `fallback`'s sum, since it is being replaced).
    async fn current_sums<D: DiskIo>(
        &self,
        io: &D,
        sums: &mut SumTable,
        first: u32,
        end: u32,
        fallback: &[u32],
    ) -> Result<Vec<u32>, NodeError> {
        if (first..end).all(|b| sums.known(b).is_some()) {
            return Ok((first..end).filter_map(|b| sums.known(b)).collect());
        }
        let buf = self.raw_blocks(io, first, end).await?;
        let mut out = Vec::with_capacity((end - first) as usize);
        for (i, b) in (first..end).enumerate() {
            let start = i * BLOCK as usize;
            let block = buf.get(start..start + BLOCK as usize);
            let sum = block.map_or(ZERO_SUM, block_sum);
            if sums.entry(b).accepts(sum) {
                sums.learn(b, sum);
                out.push(sum);
            } else {
                out.push(fallback[i]);
            }
        }
        Ok(out)
    }

    /// Writes `data` at `offset`: checksums (old and new) first, then the
    /// data, so either version verifies if the process dies in between.
    pub async fn write<D: DiskIo>(
        &self,
        io: &D,
        offset: u32,
        data: Bytes,
    ) -> Result<(), NodeError> {
        self.check(offset, data.len() as u32)?;
        if data.is_empty() {
            return Ok(());
        }
        let (first, end) = blocks_of(offset, data.len() as u32);
        let mut sums = self.sums.write().await;
        let aligned = offset.is_multiple_of(BLOCK) && data.len().is_multiple_of(BLOCK as usize);
        let buf: Vec<u8> = if aligned {
            data.into()
        } else {
            // Read-modify-write of the edge blocks (verified: a damaged
            // block cannot be merged into).
            let mut buf = vec![0u8; ((end - first) * BLOCK) as usize];
            let head = first;
            let tail = end - 1;
            let old_head = self.read_blocks(io, &sums, head, head + 1).await?;
            buf[..BLOCK as usize].copy_from_slice(&old_head);
            if tail != head {
                let old_tail = self.read_blocks(io, &sums, tail, tail + 1).await?;
                let at = ((tail - first) * BLOCK) as usize;
                buf[at..].copy_from_slice(&old_tail);
            }
            let at = (offset - first * BLOCK) as usize;
            buf[at..at + data.len()].copy_from_slice(&data);
            buf
        };
        let new: Vec<u32> = buf.chunks(BLOCK as usize).map(block_sum).collect();
        let old = self.current_sums(io, &mut sums, first, end, &new).await?;
        self.store(io, &mut sums, first, &old, &new, Some(buf))
            .await
    }

    /// Zeros `[offset, offset + len)`: whole blocks are released (hole
    /// punched), partial ones written with zeros.
    pub async fn discard<D: DiskIo>(&self, io: &D, offset: u32, len: u32) -> Result<(), NodeError> {
        self.check(offset, len)?;
        let whole_first = offset.div_ceil(BLOCK);
        let whole_end = (offset + len) / BLOCK;
        if whole_first >= whole_end {
            return self
                .write(io, offset, Bytes::from(vec![0u8; len as usize]))
                .await;
        }
        let head = whole_first * BLOCK - offset;
        if head > 0 {
            self.write(io, offset, Bytes::from(vec![0u8; head as usize]))
                .await?;
        }
        let tail = offset + len - whole_end * BLOCK;
        if tail > 0 {
            self.write(io, whole_end * BLOCK, Bytes::from(vec![0u8; tail as usize]))
                .await?;
        }
        let mut sums = self.sums.write().await;
        let new = vec![ZERO_SUM; (whole_end - whole_first) as usize];
        let old = self
            .current_sums(io, &mut sums, whole_first, whole_end, &new)
            .await?;
        self.store(io, &mut sums, whole_first, &old, &new, None)
            .await
    }

    /// Stores the staged checksum entries, then the data (or a hole).
    async fn store<D: DiskIo>(
        &self,
        io: &D,
        sums: &mut SumTable,
        first: u32,
        old: &[u32],
        new: &[u32],
        data: Option<Vec<u8>>,
    ) -> Result<(), NodeError> {
        let staged = sums.stage(first, old, new);
        let at = u64::from(self.extent_size) + u64::from(first * super::sums::ENTRY);
        io.write_at(&self.file, at, staged)
            .await
            .map_err(|e| io_to_node("writing an extent's checksums", &e))?;
        let start = u64::from(first * BLOCK);
        match data {
            Some(buf) => io.write_at(&self.file, start, buf).await.map(|_| ()),
            None => {
                let len = new.len() as u64 * u64::from(BLOCK);
                io.punch_hole(&self.file, start, len).await
            }
        }
        .map_err(|e| io_to_node("writing an extent", &e))
    }

    /// The byte runs of `[offset, offset + len)` that hold data, from the
    /// checksum table: a block whose current checksum is a zero block's is
    /// reported as a hole (it reads as zeros, whether written or not).
    pub async fn allocation(&self, offset: u32, len: u32) -> Result<Vec<(u32, u32)>, NodeError> {
        self.check(offset, len)?;
        let end = offset + len;
        let sums = self.sums.read().await;
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let (first, last) = blocks_of(offset, len);
        for b in first..last {
            if sums.entry(b).current == ZERO_SUM {
                continue;
            }
            let (s, e) = ((b * BLOCK).max(offset), ((b + 1) * BLOCK).min(end));
            match runs.last_mut() {
                Some(r) if r.1 == s => r.1 = e,
                _ => runs.push((s, e)),
            }
        }
        Ok(runs)
    }
}
