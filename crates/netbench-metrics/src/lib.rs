//! Prometheus metrics for netbench.
//!
//! - [`gauges`]: the pure core. Every metric a benchmark defines in the catalogue
//!   (`netbench_bench::CATALOGUE`) becomes a gauge `netbench_<name>[_<unit suffix>]`, one series
//!   per pair, labelled with the run, the benchmark, both sides' worker, node and zone, and the
//!   pair's entry, sample and path (`pod`, `host`, `service`, `same-node`). Every
//!   pair also gets `netbench_pair_status` (its status code) and `netbench_pair_ok` (0/1); a failed
//!   pair gets only those two, never a made-up measurement. Nothing here does I/O.
//! - [`push`]: the [`Pusher`], which keeps a run's gauges and PUTs all of them to a PushGateway
//!   (grouping key `job="netbench"`, `run="<run>"`) after every finished pair. Basic auth, HTTPS
//!   and an extra CA file are supported. A failed push is an error value for the caller to log.
//! - [`harness`]: [`HarnessMetrics`] about the harness itself (pairs done and failed, pair
//!   durations, registration waits, NATS reconnects) and [`serve_metrics`], which serves them on
//!   `/metrics` until a cancellation token fires.
//! - `testkit` (feature `testkit`): a real PushGateway on a random port for tests, and a parser for
//!   its `/metrics` text.

pub mod gauges;
pub mod harness;
pub mod push;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use gauges::{metric_name, pair_gauges, pair_series, Series, LABELS, PAIR_OK, PAIR_STATUS};
pub use harness::{serve_metrics, HarnessMetrics};
pub use push::{PushConfig, Pusher, JOB};

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("benchmark {benchmark:?} of pair {pair} is not in the catalogue (known: {known})")]
    UnknownBenchmark {
        benchmark: String,
        pair: String,
        known: String,
    },
    #[error(
        "pair {pair}: metric {metric:?} is not defined by benchmark {benchmark} in the catalogue"
    )]
    UnknownMetric {
        benchmark: String,
        pair: String,
        metric: String,
    },
    #[error("pair {pair}: metric {metric} has unit {got:?} but the catalogue says {want:?}")]
    UnitMismatch {
        pair: String,
        metric: String,
        got: netbench_proto::Unit,
        want: netbench_proto::Unit,
    },
    #[error(
        "pair {pair} of run {run} already has metrics in this registry; each pair is added once"
    )]
    DuplicatePair { run: String, pair: String },
    #[error("cannot register metric {name}: {source}")]
    Register {
        name: String,
        #[source]
        source: prometheus::Error,
    },
    #[error("invalid PushGateway URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot read the CA file {path}: {source}")]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA file {path} holds no usable PEM certificate: {reason}")]
    BadCa { path: PathBuf, reason: String },
    #[error("cannot set up the HTTP client for the PushGateway: {0}")]
    Client(String),
    #[error("could not push metrics to the PushGateway at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the PushGateway at {url} refused the push with HTTP {status}: {body}{hint}")]
    Rejected {
        url: String,
        status: u16,
        body: String,
        hint: &'static str,
    },
    #[error("cannot encode metrics: {0}")]
    Encode(#[source] prometheus::Error),
    #[error("cannot serve /metrics on {addr}: {source}")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// An error and all its sources, `: `-separated, for messages about I/O failures.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}
