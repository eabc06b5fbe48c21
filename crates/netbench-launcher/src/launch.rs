//! The whole launch: nodes, manifests, apply, wait, follow, collect, and cleanup always.

use crate::cluster;
use crate::follow::{self, Ending, OrchestratorProbe};
use crate::manifests::{self, Manifests};
use crate::pods::Assessment;
use crate::spec::{self, LaunchSpec, NatsPlan, TlsPlan};
use crate::{LaunchError, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use netbench_bus::cluster::ClusterRoutes;
use netbench_bus::tls::RunTls;
use netbench_bus::{auth::RunCredentials, jetstream::Store, ConnectionStats, NatsArgs};
use netbench_proto::{Event, PairResult, RunId};
use std::net::IpAddr;
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
    /// What the run measures: `--benchmark` (a list), `--samples`, `--suite`, checked.
    pub entries: Vec<netbench_orchestrator::suite::Entry>,
    pub run: Option<RunId>,
    pub namespace: Option<String>,
    /// `namespace` exists already (`--existing-namespace`): an admin created it and bound the
    /// launcher's Role there. The launcher creates only its own objects in it (labelled with the
    /// run), deletes exactly those, and never creates, labels or deletes the namespace.
    pub existing_namespace: bool,
    /// Label selector for the nodes; empty selects all.
    pub node_labels: String,
    pub orch_image: String,
    pub worker_image: String,
    pub nats_image: String,
    pub inject: bool,
    /// `--worker-cpu-limit`: none by default (requests only).
    pub worker_cpu_limit: Option<String>,
    /// PushGateway URL for the orchestrator.
    pub pushgateway: Option<String>,
    /// Which pairs, how many at once (checked against the deadline before anything is made).
    pub plan: netbench_orchestrator::flags::PlanFlags,
    /// Label selectors: who may be client, who may be server (within `node_labels`).
    pub clients: Option<String>,
    pub servers: Option<String>,
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
    /// With `nats_url`: how the launcher, the orchestrator and the workers log in to it.
    pub nats_login: LoginFlags,
    /// `--nats-replicas`: how many NATS servers to deploy (None: 1). Refused with `nats_url`.
    pub nats_replicas: Option<u8>,
    /// `--stream`, `--kv-bucket` (with `nats_url`): where the run's results and state go.
    pub store: netbench_bus::jetstream::StoreConfig,
    /// TLS to NATS: for the NATS we deploy, a CA generated for the run signs its certificate;
    /// for `nats_url`, `nats_ca` is the CA its certificate chains to.
    pub tls: bool,
    /// The CA of the `nats_url` server's certificate (implies `tls`).
    pub nats_ca: Option<PathBuf>,
    pub connect: Connect,
}

/// `--nats-creds`, `--nats-nkey`, `--nats-token`: the login for an existing NATS (`--nats-url`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LoginFlags {
    pub creds: Option<PathBuf>,
    pub nkey: Option<PathBuf>,
    pub token: Option<String>,
}

/// Never the token.
impl std::fmt::Debug for LoginFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginFlags")
            .field("creds", &self.creds)
            .field("nkey", &self.nkey)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl LoginFlags {
    /// The flags given, for messages (never their values).
    fn given(&self) -> Vec<&'static str> {
        [
            (self.creds.is_some(), "--nats-creds (or NATS_CREDS)"),
            (self.nkey.is_some(), "--nats-nkey (or NATS_NKEY)"),
            (self.token.is_some(), "--nats-token (or NATS_TOKEN)"),
        ]
        .into_iter()
        .filter_map(|(set, flag)| set.then_some(flag))
        .collect()
    }

    /// Read and check the login's files, as every other subcommand does before it connects:
    /// a file that cannot be used is an error naming it and what to fix (exit code 3), before
    /// anything is created in the cluster.
    pub fn read(&self) -> Result<spec::NatsLogin> {
        use netbench_bus::auth_file;
        let token = match &self.token {
            Some(t) if t.is_empty() => {
                return Err(LaunchError::Bus(netbench_bus::BusError::Credentials(
                    "--nats-token is empty: give the token the NATS server expects".into(),
                )))
            }
            t => t.clone(),
        };
        Ok(spec::NatsLogin {
            creds: self
                .creds
                .as_deref()
                .map(auth_file::read_creds)
                .transpose()?,
            nkey: self
                .nkey
                .as_deref()
                .map(|p| auth_file::read_nkey(p).map(|seed| format!("{seed}\n")))
                .transpose()?,
            token,
        })
    }
}

