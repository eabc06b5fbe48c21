//! Faults, none of which may lose a finished result: a worker killed mid-task, the orchestrator
//! killed mid-run and restarted with the same run id, nats-server restarted mid-run on the same
//! store, SIGTERM and the deadline on `netbench local`. Real processes, real kill -9.

mod support;

use futures::StreamExt;
use netbench_bus::auth::RunCredentials;
use netbench_bus::NatsArgs;
use netbench_local::nats_server::{self, NatsServer};
use netbench_local::testbed::{Layout, Subnet, Testbed};
use netbench_local::workers::{WorkerLaunch, Workers};
use netbench_proto::{RunId, WorkerId};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;
use support::*;
use tokio_util::sync::CancellationToken;

/// Nodes in namespaces, a real authenticated nats-server, the relay, and one worker per node.
struct Bed {
    run: RunId,
    creds: RunCredentials,
    nats: Option<NatsServer>,
    url: String,
    workers: Workers,
    _logs: tempfile::TempDir,
    relay_stop: CancellationToken,
    // Dropped last: the namespaces go after the processes in them.
    _testbed: Testbed,
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.relay_stop.cancel();
        self.workers.stop();
    }
}

impl Bed {
    async fn new(run: &str, octet: u8, nodes: usize) -> Bed {
        assert!(is_root(), "fault tests need root (network namespaces)");
        let run: RunId = run.parse().unwrap();
        // The pod path: a pod worker `node-<i>` in each node's pod.
        let layout = Layout::for_paths(Default::default(), &[]);
        let subnet = Subnet::parse(&format!("198.18.{octet}.0/24")).unwrap();
        let tag = &run.as_str()[..6];
        let ids: Vec<WorkerId> = layout
            .workers(tag, subnet, nodes)
            .iter()
            .map(|w| WorkerId::for_name(&w.name))
            .collect();
        let creds = RunCredentials::generate(&run, &ids);
        let nats =
            NatsServer::start_with_auth(&nats_server::locate(None).unwrap(), &creds.render())
                .unwrap();
        let url = nats.url.clone();
        let testbed = Testbed::create(tag, subnet, nodes, &layout).unwrap();
        let relay_stop = CancellationToken::new();
        let relay = netbench_local::relay::start(
            SocketAddr::new(subnet.gateway().into(), 4222),
            url.trim_start_matches("nats://").to_string(),
            relay_stop.clone(),
        )
        .await
        .unwrap();
        let logs = tempfile::tempdir().unwrap();
        let workers = Workers::start(
            &testbed.workers(),
            &WorkerLaunch {
                exe: &bin_path(),
                nats_url: &format!("nats://{relay}"),
                run: &run,
                deadline: Duration::from_secs(600),
                log_dir: logs.path(),
                credentials: Some(&creds),
                tls_ca: None,
                zones: None,
                user_auth: None,
            },
        )
        .unwrap();
        Bed {
            run,
            creds,
            nats: Some(nats),
            url,
            workers,
            _logs: logs,
            relay_stop,
            _testbed: testbed,
        }
    }

    fn args(&self, login: &netbench_bus::auth::Login) -> NatsArgs {
        NatsArgs {
            connect_wait: Default::default(),
            url: self.url.clone(),
            ..Default::default()
        }
        .with_login(login)
    }

    /// Start the orchestrator as its own process, logged in as the orchestrator.
    fn orchestrator(&self, nodes: usize, duration: u32, results: &std::path::Path) -> Child {
        self.orchestrator_with(nodes, duration, results, &[])
    }

