//! Which block a connection touches next, and what each of its blocks
//! should hold: a pure state machine, no I/O.
//!
//! Each connection owns a disjoint set of blocks (random access: every
//! n-th block; sequential: one contiguous run), so no two connections race
//! on a block; within a connection a block is never in flight twice. So the
//! generation last acknowledged for a block is what a read must return.

use rand::Rng;

/// Random or sequential access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Random,
    Sequential,
}

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoKind {
    Read,
    Write,
}

/// One planned request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Io {
    pub kind: IoKind,
    /// Index among this connection's blocks.
    pub local: u64,
    /// Block number on the export.
    pub block: u64,
    /// A write's new generation; a read's expected one (0: unknown, not checked).
    pub generation: u32,
}

/// The blocks a connection owns: `first + i * stride` for `i < count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub first: u64,
    pub stride: u64,
    pub count: u64,
}

impl Region {
    /// Connection `conn` of `conns` over `blocks` blocks.
    pub fn for_connection(access: Access, blocks: u64, conn: u64, conns: u64) -> Region {
        let count = blocks / conns;
        match access {
            Access::Random => Region {
                first: conn,
                stride: conns,
                count,
            },
            Access::Sequential => Region {
                first: conn * count,
                stride: 1,
                count,
            },
        }
    }
}

/// Attempts at drawing a block that is not in flight before scanning for one.
const RANDOM_TRIES_MAX: usize = 8;

/// A connection's plan.
#[derive(Debug, Clone)]
pub struct Plan {
    region: Region,
    access: Access,
    /// Percent of reads among workload operations.
    read_percent: u8,
    generations: Vec<u32>,
    in_flight: Vec<bool>,
    cursor: u64,
}

impl Plan {
    /// `region.count` must exceed the queue depth, so a free block always exists.
    pub fn new(region: Region, access: Access, read_percent: u8) -> Plan {
        let n = region.count as usize;
        Plan {
            region,
            access,
            read_percent: read_percent.min(100),
            generations: vec![0; n],
            in_flight: vec![false; n],
            cursor: 0,
        }
    }

    pub fn count(&self) -> u64 {
        self.region.count
    }

    /// The next workload request.
    pub fn next(&mut self, rng: &mut impl Rng) -> Io {
        let kind = if rng.gen_range(0..100u8) < self.read_percent {
            IoKind::Read
        } else {
            IoKind::Write
        };
        let local = match self.access {
            Access::Random => self.random_free(rng),
            Access::Sequential => self.sequential_free(),
        };
        self.take(kind, local)
    }

    /// Writes block `local` (the prepare pass).
    pub fn fill(&mut self, local: u64) -> Io {
        self.take(IoKind::Write, local)
    }

    /// Reads block `local` back (the verify pass); `None` if it was never written.
    pub fn check(&mut self, local: u64) -> Option<Io> {
        (self.generations[local as usize] != 0).then(|| self.take(IoKind::Read, local))
    }

    fn take(&mut self, kind: IoKind, local: u64) -> Io {
        let i = local as usize;
        assert!(!self.in_flight[i], "block {local} planned twice at once");
        self.in_flight[i] = true;
        let generation = match kind {
            IoKind::Read => self.generations[i],
            IoKind::Write => self.generations[i].wrapping_add(1).max(1),
        };
        Io {
            kind,
            local,
            block: self.region.first + local * self.region.stride,
            generation,
        }
    }

    /// Records how `io` ended: an acknowledged write sets the block's
    /// generation; a failed one makes it unknown (not checked again).
    pub fn complete(&mut self, io: Io, ok: bool) {
        let i = io.local as usize;
        self.in_flight[i] = false;
        if io.kind == IoKind::Write {
            self.generations[i] = if ok { io.generation } else { 0 };
        }
    }

    fn random_free(&self, rng: &mut impl Rng) -> u64 {
        for _ in 0..RANDOM_TRIES_MAX {
            let local = rng.gen_range(0..self.region.count);
            if !self.in_flight[local as usize] {
                return local;
            }
        }
        let start = rng.gen_range(0..self.region.count);
        self.scan_free(start)
    }

    fn sequential_free(&mut self) -> u64 {
        let local = self.scan_free(self.cursor);
        self.cursor = (local + 1) % self.region.count;
        local
    }

    fn scan_free(&self, start: u64) -> u64 {
        let n = self.region.count;
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&l| !self.in_flight[l as usize])
            .expect("more blocks than requests in flight")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn regions_of_connections_are_disjoint_and_cover_the_span() {
        // 3 connections over 10 blocks: 3 each, no block shared, in both access modes.
        for access in [Access::Random, Access::Sequential] {
            let mut seen = std::collections::BTreeSet::new();
            for conn in 0..3 {
                let r = Region::for_connection(access, 10, conn, 3);
                assert_eq!(r.count, 3);
                for i in 0..r.count {
                    assert!(seen.insert(r.first + i * r.stride), "{access:?}");
                }
            }
            assert!(seen.iter().all(|b| *b < 10));
        }
    }

    #[test]
    fn a_block_is_never_in_flight_twice() {
        // 4 blocks, 3 in flight at once, 1000 draws: every draw is a block not already out.
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let region = Region::for_connection(Access::Random, 4, 0, 1);
        let mut plan = Plan::new(region, Access::Random, 50);
        let mut out: Vec<Io> = Vec::new();
        for i in 0..1000 {
            while out.len() < 3 {
                let io = plan.next(&mut rng);
                assert!(out.iter().all(|o| o.local != io.local));
                out.push(io);
            }
            let done = out.remove(i % 3);
            plan.complete(done, true);
        }
    }

    #[test]
    fn reads_expect_the_last_acknowledged_write() {
        // Write gen 1 ok, write gen 2 fails: the block becomes unknown and the verify pass skips it.
        let region = Region {
            first: 10,
            stride: 1,
            count: 2,
        };
        let mut plan = Plan::new(region, Access::Sequential, 0);
        let w1 = plan.fill(0);
        assert_eq!((w1.block, w1.generation), (10, 1));
        plan.complete(w1, true);
        let r = plan.check(0).unwrap();
        assert_eq!((r.kind, r.generation), (IoKind::Read, 1));
        plan.complete(r, true);
        let w2 = plan.fill(0);
        assert_eq!(w2.generation, 2);
        plan.complete(w2, false);
        assert!(plan.check(0).is_none());
        assert!(plan.check(1).is_none());
    }

    #[test]
    fn sequential_access_walks_its_run_in_order_and_wraps() {
        // Blocks 6, 7, 8 of connection 2 of 3 over 9, then back to 6.
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let region = Region::for_connection(Access::Sequential, 9, 2, 3);
        let mut plan = Plan::new(region, Access::Sequential, 100);
        let blocks: Vec<u64> = (0..4)
            .map(|_| {
                let io = plan.next(&mut rng);
                plan.complete(io, true);
                io.block
            })
            .collect();
        assert_eq!(blocks, [6, 7, 8, 6]);
    }
}
