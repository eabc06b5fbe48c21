//! `netbench local` end to end: a real nats-server, real workers in real network namespaces,
//! real iperf3 / netperf / qperf. Checks the results file, the JetStream stream, and what a
//! plain NATS subscriber sees live.

mod support;

use futures::StreamExt;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use support::*;

const NODES: usize = 3;

/// Run one benchmark on 3 nodes against a NATS of the test's own, watching `netbench.>` with a
/// plain async-nats subscriber (not netbench's code), then check everything.
async fn full_run(benchmark: &str, headline: &str, subnet_octet: u8) {
    if !is_root() {
        panic!("these tests need root (network namespaces); CI runs as root");
    }
    let server = nats();
    let watcher = async_nats::connect(&server.url).await.unwrap();
    let mut live = watcher.subscribe("netbench.>").await.unwrap();
    watcher.flush().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    let run_id = format!("e2e{subnet_octet}x{}", std::process::id());
    let out = run(netbench()
        .args([
            "local",
            "--benchmark",
            benchmark,
            "--nodes",
            &NODES.to_string(),
            "--duration",
            "1",
        ])
        .args([
            "--subnet",
            &format!("198.18.{subnet_octet}.0/24"),
            "--run",
            &run_id,
        ])
        .args(["--nats-url", &server.url, "--results"])
        .arg(&results));
    assert_eq!(out.status.code(), Some(0), "every pair should succeed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[6/6]"), "progress lines shown: {stdout}");

    // The results file: every ordered pair once, seed keys, positive headline metrics.
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), NODES * (NODES - 1));
    let mut pairs = BTreeSet::new();
    for e in entries {
        assert_seed_keys(e);
        assert_eq!(e["task"]["status"], 0, "{}", e["error"]);
        assert_eq!(e["benchmark"], benchmark);
        assert_eq!(e["run"], run_id.as_str());
        let c = e["task"]["client"]["worker"].as_str().unwrap().to_string();
        let s = e["task"]["server"]["worker"].as_str().unwrap().to_string();
        assert_ne!(c, s);
        assert!(pairs.insert((c, s)), "pair twice");
        let value = e["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == headline)
            .and_then(|m| m["value"].as_f64())
            .unwrap_or_else(|| panic!("no {headline} in {}", e["metrics"]));
        assert!(value > 0.0, "{headline} = {value}");
        // The output is the real tool's.
        assert!(!e["output"].as_str().unwrap().is_empty());
        // Against the server's pod: node i's pod is 198.19.X.i for nodes on 198.18.X.0/24.
        let server_ip = e["task"]["server"]["ip"].as_str().unwrap();
        let server = e["task"]["server"]["worker"].as_str().unwrap();
        assert_eq!(
            server_ip,
            format!("198.19.{subnet_octet}.{}", &server["node-".len()..])
        );
        assert_eq!(e["path"], "pod");
        assert!(e["task"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().contains(server_ip)));
    }
    let expected: BTreeSet<(String, String)> = (1..=NODES)
        .flat_map(|c| {
            (1..=NODES)
                .filter(move |s| *s != c)
                .map(move |s| (format!("node-{c}"), format!("node-{s}")))
        })
        .collect();
    assert_eq!(pairs, expected);

    // What a plain subscriber saw live: every result, and the whole life of the run.
    let mut live_results = 0;
    let mut kinds = HashSet::new();
    while let Ok(Some(msg)) =
        tokio::time::timeout(std::time::Duration::from_secs(2), live.next()).await
    {
        // Control traffic (register, tasks) is MessagePack on other subjects; skip it.
        let json =
            || serde_json::from_slice::<Value>(&msg.payload).expect("public subjects carry JSON");
        if msg.subject.as_str() == format!("netbench.{run_id}.result.{benchmark}") {
            assert_eq!(json()["benchmark"], benchmark);
            live_results += 1;
        } else if msg.subject.as_str() == format!("netbench.{run_id}.event") {
            kinds.insert(json()["event"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(live_results, 6);
    for k in [
        "run_started",
        "worker_joined",
        "pair_started",
        "pair_finished",
        "run_finished",
    ] {
        assert!(kinds.contains(k), "no live {k} event; saw {kinds:?}");
    }

    // The NETBENCH stream holds each result exactly once, readable with a plain consumer.
    let js = async_nats::jetstream::new(watcher.clone());
    let stream = js.get_stream("NETBENCH").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("netbench.{run_id}.result.>"),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut stored = Vec::new();
    let mut batch = consumer.fetch().max_messages(100).messages().await.unwrap();
    while let Some(Ok(m)) = batch.next().await {
        stored.push(serde_json::from_slice::<Value>(&m.payload).unwrap());
    }
    assert_eq!(stored.len(), 6);
    let stored_pairs: HashSet<String> = stored
        .iter()
        .map(|v| v["pair"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored_pairs.len(), 6);
    // The run state in the KV bucket says done.
    let kv = js.get_key_value("NETBENCH_RUNS").await.unwrap();
    let state: Value = serde_json::from_slice(&kv.get(&run_id).await.unwrap().unwrap()).unwrap();
    assert_eq!(state["phase"], "done");
    assert_eq!(state["pairs_done"], 6);

    assert!(leftover_namespaces(&format!("nb-{}", &run_id[..6])).is_empty());
}

#[tokio::test]
async fn iperf3_every_pair_in_file_stream_and_live() {
    full_run("iperf3-tcp", "throughput_received", 10).await;
}

#[tokio::test]
async fn netperf_rr_every_pair_in_file_stream_and_live() {
    full_run("netperf-tcp-rr", "transaction_rate", 11).await;
}

#[tokio::test]
async fn qperf_every_pair_in_file_stream_and_live() {
    full_run("qperf-tcp", "throughput", 12).await;
}

/// fortio runs live wherever it is in the system directories (CI installs it from shared/bin;
/// under CI its absence is a failure, not a skip).
fn fortio_installed() -> bool {
    let found = netbench_worker::tools::locate("fortio", &[]).is_some();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "fortio is not in the system directories: tests/setup-debian installs it from shared/bin"
        );
        eprintln!("skipped: fortio is not installed (see tests/setup-debian)");
    }
    found
}

#[tokio::test]
async fn fortio_tcp_every_pair_in_file_stream_and_live() {
    if fortio_installed() {
        full_run("fortio-tcp", "request_rate", 15).await;
    }
}

#[tokio::test]
async fn fortio_http_every_pair_in_file_stream_and_live() {
    if fortio_installed() {
        full_run("fortio-http", "request_rate", 16).await;
    }
}

/// The README's first command, as written but shorter: local starts its own nats-server,
/// and leaves nothing behind.
#[test]
fn local_with_its_own_nats_server_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let out = run(netbench()
        .args([
            "local",
            "--benchmark",
            "netperf-tcp-stream",
            "--nodes",
            "2",
            "--duration",
            "1",
        ])
        .args([
            "--subnet",
            "198.18.13.0/24",
            "--run",
            "ownnats1",
            "--results",
        ])
        .arg(&results));
    assert_eq!(out.status.code(), Some(0));
    let file = read_json(&results);
    assert_eq!(file["results"].as_array().unwrap().len(), 2);
    for e in file["results"].as_array().unwrap() {
        let tput = e["metrics"][0]["value"].as_f64().unwrap();
        assert_eq!(e["metrics"][0]["unit"], "bytes_per_second");
        assert!(tput > 1e6, "throughput {tput}");
    }
    assert!(leftover_namespaces("nb-ownnat").is_empty());
    let bridges = std::process::Command::new("ip")
        .args(["-o", "link", "show", "nbbr-ownnat"])
        .output()
        .unwrap();
    assert!(!bridges.status.success(), "bridge left behind");
    let ps = std::process::Command::new("pgrep")
        .args(["-f", "run ownnats1"])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "worker processes left: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}
