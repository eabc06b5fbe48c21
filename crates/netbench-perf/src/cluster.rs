//! P6 broker: what a three-server NATS cluster (stream and bucket with 3 replicas) costs
//! against a single nats-server, and how long a run stalls when the server the orchestrator
//! is connected to dies.
//!
//! - Overhead per pair ([`crate::overhead::measure_overhead`], P2's very measure and runs,
//!   P2's benchmarks): namespaces on 198.18.X.0/24, once with one nats-server on the gateway,
//!   once with three clustered ones (each with its client port on the gateway, every client
//!   given all three URLs); in-pair and pair-to-pair p50/p99 side by side.
//! - Registration of N simulated workers ([`crate::sim`]'s session, `perf-noop`), one server
//!   against the cluster: spawn until the N-th `worker_joined`, then the dispatch rate over a
//!   few pairs.
//! - Failover: a run of simulated workers (`perf-noop`, concurrency 1) on the cluster; find the
//!   server the orchestrator is connected to (`/connz`, a connection named
//!   `netbench-orchestrator …`), SIGKILL it, and time until the stream holds a result it did not
//!   hold at the kill (polled every 20 ms through a surviving server: `$JS.API.STREAM.MSG.GET`
//!   of the run's last result, so the result is stored and acknowledged by the stream's
//!   quorum). The killed server is restarted on its store and the cluster waited healthy
//!   before the next kill; the median over the kills is reported.

use crate::broker::Broker;
use crate::overhead::{self, Overhead};
use crate::procs::Proc;
use crate::report::{row, Row};
use crate::runner::{self, Bed};
use crate::scale::NOOP;
use crate::sim::{self, Session, Setup, Workers};
use crate::{stats, sys, PerfError};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use netbench_proto::{subjects, Event, EventKind, RunId};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// What P6 measures (the CLI fills it; `--quick` shrinks it).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Servers in the cluster (3).
    pub servers: usize,
    /// Third octet of the namespaces' 198.18.X.0/24 (the overhead runs).
    pub subnet: u8,
    /// Overhead: nodes per run (n·(n-1) pairs per benchmark), benchmarks, seconds per test.
    pub nodes: usize,
    pub benchmarks: Vec<String>,
    pub duration: u32,
    /// Registration: simulated workers, and pairs timed after it.
    pub workers: usize,
    pub pairs: usize,
    /// Failover: simulated workers in the run, and kills.
    pub failover_workers: usize,
    pub kills: usize,
    /// Which of the three to take (all by default).
    pub steps: Vec<Step>,
}

