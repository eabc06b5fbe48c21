//! The thin kube shell: select nodes, server-side apply, wait for pods, delete the namespace.

use crate::manifests::Manifests;
use crate::pods::{assess, Assessment, StuckPods, STUCK_GRACE};
use crate::spec::{self, NodeInfo};
use crate::{LaunchError, Result};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often pod and namespace states are polled.
const POLL: Duration = Duration::from_millis(500);
/// How long pods wait for a new namespace's `default` ServiceAccount.
const SERVICE_ACCOUNT_WAIT: Duration = Duration::from_secs(30);

/// Nodes matching `selector` (a label selector; empty selects all), sorted by name.
pub async fn select_nodes(client: &Client, selector: &str) -> Result<Vec<NodeInfo>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let lp = ListParams::default().labels(selector);
    let list = nodes
        .list(&lp)
        .await
        .map_err(|e| LaunchError::kube(format!("cannot list nodes (selector {selector:?})"), e))?;
    let found = nodes_from(&list.items);
    if found.len() < 2 {
        let names = if found.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                found
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(LaunchError::TooFewNodes {
            selector: selector.to_string(),
            found: found.len(),
            names,
        });
    }
    Ok(found)
}

/// Name, zone and InternalIP of each node, sorted by name. Pure.
pub fn nodes_from(nodes: &[Node]) -> Vec<NodeInfo> {
    let mut v: Vec<NodeInfo> = nodes
        .iter()
        .filter_map(|n| {
            Some(NodeInfo {
                name: n.metadata.name.clone()?,
                zone: n
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(spec::ZONE_LABEL).cloned())
                    .unwrap_or_default(),
                ip: internal_ip(n),
            })
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// A node's first `InternalIP` (the address its hostNetwork pods send from to other nodes).
fn internal_ip(n: &Node) -> Option<std::net::IpAddr> {
    n.status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.parse().ok())
}

/// Refuse a namespace that already exists: we create it and we delete it at the end.
pub async fn check_namespace_free(client: &Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    match api
        .get_opt(name)
        .await
        .map_err(|e| LaunchError::kube(format!("cannot read namespace {name}"), e))?
    {
        None => Ok(()),
        Some(ns) => {
            let ours = ns
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(spec::MANAGED_BY.0))
                .is_some_and(|v| v == spec::MANAGED_BY.1);
            Err(LaunchError::NamespaceExists(
                name.to_string(),
                if ours {
                    " (left by an earlier netbench run: delete it, or wait until it is gone)"
                } else {
                    " and is not netbench's"
                },
            ))
        }
    }
}

/// Server-side apply with field manager `netbench`.
pub async fn apply<K>(api: &Api<K>, obj: &K) -> Result<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    K::DynamicType: Default,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let pp = PatchParams::apply(spec::FIELD_MANAGER).force();
    let started = Instant::now();
    loop {
        match api.patch(&name, &pp, &Patch::Apply(obj)).await {
            Ok(o) => return Ok(o),
            // A fresh namespace has no `default` ServiceAccount for a moment (the controller
            // manager creates it), and pods are refused until it exists: retry briefly.
            Err(kube::Error::Api(s))
                if s.message.contains("error looking up service account")
                    && started.elapsed() < SERVICE_ACCOUNT_WAIT =>
            {
                tokio::time::sleep(POLL).await;
            }
            Err(e) => {
                return Err(LaunchError::kube(
                    format!(
                        "cannot apply {} {name}",
                        K::kind(&K::DynamicType::default())
                    ),
                    e,
                ))
            }
        }
    }
}

/// Create the run's namespace with a plain create, never an apply: if it exists (another
/// launch with the same `--namespace` got there first), this launch stops instead of adopting
/// it. Returns the new namespace's UID, the one cleanup deletes.
pub async fn create_namespace(client: &Client, ns: &Namespace) -> Result<String> {
    let name = ns.metadata.name.clone().unwrap_or_default();
    let api: Api<Namespace> = Api::all(client.clone());
    match api.create(&PostParams::default(), ns).await {
        Ok(created) => Ok(created.metadata.uid.unwrap_or_default()),
        Err(kube::Error::Api(s)) if s.code == 409 => Err(LaunchError::NamespaceExists(
            name,
            " (another launch created it a moment ago: give this one another --namespace)",
        )),
        Err(e) => Err(LaunchError::kube(
            format!("cannot create namespace {name}"),
            e,
        )),
    }
}

