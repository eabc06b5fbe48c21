//! The whole local run: checks, NATS, testbed, workers, orchestrator, teardown.

use crate::nats_server::{self, NatsCluster, NatsServer};
use crate::testbed::{self, Layout, LinkRate, ServiceNat, Subnet, Testbed};
use crate::workers::{WorkerLaunch, Workers};
use futures::StreamExt;
use netbench_bus::auth::{Login, RunCredentials};
use netbench_bus::tls::RunTls;
use netbench_bus::{ConnectionStats, NatsArgs};
use netbench_orchestrator::{OrchestratorConfig, RunOutcome};
use netbench_proto::{subjects, Event, RunId, WorkerId};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Port the relay listens on at the testbed gateway.
const RELAY_PORT: u16 = 4222;

#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// What the run measures: benchmarks with their lengths, parameters and samples.
    pub entries: Vec<netbench_orchestrator::suite::Entry>,
    pub nodes: usize,
    pub subnet: Subnet,
    /// Use this NATS (JetStream on) instead of starting one.
    pub nats_url: Option<String>,
    /// The login on that server (`--nats-creds`, `--nats-nkey`, `--nats-token`), for the
    /// orchestrator, the progress watcher and every worker alike.
    pub nats_creds: Option<PathBuf>,
    pub nats_nkey: Option<PathBuf>,
    pub nats_token: Option<String>,
    /// The nats-server binary to start (default: PATH, then /usr/sbin).
    pub nats_server: Option<PathBuf>,
    /// Leave our own nats-server running after the run.
    pub keep_nats: bool,
    /// Start this many nats-servers clustered on loopback (1: one server). The stream and the
    /// bucket then get as many replicas, and every client gets every server's URL.
    pub nats_cluster: usize,
    /// Stream and bucket names (`--stream`, `--kv-bucket`) and replicas.
    pub store: netbench_bus::jetstream::StoreConfig,
    pub results: PathBuf,
    /// The netbench binary the workers run (this very program).
    pub netbench_exe: PathBuf,
    pub registration_timeout: Duration,
    pub deadline: Duration,
    pub run: Option<RunId>,
    /// TLS with a CA generated for this run (our own nats-server only).
    pub tls: bool,
    /// Passed to the orchestrator: push every pair's metrics here.
    pub push: Option<netbench_metrics::PushConfig>,
    /// Shape every node's link to this rate, both ways (tc tbf).
    pub link_rate: Option<LinkRate>,
    /// Spread the nodes over this many zones (zone-a, zone-b, …, round robin by node).
    pub zones: Option<u32>,
    /// Which pairs, how many at once (checked against the deadline before anything starts).
    pub plan: netbench_orchestrator::flags::PlanConfig,
}

/// The zone of the i-th node (1-based) when the nodes are spread over `zones` zones.
pub fn zone_of(i: usize, zones: Option<u32>) -> String {
    match zones {
        None | Some(0) => "local".into(),
        Some(z) => {
            let k = (i.saturating_sub(1)) % z as usize;
            let mut name = String::new();
            let mut k1 = k + 1;
            while k1 > 0 {
                name.insert(0, (b'a' + ((k1 - 1) % 26) as u8) as char);
                k1 = (k1 - 1) / 26;
            }
            format!("zone-{name}")
        }
    }
}

/// The nodes of a local run as the plan sees them.
pub fn plan_nodes(nodes: usize, zones: Option<u32>) -> Vec<netbench_orchestrator::plan::PlanNode> {
    (1..=nodes)
        .map(|i| netbench_orchestrator::plan::PlanNode {
            name: testbed::node_name(i),
            zone: if zones.is_some() {
                zone_of(i, zones)
            } else {
                String::new()
            },
        })
        .collect()
}

/// What the bed of a local run holds: the pods, workers and Services its entries' paths need.
pub fn layout(entries: &[netbench_orchestrator::suite::Entry]) -> Layout {
    let ports: Vec<netbench_bench::Port> = entries
        .iter()
        .filter(|e| e.paths.contains(netbench_proto::Path::Service))
        .flat_map(|e| e.bench.ports.iter().copied())
        .collect();
    Layout::for_paths(netbench_orchestrator::suite::all_paths(entries), &ports)
}

