//! The TLS rule of option haggling as pure logic: which options a
//! connection may use before and after `NBD_OPT_STARTTLS`, per the
//! server's [`TlsMode`]. The spec's FORCEDTLS mode is `Require`: before
//! TLS, every option but `STARTTLS` and `ABORT` is refused with
//! `NBD_REP_ERR_TLS_REQD`, and `NBD_OPT_EXPORT_NAME` (which cannot be
//! refused) closes the connection.

use super::options::OptionRequest;
use super::proto::*;

/// Whether the server takes plain connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS: `NBD_OPT_STARTTLS` is unsupported.
    #[default]
    Off,
    /// Every export only over TLS with a client certificate.
    Require,
}

/// What to do with an option, before the usual handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it as usual.
    Pass,
    /// Acknowledge it, then run the TLS handshake on the socket.
    StartTls,
    /// Answer with this error reply.
    Refuse {
        reply_type: u32,
        message: &'static str,
    },
    /// Close the connection without a reply.
    Close,
}

/// The TLS state of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsGate {
    mode: TlsMode,
    encrypted: bool,
}

impl TlsGate {
    pub fn new(mode: TlsMode) -> TlsGate {
        TlsGate {
            mode,
            encrypted: false,
        }
    }

    /// The TLS handshake succeeded: haggling goes on inside TLS.
    pub fn started(&mut self) {
        self.encrypted = true;
    }

    /// The verdict on option `option`, decoded as `request`.
    pub fn check(&self, option: u32, request: &OptionRequest) -> Verdict {
        let starttls = *request == OptionRequest::StartTls;
        match (self.mode, self.encrypted) {
            (TlsMode::Off, _) if starttls => Verdict::Refuse {
                reply_type: REP_ERR_UNSUP,
                message: "TLS is not configured on this server",
            },
            (TlsMode::Off, _) => Verdict::Pass,
            (TlsMode::Require, true) if starttls => Verdict::Refuse {
                reply_type: REP_ERR_INVALID,
                message: "TLS is already in use",
            },
            (TlsMode::Require, true) => Verdict::Pass,
            (TlsMode::Require, false) if starttls => Verdict::StartTls,
            (TlsMode::Require, false) if option == OPT_EXPORT_NAME => Verdict::Close,
            (TlsMode::Require, false) if option == OPT_ABORT || option == OPT_STARTTLS => {
                Verdict::Pass
            }
            (TlsMode::Require, false) => Verdict::Refuse {
                reply_type: REP_ERR_TLS_REQD,
                message: "this server requires TLS: send NBD_OPT_STARTTLS",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nbd::options::parse_option;

    fn verdict(gate: &TlsGate, option: u32, payload: &[u8]) -> Verdict {
        gate.check(option, &parse_option(option, payload))
    }

    fn tls_reqd(v: Verdict) -> bool {
        matches!(v, Verdict::Refuse { reply_type, .. } if reply_type == REP_ERR_TLS_REQD)
    }

    #[test]
    fn off_passes_everything_and_refuses_starttls_as_unsupported() {
        // Checks the plain server: options as before, STARTTLS unsupported.
        let gate = TlsGate::new(TlsMode::Off);
        for option in [OPT_EXPORT_NAME, OPT_LIST, OPT_GO, OPT_STRUCTURED_REPLY, 99] {
            assert_eq!(verdict(&gate, option, b""), Verdict::Pass);
        }
        assert!(matches!(
            verdict(&gate, OPT_STARTTLS, b""),
            Verdict::Refuse { reply_type, .. } if reply_type == REP_ERR_UNSUP
        ));
    }

    #[test]
    fn require_refuses_all_but_starttls_and_abort_before_tls() {
        // Checks FORCEDTLS before the handshake: TLS_REQD for every
        // option, EXPORT_NAME closes, ABORT and STARTTLS go through (a
        // STARTTLS with data gets its usual INVALID).
        let gate = TlsGate::new(TlsMode::Require);
        for option in [
            OPT_LIST,
            OPT_INFO,
            OPT_GO,
            OPT_STRUCTURED_REPLY,
            OPT_LIST_META_CONTEXT,
            OPT_SET_META_CONTEXT,
            0xdead,
        ] {
            assert!(tls_reqd(verdict(&gate, option, b"")), "option {option}");
            assert!(tls_reqd(verdict(&gate, option, b"junk")), "option {option}");
        }
        assert_eq!(verdict(&gate, OPT_EXPORT_NAME, b"vol"), Verdict::Close);
        assert_eq!(verdict(&gate, OPT_EXPORT_NAME, &[0xff]), Verdict::Close);
        assert_eq!(verdict(&gate, OPT_ABORT, b""), Verdict::Pass);
        assert_eq!(verdict(&gate, OPT_STARTTLS, b""), Verdict::StartTls);
        assert_eq!(
            parse_option(OPT_STARTTLS, b"x"),
            OptionRequest::Invalid("this option takes no data")
        );
        assert_eq!(verdict(&gate, OPT_STARTTLS, b"x"), Verdict::Pass);
    }

    #[test]
    fn require_passes_everything_after_tls_and_refuses_a_second_starttls() {
        // Checks FORCEDTLS inside TLS: options as usual, STARTTLS again
        // is INVALID.
        let mut gate = TlsGate::new(TlsMode::Require);
        gate.started();
        for option in [OPT_EXPORT_NAME, OPT_LIST, OPT_GO, OPT_ABORT, 0xdead] {
            assert_eq!(verdict(&gate, option, b""), Verdict::Pass);
        }
        assert!(matches!(
            verdict(&gate, OPT_STARTTLS, b""),
            Verdict::Refuse { reply_type, .. } if reply_type == REP_ERR_INVALID
        ));
    }
}