/// What a launch has created so far: what its cleanup removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Created {
    /// Nothing yet.
    #[default]
    Nothing,
    /// The run's own namespace (by UID): deleting it removes everything.
    Namespace(String),
    /// `--existing-namespace`: the objects created in a namespace an admin made, in creation
    /// order. Cleanup deletes exactly these (by name and UID), never the namespace.
    Objects(Vec<Owned>),
}

/// One object created in an existing namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// The Kubernetes kind (`Pod`, `Secret`, …).
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// The advice a 403 gets in an existing namespace (the permissions come from a Role there).
const ROLE_HINT: &str = ". The launcher's ServiceAccount lacks this permission in the namespace: bind the Role of deploy/overlays/namespaced there (kubectl apply -k deploy/overlays/namespaced)";

fn existing_error(what: String, e: kube::Error) -> LaunchError {
    let mut err = LaunchError::kube(what, e);
    if let LaunchError::Kube {
        source: kube::Error::Api(s),
        hint,
        ..
    } = &mut err
    {
        if s.code == 403 {
            *hint = ROLE_HINT;
        }
    }
    err
}

/// `--existing-namespace`: the namespace must exist (an admin creates it and binds the Role of
/// deploy/overlays/namespaced there) and hold no other run's pods (the objects have fixed
/// names: one run at a time per namespace). Returns the namespace's labels (its Pod Security
/// level is the admin's).
pub async fn check_existing_namespace(
    client: &Client,
    name: &str,
    run: &str,
) -> Result<BTreeMap<String, String>> {
    let api: Api<Namespace> = Api::all(client.clone());
    let labels = match api.get_opt(name).await {
        Ok(Some(ns)) => ns.metadata.labels.unwrap_or_default(),
        Ok(None) => {
            return Err(LaunchError::Usage(format!(
                "--existing-namespace {name}: no such namespace. An admin creates it and binds the \
                 launcher's Role there (kubectl apply -k deploy/overlays/namespaced, see \
                 deploy/README.md); or drop --existing-namespace to let netbench create one"
            )))
        }
        Err(e) => return Err(existing_error(format!("cannot read namespace {name}"), e)),
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), name);
    let lp =
        ListParams::default().labels(&format!("{}={}", spec::MANAGED_BY.0, spec::MANAGED_BY.1));
    let list = pods
        .list(&lp)
        .await
        .map_err(|e| existing_error(format!("cannot list pods in {name}"), e))?;
    let mut others: Vec<String> = list
        .items
        .iter()
        .filter_map(|p| {
            let r = p.metadata.labels.as_ref()?.get(spec::RUN_LABEL)?;
            (r != run).then(|| format!("{} (run {r})", p.metadata.name.clone().unwrap_or_default()))
        })
        .collect();
    others.sort();
    if !others.is_empty() {
        return Err(LaunchError::Usage(format!(
            "--existing-namespace {name}: another netbench run is there ({}); one run at a time \
             per namespace. Wait until it ends, or give this launch another namespace",
            others.join(", ")
        )));
    }
    Ok(labels)
}

/// Whether the API server would admit `pod` in `namespace`: a server-side dry-run create
/// (`dryRun=All`: every admission plugin and policy runs, nothing is stored). `Ok(Err(why))`
/// when admission refuses it (403, or 422 from a policy), with the server's message; retried
/// while a fresh namespace lacks its `default` ServiceAccount.
pub async fn dry_run_admits(
    client: &Client,
    namespace: &str,
    pod: &Pod,
) -> Result<std::result::Result<(), String>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let name = pod.metadata.name.clone().unwrap_or_default();
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let started = Instant::now();
    loop {
        match api.create(&pp, pod).await {
            Ok(_) => return Ok(Ok(())),
            Err(kube::Error::Api(s))
                if s.message.contains("error looking up service account")
                    && started.elapsed() < SERVICE_ACCOUNT_WAIT =>
            {
                tokio::time::sleep(POLL).await;
            }
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 422 => {
                return Ok(Err(s.message))
            }
            Err(e) => {
                return Err(existing_error(
                    format!("cannot dry-run create pod {name} in {namespace}"),
                    e,
                ))
            }
        }
    }
}

