//! The rebalance planner: a pure function from (devices, old assignment, locks) to a new
//! assignment that moves as few partition-replicas as it can.
//!
//! Phases, each keeping the widest spread every partition already has:
//! 1. replicas on removed devices are unassigned (forced, whatever the locks say);
//! 2. movable replicas on weight-0 devices are unassigned (draining);
//! 3. movable replicas that a better failure domain could host are unassigned;
//! 4. unassigned replicas are placed: widest spread first, then the most wanted region,
//!    zone, node and device (wanted = target - assigned);
//! 5. local moves from over-full devices (more than half a replica above target) to
//!    under-full ones (more than half a replica below), each only if it does not narrow
//!    the partition's spread; when none is left, a two-hop move (over -> any -> under)
//!    that the spread rule allows, then direct moves again; when neither is left, single
//!    moves between devices more than one replica apart where one of them is outside
//!    its half-replica band (rounding leftovers). Every step closes a gap of more than
//!    one replica, so the sum of squared excesses falls and this ends; a second
//!    rebalance finds nothing to do.
//!
//! "Movable": the partition is not locked by `min_part_hours` and, when the lock applies,
//! no other replica of it that held data has moved in this rebalance. A replica placed in
//! this rebalance holds no data yet and may move again freely.

use crate::device::{best_spread, spread, Spread};
use crate::hash::mix;
use crate::targets::device_shares;
use crate::Device;

/// An empty slot in the table.
const NONE: u32 = u32::MAX;

/// Bound on the rounds of phase 5; each round visits every over-full device once.
pub const BALANCE_ROUNDS_MAX: usize = 64;

/// Half a replica, plus float noise: a device more than this above its target is
/// over-full, more than this below is under-full.
const HALF: f64 = 0.5 + FLOAT_NOISE;

/// Below this, two replica counts or excesses are equal.
const FLOAT_NOISE: f64 = 1e-9;

/// Slots collected per under-full device as second hops of relay moves. The search
/// depends only on the assignment (not on the round), so a search that failed at the
/// end of one rebalance fails again at the start of the next: rebalancing is stable.
const RELAY_FEEDERS_MAX: usize = 4096;

/// Candidate checks one relay round may spend, so a big ring where no relay exists
/// does not search for long. Deterministic, so stability holds as above.
const RELAY_CHECKS_MAX: usize = 20_000_000;

pub(crate) struct PlanInput<'a> {
    /// Every device of the builder, including those being removed.
    pub devices: &'a [Device],
    /// Indexes (into `devices`) of devices scheduled for removal.
    pub removed: &'a [usize],
    pub replica_count: usize,
    pub part_count: usize,
    /// Previous assignment as device indexes, partition-major; `None` at first build.
    pub old_table: Option<Vec<u32>>,
    /// Per partition: moved too recently to move again (min_part_hours).
    pub locked: Vec<bool>,
    /// At most one data-holding replica per partition moves (min_part_hours > 0).
    pub one_move_per_part: bool,
    pub seed: u64,
}

/// The new assignment, as device indexes, partition-major.
pub(crate) fn plan(input: PlanInput<'_>) -> Vec<u32> {
    let mut p = Planner::new(input);
    p.unassign_removed();
    p.drain_zero_weight();
    p.improve_dispersion();
    p.place_unassigned();
    p.balance();
    p.table
}

struct Planner<'a> {
    devs: &'a [Device],
    active: Vec<bool>,
    removed: Vec<bool>,
    target: Vec<f64>,
    assigned: Vec<f64>,
    /// Per device: index of its region, zone and node in the tier arrays.
    tiers: Vec<[usize; 3]>,
    tier_target: [Vec<f64>; 3],
    tier_assigned: [Vec<f64>; 3],
    table: Vec<u32>,
    fresh: Vec<bool>,
    moved: Vec<bool>,
    locked: Vec<bool>,
    one_move: bool,
    replicas: usize,
    seed: u64,
    /// Checks left in the current relay round.
    relay_budget: usize,
}

