//! The NBD wire format: magic numbers, flags, option, reply and command
//! codes, and pure encoders/decoders of the fixed-size headers. No I/O.
//!
//! Every multi-byte field is big-endian (network order). Decoders take any
//! slice and return an error rather than panic, so they can be fuzzed.

use bytes::BufMut;

/// `NBDMAGIC`: the first 8 bytes the server sends.
pub const NBD_MAGIC: u64 = 0x4e42_444d_4147_4943;
/// `IHAVEOPT`: the server's newstyle greeting and every client option's magic.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// Magic of every option reply.
pub const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// Magic of a transmission request.
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// Magic of a simple reply.
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
/// Magic of a structured reply chunk.
pub const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

// Handshake flags (server, 16 bits) and client flags (32 bits).
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
pub const FLAG_NO_ZEROES: u16 = 1 << 1;
pub const FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
pub const FLAG_C_NO_ZEROES: u32 = 1 << 1;

// Transmission flags.
pub const FLAG_HAS_FLAGS: u16 = 1 << 0;
pub const FLAG_READ_ONLY: u16 = 1 << 1;
pub const FLAG_SEND_FLUSH: u16 = 1 << 2;
pub const FLAG_SEND_FUA: u16 = 1 << 3;
pub const FLAG_SEND_TRIM: u16 = 1 << 5;
pub const FLAG_SEND_WRITE_ZEROES: u16 = 1 << 6;
pub const FLAG_SEND_DF: u16 = 1 << 7;
pub const FLAG_CAN_MULTI_CONN: u16 = 1 << 8;
pub const FLAG_SEND_CACHE: u16 = 1 << 10;
pub const FLAG_SEND_FAST_ZERO: u16 = 1 << 11;

// Options.
pub const OPT_EXPORT_NAME: u32 = 1;
pub const OPT_ABORT: u32 = 2;
pub const OPT_LIST: u32 = 3;
pub const OPT_STARTTLS: u32 = 5;
pub const OPT_INFO: u32 = 6;
pub const OPT_GO: u32 = 7;
pub const OPT_STRUCTURED_REPLY: u32 = 8;
pub const OPT_LIST_META_CONTEXT: u32 = 9;
pub const OPT_SET_META_CONTEXT: u32 = 10;

// Option reply types.
pub const REP_ACK: u32 = 1;
pub const REP_SERVER: u32 = 2;
pub const REP_INFO: u32 = 3;
pub const REP_META_CONTEXT: u32 = 4;
pub const REP_ERR_UNSUP: u32 = (1 << 31) + 1;
pub const REP_ERR_INVALID: u32 = (1 << 31) + 3;
pub const REP_ERR_TLS_REQD: u32 = (1 << 31) + 5;
pub const REP_ERR_UNKNOWN: u32 = (1 << 31) + 6;
pub const REP_ERR_SHUTDOWN: u32 = (1 << 31) + 7;
pub const REP_ERR_TOO_BIG: u32 = (1 << 31) + 9;

// Information types of `NBD_REP_INFO`.
pub const INFO_EXPORT: u16 = 0;
pub const INFO_NAME: u16 = 1;
pub const INFO_DESCRIPTION: u16 = 2;
pub const INFO_BLOCK_SIZE: u16 = 3;

// Commands.
pub const CMD_READ: u16 = 0;
pub const CMD_WRITE: u16 = 1;
pub const CMD_DISC: u16 = 2;
pub const CMD_FLUSH: u16 = 3;
pub const CMD_TRIM: u16 = 4;
pub const CMD_CACHE: u16 = 5;
pub const CMD_WRITE_ZEROES: u16 = 6;
pub const CMD_BLOCK_STATUS: u16 = 7;

// Command flags.
pub const CMD_FLAG_FUA: u16 = 1 << 0;
pub const CMD_FLAG_NO_HOLE: u16 = 1 << 1;
pub const CMD_FLAG_DF: u16 = 1 << 2;
pub const CMD_FLAG_REQ_ONE: u16 = 1 << 3;
pub const CMD_FLAG_FAST_ZERO: u16 = 1 << 4;

// Structured reply flags and chunk types.
pub const REPLY_FLAG_DONE: u16 = 1 << 0;
pub const REPLY_TYPE_NONE: u16 = 0;
pub const REPLY_TYPE_OFFSET_DATA: u16 = 1;
pub const REPLY_TYPE_OFFSET_HOLE: u16 = 2;
pub const REPLY_TYPE_BLOCK_STATUS: u16 = 5;
pub const REPLY_TYPE_ERROR: u16 = (1 << 15) + 1;

// Error values.
pub const EPERM: u32 = 1;
pub const EIO: u32 = 5;
pub const EINVAL: u32 = 22;
pub const ENOSPC: u32 = 28;
pub const EOVERFLOW: u32 = 75;
pub const ENOTSUP: u32 = 95;

// `base:allocation` status flags.
pub const STATE_HOLE: u32 = 1 << 0;
pub const STATE_ZERO: u32 = 1 << 1;

