//! Reservations of one logical unit, shared by every I_T nexus: SPC-2
//! RESERVE/RELEASE(6) and SPC-4 persistent reservations (registration,
//! the six reservation types, PREEMPT, CLEAR, and the PR IN reports). A
//! pure state machine: commands in, sense or data out. Registrations live
//! in memory (APTPL is not supported).

use super::sense::{Sense, Status};

/// Persistent reservation types (SPC-4 table 179).
pub mod kind {
    pub const WRITE_EXCLUSIVE: u8 = 1;
    pub const EXCLUSIVE_ACCESS: u8 = 3;
    pub const WE_REGISTRANTS_ONLY: u8 = 5;
    pub const EA_REGISTRANTS_ONLY: u8 = 6;
    pub const WE_ALL_REGISTRANTS: u8 = 7;
    pub const EA_ALL_REGISTRANTS: u8 = 8;
}

/// Upper bound on registrations (one per I_T nexus).
pub const REGISTRATIONS_MAX: usize = 256;

/// How a command touches the medium, for reservation conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Never conflicts (INQUIRY, REPORT LUNS, REQUEST SENSE, PR IN/OUT, ...).
    Always,
    /// Reads the medium or its state.
    Read,
    /// Changes the medium or its state.
    Write,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Registration {
    nexus: String,
    key: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Persistent {
    /// The holder's nexus (meaningless for all-registrants types).
    holder: String,
    kind: u8,
}

/// A failed reservation command: status plus optional sense.
pub type PrError = (Status, Option<Sense>);

const CONFLICT: PrError = (Status::ReservationConflict, None);

fn illegal(s: Sense) -> PrError {
    (Status::CheckCondition, Some(s))
}

/// All reservation state of one logical unit.
#[derive(Debug, Default)]
pub struct Reservations {
    /// SPC-2 reservation holder.
    legacy: Option<String>,
    registrations: Vec<Registration>,
    reservation: Option<Persistent>,
    generation: u32,
}

/// The parameter list of PERSISTENT RESERVE OUT (the basic 24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrOutParams {
    pub key: u64,
    pub sa_key: u64,
    pub aptpl: bool,
}

impl PrOutParams {
    pub fn parse(p: &[u8]) -> Result<PrOutParams, PrError> {
        if p.len() != 24 {
            return Err(illegal(Sense::PARAMETER_LIST_LENGTH));
        }
        if p[20] & 0x0c != 0 {
            // SPEC_I_PT / ALL_TG_PT are not supported.
            return Err(illegal(Sense::invalid_param(20)));
        }
        let u64_at = |i: usize| u64::from_be_bytes(p[i..i + 8].try_into().unwrap_or([0; 8]));
        Ok(PrOutParams {
            key: u64_at(0),
            sa_key: u64_at(8),
            aptpl: p[20] & 0x01 != 0,
        })
    }
}

fn all_registrants(kind: u8) -> bool {
    matches!(kind, kind::WE_ALL_REGISTRANTS | kind::EA_ALL_REGISTRANTS)
}

fn valid_kind(kind: u8) -> bool {
    matches!(kind, 1 | 3 | 5 | 6 | 7 | 8)
}

impl Reservations {
    fn key_of(&self, nexus: &str) -> Option<u64> {
        self.registrations
            .iter()
            .find(|r| r.nexus == nexus)
            .map(|r| r.key)
    }

    fn is_holder(&self, nexus: &str) -> bool {
        match &self.reservation {
            Some(r) if all_registrants(r.kind) => self.key_of(nexus).is_some(),
            Some(r) => r.holder == nexus,
            None => false,
        }
    }

