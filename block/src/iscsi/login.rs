//! The login phase of one connection (RFC 7143 §6.3, §11.12-11.13) as a
//! state machine: login requests in, login responses out. Security
//! negotiation with optional CHAP (one-way required when configured,
//! mutual on the initiator's request), operational negotiation, stage
//! transitions, and the outcome the full feature phase starts from.

use super::chap::{self, Credentials};
use super::pdu::{self, Kind, LoginRequest, OutPdu, Request, Seq};
use super::text::{self, Answer, Limits, Params};
use super::{TargetConfig, TPGT};
use bytes::Bytes;

/// Most text a login may send across continued PDUs.
pub const LOGIN_TEXT_MAX: usize = 64 * 1024;
/// Most login requests on one connection.
pub const LOGIN_STEPS_MAX: u32 = 32;

const STAGE_SECURITY: u8 = 0;
const STAGE_OPERATIONAL: u8 = 1;
const STAGE_FULL_FEATURE: u8 = 3;

/// Login status (class, detail), RFC 7143 §11.13.5.
pub mod status {
    pub const INITIATOR_ERROR: (u8, u8) = (0x02, 0x00);
    pub const AUTH_FAILURE: (u8, u8) = (0x02, 0x01);
    pub const NOT_FOUND: (u8, u8) = (0x02, 0x03);
    pub const UNSUPPORTED_VERSION: (u8, u8) = (0x02, 0x05);
    pub const MISSING_PARAMETER: (u8, u8) = (0x02, 0x07);
    pub const NO_SESSION: (u8, u8) = (0x02, 0x0a);
    pub const TARGET_ERROR: (u8, u8) = (0x03, 0x00);
}

/// What kind of session the login opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKind {
    Discovery,
    /// A normal session to the export of this name.
    Normal(String),
}

/// What a completed login hands to the full feature phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub kind: SessionKind,
    pub initiator_name: String,
    pub isid: [u8; 6],
    pub tsih: u16,
    pub params: Params,
    /// The next StatSN to use.
    pub stat_sn: u32,
    /// The next CmdSN expected.
    pub exp_cmd_sn: u32,
}

/// The login's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this and wait for the next request.
    Reply(OutPdu),
    /// Send this and close the connection.
    Fail(OutPdu),
    /// Send this; the connection is in the full feature phase.
    Done(OutPdu, Outcome),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Auth {
    /// No AuthMethod chosen yet.
    Unchosen,
    /// CHAP chosen, waiting for CHAP_A.
    WaitAlgorithm,
    /// Challenge sent, waiting for CHAP_N / CHAP_R.
    WaitResponse {
        id: u8,
        challenge: Vec<u8>,
    },
    Done,
}

/// The login state of one connection.
pub struct Login {
    config: TargetConfig,
    limits: Limits,
    /// Export names, to check TargetName against.
    exports: Vec<String>,
    tsih: u16,
    /// Window announced in MaxCmdSN.
    window: u32,
    first: Option<LoginRequest>,
    itt: u32,
    stage: u8,
    steps: u32,
    pending_text: Vec<u8>,
    initiator_name: Option<String>,
    kind: Option<SessionKind>,
    auth: Auth,
    params: Params,
    stat_sn: u32,
    exp_cmd_sn: u32,
    tpgt_sent: bool,
    mrdsl_sent: bool,
    /// Where the CHAP identifier and challenge come from.
    random: Box<dyn FnMut() -> (u8, Vec<u8>) + Send>,
}

fn random_challenge() -> (u8, Vec<u8>) {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut c = vec![0u8; chap::CHALLENGE_LEN];
    rng.fill(&mut c[..]);
    (rng.gen(), c)
}

type Failure = (u8, u8);

