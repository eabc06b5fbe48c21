//! Two runs, pair by pair: pure comparison and its text / Markdown / JSON renderings.
//!
//! Pairs match by client and server NODE ([`crate::model::node`]: `vm.hostname`, else the
//! worker's name), so two runs on the same cluster line up even though worker pods got new names,
//! and by PATH (`--paths`; `pod` for a file without paths): a pod figure is never set against a
//! host, service or same-node one. A path measured in one file only is named as such
//! ([`Comparison::paths_only_in_base`]), and its pairs are listed with the others in one file only.
//! Each metric's relative change `(new - base) / |base|` is judged in the catalogue's direction
//! ([`Direction`]): past the tolerance on the worse side is a regression, on the better side an
//! improvement. A pair that succeeded in BASE and failed in NEW is a regression too. Pairs
//! present in only one file are listed, never dropped.
//!
//! Serial figures and figures under load are never compared silently: a pair that ran alone
//! (`concurrent_pairs` 1) in one file and beside other pairs in the other is marked
//! `load differs`, counted in [`Comparison::load_differs`], and the output opens with a warning.
//! Its verdicts still count (the exit code does not hide a regression), but the reader knows the
//! two figures were taken under different load.
//!
//! Samples (`--samples K`): when both files hold at least 2 successful samples of a pair, BASE
//! and NEW are the medians of the samples, and a change past the tolerance is called a
//! regression (or an improvement) only when the two-sided Mann–Whitney U test of the samples
//! ([`crate::stats::mann_whitney`], alpha [`ALPHA`]) says it is not noise; else its verdict is
//! [`Verdict::NotSignificant`], counted apart ([`Comparison::not_significant`]) and not failing
//! the exit code. The test used and its p-value are in the output. With 3 vs 3 samples the
//! smallest p the test allows is 0.1, so nothing can be significant; the output says so
//! ([`Comparison::too_few_samples`]). With one sample a side, judging is as before.
//!
//! Several entries (`--benchmark a,b`, a suite): [`compare_all`] matches the entries of the two
//! files by benchmark and parameters (defaults filled in, so an old file's `{}` matches
//! `{"streams": 1}`) and compares each; entries in one file only are listed. Files of one entry
//! each are compared as before, whatever their parameters (a difference is warned about).

use crate::model::{self, Direction, MetricInfo};
use crate::render::{align, md_table};
use crate::stats::{self, MannWhitney, ALPHA};
use crate::units::{human, percent};
use crate::ReportError;
use netbench_proto::{PairResult, Parameters, Path, ResultsFile, Status, Unit};
use serde::Serialize;
use std::collections::BTreeMap;

