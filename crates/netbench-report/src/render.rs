//! A [`Report`] as text (terminal), CSV, JSON and Markdown. All pure: strings out.
//!
//! - Text and Markdown show human units (Gbit/s, µs, /s) and every section: the per-pair table,
//!   the node matrix, the zone summary and the failed pairs. A matrix that would not fit (text:
//!   wider than the terminal, [`TextOptions::width`]; Markdown: more than [`MD_MAX_NODES`] nodes)
//!   gives way to the per-zone-pair summary and the best and worst pairs.
//! - Figures taken under load (a pair that ran beside others, `concurrent_pairs` > 1) are marked
//!   `*`, and the header says how many there are, beside the run's plan and concurrency.
//! - CSV is the per-pair table for spreadsheets, values in base units, one column per metric
//!   named like the Prometheus series (`throughput_received_bytes_per_second`).
//! - JSON is the whole [`Report`], values in base units.
//! - A file of several entries ([`Report::build_all`]) gives one report per entry, one after
//!   another (`*_all`), each headed by its benchmark and non-default parameters; CSV is then one
//!   table with `entry` and `parameters` columns, JSON `{"groups": [report, …]}`.
//! - With samples (`--samples K`) each metric of a pair is the median of its successful samples,
//!   followed by a `<metric> 95% CI` column ([`interval_text`]) and a `samples` column (`5`,
//!   `1 of 5 failed`); CSV adds `samples`, `failed_samples` and per metric `<col>_ci_low`,
//!   `<col>_ci_high`, `<col>_ci_coverage`.
//! - Paths (`--paths`): a report per path of each entry, headed by its path when the file holds
//!   a path other than `pod`; same-node reports (one pair per node) show their pairs table and
//!   no matrix. After an entry's paths, the view against host ([`crate::relative`]): the
//!   per-pair ratios and one summary line per path (`pod network vs host network: median ratio
//!   0.62 [95% CI 0.55–0.70] over 6 pairs`). CSV gets a `path` column and
//!   `headline_ratio_to_host`, JSON `{"groups": [...], "relative_to_host": [...]}`. A file of
//!   pod results only renders exactly as before.

use crate::model::{by_entry, Direction, Matrix, MatrixCell, PairRow, Report, Stats};
use crate::relative::{self, RelativeToHost};
use crate::stats::MedianInterval;
use crate::units::{human, human_range};
use netbench_proto::{ResultsFile, Unit};

/// The terminal width assumed when neither `--width` nor `$COLUMNS` says.
pub const DEFAULT_WIDTH: usize = 80;
/// How many best and worst pairs the fallback lists unless told.
pub const DEFAULT_TOP: usize = 5;
/// The most nodes a Markdown matrix is written for; more get the zone summary instead.
pub const MD_MAX_NODES: usize = 30;

/// How the text report fits the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    /// Columns available: a matrix wider than this is replaced by the per-zone summary and the
    /// best and worst pairs.
    pub width: usize,
    /// How many best and worst pairs that fallback lists.
    pub top: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            width: DEFAULT_WIDTH,
            top: DEFAULT_TOP,
        }
    }
}

impl TextOptions {
    /// The width from `$COLUMNS` when it holds a positive number, else [`DEFAULT_WIDTH`].
    pub fn from_env() -> Self {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|w| *w > 0)
            .unwrap_or(DEFAULT_WIDTH);
        TextOptions {
            width,
            ..Default::default()
        }
    }
}

/// The text report of a results file (every entry), for the end of `netbench local`.
pub fn summary_text(file: &ResultsFile) -> String {
    match Report::build_all(file) {
        Ok(r) => text_all(&r, &TextOptions::from_env()),
        Err(e) => format!("cannot summarize the results: {e}\n"),
    }
}

/// A median's interval as a cell: `11.70–12.10 Gbit/s` for a 95 % interval; below 6 samples
/// the min–max range with what it really covers, `11.70–12.10 Gbit/s (range, 75%)`; `1 sample`
/// when only one succeeded.
pub fn interval_text(iv: &MedianInterval, unit: Unit) -> String {
    let range = human_range(iv.low, iv.high, unit);
    if iv.samples < 2 {
        "1 sample".to_string()
    } else if iv.meets_target {
        range
    } else {
        format!("{range} (range, {})", coverage_text(iv.coverage))
    }
}

