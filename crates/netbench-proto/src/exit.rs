//! The process exit codes, one enum for every subcommand of the `netbench` binary.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every pair succeeded (worker: clean shutdown; `report`: written; `compare`: no regression) |
//! | 1 | the run completed and at least one pair failed (its status says why); `compare`: a regression |
//! | 2 | bad input: a flag, a value, a file; nothing was started |
//! | 3 | the run could not complete: NATS unreachable, workers missing, setup failed |
//! | 4 | interrupted (deadline, Ctrl-C, SIGTERM); the results so far are written |

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: every pair succeeded.
    AllPairsOk = 0,
    /// 1: the run completed, at least one pair failed; for `compare`, a regression.
    SomePairsFailed = 1,
    /// 2: bad input (flags, values, files); nothing was started.
    Usage = 2,
    /// 3: the run could not complete: NATS/JetStream trouble, workers missing or unfit.
    RunFailed = 3,
    /// 4: stopped by the deadline or a signal; the results so far are written.
    Interrupted = 4,
}

impl ExitCode {
    /// `compare`'s name for 1.
    pub const REGRESSION: ExitCode = ExitCode::SomePairsFailed;
    /// `report`'s and the worker's name for 0.
    pub const OK: ExitCode = ExitCode::AllPairsOk;
}

impl From<ExitCode> for u8 {
    fn from(c: ExitCode) -> u8 {
        c as u8
    }
}
