//! From a client's outcome to a status and metrics. A failure never produces a metric.

use crate::catalogue::Benchmark;
use crate::parse::ParseError;
use netbench_proto::{Metric, ProcessOutcome, Status};

#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub status: Status,
    pub metrics: Vec<Metric>,
    /// Why the pair failed, in words, when it did.
    pub error: Option<String>,
}

impl Measurement {
    fn failed(status: Status, error: String) -> Self {
        Measurement {
            status,
            metrics: Vec::new(),
            error: Some(error),
        }
    }
}

/// Judge a client run: timeout, exit status, then the benchmark's parser.
pub fn measure(bench: &Benchmark, outcome: &ProcessOutcome) -> Measurement {
    if outcome.timed_out {
        return Measurement::failed(
            Status::TimedOut,
            format!(
                "{} did not finish in time and was killed",
                bench.client.program
            ),
        );
    }
    let parsed = (bench.parse)(&outcome.stdout.text);
    if outcome.exit_code != Some(0) {
        let how = match (outcome.exit_code, outcome.signal) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(s)) => format!("was killed by signal {s}"),
            (None, None) => "ended abnormally".to_string(),
        };
        let detail = match parsed {
            Err(ParseError::ToolReported(msg)) => msg,
            _ => last_line(&outcome.stderr.text),
        };
        return Measurement::failed(
            Status::ToolFailed,
            format!("{} {how}: {detail}", bench.client.program),
        );
    }
    match parsed {
        Err(ParseError::ToolReported(msg)) => Measurement::failed(
            Status::ToolFailed,
            format!("{}: {msg}", bench.client.program),
        ),
        Err(ParseError::Unparsable(msg)) => Measurement::failed(
            Status::OutputUnparsable,
            format!("{} output could not be parsed: {msg}", bench.client.program),
        ),
        Ok(values) => {
            let mut metrics = Vec::with_capacity(values.len());
            for (name, value) in values {
                let Some(def) = bench.metric(name) else {
                    return Measurement::failed(
                        Status::OutputUnparsable,
                        format!(
                            "parser produced metric {name:?} that {} does not define",
                            bench.name
                        ),
                    );
                };
                if !value.is_finite() || value < 0.0 {
                    return Measurement::failed(
                        Status::OutputUnparsable,
                        format!("{name} = {value} is not a measurement"),
                    );
                }
                metrics.push(Metric {
                    name: def.name.to_string(),
                    unit: def.unit,
                    value,
                });
            }
            if !metrics.iter().any(|m| m.name == bench.headline) {
                return Measurement::failed(
                    Status::OutputUnparsable,
                    format!("output has no {}", bench.headline),
                );
            }
            Measurement {
                status: Status::Ok,
                metrics,
                error: None,
            }
        }
    }
}

fn last_line(s: &str) -> String {
    let line = s
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no stderr)");
    line.chars().take(300).collect()
}