/// `75%`, `93.8%`, `96.9%`.
pub fn coverage_text(c: f64) -> String {
    let pct = c * 100.0;
    if (pct - pct.round()).abs() < 0.05 {
        format!("{pct:.0}%")
    } else {
        format!("{pct:.1}%")
    }
}

/// The samples cell of a row: `5`, `1 of 5 failed`.
pub fn samples_text(p: &PairRow) -> String {
    if p.failed_samples == 0 {
        p.samples.to_string()
    } else {
        format!("{} of {} failed", p.failed_samples, p.samples)
    }
}

/// What the interval columns mean, under a sampled pairs table.
pub fn interval_note(r: &Report) -> String {
    let mut smallest = r
        .pairs
        .iter()
        .flat_map(|p| p.intervals.values())
        .map(|i| i.samples)
        .min()
        .unwrap_or(0);
    smallest = smallest.max(2);
    let mut s = format!(
        "Figures are medians of up to {} samples per pair (failed samples left out). 95% CI: a \
         distribution-free interval for the median (order statistics, binomial ranks).",
        r.samples
    );
    if smallest < 6 {
        s.push_str(&format!(
            " Below 6 samples no 95% interval exists: the min–max range is shown with its real \
             coverage, 1 − 2·0.5^n ({smallest} samples: {}); --samples 6 or more gives a 95% interval.",
            coverage_text(1.0 - 2.0 * 0.5f64.powi(smallest as i32))
        ));
    }
    s
}

/// The mark of a figure taken under load.
pub const LOAD_MARK: &str = "*";

/// A matrix cell as text: the value (`*` when under load), the status of a failure, `-`.
fn cell_text(cell: &Option<MatrixCell>, unit: Unit) -> String {
    match cell {
        None => dash(),
        Some(c) => {
            let mut s = match c.value {
                Some(v) => human(v, unit),
                None => c.status.to_uppercase(),
            };
            if c.concurrent_pairs > 1 {
                s.push_str(LOAD_MARK);
            }
            s
        }
    }
}

const MATRIX_CORNER: &str = "client ↓ server →";

/// The width of the aligned text matrix when it is at most `limit` columns, `None` when it is
/// wider (computed column by column, stopping once past the limit: a 1,000-node matrix costs
/// no more than a narrow one).
pub fn matrix_width(mx: &Matrix, limit: usize) -> Option<usize> {
    let n = mx.nodes.len();
    if n.saturating_mul(3) > limit {
        return None;
    }
    let mut width = mx
        .nodes
        .iter()
        .map(|s| s.chars().count())
        .chain([MATRIX_CORNER.chars().count()])
        .max()
        .unwrap_or(0);
    for j in 0..n {
        let col = (0..n)
            .map(|i| cell_text(&mx.cells[i][j], mx.unit).chars().count())
            .chain([mx.nodes[j].chars().count()])
            .max()
            .unwrap_or(1);
        width += 2 + col;
        if width > limit {
            return None;
        }
    }
    Some(width)
}

/// What stands where a matrix too wide for the terminal would be.
fn too_wide_note(r: &Report, width: usize) -> String {
    format!(
        "(not drawn: {} nodes do not fit {width} columns; --width N widens,\n \
         --html FILE draws a heatmap, --format csv has every figure)\n",
        r.matrix.nodes.len()
    )
}

fn direction_word(b: Option<Direction>) -> &'static str {
    match b {
        Some(Direction::Higher) => "higher is better",
        Some(Direction::Lower) => "lower is better",
        None => "direction unknown",
    }
}