impl Login {
    /// A login for a new session that will get `tsih`, with `exports` the
    /// names that exist now.
    pub fn new(
        config: TargetConfig,
        limits: Limits,
        exports: Vec<String>,
        tsih: u16,
        window: u32,
    ) -> Login {
        Login {
            config,
            limits,
            exports,
            tsih,
            window,
            first: None,
            itt: 0,
            stage: STAGE_SECURITY,
            steps: 0,
            pending_text: Vec::new(),
            initiator_name: None,
            kind: None,
            auth: Auth::Unchosen,
            params: Params::defaults(&limits),
            stat_sn: 1,
            exp_cmd_sn: 0,
            tpgt_sent: false,
            mrdsl_sent: false,
            random: Box::new(random_challenge),
        }
    }

    /// Replaces the source of CHAP identifiers and challenges (tests).
    pub fn with_random(mut self, f: impl FnMut() -> (u8, Vec<u8>) + Send + 'static) -> Login {
        self.random = Box::new(f);
        self
    }

    fn seq(&mut self) -> Seq {
        let s = Seq {
            stat_sn: self.stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.exp_cmd_sn.wrapping_add(self.window - 1),
        };
        self.stat_sn = self.stat_sn.wrapping_add(1);
        s
    }

    fn response(
        &mut self,
        req: &LoginRequest,
        transit: bool,
        nsg: u8,
        status: Failure,
        text: Vec<u8>,
    ) -> OutPdu {
        let r = pdu::LoginResponse {
            transit,
            csg: req.csg,
            nsg: if transit { nsg } else { 0 },
            isid: req.isid,
            tsih: if transit && nsg == STAGE_FULL_FEATURE {
                self.tsih
            } else {
                0
            },
            itt: self.itt,
            status_class: status.0,
            status_detail: status.1,
        };
        let seq = self.seq();
        pdu::login_response(&r, seq, Bytes::from(text))
    }

    /// A failure response to `req`, closing the login.
    pub fn fail(&mut self, req: &LoginRequest, status: Failure) -> OutPdu {
        self.response(req, false, 0, status, Vec::new())
    }

    /// Handles one PDU of the login phase.
    pub fn on_request(&mut self, r: &Request) -> Step {
        let Kind::Login(req) = &r.kind else {
            // Anything but a login request before the full feature phase.
            let dummy = LoginRequest {
                transit: false,
                cont: false,
                csg: self.stage,
                nsg: 0,
                version_max: 0,
                version_min: 0,
                isid: self.first.map_or([0; 6], |f| f.isid),
                tsih: 0,
                cid: 0,
            };
            return Step::Fail(self.fail(&dummy, status::INITIATOR_ERROR));
        };
        match self.step(req, r) {
            Ok(step) => step,
            Err(status) => Step::Fail(self.fail(req, status)),
        }
    }

    fn step(&mut self, req: &LoginRequest, r: &Request) -> Result<Step, Failure> {
        self.steps += 1;
        if self.steps > LOGIN_STEPS_MAX {
            return Err(status::INITIATOR_ERROR);
        }
        match self.first {
            None => {
                self.first = Some(*req);
                self.itt = r.common.itt;
                self.exp_cmd_sn = r.common.cmd_sn;
                if req.version_min > 0 {
                    return Err(status::UNSUPPORTED_VERSION);
                }
                if req.tsih != 0 {
                    // Adding a connection to a session: MaxConnections=1.
                    return Err(status::NO_SESSION);
                }
            }
            Some(f) if f.isid != req.isid || f.tsih != req.tsih => {
                return Err(status::INITIATOR_ERROR)
            }
            Some(_) => self.itt = r.common.itt,
        }
        if req.csg == 2 || req.csg == STAGE_FULL_FEATURE || req.csg < self.stage {
            return Err(status::INITIATOR_ERROR);
        }
        if req.csg == STAGE_OPERATIONAL && self.stage == STAGE_SECURITY {
            if self.config.chap.is_some() {
                // Authentication is required and was skipped.
                return Err(status::AUTH_FAILURE);
            }
            self.auth = Auth::Done;
            self.stage = STAGE_OPERATIONAL;
        }
        if self.pending_text.len() + r.data.len() > LOGIN_TEXT_MAX {
            return Err(status::INITIATOR_ERROR);
        }
        self.pending_text.extend_from_slice(&r.data);
        if req.cont {
            // More text follows: answer with an empty response.
            return Ok(Step::Reply(self.response(
                req,
                false,
                0,
                (0, 0),
                Vec::new(),
            )));
        }
        let data = std::mem::take(&mut self.pending_text);
        let pairs = text::parse(&data).map_err(|_| status::INITIATOR_ERROR)?;
        let mut reply = Vec::new();
        for (k, v) in &pairs {
            self.key(req, k, v, &mut reply)?;
        }
        self.chap_response(&pairs, &mut reply)?;
        self.finish(req, reply)
    }

