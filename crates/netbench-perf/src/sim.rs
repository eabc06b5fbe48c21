//! P5 scale with simulated workers: thousands of real worker loops in ONE process
//! (`netbench-perf-workers`, beside this program), each with its own name, its own 127.2.X.Y
//! address and its own NATS connection, answering the `perf-noop` benchmark (idle iperf3
//! server, `true` client) with real tools. The orchestrator is the real `netbench
//! orchestrator` process, so its memory and CPU are read from `/proc`; the nats-server is a
//! real one on loopback, and sees one connection per worker.
//!
//! The worker process runs in a PID namespace of its own (`unshare --pid --fork --mount-proc`),
//! as a pod does: every worker loop runs the orphan reaper, which scans `/proc` once a second,
//! and thousands of reapers scanning the host's `/proc` would take the machine.
//!
//! One *session* is one run: nats-server, orchestrator (`--workers N`, `--concurrency C` when
//! the binary has the flag), then the workers; registration time (spawn → the N-th
//! `worker_joined` event), the first pair after the last join, the dispatch rate over the
//! next `pairs` results, the orchestrator's RSS every `sample_every` results, CPU used by
//! each process, then SIGTERM (partial results written; that write is timed and its peak
//! RSS taken) and every process stopped.

use crate::broker::Broker;
use crate::procs::{self, Place, Proc};
use crate::report::{row, Row};
use crate::runner;
use crate::scale::NOOP;
use crate::{stats, sys, PerfError};
use futures::StreamExt;
use netbench_proto::{subjects, Event, EventKind, RunId};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// The program hosting the simulated workers, built beside `netbench-perf`.
pub const WORKERS_PROGRAM: &str = "netbench-perf-workers";

/// What P5 measures (the CLI fills it; `--quick` shrinks it).
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// One session per size with concurrency 1 (registration, first pair, rate).
    pub sizes: Vec<usize>,
    /// Pairs timed per session.
    pub pairs: usize,
    /// Concurrencies tried at the largest size (1 is the sizes' sessions already).
    pub concurrency: Vec<u32>,
    /// A long session at the largest size and concurrency: RSS through this many pairs, and
    /// the results file of that many pairs (0: none).
    pub long_pairs: usize,
    /// `--plan` given to the orchestrator when it has the flag (None: its default, mesh).
    pub plan: Option<String>,
}

/// What the orchestrator binary offers (from its `--help`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Flags {
    pub concurrency: bool,
    pub plan: bool,
    /// `--allow-partial`: run a plan longer than the deadline (a 1,000-node mesh is).
    pub allow_partial: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sim {
    pub flags: Flags,
    pub sessions: Vec<Session>,
    /// What could not be measured, and why.
    pub skipped: Vec<String>,
}

/// One run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub workers: usize,
    pub concurrency: u32,
    pub plan: String,
    /// Spawning the worker process until it started every worker loop.
    pub spawn_seconds: f64,
    /// Spawning the worker process until the orchestrator announced the N-th worker.
    pub registration_seconds: f64,
    /// After the N-th `worker_joined` (harness clock): the first `pair_started` arrives.
    pub first_pair_started_seconds: Option<f64>,
    /// After the N-th `worker_joined` (harness clock): the first result arrives.
    pub first_result_seconds: Option<f64>,
    /// The same gap as `first_pair_started_seconds` on the orchestrator's own event clock.
    pub first_pair_started_orchestrator_seconds: Option<f64>,
    pub orchestrator_rss_mib_registered: f64,
    /// (results so far, orchestrator RSS MiB) every `sample_every` results.
    pub rss_samples: Vec<(usize, f64)>,
    pub orchestrator_rss_mib_after_pairs: f64,
    /// Growth of the orchestrator's RSS per 1,000 pairs after the first 1,000 (least squares
    /// over the samples).
    pub rss_growth_mib_per_1000_pairs: Option<f64>,
    pub nats_rss_mib_registered: f64,
    pub nats_rss_mib_after_pairs: f64,
    /// The worker process, all N workers idle and connected.
    pub workers_rss_mib_registered: f64,
    pub workers_rss_kib_per_worker: f64,
    pub workers_threads: u64,
    /// One readiness probe (`/proc/net/tcp` of the shared namespace, all N connections in it).
    pub readiness_probe_ms: f64,
    pub pairs_measured: usize,
    pub pairs_failed: usize,
    /// The first failure's status and error, if any.
    pub first_failure: Option<String>,
    pub pairs_per_second: Option<f64>,
    /// CPU seconds per wall second while the pairs ran.
    pub orchestrator_cpu: Option<f64>,
    pub nats_cpu: Option<f64>,
    pub workers_cpu: Option<f64>,
    /// CPU seconds per wall second during registration.
    pub orchestrator_cpu_registration: Option<f64>,
    /// SIGTERM until the results file was in place (its mtime), and until the process exited.
    pub results_written_seconds: Option<f64>,
    pub exit_seconds: Option<f64>,
    pub results_file_bytes: Option<u64>,
    pub results_in_file: Option<usize>,
    /// VmHWM of the orchestrator just before it exited (polled every 10 ms).
    pub orchestrator_peak_rss_mib: f64,
    pub exit_code: Option<i32>,
    pub loadavg: [f64; 3],
}

