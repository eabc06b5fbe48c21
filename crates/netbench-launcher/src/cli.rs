//! The flags of `netbench launch` (the established ones keep their meaning and defaults; Go-style
//! `-camelCase` spellings are accepted through [`crate::argv::normalize`]).

use crate::launch::{Connect, LaunchConfig, Report};
use crate::manifests;
use crate::spec::NodeInfo;
use crate::LaunchError;
use clap::{ArgAction, Args, ValueEnum};
use netbench_bench::flags::{benchmark, duration, run_id, test_duration};
use netbench_bench::Benchmark;
use netbench_proto::{Event, ExitCode, PairResult, RunId};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Exit codes (the table every netbench subcommand uses).
const EXIT_USAGE: u8 = ExitCode::Usage as u8;
const EXIT_RUN_FAILED: u8 = ExitCode::RunFailed as u8;
const EXIT_INTERRUPTED: u8 = ExitCode::Interrupted as u8;

/// A Kubernetes namespace name (RFC 1123 label).
fn namespace(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a namespace name: lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit"
        ))
    }
}

/// `--nats-replicas`: 1, 3 or 5 (clap exits 2 with the message otherwise).
/// A JetStream stream or bucket name (`--stream`, `--kv-bucket`).
fn js_name(s: &str) -> Result<String, String> {
    netbench_bus::jetstream::StoreConfig {
        stream: s.into(),
        ..Default::default()
    }
    .validate()
    .map(|_| s.to_string())
    .map_err(|e| e.trim_start_matches("--stream ").to_string())
}

fn nats_replicas(s: &str) -> Result<u8, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number: give 1, 3 or 5"))?;
    crate::spec::check_nats_replicas(n)
}

