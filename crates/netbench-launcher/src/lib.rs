//! `netbench launch`: run a benchmark on a Kubernetes cluster.
//!
//! Into a fresh namespace (labelled so it can be found and swept) the launcher deploys NATS with
//! JetStream, one worker pod per selected node and the orchestrator Job; waits for the pods (and
//! says precisely which one is stuck and why); follows the run's events over NATS (in the
//! cluster through the Service, from a workstation through a port-forward via the API server);
//! reads every result back from the `NETBENCH` stream into a results file; and deletes the
//! namespace on success, failure, deadline and SIGTERM (unless `--keep`).
//!
//! - [`spec`]: the launch as plain data; names and labels.
//! - [`manifests`]: pure `mk_*` builders (k8s-openapi objects) and the `--dry-run` YAML.
//! - [`pods`]: pure diagnosis of pod states (ready, stuck and why, failed).
//! - [`argv`]: Go-style `-camelCase` flags of old Job manifests -> `--kebab-case`.
//! - [`cluster`]: the thin kube shell: select nodes, apply, wait, delete.
//! - [`portforward`]: a local TCP listener bridged to a pod port through the API server.
//! - [`follow`]: follow a run over NATS and collect its results.
//! - [`launch`](mod@launch): the whole launch, cleanup included.
//! - [`cli`]: the clap flags of `netbench launch`.

pub mod argv;
pub mod cli;
pub mod cluster;
pub mod follow;
pub mod launch;
pub mod manifests;
pub mod pods;
pub mod portforward;
pub mod spec;

pub use launch::{launch, LaunchConfig, LaunchOutcome};

pub type Result<T, E = LaunchError> = std::result::Result<T, E>;

/// Everything that can go wrong in a launch, each saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Flags that do not go together (exit code 2).
    #[error("{0}")]
    Usage(String),
    #[error("cannot set up a Kubernetes client: {0}. Set KUBECONFIG (or run in a pod with a service account)")]
    Config(String),
    #[error("the node selector {selector:?} matches {found} node(s){names}; netbench needs at least 2. Label more nodes, or pass --node-labels '' to select every node")]
    TooFewNodes {
        selector: String,
        found: usize,
        names: String,
    },
    #[error("{what}: {source}{hint}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
        /// Extra advice for 403s (RBAC).
        hint: &'static str,
    },
    #[error("namespace {0:?} already exists{1}; choose another --namespace (netbench creates and deletes its own)")]
    NamespaceExists(String, &'static str),
    #[error("pods not ready after {after:?}:\n{pods}")]
    PodsNotReady {
        after: std::time::Duration,
        pods: String,
    },
    #[error("{0}")]
    PodFailed(String),
    #[error(transparent)]
    Bus(#[from] netbench_bus::BusError),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("port-forward to pod {pod} port {port}: {why}")]
    PortForward { pod: String, port: u16, why: String },
    #[error("cannot write the results file {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the orchestrator failed: {0}")]
    Orchestrator(String),
    #[error("cleanup: {0}")]
    Cleanup(String),
    #[error("interrupted {0}")]
    Interrupted(&'static str),
    #[error("TLS: {0}")]
    Tls(String),
    /// `--paths service`: a worker's Service got no ClusterIP.
    #[error("Service {0} got no ClusterIP: --paths service measures through a ClusterIP Service in front of each worker pod, and this cluster handed out none. Leave service out of --paths")]
    NoClusterIp(String),
    #[error("cannot render manifests: {0}")]
    Render(#[from] serde_norway::Error),
}

impl LaunchError {
    /// Wrap a kube error with what we were doing; 403s get a pointer to the RBAC in deploy/.
    pub fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        let hint = match &source {
            kube::Error::Api(s) if s.code == 403 => {
                ". The launcher's ServiceAccount lacks this permission: see the ClusterRole in deploy/rbac.yaml"
            }
            kube::Error::Api(s) if s.code == 401 => {
                ". The API server does not accept these credentials: check the user in your kubeconfig"
            }
            kube::Error::Api(_) => "",
            // No HTTP answer at all: connection refused, DNS, TLS, timeouts.
            _ => ". The Kubernetes API server did not answer: check the server address in your kubeconfig (KUBECONFIG) and that the cluster is up",
        };
        LaunchError::Kube {
            what: what.into(),
            source,
            hint,
        }
    }
}