/// `10%`, `10` (percent) or `2.5%`: the tolerance as a fraction (0.1).
pub fn parse_tolerance(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim();
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1000.0).contains(&v) => Ok(v / 100.0),
        _ => Err(format!(
            "{s:?} is not a tolerance; give a percentage between 0% and 1000%, like 10%"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Better than BASE by more than the tolerance.
    Improved,
    /// Within the tolerance either way.
    Unchanged,
    /// Worse than BASE by more than the tolerance.
    Regressed,
    /// The metric is in one file only (the pair failed in one run, or a tool changed).
    Missing,
    /// The catalogue does not say which way is better; the delta is shown, not judged.
    Unjudged,
    /// Past the tolerance, but the Mann–Whitney U test of the samples cannot tell it from noise
    /// (p ≥ [`ALPHA`]): not a regression.
    NotSignificant,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Unchanged => "ok",
            Verdict::Regressed => "REGRESSED",
            Verdict::Missing => "missing",
            Verdict::Unjudged => "not judged",
            Verdict::NotSignificant => "not significant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDelta {
    pub name: String,
    pub unit: Unit,
    pub better: Option<Direction>,
    pub base: Option<f64>,
    pub new: Option<f64>,
    /// `(new - base) / |base|`; infinite when BASE is 0 and NEW is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    pub verdict: Verdict,
    /// Successful samples behind `base` and `new` (their medians), when the pair was sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_samples: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_samples: Option<usize>,
    /// The significance test of the samples, when both sides have at least 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<MannWhitney>,
}

/// How many samples of a pair each file holds, and how many of them failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SampleCounts {
    pub base: usize,
    pub base_failed: usize,
    pub new: usize,
    pub new_failed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairDelta {
    pub client: String,
    pub server: String,
    /// The pair's path, the same in both files.
    pub path: Path,
    pub base_status: String,
    pub new_status: String,
    /// Why NEW failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_error: Option<String>,
    /// True when the pair succeeded in BASE and failed in NEW.
    pub newly_failed: bool,
    /// The pair's `concurrent_pairs` in each file (1: it ran alone).
    pub base_concurrent_pairs: u32,
    pub new_concurrent_pairs: u32,
    /// True when the pair ran alone in one file and beside other pairs in the other.
    pub load_differs: bool,
    pub metrics: Vec<MetricDelta>,
    /// Set when either file holds several samples of the pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<SampleCounts>,
}

impl PairDelta {
    pub fn regressions(&self) -> usize {
        usize::from(self.newly_failed)
            + self
                .metrics
                .iter()
                .filter(|m| m.verdict == Verdict::Regressed)
                .count()
    }
}

/// What a pair is matched by: its path and its client and server nodes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct NodePair {
    pub path: Path,
    pub client: String,
    pub server: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSide {
    pub run: Option<String>,
    pub benchmark: String,
    pub pairs: usize,
    /// The run state's plan and concurrency, when the file has a run state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Pairs that ran beside other pairs (`concurrent_pairs` > 1).
    pub pairs_under_load: usize,
    /// The most samples of any pair (`--samples K`); left out of JSON when 1.
    #[serde(skip_serializing_if = "is_one")]
    pub samples: usize,
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Which entries of the two files a comparison covers, when they hold several.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryMatch {
    /// The benchmark and its non-default parameters (`iperf3-tcp --streams 4`).
    pub title: String,
    pub base_entry: u32,
    pub new_entry: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub base: RunSide,
    pub new: RunSide,
    /// As a fraction: 0.1 is 10 %.
    pub tolerance: f64,
    /// The metrics judged (every metric when none was named).
    pub metrics: Vec<String>,
    pub pairs: Vec<PairDelta>,
    pub only_in_base: Vec<NodePair>,
    pub only_in_new: Vec<NodePair>,
    /// Paths measured in one file only (their pairs are in `only_in_base` / `only_in_new`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths_only_in_base: Vec<Path>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths_only_in_new: Vec<Path>,
    /// Regressed metrics plus newly failed pairs.
    pub regressions: usize,
    /// Matched pairs that ran alone in one file and under load in the other.
    pub load_differs: usize,
    /// Changes past the tolerance the significance test could not tell from noise.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_significant: usize,
    /// Sample sizes (base, new) tested whose smallest possible p is not below [`ALPHA`]: no
    /// change can be significant with them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub too_few_samples: Vec<(usize, usize)>,
    /// Set when the files hold several entries: which ones this compares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryMatch>,
    /// Files of one entry each whose parameters differ: what they are (`--streams 1` vs `--streams 4`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters_differ: Option<String>,
}

/// Every entry of two files, compared ([`compare_all`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparisons {
    pub entries: Vec<Comparison>,
    /// Entries (their titles) in one file only.
    pub only_in_base: Vec<String>,
    pub only_in_new: Vec<String>,
    /// Summed over the entries.
    pub regressions: usize,
    pub not_significant: usize,
    pub load_differs: usize,
}

/// Relative change and its verdict.
pub fn judge(
    base: f64,
    new: f64,
    better: Option<Direction>,
    tolerance: f64,
) -> (Option<f64>, Verdict) {
    let change = if base == 0.0 {
        if new == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(new)
        }
    } else {
        (new - base) / base.abs()
    };
    let verdict = match better {
        None => Verdict::Unjudged,
        Some(d) => {
            // Positive `gain` is the good direction.
            let gain = if d == Direction::Higher {
                change
            } else {
                -change
            };
            if gain < -tolerance {
                Verdict::Regressed
            } else if gain > tolerance {
                Verdict::Improved
            } else {
                Verdict::Unchanged
            }
        }
    };
    (Some(change), verdict)
}

/// Results by (path, client node, server node): every sample of the pair when the results are
/// sampled (a `sample` above 0), else the last result for the nodes (a re-run wins).
fn by_nodes<'a>(results: &[&'a PairResult]) -> BTreeMap<NodePair, Vec<&'a PairResult>> {
    let sampled = model::is_sampled(results);
    let mut out = BTreeMap::new();
    for (path, on_path) in model::by_path(results) {
        for ((client, server), mut v) in model::samples_by_pair(&on_path) {
            if !sampled {
                v.drain(..v.len() - 1);
            }
            out.insert(
                NodePair {
                    path,
                    client,
                    server,
                },
                v,
            );
        }
    }
    out
}

/// The status of a pair's samples: `ok` when one succeeded, else the last failure's.
fn status_of(samples: &[&PairResult]) -> (String, bool) {
    if samples.iter().any(|r| r.task.status == Status::Ok) || samples.is_empty() {
        (Status::Ok.name().to_string(), true)
    } else {
        let last = samples[samples.len() - 1];
        (last.status_name.clone(), false)
    }
}

/// The metrics judged: the catalogue's and any others seen in `results`, restricted to `only`.
fn metrics_for(benchmark: &str, results: &[&PairResult], only: &[String]) -> Vec<MetricInfo> {
    let mut metrics = model::metrics_of(benchmark, results);
    if !only.is_empty() {
        metrics.retain(|m| only.contains(&m.name));
    }
    metrics
}

