//! `netbench watch`: what the `NETBENCH` stream holds, then what comes, as a table that grows by
//! one line per result or event.
//!
//! Reading needs no write rights beyond an ordered consumer: the stream is opened without a
//! `STREAM.INFO` call, and an ordered (ephemeral, memory, no-ack) pull consumer replays it from
//! the start. When the stream cannot be read at all (no JetStream, no consumer rights) `watch`
//! says so and falls back to a plain subscription on the same subjects, live messages only.
//!
//! The line formatting ([`decode`], [`line`], [`header`]) is pure; [`watch`] is the shell.

use crate::units::human;
use crate::ReportError;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use netbench_bus::NatsArgs;
use netbench_proto::{subjects, Event, EventKind, PairResult, Path, RunId, Status};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A message of the stream, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Result(Box<PairResult>),
    Event(Box<Event>),
}

impl Item {
    /// True for the events that end a run.
    pub fn ends_run(&self) -> bool {
        matches!(
            self,
            Item::Event(e) if matches!(e.kind, EventKind::RunFinished { .. } | EventKind::RunFailed { .. })
        )
    }
}

/// Decode a message by its subject: `netbench.<run>.result.<benchmark>` or `netbench.<run>.event`.
pub fn decode(subject: &str, payload: &[u8]) -> Result<Item, String> {
    let tokens: Vec<&str> = subject.split('.').collect();
    match tokens.as_slice() {
        [subjects::ROOT, _, "result", ..] => serde_json::from_slice::<PairResult>(payload)
            .map(|r| Item::Result(Box::new(r)))
            .map_err(|e| format!("{subject}: not a pair result: {e}")),
        [subjects::ROOT, _, "event"] => serde_json::from_slice::<Event>(payload)
            .map(|e| Item::Event(Box::new(e)))
            .map_err(|e| format!("{subject}: not an event: {e}")),
        _ => Err(format!("{subject}: not a netbench result or event subject")),
    }
}

const WIDTHS: [usize; 5] = [8, 12, 14, 28, 0];

fn row(cells: [&str; 5]) -> String {
    let mut s = String::new();
    for (c, w) in cells.iter().zip(WIDTHS) {
        s.push_str(&format!("{c:<w$}  "));
    }
    s.trim_end().to_string()
}

/// The table's header line.
pub fn header() -> String {
    row(["time", "run", "what", "pair", "detail"])
}

fn hms(t: time::OffsetDateTime) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

fn headline(r: &PairResult) -> Option<String> {
    let name = netbench_bench::find(&r.benchmark)
        .map(|b| b.headline.to_string())
        .or_else(|| r.metrics.first().map(|m| m.name.clone()))?;
    let m = r.metrics.iter().find(|m| m.name == name)?;
    Some(format!("{} {}", m.name, human(m.value, m.unit)))
}

/// `node-1 -> node-2`, and the path when it is not pod: `node-1 -> node-2 (host)`.
fn pair_cell(client: &str, server: &str, path: Path) -> String {
    if path.is_pod() {
        format!("{client} -> {server}")
    } else {
        format!("{client} -> {server} ({path})")
    }
}

