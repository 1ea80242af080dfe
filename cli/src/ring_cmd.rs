//! `cairn ring …`: create, edit, rebalance and show rings (like swift-ring-builder).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cairn_ring::{Device, DeviceSpec, Ring, RingBuilder, RingStats};

/// Ring subcommands. BUILDER is the editable `.builder` file; a rebalance writes the
/// built ring next to it (`X.builder` -> `X.ring`), which is what servers load.
#[derive(clap::Subcommand, Debug)]
pub enum RingCommand {
    /// Create a new, empty builder.
    Create {
        builder: PathBuf,
        /// log2 of the partition count (10 = 1024 partitions).
        #[arg(long)]
        part_power: u8,
        #[arg(long)]
        replicas: usize,
        /// Hours before a partition that moved may move again.
        #[arg(long, default_value_t = 1)]
        min_part_hours: u32,
    },
    /// Add a device: `--region 1 --zone 1 --addr 127.0.0.1:6210 --name d1 --weight 100`,
    /// or Swift's compact form `r1z1-127.0.0.1:6210/d1 100`.
    Add {
        builder: PathBuf,
        /// Compact form `r<region>z<zone>-<host>:<port>/<name>`.
        device: Option<String>,
        /// Weight, with the compact form.
        weight_arg: Option<f64>,
        #[arg(long)]
        region: Option<u32>,
        #[arg(long)]
        zone: Option<u32>,
        /// Node number; by default the node of another device with the same host in
        /// the same zone, else a new one.
        #[arg(long)]
        node: Option<u32>,
        #[arg(long)]
        addr: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        weight: Option<f64>,
    },
    /// Schedule a device for removal; the next rebalance moves its partitions away.
    Remove { builder: PathBuf, id: u32 },
    /// Change a device's weight (0 drains it); takes effect at the next rebalance.
    SetWeight {
        builder: PathBuf,
        id: u32,
        weight: f64,
    },
    /// Reassign partitions and write the ring next to the builder.
    Rebalance { builder: PathBuf },
    /// Let the next rebalance move partitions that moved less than
    /// min_part_hours ago (once the last moves have been replicated).
    PretendMinPartHoursPassed { builder: PathBuf },
    /// Show a builder or a ring: devices, partitions per device, balance, dispersion.
    Show { path: PathBuf },
}

pub fn run(cmd: RingCommand) -> Result<()> {
    match cmd {
        RingCommand::Create {
            builder,
            part_power,
            replicas,
            min_part_hours,
        } => create(&builder, part_power, replicas, min_part_hours),
        RingCommand::Add {
            builder,
            device,
            weight_arg,
            region,
            zone,
            node,
            addr,
            name,
            weight,
        } => {
            let mut b = load_builder(&builder)?;
            let form = AddForm {
                device,
                weight_arg,
                region,
                zone,
                node,
                addr,
                name,
                weight,
            };
            let spec = form.into_spec(&b)?;
            let id = b.add_device(spec.clone())?;
            save_builder(&b, &builder)?;
            println!(
                "Device id {id} r{}z{}n{}-{}/{} weight {} added (takes effect at the next rebalance)",
                spec.region, spec.zone, spec.node, spec.addr, spec.name, spec.weight
            );
            Ok(())
        }
        RingCommand::Remove { builder, id } => {
            let mut b = load_builder(&builder)?;
            b.remove_device(id)?;
            save_builder(&b, &builder)?;
            println!(
                "Device id {id} marked for removal (its partitions move at the next rebalance)"
            );
            Ok(())
        }
        RingCommand::SetWeight {
            builder,
            id,
            weight,
        } => {
            let mut b = load_builder(&builder)?;
            b.set_weight(id, weight)?;
            save_builder(&b, &builder)?;
            println!("Device id {id} weight set to {weight} (takes effect at the next rebalance)");
            Ok(())
        }
        RingCommand::Rebalance { builder } => rebalance(&builder),
        RingCommand::PretendMinPartHoursPassed { builder } => {
            let mut b = load_builder(&builder)?;
            b.pretend_min_part_hours_passed();
            save_builder(&b, &builder)?;
            println!(
                "Every partition may move at the next rebalance (one replica of each at most)"
            );
            Ok(())
        }
        RingCommand::Show { path } => show(&path),
    }
}

