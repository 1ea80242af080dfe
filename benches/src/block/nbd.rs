//! The NBD wire format, client side (the subset `cairn bench` speaks):
//! the fixed-newstyle handshake with `NBD_OPT_STARTTLS` and `NBD_OPT_GO`, transmission requests
//! (READ, WRITE, FLUSH, DISC) and simple replies. Pure encoding and
//! decoding; the socket is [`super::session`]'s.
//!
//! Reference: the NBD protocol document (`doc/proto.md` of the NBD project).

/// `NBDMAGIC`: the first 8 bytes a server sends.
pub const NBD_MAGIC: u64 = 0x4e42_444d_4147_4943;
/// `IHAVEOPT`: newstyle negotiation, and the prefix of every option.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// Prefix of every option reply.
pub const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
const FLAG_NO_ZEROES: u16 = 1 << 1;
const OPT_STARTTLS: u32 = 5;
const OPT_GO: u32 = 7;
const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
/// Option replies with this bit set are errors.
const REP_FLAG_ERROR: u32 = 1 << 31;
const INFO_EXPORT: u16 = 0;

/// Transmission flags of an export.
pub const TRANSMIT_READ_ONLY: u16 = 1 << 1;
pub const TRANSMIT_SEND_FLUSH: u16 = 1 << 2;
pub const TRANSMIT_CAN_MULTI_CONN: u16 = 1 << 8;

/// The greeting: NBDMAGIC, IHAVEOPT, handshake flags.
pub const GREETING_BYTES: usize = 18;
pub const OPTION_REPLY_HEADER_BYTES: usize = 20;
pub const REQUEST_BYTES: usize = 28;
pub const SIMPLE_REPLY_BYTES: usize = 16;
/// The longest option reply payload read (a server's error message, say).
pub const OPTION_REPLY_BYTES_MAX: u32 = 64 * 1024;

/// What went wrong talking NBD.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NbdError {
    #[error("not an NBD server (bad magic)")]
    BadMagic,
    #[error("the server does not speak fixed newstyle negotiation")]
    NotFixedNewstyle,
    #[error("the server refused NBD_OPT_GO (reply {code:#x}): {message}")]
    Refused { code: u32, message: String },
    #[error("an option reply of {0} bytes is longer than allowed")]
    ReplyTooLong(u32),
    #[error("the server acknowledged NBD_OPT_GO without the export's size")]
    NoExportInfo,
    #[error("the server refused NBD_OPT_STARTTLS (reply {code:#x}): {message}")]
    TlsRefused { code: u32, message: String },
}

/// An export, as NBD_INFO_EXPORT describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportInfo {
    pub size_bytes: u64,
    pub flags: u16,
}

impl ExportInfo {
    pub fn read_only(&self) -> bool {
        self.flags & TRANSMIT_READ_ONLY != 0
    }

    pub fn can_flush(&self) -> bool {
        self.flags & TRANSMIT_SEND_FLUSH != 0
    }

    pub fn can_multi_conn(&self) -> bool {
        self.flags & TRANSMIT_CAN_MULTI_CONN != 0
    }
}

/// The server's handshake flags, from its greeting.
pub fn parse_greeting(buf: &[u8; GREETING_BYTES]) -> Result<u16, NbdError> {
    if be_u64(&buf[0..8]) != NBD_MAGIC || be_u64(&buf[8..16]) != IHAVEOPT {
        return Err(NbdError::BadMagic);
    }
    let flags = u16::from_be_bytes([buf[16], buf[17]]);
    if flags & FLAG_FIXED_NEWSTYLE == 0 {
        return Err(NbdError::NotFixedNewstyle);
    }
    Ok(flags)
}

/// The client flags answering `server_flags`: fixed newstyle, and no
/// zero padding when the server offers to skip it.
pub fn client_flags(server_flags: u16) -> [u8; 4] {
    let flags = u32::from(FLAG_FIXED_NEWSTYLE | (server_flags & FLAG_NO_ZEROES));
    flags.to_be_bytes()
}

/// `NBD_OPT_GO` for `export`, asking for no particular information (the
/// server sends NBD_INFO_EXPORT regardless).
pub fn encode_opt_go(export: &str) -> Vec<u8> {
    let name = export.as_bytes();
    let data_len = 4 + name.len() + 2;
    let mut out = Vec::with_capacity(16 + data_len);
    out.extend_from_slice(&IHAVEOPT.to_be_bytes());
    out.extend_from_slice(&OPT_GO.to_be_bytes());
    out.extend_from_slice(&(data_len as u32).to_be_bytes());
    out.extend_from_slice(&(name.len() as u32).to_be_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&0u16.to_be_bytes());
    out
}

