//! Option haggling as pure logic: decoding an option's payload into an
//! [`OptionRequest`], the negotiation state (structured replies, the
//! selected metadata context) and the bytes of each option reply. The
//! driver in `handshake` does the socket I/O and the export look-ups, and
//! feeds their results in here.

use super::proto::*;
use bytes::BufMut;

/// Largest option payload read into memory. Longer ones are skipped and
/// refused with `NBD_REP_ERR_TOO_BIG`.
pub const OPTION_BYTES_MAX: u32 = 64 << 10;

/// The metadata context id given to `base:allocation` by
/// `NBD_OPT_SET_META_CONTEXT` (any value works: clients echo it back).
pub const BASE_ALLOCATION_ID: u32 = 1;
const BASE_ALLOCATION: &[u8] = b"base:allocation";
const BASE_NAMESPACE: &[u8] = b"base:";

/// An option, decoded. Syntax errors are [`OptionRequest::Invalid`], never
/// a panic: every byte string decodes to something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionRequest {
    /// `NBD_OPT_EXPORT_NAME`: enter transmission, no error possible.
    ExportName(String),
    Abort,
    List,
    /// `NBD_OPT_INFO` (`go: false`) or `NBD_OPT_GO`.
    Info {
        go: bool,
        name: String,
        wanted: InfoWanted,
    },
    StructuredReply,
    /// `NBD_OPT_STARTTLS`: upgrade the connection to TLS.
    StartTls,
    /// `NBD_OPT_LIST_META_CONTEXT` (`set: false`) or `_SET_`.
    MetaContext {
        set: bool,
        name: String,
        queries: MetaQueries,
    },
    /// An option this server does not implement.
    Unsupported,
    /// A known option with a malformed payload.
    Invalid(&'static str),
}

/// The optional `NBD_INFO_*` items a client asked for (`NBD_INFO_EXPORT`
/// is always sent; unknown items are ignored, as the spec requires).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InfoWanted {
    pub name: bool,
    pub description: bool,
    pub block_size: bool,
}

/// What a metadata context request's queries match in the `base:`
/// namespace, the only one served (others are ignored, as required).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaQueries {
    /// No query was sent: "everything" when listing, nothing when setting.
    pub none_sent: bool,
    /// `base:` was sent: a wildcard when listing, ignored when setting.
    pub base_wildcard: bool,
    /// `base:allocation` was sent.
    pub base_allocation: bool,
}

/// Decodes the payload of option `option`.
pub fn parse_option(option: u32, payload: &[u8]) -> OptionRequest {
    match option {
        OPT_EXPORT_NAME => match name(payload) {
            Some(n) => OptionRequest::ExportName(n),
            None => OptionRequest::Invalid("export name too long or not UTF-8"),
        },
        // The spec asks servers to ignore data sent with NBD_OPT_ABORT.
        OPT_ABORT => OptionRequest::Abort,
        OPT_LIST if payload.is_empty() => OptionRequest::List,
        OPT_STRUCTURED_REPLY if payload.is_empty() => OptionRequest::StructuredReply,
        OPT_STARTTLS if payload.is_empty() => OptionRequest::StartTls,
        OPT_LIST | OPT_STRUCTURED_REPLY | OPT_STARTTLS => {
            OptionRequest::Invalid("this option takes no data")
        }
        OPT_INFO | OPT_GO => parse_info(option == OPT_GO, payload),
        OPT_LIST_META_CONTEXT | OPT_SET_META_CONTEXT => {
            parse_meta(option == OPT_SET_META_CONTEXT, payload)
        }
        _ => OptionRequest::Unsupported,
    }
}

