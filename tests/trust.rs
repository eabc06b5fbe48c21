//! No input loses a run: a real orchestrator process and a real nats-server, with workers played
//! by the test so that they can send what a broken or hostile worker would.

mod support;

use futures::StreamExt;
use netbench_proto::{
    decode_control, encode_control, subjects, Captured, ErrorKind, ProcessOutcome, Register, Reply,
    RunId, ServerReady, TaskRequest, WorkerId, WorkerInfo, CONTENT_TYPE, CONTENT_TYPE_MSGPACK,
};
use serde_json::Value;
use std::time::Duration;
use support::*;

fn headers() -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    h.insert(CONTENT_TYPE, CONTENT_TYPE_MSGPACK);
    h
}

/// What a played worker answers when it runs the client.
#[derive(Clone, Copy)]
enum ClientReply {
    /// 2 MB of control bytes on stdout: 12 MB once escaped in JSON, three times the stream's
    /// 4 MiB message limit.
    Huge,
    /// An elapsed time that is no number.
    NotANumber,
    /// Never: the client hangs past the run's deadline.
    Hang,
    /// After 2 s, an output that does not parse.
    Slow,
    /// "Busy with another client" twice (an old task after an orchestrator restart), then a
    /// real iperf3 output.
    BusyTwice,
}

/// Register as worker `name`, then answer tasks until the test ends.
async fn play_worker(url: String, run: RunId, name: &str, ip: &str, client_reply: ClientReply) {
    play_worker_with(url, run, name, ip, client_reply, None).await
}

/// Like [`play_worker`]; with `gone_for`, the worker takes no tasks for that long after it
/// first registered (as if it had died at once), then comes back and registers again.
async fn play_worker_with(
    url: String,
    run: RunId,
    name: &str,
    ip: &str,
    client_reply: ClientReply,
    gone_for: Option<Duration>,
) {
    let nc = async_nats::connect(&url).await.unwrap();
    let id = WorkerId::for_name(name);
    if let Some(gone) = gone_for {
        register_until_answered(&nc, &run, name, ip).await;
        tokio::time::sleep(gone).await;
    }
    let mut tasks = nc.subscribe(subjects::task(&run, &id)).await.unwrap();
    nc.flush().await.unwrap();
    register_until_answered(&nc, &run, name, ip).await;
    serve_tasks(&nc, &mut tasks, client_reply).await;
}

async fn register_until_answered(nc: &async_nats::Client, run: &RunId, name: &str, ip: &str) {
    let worker = WorkerInfo {
        id: WorkerId::for_name(name),
        name: name.into(),
        ip: ip.parse().unwrap(),
        hostname: name.into(),
        zone: "local".into(),
        cpus: 0,
        placement: Default::default(),
        service_ip: None,
    };
    register_played(nc, run, worker, &["iperf3"]).await;
}

async fn serve_tasks(
    nc: &async_nats::Client,
    tasks: &mut async_nats::Subscriber,
    client_reply: ClientReply,
) {
    let done = |stdout: String, elapsed: f64| ProcessOutcome {
        exit_code: Some(0),
        signal: None,
        timed_out: false,
        stdout: Captured {
            text: stdout,
            truncated: false,
        },
        stderr: Captured::default(),
        elapsed_seconds: elapsed,
        idle: true,
    };
    let mut asked = 0;
    while let Some(msg) = tasks.next().await {
        let req: TaskRequest = decode_control(None, &msg.payload).unwrap();
        let reply = match req {
            TaskRequest::StartServer(_) => Reply::ServerReady(ServerReady {
                ready_after_seconds: 0.01,
            }),
            TaskRequest::RunClient(_) => match client_reply {
                ClientReply::Huge => {
                    // And it says something else ran beside this client.
                    let mut out = done("\u{1}".repeat(2_000_000), 1.0);
                    out.idle = false;
                    Reply::ClientDone(out)
                }
                ClientReply::NotANumber => Reply::ClientDone(done("{}".into(), f64::NAN)),
                ClientReply::Hang => continue,
                ClientReply::Slow => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Reply::ClientDone(done("{}".into(), 2.0))
                }
                ClientReply::BusyTwice => {
                    asked += 1;
                    if asked <= 2 {
                        Reply::error(
                            ErrorKind::Busy,
                            "worker already runs the client of pair old; one client at a time",
                        )
                    } else {
                        Reply::ClientDone(done(IPERF3_OUTPUT.into(), 1.0))
                    }
                }
            },
            TaskRequest::StopServer { .. } => Reply::ServerStopped(done(String::new(), 0.0)),
        };
        nc.publish_with_headers(msg.reply.unwrap(), headers(), encode_control(&reply).into())
            .await
            .unwrap();
    }
}

