//! The iSCSI target (RFC 7143), serving [`crate::Exports`]: export `v` is
//! target `<iqn prefix>:v`, LUN 0, and its commands go to the transport-
//! independent [`crate::scsi`] command set.
//!
//! - [`pdu`]: header decoding/encoding and framing (pure);
//! - [`text`]: key=value text and operational negotiation (pure);
//! - [`chap`], [`login`]: the login state machine with CHAP (pure);
//! - [`session`]: the full feature phase state machine (pure);
//! - `conn`: the driver of one TCP connection (sockets, tasks);
//! - `server`: the accept loop, [`serve`].
//!
//! Error recovery level 0, one connection per session, digests None or
//! CRC32C, in-order data, one outstanding R2T per task.

pub mod chap;
mod conn;
pub mod login;
pub mod pdu;
mod server;
pub mod session;
pub mod text;

#[cfg(test)]
mod tests;

pub use chap::Credentials;
pub use server::serve;

/// The default IQN prefix of target names.
pub const DEFAULT_IQN_PREFIX: &str = "iqn.2026-11.io.cairn";

/// How the target presents itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// Target names are `<iqn_prefix>:<export name>`.
    pub iqn_prefix: String,
    /// What SendTargets announces as TargetAddress, e.g. `127.0.0.1:3260`.
    pub portal: String,
    /// CHAP the initiator must pass (one-way), if any.
    pub chap: Option<Credentials>,
    /// Credentials the target answers with when the initiator asks for
    /// mutual CHAP.
    pub mutual_chap: Option<Credentials>,
}

impl TargetConfig {
    /// No CHAP, the default prefix, announcing `portal`.
    pub fn new(portal: impl Into<String>) -> TargetConfig {
        TargetConfig {
            iqn_prefix: DEFAULT_IQN_PREFIX.to_owned(),
            portal: portal.into(),
            chap: None,
            mutual_chap: None,
        }
    }

    /// The target name of export `name`.
    pub fn target_name(&self, name: &str) -> String {
        target_name(&self.iqn_prefix, name)
    }

    /// The export a target name names, if it is one of ours.
    pub fn export_of(&self, target_name: &str) -> Option<String> {
        let rest = target_name.strip_prefix(self.iqn_prefix.as_str())?;
        rest.strip_prefix(':')
            .filter(|n| !n.is_empty())
            .map(|n| n.replace(':', "@"))
    }
}

/// `<prefix>:<export>`, with a snapshot export's `@` written as `:` (an
/// IQN allows only letters, digits, `-`, `.` and `:`; volume names use no `:`).
pub fn target_name(prefix: &str, export: &str) -> String {
    format!("{prefix}:{}", export.replace('@', ":"))
}

/// The target portal group tag of our one portal.
pub const TPGT: u16 = 1;
