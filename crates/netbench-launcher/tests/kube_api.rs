//! `netbench launch` against a REAL kube-apiserver 1.36 (RBAC on, Pod Security admission, real
//! scheduler, controller manager), authenticated as the ServiceAccount bound to THE ClusterRole
//! in deploy/. The only stand-in is the kubelet (tests/support): it marks scheduled pods
//! Running/Ready, and [`run_pods_as_processes`] runs what the worker pods and the orchestrator
//! Job describe with the real `netbench` binary (real workers running real iperf3 on loopback,
//! real nats-server).
//!
//! Needs: tests/kube/install-binaries.sh done, etcd (etcd-server), nats-server, iperf3, openssl.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Namespace, Pod, PodSpec, Secret};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use netbench_launcher::follow::Ending;
use netbench_launcher::launch::{Connect, LaunchConfig, Report};
use netbench_launcher::{LaunchError, LaunchOutcome};
use netbench_proto::{Event, EventKind};
use std::collections::BTreeMap;

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
        entries: vec![netbench_orchestrator::suite::Entry {
            bench: netbench_bench::find("iperf3-tcp").unwrap(),
            duration_seconds: 1,
            parameters: Default::default(),
            samples: 1,
            paths: Default::default(),
        }],
        run: None,
        namespace: None,
        existing_namespace: false,
        node_labels: "node-lifecycle=on-demand".into(),
        orch_image: "netbench:test".into(),
        worker_image: "netbench-worker:test".into(),
        nats_image: "nats:2.10.22-alpine".into(),
        inject: false,
        worker_cpu_limit: None,
        pushgateway: None,
        plan: Default::default(),
        clients: None,
        servers: None,
        timeout: Duration::from_secs(60),
        deadline: Duration::from_secs(120),
        deadline_grace: Duration::from_secs(5),
        cleanup_timeout: Duration::from_secs(120),
        output_dir: out.to_path_buf(),
        keep: false,
        nats_url,
        nats_login: Default::default(),
        nats_replicas: None,
        store: Default::default(),
        tls: false,
        nats_ca: None,
        connect: Connect::Auto,
    }
}

async fn cluster_with_nodes() -> (ControlPlane, Kubelet) {
    cluster_with_nodes_in(ControlPlane::start().await).await
}

async fn cluster_with_nodes_in(cp: ControlPlane) -> (ControlPlane, Kubelet) {
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

/// Child processes killed and reaped on drop, then the pods' volume dirs removed.
#[derive(Default)]
struct Containers(Vec<std::process::Child>, Vec<tempfile::TempDir>);
impl Drop for Containers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One container made ready to run on this host the way a kubelet would: its volumes
/// (ConfigMaps and Secrets as the API server holds them, items and modes applied; emptyDirs)
/// written into a temp dir, its env resolved (literal values, the Secret keys it names, the
/// downward API: `metadata.name`, `spec.nodeName`, and 127.0.0.1 for `status.podIP`). A path
/// inside a mount becomes the host path of that mount, in args, env values and the mounted
/// files' text (so nats-server finds the certificate files `auth.conf` names).
struct Prepared {
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

async fn prepare(admin: &Client, ns: &str, pod: &str, ps: &PodSpec) -> Prepared {
    use std::os::unix::fs::PermissionsExt;
    let c = &ps.containers[0];
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), ns);
    let maps: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    let secret_data = |name: String| {
        let secrets = secrets.clone();
        async move {
            let d = secrets.get(&name).await.unwrap().data.unwrap_or_default();
            d.into_iter()
                .map(|(k, v)| (k, v.0))
                .collect::<BTreeMap<_, _>>()
        }
    };
    let dir = tempfile::Builder::new()
        .prefix("netbench-pod-")
        .tempdir()
        .unwrap();
    let mut mounts: Vec<(String, String)> = Vec::new();
    let mut files = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let host = dir.path().join(&m.name);
        std::fs::create_dir_all(&host).unwrap();
        let v = ps
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == m.name)
            .unwrap();
        // (is a Secret, name, items)
        let mut sources: Vec<(bool, String, Option<Vec<KeyToPath>>)> = Vec::new();
        if let Some(s) = &v.secret {
            sources.push((true, s.secret_name.clone().unwrap(), s.items.clone()));
        }
        if let Some(c) = &v.config_map {
            sources.push((false, c.name.clone(), c.items.clone()));
        }
        for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(s) = &p.secret {
                sources.push((true, s.name.clone(), s.items.clone()));
            }
            if let Some(c) = &p.config_map {
                sources.push((false, c.name.clone(), c.items.clone()));
            }
        }
        for (is_secret, name, items) in sources {
            let data: BTreeMap<String, Vec<u8>> = if is_secret {
                secret_data(name).await
            } else {
                let d = maps.get(&name).await.unwrap().data.unwrap_or_default();
                d.into_iter().map(|(k, v)| (k, v.into_bytes())).collect()
            };
            let items = items.unwrap_or_else(|| {
                data.keys()
                    .map(|k| KeyToPath {
                        key: k.clone(),
                        path: k.clone(),
                        mode: None,
                    })
                    .collect()
            });
            for i in items {
                let path = host.join(&i.path);
                std::fs::write(&path, &data[&i.key]).unwrap();
                if let Some(mode) = i.mode {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode as u32))
                        .unwrap();
                }
                files.push(path);
            }
        }
        mounts.push((m.mount_path.clone(), host.display().to_string()));
    }
    let to_host = |s: &str| -> String {
        for (m, h) in &mounts {
            if s == m || s.starts_with(&format!("{m}/")) {
                return format!("{h}{}", &s[m.len()..]);
            }
        }
        s.to_string()
    };
    for f in files {
        if let Ok(mut text) = std::fs::read_to_string(&f) {
            for (m, h) in &mounts {
                text = text.replace(&format!("{m}/"), &format!("{h}/"));
            }
            std::fs::write(&f, text).unwrap();
        }
    }
    let mut env = Vec::new();
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => {
                if let Some(f) = &from.field_ref {
                    match f.field_path.as_str() {
                        "metadata.name" => pod.to_string(),
                        // Loopback: pairs run one at a time, so the pinned ports never clash.
                        // A hostNetwork pod's address is its node's: the same loopback.
                        "status.podIP" | "status.hostIP" => "127.0.0.1".to_string(),
                        "spec.nodeName" => ps.node_name.clone().unwrap_or_default(),
                        other => panic!("downward API field {other} not played"),
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let d = secret_data(r.name.clone()).await;
                    String::from_utf8(d[&r.key].clone()).unwrap()
                } else {
                    panic!("env {} from a source not played: {from:?}", e.name)
                }
            }
            (None, None) => String::new(),
        };
        env.push((e.name.clone(), to_host(&value)));
    }
    let args = c.args.iter().flatten().map(|a| to_host(a)).collect();
    Prepared { args, env, dir }
}