/// A result too big for the stream is stored cut (and marked), never dropped; a worker's NaN is
/// refused as input. Before: the publish of the big one failed for 60 s and the run ended with
/// no results file at all, and a NaN became `null`, which `report` rejects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_non_finite_results_are_kept_in_stream_and_file() {
    let server = nats();
    let run: RunId = "trust1".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let workers = [
        tokio::spawn(play_worker(
            server.url.clone(),
            run.clone(),
            "big",
            "198.18.50.1",
            ClientReply::Huge,
        )),
        tokio::spawn(play_worker(
            server.url.clone(),
            run.clone(),
            "nan",
            "198.18.50.2",
            ClientReply::NotANumber,
        )),
    ];
    let mut orch = orchestrator(&server.url, &run, 2, "2m", Some(&results));
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || support::run(&mut orch))
        .await
        .unwrap();
    for w in workers {
        w.abort();
    }
    assert_eq!(out.status.code(), Some(1), "completed, with failed pairs");
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "took {:?}: a publish was retried instead of the result cut",
        started.elapsed()
    );

    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "both pairs in the file");
    let by_client = |name: &str| {
        entries
            .iter()
            .find(|e| e["task"]["client"]["worker"] == name)
            .unwrap_or_else(|| panic!("no pair with client {name}"))
    };
    let big = by_client("big");
    assert_eq!(big["output_truncated"], true);
    assert!(
        big["error"].as_str().unwrap().contains("output cut"),
        "{big}"
    );
    assert!(
        !big["output"].as_str().unwrap().is_empty(),
        "cut, not emptied"
    );
    // `idle` is what each worker measured: big's client was not alone, its server (on nan) was.
    assert_eq!(big["task"]["client"]["idle"], false, "{big}");
    assert_eq!(big["task"]["server"]["idle"], true, "{big}");
    let nan = by_client("nan");
    assert_eq!(nan["task"]["status"], 4, "refused: {nan}");
    assert!(
        nan["error"].as_str().unwrap().contains("not a duration"),
        "{nan}"
    );
    assert!(
        nan["client_seconds"].is_number(),
        "no null in the file: {nan}"
    );

    // Both are in the stream too, each once.
    let nc = async_nats::connect(&server.url).await.unwrap();
    let js = async_nats::jetstream::new(nc);
    let stream = js.get_stream("NETBENCH").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: subjects::results_of_run(&run),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = consumer.fetch().max_messages(10).messages().await.unwrap();
    let mut stored = Vec::new();
    while let Some(Ok(m)) = batch.next().await {
        assert!(m.payload.len() <= 4 * 1024 * 1024);
        stored.push(serde_json::from_slice::<Value>(&m.payload).unwrap());
    }
    assert_eq!(stored.len(), 2, "both results stored");

    // And the file is one `report` reads.
    let rep = support::run(netbench().args(["report"]).arg(&results));
    assert!(
        matches!(rep.status.code(), Some(0) | Some(1)),
        "report refused the file"
    );
}

