//! Fixtures (real results files from `netbench local`) and the edits that make edge cases of
//! them: a failed pair, zones, missing metrics, scaled metrics.
#![allow(dead_code)]

use netbench_proto::{ResultsFile, Status};
use std::path::PathBuf;

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A real 3-node iperf3-tcp run.
pub fn iperf3() -> ResultsFile {
    netbench_report::load(&fixture_path("iperf3-tcp-3nodes.json")).expect("fixture loads")
}

/// A real 3-node netperf-tcp-rr run.
pub fn netperf_rr() -> ResultsFile {
    netbench_report::load(&fixture_path("netperf-tcp-rr-3nodes.json")).expect("fixture loads")
}

/// The value of `metric` for the pair from node `client` to node `server`.
pub fn value(file: &ResultsFile, client: &str, server: &str, metric: &str) -> f64 {
    file.results
        .iter()
        .find(|r| r.task.client.vm.hostname == client && r.task.server.vm.hostname == server)
        .and_then(|r| r.metric(metric))
        .unwrap_or_else(|| panic!("{client} -> {server} has no {metric}"))
}

/// Make pair `i` a failure with this reason, as the orchestrator records one.
pub fn fail_pair(file: &mut ResultsFile, i: usize, reason: &str) {
    let r = &mut file.results[i];
    r.task.status = Status::ToolFailed;
    r.status_name = Status::ToolFailed.name().to_string();
    r.metrics.clear();
    r.error = Some(reason.to_string());
}

/// Put each node in a zone by its hostname.
pub fn set_zones(file: &mut ResultsFile, zone_of: impl Fn(&str) -> &'static str) {
    for r in &mut file.results {
        for e in [&mut r.task.client, &mut r.task.server] {
            e.vm.availability_zone = zone_of(&e.vm.hostname).to_string();
        }
    }
}

/// Multiply `metric` by `factor` in every pair.
pub fn scale(file: &mut ResultsFile, metric: &str, factor: f64) {
    for r in &mut file.results {
        for m in &mut r.metrics {
            if m.name == metric {
                m.value *= factor;
            }
        }
    }
}

/// Drop `metric` from the pairs `which` selects.
pub fn drop_metric(file: &mut ResultsFile, metric: &str, which: impl Fn(usize) -> bool) {
    for (i, r) in file.results.iter_mut().enumerate() {
        if which(i) {
            r.metrics.retain(|m| m.name != metric);
        }
    }
}

/// The shape of a generated large run.
pub struct Big {
    /// Nodes `node-0` .. `node-{n-1}`, node `i` in zone `zone-{i % zones}`.
    pub nodes: usize,
    pub zones: usize,
    /// Each client also measures this many pseudo-random servers (`--plan sample:K`).
    pub sample: usize,
    /// The first `dense` nodes also measure each other as a full mesh.
    pub dense: usize,
    /// Every `fail_every`-th pair failed (0: none).
    pub fail_every: usize,
    /// The sample pairs ran with this many pairs at once (`concurrent_pairs`); the ring and the
    /// mesh ran alone.
    pub sample_concurrency: u32,
}

/// The headline value the generated run gives the pair `c -> s`: intra-zone about 9 Gbit/s,
/// cross-zone about 3 Gbit/s, in bytes per second, spread by a hash of the pair.
pub fn big_value(big: &Big, c: usize, s: usize) -> f64 {
    let h = ((c * 7919 + s * 104_729) % 1000) as f64 / 1000.0; // 0..1
    let gbit = if c % big.zones == s % big.zones {
        8.0 + 2.0 * h
    } else {
        2.0 + 2.0 * h
    };
    gbit * 1e9 / 8.0
}

/// A results file of `big.nodes` nodes: a ring, a sample of servers per client, and a full mesh
/// over the first `big.dense` nodes, as a 1,000-node run with `--plan sample:K` plus a dense
/// corner looks. Built from the real fixture's first result (its tool output dropped).
pub fn big_file(big: &Big) -> ResultsFile {
    let mut file = iperf3();
    let template = {
        let mut t = file.results[0].clone();
        t.output.clear();
        t.metrics.retain(|m| m.name == "throughput_received");
        t
    };
    let n = big.nodes;
    let mut seen = std::collections::HashSet::new();
    let mut pairs: Vec<(usize, usize, u32)> = Vec::new();
    let mut add = |c: usize, s: usize, load: u32, pairs: &mut Vec<(usize, usize, u32)>| {
        if c != s && seen.insert((c, s)) {
            pairs.push((c, s, load));
        }
    };
    for c in 0..n {
        add(c, (c + 1) % n, 1, &mut pairs);
    }
    for c in 0..n {
        for k in 0..big.sample {
            let s = (c * 31 + k * 977 + 13 * k * k + 1) % n;
            add(c, s, big.sample_concurrency, &mut pairs);
        }
    }
    for c in 0..big.dense {
        for s in 0..big.dense {
            add(c, s, 1, &mut pairs);
        }
    }
    file.results = pairs
        .iter()
        .enumerate()
        .map(|(i, &(c, s, load))| {
            let mut r = template.clone();
            for (e, node) in [(&mut r.task.client, c), (&mut r.task.server, s)] {
                e.worker = format!("node-{node}");
                e.vm.hostname = format!("node-{node}");
                e.vm.availability_zone = format!("zone-{}", node % big.zones);
                e.id = None;
            }
            r.pair = format!("p{i}");
            r.metrics[0].value = big_value(big, c, s);
            r.concurrent_pairs = load;
            if big.fail_every > 0 && i % big.fail_every == big.fail_every - 1 {
                r.task.status = Status::TimedOut;
                r.status_name = Status::TimedOut.name().to_string();
                r.metrics.clear();
                r.error = Some(format!("pair {i} timed out"));
            }
            r
        })
        .collect();
    if let Some(run) = &mut file.run {
        run.plan = format!("sample:{}", big.sample);
        run.concurrency = big.sample_concurrency;
        run.pairs_total = file.results.len();
        run.pairs_done = file.results.len();
    }
    file
}

