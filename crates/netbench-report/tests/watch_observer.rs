//! `netbench watch` with the read-only observer login of `nats/auth.conf.template`: the ordered
//! consumer replay works with those rights, and those rights really are read-only.

mod common;

use common::*;
use netbench_bus::auth::RunCredentials;
use netbench_bus::{jetstream::Store, NatsArgs};
use netbench_local::nats_server::{locate, NatsServer};
use netbench_proto::{subjects, Event, EventKind};
use netbench_report::watch::{self, Output, WatchOptions};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_credentials_replay_the_stream_and_cannot_change_it() {
    let file = iperf3();
    let run = file.run.as_ref().unwrap().run.clone();
    let creds = RunCredentials::generate(&run, &[]);
    let bin = locate(None).expect("nats-server is installed");
    let server = NatsServer::start_with_auth(&bin, &creds.render()).expect("nats-server starts");
    let base = NatsArgs {
        connect_wait: Default::default(),
        url: server.url.clone(),
        ..Default::default()
    };

    // The orchestrator's login creates the stream and publishes the run.
    let writer = netbench_bus::connect(
        &base.with_login(&creds.orchestrator),
        "test-orchestrator",
        &Default::default(),
    )
    .await
    .unwrap();
    let store = Store::open(writer).await.unwrap();
    let bench = &file.results[0].benchmark;
    for r in &file.results {
        store
            .publish(
                subjects::result(&run, bench),
                Some(subjects::result_msg_id(&run, &r.pair)),
                r,
            )
            .await
            .unwrap();
    }
    let done = Event::now(
        &run,
        EventKind::RunFinished {
            pairs_total: 6,
            pairs_failed: 0,
        },
    );
    store
        .publish(subjects::event(&run), None, &done)
        .await
        .unwrap();

    let observer = base.with_login(&creds.observer);
    for only_this_run in [true, false] {
        let mut rows = Vec::new();
        let mut notices = Vec::new();
        let opts = WatchOptions {
            nats: observer.clone(),
            run: only_this_run.then(|| run.clone()),
            replay_only: true,
            ..Default::default()
        };
        let stats = tokio::time::timeout(
            Duration::from_secs(30),
            watch::watch(
                &opts,
                |o| match o {
                    Output::Row { text, .. } => rows.push(text),
                    Output::Notice(n) => notices.push(n),
                    Output::Header(_) => {}
                },
                CancellationToken::new(),
            ),
        )
        .await
        .expect("replay ends")
        .expect("observer may watch");
        assert!(
            stats.from_stream,
            "observer fell back to live only: {notices:?}"
        );
        assert_eq!(stats.replayed, 7, "{rows:#?}");
        for r in &file.results {
            let pair = format!(
                "{} -> {}",
                r.task.client.vm.hostname, r.task.server.vm.hostname
            );
            assert!(
                rows.iter().any(|l| l.contains(&pair)),
                "{pair} missing: {rows:#?}"
            );
        }
        assert!(rows.last().unwrap().contains("run finished"));
    }

    // The observer login cannot delete or create streams.
    let client = netbench_bus::connect(&observer, "test-observer", &Default::default())
        .await
        .unwrap();
    for subject in [
        "$JS.API.STREAM.DELETE.NETBENCH",
        "$JS.API.STREAM.CREATE.EVIL",
    ] {
        let req = async_nats::Request::new()
            .payload("{}".into())
            .timeout(Some(Duration::from_secs(2)));
        let got = client.send_request(subject, req).await;
        assert!(got.is_err(), "observer could call {subject}: {got:?}");
    }
    let js = async_nats::jetstream::new(
        netbench_bus::connect(
            &base.with_login(&creds.orchestrator),
            "test-check",
            &Default::default(),
        )
        .await
        .unwrap(),
    );
    let mut stream = js
        .get_stream(subjects::STREAM)
        .await
        .expect("stream still there");
    assert_eq!(stream.info().await.unwrap().state.messages, 7);
}
