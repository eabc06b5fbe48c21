//! `netbench local --paths`: the four paths measured for real on the local bed. Pods are
//! namespaces of their own behind veth pairs and routes in each node, `host` runs in the nodes'
//! namespaces, `service` goes through DNAT rules in the nodes, `same-node` runs between two pods
//! of one node. Real nats-server, real workers, real iperf3 and netperf.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use support::*;

/// `netbench` (or the command given) `local` on `nodes` nodes of 198.18.<octet>.0/24, with a
/// run id whose first six characters (the namespaces' tag) are the test's own.
fn local(cmd: std::process::Command, octet: u8, nodes: usize, flags: &[&str]) -> LocalRun {
    assert!(
        is_root(),
        "these tests need root (network namespaces); CI runs as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    let run_id = format!("p{octet}x{}", std::process::id());
    let mut cmd = cmd;
    let out = run(cmd
        .args(["local", "--nodes", &nodes.to_string()])
        .args(["--subnet", &format!("198.18.{octet}.0/24")])
        .args(["--run", &run_id])
        .args(flags)
        .arg("--results")
        .arg(&results));
    let tag = format!("nb-p{octet}x");
    assert!(
        leftover_namespaces(&tag).is_empty(),
        "namespaces left behind: {:?}",
        leftover_namespaces(&tag)
    );
    LocalRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        file: std::fs::read(&results)
            .ok()
            .map(|b| serde_json::from_slice(&b).expect("results file is JSON")),
    }
}

struct LocalRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    file: Option<Value>,
}

