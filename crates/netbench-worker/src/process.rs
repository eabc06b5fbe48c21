//! Running one tool: no shell, a cleared environment, its own process group (so the whole group
//! can be killed), stdout and stderr captured up to a cap, and a hard timeout.
//!
//! The group's id is the leader's pid, so it is only ours while the leader is: once the leader
//! is reaped, the kernel may hand that pid (and so that group id) to a new process, and a
//! `killpg` would hit a stranger. So the group is always killed *before* the leader is reaped:
//! its exit is awaited without reaping it (`waitid(WEXITED | WNOWAIT)`: it stays a zombie, which
//! keeps the id taken), then `killpg(SIGKILL)` takes whatever of the group is left (helpers the
//! tool forked), and only then is the leader reaped.

use netbench_proto::{Captured, ProcessOutcome};
use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};
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

/// Whether the child `pid` has exited, asked without reaping it (`WNOWAIT`): it stays a zombie,
/// so its pid, and the group id it leads, cannot be given to another process yet.
fn has_exited(pid: Pid) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
    loop {
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) => return false,
            Ok(_) => return true,
            Err(Errno::EINTR) => continue,
            // ECHILD: no child of ours by that pid is left to wait for.
            Err(_) => return true,
        }
    }
}

/// Wait until the child `pid` has exited, without reaping it (see [`has_exited`]). Woken by
/// SIGCHLD, and every 100 ms in case a signal was merged with another; the runtime is never
/// blocked.
async fn exit_of(pid: Pid) {
    let mut sigchld = signal(SignalKind::child()).ok();
    while !has_exited(pid) {
        match sigchld.as_mut() {
            Some(s) => {
                let _ = tokio::time::timeout(Duration::from_millis(100), s.recv()).await;
            }
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A test's look at the leader just before its group is killed.
#[cfg(test)]
type GroupKillHook = Option<Box<dyn Fn(Pid)>>;

#[cfg(test)]
thread_local! {
    /// Called with the group id just before the group is killed (tests look at the leader then).
    static BEFORE_GROUP_KILL: std::cell::RefCell<GroupKillHook> = const { std::cell::RefCell::new(None) };
}

impl Running {
    /// True while the tool has not exited (asked without reaping it).
    pub fn is_alive(&mut self) -> bool {
        !has_exited(self.pgid)
    }

    /// Signal the whole process group. Errors (the group is already gone) are ignored. Only
    /// called while the leader is not reaped, so the group id is still this tool's.
    pub fn signal_group(&self, signal: Signal) {
        let _ = killpg(self.pgid, signal);
    }

    /// Wait for the tool to exit on its own, at most `timeout` (or until `cancel`); then kill
    /// its whole group.
    pub async fn finish(mut self, timeout: Duration, cancel: &CancellationToken) -> ProcessOutcome {
        let exited = tokio::select! {
            _ = exit_of(self.pgid) => true,
            _ = tokio::time::sleep(timeout) => false,
            _ = cancel.cancelled() => false,
        };
        let timed_out = !exited && !cancel.is_cancelled();
        if !exited {
            self.signal_group(Signal::SIGKILL);
        }
        let status = self.kill_group_and_reap().await;
        self.collect(status, timed_out).await
    }

    /// Stop a server: SIGTERM to the group, SIGKILL after `grace`, then collect its output.
    pub async fn stop(mut self, grace: Duration) -> ProcessOutcome {
        self.signal_group(Signal::SIGTERM);
        if tokio::time::timeout(grace, exit_of(self.pgid))
            .await
            .is_err()
        {
            self.signal_group(Signal::SIGKILL);
        }
        let status = self.kill_group_and_reap().await;
        self.collect(status, false).await
    }

    /// Once the leader has exited: SIGKILL to what is left of its group (forked helpers:
    /// netserver forks per test) while the leader's zombie still holds the group id, then reap
    /// the leader.
    async fn kill_group_and_reap(&mut self) -> Option<std::process::ExitStatus> {
        exit_of(self.pgid).await;
        #[cfg(test)]
        BEFORE_GROUP_KILL.with(|h| {
            if let Some(hook) = h.borrow().as_ref() {
                hook(self.pgid)
            }
        });
        self.signal_group(Signal::SIGKILL);
        // Reaped and taken out of OWN under OWN's lock: a tool spawned meanwhile (spawn holds
        // the lock) cannot get this pid while it is still named there, and from now on an exit
        // status under this pid is the reaper's to take.
        let mut own = OWN.lock().expect("not poisoned");
        let reaped = match self.child.try_wait() {
            Ok(Some(status)) => Some(Some(status)),
            Ok(None) => None,
            Err(_) => Some(None),
        };
        if let Some(status) = reaped {
            own.remove(&self.pgid.as_raw());
            return status;
        }
        drop(own);
        // Not seen as exited by tokio yet (exit_of says it has): wait for it the usual way.
        let status = self.child.wait().await.ok();
        OWN.lock()
            .expect("not poisoned")
            .remove(&self.pgid.as_raw());
        status
    }

    async fn collect(
        self,
        status: Option<std::process::ExitStatus>,
        timed_out: bool,
    ) -> ProcessOutcome {
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

    /// State and parent of `pid` from /proc, None once it is gone (reaped).
    fn state_and_parent(pid: i32) -> Option<(char, i32)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &text[text.rfind(')')? + 1..];
        let mut f = rest.split_whitespace();
        Some((f.next()?.chars().next()?, f.next()?.parse().ok()?))
    }

    type Seen = std::rc::Rc<std::cell::RefCell<Vec<Option<(char, i32)>>>>;

    /// Records what the leader was when its group was killed.
    fn record_leader_at_group_kill() -> Seen {
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let s = seen.clone();
        BEFORE_GROUP_KILL.with(|h| {
            *h.borrow_mut() = Some(Box::new(move |pgid: Pid| {
                // The reaper, passing now, leaves the leader's zombie alone (it is in OWN).
                crate::reaper::reap_strays();
                s.borrow_mut().push(state_and_parent(pgid.as_raw()))
            }))
        });
        seen
    }

    /// The group is killed while the leader's zombie still holds the group id (so no new process
    /// can have taken it over), on every path: exit on its own, timeout, stop; the reaper passing
    /// meanwhile takes neither the zombie nor its exit status.
    #[tokio::test]
    async fn the_group_is_killed_before_the_leader_is_reaped() {
        let seen = record_leader_at_group_kill();
        let me = std::process::id() as i32;
        let cancel = CancellationToken::new();

        let p = spawn(sh(), &["-c".into(), "exit 3".into()], 1000).unwrap();
        let leader = p.pgid.as_raw();
        let out = p.finish(Duration::from_secs(10), &cancel).await;
        assert_eq!(out.exit_code, Some(3));
        let p = spawn(sh(), &["-c".into(), "sleep 300".into()], 1000).unwrap();
        let out = p.finish(Duration::from_millis(200), &cancel).await;
        assert!(out.timed_out);
        let p = spawn(sh(), &["-c".into(), "sleep 300".into()], 1000).unwrap();
        let out = p.stop(Duration::from_secs(5)).await;
        assert_eq!(out.signal, Some(15));

        let seen = seen.borrow();
        assert_eq!(seen.len(), 3, "{seen:?}");
        for s in seen.iter() {
            assert_eq!(
                *s,
                Some(('Z', me)),
                "when its group was killed the leader was not our unreaped zombie"
            );
        }
        // Reaped afterwards, and no longer named as our own.
        assert_eq!(state_and_parent(leader), None);
        assert!(!OWN.lock().unwrap().contains(&leader));
    }

    /// A tool whose leader exits at once while a helper it forked lingers in its group: the
    /// outcome is the leader's, and the helper is killed with the group.
    #[tokio::test]
    async fn a_lingering_helper_dies_with_the_group_when_the_leader_exits() {
        let script = "sleep 300 & echo $!; exit 0".to_string();
        let p = spawn(sh(), &["-c".into(), script], 1000).unwrap();
        let started = Instant::now();
        let out = p
            .finish(Duration::from_secs(30), &CancellationToken::new())
            .await;
        assert_eq!(out.exit_code, Some(0));
        assert!(!out.timed_out);
        let helper: i32 = out.stdout.text.trim().parse().expect("the helper's pid");
        // The helper held the output pipe: it was killed, not waited for.
        assert!(started.elapsed() < Duration::from_secs(10), "{out:?}");
        let mut gone = false;
        for _ in 0..300 {
            // Gone, or a zombie waiting for its new parent (init, a subreaper) to reap it.
            if !matches!(state_and_parent(helper), Some((s, _)) if s != 'Z' && s != 'X') {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone, "the helper {helper} outlived its tool");
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
