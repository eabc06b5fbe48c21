//! Network namespaces as nodes, pods in them wired the way the CNI ptp plugin wires pods, and
//! Service addresses behind DNAT rules the way kube-proxy writes them.
//!
//! Addresses, for `--subnet 198.S.X.0/24` (S is 18 or 19, S' the other one):
//! - node i: namespace `nb-<tag>-<i>`, `eth0` 198.S.X.i/24 on the bridge `nbbr-<tag>` in the
//!   host namespace, whose 198.S.X.254 is the gateway (the NATS relay listens there). No default
//!   route: nodes reach each other and the gateway, nothing else.
//! - node i's pod: namespace `nb-<tag>-<i>-pod`, `eth0` 198.S'.X.i/32 behind its own veth pair
//!   (the node's end is `pod0`); its second pod (path same-node): `nb-<tag>-<i>-pod2`,
//!   198.S'.X.(80+i), node end `pod1`. A pod has two routes, its node on-link and 198.18.0.0/15
//!   via its node; a node routes its pods to their veths and every other node's pods via that
//!   node, and forwards (`ip_forward` in the node's namespace only, never the host's). The host
//!   routes each pod via its node, for the relay's replies; those routes go with the bridge.
//! - the Service address of node i's pod, 198.S'.X.(160+i): virtual, only in DNAT rules. Every
//!   node has a nat chain `NETBENCH-SERVICES`, jumped to from PREROUTING and OUTPUT, with one
//!   rule per Service address and port (TCP, and UDP where the benchmark sends UDP) to the pod,
//!   so a pod's connection to a Service is translated in its own node, as kube-proxy does.
//!
//! Only what the run's paths need is made ([`Layout`]): pods for pod, service and same-node,
//! second pods for same-node, DNAT rules for service. Hence at most 80 nodes (250 without pods).

use netbench_bench::Port;
use netbench_proto::{Path, Paths, Placement};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The most nodes of a bed with pods: node i's pods and Service address are .i, .(80+i) and
/// .(160+i) of the pods' /24.
pub const MAX_NODES: usize = 80;
/// The most nodes of a bed without pods (the node /24 has .1 to .250 before the gateway).
pub const MAX_NODES_WITHOUT_PODS: usize = 250;
const SECOND_POD_OFFSET: usize = 80;
const SERVICE_OFFSET: usize = 160;
/// The nat chain that holds the Service rules in every node's namespace.
pub const SERVICE_CHAIN: &str = "NETBENCH-SERVICES";

#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error("network namespaces need root (ip link add failed: {0}). Run `sudo netbench local …`")]
    NotRoot(String),
    #[error("{cmd} failed: {stderr}")]
    Ip { cmd: String, stderr: String },
    #[error("subnet {0} is not a /24 inside 198.18.0.0/15; use e.g. --subnet 198.18.7.0/24")]
    Subnet(String),
    #[error("{subnet} (the {what} /24) is already in use on this host (an address or a route in it; another netbench local?); pick another --subnet")]
    InUse { subnet: Subnet, what: &'static str },
    #[error("netbench local runs 2 to {max} nodes, not {nodes}{why}")]
    Nodes {
        nodes: usize,
        max: usize,
        why: &'static str,
    },
    #[error("{cmd} failed: {stderr}")]
    Tc { cmd: String, stderr: String },
    #[error(
        "{0} is not installed, and --paths service needs it (the Service addresses are DNAT \
         rules in the node namespaces, as kube-proxy writes them): apt-get install iptables"
    )]
    NoIptables(&'static str),
    #[error("cannot load the Service rules into {netns}: {stderr}")]
    Iptables { netns: String, stderr: String },
    #[error("cannot turn on forwarding in {netns}: {error}")]
    Forwarding { netns: String, error: String },
}

/// A link rate for `tc ... tbf`, in bits per second (`--link-rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRate {
    pub bits_per_second: u64,
}

/// Why a `--link-rate` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "link rate {0:?} is not a rate like 100mbit, 2.5gbit or 500kbit \
     (bits per second, units kbit, mbit or gbit, from 8kbit to 400gbit)"
)]
pub struct BadLinkRate(pub String);

impl std::str::FromStr for LinkRate {
    type Err = BadLinkRate;
    fn from_str(s: &str) -> Result<LinkRate, BadLinkRate> {
        let bad = || BadLinkRate(s.to_string());
        let lower = s.trim().to_ascii_lowercase();
        let split = lower
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, unit) = lower.split_at(split);
        let scale = match unit {
            "kbit" => 1e3,
            "mbit" => 1e6,
            "gbit" => 1e9,
            _ => return Err(bad()),
        };
        let n: f64 = number.parse().map_err(|_| bad())?;
        let bits = (n * scale).round();
        if !(8e3..=400e9).contains(&bits) {
            return Err(bad());
        }
        Ok(LinkRate {
            bits_per_second: bits as u64,
        })
    }
}

impl std::fmt::Display for LinkRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}bit", self.bits_per_second)
    }
}

