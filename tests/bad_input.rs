//! Bad input against real processes: random and mutated payloads on every subject we listen on,
//! commands outside the catalogue, a missing tool, unreachable NATS, missing workers.
//! Every one gets a clear error and the process keeps serving.

mod support;

use async_nats::HeaderMap;
use netbench_bench::{allow, Role};
use netbench_proto::{
    decode_control, encode_control, subjects, CommandSpec, ErrorKind, Register, Reply, RunId,
    TaskParams, TaskRequest, WorkerId, WorkerInfo, CONTENT_TYPE, CONTENT_TYPE_MSGPACK,
};
use rand::{Rng, SeedableRng};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

/// The tests that run iperf3 in the host namespace share its fixed port 5201: one at a time.
static HOST_PORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A worker process on loopback, killed and reaped on drop.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_worker(url: &str, run: &str, name: &str, ip: &str) -> Proc {
    start_worker_with(netbench(), url, run, name, ip)
}

fn start_worker_with(mut cmd: Command, url: &str, run: &str, name: &str, ip: &str) -> Proc {
    Proc(
        cmd.args([
            "worker",
            "--nats-url",
            url,
            "--run",
            run,
            "--name",
            name,
            "--ip",
            ip,
            "--deadline",
            "5m",
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap(),
    )
}

fn start_orchestrator(url: &str, run: &str, workers: usize, extra: &[&str]) -> Command {
    let mut c = netbench();
    c.args([
        "orchestrator",
        "--nats-url",
        url,
        "--run",
        run,
        "--benchmark",
        "iperf3-tcp",
    ])
    .args(["--workers", &workers.to_string(), "--duration", "1"])
    .args(extra);
    c
}

fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, CONTENT_TYPE_MSGPACK);
    h
}

/// 10 000 payloads: random bytes, truncations and byte flips of valid messages, valid MessagePack
/// of the wrong shape, unknown fields, JSON, a huge one. Returns how many got an error reply.
async fn fuzz(client: &async_nats::Client, subject: &str, valid: &[Vec<u8>], seed: u64) -> usize {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut errors = 0;
    for i in 0..10_000 {
        let payload: Vec<u8> = match i % 6 {
            0 => (0..rng.random_range(0..300))
                .map(|_| rng.random())
                .collect(),
            1 => {
                let v = &valid[i % valid.len()];
                v[..rng.random_range(0..v.len())].to_vec()
            }
            2 => {
                let mut v = valid[i % valid.len()].clone();
                for _ in 0..rng.random_range(1..4) {
                    let at = rng.random_range(0..v.len());
                    v[at] = rng.random();
                }
                v
            }
            3 => rmp_like_wrong_types(i),
            4 => format!("{{\"type\":\"run_client\",\"junk\":{i}}}").into_bytes(),
            _ if i == 5 => vec![0x91; 5 * 1024 * 1024], // larger than the decoder's limit
            _ => Vec::new(),
        };
        let req = async_nats::Request::new()
            .headers(headers())
            .payload(payload.into())
            .timeout(Some(Duration::from_secs(5)));
        let msg = client
            .send_request(subject.to_string(), req)
            .await
            .expect("every payload gets a reply");
        let reply: Reply = decode_control(None, &msg.payload).expect("replies are valid");
        if matches!(reply, Reply::Error(_)) {
            errors += 1;
        }
    }
    errors
}

/// Valid MessagePack maps with wrong field types or unknown variants.
fn rmp_like_wrong_types(i: usize) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Wrong {
        r#type: String,
        run: u64,
        pair: Vec<u8>,
    }
    rmp_serde::to_vec_named(&Wrong {
        r#type: [
            "start_server",
            "run_client",
            "stop_server",
            "launch_missiles",
        ][i % 4]
            .into(),
        run: i as u64,
        pair: vec![1, 2, 3],
    })
    .unwrap()
}

/// Answer a worker's registration, playing the orchestrator.
async fn welcome(client: &async_nats::Client, registration: async_nats::Message, run: &RunId) {
    let reply = Reply::Registered(netbench_proto::Registered { run: run.clone() });
    client
        .publish_with_headers(
            registration.reply.unwrap(),
            headers(),
            encode_control(&reply).into(),
        )
        .await
        .unwrap();
}