/// One line on how the figures were taken: the plan, the concurrency, how many pairs ran beside
/// others.
pub fn load_line(r: &Report) -> String {
    let mut s = String::new();
    if let Some(p) = &r.plan {
        s.push_str(&format!("plan {p}  "));
    }
    if let Some(c) = r.concurrency {
        s.push_str(&format!("concurrency {c}  "));
    }
    if r.pairs_under_load == 0 {
        s.push_str("every pair ran alone (serial figures)");
    } else {
        s.push_str(&format!(
            "UNDER LOAD: {} of {} pairs ran beside other pairs (up to {} at once), marked {LOAD_MARK}: \
             their figures are not serial figures",
            r.pairs_under_load, r.pairs_total, r.max_concurrent_pairs
        ));
    }
    s
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
    zones: Vec<Vec<String>>,
    failures: Vec<Vec<String>>,
}

fn header(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|s| s.to_string()).collect()
}

/// The matrix as rows of cells (header first).
fn matrix_rows(mx: &Matrix) -> Vec<Vec<String>> {
    let mut matrix = vec![std::iter::once(MATRIX_CORNER.to_string())
        .chain(mx.nodes.iter().cloned())
        .collect::<Vec<_>>()];
    for (i, client) in mx.nodes.iter().enumerate() {
        let mut row = vec![client.clone()];
        row.extend(mx.cells[i].iter().map(|c| cell_text(c, mx.unit)));
        matrix.push(row);
    }
    matrix
}

/// Per (client zone, server zone): pairs, median, min, max, failed, under load.
fn zone_pair_rows(r: &Report) -> Vec<Vec<String>> {
    let u = r.zones.unit;
    let mut rows = vec![header(&[
        "zones", "pairs", "median", "min", "max", "failed", "loaded",
    ])];
    for z in &r.zone_pairs {
        let mut row = vec![format!("{} → {}", z.client_zone, z.server_zone)];
        match z.stats {
            Some(s) => row.extend([
                s.pairs.to_string(),
                human(s.median, u),
                human(s.min, u),
                human(s.max, u),
            ]),
            None => row.extend(["0".into(), dash(), dash(), dash()]),
        }
        row.push(z.failed.to_string());
        row.push(z.under_load.to_string());
        rows.push(row);
    }
    rows
}

/// Pairs by index as rows: client, server, zones, headline value (`*` under load), concurrent.
fn ranked_rows(r: &Report, which: &[usize]) -> Vec<Vec<String>> {
    let mut rows = vec![header(&[
        "client",
        "server",
        "zone",
        &r.headline,
        "concurrent pairs",
    ])];
    for &i in which {
        let p = &r.pairs[i];
        let mut v = p
            .metrics
            .get(&r.headline)
            .map(|v| human(*v, r.matrix.unit))
            .unwrap_or_else(dash);
        if p.under_load() {
            v.push_str(LOAD_MARK);
        }
        rows.push(vec![
            p.client.clone(),
            p.server.clone(),
            zones_cell(&p.client_zone, &p.server_zone),
            v,
            p.concurrent_pairs.to_string(),
        ]);
    }
    rows
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
    let loaded = r.pairs_under_load > 0;
    let sampled = r.sampled();
    let mut pairs = vec![["client", "server", "zone"]
        .iter()
        .map(|s| s.to_string())
        .chain(r.metrics.iter().flat_map(|m| {
            std::iter::once(m.name.clone()).chain(sampled.then(|| format!("{} 95% CI", m.name)))
        }))
        .chain(["status".to_string()])
        .chain(sampled.then(|| "samples".to_string()))
        .chain(loaded.then(|| "concurrent pairs".to_string()))
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
            if sampled {
                row.push(
                    p.intervals
                        .get(&m.name)
                        .map(|i| interval_text(i, m.unit))
                        .unwrap_or_else(dash),
                );
            }
        }
        row.push(p.status.clone());
        if sampled {
            row.push(samples_text(p));
        }
        if loaded {
            row.push(if p.under_load() {
                format!("{}{LOAD_MARK}", p.concurrent_pairs)
            } else {
                p.concurrent_pairs.to_string()
            });
        }
        pairs.push(row);
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

    let with_sample = r.failures.iter().any(|f| f.sample.is_some());
    let mut failures = vec![["client", "server"]
        .iter()
        .map(|s| s.to_string())
        .chain(with_sample.then(|| "sample".to_string()))
        .chain(["status".to_string(), "reason".to_string()])
        .collect::<Vec<_>>()];
    for f in &r.failures {
        let mut row = vec![f.client.clone(), f.server.clone()];
        if with_sample {
            row.push(f.sample.map(|s| s.to_string()).unwrap_or_else(dash));
        }
        row.push(f.status.clone());
        row.push(f.reason.chars().take(200).collect());
        failures.push(row);
    }
    Tables {
        pairs,
        zones,
        failures,
    }
}

