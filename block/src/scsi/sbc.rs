//! The block commands (SBC-3) of a logical unit: READ, WRITE, WRITE AND
//! VERIFY, VERIFY, ORWRITE, COMPARE AND WRITE, WRITE SAME, UNMAP,
//! SYNCHRONIZE CACHE, PRE-FETCH, READ CAPACITY, GET LBA STATUS and READ
//! DEFECT DATA, each checking its range and limits before touching the
//! device.

use super::cdb::{ByteCheck, Command, Transfer, WriteSame};
use super::limits::{self, BLOCK};
use super::lu::{LogicalUnit, Response};
use super::sense::Sense;
use crate::BlockError;
use bytes::{Bytes, BytesMut};

fn bytes_of(blocks: u32) -> u64 {
    u64::from(blocks) * u64::from(BLOCK)
}

/// `blocks * BLOCK` as a transfer length, saturating.
fn xfer_len(blocks: u32) -> u32 {
    u32::try_from(bytes_of(blocks)).unwrap_or(u32::MAX)
}

fn offset_of(lba: u64) -> u64 {
    lba * u64::from(BLOCK)
}

/// Sense for a device error, by direction.
fn device_error(e: &BlockError, writing: bool, transfer_len: u32) -> Response {
    Response::check(Sense::from_block_error(e, writing), transfer_len)
}

impl LogicalUnit {
    /// `[lba, lba + blocks)` must lie within the capacity.
    fn in_range(&self, lba: u64, blocks: u64) -> Result<(), Sense> {
        match lba.checked_add(blocks) {
            Some(end) if end <= self.blocks() => Ok(()),
            _ => Err(Sense::LBA_OUT_OF_RANGE),
        }
    }

    /// Range and transfer-length checks shared by block transfers.
    fn check_transfer(&self, t: &Transfer) -> Result<(), Sense> {
        if t.blocks > limits::MAX_TRANSFER_BLOCKS {
            return Err(Sense::invalid_cdb(0, None));
        }
        self.in_range(t.lba, t.blocks.into())
    }

    fn check_writable(&self) -> Result<(), Sense> {
        if self.write_protected() {
            return Err(Sense::WRITE_PROTECTED);
        }
        Ok(())
    }

    pub(super) async fn execute_sbc(
        &self,
        cmd: Command,
        data: Bytes,
        data_in_max: u32,
    ) -> Response {
        match cmd {
            Command::Read(t) => self.read(t, data_in_max).await,
            Command::Write(t) | Command::WriteAndVerify { t, .. } => self.write(t, data).await,
            Command::Verify { lba, blocks, check } => self.verify(lba, blocks, check, data).await,
            Command::OrWrite(t) => self.or_write(t, data).await,
            Command::CompareAndWrite(t) => self.compare_and_write(t, data).await,
            Command::WriteSame(ws) => self.write_same(ws, data).await,
            Command::Unmap { param_len } => self.unmap(param_len, data).await,
            Command::SynchronizeCache { lba, blocks } => self.sync_cache(lba, blocks).await,
            Command::PreFetch { lba, blocks } => match self.in_range(lba, blocks.into()) {
                Ok(()) => Response::good(0),
                Err(s) => Response::check(s, 0),
            },
            Command::ReadCapacity10 => self.read_capacity10(),
            Command::ReadCapacity16 { alloc } => self.read_capacity16(alloc),
            Command::GetLbaStatus { lba, alloc } => self.lba_status(lba, alloc).await,
            Command::ReadDefectData {
                twelve,
                format,
                alloc,
            } => read_defect_data(twelve, format, alloc),
            // The SPC commands are handled by the caller.
            _ => Response::check(Sense::INVALID_OPCODE, 0),
        }
    }

    async fn read(&self, t: Transfer, data_in_max: u32) -> Response {
        let want = xfer_len(t.blocks);
        if let Err(s) = self.check_transfer(&t) {
            return Response::check(s, want);
        }
        let len = want.min(data_in_max);
        if len == 0 {
            return Response::good(want);
        }
        match self.device.read(offset_of(t.lba), len).await {
            Ok(data) => Response {
                data,
                ..Response::good(want)
            },
            Err(e) => device_error(&e, false, want),
        }
    }

    async fn write(&self, t: Transfer, data: Bytes) -> Response {
        let want = xfer_len(t.blocks);
        if let Err(s) = self.check_writable().and_then(|()| self.check_transfer(&t)) {
            return Response::check(s, want);
        }
        // Write what both the CDB and the transport agree on; the residual
        // tells the initiator about the rest.
        let usable = data.len().min(want as usize);
        if !usable.is_multiple_of(BLOCK as usize) {
            return Response::check(Sense::INVALID_FIELD_IN_IU, want);
        }
        if usable > 0 {
            let fua = self.write_through(t.fua);
            let _shared = self.atomic.read().await;
            if let Err(e) = self
                .device
                .write(offset_of(t.lba), data.slice(..usable), fua)
                .await
            {
                return device_error(&e, true, want);
            }
        }
        Response::good(want)
    }

