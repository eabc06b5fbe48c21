//! `netbench launch` against a REAL kube-apiserver 1.20 (RBAC on, real scheduler, controller
//! manager), authenticated as the ServiceAccount bound to THE ClusterRole in deploy/. The only
//! stand-in is the kubelet (tests/support): it marks scheduled pods Running/Ready, and
//! [`run_pods_as_processes`] runs what the worker pods and the orchestrator Job describe with the
//! real `netbench` binary (real workers running real iperf3 on loopback, real nats-server).
//!
//! Needs: tests/kube/build-apiserver.sh done, etcd (etcd-server), nats-server, iperf3, openssl.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use netbench_launcher::follow::Ending;
use netbench_launcher::launch::{Connect, LaunchConfig, Report};
use netbench_launcher::{LaunchError, LaunchOutcome};
use netbench_proto::{Event, EventKind};

use std::time::Duration;
use support::{ControlPlane, Kubelet};
use tokio_util::sync::CancellationToken;

/// One control plane at a time (each is ~400 MB and two cores are few).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Default)]
struct Recorder {
    status: Vec<String>,
    events: Vec<Event>,
}
impl Report for Recorder {
    fn status(&mut self, line: &str) {
        eprintln!("launch: {line}");
        self.status.push(line.to_string());
    }
    fn event(&mut self, e: &Event) {
        self.events.push(e.clone());
    }
}

fn config(nats_url: Option<String>, out: &std::path::Path) -> LaunchConfig {
    LaunchConfig {
        bench: netbench_bench::find("iperf3-tcp").unwrap(),
        run: None,
        namespace: None,
        node_labels: "node-lifecycle=on-demand".into(),
        orch_image: "netbench:test".into(),
        worker_image: "netbench-worker:test".into(),
        nats_image: "nats:2.10.22-alpine".into(),
        inject: false,
        duration_seconds: 1,
        pushgateway: None,
        timeout: Duration::from_secs(60),
        deadline: Duration::from_secs(120),
        deadline_grace: Duration::from_secs(5),
        cleanup_timeout: Duration::from_secs(120),
        output_dir: out.to_path_buf(),
        keep: false,
        nats_url,
        tls: false,
        nats_ca: None,
        connect: Connect::Auto,
    }
}

async fn cluster_with_nodes() -> (ControlPlane, Kubelet) {
    let cp = ControlPlane::start().await;
    let on_demand = ("node-lifecycle", "on-demand");
    cp.add_node(
        "n1",
        "192.0.2.1",
        &[on_demand, ("topology.kubernetes.io/zone", "zone-a")],
    )
    .await;
    cp.add_node(
        "n2",
        "192.0.2.2",
        &[on_demand, ("topology.kubernetes.io/zone", "zone-b")],
    )
    .await;
    cp.add_node("n3", "192.0.2.3", &[("node-lifecycle", "spot")])
        .await;
    let kubelet = Kubelet::start(cp.admin().await);
    (cp, kubelet)
}

