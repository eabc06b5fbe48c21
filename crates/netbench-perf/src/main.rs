//! `netbench-perf`: the performance harness. See the crate documentation (`lib.rs`) for what
//! each figure means; `tests/perf/run` builds what it needs and runs it.
//!
//! Exit codes: 0 every asked figure was taken (goals are reported, never asserted), 2 bad
//! command line, 3 the harness could not take a figure.

use clap::Parser;
use netbench_perf::report::{self, Report};
use netbench_perf::runner::Bed;
use netbench_perf::{fidelity, overhead, scale, sys, Options, Part, PerfError};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "netbench-perf",
    about = "Measure what netbench adds to the bare tools: fidelity (P1), overhead per pair (P2), \
             efficiency (P3), scale (P4), scale with simulated workers (P5), one nats-server against a \
             three-server cluster (P6). Needs root."
)]
struct Cli {
    /// Smoke mode for CI: 1 round, 2 nodes × 1 s, 20 workers, 50 simulated workers × 100 pairs;
    /// P6: 2 nodes, 50 simulated workers × 20 pairs, 1 kill with 6 workers.
    /// Figures are not meaningful.
    #[arg(long)]
    quick: bool,
    /// Which parts to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// The netbench binary (built with the netbench-bench/perf-harness feature for P4).
    /// Default: `netbench` beside this program.
    #[arg(long)]
    netbench: Option<PathBuf>,
    /// nats-server binary (default: PATH, then /usr/sbin).
    #[arg(long, env = "NETBENCH_NATS_SERVER")]
    nats_server: Option<PathBuf>,
    /// Where to write the figures as JSON.
    #[arg(long, default_value = "netbench-perf.json")]
    json: PathBuf,
    /// Third octet of the 198.18.X.0/24 the namespaces use.
    #[arg(long, default_value_t = 100)]
    subnet: u8,
    /// P1: CPUs of node-1's and node-2's processes, e.g. `0,1` (apart) or `0,0` (together).
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1])]
    cpus: Vec<usize>,
    /// P1: rounds of netbench, bare and bare again (the order rotates every round, so a
    /// multiple of 3 gives each the same places). Default 15.
    #[arg(long)]
    rounds: Option<usize>,
    /// P1: seconds per test.
    #[arg(long)]
    p1_duration: Option<u32>,
    /// P1: benchmarks compared.
    #[arg(long, value_delimiter = ',', default_values_t = ["iperf3-tcp".to_string(), "netperf-tcp-rr".to_string()])]
    p1_benchmarks: Vec<String>,
    /// P2: nodes per run (n·(n-1) pairs per benchmark).
    #[arg(long)]
    p2_nodes: Option<usize>,
    /// P2: seconds per test.
    #[arg(long, default_value_t = 1)]
    p2_duration: u32,
    /// P2: benchmarks run.
    #[arg(long, value_delimiter = ',')]
    p2_benchmarks: Vec<String>,
    /// P3: nodes (n·(n-1) pairs).
    #[arg(long)]
    p3_nodes: Option<usize>,
    /// P3: seconds per test.
    #[arg(long)]
    p3_duration: Option<u32>,
    /// P3: benchmark run.
    #[arg(long, default_value = "iperf3-tcp")]
    p3_benchmark: String,
    /// P4: worker processes.
    #[arg(long)]
    p4_workers: Option<usize>,
    /// P4: pairs to time before stopping the run.
    #[arg(long)]
    p4_pairs: Option<usize>,
    /// P5: simulated workers per session at concurrency 1, e.g. `1000,5000` (the largest is
    /// also used for the other concurrencies and the long session). Default 1000,5000; quick 50.
    #[arg(long, value_delimiter = ',')]
    p5_workers: Vec<usize>,
    /// P5: pairs timed per session. Default 1000; quick 100.
    #[arg(long)]
    p5_pairs: Option<usize>,
    /// P5: concurrencies tried at the largest size besides 1 (needs the orchestrator's
    /// --concurrency; skipped with a note without it). Default 64; quick 8.
    #[arg(long, value_delimiter = ',')]
    p5_concurrency: Vec<u32>,
    /// P5: one long session at the largest size and concurrency, for the orchestrator's RSS
    /// through this many pairs and the results file of as many (0: none). Default 20000;
    /// quick 0. The goal's figure: --p5-long-pairs 100000.
    #[arg(long)]
    p5_long_pairs: Option<usize>,
    /// P5: the orchestrator's --plan (when it has the flag), e.g. `ring`, `sample:20`.
    /// Default: its own default (mesh).
    #[arg(long)]
    p5_plan: Option<String>,
    /// P6: servers in the NATS cluster compared with a single one.
    #[arg(long, default_value_t = 3)]
    p6_servers: usize,
    /// P6: third octet of the 198.18.X.0/24 its namespaces use.
    #[arg(long, default_value_t = 96)]
    p6_subnet: u8,
    /// P6: nodes per overhead run (P2's benchmarks and --p2-duration). Default 4; quick 2.
    #[arg(long)]
    p6_nodes: Option<usize>,
    /// P6: simulated workers registered with each. Default 1000; quick 50.
    #[arg(long)]
    p6_workers: Option<usize>,
    /// P6: pairs timed after the registration. Default 200; quick 20.
    #[arg(long)]
    p6_pairs: Option<usize>,
    /// P6: simulated workers in the failover run. Default 20; quick 6.
    #[arg(long)]
    p6_failover_workers: Option<usize>,
    /// P6: SIGKILLs of the orchestrator's server in the failover run (0: none). Default 3;
    /// quick 1.
    #[arg(long)]
    p6_kills: Option<usize>,
    /// P6: which measurements to take (default all).
    #[arg(long, value_enum, value_delimiter = ',')]
    p6_steps: Vec<netbench_perf::cluster::Step>,
}

