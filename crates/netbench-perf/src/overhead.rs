//! P2 overhead per pair and P3 efficiency, from real runs over namespaces (workers unpinned).
//!
//! - P2: per pair, `finished_at - started_at - client_seconds` (in-pair: dispatch, server start
//!   to ready, client dispatch and reply, server stop) and from one pair's start to the next's,
//!   minus the client (cycle: the in-pair cost plus storing the result with ack, events and run
//!   state). p50 and p99 over every pair of every run. The same runs are wiretapped
//!   ([`crate::profile`]) to split that time into phases.
//! - P3: the clients' summed run time over the run's wall time, from the first `pair_started`
//!   event to `run_finished` (the orchestrator's clock), and over the orchestrator process's
//!   whole life (connect, streams, registration included).

use crate::profile::{self, Profile};
use crate::runner::{self, Bed, WorkerSpec};
use crate::stats::{self, PairCost, Spread};
use crate::{sys, PerfError};
use serde::Serialize;

fn workers(bed: &Bed, n: usize) -> Vec<WorkerSpec> {
    bed.testbed.nodes[..n]
        .iter()
        .map(|node| WorkerSpec {
            name: node.name.clone(),
            ip: node.ip.into(),
            place: crate::procs::Place {
                cpu: None,
                netns: Some(node.netns.clone()),
            },
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Overhead {
    pub benchmarks: Vec<String>,
    pub nodes: usize,
    pub duration_seconds: u32,
    /// Seconds.
    pub in_pair: Option<Spread>,
    /// Seconds.
    pub cycle: Option<Spread>,
    pub pairs: Vec<PairCost>,
    /// Where the time goes, per benchmark, from a wiretap on these very runs.
    pub profiles: Vec<Profile>,
    pub loadavg: [f64; 3],
}

pub async fn measure_overhead(
    bed: &Bed,
    benches: &[String],
    nodes: usize,
    duration: u32,
) -> Result<Overhead, PerfError> {
    let ws = workers(bed, nodes);
    let mut pairs = Vec::new();
    let mut load = Vec::new();
    let mut profiles = Vec::new();
    for bench in benches {
        let rec = runner::run(bed, bench, &ws, duration, true).await?;
        load.push(sys::loadavg());
        pairs.extend(stats::pair_costs(&rec.results));
        let per_pair = profile::pair_phases(&rec.seen, &rec.results);
        profiles.push(profile::summarize(bench, &per_pair));
        eprintln!("P2 {bench}: {} pairs done", rec.results.len());
    }
    let in_pair: Vec<f64> = pairs.iter().map(|p| p.in_pair).collect();
    let cycle: Vec<f64> = pairs.iter().filter_map(|p| p.cycle).collect();
    Ok(Overhead {
        benchmarks: benches.to_vec(),
        nodes,
        duration_seconds: duration,
        in_pair: stats::spread(&in_pair),
        cycle: stats::spread(&cycle),
        pairs,
        profiles,
        loadavg: mean_load(&load),
    })
}

fn mean_load(v: &[[f64; 3]]) -> [f64; 3] {
    if v.is_empty() {
        return sys::loadavg();
    }
    let mut m = [0.0; 3];
    for l in v {
        for i in 0..3 {
            m[i] += l[i] / v.len() as f64;
        }
    }
    m
}

#[derive(Debug, Clone, Serialize)]
pub struct Efficiency {
    pub benchmark: String,
    pub nodes: usize,
    pub pairs: usize,
    pub pairs_failed: usize,
    pub duration_seconds: u32,
    pub client_seconds: f64,
    /// First `pair_started` to `run_finished`.
    pub pairs_wall_seconds: Option<f64>,
    pub efficiency: Option<f64>,
    /// Orchestrator process spawn to exit.
    pub process_seconds: f64,
    pub process_efficiency: Option<f64>,
    pub loadavg: [f64; 3],
}

pub async fn measure_efficiency(
    bed: &Bed,
    bench: &str,
    nodes: usize,
    duration: u32,
) -> Result<Efficiency, PerfError> {
    let rec = runner::run(bed, bench, &workers(bed, nodes), duration, false).await?;
    let wall = rec.pairs_wall_seconds();
    let failed = rec
        .results
        .iter()
        .filter(|r| r.task.status != netbench_proto::Status::Ok)
        .count();
    Ok(Efficiency {
        benchmark: bench.to_string(),
        nodes,
        pairs: rec.results.len(),
        pairs_failed: failed,
        duration_seconds: duration,
        client_seconds: rec.results.iter().map(|r| r.client_seconds).sum(),
        pairs_wall_seconds: wall,
        efficiency: wall.and_then(|w| stats::efficiency(&rec.results, w)),
        process_seconds: rec.process_seconds,
        process_efficiency: stats::efficiency(&rec.results, rec.process_seconds),
        loadavg: sys::loadavg(),
    })
}
