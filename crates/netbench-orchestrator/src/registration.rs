//! Registration: workers join a run by request-reply on `netbench.<run>.register.<worker-id>`
//! (with the per-run logins only that worker's user may publish there). The handler keeps
//! answering during the run, since a restarted worker registers again.

use crate::registry::{Admission, Registry};
use crate::run::Events;
use futures::StreamExt;
use netbench_bench::Benchmark;
use netbench_proto::{
    subjects, ErrorKind, EventKind, Register, Registered, Reply, RunId, WorkerId,
};
use std::sync::{Arc, Mutex};

/// Registration state shared between the handler and the run loop.
pub(crate) struct Shared {
    pub registry: Mutex<Registry>,
    pub joined: tokio::sync::Notify,
}

/// Whether a registration may reach the registry at all: it is for this run, it arrived on the
/// subject of the worker it names, and that id is the one its name gives. So a worker (or its
/// login) can only ever register as itself.
pub fn screen(run: &RunId, subject: &str, reg: &Register) -> Result<(), Reply> {
    if reg.run != *run {
        return Err(Reply::error(
            ErrorKind::WrongRun,
            format!("this is run {run}, not {}", reg.run),
        ));
    }
    let Some(on) = subjects::registering_worker(run, subject) else {
        return Err(Reply::error(
            ErrorKind::Malformed,
            format!("{subject} is no registration subject of run {run}"),
        ));
    };
    if on != reg.worker.id.as_str() {
        return Err(Reply::error(
            ErrorKind::Rejected,
            format!(
                "a registration on {subject} names worker {}: a worker registers only as itself",
                reg.worker.id
            ),
        ));
    }
    let own = WorkerId::for_name(&reg.worker.name);
    if own != reg.worker.id {
        return Err(Reply::error(
            ErrorKind::Rejected,
            format!(
                "worker {:?} has the id {own}, not {}",
                reg.worker.name, reg.worker.id
            ),
        ));
    }
    Ok(())
}

/// Answer registrations until the subscription ends (or the task is aborted).
pub(crate) fn serve(
    client: async_nats::Client,
    mut sub: async_nats::Subscriber,
    shared: Arc<Shared>,
    benches: Vec<&'static Benchmark>,
    run: RunId,
    events: Events,
    capacity: usize,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let reply = match netbench_bus::decode::<Register>(&msg) {
                Err(e) => Reply::error(ErrorKind::Malformed, e.to_string()),
                Ok(r) => match screen(&run, msg.subject.as_str(), &r) {
                    Err(refusal) => refusal,
                    Ok(()) => admit(&shared, &r, &benches, capacity, &events).await,
                },
            };
            netbench_bus::reply(&client, &msg, &reply).await;
        }
    })
}

