//! Where a pair's time goes, from a wiretap: the harness subscribes to every subject (`>`) of
//! the run's NATS and timestamps each message as it arrives. Pairs are strictly serial, so the
//! messages between two `pair_started` events are one pair's: the three task requests to the
//! workers (start server, run client, stop server) and their replies, the result, the
//! `pair_finished` event and the run-state put. Nothing in netbench is changed or slowed but for
//! one more subscriber on the server. [`phases`] is pure.

use crate::stats;
use netbench_proto::{Event, EventKind, PairResult};
use serde::Serialize;
use std::collections::HashMap;

/// One message seen on the wire.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Seconds since the tap started.
    pub t: f64,
    pub subject: String,
    pub reply: Option<String>,
    /// The event, when this is one.
    pub event: Option<EventKind>,
}

impl Seen {
    pub fn from_message(t: f64, m: &async_nats::Message) -> Seen {
        let subject = m.subject.to_string();
        let event = subject
            .ends_with(".event")
            .then(|| serde_json::from_slice::<Event>(&m.payload).ok())
            .flatten()
            .map(|e| e.kind);
        Seen {
            t,
            subject,
            reply: m.reply.as_ref().map(|r| r.to_string()),
            event,
        }
    }
}

/// The phases of a pair, in order; their sum is the pair-to-pair time.
pub const PHASES: [&str; 10] = [
    "pair_started event -> start-server request",
    "server start -> ready (worker)",
    "ready reply -> run-client request",
    "client run, beyond the tool's own time",
    "client reply -> stop-server request",
    "server stop (worker)",
    "stopped -> result published",
    "result -> pair_finished event",
    "pair_finished -> run state put",
    "run state put -> next pair_started",
];

/// Median (and p99) of each phase over the pairs, seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub phase: &'static str,
    pub p50: f64,
    pub p99: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub benchmark: String,
    pub pairs: usize,
    pub phases: Vec<Phase>,
}

/// Per pair, the ten phase durations (seconds), for every pair whose messages were all seen.
pub fn pair_phases(seen: &[Seen], results: &[PairResult]) -> Vec<[f64; 10]> {
    let client: HashMap<&str, f64> = results
        .iter()
        .map(|r| (r.pair.as_str(), r.client_seconds))
        .collect();
    let starts: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s.event, Some(EventKind::PairStarted { .. })))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::new();
    for (k, &i) in starts.iter().enumerate() {
        let Some(EventKind::PairStarted { pair, .. }) = &seen[i].event else {
            continue;
        };
        // The pair-to-pair phase needs the next pair's start.
        let Some(&next) = starts.get(k + 1) else {
            continue;
        };
        let seg = &seen[i..next];
        let requests: Vec<&Seen> = seg
            .iter()
            .filter(|s| s.subject.contains(".worker.") && s.subject.ends_with(".task"))
            .collect();
        let reply_to = |r: &Seen| {
            let inbox = r.reply.as_deref()?;
            seg.iter().find(|s| s.subject == inbox).map(|s| s.t)
        };
        let find = |f: &dyn Fn(&Seen) -> bool| seg.iter().find(|s| f(s)).map(|s| s.t);
        let (Some(c), [start, run, stop]) = (client.get(pair.as_str()), requests.as_slice()) else {
            continue;
        };
        let ts = (
            reply_to(start),
            reply_to(run),
            reply_to(stop),
            find(&|s| s.subject.contains(".result.")),
            find(&|s| matches!(s.event, Some(EventKind::PairFinished { .. }))),
            find(&|s| s.subject.starts_with("$KV.")),
        );
        let (Some(ready), Some(done), Some(stopped), Some(result), Some(fin), Some(kv)) = ts else {
            continue;
        };
        out.push([
            start.t - seen[i].t,
            ready - start.t,
            run.t - ready,
            done - run.t - c,
            stop.t - done,
            stopped - stop.t,
            result - stopped,
            fin - result,
            kv - fin,
            seen[next].t - kv,
        ]);
    }
    out
}