impl LaunchConfig {
    /// Whether NATS is reached over TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls || self.nats_ca.is_some()
    }

    /// Flags that do not go together, said before anything is created.
    pub fn check(&self) -> Result<()> {
        netbench_orchestrator::suite::check(&self.entries, self.deadline)
            .map_err(LaunchError::Usage)?;
        if let (None, Some(flag)) = (&self.nats_url, self.nats_login.given().first()) {
            return Err(LaunchError::Usage(format!(
                "{flag} is a login for an existing NATS and applies only with --nats-url; the \
                 NATS that netbench deploys has logins of its own, made for the run. Add \
                 --nats-url URL, or drop the flag (unset the variable)"
            )));
        }
        if self.nats_url.is_none() && self.store != Default::default() {
            return Err(LaunchError::Usage(format!(
                "--stream {} / --kv-bucket {} apply to --nats-url (a NATS shared with others); \
                 the NATS that netbench deploys holds only this run. Add --nats-url URL, or drop \
                 them (unset NETBENCH_STREAM / NETBENCH_KV_BUCKET)",
                self.store.stream, self.store.bucket
            )));
        }
        if let Some(n) = self.nats_replicas {
            spec::check_nats_replicas(n.into()).map_err(LaunchError::Usage)?;
            if self.nats_url.is_some() {
                return Err(LaunchError::Usage(format!(
                    "--nats-replicas {n} with --nats-url: netbench deploys no NATS when given \
                     one, so it cannot make it a cluster. Drop --nats-replicas (your NATS is as \
                     available as you run it), or drop --nats-url to deploy {n} NATS servers"
                )));
            }
        }
        match (&self.nats_url, &self.nats_ca) {
            (Some(_), None) if self.tls => Err(LaunchError::Usage(
                "--tls with --nats-url: netbench cannot know the CA of a NATS it did not deploy; \
                 pass its CA certificate with --nats-ca FILE (then the pods and the launcher \
                 verify that server against it), or drop --nats-url to deploy a NATS with a CA \
                 generated for the run"
                    .into(),
            )),
            (None, Some(_)) => Err(LaunchError::Usage(
                "--nats-ca is the CA of the server given with --nats-url; the NATS that netbench \
                 deploys gets a CA generated for the run (use --tls)"
                    .into(),
            )),
            _ => Ok(()),
        }
    }
}

/// What `--tls` (or `--nats-ca`) means for this launch; `cluster_ip` is the NATS Service's, once
/// known. For the NATS we deploy this generates a fresh CA and a server certificate for
/// [`spec::nats_cert_names`]; for an existing NATS it reads `--nats-ca`.
pub fn tls_plan(
    cfg: &LaunchConfig,
    namespace: &str,
    cluster_ip: Option<IpAddr>,
) -> Result<Option<TlsPlan>> {
    cfg.check()?;
    if !cfg.uses_tls() {
        return Ok(None);
    }
    if let Some(path) = &cfg.nats_ca {
        let ca_pem = std::fs::read_to_string(path).map_err(|e| {
            LaunchError::Tls(format!("cannot read --nats-ca {}: {e}", path.display()))
        })?;
        if !ca_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(LaunchError::Tls(format!(
                "--nats-ca {}: no PEM certificate in it",
                path.display()
            )));
        }
        return Ok(Some(TlsPlan::External { ca_pem }));
    }
    let (ips, names) = spec::nats_cert_names(namespace, cluster_ip);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let tls = RunTls::generate(&ips, &names).map_err(|e| LaunchError::Tls(e.to_string()))?;
    Ok(Some(TlsPlan::Deploy(tls)))
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
    let mut spec = LaunchSpec {
        // Set below, once the worker pods are known (each gets a login of its own).
        nats: NatsPlan::External { url: String::new() },
        run,
        entries: cfg.entries.clone(),
        namespace,
        nodes,
        orch_image: cfg.orch_image.clone(),
        worker_image: cfg.worker_image.clone(),
        nats_image: cfg.nats_image.clone(),
        // Read (and checked) by the launch, not here: this stays pure.
        nats_login: Default::default(),
        nats_replicas: cfg.nats_replicas.unwrap_or(1),
        store: netbench_bus::jetstream::StoreConfig {
            replicas: cfg.nats_replicas.unwrap_or(1).into(),
            ..cfg.store.clone()
        },
        nats_cluster: None,
        tls: None,
        inject: cfg.inject,
        worker_cpu_limit: cfg.worker_cpu_limit.clone(),
        pushgateway: cfg.pushgateway.clone(),
        timeout: cfg.timeout,
        deadline: cfg.deadline,
        plan: cfg.plan.clone(),
        plan_files: Default::default(),
        service_ips: Default::default(),
    };
    spec.nats = match &cfg.nats_url {
        Some(url) => NatsPlan::External { url: url.clone() },
        None => NatsPlan::Deploy {
            url: LaunchSpec::nats_service_dns_url(&spec.namespace, cfg.uses_tls()),
            creds: RunCredentials::generate(&spec.run, &spec.worker_ids()),
        },
    };
    spec
}

/// `--paths host`: the line that says what the namespace's Pod Security level is and why
/// (none without host). `existing_enforce`: with `--existing-namespace`, the admin's
/// `pod-security.kubernetes.io/enforce` label (None: not set). Pure.
pub fn pod_security_line(
    spec: &LaunchSpec,
    existing: bool,
    existing_enforce: Option<&str>,
) -> Option<String> {
    use crate::manifests::{HOST_POD_SECURITY_LEVEL, POD_SECURITY_LEVEL, PSA_ENFORCE_LABEL};
    if !spec.has_path(netbench_proto::Path::Host) {
        return None;
    }
    let why =
        "the host workers (hostnet-<node>) run in the nodes' own network (hostNetwork: true), \
               which Pod Security baseline and restricted forbid";
    Some(if existing {
        let level = existing_enforce
            .map(|l| format!("{PSA_ENFORCE_LABEL}={l}"))
            .unwrap_or_else(|| format!("no {PSA_ENFORCE_LABEL} label: the cluster's default"));
        format!(
            "--paths host: {why}; checking (a server-side dry run) that namespace {} admits \
             them ({level}) before creating anything",
            spec.namespace
        )
    } else {
        format!(
            "--paths host: namespace {} enforces Pod Security {HOST_POD_SECURITY_LEVEL} \
             ({PSA_ENFORCE_LABEL}={HOST_POD_SECURITY_LEVEL}; audit and warn stay \
             {POD_SECURITY_LEVEL}): {why}",
            spec.namespace
        )
    })
}

