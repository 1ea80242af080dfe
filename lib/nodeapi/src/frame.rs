//! `Frame`: a chunk of object bytes with the crc32c that guards it in transit.

use crate::NodeError;
use bytes::Bytes;

/// A chunk of an object body and its crc32c, computed by the sender and
/// checked by the receiver before the bytes are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    data: Bytes,
    crc32c: u32,
}

impl Frame {
    /// Wraps `data`, computing its crc32c.
    pub fn new(data: Bytes) -> Self {
        let crc32c = cairn_base::crc32c(&data);
        Frame { data, crc32c }
    }

    /// Reassembles a frame received from the wire; call [`Frame::verify`] before use.
    pub fn from_parts(data: Bytes, crc32c: u32) -> Self {
        Frame { data, crc32c }
    }

    /// The bytes, unverified, and the crc32c the sender computed: for
    /// passing the frame on (over the network) with its checksum intact.
    pub fn into_parts(self) -> (Bytes, u32) {
        (self.data, self.crc32c)
    }

    /// The crc32c the sender computed.
    pub fn crc32c(&self) -> u32 {
        self.crc32c
    }

    /// Checks the crc32c and hands out the bytes.
    pub fn verify(self) -> Result<Bytes, NodeError> {
        if cairn_base::crc32c(&self.data) == self.crc32c {
            Ok(self.data)
        } else {
            Err(NodeError::FrameChecksum)
        }
    }

    /// Length of the payload in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flipped_byte_is_caught() {
        // A frame whose payload changed after its crc was computed fails verify.
        let f = Frame::new(Bytes::from_static(b"hello world"));
        let mut data = f.data.to_vec();
        data[3] ^= 1;
        let bad = Frame::from_parts(Bytes::from(data), f.crc32c());
        assert!(matches!(bad.verify(), Err(NodeError::FrameChecksum)));
        assert_eq!(f.verify().unwrap(), Bytes::from_static(b"hello world"));
    }
}
