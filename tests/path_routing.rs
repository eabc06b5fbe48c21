//! `--paths`: the orchestrator sends each path's pairs to the right workers and addresses, runs
//! a pair's paths back to back, keeps a node out of two pairs at once whichever of its workers
//! runs them, and refuses a run that lacks the workers a path needs. A real orchestrator
//! process and a real nats-server; the workers are played by the test, so that every task they
//! are sent can be checked (the tools run for real in tests/paths.rs).

mod support;

use futures::StreamExt;
use netbench_proto::{
    decode_control, encode_control, subjects, Captured, Placement, ProcessOutcome, Reply, RunId,
    ServerReady, TaskRequest, WorkerId, WorkerInfo, CONTENT_TYPE, CONTENT_TYPE_MSGPACK,
};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const IPERF3_OUTPUT: &str =
    include_str!("../crates/netbench-bench/tests/fixtures/iperf3-tcp/ok.stdout");

/// A worker as the test plays it.
#[derive(Clone)]
struct Played {
    name: String,
    node: String,
    ip: String,
    placement: Placement,
    service_ip: Option<String>,
}

/// A task a played worker got: who, what, for which pair, towards which address, and when.
#[derive(Debug, Clone)]
struct Seen {
    worker: String,
    node: String,
    what: &'static str,
    pair: String,
    server_ip: Option<String>,
    at: Instant,
    until: Instant,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn headers() -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    h.insert(CONTENT_TYPE, CONTENT_TYPE_MSGPACK);
    h
}

/// The three workers of node `n`: its pod (with a Service address), its host worker and its
/// second pod. Node `i` has pod 198.19.60.i, Service 198.19.60.(160+i), node IP 198.18.60.i.
fn node(i: u8) -> Vec<Played> {
    let n = format!("node-{i}");
    vec![
        Played {
            name: n.clone(),
            node: n.clone(),
            ip: format!("198.19.60.{i}"),
            placement: Placement::Pod,
            service_ip: Some(format!("198.19.60.{}", 160 + i)),
        },
        Played {
            name: format!("{n}-host"),
            node: n.clone(),
            ip: format!("198.18.60.{i}"),
            placement: Placement::Host,
            service_ip: None,
        },
        Played {
            name: format!("{n}-pod2"),
            node: n,
            ip: format!("198.19.60.{}", 80 + i),
            placement: Placement::SameNode,
            service_ip: None,
        },
    ]
}

/// Register, then answer every task: servers are ready at once, clients take `client_time` and
/// print a real iperf3 output.
async fn play(url: String, run: RunId, w: Played, client_time: Duration, log: Log) {
    let nc = async_nats::connect(&url).await.unwrap();
    let id = WorkerId::for_name(&w.name);
    let mut tasks = nc.subscribe(subjects::task(&run, &id)).await.unwrap();
    nc.flush().await.unwrap();
    let worker = WorkerInfo {
        id: id.clone(),
        name: w.name.clone(),
        ip: w.ip.parse().unwrap(),
        hostname: w.node.clone(),
        zone: "local".into(),
        cpus: 2,
        placement: w.placement,
        service_ip: w.service_ip.as_deref().map(|v| v.parse().unwrap()),
    };
    register_played(&nc, &run, worker, &["iperf3"]).await;
    let outcome = |stdout: &str, elapsed: f64| ProcessOutcome {
        exit_code: Some(0),
        signal: None,
        timed_out: false,
        stdout: Captured {
            text: stdout.into(),
            truncated: false,
        },
        stderr: Captured::default(),
        elapsed_seconds: elapsed,
        idle: true,
    };
    while let Some(msg) = tasks.next().await {
        let req: TaskRequest = decode_control(None, &msg.payload).unwrap();
        let at = Instant::now();
        let (what, pair, server_ip, reply) = match req {
            TaskRequest::StartServer(spec) => (
                "server",
                spec.pair,
                Some(spec.params.server_ip.to_string()),
                Reply::ServerReady(ServerReady {
                    ready_after_seconds: 0.01,
                }),
            ),
            TaskRequest::RunClient(spec) => {
                tokio::time::sleep(client_time).await;
                (
                    "client",
                    spec.pair,
                    Some(spec.params.server_ip.to_string()),
                    Reply::ClientDone(outcome(IPERF3_OUTPUT, client_time.as_secs_f64())),
                )
            }
            TaskRequest::StopServer { pair, .. } => {
                ("stop", pair, None, Reply::ServerStopped(outcome("", 0.0)))
            }
        };
        log.lock().unwrap().push(Seen {
            worker: w.name.clone(),
            node: w.node.clone(),
            what,
            pair,
            server_ip,
            at,
            until: Instant::now(),
        });
        nc.publish_with_headers(msg.reply.unwrap(), headers(), encode_control(&reply).into())
            .await
            .unwrap();
    }
}

