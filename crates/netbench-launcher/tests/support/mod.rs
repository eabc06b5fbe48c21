//! A real Kubernetes control plane for tests: etcd + kube-apiserver (RBAC on, the default
//! admission chain, PodSecurity included) + kube-controller-manager (namespace deletion,
//! ServiceAccounts, Jobs) + kube-scheduler, v1.36.3 as `tests/kube/install-binaries.sh` unpacks
//! it, on loopback ports in a temp dir. There is no kubelet: [`Kubelet`] plays one (marks
//! scheduled pods Running/Ready with 192.0.2.x IPs, which are data only, and finalises
//! deletions). Everything stops on Drop.

#![allow(dead_code)]

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Node, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "netbench-test-admin-token";

/// The Kubernetes version the binaries must be.
pub const KUBE_VERSION: &str = "v1.36.3";

/// Where tests/kube/install-binaries.sh puts the binaries.
pub fn kube_bin() -> PathBuf {
    std::env::var_os("KUBE_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/netbench/kube-1.36.3/bin".into())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Children stopped (SIGTERM, then SIGKILL) and reaped on drop, last started first.
struct Procs(Vec<(String, Child)>);
impl Drop for Procs {
    fn drop(&mut self) {
        for (_, c) in self.0.iter_mut().rev() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        let until = Instant::now() + Duration::from_secs(10);
        for (name, c) in self.0.iter_mut().rev() {
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    _ if Instant::now() > until => {
                        eprintln!("{name} did not stop; killing");
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }
}

pub struct ControlPlane {
    pub url: String,
    pub dir: tempfile::TempDir,
    procs: Procs,
}

fn spawn(procs: &mut Procs, dir: &Path, name: &str, cmd: &mut Command) {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    procs.0.push((name.to_string(), child));
}

fn kubeconfig_yaml(url: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: {url}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context:\n    cluster: t\n    user: u\n    namespace: default\ncurrent-context: c\n"
    )
}

impl ControlPlane {
    /// Start etcd, the apiserver, controller-manager and scheduler; wait until the API answers.
    pub async fn start() -> ControlPlane {
        Self::start_with_service_range("10.96.0.0/16").await
    }

    /// [`ControlPlane::start`] with Service ClusterIPs from `range`. A range in 127.0.0.0/8
    /// makes every ClusterIP an address of this host (Linux routes all of 127/8 to lo), so a
    /// process can listen on a Service's ClusterIP as kube-proxy would deliver it.
    pub async fn start_with_service_range(range: &str) -> ControlPlane {
        Self::start_with_args(range, &[]).await
    }

    /// [`ControlPlane::start_with_service_range`], the API server given `extra` flags too (e.g.
    /// `--allow-privileged=true`, as most clusters run, so that privileged pods reach admission
    /// instead of being refused in validation).
    pub async fn start_with_args(range: &str, extra: &[&str]) -> ControlPlane {
        let bin = kube_bin();
        assert!(
            bin.join("kube-apiserver").exists(),
            "{} has no kube-apiserver: run tests/kube/install-binaries.sh first (unpacks \
             Kubernetes {KUBE_VERSION} from ../shared/bin/kube-1.36, ~30 s)",
            bin.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("netbench-kube-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let mut procs = Procs(Vec::new());
        let (etcd_port, peer_port, api_port) = (free_port(), free_port(), free_port());
        spawn(
            &mut procs,
            d,
            "etcd",
            Command::new("etcd")
                .arg("--data-dir")
                .arg(d.join("etcd"))
                .arg("--name=default")
                .arg(format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"))
                .arg(format!(
                    "--advertise-client-urls=http://127.0.0.1:{etcd_port}"
                ))
                .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
                .arg(format!(
                    "--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"
                ))
                .arg(format!(
                    "--initial-cluster=default=http://127.0.0.1:{peer_port}"
                )),
        );
        let key = d.join("sa.key");
        let ok = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::write(
            d.join("tokens.csv"),
            format!("{ADMIN_TOKEN},admin,admin,\"system:masters\"\n"),
        )
        .unwrap();
        let url = format!("https://127.0.0.1:{api_port}");
        spawn(
            &mut procs,
            d,
            "kube-apiserver",
            Command::new(bin.join("kube-apiserver"))
                .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--secure-port={api_port}"))
                .arg(format!("--cert-dir={}", d.join("certs").display()))
                .arg(format!(
                    "--token-auth-file={}",
                    d.join("tokens.csv").display()
                ))
                .arg("--authorization-mode=Node,RBAC")
                .arg("--service-account-issuer=https://kubernetes.default.svc")
                .arg(format!("--service-account-key-file={}", key.display()))
                .arg(format!(
                    "--service-account-signing-key-file={}",
                    key.display()
                ))
                .arg(format!("--service-cluster-ip-range={range}"))
                .arg("--kubelet-preferred-address-types=InternalIP,Hostname")
                .arg("--advertise-address=127.0.0.1")
                .args(extra),
        );
        let kc = d.join("admin.kubeconfig");
        std::fs::write(&kc, kubeconfig_yaml(&url, ADMIN_TOKEN)).unwrap();
        let cp = ControlPlane {
            url: url.clone(),
            dir,
            procs,
        };
        let admin = cp.admin().await;
        let started = Instant::now();
        loop {
            if admin.apiserver_version().await.is_ok()
                && Api::<ServiceAccount>::namespaced(admin.clone(), "default")
                    .list(&ListParams::default())
                    .await
                    .is_ok()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "kube-apiserver not ready after 60 s; see {}",
                cp.dir.path().join("kube-apiserver.log").display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let v = admin.apiserver_version().await.unwrap();
        assert_eq!(
            v.git_version,
            KUBE_VERSION,
            "{} is not Kubernetes {KUBE_VERSION}: run tests/kube/install-binaries.sh",
            bin.display()
        );
        let mut cp = cp;
        let d = cp.dir.path().to_path_buf();
        spawn(
            &mut cp.procs,
            &d,
            "kube-controller-manager",
            Command::new(bin.join("kube-controller-manager"))
                .arg(format!("--kubeconfig={}", kc.display()))
                .arg(format!(
                    "--service-account-private-key-file={}",
                    key.display()
                ))
                .arg("--controllers=*,-nodelifecycle,-csrsigning")
                .arg("--leader-elect=false")
                .arg("--secure-port=0"),
        );
        spawn(
            &mut cp.procs,
            &d,
            "kube-scheduler",
            Command::new(bin.join("kube-scheduler"))
                .arg(format!("--kubeconfig={}", kc.display()))
                .arg("--leader-elect=false")
                .arg("--secure-port=0"),
        );
        cp
    }

    pub async fn client_for(&self, token: &str) -> Client {
        let kc = Kubeconfig::from_yaml(&kubeconfig_yaml(&self.url, token)).unwrap();
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        Client::try_from(cfg).unwrap()
    }

    pub async fn admin(&self) -> Client {
        self.client_for(ADMIN_TOKEN).await
    }

    /// Apply deploy/namespace.yaml, serviceaccount.yaml and rbac.yaml, and return a client that
    /// authenticates as THE launcher ServiceAccount (a token from the TokenRequest API).
    pub async fn launcher_client(&self) -> Client {
        let admin = self.admin().await;
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        let pp = PatchParams::apply("netbench-test").force();
        for file in ["namespace.yaml", "serviceaccount.yaml", "rbac.yaml"] {
            let text = std::fs::read_to_string(deploy.join(file)).unwrap();
            for doc in serde_norway::Deserializer::from_str(&text) {
                let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
                let kind = v["kind"].as_str().unwrap().to_string();
                let name = v["metadata"]["name"].as_str().unwrap().to_string();
                let ns = v["metadata"]["namespace"].as_str().map(str::to_string);
                let r = match kind.as_str() {
                    "Namespace" => Api::<k8s_openapi::api::core::v1::Namespace>::all(admin.clone())
                        .patch(&name, &pp, &Patch::Apply(&v))
                        .await
                        .map(|_| ()),
                    "ServiceAccount" => {
                        Api::<ServiceAccount>::namespaced(admin.clone(), ns.as_deref().unwrap())
                            .patch(&name, &pp, &Patch::Apply(&v))
                            .await
                            .map(|_| ())
                    }
                    "ClusterRole" => Api::<ClusterRole>::all(admin.clone())
                        .patch(&name, &pp, &Patch::Apply(&v))
                        .await
                        .map(|_| ()),
                    "ClusterRoleBinding" => Api::<ClusterRoleBinding>::all(admin.clone())
                        .patch(&name, &pp, &Patch::Apply(&v))
                        .await
                        .map(|_| ()),
                    other => panic!("unexpected kind {other} in deploy/{file}"),
                };
                r.unwrap_or_else(|e| panic!("apply {kind} {name} from deploy/{file}: {e}"));
            }
        }
        // Since 1.24 no token Secret is made for a ServiceAccount: ask for a token as
        // `kubectl create token` does (TokenRequest; one hour is plenty for a test).
        let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), "netbench");
        let req: TokenRequest = serde_json::from_value(serde_json::json!({
            "spec": {"audiences": [], "expirationSeconds": 3600}
        }))
        .unwrap();
        let token = sas
            .create_token_request("netbench-launcher", &PostParams::default(), &req)
            .await
            .unwrap_or_else(|e| {
                panic!("a token for ServiceAccount netbench/netbench-launcher: {e}")
            })
            .status
            .expect("the TokenRequest has a status")
            .token;
        self.client_for(&token).await
    }

    /// Create a Ready node with these labels (and no taints).
    pub async fn add_node(&self, name: &str, ip: &str, labels: &[(&str, &str)]) {
        let admin = self.admin().await;
        let nodes: Api<Node> = Api::all(admin);
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("kubernetes.io/hostname".to_string(), name.to_string())])
            .collect();
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {}
        }))
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        // Admission adds the not-ready taint on creation: a kubelet would lift it.
        nodes
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"taints": null}})),
            )
            .await
            .unwrap();
        let now = time_now();
        let cap = serde_json::json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
        nodes
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"status": {
                    "capacity": cap, "allocatable": cap,
                    "addresses": [{"type": "InternalIP", "address": ip}],
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                    "lastHeartbeatTime": now, "lastTransitionTime": now}]
                }})),
            )
            .await
            .unwrap();
    }

    /// Taint a node NoSchedule so the real scheduler leaves pods pinned to it Pending.
    pub async fn taint(&self, name: &str) {
        let nodes: Api<Node> = Api::all(self.admin().await);
        nodes
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"taints": [
                    {"key": "netbench-test/blocked", "value": "yes", "effect": "NoSchedule"}
                ]}})),
            )
            .await
            .unwrap();
    }
}