/// One line of the table for an item.
pub fn line(item: &Item) -> String {
    match item {
        Item::Result(r) => {
            let pair = pair_cell(
                crate::model::node(&r.task.client),
                crate::model::node(&r.task.server),
                r.path,
            );
            let detail = if r.task.status == Status::Ok {
                headline(r).unwrap_or_else(|| "ok".into())
            } else {
                let why = r
                    .error
                    .as_deref()
                    .and_then(|e| e.lines().next())
                    .unwrap_or_default();
                format!("{} {why}", r.status_name.to_uppercase())
                    .trim_end()
                    .to_string()
            };
            row([
                &hms(r.finished_at),
                r.run.as_str(),
                "result",
                &pair,
                &format!("{} {detail}", r.benchmark),
            ])
        }
        Item::Event(e) => {
            let (what, pair, detail) = match &e.kind {
                EventKind::RunStarted {
                    benchmark,
                    workers_expected,
                } => (
                    "run started",
                    String::new(),
                    format!("{benchmark} on {workers_expected} workers"),
                ),
                EventKind::WorkerJoined {
                    worker, ip, zone, ..
                } => (
                    "worker joined",
                    worker.clone(),
                    if zone.is_empty() {
                        ip.clone()
                    } else {
                        format!("{ip} zone {zone}")
                    },
                ),
                EventKind::RunPlanned { .. } => (
                    "run planned",
                    String::new(),
                    netbench_proto::plan_line(&e.kind).unwrap_or_default(),
                ),
                EventKind::PairStarted {
                    index,
                    total,
                    client,
                    server,
                    path,
                    ..
                } => (
                    "pair started",
                    pair_cell(client, server, *path),
                    format!("[{index}/{total}]"),
                ),
                EventKind::PairFinished {
                    index,
                    total,
                    client,
                    server,
                    status_name,
                    headline,
                    seconds,
                    path,
                    ..
                } => (
                    "pair finished",
                    pair_cell(client, server, *path),
                    match headline {
                        Some(m) => format!(
                            "[{index}/{total}] {} {} ({seconds:.1}s)",
                            m.name,
                            human(m.value, m.unit)
                        ),
                        None => {
                            format!(
                                "[{index}/{total}] {} ({seconds:.1}s)",
                                status_name.to_uppercase()
                            )
                        }
                    },
                ),
                EventKind::RunFinished {
                    pairs_total,
                    pairs_failed,
                } => (
                    "run finished",
                    String::new(),
                    format!("{pairs_total} pairs, {pairs_failed} failed"),
                ),
                EventKind::RunFailed { error } => ("run failed", String::new(), error.clone()),
            };
            row([&hms(e.time), e.run.as_str(), what, &pair, &detail])
        }
    }
}

/// What to watch and when to stop.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    pub nats: NatsArgs,
    /// Only this run (`netbench.<run>.>`); every run when `None`.
    pub run: Option<RunId>,
    /// Stop once the stream's content has been replayed.
    pub replay_only: bool,
    /// Stop after the run's `run_finished` / `run_failed` event.
    pub until_done: bool,
}

/// What [`watch`] hands its caller, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The table header, once, first.
    Header(String),
    /// One table line; `replayed` is true for what the stream held when watching began.
    Row { text: String, replayed: bool },
    /// A remark for people (stderr): the replay is done, a fallback, an undecodable message.
    Notice(String),
}

/// Counts of what was shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchStats {
    pub replayed: usize,
    pub live: usize,
    pub undecodable: usize,
    /// False when the stream could not be read and only live messages were followed.
    pub from_stream: bool,
}

/// Messages from either source, in one shape.
enum Source {
    Ordered(Box<consumer::pull::Ordered>),
    /// Results and events: two subjects, as observers may subscribe to exactly those.
    Plain(futures::stream::Select<async_nats::Subscriber, async_nats::Subscriber>),
}

struct Msg {
    subject: String,
    payload: bytes::Bytes,
    /// Messages the stream still holds for us after this one (`None`: plain subscription).
    pending: Option<u64>,
}

impl Source {
    async fn next(&mut self) -> Option<Result<Msg, String>> {
        match self {
            Source::Ordered(o) => o.next().await.map(|m| {
                m.map_err(|e| e.to_string()).map(|m| {
                    let pending = m.info().ok().map(|i| i.pending);
                    Msg {
                        subject: m.subject.to_string(),
                        payload: m.payload.clone(),
                        pending,
                    }
                })
            }),
            Source::Plain(s) => s.next().await.map(|m| {
                Ok(Msg {
                    subject: m.subject.to_string(),
                    payload: m.payload,
                    pending: None,
                })
            }),
        }
    }
}

/// The stream filter: one run's subjects, or every run's.
pub fn filter(run: Option<&RunId>) -> String {
    match run {
        Some(r) => format!("{}.{r}.>", subjects::ROOT),
        None => format!("{}.>", subjects::ROOT),
    }
}

/// The two live subjects (results, events) of one run or of every run: what observers may
/// subscribe to.
pub fn live_subjects(run: Option<&RunId>) -> [String; 2] {
    let r = run.map(RunId::as_str).unwrap_or("*");
    [
        format!("{}.{r}.result.>", subjects::ROOT),
        format!("{}.{r}.event", subjects::ROOT),
    ]
}

