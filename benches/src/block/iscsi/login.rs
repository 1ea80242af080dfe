//! The initiator's login (RFC 7143 §6.3, §13) as a state machine: login
//! responses in, login requests out, the negotiated parameters at the end.
//! Pure; the socket is [`super::link`]'s.
//!
//! Security stage with AuthMethod=None, or one-way CHAP (CHAP_A=5, MD5)
//! when credentials are given; then the operational stage, offering
//! [`OFFER`] and taking what the target answers (numbers: the smaller;
//! InitialR2T: OR; ImmediateData: AND; anything we cannot work with, such
//! as a digest, fails the login). A response continued over several PDUs
//! (C bit) is collected first. Every login is bounded in steps and text.

use super::pdu::{self, Bhs, LoginRequest, LoginResponse, Pdu, Sn, Window};
use cairn_block::iscsi::chap;
use cairn_block::iscsi::text::{self, TextError};
use cairn_block::iscsi::Credentials;

/// Our InitiatorName.
pub const INITIATOR_NAME: &str = "iqn.2026-11.io.cairn:bench";
/// Most login responses one login reads.
pub const LOGIN_STEPS_MAX: u32 = 16;
/// Most text one login response may carry across continued PDUs.
pub const LOGIN_TEXT_MAX: usize = 64 * 1024;

const STAGE_SECURITY: u8 = 0;
const STAGE_OPERATIONAL: u8 = 1;
const STAGE_FULL_FEATURE: u8 = 3;

/// What we propose in the operational stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// Most bytes in one data segment we receive (declared).
    pub max_recv_data_segment: u32,
    pub first_burst: u32,
    pub max_burst: u32,
}

pub const OFFER: Offer = Offer {
    max_recv_data_segment: 262_144,
    first_burst: 262_144,
    max_burst: 1_048_576,
};

/// RFC 7143 defaults, which hold for a key the target does not answer.
const DEFAULT_FIRST_BURST: u32 = 65_536;
const DEFAULT_MAX_BURST: u32 = 262_144;
const DEFAULT_MRDSL: u32 = 8192;
/// The range of data segment and burst lengths (§13).
const LEN_MIN: u32 = 512;
const LEN_MAX: u32 = (1 << 24) - 1;

/// The session's parameters, as negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Most bytes in one data segment the target receives.
    pub target_mrdsl: u32,
    /// Most bytes in one data segment we receive.
    pub our_mrdsl: u32,
    pub first_burst: u32,
    pub max_burst: u32,
    pub immediate_data: bool,
    pub initial_r2t: bool,
}

impl Negotiated {
    /// Before the target answered anything: RFC defaults bounded by our offer.
    fn defaults(offer: &Offer) -> Negotiated {
        Negotiated {
            target_mrdsl: DEFAULT_MRDSL,
            our_mrdsl: offer.max_recv_data_segment,
            first_burst: DEFAULT_FIRST_BURST.min(offer.first_burst),
            max_burst: DEFAULT_MAX_BURST.min(offer.max_burst),
            immediate_data: true,
            initial_r2t: true,
        }
    }
}

/// How a login is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginConfig {
    pub target_name: String,
    pub isid: [u8; 6],
    pub chap: Option<Credentials>,
    pub offer: Offer,
}

/// What a completed login leaves for the full feature phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginDone {
    pub negotiated: Negotiated,
    /// The CmdSN of the first command.
    pub cmd_sn: u32,
    pub exp_stat_sn: u32,
    pub window: Window,
}

