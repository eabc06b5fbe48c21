//! Metrics about the harness itself, served on `/metrics` for Prometheus to scrape.
//!
//! | name | type | meaning |
//! |---|---|---|
//! | `netbench_pairs_done_total` | counter | pairs finished, failed ones included |
//! | `netbench_pairs_failed_total` | counter | pairs that failed |
//! | `netbench_pair_duration_seconds` | histogram | wall time of a pair, server start to stop |
//! | `netbench_registration_wait_seconds` | histogram | time until a worker registered |
//! | `netbench_nats_reconnects_total` | counter | reconnections to NATS |

use crate::MetricsError;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, Registry, TextEncoder};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub const PAIRS_DONE: &str = "netbench_pairs_done_total";
pub const PAIRS_FAILED: &str = "netbench_pairs_failed_total";
pub const PAIR_DURATION: &str = "netbench_pair_duration_seconds";
pub const REGISTRATION_WAIT: &str = "netbench_registration_wait_seconds";
pub const NATS_RECONNECTS: &str = "netbench_nats_reconnects_total";

/// The harness's own metrics, in their own [`Registry`].
#[derive(Clone)]
pub struct HarnessMetrics {
    registry: Registry,
    pairs_done: IntCounter,
    pairs_failed: IntCounter,
    pair_duration: Histogram,
    registration_wait: Histogram,
    reconnects: IntCounter,
}

impl Default for HarnessMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HarnessMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HarnessMetrics")
            .field("pairs_done", &self.pairs_done.get())
            .field("pairs_failed", &self.pairs_failed.get())
            .finish_non_exhaustive()
    }
}

impl HarnessMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        // Constant, valid names and buckets: registering them cannot fail.
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid counter");
            registry
                .register(Box::new(c.clone()))
                .expect("new registry");
            c
        };
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
                .expect("valid histogram");
            registry
                .register(Box::new(h.clone()))
                .expect("new registry");
            h
        };
        let pairs_done = counter(PAIRS_DONE, "Pairs finished, failed ones included.");
        let pairs_failed = counter(PAIRS_FAILED, "Pairs that failed (status other than ok).");
        let pair_duration = histogram(
            PAIR_DURATION,
            "Wall time of a pair, from server start to server stop.",
            &[
                0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
            ],
        );
        let registration_wait = histogram(
            REGISTRATION_WAIT,
            "Time from the start of the run until a worker registered.",
            &[
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
            ],
        );
        let reconnects = counter(NATS_RECONNECTS, "Reconnections to the NATS server.");
        HarnessMetrics {
            registry,
            pairs_done,
            pairs_failed,
            pair_duration,
            registration_wait,
            reconnects,
        }
    }

    /// A pair finished after `seconds`; `ok` is false when it failed.
    pub fn pair_finished(&self, seconds: f64, ok: bool) {
        self.pairs_done.inc();
        if !ok {
            self.pairs_failed.inc();
        }
        self.pair_duration.observe(seconds);
    }

    /// A worker registered `seconds` after the run started.
    pub fn registration_wait(&self, seconds: f64) {
        self.registration_wait.observe(seconds);
    }

    /// The NATS connection was re-established.
    pub fn reconnect(&self) {
        self.reconnects.inc();
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# netbench: cannot encode metrics: {e}\n"))
    }
}

async fn metrics_handler(State(m): State<Arc<HarnessMetrics>>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, TextEncoder::new().format_type().to_string())],
        m.render(),
    )
}

/// Serve `metrics` on `http://<addr>/metrics` in the background until `stop` is cancelled.
/// Returns the bound address (useful with port 0) once listening; a bind failure is an error.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Arc<HarnessMetrics>,
    stop: CancellationToken,
) -> Result<SocketAddr, MetricsError> {
    let serve_err = |source| MetricsError::Serve { addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(serve_err)?;
    let bound = listener.local_addr().map_err(serve_err)?;
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(metrics);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!("serving /metrics on {bound} stopped: {e}");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_follow_the_calls() {
        let m = HarnessMetrics::new();
        m.pair_finished(2.0, true);
        m.pair_finished(40.0, false);
        m.registration_wait(0.3);
        m.reconnect();
        let text = m.render();
        for line in [
            "netbench_pairs_done_total 2",
            "netbench_pairs_failed_total 1",
            "netbench_pair_duration_seconds_sum 42",
            "netbench_pair_duration_seconds_count 2",
            "netbench_pair_duration_seconds_bucket{le=\"2.5\"} 1",
            "netbench_pair_duration_seconds_bucket{le=\"60\"} 2",
            "netbench_registration_wait_seconds_count 1",
            "netbench_nats_reconnects_total 1",
            "# TYPE netbench_pair_duration_seconds histogram",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
    }
}