impl<'a> Planner<'a> {
    fn new(input: PlanInput<'a>) -> Planner<'a> {
        let PlanInput {
            devices,
            removed,
            replica_count,
            part_count,
            old_table,
            locked,
            one_move_per_part,
            seed,
        } = input;
        let removed_flags: Vec<bool> = (0..devices.len()).map(|i| removed.contains(&i)).collect();
        let active: Vec<bool> = devices
            .iter()
            .zip(&removed_flags)
            .map(|(d, &r)| d.weight > 0.0 && !r)
            .collect();
        let act: Vec<usize> = (0..devices.len()).filter(|&i| active[i]).collect();
        let refs: Vec<&Device> = act.iter().map(|&i| &devices[i]).collect();
        let shares = device_shares(&refs, replica_count);
        let mut target = vec![0.0; devices.len()];
        for (&i, s) in act.iter().zip(shares) {
            target[i] = s * part_count as f64;
        }
        let tiers = tier_indexes(devices);
        let mut tier_target: [Vec<f64>; 3] = Default::default();
        for level in 0..3 {
            let n = tiers.iter().map(|t| t[level] + 1).max().unwrap_or(0);
            tier_target[level] = vec![0.0; n];
            for (i, t) in tiers.iter().enumerate() {
                tier_target[level][t[level]] += target[i];
            }
        }
        let tier_assigned = tier_target.clone().map(|v| vec![0.0; v.len()]);
        let slots = part_count * replica_count;
        let fresh_start = old_table.is_none();
        let mut planner = Planner {
            devs: devices,
            active,
            removed: removed_flags,
            target,
            assigned: vec![0.0; devices.len()],
            tiers,
            tier_target,
            tier_assigned,
            table: vec![NONE; slots],
            fresh: vec![fresh_start; slots],
            moved: vec![false; part_count],
            locked,
            one_move: one_move_per_part,
            replicas: replica_count,
            seed,
            relay_budget: 0,
        };
        if let Some(old) = old_table {
            for (slot, dev) in old.into_iter().enumerate() {
                planner.assign(slot, dev as usize);
            }
        }
        planner
    }

    fn assign(&mut self, slot: usize, dev: usize) {
        debug_assert_eq!(self.table[slot], NONE);
        self.table[slot] = dev as u32;
        self.count(dev, 1.0);
    }

    fn unassign(&mut self, slot: usize) {
        let dev = self.table[slot] as usize;
        self.table[slot] = NONE;
        self.count(dev, -1.0);
    }

    fn count(&mut self, dev: usize, delta: f64) {
        if self.active[dev] {
            self.assigned[dev] += delta;
            for level in 0..3 {
                self.tier_assigned[level][self.tiers[dev][level]] += delta;
            }
        }
    }

    fn can_move(&self, slot: usize) -> bool {
        let part = slot / self.replicas;
        self.fresh[slot] || (!self.locked[part] && !self.moved[part])
    }

    /// Records that `slot` leaves its device in this rebalance.
    fn note_move(&mut self, slot: usize) {
        if !self.fresh[slot] && self.one_move {
            self.moved[slot / self.replicas] = true;
        }
        self.fresh[slot] = true;
    }

    fn slots(&self, part: usize) -> std::ops::Range<usize> {
        part * self.replicas..(part + 1) * self.replicas
    }

    /// Devices holding the other replicas of `slot`'s partition.
    fn others(&self, slot: usize) -> Vec<&'a Device> {
        self.slots(slot / self.replicas)
            .filter(|&s| s != slot && self.table[s] != NONE)
            .map(|s| &self.devs[self.table[s] as usize])
            .collect()
    }

    fn holds(&self, part: usize, dev: usize) -> bool {
        self.slots(part).any(|s| self.table[s] == dev as u32)
    }

    fn excess(&self, dev: usize) -> f64 {
        self.assigned[dev] - self.target[dev]
    }

    fn unassign_removed(&mut self) {
        for slot in 0..self.table.len() {
            let dev = self.table[slot];
            if dev != NONE && self.removed[dev as usize] {
                self.unassign(slot);
                self.note_move(slot);
            }
        }
    }

    fn drain_zero_weight(&mut self) {
        for slot in 0..self.table.len() {
            let dev = self.table[slot];
            if dev != NONE && !self.active[dev as usize] && self.can_move(slot) {
                self.unassign(slot);
                self.note_move(slot);
            }
        }
    }