/// The orchestrator for `workers` played workers, with `extra` flags.
fn orchestrator(
    url: &str,
    run: &RunId,
    workers: usize,
    results: &std::path::Path,
    extra: &[&str],
) -> std::process::Command {
    let mut c = netbench();
    c.args(["orchestrator", "--nats-url", url, "--run", run.as_str()]);
    if !extra.contains(&"--suite") {
        c.args(["--benchmark", "iperf3-tcp"]);
    }
    c.args(["--duration", "1"])
        .args(["--timeout", "20s", "--deadline", "2m"])
        .args(["--workers", &workers.to_string()])
        .arg("--results")
        .arg(results)
        .args(extra);
    c
}

/// Run the orchestrator against played workers; the results file and every task seen.
async fn run_with(
    run: &str,
    workers: Vec<Played>,
    client_time: Duration,
    extra: &[&str],
) -> (std::process::Output, Option<Value>, Vec<Seen>) {
    let server = nats();
    let run: RunId = run.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let log: Log = Default::default();
    let n = workers.len();
    let played: Vec<_> = workers
        .into_iter()
        .map(|w| {
            tokio::spawn(play(
                server.url.clone(),
                run.clone(),
                w,
                client_time,
                log.clone(),
            ))
        })
        .collect();
    let mut orch = orchestrator(&server.url, &run, n, &results, extra);
    let out = tokio::task::spawn_blocking(move || support::run(&mut orch))
        .await
        .unwrap();
    for p in played {
        p.abort();
    }
    let file = results.exists().then(|| read_json(&results));
    let seen = log.lock().unwrap().clone();
    (out, file, seen)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_path_runs_on_its_workers_towards_its_address() {
    let workers: Vec<Played> = (1..=2).flat_map(node).collect();
    let (out, file, seen) = run_with(
        "paths1",
        workers,
        Duration::from_millis(20),
        &["--paths", "same-node,service,host,pod"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = file.unwrap();
    let results = file["results"].as_array().unwrap();
    // 2 ordered pairs × 3 paths across nodes, then one same-node pair per node; each pair's
    // paths back to back, in the file as in the run.
    let got: Vec<(String, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                text(&r["path"]).to_string(),
                text(&r["task"]["client"]["worker"]),
                text(&r["task"]["server"]["worker"]),
            )
        })
        .collect();
    let want = [
        ("pod", "node-1", "node-2"),
        ("host", "node-1-host", "node-2-host"),
        ("service", "node-1", "node-2"),
        ("pod", "node-2", "node-1"),
        ("host", "node-2-host", "node-1-host"),
        ("service", "node-2", "node-1"),
        ("same-node", "node-1-pod2", "node-1"),
        ("same-node", "node-2-pod2", "node-2"),
    ];
    let want: Vec<(String, &str, &str)> = want
        .iter()
        .map(|(p, c, s)| (p.to_string(), *c, *s))
        .collect();
    assert_eq!(got, want);
    let mut last_start = String::new();
    for r in results {
        assert_eq!(r["task"]["status"], 0, "{r}");
        assert_seed_keys(r);
        let path = text(&r["path"]);
        let server = &r["task"]["server"];
        let client = &r["task"]["client"];
        // Where the client connected: the Service address on the service path, else the
        // server worker's own.
        let target = if path == "service" {
            assert_eq!(
                server["service_ip"],
                format!(
                    "198.19.60.{}",
                    160 + text(&server["vm"]["hostname"])
                        .trim_start_matches("node-")
                        .parse::<u8>()
                        .unwrap()
                )
            );
            text(&server["service_ip"])
        } else {
            assert!(server.get("service_ip").is_none(), "{r}");
            text(&server["ip"])
        };
        let args: Vec<&str> = r["task"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .collect();
        assert_eq!(args[1], target, "{path}: {args:?}");
        // Ids: the pod path as ever, the others with their path.
        let pair = text(&r["pair"]);
        if path == "pod" {
            assert!(!pair.contains('/'), "{pair}");
        } else {
            assert!(pair.ends_with(&format!("/{path}")), "{pair}");
        }
        assert_eq!(
            path == "same-node",
            client["vm"]["hostname"] == server["vm"]["hostname"],
            "{r}"
        );
        // Serial: in the file's order.
        let start = text(&r["started_at"]).to_string();
        assert!(start >= last_start, "{start} after {last_start}");
        last_start = start;
    }
    // What the workers were sent agrees: each client task went to the path's address.
    for r in results {
        let pair = text(&r["pair"]);
        let client_task: Vec<&Seen> = seen
            .iter()
            .filter(|s| s.pair == pair && s.what == "client")
            .collect();
        assert_eq!(client_task.len(), 1, "{pair}: {seen:?}");
        assert_eq!(client_task[0].worker, text(&r["task"]["client"]["worker"]));
        assert_eq!(
            client_task[0].server_ip.as_deref(),
            Some(text(&r["task"]["args"][1]))
        );
        let server_task = seen
            .iter()
            .find(|s| s.pair == pair && s.what == "server")
            .unwrap();
        assert_eq!(server_task.worker, text(&r["task"]["server"]["worker"]));
    }
    assert_eq!(file["run"]["pairs_total"], 8);
}

/// Side by side, a node's pod and host workers never run in two pairs at once: they share the
/// node's network, so either would distort the other. (With workers as the unit, node-1's pod
/// and host workers ran at the same time.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_by_side_a_node_is_never_in_two_pairs_at_once() {
    let workers: Vec<Played> = (1..=4)
        .flat_map(node)
        .filter(|w| w.placement != Placement::SameNode)
        .collect();
    let (out, file, seen) = run_with(
        "paths2",
        workers,
        Duration::from_millis(250),
        &["--paths", "pod,host", "--concurrency", "4"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = file.unwrap()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 24, "12 ordered pairs on 2 paths");
    // Each pair's busy time on each node: from its server's start to its stop.
    let mut spans: Vec<(String, String, Instant, Instant)> = Vec::new();
    for r in &results {
        let pair = text(&r["pair"]);
        let of = |what: &str| {
            seen.iter()
                .find(|s| s.pair == pair && s.what == what)
                .unwrap()
        };
        let (start, stop, client) = (of("server"), of("stop"), of("client"));
        for node in [&start.node, &client.node] {
            spans.push((node.clone(), pair.to_string(), start.at, stop.until));
        }
    }
    let mut overlapped = 0;
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.0 == b.0 && a.1 != b.1 && a.2 < b.3 && b.2 < a.3 {
                overlapped += 1;
                eprintln!("node {} in {} and {} at once", a.0, a.1, b.1);
            }
        }
    }
    assert_eq!(overlapped, 0);
    // And pairs did run side by side (on disjoint nodes).
    assert!(
        results
            .iter()
            .any(|r| r["concurrent_pairs"].as_u64() > Some(1)),
        "nothing ran side by side"
    );
}

