//! Test doubles of the storage the volume logic runs on: an in-memory
//! extent service whose devices can be taken down, and a placement of
//! three devices that each hold a replica of every extent.

use super::ExtentPlacement;
use async_trait::async_trait;
use bytes::Bytes;
use cairn_base::VolumeId;
use cairn_meta_api::records::MemoryRecords;
use cairn_nodeapi::{DeviceId, Epoch, ExtentKey, ExtentNode, ExtentWrite, NodeError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct MemNode {
    pub extents: Mutex<HashMap<(DeviceId, ExtentKey), Vec<u8>>>,
    pub fences: Mutex<HashMap<(DeviceId, VolumeId), u64>>,
    /// Extents whose next read on a device reports a checksum failure.
    pub corrupt: Mutex<Vec<(DeviceId, ExtentKey)>>,
    /// Devices that fail every call, as if their node were down.
    pub down: Mutex<HashSet<DeviceId>>,
    /// The metadata group's record tables (degraded marks).
    pub records: Arc<MemoryRecords>,
}

impl MemNode {
    fn up(&self, d: DeviceId) -> Result<(), NodeError> {
        match self.down.lock().unwrap().contains(&d) {
            true => Err(NodeError::Io(format!("device {} is down", d.0))),
            false => Ok(()),
        }
    }

    fn check(&self, d: DeviceId, v: VolumeId, e: Epoch) -> Result<(), NodeError> {
        self.up(d)?;
        let mut f = self.fences.lock().unwrap();
        let cur = f.entry((d, v)).or_insert(0);
        if e.0 < *cur {
            return Err(NodeError::Fenced { current: *cur });
        }
        *cur = e.0;
        Ok(())
    }
}

#[async_trait]
impl ExtentNode for MemNode {
    async fn fence(&self, d: DeviceId, v: VolumeId, e: Epoch) -> Result<(), NodeError> {
        self.check(d, v, e)
    }
    async fn write(&self, d: DeviceId, k: ExtentKey, w: ExtentWrite) -> Result<(), NodeError> {
        self.check(d, k.volume, w.epoch)?;
        let mut x = self.extents.lock().unwrap();
        let e = x
            .entry((d, k))
            .or_insert_with(|| vec![0; w.extent_size as usize]);
        e[w.offset as usize..w.offset as usize + w.data.len()].copy_from_slice(&w.data);
        Ok(())
    }
    async fn read(
        &self,
        d: DeviceId,
        k: ExtentKey,
        o: u32,
        l: u32,
    ) -> Result<Option<Bytes>, NodeError> {
        self.up(d)?;
        let mut bad = self.corrupt.lock().unwrap();
        if let Some(i) = bad.iter().position(|x| *x == (d, k)) {
            bad.remove(i);
            return Err(NodeError::Corrupt);
        }
        let x = self.extents.lock().unwrap();
        Ok(x.get(&(d, k))
            .map(|e| Bytes::copy_from_slice(&e[o as usize..(o + l) as usize])))
    }
    async fn discard(
        &self,
        d: DeviceId,
        k: ExtentKey,
        ep: Epoch,
        o: u32,
        l: u32,
        _: bool,
    ) -> Result<(), NodeError> {
        self.check(d, k.volume, ep)?;
        if let Some(e) = self.extents.lock().unwrap().get_mut(&(d, k)) {
            e[o as usize..(o + l) as usize].fill(0);
        }
        Ok(())
    }
    async fn flush(&self, d: DeviceId, v: VolumeId, e: Epoch) -> Result<(), NodeError> {
        self.check(d, v, e)
    }
    async fn copy(
        &self,
        d: DeviceId,
        from: ExtentKey,
        to: ExtentKey,
        extent_size: u32,
        e: Epoch,
    ) -> Result<(), NodeError> {
        self.check(d, to.volume, e)?;
        let mut x = self.extents.lock().unwrap();
        // A device that missed the source's creation starts the copy empty.
        let src = x
            .get(&(d, from))
            .cloned()
            .unwrap_or_else(|| vec![0; extent_size as usize]);
        x.entry((d, to)).or_insert(src);
        Ok(())
    }
    async fn allocation(
        &self,
        d: DeviceId,
        k: ExtentKey,
        _: u32,
        _: u32,
    ) -> Result<Option<Vec<(u32, u32)>>, NodeError> {
        self.up(d)?;
        let x = self.extents.lock().unwrap();
        Ok(x.get(&(d, k)).map(|e| {
            // Allocated where any byte of a 4 KiB block is non-zero.
            let mut runs: Vec<(u32, u32)> = Vec::new();
            for (b, block) in e.chunks(4096).enumerate() {
                if block.iter().any(|&x| x != 0) {
                    let (s, t) = (b as u32 * 4096, (b as u32 + 1) * 4096);
                    match runs.last_mut() {
                        Some(r) if r.1 == s => r.1 = t,
                        _ => runs.push((s, t)),
                    }
                }
            }
            runs
        }))
    }
    async fn list(&self, d: DeviceId, v: VolumeId) -> Result<Vec<(u64, u32)>, NodeError> {
        self.up(d)?;
        let x = self.extents.lock().unwrap();
        Ok(x.keys()
            .filter(|(dd, k)| *dd == d && k.volume == v)
            .map(|(_, k)| (k.index, k.generation))
            .collect())
    }
    async fn remove(
        &self,
        d: DeviceId,
        v: VolumeId,
        which: Option<&[(u64, u32)]>,
    ) -> Result<(), NodeError> {
        self.extents.lock().unwrap().retain(|(dd, k), _| {
            !(*dd == d
                && k.volume == v
                && which.is_none_or(|w| w.contains(&(k.index, k.generation))))
        });
        Ok(())
    }
}

/// Three devices; extent `i` lives on all of them, primary `i % 3` first.
pub struct ThreeDevices;

impl ExtentPlacement for ThreeDevices {
    fn replicas(&self, _: VolumeId, index: u64) -> Vec<DeviceId> {
        (0..3).map(|k| DeviceId(((index + k) % 3) as u32)).collect()
    }
    fn devices(&self) -> Vec<DeviceId> {
        (0..3).map(DeviceId).collect()
    }
    fn replica_count(&self) -> usize {
        3
    }
}
