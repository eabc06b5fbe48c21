//! Paths (`--paths pod,host,service,same-node`, issue #15) in `report` and `compare`: a 3-node
//! iperf3-tcp run on every path with known figures ([`common::four_paths`], built from the real
//! fixture's results: the local testbed runs only `pod` so far), written as JSON and loaded back.
//! Every expected figure here is computed in the test from the constants, not by the code under
//! test: the per-path sections hold their own path's figures only, the ratios to host and the
//! summary medians and intervals are exact, and `compare` never sets one path against another.

mod common;

use common::*;
use netbench_proto::{Path, ResultsFile};
use netbench_report::compare::{self, Verdict};
use netbench_report::model::Report;
use netbench_report::relative::{self, RelativeToHost};
use netbench_report::{html, render};
use serde_json::Value;

fn loaded(file: &ResultsFile) -> (tempfile::TempDir, ResultsFile) {
    let dir = tempfile::tempdir().unwrap();
    let (_, f) = roundtrip_file(dir.path(), "paths.json", file);
    (dir, f)
}

/// The median as a textbook gives it: the middle value, or the mean of the middle two.
fn textbook_median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The ratio of two figures in Gbit/s as stored (bytes per second).
fn stored_ratio(path_gbit: f64, host_gbit: f64) -> f64 {
    (path_gbit * GBIT) / (host_gbit * GBIT)
}

fn view(reports: &[Report]) -> RelativeToHost {
    let views = relative::views(reports);
    assert_eq!(views.len(), 1, "one entry, one view");
    views.into_iter().next().unwrap()
}

#[test]
fn each_path_is_its_own_report_with_only_its_own_figures() {
    let (_dir, file) = loaded(&four_paths());
    assert!(
        Report::build(&file).is_err(),
        "one report over four paths would mix them"
    );
    let reports = Report::build_all(&file).unwrap();
    let paths: Vec<Path> = reports.iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [Path::Pod, Path::Host, Path::Service, Path::SameNode]
    );
    let nodes = ["node-1", "node-2", "node-3"];
    let at = |r: &Report, c: &str, s: &str| {
        let (i, j) = (
            r.matrix.nodes.iter().position(|n| n == c).unwrap(),
            r.matrix.nodes.iter().position(|n| n == s).unwrap(),
        );
        r.matrix.cells[i][j].as_ref().and_then(|c| c.value)
    };
    for (k, &(c, s)) in PAIRS3.iter().enumerate() {
        assert_eq!(at(&reports[0], c, s), Some(POD3[k] * GBIT), "pod {c}->{s}");
        assert_eq!(
            at(&reports[1], c, s),
            Some(HOST3[k] * GBIT),
            "host {c}->{s}"
        );
        assert_eq!(
            at(&reports[2], c, s),
            SERVICE3[k].map(|v| v * GBIT),
            "service {c}->{s}"
        );
    }
    for r in &reports[..3] {
        assert_eq!(r.matrix.nodes, nodes, "nodes by hostname on {}", r.path);
        assert_eq!(r.pairs_total, 6);
    }
    assert_eq!(reports[1].pairs[0].client_worker, "node-1-host");
    assert_eq!(reports[2].pairs_failed, 1);
    let same = &reports[3];
    assert_eq!(same.pairs.len(), 3);
    for (k, p) in same.pairs.iter().enumerate() {
        assert_eq!((p.client.as_str(), p.server.as_str()), (nodes[k], nodes[k]));
        assert_eq!(p.metrics["throughput_received"], SAME_NODE3[k] * GBIT);
    }
    // Every report of the file names its path; the pod one too, beside the others.
    assert!(reports.iter().all(|r| r.show_path));
}

