//! The thin kube shell: select nodes, server-side apply, wait for pods, delete the namespace.

use crate::manifests::Manifests;
use crate::pods::{assess, Assessment, StuckPods, STUCK_GRACE};
use crate::spec::{self, NodeInfo};
use crate::{LaunchError, Result};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, Secret, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde::{de::DeserializeOwned, Serialize};
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

/// Name and zone of each node, sorted by name. Pure.
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
            })
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
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

/// Create the namespace and, when we deploy NATS, apply its Service; returns the namespace's
/// UID and the Service's ClusterIP. First, because the ClusterIP goes into the pods'
/// `NATS_URL` and, with `--tls`, into the server certificate.
pub async fn apply_namespace_and_service(
    client: &Client,
    m: &Manifests,
) -> Result<(String, Option<String>)> {
    let ns_name = m.namespace.metadata.name.clone().unwrap_or_default();
    let uid = create_namespace(client, &m.namespace).await?;
    let mut cluster_ip = None;
    if let Some(s) = &m.nats_service {
        let svc = apply(&Api::<Service>::namespaced(client.clone(), &ns_name), s).await?;
        cluster_ip = svc
            .spec
            .and_then(|s| s.cluster_ip)
            .filter(|ip| !ip.is_empty() && ip != "None");
    }
    Ok((uid, cluster_ip))
}

/// Apply the NATS Secrets and ConfigMaps (the CA one also for an external NATS) and the NATS pod.
pub async fn apply_nats(client: &Client, m: &Manifests) -> Result<()> {
    let ns_name = m.namespace.metadata.name.clone().unwrap_or_default();
    for s in [&m.nats_secret, &m.nats_tls_secret].into_iter().flatten() {
        apply(&Api::<Secret>::namespaced(client.clone(), &ns_name), s).await?;
    }
    for c in [&m.nats_config, &m.nats_ca].into_iter().flatten() {
        apply(&Api::<ConfigMap>::namespaced(client.clone(), &ns_name), c).await?;
    }
    if let Some(p) = &m.nats_pod {
        apply(&Api::<Pod>::namespaced(client.clone(), &ns_name), p).await?;
    }
    Ok(())
}

/// Apply the workers and the orchestrator Job.
pub async fn apply_run(client: &Client, m: &Manifests) -> Result<()> {
    let ns_name = m.namespace.metadata.name.clone().unwrap_or_default();
    let pods = Api::<Pod>::namespaced(client.clone(), &ns_name);
    for w in &m.workers {
        apply(&pods, w).await?;
    }
    apply(
        &Api::<Job>::namespaced(client.clone(), &ns_name),
        &m.orchestrator,
    )
    .await?;
    Ok(())
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
