//! `Frame`: a chunk of object bytes with the crc32c that guards it in transit.

use crate::NodeError;
use bytes::{Bytes, BytesMut};

/// A chunk of an object body and its crc32c, computed by the sender and
/// checked by the receiver before the bytes are used.
///
/// The payload is kept in the pieces it came in: one when the frame is
/// made here, several when it was received off the network, where a frame
/// spans many packets. Whoever copies the bytes anyway (a storage node
/// into its aligned write buffer) takes them piece by piece, so they are
/// not first copied together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pieces: Vec<Bytes>,
    crc32c: u32,
}

impl Frame {
    /// Wraps `data`, computing its crc32c.
    pub fn new(data: Bytes) -> Self {
        let crc32c = cairn_base::crc32c(&data);
        Frame {
            pieces: vec![data],
            crc32c,
        }
    }

    /// Reassembles a frame received from the wire; call [`Frame::verify`] before use.
    pub fn from_parts(data: Bytes, crc32c: u32) -> Self {
        Self::from_pieces(vec![data], crc32c)
    }

    /// Reassembles a frame received from the wire in several pieces, in
    /// order; call [`Frame::verify_pieces`] or [`Frame::verify`] before use.
    pub fn from_pieces(pieces: Vec<Bytes>, crc32c: u32) -> Self {
        Frame { pieces, crc32c }
    }

    /// The pieces, unverified, and the crc32c the sender computed: for
    /// passing the frame on (over the network) with its checksum intact.
    pub fn into_parts(self) -> (Vec<Bytes>, u32) {
        (self.pieces, self.crc32c)
    }

    /// The pieces, not checked against the crc32c: for a sender that made
    /// the frame from bytes it trusts and reads them again (to hash them
    /// as it passes the frame on).
    pub fn unverified_pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// The crc32c the sender computed.
    pub fn crc32c(&self) -> u32 {
        self.crc32c
    }

    /// Checks the crc32c and hands out the bytes in the pieces they came in.
    pub fn verify_pieces(self) -> Result<Vec<Bytes>, NodeError> {
        let crc = self
            .pieces
            .iter()
            .fold(0, |crc, p| cairn_base::crc32c_append(crc, p));
        if crc == self.crc32c {
            Ok(self.pieces)
        } else {
            Err(NodeError::FrameChecksum)
        }
    }

    /// Checks the crc32c and hands out the bytes in one buffer (copied
    /// together if they came in several pieces).
    pub fn verify(self) -> Result<Bytes, NodeError> {
        self.verify_pieces().map(join)
    }

    /// Length of the payload in bytes.
    pub fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.pieces.iter().all(Bytes::is_empty)
    }
}

/// The pieces as one buffer: the only piece as it is, several copied
/// together.
pub fn join(mut pieces: Vec<Bytes>) -> Bytes {
    if pieces.len() <= 1 {
        return pieces.pop().unwrap_or_default();
    }
    let mut whole = BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
    for p in &pieces {
        whole.extend_from_slice(p);
    }
    whole.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flipped_byte_is_caught() {
        // A frame whose payload changed after its crc was computed fails verify.
        let f = Frame::new(Bytes::from_static(b"hello world"));
        let mut data = f.pieces[0].to_vec();
        data[3] ^= 1;
        let bad = Frame::from_parts(Bytes::from(data), f.crc32c());
        assert!(matches!(bad.verify(), Err(NodeError::FrameChecksum)));
        assert_eq!(f.verify().unwrap(), Bytes::from_static(b"hello world"));
    }

    #[test]
    fn pieces_check_and_join_as_one() {
        // The crc32c runs across piece boundaries; a flipped byte in any
        // piece is caught; `verify` joins the pieces in order.
        let whole = Bytes::from((0..10_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let crc = Frame::new(whole.clone()).crc32c();
        let cuts = [0, 1, 4096, 6500, 9999, 10_000];
        let pieces: Vec<Bytes> = cuts.windows(2).map(|w| whole.slice(w[0]..w[1])).collect();
        let f = Frame::from_pieces(pieces.clone(), crc);
        assert_eq!(f.len(), whole.len());
        assert_eq!(f.clone().verify_pieces().unwrap(), pieces);
        assert_eq!(f.verify().unwrap(), whole);
        for (i, p) in pieces.iter().enumerate() {
            let mut bad = pieces.clone();
            let mut b = p.to_vec();
            b[0] ^= 0x80;
            bad[i] = Bytes::from(b);
            assert!(matches!(
                Frame::from_pieces(bad, crc).verify(),
                Err(NodeError::FrameChecksum)
            ));
        }
    }
}