#[test]
fn ratios_to_host_and_the_summary_medians_and_intervals_are_exact() {
    let (_dir, file) = loaded(&four_paths());
    let reports = Report::build_all(&file).unwrap();
    let v = view(&reports);
    assert_eq!(v.paths, [Path::Pod, Path::Service]);
    assert_eq!(v.metric, "throughput_received");
    assert_eq!(v.rows.len(), 6);
    let mut pod_ratios = Vec::new();
    let mut service_ratios = Vec::new();
    for (k, &(c, s)) in PAIRS3.iter().enumerate() {
        let row = &v.rows[k];
        assert_eq!((row.client.as_str(), row.server.as_str()), (c, s));
        assert_eq!(row.host, Some(HOST3[k] * GBIT));
        let pod = stored_ratio(POD3[k], HOST3[k]);
        assert_eq!(row.paths[0].ratio, Some(pod), "pod/host of {c}->{s}");
        pod_ratios.push(pod);
        let service = SERVICE3[k].map(|x| stored_ratio(x, HOST3[k]));
        assert_eq!(row.paths[1].ratio, service, "service/host of {c}->{s}");
        service_ratios.extend(service);
    }
    assert_eq!(v.rows[3].paths[1].status.as_deref(), Some("timed_out"));

    // pod: 6 pairs, the 95 % interval of a median of 6 is [x(1), x(6)], coverage
    // 1 - 2·(1/2)^6 = 0.96875.
    let pod = &v.summaries[0];
    assert_eq!((pod.path, pod.pairs, pod.without_host), (Path::Pod, 6, 0));
    assert_eq!(pod.median, textbook_median(&pod_ratios));
    let iv = pod.interval.unwrap();
    let (lo, hi) = (
        pod_ratios.iter().copied().fold(f64::INFINITY, f64::min),
        pod_ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    assert_eq!((iv.low, iv.high), (lo, hi));
    assert_eq!(iv.coverage, 1.0 - 2.0 / 64.0);
    assert!(iv.meets_target);

    // service: 5 pairs (one timed out): no 95 % interval exists, the range covers
    // 1 - 2·(1/2)^5 = 0.9375.
    let service = &v.summaries[1];
    assert_eq!(
        (service.path, service.pairs, service.without_host),
        (Path::Service, 5, 0)
    );
    assert_eq!(service.median, textbook_median(&service_ratios));
    let iv = service.interval.unwrap();
    assert_eq!(
        (iv.low, iv.high),
        (
            service_ratios.iter().copied().fold(f64::INFINITY, f64::min),
            service_ratios
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max)
        )
    );
    assert_eq!(iv.coverage, 1.0 - 2.0 / 32.0);
    assert!(!iv.meets_target);

    // same-node: no per-pair ratio; its median over the nodes beside host's over the pairs.
    let same = v.same_node.as_ref().unwrap();
    let host_bytes: Vec<f64> = HOST3.iter().map(|h| h * GBIT).collect();
    let same_bytes: Vec<f64> = SAME_NODE3.iter().map(|x| x * GBIT).collect();
    assert_eq!((same.nodes, same.host_pairs), (3, 6));
    assert_eq!(same.median, textbook_median(&same_bytes));
    assert_eq!(same.host_median, Some(textbook_median(&host_bytes)));
    assert_eq!(
        same.ratio_of_medians,
        Some(textbook_median(&same_bytes) / textbook_median(&host_bytes))
    );

    // The lines, as the issue words them, with the figures above.
    let pod_line = format!(
        "pod network vs host network: median ratio {:.2} [95% CI {:.2}–{:.2}] over 6 pairs",
        textbook_median(&pod_ratios),
        lo,
        hi
    );
    assert_eq!(
        pod_line,
        "pod network vs host network: median ratio 0.61 [95% CI 0.55–0.70] over 6 pairs"
    );
    let lines = relative::summary_lines(&v);
    assert_eq!(lines[0], pod_line);
    assert_eq!(
        lines[1],
        "service vs host network: median ratio 0.55 [93.8% CI 0.50–0.62 (the range; 6 pairs or \
         more give 95%)] over 5 pairs"
    );
    assert_eq!(
        lines[2],
        "same-node vs host network: median 31.00 Gbit/s over 3 nodes vs median 9.20 Gbit/s over \
         6 host pairs (ratio of the medians 3.37; not per pair: no host pair joins a node to itself)"
    );
}

