//! Pair plans and pairs side by side, through `netbench local` with real tools in real network
//! namespaces: `--concurrency`, `--plan`, the deadline refusal and the plan's bad input.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use support::*;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn at(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap(), &Rfc3339).unwrap()
}

fn local(subnet_octet: u8, run_id: &str, results: &std::path::Path) -> std::process::Command {
    let mut cmd = netbench();
    cmd.arg("local")
        .args(["--subnet", &format!("198.18.{subnet_octet}.0/24")])
        .args(["--run", run_id, "--results"])
        .arg(results);
    cmd
}

fn endpoints(e: &Value) -> (String, String) {
    (
        e["task"]["client"]["worker"].as_str().unwrap().to_string(),
        e["task"]["server"]["worker"].as_str().unwrap().to_string(),
    )
}

#[test]
fn concurrency_three_on_six_nodes_never_puts_a_worker_in_two_pairs_at_once() {
    assert!(is_root(), "needs root (network namespaces)");
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let out = run(local(60, "conc3x6", &results)
        .args([
            "--benchmark",
            "iperf3-tcp",
            "--nodes",
            "6",
            "--duration",
            "1",
        ])
        .args(["--concurrency", "3"]));
    assert_eq!(out.status.code(), Some(0), "every pair should succeed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("30 pairs in 10 rounds at concurrency 3"),
        "the plan is printed before the first pair: {stdout}"
    );

    let file = read_json(&results);
    assert_eq!(file["run"]["concurrency"], 3);
    assert_eq!(file["run"]["plan"], "mesh");
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), 30);
    let pairs: BTreeSet<_> = entries.iter().map(endpoints).collect();
    assert_eq!(pairs.len(), 30, "every ordered pair once");
    let spans: Vec<(OffsetDateTime, OffsetDateTime, (String, String))> = entries
        .iter()
        .map(|e| (at(&e["started_at"]), at(&e["finished_at"]), endpoints(e)))
        .collect();
    let mut most = 0;
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["task"]["status"], 0, "{}", e["error"]);
        let (s, f, (c, v)) = &spans[i];
        // Every pair whose time overlaps this one's shares no worker with it.
        let beside: Vec<_> = spans
            .iter()
            .enumerate()
            .filter(|(j, (s2, f2, _))| *j != i && s2 < f && s < f2)
            .collect();
        for (_, (_, _, (c2, v2))) in &beside {
            let mine = BTreeSet::from([c, v]);
            assert!(
                !mine.contains(c2) && !mine.contains(v2),
                "{c}->{v} overlaps {c2}->{v2}"
            );
        }
        // The most pairs that ran at one moment during this pair, from the times alone.
        let mut peak = 1;
        for (_, (s2, _, _)) in &beside {
            let t = (*s2).max(*s);
            let at_t = spans.iter().filter(|(a, b, _)| *a <= t && t < *b).count();
            peak = peak.max(at_t);
        }
        let said = e["concurrent_pairs"].as_u64().unwrap() as usize;
        assert!(
            (peak..=3).contains(&said),
            "{c}->{v}: concurrent_pairs {said}, but {peak} pairs ran at once during it"
        );
        most = most.max(peak);
        assert_eq!(e["task"]["client"]["idle"], true);
        assert_eq!(e["task"]["server"]["idle"], true);
    }
    assert_eq!(most, 3, "three pairs ran at once at some point");
    // Well under the serial time: the pairs' own time added up is what one at a time costs.
    let serial: f64 = spans
        .iter()
        .map(|(s, f, _)| (*f - *s).as_seconds_f64())
        .sum();
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    let wall = (last - first).as_seconds_f64();
    eprintln!(
        "30 pairs took {wall:.1} s at concurrency 3; one at a time they add up to {serial:.1} s"
    );
    assert!(
        wall < serial * 0.6,
        "30 pairs took {wall:.1} s at concurrency 3; one at a time they add up to {serial:.1} s"
    );
    // The file keeps the plan's order (client-major), whatever order the pairs ran in.
    let order: Vec<_> = entries.iter().map(endpoints).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
}

