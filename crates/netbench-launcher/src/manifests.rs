//! Pure manifest builders: [`LaunchSpec`] in, k8s-openapi objects out. No client, no I/O.
//!
//! Everything lives in one namespace so that deleting it removes the run:
//! - [`mk_namespace`]: labelled `app.kubernetes.io/managed-by=netbench`, `netbench.io/run=<run>`,
//!   Pod Security `restricted` enforced (and `istio-injection=enabled` with `--inject`, which
//!   only warns about `restricted`; `privileged` enforced with `--paths host`, whose workers
//!   use the node's network);
//! - [`mk_nats_secret`], [`mk_nats_configmap`], [`mk_nats_pod`], [`mk_nats_service`]: NATS with
//!   JetStream, configured by the repo's `nats/nats-server.conf` plus an auth include;
//! - with `--tls`: [`mk_nats_tls_secret`] (server certificate and key, mounted into the NATS pod
//!   only; the `tls {}` block goes into the included `auth.conf`) and [`mk_nats_ca_configmap`]
//!   (the CA certificate, mounted into the orchestrator and the workers, named by `NATS_CA`);
//! - with `--nats-url` and a login: [`mk_nats_login_secret`] (the creds, seed or token, mounted
//!   into the orchestrator and the workers only, named by `NATS_CREDS` / `NATS_NKEY`, the token
//!   in `NATS_TOKEN` from the Secret);
//! - [`mk_worker_pod`]: one per node and placement the paths need (`worker-<node>`; with
//!   `--paths host` `hostnet-<node>` in the node's network; with `same-node` `worker2-<node>`),
//!   pinned by node affinity, the benchmark's ports declared (not on hostNetwork pods);
//! - [`mk_worker_services`] (`--paths service`): one ClusterIP Service per pod worker, named
//!   after its id, selecting exactly that pod, on the benchmarks' ports;
//! - [`mk_orchestrator_job`]: `netbench orchestrator …`, restartPolicy OnFailure;
//! - [`mk_network_policies`]: ingress of the run's pods denied but for NATS's client port (from
//!   the run's pods and the in-cluster launcher) and the benchmark's ports (from the run's
//!   workers).
//!
//! Resources (requests .. limits), chosen to fit beside real workloads and to let the tools
//! saturate a link: worker 100m/128Mi .. 2 CPU/512Mi; orchestrator 50m/32Mi .. 500m/128Mi;
//! NATS 50m/64Mi .. 500m/256Mi.

use crate::launch::PLAN_DIR;
use crate::spec::*;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Affinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapProjection, ConfigMapVolumeSource, Container, ContainerPort,
    EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, KeyToPath, Namespace, NodeAffinity,
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectFieldSelector, Pod,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ProjectedVolumeSource,
    ResourceRequirements, SeccompProfile, Secret, SecretKeySelector, SecretProjection,
    SecretVolumeSource, SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
    VolumeProjection,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use netbench_bus::tls::RunTls;
use netbench_orchestrator::plan::PlanSpec;
use netbench_proto::Placement;
use std::collections::BTreeMap;
use std::path::Path;

/// The repo's NATS server configuration, shipped in the ConfigMap as is.
pub const NATS_SERVER_CONF: &str = include_str!("../../../nats/nats-server.conf");
/// Where nats-server.conf (ConfigMap) and auth.conf (Secret) are mounted, side by side, in the
/// NATS container: nats-server.conf includes "auth.conf" from its own directory.
pub const NATS_CONF_DIR: &str = "/etc/nats-netbench";
/// The Secret key holding the rendered `auth.conf`.
pub const AUTH_CONF_KEY: &str = "auth.conf";
/// `--tls`: keys of the server certificate and key in the `nats-tls` Secret; they are mounted
/// under these names into [`NATS_CONF_DIR`] (the names [`RunTls::server_block`] refers to).
pub const SERVER_CERT_KEY: &str = "server-cert.pem";
pub const SERVER_KEY_KEY: &str = "server-key.pem";
/// `--tls`: the CA certificate's key in the `nats-ca` ConfigMap.
pub const CA_KEY: &str = "ca.pem";
/// `--tls`: where the orchestrator and the workers find the CA (`NATS_CA`).
pub const NATS_CA_DIR: &str = "/etc/netbench/nats-ca";
/// An existing NATS's login: the keys of the `netbench-nats-login` Secret, and where the
/// orchestrator and the workers find its files (`NATS_CREDS`, `NATS_NKEY`); the token comes
/// into `NATS_TOKEN` from the Secret itself.
pub const LOGIN_CREDS_KEY: &str = "user.creds";
pub const LOGIN_NKEY_KEY: &str = "user.nk";
pub const LOGIN_TOKEN_KEY: &str = "token";
pub const NATS_LOGIN_DIR: &str = "/etc/netbench/nats-login";
/// The login files' mode: readable by the pod's user through its group (fsGroup), nobody else.
pub const LOGIN_FILE_MODE: i32 = 0o440;

/// How long each pod gets between SIGTERM and SIGKILL. NATS, the workers and the orchestrator
/// all stop within a second, and by the time the launcher deletes the namespace it has read
/// every result; the namespace controller waits up to this long per pass, so the default 30 s
/// would make every cleanup ~30 s slower (measured on the real cluster: 27 s -> see README).
pub const TERMINATION_GRACE_SECONDS: i64 = 5;

/// Every object of a launch, in apply order.
#[derive(Debug, Clone)]
pub struct Manifests {
    pub namespace: Namespace,
    /// Whether the launch creates (and at the end deletes) [`Manifests::namespace`]; false with
    /// `--existing-namespace`, where an admin made it and the launcher only adds its objects.
    pub create_namespace: bool,
    /// Applied right after the namespace, before any pod exists.
    pub network_policies: Vec<NetworkPolicy>,
    pub nats_secret: Option<Secret>,
    /// `--tls` with a deployed NATS.
    pub nats_tls_secret: Option<Secret>,
    /// `--nats-url` with a login: [`mk_nats_login_secret`].
    pub nats_login_secret: Option<Secret>,
    pub nats_config: Option<ConfigMap>,
    /// `--tls`.
    pub nats_ca: Option<ConfigMap>,
    pub nats_pod: Option<Pod>,
    pub nats_service: Option<Service>,
    /// `--nats-replicas` above 1: one Service per NATS server (`nats-<i>`), applied with the
    /// client Service, before anything else that needs their ClusterIPs (the routes).
    pub nats_pod_services: Vec<Service>,
    /// `--nats-replicas` above 1: the NATS servers (instead of [`Manifests::nats_pod`]).
    pub nats_statefulset: Option<StatefulSet>,
    /// `--nats-replicas` above 1: at most one NATS server voluntarily down at a time.
    pub nats_pdb: Option<PodDisruptionBudget>,
    /// `--paths service`: [`mk_worker_services`], applied before the pods (each pod worker
    /// gets its Service's ClusterIP).
    pub worker_services: Vec<Service>,
    pub workers: Vec<Pod>,
    /// The plan's files, applied before the orchestrator.
    pub plan_config: Option<ConfigMap>,
    pub orchestrator: Job,
}

/// Build every manifest of a launch.
pub fn mk_all(spec: &LaunchSpec) -> Manifests {
    let deploy = matches!(spec.nats, NatsPlan::Deploy { .. });
    Manifests {
        namespace: mk_namespace(spec),
        create_namespace: true,
        network_policies: mk_network_policies(spec),
        nats_secret: mk_nats_secret(spec),
        nats_tls_secret: mk_nats_tls_secret(spec),
        nats_login_secret: mk_nats_login_secret(spec),
        nats_config: deploy.then(|| mk_nats_configmap(spec)),
        nats_ca: mk_nats_ca_configmap(spec),
        nats_pod: (deploy && !spec.nats_clustered()).then(|| mk_nats_pod(spec)),
        nats_service: deploy.then(|| mk_nats_service(spec)),
        nats_pod_services: mk_nats_pod_services(spec),
        nats_statefulset: spec.nats_clustered().then(|| mk_nats_statefulset(spec)),
        nats_pdb: spec.nats_clustered().then(|| mk_nats_pdb(spec)),
        worker_services: mk_worker_services(spec),
        workers: spec
            .worker_pods()
            .iter()
            .map(|w| mk_worker_pod(spec, w))
            .collect(),
        plan_config: mk_plan_configmap(spec),
        orchestrator: mk_orchestrator_job(spec),
    }
}

/// Labels every object carries; `component` adds `app.kubernetes.io/component`.
pub fn labels(spec: &LaunchSpec, component: Option<&str>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        ("app.kubernetes.io/name".to_string(), "netbench".to_string()),
        (RUN_LABEL.to_string(), spec.run.to_string()),
    ]);
    if let Some(c) = component {
        l.insert(COMPONENT_LABEL.to_string(), c.to_string());
    }
    l
}

fn meta(spec: &LaunchSpec, name: &str, component: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(spec.namespace.clone()),
        labels: Some(labels(spec, component)),
        ..Default::default()
    }
}

/// The Pod Security Standard every pod of a run meets (see [`pod_security`] and
/// [`container_security`]): the namespace asks the API server to enforce it. With `--inject`,
/// Istio's injected init container (NET_ADMIN, root) breaks it unless the cluster runs Istio's
/// CNI plugin, so the namespace then only warns and audits.
pub const POD_SECURITY_LEVEL: &str = "restricted";
/// `--paths host`: the level the namespace enforces instead. The host workers run in the
/// node's network namespace (`hostNetwork: true`), which `baseline` and `restricted` forbid;
/// `privileged` is the only level that admits it. Audit and warn stay [`POD_SECURITY_LEVEL`],
/// so every pod that would break `restricted` is still reported. (deploy/'s admission policy
/// keeps the launcher's pods off the node's other resources whatever the level.)
pub const HOST_POD_SECURITY_LEVEL: &str = "privileged";
/// The Pod Security label a namespace enforces its level with.
pub const PSA_ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

pub fn mk_namespace(spec: &LaunchSpec) -> Namespace {
    let mut labels = labels(spec, None);
    let modes: &[&str] = if spec.inject {
        labels.insert("istio-injection".into(), "enabled".into());
        &["audit", "warn"]
    } else {
        &["enforce", "audit", "warn"]
    };
    for mode in modes {
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            POD_SECURITY_LEVEL.into(),
        );
    }
    // With a mesh too: istio-init fits within privileged, and the host workers need it.
    if spec.has_path(netbench_proto::Path::Host) {
        labels.insert(PSA_ENFORCE_LABEL.into(), HOST_POD_SECURITY_LEVEL.into());
    }
    Namespace {
        metadata: ObjectMeta {
            name: Some(spec.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The NATS credentials (only when we deploy NATS): the server's `auth.conf` and one password
/// per role, keyed by user name (`orchestrator`, `observer`, `worker-<id>`). With `--tls`,
/// `auth.conf` also holds the `tls {}` block (as `netbench local --tls` renders it), pointing at
/// the certificate files mounted from the `nats-tls` Secret.
pub fn mk_nats_secret(spec: &LaunchSpec) -> Option<Secret> {
    let NatsPlan::Deploy { creds, .. } = &spec.nats else {
        return None;
    };
    let mut auth = creds.render();
    if let Some(TlsPlan::Deploy(_)) = &spec.tls {
        auth.push_str(&RunTls::server_block(Path::new(NATS_CONF_DIR)));
    }
    // A NATS cluster: the routes between the servers, authenticated, for every server alike.
    if let (true, Some(c)) = (spec.nats_clustered(), &spec.nats_cluster) {
        auth.push_str(&c.block());
    }
    let mut data = BTreeMap::from([(AUTH_CONF_KEY.to_string(), auth)]);
    for login in [&creds.orchestrator, &creds.observer]
        .into_iter()
        .chain(creds.workers.iter().map(|(_, l)| l))
    {
        data.insert(login.user.clone(), login.password.clone());
    }
    Some(Secret {
        metadata: meta(spec, NATS_SECRET_NAME, Some("nats")),
        type_: Some("Opaque".into()),
        string_data: Some(data),
        ..Default::default()
    })
}

/// `--tls` with a deployed NATS: the server certificate and its key. Only the NATS pod mounts it.
pub fn mk_nats_tls_secret(spec: &LaunchSpec) -> Option<Secret> {
    let (NatsPlan::Deploy { .. }, Some(TlsPlan::Deploy(tls))) = (&spec.nats, &spec.tls) else {
        return None;
    };
    Some(Secret {
        metadata: meta(spec, NATS_TLS_SECRET_NAME, Some("nats")),
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([
            (SERVER_CERT_KEY.to_string(), tls.cert_pem.clone()),
            (SERVER_KEY_KEY.to_string(), tls.key_pem.clone()),
        ])),
        ..Default::default()
    })
}

/// `--nats-url` with `--nats-creds`, `--nats-nkey` or `--nats-token`: that login, for the
/// orchestrator and the workers (they mount it; no other pod does, and no value is in any pod
/// spec).
pub fn mk_nats_login_secret(spec: &LaunchSpec) -> Option<Secret> {
    let l = &spec.nats_login;
    if !matches!(spec.nats, NatsPlan::External { .. }) || l.is_empty() {
        return None;
    }
    let data: BTreeMap<String, String> = [
        (LOGIN_CREDS_KEY, &l.creds),
        (LOGIN_NKEY_KEY, &l.nkey),
        (LOGIN_TOKEN_KEY, &l.token),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), v.clone()?)))
    .collect();
    Some(Secret {
        metadata: meta(spec, NATS_LOGIN_SECRET_NAME, Some("nats-login")),
        type_: Some("Opaque".into()),
        string_data: Some(data),
        ..Default::default()
    })
}

/// The login's files (creds, NKey seed) as a read-only volume and its mount, when there are any.
fn login_volume(spec: &LaunchSpec) -> Option<(Volume, VolumeMount)> {
    mk_nats_login_secret(spec)?;
    let l = &spec.nats_login;
    let items: Vec<KeyToPath> = [(LOGIN_CREDS_KEY, &l.creds), (LOGIN_NKEY_KEY, &l.nkey)]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| KeyToPath {
            key: k.into(),
            path: k.into(),
            mode: Some(LOGIN_FILE_MODE),
        })
        .collect();
    if items.is_empty() {
        return None;
    }
    Some((
        Volume {
            name: "nats-login".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(NATS_LOGIN_SECRET_NAME.into()),
                items: Some(items),
                default_mode: Some(LOGIN_FILE_MODE),
                optional: Some(false),
            }),
            ..Default::default()
        },
        mount("nats-login", NATS_LOGIN_DIR, true),
    ))
}

