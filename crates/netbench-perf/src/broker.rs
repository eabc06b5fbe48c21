//! The NATS the harness runs on: one nats-server, or N of them clustered over authenticated
//! routes (as `netbench local --nats-cluster N` starts them, but with the client ports on any
//! address, e.g. the testbed's gateway, so workers in namespaces reach every server directly,
//! without relays, as the single server of [`crate::runner::Bed`] is reached). Members can be
//! killed with SIGKILL and restarted on the same ports and store (P6's failover figure).

use crate::PerfError;
use netbench_local::nats_server::{self, NatsServer};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One member: what it takes to start it again on the same ports and store.
struct Member {
    name: String,
    listen: String,
    auth: String,
}

pub struct Broker {
    binary: PathBuf,
    members: Vec<Member>,
    /// `None` while a member is down.
    servers: Vec<Option<NatsServer>>,
    stopped: Vec<Option<tempfile::TempDir>>,
    url: String,
}

/// Free TCP ports on `host` (bound and released at once; the servers bind them right after).
fn free_ports(host: &str, n: usize) -> Result<Vec<u16>, PerfError> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind((host, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PerfError::Run(format!("no free port on {host}: {e}")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| PerfError::Run(format!("no free port on {host}: {e}")))
}

fn store_dir() -> Result<tempfile::TempDir, PerfError> {
    crate::runner::temp_dir("netbench-perf-nats-")
}

impl Broker {
    /// `servers` nats-servers (1: a single one, no cluster block) with their client port on
    /// `host` and the routes on loopback; returns once every one is healthy.
    pub fn start(
        nats_binary: Option<&Path>,
        servers: usize,
        host: &str,
    ) -> Result<Broker, PerfError> {
        let binary = nats_server::locate(nats_binary)?;
        if servers <= 1 {
            let s = NatsServer::start_in(&binary, store_dir()?, &format!("{host}:-1"), "")?;
            let url = s.url.clone();
            return Ok(Broker {
                binary,
                members: vec![Member {
                    name: "netbench".into(),
                    listen: s.url.trim_start_matches("nats://").to_string(),
                    auth: String::new(),
                }],
                servers: vec![Some(s)],
                stopped: vec![None],
                url,
            });
        }
        let clients = free_ports(host, servers)?;
        let routes: Vec<String> = free_ports("127.0.0.1", servers)?
            .into_iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let base = netbench_bus::cluster::ClusterRoutes::generate("", routes.clone());
        let members: Vec<Member> = (0..servers)
            .map(|i| {
                let mut r = base.clone();
                r.listen = routes[i].clone();
                Member {
                    name: format!("netbench-{}", i + 1),
                    listen: format!("{host}:{}", clients[i]),
                    auth: r.block(),
                }
            })
            .collect();
        let url = members
            .iter()
            .map(|m| format!("nats://{}", m.listen))
            .collect::<Vec<_>>()
            .join(",");
        let mut b = Broker {
            binary,
            members,
            servers: Vec::new(),
            stopped: Vec::new(),
            url,
        };
        for i in 0..servers {
            let s = b.start_member(i, store_dir()?)?;
            b.servers.push(Some(s));
            b.stopped.push(None);
        }
        b.wait_healthy(Duration::from_secs(30))?;
        Ok(b)
    }

    fn start_member(&self, i: usize, dir: tempfile::TempDir) -> Result<NatsServer, PerfError> {
        let m = &self.members[i];
        Ok(NatsServer::start_named(
            &self.binary,
            dir,
            &m.name,
            &m.listen,
            &m.auth,
        )?)
    }

    /// Every server's client URL, comma-separated (what every client is given).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Servers in the broker (1 or the cluster's size).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The replicas the stream and bucket get: one per server.
    pub fn replicas(&self) -> usize {
        self.members.len().min(5)
    }

    pub fn name(&self, i: usize) -> &str {
        &self.members[i].name
    }

    /// Member `i`'s own client URL.
    pub fn member_url(&self, i: usize) -> String {
        format!("nats://{}", self.members[i].listen)
    }

    /// The running member `i` (`None` while it is down).
    pub fn server(&self, i: usize) -> Option<&NatsServer> {
        self.servers[i].as_ref()
    }

    /// The pids of the running servers.
    pub fn pids(&self) -> Vec<u32> {
        self.servers
            .iter()
            .flatten()
            .filter_map(|s| s.pid())
            .collect()
    }

    /// SIGKILL member `i` (no shutdown at all), keeping its store for [`Broker::restart`].
    pub fn kill(&mut self, i: usize) {
        if let Some(s) = self.servers[i].take() {
            self.stopped[i] = Some(s.kill_keep_store());
        }
    }

    /// Start member `i` again on its ports and its old store: it catches up from its peers.
    pub fn restart(&mut self, i: usize) -> Result<(), PerfError> {
        let dir = self.stopped[i]
            .take()
            .ok_or_else(|| PerfError::Run(format!("NATS member {i} is not down")))?;
        let s = self.start_member(i, dir)?;
        self.servers[i] = Some(s);
        Ok(())
    }

    /// Wait until every running server answers `/healthz` with 200 (JetStream current).
    pub fn wait_healthy(&self, within: Duration) -> Result<(), PerfError> {
        let limit = Instant::now() + within;
        for s in self.servers.iter().flatten() {
            loop {
                match http_get(&s.monitor, "/healthz") {
                    Some((200, _)) => break,
                    other if Instant::now() >= limit => {
                        return Err(PerfError::Run(format!(
                            "NATS not healthy within {within:?}: {}/healthz answered {:?}; \
                             its log: {}",
                            s.monitor,
                            other.map(|o| o.0),
                            s.dir().join("nats-server.log").display()
                        )))
                    }
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        Ok(())
    }

    /// The running member with a client connection whose name starts with `prefix` (from
    /// each server's `/connz`).
    pub fn connected(&self, prefix: &str) -> Option<usize> {
        (0..self.len()).find(|&i| {
            self.server(i).is_some_and(|s| {
                monitor_json(&s.monitor, "/connz?limit=100000")
                    .map(|v| has_connection(&v, prefix))
                    .unwrap_or(false)
            })
        })
    }

    /// The member that leads `stream` (from any running server's `/jsz`), if one does.
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        let leader = self.servers.iter().flatten().find_map(|s| {
            let v = monitor_json(&s.monitor, "/jsz?streams=true&accounts=true")?;
            stream_leader_name(&v, stream)
        })?;
        self.members.iter().position(|m| m.name == leader)
    }
}

/// `GET path` on `base` (`http://host:port`): status and body.
pub fn http_get(base: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr = base.strip_prefix("http://")?;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n")?.1.to_string()))
}

fn monitor_json(base: &str, path: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&http_get(base, path)?.1).ok()
}

/// Whether a `/connz` answer lists a connection whose name starts with `prefix`.
pub fn has_connection(connz: &serde_json::Value, prefix: &str) -> bool {
    connz["connections"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["name"].as_str().unwrap_or("").starts_with(prefix))
    })
}

