//! `netbench report` outputs built from real results files (and edited copies of them for the
//! edge cases), read back: CSV with a CSV reader, JSON with serde, Markdown table by table.

mod common;

use common::*;
use netbench_report::model::Report;
use netbench_report::{render, summary_text};
use serde_json::Value;

fn report(file: &netbench_proto::ResultsFile) -> Report {
    Report::build(file).expect("report builds")
}

#[test]
fn json_matrix_is_n_by_n_with_an_empty_diagonal_and_the_files_values() {
    let file = iperf3();
    let v: Value = serde_json::from_str(&render::json(&report(&file))).unwrap();
    let nodes: Vec<String> = v["matrix"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(nodes, ["node-1", "node-2", "node-3"]);
    assert_eq!(v["matrix"]["metric"], "throughput_received");
    let cells = v["matrix"]["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 3);
    for (i, row) in cells.iter().enumerate() {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 3);
        for (j, cell) in row.iter().enumerate() {
            if i == j {
                assert!(cell.is_null(), "diagonal {i} not empty: {cell}");
            } else {
                let want = value(&file, &nodes[i], &nodes[j], "throughput_received");
                assert_eq!(cell["value"].as_f64().unwrap(), want, "{i},{j}");
                assert_eq!(cell["status"], "ok");
            }
        }
    }
    assert_eq!(v["pairs"].as_array().unwrap().len(), 6);
    assert_eq!(v["benchmark"], "iperf3-tcp");
    assert_eq!(v["run"], file.run.as_ref().unwrap().run.as_str());
}

#[test]
fn csv_parses_back_to_every_pair_with_base_unit_values() {
    let file = iperf3();
    let text = render::csv(&report(&file));
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    for col in [
        "client",
        "server",
        "status",
        "throughput_received_bytes_per_second",
        "throughput_sent_bytes_per_second",
        "retransmits",
        "rtt_mean_seconds",
    ] {
        assert!(
            header.iter().any(|h| h == col),
            "no column {col}: {header:?}"
        );
    }
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), file.results.len());
    for row in &rows {
        let (c, s) = (&row[col("client")], &row[col("server")]);
        for (column, metric) in [
            (
                "throughput_received_bytes_per_second",
                "throughput_received",
            ),
            ("rtt_mean_seconds", "rtt_mean"),
            ("retransmits", "retransmits"),
        ] {
            let got: f64 = row[col(column)].parse().unwrap();
            assert_eq!(got, value(&file, c, s, metric), "{c}->{s} {metric}");
        }
        assert_eq!(&row[col("status")], "ok");
    }
}

/// The Markdown tables after a heading, as rows of cells (separator row dropped).
fn md_tables(md: &str) -> Vec<(String, Vec<Vec<String>>)> {
    let mut out: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    let mut heading = String::new();
    for line in md.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            heading = h.to_string();
        } else if line.starts_with('|') {
            if line.starts_with("|---") {
                continue;
            }
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect();
            match out.last_mut() {
                Some((h, rows)) if *h == heading => rows.push(cells),
                _ => out.push((heading.clone(), vec![cells])),
            }
        }
    }
    out
}

