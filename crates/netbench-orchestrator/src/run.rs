//! The run loop: registration, pairs one at a time, results file.

use crate::flags::{fits, Estimate, PlanConfig};
use crate::nodes::NodeWorkers;
use crate::pair::{abandon, run_pair, LostSide, PairContext, PairRun};
use crate::plan::Plan;
use crate::registration::{self, Shared};
use crate::registry::{Lost, Registry};
use crate::schedule::{Job, Scheduler};
use crate::suite::{Entry, Rounds};
use futures::StreamExt;
use netbench_bus::results_file::Spool;
use netbench_bus::{jetstream::Store, BusError, ConnectionStats, NatsArgs};
use netbench_proto::{
    subjects, Event, EventKind, PairResult, Path, RollCall, RunId, RunPhase, RunState, Status,
    WorkerId, WorkerInfo,
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
    /// What the run measures, one entry after another (`--benchmark a,b`, `--suite`), each
    /// with its test length, parameters and samples.
    pub entries: Vec<Entry>,
    /// How many workers to wait for.
    pub workers: usize,
    /// Names of the workers expected, if known (named in the error when some are missing).
    pub expect: Vec<String>,
    /// How long to wait for all workers to register.
    pub registration_timeout: Duration,
    /// Where to write the results file, if anywhere.
    pub results: Option<PathBuf>,
    /// The run stops (partial results written) at this point.
    pub deadline: Duration,
    /// Push every pair's metrics to this PushGateway.
    pub push: Option<netbench_metrics::PushConfig>,
    /// The harness's own metrics (served on `/metrics` by the caller).
    pub harness: Option<Arc<netbench_metrics::HarnessMetrics>>,
    /// Which pairs, how many at once.
    pub plan: PlanConfig,
}

impl OrchestratorConfig {
    /// The benchmarks of the run's entries, comma-separated (the run state's `benchmark`).
    pub fn benchmark_names(&self) -> String {
        crate::suite::benchmark_names(&self.entries).join(",")
    }
}

/// How a run ended is also the process exit code.
pub use netbench_proto::ExitCode;

#[derive(Debug)]
pub struct RunOutcome {
    pub code: ExitCode,
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
    let store = Store::open_with(client.clone(), &cfg.nats.store).await?;
    let deadline = Instant::now() + cfg.deadline;
    let run = cfg.run.clone();