/// `name`, `name=zone`, and either with `@IP` (the node's InternalIP, which `--paths host`
/// admits to NATS): `node-1=zone-a@198.18.0.1`.
fn dry_node(s: &str) -> Result<NodeInfo, String> {
    let bad =
        || format!("{s:?}: give node names like node-1, node-1=zone-a or node-1=zone-a@10.0.0.1");
    let (node, ip) = match s.split_once('@') {
        Some((n, ip)) => (n, Some(ip.parse().map_err(|_| bad())?)),
        None => (s, None),
    };
    let (name, zone) = node.split_once('=').unwrap_or((node, ""));
    if name.is_empty() {
        return Err(bad());
    }
    Ok(NodeInfo {
        name: name.into(),
        zone: zone.into(),
        ip,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConnectArg {
    /// Through the Service in a pod, else a port-forward.
    Auto,
    Service,
    PortForward,
}

/// Deploy NATS, an orchestrator and one worker per node into a fresh namespace, run the
/// benchmark, write the results file, delete the namespace.
#[derive(Debug, Clone, Args)]
pub struct LaunchArgs {
    /// Benchmark to run; a list (a,b or the flag again) runs each in turn on one deployment.
    #[arg(long, value_parser = benchmark, value_delimiter = ',', required_unless_present = "suite")]
    pub benchmark: Vec<&'static Benchmark>,
    /// Stop the run (partial results written) after this long.
    #[arg(long, default_value = "30m", value_parser = duration)]
    pub deadline: Duration,
    /// Istio sidecar injection for the workers (namespace label istio-injection=enabled).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, default_value = "false")]
    pub inject: bool,
    /// Namespace to create for the run (default: netbench-<run>); it is deleted afterwards.
    #[arg(long, value_parser = namespace)]
    pub namespace: Option<String>,
    /// Run in this namespace, which an admin created (with the Role of deploy/overlays/namespaced
    /// bound to the launcher): only the run's own objects are created and deleted there; the
    /// namespace is never created, labelled or deleted.
    #[arg(long, value_parser = namespace, conflicts_with = "namespace")]
    pub existing_namespace: Option<String>,
    /// Label selector for the nodes to measure; an empty value selects every node.
    #[arg(long, default_value = "node-lifecycle=on-demand")]
    pub node_labels: String,
    /// Orchestrator image (needs the netbench binary on PATH).
    #[arg(long, default_value = "netbench:latest")]
    pub orch_image: String,
    /// Worker image (netbench plus iperf3, netperf, qperf, fortio; docker/worker.Dockerfile).
    #[arg(long, default_value = "netbench-worker:latest")]
    pub worker_image: String,
    /// NATS image (official, tag pinned).
    #[arg(long, default_value = "nats:2.10.22-alpine")]
    pub nats_image: String,
    /// Directory the results file is written to.
    #[arg(long, default_value = "/share/networkperformance_results")]
    pub output_file_directory: PathBuf,
    /// Timeout for pods becoming ready, worker registration, and cleanup.
    #[arg(long, default_value = "5m", value_parser = duration)]
    pub timeout: Duration,
    /// Length of each test.
    #[arg(long, default_value = "10s", value_parser = test_duration)]
    pub duration: u32,
    #[command(flatten)]
    pub params: netbench_orchestrator::flags::ParamFlags,
    #[command(flatten)]
    pub suite: netbench_orchestrator::suite::SuiteFlags,
    /// A CPU limit for the worker pods (e.g. 2, 1500m). None by default: a limit's CFS
    /// throttling caps a multi-stream test and distorts what is measured; the pods request
    /// 100m.
    #[arg(long, value_name = "CPUS", value_parser = cpu_quantity)]
    pub worker_cpu_limit: Option<String>,
    /// Leave the namespace in place afterwards (for debugging).
    #[arg(long)]
    pub keep: bool,
    /// Print every manifest as YAML and exit; needs no cluster.
    #[arg(long)]
    pub dry_run: bool,
    /// Nodes to render with --dry-run: name or name=zone, optionally @IP (the node's
    /// InternalIP, for --paths host), comma separated.
    #[arg(long, value_delimiter = ',', value_parser = dry_node, default_value = "node-1=zone-a,node-2=zone-b")]
    pub dry_run_nodes: Vec<NodeInfo>,
    /// Use this NATS (JetStream on, reachable from the pods and from here) instead of deploying one.
    #[arg(long)]
    pub nats_url: Option<String>,
    /// How many NATS servers to deploy: 1 (one pod), or 3 or 5 clustered servers (a
    /// StatefulSet, JetStream replicated on each, a PodDisruptionBudget): the run then
    /// survives the loss of one NATS pod (two with 5). Not with --nats-url.
    #[arg(long, value_name = "N", value_parser = nats_replicas)]
    pub nats_replicas: Option<u8>,
    /// With --nats-url: the JetStream stream of the results and events (created when missing;
    /// an existing one is used as it is, or refused when it cannot hold them: never changed).
    #[arg(long, env = "NETBENCH_STREAM", default_value = "NETBENCH", value_parser = js_name)]
    pub stream: String,
    /// With --nats-url: the key-value bucket of the run states.
    #[arg(long, env = "NETBENCH_KV_BUCKET", default_value = "NETBENCH_RUNS", value_parser = js_name)]
    pub kv_bucket: String,
    /// TLS to NATS: the deployed NATS gets a certificate from a CA generated for the run (for its
    /// Service names, its ClusterIP, 127.0.0.1), and the orchestrator, the workers and the
    /// launcher verify it against that CA. With --nats-url, give that server's CA (--nats-ca).
    #[arg(long)]
    pub tls: bool,
    /// With --nats-url: the CA certificate (PEM) the server's certificate chains to; turns TLS on.
    #[arg(long, requires = "nats_url")]
    pub nats_ca: Option<PathBuf>,
    /// With --nats-url: NATS credentials file (user JWT and NKey seed, from `nsc generate
    /// creds`), for a server in operator mode. The launcher logs in with it; the orchestrator
    /// and the workers get it from a Secret the launcher creates (and deletes with the run).
    #[arg(long, env = "NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// With --nats-url: file with a user NKey seed (SU…), for a server that lists nkey users.
    #[arg(long, env = "NATS_NKEY", value_name = "FILE")]
    pub nats_nkey: Option<PathBuf>,
    /// With --nats-url: NATS token, for a server with `authorization { token: … }` (the pods
    /// read it from a Secret, never from their spec).
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// How the launcher reaches the NATS it deployed.
    #[arg(long, value_enum, default_value = "auto")]
    pub connect: ConnectArg,
    /// Run id (default: a fresh one).
    #[arg(long, value_parser = run_id)]
    pub run: Option<RunId>,
    /// Passed to the orchestrator: push every pair's metrics to this PushGateway (URL only;
    /// it appears in the orchestrator's pod spec, so put no password in it).
    #[arg(long, env = "NETBENCH_PUSHGATEWAY")]
    pub pushgateway: Option<String>,
    #[command(flatten)]
    pub plan: netbench_orchestrator::flags::PlanFlags,
    /// Only nodes that also match this label selector are clients (e.g. zone=a).
    #[arg(long, value_name = "SELECTOR")]
    pub clients: Option<String>,
    /// Only nodes that also match this label selector are servers.
    #[arg(long, value_name = "SELECTOR")]
    pub servers: Option<String>,
}

/// How the binary prints progress lines and the summary (from `netbench`'s `show` module).
pub struct Display {
    pub progress: fn(&Event) -> Option<String>,
    pub summary: fn(&[PairResult]) -> String,
}

struct Printer {
    display: Display,
}
impl Report for Printer {
    fn status(&mut self, line: &str) {
        eprintln!("launch: {line}");
    }
    fn event(&mut self, e: &Event) {
        if let Some(l) = (self.display.progress)(e) {
            println!("{l}");
        }
    }
}

impl LaunchArgs {
    /// The launch's configuration; `Err` (a usage error) for a suite file that cannot be read
    /// or used, or entries that do not go together.
    pub fn config(&self) -> Result<LaunchConfig, LaunchError> {
        let Self {
            benchmark,
            deadline,
            inject,
            namespace,
            existing_namespace,
            node_labels,
            orch_image,
            worker_image,
            nats_image,
            output_file_directory,
            timeout,
            duration,
            params,
            suite,
            worker_cpu_limit,
            keep,
            dry_run: _,
            dry_run_nodes: _,
            nats_url,
            nats_replicas,
            stream,
            kv_bucket,
            tls,
            nats_ca,
            nats_creds,
            nats_nkey,
            nats_token,
            connect,
            run,
            pushgateway,
            plan,
            clients,
            servers,
        } = self.clone();
        let entries = suite
            .entries(&benchmark, duration, &params)
            .map_err(LaunchError::Usage)?;
        Ok(LaunchConfig {
            entries,
            run,
            existing_namespace: existing_namespace.is_some(),
            namespace: existing_namespace.or(namespace),
            node_labels,
            orch_image,
            worker_image,
            nats_image,
            inject,
            worker_cpu_limit,
            timeout,
            deadline,
            deadline_grace: Duration::from_secs(60),
            cleanup_timeout: timeout,
            pushgateway,
            plan,
            clients,
            servers,
            output_dir: output_file_directory,
            keep,
            nats_url,
            nats_replicas,
            store: netbench_bus::jetstream::StoreConfig {
                stream,
                bucket: kv_bucket,
                replicas: 1,
            },
            tls,
            nats_ca,
            nats_login: crate::launch::LoginFlags {
                creds: nats_creds,
                nkey: nats_nkey,
                token: nats_token,
            },
            connect: match connect {
                ConnectArg::Auto => Connect::Auto,
                ConnectArg::Service => Connect::Service,
                ConnectArg::PortForward => Connect::PortForward,
            },
        })
    }

    /// The `--dry-run` output: every manifest for `--dry-run-nodes`. The login files given with
    /// `--nats-url` are read and checked (a bad one is an error, exit code 3) but their values,
    /// like the token, are placeholders in the Secret. The NATS passwords and,
    /// with `--tls`, the run's CA, server certificate and key are placeholders (a real launch
    /// generates them, the certificate once the Service's ClusterIP is known).
    pub fn dry_run_yaml(&self) -> Result<String, LaunchError> {
        let cfg = self.config()?;
        cfg.check()?;
        // Checked as a launch checks them; the values stay out of the output.
        let login = cfg.nats_login.read()?;
        let run = cfg.run.clone().unwrap_or_else(RunId::generate);
        let mut spec = crate::launch::make_spec(&cfg, run, self.dry_run_nodes.clone());
        let placeholder = |flag: &str| Some(format!("read at launch from {flag}\n"));
        spec.nats_login = crate::spec::NatsLogin {
            creds: login.creds.and(placeholder("--nats-creds")),
            nkey: login.nkey.and(placeholder("--nats-nkey")),
            token: login.token.and(placeholder("--nats-token")),
        };
        // The plan on the dry-run nodes (on stderr: stdout is the YAML). Label selectors need a
        // cluster: they are resolved by a real launch.
        if cfg.clients.is_some() || cfg.servers.is_some() {
            eprintln!("note: --clients/--servers are label selectors, resolved against the cluster by a real launch; the plan below ignores them");
        }
        let planned = crate::launch::plan_launch(&cfg, &mut spec, None, None)?;
        eprintln!("{planned}");
        if let Some(line) = crate::launch::pod_security_line(&spec, cfg.existing_namespace, None) {
            eprintln!("{line}");
        }
        let no_ip: Vec<&str> = spec
            .nodes
            .iter()
            .filter(|n| n.ip.is_none())
            .map(|n| n.name.as_str())
            .collect();
        if spec.has_path(netbench_proto::Path::Host) && !no_ip.is_empty() {
            eprintln!(
                "note: --dry-run-nodes gives no address for {}: a launch admits each node's \
                 InternalIP to NATS (the host workers send from it); write node=zone@IP to see it",
                no_ip.join(", ")
            );
        }
        spec.tls = match cfg.nats_ca {
            Some(_) => crate::launch::tls_plan(&cfg, &spec.namespace, None)?,
            None => cfg.tls.then(|| {
                let placeholder = |what: &str| format!("generated at launch: {what}\n");
                crate::spec::TlsPlan::Deploy(netbench_bus::tls::RunTls {
                    ca_pem: placeholder("the run's CA certificate"),
                    cert_pem: placeholder(
                        "the NATS certificate, for the Service's names, ClusterIP and 127.0.0.1",
                    ),
                    key_pem: placeholder("the NATS certificate's key"),
                })
            }),
        };
        // A NATS cluster: the routes name each server's Service (a real launch puts their
        // ClusterIPs there, once the Services exist).
        if spec.nats_clustered() {
            let mut routes = netbench_bus::cluster::ClusterRoutes::generate(
                &format!("0.0.0.0:{}", crate::spec::NATS_ROUTE_PORT),
                (0..spec.nats_replicas)
                    .map(|i| {
                        format!(
                            "{}.{}.svc:{}",
                            crate::spec::nats_pod_name(i),
                            spec.namespace,
                            crate::spec::NATS_ROUTE_PORT
                        )
                    })
                    .collect(),
            );
            routes.password = "generated-at-launch".into();
            spec.nats_cluster = Some(routes);
        }
        if let crate::spec::NatsPlan::Deploy { creds, .. } = &mut spec.nats {
            for login in [&mut creds.orchestrator, &mut creds.observer]
                .into_iter()
                .chain(creds.workers.iter_mut().map(|(_, l)| l))
            {
                login.password = "generated-at-launch".into();
            }
        }
        Ok(manifests::render_yaml(&crate::launch::manifests_for(
            &cfg, &spec,
        ))?)
    }

    /// Run `netbench launch`; returns the process exit code.
    pub async fn run(self, shutdown: CancellationToken, display: Display) -> u8 {
        if self.dry_run {
            return match self.dry_run_yaml() {
                Ok(y) => {
                    print!("{y}");
                    ExitCode::OK as u8
                }
                Err(e @ LaunchError::Usage(_)) => {
                    eprintln!("error: {e}");
                    EXIT_USAGE
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_RUN_FAILED
                }
            };
        }
        let cfg = match self.config().and_then(|c| c.check().map(|()| c)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        };
        let client = match kube::Client::try_default().await {
            Ok(c) => c,
            Err(e) => {
                let from = match std::env::var_os("KUBECONFIG") {
                    Some(p) => format!(" (KUBECONFIG={})", p.to_string_lossy()),
                    None => String::new(),
                };
                eprintln!("error: {}", LaunchError::Config(format!("{e}{from}")));
                return EXIT_RUN_FAILED;
            }
        };
        let mut printer = Printer { display };
        match crate::launch(client, cfg, shutdown, &mut printer).await {
            Ok(o) => {
                println!();
                print!("{}", (printer.display.summary)(&o.results));
                if let Some(p) = &o.results_path {
                    println!("\nresults: {}", p.display());
                }
                match &o.ending {
                    crate::follow::Ending::Failed(e) => eprintln!("error: the run failed: {e}"),
                    crate::follow::Ending::OrchestratorFailed(e) => {
                        eprintln!("error: the orchestrator failed: {e}")
                    }
                    crate::follow::Ending::Deadline => {
                        eprintln!("error: the deadline passed; partial results written")
                    }
                    crate::follow::Ending::Interrupted => {
                        eprintln!("interrupted; partial results written")
                    }
                    crate::follow::Ending::Finished { .. } => {}
                }
                if let Some(e) = &o.cleanup_error {
                    eprintln!("error: {e}");
                }
                o.ending.exit_code()
            }
            Err(e) => {
                match &e {
                    LaunchError::Interrupted(what) => eprintln!("interrupted {what}"),
                    e => eprintln!("error: {e}"),
                }
                exit_code_of(&e)
            }
        }
    }
}

/// The exit code of a launch that stopped with `e`: bad input found on the way (a plan that
/// cannot run, a namespace that does not admit the host workers, …) is exit 2, like a bad flag;
/// an interruption 4; anything else 3.
pub fn exit_code_of(e: &LaunchError) -> u8 {
    match e {
        LaunchError::Usage(_) => EXIT_USAGE,
        LaunchError::Interrupted(_) => EXIT_INTERRUPTED,
        _ => EXIT_RUN_FAILED,
    }
}

/// A Kubernetes CPU quantity: whole or decimal CPUs (`2`, `0.5`) or millicores (`1500m`),
/// above zero.
fn cpu_quantity(s: &str) -> Result<String, String> {
    // Millicores are whole numbers; CPUs may have a fraction. At most 1024 CPUs either way.
    let (num, max, fraction_ok) = match s.strip_suffix('m') {
        Some(n) => (n, 1_024_000.0, false),
        None => (s, 1024.0, true),
    };
    let digits_ok = !num.is_empty()
        && num
            .bytes()
            .all(|b| b.is_ascii_digit() || (fraction_ok && b == b'.'));
    match num.parse::<f64>() {
        Ok(v) if digits_ok && v > 0.0 && v <= max => Ok(s.to_string()),
        _ => Err(format!(
            "{s:?} is not a CPU quantity: give CPUs like 2 or 0.5, or millicores like 1500m"
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dry_run_nodes_take_a_zone_and_an_address() {
        let n = super::dry_node("node-1=zone-a@198.18.0.1").unwrap();
        assert_eq!(
            (n.name.as_str(), n.zone.as_str(), n.ip),
            ("node-1", "zone-a", Some([198, 18, 0, 1].into()))
        );
        let n = super::dry_node("node-2@fd00::2").unwrap();
        assert_eq!(
            (n.zone.as_str(), n.ip),
            ("", Some("fd00::2".parse().unwrap()))
        );
        let n = super::dry_node("node-3=zone-b").unwrap();
        assert_eq!(n.ip, None);
        for bad in ["", "=zone-a", "node-1@not-an-ip", "node-1=zone-a@"] {
            let e = super::dry_node(bad).unwrap_err();
            assert!(e.contains("node-1=zone-a@10.0.0.1"), "{bad}: {e}");
        }
    }
}