fn create(path: &Path, part_power: u8, replicas: usize, min_part_hours: u32) -> Result<()> {
    if path.exists() {
        bail!("{} already exists", path.display());
    }
    let b = RingBuilder::new(part_power, replicas, min_part_hours)?;
    save_builder(&b, path)?;
    println!(
        "Created {}: {} partitions, {replicas} replicas, min_part_hours {min_part_hours}",
        path.display(),
        b.partition_count()
    );
    Ok(())
}

fn load_builder(path: &Path) -> Result<RingBuilder> {
    RingBuilder::load(path).with_context(|| format!("loading builder {}", path.display()))
}

fn save_builder(b: &RingBuilder, path: &Path) -> Result<()> {
    b.save(path)
        .with_context(|| format!("saving builder {}", path.display()))
}

/// `X.builder` -> `X.ring`; any other name gets `.ring` appended.
pub fn ring_path_for(builder: &Path) -> PathBuf {
    if builder.extension().is_some_and(|e| e == "builder") {
        builder.with_extension("ring")
    } else {
        let mut s = builder.as_os_str().to_owned();
        s.push(".ring");
        PathBuf::from(s)
    }
}

fn rebalance(path: &Path) -> Result<()> {
    let mut b = load_builder(path)?;
    let report = b.rebalance(now_secs())?;
    // The builder is the source of truth: save it first, then the ring built from it.
    save_builder(&b, path)?;
    let ring_path = ring_path_for(path);
    b.ring()?.save(&ring_path).with_context(|| {
        format!(
            "saving ring {} (the builder is saved; rebalance again to rewrite it)",
            ring_path.display()
        )
    })?;
    let parts = f64::from(b.partition_count());
    println!(
        "Reassigned {} ({:.2}%) partitions ({} replicas). Balance is now {:.2}. Dispersion is now {:.2}.",
        report.moved_partitions,
        100.0 * f64::from(report.moved_partitions) / parts,
        report.moved_replicas,
        report.balance_percent,
        report.dispersion_percent
    );
    if report.locked_partitions > 0 {
        println!(
            "{} partitions moved less than min_part_hours ({}) ago and stayed put; rebalance again later if the balance is not good enough.",
            report.locked_partitions,
            b.min_part_hours()
        );
    }
    println!("Wrote {} (version {})", ring_path.display(), report.version);
    Ok(())
}

fn show(path: &Path) -> Result<()> {
    let is_ring = path.extension().is_some_and(|e| e == "ring");
    if !is_ring {
        match RingBuilder::load(path) {
            Ok(b) => return show_builder(path, &b),
            Err(builder_err) => {
                if let Ok(r) = Ring::load(path) {
                    return show_ring(path, &r);
                }
                return Err(builder_err).with_context(|| format!("loading {}", path.display()));
            }
        }
    }
    let ring = Ring::load(path).with_context(|| format!("loading ring {}", path.display()))?;
    show_ring(path, &ring)
}

fn show_builder(path: &Path, b: &RingBuilder) -> Result<()> {
    let left = b.min_part_seconds_left(now_secs());
    println!(
        "{}, build version {}, min_part_hours {} ({} left)",
        path.display(),
        b.version(),
        b.min_part_hours(),
        hms(left)
    );
    let ring = b.ring().ok();
    let stats = ring.as_ref().map(Ring::stats);
    let (balance, dispersion) = stats
        .as_ref()
        .map_or((0.0, 0.0), |s| (s.balance_percent, s.dispersion_percent));
    println!(
        "{} partitions, {} replicas, {}, {balance:.2} balance, {dispersion:.2} dispersion",
        b.partition_count(),
        b.replica_count(),
        domains(b.devices())
    );
    if ring.is_none() {
        println!("Not rebalanced yet: there is no ring.");
    }
    print_devices(b.devices(), stats.as_ref(), |d| {
        if b.pending_removal().contains(&d.id) {
            "removing"
        } else if ring.as_ref().is_some_and(|r| r.device(d.id).is_none()) || ring.is_none() {
            "new"
        } else if ring
            .as_ref()
            .and_then(|r| r.device(d.id))
            .is_some_and(|rd| rd.weight != d.weight)
        {
            "reweighed"
        } else {
            ""
        }
    });
    Ok(())
}

