//! Large runs: a 1,000-node results file (generated here: a ring, `sample:4` pairs at
//! concurrency 4 and a 250-node full mesh, about 67,000 pairs) and a 300-node full mesh.
//! The text report falls back to the per-zone-pair summary and the best and worst pairs when
//! the matrix would not fit the terminal; the HTML page draws the matrix as one image and stays
//! far under 10 MB; the image's pixels are the pairs' values. (The page in a real browser:
//! tests/html.rs.)

mod common;

use common::*;
use netbench_proto::{ResultsFile, Status};
use netbench_report::html;
use netbench_report::model::{Matrix, MatrixCell, Report};
use netbench_report::render::{self, TextOptions};
use netbench_report::units::human;
use std::time::Instant;

const MB: usize = 1 << 20;

fn ok_values(file: &ResultsFile) -> Vec<(String, String, f64)> {
    file.results
        .iter()
        .filter(|r| r.task.status == Status::Ok)
        .map(|r| {
            (
                r.task.client.vm.hostname.clone(),
                r.task.server.vm.hostname.clone(),
                r.metric("throughput_received").unwrap(),
            )
        })
        .collect()
}

/// The lines of a text section: from the line starting with `title` to the next blank line.
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| !l.starts_with(title))
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn a_1000_node_text_report_shows_zone_pairs_and_the_best_and_worst_pairs_not_a_matrix() {
    let big = thousand_nodes();
    let file = big_file(&big);
    assert!(file.results.len() > 60_000, "{}", file.results.len());
    let r = Report::build(&file).unwrap();
    assert_eq!(r.matrix.nodes.len(), 1000);
    assert_eq!(r.matrix.omitted_nodes, 0);
    let started = Instant::now();
    let text = render::text_with(&r, &TextOptions { width: 80, top: 5 });
    eprintln!(
        "text report of {} pairs: {} bytes in {:?}",
        file.results.len(),
        text.len(),
        started.elapsed()
    );
    assert!(!text.contains("client ↓ server →"), "no matrix drawn");
    assert!(
        text.contains("(not drawn: 1000 nodes do not fit 80 columns; --width N widens"),
        "{}",
        &text[text.len() - 3000..]
    );

    // Header: the plan and concurrency of the run state, and how many pairs ran under load.
    let head: Vec<&str> = text.lines().take(2).collect();
    assert!(
        head[1].starts_with("plan sample:4  concurrency 4  "),
        "{head:?}"
    );
    let loaded = file
        .results
        .iter()
        .filter(|r| r.concurrent_pairs > 1)
        .count();
    assert!(loaded > 1000, "{loaded}");
    assert!(
        head[1].contains(&format!(
            "UNDER LOAD: {loaded} of {} pairs ran beside other pairs (up to 4 at once)",
            file.results.len()
        )),
        "{head:?}"
    );

    // Per zone pair: 16 rows; zone-1 -> zone-2 by hand.
    let zones = section(&text, "Zone pairs: throughput_received");
    assert_eq!(zones.len(), 2 + 16, "{zones:?}");
    let want: Vec<f64> = file
        .results
        .iter()
        .filter(|r| {
            r.task.client.vm.availability_zone == "zone-1"
                && r.task.server.vm.availability_zone == "zone-2"
        })
        .filter_map(|r| r.metric("throughput_received"))
        .collect();
    let failed = file
        .results
        .iter()
        .filter(|r| {
            r.task.client.vm.availability_zone == "zone-1"
                && r.task.server.vm.availability_zone == "zone-2"
                && r.task.status != Status::Ok
        })
        .count();
    let row: Vec<&str> = zones
        .iter()
        .find(|l| l.starts_with("zone-1 → zone-2 "))
        .unwrap()
        .split_whitespace()
        .skip(1) // "zone-1"; then "→", "zone-2", pairs, median, min, max (value unit), failed
        .collect();
    let unit = netbench_proto::Unit::BytesPerSecond;
    assert_eq!(row[2], want.len().to_string(), "{row:?}");
    assert_eq!(
        format!("{} {}", row[3], row[4]),
        human(median(want.clone()), unit)
    );
    let lo = want.iter().cloned().fold(f64::MAX, f64::min);
    assert_eq!(format!("{} {}", row[5], row[6]), human(lo, unit));
    assert_eq!(row[9], failed.to_string(), "{row:?}");

    // Best and worst 5: the five highest and lowest values of the file, each row's value its
    // pair's own.
    let mut all = ok_values(&file);
    all.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap());
    for (title, expected) in [
        (
            "Best 5 pairs by throughput_received (higher is better)",
            all[..5].to_vec(),
        ),
        (
            "Worst 5 pairs by throughput_received (higher is better)",
            all.iter().rev().take(5).cloned().collect::<Vec<_>>(),
        ),
    ] {
        let lines = section(&text, title);
        assert_eq!(lines.len(), 2 + 5, "{title}: {lines:?}");
        for (line, (_, _, v)) in lines[2..].iter().zip(&expected) {
            let cells: Vec<&str> = line.split_whitespace().collect();
            let shown = format!("{} {}", cells[3], cells[4]);
            let pair_value = value(&file, cells[0], cells[1], "throughput_received");
            assert_eq!(shown.trim_end_matches('*'), human(*v, unit), "{line}");
            assert_eq!(human(pair_value, unit), human(*v, unit), "{line}");
            // Under load is marked, serial is not.
            let load: u32 = cells[5].parse().unwrap();
            assert_eq!(shown.ends_with('*'), load > 1, "{line}");
        }
    }

    // Markdown has no terminal, but a 1,000-column table helps nobody either.
    let md = render::markdown(&r);
    assert!(md.contains("## Zone pairs: throughput_received"));
    assert!(md.contains("## Best 5 pairs by throughput_received"));
    assert!(md.contains("Not drawn: 1000 nodes"));
    assert!(md.lines().all(|l| l.len() < 10_000), "no 1,000-column row");
}

