//! The whole launch: nodes, manifests, apply, wait, follow, collect, and cleanup always.

use crate::cluster;
use crate::follow::{self, Ending, OrchestratorProbe};
use crate::manifests::{self, Manifests};
use crate::pods::Assessment;
use crate::spec::{self, LaunchSpec, NatsPlan};
use crate::{LaunchError, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use netbench_bench::Benchmark;
use netbench_bus::{auth::RunCredentials, jetstream::Store, ConnectionStats, NatsArgs};
use netbench_proto::{Event, PairResult, RunId};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How the launcher itself reaches a NATS it deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connect {
    /// Through the Service when running in a pod (`KUBERNETES_SERVICE_HOST` set), else a
    /// port-forward through the API server.
    Auto,
    Service,
    PortForward,
}

#[derive(Debug, Clone)]
pub struct LaunchConfig {
    pub bench: &'static Benchmark,
    pub run: Option<RunId>,
    pub namespace: Option<String>,
    /// Label selector for the nodes; empty selects all.
    pub node_labels: String,
    pub orch_image: String,
    pub worker_image: String,
    pub nats_image: String,
    pub inject: bool,
    pub duration_seconds: u32,
    /// PushGateway URL for the orchestrator.
    pub pushgateway: Option<String>,
    /// Worker registration, pods becoming ready.
    pub timeout: Duration,
    /// How long to wait for the namespace to be gone (deletion takes 8-15 s on a small cluster).
    pub cleanup_timeout: Duration,
    pub deadline: Duration,
    /// How long after `deadline` the launcher waits for the orchestrator to stop on its own.
    pub deadline_grace: Duration,
    pub output_dir: PathBuf,
    pub keep: bool,
    /// Use this NATS instead of deploying one.
    pub nats_url: Option<String>,
    pub connect: Connect,
}

#[derive(Debug)]
pub struct LaunchOutcome {
    pub run: RunId,
    pub namespace: String,
    pub ending: Ending,
    pub results: Vec<PairResult>,
    pub results_path: Option<PathBuf>,
    /// Set when the namespace could not be deleted.
    pub cleanup_error: Option<String>,
}

/// What the launcher tells its user along the way.
pub trait Report: Send {
    fn status(&mut self, line: &str);
    fn event(&mut self, e: &Event);
}

/// The [`LaunchSpec`] of a launch on `nodes`.
pub fn make_spec(cfg: &LaunchConfig, run: RunId, nodes: Vec<spec::NodeInfo>) -> LaunchSpec {
    let namespace = cfg
        .namespace
        .clone()
        .unwrap_or_else(|| spec::default_namespace(&run));
    let nats = match &cfg.nats_url {
        Some(url) => NatsPlan::External { url: url.clone() },
        None => {
            let ids: Vec<_> = nodes
                .iter()
                .map(|n| LaunchSpec::worker_id(&n.name))
                .collect();
            NatsPlan::Deploy {
                url: LaunchSpec::nats_service_dns_url(&namespace),
                creds: RunCredentials::generate(&run, &ids),
            }
        }
    };
    LaunchSpec {
        run,
        bench: cfg.bench,
        namespace,
        nodes,
        orch_image: cfg.orch_image.clone(),
        worker_image: cfg.worker_image.clone(),
        nats_image: cfg.nats_image.clone(),
        nats,
        inject: cfg.inject,
        duration_seconds: cfg.duration_seconds,
        pushgateway: cfg.pushgateway.clone(),
        timeout: cfg.timeout,
        deadline: cfg.deadline,
    }
}

struct JobProbe {
    client: Client,
    namespace: String,
}
impl OrchestratorProbe for JobProbe {
    async fn failure(&self) -> Option<String> {
        cluster::job_failure(&self.client, &self.namespace)
            .await
            .ok()
            .flatten()
    }
}

/// Run a whole launch. The namespace is deleted at the end whatever happens (unless `keep`).
pub async fn launch(
    client: Client,
    cfg: LaunchConfig,
    shutdown: CancellationToken,
    report: &mut impl Report,
) -> Result<LaunchOutcome> {
    let nodes = cluster::select_nodes(&client, &cfg.node_labels).await?;
    let run = cfg.run.clone().unwrap_or_else(RunId::generate);
    let mut spec = make_spec(&cfg, run.clone(), nodes);
    cluster::check_namespace_free(&client, &spec.namespace).await?;
    report.status(&format!(
        "run {run}: {} on {} nodes ({}) in namespace {}",
        spec.bench.name,
        spec.nodes.len(),
        spec.nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        spec.namespace
    ));
    let result = deploy_and_follow(&client, &cfg, &mut spec, &shutdown, report).await;
    let cleanup_error = if cfg.keep {
        report.status(&format!(
            "--keep: namespace {} left in place; delete it with: kubectl delete namespace {}",
            spec.namespace, spec.namespace
        ));
        None
    } else {
        report.status(&format!("deleting namespace {}", spec.namespace));
        match cluster::delete_namespace(&client, &spec.namespace, cfg.cleanup_timeout).await {
            Ok(()) => {
                report.status(&format!("namespace {} deleted", spec.namespace));
                None
            }
            Err(e) => {
                report.status(&format!("could not clean up: {e}"));
                Some(e.to_string())
            }
        }
    };
    let (ending, results, results_path) = result?;
    Ok(LaunchOutcome {
        run,
        namespace: spec.namespace,
        ending,
        results,
        results_path,
        cleanup_error,
    })
}

type Followed = (Ending, Vec<PairResult>, Option<PathBuf>);

async fn deploy_and_follow(
    client: &Client,
    cfg: &LaunchConfig,
    spec: &mut LaunchSpec,
    shutdown: &CancellationToken,
    report: &mut impl Report,
) -> Result<Followed> {
    let m: Manifests = manifests::mk_all(spec);
    let cluster_ip = cluster::apply_base(client, &m).await?;
    // Pods reach NATS through the Service's ClusterIP: works with or without cluster DNS.
    if let (Some(ip), NatsPlan::Deploy { url, .. }) = (&cluster_ip, &mut spec.nats) {
        *url = format!("nats://{}:{}", bracket(ip), spec::NATS_CLIENT_PORT);
    }
    let m = manifests::mk_all(spec);
    cluster::apply_run(client, &m).await?;
    report.status(&format!(
        "manifests applied; waiting for pods to be ready (up to {:?})",
        cfg.timeout
    ));
    let mut expected: Vec<String> = Vec::new();
    if m.nats_pod.is_some() {
        expected.push(spec::NATS_NAME.into());
    }
    expected.extend(spec.worker_names());
    let mut progress = |a: &Assessment| {
        report.status(&format!(
            "pods ready: {}/{}",
            a.ready.len(),
            expected_len(a)
        ));
    };
    cluster::wait_ready(
        client,
        &spec.namespace,
        &expected,
        cfg.timeout,
        shutdown,
        &mut progress,
    )
    .await?;
    report.status("all pods ready; following the run");

    // Connect to NATS.
    let (nats_args, _forward) = nats_endpoint(client, cfg, spec).await?;
    let nats =
        netbench_bus::connect(&nats_args, "netbench launch", &ConnectionStats::default()).await?;
    let store = open_store(&nats, cfg.timeout, shutdown).await?;
    let probe = JobProbe {
        client: client.clone(),
        namespace: spec.namespace.clone(),
    };
    // Our deadline leaves the orchestrator time to stop at its own and publish what it has.
    let ending = follow::follow(
        &store,
        &nats,
        &spec.run,
        cfg.deadline + cfg.deadline_grace,
        shutdown,
        &probe,
        |e| report.event(e),
    )
    .await?;
    let collected =
        tokio::time::timeout(Duration::from_secs(60), follow::collect(&store, &spec.run))
            .await
            .map_err(|_| LaunchError::Nats("reading the results took over 60 s".into()))??;
    let path = follow::write_results(&cfg.output_dir, spec.bench.name, &spec.run, &collected)?;
    report.status(&format!(
        "{} results written to {}",
        collected.results.len(),
        path.display()
    ));
    let _ = nats.drain().await;
    Ok((ending, collected.results, Some(path)))
}

/// Open the run store. As the read-only observer we cannot create the stream: the
/// orchestrator does when it starts, so retry until it exists (or `timeout`).
async fn open_store(
    nats: &async_nats::Client,
    timeout: Duration,
    shutdown: &CancellationToken,
) -> Result<Store> {
    let started = std::time::Instant::now();
    loop {
        match Store::open(nats.clone()).await {
            Ok(s) => return Ok(s),
            Err(e) if started.elapsed() >= timeout => return Err(e.into()),
            Err(e) => tracing::debug!("stream not there yet: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return Err(LaunchError::Interrupted("while waiting for the orchestrator")),
        }
    }
}

fn expected_len(a: &Assessment) -> usize {
    a.ready.len() + a.waiting.len()
}

fn bracket(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// Where the launcher connects: the user's NATS, the Service, or a port-forward.
async fn nats_endpoint(
    client: &Client,
    cfg: &LaunchConfig,
    spec: &LaunchSpec,
) -> Result<(NatsArgs, Option<crate::portforward::Forward>)> {
    match &spec.nats {
        NatsPlan::External { url } => Ok((
            NatsArgs {
                url: url.clone(),
                ..Default::default()
            },
            None,
        )),
        NatsPlan::Deploy { url, creds } => {
            let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
            let via_service = match cfg.connect {
                Connect::Service => true,
                Connect::PortForward => false,
                Connect::Auto => in_cluster,
            };
            // The launcher only reads: it logs in as the observer.
            let creds = |url: String| {
                NatsArgs {
                    url,
                    ..Default::default()
                }
                .with_login(&creds.observer)
            };
            if via_service {
                return Ok((creds(url.clone()), None));
            }
            let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
            let fwd =
                crate::portforward::start(pods, spec::NATS_NAME, spec::NATS_CLIENT_PORT).await?;
            let url = format!("nats://{}", fwd.local);
            Ok((creds(url), Some(fwd)))
        }
    }
}
