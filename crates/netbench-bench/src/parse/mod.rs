//! Output parsers, one module per tool. Each returns `(metric name, value)` pairs in the units of
//! the catalogue's metric definitions (bytes per second, seconds, counts), or why it cannot.
//!
//! A tool that reports a failure (an `error` key, a refused connection, zero successful calls)
//! gives [`ParseError::ToolReported`] with the tool's own words, never a zero that looks like a
//! measurement. Empty stdout is [`ParseError::Unparsable`]: the tool said nothing there, and
//! [`crate::measure`] then quotes its stderr when it exited non-zero.
//!
//! The expected formats are pinned by real captured outputs in `tests/fixtures/`.

pub mod fortio;
pub mod iperf3;
pub mod netperf;
pub mod qperf;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The tool said it failed; the message is its own words.
    #[error("{0}")]
    ToolReported(String),
    /// The output is not what the tool prints.
    #[error("{0}")]
    Unparsable(String),
}

pub(crate) fn unparsable(msg: impl Into<String>) -> ParseError {
    ParseError::Unparsable(msg.into())
}

/// Unparsable if the output is empty or blank: the parsers have nothing to go on.
pub(crate) fn require_output(stdout: &str) -> Result<(), ParseError> {
    if stdout.trim().is_empty() {
        Err(unparsable("no output on stdout"))
    } else {
        Ok(())
    }
}