/// `NBD_OPT_STARTTLS`: the option that has no data.
pub fn encode_opt_starttls() -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&IHAVEOPT.to_be_bytes());
    out[8..12].copy_from_slice(&OPT_STARTTLS.to_be_bytes());
    out
}

/// The reply to `NBD_OPT_STARTTLS`: only an empty ACK lets the TLS
/// handshake start.
pub fn starttls_reply(reply: OptionReply, data: &[u8]) -> Result<(), NbdError> {
    match reply.kind {
        REP_ACK if data.is_empty() => Ok(()),
        code => Err(NbdError::TlsRefused {
            code,
            message: String::from_utf8_lossy(data).into_owned(),
        }),
    }
}

/// An option reply's header: which reply, how many bytes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionReply {
    pub kind: u32,
    pub len: u32,
}

pub fn parse_option_reply(buf: &[u8; OPTION_REPLY_HEADER_BYTES]) -> Result<OptionReply, NbdError> {
    if be_u64(&buf[0..8]) != OPTION_REPLY_MAGIC {
        return Err(NbdError::BadMagic);
    }
    let len = u32::from_be_bytes([buf[16], buf[17], buf[18], buf[19]]);
    if len > OPTION_REPLY_BYTES_MAX {
        return Err(NbdError::ReplyTooLong(len));
    }
    Ok(OptionReply {
        kind: u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]),
        len,
    })
}

/// What an option reply means to the negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoStep {
    /// NBD_REP_ACK: transmission starts.
    Done,
    /// NBD_INFO_EXPORT.
    Export(ExportInfo),
    /// Another NBD_REP_INFO: ignored.
    Other,
}

/// Reads one reply to NBD_OPT_GO with its payload.
pub fn go_step(reply: OptionReply, data: &[u8]) -> Result<GoStep, NbdError> {
    match reply.kind {
        REP_ACK => Ok(GoStep::Done),
        REP_INFO if data.len() >= 12 && u16::from_be_bytes([data[0], data[1]]) == INFO_EXPORT => {
            Ok(GoStep::Export(ExportInfo {
                size_bytes: be_u64(&data[2..10]),
                flags: u16::from_be_bytes([data[10], data[11]]),
            }))
        }
        REP_INFO => Ok(GoStep::Other),
        code if code & REP_FLAG_ERROR != 0 => Err(NbdError::Refused {
            code,
            message: String::from_utf8_lossy(data).into_owned(),
        }),
        code => Err(NbdError::Refused {
            code,
            message: "unexpected reply".into(),
        }),
    }
}

/// A transmission command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Read,
    Write,
    Disconnect,
    Flush,
}

impl Command {
    fn code(self) -> u16 {
        match self {
            Command::Read => 0,
            Command::Write => 1,
            Command::Disconnect => 2,
            Command::Flush => 3,
        }
    }

    /// The name requests are counted under.
    pub fn name(self) -> &'static str {
        match self {
            Command::Read => "READ",
            Command::Write => "WRITE",
            Command::Disconnect => "DISC",
            Command::Flush => "FLUSH",
        }
    }
}

/// A request header (a WRITE's data follows it).
pub fn encode_request(cmd: Command, handle: u64, offset: u64, len: u32) -> [u8; REQUEST_BYTES] {
    let mut out = [0u8; REQUEST_BYTES];
    out[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
    // bytes 4..6: command flags (none)
    out[6..8].copy_from_slice(&cmd.code().to_be_bytes());
    out[8..16].copy_from_slice(&handle.to_be_bytes());
    out[16..24].copy_from_slice(&offset.to_be_bytes());
    out[24..28].copy_from_slice(&len.to_be_bytes());
    out
}

/// A simple reply: the request's handle and an errno (0: success; a
/// successful READ's data follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleReply {
    pub error: u32,
    pub handle: u64,
}

