//! iSCSI text: `key=value` pairs separated by NULs (RFC 7143 §6), and the
//! negotiation of the operational keys (§13): numeric minimum/maximum,
//! boolean AND/OR, list selection, and the `Reject` / `Irrelevant` /
//! `NotUnderstood` answers.

/// Longest key name (RFC 7143 §6.1).
pub const KEY_MAX: usize = 63;
/// Longest value we accept (the RFC's 8192 for long values).
pub const VALUE_MAX: usize = 8192;
/// Most pairs in one negotiation.
pub const PAIRS_MAX: usize = 256;

/// Why text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("a pair without '='")]
    NoEquals,
    #[error("bad key")]
    BadKey,
    #[error("value too long")]
    ValueTooLong,
    #[error("too many keys")]
    TooMany,
    #[error("key {0} sent twice")]
    Duplicate(String),
    #[error("text is not UTF-8")]
    NotUtf8,
}

/// Parses NUL-separated `key=value` pairs (a missing final NUL is allowed;
/// empty strings are skipped).
pub fn parse(data: &[u8]) -> Result<Vec<(String, String)>, TextError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for item in data.split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let item = std::str::from_utf8(item).map_err(|_| TextError::NotUtf8)?;
        let (k, v) = item.split_once('=').ok_or(TextError::NoEquals)?;
        let key_ok = !k.is_empty()
            && k.len() <= KEY_MAX
            && k.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".-+@_".contains(&c));
        if !key_ok {
            return Err(TextError::BadKey);
        }
        if v.len() > VALUE_MAX {
            return Err(TextError::ValueTooLong);
        }
        if out.iter().any(|(x, _)| x == k) {
            return Err(TextError::Duplicate(k.to_owned()));
        }
        if out.len() >= PAIRS_MAX {
            return Err(TextError::TooMany);
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

/// Encodes pairs as NUL-terminated `key=value` strings.
pub fn encode(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// The operational parameters of a session, as negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub header_digest: bool,
    pub data_digest: bool,
    /// What the initiator can receive in one data segment.
    pub initiator_mrdsl: u32,
    /// What we receive in one data segment (we declare it).
    pub target_mrdsl: u32,
    pub max_burst: u32,
    pub first_burst: u32,
    pub initial_r2t: bool,
    pub immediate_data: bool,
    pub max_outstanding_r2t: u32,
    pub default_time2wait: u32,
    pub default_time2retain: u32,
}

/// Our side of the negotiation: the most we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_recv_data_segment: u32,
    pub max_burst: u32,
    pub first_burst: u32,
    /// Whether we accept CRC32C digests.
    pub digests: bool,
}

impl Params {
    /// RFC 7143 defaults, with our declared receive length.
    pub fn defaults(limits: &Limits) -> Params {
        Params {
            header_digest: false,
            data_digest: false,
            initiator_mrdsl: 8192,
            target_mrdsl: limits.max_recv_data_segment,
            max_burst: 262_144.min(limits.max_burst),
            first_burst: 65_536.min(limits.first_burst),
            initial_r2t: true,
            immediate_data: true,
            max_outstanding_r2t: 1,
            default_time2wait: 2,
            default_time2retain: 20,
        }
    }
}

/// The answer to one offered key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Reply with this value.
    Value(String),
    /// A key we do not answer (declarations we only note).
    Silent,
}

fn number(v: &str, lo: u32, hi: u32) -> Option<u32> {
    let n: u64 = if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()?
    } else {
        v.parse().ok()?
    };
    let n = u32::try_from(n).ok()?;
    (lo..=hi).contains(&n).then_some(n)
}

fn boolean(v: &str) -> Option<bool> {
    match v {
        "Yes" => Some(true),
        "No" => Some(false),
        _ => None,
    }
}

fn yes_no(b: bool) -> String {
    if b { "Yes" } else { "No" }.to_owned()
}

const LEN_MAX: u32 = (1 << 24) - 1;