    fn orchestrator_with(
        &self,
        nodes: usize,
        duration: u32,
        results: &std::path::Path,
        extra: &[&str],
    ) -> Child {
        let expect: Vec<String> = (1..=nodes).map(|i| format!("node-{i}")).collect();
        netbench()
            .args([
                "orchestrator",
                "--nats-url",
                &self.url,
                "--run",
                self.run.as_str(),
                "--benchmark",
                "iperf3-tcp",
            ])
            .args([
                "--workers",
                &nodes.to_string(),
                "--duration",
                &duration.to_string(),
                "--timeout",
                "60s",
            ])
            .args(["--expect", &expect.join(",")])
            .arg("--results")
            .arg(results)
            .args(extra)
            .env("NATS_USER", &self.creds.orchestrator.user)
            .env("NATS_PASSWORD", &self.creds.orchestrator.password)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// A subscription to the run's events, as the observer.
    async fn events(&self) -> (async_nats::Client, async_nats::Subscriber) {
        let client = netbench_bus::connect(
            &self.args(&self.creds.observer),
            "test observer",
            &Default::default(),
        )
        .await
        .unwrap();
        let sub = client
            .subscribe(netbench_proto::subjects::event(&self.run))
            .await
            .unwrap();
        client.flush().await.unwrap();
        (client, sub)
    }

    /// Every result of the run in the stream, read as the observer.
    async fn stored_results(&self) -> Vec<Value> {
        let client = async_nats::ConnectOptions::with_user_and_password(
            self.creds.observer.user.clone(),
            self.creds.observer.password.clone(),
        )
        // The observer's replies come only on its own inbox prefix.
        .custom_inbox_prefix(format!("_INBOX_{}", self.creds.observer.user))
        .connect(&self.url)
        .await
        .unwrap();
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("NETBENCH").await.unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                filter_subject: format!("netbench.{}.result.>", self.run),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        let mut batch = consumer.fetch().max_messages(100).messages().await.unwrap();
        while let Some(Ok(m)) = batch.next().await {
            out.push(serde_json::from_slice(&m.payload).unwrap());
        }
        out
    }
}

/// Wait for an event of `kind` with `index` (pair events) or any (others).
async fn wait_event(sub: &mut async_nats::Subscriber, kind: &str, index: Option<u64>) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(120), sub.next())
            .await
            .expect("event in time")
            .expect("subscription open");
        let v: Value = serde_json::from_slice(&msg.payload).unwrap();
        if v["event"] == kind && (index.is_none() || v["index"].as_u64() == index) {
            return v;
        }
    }
}

async fn wait_child(mut child: Child) -> i32 {
    tokio::task::spawn_blocking(move || child.wait().unwrap().code().unwrap_or(-1))
        .await
        .unwrap()
}

fn kill9(pid: u32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

fn by_pair(results: &[Value]) -> HashMap<(String, String), Value> {
    results
        .iter()
        .map(|r| {
            let c = r["task"]["client"]["worker"].as_str().unwrap().to_string();
            let s = r["task"]["server"]["worker"].as_str().unwrap().to_string();
            ((c, s), r.clone())
        })
        .collect()
}

fn pair(c: u8, s: u8) -> (String, String) {
    (format!("node-{c}"), format!("node-{s}"))
}

#[tokio::test]
async fn worker_killed_mid_task_is_recorded_lost_and_the_run_goes_on() {
    let bed = Bed::new("faultworker1", 30, 3).await;
    let (_c, mut events) = bed.events().await;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let orch = bed.orchestrator(3, 3, &results);
    // Pair 2 is node-1 -> node-3: kill node-3 (the server) one second into it.
    wait_event(&mut events, "pair_started", Some(2)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, pid) = bed
        .workers
        .pids()
        .into_iter()
        .find(|(n, _)| n == "node-3")
        .unwrap();
    kill9(pid);
    let started = std::time::Instant::now();
    assert_eq!(
        wait_child(orch).await,
        1,
        "the run completes with failed pairs"
    );
    // Nothing hangs: the later node-3 pairs are recorded at once.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );

    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), 6, "every pair recorded, none dropped");
    let pairs = by_pair(entries);
    for ok in [pair(1, 2), pair(2, 1)] {
        assert_eq!(
            pairs[&ok]["task"]["status"], 0,
            "{ok:?}: {}",
            pairs[&ok]["error"]
        );
    }
    // The pair whose server's worker died is recorded too: its tool may have finished (a killed
    // worker's tools are not its children's keepers; in Kubernetes the container goes with it),
    // then it has real metrics, or it failed, then it has none.
    let p13 = &pairs[&pair(1, 3)];
    let metrics = p13["metrics"].as_array().unwrap();
    assert_eq!(p13["task"]["status"] == 0, !metrics.is_empty(), "{p13}");
    for lost in [pair(2, 3), pair(3, 1), pair(3, 2)] {
        assert_eq!(
            pairs[&lost]["task"]["status"], 3,
            "{lost:?} should be worker_lost"
        );
        assert!(pairs[&lost]["metrics"].as_array().unwrap().is_empty());
    }
    assert_eq!(bed.stored_results().await.len(), 6);
}