impl LinkRate {
    /// The tbf bucket in bytes: 4 ms at the rate (a 250 Hz kernel tick), at least 64 KiB so
    /// that one GSO segment fits.
    pub fn burst_bytes(&self) -> u64 {
        (self.bits_per_second / 8 / 250).max(64 * 1024)
    }
}

/// A /24 in 198.18.0.0/15, given by its third octet and whether it is 198.19.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub second: u8,
    pub third: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet, TestbedError> {
        let bad = || TestbedError::Subnet(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let o = addr.octets();
        if len != "24" || o[0] != 198 || !(o[1] == 18 || o[1] == 19) || o[3] != 0 {
            return Err(bad());
        }
        Ok(Subnet {
            second: o[1],
            third: o[2],
        })
    }
    pub fn host(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, self.second, self.third, last)
    }
    pub fn gateway(&self) -> Ipv4Addr {
        self.host(254)
    }
    /// The /24 the pods and Service addresses of a bed on this one live in: the same third
    /// octet in the other half of 198.18.0.0/15 (198.19.X.0/24 for 198.18.X.0/24 and back).
    pub fn pods(&self) -> Subnet {
        Subnet {
            second: if self.second == 18 { 19 } else { 18 },
            third: self.third,
        }
    }
    /// Node `i`'s address (1-based).
    pub fn node_ip(&self, i: usize) -> Ipv4Addr {
        self.host(i as u8)
    }
    /// Node `i`'s pod.
    pub fn pod_ip(&self, i: usize) -> Ipv4Addr {
        self.pods().host(i as u8)
    }
    /// Node `i`'s second pod (path same-node).
    pub fn second_pod_ip(&self, i: usize) -> Ipv4Addr {
        self.pods().host((SECOND_POD_OFFSET + i) as u8)
    }
    /// The Service address in front of node `i`'s pod.
    pub fn service_ip(&self, i: usize) -> Ipv4Addr {
        self.pods().host((SERVICE_OFFSET + i) as u8)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "198.{}.{}.0/24", self.second, self.third)
    }
}

/// The name of node `i` (1-based): its pod worker's name, known before the testbed exists.
pub fn node_name(i: usize) -> String {
    format!("node-{i}")
}

/// A port a Service forwards: TCP always, UDP too when the benchmark sends UDP on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServicePort {
    pub number: u16,
    pub udp: bool,
}

/// What a bed holds besides its nodes, from the run's paths: which pods, which workers, and
/// which ports the Services forward.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// A pod per node (paths pod, service, same-node), with the node's pod worker in it.
    pub pods: bool,
    /// A second pod per node with the same-node worker in it (path same-node).
    pub second_pods: bool,
    /// A worker in each node's own namespace (path host).
    pub host_workers: bool,
    /// The ports each pod's Service forwards (path service); empty: no Services.
    pub service_ports: Vec<ServicePort>,
}

impl Layout {
    /// Nodes only, no pods and no workers: for a harness that starts its own processes in the
    /// nodes' namespaces.
    pub fn nodes_only() -> Layout {
        Layout::default()
    }

    /// What `paths` need; `ports` are those of the benchmarks run on path service.
    pub fn for_paths(paths: Paths, ports: &[Port]) -> Layout {
        let mut service_ports: Vec<ServicePort> = Vec::new();
        if paths.contains(Path::Service) {
            service_ports = netbench_bench::catalogue::merge_ports(ports)
                .into_iter()
                .map(|p| ServicePort {
                    number: p.number,
                    udp: p.udp,
                })
                .collect();
            service_ports.sort_by_key(|s| s.number);
        }
        Layout {
            pods: paths.needs(Placement::Pod),
            second_pods: paths.needs(Placement::SameNode),
            host_workers: paths.needs(Placement::Host),
            service_ports,
        }
    }

    /// True when the pods get Service addresses.
    pub fn services(&self) -> bool {
        self.pods && !self.service_ports.is_empty()
    }

    pub fn max_nodes(&self) -> usize {
        if self.pods {
            MAX_NODES
        } else {
            MAX_NODES_WITHOUT_PODS
        }
    }

    /// Whether a bed of this layout can have `nodes` nodes.
    pub fn check_nodes(&self, nodes: usize) -> Result<(), TestbedError> {
        let max = self.max_nodes();
        if (2..=max).contains(&nodes) {
            return Ok(());
        }
        Err(TestbedError::Nodes {
            nodes,
            max,
            why: if self.pods {
                " (node i's pod, second pod and Service address are .i, .80+i and .160+i of \
                 the pods' /24)"
            } else {
                ""
            },
        })
    }

    /// The nodes of a bed, with their pods: names and addresses only (pure).
    pub fn nodes(&self, tag: &str, subnet: Subnet, nodes: usize) -> Vec<Node> {
        (1..=nodes)
            .map(|i| {
                let netns = format!("nb-{tag}-{i}");
                let pod = |suffix: &str, ip: Ipv4Addr, node_end: &str| Pod {
                    netns: format!("{netns}-{suffix}"),
                    ip,
                    node_end: node_end.to_string(),
                };
                Node {
                    name: node_name(i),
                    index: i,
                    ip: subnet.node_ip(i),
                    host_end: format!("nbv-{tag}-{i}"),
                    pod: self.pods.then(|| pod("pod", subnet.pod_ip(i), "pod0")),
                    second_pod: (self.pods && self.second_pods)
                        .then(|| pod("pod2", subnet.second_pod_ip(i), "pod1")),
                    service_ip: self.services().then(|| subnet.service_ip(i)),
                    netns,
                }
            })
            .collect()
    }