/// Negotiates one operational key offered by the initiator, updating `p`.
/// Keys of the security stage or the session type are not handled here.
pub fn negotiate(key: &str, value: &str, p: &mut Params, limits: &Limits) -> Answer {
    let reject = || Answer::Value("Reject".to_owned());
    match key {
        "HeaderDigest" | "DataDigest" => {
            let pick = value
                .split(',')
                .find(|v| *v == "None" || (limits.digests && *v == "CRC32C"));
            let Some(pick) = pick else { return reject() };
            let on = pick == "CRC32C";
            if key == "HeaderDigest" {
                p.header_digest = on;
            } else {
                p.data_digest = on;
            }
            Answer::Value(pick.to_owned())
        }
        "MaxRecvDataSegmentLength" => match number(value, 512, LEN_MAX) {
            Some(n) => {
                p.initiator_mrdsl = n;
                Answer::Silent
            }
            None => reject(),
        },
        "MaxBurstLength" => match number(value, 512, LEN_MAX) {
            Some(n) => {
                p.max_burst = n.min(limits.max_burst);
                p.first_burst = p.first_burst.min(p.max_burst);
                Answer::Value(p.max_burst.to_string())
            }
            None => reject(),
        },
        "FirstBurstLength" => match number(value, 512, LEN_MAX) {
            Some(n) => {
                p.first_burst = n.min(limits.first_burst).min(p.max_burst);
                Answer::Value(p.first_burst.to_string())
            }
            None => reject(),
        },
        "InitialR2T" => match boolean(value) {
            // OR: Yes if either side says Yes; we are content with No.
            Some(b) => {
                p.initial_r2t = b;
                Answer::Value(yes_no(b))
            }
            None => reject(),
        },
        "ImmediateData" => match boolean(value) {
            // AND: we say Yes, so the initiator's value wins.
            Some(b) => {
                p.immediate_data = b;
                Answer::Value(yes_no(b))
            }
            None => reject(),
        },
        "DataPDUInOrder" | "DataSequenceInOrder" => match boolean(value) {
            // OR; we only do in-order, so the result is Yes.
            Some(_) => Answer::Value("Yes".to_owned()),
            None => reject(),
        },
        "MaxOutstandingR2T" => match number(value, 1, 65535) {
            // We keep one R2T outstanding per task.
            Some(_) => {
                p.max_outstanding_r2t = 1;
                Answer::Value("1".to_owned())
            }
            None => reject(),
        },
        "MaxConnections" => match number(value, 1, 65535) {
            Some(_) => Answer::Value("1".to_owned()),
            None => reject(),
        },
        "ErrorRecoveryLevel" => match number(value, 0, 2) {
            Some(_) => Answer::Value("0".to_owned()),
            None => reject(),
        },
        "DefaultTime2Wait" => match number(value, 0, 3600) {
            // Maximum of both; we ask for no wait, so the initiator's wins.
            Some(n) => {
                p.default_time2wait = n;
                Answer::Value(n.to_string())
            }
            None => reject(),
        },
        "DefaultTime2Retain" => match number(value, 0, 3600) {
            // ERL 0 keeps no state for reinstatement: ask for none.
            Some(_) => {
                p.default_time2retain = 0;
                Answer::Value("0".to_owned())
            }
            None => reject(),
        },
        "IFMarker" | "OFMarker" => Answer::Value("No".to_owned()),
        "IFMarkInt" | "OFMarkInt" => Answer::Value("Irrelevant".to_owned()),
        "InitiatorAlias" => Answer::Silent,
        "TaskReporting" => Answer::Value("RFC3720".to_owned()),
        "iSCSIProtocolLevel" => Answer::Value("0".to_owned()),
        _ => Answer::Value("NotUnderstood".to_owned()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The limits the negotiation tests (here and in `login`) run with.
    pub(crate) const LIMITS: Limits = Limits {
        max_recv_data_segment: 262_144,
        max_burst: 1 << 20,
        first_burst: 262_144,
        digests: true,
    };

    #[test]
    fn parses_pairs_and_rejects_malformed_text() {
        // Pairs split on NULs; missing '=', duplicates and bad keys fail.
        let p = parse(b"InitiatorName=iqn.x\0SessionType=Normal\0\0").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1], ("SessionType".into(), "Normal".into()));
        assert_eq!(parse(b"a=1\0b"), Err(TextError::NoEquals));
        assert!(matches!(parse(b"a=1\0a=2"), Err(TextError::Duplicate(_))));
        assert_eq!(parse(b"=1"), Err(TextError::BadKey));
        assert_eq!(parse(b"a b=1"), Err(TextError::BadKey));
        assert_eq!(parse(b"a=\xff"), Err(TextError::NotUtf8));
        assert_eq!(encode(&p), b"InitiatorName=iqn.x\0SessionType=Normal\0");
    }

    #[test]
    fn numeric_keys_take_the_minimum_and_bound_first_burst() {
        // MaxBurstLength and FirstBurstLength are capped by ours and each other.
        let mut p = Params::defaults(&LIMITS);
        assert_eq!(
            negotiate("MaxBurstLength", "16776192", &mut p, &LIMITS),
            Answer::Value("1048576".into())
        );
        assert_eq!(
            negotiate("FirstBurstLength", "999999999", &mut p, &LIMITS),
            Answer::Value("Reject".into())
        );
        assert_eq!(
            negotiate("FirstBurstLength", "8388608", &mut p, &LIMITS),
            Answer::Value("262144".into())
        );
        negotiate("MaxBurstLength", "4096", &mut p, &LIMITS);
        assert_eq!(p.first_burst, 4096);
        assert_eq!(
            negotiate("MaxRecvDataSegmentLength", "65536", &mut p, &LIMITS),
            Answer::Silent
        );
        assert_eq!(p.initiator_mrdsl, 65536);
        assert_eq!(
            negotiate("MaxRecvDataSegmentLength", "12", &mut p, &LIMITS),
            Answer::Value("Reject".into())
        );
    }

    #[test]
    fn booleans_lists_and_unknown_keys() {
        // InitialR2T=No is accepted, ImmediateData follows the initiator,
        // digests pick the first value we support, unknown keys are NotUnderstood.
        let mut p = Params::defaults(&LIMITS);
        assert_eq!(
            negotiate("InitialR2T", "No", &mut p, &LIMITS),
            Answer::Value("No".into())
        );
        assert!(!p.initial_r2t);
        assert_eq!(
            negotiate("ImmediateData", "No", &mut p, &LIMITS),
            Answer::Value("No".into())
        );
        assert_eq!(
            negotiate("HeaderDigest", "CRC32C,None", &mut p, &LIMITS),
            Answer::Value("CRC32C".into())
        );
        assert!(p.header_digest);
        let no_digests = Limits {
            digests: false,
            ..LIMITS
        };
        assert_eq!(
            negotiate("DataDigest", "CRC32C,None", &mut p, &no_digests),
            Answer::Value("None".into())
        );
        assert_eq!(
            negotiate("DataDigest", "CRC32C", &mut p, &no_digests),
            Answer::Value("Reject".into())
        );
        assert_eq!(
            negotiate("X-com.example.thing", "1", &mut p, &LIMITS),
            Answer::Value("NotUnderstood".into())
        );
        assert_eq!(
            negotiate("ErrorRecoveryLevel", "2", &mut p, &LIMITS),
            Answer::Value("0".into())
        );
        assert_eq!(
            negotiate("InitialR2T", "Maybe", &mut p, &LIMITS),
            Answer::Value("Reject".into())
        );
    }
}