fn spawn_prepared(bin: &std::path::Path, p: Prepared, procs: &mut Containers) {
    let child = std::process::Command::new(bin)
        .args(&p.args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(p.env)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    procs.0.push(child);
    procs.1.push(p.dir);
}

/// Play the containers: once the worker pods are Running and the Job exists, run the real
/// `netbench` binary for each worker pod and for the orchestrator, prepared as a kubelet would
/// ([`prepare`]; the IP is loopback).
async fn run_pods_as_processes(admin: Client, ns: String) -> Containers {
    run_worker_pods_as_processes(admin, ns, 2).await
}

/// [`run_pods_as_processes`] once `workers` worker pods are Running.
async fn run_worker_pods_as_processes(admin: Client, ns: String, workers: usize) -> Containers {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(admin.clone(), &ns);
    let (workers, job) = loop {
        let ws: Vec<Pod> = pods
            .list(&ListParams::default().labels("app.kubernetes.io/component=worker"))
            .await
            .unwrap()
            .items;
        let running = ws.len() >= workers
            && ws
                .iter()
                .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
        if let (true, Some(j)) = (running, jobs.get_opt("orchestrator").await.unwrap()) {
            break (ws, j);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let bin = netbench_bin();
    let mut procs = Containers::default();
    for p in &workers {
        let name = p.metadata.name.clone().unwrap();
        let prepared = prepare(&admin, &ns, &name, p.spec.as_ref().unwrap()).await;
        spawn_prepared(&bin, prepared, &mut procs);
    }
    let tmpl = job.spec.unwrap().template;
    let prepared = prepare(&admin, &ns, "orchestrator", tmpl.spec.as_ref().unwrap()).await;
    spawn_prepared(&bin, prepared, &mut procs);
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
    let mut cfg = config(Some(nats.url.clone()), out.path());
    // A team's own stream and bucket on a shared NATS (--stream, --kv-bucket).
    cfg.store.stream = "TEAM_X".into();
    cfg.store.bucket = "TEAM_X_RUNS".into();

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
    assert_eq!(l["pod-security.kubernetes.io/enforce"], "restricted");

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
    // Everything went to the team's stream and bucket, nothing to the defaults.
    let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    let mut team = js.get_stream("TEAM_X").await.unwrap();
    let stored = team.info().await.unwrap().state.messages;
    assert!(stored >= 2, "2 results and the events in TEAM_X: {stored}");
    assert!(
        js.get_stream("NETBENCH").await.is_err(),
        "no NETBENCH stream made"
    );
    let kv = js.get_key_value("TEAM_X_RUNS").await.unwrap();
    assert!(kv.get(outcome.run.as_str()).await.unwrap().is_some());
    assert!(outcome.cleanup_error.is_none());
    // deploy/'s ClusterRole lets the launcher empty the namespace before deleting it.
    assert!(
        rec.status.iter().any(|s| s.contains(" pods stopped in "))
            && !rec.status.iter().any(|s| s.contains("could not empty")),
        "{:?}",
        rec.status
    );
    assert_eq!(outcome.namespace, ns);
    assert_namespace_gone(&admin, &ns).await;
}

/// `--paths pod,host,service,same-node`: the launcher deploys a worker pod of every placement on
/// each node (`worker-`, `hostnet-`, `worker2-<node>`, each with its own NATS login) and a
/// Service in front of each pod worker, and the real orchestrator and workers run every path on
/// them: 2 pairs × 3 paths across the nodes + 2 same-node pairs. This control plane hands out
/// ClusterIPs in 127.96.0.0/16, addresses of this host, so the service path's client really
/// dials its Service's address (delivered by loopback here, by kube-proxy on a cluster: see
/// tests/cluster/e2e for that).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn launch_on_every_path_deploys_each_placement_and_the_services_and_runs_them_all() {
    let _serial = SERIAL.lock().await;
    let (cp, _kubelet) =
        cluster_with_nodes_in(ControlPlane::start_with_service_range("127.96.0.0/16").await).await;
    let admin = cp.admin().await;
    let launcher = cp.launcher_client().await;
    let nats = netbench_local::nats_server::NatsServer::start(
        &netbench_local::nats_server::locate(None).unwrap(),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(Some(nats.url.clone()), out.path());
    for e in &mut cfg.entries {
        e.paths = "pod,host,service,same-node".parse().unwrap();
    }
    let checker = {
        let admin = admin.clone();
        tokio::spawn(async move {
            let ns = run_namespace(&admin).await;
            let containers = run_worker_pods_as_processes(admin.clone(), ns.clone(), 6).await;
            let services = Api::<k8s_openapi::api::core::v1::Service>::namespaced(admin, &ns)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items;
            (ns, containers, services)
        })
    };
    let mut rec = Recorder::default();
    let outcome =
        netbench_launcher::launch(launcher.clone(), cfg, CancellationToken::new(), &mut rec)
            .await
            .expect("launch succeeds");
    let (ns, containers, services) = checker.await.unwrap();
    drop(containers);
    assert_eq!(
        outcome.ending,
        Ending::Finished {
            pairs_total: 8,
            pairs_failed: 0
        },
        "{:?}",
        rec.status
    );
    // The Services' ClusterIPs, by the pod worker they front.
    let service_ip: BTreeMap<String, String> = services
        .iter()
        .map(|s| {
            let sp = s.spec.clone().unwrap();
            let sel = sp.selector.unwrap();
            let node_of_worker = |id: &str| {
                ["n1", "n2"]
                    .into_iter()
                    .find(|n| {
                        netbench_proto::WorkerId::for_name(&format!("worker-{n}")).as_str() == id
                    })
                    .unwrap()
            };
            (
                format!("worker-{}", node_of_worker(&sel["netbench.io/worker"])),
                sp.cluster_ip.unwrap(),
            )
        })
        .collect();
    assert_eq!(service_ip.len(), 2, "{services:?}");
    let file: netbench_proto::ResultsFile =
        serde_json::from_slice(&std::fs::read(outcome.results_path.unwrap()).unwrap()).unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in &file.results {
        let (c, s) = (&r.task.client, &r.task.server);
        assert_eq!(
            r.task.status as u8, 0,
            "{}: {:?} {}",
            r.pair, r.error, r.output
        );
        assert!(r.metrics.iter().any(|m| m.value > 0.0), "{r:?}");
        *seen.entry(r.path.to_string()).or_default() += 1;
        let prefix = |w: &str| w.rsplit_once('-').unwrap().0.to_string();
        match r.path.name() {
            "pod" | "service" => {
                assert_eq!(
                    (prefix(&c.worker), prefix(&s.worker)),
                    ("worker".into(), "worker".into())
                );
                assert_ne!(c.vm.hostname, s.vm.hostname);
            }
            "host" => {
                assert_eq!(
                    (prefix(&c.worker), prefix(&s.worker)),
                    ("hostnet".into(), "hostnet".into())
                );
                assert_ne!(c.vm.hostname, s.vm.hostname);
            }
            "same-node" => {
                assert_eq!(
                    (prefix(&c.worker), prefix(&s.worker)),
                    ("worker2".into(), "worker".into())
                );
                assert_eq!(c.vm.hostname, s.vm.hostname);
            }
            other => panic!("path {other}"),
        }
        if r.path.name() == "service" {
            let want = &service_ip[&s.worker];
            assert_eq!(s.service_ip.as_ref(), Some(want), "{}", r.pair);
            assert!(r.task.args.contains(want), "{:?}", r.task.args);
            assert_eq!(s.ip, "127.0.0.1", "the pod's own address stays");
        } else {
            assert_eq!(s.service_ip, None);
        }
    }
    assert_eq!(
        seen,
        BTreeMap::from([
            ("host".to_string(), 2),
            ("pod".to_string(), 2),
            ("same-node".to_string(), 2),
            ("service".to_string(), 2),
        ])
    );
    assert!(outcome.cleanup_error.is_none());
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
    // (3 s: the shortest deadline that holds one pair of 1 s; a shorter one is a usage error.)
    let mut cfg = config(Some(nats.url.clone()), out.path());
    cfg.deadline = Duration::from_secs(3);
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
    // With a mesh (istio-init needs NET_ADMIN) restricted is only warned about, not enforced.
    assert!(!ns_labels.contains_key("pod-security.kubernetes.io/enforce"));
    assert_eq!(ns_labels["pod-security.kubernetes.io/warn"], "restricted");
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

/// What Pod Security admission did in a run's namespace.
struct PodSecurity {
    /// The namespace's `pod-security.kubernetes.io/<mode>` labels, (mode, level), sorted.
    labels: Vec<(String, String)>,
    /// The run's pods the API server admitted: the deployed ones and the orchestrator Job's
    /// (its pod's name prefix), sorted.
    pods: Vec<String>,
    /// The API server's answer to a pod without a securityContext, created there as admin.
    refused: String,
}

/// Once the orchestrator Job's pod exists (the job controller creates it, and PodSecurity
/// admits or refuses it like any pod): what [`PodSecurity`] records.
async fn pod_security_in(admin: &Client, ns: &str) -> PodSecurity {
    let labels = Api::<Namespace>::all(admin.clone())
        .get(ns)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("pod-security.kubernetes.io/")?.to_string(),
                v,
            ))
        })
        .collect();
    let pods_api: Api<Pod> = Api::namespaced(admin.clone(), ns);
    let started = std::time::Instant::now();
    let pods = loop {
        let mut names: Vec<String> = pods_api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| {
                let name = p.metadata.name.unwrap();
                let job_pod = p.metadata.labels.unwrap_or_default()["app.kubernetes.io/component"]
                    == "orchestrator";
                if job_pod {
                    "orchestrator".to_string()
                } else {
                    name
                }
            })
            .collect();
        names.sort();
        if names.iter().any(|n| n == "orchestrator") {
            break names;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the orchestrator Job made no pod in 30 s (refused by admission?): {:?}",
            Api::<Job>::namespaced(admin.clone(), ns)
                .get("orchestrator")
                .await
                .map(|j| j.status)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let bare: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "not-restricted"},
        "spec": {"containers": [{"name": "c", "image": "netbench-worker:test"}]}
    }))
    .unwrap();
    let refused = match pods_api.create(&PostParams::default(), &bare).await {
        Err(kube::Error::Api(s)) => format!("{} {}", s.code, s.message),
        Ok(_) => "created".to_string(),
        Err(e) => format!("{e}"),
    };
    PodSecurity {
        labels,
        pods,
        refused,
    }
}