    /// The workers a bed of this layout runs, node by node (pod, host, same-node): known before
    /// the bed exists, since NATS logins are made first.
    pub fn workers(&self, tag: &str, subnet: Subnet, nodes: usize) -> Vec<WorkerPlace> {
        workers_of(&self.nodes(tag, subnet, nodes), self.host_workers)
    }
}

/// A node: a network namespace on the bridge, and its pods.
#[derive(Debug, Clone)]
pub struct Node {
    /// `node-<i>`: the workers' `--hostname`.
    pub name: String,
    /// 1-based.
    pub index: usize,
    pub netns: String,
    pub ip: Ipv4Addr,
    /// The host end of the node's veth (on the bridge); the node's end is `eth0`.
    pub host_end: String,
    pub pod: Option<Pod>,
    /// The second pod (path same-node).
    pub second_pod: Option<Pod>,
    /// The Service address in front of the pod (path service).
    pub service_ip: Option<Ipv4Addr>,
}

impl Node {
    fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.pod.iter().chain(&self.second_pod)
    }
    /// Its namespaces, the pods' first.
    fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.pods()
            .map(|p| p.netns.as_str())
            .chain([self.netns.as_str()])
    }
}

/// A pod: a namespace behind a veth pair whose pod end is `eth0` (the address, /32).
#[derive(Debug, Clone)]
pub struct Pod {
    pub netns: String,
    pub ip: Ipv4Addr,
    /// The veth's end in the node's namespace.
    pub node_end: String,
}

/// Where one worker runs and what it announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPlace {
    /// `node-<i>` (pod), `node-<i>-host`, `node-<i>-pod2` (same-node).
    pub name: String,
    /// Its node's name (`--hostname`) and index (1-based, for zones).
    pub node: String,
    pub node_index: usize,
    pub netns: String,
    pub ip: Ipv4Addr,
    pub placement: Placement,
    /// The Service address in front of it (pod workers, path service).
    pub service_ip: Option<Ipv4Addr>,
}

fn workers_of(nodes: &[Node], host_workers: bool) -> Vec<WorkerPlace> {
    let mut places = Vec::new();
    for n in nodes {
        let place = |name: String, netns: &str, ip, placement, service_ip| WorkerPlace {
            name,
            node: n.name.clone(),
            node_index: n.index,
            netns: netns.to_string(),
            ip,
            placement,
            service_ip,
        };
        if let Some(p) = &n.pod {
            places.push(place(
                n.name.clone(),
                &p.netns,
                p.ip,
                Placement::Pod,
                n.service_ip,
            ));
        }
        if host_workers {
            places.push(place(
                format!("{}-host", n.name),
                &n.netns,
                n.ip,
                Placement::Host,
                None,
            ));
        }
        if let Some(p) = &n.second_pod {
            places.push(place(
                format!("{}-pod2", n.name),
                &p.netns,
                p.ip,
                Placement::SameNode,
                None,
            ));
        }
    }
    places
}

/// The host's part, for `ip -batch`: every namespace, each node's veth on the bridge, and a
/// route to each pod via its node (the relay on the gateway answers pods).
fn host_batch(bridge: &str, nodes: &[Node]) -> Vec<String> {
    let mut lines: Vec<String> = nodes
        .iter()
        .flat_map(|n| n.namespaces().map(|ns| format!("netns add {ns}")))
        .collect();
    for n in nodes {
        lines.push(format!(
            "link add {} type veth peer name eth0 netns {}",
            n.host_end, n.netns
        ));
        lines.push(format!("link set {} master {bridge} up", n.host_end));
        for p in n.pods() {
            lines.push(format!("route add {}/32 via {} dev {bridge}", p.ip, n.ip));
        }
    }
    lines
}

/// A node's part, for `ip -n NODE -batch`: its `eth0`, its pods' veths and routes, and a route
/// to every other node's pods via that node.
fn node_batch(node: &Node, nodes: &[Node]) -> Vec<String> {
    let mut lines = vec![
        format!("addr add {}/24 dev eth0", node.ip),
        "link set eth0 up".to_string(),
        "link set lo up".to_string(),
    ];
    for p in node.pods() {
        lines.push(format!(
            "link add {} type veth peer name eth0 netns {}",
            p.node_end, p.netns
        ));
        lines.push(format!("link set {} up", p.node_end));
        lines.push(format!("route add {}/32 dev {}", p.ip, p.node_end));
    }
    for other in nodes.iter().filter(|o| o.index != node.index) {
        for p in other.pods() {
            lines.push(format!("route add {}/32 via {}", p.ip, other.ip));
        }
    }
    lines
}