    fn push(reply: &mut Vec<(String, String)>, k: &str, v: impl Into<String>) {
        reply.push((k.to_owned(), v.into()));
    }

    fn key(
        &mut self,
        req: &LoginRequest,
        k: &str,
        v: &str,
        reply: &mut Vec<(String, String)>,
    ) -> Result<(), Failure> {
        match k {
            "InitiatorName" => self.initiator_name = Some(v.to_owned()),
            "TargetName" => {
                let name = self
                    .config
                    .export_of(v)
                    .filter(|n| self.exports.iter().any(|e| e == n));
                let Some(name) = name else {
                    return Err(status::NOT_FOUND);
                };
                if self.kind != Some(SessionKind::Discovery) {
                    self.kind = Some(SessionKind::Normal(name.to_owned()));
                }
            }
            "SessionType" => match v {
                "Discovery" => self.kind = Some(SessionKind::Discovery),
                "Normal" => {}
                _ => return Err(status::INITIATOR_ERROR),
            },
            "AuthMethod" => {
                if req.csg != STAGE_SECURITY {
                    return Err(status::INITIATOR_ERROR);
                }
                let want = if self.config.chap.is_some() {
                    "CHAP"
                } else {
                    "None"
                };
                if !v.split(',').any(|m| m == want) {
                    Self::push(reply, k, "Reject");
                    return Err(status::AUTH_FAILURE);
                }
                self.auth = if want == "CHAP" {
                    Auth::WaitAlgorithm
                } else {
                    Auth::Done
                };
                Self::push(reply, k, want);
            }
            "CHAP_A" => {
                if self.auth != Auth::WaitAlgorithm
                    || !v.split(',').any(|a| a == chap::ALGORITHM_MD5)
                {
                    return Err(status::AUTH_FAILURE);
                }
                let (id, challenge) = (self.random)();
                Self::push(reply, k, chap::ALGORITHM_MD5);
                Self::push(reply, "CHAP_I", id.to_string());
                Self::push(reply, "CHAP_C", chap::encode_hex(&challenge));
                self.auth = Auth::WaitResponse { id, challenge };
            }
            // Read together by `chap_response` once the request is parsed.
            "CHAP_N" | "CHAP_R" | "CHAP_I" | "CHAP_C" => {
                if !matches!(self.auth, Auth::WaitResponse { .. }) {
                    return Err(status::AUTH_FAILURE);
                }
            }
            _ if k.starts_with("CHAP_") => return Err(status::AUTH_FAILURE),
            _ => match text::negotiate(k, v, &mut self.params, &self.limits) {
                Answer::Value(a) => Self::push(reply, k, a),
                Answer::Silent => {}
            },
        }
        Ok(())
    }

