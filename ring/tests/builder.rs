//! Scenario tests of the builder: first build, adding, removing and reweighing devices,
//! min_part_hours, determinism and file round trips.

mod common;

use cairn_ring::{Ring, RingBuilder, RingError};
use common::*;

// The `cairn up` default (part power 10, 3 replicas, 3 devices) puts every partition
// on all three devices.
#[test]
fn default_three_devices() {
    let specs = cairn_ring::one_zone_per_device(&[
        ("127.0.0.1:6210".into(), "d1".into()),
        ("127.0.0.1:6211".into(), "d2".into()),
        ("127.0.0.1:6212".into(), "d3".into()),
    ]);
    let (_, ring) = cairn_ring::default_ring(10, 3, 1, specs, 1000).unwrap();
    check_ring(&ring);
    assert_eq!(ring.partition_count(), 1024);
    for (_, c) in counts(&ring) {
        assert_eq!(c, 1024);
    }
    assert_eq!(ring.version(), 1);
    assert_eq!(ring.stats().dispersion_percent, 0.0);
}

// Rebalancing needs as many weighted devices as replicas and a ring needs a rebalance.
#[test]
fn errors() {
    let mut b = builder_with(4, 3, &[spec(1, 1, 1, "a", 1.0), spec(1, 2, 1, "b", 1.0)]);
    assert!(matches!(b.ring(), Err(RingError::NotRebalanced)));
    assert!(matches!(
        b.rebalance(0),
        Err(RingError::NotEnoughDevices { .. })
    ));
    assert!(matches!(
        b.add_device(spec(1, 1, 1, "a", 1.0)),
        Err(RingError::DuplicateDevice { .. })
    ));
    assert!(matches!(
        b.set_weight(99, 1.0),
        Err(RingError::NoSuchDevice(99))
    ));
    assert!(b.set_weight(0, -1.0).is_err());
    assert!(RingBuilder::new(0, 3, 1).is_err());
    assert!(RingBuilder::new(25, 3, 1).is_err());
    assert!(RingBuilder::new(8, 0, 1).is_err());
}

// Unequal weights in a flat topology give replica counts proportional to weight.
#[test]
fn balance_follows_weight() {
    let specs: Vec<_> = (0..6)
        .map(|i| {
            spec(
                1,
                i,
                1,
                &format!("d{i}"),
                [100.0, 100.0, 200.0, 200.0, 300.0, 300.0][i as usize],
            )
        })
        .collect();
    let mut b = builder_with(10, 3, &specs);
    let report = b.rebalance(0).unwrap();
    let ring = b.ring().unwrap();
    check_ring(&ring);
    let total = 1024.0 * 3.0;
    for (id, c) in counts(&ring) {
        let want = total * specs[id as usize].weight / 1200.0;
        assert!((c as f64 - want).abs() <= 1.0, "device {id}: {c} vs {want}");
    }
    assert!(report.balance_percent < 1.0, "{report:?}");
}

// Adding a fourth equal device moves about a quarter of the replicas, all onto it.
#[test]
fn add_device_moves_only_its_share() {
    let specs: Vec<_> = (0..3)
        .map(|i| spec(1, i, 1, &format!("d{i}"), 100.0))
        .collect();
    let mut b = builder_with(8, 3, &specs);
    b.rebalance(0).unwrap();
    let before = b.ring().unwrap();
    let id = b.add_device(spec(1, 3, 1, "d3", 100.0)).unwrap();
    let report = b.rebalance(10).unwrap();
    let after = b.ring().unwrap();
    check_ring(&after);
    let taken = count_of(&after, id);
    assert_eq!(taken, 192);
    assert_eq!(report.moved_replicas, moved_replicas(&before, &after));
    assert_eq!(report.moved_replicas, taken);
    // A no-op rebalance moves nothing.
    let again = b.rebalance(20).unwrap();
    assert_eq!(again.moved_replicas, 0);
    assert_eq!(again.version, 3);
}