impl Cli {
    fn options(self) -> Result<(Options, PathBuf), String> {
        let q = self.quick;
        let netbench = match self.netbench {
            Some(p) => p,
            None => std::env::current_exe()
                .map_err(|e| format!("cannot find this program: {e}"))?
                .with_file_name("netbench"),
        };
        let [c0, c1] = self.cpus[..] else {
            return Err(format!(
                "--cpus takes two CPU numbers (node-1,node-2), not {:?}",
                self.cpus
            ));
        };
        let vcpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if c0 >= vcpus || c1 >= vcpus {
            return Err(format!(
                "--cpus {c0},{c1}: this machine has CPUs 0..{}",
                vcpus - 1
            ));
        }
        let p2_benchmarks = if !self.p2_benchmarks.is_empty() {
            self.p2_benchmarks
        } else if q {
            vec!["iperf3-tcp".into()]
        } else {
            vec!["iperf3-tcp".into(), "netperf-tcp-rr".into()]
        };
        for b in self
            .p1_benchmarks
            .iter()
            .chain(&p2_benchmarks)
            .chain([&self.p3_benchmark])
        {
            if netbench_bench::find(b).is_none() {
                return Err(format!(
                    "unknown benchmark {b:?}; choose from: {}",
                    netbench_bench::names()
                ));
            }
        }
        let mut parts = self.only;
        if parts.is_empty() {
            parts = vec![Part::P1, Part::P2, Part::P3, Part::P4, Part::P5, Part::P6];
        }
        parts.sort();
        parts.dedup();
        let opts = Options {
            netbench,
            nats_server: self.nats_server,
            parts,
            quick: q,
            subnet: self.subnet,
            cpus: [c0, c1],
            rounds: self.rounds.unwrap_or(if q { 1 } else { 15 }).max(1),
            p1_duration: self.p1_duration.unwrap_or(if q { 1 } else { 5 }),
            p1_benchmarks: self.p1_benchmarks,
            p2_nodes: self.p2_nodes.unwrap_or(if q { 2 } else { 6 }),
            p2_duration: self.p2_duration,
            p2_benchmarks: p2_benchmarks.clone(),
            p3_nodes: self.p3_nodes.unwrap_or(if q { 2 } else { 4 }),
            p3_duration: self.p3_duration.unwrap_or(if q { 1 } else { 3 }),
            p3_benchmark: self.p3_benchmark,
            p4_workers: self.p4_workers.unwrap_or(if q { 20 } else { 200 }),
            p4_pairs: self.p4_pairs.unwrap_or(if q { 40 } else { 500 }),
            p5: netbench_perf::sim::SimOptions {
                sizes: match self.p5_workers {
                    v if !v.is_empty() => v,
                    _ if q => vec![50],
                    _ => vec![1000, 5000],
                },
                pairs: self.p5_pairs.unwrap_or(if q { 100 } else { 1000 }),
                concurrency: match self.p5_concurrency {
                    v if !v.is_empty() => v,
                    _ if q => vec![8],
                    _ => vec![64],
                },
                long_pairs: self.p5_long_pairs.unwrap_or(if q { 0 } else { 20_000 }),
                plan: self.p5_plan,
            },
            p6: netbench_perf::cluster::ClusterOptions {
                servers: self.p6_servers,
                subnet: self.p6_subnet,
                nodes: self.p6_nodes.unwrap_or(if q { 2 } else { 4 }),
                benchmarks: p2_benchmarks.clone(),
                duration: self.p2_duration,
                workers: self.p6_workers.unwrap_or(if q { 50 } else { 1000 }),
                pairs: self.p6_pairs.unwrap_or(if q { 20 } else { 200 }),
                failover_workers: self.p6_failover_workers.unwrap_or(if q { 6 } else { 20 }),
                kills: self.p6_kills.unwrap_or(if q { 1 } else { 3 }),
                steps: match self.p6_steps {
                    v if !v.is_empty() => v,
                    _ => {
                        use netbench_perf::cluster::Step;
                        vec![Step::Overhead, Step::Registration, Step::Failover]
                    }
                },
            },
        };
        if !(2..=5).contains(&opts.p6.servers) {
            return Err(format!(
                "--p6-servers takes 2 to 5 servers (a cluster; 3 is the usual), not {}",
                opts.p6.servers
            ));
        }
        if !(2..=250).contains(&opts.p6.nodes) {
            return Err(format!(
                "--p6-nodes must be between 2 and 250, not {}",
                opts.p6.nodes
            ));
        }
        if !(2..=60_000).contains(&opts.p6.workers) || opts.p6.failover_workers < 2 {
            return Err(
                "--p6-workers takes 2 to 60000 and --p6-failover-workers at least 2".into(),
            );
        }
        if let Some(&n) = opts.p5.sizes.iter().find(|n| !(2..=60_000).contains(*n)) {
            return Err(format!(
                "--p5-workers takes 2 to 60000 workers per session, not {n}"
            ));
        }
        if opts.p5.pairs < 2 {
            return Err("--p5-pairs must be at least 2".into());
        }
        if opts.p5.concurrency.contains(&0) {
            return Err("--p5-concurrency takes whole numbers of pairs at once, at least 1".into());
        }
        for (what, n) in [("--p2-nodes", opts.p2_nodes), ("--p3-nodes", opts.p3_nodes)] {
            if !(2..=250).contains(&n) {
                return Err(format!("{what} must be between 2 and 250, not {n}"));
            }
        }
        if opts.p1_duration == 0 || opts.p2_duration == 0 || opts.p3_duration == 0 {
            return Err("test lengths are whole seconds, at least 1".into());
        }
        Ok((opts, self.json))
    }
}

