//! Several benchmarks in one run, a suite file, samples: `netbench local` with its own
//! nats-server, two workers in real network namespaces, the real tools. One deployment (the
//! same two workers for every entry), every entry and sample its own result, samples in rounds
//! (never one pair twice in a row), and `report`/`compare` over the file.

mod support;

use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use support::*;

/// `netbench local` on 2 nodes of `198.18.<octet>.0/24` with `flags`; the results file.
fn run_local(octet: u8, flags: &[&str], results: &std::path::Path) -> Value {
    assert!(
        is_root(),
        "these tests need root (network namespaces); CI runs as root"
    );
    // The namespaces are named after the run's first characters: keep them distinct per test.
    let run_id = format!("s{octet}x{}", std::process::id());
    let out = run(netbench()
        .args(["local", "--nodes", "2", "--duration", "1"])
        .args([
            "--subnet",
            &format!("198.18.{octet}.0/24"),
            "--run",
            &run_id,
        ])
        .args(flags)
        .arg("--results")
        .arg(results));
    assert_eq!(
        out.status.code(),
        Some(0),
        "every pair should succeed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        leftover_namespaces(&format!("nb-s{octet}x")).is_empty(),
        "namespaces left behind"
    );
    read_json(results)
}

fn results(file: &Value) -> Vec<Value> {
    file["results"].as_array().unwrap().clone()
}

/// The worker ids the results name: one deployment means the same two throughout.
fn workers(rs: &[Value]) -> BTreeSet<String> {
    rs.iter()
        .flat_map(|r| {
            [
                r["task"]["client"]["id"].as_str().unwrap().to_string(),
                r["task"]["server"]["id"].as_str().unwrap().to_string(),
            ]
        })
        .collect()
}

