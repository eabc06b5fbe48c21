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
