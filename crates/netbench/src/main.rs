//! `netbench`: one binary, one subcommand per role.
//!
//! - `netbench local`: a real run on this machine (network namespaces, real tools, real NATS).
//! - `netbench worker`: run on every node; executes allow-listed tools for the orchestrator.
//! - `netbench orchestrator`: waits for workers and runs every ordered pair, one at a time.
//!
//! The roles live in their own crates; this file only parses flags and maps outcomes to exit
//! codes (see [`exit`]).

mod cli;
mod exit;
mod show;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Old Job manifests pass Go-style flags (`launch -orchImage x`): accept them.
    let args = netbench_launcher::argv::normalize(std::env::args_os().collect());
    let cli = cli::Cli::parse_from(args);
    init_tracing(&cli);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(cli.run());
    // Don't wait for stray blocking tasks (a stdin reader, a slow DNS lookup).
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::ExitCode::from(code)
}

fn init_tracing(cli: &cli::Cli) {
    use tracing_subscriber::EnvFilter;
    // `local` prints its own progress; its components only log warnings unless asked.
    let default = if cli.is_local() { "warn" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
