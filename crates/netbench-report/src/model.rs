//! The report of one run, built from a [`ResultsFile`] without I/O: one row per pair, the
//! node×node matrix of the headline metric, the zone summary and the failed pairs.
//!
//! Nodes are named by `vm.hostname`, or by the worker's name when the hostname is empty.
//! A pair is intra-zone when both nodes report the same non-empty `availability_zone`,
//! cross-zone when both report one and they differ; pairs with an unknown zone on either side
//! are counted apart.
//!
//! A results file may hold several entries (`--benchmark a,b`, a suite file: `entry` in each
//! result) and several samples of each pair (`--samples K`: `sample`). [`Report::build_all`]
//! gives one [`Report`] per (entry, benchmark); a file of one entry gives exactly what
//! [`Report::build`] gives. Within a report whose results carry a `sample` above 0, the rows are
//! per node pair: each metric is the [`median`] of the pair's successful samples with a
//! [`median_interval`] beside it, failed samples are counted apart (and listed in the failures
//! with their sample number), and the matrix and zone figures use the medians. A file without
//! samples keeps one row per result, as before.
//!
//! Paths (`--paths pod,host,service,same-node`: `path` in each result, `pod` when absent): a
//! report covers one path of one entry, so a pod figure and a host figure never share a row, a
//! matrix cell or a zone median. [`Report::build_all`] gives, per entry, one report per path in
//! [`Path::ALL`]'s order; [`crate::relative`] sets the other paths against `host`. A file of
//! pod results only gives exactly the reports it gave before paths existed.

use crate::stats::{median, median_interval, MedianInterval};
use crate::ReportError;
use netbench_bench::catalogue::Better;
use netbench_bench::Param;
use netbench_proto::{Endpoint, PairResult, Parameters, Path, ResultsFile, Status, Unit};
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
    /// figure, more is a figure taken under load. For samples, the most of any sample.
    pub concurrent_pairs: u32,
    /// How many samples of the pair the results hold (`--samples K`); left out of JSON when 1.
    /// With several, [`PairRow::metrics`] are the medians of the successful ones.
    #[serde(skip_serializing_if = "is_one")]
    pub samples: u32,
    /// How many of those samples failed (they are not in the medians).
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub failed_samples: u32,
    /// Per metric, the confidence interval of the median of the successful samples (empty
    /// without samples).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub intervals: BTreeMap<String, MedianInterval>,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
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
    /// Which sample failed, when the pair was sampled (`--samples K`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<u32>,
}

/// Which entry of a run a report covers, when the file holds several.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryInfo {
    /// The entry's place in the run's list, from 0.
    pub entry: u32,
    /// The parameters its commands ran with (`task.parameters`).
    pub parameters: Parameters,
    /// The parameters that differ from the catalogue's defaults, as flags (`--streams 4`);
    /// empty when none do.
    pub non_default: String,
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
    /// Set when the file holds several entries: which one this report covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryInfo>,
    /// The most samples any pair has (`--samples K`); left out of JSON when 1.
    #[serde(skip_serializing_if = "is_one")]
    pub samples: u32,
    /// Failed samples, counted apart from failed pairs (a pair fails when all its samples do).
    #[serde(skip_serializing_if = "is_zero")]
    pub samples_failed: usize,
    /// The path of every pair of this report (`--paths`; `pod` for a file without paths).
    pub path: Path,
    /// Whether headings name the path: true when the file holds a path other than `pod`.
    #[serde(skip)]
    pub show_path: bool,
}

impl Report {
    /// The benchmark with its non-default parameters (`iperf3-tcp --streams 4`) for a report
    /// of one of several entries, else the benchmark.
    pub fn title(&self) -> String {
        match &self.entry {
            Some(e) if !e.non_default.is_empty() => format!("{} {}", self.benchmark, e.non_default),
            _ => self.benchmark.clone(),
        }
    }
    /// True when the pairs' figures are medians of several samples.
    pub fn sampled(&self) -> bool {
        self.samples > 1
    }

    /// Which entry this report belongs to: the reports of one entry's paths share it.
    pub fn entry_key(&self) -> (Option<u32>, &str) {
        (self.entry.as_ref().map(|e| e.entry), &self.benchmark)
    }

    /// `path host: node to node in the nodes' own network (hostNetwork), the baseline`.
    pub fn path_heading(&self) -> String {
        format!("path {}: {}", self.path, path_description(self.path))
    }

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

/// What a path measures, in the words of the report's headings.
pub fn path_description(p: Path) -> &'static str {
    match p {
        Path::Pod => "pod to pod across nodes",
        Path::Host => "node to node in the nodes' own network (hostNetwork), the baseline",
        Path::Service => "pod to a ClusterIP Service in front of the server's pod",
        Path::SameNode => "two pods on one node, one pair per node",
    }
}

