//! One pair: start the server, run the client, stop the server, judge the outcome.

use async_nats::Client;
use netbench_bench::{allow, measure, Benchmark, Role};
use netbench_bus::BusError;
use netbench_proto::{
    subjects, Endpoint, ErrorKind, PairResult, Path, ProcessOutcome, Reply, RunId, Status,
    TaskOptions, TaskParams, TaskRecord, TaskRequest, WorkerInfo,
};
use std::time::Duration;
use time::OffsetDateTime;

// How long the orchestrator waits for a worker before calling it lost: the worker's own worst
// case plus grace, from one table (netbench_proto::timing).
pub use netbench_proto::timing::WORKER_GRACE;
use netbench_proto::timing::{SERVER_START_LIMIT, SERVER_STOP_LIMIT};

/// How often a busy client worker is asked again.
const BUSY_RETRY: Duration = Duration::from_millis(250);

/// After our NATS connection came back during a client task, how long past the test's own
/// length its reply may still come; later, it was lost with the connection (the pair is run
/// again), rather than waited for until the task's timeout.
const LOST_REPLY_GRACE: Duration = Duration::from_secs(5);

pub struct PairContext<'a> {
    pub client: &'a Client,
    /// Our connection's (re)connects: a reply lost with the connection is not waited for.
    pub stats: &'a netbench_bus::ConnectionStats,
    pub run: &'a RunId,
    pub bench: &'static Benchmark,
    pub duration_seconds: u32,
    /// `--streams`, `--message-size`, `--rate` (checked against the benchmark up front).
    pub parameters: netbench_proto::Parameters,
}