/// A path whose workers are not there is refused before any pair, naming the node and the fix;
/// so is the service path without Service addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_the_workers_a_path_needs_is_refused() {
    let pods: Vec<Played> = (1..=2)
        .flat_map(node)
        .filter(|w| w.placement == Placement::Pod)
        .collect();
    let (out, file, seen) = run_with(
        "paths3",
        pods.clone(),
        Duration::ZERO,
        &["--paths", "pod,host"],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("node node-1 has no host worker") && err.contains("--placement host"),
        "{err}"
    );
    assert!(seen.is_empty(), "no task before the refusal: {seen:?}");
    assert_eq!(file.unwrap()["results"].as_array().unwrap().len(), 0);

    let without_vip: Vec<Played> = pods
        .into_iter()
        .map(|w| Played {
            service_ip: None,
            ..w
        })
        .collect();
    let (out, _, seen) = run_with(
        "paths4",
        without_vip,
        Duration::ZERO,
        &["--paths", "service"],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("has no Service address") && err.contains("NETBENCH_SERVICE_IP"),
        "{err}"
    );
    assert!(seen.is_empty());
}

/// A suite whose entries measure different paths, one with samples: every entry, sample and
/// path once, ids unique, the file in run order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_entries_with_their_own_paths_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.yaml");
    std::fs::write(
        &suite,
        "- {benchmark: iperf3-tcp, paths: [host], samples: 2}\n\
         - {benchmark: iperf3-tcp, streams: 2, paths: [same-node, pod]}\n",
    )
    .unwrap();
    let workers: Vec<Played> = (1..=2).flat_map(node).collect();
    let (out, file, _) = run_with(
        "paths5",
        workers,
        Duration::ZERO,
        &["--suite", suite.to_str().unwrap()],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let results = file.unwrap()["results"].as_array().unwrap().clone();
    let got: Vec<(u64, u64, String, String)> = results
        .iter()
        .map(|r| {
            (
                r["entry"].as_u64().unwrap(),
                r["sample"].as_u64().unwrap(),
                text(&r["path"]).to_string(),
                text(&r["task"]["client"]["worker"]).to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, u64, String, String)> = [
        (0, 0, "host", "node-1-host"),
        (0, 0, "host", "node-2-host"),
        (0, 1, "host", ""),
        (0, 1, "host", ""),
        (1, 0, "pod", "node-1"),
        (1, 0, "pod", "node-2"),
        (1, 0, "same-node", "node-1-pod2"),
        (1, 0, "same-node", "node-2-pod2"),
    ]
    .iter()
    .map(|(e, s, p, c)| (*e, *s, p.to_string(), c.to_string()))
    .collect();
    // The second sample's order is a shuffle of the plan: compare it as a set.
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.0, g.1, &g.2), (w.0, w.1, &w.2), "{got:?}");
        if !w.3.is_empty() {
            assert_eq!(g.3, w.3, "{got:?}");
        }
    }
    let ids: std::collections::HashSet<&str> = results.iter().map(|r| text(&r["pair"])).collect();
    assert_eq!(ids.len(), 8, "unique ids: {ids:?}");
    let index: Vec<u64> = results
        .iter()
        .map(|r| r["plan_index"].as_u64().unwrap())
        .collect();
    assert_eq!(index, (0..8).collect::<Vec<u64>>());
}

/// The same-node path needs one node, not two: a single-node cluster measures it (and is told
/// why when it asks for a path across nodes too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_node_alone_runs_on_a_single_node() {
    let one: Vec<Played> = node(1)
        .into_iter()
        .filter(|w| w.placement != Placement::Host)
        .collect();
    let (out, file, _) = run_with(
        "paths6",
        one.clone(),
        Duration::ZERO,
        &["--paths", "same-node"],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let results = file.unwrap()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["path"], "same-node");
    assert_eq!(results[0]["task"]["client"]["worker"], "node-1-pod2");
    assert_eq!(results[0]["task"]["server"]["worker"], "node-1");

    let (out, _, seen) =
        run_with("paths7", one, Duration::ZERO, &["--paths", "pod,same-node"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs at least two nodes"), "{err}");
    assert!(seen.is_empty());
}
