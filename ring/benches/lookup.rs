//! Lookup cost: hash a name, find its partition, list its primaries (the proxy's hot
//! path), on the `cairn up` default ring and on a large one.

use std::hint::black_box;
use std::time::Duration;

use cairn_ring::{DeviceSpec, Ring, RingBuilder};
use criterion::{criterion_group, criterion_main, Criterion};

fn ring(part_power: u8, zones: u32, devices_per_zone: u32) -> Ring {
    let mut b = RingBuilder::new_seeded(part_power, 3, 0, 1).expect("builder");
    for z in 1..=zones {
        for d in 0..devices_per_zone {
            b.add_device(DeviceSpec {
                region: 1,
                zone: z,
                node: z,
                addr: format!("10.0.0.{z}:6210"),
                name: format!("d{d}"),
                weight: 100.0,
            })
            .expect("device");
        }
    }
    b.rebalance(0).expect("rebalance");
    b.ring().expect("ring")
}

fn lookup(c: &mut Criterion) {
    for (name, r) in [
        ("pp10_3dev", ring(10, 3, 1)),
        ("pp16_24dev", ring(16, 4, 6)),
    ] {
        let mut i = 0u64;
        c.bench_function(&format!("lookup_{name}"), |b| {
            b.iter(|| {
                i += 1;
                let obj = i.to_string();
                let h = r.object_hash("AUTH_bench", Some("c"), Some(&obj));
                let p = r.partition_of(&h);
                black_box(r.primaries(p).len())
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = lookup
}
criterion_main!(benches);
