//! The benchmark variants (netperf TCP_CRR, iperf3 UDP, netperf UDP_RR and UDP_STREAM) live:
//! `netbench local` with its own nats-server, two workers in real network namespaces, the real
//! tools. Each pair must succeed with every metric the catalogue defines, finite and in range;
//! UDP loss and jitter come from the real run.

mod support;

use serde_json::Value;
use std::collections::HashMap;
use support::*;

/// Run `benchmark` on 2 nodes for 1 s on `198.18.<octet>.0/24`; the results' entries.
fn run_local(benchmark: &str, octet: u8) -> Vec<Value> {
    run_local_with(benchmark, octet, &[])
}

/// [`run_local`] with more flags (`--streams 4`, …).
fn run_local_with(benchmark: &str, octet: u8, extra: &[&str]) -> Vec<Value> {
    assert!(
        is_root(),
        "these tests need root (network namespaces); CI runs as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    // The namespaces are named after the run's first characters: keep them distinct per test.
    let run_id = format!("var{octet}x{}", std::process::id());
    let out = run(netbench()
        .args([
            "local",
            "--benchmark",
            benchmark,
            "--nodes",
            "2",
            "--duration",
            "1",
        ])
        .args([
            "--subnet",
            &format!("198.18.{octet}.0/24"),
            "--run",
            &run_id,
        ])
        .args(extra)
        .arg("--results")
        .arg(&results));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{benchmark}: every pair should succeed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2, "{benchmark}: two ordered pairs");
    assert!(
        leftover_namespaces(&format!("nb-var{octet}")).is_empty(),
        "{benchmark}: namespaces left behind"
    );
    entries
}

/// Every pair ok, with exactly the catalogue's metrics in its units, all finite and >= 0;
/// the metrics by name, per pair.
fn check(benchmark: &str, entries: &[Value]) -> Vec<HashMap<String, f64>> {
    let bench = netbench_bench::find(benchmark).unwrap();
    entries
        .iter()
        .map(|e| {
            assert_seed_keys(e);
            assert_eq!(e["benchmark"], benchmark);
            assert_eq!(e["task"]["status"], 0, "{benchmark}: {}", e["error"]);
            let mut got = HashMap::new();
            for m in e["metrics"].as_array().unwrap() {
                let name = m["name"].as_str().unwrap().to_string();
                let def = bench
                    .metric(&name)
                    .unwrap_or_else(|| panic!("{benchmark}: metric {name} not in the catalogue"));
                assert_eq!(
                    m["unit"],
                    serde_json::to_value(def.unit).unwrap(),
                    "{benchmark} {name}"
                );
                let v = m["value"].as_f64().unwrap();
                assert!(v.is_finite() && v >= 0.0, "{benchmark} {name} = {v}");
                got.insert(name, v);
            }
            for def in bench.metrics {
                assert!(
                    got.contains_key(def.name),
                    "{benchmark}: no {} in {}",
                    def.name,
                    e["metrics"]
                );
            }
            // The real tool's output, run against the server worker's address.
            assert!(!e["output"].as_str().unwrap().is_empty());
            // The server pod's (198.19.X.i: the pods of nodes on 198.18.X.0/24).
            let server_ip = e["task"]["server"]["ip"].as_str().unwrap();
            assert!(server_ip.starts_with("198.19."), "{server_ip}");
            assert!(e["task"]["args"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.as_str().unwrap().contains(server_ip)));
            eprintln!("{benchmark}: {got:?}");
            got
        })
        .collect()
}

fn rr(benchmark: &str, octet: u8) {
    for m in check(benchmark, &run_local(benchmark, octet)) {
        // A 1 s run on a veth pair does hundreds of transactions at the very least.
        assert!(m["transaction_rate"] > 100.0, "{benchmark}: {m:?}");
        assert!(m["latency_min"] > 0.0, "{benchmark}: {m:?}");
        assert!(
            m["latency_min"] <= m["latency_p50"]
                && m["latency_p50"] <= m["latency_p90"]
                && m["latency_p90"] <= m["latency_p99"]
                && m["latency_p99"] <= m["latency_max"],
            "{benchmark}: percentiles out of order {m:?}"
        );
        // Latency and rate of one connection agree: the mean is about 1 / rate (within 5x:
        // netperf's mean excludes its own bookkeeping).
        let product = m["latency_mean"] * m["transaction_rate"];
        assert!(product > 0.2 && product <= 1.05, "{benchmark}: {m:?}");
    }
}

#[test]
fn netperf_tcp_crr_live() {
    rr("netperf-tcp-crr", 70);
}

#[test]
fn netperf_udp_rr_live() {
    rr("netperf-udp-rr", 72);
}

