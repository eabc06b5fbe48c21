//! `netbench report` and `netbench compare` as people run them: the real binary on real results
//! files (fixtures written by `netbench local`) and on edited copies of them; exit codes and
//! outputs checked.
//!
//! Exit codes: compare 0 no regression, 1 regression, 2 bad usage or unreadable input;
//! report 0, or 2 for unreadable input.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../netbench-report/tests/fixtures")
        .join(name)
}

fn netbench(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netbench"))
        .args(args)
        .env_remove("NATS_URL")
        .output()
        .expect("run netbench")
}

fn run(args: &[&str]) -> Output {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    netbench(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A copy of a fixture with every value of `metric` multiplied by `factor`.
fn scaled(dir: &Path, name: &str, metric: &str, factor: f64) -> PathBuf {
    let mut v: Value = serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap();
    let mut changed = 0;
    for r in v["results"].as_array_mut().unwrap() {
        for m in r["metrics"].as_array_mut().unwrap() {
            if m["name"] == metric {
                m["value"] = (m["value"].as_f64().unwrap() * factor).into();
                changed += 1;
            }
        }
    }
    assert!(changed > 0, "{name} has no {metric}");
    let out = dir.join(format!("{metric}-x{factor}-{name}"));
    std::fs::write(&out, serde_json::to_vec(&v).unwrap()).unwrap();
    out
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

#[test]
fn compare_exit_code_follows_the_direction_of_each_metric() {
    let dir = tempfile::tempdir().unwrap();
    let iperf = fixture("iperf3-tcp-3nodes.json");
    let base = iperf.to_str().unwrap();
    let cases = [
        // (fixture, metric, factor, expected exit code)
        ("iperf3-tcp-3nodes.json", "throughput_received", 0.8, 1),
        ("iperf3-tcp-3nodes.json", "throughput_received", 1.2, 0),
        ("iperf3-tcp-3nodes.json", "throughput_received", 0.95, 0),
        ("iperf3-tcp-3nodes.json", "rtt_mean", 1.2, 1),
        ("iperf3-tcp-3nodes.json", "rtt_mean", 0.8, 0),
        ("netperf-tcp-rr-3nodes.json", "latency_mean", 1.2, 1),
        ("netperf-tcp-rr-3nodes.json", "transaction_rate", 0.8, 1),
        ("netperf-tcp-rr-3nodes.json", "transaction_rate", 1.2, 0),
    ];
    for (name, metric, factor, want) in cases {
        let new = scaled(dir.path(), name, metric, factor);
        let base = if name.starts_with("iperf3") {
            base.to_string()
        } else {
            fixture(name).display().to_string()
        };
        let o = run(&[
            "compare",
            &base,
            new.to_str().unwrap(),
            "--tolerance",
            "10%",
        ]);
        let out = stdout(&o);
        assert_eq!(code(&o), want, "{metric} x{factor}: {out}\n{}", stderr(&o));
        let change = format!("{:+.1}%", (factor - 1.0) * 100.0);
        let line = out
            .lines()
            .find(|l| l.contains(&format!(" {metric} ")))
            .unwrap_or_else(|| panic!("no {metric} line: {out}"));
        assert!(line.contains(&change), "{line}");
        if want == 1 {
            assert!(line.contains("REGRESSED"), "{line}");
            assert!(out.contains("regression(s) past 10%"), "{out}");
        } else {
            assert!(out.contains("no regression past 10%"), "{out}");
        }
    }
}

#[test]
fn compare_tolerance_moves_the_line_and_json_names_the_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let base = fixture("iperf3-tcp-3nodes.json");
    let new = scaled(
        dir.path(),
        "iperf3-tcp-3nodes.json",
        "throughput_received",
        0.8,
    );
    let (b, n) = (base.to_str().unwrap(), new.to_str().unwrap());
    assert_eq!(code(&run(&["compare", b, n, "--tolerance", "25%"])), 0);
    let o = run(&["compare", b, n, "--tolerance", "10%", "--format", "json"]);
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["regressions"], 6);
    assert_eq!(v["pairs"].as_array().unwrap().len(), 6);
    let m = &v["pairs"][0]["metrics"][0];
    assert_eq!(m["name"], "throughput_received");
    assert_eq!(m["better"], "higher");
    assert_eq!(m["verdict"], "regressed");
}

#[test]
fn compare_and_report_refuse_bad_input_with_exit_2_and_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = fixture("iperf3-tcp-3nodes.json");
    let g = good.to_str().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"not\": \"results\"}").unwrap();
    let gb = garbage.to_str().unwrap();
    let missing = dir.path().join("missing.json");
    let m = missing.to_str().unwrap();
    let rr = fixture("netperf-tcp-rr-3nodes.json");

    for (args, needle) in [
        (vec!["compare", g, gb], "is not a netbench results file"),
        (vec!["compare", m, g], "cannot read"),
        (
            vec!["compare", g, rr.to_str().unwrap()],
            "different benchmarks",
        ),
        (vec!["compare", g, g, "--tolerance", "lots"], "like 10%"),
        (
            vec!["compare", g, g, "--metric", "bogus"],
            "no metric \"bogus\"",
        ),
        (vec!["report", gb], "is not a netbench results file"),
        (vec!["report", m], "cannot read"),
        (
            vec!["report", g, "--format", "yaml"],
            "invalid value 'yaml'",
        ),
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn report_prints_every_format_and_writes_the_html_page() {
    let dir = tempfile::tempdir().unwrap();
    let rr = fixture("netperf-tcp-rr-3nodes.json");
    let f = rr.to_str().unwrap();
    let page = dir.path().join("page.html");

    let o = run(&["report", f, "--html", page.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("Matrix: transaction_rate"), "{text}");
    assert!(text.contains("intra-zone  6"), "{text}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        html.matches("class=\"cell\"").count(),
        6,
        "one cell per pair"
    );
    assert!(!html.contains("<script"), "self-contained, no scripts");
    assert!(!html.contains("src=\"http"), "no external resources");

    let o = run(&["report", f, "--format", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["matrix"]["cells"].as_array().unwrap().len(), 3);

    let o = run(&["report", f, "--format", "csv"]);
    let csv = stdout(&o);
    assert_eq!(csv.lines().count(), 7, "header + 6 pairs: {csv}");
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .contains("transaction_rate_per_second"));

    let o = run(&["report", f, "--format", "markdown"]);
    assert!(stdout(&o).contains("| node-1 | - |"), "{}", stdout(&o));
}

/// A copy of a fixture whose results are `n` copies of its first one, the i-th between nodes
/// named by `names(i)` (client, server).
fn grown(dir: &Path, n: usize, names: impl Fn(usize) -> (String, String)) -> PathBuf {
    let v: Value =
        serde_json::from_slice(&std::fs::read(fixture("iperf3-tcp-3nodes.json")).unwrap()).unwrap();
    let first = v["results"][0].clone();
    let results: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = first.clone();
            let (c, s) = names(i);
            r["pair"] = format!("p{i}").into();
            for (side, name) in [("client", c), ("server", s)] {
                r["task"][side]["worker"] = name.clone().into();
                r["task"][side]["vm"]["hostname"] = name.into();
            }
            r
        })
        .collect();
    let out = dir.join(format!("grown-{n}.json"));
    std::fs::write(
        &out,
        serde_json::to_vec(&serde_json::json!({ "results": results })).unwrap(),
    )
    .unwrap();
    out
}

