//! P1 fidelity: does netbench measure what the bare tool measures?
//!
//! Two namespaces, node-1 and node-2. Each round runs (A) a netbench run over the two (pairs
//! node-1→node-2 and node-2→node-1), (B) the same two pairs by hand and (C) B again, in an order
//! rotated from round to round ([`order`]). By hand means the same server and client commands
//! the catalogue renders, a fresh server per pair, waited for in the same way (a listener in
//! the server's `/proc/PID/net/tcp`). Placement is equal: the processes of node-i (the bare
//! tool, or the worker and so the tools it spawns, which inherit its affinity) are pinned to
//! `cpus[i]`. The figure is the median over rounds and directions of netbench's headline metric
//! over the bare one. The median of C over B is the control, what two runs of the bare tool
//! differ by on this machine. Both medians come with a 95 % bootstrap interval, so a reader can
//! tell a cost netbench adds from the tools' own spread.

use crate::procs::{self, Place, Proc};
use crate::runner::{self, Bed, WorkerSpec};
use crate::{stats, sys, PerfError};
use netbench_bench::{allow, Benchmark, Role};
use netbench_proto::TaskParams;
use serde::Serialize;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// One measurement of one direction.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub round: usize,
    /// `netbench`, `bare` or `bare-again` (the control).
    pub mode: &'static str,
    /// `node-1->node-2`: client, then server.
    pub direction: String,
    pub value: f64,
    pub loadavg: [f64; 3],
}

#[derive(Debug, Clone, Serialize)]
pub struct Fidelity {
    pub benchmark: String,
    pub metric: String,
    pub unit: String,
    pub duration_seconds: u32,
    pub rounds: usize,
    /// CPU of node-1's and node-2's processes.
    pub cpus: [usize; 2],
    pub samples: Vec<Sample>,
    /// netbench/bare per round and direction.
    pub ratios: Vec<f64>,
    pub median_ratio: Option<f64>,
    /// 95 % bootstrap interval of `median_ratio`.
    pub median_ratio_ci95: Option<(f64, f64)>,
    /// bare-again/bare per round and direction: the tools' own spread.
    pub control_ratios: Vec<f64>,
    pub median_control_ratio: Option<f64>,
    pub median_control_ratio_ci95: Option<(f64, f64)>,
    pub median_netbench: Option<f64>,
    pub median_bare: Option<f64>,
}

fn find(name: &str) -> Result<&'static Benchmark, PerfError> {
    netbench_bench::find(name).ok_or_else(|| {
        PerfError::Run(format!(
            "unknown benchmark {name:?}; choose one of: {}",
            netbench_bench::names()
        ))
    })
}

/// Run P1 for one benchmark.
pub async fn measure(
    bed: &Bed,
    bench: &str,
    rounds: usize,
    duration: u32,
    cpus: [usize; 2],
) -> Result<Fidelity, PerfError> {
    let b = find(bench)?;
    let nodes = &bed.testbed.nodes[..2];
    let place = |i: usize| Place {
        cpu: Some(cpus[i]),
        netns: Some(nodes[i].netns.clone()),
    };
    let workers: Vec<WorkerSpec> = (0..2)
        .map(|i| WorkerSpec {
            name: nodes[i].name.clone(),
            ip: nodes[i].ip.into(),
            place: place(i),
        })
        .collect();
    let direction = |c: usize, s: usize| format!("{}->{}", nodes[c].name, nodes[s].name);
    let mut samples = Vec::new();
    for round in 1..=rounds {
        for mode in order(round) {
            if mode == "netbench" {
                // A: through netbench.
                let rec = runner::run(bed, bench, &workers, duration, false).await?;
                let loadavg = sys::loadavg();
                for r in &rec.results {
                    let Some(value) = r.metric(b.headline) else {
                        return Err(PerfError::Run(format!(
                            "netbench pair {} of {bench} failed: {}",
                            r.pair,
                            r.error.as_deref().unwrap_or(&r.status_name)
                        )));
                    };
                    samples.push(Sample {
                        round,
                        mode,
                        direction: format!("{}->{}", r.task.client.worker, r.task.server.worker),
                        value,
                        loadavg,
                    });
                }
                continue;
            }
            // B (and C, the control): bare, the same pairs in the same order (client-major, as
            // the orchestrator plans).
            for (c, s) in [(0, 1), (1, 0)] {
                let params = TaskParams {
                    server_ip: nodes[s].ip.into(),
                    duration_seconds: duration,
                    parameters: Default::default(),
                };
                let value = bare_pair(b, &params, &place(c), &place(s)).await?;
                samples.push(Sample {
                    round,
                    mode,
                    direction: direction(c, s),
                    value,
                    loadavg: sys::loadavg(),
                });
            }
        }
        eprintln!("P1 {bench}: round {round}/{rounds} done");
    }
    let control_ratios = ratios(&samples, "bare-again", "bare");
    let ratios = ratios(&samples, "netbench", "bare");
    let values = |mode| -> Vec<f64> {
        samples
            .iter()
            .filter(|s| s.mode == mode)
            .map(|s| s.value)
            .collect()
    };
    let unit = b
        .metric(b.headline)
        .map(|m| format!("{:?}", m.unit))
        .unwrap_or_default();
    Ok(Fidelity {
        benchmark: bench.to_string(),
        metric: b.headline.to_string(),
        unit,
        duration_seconds: duration,
        rounds,
        cpus,
        median_ratio: stats::median(&ratios),
        median_ratio_ci95: stats::median_ci95(&ratios),
        median_control_ratio: stats::median(&control_ratios),
        median_control_ratio_ci95: stats::median_ci95(&control_ratios),
        control_ratios,
        median_netbench: stats::median(&values("netbench")),
        median_bare: stats::median(&values("bare")),
        samples,
        ratios,
    })
}

