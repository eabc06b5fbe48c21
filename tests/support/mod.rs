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
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c", HIDE, "sh"]);
    c.args(tools).arg("--").arg(bin_path());
    c
}
