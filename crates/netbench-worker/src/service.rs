//! The worker's NATS side: register, serve the task subject, shut down cleanly.

use crate::process::{self, Running};
use crate::{ready, tools};
use async_nats::{Client, Message};
use futures::StreamExt;
use netbench_bench::{allow, Role};
use netbench_bus::{ConnectionStats, NatsArgs};
use netbench_proto::{
    subjects, CommandSpec, ErrorKind, Register, Reply, RunId, ServerReady, TaskRequest, WorkerInfo,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Default cap on each of stdout and stderr of a tool.
pub const DEFAULT_OUTPUT_CAP: usize = 1024 * 1024;
// How long a server may take to listen, and gets between SIGTERM and SIGKILL: one table with
// the orchestrator's limits, which are derived from them.
use netbench_proto::timing::{SERVER_READY_LIMIT, SERVER_STOP_GRACE};
/// How long the worker waits, when it exits, for NATS to take its last words.
const FINAL_FLUSH: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub nats: NatsArgs,
    pub run: RunId,
    pub info: WorkerInfo,
    /// The worker exits at this point whatever happens.
    pub deadline: Duration,
    /// Cap on each of stdout and stderr (lowered further to fit the server's max payload).
    pub output_cap: usize,
    /// Directories searched for tools before the standard PATH (tests).
    pub tool_dirs: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Bus(#[from] netbench_bus::BusError),
    #[error("cannot subscribe to {subject}: {source}")]
    Subscribe {
        subject: String,
        source: async_nats::SubscribeError,
    },
    #[error("the orchestrator refused registration: {0}")]
    Refused(String),
    #[error("no orchestrator answered on {0} before the deadline")]
    NotRegistered(String),
}

struct State {
    cfg: WorkerConfig,
    client: Client,
    cap: usize,
    /// Servers started for a pair and not yet stopped, by pair id, with their activity ticket.
    servers: Mutex<HashMap<String, (Running, u64)>>,
    /// What runs here now: one client at a time, and whether a task had the worker to itself.
    activity: std::sync::Mutex<Activity>,
    /// Cancelled at shutdown: running clients are killed at once.
    stop: CancellationToken,
    /// A re-registration (after a roll call) is in progress.
    registering: AtomicBool,
}

/// The tasks running on a worker, each with whether another ran beside it at any time.
#[derive(Debug, Default)]
struct Activity {
    next: u64,
    running: HashMap<u64, bool>,
    /// The ticket and pair of the client running now.
    client: Option<(u64, String)>,
}

impl Activity {
    /// A task starts (a client when `client_of` names its pair); returns its ticket.
    fn begin(&mut self, client_of: Option<&str>) -> u64 {
        let crowded = !self.running.is_empty();
        for overlapped in self.running.values_mut() {
            *overlapped |= crowded;
        }
        let ticket = self.next;
        self.next += 1;
        self.running.insert(ticket, crowded);
        if let Some(pair) = client_of {
            self.client = Some((ticket, pair.to_string()));
        }
        ticket
    }

    /// A task ends; true when nothing else ran on the worker while it did.
    fn end(&mut self, ticket: u64) -> bool {
        if self.client.as_ref().is_some_and(|(t, _)| *t == ticket) {
            self.client = None;
        }
        let overlapped = self.running.remove(&ticket).unwrap_or(true);
        !overlapped
    }
}

impl State {
    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.activity.lock().expect("not poisoned")
    }
}