    async fn verify(&self, lba: u64, blocks: u32, check: ByteCheck, data: Bytes) -> Response {
        let want = match check {
            ByteCheck::None => 0,
            ByteCheck::Full => xfer_len(blocks),
            ByteCheck::OneBlock => BLOCK,
        };
        if blocks > limits::MAX_TRANSFER_BLOCKS && check != ByteCheck::None {
            return Response::check(Sense::invalid_cdb(0, None), want);
        }
        if let Err(s) = self.in_range(lba, blocks.into()) {
            return Response::check(s, want);
        }
        if check == ByteCheck::None || blocks == 0 {
            return Response::good(want);
        }
        if data.len() != want as usize {
            return Response::check(Sense::INVALID_FIELD_IN_IU, want);
        }
        let medium = match self.device.read(offset_of(lba), xfer_len(blocks)).await {
            Ok(m) => m,
            Err(e) => return device_error(&e, false, want),
        };
        let first_difference = match check {
            ByteCheck::OneBlock => medium
                .iter()
                .zip(data.iter().cycle())
                .position(|(a, b)| a != b),
            _ => medium.iter().zip(data.iter()).position(|(a, b)| a != b),
        };
        match first_difference {
            Some(at) => Response::check(Sense::miscompare(at as u32), want),
            None => Response::good(want),
        }
    }

    async fn or_write(&self, t: Transfer, data: Bytes) -> Response {
        let want = xfer_len(t.blocks);
        if let Err(s) = self.check_writable().and_then(|()| self.check_transfer(&t)) {
            return Response::check(s, want);
        }
        if data.len() != want as usize {
            return Response::check(Sense::INVALID_FIELD_IN_IU, want);
        }
        if want == 0 {
            return Response::good(0);
        }
        let fua = self.write_through(t.fua);
        let _exclusive = self.atomic.write().await;
        let old = match self.device.read(offset_of(t.lba), want).await {
            Ok(d) => d,
            Err(e) => return device_error(&e, false, want),
        };
        let new: Vec<u8> = old.iter().zip(data.iter()).map(|(a, b)| a | b).collect();
        match self.device.write(offset_of(t.lba), new.into(), fua).await {
            Ok(()) => Response::good(want),
            Err(e) => device_error(&e, true, want),
        }
    }

    async fn compare_and_write(&self, t: Transfer, data: Bytes) -> Response {
        let half = xfer_len(t.blocks);
        let want = half * 2;
        if t.blocks > u32::from(limits::MAX_COMPARE_BLOCKS) {
            return Response::check(Sense::invalid_cdb(13, None), want);
        }
        if data.len() != want as usize {
            // The data-out buffer must hold exactly the compare and write halves.
            return Response::check(Sense::invalid_cdb(13, None), want);
        }
        if let Err(s) = self
            .check_writable()
            .and_then(|()| self.in_range(t.lba, t.blocks.into()))
        {
            return Response::check(s, want);
        }
        if t.blocks == 0 {
            return Response::good(0);
        }
        let fua = self.write_through(t.fua);
        let _exclusive = self.atomic.write().await;
        let old = match self.device.read(offset_of(t.lba), half).await {
            Ok(d) => d,
            Err(e) => return device_error(&e, false, want),
        };
        if let Some(at) = old
            .iter()
            .zip(&data[..half as usize])
            .position(|(a, b)| a != b)
        {
            return Response::check(Sense::miscompare(at as u32), want);
        }
        match self
            .device
            .write(offset_of(t.lba), data.slice(half as usize..), fua)
            .await
        {
            Ok(()) => Response::good(want),
            Err(e) => device_error(&e, true, want),
        }
    }

    async fn write_same(&self, ws: WriteSame, data: Bytes) -> Response {
        let want = if ws.ndob { 0 } else { BLOCK };
        if let Err(s) = self.check_writable() {
            return Response::check(s, want);
        }
        if ws.blocks == 0 || ws.blocks > limits::MAX_WRITE_SAME_BLOCKS {
            // WSNZ: a zero count ("to the end") is refused, as is a long one.
            return Response::check(Sense::invalid_cdb(0, None), want);
        }
        if let Err(s) = self.in_range(ws.lba, ws.blocks.into()) {
            return Response::check(s, want);
        }
        if data.len() != want as usize {
            return Response::check(Sense::INVALID_FIELD_IN_IU, want);
        }
        let offset = offset_of(ws.lba);
        let len = bytes_of(ws.blocks);
        let fua = self.write_through(false);
        let _shared = self.atomic.read().await;
        let result = if data.iter().all(|&b| b == 0) {
            self.device.write_zeroes(offset, len, ws.unmap, fua).await
        } else {
            self.write_pattern(offset, len, &data, fua).await
        };
        match result {
            Ok(()) => Response::good(want),
            Err(e) => device_error(&e, true, want),
        }
    }