/// P6's three measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Overhead,
    Registration,
    Failover,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterFigures {
    pub servers: usize,
    pub overhead_single: Option<Overhead>,
    pub overhead_cluster: Option<Overhead>,
    pub registration_single: Option<Session>,
    pub registration_cluster: Option<Session>,
    pub failover: Option<Failover>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failover {
    pub servers: usize,
    pub workers: usize,
    pub kills: Vec<Kill>,
    /// Median of the kills' `to_next_stored_seconds` (the kills that got one).
    pub median_seconds: Option<f64>,
    pub max_seconds: Option<f64>,
    /// The results file after the run was stopped: pairs in it, failed, stored in JetStream
    /// twice or more (by pair id).
    pub results_in_file: Option<usize>,
    pub results_failed: Option<usize>,
    pub results_duplicated: Option<usize>,
    /// Results seen on the bus over the whole run.
    pub results_seen: usize,
    pub exit_code: Option<i32>,
    pub loadavg: [f64; 3],
}

/// One SIGKILL of the orchestrator's server.
#[derive(Debug, Clone, Serialize)]
pub struct Kill {
    /// The killed server (`netbench-2`, …).
    pub server: String,
    /// Whether it led the NETBENCH stream when killed (a leader election follows).
    pub was_stream_leader: Option<bool>,
    /// The stream's sequence of the run's last stored result at the kill.
    pub last_seq_before: u64,
    /// SIGKILL until the stream answered a read through a survivor again (a leader again; about
    /// 0 when the killed server did not lead it).
    pub stream_answering_seconds: Option<f64>,
    /// SIGKILL until the stream held a newer result (None: none within the limit).
    pub to_next_stored_seconds: Option<f64>,
    /// Results with a status other than ok that arrived between the kill and 1 s after the
    /// next stored one.
    pub failed_around: usize,
    /// Restart on its store until every server answered `/healthz` 200.
    pub restart_healthy_seconds: f64,
    /// The orchestrator's warnings and errors logged from the kill to the next stored result
    /// (at most 8): why it took what it took.
    pub orchestrator_said: Vec<String>,
}

fn bad(what: String) -> PerfError {
    PerfError::Run(what)
}

pub async fn measure(
    netbench: &Path,
    nats_binary: Option<&Path>,
    o: &ClusterOptions,
) -> Result<ClusterFigures, PerfError> {
    let mut f = ClusterFigures {
        servers: o.servers,
        overhead_single: None,
        overhead_cluster: None,
        registration_single: None,
        registration_cluster: None,
        failover: None,
    };
    let wants = |s| o.steps.contains(&s);
    for servers in [1, o.servers].into_iter().filter(|_| wants(Step::Overhead)) {
        eprintln!(
            "P6: overhead per pair, {} nodes, {servers} nats-server(s)",
            o.nodes
        );
        let bed = Bed::create_with(netbench, nats_binary, o.subnet, o.nodes, servers).await?;
        let m = overhead::measure_overhead(&bed, &o.benchmarks, o.nodes, o.duration).await?;
        drop(bed);
        match servers {
            1 => f.overhead_single = Some(m),
            _ => f.overhead_cluster = Some(m),
        }
    }
    let (soft, hard) = sys::raise_nofile();
    if (soft as usize) < o.workers + 512 {
        return Err(bad(format!(
            "{} simulated workers need about {} open files, and the limit is {soft} (hard \
             {hard}); raise it: ulimit -Hn {}",
            o.workers,
            o.workers + 512,
            o.workers * 2 + 1024
        )));
    }
    let flags = sim::flags(netbench).await?;
    let program = sim::workers_program()?;
    for servers in [1, o.servers]
        .into_iter()
        .filter(|_| wants(Step::Registration))
    {
        eprintln!(
            "P6: registration of {} simulated workers, {servers} nats-server(s)",
            o.workers
        );
        let s = sim::session(
            netbench,
            nats_binary,
            &program,
            Setup {
                workers: o.workers,
                servers,
                concurrency: 1,
                send_concurrency: false,
                allow_partial: flags.allow_partial,
                plan: None,
                pairs: o.pairs,
                sample_every: (o.pairs / 10).max(10),
            },
        )
        .await?;
        match servers {
            1 => f.registration_single = Some(s),
            _ => f.registration_cluster = Some(s),
        }
    }
    if o.kills > 0 && wants(Step::Failover) {
        eprintln!(
            "P6: failover, {} simulated workers, {} kill(s) of the orchestrator's server",
            o.failover_workers, o.kills
        );
        f.failover = Some(failover(netbench, nats_binary, &program, o, flags.allow_partial).await?);
    }
    Ok(f)
}

/// The stream's sequence of the last message on `subject`, asked through `client` (0: none
/// yet; None: no answer within a second, e.g. while the stream elects a leader).
async fn last_seq(client: &async_nats::Client, subject: &str) -> Option<u64> {
    let req = serde_json::json!({ "last_by_subj": subject }).to_string();
    let api = format!("$JS.API.STREAM.MSG.GET.{}", subjects::STREAM);
    let m = tokio::time::timeout(Duration::from_secs(1), client.request(api, req.into()))
        .await
        .ok()?
        .ok()?;
    parse_last_seq(&m.payload)
}

fn parse_last_seq(payload: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    if v["error"]["code"] == 404 {
        return Some(0);
    }
    v["message"]["seq"].as_u64()
}

/// Poll every 20 ms (answers awaited concurrently, so a request lost in the election does not
/// hold the next one back) until the stream's last result on `subject` is past `before`:
/// (seconds since `t0` to the first answer after `t0`, the stream having a leader again; to
/// that newer result), each None when not within `limit`.
async fn wait_stored(
    client: &async_nats::Client,
    subject: &str,
    before: u64,
    t0: Instant,
    limit: Duration,
) -> (Option<f64>, Option<f64>) {
    let mut polls = FuturesUnordered::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let end = tokio::time::Instant::from_std(t0 + limit);
    let mut answered = None;
    loop {
        tokio::select! {
            _ = tick.tick() => polls.push(last_seq(client, subject)),
            Some(r) = polls.next() => {
                if r.is_some() && answered.is_none() {
                    answered = Some(t0.elapsed().as_secs_f64());
                }
                if r.is_some_and(|s| s > before) {
                    return (answered, Some(t0.elapsed().as_secs_f64()));
                }
            }
            _ = tokio::time::sleep_until(end) => return (answered, None),
        }
    }
}

/// Results on the subscription within `limit`: (arrived, of them failed).
async fn take_results(
    sub: &mut async_nats::Subscriber,
    want: usize,
    limit: Duration,
) -> (usize, usize) {
    let end = tokio::time::Instant::now() + limit;
    let (mut n, mut failed) = (0, 0);
    while n < want {
        match tokio::time::timeout_at(end, sub.next()).await {
            Ok(Some(m)) => {
                n += 1;
                if !is_ok(&m.payload) {
                    failed += 1;
                }
            }
            _ => break,
        }
    }
    (n, failed)
}

fn is_ok(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(payload)
        .map(|v| v["status_name"] == "ok")
        .unwrap_or(false)
}

async fn failover(
    netbench: &Path,
    nats_binary: Option<&Path>,
    program: &Path,
    o: &ClusterOptions,
    allow_partial: bool,
) -> Result<Failover, PerfError> {
    let n = o.failover_workers.max(2);
    let mut nats = Broker::start(nats_binary, o.servers, "127.0.0.1")?;
    let url = nats.url().to_string();
    let bus = runner::connect(&url).await?;
    let logs = runner::temp_dir("netbench-perf-failover-")?;
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
    if allow_partial {
        cmd.arg("--allow-partial");
    }
    let mut orch = Proc::spawn("orchestrator", &mut cmd)?;
    let orch_log = logs.path().join(format!("orchestrator-{run}.log"));
    let limit = Duration::from_secs(60);
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
            "the orchestrator did not start on the NATS cluster within {limit:?} ({})",
            sim::tail(&orch_log)
        )));
    }
    eprintln!("P6:   the orchestrator is up on the cluster; starting {n} simulated workers");
    let mut workers = Workers::spawn(program, &url, &run, n, logs.path())?;
    let spawned = workers.line(Duration::from_secs(60)).await?;
    if !spawned.starts_with("spawned ") {
        return Err(bad(format!(
            "the simulated workers said {spawned:?} ({})",
            workers.log_tail()
        )));
    }
    let mut seen = 0;
    // The run going: a few results stored before the first kill.
    let (got, _) = take_results(&mut results, 5, Duration::from_secs(120)).await;
    seen += got;
    if got < 5 {
        return Err(bad(format!(
            "only {got} results within 120 s of the workers' start on the NATS cluster \
             (orchestrator: {})",
            sim::tail(&orch_log)
        )));
    }
    let subject = subjects::result(&run, NOOP);
    let mut kills = Vec::new();
    for k in 0..o.kills {
        // The orchestrator's server (it may still be reconnecting after the last kill).
        let t = Instant::now();
        let i = loop {
            if let Some(i) = nats.connected("netbench-orchestrator") {
                break i;
            }
            if t.elapsed() > Duration::from_secs(20) {
                return Err(bad(format!(
                    "no server lists the orchestrator's connection in /connz (orchestrator: {})",
                    sim::tail(&orch_log)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let leader = nats.stream_leader(subjects::STREAM);
        let survivor = (1..nats.len())
            .map(|d| (i + d) % nats.len())
            .find(|&j| nats.server(j).is_some())
            .ok_or_else(|| bad("no other NATS server is running".into()))?;
        let observer = runner::connect(&nats.member_url(survivor)).await?;
        let before = {
            let t = Instant::now();
            loop {
                if let Some(s) = last_seq(&observer, &subject).await {
                    break s;
                }
                if t.elapsed() > Duration::from_secs(20) {
                    return Err(bad(format!(
                        "the stream does not answer through {} (20 s)",
                        nats.name(survivor)
                    )));
                }
            }
        };
        // Drop what arrived so far: the failures counted are the kill's.
        while let Ok(Some(_)) = tokio::time::timeout(Duration::ZERO, results.next()).await {
            seen += 1;
        }
        let name = nats.name(i).to_string();
        eprintln!(
            "P6:   kill {}/{}: SIGKILL {name} (the orchestrator's server{})",
            k + 1,
            o.kills,
            if leader == Some(i) {
                ", the stream's leader"
            } else {
                ""
            }
        );
        let log_at = std::fs::metadata(&orch_log).map_or(0, |m| m.len());
        let t0 = Instant::now();
        nats.kill(i);
        let (answering, stored) =
            wait_stored(&observer, &subject, before, t0, Duration::from_secs(180)).await;
        let (got, failed_around) = take_results(&mut results, usize::MAX, Duration::ZERO).await;
        let (more, more_failed) =
            take_results(&mut results, usize::MAX, Duration::from_secs(1)).await;
        seen += got + more;
        eprintln!(
            "P6:   next result stored {}",
            stored.map_or("never (180 s)".into(), |s| format!(
                "{s:.2} s after the kill"
            ))
        );
        let orchestrator_said = log_lines_since(&orch_log, log_at);
        let t1 = Instant::now();
        nats.restart(i)?;
        nats.wait_healthy(Duration::from_secs(120))?;
        kills.push(Kill {
            server: name,
            was_stream_leader: leader.map(|l| l == i),
            last_seq_before: before,
            stream_answering_seconds: answering,
            to_next_stored_seconds: stored,
            failed_around: failed_around + more_failed,
            restart_healthy_seconds: t1.elapsed().as_secs_f64(),
            orchestrator_said,
        });
        if stored.is_none() || k + 1 == o.kills {
            break;
        }
        // The run going again before the next kill.
        let (got, _) = tokio::select! {
            r = take_results(&mut results, 3, Duration::from_secs(60)) => r,
            _ = orch.child().wait() => (0, 0),
        };
        seen += got;
        if got < 3 {
            eprintln!(
                "P6:   the run ended (or stalled) after kill {}: no more kills",
                k + 1
            );
            break;
        }
    }
    let loadavg = sys::loadavg();
    while let Ok(Some(_)) = tokio::time::timeout(Duration::ZERO, results.next()).await {
        seen += 1;
    }
    eprintln!("P6:   stopping the failover run");
    orch.signal(nix::sys::signal::Signal::SIGTERM);
    let status = orch.wait(Duration::from_secs(120)).await;
    let _ = workers.stop().await;
    eprintln!("P6:   failover run stopped");
    drop(orch);
    let file = std::fs::read_to_string(&results_path)
        .ok()
        .and_then(|t| serde_json::from_str::<netbench_proto::ResultsFile>(&t).ok());
    let (in_file, failed, duplicated) = match &file {
        Some(f) => {
            let mut ids = std::collections::HashMap::new();
            for r in &f.results {
                *ids.entry(r.pair.clone()).or_insert(0usize) += 1;
            }
            (
                Some(f.results.len()),
                Some(
                    f.results
                        .iter()
                        .filter(|r| r.task.status != netbench_proto::Status::Ok)
                        .count(),
                ),
                Some(ids.values().filter(|&&c| c > 1).count()),
            )
        }
        None => (None, None, None),
    };
    let times: Vec<f64> = kills
        .iter()
        .filter_map(|k| k.to_next_stored_seconds)
        .collect();
    Ok(Failover {
        servers: o.servers,
        workers: n,
        median_seconds: stats::median(&times),
        max_seconds: times.iter().copied().reduce(f64::max),
        kills,
        results_in_file: in_file,
        results_failed: failed,
        results_duplicated: duplicated,
        results_seen: seen,
        exit_code: status.and_then(|s| s.code()),
        loadavg,
    })
}

/// The WARN and ERROR lines of `log` past byte `from` (at most 8, colour codes dropped).
fn log_lines_since(log: &Path, from: u64) -> Vec<String> {
    let text = std::fs::read(log).unwrap_or_default();
    let rest = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    rest.lines()
        .map(strip_ansi)
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .take(8)
        .collect()
}

fn strip_ansi(l: &str) -> String {
    let mut out = String::with_capacity(l.len());
    let mut chars = l.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ … final byte in @..~
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) && d != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The table rows for P6.
pub fn rows(f: &ClusterFigures) -> Vec<Row> {
    let mut out = Vec::new();
    let ms = |v: f64| format!("{:.1} ms", v * 1000.0);
    let secs = |v: f64| format!("{v:.2} s");
    let label = |servers: usize| match servers {
        1 => "1 server".to_string(),
        n => format!("{n}-server cluster"),
    };
    for (servers, o) in [(1, &f.overhead_single), (f.servers, &f.overhead_cluster)] {
        let Some(o) = o else { continue };
        for (name, s, goal) in [
            ("in-pair", o.in_pair, true),
            ("pair-to-pair", o.cycle, false),
        ] {
            let mut r = row(
                format!(
                    "P6 overhead {name} p50 / p99, {} ({} pairs, {})",
                    label(servers),
                    s.map_or(0, |s| s.n),
                    o.benchmarks.join(" + ")
                ),
                s.map(|s| s.p50),
                ms,
                if goal { "p50 ≤ 20 ms" } else { "" },
                |v| !goal || v <= 0.020,
                o.loadavg[0],
            );
            if let Some(s) = s {
                r.value = format!("{} / {}", ms(s.p50), ms(s.p99));
            }
            out.push(r);
        }
    }
    for (servers, s) in [
        (1, &f.registration_single),
        (f.servers, &f.registration_cluster),
    ] {
        let Some(s) = s else { continue };
        let goal = (s.workers <= 1000).then_some(3.0);
        out.push(row(
            format!(
                "P6 {} sim workers registered, {}",
                s.workers,
                label(servers)
            ),
            Some(s.registration_seconds),
            secs,
            &goal.map_or(String::new(), |g| format!("≤ {g:.0} s")),
            |v| goal.is_none_or(|g| v <= g),
            s.loadavg[0],
        ));
        let mut r = row(
            format!(
                "P6 {} sim workers, {}: dispatch rate over {} pairs ({} failed)",
                s.workers,
                label(servers),
                s.pairs_measured,
                s.pairs_failed
            ),
            s.pairs_per_second,
            |v| format!("{v:.1} pairs/s"),
            "",
            |_| true,
            s.loadavg[0],
        );
        if s.pairs_failed > 0 {
            r.met = Some(false);
        }
        out.push(r);
    }
    if let Some(fo) = &f.failover {
        let each: Vec<String> = fo
            .kills
            .iter()
            .map(|k| {
                format!(
                    "{}{}",
                    k.to_next_stored_seconds.map_or("—".into(), secs),
                    if k.was_stream_leader == Some(true) {
                        " (leader)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        let mut r = row(
            format!(
                "P6 SIGKILL of the orchestrator's server → next result stored, median of {} \
                 ({}, {} sim workers)",
                fo.kills.len(),
                label(fo.servers),
                fo.workers
            ),
            fo.median_seconds,
            secs,
            "",
            |_| true,
            fo.loadavg[0],
        );
        if fo.median_seconds.is_some() {
            r.value = format!(
                "{} (each: {})",
                fo.median_seconds.map_or("—".into(), secs),
                each.join(", ")
            );
        }
        out.push(r);
        let answering: Vec<f64> = fo
            .kills
            .iter()
            .filter_map(|k| k.stream_answering_seconds)
            .collect();
        let mut r = row(
            format!(
                "P6 SIGKILL → the stream answers through a survivor again, median of {}",
                answering.len()
            ),
            stats::median(&answering),
            secs,
            "",
            |_| true,
            fo.loadavg[0],
        );
        if let Some(m) = stats::median(&answering) {
            let each: Vec<String> = answering.iter().map(|&v| secs(v)).collect();
            r.value = format!("{} (each: {})", secs(m), each.join(", "));
        }
        out.push(r);
        let mut r = row(
            "P6 failover run: results in file / failed / stored twice".into(),
            fo.results_in_file.map(|n| n as f64),
            |v| format!("{v:.0}"),
            "0 stored twice",
            |_| fo.results_duplicated == Some(0),
            fo.loadavg[0],
        );
        r.value = format!(
            "{} / {} / {}",
            fo.results_in_file.map_or("—".into(), |v| v.to_string()),
            fo.results_failed.map_or("—".into(), |v| v.to_string()),
            fo.results_duplicated.map_or("—".into(), |v| v.to_string()),
        );
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_sequence_from_a_msg_get_answer() {
        let ok = br#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"netbench.r.result.perf-noop","seq":42,"time":"2026-01-01T00:00:00Z"}}"#;
        assert_eq!(parse_last_seq(ok), Some(42));
        let none = br#"{"type":"x","error":{"code":404,"err_code":10037,"description":"no message found"}}"#;
        assert_eq!(parse_last_seq(none), Some(0));
        let leaderless = br#"{"type":"x","error":{"code":503,"description":"JetStream system temporarily unavailable"}}"#;
        assert_eq!(parse_last_seq(leaderless), None);
        assert_eq!(parse_last_seq(b"not json"), None);
    }

    #[test]
    fn keeps_the_orchestrators_warnings_after_the_kill() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("o.log");
        let before = "\u{1b}[33m WARN\u{1b}[0m old\n";
        std::fs::write(
            &log,
            format!("{before}INFO fine\n\u{1b}[2m12:00\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m lost\n"),
        )
        .unwrap();
        let said = log_lines_since(&log, before.len() as u64);
        assert_eq!(said, vec!["12:00  WARN lost"]);
        assert!(log_lines_since(&dir.path().join("none"), 0).is_empty());
    }

    #[test]
    fn rows_put_the_single_server_and_the_cluster_side_by_side() {
        let spread = |p50: f64| stats::Spread {
            n: 12,
            p50,
            p99: p50 * 2.0,
            max: p50 * 3.0,
        };
        let o = |p50| Overhead {
            benchmarks: vec!["iperf3-tcp".into()],
            nodes: 4,
            duration_seconds: 1,
            in_pair: Some(spread(p50)),
            cycle: Some(spread(p50 * 2.0)),
            pairs: vec![],
            profiles: vec![],
            loadavg: [0.5; 3],
        };
        let f = ClusterFigures {
            servers: 3,
            overhead_single: Some(o(0.010)),
            overhead_cluster: Some(o(0.015)),
            registration_single: None,
            registration_cluster: None,
            failover: Some(Failover {
                servers: 3,
                workers: 6,
                kills: vec![Kill {
                    server: "netbench-2".into(),
                    was_stream_leader: Some(true),
                    last_seq_before: 9,
                    stream_answering_seconds: Some(0.4),
                    to_next_stored_seconds: Some(2.5),
                    failed_around: 0,
                    restart_healthy_seconds: 1.0,
                    orchestrator_said: vec![],
                }],
                median_seconds: Some(2.5),
                max_seconds: Some(2.5),
                results_in_file: Some(40),
                results_failed: Some(1),
                results_duplicated: Some(0),
                results_seen: 40,
                exit_code: Some(4),
                loadavg: [0.5; 3],
            }),
        };
        let rows = rows(&f);
        let text: Vec<String> = rows
            .iter()
            .map(|r| format!("{} = {}", r.figure, r.value))
            .collect();
        assert!(
            text[0].contains("in-pair") && text[0].contains("1 server"),
            "{text:?}"
        );
        assert!(text[0].ends_with("10.0 ms / 20.0 ms"), "{text:?}");
        assert!(text[2].contains("3-server cluster") && text[2].ends_with("15.0 ms / 30.0 ms"));
        assert!(
            text[4].contains("2.50 s (each: 2.50 s (leader))"),
            "{text:?}"
        );
        assert!(text[5].ends_with("0.40 s (each: 0.40 s)"), "{text:?}");
        assert_eq!(rows[6].value, "40 / 1 / 0");
        assert_eq!(rows[6].met, Some(true));
    }
}
