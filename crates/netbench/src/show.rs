//! Human output: progress lines and the summary table.

use netbench_bench::Benchmark;
use netbench_proto::{Event, EventKind, Metric, PairResult, Status, Unit};

/// A metric value in the unit people read: Gbit/s, µs, k/s.
pub fn human(m: &Metric) -> String {
    let v = m.value;
    match m.unit {
        Unit::BytesPerSecond => {
            let bits = v * 8.0;
            if bits >= 1e9 {
                format!("{:.2} Gbit/s", bits / 1e9)
            } else {
                format!("{:.1} Mbit/s", bits / 1e6)
            }
        }
        Unit::Seconds => {
            if v < 1e-3 {
                format!("{:.1} µs", v * 1e6)
            } else {
                format!("{:.2} ms", v * 1e3)
            }
        }
        Unit::PerSecond => format!("{v:.0}/s"),
        Unit::Count => format!("{v:.0}"),
    }
}

/// One progress line for an event, or nothing for events not worth a line.
pub fn progress_line(e: &Event, bench: &Benchmark) -> Option<String> {
    Some(match &e.kind {
        EventKind::RunStarted {
            workers_expected, ..
        } => {
            format!(
                "run {} started: {} on {workers_expected} workers",
                e.run, bench.name
            )
        }
        EventKind::WorkerJoined { worker, ip, .. } => format!("  worker {worker} joined ({ip})"),
        EventKind::PairStarted { .. } => return None,
        EventKind::PairFinished {
            index,
            total,
            client,
            server,
            status,
            status_name,
            headline,
            seconds,
            ..
        } => {
            let value = match (status, headline) {
                (Status::Ok, Some(h)) => format!("{} {}", bench.headline, human(h)),
                _ => status_name.to_uppercase(),
            };
            format!("[{index}/{total}] {client} -> {server}  {value}  ({seconds:.1}s)")
        }
        EventKind::RunFinished {
            pairs_total,
            pairs_failed,
        } => {
            format!("run finished: {pairs_total} pairs, {pairs_failed} failed")
        }
        EventKind::RunFailed { error } => format!("run failed: {error}"),
    })
}

/// The end-of-run table: one row per pair, the headline metric and the status.
pub fn summary(results: &[PairResult], bench: &Benchmark) -> String {
    let mut rows = vec![[
        "client".to_string(),
        "server".to_string(),
        bench.headline.to_string(),
        "status".to_string(),
    ]];
    for r in results {
        let headline = r
            .metrics
            .iter()
            .find(|m| m.name == bench.headline)
            .map(human)
            .unwrap_or_else(|| "-".into());
        let status = match &r.error {
            Some(e) => format!(
                "{}: {}",
                r.status_name,
                e.chars().take(80).collect::<String>()
            ),
            None => r.status_name.clone(),
        };
        rows.push([
            r.task.client.worker.clone(),
            r.task.server.worker.clone(),
            headline,
            status,
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            out.push_str(&format!("{cell:<w$}  ", w = widths[c]));
        }
        out = out.trim_end().to_string();
        out.push('\n');
    }
    out
}
