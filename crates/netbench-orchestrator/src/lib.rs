//! The netbench orchestrator.
//!
//! It waits for its workers to register, plans the pairs ([`plan`]: every ordered pair by
//! default), and runs them, strictly one at a time by default or up to `--concurrency` at once
//! ([`schedule`]), never a worker in two pairs: start server → ready → run client → stop server
//! → store the result in JetStream (acked) → event → run state. A failed pair is recorded with
//! its status and the run goes on. Results already in the stream for this run (an orchestrator
//! restarted with the same run id) are kept and their pairs skipped.
//!
//! - [`plan`]: pair plans (pure, lazy).
//! - [`flags`]: the plan flags and the check that a plan fits its deadline (pure).
//! - [`schedule`]: which pair may start now (pure).
//! - [`suite`]: what a run measures: its entries (benchmarks, parameters, samples), pure.
//! - [`nodes`]: which worker serves which node on which path (pure).
//! - [`registry`]: who registered, who is missing, who lacks a tool.
//! - [`pair`]: one pair, from tasks to a [`netbench_proto::PairResult`].
//! - [`run`](mod@run): the run loop and the results file.

pub mod flags;
pub mod nodes;
pub mod pair;
pub mod plan;
pub mod registration;
pub mod registry;
pub mod run;
pub mod schedule;
pub mod suite;

pub use run::{run, ExitCode, OrchestratorConfig, RunOutcome};
