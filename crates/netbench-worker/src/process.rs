//! Running one tool: no shell, a cleared environment, its own process group (so the whole group
//! can be killed), stdout and stderr captured up to a cap, and a hard timeout.

use netbench_proto::{Captured, ProcessOutcome};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A started tool.
pub struct Running {
    child: Child,
    pgid: Pid,
    started: Instant,
    stdout: JoinHandle<Captured>,
    stderr: JoinHandle<Captured>,
}

/// Start `program` (a full path) with `args`. The environment is cleared but for a fixed PATH
/// and `LC_ALL=C` (stable number formats), so no secret of the worker leaks into a tool.
/// The pids of the tools running now (spawned and not yet waited for): the reaper leaves them
/// to the code that waits for them.
pub static OWN: std::sync::Mutex<std::collections::BTreeSet<i32>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

pub fn spawn(program: &Path, args: &[String], cap: usize) -> std::io::Result<Running> {
    let mut own = OWN.lock().expect("not poisoned");
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", crate::tools::TOOL_PATH)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().expect("a just-spawned child has a pid");
    own.insert(pid as i32);
    drop(own);
    let stdout = tokio::spawn(capture(child.stdout.take(), cap));
    let stderr = tokio::spawn(capture(child.stderr.take(), cap));
    Ok(Running {
        child,
        // process_group(0) makes the child the leader of a group with its own pid.
        pgid: Pid::from_raw(pid as i32),
        started: Instant::now(),
        stdout,
        stderr,
    })
}

/// Read everything, keep the first `cap` bytes. Reading on after the cap keeps the tool from
/// blocking on a full pipe.
async fn capture(pipe: Option<impl AsyncRead + Unpin>, cap: usize) -> Captured {
    let Some(mut pipe) = pipe else {
        return Captured::default();
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                if n > room {
                    truncated = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    Captured {
        text: String::from_utf8_lossy(&kept).into_owned(),
        truncated,
    }
}

impl Running {
    /// True while the tool has not exited.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Signal the whole process group. Errors (the group is already gone) are ignored.
    pub fn signal_group(&self, signal: Signal) {
        let _ = killpg(self.pgid, signal);
    }

    /// Wait for the tool to exit on its own, at most `timeout` (or until `cancel`); then kill
    /// its whole group.
    pub async fn finish(mut self, timeout: Duration, cancel: &CancellationToken) -> ProcessOutcome {
        let waited = tokio::select! {
            s = self.child.wait() => Some(s),
            _ = tokio::time::sleep(timeout) => None,
            _ = cancel.cancelled() => None,
        };
        let timed_out = waited.is_none() && !cancel.is_cancelled();
        let status = match waited {
            Some(s) => s.ok(),
            None => {
                self.signal_group(Signal::SIGKILL);
                self.child.wait().await.ok()
            }
        };
        self.collect(status, timed_out).await
    }

    /// Stop a server: SIGTERM to the group, SIGKILL after `grace`, then collect its output.
    pub async fn stop(mut self, grace: Duration) -> ProcessOutcome {
        self.signal_group(Signal::SIGTERM);
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(s) => s.ok(),
            Err(_) => {
                self.signal_group(Signal::SIGKILL);
                self.child.wait().await.ok()
            }
        };
        self.collect(status, false).await
    }

    async fn collect(
        self,
        status: Option<std::process::ExitStatus>,
        timed_out: bool,
    ) -> ProcessOutcome {
        // Leave nothing behind: forked helpers (netserver forks per test) die with the group.
        self.signal_group(Signal::SIGKILL);
        // Waited for: from now on an exit status under this pid is the reaper's to take.
        OWN.lock()
            .expect("not poisoned")
            .remove(&self.pgid.as_raw());
        let elapsed_seconds = self.started.elapsed().as_secs_f64();
        // A forked child may still hold the pipes open; don't wait on it forever.
        let grab = |h: JoinHandle<Captured>| async move {
            match tokio::time::timeout(netbench_proto::timing::OUTPUT_DRAIN_LIMIT, h).await {
                Ok(Ok(c)) => c,
                _ => Captured::default(),
            }
        };
        let stdout = grab(self.stdout).await;
        let stderr = grab(self.stderr).await;
        ProcessOutcome {
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            timed_out,
            stdout,
            stderr,
            elapsed_seconds,
            idle: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh() -> &'static Path {
        Path::new("/bin/sh")
    }

    #[tokio::test]
    async fn output_is_capped_and_marked_truncated() {
        let p = spawn(
            sh(),
            &[
                "-c".into(),
                "head -c 100000 /dev/zero | tr '\\0' x; echo err >&2".into(),
            ],
            1000,
        )
        .unwrap();
        let out = p
            .finish(Duration::from_secs(10), &CancellationToken::new())
            .await;
        assert_eq!(out.exit_code, Some(0));
        assert_eq!(out.stdout.text.len(), 1000);
        assert!(out.stdout.truncated);
        assert_eq!(out.stderr.text, "err\n");
        assert!(!out.stderr.truncated);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group_including_grandchildren() {
        // Grandchildren that would outlive the shell if only the shell were killed.
        let script = "sleep 300 & sleep 301 & wait".to_string();
        let p = spawn(sh(), &["-c".into(), script], 1000).unwrap();
        let pgid = p.pgid;
        let out = p
            .finish(Duration::from_millis(300), &CancellationToken::new())
            .await;
        assert!(out.timed_out);
        assert_eq!(out.signal, Some(9));
        // Nothing of the group is left (once init has reaped the orphaned grandchildren).
        let mut gone = false;
        for _ in 0..200 {
            if killpg(pgid, None) == Err(nix::errno::Errno::ESRCH) {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone, "processes of group {pgid} survived the timeout");
    }

    #[tokio::test]
    async fn environment_is_cleared() {
        let p = spawn(Path::new("/usr/bin/env"), &[], 10_000).unwrap();
        let out = p
            .finish(Duration::from_secs(5), &CancellationToken::new())
            .await;
        let mut vars: Vec<&str> = out.stdout.text.lines().collect();
        vars.sort();
        assert_eq!(
            vars,
            vec!["LC_ALL=C", &format!("PATH={}", crate::tools::TOOL_PATH)]
        );
    }
}
