//! NATS authentication and authorization per role, against a real nats-server configured from
//! `nats/auth.conf.template`: each role connects and tries what it may and may not do.

mod support;

use async_nats::jetstream;
use futures::StreamExt;
use netbench_bus::auth::{Login, RunCredentials};
use netbench_local::nats_server::{self, NatsServer};
use netbench_proto::{subjects, RunId, WorkerId};
use std::time::Duration;

struct Setup {
    server: NatsServer,
    run: RunId,
    creds: RunCredentials,
    a: WorkerId,
    b: WorkerId,
}

fn setup() -> Setup {
    let run: RunId = "authrun1".parse().unwrap();
    let (a, b) = (WorkerId::for_name("node-a"), WorkerId::for_name("node-b"));
    let creds = RunCredentials::generate(&run, &[a.clone(), b.clone()]);
    let server =
        NatsServer::start_with_auth(&nats_server::locate(None).unwrap(), &creds.render()).unwrap();
    Setup {
        server,
        run,
        creds,
        a,
        b,
    }
}

async fn login(url: &str, l: &Login) -> async_nats::Client {
    async_nats::ConnectOptions::with_user_and_password(l.user.clone(), l.password.clone())
        .custom_inbox_prefix(format!("_INBOX_{}", l.user))
        .event_callback({
            let user = l.user.clone();
            move |e| {
                let user = user.clone();
                async move { eprintln!("{user}: {e}") }
            }
        })
        .connect(url)
        .await
        .unwrap()
}

/// Publish `payload` as `from` until `sub` gets it (at most 10 s): for checks that something IS
/// allowed, immune to delivery timing on a loaded machine.
async fn delivered(
    from: &async_nats::Client,
    subject: String,
    sub: &mut async_nats::Subscriber,
) -> bool {
    for _ in 0..50 {
        from.publish(subject.clone(), "probe".into()).await.unwrap();
        from.flush().await.unwrap();
        if tokio::time::timeout(Duration::from_millis(200), sub.next())
            .await
            .is_ok()
        {
            return true;
        }
    }
    false
}

async fn receives_nothing(sub: &mut async_nats::Subscriber) -> bool {
    tokio::time::timeout(Duration::from_secs(1), sub.next())
        .await
        .is_err()
}

async fn stream_count(js: &jetstream::Context) -> u64 {
    js.get_stream("NETBENCH")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages
}