/// One line about the run: id, benchmark, phase, pairs.
pub fn run_line(r: &Report) -> String {
    let mut s = format!(
        "run {}  benchmark {}",
        r.run.as_deref().unwrap_or("?"),
        r.title()
    );
    if let Some(e) = &r.entry {
        s.push_str(&format!("  entry {}", e.entry));
    }
    if r.show_path {
        s.push_str(&format!("  path {}", r.path));
    }
    if let Some(p) = &r.phase {
        s.push_str(&format!("  phase {p}"));
    }
    s.push_str(&format!(
        "  pairs {} ({} failed)",
        r.pairs_total, r.pairs_failed
    ));
    if r.sampled() {
        s.push_str(&format!(
            "  samples up to {} per pair ({} failed)",
            r.samples, r.samples_failed
        ));
    }
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

/// The terminal report, for an 80-column terminal ([`TextOptions::default`]).
pub fn text(r: &Report) -> String {
    text_with(r, &TextOptions::default())
}

/// The per-zone-pair table and the best and worst pairs, as text sections.
fn fallback_text(r: &Report, top: usize) -> String {
    let mut out = format!(
        "\nZone pairs: {} (client zone → server zone; loaded: pairs under load)\n",
        r.zones.metric
    );
    out.push_str(&align(&zone_pair_rows(r)));
    let (best, worst) = r.extremes(top);
    let dir = direction_word(r.matrix.better);
    out.push_str(&format!(
        "\nBest {} pairs by {} ({dir})\n",
        best.len(),
        r.headline
    ));
    out.push_str(&align(&ranked_rows(r, &best)));
    out.push_str(&format!(
        "\nWorst {} pairs by {} ({dir})\n",
        worst.len(),
        r.headline
    ));
    out.push_str(&align(&ranked_rows(r, &worst)));
    out
}

/// The terminal report: a matrix that does not fit `opts.width` columns gives way to the
/// per-zone-pair summary and the best and worst `opts.top` pairs.
pub fn text_with(r: &Report, opts: &TextOptions) -> String {
    let t = tables(r);
    let mut out = String::new();
    out.push_str(&run_line(r));
    out.push('\n');
    out.push_str(&load_line(r));
    out.push('\n');
    if let Some(e) = &r.run_error {
        out.push_str(&format!("run error: {e}\n"));
    }
    out.push_str("\nPairs\n");
    out.push_str(&align(&t.pairs));
    if r.sampled() {
        out.push_str(&interval_note(r));
        out.push('\n');
    }
    if r.path.is_same_node() {
        out.push_str(&format!("\n{SAME_NODE_NOTE}\n"));
    } else {
        out.push_str(&matrix_text(r, opts));
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

/// What stands where a same-node report's matrix would be.
pub const SAME_NODE_NOTE: &str = "No matrix: same-node is one pair per node (client and server \
     pods on that node); the pairs table lists them.";

/// The matrix section of the text report, or what stands in for it.
fn matrix_text(r: &Report, opts: &TextOptions) -> String {
    let mut out = format!(
        "\nMatrix: {}{} (rows: client, columns: server)\n",
        r.matrix.metric,
        if r.sampled() {
            ", median of the samples"
        } else {
            ""
        }
    );
    if r.matrix.omitted_nodes > 0 {
        out.push_str(&omitted_note(r.matrix.omitted_nodes));
        out.push_str(&fallback_text(r, opts.top));
    } else if matrix_width(&r.matrix, opts.width).is_some() {
        out.push_str(&align(&matrix_rows(&r.matrix)));
        if r.pairs_under_load > 0 {
            out.push_str(&format!(
                "{LOAD_MARK} ran beside other pairs (under load)\n"
            ));
        }
    } else {
        out.push_str(&too_wide_note(r, opts.width));
        out.push_str(&fallback_text(r, opts.top));
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
    let title = if r.show_path {
        format!("{}, path {}", r.title(), r.path)
    } else {
        r.title()
    };
    let mut out = format!("# netbench report: {}\n\n", md_cell(&title));
    out.push_str(&format!("{}\n\n", md_cell(&run_line(r))));
    out.push_str(&format!("{}\n\n", md_cell(&load_line(r))));
    if let Some(e) = &r.run_error {
        out.push_str(&format!("Run error: {}\n\n", md_cell(e)));
    }
    out.push_str("## Pairs\n\n");
    out.push_str(&md_table(&t.pairs));
    if r.sampled() {
        out.push_str(&format!("\n{}\n", md_cell(&interval_note(r))));
    }
    if r.path.is_same_node() {
        out.push_str(&format!("\n{SAME_NODE_NOTE}\n"));
    } else {
        out.push_str(&matrix_markdown(r));
    }
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

/// The matrix section of the Markdown report (or, too large, the zone pairs and extremes).
fn matrix_markdown(r: &Report) -> String {
    let mut out = format!(
        "\n## Matrix: {} (rows: client, columns: server)\n\n",
        md_cell(&r.matrix.metric)
    );
    if r.matrix.omitted_nodes > 0 {
        out.push_str(&md_cell(&omitted_note(r.matrix.omitted_nodes)));
        out.push('\n');
    } else if r.matrix.nodes.len() <= MD_MAX_NODES {
        out.push_str(&md_table(&matrix_rows(&r.matrix)));
    } else {
        out.push_str(&format!(
            "Not drawn: {} nodes, more than the {MD_MAX_NODES} a Markdown matrix is written for; \
             see the zone pairs and the extremes below, or `--html` for a heatmap.\n",
            r.matrix.nodes.len()
        ));
    }
    if r.matrix.omitted_nodes > 0 || r.matrix.nodes.len() > MD_MAX_NODES {
        let (best, worst) = r.extremes(DEFAULT_TOP);
        out.push_str(&format!(
            "\n## Zone pairs: {}\n\n",
            md_cell(&r.zones.metric)
        ));
        out.push_str(&md_table(&zone_pair_rows(r)));
        out.push_str(&format!(
            "\n## Best {} pairs by {}\n\n",
            best.len(),
            md_cell(&r.headline)
        ));
        out.push_str(&md_table(&ranked_rows(r, &best)));
        out.push_str(&format!(
            "\n## Worst {} pairs by {}\n\n",
            worst.len(),
            md_cell(&r.headline)
        ));
        out.push_str(&md_table(&ranked_rows(r, &worst)));
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
    csv_of(&[r])
}

/// Every entry's pairs as one CSV table; one report gives exactly [`csv()`].
pub fn csv_all(reports: &[Report]) -> String {
    csv_of(&reports.iter().collect::<Vec<_>>())
}

/// The host headline of each (entry, client node, server node) with a successful host pair.
type HostHeadlines<'a> = std::collections::HashMap<((Option<u32>, &'a str), &'a str, &'a str), f64>;

fn host_headlines<'a>(reports: &[&'a Report]) -> HostHeadlines<'a> {
    let mut out = HostHeadlines::new();
    for r in reports
        .iter()
        .filter(|r| r.path == netbench_proto::Path::Host)
    {
        for p in &r.pairs {
            if let Some(v) = relative::headline(r, p) {
                out.insert((r.entry_key(), p.client.as_str(), p.server.as_str()), v);
            }
        }
    }
    out
}

fn csv_of(reports: &[&Report]) -> String {
    let several = reports
        .windows(2)
        .any(|w| w[0].entry_key() != w[1].entry_key());
    let with_path = reports.iter().any(|r| r.show_path);
    let hosts = host_headlines(reports);
    // The ratio column when some pair of another path across nodes has a host counterpart.
    let with_ratio = !hosts.is_empty()
        && reports.iter().any(|r| {
            !matches!(
                r.path,
                netbench_proto::Path::Host | netbench_proto::Path::SameNode
            )
        });
    let sampled = reports.iter().any(|r| r.sampled());
    // (column, metric name), the first report's order first.
    let mut columns: Vec<(String, String)> = Vec::new();
    for r in reports {
        for m in &r.metrics {
            let col = csv_column(&m.name, m.unit);
            if !columns.iter().any(|(c, _)| *c == col) {
                columns.push((col, m.name.clone()));
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["run", "benchmark"]
        .into_iter()
        .chain(several.then_some("entry"))
        .chain(several.then_some("parameters"))
        .chain(with_path.then_some("path"))
        .chain([
            "client",
            "server",
            "client_worker",
            "server_worker",
            "client_zone",
            "server_zone",
            "status",
        ])
        .map(str::to_string)
        .collect();
    header.extend(columns.iter().map(|(c, _)| c.clone()));
    if sampled {
        header.push("samples".into());
        header.push("failed_samples".into());
        for (c, _) in &columns {
            for end in ["ci_low", "ci_high", "ci_coverage"] {
                header.push(format!("{c}_{end}"));
            }
        }
    }
    if with_ratio {
        header.push("headline_ratio_to_host".into());
    }
    header.push("concurrent_pairs".into());
    header.push("error".into());
    w.write_record(&header).expect("writing to memory");
    for r in reports {
        // This report's metric of a column, when it has it in that unit.
        let has = |col: &str, name: &str| {
            r.metrics
                .iter()
                .any(|m| m.name == name && csv_column(&m.name, m.unit) == col)
        };
        for p in &r.pairs {
            let mut row = vec![r.run.clone().unwrap_or_default(), r.benchmark.clone()];
            if several {
                row.push(
                    r.entry
                        .as_ref()
                        .map(|e| e.entry.to_string())
                        .unwrap_or_default(),
                );
                row.push(
                    r.entry
                        .as_ref()
                        .map(|e| e.non_default.clone())
                        .unwrap_or_default(),
                );
            }
            if with_path {
                row.push(r.path.name().to_string());
            }
            row.extend([
                p.client.clone(),
                p.server.clone(),
                p.client_worker.clone(),
                p.server_worker.clone(),
                p.client_zone.clone(),
                p.server_zone.clone(),
                p.status.clone(),
            ]);
            row.extend(columns.iter().map(|(col, name)| {
                has(col, name)
                    .then(|| p.metrics.get(name))
                    .flatten()
                    .map(f64::to_string)
                    .unwrap_or_default()
            }));
            if sampled {
                row.push(p.samples.to_string());
                row.push(p.failed_samples.to_string());
                for (col, name) in &columns {
                    match p.intervals.get(name).filter(|_| has(col, name)) {
                        Some(i) => row.extend([
                            i.low.to_string(),
                            i.high.to_string(),
                            i.coverage.to_string(),
                        ]),
                        None => row.extend([String::new(), String::new(), String::new()]),
                    }
                }
            }
            if with_ratio {
                let host = (r.path != netbench_proto::Path::Host)
                    .then(|| hosts.get(&(r.entry_key(), p.client.as_str(), p.server.as_str())))
                    .flatten()
                    .copied();
                row.push(
                    relative::ratio(relative::headline(r, p), host)
                        .map(|x| x.to_string())
                        .unwrap_or_default(),
                );
            }
            row.push(p.concurrent_pairs.to_string());
            row.push(p.error.clone().unwrap_or_default());
            w.write_record(&row).expect("writing to memory");
        }
    }
    String::from_utf8(w.into_inner().expect("flushing memory")).expect("CSV of UTF-8 cells")
}

/// The whole report as pretty JSON.
pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("reports serialize") + "\n"
}

/// Every entry's report: one report gives exactly [`json`]; several `{"groups": [...]}`, with
/// `"relative_to_host": [...]` ([`crate::relative::views`]) when an entry measured host and
/// another path.
pub fn json_all(reports: &[Report]) -> String {
    match reports {
        [one] => json(one),
        _ => {
            let views = relative::views(reports);
            let v = if views.is_empty() {
                serde_json::json!({ "groups": reports })
            } else {
                serde_json::json!({ "groups": reports, "relative_to_host": views })
            };
            serde_json::to_string_pretty(&v).expect("reports serialize") + "\n"
        }
    }
}

/// The heading of entry `i` of `n` in the text and Markdown reports.
pub fn entry_heading(r: &Report, i: usize, n: usize) -> String {
    format!("entry {} of {n}: {}", i + 1, r.title())
}

/// The first line of a report of several entries or paths: `2 entries: iperf3-tcp,
/// netperf-tcp-rr`, or for one entry of several paths `4 paths: pod, host, service, same-node`.
fn opening_line(entries: &[&[Report]]) -> String {
    match entries {
        [one] => format!(
            "{} paths: {}\n",
            one.len(),
            one.iter()
                .map(|r| r.path.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!(
            "{} entries: {}\n",
            entries.len(),
            entries
                .iter()
                .map(|e| e[0].title())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The view against host as text: the heading, the per-pair table, the summary lines.
pub fn relative_text(v: &RelativeToHost) -> String {
    let mut out = String::new();
    if !v.rows.is_empty() && !v.paths.is_empty() {
        out.push_str(&format!("\n{}\n", relative::heading(v)));
        out.push_str(&align(&relative::table(v)));
    }
    let lines = relative::summary_lines(v);
    if !lines.is_empty() {
        out.push('\n');
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// Every entry's text report, one after another, each entry's paths in turn and then its view
/// against host; one report gives exactly [`text_with`].
pub fn text_all(reports: &[Report], opts: &TextOptions) -> String {
    if let [one] = reports {
        return text_with(one, opts);
    }
    let entries = by_entry(reports);
    let mut out = opening_line(&entries);
    for (i, e) in entries.iter().enumerate() {
        if entries.len() > 1 {
            out.push_str(&format!(
                "\n=== {} ===\n",
                entry_heading(&e[0], i, entries.len())
            ));
        }
        for r in e.iter() {
            if e.len() > 1 || entries.len() == 1 {
                out.push_str(&format!("\n--- {} ---\n", r.path_heading()));
            }
            out.push_str(&text_with(r, opts));
        }
        if let Some(v) = relative::of_entry(e) {
            out.push_str(&relative_text(&v));
        }
    }
    out
}

/// The view against host as Markdown.
pub fn relative_markdown(v: &RelativeToHost) -> String {
    let mut out = format!("## Relative to host: {}\n\n", md_cell(&v.title));
    if !v.rows.is_empty() && !v.paths.is_empty() {
        out.push_str(&format!("{}\n\n", md_cell(&relative::what(v))));
        out.push_str(&md_table(&relative::table(v)));
        out.push('\n');
    }
    for l in relative::summary_lines(v) {
        out.push_str(&format!("- **{}**\n", md_cell(&l)));
    }
    out
}

/// Every entry's Markdown report, one after another (each entry's paths, then its view against
/// host); one report gives exactly [`markdown`].
pub fn markdown_all(reports: &[Report]) -> String {
    if let [one] = reports {
        return markdown(one);
    }
    let mut parts = Vec::new();
    for e in by_entry(reports) {
        parts.extend(e.iter().map(markdown));
        if let Some(v) = relative::of_entry(e) {
            parts.push(relative_markdown(&v));
        }
    }
    parts.join("\n---\n\n")
}

/// What stands where a matrix too large to draw would be.
pub fn omitted_note(nodes: usize) -> String {
    format!(
        "(left out: the results name {nodes} nodes, more than the {} a matrix is drawn for)\n",
        crate::model::MAX_MATRIX_NODES
    )
}