/// `--tls`: the CA certificate (public) the orchestrator and the workers verify NATS against.
pub fn mk_nats_ca_configmap(spec: &LaunchSpec) -> Option<ConfigMap> {
    let tls = spec.tls.as_ref()?;
    Some(ConfigMap {
        metadata: meta(spec, NATS_CA_NAME, Some("nats")),
        data: Some(BTreeMap::from([(
            CA_KEY.to_string(),
            tls.ca_pem().to_string(),
        )])),
        ..Default::default()
    })
}

/// `--tls`: the CA volume and its mount for the orchestrator and the workers.
fn ca_volume(spec: &LaunchSpec) -> Option<(Volume, VolumeMount)> {
    spec.tls.as_ref()?;
    Some((
        Volume {
            name: "nats-ca".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: NATS_CA_NAME.into(),
                items: Some(vec![KeyToPath {
                    key: CA_KEY.into(),
                    path: CA_KEY.into(),
                    ..Default::default()
                }]),
                optional: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        },
        mount("nats-ca", NATS_CA_DIR, true),
    ))
}

pub fn mk_nats_configmap(spec: &LaunchSpec) -> ConfigMap {
    ConfigMap {
        metadata: meta(spec, NATS_CONFIG_NAME, Some("nats")),
        data: Some(BTreeMap::from([(
            "nats-server.conf".to_string(),
            NATS_SERVER_CONF.to_string(),
        )])),
        ..Default::default()
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn env_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn env_secret(name: &str, key: &str) -> EnvVar {
    env_secret_of(name, NATS_SECRET_NAME, key)
}

fn env_secret_of(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `NATS_URL`, with `--tls` `NATS_CA` (the mounted CA), and when we deploy NATS, `user`'s login
/// (the password from the Secret).
///
/// `NATS_WAIT`: pods start together with NATS, so they retry their first connection for
/// `--timeout` instead of failing before the Service answers.
fn nats_env(spec: &LaunchSpec, user: &str) -> Vec<EnvVar> {
    let mut v = vec![
        env("NATS_URL", spec.nats.url()),
        env("NATS_WAIT", format!("{}s", spec.timeout.as_secs().max(1))),
    ];
    if spec.tls.is_some() {
        v.push(env("NATS_CA", format!("{NATS_CA_DIR}/{CA_KEY}")));
    }
    if matches!(spec.nats, NatsPlan::Deploy { .. }) {
        v.push(env("NATS_USER", user));
        v.push(env_secret("NATS_PASSWORD", user));
    }
    v.extend(login_env(spec));
    v
}

/// An existing NATS's login: the mounted files' paths, the token from the Secret.
fn login_env(spec: &LaunchSpec) -> Vec<EnvVar> {
    let mut v = Vec::new();
    if mk_nats_login_secret(spec).is_none() {
        return v;
    }
    let l = &spec.nats_login;
    if l.creds.is_some() {
        v.push(env(
            "NATS_CREDS",
            format!("{NATS_LOGIN_DIR}/{LOGIN_CREDS_KEY}"),
        ));
    }
    if l.nkey.is_some() {
        v.push(env(
            "NATS_NKEY",
            format!("{NATS_LOGIN_DIR}/{LOGIN_NKEY_KEY}"),
        ));
    }
    if l.token.is_some() {
        v.push(env_secret_of(
            "NATS_TOKEN",
            NATS_LOGIN_SECRET_NAME,
            LOGIN_TOKEN_KEY,
        ));
    }
    v
}

fn resources(req: (&str, &str), lim: (&str, &str)) -> ResourceRequirements {
    let q = |cpu: &str, mem: &str| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.into())),
            ("memory".to_string(), Quantity(mem.into())),
        ])
    };
    ResourceRequirements {
        requests: Some(q(req.0, req.1)),
        limits: Some(q(lim.0, lim.1)),
        ..Default::default()
    }
}

/// The benchmark pods' resources: a CPU request, a memory limit, and a CPU limit only when one
/// is asked for (`--worker-cpu-limit`): CFS throttling under a limit caps a multi-stream
/// iperf3 on a fast NIC and distorts exactly what is measured.
fn worker_resources(cpu_limit: Option<&str>) -> ResourceRequirements {
    let mut r = resources(("100m", "128Mi"), ("1", "512Mi"));
    if let Some(limits) = r.limits.as_mut() {
        match cpu_limit {
            Some(cpu) => {
                limits.insert("cpu".into(), Quantity(cpu.into()));
            }
            None => {
                limits.remove("cpu");
            }
        }
    }
    r
}

/// Non-root, read-only root filesystem, no capabilities, no privilege escalation.
fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS_USER),
        run_as_group: Some(RUN_AS_USER),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS_USER),
        run_as_group: Some(RUN_AS_USER),
        fs_group: Some(RUN_AS_USER),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An emptyDir with a size limit (the kubelet evicts a pod that writes past it), so no pod of a
/// run can fill its node's disk.
fn empty_dir(name: &str, size_limit: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(size_limit.into())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// NATS's store: the NETBENCH stream keeps at most 1 GiB (nats/stream-netbench.json), plus the
/// run-state bucket and JetStream's own files.
const NATS_DATA_LIMIT: &str = "2Gi";
/// The orchestrator's scratch directory (the results file is written elsewhere).
const TMP_LIMIT: &str = "64Mi";

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(read_only),
        ..Default::default()
    }
}

