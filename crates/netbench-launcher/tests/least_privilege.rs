//! Least privilege, checked against a REAL kube-apiserver 1.36 (RBAC on, the default admission
//! plugins, ValidatingAdmissionPolicy among them), each mode installed the way a user installs
//! it, with kubectl from the deploy/ files themselves, and exercised as THE launcher's
//! ServiceAccount (a TokenRequest token):
//! - cluster-wide (`kubectl apply -k deploy/`: the ClusterRole of rbac.yaml confined by the
//!   ValidatingAdmissionPolicy of admission-policy.yaml);
//! - namespaced (`kubectl apply -k deploy/overlays/namespaced`: a Role in the admin's namespace
//!   and `--existing-namespace`).
//!
//! In each: it cannot create pods in kube-system, read (get, list, patch or delete) a Secret it
//! did not create, or delete (or label) a namespace it did not create; and a whole launch works
//! (every object created, pods Ready, the run's NetworkPolicies in place, everything it made
//! deleted), up to the port-forward to NATS, which needs a kubelet this test has not got.
//!
//! Needs: tests/kube/install-binaries.sh done (kube-apiserver and kubectl), etcd, openssl.

mod support;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use netbench_launcher::launch::{LaunchConfig, Report};
use netbench_launcher::{cluster, LaunchError};
use netbench_proto::Event;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{kube_bin, ControlPlane, Kubelet};
use tokio_util::sync::CancellationToken;

/// One control plane at a time (each is ~400 MB and two cores are few).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the cluster-wide policy says when it refuses (deploy/admission-policy.yaml).
const VAP_SAYS: &str = "ValidatingAdmissionPolicy 'netbench-launcher'";

#[derive(Default)]
struct Recorder {
    status: Vec<String>,
}
impl Report for Recorder {
    fn status(&mut self, line: &str) {
        eprintln!("launch: {line}");
        self.status.push(line.to_string());
    }
    fn event(&mut self, _: &Event) {}
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// `kubectl apply -k DIR` as the admin, as a user installs a mode.
fn kubectl_apply_k(cp: &ControlPlane, dir: &Path) {
    let out = std::process::Command::new(kube_bin().join("kubectl"))
        .arg(format!(
            "--kubeconfig={}",
            cp.dir.path().join("admin.kubeconfig").display()
        ))
        .args(["apply", "-k"])
        .arg(dir)
        .output()
        .expect("run kubectl (tests/kube/install-binaries.sh installs it)");
    assert!(
        out.status.success(),
        "kubectl apply -k {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client that authenticates as ServiceAccount `ns/name` (a TokenRequest token, as
/// `kubectl create token` gets one).
async fn service_account_client(cp: &ControlPlane, ns: &str, name: &str) -> Client {
    let sas: Api<ServiceAccount> = Api::namespaced(cp.admin().await, ns);
    let req: TokenRequest = serde_json::from_value(serde_json::json!({
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .unwrap();
    let token = sas
        .create_token_request(name, &PostParams::default(), &req)
        .await
        .unwrap_or_else(|e| panic!("a token for ServiceAccount {ns}/{name}: {e}"))
        .status
        .unwrap()
        .token;
    cp.client_for(&token).await
}

async fn cluster_with_nodes() -> (ControlPlane, Kubelet) {
    let cp = ControlPlane::start().await;
    for (n, ip) in [("n1", "192.0.2.1"), ("n2", "192.0.2.2")] {
        cp.add_node(n, ip, &[("node-lifecycle", "on-demand")]).await;
    }
    let kubelet = Kubelet::start(cp.admin().await);
    (cp, kubelet)
}

/// The launch's configuration, from the flags as a user gives them (plus `extra`).
fn config(out: &Path, extra: &[&str]) -> LaunchConfig {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        launch: netbench_launcher::cli::LaunchArgs,
    }
    let mut cfg = Cli::try_parse_from(
        [
            "launch",
            "--benchmark",
            "iperf3-tcp",
            "--duration",
            "1s",
            "--timeout",
            "60s",
            "--deadline",
            "120s",
            "--orch-image",
            "netbench:test",
            "--worker-image",
            "netbench-worker:test",
            // There is no kubelet to forward to: the launch gets as far as that.
            "--connect",
            "port-forward",
            "--output-file-directory",
            out.to_str().unwrap(),
        ]
        .into_iter()
        .chain(extra.iter().copied()),
    )
    .unwrap()
    .launch
    .config()
    .unwrap();
    cfg.deadline_grace = Duration::from_secs(5);
    cfg.cleanup_timeout = Duration::from_secs(120);
    cfg
}

fn pod(name: &str, labelled: bool) -> Pod {
    let labels = if labelled {
        serde_json::json!({"app.kubernetes.io/managed-by": "netbench"})
    } else {
        serde_json::json!({})
    };
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "i"}]}
    }))
    .unwrap()
}

fn secret(name: &str, labelled: bool) -> Secret {
    let labels = if labelled {
        serde_json::json!({"app.kubernetes.io/managed-by": "netbench"})
    } else {
        serde_json::json!({})
    };
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": labels},
        "stringData": {"password": "hunter2-not-for-netbench"}
    }))
    .unwrap()
}

/// The API server's 403 (not any other failure), with its message.
fn forbidden<T: std::fmt::Debug>(what: &str, r: Result<T, kube::Error>) -> String {
    match r {
        Err(kube::Error::Api(s)) if s.code == 403 => {
            assert!(
                !s.message.contains("hunter2"),
                "{what}: the refusal shows the Secret"
            );
            s.message
        }
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

/// A Secret the launcher did not create cannot be read in any way it has verbs for.
async fn cannot_read_secret(launcher: &Client, ns: &str, name: &str) -> Vec<String> {
    let api: Api<Secret> = Api::namespaced(launcher.clone(), ns);
    let mut said = vec![
        forbidden(&format!("get secret {ns}/{name}"), api.get(name).await),
        forbidden(
            &format!("list secrets in {ns}"),
            api.list(&ListParams::default()).await,
        ),
        // A patch answers with the whole object: a no-op one would read it.
        forbidden(
            &format!("no-op patch of secret {ns}/{name}"),
            api.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({})),
            )
            .await,
        ),
        forbidden(
            &format!("server-side apply of secret {ns}/{name}"),
            api.patch(
                name,
                &PatchParams::apply("netbench").force(),
                &Patch::Apply(serde_json::json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "netbench"}}
                })),
            )
            .await,
        ),
        // So does a delete.
        forbidden(
            &format!("delete secret {ns}/{name}"),
            api.delete(name, &DeleteParams::default()).await,
        ),
    ];
    said.push(forbidden(
        &format!("deletecollection of secrets in {ns}"),
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await,
    ));
    said
}

