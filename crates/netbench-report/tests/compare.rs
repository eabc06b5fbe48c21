//! `netbench compare` on real results files and edited copies of them.

mod common;

use common::*;
use netbench_report::compare::{compare, json, text, Verdict};

#[test]
fn a_run_against_itself_has_no_regression() {
    let f = iperf3();
    let c = compare(&f, &f, 0.1, &[]).unwrap();
    assert_eq!(c.pairs.len(), 6);
    assert_eq!(c.regressions, 0);
    assert!(c.only_in_base.is_empty() && c.only_in_new.is_empty());
    for p in &c.pairs {
        assert_eq!(p.metrics.len(), 4, "every iperf3 metric compared");
        assert!(p.metrics.iter().all(|m| m.verdict == Verdict::Unchanged));
    }
    assert!(text(&c).contains("no regression past 10%"));
}

#[test]
fn throughput_down_20_percent_regresses_and_up_20_percent_improves() {
    let base = iperf3();
    let mut worse = iperf3();
    scale(&mut worse, "throughput_received", 0.8);
    let c = compare(&base, &worse, 0.1, &[]).unwrap();
    assert_eq!(c.regressions, 6, "one per pair");
    for p in &c.pairs {
        let m = p
            .metrics
            .iter()
            .find(|m| m.name == "throughput_received")
            .unwrap();
        assert_eq!(m.verdict, Verdict::Regressed);
        assert!((m.change.unwrap() + 0.2).abs() < 1e-9);
        assert_eq!(m.base.unwrap() * 0.8, m.new.unwrap());
    }
    let t = text(&c);
    assert!(t.contains("-20.0%") && t.contains("REGRESSED"), "{t}");
    assert!(t.contains("6 regression(s) past 10%"), "{t}");

    let mut better = iperf3();
    scale(&mut better, "throughput_received", 1.2);
    let c = compare(&base, &better, 0.1, &[]).unwrap();
    assert_eq!(c.regressions, 0);
    assert!(c
        .pairs
        .iter()
        .flat_map(|p| &p.metrics)
        .filter(|m| m.name == "throughput_received")
        .all(|m| m.verdict == Verdict::Improved));
    // Within the tolerance: not a regression either.
    let mut slightly = iperf3();
    scale(&mut slightly, "throughput_received", 0.95);
    assert_eq!(compare(&base, &slightly, 0.1, &[]).unwrap().regressions, 0);
}

#[test]
fn latency_up_20_percent_is_a_regression_because_lower_is_better() {
    let base = netperf_rr();
    let mut slower = netperf_rr();
    scale(&mut slower, "latency_p99", 1.2);
    let c = compare(&base, &slower, 0.1, &[]).unwrap();
    assert_eq!(c.regressions, 6);
    let mut faster = netperf_rr();
    scale(&mut faster, "latency_p99", 0.8);
    let c = compare(&base, &faster, 0.1, &[]).unwrap();
    assert_eq!(c.regressions, 0);
    let v: serde_json::Value = serde_json::from_str(&json(&c)).unwrap();
    let p99 = v["pairs"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "latency_p99")
        .unwrap()
        .clone();
    assert_eq!(p99["better"], "lower");
    assert_eq!(p99["verdict"], "improved");
}

#[test]
fn pairs_match_by_node_even_when_workers_were_renamed() {
    let base = iperf3();
    let mut new = iperf3();
    for r in &mut new.results {
        for e in [&mut r.task.client, &mut r.task.server] {
            e.worker = format!("netbench-worker-{}", e.worker.len() * 7);
        }
    }
    let c = compare(&base, &new, 0.1, &[]).unwrap();
    assert_eq!(c.pairs.len(), 6);
    assert!(c.only_in_base.is_empty() && c.only_in_new.is_empty());
}

#[test]
fn pairs_in_one_file_only_are_listed() {
    let base = iperf3();
    let mut new = iperf3();
    let gone = new.results.remove(3); // node-2 -> node-3
    let mut extra = new.results[0].clone();
    extra.task.server.vm.hostname = "node-4".into();
    new.results.push(extra);
    let c = compare(&base, &new, 0.1, &[]).unwrap();
    assert_eq!(c.pairs.len(), 5);
    assert_eq!(c.only_in_base.len(), 1);
    assert_eq!(c.only_in_base[0].client, gone.task.client.vm.hostname);
    assert_eq!(c.only_in_base[0].server, "node-3");
    assert_eq!(c.only_in_new.len(), 1);
    assert_eq!(c.only_in_new[0].server, "node-4");
    let t = text(&c);
    assert!(t.contains("only in base (1): node-2 -> node-3"), "{t}");
    assert!(t.contains("only in new (1): node-1 -> node-4"), "{t}");
}