/// The 1,000-node run the issue asks about: 4 zones, `sample:4` pairs at concurrency 4, a ring,
/// and a 250-node full mesh (about 67,000 pairs), one pair in 997 timed out.
pub fn thousand_nodes() -> Big {
    Big {
        nodes: 1000,
        zones: 4,
        sample: 4,
        dense: 250,
        fail_every: 997,
        sample_concurrency: 4,
    }
}

/// Bytes per second in a Gbit/s.
pub const GBIT: f64 = 1e9 / 8.0;

/// One result on a path, built from the real iperf3 fixture's first result (its tool output
/// dropped, only the headline kept): client and server NODES (`vm.hostname`), their workers
/// named as the local testbed and the launcher name them per placement (`node-1` for the pod
/// worker, `node-1-host` for the hostNetwork one, `node-1-b` for a same-node client), the
/// headline in Gbit/s, or `None` for a pair that timed out.
pub fn path_result(
    path: netbench_proto::Path,
    (client, server): (&str, &str),
    sample: u32,
    gbit: Option<f64>,
) -> netbench_proto::PairResult {
    use netbench_proto::Path;
    let mut r = iperf3().results[0].clone();
    r.output.clear();
    r.metrics.retain(|m| m.name == "throughput_received");
    let (cw, sw) = match path {
        Path::Pod | Path::Service => (client.to_string(), server.to_string()),
        Path::Host => (format!("{client}-host"), format!("{server}-host")),
        Path::SameNode => (format!("{client}-b"), server.to_string()),
    };
    for (e, node, worker) in [
        (&mut r.task.client, client, cw),
        (&mut r.task.server, server, sw),
    ] {
        e.worker = worker;
        e.vm.hostname = node.to_string();
        e.id = None;
    }
    if path == Path::Service {
        r.task.server.service_ip = Some("198.18.250.7".into());
    }
    r.path = path;
    r.sample = sample;
    r.pair = format!("{client}--{server}/s{sample}");
    if path != Path::Pod {
        r.pair.push_str(&format!("/{path}"));
    }
    match gbit {
        Some(v) => r.metrics[0].value = v * GBIT,
        None => {
            r.task.status = Status::TimedOut;
            r.status_name = Status::TimedOut.name().to_string();
            r.metrics.clear();
            r.error = Some(format!("{path} {client} -> {server} timed out"));
        }
    }
    r
}

/// The ordered pairs of 3 nodes, in plan order.
pub const PAIRS3: [(&str, &str); 6] = [
    ("node-1", "node-2"),
    ("node-1", "node-3"),
    ("node-2", "node-1"),
    ("node-2", "node-3"),
    ("node-3", "node-1"),
    ("node-3", "node-2"),
];

/// Host figures of [`PAIRS3`] in Gbit/s.
pub const HOST3: [f64; 6] = [9.4, 9.1, 9.6, 8.8, 9.3, 9.0];
/// Pod figures of [`PAIRS3`]: ratios to host 0.62, 0.55, 0.70, 0.58, 0.66, 0.60 (about).
pub const POD3: [f64; 6] = [5.828, 5.005, 6.72, 5.104, 6.138, 5.4];
/// Service figures of [`PAIRS3`]; `None`: node-2 -> node-3 timed out.
pub const SERVICE3: [Option<f64>; 6] = [
    Some(5.17),
    Some(4.55),
    Some(5.3),
    None,
    Some(5.8),
    Some(4.9),
];
/// Same-node figures of node-1, node-2, node-3.
pub const SAME_NODE3: [f64; 3] = [31.0, 28.5, 33.2];

/// A 3-node run of iperf3-tcp on every path (`--paths pod,host,service,same-node`) with the
/// figures above, in the order a run writes them: each plan pair on pod, host and service back
/// to back, then one same-node pair per node. Synthetic (the local testbed runs only `pod` so
/// far), made of the real fixture's results.
pub fn four_paths() -> ResultsFile {
    use netbench_proto::Path;
    let mut file = iperf3();
    let mut results = Vec::new();
    for (i, &nodes) in PAIRS3.iter().enumerate() {
        results.push(path_result(Path::Pod, nodes, 0, Some(POD3[i])));
        results.push(path_result(Path::Host, nodes, 0, Some(HOST3[i])));
        results.push(path_result(Path::Service, nodes, 0, SERVICE3[i]));
    }
    for (i, node) in ["node-1", "node-2", "node-3"].into_iter().enumerate() {
        results.push(path_result(
            Path::SameNode,
            (node, node),
            0,
            Some(SAME_NODE3[i]),
        ));
    }
    file.results = results;
    if let Some(run) = &mut file.run {
        run.pairs_total = file.results.len();
        run.pairs_done = file.results.len();
    }
    file
}

/// Write `file` as JSON under `dir` and load it back as `netbench report` does.
pub fn roundtrip_file(
    dir: &std::path::Path,
    name: &str,
    file: &ResultsFile,
) -> (PathBuf, ResultsFile) {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(file).unwrap()).unwrap();
    let loaded = netbench_report::load(&path).expect("loads");
    (path, loaded)
}