/// A plain create (never an apply: an object of that name that this launch did not create is
/// refused, not adopted), retried while a fresh namespace lacks its `default` ServiceAccount.
async fn create_object<K>(api: &Api<K>, obj: &K, ns: &str) -> Result<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    K::DynamicType: Default,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let started = Instant::now();
    loop {
        match api.create(&PostParams::default(), obj).await {
            Ok(o) => return Ok(o),
            Err(kube::Error::Api(s))
                if s.message.contains("error looking up service account")
                    && started.elapsed() < SERVICE_ACCOUNT_WAIT =>
            {
                tokio::time::sleep(POLL).await;
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                return Err(LaunchError::Usage(format!(
                    "--existing-namespace {ns}: {kind} {name} already exists there and is not this \
                     launch's (another run, or someone else's object of that name): left alone. \
                     Give netbench a namespace of its own"
                )))
            }
            Err(e) => return Err(existing_error(format!("cannot create {kind} {name}"), e)),
        }
    }
}

/// Write one object of the run: server-side apply into the run's own namespace, a plain create
/// (recorded in `created`) into an existing one.
async fn put<K>(client: &Client, ns: &str, obj: &K, created: &mut Created) -> Result<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api = Api::<K>::namespaced(client.clone(), ns);
    match created {
        Created::Objects(list) => {
            let o = create_object(&api, obj, ns).await?;
            list.push(Owned {
                kind: K::kind(&K::DynamicType::default()).to_string(),
                name: o.meta().name.clone().unwrap_or_default(),
                uid: o.meta().uid.clone().unwrap_or_default(),
            });
            Ok(o)
        }
        _ => apply(&api, obj).await,
    }
}

/// The ClusterIPs of the run's Services, once they exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsServiceIps {
    /// The client Service `nats` (every NATS pod behind it).
    pub client: Option<String>,
    /// `--nats-replicas` above 1: each server's own Service (`nats-<i>`), in order.
    pub servers: Vec<String>,
    /// `--paths service`: each pod worker's Service, by name.
    pub workers: BTreeMap<String, std::net::IpAddr>,
}

fn cluster_ip(svc: Service) -> Option<String> {
    svc.spec
        .and_then(|s| s.cluster_ip)
        .filter(|ip| !ip.is_empty() && ip != "None")
}

/// Create the namespace (unless it exists already: `created` is then [`Created::Objects`]),
/// the run's NetworkPolicies (before any pod exists), when we deploy NATS its Services, and with
/// `--paths service` the workers' Services; returns their ClusterIPs. First, because the
/// ClusterIP goes into the pods' `NATS_URL` and, with `--tls`, into the server certificate, each
/// NATS server's into the routes of a NATS cluster, and each worker Service's into its pod.
pub async fn apply_namespace_and_services(
    client: &Client,
    m: &Manifests,
    created: &mut Created,
) -> Result<NatsServiceIps> {
    let ns_name = m.namespace.metadata.name.clone().unwrap_or_default();
    let client_ip = apply_namespace_and_service(client, m, created).await?;
    let mut servers = Vec::new();
    for s in &m.nats_pod_services {
        let name = s.metadata.name.clone().unwrap_or_default();
        let ip = cluster_ip(put(client, &ns_name, s, created).await?).ok_or_else(|| {
            LaunchError::Nats(format!(
                "Service {name} got no ClusterIP: the NATS servers route to each other through \
                 their Services' ClusterIPs; does this cluster hand them out?"
            ))
        })?;
        servers.push(ip);
    }
    let mut workers = BTreeMap::new();
    for s in &m.worker_services {
        let name = s.metadata.name.clone().unwrap_or_default();
        let ip = cluster_ip(put(client, &ns_name, s, created).await?)
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| LaunchError::NoClusterIp(name.clone()))?;
        workers.insert(name, ip);
    }
    Ok(NatsServiceIps {
        client: client_ip,
        servers,
        workers,
    })
}

/// [`apply_namespace_and_services`] without the per-server Services: the client Service's
/// ClusterIP.
pub async fn apply_namespace_and_service(
    client: &Client,
    m: &Manifests,
    created: &mut Created,
) -> Result<Option<String>> {
    let ns_name = m.namespace.metadata.name.clone().unwrap_or_default();
    ensure_namespace(client, m, created).await?;
    for p in &m.network_policies {
        put::<NetworkPolicy>(client, &ns_name, p, created).await?;
    }
    let mut cluster_ip = None;
    if let Some(s) = &m.nats_service {
        cluster_ip = self::cluster_ip(put(client, &ns_name, s, created).await?);
    }
    Ok(cluster_ip)
}

