//! A node cut off the network and healed, for real: node 3 of a 3-node
//! cluster runs in a network namespace of its own, joined to the host by a
//! veth pair on a bridge, and its link goes down under a write load and
//! comes back. Writes keep being acknowledged while it is away; afterwards
//! the replicas converge and every acknowledged object is there, through
//! node 3's own proxy too. Needs root (it creates the namespace, bridge and
//! links, and removes them at the end).

use anyhow::{bail, Context, Result};
use cairn_tests::cluster::Cluster;
use cairn_tests::load::{verify, WriteLoad};
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

const NETNS: &str = "cairn-part-n3";
const BRIDGE: &str = "cairnbr0";
/// The host's end of node 3's veth pair (on the bridge): down = cut.
const LINK_OUT: &str = "cn3out";
const LINK_IN: &str = "cn3in";
const SUBNET_BITS: u8 = 24;
const IPS: [&str; 3] = ["10.77.0.11", "10.77.0.12", "10.77.0.13"];

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!("ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The namespace, bridge and links; removed on drop.
struct Net;

impl Net {
    fn up() -> Result<Net> {
        Net::remove();
        let net = Net;
        ip(&["link", "add", BRIDGE, "type", "bridge"])?;
        for a in &IPS[..2] {
            ip(&["addr", "add", &format!("{a}/{SUBNET_BITS}"), "dev", BRIDGE])?;
        }
        ip(&["link", "set", BRIDGE, "up"])?;
        ip(&["netns", "add", NETNS])?;
        ip(&[
            "link", "add", LINK_OUT, "type", "veth", "peer", "name", LINK_IN,
        ])?;
        ip(&["link", "set", LINK_IN, "netns", NETNS])?;
        ip(&["link", "set", LINK_OUT, "master", BRIDGE])?;
        ip(&["link", "set", LINK_OUT, "up"])?;
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", NETNS, "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        inside(&[
            "addr",
            "add",
            &format!("{}/{SUBNET_BITS}", IPS[2]),
            "dev",
            LINK_IN,
        ])?;
        inside(&["link", "set", LINK_IN, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        Ok(net)
    }

    fn set_link(&self, up: bool) -> Result<()> {
        ip(&["link", "set", LINK_OUT, if up { "up" } else { "down" }])
    }

    fn remove() {
        for args in [
            &["netns", "del", NETNS][..],
            &["link", "del", LINK_OUT],
            &["link", "del", BRIDGE],
        ] {
            let _ = Command::new("ip").args(args).output();
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        Net::remove();
    }
}

#[test]
fn a_node_cut_off_the_network_and_healed_loses_nothing() -> Result<()> {
    let net = Net::up().context("setting up the network namespace (this test needs root)")?;
    let ips: Vec<IpAddr> = IPS.iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
    let b = Cluster::init_at(3, &ips)?;
    b.set_all("replication", "interval_secs", "2")?;
    let c = b.start_each(|i| {
        if i == 3 {
            ["ip", "netns", "exec", NETNS].map(String::from).to_vec()
        } else {
            Vec::new()
        }
    })?;
    let (token, storage) = c.auth(1)?;
    ureq::put(&format!("{storage}/load"))
        .set("X-Auth-Token", &token)
        .call()?;
    let load = WriteLoad::start(&storage, "load", &token, 4, true);
    std::thread::sleep(Duration::from_secs(2));

    net.set_link(false)?;
    let before = load.acked_count();
    std::thread::sleep(Duration::from_secs(10));
    let during = load.acked_count() - before;
    net.set_link(true)?;
    std::thread::sleep(Duration::from_secs(3));
    let result = load.stop();
    eprintln!("{result} ({during} acked while node 3 was cut off)");
    assert!(
        during > 10,
        "only {during} writes completed with node 3 cut off"
    );
    result.ensure_slowest_below(Duration::from_secs(10))?;

    // Healed: node 3 gets what it missed, and serves it.
    c.wait_replicas_agree(&[1, 2, 3], Duration::from_secs(180))?;
    let listed = verify(&storage, "load", &token, &result.acked)?;
    let (token3, storage3) = c.auth(3)?;
    assert_eq!(verify(&storage3, "load", &token3, &result.acked)?, listed);
    Ok(())
}
