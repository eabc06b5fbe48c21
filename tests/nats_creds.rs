//! An existing NATS in production: `--nats-creds` (user JWT + NKey seed) against a real
//! nats-server in operator mode, with operator, account and users made by the real `nsc`;
//! `--nats-nkey` and `--nats-token` against a real nats-server listing such logins; and the bad
//! inputs (missing file, a file that is no .creds, a seed of the wrong kind, a user the server
//! refuses, a user lacking a subject), each a clear error and exit 3.

mod support;

use netbench_local::nats_server::{self, NatsServer};
use std::path::PathBuf;
use std::process::{Command, Output};
use support::{is_root, leftover_namespaces, netbench, read_json, run};

/// ExitCode::RunFailed.
const RUN_FAILED: i32 = 3;

/// The real `nsc`, with its home, config, stores and keys in a temp dir (nothing touches ~).
struct Nsc {
    dir: tempfile::TempDir,
}

impl Nsc {
    fn new() -> Nsc {
        let dir = tempfile::Builder::new()
            .prefix("netbench-nsc-")
            .tempdir()
            .unwrap();
        Nsc { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn nsc(&self, args: &[&str]) -> String {
        let bin = ["/usr/local/bin/nsc", "nsc"]
            .into_iter()
            .find(|b| Command::new(b).arg("--version").output().is_ok())
            .expect("nsc installed (tests/setup-debian unpacks /work/shared/bin/nsc.xz)");
        let out = Command::new(bin)
            .env("NSC_HOME", self.path("home"))
            .env("NKEYS_PATH", self.path("keys"))
            .env_remove("NSC_CWD_ONLY")
            .arg("--config-dir")
            .arg(self.path("config"))
            .arg("--data-dir")
            .arg(self.path("stores"))
            .arg("--keystore-dir")
            .arg(self.path("keys"))
            .args(args)
            .output()
            .expect("nsc runs");
        assert!(
            out.status.success(),
            "nsc {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `nsc generate creds` for `user` of `account`, written to a file in the temp dir.
    fn creds(&self, account: &str, user: &str) -> PathBuf {
        let text = self.nsc(&["generate", "creds", "--account", account, "--name", user]);
        let file = self.path(&format!("{user}.creds"));
        std::fs::write(&file, text).unwrap();
        file
    }

    /// Every seed in the keystore of one kind (`A` accounts, `U` users, `O` operators), as
    /// (public key, seed).
    fn seeds(&self, kind: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let root = self.path("keys").join("keys").join(kind);
        for sub in std::fs::read_dir(&root).unwrap() {
            for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
                let f = f.unwrap().path();
                let public = f.file_stem().unwrap().to_string_lossy().into_owned();
                let seed = std::fs::read_to_string(&f).unwrap().trim().to_string();
                out.push((public, seed));
            }
        }
        out
    }
}

/// An operator-mode setup made by nsc: operator `op` (with its system account), account
/// `acc` with JetStream, user `full` (no restrictions) and user `noreg` that may not publish
/// any worker's register subject; the server config from `nsc generate config --mem-resolver`.
struct Operator {
    nsc: Nsc,
    server: NatsServer,
    full: PathBuf,
    noreg: PathBuf,
}

fn operator_mode() -> Operator {
    let nsc = Nsc::new();
    nsc.nsc(&["add", "operator", "--name", "op", "--sys"]);
    nsc.nsc(&["add", "account", "--name", "acc"]);
    // The NETBENCH stream takes 1 GiB of file storage and the run bucket 64 MiB.
    nsc.nsc(&[
        "edit",
        "account",
        "--name",
        "acc",
        "--js-mem-storage",
        "64M",
        "--js-disk-storage",
        "1500M",
        "--js-streams",
        "-1",
        "--js-consumer",
        "-1",
    ]);
    nsc.nsc(&["add", "user", "--account", "acc", "--name", "full"]);
    nsc.nsc(&[
        "add",
        "user",
        "--account",
        "acc",
        "--name",
        "noreg",
        "--deny-pub",
        "netbench.*.register.*",
    ]);
    let conf = nsc.path("resolver.conf");
    nsc.nsc(&[
        "generate",
        "config",
        "--mem-resolver",
        "--sys-account",
        "SYS",
        "--config-file",
        conf.to_str().unwrap(),
    ]);
    let full = nsc.creds("acc", "full");
    let noreg = nsc.creds("acc", "noreg");
    // netbench's own server config, with nsc's operator, accounts and resolver as its auth.conf.
    let server = NatsServer::start_with_auth(
        &nats_server::locate(None).unwrap(),
        &std::fs::read_to_string(&conf).unwrap(),
    )
    .expect("nats-server starts in operator mode");
    Operator {
        nsc,
        server,
        full,
        noreg,
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `netbench worker` with these extra args; exits by its short deadline at the latest.
fn worker(url: &str, extra: &[&str]) -> Output {
    run(netbench()
        .args(["worker", "--nats-url", url, "--run", "credsrun1"])
        .args(["--name", "node-1", "--ip", "127.0.0.1", "--deadline", "3s"])
        .args(extra)
        .env_remove("NATS_CREDS")
        .env_remove("NATS_NKEY")
        .env_remove("NATS_TOKEN")
        .env("RUST_LOG", "info"))
}

/// `netbench watch --no-follow` with these login args: connects, shows what the stream holds.
fn watch(url: &str, extra: &[&str]) -> Output {
    run(netbench()
        .args([
            "watch",
            "--nats-url",
            url,
            "--run",
            "credsrun1",
            "--no-follow",
        ])
        .args(extra)
        .env_remove("NATS_CREDS")
        .env_remove("NATS_NKEY")
        .env_remove("NATS_TOKEN"))
}

fn assert_refused(out: &Output, needles: &[&str]) {
    let t = text(out);
    assert_eq!(out.status.code(), Some(RUN_FAILED), "{t}");
    for n in needles {
        assert!(t.contains(n), "{n:?} missing in: {t}");
    }
}

#[tokio::test]
async fn local_run_with_creds_on_an_operator_mode_server() {
    if !is_root() {
        panic!("this test needs root (network namespaces); CI runs as root");
    }
    let op = operator_mode();
    let out_dir = tempfile::tempdir().unwrap();
    let results = out_dir.path().join("results.json");
    let out = run(netbench()
        .args(["local", "--nats-url", &op.server.url, "--nats-creds"])
        .arg(&op.full)
        .args([
            "--benchmark",
            "iperf3-tcp",
            "--nodes",
            "2",
            "--duration",
            "1",
        ])
        .args([
            "--subnet",
            "198.18.75.0/24",
            "--run",
            "credsrun1",
            "--results",
        ])
        .arg(&results)
        .env_remove("NATS_CREDS"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = read_json(&results);
    let entries = doc["results"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{doc}");
    for e in entries {
        support::assert_seed_keys(e);
        assert_eq!(e["task"]["status"], 0, "{e}");
    }

    // The results are in the account's NETBENCH stream, read with the same creds.
    let client = async_nats::ConnectOptions::with_credentials_file(&op.full)
        .await
        .unwrap()
        .connect(&op.server.url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("NETBENCH").await.unwrap();
    let info = stream.info().await.unwrap();
    assert!(info.state.messages >= 2, "{:?}", info.state);
    let mut results_seen = 0;
    for seq in 1..=info.state.last_sequence {
        let Ok(msg) = stream.get_raw_message(seq).await else {
            continue;
        };
        if msg.subject.as_str() == "netbench.credsrun1.result.iperf3-tcp" {
            results_seen += 1;
        }
    }
    assert_eq!(results_seen, 2, "result messages in the stream");
    assert!(leftover_namespaces("nb-").is_empty());
    drop(op.nsc);
}

#[tokio::test]
async fn local_with_bad_creds_starts_nothing() {
    if !is_root() {
        panic!("this test needs root (network namespaces); CI runs as root");
    }
    let op = operator_mode();
    let garbage = op.nsc.path("garbage.creds");
    std::fs::write(&garbage, "not a creds file\n").unwrap();
    let out = run(netbench()
        .args(["local", "--nats-url", &op.server.url, "--nats-creds"])
        .arg(&garbage)
        .args([
            "--benchmark",
            "iperf3-tcp",
            "--nodes",
            "2",
            "--duration",
            "1",
        ])
        .args(["--subnet", "198.18.76.0/24"]));
    assert_refused(
        &out,
        &[
            garbage.to_str().unwrap(),
            "no user JWT",
            "nsc generate creds",
        ],
    );
    assert!(!text(&out).contains("worker logs"), "nothing started");
    assert!(leftover_namespaces("nb-").is_empty());
}

#[test]
fn a_user_lacking_the_register_subject_is_told_which_subject() {
    let op = operator_mode();
    let out = worker(
        &op.server.url,
        &["--nats-creds", op.noreg.to_str().unwrap()],
    );
    assert_refused(
        &out,
        &[
            "Permissions Violation for Publish to \"netbench.credsrun1.register.",
            "lacks that permission",
        ],
    );
    // The same worker with the unrestricted user is not refused anything.
    let out = worker(&op.server.url, &["--nats-creds", op.full.to_str().unwrap()]);
    assert!(
        !text(&out).contains("Permissions Violation"),
        "{}",
        text(&out)
    );
    let out = watch(&op.server.url, &["--nats-creds", op.full.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn bad_creds_and_seed_files_get_exit_3_and_say_what_to_fix() {
    let op = operator_mode();
    let url = op.server.url.clone();
    let nsc = &op.nsc;

    let missing = nsc.path("no-such.creds");
    for sub in [worker as fn(&str, &[&str]) -> Output, watch] {
        let out = sub(&url, &["--nats-creds", missing.to_str().unwrap()]);
        assert_refused(
            &out,
            &[missing.to_str().unwrap(), "cannot read it", ".creds"],
        );
        let out = sub(&url, &["--nats-nkey", missing.to_str().unwrap()]);
        assert_refused(&out, &[missing.to_str().unwrap(), "cannot read it", "SU"]);
    }

    // A file that is no creds file at all.
    let garbage = nsc.path("garbage.creds");
    std::fs::write(&garbage, "hello\n").unwrap();
    let out = worker(&url, &["--nats-creds", garbage.to_str().unwrap()]);
    assert_refused(
        &out,
        &[
            garbage.to_str().unwrap(),
            "no user JWT",
            "nsc generate creds",
        ],
    );

    // A real creds file whose user seed was swapped for the account's seed.
    let good = std::fs::read_to_string(&op.full).unwrap();
    let user_seed = good
        .lines()
        .find(|l| l.starts_with("SU"))
        .expect("seed in creds")
        .to_string();
    let (_, account_seed) = nsc.seeds("A").into_iter().next().unwrap();
    assert!(account_seed.starts_with("SA"), "{account_seed}");
    let wrong = nsc.path("account-seed.creds");
    std::fs::write(&wrong, good.replace(&user_seed, &account_seed)).unwrap();
    let out = worker(&url, &["--nats-creds", wrong.to_str().unwrap()]);
    assert_refused(
        &out,
        &[
            wrong.to_str().unwrap(),
            "an account seed",
            "not a user seed",
        ],
    );

    // A seed with one character changed: the checksum says so.
    let mut typo = user_seed.clone();
    let c = if &typo[30..31] == "A" { "B" } else { "A" };
    typo.replace_range(30..31, c);
    let cut = nsc.path("typo.creds");
    std::fs::write(&cut, good.replace(&user_seed, &typo)).unwrap();
    let out = worker(&url, &["--nats-creds", cut.to_str().unwrap()]);
    assert_refused(&out, &[cut.to_str().unwrap(), "checksum"]);

    // An NKey file with an account seed.
    let nk = nsc.path("account.nk");
    std::fs::write(&nk, format!("{account_seed}\n")).unwrap();
    let out = watch(&url, &["--nats-nkey", nk.to_str().unwrap()]);
    assert_refused(&out, &[nk.to_str().unwrap(), "an account seed", "SU"]);

    // Creds of another operator's user: well-formed, but this server refuses the login.
    let other = Nsc::new();
    other.nsc(&["add", "operator", "--name", "elsewhere"]);
    other.nsc(&["add", "account", "--name", "acc2"]);
    other.nsc(&["add", "user", "--account", "acc2", "--name", "stranger"]);
    let stranger = other.creds("acc2", "stranger");
    let out = worker(&url, &["--nats-creds", stranger.to_str().unwrap()]);
    assert_refused(&out, &["refused the login", "--nats-creds"]);

    // No login at all on an operator-mode server.
    let out = watch(&url, &[]);
    assert_refused(&out, &["refused the login", "--nats-creds"]);
}

/// A plain nats-server with JetStream and this `authorization` block.
fn server_with(auth: &str) -> NatsServer {
    NatsServer::start_with_auth(&nats_server::locate(None).unwrap(), auth).unwrap()
}

#[test]
fn token_logins_work_and_a_wrong_token_is_refused() {
    let token = "s3cret-token-for-netbench";
    let server = server_with(&format!("authorization {{ token: \"{token}\" }}\n"));
    let out = watch(&server.url, &["--nats-token", token]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Through the environment too, and the value never shows in --help.
    let out = run(netbench()
        .args([
            "watch",
            "--nats-url",
            &server.url,
            "--run",
            "credsrun1",
            "--no-follow",
        ])
        .env("NATS_TOKEN", token));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let help = run(netbench()
        .args(["worker", "--help"])
        .env("NATS_TOKEN", token));
    assert!(text(&help).contains("--nats-token"));
    assert!(!text(&help).contains(token), "token shown in help");

    let out = watch(&server.url, &["--nats-token", "wrong"]);
    assert_refused(&out, &["refused the login", "--nats-token"]);
    assert!(!text(&out).contains(token));
    let out = watch(&server.url, &[]);
    assert_refused(&out, &["refused the login"]);
}

#[test]
fn nkey_logins_work_with_a_user_seed_file() {
    let nsc = Nsc::new();
    nsc.nsc(&["add", "operator", "--name", "op"]);
    nsc.nsc(&["add", "account", "--name", "acc"]);
    nsc.nsc(&["add", "user", "--account", "acc", "--name", "nk"]);
    let (public, seed) = nsc.seeds("U").into_iter().next().unwrap();
    let server = server_with(&format!(
        "authorization {{ users: [ {{ nkey: \"{public}\" }} ] }}\n"
    ));
    let file = nsc.path("user.nk");
    std::fs::write(&file, format!("{seed}\n")).unwrap();
    let out = watch(&server.url, &["--nats-nkey", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Another (well-formed) user seed is refused by the server.
    let stranger = Nsc::new();
    stranger.nsc(&["add", "operator", "--name", "op"]);
    stranger.nsc(&["add", "account", "--name", "acc"]);
    stranger.nsc(&["add", "user", "--account", "acc", "--name", "x"]);
    let (_, other_seed) = stranger.seeds("U").into_iter().next().unwrap();
    let other = nsc.path("other.nk");
    std::fs::write(&other, format!("{other_seed}\n")).unwrap();
    let out = watch(&server.url, &["--nats-nkey", other.to_str().unwrap()]);
    assert_refused(&out, &["refused the login", "--nats-nkey"]);
}

/// A user of `op`'s account `acc` whose JWT expired long ago (`nsc add user --expiry
/// 2020-01-01`), and its creds file.
fn expired_user(op: &Operator) -> PathBuf {
    op.nsc.nsc(&[
        "add",
        "user",
        "--account",
        "acc",
        "--name",
        "expired",
        "--expiry",
        "2020-01-01",
    ]);
    op.nsc.creds("acc", "expired")
}

#[test]
fn expired_creds_get_exit_3_and_are_told_to_generate_new_ones() {
    let op = operator_mode();
    let expired = expired_user(&op);
    let path = expired.to_str().unwrap();
    let says = [
        path,
        "the credentials expired",
        "expired at 2020-01-01 00:00:00 UTC",
        "nsc generate creds",
    ];
    let out = worker(&op.server.url, &["--nats-creds", path]);
    assert_refused(&out, &says);
    let out = run(netbench()
        .args([
            "orchestrator",
            "--nats-url",
            &op.server.url,
            "--run",
            "credsrun1",
        ])
        .args([
            "--benchmark",
            "iperf3-tcp",
            "--workers",
            "2",
            "--duration",
            "1",
        ])
        .args(["--nats-creds", path])
        .env_remove("NATS_NKEY")
        .env_remove("NATS_TOKEN"));
    assert_refused(&out, &says);
    let out = watch(&op.server.url, &["--nats-creds", path]);
    assert_refused(&out, &says);
    // The check is netbench's own, before connecting: the server would only say
    // "Authorization Violation".
    assert!(!text(&out).contains("refused the login"), "{}", text(&out));
}

#[test]
fn local_with_expired_creds_starts_nothing() {
    if !is_root() {
        panic!("this test needs root (network namespaces); CI runs as root");
    }
    let op = operator_mode();
    let expired = expired_user(&op);
    let out = run(netbench()
        .args(["local", "--nats-url", &op.server.url, "--nats-creds"])
        .arg(&expired)
        .args([
            "--benchmark",
            "iperf3-tcp",
            "--nodes",
            "2",
            "--duration",
            "1",
        ])
        .args(["--subnet", "198.18.85.0/24"]));
    assert_refused(&out, &["the credentials expired", "nsc generate creds"]);
    assert!(leftover_namespaces("nb-").is_empty());
}

/// `local` starts its own NATS unless given `--nats-url`: a login for another NATS is refused
/// (exit 2, saying why), from a flag or from its variable, before anything starts.
#[test]
fn login_flags_without_nats_url_are_refused_by_local() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("u.creds");
    std::fs::write(&file, "whatever\n").unwrap();
    let f = file.to_str().unwrap();
    let local = || {
        let mut c = netbench();
        c.args(["local", "--benchmark", "iperf3-tcp", "--nodes", "2"])
            .args(["--duration", "1", "--subnet", "198.18.86.0/24"])
            .env_remove("NATS_CREDS")
            .env_remove("NATS_NKEY")
            .env_remove("NATS_TOKEN");
        c
    };
    for (flag, value) in [
        ("--nats-creds", f),
        ("--nats-nkey", f),
        ("--nats-token", "t0ken"),
    ] {
        let out = run(local().args([flag, value]));
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(
            t.contains(flag) && t.contains("only with --nats-url"),
            "{t}"
        );
        assert!(!t.contains("t0ken"), "the token shown: {t}");
        assert!(!t.contains("worker logs"), "nothing started: {t}");
    }
    let out = run(local().env("NATS_TOKEN", "t0ken"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("NATS_TOKEN"), "{}", text(&out));
    assert!(leftover_namespaces("nb-").is_empty());
}

/// One `nsc add user` command of the README's block: the user's name and its lists.
#[derive(Debug, Default, PartialEq, Eq)]
struct Permissions {
    allow_pub: std::collections::BTreeSet<String>,
    deny_pub: std::collections::BTreeSet<String>,
    allow_sub: std::collections::BTreeSet<String>,
    responses: bool,
}

/// The `nsc add user` commands of the README's "Using an existing NATS" section, as the
/// argument lists a shell would pass (single quotes removed, continuation lines joined).
fn readme_nsc_commands() -> Vec<Vec<String>> {
    let readme = include_str!("../README.md");
    let section = readme
        .split("## Using an existing NATS")
        .nth(1)
        .expect("README section about an existing NATS");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block in that section");
    let joined = block.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("nsc add user"))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(|w| w.trim_matches('\'').to_string())
                .collect()
        })
        .collect()
}

fn readme_permissions(args: &[String]) -> (String, Permissions) {
    let mut p = Permissions::default();
    let mut name = String::new();
    let mut i = 0;
    while i < args.len() {
        let list = |v: &str| v.split(',').map(str::to_string).collect::<Vec<_>>();
        match args[i].as_str() {
            "--name" => name = args[i + 1].clone(),
            "--allow-pub" => p.allow_pub.extend(list(&args[i + 1])),
            "--deny-pub" => p.deny_pub.extend(list(&args[i + 1])),
            "--allow-sub" => p.allow_sub.extend(list(&args[i + 1])),
            "--allow-pub-response" => {
                p.responses = true;
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    (name, p)
}

/// One user's lists in nats/auth.conf.template, for every run and worker (`*`), with the
/// default reply prefix (`_INBOX.>`) instead of the per-role one (creds, NKeys and tokens use
/// the default).
fn template_permissions(user: &str) -> Permissions {
    let template: String = include_str!("../nats/auth.conf.template")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let start = template
        .find(&format!("{{ user: \"{user}\""))
        .unwrap_or_else(|| panic!("user {user} in the template"));
    let rest = &template[start + 1..];
    let block = &rest[..rest.find("{ user: ").unwrap_or(rest.len())];
    let (publish, subscribe) = block.split_at(block.find("subscribe").unwrap());
    let list = |part: &str, key: &str| -> std::collections::BTreeSet<String> {
        let Some(at) = part.find(key) else {
            return Default::default();
        };
        let inside = &part[at..];
        let inside = &inside[inside.find('[').unwrap() + 1..inside.find(']').unwrap()];
        inside
            .split('"')
            .skip(1)
            .step_by(2)
            .map(|s| {
                let s = s.replace("{{RUN}}", "*").replace("{{WORKER_ID}}", "*");
                if s.starts_with("_INBOX_") {
                    "_INBOX.>".to_string()
                } else {
                    s
                }
            })
            .collect()
    };
    Permissions {
        allow_pub: list(publish, "allow:"),
        deny_pub: list(publish, "deny:"),
        allow_sub: list(subscribe, "allow:"),
        responses: block.contains("allow_responses: true"),
    }
}

#[test]
fn the_readmes_nsc_users_have_the_templates_lists() {
    let commands = readme_nsc_commands();
    let users: Vec<(String, Permissions)> =
        commands.iter().map(|c| readme_permissions(c)).collect();
    let names: Vec<&str> = users.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "netbench-orchestrator",
            "netbench-worker",
            "netbench-observer"
        ]
    );
    for ((name, readme), role) in
        users
            .iter()
            .zip(["orchestrator", "worker-{{WORKER_ID}}", "observer"])
    {
        assert_eq!(
            readme,
            &template_permissions(role),
            "README's {name} against nats/auth.conf.template's {role}"
        );
    }
}

/// The README's three users, made by running its very `nsc` commands, run a real benchmark
/// together, each role on its own login: an orchestrator and two workers (loopback, pairs one
/// at a time), then `netbench watch` as the observer.
#[test]
fn the_readmes_nsc_users_run_a_benchmark_each_on_its_own_login() {
    let op = operator_mode();
    let mut creds = std::collections::BTreeMap::new();
    for cmd in readme_nsc_commands() {
        let args: Vec<&str> = cmd
            .iter()
            .map(|a| if a == "ACC" { "acc" } else { a.as_str() })
            .collect();
        op.nsc.nsc(&args);
        let (name, _) = readme_permissions(&cmd);
        creds.insert(name.clone(), op.nsc.creds("acc", &name));
    }
    let login = |user: &str| creds[user].to_str().unwrap().to_string();
    let url = op.server.url.clone();
    let run_id = "readmeroles1";
    let worker_login = login("netbench-worker");
    let workers: Vec<support::Reaped> = ["node-1", "node-2"]
        .into_iter()
        .map(|name| {
            support::Reaped(
                netbench()
                    .args(["worker", "--nats-url", &url, "--run", run_id])
                    .args(["--name", name, "--ip", "127.0.0.1", "--deadline", "2m"])
                    .args(["--nats-creds", &worker_login])
                    .env_remove("NATS_NKEY")
                    .env_remove("NATS_TOKEN")
                    .stdin(std::process::Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    let out = run(netbench()
        .args(["orchestrator", "--nats-url", &url, "--run", run_id])
        .args([
            "--benchmark",
            "iperf3-tcp",
            "--workers",
            "2",
            "--duration",
            "1",
        ])
        .args(["--timeout", "30s", "--deadline", "90s"])
        .args(["--nats-creds", &login("netbench-orchestrator")])
        .arg("--results")
        .arg(&results)
        .env_remove("NATS_NKEY")
        .env_remove("NATS_TOKEN"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !text(&out).contains("Permissions Violation"),
        "{}",
        text(&out)
    );
    let doc = read_json(&results);
    let entries = doc["results"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{doc}");
    for e in entries {
        assert_eq!(e["task"]["status"], 0, "{e}");
    }
    drop(workers);
    // The observer reads what the stream holds.
    let out = run(netbench()
        .args(["watch", "--nats-url", &url, "--run", run_id, "--no-follow"])
        .args(["--nats-creds", &login("netbench-observer")])
        .env_remove("NATS_NKEY")
        .env_remove("NATS_TOKEN"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !text(&out).contains("Permissions Violation"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("node-1"), "{}", text(&out));
}

/// A JWT that expires while the worker is connected: the server ends the login ("User
/// Authentication Expired") and the worker says the credentials expired and what to do. nsc's
/// shortest expiry is a minute, so this test waits for one.
#[test]
fn a_login_that_expires_while_connected_is_told_to_generate_new_creds() {
    let op = operator_mode();
    op.nsc.nsc(&[
        "add",
        "user",
        "--account",
        "acc",
        "--name",
        "oneminute",
        "--expiry",
        "1m",
    ]);
    let creds = op.nsc.creds("acc", "oneminute");
    let started = std::time::Instant::now();
    let out = run(netbench()
        .args(["worker", "--nats-url", &op.server.url, "--run", "credsrun1"])
        .args(["--name", "node-1", "--ip", "127.0.0.1", "--deadline", "75s"])
        .arg("--nats-creds")
        .arg(&creds)
        .env_remove("NATS_NKEY")
        .env_remove("NATS_TOKEN")
        .env("RUST_LOG", "info"));
    let t = text(&out);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(50),
        "{t}"
    );
    assert!(
        t.contains("the NATS server ended the login")
            && t.contains("User Authentication Expired")
            && t.contains("The credentials expired")
            && t.contains("nsc generate creds"),
        "{t}"
    );
}
