//! `netbench watch` against a real nats-server: results and events published the way the
//! orchestrator publishes them (`netbench_bus::jetstream::Store`), replayed, then followed live.

mod common;

use common::*;
use netbench_bus::{jetstream::Store, NatsArgs};
use netbench_local::nats_server::{locate, NatsServer};
use netbench_proto::{subjects, Event, EventKind, ResultsFile, RunId};
use netbench_report::watch::{self, Output, WatchOptions};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn server() -> NatsServer {
    let bin = locate(None).expect("nats-server is installed (tests/setup-debian)");
    NatsServer::start(&bin).expect("nats-server starts")
}

fn nats(server: &NatsServer) -> NatsArgs {
    NatsArgs {
        connect_wait: Default::default(),
        url: server.url.clone(),
        ..Default::default()
    }
}

async fn store(args: &NatsArgs) -> Store {
    let client = netbench_bus::connect(args, "test-publisher", &Default::default())
        .await
        .unwrap();
    Store::open(client).await.unwrap()
}

fn run_of(file: &ResultsFile) -> RunId {
    file.run.as_ref().unwrap().run.clone()
}

/// Publish a run as the orchestrator does: run_started, then per pair its result and a
/// pair_finished event. No run_finished.
async fn publish_run(store: &Store, file: &ResultsFile) {
    let run = run_of(file);
    let bench = file.results[0].benchmark.clone();
    let started = Event::now(
        &run,
        EventKind::RunStarted {
            benchmark: bench.clone(),
            workers_expected: 3,
        },
    );
    store
        .publish(subjects::event(&run), None, &started)
        .await
        .unwrap();
    let total = file.results.len();
    for (i, r) in file.results.iter().enumerate() {
        store
            .publish(
                subjects::result(&run, &bench),
                Some(subjects::result_msg_id(&run, &r.pair)),
                r,
            )
            .await
            .unwrap();
        let done = Event::now(
            &run,
            EventKind::PairFinished {
                pair: r.pair.clone(),
                index: i + 1,
                total,
                client: r.task.client.worker.clone(),
                server: r.task.server.worker.clone(),
                path: Default::default(),
                status: r.task.status,
                status_name: r.status_name.clone(),
                headline: r.metrics.first().cloned(),
                seconds: 1.0,
                left_seconds: None,
            },
        );
        store
            .publish(subjects::event(&run), None, &done)
            .await
            .unwrap();
    }
}

/// Run `watch` in a task; its outputs arrive on the channel.
fn spawn_watch(
    opts: WatchOptions,
    stop: CancellationToken,
) -> (
    mpsc::UnboundedReceiver<Output>,
    tokio::task::JoinHandle<watch::WatchStats>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        watch::watch(
            &opts,
            move |o| {
                let _ = tx.send(o);
            },
            stop,
        )
        .await
        .expect("watch runs")
    });
    (rx, task)
}

/// Outputs until `until` matches one (included), or panic after 20 s.
async fn collect_until(
    rx: &mut mpsc::UnboundedReceiver<Output>,
    until: impl Fn(&Output) -> bool,
) -> Vec<Output> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(o)) => {
                let stop = until(&o);
                got.push(o);
                if stop {
                    return got;
                }
            }
            Ok(None) => return got,
            Err(_) => panic!("timed out; got so far: {got:#?}"),
        }
    }
}