/// Create the run's namespace, or (`--existing-namespace`) start recording what is created in
/// the admin's. Once: a second call does nothing.
pub async fn ensure_namespace(client: &Client, m: &Manifests, created: &mut Created) -> Result<()> {
    if !matches!(created, Created::Nothing) {
        return Ok(());
    }
    *created = if m.create_namespace {
        Created::Namespace(create_namespace(client, &m.namespace).await?)
    } else {
        Created::Objects(Vec::new())
    };
    Ok(())
}

/// Apply the NATS Secrets and ConfigMaps (the CA one also for an external NATS) and the NATS pod
/// (or, `--nats-replicas` above 1, the StatefulSet and its PodDisruptionBudget).
pub async fn apply_nats(client: &Client, m: &Manifests, created: &mut Created) -> Result<()> {
    let ns_name = m.namespace.metadata.name.clone().unwrap_or_default();
    for s in [&m.nats_secret, &m.nats_tls_secret, &m.nats_login_secret]
        .into_iter()
        .flatten()
    {
        put::<Secret>(client, &ns_name, s, created).await?;
    }
    for c in [&m.nats_config, &m.nats_ca].into_iter().flatten() {
        put::<ConfigMap>(client, &ns_name, c, created).await?;
    }
    if let Some(p) = &m.nats_pod {
        put::<Pod>(client, &ns_name, p, created).await?;
    }
    if let Some(p) = &m.nats_pdb {
        put::<PodDisruptionBudget>(client, &ns_name, p, created).await?;
    }
    if let Some(s) = &m.nats_statefulset {
        put::<StatefulSet>(client, &ns_name, s, created).await?;
    }
    Ok(())
}

/// Apply the workers and the orchestrator Job.
pub async fn apply_run(client: &Client, m: &Manifests, created: &mut Created) -> Result<()> {
    let ns_name = m.namespace.metadata.name.clone().unwrap_or_default();
    for w in &m.workers {
        put::<Pod>(client, &ns_name, w, created).await?;
    }
    if let Some(c) = &m.plan_config {
        put::<ConfigMap>(client, &ns_name, c, created).await?;
    }
    put::<Job>(client, &ns_name, &m.orchestrator, created).await?;
    Ok(())
}