/// `NBD_OPT_INFO`/`_GO`: name length, name, item count, items; exactly.
fn parse_info(go: bool, payload: &[u8]) -> OptionRequest {
    let mut r = Reader(payload);
    let Some(name) = r.string() else {
        return OptionRequest::Invalid("bad export name");
    };
    let Some(count) = r.u16() else {
        return OptionRequest::Invalid("missing information request count");
    };
    let mut wanted = InfoWanted::default();
    for _ in 0..count {
        match r.u16() {
            Some(INFO_NAME) => wanted.name = true,
            Some(INFO_DESCRIPTION) => wanted.description = true,
            Some(INFO_BLOCK_SIZE) => wanted.block_size = true,
            Some(_) => {}
            None => return OptionRequest::Invalid("information requests truncated"),
        }
    }
    if !r.0.is_empty() {
        return OptionRequest::Invalid("trailing bytes after information requests");
    }
    OptionRequest::Info { go, name, wanted }
}

/// `NBD_OPT_*_META_CONTEXT`: name, query count, queries; exactly.
fn parse_meta(set: bool, payload: &[u8]) -> OptionRequest {
    let mut r = Reader(payload);
    let Some(name) = r.string() else {
        return OptionRequest::Invalid("bad export name");
    };
    let Some(count) = r.u32() else {
        return OptionRequest::Invalid("missing query count");
    };
    let mut queries = MetaQueries {
        none_sent: count == 0,
        ..MetaQueries::default()
    };
    for _ in 0..count {
        match r.bytes() {
            Some(q) if q.len() > STRING_BYTES_MAX => {
                return OptionRequest::Invalid("query too long")
            }
            Some(BASE_NAMESPACE) => queries.base_wildcard = true,
            Some(BASE_ALLOCATION) => queries.base_allocation = true,
            Some(_) => {}
            None => return OptionRequest::Invalid("queries truncated"),
        }
    }
    if !r.0.is_empty() {
        return OptionRequest::Invalid("trailing bytes after queries");
    }
    OptionRequest::MetaContext { set, name, queries }
}

/// An export name: UTF-8, at most the spec's 4096 bytes.
fn name(bytes: &[u8]) -> Option<String> {
    if bytes.len() > STRING_BYTES_MAX {
        return None;
    }
    String::from_utf8(bytes.to_vec()).ok()
}

/// A cursor over an option payload; every read checks the length left.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    /// A 32-bit length, then that many bytes.
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        self.take(len)
    }

    /// A length-prefixed export name.
    fn string(&mut self) -> Option<String> {
        name(self.bytes()?)
    }
}

/// What `NBD_OPT_INFO`/`_GO` report about an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    /// The canonical name (what `NBD_OPT_LIST` shows).
    pub name: String,
    pub size: u64,
    pub read_only: bool,
}

/// What the transmission phase needs from the negotiation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Session {
    /// Structured replies were negotiated.
    pub structured: bool,
    /// The id of `base:allocation`, if it was selected for this export.
    pub allocation_context: Option<u32>,
}

/// The transmission flags of an export.
pub fn transmission_flags(structured: bool, read_only: bool) -> u16 {
    let mut flags =
        FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_CAN_MULTI_CONN | FLAG_SEND_CACHE;
    if read_only {
        flags |= FLAG_READ_ONLY;
    } else {
        // Zeroing with `may_unmap` deallocates, which is faster than writing.
        flags |= FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES | FLAG_SEND_FAST_ZERO;
    }
    if structured {
        flags |= FLAG_SEND_DF;
    }
    flags
}

/// The export that the empty name (the spec's "default export") means:
/// the only export, when there is exactly one. With several, guessing
/// could hand a client the wrong volume, so there is none.
pub fn default_export(names: &[String]) -> Option<&str> {
    match names {
        [only] => Some(only),
        _ => None,
    }
}

/// The negotiation state of one connection.
#[derive(Debug, Default)]
pub struct Negotiation {
    structured: bool,
    /// The canonical export name `base:allocation` was selected for.
    allocation_for: Option<String>,
}

impl Negotiation {
    /// `NBD_OPT_STRUCTURED_REPLY`: accepted (again, if repeated).
    pub fn structured_reply(&mut self, out: &mut Vec<u8>) {
        self.structured = true;
        put_option_reply(out, OPT_STRUCTURED_REPLY, REP_ACK, &[]);
    }