/// Refuse a `--metric` no file has.
fn check_only(known: &[MetricInfo], only: &[String]) -> Result<(), ReportError> {
    for name in only {
        if !known.iter().any(|m| &m.name == name) {
            let mut names: Vec<&str> = Vec::new();
            for m in known {
                if !names.contains(&m.name.as_str()) {
                    names.push(&m.name);
                }
            }
            return Err(ReportError::UnknownMetric {
                name: name.clone(),
                known: names.join(", "),
            });
        }
    }
    Ok(())
}

/// One metric of one pair, NEW's samples against BASE's.
fn metric_delta(
    m: &MetricInfo,
    b: &[&PairResult],
    n: &[&PairResult],
    sampled: bool,
    tolerance: f64,
) -> Option<MetricDelta> {
    let values = |side: &[&PairResult]| -> Vec<f64> {
        side.iter()
            .filter(|r| r.task.status == Status::Ok || !sampled)
            .filter_map(|r| r.metric(&m.name))
            .collect()
    };
    let (bv, nv) = (values(b), values(n));
    let (base, new) = (stats::median(&bv), stats::median(&nv));
    let mut test = None;
    let (change, verdict) = match (base, new) {
        (Some(x), Some(y)) => {
            let (change, mut verdict) = judge(x, y, m.better, tolerance);
            if bv.len() >= 2 && nv.len() >= 2 {
                test = stats::mann_whitney(&bv, &nv);
                let noise = test.is_some_and(|t| !t.significant());
                if noise && matches!(verdict, Verdict::Regressed | Verdict::Improved) {
                    verdict = Verdict::NotSignificant;
                }
            }
            (change, verdict)
        }
        (None, None) => return None,
        _ => (None, Verdict::Missing),
    };
    Some(MetricDelta {
        name: m.name.clone(),
        unit: m.unit,
        better: m.better,
        base,
        new,
        change,
        verdict,
        base_samples: sampled.then_some(bv.len()),
        new_samples: sampled.then_some(nv.len()),
        test,
    })
}

/// The side of one entry of a file.
fn side(f: &ResultsFile, results: &[&PairResult], bench: String) -> RunSide {
    // Node pairs and the most samples of one when sampled (each pair has several results),
    // else results as before.
    let (pairs, samples) = if model::is_sampled(results) {
        let by_pair: Vec<usize> = model::by_path(results)
            .iter()
            .flat_map(|(_, on_path)| model::samples_by_pair(on_path))
            .map(|(_, v)| v.len())
            .collect();
        let most = by_pair.iter().copied().max().unwrap_or(1);
        (by_pair.len(), most)
    } else {
        (results.len(), 1)
    };
    RunSide {
        run: f
            .run
            .as_ref()
            .map(|s| s.run.to_string())
            .or_else(|| results.first().map(|r| r.run.to_string())),
        benchmark: bench,
        pairs,
        plan: f.run.as_ref().map(|s| s.plan.clone()),
        concurrency: f.run.as_ref().map(|s| s.concurrency),
        pairs_under_load: results.iter().filter(|r| r.concurrent_pairs > 1).count(),
        samples,
    }
}

