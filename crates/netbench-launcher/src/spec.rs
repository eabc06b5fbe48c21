//! What one launch deploys, as plain data: the input of every manifest builder.
//!
//! Names and labels live here so that the builders, the launcher and the tests agree on them.

use netbench_bus::auth::RunCredentials;
use netbench_bus::tls::RunTls;
use netbench_proto::{Path, Paths, Placement, RunId, WorkerId};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// Label every object we create carries (and the namespace sweep selects on).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "netbench");
/// Label naming the run an object belongs to.
pub const RUN_LABEL: &str = "netbench.io/run";
/// Label naming the part: `nats`, `orchestrator` or `worker`.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// Label naming the node a worker pod runs on.
pub const NODE_LABEL: &str = "netbench.io/node";
/// Label naming a worker pod's placement (`pod`, `host`, `same-node`): deploy/'s admission
/// policy lets the launcher create hostNetwork pods only when they carry `host` (and an admin
/// opted in).
pub const PLACEMENT_LABEL: &str = "netbench.io/placement";
/// Label carrying a worker pod's id (`w-<12 hex>`): its Service (path `service`) selects it, and
/// so exactly that pod.
pub const WORKER_LABEL: &str = "netbench.io/worker";
/// The node label the launcher reads each node's zone from.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Server-side apply field manager.
pub const FIELD_MANAGER: &str = "netbench";

pub const NATS_NAME: &str = "nats";
pub const NATS_CONFIG_NAME: &str = "nats-config";
pub const NATS_SECRET_NAME: &str = "nats-auth";
/// `--tls`: the NATS server's certificate and key (mounted into the NATS pod only).
pub const NATS_TLS_SECRET_NAME: &str = "nats-tls";
/// `--tls`: the CA certificate (public) the orchestrator and the workers verify NATS against.
pub const NATS_CA_NAME: &str = "nats-ca";
pub const ORCHESTRATOR_NAME: &str = "orchestrator";
/// `--nats-url` with `--nats-creds`, `--nats-nkey` or `--nats-token`: the login for the
/// existing NATS, mounted into the orchestrator and the workers only.
pub const NATS_LOGIN_SECRET_NAME: &str = "netbench-nats-login";
/// The ConfigMap with the plan's files (pairs, clients, servers).
pub const PLAN_CONFIG_NAME: &str = "netbench-plan";
pub const NATS_CLIENT_PORT: u16 = 4222;
/// `--nats-replicas` above 1: the port the NATS servers route to each other on.
pub const NATS_ROUTE_PORT: u16 = 6222;
/// `--nats-replicas`: the NATS server counts a JetStream cluster can run with (an odd number, so
/// a majority survives the loss of one server; 1 is the single NATS pod).
pub const NATS_REPLICAS_ALLOWED: [u8; 3] = [1, 3, 5];
pub const NATS_MONITOR_PORT: u16 = 8222;
/// uid the netbench and NATS containers run as (the worker image creates this user).
pub const RUN_AS_USER: i64 = 10001;

/// `--nats-replicas N`: 1 (the single NATS pod of every earlier release) or an odd number up to
/// 5, said before anything is deployed.
pub fn check_nats_replicas(n: u32) -> Result<u8, String> {
    match u8::try_from(n) {
        Ok(r) if NATS_REPLICAS_ALLOWED.contains(&r) => Ok(r),
        _ => Err(format!(
            "--nats-replicas {n}: give 1, 3 or 5 (1, the default: one NATS pod). A NATS JetStream \
             cluster needs a majority of its servers up: an odd number, so that 3 survive the \
             loss of one and 5 the loss of two; more than 5 only slows every write down"
        )),
    }
}

/// The name of NATS pod `i` of the StatefulSet (`--nats-replicas` above 1), and of the Service
/// that selects only that pod (its stable ClusterIP is what the other servers route to).
pub fn nats_pod_name(i: u8) -> String {
    format!("{NATS_NAME}-{i}")
}

/// A node selected for a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    /// `topology.kubernetes.io/zone`, or empty.
    pub zone: String,
    /// The node's `InternalIP` (its first): with `--paths host` the host workers reach NATS
    /// from it, so NATS's NetworkPolicy admits it. None when the node reports none (and with
    /// `--dry-run-nodes` that give none).
    pub ip: Option<IpAddr>,
}

/// One worker pod of a launch: on which node, and where there (which paths it serves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPod {
    pub node: NodeInfo,
    pub placement: Placement,
}

impl WorkerPod {
    /// The pod's name (also the worker's name in the results): never the same for two pods of
    /// a launch ([`LaunchSpec::worker_pod_name`]).
    pub fn name(&self) -> String {
        LaunchSpec::worker_pod_name(&self.node.name, self.placement)
    }
    /// The worker's id, as the worker derives it from its name: its NATS login is
    /// `worker-<id>`, and (a pod worker on the service path) its Service is named after it.
    pub fn id(&self) -> WorkerId {
        WorkerId::for_name(&self.name())
    }
}

