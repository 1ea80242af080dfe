//! `cairn bench object|block`: parses the command line (and, for object
//! endpoints, the openrc variables of the environment or a file) into
//! `cairn-bench`'s configs, runs them, and writes the text, JSON and SVG
//! results. The benchmark itself lives in the `cairn-bench` crate.

use anyhow::{bail, Context, Result};
use cairn_bench::block::{BlockAddress, BlockConfig, BlockWorkload, IscsiAddress, NbdAddress};
use cairn_bench::compare::Labels;
use cairn_bench::credentials::{Api, Vars};
use cairn_bench::object::{Mix, ObjectConfig, Workload};
use cairn_bench::report::Report;
use cairn_bench::size::{SizeDist, SizeShape};
use cairn_bench::units::{parse_bytes, parse_duration};
use cairn_bench::{Progress, StopAt};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Load a Swift or S3 endpoint: `cairn bench object --workload put --size 4KiB
    /// --connections 16 --duration 30s --json out.json`.
    Object(Box<ObjectArgs>),
    /// Load an NBD export or an iSCSI LUN: `cairn bench block --nbd 127.0.0.1:10809
    /// --workload randwrite --block-size 4KiB --queue-depth 16`, or `--iscsi
    /// iscsi://127.0.0.1:3260/iqn.2026-11.io.cairn:vol/0`.
    Block(Box<BlockArgs>),
}

/// What every run shares: how long, how shown, where the results go.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Connections (one worker each).
    #[arg(long, short = 'c', default_value_t = 16)]
    connections: usize,
    /// How long to measure (e.g. 30s, 2m; default 30s).
    #[arg(long, short = 'd', value_parser = duration, conflicts_with = "ops")]
    duration: Option<Duration>,
    /// Measure this many operations instead of a duration.
    #[arg(long)]
    ops: Option<u64>,
    /// Run the workload this long first, unmeasured.
    #[arg(long, value_parser = duration, default_value = "2s")]
    warmup: Duration,
    /// One operation's time limit.
    #[arg(long, value_parser = duration, default_value = "60s")]
    timeout: Duration,
    /// Runtime threads (1: everything on one thread, like `wrk -t1`).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seed of sizes, names and data (default: drawn).
    #[arg(long)]
    seed: Option<u64>,
    /// Show the progress line each second even when stderr is not a terminal.
    #[arg(long)]
    progress: bool,
    /// Write every figure and the per-second series here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw throughput over time and the latency distribution here (SVG).
    #[arg(long)]
    chart: Option<PathBuf>,
}

impl RunArgs {
    fn stop(&self) -> StopAt {
        match (self.ops, self.duration) {
            (Some(n), _) => StopAt::Ops(n),
            (None, d) => StopAt::Duration(d.unwrap_or(Duration::from_secs(30))),
        }
    }

    fn progress(&self) -> Progress {
        match (std::io::stderr().is_terminal(), self.progress) {
            (true, _) => Progress::Overwrite,
            (false, true) => Progress::Lines,
            (false, false) => Progress::Off,
        }
    }

    fn seed(&self) -> u64 {
        self.seed.unwrap_or_else(rand::random)
    }
}

#[derive(clap::Args, Debug)]
pub struct ObjectArgs {
    /// put, get, delete, list, mixed (see --mix) or multipart.
    #[arg(long, short = 'w', default_value = "put")]
    workload: String,
    /// Weights of the mixed workload: get=70,put=20,delete=10 (ops: get, put, delete, list).
    #[arg(long)]
    mix: Option<String>,
    /// Object size: 4KiB, or a range 1KiB-1MiB drawn by --size-dist.
    #[arg(long, short = 's', default_value = "4KiB")]
    size: String,
    /// How sizes of a range are drawn: uniform or lognormal.
    #[arg(long, default_value = "uniform")]
    size_dist: String,
    /// Part size of the multipart workload.
    #[arg(long, value_parser = bytes, default_value = "8MiB")]
    part_size: u64,
    /// Containers (buckets) the objects are spread over.
    #[arg(long, default_value_t = 4)]
    containers: usize,
    /// Objects written before get, list, delete and mixed (default: by size, at most 1000;
    /// delete: 5000 or --ops).
    #[arg(long)]
    objects: Option<u64>,
    /// Start of the run's container names (lower case, digits, `-`).
    #[arg(long, default_value = "cairn-bench")]
    prefix: String,
    /// Leave the objects and containers behind.
    #[arg(long)]
    no_cleanup: bool,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    endpoint: EndpointArgs,
    #[command(flatten)]
    compare: CompareArgs,
}