#[test]
fn markdown_tables_parse_back_with_consistent_columns() {
    let mut file = netperf_rr();
    fail_pair(&mut file, 2, "netperf: connect | refused");
    let md = render::markdown(&report(&file));
    let tables = md_tables(&md);
    let names: Vec<&str> = tables.iter().map(|(h, _)| h.as_str()).collect();
    assert!(names[0].starts_with("Pairs"), "{names:?}");
    assert!(
        names[1].starts_with("Matrix: transaction_rate"),
        "{names:?}"
    );
    assert!(names[2].starts_with("Zones"), "{names:?}");
    assert!(names[3].starts_with("Failed pairs"), "{names:?}");
    for (h, rows) in &tables {
        let w = rows[0].len();
        for r in rows {
            assert_eq!(r.len(), w, "{h}: ragged row {r:?}");
        }
    }
    let pairs = &tables[0].1;
    assert_eq!(pairs.len(), 7, "header + 6 pairs");
    let matrix = &tables[1].1;
    assert_eq!(matrix.len(), 4);
    for (i, row) in matrix.iter().enumerate().skip(1) {
        assert_eq!(row.len(), 4);
        assert_eq!(row[i], "-", "diagonal of {row:?}");
    }
    // The failed pair (node-2 -> node-1, third in plan order) shows its status in the matrix,
    // and its reason, pipe escaped, in the failures table.
    assert_eq!(matrix[2][1], "TOOL_FAILED");
    let failures = &tables[3].1;
    assert_eq!(failures.len(), 2);
    assert_eq!(failures[1][0..3], ["node-2", "node-1", "tool_failed"]);
    assert_eq!(failures[1][3], "netperf: connect \\| refused");
    assert!(md.contains("µs"), "latencies in µs");
}

#[test]
fn zone_stats_match_hand_computed_values() {
    // node-1 in zone a, node-2 and node-3 in zone b; headline values set to known figures.
    let mut file = iperf3();
    set_zones(&mut file, |h| if h == "node-1" { "a" } else { "b" });
    let figures = [
        // (client, server, Gbit/s)
        ("node-1", "node-2", 8.0),  // cross
        ("node-1", "node-3", 4.0),  // cross
        ("node-2", "node-1", 6.0),  // cross
        ("node-2", "node-3", 20.0), // intra
        ("node-3", "node-1", 2.0),  // cross
        ("node-3", "node-2", 10.0), // intra
    ];
    for r in &mut file.results {
        let (_, _, gbit) = figures
            .iter()
            .find(|(c, s, _)| *c == r.task.client.vm.hostname && *s == r.task.server.vm.hostname)
            .unwrap();
        for m in &mut r.metrics {
            if m.name == "throughput_received" {
                m.value = gbit * 1e9 / 8.0;
            }
        }
    }
    let z = report(&file).zones;
    assert_eq!(z.zones, ["a", "b"]);
    let intra = z.intra.unwrap();
    assert_eq!(intra.pairs, 2);
    assert_eq!(intra.median, 15.0e9 / 8.0); // (20 + 10) / 2
    assert_eq!((intra.min, intra.max), (10.0e9 / 8.0, 20.0e9 / 8.0));
    let cross = z.cross.unwrap();
    assert_eq!(cross.pairs, 4);
    assert_eq!(cross.median, 5.0e9 / 8.0); // sorted 2 4 6 8: (4 + 6) / 2
    assert_eq!((cross.min, cross.max), (2.0e9 / 8.0, 8.0e9 / 8.0));
    assert_eq!(z.unknown_zone_pairs, 0);
    let text = render::text(&report(&file));
    assert!(
        text.contains("intra-zone  2      15.00 Gbit/s  10.00 Gbit/s  20.00 Gbit/s"),
        "{text}"
    );
    assert!(
        text.contains("cross-zone  4      5.00 Gbit/s   2.00 Gbit/s   8.00 Gbit/s"),
        "{text}"
    );
}

#[test]
fn a_single_zone_has_no_cross_zone_figures_and_unknown_zones_are_counted_apart() {
    let file = iperf3(); // `netbench local` puts every node in zone "local"
    let z = report(&file).zones;
    assert_eq!(z.zones, ["local"]);
    assert_eq!(z.intra.unwrap().pairs, 6);
    assert!(z.cross.is_none());
    let text = render::text(&report(&file));
    assert!(text.contains("cross-zone  0      -"), "{text}");

    let mut unknown = iperf3();
    set_zones(&mut unknown, |h| if h == "node-3" { "" } else { "z1" });
    let z = report(&unknown).zones;
    assert_eq!(z.intra.unwrap().pairs, 2, "node-1 <-> node-2 only");
    assert_eq!(z.unknown_zone_pairs, 4);
    assert!(render::text(&report(&unknown)).contains("4 pair(s) left out (zone unknown)"));
}

