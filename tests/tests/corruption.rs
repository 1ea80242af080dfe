//! A flipped byte on one device: GETs still return the right bytes, and the
//! bad replica is quarantined (visible in `/metrics`).

use cairn_tests::disk::{find_all, flip_byte};
use cairn_tests::{random_bytes, seeded_rng, Cairn};
use std::io::Read;
use std::path::Path;

/// Most GETs of one object while waiting for its bad replica to be read.
const GETS_MAX: usize = 60;

/// Flips one byte of `needle`'s first occurrence in any file of device `dev`.
/// Returns whether it found the bytes there.
fn flip_on_device(data: &Path, dev: &str, needle: &[u8]) -> anyhow::Result<bool> {
    let found = find_all(&data.join("devices").join(dev), &[needle])?;
    match found[0].first() {
        Some((file, at)) => {
            flip_byte(file, at + needle.len() as u64 / 2)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn quarantined(cairn: &Cairn) -> anyhow::Result<u64> {
    let text = ureq::get(&format!("http://{}/metrics", cairn.listen))
        .call()?
        .into_string()?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("cairn_device_quarantined_objects{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum())
}

fn get(url: &str, token: &str, newest: bool) -> anyhow::Result<Vec<u8>> {
    let mut req = ureq::get(url).set("X-Auth-Token", token);
    if newest {
        req = req.set("X-Newest", "true");
    }
    let mut body = Vec::new();
    req.call()?.into_reader().read_to_end(&mut body)?;
    Ok(body)
}

#[test]
fn flipped_byte_is_never_served_and_is_quarantined() -> anyhow::Result<()> {
    // Corrupts one replica of a small (segment) and a large (own file) object
    // and reads each many times, with and without X-Newest.
    let cairn = Cairn::start()?;
    let (token, storage) = cairn.auth()?;
    let mut rng = seeded_rng("corruption");
    ureq::put(&format!("{storage}/c"))
        .set("X-Auth-Token", &token)
        .call()?;
    for (name, size) in [("small", 100_000usize), ("large", 3 * 1024 * 1024 + 17)] {
        let body = random_bytes(&mut rng, size);
        let url = format!("{storage}/c/{name}");
        ureq::put(&url)
            .set("X-Auth-Token", &token)
            .send_bytes(&body)?;
        let needle = &body[size / 2..size / 2 + 64];
        let mut flipped = false;
        for dev in ["d1", "d2", "d3"] {
            if flip_on_device(&cairn.data, dev, needle)? {
                flipped = true;
                break;
            }
        }
        assert!(
            flipped,
            "{name}: the object's bytes were not found on any device"
        );
        // Reads shuffle the primaries, so within a few dozen GETs one lands
        // on the bad replica (the chance that 60 miss it is (2/3)^60).
        let before = quarantined(&cairn)?;
        for i in 0..GETS_MAX {
            let got = get(&url, &token, i % 2 == 0)?;
            assert!(got == body, "{name}: GET {i} returned wrong bytes");
            if i >= 12 && quarantined(&cairn)? > before {
                break;
            }
        }
        assert!(
            quarantined(&cairn)? > before,
            "{name}: the corrupt replica was never quarantined"
        );
    }
    Ok(())
}
