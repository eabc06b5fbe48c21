//! One netbench run as real processes: an orchestrator in the host namespace, one worker per
//! node (pinned when asked), NATS events followed as they come, the results file read back.
//!
//! Unlike `netbench local`, NATS listens on the testbed's gateway address itself, so workers
//! reach it without the relay (one hop less; a cluster has no relay either), and the worker
//! processes are started here, so they can be pinned to CPUs.

use crate::broker::Broker;
use crate::procs::{self, Place, Proc};
use crate::PerfError;
use futures::StreamExt;
use netbench_local::testbed::{Layout, Subnet, Testbed};
use netbench_proto::{subjects, Event, PairResult, ResultsFile, RunId};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Namespaces on 198.18.X.0/24 and a nats-server (or a cluster of them) on their gateway.
pub struct Bed {
    pub netbench: PathBuf,
    pub bus: async_nats::Client,
    pub url: String,
    pub logs: tempfile::TempDir,
    // Dropped in this order: the server(s), then the namespaces.
    pub nats: Broker,
    pub testbed: Testbed,
}

/// Connect to NATS (the harness only listens; it never publishes). `url` may list several
/// servers, comma-separated (a cluster): the client fails over between them.
pub async fn connect(url: &str) -> Result<async_nats::Client, PerfError> {
    let urls: Vec<&str> = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    async_nats::ConnectOptions::new()
        .name("netbench-perf")
        .connect(urls)
        .await
        .map_err(|e| PerfError::Bus(format!("cannot connect to {url}: {e}")))
}

impl Bed {
    pub async fn create(
        netbench: &Path,
        nats_binary: Option<&Path>,
        third_octet: u8,
        nodes: usize,
    ) -> Result<Bed, PerfError> {
        Self::create_with(netbench, nats_binary, third_octet, nodes, 1).await
    }

    /// [`Bed::create`] with `servers` clustered nats-servers (1: a single one), every one's
    /// client port on the gateway.
    pub async fn create_with(
        netbench: &Path,
        nats_binary: Option<&Path>,
        third_octet: u8,
        nodes: usize,
        servers: usize,
    ) -> Result<Bed, PerfError> {
        let subnet = Subnet {
            second: 18,
            third: third_octet,
        };
        let tag = format!("pf{third_octet}");
        // Nodes only: the harness runs netbench's workers and the bare tools alike in the
        // nodes' own namespaces, so P1 compares like with like.
        let testbed = Testbed::create(&tag, subnet, nodes, &Layout::nodes_only())?;
        let nats = Broker::start(nats_binary, servers, &subnet.gateway().to_string())?;
        let url = nats.url().to_string();
        let bus = connect(&url).await?;
        let logs = temp_dir("netbench-perf-logs-")?;
        Ok(Bed {
            netbench: netbench.to_path_buf(),
            bus,
            url,
            logs,
            nats,
            testbed,
        })
    }
}

pub fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, PerfError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| PerfError::Run(format!("temp dir: {e}")))
}

/// A worker to start: its name, the IP it announces, and where it runs.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub name: String,
    pub ip: std::net::IpAddr,
    pub place: Place,
}

fn log_file(dir: &Path, name: &str) -> Result<(Stdio, Stdio), PerfError> {
    let path = dir.join(format!("{name}.log"));
    let f = std::fs::File::create(&path).map_err(|source| PerfError::File {
        what: "cannot create log",
        path: path.clone(),
        source,
    })?;
    let g = f.try_clone().map_err(|source| PerfError::File {
        what: "cannot open log",
        path,
        source,
    })?;
    Ok((f.into(), g.into()))
}