fn spec(run: &RunId, bench: &str, role: Role, ip: &str) -> CommandSpec {
    allow::spec(
        netbench_bench::find(bench).unwrap(),
        role,
        run,
        "p1",
        TaskParams {
            server_ip: ip.parse().unwrap(),
            duration_seconds: 1,
            parameters: Default::default(),
        },
    )
}

async fn ask(client: &async_nats::Client, subject: &str, req: &TaskRequest) -> Reply {
    let r = async_nats::Request::new()
        .headers(headers())
        .payload(encode_control(req).into())
        .timeout(Some(Duration::from_secs(30)));
    let msg = client.send_request(subject.to_string(), r).await.unwrap();
    decode_control(None, &msg.payload).unwrap()
}

/// All of the worker's bad-input paths, then proof that it still runs a real iperf3 pair.
/// (One test, because the iperf3 server it starts uses the host namespace's port 5201.)
#[tokio::test]
async fn worker_survives_fuzz_refuses_disallowed_commands_and_still_measures() {
    let _ports = HOST_PORTS.lock().await;
    let server = nats();
    let run: RunId = "badinput1".parse().unwrap();
    let client = async_nats::connect(&server.url).await.unwrap();
    // Play orchestrator: accept the registration.
    let mut reg = client
        .subscribe(subjects::registrations(&run))
        .await
        .unwrap();
    // fortio is missing for this worker, whether or not the machine has it (step 3).
    let _worker = start_worker_with(
        netbench_without(&["fortio"]),
        &server.url,
        run.as_str(),
        "fuzz-target",
        "127.0.0.1",
    );
    let msg = tokio::time::timeout(Duration::from_secs(20), futures::StreamExt::next(&mut reg))
        .await
        .expect("worker registers")
        .unwrap();
    let r: Register = decode_control(None, &msg.payload).unwrap();
    assert!(r.tools.contains(&"iperf3".to_string()));
    assert!(
        !r.tools.contains(&"fortio".to_string()),
        "fortio not hidden"
    );
    welcome(&client, msg, &run).await;
    let task = subjects::task(&run, &WorkerId::for_name("fuzz-target"));

    // 1. Fuzz: every payload answered with an error.
    let valid: Vec<Vec<u8>> = [
        TaskRequest::StartServer(spec(&run, "iperf3-tcp", Role::Server, "127.0.0.1")),
        TaskRequest::RunClient(spec(&run, "iperf3-tcp", Role::Client, "127.0.0.1")),
        TaskRequest::StopServer {
            run: run.clone(),
            pair: "p1".into(),
        },
    ]
    .iter()
    .map(encode_control)
    .collect();
    // Mutations of a valid StartServer could in theory still be valid (and start iperf3); the
    // stop at the end cleans that up, and the count below tolerates it.
    let errors = fuzz(&client, &task, &valid, 7).await;
    assert!(
        errors >= 9_990,
        "only {errors} of 10000 bad payloads were refused"
    );

    // 1b. The roll-call subject (no replies there): 10 000 random payloads. The worker registers
    // again (once at a time), then still serves below.
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for _ in 0..10_000 {
        let junk: Vec<u8> = (0..rng.random_range(0..200))
            .map(|_| rng.random())
            .collect();
        client
            .publish(subjects::rollcall(&run), junk.into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let again = tokio::time::timeout(Duration::from_secs(20), futures::StreamExt::next(&mut reg))
        .await
        .expect("the roll call makes the worker register again")
        .unwrap();
    welcome(&client, again, &run).await;

    // 2. Commands and arguments outside the catalogue: refused, executed 0 times.
    let marker = tempfile::tempdir().unwrap();
    let witness = marker.path().join("executed");
    let mut evil = spec(&run, "iperf3-tcp", Role::Client, "127.0.0.1");
    evil.command = "touch".into();
    evil.args = vec![witness.display().to_string()];
    let mut extra_arg = spec(&run, "iperf3-tcp", Role::Client, "127.0.0.1");
    extra_arg
        .args
        .extend(["--logfile".into(), witness.display().to_string()]);
    let mut other_run = spec(&run, "iperf3-tcp", Role::Client, "127.0.0.1");
    other_run.run = "someoneelse".parse().unwrap();
    for (req, kind) in [
        (TaskRequest::RunClient(evil), ErrorKind::Rejected),
        (
            TaskRequest::StartServer(extra_arg.clone()),
            ErrorKind::Rejected,
        ),
        (TaskRequest::RunClient(extra_arg), ErrorKind::Rejected),
        (TaskRequest::RunClient(other_run), ErrorKind::WrongRun),
    ] {
        match ask(&client, &task, &req).await {
            Reply::Error(e) => assert_eq!(e.kind, kind, "{}", e.message),
            other => panic!("accepted: {other:?}"),
        }
    }
    assert!(!witness.exists(), "a refused command ran");

    // 3. A tool that is not installed (hidden from this worker): a clear error.
    match ask(
        &client,
        &task,
        &TaskRequest::StartServer(spec(&run, "fortio-tcp", Role::Server, "127.0.0.1")),
    )
    .await
    {
        Reply::Error(e) => {
            assert_eq!(e.kind, ErrorKind::MissingTool);
            assert!(
                e.message.contains("fortio is not installed"),
                "{}",
                e.message
            );
        }
        other => panic!("fortio started? {other:?}"),
    }

    // 4. Still serving: a real iperf3 pair on loopback through the same worker.
    let _ = ask(
        &client,
        &task,
        &TaskRequest::StopServer {
            run: run.clone(),
            pair: "p1".into(),
        },
    )
    .await;
    let started = ask(
        &client,
        &task,
        &TaskRequest::StartServer(spec(&run, "iperf3-tcp", Role::Server, "127.0.0.1")),
    )
    .await;
    assert!(matches!(started, Reply::ServerReady(_)), "{started:?}");
    let done = ask(
        &client,
        &task,
        &TaskRequest::RunClient(spec(&run, "iperf3-tcp", Role::Client, "127.0.0.1")),
    )
    .await;
    let Reply::ClientDone(outcome) = done else {
        panic!("{done:?}")
    };
    let m = netbench_bench::measure(netbench_bench::find("iperf3-tcp").unwrap(), &outcome);
    assert_eq!(m.status, netbench_proto::Status::Ok, "{:?}", m.error);
    let stopped = ask(
        &client,
        &task,
        &TaskRequest::StopServer {
            run: run.clone(),
            pair: "p1".into(),
        },
    )
    .await;
    assert!(matches!(stopped, Reply::ServerStopped(_)), "{stopped:?}");
}

/// The orchestrator's register subject survives the same fuzz, then runs a real run.
#[tokio::test]
async fn orchestrator_survives_fuzz_on_registration_then_runs() {
    let _ports = HOST_PORTS.lock().await;
    let server = nats();
    let run = "badinput2";
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    let mut orch = start_orchestrator(&server.url, run, 2, &["--timeout", "120s"]);
    orch.arg("--results").arg(&results);
    let orch = Proc(orch.spawn().unwrap());
    let client = async_nats::connect(&server.url).await.unwrap();
    let subject = subjects::register(&run.parse().unwrap(), &WorkerId::for_name("x"));
    let info = WorkerInfo {
        id: WorkerId::for_name("x"),
        name: "x".into(),
        ip: "127.0.0.9".parse().unwrap(),
        hostname: "x".into(),
        zone: String::new(),
        cpus: 0,
        placement: Default::default(),
        service_ip: None,
    };
    let valid = vec![encode_control(&Register {
        run: "otherrun".parse().unwrap(),
        worker: info,
        tools: vec![],
        version: "0".into(),
    })];
    // Wait for the orchestrator to listen.
    let mut up = false;
    for _ in 0..200 {
        let req = async_nats::Request::new()
            .payload(vec![0xc1].into())
            .timeout(Some(Duration::from_secs(1)));
        if client.send_request(subject.clone(), req).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "orchestrator never answered");
    let errors = fuzz(&client, &subject, &valid, 11).await;
    assert_eq!(errors, 10_000);

    // Two real workers on two loopback addresses: the run goes through.
    let _w1 = start_worker(&server.url, run, "lo-a", "127.0.0.1");
    let _w2 = start_worker(&server.url, run, "lo-b", "127.0.0.1");
    let mut orch = orch;
    let status = tokio::task::spawn_blocking(move || {
        let s = orch.0.wait();
        std::mem::forget(orch);
        s
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(status.code(), Some(0));
    let file = read_json(&results);
    assert_eq!(file["results"].as_array().unwrap().len(), 2);
}

#[test]
fn unreachable_nats_is_a_clear_error() {
    for args in [
        vec![
            "worker",
            "--nats-url",
            "nats://127.0.0.1:1",
            "--run",
            "r",
            "--name",
            "a",
            "--ip",
            "127.0.0.1",
        ],
        vec![
            "orchestrator",
            "--nats-url",
            "nats://127.0.0.1:1",
            "--run",
            "r",
            "--benchmark",
            "iperf3-tcp",
            "--workers",
            "2",
        ],
    ] {
        let out = run(netbench().args(&args));
        assert_eq!(out.status.code(), Some(3));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot reach NATS at nats://127.0.0.1:1"),
            "{err}"
        );
        assert!(err.contains("--nats-url"), "{err}");
    }
}

#[test]
fn unknown_benchmark_lists_the_known_ones() {
    let out = run(netbench().args(["local", "--benchmark", "iperf9"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown benchmark \"iperf9\"") && err.contains("netperf-tcp-rr"),
        "{err}"
    );
}

#[test]
fn missing_tool_stops_local_before_anything_starts() {
    let out = run(netbench_without(&["fortio"]).args([
        "local",
        "--benchmark",
        "fortio-http",
        "--nodes",
        "2",
        "--subnet",
        "198.18.14.0/24",
    ]));
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fortio is not installed"));
    assert!(leftover_namespaces("nb-")
        .iter()
        .all(|n| !n.contains("198")));
}

#[test]
fn missing_workers_are_named() {
    let server = nats();
    let out = run(&mut start_orchestrator(
        &server.url,
        "lonely",
        2,
        &["--timeout", "1s", "--expect", "node-a,node-b"],
    ));
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("workers node-a, node-b did not register"),
        "{err}"
    );
}

/// Durations are checked when the command line is read: a huge one (which used to overflow a
/// clock and panic after deployment) and a deadline that cannot hold one pair (which used to
/// end with no result) are refused with exit 2, before NATS is even tried.
#[test]
fn durations_that_cannot_work_are_refused_up_front() {
    let out = run(netbench().args(["local", "--deadline", "100000000h"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 30d"));
    let orchestrator = [
        "orchestrator",
        "--run",
        "x1",
        "--benchmark",
        "iperf3-tcp",
        "--workers",
        "2",
    ];
    for sub in [&["local"][..], &orchestrator[..]] {
        let out = run(netbench()
            .args(sub)
            .args(["--nats-url", "nats://127.0.0.1:1", "--duration", "10s"])
            .args(["--deadline", "5s"]));
        assert_eq!(out.status.code(), Some(2), "{sub:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--deadline 5s cannot hold one pair of --duration 10s")
                && err.contains("give a --deadline of 12s or more"),
            "{err}"
        );
    }
}

/// Benchmark parameters are checked against the benchmark before anything starts (no NATS is
/// tried, nothing is deployed): one it does not take, out of range, a rate that is no rate.
#[test]
fn parameters_that_cannot_work_are_refused_up_front() {
    let orchestrator = ["orchestrator", "--run", "x1", "--workers", "2"];
    let launch = ["launch", "--dry-run"];
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "netperf-tcp-rr",
            &["--streams", "4"],
            "netperf-tcp-rr does not take --streams: leave it out, or choose a benchmark that does (iperf3-tcp",
        ),
        ("iperf3-tcp", &["--streams", "0"], "--streams 0 is outside 1..=128 for iperf3-tcp"),
        ("iperf3-tcp", &["--streams", "10000"], "--streams 10000 is outside 1..=128"),
        ("netperf-tcp-stream", &["--message-size", "0"], "--message-size 0 is outside 1..=1048576"),
        ("iperf3-udp", &["--message-size", "70000"], "--message-size 70000 is outside 1..=65507 for iperf3-udp"),
        ("iperf3-tcp", &["--rate", "1G"], "iperf3-tcp does not take --rate"),
        ("iperf3-udp", &["--rate", "fast"], "\"fast\" is not a rate like 1G"),
    ];
    for sub in [&["local"][..], &orchestrator[..], &launch[..]] {
        for (bench, flags, want) in cases {
            let out = run(netbench()
                .args(sub)
                .args(["--benchmark", bench])
                .args(["--nats-url", "nats://127.0.0.1:1"])
                .args(*flags));
            assert_eq!(out.status.code(), Some(2), "{sub:?} {bench} {flags:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(want), "{sub:?} {bench} {flags:?}: {err}");
            assert!(
                !err.contains("NATS") && out.stdout.is_empty(),
                "{sub:?}: refused before NATS or any manifest: {err}"
            );
        }
    }
}

/// A suite file, a benchmark list, a sample count or a path that cannot work: exit 2 with the
/// entry and the fix, on every subcommand, before NATS or any manifest.
#[test]
fn suites_and_samples_that_cannot_work_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let suite = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let unknown_key = suite("key.yaml", "- benchmark: iperf3-tcp\n  stream: 4\n");
    let unknown_bench = suite(
        "bench.yaml",
        "- benchmark: iperf3-tcp\n- benchmark: iperf4-tcp\n",
    );
    let not_taken = suite("param.yaml", "- benchmark: netperf-tcp-rr\n  streams: 2\n");
    let bad_path = suite(
        "path.yaml",
        "- benchmark: iperf3-tcp\n  paths: [pod, hostt]\n",
    );
    let twice_path = suite(
        "path2.yaml",
        "- benchmark: iperf3-tcp\n  paths: [host, pod, host]\n",
    );
    let missing = dir.path().join("none.yaml").to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--suite", &unknown_key], "unknown field `stream`"),
        (
            vec!["--suite", &unknown_bench],
            "entry 2 (iperf4-tcp): unknown benchmark \"iperf4-tcp\"",
        ),
        (
            vec!["--suite", &not_taken],
            "entry 1 (netperf-tcp-rr): netperf-tcp-rr does not take --streams",
        ),
        (
            vec!["--suite", &bad_path],
            "entry 1 (iperf3-tcp): unknown path \"hostt\": the paths are pod, host, service and same-node",
        ),
        (
            vec!["--suite", &twice_path],
            "entry 1 (iperf3-tcp): path host is named twice",
        ),
        (
            vec!["--benchmark", "iperf3-tcp", "--paths", "pod,nodes"],
            "unknown path \"nodes\"",
        ),
        (vec!["--benchmark", "iperf3-tcp", "--paths", ""], "no path given"),
        (vec!["--suite", &missing], "cannot read the suite file"),
        (
            vec!["--suite", &unknown_key, "--benchmark", "iperf3-tcp"],
            "cannot be used with",
        ),
        (
            vec!["--suite", &unknown_key, "--streams", "2"],
            "cannot be used with",
        ),
        (
            vec!["--benchmark", "iperf3-tcp,iperf3-tcp"],
            "names iperf3-tcp twice",
        ),
        (
            vec!["--benchmark", "iperf3-tcp,netperf-tcp-rr", "--streams", "2"],
            "give each its own in a --suite file",
        ),
        (
            vec!["--benchmark", "iperf3-tcp,nope"],
            "unknown benchmark \"nope\"",
        ),
        (
            vec!["--benchmark", "iperf3-tcp", "--samples", "0"],
            "from 1 to 100",
        ),
        (
            vec!["--benchmark", "iperf3-tcp", "--samples", "101"],
            "from 1 to 100",
        ),
    ];
    let orchestrator = ["orchestrator", "--run", "x1", "--workers", "2"];
    let launch = ["launch", "--dry-run"];
    for sub in [&["local"][..], &orchestrator[..], &launch[..]] {
        for (flags, want) in &cases {
            let out = run(netbench()
                .args(sub)
                .args(["--nats-url", "nats://127.0.0.1:1"])
                .args(flags));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{sub:?} {flags:?}: {err}");
            assert!(err.contains(want), "{sub:?} {flags:?}: {err}");
            // (clap's usage line names --nats-url: the address itself must not come up.)
            assert!(
                !err.contains("127.0.0.1:1") && out.stdout.is_empty(),
                "{sub:?}: refused before NATS or any manifest: {err}"
            );
        }
    }
}

/// A worker runs one client at a time and measures `idle`: a second client while one runs is
/// refused (an old task beside a new pair after an orchestrator restart), and a task that had
/// another beside it says so. Before, the second client ran, and `idle` was always true.
#[tokio::test]
async fn a_worker_refuses_a_second_client_and_measures_idle() {
    let _ports = HOST_PORTS.lock().await;
    let server = nats();
    let run: RunId = "badinput3".parse().unwrap();
    let client = async_nats::connect(&server.url).await.unwrap();
    let _workers = welcomed_workers(&client, &server.url, &run, &["idle-a", "idle-b"]).await;
    let task = |name: &str| subjects::task(&run, &WorkerId::for_name(name));
    // Serial: A serves, B runs the client, A stops: both alone.
    let srv = spec_for(&run, "iperf3-tcp", Role::Server, "p1", 1);
    let cli = spec_for(&run, "iperf3-tcp", Role::Client, "p1", 1);
    assert!(matches!(
        ask(&client, &task("idle-a"), &TaskRequest::StartServer(srv)).await,
        Reply::ServerReady(_)
    ));
    match ask(&client, &task("idle-b"), &TaskRequest::RunClient(cli)).await {
        Reply::ClientDone(o) => assert!(o.idle && o.succeeded(), "{o:?}"),
        other => panic!("{other:?}"),
    }
    let stop = TaskRequest::StopServer {
        run: run.clone(),
        pair: "p1".into(),
    };
    match ask(&client, &task("idle-a"), &stop).await {
        Reply::ServerStopped(o) => assert!(o.idle, "{o:?}"),
        other => panic!("{other:?}"),
    }

    // Crowded: B runs a 3 s client (p2) and, meanwhile, is asked for a second client (p3,
    // refused) and starts a server (p4): the client was not alone, nor was that server.
    let srv = spec_for(&run, "iperf3-tcp", Role::Server, "p2", 3);
    assert!(matches!(
        ask(&client, &task("idle-a"), &TaskRequest::StartServer(srv)).await,
        Reply::ServerReady(_)
    ));
    let long = spec_for(&run, "iperf3-tcp", Role::Client, "p2", 3);
    let first = tokio::spawn({
        let (client, subject) = (client.clone(), task("idle-b"));
        async move { ask(&client, &subject, &TaskRequest::RunClient(long)).await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = spec_for(&run, "iperf3-tcp", Role::Client, "p3", 1);
    match ask(&client, &task("idle-b"), &TaskRequest::RunClient(second)).await {
        Reply::Error(e) => {
            assert_eq!(e.kind, ErrorKind::Busy);
            assert!(e.message.contains("one client at a time"), "{}", e.message);
        }
        other => panic!("a second client ran: {other:?}"),
    }
    let beside = spec_for(&run, "netperf-tcp-rr", Role::Server, "p4", 1);
    assert!(matches!(
        ask(&client, &task("idle-b"), &TaskRequest::StartServer(beside)).await,
        Reply::ServerReady(_)
    ));
    match first.await.unwrap() {
        Reply::ClientDone(o) => assert!(!o.idle && o.succeeded(), "{o:?}"),
        other => panic!("{other:?}"),
    }
    for (w, pair) in [("idle-b", "p4"), ("idle-a", "p2")] {
        let stop = TaskRequest::StopServer {
            run: run.clone(),
            pair: pair.into(),
        };
        match ask(&client, &task(w), &stop).await {
            Reply::ServerStopped(o) => assert_eq!(o.idle, w == "idle-a", "{w} {pair}: {o:?}"),
            other => panic!("{other:?}"),
        }
    }
}

/// A command of the catalogue for `pair` on loopback, `secs` long.
fn spec_for(run: &RunId, bench: &str, role: Role, pair: &str, secs: u32) -> CommandSpec {
    allow::spec(
        netbench_bench::find(bench).unwrap(),
        role,
        run,
        pair,
        TaskParams {
            server_ip: "127.0.0.1".parse().unwrap(),
            duration_seconds: secs,
            parameters: Default::default(),
        },
    )
}

/// `launch` with a kubeconfig that does not parse, and with one whose API server does not
/// answer: each its own clear message (exit 3), naming what to fix.
#[test]
fn a_bad_kubeconfig_and_an_unreachable_api_server_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.kubeconfig");
    std::fs::write(&garbage, "clusters: [this is not: a kubeconfig\n").unwrap();
    let out = run(netbench()
        .args(["launch", "--benchmark", "iperf3-tcp"])
        .env("KUBECONFIG", &garbage)
        .env_remove("KUBERNETES_SERVICE_HOST"));
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot set up a Kubernetes client")
            && err.contains(&format!("KUBECONFIG={}", garbage.display())),
        "{err}"
    );

    let nowhere = dir.path().join("nowhere.kubeconfig");
    std::fs::write(
        &nowhere,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"https://127.0.0.1:1\", insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    let out = run(netbench()
        .args(["launch", "--benchmark", "iperf3-tcp", "--timeout", "10s"])
        .env("KUBECONFIG", &nowhere)
        .env_remove("KUBERNETES_SERVICE_HOST"));
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot list nodes")
            && err.contains("The Kubernetes API server did not answer"),
        "{err}"
    );
}

/// Zombie children of a worker process, from /proc.
fn zombie_children(parent: u32) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 1..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            (f.first() == Some(&"Z") && f.get(1) == Some(&parent.to_string().as_str()))
                .then(|| stat.clone())
        })
        .collect()
}

