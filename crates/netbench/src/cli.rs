//! Command-line flags and the dispatch to each role.

use crate::{exit, show};
use clap::{Args, Parser, Subcommand};
use netbench_bench::flags::{benchmark, duration, run_id, test_duration};
use netbench_bench::Benchmark;
use netbench_bus::NatsArgs;
use netbench_orchestrator::flags::{PlanConfig, PlanFlags, RoleFlags};
use netbench_proto::{RunId, WorkerId, WorkerInfo};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "netbench",
    version,
    about = "Measure networking between every pair of nodes with real tools."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a real benchmark on this machine: nodes are network namespaces (needs root).
    Local(LocalArgs),
    /// Serve benchmark tasks for one run (one per node).
    Worker(WorkerArgs),
    /// Wait for the workers and run every ordered pair, one at a time.
    Orchestrator(OrchestratorArgs),
    /// Run a benchmark on a Kubernetes cluster: deploy NATS, orchestrator and workers, collect, clean up.
    Launch(netbench_launcher::cli::LaunchArgs),
    /// Show what the NETBENCH stream holds, then follow live results and events as a table.
    Watch(netbench_report::cli::WatchArgs),
    /// Tables, node matrix and zone summary of a results file (text, CSV, JSON, Markdown, HTML).
    Report(netbench_report::cli::ReportArgs),
    /// Compare two results files pair by pair; exit 1 when a metric regressed past the tolerance.
    Compare(netbench_report::cli::CompareArgs),
}

/// How to reach NATS.
#[derive(Debug, Clone, Args)]
struct NatsFlags {
    /// NATS server URL.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// NATS user name.
    #[arg(long, env = "NATS_USER")]
    nats_user: Option<String>,
    /// NATS password.
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    nats_password: Option<String>,
    /// CA certificate the NATS server's TLS certificate must chain to (turns TLS on).
    #[arg(long, env = "NATS_CA")]
    nats_ca: Option<PathBuf>,
    /// NATS credentials file (user JWT and NKey seed, from `nsc generate creds`), for a server
    /// in operator mode.
    #[arg(long, env = "NATS_CREDS", value_name = "FILE")]
    nats_creds: Option<PathBuf>,
    /// File with a user NKey seed (SU…), for a server that lists nkey users.
    #[arg(long, env = "NATS_NKEY", value_name = "FILE")]
    nats_nkey: Option<PathBuf>,
    /// NATS token, for a server with `authorization { token: … }`.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    nats_token: Option<String>,
    /// Keep retrying the first connection this long (e.g. 2m) instead of failing at once:
    /// `netbench launch` sets it in its pods, which may start before the NATS Service answers.
    #[arg(long, env = "NATS_WAIT", default_value = "0s", value_parser = duration)]
    nats_wait: std::time::Duration,
}

impl NatsFlags {
    fn args(&self) -> NatsArgs {
        NatsArgs {
            url: self.nats_url.clone(),
            user: self.nats_user.clone(),
            password: self.nats_password.clone(),
            tls_ca: self.nats_ca.clone(),
            connect_wait: self.nats_wait,
            creds: self.nats_creds.clone(),
            nkey: self.nats_nkey.clone(),
            token: self.nats_token.clone(),
            store: Default::default(),
        }
    }
}

/// Where to push metrics (Prometheus PushGateway).
#[derive(Debug, Clone, Args)]
struct PushFlags {
    /// PushGateway base URL; every pair's metrics are pushed after it finishes (grouping key
    /// job="netbench", run). An unreachable gateway is a warning, never a failed run.
    #[arg(long, env = "NETBENCH_PUSHGATEWAY")]
    pushgateway: Option<String>,
    /// PushGateway basic-auth user.
    #[arg(long, env = "NETBENCH_PUSHGATEWAY_USER")]
    pushgateway_user: Option<String>,
    /// PushGateway basic-auth password.
    #[arg(long, env = "NETBENCH_PUSHGATEWAY_PASSWORD", hide_env_values = true)]
    pushgateway_password: Option<String>,
    /// CA certificate for an HTTPS PushGateway with a private CA.
    #[arg(long, env = "NETBENCH_PUSHGATEWAY_CA_FILE")]
    pushgateway_ca_file: Option<PathBuf>,
}