/// The NATS pod played on this host: nats-server with the config, `auth.conf` and (with --tls)
/// certificate files materialised from its ConfigMap and Secrets ([`prepare`]), listening on
/// the Service's ClusterIP (the control plane hands out 127.96/16, addresses of this host) where
/// the pod would listen on 0.0.0.0. Returns once nats-server accepts connections.
async fn play_nats_pod(admin: &Client, ns: &str, cluster_ip: &str, procs: &mut Containers) {
    let pod = Api::<Pod>::namespaced(admin.clone(), ns)
        .get("nats")
        .await
        .unwrap();
    let mut p = prepare(admin, ns, "nats", pod.spec.as_ref().unwrap()).await;
    for (_, v) in &mut p.env {
        *v = v.replace("0.0.0.0", cluster_ip);
    }
    let bin = netbench_local::nats_server::locate(None).unwrap();
    let log = std::fs::File::create(p.dir.path().join("nats-server.log")).unwrap();
    let child = std::process::Command::new(bin)
        .args(&p.args)
        .env_clear()
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let log = p.dir.path().join("nats-server.log");
    procs.0.push(child);
    procs.1.push(p.dir);
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect((cluster_ip, 4222))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "nats-server did not listen on {cluster_ip}:4222: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a client speaking plain NATS gets from the server: its INFO line, and whether it
/// answered a PING sent in the clear.
async fn plain_nats_attempt(addr: (&str, u16)) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let info = String::from_utf8_lossy(&buf[..n]).to_string();
    let _ = tcp
        .write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .await;
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (info, String::from_utf8_lossy(&seen).contains("PONG"))
}