/// The worker reaps the orphans of the tools it runs (it is PID 1 in its container, with no
/// init): after netperf pairs, no zombie child is left. Before, netserver's per-test children,
/// re-parented to the worker, stayed zombies for the life of the pod.
#[tokio::test]
async fn a_worker_leaves_no_zombie_after_netperf_pairs() {
    let _ports = HOST_PORTS.lock().await;
    let server = nats();
    let run: RunId = "badinput4".parse().unwrap();
    let client = async_nats::connect(&server.url).await.unwrap();
    let workers = welcomed_workers(&client, &server.url, &run, &["reap-a"]).await;
    let task = subjects::task(&run, &WorkerId::for_name("reap-a"));
    for (i, bench) in ["netperf-tcp-rr", "netperf-tcp-stream", "netperf-tcp-rr"]
        .iter()
        .enumerate()
    {
        let pair = format!("z{i}");
        let srv = spec_for(&run, bench, Role::Server, &pair, 1);
        let cli = spec_for(&run, bench, Role::Client, &pair, 1);
        assert!(matches!(
            ask(&client, &task, &TaskRequest::StartServer(srv)).await,
            Reply::ServerReady(_)
        ));
        match ask(&client, &task, &TaskRequest::RunClient(cli)).await {
            Reply::ClientDone(o) => assert!(o.succeeded(), "{o:?}"),
            other => panic!("{other:?}"),
        }
        let stop = TaskRequest::StopServer {
            run: run.clone(),
            pair,
        };
        assert!(matches!(
            ask(&client, &task, &stop).await,
            Reply::ServerStopped(_)
        ));
    }
    // And a server stopped in the middle of a test: netserver and its per-test child die
    // together, and the child, re-parented to the worker, is a zombie until reaped.
    let srv = spec_for(&run, "netperf-tcp-rr", Role::Server, "zz", 3);
    let cli = spec_for(&run, "netperf-tcp-rr", Role::Client, "zz", 3);
    assert!(matches!(
        ask(&client, &task, &TaskRequest::StartServer(srv)).await,
        Reply::ServerReady(_)
    ));
    let running = tokio::spawn({
        let (client, task) = (client.clone(), task.clone());
        async move { ask(&client, &task, &TaskRequest::RunClient(cli)).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stop = TaskRequest::StopServer {
        run: run.clone(),
        pair: "zz".into(),
    };
    assert!(matches!(
        ask(&client, &task, &stop).await,
        Reply::ServerStopped(_)
    ));
    let _ = running.await;
    // The reaper runs every second.
    let pid = workers[0].0.id();
    let mut left = zombie_children(pid);
    for _ in 0..30 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = zombie_children(pid);
    }
    assert!(left.is_empty(), "zombies left: {left:?}");
}

/// Real workers on loopback, each welcomed as an orchestrator would (the test plays it).
async fn welcomed_workers(
    client: &async_nats::Client,
    url: &str,
    run: &RunId,
    names: &[&str],
) -> Vec<Proc> {
    let mut reg = client
        .subscribe(subjects::registrations(run))
        .await
        .unwrap();
    client.flush().await.unwrap();
    let workers: Vec<Proc> = names
        .iter()
        .map(|n| start_worker(url, run.as_str(), n, "127.0.0.1"))
        .collect();
    for _ in names {
        let msg = tokio::time::timeout(Duration::from_secs(20), futures::StreamExt::next(&mut reg))
            .await
            .expect("the workers register")
            .unwrap();
        welcome(client, msg, run).await;
    }
    workers
}