/// `--existing-namespace` cleanup: delete exactly the objects this launch created (by name,
/// with their UID as precondition, so a namespace-mate's object of the same name is safe), the
/// Job first (its pods go with it), and wait until no pod of the run is left. The namespace
/// stays: it is the admin's.
pub async fn delete_objects(
    client: &Client,
    namespace: &str,
    run: &str,
    objects: &[Owned],
    timeout: Duration,
    mut note: impl FnMut(&str),
) -> Result<()> {
    let started = Instant::now();
    let mut failed = Vec::new();
    // The Job and the StatefulSet first (or their controllers replace their pods), then the
    // pods, then the rest.
    let rank = |k: &str| match k {
        "Job" | "StatefulSet" => 0,
        "Pod" => 1,
        _ => 2,
    };
    let mut order: Vec<&Owned> = objects.iter().collect();
    order.sort_by_key(|o| rank(&o.kind));
    for o in order {
        let mut dp = DeleteParams::background();
        dp = dp.preconditions(kube::api::Preconditions {
            uid: Some(o.uid.clone()),
            resource_version: None,
        });
        let r = match o.kind.as_str() {
            "Job" => delete_one::<Job>(client, namespace, &o.name, &dp).await,
            "Pod" => delete_one::<Pod>(client, namespace, &o.name, &dp).await,
            "StatefulSet" => delete_one::<StatefulSet>(client, namespace, &o.name, &dp).await,
            "PodDisruptionBudget" => {
                delete_one::<PodDisruptionBudget>(client, namespace, &o.name, &dp).await
            }
            "Service" => delete_one::<Service>(client, namespace, &o.name, &dp).await,
            "Secret" => delete_one::<Secret>(client, namespace, &o.name, &dp).await,
            "ConfigMap" => delete_one::<ConfigMap>(client, namespace, &o.name, &dp).await,
            "NetworkPolicy" => delete_one::<NetworkPolicy>(client, namespace, &o.name, &dp).await,
            other => Err(format!("unknown kind {other}")),
        };
        if let Err(why) = r {
            failed.push(format!("{} {}: {why}", o.kind, o.name));
        }
    }
    // The run's pods (the Job's too, which its deletion takes along) until none is left.
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default().labels(&format!("{}={run}", spec::RUN_LABEL));
    loop {
        let left = pods
            .list(&lp)
            .await
            .map_err(|e| existing_error(format!("cannot list pods in {namespace}"), e))?
            .items
            .len();
        if left == 0 {
            break;
        }
        if started.elapsed() >= timeout {
            failed.push(format!(
                "{left} pods of run {run} still there after {timeout:?}; delete them with: \
                 kubectl -n {namespace} delete pods -l {}={run}",
                spec::RUN_LABEL
            ));
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    if !failed.is_empty() {
        return Err(LaunchError::Cleanup(format!(
            "in namespace {namespace}: {}",
            failed.join("; ")
        )));
    }
    note(&format!(
        "{} objects of run {run} deleted from namespace {namespace} in {:.1}s (the namespace stays)",
        objects.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

async fn delete_one<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    dp: &DeleteParams,
) -> std::result::Result<(), String>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    match Api::<K>::namespaced(client.clone(), namespace)
        .delete(name, dp)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Err(format!(
            "no longer the one this launch created, left alone ({})",
            s.message
        )),
        Err(kube::Error::Api(s)) if s.code == 403 => {
            Err(format!("forbidden ({}){ROLE_HINT}", s.message))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Wait until every pod named in `expected` is Ready. Fails at once when one cannot become
/// ready, after [`STUCK_GRACE`] when one keeps an error the kubelet retries, and after
/// `timeout` with one line per pod that is not.
pub async fn wait_ready(
    client: &Client,
    namespace: &str,
    expected: &[String],
    timeout: Duration,
    shutdown: &CancellationToken,
    mut progress: impl FnMut(&Assessment),
) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let started = Instant::now();
    let mut last = Assessment::default();
    let mut stuck = StuckPods::new(STUCK_GRACE);
    loop {
        let list = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| LaunchError::kube(format!("cannot list pods in {namespace}"), e))?;
        let a = assess(&list.items, expected);
        if a != last {
            progress(&a);
        }
        if let Some(f) = &a.failed {
            return Err(LaunchError::PodFailed(f.clone()));
        }
        if let Some(f) = stuck.observe(&a, Instant::now()) {
            return Err(LaunchError::PodFailed(f));
        }
        if a.all_ready() {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(LaunchError::PodsNotReady {
                after: timeout,
                pods: a
                    .waiting
                    .iter()
                    .map(|w| format!("  {w}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        last = a;
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.cancelled() => return Err(LaunchError::Interrupted("while waiting for pods")),
        }
    }
}

/// Why the orchestrator Job failed, if it did.
pub async fn job_failure(client: &Client, namespace: &str) -> Result<Option<String>> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let job = jobs
        .get_opt(spec::ORCHESTRATOR_NAME)
        .await
        .map_err(|e| LaunchError::kube("cannot read the orchestrator Job", e))?;
    Ok(job.and_then(|j| {
        j.status?.conditions?.into_iter().find_map(|c| {
            (c.type_ == "Failed" && c.status == "True").then(|| {
                format!(
                    "Job {}: {} {}",
                    spec::ORCHESTRATOR_NAME,
                    c.reason.unwrap_or_default(),
                    c.message.unwrap_or_default()
                )
            })
        })
    }))
}

/// Delete the namespace and wait until it is gone (or `timeout`).
///
/// It is emptied first ([`empty_namespace`]): deleting a namespace whose pods are still
/// terminating took 11–90 s on a real cluster, the namespace controller's retries backing off
/// while the kubelets confirmed; empty, it goes in about a second. When that fails (an older
/// ClusterRole without the verbs), `note` says so and the namespace is deleted anyway.
pub async fn delete_namespace(
    client: &Client,
    name: &str,
    timeout: Duration,
    note: impl FnMut(&str),
) -> Result<()> {
    delete_namespace_of(client, name, None, timeout, note).await
}

/// [`delete_namespace`], only if the namespace is still the one with `uid` (the one this launch
/// created): a namespace of the same name that someone else created since is left alone.
pub async fn delete_namespace_of(
    client: &Client,
    name: &str,
    uid: Option<&str>,
    timeout: Duration,
    mut note: impl FnMut(&str),
) -> Result<()> {
    let started = Instant::now();
    if let Some(uid) = uid {
        let api: Api<Namespace> = Api::all(client.clone());
        match api.get_opt(name).await {
            Ok(Some(ns)) if ns.metadata.uid.as_deref() != Some(uid) => {
                return Err(LaunchError::Cleanup(format!(
                    "namespace {name} is no longer the one this launch created (uid {uid}): left alone"
                )))
            }
            Ok(None) => return Ok(()),
            _ => {}
        }
    }
    match empty_namespace(client, name, timeout).await {
        Ok(0) => {}
        Ok(n) => note(&format!(
            "{n} pods stopped in {:.1}s",
            started.elapsed().as_secs_f64()
        )),
        Err(why) => note(&format!(
            "could not empty namespace {name} before deleting it ({why}); deleting it with what is \
             left, which takes longer"
        )),
    }
    let api: Api<Namespace> = Api::all(client.clone());
    let mut dp = DeleteParams::background();
    if let Some(uid) = uid {
        // The server checks it too, atomically with the delete.
        dp = dp.preconditions(kube::api::Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        });
    }
    match api.delete(name, &dp).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 && uid.is_some() => {
            return Err(LaunchError::Cleanup(format!(
                "namespace {name} is no longer the one this launch created: left alone ({})",
                s.message
            )))
        }
        Err(e) => {
            return Err(LaunchError::kube(
                format!("cannot delete namespace {name}"),
                e,
            ))
        }
    }
    loop {
        match api.get_opt(name).await {
            Ok(None) => return Ok(()),
            Ok(Some(ns)) if started.elapsed() >= timeout => {
                let phase = ns.status.and_then(|s| s.phase).unwrap_or_default();
                return Err(LaunchError::Cleanup(format!(
                    "namespace {name} still exists after {timeout:?} (phase {phase}); delete it with: kubectl delete namespace {name}"
                )));
            }
            Ok(Some(_)) => {}
            Err(e) => {
                return Err(LaunchError::kube(
                    format!("cannot read namespace {name}"),
                    e,
                ))
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `--nats-replicas` above 1, in the run's own namespace: delete the NATS StatefulSet before the
/// namespace is emptied (or its controller would replace the NATS pods being deleted). Gone
/// already is fine.
pub async fn delete_nats_statefulset(client: &Client, namespace: &str) -> Result<()> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    match api
        .delete(spec::NATS_NAME, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(LaunchError::kube(
            format!("cannot delete the NATS StatefulSet in {namespace}"),
            e,
        )),
    }
}

/// Delete the orchestrator Job (first, or its controller would replace its pod), then every pod
/// of the namespace, and wait until they are gone. Returns how many pods there were.
async fn empty_namespace(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> std::result::Result<usize, String> {
    let api_error = |what: &str, e: kube::Error| match e {
        kube::Error::Api(s) if s.code == 403 => {
            format!("{what}: forbidden; deploy/rbac.yaml grants it, re-apply it to clean up faster")
        }
        e => format!("{what}: {e}"),
    };
    let jobs: Api<Job> = Api::namespaced(client.clone(), name);
    match jobs
        .delete(spec::ORCHESTRATOR_NAME, &DeleteParams::background())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(api_error("deleting the orchestrator Job", e)),
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), name);
    let count = match pods
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
    {
        Ok(either) => either.left().map_or(0, |list| list.items.len()),
        Err(e) => return Err(api_error("deleting the pods", e)),
    };
    let started = Instant::now();
    loop {
        let left = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| api_error("listing the pods", e))?
            .items
            .len();
        if left == 0 {
            return Ok(count);
        }
        if started.elapsed() >= timeout {
            return Err(format!("{left} pods still terminating after {timeout:?}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    /// Each node's zone label and first InternalIP (what `--paths host` admits to NATS).
    #[test]
    fn nodes_carry_their_zone_and_internal_ip_sorted_by_name() {
        let node = |name: &str, addresses: serde_json::Value| -> k8s_openapi::api::core::v1::Node {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": "zone-a"}},
                "status": {"addresses": addresses}
            }))
            .unwrap()
        };
        let nodes = super::nodes_from(&[
            node(
                "n2",
                serde_json::json!([{"type": "Hostname", "address": "n2"},
                                   {"type": "ExternalIP", "address": "203.0.113.2"},
                                   {"type": "InternalIP", "address": "10.0.0.2"},
                                   {"type": "InternalIP", "address": "fd00::2"}]),
            ),
            node(
                "n1",
                serde_json::json!([{"type": "Hostname", "address": "n1"}]),
            ),
        ]);
        let got: Vec<(&str, &str, Option<std::net::IpAddr>)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.zone.as_str(), n.ip))
            .collect();
        assert_eq!(
            got,
            [
                ("n1", "zone-a", None),
                ("n2", "zone-a", Some([10, 0, 0, 2].into()))
            ]
        );
    }
}
