//! A local TCP listener on 127.0.0.1:0 bridged to one pod port through the API server
//! (`pods/portforward`, websocket), like `kubectl port-forward`. One forward per connection.
//!
//! [`start_any`] forwards to whichever of several pods (the NATS servers of a cluster) is Ready:
//! each new connection picks one ([`order`]), and a pod whose connection just ended (it died, or
//! its forward broke) is tried last for a while, so the NATS client's reconnect lands on another
//! server.

use crate::pods::{diagnose, PodState};
use crate::{LaunchError, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::Api;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// How long a pod whose forwarded connection ended (or could not be opened) is tried after the
/// others.
pub const AVOID_AFTER_FAILURE: Duration = Duration::from_secs(15);

/// A running forward; stops (listener and every bridged connection) on drop.
pub struct Forward {
    pub local: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Listen on 127.0.0.1:0 and bridge each accepted connection to `pod:port`.
pub async fn start(pods: Api<Pod>, pod: &str, port: u16) -> Result<Forward> {
    start_pods(pods, Pods::Named(pod.to_string()), port).await
}

/// Listen on 127.0.0.1:0 and bridge each accepted connection to `port` of one of the pods that
/// `selector` (a label selector) lists: a Ready one, avoiding for [`AVOID_AFTER_FAILURE`] a pod
/// whose last connection ended. `names` are the pods expected (for messages, and the order).
pub async fn start_any(
    pods: Api<Pod>,
    selector: &str,
    names: Vec<String>,
    port: u16,
) -> Result<Forward> {
    start_pods(
        pods,
        Pods::Selected {
            selector: selector.to_string(),
            names,
        },
        port,
    )
    .await
}

#[derive(Clone)]
enum Pods {
    Named(String),
    Selected {
        selector: String,
        names: Vec<String>,
    },
}

impl Pods {
    fn describe(&self) -> String {
        match self {
            Pods::Named(n) => n.clone(),
            Pods::Selected { names, .. } => names.join(", "),
        }
    }
}

/// The order in which to try pods for a new connection: Ready ones not recently failed (in the
/// order given), then Ready ones that failed recently (the oldest failure first), then the rest
/// (a pod may have turned Ready since it was listed). Pure.
pub fn order(
    pods: &[(String, bool)],
    failed: &HashMap<String, Instant>,
    now: Instant,
    avoid: Duration,
) -> Vec<String> {
    let recent = |n: &str| failed.get(n).filter(|t| now.duration_since(**t) < avoid);
    let mut fresh = Vec::new();
    let mut stale: Vec<(Instant, String)> = Vec::new();
    let mut rest = Vec::new();
    for (name, ready) in pods {
        match (ready, recent(name)) {
            (true, None) => fresh.push(name.clone()),
            (true, Some(t)) => stale.push((*t, name.clone())),
            (false, _) => rest.push(name.clone()),
        }
    }
    stale.sort();
    fresh
        .into_iter()
        .chain(stale.into_iter().map(|(_, n)| n))
        .chain(rest)
        .collect()
}

struct Picker {
    api: Api<Pod>,
    pods: Pods,
    port: u16,
    failed: Mutex<HashMap<String, Instant>>,
}

impl Picker {
    /// The pods to try, best first.
    async fn candidates(&self) -> std::result::Result<Vec<String>, String> {
        let (selector, names) = match &self.pods {
            Pods::Named(n) => return Ok(vec![n.clone()]),
            Pods::Selected { selector, names } => (selector, names),
        };
        let list = self
            .api
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|e| format!("cannot list the pods {selector}: {e}"))?;
        let mut found: Vec<(String, bool)> = list
            .items
            .iter()
            .filter_map(|p| {
                let name = p.metadata.name.clone()?;
                Some((name, diagnose(p) == PodState::Ready))
            })
            .collect();
        // The expected pods' order (nats-0, nats-1, …), then anything else the selector found.
        let rank = |n: &str| names.iter().position(|x| x == n).unwrap_or(usize::MAX);
        found.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.0.cmp(&b.0)));
        let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        Ok(order(&found, &failed, Instant::now(), AVOID_AFTER_FAILURE))
    }

    fn mark_failed(&self, pod: &str) {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pod.to_string(), Instant::now());
    }

    /// A forward to the first candidate that accepts one.
    async fn open(&self) -> std::result::Result<(String, kube::api::Portforwarder), String> {
        let candidates = self.candidates().await?;
        if candidates.is_empty() {
            return Err(format!("no pod {} is there", self.pods.describe()));
        }
        let mut why = Vec::new();
        for pod in candidates {
            match self.api.portforward(&pod, &[self.port]).await {
                Ok(pf) => return Ok((pod, pf)),
                Err(e) => {
                    self.mark_failed(&pod);
                    why.push(format!("{pod}: {e}"));
                }
            }
        }
        Err(why.join("; "))
    }

    async fn bridge(&self, mut tcp: TcpStream, token: CancellationToken) {
        let (pod, mut pf) = match self.open().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(
                    "port-forward to {}:{}: {e}",
                    self.pods.describe(),
                    self.port
                );
                return;
            }
        };
        let Some(mut upstream) = pf.take_stream(self.port) else {
            self.mark_failed(&pod);
            return;
        };
        tracing::debug!("port-forward connection to {pod}:{}", self.port);
        tokio::select! {
            _ = token.cancelled() => {}
            r = tokio::io::copy_bidirectional(&mut tcp, &mut upstream) => {
                // Ended from either side: the server went away, or the client reconnects
                // (because it did). Either way the next connection tries another pod first.
                self.mark_failed(&pod);
                match r {
                    Err(e) => tracing::info!("port-forward connection to {pod} ended: {e}"),
                    Ok(_) => tracing::debug!("port-forward connection to {pod} closed"),
                }
            }
        }
        drop(upstream);
        pf.abort();
    }
}