#[tokio::test]
async fn orchestrator_killed_and_restarted_finishes_each_pair_exactly_once() {
    let bed = Bed::new("faultorch1", 31, 3).await;
    let (_c, mut events) = bed.events().await;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let first = bed.orchestrator(3, 2, &results);
    let first_pid = first.id();
    wait_event(&mut events, "pair_finished", Some(2)).await;
    // Kill it in the middle of pair 3.
    wait_event(&mut events, "pair_started", Some(3)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    kill9(first_pid);
    assert_eq!(wait_child(first).await, -1);
    assert!(!results.exists(), "the killed orchestrator wrote nothing");

    let second = bed.orchestrator(3, 2, &results);
    assert_eq!(
        wait_child(second).await,
        0,
        "the restarted orchestrator finishes the run"
    );
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), 6);
    assert_eq!(
        by_pair(entries).len(),
        6,
        "each pair exactly once in the file"
    );
    assert!(entries.iter().all(|e| e["task"]["status"] == 0));
    let stored = bed.stored_results().await;
    assert_eq!(stored.len(), 6, "each pair exactly once in the stream");
    assert_eq!(by_pair(&stored).len(), 6);
}

#[tokio::test]
async fn orchestrator_killed_and_restarted_with_pairs_side_by_side_runs_each_pair_once() {
    let bed = Bed::new("faultconc1", 35, 6).await;
    let (_c, mut events) = bed.events().await;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let conc = ["--concurrency", "3"];
    let first = bed.orchestrator_with(6, 2, &results, &conc);
    let first_pid = first.id();
    // Kill it with pairs in flight: after four finished, while the next ones run.
    wait_event(&mut events, "pair_finished", Some(4)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    kill9(first_pid);
    assert_eq!(wait_child(first).await, -1);

    let second = bed.orchestrator_with(6, 2, &results, &conc);
    assert_eq!(
        wait_child(second).await,
        0,
        "the restarted orchestrator finishes the run"
    );
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), 30);
    assert_eq!(
        by_pair(entries).len(),
        30,
        "each pair exactly once in the file"
    );
    assert!(
        entries.iter().all(|e| e["task"]["status"] == 0),
        "{entries:?}"
    );
    assert_eq!(file["run"]["concurrency"], 3);
    assert!(
        entries
            .iter()
            .any(|e| e["concurrent_pairs"].as_u64() > Some(1)),
        "pairs ran side by side"
    );
    let stored = bed.stored_results().await;
    assert_eq!(stored.len(), 30, "each pair exactly once in the stream");
    assert_eq!(by_pair(&stored).len(), 30);
}

/// A worker that died while its orchestrator was down does not hold the restarted one up: it
/// waits a few seconds for the roll call, then records that worker's pairs as lost and runs
/// the rest. Before, it waited the whole --timeout and then failed the run.
#[tokio::test]
async fn a_restarted_orchestrator_goes_on_without_a_worker_that_died_meanwhile() {
    let bed = Bed::new("faultgone1", 36, 3).await;
    let (_c, mut events) = bed.events().await;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let first = bed.orchestrator(3, 1, &results);
    let first_pid = first.id();
    // node-1 -> node-2 and node-1 -> node-3 are stored: node-3 is known to the run.
    wait_event(&mut events, "pair_finished", Some(2)).await;
    kill9(first_pid);
    assert_eq!(wait_child(first).await, -1);
    let (_, pid) = bed
        .workers
        .pids()
        .into_iter()
        .find(|(n, _)| n == "node-3")
        .unwrap();
    kill9(pid);

    let started = std::time::Instant::now();
    let second = bed.orchestrator(3, 1, &results);
    assert_eq!(
        wait_child(second).await,
        1,
        "the run ends with failed pairs"
    );
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "the restarted orchestrator waited {:?} (its --timeout is 60 s)",
        started.elapsed()
    );
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    let pairs = by_pair(entries);
    assert_eq!(entries.len(), 6);
    assert_eq!(pairs.len(), 6, "each pair once");
    for ok in [pair(1, 2), pair(1, 3), pair(2, 1)] {
        assert_eq!(
            pairs[&ok]["task"]["status"], 0,
            "{ok:?}: {}",
            pairs[&ok]["error"]
        );
    }
    for lost in [pair(2, 3), pair(3, 1), pair(3, 2)] {
        assert_eq!(
            pairs[&lost]["task"]["status"], 3,
            "{lost:?}: {}",
            pairs[&lost]
        );
    }
}

