//! P4 scale: N workers as processes in the host namespace on distinct 127.x addresses, a
//! nats-server on loopback, and the `perf-noop` benchmark (idle iperf3 server, `true` client;
//! only in builds with the `netbench-bench/perf-harness` feature), so a pair costs only
//! netbench's dispatch.
//!
//! Figures: time from spawning the first worker until the orchestrator announced all of them
//! (`worker_joined` events); the orchestrator's RSS then and after the pairs; the RSS of the
//! workers while idle (right after registration, before any pair touched them); and the rate of
//! results arriving on `netbench.<run>.result.>` over the first `pairs` pairs. Then the
//! orchestrator is stopped with SIGTERM (exit 4, partial results written), as a user would.

use crate::procs::{self, Place, Proc};
use crate::runner::{self, WorkerSpec};
use crate::{stats, sys, PerfError};
use futures::StreamExt;
use netbench_local::nats_server::{self, NatsServer};
use netbench_proto::{subjects, Event, EventKind, RunId};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

/// The harness-only benchmark (see `crates/netbench-bench/src/catalogue.rs`).
pub const NOOP: &str = "perf-noop";

#[derive(Debug, Clone, Serialize)]
pub struct Scale {
    pub workers: usize,
    /// Spawning all worker processes (part of the registration time).
    pub spawn_seconds: f64,
    pub registration_seconds: f64,
    pub orchestrator_rss_mib_registered: f64,
    pub orchestrator_rss_mib_after_pairs: f64,
    pub orchestrator_peak_rss_mib: f64,
    pub idle_worker_rss_mib_median: Option<f64>,
    pub idle_worker_rss_mib_max: Option<f64>,
    pub pairs_measured: usize,
    pub pairs_per_second: Option<f64>,
    pub loadavg: [f64; 3],
}

/// Distinct loopback addresses: 127.0.1.1, 127.0.1.2, … (250 per /24).
pub fn loopback_ip(i: usize) -> IpAddr {
    Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8).into()
}

fn bad(what: String) -> PerfError {
    PerfError::Run(what)
}

pub async fn measure(
    netbench: &Path,
    nats_binary: Option<&Path>,
    n: usize,
    pairs: usize,
) -> Result<Scale, PerfError> {
    if !(2..=10_000).contains(&n) {
        return Err(bad(format!("P4 needs 2 to 10000 workers, not {n}")));
    }
    let nats = NatsServer::start(&nats_server::locate(nats_binary)?)?;
    let bus = runner::connect(&nats.url).await?;
    let logs = runner::temp_dir("netbench-perf-scale-")?;
    let run = RunId::generate();
    let sub = |s: String| {
        let bus = bus.clone();
        async move {
            bus.subscribe(s)
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
    let mut orch = Proc::spawn(
        "orchestrator",
        &mut runner::orchestrator_command(
            netbench,
            &nats.url,
            &run,
            runner::Plan {
                bench: NOOP,
                workers: n,
                duration: 1,
                replicas: 1,
            },
            &results_path,
            logs.path(),
        )?,
    )?;
    let orch_log = logs.path().join(format!("orchestrator-{run}.log"));
    let log_tail = || {
        std::fs::read_to_string(&orch_log)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join(" | ")
    };
    // The orchestrator is up (connected, streams open) when it announces the run.
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
            log_tail()
        )));
    }

    let t0 = Instant::now();
    let mut workers = Vec::with_capacity(n);
    for i in 0..n {
        let w = WorkerSpec {
            name: format!("w-{:05}", i + 1),
            ip: loopback_ip(i),
            place: Place::default(),
        };
        let mut c = runner::worker_command(netbench, &nats.url, &run, &w, None)?;
        workers.push(Proc::spawn(format!("worker {}", w.name), &mut c)?);
    }
    let spawn_seconds = t0.elapsed().as_secs_f64();
    let mut joined = 0;
    let reg_limit = Duration::from_secs(120);
    while joined < n {
        let m = tokio::time::timeout(reg_limit.saturating_sub(t0.elapsed()), events.next()).await;
        match m {
            Ok(Some(m)) => {
                if let Ok(e) = serde_json::from_slice::<Event>(&m.payload) {
                    if matches!(e.kind, EventKind::WorkerJoined { .. }) {
                        joined += 1;
                    }
                }
            }
            _ => {
                return Err(bad(format!(
                    "only {joined} of {n} workers registered within {reg_limit:?} ({})",
                    log_tail()
                )))
            }
        }
    }
    let registration_seconds = t0.elapsed().as_secs_f64();
    let orch_rss =
        |what| sys::rss_mib(orch.pid()).ok_or_else(|| bad(format!("orchestrator gone {what}")));
    let (rss_registered, _) = orch_rss("after registration")?;
    // Workers not yet in a pair are idle; the first pairs (client-major order) touch w-00001
    // and the first servers, so read every worker now and skip the first two.
    let idle: Vec<f64> = workers
        .iter()
        .skip(2)
        .filter_map(|w| sys::rss_mib(w.pid()).map(|(rss, _)| rss))
        .collect();

    let total = n * (n - 1);
    let want = pairs.min(total).max(2);
    let mut arrivals = Vec::with_capacity(want);
    let pair_limit = Duration::from_secs(60 + want as u64);
    let t1 = Instant::now();
    while arrivals.len() < want {
        match tokio::time::timeout(pair_limit.saturating_sub(t1.elapsed()), results.next()).await {
            Ok(Some(_)) => arrivals.push(t1.elapsed().as_secs_f64()),
            _ => {
                return Err(bad(format!(
                    "only {} of {want} pairs finished within {pair_limit:?} ({})",
                    arrivals.len(),
                    log_tail()
                )))
            }
        }
    }
    let (rss_after, peak) = orch_rss("after the pairs")?;
    let loadavg = sys::loadavg();
    // Stop the run as a user would; the orchestrator writes partial results and exits 4,
    // or 0/1 when every pair was done already.
    orch.signal(nix::sys::signal::Signal::SIGTERM);
    let code = orch
        .wait(Duration::from_secs(30))
        .await
        .and_then(|s| s.code());
    procs::stop_all(workers).await;
    drop(orch);
    if !matches!(code, Some(0 | 1 | 4)) {
        return Err(bad(format!(
            "the orchestrator exited with {code:?} on SIGTERM ({})",
            log_tail()
        )));
    }
    Ok(Scale {
        workers: n,
        spawn_seconds,
        registration_seconds,
        orchestrator_rss_mib_registered: rss_registered,
        orchestrator_rss_mib_after_pairs: rss_after,
        orchestrator_peak_rss_mib: peak,
        idle_worker_rss_mib_median: stats::median(&idle),
        idle_worker_rss_mib_max: stats::quantile(&idle, 1.0),
        pairs_measured: arrivals.len(),
        pairs_per_second: stats::rate(&arrivals),
        loadavg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn loopback_addresses_are_distinct_and_in_127() {
        let ips: HashSet<IpAddr> = (0..1000).map(loopback_ip).collect();
        assert_eq!(ips.len(), 1000);
        assert!(ips.iter().all(|ip| ip.is_loopback()));
        assert_eq!(loopback_ip(0).to_string(), "127.0.1.1");
        assert_eq!(loopback_ip(250).to_string(), "127.0.2.1");
    }
}