/// The order of A (netbench), B (bare) and C (bare again) in a round, rotated from round to
/// round so each takes each place equally often: a run's place in the round moved iperf3 by
/// ~10 % here (later runs faster), which a fixed A B C order charges to netbench.
pub fn order(round: usize) -> [&'static str; 3] {
    let mut o = ["netbench", "bare", "bare-again"];
    o.rotate_left((round + 2) % 3);
    o
}

/// `mode` over `base` for each (round, direction) that has both. Pure.
pub fn ratios(samples: &[Sample], mode: &str, base: &str) -> Vec<f64> {
    samples
        .iter()
        .filter(|a| a.mode == mode)
        .filter_map(|a| {
            let b = samples
                .iter()
                .find(|b| b.mode == base && b.round == a.round && b.direction == a.direction)?;
            (b.value > 0.0).then(|| a.value / b.value)
        })
        .collect()
}

/// One pair by hand: start the server, wait until it listens, run the client, stop the server;
/// the client's headline metric, parsed by the catalogue's parser.
pub async fn bare_pair(
    b: &Benchmark,
    params: &TaskParams,
    client: &Place,
    server: &Place,
) -> Result<f64, PerfError> {
    let (sprog, sargs) = allow::render(b, Role::Server, params);
    let mut sc = procs::command(server, &sprog);
    sc.args(&sargs).stdout(Stdio::null()).stderr(Stdio::null());
    let mut srv = Proc::spawn(format!("bare {sprog}"), &mut sc)?;
    let port = b.ready_port();
    let start = Instant::now();
    let mut pause = Duration::from_micros(500);
    loop {
        let listening = ["tcp", "tcp6"].iter().any(|t| {
            std::fs::read_to_string(format!("/proc/{}/net/{t}", srv.pid()))
                .map(|table| netbench_worker::ready::table_has_listener(&table, port))
                .unwrap_or(false)
        });
        if listening {
            break;
        }
        if srv.wait(Duration::ZERO).await.is_some() || start.elapsed() > Duration::from_secs(15) {
            return Err(PerfError::Run(format!(
                "bare {sprog} {} did not listen on port {port}",
                sargs.join(" ")
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(10));
    }
    let (cprog, cargs) = allow::render(b, Role::Client, params);
    let mut cc = procs::command(client, &cprog);
    cc.args(&cargs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cc.output().await.map_err(|source| PerfError::Spawn {
        what: format!("bare {cprog}"),
        source,
    })?;
    srv.stop().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fail = |why: String| {
        PerfError::Run(format!(
            "bare {cprog} {}: {why}; stderr: {}",
            cargs.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    };
    if !out.status.success() {
        return Err(fail(format!("{}", out.status)));
    }
    let values = (b.parse)(&stdout).map_err(|e| fail(e.to_string()))?;
    values
        .iter()
        .find(|(name, _)| *name == b.headline)
        .map(|(_, v)| *v)
        .ok_or_else(|| fail(format!("no {} in the output", b.headline)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(round: usize, mode: &'static str, direction: &str, value: f64) -> Sample {
        Sample {
            round,
            mode,
            direction: direction.into(),
            value,
            loadavg: [0.0; 3],
        }
    }

    #[test]
    fn each_mode_takes_each_place_equally_often() {
        assert_eq!(order(1), ["netbench", "bare", "bare-again"]);
        for place in 0..3 {
            for mode in ["netbench", "bare", "bare-again"] {
                let n = (1..=6).filter(|&r| order(r)[place] == mode).count();
                assert_eq!(n, 2, "{mode} in place {place}");
            }
        }
    }

    #[test]
    fn ratios_pair_rounds_and_directions() {
        let samples = vec![
            s(1, "netbench", "a->b", 99.0),
            s(1, "netbench", "b->a", 50.0),
            s(1, "bare", "a->b", 100.0),
            s(1, "bare", "b->a", 40.0),
            s(2, "netbench", "a->b", 10.0), // no bare partner: left out
            s(2, "bare", "b->a", 0.0),
            s(1, "bare-again", "a->b", 110.0),
        ];
        assert_eq!(ratios(&samples, "netbench", "bare"), vec![0.99, 1.25]);
        assert_eq!(ratios(&samples, "bare-again", "bare"), vec![1.1]);
    }
}
