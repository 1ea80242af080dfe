//! Property tests of the builder against naive oracles on small random clusters:
//! dispersion (brute force over every replica set), balance, minimal movement and
//! handoff order. Set `SEED=<n>` to replay a run; each run prints its seed.

mod common;

use cairn_ring::{spread, Device, DeviceSpec, Ring, RingBuilder, Spread};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// A small random cluster: up to 2 regions, 3 zones each, 2 nodes per zone.
fn cluster() -> impl Strategy<Value = Vec<DeviceSpec>> {
    let dev = (
        1u32..=2,
        1u32..=3,
        1u32..=2,
        prop::sample::select(vec![0.5, 1.0, 1.0, 2.0, 3.0]),
    );
    prop::collection::vec(dev, 3..=8).prop_map(|devs| {
        devs.into_iter()
            .enumerate()
            .map(|(i, (r, z, n, w))| spec(r, z, n, &format!("d{i}"), w))
            .collect()
    })
}

fn runner() -> TestRunner {
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand_seed);
    println!("SEED={seed}");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// The widest spread any `r` of `devices` can have, by trying every subset.
fn oracle_spread(devices: &[&Device], r: usize) -> Spread {
    let mut best = (0, 0, 0, 0);
    let n = devices.len();
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize != r {
            continue;
        }
        let set = (0..n).filter(|i| mask & (1 << i) != 0).map(|i| devices[i]);
        best = best.max(spread(set));
    }
    best
}

fn built(specs: &[DeviceSpec], part_power: u8, replicas: usize) -> RingBuilder {
    let mut b = builder_with(part_power, replicas, specs);
    b.rebalance(0).unwrap();
    b
}

fn check_dispersion(ring: &Ring) -> Result<(), TestCaseError> {
    let active: Vec<&Device> = ring.devices().iter().filter(|d| d.weight > 0.0).collect();
    let best = oracle_spread(&active, ring.replica_count());
    for p in 0..ring.partition_count() {
        let got = spread(ring.primaries(p).into_iter());
        prop_assert_eq!(
            got,
            best,
            "partition {} spread {:?}, best {:?}",
            p,
            got,
            best
        );
    }
    Ok(())
}

/// Every device holds its target, give or take a replica (two when the spread rule
/// pins replicas), and devices on one node share in proportion to weight.
fn check_balance(ring: &Ring) -> Result<(), TestCaseError> {
    let stats = ring.stats();
    let parts = f64::from(ring.partition_count());
    let total: f64 = stats.devices.iter().map(|d| d.target).sum();
    prop_assert!((total - parts * ring.replica_count() as f64).abs() < 1e-6);
    for (s, d) in stats.devices.iter().zip(ring.devices()) {
        prop_assert!(s.target <= parts + 1e-9);
        let off = (s.replicas as f64 - s.target).abs();
        prop_assert!(
            off <= 2.0,
            "device {:?}: {} replicas, target {}",
            d,
            s.replicas,
            s.target
        );
    }
    Ok(())
}

/// Replicas that moved at least: what each device gained, net.
fn net_gains(before: &Ring, after: &Ring) -> u64 {
    counts(after)
        .into_iter()
        .map(|(id, c)| c.saturating_sub(count_of(before, id)))
        .sum()
}

// A first build spreads every partition as widely as brute force says is possible,
// balances to within two replicas, and a second rebalance moves nothing.
#[test]
fn build_is_dispersed_balanced_and_stable() {
    runner()
        .run(&(cluster(), 4u8..=8, 1usize..=3), |(specs, pp, r)| {
            let mut b = built(&specs, pp, r);
            let ring = b.ring().unwrap();
            check_ring(&ring);
            check_dispersion(&ring)?;
            check_balance(&ring)?;
            let again = b.rebalance(1).unwrap();
            prop_assert_eq!(again.moved_replicas, 0);
            Ok(())
        })
        .unwrap();
}

// In a flat cluster (one device per zone, no device over a 1/replicas weight share)
// targets are exact weight shares.
#[test]
fn flat_cluster_follows_weight() {
    let weights = prop::collection::vec(prop::sample::select(vec![1.0, 2.0, 3.0]), 3..=8);
    runner()
        .run(&(weights, 4u8..=8), |(weights, pp)| {
            let total: f64 = weights.iter().sum();
            let r = 3;
            prop_assume!(weights.iter().all(|w| w / total <= 1.0 / r as f64));
            let specs: Vec<_> = weights
                .iter()
                .enumerate()
                .map(|(i, &w)| spec(1, i as u32, 1, &format!("d{i}"), w))
                .collect();
            let ring = built(&specs, pp, r).ring().unwrap();
            let parts = f64::from(ring.partition_count());
            for (id, c) in counts(&ring) {
                let want = parts * r as f64 * weights[id as usize] / total;
                prop_assert!(
                    (c as f64 - want).abs() <= 1.0,
                    "device {} has {} want {}",
                    id,
                    c,
                    want
                );
            }
            Ok(())
        })
        .unwrap();
}