/// `launch --tls` with the NATS we deploy, played for real: nats-server runs with the `tls {}`
/// block and the certificate files from the Secret, on the Service's ClusterIP; the workers and
/// the orchestrator (real `netbench`) verify it with the CA from the ConfigMap; the launcher
/// connects through the Service and verifies it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn launch_with_tls_deploys_a_nats_that_only_speaks_tls_verified_against_the_runs_ca() {
    let _serial = SERIAL.lock().await;
    let (cp, kubelet) =
        cluster_with_nodes_in(ControlPlane::start_with_service_range("127.96.0.0/16").await).await;
    let admin = cp.admin().await;
    let launcher = cp.launcher_client().await;
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(None, out.path());
    cfg.tls = true;
    // A workstation would port-forward; there is no kubelet to forward to, and the ClusterIP
    // is reachable here, as from a pod.
    cfg.connect = Connect::Service;
    // The NATS pod becomes Ready once its nats-server runs.
    kubelet.held.lock().unwrap().insert("nats".into());

    let held = kubelet.held.clone();
    let player = {
        let admin = admin.clone();
        tokio::spawn(async move {
            let ns = run_namespace(&admin).await;
            let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
            while pods.get_opt("nats").await.unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let svc = Api::<k8s_openapi::api::core::v1::Service>::namespaced(admin.clone(), &ns)
                .get("nats")
                .await
                .unwrap();
            let ip = svc.spec.unwrap().cluster_ip.unwrap();
            let mut procs = Containers::default();
            play_nats_pod(&admin, &ns, &ip, &mut procs).await;

            // What a client sees at the ClusterIP.
            let plain = plain_nats_attempt((ip.as_str(), 4222)).await;
            let ca_pem = Api::<ConfigMap>::namespaced(admin.clone(), &ns)
                .get("nats-ca")
                .await
                .unwrap()
                .data
                .unwrap()["ca.pem"]
                .clone();
            let certs = tempfile::tempdir().unwrap();
            let ca = certs.path().join("ca.pem");
            std::fs::write(&ca, &ca_pem).unwrap();
            // Another run's CA, for a certificate with the very same names.
            let other = certs.path().join("other");
            std::fs::create_dir(&other).unwrap();
            let other_ca = netbench_bus::tls::RunTls::generate(&[ip.parse().unwrap()], &["nats"])
                .unwrap()
                .write(&other)
                .unwrap();
            let url = format!("tls://{ip}:4222");
            let mut tries = Vec::new();
            // The launcher's own login (the read-only observer).
            let password = Api::<Secret>::namespaced(admin.clone(), &ns)
                .get("nats-auth")
                .await
                .unwrap()
                .data
                .unwrap()["observer"]
                .clone();
            let password = String::from_utf8(password.0).unwrap();
            for tls_ca in [None, Some(other_ca), Some(ca.clone())] {
                let args = netbench_bus::NatsArgs {
                    connect_wait: Default::default(),
                    url: url.clone(),
                    user: Some("observer".into()),
                    password: Some(password.clone()),
                    tls_ca,
                    ..Default::default()
                };
                let got = netbench_bus::connect(&args, "tls probe", &Default::default()).await;
                tries.push(got.map(|_| ()).map_err(|e| format!("{e:?}")));
            }
            held.lock().unwrap().remove("nats");

            let containers = run_pods_as_processes(admin.clone(), ns.clone()).await;
            let psa = pod_security_in(&admin, &ns).await;
            // Every pod as the API server holds it, the Job's pod template included.
            let mut specs: Vec<(String, PodSpec)> = pods
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|p| {
                    p.metadata.labels.as_ref().unwrap()["app.kubernetes.io/component"]
                        != "orchestrator"
                })
                .map(|p| (p.metadata.name.unwrap(), p.spec.unwrap()))
                .collect();
            let job = Api::<Job>::namespaced(admin.clone(), &ns)
                .get("orchestrator")
                .await
                .unwrap();
            specs.push((
                "job/orchestrator".into(),
                job.spec.unwrap().template.spec.unwrap(),
            ));
            specs.sort_by(|a, b| a.0.cmp(&b.0));
            (ns, ip, plain, tries, specs, procs, containers, psa)
        })
    };
    let mut rec = Recorder::default();
    let outcome =
        netbench_launcher::launch(launcher.clone(), cfg, CancellationToken::new(), &mut rec)
            .await
            .expect("launch --tls succeeds");
    let (ns, ip, (info, pong), tries, specs, nats, containers, psa) = player.await.unwrap();
    drop(containers);
    drop(nats);

    // Pod Security "restricted" was enforced on the run's namespace, and every pod of the run
    // (NATS, workers, the orchestrator Job's pod) passed it.
    assert_eq!(
        psa.labels,
        [
            ("audit".to_string(), "restricted".to_string()),
            ("enforce".to_string(), "restricted".to_string()),
            ("warn".to_string(), "restricted".to_string()),
        ]
    );
    assert_eq!(
        psa.pods,
        ["nats", "orchestrator", "worker-n1", "worker-n2"],
        "every pod of the run was admitted"
    );
    assert!(
        psa.refused
            .contains("violates PodSecurity \"restricted:latest\""),
        "a pod without a securityContext is refused there: {}",
        psa.refused
    );

    // The server at the ClusterIP speaks TLS only.
    assert!(
        info.starts_with("INFO ") && info.contains("\"tls_required\":true"),
        "{info}"
    );
    assert!(!pong, "a plain-text client was answered");
    // Without the run's CA (system roots; another run's CA) verification fails; with it, it works.
    assert!(tries[0].is_err() && tries[1].is_err(), "{tries:?}");
    assert!(
        tries[0]
            .as_ref()
            .unwrap_err()
            .contains("InvalidCertificate(UnknownIssuer)")
            && tries[1]
                .as_ref()
                .unwrap_err()
                .contains("InvalidCertificate"),
        "{tries:?}"
    );
    assert!(tries[2].is_ok(), "{tries:?}");

    // Mounts: the server key only in the NATS pod; the CA in every client.
    let names: Vec<&str> = specs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["job/orchestrator", "nats", "worker-n1", "worker-n2"]
    );
    for (name, ps) in &specs {
        let (secrets, maps) = netbench_launcher::manifests::secrets_and_config_maps(ps);
        let env: BTreeMap<String, String> = ps.containers[0]
            .env
            .iter()
            .flatten()
            .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
            .collect();
        if name == "nats" {
            assert_eq!(secrets, ["nats-auth", "nats-tls"], "{name}");
            assert_eq!(maps, ["nats-config"], "{name}");
        } else {
            assert_eq!(secrets, ["nats-auth"], "{name}: no certificate key");
            assert_eq!(maps, ["nats-ca"], "{name}");
            assert_eq!(env["NATS_CA"], "/etc/netbench/nats-ca/ca.pem", "{name}");
            assert_eq!(env["NATS_URL"], format!("tls://{ip}:4222"), "{name}");
        }
    }

    // A real run, over TLS.
    assert_eq!(
        outcome.ending,
        Ending::Finished {
            pairs_total: 2,
            pairs_failed: 0
        }
    );
    let file: netbench_proto::ResultsFile =
        serde_json::from_slice(&std::fs::read(outcome.results_path.unwrap()).unwrap()).unwrap();
    assert_eq!(file.results.len(), 2);
    for r in &file.results {
        assert!(
            r.metrics.iter().any(|m| m.value > 0.0),
            "a real iperf3 pair measures something: {r:?}"
        );
    }
    assert!(outcome.cleanup_error.is_none());
    assert_namespace_gone(&admin, &ns).await;

    // An existing NATS with TLS: --nats-url with --nats-ca. Its CA reaches the pods through the
    // nats-ca ConfigMap; no server certificate or key is deployed.
    use netbench_bus::tls::RunTls;
    let dir = tempfile::tempdir().unwrap();
    let own = RunTls::generate(&["127.0.0.1".parse().unwrap()], &["localhost"]).unwrap();
    let ca = own.write(dir.path()).unwrap();
    let block = RunTls::server_block(dir.path());
    let server = netbench_local::nats_server::NatsServer::start_in(
        &netbench_local::nats_server::locate(None).unwrap(),
        dir,
        "127.0.0.1:-1",
        &block,
    )
    .unwrap();
    let url = server.url.replace("nats://", "tls://");
    let mut cfg = config(Some(url.clone()), out.path());
    cfg.nats_ca = Some(ca);
    let checker = {
        let admin = admin.clone();
        tokio::spawn(async move {
            let ns = run_namespace(&admin).await;
            let containers = run_pods_as_processes(admin.clone(), ns.clone()).await;
            let cm = Api::<ConfigMap>::namespaced(admin.clone(), &ns)
                .get("nats-ca")
                .await
                .unwrap();
            let tls_secret = Api::<Secret>::namespaced(admin.clone(), &ns)
                .get_opt("nats-tls")
                .await
                .unwrap();
            (cm.data.unwrap(), tls_secret.is_none(), containers)
        })
    };
    let outcome = netbench_launcher::launch(
        launcher.clone(),
        cfg,
        CancellationToken::new(),
        &mut Recorder::default(),
    )
    .await
    .expect("launch --nats-url tls://… --nats-ca succeeds");
    let (ca_data, no_tls_secret, containers) = checker.await.unwrap();
    drop(containers);
    assert_eq!(ca_data["ca.pem"], own.ca_pem);
    assert!(no_tls_secret);
    assert_eq!(
        outcome.ending,
        Ending::Finished {
            pairs_total: 2,
            pairs_failed: 0
        }
    );
    assert_eq!(outcome.results.len(), 2);
    assert_namespace_gone(&admin, &outcome.namespace).await;
}

