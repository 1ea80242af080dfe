//! `cairn`: the one binary. Its subcommands are the operator's whole
//! interface; each lives in its own module and composes the library crates.

mod bench_cmd;
mod cluster_cmd;
mod config;
mod control;
mod files;
mod join;
mod metrics;
mod node_status;
mod ring_cmd;
mod up;
mod volume_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Cairn: an OpenStack-compatible cloud, storage first"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the all-in-one cloud: 3-replica object store, metadata Raft, Swift API.
    Up(up::UpArgs),
    /// Run one node of a multi-node cluster (`cairn up --nodes N` and
    /// `cairn cluster init` make their configs), or join a new one to a
    /// running cluster with a join token.
    Node(NodeArgs),
    /// The operator's view of a cluster (`cairn up --nodes N`).
    #[command(subcommand)]
    Cluster(cluster_cmd::ClusterCommand),
    /// Build and inspect rings (like swift-ring-builder).
    #[command(subcommand)]
    Ring(ring_cmd::RingCommand),
    /// Load generator: object (Swift, S3) and block (NBD, iSCSI) benchmarks.
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
    /// Block volumes of the running cloud: create, clone, snapshot, resize,
    /// delete, export, import.
    Volume(volume_cmd::VolumeArgs),
}

/// Options of `cairn node`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct NodeArgs {
    /// The node's `cairn.toml` (with a `[cluster]` section); its directory
    /// holds the node's certificate, ring, devices and metadata.
    #[arg(long, required = true)]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Option<NodeCommand>,
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Make this machine a node of a running cluster with a join token,
    /// and run it.
    Join(join::JoinArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // A status report says which nodes are down; the transport's warnings
    // about them would only repeat it.
    let default_filter = match cli.command {
        Command::Cluster(_) => "error",
        _ => "info,openraft=warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Up(args) => up::run(args),
        Command::Node(NodeArgs {
            command: Some(NodeCommand::Join(args)),
            ..
        }) => join::run(args),
        Command::Node(NodeArgs { config, .. }) => {
            up::run_node(&config.expect("clap requires --config without a subcommand"))
        }
        Command::Cluster(cmd) => cluster_cmd::run(cmd),
        Command::Ring(cmd) => ring_cmd::run(cmd),
        Command::Bench(cmd) => bench_cmd::run(cmd),
        Command::Volume(args) => volume_cmd::run(args),
    }
}