/// Until the API server enforces the policy (its informer picks new policies up within a
/// second or so): a dry-run create of a pod in kube-system as the launcher is refused by it.
async fn wait_policy_active(launcher: &Client) {
    let pods: Api<Pod> = Api::namespaced(launcher.clone(), "kube-system");
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let started = Instant::now();
    loop {
        match pods.create(&dry, &pod("probe", true)).await {
            Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains(VAP_SAYS) => return,
            r => assert!(
                started.elapsed() < Duration::from_secs(30),
                "deploy/admission-policy.yaml not enforced after 30 s (is the \
                 ValidatingAdmissionPolicy admission plugin on?): the dry-run create of a pod \
                 in kube-system {}",
                match r {
                    Ok(_) => "succeeded".to_string(),
                    Err(e) => format!("failed otherwise: {e}"),
                }
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Record the run's NetworkPolicies while the launch runs (as admin).
fn watch_policies(admin: Client, ns: Option<String>) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        loop {
            let api: Api<NetworkPolicy> = match &ns {
                Some(ns) => Api::namespaced(admin.clone(), ns),
                None => Api::all(admin.clone()),
            };
            let l = api
                .list(&ListParams::default().labels("netbench.io/run"))
                .await
                .unwrap();
            if l.items.len() >= 3 {
                let mut v: Vec<String> = l
                    .items
                    .into_iter()
                    .map(|p| p.metadata.name.unwrap())
                    .collect();
                v.sort();
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// `--nats-replicas 3`: record the NATS cluster's objects (the StatefulSet, its
/// PodDisruptionBudget, one Service per server) and its pods while the launch runs (as admin),
/// until all three servers' pods were there and Ready.
fn watch_nats_cluster(admin: Client, ns: Option<String>) -> tokio::task::JoinHandle<Vec<String>> {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    tokio::spawn(async move {
        let run = ListParams::default().labels("netbench.io/run,app.kubernetes.io/component=nats");
        let mut seen = BTreeSet::new();
        loop {
            macro_rules! names {
                ($k:ty) => {{
                    let api: Api<$k> = match &ns {
                        Some(ns) => Api::namespaced(admin.clone(), ns),
                        None => Api::all(admin.clone()),
                    };
                    api.list(&run).await.unwrap().items
                }};
            }
            for o in names!(StatefulSet) {
                seen.insert(format!("StatefulSet {}", o.metadata.name.unwrap()));
            }
            for o in names!(PodDisruptionBudget) {
                seen.insert(format!("PodDisruptionBudget {}", o.metadata.name.unwrap()));
            }
            for o in names!(Service) {
                seen.insert(format!("Service {}", o.metadata.name.unwrap()));
            }
            for p in names!(Pod) {
                let ready = p
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                if ready {
                    seen.insert(format!("Ready Pod {}", p.metadata.name.unwrap()));
                }
            }
            if seen.iter().filter(|s| s.starts_with("Ready Pod")).count() >= 3 {
                return seen.into_iter().collect();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// What [`watch_nats_cluster`] must have seen.
fn nats_cluster_objects() -> Vec<String> {
    let mut v: Vec<String> = [
        "PodDisruptionBudget nats",
        "Ready Pod nats-0",
        "Ready Pod nats-1",
        "Ready Pod nats-2",
        "Service nats",
        "Service nats-0",
        "Service nats-1",
        "Service nats-2",
        "StatefulSet nats",
    ]
    .map(String::from)
    .to_vec();
    v.sort();
    v
}

/// The launch got as far as the port-forward (every object created, every pod Ready), which
/// fails for want of a kubelet and not for want of a permission.
fn launched_up_to_the_port_forward(e: &LaunchError, rec: &Recorder) {
    let msg = e.to_string();
    assert!(
        msg.starts_with("port-forward to pod nats")
            && msg.contains(" port 4222: ")
            && !msg.contains("forbidden"),
        "{msg}"
    );
    assert!(
        rec.status
            .iter()
            .any(|s| s == "all pods ready; following the run"),
        "{:?}",
        rec.status
    );
}

/// `--paths`: record the run's worker pods and Services (as admin) while the launch runs, until
/// `pods` worker pods are Ready.
fn watch_workers(
    admin: Client,
    ns: Option<String>,
    pods: usize,
) -> tokio::task::JoinHandle<(Vec<Pod>, Vec<Service>)> {
    tokio::spawn(async move {
        let run = ListParams::default().labels("netbench.io/run");
        loop {
            let (pod_api, svc_api): (Api<Pod>, Api<Service>) = match &ns {
                Some(ns) => (
                    Api::namespaced(admin.clone(), ns),
                    Api::namespaced(admin.clone(), ns),
                ),
                None => (Api::all(admin.clone()), Api::all(admin.clone())),
            };
            let workers: Vec<Pod> = pod_api
                .list(&run.clone().labels("app.kubernetes.io/component=worker"))
                .await
                .unwrap()
                .items;
            let ready = workers
                .iter()
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            if ready >= pods {
                let services = svc_api.list(&run).await.unwrap().items;
                return (workers, services);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// What [`watch_workers`] saw of a launch `--paths pod,host,service,same-node` on n1 and n2:
/// the six worker pods, the host workers (only they) in the node's network, one Service per pod
/// worker selecting exactly it, each pod worker told its Service's ClusterIP.
/// A launch of `cfg` (every path, two nodes) as the launcher, into `ns` if given: its six
/// worker pods become Ready with their Services ([`every_path_deployed`]), and it gets as far
/// as the port-forward (no pod network here).
async fn launch_on_every_path(
    admin: &Client,
    launcher: &Client,
    cfg: LaunchConfig,
    ns: Option<&str>,
) {
    let watch = watch_workers(admin.clone(), ns.map(String::from), 6);
    let mut rec = Recorder::default();
    let e = netbench_launcher::launch(launcher.clone(), cfg, CancellationToken::new(), &mut rec)
        .await
        .unwrap_err();
    launched_up_to_the_port_forward(&e, &rec);
    let (pods, services) = tokio::time::timeout(Duration::from_secs(5), watch)
        .await
        .expect("the six worker pods were Ready")
        .unwrap();
    every_path_deployed(&pods, &services);
}

fn every_path_deployed(pods: &[Pod], services: &[Service]) {
    let name = |p: &Pod| p.metadata.name.clone().unwrap();
    let mut names: Vec<String> = pods.iter().map(name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "hostnet-n1",
            "hostnet-n2",
            "worker-n1",
            "worker-n2",
            "worker2-n1",
            "worker2-n2"
        ]
    );
    for p in pods {
        let ps = p.spec.clone().unwrap();
        let host = name(p).starts_with("hostnet-");
        assert_eq!(ps.host_network.unwrap_or(false), host, "{}", name(p));
        // No containerPorts on a host worker, so no hostPort was defaulted.
        assert!(
            !host || ps.containers[0].ports.is_none(),
            "{:?}",
            ps.containers[0].ports
        );
    }
    let workers: Vec<&Service> = services
        .iter()
        .filter(|s| {
            s.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("w-"))
        })
        .collect();
    assert_eq!(workers.len(), 2, "{services:?}");
    for svc in workers {
        let sp = svc.spec.clone().unwrap();
        let ip = sp.cluster_ip.clone().unwrap();
        let selected: Vec<&Pod> = pods
            .iter()
            .filter(|p| {
                let l = p.metadata.labels.clone().unwrap();
                sp.selector
                    .clone()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| l.get(k) == Some(v))
            })
            .collect();
        assert_eq!(
            selected.len(),
            1,
            "{:?} selects {}",
            svc.metadata.name,
            selected.len()
        );
        assert!(name(selected[0]).starts_with("worker-"));
        let env = selected[0].spec.clone().unwrap().containers[0]
            .env
            .clone()
            .unwrap();
        let got = env
            .iter()
            .find(|e| e.name == "NETBENCH_SERVICE_IP")
            .and_then(|e| e.value.clone());
        assert_eq!(got.as_deref(), Some(ip.as_str()), "{}", name(selected[0]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_wide_mode_is_confined_to_netbench_namespaces_and_objects() {
    let _serial = SERIAL.lock().await;
    let (cp, _kubelet) = cluster_with_nodes().await;
    let admin = cp.admin().await;
    kubectl_apply_k(&cp, &deploy());
    let launcher = service_account_client(&cp, "netbench", "netbench-launcher").await;
    wait_policy_active(&launcher).await;

    // Pods in kube-system: the ClusterRole allows it, the policy does not.
    let sys_pods: Api<Pod> = Api::namespaced(launcher.clone(), "kube-system");
    for labelled in [false, true] {
        let m = forbidden(
            "create a pod in kube-system",
            sys_pods
                .create(&PostParams::default(), &pod("intruder", labelled))
                .await,
        );
        assert!(
            m.contains(VAP_SAYS) && m.contains("not in kube-system"),
            "{m}"
        );
    }
    // Nor delete pods there (deletecollection is granted, for the run's namespace).
    Api::<Pod>::namespaced(admin.clone(), "kube-system")
        .create(&PostParams::default(), &pod("system-pod", false))
        .await
        .unwrap();
    let m = forbidden(
        "deletecollection of pods in kube-system",
        sys_pods
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await,
    );
    assert!(m.contains(VAP_SAYS), "{m}");
    assert!(Api::<Pod>::namespaced(admin.clone(), "kube-system")
        .get_opt("system-pod")
        .await
        .unwrap()
        .is_some_and(|p| p.metadata.deletion_timestamp.is_none()));
    // Nor port-forward to a pod there.
    let pf = sys_pods.portforward("system-pod", &[80]).await;
    let pf = format!(
        "{:?}",
        pf.err().expect("port-forward into kube-system refused")
    );
    assert!(pf.contains("403"), "{pf}");

    // Secrets it did not create: in kube-system, and in a namespace of its own (made by the
    // launcher as a run's, then an admin's unlabelled Secret put there).
    Api::<Secret>::namespaced(admin.clone(), "kube-system")
        .create(&PostParams::default(), &secret("system-secret", false))
        .await
        .unwrap();
    let said = cannot_read_secret(&launcher, "kube-system", "system-secret").await;
    assert!(
        said[2].contains(VAP_SAYS) && said[3].contains(VAP_SAYS),
        "the patches: {said:?}"
    );
    let own: Namespace = serde_json::from_value(serde_json::json!({"metadata": {
        "name": "netbench-mine",
        "labels": {"app.kubernetes.io/managed-by": "netbench", "netbench.io/run": "0123456789ab"}
    }}))
    .unwrap();
    let uid = cluster::create_namespace(&launcher, &own).await.unwrap();
    Api::<Secret>::namespaced(admin.clone(), "netbench-mine")
        .create(&PostParams::default(), &secret("admins-secret", false))
        .await
        .unwrap();
    let said = cannot_read_secret(&launcher, "netbench-mine", "admins-secret").await;
    assert!(said[2].contains("objects labelled"), "{said:?}");
    // ... while its own Secret there it may write (what a launch does).
    let mine: Api<Secret> = Api::namespaced(launcher.clone(), "netbench-mine");
    cluster::apply(&mine, &secret("nats-auth", true))
        .await
        .unwrap();
    // An unlabelled object, even in its own namespace: refused.
    let m = forbidden(
        "create an unlabelled pod in its own namespace",
        Api::<Pod>::namespaced(launcher.clone(), "netbench-mine")
            .create(&PostParams::default(), &pod("unlabelled", false))
            .await,
    );
    assert!(m.contains("objects labelled"), "{m}");

    // Nothing of the node's own for its pods, even where no Pod Security level is enforced
    // (netbench-mine has none): the second policy, not Pod Security, refuses. (Privileged
    // containers it refuses too, but this API server runs without --allow-privileged, whose
    // validation refuses them before any admission policy sees them.)
    let node_pod = |name: &str, spec: serde_json::Value| -> Pod {
        let mut spec = spec;
        spec["containers"][0]["name"] = "c".into();
        spec["containers"][0]["image"] = "i".into();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "netbench"}},
            "spec": spec
        }))
        .unwrap()
    };
    let mine_pods: Api<Pod> = Api::namespaced(launcher.clone(), "netbench-mine");
    for (p, says) in [
        (
            node_pod(
                "host-path",
                serde_json::json!({"containers": [{}], "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
            ),
            "hostPath",
        ),
        (
            node_pod(
                "host-net",
                serde_json::json!({"hostNetwork": true, "containers": [{}]}),
            ),
            "network, PID or IPC",
        ),
        (
            node_pod(
                "host-port",
                serde_json::json!({"containers": [{"ports": [{"containerPort": 80, "hostPort": 80}]}]}),
            ),
            "host ports",
        ),
    ] {
        let name = p.metadata.name.clone().unwrap();
        let m = forbidden(
            &format!("create pod {name} in its own namespace"),
            mine_pods.create(&PostParams::default(), &p).await,
        );
        // A hostNetwork pod is refused by both policies (not a host worker; no opt-in), and
        // the API server names one: either says so.
        assert!(
            (m.contains("ValidatingAdmissionPolicy 'netbench-launcher-pods'") && m.contains(says))
                || (name == "host-net"
                    && m.contains("ValidatingAdmissionPolicy 'netbench-launcher-host-network'")),
            "{m}"
        );
    }
    let job: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "host-job", "labels": {"app.kubernetes.io/managed-by": "netbench"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "hostPID": true,
                 "containers": [{"name": "c", "image": "i"}]}}}
    }))
    .unwrap();
    let m = forbidden(
        "create a Job with a host-PID pod in its own namespace",
        Api::<Job>::namespaced(launcher.clone(), "netbench-mine")
            .create(&PostParams::default(), &job)
            .await,
    );
    assert!(m.contains("network, PID or IPC"), "{m}");
    // A plain pod there it may create (what a launch does).
    mine_pods
        .create(
            &PostParams::default(),
            &node_pod("plain", serde_json::json!({"containers": [{}]})),
        )
        .await
        .unwrap();

    // Namespaces it did not create: not deleted, not labelled into its reach.
    let nss: Api<Namespace> = Api::all(launcher.clone());
    let admin_nss: Api<Namespace> = Api::all(admin.clone());
    for (name, labels) in [
        ("someone-else", serde_json::json!({})),
        // Labelled as netbench's but not a run's (no netbench.io/run).
        (
            "looks-like-netbench",
            serde_json::json!({"app.kubernetes.io/managed-by": "netbench"}),
        ),
    ] {
        let ns: Namespace = serde_json::from_value(
            serde_json::json!({"metadata": {"name": name, "labels": labels}}),
        )
        .unwrap();
        admin_nss.create(&PostParams::default(), &ns).await.unwrap();
    }
    for name in [
        "kube-system",
        "default",
        "someone-else",
        "looks-like-netbench",
    ] {
        let m = forbidden(
            &format!("delete namespace {name}"),
            nss.delete(name, &DeleteParams::default()).await,
        );
        // kube-system and default the API server never deletes (NamespaceLifecycle says so
        // first); any other the policy refuses.
        assert!(
            m.contains(VAP_SAYS) || m.contains("this namespace may not be deleted"),
            "{m}"
        );
        if !["kube-system", "default"].contains(&name) {
            assert!(m.contains(VAP_SAYS), "{m}");
        }
        forbidden(
            &format!("label namespace {name} as a run's"),
            nss.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"metadata": {"labels": {
                    "app.kubernetes.io/managed-by": "netbench", "netbench.io/run": "0123456789ab"}}})),
            )
            .await,
        );
        let ns = admin_nss.get(name).await.unwrap();
        assert!(ns.metadata.deletion_timestamp.is_none(), "{name} is going");
        assert!(
            !ns.metadata
                .labels
                .unwrap_or_default()
                .contains_key("netbench.io/run"),
            "{name} was labelled"
        );
    }
    // Nor create a namespace that is not a run's.
    let m = forbidden(
        "create an unlabelled namespace",
        nss.create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "not-a-run"}}))
                .unwrap(),
        )
        .await,
    );
    assert!(m.contains(VAP_SAYS), "{m}");
    // Its own it deletes (what every launch's cleanup does).
    cluster::delete_namespace_of(
        &launcher,
        "netbench-mine",
        Some(&uid),
        Duration::from_secs(60),
        |_| {},
    )
    .await
    .unwrap();

    // A whole launch under the policy.
    let out = tempfile::tempdir().unwrap();
    let policies = watch_policies(admin.clone(), None);
    let mut rec = Recorder::default();
    let e = netbench_launcher::launch(
        launcher.clone(),
        config(out.path(), &[]),
        CancellationToken::new(),
        &mut rec,
    )
    .await
    .unwrap_err();
    launched_up_to_the_port_forward(&e, &rec);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), policies)
            .await
            .expect("the run's NetworkPolicies were created")
            .unwrap(),
        ["netbench-default-deny", "netbench-nats", "netbench-workers"]
    );
    let left = admin_nss
        .list(&ListParams::default().labels("netbench.io/run"))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "left behind: {:?}", left.items);

    // A NATS StatefulSet whose pods would use the node's own: refused like such a pod.
    let mine2: Namespace = serde_json::from_value(serde_json::json!({"metadata": {
        "name": "netbench-mine2",
        "labels": {"app.kubernetes.io/managed-by": "netbench", "netbench.io/run": "0123456789ac"}
    }}))
    .unwrap();
    let uid2 = cluster::create_namespace(&launcher, &mine2).await.unwrap();
    let labels = serde_json::json!({"app.kubernetes.io/managed-by": "netbench", "app": "x"});
    let sts: k8s_openapi::api::apps::v1::StatefulSet = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "nats", "labels": labels},
        "spec": {"selector": {"matchLabels": labels}, "serviceName": "nats",
                 "template": {"metadata": {"labels": labels},
                              "spec": {"hostNetwork": true, "containers": [{"name": "c", "image": "i"}]}}}
    }))
    .unwrap();
    let m = forbidden(
        "create a StatefulSet with host-network pods in its own namespace",
        Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(
            launcher.clone(),
            "netbench-mine2",
        )
        .create(&PostParams::default(), &sts)
        .await,
    );
    assert!(
        m.contains("ValidatingAdmissionPolicy 'netbench-launcher-pods'")
            && m.contains("network, PID or IPC"),
        "{m}"
    );
    // Nor a StatefulSet in kube-system (one the pods policy has nothing against: with two
    // policies refusing, the API server names only one, not always the same).
    let mut plain_sts = sts.clone();
    if let Some(ps) = plain_sts
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
    {
        ps.host_network = None;
    }
    let m = forbidden(
        "create a StatefulSet in kube-system",
        Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(launcher.clone(), "kube-system")
            .create(&PostParams::default(), &plain_sts)
            .await,
    );
    assert!(m.contains(VAP_SAYS), "{m}");
    cluster::delete_namespace_of(
        &launcher,
        "netbench-mine2",
        Some(&uid2),
        Duration::from_secs(60),
        |_| {},
    )
    .await
    .unwrap();

    // --nats-replicas 3 under the policy: the StatefulSet, its PodDisruptionBudget and the
    // servers' Services are created, the three pods Ready, everything deleted.
    let nats = watch_nats_cluster(admin.clone(), None);
    let mut rec = Recorder::default();
    let e = netbench_launcher::launch(
        launcher.clone(),
        config(out.path(), &["--nats-replicas", "3"]),
        CancellationToken::new(),
        &mut rec,
    )
    .await
    .unwrap_err();
    launched_up_to_the_port_forward(&e, &rec);
    assert!(
        rec.status
            .iter()
            .any(|s| s.contains("waiting for all 3 NATS servers (nats-0, nats-1, nats-2)")),
        "{:?}",
        rec.status
    );
    assert!(
        rec.status.iter().any(|s| s.contains("(NATS 3/3)")),
        "{:?}",
        rec.status
    );
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), nats)
            .await
            .expect("the NATS cluster's objects were created")
            .unwrap(),
        nats_cluster_objects()
    );
    let left = admin_nss
        .list(&ListParams::default().labels("netbench.io/run"))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "left behind: {:?}", left.items);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn namespaced_mode_touches_only_its_own_objects_in_the_admins_namespace() {
    let _serial = SERIAL.lock().await;
    let (cp, _kubelet) = cluster_with_nodes().await;
    let admin = cp.admin().await;
    kubectl_apply_k(&cp, &deploy().join("overlays/namespaced"));
    let launcher = service_account_client(&cp, "netbench-run", "netbench-launcher").await;
    const NS: &str = "netbench-run";

    // Pods in kube-system (or anywhere but its namespace): no.
    for ns in ["kube-system", "default"] {
        forbidden(
            &format!("create a pod in {ns}"),
            Api::<Pod>::namespaced(launcher.clone(), ns)
                .create(&PostParams::default(), &pod("intruder", true))
                .await,
        );
    }
    // Secrets it did not create, in its namespace and elsewhere.
    for ns in [NS, "kube-system"] {
        Api::<Secret>::namespaced(admin.clone(), ns)
            .create(&PostParams::default(), &secret("admins-secret", false))
            .await
            .unwrap();
        cannot_read_secret(&launcher, ns, "admins-secret").await;
    }
    // Namespaces: none created, labelled or deleted, its own included.
    let nss: Api<Namespace> = Api::all(launcher.clone());
    for name in [NS, "kube-system", "default"] {
        forbidden(
            &format!("delete namespace {name}"),
            nss.delete(name, &DeleteParams::default()).await,
        );
        forbidden(
            &format!("label namespace {name}"),
            nss.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"metadata": {"labels": {"x": "y"}}})),
            )
            .await,
        );
    }
    forbidden(
        "create a namespace",
        nss.create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "netbench-new"}}))
                .unwrap(),
        )
        .await,
    );
    // A namespace it has no Role in: said so, with what to do.
    let e = cluster::check_existing_namespace(&launcher, "default", "0123456789ab")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read namespace default") && e.contains("deploy/overlays/namespaced"),
        "{e}"
    );

    // A whole launch with --existing-namespace.
    let out = tempfile::tempdir().unwrap();
    // --clients: the plan's node list goes into a ConfigMap of its own (netbench-plan), which
    // the Role must let it delete too.
    let mut cfg = config(out.path(), &["--clients", "node-lifecycle=on-demand"]);
    cfg.namespace = Some(NS.into());
    cfg.existing_namespace = true;
    let policies = watch_policies(admin.clone(), Some(NS.into()));
    let plan_seen = {
        let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), NS);
        tokio::spawn(async move {
            while cms.get_opt("netbench-plan").await.unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut rec = Recorder::default();
    let e = netbench_launcher::launch(
        launcher.clone(),
        cfg.clone(),
        CancellationToken::new(),
        &mut rec,
    )
    .await
    .unwrap_err();
    launched_up_to_the_port_forward(&e, &rec);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), policies)
            .await
            .expect("the run's NetworkPolicies were created")
            .unwrap(),
        ["netbench-default-deny", "netbench-nats", "netbench-workers"]
    );
    tokio::time::timeout(Duration::from_secs(5), plan_seen)
        .await
        .expect("the netbench-plan ConfigMap was created")
        .unwrap();
    assert!(
        rec.status
            .iter()
            .any(|s| s.contains("objects of run") && s.contains("(the namespace stays)")),
        "{:?}",
        rec.status
    );
    // Everything of the run is gone; the namespace and the admin's Secret are not.
    let labelled = ListParams::default().labels("netbench.io/run");
    let mut left = BTreeSet::new();
    macro_rules! left_of {
        ($k:ty) => {
            for o in Api::<$k>::namespaced(admin.clone(), NS)
                .list(&labelled)
                .await
                .unwrap()
                .items
            {
                left.insert(format!(
                    "{} {}",
                    stringify!($k),
                    o.metadata.name.unwrap_or_default()
                ));
            }
        };
    }
    left_of!(Pod);
    left_of!(Service);
    left_of!(Secret);
    left_of!(ConfigMap);
    left_of!(NetworkPolicy);
    left_of!(Job);
    assert!(left.is_empty(), "left behind: {left:?}");
    // --nats-replicas 3 there: the StatefulSet, PodDisruptionBudget and the servers' Services
    // made with plain creates, the pods Ready, and every one of them deleted afterwards.
    let nats = watch_nats_cluster(admin.clone(), Some(NS.into()));
    let mut cfg3 = config(out.path(), &["--nats-replicas", "3"]);
    cfg3.namespace = Some(NS.into());
    cfg3.existing_namespace = true;
    let mut rec = Recorder::default();
    let e = netbench_launcher::launch(launcher.clone(), cfg3, CancellationToken::new(), &mut rec)
        .await
        .unwrap_err();
    launched_up_to_the_port_forward(&e, &rec);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), nats)
            .await
            .expect("the NATS cluster's objects were created")
            .unwrap(),
        nats_cluster_objects()
    );
    left_of!(Pod);
    left_of!(Service);
    left_of!(Secret);
    left_of!(ConfigMap);
    left_of!(k8s_openapi::api::apps::v1::StatefulSet);
    left_of!(k8s_openapi::api::policy::v1::PodDisruptionBudget);
    assert!(
        left.is_empty(),
        "left behind with --nats-replicas 3: {left:?}"
    );

    let ns = Api::<Namespace>::all(admin.clone()).get(NS).await.unwrap();
    assert!(ns.metadata.deletion_timestamp.is_none());
    assert!(Api::<Secret>::namespaced(admin.clone(), NS)
        .get_opt("admins-secret")
        .await
        .unwrap()
        .is_some());

    // --paths host where the admin's namespace enforces restricted: exit 2 before anything is
    // created there, naming the label and how to allow it.
    let mut host_cfg = config(out.path(), &["--paths", "pod,host"]);
    host_cfg.namespace = Some(NS.into());
    host_cfg.existing_namespace = true;
    let mut rec = Recorder::default();
    let e = netbench_launcher::launch(
        launcher.clone(),
        host_cfg,
        CancellationToken::new(),
        &mut rec,
    )
    .await
    .unwrap_err();
    assert_eq!(netbench_launcher::cli::exit_code_of(&e), 2, "{e}");
    let msg = e.to_string();
    for want in [
        "namespace netbench-run does not admit the host workers",
        "pod-security.kubernetes.io/enforce=restricted",
        "kubectl label namespace netbench-run pod-security.kubernetes.io/enforce=privileged --overwrite",
        "or leave host out of --paths",
        "Nothing was created",
        "PodSecurity",
    ] {
        assert!(msg.contains(want), "{want:?} not in: {msg}");
    }
    assert!(
        rec.status
            .iter()
            .any(|s| s.contains("nothing created in namespace netbench-run")),
        "{:?}",
        rec.status
    );
    left_of!(Pod);
    left_of!(Service);
    left_of!(Secret);
    left_of!(ConfigMap);
    left_of!(NetworkPolicy);
    left_of!(Job);
    assert!(left.is_empty(), "made before the refusal: {left:?}");
    // The admin allows it (the label the message names): a whole launch on every path there,
    // the host workers and the workers' Services made with plain creates, all deleted after.
    let psa = |level: &str| {
        let nss: Api<Namespace> = Api::all(admin.clone());
        let level = level.to_string();
        async move {
            nss.patch(
                NS,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"metadata": {"labels": {
                    "pod-security.kubernetes.io/enforce": level}}})),
            )
            .await
            .unwrap();
        }
    };
    psa("privileged").await;
    let mut all_cfg = config(out.path(), &["--paths", "pod,host,service,same-node"]);
    all_cfg.namespace = Some(NS.into());
    all_cfg.existing_namespace = true;
    launch_on_every_path(&admin, &launcher, all_cfg, Some(NS)).await;
    left_of!(Pod);
    left_of!(Service);
    left_of!(Secret);
    left_of!(ConfigMap);
    assert!(left.is_empty(), "left behind with every path: {left:?}");
    psa("restricted").await;

    // Another run's pod there: this launch refuses the namespace before creating anything.
    let other: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "worker-n1", "labels": {
            "app.kubernetes.io/managed-by": "netbench", "netbench.io/run": "aaaaaaaaaaaa"}},
        // Pod Security restricted, as the admin's namespace enforces.
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": "i", "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
        }
    }))
    .unwrap();
    Api::<Pod>::namespaced(admin.clone(), NS)
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    let mut rec = Recorder::default();
    let e = netbench_launcher::launch(launcher.clone(), cfg, CancellationToken::new(), &mut rec)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("another netbench run is there (worker-n1 (run aaaaaaaaaaaa))"),
        "{e}"
    );
    assert!(Api::<Pod>::namespaced(admin.clone(), NS)
        .get_opt("worker-n1")
        .await
        .unwrap()
        .is_some());
}