/// One entry of BASE against the matching entry of NEW.
fn compare_entry(
    (base, br): (&ResultsFile, &[&PairResult]),
    (new, nr): (&ResultsFile, &[&PairResult]),
    (bb, nb): (String, String),
    tolerance: f64,
    only: &[String],
) -> Comparison {
    let all: Vec<&PairResult> = br.iter().chain(nr).copied().collect();
    let metrics = metrics_for(&bb, &all, only);
    let (b, n) = (by_nodes(br), by_nodes(nr));
    let mut pairs = Vec::new();
    for (key, bs) in &b {
        let Some(ns) = n.get(key) else { continue };
        let sampled = bs.len() > 1 || ns.len() > 1;
        let deltas = metrics
            .iter()
            .filter_map(|m| metric_delta(m, bs, ns, sampled, tolerance))
            .collect();
        let ((base_status, base_ok), (new_status, new_ok)) = (status_of(bs), status_of(ns));
        let failed = |v: &[&PairResult]| v.iter().filter(|r| r.task.status != Status::Ok).count();
        let load = |v: &[&PairResult]| v.iter().map(|r| r.concurrent_pairs).max().unwrap_or(1);
        let (bl, nl) = (load(bs), load(ns));
        pairs.push(PairDelta {
            client: key.client.clone(),
            server: key.server.clone(),
            path: key.path,
            base_status,
            new_status,
            new_error: ns
                .iter()
                .rev()
                .find(|r| r.error.is_some() && (!sampled || r.task.status != Status::Ok))
                .and_then(|r| r.error.clone()),
            newly_failed: base_ok && !new_ok,
            base_concurrent_pairs: bl,
            new_concurrent_pairs: nl,
            load_differs: (bl > 1) != (nl > 1),
            metrics: deltas,
            samples: sampled.then(|| SampleCounts {
                base: bs.len(),
                base_failed: failed(bs),
                new: ns.len(),
                new_failed: failed(ns),
            }),
        });
    }
    pairs.sort_by(|x, y| {
        x.path
            .cmp(&y.path)
            .then(model::natural_cmp(&x.client, &y.client))
            .then(model::natural_cmp(&x.server, &y.server))
    });
    let paths_only = |a: &[&PairResult], z: &[&PairResult]| -> Vec<Path> {
        let z = model::paths_of(z);
        model::paths_of(a)
            .into_iter()
            .filter(|p| !z.contains(p))
            .collect()
    };
    let only_in = |a: &BTreeMap<NodePair, Vec<&PairResult>>,
                   z: &BTreeMap<NodePair, Vec<&PairResult>>| {
        a.keys()
            .filter(|k| !z.contains_key(*k))
            .cloned()
            .collect::<Vec<_>>()
    };
    let regressions = pairs.iter().map(PairDelta::regressions).sum();
    let load_differs = pairs.iter().filter(|p| p.load_differs).count();
    let tested = pairs.iter().flat_map(|p| &p.metrics).filter_map(|m| m.test);
    let mut too_few: Vec<(usize, usize)> = tested
        .filter(|t| t.min_p >= ALPHA)
        .map(|t| (t.n_a, t.n_b))
        .collect();
    too_few.sort_unstable();
    too_few.dedup();
    Comparison {
        base: side(base, br, bb),
        new: side(new, nr, nb),
        tolerance,
        metrics: metrics.into_iter().map(|m| m.name).collect(),
        only_in_base: only_in(&b, &n),
        only_in_new: only_in(&n, &b),
        paths_only_in_base: paths_only(br, nr),
        paths_only_in_new: paths_only(nr, br),
        not_significant: pairs
            .iter()
            .flat_map(|p| &p.metrics)
            .filter(|m| m.verdict == Verdict::NotSignificant)
            .count(),
        pairs,
        regressions,
        load_differs,
        too_few_samples: too_few,
        entry: None,
        parameters_differ: None,
    }
}

