//! Results files with several entries (`--benchmark a,b`, suites) and several samples of each
//! pair (`--samples K`), written as JSON, loaded back with `netbench_report::load` and run
//! through the real `report` and `compare` code paths (and the CLI's exit codes).

mod common;

use common::*;
use netbench_proto::{PairResult, Parameters, ResultsFile, Status};
use netbench_report::compare::{self, Verdict};
use netbench_report::model::Report;
use netbench_report::{cli, render};
use serde_json::Value;
use std::path::{Path, PathBuf};

const GBIT: f64 = 1e9 / 8.0;

/// One result of `template`'s benchmark from `client` to `server`: entry, sample, parameters
/// and a headline value in Gbit/s (`None`: the sample failed).
fn result(
    template: &PairResult,
    (client, server): (&str, &str),
    entry: u32,
    sample: u32,
    params: Parameters,
    value: Option<f64>,
) -> PairResult {
    let mut r = template.clone();
    r.output.clear();
    for (e, n) in [(&mut r.task.client, client), (&mut r.task.server, server)] {
        e.worker = n.to_string();
        e.vm.hostname = n.to_string();
        e.id = None;
    }
    r.entry = entry;
    r.sample = sample;
    r.pair = format!("{client}--{server}/e{entry}/s{sample}");
    r.task.parameters = params;
    let headline = if r.benchmark == "iperf3-tcp" {
        "throughput_received"
    } else {
        "transaction_rate"
    };
    r.metrics.retain(|m| m.name == headline);
    match value {
        Some(v) => {
            r.metrics[0].value = if headline == "throughput_received" {
                v * GBIT
            } else {
                v
            }
        }
        None => {
            r.task.status = Status::TimedOut;
            r.status_name = Status::TimedOut.name().to_string();
            r.metrics.clear();
            r.error = Some(format!("sample {sample} timed out"));
        }
    }
    r
}

fn iperf3_template() -> PairResult {
    iperf3().results[0].clone()
}

fn streams(n: u32) -> Parameters {
    Parameters {
        streams: Some(n),
        ..Default::default()
    }
}

/// Samples of one pair, one result each.
fn samples(
    t: &PairResult,
    nodes: (&str, &str),
    entry: u32,
    params: Parameters,
    values: &[Option<f64>],
) -> Vec<PairResult> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| result(t, nodes, entry, i as u32, params, *v))
        .collect()
}

/// Write the file as JSON and load it back as `netbench report` does.
fn roundtrip(dir: &Path, name: &str, results: Vec<PairResult>) -> (PathBuf, ResultsFile) {
    let mut file = iperf3();
    file.results = results;
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    let loaded = netbench_report::load(&path).expect("loads");
    (path, loaded)
}

fn some(v: &[f64]) -> Vec<Option<f64>> {
    v.iter().copied().map(Some).collect()
}

