//! The pusher against a real `prometheus-pushgateway` (started by the testkit on a free
//! 127.0.0.1 port, killed on drop): what a Prometheus scrape of the gateway then sees, basic auth,
//! HTTPS with a private CA, and a gateway that is not there.

use netbench_metrics::testkit::{
    assert_pair_on_gateway, fixture_pair, free_port, GatewayOptions, PushGateway,
};
use netbench_metrics::{
    serve_metrics, HarnessMetrics, MetricsError, PushConfig, Pusher, LABELS, PAIR_STATUS,
};
use netbench_proto::{PairResult, RunId, Status};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn run(id: &str) -> RunId {
    id.parse().unwrap()
}

/// A pair from a real tool output, moved to run `run_id`.
fn pair(bench: &str, case: &str, client: &str, server: &str, run_id: &str) -> PairResult {
    let mut r = fixture_pair(bench, case, client, server);
    r.run = run(run_id);
    r
}

fn plain(url: &str) -> PushConfig {
    PushConfig {
        url: url.to_string(),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_pair_is_on_the_gateway_after_its_push_with_its_labels_and_values() {
    let gw = PushGateway::start().await;
    let pusher = Pusher::new(plain(gw.url()), &run("r-one")).unwrap();
    assert_eq!(
        pusher.url(),
        format!("{}/metrics/job/netbench/run/r-one", gw.url())
    );
    let pairs = [
        pair("iperf3-tcp", "ok", "node-a", "node-b", "r-one"),
        pair("iperf3-tcp", "refused", "node-a", "node-c", "r-one"),
        pair("iperf3-tcp", "ok", "node-b", "node-a", "r-one"),
    ];
    assert_eq!(pairs[1].task.status, Status::ToolFailed);

    // The first pair is visible as soon as it is pushed, before the run ends.
    pusher.push_pair(&pairs[0]).await.unwrap();
    let early = gw.scrape().await;
    assert_pair_on_gateway(&early, &pairs[0]);
    assert!(early.named(PAIR_STATUS).count() == 1);

    for p in &pairs[1..] {
        pusher.push_pair(p).await.unwrap();
    }
    let scrape = gw.scrape().await;
    for p in &pairs {
        assert_pair_on_gateway(&scrape, p);
    }
    assert_eq!(scrape.named(PAIR_STATUS).count(), 3);
    assert_eq!(
        scrape
            .named("netbench_throughput_received_bytes_per_second")
            .count(),
        2
    );

    // A second run is a second group; the first stays as it was.
    let other = Pusher::new(plain(gw.url()), &run("r-two")).unwrap();
    let rr = pair("netperf-tcp-rr", "ok", "node-a", "node-b", "r-two");
    other.push_pair(&rr).await.unwrap();
    let scrape = gw.scrape().await;
    assert_pair_on_gateway(&scrape, &rr);
    for p in &pairs {
        assert_pair_on_gateway(&scrape, p);
    }
    assert!(scrape.named("netbench_transaction_rate_per_second").count() == 1);
}

/// The paths of one pair (`--paths pod,host,service,same-node`) are series of their own on the
/// gateway: pod and service run on the same workers and differ only in `path`.
#[tokio::test]
async fn the_paths_of_a_pair_are_series_of_their_own_on_the_gateway() {
    use netbench_proto::Path;
    let gw = PushGateway::start().await;
    let pusher = Pusher::new(plain(gw.url()), &run("r-paths")).unwrap();
    let on = |path: Path, client: &str, server: &str, case: &str| {
        let mut r = pair("iperf3-tcp", case, client, server, "r-paths");
        r.path = path;
        r
    };
    let mut service = on(Path::Service, "node-a", "node-b", "ok");
    for m in &mut service.metrics {
        m.value /= 2.0;
    }
    let pairs = [
        on(Path::Pod, "node-a", "node-b", "ok"),
        on(Path::Host, "node-a-host", "node-b-host", "ok"),
        service,
        on(Path::SameNode, "node-a-b", "node-a", "refused"),
    ];
    for p in &pairs {
        pusher.push_pair(p).await.unwrap();
    }
    let scrape = gw.scrape().await;
    for p in &pairs {
        assert_pair_on_gateway(&scrape, p);
    }
    assert_eq!(scrape.named(PAIR_STATUS).count(), 4);
    let paths: Vec<&str> = scrape
        .named("netbench_throughput_received_bytes_per_second")
        .map(|s| s.labels["path"].as_str())
        .collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    for p in ["pod", "host", "service"] {
        assert!(paths.contains(&p), "{paths:?}");
    }
}

#[tokio::test]
async fn a_push_that_failed_is_made_good_by_the_next_one() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let pusher = Pusher::new(plain(&url), &run("r-late")).unwrap();
    let first = pair("iperf3-tcp", "ok", "node-a", "node-b", "r-late");
    let started = Instant::now();
    let err = pusher.push_pair(&first).await.unwrap_err();
    // It gave up instead of hanging for the whole request timeout.
    assert!(started.elapsed() < netbench_metrics::push::REQUEST_TIMEOUT);
    eprintln!("unreachable gateway: {err}");
    assert!(matches!(err, MetricsError::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&url), "{text}");
    assert!(text.to_lowercase().contains("connect"), "{text}");

    let gw = PushGateway::start_with(GatewayOptions {
        port: Some(port),
        ..Default::default()
    })
    .await;
    let second = pair("iperf3-tcp", "ok", "node-b", "node-a", "r-late");
    pusher.push_pair(&second).await.unwrap();
    let scrape = gw.scrape().await;
    assert_pair_on_gateway(&scrape, &first);
    assert_pair_on_gateway(&scrape, &second);
}

#[tokio::test]
async fn basic_auth_with_the_right_password_pushes_and_a_wrong_one_says_so() {
    let gw = PushGateway::start_with(GatewayOptions {
        basic_auth: Some(("netbench".into(), "s3cret pass".into())),
        ..Default::default()
    })
    .await;
    let r = pair("iperf3-tcp", "ok", "node-a", "node-b", "r-auth");
    let with = |user: Option<&str>, password: Option<&str>| {
        Pusher::new(
            PushConfig {
                url: gw.url().to_string(),
                user: user.map(str::to_string),
                password: password.map(str::to_string),
                ca_file: None,
            },
            &run("r-auth"),
        )
        .unwrap()
    };
    for (user, password) in [
        (Some("netbench"), Some("wrong")),
        (None, None),
        (Some("x"), Some("s3cret pass")),
    ] {
        let err = with(user, password).push_pair(&r).await.unwrap_err();
        eprintln!("wrong credentials: {err}");
        match &err {
            MetricsError::Rejected { status, .. } => assert_eq!(*status, 401),
            other => panic!("want a 401 rejection, got {other}"),
        }
        assert!(
            err.to_string()
                .contains("check the PushGateway user and password"),
            "{err}"
        );
    }
    assert!(
        gw.scrape().await.named(PAIR_STATUS).next().is_none(),
        "nothing got through"
    );

    with(Some("netbench"), Some("s3cret pass"))
        .push_pair(&r)
        .await
        .unwrap();
    assert_pair_on_gateway(&gw.scrape().await, &r);

    // Credentials in the URL work too.
    let in_url = gw
        .url()
        .replace("http://", "http://netbench:s3cret%20pass@");
    let r2 = pair("iperf3-tcp", "ok", "node-b", "node-a", "r-auth2");
    Pusher::new(plain(&in_url), &run("r-auth2"))
        .unwrap()
        .push_pair(&r2)
        .await
        .unwrap();
    assert_pair_on_gateway(&gw.scrape().await, &r2);
}

#[tokio::test]
async fn https_with_a_private_ca_file_works_and_without_it_the_certificate_is_refused() {
    let gw = PushGateway::start_with(GatewayOptions {
        basic_auth: Some(("netbench".into(), "tls-pass".into())),
        tls: true,
        ..Default::default()
    })
    .await;
    assert!(gw.url().starts_with("https://"));
    let cfg = |ca: bool| PushConfig {
        url: gw.url().to_string(),
        user: Some("netbench".into()),
        password: Some("tls-pass".into()),
        ca_file: ca.then(|| gw.ca_file().unwrap().to_path_buf()),
    };
    let r = pair("iperf3-tcp", "ok", "node-a", "node-b", "r-tls");

    let err = Pusher::new(cfg(false), &run("r-tls"))
        .unwrap()
        .push_pair(&r)
        .await
        .unwrap_err();
    assert!(matches!(err, MetricsError::Unreachable { .. }), "{err}");
    eprintln!("untrusted certificate: {err}");
    assert!(err.to_string().contains("certificate"), "{err}");

    Pusher::new(cfg(true), &run("r-tls"))
        .unwrap()
        .push_pair(&r)
        .await
        .unwrap();
    assert_pair_on_gateway(&gw.scrape().await, &r);

    // Plain HTTP to the HTTPS port is refused by the gateway, with its words.
    let mut http = cfg(false);
    http.url = gw.url().replace("https://", "http://");
    let err = Pusher::new(http, &run("r-tls"))
        .unwrap()
        .push_pair(&r)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MetricsError::Rejected { status: 400, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn the_gateway_process_is_gone_after_drop() {
    let gw = PushGateway::start().await;
    let proc_dir = format!("/proc/{}", gw.pid());
    assert!(std::path::Path::new(&proc_dir).exists());
    drop(gw);
    // Killed and reaped: not even a zombie is left.
    assert!(!std::path::Path::new(&proc_dir).exists());
}

#[tokio::test]
async fn harness_metrics_are_served_until_cancelled() {
    let metrics = Arc::new(HarnessMetrics::new());
    let stop = CancellationToken::new();
    let addr = serve_metrics(
        "127.0.0.1:0".parse().unwrap(),
        metrics.clone(),
        stop.clone(),
    )
    .await
    .unwrap();
    metrics.pair_finished(3.5, true);
    metrics.pair_finished(1.0, false);
    metrics.registration_wait(0.2);
    metrics.reconnect();
    let url = format!("http://{addr}/metrics");
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let scrape = netbench_metrics::testkit::parse_text(&resp.text().await.unwrap()).unwrap();
    let value = |name: &str| {
        scrape
            .named(name)
            .next()
            .unwrap_or_else(|| panic!("{name}"))
            .value
    };
    assert_eq!(value("netbench_pairs_done_total"), 2.0);
    assert_eq!(value("netbench_pairs_failed_total"), 1.0);
    assert_eq!(value("netbench_pair_duration_seconds_sum"), 4.5);
    assert_eq!(value("netbench_registration_wait_seconds_count"), 1.0);
    assert_eq!(value("netbench_nats_reconnects_total"), 1.0);
    assert_eq!(
        reqwest::get(format!("http://{addr}/other"))
            .await
            .unwrap()
            .status(),
        404
    );

    // The same address again is a clear error.
    let err = serve_metrics(addr, metrics.clone(), stop.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    stop.cancel();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "still listening after cancel");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn labels_are_the_documented_ones() {
    assert_eq!(
        LABELS,
        [
            "run",
            "benchmark",
            "client_worker",
            "server_worker",
            "client_node",
            "server_node",
            "client_zone",
            "server_zone",
            "entry",
            "sample",
            "path"
        ]
    );
}

#[tokio::test]
async fn a_gateway_that_never_answers_times_out_instead_of_hanging() {
    // Accepts connections (the kernel's backlog does) but never reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let pusher = Pusher::new(plain(&url), &run("r-silent")).unwrap();
    let err = pusher
        .push_pair(&pair("iperf3-tcp", "ok", "node-a", "node-b", "r-silent"))
        .await
        .unwrap_err();
    eprintln!("silent gateway: {err}");
    assert!(matches!(err, MetricsError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("no answer within"), "{err}");
    // The pair's gauges are kept for the next push.
    assert_eq!(
        pusher
            .registry()
            .gather()
            .iter()
            .filter(|f| f.name() == PAIR_STATUS)
            .count(),
        1
    );
}
