//! One self-contained HTML page: the run's metadata, a heatmap of the node matrix, the best and
//! worst pairs, and the pair, zone and failure tables. No scripts, no external files; the HTML is
//! built with `maud` (escaped by construction) and the SVG with the `svg` crate.
//!
//! Up to [`SVG_MAX_NODES`] nodes the heatmap is one SVG rect per cell: cells carry
//! `class="cell"` and `data-client` / `data-server` / `data-value` (and `data-concurrent` when
//! the pair ran under load) attributes, so tools (and tests) can read the figures back from the
//! DOM. Past that (up to [`MAX_MATRIX_NODES`], 1,000) it is one indexed-colour PNG, a pixel block
//! per cell, nodes ordered by zone then name (the order is listed on the page), inside an SVG
//! that draws the zone boundaries and carries a hover title per zone pair: a 1,000-node page
//! stays a few MB at most whatever the file holds, and renders in a browser in well under a
//! second. Tables longer than [`HTML_MAX_ROWS`] are cut there and say so (`--format csv` has
//! every pair). The colour runs from red (worst) to green (best) in the direction the catalogue
//! says is better.
//!
//! A file of several entries gives one page with a section per entry ([`page_all`]); with
//! samples, each metric cell of a pair shows the median and, below it, its interval
//! (`span.ci`), and a `samples` column says how many failed.
//!
//! Paths (`--paths`): a section per path of each entry (`section.entry` with `data-path`); a
//! same-node section has no heatmap (one pair per node: its table says it all). Before an
//! entry's paths, `section.relative`: the per-pair ratios to host (`td.ratio` with `data-path`
//! and `data-ratio`) and one `p.path-summary` per path, its median and interval in `data-*`.
//!
//! [`MAX_MATRIX_NODES`]: crate::model::MAX_MATRIX_NODES

use crate::model::{Direction, Matrix, Report, Stats};
use crate::units::human;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::collections::{BTreeMap, HashMap};
use svg::node::element::{Circle, Image, Line, Rectangle, Text, Title};
use svg::Document;

const CELL_W: usize = 110;
const CELL_H: usize = 44;
const CHAR_W: usize = 8;

/// The most nodes drawn as one SVG rect per cell; more are drawn as an image.
pub const SVG_MAX_NODES: usize = 30;
/// The most rows a table on the page holds (pairs, failures, zone pairs).
pub const HTML_MAX_ROWS: usize = 2000;
/// How many best and worst pairs the page lists.
pub const PAGE_TOP: usize = 10;
/// The image heatmap is drawn about this many pixels wide (whole pixels per cell).
const IMAGE_TARGET: usize = 900;
/// Colour steps of the image's palette; the next indices are missing, failed, diagonal.
const STEPS: usize = 200;
const MISSING: u8 = STEPS as u8;
const FAILED: u8 = STEPS as u8 + 1;
const DIAGONAL: u8 = STEPS as u8 + 2;

/// Where a value sits within `[lo, hi]`, 0 worst .. 1 best (by value when no direction).
fn shade(v: f64, lo: f64, hi: f64, better: Option<Direction>) -> f64 {
    let t = if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    if better == Some(Direction::Lower) {
        1.0 - t
    } else {
        t
    }
}

/// Hue, saturation and lightness (0..1) of a shade.
fn hsl_of(t: f64, better: Option<Direction>) -> (f64, f64, f64) {
    if better.is_none() {
        // No direction known: one neutral hue, lightness only.
        (210.0, 0.60, (85.0 - 30.0 * t) / 100.0)
    } else {
        (5.0 + 115.0 * t, 0.65, 0.62)
    }
}

/// Red→green colour of a value within `[lo, hi]`, green on the better side.
fn colour(v: f64, lo: f64, hi: f64, better: Option<Direction>) -> String {
    let t = shade(v, lo, hi, better);
    let (h, s, l) = hsl_of(t, better);
    format!("hsl({h:.0}, {:.0}%, {:.0}%)", s * 100.0, l * 100.0)
}

