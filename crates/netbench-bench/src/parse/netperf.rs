//! netperf 2.7 omni output with `-P 0 -- -k KEY,KEY…`: one `KEY=VALUE` line per selected
//! keyword, in the order asked, e.g. for TCP_RR with `-j`:
//!
//! ```text
//! TRANSACTION_RATE=31704.987
//! MIN_LATENCY=19
//! MEAN_LATENCY=31.45
//! P50_LATENCY=31
//! ...
//! ```
//!
//! Latencies are in microseconds (round trip of one transaction). TCP_STREAM throughput comes
//! with `THROUGHPUT_UNITS` (`10^6bits/s` by default; netperf's `KBytes`/`MBytes`/`GBytes` are
//! powers of 1024).
//!
//! UDP_STREAM with `-k THROUGHPUT_UNITS,LOCAL_SEND_THROUGHPUT,REMOTE_RECV_THROUGHPUT,
//! LOCAL_SEND_CALLS,REMOTE_RECV_CALLS` reports what netperf sent and what netserver received;
//! with one datagram per call, the calls are datagrams, and their difference is the loss.
//!
//! With `-c -C` and the keys `LOCAL_CPU_UTIL,REMOTE_CPU_UTIL` netperf adds the CPU busy on each
//! machine during the test, in percent of all its CPUs (system-wide, from `/proc/stat`: method
//! `S`); netperf prints -1 where it could not measure, and then the metric is left out.
//!
//! When the control connection is refused netperf exits 255 and explains on stdout:
//!
//! ```text
//! establish control: are you sure there is a netserver listening on 198.18.0.2 at port 12865?
//! establish_control could not establish the control connection from 0.0.0.0 port 0 ...
//! ```

use super::{require_output, unparsable, ParseError};
use std::collections::HashMap;

fn keywords(stdout: &str) -> HashMap<&str, &str> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .filter(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
        })
        .collect()
}

/// The value of a `KEY=` line, which must be there and be a number (of any sign).
fn value(kv: &HashMap<&str, &str>, key: &str) -> Result<f64, ParseError> {
    let raw = kv
        .get(key)
        .ok_or_else(|| unparsable(format!("no {key}= line")))?;
    raw.parse::<f64>()
        .map_err(|_| unparsable(format!("{key}={raw} is not a number")))
}

/// A measured value: there, a number, finite and not negative.
fn number(kv: &HashMap<&str, &str>, key: &str) -> Result<f64, ParseError> {
    let value = value(kv, key)?;
    let raw = kv[key];
    if !value.is_finite() || value < 0.0 {
        // netperf prints -1 for values it did not measure (e.g. percentiles without -j).
        return Err(unparsable(format!(
            "{key}={raw}: netperf did not measure it"
        )));
    }
    Ok(value)
}

/// The first line where netperf says what went wrong, if it did.
fn failure(stdout: &str) -> Option<ParseError> {
    const MARKS: &[&str] = &[
        "establish control",
        "establish_control",
        "netperf:",
        "failed",
        "error",
        "unable",
        "could not",
        "refused",
    ];
    let line = stdout
        .lines()
        .map(str::trim)
        .find(|l| MARKS.iter().any(|m| l.contains(m)))?;
    Some(ParseError::ToolReported(line.to_string()))
}

/// The keyword lines, or what netperf said instead of them.
fn keyword_output<'a>(
    stdout: &'a str,
    required: &str,
) -> Result<HashMap<&'a str, &'a str>, ParseError> {
    require_output(stdout)?;
    let kv = keywords(stdout);
    if !kv.contains_key(required) {
        return Err(failure(stdout).unwrap_or_else(|| unparsable(format!("no {required}= line"))));
    }
    Ok(kv)
}