/// `--paths host`, cluster-wide: deploy/admission-policy.yaml ships hostNetwork forbidden for the
/// launcher, so a host launch stops (exit 2, the fix in the message) and its namespace is
/// deleted again; the launcher cannot opt itself in; once the admin has, the host workers are
/// admitted, and still nothing else of the node's: no host port, privileged container, host
/// PID, hostPath, nor the host network for any other pod. Then a whole launch on every path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_host_path_needs_the_admins_opt_in_and_gets_nothing_else_of_the_node() {
    let _serial = SERIAL.lock().await;
    // As most clusters run: privileged pods pass validation and reach the admission policy.
    let cp = ControlPlane::start_with_args("10.96.0.0/16", &["--allow-privileged=true"]).await;
    for (n, ip) in [("n1", "192.0.2.1"), ("n2", "192.0.2.2")] {
        cp.add_node(n, ip, &[("node-lifecycle", "on-demand")]).await;
    }
    let _kubelet = Kubelet::start(cp.admin().await);
    let admin = cp.admin().await;
    kubectl_apply_k(&cp, &deploy());
    let launcher = service_account_client(&cp, "netbench", "netbench-launcher").await;
    wait_policy_active(&launcher).await;
    let out = tempfile::tempdir().unwrap();
    let admin_nss: Api<Namespace> = Api::all(admin.clone());
    let run_namespaces = || async {
        admin_nss
            .list(&ListParams::default().labels("netbench.io/run"))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|n| n.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };

    // 1. As shipped: refused with the fix, exit 2, the namespace deleted again.
    let mut rec = Recorder::default();
    let e = netbench_launcher::launch(
        launcher.clone(),
        config(out.path(), &["--paths", "pod,host"]),
        CancellationToken::new(),
        &mut rec,
    )
    .await
    .unwrap_err();
    assert_eq!(netbench_launcher::cli::exit_code_of(&e), 2, "{e}");
    let msg = e.to_string();
    eprintln!("refused as shipped: {msg}");
    for want in [
        "does not admit the host workers",
        "ValidatingAdmissionPolicy 'netbench-launcher-host-network'",
        "kubectl -n netbench patch configmap netbench-admission --type merge -p '{\"data\":{\"hostNetwork\":\"allowed\"}}'",
        "or leave host out of --paths",
        "The namespace is deleted again",
    ] {
        assert!(msg.contains(want), "{want:?} not in: {msg}");
    }
    let said = |rec: &Recorder, what: &str| rec.status.iter().any(|s| s.contains(what));
    assert!(
        said(&rec, "enforces Pod Security privileged (pod-security.kubernetes.io/enforce=privileged; audit and warn stay restricted)"),
        "{:?}",
        rec.status
    );
    assert!(said(&rec, " deleted"), "{:?}", rec.status);
    assert!(run_namespaces().await.is_empty(), "left behind");

    // 2. The launcher cannot opt in itself: namespace netbench is not one of its own.
    let cms: Api<ConfigMap> = Api::namespaced(launcher.clone(), "netbench");
    let m = forbidden(
        "patch the opt-in",
        cms.patch(
            "netbench-admission",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"hostNetwork": "allowed"}})),
        )
        .await,
    );
    assert!(m.contains(VAP_SAYS), "{m}");
    let own_cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "netbench-admission-2",
                     "labels": {"app.kubernetes.io/managed-by": "netbench"}},
        "data": {"hostNetwork": "allowed"}
    }))
    .unwrap();
    let m = forbidden(
        "create a ConfigMap in netbench",
        cms.create(&PostParams::default(), &own_cm).await,
    );
    assert!(m.contains(VAP_SAYS), "{m}");

    // 3. The admin opts in.
    Api::<ConfigMap>::namespaced(admin.clone(), "netbench")
        .patch(
            "netbench-admission",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"hostNetwork": "allowed"}})),
        )
        .await
        .unwrap();
    // In a run namespace of the launcher's own, privileged as a host launch makes it (so only
    // the admission policies stand between these pods and the node).
    let own: Namespace = serde_json::from_value(serde_json::json!({"metadata": {
        "name": "netbench-hostcheck",
        "labels": {"app.kubernetes.io/managed-by": "netbench", "netbench.io/run": "0123456789ab",
                   "pod-security.kubernetes.io/enforce": "privileged"}
    }}))
    .unwrap();
    let uid = cluster::create_namespace(&launcher, &own).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(launcher.clone(), "netbench-hostcheck");
    let pod = |name: &str, placement: &str, spec: serde_json::Value| -> Pod {
        let mut spec = spec;
        spec["containers"][0]["name"] = "c".into();
        spec["containers"][0]["image"] = "i".into();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {
                "app.kubernetes.io/managed-by": "netbench",
                "app.kubernetes.io/component": "worker",
                "netbench.io/placement": placement}},
            "spec": spec
        }))
        .unwrap()
    };
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let host_worker = pod(
        "hostnet-n1",
        "host",
        serde_json::json!({"hostNetwork": true, "containers": [{}]}),
    );
    // The policy's parameter informer picks the change up within a moment.
    let started = Instant::now();
    while let Err(e) = pods.create(&dry, &host_worker).await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a host worker still refused 30 s after the opt-in: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (p, says) in [
        (
            pod(
                "not-a-host-worker",
                "pod",
                serde_json::json!({"hostNetwork": true, "containers": [{}]}),
            ),
            "network, PID or IPC",
        ),
        (
            // hostNetwork defaults the hostPort of a containerPort to it.
            pod(
                "host-port",
                "host",
                serde_json::json!({"hostNetwork": true, "containers": [{"ports": [{"containerPort": 5201}]}]}),
            ),
            "host ports",
        ),
        (
            pod(
                "privileged",
                "host",
                serde_json::json!({"hostNetwork": true, "containers": [{"securityContext": {"privileged": true}}]}),
            ),
            "privileged",
        ),
        (
            pod(
                "host-pid",
                "host",
                serde_json::json!({"hostNetwork": true, "hostPID": true, "containers": [{}]}),
            ),
            "network, PID or IPC",
        ),
        (
            pod(
                "host-path",
                "host",
                serde_json::json!({"hostNetwork": true, "containers": [{}],
                                   "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
            ),
            "hostPath",
        ),
    ] {
        let name = p.metadata.name.clone().unwrap();
        let m = forbidden(
            &format!("create pod {name} after the opt-in"),
            pods.create(&PostParams::default(), &p).await,
        );
        assert!(
            m.contains("ValidatingAdmissionPolicy 'netbench-launcher-pods'") && m.contains(says),
            "{name}: {m}"
        );
    }
    // Nor a Job whose pods would be host workers: the exception is for Pods.
    let job: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "host-job", "labels": {"app.kubernetes.io/managed-by": "netbench"}},
        "spec": {"template": {
            "metadata": {"labels": {"app.kubernetes.io/component": "worker", "netbench.io/placement": "host"}},
            "spec": {"restartPolicy": "Never", "hostNetwork": true,
                     "containers": [{"name": "c", "image": "i"}]}}}
    }))
    .unwrap();
    let m = forbidden(
        "create a Job of host workers",
        Api::<Job>::namespaced(launcher.clone(), "netbench-hostcheck")
            .create(&PostParams::default(), &job)
            .await,
    );
    assert!(m.contains("network, PID or IPC"), "{m}");
    // The host worker itself, for real.
    pods.create(&PostParams::default(), &host_worker)
        .await
        .unwrap();
    cluster::delete_namespace_of(
        &launcher,
        "netbench-hostcheck",
        Some(&uid),
        Duration::from_secs(60),
        |_| {},
    )
    .await
    .unwrap();

    // 4. A whole launch on every path under the policies.
    let cfg = config(out.path(), &["--paths", "pod,host,service,same-node"]);
    launch_on_every_path(&admin, &launcher, cfg, None).await;
    assert!(run_namespaces().await.is_empty(), "left behind");
}