    fn improve_dispersion(&mut self) {
        let active: Vec<&Device> = (0..self.devs.len())
            .filter(|&i| self.active[i])
            .map(|i| &self.devs[i])
            .collect();
        let best: Vec<_> = (0..=self.replicas)
            .map(|k| best_spread(&active, k))
            .collect();
        for part in 0..self.moved.len() {
            // Each step moves one replica and widens the spread, so R steps suffice.
            for _ in 0..self.replicas {
                if !self.widen(part, &best) {
                    break;
                }
            }
        }
    }

    /// Moves the one replica of `part` whose move widens its spread the most (from the
    /// fullest device on ties). False if none can.
    fn widen(&mut self, part: usize, best: &[Spread]) -> bool {
        let placed: Vec<usize> = self
            .slots(part)
            .filter(|&s| self.table[s] != NONE)
            .collect();
        let now = spread(placed.iter().map(|&s| &self.devs[self.table[s] as usize]));
        if now >= best[placed.len()] {
            return false;
        }
        let mut choice: Option<(usize, Spread, f64)> = None;
        for &slot in &placed {
            if !self.can_move(slot) {
                continue;
            }
            let others = self.others(slot);
            let novelty = (0..self.devs.len())
                .filter(|&d| self.active[d] && !self.holds(part, d))
                .max_by_key(|&d| self.devs[d].novelty(others.iter().copied()));
            let Some(to) = novelty else { continue };
            let after = spread(others.iter().copied().chain([&self.devs[to]]));
            let excess = self.excess(self.table[slot] as usize);
            let better = match choice {
                None => after > now,
                Some((_, a, e)) => after > a || (after == a && excess > e),
            };
            if better {
                choice = Some((slot, after, excess));
            }
        }
        let Some((slot, _, _)) = choice else {
            return false;
        };
        self.unassign(slot);
        self.note_move(slot);
        let dev = self.best_home(slot);
        self.assign(slot, dev);
        true
    }

    fn place_unassigned(&mut self) {
        let mut parts: Vec<(usize, usize)> = (0..self.moved.len())
            .map(|p| (p, self.slots(p).filter(|&s| self.table[s] == NONE).count()))
            .filter(|&(_, n)| n > 0)
            .collect();
        parts.sort_by_key(|&(p, n)| (std::cmp::Reverse(n), mix(self.seed, p as u64)));
        for (part, _) in parts {
            for slot in self.slots(part) {
                if self.table[slot] != NONE {
                    continue;
                }
                let dev = self.best_home(slot);
                self.assign(slot, dev);
            }
        }
    }

    /// The device an empty `slot` should go to: widest spread, then most wanted region,
    /// zone, node and device. There is one: the builder checked that enough devices are
    /// active.
    fn best_home(&self, slot: usize) -> usize {
        let part = slot / self.replicas;
        let others = self.others(slot);
        let mut best: Option<(usize, Key)> = None;
        for d in 0..self.devs.len() {
            if !self.active[d] || self.holds(part, d) {
                continue;
            }
            let key = Key {
                novelty: self.devs[d].novelty(others.iter().copied()),
                wants: self.wants(d),
                tie: mix(self.seed ^ part as u64, u64::from(self.devs[d].id)),
            };
            if best.as_ref().is_none_or(|(_, b)| key.beats(b)) {
                best = Some((d, key));
            }
        }
        let (dev, _) = best.expect("the builder keeps at least replica_count active devices");
        dev
    }

    fn wants(&self, d: usize) -> [f64; 4] {
        let t = self.tiers[d];
        let want = |l: usize| self.tier_target[l][t[l]] - self.tier_assigned[l][t[l]];
        [want(0), want(1), want(2), self.target[d] - self.assigned[d]]
    }

    fn balance(&mut self) {
        for round in 0..BALANCE_ROUNDS_MAX as u64 {
            if !self.balance_round(round) && !self.relay_round() && !self.nudge_round(round) {
                break;
            }
        }
    }