/// `hsl(h, s, l)` as 8-bit RGB.
pub fn hsl_rgb(h: f64, s: f64, l: f64) -> [u8; 3] {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = (h.rem_euclid(360.0)) / 60.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let m = l - c / 2.0;
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [r, g, b].map(|v| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8)
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
                        format!(
                            "{client} → {server}: {} {}{}",
                            m.metric,
                            human(v, m.unit),
                            if c.concurrent_pairs > 1 {
                                format!(" (under load: {} pairs ran at once)", c.concurrent_pairs)
                            } else {
                                String::new()
                            }
                        ),
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
            let mut label = label;
            if let Some(c) = cell {
                rect = rect.set("data-status", c.status.as_str());
                if let Some(v) = c.value {
                    rect = rect.set("data-value", v);
                }
                if c.concurrent_pairs > 1 {
                    rect = rect.set("data-concurrent", c.concurrent_pairs);
                    label.push_str(crate::render::LOAD_MARK);
                }
            }
            doc = doc.add(rect.add(Title::new(tip)));
            if cell.as_ref().is_some_and(|c| c.concurrent_pairs > 1) {
                doc = doc.add(
                    Circle::new()
                        .set("class", "load-mark")
                        .set("cx", x + CELL_W - 9)
                        .set("cy", y + 9)
                        .set("r", 4)
                        .set("fill", "#222"),
                );
            }
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

/// Standard base64 (RFC 4648, padded), for the image's `data:` URL.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(A[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The zone of each node as the pairs report it (`?` when unknown).
fn node_zones(r: &Report) -> HashMap<&str, &str> {
    fn z(s: &str) -> &str {
        let t = s.trim();
        if t.is_empty() {
            "?"
        } else {
            t
        }
    }
    let mut zones = HashMap::new();
    for p in &r.pairs {
        zones.entry(p.client.as_str()).or_insert(z(&p.client_zone));
        zones.entry(p.server.as_str()).or_insert(z(&p.server_zone));
    }
    zones
}

/// The order of the image heatmap's rows and columns: indices into `matrix.nodes`, by zone
/// (unknown last), then by the matrix's own (natural) order. With the zones of each node.
pub fn image_order(r: &Report) -> Vec<(usize, String)> {
    let zones = node_zones(r);
    let mut order: Vec<(usize, String)> = r
        .matrix
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (i, zones.get(n.as_str()).copied().unwrap_or("?").to_string()))
        .collect();
    order.sort_by(|a, b| {
        (a.1 == "?")
            .cmp(&(b.1 == "?"))
            .then_with(|| a.1.cmp(&b.1))
            .then(a.0.cmp(&b.0))
    });
    order
}

/// The colours of the image: [`STEPS`] shades worst → best, then missing, failed, diagonal.
pub fn palette(better: Option<Direction>) -> Vec<[u8; 3]> {
    let mut p: Vec<[u8; 3]> = (0..STEPS)
        .map(|k| {
            let (h, s, l) = hsl_of(k as f64 / (STEPS - 1) as f64, better);
            hsl_rgb(h, s, l)
        })
        .collect();
    p.extend([[0xff, 0xff, 0xff], [0x9e, 0x9e, 0x9e], [0xee, 0xee, 0xee]]);
    p
}

/// The palette index of a cell.
fn cell_index(m: &Matrix, i: usize, j: usize, range: Option<(f64, f64)>) -> u8 {
    match (&m.cells[i][j], range) {
        (None, _) if i == j => DIAGONAL,
        (None, _) => MISSING,
        (Some(c), Some((lo, hi))) if c.value.is_some() => {
            let t = shade(c.value.unwrap_or(lo), lo, hi, m.better);
            (t * (STEPS - 1) as f64).round() as u8
        }
        (Some(_), _) => FAILED,
    }
}

/// Pixels per cell of the image heatmap of `n` nodes.
pub fn image_scale(n: usize) -> usize {
    (IMAGE_TARGET / n.max(1)).max(1)
}

