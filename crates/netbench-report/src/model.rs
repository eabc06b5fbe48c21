//! The report of one run, built from a [`ResultsFile`] without I/O: one row per pair, the
//! node×node matrix of the headline metric, the zone summary and the failed pairs.
//!
//! Nodes are named by `vm.hostname`, or by the worker's name when the hostname is empty.
//! A pair is intra-zone when both nodes report the same non-empty `availability_zone`,
//! cross-zone when both report one and they differ; pairs with an unknown zone on either side
//! are counted apart.

use crate::ReportError;
use netbench_bench::catalogue::Better;
use netbench_proto::{Endpoint, PairResult, ResultsFile, Status, Unit};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Which way a metric is better (the catalogue's [`Better`]), serializable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Higher,
    Lower,
}

impl From<Better> for Direction {
    fn from(b: Better) -> Self {
        match b {
            Better::Higher => Direction::Higher,
            Better::Lower => Direction::Lower,
        }
    }
}

/// A metric the report shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricInfo {
    pub name: String,
    pub unit: Unit,
    /// From the catalogue; `None` for a metric the catalogue does not know.
    pub better: Option<Direction>,
}

/// The node a side of a pair runs on: `vm.hostname`, else the worker's name.
pub fn node(e: &Endpoint) -> &str {
    if e.vm.hostname.trim().is_empty() {
        &e.worker
    } else {
        &e.vm.hostname
    }
}

/// The zone of a side, `None` when unknown (empty).
pub fn zone(e: &Endpoint) -> Option<&str> {
    let z = e.vm.availability_zone.trim();
    (!z.is_empty()).then_some(z)
}

/// One pair, one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairRow {
    pub client: String,
    pub server: String,
    pub client_worker: String,
    pub server_worker: String,
    pub client_zone: String,
    pub server_zone: String,
    /// [`Status::name`], e.g. `ok`, `tool_failed`.
    pub status: String,
    /// Metric values in base units (bytes per second, seconds), by metric name.
    pub metrics: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many pairs (this one included) ran at some point while this one ran: 1 is a serial
    /// figure, more is a figure taken under load.
    pub concurrent_pairs: u32,
}

impl PairRow {
    /// True when other pairs ran while this one did: its figures were taken under load.
    pub fn under_load(&self) -> bool {
        self.concurrent_pairs > 1
    }
}

/// A cell of the matrix: the pair's headline value (absent when it failed) and its status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixCell {
    pub value: Option<f64>,
    pub status: String,
    /// The pair's `concurrent_pairs`; left out of JSON when 1 (a serial figure).
    #[serde(skip_serializing_if = "is_one")]
    pub concurrent_pairs: u32,
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// The headline metric for every (client, server) node pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix {
    pub metric: String,
    pub unit: Unit,
    pub better: Option<Direction>,
    /// Row and column labels, in natural order (`node-2` before `node-10`).
    pub nodes: Vec<String>,
    /// `cells[client][server]`; `None` where no pair ran (the diagonal, missing pairs).
    pub cells: Vec<Vec<Option<MatrixCell>>>,
    /// How many nodes the results name when that is more than [`MAX_MATRIX_NODES`]: the matrix
    /// is then left out (it would grow with the square of what a file claims), 0 otherwise.
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted_nodes: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The most nodes a matrix is drawn for (a million cells).
pub const MAX_MATRIX_NODES: usize = 1000;

impl Matrix {
    /// Smallest and largest value in the matrix.
    pub fn range(&self) -> Option<(f64, f64)> {
        let values = self
            .cells
            .iter()
            .flatten()
            .flatten()
            .filter_map(|c| c.value);
        values.fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
    }
}

/// Median, minimum and maximum of some pairs' headline values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    pub pairs: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// `None` for no values. The median of an even count is the mean of the middle two.
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stats {
            pairs: n,
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// Intra-zone vs cross-zone headline values (successful pairs only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneSummary {
    pub metric: String,
    pub unit: Unit,
    /// Every zone seen, sorted.
    pub zones: Vec<String>,
    pub intra: Option<Stats>,
    pub cross: Option<Stats>,
    /// Successful pairs left out because a side's zone is unknown.
    pub unknown_zone_pairs: usize,
}

