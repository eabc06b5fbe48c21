//! The netbench worker.
//!
//! It registers with the orchestrator (`netbench.<run>.register`), then serves its own task
//! subject (`netbench.<run>.worker.<id>.task`): start a benchmark server and say when it is
//! ready, run a client with a hard timeout, stop a server. Every command is checked against the
//! catalogue ([`netbench_bench::validate`]) before anything runs; nothing goes through a shell.
//!
//! - [`process`]: spawning a tool in its own process group, capped output capture, hard kill.
//! - [`ready`]: "does this port accept connections?" from `/proc/net/tcp*`, without touching it.
//! - [`reaper`]: PID 1 duty: orphans of the tools are reaped.
//! - [`tools`]: which catalogue programs are on PATH.
//! - [`service`]: the NATS side: registration, the task loop, shutdown.

pub mod process;
pub mod ready;
pub mod reaper;
pub mod service;
pub mod tools;

pub use service::{run, WorkerConfig};