fn pair_of(r: &Value) -> (String, String) {
    (
        r["task"]["client"]["worker"].as_str().unwrap().to_string(),
        r["task"]["server"]["worker"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_list_of_benchmarks_runs_each_over_the_same_workers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    let file = run_local(105, &["--benchmark", "iperf3-tcp,netperf-tcp-rr"], &path);
    let rs = results(&file);
    assert_eq!(rs.len(), 4, "2 benchmarks × 2 ordered pairs");
    for (i, r) in rs.iter().enumerate() {
        assert_seed_keys(r);
        assert_eq!(r["task"]["status"], 0, "{}", r["error"]);
        let (entry, bench) = if i < 2 {
            (0, "iperf3-tcp")
        } else {
            (1, "netperf-tcp-rr")
        };
        assert_eq!(r["entry"], entry, "the file keeps run order");
        assert_eq!(r["benchmark"], bench);
        assert_eq!(r["sample"], 0);
        assert!(r["pair"].as_str().unwrap().ends_with(&format!("/e{entry}")));
        let m: Vec<&str> = r["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        let headline = netbench_bench::find(bench).unwrap().headline;
        assert!(m.contains(&headline), "{bench}: {m:?}");
    }
    assert_eq!(
        workers(&rs).len(),
        2,
        "one deployment: the same two workers"
    );
    assert_eq!(file["run"]["benchmark"], "iperf3-tcp,netperf-tcp-rr");
    assert_eq!(file["run"]["pairs_total"], 4);
}

#[test]
fn a_suite_of_three_entries_with_samples_runs_on_one_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.yaml");
    std::fs::write(
        &suite,
        "- benchmark: iperf3-tcp\n  streams: 2\n\
         - benchmark: netperf-tcp-rr\n  message_size: 128\n\
         - benchmark: iperf3-udp\n  rate: 20M\n  samples: 2\n",
    )
    .unwrap();
    let path = dir.path().join("results.json");
    let file = run_local(
        106,
        &["--suite", suite.to_str().unwrap(), "--samples", "3"],
        &path,
    );
    let rs = results(&file);
    // Entries 0 and 1 take the command line's 3 samples, entry 2 its own 2: (3 + 3 + 2) × 2.
    assert_eq!(rs.len(), 16);
    assert_eq!(file["run"]["pairs_total"], 16);
    assert_eq!(
        workers(&rs).len(),
        2,
        "one deployment: the same two workers"
    );
    let mut seen = HashSet::new();
    for r in &rs {
        assert_seed_keys(r);
        assert_eq!(r["task"]["status"], 0, "{}", r["error"]);
        let entry = r["entry"].as_u64().unwrap();
        let sample = r["sample"].as_u64().unwrap();
        let (c, s) = pair_of(r);
        assert!(
            seen.insert((entry, sample, c, s)),
            "a result twice: {}",
            r["pair"]
        );
        assert!(
            r["pair"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/e{entry}/s{sample}")),
            "{}",
            r["pair"]
        );
        let p = &r["task"]["parameters"];
        match entry {
            0 => {
                assert_eq!(r["benchmark"], "iperf3-tcp");
                assert_eq!(p["streams"], 2);
                assert!(sample < 3);
                // What iperf3 itself says it ran.
                let out: Value = serde_json::from_str(r["output"].as_str().unwrap()).unwrap();
                assert_eq!(out["start"]["test_start"]["num_streams"], 2);
            }
            1 => {
                assert_eq!(r["benchmark"], "netperf-tcp-rr");
                assert_eq!(p["message_size"], 128);
                assert!(sample < 3);
            }
            2 => {
                assert_eq!(r["benchmark"], "iperf3-udp");
                assert_eq!(p["rate"], 20_000_000);
                assert!(sample < 2);
            }
            other => panic!("entry {other}"),
        }
    }
    // Samples in rounds: by start time, an entry's samples never go back, and no pair runs
    // twice in a row.
    let started = |r: &Value| {
        time::OffsetDateTime::parse(
            r["started_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let mut by_time = rs.clone();
    by_time.sort_by_key(started);
    let keys: Vec<(u64, u64)> = by_time
        .iter()
        .map(|r| (r["entry"].as_u64().unwrap(), r["sample"].as_u64().unwrap()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
    for w in by_time.windows(2) {
        assert!(
            pair_of(&w[0]) != pair_of(&w[1]) || w[0]["entry"] != w[1]["entry"],
            "{} right after {}",
            w[1]["pair"],
            w[0]["pair"]
        );
    }

    // `report`: one report per entry, medians with their interval (3 samples: the range, 75 %).
    let out = run(netbench().arg("report").arg(&path));
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for heading in [
        "=== entry 1 of 3: iperf3-tcp --streams 2 ===",
        "=== entry 2 of 3: netperf-tcp-rr --message-size 128 ===",
        "=== entry 3 of 3: iperf3-udp --rate 20M ===",
    ] {
        assert!(text.contains(heading), "no {heading:?} in:\n{text}");
    }
    assert!(text.contains("throughput_received 95% CI"), "{text}");
    assert!(text.contains("(range, 75%)"), "{text}");
    assert!(
        text.contains("(range, 50%)"),
        "2 samples cover 50 %: {text}"
    );
    // `compare` of the run with itself: nothing changed, and it says 3 vs 3 cannot be significant.
    let out = run(netbench().arg("compare").arg(&path).arg(&path));
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 entries compared"), "{text}");
    assert!(text.contains("with 3 vs 3 samples"), "{text}");
    assert!(text.contains("Mann–Whitney U, exact, p = 1.000"), "{text}");
}

/// `compare` calls a real slowdown (links shaped to 200 Mbit/s) a regression with 5 samples a
/// side (p = 0.008), and "not significant" with 3 a side (p ≥ 0.1), never a regression.
#[test]
fn compare_calls_a_slower_network_a_regression_only_when_the_samples_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let new = dir.path().join("new.json");
    let flags = ["--benchmark", "iperf3-tcp", "--samples", "5"];
    run_local(108, &flags, &base);
    let shaped = [&flags[..], &["--link-rate", "200mbit"]].concat();
    let file = run_local(109, &shaped, &new);
    assert_eq!(results(&file).len(), 10);
    let out = run(netbench().arg("compare").arg(&base).arg(&new));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a regression: {text}");
    assert!(text.contains("REGRESSED"), "{text}");
    assert!(text.contains("Mann–Whitney U, exact, p = 0.008"), "{text}");
    // The same runs cut to 3 samples a side.
    let cut = |from: &std::path::Path, to: &std::path::Path| {
        let mut f = read_json(from);
        f["results"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["sample"].as_u64().unwrap() < 3);
        std::fs::write(to, serde_json::to_string(&f).unwrap()).unwrap();
    };
    let (base3, new3) = (dir.path().join("base3.json"), dir.path().join("new3.json"));
    cut(&base, &base3);
    cut(&new, &new3);
    let out = run(netbench().arg("compare").arg(&base3).arg(&new3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "not significant is no failure: {text}"
    );
    assert!(text.contains("not significant"), "{text}");
    assert!(!text.contains("REGRESSED"), "{text}");
    assert!(text.contains("p = 0.100"), "{text}");
}