// Removing a device moves exactly its replicas, even inside min_part_hours.
#[test]
fn remove_device_moves_only_its_replicas() {
    let specs: Vec<_> = (0..5)
        .map(|i| spec(1, i, 1, &format!("d{i}"), 100.0))
        .collect();
    let mut b = RingBuilder::new_seeded(8, 3, 24, 1).unwrap();
    for s in &specs {
        b.add_device(s.clone()).unwrap();
    }
    b.rebalance(0).unwrap();
    let before = b.ring().unwrap();
    let held = count_of(&before, 2);
    b.remove_device(2).unwrap();
    assert!(matches!(
        b.set_weight(2, 1.0),
        Err(RingError::DeviceRemoved(2))
    ));
    let report = b.rebalance(60).unwrap();
    let after = b.ring().unwrap();
    check_ring(&after);
    assert!(after.device(2).is_none());
    assert_eq!(report.moved_replicas, held);
    assert_eq!(moved_replicas(&before, &after), held);
    assert!(b.device(2).is_none());
}

// min_part_hours keeps recently moved partitions in place, then lets them move, one
// replica per partition per rebalance.
#[test]
fn min_part_hours_locks() {
    let specs: Vec<_> = (0..3)
        .map(|i| spec(1, i, 1, &format!("d{i}"), 100.0))
        .collect();
    let mut b = RingBuilder::new_seeded(8, 3, 1, 3).unwrap();
    for s in &specs {
        b.add_device(s.clone()).unwrap();
    }
    b.rebalance(0).unwrap();
    for i in 3..6 {
        b.add_device(spec(1, i, 1, &format!("d{i}"), 100.0))
            .unwrap();
    }
    let blocked = b.rebalance(1800).unwrap();
    assert_eq!(blocked.moved_replicas, 0);
    assert_eq!(blocked.locked_partitions, 256);
    assert!(b.min_part_seconds_left(1800) == 1800);
    let before = b.ring().unwrap();
    let report = b.rebalance(3600).unwrap();
    let after = b.ring().unwrap();
    check_ring(&after);
    // 6 equal devices want 384 replicas each; at most one replica per partition moves.
    assert_eq!(report.moved_replicas, 256);
    for p in 0..256 {
        let old = ids(&before.primaries(p));
        let kept = after
            .primaries(p)
            .iter()
            .filter(|d| old.contains(&d.id))
            .count();
        assert!(kept >= 2, "partition {p} moved more than one replica");
    }
    // Right after, everything is locked again...
    assert_eq!(b.rebalance(3700).unwrap().moved_replicas, 0);
    // ...unless the operator says the moves have been replicated: then
    // partitions move again, still one replica of each at most.
    let mut pretend = b.clone();
    pretend.pretend_min_part_hours_passed();
    let before = pretend.ring().unwrap();
    assert_eq!(pretend.rebalance(3700).unwrap().moved_replicas, 128);
    let after = pretend.ring().unwrap();
    for p in 0..256 {
        let old = ids(&before.primaries(p));
        let kept = after
            .primaries(p)
            .iter()
            .filter(|d| old.contains(&d.id))
            .count();
        assert!(kept >= 2, "partition {p} moved more than one replica");
    }
    // An hour later the rest moves and the ring is balanced.
    let last = b.rebalance(3600 * 2 + 1).unwrap();
    assert_eq!(last.moved_replicas, 128);
    assert!(last.balance_percent < 1.0, "{last:?}");
}

// Draining a device by weight 0 empties it; it stays listed until removed.
#[test]
fn zero_weight_drains() {
    let specs: Vec<_> = (0..4)
        .map(|i| spec(1, i, 1, &format!("d{i}"), 100.0))
        .collect();
    let mut b = builder_with(8, 3, &specs);
    b.rebalance(0).unwrap();
    b.set_weight(1, 0.0).unwrap();
    b.rebalance(1).unwrap();
    let ring = b.ring().unwrap();
    check_ring(&ring);
    assert_eq!(count_of(&ring, 1), 0);
    assert!(ring.device(1).is_some());
    // Drained devices are the last handoffs.
    for p in 0..ring.partition_count() {
        assert_eq!(ring.handoffs(p).last().unwrap().id, 1);
    }
}

// Doubling one device's weight moves only what it gains.
#[test]
fn weight_change_moves_only_the_difference() {
    let specs: Vec<_> = (0..6)
        .map(|i| spec(1, i, 1, &format!("d{i}"), 100.0))
        .collect();
    let mut b = builder_with(8, 3, &specs);
    b.rebalance(0).unwrap();
    let before = b.ring().unwrap();
    b.set_weight(0, 200.0).unwrap();
    let report = b.rebalance(1).unwrap();
    let after = b.ring().unwrap();
    let gained = count_of(&after, 0) - count_of(&before, 0);
    // 768 replicas over 7 weight units: device 0 goes from 128 to ~219.
    assert!((gained as i64 - 91).abs() <= 1, "gained {gained}");
    assert!(report.moved_replicas <= gained + 2, "{report:?}");
}