/// Size constraints advertised in `NBD_INFO_BLOCK_SIZE`: the spec's
/// defaults, so clients that never ask are held to nothing stricter.
pub const BLOCK_SIZE_MIN: u32 = 1;
pub const BLOCK_SIZE_PREFERRED: u32 = 4096;
/// Largest READ or WRITE payload accepted (32 MiB).
pub const PAYLOAD_BYTES_MAX: u32 = 32 << 20;
/// Longest string (export name, query) the spec allows.
pub const STRING_BYTES_MAX: usize = 4096;

/// Bytes the server sends first: `NBDMAGIC`, `IHAVEOPT`, handshake flags.
pub const GREETING_BYTES: usize = 18;
/// Bytes of an option header: magic, option, length.
pub const OPTION_HEADER_BYTES: usize = 16;
/// Bytes of a request header.
pub const REQUEST_HEADER_BYTES: usize = 28;
/// Bytes of a simple reply header.
pub const SIMPLE_REPLY_BYTES: usize = 16;
/// Bytes of a structured reply chunk header.
pub const CHUNK_HEADER_BYTES: usize = 20;
/// Zero padding after an `NBD_OPT_EXPORT_NAME` reply, unless `NO_ZEROES`.
pub const EXPORT_NAME_PADDING_BYTES: usize = 124;

/// A header that breaks the protocol: the connection cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("expected {expected} bytes, got {got}")]
    Short { expected: usize, got: usize },
    #[error("bad magic {0:#x}")]
    BadMagic(u64),
    #[error("client flags {0:#x} unknown or not fixed newstyle")]
    BadClientFlags(u32),
}

/// The server's greeting: fixed newstyle, and it can omit the zero padding.
pub fn greeting() -> [u8; GREETING_BYTES] {
    let mut out = [0u8; GREETING_BYTES];
    out[..8].copy_from_slice(&NBD_MAGIC.to_be_bytes());
    out[8..16].copy_from_slice(&IHAVEOPT.to_be_bytes());
    out[16..].copy_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    out
}

/// What the client's flags ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientFlags {
    /// Omit the 124 zero bytes after `NBD_OPT_EXPORT_NAME`.
    pub no_zeroes: bool,
}

/// Decodes the client's 32-bit flags. Only fixed newstyle clients are
/// served, and an unknown flag must end the connection (the spec's MUST).
pub fn decode_client_flags(bytes: &[u8]) -> Result<ClientFlags, ProtoError> {
    let flags = u32::from_be_bytes(fixed(bytes)?);
    let known = FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES;
    if flags & FLAG_C_FIXED_NEWSTYLE == 0 || flags & !known != 0 {
        return Err(ProtoError::BadClientFlags(flags));
    }
    Ok(ClientFlags {
        no_zeroes: flags & FLAG_C_NO_ZEROES != 0,
    })
}

/// An option's header; its `len` payload bytes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionHeader {
    pub option: u32,
    pub len: u32,
}

/// Decodes a 16-byte option header.
pub fn decode_option_header(bytes: &[u8]) -> Result<OptionHeader, ProtoError> {
    let b: [u8; OPTION_HEADER_BYTES] = fixed(bytes)?;
    let magic = u64::from_be_bytes(field(&b, 0));
    if magic != IHAVEOPT {
        return Err(ProtoError::BadMagic(magic));
    }
    Ok(OptionHeader {
        option: u32::from_be_bytes(field(&b, 8)),
        len: u32::from_be_bytes(field(&b, 12)),
    })
}

/// Appends one option reply: header, then `data`.
pub fn put_option_reply(out: &mut Vec<u8>, option: u32, reply_type: u32, data: &[u8]) {
    // Callers build `data` from bounded parts (a name, an info record, a
    // short message), far under 4 GiB.
    let len = u32::try_from(data.len()).expect("option reply data under 4 GiB");
    out.put_u64(OPTION_REPLY_MAGIC);
    out.put_u32(option);
    out.put_u32(reply_type);
    out.put_u32(len);
    out.put_slice(data);
}

/// A transmission request's header; a WRITE's `len` payload bytes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    pub flags: u16,
    pub kind: u16,
    pub cookie: u64,
    pub offset: u64,
    pub len: u32,
}

/// Decodes a 28-byte request header.
pub fn decode_request_header(bytes: &[u8]) -> Result<RequestHeader, ProtoError> {
    let b: [u8; REQUEST_HEADER_BYTES] = fixed(bytes)?;
    let magic = u32::from_be_bytes(field(&b, 0));
    if magic != REQUEST_MAGIC {
        return Err(ProtoError::BadMagic(magic.into()));
    }
    Ok(RequestHeader {
        flags: u16::from_be_bytes(field(&b, 4)),
        kind: u16::from_be_bytes(field(&b, 6)),
        cookie: u64::from_be_bytes(field(&b, 8)),
        offset: u64::from_be_bytes(field(&b, 16)),
        len: u32::from_be_bytes(field(&b, 24)),
    })
}

