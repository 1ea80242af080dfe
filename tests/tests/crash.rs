//! SIGKILL during a write load, then restart: every object whose PUT returned
//! 201 is listed and byte-exact; a graceful stop (Ctrl-C) keeps everything too.

use cairn_tests::{random_bytes, Cairn};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Writer threads in the load.
const WRITERS: usize = 8;

/// The body of object `name` is a function of its name, so objects whose PUT
/// was in flight at the kill can be checked too, if they exist.
fn body_for(name: &str) -> Vec<u8> {
    let seed = name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let size = match seed % 8 {
        0 => 0,
        1 => rng.gen_range(1_000_000..2_500_000),
        _ => rng.gen_range(1..64 * 1024),
    };
    random_bytes(&mut rng, size)
}

fn get_body(url: &str, token: &str) -> anyhow::Result<Option<Vec<u8>>> {
    match ureq::get(url).set("X-Auth-Token", token).call() {
        Ok(resp) => {
            let mut b = Vec::new();
            resp.into_reader().read_to_end(&mut b)?;
            Ok(Some(b))
        }
        Err(ureq::Error::Status(404, _)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn listing(storage: &str, token: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut marker = String::new();
    loop {
        let text = ureq::get(&format!("{storage}/load"))
            .query("marker", &marker)
            .set("X-Auth-Token", token)
            .call()?
            .into_string()?;
        let page: Vec<String> = text.lines().map(String::from).collect();
        match page.last() {
            Some(last) => marker = last.clone(),
            None => return Ok(names),
        }
        names.extend(page);
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() -> anyhow::Result<()> {
    // Runs 8 writers for ~4 s, kills the server with SIGKILL mid-load,
    // restarts it and checks each acknowledged object.
    let mut cairn = Cairn::start()?;
    let (token, storage) = cairn.auth()?;
    ureq::put(&format!("{storage}/load"))
        .set("X-Auth-Token", &token)
        .call()?;
    let acked = Arc::new(Mutex::new(BTreeMap::<String, ()>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let (acked, stop, token, storage) =
            (acked.clone(), stop.clone(), token.clone(), storage.clone());
        threads.push(std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let name = format!("w{w}-{i:06}");
                let r = agent
                    .put(&format!("{storage}/load/{name}"))
                    .set("X-Auth-Token", &token)
                    .send_bytes(&body_for(&name));
                match r {
                    Ok(resp) if resp.status() == 201 => {
                        acked.lock().expect("lock").insert(name, ());
                    }
                    _ => break,
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(4));
    cairn.kill9()?;
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() > 50,
        "the load acknowledged only {} writes",
        acked.len()
    );

    cairn.spawn()?;
    let (token, storage) = cairn.auth()?;
    let listed = listing(&storage, &token)?;
    for name in acked.keys() {
        assert!(
            listed.binary_search(name).is_ok(),
            "acked {name} is not listed"
        );
    }
    for name in &listed {
        let got = get_body(&format!("{storage}/load/{name}"), &token)?;
        let got = got.unwrap_or_else(|| panic!("listed {name} cannot be read"));
        assert!(
            got == body_for(name),
            "{name} is not byte-exact after the crash"
        );
    }
    eprintln!(
        "{} acked, {} listed, all byte-exact",
        acked.len(),
        listed.len()
    );
    Ok(())
}

#[test]
fn graceful_stop_and_restart_keep_objects() -> anyhow::Result<()> {
    // Ctrl-C exits 0; after a restart on the same data every object is there.
    let mut cairn = Cairn::start()?;
    let (token, storage) = cairn.auth()?;
    ureq::put(&format!("{storage}/keep"))
        .set("X-Auth-Token", &token)
        .call()?;
    let names: Vec<String> = (0..40).map(|i| format!("k{i:03}")).collect();
    for n in &names {
        ureq::put(&format!("{storage}/keep/{n}"))
            .set("X-Auth-Token", &token)
            .send_bytes(&body_for(n))?;
    }
    let status = cairn.stop()?;
    assert!(status.success(), "cairn up exited with {status} on SIGINT");
    cairn.spawn()?;
    let (token, storage) = cairn.auth()?;
    for n in &names {
        let got = get_body(&format!("{storage}/keep/{n}"), &token)?;
        assert!(
            got.as_deref() == Some(&body_for(n)[..]),
            "{n} lost across restart"
        );
    }
    Ok(())
}