/// A failure on the way, as a status and words.
struct Failure {
    status: Status,
    error: String,
    /// Whether the failing side is gone (so later pairs need not wait for it).
    lost: Option<LostSide>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostSide {
    Client,
    Server,
}

/// The result of a pair, and whether a worker was lost on the way.
pub struct PairRun {
    pub result: PairResult,
    pub lost: Option<LostSide>,
}

fn failure_from_bus(e: BusError, who: &WorkerInfo, side: LostSide, what: &str) -> Failure {
    match e {
        BusError::NoResponders(_) | BusError::TimedOut { .. } => Failure {
            status: Status::WorkerLost,
            error: format!("worker {} did not answer {what}: {e}", who.name),
            lost: Some(side),
        },
        other => Failure {
            status: Status::WorkerLost,
            error: format!("{what} on worker {}: {other}", who.name),
            lost: Some(side),
        },
    }
}

fn failure_from_reply(reply: Reply, who: &WorkerInfo, what: &str) -> Failure {
    let (status, error) = match reply {
        Reply::Error(e) => {
            let status = match e.kind {
                ErrorKind::Rejected
                | ErrorKind::WrongRun
                | ErrorKind::MissingTool
                | ErrorKind::Malformed
                | ErrorKind::Busy => Status::Rejected,
                ErrorKind::ShuttingDown => Status::WorkerLost,
                ErrorKind::SpawnFailed | ErrorKind::UnknownPair => Status::ToolFailed,
            };
            (status, format!("worker {} {what}: {}", who.name, e.message))
        }
        other => (
            Status::ToolFailed,
            format!("worker {} answered {what} with {other:?}", who.name),
        ),
    };
    Failure {
        status,
        error,
        lost: None,
    }
}

/// The server side of a result: the worker, and on path `service` the Service address the
/// client connected to.
fn server_endpoint(server_w: &WorkerInfo, path: Path, idle: bool) -> Endpoint {
    let mut e = Endpoint::from_worker(server_w, idle);
    if path == Path::Service {
        e.service_ip = server_w.service_ip.map(|ip| ip.to_string());
    }
    e
}

/// What the client connects to on `path` (the server's own address, or its Service's).
fn task_params(ctx: &PairContext<'_>, server_w: &WorkerInfo, path: Path) -> TaskParams {
    TaskParams {
        server_ip: server_w.target_ip(path).unwrap_or(server_w.ip),
        duration_seconds: ctx.duration_seconds,
        parameters: ctx.parameters,
    }
}

/// Run one pair on one path. Never fails: every way it can go wrong ends up in the result's
/// status.
pub async fn run_pair(
    ctx: &PairContext<'_>,
    pair_id: &str,
    client_w: &WorkerInfo,
    server_w: &WorkerInfo,
    path: Path,
    known_lost: Option<LostSide>,
) -> PairRun {
    let params = task_params(ctx, server_w, path);
    let server_spec = allow::spec(ctx.bench, Role::Server, ctx.run, pair_id, params.clone());
    let client_spec = allow::spec(ctx.bench, Role::Client, ctx.run, pair_id, params);
    let started_at = OffsetDateTime::now_utc();

    let (outcome, lost_on_stop, server_idle): (
        Result<ProcessOutcome, Failure>,
        Option<LostSide>,
        bool,
    ) = match known_lost {
        Some(side) => {
            let who = if side == LostSide::Client {
                client_w
            } else {
                server_w
            };
            let failure = Failure {
                status: Status::WorkerLost,
                error: format!("worker {} was lost earlier in the run", who.name),
                lost: Some(side),
            };
            (Err(failure), None, true)
        }
        // A worker that came back without its Service address (checked before the run).
        None if server_w.target_ip(path).is_none() => (
            Err(Failure {
                status: Status::Rejected,
                error: format!(
                    "worker {} has no Service address, which path {path} needs",
                    server_w.name
                ),
                lost: None,
            }),
            None,
            true,
        ),
        None => exchange(ctx, pair_id, client_w, server_w, &server_spec, &client_spec).await,
    };
    let finished_at = OffsetDateTime::now_utc();

    let client_idle = outcome.as_ref().map_or(true, |o| o.idle);
    let (status, metrics, error, output, stderr, truncated, client_seconds, lost) = match outcome {
        Ok(out) => {
            let m = measure(ctx.bench, &out);
            let stderr = (m.status != Status::Ok).then(|| out.stderr.text.clone());
            (
                m.status,
                m.metrics,
                m.error,
                out.stdout.text,
                stderr,
                out.stdout.truncated,
                out.elapsed_seconds,
                None,
            )
        }
        Err(f) => (
            f.status,
            Vec::new(),
            Some(f.error),
            String::new(),
            None,
            false,
            0.0,
            f.lost,
        ),
    };
    let result = PairResult {
        output,
        task: TaskRecord {
            command: client_spec.command,
            args: client_spec.args,
            task_options: TaskOptions {
                timeout_seconds: client_spec.timeout_seconds,
            },
            status,
            // As each worker measured it: no other task ran there during the pair.
            client: Endpoint::from_worker(client_w, client_idle),
            server: server_endpoint(server_w, path, server_idle),
            parameters: ctx.bench.effective_parameters(&ctx.parameters),
        },
        run: ctx.run.clone(),
        benchmark: ctx.bench.name.to_string(),
        pair: pair_id.to_string(),
        path,
        status_name: status.name().to_string(),
        started_at,
        finished_at,
        metrics,
        error,
        stderr,
        output_truncated: truncated,
        client_seconds,
        concurrent_pairs: 1,
        plan_index: None,
        entry: 0,
        sample: 0,
    };
    PairRun {
        result,
        lost: lost.or(lost_on_stop),
    }
}

/// How long a worker that "did not answer" gets to show it is there after all.
pub const PROBE_WINDOW: Duration = Duration::from_secs(15);

/// Whether a worker that "did not answer" a task still answers on its subject: a message lost
/// with a NATS server that went away (the request, or the reply on the worker's own
/// connection) looks like a lost worker to us, while the worker reconnected elsewhere. The
/// probe is the pair's own StopServer: harmless on the client (no server runs for the pair
/// there), and on the server it stops what would otherwise keep running. Any answer counts.
pub async fn answers(ctx: &PairContext<'_>, pair_id: &str, w: &WorkerInfo) -> bool {
    let subject = subjects::task(ctx.run, &w.id);
    let stop = TaskRequest::StopServer {
        run: ctx.run.clone(),
        pair: pair_id.to_string(),
    };
    let until = tokio::time::Instant::now() + PROBE_WINDOW;
    while tokio::time::Instant::now() < until {
        match netbench_bus::request(ctx.client, subject.clone(), &stop, Duration::from_secs(2))
            .await
        {
            Ok(_) => return true,
            Err(e) => {
                tracing::debug!(worker = %w.name, "probe: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    false
}

/// A pair cut short (the run's deadline passed during it): its result says so, with the times
/// it ran, and the server is told to stop (best effort, briefly). The client tool on its worker
/// ends at its own timeout.
pub async fn abandon(
    ctx: &PairContext<'_>,
    pair_id: &str,
    client_w: &WorkerInfo,
    server_w: &WorkerInfo,
    path: Path,
    started_at: OffsetDateTime,
    why: &str,
) -> PairResult {
    let params = task_params(ctx, server_w, path);
    let client_spec = allow::spec(ctx.bench, Role::Client, ctx.run, pair_id, params);
    let stop = TaskRequest::StopServer {
        run: ctx.run.clone(),
        pair: pair_id.to_string(),
    };
    let server_subject = subjects::task(ctx.run, &server_w.id);
    if let Err(e) =
        netbench_bus::request(ctx.client, server_subject, &stop, Duration::from_secs(2)).await
    {
        tracing::warn!(
            pair = pair_id,
            "stopping the server of an abandoned pair: {e}"
        );
    }
    PairResult {
        output: String::new(),
        task: TaskRecord {
            command: client_spec.command,
            args: client_spec.args,
            task_options: TaskOptions {
                timeout_seconds: client_spec.timeout_seconds,
            },
            status: Status::TimedOut,
            client: Endpoint::from_worker(client_w, true),
            server: server_endpoint(server_w, path, true),
            parameters: ctx.bench.effective_parameters(&ctx.parameters),
        },
        run: ctx.run.clone(),
        benchmark: ctx.bench.name.to_string(),
        pair: pair_id.to_string(),
        path,
        status_name: Status::TimedOut.name().to_string(),
        started_at,
        finished_at: OffsetDateTime::now_utc(),
        metrics: Vec::new(),
        error: Some(why.to_string()),
        stderr: None,
        output_truncated: false,
        client_seconds: 0.0,
        concurrent_pairs: 1,
        plan_index: None,
        entry: 0,
        sample: 0,
    }
}

async fn exchange(
    ctx: &PairContext<'_>,
    pair_id: &str,
    client_w: &WorkerInfo,
    server_w: &WorkerInfo,
    server_spec: &netbench_proto::CommandSpec,
    client_spec: &netbench_proto::CommandSpec,
) -> (Result<ProcessOutcome, Failure>, Option<LostSide>, bool) {
    let server_subject = subjects::task(ctx.run, &server_w.id);
    let start = TaskRequest::StartServer(server_spec.clone());
    match netbench_bus::request(
        ctx.client,
        server_subject.clone(),
        &start,
        SERVER_START_LIMIT,
    )
    .await
    {
        Ok(Reply::ServerReady(_)) => {}
        Ok(other) => {
            return (
                Err(failure_from_reply(other, server_w, "starting the server")),
                None,
                true,
            )
        }
        Err(e) => {
            return (
                Err(failure_from_bus(
                    e,
                    server_w,
                    LostSide::Server,
                    "starting the server",
                )),
                None,
                true,
            )
        }
    }

    let run = TaskRequest::RunClient(client_spec.clone());
    let limit = Duration::from_secs(client_spec.timeout_seconds) + WORKER_GRACE;
    // A client worker still busy with an old task (its orchestrator was restarted) finishes it
    // within that task's own timeout: wait it out rather than fail this pair.
    let busy_until = tokio::time::Instant::now() + limit;
    let connects_before = ctx.stats.connects();
    let asked = tokio::time::Instant::now();
    let expected = Duration::from_secs(ctx.duration_seconds.into()) + LOST_REPLY_GRACE;
    // A reply sent while our connection was down never comes: once it is back and the test is
    // past its length, stop waiting (the caller runs the pair again on the new connection).
    let reply_lost = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if ctx.stats.connects() != connects_before
                && ctx.client.connection_state() == async_nats::connection::State::Connected
                && asked.elapsed() >= expected
            {
                break;
            }
        }
    };
    tokio::pin!(reply_lost);
    let answer = loop {
        let subject = subjects::task(ctx.run, &client_w.id);
        let a = tokio::select! {
            a = netbench_bus::request(ctx.client, subject.clone(), &run, limit) => a,
            _ = &mut reply_lost => {
                tracing::warn!(pair = pair_id, "NATS reconnected during the client task and its reply did not come: it was lost with the connection");
                Err(BusError::TimedOut { subject, timeout: asked.elapsed() })
            }
        };
        match &a {
            Ok(Reply::Error(e))
                if e.kind == ErrorKind::Busy && tokio::time::Instant::now() < busy_until =>
            {
                tracing::info!(pair = pair_id, "{}; asking again", e.message);
                tokio::time::sleep(BUSY_RETRY).await;
            }
            _ => break a,
        }
    };
    let client_result = match answer {
        // What a worker sends is input: a time that is no number would be `null` in JSON.
        Ok(Reply::ClientDone(out))
            if !out.elapsed_seconds.is_finite() || out.elapsed_seconds < 0.0 =>
        {
            Err(Failure {
                status: Status::Rejected,
                error: format!(
                    "worker {} reported an elapsed time of {} s, which is not a duration; its result is refused",
                    client_w.name, out.elapsed_seconds
                ),
                lost: None,
            })
        }
        Ok(Reply::ClientDone(out)) => Ok(out),
        Ok(other) => Err(failure_from_reply(other, client_w, "running the client")),
        Err(e) => Err(failure_from_bus(
            e,
            client_w,
            LostSide::Client,
            "running the client",
        )),
    };

    // Always stop the server, whatever the client did.
    let stop = TaskRequest::StopServer {
        run: ctx.run.clone(),
        pair: pair_id.to_string(),
    };
    let stopped = netbench_bus::request(ctx.client, server_subject, &stop, SERVER_STOP_LIMIT).await;
    match stopped {
        Ok(Reply::ServerStopped(out)) => (client_result, None, out.idle),
        // The server's worker is gone. The client's outcome stands for this pair, but later
        // pairs must know.
        Err(e @ (BusError::NoResponders(_) | BusError::TimedOut { .. })) => {
            tracing::warn!(
                pair = pair_id,
                "worker {} lost while stopping its server: {e}",
                server_w.name
            );
            (client_result, Some(LostSide::Server), true)
        }
        other => {
            tracing::warn!(pair = pair_id, "stopping the server: {other:?}");
            (client_result, None, true)
        }
    }
}
