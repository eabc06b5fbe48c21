//! A local TCP listener on 127.0.0.1:0 bridged to one pod port through the API server
//! (`pods/portforward`, websocket), like `kubectl port-forward`. One forward per connection.

use crate::{LaunchError, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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
    let err = |why: String| LaunchError::PortForward {
        pod: pod.to_string(),
        port,
        why,
    };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| err(format!("cannot listen on 127.0.0.1: {e}")))?;
    let local = listener.local_addr().map_err(|e| err(e.to_string()))?;
    // Try one forward now so that a missing permission or an unreachable kubelet is reported
    // here, not as a NATS connection timeout later.
    let mut probe = pods
        .portforward(pod, &[port])
        .await
        .map_err(|e| err(e.to_string()))?;
    drop(probe.take_stream(port));
    probe.abort();

    let stop = CancellationToken::new();
    let token = stop.clone();
    let pod = pod.to_string();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = tokio::select! {
                _ = token.cancelled() => return,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => { tracing::warn!("port-forward accept: {e}"); continue; }
                },
            };
            let pods = pods.clone();
            let pod = pod.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let mut pf = match pods.portforward(&pod, &[port]).await {
                    Ok(pf) => pf,
                    Err(e) => {
                        tracing::warn!("port-forward to {pod}:{port}: {e}");
                        return;
                    }
                };
                let Some(mut upstream) = pf.take_stream(port) else {
                    return;
                };
                tokio::select! {
                    _ = token.cancelled() => {}
                    r = tokio::io::copy_bidirectional(&mut tcp, &mut upstream) => {
                        if let Err(e) = r { tracing::debug!("port-forward connection ended: {e}"); }
                    }
                }
                drop(upstream);
                pf.abort();
            });
        }
    });
    Ok(Forward { local, stop })
}