    /// Writes `pattern` (one block) repeatedly over `[offset, offset + len)`,
    /// a bounded buffer at a time.
    async fn write_pattern(
        &self,
        offset: u64,
        len: u64,
        pattern: &[u8],
        fua: bool,
    ) -> Result<(), BlockError> {
        let chunk = len.min(u64::from(limits::PATTERN_BUFFER_BYTES)) as usize;
        let mut buf = BytesMut::with_capacity(chunk);
        while buf.len() < chunk {
            buf.extend_from_slice(pattern);
        }
        let buf = buf.freeze();
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            self.device
                .write(offset + done, buf.slice(..n), fua)
                .await?;
            done += n as u64;
        }
        Ok(())
    }

    async fn unmap(&self, param_len: u32, data: Bytes) -> Response {
        if let Err(s) = self.check_writable() {
            return Response::check(s, param_len);
        }
        if param_len == 0 {
            return Response::good(0);
        }
        let params = &data[..data.len().min(param_len as usize)];
        let ranges = match self.unmap_ranges(params) {
            Ok(r) => r,
            Err(s) => return Response::check(s, param_len),
        };
        let _shared = self.atomic.read().await;
        for (lba, blocks) in ranges {
            if let Err(e) = self.device.discard(offset_of(lba), bytes_of(blocks)).await {
                return device_error(&e, true, param_len);
            }
        }
        Response::good(param_len)
    }

    /// The non-empty ranges of an UNMAP parameter list, all checked.
    fn unmap_ranges(&self, p: &[u8]) -> Result<Vec<(u64, u32)>, Sense> {
        if p.len() < 8 {
            return Err(Sense::PARAMETER_LIST_LENGTH);
        }
        let desc_len = usize::from(u16::from_be_bytes([p[2], p[3]]));
        let descs = &p[8..];
        let n = desc_len.min(descs.len()) / 16;
        if n > limits::MAX_UNMAP_DESCRIPTORS as usize {
            return Err(Sense::invalid_param(2));
        }
        let mut out = Vec::with_capacity(n);
        for (i, d) in descs.chunks_exact(16).take(n).enumerate() {
            let lba = u64::from_be_bytes(d[0..8].try_into().unwrap_or([0xff; 8]));
            let blocks = u32::from_be_bytes(d[8..12].try_into().unwrap_or([0; 4]));
            if blocks > limits::MAX_UNMAP_BLOCKS {
                return Err(Sense::invalid_param((8 + 16 * i + 8) as u16));
            }
            self.in_range(lba, blocks.into())?;
            if blocks > 0 {
                out.push((lba, blocks));
            }
        }
        Ok(out)
    }

    async fn sync_cache(&self, lba: u64, blocks: u32) -> Response {
        if let Err(s) = self.in_range(lba, blocks.into()) {
            return Response::check(s, 0);
        }
        match self.device.flush().await {
            Ok(()) => Response::good(0),
            Err(e) => device_error(&e, true, 0),
        }
    }

    fn read_capacity10(&self) -> Response {
        let last = self.blocks().saturating_sub(1);
        let mut d = u32::try_from(last)
            .unwrap_or(u32::MAX)
            .to_be_bytes()
            .to_vec();
        d.extend_from_slice(&BLOCK.to_be_bytes());
        Response::data(d, 8)
    }

    fn read_capacity16(&self, alloc: u32) -> Response {
        let mut d = vec![0u8; 32];
        d[0..8].copy_from_slice(&self.blocks().saturating_sub(1).to_be_bytes());
        d[8..12].copy_from_slice(&BLOCK.to_be_bytes());
        d[14] = 0x80 | 0x40; // LBPME, LBPRZ
        Response::data(d, alloc)
    }

    async fn lba_status(&self, lba: u64, alloc: u32) -> Response {
        let capacity = self.blocks();
        if lba >= capacity {
            return Response::check(Sense::LBA_OUT_OF_RANGE, 0);
        }
        let span = (capacity - lba).min(limits::LBA_STATUS_SPAN_BLOCKS);
        let max_descs = (alloc.saturating_sub(8) / 16).max(1) as usize;
        let runs = match self
            .device
            .allocation(offset_of(lba), span * u64::from(BLOCK))
            .await
        {
            Ok(r) => r,
            Err(e) => return device_error(&e, false, 0),
        };
        let mut body = Vec::new();
        let mut at = lba;
        for run in runs.iter().take(max_descs) {
            let blocks = (run.len / u64::from(BLOCK)).max(1);
            body.extend_from_slice(&at.to_be_bytes());
            body.extend_from_slice(&u32::try_from(blocks).unwrap_or(u32::MAX).to_be_bytes());
            body.push(if run.allocated { 0 } else { 1 });
            body.extend_from_slice(&[0, 0, 0]);
            at += blocks;
        }
        let mut d = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        d.extend_from_slice(&[0, 0, 0, 0]);
        d.extend(body);
        Response::data(d, alloc)
    }
}

fn read_defect_data(twelve: bool, format: u8, alloc: u32) -> Response {
    // No defects. The header echoes the list format.
    let d = if twelve {
        vec![0, format, 0, 0, 0, 0, 0, 0]
    } else {
        vec![0, format, 0, 0]
    };
    Response::data(d, alloc)
}
