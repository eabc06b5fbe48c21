//! The netbench orchestrator.
//!
//! It waits for its workers to register, plans every ordered pair ([`plan`]), and runs the pairs
//! strictly one at a time: start server → ready → run client → stop server → store the result in
//! JetStream (acked) → event → run state. A failed pair is recorded with its status and the run
//! goes on. Results already in the stream for this run (an orchestrator restarted with the same
//! run id) are kept and their pairs skipped.
//!
//! - [`plan`]: pair planning (pure).
//! - [`registry`]: who registered, who is missing, who lacks a tool.
//! - [`pair`]: one pair, from tasks to a [`netbench_proto::PairResult`].
//! - [`run`](mod@run): the run loop and the results file.

pub mod pair;
pub mod plan;
pub mod registration;
pub mod registry;
pub mod schedule;
pub mod run;

pub use run::{run, ExitCode, OrchestratorConfig, RunOutcome};