    /// Active devices, most over-full first, with the slots each holds.
    fn over_full(&self) -> (Vec<usize>, Vec<Vec<usize>>) {
        let mut order: Vec<usize> = (0..self.devs.len())
            .filter(|&d| self.active[d] && self.excess(d) > HALF)
            .collect();
        order.sort_by(|&a, &b| self.excess(b).total_cmp(&self.excess(a)));
        let mut by_dev: Vec<Vec<usize>> = vec![Vec::new(); self.devs.len()];
        for (slot, &dev) in self.table.iter().enumerate() {
            if dev != NONE {
                by_dev[dev as usize].push(slot);
            }
        }
        (order, by_dev)
    }

    /// Direct moves from every over-full device to under-full ones; true if any moved.
    fn balance_round(&mut self, round: u64) -> bool {
        let (order, mut by_dev) = self.over_full();
        let mut moved_any = false;
        for dev in order {
            let slots = std::mem::take(&mut by_dev[dev]);
            moved_any |= self.shed(dev, slots, round);
        }
        moved_any
    }

    /// Moves replicas off `dev` while it holds more than half a replica above target,
    /// each to a device more than half a replica below its own target.
    fn shed(&mut self, dev: usize, mut slots: Vec<usize>, round: u64) -> bool {
        slots.sort_by_key(|&s| mix(self.seed ^ round, (s / self.replicas) as u64));
        let mut moved = false;
        // Only moves raise the emptiest device's excess, so recompute it after each.
        let mut least = self.min_excess();
        for slot in slots {
            if self.excess(dev) <= HALF || least >= -HALF {
                break;
            }
            if self.table[slot] != dev as u32 || !self.can_move(slot) {
                continue;
            }
            if let Some(to) = self
                .balance_destination(slot)
                .filter(|&to| self.excess(to) < -HALF)
            {
                self.move_slot(slot, to);
                moved = true;
                least = self.min_excess();
            }
        }
        moved
    }

    fn move_slot(&mut self, slot: usize, to: usize) {
        self.unassign(slot);
        self.note_move(slot);
        self.assign(slot, to);
    }

    /// When no direct move is left: two-hop moves, over-full `x` -> `d` -> under-full
    /// `u`, where the spread rule allows both hops but not `x -> u`; `d` keeps its
    /// count. True if any was made.
    fn relay_round(&mut self) -> bool {
        let mut under: Vec<usize> = (0..self.devs.len())
            .filter(|&d| self.active[d] && self.excess(d) < -HALF)
            .collect();
        under.sort_by(|&a, &b| self.excess(a).total_cmp(&self.excess(b)));
        let (over, by_dev) = self.over_full();
        if over.is_empty() {
            return false;
        }
        let mut moved = false;
        self.relay_budget = RELAY_CHECKS_MAX;
        for u in under {
            let feeders = self.feeders(u);
            for &x in &over {
                moved |= self.relay_via(x, u, &by_dev[x], &feeders);
            }
        }
        moved
    }

    /// Movable slots that could go straight to `u`, grouped by the device holding them.
    fn feeders(&self, u: usize) -> Vec<Vec<usize>> {
        let mut feeders = vec![Vec::new(); self.devs.len()];
        let mut found = 0;
        for (slot, &dev) in self.table.iter().enumerate() {
            if found == RELAY_FEEDERS_MAX {
                break;
            }
            let dev = dev as usize;
            if dev != u
                && self.active.get(dev) == Some(&true)
                && self.can_move(slot)
                && self.fits(slot, u)
            {
                feeders[dev].push(slot);
                found += 1;
            }
        }
        feeders
    }

    fn relay_via(&mut self, x: usize, u: usize, x_slots: &[usize], feeders: &[Vec<usize>]) -> bool {
        let mut moved = false;
        for &slot in x_slots {
            if self.excess(u) >= -HALF || self.excess(x) <= HALF {
                break;
            }
            if self.table[slot] != x as u32 || !self.can_move(slot) {
                continue;
            }
            let part = slot / self.replicas;
            for (d, d_feeders) in feeders.iter().enumerate() {
                if self.relay_budget == 0 {
                    return moved;
                }
                self.relay_budget -= 1;
                if d_feeders.is_empty() || d == x || self.excess(d) < -HALF || !self.fits(slot, d) {
                    continue;
                }
                self.relay_budget = self.relay_budget.saturating_sub(d_feeders.len());
                let q = d_feeders.iter().copied().find(|&q| {
                    q / self.replicas != part
                        && self.table[q] == d as u32
                        && self.can_move(q)
                        && self.fits(q, u)
                });
                if let Some(q) = q {
                    self.move_slot(q, u);
                    self.move_slot(slot, d);
                    moved = true;
                    break;
                }
            }
        }
        moved
    }

