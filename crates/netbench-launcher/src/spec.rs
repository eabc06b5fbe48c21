//! What one launch deploys, as plain data: the input of every manifest builder.
//!
//! Names and labels live here so that the builders, the launcher and the tests agree on them.

use netbench_bench::Benchmark;
use netbench_bus::auth::RunCredentials;
use netbench_proto::{RunId, WorkerId};
use std::time::Duration;

/// Label every object we create carries (and the namespace sweep selects on).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "netbench");
/// Label naming the run an object belongs to.
pub const RUN_LABEL: &str = "netbench.io/run";
/// Label naming the part: `nats`, `orchestrator` or `worker`.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// The node label the launcher reads each node's zone from.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Server-side apply field manager.
pub const FIELD_MANAGER: &str = "netbench";

pub const NATS_NAME: &str = "nats";
pub const NATS_CONFIG_NAME: &str = "nats-config";
pub const NATS_SECRET_NAME: &str = "nats-auth";
pub const ORCHESTRATOR_NAME: &str = "orchestrator";
pub const NATS_CLIENT_PORT: u16 = 4222;
pub const NATS_MONITOR_PORT: u16 = 8222;
/// uid the netbench and NATS containers run as (the worker image creates this user).
pub const RUN_AS_USER: i64 = 10001;

/// A node selected for a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    /// `topology.kubernetes.io/zone`, or empty.
    pub zone: String,
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

/// Everything the manifests depend on. Pure data: no clients, no clocks.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub run: RunId,
    pub bench: &'static Benchmark,
    pub namespace: String,
    pub nodes: Vec<NodeInfo>,
    pub orch_image: String,
    pub worker_image: String,
    pub nats_image: String,
    pub nats: NatsPlan,
    /// Istio sidecar injection.
    pub inject: bool,
    pub duration_seconds: u32,
    /// PushGateway URL, passed to the orchestrator.
    pub pushgateway: Option<String>,
    /// Worker registration timeout, passed to the orchestrator.
    pub timeout: Duration,
    pub deadline: Duration,
}

impl LaunchSpec {
    /// The worker pod's name on a node (also the worker's name in the results).
    pub fn worker_name(node: &str) -> String {
        format!("worker-{node}")
    }
    /// The worker's id (as the worker derives it from its name).
    pub fn worker_id(node: &str) -> WorkerId {
        WorkerId::for_name(&Self::worker_name(node))
    }
    pub fn worker_names(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| Self::worker_name(&n.name))
            .collect()
    }
    /// The in-cluster DNS URL of the NATS Service (used when no ClusterIP is known yet).
    pub fn nats_service_dns_url(namespace: &str) -> String {
        format!("nats://{NATS_NAME}.{namespace}.svc:{NATS_CLIENT_PORT}")
    }
}

/// The default namespace of a run.
pub fn default_namespace(run: &RunId) -> String {
    format!("netbench-{run}")
}
