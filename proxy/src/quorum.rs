//! The PUT quorum coordinator: a state machine that takes replica events and
//! emits commands, so the fan-out driver does I/O and nothing else.
//!
//! A write streams to every primary at once. A replica that fails before its
//! quorum is known is replaced by the next handoff — but only while the body
//! sent so far is still held in the replay window, since the body is never
//! buffered whole. The write is durable once `quorum` replicas acked.

use crate::errors::SwiftError;
use crate::placement::Target;
use cairn_nodeapi::NodeError;
use std::collections::VecDeque;

/// What happened to a replica write (or to the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The replica at `slot`, writing to `target`, stored the object durably.
    Acked { slot: usize, target: Target },
    /// The replica at `slot` failed; its channel is gone.
    Failed {
        slot: usize,
        target: Target,
        error: NodeError,
    },
    /// The body outgrew the replay window: replicas can no longer be replaced.
    ReplayWindowClosed,
    /// The whole body and its end marker were sent to the live replicas.
    BodyEnded,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open a PUT to `target` at `slot`; when `replay`, first send it every
    /// frame sent so far (and the end marker if the body already ended).
    StartPut {
        slot: usize,
        target: Target,
        replay: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Streaming(Target),
    Acked(Target),
    Failed,
}

/// A write that did not reach its quorum, with the tally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumError {
    pub needed: usize,
    pub succeeded: usize,
    pub failures: Vec<(Target, NodeError)>,
}

impl QuorumError {
    /// 202 when a quorum already holds something newer (Swift's answer to an
    /// out-of-date X-Timestamp), 507 when the devices were mostly full, else 503.
    pub fn to_swift(&self) -> Result<(), SwiftError> {
        let count = |f: fn(&NodeError) -> bool| self.failures.iter().filter(|(_, e)| f(e)).count();
        let conflicts = count(|e| matches!(e, NodeError::Conflict { .. }));
        if conflicts > 0 && conflicts + self.succeeded >= self.needed {
            return Ok(());
        }
        let full = count(|e| matches!(e, NodeError::DeviceFull));
        if full > 0 && full * 2 >= self.failures.len() {
            return Err(SwiftError::InsufficientStorage);
        }
        Err(SwiftError::Unavailable(format!(
            "quorum not reached: {} of {} needed: {:?}",
            self.succeeded, self.needed, self.failures
        )))
    }
}

/// The decision, once every replica has answered or quorum became impossible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Durable { acked: Vec<Target> },
    Failed(QuorumError),
}

/// The state machine.
#[derive(Debug)]
pub struct PutCoordinator {
    quorum: usize,
    slots: Vec<Slot>,
    spares: VecDeque<Target>,
    replayable: bool,
    ended: bool,
    failures: Vec<(Target, NodeError)>,
    commands: Vec<Command>,
}

impl PutCoordinator {
    /// Starts a write to every primary.
    pub fn new(primaries: &[Target], handoffs: &[Target], quorum: usize) -> Self {
        assert!(
            quorum >= 1 && quorum <= primaries.len(),
            "quorum {quorum} of {}",
            primaries.len()
        );
        let commands = primaries
            .iter()
            .enumerate()
            .map(|(slot, &target)| Command::StartPut {
                slot,
                target,
                replay: false,
            })
            .collect();
        PutCoordinator {
            quorum,
            slots: primaries.iter().map(|&t| Slot::Streaming(t)).collect(),
            spares: handoffs.iter().copied().collect(),
            replayable: true,
            ended: false,
            failures: Vec::new(),
            commands,
        }
    }

    /// Feeds one event.
    pub fn handle(&mut self, ev: Event) {
        match ev {
            Event::Acked { slot, target } => {
                if self.slots.get(slot) == Some(&Slot::Streaming(target)) {
                    self.slots[slot] = Slot::Acked(target);
                }
            }
            Event::Failed {
                slot,
                target,
                error,
            } => {
                if self.slots.get(slot) != Some(&Slot::Streaming(target)) {
                    return; // a stale report from a replica already replaced
                }
                let replaceable = !matches!(error, NodeError::Conflict { .. });
                self.failures.push((target, error));
                self.slots[slot] = Slot::Failed;
                if replaceable && self.replayable {
                    if let Some(next) = self.spares.pop_front() {
                        self.slots[slot] = Slot::Streaming(next);
                        self.commands.push(Command::StartPut {
                            slot,
                            target: next,
                            replay: true,
                        });
                    }
                }
            }
            Event::ReplayWindowClosed => self.replayable = false,
            Event::BodyEnded => self.ended = true,
        }
    }

    /// The commands produced since the last call.
    pub fn drain_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// Whether the slot's replica is still being written.
    pub fn is_streaming(&self, slot: usize) -> bool {
        matches!(self.slots.get(slot), Some(Slot::Streaming(_)))
    }

    /// Whether the body has ended.
    pub fn ended(&self) -> bool {
        self.ended
    }

    fn acked(&self) -> Vec<Target> {
        self.slots
            .iter()
            .filter_map(|s| match s {
                Slot::Acked(t) => Some(*t),
                _ => None,
            })
            .collect()
    }

    /// The decision, once it is known: durable when every replica answered
    /// and a quorum acked; failed as soon as a quorum is out of reach.
    pub fn outcome(&self) -> Option<Outcome> {
        let acked = self.acked();
        let streaming = self
            .slots
            .iter()
            .filter(|s| matches!(s, Slot::Streaming(_)))
            .count();
        if acked.len() + streaming < self.quorum {
            return Some(Outcome::Failed(self.error(acked.len())));
        }
        if streaming > 0 {
            return None;
        }
        Some(Outcome::Durable { acked })
    }

    /// Whether a quorum of replicas already acked.
    pub fn has_quorum(&self) -> bool {
        self.acked().len() >= self.quorum
    }

