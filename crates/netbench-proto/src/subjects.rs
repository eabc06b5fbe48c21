//! Every NATS subject, stream and bucket name netbench uses. Nothing else builds subject strings.
//!
//! Public, JSON, stored in the `NETBENCH` stream (documented in the README, keep stable):
//! - `netbench.<run>.result.<benchmark>`: one pair result.
//! - `netbench.<run>.event`: progress events.
//!
//! Private control traffic, MessagePack request-reply, never stored:
//! - `netbench.<run>.register`: worker -> orchestrator.
//! - `netbench.<run>.worker.<worker-id>.task`: orchestrator -> one worker.
//! - `netbench.<run>.rollcall`: orchestrator -> every worker, "register again" (no reply).

use crate::ids::{RunId, WorkerId};

/// The JetStream stream holding results and events of every run.
pub const STREAM: &str = "NETBENCH";
/// The JetStream key-value bucket holding each run's state, keyed by run id.
pub const KV_BUCKET: &str = "NETBENCH_RUNS";
/// The root token of every subject.
pub const ROOT: &str = "netbench";

pub fn result(run: &RunId, benchmark: &str) -> String {
    format!("{ROOT}.{run}.result.{benchmark}")
}
/// All results of one run (`netbench.<run>.result.>`).
pub fn results_of_run(run: &RunId) -> String {
    format!("{ROOT}.{run}.result.>")
}
pub fn event(run: &RunId) -> String {
    format!("{ROOT}.{run}.event")
}
/// Worker -> orchestrator: `netbench.<run>.register.<worker-id>`. With the per-run logins only
/// that worker's user may publish there, so a registration is bound to its NATS identity.
pub fn register(run: &RunId, worker: &WorkerId) -> String {
    format!("{ROOT}.{run}.register.{worker}")
}
/// Every worker's registration subject of a run (what the orchestrator listens on).
pub fn registrations(run: &RunId) -> String {
    format!("{ROOT}.{run}.register.*")
}
/// The worker id a registration subject names, if it is one of `run`'s.
pub fn registering_worker<'a>(run: &RunId, subject: &'a str) -> Option<&'a str> {
    subject
        .strip_prefix(&format!("{ROOT}.{run}.register."))
        .filter(|id| !id.is_empty() && !id.contains('.'))
}
/// Whether a request's reply subject is an inbox (`_INBOX.…` or a role's `_INBOX_<user>.…`):
/// replies go nowhere else, never to the results or the run's KV key.
pub fn is_inbox(reply: &str) -> bool {
    reply.starts_with("_INBOX.") || reply.starts_with("_INBOX_")
}
/// Orchestrator -> all workers of the run: "register again" (sent when an orchestrator starts,
/// so that one restarted mid-run learns who is there).
pub fn rollcall(run: &RunId) -> String {
    format!("{ROOT}.{run}.rollcall")
}
pub fn task(run: &RunId, worker: &WorkerId) -> String {
    format!("{ROOT}.{run}.worker.{worker}.task")
}
/// The `Nats-Msg-Id` of a pair's result: JetStream drops a second publish with the same id.
pub fn result_msg_id(run: &RunId, pair: &str) -> String {
    format!("{run}.{pair}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_documented_shape() {
        let run: RunId = "abc123".parse().unwrap();
        let w = WorkerId::for_name("node.with.dots");
        assert_eq!(
            result(&run, "iperf3-tcp"),
            "netbench.abc123.result.iperf3-tcp"
        );
        assert_eq!(event(&run), "netbench.abc123.event");
        assert_eq!(register(&run, &w), format!("netbench.abc123.register.{w}"));
        assert_eq!(registrations(&run), "netbench.abc123.register.*");
        assert_eq!(
            registering_worker(&run, &register(&run, &w)),
            Some(w.as_str())
        );
        assert_eq!(
            registering_worker(&run, "netbench.abc123.register.a.b"),
            None
        );
        assert_eq!(registering_worker(&run, "netbench.other.register.a"), None);
        assert!(is_inbox("_INBOX.x.y") && is_inbox("_INBOX_worker-w-1.x"));
        assert!(!is_inbox("netbench.abc123.result.x") && !is_inbox("$KV.NETBENCH_RUNS.abc123"));
        let t = task(&run, &w);
        assert_eq!(t.split('.').count(), 5, "{t}");
        assert!(t.starts_with("netbench.abc123.worker.w-"));
    }
}