/// `--paths host` refused by admission: what was refused, by what, and what to do (exit 2).
/// `enforce`: the namespace's `pod-security.kubernetes.io/enforce` label, when known;
/// `why`: the API server's message. Pure.
pub fn host_refused(namespace: &str, existing: bool, enforce: Option<&str>, why: &str) -> String {
    use crate::manifests::{HOST_POD_SECURITY_LEVEL, PSA_ENFORCE_LABEL};
    let what = format!(
        "--paths host: namespace {namespace} does not admit the host workers (pods with \
         hostNetwork: true, in the nodes' own network)"
    );
    let skip = "or leave host out of --paths";
    let after = if existing {
        "Nothing was created"
    } else {
        "The namespace is deleted again"
    };
    if why.contains("PodSecurity") {
        let label = match enforce {
            Some(level) => format!("its label {PSA_ENFORCE_LABEL}={level} forbids them"),
            None => format!(
                "it has no {PSA_ENFORCE_LABEL} label, and the cluster's default Pod Security \
                 level forbids them"
            ),
        };
        return format!(
            "{what}: {label} (the API server said: {why}). An admin allows them with: kubectl \
             label namespace {namespace} {PSA_ENFORCE_LABEL}={HOST_POD_SECURITY_LEVEL} \
             --overwrite (see deploy/README.md, \"The host path\"); {skip}. {after}"
        );
    }
    if why.contains(crate::manifests::HOST_NETWORK_POLICY) {
        return format!(
            "{what}: deploy/'s admission policy forbids the launcher hostNetwork pods until an \
             admin opts in (the API server said: {why}). An admin allows netbench's host \
             workers (and nothing else of the node's) with: kubectl -n {ns} patch configmap \
             {cm} --type merge -p '{{\"data\":{{\"hostNetwork\":\"allowed\"}}}}' (see \
             deploy/README.md, \"The host path\"); {skip}. {after}",
            ns = crate::manifests::ADMISSION_PARAMS_NAMESPACE,
            cm = crate::manifests::ADMISSION_PARAMS_NAME,
        );
    }
    format!(
        "{what}: admission refused a host worker (the API server said: {why}). Ask an admin to \
         allow hostNetwork pods for netbench's host workers there (see deploy/README.md, \"The \
         host path\"); {skip}. {after}"
    )
}

/// Where the orchestrator finds the plan's files (the `netbench-plan` ConfigMap).
pub const PLAN_DIR: &str = "/etc/netbench/plan";

/// The plan of a launch on `nodes`, checked before anything is created: a plan that cannot run
/// or cannot fit the deadline is a usage error (exit 2). `clients`/`servers` are the nodes the
/// role selectors chose. Fills in the spec's plan flags (with the seed) and the files the
/// orchestrator reads; returns the line that describes the plan.
pub fn plan_launch(
    cfg: &LaunchConfig,
    spec: &mut LaunchSpec,
    clients: Option<Vec<String>>,
    servers: Option<Vec<String>>,
) -> Result<String> {
    use netbench_orchestrator::flags::{fits, PlanConfig, RoleFlags};
    use netbench_orchestrator::plan::{NamePatterns, PlanNode, PlanSpec};
    let mut names = |role: &str, list: Option<Vec<String>>| -> Result<Option<NamePatterns>> {
        let Some(list) = list else { return Ok(None) };
        if list.is_empty() {
            return Err(LaunchError::Usage(format!(
                "--{role} {:?} matches none of the {} selected nodes ({}); give a label selector that some of them carry",
                if role == "clients" { &cfg.clients } else { &cfg.servers }.clone().unwrap_or_default(),
                spec.nodes.len(),
                spec.nodes.iter().map(|n| n.name.as_str()).take(8).collect::<Vec<_>>().join(", ")
            )));
        }
        spec.plan_files.insert(role.into(), list.join("\n") + "\n");
        list.join(",")
            .parse()
            .map(Some)
            .map_err(|e: netbench_orchestrator::plan::PlanError| LaunchError::Usage(e.to_string()))
    };
    let roles = RoleFlags {
        clients: names("clients", clients)?,
        servers: names("servers", servers)?,
    };
    let mut pc = PlanConfig {
        flags: cfg.plan.clone(),
        roles,
    };
    let seed = pc.seed();
    pc.flags.seed = Some(seed);
    let nodes: Vec<PlanNode> = spec
        .nodes
        .iter()
        .map(|n| PlanNode::new(n.name.clone(), n.zone.clone()))
        .collect();
    let plan = pc
        .plan(&nodes, seed, &cfg.entries)
        .map_err(LaunchError::Usage)?;
    let est = fits(&plan, &pc, &cfg.entries, cfg.deadline).map_err(LaunchError::Usage)?;
    // Entries that differ in more than their benchmark go to the orchestrator as a suite file.
    if crate::manifests::needs_suite_file(&cfg.entries) {
        spec.plan_files.insert(
            crate::manifests::SUITE_FILE.into(),
            netbench_orchestrator::suite::to_suite(&cfg.entries),
        );
    }
    if let PlanSpec::Pairs { pairs, .. } = &cfg.plan.plan {
        let text: String = pairs.iter().map(|(c, s)| format!("{c},{s}\n")).collect();
        spec.plan_files.insert("pairs".into(), text);
    }
    spec.plan = pc.flags;
    Ok(
        netbench_proto::plan_line(&netbench_proto::EventKind::RunPlanned {
            plan: cfg.plan.plan.to_string(),
            seed,
            pairs: est.pairs,
            rounds: est.rounds,
            concurrency: cfg.plan.concurrency,
            estimate_seconds: est.time.as_secs_f64(),
        })
        .unwrap_or_default(),
    )
}