/// The benchmark of a file of one entry: the run state's and the results' (as
/// [`model::benchmark_name`]), or the results' alone when the run state names another list.
fn single_benchmark(
    file: &ResultsFile,
    groups: &[model::Group<'_>],
) -> Result<String, ReportError> {
    match (model::benchmark_name(file), groups) {
        (Ok(b), _) => Ok(b),
        (Err(_), [one]) => Ok(one.benchmark.to_string()),
        (Err(e), _) => Err(e),
    }
}

/// Compare NEW against BASE, a file of one entry each. `only` restricts the judged metrics
/// (empty: all of them). Files of several entries: [`compare_all`].
pub fn compare(
    base: &ResultsFile,
    new: &ResultsFile,
    tolerance: f64,
    only: &[String],
) -> Result<Comparison, ReportError> {
    let mut all = compare_all(base, new, tolerance, only)?;
    if all.entries.len() == 1 && all.only_in_base.is_empty() && all.only_in_new.is_empty() {
        Ok(all.entries.remove(0))
    } else {
        let titles: Vec<String> = all
            .entries
            .iter()
            .filter_map(|c| c.entry.as_ref().map(|e| e.title.clone()))
            .chain(all.only_in_base)
            .chain(all.only_in_new)
            .collect();
        Err(ReportError::SeveralEntries(titles.join(", ")))
    }
}

/// An entry's key across files: benchmark, parameters with defaults, and which occurrence of
/// the two it is in its file.
type Key = (String, Parameters, usize);

fn keyed(groups: Vec<model::Group<'_>>) -> Vec<(Key, model::Group<'_>)> {
    let mut seen: Vec<(String, Parameters)> = Vec::new();
    groups
        .into_iter()
        .map(|g| {
            let p = model::effective_parameters(g.benchmark, &g.parameters());
            seen.push((g.benchmark.to_string(), p));
            let k = seen
                .iter()
                .filter(|x| x.0 == g.benchmark && x.1 == p)
                .count();
            ((g.benchmark.to_string(), p, k), g)
        })
        .collect()
}

/// An entry's benchmark with its non-default parameters.
fn title(g: &model::Group<'_>) -> String {
    let nd = model::non_default_parameters(g.benchmark, &g.parameters());
    if nd.is_empty() {
        g.benchmark.to_string()
    } else {
        format!("{} {nd}", g.benchmark)
    }
}

/// Compare every entry of NEW with the entry of BASE of the same benchmark and parameters.
/// Files of one entry each give one comparison, exactly what [`compare`] gives.
pub fn compare_all(
    base: &ResultsFile,
    new: &ResultsFile,
    tolerance: f64,
    only: &[String],
) -> Result<Comparisons, ReportError> {
    let (gb, gn) = (model::groups(base), model::groups(new));
    let everything: Vec<&PairResult> = base.results.iter().chain(&new.results).collect();
    let mut known: Vec<MetricInfo> = Vec::new();
    for g in gb.iter().chain(&gn) {
        let all: Vec<&PairResult> = g.results.to_vec();
        known.extend(model::metrics_of(g.benchmark, &all));
    }
    if gb.len() <= 1 && gn.len() <= 1 {
        let (bb, nb) = (single_benchmark(base, &gb)?, single_benchmark(new, &gn)?);
        if bb != nb && bb != "unknown" && nb != "unknown" {
            return Err(ReportError::DifferentBenchmarks { base: bb, new: nb });
        }
        check_only(&model::metrics_of(&bb, &everything), only)?;
        let br: Vec<&PairResult> = base.results.iter().collect();
        let nr: Vec<&PairResult> = new.results.iter().collect();
        let params = |g: &[model::Group<'_>]| {
            g.first()
                .map(|g| (g.benchmark, g.parameters()))
                .map(|(b, p)| {
                    (
                        model::effective_parameters(b, &p),
                        model::non_default_parameters(b, &p),
                    )
                })
        };
        let differ = match (params(&gb), params(&gn)) {
            (Some((pb, lb)), Some((pn, ln))) if pb != pn => Some(format!(
                "{} vs {}",
                if lb.is_empty() { "defaults" } else { &lb },
                if ln.is_empty() { "defaults" } else { &ln }
            )),
            _ => None,
        };
        let mut c = compare_entry((base, &br), (new, &nr), (bb, nb), tolerance, only);
        c.parameters_differ = differ;
        return Ok(Comparisons {
            regressions: c.regressions,
            not_significant: c.not_significant,
            load_differs: c.load_differs,
            entries: vec![c],
            only_in_base: Vec::new(),
            only_in_new: Vec::new(),
        });
    }
    check_only(&known, only)?;
    let (kb, kn) = (keyed(gb), keyed(gn));
    let mut entries = Vec::new();
    for (k, b) in &kb {
        let Some((_, n)) = kn.iter().find(|(x, _)| x == k) else {
            continue;
        };
        let mut c = compare_entry(
            (base, &b.results),
            (new, &n.results),
            (b.benchmark.to_string(), n.benchmark.to_string()),
            tolerance,
            only,
        );
        c.entry = Some(EntryMatch {
            title: title(b),
            base_entry: b.entry,
            new_entry: n.entry,
        });
        entries.push(c);
    }
    let only_in = |a: &[(Key, model::Group)], z: &[(Key, model::Group)]| {
        a.iter()
            .filter(|(k, _)| !z.iter().any(|(x, _)| x == k))
            .map(|(_, g)| title(g))
            .collect::<Vec<_>>()
    };
    Ok(Comparisons {
        regressions: entries.iter().map(|c| c.regressions).sum(),
        not_significant: entries.iter().map(|c| c.not_significant).sum(),
        load_differs: entries.iter().map(|c| c.load_differs).sum(),
        only_in_base: only_in(&kb, &kn),
        only_in_new: only_in(&kn, &kb),
        entries,
    })
}

fn arrow(d: Option<Direction>) -> &'static str {
    match d {
        Some(Direction::Higher) => "higher",
        Some(Direction::Lower) => "lower",
        None => "?",
    }
}

/// The `load` cell of a pair: `1 vs 4 (load differs)` when it ran alone in one file only.
fn load_cell(p: &PairDelta) -> String {
    if p.load_differs {
        format!(
            "{} vs {} (load differs)",
            p.base_concurrent_pairs, p.new_concurrent_pairs
        )
    } else {
        String::new()
    }
}

/// True when some pair of the comparison was sampled: the base and new columns are medians.
pub fn sampled(c: &Comparison) -> bool {
    c.pairs.iter().any(|p| p.samples.is_some())
}

/// The `test` cell of a metric: `Mann–Whitney U, exact, p = 0.029`, or why there is none.
fn test_cell(m: &MetricDelta) -> String {
    match (m.test, m.base_samples, m.new_samples) {
        (Some(t), _, _) => t.describe(),
        (None, Some(b), Some(n)) if b < 2 || n < 2 => {
            format!("no test: {b} vs {n} samples")
        }
        _ => String::new(),
    }
}

/// `5`, `1 of 5 failed`.
fn count_cell(n: usize, failed: usize) -> String {
    if failed == 0 {
        format!("{n} samples")
    } else {
        format!("{failed} of {n} failed")
    }
}

/// True when a pair of the comparison is on a path other than pod: the tables name the path.
pub fn shows_path(c: &Comparison) -> bool {
    c.pairs.iter().map(|p| p.path).any(|p| p != Path::Pod)
        || c.only_in_base
            .iter()
            .chain(&c.only_in_new)
            .any(|p| p.path != Path::Pod)
}