/// The real `nsc`, its home, stores and keys in a temp dir: an operator (with its system
/// account), account `acc` with JetStream, and users made by the test.
struct Nsc(tempfile::TempDir);

impl Nsc {
    fn new() -> Nsc {
        let nsc = Nsc(tempfile::Builder::new()
            .prefix("netbench-nsc-")
            .tempdir()
            .unwrap());
        nsc.run(&["add", "operator", "--name", "op", "--sys"]);
        nsc.run(&["add", "account", "--name", "acc"]);
        nsc.run(&[
            "edit",
            "account",
            "--name",
            "acc",
            "--js-mem-storage",
            "64M",
            "--js-disk-storage",
            "1500M",
            "--js-streams",
            "-1",
            "--js-consumer",
            "-1",
        ]);
        nsc
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.path().join(name)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("nsc")
            .env("NSC_HOME", self.path("home"))
            .env("NKEYS_PATH", self.path("keys"))
            .arg("--config-dir")
            .arg(self.path("config"))
            .arg("--data-dir")
            .arg(self.path("stores"))
            .arg("--keystore-dir")
            .arg(self.path("keys"))
            .args(args)
            .output()
            .expect("nsc installed (tests/setup-debian unpacks /work/shared/bin/nsc.xz)");
        assert!(
            out.status.success(),
            "nsc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `nsc add user` with these extra flags, and its creds file.
    fn user(&self, name: &str, extra: &[&str]) -> std::path::PathBuf {
        let mut args = vec!["add", "user", "--account", "acc", "--name", name];
        args.extend(extra);
        self.run(&args);
        let file = self.path(&format!("{name}.creds"));
        let text = self.run(&["generate", "creds", "--account", "acc", "--name", name]);
        std::fs::write(&file, text).unwrap();
        file
    }

    /// A real nats-server in operator mode with this operator's accounts (memory resolver).
    fn server(&self) -> netbench_local::nats_server::NatsServer {
        let conf = self.path("resolver.conf");
        self.run(&[
            "generate",
            "config",
            "--mem-resolver",
            "--sys-account",
            "SYS",
            "--config-file",
            conf.to_str().unwrap(),
        ]);
        netbench_local::nats_server::NatsServer::start_with_auth(
            &netbench_local::nats_server::locate(None).unwrap(),
            &std::fs::read_to_string(&conf).unwrap(),
        )
        .expect("nats-server starts in operator mode")
    }
}

async fn netbench_namespaces(admin: &Client) -> Vec<String> {
    Api::<Namespace>::all(admin.clone())
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=netbench"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect()
}

/// `netbench launch --nats-url` with `--nats-creds` against a real nats-server in operator mode
/// (operator, account, user made by the real nsc): a bad or expired creds file stops the launch
/// with exit code 3 and creates nothing; good creds go into the `netbench-nats-login` Secret,
/// mounted into the orchestrator and the workers only (their env names the file, no value is in
/// any pod spec), the launcher logs in with them too, and the whole run finishes and is cleaned
/// up, the Secret with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn launch_with_creds_for_an_operator_mode_nats_mounts_them_into_the_pods_that_connect() {
    let _serial = SERIAL.lock().await;
    let (cp, _kubelet) = cluster_with_nodes().await;
    let admin = cp.admin().await;
    let launcher = cp.launcher_client().await;
    let nsc = Nsc::new();
    let full = nsc.user("full", &[]);
    let expired = nsc.user("expired", &["--expiry", "2020-01-01"]);
    let nats = nsc.server();
    let out = tempfile::tempdir().unwrap();

    // The binary, with the API server in KUBECONFIG: bad files are exit code 3, nothing made.
    let garbage = nsc.path("garbage.creds");
    std::fs::write(&garbage, "not a creds file\n").unwrap();
    for (file, says) in [
        (&garbage, "no user JWT"),
        (&expired, "the credentials expired"),
        (&nsc.path("missing.creds"), "cannot read it"),
    ] {
        let o = std::process::Command::new(netbench_bin())
            .args([
                "launch",
                "--benchmark",
                "iperf3-tcp",
                "--nats-url",
                &nats.url,
            ])
            .arg("--nats-creds")
            .arg(file)
            .env("KUBECONFIG", cp.dir.path().join("admin.kubeconfig"))
            .env_remove("NATS_NKEY")
            .env_remove("NATS_TOKEN")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{text}");
        assert!(
            text.contains(file.to_str().unwrap())
                && text.contains(says)
                && text.contains("nsc generate creds"),
            "{text}"
        );
        assert!(!text.contains("launch: "), "the launch began: {text}");
    }
    // ... and so it is through the library, as the launcher's ServiceAccount.
    let mut cfg = config(Some(nats.url.clone()), out.path());
    cfg.nats_login.creds = Some(expired.clone());
    let e = netbench_launcher::launch(
        launcher.clone(),
        cfg,
        CancellationToken::new(),
        &mut Recorder::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, LaunchError::Bus(_)), "{e}");
    assert!(netbench_namespaces(&admin).await.is_empty());

