//! The run loop: registration, pairs one at a time, results file.

use crate::pair::{abandon, run_pair, LostSide, PairContext};
use crate::plan::plan;
use crate::registration::{self, Shared};
use crate::registry::{Lost, Registry};
use netbench_bench::Benchmark;
use netbench_bus::{jetstream::Store, BusError, ConnectionStats, NatsArgs};
use netbench_proto::{
    subjects, Event, EventKind, PairResult, ResultsFile, RollCall, RunId, RunPhase, RunState,
    Status,
};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    pub nats: NatsArgs,
    pub run: RunId,
    pub bench: &'static Benchmark,
    /// How many workers to wait for.
    pub workers: usize,
    /// Names of the workers expected, if known (named in the error when some are missing).
    pub expect: Vec<String>,
    /// How long to wait for all workers to register.
    pub registration_timeout: Duration,
    pub duration_seconds: u32,
    /// Where to write the results file, if anywhere.
    pub results: Option<PathBuf>,
    /// The run stops (partial results written) at this point.
    pub deadline: Duration,
    /// Push every pair's metrics to this PushGateway.
    pub push: Option<netbench_metrics::PushConfig>,
    /// The harness's own metrics (served on `/metrics` by the caller).
    pub harness: Option<Arc<netbench_metrics::HarnessMetrics>>,
}

/// How a run ended is also the process exit code.
pub use netbench_proto::ExitCode;

#[derive(Debug)]
pub struct RunOutcome {
    pub code: ExitCode,
    pub results: Vec<PairResult>,
    pub state: RunState,
    /// Why the run failed or stopped, when it did.
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("cannot write results file {path}: {source}")]
    ResultsFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Run a whole benchmark run. `Err` only when NATS cannot be used at all; every other failure