fn time_now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Plays the kubelet: scheduled pods become Running and Ready with a 192.0.2.x IP (data only),
/// terminating pods are finalised at once. Stops on drop.
pub struct Kubelet {
    stop: CancellationToken,
    /// Every pod it marked Running, as namespace/name.
    pub started: Arc<Mutex<HashSet<String>>>,
    /// Pods (by name, any namespace) left Pending until removed from here: for a test that
    /// starts what the pod runs and only then lets it be Ready.
    pub held: Arc<Mutex<HashSet<String>>>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Kubelet {
    pub fn start(admin: Client) -> Kubelet {
        let stop = CancellationToken::new();
        let started = Arc::new(Mutex::new(HashSet::new()));
        let held = Arc::new(Mutex::new(HashSet::new()));
        let (token, seen, hold) = (stop.clone(), started.clone(), held.clone());
        tokio::spawn(async move {
            // By UID: a pod deleted and made again under the same name (a later run in the same
            // namespace, --existing-namespace) is a new pod to start.
            let mut marked: HashSet<String> = HashSet::new();
            let pods: Api<Pod> = Api::all(admin.clone());
            let mut next_ip = 10u8;
            while !token.is_cancelled() {
                if let Ok(list) = pods.list(&ListParams::default()).await {
                    for p in list.items {
                        let ns = p.metadata.namespace.clone().unwrap_or_default();
                        let name = p.metadata.name.clone().unwrap_or_default();
                        let api: Api<Pod> = Api::namespaced(admin.clone(), &ns);
                        if p.metadata.deletion_timestamp.is_some() {
                            let _ = api
                                .delete(&name, &DeleteParams::default().grace_period(0))
                                .await;
                            continue;
                        }
                        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                            continue;
                        };
                        let key = format!("{ns}/{name}");
                        let uid = p.metadata.uid.clone().unwrap_or_default();
                        if marked.contains(&uid) || hold.lock().unwrap().contains(&name) {
                            continue;
                        }
                        next_ip = next_ip.wrapping_add(1).max(10);
                        let now = time_now();
                        let cond = |t: &str| serde_json::json!({"type": t, "status": "True", "lastTransitionTime": now});
                        let statuses: Vec<_> = p.spec.as_ref().unwrap().containers.iter().map(|c| serde_json::json!({
                            "name": c.name, "ready": true, "restartCount": 0, "image": c.image, "imageID": "",
                            "started": true, "state": {"running": {"startedAt": now}}
                        })).collect();
                        let r = api
                            .patch_status(
                                &name,
                                &PatchParams::default(),
                                &Patch::Merge(serde_json::json!({"status": {
                                    "phase": "Running",
                                    "hostIP": format!("192.0.2.{}", node.len() % 10 + 1),
                                    "podIP": format!("192.0.2.{next_ip}"),
                                    "podIPs": [{"ip": format!("192.0.2.{next_ip}")}],
                                    "startTime": now,
                                    "conditions": [cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
                                    "containerStatuses": statuses,
                                }})),
                            )
                            .await;
                        if r.is_ok() {
                            marked.insert(uid);
                            seen.lock().unwrap().insert(key);
                        }
                    }
                }
                tokio::select! {
                    _ = token.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        });
        Kubelet {
            stop,
            started,
            held,
        }
    }
}
