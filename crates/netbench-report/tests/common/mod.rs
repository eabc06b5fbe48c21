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
