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

/// Waits until the server holds every subscription `client` has made. `flush` only writes them
/// to the socket; a server reads a connection's operations in order, so the answer to a request
/// sent after them (JetStream account info: the orchestrator and the observer may ask) proves the
/// server took them. Without it another connection's publish can overtake the subscription.
async fn subscriptions_in_place(client: &async_nats::Client) {
    jetstream::new(client.clone())
        .query_account()
        .await
        .expect("the server answers JetStream account info");
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
    subscriptions_in_place(&orch).await;
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

/// A login that also hands every server error (`-ERR 'Permissions Violation …'`) to a channel.
async fn login_watching_errors(
    url: &str,
    l: &Login,
) -> (
    async_nats::Client,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client =
        async_nats::ConnectOptions::with_user_and_password(l.user.clone(), l.password.clone())
            .custom_inbox_prefix(format!("_INBOX_{}", l.user))
            .event_callback(move |e| {
                let tx = tx.clone();
                async move {
                    if let async_nats::Event::ServerError(err) = e {
                        let _ = tx.send(err.to_string());
                    }
                }
            })
            .connect(url)
            .await
            .unwrap();
    (client, rx)
}

/// Wait (at most 5 s) for a server error that contains `what`.
async fn server_said(
    errors: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    what: &str,
) -> bool {
    let limit = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(e)) = tokio::time::timeout_at(limit, errors.recv()).await {
        eprintln!("observer: server error: {e}");
        if e.contains(what) {
            return true;
        }
    }
    false
}

async fn consumer_exists(js: &jetstream::Context, stream: &str, name: &str) -> bool {
    js.get_stream(stream)
        .await
        .unwrap()
        .consumer_info(name)
        .await
        .is_ok()
}