/// Open an ordered consumer on `NETBENCH` replaying everything under `filter`; returns it and
/// how many messages it will replay.
async fn ordered(
    client: &async_nats::Client,
    stream: &str,
    filter: &str,
) -> Result<(consumer::pull::Ordered, u64), String> {
    let js = jetstream::new(client.clone());
    let stream = js
        .get_stream_no_info(stream)
        .await
        .map_err(|e| e.to_string())?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter.to_string(),
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    // From the create reply: no CONSUMER.INFO right needed.
    let pending = consumer.cached_info().num_pending;
    let messages = consumer.messages().await.map_err(|e| e.to_string())?;
    Ok((messages, pending))
}

/// Watch until `stop` is cancelled (or the options say to stop), handing every line to `out`.
pub async fn watch(
    opts: &WatchOptions,
    mut out: impl FnMut(Output),
    stop: CancellationToken,
) -> Result<WatchStats, ReportError> {
    let stats_handle = netbench_bus::ConnectionStats::default();
    let client = netbench_bus::connect(&opts.nats, "netbench-watch", &stats_handle).await?;
    let filter = filter(opts.run.as_ref());
    let mut stats = WatchStats::default();
    // nats-server before 2.10 takes a filter only when it is a subset of the stream's subjects,
    // and `netbench.<run>.>` is not (`netbench.*.result.>`, `netbench.*.event`): there, replay
    // the whole stream and keep the run's messages here.
    let mut only: Option<String> = None;
    let first = match (
        ordered(&client, &opts.nats.store.stream, &filter).await,
        &opts.run,
    ) {
        (Err(e), Some(run)) => match ordered(&client, &opts.nats.store.stream, "").await {
            Ok(o) => {
                only = Some(format!("{}.{run}.", subjects::ROOT));
                Ok(o)
            }
            Err(_) => Err(e),
        },
        (first, _) => first,
    };
    let (mut source, mut replaying) = match first {
        Ok((o, pending)) => {
            stats.from_stream = true;
            (Source::Ordered(Box::new(o)), pending > 0)
        }
        Err(e) => {
            let [results, events] = live_subjects(opts.run.as_ref());
            let subscribe = |subject: String| {
                let client = client.clone();
                async move {
                    client.subscribe(subject.clone()).await.map_err(|e| {
                        ReportError::Follow(format!("cannot subscribe to {subject}: {e}"))
                    })
                }
            };
            let (r, v) = (
                subscribe(results.clone()).await?,
                subscribe(events.clone()).await?,
            );
            out(Output::Notice(format!(
                "cannot replay stream {} ({e}); following live messages on {results} and {events} only",
                opts.nats.store.stream
            )));
            if opts.replay_only {
                return Ok(stats);
            }
            (Source::Plain(futures::stream::select(r, v)), false)
        }
    };
    out(Output::Header(header()));
    if stats.from_stream && !replaying {
        out(Output::Notice(format!(
            "stream {} holds nothing on {filter} yet; following live",
            opts.nats.store.stream
        )));
        if opts.replay_only {
            return Ok(stats);
        }
    }
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => break,
            m = source.next() => m,
        };
        let msg = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                // The ordered consumer recreates itself after gaps and lost heartbeats.
                tracing::warn!("stream read: {e}; carrying on");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            None => {
                return Err(ReportError::Follow(
                    "the subscription ended (connection closed?)".into(),
                ))
            }
        };
        let theirs = only
            .as_ref()
            .is_some_and(|prefix| !msg.subject.starts_with(prefix.as_str()));
        match decode(&msg.subject, &msg.payload) {
            _ if theirs => {}
            Ok(item) => {
                out(Output::Row {
                    text: line(&item),
                    replayed: replaying,
                });
                if replaying {
                    stats.replayed += 1;
                } else {
                    stats.live += 1;
                }
                if opts.until_done && item.ends_run() {
                    break;
                }
            }
            Err(e) => {
                stats.undecodable += 1;
                out(Output::Notice(format!("skipped: {e}")));
            }
        }
        if replaying && msg.pending == Some(0) {
            replaying = false;
            out(Output::Notice(format!(
                "replayed {} message(s) from stream {}{}",
                stats.replayed,
                opts.nats.store.stream,
                if opts.replay_only {
                    ""
                } else {
                    "; following live"
                }
            )));
            if opts.replay_only {
                break;
            }
        }
    }
    let _ = client.drain().await;
    Ok(stats)
}