/// Why a login failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("the target refused the login: {} (status {class:#04x}/{detail:#04x})", status_text(*.class, *.detail))]
    Refused { class: u8, detail: u8 },
    #[error("the target answered {key}={value}, which this initiator cannot use")]
    Unacceptable { key: String, value: String },
    #[error(
        "the target wants authentication (AuthMethod={0}); give --chap-user and --chap-secret"
    )]
    AuthRequired(String),
    #[error("CHAP: {0}")]
    Chap(&'static str),
    #[error("bad login text from the target: {0}")]
    Text(#[from] TextError),
    #[error("login protocol: {0}")]
    Protocol(&'static str),
}

/// Meanings of the login status classes and details (§11.13.5).
fn status_text(class: u8, detail: u8) -> &'static str {
    match (class, detail) {
        (1, _) => "redirection (not followed)",
        (2, 0x01) => "authentication failed",
        (2, 0x02) => "authorization failure",
        (2, 0x03) => "target not found",
        (2, 0x04) => "target removed",
        (2, 0x05) => "unsupported version",
        (2, 0x06) => "too many connections",
        (2, 0x07) => "missing parameter",
        (2, 0x0a) => "session does not exist",
        (2, _) => "initiator error",
        (3, 0x01) => "service unavailable",
        (3, 0x02) => "out of resources",
        (3, _) => "target error",
        _ => "unknown status",
    }
}

/// The login's answer to one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this request (header and text) and read the next response.
    Send(Bhs, Vec<u8>),
    /// The session is in the full feature phase.
    Done(LoginDone),
}

/// Where CHAP is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chap {
    /// Not used, or AuthMethod offered.
    Idle,
    /// CHAP_A sent, waiting for the challenge.
    AlgorithmSent,
    /// CHAP_N/CHAP_R sent.
    Answered,
}

/// The login state of one connection.
pub struct Login {
    cfg: LoginConfig,
    itt: u32,
    sn: Sn,
    stage: u8,
    chap: Chap,
    steps: u32,
    text: Vec<u8>,
    negotiated: Negotiated,
}

/// The ITT of every login request (one task).
const LOGIN_ITT: u32 = 0;

impl Login {
    /// A login whose first command will carry `cmd_sn`.
    pub fn new(cfg: LoginConfig, cmd_sn: u32) -> Login {
        Login {
            negotiated: Negotiated::defaults(&cfg.offer),
            cfg,
            itt: LOGIN_ITT,
            sn: Sn {
                cmd_sn,
                exp_stat_sn: 0,
            },
            stage: STAGE_SECURITY,
            chap: Chap::Idle,
            steps: 0,
            text: Vec::new(),
        }
    }

    /// The first request: the leading keys and the security stage.
    pub fn start(&mut self) -> (Bhs, Vec<u8>) {
        let method = if self.cfg.chap.is_some() {
            "CHAP"
        } else {
            "None"
        };
        let pairs = [
            ("InitiatorName", INITIATOR_NAME),
            ("SessionType", "Normal"),
            ("TargetName", self.cfg.target_name.as_str()),
            ("AuthMethod", method),
        ];
        // With CHAP the target cannot move on before the exchange.
        let transit = self.cfg.chap.is_none();
        self.request(transit, STAGE_OPERATIONAL, &owned(&pairs))
    }

    fn request(&self, transit: bool, nsg: u8, pairs: &[(String, String)]) -> (Bhs, Vec<u8>) {
        let data = text::encode(pairs);
        let r = LoginRequest {
            transit,
            cont: false,
            csg: self.stage,
            nsg: if transit { nsg } else { 0 },
            isid: self.cfg.isid,
            tsih: 0,
            itt: self.itt,
            cid: 0,
            sn: self.sn,
        };
        (pdu::login_request(&r, data.len()), data)
    }

    /// Handles one login response (header decoded, its text in `data`).
    pub fn on_response(&mut self, p: &Pdu, data: &[u8]) -> Result<Step, LoginError> {
        self.steps += 1;
        if self.steps > LOGIN_STEPS_MAX {
            return Err(LoginError::Protocol("too many login steps"));
        }
        let pdu::Kind::LoginResponse(r) = p.kind else {
            return Err(LoginError::Protocol("a PDU other than a login response"));
        };
        self.check(p, &r)?;
        if let Some(s) = p.stat_sn {
            self.sn.exp_stat_sn = s.wrapping_add(1);
        }
        if self.text.len() + data.len() > LOGIN_TEXT_MAX {
            return Err(LoginError::Protocol("login text too long"));
        }
        self.text.extend_from_slice(data);
        if r.cont {
            // More text follows: ask for it with an empty request.
            return Ok(Step::Send(self.request(false, 0, &[]).0, Vec::new()));
        }
        let pairs = text::parse(&std::mem::take(&mut self.text))?;
        match self.stage {
            STAGE_SECURITY => self.security(&r, &pairs),
            _ => self.operational(&r, &pairs, p.window),
        }
    }

