//! A [`Report`] as text (terminal), CSV, JSON and Markdown. All pure: strings out.
//!
//! - Text and Markdown show human units (Gbit/s, µs, /s) and every section: the per-pair table,
//!   the node matrix, the zone summary and the failed pairs.
//! - CSV is the per-pair table for spreadsheets, values in base units, one column per metric
//!   named like the Prometheus series (`throughput_received_bytes_per_second`).
//! - JSON is the whole [`Report`], values in base units.

use crate::model::{Report, Stats};
use crate::units::human;
use netbench_proto::{ResultsFile, Unit};

/// The text report of a results file, for the end of `netbench local`.
pub fn summary_text(file: &ResultsFile) -> String {
    match Report::build(file) {
        Ok(r) => text(&r),
        Err(e) => format!("cannot summarize the results: {e}\n"),
    }
}

/// Columns aligned with two spaces between them, trailing blanks trimmed.
pub fn align(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            let pad = widths[c].saturating_sub(cell.chars().count()) + 2;
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn dash() -> String {
    "-".to_string()
}

/// "zone" or "a→b" for the zones column.
fn zones_cell(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => dash(),
        _ if a == b => a.to_string(),
        _ => format!(
            "{}→{}",
            if a.is_empty() { "?" } else { a },
            if b.is_empty() { "?" } else { b }
        ),
    }
}

/// The sections of a report as rows of cells (header first), shared by text and Markdown.
struct Tables {
    pairs: Vec<Vec<String>>,
    matrix: Vec<Vec<String>>,
    zones: Vec<Vec<String>>,
    failures: Vec<Vec<String>>,
}

fn stats_row(label: &str, s: Option<Stats>, unit: Unit) -> Vec<String> {
    match s {
        Some(s) => vec![
            label.to_string(),
            s.pairs.to_string(),
            human(s.median, unit),
            human(s.min, unit),
            human(s.max, unit),
        ],
        None => vec![label.to_string(), "0".into(), dash(), dash(), dash()],
    }
}