/// The matrix as an indexed-colour PNG: row `k` of cells is the client `order[k]`, column `k`
/// the server `order[k]`, each cell `scale`×`scale` pixels.
pub fn matrix_png(m: &Matrix, order: &[usize], scale: usize) -> Vec<u8> {
    let n = order.len();
    let side = (n * scale).max(1);
    let range = m.range();
    let mut pixels = vec![MISSING; side * side];
    for (y, &i) in order.iter().enumerate() {
        let mut row = vec![MISSING; side];
        for (x, &j) in order.iter().enumerate() {
            let idx = cell_index(m, i, j, range);
            row[x * scale..(x + 1) * scale].fill(idx);
        }
        for dy in 0..scale {
            let at = (y * scale + dy) * side;
            pixels[at..at + side].copy_from_slice(&row);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(palette(m.better).concat());
        enc.set_compression(png::Compression::Balanced);
        let mut w = enc.write_header().expect("PNG header to memory");
        w.write_image_data(&pixels).expect("PNG data to memory");
    }
    out
}

/// The zone blocks of an order: (zone, first position, end position).
fn zone_blocks(order: &[(usize, String)]) -> Vec<(String, usize, usize)> {
    let mut blocks: Vec<(String, usize, usize)> = Vec::new();
    for (k, (_, z)) in order.iter().enumerate() {
        match blocks.last_mut() {
            Some(b) if b.0 == *z => b.2 = k + 1,
            _ => blocks.push((z.clone(), k, k + 1)),
        }
    }
    blocks
}

/// The most zones whose boundaries and hover titles the image heatmap draws.
const MAX_DRAWN_ZONES: usize = 60;

/// The heatmap of a large matrix: one PNG (a pixel block per cell) inside an SVG with the zone
/// boundaries, a hover title per zone pair, and the colour scale.
pub fn heatmap_image(r: &Report) -> Document {
    let m = &r.matrix;
    let order = image_order(r);
    let idx: Vec<usize> = order.iter().map(|o| o.0).collect();
    let n = idx.len();
    let scale = image_scale(n);
    let side = n * scale;
    let png = matrix_png(m, &idx, scale);
    let (left, top) = (150usize, 60usize);
    let legend_h = 60;
    let width = left + side + 20;
    let height = top + side + legend_h;
    let mut doc = Document::new()
        .set("class", "heatmap heatmap-image")
        .set("width", width)
        .set("height", height)
        .set("viewBox", (0, 0, width, height))
        .set("font-family", "sans-serif")
        .set("font-size", 12);
    doc = doc
        .add(
            Text::new("server →")
                .set("x", left + side / 2)
                .set("y", 16)
                .set("text-anchor", "middle")
                .set("font-weight", "bold"),
        )
        .add(
            Text::new("client ↓")
                .set("x", 4)
                .set("y", 16)
                .set("font-weight", "bold"),
        )
        .add(
            Image::new()
                .set("class", "matrix-image")
                .set("x", left)
                .set("y", top)
                .set("width", side)
                .set("height", side)
                .set("preserveAspectRatio", "none")
                .set("style", "image-rendering: pixelated")
                .set("data-nodes", n)
                .set("data-scale", scale)
                .set("href", format!("data:image/png;base64,{}", base64(&png))),
        )
        .add(
            Rectangle::new()
                .set("x", left)
                .set("y", top)
                .set("width", side)
                .set("height", side)
                .set("fill", "none")
                .set("stroke", "#333"),
        );
    let blocks = zone_blocks(&order);
    if blocks.len() <= MAX_DRAWN_ZONES {
        let stats: BTreeMap<(&str, &str), &crate::model::ZonePair> = r
            .zone_pairs
            .iter()
            .map(|z| ((z.client_zone.as_str(), z.server_zone.as_str()), z))
            .collect();
        for (k, (zone, a, b)) in blocks.iter().enumerate() {
            let (pa, pb) = (a * scale, b * scale);
            if k > 0 {
                for (x1, y1, x2, y2) in [
                    (left + pa, top, left + pa, top + side),
                    (left, top + pa, left + side, top + pa),
                ] {
                    doc = doc.add(
                        Line::new()
                            .set("class", "zone-line")
                            .set("x1", x1)
                            .set("y1", y1)
                            .set("x2", x2)
                            .set("y2", y2)
                            .set("stroke", "#333")
                            .set("stroke-width", 1),
                    );
                }
            }
            if pb - pa >= 14 {
                let label: String = zone.chars().take(((pb - pa) / 7).max(2)).collect();
                doc = doc.add(
                    Text::new(label)
                        .set("class", "zone-label")
                        .set("x", left + (pa + pb) / 2)
                        .set("y", top - 8)
                        .set("text-anchor", "middle"),
                );
                let label: String = zone.chars().take(20).collect();
                doc = doc.add(
                    Text::new(label)
                        .set("class", "zone-label")
                        .set("x", left - 8)
                        .set("y", top + (pa + pb) / 2 + 4)
                        .set("text-anchor", "end"),
                );
            }
        }
        for (cz, ca, cb) in &blocks {
            for (sz, sa, sb) in &blocks {
                let tip = match stats.get(&(cz.as_str(), sz.as_str())) {
                    Some(z) => format!(
                        "zone {cz} → zone {sz}: {}{}{}",
                        match z.stats {
                            Some(s) => format!(
                                "{} pairs, median {} (min {}, max {})",
                                s.pairs,
                                human(s.median, m.unit),
                                human(s.min, m.unit),
                                human(s.max, m.unit)
                            ),
                            None => "no successful pair".to_string(),
                        },
                        if z.failed > 0 {
                            format!(", {} failed", z.failed)
                        } else {
                            String::new()
                        },
                        if z.under_load > 0 {
                            format!(", {} under load", z.under_load)
                        } else {
                            String::new()
                        }
                    ),
                    None => format!("zone {cz} → zone {sz}: not measured"),
                };
                doc = doc.add(
                    Rectangle::new()
                        .set("class", "zone-block")
                        .set("data-client-zone", cz.as_str())
                        .set("data-server-zone", sz.as_str())
                        .set("x", left + sa * scale)
                        .set("y", top + ca * scale)
                        .set("width", (sb - sa) * scale)
                        .set("height", (cb - ca) * scale)
                        .set("fill", "transparent")
                        .add(Title::new(tip)),
                );
            }
        }
    }
    // The colour scale: worst on the left, best on the right.
    if let Some((lo, hi)) = m.range() {
        let y = top + side + 16;
        let bar_w = side.clamp(200, 600);
        let pal = palette(m.better);
        let steps = 50;
        for k in 0..steps {
            let [r8, g8, b8] = pal[k * (STEPS - 1) / (steps - 1)];
            doc = doc.add(
                Rectangle::new()
                    .set("x", left + k * bar_w / steps)
                    .set("y", y)
                    .set("width", bar_w / steps + 1)
                    .set("height", 14)
                    .set("fill", format!("#{r8:02x}{g8:02x}{b8:02x}")),
            );
        }
        let (worst, best) = if m.better == Some(Direction::Lower) {
            (hi, lo)
        } else {
            (lo, hi)
        };
        doc = doc
            .add(
                Text::new(format!("{} (worst)", human(worst, m.unit)))
                    .set("x", left)
                    .set("y", y + 30),
            )
            .add(
                Text::new(format!("{} (best)", human(best, m.unit)))
                    .set("x", left + bar_w)
                    .set("y", y + 30)
                    .set("text-anchor", "end"),
            );
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
tr.under-load td { font-style: italic; }
p.under-load-note { background: #fff4d6; padding: 6px 10px; border-left: 4px solid #e0a000; }
svg.heatmap-image image { image-rendering: pixelated; }
details.node-order ol { columns: 4; font-size: 12px; }
table.meta th { text-align: right; }
svg.heatmap text { fill: #111; }
";

/// A note under a table cut at [`HTML_MAX_ROWS`].
fn cut_note(shown: usize, total: usize, what: &str) -> Markup {
    html! {
        @if total > shown {
            p.cut { "The first " (shown) " of " (total) " " (what) " are shown; "
                code { "netbench report --format csv" } " (or " code { "--format json" } ") has every one." }
        }
    }
}

fn ranked_table(r: &Report, which: &[usize], class: &str) -> Markup {
    html! {
        table class=(class) {
            tr { th { "client" } th { "server" } th { "client zone" } th { "server zone" } th { (r.headline) } th { "concurrent pairs" } }
            @for &i in which {
                @let p = &r.pairs[i];
                tr class=@if p.under_load() { "under-load" } @else { "serial" } {
                    td { (p.client) } td { (p.server) } td { (p.client_zone) } td { (p.server_zone) }
                    td.num {
                        @if let Some(v) = p.metrics.get(&r.headline) { (human(*v, r.matrix.unit)) } @else { "-" }
                        @if p.under_load() { (crate::render::LOAD_MARK) }
                    }
                    td.num { (p.concurrent_pairs) }
                }
            }
        }
    }
}

/// The whole page.
pub fn page(r: &Report) -> String {
    let title = format!(
        "netbench {}{} run {}",
        r.title(),
        if r.show_path {
            format!(", path {}", r.path)
        } else {
            String::new()
        },
        r.run.as_deref().unwrap_or("?")
    );
    document(&title, body(r, &title))
}

/// One page for every entry: a section per entry and path, then the entry's view against host;
/// one report gives exactly [`page`].
pub fn page_all(reports: &[Report]) -> String {
    match reports {
        [one] => page(one),
        _ => {
            let run = reports
                .first()
                .and_then(|r| r.run.as_deref())
                .unwrap_or("?");
            let entries = crate::model::by_entry(reports);
            let n = entries.len();
            let title = if n == 1 {
                format!(
                    "netbench run {run}: {}, {} paths",
                    reports[0].title(),
                    reports.len()
                )
            } else {
                format!("netbench run {run}: {n} entries")
            };
            let sections = html! {
                h1 { (title) }
                ol.entries {
                    @for e in &entries {
                        @for r in e.iter() {
                            li { (r.title()) @if r.show_path { ", path " (r.path) } }
                        }
                    }
                }
                @for (i, e) in entries.iter().enumerate() {
                    // The entry's verdict against host first, its paths' details after.
                    @if let Some(v) = crate::relative::of_entry(e) {
                        (relative_section(&v))
                    }
                    @for r in e.iter() {
                        section.entry data-entry=(r.entry.as_ref().map_or(0, |e| e.entry)) data-path=(r.path) {
                            (body(r, &section_heading(r, i, n, e.len())))
                        }
                    }
                }
            };
            document(&title, sections)
        }
    }
}

/// `entry 1 of 2: iperf3-tcp — path host: node to node …`, as fits the file.
fn section_heading(r: &Report, i: usize, entries: usize, paths: usize) -> String {
    let entry = (entries > 1).then(|| crate::render::entry_heading(r, i, entries));
    let path = (paths > 1 || r.show_path).then(|| r.path_heading());
    match (entry, path) {
        (Some(e), Some(p)) => format!("{e} — {p}"),
        (Some(e), None) => e,
        (None, Some(p)) => format!("{} — {p}", r.title()),
        (None, None) => r.title(),
    }
}

/// An entry's paths against host: the per-pair ratios and the summary lines.
fn relative_section(v: &crate::relative::RelativeToHost) -> Markup {
    use crate::relative::{ratio_text, summary_line, value_cell};
    html! {
        section.relative data-entry=(v.entry.unwrap_or(0)) {
            h2 { "Relative to host: " (v.title) }
            @for s in &v.summaries {
                p.path-summary data-path=(s.path) data-median=(s.median) data-pairs=(s.pairs)
                    data-low=[s.interval.map(|i| i.low)] data-high=[s.interval.map(|i| i.high)]
                    data-coverage=[s.interval.map(|i| i.coverage)] {
                    strong { (summary_line(s)) }
                }
            }
            @if let Some(s) = &v.same_node {
                p.path-summary data-path="same-node" data-median=(s.median) data-nodes=(s.nodes)
                    data-host-median=[s.host_median] {
                    strong { (crate::relative::same_node_line(s, v.unit)) }
                }
            }
            @if !v.rows.is_empty() && !v.paths.is_empty() {
                p { (crate::relative::what(v)) }
                table.relative {
                    tr {
                        th { "client" } th { "server" } th { "host" }
                        @for p in &v.paths { th { (p) } th { (p) "/host" } }
                    }
                    @for row in v.rows.iter().take(HTML_MAX_ROWS) {
                        tr data-client=(row.client) data-server=(row.server) {
                            td { (row.client) } td { (row.server) }
                            td.num { (value_cell(row.host, Some(&row.host_status), v.unit)) }
                            @for p in &row.paths {
                                td.num { (value_cell(p.value, p.status.as_deref(), v.unit)) }
                                td.num.ratio data-path=(p.path) data-ratio=[p.ratio] {
                                    @if let Some(x) = p.ratio { (ratio_text(x)) } @else { "-" }
                                }
                            }
                        }
                    }
                }
                (cut_note(v.rows.len().min(HTML_MAX_ROWS), v.rows.len(), "pairs against host"))
            }
        }
    }
}

fn document(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

/// The metric cell of a pair: the value (the median with its interval below, when sampled).
fn metric_cell(r: &Report, p: &crate::model::PairRow, m: &crate::model::MetricInfo) -> Markup {
    html! {
        td.num {
            @if let Some(v) = p.metrics.get(&m.name) {
                (human(*v, m.unit)) @if p.under_load() { (crate::render::LOAD_MARK) }
                @if r.sampled() {
                    @if let Some(i) = p.intervals.get(&m.name) {
                        br; span.ci title="95% CI of the median (below 6 samples: the min–max range and its coverage)" {
                            (crate::render::interval_text(i, m.unit))
                        }
                    }
                }
            } @else { "-" }
        }
    }
}

/// A report's content: metadata, heatmap, extremes, tables.
fn body(r: &Report, title: &str) -> Markup {
    let nodes = r.matrix.nodes.len();
    let big = nodes > SVG_MAX_NODES;
    let same_node = r.path.is_same_node();
    let svg = if r.matrix.omitted_nodes > 0 || same_node {
        String::new()
    } else if big {
        heatmap_image(r).to_string()
    } else {
        heatmap(&r.matrix).to_string()
    };
    let order = if big && r.matrix.omitted_nodes == 0 && !same_node {
        image_order(r)
    } else {
        Vec::new()
    };
    let (best, worst) = r.extremes(PAGE_TOP);
    let better = match r.matrix.better {
        Some(Direction::Higher) => "higher is better",
        Some(Direction::Lower) => "lower is better",
        None => "direction unknown",
    };
    html! {
                h1 { (title) }
                table.meta {
                    tr { th { "run" } td { (r.run.as_deref().unwrap_or("?")) } }
                    tr { th { "benchmark" } td { (r.benchmark) @if let Some(d) = &r.description { " — " (d) } } }
                    @if r.show_path {
                        tr { th { "path" } td.path { (r.path) ": " (crate::model::path_description(r.path)) } }
                    }
                    @if let Some(e) = &r.entry {
                        tr { th { "entry" } td.entry { (e.entry) } }
                        tr { th { "parameters" } td.parameters { @if e.non_default.is_empty() { "defaults" } @else { (e.non_default) } } }
                    }
                    @if r.sampled() {
                        tr { th { "samples" } td.samples { "up to " (r.samples) " per pair, " (r.samples_failed) " failed; figures are medians" } }
                    }
                    @if let Some(p) = &r.phase { tr { th { "phase" } td { (p) } } }
                    @if let Some(e) = &r.run_error { tr { th { "run error" } td { (e) } } }
                    @if let Some(p) = &r.plan { tr { th { "plan" } td.plan { (p) } } }
                    @if let Some(c) = r.concurrency { tr { th { "concurrency" } td.concurrency { (c) } } }
                    tr { th { "pairs" } td { (r.pairs_total) " (" (r.pairs_failed) " failed)" } }
                    tr { th { "under load" } td.under-load-count {
                        @if r.pairs_under_load == 0 { "none: every pair ran alone (serial figures)" }
                        @else { (r.pairs_under_load) " pairs ran beside other pairs (up to " (r.max_concurrent_pairs) " at once)" }
                    } }
                    @if let Some(t) = &r.first_started { tr { th { "first pair started" } td { (t) } } }
                    @if let Some(t) = &r.last_finished { tr { th { "last pair finished" } td { (t) } } }
                    tr { th { "zones" } td { @if r.zones.zones.is_empty() { "none reported" } @else { (r.zones.zones.join(", ")) } } }
                }
                @if r.pairs_under_load > 0 {
                    p.under-load-note {
                        strong { "Figures under load: " }
                        (r.pairs_under_load) " of " (r.pairs_total) " pairs ran while other pairs ran (up to "
                        (r.max_concurrent_pairs) " at once); they are marked " (crate::render::LOAD_MARK)
                        " and are not comparable with a serial run's figures."
                    }
                }
                @if same_node { p.same-node { (crate::render::SAME_NODE_NOTE) } }
                @else {
                h2 { "Matrix: " (r.matrix.metric) " (" (better) ")" }
                @if r.matrix.omitted_nodes > 0 { p { (crate::render::omitted_note(r.matrix.omitted_nodes)) } }
                @else if big {
                    p { "Rows are clients, columns servers, " (nodes) " nodes ordered by zone, then name (listed below the matrix); one "
                        (image_scale(nodes)) "×" (image_scale(nodes)) " pixel block per pair. White: not measured; grey: failed; light grey: the diagonal. "
                        "Hover a zone block for its figures. Colours are relative to this matrix: green is its best value, red its worst." }
                } @else {
                    p { "Rows are clients, columns servers; hover a cell for its pair. Colours are relative to this matrix: green is its best value, red its worst."
                        @if r.pairs_under_load > 0 { " A dot (and " (crate::render::LOAD_MARK) ") marks a pair that ran under load." } }
                }
                (PreEscaped(svg))
                @if !order.is_empty() {
                    details.node-order {
                        summary { "Node order of the matrix (" (nodes) " nodes)" }
                        ol {
                            @for (i, z) in &order { li data-zone=(z) { (r.matrix.nodes[*i]) " (" (z) ")" } }
                        }
                    }
                }
                h2 { "Best " (best.len()) " pairs by " (r.headline) }
                (ranked_table(r, &best, "best"))
                h2 { "Worst " (worst.len()) " pairs by " (r.headline) }
                (ranked_table(r, &worst, "worst"))
                }
                h2 { "Pairs" }
                table.pairs {
                    tr {
                        th { "client" } th { "server" } th { "client zone" } th { "server zone" }
                        @for m in &r.metrics { th { (m.name) } }
                        th { "status" } @if r.sampled() { th { "samples" } } th { "concurrent pairs" }
                    }
                    @for p in r.pairs.iter().take(HTML_MAX_ROWS) {
                        tr class={ @if p.error.is_some() { "failed" } @else { "ok" } @if p.under_load() { " under-load" } } {
                            td { (p.client) } td { (p.server) } td { (p.client_zone) } td { (p.server_zone) }
                            @for m in &r.metrics { (metric_cell(r, p, m)) }
                            td { (p.status) }
                            @if r.sampled() { td.samples { (crate::render::samples_text(p)) } }
                            td.num { (p.concurrent_pairs) }
                        }
                    }
                }
                (cut_note(r.pairs.len().min(HTML_MAX_ROWS), r.pairs.len(), "pairs"))
                @if r.sampled() { p.interval-note { (crate::render::interval_note(r)) } }
                h2 { "Zones: " (r.zones.metric) }
                table.zones {
                    tr { th {} th { "pairs" } th { "median" } th { "min" } th { "max" } }
                    tr { th { "intra-zone" } (stats_cells(r.zones.intra, r.zones.unit)) }
                    tr { th { "cross-zone" } (stats_cells(r.zones.cross, r.zones.unit)) }
                }
                @if r.zones.unknown_zone_pairs > 0 {
                    p { (r.zones.unknown_zone_pairs) " pair(s) left out: zone unknown." }
                }
                h3 { "Per zone pair" }
                table.zone-pairs {
                    tr { th { "client zone" } th { "server zone" } th { "pairs" } th { "median" } th { "min" } th { "max" } th { "failed" } th { "under load" } }
                    @for z in r.zone_pairs.iter().take(HTML_MAX_ROWS) {
                        tr { td { (z.client_zone) } td { (z.server_zone) } (stats_cells(z.stats, r.zones.unit)) td.num { (z.failed) } td.num { (z.under_load) } }
                    }
                }
                (cut_note(r.zone_pairs.len().min(HTML_MAX_ROWS), r.zone_pairs.len(), "zone pairs"))
                h2 { "Failed pairs" }
                @if r.failures.is_empty() {
                    p { "None." }
                } @else {
                    table.failures {
                        tr { th { "client" } th { "server" } th { "status" } th { "reason" } }
                        @for f in r.failures.iter().take(HTML_MAX_ROWS) {
                            tr.failed { td { (f.client) } td { (f.server) } td { (f.status) } td { (f.reason) } }
                        }
                    }
                    (cut_note(r.failures.len().min(HTML_MAX_ROWS), r.failures.len(), "failed pairs"))
                }
    }
}
