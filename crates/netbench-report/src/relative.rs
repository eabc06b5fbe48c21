//! The other paths set against `host`, the network the CNI is measured against (issue #15).
//!
//! Per entry of a run that measured `host` and another path ([`RelativeToHost`]):
//!
//! - per (client node, server node) that has a `host` result, the headline of each other path
//!   across nodes (`pod`, `service`) as a ratio to host's (`pod/host 0.62`). Nodes are
//!   `vm.hostname` ([`crate::model::node`]): a node's hostNetwork worker has another name than
//!   its pod worker, but the same node. With samples, each side is the pair's median.
//! - per such path one line: the median of the per-pair ratios with the distribution-free
//!   interval of [`crate::stats::median_interval`] (order statistics; below 6 pairs no 95 %
//!   interval exists and the min–max range is given with its real coverage, never called 95 %).
//! - `same-node` has no host counterpart per pair (no host pair joins a node to itself): its
//!   median over the nodes is set beside host's median over the pairs, and called what it is.
//!
//! The ratio is the path's figure divided by host's, whatever the metric's direction; the
//! headings say which side of 1 is worse ([`direction_note`]). Pure: reports in, views out.

use crate::model::{Direction, PairRow, Report};
use crate::stats::{median, median_interval, MedianInterval};
use netbench_proto::{Path, Status, Unit};
use serde::Serialize;
use std::collections::HashMap;

/// One path's figure for a pair, beside host's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathValue {
    pub path: Path,
    /// The headline (the median with samples); `None` when the pair failed or has no result.
    pub value: Option<f64>,
    /// The pair's status on this path; `None` when the path has no result for the pair.
    pub status: Option<String>,
    /// `value / host`, when both succeeded and host's figure is not 0.
    pub ratio: Option<f64>,
}

/// One (client node, server node) pair with a host result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelativeRow {
    pub client: String,
    pub server: String,
    pub host: Option<f64>,
    pub host_status: String,
    /// One per path of [`RelativeToHost::paths`], in that order.
    pub paths: Vec<PathValue>,
}

/// A path's per-pair ratios to host, summed up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathSummary {
    pub path: Path,
    /// Pairs with a ratio (both the path and host succeeded).
    pub pairs: usize,
    /// The median of the ratios.
    pub median: f64,
    /// The interval of that median; `None` for a single pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<MedianInterval>,
    /// Successful pairs of the path without a successful host counterpart (not in the ratios).
    pub without_host: usize,
}

/// Same-node figures beside host's: not per pair, medians side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SameNodeSummary {
    /// Nodes with a successful same-node pair, and the median of their figures.
    pub nodes: usize,
    pub median: f64,
    /// Successful host pairs, and the median of their figures.
    pub host_pairs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_median: Option<f64>,
    /// `median / host_median`: the ratio of the two medians, not a median of ratios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_of_medians: Option<f64>,
}

/// One entry's paths against host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelativeToHost {
    /// The entry, when the file holds several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<u32>,
    pub benchmark: String,
    /// The benchmark with its non-default parameters.
    pub title: String,
    /// The headline metric the ratios are of.
    pub metric: String,
    pub unit: Unit,
    pub better: Option<Direction>,
    /// True when the figures are medians of samples.
    pub sampled: bool,
    /// The paths across nodes set against host, in [`Path::ALL`]'s order (the table's columns).
    pub paths: Vec<Path>,
    /// In the host report's order.
    pub rows: Vec<RelativeRow>,
    /// One per path of [`Self::paths`] that has at least one ratio.
    pub summaries: Vec<PathSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_node: Option<SameNodeSummary>,
}

/// A row's headline when the pair succeeded.
pub fn headline(r: &Report, p: &PairRow) -> Option<f64> {
    (p.status == Status::Ok.name())
        .then(|| p.metrics.get(&r.headline).copied())
        .flatten()
        .filter(|v| v.is_finite())
}

/// `value / host` when both are known and host is not 0.
pub fn ratio(value: Option<f64>, host: Option<f64>) -> Option<f64> {
    match (value, host) {
        (Some(v), Some(h)) if h != 0.0 => Some(v / h),
        _ => None,
    }
}