/// is in the outcome (and the results file, when one is written).
pub async fn run(
    cfg: OrchestratorConfig,
    shutdown: CancellationToken,
) -> Result<RunOutcome, OrchestratorError> {
    let stats = ConnectionStats::default();
    let client = netbench_bus::connect(
        &cfg.nats,
        &format!("netbench-orchestrator {}", cfg.run),
        &stats,
    )
    .await?;
    let store = Store::open(client.clone()).await?;
    let deadline = Instant::now() + cfg.deadline;
    let run = cfg.run.clone();

    // Results already stored for this run: a restarted orchestrator keeps them.
    let mut results: Vec<PairResult> = store.results(&run).await?;
    let metrics = Metrics::new(&cfg, &run, &stats);
    for r in &results {
        metrics.push(r).await;
    }
    let mut state = store.state(&run).await?.unwrap_or(RunState {
        run: run.clone(),
        benchmark: cfg.bench.name.to_string(),
        phase: RunPhase::Pending,
        pairs_total: cfg.workers * cfg.workers.saturating_sub(1),
        pairs_done: 0,
        pairs_failed: 0,
        updated_at: OffsetDateTime::now_utc(),
        error: None,
        plan: "mesh".into(),
        concurrency: 1,
    });
    state.phase = RunPhase::Pending;
    store.put_state(&state).await?;
    let events = Events {
        store: store.clone(),
        run: run.clone(),
    };
    events
        .send(EventKind::RunStarted {
            benchmark: cfg.bench.name.to_string(),
            workers_expected: cfg.workers,
        })
        .await;

    // Registration.
    let shared = Arc::new(Shared {
        registry: Mutex::new(Registry::default()),
        joined: tokio::sync::Notify::new(),
    });
    let reg_sub = client
        .subscribe(subjects::registrations(&run))
        .await
        .map_err(|e| BusError::JetStream(format!("cannot subscribe to registrations: {e}")))?;
    let reg_task = registration::serve(
        client.clone(),
        reg_sub,
        shared.clone(),
        cfg.bench,
        run.clone(),
        events.clone(),
        cfg.workers,
    );
    let _abort_registration = AbortOnDrop(reg_task);
    // Workers already serving this run (we are a restarted orchestrator) register again.
    let rollcall = netbench_proto::encode_control(&RollCall { run: run.clone() });
    if let Err(e) = client
        .publish(subjects::rollcall(&run), rollcall.into())
        .await
    {
        tracing::warn!("roll call not sent: {e}");
    }

    let wait_limit = Instant::now() + cfg.registration_timeout;
    let wait_started = Instant::now();
    let waited = wait_for_workers(&cfg, &shared, wait_limit.min(deadline), &shutdown).await;
    if let Some(h) = &cfg.harness {
        h.registration_wait(wait_started.elapsed().as_secs_f64());
    }
    let mut workers = shared.registry.lock().expect("not poisoned").workers();
    if let Err(why) = waited {
        let code = if shutdown.is_cancelled() {
            ExitCode::Interrupted
        } else {
            ExitCode::RunFailed
        };
        return finish(&cfg, &store, &events, state, results, code, Some(why)).await;
    }

    // The pairs.
    let pairs = plan(&mut workers);
    state.pairs_total = pairs.len();
    state.phase = RunPhase::Running;
    if let Err(e) = store.put_state(&state).await {
        tracing::warn!("run state not stored: {e}");
    }
    let done: HashSet<String> = results.iter().map(|r| r.pair.clone()).collect();
    if !done.is_empty() {
        tracing::info!(
            "{} pair(s) of run {run} already stored; skipping them",
            done.len()
        );
    }
    let ctx = PairContext {
        client: &client,
        run: &run,
        bench: cfg.bench,
        duration_seconds: cfg.duration_seconds,
    };
    let mut lost = Lost::default();
    let mut stopped: Option<String> = None;
    let mut recorder = Recorder::new(&store, &events, cfg.bench, metrics, &client);
    'pairs: for (index, pair) in pairs.iter().enumerate() {
        if done.contains(&pair.id) {
            continue;
        }
        if shutdown.is_cancelled() {
            stopped = Some("interrupted by a signal".into());
            break;
        }
        if Instant::now() >= deadline {
            stopped = Some(format!("the run's deadline ({:?}) passed", cfg.deadline));
            break;
        }
        {
            let registry = shared.registry.lock().expect("not poisoned");
            for id in lost.returned(&registry) {
                tracing::info!("worker {id} registered again after it was lost: usable again");
                if let (Some(now), Some(slot)) =
                    (registry.get(&id), workers.iter_mut().find(|w| w.id == id))
                {
                    *slot = now.clone();
                }
            }
        }
        let (c, s) = (&workers[pair.client], &workers[pair.server]);
        events
            .send(EventKind::PairStarted {
                pair: pair.id.clone(),
                index: index + 1,
                total: pairs.len(),
                client: c.name.clone(),
                server: s.name.clone(),
            })
            .await;
        let known_lost = if lost.contains(&c.id) {
            Some(LostSide::Client)
        } else if lost.contains(&s.id) {
            Some(LostSide::Server)
        } else {
            None
        };
        let mut attempt = 1;
        let pair_started = OffsetDateTime::now_utc();
        let outcome = loop {
            let connects_before = stats.connects();
            let o = tokio::select! {
                o = run_pair(&ctx, &pair.id, c, s, known_lost) => o,
                _ = shutdown.cancelled() => {
                    stopped = Some("interrupted by a signal".into());
                    break 'pairs;
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let why = format!("the run's deadline ({:?}) passed during this pair", cfg.deadline);
                    let r = abandon(&ctx, &pair.id, c, s, pair_started, &why).await;
                    results.push(recorder.record(&mut state, r, index + 1, pairs.len(), deadline).await);
                    stopped = Some(why);
                    break 'pairs;
                }
            };
            // A worker that "did not answer" while our own NATS connection was down is not
            // lost: the messages were. Run the pair again once NATS is back.
            let blipped = stats.connects() != connects_before
                || client.connection_state() != async_nats::connection::State::Connected;
            if o.result.task.status == Status::WorkerLost && blipped && attempt < MAX_PAIR_ATTEMPTS
            {
                tracing::warn!(pair = %pair.id, "NATS connection lost during the pair; running it again");
                wait_connected(&client, deadline, &shutdown).await;
                attempt += 1;
                continue;
            }
            break o;
        };
        let lost_side = match outcome.lost {
            Some(LostSide::Client) => Some(&c.id),
            Some(LostSide::Server) => Some(&s.id),
            None => None,
        };
        if let Some(id) = lost_side {
            lost.mark(id, &shared.registry.lock().expect("not poisoned"));
        }
        let r = recorder
            .record(&mut state, outcome.result, index + 1, pairs.len(), deadline)
            .await;
        results.push(r);
    }
    let unstored = recorder.finish().await;
    if unstored > 0 && stopped.is_none() {
        stopped = Some(format!(
            "{unstored} result(s) could not be stored in JetStream before the deadline; they are in the results file"
        ));
    }

    // Keep plan order in the file, whatever order the results were stored in.
    let order: HashMap<&str, usize> = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    results.sort_by_key(|r| order.get(r.pair.as_str()).copied().unwrap_or(usize::MAX));
    let code = if stopped.is_some() {
        ExitCode::Interrupted
    } else if results.iter().all(|r| r.task.status == Status::Ok) {
        ExitCode::AllPairsOk
    } else {
        ExitCode::SomePairsFailed
    };
    finish(&cfg, &store, &events, state, results, code, stopped).await
}