/// Run the worker until `shutdown` is cancelled or its deadline passes.
pub async fn run(cfg: WorkerConfig, shutdown: CancellationToken) -> Result<(), WorkerError> {
    let reaper_stop = CancellationToken::new();
    let _reaper_stops = reaper_stop.clone().drop_guard();
    crate::reaper::start(reaper_stop);
    let stats = ConnectionStats::default();
    let name = format!("netbench-worker {}", cfg.info.name);
    let client = netbench_bus::connect(&cfg.nats, &name, &stats).await?;
    let subject = subjects::task(&cfg.run, &cfg.info.id);
    let mut tasks =
        client
            .subscribe(subject.clone())
            .await
            .map_err(|source| WorkerError::Subscribe {
                subject: subject.clone(),
                source,
            })?;
    // Leave room for headers and the reply envelope within the server's max payload.
    let max_payload = client.server_info().max_payload;
    let cap = cfg
        .output_cap
        .min(max_payload.saturating_sub(64 * 1024) / 2)
        .max(4096);

    let deadline = tokio::time::sleep(cfg.deadline);
    tokio::pin!(deadline);
    let state = Arc::new(State {
        cfg: cfg.clone(),
        client: client.clone(),
        cap,
        servers: Mutex::new(HashMap::new()),
        activity: std::sync::Mutex::new(Activity::default()),
        stop: shutdown.child_token(),
        registering: AtomicBool::new(false),
    });
    let tracker = TaskTracker::new();

    let result = tokio::select! {
        r = register(&state) => r,
        _ = shutdown.cancelled() => Ok(()),
        _ = &mut deadline => Err(WorkerError::NotRegistered(subjects::register(&cfg.run, &cfg.info.id))),
    };
    // A (re)started orchestrator asks everyone to register again.
    let mut rollcall = client
        .subscribe(subjects::rollcall(&cfg.run))
        .await
        .map_err(|source| WorkerError::Subscribe {
            subject: subjects::rollcall(&cfg.run),
            source,
        })?;
    if result.is_ok() && !shutdown.is_cancelled() {
        tracing::info!(worker = %cfg.info.name, id = %cfg.info.id, %subject, "registered; serving tasks");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => { tracing::info!("shutting down"); break; }
                _ = &mut deadline => { tracing::warn!("deadline reached; exiting"); break; }
                msg = tasks.next() => match msg {
                    Some(msg) => { tracker.spawn(handle(state.clone(), msg)); }
                    None => { tracing::warn!("task subscription closed"); break; }
                },
                // One re-registration at a time, however many roll calls (or floods) come.
                Some(_) = rollcall.next() => {
                    if !state.registering.swap(true, Ordering::AcqRel) {
                        tracing::info!("roll call: registering again");
                        let state = state.clone();
                        tracker.spawn(async move {
                            // Bounded, and given up at shutdown: with the orchestrator gone it
                            // would retry forever and hold the worker past SIGTERM.
                            tokio::select! {
                                r = tokio::time::timeout(REREGISTER_FOR, register(&state)) => match r {
                                    Ok(Err(e)) => tracing::warn!("re-registration failed: {e}"),
                                    Err(_) => tracing::warn!("no orchestrator answered the re-registration within {REREGISTER_FOR:?}"),
                                    Ok(Ok(())) => {}
                                },
                                _ = state.stop.cancelled() => {}
                            }
                            state.registering.store(false, Ordering::Release);
                        });
                    }
                }
            }
        }
    }
    // Kill running clients, wait for their handlers, then stop every server left.
    state.stop.cancel();
    tracker.close();
    tracker.wait().await;
    let servers: Vec<Running> = state
        .servers
        .lock()
        .await
        .drain()
        .map(|(_, (r, _))| r)
        .collect();
    for s in servers {
        s.stop(SERVER_STOP_GRACE).await;
    }
    // With NATS gone (a namespace being deleted stops every pod at once), a flush waits for a
    // reconnect that never comes, and the pod would die only at its SIGKILL, a grace later.
    let goodbye = async {
        let _ = tasks.unsubscribe().await;
        let _ = rollcall.unsubscribe().await;
        let _ = client.flush().await;
    };
    if tokio::time::timeout(FINAL_FLUSH, goodbye).await.is_err() {
        tracing::warn!("NATS did not confirm the goodbye within {FINAL_FLUSH:?}; exiting anyway");
    }
    result
}

/// How long a roll call's re-registration is tried.
const REREGISTER_FOR: Duration = Duration::from_secs(60);