#[test]
fn a_pair_that_now_fails_is_a_regression() {
    let base = iperf3();
    let mut new = iperf3();
    fail_pair(&mut new, 1, "iperf3: error - the server is busy");
    let c = compare(&base, &new, 0.1, &[]).unwrap();
    assert_eq!(c.regressions, 1);
    let p = c.pairs.iter().find(|p| p.newly_failed).unwrap();
    assert_eq!((p.client.as_str(), p.server.as_str()), ("node-1", "node-3"));
    assert!(p.metrics.iter().all(|m| m.verdict == Verdict::Missing));
    assert!(text(&c).contains("REGRESSED: iperf3: error - the server is busy"));
    // Failing in both runs is not a new regression.
    let c = compare(&new, &new, 0.1, &[]).unwrap();
    assert_eq!(c.regressions, 0);
}

#[test]
fn metric_filter_and_bad_inputs() {
    let base = iperf3();
    let mut new = iperf3();
    scale(&mut new, "retransmits", 3.0);
    assert!(compare(&base, &new, 0.1, &[]).unwrap().regressions > 0);
    let only = ["throughput_received".to_string()];
    let c = compare(&base, &new, 0.1, &only).unwrap();
    assert_eq!(c.regressions, 0);
    assert_eq!(c.metrics, ["throughput_received"]);

    let e = compare(&base, &new, 0.1, &["bogus".to_string()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no metric \"bogus\"") && e.contains("rtt_mean"),
        "{e}"
    );
    let e = compare(&base, &netperf_rr(), 0.1, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("different benchmarks"), "{e}");
}

/// A serial run against one under load: every pair is marked, the output opens with a warning,
/// and the verdicts still count. Under the same load on both sides: no warning.
#[test]
fn serial_against_under_load_is_marked_and_warned_about() {
    let base = iperf3();
    let mut loaded = iperf3();
    {
        let run = loaded.run.as_mut().unwrap();
        run.concurrency = 4;
        run.plan = "ring".into();
    }
    for r in &mut loaded.results {
        r.concurrent_pairs = 4;
    }
    loaded.results[0].concurrent_pairs = 1; // one pair happened to run alone
    scale(&mut loaded, "throughput_received", 0.8);
    let c = compare(&base, &loaded, 0.1, &[]).unwrap();
    assert_eq!(c.load_differs, 5);
    assert_eq!(c.regressions, 6, "verdicts still count");
    let p = &c.pairs[1];
    assert_eq!((p.base_concurrent_pairs, p.new_concurrent_pairs), (1, 4));
    assert!(p.load_differs);
    assert!(
        !c.pairs
            .iter()
            .find(|p| p.client == "node-1" && p.server == "node-2")
            .unwrap()
            .load_differs
    );
    let t = text(&c);
    assert!(
        t.contains(
            "warning: 5 of 6 pairs ran alone in one run and beside other pairs in the other"
        ),
        "{t}"
    );
    assert!(t.contains("new : run "), "{t}");
    assert!(
        t.contains("6 pairs, plan ring, concurrency 4, 5 under load)"),
        "{t}"
    );
    let marked = t
        .lines()
        .filter(|l| l.ends_with("1 vs 4 (load differs)"))
        .count();
    assert_eq!(marked, 5 * 4, "every metric row of the 5 pairs: {t}");
    let v: serde_json::Value = serde_json::from_str(&json(&c)).unwrap();
    assert_eq!(v["load_differs"], 5);
    assert_eq!(v["pairs"][1]["load_differs"], true);
    assert!(netbench_report::compare::markdown(&c).contains("> **warning: 5 of 6 pairs"));

    // Both under the same load: nothing to warn about.
    let c = compare(&loaded, &loaded, 0.1, &[]).unwrap();
    assert_eq!(c.load_differs, 0);
    let t = text(&c);
    assert!(!t.contains("warning") && !t.contains("load differs"), "{t}");
    // Both serial: the header says so.
    let t = text(&compare(&base, &base, 0.1, &[]).unwrap());
    assert!(
        t.contains("6 pairs, plan mesh, concurrency 1, serial)"),
        "{t}"
    );
}