fn rows(c: &Comparison) -> Vec<Vec<String>> {
    let marked = c.load_differs > 0;
    let tested = sampled(c);
    let with_path = shows_path(c);
    let mut rows = vec![["client", "server"]
        .iter()
        .map(|s| s.to_string())
        .chain(with_path.then(|| "path".to_string()))
        .chain(
            ["metric", "better", "base", "new", "change", "verdict"]
                .iter()
                .map(|s| s.to_string()),
        )
        .chain(tested.then(|| "test".to_string()))
        .chain(marked.then(|| "concurrent pairs".to_string()))
        .collect::<Vec<_>>()];
    let v = |x: Option<f64>, u: Unit| x.map(|x| human(x, u)).unwrap_or_else(|| "-".into());
    for p in &c.pairs {
        let first = rows.len();
        if p.newly_failed || p.base_status != p.new_status {
            rows.push(vec![
                p.client.clone(),
                p.server.clone(),
                "status".into(),
                String::new(),
                p.base_status.clone(),
                p.new_status.clone(),
                String::new(),
                if p.newly_failed {
                    format!(
                        "REGRESSED{}",
                        p.new_error
                            .as_deref()
                            .map(|e| format!(": {}", e.lines().next().unwrap_or_default()))
                            .unwrap_or_default()
                    )
                } else {
                    "changed".into()
                },
            ]);
            if tested {
                rows.last_mut().expect("just pushed").push(String::new());
            }
            if marked {
                rows.last_mut().expect("just pushed").push(load_cell(p));
            }
        }
        if let Some(s) = p.samples.filter(|s| s.base_failed + s.new_failed > 0) {
            rows.push(vec![
                p.client.clone(),
                p.server.clone(),
                "samples".into(),
                String::new(),
                count_cell(s.base, s.base_failed),
                count_cell(s.new, s.new_failed),
                String::new(),
                "failed samples left out".into(),
                String::new(),
            ]);
            if marked {
                rows.last_mut().expect("just pushed").push(load_cell(p));
            }
        }
        for m in &p.metrics {
            rows.push(vec![
                p.client.clone(),
                p.server.clone(),
                m.name.clone(),
                arrow(m.better).into(),
                v(m.base, m.unit),
                v(m.new, m.unit),
                m.change.map(percent).unwrap_or_else(|| "-".into()),
                m.verdict.word().into(),
            ]);
            if tested {
                rows.last_mut().expect("just pushed").push(test_cell(m));
            }
            if marked {
                rows.last_mut().expect("just pushed").push(load_cell(p));
            }
        }
        if with_path {
            for row in &mut rows[first..] {
                row.insert(2, p.path.name().to_string());
            }
        }
    }
    rows
}

fn side_line(label: &str, s: &RunSide) -> String {
    let mut out = format!(
        "{label}: run {} ({}, {} pairs",
        s.run.as_deref().unwrap_or("?"),
        s.benchmark,
        s.pairs
    );
    if let Some(p) = &s.plan {
        out.push_str(&format!(", plan {p}"));
    }
    if let Some(c) = s.concurrency {
        out.push_str(&format!(", concurrency {c}"));
    }
    if s.pairs_under_load > 0 {
        out.push_str(&format!(", {} under load", s.pairs_under_load));
    } else {
        out.push_str(", serial");
    }
    if s.samples > 1 {
        out.push_str(&format!(", up to {} samples per pair", s.samples));
    }
    out.push(')');
    out
}

/// What the sampled figures are and when a change counts.
pub fn samples_note(c: &Comparison) -> Option<String> {
    sampled(c).then(|| {
        format!(
            "base and new are medians of the samples (failed samples left out). A change past the \
             tolerance counts only when the two-sided Mann–Whitney U test of the samples gives \
             p < {ALPHA} (exact up to {} samples in all, else the normal approximation with tie \
             correction); otherwise it is `not significant`, not a regression.",
            stats::EXACT_MAX
        )
    })
}