    /// Whether `nexus` may run a command of this access kind now.
    pub fn check(&self, nexus: &str, access: Access) -> Result<(), PrError> {
        if access == Access::Always {
            return Ok(());
        }
        if let Some(h) = &self.legacy {
            return if h == nexus { Ok(()) } else { Err(CONFLICT) };
        }
        let Some(r) = &self.reservation else {
            return Ok(());
        };
        if self.is_holder(nexus) {
            return Ok(());
        }
        let registered = self.key_of(nexus).is_some();
        let allowed = match r.kind {
            kind::WRITE_EXCLUSIVE => access == Access::Read,
            kind::EXCLUSIVE_ACCESS => false,
            kind::WE_REGISTRANTS_ONLY | kind::WE_ALL_REGISTRANTS => {
                registered || access == Access::Read
            }
            _ => registered,
        };
        if allowed {
            Ok(())
        } else {
            Err(CONFLICT)
        }
    }

    /// RESERVE(6).
    pub fn reserve(&mut self, nexus: &str) -> Result<(), PrError> {
        if self.reservation.is_some() || !self.registrations.is_empty() {
            return Err(CONFLICT);
        }
        match &self.legacy {
            Some(h) if h != nexus => Err(CONFLICT),
            _ => {
                self.legacy = Some(nexus.to_owned());
                Ok(())
            }
        }
    }

    /// RELEASE(6): a no-op unless `nexus` holds the reservation.
    pub fn release(&mut self, nexus: &str) -> Result<(), PrError> {
        if self.reservation.is_some() {
            return Err(CONFLICT);
        }
        if self.legacy.as_deref() == Some(nexus) {
            self.legacy = None;
        }
        Ok(())
    }

    /// A LOGICAL UNIT RESET or target reset: SPC-2 reservations go,
    /// persistent ones stay.
    pub fn reset(&mut self) {
        self.legacy = None;
    }

    /// The I_T nexus is gone (its session ended).
    pub fn nexus_lost(&mut self, nexus: &str) {
        if self.legacy.as_deref() == Some(nexus) {
            self.legacy = None;
        }
    }

    /// PERSISTENT RESERVE OUT.
    pub fn out(
        &mut self,
        nexus: &str,
        action: u8,
        scope: u8,
        kind: u8,
        p: PrOutParams,
    ) -> Result<(), PrError> {
        if self.legacy.as_deref().is_some_and(|h| h != nexus) {
            return Err(CONFLICT);
        }
        if p.aptpl {
            return Err(illegal(Sense::invalid_param(20)));
        }
        match action {
            0x00 => self.register(nexus, p, false),
            0x06 => self.register(nexus, p, true),
            0x01 => self.reserve_pr(nexus, scope, kind, p),
            0x02 => self.release_pr(nexus, scope, kind, p),
            0x03 => self.clear(nexus, p),
            0x04 | 0x05 => self.preempt(nexus, scope, kind, p),
            _ => Err(illegal(Sense::invalid_cdb(1, Some(4)))),
        }
    }

    fn register(&mut self, nexus: &str, p: PrOutParams, ignore: bool) -> Result<(), PrError> {
        match self.key_of(nexus) {
            None => {
                if !ignore && p.key != 0 {
                    return Err(CONFLICT);
                }
                if p.sa_key != 0 {
                    if self.registrations.len() >= REGISTRATIONS_MAX {
                        return Err(illegal(Sense::new(
                            super::sense::SenseKey::IllegalRequest,
                            0x55,
                            0x04,
                        )));
                    }
                    self.registrations.push(Registration {
                        nexus: nexus.to_owned(),
                        key: p.sa_key,
                    });
                    self.generation = self.generation.wrapping_add(1);
                }
                Ok(())
            }
            Some(key) => {
                if !ignore && p.key != key {
                    return Err(CONFLICT);
                }
                if p.sa_key == 0 {
                    self.unregister(nexus);
                } else if let Some(r) = self.registrations.iter_mut().find(|r| r.nexus == nexus) {
                    r.key = p.sa_key;
                }
                self.generation = self.generation.wrapping_add(1);
                Ok(())
            }
        }
    }

    fn unregister(&mut self, nexus: &str) {
        self.registrations.retain(|r| r.nexus != nexus);
        let drop_reservation = match &self.reservation {
            Some(r) if all_registrants(r.kind) => self.registrations.is_empty(),
            Some(r) => r.holder == nexus,
            None => false,
        };
        if drop_reservation {
            self.reservation = None;
        }
    }