/// How the pods reach NATS.
#[derive(Debug, Clone)]
pub enum NatsPlan {
    /// Deploy NATS in the namespace; pods use this URL (the Service's ClusterIP or DNS name)
    /// and log in with their role's credentials (`nats/auth.conf.template`).
    Deploy { url: String, creds: RunCredentials },
    /// Use an existing NATS at this URL (no NATS objects are created).
    External { url: String },
}

impl NatsPlan {
    pub fn url(&self) -> &str {
        match self {
            NatsPlan::Deploy { url, .. } | NatsPlan::External { url } => url,
        }
    }
}

/// The login for an existing NATS (`--nats-url` with `--nats-creds`, `--nats-nkey`,
/// `--nats-token`), read and checked before anything is created; the pods get it from the
/// [`NATS_LOGIN_SECRET_NAME`] Secret. Empty for the NATS we deploy (its logins are the run's).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NatsLogin {
    /// The `.creds` file's contents (user JWT and NKey seed).
    pub creds: Option<String>,
    /// The user NKey seed (`SU…`).
    pub nkey: Option<String>,
    pub token: Option<String>,
}

impl NatsLogin {
    pub fn is_empty(&self) -> bool {
        self.creds.is_none() && self.nkey.is_none() && self.token.is_none()
    }
}

/// Never the values: a spec is logged and printed in errors.
impl std::fmt::Debug for NatsLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("NatsLogin")
            .field("creds", &shown(&self.creds))
            .field("nkey", &shown(&self.nkey))
            .field("token", &shown(&self.token))
            .finish()
    }
}

/// `--tls`: how NATS proves itself to the pods.
#[derive(Debug, Clone)]
pub enum TlsPlan {
    /// The NATS we deploy: a CA generated for the run and the server certificate it signed
    /// (see [`nats_cert_names`]).
    Deploy(RunTls),
    /// An existing NATS (`--nats-url`): the CA its certificate chains to (`--nats-ca`).
    External { ca_pem: String },
}

impl TlsPlan {
    /// The CA certificate (public) every client verifies the server against.
    pub fn ca_pem(&self) -> &str {
        match self {
            TlsPlan::Deploy(t) => &t.ca_pem,
            TlsPlan::External { ca_pem } => ca_pem,
        }
    }
}

/// The addresses a client may dial to reach the NATS we deploy, which its certificate must
/// name: the Service's DNS names, its ClusterIP (once known), and 127.0.0.1 / localhost for the
/// launcher's port-forward from a workstation.
pub fn nats_cert_names(namespace: &str, cluster_ip: Option<IpAddr>) -> (Vec<IpAddr>, Vec<String>) {
    let mut ips: Vec<IpAddr> = cluster_ip.into_iter().collect();
    ips.push(IpAddr::from([127, 0, 0, 1]));
    let names = vec![
        NATS_NAME.to_string(),
        format!("{NATS_NAME}.{namespace}"),
        format!("{NATS_NAME}.{namespace}.svc"),
        format!("{NATS_NAME}.{namespace}.svc.cluster.local"),
        "localhost".to_string(),
    ];
    (ips, names)
}

/// Everything the manifests depend on. Pure data: no clients, no clocks.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub run: RunId,
    /// What the run measures (`--benchmark`, `--samples`, `--suite`), passed to the orchestrator.
    pub entries: Vec<netbench_orchestrator::suite::Entry>,
    pub namespace: String,
    pub nodes: Vec<NodeInfo>,
    pub orch_image: String,
    pub worker_image: String,
    pub nats_image: String,
    pub nats: NatsPlan,
    /// With an existing NATS: the login the orchestrator and the workers use.
    pub nats_login: NatsLogin,
    /// `--nats-replicas`: 1 deploys the single NATS pod; 3 or 5 a StatefulSet of that many
    /// clustered servers (JetStream replicated on all of them), one Service per server and a
    /// PodDisruptionBudget. Only with [`NatsPlan::Deploy`].
    pub nats_replicas: u8,
    /// The stream and bucket of the run (`--stream`, `--kv-bucket`; replicas from
    /// `nats_replicas`).
    pub store: netbench_bus::jetstream::StoreConfig,
    /// `--nats-replicas` above 1: the `cluster {}` block's routes (every server's own Service,
    /// `ClusterIP:6222`, once the Services exist: there may be no cluster DNS) and the route
    /// login, made once per launch. None until then.
    pub nats_cluster: Option<netbench_bus::cluster::ClusterRoutes>,
    /// `--tls`: NATS speaks TLS only; pods and launcher verify it against this plan's CA.
    pub tls: Option<TlsPlan>,
    /// Istio sidecar injection.
    pub inject: bool,
    /// The worker pods' CPU limit; none by default.
    pub worker_cpu_limit: Option<String>,
    /// PushGateway URL, passed to the orchestrator.
    pub pushgateway: Option<String>,
    /// Worker registration timeout, passed to the orchestrator.
    pub timeout: Duration,
    pub deadline: Duration,
    /// The plan flags passed to the orchestrator (the seed resolved).
    pub plan: netbench_orchestrator::flags::PlanFlags,
    /// The files the plan reads (`pairs`, `clients`, `servers`): the `netbench-plan`
    /// ConfigMap, mounted into the orchestrator at [`crate::launch::PLAN_DIR`].
    pub plan_files: BTreeMap<String, String>,
    /// `--paths service`: the ClusterIP of each pod worker's Service, by Service name (the
    /// worker's id), once the Services exist; the pods get theirs as `NETBENCH_SERVICE_IP`.
    /// Empty until then (and in `--dry-run`, which shows where the value comes from).
    pub service_ips: BTreeMap<String, IpAddr>,
}