/// A pod's part, for `ip -n POD -batch`: its address and two routes, its node on-link and the
/// benchmarking range via its node (the ptp plugin's wiring; no default route).
fn pod_batch(pod: &Pod, node_ip: Ipv4Addr) -> Vec<String> {
    vec![
        format!("addr add {}/32 dev eth0", pod.ip),
        "link set eth0 up".to_string(),
        "link set lo up".to_string(),
        format!("route add {node_ip} dev eth0 scope link"),
        format!(
            "route add 198.18.0.0/15 via {node_ip} dev eth0 src {}",
            pod.ip
        ),
    ]
}

/// The Service rules, for `iptables-restore --noflush` in every node: a DNAT rule per pod's
/// Service address and port, to the pod.
fn service_rules(nodes: &[Node], ports: &[ServicePort]) -> String {
    let mut s = format!(
        "*nat\n:{SERVICE_CHAIN} - [0:0]\n-A PREROUTING -j {SERVICE_CHAIN}\n-A OUTPUT -j {SERVICE_CHAIN}\n"
    );
    for n in nodes {
        let (Some(vip), Some(pod)) = (n.service_ip, &n.pod) else {
            continue;
        };
        for port in ports {
            let protocols: &[&str] = if port.udp { &["tcp", "udp"] } else { &["tcp"] };
            for proto in protocols {
                s.push_str(&format!(
                    "-A {SERVICE_CHAIN} -d {vip}/32 -p {proto} --dport {p} -j DNAT --to-destination {}:{p}\n",
                    pod.ip,
                    p = port.number
                ));
            }
        }
    }
    s.push_str("COMMIT\n");
    s
}

/// How many packets one DNAT rule of the Service chain matched: one per connection (only a
/// connection's first packet passes the nat table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnatCount {
    pub service_ip: Ipv4Addr,
    pub protocol: String,
    pub port: u16,
    pub connections: u64,
}

/// The Service chain's DNAT rules and their counters, from `iptables-save -c -t nat` (pure).
pub fn parse_dnat_counts(save: &str) -> Vec<DnatCount> {
    let prefix = format!("-A {SERVICE_CHAIN} ");
    save.lines()
        .filter_map(|line| {
            let (counters, rule) = line.strip_prefix('[')?.split_once("] ")?;
            let rule = rule.strip_prefix(&prefix)?;
            let words: Vec<&str> = rule.split_whitespace().collect();
            let after = |flag: &str| {
                let i = words.iter().position(|w| *w == flag)?;
                words.get(i + 1).copied()
            };
            if after("-j") != Some("DNAT") {
                return None;
            }
            Some(DnatCount {
                service_ip: after("-d")?.trim_end_matches("/32").parse().ok()?,
                protocol: after("-p")?.to_string(),
                port: after("--dport")?.parse().ok()?,
                connections: counters.split_once(':')?.0.parse().ok()?,
            })
        })
        .collect()
}

/// What the Service rules of each node matched, read before the bed goes: proof that the
/// service path's traffic was translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNat {
    /// Per node (its clients' connections are translated there), its rules.
    pub nodes: Vec<(String, Vec<DnatCount>)>,
}

impl ServiceNat {
    pub fn node_total(counts: &[DnatCount]) -> u64 {
        counts.iter().map(|c| c.connections).sum()
    }
    pub fn total(&self) -> u64 {
        self.nodes.iter().map(|(_, c)| Self::node_total(c)).sum()
    }
}

impl std::fmt::Display for ServiceNat {
    /// `service path: the DNAT rules matched 8 connections (node-1: 4, node-2: 4)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per_node: Vec<String> = self
            .nodes
            .iter()
            .map(|(n, c)| format!("{n}: {}", Self::node_total(c)))
            .collect();
        write!(
            f,
            "service path: the DNAT rules matched {} connections ({})",
            self.total(),
            per_node.join(", ")
        )
    }
}

/// `iptables-restore` and `iptables-save`, from the system directories (as the tools are).
#[derive(Debug, Clone)]
pub struct Iptables {
    pub restore: PathBuf,
    pub save: PathBuf,
}

/// Find iptables (path service needs it), or say how to install it.
pub fn find_iptables() -> Result<Iptables, TestbedError> {
    let find =
        |p: &'static str| netbench_worker::tools::locate(p, &[]).ok_or(TestbedError::NoIptables(p));
    Ok(Iptables {
        restore: find("iptables-restore")?,
        save: find("iptables-save")?,
    })
}

/// The testbed. Dropping it kills whatever still runs in its namespaces and removes them.
#[derive(Debug)]
pub struct Testbed {
    pub subnet: Subnet,
    pub bridge: String,
    pub nodes: Vec<Node>,
    pub layout: Layout,
    iptables: Option<Iptables>,
}

fn ip_error(cmd: String, stderr: &[u8]) -> TestbedError {
    TestbedError::Ip {
        cmd,
        stderr: String::from_utf8_lossy(stderr).trim().to_string(),
    }
}

fn ip(args: &[&str]) -> Result<(), TestbedError> {
    run_ip(args, None, || format!("ip {}", args.join(" ")))
}

