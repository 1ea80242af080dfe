//! A minimal iSCSI initiator (RFC 7143), the block benchmark's second
//! transport beside NBD: one session per connection, one connection per
//! session, error recovery level 0, no digests.
//!
//! - [`pdu`]: the PDUs an initiator sends and receives (pure);
//! - [`login`]: the login and its negotiation, with optional CHAP (pure);
//! - [`session`]: the full feature phase — CmdSN window, R2T, Data-In (pure);
//! - [`scsi`]: the commands sent and the sense data received (pure);
//! - [`link`]: the driver of one connection (socket, writer task).
//!
//! It speaks to any RFC 7143 target (Cairn's, Linux's tgtd, LIO) so the
//! same workloads can be compared on reads and writes. Text keys and CHAP
//! responses use `cairn_block::iscsi`'s encoders, which are the same on
//! both sides of a login.

pub mod link;
pub mod login;
pub mod pdu;
pub mod scsi;
pub mod session;

#[cfg(test)]
mod tests;

pub use link::IscsiLink;

use super::link::{Detail, DeviceInfo, OpenSpec};
use crate::error::BenchError;
use cairn_block::iscsi::Credentials;
use login::{LoginConfig, Negotiated, OFFER};
use tokio::net::TcpStream;

/// iSCSI's registered port.
const DEFAULT_PORT: u16 = 3260;
/// The largest LUN flat space addressing reaches.
const LUN_MAX: u16 = 16383;

/// A target and LUN, from `iscsi://host[:port]/target-iqn[/lun]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IscsiAddress {
    /// `host:port`.
    pub authority: String,
    pub target: String,
    pub lun: u16,
    /// One-way CHAP credentials, if the target wants them.
    pub chap: Option<Credentials>,
}

impl IscsiAddress {
    /// Parses `iscsi://host[:port]/target-iqn[/lun]` (port 3260, LUN 0 by default).
    pub fn parse(text: &str) -> Result<IscsiAddress, BenchError> {
        let bad = |why: &str| BenchError::invalid("iSCSI URL", format!("{text:?}: {why}"));
        let rest = text
            .strip_prefix("iscsi://")
            .ok_or_else(|| bad("not iscsi://host[:port]/target-iqn[/lun]"))?;
        let (host_port, path) = rest.split_once('/').ok_or_else(|| bad("no target name"))?;
        if host_port.is_empty() {
            return Err(bad("no host"));
        }
        let (target, lun) = match path.split_once('/') {
            Some((t, "")) => (t, 0),
            Some((t, l)) => (
                t,
                l.parse::<u16>()
                    .ok()
                    .filter(|l| *l <= LUN_MAX)
                    .ok_or_else(|| bad("the LUN is not a number up to 16383"))?,
            ),
            None => (path, 0),
        };
        if target.is_empty() {
            return Err(bad("no target name"));
        }
        let has_port = match host_port.strip_prefix('[') {
            Some(v6) => v6.contains("]:"),
            None => host_port.contains(':'),
        };
        let authority = if has_port {
            host_port.to_owned()
        } else {
            format!("{host_port}:{DEFAULT_PORT}")
        };
        Ok(IscsiAddress {
            authority,
            target: target.to_owned(),
            lun,
            chap: None,
        })
    }

    /// The same target, logging in with one-way CHAP.
    pub fn with_chap(self, user: &str, secret: &str) -> IscsiAddress {
        IscsiAddress {
            chap: Some(Credentials {
                user: user.to_owned(),
                secret: secret.to_owned(),
            }),
            ..self
        }
    }

    /// The URL, without credentials.
    pub fn uri(&self) -> String {
        format!("iscsi://{}/{}/{}", self.authority, self.target, self.lun)
    }
}

/// What the login and the setup commands found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IscsiInfo {
    pub lba_bytes: u32,
    pub negotiated: Negotiated,
}

impl IscsiInfo {
    /// The report's settings of the session.
    pub fn settings(&self) -> serde_json::Value {
        let n = &self.negotiated;
        serde_json::json!({
            "lba_bytes": self.lba_bytes,
            "first_burst_bytes": n.first_burst,
            "max_burst_bytes": n.max_burst,
            "target_max_recv_data_segment_bytes": n.target_mrdsl,
            "immediate_data": n.immediate_data,
            "initial_r2t": n.initial_r2t,
        })
    }
}

