//! Follow a run over NATS (its events, from the `NETBENCH` stream so none is missed even when
//! the orchestrator started first) and collect its results into a results file.

use crate::{LaunchError, Result};
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use netbench_bus::jetstream::Store;
use netbench_proto::{subjects, Event, EventKind, ResultsFile, RunId};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How a followed run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Finished {
        pairs_total: usize,
        pairs_failed: usize,
    },
    /// The orchestrator reported the run failed.
    Failed(String),
    /// The orchestrator itself failed (Job failed); nothing more will come.
    OrchestratorFailed(String),
    /// Our deadline passed.
    Deadline,
    /// SIGTERM / Ctrl-C.
    Interrupted,
}

impl Ending {
    /// The process exit code (same table as every netbench subcommand).
    pub fn exit_code(&self) -> u8 {
        match self {
            Ending::Finished {
                pairs_failed: 0, ..
            } => 0,
            Ending::Finished { .. } => 1,
            Ending::Failed(_) | Ending::OrchestratorFailed(_) => 3,
            Ending::Deadline | Ending::Interrupted => 4,
        }
    }
}

/// Something that can tell whether the orchestrator died (the Job in the cluster).
pub trait OrchestratorProbe {
    fn failure(&self) -> impl std::future::Future<Output = Option<String>> + Send;
}

/// No orchestrator to watch (tests, or an orchestrator run elsewhere).
pub struct NoProbe;
impl OrchestratorProbe for NoProbe {
    async fn failure(&self) -> Option<String> {
        None
    }
}

/// Follow `run`'s events until it finishes or fails, the deadline passes, or `shutdown`.
pub async fn follow(
    store: &Store,
    client: &async_nats::Client,
    run: &RunId,
    deadline: Duration,
    shutdown: &CancellationToken,
    probe: &impl OrchestratorProbe,
    mut on_event: impl FnMut(&Event),
) -> Result<Ending> {
    // The store is opened (stream created) before we read from its stream.
    let stream = store.stream_name();
    let js = jetstream::new(client.clone());
    let stream = js
        .get_stream(stream)
        .await
        .map_err(|e| LaunchError::Nats(format!("cannot open stream {stream}: {e}")))?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subjects::event(run),
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| LaunchError::Nats(format!("cannot follow events: {e}")))?;
    let mut events = consumer
        .messages()
        .await
        .map_err(|e| LaunchError::Nats(format!("cannot follow events: {e}")))?;
    let until = tokio::time::sleep(deadline);
    tokio::pin!(until);
    let mut check = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(Ending::Interrupted),
            _ = &mut until => return Ok(Ending::Deadline),
            _ = check.tick() => {
                if let Some(f) = probe.failure().await {
                    return Ok(Ending::OrchestratorFailed(f));
                }
            }
            m = events.next() => {
                let msg = match m {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => { tracing::warn!("event stream: {e}"); continue; }
                    None => return Err(LaunchError::Nats("the event stream ended".into())),
                };
                let Ok(e) = serde_json::from_slice::<Event>(&msg.payload) else { continue };
                on_event(&e);
                match e.kind {
                    EventKind::RunFinished { pairs_total, pairs_failed } => {
                        return Ok(Ending::Finished { pairs_total, pairs_failed })
                    }
                    EventKind::RunFailed { error } => return Ok(Ending::Failed(error)),
                    _ => {}
                }
            }
        }
    }
}

/// Every result of the run in the stream, plus the run state from the bucket.
pub async fn collect(store: &Store, run: &RunId) -> Result<ResultsFile> {
    Ok(ResultsFile {
        results: store.results(run).await?,
        run: store.state(run).await?,
    })
}

/// The results file's name: `netbench-<benchmark>-<run>.json`.
pub fn results_file_name(benchmark: &str, run: &RunId) -> String {
    format!("netbench-{benchmark}-{run}.json")
}

/// Write the results file into `dir` (created if missing); returns its path.
pub fn write_results(
    dir: &Path,
    benchmark: &str,
    run: &RunId,
    file: &ResultsFile,
) -> Result<PathBuf> {
    let path = dir.join(results_file_name(benchmark, run));
    let werr = |source| LaunchError::Write {
        path: path.clone(),
        source,
    };
    netbench_bus::results_file::write(&path, file).map_err(werr)?;
    Ok(path)
}