/// Credentials: the openrc variables of the environment (or --env FILE), which these flags override.
#[derive(clap::Args, Debug)]
pub struct EndpointArgs {
    /// swift or s3 (default: what the credentials offer, Swift first).
    #[arg(long)]
    api: Option<String>,
    /// Read the credentials from this openrc instead of the environment.
    #[arg(long)]
    env: Option<PathBuf>,
    /// Swift tempauth URL (ST_AUTH).
    #[arg(long)]
    auth: Option<String>,
    /// Swift user, account:user (ST_USER).
    #[arg(long)]
    user: Option<String>,
    /// Swift key (ST_KEY).
    #[arg(long)]
    key: Option<String>,
    /// Swift token (OS_AUTH_TOKEN), with --os-storage-url.
    #[arg(long)]
    os_auth_token: Option<String>,
    /// Swift storage URL (OS_STORAGE_URL), with --os-auth-token.
    #[arg(long)]
    os_storage_url: Option<String>,
    /// S3 endpoint (AWS_ENDPOINT_URL).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// S3 access key (AWS_ACCESS_KEY_ID).
    #[arg(long)]
    access_key: Option<String>,
    /// S3 secret key (AWS_SECRET_ACCESS_KEY).
    #[arg(long)]
    secret_key: Option<String>,
    /// S3 region (AWS_DEFAULT_REGION; default us-east-1).
    #[arg(long)]
    region: Option<String>,
}

/// `--compare`: the same workload against a second endpoint B, A B A B …
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Compare with endpoint B (given by --compare-env and/or --b-api).
    #[arg(long)]
    compare: bool,
    /// B's credentials: an openrc file (default: A's).
    #[arg(long)]
    compare_env: Option<PathBuf>,
    /// B's API (default: what B's credentials offer).
    #[arg(long)]
    b_api: Option<String>,
    /// Rounds of A then B.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Names of A and B in the output: `cairn,swift`.
    #[arg(long, default_value = "A,B")]
    labels: String,
}

impl CompareArgs {
    fn wanted(&self) -> bool {
        self.compare || self.compare_env.is_some() || self.b_api.is_some()
    }
}

#[derive(clap::Args, Debug)]
pub struct BlockArgs {
    /// The NBD server: host:port, or nbd://host:port/export.
    #[arg(long, required_unless_present = "iscsi", conflicts_with = "iscsi")]
    nbd: Option<String>,
    /// Export name (default: the one in --nbd, else the server's default "").
    #[arg(long, conflicts_with = "iscsi")]
    export: Option<String>,
    /// An iSCSI LUN instead: iscsi://host[:port]/target-iqn[/lun] (port 3260, LUN 0).
    #[arg(long)]
    iscsi: Option<String>,
    /// CHAP user name for the iSCSI login (one-way CHAP, MD5).
    #[arg(long)]
    chap_user: Option<String>,
    /// CHAP secret for the iSCSI login (with --chap-user).
    #[arg(long)]
    chap_secret: Option<String>,
    /// randread, randwrite, seqread, seqwrite or randrw (see --read-percent).
    #[arg(long, short = 'w', default_value = "randread")]
    workload: String,
    /// Reads in percent of randrw operations.
    #[arg(long, default_value_t = 50)]
    read_percent: u8,
    /// Bytes per request.
    #[arg(long, value_parser = bytes, default_value = "4KiB")]
    block_size: u64,
    /// Requests in flight per connection (pipelined by handle or ITT).
    #[arg(long, short = 'q', default_value_t = 8)]
    queue_depth: usize,
    /// Bytes of the export used, from offset 0 (default: all of it, at most 1 GiB).
    #[arg(long, value_parser = bytes)]
    span: Option<u64>,
    /// Do not check data read against what was written.
    #[arg(long)]
    no_verify: bool,
    /// Send a FLUSH (iSCSI: SYNCHRONIZE CACHE) after every N writes of a connection (besides
    /// the one at each phase's end).
    #[arg(long)]
    flush_every: Option<u32>,
    #[command(flatten)]
    run: RunArgs,
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Object(args) => object(*args),
        BenchCommand::Block(args) => block(*args),
    }
}

