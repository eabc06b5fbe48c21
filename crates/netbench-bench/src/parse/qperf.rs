//! qperf 0.4 output. The catalogue runs `-ub -uu tcp_bw tcp_lat`: bits per second (`-ub`) and
//! unified units (`-uu`: no scaling, so bandwidth in `bits/sec` and time in `ns`):
//!
//! ```text
//! tcp_bw:
//!     bw  =  19605487616 bits/sec
//! tcp_lat:
//!     latency  =  16547 ns
//! ```
//!
//! Without `-uu` qperf scales (`19.6 Gb/sec`, `16.5 us`; `GB/sec` etc. without `-ub`, powers of
//! 1000) and may put commas in large numbers; both are understood.
//!
//! `tcp_lat` is ONE-WAY latency (half the round trip); the metric is named so.
//!
//! qperf reports its own errors on stdout, unindented, under the test's header, and exits 1:
//!
//! ```text
//! tcp_bw:
//! 198.18.0.2: failed to connect
//! ```
//!
//! An error on the server side reaches the client on stderr (`server: unable to make TCP
//! socket`), leaving only the header on stdout; that output is unparsable here and
//! [`crate::measure`] quotes stderr.

use super::{require_output, unparsable, ParseError};

/// Bytes per second per unit.
fn scale_bandwidth(unit: &str) -> Option<f64> {
    let bits = match unit {
        "bits/sec" => 1.0,
        "Kb/sec" => 1e3,
        "Mb/sec" => 1e6,
        "Gb/sec" => 1e9,
        "Tb/sec" => 1e12,
        "bytes/sec" => 8.0,
        "KB/sec" => 8e3,
        "MB/sec" => 8e6,
        "GB/sec" => 8e9,
        "TB/sec" => 8e12,
        _ => return None,
    };
    Some(bits / 8.0)
}

/// Seconds per unit.
fn scale_time(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "sec" => 1.0,
        _ => return None,
    })
}

/// A test header: `tcp_bw:` alone on an unindented line.
fn header(line: &str) -> Option<&str> {
    let name = line.strip_suffix(':')?;
    let ok = !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    ok.then_some(name)
}

/// Words qperf uses in its error messages; used only before any test header.
fn looks_like_error(line: &str) -> bool {
    [
        "failed",
        "unable",
        "error",
        "timed out",
        "not responding",
        "failure",
    ]
    .iter()
    .any(|w| line.contains(w))
}

/// qperf's error messages are sentences; a lone word (a header cut short) is not one.
fn is_message(line: &str) -> bool {
    line.contains(' ')
}

pub fn parse(stdout: &str) -> Result<Vec<(&'static str, f64)>, ParseError> {
    require_output(stdout)?;
    let mut section: Option<&str> = None;
    let (mut bw, mut lat) = (None, None);
    for line in stdout.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let indented = line.starts_with(char::is_whitespace);
        if !indented {
            if let Some(name) = header(t) {
                section = Some(name);
                continue;
            }
            // Results are indented; an unindented line after a header is qperf's error message.
            if is_message(t) && (section.is_some() || looks_like_error(t)) {
                return Err(ParseError::ToolReported(t.to_string()));
            }
            return Err(unparsable(format!("not qperf output: {:?}", truncate(t))));
        }
        let Some(section) = section else {
            return Err(unparsable(format!(
                "qperf result before any test header: {:?}",
                truncate(t)
            )));
        };
        let Some((key, value)) = t.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let slot = match (section, key) {
            ("tcp_bw", "bw") => &mut bw,
            ("tcp_lat", "latency") => &mut lat,
            _ => continue,
        };
        let mut parts = value.split_whitespace();
        let (Some(num), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(unparsable(format!(
                "{section} {key}: expected \"number unit\", got {:?}",
                value.trim()
            )));
        };
        let num: f64 = num
            .replace(',', "")
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| unparsable(format!("{section} {key}: {num:?} is not a measurement")))?;
        let factor = if section == "tcp_bw" {
            scale_bandwidth(unit)
        } else {
            scale_time(unit)
        };
        let factor =
            factor.ok_or_else(|| unparsable(format!("{section} {key}: unknown unit {unit:?}")))?;
        *slot = Some(num * factor);
    }
    let bw = bw.ok_or_else(|| unparsable("no tcp_bw bw = line"))?;
    let lat = lat.ok_or_else(|| unparsable("no tcp_lat latency = line"))?;
    Ok(vec![("throughput", bw), ("latency_one_way", lat)])
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}