    /// `NBD_OPT_INFO`/`_GO` for an export that was found.
    pub fn info(&self, option: u32, export: &ExportInfo, wanted: InfoWanted, out: &mut Vec<u8>) {
        let mut item = Vec::with_capacity(14);
        item.put_u16(INFO_EXPORT);
        item.put_u64(export.size);
        item.put_u16(transmission_flags(self.structured, export.read_only));
        put_option_reply(out, option, REP_INFO, &item);
        if wanted.name {
            info_string(out, option, INFO_NAME, &export.name);
        }
        if wanted.description {
            let mode = if export.read_only {
                "read-only"
            } else {
                "read-write"
            };
            info_string(
                out,
                option,
                INFO_DESCRIPTION,
                &format!("cairn volume ({mode})"),
            );
        }
        if wanted.block_size {
            item.clear();
            item.put_u16(INFO_BLOCK_SIZE);
            item.put_u32(BLOCK_SIZE_MIN);
            item.put_u32(BLOCK_SIZE_PREFERRED);
            item.put_u32(PAYLOAD_BYTES_MAX);
            put_option_reply(out, option, REP_INFO, &item);
        }
        put_option_reply(out, option, REP_ACK, &[]);
    }

    /// What transmission of `export` runs with once `NBD_OPT_GO` or
    /// `NBD_OPT_EXPORT_NAME` chose it: the metadata context counts only
    /// if it was selected for this same export.
    pub fn session(&self, export: &str) -> Session {
        let selected = self.structured && self.allocation_for.as_deref() == Some(export);
        Session {
            structured: self.structured,
            allocation_context: selected.then_some(BASE_ALLOCATION_ID),
        }
    }

    /// `NBD_OPT_LIST_META_CONTEXT` / `_SET_` for export `found` (`None`:
    /// it does not exist). Setting replaces the selection even on failure.
    pub fn meta_context(
        &mut self,
        set: bool,
        found: Option<&str>,
        queries: MetaQueries,
        out: &mut Vec<u8>,
    ) {
        let option = if set {
            self.allocation_for = None;
            OPT_SET_META_CONTEXT
        } else {
            OPT_LIST_META_CONTEXT
        };
        if set && !self.structured {
            let msg = b"negotiate structured replies first";
            return put_option_reply(out, option, REP_ERR_INVALID, msg);
        }
        let Some(export) = found else {
            return put_option_reply(out, option, REP_ERR_UNKNOWN, b"no such export");
        };
        let matches = if set {
            queries.base_allocation
        } else {
            queries.none_sent || queries.base_wildcard || queries.base_allocation
        };
        if matches {
            // Listing reports id 0, as the spec recommends.
            let id = if set { BASE_ALLOCATION_ID } else { 0 };
            let mut data = Vec::with_capacity(4 + BASE_ALLOCATION.len());
            data.put_u32(id);
            data.put_slice(BASE_ALLOCATION);
            put_option_reply(out, option, REP_META_CONTEXT, &data);
            if set {
                self.allocation_for = Some(export.to_owned());
            }
        }
        put_option_reply(out, option, REP_ACK, &[]);
    }
}

/// `NBD_OPT_LIST`: one `NBD_REP_SERVER` per export, then an ack.
pub fn list(names: &[String], out: &mut Vec<u8>) {
    for name in names {
        let mut data = Vec::with_capacity(4 + name.len());
        // Names are bounded by the exports; the spec caps them at 4 KiB.
        data.put_u32(name.len() as u32);
        data.put_slice(name.as_bytes());
        put_option_reply(out, OPT_LIST, REP_SERVER, &data);
    }
    put_option_reply(out, OPT_LIST, REP_ACK, &[]);
}

/// An error reply to `option`, with a message for the human.
pub fn error(option: u32, reply_type: u32, message: &str, out: &mut Vec<u8>) {
    let end = floor_char_boundary(message, STRING_BYTES_MAX);
    put_option_reply(out, option, reply_type, &message.as_bytes()[..end]);
}