/// A pair still running at the deadline is stopped there and recorded as timed out. Before, the
/// run waited for the worker's own limit (the tool's timeout plus grace, 26 s here) and then
/// called the worker lost.
/// A real iperf3 client's output, from the parser fixtures.
const IPERF3_OUTPUT: &str =
    include_str!("../crates/netbench-bench/tests/fixtures/iperf3-tcp/ok.stdout");

/// A client worker still busy with an old task is asked again until it is free: the pair
/// succeeds. Before, the pair failed as rejected ("one client at a time").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_client_worker_is_waited_for_not_failed() {
    let server = nats();
    let run: RunId = "trust9".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let workers = [("b1", "198.18.51.1"), ("b2", "198.18.51.2")].map(|(name, ip)| {
        tokio::spawn(play_worker(
            server.url.clone(),
            run.clone(),
            name,
            ip,
            ClientReply::BusyTwice,
        ))
    });
    let mut orch = orchestrator(&server.url, &run, 2, "60s", Some(&results));
    let out = tokio::task::spawn_blocking(move || support::run(&mut orch))
        .await
        .unwrap();
    for w in workers {
        w.abort();
    }
    let file = read_json(&results);
    assert_eq!(out.status.code(), Some(0), "{file}");
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for e in entries {
        assert_eq!(e["task"]["status"], 0, "{}", e["error"]);
        assert!(e["metrics"].as_array().unwrap().len() > 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_stops_a_pair_in_flight_and_records_it() {
    let server = nats();
    let run: RunId = "trust2".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let workers = ["h1", "h2"].map(|name| {
        tokio::spawn(play_worker(
            server.url.clone(),
            run.clone(),
            name,
            if name == "h1" {
                "198.18.51.1"
            } else {
                "198.18.51.2"
            },
            ClientReply::Hang,
        ))
    });
    let mut orch = orchestrator(&server.url, &run, 2, "6s", Some(&results));
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || support::run(&mut orch))
        .await
        .unwrap();
    let took = started.elapsed();
    for w in workers {
        w.abort();
    }
    assert_eq!(out.status.code(), Some(4), "interrupted by the deadline");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "the pair in flight is recorded: {file}");
    assert_eq!(entries[0]["task"]["status"], 2);
    assert!(entries[0]["error"].as_str().unwrap().contains("deadline"));
}

/// Send `reg` as a registration on `subject`; the orchestrator's answer.
async fn register_as(nc: &async_nats::Client, subject: String, reg: &Register) -> Reply {
    let req = async_nats::Request::new()
        .headers(headers())
        .payload(encode_control(reg).into())
        .timeout(Some(Duration::from_secs(5)));
    let m = nc.send_request(subject, req).await.unwrap();
    decode_control(None, &m.payload).unwrap()
}

fn registration(run: &RunId, name: &str, id: WorkerId) -> Register {
    Register {
        run: run.clone(),
        worker: WorkerInfo {
            id,
            name: name.into(),
            ip: "198.18.52.9".parse().unwrap(),
            hostname: name.into(),
            zone: "local".into(),
            cpus: 0,
            placement: Default::default(),
            service_ip: None,
        },
        tools: vec!["iperf3".into()],
        version: "played".into(),
    }
}

