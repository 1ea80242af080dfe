//! SIGKILL during a write load, then restart: every object whose PUT returned
//! 201 is listed and byte-exact; a graceful stop (Ctrl-C) keeps everything too.

use cairn_tests::load::{body_for, get_body, verify, WriteLoad};
use cairn_tests::Cairn;
use std::time::Duration;

/// Writer threads in the load.
const WRITERS: usize = 8;

#[test]
fn acknowledged_writes_survive_sigkill() -> anyhow::Result<()> {
    // Runs 8 writers for ~4 s, kills the server with SIGKILL mid-load,
    // restarts it and checks each acknowledged object.
    let mut cairn = Cairn::start()?;
    let (token, storage) = cairn.auth()?;
    ureq::put(&format!("{storage}/load"))
        .set("X-Auth-Token", &token)
        .call()?;
    let load = WriteLoad::start(&storage, "load", &token, WRITERS, false);
    std::thread::sleep(Duration::from_secs(4));
    cairn.kill9()?;
    let acked = load.stop().acked;
    assert!(
        acked.len() > 50,
        "the load acknowledged only {} writes",
        acked.len()
    );

    cairn.spawn()?;
    let (token, storage) = cairn.auth()?;
    let listed = verify(&storage, "load", &token, &acked)?;
    eprintln!("{} acked, {listed} listed, all byte-exact", acked.len());
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