/// The text between `--- path <name>: ` and the next path heading (or the end).
fn section<'a>(text: &'a str, path: &str) -> &'a str {
    let start = text
        .find(&format!("--- path {path}: "))
        .unwrap_or_else(|| panic!("no section for {path}:\n{text}"));
    let rest = &text[start + 4..];
    let end = rest.find("\n--- path ").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[test]
fn text_has_a_section_per_path_then_the_ratios_and_the_summary_lines() {
    let (_dir, file) = loaded(&four_paths());
    let reports = Report::build_all(&file).unwrap();
    let text = render::text_all(&reports, &render::TextOptions::default());
    assert!(
        text.starts_with("4 paths: pod, host, service, same-node\n"),
        "{text}"
    );
    let pod = section(&text, "pod");
    let host = section(&text, "host");
    // node-1 -> node-2: pod 5.83 Gbit/s, host 9.40 Gbit/s; each only in its own section.
    assert!(
        pod.contains("5.83 Gbit/s") && !pod.contains("9.40 Gbit/s"),
        "{pod}"
    );
    assert!(
        host.contains("9.40 Gbit/s") && !host.contains("5.83 Gbit/s"),
        "{host}"
    );
    assert!(pod.contains("  path pod  "), "{pod}");
    assert!(host.contains("Matrix: throughput_received"), "{host}");
    let same = section(&text, "same-node");
    assert!(!same.contains("Matrix:"), "{same}");
    assert!(same.contains(render::SAME_NODE_NOTE), "{same}");
    assert!(same.contains("31.00 Gbit/s"), "{same}");
    // The view against host closes the entry.
    let rel = &text[text.find("Relative to host: ").expect("the ratio table")..];
    assert!(
        rel.starts_with(
            "Relative to host: throughput_received per pair, each path ÷ host (higher is better: \
             below 1 the path does worse than host)\nclient  server  host"
        ),
        "{rel}"
    );
    let row = rel
        .lines()
        .find(|l| l.starts_with("node-2  node-3"))
        .unwrap();
    let cells: Vec<&str> = row.split("  ").filter(|c| !c.is_empty()).collect();
    assert_eq!(
        cells,
        [
            "node-2",
            "node-3",
            "8.80 Gbit/s",
            "5.10 Gbit/s",
            "0.58",
            "TIMED_OUT",
            "-"
        ]
    );
    assert!(text.ends_with(&format!(
        "\n{}\n",
        relative::summary_lines(&view(&reports)).join("\n")
    )));
    assert_eq!(text.matches("pod network vs host network").count(), 1);
    // The end-of-run summary of `netbench local` is the same text.
    let summary = netbench_report::summary_text(&file);
    assert!(summary.contains("pod network vs host network: median ratio 0.61 [95% CI 0.55–0.70]"));
}

