//! A three-server NATS cluster (`netbench local --nats-cluster 3`, or one the test starts):
//! the server the orchestrator is connected to is killed with SIGKILL mid-run, restarted, or
//! down before the run starts. Every pair must be in the results file and in the stream
//! exactly once, read back from the survivors. Real nats-server processes, real kill -9.

mod support;

use netbench_bus::jetstream::{Store, StoreConfig};
use netbench_bus::NatsArgs;
use netbench_local::nats_server::{self, monitor_json, NatsCluster};
use netbench_proto::RunId;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;

/// One member of the cluster `netbench local` started, from its line
/// `NATS cluster: NAME pid PID at URL (monitor MON, store DIR)`. Dropping it kills the process
/// (it is left running by --keep-nats) and removes its store.
#[derive(Debug)]
struct Member {
    name: String,
    pid: i32,
    url: String,
    monitor: String,
    store: PathBuf,
    /// Set when the test started it again itself.
    restarted: Option<Child>,
}

impl Member {
    fn parse(line: &str) -> Option<Member> {
        let rest = line.strip_prefix("NATS cluster: ")?;
        let (name, rest) = rest.split_once(" pid ")?;
        let (pid, rest) = rest.split_once(" at ")?;
        let (url, rest) = rest.split_once(" (monitor ")?;
        let (monitor, rest) = rest.split_once(", store ")?;
        let store = rest.strip_suffix(')')?;
        Some(Member {
            name: name.into(),
            pid: pid.parse().ok()?,
            url: url.into(),
            monitor: monitor.into(),
            store: store.into(),
            restarted: None,
        })
    }

