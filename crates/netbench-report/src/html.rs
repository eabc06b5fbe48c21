//! One self-contained HTML page: the run's metadata, an SVG heatmap of the node matrix, and the
//! pair, zone and failure tables. No scripts, no external files; the HTML is built with `maud`
//! (escaped by construction) and the SVG with the `svg` crate.
//!
//! Heatmap cells carry `class="cell"` and `data-client` / `data-server` / `data-value`
//! attributes, so tools (and tests) can read the figures back from the DOM; the colour runs from
//! red (worst) to green (best) in the direction the catalogue says is better.

use crate::model::{Direction, Matrix, Report, Stats};
use crate::units::human;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use svg::node::element::{Rectangle, Text, Title};
use svg::Document;

const CELL_W: usize = 110;
const CELL_H: usize = 44;
const CHAR_W: usize = 8;

/// Red→green colour of a value within `[lo, hi]`, green on the better side.
fn colour(v: f64, lo: f64, hi: f64, better: Option<Direction>) -> String {
    let mut t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    if better == Some(Direction::Lower) {
        t = 1.0 - t;
    }
    if better.is_none() {
        // No direction known: one neutral hue, lightness only.
        return format!("hsl(210, 60%, {:.0}%)", 85.0 - 30.0 * t);
    }
    format!("hsl({:.0}, 65%, 62%)", 5.0 + 115.0 * t)
}

/// The heatmap of the matrix as an SVG document (client rows, server columns).
pub fn heatmap(m: &Matrix) -> Document {
    let label_w = m
        .nodes
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .max(6)
        * CHAR_W
        + 24;
    let top = 56;
    let n = m.nodes.len();
    let width = label_w + n * CELL_W + 10;
    let height = top + n * CELL_H + 10;
    let range = m.range();
    let mut doc = Document::new()
        .set("class", "heatmap")
        .set("width", width)
        .set("height", height)
        .set("viewBox", (0, 0, width, height))
        .set("font-family", "sans-serif")
        .set("font-size", 13);
    doc = doc.add(
        Text::new("server →")
            .set("x", label_w + n * CELL_W / 2)
            .set("y", 16)
            .set("text-anchor", "middle")
            .set("font-weight", "bold"),
    );
    doc = doc.add(
        Text::new("client ↓")
            .set("x", 4)
            .set("y", 16)
            .set("font-weight", "bold"),
    );
    for (j, server) in m.nodes.iter().enumerate() {
        doc = doc.add(
            Text::new(server.as_str())
                .set("class", "col-label")
                .set("x", label_w + j * CELL_W + CELL_W / 2)
                .set("y", top - 10)
                .set("text-anchor", "middle"),
        );
    }
    for (i, client) in m.nodes.iter().enumerate() {
        let y = top + i * CELL_H;
        doc = doc.add(
            Text::new(client.as_str())
                .set("class", "row-label")
                .set("x", label_w - 10)
                .set("y", y + CELL_H / 2 + 5)
                .set("text-anchor", "end"),
        );
        for (j, server) in m.nodes.iter().enumerate() {
            let x = label_w + j * CELL_W;
            let cell = &m.cells[i][j];
            let (class, fill, label, tip) = match cell {
                None if i == j => (
                    "diagonal",
                    "#eeeeee".to_string(),
                    "—".to_string(),
                    format!("{client} → {server}: same node"),
                ),
                None => (
                    "missing",
                    "#ffffff".to_string(),
                    "no pair".to_string(),
                    format!("{client} → {server}: not measured"),
                ),
                Some(c) => match (c.value, range) {
                    (Some(v), Some((lo, hi))) => (
                        "cell",
                        colour(v, lo, hi, m.better),
                        human(v, m.unit),
                        format!("{client} → {server}: {} {}", m.metric, human(v, m.unit)),
                    ),
                    _ => (
                        "cell failed",
                        "#9e9e9e".to_string(),
                        c.status.to_uppercase(),
                        format!("{client} → {server}: {}", c.status),
                    ),
                },
            };
            let mut rect = Rectangle::new()
                .set("class", class)
                .set("x", x + 1)
                .set("y", y + 1)
                .set("width", CELL_W - 2)
                .set("height", CELL_H - 2)
                .set("rx", 3)
                .set("fill", fill)
                .set("data-client", client.as_str())
                .set("data-server", server.as_str());
            if let Some(c) = cell {
                rect = rect.set("data-status", c.status.as_str());
                if let Some(v) = c.value {
                    rect = rect.set("data-value", v);
                }
            }
            doc = doc.add(rect.add(Title::new(tip)));
            doc = doc.add(
                Text::new(label)
                    .set("x", x + CELL_W / 2)
                    .set("y", y + CELL_H / 2 + 5)
                    .set("text-anchor", "middle")
                    .set("pointer-events", "none"),
            );
        }
    }
    doc
}