/// Run `ip ARGS`, with `input` on its stdin if given; `cmd` names it in an error.
fn run_ip(
    args: &[&str],
    input: Option<&str>,
    cmd: impl Fn() -> String,
) -> Result<(), TestbedError> {
    let mut ip = Command::new("ip");
    ip.args(args);
    let out = match input {
        Some(text) => with_input(ip, text),
        None => ip.output(),
    }
    .map_err(|e| TestbedError::Ip {
        cmd: cmd(),
        stderr: format!("{e} (is iproute2 installed?)"),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ip_error(cmd(), &out.stderr))
    }
}

/// Run `cmd` with `input` on its stdin; its output.
fn with_input(mut cmd: Command, input: &str) -> std::io::Result<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // ip and iptables-restore read all of stdin before they write much: no deadlock.
    let written = child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes());
    let out = child.wait_with_output()?;
    written.map(|_| out)
}

/// `ip [-n NETNS] -batch -` with `lines`: one process for many commands, so that 80 nodes
/// stay fast. Stops at the first failing line.
fn ip_batch(netns: Option<&str>, lines: &[String]) -> Result<(), TestbedError> {
    let mut args = Vec::new();
    if let Some(ns) = netns {
        args.extend(["-n", ns]);
    }
    args.extend(["-batch", "-"]);
    run_ip(&args, Some(&lines.join("\n")), || {
        format!("ip {} ({} commands)", args.join(" "), lines.len())
    })
}

/// Whether an address or a route of the host lies in `subnet`.
fn in_use(subnet: Subnet) -> bool {
    let s = subnet.to_string();
    [
        ["-4", "-o", "addr", "show", "to", &s],
        ["-4", "-o", "route", "show", "root", &s],
    ]
    .iter()
    .any(|args| {
        Command::new("ip")
            .args(args)
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false)
    })
}

/// `net.ipv4.ip_forward=1` in each namespace, by entering it from a thread of its own (the
/// sysctl is per network namespace; the host's is never touched).
fn enable_forwarding(namespaces: Vec<String>) -> Result<(), TestbedError> {
    std::thread::spawn(move || {
        for ns in &namespaces {
            let error = |e: &dyn std::fmt::Display| TestbedError::Forwarding {
                netns: ns.clone(),
                error: e.to_string(),
            };
            let f = std::fs::File::open(format!("/run/netns/{ns}")).map_err(|e| error(&e))?;
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| error(&e))?;
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").map_err(|e| error(&e))?;
        }
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| {
        Err(TestbedError::Forwarding {
            netns: "?".into(),
            error: "the thread panicked".into(),
        })
    })
}

/// `program args…` run in network namespace `netns` (`ip netns exec`, no shell).
fn in_netns(netns: &str, program: &std::path::Path) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", netns]).arg(program);
    c
}

impl Testbed {
    /// Build `nodes` nodes on `subnet` with what `layout` asks for. `tag` (≤ 6 chars of
    /// [a-z0-9]) keeps names unique.
    pub fn create(
        tag: &str,
        subnet: Subnet,
        nodes: usize,
        layout: &Layout,
    ) -> Result<Testbed, TestbedError> {
        layout.check_nodes(nodes)?;
        let iptables = match layout.services() {
            true => Some(find_iptables()?),
            false => None,
        };
        for (s, what) in [(subnet, "nodes'"), (subnet.pods(), "pods'")] {
            if in_use(s) {
                return Err(TestbedError::InUse { subnet: s, what });
            }
        }
        let mut bed = Testbed {
            subnet,
            bridge: format!("nbbr-{tag}"),
            nodes: Vec::new(),
            layout: layout.clone(),
            iptables,
        };
        // On error from here on, `bed` is dropped and removes what was made.
        ip(&["link", "add", &bed.bridge, "type", "bridge"]).map_err(|e| match e {
            TestbedError::Ip { stderr, .. } if stderr.contains("Operation not permitted") => {
                TestbedError::NotRoot(stderr)
            }
            e => e,
        })?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", subnet.gateway()),
            "dev",
            &bed.bridge,
        ])?;
        ip(&["link", "set", &bed.bridge, "up"])?;
        let planned = layout.nodes(tag, subnet, nodes);
        // A bed just torn down with this tag may still be freeing its veths (a namespace goes
        // when its last process has): give them a moment.
        for _ in 0..40 {
            let busy = planned.iter().any(|n| {
                std::path::Path::new("/sys/class/net")
                    .join(&n.host_end)
                    .exists()
            });
            if !busy {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Known to Drop before any exists: it removes those that do.
        bed.nodes = planned;
        ip_batch(None, &host_batch(&bed.bridge, &bed.nodes))?;
        for node in &bed.nodes {
            ip_batch(Some(&node.netns), &node_batch(node, &bed.nodes))?;
            for pod in node.pods() {
                ip_batch(Some(&pod.netns), &pod_batch(pod, node.ip))?;
            }
        }
        if layout.pods {
            enable_forwarding(bed.nodes.iter().map(|n| n.netns.clone()).collect())?;
        }
        if let Some(iptables) = &bed.iptables {
            let rules = service_rules(&bed.nodes, &layout.service_ports);
            for node in &bed.nodes {
                let mut c = in_netns(&node.netns, &iptables.restore);
                c.arg("--noflush");
                let failed = |stderr: String| TestbedError::Iptables {
                    netns: node.netns.clone(),
                    stderr,
                };
                let out = with_input(c, &rules).map_err(|e| failed(e.to_string()))?;
                if !out.status.success() {
                    return Err(failed(
                        String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    ));
                }
            }
        }
        Ok(bed)
    }

    /// The workers this bed runs (see [`Layout::workers`]).
    pub fn workers(&self) -> Vec<WorkerPlace> {
        workers_of(&self.nodes, self.layout.host_workers)
    }

    /// What each node's Service rules matched so far (`None`: the bed has no Services).
    pub fn service_nat(&self) -> Option<Result<ServiceNat, TestbedError>> {
        let iptables = self.iptables.as_ref()?;
        let read = || {
            let mut nodes = Vec::new();
            for node in &self.nodes {
                let out = in_netns(&node.netns, &iptables.save)
                    .args(["-c", "-t", "nat"])
                    .output();
                let failed = |stderr: String| TestbedError::Iptables {
                    netns: node.netns.clone(),
                    stderr,
                };
                let out = out.map_err(|e| failed(e.to_string()))?;
                if !out.status.success() {
                    return Err(failed(
                        String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    ));
                }
                let counts = parse_dnat_counts(&String::from_utf8_lossy(&out.stdout));
                nodes.push((node.name.clone(), counts));
            }
            Ok(ServiceNat { nodes })
        };
        Some(read())
    }
}