/// The note that some sample sizes can never give a significant change.
pub fn too_few_note(c: &Comparison) -> Option<String> {
    (!c.too_few_samples.is_empty()).then(|| {
        let sizes = c
            .too_few_samples
            .iter()
            .map(|&(a, b)| {
                format!(
                    "{a} vs {b} samples (smallest possible p {:.3})",
                    stats::min_p(a, b)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "note: no change can be significant at {ALPHA} with {sizes}: the two-sided \
             Mann–Whitney U test cannot go lower. Run with --samples 5 or more (4 vs 4 allows \
             p = {:.3}, 5 vs 5 p = {:.3}).",
            stats::min_p(4, 4),
            stats::min_p(5, 5)
        )
    })
}

/// A warning when two files of one entry each ran with different parameters.
pub fn parameters_warning(c: &Comparison) -> Option<String> {
    c.parameters_differ
        .as_ref()
        .map(|d| format!("warning: the runs used different parameters ({d}): their figures are not like for like."))
}

/// The warning that some deltas set a serial figure against one taken under load.
pub fn load_warning(c: &Comparison) -> Option<String> {
    (c.load_differs > 0).then(|| {
        format!(
            "warning: {} of {} pairs ran alone in one run and beside other pairs in the other \
             (marked `load differs`): their deltas compare a serial figure with one taken under \
             load. Compare runs with the same --concurrency to judge the network alone.",
            c.load_differs,
            c.pairs.len()
        )
    })
}

fn list(p: &[NodePair]) -> String {
    p.iter()
        .map(|p| {
            if p.path == Path::Pod {
                format!("{} -> {}", p.client, p.server)
            } else {
                format!("{} -> {} ({})", p.client, p.server, p.path)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `paths only in base: host, service (their pairs are listed below)`, for each side.
pub fn paths_only_lines(c: &Comparison) -> Vec<String> {
    [
        ("base", &c.paths_only_in_base),
        ("new", &c.paths_only_in_new),
    ]
    .into_iter()
    .filter(|(_, p)| !p.is_empty())
    .map(|(side, p)| {
        format!(
            "paths only in {side}: {} (not compared: a path is only ever compared with itself)",
            p.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
        )
    })
    .collect()
}

/// The closing line: how many regressions past which tolerance.
pub fn verdict_line(c: &Comparison) -> String {
    verdict_words(c.regressions, c.not_significant, c.tolerance)
}

fn verdict_words(regressions: usize, not_significant: usize, tolerance: f64) -> String {
    let tol = format!("{}%", tolerance * 100.0);
    let mut s = if regressions == 0 {
        format!("no regression past {tol}")
    } else {
        format!("{regressions} regression(s) past {tol}")
    };
    if not_significant > 0 {
        s.push_str(&format!(
            "; {not_significant} change(s) past {tol} not significant (Mann–Whitney U, p ≥ {ALPHA})"
        ));
    }
    s
}

/// The heading of an entry of several: `iperf3-tcp --streams 4 (base entry 0, new entry 1)`.
fn entry_heading(c: &Comparison) -> Option<String> {
    c.entry.as_ref().map(|e| {
        format!(
            "{} (base entry {}, new entry {})",
            e.title, e.base_entry, e.new_entry
        )
    })
}

/// Every entry's comparison as text; one entry gives exactly [`text`].
pub fn text_all(cs: &Comparisons) -> String {
    if let ([one], true) = (cs.entries.as_slice(), single(cs)) {
        return text(one);
    }
    let mut out = format!(
        "{} entries compared (matched by benchmark and parameters)\n",
        cs.entries.len()
    );
    for c in &cs.entries {
        out.push_str(&format!(
            "\n=== {} ===\n",
            entry_heading(c).unwrap_or_default()
        ));
        out.push_str(&text(c));
    }
    if !cs.only_in_base.is_empty() {
        out.push_str(&format!(
            "\nentries only in base ({}): {}\n",
            cs.only_in_base.len(),
            cs.only_in_base.join(", ")
        ));
    }
    if !cs.only_in_new.is_empty() {
        out.push_str(&format!(
            "\nentries only in new ({}): {}\n",
            cs.only_in_new.len(),
            cs.only_in_new.join(", ")
        ));
    }
    out.push_str(&format!("\ntotal: {}\n", total_line(cs)));
    out
}

fn single(cs: &Comparisons) -> bool {
    cs.entries.len() == 1
        && cs.entries[0].entry.is_none()
        && cs.only_in_base.is_empty()
        && cs.only_in_new.is_empty()
}

/// The closing line over every entry.
pub fn total_line(cs: &Comparisons) -> String {
    let tolerance = cs.entries.first().map_or(0.0, |c| c.tolerance);
    format!(
        "{} in {} entries",
        verdict_words(cs.regressions, cs.not_significant, tolerance),
        cs.entries.len()
    )
}

/// Every entry's comparison as Markdown; one entry gives exactly [`markdown`].
pub fn markdown_all(cs: &Comparisons) -> String {
    if let ([one], true) = (cs.entries.as_slice(), single(cs)) {
        return markdown(one);
    }
    let mut out = String::new();
    for c in &cs.entries {
        out.push_str(&markdown(c).replacen(
            "# netbench compare\n",
            &format!(
                "# netbench compare: {}\n",
                entry_heading(c).unwrap_or_default()
            ),
            1,
        ));
        out.push_str("\n---\n\n");
    }
    if !cs.only_in_base.is_empty() {
        out.push_str(&format!(
            "Entries only in base: {}\n\n",
            cs.only_in_base.join(", ")
        ));
    }
    if !cs.only_in_new.is_empty() {
        out.push_str(&format!(
            "Entries only in new: {}\n\n",
            cs.only_in_new.join(", ")
        ));
    }
    out.push_str(&format!("**total: {}**\n", total_line(cs)));
    out
}

/// Every entry's comparison as JSON; one entry gives exactly [`json`], several the whole
/// [`Comparisons`].
pub fn json_all(cs: &Comparisons) -> String {
    if let ([one], true) = (cs.entries.as_slice(), single(cs)) {
        return json(one);
    }
    serde_json::to_string_pretty(cs).expect("comparisons serialize") + "\n"
}

pub fn text(c: &Comparison) -> String {
    let mut out = format!(
        "{}\n{}\ntolerance: {}%\n\n",
        side_line("base", &c.base),
        side_line("new ", &c.new),
        c.tolerance * 100.0
    );
    if let Some(w) = load_warning(c) {
        out.push_str(&format!("{w}\n\n"));
    }
    if let Some(w) = parameters_warning(c) {
        out.push_str(&format!("{w}\n\n"));
    }
    if let Some(n) = samples_note(c) {
        out.push_str(&format!("{n}\n"));
    }
    if let Some(n) = too_few_note(c) {
        out.push_str(&format!("{n}\n"));
    }
    if sampled(c) {
        out.push('\n');
    }
    out.push_str(&align(&rows(c)));
    for l in paths_only_lines(c) {
        out.push_str(&format!("\n{l}\n"));
    }
    if !c.only_in_base.is_empty() {
        out.push_str(&format!(
            "\nonly in base ({}): {}\n",
            c.only_in_base.len(),
            list(&c.only_in_base)
        ));
    }
    if !c.only_in_new.is_empty() {
        out.push_str(&format!(
            "\nonly in new ({}): {}\n",
            c.only_in_new.len(),
            list(&c.only_in_new)
        ));
    }
    out.push_str(&format!("\n{}\n", verdict_line(c)));
    if c.load_differs > 0 {
        out.push_str(&format!(
            "({} of the pairs compared ran under different load: see the warning above)\n",
            c.load_differs
        ));
    }
    out
}

pub fn markdown(c: &Comparison) -> String {
    let mut out = format!(
        "# netbench compare\n\n- {}\n- {}\n- tolerance: {}%\n\n",
        side_line("base", &c.base),
        side_line("new", &c.new),
        c.tolerance * 100.0
    );
    if let Some(w) = load_warning(c) {
        out.push_str(&format!("> **{w}**\n\n"));
    }
    if let Some(w) = parameters_warning(c) {
        out.push_str(&format!("> **{w}**\n\n"));
    }
    for n in [samples_note(c), too_few_note(c)].into_iter().flatten() {
        out.push_str(&format!("{n}\n\n"));
    }
    out.push_str(&md_table(&rows(c)));
    for l in paths_only_lines(c) {
        out.push_str(&format!("\n{l}\n"));
    }
    if !c.only_in_base.is_empty() {
        out.push_str(&format!("\nOnly in base: {}\n", list(&c.only_in_base)));
    }
    if !c.only_in_new.is_empty() {
        out.push_str(&format!("\nOnly in new: {}\n", list(&c.only_in_new)));
    }
    out.push_str(&format!("\n**{}**\n", verdict_line(c)));
    out
}

pub fn json(c: &Comparison) -> String {
    serde_json::to_string_pretty(c).expect("comparisons serialize") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_is_a_percentage() {
        assert_eq!(parse_tolerance("10%").unwrap(), 0.1);
        assert_eq!(parse_tolerance(" 2.5 % ").unwrap(), 0.025);
        assert_eq!(parse_tolerance("10").unwrap(), 0.1);
        for bad in ["-5%", "ten", "", "nan%"] {
            let e = parse_tolerance(bad).unwrap_err();
            assert!(e.contains("like 10%"), "{e}");
        }
    }

    #[test]
    fn direction_decides_what_a_change_means() {
        use Direction::*;
        assert_eq!(judge(100.0, 80.0, Some(Higher), 0.1).1, Verdict::Regressed);
        assert_eq!(judge(100.0, 120.0, Some(Higher), 0.1).1, Verdict::Improved);
        assert_eq!(judge(100.0, 95.0, Some(Higher), 0.1).1, Verdict::Unchanged);
        assert_eq!(judge(100.0, 120.0, Some(Lower), 0.1).1, Verdict::Regressed);
        assert_eq!(judge(100.0, 80.0, Some(Lower), 0.1).1, Verdict::Improved);
        assert_eq!(judge(0.0, 3.0, Some(Lower), 0.1).1, Verdict::Regressed);
        assert_eq!(judge(0.0, 0.0, Some(Lower), 0.1).1, Verdict::Unchanged);
        assert_eq!(judge(1.0, 9.0, None, 0.1).1, Verdict::Unjudged);
        let (c, _) = judge(100.0, 80.0, Some(Higher), 0.1);
        assert!((c.unwrap() + 0.2).abs() < 1e-12);
    }
}