    fn registered_with(&self, nexus: &str, key: u64) -> Result<(), PrError> {
        match self.key_of(nexus) {
            Some(k) if k == key => Ok(()),
            _ => Err(CONFLICT),
        }
    }

    fn check_scope_kind(scope: u8, kind: u8) -> Result<(), PrError> {
        if scope != 0 {
            return Err(illegal(Sense::invalid_cdb(2, Some(7))));
        }
        if !valid_kind(kind) {
            return Err(illegal(Sense::invalid_cdb(2, Some(3))));
        }
        Ok(())
    }

    fn reserve_pr(
        &mut self,
        nexus: &str,
        scope: u8,
        kind: u8,
        p: PrOutParams,
    ) -> Result<(), PrError> {
        self.registered_with(nexus, p.key)?;
        Self::check_scope_kind(scope, kind)?;
        match &self.reservation {
            None => {
                self.reservation = Some(Persistent {
                    holder: nexus.to_owned(),
                    kind,
                });
                Ok(())
            }
            Some(r) if self.is_holder(nexus) && r.kind == kind => Ok(()),
            Some(_) => Err(CONFLICT),
        }
    }

    fn release_pr(
        &mut self,
        nexus: &str,
        scope: u8,
        kind: u8,
        p: PrOutParams,
    ) -> Result<(), PrError> {
        self.registered_with(nexus, p.key)?;
        let Some(r) = &self.reservation else {
            return Ok(());
        };
        if !self.is_holder(nexus) {
            return Ok(());
        }
        if scope != 0 || r.kind != kind {
            return Err(illegal(Sense::INVALID_RELEASE));
        }
        self.reservation = None;
        Ok(())
    }

    fn clear(&mut self, nexus: &str, p: PrOutParams) -> Result<(), PrError> {
        self.registered_with(nexus, p.key)?;
        self.registrations.clear();
        self.reservation = None;
        self.generation = self.generation.wrapping_add(1);
        Ok(())
    }

    fn preempt(&mut self, nexus: &str, scope: u8, kind: u8, p: PrOutParams) -> Result<(), PrError> {
        self.registered_with(nexus, p.key)?;
        let me = nexus.to_owned();
        match self.reservation.clone() {
            Some(r) if all_registrants(r.kind) && p.sa_key == 0 => {
                Self::check_scope_kind(scope, kind)?;
                self.registrations.retain(|x| x.nexus == me);
                self.reservation = Some(Persistent { holder: me, kind });
            }
            Some(r) if !all_registrants(r.kind) && self.key_of(&r.holder) == Some(p.sa_key) => {
                Self::check_scope_kind(scope, kind)?;
                self.registrations
                    .retain(|x| x.key != p.sa_key || x.nexus == me);
                self.reservation = Some(Persistent { holder: me, kind });
            }
            _ => {
                if p.sa_key == 0 {
                    return Err(illegal(Sense::invalid_param(8)));
                }
                let before = self.registrations.len();
                self.registrations
                    .retain(|x| x.key != p.sa_key || x.nexus == me);
                if self.registrations.len() == before {
                    return Err(CONFLICT);
                }
                if let Some(r) = &self.reservation {
                    if !all_registrants(r.kind) && self.key_of(&r.holder).is_none() {
                        self.reservation = None;
                    }
                }
            }
        }
        self.generation = self.generation.wrapping_add(1);
        Ok(())
    }