#[test]
fn csv_json_markdown_and_html_carry_the_path_and_the_ratios() {
    let (_dir, file) = loaded(&four_paths());
    let reports = Report::build_all(&file).unwrap();

    let text = render::csv_all(&reports);
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let h = rd.headers().unwrap().clone();
    let col = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    assert!(h.iter().all(|c| c != "entry"), "one entry: no entry column");
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6 + 6 + 6 + 3);
    let find = |path: &str, c: &str, s: &str| {
        rows.iter()
            .find(|r| &r[col("path")] == path && &r[col("client")] == c && &r[col("server")] == s)
            .unwrap_or_else(|| panic!("{path} {c}->{s}"))
    };
    let ratio = |r: &csv::StringRecord| r[col("headline_ratio_to_host")].parse::<f64>().ok();
    for (k, &(c, s)) in PAIRS3.iter().enumerate() {
        assert_eq!(
            ratio(find("pod", c, s)),
            Some(stored_ratio(POD3[k], HOST3[k]))
        );
        assert_eq!(ratio(find("host", c, s)), None, "host is the baseline");
        assert_eq!(
            ratio(find("service", c, s)),
            SERVICE3[k].map(|x| stored_ratio(x, HOST3[k]))
        );
        assert_eq!(
            find("pod", c, s)[col("throughput_received_bytes_per_second")]
                .parse::<f64>()
                .unwrap(),
            POD3[k] * GBIT
        );
    }
    assert_eq!(ratio(find("same-node", "node-2", "node-2")), None);
    assert_eq!(
        &find("host", "node-1", "node-2")[col("client_worker")],
        "node-1-host"
    );

    let v: Value = serde_json::from_str(&render::json_all(&reports)).unwrap();
    let groups = v["groups"].as_array().unwrap();
    let paths: Vec<&str> = groups.iter().map(|g| g["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["pod", "host", "service", "same-node"]);
    let rel = &v["relative_to_host"][0];
    assert_eq!(rel["paths"], serde_json::json!(["pod", "service"]));
    assert_eq!(rel["summaries"][0]["path"], "pod");
    assert_eq!(rel["summaries"][0]["pairs"], 6);
    let pod_ratios: Vec<f64> = (0..6).map(|k| stored_ratio(POD3[k], HOST3[k])).collect();
    assert_eq!(
        rel["summaries"][0]["median"].as_f64(),
        Some(textbook_median(&pod_ratios))
    );
    assert_eq!(
        rel["summaries"][0]["interval"]["coverage"].as_f64(),
        Some(0.96875)
    );
    assert_eq!(
        rel["rows"][0]["paths"][0]["ratio"].as_f64(),
        Some(pod_ratios[0])
    );
    assert_eq!(rel["same_node"]["nodes"], 3);

    let md = render::markdown_all(&reports);
    assert_eq!(md.matches("# netbench report: ").count(), 4, "{md}");
    assert!(
        md.contains("# netbench report: iperf3-tcp, path host\n"),
        "{md}"
    );
    assert!(md.contains("## Relative to host: iperf3-tcp\n"), "{md}");
    assert!(
        md.contains("| node-1 | node-2 | 9.40 Gbit/s | 5.83 Gbit/s | 0.62 | 5.17 Gbit/s | 0.55 |"),
        "{md}"
    );
    assert!(md.contains(
        "- **pod network vs host network: median ratio 0.61 [95% CI 0.55–0.70] over 6 pairs**"
    ));

    let page = html::page_all(&reports);
    for p in ["pod", "host", "service", "same-node"] {
        assert_eq!(
            page.matches(&format!(
                "class=\"entry\" data-entry=\"0\" data-path=\"{p}\""
            ))
            .count(),
            1,
            "a section for {p}"
        );
    }
    // Three heatmaps: the same-node section has none.
    assert_eq!(page.matches("<svg class=\"heatmap\"").count(), 3);
    assert!(page.contains(&format!(
        "<p class=\"path-summary\" data-path=\"pod\" data-median=\"{}\" data-pairs=\"6\"",
        textbook_median(&pod_ratios)
    )));
    assert!(page.contains(&format!(
        "data-path=\"pod\" data-ratio=\"{}\"",
        pod_ratios[0]
    )));
    assert!(page.contains("<td class=\"path\">host: node to node"));
}

#[test]
fn with_samples_each_side_of_a_ratio_is_the_pairs_median() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = iperf3();
    let (pod, host) = ([6.0, 5.0, 7.0], [9.0, 10.0, 9.5]);
    file.results = (0..3)
        .flat_map(|k| {
            [
                path_result(Path::Pod, ("node-1", "node-2"), k, Some(pod[k as usize])),
                path_result(Path::Host, ("node-1", "node-2"), k, Some(host[k as usize])),
            ]
        })
        .collect();
    let (_, file) = roundtrip_file(dir.path(), "sampled.json", &file);
    let reports = Report::build_all(&file).unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].samples, 3, "pod and host samples are not pooled");
    let v = view(&reports);
    assert!(v.sampled);
    // Medians 6.0 and 9.5: one pair, ratio 6/9.5, no interval of one pair.
    assert_eq!(v.rows[0].paths[0].ratio, Some(stored_ratio(6.0, 9.5)));
    assert_eq!(v.summaries[0].pairs, 1);
    assert!(v.summaries[0].interval.is_none());
    assert_eq!(
        relative::summary_line(&v.summaries[0]),
        "pod network vs host network: median ratio 0.63 over 1 pair"
    );
    assert!(relative::heading(&v).contains("(medians of the samples)"));
}