/// `netbench worker` for `w`, exiting with the harness.
pub fn worker_command(
    netbench: &Path,
    url: &str,
    run: &RunId,
    w: &WorkerSpec,
    log: Option<&Path>,
) -> Result<Command, PerfError> {
    let mut c = procs::command(&w.place, netbench);
    c.arg("worker")
        .args(["--nats-url", url, "--run", run.as_str(), "--name", &w.name])
        .args(["--ip", &w.ip.to_string(), "--zone", "perf"])
        .args(["--deadline", "2h", "--exit-with-parent"]);
    match log {
        Some(dir) => {
            let (out, err) = log_file(dir, &w.name)?;
            c.stdout(out).stderr(err);
        }
        None => {
            c.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    Ok(c)
}

/// What an orchestrator is asked to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    pub bench: &'a str,
    pub workers: usize,
    pub duration: u32,
    /// Replicas of the stream and bucket (`--stream-replicas`; 1: the orchestrator's default).
    pub replicas: usize,
}

/// `netbench orchestrator` for `run`, its log in `logs`.
pub fn orchestrator_command(
    netbench: &Path,
    url: &str,
    run: &RunId,
    plan: Plan<'_>,
    results: &Path,
    logs: &Path,
) -> Result<Command, PerfError> {
    let mut c = procs::command(&Place::default(), netbench);
    let (out, err) = log_file(logs, &format!("orchestrator-{run}"))?;
    c.arg("orchestrator")
        .args(["--nats-url", url, "--run", run.as_str()])
        .args(["--benchmark", plan.bench])
        .args(["--workers", &plan.workers.to_string()])
        .args(["--duration", &plan.duration.to_string(), "--timeout", "60s"])
        .args(["--deadline", "2h"]);
    if plan.replicas > 1 {
        c.args(["--stream-replicas", &plan.replicas.to_string()]);
    }
    c.arg("--results").arg(results).stdout(out).stderr(err);
    Ok(c)
}

/// What one run left behind.
#[derive(Debug)]
pub struct RunRecord {
    pub run: RunId,
    pub results: Vec<PairResult>,
    /// Every event of the run, in the order received.
    pub events: Vec<Event>,
    pub exit_code: Option<i32>,
    /// Orchestrator process: from spawn to exit.
    pub process_seconds: f64,
    /// Every message of the server, when tapped (see [`crate::profile`]).
    pub seen: Vec<crate::profile::Seen>,
}

impl RunRecord {
    /// From the first `pair_started` to `run_finished`, on the orchestrator's clock.
    pub fn pairs_wall_seconds(&self) -> Option<f64> {
        use netbench_proto::EventKind::{PairStarted, RunFinished};
        let first = self
            .events
            .iter()
            .find(|e| matches!(e.kind, PairStarted { .. }))?;
        let end = self
            .events
            .iter()
            .find(|e| matches!(e.kind, RunFinished { .. }))?;
        Some((end.time - first.time).as_seconds_f64())
    }
}

/// Run `bench` over `workers`, each test `duration` seconds, and collect everything; with
/// `tap`, every message on the server too.
pub async fn run(
    bed: &Bed,
    bench: &str,
    workers: &[WorkerSpec],
    duration: u32,
    tap: bool,
) -> Result<RunRecord, PerfError> {
    let run = RunId::generate();
    let subscribe = |subject: String| async {
        bed.bus
            .subscribe(subject)
            .await
            .map_err(|e| PerfError::Bus(format!("cannot subscribe: {e}")))
    };
    let mut events = subscribe(subjects::event(&run)).await?;
    let mut wiretap = match tap {
        true => Some(subscribe(">".to_string()).await?),
        false => None,
    };
    let mut seen = Vec::new();
    bed.bus
        .flush()
        .await
        .map_err(|e| PerfError::Bus(e.to_string()))?;
    let results_path = bed.logs.path().join(format!("results-{run}.json"));
    let started = Instant::now();
    let tapped = async |tap: &mut Option<async_nats::Subscriber>| match tap {
        Some(t) => t.next().await,
        None => std::future::pending().await,
    };
    let mut orch = Proc::spawn(
        "orchestrator",
        &mut orchestrator_command(
            &bed.netbench,
            &bed.url,
            &run,
            Plan {
                bench,
                workers: workers.len(),
                duration,
                replicas: bed.nats.replicas(),
            },
            &results_path,
            bed.logs.path(),
        )?,
    )?;
    let mut procs = Vec::new();
    for w in workers {
        let mut c = worker_command(&bed.netbench, &bed.url, &run, w, Some(bed.logs.path()))?;
        procs.push(Proc::spawn(format!("worker {}", w.name), &mut c)?);
    }
    let pairs = workers.len() * workers.len().saturating_sub(1);
    let limit = Duration::from_secs(120 + pairs as u64 * (u64::from(duration) * 3 + 30));
    let mut got = Vec::new();
    let status = loop {
        tokio::select! {
            s = orch.child().wait() => break s.ok(),
            Some(msg) = events.next() => {
                if let Ok(e) = serde_json::from_slice::<Event>(&msg.payload) { got.push(e); }
            }
            Some(msg) = tapped(&mut wiretap) => {
                seen.push(crate::profile::Seen::from_message(started.elapsed().as_secs_f64(), &msg));
            }
            _ = tokio::time::sleep(limit.saturating_sub(started.elapsed())) => break None,
        }
    };
    let process_seconds = started.elapsed().as_secs_f64();
    let _ = bed.bus.flush().await;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(100), events.next()).await
    {
        if let Ok(e) = serde_json::from_slice::<Event>(&msg.payload) {
            got.push(e);
        }
    }
    procs::stop_all(procs).await;
    let Some(status) = status else {
        let _ = orch.stop().await;
        return Err(PerfError::Run(format!(
            "run {run} of {bench} did not finish within {limit:?}; logs in {}",
            bed.logs.path().display()
        )));
    };
    let text = std::fs::read_to_string(&results_path).map_err(|source| PerfError::File {
        what: "no results file (see the orchestrator log beside it)",
        path: results_path.clone(),
        source,
    })?;
    let file: ResultsFile = serde_json::from_str(&text)
        .map_err(|e| PerfError::Run(format!("{}: {e}", results_path.display())))?;
    let failed: Vec<String> = file
        .results
        .iter()
        .filter(|r| r.task.status != netbench_proto::Status::Ok)
        .map(|r| {
            format!(
                "{}: {}",
                r.pair,
                r.error.as_deref().unwrap_or(&r.status_name)
            )
        })
        .collect();
    if !failed.is_empty() {
        eprintln!(
            "warning: {} pair(s) of run {run} failed: {}",
            failed.len(),
            failed.join("; ")
        );
    }
    Ok(RunRecord {
        run,
        results: file.results,
        events: got,
        exit_code: status.code(),
        process_seconds,
        seen,
    })
}