fn tables(r: &Report) -> Tables {
    let mut pairs = vec![["client", "server", "zone"]
        .iter()
        .map(|s| s.to_string())
        .chain(r.metrics.iter().map(|m| m.name.clone()))
        .chain(["status".to_string()])
        .collect::<Vec<_>>()];
    for p in &r.pairs {
        let mut row = vec![
            p.client.clone(),
            p.server.clone(),
            zones_cell(&p.client_zone, &p.server_zone),
        ];
        for m in &r.metrics {
            row.push(
                p.metrics
                    .get(&m.name)
                    .map(|v| human(*v, m.unit))
                    .unwrap_or_else(dash),
            );
        }
        row.push(p.status.clone());
        pairs.push(row);
    }

    let mx = &r.matrix;
    let mut matrix = vec![std::iter::once("client ↓ server →".to_string())
        .chain(mx.nodes.iter().cloned())
        .collect::<Vec<_>>()];
    for (i, client) in mx.nodes.iter().enumerate() {
        let mut row = vec![client.clone()];
        for cell in &mx.cells[i] {
            row.push(match cell {
                None => dash(),
                Some(c) => match c.value {
                    Some(v) => human(v, mx.unit),
                    None => c.status.to_uppercase(),
                },
            });
        }
        matrix.push(row);
    }

    let z = &r.zones;
    let zones = vec![
        ["", "pairs", "median", "min", "max"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        stats_row("intra-zone", z.intra, z.unit),
        stats_row("cross-zone", z.cross, z.unit),
    ];

    let mut failures = vec![["client", "server", "status", "reason"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    for f in &r.failures {
        failures.push(vec![
            f.client.clone(),
            f.server.clone(),
            f.status.clone(),
            f.reason.chars().take(200).collect(),
        ]);
    }
    Tables {
        pairs,
        matrix,
        zones,
        failures,
    }
}

/// One line about the run: id, benchmark, phase, pairs.
pub fn run_line(r: &Report) -> String {
    let mut s = format!(
        "run {}  benchmark {}",
        r.run.as_deref().unwrap_or("?"),
        r.benchmark
    );
    if let Some(p) = &r.phase {
        s.push_str(&format!("  phase {p}"));
    }
    s.push_str(&format!(
        "  pairs {} ({} failed)",
        r.pairs_total, r.pairs_failed
    ));
    if let (Some(a), Some(b)) = (&r.first_started, &r.last_finished) {
        s.push_str(&format!("  {a} .. {b}"));
    }
    s
}

fn zone_note(r: &Report) -> String {
    let z = &r.zones;
    let mut s = format!(
        "zones: {}",
        if z.zones.is_empty() {
            "none reported".to_string()
        } else {
            z.zones.join(", ")
        }
    );
    if z.unknown_zone_pairs > 0 {
        s.push_str(&format!(
            "; {} pair(s) left out (zone unknown)",
            z.unknown_zone_pairs
        ));
    }
    s
}

/// The terminal report.
pub fn text(r: &Report) -> String {
    let t = tables(r);
    let mut out = String::new();
    out.push_str(&run_line(r));
    out.push('\n');
    if let Some(e) = &r.run_error {
        out.push_str(&format!("run error: {e}\n"));
    }
    out.push_str("\nPairs\n");
    out.push_str(&align(&t.pairs));
    out.push_str(&format!(
        "\nMatrix: {} (rows: client, columns: server)\n",
        r.matrix.metric
    ));
    if r.matrix.omitted_nodes > 0 {
        out.push_str(&omitted_note(r.matrix.omitted_nodes));
    } else {
        out.push_str(&align(&t.matrix));
    }
    out.push_str(&format!("\nZones: {} ({})\n", r.zones.metric, zone_note(r)));
    out.push_str(&align(&t.zones));
    if r.failures.is_empty() {
        out.push_str("\nNo failed pairs.\n");
    } else {
        out.push_str(&format!("\nFailed pairs ({})\n", r.failures.len()));
        out.push_str(&align(&t.failures));
    }
    out
}

fn md_cell(s: &str) -> String {
    let s = if s.is_empty() { " " } else { s };
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// A GitHub-flavoured Markdown table.
pub fn md_table(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
        if i == 0 {
            out.push_str(&format!("|{}\n", "---|".repeat(row.len())));
        }
    }
    out
}

/// The report as Markdown: a heading per section.
pub fn markdown(r: &Report) -> String {
    let t = tables(r);
    let mut out = format!("# netbench report: {}\n\n", md_cell(&r.benchmark));
    out.push_str(&format!("{}\n\n", md_cell(&run_line(r))));
    if let Some(e) = &r.run_error {
        out.push_str(&format!("Run error: {}\n\n", md_cell(e)));
    }
    out.push_str("## Pairs\n\n");
    out.push_str(&md_table(&t.pairs));
    out.push_str(&format!(
        "\n## Matrix: {} (rows: client, columns: server)\n\n",
        md_cell(&r.matrix.metric)
    ));
    out.push_str(&md_table(&t.matrix));
    out.push_str(&format!(
        "\n## Zones: {}\n\n{}\n\n",
        md_cell(&r.zones.metric),
        md_cell(&zone_note(r))
    ));
    out.push_str(&md_table(&t.zones));
    out.push_str("\n## Failed pairs\n\n");
    if r.failures.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str(&md_table(&t.failures));
    }
    out
}

/// The CSV column name of a metric: `<name>_<unit suffix>` (just the name for counts).
pub fn csv_column(name: &str, unit: Unit) -> String {
    match unit.suffix() {
        "" => name.to_string(),
        s => format!("{name}_{s}"),
    }
}

/// The per-pair table as CSV, base units.
pub fn csv(r: &Report) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "run",
        "benchmark",
        "client",
        "server",
        "client_worker",
        "server_worker",
        "client_zone",
        "server_zone",
        "status",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(r.metrics.iter().map(|m| csv_column(&m.name, m.unit)));
    header.push("error".into());
    w.write_record(&header).expect("writing to memory");
    for p in &r.pairs {
        let mut row = vec![
            r.run.clone().unwrap_or_default(),
            r.benchmark.clone(),
            p.client.clone(),
            p.server.clone(),
            p.client_worker.clone(),
            p.server_worker.clone(),
            p.client_zone.clone(),
            p.server_zone.clone(),
            p.status.clone(),
        ];
        row.extend(r.metrics.iter().map(|m| {
            p.metrics
                .get(&m.name)
                .map(f64::to_string)
                .unwrap_or_default()
        }));
        row.push(p.error.clone().unwrap_or_default());
        w.write_record(&row).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("flushing memory")).expect("CSV of UTF-8 cells")
}

/// The whole report as pretty JSON.
pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("reports serialize") + "\n"
}

/// What stands where a matrix too large to draw would be.
pub fn omitted_note(nodes: usize) -> String {
    format!(
        "(left out: the results name {nodes} nodes, more than the {} a matrix is drawn for)\n",
        crate::model::MAX_MATRIX_NODES
    )
}