async fn start_pods(api: Api<Pod>, pods: Pods, port: u16) -> Result<Forward> {
    let err = |why: String| LaunchError::PortForward {
        pod: pods.describe(),
        port,
        why,
    };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| err(format!("cannot listen on 127.0.0.1: {e}")))?;
    let local = listener.local_addr().map_err(|e| err(e.to_string()))?;
    let picker = Arc::new(Picker {
        api,
        pods: pods.clone(),
        port,
        failed: Mutex::new(HashMap::new()),
    });
    // Try one forward now so that a missing permission or an unreachable kubelet is reported
    // here, not as a NATS connection timeout later.
    let (pod, mut probe) = picker.open().await.map_err(err)?;
    drop(probe.take_stream(port));
    probe.abort();
    tracing::debug!("port-forward to {pod}:{port} works");

    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                _ = token.cancelled() => return,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => { tracing::warn!("port-forward accept: {e}"); continue; }
                },
            };
            let picker = picker.clone();
            let token = token.clone();
            tokio::spawn(async move { picker.bridge(tcp, token).await });
        }
    });
    Ok(Forward { local, stop })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(v: &[(&str, bool)]) -> Vec<(String, bool)> {
        v.iter().map(|(n, r)| (n.to_string(), *r)).collect()
    }

    #[test]
    fn a_ready_pod_not_recently_failed_comes_first_then_the_failed_then_the_unready() {
        let now = Instant::now();
        let avoid = Duration::from_secs(15);
        let all = pods(&[("nats-0", true), ("nats-1", true), ("nats-2", true)]);
        assert_eq!(
            order(&all, &HashMap::new(), now, avoid),
            ["nats-0", "nats-1", "nats-2"]
        );
        // nats-0's connection just ended: the reconnect goes to nats-1.
        let failed = HashMap::from([("nats-0".to_string(), now)]);
        assert_eq!(
            order(&all, &failed, now, avoid),
            ["nats-1", "nats-2", "nats-0"]
        );
        // Long ago is forgotten.
        let later = now + Duration::from_secs(16);
        assert_eq!(order(&all, &failed, later, avoid)[0], "nats-0");
        // nats-1 was deleted and its replacement is not Ready yet: tried last.
        let all = pods(&[("nats-0", true), ("nats-1", false), ("nats-2", true)]);
        assert_eq!(
            order(&all, &failed, now, avoid),
            ["nats-2", "nats-0", "nats-1"]
        );
        // Two failed: the older failure first.
        let failed = HashMap::from([
            ("nats-0".to_string(), now),
            ("nats-2".to_string(), now - Duration::from_secs(5)),
        ]);
        assert_eq!(
            order(&all, &failed, now, avoid),
            ["nats-2", "nats-0", "nats-1"]
        );
        assert!(order(&[], &failed, now, avoid).is_empty());
    }
}
