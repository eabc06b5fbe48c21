//! Worker processes, one per [`WorkerPlace`] of the testbed (a node's pod, its own namespace,
//! its second pod), started with `ip netns exec` (no shell) and stopped (SIGTERM, then SIGKILL)
//! when dropped.

use crate::testbed::WorkerPlace;
use netbench_bus::auth::RunCredentials;
use netbench_proto::{RunId, WorkerId};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Workers {
    children: Vec<(String, Child)>,
    pub log_dir: PathBuf,
}

/// How to start the workers of one run.
pub struct WorkerLaunch<'a> {
    /// The netbench binary.
    pub exe: &'a Path,
    /// NATS as the namespaces reach it (through the relay).
    pub nats_url: &'a str,
    pub run: &'a RunId,
    pub deadline: Duration,
    /// Each worker logs to `log_dir/<worker name>.log`.
    pub log_dir: &'a Path,
    /// Per-worker logins, when NATS has authentication.
    pub credentials: Option<&'a RunCredentials>,
    /// The run's CA, when NATS has TLS.
    pub tls_ca: Option<&'a Path>,
    /// Spread the nodes over this many zones ([`crate::run::zone_of`]); `None`: all `local`.
    pub zones: Option<u32>,
    /// The user's own NATS login (`--nats-creds`, `--nats-nkey`, `--nats-token`), on the
    /// user's NATS server.
    pub user_auth: Option<&'a netbench_bus::NatsArgs>,
}

impl Workers {
    /// Start one `netbench worker` in each place.
    pub fn start(places: &[WorkerPlace], launch: &WorkerLaunch<'_>) -> std::io::Result<Workers> {
        let WorkerLaunch {
            exe,
            nats_url,
            run,
            deadline,
            log_dir,
            credentials,
            tls_ca,
            zones,
            user_auth,
        } = *launch;
        let mut workers = Workers {
            children: Vec::new(),
            log_dir: log_dir.to_path_buf(),
        };
        for place in places {
            let zone = crate::run::zone_of(place.node_index, zones);
            let log = std::fs::File::create(log_dir.join(format!("{}.log", place.name)))?;
            let mut cmd = Command::new("ip");
            // Credentials go through the environment, not argv (which `ps` shows to everyone).
            if let Some(login) =
                credentials.and_then(|c| c.worker(&WorkerId::for_name(&place.name)))
            {
                cmd.env("NATS_USER", &login.user)
                    .env("NATS_PASSWORD", &login.password);
            }
            if let Some(ca) = tls_ca {
                cmd.env("NATS_CA", ca);
            }
            // Only the login given to this run, never one left in our environment.
            cmd.env_remove("NATS_CREDS")
                .env_remove("NATS_NKEY")
                .env_remove("NATS_TOKEN");
            if let Some(a) = user_auth {
                if let Some(f) = &a.creds {
                    cmd.env("NATS_CREDS", f);
                }
                if let Some(f) = &a.nkey {
                    cmd.env("NATS_NKEY", f);
                }
                if let Some(t) = &a.token {
                    cmd.env("NATS_TOKEN", t);
                }
            }
            cmd.args(["netns", "exec", &place.netns])
                .arg(exe)
                .arg("worker")
                .args([
                    "--nats-url",
                    nats_url,
                    "--run",
                    run.as_str(),
                    "--name",
                    &place.name,
                ])
                .args([
                    "--ip",
                    &place.ip.to_string(),
                    "--hostname",
                    &place.node,
                    "--zone",
                    &zone,
                    "--placement",
                    place.placement.name(),
                ])
                .args(["--deadline", &format!("{}s", deadline.as_secs().max(1))]);
            if let Some(vip) = place.service_ip {
                cmd.args(["--service-ip", &vip.to_string()]);
            }
            // A Service address in our environment must not reach a worker that has none.
            let child = cmd
                .arg("--exit-with-parent")
                .env_remove("NATS_URL")
                .env_remove("NETBENCH_SERVICE_IP")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?;
            workers.children.push((place.name.clone(), child));
        }
        Ok(workers)
    }

    /// The pid of each worker, by worker name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.children
            .iter()
            .map(|(n, c)| (n.clone(), c.id()))
            .collect()
    }

    /// Stop every worker: SIGTERM, up to 5 s to exit, then SIGKILL; always reaped.
    pub fn stop(&mut self) {
        for (_, child) in &self.children {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let limit = Instant::now() + Duration::from_secs(5);
        for (name, mut child) in self.children.drain(..) {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < limit => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    _ => {
                        tracing::warn!("worker {name} did not stop in time; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}