#[test]
fn a_failed_pair_is_listed_with_its_reason_and_left_out_of_the_figures() {
    let mut file = iperf3();
    fail_pair(
        &mut file,
        0,
        "iperf3: error - unable to connect to server: Connection refused\nmore detail",
    );
    let r = report(&file);
    assert_eq!(r.pairs_failed, 1);
    assert_eq!(r.failures.len(), 1);
    let f = &r.failures[0];
    assert_eq!((f.client.as_str(), f.server.as_str()), ("node-1", "node-2"));
    assert_eq!(f.status, "tool_failed");
    assert_eq!(
        f.reason,
        "iperf3: error - unable to connect to server: Connection refused"
    );
    let cell = r.matrix.cells[0][1].as_ref().unwrap();
    assert_eq!((cell.value, cell.status.as_str()), (None, "tool_failed"));
    assert_eq!(r.zones.intra.unwrap().pairs, 5);
    let text = render::text(&r);
    assert!(text.contains("Failed pairs (1)"), "{text}");
    assert!(text.contains("unable to connect to server"), "{text}");
    assert!(text.contains("TOOL_FAILED"), "{text}");
    let csv_text = render::csv(&r);
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let first = rd.records().next().unwrap().unwrap();
    assert_eq!(&first[8], "tool_failed");
    assert!(first
        .iter()
        .next_back()
        .unwrap()
        .contains("Connection refused"));
}

#[test]
fn missing_metrics_show_as_dashes_or_drop_their_column() {
    let mut file = iperf3();
    drop_metric(&mut file, "rtt_mean", |_| true);
    drop_metric(&mut file, "retransmits", |i| i == 1);
    let r = report(&file);
    let names: Vec<&str> = r.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["throughput_received", "throughput_sent", "retransmits"]
    );
    let text = render::text(&r);
    assert!(!text.contains("rtt_mean"), "{text}");
    let second = text
        .lines()
        .find(|l| l.starts_with("node-1  node-3"))
        .unwrap();
    assert!(second.contains(" -  "), "{second}");
    let csv_text = render::csv(&r);
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let h = rd.headers().unwrap().clone();
    let col = h.iter().position(|c| c == "retransmits").unwrap();
    let rows: Vec<_> = rd.records().map(Result::unwrap).collect();
    assert_eq!(&rows[1][col], "");
    assert!(!rows[0][col].is_empty());
}

#[test]
fn nodes_fall_back_to_worker_names_and_sort_naturally() {
    let mut file = iperf3();
    for r in &mut file.results {
        for e in [&mut r.task.client, &mut r.task.server] {
            e.vm.hostname.clear();
            e.worker = e.worker.replace("node-3", "node-10");
        }
    }
    let r = report(&file);
    assert_eq!(r.matrix.nodes, ["node-1", "node-2", "node-10"]);
    assert_eq!(r.pairs[0].client, "node-1");
}

#[test]
fn mixed_benchmarks_are_refused_with_a_clear_error() {
    let mut file = iperf3();
    file.results.extend(netperf_rr().results);
    let e = Report::build(&file).unwrap_err().to_string();
    assert!(e.contains("iperf3-tcp, netperf-tcp-rr"), "{e}");
    assert!(e.contains("split the file"), "{e}");
}

#[test]
fn summary_text_has_the_pairs_matrix_and_zones() {
    let file = netperf_rr();
    let s = summary_text(&file);
    for node in ["node-1", "node-2", "node-3"] {
        assert!(s.contains(node));
    }
    assert!(s.contains("Matrix: transaction_rate"), "{s}");
    assert!(s.contains("intra-zone  6"), "{s}");
    let rate = value(&file, "node-1", "node-2", "transaction_rate");
    assert!(s.contains(&format!("{rate:.0}/s")), "{s}");
}