#[test]
fn several_entries_give_one_report_each_headed_by_benchmark_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let t = iperf3_template();
    let rr = netperf_rr().results[0].clone();
    let mut results = Vec::new();
    results.extend(samples(
        &t,
        ("node-1", "node-2"),
        0,
        streams(1),
        &some(&[10.0]),
    ));
    results.extend(samples(
        &t,
        ("node-1", "node-2"),
        1,
        streams(4),
        &some(&[30.0]),
    ));
    results.extend(samples(
        &rr,
        ("node-1", "node-2"),
        2,
        Parameters::default(),
        &some(&[35000.0]),
    ));
    let (_, file) = roundtrip(dir.path(), "three.json", results);

    // The single-report builder still refuses; build_all splits.
    assert!(Report::build(&file).is_err());
    let reports = Report::build_all(&file).unwrap();
    let titles: Vec<String> = reports.iter().map(Report::title).collect();
    assert_eq!(
        titles,
        ["iperf3-tcp", "iperf3-tcp --streams 4", "netperf-tcp-rr"]
    );
    assert_eq!(
        reports[1].matrix.cells[0][1].as_ref().unwrap().value,
        Some(30.0 * GBIT),
        "each entry's own figures"
    );

    let text = render::text_all(&reports, &render::TextOptions::default());
    assert!(text.starts_with("3 entries: iperf3-tcp, iperf3-tcp --streams 4, netperf-tcp-rr\n"));
    assert!(
        text.contains("=== entry 2 of 3: iperf3-tcp --streams 4 ===\nrun "),
        "{text}"
    );
    assert!(
        text.contains("benchmark iperf3-tcp --streams 4  entry 1"),
        "{text}"
    );
    assert!(text.contains("Matrix: transaction_rate"), "{text}");
    assert_eq!(text.matches("\nPairs\n").count(), 3);

    let v: Value = serde_json::from_str(&render::json_all(&reports)).unwrap();
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    assert_eq!(groups[1]["entry"]["entry"], 1);
    assert_eq!(groups[1]["entry"]["parameters"]["streams"], 4);
    assert_eq!(groups[1]["entry"]["non_default"], "--streams 4");
    assert_eq!(groups[2]["benchmark"], "netperf-tcp-rr");

    let csv_text = render::csv_all(&reports);
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let h = rd.headers().unwrap().clone();
    let col = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[1][col("entry")], "1");
    assert_eq!(&rows[1][col("parameters")], "--streams 4");
    assert_eq!(
        rows[1][col("throughput_received_bytes_per_second")]
            .parse::<f64>()
            .unwrap(),
        30.0 * GBIT
    );
    assert_eq!(&rows[2][col("throughput_received_bytes_per_second")], "");
    assert_eq!(&rows[2][col("transaction_rate_per_second")], "35000");

    let md = render::markdown_all(&reports);
    assert_eq!(md.matches("# netbench report: ").count(), 3, "{md}");
    assert!(md.contains("# netbench report: iperf3-tcp --streams 4\n"));
    let page = netbench_report::html::page_all(&reports);
    assert_eq!(page.matches("<section class=\"entry\"").count(), 3);
    assert!(page.contains("<td class=\"parameters\">--streams 4</td>"));
}

#[test]
fn a_file_of_one_entry_gives_exactly_the_single_report() {
    for file in [iperf3(), netperf_rr()] {
        let all = Report::build_all(&file).unwrap();
        let one = Report::build(&file).unwrap();
        assert_eq!(all, vec![one.clone()]);
        let opts = render::TextOptions::default();
        assert_eq!(
            render::text_all(&all, &opts),
            render::text_with(&one, &opts)
        );
        assert_eq!(render::json_all(&all), render::json(&one));
        assert_eq!(render::csv_all(&all), render::csv(&one));
        assert_eq!(render::markdown_all(&all), render::markdown(&one));
        let v: Value = serde_json::from_str(&render::json(&one)).unwrap();
        for key in ["samples", "samples_failed", "entry"] {
            assert!(v.get(key).is_none(), "{key} in a K=1 report");
        }
        assert!(v["pairs"][0].get("intervals").is_none());
        assert!(!render::text(&one).contains("95% CI"));
        let c = compare::compare_all(&file, &file, 0.1, &[]).unwrap();
        let single = compare::compare(&file, &file, 0.1, &[]).unwrap();
        assert_eq!(compare::text_all(&c), compare::text(&single));
        assert_eq!(compare::json_all(&c), compare::json(&single));
        assert!(!compare::text(&single).contains("Mann"));
    }
}