/// The run's namespace, once the launcher has created it.
async fn run_namespace(admin: &Client) -> String {
    let nss: Api<Namespace> = Api::all(admin.clone());
    loop {
        let l = nss
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=netbench"))
            .await
            .unwrap();
        if let Some(n) = l
            .items
            .into_iter()
            .find(|n| n.metadata.deletion_timestamp.is_none())
        {
            return n.metadata.name.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn env_value(p: &Pod, name: &str) -> Option<String> {
    p.spec.as_ref()?.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)?
        .value
        .clone()
}

/// The netbench binary the "containers" run (`cargo build -p netbench` first).
fn netbench_bin() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("NETBENCH_BIN") {
        return p.into();
    }
    // target/<profile>/deps/kube_api-… -> target/<profile>/netbench
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("netbench");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p netbench` first (or set NETBENCH_BIN)",
        bin.display()
    );
    bin
}

/// Child processes killed and reaped on drop.
struct Containers(Vec<std::process::Child>);
impl Drop for Containers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn literal_env(p: &Pod) -> Vec<(String, String)> {
    p.spec.as_ref().unwrap().containers[0]
        .env
        .iter()
        .flatten()
        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
        .collect()
}

/// Play the containers: once the worker pods are Running and the Job exists, run the real
/// `netbench` binary for each worker pod and for the orchestrator, with the args and the env
/// the objects give (downward-API values filled in as a kubelet would; the IP is loopback).
async fn run_pods_as_processes(admin: Client, ns: String) -> Containers {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(admin.clone(), &ns);
    let (workers, job) = loop {
        let ws: Vec<Pod> = pods
            .list(&ListParams::default().labels("app.kubernetes.io/component=worker"))
            .await
            .unwrap()
            .items;
        let running = ws.len() >= 2
            && ws
                .iter()
                .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
        if let (true, Some(j)) = (running, jobs.get_opt("orchestrator").await.unwrap()) {
            break (ws, j);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let bin = netbench_bin();
    let mut procs = Containers(Vec::new());
    for p in &workers {
        let c = &p.spec.as_ref().unwrap().containers[0];
        let child = std::process::Command::new(&bin)
            .args(c.args.clone().unwrap())
            .envs(literal_env(p))
            .env("NETBENCH_WORKER_NAME", p.metadata.name.clone().unwrap())
            // Loopback: pairs run one at a time, so the pinned ports never clash.
            .env("NETBENCH_WORKER_IP", "127.0.0.1")
            .env(
                "NETBENCH_NODE_NAME",
                p.spec.as_ref().unwrap().node_name.clone().unwrap(),
            )
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        procs.0.push(child);
    }
    let tmpl = job.spec.unwrap().template;
    let c = &tmpl.spec.as_ref().unwrap().containers[0];
    let env: Vec<(String, String)> = c
        .env
        .iter()
        .flatten()
        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
        .collect();
    let child = std::process::Command::new(&bin)
        .args(c.args.clone().unwrap())
        .envs(env)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    procs.0.push(child);
    procs
}

async fn assert_namespace_gone(admin: &Client, ns: &str) {
    let got = Api::<Namespace>::all(admin.clone())
        .get_opt(ns)
        .await
        .unwrap();
    assert!(got.is_none(), "namespace {ns} still exists: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn launch_deploys_pinned_workers_follows_a_real_run_collects_and_cleans_up() {
    let _serial = SERIAL.lock().await;
    let (cp, _kubelet) = cluster_with_nodes().await;
    let admin = cp.admin().await;
    let launcher = cp.launcher_client().await;
    let nats = netbench_local::nats_server::NatsServer::start(
        &netbench_local::nats_server::locate(None).unwrap(),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let cfg = config(Some(nats.url.clone()), out.path());

    let checker = {
        let admin = admin.clone();
        tokio::spawn(async move {
            let ns = run_namespace(&admin).await;
            let containers = run_pods_as_processes(admin.clone(), ns.clone()).await;
            // While the run goes on: what the real API server holds.
            let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
            let mut placed = Vec::new();
            loop {
                let ws = pods
                    .list(&ListParams::default().labels("app.kubernetes.io/component=worker"))
                    .await
                    .unwrap()
                    .items;
                if ws.len() == 2
                    && ws
                        .iter()
                        .all(|p| p.spec.as_ref().unwrap().node_name.is_some())
                {
                    for p in ws {
                        let name = p.metadata.name.clone().unwrap();
                        let node = p.spec.clone().unwrap().node_name.unwrap();
                        let labels = p.metadata.labels.clone().unwrap();
                        assert_eq!(labels["app.kubernetes.io/managed-by"], "netbench");
                        let ports: Vec<i32> = p.spec.as_ref().unwrap().containers[0]
                            .ports
                            .clone()
                            .unwrap()
                            .iter()
                            .map(|p| p.container_port)
                            .collect();
                        assert_eq!(ports, [5201]);
                        placed.push((name, node, env_value(&p, "NETBENCH_ZONE").unwrap()));
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            placed.sort();
            let nsobj = Api::<Namespace>::all(admin.clone()).get(&ns).await.unwrap();
            (ns, placed, nsobj, containers)
        })
    };
    let mut rec = Recorder::default();
    let outcome: LaunchOutcome =
        netbench_launcher::launch(launcher.clone(), cfg, CancellationToken::new(), &mut rec)
            .await
            .expect("launch succeeds");
    let (ns, placed, nsobj, containers) = checker.await.unwrap();
    drop(containers);

    // The real scheduler put each worker on its own node (affinity), zones from node labels.
    assert_eq!(
        placed,
        [
            (
                "worker-n1".to_string(),
                "n1".to_string(),
                "zone-a".to_string()
            ),
            (
                "worker-n2".to_string(),
                "n2".to_string(),
                "zone-b".to_string()
            ),
        ]
    );
    let l = nsobj.metadata.labels.unwrap();
    assert_eq!(l["netbench.io/run"], outcome.run.to_string());
    assert!(!l.contains_key("istio-injection"));

    assert_eq!(
        outcome.ending,
        Ending::Finished {
            pairs_total: 2,
            pairs_failed: 0
        }
    );
    assert!(rec
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::RunFinished { .. })));
    let path = outcome.results_path.clone().unwrap();
    assert_eq!(
        path,
        out.path()
            .join(format!("netbench-iperf3-tcp-{}.json", outcome.run))
    );
    let file: netbench_proto::ResultsFile =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file.results.len(), 2);
    for r in &file.results {
        assert!(
            r.metrics.iter().any(|m| m.value > 0.0),
            "a real iperf3 pair measures something: {r:?}"
        );
    }
    assert!(outcome.cleanup_error.is_none());
    assert_eq!(outcome.namespace, ns);
    assert_namespace_gone(&admin, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn launch_errors_are_precise_and_the_namespace_always_goes() {
    let _serial = SERIAL.lock().await;
    let (cp, _kubelet) = cluster_with_nodes().await;
    let admin = cp.admin().await;
    let launcher = cp.launcher_client().await;
    let out = tempfile::tempdir().unwrap();
    let nats = netbench_local::nats_server::NatsServer::start(
        &netbench_local::nats_server::locate(None).unwrap(),
    )
    .unwrap();

    // 1. A selector matching fewer than two nodes.
    let mut cfg = config(Some(nats.url.clone()), out.path());
    cfg.node_labels = "node-lifecycle=spot".into();
    let e = netbench_launcher::launch(
        launcher.clone(),
        cfg,
        CancellationToken::new(),
        &mut Recorder::default(),
    )
    .await
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, LaunchError::TooFewNodes { found: 1, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("\"node-lifecycle=spot\"") && msg.contains("(n3)"),
        "{msg}"
    );

    // 2. The deadline passes with no orchestrator: partial (empty) results, namespace gone.
    let mut cfg = config(Some(nats.url.clone()), out.path());
    cfg.deadline = Duration::from_secs(1);
    cfg.deadline_grace = Duration::from_secs(1);
    let o = netbench_launcher::launch(
        launcher.clone(),
        cfg,
        CancellationToken::new(),
        &mut Recorder::default(),
    )
    .await
    .unwrap();
    assert_eq!(o.ending, Ending::Deadline);
    assert_eq!(o.ending.exit_code(), 4);
    assert!(o.results.is_empty() && o.results_path.unwrap().exists());
    assert_namespace_gone(&admin, &o.namespace).await;

    // 3. SIGTERM (a deleted Job) while following: interrupted, namespace gone.
    let cfg = config(Some(nats.url.clone()), out.path());
    let term = CancellationToken::new();
    let t = term.clone();
    let adm = admin.clone();
    tokio::spawn(async move {
        let ns = run_namespace(&adm).await;
        // Cancel once the pods are up and the launcher follows the run.
        let pods: Api<Pod> = Api::namespaced(adm, &ns);
        loop {
            let l = pods.list(&ListParams::default()).await.unwrap().items;
            if l.len() >= 2
                && l.iter()
                    .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        t.cancel();
    });
    let o = netbench_launcher::launch(launcher.clone(), cfg, term, &mut Recorder::default())
        .await
        .unwrap();
    assert_eq!(o.ending, Ending::Interrupted);
    assert_namespace_gone(&admin, &o.namespace).await;

    // 4. A worker that cannot be scheduled: the real scheduler's reason, named pod.
    cp.taint("n2").await;
    let mut cfg = config(Some(nats.url.clone()), out.path());
    cfg.timeout = Duration::from_secs(8);
    let mut rec = Recorder::default();
    let e = netbench_launcher::launch(launcher.clone(), cfg, CancellationToken::new(), &mut rec)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, LaunchError::PodsNotReady { .. }), "{msg}");
    assert!(
        msg.contains("pod worker-n2: Pending, Unschedulable: 0/3 nodes are available")
            && msg.contains("taint"),
        "{msg}"
    );
    assert!(!msg.contains("worker-n1"), "n1's worker was ready: {msg}");
    let nss = Api::<Namespace>::all(admin.clone())
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=netbench"))
        .await
        .unwrap();
    assert!(nss.items.is_empty(), "left behind: {:?}", nss.items);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployed_nats_objects_pass_real_validation_and_the_launcher_has_no_more_rights_than_needed(
) {
    let _serial = SERIAL.lock().await;
    let (cp, _kubelet) = cluster_with_nodes().await;
    let admin = cp.admin().await;
    let launcher = cp.launcher_client().await;
    let out = tempfile::tempdir().unwrap();

    // Deploy NATS ourselves (Secret, ConfigMap, Pod, Service with a ClusterIP) with --inject.
    // There is no kubelet to port-forward to: that step fails, with a precise message, after
    // every object passed the real API server's validation and the pods were Ready.
    let mut cfg = config(None, out.path());
    cfg.inject = true;
    cfg.connect = Connect::PortForward;
    let adm = admin.clone();
    let seen = tokio::spawn(async move {
        let ns = run_namespace(&adm).await;
        let pods: Api<Pod> = Api::namespaced(adm.clone(), &ns);
        loop {
            if let Some(w) = pods.get_opt("worker-n1").await.unwrap() {
                let ns_labels = Api::<Namespace>::all(adm.clone())
                    .get(&ns)
                    .await
                    .unwrap()
                    .metadata
                    .labels
                    .unwrap();
                return (w, ns_labels);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut rec = Recorder::default();
    let e = netbench_launcher::launch(launcher.clone(), cfg, CancellationToken::new(), &mut rec)
        .await
        .unwrap_err();
    let msg = e.to_string();
    // Not a 403: the ClusterRole allows the port-forward; the missing kubelet is what fails.
    assert!(
        msg.starts_with("port-forward to pod nats port 4222") && !msg.contains("forbidden"),
        "{msg}"
    );
    assert!(rec
        .status
        .iter()
        .any(|s| s == "all pods ready; following the run"));
    let (worker, ns_labels) = seen.await.unwrap();
    assert_eq!(ns_labels["istio-injection"], "enabled");
    let url = env_value(&worker, "NATS_URL").unwrap();
    assert!(
        url.starts_with("nats://10.96."),
        "pods use the Service's ClusterIP: {url}"
    );
    let nss = Api::<Namespace>::all(admin.clone())
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=netbench"))
        .await
        .unwrap();
    assert!(nss.items.is_empty(), "left behind: {:?}", nss.items);

    // What the ServiceAccount must NOT be able to do.
    let forbidden = |r: Result<Deployment, kube::Error>| match r {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("expected 403, got {other:?}"),
    };
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "x"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                 "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    }))
    .unwrap();
    forbidden(
        Api::<Deployment>::namespaced(launcher.clone(), "default")
            .create(&PostParams::default(), &d)
            .await,
    );
    let crb = Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(launcher.clone())
        .list(&ListParams::default())
        .await;
    assert!(
        matches!(crb, Err(kube::Error::Api(ref s)) if s.code == 403),
        "{crb:?}"
    );
    let secrets =
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(launcher.clone(), "netbench")
            .list(&ListParams::default())
            .await;
    assert!(
        matches!(secrets, Err(kube::Error::Api(ref s)) if s.code == 403),
        "{secrets:?}"
    );
    let del = Api::<k8s_openapi::api::core::v1::Node>::all(launcher.clone())
        .delete("n1", &Default::default())
        .await;
    assert!(
        matches!(del, Err(kube::Error::Api(ref s)) if s.code == 403),
        "{del:?}"
    );
}