/// deploy/overlays/namespaced/job.yaml is deploy/job.yaml with the admin's namespace and
/// `--existing-namespace`, nothing else.
#[test]
fn namespaced_job_is_the_deploy_job_in_the_admins_namespace() {
    let read = |p: PathBuf| -> serde_json::Value {
        serde_norway::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
    };
    let mut base = read(deploy().join("job.yaml"));
    let ns = read(deploy().join("overlays/namespaced/job.yaml"));
    base["metadata"]["namespace"] = "netbench-run".into();
    base["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array_mut()
        .unwrap()
        .push("--existing-namespace=netbench-run".into());
    assert_eq!(base, ns);
}

/// Images pinned by digest (`name@sha256:…`, see deploy/IMAGES.md) reach the pods exactly as
/// given: a moving tag cannot change a run.
#[test]
fn image_flags_take_digest_references_unchanged() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        launch: netbench_launcher::cli::LaunchArgs,
    }
    let d = "sha256:9b2f1a6bb7e8f6a35e1c1f0bd2a8c9a3d8e5c3b5a0f9e7d6c5b4a39281706f5e";
    let nats = format!("nats:2.10.22-alpine@{d}");
    let worker = format!("registry.example/netbench-worker@{d}");
    let orch = format!("registry.example/netbench:0.1@{d}");
    let cli = Cli::try_parse_from([
        "launch",
        "--benchmark",
        "iperf3-tcp",
        "--dry-run",
        "--nats-image",
        &nats,
        "--worker-image",
        &worker,
        "--orch-image",
        &orch,
    ])
    .unwrap();
    let yaml = cli.launch.dry_run_yaml().unwrap();
    let images: BTreeSet<String> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .map(str::to_string)
        .collect();
    assert_eq!(images, BTreeSet::from([nats, worker, orch]));
}