/// The phases' p50 and p99 over pairs.
pub fn summarize(benchmark: &str, per_pair: &[[f64; 10]]) -> Profile {
    let phases = PHASES
        .iter()
        .enumerate()
        .map(|(j, &phase)| {
            let v: Vec<f64> = per_pair.iter().map(|p| p[j]).collect();
            Phase {
                phase,
                p50: stats::quantile(&v, 0.5).unwrap_or(f64::NAN),
                p99: stats::quantile(&v, 0.99).unwrap_or(f64::NAN),
            }
        })
        .collect();
    Profile {
        benchmark: benchmark.to_string(),
        pairs: per_pair.len(),
        phases,
    }
}

/// The profile as a Markdown table, milliseconds.
pub fn table(p: &Profile) -> String {
    let mut t = format!(
        "| {} phase ({} pairs) | p50 | p99 |\n|---|---:|---:|\n",
        p.benchmark, p.pairs
    );
    for ph in &p.phases {
        t.push_str(&format!(
            "| {} | {:.2} ms | {:.2} ms |\n",
            ph.phase,
            ph.p50 * 1000.0,
            ph.p99 * 1000.0
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use netbench_proto::Status;

    fn msg(t: f64, subject: &str, reply: Option<&str>, event: Option<EventKind>) -> Seen {
        Seen {
            t,
            subject: subject.into(),
            reply: reply.map(Into::into),
            event,
        }
    }

    fn started(pair: &str) -> Option<EventKind> {
        Some(EventKind::PairStarted {
            pair: pair.into(),
            index: 1,
            total: 2,
            client: "a".into(),
            server: "b".into(),
            path: Default::default(),
        })
    }

    #[test]
    fn a_pair_splits_into_its_phases() {
        let fin = Some(EventKind::PairFinished {
            pair: "p1".into(),
            index: 1,
            total: 2,
            client: "a".into(),
            server: "b".into(),
            path: Default::default(),
            status: Status::Ok,
            status_name: "ok".into(),
            headline: None,
            seconds: 1.0,
            left_seconds: None,
        });
        let seen = vec![
            msg(0.000, "netbench.r.event", None, started("p1")),
            msg(0.001, "netbench.r.worker.b.task", Some("_INBOX.1"), None),
            msg(0.005, "_INBOX.1", None, None),
            msg(0.006, "netbench.r.worker.a.task", Some("_INBOX.2"), None),
            msg(1.016, "_INBOX.2", None, None),
            msg(1.017, "netbench.r.worker.b.task", Some("_INBOX.3"), None),
            msg(1.019, "_INBOX.3", None, None),
            msg(
                1.020,
                "netbench.r.result.iperf3-tcp",
                Some("_INBOX.x"),
                None,
            ),
            msg(1.021, "netbench.r.event", None, fin),
            msg(1.022, "$KV.NETBENCH_RUNS.r", None, None),
            msg(1.024, "netbench.r.event", None, started("p2")),
        ];
        let json = r#"{"output":"","task":{"command":"c","args":[],"task_options":{"timeout_seconds":1},
            "status":0,"client":{"worker":"a","ip":"1.1.1.1","vm":{"hostname":"a","availability_zone":""},"idle":true},
            "server":{"worker":"b","ip":"1.1.1.2","vm":{"hostname":"b","availability_zone":""},"idle":true}},
            "run":"r","benchmark":"b","pair":"p1","status_name":"ok","started_at":"2024-01-01T00:00:00Z",
            "finished_at":"2024-01-01T00:00:01Z","metrics":[],"client_seconds":1.0}"#;
        let r: PairResult = serde_json::from_str(json).unwrap();
        let p = pair_phases(&seen, &[r]);
        assert_eq!(p.len(), 1, "the last pair has no successor and is left out");
        let want = [
            0.001, 0.004, 0.001, 0.010, 0.001, 0.002, 0.001, 0.001, 0.001, 0.002,
        ];
        for (got, want) in p[0].iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{:?}", p[0]);
        }
        let sum: f64 = p[0].iter().sum();
        assert!((sum + 1.0 - 1.024).abs() < 1e-9);
        let s = summarize("b", &p);
        assert!(table(&s).contains("| server start -> ready (worker) | 4.00 ms | 4.00 ms |"));
    }
}