#[test]
fn a_plan_that_cannot_fit_the_deadline_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    // 14 nodes at the defaults (10 s, deadline 30 m): 182 pairs do not fit. The missing
    // nats-server proves the refusal comes before anything is started.
    let out = run(local(61, "refuse14", &results)
        .args(["--nodes", "14"])
        .args(["--nats-server", "/nonexistent/nats-server"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("182 pairs"), "{err}");
    assert!(err.contains("deadline 30 m"), "{err}");
    for hint in ["--concurrency", "--deadline", "--allow-partial", "--plan"] {
        assert!(err.contains(hint), "the refusal suggests {hint}: {err}");
    }
    assert!(!results.exists());
    assert!(leftover_namespaces("nb-refuse").is_empty());

    // What it suggests does fit: at the suggested concurrency the same run is accepted (it
    // then fails for the missing nats-server, which shows it got past the plan).
    let conc = err
        .split("--concurrency ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .expect("a concurrency is suggested")
        .to_string();
    let out = run(local(61, "refuse14", &results)
        .args(["--nodes", "14", "--concurrency", &conc])
        .args(["--nats-server", "/nonexistent/nats-server"]));
    assert_ne!(
        out.status.code(),
        Some(2),
        "--concurrency {conc} should fit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And --allow-partial runs anyway.
    let out = run(local(61, "refuse14", &results)
        .args(["--nodes", "14", "--allow-partial"])
        .args(["--nats-server", "/nonexistent/nats-server"]));
    assert_ne!(out.status.code(), Some(2));
}

#[test]
fn bad_plans_are_refused_with_what_to_write_instead() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let pairs_file = dir.path().join("pairs.csv");
    std::fs::write(&pairs_file, "node-1,node-2\nnode-1,node-7\n").unwrap();
    let pairs_arg = format!("pairs:{}", pairs_file.display());
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--plan", "rign"],
            vec!["rign", "mesh", "ring", "star:NODE"],
        ),
        (vec!["--plan", "star:node-9"], vec!["node-9", "node-1"]),
        (vec!["--plan", "zones:2"], vec!["--zones"]),
        (vec!["--plan", "sample:100"], vec!["100", "6"]),
        (vec!["--plan", &pairs_arg], vec!["node-7"]),
        (vec!["--concurrency", "0"], vec!["1"]),
        (vec!["--clients", "db-*"], vec!["db-*"]),
    ];
    for (args, said) in cases {
        let out = run(local(62, "badplan1", &results)
            .args(["--nodes", "3", "--duration", "1"])
            .args(&args)
            .args(["--nats-server", "/nonexistent/nats-server"]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for s in said {
            assert!(err.contains(s), "{args:?}: the message names {s:?}: {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!results.exists());
}

#[test]
fn zones_sample_and_ring_plans_run_the_pairs_they_plan() {
    assert!(is_root(), "needs root (network namespaces)");
    let dir = tempfile::tempdir().unwrap();
    // zones:1 on 4 nodes in 2 zones: one pair for each of a→a, a→b, b→a, b→b.
    let results = dir.path().join("zones.json");
    let out = run(local(63, "zones1x4", &results)
        .args([
            "--benchmark",
            "netperf-tcp-rr",
            "--nodes",
            "4",
            "--duration",
            "1",
        ])
        .args(["--zones", "2", "--plan", "zones:1"]));
    assert_eq!(out.status.code(), Some(0));
    let file = read_json(&results);
    assert_eq!(file["run"]["plan"], "zones:1");
    let entries = file["results"].as_array().unwrap();
    let zone_pairs: BTreeMap<(String, String), usize> =
        entries.iter().fold(BTreeMap::new(), |mut m, e| {
            let z = |side: &str| {
                e["task"][side]["vm"]["availability_zone"]
                    .as_str()
                    .unwrap()
                    .to_string()
            };
            *m.entry((z("client"), z("server"))).or_default() += 1;
            m
        });
    let want: BTreeMap<(String, String), usize> = [
        ("zone-a", "zone-a"),
        ("zone-a", "zone-b"),
        ("zone-b", "zone-a"),
        ("zone-b", "zone-b"),
    ]
    .into_iter()
    .map(|(a, b)| ((a.to_string(), b.to_string()), 1))
    .collect();
    assert_eq!(zone_pairs, want);
    assert!(entries.iter().all(|e| e["task"]["status"] == 0));

    // sample:3 with a seed: the same three pairs twice; ring: every node client and server once.
    let mut sampled = Vec::new();
    for i in 0..2 {
        let results = dir.path().join(format!("sample{i}.json"));
        let out = run(local(63, &format!("sample{i}x4"), &results)
            .args([
                "--benchmark",
                "netperf-tcp-rr",
                "--nodes",
                "4",
                "--duration",
                "1",
            ])
            .args(["--plan", "sample:3", "--seed", "7"]));
        assert_eq!(out.status.code(), Some(0));
        let f = read_json(&results);
        let set: BTreeSet<_> = f["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(endpoints)
            .collect();
        assert_eq!(set.len(), 3);
        sampled.push(set);
    }
    assert_eq!(sampled[0], sampled[1], "same seed, same pairs");

    let results = dir.path().join("ring.json");
    let out = run(local(63, "ring1x4", &results)
        .args([
            "--benchmark",
            "netperf-tcp-rr",
            "--nodes",
            "4",
            "--duration",
            "1",
        ])
        .args(["--plan", "ring", "--servers", "node-[12]*,node-3,node-4"]));
    assert_eq!(out.status.code(), Some(0));
    let f = read_json(&results);
    let ring: Vec<_> = f["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(endpoints)
        .collect();
    let want: Vec<(String, String)> = [(1, 2), (2, 3), (3, 4), (4, 1)]
        .iter()
        .map(|(c, s)| (format!("node-{c}"), format!("node-{s}")))
        .collect();
    assert_eq!(ring, want);
}
