//! The report: every figure with its goal, as a Markdown table and as JSON. Pure.

use crate::fidelity::Fidelity;
use crate::overhead::{Efficiency, Overhead};
use crate::scale::Scale;
use crate::sim::Sim;
use crate::sys::Machine;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    /// The command line that produced this report.
    pub command: String,
    pub quick: bool,
    pub started_at: String,
    pub loadavg_start: [f64; 3],
    pub loadavg_end: [f64; 3],
    pub p1: Vec<Fidelity>,
    pub p2: Option<Overhead>,
    pub p3: Option<Efficiency>,
    pub p4: Option<Scale>,
    pub p5: Option<Sim>,
    pub p6: Option<crate::cluster::ClusterFigures>,
    /// The table rows, as printed.
    pub rows: Vec<Row>,
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub figure: String,
    pub value: String,
    pub goal: String,
    /// `None` when the figure is missing.
    pub met: Option<bool>,
    /// 1-minute load average when the figure was taken.
    pub load1: f64,
}

pub(crate) fn row(
    figure: String,
    value: Option<f64>,
    fmt: impl Fn(f64) -> String,
    goal: &str,
    ok: impl Fn(f64) -> bool,
    load1: f64,
) -> Row {
    Row {
        figure,
        value: value.map(&fmt).unwrap_or_else(|| "—".into()),
        goal: goal.into(),
        met: value.map(ok),
        load1,
    }
}

/// The rows for whatever parts were measured.
pub fn rows(
    p1: &[Fidelity],
    p2: Option<&Overhead>,
    p3: Option<&Efficiency>,
    p4: Option<&Scale>,
) -> Vec<Row> {
    let mut out = Vec::new();
    let ratio = |v: f64| format!("{v:.3}");
    let ms = |v: f64| format!("{:.1} ms", v * 1000.0);
    let with_ci = |m: Option<f64>, ci: Option<(f64, f64)>| match (m, ci) {
        (Some(m), Some((lo, hi))) => format!("{m:.3} [{lo:.3}, {hi:.3}]"),
        (Some(m), None) => ratio(m),
        _ => "—".into(),
    };
    for f in p1 {
        let load1 =
            f.samples.iter().map(|s| s.loadavg[0]).sum::<f64>() / f.samples.len().max(1) as f64;
        let mut r = row(
            format!(
                "P1 fidelity {} {} (median of {} netbench/bare [95 % CI], CPUs {},{})",
                f.benchmark,
                f.metric,
                f.ratios.len(),
                f.cpus[0],
                f.cpus[1]
            ),
            f.median_ratio,
            ratio,
            "≥ 0.99",
            |v| v >= 0.99,
            load1,
        );
        r.value = with_ci(f.median_ratio, f.median_ratio_ci95);
        out.push(r);
        let mut r = row(
            format!(
                "P1 control {}: bare/bare, two runs of the bare tool (median of {} [95 % CI])",
                f.benchmark,
                f.control_ratios.len()
            ),
            f.median_control_ratio,
            ratio,
            "",
            |_| true,
            load1,
        );
        r.value = with_ci(f.median_control_ratio, f.median_control_ratio_ci95);
        out.push(r);
    }
    if let Some(o) = p2 {
        let n = o.in_pair.map_or(0, |s| s.n);
        for (name, s, goal) in [
            ("in-pair", o.in_pair, true),
            ("pair-to-pair", o.cycle, false),
        ] {
            out.push(row(
                format!("P2 overhead {name} p50 ({n} pairs)"),
                s.map(|s| s.p50),
                ms,
                if goal { "≤ 20 ms" } else { "" },
                |v| !goal || v <= 0.020,
                o.loadavg[0],
            ));
            out.push(row(
                format!("P2 overhead {name} p99"),
                s.map(|s| s.p99),
                ms,
                "",
                |_| true,
                o.loadavg[0],
            ));
        }
    }
    if let Some(e) = p3 {
        out.push(row(
            format!(
                "P3 efficiency {} pairs × {} s, {} nodes (first pair → run finished)",
                e.pairs, e.duration_seconds, e.nodes
            ),
            e.efficiency,
            ratio,
            "≥ 0.98",
            |v| v >= 0.98,
            e.loadavg[0],
        ));
        out.push(row(
            "P3 efficiency, whole orchestrator process".into(),
            e.process_efficiency,
            ratio,
            "",
            |_| true,
            e.loadavg[0],
        ));
    }
    if let Some(s) = p4 {
        let mib = |v: f64| format!("{v:.1} MiB");
        let l = s.loadavg[0];
        out.push(row(
            format!("P4 {} workers registered", s.workers),
            Some(s.registration_seconds),
            |v| format!("{v:.2} s"),
            "≤ 2 s",
            |v| v <= 2.0,
            l,
        ));
        out.push(row(
            format!("P4 orchestrator RSS with {} workers", s.workers),
            Some(s.orchestrator_rss_mib_registered),
            mib,
            "≤ 64 MiB",
            |v| v <= 64.0,
            l,
        ));
        out.push(row(
            format!("P4 orchestrator peak RSS after {} pairs", s.pairs_measured),
            Some(s.orchestrator_peak_rss_mib),
            mib,
            "≤ 64 MiB",
            |v| v <= 64.0,
            l,
        ));
        out.push(row(
            "P4 idle worker RSS (median)".into(),
            s.idle_worker_rss_mib_median,
            mib,
            "≤ 8 MiB",
            |v| v <= 8.0,
            l,
        ));
        out.push(row(
            format!("P4 dispatch rate, first {} pairs", s.pairs_measured),
            s.pairs_per_second,
            |v| format!("{v:.0} pairs/s"),
            "",
            |_| true,
            l,
        ));
    }
    out
}

/// The rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut t = String::from("| figure | value | goal | met | load1 |\n|---|---:|---|---|---:|\n");
    for r in rows {
        let met = match (r.met, r.goal.is_empty()) {
            (_, true) => "",
            (Some(true), _) => "yes",
            (Some(false), _) => "NO",
            (None, _) => "—",
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} |\n",
            r.figure, r.value, r.goal, met, r.load1
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_judge_goals_and_the_table_shows_them() {
        let s = Scale {
            workers: 200,
            spawn_seconds: 0.1,
            registration_seconds: 2.5,
            orchestrator_rss_mib_registered: 20.0,
            orchestrator_rss_mib_after_pairs: 21.0,
            orchestrator_peak_rss_mib: 22.0,
            idle_worker_rss_mib_median: None,
            idle_worker_rss_mib_max: None,
            pairs_measured: 500,
            pairs_per_second: Some(100.0),
            loadavg: [1.0, 0.0, 0.0],
        };
        let r = rows(&[], None, None, Some(&s));
        assert_eq!(r[0].met, Some(false)); // 2.5 s > 2 s
        assert_eq!(r[1].met, Some(true));
        assert_eq!(r[3].met, None); // no figure
        let t = table(&r);
        assert!(
            t.contains("| P4 200 workers registered | 2.50 s | ≤ 2 s | NO | 1.00 |"),
            "{t}"
        );
        assert!(
            t.contains("| P4 idle worker RSS (median) | — | ≤ 8 MiB | — |"),
            "{t}"
        );
        assert!(t.contains("| 100 pairs/s |  |  |"), "{t}");
    }
}