    /// Checks CHAP_N/CHAP_R (and answers mutual CHAP) once all keys of a
    /// request are in.
    fn chap_response(
        &mut self,
        pairs: &[(String, String)],
        reply: &mut Vec<(String, String)>,
    ) -> Result<(), Failure> {
        let get = |k: &str| pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        let Auth::WaitResponse { id, challenge } = &self.auth else {
            return Ok(());
        };
        let (Some(n), Some(r)) = (get("CHAP_N"), get("CHAP_R")) else {
            return Ok(());
        };
        let Some(creds) = &self.config.chap else {
            return Err(status::AUTH_FAILURE);
        };
        let got = chap::decode_binary(r).ok_or(status::AUTH_FAILURE)?;
        if n != creds.user || !chap::verify(*id, &creds.secret, challenge, &got) {
            return Err(status::AUTH_FAILURE);
        }
        if let (Some(i), Some(c)) = (get("CHAP_I"), get("CHAP_C")) {
            let mutual = mutual_answer(self.config.mutual_chap.as_ref(), i, c, challenge)?;
            reply.extend(mutual);
        } else if get("CHAP_I").is_some() || get("CHAP_C").is_some() {
            return Err(status::AUTH_FAILURE);
        }
        self.auth = Auth::Done;
        Ok(())
    }

    fn finish(
        &mut self,
        req: &LoginRequest,
        mut reply: Vec<(String, String)>,
    ) -> Result<Step, Failure> {
        if self.initiator_name.is_none() {
            return Err(status::MISSING_PARAMETER);
        }
        if self.kind.is_none() {
            return Err(status::MISSING_PARAMETER);
        }
        if !self.tpgt_sent && self.kind != Some(SessionKind::Discovery) {
            Self::push(&mut reply, "TargetPortalGroupTag", TPGT.to_string());
            self.tpgt_sent = true;
        }
        let can_transit = self.auth == Auth::Done;
        let transit = req.transit && can_transit;
        let nsg = match (req.csg, req.nsg) {
            (STAGE_SECURITY, n @ (STAGE_OPERATIONAL | STAGE_FULL_FEATURE)) => n,
            (STAGE_OPERATIONAL, STAGE_FULL_FEATURE) => STAGE_FULL_FEATURE,
            _ if req.transit => return Err(status::INITIATOR_ERROR),
            _ => 0,
        };
        if !self.mrdsl_sent
            && (req.csg == STAGE_OPERATIONAL || (transit && nsg == STAGE_FULL_FEATURE))
        {
            Self::push(
                &mut reply,
                "MaxRecvDataSegmentLength",
                self.limits.max_recv_data_segment.to_string(),
            );
            self.mrdsl_sent = true;
        }
        let resp = self.response(req, transit, nsg, (0, 0), text::encode(&reply));
        if !transit {
            return Ok(Step::Reply(resp));
        }
        self.stage = nsg;
        if nsg != STAGE_FULL_FEATURE {
            return Ok(Step::Reply(resp));
        }
        let outcome = Outcome {
            kind: self.kind.clone().unwrap_or(SessionKind::Discovery),
            initiator_name: self.initiator_name.clone().unwrap_or_default(),
            isid: req.isid,
            tsih: self.tsih,
            params: self.params,
            stat_sn: self.stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
        };
        Ok(Step::Done(resp, outcome))
    }
}