impl PushFlags {
    fn config(&self) -> Option<netbench_metrics::PushConfig> {
        Some(netbench_metrics::PushConfig {
            url: self.pushgateway.clone()?,
            user: self.pushgateway_user.clone(),
            password: self.pushgateway_password.clone(),
            ca_file: self.pushgateway_ca_file.clone(),
        })
    }
}

#[derive(Debug, Args)]
struct LocalArgs {
    /// Benchmark to run; a list (a,b or the flag again) runs each in turn over the same nodes.
    #[arg(long, default_value = "iperf3-tcp", value_parser = benchmark, value_delimiter = ',')]
    benchmark: Vec<&'static Benchmark>,
    /// Number of nodes (network namespaces, each with its pod), 2 to 80; n nodes give n·(n-1)
    /// pairs per path across nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Length of each test.
    #[arg(long, default_value = "10s", value_parser = test_duration)]
    duration: u32,
    #[command(flatten)]
    params: netbench_orchestrator::flags::ParamFlags,
    #[command(flatten)]
    suite: netbench_orchestrator::suite::SuiteFlags,
    /// The /24 inside 198.18.0.0/15 that the nodes live on; their pods and Service addresses
    /// take the same /24 in the other half (198.19.X.0/24 for 198.18.X.0/24, and back).
    #[arg(long, default_value = "198.18.0.0/24")]
    subnet: String,
    /// Use this NATS server (JetStream on) instead of starting one; results stay there.
    #[arg(long)]
    nats_url: Option<String>,
    /// With --nats-url: NATS credentials file (user JWT and NKey seed, from `nsc generate
    /// creds`), for the orchestrator and every worker.
    #[arg(long, env = "NATS_CREDS", value_name = "FILE")]
    nats_creds: Option<PathBuf>,
    /// With --nats-url: file with a user NKey seed (SU…).
    #[arg(long, env = "NATS_NKEY", value_name = "FILE")]
    nats_nkey: Option<PathBuf>,
    /// With --nats-url: NATS token.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    nats_token: Option<String>,
    /// nats-server binary to start (default: PATH, then /usr/sbin/nats-server).
    #[arg(long, env = "NETBENCH_NATS_SERVER")]
    nats_server: Option<PathBuf>,
    /// Leave our own nats-server running afterwards (prints its URL and pid).
    #[arg(long)]
    keep_nats: bool,
    /// Start N nats-servers clustered on loopback (1, 3 or 5) instead of one: the stream and
    /// bucket get N replicas and every client every server's URL, so a run outlives a server.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = nats_cluster_size,
          conflicts_with = "nats_url")]
    nats_cluster: usize,
    #[command(flatten)]
    store: netbench_report::cli::StoreFlags,
    /// Where to write the results file.
    #[arg(long, default_value = "netbench-results.json")]
    results: PathBuf,
    /// How long to wait for workers to register.
    #[arg(long, default_value = "60s", value_parser = duration)]
    timeout: Duration,
    /// Stop the run (partial results written) after this long.
    #[arg(long, default_value = "30m", value_parser = duration)]
    deadline: Duration,
    /// Run id (default: a fresh one).
    #[arg(long, value_parser = run_id)]
    run: Option<RunId>,
    /// TLS for our own nats-server, with a CA generated for this run that every client verifies.
    #[arg(long, conflicts_with = "nats_url")]
    tls: bool,
    /// Shape every node's link to this rate both ways with tc tbf (e.g. 100mbit, 2.5gbit), to
    /// see the pairs on a slower network.
    #[arg(long, value_name = "RATE")]
    link_rate: Option<netbench_local::testbed::LinkRate>,
    /// Spread the nodes over N zones (zone-a, zone-b, … round robin), e.g. for --plan zones:K.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=26))]
    zones: Option<u32>,
    #[command(flatten)]
    plan: PlanFlags,
    #[command(flatten)]
    roles: RoleFlags,
    #[command(flatten)]
    push: PushFlags,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    #[command(flatten)]
    nats: NatsFlags,
    /// Run id this worker serves.
    #[arg(long, env = "NETBENCH_RUN", value_parser = run_id)]
    run: RunId,
    /// Worker name as people know it (pod name).
    #[arg(long, env = "NETBENCH_WORKER_NAME")]
    name: String,
    /// The IP other workers reach this worker on (pod IP).
    #[arg(long, env = "NETBENCH_WORKER_IP")]
    ip: std::net::IpAddr,
    /// Node (VM) name.
    #[arg(long, env = "NETBENCH_NODE_NAME")]
    hostname: Option<String>,
    /// Node's availability zone.
    #[arg(long, env = "NETBENCH_ZONE", default_value = "")]
    zone: String,
    /// Where on its node this worker runs, i.e. which paths it serves: pod (the node's worker
    /// pod), host (in the node's own network: path host), same-node (a second pod on the
    /// node: the client of path same-node).
    #[arg(long, env = "NETBENCH_PLACEMENT", default_value = "pod")]
    placement: netbench_proto::Placement,
    /// The ClusterIP of the Service in front of exactly this worker's pod (path service).
    #[arg(long, env = "NETBENCH_SERVICE_IP")]
    service_ip: Option<std::net::IpAddr>,
    /// Exit after this long whatever happens.
    #[arg(long, default_value = "30m", value_parser = duration)]
    deadline: Duration,
    /// Cap on each of a tool's stdout and stderr, in bytes.
    #[arg(long, default_value_t = netbench_worker::service::DEFAULT_OUTPUT_CAP)]
    output_cap: usize,
    /// Exit when the parent process dies (used by `netbench local`).
    #[arg(long)]
    exit_with_parent: bool,
}

