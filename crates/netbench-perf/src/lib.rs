//! The netbench performance harness (`netbench-perf`): what netbench adds to the bare tools.
//!
//! Everything runs on this machine with real parts: a real nats-server, real `netbench worker`
//! and `netbench orchestrator` processes (the binary given with `--netbench`), real tools in
//! network namespaces on 198.18.X.0/24, and loopback for the scale test.
//!
//! - P1 fidelity ([`fidelity`]): the same pair of namespaces, the tool through netbench and
//!   bare, interleaved A B A B, both with the same CPU placement; median ratio netbench/bare,
//!   and a bare/bare control (the tools' own spread), each with a 95 % bootstrap interval.
//! - P2 overhead and P3 efficiency ([`overhead`]): what a pair costs beyond its client tool,
//!   and the clients' share of a run's wall time.
//! - P4 scale ([`scale`]): many workers as processes on 127.x addresses, the `perf-noop`
//!   catalogue entry (only in builds with the `netbench-bench/perf-harness` feature):
//!   registration time, memory, pairs dispatched per second.
//! - P5 simulated scale ([`sim`]): thousands of real worker loops in ONE process
//!   (`netbench-perf-workers`), one NATS connection and one 127.2.X.Y address each, against the
//!   real orchestrator process: registration of 1,000 and 5,000 workers, the first pair after
//!   registration, the dispatch rate at concurrency 1 and 64, the orchestrator's memory through
//!   many pairs, the results file's write time and peak memory.
//! - P6 broker ([`cluster`]): a single nats-server against a three-server cluster (stream and
//!   bucket with 3 replicas, [`broker`]): P2's overhead per pair side by side, the registration
//!   of 1,000 simulated workers, and the time from SIGKILL of the orchestrator's server to the
//!   next result stored in the stream, mid-run.
//!
//! Modules: [`stats`] (pure figures), [`sys`] (`/proc`), [`procs`] (pinned child processes),
//! [`runner`] (one netbench run as processes), [`profile`] (where a pair's time goes, from a
//! wiretap on NATS), [`report`] (table and JSON).

pub mod broker;
pub mod cluster;
pub mod fidelity;
pub mod overhead;
pub mod procs;
pub mod profile;
pub mod report;
pub mod runner;
pub mod scale;
pub mod sim;
pub mod stats;
pub mod sys;

use std::path::PathBuf;

/// Everything that can stop the harness, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    #[error("the harness needs root (network namespaces, taskset on other users' CPUs); run it with sudo")]
    NotRoot,
    #[error("{0} not found; build it first: tests/perf/run does (cargo build --features netbench-bench/perf-harness --target-dir target/perf)")]
    NoBinary(PathBuf),
    #[error("{program} is not installed: {hint}")]
    MissingTool {
        program: &'static str,
        hint: &'static str,
    },
    #[error(transparent)]
    Testbed(#[from] netbench_local::testbed::TestbedError),
    #[error(transparent)]
    Nats(#[from] netbench_local::nats_server::NatsServerError),
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("NATS: {0}")]
    Bus(String),
    #[error("{0}")]
    Run(String),
    #[error("{what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Which figures to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Part {
    P1,
    P2,
    P3,
    P4,
    P5,
    P6,
}

/// The harness settings (the CLI fills them; `--quick` shrinks them).
#[derive(Debug, Clone)]
pub struct Options {
    pub netbench: PathBuf,
    pub nats_server: Option<PathBuf>,
    pub parts: Vec<Part>,
    pub quick: bool,
    /// Third octet of the 198.18.X.0/24 the namespaces live on.
    pub subnet: u8,
    /// P1: CPU of node-1's and of node-2's processes (tool or worker).
    pub cpus: [usize; 2],
    pub rounds: usize,
    pub p1_duration: u32,
    pub p1_benchmarks: Vec<String>,
    pub p2_nodes: usize,
    pub p2_duration: u32,
    pub p2_benchmarks: Vec<String>,
    pub p3_nodes: usize,
    pub p3_duration: u32,
    pub p3_benchmark: String,
    pub p4_workers: usize,
    pub p4_pairs: usize,
    pub p5: sim::SimOptions,
    pub p6: cluster::ClusterOptions,
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