/// Loss bookkeeping: loss % is about lost / sent, within `points` percentage points (iperf3
/// divides by a datagram total of its own, a few dozen off the `packets` it reports).
fn check_loss(benchmark: &str, m: &HashMap<String, f64>, points: f64) {
    assert!(m["datagrams"] > 1000.0, "{benchmark}: {m:?}");
    assert!(m["lost_datagrams"] <= m["datagrams"], "{benchmark}: {m:?}");
    let pct = 100.0 * m["lost_datagrams"] / m["datagrams"];
    assert!(
        (m["loss_percent"] - pct).abs() <= points && m["loss_percent"] <= 100.0,
        "{benchmark}: {m:?}"
    );
    assert!(m["throughput_received"] > 1e6, "{benchmark}: {m:?}");
}

#[test]
fn iperf3_udp_live() {
    for m in check("iperf3-udp", &run_local("iperf3-udp", 71)) {
        check_loss("iperf3-udp", &m, 0.5);
        // Jitter is measured by the server, in seconds: finite, and well under a second here.
        assert!(m["jitter"] > 0.0 && m["jitter"] < 1.0, "{m:?}");
        // The client paces at the 1 Gbit/s target at most (plus rounding).
        assert!(m["throughput_sent"] <= 1.01e9 / 8.0, "{m:?}");
    }
}

#[test]
fn netperf_udp_stream_live() {
    for m in check("netperf-udp-stream", &run_local("netperf-udp-stream", 73)) {
        check_loss("netperf-udp-stream", &m, 1e-9);
        assert!(m["throughput_sent"] > 1e6, "{m:?}");
    }
}

/// The client tool's own JSON output of a results entry.
fn tool_output(e: &Value) -> Value {
    serde_json::from_str(e["output"].as_str().unwrap()).unwrap()
}

/// The parameters, live: what the tool reports it ran with is what was asked for, the results
/// record them (`parameters`) and each worker's CPU count (`cpus`), and iperf3's own CPU use.
#[test]
fn iperf3_tcp_streams_and_message_size_live() {
    let entries = run_local_with(
        "iperf3-tcp",
        101,
        &["--streams", "4", "--message-size", "65536"],
    );
    for m in check("iperf3-tcp", &entries) {
        assert!(
            m["cpu_client_percent"] > 0.0 && m["cpu_server_percent"] > 0.0,
            "{m:?}"
        );
    }
    for e in &entries {
        let out = tool_output(e);
        let start = &out["start"]["test_start"];
        assert_eq!(start["num_streams"], 4, "{start}");
        assert_eq!(start["blksize"], 65536, "{start}");
        assert_eq!(out["end"]["streams"].as_array().unwrap().len(), 4);
        assert_eq!(
            e["task"]["parameters"],
            serde_json::json!({"streams": 4, "message_size": 65536})
        );
        let args: Vec<&str> = e["task"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.windows(2).any(|w| w == ["-P", "4"]), "{args:?}");
        let cpus = std::thread::available_parallelism().unwrap().get() as u64;
        for side in ["client", "server"] {
            assert_eq!(e["task"][side]["cpus"], cpus, "{side}");
        }
    }
}

#[test]
fn iperf3_udp_rate_and_datagram_size_live() {
    let entries = run_local_with(
        "iperf3-udp",
        102,
        &["--rate", "50M", "--message-size", "1200"],
    );
    for m in check("iperf3-udp", &entries) {
        // Paced at 50 Mbit/s, not the default 1 Gbit/s.
        assert!(
            m["throughput_sent"] > 40e6 / 8.0 && m["throughput_sent"] < 55e6 / 8.0,
            "{m:?}"
        );
    }
    for e in &entries {
        let out = tool_output(e);
        assert_eq!(out["start"]["test_start"]["blksize"], 1200);
        assert_eq!(
            e["task"]["parameters"],
            serde_json::json!({"message_size": 1200, "rate": 50_000_000})
        );
    }
}

#[test]
fn netperf_and_fortio_parameters_live() {
    let rr = run_local_with("netperf-tcp-rr", 103, &["--message-size", "256"]);
    check("netperf-tcp-rr", &rr);
    for e in &rr {
        let args = e["task"]["args"].to_string();
        assert!(args.contains(r#""-r","256""#), "{args}");
        assert_eq!(
            e["task"]["parameters"],
            serde_json::json!({"message_size": 256})
        );
    }
    let fortio = run_local_with("fortio-tcp", 104, &["--streams", "3"]);
    check("fortio-tcp", &fortio);
    for e in &fortio {
        let out = tool_output(e);
        assert_eq!(out["NumThreads"], 3, "fortio ran 3 connections");
        assert_eq!(e["task"]["parameters"], serde_json::json!({"streams": 3}));
    }
}
