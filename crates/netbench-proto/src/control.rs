//! Control messages: MessagePack with named fields (so fields can be added without breaking
//! older peers), sent request-reply on the private subjects of [`crate::subjects`].

use crate::ids::{RunId, WorkerId};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Who a worker is. Sent once, on registration; the orchestrator copies it into every result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Subject-safe id, derived from `name` ([`WorkerId::for_name`]).
    pub id: WorkerId,
    /// Worker name as people know it (pod or namespace name). May contain dots.
    pub name: String,
    /// The address other workers reach this worker's servers on.
    #[serde(with = "ip_text")]
    pub ip: IpAddr,
    /// The node (VM) the worker runs on.
    pub hostname: String,
    /// The node's availability zone (`topology.kubernetes.io/zone`), or empty.
    pub zone: String,
    /// CPUs the worker may use (its cgroup's quota or the node's count); 0 when unknown (an
    /// older worker).
    #[serde(default)]
    pub cpus: u32,
    /// Where on its node the worker runs, i.e. which paths it serves (`pod` for an older
    /// worker).
    #[serde(default)]
    pub placement: crate::path::Placement,
    /// The ClusterIP of the Service in front of exactly this worker's pod (path `service`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "ip_text_opt")]
    pub service_ip: Option<IpAddr>,
}

impl WorkerInfo {
    /// Where a client of `path` connects to reach this worker's server: the Service's address
    /// for `service`, else the worker's own.
    pub fn target_ip(&self, path: crate::path::Path) -> Option<IpAddr> {
        match path {
            crate::path::Path::Service => self.service_ip,
            _ => Some(self.ip),
        }
    }
}

/// Worker -> orchestrator, on `netbench.<run>.register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    pub run: RunId,
    pub worker: WorkerInfo,
    /// Catalogue programs found on the worker's PATH (e.g. `iperf3`, `netserver`).
    pub tools: Vec<String>,
    /// netbench version of the worker, for diagnosing mixed deployments.
    pub version: String,
}

/// Orchestrator -> worker, reply to [`Register`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub run: RunId,
}

/// Orchestrator -> every worker, on `netbench.<run>.rollcall`: register again. No reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollCall {
    pub run: RunId,
}

/// The values a command template is filled with. Each one is validated by the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskParams {
    /// Where the client connects to (the server worker's IP).
    #[serde(with = "ip_text")]
    pub server_ip: IpAddr,
    /// Length of one test, whole seconds.
    pub duration_seconds: u32,
    /// `--streams`, `--message-size`, `--rate`; absent: the catalogue's default.
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
}

/// The benchmark parameters beyond the address and the length. Each is `None` unless asked for;
/// a benchmark declares which it takes (`netbench_bench::Benchmark::takes`) and the worker
/// refuses the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameters {
    /// Parallel streams or connections (iperf3 `-P`, fortio `-c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<u32>,
    /// Bytes per send, request or datagram (netperf `-m`/`-r`, iperf3 `-l`, qperf `-m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_size: Option<u32>,
    /// Target rate in bits per second, 0 = unlimited (iperf3 `-b`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
}

impl Parameters {
    pub fn is_empty(&self) -> bool {
        *self == Parameters::default()
    }
}

/// One command, as the orchestrator rendered it from the catalogue. The worker re-renders it
/// from its own catalogue with `params` and refuses it unless both agree exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    pub run: RunId,
    /// Pair id, unique within the run (`<client-id>--<server-id>`).
    pub pair: String,
    pub benchmark: String,
    pub command: String,
    pub args: Vec<String>,
    pub params: TaskParams,
    /// Hard limit for the client; the worker kills the whole process group after it.
    pub timeout_seconds: u64,
}

/// Orchestrator -> worker, on `netbench.<run>.worker.<id>.task`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskRequest {
    /// Start the benchmark's server and reply once its port accepts connections.
    StartServer(CommandSpec),
    /// Run the benchmark's client to completion (or timeout) and reply with its outcome.
    RunClient(CommandSpec),
    /// Stop the server started for `pair` and reply with its (capped) output.
    StopServer { run: RunId, pair: String },
}

impl TaskRequest {
    pub fn run(&self) -> &RunId {
        match self {
            TaskRequest::StartServer(s) | TaskRequest::RunClient(s) => &s.run,
            TaskRequest::StopServer { run, .. } => run,
        }
    }
}

/// Captured output of one process, capped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Captured {
    pub text: String,
    /// True when the process wrote more than the cap; `text` holds the first part.
    pub truncated: bool,
}

/// What happened to a client (or server) process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessOutcome {
    /// Exit code, when the process exited normally.
    pub exit_code: Option<i32>,
    /// Signal number, when a signal ended it.
    pub signal: Option<i32>,
    /// True when the worker killed it at the hard timeout.
    pub timed_out: bool,
    pub stdout: Captured,
    pub stderr: Captured,
    /// Wall time of the process, from spawn to exit.
    pub elapsed_seconds: f64,
    /// True when no other task ran on the worker while this one did (the results' `idle`).
    /// A worker too old to say is taken at its word of old: idle.
    #[serde(default = "idle_unless_told")]
    pub idle: bool,
}

fn idle_unless_told() -> bool {
    true
}

impl ProcessOutcome {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// Reply to [`TaskRequest::StartServer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerReady {
    /// Time from spawn until the port accepted connections.
    pub ready_after_seconds: f64,
}

/// Reply to every request on the control subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Registered(Registered),
    ServerReady(ServerReady),
    ClientDone(ProcessOutcome),
    ServerStopped(ProcessOutcome),
    Error(ErrorReply),
}

/// Why a request was not carried out. `kind` is for programs, `message` for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The payload could not be decoded (wrong encoding, truncated, too large, wrong types).
    Malformed,
    /// The command or an argument is not what the catalogue allows. Nothing was executed.
    Rejected,
    /// The request belongs to another run.
    WrongRun,
    /// The program is not installed on the worker.
    MissingTool,
    /// The program could not be started, or exited before its port was ready.
    SpawnFailed,
    /// No server is running for that pair.
    UnknownPair,
    /// The worker is shutting down.
    ShuttingDown,
    /// The worker runs another client now (an old task after an orchestrator restart): ask
    /// again when it is done. Nothing was executed.
    Busy,
}

impl Reply {
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Reply::Error(ErrorReply {
            kind,
            message: message.into(),
        })
    }
}

mod ip_text_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::net::IpAddr;

    pub fn serialize<S: Serializer>(ip: &Option<IpAddr>, s: S) -> Result<S::Ok, S::Error> {
        match ip {
            Some(ip) => s.collect_str(ip),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => text.parse().map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// IP addresses as text in every encoding. (serde's compact IpAddr form does not survive the
/// buffering that internally tagged enums do in MessagePack.)
mod ip_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::net::IpAddr;

    pub fn serialize<S: Serializer>(ip: &IpAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(ip)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