fn show_ring(path: &Path, r: &Ring) -> Result<()> {
    let stats = r.stats();
    println!("{}, ring version {}", path.display(), r.version());
    println!(
        "{} partitions, {} replicas, {}, {:.2} balance, {:.2} dispersion",
        r.partition_count(),
        r.replica_count(),
        domains(r.devices()),
        stats.balance_percent,
        stats.dispersion_percent
    );
    print_devices(r.devices(), Some(&stats), |_| "");
    Ok(())
}

fn domains(devices: &[Device]) -> String {
    let mut regions: Vec<u32> = devices.iter().map(|d| d.region).collect();
    let mut zones: Vec<_> = devices.iter().map(Device::zone_key).collect();
    let mut nodes: Vec<_> = devices.iter().map(Device::node_key).collect();
    regions.sort_unstable();
    regions.dedup();
    zones.sort_unstable();
    zones.dedup();
    nodes.sort_unstable();
    nodes.dedup();
    format!(
        "{} regions, {} zones, {} nodes, {} devices",
        regions.len(),
        zones.len(),
        nodes.len(),
        devices.len()
    )
}

fn print_devices(
    devices: &[Device],
    stats: Option<&RingStats>,
    flag: impl Fn(&Device) -> &'static str,
) {
    println!(
        "Devices: {:>5} {:>6} {:>5} {:>5} {:<22} {:<12} {:>9} {:>10} {:>8} flags",
        "id", "region", "zone", "node", "address", "name", "weight", "partitions", "balance"
    );
    for d in devices {
        let s = stats.and_then(|s| s.devices.iter().find(|x| x.id == d.id));
        let (parts, balance) = s.map_or((0, 0.0), |s| (s.replicas, s.balance_percent));
        println!(
            "         {:>5} {:>6} {:>5} {:>5} {:<22} {:<12} {:>9.2} {:>10} {:>8.2} {}",
            d.id,
            d.region,
            d.zone,
            d.node,
            d.addr,
            d.name,
            d.weight,
            parts,
            balance,
            flag(d)
        );
    }
}