#[test]
fn pairs_without_a_host_result_are_left_out_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = four_paths();
    // node-3 -> node-1 on host timed out; node-3 -> node-2 has no host result at all.
    file.results.retain(|r| {
        !(r.path == Path::Host
            && r.task.client.vm.hostname == "node-3"
            && r.task.server.vm.hostname == "node-2")
    });
    for r in &mut file.results {
        if r.path == Path::Host
            && r.task.client.vm.hostname == "node-3"
            && r.task.server.vm.hostname == "node-1"
        {
            fail_pair_result(r);
        }
    }
    let (_, file) = roundtrip_file(dir.path(), "holes.json", &file);
    let reports = Report::build_all(&file).unwrap();
    let v = view(&reports);
    assert_eq!(v.rows.len(), 5, "pairs with a host result");
    let failed_host = v
        .rows
        .iter()
        .find(|r| r.client == "node-3" && r.server == "node-1")
        .unwrap();
    assert_eq!(failed_host.host, None);
    assert!(failed_host.paths.iter().all(|p| p.ratio.is_none()));
    let pod = &v.summaries[0];
    assert_eq!((pod.pairs, pod.without_host), (4, 2));
    let pod_ratios: Vec<f64> = (0..4).map(|k| stored_ratio(POD3[k], HOST3[k])).collect();
    assert_eq!(pod.median, textbook_median(&pod_ratios));
    // 4 pairs: the range covers 1 - 2/16 = 87.5 %.
    assert_eq!(pod.interval.unwrap().coverage, 0.875);
    assert!(relative::summary_line(pod)
        .ends_with("] over 4 pairs; 2 pod pairs without a host result left out"));
    let table = render::text_all(&reports, &render::TextOptions::default());
    assert!(table.contains("node-3  node-1  TIMED_OUT"), "{table}");
}

/// Make a result a timed-out pair, as the orchestrator records one.
fn fail_pair_result(r: &mut netbench_proto::PairResult) {
    r.task.status = netbench_proto::Status::TimedOut;
    r.status_name = "timed_out".into();
    r.metrics.clear();
    r.error = Some("timed out".into());
}

#[test]
fn a_file_without_paths_renders_as_before_and_its_path_is_pod() {
    let raw: Value =
        serde_json::from_slice(&std::fs::read(fixture_path("iperf3-tcp-3nodes.json")).unwrap())
            .unwrap();
    assert!(
        raw["results"][0].get("path").is_none(),
        "the fixture predates paths"
    );
    let file = iperf3();
    assert!(file.results.iter().all(|r| r.path == Path::Pod));
    let reports = Report::build_all(&file).unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r.path, Path::Pod);
    assert!(!r.show_path);
    let text = render::text(r);
    assert!(!text.contains("path"), "{text}");
    assert!(!text.contains("Relative to host"));
    assert!(!render::csv(r).lines().next().unwrap().contains("path"));
    assert!(relative::views(&reports).is_empty());
    let v: Value = serde_json::from_str(&render::json(r)).unwrap();
    assert_eq!(v["path"], "pod", "the JSON names the path it covers");
    assert!(!html::page(r).contains("path-summary"));
}

#[test]
fn a_run_of_host_alone_says_so_and_has_nothing_to_set_against_host() {
    let mut file = iperf3();
    file.results = PAIRS3
        .iter()
        .enumerate()
        .map(|(k, &n)| path_result(Path::Host, n, 0, Some(HOST3[k])))
        .collect();
    let reports = Report::build_all(&file).unwrap();
    assert_eq!(reports.len(), 1);
    let text = render::text_all(&reports, &render::TextOptions::default());
    assert!(
        text.starts_with("run ") && text.contains("  path host  "),
        "{text}"
    );
    assert!(!text.contains("Relative to host"));
    assert!(render::csv_all(&reports).starts_with("run,benchmark,path,client,"));
    assert!(html::page_all(&reports).contains("<title>netbench iperf3-tcp, path host run "));
}

// ---- compare ----