impl LaunchSpec {
    /// The data ports of every benchmark of the run, each once (UDP where any needs it).
    pub fn ports(&self) -> Vec<netbench_bench::catalogue::Port> {
        netbench_bench::catalogue::merge_ports(self.entries.iter().flat_map(|e| e.bench.ports))
    }
    /// The run's benchmarks, each once, joined with `+` (the results file's name).
    pub fn benchmark_names(&self) -> String {
        netbench_orchestrator::suite::benchmark_names(&self.entries).join("+")
    }
    /// Whether the NATS we deploy is a cluster (`--nats-replicas` above 1).
    pub fn nats_clustered(&self) -> bool {
        matches!(self.nats, NatsPlan::Deploy { .. }) && self.nats_replicas > 1
    }
    /// The names of the NATS pods the launcher waits for (none with an external NATS).
    pub fn nats_pod_names(&self) -> Vec<String> {
        if !matches!(self.nats, NatsPlan::Deploy { .. }) {
            return Vec::new();
        }
        if self.nats_replicas <= 1 {
            return vec![NATS_NAME.to_string()];
        }
        (0..self.nats_replicas).map(nats_pod_name).collect()
    }
    /// The network paths of the run (every entry's, together).
    pub fn paths(&self) -> Paths {
        netbench_orchestrator::suite::all_paths(&self.entries)
    }
    /// The placements the run's paths need workers of, in [`Placement::ALL`]'s order: `pod`
    /// for `pod`, `service` and the server side of `same-node`; `host` for `host`; `same-node`
    /// (a second pod on each node) for `same-node`.
    pub fn placements(&self) -> Vec<Placement> {
        let paths = self.paths();
        Placement::ALL
            .into_iter()
            .filter(|p| paths.needs(*p))
            .collect()
    }
    /// Whether the run measures path `p`.
    pub fn has_path(&self, p: Path) -> bool {
        self.paths().contains(p)
    }
    /// Every worker pod of the launch: one per node for each placement the paths need, by
    /// placement, then node.
    pub fn worker_pods(&self) -> Vec<WorkerPod> {
        self.placements()
            .into_iter()
            .flat_map(|placement| {
                self.nodes.iter().map(move |n| WorkerPod {
                    node: n.clone(),
                    placement,
                })
            })
            .collect()
    }
    /// A worker pod's name (also the worker's name in the results): `worker-<node>` (the
    /// node's pod worker, as before paths), `hostnet-<node>` (its hostNetwork worker, path
    /// `host`), `worker2-<node>` (its second pod, the client of path `same-node`). The prefixes
    /// differ, so no two pods of a launch share a name whatever the node names are.
    pub fn worker_pod_name(node: &str, placement: Placement) -> String {
        match placement {
            Placement::Pod => format!("worker-{node}"),
            Placement::Host => format!("hostnet-{node}"),
            Placement::SameNode => format!("worker2-{node}"),
        }
    }
    /// The pod worker's name on a node (also the worker's name in the results).
    pub fn worker_name(node: &str) -> String {
        Self::worker_pod_name(node, Placement::Pod)
    }
    /// The pod worker's id (as the worker derives it from its name).
    pub fn worker_id(node: &str) -> WorkerId {
        WorkerId::for_name(&Self::worker_name(node))
    }
    /// The names of every worker pod (what the orchestrator expects).
    pub fn worker_names(&self) -> Vec<String> {
        self.worker_pods().iter().map(WorkerPod::name).collect()
    }
    /// The ids of every worker pod (one NATS login each).
    pub fn worker_ids(&self) -> Vec<WorkerId> {
        self.worker_pods().iter().map(WorkerPod::id).collect()
    }
    /// The Service in front of a node's pod worker (path `service`): named after the worker's
    /// id, `w-<12 hex>`, a valid Service name (DNS-1035 label) whatever the node is called.
    pub fn worker_service_name(node: &str) -> String {
        Self::worker_id(node).to_string()
    }
    /// The in-cluster DNS URL of the NATS Service (used when no ClusterIP is known yet).
    pub fn nats_service_dns_url(namespace: &str, tls: bool) -> String {
        format!(
            "{}://{NATS_NAME}.{namespace}.svc:{NATS_CLIENT_PORT}",
            nats_scheme(tls)
        )
    }
}

/// `tls` (TLS required, as `netbench local --tls` gives it) or `nats`.
pub fn nats_scheme(tls: bool) -> &'static str {
    if tls {
        "tls"
    } else {
        "nats"
    }
}

/// The default namespace of a run.
pub fn default_namespace(run: &RunId) -> String {
    format!("netbench-{run}")
}
