//! Helpers shared by the end-to-end tests: a real nats-server, the real binary, result checks.
#![allow(dead_code)]

use netbench_local::nats_server::{self, NatsServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The netbench binary under test.
pub fn netbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netbench"))
}

pub fn bin_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_netbench"))
}

/// A real nats-server with JetStream on a random loopback port; stopped on drop.
pub fn nats() -> NatsServer {
    let bin = nats_server::locate(None).expect("nats-server installed (see .ci/run)");
    NatsServer::start(&bin).expect("nats-server starts")
}

pub fn is_root() -> bool {
    netbench_local::is_root()
}

/// Run a command, return its output, print it when a test fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command runs");
    eprintln!(
        "--- {:?} exited {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        cmd,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("results file exists"))
        .expect("results file is JSON")
}

/// The established keys of one results entry are all there, with the right types.
pub fn assert_seed_keys(entry: &serde_json::Value) {
    assert!(entry["output"].is_string(), "output: {entry}");
    let task = &entry["task"];
    assert!(task["command"].is_string());
    assert!(task["args"].is_array());
    assert!(task["task_options"]["timeout_seconds"].is_u64());
    assert!(task["status"].is_u64());
    for side in ["client", "server"] {
        let s = &task[side];
        assert!(s["worker"].is_string(), "{side}.worker");
        assert!(s["ip"].is_string(), "{side}.ip");
        assert!(s["vm"]["hostname"].is_string(), "{side}.vm.hostname");
        assert!(
            s["vm"]["availability_zone"].is_string(),
            "{side}.vm.availability_zone"
        );
        assert_eq!(s["idle"], serde_json::Value::Bool(true), "{side}.idle");
    }
}

/// No network namespace of ours is left (names start with `nb-`).
pub fn leftover_namespaces(tag_prefix: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(tag_prefix))
        .map(str::to_string)
        .collect()
}

/// The netbench binary in a private mount namespace in which `tools` are missing: each copy of
/// them in the system directories (the only place workers look) has `/dev/null` bound over it,
/// which is no executable file. So "a missing tool" does not depend on what this machine lacks.
/// Needs root; the mounts go with the process.
pub fn netbench_without(tools: &[&str]) -> Command {
    const HIDE: &str = r#"
while [ "$1" != -- ]; do
  for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    if [ -f "$d/$1" ]; then mount --bind /dev/null "$d/$1" || exit 97; fi
  done
  shift
done
shift
exec "$@""#;
    let mut c = Command::new("unshare");
    c.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        HIDE,
        "sh",
    ]);
    c.args(tools).arg("--").arg(bin_path());
    c
}

// ---- The NATS CLI (`nats`), as users run it (tests/nats_cli.rs) ----

/// Where the NATS CLI is looked for: the system directories only, like the tools workers run.
pub const SYSTEM_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The NATS CLI. Not installed: the test fails and says how to install it (CI installs it).
pub fn nats_cli() -> PathBuf {
    SYSTEM_DIRS
        .iter()
        .map(|d| Path::new(d).join("nats"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the NATS CLI `nats` is not installed (looked in {}). tests/setup-debian installs \
                 it; by hand, from the prebuilt natscli 0.2.4 next to this checkout (see \
                 ../shared/bin/PROVENANCE.md): xz -dc ../shared/bin/nats.xz > /usr/local/bin/nats \
                 && chmod 755 /usr/local/bin/nats",
                SYSTEM_DIRS.join(", ")
            )
        })
}

/// A child process that is killed and reaped when dropped.
pub struct Reaped(pub std::process::Child);