/// `file` with every figure of `path` multiplied by `factor`.
fn scaled(mut file: ResultsFile, path: Path, factor: f64) -> ResultsFile {
    for r in file.results.iter_mut().filter(|r| r.path == path) {
        for m in &mut r.metrics {
            m.value *= factor;
        }
    }
    file
}

#[test]
fn compare_matches_pairs_by_path_and_never_across_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (_, base) = roundtrip_file(dir.path(), "base.json", &four_paths());
    // NEW: host 30 % slower, every other path as it was.
    let (_, new) = roundtrip_file(
        dir.path(),
        "new.json",
        &scaled(four_paths(), Path::Host, 0.7),
    );
    let c = compare::compare(&base, &new, 0.1, &[]).unwrap();
    assert_eq!(
        c.pairs.len(),
        6 + 6 + 6 + 3,
        "every pair matched on its own path"
    );
    assert!(c.only_in_base.is_empty() && c.only_in_new.is_empty());
    assert!(c.paths_only_in_base.is_empty() && c.paths_only_in_new.is_empty());
    let value = |f: &ResultsFile, path: Path, client: &str, server: &str| {
        f.results
            .iter()
            .find(|r| {
                r.path == path
                    && r.task.client.vm.hostname == client
                    && r.task.server.vm.hostname == server
            })
            .and_then(|r| r.metric("throughput_received"))
    };
    for p in &c.pairs {
        let Some(m) = p.metrics.first() else {
            // node-2 -> node-3 on service failed in both files: no figure to compare.
            assert_eq!(
                (p.path, p.base_status.as_str()),
                (Path::Service, "timed_out")
            );
            continue;
        };
        assert_eq!(m.base, value(&base, p.path, &p.client, &p.server), "{p:?}");
        assert_eq!(m.new, value(&new, p.path, &p.client, &p.server), "{p:?}");
        let want = if p.path == Path::Host {
            Verdict::Regressed
        } else {
            Verdict::Unchanged
        };
        assert_eq!(m.verdict, want, "{} {}->{}", p.path, p.client, p.server);
    }
    assert_eq!(c.regressions, 6, "the six host pairs, nothing else");
    let text = compare::text(&c);
    let head = text.lines().find(|l| l.starts_with("client")).unwrap();
    let words = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        words(head)[..4],
        ["client", "server", "path", "metric"],
        "{head}"
    );
    assert!(
        text.lines().any(|l| words(l).starts_with(&[
            "node-1".into(),
            "node-2".into(),
            "host".into(),
            "throughput_received".into()
        ]) && l.contains("REGRESSED")),
        "{text}"
    );
    let v: Value = serde_json::from_str(&compare::json(&c)).unwrap();
    assert_eq!(v["pairs"][0]["path"], "pod");
}

#[test]
fn compare_names_the_paths_measured_in_one_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let pod_only = {
        let mut f = four_paths();
        f.results.retain(|r| r.path == Path::Pod);
        f
    };
    let (_, base) = roundtrip_file(dir.path(), "pod.json", &pod_only);
    let (_, new) = roundtrip_file(dir.path(), "all.json", &four_paths());
    let c = compare::compare(&base, &new, 0.1, &[]).unwrap();
    assert_eq!(c.pairs.len(), 6);
    assert!(c.pairs.iter().all(|p| p.path == Path::Pod));
    assert_eq!(c.regressions, 0);
    assert_eq!(
        c.paths_only_in_new,
        [Path::Host, Path::Service, Path::SameNode]
    );
    assert_eq!(c.only_in_new.len(), 6 + 6 + 3);
    let text = compare::text(&c);
    assert!(text.contains(
        "paths only in new: host, service, same-node (not compared: a path is only ever compared \
         with itself)"
    ));
    assert!(text.contains("node-1 -> node-2 (host)"), "{text}");

    // A host-only file against a pod-only one of the same nodes: nothing in common.
    let host_only = {
        let mut f = four_paths();
        f.results.retain(|r| r.path == Path::Host);
        scaled(f, Path::Host, 0.1)
    };
    let (_, host) = roundtrip_file(dir.path(), "host.json", &host_only);
    let c = compare::compare(&base, &host, 0.1, &[]).unwrap();
    assert!(c.pairs.is_empty(), "{:?}", c.pairs);
    assert_eq!(c.regressions, 0);
    assert_eq!(
        (
            c.paths_only_in_base.as_slice(),
            c.paths_only_in_new.as_slice()
        ),
        (&[Path::Pod][..], &[Path::Host][..])
    );
}