fn bad(what: String) -> PerfError {
    PerfError::Run(what)
}

/// Which of `--concurrency` and `--plan` `netbench orchestrator --help` lists.
pub async fn flags(netbench: &Path) -> Result<Flags, PerfError> {
    let out = procs::command(&Place::default(), netbench)
        .args(["orchestrator", "--help"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .await
        .map_err(|source| PerfError::Spawn {
            what: format!("{} orchestrator --help", netbench.display()),
            source,
        })?;
    let help = String::from_utf8_lossy(&out.stdout);
    Ok(Flags {
        concurrency: help.contains("--concurrency"),
        plan: help.contains("--plan"),
        allow_partial: help.contains("--allow-partial"),
    })
}

/// The worker host beside this program.
pub fn workers_program() -> Result<PathBuf, PerfError> {
    let p = std::env::current_exe()
        .map_err(|e| bad(format!("cannot find this program: {e}")))?
        .with_file_name(WORKERS_PROGRAM);
    if p.is_file() {
        Ok(p)
    } else {
        Err(PerfError::NoBinary(p))
    }
}

pub async fn measure(
    netbench: &Path,
    nats_binary: Option<&Path>,
    o: &SimOptions,
) -> Result<Sim, PerfError> {
    let (soft, hard) = sys::raise_nofile();
    let largest = o.sizes.iter().copied().max().unwrap_or(0);
    if (soft as usize) < largest + 512 {
        return Err(bad(format!(
            "{largest} simulated workers need about {} open files in the nats-server and the \
             worker process, and the limit is {soft} (hard {hard}); raise it: ulimit -Hn {}",
            largest + 512,
            largest * 2 + 1024
        )));
    }
    let flags = flags(netbench).await?;
    let program = workers_program()?;
    let mut sim = Sim {
        flags,
        sessions: Vec::new(),
        skipped: Vec::new(),
    };
    let plan = match (&o.plan, flags.plan) {
        (Some(p), true) => Some(p.as_str()),
        (Some(p), false) => {
            sim.skipped.push(format!(
                "--p5-plan {p}: this netbench orchestrator has no --plan yet; ran its default (mesh)"
            ));
            None
        }
        (None, _) => None,
    };
    let sample_every = |pairs: usize| (pairs / 20).clamp(10, 1000);
    for &n in &o.sizes {
        eprintln!(
            "P5: {n} simulated workers, concurrency 1, {} pairs",
            o.pairs
        );
        let s = session(
            netbench,
            nats_binary,
            &program,
            Setup {
                workers: n,
                servers: 1,
                concurrency: 1,
                send_concurrency: false,
                allow_partial: flags.allow_partial,
                plan,
                pairs: o.pairs,
                sample_every: sample_every(o.pairs),
            },
        )
        .await?;
        sim.sessions.push(s);
    }
    let mut highest = 1;
    for &c in o.concurrency.iter().filter(|&&c| c > 1) {
        if !flags.concurrency {
            sim.skipped.push(format!(
                "concurrency {c}: this netbench orchestrator has no --concurrency yet; rebuild once it lands"
            ));
            continue;
        }
        highest = highest.max(c);
        eprintln!(
            "P5: {largest} simulated workers, concurrency {c}, {} pairs",
            o.pairs
        );
        let s = session(
            netbench,
            nats_binary,
            &program,
            Setup {
                workers: largest,
                servers: 1,
                concurrency: c,
                send_concurrency: true,
                allow_partial: flags.allow_partial,
                plan,
                pairs: o.pairs,
                sample_every: sample_every(o.pairs),
            },
        )
        .await?;
        sim.sessions.push(s);
    }
    if o.long_pairs > 0 {
        eprintln!(
            "P5: {largest} simulated workers, concurrency {highest}, {} pairs (memory, results file)",
            o.long_pairs
        );
        let s = session(
            netbench,
            nats_binary,
            &program,
            Setup {
                workers: largest,
                servers: 1,
                concurrency: highest,
                send_concurrency: highest > 1,
                allow_partial: flags.allow_partial,
                plan,
                pairs: o.long_pairs,
                sample_every: 1000.min(o.long_pairs.div_ceil(10)).max(10),
            },
        )
        .await?;
        sim.sessions.push(s);
    }
    Ok(sim)
}

pub(crate) struct Setup<'a> {
    pub(crate) workers: usize,
    /// nats-servers: 1, or a cluster of this many (the stream and bucket get as many replicas).
    pub(crate) servers: usize,
    pub(crate) concurrency: u32,
    /// Pass `--concurrency` (only when the orchestrator has it).
    pub(crate) send_concurrency: bool,
    /// Pass `--allow-partial`: the sessions stop the run long before a mesh would end.
    pub(crate) allow_partial: bool,
    pub(crate) plan: Option<&'a str>,
    pub(crate) pairs: usize,
    pub(crate) sample_every: usize,
}

/// The worker process: `unshare` (a PID namespace) around `netbench-perf-workers`, its stdin
/// and stdout the control lines.
pub(crate) struct Workers {
    proc: Proc,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    log: PathBuf,
}

/// What the worker process says of itself.
#[derive(Debug, Clone, Copy)]
struct WorkersStat {
    rss_mib: f64,
    threads: u64,
    probe_ms: f64,
    /// Worker loops that ended already (none should, before the stop).
    finished: usize,
}

impl Workers {
    pub(crate) fn spawn(
        program: &Path,
        url: &str,
        run: &RunId,
        n: usize,
        logs: &Path,
    ) -> Result<Workers, PerfError> {
        let log = logs.join("workers.log");
        let err = std::fs::File::create(&log).map_err(|source| PerfError::File {
            what: "cannot create log",
            path: log.clone(),
            source,
        })?;
        let mut c = procs::command(&Place::default(), "unshare");
        c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(program)
            .args(["--nats-url", url, "--run", run.as_str()])
            .args(["--count", &n.to_string(), "--prefix", "sim", "--octet", "2"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err));
        let mut proc = Proc::spawn("simulated workers", &mut c)?;
        let stdin = proc.child().stdin.take().expect("piped");
        let stdout = proc.child().stdout.take().expect("piped");
        Ok(Workers {
            proc,
            stdin,
            lines: tokio::io::BufReader::new(stdout).lines(),
            log,
        })
    }

    pub(crate) fn log_tail(&self) -> String {
        tail(&self.log)
    }

    pub(crate) async fn line(&mut self, limit: Duration) -> Result<String, PerfError> {
        match tokio::time::timeout(limit, self.lines.next_line()).await {
            Ok(Ok(Some(l))) => Ok(l),
            _ => Err(bad(format!(
                "the simulated workers did not answer within {limit:?} ({})",
                self.log_tail()
            ))),
        }
    }

    async fn stat(&mut self) -> Result<WorkersStat, PerfError> {
        let _ = self.stdin.write_all(b"stat\n").await;
        let _ = self.stdin.flush().await;
        let l = self.line(Duration::from_secs(30)).await?;
        parse_stat(&l).ok_or_else(|| bad(format!("the simulated workers said {l:?}, not a stat")))
    }

    /// Every worker loop shut down; (ended cleanly, failed).
    pub(crate) async fn stop(mut self) -> Option<(usize, usize)> {
        let _ = self.stdin.write_all(b"stop\n").await;
        let _ = self.stdin.flush().await;
        let said = self.line(Duration::from_secs(40)).await.ok();
        let _ = self.proc.stop().await;
        said.and_then(|l| {
            let mut it = l.strip_prefix("stopped ")?.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
    }

    /// The pid of the worker process itself (the child of `unshare`).
    fn pid(&self) -> Option<u32> {
        let p = self.proc.pid();
        std::fs::read_to_string(format!("/proc/{p}/task/{p}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

fn parse_stat(l: &str) -> Option<WorkersStat> {
    let mut it = l.strip_prefix("stat ")?.split_whitespace();
    let rss_mib = it.next()?.parse().ok()?;
    let _hwm: f64 = it.next()?.parse().ok()?;
    Some(WorkersStat {
        rss_mib,
        threads: it.next()?.parse().ok()?,
        probe_ms: it.next()?.parse().ok()?,
        finished: it.next()?.parse().ok()?,
    })
}

pub(crate) fn tail(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The fields of a result the harness looks at.
#[derive(serde::Deserialize)]
struct Seen {
    status_name: String,
    #[serde(default)]
    error: Option<String>,
}

/// CPU seconds (user + system) of a process so far, from `/proc/PID/stat` (USER_HZ = 100).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu(&text)
}

fn parse_cpu(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state(3) ppid(4) ... utime(14) stime(15).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Least-squares slope of RSS (MiB) over pairs, per 1,000 pairs, from the samples after the
/// first 1,000 pairs (all samples when the run was shorter).
pub fn growth_per_1000(samples: &[(usize, f64)]) -> Option<f64> {
    let later: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(p, _)| *p >= 1000)
        .map(|&(p, r)| (p as f64, r))
        .collect();
    let pts: Vec<(f64, f64)> = if later.len() >= 2 {
        later
    } else {
        samples.iter().map(|&(p, r)| (p as f64, r)).collect()
    };
    if pts.len() < 2 {
        return None;
    }
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx * 1000.0)
}

/// CPU share of a process between two readings.
fn share(before: Option<f64>, after: Option<f64>, wall: f64) -> Option<f64> {
    match (before, after) {
        (Some(b), Some(a)) if wall > 0.0 => Some((a - b) / wall),
        _ => None,
    }
}

pub(crate) async fn session(
    netbench: &Path,
    nats_binary: Option<&Path>,
    program: &Path,
    s: Setup<'_>,
) -> Result<Session, PerfError> {
    let n = s.workers;
    if n < 2 {
        return Err(bad(format!("P5 needs at least 2 workers, not {n}")));
    }
    let nats = Broker::start(nats_binary, s.servers, "127.0.0.1")?;
    let nats_pids = nats.pids();
    let url = nats.url().to_string();
    let bus = runner::connect(&url).await?;
    let logs = runner::temp_dir("netbench-perf-sim-")?;
    let run = RunId::generate();
    let sub = |subject: String| {
        let bus = bus.clone();
        async move {
            bus.subscribe(subject)
                .await
                .map_err(|e| PerfError::Bus(format!("cannot subscribe: {e}")))
        }
    };
    let mut events = sub(subjects::event(&run)).await?;
    let mut results = sub(subjects::results_of_run(&run)).await?;
    bus.flush()
        .await
        .map_err(|e| PerfError::Bus(e.to_string()))?;
    let results_path = logs.path().join("results.json");
    let mut cmd = runner::orchestrator_command(
        netbench,
        &url,
        &run,
        runner::Plan {
            bench: NOOP,
            workers: n,
            duration: 1,
            replicas: nats.replicas(),
        },
        &results_path,
        logs.path(),
    )?;
    if s.send_concurrency {
        cmd.args(["--concurrency", &s.concurrency.to_string()]);
    }
    if let Some(p) = s.plan {
        cmd.args(["--plan", p]);
    }
    if s.allow_partial {
        cmd.arg("--allow-partial");
    }
    let mut orch = Proc::spawn("orchestrator", &mut cmd)?;
    let orch_log = logs.path().join(format!("orchestrator-{run}.log"));
    let limit = Duration::from_secs(30);
    let up = tokio::time::timeout(limit, async {
        while let Some(m) = events.next().await {
            if let Ok(e) = serde_json::from_slice::<Event>(&m.payload) {
                if matches!(e.kind, EventKind::RunStarted { .. }) {
                    return true;
                }
            }
        }
        false
    })
    .await;
    if up != Ok(true) {
        return Err(bad(format!(
            "the orchestrator did not start within {limit:?} ({}). A build without the \
             netbench-bench/perf-harness feature has no {NOOP} benchmark",
            tail(&orch_log)
        )));
    }
    let orch_pid = orch.pid();
    let orch_cpu0 = cpu_seconds(orch_pid);

    // Registration: every worker loop at once, as pods that start together.
    let t0 = Instant::now();
    let mut workers = Workers::spawn(program, &url, &run, n, logs.path())?;
    let spawned = workers.line(Duration::from_secs(60)).await?;
    if !spawned.starts_with("spawned ") {
        return Err(bad(format!(
            "the simulated workers said {spawned:?} ({})",
            workers.log_tail()
        )));
    }
    let spawn_seconds = t0.elapsed().as_secs_f64();
    let reg_limit = Duration::from_secs(300);
    let mut joined = 0;
    let mut last_join_time = None;
    let mut first_started: Option<(f64, time::OffsetDateTime)> = None;
    let mut t_joined = t0;
    while joined < n {
        let m = tokio::select! {
            m = tokio::time::timeout(reg_limit.saturating_sub(t0.elapsed()), events.next()) => m,
            st = orch.child().wait() => {
                return Err(bad(format!(
                    "the orchestrator exited ({st:?}) while {joined} of {n} workers had joined: {}",
                    tail(&orch_log)
                )));
            }
        };
        let Ok(Some(m)) = m else {
            return Err(bad(format!(
                "only {joined} of {n} simulated workers registered within {reg_limit:?} \
                 (orchestrator: {}; workers: {})",
                tail(&orch_log),
                workers.log_tail()
            )));
        };
        if let Ok(e) = serde_json::from_slice::<Event>(&m.payload) {
            match e.kind {
                EventKind::WorkerJoined { .. } => {
                    joined += 1;
                    last_join_time = Some(e.time);
                    t_joined = Instant::now();
                }
                EventKind::PairStarted { .. } if first_started.is_none() => {
                    first_started = Some((0.0, e.time));
                }
                _ => {}
            }
        }
    }
    let registration_seconds = t0.elapsed().as_secs_f64();
    let orch_cpu_reg = share(orch_cpu0, cpu_seconds(orch_pid), registration_seconds);
    let rss = |pid: u32, what: &str| {
        sys::rss_mib(pid)
            .map(|(r, _)| r)
            .ok_or_else(|| bad(format!("{what} is gone ({})", tail(&orch_log))))
    };
    let orch_rss_registered = rss(orch_pid, "the orchestrator")?;
    // A cluster: every server's figures summed.
    let nats_rss = || -> Result<f64, PerfError> {
        nats_pids
            .iter()
            .map(|&p| rss(p, "a nats-server"))
            .sum::<Result<f64, PerfError>>()
    };
    let nats_cpu_now = || -> Option<f64> { nats_pids.iter().map(|&p| cpu_seconds(p)).sum() };
    let nats_rss_registered = nats_rss()?;
    let wstat = workers.stat().await?;
    if wstat.finished > 0 {
        return Err(bad(format!(
            "{} simulated worker loops ended early ({})",
            wstat.finished,
            workers.log_tail()
        )));
    }

    // The pairs: results counted as they arrive, the first pair timed from the last join.
    let want = s.pairs.max(2);
    let mut arrivals = Vec::with_capacity(want);
    let mut failed = 0;
    let mut first_failure = None;
    let mut first_result = None;
    let mut samples = Vec::new();
    let stall = Duration::from_secs(120);
    let t1 = Instant::now();
    let (oc, nc, wc) = (
        cpu_seconds(orch_pid),
        nats_cpu_now(),
        workers.pid().and_then(cpu_seconds),
    );
    while arrivals.len() < want {
        tokio::select! {
            m = results.next() => {
                let Some(m) = m else { return Err(bad("the results subscription ended".into())) };
                if first_result.is_none() {
                    first_result = Some(t_joined.elapsed().as_secs_f64());
                }
                arrivals.push(t1.elapsed().as_secs_f64());
                if let Ok(r) = serde_json::from_slice::<Seen>(&m.payload) {
                    if r.status_name != "ok" {
                        failed += 1;
                        first_failure.get_or_insert_with(|| {
                            format!("{}: {}", r.status_name, r.error.unwrap_or_default())
                        });
                    }
                }
                if arrivals.len() % s.sample_every == 0 {
                    samples.push((arrivals.len(), rss(orch_pid, "the orchestrator")?));
                }
                if want >= 5000 && arrivals.len() % (want / 10) == 0 {
                    eprintln!(
                        "P5:   {} of {want} pairs, {:.0} s, orchestrator RSS {:.1} MiB, {failed} failed",
                        arrivals.len(),
                        t1.elapsed().as_secs_f64(),
                        samples.last().map_or(0.0, |s| s.1)
                    );
                }
            }
            // Read on after the first pair too, so the subscription never backs up.
            Some(m) = events.next() => {
                if let Ok(e) = serde_json::from_slice::<Event>(&m.payload) {
                    if first_started.is_none() && matches!(e.kind, EventKind::PairStarted { .. }) {
                        first_started = Some((t_joined.elapsed().as_secs_f64(), e.time));
                    }
                }
            }
            st = orch.child().wait() => {
                return Err(bad(format!(
                    "the orchestrator exited ({st:?}) after {} of {want} pairs: {}",
                    arrivals.len(),
                    tail(&orch_log)
                )));
            }
            _ = tokio::time::sleep(stall) => {
                return Err(bad(format!(
                    "no result for {stall:?} after {} of {want} pairs (orchestrator: {})",
                    arrivals.len(),
                    tail(&orch_log)
                )));
            }
        }
    }
    let wall = t1.elapsed().as_secs_f64();
    let orchestrator_cpu = share(oc, cpu_seconds(orch_pid), wall);
    let nats_cpu = share(nc, nats_cpu_now(), wall);
    let workers_cpu = share(wc, workers.pid().and_then(cpu_seconds), wall);
    let orch_rss_after = rss(orch_pid, "the orchestrator")?;
    let nats_rss_after = nats_rss()?;
    let loadavg = sys::loadavg();

    // Stop the run as a user would: the partial results are written, timed, peak RSS taken.
    let term_at = SystemTime::now();
    let t2 = Instant::now();
    orch.signal(nix::sys::signal::Signal::SIGTERM);
    let mut peak = sys::rss_mib(orch_pid).map_or(0.0, |(_, hwm)| hwm);
    let exit_limit = Duration::from_secs(300);
    let status = loop {
        if let Some(st) = orch.wait(Duration::from_millis(10)).await {
            break Some(st);
        }
        if let Some((_, hwm)) = sys::rss_mib(orch_pid) {
            peak = peak.max(hwm);
        }
        if t2.elapsed() > exit_limit {
            break None;
        }
    };
    let exit_seconds = status.map(|_| t2.elapsed().as_secs_f64());
    let code = status.and_then(|s| s.code());
    let meta = std::fs::metadata(&results_path).ok();
    // File times come from the kernel's coarse clock (a tick behind): a write within a tick
    // of the signal may look earlier than it; that is 0 s here.
    let results_written_seconds = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .map(|t| t.duration_since(term_at).map_or(0.0, |d| d.as_secs_f64()));
    let results_in_file = std::fs::read_to_string(&results_path)
        .ok()
        .and_then(|t| serde_json::from_str::<netbench_proto::ResultsFile>(&t).ok())
        .map(|f| f.results.len());
    let stopped = workers.stop().await;
    drop(orch);
    if status.is_none() {
        return Err(bad(format!(
            "the orchestrator did not exit within {exit_limit:?} of SIGTERM ({})",
            tail(&orch_log)
        )));
    }
    if !matches!(code, Some(0 | 1 | 4)) {
        return Err(bad(format!(
            "the orchestrator exited with {code:?} on SIGTERM ({})",
            tail(&orch_log)
        )));
    }
    if stopped.is_none_or(|(_, bad)| bad > 0) {
        eprintln!(
            "warning: the simulated workers did not all stop cleanly: {stopped:?} ({})",
            tail(&logs.path().join("workers.log"))
        );
    }
    Ok(Session {
        workers: n,
        concurrency: s.concurrency,
        plan: s.plan.unwrap_or("mesh").to_string(),
        spawn_seconds,
        registration_seconds,
        first_pair_started_seconds: first_started.map(|(t, _)| t),
        first_result_seconds: first_result,
        first_pair_started_orchestrator_seconds: match (first_started, last_join_time) {
            (Some((_, started)), Some(joined)) => Some((started - joined).as_seconds_f64()),
            _ => None,
        },
        orchestrator_rss_mib_registered: orch_rss_registered,
        rss_growth_mib_per_1000_pairs: growth_per_1000(&samples),
        rss_samples: samples,
        orchestrator_rss_mib_after_pairs: orch_rss_after,
        nats_rss_mib_registered: nats_rss_registered,
        nats_rss_mib_after_pairs: nats_rss_after,
        workers_rss_mib_registered: wstat.rss_mib,
        workers_rss_kib_per_worker: wstat.rss_mib * 1024.0 / n as f64,
        workers_threads: wstat.threads,
        readiness_probe_ms: wstat.probe_ms,
        pairs_measured: arrivals.len(),
        pairs_failed: failed,
        first_failure,
        pairs_per_second: stats::rate(&arrivals),
        orchestrator_cpu,
        nats_cpu,
        workers_cpu,
        orchestrator_cpu_registration: orch_cpu_reg,
        results_written_seconds,
        exit_seconds,
        results_file_bytes: meta.map(|m| m.len()),
        results_in_file,
        orchestrator_peak_rss_mib: peak,
        exit_code: code,
        loadavg,
    })
}

/// The table rows for P5, each figure against its goal.
pub fn rows(sim: &Sim) -> Vec<Row> {
    let mut out = Vec::new();
    let secs = |v: f64| format!("{v:.2} s");
    let mib = |v: f64| format!("{v:.1} MiB");
    let rate = |v: f64| format!("{v:.1} pairs/s");
    let goal_registration = |n: usize| match n {
        0..=1000 => Some(3.0),
        1001..=5000 => Some(10.0),
        _ => None,
    };
    for s in &sim.sessions {
        let l = s.loadavg[0];
        let tag = format!(
            "P5 {} sim workers, {} c{}",
            s.workers, s.plan, s.concurrency
        );
        let g = goal_registration(s.workers);
        out.push(row(
            format!("{tag}: all registered"),
            Some(s.registration_seconds),
            secs,
            &g.map_or(String::new(), |g| format!("≤ {g:.0} s")),
            |v| g.is_none_or(|g| v <= g),
            l,
        ));
        out.push(row(
            format!("{tag}: first pair started after the last join"),
            s.first_pair_started_seconds,
            secs,
            "≤ 1 s",
            |v| v <= 1.0,
            l,
        ));
        let goal_rate = match s.concurrency {
            1 => Some(40.0),
            64.. => Some(500.0),
            _ => None,
        };
        let mut r = row(
            format!(
                "{tag}: dispatch rate over {} pairs ({} failed)",
                s.pairs_measured, s.pairs_failed
            ),
            s.pairs_per_second,
            rate,
            &goal_rate.map_or(String::new(), |g| format!("≥ {g:.0} pairs/s")),
            |v| goal_rate.is_none_or(|g| v >= g),
            l,
        );
        if s.pairs_failed > 0 {
            r.met = Some(false);
        }
        out.push(r);
        let at_5000 = s.workers >= 5000;
        let mut r = row(
            format!(
                "{tag}: orchestrator RSS registered → after {} pairs (peak)",
                s.pairs_measured
            ),
            Some(s.orchestrator_peak_rss_mib),
            mib,
            if at_5000 { "≤ 256 MiB" } else { "" },
            |v| !at_5000 || v <= 256.0,
            l,
        );
        r.value = format!(
            "{:.1} → {:.1} ({:.1}) MiB",
            s.orchestrator_rss_mib_registered,
            s.orchestrator_rss_mib_after_pairs,
            s.orchestrator_peak_rss_mib
        );
        out.push(r);
        if s.pairs_measured > 1000 {
            out.push(row(
                format!("{tag}: orchestrator RSS growth per 1,000 pairs after the first 1,000"),
                s.rss_growth_mib_per_1000_pairs,
                |v| format!("{v:.2} MiB"),
                if at_5000 { "flat (≤ 0.5 MiB)" } else { "" },
                |v| !at_5000 || v <= 0.5,
                l,
            ));
        }
        let mut r = row(
            format!(
                "{tag}: results file of {} pairs: SIGTERM → written, → exit",
                s.results_in_file.unwrap_or(0)
            ),
            s.results_written_seconds,
            secs,
            "measured",
            |_| true,
            l,
        );
        r.value = format!(
            "{} / {} ({:.1} MiB file)",
            s.results_written_seconds.map_or("—".into(), secs),
            s.exit_seconds.map_or("—".into(), secs),
            s.results_file_bytes.unwrap_or(0) as f64 / 1048576.0
        );
        out.push(r);
        let mut r = row(
            format!("{tag}: CPU per wall second during pairs: orchestrator / nats / workers"),
            s.orchestrator_cpu,
            |v| format!("{v:.2}"),
            "",
            |_| true,
            l,
        );
        let f = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.2}"));
        r.value = format!(
            "{} / {} / {}",
            f(s.orchestrator_cpu),
            f(s.nats_cpu),
            f(s.workers_cpu)
        );
        out.push(r);
        let mut r = row(
            format!("{tag}: worker process RSS (per worker), nats-server RSS"),
            Some(s.workers_rss_mib_registered),
            mib,
            "",
            |_| true,
            l,
        );
        r.value = format!(
            "{:.0} MiB ({:.0} KiB), {:.0} MiB",
            s.workers_rss_mib_registered, s.workers_rss_kib_per_worker, s.nats_rss_mib_after_pairs
        );
        out.push(r);
    }
    for why in &sim.skipped {
        out.push(Row {
            figure: format!("P5 skipped: {why}"),
            value: "—".into(),
            goal: String::new(),
            met: None,
            load1: 0.0,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_workers_stat_and_proc_cpu() {
        let s = parse_stat("stat 512.5 600.0 3 1.250 0").unwrap();
        assert_eq!(s.rss_mib, 512.5);
        assert_eq!((s.threads, s.finished), (3, 0));
        assert_eq!(s.probe_ms, 1.25);
        assert!(parse_stat("spawned 5").is_none());
        let stat = "42 (net bench) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_cpu(stat), Some(3.0));
        assert!(cpu_seconds(std::process::id()).is_some());
    }

    #[test]
    fn growth_is_the_slope_after_the_first_thousand_pairs() {
        // A jump in the first 1,000 pairs, then flat: no growth.
        let flat = [(500, 10.0), (1000, 40.0), (2000, 40.0), (3000, 40.0)];
        assert_eq!(growth_per_1000(&flat), Some(0.0));
        // 2 MiB per 1,000 pairs after the first 1,000.
        let growing = [(1000, 40.0), (2000, 42.0), (3000, 44.0)];
        assert!((growth_per_1000(&growing).unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(growth_per_1000(&[(10, 1.0)]), None);
    }
}