fn tcp_port(name: &str, number: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number.into(),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// Annotations for pods that must stay out of the mesh (NATS, the orchestrator): with
/// `--inject`, only the workers, whose traffic is what we measure, get a sidecar.
fn no_sidecar(spec: &LaunchSpec) -> Option<BTreeMap<String, String>> {
    spec.inject
        .then(|| BTreeMap::from([("sidecar.istio.io/inject".to_string(), "false".to_string())]))
}

pub fn mk_nats_pod(spec: &LaunchSpec) -> Pod {
    let mut m = meta(spec, NATS_NAME, Some("nats"));
    m.annotations = no_sidecar(spec);
    Pod {
        metadata: m,
        spec: Some(nats_pod_spec(spec, false)),
        ..Default::default()
    }
}

/// The NATS pod's spec: the single pod's (`clustered` false) or the StatefulSet's template
/// (`clustered`: each server is named after its pod, through the downward API, and listens for
/// routes on [`NATS_ROUTE_PORT`]). Same security context, resources, probe and store either way.
fn nats_pod_spec(spec: &LaunchSpec, clustered: bool) -> PodSpec {
    let name_env = if clustered {
        env_field("NETBENCH_NATS_NAME", "metadata.name")
    } else {
        env("NETBENCH_NATS_NAME", "netbench")
    };
    let mut ports = vec![
        tcp_port("client", NATS_CLIENT_PORT),
        tcp_port("monitor", NATS_MONITOR_PORT),
    ];
    if clustered {
        ports.push(tcp_port("route", NATS_ROUTE_PORT));
    }
    PodSpec {
        security_context: Some(pod_security()),
        automount_service_account_token: Some(false),
        termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
        containers: vec![Container {
            name: "nats".into(),
            image: Some(spec.nats_image.clone()),
            args: Some(vec![
                "-c".into(),
                format!("{NATS_CONF_DIR}/nats-server.conf"),
            ]),
            env: Some(vec![
                env(
                    "NETBENCH_NATS_LISTEN",
                    format!("0.0.0.0:{NATS_CLIENT_PORT}"),
                ),
                env("NETBENCH_NATS_HTTP", format!("0.0.0.0:{NATS_MONITOR_PORT}")),
                env("NETBENCH_NATS_STORE", "/data/jetstream"),
                name_env,
            ]),
            ports: Some(ports),
            readiness_probe: Some(Probe {
                http_get: Some(HTTPGetAction {
                    path: Some("/healthz".into()),
                    port: IntOrString::Int(NATS_MONITOR_PORT.into()),
                    ..Default::default()
                }),
                period_seconds: Some(2),
                ..Default::default()
            }),
            resources: Some(resources(("50m", "64Mi"), ("500m", "256Mi"))),
            security_context: Some(container_security()),
            volume_mounts: Some(vec![
                mount("config", NATS_CONF_DIR, true),
                mount("data", "/data", false),
            ]),
            ..Default::default()
        }],
        volumes: Some(vec![
            Volume {
                name: "config".into(),
                projected: Some(ProjectedVolumeSource {
                    sources: Some(
                        vec![
                            VolumeProjection {
                                config_map: Some(ConfigMapProjection {
                                    name: NATS_CONFIG_NAME.into(),
                                    items: Some(vec![KeyToPath {
                                        key: "nats-server.conf".into(),
                                        path: "nats-server.conf".into(),
                                        ..Default::default()
                                    }]),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            },
                            VolumeProjection {
                                secret: Some(SecretProjection {
                                    name: NATS_SECRET_NAME.into(),
                                    items: Some(vec![KeyToPath {
                                        key: AUTH_CONF_KEY.into(),
                                        path: AUTH_CONF_KEY.into(),
                                        ..Default::default()
                                    }]),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            },
                        ]
                        .into_iter()
                        .chain(mk_nats_tls_secret(spec).map(|_| VolumeProjection {
                            secret: Some(SecretProjection {
                                name: NATS_TLS_SECRET_NAME.into(),
                                items: Some(vec![
                                    KeyToPath {
                                        key: SERVER_CERT_KEY.into(),
                                        path: SERVER_CERT_KEY.into(),
                                        ..Default::default()
                                    },
                                    KeyToPath {
                                        key: SERVER_KEY_KEY.into(),
                                        path: SERVER_KEY_KEY.into(),
                                        // Readable by nats-server (fsGroup), nobody else.
                                        mode: Some(0o440),
                                    },
                                ]),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }))
                        .collect(),
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            },
            empty_dir("data", NATS_DATA_LIMIT),
        ]),
        ..Default::default()
    }
}

/// The labels that select the run's NATS pods (the single one or the StatefulSet's).
fn nats_selector(spec: &LaunchSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        (RUN_LABEL.to_string(), spec.run.to_string()),
        (COMPONENT_LABEL.to_string(), "nats".to_string()),
    ])
}

/// `--nats-replicas N` above 1: N clustered nats-server pods `nats-0` … `nats-<N-1>`, started
/// together (`podManagementPolicy: Parallel`: a JetStream cluster forms its quorum only once a
/// majority runs, and `OrderedReady` would wait for `nats-0` to be Ready first, which it is not
/// without a quorum). Each server is named after its pod and routes to every server's own
/// Service ([`mk_nats_pod_services`]), as the `cluster {}` block in `auth.conf` says. The store
/// is an emptyDir per pod: a replaced pod starts empty and catches up from its peers. Spread
/// over the nodes where it can be (preferred, so a two-node cluster still runs three).
pub fn mk_nats_statefulset(spec: &LaunchSpec) -> StatefulSet {
    let mut template_meta = ObjectMeta {
        labels: Some(labels(spec, Some("nats"))),
        ..Default::default()
    };
    template_meta.annotations = no_sidecar(spec);
    let mut pod = nats_pod_spec(spec, true);
    pod.affinity = Some(Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: Some(nats_selector(spec)),
                            ..Default::default()
                        }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..Default::default()
                    },
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    });
    StatefulSet {
        metadata: meta(spec, NATS_NAME, Some("nats")),
        spec: Some(StatefulSetSpec {
            replicas: Some(spec.nats_replicas.into()),
            pod_management_policy: Some("Parallel".into()),
            // The client Service (no cluster DNS is assumed: nothing resolves pod names).
            service_name: Some(NATS_NAME.into()),
            selector: LabelSelector {
                match_labels: Some(nats_selector(spec)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(template_meta),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `--nats-replicas` above 1: one ClusterIP Service per NATS server, selecting only its pod
/// (`statefulset.kubernetes.io/pod-name`), client and route ports. Their ClusterIPs are stable
/// while pods come and go, so they are the routes every server dials. They publish not-ready
/// addresses: a server is Ready only once it is in the cluster, which it joins through these.
pub fn mk_nats_pod_services(spec: &LaunchSpec) -> Vec<Service> {
    if !spec.nats_clustered() {
        return Vec::new();
    }
    (0..spec.nats_replicas)
        .map(|i| {
            let name = nats_pod_name(i);
            Service {
                metadata: meta(spec, &name, Some("nats")),
                spec: Some(ServiceSpec {
                    type_: Some("ClusterIP".into()),
                    selector: Some(BTreeMap::from([
                        (RUN_LABEL.to_string(), spec.run.to_string()),
                        ("statefulset.kubernetes.io/pod-name".to_string(), name),
                    ])),
                    publish_not_ready_addresses: Some(true),
                    ports: Some(vec![
                        service_port("client", NATS_CLIENT_PORT),
                        service_port("route", NATS_ROUTE_PORT),
                    ]),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect()
}

/// `--nats-replicas` above 1: a drain or an upgrade takes at most one NATS server at a time, so
/// the JetStream cluster keeps its majority.
pub fn mk_nats_pdb(spec: &LaunchSpec) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(spec, NATS_NAME, Some("nats")),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(nats_selector(spec)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn service_port(name: &str, n: u16) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: n.into(),
        target_port: Some(IntOrString::Int(n.into())),
        // Server-side apply of a Service fails on 1.20 without an explicit protocol.
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

pub fn mk_nats_service(spec: &LaunchSpec) -> Service {
    let port = service_port;
    Service {
        metadata: meta(spec, NATS_NAME, Some("nats")),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(nats_selector(spec)),
            // Only the client port: the monitoring port (no authentication) stays on the pod,
            // for its readiness probe (the kubelet's probes are not subject to NetworkPolicy).
            ports: Some(vec![port("client", NATS_CLIENT_PORT)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Labels of the in-cluster launcher's pod (deploy/job.yaml): the one pod outside a run that
/// may reach its NATS, when it runs with `--connect service` (the default in a pod).
pub const LAUNCHER_POD_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "netbench"),
    (COMPONENT_LABEL, "launcher"),
];
/// ... and of the namespaces it may run in (deploy/namespace.yaml, and every run's namespace).
/// Namespace labels are set by whoever may edit namespaces, not by whoever may create pods.
pub const LAUNCHER_NAMESPACE_LABEL: (&str, &str) = ("app.kubernetes.io/name", "netbench");

/// deploy/admission-policy.yaml: the policy that lets the launcher create hostNetwork pods
/// (its host workers only) once an admin opted in, and where that opt-in lives: ConfigMap
/// `netbench/netbench-admission`, key `hostNetwork`, shipped `forbidden`; `allowed` opts in.
pub const HOST_NETWORK_POLICY: &str = "netbench-launcher-host-network";
pub const ADMISSION_PARAMS_NAMESPACE: &str = "netbench";
pub const ADMISSION_PARAMS_NAME: &str = "netbench-admission";

/// Names of the run's NetworkPolicies.
pub const POLICY_DEFAULT_DENY: &str = "netbench-default-deny";
pub const POLICY_NATS: &str = "netbench-nats";
pub const POLICY_WORKERS: &str = "netbench-workers";

fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

fn policy_port(n: u16) -> NetworkPolicyPort {
    policy_port_of(n, "TCP")
}

fn policy_port_of(n: u16, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(n.into())),
        protocol: Some(protocol.into()),
        ..Default::default()
    }
}

/// The run's NetworkPolicies (ingress only; egress stays open for an external NATS or a
/// PushGateway). Policies add up, so together they say:
/// - [`POLICY_DEFAULT_DENY`]: no ingress to any pod of the run (the orchestrator gets none);
/// - [`POLICY_NATS`] (when NATS is deployed): its client port from the run's pods and from the
///   in-cluster launcher ([`LAUNCHER_POD_LABELS`] in a namespace labelled
///   [`LAUNCHER_NAMESPACE_LABEL`]); not the monitoring port. With `--paths host` also from
///   each selected node's InternalIP (`ipBlock` /32): a hostNetwork worker is no pod to a peer
///   selector, its traffic comes from its node's address;
/// - [`POLICY_WORKERS`]: the benchmark's ports from the run's workers (the same-node client
///   pods included; on the service path the traffic arrives DNATed to the server pod with the
///   client pod's address, so the same rule admits it).
///
/// A port-forward is not affected (it reaches the pod through its node's kubelet), nor are
/// the kubelet's probes. Nor are hostNetwork pods: no policy applies to them.
pub fn mk_network_policies(spec: &LaunchSpec) -> Vec<NetworkPolicy> {
    let run = spec.run.to_string();
    let policy =
        |name: &str, pods: LabelSelector, ingress: Option<Vec<NetworkPolicyIngressRule>>| {
            NetworkPolicy {
                metadata: meta(spec, name, Some("network-policy")),
                spec: Some(NetworkPolicySpec {
                    pod_selector: Some(pods),
                    policy_types: Some(vec!["Ingress".into()]),
                    ingress,
                    ..Default::default()
                }),
            }
        };
    let run_pods = NetworkPolicyPeer {
        pod_selector: Some(selector(&[(RUN_LABEL, &run)])),
        ..Default::default()
    };
    let mut v = vec![policy(
        POLICY_DEFAULT_DENY,
        selector(&[(RUN_LABEL, &run)]),
        None,
    )];
    if matches!(spec.nats, NatsPlan::Deploy { .. }) {
        let launcher = NetworkPolicyPeer {
            namespace_selector: Some(selector(&[LAUNCHER_NAMESPACE_LABEL])),
            pod_selector: Some(selector(&LAUNCHER_POD_LABELS)),
            ..Default::default()
        };
        let nats_pods = selector(&[(RUN_LABEL, &run), (COMPONENT_LABEL, "nats")]);
        let mut from = vec![run_pods, launcher];
        if spec.has_path(netbench_proto::Path::Host) {
            from.extend(spec.nodes.iter().filter_map(|n| n.ip).map(node_peer));
        }
        let mut rules = vec![NetworkPolicyIngressRule {
            from: Some(from),
            ports: Some(vec![policy_port(NATS_CLIENT_PORT)]),
        }];
        // A NATS cluster: the route port, between the run's NATS servers only.
        if spec.nats_clustered() {
            rules.push(NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    pod_selector: Some(nats_pods.clone()),
                    ..Default::default()
                }]),
                ports: Some(vec![policy_port(NATS_ROUTE_PORT)]),
            });
        }
        v.push(policy(POLICY_NATS, nats_pods, Some(rules)));
    }
    let workers = selector(&[(RUN_LABEL, &run), (COMPONENT_LABEL, "worker")]);
    v.push(policy(
        POLICY_WORKERS,
        workers.clone(),
        Some(vec![NetworkPolicyIngressRule {
            from: Some(vec![NetworkPolicyPeer {
                pod_selector: Some(workers),
                ..Default::default()
            }]),
            ports: Some(
                spec.ports()
                    .iter()
                    // A port that carries UDP data (iperf3-udp, netperf UDP_*) is open for both.
                    .flat_map(|p| {
                        std::iter::once(policy_port(p.number))
                            .chain(p.udp.then(|| policy_port_of(p.number, "UDP")))
                    })
                    .collect(),
            ),
        }]),
    ));
    v
}

/// A node's own address as a NetworkPolicy peer: exactly that address (`/32`, `/128`).
fn node_peer(ip: std::net::IpAddr) -> NetworkPolicyPeer {
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: format!("{ip}/{bits}"),
            except: None,
        }),
        ..Default::default()
    }
}

/// Pin a pod to one node the way DaemonSets do: required node affinity on `metadata.name`, so
/// the scheduler still checks taints and resources and says why when it cannot place the pod.
fn pin_to(node: &str) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_fields: Some(vec![NodeSelectorRequirement {
                        key: "metadata.name".into(),
                        operator: "In".into(),
                        values: Some(vec![node.to_string()]),
                    }]),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// How long a worker lives at most: the run's deadline plus room for the orchestrator to finish.
fn worker_deadline(spec: &LaunchSpec) -> String {
    format!("{}s", spec.deadline.as_secs() + 120)
}

/// One worker pod (see [`WorkerPod`]): pinned to its node, logged in to NATS as itself, its
/// placement in `NETBENCH_PLACEMENT` and in the [`PLACEMENT_LABEL`].
///
/// - `pod` (`worker-<node>`): the pod network; with `--paths service` also
///   `NETBENCH_SERVICE_IP`, its Service's ClusterIP (in `--dry-run`, a placeholder saying so).
/// - `host` (`hostnet-<node>`): `hostNetwork: true` (the node's own network: the baseline),
///   `dnsPolicy: ClusterFirstWithHostNet`, `NETBENCH_WORKER_IP` from `status.hostIP`, and no
///   containerPorts: with hostNetwork the API server would default each one's hostPort to its
///   containerPort, which deploy/'s admission policy forbids and which means nothing there (the
///   tools listen on the node's ports anyway). Otherwise the same `restricted`-style security
///   context as every pod: non-root, no privilege escalation, no capabilities, seccomp
///   RuntimeDefault, read-only root.
/// - `same-node` (`worker2-<node>`): a second pod on the node, the client of path same-node.
pub fn mk_worker_pod(spec: &LaunchSpec, w: &WorkerPod) -> Pod {
    let node = &w.node;
    let host = w.placement == Placement::Host;
    let id = w.id();
    let mut m = meta(spec, &w.name(), Some("worker"));
    m.labels.get_or_insert_with(Default::default).extend([
        (NODE_LABEL.to_string(), node.name.clone()),
        (PLACEMENT_LABEL.to_string(), w.placement.to_string()),
        (WORKER_LABEL.to_string(), id.to_string()),
    ]);
    if spec.inject {
        m.annotations = Some(if host {
            // Istio injects no hostNetwork pod; say so rather than leave it to the webhook.
            BTreeMap::from([("sidecar.istio.io/inject".to_string(), "false".to_string())])
        } else {
            BTreeMap::from([
                ("sidecar.istio.io/inject".to_string(), "true".to_string()),
                // Start the tools only once the proxy runs, or their first connections fail.
                (
                    "proxy.istio.io/config".to_string(),
                    r#"{"holdApplicationUntilProxyStarts":true}"#.to_string(),
                ),
            ])
        });
    }
    let user = format!("worker-{id}");
    let mut env_vars = nats_env(spec, &user);
    env_vars.extend([
        env("NETBENCH_RUN", spec.run.to_string()),
        env_field("NETBENCH_WORKER_NAME", "metadata.name"),
        env_field(
            "NETBENCH_WORKER_IP",
            if host {
                "status.hostIP"
            } else {
                "status.podIP"
            },
        ),
        env_field("NETBENCH_NODE_NAME", "spec.nodeName"),
        env("NETBENCH_ZONE", node.zone.clone()),
        env("NETBENCH_PLACEMENT", w.placement.to_string()),
        // iperf3 and friends write temp files; /tmp is the only writable place.
        env("TMPDIR", "/tmp"),
    ]);
    if w.placement == Placement::Pod && spec.has_path(netbench_proto::Path::Service) {
        let svc = id.to_string();
        env_vars.push(env(
            "NETBENCH_SERVICE_IP",
            match spec.service_ips.get(&svc) {
                Some(ip) => ip.to_string(),
                None => format!("set at launch: the ClusterIP of Service {svc}"),
            },
        ));
    }
    let ca: Vec<(Volume, VolumeMount)> = ca_volume(spec)
        .into_iter()
        .chain(login_volume(spec))
        .collect();
    let ports = (!host).then(|| {
        spec.ports()
            .iter()
            .map(|p| tcp_port(p.name, p.number))
            .collect()
    });
    Pod {
        metadata: m,
        spec: Some(PodSpec {
            affinity: Some(pin_to(&node.name)),
            host_network: host.then_some(true),
            // The cluster's DNS from the node's network, as from a pod.
            dns_policy: host.then(|| "ClusterFirstWithHostNet".to_string()),
            security_context: Some(pod_security()),
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
            restart_policy: Some("Never".into()),
            containers: vec![Container {
                name: "worker".into(),
                image: Some(spec.worker_image.clone()),
                // The image's entrypoint is netbench (docker/worker.Dockerfile).
                args: Some(vec![
                    "worker".into(),
                    "--deadline".into(),
                    worker_deadline(spec),
                ]),
                env: Some(env_vars),
                ports,
                resources: Some(worker_resources(spec.worker_cpu_limit.as_deref())),
                security_context: Some(container_security()),
                volume_mounts: Some(
                    [mount("tmp", "/tmp", false)]
                        .into_iter()
                        .chain(ca.iter().map(|(_, m)| m.clone()))
                        .collect(),
                ),
                ..Default::default()
            }],
            volumes: Some(
                [empty_dir("tmp", TMP_LIMIT)]
                    .into_iter()
                    .chain(ca.into_iter().map(|(v, _)| v))
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `--paths service`: one ClusterIP Service per pod worker, named after the worker's id
/// ([`LaunchSpec::worker_service_name`]) and selecting exactly that pod (the run and the
/// [`WORKER_LABEL`]), on every port of the run's benchmarks: TCP, and UDP as well where the
/// catalogue says the port carries UDP. The data ports are pinned, so netperf and qperf work
/// through it too. None without the service path.
pub fn mk_worker_services(spec: &LaunchSpec) -> Vec<Service> {
    if !spec.has_path(netbench_proto::Path::Service) {
        return Vec::new();
    }
    let ports: Vec<ServicePort> = spec
        .ports()
        .iter()
        .flat_map(|p| {
            let udp = p.udp.then(|| ServicePort {
                protocol: Some("UDP".into()),
                ..service_port(&format!("{}-udp", p.name), p.number)
            });
            std::iter::once(service_port(p.name, p.number)).chain(udp)
        })
        .collect();
    spec.nodes
        .iter()
        .map(|n| {
            let name = LaunchSpec::worker_service_name(&n.name);
            let mut m = meta(spec, &name, Some("worker"));
            m.labels
                .get_or_insert_with(Default::default)
                .insert(NODE_LABEL.to_string(), n.name.clone());
            Service {
                metadata: m,
                spec: Some(ServiceSpec {
                    type_: Some("ClusterIP".into()),
                    selector: Some(BTreeMap::from([
                        (RUN_LABEL.to_string(), spec.run.to_string()),
                        (WORKER_LABEL.to_string(), name.clone()),
                    ])),
                    ports: Some(ports.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect()
}

/// The key of the run's suite file in the `netbench-plan` ConfigMap.
pub const SUITE_FILE: &str = "suite";

/// Whether entries need a suite file: they differ in more than the benchmark (a list of
/// benchmarks with one length, one set of parameters, one number of samples and one set of
/// paths is flags).
pub fn needs_suite_file(entries: &[netbench_orchestrator::suite::Entry]) -> bool {
    entries.windows(2).any(|w| {
        (
            w[0].duration_seconds,
            w[0].parameters,
            w[0].samples,
            w[0].paths,
        ) != (
            w[1].duration_seconds,
            w[1].parameters,
            w[1].samples,
            w[1].paths,
        )
    })
}

/// The orchestrator's command line.
pub fn orchestrator_args(spec: &LaunchSpec) -> Vec<String> {
    let first = spec.entries[0];
    let mut args = vec!["orchestrator".into()];
    if spec.plan_files.contains_key(SUITE_FILE) {
        args.extend(["--suite".into(), format!("{PLAN_DIR}/{SUITE_FILE}")]);
    } else {
        let names: Vec<&str> = spec.entries.iter().map(|e| e.bench.name).collect();
        args.extend(["--benchmark".into(), names.join(",")]);
    }
    args.extend([
        "--run".into(),
        spec.run.to_string(),
        // Every worker pod of every placement: each registers on its own.
        "--workers".into(),
        spec.worker_pods().len().to_string(),
        "--expect".into(),
        spec.worker_names().join(","),
        "--timeout".into(),
        format!("{}s", spec.timeout.as_secs()),
        "--duration".into(),
        format!("{}s", first.duration_seconds),
        "--deadline".into(),
        format!("{}s", spec.deadline.as_secs()),
    ]);
    if !spec.plan_files.contains_key(SUITE_FILE) {
        args.extend(netbench_orchestrator::flags::ParamFlags::to_args(
            &first.parameters,
        ));
        if first.samples > 1 {
            args.extend(["--samples".into(), first.samples.to_string()]);
        }
        if !first.paths.is_pod_only() {
            args.extend(["--paths".into(), first.paths.to_string()]);
        }
    }
    if let Some(url) = &spec.pushgateway {
        args.extend(["--pushgateway".into(), url.clone()]);
    }
    // A NATS cluster: the run's stream and bucket on every server, so losing one loses nothing.
    if spec.nats_clustered() {
        args.extend(["--stream-replicas".into(), spec.nats_replicas.to_string()]);
    }
    // A stream and bucket of the user's naming, on their NATS.
    let default = netbench_bus::jetstream::StoreConfig::default();
    if spec.store.stream != default.stream {
        args.extend(["--stream".into(), spec.store.stream.clone()]);
    }
    if spec.store.bucket != default.bucket {
        args.extend(["--kv-bucket".into(), spec.store.bucket.clone()]);
    }
    let plan = &spec.plan;
    let plan_arg = match &plan.plan {
        PlanSpec::Pairs { .. } => format!("pairs:{PLAN_DIR}/pairs"),
        other => other.to_string(),
    };
    let plan_file = spec.plan_files.keys().any(|k| k != SUITE_FILE);
    if plan_arg != "mesh" || plan.concurrency != 1 || plan_file {
        args.extend(["--plan".into(), plan_arg]);
        if let Some(seed) = plan.seed {
            args.extend(["--seed".into(), seed.to_string()]);
        }
        args.extend(["--concurrency".into(), plan.concurrency.to_string()]);
        // The launcher checked the plan against the deadline before it made anything.
        args.push("--allow-partial".into());
        for role in ["clients", "servers"] {
            if spec.plan_files.contains_key(role) {
                args.extend([format!("--{role}"), format!("@{PLAN_DIR}/{role}")]);
            }
        }
    }
    args
}

/// The files of the plan (`pairs:FILE`, the nodes `--clients`/`--servers` chose), for the
/// orchestrator; none for a plain mesh.
pub fn mk_plan_configmap(spec: &LaunchSpec) -> Option<ConfigMap> {
    (!spec.plan_files.is_empty()).then(|| ConfigMap {
        metadata: meta(spec, PLAN_CONFIG_NAME, Some("orchestrator")),
        data: Some(spec.plan_files.clone()),
        ..Default::default()
    })
}

/// The plan ConfigMap's volume and mount, when there is one.
fn plan_volume(spec: &LaunchSpec) -> Option<(Volume, VolumeMount)> {
    (!spec.plan_files.is_empty()).then(|| {
        (
            Volume {
                name: "plan".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: PLAN_CONFIG_NAME.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            mount("plan", PLAN_DIR, true),
        )
    })
}

pub fn mk_orchestrator_job(spec: &LaunchSpec) -> Job {
    let mut template_meta = ObjectMeta {
        labels: Some(labels(spec, Some("orchestrator"))),
        ..Default::default()
    };
    template_meta.annotations = no_sidecar(spec);
    let (volumes, mounts): (Vec<Volume>, Vec<VolumeMount>) =
        [ca_volume(spec), plan_volume(spec), login_volume(spec)]
            .into_iter()
            .flatten()
            .unzip();
    Job {
        metadata: meta(spec, ORCHESTRATOR_NAME, Some("orchestrator")),
        spec: Some(JobSpec {
            backoff_limit: Some(2),
            active_deadline_seconds: Some((spec.deadline.as_secs() + 300) as i64),
            template: PodTemplateSpec {
                metadata: Some(template_meta),
                spec: Some(PodSpec {
                    restart_policy: Some("OnFailure".into()),
                    security_context: Some(pod_security()),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
                    containers: vec![Container {
                        name: "orchestrator".into(),
                        image: Some(spec.orch_image.clone()),
                        // The image's entrypoint is netbench (docker/netbench.Dockerfile).
                        args: Some(orchestrator_args(spec)),
                        env: Some(nats_env(spec, "orchestrator")),
                        resources: Some(resources(("50m", "32Mi"), ("500m", "128Mi"))),
                        security_context: Some(container_security()),
                        volume_mounts: (!mounts.is_empty()).then_some(mounts),
                        ..Default::default()
                    }],
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Secrets and ConfigMaps a pod spec refers to (volumes, projected volumes, env), each
/// sorted and once: what must exist before the kubelet can start the pod.
pub fn secrets_and_config_maps(ps: &PodSpec) -> (Vec<String>, Vec<String>) {
    let (mut secrets, mut maps) = (Vec::new(), Vec::new());
    for v in ps.volumes.iter().flatten() {
        secrets.extend(v.secret.as_ref().and_then(|s| s.secret_name.clone()));
        maps.extend(v.config_map.as_ref().map(|c| c.name.clone()));
        for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            secrets.extend(p.secret.as_ref().map(|s| s.name.clone()));
            maps.extend(p.config_map.as_ref().map(|c| c.name.clone()));
        }
    }
    for e in ps.containers.iter().flat_map(|c| c.env.iter().flatten()) {
        let from = e.value_from.as_ref();
        secrets.extend(
            from.and_then(|f| f.secret_key_ref.as_ref())
                .map(|r| r.name.clone()),
        );
        maps.extend(
            from.and_then(|f| f.config_map_key_ref.as_ref())
                .map(|r| r.name.clone()),
        );
    }
    secrets.sort();
    secrets.dedup();
    maps.sort();
    maps.dedup();
    (secrets, maps)
}

/// Every manifest as one multi-document YAML stream (`--dry-run`).
pub fn render_yaml(m: &Manifests) -> Result<String, serde_norway::Error> {
    let mut docs: Vec<String> = Vec::new();
    let mut push = |v: Result<String, serde_norway::Error>| -> Result<(), serde_norway::Error> {
        docs.push(v?);
        Ok(())
    };
    if m.create_namespace {
        push(to_yaml(&m.namespace))?;
    }
    for p in &m.network_policies {
        push(to_yaml(p))?;
    }
    for s in [&m.nats_secret, &m.nats_tls_secret, &m.nats_login_secret]
        .into_iter()
        .flatten()
    {
        push(to_yaml(s))?;
    }
    for c in [&m.nats_config, &m.nats_ca].into_iter().flatten() {
        push(to_yaml(c))?;
    }
    if let Some(p) = &m.nats_pod {
        push(to_yaml(p))?;
    }
    if let Some(s) = &m.nats_service {
        push(to_yaml(s))?;
    }
    for s in &m.nats_pod_services {
        push(to_yaml(s))?;
    }
    if let Some(s) = &m.nats_statefulset {
        push(to_yaml(s))?;
    }
    if let Some(p) = &m.nats_pdb {
        push(to_yaml(p))?;
    }
    for s in &m.worker_services {
        push(to_yaml(s))?;
    }
    for w in &m.workers {
        push(to_yaml(w))?;
    }
    if let Some(c) = &m.plan_config {
        push(to_yaml(c))?;
    }
    push(to_yaml(&m.orchestrator))?;
    Ok(docs
        .iter()
        .map(|d| format!("---\n{d}"))
        .collect::<Vec<_>>()
        .join(""))
}

/// One object as YAML, with `apiVersion` and `kind` (k8s-openapi adds them when serializing).
fn to_yaml<T: serde::Serialize>(obj: &T) -> Result<String, serde_norway::Error> {
    serde_norway::to_string(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netbench_bus::auth::RunCredentials;

    fn spec(inject: bool, external: Option<&str>) -> LaunchSpec {
        let run: RunId = "0123456789ab".parse().unwrap();
        let nodes = vec![
            NodeInfo {
                name: "n1".into(),
                zone: "zone-a".into(),
                ip: Some([192, 0, 2, 1].into()),
            },
            NodeInfo {
                name: "n2".into(),
                zone: String::new(),
                ip: Some([192, 0, 2, 2].into()),
            },
        ];
        let mut s = LaunchSpec {
            nats: NatsPlan::External { url: String::new() },
            tls: None,
            nats_login: Default::default(),
            run,
            entries: vec![netbench_orchestrator::suite::Entry {
                bench: netbench_bench::find("qperf-tcp").unwrap(),
                duration_seconds: 7,
                parameters: Default::default(),
                samples: 1,
                paths: Default::default(),
            }],
            namespace: "nb-test".into(),
            nodes,
            orch_image: "o:1".into(),
            worker_image: "w:1".into(),
            nats_image: "nats:2.10.22-alpine".into(),
            nats_replicas: 1,
            store: Default::default(),
            nats_cluster: None,
            inject,
            worker_cpu_limit: None,
            pushgateway: None,
            timeout: std::time::Duration::from_secs(90),
            deadline: std::time::Duration::from_secs(600),
            plan: Default::default(),
            plan_files: Default::default(),
            service_ips: Default::default(),
        };
        with_paths(&mut s, external, netbench_proto::Paths::default());
        s
    }

    /// The spec's entries measure `paths`; NATS (deployed unless `external`) gets a login for
    /// every worker pod they need, as [`crate::launch::make_spec`] makes them.
    fn with_paths(s: &mut LaunchSpec, external: Option<&str>, paths: netbench_proto::Paths) {
        for e in &mut s.entries {
            e.paths = paths;
        }
        s.nats = match external {
            Some(u) => NatsPlan::External { url: u.into() },
            None => NatsPlan::Deploy {
                url: "nats://10.96.0.7:4222".into(),
                creds: RunCredentials::generate(&s.run, &s.worker_ids()),
            },
        };
    }
    use netbench_proto::RunId;

    fn env_of(c: &Container) -> BTreeMap<String, EnvVar> {
        c.env
            .clone()
            .unwrap()
            .into_iter()
            .map(|e| (e.name.clone(), e))
            .collect()
    }

    /// Worker pods request CPU but have no CPU limit unless one is asked for (a limit's
    /// throttling caps multi-stream tests); memory stays limited.
    #[test]
    fn worker_pods_have_no_cpu_limit_unless_asked() {
        let node = WorkerPod {
            node: NodeInfo {
                name: "n1".into(),
                zone: "z".into(),
                ip: None,
            },
            placement: Placement::Pod,
        };
        let limits = |s: &LaunchSpec| {
            let pod = mk_worker_pod(s, &node);
            let r = pod.spec.unwrap().containers[0].resources.clone().unwrap();
            assert_eq!(r.requests.unwrap()["cpu"].0, "100m");
            r.limits.unwrap()
        };
        let mut s = spec(false, None);
        let l = limits(&s);
        assert!(!l.contains_key("cpu"), "{l:?}");
        assert_eq!(l["memory"].0, "512Mi");
        s.worker_cpu_limit = Some("1500m".into());
        assert_eq!(limits(&s)["cpu"].0, "1500m");
    }

    #[test]
    fn parameters_are_passed_to_the_orchestrator_only_when_given() {
        let mut s = spec(false, None);
        let plain = orchestrator_args(&s);
        assert!(!plain
            .iter()
            .any(|a| a == "--streams" || a == "--message-size"));
        s.entries[0].parameters = netbench_proto::Parameters {
            streams: None,
            message_size: Some(1024),
            rate: None,
        };
        let args = orchestrator_args(&s);
        let at = args.iter().position(|a| a == "--message-size").unwrap();
        assert_eq!(args[at + 1], "1024");
        assert!(!args.iter().any(|a| a == "--streams" || a == "--rate"));
    }

    #[test]
    fn several_entries_reach_the_orchestrator_as_flags_or_as_a_suite_file() {
        use netbench_orchestrator::suite::{parse_suite, Entry};
        let mut s = spec(false, None);
        let bench = |n: &str| netbench_bench::find(n).unwrap();
        let entry = |n: &str, samples: u32| Entry {
            bench: bench(n),
            duration_seconds: 7,
            parameters: Default::default(),
            samples,
            paths: Default::default(),
        };
        // One length, parameters and sample count: flags.
        s.entries = vec![entry("iperf3-tcp", 3), entry("iperf3-udp", 3)];
        assert!(!needs_suite_file(&s.entries));
        let args = orchestrator_args(&s);
        let at = args.iter().position(|a| a == "--benchmark").unwrap();
        assert_eq!(args[at + 1], "iperf3-tcp,iperf3-udp");
        let at = args.iter().position(|a| a == "--samples").unwrap();
        assert_eq!(args[at + 1], "3");
        assert!(!args.contains(&"--suite".to_string()));
        // Every benchmark's ports are open, each once; 5201 for UDP too.
        let ports = s.ports();
        assert_eq!(ports.len(), 1, "{ports:?}");
        assert!(ports[0].udp);
        // Entries that differ otherwise: the suite file, which gives the same entries back.
        s.entries[1].samples = 1;
        s.entries.push(entry("netperf-tcp-rr", 1));
        assert!(needs_suite_file(&s.entries));
        s.plan_files.insert(
            SUITE_FILE.into(),
            netbench_orchestrator::suite::to_suite(&s.entries),
        );
        let args = orchestrator_args(&s);
        let at = args.iter().position(|a| a == "--suite").unwrap();
        assert_eq!(args[at + 1], format!("{PLAN_DIR}/{SUITE_FILE}"));
        assert!(!args
            .iter()
            .any(|a| a == "--benchmark" || a == "--samples" || a == "--plan"));
        assert_eq!(
            parse_suite(&s.plan_files[SUITE_FILE], 1, 1, Default::default()).unwrap(),
            s.entries
        );
        assert!(mk_plan_configmap(&s).is_some());
        let ports: Vec<u16> = s.ports().iter().map(|p| p.number).collect();
        assert!(ports.contains(&5201) && ports.contains(&12865), "{ports:?}");
    }

    #[test]
    fn pushgateway_is_passed_to_the_orchestrator_only_when_given() {
        let mut s = spec(false, None);
        assert!(!orchestrator_args(&s).contains(&"--pushgateway".to_string()));
        s.pushgateway = Some("http://pgw:9091".into());
        let args = orchestrator_args(&s);
        let at = args.iter().position(|a| a == "--pushgateway").unwrap();
        assert_eq!(args[at + 1], "http://pgw:9091");
    }

    #[test]
    fn worker_is_pinned_to_its_node_with_downward_env_zone_and_the_benchmarks_ports() {
        let s = spec(false, None);
        let p = mk_worker_pod(&s, &s.worker_pods()[0]);
        assert_eq!(p.metadata.name.as_deref(), Some("worker-n1"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("nb-test"));
        let l = p.metadata.labels.clone().unwrap();
        assert_eq!(l[RUN_LABEL], "0123456789ab");
        assert_eq!(l[MANAGED_BY.0], "netbench");
        assert_eq!(l[COMPONENT_LABEL], "worker");
        let ps = p.spec.unwrap();
        let terms = ps
            .affinity
            .unwrap()
            .node_affinity
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .unwrap()
            .node_selector_terms;
        let f = &terms[0].match_fields.as_ref().unwrap()[0];
        assert_eq!(
            (
                f.key.as_str(),
                f.operator.as_str(),
                f.values.clone().unwrap()
            ),
            ("metadata.name", "In", vec!["n1".to_string()])
        );
        let c = &ps.containers[0];
        assert_eq!(c.image.as_deref(), Some("w:1"));
        let env = env_of(c);
        let field = |n: &str| {
            env[n]
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path
                .clone()
        };
        assert_eq!(field("NETBENCH_WORKER_NAME"), "metadata.name");
        assert_eq!(field("NETBENCH_WORKER_IP"), "status.podIP");
        assert_eq!(field("NETBENCH_NODE_NAME"), "spec.nodeName");
        assert_eq!(env["NETBENCH_ZONE"].value.as_deref(), Some("zone-a"));
        assert_eq!(env["NETBENCH_RUN"].value.as_deref(), Some("0123456789ab"));
        assert_eq!(
            env["NATS_URL"].value.as_deref(),
            Some("nats://10.96.0.7:4222")
        );
        // It may start before the NATS Service answers: it retries for --timeout.
        let wait = netbench_bench::flags::duration(env["NATS_WAIT"].value.as_deref().unwrap());
        assert_eq!(wait.unwrap(), s.timeout);
        // The worker logs in as itself, with its own password from the Secret.
        let user = format!("worker-{}", WorkerId::for_name("worker-n1"));
        assert_eq!(env["NATS_USER"].value.as_deref(), Some(user.as_str()));
        let key = &env["NATS_PASSWORD"]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap()
            .key;
        assert_eq!(key, &user);
        let secret = mk_nats_secret(&s).unwrap().string_data.unwrap();
        assert!(secret.contains_key(&user) && secret.contains_key(AUTH_CONF_KEY));
        // qperf's pinned control and data ports, TCP.
        let ports: Vec<(i32, String)> = c
            .ports
            .clone()
            .unwrap()
            .into_iter()
            .map(|p| (p.container_port, p.protocol.unwrap()))
            .collect();
        let want: Vec<(i32, String)> = s.entries[0]
            .bench
            .ports
            .iter()
            .map(|p| (i32::from(p.number), "TCP".to_string()))
            .collect();
        assert_eq!(ports, want);
        assert_eq!(ports.len(), 2);
        let sc = c.security_context.clone().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"]);
        assert!(
            p.metadata.annotations.is_none(),
            "no mesh annotations without --inject"
        );
    }

    use netbench_proto::WorkerId;

    #[test]
    fn inject_labels_the_namespace_and_meshes_only_the_workers() {
        let s = spec(true, None);
        let ns = mk_namespace(&s);
        assert_eq!(
            ns.metadata.labels.clone().unwrap()["istio-injection"],
            "enabled"
        );
        let w = mk_worker_pod(&s, &s.worker_pods()[1]);
        let a = w.metadata.annotations.unwrap();
        assert_eq!(a["sidecar.istio.io/inject"], "true");
        assert!(a["proxy.istio.io/config"].contains("holdApplicationUntilProxyStarts"));
        let job = mk_orchestrator_job(&s);
        let ta = job
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap();
        assert_eq!(ta["sidecar.istio.io/inject"], "false");
        let plain = mk_namespace(&spec(false, None)).metadata.labels.unwrap();
        assert!(!plain.contains_key("istio-injection"));
        // Restricted enforced without a mesh; only warned about with one (istio-init).
        let psa = |l: &BTreeMap<String, String>, mode: &str| {
            l.get(&format!("pod-security.kubernetes.io/{mode}"))
                .cloned()
        };
        let injected = ns.metadata.labels.clone().unwrap_or_default();
        for mode in ["enforce", "audit", "warn"] {
            assert_eq!(psa(&plain, mode).as_deref(), Some("restricted"), "{mode}");
        }
        assert_eq!(psa(&injected, "enforce"), None);
        assert_eq!(psa(&injected, "warn").as_deref(), Some("restricted"));
    }

    #[test]
    fn orchestrator_job_runs_the_run_and_expects_every_worker() {
        let s = spec(false, None);
        let job = mk_orchestrator_job(&s);
        let ps = job.spec.unwrap().template.spec.unwrap();
        assert_eq!(ps.restart_policy.as_deref(), Some("OnFailure"));
        let args = ps.containers[0].args.clone().unwrap();
        let joined = args.join(" ");
        assert!(joined.starts_with("orchestrator --benchmark qperf-tcp --run 0123456789ab --workers 2 --expect worker-n1,worker-n2"), "{joined}");
        assert!(joined.contains("--duration 7s") && joined.contains("--timeout 90s"));
        assert_eq!(
            env_of(&ps.containers[0])["NATS_USER"].value.as_deref(),
            Some("orchestrator")
        );
    }

    #[test]
    fn nats_objects_service_probe_and_external_nats() {
        let s = spec(false, None);
        let svc = mk_nats_service(&s).spec.unwrap();
        assert_eq!(svc.type_.as_deref(), Some("ClusterIP"));
        let ports: Vec<(i32, Option<String>)> = svc
            .ports
            .unwrap()
            .into_iter()
            .map(|p| (p.port, p.protocol))
            .collect();
        // The client port only: monitoring (8222, no authentication) is not published.
        assert_eq!(ports, [(4222, Some("TCP".into()))]);
        let pod = mk_nats_pod(&s);
        assert_eq!(svc.selector.unwrap(), {
            let l = pod.metadata.labels.clone().unwrap();
            BTreeMap::from([
                (RUN_LABEL.to_string(), l[RUN_LABEL].clone()),
                (COMPONENT_LABEL.to_string(), l[COMPONENT_LABEL].clone()),
            ])
        });
        let c = &pod.spec.unwrap().containers[0];
        let probe = c.readiness_probe.clone().unwrap().http_get.unwrap();
        assert_eq!(probe.path.as_deref(), Some("/healthz"));
        assert_eq!(probe.port, IntOrString::Int(8222));
        let cm = mk_nats_configmap(&s).data.unwrap();
        assert_eq!(cm["nats-server.conf"], NATS_SERVER_CONF);

        let ext = mk_all(&spec(false, Some("nats://nats.example:4222")));
        assert!(ext.nats_pod.is_none() && ext.nats_secret.is_none() && ext.nats_service.is_none());
        let env = env_of(&ext.workers[0].spec.as_ref().unwrap().containers[0]);
        assert_eq!(
            env["NATS_URL"].value.as_deref(),
            Some("nats://nats.example:4222")
        );
        assert!(!env.contains_key("NATS_PASSWORD"));
    }

    /// A `--tls` spec: the CA and server certificate generated as a launch does (ClusterIP
    /// 10.96.0.7) or, for an external NATS, a CA read from --nats-ca.
    fn tls_spec(external: Option<&str>) -> LaunchSpec {
        let mut s = spec(false, external);
        let mut cfg = crate::launch::tests::config(&["--tls"]);
        if external.is_some() {
            let dir = tempfile::tempdir().unwrap();
            let ca = netbench_bus::tls::RunTls::generate(&[], &["nats.example"])
                .unwrap()
                .write(dir.path())
                .unwrap();
            cfg = crate::launch::tests::config(&[
                "--nats-url",
                "tls://nats.example:4222",
                "--nats-ca",
                ca.to_str().unwrap(),
            ]);
            s.tls = crate::launch::tls_plan(&cfg, &s.namespace, None).unwrap();
            return s;
        }
        s.tls = crate::launch::tls_plan(&cfg, &s.namespace, Some([10, 96, 0, 7].into())).unwrap();
        s
    }

    #[test]
    fn tls_server_key_is_mounted_into_the_nats_pod_only_and_the_ca_into_every_client() {
        let s = tls_spec(None);
        let Some(TlsPlan::Deploy(tls)) = &s.tls else {
            panic!("a deployed NATS gets a generated CA")
        };
        let m = mk_all(&s);
        // The key and certificate: in the nats-tls Secret, nowhere else.
        let secret = m.nats_tls_secret.clone().unwrap();
        let data = secret.string_data.clone().unwrap();
        assert_eq!(data[SERVER_KEY_KEY], tls.key_pem);
        assert_eq!(data[SERVER_CERT_KEY], tls.cert_pem);
        let yaml = render_yaml(&m).unwrap();
        assert_eq!(
            yaml.matches("PRIVATE KEY-----").count(),
            2,
            "BEGIN and END, once"
        );
        // The CA ConfigMap holds the CA certificate and nothing private.
        let ca = m.nats_ca.clone().unwrap().data.unwrap();
        assert_eq!(ca.keys().collect::<Vec<_>>(), [CA_KEY]);
        assert_eq!(ca[CA_KEY], tls.ca_pem);
        assert!(!ca[CA_KEY].contains("PRIVATE"));

        // NATS: auth.conf includes the tls block for the files projected beside it.
        let auth = &m.nats_secret.clone().unwrap().string_data.unwrap()[AUTH_CONF_KEY];
        assert!(
            auth.contains(&format!("cert_file: \"{NATS_CONF_DIR}/{SERVER_CERT_KEY}\""))
                && auth.contains(&format!("key_file: \"{NATS_CONF_DIR}/{SERVER_KEY_KEY}\"")),
            "{auth}"
        );
        let nats = m.nats_pod.clone().unwrap().spec.unwrap();
        let (secrets, maps) = secrets_and_config_maps(&nats);
        assert_eq!(secrets, [NATS_SECRET_NAME, NATS_TLS_SECRET_NAME]);
        assert_eq!(maps, [NATS_CONFIG_NAME]);
        let config = nats.volumes.as_ref().unwrap()[0].clone();
        let items: Vec<(String, Option<i32>)> = config
            .projected
            .unwrap()
            .sources
            .unwrap()
            .into_iter()
            .flat_map(|p| {
                let items = p
                    .secret
                    .and_then(|s| s.items)
                    .or(p.config_map.and_then(|c| c.items));
                items.into_iter().flatten().map(|i| (i.path, i.mode))
            })
            .collect();
        assert_eq!(
            items,
            [
                ("nats-server.conf".to_string(), None),
                (AUTH_CONF_KEY.to_string(), None),
                (SERVER_CERT_KEY.to_string(), None),
                (SERVER_KEY_KEY.to_string(), Some(0o440)),
            ]
        );
        assert_eq!(
            nats.containers[0].volume_mounts.as_ref().unwrap()[0].mount_path,
            NATS_CONF_DIR
        );

        // Workers and orchestrator: the CA mounted read-only, NATS_CA naming it, the URL tls://.
        let job = m.orchestrator.spec.clone().unwrap().template.spec.unwrap();
        for ps in m
            .workers
            .iter()
            .map(|w| w.spec.clone().unwrap())
            .chain([job])
        {
            let (secrets, maps) = secrets_and_config_maps(&ps);
            assert_eq!(secrets, [NATS_SECRET_NAME], "passwords only");
            assert_eq!(maps, [NATS_CA_NAME]);
            let c = &ps.containers[0];
            let mnt = c
                .volume_mounts
                .iter()
                .flatten()
                .find(|v| v.name == "nats-ca")
                .unwrap();
            assert_eq!(
                (mnt.mount_path.as_str(), mnt.read_only),
                (NATS_CA_DIR, Some(true))
            );
            let env = env_of(c);
            assert_eq!(
                env["NATS_CA"].value.as_deref(),
                Some(format!("{NATS_CA_DIR}/{CA_KEY}").as_str())
            );
            // Which password each pod may read: only its own key of nats-auth.
            let keys: Vec<&str> = c
                .env
                .iter()
                .flatten()
                .filter_map(|e| e.value_from.as_ref()?.secret_key_ref.as_ref())
                .map(|r| r.key.as_str())
                .collect();
            assert_eq!(keys.len(), 1);
            assert!(!keys.contains(&AUTH_CONF_KEY));
        }

        // Without --tls: none of it, and the committed example stays as it is.
        let plain = mk_all(&spec(false, None));
        assert!(plain.nats_tls_secret.is_none() && plain.nats_ca.is_none());
        let yaml = render_yaml(&plain).unwrap();
        assert!(
            !yaml.contains("NATS_CA") && !yaml.contains("tls {"),
            "{yaml}"
        );
    }

    #[test]
    fn tls_with_an_external_nats_mounts_its_ca_and_deploys_no_server_certificate() {
        let s = tls_spec(Some("tls://nats.example:4222"));
        let m = mk_all(&s);
        assert!(m.nats_tls_secret.is_none() && m.nats_secret.is_none() && m.nats_pod.is_none());
        let ca = m.nats_ca.unwrap().data.unwrap();
        assert!(ca[CA_KEY].starts_with("-----BEGIN CERTIFICATE-----"));
        let env = env_of(&m.workers[0].spec.as_ref().unwrap().containers[0]);
        assert_eq!(
            env["NATS_URL"].value.as_deref(),
            Some("tls://nats.example:4222")
        );
        assert!(env.contains_key("NATS_CA"));
    }

    /// The generated certificate, checked by rustls's verifier (what async-nats uses) against
    /// the CA in the ConfigMap: valid for every name a client dials, for no other.
    #[test]
    fn tls_server_certificate_names_the_service_the_cluster_ip_and_loopback() {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName, UnixTime};
        let s = tls_spec(None);
        let m = mk_all(&s);
        let ca = &m.nats_ca.unwrap().data.unwrap()[CA_KEY];
        let cert = &m.nats_tls_secret.unwrap().string_data.unwrap()[SERVER_CERT_KEY];
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let cert = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        let verify = |name: &str| {
            verifier
                .verify_server_cert(
                    &cert,
                    &[],
                    &ServerName::try_from(name.to_string()).unwrap(),
                    &[],
                    UnixTime::now(),
                )
                .map(|_| ())
        };
        for ok in [
            "nats",
            "nats.nb-test",
            "nats.nb-test.svc",
            "nats.nb-test.svc.cluster.local",
            "10.96.0.7",
            "127.0.0.1",
            "localhost",
        ] {
            verify(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "nats.other.svc",
            "nb-test.svc",
            "10.96.0.8",
            "192.0.2.1",
            "example.com",
        ] {
            assert!(verify(bad).is_err(), "{bad} accepted");
        }
        // A fresh CA per run: another launch's certificate does not chain to this CA.
        let other = tls_spec(None);
        let Some(TlsPlan::Deploy(o)) = other.tls else {
            unreachable!()
        };
        let other_cert = CertificateDer::from_pem_slice(o.cert_pem.as_bytes()).unwrap();
        assert!(verifier
            .verify_server_cert(
                &other_cert,
                &[],
                &ServerName::try_from("nats").unwrap(),
                &[],
                UnixTime::now()
            )
            .is_err());
    }

    type Labels = BTreeMap<String, String>;
    /// (namespace selector, pod selector) label maps.
    type Peers = Vec<(Option<Labels>, Option<Labels>)>;
    type Rules = Vec<(Peers, Vec<i32>)>;
    /// The pods the policy named `name` selects, and its ingress rules: (peers, ports).
    fn policy(m: &Manifests, name: &str) -> (Labels, Rules) {
        let p = m
            .network_policies
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no NetworkPolicy {name}"));
        let spec = p.spec.clone().unwrap();
        assert_eq!(
            spec.policy_types.as_deref(),
            Some(&["Ingress".to_string()][..])
        );
        assert!(spec.egress.is_none());
        let labels = |s: Option<LabelSelector>| s.and_then(|s| s.match_labels);
        let rules = spec
            .ingress
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let peers = r
                    .from
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| (labels(p.namespace_selector), labels(p.pod_selector)))
                    .collect();
                let ports = r
                    .ports
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| {
                        assert_eq!(p.protocol.as_deref(), Some("TCP"));
                        match p.port {
                            Some(IntOrString::Int(n)) => n,
                            other => panic!("port {other:?}"),
                        }
                    })
                    .collect();
                (peers, ports)
            })
            .collect();
        (labels(spec.pod_selector).unwrap(), rules)
    }

    fn l(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn network_policies_let_only_the_run_reach_nats_and_the_workers_ports() {
        let s = spec(false, None);
        let m = mk_all(&s);
        let names: Vec<_> = m
            .network_policies
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, [POLICY_DEFAULT_DENY, POLICY_NATS, POLICY_WORKERS]);
        for p in &m.network_policies {
            let labels = p.metadata.labels.clone().unwrap();
            assert_eq!(labels[RUN_LABEL], "0123456789ab");
            assert_eq!(p.metadata.namespace.as_deref(), Some("nb-test"));
        }
        let run = ("netbench.io/run", "0123456789ab");
        // Every pod of the run: no ingress but what the others allow.
        let (pods, rules) = policy(&m, POLICY_DEFAULT_DENY);
        assert_eq!(pods, l(&[run]));
        assert!(rules.is_empty());
        // NATS: 4222 only (not 8222), from the run's pods and the in-cluster launcher.
        let (pods, rules) = policy(&m, POLICY_NATS);
        assert_eq!(pods, l(&[run, (COMPONENT_LABEL, "nats")]));
        assert_eq!(
            rules,
            [(
                vec![
                    (None, Some(l(&[run]))),
                    (
                        Some(l(&[("app.kubernetes.io/name", "netbench")])),
                        Some(l(&[
                            ("app.kubernetes.io/name", "netbench"),
                            (COMPONENT_LABEL, "launcher")
                        ]))
                    ),
                ],
                vec![4222]
            )]
        );
        // Workers: the benchmark's ports (qperf: control and data), from the run's workers.
        let (pods, rules) = policy(&m, POLICY_WORKERS);
        let workers = l(&[run, (COMPONENT_LABEL, "worker")]);
        assert_eq!(pods, workers);
        assert_eq!(rules, [(vec![(None, Some(workers))], vec![19765, 19766])]);
        // The selectors select what the builders label.
        let sel = |p: &Pod, sel: &BTreeMap<String, String>| {
            let have = p.metadata.labels.clone().unwrap();
            sel.iter().all(|(k, v)| have.get(k) == Some(v))
        };
        let nats = m.nats_pod.clone().unwrap();
        let (nats_sel, _) = policy(&m, POLICY_NATS);
        let (worker_sel, _) = policy(&m, POLICY_WORKERS);
        assert!(sel(&nats, &nats_sel) && !sel(&nats, &worker_sel));
        for w in &m.workers {
            assert!(sel(w, &worker_sel) && !sel(w, &nats_sel));
        }
        let orch = m.orchestrator.spec.clone().unwrap().template;
        let orch_labels = orch.metadata.unwrap().labels.unwrap();
        assert_eq!(
            orch_labels[RUN_LABEL], "0123456789ab",
            "default deny covers it"
        );
        // The launcher pod of deploy/job.yaml and its namespace carry the labels allowed in.
        let job: serde_json::Value =
            serde_norway::from_str(include_str!("../../../deploy/job.yaml")).unwrap();
        let ns: serde_json::Value =
            serde_norway::from_str(include_str!("../../../deploy/namespace.yaml")).unwrap();
        for (k, v) in LAUNCHER_POD_LABELS {
            assert_eq!(job["spec"]["template"]["metadata"]["labels"][k], v);
        }
        assert_eq!(
            ns["metadata"]["labels"][LAUNCHER_NAMESPACE_LABEL.0],
            LAUNCHER_NAMESPACE_LABEL.1
        );
        // Rendered with the rest (--dry-run).
        let yaml = render_yaml(&m).unwrap();
        assert_eq!(yaml.matches("kind: NetworkPolicy").count(), 3);

        // With an existing NATS there is no NATS policy; the workers' stays.
        let ext = mk_all(&spec(false, Some("nats://nats.example:4222")));
        let names: Vec<_> = ext
            .network_policies
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, [POLICY_DEFAULT_DENY, POLICY_WORKERS]);
    }

    #[test]
    fn images_pinned_by_digest_are_used_as_given() {
        let mut s = spec(false, None);
        let digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
        s.nats_image = format!("nats:2.10.22-alpine@{digest}");
        s.worker_image = format!("registry.example/netbench-worker@{digest}");
        s.orch_image = format!("registry.example/netbench:1.0@{digest}");
        let m = mk_all(&s);
        let image = |ps: &PodSpec| ps.containers[0].image.clone().unwrap();
        assert_eq!(
            image(m.nats_pod.as_ref().unwrap().spec.as_ref().unwrap()),
            s.nats_image
        );
        for w in &m.workers {
            assert_eq!(image(w.spec.as_ref().unwrap()), s.worker_image);
        }
        let job = m.orchestrator.spec.clone().unwrap().template.spec.unwrap();
        assert_eq!(image(&job), s.orch_image);
    }

    #[test]
    fn udp_data_ports_are_open_for_udp_too() {
        let mut sp = spec(false, None);
        sp.entries[0].bench = netbench_bench::find("iperf3-udp").unwrap();
        let policies = mk_network_policies(&sp);
        let workers = policies
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(POLICY_WORKERS))
            .unwrap();
        let ports: Vec<(i32, String)> = workers.spec.as_ref().unwrap().ingress.as_ref().unwrap()[0]
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| match (&p.port, &p.protocol) {
                (Some(IntOrString::Int(n)), Some(proto)) => (*n, proto.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(ports.contains(&(5201, "TCP".into())), "{ports:?}");
        assert!(ports.contains(&(5201, "UDP".into())), "{ports:?}");
        sp.entries[0].bench = netbench_bench::find("iperf3-tcp").unwrap();
        let tcp_only = mk_network_policies(&sp);
        let w = tcp_only
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(POLICY_WORKERS))
            .unwrap();
        assert!(w.spec.as_ref().unwrap().ingress.as_ref().unwrap()[0]
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .all(|p| p.protocol.as_deref() == Some("TCP")));
    }

    #[test]
    fn every_empty_dir_has_a_size_limit() {
        let m = mk_all(&spec(false, None));
        let pods = m
            .nats_pod
            .iter()
            .map(|p| p.spec.clone().unwrap())
            .chain(m.workers.iter().map(|w| w.spec.clone().unwrap()))
            .chain([m.orchestrator.spec.clone().unwrap().template.spec.unwrap()]);
        let mut seen = 0;
        for ps in pods {
            for v in ps.volumes.unwrap_or_default() {
                if let Some(e) = v.empty_dir {
                    seen += 1;
                    assert!(
                        e.size_limit.is_some(),
                        "emptyDir {} has no sizeLimit",
                        v.name
                    );
                }
            }
        }
        assert!(seen >= 2, "the NATS store and the orchestrator's tmp");
    }

    #[test]
    fn an_existing_nats_login_is_a_secret_mounted_only_into_the_pods_that_connect() {
        let login = NatsLogin {
            creds: Some("creds-value-1f2e\n".into()),
            nkey: Some("SUseed-value-3a4b\n".into()),
            token: Some("token-value-5c6d".into()),
        };
        let values = ["creds-value-1f2e", "SUseed-value-3a4b", "token-value-5c6d"];
        let mut s = spec(false, Some("nats://nats.example:4222"));
        s.nats_login = login.clone();
        let m = mk_all(&s);
        let secret = m.nats_login_secret.clone().expect("the login Secret");
        assert_eq!(
            secret.metadata.name.as_deref(),
            Some(NATS_LOGIN_SECRET_NAME)
        );
        assert_eq!(
            secret.metadata.labels.clone().unwrap()[RUN_LABEL],
            "0123456789ab"
        );
        let data = secret.string_data.clone().unwrap();
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            [LOGIN_TOKEN_KEY, LOGIN_CREDS_KEY, LOGIN_NKEY_KEY]
        );
        assert_eq!(data[LOGIN_TOKEN_KEY], "token-value-5c6d");

        let job = m.orchestrator.spec.clone().unwrap().template.spec.unwrap();
        for ps in m
            .workers
            .iter()
            .map(|w| w.spec.clone().unwrap())
            .chain([job])
        {
            let (secrets, _) = secrets_and_config_maps(&ps);
            assert_eq!(secrets, [NATS_LOGIN_SECRET_NAME]);
            // The files: read-only, 0440, readable by the pod's (non-root) user via fsGroup.
            let v = ps
                .volumes
                .iter()
                .flatten()
                .find(|v| v.name == "nats-login")
                .unwrap();
            let sv = v.secret.clone().unwrap();
            let items: Vec<(String, Option<i32>)> = sv
                .items
                .unwrap()
                .into_iter()
                .map(|i| (i.path, i.mode))
                .collect();
            assert_eq!(
                items,
                [
                    (LOGIN_CREDS_KEY.to_string(), Some(0o440)),
                    (LOGIN_NKEY_KEY.to_string(), Some(0o440))
                ]
            );
            let sc = ps.security_context.clone().unwrap();
            assert_eq!(
                (sc.run_as_non_root, sc.fs_group),
                (Some(true), Some(RUN_AS_USER))
            );
            let c = &ps.containers[0];
            let mnt = c
                .volume_mounts
                .iter()
                .flatten()
                .find(|m| m.name == "nats-login")
                .unwrap();
            assert_eq!(
                (mnt.mount_path.as_str(), mnt.read_only),
                (NATS_LOGIN_DIR, Some(true))
            );
            let env = env_of(c);
            assert_eq!(
                env["NATS_CREDS"].value.as_deref(),
                Some(format!("{NATS_LOGIN_DIR}/{LOGIN_CREDS_KEY}").as_str())
            );
            assert_eq!(
                env["NATS_NKEY"].value.as_deref(),
                Some(format!("{NATS_LOGIN_DIR}/{LOGIN_NKEY_KEY}").as_str())
            );
            let token = &env["NATS_TOKEN"];
            assert!(token.value.is_none());
            let r = token
                .value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .clone()
                .unwrap();
            assert_eq!(
                (r.name.as_str(), r.key.as_str()),
                (NATS_LOGIN_SECRET_NAME, LOGIN_TOKEN_KEY)
            );
            // No value in any env value or arg.
            let spec_json = serde_json::to_string(&ps).unwrap();
            for v in values {
                assert!(!spec_json.contains(v), "{v} in a pod spec: {spec_json}");
            }
        }
        // In the rendered YAML, only the Secret holds the values.
        let yaml = render_yaml(&m).unwrap();
        let with_values: Vec<&str> = yaml
            .split("---\n")
            .filter(|d| values.iter().any(|v| d.contains(v)))
            .collect();
        assert_eq!(with_values.len(), 1, "{yaml}");
        assert!(with_values[0].contains("kind: Secret"));
        assert!(with_values[0].contains(NATS_LOGIN_SECRET_NAME));

        // A token alone: no volume, only the env from the Secret.
        let mut t = spec(false, Some("nats://nats.example:4222"));
        t.nats_login.token = Some("tok".into());
        let m = mk_all(&t);
        let w = m.workers[0].spec.clone().unwrap();
        assert!(w.volumes.iter().flatten().all(|v| v.name != "nats-login"));
        assert!(env_of(&w.containers[0]).contains_key("NATS_TOKEN"));
        assert!(!env_of(&w.containers[0]).contains_key("NATS_CREDS"));

        // No login: no Secret, no env.
        let m = mk_all(&spec(false, Some("nats://nats.example:4222")));
        assert!(m.nats_login_secret.is_none());
        let env = env_of(&m.workers[0].spec.clone().unwrap().containers[0]);
        assert!(!env.contains_key("NATS_CREDS") && !env.contains_key("NATS_TOKEN"));

        // The NATS that netbench deploys has its own logins: no login Secret, and its own pod
        // mounts only its own Secrets.
        let mut d = spec(false, None);
        d.nats_login = login;
        let m = mk_all(&d);
        assert!(m.nats_login_secret.is_none());
        let nats = m.nats_pod.clone().unwrap().spec.unwrap();
        assert!(!secrets_and_config_maps(&nats)
            .0
            .contains(&NATS_LOGIN_SECRET_NAME.to_string()));
        let env = env_of(&m.workers[0].spec.clone().unwrap().containers[0]);
        assert!(!env.contains_key("NATS_CREDS") && !env.contains_key("NATS_TOKEN"));
    }

    // --- paths (issue #15): the workers, Services, namespace and policies each path needs ---

    fn paths(p: &str) -> netbench_proto::Paths {
        p.parse().unwrap()
    }

    /// A spec measuring `p` (deployed NATS), with `bench` instead of qperf-tcp when given.
    fn paths_spec(p: &str, bench: Option<&str>) -> LaunchSpec {
        let mut s = spec(false, None);
        if let Some(b) = bench {
            s.entries[0].bench = netbench_bench::find(b).unwrap();
        }
        with_paths(&mut s, None, paths(p));
        s
    }

    fn pod_named<'a>(m: &'a Manifests, name: &str) -> &'a Pod {
        m.workers
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no worker pod {name}"))
    }

    fn env_field_of(env: &BTreeMap<String, EnvVar>, name: &str) -> String {
        env[name]
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.clone())
            .unwrap_or_else(|| panic!("{name} is not from a field"))
    }

    fn pinned_node(p: &Pod) -> Vec<String> {
        p.spec
            .clone()
            .unwrap()
            .affinity
            .unwrap()
            .node_affinity
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .unwrap()
            .node_selector_terms[0]
            .match_fields
            .clone()
            .unwrap()[0]
            .values
            .clone()
            .unwrap()
    }

    #[test]
    fn the_paths_decide_which_worker_pods_there_are_each_named_and_logged_in_apart() {
        for (p, want) in [
            ("pod", &["worker-n1", "worker-n2"][..]),
            ("service", &["worker-n1", "worker-n2"]),
            ("host", &["hostnet-n1", "hostnet-n2"]),
            (
                "pod,host,service,same-node",
                &[
                    "worker-n1",
                    "worker-n2",
                    "hostnet-n1",
                    "hostnet-n2",
                    "worker2-n1",
                    "worker2-n2",
                ],
            ),
        ] {
            let s = paths_spec(p, None);
            let m = mk_all(&s);
            let names: Vec<String> = m
                .workers
                .iter()
                .map(|w| w.metadata.name.clone().unwrap())
                .collect();
            assert_eq!(names, want, "--paths {p}");
            assert_eq!(s.worker_names(), want);
            // Every worker logs in as itself: a login each, a password each, in the Secret.
            let secret = m.nats_secret.clone().unwrap().string_data.unwrap();
            let mut users = std::collections::BTreeSet::new();
            for w in &m.workers {
                let env = env_of(&w.spec.as_ref().unwrap().containers[0]);
                let user = env["NATS_USER"].value.clone().unwrap();
                let id = WorkerId::for_name(w.metadata.name.as_deref().unwrap());
                assert_eq!(user, format!("worker-{id}"));
                assert!(secret.contains_key(&user), "{user} has no password");
                assert!(secret[AUTH_CONF_KEY].contains(&format!("netbench.{}.", "0123456789ab")));
                users.insert(user);
                let l = w.metadata.labels.clone().unwrap();
                assert_eq!(l[WORKER_LABEL], id.to_string());
                assert_eq!(l[COMPONENT_LABEL], "worker");
            }
            assert_eq!(users.len(), want.len(), "one login per worker pod");
        }
    }

    #[test]
    fn host_workers_use_the_nodes_network_and_declare_no_ports() {
        let s = paths_spec("pod,host", Some("netperf-udp-rr"));
        let m = mk_all(&s);
        let host = pod_named(&m, "hostnet-n1");
        let pod = pod_named(&m, "worker-n1");
        let (hs, ps) = (host.spec.clone().unwrap(), pod.spec.clone().unwrap());
        assert_eq!(hs.host_network, Some(true));
        assert_eq!(hs.dns_policy.as_deref(), Some("ClusterFirstWithHostNet"));
        assert_eq!(ps.host_network, None);
        assert_eq!(ps.dns_policy, None);
        // No containerPorts: with hostNetwork the API server would make each a hostPort.
        assert_eq!(hs.containers[0].ports, None);
        assert_eq!(ps.containers[0].ports.as_ref().map(Vec::len), Some(2));
        // The same restricted-style security as every pod, nothing of the node's but its network.
        assert_eq!(hs.security_context, ps.security_context);
        assert_eq!(
            hs.containers[0].security_context,
            ps.containers[0].security_context
        );
        let psc = hs.security_context.clone().unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let sc = hs.containers[0].security_context.clone().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.privileged, None);
        assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"]);
        assert_eq!((hs.host_pid, hs.host_ipc), (None, None));
        assert!(hs.volumes.iter().flatten().all(|v| v.host_path.is_none()));
        // Pinned to its node; its address is the node's; it says where it runs.
        assert_eq!(pinned_node(host), ["n1"]);
        let env = env_of(&hs.containers[0]);
        assert_eq!(env_field_of(&env, "NETBENCH_WORKER_IP"), "status.hostIP");
        assert_eq!(env["NETBENCH_PLACEMENT"].value.as_deref(), Some("host"));
        assert!(!env.contains_key("NETBENCH_SERVICE_IP"));
        let penv = env_of(&ps.containers[0]);
        assert_eq!(env_field_of(&penv, "NETBENCH_WORKER_IP"), "status.podIP");
        assert_eq!(penv["NETBENCH_PLACEMENT"].value.as_deref(), Some("pod"));
        // The admission policy's opt-in matches host workers by these labels, and only them.
        let l = host.metadata.labels.clone().unwrap();
        assert_eq!(l[PLACEMENT_LABEL], "host");
        assert_eq!(l[COMPONENT_LABEL], "worker");
        assert_eq!(pod.metadata.labels.clone().unwrap()[PLACEMENT_LABEL], "pod");
        for other in [m.nats_pod.clone().unwrap().metadata]
            .into_iter()
            .chain(m.orchestrator.spec.clone().unwrap().template.metadata)
        {
            assert!(!other.labels.unwrap().contains_key(PLACEMENT_LABEL));
        }
        // With a mesh: no sidecar asked for in the node's network.
        let mut meshed = paths_spec("pod,host", None);
        meshed.inject = true;
        let mm = mk_all(&meshed);
        let a = pod_named(&mm, "hostnet-n2")
            .metadata
            .annotations
            .clone()
            .unwrap();
        assert_eq!(a["sidecar.istio.io/inject"], "false");
        let a = pod_named(&mm, "worker-n2")
            .metadata
            .annotations
            .clone()
            .unwrap();
        assert_eq!(a["sidecar.istio.io/inject"], "true");
    }

    #[test]
    fn same_node_clients_are_second_pods_pinned_beside_the_nodes_pod_worker() {
        let s = paths_spec("same-node", None);
        let m = mk_all(&s);
        for n in ["n1", "n2"] {
            let first = pod_named(&m, &format!("worker-{n}"));
            let second = pod_named(&m, &format!("worker2-{n}"));
            assert_eq!(pinned_node(first), [n]);
            assert_eq!(pinned_node(second), [n]);
            let env = env_of(&second.spec.as_ref().unwrap().containers[0]);
            assert_eq!(
                env["NETBENCH_PLACEMENT"].value.as_deref(),
                Some("same-node")
            );
            assert_eq!(env_field_of(&env, "NETBENCH_WORKER_IP"), "status.podIP");
            assert_eq!(env_field_of(&env, "NETBENCH_NODE_NAME"), "spec.nodeName");
            assert_eq!(second.spec.clone().unwrap().host_network, None);
            assert_ne!(
                first.metadata.labels.clone().unwrap()[WORKER_LABEL],
                second.metadata.labels.clone().unwrap()[WORKER_LABEL]
            );
        }
        // The same-node client is a worker to the workers' NetworkPolicy: admitted to the
        // server pod's ports.
        let (sel, _) = policy(&m, POLICY_WORKERS);
        let second = pod_named(&m, "worker2-n1").metadata.labels.clone().unwrap();
        assert!(sel.iter().all(|(k, v)| second.get(k) == Some(v)));
        assert!(
            m.worker_services.is_empty(),
            "no Services without --paths service"
        );
    }

    #[test]
    fn service_path_one_service_per_pod_worker_selecting_exactly_it_on_every_port() {
        // netperf UDP_RR: control 12865 TCP, data 12866 TCP and UDP.
        let mut s = paths_spec("pod,service,same-node,host", Some("netperf-udp-rr"));
        let m = mk_all(&s);
        assert_eq!(m.worker_services.len(), 2, "one per pod worker");
        let every_pod: Vec<Pod> = m
            .workers
            .iter()
            .cloned()
            .chain(m.nats_pod.clone())
            .collect();
        for (svc, node) in m.worker_services.iter().zip(["n1", "n2"]) {
            let name = svc.metadata.name.clone().unwrap();
            let id = WorkerId::for_name(&format!("worker-{node}")).to_string();
            assert_eq!(name, id);
            // A DNS-1035 label, whatever the node is called.
            assert!(
                name.len() <= 63
                    && name.starts_with(|c: char| c.is_ascii_lowercase())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            let labels = svc.metadata.labels.clone().unwrap();
            assert_eq!(labels[RUN_LABEL], "0123456789ab");
            assert_eq!(labels[MANAGED_BY.0], MANAGED_BY.1);
            let sp = svc.spec.clone().unwrap();
            assert_eq!(sp.type_.as_deref(), Some("ClusterIP"));
            let sel = sp.selector.unwrap();
            let selected: Vec<String> = every_pod
                .iter()
                .filter(|p| {
                    let l = p.metadata.labels.clone().unwrap();
                    sel.iter().all(|(k, v)| l.get(k) == Some(v))
                })
                .map(|p| p.metadata.name.clone().unwrap())
                .collect();
            assert_eq!(
                selected,
                [format!("worker-{node}")],
                "exactly the pod worker"
            );
            let ports: Vec<(i32, String, Option<IntOrString>)> = sp
                .ports
                .unwrap()
                .into_iter()
                .map(|p| (p.port, p.protocol.unwrap(), p.target_port))
                .collect();
            let int = |n| Some(IntOrString::Int(n));
            assert_eq!(
                ports,
                [
                    (12865, "TCP".into(), int(12865)),
                    (12866, "TCP".into(), int(12866)),
                    (12866, "UDP".into(), int(12866)),
                ]
            );
        }
        // Each pod worker gets its Service's ClusterIP; before it is known (--dry-run), a
        // placeholder saying where it comes from. No other worker gets one.
        let service_ip = |m: &Manifests, name: &str| {
            env_of(&pod_named(m, name).spec.as_ref().unwrap().containers[0])
                .get("NETBENCH_SERVICE_IP")
                .and_then(|e| e.value.clone())
        };
        let n1 = LaunchSpec::worker_service_name("n1");
        assert_eq!(
            service_ip(&m, "worker-n1"),
            Some(format!("set at launch: the ClusterIP of Service {n1}"))
        );
        for other in ["hostnet-n1", "worker2-n1"] {
            assert_eq!(service_ip(&m, other), None, "{other}");
        }
        s.service_ips = BTreeMap::from([
            (n1.clone(), "198.19.0.21".parse().unwrap()),
            (
                LaunchSpec::worker_service_name("n2"),
                "198.19.0.22".parse().unwrap(),
            ),
        ]);
        let m = mk_all(&s);
        assert_eq!(service_ip(&m, "worker-n1").as_deref(), Some("198.19.0.21"));
        assert_eq!(service_ip(&m, "worker-n2").as_deref(), Some("198.19.0.22"));
        // Rendered before the pods.
        let yaml = render_yaml(&m).unwrap();
        let svc_at = yaml.find(&format!("name: {n1}")).unwrap();
        let pod_at = yaml.find("name: worker-n1").unwrap();
        assert!(svc_at < pod_at);
        // Without the service path: no Services and no Service address.
        let plain = mk_all(&paths_spec("pod,same-node", None));
        assert!(plain.worker_services.is_empty());
        assert_eq!(service_ip(&plain, "worker-n1"), None);
    }

    #[test]
    fn pod_security_is_privileged_only_when_host_is_asked_for() {
        let psa = |s: &LaunchSpec, mode: &str| {
            mk_namespace(s)
                .metadata
                .labels
                .unwrap()
                .get(&format!("pod-security.kubernetes.io/{mode}"))
                .cloned()
        };
        for p in ["pod", "service", "same-node", "pod,service,same-node"] {
            let s = paths_spec(p, None);
            for mode in ["enforce", "audit", "warn"] {
                assert_eq!(psa(&s, mode).as_deref(), Some("restricted"), "{p} {mode}");
            }
        }
        for p in ["host", "pod,host,service,same-node"] {
            let mut s = paths_spec(p, None);
            assert_eq!(psa(&s, "enforce").as_deref(), Some("privileged"), "{p}");
            assert_eq!(psa(&s, "audit").as_deref(), Some("restricted"));
            assert_eq!(psa(&s, "warn").as_deref(), Some("restricted"));
            // With a mesh as well (istio-init fits in privileged).
            s.inject = true;
            assert_eq!(psa(&s, "enforce").as_deref(), Some("privileged"));
            assert_eq!(psa(&s, "warn").as_deref(), Some("restricted"));
        }
    }

    /// The NATS policy's peers as (pod selector labels or ipBlock cidr) for port 4222.
    fn nats_peers(m: &Manifests) -> Vec<String> {
        let p = m
            .network_policies
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(POLICY_NATS))
            .unwrap();
        let rules = p.spec.clone().unwrap().ingress.unwrap();
        let client: Vec<_> = rules
            .into_iter()
            .filter(|r| r.ports.clone().unwrap()[0].port == Some(IntOrString::Int(4222)))
            .collect();
        assert_eq!(client.len(), 1);
        client[0]
            .from
            .clone()
            .unwrap()
            .into_iter()
            .map(|p| match (p.ip_block, p.pod_selector) {
                (Some(b), None) => {
                    assert!(p.namespace_selector.is_none() && b.except.is_none());
                    b.cidr
                }
                (None, Some(sel)) => format!("pods {:?}", sel.match_labels.unwrap()),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn nats_admits_the_nodes_addresses_only_when_host_is_asked_for() {
        for p in ["pod", "pod,service,same-node"] {
            let peers = nats_peers(&mk_all(&paths_spec(p, None)));
            assert_eq!(
                peers.len(),
                2,
                "{p}: the run's pods and the launcher: {peers:?}"
            );
            assert!(peers.iter().all(|x| x.starts_with("pods ")), "{peers:?}");
        }
        let mut s = paths_spec("pod,host", None);
        let peers = nats_peers(&mk_all(&s));
        assert_eq!(peers[2..], ["192.0.2.1/32", "192.0.2.2/32"], "{peers:?}");
        // An IPv6 node is one address too; a node without an address adds none.
        s.nodes[0].ip = Some("fd00::1".parse().unwrap());
        s.nodes[1].ip = None;
        assert_eq!(nats_peers(&mk_all(&s))[2..], ["fd00::1/128"]);
        // The workers' policy is unchanged by host (no policy applies to hostNetwork pods).
        let with_host = mk_all(&paths_spec("pod,host", None));
        let without = mk_all(&paths_spec("pod", None));
        assert_eq!(
            policy(&with_host, POLICY_WORKERS),
            policy(&without, POLICY_WORKERS)
        );
    }

    #[test]
    fn orchestrator_args_carry_the_paths_and_count_every_worker_pod() {
        let after = |args: &[String], flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .map(|i| args[i + 1].clone())
        };
        let s = paths_spec("pod,host,service,same-node", None);
        let args = orchestrator_args(&s);
        assert_eq!(
            after(&args, "--paths").as_deref(),
            Some("pod,host,service,same-node")
        );
        assert_eq!(after(&args, "--workers").as_deref(), Some("6"));
        assert_eq!(
            after(&args, "--expect").as_deref(),
            Some("worker-n1,worker-n2,hostnet-n1,hostnet-n2,worker2-n1,worker2-n2")
        );
        let s = paths_spec("host", None);
        let args = orchestrator_args(&s);
        assert_eq!(after(&args, "--paths").as_deref(), Some("host"));
        assert_eq!(
            after(&args, "--expect").as_deref(),
            Some("hostnet-n1,hostnet-n2")
        );
        // pod alone: as before paths existed.
        let args = orchestrator_args(&paths_spec("pod", None));
        assert_eq!(after(&args, "--paths"), None);
        assert_eq!(after(&args, "--workers").as_deref(), Some("2"));
        // Entries with different paths: the suite file says them, the flags do not.
        use netbench_orchestrator::suite::{parse_suite, to_suite, Entry};
        let mut s = paths_spec("pod", None);
        s.entries.push(Entry {
            bench: netbench_bench::find("iperf3-tcp").unwrap(),
            paths: paths("host,same-node"),
            ..s.entries[0]
        });
        assert!(needs_suite_file(&s.entries));
        s.plan_files.insert(SUITE_FILE.into(), to_suite(&s.entries));
        let args = orchestrator_args(&s);
        assert_eq!(after(&args, "--paths"), None);
        assert!(after(&args, "--suite").is_some());
        assert_eq!(
            parse_suite(&s.plan_files[SUITE_FILE], 1, 1, Default::default()).unwrap(),
            s.entries
        );
        // ... and the pods of every entry's paths are there: pod, host and same-node.
        assert_eq!(after(&args, "--workers").as_deref(), Some("6"));
        let mut same = s.clone();
        same.entries[1].paths = same.entries[0].paths;
        assert!(!needs_suite_file(&same.entries));
    }

    /// deploy/README.md's table of the node ports the host path needs free is the catalogue's:
    /// every pinned port, TCP, and UDP where the benchmark sends UDP, and nothing else.
    #[test]
    fn the_host_paths_free_ports_in_deploy_readme_are_the_catalogues() {
        let readme = include_str!("../../../deploy/README.md");
        let at = readme.find("**Free node ports.**").expect("the section");
        let mut listed = std::collections::BTreeSet::new();
        for line in readme[at..].lines().skip(1) {
            let line = line.trim();
            if line.is_empty() || !line.starts_with('|') {
                if !listed.is_empty() {
                    break;
                }
                continue;
            }
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            for port in cells[0]
                .split(',')
                .filter_map(|p| p.trim().parse::<u16>().ok())
            {
                listed.insert((port, cells[1].to_string()));
            }
        }
        let mut want = std::collections::BTreeSet::new();
        for b in netbench_bench::catalogue::CATALOGUE {
            for p in b.ports {
                want.insert((p.number, "TCP".to_string()));
                if p.udp {
                    want.insert((p.number, "UDP".to_string()));
                }
            }
        }
        assert_eq!(listed, want);
    }

    /// deploy/admission-policy.yaml names what the launcher's messages name: the opt-in policy,
    /// its ConfigMap (shipped forbidden), and the labels that make a host worker.
    #[test]
    fn the_admission_policy_file_agrees_with_the_launcher() {
        let text = include_str!("../../../deploy/admission-policy.yaml");
        let docs: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let find = |kind: &str, name: &str| {
            docs.iter()
                .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("no {kind} {name} in deploy/admission-policy.yaml"))
        };
        let policy = find("ValidatingAdmissionPolicy", HOST_NETWORK_POLICY);
        assert_eq!(policy["spec"]["paramKind"]["kind"], "ConfigMap");
        let binding = find("ValidatingAdmissionPolicyBinding", HOST_NETWORK_POLICY);
        let pr = &binding["spec"]["paramRef"];
        assert_eq!(pr["name"], ADMISSION_PARAMS_NAME);
        assert_eq!(pr["namespace"], ADMISSION_PARAMS_NAMESPACE);
        assert_eq!(pr["parameterNotFoundAction"], "Deny");
        let cm = find("ConfigMap", ADMISSION_PARAMS_NAME);
        assert_eq!(cm["metadata"]["namespace"], ADMISSION_PARAMS_NAMESPACE);
        assert_eq!(cm["data"]["hostNetwork"], "forbidden");
        // The launcher cannot write there: not one of its namespaces, not its object.
        let ns: serde_json::Value =
            serde_norway::from_str(include_str!("../../../deploy/namespace.yaml")).unwrap();
        assert_eq!(ns["metadata"]["name"], ADMISSION_PARAMS_NAMESPACE);
        assert!(ns["metadata"]["labels"][MANAGED_BY.0].is_null());
        assert!(cm["metadata"]["labels"][MANAGED_BY.0].is_null());
        let pods = find("ValidatingAdmissionPolicy", "netbench-launcher-pods");
        let vars = pods["spec"]["variables"].to_string();
        assert!(
            vars.contains(PLACEMENT_LABEL) && vars.contains("'host'"),
            "{vars}"
        );
    }
}

/// `--nats-replicas`: the NATS cluster's objects.
#[cfg(test)]
mod nats_cluster_tests {
    use super::*;
    use crate::launch::tests::config;
    use netbench_proto::RunId;

    fn nodes() -> Vec<NodeInfo> {
        ["n1", "n2", "n3"]
            .iter()
            .map(|n| NodeInfo {
                name: n.to_string(),
                zone: String::new(),
                ip: None,
            })
            .collect()
    }

    /// A launch spec as a launch has it once the Services exist (their ClusterIPs known).
    #[test]
    fn stream_and_bucket_names_reach_the_orchestrator_only_with_an_external_nats() {
        let cfg = crate::launch::tests::config(&[
            "--nats-url",
            "nats://nats.example:4222",
            "--stream",
            "TEAM_X",
            "--kv-bucket",
            "TEAM_X_RUNS",
        ]);
        cfg.check().unwrap();
        let spec = crate::launch::make_spec(&cfg, "0123456789ab".parse().unwrap(), vec![]);
        let args = orchestrator_args(&spec);
        let after = |flag: &str| args[args.iter().position(|a| a == flag).unwrap() + 1].clone();
        assert_eq!(after("--stream"), "TEAM_X");
        assert_eq!(after("--kv-bucket"), "TEAM_X_RUNS");
        // The defaults add nothing.
        let plain = crate::launch::tests::config(&["--nats-url", "nats://nats.example:4222"]);
        let plain = crate::launch::make_spec(&plain, "0123456789ab".parse().unwrap(), vec![]);
        assert!(!orchestrator_args(&plain).iter().any(|a| a == "--stream"));
        // Without --nats-url they have nowhere to go: exit 2, before anything is deployed.
        let ours = crate::launch::tests::config(&["--stream", "TEAM_X"]);
        let e = ours.check().unwrap_err().to_string();
        assert!(e.contains("apply to --nats-url"), "{e}");
    }

    fn clustered(args: &[&str]) -> LaunchSpec {
        let run: RunId = "0123456789ab".parse().unwrap();
        let mut s = crate::launch::make_spec(&config(args), run, nodes());
        let ips: Vec<String> = (0..s.nats_replicas)
            .map(|i| format!("198.19.0.{}", 10 + i))
            .collect();
        crate::launch::set_nats_routes(&mut s, &ips);
        s
    }

    #[test]
    fn three_replicas_make_a_parallel_statefulset_named_after_its_pods_with_routes_by_ip() {
        let s = clustered(&["--nats-replicas", "3"]);
        let m = mk_all(&s);
        assert!(
            m.nats_pod.is_none(),
            "no single NATS pod beside the cluster"
        );
        let sts = m.nats_statefulset.clone().unwrap();
        let st = sts.spec.clone().unwrap();
        assert_eq!(st.replicas, Some(3));
        assert_eq!(st.pod_management_policy.as_deref(), Some("Parallel"));
        let tmpl = st.template.clone();
        let tl = tmpl.metadata.unwrap().labels.unwrap();
        for (k, v) in st.selector.match_labels.clone().unwrap() {
            assert_eq!(tl[&k], v, "the selector matches the template");
        }
        assert_eq!(tl[COMPONENT_LABEL], "nats");
        assert_eq!(tl[MANAGED_BY.0], "netbench");
        let ps = tmpl.spec.unwrap();
        let c = &ps.containers[0];
        let env: BTreeMap<String, EnvVar> = c
            .env
            .clone()
            .unwrap()
            .into_iter()
            .map(|e| (e.name.clone(), e))
            .collect();
        // server_name: $NETBENCH_NATS_NAME, from the pod's own name.
        let name = env["NETBENCH_NATS_NAME"].value_from.clone().unwrap();
        assert_eq!(name.field_ref.unwrap().field_path, "metadata.name");
        let ports: Vec<i32> = c
            .ports
            .clone()
            .unwrap()
            .iter()
            .map(|p| p.container_port)
            .collect();
        assert_eq!(ports, [4222, 8222, 6222]);
        // The same restricted security context and store as the single pod.
        let single = nats_pod_spec(&s, false);
        assert_eq!(ps.security_context, single.security_context);
        assert_eq!(c.security_context, single.containers[0].security_context);
        assert_eq!(ps.volumes, single.volumes);
        assert!(ps
            .volumes
            .iter()
            .flatten()
            .any(|v| v.name == "data" && v.empty_dir.is_some()));
        // The routes: every server's Service ClusterIP, authenticated, in auth.conf.
        let auth = m.nats_secret.clone().unwrap().string_data.unwrap()[AUTH_CONF_KEY].clone();
        let routes = s.nats_cluster.clone().unwrap();
        assert_eq!(
            routes.routes,
            ["198.19.0.10:6222", "198.19.0.11:6222", "198.19.0.12:6222"]
        );
        for ip in ["198.19.0.10", "198.19.0.11", "198.19.0.12"] {
            assert!(
                auth.contains(&format!("nats-route://route:{}@{ip}:6222", routes.password)),
                "{auth}"
            );
        }
        assert!(auth.contains("listen: \"0.0.0.0:6222\""), "{auth}");
        // The Secret is rendered the same on every call (the password was made once).
        assert_eq!(
            mk_nats_secret(&s).unwrap().string_data.unwrap()[AUTH_CONF_KEY],
            auth
        );
    }

    #[test]
    fn one_service_per_server_a_client_service_for_all_and_a_pdb() {
        let s = clustered(&["--nats-replicas", "5"]);
        let m = mk_all(&s);
        let names: Vec<String> = m
            .nats_pod_services
            .iter()
            .map(|x| x.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["nats-0", "nats-1", "nats-2", "nats-3", "nats-4"]);
        for (i, svc) in m.nats_pod_services.iter().enumerate() {
            let sp = svc.spec.clone().unwrap();
            let sel = sp.selector.unwrap();
            assert_eq!(
                sel["statefulset.kubernetes.io/pod-name"],
                format!("nats-{i}")
            );
            assert_eq!(sp.type_.as_deref(), Some("ClusterIP"));
            // A server joins the cluster (and so turns Ready) through these.
            assert_eq!(sp.publish_not_ready_addresses, Some(true));
            let ports: Vec<i32> = sp.ports.unwrap().iter().map(|p| p.port).collect();
            assert_eq!(ports, [4222, 6222]);
        }
        // The client Service selects every NATS pod, and only the client port.
        let client = m.nats_service.clone().unwrap().spec.unwrap();
        let tl = m.nats_statefulset.clone().unwrap().spec.unwrap().template;
        let tl = tl.metadata.unwrap().labels.unwrap();
        for (k, v) in client.selector.unwrap() {
            assert_eq!(tl[&k], v);
        }
        assert_eq!(client.ports.unwrap().len(), 1);
        let pdb = m.nats_pdb.clone().unwrap().spec.unwrap();
        assert_eq!(pdb.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(
            pdb.selector.unwrap().match_labels,
            m.nats_statefulset
                .unwrap()
                .spec
                .unwrap()
                .selector
                .match_labels
        );
        assert_eq!(
            s.nats_pod_names(),
            ["nats-0", "nats-1", "nats-2", "nats-3", "nats-4"]
        );
    }

    #[test]
    fn the_orchestrator_creates_the_stream_and_bucket_with_as_many_replicas() {
        let args = orchestrator_args(&clustered(&["--nats-replicas", "3"]));
        let at = args.iter().position(|a| a == "--stream-replicas").unwrap();
        assert_eq!(args[at + 1], "3");
        for one in [clustered(&[]), clustered(&["--nats-replicas", "1"])] {
            assert!(!orchestrator_args(&one).contains(&"--stream-replicas".to_string()));
        }
    }

    #[test]
    fn one_replica_deploys_the_single_pod_as_before() {
        for s in [clustered(&[]), clustered(&["--nats-replicas", "1"])] {
            let m = mk_all(&s);
            assert!(m.nats_pod.is_some());
            assert!(
                m.nats_statefulset.is_none() && m.nats_pdb.is_none() && s.nats_cluster.is_none()
            );
            assert!(m.nats_pod_services.is_empty());
            let auth = &m.nats_secret.unwrap().string_data.unwrap()[AUTH_CONF_KEY];
            assert!(!auth.contains("cluster {"), "{auth}");
            let env = m.nats_pod.unwrap().spec.unwrap().containers[0]
                .env
                .clone()
                .unwrap();
            let name = env.iter().find(|e| e.name == "NETBENCH_NATS_NAME").unwrap();
            assert_eq!(name.value.as_deref(), Some("netbench"));
            assert_eq!(s.nats_pod_names(), ["nats"]);
        }
    }

    #[test]
    fn the_route_port_is_open_only_between_the_runs_nats_servers() {
        let s = clustered(&["--nats-replicas", "3"]);
        let m = mk_all(&s);
        let nats = m
            .network_policies
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(POLICY_NATS))
            .unwrap()
            .spec
            .clone()
            .unwrap();
        let rules = nats.ingress.unwrap();
        let port = |r: &NetworkPolicyIngressRule| r.ports.clone().unwrap()[0].port.clone();
        let route: Vec<_> = rules
            .iter()
            .filter(|r| port(r) == Some(IntOrString::Int(6222)))
            .collect();
        assert_eq!(route.len(), 1);
        let from = route[0].from.clone().unwrap();
        assert_eq!(from.len(), 1);
        assert!(from[0].namespace_selector.is_none());
        assert_eq!(
            from[0].pod_selector.clone().unwrap().match_labels.unwrap(),
            BTreeMap::from([
                (RUN_LABEL.to_string(), "0123456789ab".to_string()),
                (COMPONENT_LABEL.to_string(), "nats".to_string()),
            ])
        );
        assert_eq!(route[0].ports.clone().unwrap().len(), 1);
        // Nothing else opens 6222; 4222 as with one server.
        assert!(rules
            .iter()
            .filter(|r| port(r) == Some(IntOrString::Int(4222)))
            .all(|r| r.ports.clone().unwrap().len() == 1));
        let single = mk_all(&clustered(&[]));
        let p = single
            .network_policies
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(POLICY_NATS))
            .unwrap();
        assert_eq!(p.spec.clone().unwrap().ingress.unwrap().len(), 1);
    }

    #[test]
    fn a_replica_count_without_a_majority_or_with_an_external_nats_is_refused() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            launch: crate::cli::LaunchArgs,
        }
        for bad in ["0", "2", "4", "6", "7", "300", "three"] {
            let e = Cli::try_parse_from(["l", "--benchmark", "iperf3-tcp", "--nats-replicas", bad])
                .err()
                .unwrap_or_else(|| panic!("--nats-replicas {bad} accepted"));
            // clap's usage error: exit code 2, before anything is deployed.
            assert_eq!(e.exit_code(), 2);
            let msg = e.to_string();
            assert!(msg.contains("1, 3 or 5"), "{msg}");
        }
        for ok in ["1", "3", "5"] {
            assert!(config(&["--nats-replicas", ok]).check().is_ok());
        }
        let e = config(&["--nats-replicas", "3", "--nats-url", "nats://n:4222"])
            .check()
            .unwrap_err();
        assert!(matches!(e, crate::LaunchError::Usage(_)), "{e}");
        assert!(e.to_string().contains("--nats-url"), "{e}");
        // A config built in code is checked the same way.
        let mut cfg = config(&[]);
        cfg.nats_replicas = Some(4);
        assert!(matches!(cfg.check(), Err(crate::LaunchError::Usage(_))));
    }
}