fn object(args: ObjectArgs) -> Result<()> {
    let a = object_config(&args, &args.endpoint)?;
    let rt = cairn_bench::runtime(args.run.threads)?;
    if !args.compare.wanted() {
        let report = rt.block_on(cairn_bench::object::run(&a))?;
        return finish(&report, &args.run);
    }
    let b = compare_config(&args, &a)?;
    let labels = labels(&args.compare.labels)?;
    let cmp = rt.block_on(cairn_bench::compare::run(
        &a,
        &b,
        args.compare.rounds,
        labels,
    ))?;
    print!("{}", cmp.summary());
    write_outputs(&args.run, |p| cmp.write_json(p), || cmp.chart())
}

fn object_config(args: &ObjectArgs, ep: &EndpointArgs) -> Result<ObjectConfig> {
    let vars = endpoint_vars(ep)?;
    let credentials = vars.credentials(ep.api.as_deref().map(api).transpose()?)?;
    let shape = match args.size_dist.as_str() {
        "uniform" => SizeShape::Uniform,
        "lognormal" | "log-normal" => SizeShape::LogNormal,
        other => bail!("--size-dist {other:?}: uniform or lognormal"),
    };
    Ok(ObjectConfig {
        credentials,
        workload: workload(&args.workload, args.mix.as_deref(), args.part_size)?,
        size: SizeDist::parse(&args.size, shape)?,
        connections: args.run.connections,
        stop: args.run.stop(),
        warmup: args.run.warmup,
        containers: args.containers,
        objects: args.objects,
        prefix: args.prefix.clone(),
        cleanup: !args.no_cleanup,
        timeout: args.run.timeout,
        progress: args.run.progress(),
        seed: args.run.seed(),
    })
}

/// B: A's settings with B's credentials.
fn compare_config(args: &ObjectArgs, a: &ObjectConfig) -> Result<ObjectConfig> {
    let c = &args.compare;
    let vars = match &c.compare_env {
        Some(path) => read_openrc(path)?,
        None => endpoint_vars(&args.endpoint)?,
    };
    let b_api = c.b_api.as_deref().map(api).transpose()?;
    if c.compare_env.is_none() && b_api.is_none() {
        bail!("--compare needs B: --compare-env FILE (another openrc) and/or --b-api swift|s3");
    }
    let mut b = a.clone();
    b.credentials = vars.credentials(b_api)?;
    Ok(b)
}

fn labels(text: &str) -> Result<Labels> {
    match text.split_once(',') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok(Labels {
            a: a.to_owned(),
            b: b.to_owned(),
        }),
        _ => bail!("--labels {text:?}: two names, A,B"),
    }
}

/// The openrc variables of the environment (or --env FILE), overridden by flags.
fn endpoint_vars(ep: &EndpointArgs) -> Result<Vars> {
    let mut vars = match &ep.env {
        Some(path) => read_openrc(path)?,
        None => Vars::from_pairs(std::env::vars()),
    };
    let flags = [
        ("ST_AUTH", &ep.auth),
        ("ST_USER", &ep.user),
        ("ST_KEY", &ep.key),
        ("OS_AUTH_TOKEN", &ep.os_auth_token),
        ("OS_STORAGE_URL", &ep.os_storage_url),
        ("AWS_ENDPOINT_URL", &ep.endpoint_url),
        ("AWS_ACCESS_KEY_ID", &ep.access_key),
        ("AWS_SECRET_ACCESS_KEY", &ep.secret_key),
        ("AWS_DEFAULT_REGION", &ep.region),
    ];
    for (name, value) in flags {
        if let Some(v) = value {
            vars.set(name.to_owned(), v.clone());
        }
    }
    Ok(vars)
}