/// The view of one entry's reports (one per path, as [`Report::build_all`] gives them), when
/// they hold `host` and another path.
pub fn of_entry(reports: &[Report]) -> Option<RelativeToHost> {
    let host = reports.iter().find(|r| r.path == Path::Host)?;
    let across: Vec<&Report> = reports
        .iter()
        .filter(|r| !matches!(r.path, Path::Host | Path::SameNode))
        .collect();
    let same_node = reports.iter().find(|r| r.path == Path::SameNode);
    if across.is_empty() && same_node.is_none() {
        return None;
    }
    // A later row for the same nodes (a re-run) wins, as in the matrix.
    let index = |r: &Report| -> HashMap<(String, String), usize> {
        r.pairs
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.client.clone(), p.server.clone()), i))
            .collect()
    };
    let indexes: Vec<HashMap<(String, String), usize>> = across.iter().map(|r| index(r)).collect();
    let host_index = index(host);
    let mut rows = Vec::new();
    // No table without another path across nodes (host and same-node alone).
    let table_pairs = if across.is_empty() {
        &[][..]
    } else {
        &host.pairs[..]
    };
    for (i, h) in table_pairs.iter().enumerate() {
        if host_index[&(h.client.clone(), h.server.clone())] != i {
            continue;
        }
        let hv = headline(host, h);
        let paths = across
            .iter()
            .zip(&indexes)
            .map(|(r, idx)| {
                let row = idx
                    .get(&(h.client.clone(), h.server.clone()))
                    .map(|&j| &r.pairs[j]);
                let value = row.and_then(|p| headline(r, p));
                PathValue {
                    path: r.path,
                    value,
                    status: row.map(|p| p.status.clone()),
                    ratio: ratio(value, hv),
                }
            })
            .collect();
        rows.push(RelativeRow {
            client: h.client.clone(),
            server: h.server.clone(),
            host: hv,
            host_status: h.status.clone(),
            paths,
        });
    }
    let summaries = across
        .iter()
        .zip(&indexes)
        .enumerate()
        .filter_map(|(k, (r, idx))| {
            let ratios: Vec<f64> = rows.iter().filter_map(|row| row.paths[k].ratio).collect();
            let with_ratio: std::collections::HashSet<(&str, &str)> = rows
                .iter()
                .filter(|row| row.paths[k].ratio.is_some())
                .map(|row| (row.client.as_str(), row.server.as_str()))
                .collect();
            let without_host = idx
                .iter()
                .filter(|(nodes, &j)| {
                    headline(r, &r.pairs[j]).is_some()
                        && !with_ratio.contains(&(nodes.0.as_str(), nodes.1.as_str()))
                })
                .count();
            Some(PathSummary {
                path: r.path,
                pairs: ratios.len(),
                median: median(&ratios)?,
                interval: (ratios.len() > 1)
                    .then(|| median_interval(&ratios))
                    .flatten(),
                without_host,
            })
        })
        .collect();
    let host_values: Vec<f64> = host
        .pairs
        .iter()
        .filter_map(|p| headline(host, p))
        .collect();
    let same_node = same_node.and_then(|s| {
        let values: Vec<f64> = s.pairs.iter().filter_map(|p| headline(s, p)).collect();
        let m = median(&values)?;
        let host_median = median(&host_values);
        Some(SameNodeSummary {
            nodes: values.len(),
            median: m,
            host_pairs: host_values.len(),
            host_median,
            ratio_of_medians: ratio(Some(m), host_median),
        })
    });
    Some(RelativeToHost {
        entry: host.entry.as_ref().map(|e| e.entry),
        benchmark: host.benchmark.clone(),
        title: host.title(),
        metric: host.headline.clone(),
        unit: host.matrix.unit,
        better: host.matrix.better,
        sampled: reports.iter().any(Report::sampled),
        paths: across.iter().map(|r| r.path).collect(),
        rows,
        summaries,
        same_node,
    })
}

/// Every entry's view, in entry order ([`crate::model::by_entry`]).
pub fn views(reports: &[Report]) -> Vec<RelativeToHost> {
    crate::model::by_entry(reports)
        .into_iter()
        .filter_map(of_entry)
        .collect()
}

/// `pod network`, `service`, `same-node`, `host network`: how the summary lines name a path.
pub fn path_label(p: Path) -> &'static str {
    match p {
        Path::Pod => "pod network",
        Path::Host => "host network",
        Path::Service => "service",
        Path::SameNode => "same-node",
    }
}

/// A ratio as the tables show it: `0.62`, `1.31`; `0.0042` stays readable.
pub fn ratio_text(r: f64) -> String {
    if r != 0.0 && r.abs() < 0.01 {
        format!("{r:.2e}")
    } else {
        format!("{r:.2}")
    }
}

/// Which side of 1 is worse, for the headings: `higher is better: below 1 the path does worse
/// than the host network`.
pub fn direction_note(better: Option<Direction>) -> &'static str {
    match better {
        Some(Direction::Higher) => "higher is better: below 1 the path does worse than host",
        Some(Direction::Lower) => "lower is better: above 1 the path does worse than host",
        None => "the catalogue does not say which way is better",
    }
}