impl Reaped {
    /// SIGINT (what Ctrl-C sends), then SIGKILL after 5 s; returns the exit status.
    pub fn interrupt(&mut self) -> Option<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let limit = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < limit {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.0.kill();
        self.0.wait().ok()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// nats-server as the README starts one for watching a local run (`nats-server -js -p 4222`),
/// but on 127.0.0.1, a random port and a temp store. No authentication. Stopped on drop.
pub struct PlainJetStream {
    pub url: String,
    child: Reaped,
    _store: tempfile::TempDir,
}

pub fn plain_jetstream() -> PlainJetStream {
    use std::io::{BufRead, BufReader};
    let bin = nats_server::locate(None).expect("nats-server installed (see tests/setup-debian)");
    let store = tempfile::Builder::new()
        .prefix("netbench-test-js-")
        .tempdir()
        .unwrap();
    let mut child = Command::new(&bin)
        .args(["-js", "-a", "127.0.0.1", "-p", "-1", "--store_dir"])
        .arg(store.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nats-server starts");
    let stderr = child.stderr.take().expect("piped");
    let child = Reaped(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keeps draining after the URL is known, so the server never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut url = None;
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{} not ready in 20 s: {}", bin.display(), seen.join("\n")));
        if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
            url = Some(format!("nats://{}", addr.trim()));
        }
        if line.contains("Server is ready") {
            if let Some(url) = url {
                return PlainJetStream {
                    url,
                    child,
                    _store: store,
                };
            }
        }
        seen.push(line);
    }
}

impl PlainJetStream {
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// The nats-server `netbench local --keep-nats` left running, from what it printed:
/// `NATS is still running at URL (pid PID, store DIR). Read it (read-only login) with:` and
/// `  nats --server URL --user observer --password PW stream view NETBENCH`.
/// Dropping it stops that server (SIGTERM, then SIGKILL) and removes its store.
#[derive(Debug)]
pub struct KeptNats {
    pub url: String,
    pub pid: i32,
    pub store: PathBuf,
    /// The printed command line, split into words (`nats`, `--server`, URL, …, `NETBENCH`).
    pub printed_command: Vec<String>,
    /// The connection flags of that command: `--server URL --user observer --password PW`.
    pub login: Vec<String>,
}

impl KeptNats {
    pub fn from_output(stdout: &str) -> Option<KeptNats> {
        let rest = stdout.split("NATS is still running at ").nth(1)?;
        let (url, rest) = rest.split_once(" (pid ")?;
        let (pid, rest) = rest.split_once(", store ")?;
        let (store, rest) = rest.split_once(")")?;
        let command = rest.lines().nth(1)?.trim();
        let printed_command: Vec<String> = command.split_whitespace().map(String::from).collect();
        let stream = printed_command.iter().position(|w| w == "stream")?;
        Some(KeptNats {
            url: url.to_string(),
            pid: pid.parse().ok()?,
            store: PathBuf::from(store),
            login: printed_command[1..stream].to_vec(),
            printed_command,
        })
    }

    /// The process is still a running nats-server on this store (not gone, not a zombie).
    pub fn alive(&self) -> bool {
        let proc = PathBuf::from(format!("/proc/{}", self.pid));
        let running = std::fs::read_to_string(proc.join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(") ")
                    .map(|(_, r)| !r.starts_with('Z') && !r.starts_with('X'))
            })
            .unwrap_or(false);
        let ours = std::fs::read(proc.join("cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .contains(&*self.store.join("nats-server.conf").to_string_lossy())
            })
            .unwrap_or(false);
        running && ours
    }
}

impl Drop for KeptNats {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(self.pid);
        // Only the server on this store: a pid is reused once its process is gone.
        if self.alive() {
            let _ = kill(pid, Signal::SIGTERM);
            let limit = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while self.alive() && std::time::Instant::now() < limit {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if self.alive() {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
        let name = self.store.file_name().unwrap_or_default().to_string_lossy();
        if self.store.starts_with(std::env::temp_dir()) && name.starts_with("netbench-nats-") {
            let _ = std::fs::remove_dir_all(&self.store);
        }
    }
}

/// Run `program args` in a terminal (util-linux `script` gives it a pseudo-terminal) and answer
/// as a person at a terminal would: the cursor-position queries (`ESC [6n`) the prompts send,
/// and Enter (the default, yes) at every "Next Page?". Returns the exit code and everything the
/// terminal showed. For `nats stream view`, which pages interactively and insists on a terminal.
pub fn in_terminal(
    program: &Path,
    args: &[String],
    limit: std::time::Duration,
) -> (Option<i32>, String) {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line = std::iter::once(quote(&program.to_string_lossy()))
        .chain(args.iter().map(|a| quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args([
            "--quiet",
            "--flush",
            "--return",
            "--command",
            &line,
            "/dev/null",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("`script` (util-linux) runs");
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let mut child = Reaped(child);
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let count =
        |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).filter(|w| *w == needle).count();
    let (mut shown, mut queries, mut pages) = (Vec::new(), 0, 0);
    let mut last = Instant::now();
    let end = Instant::now() + limit;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(chunk) => {
                shown.extend_from_slice(&chunk);
                last = Instant::now();
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() > end {
            drop(child);
            panic!(
                "{line} still running after {limit:?}; the terminal showed:\n{}",
                String::from_utf8_lossy(&shown)
            );
        }
        // Once the terminal is gone, writes fail; the loop ends at the reader's EOF.
        while count(&shown, b"\x1b[6n") > queries {
            let _ = stdin.write_all(b"\x1b[40;1R");
            queries += 1;
        }
        if count(&shown, b"Next Page?") > pages && last.elapsed() > Duration::from_millis(300) {
            let _ = stdin.write_all(b"\r");
            pages += 1;
        }
        let _ = stdin.flush();
    }
    let _ = reader.join();
    let code = child.0.wait().ok().and_then(|s| s.code());
    (code, String::from_utf8_lossy(&shown).into_owned())
}

/// Remove terminal escape sequences (`ESC [ … letter`, `ESC 7`, `ESC 8`) and carriage returns.
pub fn plain_text(shown: &str) -> String {
    let mut out = String::with_capacity(shown.len());
    let mut chars = shown.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// One message as `nats sub` or `nats stream view` printed it.
#[derive(Debug, Clone)]
pub struct PrintedMessage {
    pub subject: String,
    /// The body line(s), as printed.
    pub body: String,
}

/// The messages in what `nats sub` (`[#1] Received on "SUBJECT"`, or with `--stream`
/// `[#1] Received JetStream message: stream: S seq N / subject: SUBJECT / time: …`) or
/// `nats stream view` (`[1] Subject: SUBJECT Received: …`) printed. Each is followed by its
/// headers (`Key: value`, indented in `stream view`), a blank line, and the body.
pub fn printed_messages(text: &str) -> Vec<PrintedMessage> {
    fn opening(line: &str) -> Option<String> {
        let rest = line.strip_prefix('[')?;
        let (n, rest) = rest.split_once("] ")?;
        n.trim_start_matches('#').parse::<u64>().ok()?;
        if let Some(s) = rest.strip_prefix("Received on \"") {
            // Then, for a request, ` with reply "INBOX"`.
            return s.split_once('"').map(|(subject, _)| subject.to_string());
        }
        if let Some(s) = rest.strip_prefix("Subject: ") {
            return s.split(" Received: ").next().map(String::from);
        }
        if rest.starts_with("Received JetStream message:") {
            return rest
                .split(" / subject: ")
                .nth(1)
                .and_then(|s| s.split(" / ").next())
                .map(String::from);
        }
        None
    }
    let text = plain_text(text);
    let mut messages: Vec<PrintedMessage> = Vec::new();
    let mut in_body = false;
    for line in text.lines() {
        if let Some(subject) = opening(line) {
            messages.push(PrintedMessage {
                subject,
                body: String::new(),
            });
            in_body = false;
            continue;
        }
        let Some(m) = messages.last_mut() else {
            continue;
        };
        if m.body.is_empty() && !in_body {
            // Headers come first; a body of JSON starts with `{`, a probe with anything else
            // is not expected on these subjects.
            if line.starts_with('{') || line.starts_with('[') {
                in_body = true;
            } else {
                continue;
            }
        }
        if in_body {
            if line.is_empty() {
                in_body = false;
            } else {
                if !m.body.is_empty() {
                    m.body.push('\n');
                }
                m.body.push_str(line);
            }
        }
    }
    messages
}

/// Register a worker the test plays, on its own registration subject, asking until the
/// orchestrator (which may not listen yet) answers; the answer must admit it.
pub async fn register_played(
    nc: &async_nats::Client,
    run: &netbench_proto::RunId,
    worker: netbench_proto::WorkerInfo,
    tools: &[&str],
) {
    use netbench_proto::{decode_control, encode_control, subjects, Register, Reply};
    let on = subjects::register(run, &worker.id);
    let register = Register {
        run: run.clone(),
        worker,
        tools: tools.iter().map(|t| t.to_string()).collect(),
        version: "played".into(),
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        netbench_proto::CONTENT_TYPE,
        netbench_proto::CONTENT_TYPE_MSGPACK,
    );
    loop {
        let req = async_nats::Request::new()
            .headers(headers.clone())
            .payload(encode_control(&register).into())
            .timeout(Some(std::time::Duration::from_secs(1)));
        if let Ok(m) = nc.send_request(on.clone(), req).await {
            let r: Reply = decode_control(None, &m.payload).unwrap();
            assert!(matches!(r, Reply::Registered(_)), "{r:?}");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