/// The paths `results` hold, in [`Path::ALL`]'s order.
pub fn paths_of(results: &[&PairResult]) -> Vec<Path> {
    Path::ALL
        .into_iter()
        .filter(|p| results.iter().any(|r| r.path == *p))
        .collect()
}

/// `results` split by path, in [`Path::ALL`]'s order; each keeps the file's order.
pub fn by_path<'a>(results: &[&'a PairResult]) -> Vec<(Path, Vec<&'a PairResult>)> {
    paths_of(results)
        .into_iter()
        .map(|p| (p, results.iter().copied().filter(|r| r.path == p).collect()))
        .collect()
}

/// The reports of each entry ([`Report::entry_key`]), in order: [`Report::build_all`] puts an
/// entry's paths next to each other.
pub fn by_entry(reports: &[Report]) -> Vec<&[Report]> {
    reports
        .chunk_by(|a, b| a.entry_key() == b.entry_key())
        .collect()
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

/// The results of one entry of a run: one benchmark with one set of parameters.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub entry: u32,
    pub benchmark: &'a str,
    pub results: Vec<&'a PairResult>,
}

impl Group<'_> {
    /// The parameters the entry's commands ran with (its first result's).
    pub fn parameters(&self) -> Parameters {
        self.results
            .first()
            .map(|r| r.task.parameters)
            .unwrap_or_default()
    }
}

/// The results split by (entry, benchmark), in entry order; each keeps the file's order.
pub fn groups(file: &ResultsFile) -> Vec<Group<'_>> {
    let mut by: BTreeMap<(u32, &str), Vec<&PairResult>> = BTreeMap::new();
    for r in &file.results {
        by.entry((r.entry, r.benchmark.as_str()))
            .or_default()
            .push(r);
    }
    by.into_iter()
        .map(|((entry, benchmark), results)| Group {
            entry,
            benchmark,
            results,
        })
        .collect()
}