/// A registration is bound to the worker it names and capped at the workers the run asked for,
/// and no request can make the orchestrator answer outside an inbox (before: it answered on any
/// reply subject, the results' and the run's KV key included; took any id on the one shared
/// register subject; and admitted every worker that came).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_bound_capped_and_answered_only_into_inboxes() {
    let server = nats();
    let run: RunId = "trust3".parse().unwrap();
    let workers = ["r1", "r2"].map(|name| {
        tokio::spawn(play_worker(
            server.url.clone(),
            run.clone(),
            name,
            if name == "r1" {
                "198.18.52.1"
            } else {
                "198.18.52.2"
            },
            ClientReply::Hang,
        ))
    });
    let mut orch = orchestrator(&server.url, &run, 2, "8s", None);
    let orch = tokio::task::spawn_blocking(move || support::run(&mut orch));

    let nc = async_nats::connect(&server.url).await.unwrap();
    let mut forged = nc
        .subscribe(format!("netbench.{run}.result.>"))
        .await
        .unwrap();
    nc.flush().await.unwrap();
    // Wait until the two played workers are in (the first pair's task reaches r1 or r2).
    let js = async_nats::jetstream::new(nc.clone());
    let mut started = false;
    for _ in 0..100 {
        if let Ok(kv) = js.get_key_value("NETBENCH_RUNS").await {
            if let Ok(Some(v)) = kv.get(run.as_str()).await {
                let v: Value = serde_json::from_slice(&v).unwrap();
                if v["phase"] == "running" {
                    started = true;
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started, "the run never started");

    // A third worker: the run asked for two.
    let c = WorkerId::for_name("r3");
    match register_as(
        &nc,
        subjects::register(&run, &c),
        &registration(&run, "r3", c),
    )
    .await
    {
        Reply::Error(e) => assert!(
            e.message.contains("already has the 2 workers"),
            "{}",
            e.message
        ),
        other => panic!("a third worker was admitted: {other:?}"),
    }
    // r1's subject, naming r2.
    let (r1, r2) = (WorkerId::for_name("r1"), WorkerId::for_name("r2"));
    match register_as(
        &nc,
        subjects::register(&run, &r1),
        &registration(&run, "r2", r2),
    )
    .await
    {
        Reply::Error(e) => assert!(e.message.contains("only as itself"), "{}", e.message),
        other => panic!("registered as another worker: {other:?}"),
    }
    // A request whose reply subject is the results': no answer goes there.
    nc.publish_with_reply(
        subjects::register(&run, &r1),
        format!("netbench.{run}.result.forged"),
        encode_control(&registration(&run, "r1", r1)).into(),
    )
    .await
    .unwrap();
    nc.flush().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), forged.next()).await;
    assert!(
        got.is_err(),
        "the orchestrator answered into the results: {got:?}"
    );

    let out = orch.await.unwrap();
    for w in workers {
        w.abort();
    }
    assert_eq!(out.status.code(), Some(4), "ends at its deadline");
}