    /// Rounding can leave one device far over (or under) target while every other is
    /// less than half a replica off. Then a device more than one replica fuller than
    /// another gives it a replica, if one of the two is out of its half-replica band.
    /// True if anything moved.
    fn nudge_round(&mut self, round: u64) -> bool {
        let mut donors: Vec<usize> = (0..self.devs.len()).filter(|&d| self.active[d]).collect();
        donors.sort_by(|&a, &b| self.excess(b).total_cmp(&self.excess(a)));
        let (_, mut by_dev) = self.over_full();
        let mut moved = false;
        for x in donors {
            let mut slots = std::mem::take(&mut by_dev[x]);
            slots.sort_by_key(|&s| mix(self.seed ^ round ^ 3, s as u64));
            for slot in slots {
                if self.excess(x) - self.min_excess() <= 1.0 + FLOAT_NOISE {
                    break;
                }
                if self.table[slot] != x as u32 || !self.can_move(slot) {
                    continue;
                }
                let Some(to) = self.balance_destination(slot) else {
                    continue;
                };
                let gap = self.excess(x) - self.excess(to);
                let out_of_band = self.excess(x) > HALF || self.excess(to) < -HALF;
                if gap > 1.0 + FLOAT_NOISE && out_of_band {
                    self.move_slot(slot, to);
                    moved = true;
                }
            }
        }
        moved
    }

    /// Whether `dev` could take `slot` without narrowing its partition's spread.
    fn fits(&self, slot: usize, dev: usize) -> bool {
        let part = slot / self.replicas;
        if !self.active[dev] || self.holds(part, dev) {
            return false;
        }
        let others = self.others(slot);
        let here = self.devs[self.table[slot] as usize].novelty(others.iter().copied());
        self.devs[dev].novelty(others.iter().copied()) >= here
    }

    fn min_excess(&self) -> f64 {
        (0..self.devs.len())
            .filter(|&d| self.active[d])
            .map(|d| self.excess(d))
            .fold(f64::INFINITY, f64::min)
    }

    /// The most under-full device that could take `slot` without narrowing its spread.
    fn balance_destination(&self, slot: usize) -> Option<usize> {
        let part = slot / self.replicas;
        let mut best: Option<(usize, f64, u64)> = None;
        for d in (0..self.devs.len()).filter(|&d| self.fits(slot, d)) {
            let want = self.target[d] - self.assigned[d];
            let tie = mix(self.seed ^ part as u64, u64::from(self.devs[d].id));
            let better = match best {
                None => true,
                Some((_, w, t)) => want > w || (want == w && tie < t),
            };
            if better {
                best = Some((d, want, tie));
            }
        }
        best.map(|(d, _, _)| d)
    }
}

/// Ranking of candidate homes for an empty slot.
struct Key {
    novelty: u8,
    wants: [f64; 4],
    tie: u64,
}

impl Key {
    fn beats(&self, other: &Key) -> bool {
        if self.novelty != other.novelty {
            return self.novelty > other.novelty;
        }
        for (a, b) in self.wants.iter().zip(&other.wants) {
            if a != b {
                return a > b;
            }
        }
        self.tie < other.tie
    }
}

/// Dense indexes of each device's region, zone and node.
fn tier_indexes(devices: &[Device]) -> Vec<[usize; 3]> {
    let mut regions = Vec::new();
    let mut zones = Vec::new();
    let mut nodes = Vec::new();
    let index = |v: &mut Vec<_>, k| match v.iter().position(|x| *x == k) {
        Some(i) => i,
        None => {
            v.push(k);
            v.len() - 1
        }
    };
    devices
        .iter()
        .map(|d| {
            [
                index(&mut regions, (d.region, 0, 0)),
                index(&mut zones, (d.region, d.zone, 0)),
                index(&mut nodes, d.node_key()),
            ]
        })
        .collect()
}