    /// PERSISTENT RESERVE IN data for `action`, before cutting to the
    /// allocation length.
    pub fn read(&self, action: u8) -> Result<Vec<u8>, PrError> {
        let mut out = self.generation.to_be_bytes().to_vec();
        match action {
            0x00 => {
                let keys: Vec<u8> = self
                    .registrations
                    .iter()
                    .flat_map(|r| r.key.to_be_bytes())
                    .collect();
                out.extend_from_slice(&(keys.len() as u32).to_be_bytes());
                out.extend(keys);
            }
            0x01 => match &self.reservation {
                None => out.extend_from_slice(&0u32.to_be_bytes()),
                Some(r) => {
                    out.extend_from_slice(&16u32.to_be_bytes());
                    let key = if all_registrants(r.kind) {
                        0
                    } else {
                        self.key_of(&r.holder).unwrap_or(0)
                    };
                    out.extend_from_slice(&key.to_be_bytes());
                    out.extend_from_slice(&[0, 0, 0, 0, 0, r.kind & 0x0f, 0, 0]);
                }
            },
            0x02 => {
                // Length 8; CRH; ALLOW COMMANDS 0; TMV with all six types.
                return Ok(vec![0, 8, 0x10, 0x80, 0xea, 0x01, 0, 0]);
            }
            0x03 => self.full_status(&mut out),
            _ => return Err(illegal(Sense::invalid_cdb(1, Some(4)))),
        }
        Ok(out)
    }

    fn full_status(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        for r in &self.registrations {
            let holder = self.is_holder(&r.nexus) && self.reservation.is_some();
            body.extend_from_slice(&r.key.to_be_bytes());
            body.extend_from_slice(&[0, 0, 0, 0]);
            body.push(u8::from(holder));
            body.push(
                self.reservation
                    .as_ref()
                    .filter(|_| holder)
                    .map_or(0, |x| x.kind & 0x0f),
            );
            body.extend_from_slice(&[0, 0, 0, 0, 0, 1]); // reserved, relative target port 1
            let tid = transport_id(&r.nexus);
            body.extend_from_slice(&(tid.len() as u32).to_be_bytes());
            body.extend(tid);
        }
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend(body);
    }
}

