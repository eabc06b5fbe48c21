//! Child processes of the harness: tools, workers and orchestrators, each in its own process
//! group, optionally pinned to a CPU (`taskset`) and placed in a node's namespace
//! (`ip netns exec`). Both wrappers exec, so the pid is the program's own. A [`Proc`] that is
//! dropped unstopped is killed with its group.

use crate::PerfError;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};

/// Where a process runs: a CPU to pin it to and a network namespace, both optional.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub cpu: Option<usize>,
    pub netns: Option<String>,
}

/// A command run at `place`, with the environment cleared as the worker clears it for tools
/// (a fixed PATH, `LC_ALL=C`); `RUST_LOG` is passed on for profiling.
pub fn command(place: &Place, program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(match (place.cpu, &place.netns) {
        (Some(_), _) => OsStr::new("taskset"),
        (None, Some(_)) => OsStr::new("ip"),
        (None, None) => program.as_ref(),
    });
    if let Some(cpu) = place.cpu {
        c.arg("-c").arg(cpu.to_string());
        if place.netns.is_some() {
            c.arg("ip");
        } else {
            c.arg(program.as_ref());
        }
    }
    if let Some(ns) = &place.netns {
        c.args(["netns", "exec", ns]).arg(program.as_ref());
    }
    c.env_clear()
        .env("PATH", netbench_worker::tools::TOOL_PATH)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Ok(filter) = std::env::var("RUST_LOG") {
        c.env("RUST_LOG", filter);
    }
    c
}

/// A started child. Killed with its whole group when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
    pid: u32,
}

impl Proc {
    pub fn spawn(name: impl Into<String>, cmd: &mut Command) -> Result<Proc, PerfError> {
        let name = name.into();
        let child = cmd.spawn().map_err(|source| PerfError::Spawn {
            what: name.clone(),
            source,
        })?;
        let pid = child.id().expect("a just-spawned child has a pid");
        Ok(Proc { name, child, pid })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Send `signal` to the process group.
    pub fn signal(&self, signal: Signal) {
        let _ = killpg(Pid::from_raw(self.pid as i32), signal);
    }

    /// Wait up to `limit` for the process to exit on its own.
    pub async fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// SIGTERM, up to 5 s to exit, then SIGKILL; always reaped. Also kills what is left of the
    /// group (a tool's forked helpers).
    pub async fn stop(mut self) -> Option<ExitStatus> {
        self.signal(Signal::SIGTERM);
        let status = match self.wait(Duration::from_secs(5)).await {
            Some(s) => Some(s),
            None => {
                eprintln!("warning: {} did not stop on SIGTERM; killing it", self.name);
                self.signal(Signal::SIGKILL);
                self.child.wait().await.ok()
            }
        };
        self.signal(Signal::SIGKILL);
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(Signal::SIGKILL);
        }
    }
}

/// Stop many processes at once: SIGTERM to all, then wait for each (SIGKILL after 5 s).
pub async fn stop_all(procs: Vec<Proc>) {
    for p in &procs {
        p.signal(Signal::SIGTERM);
    }
    let limit = tokio::time::Instant::now() + Duration::from_secs(5);
    for mut p in procs {
        let left = limit.saturating_duration_since(tokio::time::Instant::now());
        if p.wait(left).await.is_none() {
            eprintln!("warning: {} did not stop on SIGTERM; killing it", p.name);
            p.signal(Signal::SIGKILL);
            let _ = p.child.wait().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(c: &Command) -> Vec<String> {
        let c = c.as_std();
        std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn wrappers_compose() {
        let pinned_in_ns = Place {
            cpu: Some(1),
            netns: Some("nb-x-1".into()),
        };
        assert_eq!(
            argv(&command(&pinned_in_ns, "iperf3")),
            ["taskset", "-c", "1", "ip", "netns", "exec", "nb-x-1", "iperf3"]
        );
        let pinned = Place {
            cpu: Some(0),
            netns: None,
        };
        assert_eq!(
            argv(&command(&pinned, "true")),
            ["taskset", "-c", "0", "true"]
        );
        let ns = Place {
            cpu: None,
            netns: Some("n".into()),
        };
        assert_eq!(argv(&command(&ns, "x")), ["ip", "netns", "exec", "n", "x"]);
        assert_eq!(argv(&command(&Place::default(), "x")), ["x"]);
    }

    #[tokio::test]
    async fn pinning_is_real_and_the_pid_is_the_programs() {
        let place = Place {
            cpu: Some(0),
            netns: None,
        };
        let mut c = command(&place, "sleep");
        c.arg("30");
        let p = Proc::spawn("sleep", &mut c).unwrap();
        // taskset execs: the pid soon shows the program itself, pinned to CPU 0.
        let mut seen = String::new();
        for _ in 0..200 {
            seen = std::fs::read_to_string(format!("/proc/{}/status", p.pid())).unwrap();
            if seen.contains("Name:\tsleep") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(seen.contains("Name:\tsleep"), "{seen}");
        assert!(seen.contains("Cpus_allowed_list:\t0\n"), "{seen}");
        let status = p.stop().await.unwrap();
        assert!(!status.success());
    }
}
