//! A RAM-backed [`BlockDevice`] and [`Exports`] for the protocol servers'
//! tests: sparse (allocation tracked per 4 KiB), resizable, and counting
//! flushes so a test can see that FLUSH and FUA reached the device.

use super::{check_range, AllocRun, BlockDevice, BlockError, DeviceIdentity, Exports};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Granularity of the allocation map.
const PAGE: u64 = 4096;

pub(crate) struct MemDevice {
    name: String,
    size: AtomicU64,
    read_only: bool,
    /// Allocated pages by index; absent pages read as zeros.
    pages: Mutex<BTreeMap<u64, Box<[u8; PAGE as usize]>>>,
    /// Flushes and FUA writes seen.
    pub(crate) flushes: AtomicU64,
}

impl MemDevice {
    pub(crate) fn new(name: &str, size: u64) -> Arc<Self> {
        Arc::new(MemDevice {
            name: name.to_owned(),
            size: AtomicU64::new(size),
            read_only: false,
            pages: Mutex::new(BTreeMap::new()),
            flushes: AtomicU64::new(0),
        })
    }

    pub(crate) fn read_only(name: &str, size: u64) -> Arc<Self> {
        let mut d = Arc::into_inner(Self::new(name, size)).expect("fresh Arc");
        d.read_only = true;
        Arc::new(d)
    }

    /// Grows the device (online resize).
    pub(crate) fn grow(&self, size: u64) {
        self.size.fetch_max(size, Ordering::SeqCst);
    }

    fn check_write(&self, offset: u64, len: u64) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_range(offset, len, self.size())
    }

    /// Applies `f(page, start_in_page, start_in_data, n)` over each page of the range.
    fn for_pages(offset: u64, len: u64, mut f: impl FnMut(u64, usize, usize, usize)) {
        let mut done = 0u64;
        while done < len {
            let at = offset + done;
            let in_page = (at % PAGE) as usize;
            let n = ((PAGE - at % PAGE).min(len - done)) as usize;
            f(at / PAGE, in_page, done as usize, n);
            done += n as u64;
        }
    }
}

#[async_trait]
impl BlockDevice for MemDevice {
    fn size(&self) -> u64 {
        self.size.load(Ordering::SeqCst)
    }

    fn identity(&self) -> DeviceIdentity {
        let mut uuid = [0u8; 16];
        for (i, b) in self.name.bytes().take(16).enumerate() {
            uuid[i] = b;
        }
        DeviceIdentity {
            name: self.name.clone(),
            uuid,
        }
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    async fn read(&self, offset: u64, len: u32) -> Result<Bytes, BlockError> {
        check_range(offset, len.into(), self.size())?;
        let mut out = vec![0u8; len as usize];
        let pages = self.pages.lock().expect("mem device lock");
        Self::for_pages(offset, len.into(), |p, at, to, n| {
            if let Some(page) = pages.get(&p) {
                out[to..to + n].copy_from_slice(&page[at..at + n]);
            }
        });
        Ok(out.into())
    }

    async fn write(&self, offset: u64, data: Bytes, fua: bool) -> Result<(), BlockError> {
        self.check_write(offset, data.len() as u64)?;
        let mut pages = self.pages.lock().expect("mem device lock");
        Self::for_pages(offset, data.len() as u64, |p, at, from, n| {
            let page = pages
                .entry(p)
                .or_insert_with(|| Box::new([0; PAGE as usize]));
            page[at..at + n].copy_from_slice(&data[from..from + n]);
        });
        if fua {
            self.flushes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), BlockError> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn write_zeroes(
        &self,
        offset: u64,
        len: u64,
        may_unmap: bool,
        fua: bool,
    ) -> Result<(), BlockError> {
        self.check_write(offset, len)?;
        let mut pages = self.pages.lock().expect("mem device lock");
        Self::for_pages(offset, len, |p, at, _, n| {
            if may_unmap && n as u64 == PAGE {
                pages.remove(&p);
            } else if let Some(page) = pages.get_mut(&p) {
                page[at..at + n].fill(0);
            } else if !may_unmap {
                pages.insert(p, Box::new([0; PAGE as usize]));
            }
        });
        if fua {
            self.flushes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    async fn allocation(&self, offset: u64, len: u64) -> Result<Vec<AllocRun>, BlockError> {
        check_range(offset, len, self.size())?;
        let pages = self.pages.lock().expect("mem device lock");
        let mut runs: Vec<AllocRun> = Vec::new();
        Self::for_pages(offset, len, |p, _, _, n| {
            let allocated = pages.contains_key(&p);
            match runs.last_mut() {
                Some(last) if last.allocated == allocated => last.len += n as u64,
                _ => runs.push(AllocRun {
                    len: n as u64,
                    allocated,
                }),
            }
        });
        Ok(runs)
    }
}

/// A fixed set of [`MemDevice`]s by name.
pub(crate) struct MemExports {
    devices: BTreeMap<String, Arc<MemDevice>>,
}

impl MemExports {
    pub(crate) fn new(devices: impl IntoIterator<Item = Arc<MemDevice>>) -> Arc<Self> {
        Arc::new(MemExports {
            devices: devices
                .into_iter()
                .map(|d| (d.identity().name, d))
                .collect(),
        })
    }
}

#[async_trait]
impl Exports for MemExports {
    async fn list(&self) -> Result<Vec<String>, BlockError> {
        Ok(self.devices.keys().cloned().collect())
    }

    async fn open(&self, name: &str) -> Result<Arc<dyn BlockDevice>, BlockError> {
        let device = self
            .devices
            .get(name)
            .ok_or_else(|| BlockError::NoSuchExport(name.to_owned()))?;
        Ok(device.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_back_writes_and_zeros_holes() {
        let d = MemDevice::new("v", 1 << 20);
        d.write(4094, Bytes::from_static(b"hello"), false)
            .await
            .unwrap();
        assert_eq!(&d.read(4094, 5).await.unwrap()[..], b"hello");
        assert_eq!(&d.read(0, 4).await.unwrap()[..], &[0; 4]);
        let runs = d.allocation(0, 3 * PAGE).await.unwrap();
        assert_eq!(
            runs,
            vec![
                AllocRun {
                    len: 2 * PAGE,
                    allocated: true
                },
                AllocRun {
                    len: PAGE,
                    allocated: false
                }
            ]
        );
        d.discard(0, 2 * PAGE).await.unwrap();
        assert!(!d.allocation(0, PAGE).await.unwrap()[0].allocated);
        assert!(matches!(
            d.read((1 << 20) - 1, 2).await,
            Err(BlockError::OutOfRange { .. })
        ));
    }

    #[tokio::test]
    async fn exports_open_by_name_and_read_only_refuses_writes() {
        let ro = MemDevice::read_only("snap", 8192);
        let exports = MemExports::new([MemDevice::new("vol", 4096), ro]);
        assert_eq!(exports.list().await.unwrap(), ["snap", "vol"]);
        let snap = exports.open("snap").await.unwrap();
        assert_eq!(
            snap.write(0, Bytes::from_static(b"x"), false).await,
            Err(BlockError::ReadOnly)
        );
        assert!(matches!(
            exports.open("nope").await,
            Err(BlockError::NoSuchExport(_))
        ));
        let vol = MemDevice::new("grows", 4096);
        vol.grow(8192);
        assert_eq!(vol.size(), 8192);
    }
}