/// A parameter's value as its flag takes it: rates in `k`/`M`/`G` when they divide evenly.
fn param_value(param: Param, v: u64) -> String {
    if param == Param::Rate && v > 0 {
        for (div, suffix) in [(1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")] {
            if v.is_multiple_of(div) {
                return format!("{}{suffix}", v / div);
            }
        }
    }
    v.to_string()
}

/// The parameters that differ from the benchmark's defaults, as flags: `--streams 4
/// --message-size 65536` (every given one for a benchmark the catalogue does not know).
pub fn non_default_parameters(benchmark: &str, p: &Parameters) -> String {
    let defaults = default_parameters(benchmark);
    Param::ALL
        .into_iter()
        .filter_map(|param| {
            let v = param.get(p)?;
            (param.get(&defaults) != Some(v))
                .then(|| format!("{} {}", param.flag(), param_value(param, v)))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The parameters with the catalogue's defaults filled in, to match entries across runs (an
/// old file records `{}` where a new one records `{"streams": 1}`).
pub fn effective_parameters(benchmark: &str, p: &Parameters) -> Parameters {
    let d = default_parameters(benchmark);
    Parameters {
        streams: p.streams.or(d.streams),
        message_size: p.message_size.or(d.message_size),
        rate: p.rate.or(d.rate),
    }
}

/// What a benchmark runs with when no parameter is given: its templates' defaults, and one
/// stream for a benchmark that takes `--streams` without a template default (iperf3's `-P`
/// is 1 unless given).
pub fn default_parameters(benchmark: &str) -> Parameters {
    let Some(b) = netbench_bench::find(benchmark) else {
        return Parameters::default();
    };
    let mut d = b.effective_parameters(&Parameters::default());
    if d.streams.is_none() && b.takes().contains(&Param::Streams) {
        d.streams = Some(1);
    }
    d
}

/// The zone in a row's zone text, `None` when unknown (empty).
fn zone_of(z: &str) -> Option<&str> {
    let z = z.trim();
    (!z.is_empty()).then_some(z)
}

/// One row per result (a file without samples), and its failures.
fn plain_rows(results: &[&PairResult]) -> (Vec<PairRow>, Vec<Failure>) {
    let rows = results
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
            samples: 1,
            failed_samples: 0,
            intervals: BTreeMap::new(),
        })
        .collect();
    let failures = results
        .iter()
        .filter(|r| r.task.status != Status::Ok)
        .map(|r| Failure {
            client: node(&r.task.client).to_string(),
            server: node(&r.task.server).to_string(),
            status: r.status_name.clone(),
            reason: reason(r),
            sample: None,
        })
        .collect();
    (rows, failures)
}

/// Whether `results` hold samples (`--samples`: some `sample` above 0).
pub fn is_sampled(results: &[&PairResult]) -> bool {
    results.iter().any(|r| r.sample > 0)
}

/// The results of each (client node, server node), in the order each pair first appears.
pub fn samples_by_pair<'a>(
    results: &[&'a PairResult],
) -> Vec<((String, String), Vec<&'a PairResult>)> {
    let mut out: Vec<((String, String), Vec<&PairResult>)> = Vec::new();
    let mut index: std::collections::HashMap<(String, String), usize> = Default::default();
    for r in results {
        let key = (
            node(&r.task.client).to_string(),
            node(&r.task.server).to_string(),
        );
        match index.get(&key) {
            Some(&i) => out[i].1.push(r),
            None => {
                index.insert(key.clone(), out.len());
                out.push((key, vec![r]));
            }
        }
    }
    out
}

/// One row per node pair, its metrics the medians of its successful samples; every failed
/// sample is a failure of its own.
fn sampled_rows(results: &[&PairResult]) -> (Vec<PairRow>, Vec<Failure>) {
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for ((client, server), samples) in samples_by_pair(results) {
        let first = samples[0];
        let ok: Vec<&PairResult> = samples
            .iter()
            .copied()
            .filter(|r| r.task.status == Status::Ok)
            .collect();
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in &ok {
            for m in &r.metrics {
                values.entry(m.name.clone()).or_default().push(m.value);
            }
        }
        let last_failed = samples.iter().rev().find(|r| r.task.status != Status::Ok);
        for r in samples.iter().filter(|r| r.task.status != Status::Ok) {
            failures.push(Failure {
                client: client.clone(),
                server: server.clone(),
                status: r.status_name.clone(),
                reason: reason(r),
                sample: Some(r.sample),
            });
        }
        rows.push(PairRow {
            client_worker: first.task.client.worker.clone(),
            server_worker: first.task.server.worker.clone(),
            client_zone: first.task.client.vm.availability_zone.clone(),
            server_zone: first.task.server.vm.availability_zone.clone(),
            status: match (ok.is_empty(), last_failed) {
                (true, Some(f)) => f.status_name.clone(),
                _ => Status::Ok.name().to_string(),
            },
            metrics: values
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), median(v)?)))
                .collect(),
            intervals: if samples.len() > 1 {
                values
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), median_interval(v)?)))
                    .collect()
            } else {
                BTreeMap::new()
            },
            error: if ok.is_empty() {
                last_failed.map(|r| reason(r))
            } else {
                None
            },
            concurrent_pairs: samples
                .iter()
                .map(|r| r.concurrent_pairs)
                .max()
                .unwrap_or(1),
            samples: samples.len() as u32,
            failed_samples: (samples.len() - ok.len()) as u32,
            client,
            server,
        });
    }
    (rows, failures)
}

