//! Process exit codes: [`netbench_proto::ExitCode`], the one table for every subcommand.

pub use netbench_proto::ExitCode;

pub const OK: u8 = ExitCode::OK as u8;
pub const USAGE: u8 = ExitCode::Usage as u8;
pub const RUN_FAILED: u8 = ExitCode::RunFailed as u8;

pub fn from_outcome(code: ExitCode) -> u8 {
    code.into()
}