fn stats_cells(s: Option<Stats>, unit: netbench_proto::Unit) -> Markup {
    match s {
        Some(s) => html! {
            td.num { (s.pairs) } td.num { (human(s.median, unit)) }
            td.num { (human(s.min, unit)) } td.num { (human(s.max, unit)) }
        },
        None => html! { td.num { "0" } td { "-" } td { "-" } td { "-" } },
    }
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; white-space: nowrap; }
td:last-child { white-space: normal; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fdecea; }
table.meta th { text-align: right; }
svg.heatmap text { fill: #111; }
";

/// The whole page.
pub fn page(r: &Report) -> String {
    let svg = heatmap(&r.matrix).to_string();
    let title = format!(
        "netbench {} run {}",
        r.benchmark,
        r.run.as_deref().unwrap_or("?")
    );
    let better = match r.matrix.better {
        Some(Direction::Higher) => "higher is better",
        Some(Direction::Lower) => "lower is better",
        None => "direction unknown",
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) }
                table.meta {
                    tr { th { "run" } td { (r.run.as_deref().unwrap_or("?")) } }
                    tr { th { "benchmark" } td { (r.benchmark) @if let Some(d) = &r.description { " — " (d) } } }
                    @if let Some(p) = &r.phase { tr { th { "phase" } td { (p) } } }
                    @if let Some(e) = &r.run_error { tr { th { "run error" } td { (e) } } }
                    tr { th { "pairs" } td { (r.pairs_total) " (" (r.pairs_failed) " failed)" } }
                    @if let Some(t) = &r.first_started { tr { th { "first pair started" } td { (t) } } }
                    @if let Some(t) = &r.last_finished { tr { th { "last pair finished" } td { (t) } } }
                    tr { th { "zones" } td { @if r.zones.zones.is_empty() { "none reported" } @else { (r.zones.zones.join(", ")) } } }
                }
                h2 { "Matrix: " (r.matrix.metric) " (" (better) ")" }
                @if r.matrix.omitted_nodes > 0 { p { (crate::render::omitted_note(r.matrix.omitted_nodes)) } }
                p { "Rows are clients, columns servers; hover a cell for its pair. Colours are relative to this matrix: green is its best value, red its worst." }
                (PreEscaped(svg))
                h2 { "Pairs" }
                table.pairs {
                    tr {
                        th { "client" } th { "server" } th { "client zone" } th { "server zone" }
                        @for m in &r.metrics { th { (m.name) } }
                        th { "status" }
                    }
                    @for p in &r.pairs {
                        tr class=@if p.error.is_some() { "failed" } @else { "ok" } {
                            td { (p.client) } td { (p.server) } td { (p.client_zone) } td { (p.server_zone) }
                            @for m in &r.metrics {
                                td.num { @if let Some(v) = p.metrics.get(&m.name) { (human(*v, m.unit)) } @else { "-" } }
                            }
                            td { (p.status) }
                        }
                    }
                }
                h2 { "Zones: " (r.zones.metric) }
                table.zones {
                    tr { th {} th { "pairs" } th { "median" } th { "min" } th { "max" } }
                    tr { th { "intra-zone" } (stats_cells(r.zones.intra, r.zones.unit)) }
                    tr { th { "cross-zone" } (stats_cells(r.zones.cross, r.zones.unit)) }
                }
                @if r.zones.unknown_zone_pairs > 0 {
                    p { (r.zones.unknown_zone_pairs) " pair(s) left out: zone unknown." }
                }
                h2 { "Failed pairs" }
                @if r.failures.is_empty() {
                    p { "None." }
                } @else {
                    table.failures {
                        tr { th { "client" } th { "server" } th { "status" } th { "reason" } }
                        @for f in &r.failures {
                            tr.failed { td { (f.client) } td { (f.server) } td { (f.status) } td { (f.reason) } }
                        }
                    }
                }
            }
        }
    };
    markup.into_string()
}