/// The headline values of the pairs from one zone to another (`?` for an unknown zone).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZonePair {
    pub client_zone: String,
    pub server_zone: String,
    /// Successful pairs with a headline value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    /// Pairs that failed.
    pub failed: usize,
    /// Pairs (successful or not) that ran beside other pairs.
    pub under_load: usize,
}

/// A failed pair and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub client: String,
    pub server: String,
    pub status: String,
    pub reason: String,
}

/// Everything `netbench report` shows about one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub run: Option<String>,
    pub benchmark: String,
    /// The catalogue's description of the benchmark, when it knows it.
    pub description: Option<String>,
    pub phase: Option<String>,
    pub run_error: Option<String>,
    /// The pair plan (`mesh`, `ring`, `sample:5`, ...), from the run state when the file has one.
    pub plan: Option<String>,
    /// How many pairs the run let run at once (`--concurrency`), from the run state.
    pub concurrency: Option<u32>,
    /// Pairs that ran beside other pairs (`concurrent_pairs` > 1): figures under load.
    pub pairs_under_load: usize,
    /// The largest `concurrent_pairs` of any pair (1: a serial run).
    pub max_concurrent_pairs: u32,
    /// Start of the first pair and end of the last, RFC 3339.
    pub first_started: Option<String>,
    pub last_finished: Option<String>,
    pub pairs_total: usize,
    pub pairs_failed: usize,
    pub headline: String,
    /// Every metric present, the catalogue's order first.
    pub metrics: Vec<MetricInfo>,
    pub pairs: Vec<PairRow>,
    pub matrix: Matrix,
    pub zones: ZoneSummary,
    /// Per (client zone, server zone), in zone order.
    pub zone_pairs: Vec<ZonePair>,
    pub failures: Vec<Failure>,
}

impl Report {
    /// The best and the worst `n` successful pairs by the headline metric (indices into
    /// [`Report::pairs`]), best first and worst first; the two lists never share a pair. With
    /// no known direction, "best" is the highest value.
    pub fn extremes(&self, n: usize) -> (Vec<usize>, Vec<usize>) {
        let mut ranked: Vec<(usize, f64)> = self
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.status == Status::Ok.name())
            .filter_map(|(i, p)| p.metrics.get(&self.headline).map(|v| (i, *v)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        let lower_better = self.matrix.better == Some(Direction::Lower);
        ranked.sort_by(|a, b| {
            let o = a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal);
            if lower_better { o } else { o.reverse() }.then(a.0.cmp(&b.0))
        });
        let best: Vec<usize> = ranked.iter().take(n).map(|x| x.0).collect();
        let rest = ranked.len() - best.len();
        let worst: Vec<usize> = ranked.iter().rev().take(n.min(rest)).map(|x| x.0).collect();
        (best, worst)
    }
}