/// iSCSI TransportID (format 01b: initiator port name with ISID).
fn transport_id(nexus: &str) -> Vec<u8> {
    let mut name = nexus.as_bytes().to_vec();
    name.push(0);
    while !name.len().is_multiple_of(4) {
        name.push(0);
    }
    let mut t = vec![0x45, 0];
    t.extend_from_slice(&(name.len() as u16).to_be_bytes());
    t.extend(name);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(key: u64, sa_key: u64) -> PrOutParams {
        PrOutParams {
            key,
            sa_key,
            aptpl: false,
        }
    }

    #[test]
    fn legacy_reserve_blocks_other_nexus_until_release_or_loss() {
        // RESERVE(6) by a conflicts b; b's RELEASE is a no-op; loss of a frees it.
        let mut r = Reservations::default();
        r.reserve("a").unwrap();
        r.reserve("a").unwrap();
        assert_eq!(r.reserve("b"), Err(CONFLICT));
        assert_eq!(r.check("b", Access::Read), Err(CONFLICT));
        assert_eq!(r.check("b", Access::Always), Ok(()));
        r.release("b").unwrap();
        assert_eq!(r.check("b", Access::Read), Err(CONFLICT));
        r.nexus_lost("a");
        r.reserve("b").unwrap();
        r.reset();
        r.reserve("a").unwrap();
    }

    #[test]
    fn access_rules_per_type() {
        // For each type: (registered b reads, writes; unregistered b reads, writes).
        let cases = [
            (kind::EXCLUSIVE_ACCESS, [false, false, false, false]),
            (kind::WRITE_EXCLUSIVE, [true, false, true, false]),
            (kind::EA_REGISTRANTS_ONLY, [true, true, false, false]),
            (kind::WE_REGISTRANTS_ONLY, [true, true, true, false]),
            (kind::EA_ALL_REGISTRANTS, [true, true, false, false]),
            (kind::WE_ALL_REGISTRANTS, [true, true, true, false]),
        ];
        for (k, expect) in cases {
            let mut r = Reservations::default();
            r.out("a", 0x06, 0, 0, params(0, 1)).unwrap();
            r.out("b", 0x06, 0, 0, params(0, 2)).unwrap();
            r.out("a", 0x01, 0, k, params(1, 0)).unwrap();
            assert!(r.check("a", Access::Write).is_ok());
            let got_reg = [
                r.check("b", Access::Read).is_ok(),
                r.check("b", Access::Write).is_ok(),
            ];
            r.out("b", 0x00, 0, 0, params(2, 0)).unwrap();
            let got_unreg = [
                r.check("b", Access::Read).is_ok(),
                r.check("b", Access::Write).is_ok(),
            ];
            assert_eq!([got_reg, got_unreg].concat(), expect, "type {k}");
            r.out("a", 0x02, 0, k, params(1, 0)).unwrap();
            assert!(r.read(0x01).unwrap()[4..8] == [0, 0, 0, 0]);
        }
    }

    #[test]
    fn registration_rules_and_generation() {
        // Wrong keys conflict; register/unregister bump the generation;
        // READ KEYS lists keys.
        let mut r = Reservations::default();
        assert_eq!(r.out("a", 0x00, 0, 0, params(5, 1)), Err(CONFLICT));
        r.out("a", 0x00, 0, 0, params(0, 1)).unwrap();
        assert_eq!(r.out("a", 0x00, 0, 0, params(9, 2)), Err(CONFLICT));
        r.out("a", 0x00, 0, 0, params(1, 2)).unwrap();
        let keys = r.read(0x00).unwrap();
        assert_eq!(&keys[0..4], &2u32.to_be_bytes());
        assert_eq!(&keys[4..8], &8u32.to_be_bytes());
        assert_eq!(&keys[8..16], &2u64.to_be_bytes());
        assert_eq!(r.out("b", 0x01, 0, 1, params(0, 0)), Err(CONFLICT));
        assert_eq!(r.reserve("b"), Err(CONFLICT));
    }

    #[test]
    fn preempt_removes_the_other_registration() {
        // b preempts a's key: a's registration goes, generation moves by one.
        let mut r = Reservations::default();
        r.out("a", 0x06, 0, 0, params(0, 1)).unwrap();
        r.out("b", 0x06, 0, 0, params(0, 2)).unwrap();
        let gen = r.generation;
        r.out("b", 0x04, 0, kind::EXCLUSIVE_ACCESS, params(2, 1))
            .unwrap();
        assert_eq!(r.generation, gen + 1);
        let keys = r.read(0).unwrap();
        assert_eq!(&keys[4..8], &8u32.to_be_bytes());
        assert_eq!(&keys[8..16], &2u64.to_be_bytes());
        assert_eq!(
            r.out("b", 0x04, 0, 1, params(2, 0)),
            Err(illegal(Sense::invalid_param(8)))
        );
    }

    #[test]
    fn release_of_wrong_type_and_ownership_rules() {
        // Releasing with another type is INVALID RELEASE; unregistering the
        // holder drops a single-holder reservation but not an all-registrants one.
        let mut r = Reservations::default();
        r.out("a", 0x06, 0, 0, params(0, 1)).unwrap();
        r.out("b", 0x06, 0, 0, params(0, 2)).unwrap();
        r.out("a", 0x01, 0, kind::WRITE_EXCLUSIVE, params(1, 0))
            .unwrap();
        assert_eq!(
            r.out("a", 0x02, 0, kind::EXCLUSIVE_ACCESS, params(1, 0)),
            Err(illegal(Sense::INVALID_RELEASE))
        );
        r.out("a", 0x00, 0, 0, params(1, 0)).unwrap();
        assert!(r.reservation.is_none());
        r.out("a", 0x06, 0, 0, params(0, 1)).unwrap();
        r.out("a", 0x01, 0, kind::EA_ALL_REGISTRANTS, params(1, 0))
            .unwrap();
        r.out("a", 0x00, 0, 0, params(1, 0)).unwrap();
        assert!(r.reservation.is_some());
        r.out("b", 0x02, 0, kind::EA_ALL_REGISTRANTS, params(2, 0))
            .unwrap();
        assert!(r.reservation.is_none());
        let caps = r.read(0x02).unwrap();
        assert_eq!(caps[1], 8);
        assert!(r.read(0x03).unwrap().len() > 8);
        assert!(r.read(0x04).is_err());
    }
}