fn read_openrc(path: &Path) -> Result<Vars> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Vars::parse_openrc(&text))
}

fn api(name: &str) -> Result<Api> {
    match name {
        "swift" => Ok(Api::Swift),
        "s3" => Ok(Api::S3),
        other => bail!("API {other:?}: swift or s3"),
    }
}

fn workload(name: &str, mix: Option<&str>, part_bytes: u64) -> Result<Workload> {
    if mix.is_some() && name != "mixed" {
        bail!("--mix goes with --workload mixed");
    }
    Ok(match name {
        "put" => Workload::Put,
        "get" => Workload::Get,
        "delete" => Workload::Delete,
        "list" => Workload::List,
        "multipart" => Workload::Multipart { part_bytes },
        "mixed" => Workload::Mixed(Mix::parse(mix.unwrap_or("get=70,put=20,delete=10"))?),
        other => bail!("--workload {other:?}: put, get, delete, list, mixed or multipart"),
    })
}

fn block_address(args: &BlockArgs) -> Result<BlockAddress> {
    let chap = match (&args.chap_user, &args.chap_secret) {
        (Some(user), Some(secret)) => Some((user, secret)),
        (None, None) => None,
        _ => bail!("--chap-user and --chap-secret go together"),
    };
    if let Some(url) = &args.iscsi {
        let a = IscsiAddress::parse(url)?;
        return Ok(match chap {
            Some((user, secret)) => a.with_chap(user, secret),
            None => a,
        }
        .into());
    }
    if chap.is_some() {
        bail!("--chap-user and --chap-secret go with --iscsi");
    }
    let Some(nbd) = &args.nbd else {
        bail!("--nbd or --iscsi is required");
    };
    Ok(NbdAddress::parse(nbd, args.export.as_deref())?.into())
}

fn block(args: BlockArgs) -> Result<()> {
    let address = block_address(&args)?;
    let workload = BlockWorkload::parse(&args.workload, args.read_percent)?;
    let cfg = BlockConfig {
        address,
        workload,
        block_bytes: args.block_size,
        queue_depth: args.queue_depth,
        connections: args.run.connections,
        stop: args.run.stop(),
        warmup: args.run.warmup,
        span_bytes: args.span,
        verify: !args.no_verify,
        flush_every: args.flush_every,
        timeout: args.run.timeout,
        progress: args.run.progress(),
        seed: args.run.seed(),
    };
    let rt = cairn_bench::runtime(args.run.threads)?;
    let report = rt.block_on(cairn_bench::block::run(&cfg))?;
    finish(&report, &args.run)?;
    let failures = report.phases.iter().map(|p| p.errors).sum::<u64>()
        + report.unmeasured.values().map(|s| s.errors).sum::<u64>();
    if cfg.verify && failures > 0 {
        bail!("{failures} operations failed (see the errors above)");
    }
    Ok(())
}

fn finish(report: &Report, run: &RunArgs) -> Result<()> {
    print!("{}", report.summary());
    write_outputs(
        run,
        |p| report.write_json(p),
        || cairn_bench::svg::report_chart(report),
    )
}

fn write_outputs(
    run: &RunArgs,
    json: impl FnOnce(&Path) -> Result<(), cairn_bench::BenchError>,
    chart: impl FnOnce() -> String,
) -> Result<()> {
    if let Some(path) = &run.json {
        json(path).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &run.chart {
        std::fs::write(path, chart()).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

pub(crate) fn bytes(s: &str) -> Result<u64, String> {
    parse_bytes(s).map_err(|e| e.to_string())
}
