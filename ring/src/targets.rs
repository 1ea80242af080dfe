//! How many partition-replicas each device should hold: weight shares bent by dispersion.
//!
//! The builder spreads each partition's replicas as widely as the devices allow (new
//! region, then new zone, then new node, then new device) and only then follows weight.
//! Placing `k` replicas under a tier that way, the `j`-th replica put into child `c` is
//! worth the finest level `i` at which `c` still has an unused domain (`j <= n_i(c)`,
//! where `n_i(c)` counts `c`'s distinct domains at level `i`). The best spreads take every
//! item of a better level before any of a worse one, so with `b` the level at which the
//! children together first have `k` domains, every best spread gives child `c` between
//! `n_{b-1}(c)` and `n_b(c)` replicas. Within those bounds the expected share follows
//! weight (water-filling). This makes the targets exactly the loads that a
//! widest-spread placement can reach, so a balanced ring never fights dispersion.

use crate::Device;

/// Levels below the root: region, zone, node, device.
const LEVELS: usize = 4;

/// Bisection steps of the water-filling; 2^-100 of the range is far below one replica.
const WATER_FILL_STEPS_MAX: usize = 100;

/// Expected replicas per partition for each of `devices` (all weight > 0), in order;
/// they sum to `replica_count`. Each is at most 1.
pub fn device_shares(devices: &[&Device], replica_count: usize) -> Vec<f64> {
    let mut order: Vec<usize> = (0..devices.len()).collect();
    order.sort_by_key(|&i| path(devices[i]));
    let mut shares = vec![0.0; devices.len()];
    let total = (replica_count as f64).min(devices.len() as f64);
    split(devices, &order, 0, total, &mut shares);
    shares
}

/// The device's key at each level, root first.
fn path(d: &Device) -> [(u32, u32, u32, u32); LEVELS] {
    [
        (d.region, 0, 0, 0),
        (d.region, d.zone, 0, 0),
        (d.region, d.zone, d.node, 0),
        (d.region, d.zone, d.node, d.id),
    ]
}

/// Divides `share` replicas of the tier at `level` (whose devices are `members`, sorted
/// by path) among its children at `level + 1`, recursing down to devices.
fn split(devices: &[&Device], members: &[usize], level: usize, share: f64, out: &mut [f64]) {
    if level == LEVELS {
        out[members[0]] = share;
        return;
    }
    let children = group(devices, members, level);
    let counts: Vec<[usize; LEVELS]> = children
        .iter()
        .map(|c| domain_counts(devices, c, level))
        .collect();
    let weights: Vec<f64> = children
        .iter()
        .map(|c| c.iter().map(|&i| devices[i].weight).sum())
        .collect();
    let (lo, hi) = fractional_bounds(&counts, level, share);
    let child_shares = water_fill(&weights, &lo, &hi, share);
    for (c, s) in children.iter().zip(child_shares) {
        split(devices, c, level + 1, s, out);
    }
}

/// Splits sorted `members` into runs sharing the key at `level` (0-based: 0 = region).
fn group(devices: &[&Device], members: &[usize], level: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut last = None;
    for &i in members {
        let key = path(devices[i])[level];
        if last != Some(key) {
            out.push(Vec::new());
            last = Some(key);
        }
        if let Some(run) = out.last_mut() {
            run.push(i);
        }
    }
    out
}

/// `n_i(c)` for i = level..LEVELS: distinct domains of the child at each finer level.
fn domain_counts(devices: &[&Device], child: &[usize], level: usize) -> [usize; LEVELS] {
    let mut n = [0; LEVELS];
    for (i, slot) in n.iter_mut().enumerate().skip(level) {
        let mut keys: Vec<_> = child.iter().map(|&d| path(devices[d])[i]).collect();
        keys.dedup();
        *slot = keys.len();
    }
    n
}

/// Per-child bounds for a share that is a mix of `floor(share)` and `ceil(share)`
/// replicas per partition.
fn fractional_bounds(counts: &[[usize; LEVELS]], level: usize, share: f64) -> (Vec<f64>, Vec<f64>) {
    let share = if (share - share.round()).abs() < 1e-9 {
        share.round()
    } else {
        share
    };
    let k_lo = share.floor();
    let f = share - k_lo;
    let (lo_a, hi_a) = integer_bounds(counts, level, k_lo as usize);
    let (lo_b, hi_b) = integer_bounds(counts, level, share.ceil() as usize);
    let mixf = |a: usize, b: usize| (1.0 - f) * a as f64 + f * b as f64;
    let lo = lo_a.iter().zip(&lo_b).map(|(&a, &b)| mixf(a, b)).collect();
    let hi = hi_a.iter().zip(&hi_b).map(|(&a, &b)| mixf(a, b)).collect();
    (lo, hi)
}