impl LocalRun {
    fn results(&self) -> Vec<Value> {
        self.file.as_ref().expect("a results file")["results"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |v, k| &v[k])
        .as_str()
        .unwrap_or_else(|| panic!("no string at {path:?} in {v}"))
}

fn metric(r: &Value, name: &str) -> f64 {
    r["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .and_then(|m| m["value"].as_f64())
        .unwrap_or_else(|| panic!("no {name} in {}", r["metrics"]))
}

/// The node index of a worker name: `node-2`, `node-2-host`, `node-2-pod2` → 2.
fn node_of(worker: &str) -> usize {
    worker["node-".len()..]
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    assert!(n > 0);
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `service path: the DNAT rules matched N connections (node-1: a, node-2: b, …)`: N and the
/// count of each node.
fn dnat_line(stdout: &str) -> (u64, BTreeMap<String, u64>) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("service path: the DNAT rules matched "))
        .unwrap_or_else(|| panic!("no DNAT counter line in:\n{stdout}"));
    let rest = &line["service path: the DNAT rules matched ".len()..];
    let (total, rest) = rest.split_once(" connections (").unwrap();
    let per_node = rest
        .trim_end_matches(')')
        .split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once(": ").unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    (total.parse().unwrap(), per_node)
}

#[test]
fn all_four_paths_every_pair_once_through_their_own_namespaces_and_the_nat() {
    const NODES: usize = 3;
    const OCTET: u8 = 150;
    let benchmarks = ["iperf3-tcp", "netperf-tcp-rr"];
    let r = local(
        netbench(),
        OCTET,
        NODES,
        &[
            "--paths",
            "pod,host,service,same-node",
            "--benchmark",
            &benchmarks.join(","),
            "--duration",
            "1",
        ],
    );
    assert_eq!(r.code, Some(0), "every pair should succeed");
    let results = r.results();
    let node_ip = |i: usize| format!("198.18.{OCTET}.{i}");
    let pod_ip = |i: usize| format!("198.19.{OCTET}.{i}");
    let second_pod_ip = |i: usize| format!("198.19.{OCTET}.{}", 80 + i);
    let service_ip = |i: usize| format!("198.19.{OCTET}.{}", 160 + i);

    // Every pair on every path exactly once per benchmark: (benchmark, path) -> pairs.
    let mut seen: BTreeMap<(String, String), BTreeSet<(usize, usize)>> = BTreeMap::new();
    for e in &results {
        assert_seed_keys(e);
        assert_eq!(e["task"]["status"], 0, "{}", e["error"]);
        let path = s(e, &["path"]);
        let (client, server) = (
            s(e, &["task", "client", "worker"]),
            s(e, &["task", "server", "worker"]),
        );
        let (c, sv) = (node_of(client), node_of(server));
        // A worker's node is its hostname, whatever its placement.
        assert_eq!(
            s(e, &["task", "client", "vm", "hostname"]),
            format!("node-{c}")
        );
        assert_eq!(
            s(e, &["task", "server", "vm", "hostname"]),
            format!("node-{sv}")
        );
        let (client_ip, server_ip) = (
            s(e, &["task", "client", "ip"]),
            s(e, &["task", "server", "ip"]),
        );
        let target = match path {
            "host" => {
                assert_eq!(
                    (client, server),
                    (&*format!("node-{c}-host"), &*format!("node-{sv}-host"))
                );
                assert_eq!((client_ip, server_ip), (&*node_ip(c), &*node_ip(sv)));
                assert!(s(e, &["pair"]).ends_with("/host"), "{}", e["pair"]);
                node_ip(sv)
            }
            "pod" | "service" => {
                assert_eq!(
                    (client, server),
                    (&*format!("node-{c}"), &*format!("node-{sv}"))
                );
                assert_eq!((client_ip, server_ip), (&*pod_ip(c), &*pod_ip(sv)));
                if path == "service" {
                    assert_eq!(s(e, &["task", "server", "service_ip"]), service_ip(sv));
                    service_ip(sv)
                } else {
                    assert!(e["task"]["server"].get("service_ip").is_none(), "{e}");
                    pod_ip(sv)
                }
            }
            "same-node" => {
                assert_eq!(
                    c, sv,
                    "same-node pairs stay on one node: {client} -> {server}"
                );
                assert_eq!(
                    (client, server),
                    (&*format!("node-{c}-pod2"), &*format!("node-{c}"))
                );
                assert_eq!((client_ip, server_ip), (&*second_pod_ip(c), &*pod_ip(c)));
                pod_ip(sv)
            }
            other => panic!("unknown path {other}"),
        };
        // The client ran against exactly that address (the Service's, not the pod's).
        let args: Vec<&str> = e["task"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            args.contains(&&*target),
            "{path}: {args:?} should name {target}"
        );
        if path == "service" {
            assert!(!args.contains(&server_ip), "{args:?}");
        }
        let key = (s(e, &["benchmark"]).to_string(), path.to_string());
        assert!(
            seen.entry(key).or_default().insert((c, sv)),
            "{path} {client} -> {server} twice"
        );
    }
    let across: BTreeSet<(usize, usize)> = (1..=NODES)
        .flat_map(|c| (1..=NODES).filter(move |s| *s != c).map(move |s| (c, s)))
        .collect();
    let same: BTreeSet<(usize, usize)> = (1..=NODES).map(|i| (i, i)).collect();
    for b in benchmarks {
        for path in ["pod", "host", "service"] {
            assert_eq!(
                seen[&(b.to_string(), path.to_string())],
                across,
                "{b} {path}"
            );
        }
        assert_eq!(
            seen[&(b.to_string(), "same-node".to_string())],
            same,
            "{b} same-node"
        );
    }
    assert_eq!(results.len(), benchmarks.len() * (3 * across.len() + NODES));

    // The service pairs really crossed the DNAT rules: each client's node translated at least
    // one connection per service pair it ran (iperf3 and netperf open two each, control and
    // data: netperf's pinned data port works through the NAT too).
    let (total, per_node) = dnat_line(&r.stdout);
    assert_eq!(per_node.len(), NODES, "{per_node:?}");
    assert_eq!(per_node.values().sum::<u64>(), total);
    let per_client = (benchmarks.len() * (NODES - 1)) as u64;
    for (node, n) in &per_node {
        assert!(
            *n >= per_client,
            "{node}: {n} DNATed connections, fewer than its {per_client} service pairs"
        );
    }

    // Loose ordering, on netperf TCP_RR (a latency figure; the medians of each path's pairs,
    // which ran interleaved pair by pair). Measured on the 2-vCPU build VM under load: host
    // 35.7 k/s, pod 28.3 k/s (two veths and two routing hops more), service 27.7 k/s, same-node
    // 41.5 k/s (one node, no bridge). iperf3's throughput on veths is bound by the same two
    // CPUs the tools run on and spreads too much per pair to order the paths.
    let rate = |path: &str| {
        median(
            results
                .iter()
                .filter(|e| e["benchmark"] == "netperf-tcp-rr" && e["path"] == path)
                .map(|e| metric(e, "transaction_rate"))
                .collect(),
        )
    };
    let (pod, host, service, same_node) = (
        rate("pod"),
        rate("host"),
        rate("service"),
        rate("same-node"),
    );
    eprintln!("netperf-tcp-rr medians: pod {pod:.0}, host {host:.0}, service {service:.0}, same-node {same_node:.0}");
    assert!(
        pod < host * 1.25,
        "pod ({pod:.0}/s) faster than host ({host:.0}/s) by more than noise"
    );
    assert!(
        service < host * 1.25,
        "service ({service:.0}/s) faster than host ({host:.0}/s) by more than noise"
    );
    assert!(
        same_node > pod * 0.8,
        "same-node ({same_node:.0}/s) much slower than pod ({pod:.0}/s)"
    );
    assert!(
        (0.5..2.0).contains(&(service / pod)),
        "service {service:.0}/s vs pod {pod:.0}/s"
    );
    for e in results.iter().filter(|e| e["benchmark"] == "iperf3-tcp") {
        assert!(metric(e, "throughput_received") > 1e6, "{}", e["metrics"]);
    }
}

#[test]
fn a_plain_run_measures_pod_to_pod_on_the_pod_addresses() {
    const OCTET: u8 = 151;
    let r = local(netbench(), OCTET, 2, &["--duration", "1"]);
    assert_eq!(r.code, Some(0));
    let results = r.results();
    assert_eq!(results.len(), 2);
    let mut pairs = BTreeSet::new();
    for e in &results {
        assert_seed_keys(e);
        assert_eq!(e["task"]["status"], 0, "{}", e["error"]);
        assert_eq!(e["path"], "pod");
        assert!(!s(e, &["pair"]).contains('/'), "{}", e["pair"]);
        for side in ["client", "server"] {
            let worker = s(e, &["task", side, "worker"]);
            let i = node_of(worker);
            assert_eq!(worker, format!("node-{i}"));
            assert_eq!(s(e, &["task", side, "ip"]), format!("198.19.{OCTET}.{i}"));
            assert_eq!(s(e, &["task", side, "vm", "hostname"]), worker);
            assert_eq!(s(e, &["task", side, "vm", "availability_zone"]), "local");
            assert!(e["task"][side].get("service_ip").is_none());
        }
        let server_ip = s(e, &["task", "server", "ip"]);
        assert!(e["task"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == server_ip));
        pairs.insert((
            s(e, &["task", "client", "worker"]).to_string(),
            s(e, &["task", "server", "worker"]).to_string(),
        ));
    }
    assert_eq!(pairs.len(), 2);
    assert!(
        !r.stdout.contains("DNAT"),
        "no Services without --paths service"
    );
}

#[test]
fn more_than_80_nodes_or_an_unknown_path_stop_before_anything_starts() {
    for (nodes, flags) in [
        (81, &[][..]),
        (81, &["--paths", "pod,host"][..]),
        (2, &["--paths", "pod,hots"][..]),
    ] {
        let r = local(netbench(), 152, nodes, flags);
        assert_eq!(r.code, Some(2), "{flags:?}");
        assert!(r.file.is_none());
        assert!(!r.stderr.contains("joined") && !r.stdout.contains("joined"));
        if nodes == 81 {
            assert!(r.stderr.contains("2 to 80 nodes, not 81"), "{}", r.stderr);
        } else {
            assert!(r.stderr.contains("unknown path \"hots\""), "{}", r.stderr);
        }
    }
}

#[test]
fn service_without_iptables_says_what_to_install_and_the_other_paths_need_none() {
    let hidden = ["iptables", "iptables-restore", "iptables-save"];
    let r = local(
        netbench_without(&hidden),
        153,
        2,
        &["--paths", "pod,service"],
    );
    assert_eq!(r.code, Some(3));
    assert!(
        r.stderr
            .contains("iptables-restore is not installed, and --paths service needs it")
            && r.stderr.contains("apt-get install iptables"),
        "{}",
        r.stderr
    );
    assert!(r.file.is_none());
    // host and same-node (and pod) need no iptables: pods are routed, not NATed.
    let r = local(
        netbench_without(&hidden),
        154,
        2,
        &["--paths", "host,same-node", "--duration", "1"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let paths: BTreeSet<String> = r
        .results()
        .iter()
        .map(|e| s(e, &["path"]).to_string())
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from(["host".to_string(), "same-node".to_string()])
    );
}

/// A blackhole route of the host's, removed on drop.
struct HostRoute(&'static str);

impl Drop for HostRoute {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["route", "del", "blackhole", self.0])
            .status();
    }
}

#[test]
fn a_route_into_the_pods_subnet_means_it_is_in_use() {
    assert!(is_root(), "needs root (a host route, network namespaces)");
    // The pods of nodes on 198.18.155.0/24 would live on 198.19.155.0/24: route it away first.
    let route = HostRoute("198.19.155.0/24");
    let added = std::process::Command::new("ip")
        .args(["route", "add", "blackhole", route.0])
        .status()
        .unwrap();
    assert!(added.success());
    let r = local(netbench(), 155, 2, &["--duration", "1"]);
    assert_eq!(r.code, Some(3));
    assert!(
        r.stderr
            .contains("198.19.155.0/24 (the pods' /24) is already in use on this host"),
        "{}",
        r.stderr
    );
    assert!(r.file.is_none());
    drop(route);
    // Once it is gone, the same subnet runs.
    let r = local(netbench(), 155, 2, &["--duration", "1"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}