fn rows(out: &[Output]) -> Vec<(String, bool)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Row { text, replayed } => Some((text.clone(), *replayed)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_every_pair_of_every_run_then_stops_with_no_follow() {
    let server = server();
    let args = nats(&server);
    let store = store(&args).await;
    let (a, b) = (iperf3(), netperf_rr());
    publish_run(&store, &a).await;
    publish_run(&store, &b).await;

    let opts = WatchOptions {
        nats: args.clone(),
        replay_only: true,
        ..Default::default()
    };
    let (mut rx, task) = spawn_watch(opts, CancellationToken::new());
    let stats = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("--no-follow ends after the replay")
        .unwrap();
    let mut out = Vec::new();
    while let Ok(o) = rx.try_recv() {
        out.push(o);
    }
    assert!(
        matches!(&out[0], Output::Header(h) if h.starts_with("time")),
        "{out:#?}"
    );
    let rows = rows(&out);
    // Per run: run_started + 6 results + 6 pair_finished.
    assert_eq!(rows.len(), 26, "{rows:#?}");
    assert_eq!(stats.replayed, 26);
    assert!(stats.from_stream);
    assert!(rows.iter().all(|(_, replayed)| *replayed));
    for file in [&a, &b] {
        let run = run_of(file);
        for r in &file.results {
            let want = format!(
                "{} -> {}",
                r.task.client.vm.hostname, r.task.server.vm.hostname
            );
            let line = rows
                .iter()
                .map(|(t, _)| t)
                .find(|t| t.contains(run.as_str()) && t.contains("result") && t.contains(&want))
                .unwrap_or_else(|| panic!("no result line for {run} {want}: {rows:#?}"));
            let headline = netbench_bench::find(&r.benchmark).unwrap().headline;
            assert!(line.contains(headline), "{line}");
        }
    }
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Notice(n) if n.contains("replayed 26 message(s)"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_replayed_then_followed_live_until_it_finishes() {
    let server = server();
    let args = nats(&server);
    let store = store(&args).await;
    let (a, b) = (iperf3(), netperf_rr());
    publish_run(&store, &a).await;
    let run = run_of(&a);
    let opts = WatchOptions {
        nats: args.clone(),
        run: Some(run.clone()),
        until_done: true,
        ..Default::default()
    };
    let stop = CancellationToken::new();
    let (mut rx, task) = spawn_watch(opts, stop.clone());
    let replay = collect_until(
        &mut rx,
        |o| matches!(o, Output::Notice(n) if n.contains("following live")),
    )
    .await;
    assert_eq!(rows(&replay).len(), 13, "{replay:#?}");

    // Live: another run's results (filtered out), then this run's end.
    publish_run(&store, &b).await;
    let finished = Event::now(
        &run,
        EventKind::RunFinished {
            pairs_total: 6,
            pairs_failed: 0,
        },
    );
    store
        .publish(subjects::event(&run), None, &finished)
        .await
        .unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("--until-done ends at run_finished")
        .unwrap();
    let mut live = Vec::new();
    while let Ok(o) = rx.try_recv() {
        live.push(o);
    }
    let live = rows(&live);
    assert_eq!(live.len(), 1, "only this run's end: {live:#?}");
    assert!(live[0].0.contains("run finished") && live[0].0.contains("6 pairs, 0 failed"));
    assert!(!live[0].1, "a live line is not marked replayed");
    assert_eq!((stats.replayed, stats.live), (13, 1));
    assert!(!stop.is_cancelled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_stream_it_says_so_and_follows_plain_subjects() {
    // A server where nobody created NETBENCH yet: nothing to replay, live messages still show.
    let server = server();
    let args = nats(&server);
    let stop = CancellationToken::new();
    let (mut rx, task) = spawn_watch(
        WatchOptions {
            nats: args.clone(),
            ..Default::default()
        },
        stop.clone(),
    );
    let first = collect_until(&mut rx, |o| matches!(o, Output::Header(_))).await;
    assert!(
        first
            .iter()
            .any(|o| matches!(o, Output::Notice(n) if n.contains("cannot replay stream NETBENCH"))),
        "{first:#?}"
    );
    let client = netbench_bus::connect(&args, "test-plain", &Default::default())
        .await
        .unwrap();
    let file = iperf3();
    let run = run_of(&file);
    let r = &file.results[2];
    // Core NATS publishes (no stream): the subscription must be in place; retry until seen.
    let mut seen = None;
    for _ in 0..50 {
        netbench_bus::publish_json(&client, subjects::result(&run, &r.benchmark), r)
            .await
            .unwrap();
        client.flush().await.unwrap();
        if let Ok(Some(o)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            seen = Some(o);
            break;
        }
    }
    match seen {
        Some(Output::Row { text, replayed }) => {
            assert!(text.contains("node-2 -> node-1"), "{text}");
            assert!(!replayed);
        }
        other => panic!("expected a live row, got {other:?}"),
    }
    stop.cancel();
    let stats = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("watch stops when cancelled")
        .unwrap();
    assert!(!stats.from_stream);
    assert!(stats.live >= 1);
}

/// `--run` replays from the stream on every nats-server the project runs on. Debian's 2.9.10
/// refuses the filter `netbench.<run>.>` (not a subset of the stream's subjects): before, watch
/// fell back to live messages only and, with --no-follow, never ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_is_replayed_from_the_stream_on_old_and_new_servers() {
    let mut bins = vec![locate(None).expect("nats-server is installed")];
    let debian = std::path::PathBuf::from("/usr/sbin/nats-server");
    if debian.is_file() && !bins.contains(&debian) {
        bins.push(debian);
    }
    for bin in bins {
        let server = NatsServer::start(&bin).expect("nats-server starts");
        let args = nats(&server);
        let store = store(&args).await;
        let (a, b) = (iperf3(), netperf_rr());
        publish_run(&store, &a).await;
        publish_run(&store, &b).await;
        let opts = WatchOptions {
            nats: args.clone(),
            run: Some(run_of(&b)),
            replay_only: true,
            ..Default::default()
        };
        let (mut rx, task) = spawn_watch(opts, CancellationToken::new());
        let stats = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap_or_else(|_| panic!("{}: --no-follow ends after the replay", bin.display()))
            .unwrap();
        let mut out = Vec::new();
        while let Ok(o) = rx.try_recv() {
            out.push(o);
        }
        let rows = rows(&out);
        assert!(stats.from_stream, "{}: {out:#?}", bin.display());
        assert_eq!(
            rows.len(),
            13,
            "{}: only run b's 13 messages: {rows:#?}",
            bin.display()
        );
        assert!(rows
            .iter()
            .all(|(t, replayed)| *replayed && !t.contains(run_of(&a).as_str())));
    }
}