/// A file naming 20,000 nodes (10,000 pairs) is reported within 2 GiB of address space: the
/// matrix is left out and says why. Before, the matrix was sized from the file, 20,000² cells
/// (12 GB), and the report died.
#[test]
fn a_file_naming_too_many_nodes_gets_no_matrix_not_an_out_of_memory() {
    let dir = tempfile::tempdir().unwrap();
    let file = grown(dir.path(), 10_000, |i| (format!("c{i}"), format!("s{i}")));
    let o = Command::new("prlimit")
        .arg("--as=2147483648")
        .arg(env!("CARGO_BIN_EXE_netbench"))
        .arg("report")
        .arg(&file)
        .output()
        .expect("prlimit runs (util-linux)");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("left out: the results name 20000 nodes, more than the 1000"),
        "{}",
        &stdout(&o)[..2000.min(stdout(&o).len())]
    );
}

/// Names come from the file and reports go to terminals: an escape sequence in a node name is
/// shown, not sent.
#[test]
fn control_characters_in_names_are_shown_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let file = grown(dir.path(), 2, |i| {
        (format!("evil\u{1b}[2J{i}"), format!("cr\r{i}"))
    });
    let o = run(&["report", file.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
    assert!(out.contains("evil\\u{1b}[2J0"), "{out}");
}

/// A copy of a fixture with `edit` applied to its JSON.
fn edited(dir: &Path, name: &str, out: &str, edit: impl Fn(&mut Value)) -> PathBuf {
    let mut v: Value = serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap();
    edit(&mut v);
    let path = dir.join(out);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    path
}

/// The text report draws the matrix when it fits the terminal ($COLUMNS, or --width), and the
/// per-zone-pair summary with the best and worst pairs when it does not.
#[test]
fn report_falls_back_to_zone_pairs_and_extremes_when_the_matrix_is_too_wide() {
    let rr = fixture("iperf3-tcp-3nodes.json");
    let f = rr.to_str().unwrap();
    let report_with = |args: &[&str], columns: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_netbench"));
        cmd.arg("report").arg(f).args(args).env_remove("COLUMNS");
        if let Some(c) = columns {
            cmd.env("COLUMNS", c);
        }
        let o = cmd.output().unwrap();
        assert_eq!(code(&o), 0, "{args:?} {columns:?}: {}", stderr(&o));
        stdout(&o)
    };
    let drawn = |t: &str| t.contains("client ↓ server →");
    let fallback = |t: &str| {
        t.contains("not drawn: 3 nodes do not fit")
            && t.contains("Zone pairs: throughput_received")
            && t.contains("Best ")
            && t.contains("Worst ")
    };
    let t = report_with(&[], None);
    assert!(drawn(&t) && !fallback(&t), "80 columns by default: {t}");
    let t = report_with(&[], Some("40"));
    assert!(!drawn(&t) && fallback(&t), "COLUMNS=40: {t}");
    assert!(
        t.contains("Best 5 pairs") && t.contains("Worst 1 pairs"),
        "{t}"
    );
    let t = report_with(&["--width", "200"], Some("40"));
    assert!(drawn(&t), "--width wins over COLUMNS: {t}");
    let t = report_with(&["--width", "40", "--top", "2"], Some("junk"));
    assert!(
        fallback(&t) && t.contains("Best 2 pairs") && t.contains("Worst 2 pairs"),
        "{t}"
    );
    let t = report_with(&[], Some("junk"));
    assert!(drawn(&t), "an unreadable COLUMNS is ignored: {t}");
    let o = run(&["report", f, "--width", "5"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--width"), "{}", stderr(&o));
}

/// The header names the run's plan and concurrency, and `compare` warns when one file's pairs
/// ran alone and the other's beside other pairs (and marks those pairs); JSON says it on stderr.
#[test]
fn report_header_and_compare_say_when_figures_were_taken_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let base = fixture("iperf3-tcp-3nodes.json");
    let loaded = edited(dir.path(), "iperf3-tcp-3nodes.json", "loaded.json", |v| {
        v["run"]["plan"] = "ring".into();
        v["run"]["concurrency"] = 3.into();
        for r in v["results"].as_array_mut().unwrap() {
            r["concurrent_pairs"] = 3.into();
        }
    });
    let (b, l) = (base.to_str().unwrap(), loaded.to_str().unwrap());
    let o = run(&["report", l]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let line = stdout(&o).lines().nth(1).unwrap().to_string();
    assert!(
        line.starts_with(
            "plan ring  concurrency 3  UNDER LOAD: 6 of 6 pairs ran beside other pairs (up to 3 at once)"
        ),
        "{line}"
    );
    let o = run(&["report", b]);
    assert_eq!(
        stdout(&o).lines().nth(1).unwrap(),
        "plan mesh  concurrency 1  every pair ran alone (serial figures)"
    );

    let o = run(&["compare", b, l]);
    assert_eq!(code(&o), 0, "same figures: no regression: {}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "warning: 6 of 6 pairs ran alone in one run and beside other pairs in the other"
        ),
        "{out}"
    );
    assert_eq!(out.matches("1 vs 3 (load differs)").count(), 6 * 4, "{out}");
    let o = run(&["compare", b, l, "--format", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["load_differs"], 6);
    assert!(
        stderr(&o).contains("warning: 6 of 6 pairs"),
        "{}",
        stderr(&o)
    );
    // Same load on both sides: no warning.
    let o = run(&["compare", l, l]);
    assert!(!stdout(&o).contains("warning"), "{}", stdout(&o));
    assert!(!stderr(&o).contains("warning"));
}

/// 1,000 nodes from the real binary: the text report falls back (no 1,000-column matrix) and
/// the page is small and script-free.
#[test]
fn report_of_1000_nodes_is_a_summary_and_a_small_page() {
    let dir = tempfile::tempdir().unwrap();
    // A ring plus four samples per node, as `--plan sample:4` would pick.
    let file = grown(dir.path(), 5000, |i| {
        let c = i % 1000;
        (
            format!("node-{c}"),
            format!("node-{}", (c + 1 + (i / 1000) * 37) % 1000),
        )
    });
    let page = dir.path().join("page.html");
    let o = run(&[
        "report",
        file.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("not drawn: 1000 nodes do not fit 80 columns"),
        "{}",
        &out[out.len() - 2000..]
    );
    assert!(out.contains("Best 5 pairs by throughput_received"));
    assert!(
        out.lines().all(|l| l.chars().count() < 200),
        "no wide lines"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 10 << 20, "{} bytes", html.len());
    assert!(html.contains("class=\"matrix-image\""));
    assert!(!html.contains("<script"));
}

/// A copy of the real 3-node fixture with every pair measured on `host` as well (`--paths
/// pod,host`: workers `<node>-host` on the same nodes), the host figures `host_factor` times the
/// pod ones.
fn with_host(dir: &Path, out: &str, host_factor: f64) -> PathBuf {
    edited(dir, "iperf3-tcp-3nodes.json", out, |v| {
        let results = v["results"].as_array_mut().unwrap();
        let mut host: Vec<Value> = results.clone();
        for r in &mut host {
            r["path"] = "host".into();
            r["pair"] = format!("{}/host", r["pair"].as_str().unwrap()).into();
            for side in ["client", "server"] {
                let w = format!("{}-host", r["task"][side]["worker"].as_str().unwrap());
                r["task"][side]["worker"] = w.into();
            }
            for m in r["metrics"].as_array_mut().unwrap() {
                m["value"] = (m["value"].as_f64().unwrap() * host_factor).into();
            }
        }
        results.extend(host);
    })
}

/// `report` of a run on pod and host: a section per path, the pod/host ratio per pair and the
/// one-line summary; `compare` matches each path with itself and names the path one file lacks.
#[test]
fn report_and_compare_of_a_run_on_two_paths() {
    let dir = tempfile::tempdir().unwrap();
    // Host twice the pod figures: every pod/host ratio is exactly 0.5.
    let both = with_host(dir.path(), "both.json", 2.0);
    let f = both.to_str().unwrap();
    let o = run(&["report", f]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("2 paths: pod, host\n"), "{text}");
    assert!(text.contains("\n--- path host: node to node"), "{text}");
    assert!(
        text.ends_with(
            "\npod network vs host network: median ratio 0.50 [95% CI 0.50–0.50] over 6 pairs\n"
        ),
        "{text}"
    );
    let o = run(&["report", f, "--format", "csv"]);
    let csv = stdout(&o);
    assert!(csv.starts_with("run,benchmark,path,client,"), "{csv}");
    assert_eq!(csv.lines().filter(|l| l.contains(",pod,")).count(), 6);
    assert!(csv
        .lines()
        .filter(|l| l.contains(",pod,"))
        .all(|l| l.contains(",0.5,")));
    let o = run(&["report", f, "--format", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["relative_to_host"][0]["summaries"][0]["median"], 0.5);

    // A pod-only run against it: nothing regressed, host is named as new.
    let pod_only = fixture("iperf3-tcp-3nodes.json");
    let o = run(&["compare", pod_only.to_str().unwrap(), f]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("paths only in new: host"),
        "{}",
        stdout(&o)
    );
    // Host halved (now equal to pod): the six host pairs regress, the pod pairs do not; had a pod
    // pair been set against a host one, pod would show a change too.
    let halved = with_host(dir.path(), "halved.json", 1.0);
    let o = run(&[
        "compare",
        f,
        halved.to_str().unwrap(),
        "--metric",
        "throughput_received",
    ]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = stdout(&o);
    let regressed: Vec<&str> = out.lines().filter(|l| l.contains("REGRESSED")).collect();
    assert_eq!(regressed.len(), 6, "{out}");
    assert!(
        regressed
            .iter()
            .all(|l| l.split_whitespace().nth(2) == Some("host")),
        "{out}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.split_whitespace().nth(2) == Some("pod") && l.contains("+0.0%"))
            .count(),
        6,
        "{out}"
    );
}