#[test]
fn samples_show_the_median_its_interval_and_failed_samples_apart() {
    let dir = tempfile::tempdir().unwrap();
    let t = iperf3_template();
    let mut results = Vec::new();
    // node-1 -> node-2: 6 samples, the 4th failed; ok: 10 12 11 9 13 → median 11, n = 5:
    // no 95 % interval exists, the range 9–13 covers 1 - 2/32 = 93.75 %.
    results.extend(samples(
        &t,
        ("node-1", "node-2"),
        0,
        streams(1),
        &[
            Some(10.0),
            Some(12.0),
            Some(11.0),
            None,
            Some(9.0),
            Some(13.0),
        ],
    ));
    // node-2 -> node-1: 10 samples 1..10 → median 5.5, 95 % interval [x2, x9] = [2, 9],
    // coverage 1 - 2·11/1024 = 97.85 %.
    let ten: Vec<f64> = [7.0, 1.0, 9.0, 2.0, 10.0, 3.0, 8.0, 4.0, 6.0, 5.0].to_vec();
    results.extend(samples(
        &t,
        ("node-2", "node-1"),
        0,
        streams(1),
        &some(&ten),
    ));
    // node-1 -> node-3: every sample failed.
    results.extend(samples(
        &t,
        ("node-1", "node-3"),
        0,
        streams(1),
        &[None, None, None],
    ));
    let (path, file) = roundtrip(dir.path(), "samples.json", results);

    let reports = Report::build_all(&file).unwrap();
    assert_eq!(reports.len(), 1, "one entry");
    let r = &reports[0];
    assert_eq!((r.pairs_total, r.pairs_failed), (3, 1));
    assert_eq!((r.samples, r.samples_failed), (10, 4));
    let p12 = &r.pairs[0];
    assert_eq!((p12.samples, p12.failed_samples), (6, 1));
    assert_eq!(p12.metrics["throughput_received"], 11.0 * GBIT);
    let i = p12.intervals["throughput_received"];
    assert_eq!((i.low, i.high, i.samples), (9.0 * GBIT, 13.0 * GBIT, 5));
    assert!((i.coverage - 0.9375).abs() < 1e-12 && !i.meets_target);
    let p21 = &r.pairs[1];
    assert_eq!(p21.metrics["throughput_received"], 5.5 * GBIT);
    let i = p21.intervals["throughput_received"];
    assert_eq!((i.low, i.high, i.ranks), (2.0 * GBIT, 9.0 * GBIT, (2, 9)));
    assert!((i.coverage - 0.978_515_625).abs() < 1e-12 && i.meets_target);
    let p13 = &r.pairs[2];
    assert_eq!((p13.status.as_str(), p13.failed_samples), ("timed_out", 3));
    assert!(p13.metrics.is_empty());
    // The matrix uses the medians; each failed sample is listed with its number.
    assert_eq!(
        r.matrix.cells[0][1].as_ref().unwrap().value,
        Some(11.0 * GBIT)
    );
    assert_eq!(
        r.matrix.cells[1][0].as_ref().unwrap().value,
        Some(5.5 * GBIT)
    );
    assert_eq!(r.failures.len(), 4);
    assert_eq!(r.failures[0].sample, Some(3));
    assert_eq!(r.zones.intra.unwrap().median, (11.0 + 5.5) / 2.0 * GBIT);

    let text = render::text(r);
    let header = text
        .lines()
        .find(|l| l.starts_with("client  server"))
        .unwrap();
    assert!(
        header.contains("throughput_received  throughput_received 95% CI")
            && header.ends_with("status     samples"),
        "{header}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("node-1  node-2"))
        .unwrap();
    assert!(
        row.contains("11.00 Gbit/s         9.00–13.00 Gbit/s (range, 93.8%)"),
        "{row}"
    );
    assert!(row.ends_with("ok         1 of 6 failed"), "{row}");
    let row = text
        .lines()
        .find(|l| l.starts_with("node-2  node-1"))
        .unwrap();
    assert!(
        row.contains("5.50 Gbit/s          2.00–9.00 Gbit/s "),
        "{row}"
    );
    assert!(row.ends_with("ok         10"), "{row}");
    assert!(text.contains("no 95% interval exists"), "{text}");
    assert!(text.contains("(5 samples: 93.8%)"), "{text}");
    assert!(
        text.contains("samples up to 10 per pair (4 failed)"),
        "{text}"
    );
    assert!(
        text.contains("node-1  node-3  2       timed_out  sample 2 timed out"),
        "{text}"
    );

    let csv_text = render::csv(r);
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let h = rd.headers().unwrap().clone();
    let col = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let base = "throughput_received_bytes_per_second";
    assert_eq!(rows[0][col(base)].parse::<f64>().unwrap(), 11.0 * GBIT);
    assert_eq!(
        rows[1][col(&format!("{base}_ci_low"))]
            .parse::<f64>()
            .unwrap(),
        2.0 * GBIT
    );
    assert_eq!(
        rows[1][col(&format!("{base}_ci_high"))]
            .parse::<f64>()
            .unwrap(),
        9.0 * GBIT
    );
    assert_eq!(&rows[0][col("failed_samples")], "1");
    assert_eq!(&rows[0][col("samples")], "6");

    let v: Value = serde_json::from_str(&render::json(r)).unwrap();
    assert_eq!(v["samples"], 10);
    assert_eq!(v["pairs"][0]["samples"], 6);
    assert_eq!(v["pairs"][0]["failed_samples"], 1);
    assert_eq!(
        v["pairs"][1]["intervals"]["throughput_received"]["ranks"],
        serde_json::json!([2, 9])
    );
    let page = netbench_report::html::page(r);
    assert!(page.contains("9.00–13.00 Gbit/s (range, 93.8%)"));
    assert!(page.contains("<td class=\"samples\">1 of 6 failed</td>"));

    // The CLI reads the same file.
    let args = cli::ReportArgs {
        results: path,
        format: cli::Format::Json,
        html: None,
        width: None,
        top: 5,
    };
    assert_eq!(cli::run_report(args), cli::OK);
}

/// BASE with `base` samples of one pair, NEW with `new` (Gbit/s each), compared.
fn compare_samples(
    dir: &Path,
    base: &[f64],
    new: &[f64],
) -> (compare::Comparisons, PathBuf, PathBuf) {
    let t = iperf3_template();
    let (bp, bf) = roundtrip(
        dir,
        "base.json",
        samples(&t, ("node-1", "node-2"), 0, streams(1), &some(base)),
    );
    let (np, nf) = roundtrip(
        dir,
        "new.json",
        samples(&t, ("node-1", "node-2"), 0, streams(1), &some(new)),
    );
    (compare::compare_all(&bf, &nf, 0.1, &[]).unwrap(), bp, np)
}

fn run_cli(base: PathBuf, new: PathBuf) -> u8 {
    cli::run_compare(cli::CompareArgs {
        base,
        new,
        tolerance: 0.1,
        metrics: vec![],
        format: cli::CompareFormat::Text,
    })
}

#[test]
fn three_samples_a_side_can_never_be_significant_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    // A clean 20 % drop, but 3 vs 3: the smallest exact p is 2/20 = 0.1.
    let (cs, bp, np) = compare_samples(dir.path(), &[10.0, 10.1, 9.9], &[8.0, 8.1, 7.9]);
    let c = &cs.entries[0];
    let m = &c.pairs[0].metrics[0];
    assert_eq!(m.verdict, Verdict::NotSignificant);
    assert_eq!((m.base, m.new), (Some(10.0 * GBIT), Some(8.0 * GBIT)));
    let test = m.test.unwrap();
    assert!((test.p - 0.1).abs() < 1e-12, "{}", test.p);
    assert_eq!((c.regressions, c.not_significant), (0, 1));
    assert_eq!(c.too_few_samples, [(3, 3)]);
    let t = compare::text_all(&cs);
    assert!(
        t.contains("-20.0%  not significant  Mann–Whitney U, exact, p = 0.100"),
        "{t}"
    );
    assert!(
        t.contains(
            "no change can be significant at 0.05 with 3 vs 3 samples (smallest possible p 0.100)"
        ),
        "{t}"
    );
    assert!(t.contains("--samples 5 or more"), "{t}");
    assert!(
        t.contains("no regression past 10%; 1 change(s) past 10% not significant"),
        "{t}"
    );
    assert!(
        t.contains(
            "(iperf3-tcp, 1 pairs, plan mesh, concurrency 1, serial, up to 3 samples per pair)"
        ),
        "{t}"
    );
    assert_eq!(run_cli(bp, np), cli::OK, "not significant does not fail");
}