fn checks(o: &Options) -> Result<(), PerfError> {
    if !netbench_perf::is_root() {
        return Err(PerfError::NotRoot);
    }
    if !o.netbench.is_file() {
        return Err(PerfError::NoBinary(o.netbench.clone()));
    }
    let mut programs = vec!["iperf3", "taskset", "ip"];
    if o.parts.contains(&Part::P5) || o.parts.contains(&Part::P6) {
        programs.push("unshare");
        netbench_perf::sim::workers_program()?;
    }
    for b in o.p1_benchmarks.iter().chain(&o.p2_benchmarks) {
        programs.extend(
            netbench_bench::find(b)
                .map(|b| b.programs())
                .unwrap_or_default(),
        );
    }
    for program in programs {
        if netbench_worker::tools::locate(program, &[]).is_none() {
            return Err(PerfError::MissingTool {
                program,
                hint: match program {
                    "taskset" | "unshare" => "apt-get install util-linux",
                    "ip" => "apt-get install iproute2",
                    p => netbench_worker::tools::install_hint(p),
                },
            });
        }
    }
    Ok(())
}

async fn measure(o: &Options, report: &mut Report) -> Result<(), PerfError> {
    let wants = |p| o.parts.contains(&p);
    if wants(Part::P1) || wants(Part::P2) || wants(Part::P3) {
        let mut nodes = 2;
        if wants(Part::P2) {
            nodes = nodes.max(o.p2_nodes);
        }
        if wants(Part::P3) {
            nodes = nodes.max(o.p3_nodes);
        }
        let bed = Bed::create(&o.netbench, o.nats_server.as_deref(), o.subnet, nodes).await?;
        if wants(Part::P1) {
            for b in &o.p1_benchmarks {
                let f = fidelity::measure(&bed, b, o.rounds, o.p1_duration, o.cpus).await?;
                report.p1.push(f);
            }
        }
        if wants(Part::P2) {
            report.p2 = Some(
                overhead::measure_overhead(&bed, &o.p2_benchmarks, o.p2_nodes, o.p2_duration)
                    .await?,
            );
        }
        if wants(Part::P3) {
            report.p3 = Some(
                overhead::measure_efficiency(&bed, &o.p3_benchmark, o.p3_nodes, o.p3_duration)
                    .await?,
            );
        }
    }
    if wants(Part::P4) {
        eprintln!("P4: {} workers", o.p4_workers);
        report.p4 = Some(
            scale::measure(
                &o.netbench,
                o.nats_server.as_deref(),
                o.p4_workers,
                o.p4_pairs,
            )
            .await?,
        );
    }
    if wants(Part::P5) {
        report.p5 =
            Some(netbench_perf::sim::measure(&o.netbench, o.nats_server.as_deref(), &o.p5).await?);
    }
    if wants(Part::P6) {
        report.p6 = Some(
            netbench_perf::cluster::measure(&o.netbench, o.nats_server.as_deref(), &o.p6).await?,
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let command: Vec<String> = std::env::args().collect();
    let (opts, json) = match Cli::parse().options() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return 2.into();
        }
    };
    // One thread: every child is spawned from it, so `--exit-with-parent` (PR_SET_PDEATHSIG,
    // tied to the spawning thread) holds for the whole run.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut report = Report {
        machine: sys::Machine::read(),
        command: command.join(" "),
        quick: opts.quick,
        started_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        loadavg_start: sys::loadavg(),
        loadavg_end: [0.0; 3],
        p1: Vec::new(),
        p2: None,
        p3: None,
        p4: None,
        p5: None,
        p6: None,
        rows: Vec::new(),
    };
    let outcome = rt.block_on(async {
        checks(&opts)?;
        // On a signal the measurement is dropped: its processes, namespaces and NATS go with it.
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return Err(PerfError::Run("cannot handle signals".into()));
        };
        tokio::select! {
            r = measure(&opts, &mut report) => r,
            _ = term.recv() => Err(PerfError::Run("stopped by SIGTERM".into())),
            _ = int.recv() => Err(PerfError::Run("interrupted".into())),
        }
    });
    report.loadavg_end = sys::loadavg();
    report.rows = report::rows(
        &report.p1,
        report.p2.as_ref(),
        report.p3.as_ref(),
        report.p4.as_ref(),
    );
    if let Some(sim) = &report.p5 {
        report.rows.extend(netbench_perf::sim::rows(sim));
    }
    if let Some(p6) = &report.p6 {
        report.rows.extend(netbench_perf::cluster::rows(p6));
    }
    let m = &report.machine;
    println!(
        "\n{} vCPU {}, kernel {}, {:.0} GiB; load {:.2} {:.2} {:.2} at start, {:.2} {:.2} {:.2} at end{}\n",
        m.vcpus,
        m.cpu_model,
        m.kernel,
        m.memory_gib,
        report.loadavg_start[0],
        report.loadavg_start[1],
        report.loadavg_start[2],
        report.loadavg_end[0],
        report.loadavg_end[1],
        report.loadavg_end[2],
        if opts.quick { " (quick mode: figures not meaningful)" } else { "" }
    );
    print!("{}", report::table(&report.rows));
    for p in report.p2.iter().flat_map(|o| &o.profiles) {
        println!();
        print!("{}", netbench_perf::profile::table(p));
    }
    let text = serde_json::to_string_pretty(&report).expect("report serializes");
    if let Err(e) = std::fs::write(&json, text) {
        eprintln!("error: cannot write {}: {e}", json.display());
        return 3.into();
    }
    println!("\nfigures: {}", json.display());
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(()) => 0.into(),
        Err(e) => {
            eprintln!("error: {e}");
            3.into()
        }
    }
}
