//! Command-line value parsers shared by every subcommand (`clap`'s `value_parser = …`), so a
//! benchmark name, a duration or a run id means the same everywhere.

use crate::allow::MAX_DURATION_SECONDS;
use crate::catalogue::{find, names, Benchmark};
use netbench_proto::RunId;
use std::time::Duration;

/// A benchmark of the catalogue; the error lists the known ones.
pub fn benchmark(s: &str) -> Result<&'static Benchmark, String> {
    find(s).ok_or_else(|| format!("unknown benchmark {s:?}; choose one of: {}", names()))
}

/// The longest duration any flag takes: 30 days, beyond any run and far from overflowing a
/// clock (`--deadline 100000000h` used to panic after deployment).
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// `10s`, `2m`, `1h30m`, or a plain number of seconds; at most [`MAX_DURATION`].
pub fn duration(s: &str) -> Result<Duration, String> {
    let d = match s.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("{s:?} is not a duration like 10s, 5m or 1h: {e}"))?,
    };
    if d > MAX_DURATION {
        return Err(format!("{s:?} is longer than 30 days: give at most 30d"));
    }
    Ok(d)
}

/// What one pair costs beyond its test length at the least: starting and stopping the server,
/// the client's start, the messages.
pub const MIN_PAIR_OVERHEAD: Duration = Duration::from_secs(2);

/// A run whose deadline cannot hold even one pair is refused before anything starts (it used
/// to end at the deadline with no result at all).
pub fn deadline_fits(duration_seconds: u32, deadline: Duration) -> Result<(), String> {
    let one_pair = Duration::from_secs(duration_seconds.into()) + MIN_PAIR_OVERHEAD;
    if deadline < one_pair {
        return Err(format!(
            "--deadline {} cannot hold one pair of --duration {duration_seconds}s (at least {} with \
             setup): give a --deadline of {} or more, or a shorter --duration",
            humantime::format_duration(deadline),
            humantime::format_duration(one_pair),
            humantime::format_duration(one_pair),
        ));
    }
    Ok(())
}

/// A test length: whole seconds, 1 to [`MAX_DURATION_SECONDS`].
pub fn test_duration(s: &str) -> Result<u32, String> {
    let d = duration(s)?;
    let secs = d.as_secs();
    if secs == 0 || d.subsec_nanos() != 0 || secs > u64::from(MAX_DURATION_SECONDS) {
        return Err(format!(
            "{s:?}: the test length must be whole seconds between 1s and {MAX_DURATION_SECONDS}s"
        ));
    }
    Ok(secs as u32)
}

/// A run id (`[a-z0-9-]`, at most 40 characters).
pub fn run_id(s: &str) -> Result<RunId, String> {
    s.parse()
        .map_err(|e: netbench_proto::ids::InvalidId| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_their_errors() {
        assert_eq!(benchmark("qperf-tcp").unwrap().name, "qperf-tcp");
        assert!(benchmark("iperf9").unwrap_err().contains("netperf-tcp-rr"));
        assert_eq!(duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(duration("soon").is_err());
        assert_eq!(test_duration("10s").unwrap(), 10);
        for bad in ["0s", "1500ms", "2h"] {
            assert!(test_duration(bad).is_err(), "{bad}");
        }
        assert!(run_id("a.b").is_err());
        assert!(duration("100000000h").unwrap_err().contains("at most 30d"));
        assert_eq!(duration("30d").unwrap(), MAX_DURATION);
        assert!(deadline_fits(10, Duration::from_secs(12)).is_ok());
        let e = deadline_fits(10, Duration::from_secs(5)).unwrap_err();
        assert!(
            e.contains("cannot hold one pair") && e.contains("12s"),
            "{e}"
        );
    }
}
