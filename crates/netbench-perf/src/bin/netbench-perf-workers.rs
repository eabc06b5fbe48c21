//! `netbench-perf-workers`: many simulated workers in ONE process, for the P5 scale figures.
//!
//! Each worker is the real worker loop ([`netbench_worker::run`]) with its own [`WorkerInfo`]
//! (name `<prefix>-NNNNN`, a distinct address 127.S.X.Y), its own NATS connection and its
//! own tools: the orchestrator and nats-server see as many real connections as workers.
//! The harness (`netbench-perf --only p5`) starts it in a PID namespace of its own
//! (`unshare --pid --fork --mount-proc`), as a pod is: every worker loop runs the orphan
//! reaper, which scans `/proc` every second, and in the host's `/proc` thousands of reapers
//! would eat the machine.
//!
//! Protocol with the harness, one line each:
//! - stdout `spawned N` once every worker loop is started;
//! - stdin `stat` → stdout `stat RSS_MIB HWM_MIB THREADS PROBE_MS FINISHED` (this process's
//!   memory, the cost of one readiness probe of `/proc/net/tcp` here, worker loops ended);
//! - stdin closed (the harness is gone), `stop`, SIGTERM or SIGINT → every worker is shut down
//!   (their servers stopped), stdout `stopped OK FAILED`, exit 0.

use clap::Parser;
use netbench_bus::NatsArgs;
use netbench_proto::{RunId, WorkerId, WorkerInfo};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "netbench-perf-workers",
    about = "Host many simulated netbench workers (real worker loops, one NATS connection each) in one process. Started by netbench-perf for P5."
)]
struct Cli {
    #[arg(long)]
    nats_url: String,
    #[arg(long)]
    run: RunId,
    /// How many workers.
    #[arg(long)]
    count: usize,
    /// Worker names are `<prefix>-00001`, ...
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Second octet of the workers' addresses 127.S.X.Y.
    #[arg(long, default_value_t = 2)]
    octet: u8,
    /// Every worker exits after this many seconds whatever happens.
    #[arg(long, default_value_t = 7200)]
    deadline_seconds: u64,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// Most workers one process hosts: 250 addresses per /24 in 127.S.0.0/16.
const MAX_WORKERS: usize = 250 * 255;

/// The `i`-th simulated address: 127.S.1.1, 127.S.1.2, … (250 per /24).
fn address(octet: u8, i: usize) -> IpAddr {
    Ipv4Addr::new(127, octet, 1 + (i / 250) as u8, 1 + (i % 250) as u8).into()
}

/// (VmRSS, VmHWM) of this process in MiB and its thread count.
fn own_memory() -> (f64, f64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        kib("VmRSS:") as f64 / 1024.0,
        kib("VmHWM:") as f64 / 1024.0,
        kib("Threads:"),
    )
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if cli.count == 0 || cli.count > MAX_WORKERS {
        eprintln!(
            "error: --count must be between 1 and {MAX_WORKERS}, not {}",
            cli.count
        );
        return 2.into();
    }
    let (soft, hard) = netbench_perf::sys::raise_nofile();
    // Each worker holds a NATS socket; tools and the runtime need a few more.
    if (soft as usize) < cli.count + 256 {
        eprintln!(
            "error: {} workers need about {} file descriptors, and this process may open {soft} \
             (hard limit {hard}); raise it (ulimit -Hn, or LimitNOFILE for a service)",
            cli.count,
            cli.count + 256
        );
        return 2.into();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            return 3.into();
        }
    };
    let code = rt.block_on(serve(cli));
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn serve(cli: Cli) -> std::process::ExitCode {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("error: cannot handle signals");
        return 3.into();
    };
    let shutdown = CancellationToken::new();
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut loops = tokio::task::JoinSet::new();
    for i in 0..cli.count {
        let name = format!("{}-{:05}", cli.prefix, i + 1);
        let cfg = netbench_worker::WorkerConfig {
            nats: NatsArgs {
                url: cli.nats_url.clone(),
                connect_wait: Duration::from_secs(60),
                ..Default::default()
            },
            run: cli.run.clone(),
            info: WorkerInfo {
                id: WorkerId::for_name(&name),
                hostname: name.clone(),
                name,
                ip: address(cli.octet, i),
                zone: "perf".into(),
                cpus: 0,
                placement: Default::default(),
                service_ip: None,
            },
            deadline: Duration::from_secs(cli.deadline_seconds),
            output_cap: netbench_worker::service::DEFAULT_OUTPUT_CAP,
            tool_dirs: Vec::new(),
        };
        let stop = shutdown.clone();
        let finished = finished.clone();
        loops.spawn(async move {
            let name = cfg.info.name.clone();
            let r = netbench_worker::run(cfg, stop).await;
            finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            r.map_err(|e| format!("{name}: {e}"))
        });
    }
    say(&format!("spawned {}", cli.count));
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = stdin.next_line() => match line {
                Ok(Some(l)) if l.trim() == "stat" => {
                    let (rss, hwm, threads) = own_memory();
                    let t = Instant::now();
                    let _ = netbench_worker::ready::is_listening(1);
                    let probe_ms = t.elapsed().as_secs_f64() * 1000.0;
                    let done = finished.load(std::sync::atomic::Ordering::Relaxed);
                    say(&format!("stat {rss:.1} {hwm:.1} {threads} {probe_ms:.3} {done}"));
                }
                Ok(Some(l)) if l.trim() == "stop" => break,
                Ok(Some(l)) => eprintln!("netbench-perf-workers: unknown command {l:?} (stat, stop)"),
                // The harness is gone (or closed our stdin): stop.
                Ok(None) | Err(_) => break,
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    shutdown.cancel();
    let (mut ok, mut failed) = (0usize, 0usize);
    let limit = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(limit);
    loop {
        tokio::select! {
            j = loops.join_next() => match j {
                None => break,
                Some(Ok(Ok(()))) => ok += 1,
                Some(Ok(Err(e))) => {
                    if failed < 5 {
                        eprintln!("netbench-perf-workers: {e}");
                    }
                    failed += 1;
                }
                Some(Err(e)) => {
                    eprintln!("netbench-perf-workers: a worker loop panicked: {e}");
                    failed += 1;
                }
            },
            _ = &mut limit => {
                eprintln!("netbench-perf-workers: {} worker loops did not stop within 30 s; aborting them", loops.len());
                failed += loops.len();
                loops.abort_all();
                break;
            }
        }
    }
    say(&format!("stopped {ok} {failed}"));
    0.into()
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_loopback() {
        let ips: std::collections::HashSet<IpAddr> =
            (0..MAX_WORKERS).map(|i| address(2, i)).collect();
        assert_eq!(ips.len(), MAX_WORKERS);
        assert!(ips.iter().all(|ip| ip.is_loopback()));
        assert_eq!(address(2, 0).to_string(), "127.2.1.1");
        assert_eq!(address(2, MAX_WORKERS - 1).to_string(), "127.2.255.250");
    }
}
