//! `netbench local` and the PushGateway end to end: a real run (real namespaces, nats-server and
//! iperf3) and a real `prometheus-pushgateway`; what a scrape of the gateway shows must be the
//! results file, series for series.

mod support;

use netbench_metrics::testkit::{assert_pair_on_gateway, PushGateway, Scrape};
use netbench_metrics::{PushConfig, Pusher, PAIR_STATUS};
use netbench_proto::ResultsFile;
use std::path::Path;
use support::*;

/// Run `netbench local` with iperf3-tcp on 2 nodes on 198.18.<octet>.0/24, with extra
/// arguments; the results file.
fn local_run(octet: u8, results: &Path, extra: &[&str]) -> ResultsFile {
    assert!(
        is_root(),
        "these tests need root (network namespaces); CI runs as root"
    );
    let out = run(netbench()
        .args(["local", "--benchmark", "iperf3-tcp", "--nodes", "2"])
        .args([
            "--duration",
            "1",
            "--subnet",
            &format!("198.18.{octet}.0/24"),
        ])
        .args(extra)
        .arg("--results")
        .arg(results));
    assert_eq!(out.status.code(), Some(0), "both pairs should succeed");
    let file: ResultsFile =
        serde_json::from_slice(&std::fs::read(results).expect("results file written"))
            .expect("results file parses");
    assert_eq!(file.results.len(), 2, "2 nodes, 2 ordered pairs");
    file
}

/// Every pair of the file is on the gateway with its labels and values, and the run has no
/// other pair series.
fn assert_gateway_is_the_file(scrape: &Scrape, file: &ResultsFile) {
    let run = file.results[0].run.as_str();
    for r in &file.results {
        assert_eq!(r.run.as_str(), run);
        assert_pair_on_gateway(scrape, r);
    }
    let statuses = scrape
        .with_labels(&[("run", run)])
        .filter(|s| s.name == PAIR_STATUS)
        .count();
    assert_eq!(statuses, file.results.len(), "one status series per pair");
}

#[tokio::test(flavor = "multi_thread")]

async fn a_local_run_pushes_every_pair_and_the_gateway_matches_the_results_file() {
    let gw = PushGateway::start().await;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    let file =
        tokio::task::block_in_place(|| local_run(40, &results, &["--pushgateway", gw.url()]));
    assert_gateway_is_the_file(&gw.scrape().await, &file);
}

/// The same comparison without the CLI wiring: the results of a real run, read back from the
/// file and pushed by the [`Pusher`] pair by pair, as the orchestrator will.
#[tokio::test(flavor = "multi_thread")]
async fn results_of_a_real_local_run_pushed_pair_by_pair_match_the_results_file() {
    let gw = PushGateway::start().await;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    let file = tokio::task::block_in_place(|| local_run(41, &results, &[]));
    let pusher = Pusher::new(
        PushConfig {
            url: gw.url().to_string(),
            ..Default::default()
        },
        &file.results[0].run,
    )
    .unwrap();
    for r in &file.results {
        pusher.push_pair(r).await.unwrap();
    }
    assert_gateway_is_the_file(&gw.scrape().await, &file);
}

/// An unreachable gateway is a warning: the run, its results file and its exit code are intact.
#[test]
fn an_unreachable_gateway_leaves_the_run_intact() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let url = format!("http://127.0.0.1:{port}");
    let file = local_run(42, &results, &["--pushgateway", &url]);
    assert!(file
        .results
        .iter()
        .all(|r| r.task.status == netbench_proto::Status::Ok));
    assert!(file.results.iter().all(|r| !r.metrics.is_empty()));
}