    // Good creds: a whole run.
    let creds_text = std::fs::read_to_string(&full).unwrap();
    let mut cfg = config(Some(nats.url.clone()), out.path());
    cfg.nats_login.creds = Some(full.clone());
    let checker = {
        let admin = admin.clone();
        tokio::spawn(async move {
            let ns = run_namespace(&admin).await;
            let containers = run_pods_as_processes(admin.clone(), ns.clone()).await;
            let secret = Api::<Secret>::namespaced(admin.clone(), &ns)
                .get("netbench-nats-login")
                .await
                .unwrap();
            let pods: Vec<Pod> = Api::<Pod>::namespaced(admin.clone(), &ns)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items;
            let job = Api::<Job>::namespaced(admin.clone(), &ns)
                .get("orchestrator")
                .await
                .unwrap();
            (secret, pods, job, containers)
        })
    };
    let mut rec = Recorder::default();
    let outcome =
        netbench_launcher::launch(launcher.clone(), cfg, CancellationToken::new(), &mut rec)
            .await
            .expect("launch succeeds");
    let (secret, pods, job, containers) = checker.await.unwrap();
    drop(containers);

    let data = secret.data.unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["user.creds"],
        "the creds only"
    );
    assert_eq!(
        String::from_utf8(data["user.creds"].0.clone()).unwrap(),
        creds_text
    );
    let seed = creds_text
        .lines()
        .find(|l| l.starts_with("SU"))
        .unwrap()
        .to_string();
    let job_spec = job.spec.unwrap().template.spec.unwrap();
    let workers: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.name.as_deref().unwrap().starts_with("worker-"))
        .collect();
    assert_eq!(workers.len(), 2);
    assert!(
        pods.iter()
            .all(|p| p.metadata.labels.as_ref().unwrap()["app.kubernetes.io/component"] != "nats"),
        "no NATS pod with --nats-url"
    );
    for ps in workers
        .iter()
        .map(|p| p.spec.clone().unwrap())
        .chain([job_spec])
    {
        let (secrets, _) = netbench_launcher::manifests::secrets_and_config_maps(&ps);
        assert_eq!(secrets, ["netbench-nats-login"]);
        let c = &ps.containers[0];
        let env: BTreeMap<String, Option<String>> = c
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        assert_eq!(
            env["NATS_CREDS"].as_deref(),
            Some("/etc/netbench/nats-login/user.creds")
        );
        let spec_json = serde_json::to_string(&ps).unwrap();
        assert!(!spec_json.contains(&seed), "the seed in a pod spec");
        assert!(!spec_json.contains("BEGIN NATS USER JWT"));
    }
    assert_eq!(
        outcome.ending,
        Ending::Finished {
            pairs_total: 2,
            pairs_failed: 0
        },
        "{:?}",
        rec.status
    );
    assert_eq!(outcome.results.len(), 2);
    assert!(outcome.cleanup_error.is_none());
    assert_namespace_gone(&admin, &outcome.namespace).await;
}