/// A finished pair's way out: JetStream (trimmed to fit, retried until the deadline), the
/// `pair_finished` event, the run state, and the PushGateway (off the pair's critical path).
/// Nothing here can lose the result: one that cannot be stored stays in the results file.
struct Recorder {
    store: Store,
    events: Events,
    bench: &'static Benchmark,
    /// The largest message the stream and server take.
    limit: usize,
    push: Option<tokio::sync::mpsc::UnboundedSender<PairResult>>,
    pusher: tokio::task::JoinHandle<()>,
    /// Results that JetStream never acked.
    unstored: usize,
}

impl Recorder {
    fn new(
        store: &Store,
        events: &Events,
        bench: &'static Benchmark,
        metrics: Metrics,
        client: &async_nats::Client,
    ) -> Recorder {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PairResult>();
        let pusher = tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                metrics.pair_done(&r).await;
            }
        });
        Recorder {
            store: store.clone(),
            events: events.clone(),
            bench,
            limit: netbench_bus::jetstream::message_size_limit(client),
            push: Some(tx),
            pusher,
            unstored: 0,
        }
    }

    /// Store one result; returns it as stored (possibly trimmed) for the results file.
    async fn record(
        &mut self,
        state: &mut RunState,
        mut r: PairResult,
        index: usize,
        total: usize,
        deadline: Instant,
    ) -> PairResult {
        if r.fit_json(self.limit) {
            tracing::warn!(pair = %r.pair, "result larger than a {}-byte message: output cut", self.limit);
        }
        let run = &state.run;
        let until = deadline.max(Instant::now() + Duration::from_secs(5));
        let published = self
            .store
            .publish_until(
                subjects::result(run, self.bench.name),
                Some(subjects::result_msg_id(run, &r.pair)),
                &r,
                until,
            )
            .await;
        if let Err(e) = published {
            self.unstored += 1;
            tracing::error!(pair = %r.pair, "result not stored in JetStream ({e}); it is kept for the results file");
        }
        state.pairs_done += 1;
        if r.task.status != Status::Ok {
            state.pairs_failed += 1;
            tracing::warn!(pair = %r.pair, status = r.status_name, "pair failed: {}", r.error.as_deref().unwrap_or(""));
        }
        let headline = r
            .metrics
            .iter()
            .find(|m| m.name == self.bench.headline)
            .cloned();
        self.events
            .send(EventKind::PairFinished {
                pair: r.pair.clone(),
                index,
                total,
                client: r.task.client.worker.clone(),
                server: r.task.server.worker.clone(),
                status: r.task.status,
                status_name: r.status_name.clone(),
                headline,
                seconds: (r.finished_at - r.started_at).as_seconds_f64(),
            })
            .await;
        if let Some(tx) = &self.push {
            let _ = tx.send(r.clone());
        }
        state.updated_at = OffsetDateTime::now_utc();
        if let Err(e) = self.store.put_state(state).await {
            tracing::warn!("run state not stored: {e}");
        }
        r
    }

    /// Let the last pushes go out (bounded), and say how many results JetStream lacks.
    async fn finish(mut self) -> usize {
        self.push.take();
        if tokio::time::timeout(Duration::from_secs(15), &mut self.pusher)
            .await
            .is_err()
        {
            tracing::warn!(
                "the PushGateway did not take the last pairs within 15 s; giving up on them"
            );
            self.pusher.abort();
        }
        self.unstored
    }
}

/// How often a pair is tried when NATS itself failed during it.
const MAX_PAIR_ATTEMPTS: u32 = 3;