#[derive(Debug, Args)]
struct OrchestratorArgs {
    #[command(flatten)]
    nats: NatsFlags,
    #[command(flatten)]
    store: netbench_report::cli::StoreFlags,
    /// Benchmark to run; a list (a,b or the flag again) runs each in turn.
    #[arg(long, env = "NETBENCH_BENCHMARK", value_parser = benchmark, value_delimiter = ',', required_unless_present = "suite")]
    benchmark: Vec<&'static Benchmark>,
    /// Run id.
    #[arg(long, env = "NETBENCH_RUN", value_parser = run_id)]
    run: RunId,
    /// Number of workers to wait for.
    #[arg(long, env = "NETBENCH_WORKERS")]
    workers: usize,
    /// Names of the expected workers, comma separated (named when missing).
    #[arg(long, value_delimiter = ',')]
    expect: Vec<String>,
    /// How long to wait for all workers to register.
    #[arg(long, default_value = "5m", value_parser = duration)]
    timeout: Duration,
    /// Length of each test.
    #[arg(long, default_value = "10s", value_parser = test_duration)]
    duration: u32,
    #[command(flatten)]
    params: netbench_orchestrator::flags::ParamFlags,
    #[command(flatten)]
    suite: netbench_orchestrator::suite::SuiteFlags,
    /// Where to write the results file.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Stop the run (partial results written) after this long.
    #[arg(long, default_value = "30m", value_parser = duration)]
    deadline: Duration,
    #[command(flatten)]
    push: PushFlags,
    /// Serve the harness's own metrics on http://ADDR/metrics (e.g. 0.0.0.0:9090).
    #[arg(long, env = "NETBENCH_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    plan: PlanFlags,
    #[command(flatten)]
    roles: RoleFlags,
}

fn nats_cluster_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ (1 | 3 | 5)) => Ok(n),
        _ => Err(format!(
            "{s}: a NATS cluster has 1, 3 or 5 servers (an odd number, so a majority survives \
             the loss of one)"
        )),
    }
}

/// Cancelled on SIGINT or SIGTERM.
fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::warn!("SIGTERM: stopping"),
            _ = int.recv() => tracing::warn!("interrupted: stopping"),
        }
        t.cancel();
    });
    token
}

impl Cli {
    pub fn is_local(&self) -> bool {
        matches!(self.command, Command::Local(_))
    }