/// The Role of deploy/overlays/namespaced may delete every Secret, ConfigMap and Service a
/// launch can create (Secrets and ConfigMaps by name): with `--tls`, with a plan file, with
/// `--nats-url` and a login (the `netbench-nats-login` Secret), and with `--paths service` (a
/// Service per worker, named after it). A name missing there would be left behind in the
/// admin's namespace at every cleanup.
#[test]
fn the_namespaced_role_may_delete_every_secret_and_config_map_a_launch_creates() {
    use clap::Parser;
    use serde::Deserialize;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        launch: netbench_launcher::cli::LaunchArgs,
    }
    let docs = |yaml: &str| -> Vec<serde_json::Value> {
        serde_norway::Deserializer::from_str(yaml)
            .map(|d| serde_json::Value::deserialize(d).unwrap())
            .filter(|d| !d.is_null())
            .collect()
    };
    let role_yaml =
        std::fs::read_to_string(deploy().join("overlays/namespaced/role.yaml")).unwrap();
    let role = docs(&role_yaml)
        .into_iter()
        .find(|d| d["kind"] == "Role")
        .unwrap();
    // The names of `resource` the Role lets it delete; None: any name.
    let deletable = |resource: &str| -> Option<BTreeSet<String>> {
        let rules: Vec<&serde_json::Value> = role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == resource)
                    && r["verbs"].as_array().unwrap().iter().any(|v| v == "delete")
            })
            .collect();
        if rules.iter().any(|r| r["resourceNames"].is_null()) {
            return None;
        }
        Some(
            rules
                .iter()
                .flat_map(|r| r["resourceNames"].as_array().cloned().unwrap_or_default())
                .map(|n| n.as_str().unwrap().to_string())
                .collect(),
        )
    };
    let mut made: BTreeSet<(String, String)> = BTreeSet::new();
    for extra in [
        &["--tls"][..],
        &["--clients", "zone=a"],
        &[
            "--nats-url",
            "nats://nats.example:4222",
            "--nats-token",
            "t0k",
        ],
        // One Service per worker pod, named after the worker.
        &["--paths", "pod,service", "--nats-replicas", "3"],
    ] {
        let cli = Cli::try_parse_from(
            ["launch", "--benchmark", "iperf3-tcp", "--dry-run"]
                .iter()
                .chain(extra),
        )
        .unwrap();
        for d in docs(&cli.launch.dry_run_yaml().unwrap()) {
            let kind = d["kind"].as_str().unwrap().to_string();
            if kind == "Secret" || kind == "ConfigMap" || kind == "Service" {
                made.insert((kind, d["metadata"]["name"].as_str().unwrap().to_string()));
            }
        }
    }
    assert!(made.contains(&("Secret".into(), "netbench-nats-login".into())));
    assert!(made
        .iter()
        .any(|(k, n)| k == "Service" && n.starts_with("w-")));
    for (kind, name) in &made {
        let resource = format!("{}s", kind.to_lowercase());
        assert!(
            deletable(&resource).is_none_or(|names| names.contains(name)),
            "deploy/overlays/namespaced/role.yaml does not let the launcher delete {kind} {name}"
        );
    }
    // Secrets and ConfigMaps only by their names: a delete returns the object.
    assert!(deletable("secrets").is_some() && deletable("configmaps").is_some());
}
