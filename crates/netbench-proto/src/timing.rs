//! The time limits both sides of a task depend on, in one table: what a worker may take, and
//! how long the orchestrator waits for it, derived from it (so the one cannot outgrow the other).

use std::time::Duration;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A worker waits this long for a server tool to listen.
pub const SERVER_READY_LIMIT: Duration = secs(15);
/// SIGTERM to SIGKILL when a worker stops a server.
pub const SERVER_STOP_GRACE: Duration = secs(2);
/// A stopped tool's output pipes are read for at most this long each (a forked child may
/// hold them open).
pub const OUTPUT_DRAIN_LIMIT: Duration = secs(2);
/// The longest a worker takes to stop one server: the grace, then stdout and stderr drained.
pub const SERVER_STOP_WORST: Duration =
    secs(SERVER_STOP_GRACE.as_secs() + 2 * OUTPUT_DRAIN_LIMIT.as_secs());
/// The longest a worker takes to answer "start a server": stop a server left from an abandoned
/// pair, wait for the new one to listen, and stop it again if it never does.
pub const SERVER_START_WORST: Duration =
    secs(SERVER_STOP_WORST.as_secs() + SERVER_READY_LIMIT.as_secs() + SERVER_STOP_WORST.as_secs());
/// What the orchestrator adds to a worker's worst case before it calls the worker lost.
pub const WORKER_GRACE: Duration = secs(5);
/// How long the orchestrator waits for "server ready".
pub const SERVER_START_LIMIT: Duration =
    secs(SERVER_START_WORST.as_secs() + WORKER_GRACE.as_secs());
/// How long the orchestrator waits for "server stopped".
pub const SERVER_STOP_LIMIT: Duration = secs(SERVER_STOP_WORST.as_secs() + WORKER_GRACE.as_secs());

/// What one pair costs beyond its test's duration, for the plan's estimate: dispatch, the
/// server's start to ready, the client tool's own start and exit, the server's stop. Measured
/// by `tests/perf/run` (P2, pair wall time minus the test: p50 20 ms, p99 107 ms on the
/// project's CI machine); the tools' own start-up adds the rest.
pub const PAIR_OVERHEAD: Duration = Duration::from_millis(150);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_orchestrator_waits_longer_than_a_worker_can_take() {
        assert!(SERVER_START_LIMIT > SERVER_START_WORST);
        assert!(SERVER_STOP_LIMIT > SERVER_STOP_WORST);
        // Before this table: 20 s against a worker's 2 + 15 + 2 s and pipes drained on top.
        assert_eq!(SERVER_START_WORST, Duration::from_secs(27));
    }
}