    pub async fn run(self) -> u8 {
        let shutdown = shutdown_on_signals();
        match self.command {
            Command::Local(a) => local(a, shutdown).await,
            Command::Worker(a) => worker(a, shutdown).await,
            Command::Orchestrator(a) => orchestrator(a, shutdown).await,
            Command::Launch(a) => {
                let display = netbench_launcher::cli::Display {
                    progress: show::progress_line,
                    summary: show::summary,
                };
                a.run(shutdown, display).await
            }
            Command::Watch(a) => netbench_report::cli::run_watch(a, shutdown).await,
            Command::Report(a) => netbench_report::cli::run_report(a),
            Command::Compare(a) => netbench_report::cli::run_compare(a),
        }
    }
}

async fn worker(a: WorkerArgs, shutdown: CancellationToken) -> u8 {
    if a.exit_with_parent {
        // SIGTERM us when the parent dies, so a killed `netbench local` leaves no worker behind.
        if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM) {
            tracing::warn!("cannot follow the parent process: {e}");
        }
    }
    let hostname = a.hostname.unwrap_or_else(|| a.name.clone());
    let cfg = netbench_worker::WorkerConfig {
        nats: a.nats.args(),
        run: a.run,
        info: WorkerInfo {
            id: WorkerId::for_name(&a.name),
            name: a.name,
            ip: a.ip,
            hostname,
            zone: a.zone,
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get() as u32),
            placement: a.placement,
            service_ip: a.service_ip,
        },
        deadline: a.deadline,
        output_cap: a.output_cap,
        tool_dirs: Vec::new(),
    };
    match netbench_worker::run(cfg, shutdown).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::RUN_FAILED
        }
    }
}

