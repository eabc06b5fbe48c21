//! Process exit codes, the same for every subcommand:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every pair succeeded (worker: clean shutdown) |
//! | 1 | the run completed, at least one pair failed (its status says why) |
//! | 2 | bad command line (unknown benchmark, bad flag value) |
//! | 3 | the run could not complete: NATS unreachable, workers missing, setup failed |
//! | 4 | interrupted (deadline, Ctrl-C, SIGTERM); the results so far are written |

pub const OK: u8 = 0;
pub const RUN_FAILED: u8 = 3;

pub fn from_outcome(code: netbench_orchestrator::ExitCode) -> u8 {
    code as u8
}