    fn check(&self, p: &Pdu, r: &LoginResponse) -> Result<(), LoginError> {
        if r.status_class != 0 {
            return Err(LoginError::Refused {
                class: r.status_class,
                detail: r.status_detail,
            });
        }
        if p.itt != self.itt || r.isid != self.cfg.isid {
            return Err(LoginError::Protocol("a response to another login"));
        }
        if r.csg != self.stage || r.version_active != 0 {
            return Err(LoginError::Protocol("a response for another stage"));
        }
        if r.transit && r.nsg <= self.stage {
            return Err(LoginError::Protocol("a transition backwards"));
        }
        Ok(())
    }

    fn security(
        &mut self,
        r: &LoginResponse,
        pairs: &[(String, String)],
    ) -> Result<Step, LoginError> {
        let get = |k: &str| pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        if let Some(m) = get("AuthMethod") {
            let want = if self.cfg.chap.is_some() {
                "CHAP"
            } else {
                "None"
            };
            if m != want {
                return Err(LoginError::AuthRequired(m.to_owned()));
            }
        }
        if r.transit {
            if self.cfg.chap.is_some() && self.chap != Chap::Answered {
                return Err(LoginError::Chap("the target skipped authentication"));
            }
            return Ok(self.enter_operational(r.nsg));
        }
        let Some(creds) = self.cfg.chap.clone() else {
            // AuthMethod=None agreed; ask again to move on.
            let (h, d) = self.request(true, STAGE_OPERATIONAL, &[]);
            return Ok(Step::Send(h, d));
        };
        match self.chap {
            Chap::Idle => {
                self.chap = Chap::AlgorithmSent;
                let pairs = owned(&[("CHAP_A", chap::ALGORITHM_MD5)]);
                let (h, d) = self.request(false, 0, &pairs);
                Ok(Step::Send(h, d))
            }
            Chap::AlgorithmSent => {
                let answer = chap_answer(&creds, get("CHAP_A"), get("CHAP_I"), get("CHAP_C"))?;
                self.chap = Chap::Answered;
                let (h, d) = self.request(true, STAGE_OPERATIONAL, &answer);
                Ok(Step::Send(h, d))
            }
            Chap::Answered => Err(LoginError::Chap("the target did not accept the response")),
        }
    }

    /// Moves to the operational stage and offers our keys.
    fn enter_operational(&mut self, nsg: u8) -> Step {
        self.stage = nsg;
        let o = self.cfg.offer;
        let (mrdsl, max_burst, first_burst) = (
            o.max_recv_data_segment.to_string(),
            o.max_burst.to_string(),
            o.first_burst.to_string(),
        );
        let pairs = owned(&[
            ("HeaderDigest", "None"),
            ("DataDigest", "None"),
            ("MaxConnections", "1"),
            ("InitialR2T", "No"),
            ("ImmediateData", "Yes"),
            ("MaxRecvDataSegmentLength", mrdsl.as_str()),
            ("MaxBurstLength", max_burst.as_str()),
            ("FirstBurstLength", first_burst.as_str()),
            ("DefaultTime2Wait", "0"),
            ("DefaultTime2Retain", "0"),
            ("MaxOutstandingR2T", "1"),
            ("DataPDUInOrder", "Yes"),
            ("DataSequenceInOrder", "Yes"),
            ("ErrorRecoveryLevel", "0"),
        ]);
        let (h, d) = self.request(true, STAGE_FULL_FEATURE, &pairs);
        Step::Send(h, d)
    }

