//! fortio 1.68 `load -json -` output (TCP and HTTP runs).
//!
//! - `ActualQPS` -> request rate (all calls, failed ones included, as fortio counts them);
//! - `DurationHistogram.{Avg,Count}` and `.Percentiles[{Percentile,Value}]` (seconds);
//! - `RetCodes`: for HTTP, status code -> count (2xx are successes, `-1` is a connection
//!   error); for TCP, `"OK"` -> count and error text -> count, e.g.
//!   `"dial tcp 10.0.0.2:8078: connect: connection refused": 89234`.
//!
//! A run with no success at all is a tool failure, even though fortio exits 0 for a refused TCP
//! target. A refused HTTP target makes fortio abort in its warm-up: exit 1, nothing on stdout,
//! `Aborting because of error -1 for http://…` on stderr; empty stdout is unparsable here and
//! [`crate::measure`] quotes stderr.

use super::{require_output, unparsable, ParseError};
use serde_json::Value;

/// The catalogue's `-p 50,90,99,99.9`, as fortio echoes them in `Percentile`.
const PERCENTILES: [(f64, &str); 4] = [
    (50.0, "latency_p50"),
    (90.0, "latency_p90"),
    (99.0, "latency_p99"),
    (99.9, "latency_p999"),
];

fn is_success(code: &str) -> bool {
    code == "OK" || code.parse::<u16>().is_ok_and(|c| (200..300).contains(&c))
}

/// The failure codes in fortio's words, most frequent first: `503 (3069), 429 (1248)`.
fn describe(codes: &serde_json::Map<String, Value>) -> String {
    let mut failed: Vec<(&str, f64)> = codes
        .iter()
        .filter(|(c, _)| !is_success(c))
        .map(|(c, n)| (c.as_str(), n.as_f64().unwrap_or(0.0)))
        .collect();
    failed.sort_by(|a, b| b.1.total_cmp(&a.1));
    let list: Vec<String> = failed.iter().map(|(c, n)| format!("{c} ({n})")).collect();
    list.join(", ")
}

pub fn parse(stdout: &str) -> Result<Vec<(&'static str, f64)>, ParseError> {
    require_output(stdout)?;
    let v: Value = serde_json::from_str(stdout.trim())
        .map_err(|e| unparsable(format!("not fortio JSON: {e}")))?;
    let hist = v
        .get("DurationHistogram")
        .filter(|h| h.is_object())
        .ok_or_else(|| unparsable("no DurationHistogram"))?;
    let qps = v
        .get("ActualQPS")
        .and_then(Value::as_f64)
        .ok_or_else(|| unparsable("no ActualQPS"))?;
    let count = hist
        .get("Count")
        .and_then(Value::as_f64)
        .ok_or_else(|| unparsable("no DurationHistogram.Count"))?;
    let codes = v
        .get("RetCodes")
        .and_then(Value::as_object)
        .ok_or_else(|| unparsable("no RetCodes"))?;

    let (mut ok, mut errors) = (0.0, 0.0);
    for (code, n) in codes {
        let n = n
            .as_f64()
            .ok_or_else(|| unparsable(format!("RetCodes[{code:?}] is not a number")))?;
        if is_success(code) {
            ok += n;
        } else {
            errors += n;
        }
    }
    if ok == 0.0 {
        let what = if codes.is_empty() {
            "no calls made".to_string()
        } else {
            describe(codes)
        };
        return Err(ParseError::ToolReported(format!(
            "no request succeeded out of {count}: {what}"
        )));
    }

    let mut out = vec![
        ("request_rate", qps),
        ("requests", count),
        ("errors", errors),
    ];
    if let Some(avg) = hist.get("Avg").and_then(Value::as_f64) {
        out.push(("latency_mean", avg));
    }
    for p in hist
        .get("Percentiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(pct), Some(val)) = (
            p.get("Percentile").and_then(Value::as_f64),
            p.get("Value").and_then(Value::as_f64),
        ) else {
            continue;
        };
        let Some(&(_, name)) = PERCENTILES.iter().find(|(p, _)| *p == pct) else {
            continue;
        };
        out.push((name, val));
    }
    Ok(out)
}