    // Results already stored for this run: a restarted orchestrator keeps them (on disk, not in
    // memory: only their ids and workers stay).
    let metrics = Metrics::new(&cfg, &run, &stats);
    let mut results = Collected::new(cfg.results.as_deref())?;
    store
        .each_result(&run, |r| {
            metrics.add(&r);
            results.add_stored(&r);
        })
        .await?;
    if !results.done.is_empty() {
        metrics.push_all().await;
    }
    let mut state = store.state(&run).await?.unwrap_or(RunState {
        run: run.clone(),
        benchmark: cfg.benchmark_names(),
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
            benchmark: cfg.benchmark_names(),
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
        cfg.entries.iter().map(|e| e.bench).collect(),
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

    // A restarted orchestrator's workers answer the roll call at once; one that does not in
    // RESUME_WAIT has died since, and the run goes on without it.
    let resumed = !results.done.is_empty();
    let wait = if resumed {
        cfg.registration_timeout.min(RESUME_WAIT)
    } else {
        cfg.registration_timeout
    };
    let wait_started = Instant::now();
    let waited = wait_for_workers(&cfg, &shared, wait, deadline, &shutdown).await;
    if let Some(h) = &cfg.harness {
        h.registration_wait(wait_started.elapsed().as_secs_f64());
    }
    let mut workers = shared.registry.lock().expect("not poisoned").workers();
    let mut gone = Vec::new();
    if let Err(why) = waited {
        let lacking = !shared
            .registry
            .lock()
            .expect("not poisoned")
            .lacking()
            .is_empty();
        match (resumed && !lacking && !shutdown.is_cancelled())
            .then(|| results.missing(&workers, cfg.workers))
            .flatten()
        {
            Some(missing) => {
                tracing::warn!(
                    "{why}; going on without them: their pairs are recorded as worker_lost"
                );
                gone = missing.iter().map(|w| w.id.clone()).collect();
                workers.extend(missing);
            }
            None => {
                let code = if shutdown.is_cancelled() {
                    ExitCode::Interrupted
                } else {
                    ExitCode::RunFailed
                };
                return finish(&store, &events, state, results, code, Some(why)).await;
            }
        }
    }

    // The plan: which pairs, how many at once, and whether that fits the deadline.
    let planned = match plan_run(&cfg, &mut workers, deadline) {
        Ok(p) => p,
        Err((code, why)) => return finish(&store, &events, state, results, code, Some(why)).await,
    };
    let Planned {
        plan,
        seed,
        estimate,
        nodes,
        same_node,
    } = planned;
    tracing::info!(
        "{}",
        netbench_proto::plan_line(&planned_event(&cfg, &estimate, seed)).unwrap_or_default()
    );
    events.send(planned_event(&cfg, &estimate, seed)).await;
    // Every entry's samples are rounds of the whole plan, each pair on each of the entry's
    // paths, then the same-node pairs: a job's index says which (suite::Rounds).
    let rounds = Rounds::new(&cfg.entries, plan.len(), same_node.len() as u64);
    let total = rounds.total() as usize;
    state.pairs_total = total;
    state.plan = cfg.plan.flags.plan.to_string();
    state.concurrency = cfg.plan.flags.concurrency;
    state.phase = RunPhase::Running;
    if let Err(e) = store.put_state(&state).await {
        tracing::warn!("run state not stored: {e}");
    }
    let done = std::mem::take(&mut results.done);
    if !done.is_empty() {
        tracing::info!(
            "{} pair(s) of run {run} already stored; skipping them",
            done.len()
        );
    }
    let mut finished = done.len();
    let contexts: Vec<PairContext> = cfg
        .entries
        .iter()
        .map(|e| PairContext {
            client: &client,
            stats: &stats,
            run: &run,
            bench: e.bench,
            duration_seconds: e.duration_seconds,
            parameters: e.parameters,
        })
        .collect();
    // A job names two nodes; its path says which of their workers run it.
    let at = |j: &Job| rounds.locate(j.index).expect("jobs come from the rounds");
    let workers_of = |j: &Job| {
        let path = at(j).path;
        let (c, s) = path.placements();
        let pick = |node: usize, p| nodes[node].get(p).expect("checked by plan_run");
        (pick(j.client, c), pick(j.server, s))
    };
    let pair_id = |j: &Job| {
        let (c, s) = workers_of(j);
        let a = at(j);
        let base = format!("{}--{}", workers[c].id, workers[s].id);
        rounds.pair_id(&base, a.slot, a.path)
    };
    // One at a time: the plan's own order (for a mesh, exactly the serial runs' order); side by
    // side: an order whose neighbours share no node. Later samples: shuffled per round.
    let concurrency = cfg.plan.flags.concurrency;
    let (plan_ref, rounds_ref, same_node_ref) = (&plan, &rounds, &same_node);
    let jobs = (0..rounds.len())
        .flat_map(move |round| {
            let sample = u64::from(rounds_ref.get(round).slot.sample);
            let pairs = plan_ref
                .round_order(concurrency, sample, seed)
                .flat_map(move |p| {
                    rounds_ref
                        .pair_jobs(round, p.index)
                        .map(move |(index, _)| Job {
                            index,
                            client: p.client,
                            server: p.server,
                        })
                });
            let on_nodes = same_node_ref.iter().enumerate().filter_map(move |(i, &n)| {
                rounds_ref.node_job(round, i as u64).map(|index| Job {
                    index,
                    client: n,
                    server: n,
                })
            });
            pairs.chain(on_nodes)
        })
        .filter(|j| !done.contains(&pair_id(j)));
    // The scheduler keeps nodes, not workers, out of two pairs at once: a node's pod and
    // host workers share its network.
    let mut sched = Scheduler::new(jobs, plan.nodes().len(), concurrency as usize);
    let mut lost = Lost::default();
    for id in &gone {
        lost.mark(id, &shared.registry.lock().expect("not poisoned"));
    }
    let mut stopped: Option<String> = None;
    let mut recorder = Recorder::new(&store, &events, metrics);
    recorder.pace = Some((Instant::now(), finished));
    let mut running = futures::stream::FuturesUnordered::new();
    let mut started: HashMap<u64, OffsetDateTime> = HashMap::new();
    let mut current = workers.clone();
    loop {
        if shutdown.is_cancelled() {
            stopped = Some("interrupted by a signal".into());
            break;
        }
        let late = Instant::now() >= deadline;
        if late && sched.running() == 0 {
            stopped = Some(format!("the run's deadline ({:?}) passed", cfg.deadline));
            break;
        }
        refresh_returned(&shared, &mut lost, &mut current);
        while let Some(job) = if late { None } else { sched.start_next() } {
            let (cw, sw) = workers_of(&job);
            let (c, s) = (current[cw].clone(), current[sw].clone());
            let id = pair_id(&job);
            events
                .send(EventKind::PairStarted {
                    pair: id.clone(),
                    index: job.index as usize + 1,
                    total,
                    client: c.name.clone(),
                    server: s.name.clone(),
                    path: at(&job).path,
                })
                .await;
            let known_lost = known_lost(&lost, &c, &s);
            started.insert(job.index, OffsetDateTime::now_utc());
            let a = at(&job);
            let (ctx, stats, shutdown) = (&contexts[a.slot.entry as usize], &stats, &shutdown);
            running.push(async move {
                let o = attempt_pair(
                    ctx, stats, &id, &c, &s, a.path, known_lost, deadline, shutdown,
                )
                .await;
                (job, c, s, o)
            });
        }
        if sched.running() == 0 {
            break;
        }
        tokio::select! {
            Some((job, c, s, outcome)) = running.next() => {
                started.remove(&job.index);
                let concurrent = sched.finish(&job);
                match outcome.lost {
                    Some(LostSide::Client) => lost.mark(&c.id, &shared.registry.lock().expect("not poisoned")),
                    Some(LostSide::Server) => lost.mark(&s.id, &shared.registry.lock().expect("not poisoned")),
                    None => {}
                }
                let mut r = outcome.result;
                r.concurrent_pairs = concurrent;
                r.plan_index = Some(job.index);
                let slot = at(&job).slot;
                (r.entry, r.sample) = (slot.entry, slot.sample);
                finished += 1;
                results.add(&recorder.record(&mut state, r, finished, total, deadline).await);
            }
            _ = shutdown.cancelled() => {
                stopped = Some("interrupted by a signal".into());
                break;
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                let why = format!("the run's deadline ({:?}) passed during this pair", cfg.deadline);
                let cut: Vec<Job> = sched.running_jobs().copied().collect();
                running.clear();
                for job in cut {
                    let concurrent = sched.finish(&job);
                    let (cw, sw) = workers_of(&job);
                    let (c, s) = (&current[cw], &current[sw]);
                    let since = started.get(&job.index).copied().unwrap_or_else(OffsetDateTime::now_utc);
                    let a = at(&job);
                    let mut r = abandon(&contexts[a.slot.entry as usize], &pair_id(&job), c, s, a.path, since, &why).await;
                    r.concurrent_pairs = concurrent;
                    r.plan_index = Some(job.index);
                    (r.entry, r.sample) = (a.slot.entry, a.slot.sample);
                    finished += 1;
                    results.add(&recorder.record(&mut state, r, finished, total, deadline).await);
                }
                stopped = Some(why);
                break;
            }
        }
    }
    let unstored = recorder.finish().await;
    if unstored > 0 && stopped.is_none() {
        stopped = Some(format!(
            "{unstored} result(s) could not be stored in JetStream before the deadline; they are in the results file"
        ));
    }

    let code = if stopped.is_some() {
        ExitCode::Interrupted
    } else if results.failed == 0 {
        ExitCode::AllPairsOk
    } else {
        ExitCode::SomePairsFailed
    };
    finish(&store, &events, state, results, code, stopped).await
}

/// A finished pair's way out: JetStream (trimmed to fit, retried until the deadline), the
/// `pair_finished` event, the run state, and the PushGateway (off the pair's critical path).
/// Nothing here can lose the result: one that cannot be stored stays in the results file.
struct Recorder {
    store: Store,
    events: Events,
    /// The largest message the stream and server take.
    limit: usize,
    push: Option<tokio::sync::mpsc::UnboundedSender<PairResult>>,
    pusher: tokio::task::JoinHandle<()>,
    /// Results that JetStream never acked.
    unstored: usize,
    /// When the pairs started, and how many were done then: the pace for the time left.
    pace: Option<(Instant, usize)>,
}

impl Recorder {
    fn new(store: &Store, events: &Events, metrics: Metrics) -> Recorder {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PairResult>();
        let pusher = tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                metrics.pair_done(&r).await;
            }
        });
        Recorder {
            store: store.clone(),
            events: events.clone(),
            limit: store.message_size_limit(),
            push: Some(tx),
            pusher,
            unstored: 0,
            pace: None,
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
                subjects::result(run, &r.benchmark),
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
        let headline = netbench_bench::find(&r.benchmark)
            .and_then(|b| r.metrics.iter().find(|m| m.name == b.headline))
            .cloned();
        self.events
            .send(EventKind::PairFinished {
                pair: r.pair.clone(),
                index,
                total,
                client: r.task.client.worker.clone(),
                server: r.task.server.worker.clone(),
                path: r.path,
                status: r.task.status,
                status_name: r.status_name.clone(),
                headline,
                seconds: (r.finished_at - r.started_at).as_seconds_f64(),
                left_seconds: self.pace.and_then(|(since, before)| {
                    let done_here = index.checked_sub(before).filter(|&d| d > 0)?;
                    let per_pair = since.elapsed().as_secs_f64() / done_here as f64;
                    Some(per_pair * total.saturating_sub(index) as f64)
                }),
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

/// The plan as the run uses it.
struct Planned {
    plan: Plan,
    seed: u64,
    estimate: Estimate,
    /// Plan node index → that node's workers (indices into the run's worker list).
    nodes: Vec<NodeWorkers>,
    /// The plan nodes the same-node path measures (empty when no entry asks for it).
    same_node: Vec<usize>,
}

/// Plan the registered workers' pairs, and refuse a plan that cannot fit the time left (exit
/// 2) or that needs workers the run does not have (exit 3).
fn plan_run(
    cfg: &OrchestratorConfig,
    workers: &mut [WorkerInfo],
    deadline: Instant,
) -> Result<Planned, (ExitCode, String)> {
    let paths = crate::suite::all_paths(&cfg.entries);
    let roster = crate::nodes::roster(workers, paths).map_err(|e| (ExitCode::RunFailed, e))?;
    let seed = cfg.plan.seed();
    let plan = cfg
        .plan
        .plan(&roster.nodes, seed, &cfg.entries)
        .map_err(|e| (ExitCode::Usage, e))?;
    let nodes = roster
        .assign(plan.nodes(), workers, paths)
        .map_err(|e| (ExitCode::RunFailed, e))?;
    let same_node = if paths.contains(Path::SameNode) {
        plan.same_node_nodes()
    } else {
        Vec::new()
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let estimate = fits(&plan, &cfg.plan, &cfg.entries, left).map_err(|e| (ExitCode::Usage, e))?;
    Ok(Planned {
        plan,
        seed,
        estimate,
        nodes,
        same_node,
    })
}

fn planned_event(cfg: &OrchestratorConfig, e: &Estimate, seed: u64) -> EventKind {
    EventKind::RunPlanned {
        plan: cfg.plan.flags.plan.to_string(),
        seed,
        pairs: e.pairs,
        rounds: e.rounds,
        concurrency: cfg.plan.flags.concurrency,
        estimate_seconds: e.time.as_secs_f64(),
    }
}

/// Which side of a pair is known to be gone.
fn known_lost(lost: &Lost, c: &WorkerInfo, s: &WorkerInfo) -> Option<LostSide> {
    if lost.contains(&c.id) {
        Some(LostSide::Client)
    } else if lost.contains(&s.id) {
        Some(LostSide::Server)
    } else {
        None
    }
}

/// Workers lost earlier that registered again are usable again (with what they now say).
fn refresh_returned(shared: &Shared, lost: &mut Lost, workers: &mut [WorkerInfo]) {
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

/// One pair, run again (at most [`MAX_PAIR_ATTEMPTS`] times) when a worker "did not answer"
/// while our own NATS connection was down: the messages were lost, not the worker.
#[allow(clippy::too_many_arguments)]
async fn attempt_pair(
    ctx: &PairContext<'_>,
    stats: &ConnectionStats,
    id: &str,
    c: &WorkerInfo,
    s: &WorkerInfo,
    path: Path,
    known_lost: Option<LostSide>,
    deadline: Instant,
    shutdown: &CancellationToken,
) -> PairRun {
    let mut attempt = 1;
    loop {
        let connects_before = stats.connects();
        let o = run_pair(ctx, id, c, s, path, known_lost).await;
        let blipped = stats.connects() != connects_before
            || ctx.client.connection_state() != async_nats::connection::State::Connected;
        if o.result.task.status == Status::WorkerLost && attempt < MAX_PAIR_ATTEMPTS {
            if blipped {
                tracing::warn!(pair = %id, "NATS connection lost during the pair; running it again");
                wait_connected(ctx.client, deadline, shutdown).await;
                attempt += 1;
                continue;
            }
            // Our connection held, but the worker's server may have gone with the message.
            let who = o
                .lost
                .map(|side| if side == LostSide::Server { s } else { c });
            if let Some(w) = who.filter(|_| known_lost.is_none()) {
                if crate::pair::answers(ctx, id, w).await {
                    tracing::warn!(pair = %id, worker = %w.name, "the worker did not answer the task but answers now (a message lost with a NATS server?); running the pair again");
                    attempt += 1;
                    continue;
                }
            }
        }
        return o;
    }
}

/// How long a restarted orchestrator waits for its workers to answer the roll call.
const RESUME_WAIT: Duration = Duration::from_secs(10);

/// What the run recorded: counts, the workers the results name, and the results themselves
/// on disk ([`Spool`]) when a results file is to be written. No tool output stays in memory.
struct Collected {
    count: usize,
    failed: usize,
    /// Pair ids stored before this orchestrator started (a resumed run skips them).
    done: HashSet<String>,
    /// The workers the stored results name (a resumed run goes on without the dead ones).
    seen: HashMap<WorkerId, WorkerInfo>,
    spool: Option<(PathBuf, Spool)>,
    /// Results that could not be spooled (the disk): the file lacks them, JetStream has them.
    unspooled: usize,
}

impl Collected {
    fn new(results: Option<&std::path::Path>) -> Result<Collected, OrchestratorError> {
        let spool = match results {
            Some(path) => Some((
                path.to_path_buf(),
                Spool::beside(path).map_err(|source| OrchestratorError::ResultsFile {
                    path: path.to_path_buf(),
                    source,
                })?,
            )),
            None => None,
        };
        Ok(Collected {
            count: 0,
            failed: 0,
            done: HashSet::new(),
            seen: HashMap::new(),
            spool,
            unspooled: 0,
        })
    }

    /// A result stored before this orchestrator started: also remember its pair (to skip it)
    /// and its workers (to go on without those that do not come back).
    fn add_stored(&mut self, r: &PairResult) {
        self.done.insert(r.pair.clone());
        // Where each side ran follows from the path.
        let (cp, sp) = r.path.placements();
        for (e, placement) in [(&r.task.client, cp), (&r.task.server, sp)] {
            if let (Some(id), Ok(ip)) = (&e.id, e.ip.parse()) {
                let w = self.seen.entry(id.clone()).or_insert_with(|| WorkerInfo {
                    id: id.clone(),
                    name: e.worker.clone(),
                    ip,
                    hostname: e.vm.hostname.clone(),
                    zone: e.vm.availability_zone.clone(),
                    cpus: e.cpus.unwrap_or(0),
                    placement,
                    service_ip: None,
                });
                if let Some(vip) = e.service_ip.as_deref().and_then(|v| v.parse().ok()) {
                    w.service_ip = Some(vip);
                }
            }
        }
        self.add(r);
    }

    fn add(&mut self, r: &PairResult) {
        self.count += 1;
        if r.task.status != Status::Ok {
            self.failed += 1;
        }
        if let Some((_, spool)) = &mut self.spool {
            if let Err(e) = spool.push(r.plan_index.unwrap_or(u64::MAX), r) {
                self.unspooled += 1;
                tracing::error!(pair = %r.pair, "result not kept for the results file ({e}); it is in JetStream");
            }
        }
    }

    /// The workers of a resumed run that did not come back, as the stored results know them,
    /// when together with those registered they are the whole run (else `None`).
    fn missing(&self, registered: &[WorkerInfo], expected: usize) -> Option<Vec<WorkerInfo>> {
        let here: HashSet<&WorkerId> = registered.iter().map(|w| &w.id).collect();
        let missing: Vec<WorkerInfo> = self
            .seen
            .values()
            .filter(|w| !here.contains(&w.id))
            .cloned()
            .collect();
        (registered.len() + missing.len() == expected).then_some(missing)
    }

    /// Write the results file, in plan order.
    fn write(&mut self, state: &RunState) -> Result<(), OrchestratorError> {
        let Some((path, spool)) = &mut self.spool else {
            return Ok(());
        };
        let err = |source| OrchestratorError::ResultsFile {
            path: path.clone(),
            source,
        };
        spool.write(path, Some(state)).map_err(err)?;
        tracing::info!("results written to {}", path.display());
        if self.unspooled > 0 {
            return Err(err(std::io::Error::other(format!(
                "{} result(s) could not be kept on disk and are missing from it; they are in JetStream",
                self.unspooled
            ))));
        }
        Ok(())
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
    wait: Duration,
    deadline: Instant,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let limit = (Instant::now() + wait).min(deadline);
    loop {
        let notified = shared.joined.notified();
        {
            let reg = shared.registry.lock().expect("not poisoned");
            if let Some((name, missing)) = reg.lacking().iter().next() {
                return Err(format!(
                    "worker {name} lacks {} needed by {}; install it in the worker image",
                    missing.join(", "),
                    cfg.benchmark_names()
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
            reg.len(), cfg.workers, wait, if joined.is_empty() { "none" } else { &joined }
        )
    } else {
        format!(
            "workers {} did not register within {:?} (joined: {}); check that they run and reach NATS",
            missing.join(", "), wait, if joined.is_empty() { "none" } else { &joined }
        )
    })
}

async fn finish(
    store: &Store,
    events: &Events,
    mut state: RunState,
    mut results: Collected,
    code: ExitCode,
    error: Option<String>,
) -> Result<RunOutcome, OrchestratorError> {
    state.phase = match code {
        ExitCode::AllPairsOk | ExitCode::SomePairsFailed => RunPhase::Done,
        ExitCode::Usage | ExitCode::RunFailed | ExitCode::Interrupted => RunPhase::Failed,
    };
    state.pairs_done = results.count;
    state.pairs_failed = results.failed;
    state.error = error.clone();
    state.updated_at = OffsetDateTime::now_utc();
    // The results file first: the bookkeeping below may wait on a NATS that is gone.
    let written = results.write(&state);
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
    Ok(RunOutcome { code, state, error })
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

    /// A stored pair's gauges, pushed with the next push.
    fn add(&self, r: &PairResult) {
        if let Some(p) = &self.pusher {
            if let Err(e) = p.add_pair(r) {
                tracing::warn!("{e}");
            }
        }
    }

    async fn push_all(&self) {
        if let Some(p) = &self.pusher {
            if let Err(e) = p.push().await {
                tracing::warn!("{e}");
            }
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
