//! `--stream` and `--kv-bucket`: a team keeps its runs in a stream and bucket of its own name on
//! a shared NATS, or uses one its NATS admin made; a stream that cannot hold the results is
//! refused with a clear error and left exactly as it was. Real nats-server, real NATS CLI.

mod support;

use async_nats::jetstream::{self, stream};
use std::process::Output;
use support::*;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn js(url: &str) -> jetstream::Context {
    jetstream::new(async_nats::connect(url).await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_goes_to_the_named_stream_and_bucket_and_watch_reads_it_back() {
    assert!(is_root(), "needs root (network namespaces)");
    let nats = plain_jetstream();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let out = run(netbench()
        .args([
            "local",
            "--nats-url",
            &nats.url,
            "--nodes",
            "2",
            "--duration",
            "1s",
        ])
        .args(["--subnet", "198.18.92.0/24", "--stream", "TEAM_A"])
        .args(["--kv-bucket", "TEAM_A_RUNS", "--results"])
        .arg(&results));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let file = read_json(&results);
    let run_id = file["results"][0]["run"].as_str().unwrap().to_string();

    let js = js(&nats.url).await;
    let mut team = js.get_stream("TEAM_A").await.unwrap();
    let info = team.info().await.unwrap();
    // Two results and the run's events, all in TEAM_A; no NETBENCH stream was made.
    assert!(info.state.messages >= 2, "{:?}", info.state);
    assert!(js.get_stream("NETBENCH").await.is_err());
    let kv = js.get_key_value("TEAM_A_RUNS").await.unwrap();
    let state: serde_json::Value =
        serde_json::from_slice(&kv.get(&run_id).await.unwrap().unwrap()).unwrap();
    assert_eq!(state["phase"], "done");
    assert!(js.get_key_value("NETBENCH_RUNS").await.is_err());

    let out = run(netbench()
        .args([
            "watch",
            "--nats-url",
            &nats.url,
            "--stream",
            "TEAM_A",
            "--no-follow",
        ])
        .args(["--run", &run_id]));
    assert_eq!(out.status.code(), Some(0));
    let shown = text(&out);
    assert!(shown.contains("from stream TEAM_A"), "{shown}");
    assert!(
        shown.contains("node-1") && shown.contains("node-2"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incompatible_stream_is_refused_and_left_as_it_was() {
    assert!(is_root(), "needs root (network namespaces)");
    let nats = plain_jetstream();
    let js = js(&nats.url).await;
    // Someone else's stream of that name: a work queue on other subjects, short dedupe window.
    js.create_stream(stream::Config {
        name: "SHARED".into(),
        subjects: vec!["orders.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        duplicate_window: std::time::Duration::from_secs(10),
        ..Default::default()
    })
    .await
    .unwrap();
    let before = js
        .get_stream("SHARED")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .config
        .clone();
    let dir = tempfile::tempdir().unwrap();
    let out = run(netbench()
        .args([
            "local",
            "--nats-url",
            &nats.url,
            "--nodes",
            "2",
            "--duration",
            "1s",
        ])
        .args([
            "--subnet",
            "198.18.93.0/24",
            "--stream",
            "SHARED",
            "--results",
        ])
        .arg(dir.path().join("r.json")));
    assert_eq!(out.status.code(), Some(3));
    let said = text(&out);
    for needle in [
        "stream SHARED exists but cannot hold netbench's data",
        "do not capture netbench.<run>.result.<benchmark>",
        "retention is WorkQueue",
        "duplicate window is 10s",
        "never changes a stream it did not create",
        "--stream",
    ] {
        assert!(said.contains(needle), "{needle:?} not in: {said}");
    }
    let after = js
        .get_stream("SHARED")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .config
        .clone();
    assert_eq!(before, after, "the stream is unchanged");
    assert!(!dir.path().join("r.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_stream_on_the_same_subjects_says_to_share_the_first() {
    assert!(is_root(), "needs root (network namespaces)");
    let nats = plain_jetstream();
    // A first team's run made NETBENCH.
    let dir = tempfile::tempdir().unwrap();
    let out = run(netbench()
        .args([
            "local",
            "--nats-url",
            &nats.url,
            "--nodes",
            "2",
            "--duration",
            "1s",
        ])
        .args(["--subnet", "198.18.94.0/24", "--results"])
        .arg(dir.path().join("a.json")));
    assert_eq!(out.status.code(), Some(0));
    let out = run(netbench()
        .args([
            "local",
            "--nats-url",
            &nats.url,
            "--nodes",
            "2",
            "--duration",
            "1s",
        ])
        .args([
            "--subnet",
            "198.18.94.0/24",
            "--stream",
            "TEAM_B",
            "--results",
        ])
        .arg(dir.path().join("b.json")));
    assert_eq!(out.status.code(), Some(3));
    let said = text(&out);
    assert!(
        said.contains("cannot create stream TEAM_B")
            && said.contains("overlap")
            && said.contains("pass --stream with its name"),
        "{said}"
    );
}

#[test]
fn bad_names_and_replicas_are_usage_errors() {
    for (args, needle) in [
        (
            vec!["--stream", "a.b"],
            "a JetStream name is 1 to 64 letters",
        ),
        (
            vec!["--kv-bucket", "x y"],
            "a JetStream name is 1 to 64 letters",
        ),
        (vec!["--stream-replicas", "7"], "7"),
        (vec!["--nats-cluster", "2"], "1, 3 or 5 servers"),
    ] {
        let out = run(netbench().arg("local").args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out).contains(needle), "{args:?}: {}", text(&out));
    }
    // Names for our own throw-away server make no sense: they apply to --nats-url.
    let out = run(netbench().args(["local", "--stream", "TEAM_A"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("--stream and --kv-bucket apply to --nats-url"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_on_one_server_says_what_to_do() {
    assert!(is_root(), "needs root (network namespaces)");
    let nats = plain_jetstream();
    let dir = tempfile::tempdir().unwrap();
    let out = run(netbench()
        .args([
            "local",
            "--nats-url",
            &nats.url,
            "--nodes",
            "2",
            "--duration",
            "1s",
        ])
        .args([
            "--subnet",
            "198.18.95.0/24",
            "--stream-replicas",
            "3",
            "--results",
        ])
        .arg(dir.path().join("r.json")));
    assert_eq!(out.status.code(), Some(3));
    let said = text(&out);
    assert!(
        said.contains("with 3 replicas") && said.contains("pass --stream-replicas 1"),
        "{said}"
    );
}