async fn register(state: &State) -> Result<(), WorkerError> {
    let cfg = &state.cfg;
    let body = Register {
        run: cfg.run.clone(),
        worker: cfg.info.clone(),
        tools: tools::available(&cfg.tool_dirs),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let subject = subjects::register(&cfg.run, &cfg.info.id);
    let mut pause = Duration::from_millis(20);
    loop {
        match netbench_bus::request(
            &state.client,
            subject.clone(),
            &body,
            Duration::from_secs(2),
        )
        .await
        {
            Ok(Reply::Registered(_)) => return Ok(()),
            Ok(Reply::Error(e)) => return Err(WorkerError::Refused(e.message)),
            Ok(other) => tracing::warn!("unexpected registration reply {other:?}; retrying"),
            // The orchestrator is not up yet (or restarting): keep trying.
            Err(e) => tracing::debug!("registration: {e}; retrying"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

async fn handle(state: Arc<State>, msg: Message) {
    let reply = match netbench_bus::decode::<TaskRequest>(&msg) {
        Err(e) => Reply::error(ErrorKind::Malformed, e.to_string()),
        Ok(req) if req.run() != &state.cfg.run => Reply::error(
            ErrorKind::WrongRun,
            format!(
                "this worker serves run {}, not {}",
                state.cfg.run,
                req.run()
            ),
        ),
        Ok(TaskRequest::StartServer(spec)) => start_server(&state, spec).await,
        Ok(TaskRequest::RunClient(spec)) => run_client(&state, spec).await,
        Ok(TaskRequest::StopServer { pair, .. }) => stop_server(&state, &pair).await,
    };
    if let Reply::Error(e) = &reply {
        tracing::warn!(kind = ?e.kind, "task refused or failed: {}", e.message);
    }
    netbench_bus::reply(&state.client, &msg, &reply).await;
}

/// Check a command against the catalogue and find its program. Nothing runs before this.
fn admit(state: &State, spec: &CommandSpec, role: Role) -> Result<PathBuf, Reply> {
    allow::validate(spec, role).map_err(|r| Reply::error(ErrorKind::Rejected, r.to_string()))?;
    tools::locate(&spec.command, &state.cfg.tool_dirs).ok_or_else(|| {
        Reply::error(
            ErrorKind::MissingTool,
            format!(
                "{} is not installed on worker {}: {}",
                spec.command,
                state.cfg.info.name,
                tools::install_hint(&spec.command)
            ),
        )
    })
}

async fn start_server(state: &State, spec: CommandSpec) -> Reply {
    let program = match admit(state, &spec, Role::Server) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let bench = netbench_bench::find(&spec.benchmark).expect("validated");
    let mut servers = state.servers.lock().await;
    // Pairs are serial: a server still running belongs to a pair that was abandoned (its
    // orchestrator restarted). It would hold the port, so it goes.
    for (pair, (old, ticket)) in servers.drain() {
        tracing::warn!(%pair, "stopping the server of an abandoned pair");
        old.stop(SERVER_STOP_GRACE).await;
        state.activity().end(ticket);
    }
    let mut running = match process::spawn(&program, &spec.args, state.cap) {
        Ok(r) => r,
        Err(e) => {
            return Reply::error(
                ErrorKind::SpawnFailed,
                format!("cannot start {}: {e}", program.display()),
            )
        }
    };
    let port = bench.ready_port();
    match ready::wait_listening(port, SERVER_READY_LIMIT, || running.is_alive()).await {
        Ok(after) => {
            let ticket = state.activity().begin(None);
            servers.insert(spec.pair.clone(), (running, ticket));
            Reply::ServerReady(ServerReady {
                ready_after_seconds: after.as_secs_f64(),
            })
        }
        Err(e) => {
            let out = running.stop(SERVER_STOP_GRACE).await;
            let why = out.stderr.text.lines().last().unwrap_or("").to_string();
            Reply::error(
                ErrorKind::SpawnFailed,
                format!("{} on port {port}: {e}. {why}", spec.command),
            )
        }
    }
}

async fn run_client(state: &State, spec: CommandSpec) -> Reply {
    let program = match admit(state, &spec, Role::Client) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    // One client at a time: a second one (an old task still running after an orchestrator
    // restart or a NATS blip) is refused, never run beside the first.
    let ticket = {
        let mut activity = state.activity();
        if let Some((_, pair)) = &activity.client {
            return Reply::error(
                ErrorKind::Busy,
                format!(
                    "worker {} already runs the client of pair {pair}; one client at a time",
                    state.cfg.info.name
                ),
            );
        }
        activity.begin(Some(&spec.pair))
    };
    let running = match process::spawn(&program, &spec.args, state.cap) {
        Ok(r) => r,
        Err(e) => {
            state.activity().end(ticket);
            return Reply::error(
                ErrorKind::SpawnFailed,
                format!("cannot start {}: {e}", program.display()),
            );
        }
    };
    let timeout = Duration::from_secs(spec.timeout_seconds);
    let mut outcome = running.finish(timeout, &state.stop).await;
    outcome.idle = state.activity().end(ticket);
    if state.stop.is_cancelled() && !outcome.succeeded() {
        return Reply::error(
            ErrorKind::ShuttingDown,
            "the worker is shutting down; the client was stopped",
        );
    }
    Reply::ClientDone(outcome)
}

async fn stop_server(state: &State, pair: &str) -> Reply {
    let running = state.servers.lock().await.remove(pair);
    match running {
        Some((r, ticket)) => {
            let mut outcome = r.stop(SERVER_STOP_GRACE).await;
            outcome.idle = state.activity().end(ticket);
            Reply::ServerStopped(outcome)
        }
        None => Reply::error(
            ErrorKind::UnknownPair,
            format!("no server runs for pair {pair:?}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::Activity;

    #[test]
    fn a_task_is_idle_only_when_nothing_ran_beside_it() {
        let mut a = Activity::default();
        // Serial: a server, then (after it stopped) a client: both alone.
        let s = a.begin(None);
        assert!(a.end(s));
        let c = a.begin(Some("p1"));
        assert_eq!(a.client.as_ref().map(|(_, p)| p.as_str()), Some("p1"));
        assert!(a.end(c));
        assert!(a.client.is_none());
        // A server still running when a client starts: neither was alone, even the one that
        // started first; the client's end frees the client slot, not the server's.
        let s = a.begin(None);
        let c = a.begin(Some("p2"));
        assert!(!a.end(c));
        assert!(a.client.is_none());
        assert!(!a.end(s));
        // And a later task is alone again.
        let c = a.begin(Some("p3"));
        assert!(a.end(c));
    }
}