/// Bounds `[n_{b-1}(c), n_b(c)]` on each child's replicas of one partition when the
/// tier holds `k` of them in a widest spread.
fn integer_bounds(counts: &[[usize; LEVELS]], level: usize, k: usize) -> (Vec<usize>, Vec<usize>) {
    if k == 0 {
        return (vec![0; counts.len()], vec![0; counts.len()]);
    }
    let total = |i: usize| counts.iter().map(|c| c[i]).sum::<usize>();
    let b = (level..LEVELS)
        .find(|&i| total(i) >= k)
        .unwrap_or(LEVELS - 1);
    let lo = counts
        .iter()
        .map(|c| if b == level { 0 } else { c[b - 1] })
        .collect();
    let hi = counts.iter().map(|c| c[b]).collect();
    (lo, hi)
}

/// `x_c = clamp(lambda * w_c, lo_c, hi_c)` with `sum x_c = total`.
fn water_fill(weights: &[f64], lo: &[f64], hi: &[f64], total: f64) -> Vec<f64> {
    let at = |lambda: f64| -> Vec<f64> {
        weights
            .iter()
            .zip(lo.iter().zip(hi))
            .map(|(&w, (&l, &h))| (lambda * w).clamp(l, h.max(l)))
            .collect()
    };
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    let mut top = weights
        .iter()
        .zip(hi)
        .filter(|(&w, _)| w > 0.0)
        .map(|(&w, &h)| h / w)
        .fold(0.0, f64::max);
    if sum(&at(top)) <= total {
        return at(top);
    }
    let mut bottom = 0.0;
    for _ in 0..WATER_FILL_STEPS_MAX {
        let mid = (bottom + top) / 2.0;
        if sum(&at(mid)) < total {
            bottom = mid;
        } else {
            top = mid;
        }
    }
    at(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: u32, region: u32, zone: u32, node: u32, weight: f64) -> Device {
        let addr = format!("10.{region}.{zone}.{node}:6210");
        let name = format!("d{id}");
        Device {
            id,
            region,
            zone,
            node,
            addr,
            name,
            weight,
        }
    }

    fn shares(devs: &[Device], r: usize) -> Vec<f64> {
        let refs: Vec<&Device> = devs.iter().collect();
        device_shares(&refs, r)
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
    }

    // Devices each in their own zone with no dominant weight get exact weight shares.
    #[test]
    fn flat_follows_weight() {
        let devs: Vec<Device> = (0..4)
            .map(|i| dev(i, 1, i, 1, [1.0, 1.0, 2.0, 2.0][i as usize]))
            .collect();
        assert!(close(&shares(&devs, 3), &[0.5, 0.5, 1.0, 1.0]));
    }

    // Three zones and three replicas: one replica per zone whatever the zone weights.
    #[test]
    fn dispersion_beats_weight() {
        let devs = vec![
            dev(0, 1, 1, 1, 1.0),
            dev(1, 1, 2, 1, 1.0),
            dev(2, 1, 3, 1, 3.0),
            dev(3, 1, 3, 2, 1.0),
        ];
        assert!(close(&shares(&devs, 3), &[1.0, 1.0, 0.75, 0.25]));
    }

    // A region with one zone gets one replica, the region with five zones the other two.
    #[test]
    fn zones_count_through_regions() {
        let mut devs = vec![dev(0, 1, 1, 1, 10.0), dev(1, 1, 1, 1, 10.0)];
        for z in 0..5 {
            devs.push(dev(2 + z, 2, z, 1, 1.0));
        }
        let s = shares(&devs, 3);
        assert!((s[0] + s[1] - 1.0).abs() < 1e-6, "{s:?}");
        assert!((s.iter().sum::<f64>() - 3.0).abs() < 1e-6);
    }

    // A single heavy device cannot take more than one replica of each partition.
    #[test]
    fn device_share_capped_at_one() {
        let devs = vec![
            dev(0, 1, 1, 1, 100.0),
            dev(1, 1, 1, 1, 1.0),
            dev(2, 1, 1, 1, 1.0),
            dev(3, 1, 1, 1, 1.0),
        ];
        assert!(close(
            &shares(&devs, 3),
            &[1.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0]
        ));
    }
}