#[test]
fn five_samples_a_side_tell_a_regression_from_noise() {
    let dir = tempfile::tempdir().unwrap();
    // Separated: every new sample below every base sample, 5 vs 5: p = 2/252 = 0.0079.
    let base = [10.0, 10.2, 9.8, 10.1, 9.9];
    let (cs, bp, np) = compare_samples(dir.path(), &base, &[8.0, 8.2, 7.8, 8.1, 7.9]);
    let c = &cs.entries[0];
    let m = &c.pairs[0].metrics[0];
    assert_eq!(m.verdict, Verdict::Regressed);
    assert!((m.test.unwrap().p - 2.0 / 252.0).abs() < 1e-12);
    assert_eq!((m.base_samples, m.new_samples), (Some(5), Some(5)));
    assert_eq!((c.regressions, c.not_significant), (1, 0));
    assert!(c.too_few_samples.is_empty());
    let t = compare::text_all(&cs);
    assert!(
        t.contains("-20.0%  REGRESSED  Mann–Whitney U, exact, p = 0.008"),
        "{t}"
    );
    assert!(t.contains("1 regression(s) past 10%"), "{t}");
    assert!(!t.contains("--samples 5 or more"), "{t}");
    assert_eq!(run_cli(bp, np), cli::REGRESSION);

    // Same median drop (10 → 8.5, -15 %), but the samples overlap: noise.
    let (cs, bp, np) = compare_samples(
        dir.path(),
        &[8.0, 9.0, 10.0, 11.0, 12.0],
        &[6.0, 7.0, 8.5, 13.0, 14.0],
    );
    let c = &cs.entries[0];
    let m = &c.pairs[0].metrics[0];
    assert!((m.change.unwrap() + 0.15).abs() < 1e-12);
    assert_eq!(m.verdict, Verdict::NotSignificant);
    // U of base = 14 (of 25), two-sided exact p = 0.841.
    assert_eq!(m.test.unwrap().u, 14.0);
    assert!(
        (m.test.unwrap().p - 0.841).abs() < 0.001,
        "{}",
        m.test.unwrap().p
    );
    assert_eq!(c.regressions, 0);
    let v: Value = serde_json::from_str(&compare::json_all(&cs)).unwrap();
    assert_eq!(v["not_significant"], 1);
    assert_eq!(v["pairs"][0]["metrics"][0]["verdict"], "not_significant");
    assert_eq!(v["pairs"][0]["metrics"][0]["test"]["method"], "exact");
    assert_eq!(run_cli(bp, np), cli::OK);

    // A failed sample in NEW is counted apart and left out of the median.
    let t = iperf3_template();
    let (_, bf) = roundtrip(
        dir.path(),
        "b2.json",
        samples(&t, ("node-1", "node-2"), 0, streams(1), &some(&base)),
    );
    let mut new = some(&[10.0, 10.2, 9.8, 10.1]);
    new.insert(2, None);
    let (_, nf) = roundtrip(
        dir.path(),
        "n2.json",
        samples(&t, ("node-1", "node-2"), 0, streams(1), &new),
    );
    let c = compare::compare(&bf, &nf, 0.1, &[]).unwrap();
    let p = &c.pairs[0];
    assert_eq!(p.samples.unwrap().new_failed, 1);
    assert_eq!(p.metrics[0].new_samples, Some(4));
    assert_eq!(p.metrics[0].verdict, Verdict::Unchanged);
    assert!(!p.newly_failed);
    let t = compare::text(&c);
    let row = t
        .lines()
        .find(|l| l.starts_with("node-1  node-2  samples "))
        .unwrap();
    assert!(row.contains("5 samples     1 of 5 failed"), "{row}");
    assert!(row.ends_with("failed samples left out"), "{row}");
}