/// The header says how the pairs were taken (the run state's plan and concurrency), and a
/// figure taken under load (`concurrent_pairs` > 1) is never shown as if it were serial.
#[test]
fn header_shows_plan_and_concurrency_and_pairs_under_load_are_marked() {
    let serial = iperf3();
    let t = render::text(&report(&serial));
    let second = t.lines().nth(1).unwrap();
    assert_eq!(
        second, "plan mesh  concurrency 1  every pair ran alone (serial figures)",
        "a file from before concurrency: defaults"
    );
    assert!(!t.contains('*'), "{t}");

    let mut loaded = iperf3();
    {
        let run = loaded.run.as_mut().unwrap();
        run.plan = "zones:2".into();
        run.concurrency = 3;
    }
    loaded.results[1].concurrent_pairs = 3; // node-1 -> node-3
    loaded.results[4].concurrent_pairs = 2; // node-3 -> node-1
    let r = report(&loaded);
    assert_eq!(
        (r.plan.as_deref(), r.concurrency, r.pairs_under_load),
        (Some("zones:2"), Some(3), 2)
    );
    let t = render::text(&r);
    let second = t.lines().nth(1).unwrap();
    assert!(
        second.starts_with(
            "plan zones:2  concurrency 3  UNDER LOAD: 2 of 6 pairs ran beside other pairs \
             (up to 3 at once), marked *"
        ),
        "{second}"
    );
    // The pairs table grows a column, the matrix marks the cells, and says what * means.
    let header = t.lines().find(|l| l.starts_with("client  server")).unwrap();
    assert!(header.ends_with("status  concurrent pairs"), "{header}");
    let row13 = t.lines().find(|l| l.starts_with("node-1  node-3")).unwrap();
    assert!(row13.ends_with("ok      3*"), "{row13}");
    let row12 = t.lines().find(|l| l.starts_with("node-1  node-2")).unwrap();
    assert!(row12.ends_with("ok      1"), "{row12}");
    let v13 = netbench_report::units::human(
        value(&loaded, "node-1", "node-3", "throughput_received"),
        netbench_proto::Unit::BytesPerSecond,
    );
    let matrix_row = t
        .lines()
        .skip_while(|l| !l.starts_with("client ↓ server →"))
        .nth(1)
        .unwrap();
    assert!(matrix_row.contains(&format!("{v13}*")), "{matrix_row}");
    assert!(t.contains("* ran beside other pairs (under load)"), "{t}");
    // CSV and JSON carry the figure.
    let csv_text = render::csv(&r);
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let col = rd
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "concurrent_pairs")
        .unwrap();
    let loads: Vec<String> = rd.records().map(|x| x.unwrap()[col].to_string()).collect();
    assert_eq!(loads, ["1", "3", "1", "1", "2", "1"]);
    let v: Value = serde_json::from_str(&render::json(&r)).unwrap();
    assert_eq!(v["plan"], "zones:2");
    assert_eq!(v["concurrency"], 3);
    assert_eq!(v["pairs_under_load"], 2);
    assert_eq!(v["matrix"]["cells"][0][2]["concurrent_pairs"], 3);
    assert!(v["matrix"]["cells"][0][1].get("concurrent_pairs").is_none());
    // Markdown says it in its header too.
    assert!(render::markdown(&r).contains("UNDER LOAD: 2 of 6 pairs"));
    // The page: plan, concurrency, the note, and the marked cells.
    let page = netbench_report::html::page(&r);
    assert!(page.contains("<td class=\"plan\">zones:2</td>"), "plan row");
    assert!(page.contains("<td class=\"concurrency\">3</td>"));
    assert!(page.contains("class=\"under-load-note\""));
    assert_eq!(page.matches("data-concurrent=").count(), 2);
    assert_eq!(page.matches("class=\"load-mark\"").count(), 2);
    assert!(!netbench_report::html::page(&report(&serial)).contains("class=\"under-load-note\""));
}