fn tc(args: &[&str]) -> Result<(), TestbedError> {
    let cmd = || format!("tc {}", args.join(" "));
    let out = Command::new("tc")
        .args(args)
        .output()
        .map_err(|e| TestbedError::Tc {
            cmd: cmd(),
            stderr: format!("{e} (is iproute2 installed?)"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TestbedError::Tc {
            cmd: cmd(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl Testbed {
    /// Shape every node's link to `rate` both ways: a tbf qdisc on the node's `eth0` (what it
    /// sends) and on the veth's host end (what it receives). They go with the veths.
    pub fn shape(&self, rate: LinkRate) -> Result<(), TestbedError> {
        let rate_arg = rate.to_string();
        let burst = rate.burst_bytes().to_string();
        let tbf = [
            "root", "tbf", "rate", &rate_arg, "burst", &burst, "latency", "50ms",
        ];
        for node in &self.nodes {
            let mut inside = vec!["-n", &node.netns, "qdisc", "replace", "dev", "eth0"];
            inside.extend(tbf);
            tc(&inside)?;
            let mut outside = vec!["qdisc", "replace", "dev", &node.host_end];
            outside.extend(tbf);
            tc(&outside)?;
        }
        Ok(())
    }
}

/// The inode of each namespace's file in /run/netns (what /proc/PID/ns/net links to).
fn namespace_inodes(namespaces: &[&str]) -> Vec<u64> {
    use std::os::unix::fs::MetadataExt;
    namespaces
        .iter()
        .filter_map(|ns| std::fs::metadata(format!("/run/netns/{ns}")).ok())
        .map(|m| m.ino())
        .collect()
}

/// The processes whose network namespace has one of these inodes (one pass over /proc).
fn processes_in(inodes: &[u64]) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .ok()
                .and_then(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l.strip_prefix("net:[")?
                        .strip_suffix(']')?
                        .parse::<u64>()
                        .ok()
                })
                .is_some_and(|ino| inodes.contains(&ino))
        })
        .collect()
}

/// Kill every process in these namespaces (SIGKILL) and wait until none is left (max ~2 s).
pub fn kill_namespace_processes(namespaces: &[&str]) {
    let inodes = namespace_inodes(namespaces);
    if inodes.is_empty() {
        return;
    }
    for _ in 0..200 {
        let pids = processes_in(&inodes);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let namespaces: Vec<&str> = self.nodes.iter().flat_map(Node::namespaces).collect();
        kill_namespace_processes(&namespaces);
        // The host ends first: deleting one removes both ends (and the pods' veths go with the
        // node's namespace), while a namespace is freed only when its last process is gone,
        // asynchronously: the next bed with this tag found `nbv-…` still there ("File exists").
        // The host's routes to the pods go with the bridge.
        let mut lines: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("link del {}", n.host_end))
            .collect();
        lines.extend(namespaces.iter().map(|ns| format!("netns del {ns}")));
        lines.push(format!("link del {}", self.bridge));
        let mut ip = Command::new("ip");
        ip.args(["-force", "-batch", "-"]);
        let out = with_input(ip, &lines.join("\n"));
        match out {
            Err(e) => eprintln!("warning: could not remove the testbed (ip: {e})"),
            Ok(out) => {
                // What was never made (a bed that failed half-way) is no news.
                for line in String::from_utf8_lossy(&out.stderr).lines().filter(|l| {
                    !(l.starts_with("Command failed")
                        || l.starts_with("Cannot find device")
                        || l.contains("No such file or directory"))
                }) {
                    eprintln!("warning: while removing the testbed: {line}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_24s_inside_the_benchmarking_range_are_accepted() {
        assert_eq!(
            Subnet::parse("198.18.0.0/24").unwrap().gateway(),
            Ipv4Addr::new(198, 18, 0, 254)
        );
        assert_eq!(
            Subnet::parse("198.19.7.0/24").unwrap().host(3),
            Ipv4Addr::new(198, 19, 7, 3)
        );
        for bad in [
            "10.0.0.0/24",
            "198.18.0.0/16",
            "198.20.0.0/24",
            "198.18.0.5/24",
            "junk",
        ] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn link_rates_are_bits_per_second_with_a_unit() {
        let rate = |s: &str| s.parse::<LinkRate>().map(|r| r.bits_per_second);
        assert_eq!(rate("100mbit"), Ok(100_000_000));
        assert_eq!(rate("2.5Gbit"), Ok(2_500_000_000));
        assert_eq!(rate(" 500kbit "), Ok(500_000));
        let r: LinkRate = "100mbit".parse().unwrap();
        assert_eq!(r.to_string(), "100000000bit");
        assert_eq!(r.burst_bytes(), 64 * 1024);
        assert_eq!(
            "10gbit".parse::<LinkRate>().unwrap().burst_bytes(),
            5_000_000
        );
        for bad in [
            "",
            "100",
            "mbit",
            "100mbps",
            "100 mbit",
            "1.2.3mbit",
            "-5mbit",
            "1kbit",
            "500gbit",
        ] {
            let e = bad.parse::<LinkRate>().unwrap_err().to_string();
            assert!(e.contains("like 100mbit"), "{bad}: {e}");
        }
    }
    fn port(number: u16, udp: bool) -> Port {
        Port {
            number,
            name: "p",
            ready_probe: false,
            udp,
        }
    }

    fn subnet() -> Subnet {
        Subnet::parse("198.18.7.0/24").unwrap()
    }

    #[test]
    fn pods_live_in_the_other_half_of_the_range() {
        let s = subnet();
        assert_eq!(s.pods().to_string(), "198.19.7.0/24");
        assert_eq!(s.pods().pods(), s);
        assert_eq!(s.node_ip(3), Ipv4Addr::new(198, 18, 7, 3));
        assert_eq!(s.pod_ip(3), Ipv4Addr::new(198, 19, 7, 3));
        assert_eq!(s.second_pod_ip(80), Ipv4Addr::new(198, 19, 7, 160));
        assert_eq!(s.service_ip(80), Ipv4Addr::new(198, 19, 7, 240));
        let back = Subnet::parse("198.19.7.0/24").unwrap();
        assert_eq!(back.pod_ip(1), Ipv4Addr::new(198, 18, 7, 1));
    }

    #[test]
    fn a_layout_has_what_the_paths_need_and_nothing_else() {
        let paths = |s: &str| s.parse::<Paths>().unwrap();
        let ports = [port(12865, false), port(12866, true), port(12866, false)];
        let pod = Layout::for_paths(paths("pod"), &ports);
        assert!(pod.pods && !pod.second_pods && !pod.host_workers && !pod.services());
        let host = Layout::for_paths(paths("host"), &ports);
        assert!(!host.pods && host.host_workers);
        assert_eq!(host.max_nodes(), 250);
        let same = Layout::for_paths(paths("same-node"), &ports);
        assert!(same.pods && same.second_pods && !same.services());
        let all = Layout::for_paths(paths("pod,host,service,same-node"), &ports);
        // One rule set per port; UDP where any benchmark sends it.
        assert_eq!(
            all.service_ports,
            [
                ServicePort {
                    number: 12865,
                    udp: false
                },
                ServicePort {
                    number: 12866,
                    udp: true
                }
            ]
        );
        assert!(all.check_nodes(80).is_ok());
        let e = all.check_nodes(81).unwrap_err().to_string();
        assert!(e.contains("2 to 80 nodes, not 81"), "{e}");
        assert!(all.check_nodes(1).is_err());
        assert!(Layout::nodes_only().check_nodes(250).is_ok());
    }

    #[test]
    fn workers_by_placement_with_their_nodes_and_addresses() {
        let paths: Paths = "pod,host,service,same-node".parse().unwrap();
        let layout = Layout::for_paths(paths, &[port(5201, false)]);
        let w = layout.workers("t", subnet(), 2);
        let names: Vec<&str> = w.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node-1",
                "node-1-host",
                "node-1-pod2",
                "node-2",
                "node-2-host",
                "node-2-pod2"
            ]
        );
        let node2_pod = &w[3];
        assert_eq!(
            (
                node2_pod.netns.as_str(),
                node2_pod.ip,
                node2_pod.placement,
                node2_pod.service_ip
            ),
            (
                "nb-t-2-pod",
                Ipv4Addr::new(198, 19, 7, 2),
                Placement::Pod,
                Some(Ipv4Addr::new(198, 19, 7, 162))
            )
        );
        assert_eq!(
            (
                w[4].netns.as_str(),
                w[4].ip,
                w[4].placement,
                w[4].service_ip
            ),
            (
                "nb-t-2",
                Ipv4Addr::new(198, 18, 7, 2),
                Placement::Host,
                None
            )
        );
        assert_eq!(
            (w[5].netns.as_str(), w[5].ip, w[5].placement),
            (
                "nb-t-2-pod2",
                Ipv4Addr::new(198, 19, 7, 82),
                Placement::SameNode
            )
        );
        assert!(w.iter().all(|p| p.node == format!("node-{}", p.node_index)));
        // Without service, no Service addresses; without pods, no pod workers.
        let plain = Layout::for_paths(Paths::default(), &[port(5201, false)]);
        assert!(plain
            .workers("t", subnet(), 2)
            .iter()
            .all(|w| w.service_ip.is_none()));
        assert!(Layout::nodes_only().workers("t", subnet(), 2).is_empty());
    }

    #[test]
    fn wiring_is_ptp_style_routes_and_no_default_route() {
        let paths: Paths = "pod,same-node".parse().unwrap();
        let layout = Layout::for_paths(paths, &[]);
        let nodes = layout.nodes("t", subnet(), 2);
        let host = host_batch("nbbr-t", &nodes);
        assert_eq!(
            &host[..4],
            [
                "netns add nb-t-1-pod",
                "netns add nb-t-1-pod2",
                "netns add nb-t-1",
                "netns add nb-t-2-pod"
            ]
        );
        assert!(host.contains(&"route add 198.19.7.82/32 via 198.18.7.2 dev nbbr-t".to_string()));
        let node = node_batch(&nodes[0], &nodes);
        for line in [
            "addr add 198.18.7.1/24 dev eth0",
            "link add pod0 type veth peer name eth0 netns nb-t-1-pod",
            "route add 198.19.7.1/32 dev pod0",
            "route add 198.19.7.81/32 dev pod1",
            "route add 198.19.7.2/32 via 198.18.7.2",
            "route add 198.19.7.82/32 via 198.18.7.2",
        ] {
            assert!(node.contains(&line.to_string()), "{line} in {node:?}");
        }
        assert!(!node.iter().any(|l| l.contains("198.19.7.1/32 via")));
        let pod = pod_batch(nodes[0].pod.as_ref().unwrap(), nodes[0].ip);
        assert_eq!(
            pod[3..],
            [
                "route add 198.18.7.1 dev eth0 scope link",
                "route add 198.18.0.0/15 via 198.18.7.1 dev eth0 src 198.19.7.1"
            ]
        );
        assert!(!pod.iter().chain(&node).any(|l| l.contains("default")));
    }

    #[test]
    fn service_rules_dnat_each_service_address_and_port_to_its_pod() {
        let paths: Paths = "service".parse().unwrap();
        let layout = Layout::for_paths(paths, &[port(5201, true)]);
        let nodes = layout.nodes("t", subnet(), 2);
        let rules = service_rules(&nodes, &layout.service_ports);
        assert_eq!(
            rules,
            "*nat\n:NETBENCH-SERVICES - [0:0]\n-A PREROUTING -j NETBENCH-SERVICES\n\
             -A OUTPUT -j NETBENCH-SERVICES\n\
             -A NETBENCH-SERVICES -d 198.19.7.161/32 -p tcp --dport 5201 -j DNAT --to-destination 198.19.7.1:5201\n\
             -A NETBENCH-SERVICES -d 198.19.7.161/32 -p udp --dport 5201 -j DNAT --to-destination 198.19.7.1:5201\n\
             -A NETBENCH-SERVICES -d 198.19.7.162/32 -p tcp --dport 5201 -j DNAT --to-destination 198.19.7.2:5201\n\
             -A NETBENCH-SERVICES -d 198.19.7.162/32 -p udp --dport 5201 -j DNAT --to-destination 198.19.7.2:5201\n\
             COMMIT\n"
        );
    }

    #[test]
    fn dnat_counters_from_iptables_save() {
        // As iptables-save -c -t nat (1.8.9, nf_tables) printed it in a node.
        let save = "# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:NETBENCH-SERVICES - [0:0]
[4:240] -A PREROUTING -j NETBENCH-SERVICES
[0:0] -A OUTPUT -j NETBENCH-SERVICES
[0:0] -A NETBENCH-SERVICES -d 198.19.160.161/32 -p tcp -m tcp --dport 12865 -j DNAT --to-destination 198.19.160.1:12865
[3:180] -A NETBENCH-SERVICES -d 198.19.160.162/32 -p udp -m udp --dport 12866 -j DNAT --to-destination 198.19.160.2:12866
COMMIT
";
        let counts = parse_dnat_counts(save);
        assert_eq!(
            counts,
            [
                DnatCount {
                    service_ip: Ipv4Addr::new(198, 19, 160, 161),
                    protocol: "tcp".into(),
                    port: 12865,
                    connections: 0
                },
                DnatCount {
                    service_ip: Ipv4Addr::new(198, 19, 160, 162),
                    protocol: "udp".into(),
                    port: 12866,
                    connections: 3
                }
            ]
        );
        let nat = ServiceNat {
            nodes: vec![("node-1".into(), counts.clone()), ("node-2".into(), counts)],
        };
        assert_eq!(
            nat.to_string(),
            "service path: the DNAT rules matched 6 connections (node-1: 3, node-2: 3)"
        );
    }
}
