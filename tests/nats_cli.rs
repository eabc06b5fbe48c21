//! The README's `nats` lines, run as written with the real NATS CLI against real `netbench local`
//! runs: live `nats sub` on a server of your own (the README's way to watch a run live), and the
//! read-only observer login that `--keep-nats` prints (plain and `--tls`), with `nats sub`,
//! `nats stream view` (in a terminal: it pages interactively), `nats kv get` and `netbench watch`;
//! and what that login may not do: publish, read replies outside its own inbox prefix
//! (`--inbox-prefix _INBOX_observer`), use the durable consumer API, delete a consumer.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const RESULTS: &str = "netbench.*.result.>";
const EVENTS: &str = "netbench.*.event";

/// Root (network namespaces) and the NATS CLI, checked before anything runs.
fn need_root_and_cli() {
    if !is_root() {
        panic!("these tests need root (network namespaces); CI runs as root");
    }
    nats_cli();
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// `nats ARGS`, waited for, output shown.
fn nats(args: &[String]) -> std::process::Output {
    run(Command::new(nats_cli()).args(args).stdin(Stdio::null()))
}

/// `nats ARGS` left running (e.g. `nats sub`), its stdout and stderr going to files in `dir`.
struct Running {
    child: Reaped,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    fn start(dir: &Path, name: &str, args: &[String]) -> Running {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        let child = Command::new(nats_cli())
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("nats runs");
        Running {
            child: Reaped(child),
            stdout,
            stderr,
        }
    }

    fn printed(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn said(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Ctrl-C, as a person stops `nats sub`; returns what it printed.
    fn stop(mut self) -> String {
        self.child.interrupt();
        let printed = self.printed();
        eprintln!(
            "--- nats {:?}\n--- stdout:\n{printed}\n--- stderr:\n{}",
            self.stdout.file_stem(),
            self.said()
        );
        printed
    }
}

/// Each message is one JSON document; returns them by subject.
fn json_messages(printed: &str, what: &str) -> Vec<(String, Value)> {
    printed_messages(printed)
        .into_iter()
        .map(|m| {
            let v = serde_json::from_str::<Value>(&m.body).unwrap_or_else(|e| {
                panic!(
                    "{what}: a message on {} is not one JSON document ({e}): {:?}",
                    m.subject, m.body
                )
            });
            (m.subject, v)
        })
        .collect()
}

/// (client, server) of every entry in the results file.
fn file_pairs(results: &Path) -> BTreeSet<(String, String)> {
    let file = read_json(results);
    file["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(pair_of)
        .collect()
}

fn pair_of(v: &Value) -> (String, String) {
    let side = |s: &str| {
        v["task"][s]["worker"]
            .as_str()
            .unwrap_or_else(|| panic!("no task.{s}.worker in {v}"))
            .to_string()
    };
    (side("client"), side("server"))
}

/// The results of `run` among `messages`: each one once, and exactly the results file's pairs.
fn assert_results_match(
    messages: &[(String, Value)],
    run: &str,
    results: &Path,
    what: &str,
) -> usize {
    let subject = format!("netbench.{run}.result.iperf3-tcp");
    let ours: Vec<&Value> = messages
        .iter()
        .filter(|(s, _)| *s == subject)
        .map(|(_, v)| v)
        .collect();
    let pairs: Vec<(String, String)> = ours.iter().map(|v| pair_of(v)).collect();
    let unique: BTreeSet<(String, String)> = pairs.iter().cloned().collect();
    assert_eq!(pairs.len(), unique.len(), "{what}: a pair twice: {pairs:?}");
    assert_eq!(
        unique,
        file_pairs(results),
        "{what}: not the results file's pairs"
    );
    for v in &ours {
        assert_eq!(v["run"], run, "{what}");
        assert_eq!(v["benchmark"], "iperf3-tcp", "{what}");
        assert_eq!(v["task"]["status"], 0, "{what}: {}", v["error"]);
    }
    ours.len()
}

/// The events of `run` among `messages`, counted by kind.
fn event_kinds(messages: &[(String, Value)], run: &str) -> BTreeMap<String, usize> {
    let subject = format!("netbench.{run}.event");
    let mut kinds = BTreeMap::new();
    for (_, v) in messages.iter().filter(|(s, _)| *s == subject) {
        assert_eq!(v["run"], run, "{v}");
        let kind = v["event"]
            .as_str()
            .unwrap_or_else(|| panic!("no event kind: {v}"));
        *kinds.entry(kind.to_string()).or_insert(0) += 1;
    }
    kinds
}

/// A whole run's events: planned and started once, every worker joined, every pair started and
/// finished.
fn assert_whole_run(kinds: &BTreeMap<String, usize>, nodes: usize, what: &str) {
    let pairs = nodes * (nodes - 1);
    let want = BTreeMap::from([
        ("run_planned".to_string(), 1),
        ("run_started".to_string(), 1),
        ("worker_joined".to_string(), nodes),
        ("pair_started".to_string(), pairs),
        ("pair_finished".to_string(), pairs),
        ("run_finished".to_string(), 1),
    ]);
    assert_eq!(kinds, &want, "{what}: events of the run");
}

/// `netbench local` with iperf3-tcp, short, on its own subnet.
fn local(
    nodes: usize,
    octet: u8,
    run: &str,
    results: &Path,
    extra: &[&str],
) -> std::process::Output {
    support::run(
        netbench()
            .args(["local", "--benchmark", "iperf3-tcp", "--duration", "1"])
            .args(["--nodes", &nodes.to_string()])
            .args(["--subnet", &format!("198.18.{octet}.0/24"), "--run", run])
            .args(extra)
            .arg("--results")
            .arg(results),
    )
}

/// `nats sub SUBJECT` is subscribed once a probe published on a matching subject shows up in
/// its output (the probe's run id is `probe`, so it is told apart from the real run's).
fn wait_subscribed(sub: &Running, server: &[String], probe_subject: &str) {
    let start = Instant::now();
    while !sub.printed().contains(probe_subject) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nats sub never subscribed; it said: {}",
            sub.said()
        );
        let mut args = server.to_vec();
        args.extend(strings(&["pub", probe_subject, r#"{"probe": true}"#]));
        let out = Command::new(nats_cli())
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "nats pub probe: {out:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Wait (at most 10 s) until `printed` has `n` messages on `subject`.
fn wait_for(sub: &Running, subject: &str, n: usize) {
    let start = Instant::now();
    while printed_messages(&sub.printed())
        .iter()
        .filter(|m| m.subject == subject)
        .count()
        < n
        && start.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The one permissions violation the observer meets in `nats stream view`: its pager consumer
/// (a durable in memory that expires after an idle hour) is deleted at the end, and the observer
/// may delete no consumer.
const PAGER_DELETE: &str =
    "Permissions Violation for Publish to \"$JS.API.CONSUMER.DELETE.NETBENCH.stream_pager_";

/// `nats stream view NETBENCH` in a terminal, as written plus `login`: every message it shows is
/// JSON; returns them. `observer`: the pager's refused delete is the only violation allowed.
fn stream_view(command: &[String], what: &str, observer: bool) -> Vec<(String, Value)> {
    let (program, args) = command.split_first().expect("a command");
    assert_eq!(program, "nats");
    let (code, shown) = in_terminal(&nats_cli(), args, Duration::from_secs(90));
    eprintln!(
        "--- {command:?} in a terminal exited {code:?}:\n{}",
        plain_text(&shown)
    );
    assert_eq!(code, Some(0), "{what}: nats stream view failed");
    let plain = plain_text(&shown);
    let violations: Vec<&str> = plain
        .lines()
        .filter(|l| l.contains("Violation") && !(observer && l.contains(PAGER_DELETE)))
        .collect();
    assert!(
        violations.is_empty(),
        "{what}: nats stream view ran into a permissions violation: {violations:?}\n{plain}"
    );
    assert!(
        plain.contains("Reached apparent end of data"),
        "{what}: stream view did not reach the end:\n{plain}"
    );
    json_messages(&shown, what)
}

/// The run state from `nats kv get NETBENCH_RUNS RUN` as written (the CLI shows the first 120
/// bytes) and with `--raw` (the whole value, JSON).
fn kv_state(login: &[String], run: &str, pairs: usize) {
    let mut args = login.to_vec();
    args.extend(strings(&["kv", "get", "NETBENCH_RUNS", run]));
    let out = nats(&args);
    assert!(out.status.success(), "nats kv get failed");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(&format!("NETBENCH_RUNS > {run} revision:")),
        "{shown}"
    );
    assert!(shown.contains(&format!(r#"{{"run":"{run}""#)), "{shown}");
    args.push("--raw".into());
    let out = nats(&args);
    assert!(out.status.success(), "nats kv get --raw failed");
    let state: Value = serde_json::from_slice(&out.stdout).expect("the run state is JSON");
    assert_eq!(state["run"], run);
    assert_eq!(state["phase"], "done", "{state}");
    assert_eq!(state["pairs_total"], pairs, "{state}");
    assert_eq!(state["pairs_done"], pairs, "{state}");
    assert_eq!(state["pairs_failed"], 0, "{state}");
}

/// The README's way to watch a local run live: a nats-server of your own (`nats-server -js`),
/// `netbench local --nats-url`, and its four `nats` lines as written.
#[test]
fn readme_lines_watch_a_run_on_your_own_server() {
    need_root_and_cli();
    let nodes = 3;
    let run = "nc1cli01";
    let server = plain_jetstream();
    let login = strings(&["--server", &server.url]);
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");

    let started = Instant::now();
    let with = |words: &[&str]| [login.clone(), strings(words)].concat();
    let results_sub = Running::start(dir.path(), "results", &with(&["sub", RESULTS]));
    let events_sub = Running::start(dir.path(), "events", &with(&["sub", EVENTS]));
    wait_subscribed(&results_sub, &login, "netbench.probe.result.x");
    wait_subscribed(&events_sub, &login, "netbench.probe.event");

    let out = local(nodes, 50, run, &results, &["--nats-url", &server.url]);
    assert_eq!(out.status.code(), Some(0), "the run should succeed");
    let pairs = nodes * (nodes - 1);
    wait_for(
        &results_sub,
        &format!("netbench.{run}.result.iperf3-tcp"),
        pairs,
    );
    wait_for(
        &events_sub,
        &format!("netbench.{run}.event"),
        2 * pairs + nodes + 3,
    );

    let live = json_messages(&results_sub.stop(), "nats sub results");
    assert!(
        live.iter()
            .all(|(s, _)| s.starts_with(&format!("netbench.{run}.result."))
                || s.starts_with("netbench.probe.")),
        "nats sub {RESULTS} printed another subject: {live:?}"
    );
    assert_eq!(
        assert_results_match(&live, run, &results, "nats sub live"),
        pairs
    );
    let live_events = json_messages(&events_sub.stop(), "nats sub events");
    assert_whole_run(&event_kinds(&live_events, run), nodes, "nats sub live");

    let stored = stream_view(
        &[strings(&["nats"]), with(&["stream", "view", "NETBENCH"])].concat(),
        "stream view",
        false,
    );
    assert_eq!(
        assert_results_match(&stored, run, &results, "stream view"),
        pairs
    );
    assert_whole_run(&event_kinds(&stored, run), nodes, "stream view");
    assert!(
        stored
            .iter()
            .all(|(s, _)| s.starts_with(&format!("netbench.{run}."))),
        "the stream holds only this run (the probes came before it existed)"
    );

    kv_state(&login, run, pairs);
    eprintln!("own server: {:?}", started.elapsed());
}

/// A `--keep-nats` run, then its printed observer login with the README's `nats` lines, and a
/// publish with that login refused. With `tls`, the CLI is given the run's CA (`--tlsca`).
fn kept_server_read_only(octet: u8, run: &str, tls: bool) {
    need_root_and_cli();
    let nodes = 2;
    let pairs = nodes * (nodes - 1);
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    let extra: &[&str] = if tls {
        &["--keep-nats", "--tls"]
    } else {
        &["--keep-nats"]
    };
    let out = local(nodes, octet, run, &results, extra);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let kept = KeptNats::from_output(&stdout);
    assert_eq!(out.status.code(), Some(0), "the run should succeed");
    let kept =
        kept.unwrap_or_else(|| panic!("--keep-nats printed no URL, pid and login: {stdout}"));
    assert!(
        kept.alive(),
        "the kept nats-server (pid {}) is not running",
        kept.pid
    );
    let printed = kept.printed_command.clone();
    assert_eq!(
        printed.first().map(String::as_str),
        Some("nats"),
        "{printed:?}"
    );
    assert!(
        printed.ends_with(&strings(&["stream", "view", "NETBENCH"])),
        "{printed:?}"
    );
    assert_eq!(
        kept.login.get(..5),
        Some(&strings(&["--server", &kept.url, "--user", "observer", "--password"])[..]),
        "the printed command: {printed:?}"
    );
    // The observer's replies come only on its own inbox prefix, so the CLI needs
    // `--inbox-prefix _INBOX_observer`; with --tls the server takes TLS only, from the run's CA,
    // which is in the kept store: `--tlsca STORE/ca.pem`. The printed command needs both
    // (checked at the end); until it prints them, the other checks add them.
    let ca = kept.store.join("ca.pem");
    let tlsca = strings(&["--tlsca", &ca.to_string_lossy()]);
    let inbox = strings(&["--inbox-prefix", "_INBOX_observer"]);
    let extra: Vec<&[String]> = kept.login.get(6..).unwrap_or_default().chunks(2).collect();
    assert!(
        kept.login.len() >= 6
            && extra
                .iter()
                .all(|pair| *pair == &inbox[..] || *pair == &tlsca[..]),
        "the printed command: {printed:?}"
    );
    let printed_inbox = extra.contains(&&inbox[..]);
    let printed_ca = extra.contains(&&tlsca[..]);
    let mut login = kept.login.clone();
    if !printed_inbox {
        login.extend(inbox.iter().cloned());
    }
    if tls {
        assert!(
            ca.is_file(),
            "no ca.pem in the kept store {}",
            kept.store.display()
        );
        if !printed_ca {
            login.extend(tlsca.iter().cloned());
        }
    }
    let with = |words: &[&str]| [login.clone(), strings(words)].concat();
    let still_up = |after: &str| {
        assert!(
            kept.alive(),
            "the kept nats-server (pid {}) died after {after}. Likely cause: its stderr is a pipe \
             into `netbench local`, which has exited, so the first line it logs (a refused \
             permission, a failed TLS handshake) kills it with SIGPIPE",
            kept.pid
        );
    };

    kv_state(&login, run, pairs);
    still_up("nats kv get");

    // The live subscriptions as written are allowed to the observer (the run is over, so they
    // see nothing new)...
    let sub_dir = tempfile::tempdir().unwrap();
    let live = Running::start(sub_dir.path(), "live", &with(&["sub", RESULTS]));
    let start = Instant::now();
    while !live.said().contains("Subscribing on") && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let said = live.said();
    live.stop();
    assert!(
        said.contains(&format!("Subscribing on {RESULTS}")),
        "{said}"
    );
    assert!(!said.contains("Violation"), "{said}");
    still_up("nats sub");

    // ... and the same subjects replayed from the stream: the run's results and events.
    for (subject, what) in [(RESULTS, "results"), (EVENTS, "events")] {
        let out = nats(&with(&[
            "sub", subject, "--stream", "NETBENCH", "--all", "--wait", "2s",
        ]));
        assert!(
            out.status.success(),
            "nats sub {subject} --stream NETBENCH --all"
        );
        let stored = json_messages(&String::from_utf8_lossy(&out.stdout), what);
        if subject == RESULTS {
            assert_eq!(
                assert_results_match(&stored, run, &results, "replay"),
                pairs
            );
            assert_eq!(stored.len(), pairs);
        } else {
            assert_whole_run(&event_kinds(&stored, run), nodes, "replay");
        }
    }
    still_up("nats sub --stream NETBENCH --all");

    // The printed command (plus what it lacks of --inbox-prefix and, with --tls, --tlsca), in a
    // terminal.
    let command = [strings(&["nats"]), with(&["stream", "view", "NETBENCH"])].concat();
    assert!(
        tls || !printed_inbox || command == printed,
        "{command:?} is not {printed:?}"
    );
    let stored = stream_view(&command, "stream view with the printed login", true);
    still_up("nats stream view");
    assert_eq!(
        assert_results_match(&stored, run, &results, "stream view"),
        pairs
    );
    assert_whole_run(&event_kinds(&stored, run), nodes, "stream view");

    // Read-only: a publish with the observer login is refused, and nothing is stored.
    let count = || {
        let out = nats(&with(&["stream", "info", "NETBENCH", "--json"]));
        assert!(out.status.success(), "nats stream info NETBENCH");
        let info: Value = serde_json::from_slice(&out.stdout).expect("stream info JSON");
        info["state"]["messages"].as_u64().expect("state.messages")
    };
    let before = count();
    let subject = format!("netbench.{run}.result.iperf3-tcp");
    let out = nats(&with(&["pub", &subject, r#"{"forged": true}"#]));
    let said = String::from_utf8_lossy(&out.stderr);
    still_up("a refused nats pub");
    assert!(
        !out.status.success(),
        "the observer's publish was not refused: {said}"
    );
    assert!(
        said.contains(&format!(
            "nats: error: nats: permissions violation: Permissions Violation for Publish to \"{subject}\""
        )),
        "{said}"
    );
    assert_eq!(count(), before, "a forged result was stored");

    observer_reads_nothing_else(&kept, &login, run, nodes, tls.then_some(&ca));
    still_up("the observer's refused reads and deletes");

    assert!(
        printed_inbox,
        "the printed command lacks `--inbox-prefix _INBOX_observer`; as printed, every request of \
         the CLI fails (\"Permissions Violation for Subscription to _INBOX.…\"). It should read: \
         nats {}",
        command[1..].join(" ")
    );
    if tls {
        assert!(
            printed_ca,
            "with --tls the printed command lacks the run's CA; as printed it fails with \
             \"certificate signed by unknown authority\". It should read: nats {}",
            command[1..].join(" ")
        );
        // Without the run's CA the CLI refuses the server's certificate.
        let no_ca = &login[..6];
        let out = nats(
            &[
                no_ca.to_vec(),
                strings(&["kv", "get", "NETBENCH_RUNS", run]),
            ]
            .concat(),
        );
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("certificate signed by unknown authority"),
            "{out:?}"
        );
    }
}
#[test]
fn keep_nats_observer_login_reads_everything_and_writes_nothing() {
    kept_server_read_only(51, "nc2cli01", false);
}

#[test]
fn keep_nats_with_tls_observer_login_and_the_runs_ca() {
    kept_server_read_only(52, "nc3cli01", true);
}

/// The orchestrator's login of a kept server, from the `auth.conf` in its store.
fn orchestrator_login(kept: &KeptNats, tail: &[String]) -> Vec<String> {
    let auth = std::fs::read_to_string(kept.store.join("auth.conf")).expect("auth.conf");
    let line = auth
        .lines()
        .find(|l| l.contains(r#"user: "orchestrator""#))
        .expect("an orchestrator user in auth.conf");
    let password = line
        .split(r#"password: ""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("its password");
    let mut login = strings(&[
        "--server",
        &kept.url,
        "--user",
        "orchestrator",
        "--password",
        password,
        "--inbox-prefix",
        "_INBOX_orchestrator",
    ]);
    login.extend(tail.iter().cloned());
    login
}

/// With the observer's login (`login`, which has its inbox prefix and, with TLS, the CA):
/// `netbench watch` replays the run; the default `_INBOX.` (where other clients' replies go) is not
/// the observer's to read, so without `--inbox-prefix` the CLI gets no answers; the durable API
/// and deleting a consumer (here: a dashboard's, made with the orchestrator's login) are refused.
fn observer_reads_nothing_else(
    kept: &KeptNats,
    login: &[String],
    run: &str,
    nodes: usize,
    ca: Option<&PathBuf>,
) {
    let with = |words: &[&str]| [login.to_vec(), strings(words)].concat();
    let tls_tail: Vec<String> = ca
        .map(|c| strings(&["--tlsca", &c.to_string_lossy()]))
        .unwrap_or_default();
    let orchestrator =
        |words: &[&str]| [orchestrator_login(kept, &tls_tail), strings(words)].concat();
    let password = &login[5];

    // `netbench watch` as the observer: the whole run from the stream (the server holds only
    // this run). Bounded in time: it must not follow live with --no-follow.
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("watch.out"), dir.path().join("watch.err"));
    let mut watch = netbench();
    watch
        .args(["watch", "--nats-url", &kept.url, "--nats-user", "observer"])
        .args(["--nats-password", password, "--no-follow"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    if let Some(ca) = ca {
        watch.arg("--nats-ca").arg(ca);
    }
    let mut child = Reaped(watch.spawn().expect("netbench watch runs"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(60) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let said = std::fs::read_to_string(&err_path).unwrap_or_default();
    eprintln!(
        "--- netbench watch as observer:\n{}\n{said}",
        std::fs::read_to_string(&out_path).unwrap_or_default()
    );
    let status = status.unwrap_or_else(|| panic!("netbench watch --no-follow ran on: {said}"));
    assert_eq!(status.code(), Some(0), "netbench watch as the observer");
    let pairs = nodes * (nodes - 1);
    let messages = pairs + 2 * pairs + nodes + 3;
    assert!(
        said.contains(&format!(
            "replayed {messages} message(s) from stream NETBENCH"
        )),
        "netbench watch did not replay the run's {messages} messages: {said}"
    );
    drop(child);

    // Without its own inbox prefix the CLI subscribes to `_INBOX.…`, which is refused.
    let out = nats(
        &[
            login[..6].to_vec(),
            tls_tail.clone(),
            strings(&["kv", "get", "NETBENCH_RUNS", run]),
        ]
        .concat(),
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "kv get without --inbox-prefix: {said}"
    );
    assert!(
        said.contains("Permissions Violation for Subscription to \"_INBOX."),
        "{said}"
    );
    // Nor may it listen on all default inboxes (other clients' request-reply answers).
    let dir = tempfile::tempdir().unwrap();
    let spy = Running::start(dir.path(), "spy", &with(&["sub", "_INBOX.>"]));
    let start = Instant::now();
    while !spy.said().contains("Violation") && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let said = spy.said();
    spy.stop();
    assert!(
        said.contains("Permissions Violation for Subscription to \"_INBOX.>\""),
        "the observer's nats sub _INBOX.> was not refused: {said}"
    );

    // No durable consumer API...
    let out = nats(&with(&[
        "req",
        "--timeout",
        "2s",
        "$JS.API.CONSUMER.DURABLE.CREATE.NETBENCH.spy",
        r#"{"stream_name":"NETBENCH","config":{"durable_name":"spy","ack_policy":"none"}}"#,
    ]));
    let said = String::from_utf8_lossy(&out.stderr);
    // (`nats req` exits 0 even so: the refusal is an asynchronous server error.)
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        !answer.contains("consumer_create_response"),
        "DURABLE.CREATE answered: {answer}"
    );
    assert!(
        said.contains(
            "Permissions Violation for Publish to \"$JS.API.CONSUMER.DURABLE.CREATE.NETBENCH.spy\""
        ),
        "{said}"
    );
    let out = nats(&orchestrator(&["consumer", "info", "NETBENCH", "spy"]));
    assert!(
        !out.status.success(),
        "the observer made a durable consumer"
    );

    // ... and no deleting another client's consumer.
    let out = nats(&orchestrator(&[
        "consumer",
        "add",
        "NETBENCH",
        "dashboard",
        "--pull",
        "--defaults",
    ]));
    assert!(out.status.success(), "the orchestrator adds a consumer");
    let out = nats(&with(&[
        "consumer",
        "rm",
        "NETBENCH",
        "dashboard",
        "--force",
    ]));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the observer deleted a consumer: {said}"
    );
    assert!(
        said.contains(
            "Permissions Violation for Publish to \"$JS.API.CONSUMER.DELETE.NETBENCH.dashboard\""
        ),
        "{said}"
    );
    let out = nats(&orchestrator(&[
        "consumer",
        "info",
        "NETBENCH",
        "dashboard",
    ]));
    assert!(out.status.success(), "the dashboard's consumer is gone");
}
