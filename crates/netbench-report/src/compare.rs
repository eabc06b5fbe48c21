//! Two runs, pair by pair: pure comparison and its text / Markdown / JSON renderings.
//!
//! Pairs match by client and server NODE ([`crate::model::node`]: `vm.hostname`, else the
//! worker's name), so two runs on the same cluster line up even though worker pods got new names.
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

use crate::model::{self, Direction, MetricInfo};
use crate::render::{align, md_table};
use crate::units::{human, percent};
use crate::ReportError;
use netbench_proto::{PairResult, ResultsFile, Status, Unit};
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
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Unchanged => "ok",
            Verdict::Regressed => "REGRESSED",
            Verdict::Missing => "missing",
            Verdict::Unjudged => "not judged",
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairDelta {
    pub client: String,
    pub server: String,
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

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct NodePair {
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
    /// Regressed metrics plus newly failed pairs.
    pub regressions: usize,
    /// Matched pairs that ran alone in one file and under load in the other.
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

/// Results by (client node, server node); a later result for the same nodes wins.
fn by_nodes(file: &ResultsFile) -> BTreeMap<NodePair, &PairResult> {
    file.results
        .iter()
        .map(|r| {
            (
                NodePair {
                    client: model::node(&r.task.client).to_string(),
                    server: model::node(&r.task.server).to_string(),
                },
                r,
            )
        })
        .collect()
}

/// Compare NEW against BASE. `only` restricts the judged metrics (empty: all of them).
pub fn compare(
    base: &ResultsFile,
    new: &ResultsFile,
    tolerance: f64,
    only: &[String],
) -> Result<Comparison, ReportError> {
    let (bb, nb) = (model::benchmark_name(base)?, model::benchmark_name(new)?);
    if bb != nb && bb != "unknown" && nb != "unknown" {
        return Err(ReportError::DifferentBenchmarks { base: bb, new: nb });
    }
    let all: Vec<&PairResult> = base.results.iter().chain(&new.results).collect();
    let mut metrics: Vec<MetricInfo> = model::metrics_of(&bb, &all);
    for name in only {
        if !metrics.iter().any(|m| &m.name == name) {
            return Err(ReportError::UnknownMetric {
                name: name.clone(),
                known: metrics
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    if !only.is_empty() {
        metrics.retain(|m| only.contains(&m.name));
    }
    let (b, n) = (by_nodes(base), by_nodes(new));
    let mut pairs = Vec::new();
    for (key, br) in &b {
        let Some(nr) = n.get(key) else { continue };
        let deltas = metrics
            .iter()
            .filter_map(|m| {
                let (bv, nv) = (br.metric(&m.name), nr.metric(&m.name));
                let (change, verdict) = match (bv, nv) {
                    (Some(x), Some(y)) => judge(x, y, m.better, tolerance),
                    (None, None) => return None,
                    _ => (None, Verdict::Missing),
                };
                Some(MetricDelta {
                    name: m.name.clone(),
                    unit: m.unit,
                    better: m.better,
                    base: bv,
                    new: nv,
                    change,
                    verdict,
                })
            })
            .collect();
        pairs.push(PairDelta {
            client: key.client.clone(),
            server: key.server.clone(),
            base_status: br.status_name.clone(),
            new_status: nr.status_name.clone(),
            new_error: nr.error.clone(),
            newly_failed: br.task.status == Status::Ok && nr.task.status != Status::Ok,
            base_concurrent_pairs: br.concurrent_pairs,
            new_concurrent_pairs: nr.concurrent_pairs,
            load_differs: (br.concurrent_pairs > 1) != (nr.concurrent_pairs > 1),
            metrics: deltas,
        });
    }
    pairs.sort_by(|x, y| {
        model::natural_cmp(&x.client, &y.client).then(model::natural_cmp(&x.server, &y.server))
    });
    let only_in = |a: &BTreeMap<NodePair, &PairResult>, z: &BTreeMap<NodePair, &PairResult>| {
        a.keys()
            .filter(|k| !z.contains_key(*k))
            .cloned()
            .collect::<Vec<_>>()
    };
    let side = |f: &ResultsFile, bench: String| RunSide {
        run: f
            .run
            .as_ref()
            .map(|s| s.run.to_string())
            .or_else(|| f.results.first().map(|r| r.run.to_string())),
        benchmark: bench,
        pairs: f.results.len(),
        plan: f.run.as_ref().map(|s| s.plan.clone()),
        concurrency: f.run.as_ref().map(|s| s.concurrency),
        pairs_under_load: f.results.iter().filter(|r| r.concurrent_pairs > 1).count(),
    };
    let regressions = pairs.iter().map(PairDelta::regressions).sum();
    let load_differs = pairs.iter().filter(|p| p.load_differs).count();
    Ok(Comparison {
        base: side(base, bb),
        new: side(new, nb),
        tolerance,
        metrics: metrics.into_iter().map(|m| m.name).collect(),
        only_in_base: only_in(&b, &n),
        only_in_new: only_in(&n, &b),
        pairs,
        regressions,
        load_differs,
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

fn rows(c: &Comparison) -> Vec<Vec<String>> {
    let marked = c.load_differs > 0;
    let mut rows = vec![[
        "client", "server", "metric", "better", "base", "new", "change", "verdict",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(marked.then(|| "concurrent pairs".to_string()))
    .collect::<Vec<_>>()];
    let v = |x: Option<f64>, u: Unit| x.map(|x| human(x, u)).unwrap_or_else(|| "-".into());
    for p in &c.pairs {
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
            if marked {
                rows.last_mut().expect("just pushed").push(load_cell(p));
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
    out.push(')');
    out
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
        .map(|p| format!("{} -> {}", p.client, p.server))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closing line: how many regressions past which tolerance.
pub fn verdict_line(c: &Comparison) -> String {
    let tol = format!("{}%", c.tolerance * 100.0);
    if c.regressions == 0 {
        format!("no regression past {tol}")
    } else {
        format!("{} regression(s) past {tol}", c.regressions)
    }
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
    out.push_str(&align(&rows(c)));
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
    out.push_str(&md_table(&rows(c)));
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