/// The observer reads only: through its own consumers and on its own inbox. It cannot read the
/// default `_INBOX.` replies of other clients, use the durable consumer API, delete anyone's
/// consumer (nor its own), nor delete the stream or the bucket; reading still works, with its own
/// inbox prefix.
#[tokio::test]
async fn observer_reads_on_its_own_inbox_and_deletes_nothing() {
    let s = setup();
    let url = &s.server.url;
    let orch = login(url, &s.creds.orchestrator).await;
    let worker_a = login(url, s.creds.worker(&s.a).unwrap()).await;
    let (observer, mut errors) = login_watching_errors(url, &s.creds.observer).await;

    let store = netbench_bus::jetstream::Store::open(orch.clone())
        .await
        .unwrap();
    let result_subject = subjects::result(&s.run, "iperf3-tcp");
    store
        .publish(
            result_subject.clone(),
            Some("authrun1.p1".into()),
            &serde_json::json!({"ok": 1}),
        )
        .await
        .unwrap();
    let js_orch = jetstream::new(orch.clone());
    // Another client's durable consumer (a dashboard with more rights than the observer).
    js_orch
        .get_stream("NETBENCH")
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("dashboard".into()),
            ..Default::default()
        })
        .await
        .unwrap();

    // Default inboxes are not the observer's: the subscription is refused by the server, and a
    // reply sent to an `_INBOX.` subject (here: the orchestrator answering a request that named
    // one) does not reach it.
    let mut spy = observer.subscribe("_INBOX.>").await.unwrap();
    observer.flush().await.unwrap();
    assert!(
        server_said(&mut errors, "Subscription to \"_INBOX.>\"").await,
        "the server did not refuse the observer's subscription to _INBOX.>"
    );
    let mut spy_orch = observer.subscribe("_INBOX_orchestrator.>").await.unwrap();
    let mut spy_worker = observer
        .subscribe(format!("_INBOX_worker-{}.>", s.a))
        .await
        .unwrap();
    observer.flush().await.unwrap();
    assert!(server_said(&mut errors, "Subscription to \"_INBOX_orchestrator.>\"").await);
    assert!(
        server_said(
            &mut errors,
            &format!("Subscription to \"_INBOX_worker-{}.>\"", s.a)
        )
        .await
    );
    let mut reg = orch
        .subscribe(subjects::register(&s.run, &s.a))
        .await
        .unwrap();
    subscriptions_in_place(&orch).await;
    worker_a
        .publish_with_reply(
            subjects::register(&s.run, &s.a),
            "_INBOX.someone.1",
            "hello".into(),
        )
        .await
        .unwrap();
    worker_a.flush().await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), reg.next())
        .await
        .expect("the orchestrator gets the request")
        .unwrap();
    orch.publish(msg.reply.unwrap(), "private answer".into())
        .await
        .unwrap();
    orch.flush().await.unwrap();
    assert!(
        receives_nothing(&mut spy).await,
        "the observer read a reply on _INBOX."
    );
    // A real request-reply (worker A's, on its own inbox) is not the observer's to read either.
    let answer = tokio::spawn({
        let orch = orch.clone();
        async move {
            while let Some(msg) = reg.next().await {
                if let Some(to) = msg.reply {
                    orch.publish(to, "welcome".into()).await.unwrap();
                }
            }
        }
    });
    let reply = worker_a
        .request(subjects::register(&s.run, &s.a), "hello".into())
        .await
        .expect("worker A gets its reply");
    assert_eq!(reply.payload, "welcome");
    answer.abort();
    assert!(
        receives_nothing(&mut spy_worker).await,
        "the observer read worker A's reply"
    );
    assert!(
        receives_nothing(&mut spy_orch).await,
        "the observer read the orchestrator's replies"
    );

    // Reading works, with replies on _INBOX_observer: stream info, a reading (ephemeral,
    // ordered) consumer, the bucket.
    let mut js_obs = jetstream::new(observer.clone());
    js_obs.set_timeout(Duration::from_secs(2));
    let stream = js_obs
        .get_stream("NETBENCH")
        .await
        .expect("observer reads stream info");
    let mut ordered = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: "netbench.*.result.>".into(),
            ..Default::default()
        })
        .await
        .expect("observer creates an ordered consumer")
        .messages()
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), ordered.next())
        .await
        .expect("observer reads the stored result")
        .unwrap()
        .unwrap();
    assert_eq!(first.subject.as_str(), result_subject);
    js_orch
        .get_key_value("NETBENCH_RUNS")
        .await
        .unwrap()
        .put(s.run.as_str(), "{}".into())
        .await
        .unwrap();
    let kv = js_obs.get_key_value("NETBENCH_RUNS").await.unwrap();
    assert!(kv.get(s.run.as_str()).await.unwrap().is_some());

    // No durable consumer API...
    let refused = observer
        .send_request(
            "$JS.API.CONSUMER.DURABLE.CREATE.NETBENCH.spy",
            async_nats::Request::new()
                .payload(
                    r#"{"stream_name":"NETBENCH","config":{"durable_name":"spy","ack_policy":"none"}}"#
                        .into(),
                )
                .timeout(Some(Duration::from_secs(2))),
        )
        .await;
    assert!(refused.is_err(), "DURABLE.CREATE answered: {refused:?}");
    assert!(
        server_said(
            &mut errors,
            "Publish to \"$JS.API.CONSUMER.DURABLE.CREATE.NETBENCH.spy\""
        )
        .await
    );
    assert!(
        !consumer_exists(&js_orch, "NETBENCH", "spy").await,
        "the observer made a durable"
    );
    // ... and the unnamed create form, which it needs, takes no durable name (nats-server says so).
    let answer = observer
        .request(
            "$JS.API.CONSUMER.CREATE.NETBENCH",
            r#"{"stream_name":"NETBENCH","config":{"durable_name":"spy","ack_policy":"none"}}"#
                .into(),
        )
        .await
        .expect("nats-server answers the unnamed create form");
    let answer: serde_json::Value = serde_json::from_slice(&answer.payload).unwrap();
    assert_eq!(answer["error"]["err_code"], 10020, "{answer}");
    assert!(!consumer_exists(&js_orch, "NETBENCH", "spy").await);

    // No deletes: not another client's consumer, not the stream, not the bucket.
    assert!(
        js_obs
            .delete_consumer_from_stream("dashboard", "NETBENCH")
            .await
            .is_err(),
        "the observer deleted the dashboard's consumer"
    );
    assert!(
        server_said(
            &mut errors,
            "Publish to \"$JS.API.CONSUMER.DELETE.NETBENCH.dashboard\""
        )
        .await
    );
    assert!(
        consumer_exists(&js_orch, "NETBENCH", "dashboard").await,
        "the dashboard's consumer is gone"
    );
    assert!(js_obs.delete_stream("NETBENCH").await.is_err());
    assert!(js_obs.delete_key_value("NETBENCH_RUNS").await.is_err());
    assert!(js_orch.get_stream("NETBENCH").await.is_ok());
    assert!(js_orch.get_key_value("NETBENCH_RUNS").await.is_ok());

    // What subject permissions cannot close (README, Security): the named create form
    // (CONSUMER.CREATE.<stream>.<name>, which `nats stream view` and `nats sub --stream` use)
    // carries the durable name in its payload only, so it can still make a durable. If this
    // starts failing, nats-server has learnt to tell them apart: tighten the template and the
    // README.
    let named = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("observers-own".into()),
            ..Default::default()
        })
        .await;
    assert!(named.is_ok(), "{:?}", named.err());
    // Even so the observer cannot delete it (the orchestrator can).
    assert!(js_obs
        .delete_consumer_from_stream("observers-own", "NETBENCH")
        .await
        .is_err());
    assert!(consumer_exists(&js_orch, "NETBENCH", "observers-own").await);
}