// The same builder state gives the same ring; the secrets make different builders
// hash names differently.
#[test]
fn deterministic() {
    let specs: Vec<_> = (0..7)
        .map(|i| spec(1, i % 3, i, &format!("d{i}"), 50.0 + i as f64))
        .collect();
    let mut a = builder_with(8, 3, &specs);
    let mut b = a.clone();
    a.rebalance(5).unwrap();
    b.rebalance(5).unwrap();
    assert_eq!(a.ring().unwrap(), b.ring().unwrap());
    assert_eq!(a, b);
    let r = a.ring().unwrap();
    let other = RingBuilder::new(8, 3, 1).unwrap();
    let mut other = other;
    for s in &specs {
        other.add_device(s.clone()).unwrap();
    }
    other.rebalance(0).unwrap();
    let o = other.ring().unwrap();
    assert_ne!(
        r.object_hash("a", Some("c"), Some("o")),
        o.object_hash("a", Some("c"), Some("o"))
    );
    assert_eq!(
        r.object_hash("a", Some("c"), Some("o")),
        r.object_hash("a", Some("c"), Some("o"))
    );
}

// Builder and ring survive a save/load round trip; corrupt files are refused.
#[test]
fn files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let specs: Vec<_> = (0..4)
        .map(|i| spec(1, i, 1, &format!("d{i}"), 100.0))
        .collect();
    let mut b = builder_with(6, 3, &specs);
    let bp = dir.path().join("x.builder");
    b.save(&bp).unwrap();
    assert_eq!(RingBuilder::load(&bp).unwrap(), b);
    b.rebalance(0).unwrap();
    b.remove_device(3).unwrap();
    b.save(&bp).unwrap();
    let loaded = RingBuilder::load(&bp).unwrap();
    assert_eq!(loaded, b);
    let rp = dir.path().join("x.ring");
    let ring = b.ring().unwrap();
    ring.save(&rp).unwrap();
    assert_eq!(Ring::load(&rp).unwrap(), ring);
    // A builder file is not a ring file, and a torn file is refused.
    assert!(Ring::load(&bp).is_err());
    let text = std::fs::read_to_string(&rp).unwrap();
    std::fs::write(&rp, &text[..text.len() / 2]).unwrap();
    assert!(Ring::load(&rp).is_err());
    // A table naming an unknown device is refused.
    let bad = text.replace("\"id\":0,", "\"id\":9,");
    std::fs::write(&rp, bad).unwrap();
    assert!(matches!(Ring::load(&rp), Err(RingError::Json { .. })));
}

// Handoffs never repeat a primary, cover every other device once, are deterministic
// and prefer zones the primaries do not use.
#[test]
fn handoffs_prefer_new_zones() {
    let mut specs = Vec::new();
    for z in 0..4 {
        for n in 0..2 {
            specs.push(spec(1, z, n, &format!("z{z}n{n}"), 100.0));
        }
    }
    let mut b = builder_with(6, 3, &specs);
    b.rebalance(0).unwrap();
    let ring = b.ring().unwrap();
    for p in 0..ring.partition_count() {
        let prim = ring.primaries(p);
        let hand: Vec<_> = ring.handoffs(p).collect();
        assert_eq!(hand.len(), 5);
        assert_eq!(ids(&hand), ids(&ring.handoffs(p).collect::<Vec<_>>()));
        let mut all = ids(&prim);
        all.extend(ids(&hand));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 8);
        let used: Vec<_> = prim.iter().map(|d| d.zone).collect();
        assert!(
            !used.contains(&hand[0].zone),
            "first handoff of {p} is in a used zone"
        );
    }
}

// Lookups: a name always maps to the same partition and devices.
#[test]
fn lookup_is_stable() {
    let specs: Vec<_> = (0..5)
        .map(|i| spec(1, i, 1, &format!("d{i}"), 100.0))
        .collect();
    let mut b = builder_with(10, 3, &specs);
    b.rebalance(0).unwrap();
    let ring = b.ring().unwrap();
    let h = ring.object_hash("AUTH_x", Some("c"), Some("o"));
    let p = ring.partition_of(&h);
    assert!(p < 1024);
    assert_eq!(
        p as u64,
        u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]])) >> 22
    );
    assert_eq!(ids(&ring.primaries(p)).len(), 3);
}