/// The plan of a local run and its estimate, or why it cannot run (exit 2), before anything
/// is started. With a seed given or drawn here, the orchestrator plans the same pairs.
pub fn check_plan(cfg: &mut LocalConfig) -> Result<netbench_orchestrator::flags::Estimate, String> {
    layout(&cfg.entries)
        .check_nodes(cfg.nodes)
        .map_err(|e| e.to_string())?;
    if let netbench_orchestrator::plan::PlanSpec::Zones(_) = cfg.plan.flags.plan {
        if cfg.zones.is_none() {
            return Err(format!(
                "--plan {} needs zones, and local nodes have none: add --zones N (e.g. --zones 2)",
                cfg.plan.flags.plan
            ));
        }
    }
    let seed = cfg.plan.seed();
    cfg.plan.flags.seed = Some(seed);
    let nodes = plan_nodes(cfg.nodes, cfg.zones);
    let plan = cfg.plan.plan(&nodes, seed, &cfg.entries)?;
    netbench_orchestrator::flags::fits(&plan, &cfg.plan, &cfg.entries, cfg.deadline)
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("netbench local needs root to create network namespaces; run it with sudo")]
    NotRoot,
    #[error("{program} is not installed, and {bench} needs it: {hint}")]
    MissingTool {
        program: &'static str,
        bench: &'static str,
        hint: &'static str,
    },
    #[error(transparent)]
    Nats(#[from] nats_server::NatsServerError),
    #[error(transparent)]
    Testbed(#[from] crate::testbed::TestbedError),
    #[error("{0}")]
    Setup(String),
    /// The plan cannot run as asked (exit 2): nothing was started.
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Bus(#[from] netbench_bus::BusError),
    #[error(transparent)]
    Orchestrator(#[from] netbench_orchestrator::run::OrchestratorError),
}

pub struct LocalOutcome {
    pub outcome: RunOutcome,
    pub run: RunId,
    pub nats_url: String,
    /// When `keep_nats`: the pid and directory of the server left running.
    pub kept_nats: Option<(u32, PathBuf)>,
    /// When `keep_nats` with a NATS cluster: each server left running (name, pid, directory).
    pub kept_cluster: Vec<(String, u32, PathBuf)>,
    /// The observer (read-only) login of our own server, for `nats sub` and `netbench watch`.
    pub observer: Option<Login>,
    /// What the Service rules matched (path service), read before the bed went.
    pub service_nat: Option<ServiceNat>,
}

/// Every server of a NATS URL list (`nats://a:1,nats://b:2`), as `host:port`: the workers get
/// one relay to each, so that they fail over as the orchestrator does.
fn relay_targets(url: &str) -> Vec<String> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(relay_target)
        .collect()
}

fn relay_target(url: &str) -> String {
    let first = url.split(',').next().unwrap_or(url).trim();
    let no_scheme = first.split("://").last().unwrap_or(first);
    let host_port = no_scheme.rsplit('@').next().unwrap_or(no_scheme);
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:4222")
    }
}

/// The NATS `local` starts for itself: one server, or a cluster on loopback.
enum OwnNats {
    Single(NatsServer),
    Cluster(NatsCluster, tempfile::TempDir),
}

impl OwnNats {
    fn url(&self) -> String {
        match self {
            OwnNats::Single(s) => s.url.clone(),
            OwnNats::Cluster(c, _) => c.url(),
        }
    }
}

/// Run a whole local benchmark. `on_event` sees every progress event as it happens.
pub async fn run(
    cfg: LocalConfig,
    shutdown: CancellationToken,
    mut on_event: impl FnMut(&Event) + Send,
) -> Result<LocalOutcome, LocalError> {
    let mut cfg = cfg;
    check_plan(&mut cfg).map_err(LocalError::Plan)?;
    if !crate::is_root() {
        return Err(LocalError::NotRoot);
    }
    for e in &cfg.entries {
        for program in e.bench.programs() {
            if netbench_worker::tools::locate(program, &[]).is_none() {
                return Err(LocalError::MissingTool {
                    program,
                    bench: e.bench.name,
                    hint: netbench_worker::tools::install_hint(program),
                });
            }
        }
    }
    let layout = layout(&cfg.entries);
    if layout.services() {
        testbed::find_iptables()?;
    }
    let run = cfg.run.clone().unwrap_or_else(RunId::generate);
    let tag: String = run.as_str().chars().take(6).collect();

    // Every worker of every placement: NATS logins are made for each before the bed exists.
    let worker_names: Vec<String> = layout
        .workers(&tag, cfg.subnet, cfg.nodes)
        .into_iter()
        .map(|p| p.name)
        .collect();

    // NATS: ours, with fresh credentials per role, or the user's as given.
    let (server, credentials, ca) = match &cfg.nats_url {
        Some(_) => (None, None, None),
        None => {
            let ids: Vec<WorkerId> = worker_names.iter().map(|n| WorkerId::for_name(n)).collect();
            let creds = RunCredentials::generate(&run, &ids);
            let bin = nats_server::locate(cfg.nats_server.as_deref())?;
            let dir = tempfile::Builder::new()
                .prefix("netbench-nats-")
                .tempdir()
                .map_err(|e| LocalError::Setup(format!("temp dir: {e}")))?;
            let mut auth = creds.render();
            let ca = if cfg.tls {
                let tls = RunTls::generate(
                    &[[127, 0, 0, 1].into(), cfg.subnet.gateway().into()],
                    &["localhost"],
                )
                .map_err(|e| LocalError::Setup(e.to_string()))?;
                let ca = tls
                    .write(dir.path())
                    .map_err(|e| LocalError::Setup(format!("TLS files: {e}")))?;
                auth.push_str(&RunTls::server_block(dir.path()));
                Some(ca)
            } else {
                None
            };
            let server = if cfg.nats_cluster > 1 {
                // `dir` holds the TLS files the servers' configs name: it lives as long as they do.
                let cluster = NatsCluster::start(&bin, cfg.nats_cluster, &auth)?;
                for i in 0..cluster.len() {
                    if let Some(s) = cluster.server(i) {
                        eprintln!(
                            "NATS cluster: {} pid {} at {} (monitor {}, store {})",
                            cluster.name(i),
                            s.pid().unwrap_or(0),
                            s.url,
                            s.monitor,
                            s.dir().display()
                        );
                    }
                }
                OwnNats::Cluster(cluster, dir)
            } else {
                OwnNats::Single(NatsServer::start_in(&bin, dir, "127.0.0.1:-1", &auth)?)
            };
            (Some(server), Some(creds), ca)
        }
    };
    let nats_url = cfg
        .nats_url
        .clone()
        .unwrap_or_else(|| server.as_ref().expect("started").url());
    let mut store = cfg.store.clone();
    if cfg.nats_cluster > 1 && store.replicas == 1 {
        store.replicas = cfg.nats_cluster.min(5);
    }
    let base = NatsArgs {
        connect_wait: Default::default(),
        url: nats_url.clone(),
        tls_ca: ca.clone(),
        store,
        ..Default::default()
    };
    let base = match &cfg.nats_url {
        Some(_) => NatsArgs {
            creds: cfg.nats_creds.clone(),
            nkey: cfg.nats_nkey.clone(),
            token: cfg.nats_token.clone(),
            ..base
        },
        None => base,
    };
    let base_user = base.clone();
    let (nats, observer) = match &credentials {
        Some(c) => (
            base.with_login(&c.orchestrator),
            base.with_login(&c.observer),
        ),
        None => (base.clone(), base),
    };
    // Fail early and clearly when the user's NATS is unreachable.
    let watcher = netbench_bus::connect(
        &observer,
        "netbench local (progress)",
        &ConnectionStats::default(),
    )
    .await?;
    let mut events = watcher
        .subscribe(subjects::event(&run))
        .await
        .map_err(|e| LocalError::Setup(format!("cannot subscribe to events: {e}")))?;

    let testbed = Testbed::create(&tag, cfg.subnet, cfg.nodes, &layout)?;
    if let Some(rate) = cfg.link_rate {
        testbed.shape(rate)?;
    }
    let relay_stop = CancellationToken::new();
    let _relay_guard = relay_stop.clone().drop_guard();
    let mut relays = Vec::new();
    for (i, target) in relay_targets(&nats_url).into_iter().enumerate() {
        let port = RELAY_PORT + i as u16;
        let relay = crate::relay::start(
            SocketAddr::new(cfg.subnet.gateway().into(), port),
            target,
            relay_stop.clone(),
        )
        .await
        .map_err(|e| {
            LocalError::Setup(format!(
                "cannot listen on {}:{port}: {e}",
                cfg.subnet.gateway()
            ))
        })?;
        relays.push(format!("nats://{relay}"));
    }

    let logs = tempfile::Builder::new()
        .prefix("netbench-local-")
        .tempdir()
        .map_err(|e| LocalError::Setup(format!("temp dir: {e}")))?;
    let worker_url = relays.join(",");
    let workers = Workers::start(
        &testbed.workers(),
        &WorkerLaunch {
            exe: &cfg.netbench_exe,
            nats_url: &worker_url,
            run: &run,
            deadline: cfg.deadline + Duration::from_secs(30),
            log_dir: logs.path(),
            credentials: credentials.as_ref(),
            tls_ca: ca.as_deref(),
            zones: cfg.zones,
            user_auth: cfg.nats_url.as_ref().map(|_| &base_user),
        },
    )
    .map_err(|e| {
        LocalError::Setup(format!(
            "cannot start workers ({}): {e}",
            cfg.netbench_exe.display()
        ))
    })?;

    let orch = OrchestratorConfig {
        nats: nats.clone(),
        run: run.clone(),
        entries: cfg.entries.clone(),
        workers: worker_names.len(),
        expect: worker_names,
        registration_timeout: cfg.registration_timeout,
        results: Some(cfg.results.clone()),
        deadline: cfg.deadline,
        push: cfg.push.clone(),
        harness: None,
        plan: cfg.plan.clone(),
    };
    let orchestrator = netbench_orchestrator::run(orch, shutdown.clone());
    tokio::pin!(orchestrator);
    let outcome = loop {
        tokio::select! {
            o = &mut orchestrator => break o,
            Some(msg) = events.next() => {
                if let Ok(e) = serde_json::from_slice::<Event>(&msg.payload) {
                    on_event(&e);
                }
            }
        }
    };
    // Drain events still in flight (the last pair, run finished).
    let _ = watcher.flush().await;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(50), events.next()).await {
        if let Ok(e) = serde_json::from_slice::<Event>(&msg.payload) {
            on_event(&e);
        }
    }
    let outcome = outcome.inspect_err(|_| {
        eprintln!("worker logs: {}", logs.path().display());
    });
    // Teardown order: workers, relay, namespaces, then NATS.
    drop(workers);
    relay_stop.cancel();
    let service_nat = match testbed.service_nat() {
        Some(Ok(nat)) => Some(nat),
        Some(Err(e)) => {
            eprintln!("warning: cannot read the Service rules' counters: {e}");
            None
        }
        None => None,
    };
    drop(testbed);
    // Without a results file the store is the only copy of the results: keep it.
    let keep = cfg.keep_nats || outcome.is_err();
    let (kept_nats, kept_cluster) = match server {
        Some(OwnNats::Single(s)) if keep => (Some(s.leak()), Vec::new()),
        Some(OwnNats::Cluster(c, tls_dir)) if keep => {
            // The kept servers read their TLS files from it; without TLS it is empty and goes.
            if cfg.tls {
                let _ = tls_dir.keep();
            }
            let kept = c.leak();
            (kept.first().map(|(_, pid, dir)| (*pid, dir.clone())), kept)
        }
        _ => (None, Vec::new()),
    };
    if let (Err(_), Some((pid, dir))) = (&outcome, &kept_nats) {
        eprintln!(
            "the results are still in JetStream: nats-server pid {pid} at {nats_url}, store {}",
            dir.display()
        );
    }
    Ok(LocalOutcome {
        outcome: outcome?,
        run,
        nats_url,
        kept_nats,
        kept_cluster,
        observer: credentials.map(|c| c.observer),
        service_nat,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn relay_target_from_urls() {
        assert_eq!(
            super::relay_target("nats://127.0.0.1:4333"),
            "127.0.0.1:4333"
        );
        assert_eq!(
            super::relay_target("nats://u:p@127.0.0.1:4333,nats://x:1"),
            "127.0.0.1:4333"
        );
        assert_eq!(super::relay_target("localhost"), "localhost:4222");
        assert_eq!(
            super::relay_targets("nats://127.0.0.1:1, nats://u:p@127.0.0.1:2,"),
            vec!["127.0.0.1:1", "127.0.0.1:2"]
        );
    }
}