#[test]
fn compare_matches_entries_by_benchmark_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let t = iperf3_template();
    let rr = netperf_rr().results[0].clone();
    let nodes = ("node-1", "node-2");
    // BASE: entry 0 plain iperf3 (an old file's `{}` parameters), entry 1 --streams 4.
    let mut base = samples(&t, nodes, 0, Parameters::default(), &some(&[10.0]));
    base.extend(samples(&t, nodes, 1, streams(4), &some(&[30.0])));
    // NEW, in another order: --streams 4 first (30 % slower), plain (`{"streams": 1}`), and
    // a netperf entry BASE does not have.
    let mut new = samples(&t, nodes, 0, streams(4), &some(&[21.0]));
    new.extend(samples(&t, nodes, 1, streams(1), &some(&[10.0])));
    new.extend(samples(
        &rr,
        nodes,
        2,
        Parameters::default(),
        &some(&[35000.0]),
    ));
    let (bp, bf) = roundtrip(dir.path(), "base.json", base);
    let (np, nf) = roundtrip(dir.path(), "new.json", new);

    let cs = compare::compare_all(&bf, &nf, 0.1, &[]).unwrap();
    assert_eq!(cs.entries.len(), 2);
    let plain = &cs.entries[0];
    let e = plain.entry.as_ref().unwrap();
    assert_eq!(
        (e.title.as_str(), e.base_entry, e.new_entry),
        ("iperf3-tcp", 0, 1)
    );
    assert_eq!(plain.regressions, 0);
    let four = &cs.entries[1];
    let e = four.entry.as_ref().unwrap();
    assert_eq!(
        (e.title.as_str(), e.base_entry, e.new_entry),
        ("iperf3-tcp --streams 4", 1, 0)
    );
    assert_eq!(four.regressions, 1);
    assert_eq!(four.pairs[0].metrics[0].verdict, Verdict::Regressed);
    assert_eq!(
        four.pairs[0].metrics[0].test, None,
        "one sample a side: as before"
    );
    assert_eq!(cs.only_in_new, ["netperf-tcp-rr"]);
    assert!(cs.only_in_base.is_empty());
    assert_eq!(cs.regressions, 1);
    let text = compare::text_all(&cs);
    assert!(
        text.contains("=== iperf3-tcp --streams 4 (base entry 1, new entry 0) ==="),
        "{text}"
    );
    assert!(
        text.contains("entries only in new (1): netperf-tcp-rr"),
        "{text}"
    );
    assert!(
        text.contains("total: 1 regression(s) past 10% in 2 entries"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&compare::json_all(&cs)).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 2);
    assert_eq!(v["regressions"], 1);
    assert!(compare::markdown_all(&cs).contains("# netbench compare: iperf3-tcp --streams 4"));
    // compare() (one entry) refuses such files; the CLI compares each entry.
    let e = compare::compare(&bf, &nf, 0.1, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("several entries"), "{e}");
    assert_eq!(run_cli(bp, np), cli::REGRESSION);

    // Two files of one entry each with different parameters: compared, with a warning.
    let (_, one) = roundtrip(
        dir.path(),
        "one.json",
        samples(&t, nodes, 0, streams(1), &some(&[10.0])),
    );
    let (_, four) = roundtrip(
        dir.path(),
        "four.json",
        samples(&t, nodes, 0, streams(4), &some(&[10.0])),
    );
    let c = compare::compare(&one, &four, 0.1, &[]).unwrap();
    assert_eq!(
        c.parameters_differ.as_deref(),
        Some("defaults vs --streams 4")
    );
    assert!(compare::text(&c).contains("warning: the runs used different parameters"));
}