/// Connects, logs in, and reads the LUN's size and write protection.
pub async fn open(
    addr: &IscsiAddress,
    spec: OpenSpec,
) -> Result<(IscsiLink, DeviceInfo), BenchError> {
    let step = "iSCSI login";
    let fail = |e: String| BenchError::setup(step, format!("{}: {e}", addr.uri()));
    let connect = TcpStream::connect(&addr.authority);
    let mut stream = match tokio::time::timeout(link::SETUP_TIMEOUT, connect).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(BenchError::setup(
                "connecting to the iSCSI target",
                format!("{}: {e}", addr.authority),
            ))
        }
        Err(_) => {
            return Err(BenchError::setup(
                "connecting to the iSCSI target",
                format!("{}: timed out", addr.authority),
            ))
        }
    };
    let _ = stream.set_nodelay(true);
    let cfg = LoginConfig {
        target_name: addr.target.clone(),
        isid: isid(spec.index),
        chap: addr.chap.clone(),
        offer: OFFER,
    };
    let done = match tokio::time::timeout(link::SETUP_TIMEOUT, link::login(&mut stream, cfg)).await
    {
        Ok(r) => r.map_err(fail)?,
        Err(_) => return Err(fail("no answer within the setup timeout".into())),
    };
    let mut link = IscsiLink::new(stream, &done, pdu::encode_lun(addr.lun), spec);
    let cap = link.read_capacity().await.map_err(fail)?;
    if !spec.block_bytes.is_multiple_of(u64::from(cap.lba_bytes)) {
        return Err(BenchError::invalid(
            "block size",
            format!(
                "a multiple of the LUN's {}-byte logical blocks",
                cap.lba_bytes
            ),
        ));
    }
    let read_only = link.write_protected().await.map_err(fail)?;
    let info = DeviceInfo {
        size_bytes: cap.size_bytes,
        read_only,
        can_flush: true,
        detail: Detail::Iscsi(IscsiInfo {
            lba_bytes: cap.lba_bytes,
            negotiated: *link.session().negotiated(),
        }),
    };
    Ok((link, info))
}

/// A session's ISID: random format (type 10b), a random middle, and the
/// connection's index last, so the sessions of one run never share one
/// (a second login with the same ISID would reinstate, closing the first).
fn isid(index: u16) -> [u8; 6] {
    let r: [u8; 3] = rand::random();
    let i = index.to_be_bytes();
    [0x80, r[0], r[1], r[2], i[0], i[1]]
}

#[cfg(test)]
mod address_tests {
    use super::*;

    #[test]
    fn urls_give_host_port_target_and_lun() {
        // Port 3260 and LUN 0 by default; IPv6 literals; a bad LUN or no target fails.
        let a = IscsiAddress::parse("iscsi://127.0.0.1/iqn.2026-11.io.cairn:vol/1").unwrap();
        assert_eq!(
            (a.authority.as_str(), a.target.as_str(), a.lun),
            ("127.0.0.1:3260", "iqn.2026-11.io.cairn:vol", 1)
        );
        let a = IscsiAddress::parse("iscsi://h:43260/iqn.x:y").unwrap();
        assert_eq!((a.authority.as_str(), a.lun), ("h:43260", 0));
        assert_eq!(a.uri(), "iscsi://h:43260/iqn.x:y/0");
        let a = IscsiAddress::parse("iscsi://[::1]/iqn.x/").unwrap();
        assert_eq!(a.authority, "[::1]:3260");
        assert!(IscsiAddress::parse("iscsi://h/iqn.x/99999").is_err());
        assert!(IscsiAddress::parse("iscsi://h/").is_err());
        assert!(IscsiAddress::parse("iscsi:///iqn.x").is_err());
        assert!(IscsiAddress::parse("nbd://h/x").is_err());
    }

    #[test]
    fn every_connection_gets_its_own_isid() {
        // Random format, the index in the last two bytes.
        let a = isid(0);
        let b = isid(1);
        assert_eq!(a[0], 0x80);
        assert_ne!(a, b);
        assert_eq!(&b[4..], &[0, 1]);
    }
}