impl Report {
    /// Build the report of a results file of one benchmark and one path (all its results as
    /// one entry). A file of several paths is refused: [`Report::build_all`] splits it.
    pub fn build(file: &ResultsFile) -> Result<Report, ReportError> {
        let benchmark = benchmark_name(file)?;
        let results: Vec<&PairResult> = file.results.iter().collect();
        let paths = paths_of(&results);
        if paths.len() > 1 {
            return Err(ReportError::SeveralPaths(
                paths
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        Ok(Report::build_group(file, &results, benchmark, None))
    }

    /// One report per entry of the file ([`groups`]) and path, in entry order, each entry's
    /// paths in [`Path::ALL`]'s order. A file of one entry and one path gives exactly
    /// [`Report::build`]'s report.
    pub fn build_all(file: &ResultsFile) -> Result<Vec<Report>, ReportError> {
        let groups = groups(file);
        if groups.len() <= 1 {
            if let Ok(r) = Report::build(file) {
                return Ok(vec![r]);
            }
        }
        let several = groups.len() > 1;
        let show_path = file.results.iter().any(|r| r.path != Path::Pod);
        let mut out = Vec::new();
        for g in &groups {
            let parameters = g.parameters();
            let entry = several.then(|| EntryInfo {
                entry: g.entry,
                parameters,
                non_default: non_default_parameters(g.benchmark, &parameters),
            });
            for (_, results) in by_path(&g.results) {
                let mut r =
                    Report::build_group(file, &results, g.benchmark.to_string(), entry.clone());
                r.show_path = show_path;
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The report of some results of `file` (one entry and one path: the first result's), all
    /// of benchmark `benchmark`.
    pub fn build_group(
        file: &ResultsFile,
        results: &[&PairResult],
        benchmark: String,
        entry: Option<EntryInfo>,
    ) -> Report {
        let bench = netbench_bench::find(&benchmark);
        let metrics = metrics_of(&benchmark, results);
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

        let path = results.first().map(|r| r.path).unwrap_or_default();
        let sampled = is_sampled(results);
        let (pairs, failures) = if sampled {
            sampled_rows(results)
        } else {
            plain_rows(results)
        };

        let matrix = build_matrix(&pairs, &headline_info);
        let zones = build_zones(&pairs, &headline_info);
        let zone_pairs = build_zone_pairs(&pairs, &headline_info);

        let first_started = results.iter().map(|r| r.started_at).min();
        let last_finished = results.iter().map(|r| r.finished_at).max();
        let rfc = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        };
        Report {
            run: file
                .run
                .as_ref()
                .map(|s| s.run.to_string())
                .or_else(|| results.first().map(|r| r.run.to_string())),
            description: bench.map(|b| b.description.to_string()),
            phase: file
                .run
                .as_ref()
                .and_then(|s| serde_json::to_value(s.phase).ok())
                .and_then(|v| v.as_str().map(str::to_string)),
            run_error: file.run.as_ref().and_then(|s| s.error.clone()),
            plan: file.run.as_ref().map(|s| s.plan.clone()),
            concurrency: file.run.as_ref().map(|s| s.concurrency),
            pairs_under_load: pairs.iter().filter(|p| p.under_load()).count(),
            max_concurrent_pairs: pairs.iter().map(|p| p.concurrent_pairs).max().unwrap_or(1),
            first_started: first_started.and_then(rfc),
            last_finished: last_finished.and_then(rfc),
            pairs_total: pairs.len(),
            pairs_failed: pairs.iter().filter(|p| p.error.is_some()).count(),
            headline: headline_info.name.clone(),
            benchmark,
            metrics,
            samples: pairs.iter().map(|p| p.samples).max().unwrap_or(1),
            samples_failed: if sampled { failures.len() } else { 0 },
            pairs,
            matrix,
            zones,
            zone_pairs,
            failures,
            entry,
            path,
            show_path: path != Path::Pod,
        }
    }
}

fn build_matrix(rows: &[PairRow], headline: &MetricInfo) -> Matrix {
    let mut nodes: Vec<String> = rows
        .iter()
        .flat_map(|r| [r.client.as_str(), r.server.as_str()])
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
    for r in rows {
        let (c, s) = (index[r.client.as_str()], index[r.server.as_str()]);
        // A later result for the same pair (a re-run) replaces an earlier one.
        cells[c][s] = Some(MatrixCell {
            value: r.metrics.get(&headline.name).copied(),
            status: r.status.clone(),
            concurrent_pairs: r.concurrent_pairs,
        });
    }
    matrix.nodes = nodes;
    matrix.cells = cells;
    matrix
}

fn build_zones(rows: &[PairRow], headline: &MetricInfo) -> ZoneSummary {
    let mut zones: Vec<String> = rows
        .iter()
        .flat_map(|r| [zone_of(&r.client_zone), zone_of(&r.server_zone)])
        .flatten()
        .map(str::to_string)
        .collect();
    zones.sort();
    zones.dedup();
    let (mut intra, mut cross, mut unknown) = (Vec::new(), Vec::new(), 0);
    for r in rows.iter().filter(|r| r.error.is_none()) {
        let Some(&v) = r.metrics.get(&headline.name) else {
            continue;
        };
        match (zone_of(&r.client_zone), zone_of(&r.server_zone)) {
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

fn build_zone_pairs(rows: &[PairRow], headline: &MetricInfo) -> Vec<ZonePair> {
    #[derive(Default)]
    struct Acc {
        values: Vec<f64>,
        failed: usize,
        under_load: usize,
    }
    let mut by: BTreeMap<(&str, &str), Acc> = BTreeMap::new();
    for r in rows {
        let key = (
            zone_of(&r.client_zone).unwrap_or("?"),
            zone_of(&r.server_zone).unwrap_or("?"),
        );
        let acc = by.entry(key).or_default();
        if r.concurrent_pairs > 1 {
            acc.under_load += 1;
        }
        if r.error.is_some() {
            acc.failed += 1;
        } else if let Some(&v) = r.metrics.get(&headline.name) {
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