/// The CPU keys (`-k …,LOCAL_CPU_UTIL,REMOTE_CPU_UTIL`): their lines must be there (else the
/// output was cut short), but a value is left out where netperf printed -1 (not measured) and
/// where it is no share of the machine (over 100: netserver's TCP_CRR figure, 300–500 % here,
/// is broken, so `remote` is false there).
fn cpu(
    kv: &HashMap<&str, &str>,
    remote: bool,
    out: &mut Vec<(&'static str, f64)>,
) -> Result<(), ParseError> {
    for (key, name, keep) in [
        ("LOCAL_CPU_UTIL", "cpu_client_system_percent", true),
        ("REMOTE_CPU_UTIL", "cpu_server_system_percent", remote),
    ] {
        let v = value(kv, key)?;
        if keep && (0.0..=100.0).contains(&v) {
            out.push((name, v));
        }
    }
    Ok(())
}

pub fn parse_rr(stdout: &str) -> Result<Vec<(&'static str, f64)>, ParseError> {
    parse_transactions(stdout, true)
}

/// TCP_CRR: as TCP_RR, without the server's CPU (netserver's figure exceeds 100 %).
pub fn parse_crr(stdout: &str) -> Result<Vec<(&'static str, f64)>, ParseError> {
    parse_transactions(stdout, false)
}

fn parse_transactions(
    stdout: &str,
    remote_cpu: bool,
) -> Result<Vec<(&'static str, f64)>, ParseError> {
    let kv = keyword_output(stdout, "TRANSACTION_RATE")?;
    let mut out = vec![("transaction_rate", number(&kv, "TRANSACTION_RATE")?)];
    for (key, name) in [
        ("MIN_LATENCY", "latency_min"),
        ("MEAN_LATENCY", "latency_mean"),
        ("P50_LATENCY", "latency_p50"),
        ("P90_LATENCY", "latency_p90"),
        ("P99_LATENCY", "latency_p99"),
        ("MAX_LATENCY", "latency_max"),
    ] {
        // Microseconds -> seconds.
        out.push((name, number(&kv, key)? / 1e6));
    }
    cpu(&kv, remote_cpu, &mut out)?;
    Ok(out)
}

/// Bytes per second in one of netperf's `THROUGHPUT_UNITS`.
fn bytes_per_unit(kv: &HashMap<&str, &str>) -> Result<f64, ParseError> {
    let units = kv
        .get("THROUGHPUT_UNITS")
        .copied()
        .ok_or_else(|| unparsable("no THROUGHPUT_UNITS= line"))?;
    // netlib.c format_units() and calc_thruput(): bits are powers of 10, bytes powers of 2.
    let bytes_per_unit = match units {
        "10^0bits/s" => 1.0 / 8.0,
        "10^3bits/s" => 1e3 / 8.0,
        "10^6bits/s" => 1e6 / 8.0,
        "10^9bits/s" => 1e9 / 8.0,
        "Bytes/s" => 1.0,
        "KBytes/s" => 1024.0,
        "MBytes/s" => 1024.0 * 1024.0,
        "GBytes/s" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(unparsable(format!("unknown THROUGHPUT_UNITS={other}"))),
    };
    Ok(bytes_per_unit)
}

pub fn parse_stream(stdout: &str) -> Result<Vec<(&'static str, f64)>, ParseError> {
    let kv = keyword_output(stdout, "THROUGHPUT")?;
    let value = number(&kv, "THROUGHPUT")?;
    let mut out = vec![("throughput", value * bytes_per_unit(&kv)?)];
    cpu(&kv, true, &mut out)?;
    Ok(out)
}

pub fn parse_udp_stream(stdout: &str) -> Result<Vec<(&'static str, f64)>, ParseError> {
    let kv = keyword_output(stdout, "REMOTE_RECV_THROUGHPUT")?;
    let unit = bytes_per_unit(&kv)?;
    let sent = number(&kv, "LOCAL_SEND_CALLS")?;
    let received = number(&kv, "REMOTE_RECV_CALLS")?;
    if sent <= 0.0 {
        return Err(ParseError::ToolReported(
            "netperf sent no datagrams (LOCAL_SEND_CALLS=0)".into(),
        ));
    }
    // Duplicates could make the server count more than was sent; that is no negative loss.
    let lost = (sent - received).max(0.0);
    let mut out = vec![
        (
            "throughput_received",
            number(&kv, "REMOTE_RECV_THROUGHPUT")? * unit,
        ),
        (
            "throughput_sent",
            number(&kv, "LOCAL_SEND_THROUGHPUT")? * unit,
        ),
        ("loss_percent", 100.0 * lost / sent),
        ("lost_datagrams", lost),
        ("datagrams", sent),
    ];
    cpu(&kv, true, &mut out)?;
    Ok(out)
}