/// The leader's server name of `stream` in a `/jsz?streams=true&accounts=true` answer.
pub fn stream_leader_name(jsz: &serde_json::Value, stream: &str) -> Option<String> {
    jsz["account_details"]
        .as_array()?
        .iter()
        .flat_map(|a| a["stream_detail"].as_array().cloned().unwrap_or_default())
        .find(|s| s["name"] == stream)?["cluster"]["leader"]
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_orchestrators_connection_and_the_stream_leader() {
        let connz = serde_json::json!({"connections": [
            {"name": "netbench-perf"}, {"name": "netbench-orchestrator run abc"}, {}
        ]});
        assert!(has_connection(&connz, "netbench-orchestrator"));
        assert!(!has_connection(&connz, "netbench-worker"));
        assert!(!has_connection(&serde_json::json!({}), "netbench"));
        let jsz = serde_json::json!({"account_details": [{"stream_detail": [
            {"name": "OTHER", "cluster": {"leader": "netbench-1"}},
            {"name": "NETBENCH", "cluster": {"leader": "netbench-3"}}
        ]}]});
        assert_eq!(
            stream_leader_name(&jsz, "NETBENCH").as_deref(),
            Some("netbench-3")
        );
        assert_eq!(stream_leader_name(&jsz, "MISSING"), None);
    }
}