/// Wait until the NATS connection is up again, or the deadline.
async fn wait_connected(client: &async_nats::Client, limit: Instant, shutdown: &CancellationToken) {
    while client.connection_state() != async_nats::connection::State::Connected
        && Instant::now() < limit
        && !shutdown.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until `cfg.workers` workers registered. The error names who is missing.
async fn wait_for_workers(
    cfg: &OrchestratorConfig,
    shared: &Shared,
    limit: Instant,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    loop {
        let notified = shared.joined.notified();
        {
            let reg = shared.registry.lock().expect("not poisoned");
            if let Some((name, missing)) = reg.lacking().iter().next() {
                return Err(format!(
                    "worker {name} lacks {} needed by {}; install it in the worker image",
                    missing.join(", "),
                    cfg.bench.name
                ));
            }
            if reg.len() >= cfg.workers {
                return Ok(());
            }
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(limit.into()) => break,
            _ = shutdown.cancelled() => return Err("interrupted while waiting for workers".into()),
        }
    }
    let reg = shared.registry.lock().expect("not poisoned");
    let missing = reg.missing(&cfg.expect);
    let joined = reg.names().join(", ");
    Err(if missing.is_empty() {
        format!(
            "only {} of {} workers registered within {:?} (joined: {}); check that the worker pods run and reach NATS",
            reg.len(), cfg.workers, cfg.registration_timeout, if joined.is_empty() { "none" } else { &joined }
        )
    } else {
        format!(
            "workers {} did not register within {:?} (joined: {}); check that they run and reach NATS",
            missing.join(", "), cfg.registration_timeout, if joined.is_empty() { "none" } else { &joined }
        )
    })
}

async fn finish(
    cfg: &OrchestratorConfig,
    store: &Store,
    events: &Events,
    mut state: RunState,
    results: Vec<PairResult>,
    code: ExitCode,
    error: Option<String>,
) -> Result<RunOutcome, OrchestratorError> {
    state.phase = match code {
        ExitCode::AllPairsOk | ExitCode::SomePairsFailed => RunPhase::Done,
        ExitCode::Usage | ExitCode::RunFailed | ExitCode::Interrupted => RunPhase::Failed,
    };
    state.pairs_done = results.len();
    state.pairs_failed = results
        .iter()
        .filter(|r| r.task.status != Status::Ok)
        .count();
    state.error = error.clone();
    state.updated_at = OffsetDateTime::now_utc();
    // The results file first: the bookkeeping below may wait on a NATS that is gone.
    let written = match &cfg.results {
        Some(path) => {
            let file = ResultsFile {
                results: results.clone(),
                run: Some(state.clone()),
            };
            netbench_bus::results_file::write(path, &file)
                .map(|()| tracing::info!("results written to {}", path.display()))
                .map_err(|source| OrchestratorError::ResultsFile {
                    path: path.clone(),
                    source,
                })
        }
        None => Ok(()),
    };
    // Best effort from here on.
    if let Err(e) = store.put_state(&state).await {
        tracing::warn!("could not store the final run state: {e}");
    }
    let kind = match &error {
        None => EventKind::RunFinished {
            pairs_total: state.pairs_total,
            pairs_failed: state.pairs_failed,
        },
        Some(e) => EventKind::RunFailed { error: e.clone() },
    };
    events.send(kind).await;
    written?;
    Ok(RunOutcome {
        code,
        results,
        state,
        error,
    })
}

#[derive(Clone)]
pub(crate) struct Events {
    store: Store,
    run: RunId,
}

impl Events {
    /// Store an event in the stream. Events are progress, not results: a failure is logged.
    pub(crate) async fn send(&self, kind: EventKind) {
        let event = Event::now(&self.run, kind);
        if let Err(e) = self
            .store
            .publish(subjects::event(&self.run), None, &event)
            .await
        {
            tracing::warn!("event not stored: {e}");
        }
    }
}

/// Where a finished pair's numbers go besides JetStream: the PushGateway and the harness
/// metrics. Neither can fail the run: a failed push is a warning (the next push carries it too).
struct Metrics {
    pusher: Option<netbench_metrics::Pusher>,
    harness: Option<Arc<netbench_metrics::HarnessMetrics>>,
    stats: ConnectionStats,
    reconnects_seen: std::sync::atomic::AtomicU64,
}

impl Metrics {
    fn new(cfg: &OrchestratorConfig, run: &RunId, stats: &ConnectionStats) -> Metrics {
        let pusher = cfg
            .push
            .clone()
            .and_then(|p| match netbench_metrics::Pusher::new(p, run) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!("not pushing metrics: {e}");
                    None
                }
            });
        Metrics {
            pusher,
            harness: cfg.harness.clone(),
            stats: stats.clone(),
            reconnects_seen: Default::default(),
        }
    }

    async fn push(&self, r: &PairResult) {
        if let Some(p) = &self.pusher {
            if let Err(e) = p.push_pair(r).await {
                tracing::warn!("{e}");
            }
        }
    }

    async fn pair_done(&self, r: &PairResult) {
        self.push(r).await;
        if let Some(h) = &self.harness {
            h.pair_finished(
                (r.finished_at - r.started_at).as_seconds_f64(),
                r.task.status == Status::Ok,
            );
            let now = self.stats.reconnects();
            let before = self
                .reconnects_seen
                .swap(now, std::sync::atomic::Ordering::Relaxed);
            for _ in before..now {
                h.reconnect();
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