fn hms(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The arguments of `cairn ring add`, in either form.
struct AddForm {
    device: Option<String>,
    weight_arg: Option<f64>,
    region: Option<u32>,
    zone: Option<u32>,
    node: Option<u32>,
    addr: Option<String>,
    name: Option<String>,
    weight: Option<f64>,
}

impl AddForm {
    fn into_spec(self, b: &RingBuilder) -> Result<DeviceSpec> {
        let AddForm {
            device,
            weight_arg,
            region,
            zone,
            node,
            addr,
            name,
            weight,
        } = self;
        let weight = match (weight_arg, weight) {
            (Some(_), Some(_)) => bail!("give the weight once"),
            (w, None) | (None, w) => w.context("missing weight (e.g. `--weight 100`)")?,
        };
        let (region, zone, addr, name) = match device {
            Some(compact) => {
                if region.is_some() || zone.is_some() || addr.is_some() || name.is_some() {
                    bail!(
                        "give either the compact form or --region/--zone/--addr/--name, not both"
                    );
                }
                parse_compact(&compact)?
            }
            None => (
                region.unwrap_or(1),
                zone.context("missing --zone")?,
                addr.context("missing --addr")?,
                name.context("missing --name")?,
            ),
        };
        let node = node.unwrap_or_else(|| node_for(b.devices(), region, zone, &addr));
        Ok(DeviceSpec {
            region,
            zone,
            node,
            addr,
            name,
            weight,
        })
    }
}

/// Parses Swift's `r<region>z<zone>-<host>:<port>/<name>` (`r<region>` may be left out:
/// region 1).
pub fn parse_compact(s: &str) -> Result<(u32, u32, String, String)> {
    let bad = || format!("{s:?} is not of the form r1z1-127.0.0.1:6210/d1");
    let (domains, rest) = s.split_once('-').with_context(bad)?;
    let (region, zone) = match domains.strip_prefix('r') {
        Some(r) => {
            let (region, zone) = r.split_once('z').with_context(bad)?;
            (
                region.parse().with_context(bad)?,
                zone.parse().with_context(bad)?,
            )
        }
        None => {
            let zone = domains.strip_prefix('z').with_context(bad)?;
            (1, zone.parse().with_context(bad)?)
        }
    };
    let (addr, name) = rest.rsplit_once('/').with_context(bad)?;
    let (host, port) = addr.rsplit_once(':').with_context(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() || name.is_empty() {
        bail!(bad());
    }
    Ok((region, zone, addr.to_owned(), name.to_owned()))
}

/// The node of a device on the same host in the same zone, or the next unused number.
fn node_for(devices: &[Device], region: u32, zone: u32, addr: &str) -> u32 {
    let host = |a: &str| a.rsplit_once(':').map_or(a, |(h, _)| h).to_owned();
    let wanted = host(addr);
    devices
        .iter()
        .find(|d| d.region == region && d.zone == zone && host(&d.addr) == wanted)
        .map(|d| d.node)
        .unwrap_or_else(|| devices.iter().map(|d| d.node).max().map_or(1, |n| n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The compact form parses like swift-ring-builder's and rejects malformed input.
    #[test]
    fn compact_form() {
        let (r, z, a, n) = parse_compact("r2z3-127.0.0.1:6210/d1").unwrap();
        assert_eq!(
            (r, z, a.as_str(), n.as_str()),
            (2, 3, "127.0.0.1:6210", "d1")
        );
        let (r, z, a, _) = parse_compact("z1-[::1]:6210/sdb").unwrap();
        assert_eq!((r, z, a.as_str()), (1, 1, "[::1]:6210"));
        for bad in [
            "r1z1127.0.0.1:6210/d1",
            "r1-1.2.3.4:1/d",
            "r1z1-1.2.3.4/d",
            "r1z1-1.2.3.4:x/d",
            "r1z1-1.2.3.4:1/",
            "rxz1-a:1/d",
        ] {
            assert!(parse_compact(bad).is_err(), "{bad}");
        }
    }

    // Devices on one host in one zone share a node; a new host gets a new node.
    #[test]
    fn node_numbers() {
        let d = |id, zone, node, addr: &str| Device {
            id,
            region: 1,
            zone,
            node,
            addr: addr.into(),
            name: format!("d{id}"),
            weight: 1.0,
        };
        let devs = vec![d(0, 1, 1, "10.0.0.1:6210"), d(1, 2, 4, "10.0.0.2:6210")];
        assert_eq!(node_for(&devs, 1, 1, "10.0.0.1:6211"), 1);
        assert_eq!(node_for(&devs, 1, 1, "10.0.0.3:6210"), 5);
        assert_eq!(node_for(&[], 1, 1, "x:1"), 1);
        assert_eq!(
            ring_path_for(Path::new("a/object.builder")),
            PathBuf::from("a/object.ring")
        );
        assert_eq!(
            ring_path_for(Path::new("a/obj")),
            PathBuf::from("a/obj.ring")
        );
    }

    // The whole create / add / rebalance / show / remove cycle works on real files.
    #[test]
    fn command_cycle() {
        let dir = std::env::temp_dir().join(format!("cairn-ring-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let builder = dir.join("object.builder");
        let _ = std::fs::remove_file(&builder);
        run(RingCommand::Create {
            builder: builder.clone(),
            part_power: 8,
            replicas: 3,
            min_part_hours: 0,
        })
        .unwrap();
        for i in 1..=4 {
            let device = Some(format!("r1z{i}-127.0.0.1:621{i}/d{i}"));
            let add = RingCommand::Add {
                builder: builder.clone(),
                device,
                weight_arg: Some(100.0),
                region: None,
                zone: None,
                node: None,
                addr: None,
                name: None,
                weight: None,
            };
            run(add).unwrap();
        }
        run(RingCommand::Rebalance {
            builder: builder.clone(),
        })
        .unwrap();
        let ring = Ring::load(&dir.join("object.ring")).unwrap();
        assert_eq!(ring.devices().len(), 4);
        assert_eq!(ring.replicas_per_device(), vec![192; 4]);
        run(RingCommand::Show {
            path: builder.clone(),
        })
        .unwrap();
        run(RingCommand::Show {
            path: dir.join("object.ring"),
        })
        .unwrap();
        run(RingCommand::Remove {
            builder: builder.clone(),
            id: 3,
        })
        .unwrap();
        run(RingCommand::SetWeight {
            builder: builder.clone(),
            id: 0,
            weight: 50.0,
        })
        .unwrap();
        run(RingCommand::Rebalance {
            builder: builder.clone(),
        })
        .unwrap();
        let ring = Ring::load(&dir.join("object.ring")).unwrap();
        assert_eq!(ring.devices().len(), 3);
        assert_eq!(ring.version(), 2);
        assert!(run(RingCommand::Create {
            builder: builder.clone(),
            part_power: 8,
            replicas: 3,
            min_part_hours: 0
        })
        .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
