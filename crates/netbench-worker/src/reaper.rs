//! Reaping orphans. In its container the worker is PID 1, with no init: the orphans of the
//! tools it runs (netserver forks a child per test) are re-parented to it, and nobody else
//! would ever wait for them, so they stay zombies for the pod's life. The worker therefore
//! declares itself a child subreaper (so the same holds outside a container) and, every
//! second, reaps its zombie children that are not its own tools: those are waited for by
//! their [`crate::process::Running`], and [`crate::process::OWN`] names them. A tool's leader
//! is left a zombie on purpose for a moment after it exits (its zombie keeps its process-group
//! id from being reused until the group is killed); being in OWN, the reaper leaves it alone.

use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Become a subreaper and reap stray zombies until `stop`.
pub fn start(stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!("cannot become a child subreaper ({e}); orphans of tools go to init");
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let reaped = reap_strays();
            if reaped > 0 {
                tracing::debug!("reaped {reaped} orphaned process(es)");
            }
        }
        reap_strays();
    })
}

/// Wait for every zombie child of ours that is not one of our own tools; returns how many.
pub fn reap_strays() -> usize {
    let me = std::process::id() as i32;
    // Held while scanning and reaping: a tool is spawned and named in OWN under the same lock,
    // so its exit status is never taken from the code that waits for it.
    let own = crate::process::OWN.lock().expect("not poisoned");
    let mut reaped = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if own.contains(&pid) {
            continue;
        }
        if let Some((state, ppid)) = stat(pid) {
            if state == 'Z'
                && ppid == me
                && waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)).is_ok()
            {
                reaped += 1;
            }
        }
    }
    reaped
}

/// State and parent of a process, from `/proc/<pid>/stat` (its name may hold spaces and
/// parentheses: the fields after the last `)` are what we read).
fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}