// Adding a device, or changing a weight, moves at most twice the net change in device
// loads (plus one per device), and keeps dispersion and balance.
#[test]
fn changes_move_little() {
    let change = (
        any::<bool>(),
        1u32..=2,
        1u32..=3,
        1u32..=2,
        prop::sample::select(vec![0.5, 1.0, 2.0, 4.0]),
    );
    runner()
        .run(
            &(cluster(), 5u8..=8, 1usize..=3, change),
            |(specs, pp, r, (add, region, zone, node, w))| {
                let mut b = built(&specs, pp, r);
                let before = b.ring().unwrap();
                if add {
                    b.add_device(spec(region, zone, node, "new", w)).unwrap();
                } else {
                    let id = (zone + node) % specs.len() as u32;
                    b.set_weight(id, w).unwrap();
                }
                let report = b.rebalance(10).unwrap();
                let after = b.ring().unwrap();
                check_ring(&after);
                check_dispersion(&after)?;
                check_balance(&after)?;
                prop_assert_eq!(report.moved_replicas, moved_replicas(&before, &after));
                // Where the spread rule blocks a direct move, a replica takes two hops.
                let least = net_gains(&before, &after);
                let slack = after.devices().len() as u64;
                prop_assert!(
                    report.moved_replicas <= 2 * least + slack,
                    "moved {} but {} would do",
                    report.moved_replicas,
                    least
                );
                prop_assert_eq!(b.rebalance(20).unwrap().moved_replicas, 0);
                Ok(())
            },
        )
        .unwrap();
}

// Handoffs are a fixed order of every non-primary device, each once.
#[test]
fn handoffs_cover_the_rest_once() {
    runner()
        .run(&(cluster(), 4u8..=6, 1usize..=3), |(specs, pp, r)| {
            let ring = built(&specs, pp, r).ring().unwrap();
            for p in 0..ring.partition_count() {
                let prim = ids(&ring.primaries(p));
                let hand = ids(&ring.handoffs(p).collect::<Vec<_>>());
                prop_assert_eq!(&hand, &ids(&ring.handoffs(p).collect::<Vec<_>>()));
                prop_assert!(hand.iter().all(|id| !prim.contains(id)));
                let mut all = prim.clone();
                all.extend(&hand);
                all.sort();
                all.dedup();
                prop_assert_eq!(all.len(), ring.devices().len());
            }
            Ok(())
        })
        .unwrap();
}

// Inside min_part_hours only a removed device's replicas move; after it, at most one
// replica of any partition moves per rebalance.
#[test]
fn min_part_hours_limits_moves() {
    let change = (
        1u32..=2,
        1u32..=3,
        1u32..=2,
        prop::sample::select(vec![0.5, 1.0, 2.0]),
        any::<prop::sample::Index>(),
    );
    runner()
        .run(
            &(cluster(), 4u8..=7, 1usize..=3, change),
            |(specs, pp, r, (region, zone, node, w, victim))| {
                let mut b = RingBuilder::new_seeded(pp, r, 1, 11).unwrap();
                for s in &specs {
                    b.add_device(s.clone()).unwrap();
                }
                b.rebalance(0).unwrap();
                let before = b.ring().unwrap();
                b.add_device(spec(region, zone, node, "new", w)).unwrap();
                let gone = victim.index(specs.len()) as u32;
                b.remove_device(gone).unwrap();
                prop_assume!(b.rebalance(1800).is_ok());
                let mid = b.ring().unwrap();
                check_ring(&mid);
                for p in 0..before.partition_count() {
                    let old = ids(&before.primaries(p));
                    let new = ids(&mid.primaries(p));
                    let kept = old.iter().filter(|id| new.contains(id)).count();
                    let forced = old.contains(&gone) as usize;
                    prop_assert_eq!(kept, r - forced, "partition {} {:?} -> {:?}", p, old, new);
                }
                b.rebalance(3 * 3600).unwrap();
                let late = b.ring().unwrap();
                check_ring(&late);
                check_dispersion(&late)?;
                for p in 0..mid.partition_count() {
                    let old = ids(&mid.primaries(p));
                    let moved = late
                        .primaries(p)
                        .iter()
                        .filter(|d| !old.contains(&d.id))
                        .count();
                    prop_assert!(moved <= 1, "partition {} moved {} replicas", p, moved);
                }
                Ok(())
            },
        )
        .unwrap();
}