pub fn parse_simple_reply(buf: &[u8; SIMPLE_REPLY_BYTES]) -> Result<SimpleReply, NbdError> {
    if u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) != SIMPLE_REPLY_MAGIC {
        return Err(NbdError::BadMagic);
    }
    Ok(SimpleReply {
        error: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        handle: be_u64(&buf[8..16]),
    })
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting(flags: u16) -> [u8; GREETING_BYTES] {
        let mut g = [0u8; GREETING_BYTES];
        g[0..8].copy_from_slice(b"NBDMAGIC");
        g[8..16].copy_from_slice(b"IHAVEOPT");
        g[16..18].copy_from_slice(&flags.to_be_bytes());
        g
    }

    #[test]
    fn the_greeting_must_be_fixed_newstyle() {
        // Magic checked; fixed newstyle required; NO_ZEROES echoed back when offered.
        assert_eq!(parse_greeting(&greeting(3)), Ok(3));
        assert_eq!(client_flags(3), [0, 0, 0, 3]);
        assert_eq!(client_flags(1), [0, 0, 0, 1]);
        assert_eq!(
            parse_greeting(&greeting(0)),
            Err(NbdError::NotFixedNewstyle)
        );
        let mut bad = greeting(1);
        bad[0] = b'X';
        assert_eq!(parse_greeting(&bad), Err(NbdError::BadMagic));
    }

    #[test]
    fn opt_go_carries_the_export_name_and_no_info_requests() {
        // IHAVEOPT, option 7, length, name length, name, 0 info requests.
        let go = encode_opt_go("disk");
        assert_eq!(&go[0..8], b"IHAVEOPT");
        assert_eq!(&go[8..12], &7u32.to_be_bytes());
        assert_eq!(&go[12..16], &10u32.to_be_bytes());
        assert_eq!(&go[16..20], &4u32.to_be_bytes());
        assert_eq!(&go[20..24], b"disk");
        assert_eq!(&go[24..26], &[0, 0]);
    }

    #[test]
    fn starttls_is_an_empty_option_and_only_an_empty_ack_starts_tls() {
        // IHAVEOPT, option 5, no data; TLS_REQD-style errors and a
        // non-empty ACK are refusals carrying the server's text.
        let o = encode_opt_starttls();
        assert_eq!(&o[0..8], b"IHAVEOPT");
        assert_eq!(&o[8..12], &5u32.to_be_bytes());
        assert_eq!(&o[12..16], &[0; 4]);
        assert_eq!(starttls_reply(OptionReply { kind: 1, len: 0 }, b""), Ok(()));
        let unsup = OptionReply {
            kind: REP_FLAG_ERROR | 1,
            len: 2,
        };
        assert_eq!(
            starttls_reply(unsup, b"no"),
            Err(NbdError::TlsRefused {
                code: REP_FLAG_ERROR | 1,
                message: "no".into()
            })
        );
        assert!(starttls_reply(OptionReply { kind: 1, len: 1 }, b"x").is_err());
    }

    #[test]
    fn go_replies_give_the_export_then_the_ack() {
        // NBD_INFO_EXPORT carries size and flags; ACK ends; an error reply is refused with its text.
        let mut info = vec![0u8, 0];
        info.extend_from_slice(&(64u64 << 20).to_be_bytes());
        info.extend_from_slice(&(TRANSMIT_SEND_FLUSH | 1).to_be_bytes());
        let step = go_step(OptionReply { kind: 3, len: 12 }, &info).unwrap();
        let GoStep::Export(e) = step else {
            panic!("{step:?}")
        };
        assert_eq!(e.size_bytes, 64 << 20);
        assert!(e.can_flush() && !e.read_only() && !e.can_multi_conn());
        assert_eq!(
            go_step(OptionReply { kind: 1, len: 0 }, &[]),
            Ok(GoStep::Done)
        );
        let refused = go_step(
            OptionReply {
                kind: REP_FLAG_ERROR | 6,
                len: 2,
            },
            b"no",
        );
        assert!(matches!(refused, Err(NbdError::Refused { message, .. }) if message == "no"));
    }

    #[test]
    fn option_replies_longer_than_the_bound_are_refused() {
        // A hostile length cannot make the client allocate without bound.
        let mut h = [0u8; OPTION_REPLY_HEADER_BYTES];
        h[0..8].copy_from_slice(&OPTION_REPLY_MAGIC.to_be_bytes());
        h[16..20].copy_from_slice(&(OPTION_REPLY_BYTES_MAX + 1).to_be_bytes());
        assert!(matches!(
            parse_option_reply(&h),
            Err(NbdError::ReplyTooLong(_))
        ));
    }

    #[test]
    fn requests_and_replies_round_trip_their_fields() {
        // A WRITE header has magic, type 1, handle, offset, length; a reply gives errno and handle.
        let r = encode_request(Command::Write, 0xabcd, 4096, 512);
        assert_eq!(&r[0..4], &REQUEST_MAGIC.to_be_bytes());
        assert_eq!(&r[6..8], &[0, 1]);
        assert_eq!(be_u64(&r[8..16]), 0xabcd);
        assert_eq!(be_u64(&r[16..24]), 4096);
        assert_eq!(&r[24..28], &512u32.to_be_bytes());
        let mut reply = [0u8; SIMPLE_REPLY_BYTES];
        reply[0..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
        reply[4..8].copy_from_slice(&5u32.to_be_bytes());
        reply[8..16].copy_from_slice(&0xabcdu64.to_be_bytes());
        assert_eq!(
            parse_simple_reply(&reply),
            Ok(SimpleReply {
                error: 5,
                handle: 0xabcd
            })
        );
        reply[0] = 0;
        assert_eq!(parse_simple_reply(&reply), Err(NbdError::BadMagic));
    }
}