    fn operational(
        &mut self,
        r: &LoginResponse,
        pairs: &[(String, String)],
        window: Window,
    ) -> Result<Step, LoginError> {
        let mut answers = Vec::new();
        for (k, v) in pairs {
            if let Some(a) = apply(&mut self.negotiated, &self.cfg.offer, k, v)? {
                answers.push((k.clone(), a));
            }
        }
        if r.transit && r.nsg == STAGE_FULL_FEATURE {
            let mut n = self.negotiated;
            n.first_burst = n.first_burst.min(n.max_burst);
            return Ok(Step::Done(LoginDone {
                negotiated: n,
                cmd_sn: self.sn.cmd_sn,
                exp_stat_sn: self.sn.exp_stat_sn,
                window,
            }));
        }
        if r.transit {
            return Err(LoginError::Protocol(
                "a transition to a stage we did not ask for",
            ));
        }
        let (h, d) = self.request(true, STAGE_FULL_FEATURE, &answers);
        Ok(Step::Send(h, d))
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// CHAP_N and CHAP_R answering the target's CHAP_A/CHAP_I/CHAP_C.
fn chap_answer(
    creds: &Credentials,
    a: Option<&str>,
    i: Option<&str>,
    c: Option<&str>,
) -> Result<Vec<(String, String)>, LoginError> {
    if a != Some(chap::ALGORITHM_MD5) {
        return Err(LoginError::Chap("the target did not choose MD5 (CHAP_A=5)"));
    }
    let id: u8 = i
        .and_then(|i| i.parse().ok())
        .ok_or(LoginError::Chap("no usable CHAP_I"))?;
    let challenge = c
        .and_then(chap::decode_binary)
        .filter(|c| !c.is_empty() && c.len() <= chap::CHALLENGE_MAX)
        .ok_or(LoginError::Chap("no usable CHAP_C"))?;
    let r = chap::encode_hex(&chap::response(id, creds.secret.as_bytes(), &challenge));
    Ok(owned(&[
        ("CHAP_N", creds.user.as_str()),
        ("CHAP_R", r.as_str()),
    ]))
}

fn number(v: &str) -> Option<u32> {
    let n: u64 = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => v.parse().ok()?,
    };
    u32::try_from(n).ok()
}

fn length(k: &str, v: &str) -> Result<u32, LoginError> {
    number(v)
        .filter(|n| (LEN_MIN..=LEN_MAX).contains(n))
        .ok_or_else(|| unacceptable(k, v))
}

fn unacceptable(k: &str, v: &str) -> LoginError {
    LoginError::Unacceptable {
        key: k.to_owned(),
        value: v.to_owned(),
    }
}

/// The values that mean "the default holds" in an answer.
fn is_default_answer(v: &str) -> bool {
    matches!(v, "Reject" | "Irrelevant" | "NotUnderstood")
}

/// Applies one key of an operational-stage response. Returns our answer
/// when the key is the target's own offer (one we did not make).
fn apply(
    n: &mut Negotiated,
    offer: &Offer,
    k: &str,
    v: &str,
) -> Result<Option<String>, LoginError> {
    let declared_or_default = is_default_answer(v);
    match k {
        "HeaderDigest" | "DataDigest" if v != "None" => return Err(unacceptable(k, v)),
        "HeaderDigest" | "DataDigest" => {}
        "MaxRecvDataSegmentLength" => n.target_mrdsl = length(k, v)?,
        "MaxBurstLength" if declared_or_default => {}
        "MaxBurstLength" => n.max_burst = length(k, v)?.min(offer.max_burst),
        "FirstBurstLength" if declared_or_default => {}
        "FirstBurstLength" => n.first_burst = length(k, v)?.min(offer.first_burst),
        "ImmediateData" => n.immediate_data = v == "Yes" || declared_or_default,
        "InitialR2T" => n.initial_r2t = v != "No",
        "MaxOutstandingR2T" if declared_or_default || number(v).is_some_and(|x| x >= 1) => {}
        "ErrorRecoveryLevel" if v == "0" || declared_or_default => {}
        "MaxConnections" if declared_or_default || number(v) == Some(1) => {}
        "MaxOutstandingR2T" | "ErrorRecoveryLevel" | "MaxConnections" => {
            return Err(unacceptable(k, v))
        }
        // OR with our Yes: Yes whatever the target says.
        "DataPDUInOrder" | "DataSequenceInOrder" => {}
        "DefaultTime2Wait" | "DefaultTime2Retain" => {}
        "TargetPortalGroupTag" | "TargetAlias" | "TargetAddress" => {}
        // The target's own offers, which we must answer.
        "IFMarker" | "OFMarker" => return Ok(Some("No".to_owned())),
        "IFMarkInt" | "OFMarkInt" => return Ok(Some("Irrelevant".to_owned())),
        _ => return Ok(Some("NotUnderstood".to_owned())),
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::iscsi::pdu::{decode, BHS_BYTES};

    const ISID: [u8; 6] = [0x80, 1, 2, 3, 0, 0];

    fn config(chap: Option<Credentials>) -> LoginConfig {
        LoginConfig {
            target_name: "iqn.2026-11.io.cairn:vol".into(),
            isid: ISID,
            chap,
            offer: OFFER,
        }
    }

    /// A login response from the target, `text` with `;` for NUL.
    fn response(transit: bool, cont: bool, csg: u8, nsg: u8, text: &str) -> (Pdu, Vec<u8>) {
        let mut b = [0u8; BHS_BYTES];
        b[0] = pdu::op::LOGIN_RESPONSE;
        b[1] = (u8::from(transit) << 7) | (u8::from(cont) << 6) | (csg << 2) | nsg;
        b[8..14].copy_from_slice(&ISID);
        b[14..16].copy_from_slice(&9u16.to_be_bytes());
        b[24..28].copy_from_slice(&40u32.to_be_bytes());
        b[28..32].copy_from_slice(&1u32.to_be_bytes());
        b[32..36].copy_from_slice(&64u32.to_be_bytes());
        let data = text.replace(';', "\0").into_bytes();
        b[5..8].copy_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        (decode(&b, 65536).unwrap(), data)
    }

    fn pairs(data: &[u8]) -> Vec<(String, String)> {
        text::parse(data).unwrap()
    }

    fn send(step: Step) -> (Bhs, Vec<(String, String)>) {
        match step {
            Step::Send(h, d) => (h, pairs(&d)),
            Step::Done(d) => panic!("done early: {d:?}"),
        }
    }

    #[test]
    fn a_login_without_chap_negotiates_and_takes_the_smaller_values() {
        // Security stage with AuthMethod=None, then our offers; the target's
        // smaller bursts, its MRDSL and InitialR2T=Yes win; DataDigest must be None.
        let mut l = Login::new(config(None), 1);
        let (h, data) = l.start();
        let first = pairs(&data);
        assert_eq!(h[1], 0x80 | 1, "T=1, CSG=0, NSG=1");
        assert!(first.contains(&("AuthMethod".into(), "None".into())));
        assert!(first.contains(&("InitiatorName".into(), INITIATOR_NAME.into())));
        let (p, d) = response(true, false, 0, 1, "AuthMethod=None;TargetPortalGroupTag=1;");
        let (h, offer) = send(l.on_response(&p, &d).unwrap());
        assert_eq!(h[1], 0x80 | (1 << 2) | 3, "T=1, CSG=1, NSG=3");
        assert!(offer.contains(&("MaxBurstLength".into(), "1048576".into())));
        assert!(offer.contains(&("InitialR2T".into(), "No".into())));
        assert_eq!(u32::from_be_bytes(h[28..32].try_into().unwrap()), 41);
        let (p, d) = response(
            true,
            false,
            1,
            3,
            "HeaderDigest=None;DataDigest=None;InitialR2T=Yes;ImmediateData=Yes;\
             MaxBurstLength=262144;FirstBurstLength=65536;MaxRecvDataSegmentLength=8192;\
             MaxOutstandingR2T=1;ErrorRecoveryLevel=0;DataPDUInOrder=Yes;",
        );
        let Step::Done(done) = l.on_response(&p, &d).unwrap() else {
            panic!()
        };
        assert_eq!(
            done.negotiated,
            Negotiated {
                target_mrdsl: 8192,
                our_mrdsl: 262_144,
                first_burst: 65536,
                max_burst: 262_144,
                immediate_data: true,
                initial_r2t: true,
            }
        );
        assert_eq!((done.cmd_sn, done.exp_stat_sn), (1, 41));
        assert_eq!(done.window.max_cmd_sn, 64);
    }

    #[test]
    fn continued_text_is_collected_and_target_offers_are_answered() {
        // A response split by the C bit is read whole; a key the target offers
        // itself gets an answer in a further request; unknown keys NotUnderstood.
        let mut l = Login::new(config(None), 1);
        l.start();
        let (p, d) = response(true, false, 0, 1, "AuthMethod=None;");
        send(l.on_response(&p, &d).unwrap());
        let (p, d) = response(false, true, 1, 0, "MaxBurstLength=52");
        let (h, empty) = send(l.on_response(&p, &d).unwrap());
        assert!(empty.is_empty());
        assert_eq!(h[1] & 0xc0, 0, "neither T nor C");
        let (p, d) = response(
            false,
            false,
            1,
            0,
            "4288;IFMarker=Yes;X-vendor=1;InitialR2T=No;",
        );
        let (_, answers) = send(l.on_response(&p, &d).unwrap());
        assert_eq!(
            answers,
            vec![
                ("IFMarker".to_owned(), "No".to_owned()),
                ("X-vendor".to_owned(), "NotUnderstood".to_owned())
            ]
        );
        let (p, d) = response(true, false, 1, 3, "FirstBurstLength=1048576;");
        let Step::Done(done) = l.on_response(&p, &d).unwrap() else {
            panic!()
        };
        let n = done.negotiated;
        assert_eq!((n.max_burst, n.first_burst), (524_288, 262_144));
        assert!(!n.initial_r2t && n.immediate_data);
        assert_eq!(n.target_mrdsl, DEFAULT_MRDSL);
    }

    #[test]
    fn digests_refusals_and_required_auth_fail_the_login() {
        // DataDigest=CRC32C is unusable; a refused login names its status; a target that wants CHAP says so.
        let mut l = Login::new(config(None), 1);
        l.start();
        let (p, d) = response(true, false, 0, 1, "AuthMethod=None;");
        send(l.on_response(&p, &d).unwrap());
        let (p, d) = response(true, false, 1, 3, "DataDigest=CRC32C;");
        assert!(matches!(
            l.on_response(&p, &d),
            Err(LoginError::Unacceptable { .. })
        ));
        let mut l = Login::new(config(None), 1);
        l.start();
        let (mut p, d) = response(false, false, 0, 0, "");
        if let pdu::Kind::LoginResponse(r) = &mut p.kind {
            r.status_class = 2;
            r.status_detail = 3;
        }
        let e = l.on_response(&p, &d).unwrap_err();
        assert!(e.to_string().contains("target not found"), "{e}");
        let mut l = Login::new(config(None), 1);
        l.start();
        let (p, d) = response(false, false, 0, 0, "AuthMethod=Reject;");
        assert!(matches!(
            l.on_response(&p, &d),
            Err(LoginError::AuthRequired(_))
        ));
    }

    #[test]
    fn chap_answers_the_challenge_with_md5() {
        // AuthMethod=CHAP, then CHAP_A=5, then CHAP_N and CHAP_R = MD5(id, secret, challenge).
        let creds = Credentials {
            user: "bench".into(),
            secret: "0123456789ab".into(),
        };
        let mut l = Login::new(config(Some(creds.clone())), 1);
        let (h, data) = l.start();
        assert_eq!(h[1] & 0x80, 0, "no transit before CHAP");
        assert!(pairs(&data).contains(&("AuthMethod".into(), "CHAP".into())));
        let (p, d) = response(false, false, 0, 0, "AuthMethod=CHAP;");
        let (_, a) = send(l.on_response(&p, &d).unwrap());
        assert_eq!(a, vec![("CHAP_A".to_owned(), "5".to_owned())]);
        let (p, d) = response(false, false, 0, 0, "CHAP_A=5;CHAP_I=7;CHAP_C=0x0102030405;");
        let (h, r) = send(l.on_response(&p, &d).unwrap());
        assert_eq!(h[1], 0x80 | 1);
        let expected = chap::response(7, b"0123456789ab", &[1, 2, 3, 4, 5]);
        assert_eq!(
            r,
            vec![
                ("CHAP_N".to_owned(), "bench".to_owned()),
                ("CHAP_R".to_owned(), chap::encode_hex(&expected))
            ]
        );
        let (p, d) = response(true, false, 0, 1, "");
        let (h, _) = send(l.on_response(&p, &d).unwrap());
        assert_eq!(h[1] & 0x0c, 1 << 2, "now in the operational stage");
        let mut l = Login::new(config(Some(creds)), 1);
        l.start();
        let (p, d) = response(true, false, 0, 1, "AuthMethod=CHAP;");
        assert!(matches!(l.on_response(&p, &d), Err(LoginError::Chap(_))));
    }
}
