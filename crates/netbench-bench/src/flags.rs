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

/// `10s`, `2m`, `1h30m`, or a plain number of seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 10s, 5m or 1h: {e}"))
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
    }
}