/// The selected nodes that also match a role's label selector.
async fn role_nodes(
    client: &Client,
    cfg: &LaunchConfig,
    spec: &LaunchSpec,
    selector: Option<&str>,
) -> Result<Option<Vec<String>>> {
    let Some(sel) = selector else { return Ok(None) };
    let both = [cfg.node_labels.as_str(), sel]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    let list = api
        .list(&kube::api::ListParams::default().labels(&both))
        .await
        .map_err(|e| LaunchError::kube(format!("cannot list nodes (selector {both:?})"), e))?;
    let chosen: std::collections::BTreeSet<String> = cluster::nodes_from(&list.items)
        .into_iter()
        .map(|n| n.name)
        .collect();
    Ok(Some(
        spec.nodes
            .iter()
            .filter(|n| chosen.contains(&n.name))
            .map(|n| n.name.clone())
            .collect(),
    ))
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
    cfg.check()?;
    // A login file that cannot be used stops the launch before anything is made.
    let login = cfg.nats_login.read()?;
    let nodes = cluster::select_nodes(&client, &cfg.node_labels).await?;
    let run = cfg.run.clone().unwrap_or_else(RunId::generate);
    let mut spec = make_spec(&cfg, run.clone(), nodes);
    spec.nats_login = login;
    let clients = role_nodes(&client, &cfg, &spec, cfg.clients.as_deref()).await?;
    let servers = role_nodes(&client, &cfg, &spec, cfg.servers.as_deref()).await?;
    let planned = plan_launch(&cfg, &mut spec, clients, servers)?;
    report.status(&planned);
    // With --existing-namespace, the admin's Pod Security level decides whether host workers
    // may run there (checked with a dry run before anything is created).
    let existing_enforce = if cfg.existing_namespace {
        let labels =
            cluster::check_existing_namespace(&client, &spec.namespace, &run.to_string()).await?;
        labels.get(manifests::PSA_ENFORCE_LABEL).cloned()
    } else {
        cluster::check_namespace_free(&client, &spec.namespace).await?;
        None
    };
    report.status(&format!(
        "run {run}: {} on {} nodes ({}) in namespace {}{}",
        netbench_orchestrator::suite::benchmark_names(&spec.entries).join(", "),
        spec.nodes.len(),
        spec.nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        spec.namespace,
        paths_note(&spec),
    ));
    if let Some(line) =
        pod_security_line(&spec, cfg.existing_namespace, existing_enforce.as_deref())
    {
        report.status(&line);
    }
    // What this launch created, as it goes: cleanup deletes that (the namespace by its UID,
    // or in an existing namespace each object by name and UID), nothing else.
    let mut created = cluster::Created::Nothing;
    let result = deploy_and_follow(
        &client,
        &cfg,
        &mut spec,
        existing_enforce.as_deref(),
        &shutdown,
        report,
        &mut created,
    )
    .await;
    let cleanup_error = match &created {
        cluster::Created::Nothing => {
            report.status(&format!(
                "namespace {} was not created by this launch: nothing to delete",
                spec.namespace
            ));
            None
        }
        cluster::Created::Objects(objects) if objects.is_empty() => {
            report.status(&format!(
                "nothing created in namespace {}: nothing to delete",
                spec.namespace
            ));
            None
        }
        _ if cfg.keep => {
            report.status(&match &created {
                cluster::Created::Namespace(_) => format!(
                    "--keep: namespace {} left in place; delete it with: kubectl delete namespace {}",
                    spec.namespace, spec.namespace
                ),
                _ => format!(
                    "--keep: the run's objects left in namespace {}; delete them with: kubectl -n {} \
                     delete jobs,statefulsets,pods,services,secrets,configmaps,networkpolicies,poddisruptionbudgets -l {}={run}",
                    spec.namespace,
                    spec.namespace,
                    spec::RUN_LABEL
                ),
            });
            None
        }
        cluster::Created::Objects(objects) => {
            report.status(&format!(
                "deleting the {} objects of run {run} in namespace {}",
                objects.len(),
                spec.namespace
            ));
            let deleted = cluster::delete_objects(
                &client,
                &spec.namespace,
                &run.to_string(),
                objects,
                cfg.cleanup_timeout,
                |line| report.status(line),
            )
            .await;
            match deleted {
                Ok(()) => None,
                Err(e) => {
                    report.status(&format!("could not clean up: {e}"));
                    Some(e.to_string())
                }
            }
        }
        cluster::Created::Namespace(uid) => {
            report.status(&format!("deleting namespace {}", spec.namespace));
            if spec.nats_clustered() {
                if let Err(e) = cluster::delete_nats_statefulset(&client, &spec.namespace).await {
                    report.status(&format!("{e}; deleting the namespace with it"));
                }
            }
            let deleted = cluster::delete_namespace_of(
                &client,
                &spec.namespace,
                Some(uid),
                cfg.cleanup_timeout,
                |line| report.status(line),
            )
            .await;
            match deleted {
                Ok(()) => {
                    report.status(&format!("namespace {} deleted", spec.namespace));
                    None
                }
                Err(e) => {
                    report.status(&format!("could not clean up: {e}"));
                    Some(e.to_string())
                }
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

/// Every object of the launch: [`manifests::mk_all`], without the namespace when it exists
/// already (`--existing-namespace`: an admin made it).
pub fn manifests_for(cfg: &LaunchConfig, spec: &LaunchSpec) -> Manifests {
    let mut m = manifests::mk_all(spec);
    m.create_namespace = !cfg.existing_namespace;
    m
}

/// The launch line's words on the paths: nothing for `pod` alone; else the paths and every
/// worker pod and Service they take.
pub fn paths_note(spec: &LaunchSpec) -> String {
    let paths = spec.paths();
    if paths.is_pod_only() {
        return String::new();
    }
    let kinds: Vec<String> = spec
        .placements()
        .iter()
        .map(|p| LaunchSpec::worker_pod_name("<node>", *p))
        .collect();
    let services = if spec.has_path(netbench_proto::Path::Service) {
        format!(
            ", {} ClusterIP Services (one per worker-<node>)",
            spec.nodes.len()
        )
    } else {
        String::new()
    };
    format!(
        "; paths {paths}: {} worker pods ({}){services}",
        spec.worker_pods().len(),
        kinds.join(", ")
    )
}

/// `--paths host`: a server-side dry run of the first host worker, right after the namespace
/// exists (or, with `--existing-namespace`, before anything is created there): whatever forbids
/// hostNetwork there (the namespace's Pod Security level, deploy/'s admission policy without
/// the admin's opt-in, any other policy) refuses it now, with what to do (exit 2), rather than
/// a pod that never starts.
async fn check_host_admitted(
    client: &Client,
    cfg: &LaunchConfig,
    spec: &LaunchSpec,
    m: &Manifests,
    existing_enforce: Option<&str>,
) -> Result<()> {
    let Some(probe) = m.workers.iter().find(|w| {
        w.spec
            .as_ref()
            .is_some_and(|s| s.host_network == Some(true))
    }) else {
        return Ok(());
    };
    let enforce = if cfg.existing_namespace {
        existing_enforce
    } else {
        Some(manifests::HOST_POD_SECURITY_LEVEL)
    };
    match cluster::dry_run_admits(client, &spec.namespace, probe).await? {
        Ok(()) => Ok(()),
        Err(why) => Err(LaunchError::Usage(host_refused(
            &spec.namespace,
            cfg.existing_namespace,
            enforce,
            &why,
        ))),
    }
}

async fn deploy_and_follow(
    client: &Client,
    cfg: &LaunchConfig,
    spec: &mut LaunchSpec,
    existing_enforce: Option<&str>,
    shutdown: &CancellationToken,
    report: &mut impl Report,
    created: &mut cluster::Created,
) -> Result<Followed> {
    let m: Manifests = manifests_for(cfg, spec);
    cluster::ensure_namespace(client, &m, created).await?;
    check_host_admitted(client, cfg, spec, &m, existing_enforce).await?;
    let ips = cluster::apply_namespace_and_services(client, &m, created).await?;
    spec.service_ips = ips.workers.clone();
    let cluster_ip = ips.client.clone();
    // A NATS cluster: every server routes to every server's own Service, by ClusterIP (there
    // may be no cluster DNS), rendered into auth.conf before any NATS pod exists.
    set_nats_routes(spec, &ips.servers);
    // Pods reach NATS through the Service's ClusterIP: works with or without cluster DNS.
    if let (Some(ip), NatsPlan::Deploy { url, .. }) = (&cluster_ip, &mut spec.nats) {
        *url = nats_urls(ip, &ips.servers, cfg.uses_tls());
    }
    // The server certificate names the ClusterIP, so it is made now that the IP is known.
    let ip: Option<IpAddr> = cluster_ip.as_deref().and_then(|ip| ip.parse().ok());
    spec.tls = tls_plan(cfg, &spec.namespace, ip)?;
    let m = manifests_for(cfg, spec);
    cluster::apply_nats(client, &m, created).await?;
    cluster::apply_run(client, &m, created).await?;
    report.status(&format!(
        "manifests applied; waiting for pods to be ready (up to {:?})",
        cfg.timeout
    ));
    let mut expected: Vec<String> = spec.nats_pod_names();
    let nats_pods = expected.clone();
    expected.extend(spec.worker_names());
    if spec.nats_clustered() {
        report.status(&format!(
            "waiting for all {} NATS servers ({}) to be ready: they form one JetStream cluster",
            nats_pods.len(),
            nats_pods.join(", ")
        ));
    }
    let clustered = spec.nats_clustered();
    let mut progress = |a: &Assessment| {
        let nats = if clustered {
            format!(
                " (NATS {}/{})",
                a.ready.iter().filter(|p| nats_pods.contains(p)).count(),
                nats_pods.len()
            )
        } else {
            String::new()
        };
        report.status(&format!(
            "pods ready: {}/{}{nats}",
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

    // Connect to NATS (with --tls, verifying the server against the run's CA, kept in a temp
    // file for as long as the connection lives).
    let (mut nats_args, _forward) = nats_endpoint(client, cfg, spec).await?;
    // A ready NATS pod is not yet a routed Service: kube-proxy may still refuse the ClusterIP
    // for a moment (seen in-cluster on the real test cluster). Retry like the pods do.
    nats_args.connect_wait = cfg.timeout;
    let _ca_file = match (&spec.tls, &cfg.nats_ca) {
        (_, Some(path)) => {
            nats_args.tls_ca = Some(path.clone());
            None
        }
        (Some(plan), None) => {
            let f = ca_file(plan.ca_pem())?;
            nats_args.tls_ca = Some(f.path().to_path_buf());
            Some(f)
        }
        (None, None) => None,
    };
    let nats =
        netbench_bus::connect(&nats_args, "netbench launch", &ConnectionStats::default()).await?;
    report.status(&format!(
        "connected to NATS at {}{}",
        nats_args.url,
        if nats_args.tls_ca.is_some() {
            " (TLS, server verified against the CA)"
        } else {
            ""
        }
    ));
    let store = match spec.nats {
        // An existing NATS is the user's: with their login we set the stream up if missing,
        // as the orchestrator would (so a run that never starts still ends at the deadline).
        NatsPlan::External { .. } => Store::open_with(nats.clone(), &spec.store).await?,
        // Ours: we are the read-only observer there, the orchestrator creates the stream.
        NatsPlan::Deploy { .. } => open_store(&nats, cfg.timeout, shutdown).await?,
    };
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
    let path = follow::write_results(
        &cfg.output_dir,
        &spec.benchmark_names(),
        &spec.run,
        &collected,
    )?;
    report.status(&format!(
        "{} results written to {}",
        collected.results.len(),
        path.display()
    ));
    // Bounded: with NATS already gone a drain waits for a reconnect that never comes.
    if tokio::time::timeout(Duration::from_secs(2), nats.drain())
        .await
        .is_err()
    {
        tracing::warn!("NATS did not confirm the drain within 2 s; going on");
    }
    Ok((ending, collected.results, Some(path)))
}

/// Open the run store on the NATS we deployed. As the read-only observer we cannot create the
/// stream: the orchestrator does when it starts, so poll until it exists (or `timeout`).
async fn open_store(
    nats: &async_nats::Client,
    timeout: Duration,
    shutdown: &CancellationToken,
) -> Result<Store> {
    let started = std::time::Instant::now();
    loop {
        match Store::open_existing(nats.clone()).await {
            Ok(s) => return Ok(s),
            Err(e) if started.elapsed() >= timeout => {
                return Err(LaunchError::Nats(format!(
                    "{e} after {timeout:?}: the orchestrator creates it when it starts. Is it \
                     running? (kubectl -n <namespace> logs job/{}, with --keep)",
                    spec::ORCHESTRATOR_NAME
                )));
            }
            Err(e) => tracing::debug!("stream not there yet: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = shutdown.cancelled() => return Err(LaunchError::Interrupted("while waiting for the orchestrator")),
        }
    }
}

/// The CA certificate in a temp file (the NATS client reads its roots from a file).
fn ca_file(pem: &str) -> Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut f = tempfile::Builder::new()
        .prefix("netbench-nats-ca-")
        .suffix(".pem")
        .tempfile()
        .map_err(|e| LaunchError::Tls(format!("cannot write the CA to a temp file: {e}")))?;
    f.write_all(pem.as_bytes())
        .and_then(|_| f.flush())
        .map_err(|e| LaunchError::Tls(format!("cannot write the CA to a temp file: {e}")))?;
    Ok(f)
}

/// The label selector of the run's NATS pods.
pub fn nats_pod_selector(spec: &LaunchSpec) -> String {
    format!(
        "{}={},{}=nats",
        spec::RUN_LABEL,
        spec.run,
        spec::COMPONENT_LABEL
    )
}

/// The NATS URL the pods get: the client Service, then (a NATS cluster, without TLS) every
/// server's own Service, so that a client fails over to a named server as well as through
/// the Service. With TLS the certificate names the client Service's IP only.
pub fn nats_urls(client_ip: &str, server_ips: &[String], tls: bool) -> String {
    let url = |ip: &str| {
        format!(
            "{}://{}:{}",
            spec::nats_scheme(tls),
            bracket(ip),
            spec::NATS_CLIENT_PORT
        )
    };
    let mut urls = vec![url(client_ip)];
    if !tls {
        urls.extend(server_ips.iter().map(|ip| url(ip)));
    }
    urls.join(",")
}

/// `--nats-replicas` above 1: the routes (`ip:port` of each server's own Service) into the spec,
/// with a fresh route login. Nothing for a single NATS.
pub fn set_nats_routes(spec: &mut LaunchSpec, server_ips: &[String]) {
    if !spec.nats_clustered() || server_ips.is_empty() {
        return;
    }
    let routes: Vec<String> = server_ips
        .iter()
        .map(|ip| format!("{}:{}", bracket(ip), spec::NATS_ROUTE_PORT))
        .collect();
    spec.nats_cluster = Some(ClusterRoutes::generate(
        &format!("0.0.0.0:{}", spec::NATS_ROUTE_PORT),
        routes,
    ));
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
                connect_wait: Default::default(),
                url: url.clone(),
                creds: cfg.nats_login.creds.clone(),
                nkey: cfg.nats_login.nkey.clone(),
                token: cfg.nats_login.token.clone(),
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
                    connect_wait: Default::default(),
                    url,
                    ..Default::default()
                }
                .with_login(&creds.observer)
            };
            if via_service {
                return Ok((creds(url.clone()), None));
            }
            let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
            // To a Ready NATS pod, another one for each new connection after one broke: the
            // client reconnects through the same local port to a surviving server.
            let fwd = crate::portforward::start_any(
                pods,
                &nats_pod_selector(spec),
                spec.nats_pod_names(),
                spec::NATS_CLIENT_PORT,
            )
            .await?;
            // With --tls the server certificate names 127.0.0.1 for this very case.
            let url = format!("{}://{}", spec::nats_scheme(spec.tls.is_some()), fwd.local);
            Ok((creds(url), Some(fwd)))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #[test]
    fn pods_get_every_nats_servers_url_on_a_cluster_without_tls() {
        let servers = vec!["10.96.0.11".to_string(), "10.96.0.12".to_string()];
        assert_eq!(
            super::nats_urls("10.96.0.10", &servers, false),
            "nats://10.96.0.10:4222,nats://10.96.0.11:4222,nats://10.96.0.12:4222"
        );
        assert_eq!(
            super::nats_urls("10.96.0.10", &[], false),
            "nats://10.96.0.10:4222"
        );
        assert_eq!(
            super::nats_urls("10.96.0.10", &servers, true),
            "tls://10.96.0.10:4222"
        );
    }

    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        launch: crate::cli::LaunchArgs,
    }

    /// The [`LaunchConfig`] of `netbench launch --benchmark iperf3-tcp ARGS…`.
    pub(crate) fn config(args: &[&str]) -> LaunchConfig {
        Cli::try_parse_from(["launch", "--benchmark", "iperf3-tcp"].iter().chain(args))
            .unwrap()
            .launch
            .config()
            .unwrap()
    }

    #[test]
    fn tls_flags_that_do_not_go_together_are_refused_with_what_to_do() {
        let e = config(&["--tls", "--nats-url", "tls://n:4222"])
            .check()
            .unwrap_err();
        assert!(matches!(e, LaunchError::Usage(_)));
        assert!(e.to_string().contains("--nats-ca FILE"), "{e}");
        // --nats-ca without --nats-url: clap refuses it (exit code 2).
        assert!(Cli::try_parse_from(["l", "--benchmark", "iperf3-tcp", "--nats-ca", "x"]).is_err());
        let mut cfg = config(&[]);
        cfg.nats_ca = Some("ca.pem".into());
        assert!(matches!(cfg.check(), Err(LaunchError::Usage(_))));
        assert!(config(&["--tls"]).check().is_ok());
        assert!(tls_plan(&config(&[]), "ns", None).unwrap().is_none());
        // A CA file that is not one.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ca.pem");
        std::fs::write(&f, "not a certificate").unwrap();
        let cfg = config(&[
            "--nats-url",
            "tls://n:4222",
            "--nats-ca",
            f.to_str().unwrap(),
        ]);
        let e = tls_plan(&cfg, "ns", None).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn a_login_without_nats_url_is_refused_and_bad_login_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("u.creds");
        std::fs::write(&f, "not creds\n").unwrap();
        let path = f.to_str().unwrap();
        for flag in ["--nats-creds", "--nats-nkey", "--nats-token"] {
            let e = config(&[flag, path]).check().unwrap_err();
            assert!(matches!(e, LaunchError::Usage(_)), "{e}");
            assert!(
                e.to_string().contains(flag) && e.to_string().contains("--nats-url"),
                "{e}"
            );
        }
        let cfg = config(&["--nats-url", "nats://n:4222", "--nats-creds", path]);
        cfg.check().unwrap();
        let e = cfg.nats_login.read().unwrap_err();
        assert!(matches!(e, LaunchError::Bus(_)), "{e}");
        assert!(e.to_string().contains(path) && e.to_string().contains("nsc generate creds"));
        let cfg = config(&["--nats-url", "nats://n:4222", "--nats-nkey", path]);
        assert!(cfg
            .nats_login
            .read()
            .unwrap_err()
            .to_string()
            .contains("SU"));
        let cfg = config(&["--nats-url", "nats://n:4222", "--nats-token", "t0k"]);
        assert_eq!(cfg.nats_login.read().unwrap().token.as_deref(), Some("t0k"));
        assert!(!format!("{cfg:?}").contains("t0k"), "token in Debug");
    }

    fn nodes() -> Vec<spec::NodeInfo> {
        ["n1", "n2"]
            .iter()
            .map(|n| spec::NodeInfo {
                name: n.to_string(),
                zone: String::new(),
                ip: None,
            })
            .collect()
    }

    #[test]
    fn every_worker_pod_of_every_placement_gets_a_nats_login() {
        let run: RunId = "0123456789ab".parse().unwrap();
        let s = make_spec(
            &config(&["--paths", "pod,host,same-node"]),
            run.clone(),
            nodes(),
        );
        let NatsPlan::Deploy { creds, .. } = &s.nats else {
            panic!("deployed")
        };
        let ids: Vec<_> = creds.workers.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(ids, s.worker_ids());
        assert_eq!(ids.len(), 6);
        for name in ["worker-n1", "hostnet-n2", "worker2-n1"] {
            assert!(creds
                .worker(&netbench_proto::WorkerId::for_name(name))
                .is_some());
        }
        let plain = make_spec(&config(&[]), run, nodes());
        assert_eq!(plain.worker_names(), ["worker-n1", "worker-n2"]);
        assert_eq!(paths_note(&plain), "");
    }

    #[test]
    fn the_launch_line_names_the_paths_and_the_host_path_says_why_its_namespace_is_privileged() {
        let run: RunId = "0123456789ab".parse().unwrap();
        let s = make_spec(
            &config(&["--paths", "pod,host,service,same-node"]),
            run.clone(),
            nodes(),
        );
        let note = paths_note(&s);
        assert!(
            note.contains("paths pod,host,service,same-node: 6 worker pods (worker-<node>, hostnet-<node>, worker2-<node>), 2 ClusterIP Services"),
            "{note}"
        );
        let line = pod_security_line(&s, false, None).unwrap();
        assert!(
            line.contains("namespace netbench-0123456789ab enforces Pod Security privileged")
                && line.contains("pod-security.kubernetes.io/enforce=privileged")
                && line.contains("audit and warn stay restricted")
                && line.contains("hostNetwork"),
            "{line}"
        );
        let line = pod_security_line(&s, true, Some("restricted")).unwrap();
        assert!(
            line.contains("pod-security.kubernetes.io/enforce=restricted")
                && line.contains("before creating anything"),
            "{line}"
        );
        let line = pod_security_line(&s, true, None).unwrap();
        assert!(line.contains("the cluster's default"), "{line}");
        let no_host = make_spec(&config(&["--paths", "pod,service"]), run, nodes());
        assert_eq!(pod_security_line(&no_host, false, None), None);
    }

    #[test]
    fn a_refused_host_worker_names_the_label_or_the_opt_in_and_the_fix() {
        let psa = "pods \"hostnet-n1\" is forbidden: violates PodSecurity \"restricted:latest\": host namespaces (hostNetwork=true)";
        let e = host_refused("netbench-run", true, Some("restricted"), psa);
        for want in [
            "namespace netbench-run does not admit the host workers",
            "its label pod-security.kubernetes.io/enforce=restricted forbids them",
            "kubectl label namespace netbench-run pod-security.kubernetes.io/enforce=privileged --overwrite",
            "or leave host out of --paths",
            "Nothing was created",
            psa,
        ] {
            assert!(e.contains(want), "{want:?} not in: {e}");
        }
        let e = host_refused("netbench-run", true, None, psa);
        assert!(
            e.contains("no pod-security.kubernetes.io/enforce label"),
            "{e}"
        );
        let vap = "pods \"hostnet-n1\" is forbidden: ValidatingAdmissionPolicy 'netbench-launcher-host-network' with binding 'netbench-launcher-host-network' denied request: hostNetwork pods are not allowed";
        let e = host_refused("netbench-0123456789ab", false, Some("privileged"), vap);
        for want in [
            "deploy/'s admission policy",
            "kubectl -n netbench patch configmap netbench-admission --type merge -p '{\"data\":{\"hostNetwork\":\"allowed\"}}'",
            "or leave host out of --paths",
            "The namespace is deleted again",
        ] {
            assert!(e.contains(want), "{want:?} not in: {e}");
        }
        let e = host_refused("ns", false, None, "denied by some-other-policy");
        assert!(
            e.contains("denied by some-other-policy") && e.contains("leave host out"),
            "{e}"
        );
    }

    #[test]
    fn usage_errors_found_by_the_launch_exit_2() {
        use crate::cli::exit_code_of;
        assert_eq!(exit_code_of(&LaunchError::Usage("x".into())), 2);
        assert_eq!(exit_code_of(&LaunchError::Interrupted("now")), 4);
        assert_eq!(exit_code_of(&LaunchError::Nats("x".into())), 3);
    }

    #[test]
    fn with_tls_the_pods_get_a_tls_url() {
        let run: RunId = "0123456789ab".parse().unwrap();
        let s = make_spec(&config(&["--tls"]), run.clone(), vec![]);
        assert_eq!(s.nats.url(), "tls://nats.netbench-0123456789ab.svc:4222");
        let s = make_spec(&config(&[]), run, vec![]);
        assert_eq!(s.nats.url(), "nats://nats.netbench-0123456789ab.svc:4222");
    }
}