#[tokio::test]
async fn anonymous_and_wrong_passwords_are_refused() {
    let s = setup();
    assert!(
        async_nats::connect(&s.server.url).await.is_err(),
        "anonymous connected"
    );
    let wrong = Login {
        user: "observer".into(),
        password: "guess".into(),
    };
    assert!(
        async_nats::ConnectOptions::with_user_and_password(wrong.user, wrong.password)
            .connect(&s.server.url)
            .await
            .is_err()
    );
    // A worker's login is not another worker's.
    let mut stolen = s.creds.worker(&s.a).unwrap().clone();
    stolen.user = format!("worker-{}", s.b);
    assert!(
        async_nats::ConnectOptions::with_user_and_password(stolen.user, stolen.password)
            .connect(&s.server.url)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn each_role_may_do_exactly_its_part() {
    let s = setup();
    let url = &s.server.url;
    let orch = login(url, &s.creds.orchestrator).await;
    let observer = login(url, &s.creds.observer).await;
    let worker_a = login(url, s.creds.worker(&s.a).unwrap()).await;
    let worker_b = login(url, s.creds.worker(&s.b).unwrap()).await;

    // Orchestrator: creates the stream and bucket, publishes results (acked), stores state.
    let store = netbench_bus::jetstream::Store::open(orch.clone())
        .await
        .expect("orchestrator may use JetStream");
    let result_subject = subjects::result(&s.run, "iperf3-tcp");
    store
        .publish(
            result_subject.clone(),
            Some("authrun1.p1".into()),
            &serde_json::json!({"ok": 1}),
        )
        .await
        .expect("orchestrator may publish results");
    let js_orch = jetstream::new(orch.clone());
    assert_eq!(stream_count(&js_orch).await, 1);

    // Observer: sees live results and events, reads the stream and the bucket...
    let mut live = observer.subscribe("netbench.*.result.>").await.unwrap();
    let mut live_events = observer.subscribe("netbench.*.event").await.unwrap();
    observer.flush().await.unwrap();
    assert!(
        delivered(&orch, result_subject.clone(), &mut live).await,
        "observer sees results live"
    );
    assert!(
        delivered(&orch, subjects::event(&s.run), &mut live_events).await,
        "observer sees events live"
    );
    let js_obs = jetstream::new(observer.clone());
    let consumer = js_obs
        .get_stream("NETBENCH")
        .await
        .expect("observer may read stream info")
        .create_consumer(jetstream::consumer::pull::Config::default())
        .await
        .expect("observer may create a reading consumer");
    let mut batch = consumer.fetch().max_messages(10).messages().await.unwrap();
    assert!(
        batch.next().await.is_some(),
        "observer reads stored results"
    );
    js_orch
        .get_key_value("NETBENCH_RUNS")
        .await
        .unwrap()
        .put(s.run.as_str(), "{}".into())
        .await
        .unwrap();
    let kv_obs = js_obs
        .get_key_value("NETBENCH_RUNS")
        .await
        .expect("observer may open the bucket");
    assert!(kv_obs
        .get(s.run.as_str())
        .await
        .expect("observer may read run state")
        .is_some());
    let before = stream_count(&js_orch).await;
    // ... but writes nothing: no result, no task, no state, no stream change.
    observer
        .publish(result_subject.clone(), "forged".into())
        .await
        .unwrap();
    observer.flush().await.unwrap();
    assert!(
        kv_obs.put(s.run.as_str(), "forged".into()).await.is_err(),
        "observer wrote run state"
    );
    assert!(
        js_obs.delete_stream("NETBENCH").await.is_err(),
        "observer deleted the stream"
    );
    let mut a_tasks = worker_a
        .subscribe(subjects::task(&s.run, &s.a))
        .await
        .unwrap();
    worker_a.flush().await.unwrap();
    observer
        .publish(subjects::task(&s.run, &s.a), "run this".into())
        .await
        .unwrap();
    observer.flush().await.unwrap();
    assert!(receives_nothing(&mut a_tasks).await, "observer sent a task");

    // Worker A: gets its own tasks...
    assert!(
        delivered(&orch, subjects::task(&s.run, &s.a), &mut a_tasks).await,
        "worker receives its own tasks"
    );
    // ... registers (request-reply with the orchestrator works both ways) ...
    let mut reg = orch
        .subscribe(subjects::registrations(&s.run))
        .await
        .unwrap();
    orch.flush().await.unwrap();
    // (Retried like the worker does, so delivery timing on a loaded machine cannot fail it.)
    let request = tokio::spawn({
        let w = worker_a.clone();
        let subject = subjects::register(&s.run, &s.a);
        async move {
            for _ in 0..20 {
                let req = async_nats::Request::new()
                    .payload("hello".into())
                    .timeout(Some(Duration::from_millis(500)));
                if let Ok(reply) = w.send_request(subject.clone(), req).await {
                    return Some(reply);
                }
            }
            None
        }
    });
    let answer = tokio::spawn({
        let orch = orch.clone();
        async move {
            while let Some(msg) = reg.next().await {
                orch.publish(msg.reply.unwrap(), "welcome".into())
                    .await
                    .unwrap();
            }
        }
    });
    let reply = request
        .await
        .unwrap()
        .expect("worker registers and gets the reply");
    assert_eq!(reply.payload, "welcome");
    answer.abort();
    // ... but only as itself: worker B's registration subject is not worker A's to publish on.
    let mut b_reg = orch
        .subscribe(subjects::register(&s.run, &s.b))
        .await
        .unwrap();
    orch.flush().await.unwrap();
    worker_a
        .publish(subjects::register(&s.run, &s.b), "i am b".into())
        .await
        .unwrap();
    worker_a.flush().await.unwrap();
    assert!(
        receives_nothing(&mut b_reg).await,
        "worker A registered as worker B"
    );
    // ... and nothing else: not another worker's tasks, no tasks to others, no results.
    let mut b_spy = worker_a
        .subscribe(subjects::task(&s.run, &s.b))
        .await
        .unwrap();
    let mut b_tasks = worker_b
        .subscribe(subjects::task(&s.run, &s.b))
        .await
        .unwrap();
    worker_a.flush().await.unwrap();
    worker_b.flush().await.unwrap();
    assert!(delivered(&orch, subjects::task(&s.run, &s.b), &mut b_tasks).await);
    assert!(
        receives_nothing(&mut b_spy).await,
        "worker A read worker B's task"
    );
    worker_a
        .publish(subjects::task(&s.run, &s.b), "from a".into())
        .await
        .unwrap();
    worker_a
        .publish(result_subject.clone(), "forged".into())
        .await
        .unwrap();
    worker_a.flush().await.unwrap();
    assert!(
        receives_nothing(&mut b_tasks).await,
        "worker A sent worker B a task"
    );
    // Nothing forged reached the stream (the orchestrator's own "live" publish did).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        stream_count(&js_orch).await,
        before,
        "a forged result was stored"
    );
}

/// `--tls`: the server presents a certificate from the run's own CA; a client that trusts that CA
/// connects, one that does not is refused, and a whole `netbench local --tls` run works.
#[tokio::test]
async fn tls_with_a_per_run_ca() {
    use netbench_bus::tls::RunTls;
    let dir = tempfile::tempdir().unwrap();
    let tls = RunTls::generate(&["127.0.0.1".parse().unwrap()], &["localhost"]).unwrap();
    let ca = tls.write(dir.path()).unwrap();
    let block = RunTls::server_block(dir.path());
    let server = NatsServer::start_in(
        &nats_server::locate(None).unwrap(),
        dir,
        "127.0.0.1:-1",
        &block,
    )
    .unwrap();
    assert!(
        async_nats::connect(&server.url).await.is_err(),
        "a client without the run's CA connected"
    );
    let other = tempfile::tempdir().unwrap();
    let other_ca = RunTls::generate(&["127.0.0.1".parse().unwrap()], &[])
        .unwrap()
        .write(other.path())
        .unwrap();
    for (ca, ok) in [(other_ca, false), (ca, true)] {
        let args = netbench_bus::NatsArgs {
            connect_wait: Default::default(),
            url: server.url.clone(),
            tls_ca: Some(ca),
            ..Default::default()
        };
        let got = netbench_bus::connect(&args, "tls test", &Default::default()).await;
        assert_eq!(got.is_ok(), ok, "{:?}", got.err());
    }

    let results = tempfile::tempdir().unwrap();
    let out = support::run(
        support::netbench()
            .args(["local", "--tls", "--nodes", "2", "--duration", "1"])
            .args(["--subnet", "198.18.23.0/24", "--results"])
            .arg(results.path().join("r.json")),
    );
    assert_eq!(out.status.code(), Some(0));
}
