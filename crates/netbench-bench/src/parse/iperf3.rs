//! iperf3 `-J` (JSON) output, as printed by iperf 3.12.
//!
//! - `end.sum_received.bits_per_second` / `end.sum_sent.bits_per_second` -> bytes per second;
//! - `end.sum_sent.retransmits`;
//! - `end.streams[].sender.mean_rtt` (integer microseconds) -> seconds, averaged over streams;
//! - with `-u` (UDP, [`parse_udp`]): `end.sum_received` has the server's view: `bytes`,
//!   `bits_per_second`, `jitter_ms`, `lost_packets`, `packets` (sent), `lost_percent`;
//!   `end.sum_sent.bits_per_second` is the client's sending rate;
//! - `end.cpu_utilization_percent.host_total` / `.remote_total`: the CPU iperf3 used on the
//!   client and the server (percent of one CPU's time, summed over threads), so a CPU-bound
//!   result can be told from a network-bound one;
//! - a top-level `error` key means the test failed. With `-J`, iperf 3.12 exits 0 when the
//!   connection is refused: `{"start": {...}, "intervals": [], "end": {}, "error": "unable to
//!   connect to server: Connection refused"}` on stdout, nothing on stderr. So the `error` key,
//!   not the exit status, is what tells.

use super::{require_output, unparsable, ParseError};
use serde_json::Value;

/// The `end` section of a successful run, or what iperf3 said instead.
fn end_section(stdout: &str) -> Result<Value, ParseError> {
    require_output(stdout)?;
    let mut v: Value = serde_json::from_str(stdout.trim())
        .map_err(|e| unparsable(format!("not iperf3 JSON: {e}")))?;
    if let Some(err) = v.get("error") {
        let msg = err.as_str().map_or_else(|| err.to_string(), str::to_string);
        return Err(ParseError::ToolReported(msg));
    }
    v.get_mut("end")
        .filter(|e| e.is_object())
        .map(Value::take)
        .ok_or_else(|| unparsable("no \"end\" section"))
}

fn number_at(end: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = end;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_f64()
}

pub fn parse(stdout: &str) -> Result<Vec<(&'static str, f64)>, ParseError> {
    let end = &end_section(stdout)?;
    let num = |path: &[&str]| number_at(end, path);
    let received = num(&["sum_received", "bits_per_second"])
        .ok_or_else(|| unparsable("no end.sum_received.bits_per_second"))?;
    let sent = num(&["sum_sent", "bits_per_second"])
        .ok_or_else(|| unparsable("no end.sum_sent.bits_per_second"))?;
    let mut out = vec![
        ("throughput_received", received / 8.0),
        ("throughput_sent", sent / 8.0),
    ];
    if let Some(r) = num(&["sum_sent", "retransmits"]) {
        out.push(("retransmits", r));
    }
    let rtts: Vec<f64> = end
        .get("streams")
        .and_then(Value::as_array)
        .map(|streams| {
            streams
                .iter()
                .filter_map(|s| s.get("sender")?.get("mean_rtt")?.as_f64())
                .collect()
        })
        .unwrap_or_default();
    if !rtts.is_empty() {
        let mean_us = rtts.iter().sum::<f64>() / rtts.len() as f64;
        out.push(("rtt_mean", mean_us / 1e6));
    }
    out.extend(cpu(end));
    Ok(out)
}

/// The tool's CPU use on both ends, where iperf3 reported it.
fn cpu(end: &Value) -> Vec<(&'static str, f64)> {
    [
        ("cpu_client_percent", "host_total"),
        ("cpu_server_percent", "remote_total"),
    ]
    .into_iter()
    .filter_map(|(name, key)| {
        number_at(end, &["cpu_utilization_percent", key])
            .filter(|v| v.is_finite())
            .map(|v| (name, v))
    })
    .collect()
}

/// iperf3 `-u -J`: throughput both ways, loss and jitter as the server saw them.
pub fn parse_udp(stdout: &str) -> Result<Vec<(&'static str, f64)>, ParseError> {
    let end = &end_section(stdout)?;
    let received = |key: &str| {
        number_at(end, &["sum_received", key])
            .ok_or_else(|| unparsable(format!("no end.sum_received.{key} (not a UDP run?)")))
    };
    let sent = number_at(end, &["sum_sent", "bits_per_second"])
        .ok_or_else(|| unparsable("no end.sum_sent.bits_per_second"))?;
    let packets = received("packets")?;
    if packets <= 0.0 {
        return Err(ParseError::ToolReported(
            "iperf3 sent no datagrams (end.sum_received.packets is 0)".into(),
        ));
    }
    let mut out = vec![
        ("throughput_received", received("bits_per_second")? / 8.0),
        ("throughput_sent", sent / 8.0),
        ("loss_percent", received("lost_percent")?),
        ("lost_datagrams", received("lost_packets")?),
        ("datagrams", packets),
        // Milliseconds -> seconds.
        ("jitter", received("jitter_ms")? / 1e3),
    ];
    out.extend(cpu(end));
    Ok(out)
}