/// Encodes a request header (the client's side; for tests and fuzzing).
pub fn encode_request_header(h: &RequestHeader) -> [u8; REQUEST_HEADER_BYTES] {
    let mut out = [0u8; REQUEST_HEADER_BYTES];
    out[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
    out[4..6].copy_from_slice(&h.flags.to_be_bytes());
    out[6..8].copy_from_slice(&h.kind.to_be_bytes());
    out[8..16].copy_from_slice(&h.cookie.to_be_bytes());
    out[16..24].copy_from_slice(&h.offset.to_be_bytes());
    out[24..].copy_from_slice(&h.len.to_be_bytes());
    out
}

/// Appends a simple reply header.
pub fn put_simple_reply(out: &mut impl BufMut, cookie: u64, error: u32) {
    out.put_u32(SIMPLE_REPLY_MAGIC);
    out.put_u32(error);
    out.put_u64(cookie);
}

/// Appends a structured reply chunk header; `len` payload bytes follow.
pub fn put_chunk_header(out: &mut impl BufMut, flags: u16, kind: u16, cookie: u64, len: u32) {
    out.put_u32(STRUCTURED_REPLY_MAGIC);
    out.put_u16(flags);
    out.put_u16(kind);
    out.put_u64(cookie);
    out.put_u32(len);
}

/// `bytes` as an array of exactly `N` bytes.
fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], ProtoError> {
    bytes.try_into().map_err(|_| ProtoError::Short {
        expected: N,
        got: bytes.len(),
    })
}

/// The `M` bytes of `b` at `at`; `at + M <= N` at every call site.
fn field<const N: usize, const M: usize>(b: &[u8; N], at: usize) -> [u8; M] {
    let mut out = [0u8; M];
    out.copy_from_slice(&b[at..at + M]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_is_nbdmagic_ihaveopt_and_fixed_newstyle_no_zeroes() {
        // Checks the greeting byte for byte against the spec's constants.
        let g = greeting();
        assert_eq!(&g[..8], b"NBDMAGIC");
        assert_eq!(&g[8..16], b"IHAVEOPT");
        assert_eq!(&g[16..], &[0, 3]);
    }

    #[test]
    fn client_flags_must_be_fixed_newstyle_and_known() {
        // Checks that only fixed newstyle clients with known flags pass.
        assert_eq!(
            decode_client_flags(&3u32.to_be_bytes()),
            Ok(ClientFlags { no_zeroes: true })
        );
        assert_eq!(
            decode_client_flags(&1u32.to_be_bytes()),
            Ok(ClientFlags { no_zeroes: false })
        );
        assert!(decode_client_flags(&0u32.to_be_bytes()).is_err());
        assert!(decode_client_flags(&2u32.to_be_bytes()).is_err());
        assert!(decode_client_flags(&5u32.to_be_bytes()).is_err());
        assert!(decode_client_flags(&[0, 0, 1]).is_err());
    }

    #[test]
    fn option_header_decodes_and_rejects_bad_magic_or_length() {
        // Checks an option header round trip and the two ways it fails.
        let mut b = Vec::new();
        b.put_u64(IHAVEOPT);
        b.put_u32(OPT_GO);
        b.put_u32(77);
        assert_eq!(
            decode_option_header(&b),
            Ok(OptionHeader {
                option: OPT_GO,
                len: 77
            })
        );
        assert!(matches!(
            decode_option_header(&b[..15]),
            Err(ProtoError::Short { .. })
        ));
        b[0] = 0;
        assert!(matches!(
            decode_option_header(&b),
            Err(ProtoError::BadMagic(_))
        ));
    }

    #[test]
    fn request_header_round_trips() {
        // Checks that decode inverts encode, and that the magic is checked.
        let h = RequestHeader {
            flags: CMD_FLAG_FUA,
            kind: CMD_WRITE,
            cookie: 0x0102_0304_0506_0708,
            offset: u64::MAX - 5,
            len: 4096,
        };
        let mut b = encode_request_header(&h);
        assert_eq!(decode_request_header(&b), Ok(h));
        b[3] ^= 1;
        assert!(decode_request_header(&b).is_err());
        assert!(decode_request_header(&b[..27]).is_err());
    }

    #[test]
    fn reply_headers_have_the_spec_layout() {
        // Checks the simple reply and chunk header layouts byte for byte.
        let mut out = Vec::new();
        put_simple_reply(&mut out, 9, EIO);
        assert_eq!(
            out,
            [0x67, 0x44, 0x66, 0x98, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9]
        );
        out.clear();
        put_chunk_header(&mut out, REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_HOLE, 1, 12);
        assert_eq!(
            out,
            [0x66, 0x8e, 0x33, 0xef, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 12]
        );
        out.clear();
        put_option_reply(&mut out, OPT_LIST, REP_ACK, &[]);
        assert_eq!(out.len(), 20);
        assert_eq!(&out[..8], &OPTION_REPLY_MAGIC.to_be_bytes());
    }
}