async fn admit(
    shared: &Shared,
    r: &Register,
    benches: &[&'static Benchmark],
    capacity: usize,
    events: &Events,
) -> Reply {
    let admission = shared
        .registry
        .lock()
        .expect("not poisoned")
        .admit(r, benches, capacity);
    shared.joined.notify_one();
    match admission {
        Admission::MissingTools(missing) => Reply::error(
            ErrorKind::MissingTool,
            format!(
                "worker {} lacks {} needed by {}",
                r.worker.name,
                missing.join(", "),
                benches.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
            ),
        ),
        Admission::Full => Reply::error(
            ErrorKind::Rejected,
            format!(
                "run {} already has the {capacity} workers it asked for; worker {} is not one of them",
                r.run, r.worker.name
            ),
        ),
        Admission::New => {
            tracing::info!(worker = %r.worker.name, ip = %r.worker.ip, "worker joined");
            events
                .send(EventKind::WorkerJoined {
                    worker: r.worker.name.clone(),
                    id: r.worker.id.clone(),
                    ip: r.worker.ip.to_string(),
                    zone: r.worker.zone.clone(),
                })
                .await;
            Reply::Registered(Registered { run: r.run.clone() })
        }
        Admission::Again => Reply::Registered(Registered { run: r.run.clone() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netbench_proto::WorkerInfo;

    fn reg(run: &str, name: &str, id: WorkerId) -> Register {
        Register {
            run: run.parse().unwrap(),
            worker: WorkerInfo {
                id,
                name: name.into(),
                ip: "198.18.0.1".parse().unwrap(),
                hostname: name.into(),
                zone: String::new(),
                cpus: 0,
                placement: Default::default(),
                service_ip: None,
            },
            tools: vec![],
            version: "0".into(),
        }
    }

    fn refused(r: Result<(), Reply>) -> ErrorKind {
        match r {
            Err(Reply::Error(e)) => e.kind,
            other => panic!("admitted: {other:?}"),
        }
    }

    #[test]
    fn a_worker_registers_only_as_itself() {
        let run: RunId = "r1".parse().unwrap();
        let (a, b) = (WorkerId::for_name("a"), WorkerId::for_name("b"));
        let on_a = subjects::register(&run, &a);
        assert!(screen(&run, &on_a, &reg("r1", "a", a.clone())).is_ok());
        // b's id on a's subject; a's subject naming b; a name whose id is not the one given.
        assert_eq!(
            refused(screen(&run, &on_a, &reg("r1", "b", b.clone()))),
            ErrorKind::Rejected
        );
        assert_eq!(
            refused(screen(&run, &on_a, &reg("r1", "b", a.clone()))),
            ErrorKind::Rejected
        );
        assert_eq!(
            refused(screen(&run, &on_a, &reg("r2", "a", a.clone()))),
            ErrorKind::WrongRun
        );
        assert_eq!(
            refused(screen(&run, "netbench.r1.register", &reg("r1", "a", a))),
            ErrorKind::Malformed
        );
    }

    #[test]
    fn a_run_of_several_benchmarks_needs_every_tool_of_each() {
        let tcp = netbench_bench::find("iperf3-tcp").unwrap();
        let rr = netbench_bench::find("netperf-tcp-rr").unwrap();
        let mut r = reg("r1", "a", WorkerId::for_name("a"));
        r.tools = vec!["iperf3".into()];
        assert_eq!(Registry::default().admit(&r, &[tcp], 2), Admission::New);
        match Registry::default().admit(&r, &[tcp, rr, rr], 2) {
            Admission::MissingTools(m) => assert_eq!(m, rr.programs()),
            other => panic!("admitted without netperf: {other:?}"),
        }
    }

    #[test]
    fn the_registry_holds_no_more_workers_than_the_run_asked_for() {
        let bench = netbench_bench::find("iperf3-tcp").unwrap();
        let mut registry = Registry::default();
        let with_tools = |name: &str| {
            let mut r = reg("r1", name, WorkerId::for_name(name));
            r.tools = vec!["iperf3".into()];
            r
        };
        assert_eq!(
            registry.admit(&with_tools("a"), &[bench], 2),
            Admission::New
        );
        assert_eq!(
            registry.admit(&with_tools("b"), &[bench], 2),
            Admission::New
        );
        assert_eq!(
            registry.admit(&with_tools("c"), &[bench], 2),
            Admission::Full
        );
        assert_eq!(
            registry.admit(&with_tools("a"), &[bench], 2),
            Admission::Again
        );
        assert_eq!(registry.len(), 2);
        // Workers lacking a tool are refused, and remembered (for the error) up to the bound.
        let mut lacking = Registry::default();
        for i in 0..100 {
            let name = format!("x{i}");
            let r = reg("r1", &name, WorkerId::for_name(&name));
            assert!(matches!(
                lacking.admit(&r, &[bench], 2),
                Admission::MissingTools(_)
            ));
        }
        assert_eq!(lacking.lacking().len(), 2);
        assert_eq!(lacking.len(), 0);
    }
}