/// The interval of a summary: `95% CI 0.55–0.70`; below 6 pairs the range with what it
/// covers, `75% CI 0.55–0.70 (the range; 6 pairs or more give 95%)`.
pub fn interval_text(iv: &MedianInterval) -> String {
    let range = format!("{}–{}", ratio_text(iv.low), ratio_text(iv.high));
    if iv.meets_target {
        format!("95% CI {range}")
    } else {
        format!(
            "{} CI {range} (the range; 6 pairs or more give 95%)",
            crate::render::coverage_text(iv.coverage)
        )
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `pod network vs host network: median ratio 0.62 [95% CI 0.55–0.70] over 6 pairs`.
pub fn summary_line(s: &PathSummary) -> String {
    let mut out = format!(
        "{} vs host network: median ratio {}",
        path_label(s.path),
        ratio_text(s.median)
    );
    if let Some(iv) = &s.interval {
        out.push_str(&format!(" [{}]", interval_text(iv)));
    }
    out.push_str(&format!(" over {}", plural(s.pairs, "pair", "pairs")));
    if s.without_host > 0 {
        out.push_str(&format!(
            "; {} without a host result left out",
            plural(
                s.without_host,
                &format!("{} pair", s.path),
                &format!("{} pairs", s.path)
            )
        ));
    }
    out
}

/// `same-node vs host network: median 31.2 Gbit/s over 3 nodes vs median 9.41 Gbit/s over 6
/// host pairs (ratio of the medians 3.32; not per pair: no host pair joins a node to itself)`.
pub fn same_node_line(s: &SameNodeSummary, unit: Unit) -> String {
    let h = crate::units::human;
    let mut out = format!(
        "same-node vs host network: median {} over {} vs ",
        h(s.median, unit),
        plural(s.nodes, "node", "nodes")
    );
    match s.host_median {
        Some(m) => out.push_str(&format!(
            "median {} over {}",
            h(m, unit),
            plural(s.host_pairs, "host pair", "host pairs")
        )),
        None => out.push_str("no successful host pair"),
    }
    match s.ratio_of_medians {
        Some(r) => out.push_str(&format!(
            " (ratio of the medians {}; not per pair: no host pair joins a node to itself)",
            ratio_text(r)
        )),
        None => out.push_str(" (not per pair: no host pair joins a node to itself)"),
    }
    out
}

/// Every summary line of a view, paths first, same-node last.
pub fn summary_lines(v: &RelativeToHost) -> Vec<String> {
    v.summaries
        .iter()
        .map(summary_line)
        .chain(v.same_node.as_ref().map(|s| same_node_line(s, v.unit)))
        .collect()
}

/// The heading of the table: `Relative to host: ` and [`what`].
pub fn heading(v: &RelativeToHost) -> String {
    format!("Relative to host: {}", what(v))
}

/// What the table holds: `throughput_received per pair, each path ÷ host (higher is better:
/// below 1 the path does worse than host)`.
pub fn what(v: &RelativeToHost) -> String {
    format!(
        "{} per pair{}, each path ÷ host ({})",
        v.metric,
        if v.sampled {
            " (medians of the samples)"
        } else {
            ""
        },
        direction_note(v.better)
    )
}

/// A path's cell: the value, the status of a failure, `-` when the path has no result.
pub fn value_cell(value: Option<f64>, status: Option<&str>, unit: Unit) -> String {
    match (value, status) {
        (Some(v), _) => crate::units::human(v, unit),
        (None, Some(s)) if s != Status::Ok.name() => s.to_uppercase(),
        _ => "-".to_string(),
    }
}

/// The table as rows of cells, header first: client, server, host, then per path its value and
/// its ratio.
pub fn table(v: &RelativeToHost) -> Vec<Vec<String>> {
    let mut head: Vec<String> = ["client", "server", "host"].map(String::from).to_vec();
    for p in &v.paths {
        head.push(p.name().to_string());
        head.push(format!("{p}/host"));
    }
    let mut rows = vec![head];
    for r in &v.rows {
        let mut row = vec![
            r.client.clone(),
            r.server.clone(),
            value_cell(r.host, Some(&r.host_status), v.unit),
        ];
        for p in &r.paths {
            row.push(value_cell(p.value, p.status.as_deref(), v.unit));
            row.push(p.ratio.map(ratio_text).unwrap_or_else(|| "-".into()));
        }
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_need_both_figures_and_a_host_figure_other_than_0() {
        assert_eq!(ratio(Some(3.0), Some(4.0)), Some(0.75));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(4.0)), None);
        assert_eq!(ratio(Some(3.0), None), None);
    }

    #[test]
    fn the_words_say_which_side_of_1_is_worse() {
        assert!(direction_note(Some(Direction::Higher)).contains("below 1"));
        assert!(direction_note(Some(Direction::Lower)).contains("above 1"));
        assert_eq!(ratio_text(0.625), "0.62");
        assert_eq!(ratio_text(3.372), "3.37");
        assert_eq!(ratio_text(0.0042), "4.20e-3");
        // 3 pairs: the range covers 1 - 2/8 = 75 %; 6 pairs reach 95 %.
        let three = median_interval(&[0.5, 0.7, 0.6]).unwrap();
        assert_eq!(
            interval_text(&three),
            "75% CI 0.50–0.70 (the range; 6 pairs or more give 95%)"
        );
        let six = median_interval(&[0.5, 0.7, 0.6, 0.55, 0.65, 0.62]).unwrap();
        assert_eq!(interval_text(&six), "95% CI 0.50–0.70");
    }
}