#[test]
fn compare_counts_samples_per_path() {
    let dir = tempfile::tempdir().unwrap();
    let sampled = |factor: f64| {
        let mut f = iperf3();
        f.results = (0..5)
            .flat_map(|k| {
                let x = 1.0 + 0.01 * f64::from(k);
                [
                    path_result(Path::Pod, ("node-1", "node-2"), k, Some(5.0 * x * factor)),
                    path_result(Path::Host, ("node-1", "node-2"), k, Some(9.0 * x)),
                ]
            })
            .collect();
        f
    };
    let (_, base) = roundtrip_file(dir.path(), "b.json", &sampled(1.0));
    let (_, new) = roundtrip_file(dir.path(), "n.json", &sampled(0.5));
    let c = compare::compare(&base, &new, 0.1, &[]).unwrap();
    assert_eq!(
        (c.base.pairs, c.base.samples),
        (2, 5),
        "two pairs of 5 samples"
    );
    assert_eq!(c.pairs.len(), 2);
    for p in &c.pairs {
        let s = p.samples.unwrap();
        assert_eq!((s.base, s.new), (5, 5), "{}", p.path);
    }
    let pod = c.pairs.iter().find(|p| p.path == Path::Pod).unwrap();
    let host = c.pairs.iter().find(|p| p.path == Path::Host).unwrap();
    // 5 vs 5, fully separated: p = 2/252 < 0.05.
    assert_eq!(pod.metrics[0].verdict, Verdict::Regressed);
    assert_eq!(host.metrics[0].verdict, Verdict::Unchanged);
    let x = 1.0 + 0.01 * 2.0;
    assert_eq!(
        pod.metrics[0].base,
        Some(5.0 * x * 1.0 * GBIT),
        "the median sample"
    );
}

#[test]
fn watch_lines_name_the_path_when_it_is_not_pod() {
    use netbench_proto::{Event, EventKind};
    use netbench_report::watch::{line, Item};
    let file = four_paths();
    let result_line = |path: Path| {
        let r = file.results.iter().find(|r| r.path == path).unwrap();
        line(&Item::Result(Box::new(r.clone())))
    };
    let pod = result_line(Path::Pod);
    assert!(
        pod.contains("node-1 -> node-2  ") && !pod.contains("(pod)"),
        "{pod}"
    );
    assert!(result_line(Path::Host).contains("node-1 -> node-2 (host)"));
    assert!(result_line(Path::SameNode).contains("node-1 -> node-1 (same-node)"));
    let r = &file.results[2];
    let event = Event::now(
        &r.run,
        EventKind::PairFinished {
            pair: r.pair.clone(),
            index: 3,
            total: 21,
            client: "node-1".into(),
            server: "node-2".into(),
            path: Path::Service,
            status: r.task.status,
            status_name: r.status_name.clone(),
            headline: r.metrics.first().cloned(),
            seconds: 1.0,
            left_seconds: None,
        },
    );
    let l = line(&Item::Event(Box::new(event)));
    assert!(l.contains("node-1 -> node-2 (service)"), "{l}");
}

#[test]
fn host_and_same_node_alone_give_the_medians_side_by_side_and_no_table() {
    let mut file = four_paths();
    file.results
        .retain(|r| matches!(r.path, Path::Host | Path::SameNode));
    let reports = Report::build_all(&file).unwrap();
    let v = view(&reports);
    assert!(v.paths.is_empty() && v.rows.is_empty() && v.summaries.is_empty());
    let text = render::text_all(&reports, &render::TextOptions::default());
    assert!(!text.contains("Relative to host:"), "{text}");
    assert!(text.ends_with(&format!(
        "\n\n{}\n",
        relative::same_node_line(v.same_node.as_ref().unwrap(), v.unit)
    )));
}