/// The run's entries from `--suite`, or from `--benchmark` with the other flags; each test
/// length checked against the deadline.
fn entries(
    suite: &netbench_orchestrator::suite::SuiteFlags,
    benchmarks: &[&'static Benchmark],
    duration: u32,
    params: &netbench_orchestrator::flags::ParamFlags,
    deadline: Duration,
) -> Result<Vec<netbench_orchestrator::suite::Entry>, String> {
    let entries = suite.entries(benchmarks, duration, params)?;
    netbench_orchestrator::suite::check(&entries, deadline)?;
    Ok(entries)
}

async fn orchestrator(a: OrchestratorArgs, shutdown: CancellationToken) -> u8 {
    let entries = match entries(&a.suite, &a.benchmark, a.duration, &a.params, a.deadline) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let cfg = netbench_orchestrator::OrchestratorConfig {
        nats: NatsArgs {
            store: a.store.config(),
            ..a.nats.args()
        },
        run: a.run,
        entries,
        workers: a.workers,
        expect: a.expect,
        registration_timeout: a.timeout,
        results: a.results,
        deadline: a.deadline,
        push: a.push.config(),
        harness: None,
        plan: PlanConfig {
            flags: a.plan,
            roles: a.roles,
        },
    };
    let mut cfg = cfg;
    let metrics_stop = CancellationToken::new();
    let _stop_metrics = metrics_stop.clone().drop_guard();
    if let Some(addr) = a.metrics_listen {
        let harness = std::sync::Arc::new(netbench_metrics::HarnessMetrics::new());
        match netbench_metrics::serve_metrics(addr, harness.clone(), metrics_stop.clone()).await {
            Ok(bound) => tracing::info!("harness metrics on http://{bound}/metrics"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::RUN_FAILED;
            }
        }
        cfg.harness = Some(harness);
    }
    match netbench_orchestrator::run(cfg, shutdown).await {
        Ok(outcome) => {
            if let Some(e) = &outcome.error {
                eprintln!("error: {e}");
            }
            exit::from_outcome(outcome.code)
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::RUN_FAILED
        }
    }
}

async fn local(a: LocalArgs, shutdown: CancellationToken) -> u8 {
    // The NATS that `local` starts has its own logins: a login for another NATS would be
    // silently unused.
    let given = [
        (a.nats_creds.is_some(), "--nats-creds (or NATS_CREDS)"),
        (a.nats_nkey.is_some(), "--nats-nkey (or NATS_NKEY)"),
        (a.nats_token.is_some(), "--nats-token (or NATS_TOKEN)"),
    ];
    if let (None, Some((_, flag))) = (&a.nats_url, given.iter().find(|(set, _)| *set)) {
        eprintln!(
            "error: {flag} is a login for an existing NATS and applies only with --nats-url; \
             without --nats-url, netbench local starts its own NATS with logins of its own. Add \
             --nats-url URL, or drop the flag (unset the variable)"
        );
        return exit::USAGE;
    }
    let entries = match entries(&a.suite, &a.benchmark, a.duration, &a.params, a.deadline) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let default_store = netbench_bus::jetstream::StoreConfig::default();
    if a.nats_url.is_none()
        && (a.store.stream != default_store.stream || a.store.kv_bucket != default_store.bucket)
    {
        eprintln!(
            "error: --stream and --kv-bucket apply to --nats-url (a NATS shared with others); \
             the nats-server netbench local starts for itself holds only this run"
        );
        return exit::USAGE;
    }
    let subnet = match netbench_local::testbed::Subnet::parse(&a.subnet) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot find the netbench binary for the workers: {e}");
            return exit::RUN_FAILED;
        }
    };
    let cfg = netbench_local::LocalConfig {
        entries,
        nodes: a.nodes,
        subnet,
        nats_url: a.nats_url,
        nats_creds: a.nats_creds,
        nats_nkey: a.nats_nkey,
        nats_token: a.nats_token,
        nats_server: a.nats_server,
        keep_nats: a.keep_nats,
        nats_cluster: a.nats_cluster,
        store: a.store.config(),
        results: a.results.clone(),
        netbench_exe: exe,
        registration_timeout: a.timeout,
        deadline: a.deadline,
        run: a.run,
        tls: a.tls,
        push: a.push.config(),
        link_rate: a.link_rate,
        zones: a.zones,
        plan: PlanConfig {
            flags: a.plan,
            roles: a.roles,
        },
    };
    let mut progress = show::Progress::new();
    let printed = |e: &netbench_proto::Event| progress.event(e);
    let outcome = netbench_local::run(cfg, shutdown, printed).await;
    progress.finish();
    match outcome {
        Ok(local) => {
            let o = &local.outcome;
            println!();
            // The summary from the file itself: the orchestrator keeps no outputs in memory.
            match std::fs::read(&a.results)
                .ok()
                .and_then(|b| serde_json::from_slice::<netbench_proto::ResultsFile>(&b).ok())
            {
                Some(file) => print!("{}", netbench_report::summary_text(&file)),
                None => eprintln!("(no results file to summarise)"),
            }
            if let Some(nat) = &local.service_nat {
                println!("{nat}");
            }
            println!();
            println!("results: {}", a.results.display());
            if let Some(e) = &o.error {
                eprintln!("error: {e}");
            }
            for (name, pid, dir) in &local.kept_cluster {
                println!(
                    "NATS cluster member {name} is still running (pid {pid}, store {})",
                    dir.display()
                );
            }
            if let Some((pid, dir)) = &local.kept_nats {
                let login = local
                    .observer
                    .as_ref()
                    .map(|l| {
                        format!(
                            " --user {} --password {} --inbox-prefix _INBOX_{}",
                            l.user, l.password, l.user
                        )
                    })
                    .unwrap_or_default();
                // With --tls the server takes TLS only, from the run's CA (in the store).
                let tlsca = if a.tls {
                    format!(" --tlsca {}", dir.join("ca.pem").display())
                } else {
                    String::new()
                };
                println!(
                    "NATS is still running at {url} (pid {pid}, store {}). Read it (read-only login) with:\n  \
                     nats --server {url}{login}{tlsca} stream view {stream}\nStop it with: kill {pid} && rm -r {}",
                    dir.display(),
                    dir.display(),
                    url = local.nats_url,
                    stream = a.store.stream,
                );
            }
            exit::from_outcome(o.code)
        }
        Err(e @ netbench_local::LocalError::Plan(_)) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::RUN_FAILED
        }
    }
}