/// Compare node names so that `node-2` sorts before `node-10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let b = s.as_bytes();
        for i in 1..=b.len() {
            if i == b.len() || b[i].is_ascii_digit() != b[start].is_ascii_digit() {
                out.push((b[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, xa), (db, xb)) in ca.iter().zip(cb.iter()) {
        let o = if *da && *db {
            let (ta, tb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then(ta.cmp(tb))
        } else {
            xa.cmp(xb)
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len()).then(a.cmp(b))
}

/// The benchmark the file is about: the run state's, else the results' (all the same one).
pub fn benchmark_name(file: &ResultsFile) -> Result<String, ReportError> {
    let mut names: Vec<&str> = file.results.iter().map(|r| r.benchmark.as_str()).collect();
    if let Some(run) = &file.run {
        names.push(&run.benchmark);
    }
    names.sort_unstable();
    names.dedup();
    match names.as_slice() {
        [] => Ok("unknown".to_string()),
        [one] => Ok(one.to_string()),
        many => Err(ReportError::MixedBenchmarks(many.join(", "))),
    }
}

/// The metrics present in `results`: the catalogue's, in its order, then any others as seen.
pub fn metrics_of(benchmark: &str, results: &[&PairResult]) -> Vec<MetricInfo> {
    let bench = netbench_bench::find(benchmark);
    let mut out: Vec<MetricInfo> = Vec::new();
    if let Some(b) = bench {
        for m in b.metrics {
            if results
                .iter()
                .any(|r| r.metrics.iter().any(|x| x.name == m.name))
            {
                out.push(MetricInfo {
                    name: m.name.to_string(),
                    unit: m.unit,
                    better: Some(m.better.into()),
                });
            }
        }
    }
    for r in results {
        for m in &r.metrics {
            if !out.iter().any(|x| x.name == m.name) {
                out.push(MetricInfo {
                    name: m.name.clone(),
                    unit: m.unit,
                    better: None,
                });
            }
        }
    }
    out
}

/// The first line of a failed pair's reason: its error, else its stderr, else its status.
fn reason(r: &PairResult) -> String {
    let text = r
        .error
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .or(r.stderr.as_deref().filter(|e| !e.trim().is_empty()))
        .unwrap_or(&r.status_name);
    text.trim().lines().next().unwrap_or_default().to_string()
}

impl Report {
    /// Build the report of a results file.
    pub fn build(file: &ResultsFile) -> Result<Report, ReportError> {
        let benchmark = benchmark_name(file)?;
        let bench = netbench_bench::find(&benchmark);
        let results: Vec<&PairResult> = file.results.iter().collect();
        let metrics = metrics_of(&benchmark, &results);
        let headline_info = match bench {
            Some(b) => MetricInfo {
                name: b.headline.to_string(),
                unit: b.metric(b.headline).map(|m| m.unit).unwrap_or(Unit::Count),
                better: b.metric(b.headline).map(|m| m.better.into()),
            },
            None => metrics.first().cloned().unwrap_or(MetricInfo {
                name: "-".to_string(),
                unit: Unit::Count,
                better: None,
            }),
        };

        let pairs: Vec<PairRow> = file
            .results
            .iter()
            .map(|r| PairRow {
                client: node(&r.task.client).to_string(),
                server: node(&r.task.server).to_string(),
                client_worker: r.task.client.worker.clone(),
                server_worker: r.task.server.worker.clone(),
                client_zone: r.task.client.vm.availability_zone.clone(),
                server_zone: r.task.server.vm.availability_zone.clone(),
                status: r.status_name.clone(),
                metrics: r
                    .metrics
                    .iter()
                    .map(|m| (m.name.clone(), m.value))
                    .collect(),
                error: (r.task.status != Status::Ok).then(|| reason(r)),
                concurrent_pairs: r.concurrent_pairs,
            })
            .collect();

        let failures: Vec<Failure> = file
            .results
            .iter()
            .filter(|r| r.task.status != Status::Ok)
            .map(|r| Failure {
                client: node(&r.task.client).to_string(),
                server: node(&r.task.server).to_string(),
                status: r.status_name.clone(),
                reason: reason(r),
            })
            .collect();

        let matrix = build_matrix(&file.results, &headline_info);
        let zones = build_zones(&file.results, &headline_info);
        let zone_pairs = build_zone_pairs(&file.results, &headline_info);

        let first_started = file.results.iter().map(|r| r.started_at).min();
        let last_finished = file.results.iter().map(|r| r.finished_at).max();
        let rfc = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        };
        Ok(Report {
            run: file
                .run
                .as_ref()
                .map(|s| s.run.to_string())
                .or_else(|| file.results.first().map(|r| r.run.to_string())),
            description: bench.map(|b| b.description.to_string()),
            phase: file
                .run
                .as_ref()
                .and_then(|s| serde_json::to_value(s.phase).ok())
                .and_then(|v| v.as_str().map(str::to_string)),
            run_error: file.run.as_ref().and_then(|s| s.error.clone()),
            plan: file.run.as_ref().map(|s| s.plan.clone()),
            concurrency: file.run.as_ref().map(|s| s.concurrency),
            pairs_under_load: file
                .results
                .iter()
                .filter(|r| r.concurrent_pairs > 1)
                .count(),
            max_concurrent_pairs: file
                .results
                .iter()
                .map(|r| r.concurrent_pairs)
                .max()
                .unwrap_or(1),
            first_started: first_started.and_then(rfc),
            last_finished: last_finished.and_then(rfc),
            pairs_total: file.results.len(),
            pairs_failed: failures.len(),
            headline: headline_info.name.clone(),
            benchmark,
            metrics,
            pairs,
            matrix,
            zones,
            zone_pairs,
            failures,
        })
    }
}

fn build_matrix(results: &[PairResult], headline: &MetricInfo) -> Matrix {
    let mut nodes: Vec<String> = results
        .iter()
        .flat_map(|r| [node(&r.task.client), node(&r.task.server)])
        .map(str::to_string)
        .collect();
    nodes.sort_by(|a, b| natural_cmp(a, b));
    nodes.dedup();
    let mut matrix = Matrix {
        metric: headline.name.clone(),
        unit: headline.unit,
        better: headline.better,
        nodes: Vec::new(),
        cells: Vec::new(),
        omitted_nodes: 0,
    };
    if nodes.len() > MAX_MATRIX_NODES {
        matrix.omitted_nodes = nodes.len();
        return matrix;
    }
    let index: std::collections::HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut cells = vec![vec![None; nodes.len()]; nodes.len()];
    for r in results {
        let (c, s) = (index[node(&r.task.client)], index[node(&r.task.server)]);
        // A later result for the same pair (a re-run) replaces an earlier one.
        cells[c][s] = Some(MatrixCell {
            value: r.metric(&headline.name),
            status: r.status_name.clone(),
            concurrent_pairs: r.concurrent_pairs,
        });
    }
    matrix.nodes = nodes;
    matrix.cells = cells;
    matrix
}

fn build_zones(results: &[PairResult], headline: &MetricInfo) -> ZoneSummary {
    let mut zones: Vec<String> = results
        .iter()
        .flat_map(|r| [zone(&r.task.client), zone(&r.task.server)])
        .flatten()
        .map(str::to_string)
        .collect();
    zones.sort();
    zones.dedup();
    let (mut intra, mut cross, mut unknown) = (Vec::new(), Vec::new(), 0);
    for r in results.iter().filter(|r| r.task.status == Status::Ok) {
        let Some(v) = r.metric(&headline.name) else {
            continue;
        };
        match (zone(&r.task.client), zone(&r.task.server)) {
            (Some(a), Some(b)) if a == b => intra.push(v),
            (Some(_), Some(_)) => cross.push(v),
            _ => unknown += 1,
        }
    }
    ZoneSummary {
        metric: headline.name.clone(),
        unit: headline.unit,
        zones,
        intra: Stats::of(&intra),
        cross: Stats::of(&cross),
        unknown_zone_pairs: unknown,
    }
}

fn build_zone_pairs(results: &[PairResult], headline: &MetricInfo) -> Vec<ZonePair> {
    #[derive(Default)]
    struct Acc {
        values: Vec<f64>,
        failed: usize,
        under_load: usize,
    }
    let mut by: BTreeMap<(&str, &str), Acc> = BTreeMap::new();
    for r in results {
        let key = (
            zone(&r.task.client).unwrap_or("?"),
            zone(&r.task.server).unwrap_or("?"),
        );
        let acc = by.entry(key).or_default();
        if r.concurrent_pairs > 1 {
            acc.under_load += 1;
        }
        if r.task.status != Status::Ok {
            acc.failed += 1;
        } else if let Some(v) = r.metric(&headline.name) {
            acc.values.push(v);
        }
    }
    by.into_iter()
        .map(|((c, s), acc)| ZonePair {
            client_zone: c.to_string(),
            server_zone: s.to_string(),
            stats: Stats::of(&acc.values),
            failed: acc.failed,
            under_load: acc.under_load,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_take_the_middle_and_the_extremes() {
        let s = Stats::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.pairs, s.median, s.min, s.max), (3, 3.0, 1.0, 5.0));
        let s = Stats::of(&[4.0, 1.0, 3.0, 10.0]).unwrap();
        assert_eq!(s.median, 3.5);
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn natural_order_puts_node_2_before_node_10() {
        let mut v = vec!["node-10", "node-2", "node-1", "alpha", "node-02b"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["alpha", "node-1", "node-2", "node-02b", "node-10"]);
    }
}
