//! Messages on a stream: a 4-byte big-endian length, then the message in
//! postcard. Body bytes (object frames, extent data) travel raw after the
//! message that announces their length, so they are never re-encoded.

use bytes::Bytes;
use quinn::{ReadError, ReadExactError, RecvStream, SendStream, WriteError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::endpoint::{FORBIDDEN, UNKNOWN_SERVICE};
use crate::TransportError;

/// Largest encoded message (requests, metadata, Raft batches and snapshot
/// chunks; object and extent bodies travel raw).
pub const MESSAGE_BYTES_MAX: usize = 16 << 20;
/// Largest raw byte run announced by one message.
pub const DATA_BYTES_MAX: usize = 64 << 20;

/// Writes one message.
pub async fn send_msg<T: Serialize>(send: &mut SendStream, msg: &T) -> Result<(), TransportError> {
    let mut buf = vec![0u8; 4];
    let mut buf = postcard::to_extend(msg, std::mem::take(&mut buf))
        .map_err(|e| TransportError::Decode(e.to_string()))?;
    let len = buf.len() - 4;
    if len > MESSAGE_BYTES_MAX {
        return Err(TransportError::TooLarge(len));
    }
    buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
    send.write_all(&buf).await.map_err(write_error)
}

/// Reads one message.
pub async fn recv_msg<T: DeserializeOwned>(recv: &mut RecvStream) -> Result<T, TransportError> {
    recv_msg_within(recv, MESSAGE_BYTES_MAX).await
}

/// Reads one message of at most `max` bytes: what a service open to
/// callers without a certificate reads, so a stranger cannot make it
/// allocate [`MESSAGE_BYTES_MAX`] per stream.
pub async fn recv_msg_within<T: DeserializeOwned>(
    recv: &mut RecvStream,
    max: usize,
) -> Result<T, TransportError> {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.map_err(read_error)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max.min(MESSAGE_BYTES_MAX) {
        return Err(TransportError::TooLarge(len));
    }
    let mut buf = vec![0u8; len];
    recv.read_exact(&mut buf).await.map_err(read_error)?;
    postcard::from_bytes(&buf).map_err(|e| TransportError::Decode(e.to_string()))
}

/// Writes raw bytes (after a message that announced their length).
pub async fn send_bytes(send: &mut SendStream, data: Bytes) -> Result<(), TransportError> {
    send.write_chunk(data).await.map_err(write_error)
}

/// Reads `len` raw bytes in the pieces the stream holds them in (each a
/// slice of a received packet; nothing is copied).
pub async fn recv_pieces(recv: &mut RecvStream, len: usize) -> Result<Vec<Bytes>, TransportError> {
    if len > DATA_BYTES_MAX {
        return Err(TransportError::TooLarge(len));
    }
    let mut pieces = Vec::new();
    let mut got = 0;
    while got < len {
        let chunk = recv
            .read_chunk(len - got, true)
            .await
            .map_err(|e| read_error(ReadExactError::ReadError(e)))?
            .ok_or_else(|| read_error(ReadExactError::FinishedEarly(got)))?;
        got += chunk.bytes.len();
        pieces.push(chunk.bytes);
    }
    Ok(pieces)
}

/// Reads `len` raw bytes into one buffer. When one received chunk holds
/// them all, the stream's own buffer is handed over and nothing is copied;
/// a longer run (spanning many packets) is gathered.
pub async fn recv_bytes(recv: &mut RecvStream, len: usize) -> Result<Bytes, TransportError> {
    recv_pieces(recv, len).await.map(cairn_nodeapi::join)
}

/// Ends the sending side: the peer reads a clean end after what was sent.
pub fn finish(send: &mut SendStream) {
    // Already finished or reset: the peer learns of it either way.
    let _ = send.finish();
}

pub(crate) fn write_error(e: WriteError) -> TransportError {
    match e {
        WriteError::Stopped(code) => reset_error(code.into_inner()),
        other => TransportError::Stream(other.to_string()),
    }
}

pub(crate) fn read_error(e: ReadExactError) -> TransportError {
    match e {
        ReadExactError::FinishedEarly(n) => {
            TransportError::Stream(format!("stream ended after {n} bytes of a message"))
        }
        ReadExactError::ReadError(ReadError::Reset(code)) => reset_error(code.into_inner()),
        ReadExactError::ReadError(other) => TransportError::Stream(other.to_string()),
    }
}

fn reset_error(code: u64) -> TransportError {
    match code {
        FORBIDDEN => TransportError::Forbidden,
        UNKNOWN_SERVICE => TransportError::UnknownService,
        other => TransportError::Stream(format!("reset by the peer (code {other})")),
    }
}