/// Three played workers, the third registering late and then without a task subscription for
/// `away` (so the first pair, first -> third, finds no one there); the orchestrator's output
/// and the results' entries.
async fn run_with_one_worker_away(
    run: &str,
    names: [&'static str; 3],
    ips: [&'static str; 3],
    away: Duration,
) -> (std::process::Output, Vec<serde_json::Value>) {
    let server = nats();
    let run: RunId = run.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let mut orch = orchestrator(&server.url, &run, 3, "2m", Some(&results));
    let orch = tokio::task::spawn_blocking(move || support::run(&mut orch));
    let url = server.url.clone();
    let mut workers: Vec<_> = [(names[0], ips[0]), (names[1], ips[1])]
        .into_iter()
        .map(|(name, ip)| {
            tokio::spawn(play_worker(
                url.clone(),
                run.clone(),
                name,
                ip,
                ClientReply::Slow,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    workers.push(tokio::spawn(play_worker_with(
        url,
        run.clone(),
        names[2],
        ips[2],
        ClientReply::Slow,
        Some(away),
    )));
    let out = orch.await.unwrap();
    for w in workers {
        w.abort();
    }
    let file = read_json(&results);
    let entries = file["results"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 6);
    (out, entries)
}

/// The pairs recorded `worker_lost` (3), as `client->server`.
fn lost_pairs(entries: &[serde_json::Value]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e["task"]["status"] == 3)
        .map(|e| {
            format!(
                "{}->{}",
                e["task"]["client"]["worker"].as_str().unwrap(),
                e["task"]["server"]["worker"].as_str().unwrap()
            )
        })
        .collect()
}

/// A worker that misses a task for a moment (as when its NATS server goes and it reconnects
/// to another) is probed, and the pair is run again once it answers: nothing is recorded lost.
/// Before, the first pair was `worker_lost` and the worker marked lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_away_for_a_moment_gets_its_pair_run_again() {
    // m2 is away for 0.8 s.
    let (out, entries) = run_with_one_worker_away(
        "trust6",
        ["m1", "m3", "m2"],
        ["198.18.53.11", "198.18.53.13", "198.18.53.12"],
        Duration::from_millis(800),
    )
    .await;
    // The played workers' output is no iperf3 JSON (output_unparsable): what matters is that
    // every pair reached its client, none is worker_lost (3).
    let lost = lost_pairs(&entries);
    assert!(lost.is_empty(), "recorded lost: {lost:?}");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("answers now"),
        "the orchestrator says why it ran the pair again"
    );
}

/// A worker lost during a run and back (it registered again) is used again. Before, it stayed
/// lost: every later pair with it was recorded `worker_lost` without being tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_worker_that_registers_again_is_used_again() {
    // l2 joins last, so the first pair (l1 -> l2) finds it gone, and still gone when the
    // orchestrator's probe gives up (pair::PROBE_WINDOW, 15 s); it is back at 16 s, while the
    // second pair (l1 -> l3, 2 s) runs.
    let (out, entries) = run_with_one_worker_away(
        "trust4",
        ["l1", "l3", "l2"],
        ["198.18.53.1", "198.18.53.3", "198.18.53.2"],
        Duration::from_secs(16),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        lost_pairs(&entries),
        vec!["l1->l2"],
        "only the pair that found l2 gone"
    );
}

/// A worker asked to register again (a roll call) while no orchestrator answers still stops at
/// SIGTERM. Before, the re-registration retried forever inside the shutdown tracker, so the
/// worker ignored SIGTERM (and its own deadline) until it was killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_no_orchestrator_after_a_roll_call_still_stops_at_sigterm() {
    let server = nats();
    let run: RunId = "trust5".parse().unwrap();
    let nc = async_nats::connect(&server.url).await.unwrap();
    let mut regs = nc.subscribe(subjects::registrations(&run)).await.unwrap();
    nc.flush().await.unwrap();
    let mut worker = netbench()
        .args(["worker", "--nats-url", &server.url, "--run", run.as_str()])
        .args(["--name", "rc1", "--ip", "127.0.0.1", "--deadline", "5m"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Answer the first registration, as an orchestrator would; then nobody answers any more.
    let first = tokio::time::timeout(Duration::from_secs(20), regs.next())
        .await
        .expect("the worker registers")
        .unwrap();
    let welcome = Reply::Registered(netbench_proto::Registered { run: run.clone() });
    nc.publish_with_headers(
        first.reply.unwrap(),
        headers(),
        encode_control(&welcome).into(),
    )
    .await
    .unwrap();
    regs.unsubscribe().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rollcall = netbench_proto::RollCall { run: run.clone() };
    nc.publish(subjects::rollcall(&run), encode_control(&rollcall).into())
        .await
        .unwrap();
    nc.flush().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = worker.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if exited.is_none() {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    assert!(exited.is_some(), "the worker ignored SIGTERM for 10 s");
}

/// A real orchestrator for `run` (iperf3-tcp, 1 s tests) waiting 20 s for `workers`.
fn orchestrator(
    url: &str,
    run: &RunId,
    workers: usize,
    deadline: &str,
    results: Option<&std::path::Path>,
) -> std::process::Command {
    let mut c = netbench();
    c.args(["orchestrator", "--nats-url", url, "--run", run.as_str()])
        .args([
            "--benchmark",
            "iperf3-tcp",
            "--duration",
            "1",
            "--timeout",
            "20s",
        ])
        .args(["--workers", &workers.to_string(), "--deadline", deadline]);
    if let Some(path) = results {
        c.arg("--results").arg(path);
    }
    c
}