#[test]
fn the_matrix_is_drawn_exactly_when_it_fits_the_width() {
    let r = Report::build(&iperf3()).unwrap();
    let w = render::matrix_width(&r.matrix, 10_000).unwrap();
    let drawn = render::text_with(&r, &TextOptions { width: w, top: 5 });
    let matrix = section(&drawn, "client ↓ server →");
    assert_eq!(matrix.len(), 4, "{drawn}");
    assert_eq!(
        matrix.iter().map(|l| l.chars().count()).max(),
        Some(w),
        "the width is the widest line"
    );
    assert!(!drawn.contains("Zone pairs"));
    let narrow = render::text_with(
        &r,
        &TextOptions {
            width: w - 1,
            top: 2,
        },
    );
    assert!(!narrow.contains("client ↓ server →"), "{narrow}");
    assert!(narrow.contains("not drawn: 3 nodes do not fit"), "{narrow}");
    assert_eq!(section(&narrow, "Zone pairs").len(), 3, "{narrow}");
    assert_eq!(section(&narrow, "Best 2 pairs").len(), 4, "{narrow}");
    assert_eq!(section(&narrow, "Worst 2 pairs").len(), 4, "{narrow}");
    // 80 columns (the default) hold the 3-node fixture's matrix.
    assert!(render::text(&r).contains("client ↓ server →"));
}

/// Standard base64, decoded.
fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (k, c) in chunk.iter().enumerate() {
            n |= u32::from(val(*c)) << (18 - 6 * k);
        }
        for k in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * k)) as u8);
        }
    }
    out
}

/// The image heatmap of a page as RGB pixels and its width.
fn page_image(page: &str) -> (Vec<[u8; 3]>, usize) {
    let data = page
        .split("href=\"data:image/png;base64,")
        .nth(1)
        .expect("an image heatmap")
        .split('"')
        .next()
        .unwrap();
    let mut decoder = png::Decoder::new(std::io::Cursor::new(unbase64(data)));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.width, info.height);
    let step = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (px, info.width as usize)
}

/// `hsl(h, s, l)` as RGB, written out apart from the crate's own.
fn hsl(h: f64, s: f64, l: f64) -> [u8; 3] {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = l - c / 2.0;
    let (r, g, b) = match h {
        h if h < 60.0 => (c, x, 0.0),
        h if h < 120.0 => (x, c, 0.0),
        _ => (0.0, c, x),
    };
    [r, g, b].map(|v| ((v + m) * 255.0).round() as u8)
}