#[tokio::test]
async fn nats_restarted_mid_run_loses_nothing() {
    let mut bed = Bed::new("faultnats1", 32, 3).await;
    let port = bed.nats.as_ref().unwrap().port;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let orch = bed.orchestrator(3, 2, &results);
    {
        let (_c, mut events) = bed.events().await;
        wait_event(&mut events, "pair_finished", Some(2)).await;
        wait_event(&mut events, "pair_started", Some(3)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Stop the server (store kept), wait, start it again on the same port and store.
    let store = bed.nats.take().unwrap().stop_keep_store();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bin = nats_server::locate(None).unwrap();
    bed.nats = Some(
        NatsServer::start_in(
            &bin,
            store,
            &format!("127.0.0.1:{port}"),
            &bed.creds.render(),
        )
        .unwrap(),
    );
    assert_eq!(
        wait_child(orch).await,
        0,
        "every pair succeeds despite the restart"
    );
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), 6);
    assert_eq!(by_pair(entries).len(), 6);
    let stored = bed.stored_results().await;
    assert_eq!(
        stored.len(),
        6,
        "results from before and after the restart, each once"
    );
}

/// SIGTERM to `netbench local` mid-run: exit 4, partial results written, nothing left.
#[test]
fn sigterm_on_local_writes_partial_results_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let mut child = netbench()
        .args([
            "local",
            "--nodes",
            "3",
            "--duration",
            "2",
            "--subnet",
            "198.18.33.0/24",
            "--run",
            "sigterm1",
        ])
        .arg("--results")
        .arg(&results)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    for line in lines.by_ref() {
        if line.unwrap().starts_with("[2/6]") {
            break;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(child.wait().unwrap().code(), Some(4), "{rest:?}");
    let file = read_json(&results);
    let n = file["results"].as_array().unwrap().len();
    assert!(
        (2..6).contains(&n),
        "{n} results: partial, with the finished ones"
    );
    assert_eq!(file["run"]["phase"], "failed");
    assert!(leftover_namespaces("nb-sigter").is_empty());
    let ps = std::process::Command::new("pgrep")
        .args(["-f", "run sigterm1"])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

#[test]
fn deadline_on_local_stops_with_partial_results() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let out = run(netbench()
        .args([
            "local",
            "--nodes",
            "3",
            "--duration",
            "2",
            "--deadline",
            "5s",
            "--subnet",
            "198.18.34.0/24",
            // 6 pairs of 2 s do not fit 5 s: without this the run is refused up front.
            "--allow-partial",
        ])
        .args(["--run", "deadline1", "--results"])
        .arg(&results));
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deadline"));
    let file = read_json(&results);
    let n = file["results"].as_array().unwrap().len();
    assert!((1..6).contains(&n), "{n} results");
    assert!(leftover_namespaces("nb-deadli").is_empty());
}

/// Deleting a run's namespace stops NATS and the workers at once. A worker told to stop after
/// NATS is gone must exit, not wait for a reconnect until the kubelet's SIGKILL.
#[tokio::test]
async fn a_worker_stopped_after_nats_is_gone_exits_without_waiting_for_it() {
    let nats = nats();
    let run = RunId::generate();
    let observer = async_nats::connect(&nats.url).await.unwrap();
    let mut registrations = observer
        .subscribe(netbench_proto::subjects::registrations(&run))
        .await
        .unwrap();
    observer.flush().await.unwrap();
    let worker = netbench()
        .args(["worker", "--nats-url", &nats.url, "--run", run.as_str()])
        .args(["--name", "w1", "--ip", "127.0.0.1"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = worker.id();
    let guard = KillOnDrop(pid);
    // Connected: its registration request arrives (nobody answers; it keeps asking).
    tokio::time::timeout(Duration::from_secs(20), registrations.next())
        .await
        .expect("the worker asks to register")
        .unwrap();
    drop(registrations);
    drop(observer);
    drop(nats);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // Before the fix it never exited: its last flush waited for a reconnect forever.
    let code = tokio::time::timeout(Duration::from_secs(15), wait_child(worker))
        .await
        .expect("the worker exits after SIGTERM although NATS is gone");
    std::mem::forget(guard);
    assert_eq!(code, 0, "a worker asked to stop exits 0");
}

/// SIGKILLs a process if the test fails before it is reaped.
struct KillOnDrop(u32);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