    fn kill9(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        // Not our child (netbench local started it): wait for /proc to let it go.
        let limit = Instant::now() + Duration::from_secs(5);
        while PathBuf::from(format!("/proc/{}/cmdline", self.pid)).exists()
            && std::fs::read(format!("/proc/{}/cmdline", self.pid))
                .map(|c| !c.is_empty())
                .unwrap_or(false)
            && Instant::now() < limit
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Start the server again as `netbench local` did: same config, ports and store.
    fn restart(&mut self) {
        let bin = nats_server::locate(None).unwrap();
        let listen = self.url.trim_start_matches("nats://").to_string();
        let log = std::fs::File::create(self.store.join("restarted.log")).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(self.store.join("nats-server.conf"))
            .env("NETBENCH_NATS_LISTEN", &listen)
            .env("NETBENCH_NATS_HTTP", "127.0.0.1:-1")
            .env("NETBENCH_NATS_STORE", self.store.join("store"))
            .env("NETBENCH_NATS_NAME", &self.name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.pid = child.id() as i32;
        self.restarted = Some(child);
        // Its new monitor port, from its log.
        let limit = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(self.store.join("restarted.log")).unwrap();
            if let Some(addr) = log.split("Starting http monitor on ").nth(1) {
                if log.contains("Server is ready") {
                    self.monitor = format!("http://{}", addr.lines().next().unwrap().trim());
                    return;
                }
            }
            assert!(Instant::now() < limit, "restarted server not ready: {log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut c) = self.restarted.take() {
            let _ = c.kill();
            let _ = c.wait();
        } else if std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|c| String::from_utf8_lossy(&c).contains(&*self.store.to_string_lossy()))
            .unwrap_or(false)
        {
            self.kill9();
        }
        if self.store.starts_with(std::env::temp_dir()) {
            let _ = std::fs::remove_dir_all(&self.store);
        }
    }
}

/// Whether the server at `monitor` has a client connection whose name starts with `prefix`.
fn has_connection(monitor: &str, prefix: &str) -> bool {
    monitor_json(monitor, "/connz?limit=1000")
        .and_then(|v| v["connections"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .any(|c| c["name"].as_str().unwrap_or("").starts_with(prefix))
}

/// The results of `run` in the stream, read through the server at `url` only (observer login).
async fn stored_results(url: &str, user: &str, password: &str, run: &RunId) -> Vec<Value> {
    let args = NatsArgs {
        url: url.into(),
        user: Some(user.into()),
        password: Some(password.into()),
        ..Default::default()
    };
    let client = netbench_bus::connect(&args, "test reader", &Default::default())
        .await
        .unwrap();
    assert_eq!(
        client.server_info().port,
        url.rsplit(':').next().unwrap().parse::<u16>().unwrap(),
        "connected to that very server"
    );
    let store = Store::open_existing(client).await.unwrap();
    store
        .results(run)
        .await
        .unwrap()
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

fn pairs_once(results: &[Value]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in results {
        *seen
            .entry(r["pair"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_orchestrators_server_mid_run_loses_no_pair_and_a_restart_catches_up() {
    assert!(is_root(), "needs root (network namespaces)");
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    let mut child = netbench()
        .args([
            "local",
            "--nats-cluster",
            "3",
            "--nodes",
            "3",
            "--duration",
            "2s",
        ])
        .args(["--subnet", "198.18.90.0/24", "--keep-nats", "--results"])
        .arg(&results)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let tx2 = tx.clone();
    let readers = [
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        }),
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(l);
            }
        }),
    ];
    let mut members: Vec<Member> = Vec::new();
    let mut seen = Vec::new();
    let mut killed = None;
    let mut kill_time = None;
    for line in rx.iter() {
        eprintln!("| {line}");
        seen.push(line.clone());
        if let Some(m) = Member::parse(&line) {
            members.push(m);
        }
        // Two pairs done and the third one under way (its client's reply still to come):
        // kill the server the orchestrator is connected to.
        if line.starts_with("[2/6]") && killed.is_none() {
            std::thread::sleep(Duration::from_millis(1200));
            assert_eq!(members.len(), 3, "three servers announced");
            let i = members
                .iter()
                .position(|m| has_connection(&m.monitor, "netbench-orchestrator"))
                .expect("the orchestrator is connected to one of the servers");
            eprintln!("kill -9 {} (pid {})", members[i].name, members[i].pid);
            members[i].kill9();
            killed = Some(i);
            kill_time = Some(chrono_now());
        }
    }
    for r in readers {
        r.join().unwrap();
    }
    let status = child.wait().unwrap();
    let killed = killed.expect("the run got to its second pair");
    assert_eq!(
        status.code(),
        Some(0),
        "the run completes: {}",
        seen.join("\n")
    );

    // The results file: every pair once, every one ok, some finished after the kill.
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    let once = pairs_once(entries);
    assert_eq!(entries.len(), 6, "{once:?}");
    assert!(once.values().all(|&n| n == 1), "{once:?}");
    for e in entries {
        assert_eq!(e["status_name"], "ok", "{}", e["pair"]);
    }
    let kill_time = kill_time.unwrap();
    let next = entries
        .iter()
        .filter_map(|e| e["finished_at"].as_str())
        .filter(|f| *f > kill_time.as_str())
        .min()
        .unwrap_or("-");
    eprintln!("killed at {kill_time}; the next pair finished at {next}");
    assert!(
        entries
            .iter()
            .any(|e| e["finished_at"].as_str().unwrap() > kill_time.as_str()),
        "some pairs ran after the kill"
    );

    // The stream, read through each survivor alone.
    let run: RunId = entries[0]["run"].as_str().unwrap().parse().unwrap();
    // The observer login `--keep-nats` printed (`nats --server … --user U --password P …`).
    let command = seen
        .iter()
        .find(|l| l.contains("--user observer --password "))
        .expect("--keep-nats prints the observer login");
    let words: Vec<&str> = command.split_whitespace().collect();
    let after = |flag: &str| words[words.iter().position(|w| *w == flag).unwrap() + 1].to_string();
    let (user, password) = (after("--user"), after("--password"));
    for (i, m) in members.iter().enumerate().filter(|(i, _)| *i != killed) {
        let stored = stored_results(&m.url, &user, &password, &run).await;
        let once = pairs_once(&stored);
        assert_eq!(stored.len(), 6, "through {} ({i}): {once:?}", m.name);
        assert!(once.values().all(|&n| n == 1), "{once:?}");
    }

    // Restart the killed server on its old store: it catches up, and a reader connected to it
    // sees every result.
    members[killed].restart();
    let m = &members[killed];
    let limit = Instant::now() + Duration::from_secs(30);
    let leader_last = |v: &Value| -> Option<u64> {
        v["account_details"]
            .as_array()?
            .iter()
            .flat_map(|a| a["stream_detail"].as_array().cloned().unwrap_or_default())
            .find(|s| s["name"] == "NETBENCH")?["state"]["last_seq"]
            .as_u64()
    };
    let other = &members[(killed + 1) % 3];
    let want =
        leader_last(&monitor_json(&other.monitor, "/jsz?streams=true&accounts=true").unwrap())
            .expect("a survivor holds the stream");
    loop {
        let here = monitor_json(&m.monitor, "/jsz?streams=true&accounts=true")
            .and_then(|v| leader_last(&v));
        if here == Some(want) {
            break;
        }
        assert!(
            Instant::now() < limit,
            "restarted {} has the stream up to {here:?}, the others {want}",
            m.name
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = stored_results(&m.url, &user, &password, &run).await;
    assert_eq!(stored.len(), 6, "through the restarted {}", m.name);
    assert!(pairs_once(&stored).values().all(|&n| n == 1));
}

/// RFC 3339 UTC now, as the results' `finished_at` (comparable as text).
fn chrono_now() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%NZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The run's stream and bucket, 3 replicas, on `cluster`: opened (made when missing) by a
/// client named `name`.
async fn replicated_store(cluster: &NatsCluster, name: &str) -> Store {
    let args = NatsArgs {
        url: cluster.url(),
        store: StoreConfig {
            replicas: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let client = netbench_bus::connect(&args, name, &Default::default())
        .await
        .unwrap();
    Store::open_with(client, &args.store).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_starts_with_one_server_of_three_down() {
    assert!(is_root(), "needs root (network namespaces)");
    let bin = nats_server::locate(None).unwrap();
    let mut cluster = NatsCluster::start(&bin, 3, "").unwrap();
    // The stream exists from an earlier run (replicated on all three), then one server dies.
    replicated_store(&cluster, "setup").await;
    cluster.kill(0);
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    // The dead server first in the list: clients must move on to the others.
    let out = run(netbench()
        .args([
            "local",
            "--nats-url",
            &cluster.url(),
            "--stream-replicas",
            "3",
        ])
        .args([
            "--nodes",
            "2",
            "--duration",
            "1s",
            "--subnet",
            "198.18.91.0/24",
        ])
        .arg("--results")
        .arg(&results));
    assert_eq!(out.status.code(), Some(0));
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e["status_name"] == "ok"));
}

/// A nats-server that tries to join the cluster through member 0's route port with `route`
/// (`nats-route://…`); returns how many routes member 0 then has.
fn routes_after_joining(cluster: &NatsCluster, route: &str) -> u64 {
    let bin = nats_server::locate(None).unwrap();
    let store = tempfile::tempdir().unwrap();
    let mut joiner = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", "-1", "--cluster_name", "netbench"])
        .args(["--cluster", "nats://127.0.0.1:-1", "--routes", route])
        .arg("--store_dir")
        .arg(store.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let monitor = cluster.server(0).unwrap().monitor.clone();
    let routes = || {
        monitor_json(&monitor, "/routez")
            .and_then(|v| v["num_routes"].as_u64())
            .unwrap_or(0)
    };
    // Give it time to connect (a refused route is retried every second).
    let limit = Instant::now() + Duration::from_secs(4);
    let before = routes();
    while routes() == before && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(100));
    }
    let n = routes();
    let _ = joiner.kill();
    let _ = joiner.wait();
    n
}

#[test]
fn routes_take_only_servers_with_the_runs_route_password() {
    let bin = nats_server::locate(None).unwrap();
    let cluster = NatsCluster::start(&bin, 3, "").unwrap();
    let peers = monitor_json(&cluster.server(0).unwrap().monitor, "/routez").unwrap()["num_routes"]
        .as_u64()
        .unwrap();
    assert!(peers >= 2, "member 0 routes to the two others: {peers}");
    let addr = cluster.route(0).to_string();
    let refused = routes_after_joining(&cluster, &format!("nats-route://{addr}"));
    assert_eq!(refused, peers, "a server without the password did not join");
    let wrong = routes_after_joining(&cluster, &format!("nats-route://route:guess@{addr}"));
    assert_eq!(wrong, peers, "nor with a wrong one");
    let (user, password) = cluster.route_login();
    let joined = routes_after_joining(&cluster, &format!("nats-route://{user}:{password}@{addr}"));
    assert!(
        joined > peers,
        "with the password it joins: {joined} routes"
    );
}

/// A freshly made cluster: the replicated stream exists, its leaders are still being elected,
/// and a reader (the orchestrator's look for stored results, as it starts) must wait that out,
/// not fail with "503" (a full local run on a busy machine: "cannot read results: error while
/// processing messages from the stream: 503" from the first fetch of a just-created consumer).
#[tokio::test]
async fn results_are_read_back_while_a_fresh_cluster_elects_its_leaders() {
    let bin = nats_server::locate(None).unwrap();
    for round in 0..5 {
        let cluster = NatsCluster::start(&bin, 3, "").unwrap();
        cluster.wait_healthy(Duration::from_secs(20)).unwrap();
        let store = replicated_store(&cluster, "writer").await;
        let run: RunId = format!("fresh{round}").parse().unwrap();
        // Right after the stream was made: nothing stored yet, and no error.
        let mut none = 0;
        store
            .each_result(&run, |_| none += 1)
            .await
            .unwrap_or_else(|e| panic!("round {round}, just made: {e}"));
        assert_eq!(none, 0);
        const N: usize = 6;
        for i in 0..N {
            let mut r = netbench_metrics::testkit::fixture_pair("iperf3-tcp", "ok", "a", "b");
            r.run = run.clone();
            r.pair = format!("p{i}");
            store
                .publish(
                    netbench_proto::subjects::result(&run, &r.benchmark),
                    Some(netbench_proto::subjects::result_msg_id(&run, &r.pair)),
                    &r,
                )
                .await
                .unwrap();
        }
        // At once, on a second connection (as the orchestrator): every result, once.
        let store = replicated_store(&cluster, "orchestrator").await;
        let mut seen = Vec::new();
        store
            .each_result(&run, |r| seen.push(r.pair))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        seen.sort();
        let mut want: Vec<String> = (0..N).map(|i| format!("p{i}")).collect();
        want.sort();
        assert_eq!(seen, want, "round {round}");
    }
}

#[test]
fn per_role_logins_and_tls_work_on_the_cluster() {
    assert!(is_root(), "needs root (network namespaces)");
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let out = run(netbench()
        .args(["local", "--nats-cluster", "3", "--tls", "--nodes", "2"])
        .args([
            "--duration",
            "1s",
            "--subnet",
            "198.18.92.0/24",
            "--results",
        ])
        .arg(&results));
    assert_eq!(out.status.code(), Some(0));
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e["status_name"] == "ok"));
}