/// An `NBD_REP_INFO` holding a string item.
fn info_string(out: &mut Vec<u8>, option: u32, kind: u16, s: &str) {
    let end = floor_char_boundary(s, STRING_BYTES_MAX);
    let mut item = Vec::with_capacity(2 + end);
    item.put_u16(kind);
    item.put_slice(&s.as_bytes()[..end]);
    put_option_reply(out, option, REP_INFO, &item);
}

/// The largest index `<= max` that is a char boundary of `s`.
pub(crate) fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go_payload(name: &[u8], items: &[u16]) -> Vec<u8> {
        let mut p = Vec::new();
        p.put_u32(name.len() as u32);
        p.put_slice(name);
        p.put_u16(items.len() as u16);
        for i in items {
            p.put_u16(*i);
        }
        p
    }

    fn meta_payload(name: &[u8], queries: &[&[u8]]) -> Vec<u8> {
        let mut p = Vec::new();
        p.put_u32(name.len() as u32);
        p.put_slice(name);
        p.put_u32(queries.len() as u32);
        for q in queries {
            p.put_u32(q.len() as u32);
            p.put_slice(q);
        }
        p
    }

    /// Splits option replies into (option, type, data).
    fn replies(mut b: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            assert_eq!(&b[..8], &OPTION_REPLY_MAGIC.to_be_bytes());
            let opt = u32::from_be_bytes(b[8..12].try_into().unwrap());
            let kind = u32::from_be_bytes(b[12..16].try_into().unwrap());
            let len = u32::from_be_bytes(b[16..20].try_into().unwrap()) as usize;
            out.push((opt, kind, b[20..20 + len].to_vec()));
            b = &b[20 + len..];
        }
        out
    }

    #[test]
    fn go_decodes_name_and_known_items_and_rejects_bad_lengths() {
        // Checks NBD_OPT_GO's payload layout, unknown items ignored, and
        // that truncated or padded payloads are Invalid.
        let p = go_payload(b"vol", &[INFO_BLOCK_SIZE, 999, INFO_NAME]);
        assert_eq!(
            parse_option(OPT_GO, &p),
            OptionRequest::Info {
                go: true,
                name: "vol".into(),
                wanted: InfoWanted {
                    name: true,
                    description: false,
                    block_size: true
                }
            }
        );
        for cut in 0..p.len() {
            assert!(matches!(
                parse_option(OPT_INFO, &p[..cut]),
                OptionRequest::Invalid(_)
            ));
        }
        let mut padded = p.clone();
        padded.push(0);
        assert!(matches!(
            parse_option(OPT_GO, &padded),
            OptionRequest::Invalid(_)
        ));
        let mut huge_len = p;
        huge_len[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            parse_option(OPT_GO, &huge_len),
            OptionRequest::Invalid(_)
        ));
    }

    #[test]
    fn names_must_be_utf8_and_at_most_4096_bytes() {
        // Checks the spec's string rules on export names.
        assert_eq!(
            parse_option(OPT_EXPORT_NAME, b""),
            OptionRequest::ExportName(String::new())
        );
        assert!(matches!(
            parse_option(OPT_EXPORT_NAME, &[0xff, 0xfe]),
            OptionRequest::Invalid(_)
        ));
        let long = vec![b'a'; STRING_BYTES_MAX + 1];
        assert!(matches!(
            parse_option(OPT_EXPORT_NAME, &long),
            OptionRequest::Invalid(_)
        ));
        assert!(matches!(
            parse_option(OPT_GO, &go_payload(&long, &[])),
            OptionRequest::Invalid(_)
        ));
    }

    #[test]
    fn simple_options_and_unknown_ones() {
        // Checks the data-less options, and that unknown codes are Unsupported.
        assert_eq!(parse_option(OPT_LIST, b""), OptionRequest::List);
        assert!(matches!(
            parse_option(OPT_LIST, b"x"),
            OptionRequest::Invalid(_)
        ));
        assert_eq!(parse_option(OPT_ABORT, b"junk"), OptionRequest::Abort);
        assert_eq!(
            parse_option(OPT_STRUCTURED_REPLY, b""),
            OptionRequest::StructuredReply
        );
        assert_eq!(parse_option(OPT_STARTTLS, b""), OptionRequest::StartTls);
        assert!(matches!(
            parse_option(OPT_STARTTLS, b"x"),
            OptionRequest::Invalid(_)
        ));
        assert_eq!(parse_option(4, b""), OptionRequest::Unsupported);
        assert_eq!(parse_option(11, b""), OptionRequest::Unsupported);
        assert_eq!(parse_option(0xdead, b"abc"), OptionRequest::Unsupported);
    }

    #[test]
    fn meta_queries_match_the_base_namespace_only() {
        // Checks query decoding: base: and base:allocation recognised,
        // other namespaces ignored, truncation Invalid.
        let p = meta_payload(
            b"v",
            &[b"base:", b"qemu:dirty-bitmap:x", b"base:allocation"],
        );
        assert_eq!(
            parse_option(OPT_LIST_META_CONTEXT, &p),
            OptionRequest::MetaContext {
                set: false,
                name: "v".into(),
                queries: MetaQueries {
                    none_sent: false,
                    base_wildcard: true,
                    base_allocation: true
                }
            }
        );
        assert!(matches!(
            parse_option(OPT_SET_META_CONTEXT, &p[..p.len() - 1]),
            OptionRequest::Invalid(_)
        ));
        let none = meta_payload(b"v", &[]);
        assert!(matches!(
            parse_option(OPT_SET_META_CONTEXT, &none),
            OptionRequest::MetaContext { set: true, queries, .. } if queries.none_sent
        ));
    }

    #[test]
    fn info_reports_export_flags_and_requested_items() {
        // Checks NBD_OPT_GO's replies: INFO_EXPORT with size and flags,
        // then the requested name, description and block sizes, then ACK.
        let mut n = Negotiation::default();
        let mut out = Vec::new();
        n.structured_reply(&mut out);
        out.clear();
        let export = ExportInfo {
            name: "vol".into(),
            size: 1 << 30,
            read_only: false,
        };
        let wanted = InfoWanted {
            name: true,
            description: true,
            block_size: true,
        };
        n.info(OPT_GO, &export, wanted, &mut out);
        let r = replies(&out);
        assert_eq!(r.len(), 5);
        assert!(r.iter().all(|(opt, _, _)| *opt == OPT_GO));
        let flags = transmission_flags(true, false);
        let mut export_item = vec![0, 0];
        export_item.extend_from_slice(&(1u64 << 30).to_be_bytes());
        export_item.extend_from_slice(&flags.to_be_bytes());
        assert_eq!(r[0], (OPT_GO, REP_INFO, export_item));
        assert_eq!(r[1].2, b"\0\x01vol");
        assert_eq!(&r[2].2[..2], &[0, 2]);
        assert_eq!(
            r[3].2,
            [0, 3, 0, 0, 0, 1, 0, 0, 0x10, 0, 0x02, 0, 0, 0].to_vec()
        );
        assert_eq!(r[4], (OPT_GO, REP_ACK, vec![]));
        assert_ne!(flags & FLAG_SEND_DF, 0);
        assert_eq!(flags & FLAG_READ_ONLY, 0);
    }

    #[test]
    fn read_only_exports_advertise_no_writes() {
        // Checks the transmission flags of a read-only export.
        let f = transmission_flags(false, true);
        assert_ne!(f & FLAG_READ_ONLY, 0);
        assert_eq!(
            f & (FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES | FLAG_SEND_DF),
            0
        );
        assert_eq!(f & FLAG_SEND_FAST_ZERO, 0);
    }

    #[test]
    fn set_meta_context_selects_allocation_for_that_export_only() {
        // Checks that base:allocation is selected by SET for one export,
        // counts only for that export, needs structured replies, and that
        // a later failing SET clears the selection.
        let q = MetaQueries {
            base_allocation: true,
            ..MetaQueries::default()
        };
        let mut n = Negotiation::default();
        let mut out = Vec::new();
        n.meta_context(true, Some("a"), q, &mut out);
        assert_eq!(replies(&out)[0].1, REP_ERR_INVALID);
        out.clear();
        n.structured_reply(&mut out);
        out.clear();
        n.meta_context(true, Some("a"), q, &mut out);
        let r = replies(&out);
        assert_eq!(r[0].1, REP_META_CONTEXT);
        assert_eq!(r[0].2[..4], BASE_ALLOCATION_ID.to_be_bytes());
        assert_eq!(&r[0].2[4..], b"base:allocation");
        assert_eq!(r[1].1, REP_ACK);
        assert_eq!(n.session("a").allocation_context, Some(BASE_ALLOCATION_ID));
        assert_eq!(n.session("b").allocation_context, None);
        out.clear();
        n.meta_context(true, None, q, &mut out);
        assert_eq!(replies(&out)[0].1, REP_ERR_UNKNOWN);
        assert_eq!(n.session("a").allocation_context, None);
    }

    #[test]
    fn set_ignores_the_wildcard_and_list_expands_it() {
        // Checks the spec's two readings of "base:": a wildcard when
        // listing, ignored when setting; and an empty list lists all.
        let wildcard = MetaQueries {
            base_wildcard: true,
            ..MetaQueries::default()
        };
        let mut n = Negotiation::default();
        let mut out = Vec::new();
        n.structured_reply(&mut out);
        out.clear();
        n.meta_context(true, Some("a"), wildcard, &mut out);
        assert_eq!(replies(&out), vec![(OPT_SET_META_CONTEXT, REP_ACK, vec![])]);
        assert_eq!(n.session("a").allocation_context, None);
        for q in [
            wildcard,
            MetaQueries {
                none_sent: true,
                ..MetaQueries::default()
            },
        ] {
            out.clear();
            n.meta_context(false, Some("a"), q, &mut out);
            let r = replies(&out);
            assert_eq!(r.len(), 2);
            assert_eq!(r[0].1, REP_META_CONTEXT);
            assert_eq!(&r[0].2[4..], b"base:allocation");
        }
        out.clear();
        n.meta_context(false, Some("a"), MetaQueries::default(), &mut out);
        assert_eq!(
            replies(&out),
            vec![(OPT_LIST_META_CONTEXT, REP_ACK, vec![])]
        );
    }

    #[test]
    fn list_and_default_export() {
        // Checks NBD_OPT_LIST's replies and the default export rule.
        let names = vec!["a".to_string(), "bb".to_string()];
        let mut out = Vec::new();
        list(&names, &mut out);
        let r = replies(&out);
        assert_eq!(r[0], (OPT_LIST, REP_SERVER, b"\0\0\0\x01a".to_vec()));
        assert_eq!(r[1], (OPT_LIST, REP_SERVER, b"\0\0\0\x02bb".to_vec()));
        assert_eq!(r[2], (OPT_LIST, REP_ACK, vec![]));
        assert_eq!(default_export(&names), None);
        assert_eq!(default_export(&names[..1]), Some("a"));
        assert_eq!(default_export(&[]), None);
    }

    #[test]
    fn error_messages_are_cut_at_a_char_boundary() {
        // Checks that a long message is cut to 4096 bytes without
        // splitting a UTF-8 character.
        let msg = "é".repeat(3000);
        let mut out = Vec::new();
        error(OPT_GO, REP_ERR_UNKNOWN, &msg, &mut out);
        let r = replies(&out);
        assert_eq!(r[0].2.len(), 4096);
        assert!(std::str::from_utf8(&r[0].2).is_ok());
    }
}