#[test]
fn the_image_heatmap_has_one_block_per_pair_in_the_pairs_colour() {
    // 40 nodes in 3 zones, full mesh, some failures: past the SVG bound, so an image.
    let big = Big {
        nodes: 40,
        zones: 3,
        sample: 0,
        dense: 40,
        fail_every: 37,
        sample_concurrency: 1,
    };
    let mut file = big_file(&big);
    // One pair never measured.
    file.results.retain(|r| {
        !(r.task.client.vm.hostname == "node-5" && r.task.server.vm.hostname == "node-9")
    });
    let r = Report::build(&file).unwrap();
    let page = html::page(&r);
    assert!(
        !page.contains("class=\"cell\""),
        "no per-cell SVG past 30 nodes"
    );
    let (px, side) = page_image(&page);
    let scale = side / 40;
    assert_eq!(scale, html::image_scale(40));
    assert!(scale >= 2);
    // The node order is on the page: by zone, then name.
    let order: Vec<String> = page
        .split("<li data-zone=\"")
        .skip(1)
        .map(|li| {
            li.split('>')
                .nth(1)
                .unwrap()
                .split(" (")
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(order.len(), 40);
    assert_eq!(&order[..3], ["node-0", "node-3", "node-6"], "zone-0 first");
    let pos = |n: &str| order.iter().position(|o| o == n).unwrap();
    let values = ok_values(&file);
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v.2), b.max(v.2)));
    let at = |c: &str, s: &str| {
        // The middle of the cell's block.
        let (y, x) = (pos(c) * scale + scale / 2, pos(s) * scale + scale / 2);
        px[y * side + x]
    };
    let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 4);
    for (c, s, v) in &values {
        let t = (v - lo) / (hi - lo);
        let want = hsl(5.0 + 115.0 * t, 0.65, 0.62);
        assert!(
            close(at(c, s), want),
            "{c}->{s}: {:?} want {want:?}",
            at(c, s)
        );
    }
    let failed: Vec<_> = file
        .results
        .iter()
        .filter(|r| r.task.status != Status::Ok)
        .collect();
    assert!(failed.len() > 10);
    for f in failed {
        assert_eq!(
            at(&f.task.client.vm.hostname, &f.task.server.vm.hostname),
            [0x9e; 3],
            "failed is grey"
        );
    }
    assert_eq!(at("node-5", "node-9"), [0xff; 3], "not measured is white");
    assert_eq!(at("node-7", "node-7"), [0xee; 3], "the diagonal");
    // A hover title per zone pair, with its figures.
    assert_eq!(page.matches("class=\"zone-block\"").count(), 9);
    let z = r
        .zone_pairs
        .iter()
        .find(|z| z.client_zone == "zone-2" && z.server_zone == "zone-0")
        .unwrap();
    let s = z.stats.unwrap();
    assert!(page.contains(&format!(
        "zone zone-2 → zone zone-0: {} pairs, median {}",
        s.pairs,
        human(s.median, r.matrix.unit)
    )));
}

#[test]
fn pages_of_1000_nodes_and_of_a_300_node_mesh_stay_small() {
    for (name, big) in [
        (
            "1000 nodes, sample:4 + ring + 250-node mesh",
            thousand_nodes(),
        ),
        (
            "300-node full mesh",
            Big {
                nodes: 300,
                zones: 3,
                sample: 0,
                dense: 300,
                fail_every: 0,
                sample_concurrency: 1,
            },
        ),
    ] {
        let file = big_file(&big);
        let r = Report::build(&file).unwrap();
        let started = Instant::now();
        let page = html::page(&r);
        eprintln!(
            "{name}: {} pairs, page {:.2} MB, built in {:?}",
            file.results.len(),
            page.len() as f64 / MB as f64,
            started.elapsed()
        );
        assert!(page.len() < 10 * MB, "{name}: {} bytes", page.len());
        assert!(!page.contains("<script"), "still no scripts");
        assert!(page.contains(&format!(
            "The first {} of {} pairs are shown",
            html::HTML_MAX_ROWS,
            file.results.len()
        )));
        let pairs_table = page
            .split("<table class=\"pairs\">")
            .nth(1)
            .and_then(|t| t.split("</table>").next())
            .unwrap();
        assert_eq!(
            pairs_table.matches("<tr class=").count(),
            html::HTML_MAX_ROWS,
            "{name}"
        );
    }
}

/// However a file fills a 1,000-node matrix (here every cell, each value different), the image
/// is a palette PNG of at most a byte per cell: the page cannot grow past a few MB.
#[test]
fn a_full_1000_node_matrix_image_is_at_most_a_byte_per_cell() {
    let n = 1000;
    let nodes: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    // xorshift: noise, the worst case for the compression.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 1_000_000) as f64
    };
    let cells = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    (i != j).then(|| MatrixCell {
                        value: Some(next()),
                        status: "ok".into(),
                        concurrent_pairs: 1,
                    })
                })
                .collect()
        })
        .collect();
    let m = Matrix {
        metric: "throughput_received".into(),
        unit: netbench_proto::Unit::BytesPerSecond,
        better: Some(netbench_report::model::Direction::Higher),
        nodes,
        cells,
        omitted_nodes: 0,
    };
    let order: Vec<usize> = (0..n).collect();
    let png = html::matrix_png(&m, &order, html::image_scale(n));
    eprintln!(
        "full 1000-node image: {:.2} MB",
        png.len() as f64 / MB as f64
    );
    assert!(png.len() < n * n + 64 * 1024, "{}", png.len());
}