    /// Gives up on replicas that have not answered (a timeout).
    pub fn give_up(&mut self) {
        for s in &mut self.slots {
            if let Slot::Streaming(t) = *s {
                self.failures
                    .push((t, NodeError::Unreachable("timed out".into())));
                *s = Slot::Failed;
            }
        }
    }

    fn error(&self, succeeded: usize) -> QuorumError {
        QuorumError {
            needed: self.quorum,
            succeeded,
            failures: self.failures.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_nodeapi::{DeviceId, NodeId};

    fn t(n: u32) -> Target {
        Target {
            node: NodeId(n),
            device: DeviceId(n * 10),
        }
    }

    fn start(slot: usize, n: u32, replay: bool) -> Command {
        Command::StartPut {
            slot,
            target: t(n),
            replay,
        }
    }

    #[test]
    fn all_primaries_ack() {
        // Three acks after the body ended make the write durable on all three.
        let mut c = PutCoordinator::new(&[t(1), t(2), t(3)], &[t(4)], 2);
        assert_eq!(
            c.drain_commands(),
            vec![start(0, 1, false), start(1, 2, false), start(2, 3, false)]
        );
        c.handle(Event::BodyEnded);
        c.handle(Event::Acked {
            slot: 0,
            target: t(1),
        });
        c.handle(Event::Acked {
            slot: 1,
            target: t(2),
        });
        assert_eq!(c.outcome(), None, "waits for the third replica");
        c.handle(Event::Acked {
            slot: 2,
            target: t(3),
        });
        assert_eq!(
            c.outcome(),
            Some(Outcome::Durable {
                acked: vec![t(1), t(2), t(3)]
            })
        );
    }

    #[test]
    fn failed_primary_is_replaced_by_handoff() {
        // A primary failing inside the replay window is replaced by the next handoff, with replay.
        let mut c = PutCoordinator::new(&[t(1), t(2), t(3)], &[t(4), t(5)], 2);
        c.drain_commands();
        c.handle(Event::Failed {
            slot: 1,
            target: t(2),
            error: NodeError::Unreachable("x".into()),
        });
        assert_eq!(c.drain_commands(), vec![start(1, 4, true)]);
        // A late report about the replaced replica is ignored.
        c.handle(Event::Failed {
            slot: 1,
            target: t(2),
            error: NodeError::Corrupt,
        });
        assert!(c.drain_commands().is_empty());
        for (slot, n) in [(0, 1), (1, 4), (2, 3)] {
            c.handle(Event::Acked { slot, target: t(n) });
        }
        assert_eq!(
            c.outcome(),
            Some(Outcome::Durable {
                acked: vec![t(1), t(4), t(3)]
            })
        );
    }

    #[test]
    fn no_replacement_after_window_closes() {
        // Past the replay window a failure only counts; two failures lose the quorum at once.
        let mut c = PutCoordinator::new(&[t(1), t(2), t(3)], &[t(4)], 2);
        c.drain_commands();
        c.handle(Event::ReplayWindowClosed);
        c.handle(Event::Failed {
            slot: 0,
            target: t(1),
            error: NodeError::DeviceFull,
        });
        assert!(c.drain_commands().is_empty());
        assert_eq!(c.outcome(), None);
        c.handle(Event::Failed {
            slot: 2,
            target: t(3),
            error: NodeError::DeviceFull,
        });
        match c.outcome() {
            Some(Outcome::Failed(e)) => {
                assert_eq!((e.needed, e.succeeded, e.failures.len()), (2, 0, 2));
                assert_eq!(e.to_swift(), Err(SwiftError::InsufficientStorage));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn handoffs_run_out() {
        // When handoffs are exhausted, further failures are final.
        let mut c = PutCoordinator::new(&[t(1), t(2), t(3)], &[t(4)], 2);
        c.drain_commands();
        let un = || NodeError::Unreachable("down".into());
        c.handle(Event::Failed {
            slot: 0,
            target: t(1),
            error: un(),
        });
        c.handle(Event::Failed {
            slot: 0,
            target: t(4),
            error: un(),
        });
        c.handle(Event::Failed {
            slot: 1,
            target: t(2),
            error: un(),
        });
        assert_eq!(c.drain_commands(), vec![start(0, 4, true)]);
        match c.outcome() {
            Some(Outcome::Failed(e)) => {
                assert!(matches!(e.to_swift(), Err(SwiftError::Unavailable(_))))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conflicts_mean_accepted_and_are_not_replaced() {
        // A newer version on a quorum is Swift's 202, and no handoff is tried for it.
        let mut c = PutCoordinator::new(&[t(1), t(2), t(3)], &[t(4)], 2);
        c.drain_commands();
        let conflict = || NodeError::Conflict {
            existing: cairn_base::Timestamp::from_secs(9),
        };
        c.handle(Event::Failed {
            slot: 0,
            target: t(1),
            error: conflict(),
        });
        c.handle(Event::Failed {
            slot: 1,
            target: t(2),
            error: conflict(),
        });
        assert!(c.drain_commands().is_empty());
        match c.outcome() {
            Some(Outcome::Failed(e)) => assert_eq!(e.to_swift(), Ok(())),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn give_up_on_silent_replicas() {
        // Replicas that never answer count as failures once the driver gives up.
        let mut c = PutCoordinator::new(&[t(1), t(2), t(3)], &[], 2);
        c.handle(Event::Acked {
            slot: 0,
            target: t(1),
        });
        c.handle(Event::Acked {
            slot: 1,
            target: t(2),
        });
        c.give_up();
        assert_eq!(
            c.outcome(),
            Some(Outcome::Durable {
                acked: vec![t(1), t(2)]
            })
        );
    }
}