/// The target's answer to an initiator's mutual CHAP challenge.
fn mutual_answer(
    creds: Option<&Credentials>,
    i: &str,
    c: &str,
    ours: &[u8],
) -> Result<Vec<(String, String)>, Failure> {
    let creds = creds.ok_or(status::AUTH_FAILURE)?;
    let id: u8 = i.parse().map_err(|_| status::AUTH_FAILURE)?;
    let challenge = chap::decode_binary(c).ok_or(status::AUTH_FAILURE)?;
    if challenge.is_empty() || challenge.len() > chap::CHALLENGE_MAX || challenge == ours {
        // An echo of our own challenge would let a peer reflect our answer.
        return Err(status::AUTH_FAILURE);
    }
    let r = chap::response(id, creds.secret.as_bytes(), &challenge);
    Ok(vec![
        ("CHAP_N".to_owned(), creds.user.clone()),
        ("CHAP_R".to_owned(), chap::encode_hex(&r)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iscsi::pdu::{op, BHS_LEN};
    use crate::iscsi::text::tests::LIMITS;

    fn request(transit: bool, csg: u8, nsg: u8, text: &str) -> Request {
        let mut b = [0u8; BHS_LEN];
        b[0] = op::LOGIN | 0x40;
        b[1] = (if transit { 0x80 } else { 0 }) | (csg << 2) | nsg;
        b[8..14].copy_from_slice(&[0x80, 0, 0, 0, 0, 1]);
        b[16..20].copy_from_slice(&7u32.to_be_bytes());
        b[24..28].copy_from_slice(&55u32.to_be_bytes());
        let data = text.replace(';', "\0");
        b[5..8].copy_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        pdu::decode(&b, &[], Bytes::from(data)).unwrap()
    }

    fn login(chap: bool) -> Login {
        let mut cfg = TargetConfig::new("127.0.0.1:3260");
        if chap {
            cfg.chap = Some(Credentials {
                user: "u".into(),
                secret: "s3cret-s3cret".into(),
            });
        }
        Login::new(cfg, LIMITS, vec!["vol".into()], 9, 128).with_random(|| (3, vec![0xab; 16]))
    }

    fn reply_text(p: &OutPdu) -> String {
        String::from_utf8_lossy(&p.data).replace('\0', ";")
    }

    const NAMES: &str = "InitiatorName=iqn.i;TargetName=iqn.2026-11.io.cairn:vol;";

    #[test]
    fn operational_login_without_security_completes() {
        // One request CSG=1 -> NSG=3: negotiated keys come back, with
        // TargetPortalGroupTag and our MaxRecvDataSegmentLength; the TSIH is set.
        let mut l = login(false);
        let Step::Done(p, out) = l.on_request(&request(
            true,
            1,
            3,
            &format!("{NAMES}ImmediateData=Yes;MaxBurstLength=65536;"),
        )) else {
            panic!()
        };
        let t = reply_text(&p);
        assert!(t.contains("ImmediateData=Yes;"), "{t}");
        assert!(t.contains("MaxBurstLength=65536;"), "{t}");
        assert!(t.contains("TargetPortalGroupTag=1;"), "{t}");
        assert!(t.contains("MaxRecvDataSegmentLength=262144;"), "{t}");
        assert_eq!(p.header[1], 0x80 | (1 << 2) | 3);
        assert_eq!(u16::from_be_bytes([p.header[14], p.header[15]]), 9);
        assert_eq!(out.kind, SessionKind::Normal("vol".into()));
        assert_eq!(out.params.max_burst, 65536);
        assert_eq!(out.exp_cmd_sn, 55);
    }

    #[test]
    fn unknown_target_and_missing_initiator_fail() {
        // TargetName of no export: "not found"; no InitiatorName: "missing parameter".
        let mut l = login(false);
        let Step::Fail(p) = l.on_request(&request(
            true,
            1,
            3,
            "InitiatorName=i;TargetName=iqn.2026-11.io.cairn:nope;",
        )) else {
            panic!()
        };
        assert_eq!((p.header[36], p.header[37]), status::NOT_FOUND);
        let mut l = login(false);
        let Step::Fail(p) =
            l.on_request(&request(true, 1, 3, "TargetName=iqn.2026-11.io.cairn:vol;"))
        else {
            panic!()
        };
        assert_eq!((p.header[36], p.header[37]), status::MISSING_PARAMETER);
    }

    fn chap_until_challenge(l: &mut Login) {
        let Step::Reply(p) = l.on_request(&request(
            true,
            0,
            1,
            &format!("{NAMES}AuthMethod=CHAP,None;"),
        )) else {
            panic!()
        };
        assert!(reply_text(&p).contains("AuthMethod=CHAP;"));
        assert_eq!(p.header[1] & 0x80, 0, "no transit before authentication");
        let Step::Reply(p) = l.on_request(&request(false, 0, 1, "CHAP_A=5;")) else {
            panic!()
        };
        let t = reply_text(&p);
        assert!(
            t.contains("CHAP_I=3;")
                && t.contains(&format!("CHAP_C={};", chap::encode_hex(&[0xab; 16]))),
            "{t}"
        );
    }

    #[test]
    fn chap_accepts_the_right_response_only() {
        // The MD5 of id, secret and our challenge passes; anything else is
        // an authentication failure.
        let mut l = login(true);
        chap_until_challenge(&mut l);
        let good = chap::encode_hex(&chap::response(3, b"s3cret-s3cret", &[0xab; 16]));
        let Step::Reply(p) =
            l.on_request(&request(true, 0, 1, &format!("CHAP_N=u;CHAP_R={good};")))
        else {
            panic!()
        };
        assert_eq!(p.header[1], 0x80 | 1);
        let Step::Done(..) = l.on_request(&request(true, 1, 3, "")) else {
            panic!()
        };
        let mut l = login(true);
        chap_until_challenge(&mut l);
        let bad = chap::encode_hex(&chap::response(3, b"wrong", &[0xab; 16]));
        let Step::Fail(p) = l.on_request(&request(true, 0, 1, &format!("CHAP_N=u;CHAP_R={bad};")))
        else {
            panic!()
        };
        assert_eq!((p.header[36], p.header[37]), status::AUTH_FAILURE);
    }

    #[test]
    fn chap_cannot_be_skipped_and_mutual_needs_credentials() {
        // Going straight to the operational stage, or asking for mutual CHAP
        // the target has no credentials for, fails authentication.
        let mut l = login(true);
        let Step::Fail(p) = l.on_request(&request(true, 1, 3, NAMES)) else {
            panic!()
        };
        assert_eq!((p.header[36], p.header[37]), status::AUTH_FAILURE);
        let mut l = login(true);
        chap_until_challenge(&mut l);
        let good = chap::encode_hex(&chap::response(3, b"s3cret-s3cret", &[0xab; 16]));
        let Step::Fail(_) = l.on_request(&request(
            true,
            0,
            1,
            &format!("CHAP_N=u;CHAP_R={good};CHAP_I=1;CHAP_C=0x0102;"),
        )) else {
            panic!()
        };
    }

    #[test]
    fn mutual_chap_answers_with_target_credentials() {
        // With mutual credentials the target answers CHAP_N and the MD5 of
        // the initiator's id and challenge under the target secret.
        let mut l = login(true);
        l.config.mutual_chap = Some(Credentials {
            user: "tgt".into(),
            secret: "tgt-secret-12".into(),
        });
        chap_until_challenge(&mut l);
        let good = chap::encode_hex(&chap::response(3, b"s3cret-s3cret", &[0xab; 16]));
        let Step::Reply(p) = l.on_request(&request(
            true,
            0,
            1,
            &format!("CHAP_N=u;CHAP_R={good};CHAP_I=1;CHAP_C=0x0102;"),
        )) else {
            panic!()
        };
        let want = chap::encode_hex(&chap::response(1, b"tgt-secret-12", &[1, 2]));
        assert!(
            reply_text(&p).contains(&format!("CHAP_N=tgt;CHAP_R={want};")),
            "{}",
            reply_text(&p)
        );
    }

    #[test]
    fn discovery_session_needs_no_target_name() {
        // SessionType=Discovery completes without TargetName or TPGT.
        let mut l = login(false);
        let Step::Done(p, out) = l.on_request(&request(
            true,
            1,
            3,
            "InitiatorName=i;SessionType=Discovery;",
        )) else {
            panic!()
        };
        assert_eq!(out.kind, SessionKind::Discovery);
        assert!(!reply_text(&p).contains("TargetPortalGroupTag"));
    }
}
